//! Duplicate slots: a leader that signed two versions of one slot.
//!
//! A slot with a proof is not voted on (fork choice treats it as invalid) until one version is
//! duplicate-confirmed (`100·s > 52·S` voted for it); a node holding the losing version drops it and
//! repairs the confirmed one by its block id, which votes carry. Proofs travel in gossip in chunks
//! that fit a datagram; a node reassembles them and has the edge check them before believing them.
//!
//! Bounds: state only for slots above the root, at most [`DUPLICATE_SLOTS_MAX`] slots; at most
//! [`ASSEMBLING_MAX`] proofs being reassembled; block ids of at most [`BLOCK_IDS_MAX`] versions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use dataplane::types::{Hash, Pubkey, Slot};

/// Duplicate slots tracked at most.
pub const DUPLICATE_SLOTS_MAX: usize = 1_024;
/// Proofs being reassembled from gossip chunks at most.
pub const ASSEMBLING_MAX: usize = 64;
/// Bytes per gossip chunk of a proof (fits a datagram with the record's header and signature).
pub const CHUNK_BYTES: usize = 900;
/// Chunks one proof may have (two shreds of ≤ 1,232 bytes need 3).
pub const CHUNKS_MAX: u8 = 4;
/// (slot, bank hash) → block id entries kept at most.
pub const BLOCK_IDS_MAX: usize = 65_536;

#[derive(Debug, Clone)]
struct DuplicateSlot {
    confirmed: Option<Hash>,
}

/// Duplicate-slot state above the root.
#[derive(Debug, Default)]
pub struct Duplicates {
    slots: BTreeMap<Slot, DuplicateSlot>,
    assembling: BTreeMap<(Slot, Pubkey), Vec<Option<Vec<u8>>>>,
    block_ids: HashMap<(Slot, Hash), Hash>,
}

impl Duplicates {
    /// Nothing known.
    pub fn new() -> Duplicates {
        Duplicates::default()
    }

    /// `None`: no proof for `slot`; `Some(None)`: a proof, no version confirmed yet;
    /// `Some(Some(h))`: version `h` is duplicate-confirmed.
    pub fn state(&self, slot: Slot) -> Option<Option<Hash>> {
        self.slots.get(&slot).map(|d| d.confirmed)
    }

    /// Slots with a proof.
    pub fn slots(&self) -> Vec<Slot> {
        self.slots.keys().copied().collect()
    }

    /// Records a checked proof for `slot`; returns whether the slot was new.
    pub fn add_proof(&mut self, slot: Slot, _proof: Arc<[u8]>) -> bool {
        if self.slots.contains_key(&slot) || self.slots.len() >= DUPLICATE_SLOTS_MAX {
            return false;
        }
        self.slots.insert(slot, DuplicateSlot { confirmed: None });
        self.assembling.retain(|(s, _), _| *s != slot);
        true
    }

    /// Records that version `hash` of a duplicate slot is confirmed; returns whether this changed
    /// anything (a slot without a proof needs no resolution).
    pub fn confirm(&mut self, slot: Slot, hash: Hash) -> bool {
        match self.slots.get_mut(&slot) {
            Some(d) if d.confirmed.is_none() => {
                d.confirmed = Some(hash);
                true
            }
            _ => false,
        }
    }

    /// Remembers the block id a vote named for (`slot`, `hash`).
    pub fn note_block_id(&mut self, slot: Slot, hash: Hash, block_id: Hash) {
        if self.block_ids.len() < BLOCK_IDS_MAX {
            self.block_ids.insert((slot, hash), block_id);
        }
    }

    /// The block id of (`slot`, `hash`), if a vote named it.
    pub fn block_id(&self, slot: Slot, hash: Hash) -> Option<Hash> {
        self.block_ids.get(&(slot, hash)).copied()
    }

    /// A proof split into gossip chunks: (index, count, bytes).
    pub fn chunks(proof: &[u8]) -> Vec<(u8, u8, Vec<u8>)> {
        let parts: Vec<&[u8]> = proof.chunks(CHUNK_BYTES).collect();
        let n = u8::try_from(parts.len()).unwrap_or(u8::MAX);
        parts
            .into_iter()
            .enumerate()
            .map(|(i, c)| (i as u8, n, c.to_vec()))
            .collect()
    }

    /// Adds one gossiped chunk; returns the whole proof once every chunk from `origin` is in.
    pub fn add_chunk(
        &mut self,
        origin: Pubkey,
        slot: Slot,
        index: u8,
        count: u8,
        chunk: &[u8],
        root: Slot,
    ) -> Option<Arc<[u8]>> {
        if slot <= root
            || self.slots.contains_key(&slot)
            || count == 0
            || count > CHUNKS_MAX
            || index >= count
            || chunk.len() > CHUNK_BYTES
        {
            return None;
        }
        let key = (slot, origin);
        if !self.assembling.contains_key(&key) && self.assembling.len() >= ASSEMBLING_MAX {
            // Keep the newest slots: a flood of old proofs must not crowd out current ones.
            let oldest = *self.assembling.keys().next()?;
            if oldest.0 >= slot {
                return None;
            }
            self.assembling.remove(&oldest);
        }
        let parts = self
            .assembling
            .entry(key)
            .or_insert_with(|| vec![None; usize::from(count)]);
        if parts.len() != usize::from(count) {
            return None;
        }
        parts[usize::from(index)] = Some(chunk.to_vec());
        if parts.iter().all(Option::is_some) {
            let parts = self.assembling.remove(&key)?;
            let proof: Vec<u8> = parts.into_iter().flatten().flatten().collect();
            return Some(Arc::from(proof));
        }
        None
    }

    /// Forgets everything at or below `root`.
    pub fn set_root(&mut self, root: Slot) {
        self.slots = self.slots.split_off(&root.next());
        self.assembling.retain(|(s, _), _| *s > root);
        self.block_ids.retain(|(s, _), _| *s > root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_survives_chunking_and_confirmation_resolves_once() {
        let proof: Vec<u8> = (0..2_500u32).map(|i| i as u8).collect();
        let chunks = Duplicates::chunks(&proof);
        assert_eq!(chunks.len(), 3);
        let mut d = Duplicates::new();
        let o = Pubkey([1; 32]);
        let mut got = None;
        for (i, n, c) in chunks.iter().rev() {
            got = d.add_chunk(o, Slot(9), *i, *n, c, Slot(0));
        }
        assert_eq!(got.as_deref(), Some(&proof[..]));
        assert!(d.add_proof(Slot(9), Arc::from(proof.clone())));
        assert!(!d.add_proof(Slot(9), Arc::from(proof)));
        assert_eq!(d.state(Slot(9)), Some(None));
        assert!(d.confirm(Slot(9), Hash([1; 32])));
        assert!(!d.confirm(Slot(9), Hash([2; 32])));
        assert_eq!(d.state(Slot(9)), Some(Some(Hash([1; 32]))));
        assert!(
            !d.confirm(Slot(10), Hash([1; 32])),
            "no proof, nothing to resolve"
        );
        d.set_root(Slot(9));
        assert_eq!(d.state(Slot(9)), None);
    }

    #[test]
    fn bad_chunks_are_ignored_and_assembly_is_bounded() {
        let mut d = Duplicates::new();
        let o = Pubkey([1; 32]);
        assert!(d.add_chunk(o, Slot(5), 3, 3, &[1], Slot(0)).is_none());
        assert!(d.add_chunk(o, Slot(5), 0, 9, &[1], Slot(0)).is_none());
        for s in 1..=(ASSEMBLING_MAX as u64 + 10) {
            d.add_chunk(o, Slot(s), 0, 2, &[1], Slot(0));
        }
        assert!(d.assembling.len() <= ASSEMBLING_MAX);
    }
}
