//! Extractors whose rejections are JSON errors, and the token's places in a request.

use crate::error::ApiError;
use crate::Surface;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

/// `Json<T>` that answers malformed bodies with `{"error": ...}` naming the problem.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(ApiError::BadRequest(json_problem(&e))),
        }
    }
}

/// Describes a JSON rejection without quoting the body (which may hold a value).
fn json_problem(e: &JsonRejection) -> String {
    match e {
        JsonRejection::MissingJsonContentType(_) => "send the body as JSON with Content-Type: application/json".into(),
        JsonRejection::JsonSyntaxError(_) => "the body is not valid JSON".into(),
        JsonRejection::JsonDataError(d) => {
            // serde names fields in backticks and quotes values: keep the former (they say what to
            // fix), reduce the latter to their kind (they may be a secret).
            let text = d.body_text();
            let text = text.trim_start_matches("Failed to deserialize the JSON body into the target type: ");
            format!(
                "the JSON body does not match the expected shape: {}",
                without_quoted_strings(&tresor_model::without_values(text))
            )
        }
        _ => "the body could not be read".into(),
    }
}

/// Replaces every `"..."` in a message by `"…"`.
pub fn without_quoted_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        if c == '"' {
            out.push('"');
            if !inside {
                out.push('…');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// An extractor of request parts that wraps axum's `$inner` and answers its rejection with
/// `{"error": "$what: ..."}`.
macro_rules! with_json_errors {
    ($(#[$doc:meta])* $name:ident, $inner:ident, $rejection:ty, $what:literal) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for $name<T> {
            type Rejection = ApiError;
            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                axum::extract::$inner::<T>::from_request_parts(parts, state)
                    .await
                    .map(|v| $name(v.0))
                    .map_err(|e: $rejection| ApiError::BadRequest(format!(concat!($what, ": {}"), e.body_text())))
            }
        }
    };
}

with_json_errors!(
    /// `Query<T>` with JSON errors.
    ApiQuery, Query, QueryRejection, "bad query parameters"
);
with_json_errors!(
    /// `Path<T>` with JSON errors.
    ApiPath, Path, PathRejection, "bad path"
);

/// The presented token: on the Vault-compatible surface `X-Vault-Token` first (Vault's clients
/// send it), then `Authorization: Bearer`, then `X-Authorization` (Conductor), then, on the
/// Tinybird surface (its clients send it), the `token` query parameter.
///
/// Elsewhere a `token` in the query is refused even beside a header: it has already been written
/// into every access log on its way, and the client should learn that now rather than later.
pub fn token_from(headers: &HeaderMap, query: Option<&str>, surface: Surface) -> Result<Option<String>, ApiError> {
    let in_url = query.and_then(|q| query_param(q, "token"));
    if in_url.is_some() && surface != Surface::Tinybird {
        return Err(ApiError::TokenInUrl);
    }
    if surface == Surface::Vault {
        if let Some(v) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) {
            return Ok(Some(v.trim().to_owned()));
        }
    }
    if let Some(v) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let token = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).unwrap_or(v);
        return Ok(Some(token.trim().to_owned()));
    }
    if let Some(v) = headers.get("x-authorization").and_then(|v| v.to_str().ok()) {
        return Ok(Some(v.trim().to_owned()));
    }
    Ok(in_url)
}

/// The first value of a query parameter, decoded (`%5F`, `+`) by the `url` crate's parser.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_each_place() {
        let mut h = HeaderMap::new();
        let t = |h: &HeaderMap, q: Option<&str>| token_from(h, q, Surface::Tinybird).unwrap();
        assert_eq!(t(&h, Some("a=1&token=tsr_x%5Fy")), Some("tsr_x_y".into()));
        assert_eq!(t(&h, Some("token=a+b%2")), Some("a b%2".into()));
        h.insert("x-authorization", "tsr_conductor".parse().unwrap());
        assert_eq!(t(&h, None), Some("tsr_conductor".into()));
        h.insert("authorization", "Bearer tsr_bearer".parse().unwrap());
        assert_eq!(t(&h, None), Some("tsr_bearer".into()));
        assert_eq!(t(&h, Some("token=tsr_q")), Some("tsr_bearer".into()), "the header comes first");
        assert_eq!(t(&HeaderMap::new(), Some("x=1")), None);
        // Where the URL may not carry a token, one there is refused, header or not.
        assert!(matches!(token_from(&h, Some("token=tsr_q"), Surface::Native), Err(ApiError::TokenInUrl)));
        assert!(matches!(token_from(&HeaderMap::new(), Some("a=1&token="), Surface::Vault), Err(ApiError::TokenInUrl)));
        assert_eq!(
            token_from(&h, Some("tokens=1&release_ownership=true"), Surface::Native).unwrap(),
            Some("tsr_bearer".into())
        );
        // Vault's header comes first on the Vault surface, and is no token elsewhere.
        h.insert("x-vault-token", "tsr_vault".parse().unwrap());
        assert_eq!(token_from(&h, None, Surface::Vault).unwrap(), Some("tsr_vault".into()));
        assert_eq!(token_from(&h, None, Surface::Native).unwrap(), Some("tsr_bearer".into()));
        assert_eq!(query_param("release_ownership=true", "release_ownership").as_deref(), Some("true"));
        assert_eq!(
            without_quoted_strings("unknown variant \"sk_live_1\", expected u64 at `expected_version`"),
            "unknown variant \"…\", expected u64 at `expected_version`"
        );
    }
}
