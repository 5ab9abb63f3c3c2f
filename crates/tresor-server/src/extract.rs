//! Extractors whose rejections are JSON errors, and the token's places in a request.

use crate::error::ApiError;
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

/// `Query<T>` with JSON errors.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::BadRequest(format!("bad query parameters: {}", e.body_text())))
    }
}

/// `Path<T>` with JSON errors.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::BadRequest(format!("bad path: {}", e.body_text())))
    }
}

/// The presented token: `Authorization: Bearer`, then `X-Authorization` (Conductor), then the
/// `token` query parameter (Tinybird's clients).
pub fn token_from(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let token = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).unwrap_or(v);
        return Some(token.trim().to_owned());
    }
    if let Some(v) = headers.get("x-authorization").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_owned());
    }
    let query = query?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_each_place() {
        let mut h = HeaderMap::new();
        assert_eq!(token_from(&h, Some("a=1&token=tsr_x%5Fy")), Some("tsr_x_y".into()));
        h.insert("x-authorization", "tsr_conductor".parse().unwrap());
        assert_eq!(token_from(&h, None), Some("tsr_conductor".into()));
        h.insert("authorization", "Bearer tsr_bearer".parse().unwrap());
        assert_eq!(token_from(&h, None), Some("tsr_bearer".into()));
        assert_eq!(token_from(&HeaderMap::new(), Some("x=1")), None);
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(
            without_quoted_strings("unknown variant \"sk_live_1\", expected u64 at `expected_version`"),
            "unknown variant \"…\", expected u64 at `expected_version`"
        );
    }
}
