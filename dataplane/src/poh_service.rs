//! Proof of History, layer 2: the thread that runs the chain for the slots this node leads.
//!
//! For slot S on parent P it hashes the ticks of the skipped slots P+1..S-1 at full speed (that
//! time has passed), then paces slot S's own ticks to the wall clock: tick i is emitted no earlier
//! than `slot_start + i × tick_duration`, and the chain runs at most a little ahead of the clock
//! (it sleeps when ahead and spins only the last [`SPIN_WINDOW`] before a tick). Banking records
//! batches through a [`PohHandle`]; they are mixed in between hash chunks. When not leading, the
//! thread blocks on its channels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Select, Sender, TryRecvError};
use tracing::{debug, info, warn};

use crate::block::ENTRIES_PER_BLOCK_MAX;
use crate::entry::Entry;
use crate::poh::{Poh, PohEntry, RecordRequest};
use crate::txn::Txn;
use crate::types::{Hash, Slot};

pub use crate::poh::{
    PohCommand, PohCommandError, PohConfig, PohEvent, PohHandle, RecordError,
    EVENT_CAPACITY_DEFAULT, SLOT_TICKS_MAX,
};

/// Hashes between two looks at the channels and the clock: bounds record latency (~15 µs here).
pub const CHUNK_HASHES: u64 = 256;
/// Before a tick's deadline the thread spins instead of sleeping for at most this long.
pub const SPIN_WINDOW: Duration = Duration::from_micros(50);
/// The least the chain may run ahead of the clock before it sleeps.
const PACE_AHEAD_MIN: Duration = Duration::from_micros(200);
/// Most records mixed in per look at the channel, so a flood cannot starve the clock.
const RECORDS_PER_POLL_MAX: usize = 64;
/// Capacity of the command channel.
const COMMAND_CAPACITY: usize = 16;
/// Capacity of the record channel (each handle has at most one request in flight).
const RECORD_CAPACITY: usize = 64;

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
        let handle = PohHandle::new(commands, records, stopped, ticks_per_slot, thread);
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
    crate::cores::pin_current_thread(pin_core, "poh");
    crate::cores::set_current_thread_nice(crate::cores::LEADER_PATH_NICE, "poh");
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

/// The PoH thread's state: its channels and the slot in progress.
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
        // Commands first: banking sends a slot's StartSlot before its first record, so a record
        // that is visible here may belong to a slot whose command is queued too; refusing it as
        // `NotLeading` would cost banking that whole slot.
        if ready == cmd || !self.commands.is_empty() {
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
        debug!(%slot, %parent, skipped_ticks_left, "PoH: producing slot");
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

    /// Drops the slot in progress and tells the consumer. With `wait` it blocks on a full channel;
    /// on the way out it does not, since nobody may be reading any more.
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
        // Records still queued are answered by `idle`, which reads the commands first: some may
        // be for the next slot, already commanded.
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

/// `start + ns`. An `Instant` reaches centuries past now on the platforms we run on, so the
/// fallback (which never panics) is never taken.
fn at(start: Instant, ns: u64) -> Instant {
    start.checked_add(Duration::from_nanos(ns)).unwrap_or(start)
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
    use crate::block::TXNS_PER_ENTRY_MAX;
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
        start_at(handle, slot, parent, blockhash, Instant::now())
    }

    fn start_at(
        handle: &PohHandle,
        slot: u64,
        parent: u64,
        blockhash: Hash,
        slot_start: Instant,
    ) -> Instant {
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
        // The slot's clock starts a little later, leaving the recorder time to get going.
        let slot_start = start_at(&handle, 1, 0, parent_hash, Instant::now() + TICK * 25);
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
        assert_ticks_paced(&out, 0, slot_start);
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
    fn a_record_queued_with_its_slots_start_command_is_taken_not_refused() {
        // Drive the thread's state machine by hand, so both channels hold a message at once (on a
        // busy machine the thread often wakes to find the command and the record both queued).
        let (commands, command_rx) = bounded(COMMAND_CAPACITY);
        let (records, record_rx) = bounded(RECORD_CAPACITY);
        let (event_tx, events) = bounded(1024);
        let mut poh = PohThread::new(
            PohConfig {
                hashes_per_tick: HASHES_PER_TICK,
                ticks_per_slot: TICKS_PER_SLOT,
                tick_duration_ns: TICK.as_nanos() as u64,
                pin_core: None,
                event_capacity: 1024,
            },
            command_rx,
            record_rx,
            event_tx,
        );
        let (reply_tx, reply_rx) = bounded(4);
        let txns = txn_pool()[..2].to_vec();
        for slot in 1..=20u64 {
            commands
                .send(PohCommand::StartSlot {
                    slot: Slot(slot),
                    parent_slot: Slot(slot - 1),
                    parent_blockhash: Hash([slot as u8; 32]),
                    slot_start: Instant::now(),
                })
                .unwrap();
            records
                .send(RecordRequest {
                    slot: Slot(slot),
                    mixin: Hash([1; 32]),
                    transactions: txns.clone(),
                    reply: reply_tx.clone(),
                })
                .unwrap();
            // Idle, with both queued: the slot starts, then the record lands in it.
            assert!(poh.leading.is_none());
            assert!(matches!(poh.idle(), Flow::Continue));
            let until = Instant::now() + EVENT_WAIT;
            while poh.leading.is_some() {
                assert!(Instant::now() < until, "slot {slot} never ended");
                assert!(matches!(poh.step(), Flow::Continue));
            }
            assert_eq!(
                reply_rx
                    .try_recv()
                    .map_err(|e| e.to_string())
                    .map(|r| r.map_err(|e| e.0)),
                Ok(Ok(())),
                "slot {slot}"
            );
            let mut recorded = 0;
            while let Ok(ev) = events.try_recv() {
                if let PohEvent::Entry { slot: s, entry } = ev {
                    assert_eq!(s, Slot(slot));
                    recorded += entry.transactions.len();
                }
            }
            assert_eq!(recorded, txns.len(), "slot {slot}");
        }
        // A record for a slot that was never commanded is still refused, as not leading.
        records
            .send(RecordRequest {
                slot: Slot(99),
                mixin: Hash([1; 32]),
                transactions: txns.clone(),
                reply: reply_tx.clone(),
            })
            .unwrap();
        assert!(matches!(poh.idle(), Flow::Continue));
        assert_eq!(
            reply_rx.try_recv().unwrap().map_err(|e| e.0),
            Err(RecordError::NotLeading)
        );
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
        // Slot 3 hashes two skipped slots at once, then waits for its own clock a minute away.
        let far = Instant::now() + Duration::from_secs(60);
        start_at(&handle, 3, 0, Hash([6; 32]), far);
        assert!(matches!(
            events.recv_timeout(EVENT_WAIT),
            Ok(PohEvent::Entry { slot: Slot(3), .. })
        ));
        let parent_hash = Hash([7; 32]);
        start(&handle, 4, 2, parent_hash);
        loop {
            match events.recv_timeout(EVENT_WAIT).expect("PoH event") {
                PohEvent::Entry { slot, .. } => assert_eq!(slot, Slot(3)),
                PohEvent::SlotAbandoned { slot } => {
                    assert_eq!(slot, Slot(3));
                    break;
                }
                e => panic!("unexpected {e:?}"),
            }
        }
        let out = collect_slot(&events, 4);
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
