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
//! Replay never roots: a replayed block is stored unrooted and reported as
//! [`DataEvent::BankFrozen`]; the root moves only when the control plane commands it (see
//! [`crate::ledger_stage`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

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
    stats: Arc<ReplayStats>,
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
            store,
            executor: Executor::new(exec_threads),
            verify_threads: verify_threads.max(1),
            pending: HashMap::new(),
            pending_count: 0,
            stats: Arc::new(ReplayStats::default()),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ReplayStats> {
        &self.stats
    }

    /// Replays `block`, then every held block that was waiting for it (recursively). Returns the
    /// outcome of each block it dealt with, `block` first. Only storage failures are errors.
    pub fn replay(&mut self, block: ReceivedBlock) -> Result<Vec<ReplayOutcome>, StoreError> {
        let mut outcomes = Vec::new();
        let mut queue = vec![block];
        while let Some(block) = queue.pop() {
            let slot = block.slot;
            let outcome = self.replay_one(block)?;
            let parent_settled = matches!(
                outcome,
                ReplayOutcome::Replayed { .. } | ReplayOutcome::Dead { .. }
            );
            outcomes.push(outcome);
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
        Ok(outcomes)
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

    fn replay_one(&mut self, mut block: ReceivedBlock) -> Result<ReplayOutcome, StoreError> {
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
            return Ok(ReplayOutcome::AlreadyKnown(slot));
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
            return Ok(self.hold(block));
        };
        match self.check_and_execute(&mut block, &parent_bank) {
            Ok((bank, commit)) => {
                self.store.commit_slot(&commit)?;
                let transactions = commit.meta.transaction_count;
                let frozen =
                    BankFrozen::new(&bank, block.last_fec_root.unwrap_or_default()).map(|f| {
                        BankFrozen {
                            leader: block.leader,
                            ..f
                        }
                    });
                let inserted = self
                    .forks
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(bank);
                if let Err(e) = inserted {
                    if self.parent_was_replaced(&e)? {
                        // Dropped for another version of the parent's slot while this block
                        // replayed (`ForkCommand::ReplaceBlock`): it goes with its parent.
                        tracing::warn!(slot = slot.0, "replayed block dropped: {e}");
                        match self.store.remove_block(slot) {
                            Ok(_) | Err(StoreError::AtOrBelowRoot { .. }) => {}
                            Err(e) => return Err(e),
                        }
                        return Ok(ReplayOutcome::AlreadyKnown(slot));
                    }
                    // The root moved past the parent while this block replayed: it is stored but
                    // can never be built on.
                    tracing::warn!(slot = slot.0, "replayed block not added to the forks: {e}");
                }
                self.stats.replayed.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .transactions
                    .fetch_add(u64::from(transactions), Ordering::Relaxed);
                match frozen {
                    Ok(frozen) => Ok(ReplayOutcome::Replayed {
                        frozen,
                        transactions,
                    }),
                    // Replay freezes every bank it checks: this cannot happen, and if it did the
                    // block would be stored but never reported.
                    Err(e) => {
                        tracing::error!(slot = slot.0, "replayed block not reported: {e}");
                        Ok(ReplayOutcome::AlreadyKnown(slot))
                    }
                }
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
    fn parent_was_replaced(&self, refused: &ForkError) -> Result<bool, StoreError> {
        let ForkError::UnknownParent { parent, .. } = *refused else {
            return Ok(false);
        };
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
    ) -> Result<ReplayOutcome, StoreError> {
        tracing::warn!(
            slot = slot.0,
            reason = reason.name(),
            "dead block: {detail}"
        );
        self.store
            .mark_dead(slot, &format!("{}: {detail}", reason.name()))?;
        self.stats.count_dead(reason);
        Ok(ReplayOutcome::Dead { slot, reason })
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
                    let block = match blocks.recv_timeout(Duration::from_millis(100)) {
                        Ok(b) => b,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    let slot = block.slot;
                    match replayer.replay(block) {
                        Ok(outcomes) => report(outcomes, &events),
                        Err(e) => {
                            tracing::error!(slot = slot.0, "storing a replayed block failed: {e}");
                            exit.store(true, Ordering::Relaxed);
                        }
                    }
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
