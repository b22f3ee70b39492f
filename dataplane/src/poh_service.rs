//! Proof of History, layer 2: the thread that runs the chain for the slots this node leads.
//!
//! For slot S on parent P it hashes the ticks of the skipped slots P+1..S-1 at full speed (that time
//! has passed), then paces slot S's own ticks to the wall clock: tick i is emitted no earlier than
//! `slot_start + i × tick_duration`, and the chain runs at most a little ahead of the clock (it
//! sleeps when ahead and spins only the last [`SPIN_WINDOW`] before a tick). Banking records batches
//! through a [`PohHandle`]; they are mixed in between hash chunks. When not leading, the thread
//! blocks on its channels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Select, Sender, TryRecvError};
use tracing::{info, warn};

use crate::block::{ENTRIES_PER_BLOCK_MAX, TXNS_PER_ENTRY_MAX};
use crate::entry::{hash_signatures, Entry};
use crate::genesis::Genesis;
use crate::poh::{Poh, PohEntry};
use crate::txn::Txn;
use crate::types::{Hash, Slot};

/// Hashes between two looks at the channels and the clock: bounds record latency (~15 µs here).
pub const CHUNK_HASHES: u64 = 256;
/// Before a tick's deadline the thread spins instead of sleeping for at most this long.
pub const SPIN_WINDOW: Duration = Duration::from_micros(50);
/// The least the chain may run ahead of the clock before it sleeps.
const PACE_AHEAD_MIN: Duration = Duration::from_micros(200);
/// Most records mixed in per look at the channel, so a flood cannot starve the clock.
const RECORDS_PER_POLL_MAX: usize = 64;
/// Most ticks (skipped slots' included) one block may hold; the other half of
/// [`ENTRIES_PER_BLOCK_MAX`] is left for records.
pub const SLOT_TICKS_MAX: u64 = (ENTRIES_PER_BLOCK_MAX / 2) as u64;
/// Default capacity of the event channel.
pub const EVENT_CAPACITY_DEFAULT: usize = 4096;
/// Capacity of the command channel.
const COMMAND_CAPACITY: usize = 16;
/// Capacity of the record channel (each handle has at most one request in flight).
const RECORD_CAPACITY: usize = 64;

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
    #[error("slot {slot} on parent {parent_slot} needs {ticks} ticks, more than the {max} a block may hold")]
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
type RecordReply = Result<(), (RecordError, Vec<Txn>)>;

struct RecordRequest {
    slot: Slot,
    mixin: Hash,
    transactions: Vec<Txn>,
    reply: Sender<RecordReply>,
}

/// The node's and banking stage's side of the PoH thread.
///
/// Each clone has its own reply channel; one handle serves one thread at a time.
pub struct PohHandle {
    commands: Sender<PohCommand>,
    records: Sender<RecordRequest>,
    reply_tx: Sender<RecordReply>,
    reply_rx: Receiver<RecordReply>,
    stopped: Arc<AtomicBool>,
    ticks_per_slot: u64,
    thread: Option<JoinHandle<()>>,
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
        }
    }
}

impl PohHandle {
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
        // The Merkle root is computed here, on the caller's thread, so the chain never waits for it.
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

/// The PoH thread's launcher.
pub struct PohService;

impl PohService {
    /// Starts the PoH thread (named `bb-poh`).
    ///
    /// # Panics
    /// If the config has 0 ticks per slot, hashes per tick or event capacity (genesis validation
    /// rules these out), or the thread cannot be spawned.
    pub fn spawn(config: PohConfig) -> (PohHandle, Receiver<PohEvent>) {
        assert!(config.ticks_per_slot >= 1, "ticks_per_slot must be >= 1");
        assert!(config.hashes_per_tick >= 1, "hashes_per_tick must be >= 1");
        assert!(config.event_capacity >= 1, "event_capacity must be >= 1");
        let (commands, command_rx) = bounded(COMMAND_CAPACITY);
        let (records, record_rx) = bounded(RECORD_CAPACITY);
        let (event_tx, events) = bounded(config.event_capacity);
        let (reply_tx, reply_rx) = bounded(1);
        let ticks_per_slot = config.ticks_per_slot;
        let stopped = Arc::new(AtomicBool::new(false));
        let guard = StoppedGuard(stopped.clone());
        let thread = std::thread::Builder::new()
            .name("bb-poh".into())
            .spawn(move || {
                let _guard = guard;
                start_thread(config.pin_core);
                PohThread::new(config, command_rx, record_rx, event_tx).run();
            })
            .expect("spawn the PoH thread");
        let handle = PohHandle {
            commands,
            records,
            reply_tx,
            reply_rx,
            stopped,
            ticks_per_slot,
            thread: Some(thread),
        };
        (handle, events)
    }
}

/// Marks the thread stopped however it ends (return or panic), so waiting recorders give up.
struct StoppedGuard(Arc<AtomicBool>);

impl Drop for StoppedGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Pins the thread if asked and logs which SHA-256 implementation the chain will run on.
fn start_thread(pin_core: Option<usize>) {
    if let Some(core) = pin_core {
        let known = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.id == core);
        match known {
            Some(id) if core_affinity::set_for_current(id) => info!(core, "PoH thread pinned"),
            _ => warn!(core, "PoH thread could not be pinned; running unpinned"),
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sha") {
            info!("PoH: CPU has SHA-NI; sha2 uses it (picked at run time)");
        } else {
            warn!("PoH: CPU lacks SHA-NI; sha2 runs its portable SHA-256 (several times slower)");
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    info!(
        arch = std::env::consts::ARCH,
        "PoH: not an x86_64 CPU, so no SHA-NI; sha2 picks its SHA-256 backend at run time"
    );
}

/// The slot being produced.
struct Leading {
    slot: Slot,
    poh: Poh,
    slot_start: Instant,
    /// Ticks of skipped slots still to hash, unpaced, before the slot's own ticks.
    skipped_ticks_left: u64,
    /// The slot's own ticks emitted so far.
    own_ticks_done: u64,
    /// Entries emitted into this block so far.
    entries: usize,
}

/// What the loop does next.
enum Flow {
    Continue,
    Exit,
}

struct PohThread {
    config: PohConfig,
    commands: Receiver<PohCommand>,
    records: Receiver<RecordRequest>,
    events: Sender<PohEvent>,
    leading: Option<Leading>,
    /// Highest slot ever started: records at or below it are answered `SlotEnded`.
    last_started: Option<Slot>,
    /// How far the chain may run ahead of the clock before sleeping.
    pace_ahead: Duration,
}

impl PohThread {
    fn new(
        config: PohConfig,
        commands: Receiver<PohCommand>,
        records: Receiver<RecordRequest>,
        events: Sender<PohEvent>,
    ) -> PohThread {
        // Run ahead by about two chunks' worth of clock time, so each wake-up hashes a real chunk
        // (cheap on shared cores), but never more than a quarter tick.
        let hash_ns = config.tick_duration_ns / config.hashes_per_tick;
        let two_chunks = Duration::from_nanos(hash_ns.saturating_mul(2 * CHUNK_HASHES));
        let quarter_tick = Duration::from_nanos(config.tick_duration_ns / 4);
        let pace_ahead = two_chunks.max(PACE_AHEAD_MIN).min(quarter_tick);
        PohThread {
            config,
            commands,
            records,
            events,
            leading: None,
            last_started: None,
            pace_ahead,
        }
    }

    fn run(mut self) {
        loop {
            let flow = if self.leading.is_some() {
                self.step()
            } else {
                self.idle()
            };
            if let Flow::Exit = flow {
                self.abandon(false);
                self.refuse_queued_records();
                return;
            }
        }
    }

    /// Not leading: block until a command or a record arrives.
    fn idle(&mut self) -> Flow {
        let mut sel = Select::new();
        let cmd = sel.recv(&self.commands);
        let rec = sel.recv(&self.records);
        let ready = sel.ready();
        if ready == cmd {
            return self.poll_command();
        }
        debug_assert_eq!(ready, rec);
        match self.records.try_recv() {
            Ok(r) => {
                let reason = self.refusal(r.slot);
                let _ = r.reply.send(Err((reason, r.transactions)));
                Flow::Continue
            }
            Err(TryRecvError::Empty) => Flow::Continue,
            Err(TryRecvError::Disconnected) => Flow::Exit,
        }
    }

    /// One step while leading: look at the channels, then hash, tick or wait.
    fn step(&mut self) -> Flow {
        if let Flow::Exit = self.poll_command() {
            return Flow::Exit;
        }
        let Some(lead) = self.leading.as_ref() else {
            return Flow::Continue;
        };
        let has_room = lead.poh.remaining_hashes() > 1;
        if has_room {
            if let Flow::Exit = self.poll_records() {
                return Flow::Exit;
            }
        }
        let Some(lead) = self.leading.as_mut() else {
            return Flow::Continue;
        };
        if lead.skipped_ticks_left > 0 {
            // Skipped slots' ticks: that time has passed, hash at full speed.
            if lead.poh.hash(CHUNK_HASHES) {
                lead.skipped_ticks_left -= 1;
                return self.emit_tick();
            }
            return Flow::Continue;
        }
        let now = Instant::now();
        let hpt = self.config.hashes_per_tick;
        if lead.poh.remaining_hashes() == 1 {
            let deadline = at(
                lead.slot_start,
                (lead.own_ticks_done + 1).saturating_mul(self.config.tick_duration_ns),
            );
            if now >= deadline {
                lead.own_ticks_done += 1;
                return self.emit_tick();
            }
            return self.wait_for_tick(deadline);
        }
        let position = lead.own_ticks_done * hpt + lead.poh.tick_hashes_done();
        let position_ns =
            u128::from(position) * u128::from(self.config.tick_duration_ns) / u128::from(hpt);
        let due = at(
            lead.slot_start,
            u64::try_from(position_ns).unwrap_or(u64::MAX),
        );
        if due > now + self.pace_ahead {
            // Ahead of the clock: sleep until only half the allowance is left, waking for records.
            return self.wait(due - self.pace_ahead / 2, true);
        }
        lead.poh.hash(CHUNK_HASHES);
        Flow::Continue
    }

    /// At a tick boundary before its deadline: sleep (commands only; records need room), then spin.
    fn wait_for_tick(&mut self, deadline: Instant) -> Flow {
        let now = Instant::now();
        if deadline.saturating_duration_since(now) > SPIN_WINDOW {
            return self.wait(deadline - SPIN_WINDOW, false);
        }
        while Instant::now() < deadline {
            std::hint::spin_loop();
        }
        Flow::Continue
    }

    /// Blocks until `until`, or until a command (or, with `records`, a record) arrives.
    fn wait(&mut self, until: Instant, records: bool) -> Flow {
        let mut sel = Select::new();
        sel.recv(&self.commands);
        if records {
            sel.recv(&self.records);
        }
        // Whatever woke us is handled by the next step.
        let _ = sel.ready_deadline(until);
        Flow::Continue
    }

    fn poll_command(&mut self) -> Flow {
        match self.commands.try_recv() {
            Ok(PohCommand::Shutdown) | Err(TryRecvError::Disconnected) => Flow::Exit,
            Ok(PohCommand::StartSlot {
                slot,
                parent_slot,
                parent_blockhash,
                slot_start,
            }) => self.start_slot(slot, parent_slot, parent_blockhash, slot_start),
            Err(TryRecvError::Empty) => Flow::Continue,
        }
    }

    fn start_slot(&mut self, slot: Slot, parent: Slot, start: Hash, slot_start: Instant) -> Flow {
        if let Flow::Exit = self.abandon(true) {
            return Flow::Exit;
        }
        let Some(span) = slot.0.checked_sub(parent.0).filter(|s| *s > 0) else {
            warn!(%slot, %parent, "PoH: StartSlot ignored, slot does not follow its parent");
            return Flow::Continue;
        };
        let skipped_ticks_left = (span - 1).saturating_mul(self.config.ticks_per_slot);
        info!(%slot, %parent, skipped_ticks_left, "PoH: producing slot");
        self.last_started = self.last_started.max(Some(slot));
        self.leading = Some(Leading {
            slot,
            poh: Poh::new(start, self.config.hashes_per_tick),
            slot_start,
            skipped_ticks_left,
            own_ticks_done: 0,
            entries: 0,
        });
        Flow::Continue
    }

    /// Drops the slot in progress, telling the consumer (`wait` blocks on a full channel; on the way
    /// out it does not, since nobody may be reading any more).
    fn abandon(&mut self, wait: bool) -> Flow {
        let Some(lead) = self.leading.take() else {
            return Flow::Continue;
        };
        warn!(slot = %lead.slot, "PoH: slot abandoned before its last tick");
        let event = PohEvent::SlotAbandoned { slot: lead.slot };
        let sent = if wait {
            self.events.send(event).is_ok()
        } else {
            self.events.try_send(event).is_ok()
        };
        if sent {
            Flow::Continue
        } else {
            Flow::Exit
        }
    }

    /// Mixes in queued records while the tick has room.
    fn poll_records(&mut self) -> Flow {
        for _ in 0..RECORDS_PER_POLL_MAX {
            let Some(lead) = self.leading.as_mut() else {
                return Flow::Continue;
            };
            if lead.poh.remaining_hashes() <= 1 {
                return Flow::Continue;
            }
            let request = match self.records.try_recv() {
                Ok(r) => r,
                Err(TryRecvError::Empty) => return Flow::Continue,
                Err(TryRecvError::Disconnected) => return Flow::Exit,
            };
            if request.slot != lead.slot {
                let reason = self.refusal(request.slot);
                let _ = request.reply.send(Err((reason, request.transactions)));
                continue;
            }
            let ticks_left =
                lead.skipped_ticks_left + self.config.ticks_per_slot - lead.own_ticks_done;
            if lead.entries + 1 + ticks_left as usize > ENTRIES_PER_BLOCK_MAX {
                let _ = request
                    .reply
                    .send(Err((RecordError::SlotFull, request.transactions)));
                continue;
            }
            let Some(mixed) = lead.poh.record(request.mixin) else {
                unreachable!("the tick has room for a mixin");
            };
            let slot = lead.slot;
            lead.entries += 1;
            let entry = entry_of(mixed, request.transactions);
            // The entry is queued for the consumer before banking hears `Ok`.
            if self.events.send(PohEvent::Entry { slot, entry }).is_err() {
                let _ = request.reply.send(Err((RecordError::Stopped, Vec::new())));
                return Flow::Exit;
            }
            let _ = request.reply.send(Ok(()));
        }
        Flow::Continue
    }

    /// Emits the due tick; after the slot's last tick, ends the slot.
    fn emit_tick(&mut self) -> Flow {
        let Some(lead) = self.leading.as_mut() else {
            return Flow::Continue;
        };
        let Some(tick) = lead.poh.tick() else {
            unreachable!("emit_tick is called at a tick boundary");
        };
        lead.entries += 1;
        let slot = lead.slot;
        let ended =
            lead.skipped_ticks_left == 0 && lead.own_ticks_done == self.config.ticks_per_slot;
        let entry = entry_of(tick, Vec::new());
        if self.events.send(PohEvent::Entry { slot, entry }).is_err() {
            return Flow::Exit;
        }
        if !ended {
            return Flow::Continue;
        }
        self.leading = None;
        let event = PohEvent::SlotEnded {
            slot,
            blockhash: tick.hash,
        };
        if self.events.send(event).is_err() {
            return Flow::Exit;
        }
        self.refuse_queued_records();
        Flow::Continue
    }

    /// Answers every queued record: nothing is being produced for it now.
    fn refuse_queued_records(&mut self) {
        while let Ok(r) = self.records.try_recv() {
            let reason = self.refusal(r.slot);
            let _ = r.reply.send(Err((reason, r.transactions)));
        }
    }

    /// Why a record for `slot` cannot be taken now.
    fn refusal(&self, slot: Slot) -> RecordError {
        match self.last_started {
            Some(last) if slot <= last => RecordError::SlotEnded,
            _ => RecordError::NotLeading,
        }
    }
}

/// `start + ns`, saturating far in the future instead of overflowing.
fn at(start: Instant, ns: u64) -> Instant {
    start
        .checked_add(Duration::from_nanos(ns))
        .unwrap_or(start + Duration::from_secs(86_400 * 365))
}

fn entry_of(e: PohEntry, transactions: Vec<Txn>) -> Entry {
    Entry {
        num_hashes: e.num_hashes,
        hash: e.hash,
        transactions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::txn_pool;
    use crate::entry::{check_ticks, verify_entries};

    const HASHES_PER_TICK: u64 = 50;
    const TICKS_PER_SLOT: u64 = 16;
    const TICK: Duration = Duration::from_millis(4);
    /// Generous bound on waiting for any one event, so a broken service fails instead of hanging.
    const EVENT_WAIT: Duration = Duration::from_secs(20);

    fn spawn() -> (PohHandle, Receiver<PohEvent>) {
        PohService::spawn(PohConfig {
            hashes_per_tick: HASHES_PER_TICK,
            ticks_per_slot: TICKS_PER_SLOT,
            tick_duration_ns: TICK.as_nanos() as u64,
            pin_core: None,
            event_capacity: 1024,
        })
    }

    fn start(handle: &PohHandle, slot: u64, parent: u64, blockhash: Hash) -> Instant {
        let slot_start = Instant::now();
        handle
            .send(PohCommand::StartSlot {
                slot: Slot(slot),
                parent_slot: Slot(parent),
                parent_blockhash: blockhash,
                slot_start,
            })
            .unwrap();
        slot_start
    }

    /// A slot's entries, each with the instant it was received, and its blockhash.
    struct SlotOutput {
        entries: Vec<Entry>,
        received: Vec<Instant>,
        blockhash: Hash,
    }

    fn collect_slot(events: &Receiver<PohEvent>, slot: u64) -> SlotOutput {
        let mut out = SlotOutput {
            entries: Vec::new(),
            received: Vec::new(),
            blockhash: Hash::default(),
        };
        loop {
            match events.recv_timeout(EVENT_WAIT).expect("PoH event") {
                PohEvent::Entry { slot: s, entry } => {
                    assert_eq!(s, Slot(slot), "entry for the wrong slot");
                    out.received.push(Instant::now());
                    out.entries.push(entry);
                }
                PohEvent::SlotEnded { slot: s, blockhash } => {
                    assert_eq!(s, Slot(slot));
                    out.blockhash = blockhash;
                    return out;
                }
                PohEvent::SlotAbandoned { slot: s } => panic!("slot {s} abandoned"),
            }
        }
    }

    /// Every own tick i (1-based) arrived no earlier than `slot_start + i × TICK`.
    fn assert_ticks_paced(out: &SlotOutput, own_ticks_from: usize, slot_start: Instant) {
        let ticks: Vec<Instant> = out
            .entries
            .iter()
            .zip(&out.received)
            .filter(|(e, _)| e.is_tick())
            .map(|(_, t)| *t)
            .collect();
        for (i, t) in ticks[own_ticks_from..].iter().enumerate() {
            let deadline = slot_start + TICK * (i as u32 + 1);
            assert!(
                *t >= deadline,
                "own tick {} emitted before its deadline",
                i + 1
            );
        }
    }

    #[test]
    fn produces_a_paced_slot_that_verifies() {
        let (handle, events) = spawn();
        let parent_hash = Hash([3; 32]);
        let slot_start = start(&handle, 1, 0, parent_hash);
        let out = collect_slot(&events, 1);
        assert_eq!(out.entries.len() as u64, TICKS_PER_SLOT);
        assert_eq!(
            check_ticks(&out.entries, TICKS_PER_SLOT, HASHES_PER_TICK),
            Ok(())
        );
        assert_eq!(verify_entries(&parent_hash, &out.entries, 2), Ok(()));
        assert_eq!(out.entries.last().map(|e| e.hash), Some(out.blockhash));
        assert_ticks_paced(&out, 0, slot_start);
        handle.shutdown();
    }

    #[test]
    fn skipped_slots_ticks_are_hashed_first() {
        let (handle, events) = spawn();
        let parent_hash = Hash([4; 32]);
        // Slot 7 on parent 4: slots 5 and 6 were skipped.
        let slot_start = start(&handle, 7, 4, parent_hash);
        let out = collect_slot(&events, 7);
        assert_eq!(
            check_ticks(&out.entries, 3 * TICKS_PER_SLOT, HASHES_PER_TICK),
            Ok(())
        );
        assert_eq!(verify_entries(&parent_hash, &out.entries, 2), Ok(()));
        assert_ticks_paced(&out, 2 * TICKS_PER_SLOT as usize, slot_start);
        handle.shutdown();
    }

    #[test]
    fn records_land_in_their_slot_and_late_ones_are_refused() {
        let (handle, events) = spawn();
        let pool = txn_pool();
        // Before any slot: not leading, and the batch comes back.
        let (err, back) = handle
            .record_or_return(Slot(1), pool[..2].to_vec())
            .unwrap_err();
        assert_eq!((err, back.len()), (RecordError::NotLeading, 2));
        let parent_hash = Hash([5; 32]);
        start(&handle, 1, 0, parent_hash);
        let banking = handle.clone();
        let recorder = std::thread::spawn(move || {
            let mut recorded = Vec::new();
            for i in 0.. {
                let batch: Vec<Txn> = (0..3)
                    .map(|k| pool[(i * 3 + k) % pool.len()].clone())
                    .collect();
                let sigs: Vec<_> = batch.iter().map(|t| t.signature()).collect();
                match banking.record(Slot(1), batch) {
                    Ok(()) => recorded.push(sigs),
                    Err(e) => return (recorded, e),
                }
                // A batch for another slot is refused while slot 1 runs.
                if i == 0 {
                    assert_eq!(
                        banking.record(Slot(2), pool[..1].to_vec()),
                        Err(RecordError::NotLeading)
                    );
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            unreachable!()
        });
        let out = collect_slot(&events, 1);
        let (recorded, end) = recorder.join().unwrap();
        assert_eq!(end, RecordError::SlotEnded);
        assert!(
            !recorded.is_empty(),
            "no batch recorded during a 64 ms slot"
        );
        // Exactly the acknowledged batches are in the slot, in order.
        let in_slot: Vec<Vec<_>> = out
            .entries
            .iter()
            .filter(|e| !e.is_tick())
            .map(|e| e.transactions.iter().map(|t| t.signature()).collect())
            .collect();
        assert_eq!(in_slot, recorded);
        assert_eq!(
            check_ticks(&out.entries, TICKS_PER_SLOT, HASHES_PER_TICK),
            Ok(())
        );
        assert_eq!(verify_entries(&parent_hash, &out.entries, 2), Ok(()));
        // After the slot: refused as ended; a later slot is not being led.
        assert_eq!(
            handle.record(Slot(1), pool[..1].to_vec()),
            Err(RecordError::SlotEnded)
        );
        assert_eq!(
            handle.record(Slot(9), pool[..1].to_vec()),
            Err(RecordError::NotLeading)
        );
        handle.shutdown();
    }

    #[test]
    fn bad_batches_and_slot_numbers_are_refused() {
        let (handle, _events) = spawn();
        assert_eq!(
            handle.record(Slot(1), Vec::new()),
            Err(RecordError::EmptyBatch)
        );
        let many = vec![txn_pool()[0].clone(); TXNS_PER_ENTRY_MAX + 1];
        assert_eq!(
            handle.record(Slot(1), many),
            Err(RecordError::TooManyTransactions {
                count: TXNS_PER_ENTRY_MAX + 1,
                max: TXNS_PER_ENTRY_MAX
            })
        );
        let cmd = |slot, parent| PohCommand::StartSlot {
            slot: Slot(slot),
            parent_slot: Slot(parent),
            parent_blockhash: Hash::default(),
            slot_start: Instant::now(),
        };
        let err = handle.send(cmd(3, 3)).unwrap_err();
        assert!(err.to_string().contains("slot 3"), "{err}");
        assert!(matches!(
            handle.send(cmd(u64::MAX, 0)),
            Err(PohCommandError::TooManyTicks { .. })
        ));
        handle.shutdown();
    }

    #[test]
    fn a_new_start_abandons_the_slot_in_progress() {
        let (handle, events) = spawn();
        start(&handle, 1, 0, Hash([6; 32]));
        // Wait for slot 1 to be under way, then switch.
        assert!(matches!(
            events.recv_timeout(EVENT_WAIT),
            Ok(PohEvent::Entry { slot: Slot(1), .. })
        ));
        let parent_hash = Hash([7; 32]);
        start(&handle, 2, 0, parent_hash);
        loop {
            match events.recv_timeout(EVENT_WAIT).expect("PoH event") {
                PohEvent::Entry { slot, .. } => assert_eq!(slot, Slot(1)),
                PohEvent::SlotAbandoned { slot } => {
                    assert_eq!(slot, Slot(1));
                    break;
                }
                e => panic!("unexpected {e:?}"),
            }
        }
        let out = collect_slot(&events, 2);
        assert_eq!(
            check_ticks(&out.entries, 2 * TICKS_PER_SLOT, HASHES_PER_TICK),
            Ok(())
        );
        assert_eq!(verify_entries(&parent_hash, &out.entries, 2), Ok(()));
        handle.shutdown();
    }

    #[test]
    fn a_stopped_service_says_so() {
        let (handle, events) = spawn();
        let other = handle.clone();
        start(&handle, 1, 0, Hash::default());
        handle.shutdown();
        // The slot in progress is reported abandoned, then the channel closes.
        let rest: Vec<PohEvent> = events.iter().collect();
        assert!(matches!(
            rest.last(),
            Some(PohEvent::SlotAbandoned { slot: Slot(1) })
        ));
        assert_eq!(
            other.record(Slot(1), txn_pool()[..1].to_vec()),
            Err(RecordError::Stopped)
        );
        assert_eq!(
            other.send(PohCommand::Shutdown),
            Err(PohCommandError::Stopped)
        );
    }
}
