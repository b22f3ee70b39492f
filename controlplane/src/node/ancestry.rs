//! The node's side of ancestor-hashes repair (see [`crate::ancestry`]): whom to ask about which
//! block while a duplicate slot is open, and counting votes along the chains peers told.

use dataplane::repair::AncestorHash;
use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::vote::Lockout;

use super::Node;
use crate::ancestry::Block;
use crate::io::Output;

/// Blocks asked about per evaluation at most.
const TARGETS_PER_STEP_MAX: usize = 4;

impl Node {
    /// While a duplicate slot has no confirmed version, asks the validators whose newest votes
    /// name blocks this node cannot place for those blocks' ancestors, from the lowest block of
    /// each known chain whose parent is unknown.
    pub(super) fn ask_ancestry(&mut self) {
        let Some(lowest_open) = self
            .duplicates
            .slots()
            .into_iter()
            .find(|s| self.duplicates.state(*s) == Some(None))
        else {
            return;
        };
        let wanted = self.forks.wanted();
        if wanted.is_empty() {
            return;
        }
        let mut holders: Vec<(Pubkey, u64)> = self
            .forks
            .latest_votes()
            .filter(|(v, s, h)| **v != self.me && self.forks.hash(*s) != Some(*h))
            .filter(|(v, _, _)| self.repair_addrs.contains_key(*v))
            .map(|(v, _, _)| (*v, self.votes.stake_of(v)))
            .collect();
        holders.sort_unstable();
        let mut targets: Vec<Block> = Vec::new();
        for (slot, hash, _) in wanted {
            if targets.len() >= TARGETS_PER_STEP_MAX {
                break;
            }
            if slot <= lowest_open {
                continue;
            }
            if let Some(t) = self.unplaced_end((slot, hash), lowest_open) {
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
        let total = self.votes.total_stake();
        for target in targets {
            for request in self.ancestry.ask(self.now, target, &holders, total) {
                let Some(&to) = self.repair_addrs.get(&request.peer) else {
                    continue;
                };
                self.stats.ancestor_requests += 1;
                self.outputs
                    .push_back(Output::RepairRequest { to, request });
            }
        }
    }

    /// The lowest block of `block`'s known chain whose parent is unknown; `None` once the chain
    /// reaches this node's tree or `floor` (it is placed as far as the open duplicate needs).
    fn unplaced_end(&self, mut block: Block, floor: Slot) -> Option<Block> {
        loop {
            if block.0 <= floor || self.forks.hash(block.0) == Some(block.1) {
                return None;
            }
            match self.ancestry.parent(block) {
                Some(p) => block = (p.slot, p.bank_hash),
                None => return Some(block),
            }
        }
    }

    /// An ancestor-hashes answer: believed links may make votes for unplaceable blocks count for
    /// a version of a duplicate slot.
    pub(super) fn on_ancestors(&mut self, from: Pubkey, nonce: u32, chain: &[AncestorHash]) {
        let stake = self.votes.stake_of(&from);
        let total = self.votes.total_stake();
        let believed = match self
            .ancestry
            .on_answer(self.now, &from, stake, total, nonce, chain)
        {
            Ok(b) => b,
            Err(_) => {
                self.stats.ancestor_answers_refused += 1;
                return;
            }
        };
        if believed.is_empty() {
            return;
        }
        self.stats.ancestor_links_believed += believed.len() as u64;
        for (_, parent) in &believed {
            if parent.block_id != Hash::default() {
                self.duplicates
                    .note_block_id(parent.slot, parent.bank_hash, parent.block_id);
            }
        }
        self.recount_unplaced();
    }

    /// Records again the newest vote of each validator whose voted block is outside the tree,
    /// along the chain now known for it.
    fn recount_unplaced(&mut self) {
        let unplaced: Vec<(Pubkey, Block)> = self
            .forks
            .latest_votes()
            .filter(|(_, s, h)| self.forks.hash(*s) != Some(*h))
            .map(|(v, s, h)| (*v, (s, h)))
            .collect();
        for (voter, block) in unplaced {
            if self.ancestry.parent(block).is_none() {
                continue;
            }
            let lockouts = self.towers.get(&voter).cloned().unwrap_or_default();
            let slots = self.chain_votes(block, &lockouts);
            let effects = self.votes.record(&voter, slots, false);
            self.apply_vote_effects(effects);
        }
    }

    /// The (slot, bank hash) each of a tower's slots votes for, when its newest vote is `block`:
    /// `block` itself, then the lockouts found along its chain (believed links, then this node's
    /// tree once the chain enters it). Lockouts not on the chain as far as it is known are left out.
    pub(super) fn chain_votes(&self, block: Block, lockouts: &[Lockout]) -> Vec<(Slot, Hash)> {
        let parent_of = |(s, h): Block| -> Option<Block> {
            if self.forks.hash(s) == Some(h) {
                let p = self.forks.parent(s)?;
                Some((p, self.forks.hash(p)?))
            } else {
                self.ancestry.parent((s, h)).map(|a| (a.slot, a.bank_hash))
            }
        };
        let mut out = vec![block];
        let mut cur = parent_of(block);
        let mut lockouts = lockouts
            .iter()
            .rev()
            .filter(|l| l.slot < block.0)
            .peekable();
        while let (Some((s, h)), Some(l)) = (cur, lockouts.peek()) {
            if l.slot > s {
                // Not on this chain (a slot skipped here): the next lockout may be `s`.
                lockouts.next();
                continue;
            }
            if l.slot == s {
                lockouts.next();
                out.push((s, h));
            }
            cur = parent_of((s, h));
        }
        out
    }
}
