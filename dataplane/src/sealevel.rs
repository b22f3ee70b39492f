//! Sealevel: conflict-free batches of transactions, executed in parallel against one bank.
//!
//! The [`Scheduler`] queues verified transactions in priority order — those put back at the front
//! first, then by compute unit price (the priority fee per compute unit, highest first), then by
//! arrival — and forms batches in which no two transactions take conflicting [`AccountLocks`]. So
//! when more transactions wait than a slot can take, paying ones go first. A transaction that
//! conflicts with one already in the batch — or with an earlier transaction deferred by this same
//! pass — waits for a later batch, and the deferred keep their places. So any two conflicting
//! transactions run in queue order, and running the batches one after another gives exactly the
//! result of running every transaction serially in the order the batches took them.
//!
//! The [`Executor`] splits a batch into chunks for its worker threads (fed by bounded crossbeam
//! queues) and the calling thread. Every chunk reads the pre-batch state and the batch's writes are disjoint, so the chunks
//! need no coordination; the caller commits the combined results (after, on a leader, recording the
//! batch into PoH).

mod queue;

use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};

pub use crate::account_locks::{first_lock_conflict, AccountLocks};
use crate::bank::{Bank, CommitError, ExecutedBatch, TxError, TxExecution};
use crate::txn::Txn;
use crate::types::Signature;

use self::queue::{Popped, TxnQueue};

/// Default most transactions per batch.
pub const DEFAULT_BATCH_SIZE_MAX: usize = 256;
/// Fewest transactions worth handing to a worker thread; smaller batches run on the caller, where
/// waking a thread would cost more than the work.
pub const CHUNK_MIN: usize = 32;

/// Forms conflict-free batches from a priority-ordered queue (see the module docs).
#[derive(Debug)]
pub struct Scheduler {
    queue: TxnQueue,
    locks: AccountLocks,
    deferred: Vec<Popped>,
    batch_size_max: usize,
    deferred_max: usize,
}

impl Scheduler {
    /// A scheduler forming batches of at most `batch_size_max` (at least 1) transactions.
    pub fn new(batch_size_max: usize) -> Scheduler {
        let batch_size_max = batch_size_max.max(1);
        Scheduler {
            queue: TxnQueue::default(),
            locks: AccountLocks::with_capacity(batch_size_max * 3),
            deferred: Vec::new(),
            batch_size_max,
            // Bounds the work spent skipping over blocked transactions when contention is high: a
            // batch pass looks at most this many transactions beyond the ones it takes.
            deferred_max: (batch_size_max / 16).clamp(4, 32),
        }
    }

    /// The most transactions per batch.
    pub fn batch_size_max(&self) -> usize {
        self.batch_size_max
    }

    /// Sets how many blocked transactions a pass may skip before it closes the batch (at least 1).
    pub fn set_deferred_max(&mut self, deferred_max: usize) {
        self.deferred_max = deferred_max.max(1);
    }

    /// Queues a verified transaction by its priority (behind those of at least its price).
    pub fn push(&mut self, txn: Txn) {
        self.queue.push(txn);
    }

    /// Queues verified transactions, in order, by their priorities.
    pub fn extend(&mut self, txns: impl IntoIterator<Item = Txn>) {
        for t in txns {
            self.queue.push(t);
        }
    }

    /// Puts transactions back at the head of the queue, in their order, ahead of everything queued
    /// whatever its price — e.g. votes, or a batch whose PoH record was refused because the slot ended.
    pub fn requeue_front(&mut self, txns: impl IntoIterator<Item = Txn>) {
        self.queue.push_front(txns.into_iter().collect());
    }

    /// Drops up to `n` waiting free (price 0) transactions, the latest arrivals first, to make
    /// room for paying ones; returns how many went.
    pub fn evict_free(&mut self, n: usize) -> usize {
        self.queue.evict_free(n)
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops every waiting transaction, returning them in queue order.
    pub fn drain(&mut self) -> impl Iterator<Item = Txn> {
        self.queue.drain().into_iter()
    }

    /// Replaces `batch`'s contents with the next conflict-free batch; returns its length (0 when the
    /// queue is empty).
    pub fn next_batch(&mut self, batch: &mut Vec<Txn>) -> usize {
        batch.clear();
        self.locks.clear();
        while batch.len() < self.batch_size_max && self.deferred.len() < self.deferred_max {
            let Some(t) = self.queue.pop() else {
                break;
            };
            // A deferred transaction still takes its locks, as a reservation: whatever conflicts with
            // it must run after it.
            if self.locks.lock_or_reserve(&t.txn().view()) {
                batch.push(t.into_txn());
            } else {
                self.deferred.push(t);
            }
        }
        while let Some(t) = self.deferred.pop() {
            self.queue.restore(t);
        }
        batch.len()
    }
}

/// A chunk of a batch for one worker.
struct Job {
    bank: Arc<Bank>,
    txs: Arc<Vec<Txn>>,
    range: Range<usize>,
    chunk: usize,
    out: Vec<TxExecution>,
}

/// A worker's answer: the chunk's results, or the panic that stopped it.
struct ChunkDone {
    chunk: usize,
    out: std::thread::Result<Vec<TxExecution>>,
}

/// Worker threads that execute the chunks of a batch concurrently (see the module docs).
pub struct Executor {
    jobs: Vec<Sender<Job>>,
    done: Receiver<ChunkDone>,
    workers: Vec<JoinHandle<()>>,
    /// Result buffers handed back by workers, reused for later chunks.
    spare: Vec<Vec<TxExecution>>,
    chunk_min: usize,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Executor {{ threads: {} }}", self.workers.len())
    }
}

impl Executor {
    /// An executor with `threads` worker threads; the caller also runs a chunk of each batch, so a
    /// 2-core machine wants 1. With 0 every batch runs on the caller alone.
    pub fn new(threads: usize) -> Executor {
        // One job in flight per worker per batch, and `&mut self` allows one batch at a time.
        let (done_tx, done) = bounded(threads.max(1));
        let mut jobs = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let (job_tx, job_rx) = bounded::<Job>(1);
            let done_tx = done_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("sealevel-{i}"))
                .spawn(move || worker_loop(job_rx, done_tx));
            match handle {
                Ok(h) => {
                    jobs.push(job_tx);
                    workers.push(h);
                }
                Err(e) => {
                    tracing::warn!("sealevel worker {i} not started ({e}); executing with fewer");
                    break;
                }
            }
        }
        Executor {
            jobs,
            done,
            workers,
            spare: Vec::new(),
            chunk_min: CHUNK_MIN,
        }
    }

    /// Sets the fewest transactions per worker chunk (at least 1; default [`CHUNK_MIN`]).
    pub fn set_chunk_min(&mut self, chunk_min: usize) {
        self.chunk_min = chunk_min.max(1);
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Executes a conflict-free batch (see [`Bank::execute`]) against `bank` without changing it; the caller commits the
    /// results with [`Bank::commit`]. Results are in batch order and equal to [`Bank::execute`]'s.
    /// Workers drop their references to `txs` before this returns, so `Arc::get_mut` succeeds after.
    pub fn execute(&mut self, bank: &Arc<Bank>, txs: &Arc<Vec<Txn>>) -> ExecutedBatch {
        debug_assert!(
            !entry_locks_conflict(txs),
            "a batch takes conflicting locks"
        );
        let n = txs.len();
        // The caller runs one chunk itself, so `threads` workers give `threads + 1`-way parallelism.
        let chunks = (n / self.chunk_min).min(self.jobs.len() + 1);
        if chunks <= 1 {
            return bank.execute(txs);
        }
        // Read before any chunk starts: a commit racing with this batch then makes it stale.
        let commit_seq = bank.commit_seq();
        let ranges: Vec<Range<usize>> = chunk_ranges(n, chunks).collect();
        let mut parts: Vec<Option<Vec<TxExecution>>> = (0..chunks).map(|_| None).collect();
        let mut sent = 0;
        for (chunk, range) in ranges.iter().enumerate().skip(1) {
            let mut out = self.spare.pop().unwrap_or_default();
            out.reserve(range.len());
            let job = Job {
                bank: bank.clone(),
                txs: txs.clone(),
                range: range.clone(),
                chunk,
                out,
            };
            // A worker that is gone leaves its chunk to the caller, below.
            if self.jobs[chunk - 1].send(job).is_ok() {
                sent += 1;
            }
        }
        let mut first = self.spare.pop().unwrap_or_default();
        bank.execute_into(&txs[ranges[0].clone()], &mut first);
        parts[0] = Some(first);
        let mut panic = None;
        for _ in 0..sent {
            let Ok(done) = self.done.recv() else {
                break;
            };
            match done.out {
                Ok(out) => parts[done.chunk] = Some(out),
                Err(p) => panic = Some(p),
            }
        }
        if let Some(p) = panic {
            resume_unwind(p);
        }
        let mut executions = Vec::with_capacity(n);
        for (chunk, part) in parts.into_iter().enumerate() {
            // A chunk no worker answered for runs here (nothing was committed meanwhile, so it reads
            // the same state).
            let mut part = part.unwrap_or_else(|| {
                let mut out = Vec::new();
                bank.execute_into(&txs[ranges[chunk].clone()], &mut out);
                out
            });
            executions.append(&mut part);
            self.spare.push(part);
        }
        ExecutedBatch::new(bank.slot(), commit_seq, executions)
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.jobs.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker_loop(jobs: Receiver<Job>, done: Sender<ChunkDone>) {
    while let Ok(job) = jobs.recv() {
        let Job {
            bank,
            txs,
            range,
            chunk,
            mut out,
        } = job;
        let result = catch_unwind(AssertUnwindSafe(|| {
            bank.execute_into(&txs[range], &mut out);
            out
        }));
        // Let go of the batch before answering, so the caller owns it again.
        drop(txs);
        drop(bank);
        if done.send(ChunkDone { chunk, out: result }).is_err() {
            break;
        }
    }
}

/// `n` items split into `chunks` contiguous ranges of near-equal length.
fn chunk_ranges(n: usize, chunks: usize) -> impl Iterator<Item = Range<usize>> {
    let base = n / chunks;
    let extra = n % chunks;
    (0..chunks).map(move |i| {
        let start = i * base + i.min(extra);
        start..start + base + usize::from(i < extra)
    })
}

/// Whether any two transactions of an entry take conflicting locks (replay rejects such an entry).
pub fn entry_locks_conflict(txs: &[Txn]) -> bool {
    first_lock_conflict(txs).is_some()
}

/// Why a replayed entry is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Two transactions of the entry take conflicting locks.
    #[error("transaction {index} ({signature}) of the entry conflicts with an earlier one")]
    ConflictingLocks {
        /// Position in the entry.
        index: usize,
        /// Its signature.
        signature: Signature,
    },
    /// A transaction the leader could not have included.
    #[error("transaction {index} ({signature}) of the entry cannot be included: {error}")]
    NotIncluded {
        /// Position in the entry.
        index: usize,
        /// Its signature.
        signature: Signature,
        /// Why.
        error: TxError,
    },
    /// The results could not be committed.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// Re-executes a block's entry on `bank` (validators, and restart replay) and commits it: refuses an
/// entry whose transactions conflict or contain one that would not be included, since a leader
/// never produces either. Nothing is committed when it fails. Returns each transaction's outcome.
pub fn replay_entry(
    bank: &Arc<Bank>,
    executor: &mut Executor,
    txs: &Arc<Vec<Txn>>,
) -> Result<Vec<crate::bank::TxExecution>, ReplayError> {
    if let Some(index) = first_lock_conflict(txs) {
        return Err(ReplayError::ConflictingLocks {
            index,
            signature: txs[index].signature(),
        });
    }
    let batch = executor.execute(bank, txs);
    for (index, e) in batch.executions().iter().enumerate() {
        if let Err(error) = e.status {
            if !error.is_included() {
                return Err(ReplayError::NotIncluded {
                    index,
                    signature: e.signature,
                    error,
                });
            }
        }
    }
    bank.commit(txs, &batch)?;
    Ok(batch.executions().to_vec())
}

#[cfg(test)]
mod tests;
