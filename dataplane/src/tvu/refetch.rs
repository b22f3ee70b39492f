//! Slots fetched again after the version this node held lost a duplicate-slot resolution: which of
//! their verified shreds the receive path takes, so that only the wanted version is assembled and
//! the dropped one is never reported as a new duplicate-slot proof.
//!
//! A version is known by its FEC sets' Merkle roots, and the sets chain backwards: every shred of
//! set `k > 0` names the root of set `k − 1` as its chained root. With the wanted version's block
//! id (the root of its last set) a shred is *proven* wanted when its root is the block id or a
//! chained root named by a proven shred; it is then taken. A shred not (yet) proven is held, and
//! taken when a later proof names its root — this is how sets the two versions share are taken, and
//! how shreds that arrive before the last set are not lost. Without a block id, any root the dropped
//! version does not have is wanted, and the dropped version's roots are proven only by chaining.
//! Once the slot completes nothing more is held: what is not proven then is dropped.

use std::collections::{BTreeMap, HashSet};

use crate::shred::{Root, SHREDS_RECEIVED_PER_SLOT_MAX, SHRED_SIZE};
use crate::types::Hash;

/// Slots being fetched again at once, at most; a new one evicts the oldest (lowest) slot.
pub const REFETCH_SLOTS_MAX: usize = 16;
/// Unproven shreds held per slot, at most (≈ 1.2 MB): the rest are dropped, and repair asks again.
pub const HELD_SHREDS_PER_SLOT_MAX: usize = 1_024;
/// Roots proven wanted per slot, at most: a slot has no more sets than shreds.
const WANTED_ROOTS_MAX: usize = SHREDS_RECEIVED_PER_SLOT_MAX;

/// What to do with a verified shred of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Insert it: it is of the wanted version (or its slot is not being fetched again).
    Take,
    /// Keep it aside until its set is proven wanted ([`Refetches::hold`]).
    Hold,
    /// Drop it: of another version, or nowhere to hold it.
    Drop,
}

/// The version filter of one slot.
#[derive(Debug)]
struct VersionFilter {
    /// Roots proven to be the wanted version's.
    wanted: HashSet<Root>,
    /// Roots of the dropped version.
    losing: HashSet<Root>,
    /// Whether the wanted version is known by its block id (otherwise: any but the dropped one).
    known: bool,
    /// Unproven shreds with their (verified) set roots.
    held: Vec<(Root, Box<[u8; SHRED_SIZE]>)>,
    /// The slot completed: nothing more is held.
    done: bool,
}

/// The version filters of every slot being fetched again.
#[derive(Debug, Default)]
pub struct Refetches {
    filters: BTreeMap<u64, VersionFilter>,
}

impl Refetches {
    /// From now on, `slot` takes only the version whose last set's root is `block_id` (any version
    /// but the one with `losing` roots when `None`). Replaces an earlier filter of the slot.
    pub fn start(&mut self, slot: u64, block_id: Option<Hash>, losing: &[Hash]) {
        self.filters.remove(&slot);
        if self.filters.len() >= REFETCH_SLOTS_MAX {
            self.filters.pop_first();
        }
        let root = |h: &Hash| Root(h.0);
        self.filters.insert(
            slot,
            VersionFilter {
                wanted: block_id.iter().map(root).collect(),
                losing: losing.iter().take(WANTED_ROOTS_MAX).map(root).collect(),
                known: block_id.is_some(),
                held: Vec::new(),
                done: false,
            },
        );
    }

    /// Whether `slot` is being fetched again.
    pub fn contains(&self, slot: u64) -> bool {
        self.filters.contains_key(&slot)
    }

    /// What to do with a verified shred of `slot` whose set has Merkle root `root`.
    pub fn verdict(&mut self, slot: u64, root: Root) -> Verdict {
        let Some(f) = self.filters.get_mut(&slot) else {
            return Verdict::Take;
        };
        if f.wanted.contains(&root) {
            return Verdict::Take;
        }
        if !f.known && !f.losing.contains(&root) && f.wanted.len() < WANTED_ROOTS_MAX {
            f.wanted.insert(root);
            return Verdict::Take;
        }
        if f.done || f.held.len() >= HELD_SHREDS_PER_SLOT_MAX {
            return Verdict::Drop;
        }
        Verdict::Hold
    }

    /// Keeps a shred [`Refetches::verdict`] said to hold.
    pub fn hold(&mut self, slot: u64, root: Root, shred: &[u8; SHRED_SIZE]) {
        if let Some(f) = self.filters.get_mut(&slot) {
            if !f.done && f.held.len() < HELD_SHREDS_PER_SLOT_MAX {
                f.held.push((root, Box::new(*shred)));
            }
        }
    }

    /// Records that a taken shred of `slot` chains to `root` (so that set is wanted too) and
    /// returns the held shreds of that set, to be taken now.
    pub fn prove(&mut self, slot: u64, root: Root) -> Vec<Box<[u8; SHRED_SIZE]>> {
        let Some(f) = self.filters.get_mut(&slot) else {
            return Vec::new();
        };
        if f.wanted.len() < WANTED_ROOTS_MAX {
            f.wanted.insert(root);
        }
        if !f.wanted.contains(&root) {
            return Vec::new();
        }
        let (proven, rest): (Vec<_>, Vec<_>) = f.held.drain(..).partition(|(r, _)| *r == root);
        f.held = rest;
        proven.into_iter().map(|(_, s)| s).collect()
    }

    /// `slot` completed: its unproven shreds are dropped, and later ones are not held. The filter
    /// stays, so the dropped version's late shreds are still refused rather than reported as a
    /// conflict with the wanted one.
    pub fn completed(&mut self, slot: u64) {
        if let Some(f) = self.filters.get_mut(&slot) {
            f.done = true;
            f.held = Vec::new();
        }
    }

    /// Stops filtering `slot`.
    pub fn remove(&mut self, slot: u64) {
        self.filters.remove(&slot);
    }

    /// Stops filtering every slot below `floor` (the root moved past them).
    pub fn purge_below(&mut self, floor: u64) {
        self.filters = self.filters.split_off(&floor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shred(n: u8) -> [u8; SHRED_SIZE] {
        [n; SHRED_SIZE]
    }

    #[test]
    fn with_a_block_id_only_proven_sets_are_taken_and_held_ones_follow_their_proof() {
        let mut r = Refetches::default();
        let (last, middle, first, other) =
            (Root([3; 32]), Root([2; 32]), Root([1; 32]), Root([9; 32]));
        r.start(7, Some(Hash(last.0)), &[Hash(other.0), Hash(first.0)]);
        assert_eq!(
            r.verdict(8, other),
            Verdict::Take,
            "other slots are not filtered"
        );
        // Shreds of the first and middle sets, and of the dropped version, arrive before the last.
        for (root, n) in [(first, 1), (middle, 2), (other, 9)] {
            assert_eq!(r.verdict(7, root), Verdict::Hold);
            r.hold(7, root, &shred(n));
        }
        assert_eq!(r.verdict(7, last), Verdict::Take);
        // The last set chains to the middle one, which chains to the first (shared with the
        // dropped version).
        let proven = r.prove(7, middle);
        assert_eq!(proven.len(), 1);
        assert_eq!(proven[0][0], 2);
        assert_eq!(r.verdict(7, middle), Verdict::Take);
        assert_eq!(r.prove(7, first).len(), 1);
        assert_eq!(r.verdict(7, first), Verdict::Take);
        // Complete: the dropped version's held shred is gone, and later ones are dropped.
        r.completed(7);
        assert_eq!(r.verdict(7, other), Verdict::Drop);
        assert!(
            r.prove(7, other).is_empty(),
            "nothing is held after completion"
        );
    }

    #[test]
    fn without_a_block_id_any_root_but_the_dropped_versions_is_taken() {
        let mut r = Refetches::default();
        let (a, b, shared) = (Root([1; 32]), Root([2; 32]), Root([5; 32]));
        r.start(4, None, &[Hash(shared.0), Hash(a.0)]);
        assert_eq!(r.verdict(4, a), Verdict::Hold);
        r.hold(4, a, &shred(1));
        assert_eq!(r.verdict(4, shared), Verdict::Hold);
        r.hold(4, shared, &shred(5));
        assert_eq!(r.verdict(4, b), Verdict::Take);
        // The new version's set chains to the shared one.
        let proven = r.prove(4, shared);
        assert_eq!(proven.len(), 1);
        assert_eq!(proven[0][0], 5);
        assert_eq!(r.verdict(4, a), Verdict::Hold);
    }

    #[test]
    fn holding_and_slots_are_bounded_and_purged_with_the_root() {
        let mut r = Refetches::default();
        r.start(1, Some(Hash([1; 32])), &[]);
        let unknown = Root([2; 32]);
        for _ in 0..HELD_SHREDS_PER_SLOT_MAX {
            assert_eq!(r.verdict(1, unknown), Verdict::Hold);
            r.hold(1, unknown, &shred(2));
        }
        assert_eq!(r.verdict(1, unknown), Verdict::Drop);
        assert_eq!(r.prove(1, unknown).len(), HELD_SHREDS_PER_SLOT_MAX);
        for slot in 2..=REFETCH_SLOTS_MAX as u64 + 1 {
            r.start(slot, None, &[]);
        }
        assert!(!r.contains(1), "the oldest filter was evicted");
        assert!(r.contains(REFETCH_SLOTS_MAX as u64 + 1));
        r.purge_below(5);
        assert!(!r.contains(4));
        assert!(r.contains(5));
        r.remove(5);
        assert!(!r.contains(5));
    }
}
