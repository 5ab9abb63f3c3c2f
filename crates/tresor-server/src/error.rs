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
            ApiError::RateLimited { .. } | ApiError::TooManyFailures { .. } => ErrorKind::RateLimited,
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
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self.message(), "request failed");
        }
        let kind = self.kind();
        let mut resp = (status, axum::Json(ErrorDoc { error: self.message(), kind })).into_response();
        resp.extensions_mut().insert(kind);
        if let ApiError::RateLimited { retry_after_secs, .. } | ApiError::TooManyFailures { retry_after_secs, .. } =
            self
        {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The native API's status for each kind of failure (the README's table). The compatibility
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
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statuses the README documents for the native API.
    #[test]
    fn each_kind_has_the_documented_status() {
        let cases = [
            (ErrorKind::Invalid, 400),
            (ErrorKind::Unauthenticated, 401),
            (ErrorKind::Expired, 401),
            (ErrorKind::Denied, 403),
            (ErrorKind::Limit, 403),
            (ErrorKind::NotFound, 404),
            (ErrorKind::AlreadyExists, 409),
            (ErrorKind::Conflict, 409),
            (ErrorKind::TooLarge, 413),
            (ErrorKind::RateLimited, 429),
            (ErrorKind::Internal, 500),
            (ErrorKind::Upstream, 502),
        ];
        for (kind, status) in cases {
            assert_eq!(status_of(kind).as_u16(), status, "{kind}");
        }
    }
}
