//! Slashing evidence: a validator's two signed votes that cannot both be honest.
//!
//! Two kinds are detected from votes alone, wherever they arrive (gossip, the vote port, blocks):
//!
//! - **Double vote**: two votes whose newest slot is the same but whose bank hashes differ.
//! - **Lockout violation**: a newer vote on a fork that does not descend from a slot the older vote
//!   still locked — the slot is neither in the newer tower nor at or below its root, the newer vote's
//!   newest slot is within the older lockout (`x + 2^c`), so no honest vote in between could have
//!   expired it, and the chain shows the newer vote's block does not descend from it. (A vote that
//!   merely forgot a locked slot of its own fork — a tower restored from an old file — is refused by
//!   the vote program but is not proof of an attack.)
//!
//! Bounds: the last [`RECENT_VOTES_PER_VALIDATOR`] votes per validator are compared with each new
//! one; at most [`EVIDENCE_PER_OFFENDER_MAX`] pieces of evidence are kept per offender.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::vote::TowerSync;

use crate::map::Map;

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

/// What is remembered of one validator's votes: the newest whole, and the recent ones by slot.
#[derive(Debug, Default)]
struct VoterVotes {
    newest: Option<SeenVote>,
    /// `newest`'s (last voted slot, bank hash), kept beside it: the repeat check reads only these,
    /// and reaching them through the tower's heap was a third of the book's time.
    newest_key: Option<(Slot, Hash)>,
    /// (newest voted slot, bank hash, transaction) of recent votes, oldest first.
    by_slot: VecDeque<(Slot, Hash, Arc<[u8]>)>,
}

/// Recent votes per validator and the evidence found among them.
#[derive(Debug, Default)]
pub struct EvidenceBook {
    recent: Map<Pubkey, VoterVotes>,
    found: BTreeMap<Pubkey, Vec<Evidence>>,
}

impl EvidenceBook {
    /// An empty book.
    pub fn new() -> EvidenceBook {
        EvidenceBook::default()
    }

    /// Whether `tx` is, byte for byte, the newest vote held from `voter`: a repeat that says
    /// nothing new (and cannot be evidence, being the same signed message).
    pub fn holds_newest(&self, voter: &Pubkey, tx: &[u8]) -> bool {
        self.recent
            .get(voter)
            .and_then(|v| v.newest.as_ref())
            .is_some_and(|n| *n.tx == *tx)
    }

    /// Compares `tower` (signed in `tx`) by `voter` with its recent votes; returns new evidence.
    /// `descends(a, b)` says whether block `b` descends from (or is) block `a`, when the chain
    /// knows both.
    pub fn check(
        &mut self,
        voter: Pubkey,
        tower: &TowerSync,
        tx: &Arc<[u8]>,
        descends: impl Fn(Slot, Slot) -> Option<bool>,
    ) -> Vec<Evidence> {
        let Some(last) = tower.last_voted_slot() else {
            return Vec::new();
        };
        let votes = self.recent.entry(voter).or_default();
        if votes.newest_key == Some((last, tower.hash)) {
            // The newest vote again, by another path: the common case, decided without a scan.
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some((_, _, first)) = votes.by_slot.iter().find(|(s, _, _)| *s == last) {
            let same = votes
                .by_slot
                .iter()
                .any(|(s, h, _)| *s == last && *h == tower.hash);
            if same {
                // The same vote again, by another path (or refreshed with a new blockhash).
                return Vec::new();
            }
            out.push(Evidence {
                offender: voter,
                kind: EvidenceKind::DoubleVote,
                slot: last,
                first: first.clone(),
                second: tx.clone(),
            });
        }
        if let Some(newest) = &votes.newest {
            let newest_last = newest.tower.last_voted_slot().unwrap_or_default();
            let (older, newer, first, second) = if newest_last < last {
                (&newest.tower, tower, &newest.tx, tx)
            } else {
                (tower, &newest.tower, tx, &newest.tx)
            };
            let newer_last = newer.last_voted_slot().unwrap_or_default();
            if newest_last != last {
                if let Some(slot) = abandoned_lockouts(older, newer)
                    .find(|x| descends(*x, newer_last) == Some(false))
                {
                    out.push(Evidence {
                        offender: voter,
                        kind: EvidenceKind::LockoutViolation,
                        slot,
                        first: first.clone(),
                        second: second.clone(),
                    });
                }
            }
        }
        if votes.by_slot.len() >= RECENT_VOTES_PER_VALIDATOR {
            votes.by_slot.pop_front();
        }
        votes.by_slot.push_back((last, tower.hash, tx.clone()));
        let newer = votes.newest_key.is_none_or(|(s, _)| s < last);
        if newer {
            votes.newest_key = Some((last, tower.hash));
            match votes.newest.as_mut() {
                // Overwritten in place: a hundred validators' votes reach every node each slot,
                // and a fresh tower allocation per vote was a tenth of a simulated run.
                Some(n) => {
                    n.tower.lockouts.clear();
                    n.tower.lockouts.extend_from_slice(&tower.lockouts);
                    n.tower.root = tower.root;
                    n.tower.hash = tower.hash;
                    n.tower.timestamp = tower.timestamp;
                    n.tower.block_id = tower.block_id;
                    n.tx = tx.clone();
                }
                None => {
                    votes.newest = Some(SeenVote {
                        tower: tower.clone(),
                        tx: tx.clone(),
                    })
                }
            }
        }
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

/// Slots `older` still locks at `newer`'s newest slot that `newer` dropped.
pub fn abandoned_lockouts<'a>(
    older: &'a TowerSync,
    newer: &'a TowerSync,
) -> impl Iterator<Item = Slot> + 'a {
    let newest = newer.last_voted_slot();
    let root = newer.root;
    // Both lists ascend by slot, so one merge walk finds the dropped ones.
    let mut kept = newer.lockouts.iter().map(|n| n.slot).peekable();
    older
        .lockouts
        .iter()
        .filter(move |l| {
            while kept.next_if(|k| *k < l.slot).is_some() {}
            let dropped = kept.peek() != Some(&l.slot);
            dropped
                && newest.is_some_and(|n| l.is_locked_out_at_slot(n))
                && root.is_none_or(|r| l.slot > r)
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
        let any = |_, _| None;
        assert!(book
            .check(v, &tower(None, &[(5, 1)], 1), &tx(1), any)
            .is_empty());
        assert!(
            book.check(v, &tower(None, &[(5, 1)], 1), &tx(1), any)
                .is_empty(),
            "a repeat"
        );
        let e = book.check(v, &tower(None, &[(5, 1)], 2), &tx(2), any);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, EvidenceKind::DoubleVote);
        assert_eq!(e[0].slot, Slot(5));
        assert_eq!(book.len(), 1);
        // The same offence again is not new evidence.
        assert!(book
            .check(v, &tower(None, &[(5, 1)], 3), &tx(3), any)
            .is_empty());
    }

    #[test]
    fn dropping_a_locked_slot_is_a_lockout_violation_but_expiry_is_not() {
        let older = tower(None, &[(10, 2), (11, 1)], 1); // 10 locked until 14, 11 until 13
        let dropped = |newer: &TowerSync| abandoned_lockouts(&older, newer).collect::<Vec<_>>();
        // 12: 10 and 11 dropped while locked.
        assert_eq!(
            dropped(&tower(None, &[(12, 1)], 2)),
            vec![Slot(10), Slot(11)]
        );
        // 15: both expired, so dropping them is honest.
        assert!(dropped(&tower(None, &[(15, 1)], 2)).is_empty());
        // Keeping 10 but dropping 11 at 14: 11 expired at 13.
        assert!(dropped(&tower(None, &[(10, 3), (14, 1)], 2)).is_empty());
        // Rooted past: fine.
        assert!(dropped(&tower(Some(11), &[(12, 1)], 2)).is_empty());
        let v = Pubkey([2; 32]);
        // Dropped but on the same fork (12 descends from 10 and 11): not evidence.
        let mut book = EvidenceBook::new();
        book.check(v, &older, &tx(1), |_, _| None);
        let same_fork = |_: Slot, _: Slot| Some(true);
        assert!(book
            .check(v, &tower(None, &[(12, 1)], 2), &tx(2), same_fork)
            .is_empty());
        // On another fork: evidence.
        let mut book = EvidenceBook::new();
        book.check(v, &older, &tx(1), |_, _| None);
        let other_fork = |_: Slot, _: Slot| Some(false);
        let e = book.check(v, &tower(None, &[(12, 1)], 2), &tx(2), other_fork);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, EvidenceKind::LockoutViolation);
        assert_eq!(e[0].slot, Slot(10));
    }
}
