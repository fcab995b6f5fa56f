//! Rate limits on guessing: login attempts per account and per client address, and share
//! token lookups per client address (governor's keyed GCRA limiters).

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// A keyed limiter whose refusal says how long to wait.
pub struct Throttle<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// `burst` attempts at once, then one more every `period`.
    pub fn new(burst: u32, period: Duration) -> Self {
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Throttle {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
        }
    }

    /// Takes one attempt for `key`; `Err(seconds)` to wait when none is left.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + 1
        })
    }

    /// Forgets keys whose limits have fully refilled, so memory stays bounded.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
    }
}

/// The address a limit is kept for: an IPv4 address as is, an IPv6 one as its /64, since
/// one subscriber usually holds a whole /64 and could otherwise step through 2^64
/// addresses. An IPv4-mapped IPv6 address counts as its IPv4 address.
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_limited_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        let b: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        let c: IpAddr = "2001:db8:1:3::1"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        assert_eq!(rate_key(a), rate_key(b));
        assert_ne!(rate_key(a), rate_key(c));
        let v4: IpAddr = "192.0.2.7".parse().unwrap_or(IpAddr::V4([0; 4].into()));
        let mapped: IpAddr = "::ffff:192.0.2.7"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        assert_eq!(rate_key(v4), v4);
        assert_eq!(rate_key(mapped), v4);
    }

    #[test]
    fn refuses_after_the_burst_with_a_wait() {
        let t = Throttle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.check(&"a").is_ok());
        }
        let wait = t.check(&"a").err();
        assert!(matches!(wait, Some(s) if (1..=61).contains(&s)), "{wait:?}");
        assert!(t.check(&"b").is_ok(), "keys are independent");
    }
}
