//! Signature verification: every signature of every transaction, strictly, one at a time.
//!
//! A signature is accepted only if ed25519-dalek's `verify_strict` accepts it: the scalar `S` must be
//! canonical, and neither the public key nor the signature's `R` may be a small-order point. We do not
//! batch: `verify_batch` checks a random linear combination and gives different verdicts from
//! `verify_strict` on adversarial small-order and torsion inputs (see the differential test below and
//! DESIGN §6), and a validator must never accept what its peers' strict check rejects.
//!
//! The [`SigverifyStage`] runs N workers over batches from the fetch stage. Per packet, cheapest check
//! first: oversized flag, zero-copy parse, dedup (a keyed hash of the whole packet), then signatures.
//! Survivors become owned [`Txn`]s, sent downstream as one `Vec` per batch.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use ed25519_dalek::VerifyingKey;

use crate::dedup::Deduper;
use crate::metrics::{Reject, RejectCounters};
use crate::packet::{PacketBatch, PacketFlags};
use crate::txn::{self, Txn, TxnView};
use crate::types::{Hash, Pubkey};

mod admission;
pub use admission::{
    Admission, BatchAdmission, FreeRule, ADMIT_BACKLOG_MAX, ADMIT_BACKLOG_MIN, ADMIT_FRESH_WINDOW,
    ADMIT_HORIZON, ADMIT_QUEUE_DELAY, ADMIT_STANDING_QUEUE, OVERLOAD_MEMORY,
};

/// How long a worker waits for a batch before it looks at its exit flag again.
pub const SIGVERIFY_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Why a transaction's signatures are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigverifyError {
    /// A signer's key bytes are not the encoding of a curve point.
    #[error("signer {index} key {signer} is not a valid ed25519 public key")]
    InvalidPublicKey {
        /// Position of the signature (and of the signer among the account keys).
        index: usize,
        /// The key bytes.
        signer: Pubkey,
    },
    /// `verify_strict` refuses the signature.
    #[error("signature {index} by {signer} fails strict ed25519 verification")]
    BadSignature {
        /// Position of the signature.
        index: usize,
        /// The signer's key.
        signer: Pubkey,
    },
}

/// Checks every signature `i` of `view` with `verify_strict` against the message and account key `i`.
pub fn verify_txn(view: &TxnView<'_>) -> Result<(), SigverifyError> {
    verify_signatures(view, |key| VerifyingKey::from_bytes(key).ok())
}

/// [`verify_txn`] with signer keys decompressed through `keys`, which keeps the recent ones: a
/// block's fee payers repeat.
pub(crate) fn verify_txn_cached(
    view: &TxnView<'_>,
    keys: &mut KeyCache,
) -> Result<(), SigverifyError> {
    verify_signatures(view, |key| keys.get(key))
}

/// [`verify_txn`] with signer keys decompressed through `key_of` (`None`: not a curve point).
fn verify_signatures(
    view: &TxnView<'_>,
    mut key_of: impl FnMut(&[u8; 32]) -> Option<VerifyingKey>,
) -> Result<(), SigverifyError> {
    let message = view.message();
    for index in 0..view.num_signatures() {
        let key_bytes = view.account_key_bytes(index);
        let key = key_of(key_bytes).ok_or(SigverifyError::InvalidPublicKey {
            index,
            signer: Pubkey(*key_bytes),
        })?;
        let signature = ed25519_dalek::Signature::from_bytes(view.signature_bytes(index));
        key.verify_strict(message, &signature)
            .map_err(|_| SigverifyError::BadSignature {
                index,
                signer: Pubkey(*key_bytes),
            })?;
    }
    Ok(())
}

/// Entries in each worker's [`KeyCache`] (≈ 200 bytes each).
const KEY_CACHE_ENTRIES: usize = 8192;

/// Recently used signer keys, already decompressed: decompression is ≈ 12 % of a strict verify, and
/// fee payers repeat. Direct-mapped by the key's first bytes and compared in full, so a hit gives
/// exactly what `VerifyingKey::from_bytes` gives; a sender can only evict entries, which costs at
/// worst the decompression there would be without the cache.
pub(crate) struct KeyCache {
    entries: Box<[Option<VerifyingKey>]>,
}

impl KeyCache {
    pub(crate) fn new() -> KeyCache {
        KeyCache {
            entries: vec![None; KEY_CACHE_ENTRIES].into_boxed_slice(),
        }
    }

    fn get(&mut self, key: &[u8; 32]) -> Option<VerifyingKey> {
        let index = usize::from(u16::from_le_bytes([key[0], key[1]])) % KEY_CACHE_ENTRIES;
        if let Some(cached) = &self.entries[index] {
            if cached.as_bytes() == key {
                return Some(*cached);
            }
        }
        let decoded = VerifyingKey::from_bytes(key).ok()?;
        self.entries[index] = Some(decoded);
        Some(decoded)
    }
}

/// Counters of the sigverify stage (rejections go to the node's [`RejectCounters`]).
#[derive(Debug, Default)]
pub struct SigverifyStats {
    /// Packets taken from the input queue.
    pub packets: AtomicU64,
    /// Transactions that passed every check and were handed downstream.
    pub accepted: AtomicU64,
    /// Times the dedup filter was cleared.
    pub dedup_resets: AtomicU64,
    /// Packets shed unverified by admission: free transactions while the banking stage held its
    /// bound, or while overloaded (see [`Admission`]).
    pub shed_backlog: AtomicU64,
    /// Of those, free transactions shed while overloaded for their blockhash's age.
    pub shed_stale: AtomicU64,
    /// Of those, free transactions shed for waiting in the input queue longer than
    /// [`ADMIT_QUEUE_DELAY`].
    pub shed_late: AtomicU64,
    /// Transactions another validator forwarded here, shed unverified while this node forwards
    /// (they are never forwarded twice, see [`Admission::set_forwarding`]).
    pub shed_forwarded: AtomicU64,
}

/// N worker threads verifying packet batches into owned transactions.
///
/// The workers share one [`Deduper`] whose table is updated with a relaxed atomic `swap` per packet:
/// no lock, and any worker can take any batch, so load balances itself over the shared input queue.
/// (One filter per worker would need a dispatcher routing packets by hash: an extra thread and a copy
/// of every packet, to save one uncontended atomic on an 8 MiB table.)
#[derive(Debug)]
pub struct SigverifyStage {
    workers: Vec<JoinHandle<()>>,
    stats: Arc<SigverifyStats>,
}

/// What every worker shares.
struct Worker {
    input: Receiver<PacketBatch>,
    output: Sender<Vec<Txn>>,
    pool: Sender<PacketBatch>,
    counters: Arc<RejectCounters>,
    exit: Arc<AtomicBool>,
    deduper: Arc<Deduper>,
    stats: Arc<SigverifyStats>,
    /// The banking stage's admission, if on (see [`Admission`]).
    admission: Option<Arc<Admission>>,
}

impl SigverifyStage {
    /// Spawns `threads` workers (at least one) reading `input`, sending each batch's survivors to
    /// `output` (a full queue counts them as [`Reject::QueueFull`]) and returning emptied batches to
    /// `pool`. Workers end when `exit` is set or `input` is disconnected and drained. On a spawn error
    /// the workers already started run until `exit` is set.
    pub fn spawn(
        threads: usize,
        input: Receiver<PacketBatch>,
        output: Sender<Vec<Txn>>,
        pool: Sender<PacketBatch>,
        counters: Arc<RejectCounters>,
        exit: Arc<AtomicBool>,
    ) -> io::Result<SigverifyStage> {
        Self::spawn_admitting(threads, input, output, pool, counters, exit, None)
    }

    /// Like [`SigverifyStage::spawn`], shedding batches unverified while `admission` says the
    /// banking stage holds enough.
    pub fn spawn_admitting(
        threads: usize,
        input: Receiver<PacketBatch>,
        output: Sender<Vec<Txn>>,
        pool: Sender<PacketBatch>,
        counters: Arc<RejectCounters>,
        exit: Arc<AtomicBool>,
        admission: Option<Arc<Admission>>,
    ) -> io::Result<SigverifyStage> {
        let stats = Arc::new(SigverifyStats::default());
        let worker = Arc::new(Worker {
            input,
            output,
            pool,
            counters,
            exit,
            deduper: Arc::new(Deduper::default()),
            stats: Arc::clone(&stats),
            admission,
        });
        let workers = (0..threads.max(1))
            .map(|i| {
                let worker = Arc::clone(&worker);
                std::thread::Builder::new()
                    .name(format!("bb-sigverify-{i}"))
                    .spawn(move || {
                        crate::cores::set_current_thread_nice(crate::cores::EDGE_NICE, "sigverify");
                        worker.run(&mut KeyCache::new())
                    })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(SigverifyStage { workers, stats })
    }

    /// The stage's counters.
    pub fn stats(&self) -> &Arc<SigverifyStats> {
        &self.stats
    }

    /// Waits for every worker to end (set the exit flag or disconnect the input first).
    pub fn join(self) -> std::thread::Result<()> {
        for worker in self.workers {
            worker.join()?;
        }
        Ok(())
    }
}

impl Worker {
    fn run(&self, keys: &mut KeyCache) {
        loop {
            match self.input.recv_timeout(SIGVERIFY_POLL_INTERVAL) {
                Ok(mut batch) => {
                    let delivered = self.process(&batch, keys);
                    batch.clear();
                    let _ = self.pool.try_send(batch);
                    if !delivered {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.exit.load(Ordering::Relaxed) {
                return;
            }
            if self.deduper.maybe_reset(Instant::now()) {
                self.stats.dedup_resets.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Verifies one batch and sends its survivors on; `false` once the output is disconnected.
    fn process(&self, batch: &PacketBatch, keys: &mut KeyCache) -> bool {
        // Free transactions may be shed after a parse, before any signature work (see
        // `Admission`); paying ones are verified, and the banking stage makes room for them.
        let mut admission = match &self.admission {
            Some(a) => a.batch(batch.waited(), self.input.len()),
            None => BatchAdmission::with_rule(FreeRule::All),
        };
        // Counted locally and added once per batch, so workers do not contend on counter lines.
        let mut rejects = [0u64; Reject::ALL.len()];
        let mut accepted = Vec::with_capacity(batch.len());
        let mut shed = 0;
        let mut shed_forwarded = 0;
        for packet in batch {
            let forwarded = packet.flags().contains(PacketFlags::FORWARDED);
            if forwarded && admission.sheds_forwarded {
                shed_forwarded += 1;
                continue;
            }
            let data = packet.data();
            match check_packet(
                data,
                packet.is_oversized(),
                forwarded,
                &mut admission,
                &self.deduper,
                keys,
            ) {
                Ok(mut txn) => {
                    if forwarded {
                        txn.mark_forwarded();
                    }
                    accepted.push(txn)
                }
                Err(Reject::QueueFull) => {
                    shed += 1;
                    rejects[Reject::QueueFull as usize] += 1;
                }
                Err(reason) => rejects[reason as usize] += 1,
            }
        }
        if let Some(a) = &self.admission {
            a.finish(&admission);
        }
        if shed > 0 {
            self.stats.shed_backlog.fetch_add(shed, Ordering::Relaxed);
        }
        if shed_forwarded > 0 {
            self.stats
                .shed_forwarded
                .fetch_add(shed_forwarded, Ordering::Relaxed);
        }
        if admission.shed_late > 0 {
            self.stats
                .shed_late
                .fetch_add(admission.shed_late, Ordering::Relaxed);
        }
        if admission.shed_stale > 0 {
            self.stats
                .shed_stale
                .fetch_add(admission.shed_stale, Ordering::Relaxed);
        }
        self.stats
            .packets
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut connected = true;
        if !accepted.is_empty() {
            let n = accepted.len() as u64;
            match self.output.try_send(accepted) {
                Ok(()) => {
                    self.stats.accepted.fetch_add(n, Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) => rejects[Reject::QueueFull as usize] += n,
                Err(TrySendError::Disconnected(_)) => connected = false,
            }
        }
        for reason in Reject::ALL {
            if rejects[reason as usize] > 0 {
                self.counters.add_n(reason, rejects[reason as usize]);
            }
        }
        connected
    }
}

/// Runs one packet through the checks, cheapest first. A transaction `admission` sheds (see
/// [`BatchAdmission::admits`]; `forwarded` if a staked validator forwarded it) is refused as
/// `QueueFull` before it is deduplicated, so that its sender's resend is still checked later.
fn check_packet(
    data: &[u8],
    oversized: bool,
    forwarded: bool,
    admission: &mut BatchAdmission,
    deduper: &Deduper,
    keys: &mut KeyCache,
) -> Result<Txn, Reject> {
    if oversized {
        return Err(Reject::Oversized);
    }
    let layout = txn::parse(data).map_err(|e| Reject::from(&e))?;
    let off = usize::from(layout.recent_blockhash_off);
    let blockhash = data
        .get(off..off + 32)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(Hash)
        .unwrap_or_default();
    if !admission.admits(layout.compute_unit_price, &blockhash, forwarded) {
        return Err(Reject::QueueFull);
    }
    if deduper.is_duplicate(data) {
        return Err(Reject::DuplicateSignature);
    }
    verify_signatures(&TxnView::from_parts(data, layout), |key| keys.get(key))
        .map_err(|_| Reject::BadSignature)?;
    Ok(Txn::from_parts(data.into(), layout))
}

#[cfg(test)]
mod tests;
