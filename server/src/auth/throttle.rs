//! Rate limits on guessing: login attempts per account and per client address, and share
//! token lookups per client address. In one process: governor's keyed GCRA limiters. With
//! `--redis-url`, the counters live in Redis, so every server process behind a load
//! balancer draws on one budget (a fixed window per key, one full refill long).
//!
//! Basic-auth clients send their password on every request, so for them only failures
//! count: `fail` takes an attempt, and once none is left the key is `refused` (by this
//! process) until the limiter would take another.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Counters shared by every process that uses the same Redis and prefix.
#[derive(Clone)]
pub struct SharedCounters {
    redis: redis::aio::ConnectionManager,
    prefix: String,
}

/// Counts one attempt in the key's current window; returns the count and the window's
/// milliseconds left.
const COUNT_SCRIPT: &str = "local n = redis.call('INCR', KEYS[1]) \
    if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
    return {n, redis.call('PTTL', KEYS[1])}";

impl SharedCounters {
    /// Connects to `redis://…`; fails at start-up with the reason when it cannot.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("bad Redis URL: {e}"))?;
        let redis = tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
            .await
            .map_err(|_| "no answer from Redis within 10 s".to_string())?
            .map_err(|e| format!("cannot connect to Redis: {e}"))?;
        Ok(SharedCounters {
            redis,
            prefix: prefix.to_string(),
        })
    }
}

/// A keyed limiter whose refusal says how long to wait.
pub struct Throttle<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    shared: Option<(SharedCounters, &'static str)>,
    burst: u32,
    window: Duration,
    /// Keys whose failures used up their attempts, and until when they are refused.
    blocked: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone + Debug> Throttle<K> {
    /// `burst` attempts at once, then one more every `period`; counted in `shared` (under
    /// `name`) when given.
    pub fn new(
        name: &'static str,
        burst: u32,
        period: Duration,
        shared: Option<&SharedCounters>,
    ) -> Self {
        let burst = burst.max(1);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Throttle {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            shared: shared.map(|s| (s.clone(), name)),
            burst,
            window: period * burst,
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for `key`; `Err(seconds)` to wait when none is left. When Redis
    /// fails, this process's own count decides (and the failure is logged).
    pub async fn check(&self, key: &K) -> Result<(), u64> {
        if let Some((shared, name)) = &self.shared {
            match self.check_shared(shared, name, key).await {
                Ok(verdict) => return verdict,
                Err(e) => tracing::warn!(error = %e, "Redis rate limit failed; counting locally"),
            }
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + 1
        })
    }

    async fn check_shared(
        &self,
        shared: &SharedCounters,
        name: &str,
        key: &K,
    ) -> redis::RedisResult<Result<(), u64>> {
        let redis_key = format!("{}:rl:{name}:{key:?}", shared.prefix);
        let mut conn = shared.redis.clone();
        let (count, ttl_ms): (u64, i64) = redis::Script::new(COUNT_SCRIPT)
            .key(redis_key)
            .arg(self.window.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        if count <= u64::from(self.burst) {
            Ok(Ok(()))
        } else {
            Ok(Err(ttl_ms.max(0) as u64 / 1000 + 1))
        }
    }

    /// Counts a failed attempt; when it was one too many, `key` is refused until the
    /// limiter would take another.
    pub async fn fail(&self, key: &K) {
        if let Err(wait) = self.check(key).await {
            let until = Instant::now() + Duration::from_secs(wait);
            self.blocked_map().insert(key.clone(), until);
        }
    }

    /// `Err(seconds)` while failures keep `key` refused; takes no attempt.
    pub fn refused(&self, key: &K) -> Result<(), u64> {
        let now = Instant::now();
        match self.blocked_map().get(key) {
            Some(until) if *until > now => Err((*until - now).as_secs() + 1),
            _ => Ok(()),
        }
    }

    /// Forgets keys whose limits have fully refilled, so memory stays bounded.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        let now = Instant::now();
        self.blocked_map().retain(|_, until| *until > now);
    }

    fn blocked_map(&self) -> std::sync::MutexGuard<'_, HashMap<K, Instant>> {
        self.blocked.lock().unwrap_or_else(|p| p.into_inner())
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

    #[tokio::test]
    async fn refuses_after_the_burst_with_a_wait() {
        let t = Throttle::new("t", 3, Duration::from_secs(60), None);
        for _ in 0..3 {
            assert!(t.check(&"a").await.is_ok());
        }
        let wait = t.check(&"a").await.err();
        assert!(matches!(wait, Some(s) if (1..=61).contains(&s)), "{wait:?}");
        assert!(t.check(&"b").await.is_ok(), "keys are independent");
    }

    #[tokio::test]
    async fn only_failures_count_towards_refusal() {
        let t = Throttle::new("t", 2, Duration::from_secs(60), None);
        for _ in 0..100 {
            assert!(t.refused(&"a").is_ok(), "successes take no attempt");
        }
        t.fail(&"a").await;
        t.fail(&"a").await;
        assert!(t.refused(&"a").is_ok(), "the burst is not used up yet");
        t.fail(&"a").await;
        let wait = t.refused(&"a").err();
        assert!(matches!(wait, Some(s) if (1..=61).contains(&s)), "{wait:?}");
        assert!(t.refused(&"b").is_ok(), "keys are independent");
    }
}
