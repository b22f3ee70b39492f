//! The ledger stage: assembles each slot's block from the PoH entries, stores it with its state
//! changes in one redb transaction (unrooted), tells the control plane, and moves the root when —
//! and only when — the control plane commands it.
//!
//! It sits behind PoH (draining its events so the PoH thread never waits) and beside the banking
//! stage (forwarding PoH's end-of-slot signal to it and receiving the frozen bank back). It is the
//! single owner of the root: [`ForkCommand::SetRoot`] is applied here alone, storage first
//! (`Store::set_root`), then the fork tree (`BankForks::set_root`), then the published root slot,
//! then [`DataEvent::Rooted`]. Nothing roots implicitly.
//!
//! It also applies [`ForkCommand::ReplaceBlock`]: the losing version of a duplicate slot and every
//! block built on it leave the store and the fork tree, and the shred receive path hears of it
//! ([`ReplacedBlocks`]) so that it takes the confirmed version and has repair fetch it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{never, select, Receiver, Sender};

use crate::bank::{Bank, TxExecution};
use crate::bank_forks::{BankForks, ForkError};
use crate::banking::{BankingOutput, SlotEnded};
use crate::block::{encode_entry, encode_stream_entry, encode_stream_footer, SlotFooter};
use crate::entry::Entry;
use crate::plane::{BankFrozen, DataEvent, ForkCommand, ReplacedBlocks};
use crate::poh_service::PohEvent;
use crate::prioritization_fees::SlotPrioritizationFees;
use crate::shred::{FecConfig, Root, ShredKind, ShredView, Shredder, SHRED_SIZE};
use crate::store::{
    block_position, AddressSignature, SlotCommit, SlotMeta, Store, StoreError, TxStatusRecord,
};
use crate::types::{Hash, Signature, Slot};
use ed25519_dalek::SigningKey;

/// Fork commands queued to the ledger stage at most (the control plane roots at most once per
/// slot; the stage drains them between blocks).
pub const FORK_COMMANDS_MAX: usize = 1_024;

/// Channels and shared state the stage runs with.
pub struct LedgerChannels {
    /// From the PoH thread.
    pub poh_events: Receiver<PohEvent>,
    /// From the banking stage.
    pub banking: Receiver<BankingOutput>,
    /// To the banking stage: PoH finished a slot.
    pub slot_ended: Sender<SlotEnded>,
    /// Commands from the control plane (root moves).
    pub commands: Receiver<ForkCommand>,
    /// To the control plane (unbounded: see [`crate::plane`]).
    pub events: Sender<DataEvent>,
    /// Live banks (rooted here, and only here).
    pub forks: Arc<RwLock<BankForks>>,
    /// The ledger.
    pub store: Arc<Store>,
    /// Newest rooted slot, for readers.
    pub root_slot: Arc<AtomicU64>,
    /// Set to stop; also set by this stage when storage fails.
    pub exit: Arc<AtomicBool>,
    /// Shred each slot as it is produced and hand the FEC sets to broadcast (clusters of more than
    /// one validator).
    pub shredding: Option<LedgerShredding>,
}

/// How the ledger stage shreds the slots it produces.
pub struct LedgerShredding {
    /// The leader's identity key (signs every FEC set's Merkle root).
    pub keypair: SigningKey,
    /// The cluster's shred version.
    pub shred_version: u16,
    /// FEC set shape.
    pub fec: FecConfig,
    /// Chained root of a slot whose parent has none (genesis): the genesis hash.
    pub genesis_hash: Hash,
    /// FEC sets out, to the broadcast thread.
    pub sets: Sender<Vec<[u8; SHRED_SIZE]>>,
    /// To the shred receive path: blocks dropped for another version of their slot (bounded by
    /// [`crate::plane::REPLACED_QUEUED_MAX`]; never waited on).
    pub replaced: Sender<ReplacedBlocks>,
}

/// A slot being shredded.
struct SlotShreds {
    shredder: Shredder,
    /// Its data shreds so far, stored with the block for repair.
    data: Vec<Vec<u8>>,
}

/// Last FEC roots of recent own slots remembered, so the next slot chains without a store read.
const LAST_ROOTS_KEPT: usize = 64;
/// Slots dropped by [`ForkCommand::ReplaceBlock`] remembered (above the root), so that an own block
/// built on a dropped version and frozen afterwards is not stored.
const REPLACED_KEPT: usize = 1_024;

/// The running stage.
pub struct LedgerStage {
    thread: JoinHandle<()>,
}

impl LedgerStage {
    /// Starts the stage's thread.
    pub fn spawn(ch: LedgerChannels) -> std::io::Result<LedgerStage> {
        let thread = std::thread::Builder::new()
            .name("bbLedger".into())
            .spawn(move || {
                let mut stage = Ledger {
                    ch,
                    entries: BTreeMap::new(),
                    executions: HashMap::new(),
                    shreds: BTreeMap::new(),
                    last_roots: BTreeMap::new(),
                    replaced: BTreeSet::new(),
                    buf: Vec::new(),
                };
                stage.run();
            })?;
        Ok(LedgerStage { thread })
    }

    /// Waits for the thread to end (set `exit` first).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

struct Ledger {
    ch: LedgerChannels,
    entries: BTreeMap<Slot, Vec<Entry>>,
    executions: HashMap<Slot, Vec<TxExecution>>,
    shreds: BTreeMap<Slot, SlotShreds>,
    last_roots: BTreeMap<Slot, Root>,
    /// Slots dropped for another version of a duplicate slot (see [`REPLACED_KEPT`]).
    replaced: BTreeSet<Slot>,
    /// Scratch for one encoded stream record.
    buf: Vec<u8>,
}

impl Ledger {
    fn run(&mut self) {
        while !self.ch.exit.load(Ordering::Relaxed) {
            select! {
                recv(self.ch.poh_events) -> m => match m {
                    Ok(ev) => self.on_poh(ev),
                    Err(_) => break,
                },
                recv(self.ch.banking) -> m => match m {
                    Ok(out) => self.on_banking(out),
                    Err(_) => break,
                },
                recv(self.ch.commands) -> m => match m {
                    Ok(cmd) => self.on_command(cmd),
                    // The control plane is gone: nothing roots any more, but blocks are still
                    // stored until the node stops.
                    Err(_) => self.ch.commands = never(),
                },
                default(Duration::from_millis(50)) => {}
            }
        }
    }

    fn on_poh(&mut self, ev: PohEvent) {
        match ev {
            PohEvent::Entry { slot, entry } => {
                if self.ch.shredding.is_some() {
                    self.buf.clear();
                    encode_stream_entry(&entry, &mut self.buf);
                    let buf = std::mem::take(&mut self.buf);
                    if let Err(e) = self.shred(slot, &buf, false) {
                        tracing::error!(slot = slot.0, "shredding failed: {e}");
                    }
                    self.buf = buf;
                }
                self.entries.entry(slot).or_default().push(entry)
            }
            PohEvent::SlotEnded { slot, blockhash } => {
                let _ = self.ch.slot_ended.send(SlotEnded { slot, blockhash });
            }
            PohEvent::SlotAbandoned { slot } => {
                self.entries.remove(&slot);
                self.executions.remove(&slot);
                self.shreds.remove(&slot);
            }
        }
    }

    /// Shreds `bytes` into `slot`'s stream (`last`: they end it) and hands out finished FEC sets.
    /// Returns the slot's last FEC root when `last`.
    fn shred(&mut self, slot: Slot, bytes: &[u8], last: bool) -> Result<Option<Root>, LedgerError> {
        let Some(cfg) = &self.ch.shredding else {
            return Ok(None);
        };
        if !self.shreds.contains_key(&slot) {
            let parent = self
                .ch
                .forks
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(slot)
                .map(|b| b.parent_slot());
            let Some(parent) = parent else {
                // The cluster rooted past this slot's fork while it was being produced: nobody
                // will replay it, so it is stored (as a pruned block) but not broadcast.
                tracing::debug!(slot = slot.0, "slot pruned before it was shredded");
                return Ok(None);
            };
            let chained = match self.last_roots.get(&parent) {
                Some(r) => *r,
                None => self
                    .ch
                    .store
                    .last_fec_root(parent)?
                    .map(|h| Root(h.0))
                    .unwrap_or(Root(cfg.genesis_hash.0)),
            };
            let shredder = Shredder::new(
                &cfg.keypair,
                slot.0,
                parent.0,
                cfg.shred_version,
                chained,
                cfg.fec,
            )
            .map_err(|e| LedgerError::Shred(e.to_string()))?;
            self.shreds.insert(
                slot,
                SlotShreds {
                    shredder,
                    data: Vec::new(),
                },
            );
        }
        let Some(st) = self.shreds.get_mut(&slot) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        let root = if last {
            Some(
                st.shredder
                    .finish(bytes, &mut out)
                    .map_err(|e| LedgerError::Shred(e.to_string()))?,
            )
        } else {
            st.shredder
                .push(bytes, false, &mut out)
                .map_err(|e| LedgerError::Shred(e.to_string()))?;
            None
        };
        if !out.is_empty() {
            for s in &out {
                if ShredView::parse(s).is_ok_and(|v| v.kind() == ShredKind::Data) {
                    st.data.push(s.to_vec());
                }
            }
            // Broadcast must not be skipped: wait for room (the thread only sends).
            let _ = cfg.sets.send(out);
        }
        Ok(root)
    }

    fn on_banking(&mut self, out: BankingOutput) {
        match out {
            BankingOutput::Committed { slot, executions } => {
                self.executions.entry(slot).or_default().extend(executions);
            }
            BankingOutput::Frozen { bank } => match self.store_block(&bank) {
                Ok(()) => {}
                Err(LedgerError::Store(StoreError::AtOrBelowRoot { slot, root })) => {
                    // The control plane rooted past this slot while it was produced: it can never
                    // join the rooted chain, so there is nothing to store.
                    tracing::warn!(
                        slot = slot.0,
                        root = root.0,
                        "own block not stored: the root moved past it"
                    );
                }
                Err(e) => {
                    tracing::error!(slot = bank.slot().0, "storing the block failed: {e}");
                    self.ch.exit.store(true, Ordering::Relaxed);
                }
            },
        }
    }

    fn on_command(&mut self, cmd: ForkCommand) {
        match cmd {
            ForkCommand::SetRoot(slot) => match self.set_root(slot) {
                Ok(()) => {}
                Err(e) if e.is_refusal() => {
                    tracing::warn!(slot = slot.0, "SetRoot ignored: {e}");
                }
                Err(e) => {
                    tracing::error!(slot = slot.0, "rooting failed: {e}");
                    self.ch.exit.store(true, Ordering::Relaxed);
                }
            },
            ForkCommand::ReplaceBlock {
                slot,
                bank_hash,
                block_id,
            } => match self.replace_block(slot, bank_hash, block_id) {
                Ok(()) => {}
                Err(e) if e.is_refusal() => {
                    tracing::warn!(slot = slot.0, "ReplaceBlock ignored: {e}");
                }
                Err(e) => {
                    tracing::error!(slot = slot.0, "dropping the losing version failed: {e}");
                    self.ch.exit.store(true, Ordering::Relaxed);
                }
            },
        }
    }

    /// Drops this node's version of the duplicate `slot` and every block built on it: from the
    /// store first (newest first, so a crash in between never leaves a block without its parent),
    /// then from the fork tree, then tells the shred receive path, which forgets them and has
    /// repair fetch the version with `block_id`.
    fn replace_block(
        &mut self,
        slot: Slot,
        bank_hash: Hash,
        block_id: Option<Hash>,
    ) -> Result<(), LedgerError> {
        let subtree = {
            let forks = self.ch.forks.read().unwrap_or_else(|e| e.into_inner());
            let root = forks.root();
            if slot <= root {
                return Err(LedgerError::NotAboveRoot { slot, root });
            }
            forks.subtree(slot)
        };
        // Read before the rows go: the receive path must tell the dropped version's shreds from
        // the wanted one's.
        let losing_roots = stored_fec_roots(&self.ch.store, slot)?;
        let mut removed: BTreeSet<Slot> = subtree.into_iter().collect();
        removed.insert(slot);
        for s in removed.iter().rev() {
            self.ch.store.remove_block(*s)?;
        }
        // Replay may have stored and added a child of the dropped version since the tree was read:
        // it is in the subtree now, and its rows go too. (One it stores after this finds its
        // parent gone from the store and removes itself.)
        let late = self
            .ch
            .forks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove_subtree(slot)?;
        for s in late.into_iter().rev() {
            if removed.insert(s) {
                self.ch.store.remove_block(s)?;
            }
        }
        for s in &removed {
            self.entries.remove(s);
            self.executions.remove(s);
            self.shreds.remove(s);
            self.last_roots.remove(s);
        }
        self.replaced.extend(removed.iter().copied());
        while self.replaced.len() > REPLACED_KEPT {
            self.replaced.pop_first();
        }
        tracing::warn!(
            slot = slot.0,
            %bank_hash,
            removed = ?removed,
            "dropped the losing version of a duplicate slot and the blocks built on it"
        );
        if let Some(cfg) = &self.ch.shredding {
            let notice = ReplacedBlocks {
                slot,
                block_id,
                removed: removed.into_iter().collect(),
                losing_roots,
            };
            if cfg.replaced.try_send(notice).is_err() {
                tracing::warn!(
                    slot = slot.0,
                    "the shred receive path did not take the replaced-block notice: queue full"
                );
            }
        }
        Ok(())
    }

    /// Roots the frozen, stored bank `slot`: its state (with that of its unrooted ancestors) is
    /// made durable first, then the fork tree is pruned to its descendants, then readers see the
    /// new root, then the control plane hears of it.
    fn set_root(&mut self, slot: Slot) -> Result<(), LedgerError> {
        let updates = {
            let forks = self.ch.forks.read().unwrap_or_else(|e| e.into_inner());
            let root = forks.root();
            if slot <= root {
                return Err(LedgerError::NotAboveRoot { slot, root });
            }
            forks.root_updates(slot)?
        };
        // Durable first, then visible as rooted: a reader never sees finalized state a crash could
        // take back. No lock is held during the write: only this stage moves the root, so the
        // chain below `slot` cannot change meanwhile.
        self.ch.store.set_root(slot, &updates)?;
        self.ch
            .forks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .apply_root(slot, &updates)?;
        self.ch.root_slot.store(slot.0, Ordering::Release);
        self.replaced = self.replaced.split_off(&Slot(slot.0.saturating_add(1)));
        let _ = self.ch.events.send(DataEvent::Rooted { slot });
        Ok(())
    }

    fn store_block(&mut self, bank: &Arc<Bank>) -> Result<(), LedgerError> {
        let slot = bank.slot();
        if self.replaced.contains(&slot) {
            // Built on a version the cluster did not confirm and dropped with it while produced.
            self.entries.remove(&slot);
            self.executions.remove(&slot);
            self.shreds.remove(&slot);
            tracing::warn!(slot = slot.0, "own block not stored: its fork was replaced");
            return Ok(());
        }
        let entries = self.entries.remove(&slot).unwrap_or_default();
        let executions = self.executions.remove(&slot).unwrap_or_default();
        // Older slots can no longer complete: drop what they left.
        self.entries.retain(|s, _| *s > slot);
        self.executions.retain(|s, _| *s > slot);
        let blockhash = bank.blockhash().ok_or(LedgerError::NotFrozen(slot))?;
        let bank_hash = bank.bank_hash().ok_or(LedgerError::NotFrozen(slot))?;
        let mut commit = build_commit(bank, &entries, &executions, blockhash, bank_hash)?;
        let transactions = commit.meta.transaction_count;
        if self.ch.shredding.is_some() {
            self.buf.clear();
            encode_stream_footer(
                &SlotFooter {
                    bank_hash,
                    block_time_ms: commit.meta.block_time_ms,
                },
                &mut self.buf,
            );
            let footer = std::mem::take(&mut self.buf);
            let last_root = self.shred(slot, &footer, true)?;
            self.buf = footer;
            if let Some(st) = self.shreds.remove(&slot) {
                commit.data_shreds = st.data;
            }
            if let Some(root) = last_root {
                commit.last_fec_root = Some(Hash(root.0));
                self.last_roots.insert(slot, root);
                while self.last_roots.len() > LAST_ROOTS_KEPT {
                    self.last_roots.pop_first();
                }
            }
            // Older slots can no longer complete.
            self.shreds.retain(|s, _| *s > slot);
        }
        commit.root = false;
        self.ch.store.commit_slot(&commit)?;
        let block_id = commit.last_fec_root.unwrap_or_default();
        let frozen = BankFrozen::new(bank, block_id)?;
        let _ = self.ch.events.send(DataEvent::BankFrozen {
            frozen,
            transactions,
            own: true,
        });
        Ok(())
    }
}

/// Merkle roots of the FEC sets of the stored block of `slot`, in index order (its data shreds say
/// which set each belongs to); empty when none are stored.
fn stored_fec_roots(store: &Store, slot: Slot) -> Result<Vec<Hash>, StoreError> {
    let mut roots: Vec<Hash> = Vec::new();
    for index in 0..store.shred_count(slot)? {
        let Some(bytes) = store.shred(slot, index)? else {
            continue;
        };
        // Stored shreds were verified on the way in; one that does not parse names no set.
        let Ok(view) = ShredView::parse(&bytes) else {
            continue;
        };
        let root = Hash(view.merkle_root().0);
        if roots.last() != Some(&root) {
            roots.push(root);
        }
    }
    Ok(roots)
}

/// Why a slot could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The bank was handed over unfrozen.
    #[error("slot {0} reached the ledger stage unfrozen")]
    NotFrozen(Slot),
    /// A committed transaction is missing from the block's entries.
    #[error("slot {slot}: committed transaction {signature} is in no entry")]
    MissingTransaction {
        /// The slot.
        slot: Slot,
        /// The transaction.
        signature: Signature,
    },
    /// A fork operation refused (an unknown, unfrozen or foreign slot).
    #[error("forks: {0}")]
    Forks(#[from] ForkError),
    /// A root at or below the current one.
    #[error("slot {slot} is not above the root {root}")]
    NotAboveRoot {
        /// The slot given.
        slot: Slot,
        /// The current root.
        root: Slot,
    },
    /// The shredder refused.
    #[error("shredding: {0}")]
    Shred(String),
    /// redb failed.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl LedgerError {
    /// Whether this is a command the stage refuses (bad input from the control plane, logged and
    /// ignored) rather than a failure of the stage itself.
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            LedgerError::Forks(_)
                | LedgerError::NotAboveRoot { .. }
                | LedgerError::Store(StoreError::AtOrBelowRoot { .. })
                | LedgerError::Store(StoreError::UnknownSlot(_))
        )
    }
}

/// Builds the redb commit for a frozen bank and its block (account updates filled in by the caller).
pub fn build_commit(
    bank: &Bank,
    entries: &[Entry],
    executions: &[TxExecution],
    blockhash: crate::types::Hash,
    bank_hash: crate::types::Hash,
) -> Result<SlotCommit, LedgerError> {
    let slot = bank.slot();
    let mut position: HashMap<Signature, (u32, u16)> = HashMap::with_capacity(executions.len());
    let mut encoded = Vec::with_capacity(entries.len());
    for (ei, e) in entries.iter().enumerate() {
        for (ti, t) in e.transactions.iter().enumerate() {
            position.insert(t.signature(), (ei as u32, ti as u16));
        }
        let mut buf = Vec::with_capacity(48 + e.transactions.len() * 200);
        encode_entry(e, &mut buf);
        encoded.push(buf);
    }
    let mut statuses = Vec::with_capacity(executions.len());
    for x in executions {
        let (entry_index, txn_index) =
            *position
                .get(&x.signature)
                .ok_or(LedgerError::MissingTransaction {
                    slot,
                    signature: x.signature,
                })?;
        statuses.push((
            x.signature,
            TxStatusRecord {
                slot,
                entry_index,
                txn_index,
                fee: x.fee,
                err: x
                    .status
                    .as_ref()
                    .err()
                    .map(|e| e.to_solana_json().to_string()),
                pre_balances: x.balances.pre().to_vec(),
                post_balances: x.balances.post().to_vec(),
            },
        ));
    }
    let block_time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Ok(SlotCommit {
        meta: SlotMeta {
            slot,
            parent_slot: bank.parent_slot(),
            blockhash,
            bank_hash,
            block_height: bank.block_height(),
            block_time_ms,
            leader: bank.collector(),
            entry_count: entries.len() as u32,
            transaction_count: executions.len() as u32,
            signature_count: bank.signature_count(),
            collected_fees: bank.collected_fees(),
        },
        entries: encoded,
        statuses,
        account_updates: Default::default(),
        root: true,
        data_shreds: Vec::new(),
        last_fec_root: None,
        prioritization_fees: SlotPrioritizationFees::from_block(
            entries.iter().flat_map(|e| e.transactions.iter()),
        ),
        address_signatures: address_signatures(entries),
    })
}

/// Each transaction's account keys but the programs its instructions call, with its position.
fn address_signatures(entries: &[Entry]) -> Vec<AddressSignature> {
    let mut out = Vec::new();
    for (ei, e) in entries.iter().enumerate() {
        for (ti, t) in e.transactions.iter().enumerate() {
            let v = t.view();
            let position = block_position(ei as u32, ti as u16);
            let signature = v.signature();
            // At most 64 instructions: a short list, no set needed.
            let programs: Vec<_> = v.instruction_programs().collect();
            for i in 0..v.num_account_keys() {
                let address = v.account_key(i);
                if !programs.contains(&address) {
                    out.push(AddressSignature {
                        address,
                        position,
                        signature,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
