//! Fork choice: the heaviest subtree by each validator's newest vote.
//!
//! The tree holds the blocks this node replayed above its root, one version per slot, each known by
//! (slot, bank hash). Every validator's newest vote — whether it came by gossip, the vote port or a
//! block — counts its stake once, on the block it names; a block's weight is the stake of its whole
//! subtree. The best block is found by walking from the root to the heaviest child at each step.
//!
//! **Tie-break** (written down because every node must make the same choice): among children of
//! equal weight the lower slot wins (it was produced first, so more of the cluster has it), and
//! between two versions of one slot — which this tree never holds at once — the lower bank hash.
//! Blocks marked invalid (dead, or a duplicate slot whose version is not duplicate-confirmed) and
//! their subtrees are never chosen.
//!
//! Bounds: the tree holds what replay produced above the root; [`ForkChoice::set_root`] drops
//! everything that does not descend from the new root. Pending votes (for blocks not replayed yet)
//! are kept only for slots above the root, at most one per validator.

use std::collections::{BTreeMap, HashMap};

use crate::map::Map;

use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::vote::Lockout;

#[derive(Debug, Clone)]
struct Block {
    hash: Hash,
    parent: Option<Slot>,
    children: Vec<Slot>,
    /// Stake whose newest vote is exactly this block.
    voted: u64,
    /// Stake of the whole subtree (this block included).
    subtree: u64,
    invalid: bool,
}

/// The heaviest-subtree fork choice over (slot, bank hash) blocks.
#[derive(Debug, Clone)]
pub struct ForkChoice {
    root: Slot,
    blocks: Map<Slot, Block>,
    /// Each validator's newest vote and whether its stake is counted in the tree.
    latest: Map<Pubkey, (Slot, Hash, bool)>,
    /// Validators whose newest vote names a block not in the tree (yet), by slot.
    pending: BTreeMap<Slot, Vec<Pubkey>>,
    stakes: Map<Pubkey, u64>,
}

impl ForkChoice {
    /// A tree holding only `root` (with bank hash `hash`); `stakes` weighs votes.
    pub fn new(root: Slot, hash: Hash, stakes: HashMap<Pubkey, u64>) -> ForkChoice {
        let mut blocks = Map::default();
        blocks.insert(
            root,
            Block {
                hash,
                parent: None,
                children: Vec::new(),
                voted: 0,
                subtree: 0,
                invalid: false,
            },
        );
        ForkChoice {
            root,
            blocks,
            latest: Map::default(),
            pending: BTreeMap::new(),
            stakes: stakes.into_iter().collect(),
        }
    }

    /// The root.
    pub fn root(&self) -> Slot {
        self.root
    }

    /// Whether `slot` is in the tree.
    pub fn contains(&self, slot: Slot) -> bool {
        self.blocks.contains_key(&slot)
    }

    /// The bank hash of the tree's block at `slot`.
    pub fn hash(&self, slot: Slot) -> Option<Hash> {
        self.blocks.get(&slot).map(|b| b.hash)
    }

    /// The parent of `slot` in the tree.
    pub fn parent(&self, slot: Slot) -> Option<Slot> {
        self.blocks.get(&slot).and_then(|b| b.parent)
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether only the root is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.len() <= 1
    }

    /// Slots in the tree, ascending.
    pub fn slots(&self) -> Vec<Slot> {
        let mut v: Vec<Slot> = self.blocks.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Adds a replayed block under its parent (which must be in the tree; else it is refused and
    /// `false` returned). Validators whose newest vote already named it now count on it.
    pub fn add_block(&mut self, slot: Slot, hash: Hash, parent: Slot) -> bool {
        if self.blocks.contains_key(&slot) || slot <= self.root {
            return false;
        }
        let Some(p) = self.blocks.get_mut(&parent) else {
            return false;
        };
        let at = p.children.partition_point(|c| *c < slot);
        p.children.insert(at, slot);
        let invalid = p.invalid;
        self.blocks.insert(
            slot,
            Block {
                hash,
                parent: Some(parent),
                children: Vec::new(),
                voted: 0,
                subtree: 0,
                invalid,
            },
        );
        if let Some(waiting) = self.pending.remove(&slot) {
            for v in waiting {
                if let Some(&(s, h, false)) = self.latest.get(&v) {
                    if s == slot && h == hash {
                        let stake = self.stake_of(&v);
                        self.add_stake(slot, stake);
                        self.latest.insert(v, (s, h, true));
                    }
                }
            }
        }
        true
    }

    /// Removes `slot`'s block and its subtree (a version that lost to a duplicate-confirmed one):
    /// votes on them wait for the block to return. Returns the slots removed, ascending.
    pub fn remove_subtree(&mut self, slot: Slot) -> Vec<Slot> {
        if slot == self.root || !self.blocks.contains_key(&slot) {
            return Vec::new();
        }
        let removed = self.collect_subtree(slot);
        let stake = self.blocks.get(&slot).map_or(0, |b| b.subtree);
        if let Some(parent) = self.blocks.get(&slot).and_then(|b| b.parent) {
            self.sub_stake(parent, stake);
            if let Some(p) = self.blocks.get_mut(&parent) {
                p.children.retain(|c| *c != slot);
            }
        }
        for s in &removed {
            self.blocks.remove(s);
        }
        for (v, entry) in self.latest.iter_mut() {
            if entry.2 && removed.binary_search(&entry.0).is_ok() {
                entry.2 = false;
                self.pending.entry(entry.0).or_default().push(*v);
            }
        }
        removed
    }

    /// Records `voter`'s vote for (`slot`, `hash`) if it is newer than its last one; returns whether
    /// it was.
    pub fn apply_vote(&mut self, voter: Pubkey, slot: Slot, hash: Hash) -> bool {
        let stake = self.stake_of(&voter);
        let in_tree = self.blocks.get(&slot).is_some_and(|b| b.hash == hash);
        if let Some(&(s, h, counted)) = self.latest.get(&voter) {
            if slot <= s {
                return false;
            }
            // The common case: the new vote extends the old one's fork. Only the path between
            // them changes weight, not the whole way to the root.
            if counted && in_tree && self.move_stake(s, slot, stake) {
                self.latest.insert(voter, (slot, hash, true));
                return true;
            }
            if counted {
                self.sub_stake(s, stake);
            } else if let Some(w) = self.pending.get_mut(&s) {
                w.retain(|v| *v != voter);
                let _ = h;
            }
        }
        let counted = match self.blocks.get(&slot) {
            Some(b) if b.hash == hash => {
                self.add_stake(slot, stake);
                true
            }
            _ => {
                if slot > self.root {
                    self.pending.entry(slot).or_default().push(voter);
                }
                false
            }
        };
        self.latest.insert(voter, (slot, hash, counted));
        true
    }

    /// Blocks that validators' newest votes name but the tree lacks: (slot, bank hash, stake),
    /// heaviest first (what repair should fetch so those votes count).
    pub fn wanted(&self) -> Vec<(Slot, Hash, u64)> {
        let mut by_block: BTreeMap<(Slot, Hash), u64> = BTreeMap::new();
        for voters in self.pending.values() {
            for v in voters {
                if let Some(&(s, h, false)) = self.latest.get(v) {
                    *by_block.entry((s, h)).or_default() += self.stake_of(v);
                }
            }
        }
        let mut out: Vec<(Slot, Hash, u64)> =
            by_block.into_iter().map(|((s, h), w)| (s, h, w)).collect();
        out.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        out
    }

    /// `voter`'s newest vote.
    pub fn latest_vote(&self, voter: &Pubkey) -> Option<(Slot, Hash)> {
        self.latest.get(voter).map(|&(s, h, _)| (s, h))
    }

    /// Every validator's newest vote, in no particular order.
    pub fn latest_votes(&self) -> impl Iterator<Item = (&Pubkey, Slot, Hash)> {
        self.latest.iter().map(|(k, &(s, h, _))| (k, s, h))
    }

    /// Marks `slot`'s subtree invalid (never chosen) or valid again.
    pub fn set_invalid(&mut self, slot: Slot, invalid: bool) {
        for s in self.collect_subtree(slot) {
            if let Some(b) = self.blocks.get_mut(&s) {
                b.invalid = invalid;
            }
        }
    }

    /// Whether `slot` is in the tree and may be chosen.
    pub fn is_valid(&self, slot: Slot) -> bool {
        self.blocks.get(&slot).is_some_and(|b| !b.invalid)
    }

    /// Stake whose newest vote is `slot` or a descendant of it (0 when not in the tree).
    pub fn subtree_stake(&self, slot: Slot) -> u64 {
        self.blocks.get(&slot).map_or(0, |b| b.subtree)
    }

    /// `slot` and its ancestors in the tree, ascending (empty when `slot` is not in the tree).
    pub fn chain_to(&self, slot: Slot) -> Vec<Slot> {
        let mut out = Vec::new();
        let mut cur = self.blocks.contains_key(&slot).then_some(slot);
        while let Some(s) = cur {
            out.push(s);
            cur = self.blocks.get(&s).and_then(|b| b.parent);
        }
        out.reverse();
        out
    }

    /// Whether `ancestor` is `slot` or one of its ancestors in the tree.
    pub fn is_ancestor_or_self(&self, ancestor: Slot, slot: Slot) -> bool {
        let mut cur = Some(slot);
        while let Some(s) = cur {
            if s == ancestor {
                return true;
            }
            if s < ancestor {
                return false;
            }
            cur = self.blocks.get(&s).and_then(|b| b.parent);
        }
        false
    }

    /// The heaviest valid leaf under `from` (itself when it has no valid child), by the module's
    /// rule; `None` when `from` is not a valid block of the tree.
    pub fn best_from(&self, from: Slot) -> Option<Slot> {
        let mut cur = self
            .blocks
            .get(&from)
            .filter(|b| !b.invalid)
            .map(|_| from)?;
        loop {
            let b = &self.blocks[&cur];
            // Children are sorted by slot, so the first of equal weight is the lower slot.
            let mut best: Option<(u64, Slot)> = None;
            for c in &b.children {
                let child = &self.blocks[c];
                if child.invalid {
                    continue;
                }
                if best.is_none_or(|(w, _)| child.subtree > w) {
                    best = Some((child.subtree, *c));
                }
            }
            match best {
                Some((_, c)) => cur = c,
                None => return Some(cur),
            }
        }
    }

    /// The heaviest valid leaf of the whole tree.
    pub fn best(&self) -> Slot {
        self.best_from(self.root).unwrap_or(self.root)
    }

    /// Agave's switch proof for leaving the fork of `last` (this node's last vote): the stake of
    /// validators whose tower (`towers`: stake and lockouts, each validator once) holds a vote on
    /// another fork — a block of the tree that is neither an ancestor nor a descendant of `last` —
    /// still locked out at `last`.
    ///
    /// A vote whose lockout ended before `last` does not count: its voter may since have voted on
    /// `last`'s fork (its newer vote still on its way here), and counting it would let more than
    /// 2/3 of the stake appear on both sides, so a node could switch off an optimistically
    /// confirmed block.
    pub fn switch_stake<'a>(
        &self,
        last: Slot,
        towers: impl IntoIterator<Item = (u64, &'a [Lockout])>,
    ) -> u64 {
        if !self.blocks.contains_key(&last) {
            return 0;
        }
        let on_fork = self.chain_to(last);
        let off_fork = |slot: Slot| {
            slot > self.root
                && self.blocks.contains_key(&slot)
                && on_fork.binary_search(&slot).is_err()
                && !self.is_ancestor_or_self(last, slot)
        };
        towers
            .into_iter()
            .filter(|(_, lockouts)| {
                lockouts
                    .iter()
                    .any(|l| l.is_locked_out_at_slot(last) && off_fork(l.slot))
            })
            .map(|(stake, _)| stake)
            .sum()
    }

    /// Makes `slot` (which must be in the tree) the root, dropping every block that does not
    /// descend from it and votes for slots at or below it that wait for a block.
    pub fn set_root(&mut self, slot: Slot) {
        if slot == self.root || !self.blocks.contains_key(&slot) {
            return;
        }
        let keep = self.collect_subtree(slot);
        self.blocks.retain(|s, _| keep.binary_search(s).is_ok());
        if let Some(b) = self.blocks.get_mut(&slot) {
            b.parent = None;
        }
        for entry in self.latest.values_mut() {
            if entry.2 && keep.binary_search(&entry.0).is_err() {
                entry.2 = false;
            }
        }
        self.pending = self.pending.split_off(&slot.next());
        self.root = slot;
    }

    fn stake_of(&self, v: &Pubkey) -> u64 {
        self.stakes.get(v).copied().unwrap_or(0)
    }

    /// `slot` and its descendants, sorted.
    fn collect_subtree(&self, slot: Slot) -> Vec<Slot> {
        let mut out = Vec::new();
        let mut stack = vec![slot];
        while let Some(s) = stack.pop() {
            if let Some(b) = self.blocks.get(&s) {
                out.push(s);
                stack.extend(b.children.iter().copied());
            }
        }
        out.sort_unstable();
        out
    }

    fn add_stake(&mut self, slot: Slot, stake: u64) {
        if let Some(b) = self.blocks.get_mut(&slot) {
            b.voted += stake;
        }
        let mut cur = Some(slot);
        while let Some(s) = cur {
            let b = self.blocks.get_mut(&s).expect("ancestors are in the tree");
            b.subtree += stake;
            cur = b.parent;
        }
    }

    /// Moves a vote's `stake` from `from` to its descendant `to`: `voted` moves, and the subtree
    /// weights of the blocks above `from` up to `to` grow (those at and above `from` keep it).
    /// `false`, changing nothing, if `to` does not descend from `from`.
    fn move_stake(&mut self, from: Slot, to: Slot, stake: u64) -> bool {
        let mut cur = Some(to);
        loop {
            match cur {
                Some(s) if s == from => break,
                Some(s) if s > from => cur = self.blocks.get(&s).and_then(|b| b.parent),
                _ => return false,
            }
        }
        if let Some(b) = self.blocks.get_mut(&from) {
            b.voted = b.voted.saturating_sub(stake);
        }
        if let Some(b) = self.blocks.get_mut(&to) {
            b.voted += stake;
        }
        let mut cur = Some(to);
        while let Some(s) = cur.filter(|&s| s != from) {
            let b = self.blocks.get_mut(&s).expect("checked on the way up");
            b.subtree += stake;
            cur = b.parent;
        }
        true
    }

    fn sub_stake(&mut self, slot: Slot, stake: u64) {
        if let Some(b) = self.blocks.get_mut(&slot) {
            b.voted = b.voted.saturating_sub(stake);
        }
        let mut cur = Some(slot);
        while let Some(s) = cur {
            let Some(b) = self.blocks.get_mut(&s) else {
                return;
            };
            b.subtree = b.subtree.saturating_sub(stake);
            cur = b.parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: u64) -> Hash {
        Hash([s as u8; 32])
    }

    fn v(i: u8) -> Pubkey {
        Pubkey([i; 32])
    }

    /// 0 ─ 1 ─ 2 ─ 4
    ///       └ 3 ─ 5
    fn tree() -> ForkChoice {
        let stakes = (1..=4).map(|i| (v(i), 10)).collect();
        let mut f = ForkChoice::new(Slot(0), h(0), stakes);
        for (s, p) in [(1, 0), (2, 1), (3, 1), (4, 2), (5, 3)] {
            assert!(f.add_block(Slot(s), h(s), Slot(p)));
        }
        f
    }

    #[test]
    fn the_heaviest_subtree_wins_and_ties_go_to_the_lower_slot() {
        let mut f = tree();
        assert_eq!(f.best(), Slot(4), "no votes: lower slots all the way");
        f.apply_vote(v(1), Slot(5), h(5));
        assert_eq!(f.best(), Slot(5));
        f.apply_vote(v(2), Slot(4), h(4));
        assert_eq!(f.best(), Slot(4), "10 against 10: the lower slot (2) leads");
        f.apply_vote(v(3), Slot(2), h(2));
        assert_eq!(f.subtree_stake(Slot(2)), 20);
        assert_eq!(f.subtree_stake(Slot(1)), 30);
        assert_eq!(f.best(), Slot(4));
        // A newer vote moves the stake; an older one is ignored.
        assert!(f.apply_vote(v(3), Slot(5), h(5)));
        assert!(!f.apply_vote(v(3), Slot(3), h(3)));
        assert_eq!(f.best(), Slot(5));
        assert_eq!(f.subtree_stake(Slot(2)), 10);
    }

    /// Every block's weights recomputed from the newest votes alone.
    fn assert_weights_match_votes(f: &ForkChoice) {
        for (&slot, b) in &f.blocks {
            let voted: u64 = f
                .latest
                .iter()
                .filter(|(_, &(s, h, _))| s == slot && h == b.hash)
                .map(|(v, _)| f.stake_of(v))
                .sum();
            assert_eq!(b.voted, voted, "voted at {slot}");
            let subtree: u64 = f
                .collect_subtree(slot)
                .iter()
                .map(|s| f.blocks[s].voted)
                .sum();
            assert_eq!(b.subtree, subtree, "subtree at {slot}");
        }
    }

    #[test]
    fn weights_stay_exact_as_votes_extend_switch_and_wait_for_blocks() {
        let mut f = tree();
        // Extend along a fork, jump several slots, switch forks, name an unknown block, come back.
        let votes = [
            (1, 1),
            (1, 2),
            (2, 3),
            (1, 4),
            (2, 5),
            (3, 1),
            (3, 5),
            (4, 7),
            (1, 8),
            (4, 9),
            (2, 9),
        ];
        for (voter, slot) in votes {
            f.apply_vote(v(voter), Slot(slot), h(slot));
            assert_weights_match_votes(&f);
        }
        f.add_block(Slot(7), h(7), Slot(4));
        f.add_block(Slot(8), h(8), Slot(7));
        f.add_block(Slot(9), h(9), Slot(5));
        assert_weights_match_votes(&f);
        for (voter, slot) in [(4, 10), (1, 9)] {
            f.apply_vote(v(voter), Slot(slot), h(slot));
            assert_weights_match_votes(&f);
        }
        assert_eq!(f.subtree_stake(Slot(0)), 30, "voter 4 waits for block 10");
    }

    #[test]
    fn votes_for_unknown_blocks_or_other_versions_count_once_the_block_arrives() {
        let mut f = tree();
        f.apply_vote(v(1), Slot(6), h(6));
        f.apply_vote(v(2), Slot(6), Hash([99; 32]));
        assert_eq!(f.subtree_stake(Slot(0)), 0);
        f.add_block(Slot(6), h(6), Slot(5));
        assert_eq!(f.subtree_stake(Slot(6)), 10, "only the matching version");
        assert_eq!(f.best(), Slot(6));
        // The version is dropped: its votes wait again.
        f.remove_subtree(Slot(6));
        assert_eq!(f.subtree_stake(Slot(0)), 0);
        f.add_block(Slot(6), h(6), Slot(5));
        assert_eq!(f.subtree_stake(Slot(0)), 10);
    }

    #[test]
    fn invalid_subtrees_are_never_chosen() {
        let mut f = tree();
        f.apply_vote(v(1), Slot(5), h(5));
        f.set_invalid(Slot(3), true);
        assert_eq!(f.best(), Slot(4));
        f.set_invalid(Slot(3), false);
        assert_eq!(f.best(), Slot(5));
    }

    #[test]
    fn switch_stake_counts_off_fork_votes_still_locked_at_the_last_vote() {
        let f = tree();
        let lock = |slot: u64, confirmation_count: u32| Lockout {
            slot: Slot(slot),
            confirmation_count,
        };
        // Leaving 4 (on 0-1-2-4): 5 (on 0-1-3-5) and 3 are off the fork, 1 and 2 are not.
        let on_5 = [lock(1, 3), lock(3, 2), lock(5, 1)];
        let on_4 = [lock(1, 3), lock(2, 2), lock(4, 1)];
        assert_eq!(
            f.switch_stake(Slot(4), [(10, &on_5[..]), (20, &on_4[..])]),
            10
        );
        // From 5's side, the voter on 4 counts.
        assert_eq!(
            f.switch_stake(Slot(5), [(10, &on_5[..]), (20, &on_4[..])]),
            20
        );
        // A vote on 3 whose lockout (3 + 2) ended before a last vote at 6 does not count, though it
        // is off the fork: its voter may have voted on 6's fork since.
        let mut g = tree();
        g.add_block(Slot(6), h(6), Slot(4));
        let stale = [lock(1, 2), lock(3, 1)];
        assert_eq!(g.switch_stake(Slot(6), [(10, &stale[..])]), 0);
        assert_eq!(g.switch_stake(Slot(4), [(10, &stale[..])]), 10);
        // Lockouts at or below the root and blocks outside the tree count for nothing.
        let unknown = [lock(9, 5)];
        assert_eq!(g.switch_stake(Slot(6), [(10, &unknown[..])]), 0);
        assert_eq!(g.switch_stake(Slot(99), [(10, &on_5[..])]), 0);
    }

    #[test]
    fn rooting_prunes_other_forks_and_their_votes() {
        let mut f = tree();
        f.apply_vote(v(1), Slot(5), h(5));
        f.apply_vote(v(2), Slot(4), h(4));
        f.set_root(Slot(2));
        assert_eq!(f.slots(), vec![Slot(2), Slot(4)]);
        assert_eq!(f.subtree_stake(Slot(2)), 10);
        assert_eq!(f.best(), Slot(4));
        assert!(f.is_ancestor_or_self(Slot(2), Slot(4)));
        assert!(!f.is_ancestor_or_self(Slot(3), Slot(4)));
    }
}
