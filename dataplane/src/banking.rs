//! The banking stage: the leader's execute → record → commit loop.
//!
//! Verified transfers queue in the Sealevel [`Scheduler`], which hands out conflict-free batches,
//! highest compute unit price first (so under contention a paying transfer overtakes free ones).
//! Verified votes — from the control plane's vote channel or the TPU alike — wait apart, in the
//! [`VoteQueue`] (the newest vote per vote account), and every batch of a slot first takes all of
//! them, ahead of any transfer: votes never wait behind transfers nor lose their room to them.
//! Each batch is executed on the [`Executor`]'s workers against the working bank without changing it,
//! its included transactions are mixed into the PoH chain as one entry, and only once PoH has accepted
//! the entry are the results committed to the bank. A batch PoH refuses (the slot ended meanwhile)
//! goes back to the front of the queue for the next slot, so nothing is lost at slot boundaries.
//!
//! When PoH reports the slot's last tick, the stage freezes the bank (bank hash), hands it to the
//! ledger stage for storage and opens the next slot on top of it, as long as the control plane's
//! [`LeadCommand`] covers that slot. Between leader windows the stage holds verified transactions
//! (bounded) while the node leads soon, and otherwise forwards them to the leader of the moment
//! (Gulf Stream, see [`crate::forward`]) when it has a [`Forwarder`] and the control plane has set
//! its target.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{never, select, Receiver, Sender, TrySendError};

use crate::bank::{Bank, TxExecution};
use crate::bank_forks::BankForks;
use crate::forward::{ForwardTarget, Forwarder};
use crate::metrics::{Reject, RejectCounters};
use crate::poh_service::{PohCommand, PohHandle, RecordError};
use crate::sealevel::{Executor, Scheduler};
use crate::sigverify::Admission;
use crate::txn::Txn;
use crate::types::{Hash, Pubkey, Slot};
use crate::vote_queue::VoteQueue;

/// Verified transactions the scheduler may hold before new arrivals are refused, by default
/// (`performance.pending_transactions_max` sets it: [`BankingConfig::pending_txns_max`]).
pub const PENDING_TXNS_MAX: usize = 262_144;
/// Verified votes the control plane may queue to the banking stage before its sends fail.
pub const VOTE_CHANNEL_CAPACITY: usize = 4_096;

/// Where a slot's ledger stage learns what the banking stage did.
#[derive(Debug)]
pub enum BankingOutput {
    /// Results of one recorded and committed batch, in record order (included transactions only).
    Committed {
        /// The slot whose bank took the batch.
        slot: Slot,
        /// One result per included transaction, in entry order.
        executions: Vec<TxExecution>,
    },
    /// The slot is complete and its bank frozen: store it.
    Frozen {
        /// The frozen bank.
        bank: Arc<Bank>,
    },
}

/// PoH's end-of-slot signal, forwarded by the ledger stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotEnded {
    /// The slot PoH finished.
    pub slot: Slot,
    /// Its blockhash (the last tick's hash).
    pub blockhash: Hash,
}

/// The control plane's order to lead: slots `first..=last`, the first built on the frozen `parent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadCommand {
    /// First slot to produce.
    pub first: Slot,
    /// Last slot of the window (`Slot(u64::MAX)`: lead until stopped, as a lone validator does).
    pub last: Slot,
    /// The slot whose frozen bank the first slot extends.
    pub parent: Slot,
}

/// The stage's settings.
#[derive(Debug, Clone)]
pub struct BankingConfig {
    /// This node's identity: the collector of its slots' fees.
    pub identity: Pubkey,
    /// Most transactions per batch (and so per entry).
    pub batch_size_max: usize,
    /// Sealevel worker threads besides the banking thread itself.
    pub exec_threads: usize,
    /// Genesis creation time: slot `s` starts at `genesis_unix_ms + s × slot_duration_ms`.
    pub genesis_unix_ms: u64,
    /// Slot length.
    pub slot_duration_ms: u64,
    /// Verified transfers the scheduler may hold; arrivals past it are refused (counted as
    /// `queue_full`). [`PENDING_TXNS_MAX`] by default.
    pub pending_txns_max: usize,
}

/// Channels and shared state the stage runs with.
pub struct BankingChannels {
    /// Verified transactions (sigverify stage and RPC); votes among them go to the vote queue.
    pub txns: Receiver<Vec<Txn>>,
    /// Verified vote transactions from the control plane (this node's and gossiped votes).
    pub votes: Receiver<Txn>,
    /// End-of-slot signals.
    pub slot_ended: Receiver<SlotEnded>,
    /// Orders to lead.
    pub lead: Receiver<LeadCommand>,
    /// To the ledger stage.
    pub output: Sender<BankingOutput>,
    /// The PoH thread.
    pub poh: PohHandle,
    /// All live banks (shared with RPC readers).
    pub forks: Arc<RwLock<BankForks>>,
    /// The slot being produced, for readers that want the working bank.
    pub working_slot: Arc<AtomicU64>,
    /// Rejection counters.
    pub counters: Arc<RejectCounters>,
    /// Sends held transactions on to other leaders (none: hold them for this node's next turn).
    pub forwarder: Option<Forwarder>,
    /// The forwarder's target from the control plane (`None`: hold), newest wins.
    pub forward_to: Receiver<Option<ForwardTarget>>,
    /// Sigverify's admission: the transfers the scheduler holds and how fast it drains them.
    pub admission: Arc<Admission>,
    /// Set to stop.
    pub exit: Arc<AtomicBool>,
}

/// The running stage.
pub struct BankingStage {
    thread: JoinHandle<()>,
}

impl BankingStage {
    /// Starts the stage; it leads when a [`LeadCommand`] arrives.
    pub fn spawn(
        config: BankingConfig,
        channels: BankingChannels,
    ) -> std::io::Result<BankingStage> {
        let thread = std::thread::Builder::new()
            .name("bbBanking".into())
            .spawn(move || {
                crate::cores::set_current_thread_nice(crate::cores::LEADER_PATH_NICE, "banking");
                let mut stage = Banking::new(config, channels);
                if let Err(e) = stage.run() {
                    tracing::error!("banking stage stopped: {e}");
                    stage.ch.exit.store(true, Ordering::Relaxed);
                }
            })?;
        Ok(BankingStage { thread })
    }

    /// Waits for the thread to end (set `exit` first).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Why the stage stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum BankingError {
    /// PoH refused a slot command.
    #[error("poh: {0}")]
    Poh(#[from] crate::poh_service::PohCommandError),
    /// A commit after a successful record failed: the bank and the PoH chain would disagree.
    #[error("commit after record failed in slot {slot}: {source}")]
    Commit {
        /// The slot.
        slot: Slot,
        /// Cause (boxed: it carries signatures).
        source: Box<crate::bank::CommitError>,
    },
    /// PoH reported the end of a slot this stage was not producing.
    #[error("PoH ended slot {ended}, but the banking stage is producing slot {working}")]
    SlotMismatch {
        /// Slot PoH ended.
        ended: Slot,
        /// Slot in progress here.
        working: Slot,
    },
}

struct Banking {
    config: BankingConfig,
    ch: BankingChannels,
    scheduler: Scheduler,
    votes: VoteQueue,
    executor: Executor,
    batch: Vec<Txn>,
    /// The slot being measured for the drain rate (see [`DrainMeter`]).
    drain: DrainMeter,
    /// When sigverify's admission was last given the recent blockhashes.
    blockhashes_published: Option<Instant>,
}

/// How often sigverify's admission is given the newest bank's blockhashes (a slot's part).
const BLOCKHASHES_PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Measures how fast the banking stage drains its queue while it has work all slot long: the rate
/// that sigverify's [`Admission`] sizes the backlog by.
#[derive(Debug, Default)]
struct DrainMeter {
    /// When the slot being measured opened.
    opened: Option<Instant>,
    /// Transactions taken from the queue in it.
    taken: usize,
    /// The queue ran dry in it: the slot shows the offered rate, not the drain rate.
    went_idle: bool,
    /// Transactions a second, smoothed over busy slots.
    rate: Option<f64>,
}

impl DrainMeter {
    /// Weight of the newest busy slot in the smoothed rate.
    const WEIGHT: f64 = 0.3;

    fn open(&mut self) {
        self.opened = Some(Instant::now());
        self.taken = 0;
        self.went_idle = false;
    }

    /// Closes the slot; the smoothed rate when it was busy to the end.
    fn close(&mut self, still_queued: bool) -> Option<f64> {
        let opened = self.opened.take()?;
        let elapsed = opened.elapsed().as_secs_f64();
        if self.went_idle || !still_queued || self.taken == 0 || elapsed <= 0.0 {
            return None;
        }
        let sample = self.taken as f64 / elapsed;
        let rate = match self.rate {
            Some(r) => r + Self::WEIGHT * (sample - r),
            None => sample,
        };
        self.rate = Some(rate);
        Some(rate)
    }
}

impl Banking {
    fn new(config: BankingConfig, ch: BankingChannels) -> Banking {
        Banking {
            scheduler: Scheduler::new(config.batch_size_max),
            votes: VoteQueue::default(),
            executor: Executor::new(config.exec_threads),
            batch: Vec::with_capacity(config.batch_size_max),
            drain: DrainMeter::default(),
            blockhashes_published: None,
            config,
            ch,
        }
    }

    /// Gives sigverify's admission the newest frozen bank's blockhashes, every
    /// [`BLOCKHASHES_PUBLISH_EVERY`]: what it dates arriving transactions by.
    fn publish_blockhashes(&mut self) {
        if self
            .blockhashes_published
            .is_some_and(|at| at.elapsed() < BLOCKHASHES_PUBLISH_EVERY)
        {
            return;
        }
        self.blockhashes_published = Some(Instant::now());
        let newest = self
            .ch
            .forks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .highest_frozen();
        self.ch
            .admission
            .set_blockhashes(Arc::new(newest.recent_blockhashes()));
    }

    /// When `slot` is due, as an `Instant` (in the past if it already started).
    fn slot_start(&self, slot: Slot) -> Instant {
        let due_ms = self
            .config
            .genesis_unix_ms
            .saturating_add(slot.0.saturating_mul(self.config.slot_duration_ms));
        let now_ms = unix_now_ms();
        let now = Instant::now();
        if due_ms >= now_ms {
            now + Duration::from_millis(due_ms - now_ms)
        } else {
            now.checked_sub(Duration::from_millis(now_ms - due_ms))
                .unwrap_or(now)
        }
    }

    /// Opens `slot` on `parent`, or returns `None` when the fork tree no longer allows it: while a
    /// slow leader finished its previous slot, the cluster may have rooted past its fork (pruning
    /// the parent) or produced the slot already. Leading then stops until the next command; only a
    /// dead PoH thread stops the stage.
    fn open_slot(
        &mut self,
        parent: &Arc<Bank>,
        slot: Slot,
    ) -> Result<Option<Arc<Bank>>, BankingError> {
        let child = {
            let mut forks = self.ch.forks.write().unwrap_or_else(|e| e.into_inner());
            forks.new_child(parent.slot(), slot, self.config.identity)
        };
        let bank = match child {
            Ok(bank) => bank,
            Err(e) => {
                tracing::warn!(slot = slot.0, parent = parent.slot().0, "not leading: {e}");
                return Ok(None);
            }
        };
        self.ch.working_slot.store(slot.0, Ordering::Release);
        self.drain.open();
        let parent_blockhash = parent
            .blockhash()
            .unwrap_or_else(|| parent.last_blockhash());
        self.ch.poh.send(PohCommand::StartSlot {
            slot,
            parent_slot: parent.slot(),
            parent_blockhash,
            slot_start: self.slot_start(slot),
        })?;
        tracing::debug!(slot = slot.0, parent = parent.slot().0, "leading slot");
        Ok(Some(bank))
    }

    fn run(&mut self) -> Result<(), BankingError> {
        // The slot being produced and the last slot of the window.
        let mut working: Option<(Arc<Bank>, Slot)> = None;
        let mut slot_open = false;
        while !self.ch.exit.load(Ordering::Relaxed) {
            // Take what has arrived without blocking.
            while let Ok(txns) = self.ch.txns.try_recv() {
                self.enqueue(txns);
            }
            self.ch.admission.set_backlog(self.scheduler.len());
            self.publish_blockhashes();
            while let Ok(vote) = self.ch.votes.try_recv() {
                self.queue_vote(vote);
            }
            while let Ok(target) = self.ch.forward_to.try_recv() {
                self.set_forward_target(target);
            }
            if working.is_none() {
                if let Ok(cmd) = self.ch.lead.try_recv() {
                    working = self.start_window(cmd)?;
                    slot_open = working.is_some();
                    continue;
                }
                self.forward_held();
            }
            if let Some((bank, last)) = working.take() {
                if let Ok(end) = self.ch.slot_ended.try_recv() {
                    working = self.finish_slot(&bank, end, last)?;
                    slot_open = true;
                    continue;
                }
                if slot_open && !(self.scheduler.is_empty() && self.votes.is_empty()) {
                    slot_open = self.process_batch(&bank)?;
                    working = Some((bank, last));
                    continue;
                }
                if slot_open {
                    self.drain.went_idle = true;
                }
                working = Some((bank, last));
            }
            // Idle (or waiting for PoH to close the slot): block until something arrives.
            select! {
                recv(self.ch.txns) -> m => if let Ok(txns) = m { self.enqueue(txns) },
                recv(self.ch.votes) -> m => match m {
                    Ok(vote) => self.queue_vote(vote),
                    // The control plane is gone: stop waking up for its channel.
                    Err(_) => self.ch.votes = never(),
                },
                recv(self.ch.slot_ended) -> m => if let Ok(end) = m {
                    if let Some((bank, last)) = working.take() {
                        working = self.finish_slot(&bank, end, last)?;
                        slot_open = true;
                    }
                },
                recv(self.ch.forward_to) -> m => match m {
                    Ok(target) => self.set_forward_target(target),
                    Err(_) => self.ch.forward_to = never(),
                },
                recv(self.ch.lead) -> m => if let Ok(cmd) = m {
                    if working.is_none() {
                        working = self.start_window(cmd)?;
                        slot_open = working.is_some();
                    } else {
                        tracing::warn!(first = cmd.first.0, "lead command while leading; ignored");
                    }
                },
                default(Duration::from_millis(20)) => {}
            }
        }
        Ok(())
    }

    /// Opens the first slot of a leader window, unless its parent is gone (pruned, or never
    /// replayed) or the slot is not above it: then the window is skipped, with a warning.
    fn start_window(
        &mut self,
        cmd: LeadCommand,
    ) -> Result<Option<(Arc<Bank>, Slot)>, BankingError> {
        let parent = self
            .ch
            .forks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(cmd.parent);
        match parent {
            Some(parent)
                if parent.is_frozen() && cmd.first > parent.slot() && cmd.first <= cmd.last =>
            {
                let bank = self.open_slot(&parent, cmd.first)?;
                Ok(bank.map(|b| (b, cmd.last)))
            }
            _ => {
                tracing::warn!(
                    first = cmd.first.0,
                    parent = cmd.parent.0,
                    "cannot lead: the parent is not a frozen live bank below the first slot"
                );
                Ok(None)
            }
        }
    }

    /// Takes the control plane's newest forwarding target (without a forwarder: ignored).
    fn set_forward_target(&mut self, target: Option<ForwardTarget>) {
        if let Some(forwarder) = self.ch.forwarder.as_mut() {
            forwarder.set_target(target);
            // What another validator forwarded here is dropped while there is a target (see
            // `forward_held`): sigverify need not verify it first.
            self.ch.admission.set_forwarding(target.is_some());
        }
    }

    /// Outside a leader window: sends every held transaction that no other validator forwarded here
    /// to the forwarder's target, and drops the rest; unless it has no target (hold them: this node
    /// leads now or next).
    fn forward_held(&mut self) {
        if self.scheduler.is_empty() {
            return;
        }
        let Some(forwarder) = self.ch.forwarder.as_mut() else {
            return;
        };
        if let Some(to) = forwarder.target() {
            // What another validator forwarded here goes no further (Agave does the same): a
            // leftover otherwise travels the whole rotation, verified again by every leader,
            // and under overload those repeats take the cores that block production needs.
            let (again, fresh): (Vec<Txn>, Vec<Txn>) =
                self.scheduler.drain().partition(Txn::is_forwarded);
            forwarder.drop_forwarded(again.len());
            forwarder.send(fresh, to);
        }
    }

    /// Queues verified transactions: votes to the vote queue, transfers to the scheduler (refusing
    /// what does not fit, counted).
    fn enqueue(&mut self, mut txns: Vec<Txn>) {
        if txns.iter().any(Txn::is_vote) {
            let (votes, transfers): (Vec<Txn>, Vec<Txn>) = txns.into_iter().partition(Txn::is_vote);
            for vote in votes {
                self.queue_vote(vote);
            }
            txns = transfers;
        }
        // Past the admission bound sigverify lets only paying transfers through: each takes the
        // place of a waiting free one, so the backlog stays near its bound, paying ones first.
        let paying = txns.iter().filter(|t| t.priority() > 0).count();
        if paying > 0 {
            let excess =
                (self.scheduler.len() + txns.len()).saturating_sub(self.ch.admission.limit());
            let evicted = self.scheduler.evict_free(excess.min(paying));
            if evicted > 0 {
                self.ch.counters.add_n(Reject::QueueFull, evicted as u64);
            }
        }
        let room = self
            .config
            .pending_txns_max
            .saturating_sub(self.scheduler.len());
        if txns.len() > room {
            self.ch
                .counters
                .add_n(Reject::QueueFull, (txns.len() - room) as u64);
            self.scheduler.extend(txns.into_iter().take(room));
        } else {
            self.scheduler.extend(txns);
        }
    }

    /// Keeps a verified vote if it is its account's newest; one dropped for room is counted.
    fn queue_vote(&mut self, vote: Txn) {
        if self.votes.push(vote).dropped_for_room() {
            self.ch.counters.add(Reject::VoteQueueFull);
        }
    }

    /// Executes, records and commits one batch; false when PoH says the slot has ended. Queued votes
    /// go ahead of every waiting transfer.
    fn process_batch(&mut self, bank: &Arc<Bank>) -> Result<bool, BankingError> {
        if !self.votes.is_empty() {
            self.scheduler.requeue_front(self.votes.drain());
        }
        self.batch.clear();
        let taken = self.scheduler.next_batch(&mut self.batch);
        if taken == 0 {
            return Ok(true);
        }
        self.drain.taken += taken;
        let txs = Arc::new(std::mem::take(&mut self.batch));
        let executed = self.executor.execute(bank, &txs);
        let mut included = Vec::with_capacity(executed.len());
        let mut results = Vec::with_capacity(executed.len());
        for (tx, e) in txs.iter().zip(executed.executions()) {
            if e.is_included() {
                included.push(tx.clone());
                results.push(e.clone());
            } else if let Some(reason) = e.status.as_ref().err().and_then(|err| err.reject_reason())
            {
                self.ch.counters.add(reason);
            }
        }
        if included.is_empty() {
            self.batch = Arc::try_unwrap(txs).unwrap_or_default();
            return Ok(true);
        }
        match self.ch.poh.record_or_return(bank.slot(), included) {
            Ok(()) => {
                bank.commit(&txs, &executed)
                    .map_err(|source| BankingError::Commit {
                        slot: bank.slot(),
                        source: Box::new(source),
                    })?;
                let _ = self.ch.output.send(BankingOutput::Committed {
                    slot: bank.slot(),
                    executions: results,
                });
                self.batch = Arc::try_unwrap(txs).unwrap_or_default();
                Ok(true)
            }
            Err((e, included)) => {
                // The slot ended before PoH could take the batch: its includable transactions wait
                // for the next slot (the others were refused and counted above), votes in the vote
                // queue, where a newer vote of the same account may have arrived meanwhile.
                if !matches!(e, RecordError::SlotEnded | RecordError::NotLeading) {
                    tracing::warn!(slot = bank.slot().0, "PoH refused a batch: {e}");
                }
                let (votes, transfers): (Vec<Txn>, Vec<Txn>) =
                    included.into_iter().partition(Txn::is_vote);
                self.scheduler.requeue_front(transfers);
                for vote in votes {
                    self.queue_vote(vote);
                }
                Ok(false)
            }
        }
    }

    /// Freezes the finished bank, hands it to the ledger stage and opens the next slot when the
    /// window goes on.
    fn finish_slot(
        &mut self,
        bank: &Arc<Bank>,
        end: SlotEnded,
        last: Slot,
    ) -> Result<Option<(Arc<Bank>, Slot)>, BankingError> {
        if end.slot != bank.slot() {
            return Err(BankingError::SlotMismatch {
                ended: end.slot,
                working: bank.slot(),
            });
        }
        bank.freeze(end.blockhash);
        if let Some(rate) = self.drain.close(!self.scheduler.is_empty()) {
            self.ch.admission.set_drain_rate(rate);
        }
        let _ = self
            .ch
            .output
            .send(BankingOutput::Frozen { bank: bank.clone() });
        if bank.slot() >= last {
            return Ok(None);
        }
        let next = self.open_slot(bank, bank.slot().next())?;
        Ok(next.map(|b| (b, last)))
    }
}

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before it).
fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Sends without blocking; a full queue counts as `QueueFull`.
pub fn offer(
    tx: &Sender<Vec<Txn>>,
    txns: Vec<Txn>,
    counters: &RejectCounters,
) -> Result<(), Vec<Txn>> {
    match tx.try_send(txns) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(t)) | Err(TrySendError::Disconnected(t)) => {
            counters.add_n(Reject::QueueFull, t.len() as u64);
            Err(t)
        }
    }
}

#[cfg(test)]
mod tests;
