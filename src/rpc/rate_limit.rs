//! Per-IP token buckets for `sendTransaction`: a client that sends faster than its bucket refills
//! gets HTTP 429 with `Retry-After` (what stock clients back off on) and is counted, so one address
//! cannot fill the banking queue through RPC.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use dataplane::rate_limit::{KeyedTokenBuckets, TokenBucketConfig};

/// Addresses with a bucket at most; when full, buckets that have refilled are dropped first.
pub const TRACKED_IPS_MAX: usize = 65_536;

/// Per-address token buckets (the data plane's [`KeyedTokenBuckets`], timed from the limiter's
/// creation).
#[derive(Debug)]
pub struct RateLimiter {
    epoch: Instant,
    buckets: Mutex<KeyedTokenBuckets<IpAddr>>,
}

impl RateLimiter {
    /// Buckets refilling at `per_sec` tokens a second up to `burst`.
    pub fn new(per_sec: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            epoch: Instant::now(),
            buckets: Mutex::new(KeyedTokenBuckets::new(TokenBucketConfig {
                per_s: u64::from(per_sec),
                burst: u64::from(burst.max(1)),
                keys_max: TRACKED_IPS_MAX,
            })),
        }
    }

    /// Takes `n` tokens from `ip`'s bucket at `now`; false (and nothing taken) if it holds fewer.
    /// A table full of addresses all mid-burst judges a new one on a fresh bucket, not stored.
    pub fn admit(&self, ip: IpAddr, n: u32, now: Instant) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        let now_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        buckets.admit(ip, u64::from(n), now_ms)
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.buckets.lock().map(|b| b.tracked()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate_per_address() {
        let limiter = RateLimiter::new(10, 20);
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!((0..20).all(|_| limiter.admit(a, 1, t0)));
        assert!(!limiter.admit(a, 1, t0));
        // Another address has its own bucket.
        assert!(limiter.admit(b, 20, t0));
        // A batch larger than what is left takes nothing.
        let t1 = t0 + Duration::from_millis(500);
        assert!(!limiter.admit(a, 6, t1));
        assert!(limiter.admit(a, 5, t1));
        assert!(!limiter.admit(a, 1, t1));
        // Refills stop at the burst.
        let t2 = t1 + Duration::from_secs(60);
        assert!(limiter.admit(a, 20, t2));
        assert!(!limiter.admit(a, 1, t2));
    }

    #[test]
    fn the_table_stays_bounded_and_drops_refilled_buckets_first() {
        let limiter = RateLimiter::new(1, 2);
        let t0 = Instant::now();
        for i in 0..TRACKED_IPS_MAX as u32 {
            assert!(limiter.admit(IpAddr::from(i.to_be_bytes()), 1, t0));
        }
        let newcomer: IpAddr = "255.255.255.255".parse().unwrap();
        // Everyone is mid-burst: the newcomer is judged on a fresh bucket, not stored.
        assert!(limiter.admit(newcomer, 2, t0));
        assert_eq!(limiter.tracked(), TRACKED_IPS_MAX);
        // Later, the refilled buckets make room.
        let later = t0 + Duration::from_secs(5);
        assert!(limiter.admit(newcomer, 2, later));
        assert!(!limiter.admit(newcomer, 1, later));
        assert_eq!(limiter.tracked(), 1);
    }
}
