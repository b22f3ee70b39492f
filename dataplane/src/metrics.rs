//! Counters for rejected input, by reason: every dropped packet or refused transaction is counted here.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::compute_budget::ComputeBudgetError;
use crate::txn::TxnError;

/// Why the node refused a packet or transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Reject {
    /// Bytes that are not a well-formed transaction.
    Malformed,
    /// More than one packet's worth of bytes.
    Oversized,
    /// A signature that `verify_strict` refuses.
    BadSignature,
    /// An instruction for a program other than the System Program and the vote program.
    UnsupportedProgram,
    /// A System Program instruction other than transfer, or a vote instruction other than
    /// `TowerSync`/`TowerSyncSwitch`.
    UnsupportedInstruction,
    /// A signature seen moments ago (dropped by the sigverify dedup filter).
    DuplicateSignature,
    /// Already executed on this fork (status cache).
    AlreadyProcessed,
    /// The recent blockhash is unknown or older than 150 blocks on this fork.
    BlockhashNotFound,
    /// The fee payer cannot pay the fee: not included.
    InsufficientFundsForFee,
    /// A queue between stages was full.
    QueueFull,
    /// The leader's vote queue held votes for its most vote accounts: the oldest vote was dropped.
    VoteQueueFull,
    /// A message version other than legacy and v0, or a v0 message with address table lookups.
    UnsupportedMessage,
}

impl Reject {
    /// Every reason, in counter order.
    pub const ALL: [Reject; 12] = [
        Reject::Malformed,
        Reject::Oversized,
        Reject::BadSignature,
        Reject::UnsupportedProgram,
        Reject::UnsupportedInstruction,
        Reject::DuplicateSignature,
        Reject::AlreadyProcessed,
        Reject::BlockhashNotFound,
        Reject::InsufficientFundsForFee,
        Reject::QueueFull,
        Reject::VoteQueueFull,
        Reject::UnsupportedMessage,
    ];

    /// Stable snake-case name, used as the metric label.
    pub fn name(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::Oversized => "oversized",
            Reject::BadSignature => "bad_signature",
            Reject::UnsupportedProgram => "unsupported_program",
            Reject::UnsupportedInstruction => "unsupported_instruction",
            Reject::DuplicateSignature => "duplicate_signature",
            Reject::AlreadyProcessed => "already_processed",
            Reject::BlockhashNotFound => "blockhash_not_found",
            Reject::InsufficientFundsForFee => "insufficient_funds_for_fee",
            Reject::QueueFull => "queue_full",
            Reject::VoteQueueFull => "vote_queue_full",
            Reject::UnsupportedMessage => "unsupported_message",
        }
    }
}

impl From<&TxnError> for Reject {
    fn from(e: &TxnError) -> Reject {
        match e {
            TxnError::Oversized { .. } => Reject::Oversized,
            TxnError::UnsupportedProgram(_) => Reject::UnsupportedProgram,
            TxnError::UnsupportedInstruction { .. }
            | TxnError::UnsupportedVoteInstruction { .. }
            | TxnError::ComputeBudget {
                error: ComputeBudgetError::Unsupported { .. },
                ..
            } => Reject::UnsupportedInstruction,
            TxnError::UnsupportedVersion { .. } | TxnError::AddressTableLookups { .. } => {
                Reject::UnsupportedMessage
            }
            _ => Reject::Malformed,
        }
    }
}

/// Rejection counters, one per [`Reject`] reason; shared by all stages of a node.
#[derive(Debug, Default)]
pub struct RejectCounters {
    counts: [AtomicU64; Reject::ALL.len()],
}

impl RejectCounters {
    /// Counts one rejection.
    pub fn add(&self, reason: Reject) {
        self.add_n(reason, 1);
    }

    /// Counts `n` rejections.
    pub fn add_n(&self, reason: Reject, n: u64) {
        self.counts[reason as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Current count for one reason.
    pub fn get(&self, reason: Reject) -> u64 {
        self.counts[reason as usize].load(Ordering::Relaxed)
    }

    /// All non-zero and zero counts, by reason name.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Reject::ALL
            .iter()
            .map(|r| (r.name(), self.get(*r)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let c = RejectCounters::default();
        c.add(Reject::BadSignature);
        c.add_n(Reject::QueueFull, 3);
        assert_eq!(c.get(Reject::BadSignature), 1);
        assert_eq!(c.get(Reject::QueueFull), 3);
        assert_eq!(c.get(Reject::Malformed), 0);
        let snap = c.snapshot();
        assert_eq!(snap.len(), Reject::ALL.len());
        assert!(snap.contains(&("queue_full", 3)));
    }

    #[test]
    fn reasons_are_in_counter_order() {
        for (i, r) in Reject::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
