//! Repair as the simulated peers serve it: blocks from their ledgers, and ancestor hashes.

use super::*;

impl World {
    /// Peer `j` answers `i`'s repair request: the block it stores at the slot asked for (for an
    /// orphan request, with up to [`REPAIR_ANCESTORS`] of its ancestors that `i` lacks), or a
    /// "don't have".
    pub(super) fn serve_repair(&mut self, i: usize, j: usize, nonce: u32, kind: RepairKind) {
        if !self.alive(j) {
            return;
        }
        let from = self.nodes[j].identity;
        let slot = kind.slot();
        if let RepairKind::AncestorHashes { .. } = kind {
            self.serve_ancestor_hashes(i, j, nonce, slot);
            return;
        }
        let Some(block) = self.nodes[j].standin.stored(slot).cloned() else {
            self.send(j, i, Traffic::Repair, REPAIR_REQUEST_BYTES, |_| {
                Event::RepairAnswer {
                    to: i,
                    from,
                    nonce,
                    answer: RepairAnswer::DontHave,
                }
            });
            return;
        };
        let mut chain = vec![block];
        while matches!(kind, RepairKind::Orphan { .. }) && chain.len() <= REPAIR_ANCESTORS {
            let last = &chain[chain.len() - 1];
            let Some(p) = self.nodes[j].standin.stored(last.parent) else {
                break;
            };
            if p.hash != last.parent_hash || self.nodes[i].standin.has_hash(p.slot, &p.hash) {
                break;
            }
            chain.push(p.clone());
        }
        for b in chain.into_iter().rev() {
            let bytes = ((b.bytes + 200).div_ceil(SHRED_PAYLOAD_BYTES) as u64) * SHRED_BYTES;
            self.send(j, i, Traffic::Repair, bytes, |_| Event::Block {
                to: i,
                block: b,
            });
        }
        // The answer's nonce, for the planner (its shreds are the blocks above).
        self.send(j, i, Traffic::Repair, 0, |_| Event::RepairAnswer {
            to: i,
            from,
            nonce,
            answer: RepairAnswer::Shred(Arc::from(&[][..])),
        });
    }

    /// Peer `j` answers `i`'s ancestor-hashes request: the chain it stores from `slot` down (its
    /// bank hashes and block ids), or a "don't have".
    pub(super) fn serve_ancestor_hashes(&mut self, i: usize, j: usize, nonce: u32, slot: Slot) {
        let from = self.nodes[j].identity;
        let standin = &self.nodes[j].standin;
        let mut chain = Vec::new();
        let mut cur = standin.stored(slot);
        while let Some(b) = cur {
            if chain.len() >= ANCESTORS_MAX {
                break;
            }
            chain.push(AncestorHash {
                slot: b.slot,
                bank_hash: b.hash,
                block_id: b.block_id,
            });
            cur = (b.slot > Slot(0))
                .then(|| standin.stored(b.parent))
                .flatten()
                .filter(|p| p.hash == b.parent_hash);
        }
        let (answer, bytes) = if chain.is_empty() {
            (RepairAnswer::DontHave, REPAIR_REQUEST_BYTES)
        } else {
            let bytes = ANCESTORS_HEADER_BYTES + ANCESTOR_ENTRY_BYTES * chain.len() as u64;
            (RepairAnswer::Ancestors(chain), bytes)
        };
        self.send(j, i, Traffic::Repair, bytes, |_| Event::RepairAnswer {
            to: i,
            from,
            nonce,
            answer,
        });
    }
}
