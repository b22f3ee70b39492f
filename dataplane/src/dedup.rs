//! Drops repeated packets before the costly signature check.
//!
//! A fixed table of `2^k` 64-bit fingerprints, direct-mapped: a packet's keyed hash picks its slot and
//! is stored there; the packet is a duplicate when its slot already holds that same hash. The hash
//! covers the **whole packet**, not just the first signature, so a forged packet that copies a real
//! transaction's signature cannot get the real one dropped; it is keyed with a per-process random
//! seed ([`ahash::RandomState`]), so senders cannot aim collisions at a slot.
//!
//! Properties:
//! - Memory is fixed at construction (8 bytes per slot; 8 MiB at the default 2^20 slots).
//! - A false positive (a new packet taken for a duplicate) needs an equal 64-bit keyed hash: about
//!   2^-64 per lookup however full the table is, unlike a Bloom filter whose false-positive rate
//!   grows with its load. Dropping a valid transaction is the costly error, so that is the one kept
//!   negligible.
//! - False negatives (a repeat let through) happen when another packet evicted the first from its
//!   slot; the later status cache still rejects replays, so they only cost a signature check.
//! - The table is cleared every `max_age` (default 2 s, like Agave's `Deduper`), so that a client's
//!   retry of a transaction that was dropped after dedup (a full queue downstream) gets through.
//!
//! The table is shared by all sigverify workers through relaxed atomics: one `swap` per packet, no
//! lock, no routing of packets to workers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Default table size as a power of two: 2^20 slots, 8 MiB.
pub const DEDUP_SLOTS_LOG2_DEFAULT: u32 = 20;
/// Smallest and largest table sizes accepted, as powers of two.
pub const DEDUP_SLOTS_LOG2_RANGE: std::ops::RangeInclusive<u32> = 4..=28;
/// Default time between clearings of the table.
pub const DEDUP_MAX_AGE_DEFAULT: Duration = Duration::from_secs(2);

/// A bounded, lock-free filter of recently seen packets.
#[derive(Debug)]
pub struct Deduper {
    slots: Box<[AtomicU64]>,
    slots_log2: u32,
    hasher: ahash::RandomState,
    max_age: Duration,
    created: Instant,
    /// Milliseconds after `created` of the last clearing.
    last_reset_ms: AtomicU64,
}

impl Default for Deduper {
    fn default() -> Self {
        Deduper::new(DEDUP_SLOTS_LOG2_DEFAULT, DEDUP_MAX_AGE_DEFAULT)
    }
}

impl Deduper {
    /// A filter of `2^slots_log2` slots (clamped to [`DEDUP_SLOTS_LOG2_RANGE`]) keyed with a fresh
    /// random seed, cleared every `max_age`.
    pub fn new(slots_log2: u32, max_age: Duration) -> Deduper {
        Deduper::with_hasher(slots_log2, max_age, ahash::RandomState::new())
    }

    /// As [`new`](Self::new) with a given hasher (tests use fixed seeds to be reproducible).
    pub fn with_hasher(slots_log2: u32, max_age: Duration, hasher: ahash::RandomState) -> Deduper {
        let slots_log2 = slots_log2.clamp(
            *DEDUP_SLOTS_LOG2_RANGE.start(),
            *DEDUP_SLOTS_LOG2_RANGE.end(),
        );
        Deduper {
            slots: (0..1usize << slots_log2)
                .map(|_| AtomicU64::new(0))
                .collect(),
            slots_log2,
            hasher,
            max_age,
            created: Instant::now(),
            last_reset_ms: AtomicU64::new(0),
        }
    }

    /// Number of slots (fingerprints the table can hold).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Bytes of the table, fixed for the filter's life.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }

    /// The slot index and non-zero fingerprint of `packet` (zero marks an empty slot).
    fn slot_of(&self, packet: &[u8]) -> (usize, u64) {
        let hash = self.hasher.hash_one(packet);
        // Top bits pick the slot; the whole hash is the fingerprint.
        let index = (hash >> (64 - self.slots_log2)) as usize;
        (index, hash.max(1))
    }

    /// Records `packet` and says whether it was seen since it was last evicted or the table cleared.
    pub fn is_duplicate(&self, packet: &[u8]) -> bool {
        let (index, fingerprint) = self.slot_of(packet);
        // `swap` makes concurrent arrivals of one packet agree: exactly one of them sees the old value.
        self.slots[index].swap(fingerprint, Ordering::Relaxed) == fingerprint
    }

    /// Clears the table if `max_age` has passed since the last clearing; `true` if this call cleared
    /// it. Cheap when nothing is due; safe to call from every worker (one of them wins).
    pub fn maybe_reset(&self, now: Instant) -> bool {
        let now_ms = now.saturating_duration_since(self.created).as_millis() as u64;
        let last_ms = self.last_reset_ms.load(Ordering::Relaxed);
        let max_age_ms = self.max_age.as_millis() as u64;
        if now_ms.saturating_sub(last_ms) < max_age_ms {
            return false;
        }
        if self
            .last_reset_ms
            .compare_exchange(last_ms, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.reset();
        true
    }

    /// Forgets every packet. Concurrent lookups during a reset may let a repeat through, never drop
    /// a new packet.
    pub fn reset(&self) {
        for slot in self.slots.iter() {
            slot.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn packet(i: u32) -> Vec<u8> {
        let mut p = vec![0xA5u8; 200];
        p[100..104].copy_from_slice(&i.to_le_bytes());
        p
    }

    fn seeded(slots_log2: u32) -> Deduper {
        Deduper::with_hasher(
            slots_log2,
            Duration::from_secs(3600),
            ahash::RandomState::with_seeds(1, 2, 3, 4),
        )
    }

    #[test]
    fn duplicate_dropped_distinct_kept() {
        let d = Deduper::default();
        assert!(!d.is_duplicate(&packet(1)));
        assert!(d.is_duplicate(&packet(1)));
        assert!(d.is_duplicate(&packet(1)));
        assert!(!d.is_duplicate(&packet(2)));
        // Same signature bytes, different message: the whole packet is the key.
        let mut forged = packet(1);
        forged[199] ^= 1;
        assert!(!d.is_duplicate(&forged));
        assert!(d.is_duplicate(&packet(1)));
        // A prefix is a different packet.
        assert!(!d.is_duplicate(&packet(1)[..199]));
    }

    #[test]
    fn no_false_positives_even_when_overfull() {
        // 64 times more distinct packets than slots: a Bloom filter this size would be saturated.
        let d = seeded(10);
        for i in 0..(64 << 10) {
            assert!(
                !d.is_duplicate(&packet(i)),
                "packet {i} taken for a duplicate"
            );
        }
    }

    #[test]
    fn memory_is_fixed_and_old_packets_are_evicted() {
        let d = seeded(6);
        let bytes = d.memory_bytes();
        assert_eq!(bytes, 64 * 8);
        assert!(!d.is_duplicate(&packet(0)));
        for i in 1..10_000 {
            d.is_duplicate(&packet(i));
        }
        assert_eq!(d.memory_bytes(), bytes);
        assert_eq!(d.capacity(), 64);
        // The newest packet is remembered; the first has been pushed out of its slot by then.
        assert!(d.is_duplicate(&packet(9_999)));
        let (first_slot, _) = d.slot_of(&packet(0));
        let overwritten = (1..10_000).any(|i| d.slot_of(&packet(i)).0 == first_slot);
        assert_eq!(d.is_duplicate(&packet(0)), !overwritten);
    }

    #[test]
    fn reset_forgets_and_ages() {
        let d = Deduper::new(12, Duration::from_millis(500));
        assert!(!d.is_duplicate(&packet(5)));
        assert!(d.is_duplicate(&packet(5)));
        d.reset();
        assert!(!d.is_duplicate(&packet(5)));

        let start = d.created;
        assert!(!d.maybe_reset(start + Duration::from_millis(499)));
        assert!(d.is_duplicate(&packet(5)), "cleared before max_age");
        assert!(d.maybe_reset(start + Duration::from_millis(500)));
        assert!(!d.is_duplicate(&packet(5)), "not cleared at max_age");
        // The next clearing is due max_age after this one, not after creation.
        assert!(!d.maybe_reset(start + Duration::from_millis(900)));
        assert!(d.maybe_reset(start + Duration::from_millis(1000)));
    }

    #[test]
    fn concurrent_workers_pass_each_packet_once() {
        let d = seeded(16);
        // Packets with distinct slots, so no eviction can let a repeat through.
        let mut used = HashSet::new();
        let packets: Vec<Vec<u8>> = (0..)
            .map(packet)
            .filter(|p| used.insert(d.slot_of(p).0))
            .take(2000)
            .collect();
        let passed: usize = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| packets.iter().filter(|p| !d.is_duplicate(p)).count()))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!(passed, packets.len());
    }

    #[test]
    fn table_size_is_clamped() {
        assert_eq!(seeded(0).capacity(), 16);
        assert_eq!(seeded(20).capacity(), 1 << 20);
    }
}
