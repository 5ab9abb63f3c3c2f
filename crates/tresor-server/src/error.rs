//! The one place where errors become HTTP responses: `{"error": "..."}` with the status the service
//! layer assigns (`ServiceError::http_status`), plus the HTTP layer's own refusals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tresor_service::ServiceError;

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
        per_second: u32,
        retry_after_secs: u64,
    },
    /// The peer's failed authentications went past their per-second limit.
    TooManyFailures {
        per_second: u32,
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
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Service(e) => StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::MissingToken | ApiError::TokenInUrl => StatusCode::UNAUTHORIZED,
            ApiError::LimitReached(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } | ApiError::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Service(e) => e.to_string(),
            ApiError::BadRequest(m) | ApiError::MethodNotAllowed(m) | ApiError::LimitReached(m) => m.clone(),
            ApiError::MissingToken => "no token: send `Authorization: Bearer tsr_...` (Conductor's routes: \
                 X-Authorization; the Tinybird-compatible /v0 routes also take ?token=)"
                .into(),
            ApiError::TokenInUrl => "a token in the URL (?token=) is refused here: proxies and access logs keep \
                 URLs. Send it in the `Authorization: Bearer tsr_...` header (Conductor's routes: X-Authorization), \
                 and treat a token that was sent in a URL as exposed: revoke it and use a new one. Only the \
                 Tinybird-compatible /v0 routes take ?token=, as Tinybird's clients send it"
                .into(),
            ApiError::RateLimited { class, per_second, retry_after_secs } => format!(
                "rate limit reached: {per_second} requests/s per token for {class} routes; retry after {retry_after_secs} s"
            ),
            ApiError::TooManyFailures { per_second, retry_after_secs } => format!(
                "too many failed authentications from this address (more than {per_second}/s); check the token \
                 and retry after {retry_after_secs} s"
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
        let mut resp = (status, axum::Json(serde_json::json!({ "error": self.message() }))).into_response();
        if let ApiError::RateLimited { retry_after_secs, .. } | ApiError::TooManyFailures { retry_after_secs, .. } =
            self
        {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
