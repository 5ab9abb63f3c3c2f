//! Per-token rate limits, one limiter per route class. A rate of 0 turns a class's limit off.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{NotUntil, Quota, RateLimiter};
use std::hash::Hash;
use std::num::NonZeroU32;

/// The route classes, each with its own configurable rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// Vaults, environments, principals, grants, tokens, audit.
    Management,
    /// Entry reads, writes and resolution (native and Conductor-style).
    Entries,
    /// The Tinybird-compatible `/v0/*` routes.
    Tinybird,
}

impl RouteClass {
    pub fn name(self) -> &'static str {
        match self {
            RouteClass::Management => "management",
            RouteClass::Entries => "entry",
            RouteClass::Tinybird => "Tinybird-compatible /v0",
        }
    }
}

/// Requests per second per token for each class, and failed authentications per second per
/// peer; 0 means unlimited.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub management: u32,
    pub entries: u32,
    pub tinybird: u32,
    /// See [`crate::peer_limit`].
    pub auth_failures: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            management: 5,
            entries: 0,
            tinybird: 5,
            auth_failures: crate::peer_limit::DEFAULT_AUTH_FAILURES_PER_SECOND,
        }
    }
}

/// Whole seconds until a refused key may try again (what `Retry-After` says), rounded up.
fn retry_after_secs<C: Clock>(not_until: &NotUntil<C::Instant>, clock: &C) -> u64 {
    let wait = not_until.wait_time_from(clock.now());
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// A keyed limiter: `per_second` per key, with a burst of as many; 0 turns it off. Keyed by
/// token for the route classes, by peer address for failed authentications (`peer_limit.rs`).
/// The clock is the system's; tests give it one they move by hand (`FakeRelativeClock`), so no
/// test depends on how fast the machine runs.
pub struct Limiter<K: Hash + Eq + Clone = String, C: Clock = DefaultClock> {
    per_second: u32,
    clock: C,
    inner: Option<KeyedLimiter<K, C>>,
}

/// governor's keyed limiter on clock `C`.
type KeyedLimiter<K, C> = RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

impl<C: Clock> Limiter<String, C> {
    /// `Ok` if `key` may proceed now, else how many whole seconds to wait.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let Some(limiter) = &self.inner else { return Ok(()) };
        limiter.check_key(&key.to_owned()).map_err(|not_until| retry_after_secs(&not_until, &self.clock))
    }
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(per_second: u32) -> Self {
        Self::with_clock(per_second, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> Limiter<K, C> {
    pub fn with_clock(per_second: u32, clock: C) -> Self {
        let inner = NonZeroU32::new(per_second)
            .map(|n| RateLimiter::new(Quota::per_second(n), DefaultKeyedStateStore::default(), clock.clone()));
        Self { per_second, clock, inner }
    }

    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// `Ok` if `key` may proceed now, else how many whole seconds to wait.
    pub fn check_key(&self, key: &K) -> Result<(), u64> {
        let Some(limiter) = &self.inner else { return Ok(()) };
        limiter.check_key(key).map_err(|not_until| retry_after_secs(&not_until, &self.clock))
    }

    /// How many keys are remembered now.
    #[cfg(test)]
    pub fn keys(&self) -> usize {
        self.inner.as_ref().map_or(0, |l| l.len())
    }

    /// Forgets the keys whose budget is whole again: a key's state is then the same as a key
    /// never seen, so dropping it changes no answer and keeps the map as small as the set of
    /// recently active keys (tokens, and the peers exchanging application keys).
    pub fn prune(&self) {
        if let Some(limiter) = &self.inner {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

pub struct Limiters {
    pub management: Limiter,
    pub entries: Limiter,
    pub tinybird: Limiter,
}

impl Limiters {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            management: Limiter::new(limits.management),
            entries: Limiter::new(limits.entries),
            tinybird: Limiter::new(limits.tinybird),
        }
    }

    pub fn prune(&self) {
        self.management.prune();
        self.entries.prune();
        self.tinybird.prune();
    }

    pub fn of(&self, class: RouteClass) -> &Limiter {
        match class {
            RouteClass::Management => &self.management,
            RouteClass::Entries => &self.entries,
            RouteClass::Tinybird => &self.tinybird,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_refills_with_time_and_zero_is_off() {
        let clock = governor::clock::FakeRelativeClock::default();
        let l = Limiter::with_clock(2, clock.clone());
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        assert_eq!(l.check("a").unwrap_err(), 1, "one token comes back within the second");
        assert!(l.check("b").is_ok(), "another token has its own budget");
        clock.advance(std::time::Duration::from_millis(500));
        assert!(l.check("a").is_ok(), "2/s: one request is allowed again after half a second");
        assert!(l.check("a").is_err());
        let off = Limiter::new(0);
        for _ in 0..1000 {
            assert!(off.check("a").is_ok());
        }
    }
}
