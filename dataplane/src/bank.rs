//! Banks: the account state of one slot on one fork, and the ledger rules that execute transactions
//! against it.
//!
//! A [`Bank`] holds only the accounts written in its slot (its *delta*) over its parent's state, down to
//! the rooted [`RootAccounts`] shared by every bank of a node, so forks cost memory in proportion to
//! what they change. Execution and commit are split so that a leader can execute a batch, record it
//! into PoH, and commit only if the record succeeded: [`Bank::execute`] reads, [`Bank::commit`] writes.
//!
//! Ledger rules, per transaction and in order: (1) already processed on this fork →
//! [`TxError::AlreadyProcessed`]; (2) recent blockhash not among the last 150 blockhashes of this fork →
//! [`TxError::BlockhashNotFound`]; (3) fee payer (account 0) holds less than the fee
//! (`lamports_per_signature` × signatures, plus the priority fee `ceil(compute unit price × compute unit
//! limit / 1,000,000)` of its Compute Budget instructions) → [`TxError::InsufficientFundsForFee`]. Those
//! three are not included in the block. Otherwise the whole fee is debited and the transaction is
//! included; its transfers run in order with checked `u64` math, and if one fails all of them are
//! undone (the fee stays) and the status is [`TxError::InstructionError`]. Fees, priority fees
//! included, go to the slot's collector when the bank freezes, so the supply never changes.
//!
//! A vote transaction (see [`crate::vote`]) passes the same three checks and pays the same fee; its
//! `TowerSync` then runs against its vote account's [`VoteState`] as seen from this bank, checked
//! against the bank's slot hashes (its last [`SLOT_HASHES_MAX`] ancestors and their bank hashes).
//! The new state is written at commit; a refused vote is included as failed, with the vote
//! program's error code. A vote for an account that holds no vote state fails with
//! `InvalidAccountOwner`, one signed by someone other than its authorized voter with
//! `MissingRequiredSignature`, as on Solana. Each bank keeps the vote states written in its slot
//! over its parent's, down to the rooted ones beside the rooted balances.
//!
//! The bank hash is sha256(parent bank hash ‖ accounts delta hash ‖ vote state delta hash ‖
//! signature count (u64 LE) ‖ blockhash); see [`accounts_delta_hash`] and
//! [`crate::vote_state::vote_delta_hash`].
//!
//! Locks are taken per batch, never per account access, and always in one order — root accounts, then
//! bank states from the newest slot down, then the status cache — so readers (RPC, executor workers) and
//! the single writer (the banking or replay stage) cannot deadlock.

mod execution;
mod tx_error;
mod votes;

use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard};

use sha2::{Digest, Sha256};

pub use self::execution::{CommitError, ExecutedBatch, KeyBalances, TxExecution};
pub use self::tx_error::{InstructionErrorKind, TxError, TxStatus};
pub use self::votes::genesis_vote_states;
use crate::accounts::{
    new_account_map, new_vote_state_map, read, write, AccountMap, AccountsReader, RootAccounts,
    VoteStateMap,
};
use crate::blockhash_queue::{is_recent, BlockhashQueue};
use crate::genesis::{Genesis, MAX_RECENT_BLOCKHASHES};
use crate::status_cache::StatusCache;
use crate::txn::{Txn, TxnView};
use crate::types::{Hash, Lamports, Pubkey, Signature, Slot};
use crate::vote_state::{vote_delta_hash, VoteState, SLOT_HASHES_MAX};

/// Why a bank cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// A child needs its parent's blockhash and bank hash.
    #[error("parent slot {parent} is not frozen")]
    ParentNotFrozen {
        /// The parent's slot.
        parent: Slot,
    },
    /// The parent is neither the root nor descends from it: its fork was pruned.
    #[error("parent slot {parent} is not on the fork of the root {root} (pruned)")]
    ParentPruned {
        /// The parent's slot.
        parent: Slot,
        /// The root slot.
        root: Slot,
    },
    /// Slots increase along a fork.
    #[error("slot {slot} is not after its parent slot {parent}")]
    SlotNotAfterParent {
        /// The requested slot.
        slot: Slot,
        /// The parent's slot.
        parent: Slot,
    },
}

/// A block produced within the last 150 blocks of a restored root (see [`RootState`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentBlock {
    /// Its slot.
    pub slot: Slot,
    /// Its blockhash.
    pub blockhash: Hash,
    /// Its block height.
    pub block_height: u64,
}

/// What a node needs from storage to restart at its last root.
#[derive(Debug, Clone)]
pub struct RootState<A> {
    /// The rooted slot.
    pub slot: Slot,
    /// Its parent's slot.
    pub parent_slot: Slot,
    /// Its bank hash (the parent hash of its first child).
    pub bank_hash: Hash,
    /// Its blockhash.
    pub blockhash: Hash,
    /// Its block height.
    pub block_height: u64,
    /// Fee per signature (from the genesis).
    pub lamports_per_signature: Lamports,
    /// Slots per epoch (from the genesis): where votes count their credits.
    pub slots_per_epoch: u64,
    /// Transactions included from genesis up to and including the root.
    pub total_transaction_count: u64,
    /// Every account's rooted balance.
    pub accounts: A,
    /// Every vote account's rooted state.
    pub vote_states: Vec<(Pubkey, Arc<VoteState>)>,
    /// The rooted blocks before it, up to 150 back, oldest or newest first.
    pub recent_blocks: Vec<RecentBlock>,
    /// Its ancestors' slots and bank hashes, newest first, at most [`SLOT_HASHES_MAX`] (the chain
    /// of parents, as its slot hashes were when it was a live bank).
    pub slot_hashes: Vec<(Slot, Hash)>,
}

/// Mutable per-slot state, written once per committed batch.
#[derive(Debug)]
struct BankState {
    delta: AccountMap,
    /// Vote states written in this slot.
    votes: VoteStateMap,
    signature_count: u64,
    transaction_count: u64,
    /// Included transactions that are not votes.
    non_vote_transaction_count: u64,
    collected_fees: Lamports,
    /// Batches committed so far.
    commit_seq: u64,
    /// This slot's included transactions and their outcomes, in commit order: what PubSub tells
    /// signature subscribers without reading the block back from storage.
    statuses: Vec<(Signature, TxStatus)>,
}

impl Default for BankState {
    fn default() -> Self {
        BankState::with_capacity(0)
    }
}

impl BankState {
    fn with_capacity(accounts: usize) -> BankState {
        let mut delta = new_account_map();
        delta.reserve(accounts);
        BankState {
            delta,
            votes: new_vote_state_map(),
            signature_count: 0,
            transaction_count: 0,
            non_vote_transaction_count: 0,
            collected_fees: 0,
            commit_seq: 0,
            statuses: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Frozen {
    blockhash: Hash,
    bank_hash: Hash,
    accounts_delta_hash: Hash,
    vote_delta_hash: Hash,
}

/// Ancestors above the root that a bank remembers for status checks: an earlier inclusion of a valid
/// transaction lies within the last 150 blocks, so one more is enough.
const ANCESTORS_MAX: usize = MAX_RECENT_BLOCKHASHES as usize + 1;

/// The state of one slot on one fork (see the module docs).
pub struct Bank {
    slot: Slot,
    parent_slot: Slot,
    /// Cut when this bank becomes the root, so that older banks can be freed.
    parent: RwLock<Option<Arc<Bank>>>,
    parent_bank_hash: Hash,
    parent_blockhash: Hash,
    collector: Pubkey,
    block_height: u64,
    lamports_per_signature: Lamports,
    slots_per_epoch: u64,
    parent_total_transaction_count: u64,
    /// Non-vote transactions of the ancestors replayed or produced since this process started (as
    /// Solana's, not kept across restarts: it feeds performance samples, which take differences).
    parent_non_vote_transaction_count: u64,
    blockhashes: BlockhashQueue,
    /// Ancestors' `(slot, bank hash)`, newest first, at most [`SLOT_HASHES_MAX`]: what votes are
    /// checked against. A function of the fork alone, unlike `ancestors`, which stops at the root.
    slot_hashes: Box<[(Slot, Hash)]>,
    /// Unrooted ancestor slots (when created), ascending, at most [`ANCESTORS_MAX`].
    ancestors: Box<[Slot]>,
    root: Arc<RwLock<RootAccounts>>,
    status_cache: Arc<RwLock<StatusCache>>,
    state: RwLock<BankState>,
    frozen: OnceLock<Frozen>,
}

impl std::fmt::Debug for Bank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bank")
            .field("slot", &self.slot)
            .field("parent_slot", &self.parent_slot)
            .field("block_height", &self.block_height)
            .field("frozen", &self.frozen.get().is_some())
            .finish()
    }
}

/// Balances and statuses as seen from one bank, with every lock held for the duration of a batch.
pub(crate) struct ForkView<'a> {
    accounts: AccountsReader<'a>,
    statuses: &'a StatusCache,
}

impl Bank {
    /// Slot 0: the genesis accounts and one vote account per genesis validator (see
    /// [`genesis_vote_states`]), rooted and frozen; blockhash = bank hash = `genesis.hash()`.
    pub fn genesis(genesis: &Genesis) -> Bank {
        let hash = genesis.hash();
        let accounts = genesis.accounts.iter().map(|a| (a.pubkey, a.lamports));
        let root =
            RootAccounts::new(Slot(0), 0, accounts).with_vote_states(genesis_vote_states(genesis));
        let mut cache = StatusCache::new();
        cache.add_root(Slot(0), 0);
        let bank = Bank {
            slot: Slot(0),
            parent_slot: Slot(0),
            parent: RwLock::new(None),
            parent_bank_hash: Hash::default(),
            parent_blockhash: Hash::default(),
            collector: Pubkey::default(),
            block_height: 0,
            lamports_per_signature: genesis.lamports_per_signature,
            slots_per_epoch: genesis.slots_per_epoch,
            parent_total_transaction_count: 0,
            parent_non_vote_transaction_count: 0,
            blockhashes: BlockhashQueue::default(),
            slot_hashes: Box::new([]),
            ancestors: Box::new([]),
            root: Arc::new(RwLock::new(root)),
            status_cache: Arc::new(RwLock::new(cache)),
            state: RwLock::new(BankState::default()),
            frozen: OnceLock::new(),
        };
        let _ = bank.frozen.set(Frozen {
            blockhash: hash,
            bank_hash: hash,
            accounts_delta_hash: Hash::of(&[]),
            vote_delta_hash: Hash::of(&[]),
        });
        bank
    }

    /// A frozen, rooted bank restored from storage. Statuses of the recent rooted blocks can then be
    /// put back with [`Bank::restore_status`].
    pub fn from_root<A>(root: RootState<A>) -> Bank
    where
        A: IntoIterator<Item = (Pubkey, Lamports)>,
    {
        let mut cache = StatusCache::new();
        for b in &root.recent_blocks {
            if b.block_height < root.block_height {
                cache.add_root(b.slot, b.block_height);
            }
        }
        cache.add_root(root.slot, root.block_height);
        let recent = root
            .recent_blocks
            .iter()
            .map(|b| (b.blockhash, b.block_height));
        let bank = Bank {
            slot: root.slot,
            parent_slot: root.parent_slot,
            parent: RwLock::new(None),
            parent_bank_hash: Hash::default(),
            parent_blockhash: Hash::default(),
            collector: Pubkey::default(),
            block_height: root.block_height,
            lamports_per_signature: root.lamports_per_signature,
            slots_per_epoch: root.slots_per_epoch,
            parent_total_transaction_count: root.total_transaction_count,
            parent_non_vote_transaction_count: 0,
            blockhashes: BlockhashQueue::from_recent(root.block_height, recent),
            slot_hashes: root.slot_hashes.into_iter().take(SLOT_HASHES_MAX).collect(),
            ancestors: Box::new([]),
            root: Arc::new(RwLock::new(
                RootAccounts::new(root.slot, root.block_height, root.accounts)
                    .with_vote_states(root.vote_states),
            )),
            status_cache: Arc::new(RwLock::new(cache)),
            state: RwLock::new(BankState::default()),
            frozen: OnceLock::new(),
        };
        let _ = bank.frozen.set(Frozen {
            blockhash: root.blockhash,
            bank_hash: root.bank_hash,
            accounts_delta_hash: Hash::of(&[]),
            vote_delta_hash: Hash::of(&[]),
        });
        bank
    }

    /// A new bank for `slot` on top of the frozen `parent`, whose fees go to `collector`.
    ///
    /// # Panics
    /// If `parent` is not frozen or `slot` is not after it; see [`Bank::try_new_child`].
    pub fn new_child(parent: &Arc<Bank>, slot: Slot, collector: Pubkey) -> Bank {
        match Bank::try_new_child(parent, slot, collector) {
            Ok(b) => b,
            Err(e) => panic!("Bank::new_child: {e}"),
        }
    }

    /// A new bank for `slot` on top of `parent` (the root or a frozen bank above it), or why there
    /// cannot be one.
    pub fn try_new_child(
        parent: &Arc<Bank>,
        slot: Slot,
        collector: Pubkey,
    ) -> Result<Bank, BankError> {
        let Some(pf) = parent.frozen.get() else {
            return Err(BankError::ParentNotFrozen {
                parent: parent.slot,
            });
        };
        if slot <= parent.slot {
            return Err(BankError::SlotNotAfterParent {
                slot,
                parent: parent.slot,
            });
        }
        let root_slot = read(&parent.root).slot;
        if !on_root_fork(parent, root_slot) {
            return Err(BankError::ParentPruned {
                parent: parent.slot,
                root: root_slot,
            });
        }
        let mut ancestors: Vec<Slot> = parent
            .ancestors
            .iter()
            .copied()
            .filter(|s| *s > root_slot)
            .collect();
        if parent.slot > root_slot {
            ancestors.push(parent.slot);
        }
        let excess = ancestors.len().saturating_sub(ANCESTORS_MAX);
        ancestors.drain(..excess);
        let block_height = parent.block_height + 1;
        let slot_hashes = std::iter::once((parent.slot, pf.bank_hash))
            .chain(parent.slot_hashes.iter().copied())
            .take(SLOT_HASHES_MAX)
            .collect();
        Ok(Bank {
            slot,
            parent_slot: parent.slot,
            parent: RwLock::new(Some(parent.clone())),
            parent_bank_hash: pf.bank_hash,
            parent_blockhash: pf.blockhash,
            collector,
            block_height,
            lamports_per_signature: parent.lamports_per_signature,
            slots_per_epoch: parent.slots_per_epoch,
            parent_total_transaction_count: parent.total_transaction_count(),
            parent_non_vote_transaction_count: parent.non_vote_transaction_count_since_restart(),
            blockhashes: parent
                .blockhashes
                .child(pf.blockhash, parent.block_height, block_height),
            slot_hashes,
            ancestors: ancestors.into_boxed_slice(),
            root: parent.root.clone(),
            status_cache: parent.status_cache.clone(),
            // Sized like the parent's, so a busy fork does not rehash its way up on the hot path.
            state: RwLock::new(BankState::with_capacity(read(&parent.state).delta.len())),
            frozen: OnceLock::new(),
        })
    }

    /// This bank's slot.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// The parent's slot (0 for the genesis bank).
    pub fn parent_slot(&self) -> Slot {
        self.parent_slot
    }

    /// The parent bank, while it is above the root.
    pub fn parent(&self) -> Option<Arc<Bank>> {
        read(&self.parent).clone()
    }

    /// Who receives this slot's fees.
    pub fn collector(&self) -> Pubkey {
        self.collector
    }

    /// Blocks on this fork before this one (0 for genesis).
    pub fn block_height(&self) -> u64 {
        self.block_height
    }

    /// Fee per signature.
    pub fn lamports_per_signature(&self) -> Lamports {
        self.lamports_per_signature
    }

    /// The fee `tx` pays: the base fee per signature plus its priority fee (read once by the parser,
    /// see [`crate::compute_budget`]); `None` if it does not fit a `u64`.
    pub fn fee(&self, tx: &TxnView<'_>) -> Option<Lamports> {
        self.lamports_per_signature
            .checked_mul(tx.num_signatures() as u64)?
            .checked_add(tx.compute_budget().priority_fee())
    }

    /// The balance of `key` on this fork.
    pub fn balance(&self, key: &Pubkey) -> Lamports {
        self.with_accounts(|a| a.balance(key))
    }

    /// The balances of `keys` on this fork, read under one set of locks.
    pub fn balances(&self, keys: &[Pubkey]) -> Vec<Lamports> {
        self.with_accounts(|a| keys.iter().map(|k| a.balance(k)).collect())
    }

    /// Whether a transaction signed against `blockhash` is acceptable: by this bank while it is
    /// working, by its next child once it is frozen (so RPC answers for the next block).
    pub fn is_blockhash_valid(&self, blockhash: &Hash) -> bool {
        self.processing_blockhash_height(blockhash).is_some()
    }

    /// The last block height at which a transaction signed against `blockhash` can be included, if
    /// it still can be (RPC's `lastValidBlockHeight`).
    pub fn last_valid_block_height(&self, blockhash: &Hash) -> Option<u64> {
        self.processing_blockhash_height(blockhash)
            .map(|h| h + MAX_RECENT_BLOCKHASHES)
    }

    /// The height of `blockhash` if transactions signed against it are processed here (see
    /// [`Bank::is_blockhash_valid`]).
    #[inline]
    fn processing_blockhash_height(&self, blockhash: &Hash) -> Option<u64> {
        match self.frozen.get() {
            // The queue was built for exactly this height.
            None => self.blockhashes.height_of(blockhash),
            Some(f) => {
                let height = if f.blockhash == *blockhash {
                    Some(self.block_height)
                } else {
                    self.blockhashes.height_of(blockhash)
                };
                height.filter(|h| is_recent(*h, self.block_height + 1))
            }
        }
    }

    /// The blockhashes transactions may be signed against on this fork now, with their heights:
    /// what a child of this bank accepts once it is frozen, else what it accepts itself.
    pub fn recent_blockhashes(&self) -> BlockhashQueue {
        match self.frozen.get() {
            Some(f) => {
                self.blockhashes
                    .child(f.blockhash, self.block_height, self.block_height + 1)
            }
            None => self.blockhashes.clone(),
        }
    }

    /// The newest blockhash on this fork: this bank's own once frozen, else its parent's.
    pub fn last_blockhash(&self) -> Hash {
        match self.frozen.get() {
            Some(f) => f.blockhash,
            None => self.parent_blockhash,
        }
    }

    /// Signatures of the transactions included so far.
    pub fn signature_count(&self) -> u64 {
        read(&self.state).signature_count
    }

    /// Transactions included in this slot so far.
    pub fn transaction_count(&self) -> u64 {
        read(&self.state).transaction_count
    }

    /// Transactions included from genesis up to this slot.
    pub fn total_transaction_count(&self) -> u64 {
        self.parent_total_transaction_count
            .saturating_add(self.transaction_count())
    }

    /// Non-vote transactions included from the bank this process started from up to this slot.
    pub fn non_vote_transaction_count_since_restart(&self) -> u64 {
        self.parent_non_vote_transaction_count
            .saturating_add(read(&self.state).non_vote_transaction_count)
    }

    /// Fees collected in this slot so far.
    pub fn collected_fees(&self) -> Lamports {
        read(&self.state).collected_fees
    }

    /// Where `signature` was processed on this fork, while its blockhash is recent (older statuses
    /// live in storage).
    pub fn status(&self, signature: &Signature) -> Option<(Slot, TxStatus)> {
        read(&self.status_cache).find(signature, |s| self.is_on_fork(s))
    }

    /// Puts back the status of a transaction included in a rooted slot at or before this bank, when
    /// restarting from storage. Returns whether it was kept: a blockhash too old to be used again needs
    /// no replay protection.
    pub fn restore_status(
        &self,
        blockhash: &Hash,
        signature: &Signature,
        slot: Slot,
        status: TxStatus,
    ) -> bool {
        let Some(height) = self.processing_blockhash_height(blockhash) else {
            return false;
        };
        write(&self.status_cache).insert(blockhash, height, signature, slot, status);
        true
    }

    /// This slot's included transactions and their outcomes, in commit order.
    pub fn transaction_statuses(&self) -> Vec<(Signature, TxStatus)> {
        self.with_transaction_statuses(<[_]>::to_vec)
    }

    /// Runs `f` over this slot's included transactions and their outcomes, in commit order,
    /// without copying them (thousands per block).
    pub fn with_transaction_statuses<R>(&self, f: impl FnOnce(&[(Signature, TxStatus)]) -> R) -> R {
        f(&read(&self.state).statuses)
    }

    /// Whether the bank is frozen (its block is complete).
    pub fn is_frozen(&self) -> bool {
        self.frozen.get().is_some()
    }

    /// The bank hash, once frozen.
    pub fn bank_hash(&self) -> Option<Hash> {
        self.frozen.get().map(|f| f.bank_hash)
    }

    /// The slot's blockhash, once frozen.
    pub fn blockhash(&self) -> Option<Hash> {
        self.frozen.get().map(|f| f.blockhash)
    }

    /// The hash of the accounts written in this slot, once frozen (for a bank restored with
    /// [`Bank::from_root`], whose delta storage does not keep, the hash of an empty delta).
    pub fn accounts_delta_hash(&self) -> Option<Hash> {
        self.frozen.get().map(|f| f.accounts_delta_hash)
    }

    /// The hash of the vote states written in this slot, once frozen (the hash of nothing for a
    /// bank restored with [`Bank::from_root`]).
    pub fn vote_delta_hash(&self) -> Option<Hash> {
        self.frozen.get().map(|f| f.vote_delta_hash)
    }

    /// The accounts written in this slot with their balances, sorted by address.
    pub fn accounts_delta(&self) -> Vec<(Pubkey, Lamports)> {
        let mut v: Vec<_> = read(&self.state)
            .delta
            .iter()
            .map(|(k, l)| (*k, *l))
            .collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }

    /// Every lamport on this fork, fees not yet credited included; `None` on overflow. Walks every
    /// account: for tests and diagnostics, not the hot path.
    pub fn total_supply(&self) -> Option<Lamports> {
        let fees = if self.is_frozen() {
            0
        } else {
            self.collected_fees()
        };
        self.with_accounts(|a| {
            let mut seen = new_account_map();
            for d in a.deltas {
                for k in d.keys() {
                    seen.entry(*k).or_insert_with(|| a.balance(k));
                }
            }
            let mut total = fees;
            for (k, v) in a.root {
                if !seen.contains_key(k) {
                    total = total.checked_add(*v)?;
                }
            }
            seen.values().try_fold(total, |t, v| t.checked_add(*v))
        })
    }

    /// The `n` largest balances on this fork, largest first (ties by address), zero balances left
    /// out. Walks every account once, keeping `n` in a heap: for RPC's `getLargestAccounts`, which
    /// caches the answer, not for the hot path.
    pub fn largest_accounts(&self, n: usize) -> Vec<(Pubkey, Lamports)> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        if n == 0 {
            return Vec::new();
        }
        self.with_accounts(|a| {
            let mut seen = new_account_map();
            for d in a.deltas {
                for k in d.keys() {
                    seen.entry(*k).or_insert_with(|| a.balance(k));
                }
            }
            let rooted = a.root.iter().filter(|(k, _)| !seen.contains_key(*k));
            let mut top: BinaryHeap<Reverse<(Lamports, Reverse<Pubkey>)>> =
                BinaryHeap::with_capacity(n + 1);
            for (k, v) in rooted.chain(seen.iter()) {
                if *v == 0 {
                    continue;
                }
                top.push(Reverse((*v, Reverse(*k))));
                if top.len() > n {
                    top.pop();
                }
            }
            let mut out: Vec<(Pubkey, Lamports)> = top
                .into_iter()
                .map(|Reverse((v, Reverse(k)))| (k, v))
                .collect();
            out.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            out
        })
    }

    /// Applies an executed batch: account writes, statuses and counters, all under one lock. The batch
    /// must have been executed on this bank with no commit in between (else [`CommitError::Stale`]).
    pub fn commit(&self, txs: &[Txn], batch: &ExecutedBatch) -> Result<(), CommitError> {
        let mut st = write(&self.state);
        if self.frozen.get().is_some() {
            return Err(CommitError::Frozen { slot: self.slot });
        }
        if batch.slot != self.slot {
            return Err(CommitError::WrongBank {
                executed: batch.slot,
                slot: self.slot,
            });
        }
        if batch.commit_seq != st.commit_seq {
            return Err(CommitError::Stale {
                slot: self.slot,
                executed: batch.commit_seq,
                now: st.commit_seq,
            });
        }
        if txs.len() != batch.executions.len() {
            return Err(CommitError::LengthMismatch {
                txs: txs.len(),
                results: batch.executions.len(),
            });
        }
        for (index, (t, e)) in txs.iter().zip(&batch.executions).enumerate() {
            let txn = t.signature();
            if txn != e.signature {
                return Err(CommitError::SignatureMismatch { index, txn });
            }
        }
        let st = &mut *st;
        for (t, e) in txs.iter().zip(&batch.executions) {
            if !e.is_included() {
                continue;
            }
            let tx = t.view();
            for (key, lamports) in e.writes(&tx) {
                st.delta.insert(key, lamports);
            }
            if let (Some(state), Some(vote_account)) = (e.vote_state(), tx.vote_account()) {
                st.votes.insert(vote_account, state.clone());
            }
            st.transaction_count += 1;
            if !tx.is_vote() {
                st.non_vote_transaction_count += 1;
            }
            st.signature_count += tx.num_signatures() as u64;
            st.statuses.push((e.signature, e.status));
            // Fees are debited from balances that sum to at most the supply (a u64), so this cannot
            // saturate.
            st.collected_fees = st.collected_fees.saturating_add(e.fee);
        }
        let statuses = txs
            .iter()
            .zip(&batch.executions)
            .filter(|(_, e)| e.is_included())
            .map(|(t, e)| {
                let blockhash = t.view().recent_blockhash();
                (blockhash, e.blockhash_height, e.signature, e.status)
            });
        write(&self.status_cache).insert_slot(self.slot, statuses);
        st.commit_seq += 1;
        Ok(())
    }

    /// Completes the block: credits the collected fees to the collector, computes and stores the bank
    /// hash, and refuses every later commit. Freezing again returns the stored hash unchanged.
    pub fn freeze(&self, blockhash: Hash) -> Hash {
        let root = read(&self.root);
        let mut st = write(&self.state);
        if let Some(f) = self.frozen.get() {
            return f.bank_hash;
        }
        if st.collected_fees > 0 {
            let balance = match st.delta.get(&self.collector) {
                Some(v) => *v,
                None => {
                    let chain = self.unrooted_chain(root.slot);
                    let guards: Vec<_> = chain.iter().map(|b| read(&b.state)).collect();
                    let deltas: Vec<&AccountMap> = guards.iter().map(|g| &g.delta).collect();
                    AccountsReader {
                        deltas: &deltas,
                        root: &root.accounts,
                        vote_deltas: &[],
                        root_votes: &root.vote_states,
                    }
                    .balance(&self.collector)
                }
            };
            // The supply fits a u64 and the fees came out of it, so the sum fits too.
            let credited = balance.saturating_add(st.collected_fees);
            st.delta.insert(self.collector, credited);
        }
        let accounts_delta_hash = accounts_delta_hash(&st.delta);
        let vote_delta_hash = vote_delta_hash(st.votes.iter().map(|(k, v)| (k, &**v)));
        let bank_hash = Hash::hashv(&[
            self.parent_bank_hash.as_bytes(),
            accounts_delta_hash.as_bytes(),
            vote_delta_hash.as_bytes(),
            &st.signature_count.to_le_bytes(),
            blockhash.as_bytes(),
        ]);
        let _ = self.frozen.set(Frozen {
            blockhash,
            bank_hash,
            accounts_delta_hash,
            vote_delta_hash,
        });
        bank_hash
    }

    /// Ancestors above `root_slot`, newest first (empty if this bank is at or below the root).
    fn unrooted_chain(&self, root_slot: Slot) -> Vec<Arc<Bank>> {
        let mut chain = Vec::new();
        if self.slot <= root_slot {
            return chain;
        }
        let mut next = read(&self.parent).clone();
        while let Some(b) = next {
            if b.slot <= root_slot {
                break;
            }
            next = read(&b.parent).clone();
            chain.push(b);
        }
        chain
    }

    /// Runs `f` with every account map of this fork read-locked once.
    fn with_accounts<R>(&self, f: impl FnOnce(&AccountsReader<'_>) -> R) -> R {
        let root = read(&self.root);
        let chain = self.unrooted_chain(root.slot);
        let own = (self.slot > root.slot).then(|| read(&self.state));
        let guards: Vec<RwLockReadGuard<'_, BankState>> =
            chain.iter().map(|b| read(&b.state)).collect();
        let mut deltas: Vec<&AccountMap> = Vec::with_capacity(guards.len() + 1);
        deltas.extend(own.as_ref().map(|g| &g.delta));
        deltas.extend(guards.iter().map(|g| &g.delta));
        // Most slots write no vote state: leaving their empty maps out keeps this allocation-free
        // on a fork without votes.
        let vote_deltas: Vec<&VoteStateMap> = own
            .iter()
            .chain(guards.iter())
            .map(|g| &g.votes)
            .filter(|v| !v.is_empty())
            .collect();
        f(&AccountsReader {
            deltas: &deltas,
            root: &root.accounts,
            vote_deltas: &vote_deltas,
            root_votes: &root.vote_states,
        })
    }

    /// Runs `f` with accounts and statuses of this fork read-locked once.
    fn with_fork_view<R>(&self, f: impl FnOnce(&ForkView<'_>) -> R) -> R {
        self.with_accounts(|accounts| {
            let statuses = read(&self.status_cache);
            f(&ForkView {
                accounts: AccountsReader {
                    deltas: accounts.deltas,
                    root: accounts.root,
                    vote_deltas: accounts.vote_deltas,
                    root_votes: accounts.root_votes,
                },
                statuses: &statuses,
            })
        })
    }

    pub(crate) fn root_accounts(&self) -> &Arc<RwLock<RootAccounts>> {
        &self.root
    }

    pub(crate) fn status_cache(&self) -> &Arc<RwLock<StatusCache>> {
        &self.status_cache
    }

    /// Clears the parent link once this bank is the root, so older banks can be freed.
    pub(crate) fn cut_parent(&self) {
        *write(&self.parent) = None;
    }

    /// Runs `f` on this bank's delta under its read lock.
    pub(crate) fn with_delta<R>(&self, f: impl FnOnce(&AccountMap) -> R) -> R {
        f(&read(&self.state).delta)
    }
}

/// Whether `bank` is the root at `root_slot` or descends from it (its reads are then sound).
fn on_root_fork(bank: &Arc<Bank>, root_slot: Slot) -> bool {
    let mut cur = bank.clone();
    loop {
        if cur.slot <= root_slot {
            return cur.slot == root_slot;
        }
        match cur.parent() {
            Some(p) => cur = p,
            None => return false,
        }
    }
}

/// SHA-256 over the accounts written in a slot, sorted by address, each `pubkey ‖ lamports (u64 LE)`.
pub fn accounts_delta_hash(delta: &AccountMap) -> Hash {
    let mut entries: Vec<(&Pubkey, &Lamports)> = delta.iter().collect();
    entries.sort_unstable_by_key(|(k, _)| *k);
    let mut h = Sha256::new();
    for (k, v) in entries {
        h.update(k.as_bytes());
        h.update(v.to_le_bytes());
    }
    Hash(h.finalize().into())
}

#[cfg(test)]
mod fee_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
pub(crate) mod vote_tests;
