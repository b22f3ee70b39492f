//! Keyed token buckets: one bucket per key (a requester's identity, a source address), bounded in
//! how many keys it tracks. Pure: the caller passes the time, in ms on any monotonic clock.
//!
//! Each bucket holds at most `burst` tokens and refills at `per_s` tokens a second. Tokens are
//! counted in thousandths so that refills stay integral (`per_s` thousandths per ms).
//!
//! When [`TokenBucketConfig::keys_max`] keys are tracked and a new one arrives, every bucket that
//! has refilled completely is forgotten first (forgetting it changes nothing: a new bucket starts
//! full). If none has, the newcomer is judged on a fresh, full bucket that is not stored, rather than
//! evicting a bucket that is mid-burst: evicting one would hand its owner a full bucket, so a
//! sender with many keys could refill everyone's. The sweep runs only once a bucket can have
//! refilled, so a table full of busy keys costs a newcomer O(1), not a scan.

use std::collections::HashMap;
use std::hash::Hash;

/// Settings of a [`KeyedTokenBuckets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucketConfig {
    /// Tokens each bucket gains per second.
    pub per_s: u64,
    /// Most tokens a bucket holds: what a key may spend at once after being idle.
    pub burst: u64,
    /// Most keys tracked at once.
    pub keys_max: usize,
}

/// One key's bucket and whatever else the user keeps per key.
#[derive(Debug, Clone)]
struct Entry<S> {
    milli_tokens: u64,
    last_ms: u64,
    state: S,
}

/// Token buckets per key `K`, each with extra per-key state `S` kept and forgotten with it.
#[derive(Debug, Clone)]
pub struct KeyedTokenBuckets<K, S = ()> {
    config: TokenBucketConfig,
    entries: HashMap<K, Entry<S>>,
    /// No tracked bucket is full again before this time, so a sweep before it would free nothing.
    /// A lower bound: it is lowered whenever a bucket is spent from.
    sweep_after_ms: u64,
}

impl<K: Eq + Hash + Copy, S: Default> KeyedTokenBuckets<K, S> {
    /// No key tracked yet.
    pub fn new(config: TokenBucketConfig) -> Self {
        KeyedTokenBuckets {
            config,
            entries: HashMap::new(),
            sweep_after_ms: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> TokenBucketConfig {
        self.config
    }

    /// Keys currently tracked.
    pub fn tracked(&self) -> usize {
        self.entries.len()
    }

    /// The per-key state of `key`, if it is tracked.
    pub fn state(&self, key: &K) -> Option<&S> {
        self.entries.get(key).map(|e| &e.state)
    }

    /// Takes `n` tokens from `key`'s bucket at `now_ms`; false (and nothing taken) if it holds fewer.
    pub fn admit(&mut self, key: K, n: u64, now_ms: u64) -> bool {
        self.admit_with(key, n, now_ms, |_| {})
    }

    /// As [`admit`](Self::admit), and on success also runs `on_admit` on the key's state (on a
    /// throwaway state when the key is judged on an unstored bucket, the table being full).
    pub fn admit_with(
        &mut self,
        key: K,
        n: u64,
        now_ms: u64,
        on_admit: impl FnOnce(&mut S),
    ) -> bool {
        let capacity = self.capacity();
        let want = n.saturating_mul(1000);
        if !self.entries.contains_key(&key) && !self.make_room(now_ms) {
            if want <= capacity {
                on_admit(&mut S::default());
                return true;
            }
            return false;
        }
        let per_s = self.config.per_s;
        let entry = self.entries.entry(key).or_insert_with(|| Entry {
            milli_tokens: capacity,
            last_ms: now_ms,
            state: S::default(),
        });
        // `per_s` tokens per 1000 ms is `per_s` thousandths of a token per ms.
        let elapsed_ms = now_ms.saturating_sub(entry.last_ms);
        entry.milli_tokens = entry
            .milli_tokens
            .saturating_add(elapsed_ms.saturating_mul(per_s))
            .min(capacity);
        entry.last_ms = entry.last_ms.max(now_ms);
        let admitted = entry.milli_tokens >= want;
        if admitted {
            entry.milli_tokens -= want;
            on_admit(&mut entry.state);
        }
        // Keeps `sweep_after_ms` a lower bound of when some bucket is full again.
        let full_at = full_at_ms(entry, capacity, per_s);
        self.sweep_after_ms = self.sweep_after_ms.min(full_at);
        admitted
    }

    fn capacity(&self) -> u64 {
        self.config.burst.saturating_mul(1000)
    }

    /// Whether a new key can be stored: forgets every refilled bucket if the table is full and a
    /// sweep can free anything.
    fn make_room(&mut self, now_ms: u64) -> bool {
        if self.entries.len() < self.config.keys_max {
            return true;
        }
        if now_ms < self.sweep_after_ms {
            return false;
        }
        let capacity = self.capacity();
        let per_s = self.config.per_s;
        let mut next = u64::MAX;
        self.entries.retain(|_, e| {
            let full_at = full_at_ms(e, capacity, per_s);
            let keep = full_at > now_ms;
            if keep {
                next = next.min(full_at);
            }
            keep
        });
        self.sweep_after_ms = next;
        self.entries.len() < self.config.keys_max
    }
}

/// When `e`'s bucket is full again if nothing more is spent (`u64::MAX` if it never refills).
fn full_at_ms<S>(e: &Entry<S>, capacity: u64, per_s: u64) -> u64 {
    let missing = capacity.saturating_sub(e.milli_tokens);
    if missing == 0 {
        return e.last_ms;
    }
    if per_s == 0 {
        return u64::MAX;
    }
    e.last_ms.saturating_add(missing.div_ceil(per_s))
}

#[cfg(test)]
mod tests;
