//! Slashing evidence: a validator's two signed votes that cannot both be honest.
//!
//! Two kinds are detected from votes alone, wherever they arrive (gossip, the vote port, blocks):
//!
//! - **Double vote**: two votes whose newest slot is the same but whose bank hashes differ.
//! - **Lockout violation**: a newer vote that drops a slot the older vote still locked — the slot is
//!   neither in the newer tower nor at or below its root, and the newer vote's newest slot is within
//!   the older lockout (`x + 2^c`), so no honest vote in between could have expired it.
//!
//! Bounds: the last [`RECENT_VOTES_PER_VALIDATOR`] votes per validator are compared with each new
//! one; at most [`EVIDENCE_PER_OFFENDER_MAX`] pieces of evidence are kept per offender.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::vote::TowerSync;

/// Votes remembered per validator for comparison.
pub const RECENT_VOTES_PER_VALIDATOR: usize = 16;
/// Evidence kept per offender.
pub const EVIDENCE_PER_OFFENDER_MAX: usize = 16;

/// What a piece of evidence proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvidenceKind {
    /// Two bank hashes for one slot.
    DoubleVote,
    /// A vote that abandons a slot still locked.
    LockoutViolation,
}

impl EvidenceKind {
    /// Stable name (RPC, metrics).
    pub fn name(self) -> &'static str {
        match self {
            EvidenceKind::DoubleVote => "double_vote",
            EvidenceKind::LockoutViolation => "lockout_violation",
        }
    }

    /// Wire code (gossip).
    pub fn code(self) -> u8 {
        match self {
            EvidenceKind::DoubleVote => 0,
            EvidenceKind::LockoutViolation => 1,
        }
    }

    /// From a wire code.
    pub fn from_code(code: u8) -> Option<EvidenceKind> {
        match code {
            0 => Some(EvidenceKind::DoubleVote),
            1 => Some(EvidenceKind::LockoutViolation),
            _ => None,
        }
    }
}

/// Two signed votes by one validator that prove misbehaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The validator.
    pub offender: Pubkey,
    /// What it did.
    pub kind: EvidenceKind,
    /// The slot concerned: the doubly voted slot, or the abandoned locked slot.
    pub slot: Slot,
    /// The earlier vote transaction (wire bytes, signed by the offender).
    pub first: Arc<[u8]>,
    /// The conflicting one.
    pub second: Arc<[u8]>,
}

#[derive(Debug, Clone)]
struct SeenVote {
    tower: TowerSync,
    tx: Arc<[u8]>,
}

/// Recent votes per validator and the evidence found among them.
#[derive(Debug, Default)]
pub struct EvidenceBook {
    recent: HashMap<Pubkey, VecDeque<SeenVote>>,
    found: BTreeMap<Pubkey, Vec<Evidence>>,
}

impl EvidenceBook {
    /// An empty book.
    pub fn new() -> EvidenceBook {
        EvidenceBook::default()
    }

    /// Compares `tower` (signed in `tx`) by `voter` with its recent votes; returns new evidence.
    pub fn check(&mut self, voter: Pubkey, tower: &TowerSync, tx: &Arc<[u8]>) -> Vec<Evidence> {
        let Some(last) = tower.last_voted_slot() else {
            return Vec::new();
        };
        let recent = self.recent.entry(voter).or_default();
        let mut out = Vec::new();
        for old in recent.iter() {
            if old.tx == *tx || old.tower == *tower {
                // The same vote again, by another path.
                return Vec::new();
            }
            let Some(old_last) = old.tower.last_voted_slot() else {
                continue;
            };
            if old_last == last && old.tower.hash != tower.hash {
                out.push(Evidence {
                    offender: voter,
                    kind: EvidenceKind::DoubleVote,
                    slot: last,
                    first: old.tx.clone(),
                    second: tx.clone(),
                });
                continue;
            }
            let (older, newer, first, second) = if old_last < last {
                (&old.tower, tower, &old.tx, tx)
            } else {
                (tower, &old.tower, tx, &old.tx)
            };
            if let Some(slot) = abandoned_lockout(older, newer) {
                out.push(Evidence {
                    offender: voter,
                    kind: EvidenceKind::LockoutViolation,
                    slot,
                    first: first.clone(),
                    second: second.clone(),
                });
            }
        }
        if recent.len() >= RECENT_VOTES_PER_VALIDATOR {
            recent.pop_front();
        }
        recent.push_back(SeenVote {
            tower: tower.clone(),
            tx: tx.clone(),
        });
        out.retain(|e| self.keep(e.clone()));
        out
    }

    /// Keeps `e` unless the same proof is already held or the offender's bound is reached; returns
    /// whether it was new.
    pub fn keep(&mut self, e: Evidence) -> bool {
        let list = self.found.entry(e.offender).or_default();
        if list.len() >= EVIDENCE_PER_OFFENDER_MAX
            || list.iter().any(|x| x.kind == e.kind && x.slot == e.slot)
        {
            return false;
        }
        list.push(e);
        true
    }

    /// Every piece of evidence held, by offender.
    pub fn all(&self) -> impl Iterator<Item = &Evidence> {
        self.found.values().flatten()
    }

    /// Number held.
    pub fn len(&self) -> usize {
        self.found.values().map(Vec::len).sum()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A slot `older` still locks at `newer`'s newest slot that `newer` dropped, if any.
pub fn abandoned_lockout(older: &TowerSync, newer: &TowerSync) -> Option<Slot> {
    let newest = newer.last_voted_slot()?;
    let root = newer.root;
    older
        .lockouts
        .iter()
        .find(|l| {
            root.is_none_or(|r| l.slot > r)
                && l.is_locked_out_at_slot(newest)
                && !newer.lockouts.iter().any(|n| n.slot == l.slot)
        })
        .map(|l| l.slot)
}

/// A digest identifying a vote (for gossip labels).
pub fn vote_digest(tx: &[u8]) -> Hash {
    Hash::of(tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::vote::Lockout;

    fn tower(root: Option<u64>, votes: &[(u64, u32)], hash: u8) -> TowerSync {
        TowerSync {
            lockouts: votes
                .iter()
                .map(|&(s, c)| Lockout {
                    slot: Slot(s),
                    confirmation_count: c,
                })
                .collect(),
            root: root.map(Slot),
            hash: Hash([hash; 32]),
            timestamp: None,
            block_id: Hash::default(),
        }
    }

    fn tx(b: u8) -> Arc<[u8]> {
        Arc::from(vec![b; 8])
    }

    #[test]
    fn two_hashes_for_one_slot_are_a_double_vote() {
        let mut book = EvidenceBook::new();
        let v = Pubkey([1; 32]);
        assert!(book.check(v, &tower(None, &[(5, 1)], 1), &tx(1)).is_empty());
        assert!(
            book.check(v, &tower(None, &[(5, 1)], 1), &tx(1)).is_empty(),
            "a repeat"
        );
        let e = book.check(v, &tower(None, &[(5, 1)], 2), &tx(2));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, EvidenceKind::DoubleVote);
        assert_eq!(e[0].slot, Slot(5));
        assert_eq!(book.len(), 1);
        // The same offence again is not new evidence.
        assert!(book.check(v, &tower(None, &[(5, 1)], 3), &tx(3)).is_empty());
    }

    #[test]
    fn dropping_a_locked_slot_is_a_lockout_violation_but_expiry_is_not() {
        let older = tower(None, &[(10, 2), (11, 1)], 1); // 10 locked until 14, 11 until 13
                                                         // 12 on another fork: 10 and 11 dropped while locked.
        assert_eq!(
            abandoned_lockout(&older, &tower(None, &[(12, 1)], 2)),
            Some(Slot(10))
        );
        // 15: both expired, so dropping them is honest.
        assert_eq!(abandoned_lockout(&older, &tower(None, &[(15, 1)], 2)), None);
        // Keeping 10 but dropping 11 at 14: 11 expired at 13.
        assert_eq!(
            abandoned_lockout(&older, &tower(None, &[(10, 3), (14, 1)], 2)),
            None
        );
        // Rooted past: fine.
        assert_eq!(
            abandoned_lockout(&older, &tower(Some(11), &[(12, 1)], 2)),
            None
        );
        let mut book = EvidenceBook::new();
        let v = Pubkey([2; 32]);
        book.check(v, &older, &tx(1));
        let e = book.check(v, &tower(None, &[(12, 1)], 2), &tx(2));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, EvidenceKind::LockoutViolation);
    }
}
