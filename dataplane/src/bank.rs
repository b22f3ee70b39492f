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
//! (`lamports_per_signature` × signatures) → [`TxError::InsufficientFundsForFee`]. Those three are not
//! included in the block. Otherwise the fee is debited and the transaction is included; its transfers
//! run in order with checked `u64` math, and if one fails all of them are undone (the fee stays) and the
//! status is [`TxError::InstructionError`]. Fees go to the slot's collector when the bank freezes.
//!
//! Locks are taken per batch, never per account access, and always in one order — root accounts, then
//! bank states from the newest slot down, then the status cache — so readers (RPC, executor workers) and
//! the single writer (the banking or replay stage) cannot deadlock.

use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard};

use sha2::{Digest, Sha256};

use crate::accounts::{new_account_map, read, write, AccountMap, AccountsReader, RootAccounts};
use crate::blockhash_queue::{is_recent, BlockhashQueue};
use crate::genesis::{Genesis, MAX_RECENT_BLOCKHASHES};
use crate::metrics::Reject;
use crate::status_cache::{BlockhashStatuses, StatusCache};
use crate::txn::{Txn, TxnView, ACCOUNT_KEYS_MAX};
use crate::types::{Hash, Lamports, Pubkey, Signature, Slot};

/// The outcome of one transaction: `Ok` or why it failed.
pub type TxStatus = Result<(), TxError>;

/// Why an instruction (a transfer) failed after the fee was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstructionErrorKind {
    /// The debited account holds less than the amount.
    #[error("insufficient funds for the transfer")]
    InsufficientFunds,
    /// The credited account would exceed `u64::MAX` lamports.
    #[error("arithmetic overflow crediting the transfer")]
    ArithmeticOverflow,
}

/// Why a transaction failed or was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Already included on this fork (not included again).
    #[error("transaction already processed on this fork")]
    AlreadyProcessed,
    /// The recent blockhash is unknown on this fork or older than 150 blocks (not included).
    #[error("blockhash not found among the last {MAX_RECENT_BLOCKHASHES} blocks of this fork")]
    BlockhashNotFound,
    /// The fee payer cannot pay the fee (not included).
    #[error("fee payer cannot pay the transaction fee")]
    InsufficientFundsForFee,
    /// Instruction `index` failed; the fee was paid and every transfer undone (included).
    #[error("instruction {index} failed: {kind}")]
    InstructionError {
        /// Position of the failing instruction.
        index: u8,
        /// What went wrong.
        kind: InstructionErrorKind,
    },
}

impl TxError {
    /// Whether a transaction that failed this way is still included in the block (fee charged).
    pub fn is_included(&self) -> bool {
        matches!(self, TxError::InstructionError { .. })
    }

    /// The rejection counter for an error that keeps a transaction out of the block.
    pub fn reject_reason(&self) -> Option<Reject> {
        Reject::try_from(self).ok()
    }

    /// The error in Solana's `TransactionError` JSON shape, as RPC clients expect it. A failed
    /// transfer for lack of funds is the System Program's `Custom(1)` (`ResultWithNegativeLamports`).
    pub fn to_solana_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            TxError::AlreadyProcessed => json!("AlreadyProcessed"),
            TxError::BlockhashNotFound => json!("BlockhashNotFound"),
            TxError::InsufficientFundsForFee => json!("InsufficientFundsForFee"),
            TxError::InstructionError { index, kind } => {
                let kind = match kind {
                    InstructionErrorKind::InsufficientFunds => json!({ "Custom": 1 }),
                    InstructionErrorKind::ArithmeticOverflow => json!("ArithmeticOverflow"),
                };
                json!({ "InstructionError": [index, kind] })
            }
        }
    }

    /// Reads back what [`TxError::to_solana_json`] wrote (e.g. to rebuild the status cache from storage).
    pub fn from_solana_json(v: &serde_json::Value) -> Option<TxError> {
        match v.as_str() {
            Some("AlreadyProcessed") => return Some(TxError::AlreadyProcessed),
            Some("BlockhashNotFound") => return Some(TxError::BlockhashNotFound),
            Some("InsufficientFundsForFee") => return Some(TxError::InsufficientFundsForFee),
            Some(_) => return None,
            None => {}
        }
        let pair = v.get("InstructionError")?.as_array()?;
        let [index, kind] = pair.as_slice() else {
            return None;
        };
        let index = u8::try_from(index.as_u64()?).ok()?;
        let kind = if kind.get("Custom").and_then(|c| c.as_u64()) == Some(1) {
            InstructionErrorKind::InsufficientFunds
        } else if kind.as_str() == Some("ArithmeticOverflow") {
            InstructionErrorKind::ArithmeticOverflow
        } else {
            return None;
        };
        Some(TxError::InstructionError { index, kind })
    }
}

impl TryFrom<&TxError> for Reject {
    type Error = TxError;

    /// Maps the errors that keep a transaction out of the block; an included failure is no rejection.
    fn try_from(e: &TxError) -> Result<Reject, TxError> {
        match e {
            TxError::AlreadyProcessed => Ok(Reject::AlreadyProcessed),
            TxError::BlockhashNotFound => Ok(Reject::BlockhashNotFound),
            TxError::InsufficientFundsForFee => Ok(Reject::InsufficientFundsForFee),
            TxError::InstructionError { .. } => Err(*e),
        }
    }
}

/// Why a bank cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// A child needs its parent's blockhash and bank hash.
    #[error("parent slot {parent} is not frozen")]
    ParentNotFrozen {
        /// The parent's slot.
        parent: Slot,
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

/// Why a batch of executed transactions cannot be committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The bank is frozen: its block is complete.
    #[error("bank for slot {slot} is frozen")]
    Frozen {
        /// The bank's slot.
        slot: Slot,
    },
    /// The batch was executed on another bank.
    #[error("batch executed on slot {executed} cannot commit to slot {slot}")]
    WrongBank {
        /// Where it was executed.
        executed: Slot,
        /// Where it was to be committed.
        slot: Slot,
    },
    /// Another batch was committed after this one was executed, so its reads are out of date.
    #[error("batch executed after commit {executed} of slot {slot}, but the bank is at commit {now}")]
    Stale {
        /// The bank's slot.
        slot: Slot,
        /// Commits the bank had seen when the batch executed.
        executed: u64,
        /// Commits the bank has seen now.
        now: u64,
    },
    /// Transactions and results do not line up.
    #[error("{txs} transactions but {results} results")]
    LengthMismatch {
        /// Transactions given.
        txs: usize,
        /// Results given.
        results: usize,
    },
    /// Result `index` belongs to another transaction.
    #[error("result {index} belongs to transaction {result}, not {txn}")]
    SignatureMismatch {
        /// Position in the batch.
        index: usize,
        /// The result's signature.
        result: Signature,
        /// The transaction's signature.
        txn: Signature,
    },
}

/// Account keys whose balances fit inline in [`KeyBalances`] (a wallet transfer has 3).
const INLINE_KEYS: usize = 4;

/// Balances of a transaction's account keys before and after it ran, in key order (RPC's
/// `preBalances`/`postBalances`). Empty for a transaction that was not included.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBalances(BalancesRepr);

#[derive(Clone, PartialEq, Eq)]
enum BalancesRepr {
    Inline {
        len: u8,
        pre: [Lamports; INLINE_KEYS],
        post: [Lamports; INLINE_KEYS],
    },
    /// `pre ‖ post`, for transactions with more keys than fit inline.
    Heap(Box<[Lamports]>),
}

impl KeyBalances {
    fn empty() -> KeyBalances {
        KeyBalances(BalancesRepr::Inline {
            len: 0,
            pre: [0; INLINE_KEYS],
            post: [0; INLINE_KEYS],
        })
    }

    fn new(pre: &[Lamports], post: &[Lamports]) -> KeyBalances {
        debug_assert_eq!(pre.len(), post.len());
        if pre.len() <= INLINE_KEYS {
            let mut p = [0; INLINE_KEYS];
            let mut q = [0; INLINE_KEYS];
            p[..pre.len()].copy_from_slice(pre);
            q[..post.len()].copy_from_slice(post);
            KeyBalances(BalancesRepr::Inline {
                len: pre.len() as u8,
                pre: p,
                post: q,
            })
        } else {
            KeyBalances(BalancesRepr::Heap(
                pre.iter().chain(post).copied().collect(),
            ))
        }
    }

    /// Balances before the transaction.
    pub fn pre(&self) -> &[Lamports] {
        match &self.0 {
            BalancesRepr::Inline { len, pre, .. } => &pre[..usize::from(*len)],
            BalancesRepr::Heap(b) => &b[..b.len() / 2],
        }
    }

    /// Balances after the transaction.
    pub fn post(&self) -> &[Lamports] {
        match &self.0 {
            BalancesRepr::Inline { len, post, .. } => &post[..usize::from(*len)],
            BalancesRepr::Heap(b) => &b[b.len() / 2..],
        }
    }
}

impl std::fmt::Debug for KeyBalances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyBalances {{ pre: {:?}, post: {:?} }}", self.pre(), self.post())
    }
}

/// The result of executing one transaction against a bank, not yet applied to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxExecution {
    /// The transaction's id.
    pub signature: Signature,
    /// Its outcome; see [`TxExecution::is_included`].
    pub status: TxStatus,
    /// The fee charged (0 when not included).
    pub fee: Lamports,
    /// Balances of its account keys before and after.
    pub balances: KeyBalances,
    /// Bit `i` set: account key `i` is stored by the commit (at most 35 keys fit a `u64`).
    written: u64,
    /// Block height of the transaction's recent blockhash (keys the status cache).
    blockhash_height: u64,
}

impl TxExecution {
    fn not_included(signature: Signature, error: TxError) -> TxExecution {
        TxExecution {
            signature,
            status: Err(error),
            fee: 0,
            balances: KeyBalances::empty(),
            written: 0,
            blockhash_height: 0,
        }
    }

    /// Whether the transaction goes into the block (success, or failure after paying the fee).
    pub fn is_included(&self) -> bool {
        match &self.status {
            Ok(()) => true,
            Err(e) => e.is_included(),
        }
    }

    /// The accounts this transaction stores, with their new balances: every writable key on success,
    /// only the fee payer on failure, nothing when not included. `tx` must be the executed transaction.
    pub fn writes<'a>(
        &'a self,
        tx: &'a TxnView<'a>,
    ) -> impl Iterator<Item = (Pubkey, Lamports)> + 'a {
        let post = self.balances.post();
        (0..post.len())
            .filter(move |i| self.written & (1u64 << i) != 0)
            .map(move |i| (tx.account_key(i), post[i]))
    }
}

/// The results of executing a batch on one bank, to be committed to that same bank.
#[derive(Debug, Clone)]
pub struct ExecutedBatch {
    slot: Slot,
    /// The bank's commit count when the batch was executed; a later commit makes it stale.
    commit_seq: u64,
    executions: Vec<TxExecution>,
}

impl ExecutedBatch {
    pub(crate) fn new(slot: Slot, commit_seq: u64, executions: Vec<TxExecution>) -> ExecutedBatch {
        ExecutedBatch {
            slot,
            commit_seq,
            executions,
        }
    }

    /// Per-transaction results, in batch order.
    pub fn executions(&self) -> &[TxExecution] {
        &self.executions
    }

    /// The slot of the bank it was executed on.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// Number of results.
    pub fn len(&self) -> usize {
        self.executions.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.executions.is_empty()
    }

    /// Number of included transactions.
    pub fn included_count(&self) -> usize {
        self.executions.iter().filter(|e| e.is_included()).count()
    }
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
    /// Transactions included from genesis up to and including the root.
    pub total_transaction_count: u64,
    /// Every account's rooted balance.
    pub accounts: A,
    /// The rooted blocks before it, up to 150 back, oldest or newest first.
    pub recent_blocks: Vec<RecentBlock>,
}

/// Mutable per-slot state, written once per committed batch.
#[derive(Debug)]
struct BankState {
    delta: AccountMap,
    signature_count: u64,
    transaction_count: u64,
    collected_fees: Lamports,
    /// Batches committed so far.
    commit_seq: u64,
}

impl Default for BankState {
    fn default() -> Self {
        BankState {
            delta: new_account_map(),
            signature_count: 0,
            transaction_count: 0,
            collected_fees: 0,
            commit_seq: 0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Frozen {
    blockhash: Hash,
    bank_hash: Hash,
    accounts_delta_hash: Hash,
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
    parent_total_transaction_count: u64,
    blockhashes: BlockhashQueue,
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
    /// Slot 0: the genesis accounts, rooted and frozen; blockhash = bank hash = `genesis.hash()`.
    pub fn genesis(genesis: &Genesis) -> Bank {
        let hash = genesis.hash();
        let accounts = genesis.accounts.iter().map(|a| (a.pubkey, a.lamports));
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
            parent_total_transaction_count: 0,
            blockhashes: BlockhashQueue::default(),
            ancestors: Box::new([]),
            root: Arc::new(RwLock::new(RootAccounts::new(Slot(0), 0, accounts))),
            status_cache: Arc::new(RwLock::new(cache)),
            state: RwLock::new(BankState::default()),
            frozen: OnceLock::new(),
        };
        let _ = bank.frozen.set(Frozen {
            blockhash: hash,
            bank_hash: hash,
            accounts_delta_hash: Hash::of(&[]),
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
            parent_total_transaction_count: root.total_transaction_count,
            blockhashes: BlockhashQueue::from_recent(root.block_height, recent),
            ancestors: Box::new([]),
            root: Arc::new(RwLock::new(RootAccounts::new(
                root.slot,
                root.block_height,
                root.accounts,
            ))),
            status_cache: Arc::new(RwLock::new(cache)),
            state: RwLock::new(BankState::default()),
            frozen: OnceLock::new(),
        };
        let _ = bank.frozen.set(Frozen {
            blockhash: root.blockhash,
            bank_hash: root.bank_hash,
            accounts_delta_hash: Hash::of(&[]),
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

    /// A new bank for `slot` on top of `parent`, or why there cannot be one.
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
        Ok(Bank {
            slot,
            parent_slot: parent.slot,
            parent: RwLock::new(Some(parent.clone())),
            parent_bank_hash: pf.bank_hash,
            parent_blockhash: pf.blockhash,
            collector,
            block_height,
            lamports_per_signature: parent.lamports_per_signature,
            parent_total_transaction_count: parent.total_transaction_count(),
            blockhashes: parent
                .blockhashes
                .child(pf.blockhash, parent.block_height, block_height),
            ancestors: ancestors.into_boxed_slice(),
            root: parent.root.clone(),
            status_cache: parent.status_cache.clone(),
            state: RwLock::new(BankState::default()),
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

    /// The fee `tx` pays, or `None` if it does not fit a `u64`.
    pub fn fee(&self, tx: &TxnView<'_>) -> Option<Lamports> {
        self.lamports_per_signature
            .checked_mul(tx.num_signatures() as u64)
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

    /// The hash of the accounts written in this slot, once frozen.
    pub fn accounts_delta_hash(&self) -> Option<Hash> {
        self.frozen.get().map(|f| f.accounts_delta_hash)
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

    /// The three checks that keep a transaction out of a block (for RPC preflight), without running it.
    pub fn check_transaction(&self, tx: &TxnView<'_>) -> Result<(), TxError> {
        match self.simulate(tx).status {
            Err(e) if !e.is_included() => Err(e),
            _ => Ok(()),
        }
    }

    /// Executes one transaction without committing it (RPC `simulateTransaction`/preflight).
    pub fn simulate(&self, tx: &TxnView<'_>) -> TxExecution {
        self.with_fork_view(|view| {
            let statuses = view.statuses.blockhash_statuses(&tx.recent_blockhash());
            self.execute_one(view, statuses, tx)
        })
    }

    /// Executes `txs` against this bank's current state without changing it. The transactions must
    /// not take conflicting locks (see [`crate::sealevel`]): each sees the state before the batch.
    pub fn execute(&self, txs: &[Txn]) -> ExecutedBatch {
        let commit_seq = self.commit_seq();
        let mut out = Vec::with_capacity(txs.len());
        self.execute_into(txs, &mut out);
        ExecutedBatch::new(self.slot, commit_seq, out)
    }

    /// Batches committed so far; an [`ExecutedBatch`] remembers it to detect staleness.
    pub(crate) fn commit_seq(&self) -> u64 {
        read(&self.state).commit_seq
    }

    /// Executes `txs`, appending one result per transaction to `out`, under one set of read locks.
    pub(crate) fn execute_into(&self, txs: &[Txn], out: &mut Vec<TxExecution>) {
        self.with_fork_view(|view| {
            // Most transactions of a batch share a blockhash: look its statuses up once.
            let mut last: Option<(Hash, Option<&BlockhashStatuses>)> = None;
            for t in txs {
                let tx = t.view();
                let blockhash = tx.recent_blockhash();
                let statuses = match last {
                    Some((h, s)) if h == blockhash => s,
                    _ => {
                        let s = view.statuses.blockhash_statuses(&blockhash);
                        last = Some((blockhash, s));
                        s
                    }
                };
                out.push(self.execute_one(view, statuses, &tx));
            }
        })
    }

    /// Whether `slot` is this bank or an unrooted ancestor it remembers (rooted ones are known to the
    /// status cache).
    #[inline]
    fn is_on_fork(&self, slot: Slot) -> bool {
        slot == self.slot || self.ancestors.binary_search(&slot).is_ok()
    }

    /// Applies the ledger rules (module docs) to one transaction.
    fn execute_one(
        &self,
        view: &ForkView<'_>,
        statuses: Option<&BlockhashStatuses>,
        tx: &TxnView<'_>,
    ) -> TxExecution {
        let signature = tx.signature();
        if let Some(s) = statuses {
            let on_fork = |slot| self.is_on_fork(slot) || view.statuses.is_root(slot);
            if s.find(&signature, on_fork).is_some() {
                return TxExecution::not_included(signature, TxError::AlreadyProcessed);
            }
        }
        let Some(blockhash_height) = self.processing_blockhash_height(&tx.recent_blockhash())
        else {
            return TxExecution::not_included(signature, TxError::BlockhashNotFound);
        };
        let n = tx.num_account_keys();
        let mut pre = [0 as Lamports; ACCOUNT_KEYS_MAX];
        for (i, p) in pre.iter_mut().enumerate().take(n) {
            *p = view.accounts.balance(&tx.account_key(i));
        }
        let fee = match self.fee(tx) {
            Some(fee) if fee <= pre[0] => fee,
            _ => return TxExecution::not_included(signature, TxError::InsufficientFundsForFee),
        };
        let mut post = pre;
        post[0] -= fee;
        let status = apply_transfers(tx, &mut post[..n]);
        let written = match status {
            Ok(()) => (0..n)
                .filter(|i| tx.is_writable(*i))
                .fold(0u64, |m, i| m | (1 << i)),
            Err(_) => {
                post = pre;
                post[0] -= fee;
                1
            }
        };
        TxExecution {
            signature,
            status,
            fee,
            balances: KeyBalances::new(&pre[..n], &post[..n]),
            written,
            blockhash_height,
        }
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
                return Err(CommitError::SignatureMismatch {
                    index,
                    result: e.signature,
                    txn,
                });
            }
        }
        let mut cache = write(&self.status_cache);
        let st = &mut *st;
        for (t, e) in txs.iter().zip(&batch.executions) {
            if !e.is_included() {
                continue;
            }
            let tx = t.view();
            for (key, lamports) in e.writes(&tx) {
                st.delta.insert(key, lamports);
            }
            cache.insert(
                &tx.recent_blockhash(),
                e.blockhash_height,
                &e.signature,
                self.slot,
                e.status,
            );
            st.transaction_count += 1;
            st.signature_count += tx.num_signatures() as u64;
            // Fees are debited from balances that sum to at most the supply (a u64), so this cannot
            // saturate.
            st.collected_fees = st.collected_fees.saturating_add(e.fee);
        }
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
                    }
                    .balance(&self.collector)
                }
            };
            // The supply fits a u64 and the fees came out of it, so the sum fits too.
            let credited = balance.saturating_add(st.collected_fees);
            st.delta.insert(self.collector, credited);
        }
        let accounts_delta_hash = accounts_delta_hash(&st.delta);
        let bank_hash = Hash::hashv(&[
            self.parent_bank_hash.as_bytes(),
            accounts_delta_hash.as_bytes(),
            &st.signature_count.to_le_bytes(),
            blockhash.as_bytes(),
        ]);
        let _ = self.frozen.set(Frozen {
            blockhash,
            bank_hash,
            accounts_delta_hash,
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
        f(&AccountsReader {
            deltas: &deltas,
            root: &root.accounts,
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

/// Runs the transfers of `tx` over `balances` (indexed by account key), stopping at the first failure.
fn apply_transfers(tx: &TxnView<'_>, balances: &mut [Lamports]) -> TxStatus {
    for (i, t) in tx.transfers().enumerate() {
        // At most 64 instructions (txn::INSTRUCTIONS_MAX), so the index fits a u8.
        let index = i as u8;
        let (from, to) = (usize::from(t.from), usize::from(t.to));
        let Some(left) = balances[from].checked_sub(t.lamports) else {
            return Err(TxError::InstructionError {
                index,
                kind: InstructionErrorKind::InsufficientFunds,
            });
        };
        balances[from] = left;
        let Some(credited) = balances[to].checked_add(t.lamports) else {
            return Err(TxError::InstructionError {
                index,
                kind: InstructionErrorKind::ArithmeticOverflow,
            });
        };
        balances[to] = credited;
    }
    Ok(())
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
#[path = "bank_tests.rs"]
pub(crate) mod tests;
