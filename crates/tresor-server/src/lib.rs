//! tresor's HTTP server.
//!
//! Every route is a thin translation between HTTP and a [`Service`] call: parse the path, query and
//! body into model types, call the service with the request's [`Ctx`], turn the answer into JSON.
//! Authorization, audit, limits and encryption all happen in the service, so the native and the
//! compatibility surfaces cannot differ in what they allow.
//!
//! Request flow: one middleware, the [`gate`] (request id, tracing span, token → caller, per-token
//! rate limit of the route's class, the surface's flags and error shape, metrics) → handler.
//! Errors become `{"error": ...}` responses in one place, [`error::ApiError`]; the compatibility
//! surfaces reshape them in [`routes::shape`].

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

/// Which API a group of routes belongs to: it decides the shape of errors and the flags a route
/// understands, never what a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// tresor's own `/api/v1`: understands `?release_ownership=true`.
    Native,
    /// `/v0/secrets` and `/v0/variables`: Tinybird's status codes.
    Tinybird,
    /// `/api/secrets...`: Conductor's error document.
    Conductor,
}

/// The state of the one middleware in front of every authenticated route.
#[derive(Clone)]
struct Gate {
    app: App,
    class: RouteClass,
    surface: Surface,
}

/// Everything an authenticated request goes through before and after its handler, in one layer
/// (each `from_fn` layer costs a service clone and a boxed future per request, and this is the
/// resolution hot path): request id and tracing span, authentication, the rate limit of the
/// route's class, the surface's flags, then the surface's error shape, metrics and the log line.
async fn gate(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let seen = Seen::of(&req);
    let span = seen.span();
    let resp = async {
        let resp = admit(&gate, req, seen.id.clone(), next).await;
        routes::shape(gate.surface, resp).await
    }
    .instrument(span.clone())
    .await;
    seen.answered(&gate.app, &span, resp)
}

/// Authenticates, applies the rate limit and hands the request with its [`Ctx`] to the handler.
async fn admit(gate: &Gate, mut req: Request, request_id: String, next: Next) -> Response {
    let url_token_allowed = gate.surface == Surface::Tinybird;
    let token = match extract::token_from(req.headers(), req.uri().query(), url_token_allowed) {
        Ok(Some(token)) => token,
        Ok(None) => return ApiError::MissingToken.into_response(),
        Err(e) => return e.into_response(),
    };
    let caller = match gate.app.svc.authenticate(&token, &request_id).await {
        Ok(caller) => caller,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let limiter = gate.app.limiters.of(gate.class);
    if let Err(retry_after_secs) = limiter.check(caller.token_id.as_deref().unwrap_or("")) {
        return ApiError::RateLimited { class: gate.class.name(), per_second: limiter.per_second(), retry_after_secs }
            .into_response();
    }
    tracing::debug!(principal = %caller.principal, "authenticated");
    // `?release_ownership=true`: the caller confirms that a change to a vault managed by a
    // declarative config goes ahead and releases the vault (else: 409). Only the native API has
    // it; the compatibility APIs refuse such changes in their own error shape.
    let release = gate.surface == Surface::Native
        && req
            .uri()
            .query()
            .and_then(|q| extract::query_param(q, "release_ownership"))
            .is_some_and(|v| v == "true" || v == "1");
    req.extensions_mut().insert(Ctx::new(caller, request_id).releasing(release));
    next.run(req).await
}

/// What is noted about a request when it arrives, to observe it when it is answered.
struct Seen {
    started: Instant,
    id: String,
    method: &'static str,
    route: Option<MatchedPath>,
}

impl Seen {
    fn of(req: &Request) -> Self {
        Self {
            started: Instant::now(),
            id: request_id_of(req),
            method: metrics::method_label(req.method()),
            route: req.extensions().get::<MatchedPath>().cloned(),
        }
    }

    fn route(&self) -> &str {
        self.route.as_ref().map_or("", MatchedPath::as_str)
    }

    /// The request's span: the route as matched (`/api/secrets/{key}`), never the URI, whose
    /// path and query may hold a secret's name or a token.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("request", request_id = %self.id, method = self.method, route = self.route())
    }

    /// Counts the answer, logs it and tells the client its request id.
    fn answered(self, app: &AppState, span: &tracing::Span, mut resp: Response) -> Response {
        let elapsed = self.started.elapsed();
        let status = resp.status().as_u16();
        app.metrics.observe(self.method, self.route(), status, elapsed.as_secs_f64());
        span.in_scope(|| tracing::info!(status, latency_us = elapsed.as_micros() as u64, "answered"));
        if let Ok(v) = HeaderValue::from_maybe_shared(axum::body::Bytes::from(self.id)) {
            resp.headers_mut().insert("x-request-id", v);
        }
        resp
    }
}

/// The routes outside the gate (health, metrics, the OpenAPI document, Conductor's token
/// exchange) are still observed, and get a request id.
async fn observe(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let seen = Seen::of(&req);
    let span = seen.span();
    req.extensions_mut().insert(RequestId(seen.id.clone()));
    let resp = next.run(req).instrument(span.clone()).await;
    seen.answered(&app, &span, resp)
}

/// Puts every route of `router` behind the [`gate`]: authentication, the rate limit of `class`
/// and the conventions of `surface`.
pub fn authenticated(app: &App, class: RouteClass, surface: Surface, router: Router<App>) -> Router<App> {
    router.route_layer(middleware::from_fn_with_state(Gate { app: app.clone(), class, surface }, gate))
}

/// Observes every route of `router` that is not behind the gate.
fn observed(app: &App, router: Router<App>) -> Router<App> {
    router.route_layer(middleware::from_fn_with_state(app.clone(), observe))
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
    let open = Router::new()
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(routes::conductor::open_router());
    let router = Router::new()
        .merge(routes::native::router(&app))
        .merge(routes::tinybird::router(&app))
        .merge(routes::conductor::router(&app))
        .merge(observed(&app, open))
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
