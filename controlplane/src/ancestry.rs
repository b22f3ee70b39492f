//! The ancestry of blocks this node cannot place, learned from peers (ancestor-hashes repair).
//!
//! A duplicate slot can split honest validators for good. Those holding the version most stake
//! builds on vote for blocks the others cannot place: the blocks descend from the version they
//! lack. Such votes count for nothing there, and if what is left is short of the 52 % that
//! duplicate-confirms a version, neither group ever gathers the 2/3 that roots. Asking the voters
//! for the voted blocks' ancestors tells which version of the duplicate slot those votes build on;
//! counted for it, they confirm it, and the node swaps its version for the confirmed one.
//!
//! Trust: an answer is one peer's word. A parent link (block → parent) is believed once peers
//! holding at least a third of the stake have named it — more than the byzantine validators hold,
//! so at least one honest peer said it, and honest peers agree on a block's parent (a bank hash
//! commits to its parent's).
//!
//! Bounds: at most [`BLOCKS_MAX`] blocks with claims or a believed parent, [`CLAIMS_PER_BLOCK_MAX`]
//! competing claims each, [`OUTSTANDING_MAX`] requests awaiting an answer, [`TARGETS_MAX`] blocks
//! whose last ask is remembered; all of it above the root only.

use std::collections::BTreeMap;

use dataplane::repair::{ancestors::is_well_formed, AncestorHash, RepairKind};
use dataplane::types::{Hash, Pubkey, Slot};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::io::Millis;
use crate::map::Map;
use crate::repair::RepairRequestOut;

/// Blocks with claims about their parent or a believed parent, at most.
pub const BLOCKS_MAX: usize = 4_096;
/// Competing parents claimed for one block, at most (honest peers name one).
pub const CLAIMS_PER_BLOCK_MAX: usize = 4;
/// Requests awaiting an answer, at most.
pub const OUTSTANDING_MAX: usize = 256;
/// Blocks whose last ask is remembered, at most.
pub const TARGETS_MAX: usize = 256;
/// Peers asked about one block per round, at most.
pub const PEERS_PER_ASK_MAX: usize = 32;
/// A block is asked about again after this long.
pub const RETRY_MS: Millis = 1_000;
/// An answer is taken this long after its request.
pub const ANSWER_TIMEOUT_MS: Millis = 2_000;

/// A block: slot and bank hash.
pub type Block = (Slot, Hash);

#[derive(Debug, Clone)]
struct Claim {
    parent: AncestorHash,
    by: Vec<Pubkey>,
    stake: u64,
}

#[derive(Debug, Clone, Default)]
struct Parentage {
    believed: Option<AncestorHash>,
    claims: Vec<Claim>,
}

#[derive(Debug, Clone, Copy)]
struct Asked {
    peer: Pubkey,
    slot: Slot,
    sent: Millis,
}

/// Why an answer was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No request of ours with that nonce to that peer awaits an answer (or it came too late).
    NotAsked,
    /// The chain does not start at the slot asked about or does not descend.
    Malformed,
}

/// Parent links of blocks outside this node's tree, as peers claim and this node believes them.
#[derive(Debug, Clone)]
pub struct Ancestry {
    blocks: BTreeMap<Block, Parentage>,
    asked_at: BTreeMap<Block, Millis>,
    outstanding: Map<u32, Asked>,
    root: Slot,
    rng: ChaCha8Rng,
}

impl Ancestry {
    /// Nothing known above `root`; nonces drawn from `seed`.
    pub fn new(root: Slot, seed: u64) -> Ancestry {
        Ancestry {
            blocks: BTreeMap::new(),
            asked_at: BTreeMap::new(),
            outstanding: Map::default(),
            root,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x616e_6365_7374_7279),
        }
    }

    /// `block`'s parent, if believed.
    pub fn parent(&self, block: Block) -> Option<AncestorHash> {
        self.blocks.get(&block).and_then(|p| p.believed)
    }

    /// Requests for `target`'s chain, to `holders` (identity, stake) heaviest first, skipping those
    /// that already named its parent, until the stake asked could make a claim believed (with
    /// room for some not answering); none if `target` was asked about within [`RETRY_MS`].
    pub fn ask(
        &mut self,
        now: Millis,
        target: Block,
        holders: &[(Pubkey, u64)],
        total_stake: u64,
    ) -> Vec<RepairRequestOut> {
        if target.0 <= self.root
            || self
                .asked_at
                .get(&target)
                .is_some_and(|t| now < t + RETRY_MS)
        {
            return Vec::new();
        }
        self.expire(now);
        let answered: Vec<Pubkey> = self
            .blocks
            .get(&target)
            .map(|p| p.claims.iter().flat_map(|c| c.by.iter().copied()).collect())
            .unwrap_or_default();
        let mut candidates: Vec<(Pubkey, u64)> = holders
            .iter()
            .copied()
            .filter(|(k, _)| !answered.contains(k))
            .collect();
        candidates.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        // Twice a third: half of those asked may be byzantine, down or slow.
        let want = total_stake.saturating_mul(2).div_ceil(3);
        let mut asked_stake = 0u64;
        let mut out = Vec::new();
        for (peer, stake) in candidates {
            if asked_stake >= want
                || out.len() >= PEERS_PER_ASK_MAX
                || self.outstanding.len() >= OUTSTANDING_MAX
            {
                break;
            }
            let mut nonce = self.rng.next_u32();
            while self.outstanding.contains_key(&nonce) {
                nonce = self.rng.next_u32();
            }
            self.outstanding.insert(
                nonce,
                Asked {
                    peer,
                    slot: target.0,
                    sent: now,
                },
            );
            asked_stake = asked_stake.saturating_add(stake);
            out.push(RepairRequestOut {
                peer,
                kind: RepairKind::AncestorHashes { slot: target.0 },
                nonce,
            });
        }
        if !out.is_empty() {
            self.asked_at.insert(target, now);
            while self.asked_at.len() > TARGETS_MAX {
                self.asked_at.pop_first();
            }
        }
        out
    }

    /// Whether a "don't have" with `nonce` from `peer` answers a request of ours; if so the request
    /// is spent.
    pub fn on_dont_have(&mut self, nonce: u32, peer: &Pubkey) -> bool {
        match self.outstanding.get(&nonce) {
            Some(a) if a.peer == *peer => {
                self.outstanding.remove(&nonce);
                true
            }
            _ => false,
        }
    }

    /// Takes `peer`'s (stake `stake`) answer to the request with `nonce`; returns the parents newly
    /// believed, as (block, parent).
    pub fn on_answer(
        &mut self,
        now: Millis,
        peer: &Pubkey,
        stake: u64,
        total_stake: u64,
        nonce: u32,
        chain: &[AncestorHash],
    ) -> Result<Vec<(Block, AncestorHash)>, Refusal> {
        let asked = match self.outstanding.get(&nonce) {
            Some(a) if a.peer == *peer && now <= a.sent + ANSWER_TIMEOUT_MS => *a,
            _ => return Err(Refusal::NotAsked),
        };
        self.outstanding.remove(&nonce);
        if !is_well_formed(asked.slot, chain) {
            return Err(Refusal::Malformed);
        }
        let mut believed = Vec::new();
        for pair in chain.windows(2) {
            let (child, parent) = (pair[0], pair[1]);
            if parent.slot <= self.root {
                break;
            }
            let block = (child.slot, child.bank_hash);
            if !self.blocks.contains_key(&block) && self.blocks.len() >= BLOCKS_MAX {
                continue;
            }
            let p = self.blocks.entry(block).or_default();
            if p.believed.is_some() || p.claims.iter().any(|c| c.by.contains(peer)) {
                continue;
            }
            let at = match p.claims.iter().position(|c| c.parent == parent) {
                Some(at) => at,
                None if p.claims.len() < CLAIMS_PER_BLOCK_MAX => {
                    p.claims.push(Claim {
                        parent,
                        by: Vec::new(),
                        stake: 0,
                    });
                    p.claims.len() - 1
                }
                None => continue,
            };
            let claim = &mut p.claims[at];
            claim.by.push(*peer);
            claim.stake = claim.stake.saturating_add(stake);
            if claim.stake.saturating_mul(3) >= total_stake {
                p.believed = Some(parent);
                p.claims = Vec::new();
                believed.push((block, parent));
            }
        }
        Ok(believed)
    }

    /// Forgets everything at or below `root`.
    pub fn set_root(&mut self, root: Slot) {
        if root <= self.root {
            return;
        }
        self.root = root;
        self.blocks = self.blocks.split_off(&(root.next(), Hash::default()));
        self.asked_at = self.asked_at.split_off(&(root.next(), Hash::default()));
        self.outstanding.retain(|_, a| a.slot > root);
    }

    /// Requests awaiting an answer.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    fn expire(&mut self, now: Millis) {
        self.outstanding
            .retain(|_, a| now <= a.sent + ANSWER_TIMEOUT_MS);
    }
}

#[cfg(test)]
mod tests;
