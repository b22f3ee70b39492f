//! Who signs what the control plane sends, and the wrapper that marks input as checked.
//!
//! The control plane signs its own gossip records, votes and tower files through [`Signer`]: the
//! node passes its ed25519 identity key, the simulator a keyed stand-in that costs no ed25519.
//! Signatures on *incoming* messages are checked once, at the edge (the wire decoders or the
//! simulator), which alone can build a [`Verified`] value.

use dataplane::types::Pubkey;
use ed25519_dalek::SigningKey;

/// Signs messages as one identity.
pub trait Signer {
    /// The identity that signs.
    fn pubkey(&self) -> Pubkey;
    /// A 64-byte signature over `message`.
    fn sign(&self, message: &[u8]) -> [u8; 64];
}

impl Signer for SigningKey {
    fn pubkey(&self) -> Pubkey {
        Pubkey(self.verifying_key().to_bytes())
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        ed25519_dalek::Signer::sign(self, message).to_bytes()
    }
}

/// A value whose signatures were checked at the edge (by a wire decoder or the simulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// Marks `value` as checked. Only edge code calls this: wire decoders after verifying every
    /// signature, and the simulator, whose messages are built by the nodes that sign them.
    pub(crate) fn assume_checked(value: T) -> Verified<T> {
        Verified(value)
    }

    /// Marks `value` as checked by the node's edge (its datagram decoders), which verified every
    /// signature in it first. Nothing else may call this.
    pub fn checked_at_edge(value: T) -> Verified<T> {
        Verified(value)
    }

    /// The checked value.
    pub fn into_inner(self) -> T {
        self.0
    }

    /// A reference to the checked value.
    pub fn get(&self) -> &T {
        &self.0
    }
}
