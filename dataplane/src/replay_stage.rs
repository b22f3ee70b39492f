//! Validator replay: a block that arrived as shreds (reassembled into its slot stream) is decoded,
//! checked and re-executed on its parent's bank; only a block that passes every check is stored and
//! joins the fork tree. A block that fails any check is marked dead — stored as such with its reason,
//! counted, never applied and never built on — and so is every block that descends from it.
//!
//! Checks, cheapest first: the stream decodes (bounded), the tick count and hashes-per-tick match the
//! slot distance to the parent, the PoH chain verifies from the parent's blockhash (in parallel), every
//! transaction signature passes `verify_strict` (in parallel), every entry re-executes without lock
//! conflicts or excluded transactions, and the recomputed bank hash equals the leader's claim in the
//! stream's footer.
//!
//! A block whose parent is not replayed yet waits (bounded) until the parent arrives.
//!
//! A checked block joins the fork tree at once and is stored by a writer thread while the next
//! queued block is checked: storing costs about a quarter of a block's replay, and a leader overlaps
//! it with producing the next block, so a validator that did both in turn would replay slower than
//! leaders produce and fall behind for good. A block is reported only once it is stored.
//!
//! Replay never roots: a replayed block is stored unrooted and reported as
//! [`DataEvent::BankFrozen`]; the root moves only when the control plane commands it (see
//! [`crate::ledger_stage`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender, TryRecvError};

use crate::bank::Bank;
use crate::bank_forks::{BankForks, ForkError};
use crate::block::decode_slot_stream;
use crate::genesis::Genesis;
use crate::ledger_stage::build_commit;
use crate::plane::{BankFrozen, DataEvent};
use crate::replay::{replay_block, BlockClaim, ReplayError, SignatureCheck};
use crate::sealevel::Executor;
use crate::store::{SlotCommit, Store, StoreError};
use crate::types::{Hash, Pubkey, Slot};

/// Blocks held while their parent is missing, at most.
pub const PENDING_BLOCKS_MAX: usize = 512;

/// A block reassembled from shreds, not yet checked beyond its shreds' signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedBlock {
    /// The slot.
    pub slot: Slot,
    /// The parent slot its shreds name.
    pub parent: Slot,
    /// The slot's scheduled leader (whose signature the shreds carry).
    pub leader: Pubkey,
    /// The slot stream (entries then footer, see [`crate::block`]).
    pub stream: Vec<u8>,
    /// Its data shreds in index order, stored with the block so peers can repair from us.
    pub data_shreds: Vec<Vec<u8>>,
    /// Merkle root of its last FEC set.
    pub last_fec_root: Option<Hash>,
}

/// Why a block is dead: one name per check, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeadReason {
    /// The slot stream does not decode.
    Codec,
    /// Wrong tick count or hashes per tick.
    Ticks,
    /// The PoH chain does not verify.
    Poh,
    /// A transaction signature does not verify.
    Signature,
    /// An entry cannot be executed as the leader claims (conflicts, excluded transactions).
    Execute,
    /// Re-execution reaches another bank hash than the leader claims.
    BankHash,
    /// Its parent is dead.
    DeadParent,
    /// Its parent is older than the root and not on the rooted chain.
    NotOnRootedChain,
    /// Anything else replay refused.
    Other,
}

impl DeadReason {
    /// Stable name for logs and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            DeadReason::Codec => "codec",
            DeadReason::Ticks => "ticks",
            DeadReason::Poh => "poh",
            DeadReason::Signature => "signature",
            DeadReason::Execute => "execute",
            DeadReason::BankHash => "bank_hash",
            DeadReason::DeadParent => "dead_parent",
            DeadReason::NotOnRootedChain => "not_on_rooted_chain",
            DeadReason::Other => "other",
        }
    }

    fn of(e: &ReplayError) -> DeadReason {
        match e {
            ReplayError::Codec { .. } => DeadReason::Codec,
            ReplayError::Ticks { .. } => DeadReason::Ticks,
            ReplayError::Poh { .. } => DeadReason::Poh,
            ReplayError::Signature { .. } => DeadReason::Signature,
            ReplayError::Execute { .. } => DeadReason::Execute,
            ReplayError::BankHashMismatch { .. } => DeadReason::BankHash,
            // The root moved off the parent's fork while the block was being checked.
            ReplayError::Parent {
                source: crate::bank::BankError::ParentPruned { .. },
                ..
            } => DeadReason::NotOnRootedChain,
            _ => DeadReason::Other,
        }
    }
}

/// What became of one received block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// Replayed, stored and added to the fork tree.
    Replayed {
        /// The frozen bank's report (block id and leader from the received block).
        frozen: BankFrozen,
        /// Its transactions.
        transactions: u32,
    },
    /// Refused and marked dead.
    Dead {
        /// The slot.
        slot: Slot,
        /// Which check failed.
        reason: DeadReason,
    },
    /// Held until its parent is replayed.
    WaitingForParent {
        /// The slot.
        slot: Slot,
        /// The missing parent.
        parent: Slot,
    },
    /// Already replayed, dead or at/below the root: nothing to do.
    AlreadyKnown(Slot),
}

/// Replay counters.
#[derive(Debug, Default)]
pub struct ReplayStats {
    /// Blocks replayed and stored.
    pub replayed: AtomicU64,
    /// Transactions in replayed blocks.
    pub transactions: AtomicU64,
    /// Blocks marked dead.
    pub dead: AtomicU64,
    /// Blocks waiting for their parent right now.
    pub waiting: AtomicU64,
    dead_by_reason: RwLock<BTreeMap<DeadReason, u64>>,
}

impl ReplayStats {
    /// Dead blocks by reason, for metrics.
    pub fn dead_by_reason(&self) -> Vec<(&'static str, u64)> {
        self.dead_by_reason
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(r, n)| (r.name(), *n))
            .collect()
    }

    fn count_dead(&self, reason: DeadReason) {
        self.dead.fetch_add(1, Ordering::Relaxed);
        *self
            .dead_by_reason
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }
}

/// Replays received blocks against the live fork tree and the ledger (used by [`ReplayStage`], and
/// directly by tests and the `replay` bench).
pub struct Replayer {
    genesis: Genesis,
    forks: Arc<RwLock<BankForks>>,
    store: Arc<Store>,
    executor: Executor,
    verify_threads: usize,
    /// Blocks waiting for their parent, by parent slot.
    pending: HashMap<Slot, Vec<ReceivedBlock>>,
    pending_count: usize,
    /// Stores checked blocks while the next one is checked; `None` if its thread could not start
    /// (then blocks are stored inline).
    writer: Option<StoreWriter>,
    /// Outcomes not reported yet, in replay order; `true` while the block is still being stored.
    unreported: VecDeque<(bool, ReplayOutcome)>,
    /// Outcomes ready to report.
    settled: Vec<ReplayOutcome>,
    stats: Arc<ReplayStats>,
}

/// The thread that stores replayed blocks, in order, each acknowledged when durable.
struct StoreWriter {
    commits: Option<Sender<SlotCommit>>,
    stored: Receiver<Result<(), StoreError>>,
    thread: Option<JoinHandle<()>>,
}

impl StoreWriter {
    fn spawn(store: Arc<Store>) -> std::io::Result<StoreWriter> {
        // One block stored while one more waits: enough to keep the checks busy, and a bound on
        // how far the fork tree runs ahead of the ledger.
        let (commits, to_store) = bounded::<SlotCommit>(1);
        let (acks, stored) = unbounded();
        let thread = std::thread::Builder::new()
            .name("bb-replay-store".into())
            .spawn(move || {
                // Each commit is acknowledged with its result, a failure too: the replay thread stops
                // on the first failure it is told of.
                for commit in to_store {
                    if acks.send(store.commit_slot(&commit)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(StoreWriter {
            commits: Some(commits),
            stored,
            thread: Some(thread),
        })
    }

    /// The next acknowledgement, waiting for it if `wait`; `None` if there is none yet.
    fn next(&mut self, wait: bool) -> Option<Result<(), StoreError>> {
        let ack = if wait {
            self.stored.recv().map_err(|_| TryRecvError::Disconnected)
        } else {
            self.stored.try_recv()
        };
        match ack {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                // It ends only when its queue closes (on drop), so this was a panic: it surfaces
                // here as it would have inline.
                if let Some(Err(panic)) = self.thread.take().map(JoinHandle::join) {
                    std::panic::resume_unwind(panic);
                }
                unreachable!("the replay store writer ended without acknowledging a commit")
            }
        }
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread once what is queued is stored.
        self.commits = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Replayer {
    /// A replayer over `forks` and `store`, verifying on `verify_threads` threads and executing with
    /// `exec_threads` Sealevel workers besides the calling thread.
    pub fn new(
        genesis: Genesis,
        forks: Arc<RwLock<BankForks>>,
        store: Arc<Store>,
        verify_threads: usize,
        exec_threads: usize,
    ) -> Replayer {
        Replayer {
            genesis,
            forks,
            store: store.clone(),
            executor: Executor::new(exec_threads),
            verify_threads: verify_threads.max(1),
            pending: HashMap::new(),
            pending_count: 0,
            writer: match StoreWriter::spawn(store.clone()) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!("replay stores inline: its writer thread did not start: {e}");
                    None
                }
            },
            unreported: VecDeque::new(),
            settled: Vec::new(),
            stats: Arc::new(ReplayStats::default()),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ReplayStats> {
        &self.stats
    }

    /// Replays `block`, then every held block that was waiting for it (recursively), and waits until
    /// each is stored. Returns the outcome of each block it dealt with, `block` first. Only storage
    /// failures are errors.
    pub fn replay(&mut self, block: ReceivedBlock) -> Result<Vec<ReplayOutcome>, StoreError> {
        let mut outcomes = self.submit(block)?;
        outcomes.extend(self.finish()?);
        Ok(outcomes)
    }

    /// [`Replayer::replay`] without waiting for storage: a block that passed its checks joins the
    /// fork tree at once, so the next block can be checked while it is stored. Returns the outcomes
    /// settled so far, in replay order; a checked block's outcome only once it is stored, so nothing
    /// is reported before it is durable. [`Replayer::finish`] returns the rest.
    pub fn submit(&mut self, block: ReceivedBlock) -> Result<Vec<ReplayOutcome>, StoreError> {
        let mut queue = vec![block];
        while let Some(block) = queue.pop() {
            let slot = block.slot;
            let (outcome, commit) = self.replay_one(block)?;
            let parent_settled = matches!(
                outcome,
                ReplayOutcome::Replayed { .. } | ReplayOutcome::Dead { .. }
            );
            match commit {
                Some(commit) => self.store_then_report(commit, outcome)?,
                None => self.unreported.push_back((false, outcome)),
            }
            if parent_settled {
                if let Some(children) = self.pending.remove(&slot) {
                    self.pending_count -= children.len();
                    queue.extend(children);
                }
            }
        }
        self.stats
            .waiting
            .store(self.pending_count as u64, Ordering::Relaxed);
        self.settle(false)?;
        Ok(std::mem::take(&mut self.settled))
    }

    /// Waits until every submitted block is stored; returns the outcomes not returned yet.
    pub fn finish(&mut self) -> Result<Vec<ReplayOutcome>, StoreError> {
        self.settle(true)?;
        Ok(std::mem::take(&mut self.settled))
    }

    /// Whether a submitted block is still being stored.
    pub fn is_storing(&self) -> bool {
        self.unreported.iter().any(|(storing, _)| *storing)
    }

    /// Hands `commit` to the writer (or stores it inline without one); `outcome` is reported once
    /// it is stored.
    fn store_then_report(
        &mut self,
        commit: SlotCommit,
        outcome: ReplayOutcome,
    ) -> Result<(), StoreError> {
        let unsent = match self.writer.as_ref().and_then(|w| w.commits.as_ref()) {
            Some(commits) => commits.send(commit).err().map(|e| e.into_inner()),
            None => Some(commit),
        };
        match unsent {
            None => self.unreported.push_back((true, outcome)),
            // The writer is gone (it failed): its acknowledgement reports why, before this one.
            Some(commit) => {
                self.settle(true)?;
                self.store.commit_slot(&commit)?;
                self.unreported.push_back((false, outcome));
            }
        }
        Ok(())
    }

    /// Moves outcomes whose blocks are stored (all of them if `wait`) to `settled`, in order.
    fn settle(&mut self, wait: bool) -> Result<(), StoreError> {
        while let Some((storing, _)) = self.unreported.front() {
            if *storing {
                let Some(writer) = self.writer.as_mut() else {
                    unreachable!("a block is only stored in the background by the writer")
                };
                match writer.next(wait) {
                    Some(stored) => stored?,
                    None => break,
                }
            }
            if let Some((_, outcome)) = self.unreported.pop_front() {
                self.settled.push(outcome);
            }
        }
        Ok(())
    }

    /// Slots held because their parent is missing, with that parent (for repair).
    pub fn orphans(&self) -> Vec<(Slot, Slot)> {
        let mut v: Vec<(Slot, Slot)> = self
            .pending
            .iter()
            .flat_map(|(parent, blocks)| blocks.iter().map(move |b| (b.slot, *parent)))
            .collect();
        v.sort_unstable();
        v
    }

    /// Replays one block; a block that passed every check comes back with what must be stored.
    fn replay_one(
        &mut self,
        mut block: ReceivedBlock,
    ) -> Result<(ReplayOutcome, Option<SlotCommit>), StoreError> {
        let slot = block.slot;
        let (root, parent_bank, known) = {
            let forks = self.forks.read().unwrap_or_else(|e| e.into_inner());
            (
                forks.root(),
                forks.get(block.parent),
                forks.get(slot).is_some(),
            )
        };
        if known || slot <= root || self.store.dead_reason(slot)?.is_some() {
            return Ok((ReplayOutcome::AlreadyKnown(slot), None));
        }
        if block.parent >= slot {
            return self.dead(slot, DeadReason::Codec, "parent is not older than the slot");
        }
        let Some(parent_bank) = parent_bank else {
            if let Some(parent_reason) = self.store.dead_reason(block.parent)? {
                // A fork the root left behind takes its descendants with it: abandoned, not failed.
                if parent_reason.starts_with(DeadReason::NotOnRootedChain.name()) {
                    return self.dead(
                        slot,
                        DeadReason::NotOnRootedChain,
                        "its parent is dead, not on the rooted chain",
                    );
                }
                return self.dead(slot, DeadReason::DeadParent, "its parent is dead");
            }
            if block.parent < root {
                return self.dead(
                    slot,
                    DeadReason::NotOnRootedChain,
                    "its parent is below the root and not on the rooted chain",
                );
            }
            return Ok((self.hold(block), None));
        };
        match self.check_and_execute(&mut block, &parent_bank) {
            Ok((bank, commit)) => {
                let transactions = commit.meta.transaction_count;
                let frozen =
                    BankFrozen::new(&bank, block.last_fec_root.unwrap_or_default()).map(|f| {
                        BankFrozen {
                            leader: block.leader,
                            ..f
                        }
                    });
                // Into the fork tree before it is stored, so that its child can be checked
                // meanwhile; it is reported only once stored.
                let inserted = self
                    .forks
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(bank);
                if let Err(e) = inserted {
                    if self.parent_was_replaced(&e)? {
                        // Dropped for another version of the parent's slot while this block
                        // replayed (`ForkCommand::ReplaceBlock`): it goes with its parent, unstored.
                        tracing::warn!(slot = slot.0, "replayed block dropped: {e}");
                        return Ok((ReplayOutcome::AlreadyKnown(slot), None));
                    }
                    // The root moved past the parent while this block replayed: it is stored but
                    // can never be built on.
                    tracing::warn!(slot = slot.0, "replayed block not added to the forks: {e}");
                }
                self.stats.replayed.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .transactions
                    .fetch_add(u64::from(transactions), Ordering::Relaxed);
                let outcome = match frozen {
                    Ok(frozen) => ReplayOutcome::Replayed {
                        frozen,
                        transactions,
                    },
                    // Replay freezes every bank it checks: this cannot happen, and if it did the
                    // block would be stored but never reported.
                    Err(e) => {
                        tracing::error!(slot = slot.0, "replayed block not reported: {e}");
                        ReplayOutcome::AlreadyKnown(slot)
                    }
                };
                Ok((outcome, Some(commit)))
            }
            Err(e) => {
                let reason = DeadReason::of(&e);
                self.dead(slot, reason, &e.to_string())
            }
        }
    }

    /// Whether a refused insert's parent was dropped as the losing version of a duplicate slot:
    /// pruning by a new root keeps a block stored, only `ForkCommand::ReplaceBlock` removes an
    /// unrooted one.
    fn parent_was_replaced(&mut self, refused: &ForkError) -> Result<bool, StoreError> {
        let ForkError::UnknownParent { parent, .. } = *refused else {
            return Ok(false);
        };
        // The parent may still be on its way to storage.
        self.settle(true)?;
        let root = self.forks.read().unwrap_or_else(|e| e.into_inner()).root();
        Ok(parent > root && self.store.slot_meta(parent)?.is_none())
    }

    fn check_and_execute(
        &mut self,
        block: &mut ReceivedBlock,
        parent: &Arc<Bank>,
    ) -> Result<(Bank, SlotCommit), ReplayError> {
        let slot = block.slot;
        let (entries, footer) =
            decode_slot_stream(&block.stream).map_err(|source| ReplayError::Codec {
                slot,
                index: 0,
                source,
            })?;
        let claim = BlockClaim {
            slot,
            leader: block.leader,
            bank_hash: footer.bank_hash,
        };
        let (bank, executions) = replay_block(
            &self.genesis,
            parent,
            &claim,
            &entries,
            &mut self.executor,
            self.verify_threads,
            SignatureCheck::Verify,
        )?;
        let blockhash = bank.blockhash().unwrap_or_default();
        let mut commit = build_commit(&bank, &entries, &executions, blockhash, footer.bank_hash)?;
        commit.meta.block_time_ms = footer.block_time_ms;
        commit.root = false;
        // Moved, not copied: the block is stored once and then dropped.
        commit.data_shreds = std::mem::take(&mut block.data_shreds);
        commit.last_fec_root = block.last_fec_root;
        Ok((bank, commit))
    }

    fn hold(&mut self, block: ReceivedBlock) -> ReplayOutcome {
        let (slot, parent) = (block.slot, block.parent);
        if self.pending_count >= PENDING_BLOCKS_MAX {
            // Drop the newest-parent group's blocks last: the oldest missing parent is the one repair
            // is most likely to have given up on.
            if let Some(oldest) = self.pending.keys().min().copied() {
                if let Some(dropped) = self.pending.remove(&oldest) {
                    self.pending_count -= dropped.len();
                    tracing::warn!(
                        parent = oldest.0,
                        blocks = dropped.len(),
                        "too many blocks waiting for a parent; dropped the oldest group"
                    );
                }
            }
        }
        let group = self.pending.entry(parent).or_default();
        if !group.iter().any(|b| b.slot == slot) {
            group.push(block);
            self.pending_count += 1;
        }
        ReplayOutcome::WaitingForParent { slot, parent }
    }

    fn dead(
        &mut self,
        slot: Slot,
        reason: DeadReason,
        detail: &str,
    ) -> Result<(ReplayOutcome, Option<SlotCommit>), StoreError> {
        tracing::warn!(
            slot = slot.0,
            reason = reason.name(),
            "dead block: {detail}"
        );
        self.store
            .mark_dead(slot, &format!("{}: {detail}", reason.name()))?;
        self.stats.count_dead(reason);
        Ok((ReplayOutcome::Dead { slot, reason }, None))
    }
}

/// The replay thread: takes reassembled blocks from a queue, replays them and reports to the control
/// plane.
pub struct ReplayStage {
    thread: JoinHandle<()>,
    stats: Arc<ReplayStats>,
}

impl ReplayStage {
    /// Starts the thread (named `bb-replay`); it ends when `exit` is set or `blocks` disconnects, and
    /// sets `exit` itself if storage fails.
    pub fn spawn(
        mut replayer: Replayer,
        blocks: Receiver<ReceivedBlock>,
        events: Sender<DataEvent>,
        exit: Arc<AtomicBool>,
    ) -> std::io::Result<ReplayStage> {
        let stats = replayer.stats().clone();
        let thread = std::thread::Builder::new()
            .name("bb-replay".into())
            .spawn(move || {
                while !exit.load(Ordering::Relaxed) {
                    // While a block is being stored, the next queued one is checked meanwhile; with
                    // none queued, its outcome is reported as soon as it is stored.
                    let next = if replayer.is_storing() {
                        match blocks.try_recv() {
                            Ok(b) => Some(b),
                            Err(TryRecvError::Empty) => None,
                            Err(TryRecvError::Disconnected) => break,
                        }
                    } else {
                        match blocks.recv_timeout(Duration::from_millis(100)) {
                            Ok(b) => Some(b),
                            Err(RecvTimeoutError::Timeout) => continue,
                            Err(RecvTimeoutError::Disconnected) => break,
                        }
                    };
                    let (slot, result) = match next {
                        Some(block) => (Some(block.slot), replayer.submit(block)),
                        None => (None, replayer.finish()),
                    };
                    match result {
                        Ok(outcomes) => report(outcomes, &events),
                        Err(e) => {
                            tracing::error!(
                                slot = slot.map(|s| s.0),
                                "storing a replayed block failed: {e}"
                            );
                            exit.store(true, Ordering::Relaxed);
                        }
                    }
                }
                // What was checked is stored and reported before the thread ends.
                match replayer.finish() {
                    Ok(outcomes) => report(outcomes, &events),
                    Err(e) => tracing::error!("storing a replayed block failed: {e}"),
                }
            })?;
        Ok(ReplayStage { thread, stats })
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ReplayStats> {
        &self.stats
    }

    /// Waits for the thread to end (set `exit` first).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

fn report(outcomes: Vec<ReplayOutcome>, events: &Sender<DataEvent>) {
    for o in outcomes {
        let ev = match o {
            ReplayOutcome::Replayed {
                frozen,
                transactions,
            } => DataEvent::BankFrozen {
                frozen,
                transactions,
                own: false,
            },
            ReplayOutcome::Dead { slot, reason } => DataEvent::BlockDead {
                slot,
                reason: reason.name(),
            },
            ReplayOutcome::WaitingForParent { slot, parent } => {
                DataEvent::MissingParent { slot, parent }
            }
            ReplayOutcome::AlreadyKnown(_) => continue,
        };
        // Unbounded (see `crate::plane`): never blocks, never drops.
        let _ = events.send(ev);
    }
}

#[cfg(test)]
mod tests;
