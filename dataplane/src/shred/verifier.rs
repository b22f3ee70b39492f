//! Shred authentication: the Merkle proof per shred, the leader's signature once per set.

use std::collections::{HashMap, VecDeque};

use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};

use super::{Root, ShredError, ShredView, SIGNATURE_LEN};
use crate::types::Pubkey;

/// Most (slot, set, signature) entries the verifier remembers; the oldest is forgotten first.
/// 4,096 sets of 32 data shreds ≈ 128 Mbit of slot data: several slots' worth.
pub const VERIFIED_SETS_MAX: usize = 4096;

/// What one checked signature proved: this leader signed this root.
#[derive(Debug, Clone, Copy)]
struct Verified {
    root: Root,
    leader: Pubkey,
}

type SetKey = (u64, u32, [u8; SIGNATURE_LEN]);

/// Checks shreds against the cluster's shred version and a slot leader's key.
///
/// The ed25519 check (≈ 50 µs) runs once per set: after it passes, the set's (slot, fec_set_index,
/// signature) is cached with the root it signs, and later shreds of the set only need their proof to
/// reach that root. A shred whose signature is cached but whose proof reaches another root is
/// [`ShredError::BadMerkleProof`]; an unknown signature that fails is [`ShredError::BadSignature`].
/// The key includes the signature, so two sets a leader signed for the same index (equivocation) are
/// both cached and both reach the assembler, which reports them.
#[derive(Debug)]
pub struct ShredVerifier {
    version: u16,
    cache: HashMap<SetKey, Verified>,
    order: VecDeque<SetKey>,
    capacity: usize,
}

impl ShredVerifier {
    /// A verifier for the cluster whose shreds carry `version`, caching [`VERIFIED_SETS_MAX`] sets.
    pub fn new(version: u16) -> ShredVerifier {
        ShredVerifier::with_capacity(version, VERIFIED_SETS_MAX)
    }

    /// A verifier that remembers at most `capacity` (at least 1) verified sets.
    pub fn with_capacity(version: u16, capacity: usize) -> ShredVerifier {
        let capacity = capacity.max(1);
        ShredVerifier {
            version,
            cache: HashMap::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Verified sets currently remembered.
    pub fn cached_sets(&self) -> usize {
        self.cache.len()
    }

    /// Checks version, Merkle proof and the leader's signature; returns the set's signed root.
    pub fn verify(&mut self, shred: &ShredView<'_>, leader: &Pubkey) -> Result<Root, ShredError> {
        if shred.version() != self.version {
            return Err(ShredError::WrongVersion {
                expected: self.version,
                found: shred.version(),
            });
        }
        let root = shred.merkle_root();
        let signature = shred.signature();
        let key = (shred.slot(), shred.fec_set_index(), signature.0);
        if let Some(v) = self.cache.get(&key) {
            if v.root == root && v.leader == *leader {
                return Ok(root);
            }
            if v.leader == *leader {
                return Err(ShredError::BadMerkleProof {
                    slot: shred.slot(),
                    fec_set_index: shred.fec_set_index(),
                    leaf: shred.leaf_index(),
                });
            }
        }
        let key_point =
            VerifyingKey::from_bytes(&leader.0).map_err(|_| ShredError::BadLeaderKey)?;
        let sig = DalekSignature::from_bytes(&signature.0);
        key_point
            .verify_strict(&root.0, &sig)
            .map_err(|_| ShredError::BadSignature {
                slot: shred.slot(),
                fec_set_index: shred.fec_set_index(),
                root,
            })?;
        self.remember(
            key,
            Verified {
                root,
                leader: *leader,
            },
        );
        Ok(root)
    }

    fn remember(&mut self, key: SetKey, v: Verified) {
        if self.cache.insert(key, v).is_some() {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.cache.remove(&old);
            }
        }
    }
}
