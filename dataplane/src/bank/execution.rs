//! Executing transactions against a bank without changing it, and the results a commit applies.

use std::sync::Arc;

use crate::accounts::read;
use crate::bank::tx_error::{InstructionErrorKind, TxError, TxStatus};
use crate::bank::{Bank, ForkView};
use crate::status_cache::BlockhashStatuses;
use crate::txn::{Txn, TxnView, ACCOUNT_KEYS_MAX};
use crate::types::{Hash, Lamports, Pubkey, Signature, Slot};
use crate::vote_state::VoteState;

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
    #[error(
        "batch executed after commit {executed} of slot {slot}, but the bank is at commit {now}"
    )]
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
    /// Result `index` belongs to another transaction than `txn`.
    #[error("result {index} belongs to another transaction than {txn}")]
    SignatureMismatch {
        /// Position in the batch.
        index: usize,
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
        write!(
            f,
            "KeyBalances {{ pre: {:?}, post: {:?} }}",
            self.pre(),
            self.post()
        )
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
    /// A successful vote's new vote account state, stored by the commit.
    vote_state: Option<Arc<VoteState>>,
    /// Block height of the transaction's recent blockhash (keys the status cache).
    pub(super) blockhash_height: u64,
}

impl TxExecution {
    fn not_included(signature: Signature, error: TxError) -> TxExecution {
        TxExecution {
            signature,
            status: Err(error),
            fee: 0,
            balances: KeyBalances::empty(),
            written: 0,
            vote_state: None,
            blockhash_height: 0,
        }
    }

    /// The vote account state a successful vote writes (its account is the vote's
    /// [`TxnView::vote_account`]).
    pub fn vote_state(&self) -> Option<&Arc<VoteState>> {
        self.vote_state.as_ref()
    }

    /// Whether the transaction goes into the block (success, or failure after paying the fee).
    pub fn is_included(&self) -> bool {
        match &self.status {
            Ok(()) => true,
            Err(e) => e.is_included(),
        }
    }

    /// Balances of the account keys before the transaction (RPC's `preBalances`).
    pub fn pre_balances(&self) -> &[Lamports] {
        self.balances.pre()
    }

    /// Balances of the account keys after the transaction (RPC's `postBalances`).
    pub fn post_balances(&self) -> &[Lamports] {
        self.balances.post()
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
    pub(super) slot: Slot,
    /// The bank's commit count when the batch was executed; a later commit makes it stale.
    pub(super) commit_seq: u64,
    pub(super) executions: Vec<TxExecution>,
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

/// Lookups repeated across the transactions of one chunk, all of which see the same pre-batch state.
#[derive(Default)]
struct ChunkMemo<'v> {
    /// The statuses under the last blockhash seen (most transactions of a batch share one).
    statuses: Option<(Hash, Option<&'v BlockhashStatuses>)>,
    /// The System Program's balance.
    system_program: Option<Lamports>,
}

impl Bank {
    /// The three checks that keep a transaction out of a block (for RPC preflight), without running it.
    pub fn check_transaction(&self, tx: &TxnView<'_>) -> Result<(), TxError> {
        match self.simulate(tx).status {
            Err(e) if !e.is_included() => Err(e),
            _ => Ok(()),
        }
    }

    /// Executes one transaction without committing it (RPC `simulateTransaction`/preflight).
    pub fn simulate(&self, tx: &TxnView<'_>) -> TxExecution {
        self.with_fork_view(|view| self.execute_one(view, &mut ChunkMemo::default(), tx))
    }

    /// Executes `txs` against this bank's current state without changing it. The transactions must
    /// not take conflicting locks (as [`crate::sealevel::Scheduler`] batches and checked entries
    /// never do): each sees the state before the batch, so committing two that write the same
    /// account would apply only one of their writes. Checked in debug builds.
    pub fn execute(&self, txs: &[Txn]) -> ExecutedBatch {
        debug_assert_eq!(
            crate::account_locks::first_lock_conflict(txs),
            None,
            "a batch takes conflicting locks"
        );
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
            let mut memo = ChunkMemo::default();
            for t in txs {
                out.push(self.execute_one(view, &mut memo, &t.view()));
            }
        })
    }

    /// Whether `slot` is this bank or an unrooted ancestor it remembers (rooted ones are known to the
    /// status cache).
    #[inline]
    pub(super) fn is_on_fork(&self, slot: Slot) -> bool {
        slot == self.slot || self.ancestors.binary_search(&slot).is_ok()
    }

    /// Applies the ledger rules (module docs) to one transaction.
    fn execute_one<'v>(
        &self,
        view: &ForkView<'v>,
        memo: &mut ChunkMemo<'v>,
        tx: &TxnView<'_>,
    ) -> TxExecution {
        let signature = tx.signature();
        let blockhash = tx.recent_blockhash();
        let statuses = match memo.statuses {
            Some((h, s)) if h == blockhash => s,
            _ => {
                let s = view.statuses.blockhash_statuses(&blockhash);
                memo.statuses = Some((blockhash, s));
                s
            }
        };
        if let Some(s) = statuses {
            let on_fork = |slot| self.is_on_fork(slot) || view.statuses.is_root(slot);
            if s.find(&signature, on_fork).is_some() {
                return TxExecution::not_included(signature, TxError::AlreadyProcessed);
            }
        }
        let Some(blockhash_height) = self.processing_blockhash_height(&blockhash) else {
            return TxExecution::not_included(signature, TxError::BlockhashNotFound);
        };
        let n = tx.num_account_keys();
        let mut pre = [0 as Lamports; ACCOUNT_KEYS_MAX];
        for (i, p) in pre.iter_mut().enumerate().take(n) {
            let key = tx.account_key(i);
            // Every transfer lists the System Program; nothing in a batch changes what it reads.
            *p = if key == Pubkey::SYSTEM_PROGRAM {
                *memo
                    .system_program
                    .get_or_insert_with(|| view.accounts.balance(&key))
            } else {
                view.accounts.balance(&key)
            };
        }
        let fee = match self.fee(tx) {
            Some(fee) if fee <= pre[0] => fee,
            _ => return TxExecution::not_included(signature, TxError::InsufficientFundsForFee),
        };
        let mut post = pre;
        post[0] -= fee;
        if tx.is_vote() {
            // A vote moves no lamports: only the fee payer's balance is written.
            let (status, vote_state) = match self.execute_vote(view, tx) {
                Ok(state) => (Ok(()), Some(state)),
                Err(e) => (Err(e), None),
            };
            return TxExecution {
                signature,
                status,
                fee,
                balances: KeyBalances::new(&pre[..n], &post[..n]),
                written: 1,
                vote_state,
                blockhash_height,
            };
        }
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
            vote_state: None,
            blockhash_height,
        }
    }
}

/// Runs the transfers of `tx` over `balances` (indexed by account key), stopping at the first failure.
fn apply_transfers(tx: &TxnView<'_>, balances: &mut [Lamports]) -> TxStatus {
    for t in tx.transfers() {
        let index = t.instruction;
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
