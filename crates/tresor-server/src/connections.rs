//! What one connection may take of the server, so that slow, idle or hostile clients cannot
//! starve the others (docs/operations.md, "Connections: timeouts and limits").
//!
//! - **Header timeout**: a request's line and headers must arrive in full within it, counted from
//!   when the server starts waiting for them: on a new connection from its acceptance (under TLS
//!   from the end of the handshake), on a kept-alive one from the previous answer. hyper's own
//!   timer, so a connection that sends nothing, half a request line, or its headers a byte a
//!   second (slowloris) is closed, and so is a kept-alive connection left idle.
//! - **TLS handshake timeout**: the same length, before the header timeout starts.
//! - **Idle timeout**: a connection on which no byte moves either way for this long is closed
//!   ([`Admitted`]): a request body that stops arriving, a client that stops reading its answer.
//!   It also bounds a request that runs this long without a byte moving (tresor's own requests
//!   take far less; a webhook call gives up after 10 s).
//! - **Header size**: the most bytes of a request's line and headers; a larger head is answered
//!   431 and the connection closed (hyper). The read buffer is as large.
//! - **Connection limit**: at most this many connections are open ([`serve`]), fitted under
//!   the process's descriptor limit with room for the store, the PostgreSQL pool and the
//!   process's own files ([`fit_descriptor_limit`]). When every slot is taken the newest
//!   connection is refused at once: over plain HTTP it is answered 429 with `Retry-After` (the
//!   answer every client of tresor already waits out) and closed once its request is read (up
//!   to 1 s, 64 at a time), over TLS it is closed. Refusing, rather than leaving it queued,
//!   frees its descriptor at once, so a flood cannot exhaust them; the slots come free as the
//!   header and idle timeouts close the connections holding them.
//!
//! Only HTTP/1.1 is served (hyper's HTTP/1 connection, TLS offering only `http/1.1` by ALPN):
//! every limit above is HTTP/1's, and an HTTP/2 connection could send its headers as slowly as
//! it liked. That is why this module accepts and serves connections itself rather than through
//! a server crate that detects HTTP/2 on the first bytes, before any timeout runs.

use crate::metrics::ConnectionMetrics;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use prometheus_client::metrics::gauge::Gauge;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

/// Seconds a request's line and headers may take to arrive, by default.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
/// Seconds a connection may go without a byte read or written, by default.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Connections open at once, by default (lowered to fit the descriptor limit).
pub const DEFAULT_MAX_CONNECTIONS: u64 = 4096;
/// Bytes a request's line and headers may take, by default: room for a token, the dashboard's
/// cookie and any proxy's headers many times over.
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 32 * 1024;
/// The smallest header size hyper accepts as its read buffer.
pub const MIN_MAX_HEADER_BYTES: u64 = 8 * 1024;
/// Descriptors kept for everything but admitted connections: the listener, the store's files or
/// its PostgreSQL pool, the runtime's own, the root key and log files (128), and the refused
/// connections answered at once ([`MAX_LINGERING_REFUSALS`]).
pub const DESCRIPTOR_RESERVE: u64 = 128 + MAX_LINGERING_REFUSALS as u64;

/// The limits of one connection and of their number (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_header_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES as usize,
        }
    }
}

impl std::fmt::Display for ConnectionLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "header timeout {}s, idle timeout {}s, at most {} connections, headers up to {} bytes",
            self.header_timeout.as_secs(),
            self.idle_timeout.as_secs(),
            self.max_connections,
            self.max_header_bytes
        )
    }
}

/// How many connections may be open given the descriptor limit: `wanted` when it fits, else as
/// many as fit. When the soft limit is too low for `wanted` it is raised towards the hard limit
/// first (as nginx's `worker_rlimit_nofile` does); the text says what was done, for the log.
pub fn fit_descriptor_limit(wanted: u64) -> (u64, Option<String>) {
    match descriptor_limits() {
        Some((soft, hard)) => fit(wanted, soft, hard, raise_soft_descriptor_limit),
        None => (wanted, None),
    }
}

/// [`fit_descriptor_limit`] under the soft and hard limits given, raising the soft one through
/// `raise` (which says whether it could).
fn fit(wanted: u64, soft: u64, hard: u64, raise: impl FnOnce(u64) -> bool) -> (u64, Option<String>) {
    let needed = wanted.saturating_add(DESCRIPTOR_RESERVE);
    if needed <= soft {
        return (wanted, None);
    }
    let raised_to = needed.min(hard);
    let limit = if raised_to > soft && raise(raised_to) { raised_to } else { soft };
    let fits = limit.saturating_sub(DESCRIPTOR_RESERVE).max(limit / 2).max(1);
    if fits >= wanted {
        return (wanted, Some(format!("raised the descriptor limit from {soft} to {limit}")));
    }
    let note = format!(
        "serving at most {fits} connections, not {wanted}: the descriptor limit is {limit} (hard limit {hard}) \
         and {DESCRIPTOR_RESERVE} are kept for the store and the process; raise it (`ulimit -n`, systemd's \
         LimitNOFILE=) to allow more"
    );
    (fits, Some(note))
}

/// The soft and hard limits on open descriptors (`RLIMIT_NOFILE`), where there are such.
#[cfg(unix)]
fn descriptor_limits() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given and reads nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    // `rlim_t` is `u64` on Linux and macOS; the conversion is for the platforms where it is not.
    #[allow(clippy::useless_conversion)]
    (rc == 0).then(|| (u64::from(limit.rlim_cur), u64::from(limit.rlim_max)))
}

#[cfg(not(unix))]
fn descriptor_limits() -> Option<(u64, u64)> {
    None
}

#[cfg(unix)]
fn raise_soft_descriptor_limit(to: u64) -> bool {
    let Some((_, hard)) = descriptor_limits() else { return false };
    let limit = libc::rlimit { rlim_cur: to as libc::rlim_t, rlim_max: hard as libc::rlim_t };
    // SAFETY: setrlimit reads the struct it is given; raising the soft limit up to the hard one
    // needs no privilege.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 }
}

#[cfg(not(unix))]
fn raise_soft_descriptor_limit(_to: u64) -> bool {
    false
}

/// How long shutting down waits for the requests in flight.
const GRACE: Duration = Duration::from_secs(10);
/// The pause after a failed accept (out of descriptors, most likely) before the next one.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` (through `tls`, if any) within `limits` until `shutdown`
/// resolves, then stops accepting and lets the requests in flight finish (up to 10 s).
/// `refusal` is written to a plain-HTTP connection that finds every slot taken.
pub(crate) async fn serve(
    router: Router,
    listener: std::net::TcpListener,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    refusal: Vec<u8>,
    metrics: ConnectionMetrics,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    metrics.max.set(i64::try_from(limits.max_connections).unwrap_or(i64::MAX));
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    // The header size is checked on the head as parsed; the read buffer's bound alone is
    // approximate (one read may overshoot it), but it keeps a connection's buffer that small.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes);
    let http = Arc::new(http);
    let graceful = GracefulShutdown::new();
    let refusal: Arc<[u8]> = refusal.into();
    let lingering = Arc::new(Semaphore::new(MAX_LINGERING_REFUSALS));
    let refused = EveryMinute::default();
    let accept_failed = EveryMinute::default();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if accept_failed.due() {
                        tracing::warn!(error = %e, "accepting a connection failed (out of descriptors?)");
                    }
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics.refused.inc();
            // Under TLS there is no answer: the client could not read it before a handshake.
            if tls.is_none() {
                refuse(tcp, &refusal, &lingering);
            }
            if refused.due() {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "refusing connections: every connection slot is taken (--max-connections)"
                );
            }
            continue;
        };
        let io = Admitted::new(tcp, Slot::taken(permit, &metrics.open), limits.idle_timeout);
        let service = service_for(router.clone(), peer);
        let (http, watcher, tls) = (http.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_connection(&http, io, service, watcher).await,
                // The handshake gets the header timeout, then the request's head gets it again.
                Some(tls) => match tokio::time::timeout(limits.header_timeout, tls.accept(io)).await {
                    Ok(Ok(stream)) => serve_connection(&http, stream, service, watcher).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    tracing::info!(open = graceful.count(), "shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(GRACE) => tracing::warn!("requests still in flight after {}s: closing them", GRACE.as_secs()),
    }
    Ok(())
}

/// How long a refused connection is kept to read its request after the answer.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// Refused connections kept at once; beyond them a refused connection is closed at once.
const MAX_LINGERING_REFUSALS: usize = 64;

/// Answers a connection that finds every slot taken, and closes it. Closing a socket whose
/// request was not read resets the connection, and the client would see the reset rather than
/// the answer; so the request is read (and dropped) for up to a second first, by at most
/// [`MAX_LINGERING_REFUSALS`] connections at once, which bounds the descriptors a flood of
/// refusals holds. Beyond them the answer is written without waiting and the connection closed.
fn refuse(mut tcp: tokio::net::TcpStream, answer: &Arc<[u8]>, lingering: &Arc<Semaphore>) {
    let Ok(permit) = lingering.clone().try_acquire_owned() else {
        let _ = tcp.try_write(answer);
        return;
    };
    let answer = answer.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            tcp.write_all(&answer).await?;
            tcp.shutdown().await?;
            let mut sink = [0u8; 1024];
            while tcp.read(&mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        })
        .await;
    });
}

/// The router as the service of one connection from `peer`: each request carries the peer's
/// address ([`ConnectInfo`]), as the gate and the failure limit read it.
fn service_for(
    router: Router,
    peer: SocketAddr,
) -> impl hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible, Future: Send> + Send + 'static
{
    hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move { router.call(req).await }
    })
}

/// Serves one connection's requests until it ends, fails or is shut down gracefully.
async fn serve_connection<I, S>(http: &hyper::server::conn::http1::Builder, io: I, service: S, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let connection = http.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(connection).await {
        // Header timeouts, 431s, idle timeouts and resets: the client's doing, not the server's.
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Says whether a repeated event is to be logged: at most once a minute, so that a flood does
/// not become a flood of log lines.
#[derive(Default)]
struct EveryMinute {
    last_logged: Mutex<Option<Instant>>,
}

impl EveryMinute {
    fn due(&self) -> bool {
        let mut last = self.last_logged.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= Duration::from_secs(60));
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

/// One of the connection slots, taken: counted as open until it is dropped.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Gauge,
}

impl Slot {
    fn taken(permit: OwnedSemaphorePermit, open: &Gauge) -> Self {
        open.inc();
        Self { _permit: permit, open: open.clone() }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// An admitted connection: holds its slot until it is dropped, and fails its reads and writes
/// once no byte has moved either way for the idle timeout.
pub(crate) struct Admitted<T> {
    io: T,
    idle_timeout: Duration,
    last_moved: Instant,
    deadline: Pin<Box<Sleep>>,
    _slot: Slot,
}

impl<T> Admitted<T> {
    fn new(io: T, slot: Slot, idle_timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            io,
            idle_timeout,
            last_moved: now,
            deadline: Box::pin(tokio::time::sleep_until(now + idle_timeout)),
            _slot: slot,
        }
    }

    fn moved(&mut self) {
        self.last_moved = Instant::now();
    }

    /// For a read or write that is waiting: an error once the connection has been idle for the
    /// timeout, else `Pending` with the deadline's timer registered. The timer is moved only
    /// when it fires early (bytes moved since it was set), not on every read and write.
    fn idle_check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = self.last_moved + self.idle_timeout;
            if due <= Instant::now() {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no byte moved for {}s (idle timeout)", self.idle_timeout.as_secs()),
                ));
            }
            self.deadline.as_mut().reset(due);
        }
    }

    /// What a read or write of the connection came to: when ready (bytes moved, or it ended or
    /// failed) it is passed on and the time noted; when waiting, the idle timeout is checked.
    fn passed<R>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match polled {
            Poll::Pending => self.idle_check(cx).map(Err),
            ready => {
                self.moved();
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Admitted<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        this.passed(cx, polled)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Admitted<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.passed(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.passed(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.idle_check(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn slot() -> Slot {
        Slot::taken(Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap(), &Gauge::default())
    }

    /// The clock is paused, so "idle for the timeout" is exact and the test takes no time.
    #[tokio::test(start_paused = true)]
    async fn a_connection_is_cut_after_the_idle_timeout_and_not_while_bytes_move() {
        let (client, server) = tokio::io::duplex(64);
        let mut conn = Admitted::new(server, slot(), Duration::from_secs(5));
        let mut client = client;
        let writer = tokio::spawn(async move {
            // A byte every 4 s keeps it open; then silence.
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                client.write_all(b"x").await.unwrap();
            }
            client
        });
        let started = Instant::now();
        let mut buf = [0u8; 1];
        for _ in 0..3 {
            conn.read_exact(&mut buf).await.expect("bytes arriving within the timeout keep it open");
        }
        let err = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("idle timeout"), "{err}");
        assert_eq!(started.elapsed(), Duration::from_secs(12 + 5), "cut exactly one timeout after the last byte");
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn the_slot_is_given_back_and_counted_when_the_connection_ends() {
        let slots = Arc::new(Semaphore::new(1));
        let open = Gauge::default();
        let (_client, server) = tokio::io::duplex(64);
        let slot = Slot::taken(slots.clone().try_acquire_owned().unwrap(), &open);
        let conn = Admitted::new(server, slot, Duration::from_secs(5));
        assert!(slots.clone().try_acquire_owned().is_err(), "the one slot is taken");
        assert_eq!(open.get(), 1);
        drop(conn);
        assert!(slots.try_acquire_owned().is_ok(), "and free again");
        assert_eq!(open.get(), 0);
    }

    #[test]
    fn the_connection_limit_is_fitted_under_the_descriptor_limit() {
        let no_raise = |_| panic!("no need to raise");
        assert_eq!(fit(4096, 100_000, 100_000, no_raise), (4096, None), "fits as it is");
        // Too low a soft limit is raised as far as needed.
        let (fits, note) = fit(4096, 1024, 100_000, |to| to == 4096 + DESCRIPTOR_RESERVE);
        assert_eq!(fits, 4096);
        assert!(note.unwrap().contains(&format!("from 1024 to {}", 4096 + DESCRIPTOR_RESERVE)));
        // A hard limit below it lowers the connection limit, and says what to do.
        let (fits, note) = fit(4096, 1024, 2048, |to| to == 2048);
        assert_eq!(fits, 2048 - DESCRIPTOR_RESERVE);
        let note = note.unwrap();
        let says = format!("at most {} connections, not 4096", 2048 - DESCRIPTOR_RESERVE);
        assert!(note.contains(&says) && note.contains("ulimit -n"), "{note}");
        // A raise that fails keeps the soft limit; a tiny limit still leaves half of it.
        assert_eq!(fit(4096, 1024, 100_000, |_| false).0, 1024 - DESCRIPTOR_RESERVE);
        assert_eq!(fit(4096, 200, 200, |_| false).0, 100);
    }
}
