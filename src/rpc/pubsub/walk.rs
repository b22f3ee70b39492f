//! Which slots a commitment level newly covers when it moves: the walk the hub and the signature
//! watch each keep (they run on threads of different priorities, so each keeps its own).
//!
//! Each level (processed, confirmed, finalized) remembers the slots it has covered since the last
//! finalized one. When a level moves to slot N, the walk goes down N's ancestors to a slot that
//! level already covered (or the last finalized slot, or [`WALK_SLOTS_MAX`] back): a level that
//! jumps several slots, or a processed head that switches forks, misses nothing and repeats
//! nothing.

use std::collections::{BTreeMap, BTreeSet};

use dataplane::types::Slot;

use super::super::Commitment;
use super::CommitmentSlots;

/// Most ancestors one level move walks (a longer gap is notified from its newest slots).
pub(super) const WALK_SLOTS_MAX: usize = 1_024;
/// Most slots remembered per level, and most parent links kept.
const SLOTS_REMEMBERED_MAX: usize = 4_096;

/// The levels, in the order a slot reaches them.
pub(super) const LEVELS: [Commitment; 3] = [
    Commitment::Processed,
    Commitment::Confirmed,
    Commitment::Finalized,
];

/// Index of level `c` in [`LEVELS`].
pub(super) fn level(c: Commitment) -> usize {
    match c {
        Commitment::Processed => 0,
        Commitment::Confirmed => 1,
        Commitment::Finalized => 2,
    }
}

/// The levels last heard of, what each covered, and the parent links walked.
#[derive(Default)]
pub(super) struct Walk {
    /// The levels of the last commitment event.
    pub levels: Option<CommitmentSlots>,
    /// Slots covered at each level, above the last finalized one.
    pub covered: [BTreeSet<Slot>; 3],
    /// Known parents (frozen slots, and slots read back).
    pub parents: BTreeMap<Slot, Slot>,
}

impl Walk {
    /// Notes `slot`'s parent.
    pub fn link(&mut self, slot: Slot, parent: Slot) {
        self.parents.insert(slot, parent);
        while self.parents.len() > SLOTS_REMEMBERED_MAX {
            self.parents.pop_first();
        }
    }

    /// The slots level `c` newly covers when it reaches `top`, newest first: `top` and its
    /// ancestors down to one the level covered, or `floor`. A parent not linked yet is asked of
    /// `read` (which may read the block, or decline).
    pub fn newly_covered(
        &mut self,
        c: Commitment,
        top: Slot,
        floor: Slot,
        mut read: impl FnMut(Slot) -> Option<Slot>,
    ) -> Vec<Slot> {
        let l = level(c);
        let mut path = Vec::new();
        let mut s = top;
        while path.len() < WALK_SLOTS_MAX && s > floor && !self.covered[l].contains(&s) {
            path.push(s);
            let parent = match self.parents.get(&s) {
                Some(&p) => Some(p),
                None => read(s).inspect(|&p| self.link(s, p)),
            };
            match parent {
                Some(p) if p < s => s = p,
                _ => break,
            }
        }
        path
    }

    /// Level `c` covered `slot`.
    pub fn cover(&mut self, c: Commitment, slot: Slot) {
        self.covered[level(c)].insert(slot);
    }

    /// Forgets what the move to `new` settled: slots at or below the finalized one, parents below
    /// the root.
    pub fn settle(&mut self, new: CommitmentSlots) {
        let floor = new.finalized;
        for covered in &mut self.covered {
            *covered = covered.split_off(&Slot(floor.0 + 1));
            while covered.len() > SLOTS_REMEMBERED_MAX {
                covered.pop_first();
            }
        }
        self.parents = self.parents.split_off(&new.root.min(floor));
    }
}
