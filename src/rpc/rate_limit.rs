//! Per-IP token buckets for `sendTransaction`: a client that sends faster than its bucket refills
//! gets HTTP 429 with `Retry-After` (what stock clients back off on) and is counted, so one address
//! cannot fill the banking queue through RPC.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Addresses with a bucket at most; when full, buckets that have refilled are dropped first.
pub const TRACKED_IPS_MAX: usize = 65_536;

/// Per-address token buckets.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// Buckets refilling at `per_sec` tokens a second up to `burst`.
    pub fn new(per_sec: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_sec: f64::from(per_sec),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` tokens from `ip`'s bucket at `now`; false (and nothing taken) if it holds fewer.
    pub fn admit(&self, ip: IpAddr, n: u32, now: Instant) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() >= TRACKED_IPS_MAX && !buckets.contains_key(&ip) {
            // A full bucket says nothing a new one would not: those go first.
            buckets.retain(|_, b| self.refilled(*b, now) < self.burst);
            if buckets.len() >= TRACKED_IPS_MAX {
                // Every tracked address is sending now; an untracked one starts full.
                return f64::from(n) <= self.burst;
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = self.refilled(*bucket, now);
        let want = f64::from(n);
        *bucket = Bucket {
            tokens: if tokens >= want {
                tokens - want
            } else {
                tokens
            },
            at: now,
        };
        tokens >= want
    }

    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        let secs = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + secs * self.per_sec).min(self.burst)
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
        assert_eq!(limiter.buckets.lock().unwrap().len(), TRACKED_IPS_MAX);
        // Later, the refilled buckets make room.
        let later = t0 + Duration::from_secs(5);
        assert!(limiter.admit(newcomer, 2, later));
        assert!(!limiter.admit(newcomer, 1, later));
        assert_eq!(limiter.buckets.lock().unwrap().len(), 1);
    }
}
