//! The per-set Merkle tree: leaves, nodes over 20-byte truncations, proofs and root recomputation.

use sha2::{Digest, Sha256};

use super::{Root, PROOF_ENTRY_LEN};

/// Prefix of every leaf hash; differs from [`NODE_PREFIX`] in its first byte so a leaf can never be
/// read as a node (second-preimage defence).
pub const LEAF_PREFIX: &[u8] = b"\x00BB_SHRED_LEAF";
/// Prefix of every inner node hash. At most 15 bytes, so a node (prefix and two 20-byte children)
/// fits one SHA-256 block: Solana's 26-byte prefixes cost a second block per node.
pub const NODE_PREFIX: &[u8] = b"\x01BB_SHRED_NODE";
const _: () = assert!(NODE_PREFIX.len() + 2 * PROOF_ENTRY_LEN + 9 <= 64);

/// Leaf hash of the bytes of a shred between its signature and its proof.
pub(crate) fn leaf(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(LEAF_PREFIX);
    h.update(bytes);
    h.finalize().into()
}

/// Parent of two nodes: only their first [`PROOF_ENTRY_LEN`] bytes count, so proofs need no more.
fn join(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(NODE_PREFIX);
    h.update(&left[..PROOF_ENTRY_LEN]);
    h.update(&right[..PROOF_ENTRY_LEN]);
    h.finalize().into()
}

/// Walks a proof (leaf level first) from `leaf` at position `index` up to the root.
pub(crate) fn root_from_proof(leaf: [u8; 32], mut index: usize, proof: &[u8]) -> Root {
    let mut node = leaf;
    for sibling in proof.chunks_exact(PROOF_ENTRY_LEN) {
        node = if index & 1 == 0 {
            join(&node, sibling)
        } else {
            join(sibling, &node)
        };
        index >>= 1;
    }
    Root(node)
}

/// A whole tree, level by level in one buffer, reused from set to set.
#[derive(Debug, Default)]
pub(crate) struct MerkleTree {
    /// Leaves, then each level above them; the root is last.
    nodes: Vec<[u8; 32]>,
    /// (start, len) of each level in `nodes`, leaves first.
    levels: Vec<(usize, usize)>,
}

impl MerkleTree {
    /// Rebuilds the tree over `leaves` (at least one); a level's odd last node pairs with itself.
    pub(crate) fn build(&mut self, leaves: impl IntoIterator<Item = [u8; 32]>) {
        self.nodes.clear();
        self.levels.clear();
        self.nodes.extend(leaves);
        debug_assert!(!self.nodes.is_empty());
        let (mut start, mut len) = (0usize, self.nodes.len());
        self.levels.push((start, len));
        while len > 1 {
            let next = self.nodes.len();
            for i in (0..len).step_by(2) {
                let left = self.nodes[start + i];
                let right = self.nodes[start + (i + 1).min(len - 1)];
                let parent = join(&left, &right);
                self.nodes.push(parent);
            }
            start = next;
            len = self.nodes.len() - next;
            self.levels.push((start, len));
        }
    }

    /// The root: the full 32 bytes of the top node.
    pub(crate) fn root(&self) -> Root {
        Root(self.nodes.last().copied().unwrap_or_default())
    }

    /// Proof entries a leaf needs.
    pub(crate) fn depth(&self) -> u8 {
        (self.levels.len().saturating_sub(1)) as u8
    }

    /// Writes leaf `leaf`'s proof (depth × 20 bytes) into `out`.
    pub(crate) fn write_proof(&self, mut leaf: usize, out: &mut [u8]) {
        let depth = self.depth() as usize;
        debug_assert_eq!(out.len(), depth * PROOF_ENTRY_LEN);
        for (level, entry) in self.levels[..depth]
            .iter()
            .zip(out.chunks_exact_mut(PROOF_ENTRY_LEN))
        {
            let (start, len) = *level;
            let sibling = (leaf ^ 1).min(len - 1);
            entry.copy_from_slice(&self.nodes[start + sibling][..PROOF_ENTRY_LEN]);
            leaf >>= 1;
        }
    }
}
