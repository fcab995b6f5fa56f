//! Rate limits on guessing: login attempts per account and per client address, and share
//! token lookups per client address (governor's keyed GCRA limiters).

use std::hash::Hash;
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

#[cfg(test)]
mod tests {
    use super::*;

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
