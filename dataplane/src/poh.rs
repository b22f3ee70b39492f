//! Proof of History, layer 1: the pure hash chain (no clock, no threads), and the hash-rate check a
//! node runs before it agrees to lead.
//!
//! [`Poh`] counts hashes within the current tick so that every entry it yields satisfies
//! [`next_hash`](crate::entry::next_hash) and every tick closes exactly `hashes_per_tick` hashes
//! ([`check_ticks`](crate::entry::check_ticks)). The thread that paces it to the wall clock lives in
//! [`poh_service`](crate::poh_service).

use std::time::{Duration, Instant};

use crate::entry::{hash_chain, hash_mixin};
use crate::types::Hash;

/// What [`Poh::record`] and [`Poh::tick`] yield: an entry's hash count and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PohEntry {
    /// Hashes since the previous entry, this entry's last hash included.
    pub num_hashes: u64,
    /// The chain's hash after this entry.
    pub hash: Hash,
}

/// The PoH hash chain: hashes, mixins and ticks, counted per tick.
#[derive(Debug, Clone)]
pub struct Poh {
    state: [u8; 32],
    /// Hashes since the last entry was yielded.
    num_hashes: u64,
    /// Hashes left in the current tick, the tick's own hash included (so never 0).
    remaining_hashes: u64,
    hashes_per_tick: u64,
}

impl Poh {
    /// A chain starting at `start`, at the beginning of a tick.
    ///
    /// # Panics
    /// If `hashes_per_tick` is 0 (genesis validation requires at least 2).
    pub fn new(start: Hash, hashes_per_tick: u64) -> Poh {
        assert!(hashes_per_tick >= 1, "hashes_per_tick must be at least 1");
        Poh {
            state: start.0,
            num_hashes: 0,
            remaining_hashes: hashes_per_tick,
            hashes_per_tick,
        }
    }

    /// Hashes up to `max` times, stopping before the tick's last hash; true when only the tick's
    /// hash remains (call [`Poh::tick`]).
    #[inline]
    pub fn hash(&mut self, max: u64) -> bool {
        let n = max.min(self.remaining_hashes - 1);
        hash_chain(&mut self.state, n);
        self.num_hashes += n;
        self.remaining_hashes -= n;
        self.remaining_hashes == 1
    }

    /// Mixes `mixin` into the chain as one hash and yields the entry, if the tick still has room for
    /// it and for the tick's own hash; `None` means tick first.
    pub fn record(&mut self, mixin: Hash) -> Option<PohEntry> {
        if self.remaining_hashes <= 1 {
            return None;
        }
        hash_mixin(&mut self.state, &mixin);
        self.remaining_hashes -= 1;
        Some(self.take_entry())
    }

    /// Hashes the tick's last hash and yields the tick, if it is due; `None` otherwise.
    pub fn tick(&mut self) -> Option<PohEntry> {
        if self.remaining_hashes != 1 {
            return None;
        }
        hash_chain(&mut self.state, 1);
        self.remaining_hashes = self.hashes_per_tick;
        Some(self.take_entry())
    }

    fn take_entry(&mut self) -> PohEntry {
        let entry = PohEntry {
            num_hashes: self.num_hashes + 1,
            hash: Hash(self.state),
        };
        self.num_hashes = 0;
        entry
    }

    /// The chain's current hash.
    pub fn current_hash(&self) -> Hash {
        Hash(self.state)
    }

    /// Hashes left in the current tick, the tick's own hash included.
    pub fn remaining_hashes(&self) -> u64 {
        self.remaining_hashes
    }

    /// Hashes done in the current tick so far.
    pub fn tick_hashes_done(&self) -> u64 {
        self.hashes_per_tick - self.remaining_hashes
    }

    /// Hashes per tick.
    pub fn hashes_per_tick(&self) -> u64 {
        self.hashes_per_tick
    }
}

/// Hashes per second of a bare sequential SHA-256 chain on this thread, measured for `duration`.
pub fn measure_hash_rate(duration: Duration) -> u64 {
    // Batches long enough that reading the clock costs nothing measurable.
    const BATCH_HASHES: u64 = 16_384;
    let mut state = [0u8; 32];
    let mut hashes: u64 = 0;
    let start = Instant::now();
    let elapsed = loop {
        hash_chain(&mut state, BATCH_HASHES);
        hashes += BATCH_HASHES;
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break elapsed;
        }
    };
    std::hint::black_box(state);
    let rate = u128::from(hashes) * 1_000_000_000 / elapsed.as_nanos().max(1);
    u64::try_from(rate).unwrap_or(u64::MAX)
}

/// This machine hashes too slowly to lead safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "PoH measured {measured_hps} hashes/s, below 2 × the {required_hps} hashes/s the genesis \
     requires; this node will not lead"
)]
pub struct PohCapacityError {
    /// Measured rate.
    pub measured_hps: u64,
    /// Rate the genesis requires (`Genesis::required_hashes_per_second`).
    pub required_hps: u64,
}

/// Refuses to lead unless the measured rate is at least twice the required one (the headroom lets
/// a leader catch up after hashing skipped slots' ticks).
pub fn check_leader_capacity(measured_hps: u64, required_hps: u64) -> Result<(), PohCapacityError> {
    if u128::from(measured_hps) < 2 * u128::from(required_hps) {
        return Err(PohCapacityError {
            measured_hps,
            required_hps,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::txn_pool;
    use crate::entry::{check_ticks, hash_signatures, next_hash, verify_entries, Entry};
    use crate::txn::Txn;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Hash(u64),
        Record(Vec<usize>),
        Tick,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..40).prop_map(Op::Hash),
            proptest::collection::vec(0usize..32, 1..4).prop_map(Op::Record),
            Just(Op::Tick),
        ]
    }

    #[test]
    fn hash_stops_before_the_tick_hash() {
        let mut poh = Poh::new(Hash::default(), 10);
        assert!(!poh.hash(5));
        assert_eq!(poh.tick(), None, "tick not due after 5 of 10 hashes");
        assert!(poh.hash(100));
        assert_eq!(poh.tick_hashes_done(), 9);
        assert_eq!(poh.record(Hash([1; 32])), None, "no room for a mixin");
        let tick = poh.tick().unwrap();
        assert_eq!(tick.num_hashes, 10);
        assert_eq!(tick.hash, next_hash(&Hash::default(), 10, &[]));
        assert_eq!(poh.remaining_hashes(), 10);
    }

    #[test]
    fn capacity_check_wants_twice_the_rate() {
        assert!(check_leader_capacity(20, 10).is_ok());
        let err = check_leader_capacity(19, 10).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("19") && msg.contains("10"), "{msg}");
        assert!(check_leader_capacity(u64::MAX, u64::MAX).is_err());
        assert!(measure_hash_rate(Duration::from_millis(5)) > 0);
    }

    proptest! {
        /// Any interleaving of hash/record/tick yields entries that verify and obey the tick rules.
        #[test]
        fn entries_verify_and_tick_correctly(
            hashes_per_tick in 1u64..30,
            ops in proptest::collection::vec(op(), 0..80),
            start in any::<[u8; 32]>(),
        ) {
            let start = Hash(start);
            let mut poh = Poh::new(start, hashes_per_tick);
            let mut entries = Vec::new();
            let mut push = |e: PohEntry, transactions: Vec<Txn>| entries.push(Entry {
                num_hashes: e.num_hashes,
                hash: e.hash,
                transactions,
            });
            for op in ops {
                match op {
                    Op::Hash(n) => {
                        let due = poh.hash(n);
                        prop_assert_eq!(due, poh.remaining_hashes() == 1);
                    }
                    Op::Record(idx) => {
                        let txs: Vec<Txn> = idx.iter().map(|&i| txn_pool()[i].clone()).collect();
                        let room = poh.remaining_hashes() > 1;
                        match poh.record(hash_signatures(&txs)) {
                            Some(e) => push(e, txs),
                            None => prop_assert!(!room),
                        }
                    }
                    Op::Tick => {
                        let due = poh.remaining_hashes() == 1;
                        match poh.tick() {
                            Some(e) => push(e, Vec::new()),
                            None => prop_assert!(!due),
                        }
                    }
                }
            }
            // Close the current tick so the slot ends on one.
            prop_assert!(poh.hash(u64::MAX));
            let last = poh.tick().unwrap();
            push(last, Vec::new());
            let ticks = entries.iter().filter(|e| e.is_tick()).count() as u64;
            prop_assert_eq!(check_ticks(&entries, ticks, hashes_per_tick), Ok(()));
            prop_assert_eq!(verify_entries(&start, &entries, 2), Ok(()));
            prop_assert_eq!(entries.last().map(|e| e.hash), Some(poh.current_hash()));
        }
    }
}
