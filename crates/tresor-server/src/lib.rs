//! tresor's HTTP server.
//!
//! Every route is a thin translation between HTTP and a [`Service`] call: parse the path, query and
//! body into model types, call the service with the request's [`Ctx`], turn the answer into JSON.
//! Authorization, audit, limits and encryption all happen in the service, so the native and the
//! compatibility surfaces cannot differ in what they allow.
//!
//! Request flow: `observe` (request id, tracing span, metrics) → `authenticate` (token → caller,
//! per-token rate limit of the route's class) → handler. Errors become `{"error": ...}` responses
//! in one place, [`error::ApiError`].

mod error;
mod extract;
mod metrics;
mod openapi;
mod ratelimit;
mod routes;

pub use error::{ApiError, ApiResult};
pub use ratelimit::{RateLimits, RouteClass};
pub use routes::CompatConfig;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use tresor_service::{Ctx, Service};

/// Server settings beyond the service's own.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub rate_limits: RateLimits,
    /// PEM certificate chain and private key; both or neither.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The Tinybird- and Conductor-compatible surfaces' own settings.
    pub compat: CompatConfig,
}

/// Shared by all requests.
pub struct AppState {
    pub svc: Service,
    metrics: metrics::Metrics,
    limiters: ratelimit::Limiters,
    ready: AtomicBool,
    compat: CompatConfig,
}

pub type App = Arc<AppState>;

/// The request id, set by `observe` for everything downstream.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Request ids are a random per-process prefix and a counter: unique across nodes and restarts
/// without a system call per request.
fn new_request_id() -> String {
    use std::sync::atomic::AtomicU64;
    use std::sync::OnceLock;
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        tresor_crypto::random_token_bytes::<4>()
            .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
            .unwrap_or_else(|_| "00000000".into())
    });
    format!("{prefix}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Accepts a caller's `X-Request-Id` if it is short and plain, else makes one.
fn request_id_of(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}

async fn observe(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id_of(&req);
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let method = req.method().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let mut resp = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    app.metrics.observe(&method, &route, status, elapsed.as_secs_f64());
    span.in_scope(|| tracing::info!(status, latency_us = elapsed.as_micros() as u64, "answered"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

async fn authenticate(State((app, class)): State<(App, RouteClass)>, mut req: Request, next: Next) -> Response {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_else(new_request_id);
    let Some(token) = extract::token_from(req.headers(), req.uri().query()) else {
        return ApiError::MissingToken.into_response();
    };
    let caller = match app.svc.authenticate(&token, &request_id).await {
        Ok(caller) => caller,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let limiter = app.limiters.of(class);
    if let Err(retry_after_secs) = limiter.check(caller.token_id.as_deref().unwrap_or("")) {
        return ApiError::RateLimited { class: class.name(), per_second: limiter.per_second(), retry_after_secs }
            .into_response();
    }
    tracing::debug!(principal = %caller.principal, "authenticated");
    req.extensions_mut().insert(Ctx::new(caller, request_id));
    next.run(req).await
}

/// Attaches authentication and the rate limit of `class` to every route of `router`.
pub fn authenticated(app: &App, class: RouteClass, router: Router<App>) -> Router<App> {
    router.route_layer(middleware::from_fn_with_state((app.clone(), class), authenticate))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(app): State<App>) -> Response {
    if app.ready.load(Ordering::Acquire) && app.svc.store().get_meta("audit_mac_key").await.is_ok() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn metrics_text(State(app): State<App>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        app.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::Service(tresor_service::ServiceError::NotFound(
        "no such route; the API is described at /api/v1/openapi.json".into(),
    ))
}

/// Builds the application: state and routes.
pub fn app(svc: Service, config: &ServerConfig) -> (App, Router) {
    let app = Arc::new(AppState {
        svc,
        metrics: metrics::Metrics::default(),
        limiters: ratelimit::Limiters::new(config.rate_limits),
        ready: AtomicBool::new(true),
        compat: config.compat.clone(),
    });
    let router = Router::new()
        .merge(routes::native::router(&app))
        .merge(routes::tinybird::router(&app))
        .merge(routes::conductor::router(&app))
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route_layer(middleware::from_fn_with_state(app.clone(), observe))
        .fallback(not_found)
        .with_state(app.clone());
    (app, router)
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish
/// (up to 10 s).
pub async fn serve(
    router: Router,
    listener: std::net::TcpListener,
    config: &ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    listener.set_nonblocking(true)?;
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    match &config.tls {
        None => axum_server::from_tcp(listener).handle(handle).serve(service).await,
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("loading TLS certificate {} and key {}: {e}", cert.display(), key.display()),
                )
            })?;
            axum_server::from_tcp_rustls(listener, tls).handle(handle).serve(service).await
        }
    }
}
