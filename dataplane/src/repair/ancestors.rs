//! Ancestor hashes: the chain a peer holds below a slot, as (slot, bank hash, block id) entries.
//!
//! A duplicate slot can split the cluster: a node holding the losing version sees votes for blocks
//! it cannot place, because they descend from the version it lacks. Asking peers for a voted
//! block's ancestors tells it which version of the duplicate slot those votes build on, so they can
//! be counted for that version (Agave's ancestor-hashes repair serves the same purpose).
//!
//! ```text
//! request:  tag 4 AncestorHashes: slot u64                         (see the module above)
//! answer:   tag 0x83 | signature [64] | responder [32] | recipient [32] | nonce u32 | slot u64
//!           | count u8 | count × (slot u64 | bank_hash [32] | block_id [32])   ≤ 1,150 bytes
//! ```
//!
//! The entries start at the slot asked for and descend, each the parent of the one before; there
//! are 1 to [`ANCESTORS_MAX`] of them. The answer is signed by its responder over
//! `genesis_hash ‖ tag ‖ bytes[65..]` like a "don't have": whoever believes it must know who said it,
//! since a chain is believed only once enough stake says the same.

use ed25519_dalek::SigningKey;

use super::{sign_parts, verify_signed, RepairError, Writer, TAG_ANCESTORS};
use crate::byte_reader::ByteReader;
use crate::types::{Hash, Pubkey, Signature, Slot};

/// Entries one answer carries at most (keeps it within one datagram).
pub const ANCESTORS_MAX: usize = 14;
/// Bytes of one entry.
const ENTRY_LEN: usize = 8 + Hash::LEN + Hash::LEN;
/// Bytes of an answer before its entries, the tag included.
const HEADER_LEN: usize = 1 + Signature::LEN + Pubkey::LEN + Pubkey::LEN + 4 + 8 + 1;
/// Largest answer.
pub const ANCESTORS_LEN_MAX: usize = HEADER_LEN + ANCESTORS_MAX * ENTRY_LEN;

/// One block of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AncestorHash {
    /// Its slot.
    pub slot: Slot,
    /// Its bank hash.
    pub bank_hash: Hash,
    /// Its block id (the Merkle root of its last FEC set), by which the version can be repaired.
    pub block_id: Hash,
}

/// A responder's chain below a slot, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ancestors {
    /// The requester the answer goes to.
    pub recipient: Pubkey,
    /// The request's nonce.
    pub nonce: u32,
    /// The slot asked about (the first entry's).
    pub slot: Slot,
    /// The chain, newest first.
    pub chain: Vec<AncestorHash>,
}

/// A signed [`Ancestors`], as it travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAncestors {
    /// The responder's signature over `genesis_hash ‖ tag ‖ encoding[65..]`.
    pub signature: Signature,
    /// The responder's identity.
    pub responder: Pubkey,
    /// The answer.
    pub reply: Ancestors,
}

/// Whether `chain` is one an answer may carry about `slot`: 1 to [`ANCESTORS_MAX`] entries, the
/// first at `slot`, slots strictly descending.
pub fn is_well_formed(slot: Slot, chain: &[AncestorHash]) -> bool {
    !chain.is_empty()
        && chain.len() <= ANCESTORS_MAX
        && chain[0].slot == slot
        && chain.windows(2).all(|w| w[1].slot < w[0].slot)
}

impl Ancestors {
    /// Signs the answer as `key`'s identity for the cluster of `genesis_hash`; `None` if the chain
    /// is not well formed ([`is_well_formed`]).
    pub fn sign(&self, key: &SigningKey, genesis_hash: &Hash) -> Option<SignedAncestors> {
        if !is_well_formed(self.slot, &self.chain) {
            return None;
        }
        let responder = Pubkey(key.verifying_key().to_bytes());
        let fields = self.fields(&responder);
        Some(SignedAncestors {
            signature: sign_parts(key, genesis_hash, &[&[TAG_ANCESTORS], fields.bytes()]),
            responder,
            reply: self.clone(),
        })
    }

    /// The fields after tag and signature.
    fn fields(&self, responder: &Pubkey) -> Writer<ANCESTORS_LEN_MAX> {
        let mut w = Writer::new();
        w.put(responder.as_bytes());
        w.put(self.recipient.as_bytes());
        w.put(&self.nonce.to_le_bytes());
        w.put(&self.slot.0.to_le_bytes());
        // `sign` and `decode` admit at most ANCESTORS_MAX entries, so the count fits a byte and
        // the writer's capacity.
        let chain = &self.chain[..self.chain.len().min(ANCESTORS_MAX)];
        w.put(&[chain.len() as u8]);
        for e in chain {
            w.put(&e.slot.0.to_le_bytes());
            w.put(e.bank_hash.as_bytes());
            w.put(e.block_id.as_bytes());
        }
        w
    }
}

impl SignedAncestors {
    /// The answer's datagram.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ANCESTORS_LEN_MAX);
        out.push(TAG_ANCESTORS);
        out.extend_from_slice(self.signature.as_bytes());
        out.extend_from_slice(self.reply.fields(&self.responder).bytes());
        out
    }

    /// Parses an answer datagram (its tag already read by the caller's dispatch, so `bytes` starts
    /// at the tag); checks its form only.
    pub fn decode(bytes: &[u8]) -> Result<SignedAncestors, RepairError> {
        if bytes.len() > ANCESTORS_LEN_MAX {
            return Err(RepairError::Oversized { len: bytes.len() });
        }
        let mut r = ByteReader::new(bytes);
        let tag = r.u8("tag")?;
        if tag != TAG_ANCESTORS {
            return Err(RepairError::UnknownTag {
                what: "response",
                tag,
            });
        }
        let signature = Signature(r.array("signature")?);
        let responder = Pubkey(r.array("responder")?);
        let recipient = Pubkey(r.array("recipient")?);
        let nonce = r.u32("nonce")?;
        let slot = Slot(r.u64("slot")?);
        let count = usize::from(r.u8("count")?);
        if count == 0 || count > ANCESTORS_MAX {
            return Err(RepairError::BadAncestors("entry count out of range"));
        }
        let mut chain = Vec::with_capacity(count);
        for _ in 0..count {
            chain.push(AncestorHash {
                slot: Slot(r.u64("entry slot")?),
                bank_hash: Hash(r.array("entry bank_hash")?),
                block_id: Hash(r.array("entry block_id")?),
            });
        }
        r.finish("ancestors answer")?;
        if !is_well_formed(slot, &chain) {
            return Err(RepairError::BadAncestors(
                "chain must start at the slot asked for and descend",
            ));
        }
        Ok(SignedAncestors {
            signature,
            responder,
            reply: Ancestors {
                recipient,
                nonce,
                slot,
                chain,
            },
        })
    }

    /// Checks that the answer is for `me` and signed by its responder for the cluster of
    /// `genesis_hash`. Whether its nonce is one `me` waits for is the control plane's question.
    pub fn verify(&self, me: &Pubkey, genesis_hash: &Hash) -> Result<(), RepairError> {
        if self.reply.recipient != *me {
            return Err(RepairError::WrongRecipient {
                recipient: self.reply.recipient,
                me: *me,
            });
        }
        let fields = self.reply.fields(&self.responder);
        verify_signed(
            &self.responder,
            &self.signature,
            genesis_hash,
            &[&[TAG_ANCESTORS], fields.bytes()],
        )
    }
}

#[cfg(test)]
mod tests;
