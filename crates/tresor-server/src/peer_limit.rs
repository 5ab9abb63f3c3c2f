//! The per-peer limit of failed authentications.
//!
//! Counted are requests whose token (or application key) was refused, per client address — an
//! IPv6 client by its /64, the block one host usually holds, so that rotating addresses inside it
//! does not reset the budget. Past the rate, refused attempts are answered 429 with
//! `Retry-After` instead of 401.
//!
//! The limit applies to *failures*, after the credential was checked: a valid token is never
//! refused by it, so the clients of a NAT gateway, a proxy or a shared CI runner are not locked
//! out by one of them failing. Checking first costs little: a malformed token is refused without
//! I/O, a well-formed unknown one with one indexed read, and neither writes anything per request
//! (the service counts failures into one audit record per source and interval).
//!
//! The peer is the TCP connection's address: `X-Forwarded-For` is a header any client can set,
//! so it is not trusted. Behind a reverse proxy every client is the proxy's address, which then
//! shares one budget of failures (valid tokens still pass).

use crate::ratelimit::Limiter;
#[cfg(test)]
use crate::ratelimit::Rate;
use std::net::{IpAddr, Ipv6Addr};

/// Failed authentications per second per peer, by default: far above a misconfigured client's
/// retries, far below a flood.
pub const DEFAULT_AUTH_FAILURES_PER_SECOND: u32 = 10;

/// The key a peer is counted under: an IPv4 address as it is (also when it arrives mapped into
/// IPv6), an IPv6 address by its /64.
pub fn peer_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// How a peer's key is shown in logs and audit records: `192.0.2.1`, `2001:db8:1:2::/64`.
pub fn peer_label(key: IpAddr) -> String {
    match key {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{v6}/64"),
    }
}

/// Failed authentications per peer key (see [`peer_key`]): the same keyed limiter as the route
/// classes', counting failures instead of requests.
pub type PeerLimiter<C = governor::clock::DefaultClock> = Limiter<IpAddr, C>;

impl<C: governor::clock::Clock + Clone> PeerLimiter<C> {
    /// Counts one failure of `peer` (a [`peer_key`]): `Ok` while within the rate, else how many
    /// whole seconds to wait.
    pub fn failed(&self, peer: IpAddr) -> Result<(), u64> {
        self.check_key(&peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_peers_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(peer_key(a), peer_key(b));
        assert_eq!(peer_label(peer_key(a)), "2001:db8:1:2::/64");
        assert_ne!(peer_key(a), peer_key("2001:db8:1:3::1".parse().unwrap()));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(peer_label(peer_key(mapped)), "192.0.2.7");
    }

    #[test]
    fn failures_are_limited_per_peer_pruned_and_zero_is_off() {
        let clock = governor::clock::FakeRelativeClock::default();
        let l = PeerLimiter::with_clock(Rate::per_second(3), clock.clone());
        let a = peer_key("192.0.2.1".parse().unwrap());
        for _ in 0..3 {
            assert!(l.failed(a).is_ok());
        }
        assert!(l.failed(a).unwrap_err() >= 1);
        assert!(l.failed(peer_key("192.0.2.2".parse().unwrap())).is_ok(), "another peer has its own budget");
        assert_eq!(l.keys(), 2);
        clock.advance(std::time::Duration::from_millis(1500));
        l.prune();
        assert_eq!(l.keys(), 0, "peers whose budget is whole again are forgotten");
        let off = PeerLimiter::new(Rate::per_second(0));
        for _ in 0..1000 {
            assert!(off.failed(a).is_ok());
        }
    }
}
