//! The node's handling of duplicate slots: proofs, confirmation of a version, and replacing this
//! node's losing version.

use super::*;

impl Node {
    pub(super) fn on_duplicate_slot(&mut self, slot: Slot, proof: Arc<[u8]>) {
        if slot <= self.forks.root() {
            return;
        }
        // Whatever repair was after for this slot, the other version it found is proven now.
        self.repair.on_completed(slot);
        if !self.duplicates.add_proof(slot, proof.clone()) {
            return;
        }
        self.stats.duplicate_slots += 1;
        for (i, n, chunk) in Duplicates::chunks(&proof) {
            let data = CrdsData::DuplicateShred {
                slot,
                chunk_index: i,
                num_chunks: n,
                chunk,
            };
            self.gossip.push_own(self.now, data, &*self.signer);
        }
        match self.votes.duplicate_confirmed(slot) {
            Some(h) => self.on_duplicate_confirmed(slot, h),
            None => {
                if self.forks.contains(slot) {
                    self.forks.set_invalid(slot, true);
                }
            }
        }
    }

    pub(super) fn on_duplicate_confirmed(&mut self, slot: Slot, hash: Hash) {
        if !self.duplicates.confirm(slot, hash) {
            return;
        }
        match self.forks.hash(slot) {
            Some(h) if h == hash => self.forks.set_invalid(slot, self.dead.contains(&slot)),
            Some(_) => self.replace_block(slot, hash),
            None => {}
        }
    }

    /// This node's version of a duplicate slot is confirmed once more than 52 % of the stake votes
    /// on it or its descendants (its subtree), as Agave counts it.
    pub(super) fn check_duplicate_subtrees(&mut self) {
        let open: Vec<Slot> = self
            .duplicates
            .slots()
            .into_iter()
            .filter(|s| self.duplicates.state(*s) == Some(None))
            .collect();
        for slot in open {
            let Some(hash) = self.forks.hash(slot) else {
                continue;
            };
            let stake = self.forks.subtree_stake(slot);
            if crate::tower::is_duplicate_confirmed(stake, self.votes.total_stake()) {
                self.on_duplicate_confirmed(slot, hash);
            }
        }
    }

    /// Drops this node's losing version of `slot` and asks for the confirmed one.
    pub(super) fn replace_block(&mut self, slot: Slot, hash: Hash) {
        let removed = self.forks.remove_subtree(slot);
        if let Some(l) = self.tower.last_voted_slot() {
            if removed.binary_search(&l).is_ok() {
                self.last_vote_dropped = Some(l);
            }
        }
        self.blocks.retain(|s, _| self.forks.contains(*s));
        if self.head >= slot && !self.forks.contains(self.head) {
            self.head = self.forks.best();
        }
        self.outputs.push_back(Output::ReplaceBlock {
            slot,
            bank_hash: hash,
            block_id: self.duplicates.block_id(slot, hash),
        });
    }
}
