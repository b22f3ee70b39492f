//! The recent blockhashes of one fork, with the block height at which each was produced.
//!
//! A transaction is accepted by a bank at block height `h` only if its recent blockhash belongs to one of
//! the last [`MAX_RECENT_BLOCKHASHES`] blocks of the bank's fork (heights `h − 150 ..= h − 1`); the genesis
//! hash counts as slot 0's blockhash, at height 0. The queue is immutable once built: a child bank builds
//! its own from its parent's, so forks never see each other's blockhashes.

use std::collections::HashMap;

use crate::genesis::MAX_RECENT_BLOCKHASHES;
use crate::types::Hash;

/// Blockhashes of the last [`MAX_RECENT_BLOCKHASHES`] ancestors of a bank, by hash, with their heights.
#[derive(Debug, Clone)]
pub struct BlockhashQueue {
    heights: HashMap<Hash, u64, ahash::RandomState>,
}

impl Default for BlockhashQueue {
    fn default() -> Self {
        BlockhashQueue {
            heights: HashMap::with_hasher(ahash::RandomState::new()),
        }
    }
}

impl BlockhashQueue {
    /// A queue for a bank at `block_height` from `(blockhash, height)` pairs, keeping only those still
    /// valid there (height below `block_height` and at most 150 blocks older).
    pub fn from_recent(
        block_height: u64,
        recent: impl IntoIterator<Item = (crate::types::Hash, u64)>,
    ) -> BlockhashQueue {
        let mut q = BlockhashQueue::default();
        for (hash, height) in recent {
            if is_recent(height, block_height) {
                q.heights.insert(hash, height);
            }
        }
        q
    }

    /// The queue of a child at `child_height`: this queue plus the parent's own blockhash, minus what
    /// has aged out.
    pub fn child(
        &self,
        parent_blockhash: Hash,
        parent_height: u64,
        child_height: u64,
    ) -> BlockhashQueue {
        let recent = self
            .heights
            .iter()
            .map(|(h, height)| (*h, *height))
            .chain(std::iter::once((parent_blockhash, parent_height)));
        BlockhashQueue::from_recent(child_height, recent)
    }

    /// The block height of `hash`, if it is in the queue.
    #[inline]
    pub fn height_of(&self, hash: &Hash) -> Option<u64> {
        self.heights.get(hash).copied()
    }

    /// Number of blockhashes held (at most [`MAX_RECENT_BLOCKHASHES`]).
    pub fn len(&self) -> usize {
        self.heights.len()
    }

    /// Whether the queue holds no blockhash.
    pub fn is_empty(&self) -> bool {
        self.heights.is_empty()
    }

    /// Every `(blockhash, height)` held, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Hash, u64)> + '_ {
        self.heights.iter().map(|(h, height)| (*h, *height))
    }
}

/// Whether a blockhash produced at `height` is valid for a block at `block_height`.
pub fn is_recent(height: u64, block_height: u64) -> bool {
    height < block_height && block_height - height <= MAX_RECENT_BLOCKHASHES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_exactly_the_last_150_blockhashes() {
        let mut q = BlockhashQueue::default();
        // Blockhash of height i is Hash([i as u8 ...]); heights 0..=199, child at 200 each step.
        for h in 0u64..200 {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&h.to_le_bytes());
            q = q.child(Hash(bytes), h, h + 1);
        }
        assert_eq!(q.len(), 150);
        let hash_at = |h: u64| {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&h.to_le_bytes());
            Hash(bytes)
        };
        assert_eq!(q.height_of(&hash_at(199)), Some(199));
        assert_eq!(q.height_of(&hash_at(50)), Some(50));
        assert_eq!(q.height_of(&hash_at(49)), None);
    }

    #[test]
    fn recency_bounds() {
        assert!(is_recent(0, 1));
        assert!(is_recent(0, 150));
        assert!(!is_recent(0, 151));
        assert!(!is_recent(5, 5));
        assert!(!is_recent(6, 5));
    }
}
