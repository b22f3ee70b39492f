//! Proof of History, layer 1: the pure hash chain (no clock, no threads), the hash-rate check a
//! node runs before it agrees to lead, and the messages to and from the PoH thread ([`PohHandle`]).
//!
//! [`Poh`] counts hashes within the current tick so that every entry it yields satisfies
//! [`next_hash`](crate::entry::next_hash) and every tick closes exactly `hashes_per_tick` hashes
//! ([`check_ticks`](crate::entry::check_ticks)). The thread that paces it to the wall clock lives
//! in [`poh_service`](crate::poh_service).

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::block::{ENTRIES_PER_BLOCK_MAX, TXNS_PER_ENTRY_MAX};
use crate::entry::{hash_chain, hash_mixin, hash_signatures, Entry};
use crate::genesis::Genesis;
use crate::txn::Txn;
use crate::types::{Hash, Slot};

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

    /// Mixes `mixin` into the chain as one hash and yields the entry, if the tick still has room
    /// for it and for the tick's own hash; `None` means tick first.
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

/// Most ticks (skipped slots' included) one block may hold; the other half of
/// [`ENTRIES_PER_BLOCK_MAX`] is left for records.
pub const SLOT_TICKS_MAX: u64 = (ENTRIES_PER_BLOCK_MAX / 2) as u64;
/// Default capacity of the PoH thread's event channel.
pub const EVENT_CAPACITY_DEFAULT: usize = 4096;

/// How the PoH thread runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PohConfig {
    /// Hashes per tick (genesis).
    pub hashes_per_tick: u64,
    /// Ticks per slot (genesis).
    pub ticks_per_slot: u64,
    /// Wall-clock length of one tick.
    pub tick_duration_ns: u64,
    /// Core to pin the thread to; `None` leaves it to the scheduler (small machines).
    pub pin_core: Option<usize>,
    /// Capacity of the event channel; PoH waits when the consumer falls this far behind.
    pub event_capacity: usize,
}

impl PohConfig {
    /// The timing rules of `genesis`, pinned to `pin_core`.
    pub fn from_genesis(genesis: &Genesis, pin_core: Option<usize>) -> PohConfig {
        PohConfig {
            hashes_per_tick: genesis.hashes_per_tick,
            ticks_per_slot: genesis.ticks_per_slot,
            tick_duration_ns: genesis.tick_duration_ns(),
            pin_core,
            event_capacity: EVENT_CAPACITY_DEFAULT,
        }
    }
}

/// Instructions to the PoH thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PohCommand {
    /// Produce slot `slot` on `parent_slot`: `(slot - parent_slot) × ticks_per_slot` ticks from
    /// `parent_blockhash`; the slot's own ticks are due from `slot_start`. A slot in progress is
    /// abandoned.
    StartSlot {
        /// The slot to produce.
        slot: Slot,
        /// The slot it builds on.
        parent_slot: Slot,
        /// The parent's blockhash: where the chain starts.
        parent_blockhash: Hash,
        /// When the slot's first tick period begins.
        slot_start: Instant,
    },
    /// Abandon any slot in progress and end the thread.
    Shutdown,
}

/// What the PoH thread produces, in chain order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PohEvent {
    /// A tick or a recorded batch of slot `slot`'s block.
    Entry {
        /// The block the entry belongs to.
        slot: Slot,
        /// The entry.
        entry: Entry,
    },
    /// Slot `slot`'s last tick has been emitted; its hash is the blockhash.
    SlotEnded {
        /// The finished slot.
        slot: Slot,
        /// Its blockhash.
        blockhash: Hash,
    },
    /// Slot `slot` was interrupted (by a new `StartSlot` or a shutdown): discard its entries.
    SlotAbandoned {
        /// The unfinished slot.
        slot: Slot,
    },
}

/// Why a batch was not recorded; the banking stage keeps such transactions for a later slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The slot has ended (or was abandoned) before the batch could be mixed in.
    #[error("the slot ended before the batch could be recorded")]
    SlotEnded,
    /// The PoH thread is not producing that slot.
    #[error("PoH is not producing the requested slot")]
    NotLeading,
    /// The block has no room for another entry ([`ENTRIES_PER_BLOCK_MAX`]).
    #[error("the block holds the most entries allowed ({ENTRIES_PER_BLOCK_MAX})")]
    SlotFull,
    /// An entry with no transactions would be a tick.
    #[error("a record batch needs at least one transaction")]
    EmptyBatch,
    /// More transactions than one entry may hold.
    #[error("batch of {count} transactions exceeds the {max} one entry may hold")]
    TooManyTransactions {
        /// Transactions in the batch.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The PoH thread has stopped.
    #[error("the PoH thread has stopped")]
    Stopped,
}

/// Why a command was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PohCommandError {
    /// A slot must come after its parent.
    #[error("slot {slot} does not come after its parent slot {parent_slot}")]
    SlotNotAfterParent {
        /// The slot to produce.
        slot: Slot,
        /// Its parent.
        parent_slot: Slot,
    },
    /// The parent is so far back that the block would hold too many ticks.
    #[error(
        "slot {slot} on parent {parent_slot} needs {ticks} ticks, a block holds at most {max}"
    )]
    TooManyTicks {
        /// The slot to produce.
        slot: Slot,
        /// Its parent.
        parent_slot: Slot,
        /// Ticks the block would need.
        ticks: u64,
        /// The limit ([`SLOT_TICKS_MAX`]).
        max: u64,
    },
    /// The PoH thread has stopped.
    #[error("the PoH thread has stopped")]
    Stopped,
}

/// A refused record: the reason, and the transactions handed back.
pub(crate) type RecordReply = Result<(), (RecordError, Vec<Txn>)>;

/// A batch on its way to the PoH thread, with where to answer.
pub(crate) struct RecordRequest {
    pub(crate) slot: Slot,
    pub(crate) mixin: Hash,
    pub(crate) transactions: Vec<Txn>,
    pub(crate) reply: Sender<RecordReply>,
}

/// The node's and banking stage's side of the PoH thread.
///
/// Each clone has its own reply channel, so a handle is not `Sync`: give each thread a clone.
pub struct PohHandle {
    commands: Sender<PohCommand>,
    records: Sender<RecordRequest>,
    reply_tx: Sender<RecordReply>,
    reply_rx: Receiver<RecordReply>,
    stopped: Arc<AtomicBool>,
    ticks_per_slot: u64,
    thread: Option<JoinHandle<()>>,
    /// Two threads sharing one reply channel could take each other's answers.
    not_sync: PhantomData<Cell<()>>,
}

impl Clone for PohHandle {
    fn clone(&self) -> Self {
        let (reply_tx, reply_rx) = bounded(1);
        PohHandle {
            commands: self.commands.clone(),
            records: self.records.clone(),
            reply_tx,
            reply_rx,
            stopped: self.stopped.clone(),
            ticks_per_slot: self.ticks_per_slot,
            thread: None,
            not_sync: PhantomData,
        }
    }
}

impl PohHandle {
    /// Wraps the thread's channels; `stopped` turns true when the thread ends.
    pub(crate) fn new(
        commands: Sender<PohCommand>,
        records: Sender<RecordRequest>,
        stopped: Arc<AtomicBool>,
        ticks_per_slot: u64,
        thread: JoinHandle<()>,
    ) -> PohHandle {
        let (reply_tx, reply_rx) = bounded(1);
        PohHandle {
            commands,
            records,
            reply_tx,
            reply_rx,
            stopped,
            ticks_per_slot,
            thread: Some(thread),
            not_sync: PhantomData,
        }
    }

    /// Sends a command, checking `StartSlot`'s slot numbers first.
    pub fn send(&self, command: PohCommand) -> Result<(), PohCommandError> {
        if let PohCommand::StartSlot {
            slot, parent_slot, ..
        } = command
        {
            if slot <= parent_slot {
                return Err(PohCommandError::SlotNotAfterParent { slot, parent_slot });
            }
            let ticks = (slot.0 - parent_slot.0).saturating_mul(self.ticks_per_slot);
            if ticks > SLOT_TICKS_MAX {
                return Err(PohCommandError::TooManyTicks {
                    slot,
                    parent_slot,
                    ticks,
                    max: SLOT_TICKS_MAX,
                });
            }
        }
        self.commands
            .send(command)
            .map_err(|_| PohCommandError::Stopped)
    }

    /// Mixes `transactions` into slot `slot`'s chain and waits until their entry is emitted.
    pub fn record(&self, slot: Slot, transactions: Vec<Txn>) -> Result<(), RecordError> {
        self.record_or_return(slot, transactions)
            .map_err(|(e, _)| e)
    }

    /// As [`PohHandle::record`], but a refusal hands the transactions back for a later slot.
    pub fn record_or_return(
        &self,
        slot: Slot,
        transactions: Vec<Txn>,
    ) -> Result<(), (RecordError, Vec<Txn>)> {
        if transactions.is_empty() {
            return Err((RecordError::EmptyBatch, transactions));
        }
        if transactions.len() > TXNS_PER_ENTRY_MAX {
            let count = transactions.len();
            let e = RecordError::TooManyTransactions {
                count,
                max: TXNS_PER_ENTRY_MAX,
            };
            return Err((e, transactions));
        }
        // The Merkle root is computed here, on the caller's thread: the chain never waits for it.
        let mixin = hash_signatures(&transactions);
        let request = RecordRequest {
            slot,
            mixin,
            transactions,
            reply: self.reply_tx.clone(),
        };
        if let Err(e) = self.records.send(request) {
            return Err((RecordError::Stopped, e.into_inner().transactions));
        }
        loop {
            match self.reply_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(reply) => return reply,
                Err(RecvTimeoutError::Timeout) if self.stopped.load(Ordering::Acquire) => {
                    // The thread may have answered just before stopping.
                    return self
                        .reply_rx
                        .try_recv()
                        .unwrap_or(Err((RecordError::Stopped, Vec::new())));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err((RecordError::Stopped, Vec::new()))
                }
            }
        }
    }

    /// Stops the thread (abandoning any slot) and, from the handle `spawn` returned, waits for it.
    pub fn shutdown(mut self) {
        let _ = self.commands.send(PohCommand::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
