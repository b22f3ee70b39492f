//! The data-plane stand-in of one simulated node: the blocks it holds, the ones waiting for a
//! parent, the leader's vote queue, and what survives a crash (tower file, ledger, root).

use std::collections::BTreeMap;
use std::sync::Arc;

use dataplane::banking::LeadCommand;
use dataplane::types::{Hash, Pubkey, Slot};

use crate::map::Map;
use dataplane::vote::TowerSync;

use crate::io::{BankFrozen, LandedVote, ParsedVote};

/// Blocks waiting for their parent, at most (as the real replay stage bounds them).
pub const PENDING_BLOCKS_MAX: usize = 512;
/// Votes the leader's queue holds at most (one per validator).
pub const VOTE_QUEUE_MAX: usize = 4_096;

/// A simulated block: small contents, a stand-in hash over what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimBlock {
    /// Its slot.
    pub slot: Slot,
    /// Its parent slot.
    pub parent: Slot,
    /// Its parent's bank hash.
    pub parent_hash: Hash,
    /// Its bank hash.
    pub hash: Hash,
    /// Its blockhash.
    pub blockhash: Hash,
    /// Its block id.
    pub block_id: Hash,
    /// Who produced it.
    pub leader: Pubkey,
    /// The vote states it changed.
    pub votes: Vec<LandedVote>,
    /// Its votes' wire size, for shred accounting.
    pub bytes: usize,
}

impl SimBlock {
    /// Produces a block on `parent` with `votes`; `variant` distinguishes an equivocating leader's
    /// versions.
    pub fn produce(
        slot: Slot,
        parent: &SimBlock,
        leader: Pubkey,
        votes: Vec<(ParsedVote, usize)>,
        variant: u8,
    ) -> SimBlock {
        let mut digest = Vec::with_capacity(32 * 3 + 16 + votes.len() * 8);
        digest.extend_from_slice(parent.hash.as_bytes());
        digest.extend_from_slice(&slot.0.to_le_bytes());
        digest.extend_from_slice(leader.as_bytes());
        digest.push(variant);
        let mut bytes = 0;
        let mut landed = Vec::with_capacity(votes.len());
        for (v, len) in votes {
            digest.extend_from_slice(&v.signature.0[..8]);
            bytes += len;
            landed.push(LandedVote {
                voter: v.voter,
                lockouts: v.tower.lockouts.clone(),
                root: v.tower.root,
                timestamp: v.tower.timestamp,
            });
        }
        let hash = Hash::of(&digest);
        SimBlock {
            slot,
            parent: parent.slot,
            parent_hash: parent.hash,
            hash,
            blockhash: Hash::hashv(&[b"blockhash", hash.as_bytes()]),
            block_id: Hash::hashv(&[b"block-id", hash.as_bytes()]),
            leader,
            votes: landed,
            bytes,
        }
    }

    /// The genesis block.
    pub fn genesis(hash: Hash) -> SimBlock {
        SimBlock {
            slot: Slot(0),
            parent: Slot(0),
            parent_hash: Hash::default(),
            hash,
            blockhash: hash,
            block_id: Hash::default(),
            leader: Pubkey::default(),
            votes: Vec::new(),
            bytes: 0,
        }
    }

    /// The event the core sees for it.
    pub fn frozen(&self) -> BankFrozen {
        BankFrozen {
            slot: self.slot,
            parent: self.parent,
            bank_hash: self.hash,
            blockhash: self.blockhash,
            block_id: self.block_id,
            leader: self.leader,
            votes: self.votes.clone(),
        }
    }
}

/// What a node keeps across a crash.
#[derive(Debug, Clone, Default)]
pub struct Persisted {
    /// The newest tower file written.
    pub tower_file: Option<Vec<u8>>,
    /// Tower files written before it, newest last (for a rolled-back restart), bounded.
    pub older_towers: Vec<Vec<u8>>,
    /// The root and its bank hash.
    pub root: Option<(Slot, Hash)>,
    /// Every block stored, by slot.
    pub ledger: BTreeMap<Slot, Arc<SimBlock>>,
}

/// Tower files kept for rolled-back restarts.
pub const OLDER_TOWERS_MAX: usize = 64;

/// The stand-in's state while the node runs.
#[derive(Debug, Default)]
pub struct StandIn {
    /// Blocks replayed, one version per slot.
    pub have: Map<Slot, Arc<SimBlock>>,
    /// Blocks waiting for a parent (by the parent's bank hash).
    pub pending: Map<Hash, Vec<Arc<SimBlock>>>,
    pending_count: usize,
    /// Newest vote per validator, for the next block this node leads.
    pub vote_queue: BTreeMap<Pubkey, ParsedVote>,
    /// The window being led, and an epoch so a superseded window's slots are not produced.
    pub leading: Option<(LeadCommand, u64)>,
    /// The last block this node produced in its current window.
    pub last_produced: Option<Arc<SimBlock>>,
    /// Survives crashes.
    pub persisted: Persisted,
    /// Slots whose held version was dropped for a confirmed one: only that version (bank hash)
    /// is taken, as the receive path takes only the block id it was told to fetch.
    pub refetching: Map<Slot, Hash>,
}

/// What handing a block to the stand-in did.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Replayed, then these blocks too (children that waited): freeze events for the core.
    Replayed(Vec<Arc<SimBlock>>),
    /// Held: its parent (bank hash) is missing.
    Orphan(Hash),
    /// Another version of a slot already held: a duplicate-slot proof.
    Duplicate(Hash),
    /// Known already, or refused.
    Ignored,
}

impl StandIn {
    /// A stand-in that holds `root` (and, after a restart, the ledger above it).
    pub fn new(persisted: Persisted) -> StandIn {
        StandIn {
            persisted,
            ..StandIn::default()
        }
    }

    /// The block replayed at `slot`, if any.
    pub fn block(&self, slot: Slot) -> Option<&Arc<SimBlock>> {
        self.have.get(&slot)
    }

    /// Whether the version with bank hash `hash` is replayed (in the live fork tree).
    pub fn has_hash(&self, slot: Slot, hash: &Hash) -> bool {
        self.have.get(&slot).is_some_and(|b| b.hash == *hash)
    }

    /// The block stored for `slot` (the ledger keeps rooted history too; repair serves from it).
    pub fn stored(&self, slot: Slot) -> Option<&Arc<SimBlock>> {
        self.persisted.ledger.get(&slot)
    }

    /// Whether the ledger stores the version with bank hash `hash`.
    pub fn stores(&self, slot: Slot, hash: &Hash) -> bool {
        self.stored(slot).is_some_and(|b| b.hash == *hash)
    }

    /// Takes a block from the network or repair.
    pub fn arrive(&mut self, block: Arc<SimBlock>) -> Arrival {
        match self.refetching.get(&block.slot) {
            Some(want) if *want != block.hash => return Arrival::Ignored,
            Some(_) => {
                self.refetching.remove(&block.slot);
            }
            None => {}
        }
        if let Some(held) = self.have.get(&block.slot) {
            return if held.hash == block.hash {
                Arrival::Ignored
            } else {
                Arrival::Duplicate(held.hash)
            };
        }
        let parent_ok = self
            .have
            .get(&block.parent)
            .is_some_and(|p| p.hash == block.parent_hash);
        if !parent_ok {
            if self.pending_count >= PENDING_BLOCKS_MAX {
                return Arrival::Ignored;
            }
            let waiting = self.pending.entry(block.parent_hash).or_default();
            if waiting.iter().any(|b| b.hash == block.hash) {
                return Arrival::Ignored;
            }
            waiting.push(block.clone());
            self.pending_count += 1;
            return Arrival::Orphan(block.parent_hash);
        }
        let mut done = Vec::new();
        let mut queue = vec![block];
        while let Some(b) = queue.pop() {
            if self.have.contains_key(&b.slot) {
                continue;
            }
            self.have.insert(b.slot, b.clone());
            self.persisted.ledger.insert(b.slot, b.clone());
            if let Some(children) = self.pending.remove(&b.hash) {
                self.pending_count -= children.len();
                queue.extend(children);
            }
            done.push(b);
        }
        Arrival::Replayed(done)
    }

    /// Drops the held version of `slot` and every held block above it that descends from it;
    /// from now on only the version with bank hash `keep` is taken for `slot`.
    pub fn drop_version(&mut self, slot: Slot, keep: Hash) {
        self.refetching.insert(slot, keep);
        let Some(b) = self.have.remove(&slot) else {
            return;
        };
        self.persisted.ledger.remove(&slot);
        let mut gone = vec![b.hash];
        let mut slots: Vec<Slot> = self.have.keys().copied().filter(|s| *s > slot).collect();
        slots.sort_unstable();
        for s in slots {
            if let Some(c) = self.have.get(&s) {
                if gone.contains(&c.parent_hash) {
                    gone.push(c.hash);
                    self.have.remove(&s);
                    self.persisted.ledger.remove(&s);
                }
            }
        }
    }

    /// Queues a vote for this node's next block (the newest per voter wins).
    pub fn queue_vote(&mut self, v: ParsedVote) {
        let newer = self
            .vote_queue
            .get(&v.voter)
            .is_none_or(|held| held.tower.last_voted_slot() < v.tower.last_voted_slot());
        if !newer {
            return;
        }
        if !self.vote_queue.contains_key(&v.voter) && self.vote_queue.len() >= VOTE_QUEUE_MAX {
            return;
        }
        self.vote_queue.insert(v.voter, v);
    }

    /// Drains the vote queue into a block on `parent`: votes whose newest slot is an ancestor (with
    /// the same bank hash) land; the others fail, as the vote program would refuse them.
    pub fn take_votes(&mut self, parent: &SimBlock) -> Vec<(ParsedVote, usize)> {
        let queue = std::mem::take(&mut self.vote_queue);
        queue
            .into_values()
            .filter(|v| self.lands_on(&v.tower, parent))
            .map(|v| {
                let len = v.tx.len();
                (v, len)
            })
            .collect()
    }

    /// Whether `tower`'s newest vote names an ancestor-or-self of `parent`, with its bank hash.
    fn lands_on(&self, tower: &TowerSync, parent: &SimBlock) -> bool {
        let Some(last) = tower.last_voted_slot() else {
            return false;
        };
        let mut cur = Some(parent);
        while let Some(b) = cur {
            if b.slot == last {
                return b.hash == tower.hash;
            }
            if b.slot < last || b.slot == Slot(0) {
                return false;
            }
            cur = self
                .have
                .get(&b.parent)
                .filter(|p| p.hash == b.parent_hash)
                .map(|p| p.as_ref());
        }
        false
    }

    /// Forgets blocks below `root` (the ledger keeps everything).
    pub fn set_root(&mut self, root: Slot) {
        if let Some(b) = self.have.get(&root) {
            self.persisted.root = Some((root, b.hash));
        }
        self.have.retain(|s, _| *s >= root);
        let mut dropped = 0;
        self.pending.retain(|_, v| {
            v.retain(|b| b.slot > root);
            if v.is_empty() {
                return false;
            }
            true
        });
        for v in self.pending.values() {
            dropped += v.len();
        }
        self.pending_count = dropped;
    }
}
