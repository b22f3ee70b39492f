//! Performance samples (`getRecentPerformanceSamples`): every [`PERF_SAMPLE_PERIOD_SECS`] the node
//! notes its highest slot and its rooted transaction counts; a sample is the difference from the
//! previous note. As Solana's sampler: the slot is the highest the node holds, the transaction
//! counts come from the root bank (they never go back when a fork is abandoned), and the
//! non-vote count is kept since the process started (only differences are reported).
//!
//! Unlike Solana, samples live in memory only (a restart starts the list again) and the first one
//! covers only [`FIRST_PERF_SAMPLE_SECS`]: a fresh node answers within seconds instead of after a
//! minute, and `samplePeriodSecs` says how long each sample is, so rates stay right.
//!
//! No I/O here: the node's driver calls [`PerfSampler::handle_tick`] and sleeps for what it returns.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dataplane::types::Slot;

/// Seconds between samples (Solana's `SAMPLE_INTERVAL`).
pub const PERF_SAMPLE_PERIOD_SECS: u64 = 60;
/// Seconds the first sample covers (see the module docs).
pub const FIRST_PERF_SAMPLE_SECS: u64 = 5;
/// Samples kept: 12 hours of them, the most `getRecentPerformanceSamples` returns (Solana's 720).
pub const PERF_SAMPLES_MAX: usize = 720;

/// The node's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfCounts {
    /// The highest slot the node holds.
    pub slot: Slot,
    /// Transactions since genesis, at the root.
    pub transactions: u64,
    /// Non-vote transactions since the process started, at the root.
    pub non_vote_transactions: u64,
}

/// One sample as `getRecentPerformanceSamples` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfSample {
    /// The highest slot when the sample was taken.
    pub slot: Slot,
    /// Transactions rooted during the sample, votes included.
    pub num_transactions: u64,
    /// Of those, the ones that are not votes.
    pub num_non_vote_transactions: u64,
    /// Slots the highest slot advanced by.
    pub num_slots: u64,
    /// How long the sample lasted, whole seconds.
    pub sample_period_secs: u16,
}

/// The last note taken and the ring of samples, newest at the back.
#[derive(Debug, Default)]
pub struct PerfSampler {
    last: Option<(Instant, PerfCounts)>,
    samples: VecDeque<PerfSample>,
}

impl PerfSampler {
    /// No note taken, no samples.
    pub fn new() -> PerfSampler {
        PerfSampler::default()
    }

    /// Takes a note of `counts` at `now`: the first call sets the baseline, each later one records
    /// a sample against the previous note (dropping the oldest past [`PERF_SAMPLES_MAX`]).
    /// Returns how long to wait before the next call.
    pub fn handle_tick(&mut self, now: Instant, counts: PerfCounts) -> Duration {
        if let Some((then, before)) = self.last {
            let secs = now.saturating_duration_since(then).as_secs();
            if self.samples.len() == PERF_SAMPLES_MAX {
                self.samples.pop_front();
            }
            self.samples.push_back(PerfSample {
                slot: counts.slot,
                num_transactions: counts.transactions.saturating_sub(before.transactions),
                num_non_vote_transactions: counts
                    .non_vote_transactions
                    .saturating_sub(before.non_vote_transactions),
                num_slots: counts.slot.0.saturating_sub(before.slot.0),
                sample_period_secs: u16::try_from(secs).unwrap_or(u16::MAX),
            });
        }
        self.last = Some((now, counts));
        Duration::from_secs(if self.samples.is_empty() {
            FIRST_PERF_SAMPLE_SECS
        } else {
            PERF_SAMPLE_PERIOD_SECS
        })
    }

    /// The newest `limit` samples, newest first.
    pub fn recent(&self, limit: usize) -> Vec<PerfSample> {
        self.samples.iter().rev().take(limit).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(slot: u64, transactions: u64, non_vote_transactions: u64) -> PerfCounts {
        PerfCounts {
            slot: Slot(slot),
            transactions,
            non_vote_transactions,
        }
    }

    #[test]
    fn samples_are_differences_newest_first_after_a_short_first_one() {
        let t0 = Instant::now();
        let mut s = PerfSampler::new();
        assert_eq!(
            s.handle_tick(t0, counts(4, 100, 10)),
            Duration::from_secs(FIRST_PERF_SAMPLE_SECS)
        );
        assert!(s.recent(PERF_SAMPLES_MAX).is_empty());
        let t1 = t0 + Duration::from_millis(5_300);
        assert_eq!(
            s.handle_tick(t1, counts(17, 160, 40)),
            Duration::from_secs(PERF_SAMPLE_PERIOD_SECS)
        );
        let t2 = t1 + Duration::from_secs(60);
        s.handle_tick(t2, counts(167, 1_160, 940));
        assert_eq!(
            s.recent(PERF_SAMPLES_MAX),
            vec![
                PerfSample {
                    slot: Slot(167),
                    num_transactions: 1_000,
                    num_non_vote_transactions: 900,
                    num_slots: 150,
                    sample_period_secs: 60,
                },
                PerfSample {
                    slot: Slot(17),
                    num_transactions: 60,
                    num_non_vote_transactions: 30,
                    num_slots: 13,
                    sample_period_secs: 5,
                },
            ]
        );
        assert_eq!(s.recent(1).len(), 1);
        assert_eq!(s.recent(1)[0].slot, Slot(167));
        assert!(s.recent(0).is_empty());
    }

    #[test]
    fn the_ring_keeps_the_newest_samples_and_counters_that_go_back_give_zero() {
        let t0 = Instant::now();
        let mut s = PerfSampler::new();
        s.handle_tick(t0, counts(0, 0, 0));
        for i in 1..=PERF_SAMPLES_MAX as u64 + 5 {
            s.handle_tick(t0 + Duration::from_secs(60 * i), counts(i, i, i));
        }
        let all = s.recent(usize::MAX);
        assert_eq!(all.len(), PERF_SAMPLES_MAX);
        assert_eq!(all[0].slot, Slot(PERF_SAMPLES_MAX as u64 + 5));
        assert_eq!(all[PERF_SAMPLES_MAX - 1].slot, Slot(6));
        // A restart of the since-restart counter (or a smaller root count) is no negative sample.
        s.handle_tick(t0 + Duration::from_secs(1_000_000), counts(1, 0, 0));
        let newest = s.recent(1)[0];
        assert_eq!((newest.num_transactions, newest.num_slots), (0, 0));
        assert_eq!(newest.sample_period_secs, u16::MAX);
    }
}
