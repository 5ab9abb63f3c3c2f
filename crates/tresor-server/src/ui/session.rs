//! The dashboard's sessions: a token exchanged once at sign-in for a random session id in an
//! `HttpOnly; SameSite=Strict` cookie.
//!
//! The token itself stays on the server (zeroized when the session ends) and every request is
//! authenticated with it again through the service, so a session may do exactly what its token
//! may do, and a revoked or expired token ends the session at the next click. Sessions are kept
//! in this process's memory: a restart signs everyone out, and behind several nodes the load
//! balancer must keep a browser on one node (sticky sessions).
//!
//! Sessions are found by the SHA-256 of their id (never the id itself), so a lookup's timing
//! says nothing about the ids held; the per-session CSRF token is compared in constant time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tresor_crypto::{ct_eq, random_token_bytes, token_hash};
use zeroize::Zeroizing;

/// How long a session lasts without a request, and at the most.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self { idle: Duration::from_secs(30 * 60), absolute: Duration::from_secs(12 * 60 * 60) }
    }
}

/// Most sessions held at once; the oldest go first beyond it (a flood of sign-ins with one valid
/// token cannot grow memory without bound).
const MAX_SESSIONS: usize = 10_000;

struct Session {
    token: Zeroizing<String>,
    csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// What a request learns from its session.
pub struct Found {
    pub token: Zeroizing<String>,
    pub csrf: String,
}

#[derive(Default)]
pub struct Sessions {
    limits: SessionLimits,
    held: Mutex<HashMap<[u8; 32], Session>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Self {
        Self { limits, held: Mutex::default() }
    }

    /// Starts a session for `token` (already authenticated by the caller): answers the session
    /// id for the cookie.
    pub fn start(&self, token: Zeroizing<String>) -> Option<String> {
        let id = hex(&random_token_bytes::<32>().ok()?);
        let csrf = hex(&random_token_bytes::<32>().ok()?);
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        self.forget_expired(&mut held, now);
        if held.len() >= MAX_SESSIONS {
            if let Some(oldest) = held.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k) {
                held.remove(&oldest);
            }
        }
        held.insert(token_hash(id.as_bytes()), Session { token, csrf, created: now, last_seen: now });
        Some(id)
    }

    /// The live session with this id, touched (its idle time starts again).
    pub fn find(&self, id: &str) -> Option<Found> {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let key = token_hash(id.as_bytes());
        let session = held.get_mut(&key)?;
        if self.expired(session, now) {
            held.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(Found { token: session.token.clone(), csrf: session.csrf.clone() })
    }

    /// Ends a session (sign-out, or its token refused).
    pub fn end(&self, id: &str) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(&token_hash(id.as_bytes()));
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.last_seen) > self.limits.idle || now.duration_since(s.created) > self.limits.absolute
    }

    fn forget_expired(&self, held: &mut HashMap<[u8; 32], Session>, now: Instant) {
        held.retain(|_, s| !self.expired(s, now));
    }
}

/// Whether a form's CSRF token is the session's.
pub fn csrf_matches(expected: &str, given: &str) -> bool {
    ct_eq(expected.as_bytes(), given.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_only_and_ends() {
        let sessions = Sessions::default();
        let id = sessions.start(Zeroizing::new("tsr_token".into())).unwrap();
        assert_eq!(id.len(), 64);
        let found = sessions.find(&id).unwrap();
        assert_eq!(found.token.as_str(), "tsr_token");
        assert!(csrf_matches(&found.csrf, &found.csrf.clone()));
        assert!(!csrf_matches(&found.csrf, "forged"));
        assert!(sessions.find(&id[..63]).is_none());
        sessions.end(&id);
        assert!(sessions.find(&id).is_none());
    }

    #[test]
    fn idle_and_absolute_expiry_end_a_session() {
        let idle = Sessions::new(SessionLimits { idle: Duration::ZERO, absolute: Duration::from_secs(60) });
        let id = idle.start(Zeroizing::new("t".into())).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert!(idle.find(&id).is_none(), "idle past the limit");
        let absolute = Sessions::new(SessionLimits { idle: Duration::from_secs(60), absolute: Duration::ZERO });
        let id = absolute.start(Zeroizing::new("t".into())).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert!(absolute.find(&id).is_none(), "older than the absolute limit");
    }
}
