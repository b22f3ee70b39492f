//! Vote aggregation: which validators voted for each (slot, bank hash), and what that confirms.
//!
//! A vote carries the voter's whole tower, so it votes for every slot in it. Each (slot, hash) keeps
//! the set of validators that voted for it (a bit per validator, so a vote counts once however often
//! it arrives — by gossip, the vote port or in a block) and their stake, as a `u64`. A version is
//! **optimistically confirmed** at `3·s > 2·S` and **duplicate-confirmed** at `100·s > 52·S`.
//!
//! Bounds: slots at or below the root are dropped ([`VoteTracker::set_root`]); each slot keeps at
//! most [`VERSIONS_PER_SLOT_MAX`] versions (an equivocating leader's extra versions beyond that are
//! not tracked), and slots more than [`SLOTS_AHEAD_MAX`] past the newest root are ignored.

use std::collections::BTreeMap;

use crate::map::Map;

use dataplane::types::{Hash, Pubkey, Slot};

use crate::tower::{is_duplicate_confirmed, is_supermajority};

/// Versions of one slot tracked at most.
pub const VERSIONS_PER_SLOT_MAX: usize = 4;
/// Votes for slots further than this past the root are ignored (they cannot be honest yet).
pub const SLOTS_AHEAD_MAX: u64 = 16_384;

#[derive(Debug, Clone)]
struct Version {
    hash: Hash,
    voters: Vec<u64>,
    stake: u64,
}

/// What a vote changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoteEffects {
    /// Versions that became optimistically confirmed.
    pub confirmed: Vec<(Slot, Hash)>,
    /// Versions that became duplicate-confirmed.
    pub duplicate_confirmed: Vec<(Slot, Hash)>,
}

/// Votes per (slot, hash) for the cluster's validator set.
#[derive(Debug, Clone)]
pub struct VoteTracker {
    index: Map<Pubkey, usize>,
    stakes: Vec<u64>,
    total: u64,
    root: Slot,
    slots: BTreeMap<Slot, Vec<Version>>,
    /// Per validator, the newest vote recorded with its whole tower (see [`VoteTracker::record`]).
    walked: Vec<Option<(Slot, Hash)>>,
}

impl VoteTracker {
    /// A tracker for `validators` (identity, stake) above `root`.
    pub fn new(validators: &[(Pubkey, u64)], root: Slot) -> VoteTracker {
        let mut index = Map::default();
        let mut stakes = Vec::new();
        for (k, s) in validators {
            if index.contains_key(k) {
                continue;
            }
            index.insert(*k, stakes.len());
            stakes.push(*s);
        }
        VoteTracker {
            total: stakes.iter().sum(),
            walked: vec![None; stakes.len()],
            index,
            stakes,
            root,
            slots: BTreeMap::new(),
        }
    }

    /// The cluster's total stake.
    pub fn total_stake(&self) -> u64 {
        self.total
    }

    /// A validator's stake (0 outside the set).
    pub fn stake_of(&self, v: &Pubkey) -> u64 {
        self.index.get(v).map_or(0, |&i| self.stakes[i])
    }

    /// Whether `v` is in the validator set.
    pub fn is_validator(&self, v: &Pubkey) -> bool {
        self.index.contains_key(v)
    }

    /// Stake that voted for (`slot`, `hash`).
    pub fn stake(&self, slot: Slot, hash: &Hash) -> u64 {
        self.slots
            .get(&slot)
            .and_then(|vs| vs.iter().find(|v| v.hash == *hash))
            .map_or(0, |v| v.stake)
    }

    /// The versions of `slot` voted for, with their stake.
    pub fn versions(&self, slot: Slot) -> Vec<(Hash, u64)> {
        self.slots
            .get(&slot)
            .map(|vs| vs.iter().map(|v| (v.hash, v.stake)).collect())
            .unwrap_or_default()
    }

    /// Records that `voter` voted for each (slot, hash) in `votes`, newest first; returns what
    /// became confirmed. `whole` says `votes` is the voter's whole tower down to the root; then
    /// the walk stops at the newest vote earlier recorded whole, since that tower held every
    /// older slot still in this one (a tower only pops expired lockouts below its top).
    pub fn record(
        &mut self,
        voter: &Pubkey,
        votes: impl IntoIterator<Item = (Slot, Hash)>,
        whole: bool,
    ) -> VoteEffects {
        let mut effects = VoteEffects::default();
        let Some(&i) = self.index.get(voter) else {
            return effects;
        };
        let stop = self.walked[i].filter(|_| whole);
        let mut votes = votes.into_iter().peekable();
        if whole {
            if let Some(&top) = votes.peek() {
                self.walked[i] = Some(top);
            }
        }
        let stake = self.stakes[i];
        let words = self.stakes.len().div_ceil(64);
        for (slot, hash) in votes {
            if stop == Some((slot, hash)) || slot <= self.root {
                break;
            }
            if slot.0 > self.root.0.saturating_add(SLOTS_AHEAD_MAX) {
                continue;
            }
            let versions = self.slots.entry(slot).or_default();
            let at = match versions.iter().position(|v| v.hash == hash) {
                Some(at) => at,
                None if versions.len() < VERSIONS_PER_SLOT_MAX => {
                    versions.push(Version {
                        hash,
                        voters: vec![0; words],
                        stake: 0,
                    });
                    versions.len() - 1
                }
                None => continue,
            };
            let v = &mut versions[at];
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            if v.voters[word] & bit != 0 {
                continue;
            }
            v.voters[word] |= bit;
            let before = v.stake;
            v.stake += stake;
            if !is_supermajority(before, self.total) && is_supermajority(v.stake, self.total) {
                effects.confirmed.push((slot, hash));
            }
            if !is_duplicate_confirmed(before, self.total)
                && is_duplicate_confirmed(v.stake, self.total)
            {
                effects.duplicate_confirmed.push((slot, hash));
            }
        }
        effects
    }

    /// Whether (`slot`, `hash`) is optimistically confirmed.
    pub fn is_confirmed(&self, slot: Slot, hash: &Hash) -> bool {
        is_supermajority(self.stake(slot, hash), self.total)
    }

    /// The duplicate-confirmed version of `slot`, if one is.
    pub fn duplicate_confirmed(&self, slot: Slot) -> Option<Hash> {
        self.slots.get(&slot).and_then(|vs| {
            vs.iter()
                .find(|v| is_duplicate_confirmed(v.stake, self.total))
                .map(|v| v.hash)
        })
    }

    /// Drops every slot at or below `root`.
    pub fn set_root(&mut self, root: Slot) {
        if root <= self.root {
            return;
        }
        self.root = root;
        self.slots = self.slots.split_off(&root.next());
    }

    /// Slots tracked (for bounds in tests and metrics).
    pub fn tracked_slots(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(i: u8) -> Pubkey {
        Pubkey([i; 32])
    }

    #[test]
    fn a_version_confirms_once_more_than_two_thirds_voted_for_it_each_counted_once() {
        let vals: Vec<_> = (1..=3).map(|i| (v(i), 1)).collect();
        let mut t = VoteTracker::new(&vals, Slot(0));
        let a = Hash([1; 32]);
        assert!(t.record(&v(1), [(Slot(5), a)], true).confirmed.is_empty());
        assert!(
            t.record(&v(1), [(Slot(5), a)], true).confirmed.is_empty(),
            "again: no effect"
        );
        let e = t.record(&v(2), [(Slot(5), a)], false);
        assert!(e.confirmed.is_empty(), "2 of 3 is not more than 2/3");
        assert_eq!(e.duplicate_confirmed, vec![(Slot(5), a)]);
        let e = t.record(&v(3), [(Slot(5), a)], false);
        assert_eq!(e.confirmed, vec![(Slot(5), a)]);
        assert!(t.is_confirmed(Slot(5), &a));
        // Outsiders count nothing.
        assert_eq!(
            t.record(&v(9), [(Slot(6), a)], false),
            VoteEffects::default()
        );
        assert_eq!(t.stake(Slot(6), &a), 0);
    }

    #[test]
    fn versions_are_counted_apart_and_rooting_drops_old_slots() {
        let vals: Vec<_> = (1..=4).map(|i| (v(i), 25)).collect();
        let mut t = VoteTracker::new(&vals, Slot(0));
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        t.record(&v(1), [(Slot(3), a)], false);
        t.record(&v(2), [(Slot(3), a)], false);
        t.record(&v(3), [(Slot(3), b)], false);
        assert_eq!(t.versions(Slot(3)), vec![(a, 50), (b, 25)]);
        assert_eq!(
            t.duplicate_confirmed(Slot(3)),
            None,
            "50 % is not more than 52 %"
        );
        t.record(&v(4), [(Slot(3), a)], false);
        assert_eq!(t.duplicate_confirmed(Slot(3)), Some(a));
        t.set_root(Slot(3));
        assert_eq!(t.tracked_slots(), 0);
        t.record(&v(1), [(Slot(2), a)], false);
        assert_eq!(t.tracked_slots(), 0, "at or below the root: ignored");
    }

    #[test]
    fn a_whole_tower_is_walked_down_to_the_previous_whole_one_only() {
        let vals: Vec<_> = (1..=4).map(|i| (v(i), 25)).collect();
        let mut t = VoteTracker::new(&vals, Slot(0));
        let h = |s: u8| Hash([s; 32]);
        let chain = |top: u8| (1..=top).rev().map(move |s| (Slot(u64::from(s)), h(s)));
        // Only the top is known (its block was missing): the lower slots are not counted yet.
        t.record(&v(1), [(Slot(3), h(3))], false);
        assert_eq!(t.stake(Slot(2), &h(2)), 0);
        // The next tower is whole: everything below it counts, the partial top is no stop.
        t.record(&v(1), chain(4), true);
        assert!((1..=4).all(|s| t.stake(Slot(s), &h(s as u8)) == 25));
        // A later whole tower on the same chain adds only what is above the previous one.
        t.record(&v(1), chain(6), true);
        assert!((1..=6).all(|s| t.stake(Slot(s), &h(s as u8)) == 25));
        // Another fork is walked whole, its own versions counted.
        let other = [(Slot(7), Hash([70; 32])), (Slot(5), Hash([50; 32]))];
        t.record(&v(1), other, true);
        assert_eq!(t.stake(Slot(5), &Hash([50; 32])), 25);
        assert_eq!(t.stake(Slot(7), &Hash([70; 32])), 25);
    }
}
