//! Turbine: the tree along which each shred travels from the leader to every validator.
//!
//! For every shred, all validators except the slot's leader are put in a deterministic
//! **stake-weighted shuffle** seeded by `sha256(leader ‖ slot ‖ shred index ‖ shred kind)`. The
//! shuffled list is read as a tree laid out like a binary heap with `fanout` children per node:
//!
//! ```text
//! layer 0:  position 0                      the root: the leader sends the shred to it alone
//! layer 1:  positions 1 ..= fanout           the root's children
//! layer 2:  the next fanout² positions       fanout children of each layer-1 node
//! layer k:  the next fanoutᵏ positions       …
//! ```
//!
//! The node at position `p` retransmits to positions `p·fanout + 1 ..= p·fanout + fanout` that exist.
//! With `n` nodes the tree has about `log_fanout(n)` layers; with `fanout ≥ n − 1` it is one hop: the
//! root forwards to everyone else directly.
//!
//! Stake weighting puts heavily staked validators near the root (they are drawn first), so the nodes
//! whose votes matter most get each shred soonest and a shred's fate depends on few hops for them.
//! Validators with zero stake come after every staked one, in seeded (uniform) order. The seed changes
//! per shred, so the load of being root or an inner node spreads over the whole set, and one
//! misbehaving inner node can withhold only the shreds whose tree puts it there.
//!
//! Everything is integer arithmetic (a Fenwick tree over `u64` stakes, draws of `rng % remaining`)
//! and ChaCha20 from `rand_chacha`, whose stream is fixed by its seed on every platform: every node
//! computes the same tree for the same shred.
//!
//! Cost: building the Fenwick tree is `O(n)` and each draw `O(log n)`; the tree is drawn only as far
//! as the query needs (the root needs one draw). Calls that take a [`TurbineScratch`] reuse its
//! buffers and allocate nothing once they are warm, which is what the per-shred retransmit path does.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::types::{Hash, Pubkey, Slot};

/// Default number of children per node (the default of the `turbine.fanout` setting): Solana's
/// value. Up to 201 validators it makes the tree two hops deep — a hop less than fanout 8 at 100
/// validators, which over WAN links is the difference between meeting and missing "optimistic
/// confirmation within one slot and two round trips" — and every validator still sends each
/// shred's bytes about once per slot on average; only the root's burst per shred is larger.
pub const DEFAULT_FANOUT: usize = 200;

pub use crate::shred::ShredKind;

/// The byte that stands for a shred kind in the tree's seed.
fn seed_byte(kind: ShredKind) -> u8 {
    match kind {
        ShredKind::Data => 0,
        ShredKind::Coding => 1,
    }
}

/// Which shred a tree is for: together with the slot's leader it seeds the shuffle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShredId {
    /// The slot the shred belongs to.
    pub slot: Slot,
    /// The shred's index within its slot (data and coding indices are separate spaces).
    pub index: u32,
    /// Data or coding.
    pub kind: ShredKind,
}

impl ShredId {
    /// A data shred's id.
    pub fn data(slot: Slot, index: u32) -> ShredId {
        ShredId {
            slot,
            index,
            kind: ShredKind::Data,
        }
    }

    /// A coding shred's id.
    pub fn coding(slot: Slot, index: u32) -> ShredId {
        ShredId {
            slot,
            index,
            kind: ShredKind::Coding,
        }
    }

    /// The id of a parsed shred.
    pub fn of(view: &crate::shred::ShredView<'_>) -> ShredId {
        ShredId {
            slot: Slot(view.slot()),
            index: view.index(),
            kind: view.kind(),
        }
    }

    /// The shuffle's seed: `sha256(leader ‖ slot u64 LE ‖ index u32 LE ‖ kind u8)`.
    pub fn seed(&self, leader: &Pubkey) -> [u8; 32] {
        Hash::hashv(&[
            leader.as_bytes(),
            &self.slot.0.to_le_bytes(),
            &self.index.to_le_bytes(),
            &[seed_byte(self.kind)],
        ])
        .0
    }
}

/// Reusable buffers for one shuffle, so the retransmit path does not allocate per shred.
#[derive(Debug, Default, Clone)]
pub struct TurbineScratch {
    /// Fenwick (binary indexed) tree over the staked nodes' remaining stakes, 1-based.
    fenwick: Vec<u64>,
    /// Node indices (into the tree's sorted node list) in shuffled order, drawn so far.
    order: Vec<u32>,
    /// Unstaked node indices still to be drawn.
    unstaked: Vec<u32>,
}

/// The validator set, sorted, from which every shred's tree is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurbineTree {
    /// Nodes with stake, sorted by identity.
    staked: Vec<(Pubkey, u64)>,
    /// Nodes without stake, sorted by identity.
    unstaked: Vec<Pubkey>,
    /// Children per node, at least 1.
    fanout: usize,
}

impl TurbineTree {
    /// Builds the tree source from `(identity, stake)` pairs; their order does not matter.
    ///
    /// A key listed twice counts once, with its largest stake. A `fanout` of 0 is taken as 1 (a
    /// chain). Should the stakes sum past `u64::MAX` (they cannot if they are real lamports: the
    /// total supply is a `u64`), every stake is halved until the sum fits, so the weights stay
    /// proportional and the result is still the same on every node.
    pub fn new(nodes: &[(Pubkey, u64)], fanout: usize) -> TurbineTree {
        let mut sorted: Vec<(Pubkey, u64)> = nodes.to_vec();
        // Largest stake first within a key, so `dedup` keeps it whatever the input order.
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        sorted.dedup_by_key(|n| n.0);
        let total: u128 = sorted.iter().map(|n| u128::from(n.1)).sum();
        let mut shift = 0u32;
        while (total >> shift) > u128::from(u64::MAX) {
            shift += 1;
        }
        let mut staked = Vec::new();
        let mut unstaked = Vec::new();
        for (key, stake) in sorted {
            // A stake that halves to zero keeps weight 1: it is staked and must stay ahead of the
            // unstaked nodes.
            let weight = if stake == 0 {
                0
            } else {
                (stake >> shift).max(1)
            };
            if weight == 0 {
                unstaked.push(key);
            } else {
                staked.push((key, weight));
            }
        }
        TurbineTree {
            staked,
            unstaked,
            fanout: fanout.max(1),
        }
    }

    /// Number of distinct nodes in the set (the leader included, if it is a member).
    pub fn len(&self) -> usize {
        self.staked.len() + self.unstaked.len()
    }

    /// Whether the set has no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Children per node.
    pub fn fanout(&self) -> usize {
        self.fanout
    }

    /// The node the leader sends this shred to, or `None` if the leader is the only node.
    pub fn root(&self, leader: &Pubkey, shred: ShredId) -> Option<Pubkey> {
        let mut scratch = TurbineScratch::default();
        self.root_with(leader, shred, &mut scratch)
    }

    /// [`TurbineTree::root`] reusing `scratch`'s buffers.
    pub fn root_with(
        &self,
        leader: &Pubkey,
        shred: ShredId,
        scratch: &mut TurbineScratch,
    ) -> Option<Pubkey> {
        let mut shuffle = Shuffle::start(self, leader, shred, scratch);
        shuffle
            .draw_to(0)
            .then(|| self.key(shuffle.scratch.order[0]))
    }

    /// `me`'s position in this shred's shuffle (0 is the root), or `None` if `me` is the leader or
    /// not in the set.
    pub fn position(&self, leader: &Pubkey, shred: ShredId, me: &Pubkey) -> Option<usize> {
        let mut scratch = TurbineScratch::default();
        self.position_with(leader, shred, me, &mut scratch)
    }

    /// [`TurbineTree::position`] reusing `scratch`'s buffers.
    pub fn position_with(
        &self,
        leader: &Pubkey,
        shred: ShredId,
        me: &Pubkey,
        scratch: &mut TurbineScratch,
    ) -> Option<usize> {
        let me_index = self.index_of(me)?;
        if me == leader {
            return None;
        }
        let mut shuffle = Shuffle::start(self, leader, shred, scratch);
        shuffle.draw_until(me_index)
    }

    /// The nodes `me` retransmits this shred to (empty for leaves, the leader and strangers).
    pub fn children(&self, leader: &Pubkey, shred: ShredId, me: &Pubkey) -> Vec<Pubkey> {
        let mut scratch = TurbineScratch::default();
        let mut out = Vec::new();
        self.children_into(leader, shred, me, &mut scratch, &mut out);
        out
    }

    /// [`TurbineTree::children`] written into `out` (cleared first), reusing `scratch`'s buffers.
    pub fn children_into(
        &self,
        leader: &Pubkey,
        shred: ShredId,
        me: &Pubkey,
        scratch: &mut TurbineScratch,
        out: &mut Vec<Pubkey>,
    ) {
        out.clear();
        let Some(me_index) = self.index_of(me) else {
            return;
        };
        if me == leader {
            return;
        }
        let mut shuffle = Shuffle::start(self, leader, shred, scratch);
        let Some(p) = shuffle.draw_until(me_index) else {
            return;
        };
        let first = p.saturating_mul(self.fanout).saturating_add(1);
        let last = first.saturating_add(self.fanout - 1);
        for pos in first..=last {
            if !shuffle.draw_to(pos) {
                break;
            }
            out.push(self.key(shuffle.scratch.order[pos]));
        }
    }

    /// The whole shuffled order for this shred, root first, leader excluded.
    pub fn shuffled(&self, leader: &Pubkey, shred: ShredId) -> Vec<Pubkey> {
        let mut scratch = TurbineScratch::default();
        let mut shuffle = Shuffle::start(self, leader, shred, &mut scratch);
        shuffle.draw_to(usize::MAX);
        scratch.order.iter().map(|&i| self.key(i)).collect()
    }

    /// The key of node index `i` (staked nodes first, then unstaked).
    fn key(&self, i: u32) -> Pubkey {
        let i = i as usize;
        match self.staked.get(i) {
            Some(n) => n.0,
            None => self.unstaked[i - self.staked.len()],
        }
    }

    /// Node index of `key`: staked nodes are `0..staked.len()`, unstaked ones follow.
    fn index_of(&self, key: &Pubkey) -> Option<u32> {
        let i = match self.staked.binary_search_by(|n| n.0.cmp(key)) {
            Ok(i) => i,
            Err(_) => self.staked.len() + self.unstaked.binary_search(key).ok()?,
        };
        // The set is built from a slice; more than 2³² nodes cannot exist in practice, and
        // `try_from` keeps that from panicking if they did.
        u32::try_from(i).ok()
    }
}

/// One shred's shuffle, drawn lazily into the scratch buffers.
struct Shuffle<'a> {
    tree: &'a TurbineTree,
    scratch: &'a mut TurbineScratch,
    rng: ChaCha20Rng,
    /// Stake not yet drawn.
    remaining_stake: u64,
}

impl<'a> Shuffle<'a> {
    fn start(
        tree: &'a TurbineTree,
        leader: &Pubkey,
        shred: ShredId,
        scratch: &'a mut TurbineScratch,
    ) -> Shuffle<'a> {
        let rng = ChaCha20Rng::from_seed(shred.seed(leader));
        let n = tree.staked.len();
        let leader_index = tree.index_of(leader).map(|i| i as usize);
        // Fenwick tree built in O(n): each cell pushes its sum up to its parent.
        let fen = &mut scratch.fenwick;
        fen.clear();
        fen.resize(n + 1, 0);
        let mut remaining_stake = 0u64;
        for (i, (_, stake)) in tree.staked.iter().enumerate() {
            if Some(i) != leader_index {
                fen[i + 1] = *stake;
                // Cannot overflow: `new` scaled the stakes so their sum fits in a u64.
                remaining_stake = remaining_stake.saturating_add(*stake);
            }
        }
        for i in 1..=n {
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                fen[parent] = fen[parent].saturating_add(fen[i]);
            }
        }
        scratch.order.clear();
        scratch.unstaked.clear();
        scratch.unstaked.extend(
            (n..tree.len())
                .filter(|&i| Some(i) != leader_index)
                .map(|i| i as u32),
        );
        Shuffle {
            tree,
            scratch,
            rng,
            remaining_stake,
        }
    }

    /// Draws until position `pos` exists; false if the shuffle ends first.
    fn draw_to(&mut self, pos: usize) -> bool {
        while self.scratch.order.len() <= pos {
            if !self.draw_one() {
                return false;
            }
        }
        true
    }

    /// Draws until node `target` is placed; its position, or `None` if it never is (the leader).
    fn draw_until(&mut self, target: u32) -> Option<usize> {
        if let Some(p) = self.scratch.order.iter().position(|&i| i == target) {
            return Some(p);
        }
        while self.draw_one() {
            if self.scratch.order.last() == Some(&target) {
                return Some(self.scratch.order.len() - 1);
            }
        }
        None
    }

    /// Places the next node; false when every node is placed.
    fn draw_one(&mut self) -> bool {
        if self.remaining_stake > 0 {
            let r = self.rng.next_u64() % self.remaining_stake;
            let (i, stake) = self.take_staked(r);
            self.remaining_stake -= stake;
            self.scratch.order.push(i as u32);
            return true;
        }
        let left = self.scratch.unstaked.len();
        if left == 0 {
            return false;
        }
        // Uniform pick among the unstaked nodes left; swap_remove keeps it O(1) and the result is
        // still determined by the seed alone.
        let j = (self.rng.next_u64() % left as u64) as usize;
        let i = self.scratch.unstaked.swap_remove(j);
        self.scratch.order.push(i);
        true
    }

    /// Finds the staked node whose cumulative-stake interval holds `r` and removes its stake.
    fn take_staked(&mut self, mut r: u64) -> (usize, u64) {
        let fen = &mut self.scratch.fenwick;
        let n = fen.len() - 1;
        // Descend by powers of two: `pos` ends as the largest prefix whose sum is ≤ r, so node
        // `pos` (0-based) is the first whose prefix sum exceeds r.
        let mut pos = 0usize;
        let mut step = if n == 0 { 0 } else { 1usize << n.ilog2() };
        while step > 0 {
            let next = pos + step;
            if next <= n && fen[next] <= r {
                pos = next;
                r -= fen[next];
            }
            step >>= 1;
        }
        let index = pos;
        let stake = self.tree.staked[index].1;
        let mut i = index + 1;
        while i <= n {
            fen[i] -= stake;
            i += i & i.wrapping_neg();
        }
        (index, stake)
    }
}

#[cfg(test)]
mod tests;
