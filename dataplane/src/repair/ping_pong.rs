//! Ping and pong: how a responder learns that a requester really receives at the address its
//! requests come from, before it sends anything larger than a request there.
//!
//! A request's source address is whatever the sender wrote in the IP header. Answering it blindly
//! lets anyone aim a responder's shreds at a victim (a 149-byte `Orphan` request draws up to eight
//! 1,232-byte shreds). So a responder answers a (requester, address) pair only after the requester
//! has echoed, from that address, a token the responder sent there: a ping.
//!
//! ```text
//! Ping (responder → requester, a response):  tag 0x82 | signature [64] | from [32] | token [32]
//!                                                                                   = 129 bytes
//! Pong (requester → responder, a request):   signature [64] | tag 0x40 | from [32] | hash [32]
//!                                                                                   = 129 bytes
//!   hash = sha256("SOLANA_PING_PONG" ‖ token)
//! ```
//!
//! Each is signed by `from` over `genesis_hash ‖ tag ‖ from ‖ token-or-hash`. The tag sits where the
//! other messages of its direction keep theirs (first byte of a response, byte 64 of a request), so
//! one decoder per socket tells them apart. A pong signs the token's hash, not the token itself, so
//! a ping can never make a requester sign 32 bytes of the pinger's choosing. A ping is smaller
//! than the smallest request ([`PING_LEN`] ≤ [`REQUEST_LEN_MIN`]), so a forged request can never draw
//! more bytes back than it cost.

use ed25519_dalek::SigningKey;

use super::{sign_parts, verify_signed, RepairError, Writer, REPAIR_PACKET_MAX, REQUEST_LEN_MIN};
use crate::byte_reader::ByteReader;
use crate::types::{Hash, Pubkey, Signature};

/// Tag of a ping, at byte 0 (response direction).
pub(super) const TAG_PING: u8 = 0x82;
/// Tag of a pong, at byte 64 (request direction).
pub(super) const TAG_PONG: u8 = 0x40;
/// Size of a ping datagram.
pub const PING_LEN: usize = 1 + Signature::LEN + Pubkey::LEN + 32;
/// Size of a pong datagram.
pub const PONG_LEN: usize = Signature::LEN + 1 + Pubkey::LEN + Hash::LEN;
/// Prefix of the hash a pong signs (Solana's, so the construction is the one Agave uses).
const PONG_HASH_PREFIX: &[u8] = b"SOLANA_PING_PONG";

// A ping goes to an address nobody has vouched for: it must never outweigh what drew it.
const _: () = assert!(PING_LEN <= REQUEST_LEN_MIN);
const _: () = assert!(PONG_LEN <= REPAIR_PACKET_MAX);

/// A responder's challenge: echo [`pong_hash`] of `token`, signed, from the address it came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// The responder.
    pub from: Pubkey,
    /// Unpredictable to anyone who did not receive the ping.
    pub token: [u8; 32],
    /// `from`'s signature over `genesis_hash ‖ tag ‖ from ‖ token`.
    pub signature: Signature,
}

/// A requester's answer to a [`Ping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pong {
    /// The requester.
    pub from: Pubkey,
    /// [`pong_hash`] of the ping's token.
    pub hash: Hash,
    /// `from`'s signature over `genesis_hash ‖ tag ‖ from ‖ hash`.
    pub signature: Signature,
}

/// What a pong to a ping carrying `token` must echo.
pub fn pong_hash(token: &[u8; 32]) -> Hash {
    Hash::hashv(&[PONG_HASH_PREFIX, token])
}

impl Ping {
    /// A ping carrying `token`, signed as `key` for the cluster of `genesis_hash`.
    pub fn new(token: [u8; 32], key: &SigningKey, genesis_hash: &Hash) -> Ping {
        let from = Pubkey(key.verifying_key().to_bytes());
        let signature = sign_parts(key, genesis_hash, &[&[TAG_PING], from.as_bytes(), &token]);
        Ping {
            from,
            token,
            signature,
        }
    }

    /// The ping's datagram.
    pub fn encode(&self) -> [u8; PING_LEN] {
        let mut w = Writer::<PING_LEN>::new();
        w.put(&[TAG_PING]);
        w.put(self.signature.as_bytes());
        w.put(self.from.as_bytes());
        w.put(&self.token);
        w.buf
    }

    /// Parses a ping datagram (form only; see [`Ping::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Ping, RepairError> {
        if bytes.len() > REPAIR_PACKET_MAX {
            return Err(RepairError::Oversized { len: bytes.len() });
        }
        let mut r = ByteReader::new(bytes);
        match r.u8("tag")? {
            TAG_PING => {}
            tag => {
                return Err(RepairError::UnknownTag {
                    what: "response",
                    tag,
                })
            }
        }
        let signature = Signature(r.array("signature")?);
        let from = Pubkey(r.array("from")?);
        let token = r.array("token")?;
        r.finish("ping")?;
        Ok(Ping {
            from,
            token,
            signature,
        })
    }

    /// Checks that `from` signed the ping for the cluster of `genesis_hash`.
    pub fn verify(&self, genesis_hash: &Hash) -> Result<(), RepairError> {
        verify_signed(
            &self.from,
            &self.signature,
            genesis_hash,
            &[&[TAG_PING], self.from.as_bytes(), &self.token],
        )
    }
}

impl Pong {
    /// The answer to `ping`, signed as `key` for the cluster of `genesis_hash`.
    pub fn new(ping: &Ping, key: &SigningKey, genesis_hash: &Hash) -> Pong {
        let from = Pubkey(key.verifying_key().to_bytes());
        let hash = pong_hash(&ping.token);
        let signature = sign_parts(
            key,
            genesis_hash,
            &[&[TAG_PONG], from.as_bytes(), hash.as_bytes()],
        );
        Pong {
            from,
            hash,
            signature,
        }
    }

    /// The pong's datagram.
    pub fn encode(&self) -> [u8; PONG_LEN] {
        let mut w = Writer::<PONG_LEN>::new();
        w.put(self.signature.as_bytes());
        w.put(&[TAG_PONG]);
        w.put(self.from.as_bytes());
        w.put(self.hash.as_bytes());
        w.buf
    }

    /// Parses a pong datagram (form only; see [`Pong::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Pong, RepairError> {
        if bytes.len() > REPAIR_PACKET_MAX {
            return Err(RepairError::Oversized { len: bytes.len() });
        }
        let mut r = ByteReader::new(bytes);
        let signature = Signature(r.array("signature")?);
        match r.u8("tag")? {
            TAG_PONG => {}
            tag => {
                return Err(RepairError::UnknownTag {
                    what: "request",
                    tag,
                })
            }
        }
        let from = Pubkey(r.array("from")?);
        let hash = Hash(r.array("hash")?);
        r.finish("pong")?;
        Ok(Pong {
            from,
            hash,
            signature,
        })
    }

    /// Checks that `from` signed the pong for the cluster of `genesis_hash`. Whether its hash
    /// answers a ping this node sent to the pong's source is the responder's question.
    pub fn verify(&self, genesis_hash: &Hash) -> Result<(), RepairError> {
        verify_signed(
            &self.from,
            &self.signature,
            genesis_hash,
            &[&[TAG_PONG], self.from.as_bytes(), self.hash.as_bytes()],
        )
    }
}

#[cfg(test)]
mod tests;
