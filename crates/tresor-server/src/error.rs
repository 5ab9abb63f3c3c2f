//! The one place where errors become HTTP responses: an [`ErrorDoc`] (`{"error": "...", "kind":
//! "not_found"}`) with the status this module gives the error's [`ErrorKind`], plus the HTTP layer's
//! own refusals. The kind also travels in the response's extensions, so the compatibility surfaces
//! shape their platforms' errors from it (see `routes::conductor::conductor_errors`) instead of
//! reading it back out of a status or a message.

use crate::ratelimit::Rate;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tresor_api::ErrorDoc;
use tresor_service::{ErrorKind, ServiceError};

/// An error answered to an HTTP client.
#[derive(Debug)]
pub enum ApiError {
    Service(ServiceError),
    /// A malformed request: bad JSON, a bad path or query parameter.
    BadRequest(String),
    /// A route that exists, called with a method it does not answer.
    MethodNotAllowed(String),
    /// No token was presented.
    MissingToken,
    /// A token came in the URL (`?token=`) on a surface whose platform does not document it.
    TokenInUrl,
    /// A limit of a compatibility surface (such as the Tinybird-style secrets per workspace).
    LimitReached(String),
    /// The per-token rate limit of a route class was reached.
    RateLimited {
        class: &'static str,
        rate: Rate,
        retry_after_secs: u64,
    },
    /// The peer's failed authentications went past their limit.
    TooManyFailures {
        rate: Rate,
        retry_after_secs: u64,
    },
    /// Every connection slot is taken (`--max-connections`); answered on the new connection
    /// before its request is read, then the connection is closed.
    TooManyConnections {
        max_connections: usize,
    },
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::Service(e)
    }
}

impl From<tresor_model::NameError> for ApiError {
    fn from(e: tresor_model::NameError) -> Self {
        ApiError::Service(e.into())
    }
}

impl ApiError {
    /// What kind of failure this is, whichever layer refused.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Service(e) => e.kind(),
            ApiError::BadRequest(_) | ApiError::MethodNotAllowed(_) => ErrorKind::Invalid,
            ApiError::MissingToken | ApiError::TokenInUrl => ErrorKind::Unauthenticated,
            ApiError::LimitReached(_) => ErrorKind::Limit,
            ApiError::RateLimited { .. } | ApiError::TooManyFailures { .. } | ApiError::TooManyConnections { .. } => {
                ErrorKind::RateLimited
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            _ => status_of(self.kind()),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Service(e) => e.to_string(),
            ApiError::BadRequest(m) | ApiError::MethodNotAllowed(m) | ApiError::LimitReached(m) => m.clone(),
            ApiError::MissingToken => "no token: send `Authorization: Bearer tsr_...` (Conductor's routes: \
                 X-Authorization; the Vault-compatible /v1 routes: X-Vault-Token; the Tinybird-compatible /v0 \
                 routes also take ?token=)"
                .into(),
            ApiError::TokenInUrl => "a token in the URL (?token=) is refused here: proxies and access logs keep \
                 URLs. Send it in the `Authorization: Bearer tsr_...` header (Conductor's routes: X-Authorization; \
                 Vault's /v1 routes: X-Vault-Token), and treat a token that was sent in a URL as exposed: revoke it \
                 and use a new one. Only the Tinybird-compatible /v0 routes take ?token=, as Tinybird's clients \
                 send it"
                .into(),
            ApiError::RateLimited { class, rate: Rate { count, per }, retry_after_secs } => format!(
                "rate limit reached: {count} requests/{} per token for {class} routes; retry after \
                 {retry_after_secs} s",
                per.unit()
            ),
            ApiError::TooManyFailures { rate, retry_after_secs } => format!(
                "too many failed authentications from this address (more than {rate}); check the token and retry \
                 after {retry_after_secs} s"
            ),
            ApiError::TooManyConnections { max_connections } => format!(
                "the server has all its {max_connections} connections open; retry after \
                 {CONNECTION_RETRY_AFTER_SECS} s"
            ),
        }
    }

    /// The answer as HTTP/1.1 bytes, closing the connection: for the refusal written to a
    /// connection before hyper (which writes every other answer) takes it.
    pub(crate) fn to_http1_bytes(&self) -> Vec<u8> {
        let status = self.status();
        let body = serde_json::to_vec(&ErrorDoc { error: self.message(), kind: self.kind() }).unwrap_or_default();
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        );
        if let Some(retry_after_secs) = self.retry_after_secs() {
            head.push_str(&format!("retry-after: {retry_after_secs}\r\n"));
        }
        head.push_str("\r\n");
        [head.into_bytes(), body].concat()
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_secs, .. } | ApiError::TooManyFailures { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            ApiError::TooManyConnections { .. } => Some(CONNECTION_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

/// When a client refused for want of a connection slot is told to retry: slots come free as
/// requests finish and the header and idle timeouts close silent connections.
const CONNECTION_RETRY_AFTER_SECS: u64 = 1;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self.message(), "request failed");
        }
        let kind = self.kind();
        let mut resp = (status, axum::Json(ErrorDoc { error: self.message(), kind })).into_response();
        resp.extensions_mut().insert(kind);
        if let Some(retry_after_secs) = self.retry_after_secs() {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The native API's status for each kind of failure (the README's list of kinds). The compatibility
/// surfaces start from it and change what their platforms answer differently.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        // A quota reached is a refusal of this request, not of the caller's rate: 403, as
        // Tinybird answers its limits.
        ErrorKind::Denied | ErrorKind::Limit => StatusCode::FORBIDDEN,
        ErrorKind::Unauthenticated | ErrorKind::Expired => StatusCode::UNAUTHORIZED,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::OutOfSpace => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statuses the README documents for the native API: its sentence "programs branch on
    /// `kind` (`invalid` 400, `unauthenticated`/`expired` 401, ...)" is read here, so the README and
    /// this mapping cannot drift apart, and every kind must be documented.
    #[test]
    fn each_kind_has_the_documented_status() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("programs branch on").expect("the README documents the error kinds");
        let sentence = readme[start..start + readme[start..].find(").").expect("the sentence ends")].replace('\n', " ");
        let mut documented = std::collections::HashMap::new();
        // Items like "`denied`/`limit` 403": the kinds, then their status.
        for item in sentence.split_once('(').expect("a list in parentheses").1.split(", ") {
            let (kinds, status) = item.rsplit_once(' ').expect("kinds, then a status");
            let status: u16 = status.parse().unwrap_or_else(|_| panic!("a status in {item:?}"));
            for kind in kinds.split('/') {
                documented.insert(kind.trim_matches('`').to_owned(), status);
            }
        }
        for &kind in ErrorKind::ALL {
            let status = documented.get(kind.as_str()).unwrap_or_else(|| panic!("the README omits `{kind}`"));
            assert_eq!(status_of(kind).as_u16(), *status, "{kind}");
        }
        assert_eq!(documented.len(), ErrorKind::ALL.len(), "the README names a kind that does not exist");
    }
}
