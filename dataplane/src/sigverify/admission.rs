//! Sigverify's admission: what is verified while the banking stage holds enough.
//!
//! Verifying costs as much CPU as executing, so past what the banking stage can run soon the node
//! sheds before any signature work, in this order:
//! 1. **Paying transactions are always verified**; the banking stage makes room for them by
//!    evicting free ones (fee per compute unit decides under contention).
//! 2. **While the backlog is at its bound** ([`Admission::limit`]), free transactions are shed.
//! 3. **While the node is overloaded** (the backlog reached its bound within [`OVERLOAD_MEMORY`]),
//!    a free transaction is verified only if it was signed recently: its blockhash is at most
//!    [`ADMIT_FRESH_WINDOW`] older than the newest blockhash arriving transactions carry. Under
//!    overload the cluster cannot run everything offered, and which free transactions it runs
//!    decides their latency: admitted at random, a shed transfer lands on some later resend, tens
//!    of seconds after it was signed, and such transfers make up the latency tail. Serving the
//!    freshest first keeps the latency of what lands close to an unloaded cluster's, and a
//!    transfer that does not land expires, which its sender sees. This is the adaptive-LIFO rule of
//!    overloaded services (serve the newest while overloaded, in order otherwise); a sender who
//!    needs a transfer through pays a priority fee, which step 1 always verifies. The blockhash is
//!    the only signing time every node can read, whichever leader a resend reaches.
//! 4. Otherwise everything is verified.
//!
//! Verification itself can be what falls behind (on a few shared cores it competes with replay and
//! votes): then packets wait in sigverify's input queue, and a FIFO queue of seconds serves every
//! transaction late and drops, when full, the newest. So a batch that waited longer than
//! [`ADMIT_QUEUE_DELAY`], with a queue still behind it ([`ADMIT_STANDING_QUEUE`]), has its free
//! transactions shed unverified, and the node counts as
//! overloaded (step 3 then sheds stale resends before they cost a verification): the queue's delay
//! stays bounded, as CoDel bounds a router's.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::blockhash_queue::BlockhashQueue;
use crate::types::Hash;

/// The most transfers the banking stage may hold before arriving batches are shed unverified,
/// by default (`performance.admit_backlog_max` sets it), however fast it drains them. Verifying
/// costs as much CPU as executing: what sigverify verifies past the bound cannot run soon, and
/// verifying it only takes the cores banking and PoH need, so goodput falls as the offered load
/// rises. Shed before any work is spent, the senders resend. Votes do not come this way (the
/// control plane verifies them).
pub const ADMIT_BACKLOG_MAX: usize = 16_384;
/// The bound while the banking stage's drain rate is measured: the backlog it empties in this long.
/// A longer queue only ages: a leader's window ends (its leftovers are forwarded once, then
/// dropped) before it gets there, and every transaction in it was verified for nothing.
pub const ADMIT_HORIZON: Duration = Duration::from_secs(1);
/// The bound never goes below this, so that a slow measurement cannot starve a leader.
pub const ADMIT_BACKLOG_MIN: usize = 2_048;
/// While overloaded, a free transaction is verified only if its blockhash is at most this much
/// older than the newest arriving: the latency budget of a free transfer under overload. One that
/// waited longer would only lengthen the tail of what lands. Measured on a 4-validator localnet
/// offered 2× and about 4× its closed-loop rate: 3 s kept p99 near the closed loop's but lost up
/// to a fifth of the goodput (too few transactions qualify to keep every leader busy); 8 s kept
/// 83–98 % of the goodput with p99 at 2–2.6× the closed loop's.
pub const ADMIT_FRESH_WINDOW: Duration = Duration::from_secs(8);
/// The node counts as overloaded this long after its backlog last reached the bound: longer than
/// a leader's rotation through a few validators, so that a leader's next turn starts with the rule
/// its last one ended with.
pub const OVERLOAD_MEMORY: Duration = Duration::from_secs(10);
/// The longest a batch may wait between its first packet's arrival and a sigverify worker before
/// its free transactions are shed unverified (see the module's documentation). Under a slot, so a
/// transaction sent to the leader is verified while that leader still leads; longer than the
/// pauses a shared core gives (a replayed block's checks take the cores for a few hundred ms).
pub const ADMIT_QUEUE_DELAY: Duration = Duration::from_millis(300);
/// A late batch is shed only while at least this many batches queue behind it (a standing queue,
/// as CoDel tells one from a burst): one that waited on a busy core with nothing behind it is
/// not overload, and shedding it would drop a lone sender's transfer for nothing.
pub const ADMIT_STANDING_QUEUE: usize = 16;
/// Slot length assumed until the pipeline gives the cluster's.
const SLOT_DURATION_DEFAULT: Duration = Duration::from_millis(400);

/// Sigverify's admission: the banking stage's backlog against the most it should hold, and which
/// free transactions are verified while overloaded (see the module's documentation).
///
/// The banking stage publishes its backlog on every loop and, after each busy slot, how fast it
/// drained it; the bound is then [`ADMIT_HORIZON`] of that rate, between [`ADMIT_BACKLOG_MIN`] and
/// the ceiling. Counting transactions alone would not do: the same backlog is a moment's work for
/// a lone leader and several seconds for one whose cores are shared with replay.
#[derive(Debug)]
pub struct Admission {
    backlog: AtomicUsize,
    limit: AtomicUsize,
    ceiling: usize,
    /// The recent blockhashes and their heights (the newest frozen bank's, its own included).
    blockhashes: RwLock<Arc<BlockhashQueue>>,
    /// The highest blockhash height arriving transactions have carried.
    newest_seen: AtomicU64,
    /// The fresh window ([`ADMIT_FRESH_WINDOW`] by default) in blocks of `slot_duration`.
    fresh_blocks: u64,
    fresh_window: Duration,
    slot_duration: Duration,
    /// Milliseconds after `epoch` until which the node counts as overloaded.
    overloaded_until_ms: AtomicU64,
    /// The node forwards what it holds (it leads neither now nor next): what another validator
    /// forwarded here would be dropped unforwarded, so it is not verified either.
    forwarding: AtomicBool,
    epoch: Instant,
}

/// What a sigverify worker does with the free transactions of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeRule {
    /// Verify them all.
    All,
    /// Verify those signed against a blockhash this high or higher.
    FreshFrom(u64),
    /// Shed them all.
    None,
}

/// One batch's admission: the rule in force when it began and the blockhashes it is read against.
#[derive(Debug)]
pub struct BatchAdmission {
    rule: FreeRule,
    blockhashes: Arc<BlockhashQueue>,
    newest_seen: u64,
    /// Whether transactions another validator forwarded here are shed (see [`Admission`]).
    pub sheds_forwarded: bool,
    /// Free transactions shed for their blockhash's age.
    pub shed_stale: u64,
    /// Whether the batch waited longer than [`ADMIT_QUEUE_DELAY`] with a standing queue behind it
    /// (its free transactions are shed, but for staked validators' forwards).
    pub late: bool,
    /// Free transactions shed for their batch's wait in the queue.
    pub shed_late: u64,
}

impl BatchAdmission {
    /// A batch under `rule`, with no blockhash known (every one is taken as fresh).
    pub fn with_rule(rule: FreeRule) -> BatchAdmission {
        BatchAdmission {
            rule,
            blockhashes: Arc::default(),
            newest_seen: 0,
            sheds_forwarded: false,
            shed_stale: 0,
            late: false,
            shed_late: 0,
        }
    }

    /// Whether a transaction paying `price` micro-lamports per compute unit, signed against
    /// `blockhash`, is verified; `forwarded` if a staked validator forwarded it (the QUIC TPU
    /// marks those), which a late batch does not shed: stake goes first at the edge.
    pub fn admits(&mut self, price: u64, blockhash: &Hash, forwarded: bool) -> bool {
        let height = self.blockhashes.height_of(blockhash);
        if let Some(h) = height {
            self.newest_seen = self.newest_seen.max(h);
        }
        if price > 0 {
            return true;
        }
        if self.late && !forwarded {
            self.shed_late += 1;
            return false;
        }
        match self.rule {
            FreeRule::All => true,
            FreeRule::None => false,
            FreeRule::FreshFrom(from) => {
                // A blockhash this node does not know is newer than its newest bank (it is behind)
                // or not one at all: the banking stage refuses the latter.
                let fresh = height.is_none_or(|h| h >= from);
                if !fresh {
                    self.shed_stale += 1;
                }
                fresh
            }
        }
    }
}

impl Admission {
    /// Admission whose bound is [`ADMIT_BACKLOG_MIN`] until a drain rate is known, and never
    /// above `ceiling`: a node that starts under load (a restart into a busy cluster) verifies
    /// no more than it can show it runs, as a TCP sender starts slow.
    pub fn new(ceiling: usize) -> Admission {
        let ceiling = ceiling.max(ADMIT_BACKLOG_MIN);
        Admission {
            backlog: AtomicUsize::new(0),
            limit: AtomicUsize::new(ADMIT_BACKLOG_MIN),
            ceiling,
            blockhashes: RwLock::default(),
            newest_seen: AtomicU64::new(0),
            fresh_blocks: fresh_blocks(SLOT_DURATION_DEFAULT, ADMIT_FRESH_WINDOW),
            fresh_window: ADMIT_FRESH_WINDOW,
            slot_duration: SLOT_DURATION_DEFAULT,
            overloaded_until_ms: AtomicU64::new(0),
            forwarding: AtomicBool::new(false),
            epoch: Instant::now(),
        }
    }

    /// The same, for a cluster whose slots last `slot_duration` (the fresh window is counted in
    /// its blocks).
    pub fn with_slot_duration(mut self, slot_duration: Duration) -> Admission {
        self.slot_duration = slot_duration;
        self.fresh_blocks = fresh_blocks(slot_duration, self.fresh_window);
        self
    }

    /// The same with a fresh window of `window` instead of [`ADMIT_FRESH_WINDOW`]
    /// (`performance.admit_fresh_window`).
    pub fn with_fresh_window(mut self, window: Duration) -> Admission {
        self.fresh_window = window;
        self.fresh_blocks = fresh_blocks(self.slot_duration, window);
        self
    }

    /// Publishes the banking stage's backlog (transfers held); at the bound, the node is
    /// overloaded for [`OVERLOAD_MEMORY`].
    pub fn set_backlog(&self, held: usize) {
        self.backlog.store(held, Ordering::Relaxed);
        if held >= self.limit() {
            self.mark_overloaded();
        }
    }

    /// The node is overloaded from now for [`OVERLOAD_MEMORY`].
    fn mark_overloaded(&self) {
        let until = self.now_ms() + OVERLOAD_MEMORY.as_millis() as u64;
        self.overloaded_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    /// Sets the bound from the banking stage's measured drain rate (transactions a second).
    pub fn set_drain_rate(&self, per_second: f64) {
        let horizon = per_second.max(0.0) * ADMIT_HORIZON.as_secs_f64();
        let limit = (horizon as usize).clamp(ADMIT_BACKLOG_MIN, self.ceiling);
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Publishes the recent blockhashes arriving transactions are dated by.
    pub fn set_blockhashes(&self, blockhashes: Arc<BlockhashQueue>) {
        *self.blockhashes.write().unwrap_or_else(|e| e.into_inner()) = blockhashes;
    }

    /// The bound in force.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Whether arriving free transactions are verified at all (the backlog is under the bound).
    pub fn admits(&self) -> bool {
        self.backlog.load(Ordering::Relaxed) < self.limit()
    }

    /// Whether the backlog reached its bound within [`OVERLOAD_MEMORY`].
    pub fn overloaded(&self) -> bool {
        self.now_ms() < self.overloaded_until_ms.load(Ordering::Relaxed)
    }

    /// The rule for free transactions now.
    pub fn free_rule(&self) -> FreeRule {
        if !self.admits() {
            FreeRule::None
        } else if self.overloaded() {
            let newest = self.newest_seen.load(Ordering::Relaxed);
            FreeRule::FreshFrom(newest.saturating_sub(self.fresh_blocks))
        } else {
            FreeRule::All
        }
    }

    /// The admission of a batch starting now, after waiting `waited` since its first packet
    /// arrived, with `queued` batches behind it: past [`ADMIT_QUEUE_DELAY`] with a standing queue
    /// ([`ADMIT_STANDING_QUEUE`]) its free transactions are shed (but for staked validators'
    /// forwards) and the node is overloaded.
    pub fn batch(&self, waited: Duration, queued: usize) -> BatchAdmission {
        let late = waited > ADMIT_QUEUE_DELAY && queued >= ADMIT_STANDING_QUEUE;
        if late {
            self.mark_overloaded();
        }
        BatchAdmission {
            rule: self.free_rule(),
            blockhashes: self
                .blockhashes
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            newest_seen: 0,
            sheds_forwarded: self.forwarding.load(Ordering::Relaxed),
            shed_stale: 0,
            late,
            shed_late: 0,
        }
    }

    /// Sets whether the node forwards what it holds (the banking stage, as the control plane moves
    /// its forwarding target): meanwhile transactions another validator forwarded here are shed
    /// before verification, as the banking stage would drop them after it.
    pub fn set_forwarding(&self, forwarding: bool) {
        self.forwarding.store(forwarding, Ordering::Relaxed);
    }

    /// Takes in what a batch saw: the newest blockhash its transactions carried.
    pub fn finish(&self, batch: &BatchAdmission) {
        self.newest_seen
            .fetch_max(batch.newest_seen, Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

/// `window` in blocks of `slot_duration` (at least one).
fn fresh_blocks(slot_duration: Duration, window: Duration) -> u64 {
    let slot_ms = slot_duration.as_millis().max(1) as u64;
    (window.as_millis() as u64).div_ceil(slot_ms).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admission_bound_is_a_second_of_the_measured_drain_rate_within_its_limits() {
        let admission = Admission::new(ADMIT_BACKLOG_MAX);
        // Unmeasured: the floor.
        assert_eq!(admission.limit(), ADMIT_BACKLOG_MIN);
        admission.set_backlog(ADMIT_BACKLOG_MIN - 1);
        assert!(admission.admits());
        admission.set_backlog(ADMIT_BACKLOG_MIN);
        assert!(!admission.admits());
        // A leader draining 5,000 a second holds a second of that.
        admission.set_drain_rate(5_000.0);
        assert_eq!(admission.limit(), 5_000);
        assert!(admission.admits());
        admission.set_backlog(5_000);
        assert!(!admission.admits());
        admission.set_backlog(4_999);
        assert!(admission.admits());
        // Never below the floor, never above the ceiling, whatever the measurement says.
        admission.set_drain_rate(10.0);
        assert_eq!(admission.limit(), ADMIT_BACKLOG_MIN);
        admission.set_drain_rate(f64::NAN);
        assert_eq!(admission.limit(), ADMIT_BACKLOG_MIN);
        admission.set_drain_rate(1e12);
        assert_eq!(admission.limit(), ADMIT_BACKLOG_MAX);
        assert_eq!(Admission::new(1).limit(), ADMIT_BACKLOG_MIN);
    }

    /// Blockhashes of heights `0..n`, the hash of height `h` being `[h; 32]`.
    fn queue(n: u8) -> Arc<BlockhashQueue> {
        Arc::new(BlockhashQueue::from_recent(
            u64::from(n),
            (0..n).map(|h| (Hash([h; 32]), u64::from(h))),
        ))
    }

    #[test]
    fn while_overloaded_only_recently_signed_free_transactions_are_verified() {
        // 400 ms slots: the 8 s window is 20 blocks.
        let admission =
            Admission::new(ADMIT_BACKLOG_MAX).with_slot_duration(Duration::from_millis(400));
        admission.set_blockhashes(queue(100));
        // Unloaded: everything, and the batch learns the newest blockhash arriving (90).
        assert!(!admission.overloaded());
        let mut batch = admission.batch(Duration::ZERO, 0);
        assert_eq!(batch.rule, FreeRule::All);
        assert!(batch.admits(0, &Hash([90; 32]), false));
        assert!(batch.admits(0, &Hash([10; 32]), false));
        assert!(batch.admits(0, &Hash([250; 32]), false), "unknown");
        admission.finish(&batch);

        // The backlog reaches its bound: free ones are shed, paying ones verified.
        admission.set_backlog(ADMIT_BACKLOG_MIN);
        let mut batch = admission.batch(Duration::ZERO, 0);
        assert_eq!(batch.rule, FreeRule::None);
        assert!(!batch.admits(0, &Hash([90; 32]), false));
        assert!(batch.admits(1, &Hash([10; 32]), false));

        // Back under the bound, still overloaded: free ones signed within 20 blocks of the newest
        // (70..=90) are verified, older ones shed and counted; paying ones always.
        admission.set_backlog(ADMIT_BACKLOG_MIN - 1);
        assert!(admission.overloaded());
        let mut batch = admission.batch(Duration::ZERO, 0);
        assert_eq!(batch.rule, FreeRule::FreshFrom(70));
        assert!(batch.admits(0, &Hash([90; 32]), false));
        assert!(batch.admits(0, &Hash([70; 32]), false));
        assert!(!batch.admits(0, &Hash([69; 32]), false));
        assert!(!batch.admits(0, &Hash([3; 32]), false));
        assert!(
            batch.admits(0, &Hash([250; 32]), false),
            "unknown: newer than this node's newest bank, or left to banking to refuse"
        );
        assert!(batch.admits(7, &Hash([3; 32]), false));
        assert_eq!(batch.shed_stale, 2);
        // A newer blockhash arriving moves the window.
        assert!(batch.admits(0, &Hash([95; 32]), false));
        admission.finish(&batch);
        assert_eq!(admission.free_rule(), FreeRule::FreshFrom(75));
    }

    #[test]
    fn a_batch_late_from_the_queue_sheds_free_transactions_and_starts_an_overload() {
        let admission = Admission::new(ADMIT_BACKLOG_MAX);
        admission.set_blockhashes(queue(10));
        let on_time = admission.batch(ADMIT_QUEUE_DELAY, ADMIT_STANDING_QUEUE);
        assert!(!on_time.late);
        assert_eq!(on_time.rule, FreeRule::All);
        let past = ADMIT_QUEUE_DELAY + Duration::from_millis(1);
        // Late with no queue behind it: a stalled core, not overload.
        let alone = admission.batch(past, ADMIT_STANDING_QUEUE - 1);
        assert!(!alone.late);
        assert_eq!(alone.rule, FreeRule::All);
        assert!(!admission.overloaded());
        let mut late = admission.batch(past, ADMIT_STANDING_QUEUE);
        assert!(late.late);
        assert!(!late.admits(0, &Hash([9; 32]), false));
        assert!(
            late.admits(1, &Hash([9; 32]), false),
            "paying: always verified"
        );
        assert!(
            late.admits(0, &Hash([9; 32]), true),
            "a staked validator's forward: stake goes first"
        );
        assert_eq!(late.shed_late, 1);
        admission.finish(&late);
        // The batches after it, on time, are under the overload rule: fresh ones only.
        assert!(admission.overloaded());
        let next = admission.batch(Duration::ZERO, 0);
        assert!(!next.late);
        assert!(matches!(next.rule, FreeRule::FreshFrom(_)));
    }

    #[test]
    fn overload_is_remembered_for_its_memory_and_then_forgotten() {
        let admission = Admission::new(ADMIT_BACKLOG_MAX);
        assert!(!admission.overloaded());
        admission.set_backlog(ADMIT_BACKLOG_MIN);
        admission.set_backlog(0);
        assert!(admission.overloaded());
        // As if the bound was last reached longer ago than the memory.
        admission.overloaded_until_ms.store(0, Ordering::Relaxed);
        assert!(!admission.overloaded());
        assert_eq!(admission.free_rule(), FreeRule::All);
    }

    #[test]
    fn the_fresh_window_is_counted_in_the_clusters_slots() {
        let ms = Duration::from_millis;
        assert_eq!(fresh_blocks(ms(400), ADMIT_FRESH_WINDOW), 20);
        assert_eq!(fresh_blocks(ms(200), ADMIT_FRESH_WINDOW), 40);
        assert_eq!(fresh_blocks(ms(10_000), ADMIT_FRESH_WINDOW), 1);
        assert_eq!(fresh_blocks(Duration::ZERO, ADMIT_FRESH_WINDOW), 8_000);
        assert_eq!(fresh_blocks(ms(400), ms(3_000)), 8);
        // Either order of the builders gives the same window.
        let a = Admission::new(ADMIT_BACKLOG_MAX)
            .with_fresh_window(ms(3_000))
            .with_slot_duration(ms(200));
        let b = Admission::new(ADMIT_BACKLOG_MAX)
            .with_slot_duration(ms(200))
            .with_fresh_window(ms(3_000));
        assert_eq!((a.fresh_blocks, b.fresh_blocks), (15, 15));
    }
}
