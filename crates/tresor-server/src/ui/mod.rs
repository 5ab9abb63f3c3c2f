//! The web dashboard at `/ui`: the "Secret Keys Manager" that Datatailr and Orkes users know.
//!
//! A surface like the others: every page and form is a translation onto the same [`Service`]
//! calls as the native API, with the caller's own rights; nothing here stores, authorizes or
//! opens a value on its own. Pages are rendered on the server with maud (typed, escaping HTML
//! macros, so no value can break out of its element) plus one small script for the context
//! menu, filtering as you type and copying references; the assets are compiled into the binary,
//! so `tresor serve` serves the dashboard with no build step.
//!
//! Security model:
//! - Sign-in exchanges a token for a server-side session ([`session`]); the browser holds only a
//!   random id in an `HttpOnly; SameSite=Strict` cookie (`Secure` under TLS), never the token.
//! - Every request is authenticated again with the session's token, so revocation and expiry
//!   apply at once and the session may do exactly what its token may.
//! - Changes are `POST` forms: the `Origin` must be this server's and the form must carry the
//!   session's CSRF token ([`UiForm`]).
//! - Headers: a strict Content-Security-Policy (own origin only, no inline script or style),
//!   `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, `Cache-Control: no-store`.
//! - A secret's value is never sent to the browser: pages show secrets by name and metadata,
//!   edit forms for secrets are write-only, there is no "reveal".
//!
//! [`Service`]: tresor_service::Service

mod admin;
mod entries;
pub mod session;
mod views;

use crate::App;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use maud::Markup;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;
use tresor_service::{Ctx, Origin};
use zeroize::Zeroizing;

pub use session::SessionLimits;

/// The dashboard's settings.
#[derive(Debug, Clone, Copy)]
pub struct UiConfig {
    /// Serve `/ui` at all (`--ui=false`, `TRESOR_UI=0` turn it off).
    pub enabled: bool,
    pub sessions: SessionLimits,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self { enabled: true, sessions: SessionLimits::default() }
    }
}

const COOKIE: &str = "tresor_session";

/// What every signed-in page knows about its request: the service context (caller and request
/// id) and the session's CSRF token, which its forms carry.
#[derive(Clone)]
pub(crate) struct Signed {
    pub ctx: Ctx,
    pub csrf: Arc<str>,
}

/// The dashboard's routes. Sign-in and the assets are open; everything else goes through
/// [`signed_in`].
pub(crate) fn router(app: &App) -> Router<App> {
    let signed = Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/entries") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/entries") }))
        .route("/ui/logout", post(logout))
        .merge(entries::routes())
        .merge(admin::routes())
        .route_layer(middleware::from_fn_with_state(app.clone(), signed_in));
    Router::new()
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/assets/ui.css", get(|| async { asset("text/css", include_str!("assets/ui.css")) }))
        .route("/ui/assets/ui.js", get(|| async { asset("text/javascript", include_str!("assets/ui.js")) }))
        .merge(signed)
        .layer(middleware::from_fn_with_state(app.clone(), guarded))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

/// The security headers of every `/ui` answer, and the `Origin` check of every change.
async fn guarded(req: Request, next: Next) -> Response {
    let change = req.method() != Method::GET && req.method() != Method::HEAD;
    // HTTP/1.1 names the host in `Host`, HTTP/2 in the `:authority` of the request's URI.
    let host = req.uri().authority().map(|a| a.as_str().to_owned());
    let mut resp = if change && !same_origin(req.headers(), host.as_deref()) {
        views::problem(
            StatusCode::FORBIDDEN,
            "This form was not sent from this server's own pages (its Origin header does not match). Reload the page and try again.",
        )
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Whether a change comes from this server's own pages. Browsers send `Origin` on every `POST`,
/// but under `Referrer-Policy: no-referrer` a form's is `null`; then the Fetch Metadata header
/// `Sec-Fetch-Site` (set by the browser, not by the page's script) must say `same-origin`. A
/// request with neither an origin naming this host nor that header is refused.
fn same_origin(headers: &HeaderMap, authority: Option<&str>) -> bool {
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let Some(host) = text(header::HOST).or(authority) else { return false };
    match text(header::ORIGIN).filter(|o| *o != "null") {
        Some(origin) => url::Url::parse(origin).is_ok_and(|url| {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            url.host_str().is_some_and(|h| format!("{h}{port}") == host)
        }),
        None => text(header::HeaderName::from_static("sec-fetch-site")) == Some("same-origin"),
    }
}

/// The session id from the request's cookie, if any.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

/// Signed-in pages: the session's token authenticates the request through the service (so a
/// revoked or expired token ends the session); without a session, a page sends the browser to
/// sign in.
async fn signed_in(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let to_login = || Redirect::to("/ui/login").into_response();
    let Some(id) = session_id(req.headers()) else { return to_login() };
    let Some(found) = app.ui_sessions.find(&id) else { return to_login() };
    let origin = req.extensions().get::<Origin>().cloned().unwrap_or_else(|| Origin::new(crate::new_request_id()));
    let caller = match app.svc.authenticate_from(&found.token, &origin).await {
        Ok(caller) => caller,
        Err(e) if e.kind().is_credential_refusal() => {
            app.ui_sessions.end(&id);
            return views::login(Some(&format!("Your session ended: {e}. Sign in again.")), StatusCode::UNAUTHORIZED);
        }
        Err(e) => return views::problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let ctx = Ctx::new(caller, origin.request_id.clone());
    req.extensions_mut().insert(Signed { ctx, csrf: found.csrf.into() });
    next.run(req).await
}

async fn login_page() -> Response {
    views::login(None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

/// Sign-in: the token is checked through the service (a refusal counts against the peer's
/// limit of failed authentications, as on the API) and exchanged for a session.
async fn login(
    State(app): State<App>,
    Extension(origin): Extension<Origin>,
    Extension(peer): Extension<crate::Peer>,
    Form(form): Form<LoginForm>,
) -> Response {
    let token = Zeroizing::new(form.token.trim().to_owned());
    drop(form);
    if token.is_empty() {
        return views::login(Some("Paste a token (tsr_...) to sign in."), StatusCode::BAD_REQUEST);
    }
    match app.svc.authenticate_from(&token, &origin).await {
        Ok(_) => {}
        Err(e) if e.kind().is_credential_refusal() => {
            if let Err(too_many) = app.peer_failed(peer.0) {
                return too_many.into_response();
            }
            return views::login(Some(&format!("That token was refused: {e}")), StatusCode::UNAUTHORIZED);
        }
        Err(e) => return views::problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
    let Some(id) = app.ui_sessions.start(token) else {
        return views::problem(StatusCode::INTERNAL_SERVER_ERROR, "could not start a session: no randomness");
    };
    let secure = if app.tls { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict{secure}");
    let mut resp = Redirect::to("/ui/entries").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn logout(State(app): State<App>, headers: HeaderMap, UiForm(_, _): UiForm<Nothing>) -> Response {
    if let Some(id) = session_id(&headers) {
        app.ui_sessions.end(&id);
    }
    let mut resp = Redirect::to("/ui/login").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tresor_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    resp
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct Nothing {}

/// A change's form, whose `csrf` field must be the session's token: the one place a change is
/// checked against cross-site requests (the `Origin` check is in [`guarded`]).
pub(crate) struct UiForm<T>(pub Signed, pub T);

#[derive(Deserialize)]
struct Csrf {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<App> for UiForm<T> {
    type Rejection = UiError;
    async fn from_request(req: Request, state: &App) -> Result<Self, UiError> {
        let signed = req.extensions().get::<Signed>().cloned().ok_or(UiError::SignIn)?;
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| UiError::bad("This form could not be read; reload the page and try again."))?;
        let csrf: Csrf = serde_urlencoded_from(&bytes)?;
        if !session::csrf_matches(&signed.csrf, &csrf.csrf) {
            return Err(UiError::Problem(
                StatusCode::FORBIDDEN,
                "This form's security token is not your session's (the page is older than your session). Reload the page and try again.".into(),
            ));
        }
        let form: T = serde_urlencoded_from(&bytes)?;
        Ok(UiForm(signed, form))
    }
}

/// Parses a form body; the error names the problem, never a field's value.
fn serde_urlencoded_from<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, UiError> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|_| UiError::bad("This form is incomplete or malformed; reload the page and try again."))
}

/// Why a dashboard request could not be served, turned into a page in one place
/// ([`IntoResponse`]): a message in words with its status, or "sign in first".
pub(crate) enum UiError {
    SignIn,
    Problem(StatusCode, String),
}

impl UiError {
    pub fn bad(message: impl Into<String>) -> Self {
        UiError::Problem(StatusCode::BAD_REQUEST, message.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::SignIn => Redirect::to("/ui/login").into_response(),
            UiError::Problem(status, message) => views::problem(status, &message),
        }
    }
}

impl From<tresor_service::ServiceError> for UiError {
    fn from(e: tresor_service::ServiceError) -> Self {
        UiError::Problem(crate::error::status_of(e.kind()), e.to_string())
    }
}

impl From<tresor_model::NameError> for UiError {
    fn from(e: tresor_model::NameError) -> Self {
        UiError::bad(e.to_string())
    }
}

/// A page's answer: markup, or why not.
pub(crate) type Page = Result<Markup, UiError>;

/// A change's answer: where to go next (a redirect, or the form again with its errors), or why not.
pub(crate) type Answer = Result<Response, UiError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (header::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn a_change_must_come_from_this_servers_pages() {
        let host = ("host", "127.0.0.1:8200");
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8200")]), None));
        assert!(!same_origin(&headers(&[host, ("origin", "http://evil.example")]), None));
        assert!(!same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8201")]), None));
        // `no-referrer` makes a form's Origin `null`: the browser's Fetch Metadata decides.
        assert!(same_origin(&headers(&[host, ("origin", "null"), ("sec-fetch-site", "same-origin")]), None));
        assert!(!same_origin(&headers(&[host, ("origin", "null"), ("sec-fetch-site", "cross-site")]), None));
        assert!(!same_origin(&headers(&[host]), None), "neither header: refused");
        // HTTP/2 has no Host header; the URI's authority names the host.
        assert!(same_origin(&headers(&[("origin", "https://tresor.example")]), Some("tresor.example")));
        assert!(!same_origin(&headers(&[("origin", "https://tresor.example")]), None));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; tresor_session=abc; b=2")]);
        assert_eq!(session_id(&h).as_deref(), Some("abc"));
        assert_eq!(session_id(&headers(&[("cookie", "tresor_session=")])), None);
        assert_eq!(session_id(&headers(&[])), None);
    }
}
