//! tresor's HTTP server.
//!
//! Every route is a thin translation between HTTP and a [`Service`] call: parse the path, query and
//! body into model types, call the service with the request's [`Ctx`], turn the answer into JSON.
//! Authorization, audit, limits and encryption all happen in the service, so the native and the
//! compatibility surfaces cannot differ in what they allow.
//!
//! Request flow: one middleware, the [`gate`] (request id, tracing span, token → caller, the
//! per-peer limit of failed authentications, per-token rate limit of the route's class, the
//! surface's flags and error shape, metrics) → handler.
//! Errors become `{"error": ...}` responses in one place, [`error::ApiError`]; the compatibility
//! surfaces reshape them in [`routes::shape`].

pub mod connections;
mod docs;
mod error;
mod extract;
mod metrics;
mod openapi;
mod peer_limit;
mod ratelimit;
mod routes;
pub mod ui;

pub use error::{ApiError, ApiResult};
pub use ratelimit::{Per, Rate, RateLimits, RouteClass};
pub use routes::CompatConfig;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use tresor_service::{Ctx, Origin, Service, ServiceError};

/// Server settings beyond the service's own.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub rate_limits: RateLimits,
    /// PEM certificate chain and private key; both or neither.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The Tinybird- and Conductor-compatible surfaces' own settings.
    pub compat: CompatConfig,
    /// The web dashboard at `/ui`.
    pub ui: ui::UiConfig,
    /// Timeouts and limits of connections ([`connections`]).
    pub connections: connections::ConnectionLimits,
}

/// Shared by all requests.
pub struct AppState {
    pub svc: Service,
    metrics: metrics::Metrics,
    limiters: ratelimit::Limiters,
    /// Failed authentications per peer.
    peers: peer_limit::PeerLimiter,
    ready: AtomicBool,
    compat: CompatConfig,
    /// The dashboard's signed-in sessions.
    ui_sessions: ui::session::Sessions,
    /// Whether the server speaks TLS (the dashboard's cookie is then `Secure`).
    tls: bool,
}

pub type App = Arc<AppState>;

/// Request ids are made here, never taken from the client (whose id could be forged or collide
/// with another request's): a random per-process prefix and a counter, unique across nodes and
/// restarts without a system call per request.
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

/// Most characters kept of a client's `X-Request-Id`.
const CLIENT_REQUEST_ID_MAX: usize = 64;

/// The `X-Request-Id` a client sent, if any: kept beside the server's id (log span, audit detail),
/// marked as the client's, so a client can find its requests. Bounded, and anything but printable
/// ASCII replaced by `?`, so it can neither grow records nor break log lines.
fn client_request_id_of(req: &Request) -> Option<String> {
    let raw = req.headers().get("x-request-id")?.as_bytes();
    let id: String = raw
        .iter()
        .take(CLIENT_REQUEST_ID_MAX)
        .map(|&b| if b.is_ascii_graphic() || b == b' ' { char::from(b) } else { '?' })
        .collect();
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// The address of the connection's peer (see [`peer_limit`] for why not `X-Forwarded-For`), as
/// the failure limit keys it. Without connection info (the router driven in process) all
/// requests share one key.
fn peer_of(req: &Request) -> Option<IpAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| peer_limit::peer_key(addr.ip()))
}

/// The peer's address as the failure limit keys it, for the open routes that check credentials
/// (Conductor's token exchange); set by `observe`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub Option<IpAddr>);

/// Which API a group of routes belongs to: it decides the shape of errors and the flags a route
/// understands, never what a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// tresor's own `/api/v1`: understands `?release_ownership=true`.
    Native,
    /// `/v0/secrets` and `/v0/variables`: Tinybird's status codes; cannot confirm releasing a
    /// managed vault.
    Tinybird,
    /// `/api/secrets...`: Conductor's error document; cannot confirm releasing a managed vault.
    Conductor,
    /// `/v1/...`: HashiCorp Vault's KV version 2 API; the token may come as `X-Vault-Token`;
    /// Vault's `{"errors": [...]}`; cannot confirm releasing a managed vault.
    Vault,
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
        let resp = admit(&gate, req, seen.origin(), seen.peer, next).await;
        routes::shape(gate.surface, resp).await
    }
    .instrument(span.clone())
    .await;
    seen.answered(&gate.app, &span, resp)
}

/// Authenticates, applies the rate limit and hands the request with its [`Ctx`] to the handler.
async fn admit(gate: &Gate, mut req: Request, origin: Origin, peer: Option<IpAddr>, next: Next) -> Response {
    let token = match extract::token_from(req.headers(), req.uri().query(), gate.surface) {
        Ok(Some(token)) => token,
        Ok(None) => return ApiError::MissingToken.into_response(),
        Err(e) => return e.into_response(),
    };
    let caller = match gate.app.svc.authenticate_from(&token, &origin).await {
        Ok(caller) => caller,
        Err(e) if e.kind().is_credential_refusal() => return gate.app.refuse_credential(peer, e),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let limiter = gate.app.limiters.of(gate.class);
    if let Err(retry_after_secs) = limiter.check(caller.token_id.as_deref().unwrap_or("")) {
        return ApiError::RateLimited { class: gate.class.name(), rate: limiter.rate(), retry_after_secs }
            .into_response();
    }
    tracing::debug!(principal = %caller.principal, "authenticated");
    // `?release_ownership=true`: the caller confirms that a change to a vault managed by a
    // declarative config goes ahead and releases the vault (else: 409). Only the native API has
    // it; the compatibility APIs refuse such changes in their own error shape, saying what works.
    let release = gate.surface == Surface::Native
        && req
            .uri()
            .query()
            .and_then(|q| extract::query_param(q, "release_ownership"))
            .is_some_and(|v| v == "true" || v == "1");
    let Origin { request_id, client_request_id, .. } = origin;
    let mut ctx = Ctx::new(caller, request_id).with_client_request_id(client_request_id).releasing(release);
    if gate.surface != Surface::Native {
        // The compatibility APIs mirror platforms whose branches read the main workspace's
        // secrets and create none (Tinybird's "You cannot create a secret in a Branch").
        ctx = ctx.without_release_confirmation().with_read_only_branches();
    }
    req.extensions_mut().insert(ctx);
    next.run(req).await
}

impl AppState {
    /// The answer to a refused token or application key: the service has recorded (or counted)
    /// the failure; past the peer's limit of failures the answer is 429 with `Retry-After`
    /// instead of 401, which tells a flooding client to slow down.
    fn refuse_credential(&self, peer: Option<IpAddr>, e: ServiceError) -> Response {
        match self.peer_failed(peer) {
            Ok(()) => ApiError::from(e),
            Err(too_many) => too_many,
        }
        .into_response()
    }

    /// Counts a failed authentication of `peer` against its limit: past it, the refusal to
    /// answer instead of the failure's own.
    fn peer_failed(&self, peer: Option<IpAddr>) -> Result<(), ApiError> {
        self.peers
            .failed(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
            .map_err(|retry_after_secs| ApiError::TooManyFailures { rate: self.peers.rate(), retry_after_secs })
    }
}

/// What is noted about a request when it arrives, to observe it when it is answered.
struct Seen {
    started: Instant,
    id: String,
    client_id: Option<String>,
    peer: Option<IpAddr>,
    method: &'static str,
    route: Option<MatchedPath>,
}

impl Seen {
    fn of(req: &Request) -> Self {
        Self {
            started: Instant::now(),
            id: new_request_id(),
            client_id: client_request_id_of(req),
            peer: peer_of(req),
            method: metrics::method_label(req.method()),
            route: req.extensions().get::<MatchedPath>().cloned(),
        }
    }

    fn route(&self) -> &str {
        self.route.as_ref().map_or("", MatchedPath::as_str)
    }

    /// The request's span: the route as matched (`/api/secrets/{*path}`), never the URI, whose
    /// path and query may hold a secret's name or a token; the client's request id, if any,
    /// quoted and marked as the client's.
    fn span(&self) -> tracing::Span {
        let span = tracing::info_span!(
            "request",
            request_id = %self.id,
            client_request_id = tracing::field::Empty,
            method = self.method,
            route = self.route()
        );
        if let Some(client_id) = &self.client_id {
            span.record("client_request_id", tracing::field::debug(client_id));
        }
        span
    }

    /// Who sent the request, for the service's records of credentials it refuses.
    fn origin(&self) -> Origin {
        Origin {
            request_id: self.id.clone(),
            peer: self.peer.map(peer_limit::peer_label),
            client_request_id: self.client_id.clone(),
        }
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
/// exchange) are still observed, and get a request id: their handlers find the request's
/// [`Origin`] among its extensions.
async fn observe(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let seen = Seen::of(&req);
    let span = seen.span();
    req.extensions_mut().insert(seen.origin());
    req.extensions_mut().insert(Peer(seen.peer));
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
    app.metrics.disk_full.set(i64::from(app.svc.store().refusing_changes_for_a_full_disk()));
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
        peers: peer_limit::PeerLimiter::new(config.rate_limits.auth_failures),
        ready: AtomicBool::new(true),
        compat: config.compat.clone(),
        ui_sessions: ui::session::Sessions::new(config.ui.sessions),
        tls: config.tls.is_some(),
    });
    // The native API's open route (its OpenAPI document) is in its table, `routes::native::routes`.
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(routes::conductor::open_router())
        .merge(routes::vault::open_router());
    let mut router = Router::new();
    if config.ui.enabled {
        router = router.merge(observed(&app, ui::router(&app)));
    }
    let router = router
        .merge(routes::native::router(&app))
        .merge(routes::tinybird::router(&app))
        .merge(routes::conductor::router(&app))
        .merge(routes::vault::router(&app))
        .merge(observed(&app, open))
        .fallback(not_found)
        .with_state(app.clone());
    (app, router)
}

/// How often the rate limiters forget the keys they no longer need.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Keeps every keyed limiter as small as its recently active keys: each key an attacker makes up
/// (a token id, an address) would otherwise stay for the life of the process.
fn spawn_pruner(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            app.limiters.prune();
            app.peers.prune();
        }
    })
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish (up to
/// 10 s) and writes the counts of failed authentications still open. Connections are accepted
/// and limited by [`connections`].
///
/// Both plain TCP and TLS serve with connection info, so the gate sees each peer's address.
pub async fn serve(
    app: &App,
    router: Router,
    listener: std::net::TcpListener,
    config: &ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let pruner = spawn_pruner(app.clone());
    let served = serve_until(router, listener, config, app.metrics.connections.clone(), shutdown).await;
    pruner.abort();
    app.svc.flush_auth_failures().await;
    served
}

async fn serve_until(
    router: Router,
    listener: std::net::TcpListener,
    config: &ServerConfig,
    metrics: metrics::ConnectionMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = config.connections;
    let refusal = ApiError::TooManyConnections { max_connections: limits.max_connections }.to_http1_bytes();
    let tls = match &config.tls {
        None => None,
        Some((cert, key)) => Some(tokio_rustls::TlsAcceptor::from(rustls_config(cert, key)?)),
    };
    connections::serve(router, listener, tls, limits, refusal, metrics, shutdown).await
}

/// The certificate chain and key for rustls, offering only HTTP/1.1 by ALPN (see
/// [`connections`]).
fn rustls_config(cert: &Path, key: &Path) -> std::io::Result<Arc<rustls::ServerConfig>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let failed = |e: &dyn std::fmt::Display| {
        std::io::Error::other(format!("loading TLS certificate {} and key {}: {e}", cert.display(), key.display()))
    };
    let read = |path: &Path| std::fs::read(path).map_err(|e| failed(&format!("{}: {e}", path.display())));
    let certs =
        rustls_pemfile::certs(&mut read(cert)?.as_slice()).collect::<Result<Vec<_>, _>>().map_err(|e| failed(&e))?;
    if certs.is_empty() {
        return Err(failed(&format!("{} holds no PEM certificate", cert.display())));
    }
    let private_key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| failed(&e))?
        .ok_or_else(|| failed(&format!("{} holds no PEM private key", key.display())))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| failed(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
