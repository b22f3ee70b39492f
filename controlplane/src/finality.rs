//! Finality: the newest root that more than 2/3 of the stake has rooted.
//!
//! Every validator's newest vote (from any source) carries its tower's root. Sorted from the newest
//! root down, the first root at which the stake of validators rooted at or above it — on this
//! node's fork — passes `3·s > 2·S` is finalized: all those roots lie on one chain, so each of them
//! descends from it. Finalized never decreases.

use crate::map::Map;

use dataplane::types::{Pubkey, Slot};

use crate::tower::is_supermajority;

/// Each validator's newest root and the newest finalized slot.
#[derive(Debug, Clone, Default)]
pub struct Finality {
    /// Per validator: the newest vote's slot and its root.
    roots: Map<Pubkey, (Slot, Slot)>,
    finalized: Slot,
}

impl Finality {
    /// Nothing finalized beyond `root` yet.
    pub fn new(root: Slot) -> Finality {
        Finality {
            roots: Map::default(),
            finalized: root,
        }
    }

    /// Notes `voter`'s vote for `last_vote` with tower root `root`, if newer than the last one
    /// seen; returns whether its root moved.
    pub fn observe(&mut self, voter: Pubkey, last_vote: Slot, root: Option<Slot>) -> bool {
        let Some(root) = root else {
            return false;
        };
        match self.roots.get_mut(&voter) {
            Some((last, r)) => {
                if last_vote <= *last {
                    return false;
                }
                *last = last_vote;
                let moved = root > *r;
                *r = (*r).max(root);
                moved
            }
            None => {
                self.roots.insert(voter, (last_vote, root));
                true
            }
        }
    }

    /// The newest finalized slot.
    pub fn finalized(&self) -> Slot {
        self.finalized
    }

    /// Recomputes finality; `stake_of` weighs validators, `on_fork(r)` says whether root `r` lies
    /// on this node's fork. Returns the (never decreasing) finalized slot.
    pub fn update(
        &mut self,
        total: u64,
        stake_of: impl Fn(&Pubkey) -> u64,
        on_fork: impl Fn(Slot) -> bool,
    ) -> Slot {
        let mut roots: Vec<(Slot, u64)> = self
            .roots
            .iter()
            .filter(|(_, &(_, r))| r > self.finalized)
            .map(|(v, &(_, r))| (r, stake_of(v)))
            .collect();
        // Most updates cannot move finality: too little stake has rooted past it at all.
        let beyond = roots.iter().fold(0u64, |a, r| a.saturating_add(r.1));
        if !is_supermajority(beyond, total) {
            return self.finalized;
        }
        roots.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
        // Stake already rooted at or beyond the current finalized slot counts toward any newer
        // candidate only if it is at or above that candidate, which the sort takes care of.
        let mut stake = 0u64;
        for (r, s) in roots {
            if !on_fork(r) {
                continue;
            }
            stake = stake.saturating_add(s);
            if is_supermajority(stake, total) {
                self.finalized = r;
                break;
            }
        }
        self.finalized
    }

    /// Forgets validators' roots at or below `slot` (they can no longer move finality).
    pub fn prune(&mut self, slot: Slot) {
        self.roots.retain(|_, (_, r)| *r > slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(i: u8) -> Pubkey {
        Pubkey([i; 32])
    }

    #[test]
    fn the_highest_root_a_supermajority_reached_is_finalized_and_never_decreases() {
        let mut f = Finality::new(Slot(0));
        let stake = |_: &Pubkey| 1;
        let all = |_: Slot| true;
        f.observe(v(1), Slot(50), Some(Slot(20)));
        f.observe(v(2), Slot(50), Some(Slot(18)));
        f.observe(v(3), Slot(50), Some(Slot(10)));
        // Everyone has rooted 10 or above.
        assert_eq!(f.update(3, stake, all), Slot(10));
        f.observe(v(3), Slot(60), Some(Slot(15)));
        assert_eq!(f.update(3, stake, all), Slot(15));
        // An older vote does not move a root back; finality never decreases.
        assert!(!f.observe(v(1), Slot(40), Some(Slot(1))));
        assert_eq!(f.update(3, stake, all), Slot(15));
        // Roots off this node's fork do not count.
        f.observe(v(1), Slot(70), Some(Slot(30)));
        f.observe(v(2), Slot(70), Some(Slot(31)));
        assert_eq!(
            f.update(3, stake, all),
            Slot(15),
            "2 of 3 is not more than 2/3"
        );
        f.observe(v(3), Slot(70), Some(Slot(32)));
        assert_eq!(f.update(3, stake, |r| r != Slot(32)), Slot(15));
        assert_eq!(f.update(3, stake, all), Slot(30));
    }
}
