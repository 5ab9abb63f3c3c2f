//! Per-token rate limits, one limiter per route class. A rate of 0 turns a class's limit off.
//! A rate is counted per second, minute or hour ([`Rate`]).

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

/// Requests per token for each class, and failed authentications per peer; a count of 0 means
/// unlimited.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub management: Rate,
    pub entries: Rate,
    pub tinybird: Rate,
    /// See [`crate::peer_limit`].
    pub auth_failures: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            management: Rate::per_second(5),
            entries: Rate::per_second(0),
            tinybird: Rate::per_second(5),
            auth_failures: Rate::per_second(crate::peer_limit::DEFAULT_AUTH_FAILURES_PER_SECOND),
        }
    }
}

/// What start-up logs: "management 20/s, entry off, Tinybird-compatible /v0 5/s per token;
/// failed authentications 10/s per client address".
impl std::fmt::Display for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |rate: Rate| if rate.count == 0 { "off".to_owned() } else { rate.to_string() };
        write!(
            f,
            "{} {}, {} {}, {} {} per token; failed authentications {} per client address",
            RouteClass::Management.name(),
            show(self.management),
            RouteClass::Entries.name(),
            show(self.entries),
            RouteClass::Tinybird.name(),
            show(self.tinybird),
            show(self.auth_failures)
        )
    }
}

/// The window a [`Rate`] is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Second,
    Minute,
    Hour,
}

impl Per {
    /// How it is written after the slash: `s`, `min`, `h`.
    pub fn unit(self) -> &'static str {
        match self {
            Per::Second => "s",
            Per::Minute => "min",
            Per::Hour => "h",
        }
    }
}

/// A rate limit: `count` requests per second, minute or hour, with a burst of as many (the whole
/// budget may be spent at once; it comes back one request every window/`count`). A count of 0
/// turns the limit off. Written `20` (per second), `20/s`, `600/min` or `100/h`: a longer window
/// allows the same average with larger bursts, and a limit whose budget cannot come back while a
/// test runs makes that test independent of the machine's speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Per,
}

impl Rate {
    pub const fn per_second(count: u32) -> Self {
        Self { count, per: Per::Second }
    }

    fn quota(self) -> Option<Quota> {
        let n = NonZeroU32::new(self.count)?;
        Some(match self.per {
            Per::Second => Quota::per_second(n),
            Per::Minute => Quota::per_minute(n),
            Per::Hour => Quota::per_hour(n),
        })
    }
}

/// `20/s`, `600/min`, `100/h`: also how messages name a limit ("20 requests/s").
impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.count, self.per.unit())
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (count, unit) = text.trim().split_once('/').unwrap_or((text.trim(), "s"));
        let per = match unit.trim() {
            "s" | "sec" | "second" => Per::Second,
            "min" | "minute" => Per::Minute,
            "h" | "hour" => Per::Hour,
            other => return Err(format!("unknown window {other:?} in rate {text:?}: write N, N/s, N/min or N/h")),
        };
        let count = count.trim().parse().map_err(|_| {
            format!("a rate is a whole number of requests, like 20, 20/s, 600/min or 100/h (found {text:?})")
        })?;
        Ok(Self { count, per })
    }
}

/// Whole seconds until a refused key may try again (what `Retry-After` says), rounded up.
fn retry_after_secs<C: Clock>(not_until: &NotUntil<C::Instant>, clock: &C) -> u64 {
    let wait = not_until.wait_time_from(clock.now());
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// A keyed limiter: a [`Rate`] per key, with a burst of as many; a count of 0 turns it off. Keyed by
/// token for the route classes, by peer address for failed authentications (`peer_limit.rs`).
/// The clock is the system's; tests give it one they move by hand (`FakeRelativeClock`), so no
/// test depends on how fast the machine runs.
pub struct Limiter<K: Hash + Eq + Clone = String, C: Clock = DefaultClock> {
    rate: Rate,
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
    pub fn new(rate: Rate) -> Self {
        Self::with_clock(rate, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> Limiter<K, C> {
    pub fn with_clock(rate: Rate, clock: C) -> Self {
        let inner = rate.quota().map(|quota| RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone()));
        Self { rate, clock, inner }
    }

    pub fn rate(&self) -> Rate {
        self.rate
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
        let l = Limiter::with_clock(Rate::per_second(2), clock.clone());
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        assert_eq!(l.check("a").unwrap_err(), 1, "one token comes back within the second");
        assert!(l.check("b").is_ok(), "another token has its own budget");
        clock.advance(std::time::Duration::from_millis(500));
        assert!(l.check("a").is_ok(), "2/s: one request is allowed again after half a second");
        assert!(l.check("a").is_err());
        let off = Limiter::new(Rate::per_second(0));
        for _ in 0..1000 {
            assert!(off.check("a").is_ok());
        }
    }

    #[test]
    fn a_rate_per_minute_or_hour_refills_over_its_window() {
        let clock = governor::clock::FakeRelativeClock::default();
        let l = Limiter::with_clock("3/h".parse().unwrap(), clock.clone());
        for _ in 0..3 {
            assert!(l.check("a").is_ok());
        }
        assert_eq!(l.check("a").unwrap_err(), 1200, "one request comes back every 20 minutes");
        clock.advance(std::time::Duration::from_secs(1199));
        assert!(l.check("a").is_err());
        clock.advance(std::time::Duration::from_secs(1));
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_err());
        let per_minute = Limiter::with_clock("2/min".parse().unwrap(), clock.clone());
        assert!(per_minute.check("a").is_ok() && per_minute.check("a").is_ok());
        assert_eq!(per_minute.check("a").unwrap_err(), 30);
    }

    #[test]
    fn rates_are_written_with_an_optional_window() {
        let parse = |s: &str| s.parse::<Rate>();
        assert_eq!(parse("20"), Ok(Rate::per_second(20)));
        assert_eq!(parse("20/s"), Ok(Rate::per_second(20)));
        assert_eq!(parse("600/min"), Ok(Rate { count: 600, per: Per::Minute }));
        assert_eq!(parse(" 100/h "), Ok(Rate { count: 100, per: Per::Hour }));
        assert_eq!(parse("0"), Ok(Rate::per_second(0)));
        for bad in ["", "x", "-1", "5/day", "5/", "/s", "1.5/s"] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        for text in ["20/s", "600/min", "100/h"] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
    }
}
