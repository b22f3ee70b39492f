//! The repair wire protocol: signed requests for missing shreds, and their answers.
//!
//! A node that lacks shreds Turbine should have delivered asks a peer for them over UDP; every
//! datagram is at most [`REPAIR_PACKET_MAX`] bytes. This module holds the codecs, the checks a
//! responder runs on a request ([`verify`], and the whole admission policy in [`RepairGate`]:
//! cluster membership, rate limits, and a ping/pong proof that the requester receives at its
//! address) and a sans-IO [`RepairResponder`] that turns an admitted request into response datagrams
//! from whatever store the node has. What to ask, of whom and when is the control plane's repair
//! planner's job.
//!
//! ## Requests (requester → responder)
//!
//! ```text
//! signature [64] | tag u8 | requester [32] | recipient [32] | wallclock_ms u64 | nonce u32 | body
//!   tag 1 Shred:        slot u64 | index u32 | has_root u8 (0|1) | [root [32] if has_root = 1]
//!   tag 2 HighestShred: slot u64 | from_index u32
//!   tag 3 Orphan:       slot u64
//!   tag 4 AncestorHashes: slot u64
//! ```
//!
//! Request tags below `0x40` are request kinds (a new kind takes the next free tag); `0x40` is a
//! [`Pong`], which travels the same way (see [`ping_pong`] for both halves of the exchange).
//!
//! Integers are little-endian. The signature is the requester's ed25519 signature over
//! `genesis_hash ‖ bytes[64..]`: the genesis hash is not sent, so a request made for another cluster
//! fails verification here as a bad signature. The recipient binds a request to one responder, the
//! wallclock to a short window and the nonce to one answer, so captured requests cannot be replayed
//! elsewhere or later.
//!
//! ## Responses (responder → requester)
//!
//! ```text
//! shred:      shred bytes [SHRED_SIZE = 1228] | nonce u32                        = 1232 bytes exactly
//! DontHave:   tag 0x80 | signature [64] | responder [32] | recipient [32] | nonce u32 | slot u64
//!             | index u32                                                          = 145 bytes
//! OtherRoot:  tag 0x81 | … as DontHave … | held_root [32]                          = 177 bytes
//! Ping:       tag 0x82 | signature [64] | from [32] | token [32]                   = 129 bytes
//! Ancestors:  tag 0x83 | … see [`ancestors`]                                       ≤ 1,150 bytes
//! ```
//!
//! A shred response needs no signature of its own: the shred carries its leader's. Every other
//! response is shorter than a shred response, which is how a receiver tells them apart, and is signed
//! by the responder over `genesis_hash ‖ tag ‖ bytes[65..]`. A responder never stays silent to a
//! request it admits: if it cannot serve it, it says [`DontHave`], naming the responder's own Merkle
//! root of the FEC set when it holds a different version of the shred than the one asked for. To a
//! request it does not admit it sends nothing, or at most a [`Ping`] (never larger than a request).

use std::net::SocketAddr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::byte_reader::{ByteReader, ReadError, ReadErrorKind};
use crate::types::{Hash, Pubkey, Signature, Slot};

pub mod gate;
pub mod ping_pong;

pub use gate::{
    GateConfig, GateOutcome, GateTime, PingAction, PingConfig, RepairGate, RepairRateLimiter,
    Verdict, DEFAULT_MAX_REQUEST_AGE_MS,
};
pub use ping_pong::{pong_hash, Ping, Pong, PING_LEN, PONG_LEN};

/// Largest repair datagram, requests and responses alike (Solana's `PACKET_DATA_SIZE`).
pub const REPAIR_PACKET_MAX: usize = 1232;
pub use crate::shred::SHRED_SIZE;
/// Size of a shred response: the shred followed by the request's nonce.
pub const SHRED_RESPONSE_LEN: usize = SHRED_SIZE + 4;
/// Bytes of a request before its body.
const REQUEST_HEADER_LEN: usize = Signature::LEN + 1 + Pubkey::LEN + Pubkey::LEN + 8 + 4;
/// Largest request: a `Shred` request naming a root.
pub const REQUEST_LEN_MAX: usize = REQUEST_HEADER_LEN + 8 + 4 + 1 + Hash::LEN;
/// Smallest request: an `Orphan` request. Nothing sent to an unverified address may be larger.
pub const REQUEST_LEN_MIN: usize = REQUEST_HEADER_LEN + 8;
/// Size of a `DontHave` response without a root.
const DONT_HAVE_LEN: usize = 1 + Signature::LEN + Pubkey::LEN + Pubkey::LEN + 4 + 8 + 4;
/// Default number of datagrams one request may draw ([`RepairResponder::responses_max`]).
pub const DEFAULT_RESPONSES_MAX: usize = 8;

const TAG_SHRED: u8 = 1;
const TAG_HIGHEST_SHRED: u8 = 2;
const TAG_ORPHAN: u8 = 3;
const TAG_ANCESTOR_HASHES: u8 = 4;
const TAG_DONT_HAVE: u8 = 0x80;
const TAG_OTHER_ROOT: u8 = 0x81;
const TAG_ANCESTORS: u8 = 0x83;

pub mod ancestors;
pub use ancestors::{AncestorHash, Ancestors, SignedAncestors, ANCESTORS_MAX};

/// Why a repair datagram was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepairError {
    /// More bytes than a repair datagram may have.
    #[error("repair datagram is {len} bytes, more than the {REPAIR_PACKET_MAX}-byte limit")]
    Oversized {
        /// Bytes received.
        len: usize,
    },
    /// The bytes end before a field.
    #[error("repair datagram truncated: {field} needs {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        /// What was being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// Bytes left after the last field.
    #[error("{extra} trailing bytes after the repair message")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A field refused for a reason the repair format has no variant of its own for (a
    /// non-canonical compact-u16 or a count over its limit: no repair message has one today).
    #[error("malformed repair datagram: {0}")]
    Malformed(ReadError),
    /// A tag byte no message kind has.
    #[error("unknown repair {what} tag {tag:#04x}")]
    UnknownTag {
        /// "request" or "response".
        what: &'static str,
        /// The tag.
        tag: u8,
    },
    /// An ancestors answer's chain is malformed (empty, too long, not descending from the slot).
    #[error("bad ancestors answer: {0}")]
    BadAncestors(&'static str),
    /// The `has_root` flag of a `Shred` request is neither 0 nor 1.
    #[error("has_root flag is {0}, expected 0 or 1")]
    BadRootFlag(u8),
    /// A shred handed to the encoder is not [`SHRED_SIZE`] bytes.
    #[error("shred is {len} bytes, expected {SHRED_SIZE}")]
    BadShredLength {
        /// Its length.
        len: usize,
    },
    /// The signer's key is not a valid ed25519 point.
    #[error("signer {0} is not a valid ed25519 public key")]
    InvalidKey(Pubkey),
    /// `verify_strict` refuses the signature (a request for another cluster lands here too: the
    /// genesis hash is part of what is signed).
    #[error("bad signature from {0} (tampered, or signed for another cluster)")]
    BadSignature(Pubkey),
    /// The message is addressed to another node.
    #[error("message is for {recipient}, not for this node ({me})")]
    WrongRecipient {
        /// Whom it names.
        recipient: Pubkey,
        /// This node.
        me: Pubkey,
    },
    /// The wallclock is outside the accepted window around now.
    #[error(
        "request wallclock {wallclock_ms} ms is more than {max_age_ms} ms from now ({now_ms} ms)"
    )]
    Stale {
        /// The request's wallclock.
        wallclock_ms: u64,
        /// This node's clock.
        now_ms: u64,
        /// The window.
        max_age_ms: u64,
    },
    /// The requester has used up its token bucket.
    #[error("requester {0} exceeds its repair rate limit")]
    RateLimited(Pubkey),
    /// The requester sent this nonce moments ago: a replay.
    #[error("requester {requester} repeated nonce {nonce}")]
    DuplicateNonce {
        /// Who.
        requester: Pubkey,
        /// The repeated nonce.
        nonce: u32,
    },
    /// The signer is not one of the cluster's validators.
    #[error("{0} is not a member of this cluster")]
    NotMember(Pubkey),
    /// The source address has used up its token bucket.
    #[error("source address {0} exceeds its repair rate limit")]
    AddressRateLimited(SocketAddr),
    /// The requester has not answered a ping at this address lately: nothing but a ping goes there.
    #[error("{requester} has not answered a ping at {addr} within the verification window")]
    UnverifiedAddress {
        /// Who signed the request.
        requester: Pubkey,
        /// Where it came from.
        addr: SocketAddr,
    },
    /// A pong whose hash answers no ping this node sent to its source lately (wrong token,
    /// another address's token, or one that has expired).
    #[error("pong from {from} at {addr} answers no live ping sent there")]
    PongMismatch {
        /// Who signed the pong.
        from: Pubkey,
        /// Where it came from.
        addr: SocketAddr,
    },
}

impl RepairError {
    /// Stable snake-case name of the reason, used as the rejection metric's label.
    pub fn reason(&self) -> &'static str {
        match self {
            RepairError::Oversized { .. } => "oversized",
            RepairError::Truncated { .. } => "truncated",
            RepairError::TrailingBytes { .. } => "trailing_bytes",
            RepairError::Malformed(_) => "malformed",
            RepairError::UnknownTag { .. } => "unknown_tag",
            RepairError::BadRootFlag(_) => "bad_root_flag",
            RepairError::BadShredLength { .. } => "bad_shred_length",
            RepairError::InvalidKey(_) => "invalid_key",
            RepairError::BadSignature(_) => "bad_signature",
            RepairError::BadAncestors(_) => "bad_ancestors",
            RepairError::WrongRecipient { .. } => "wrong_recipient",
            RepairError::Stale { .. } => "stale",
            RepairError::RateLimited(_) => "rate_limited",
            RepairError::DuplicateNonce { .. } => "duplicate_nonce",
            RepairError::NotMember(_) => "not_member",
            RepairError::AddressRateLimited(_) => "address_rate_limited",
            RepairError::UnverifiedAddress { .. } => "unverified_address",
            RepairError::PongMismatch { .. } => "pong_mismatch",
        }
    }
}

impl From<ReadError> for RepairError {
    fn from(e: ReadError) -> Self {
        match e.kind {
            ReadErrorKind::Truncated { needed, available } => RepairError::Truncated {
                field: e.field,
                offset: e.offset,
                needed,
                available,
            },
            ReadErrorKind::TrailingBytes { extra } => RepairError::TrailingBytes { extra },
            ReadErrorKind::NonCanonical | ReadErrorKind::TooLarge { .. } => {
                RepairError::Malformed(e)
            }
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepairKind {
    /// One data shred; `root` names the Merkle root of its FEC set when the requester knows it, so a
    /// responder holding another version of the slot says so instead of sending the wrong data.
    Shred {
        /// Its slot.
        slot: Slot,
        /// Its index in the slot.
        index: u32,
        /// The FEC set's Merkle root, if known.
        root: Option<Hash>,
    },
    /// The responder's shreds of `slot` from `from_index` up, always including the highest it
    /// holds: lets a node that does not know where a slot ends find its end.
    HighestShred {
        /// The slot.
        slot: Slot,
        /// First index wanted.
        from_index: u32,
    },
    /// The responder's last shred of `slot` and of each ancestor it holds, so a node that sees a
    /// slot whose parent it lacks can walk back.
    Orphan {
        /// The slot whose ancestry is wanted.
        slot: Slot,
    },
    /// The (slot, bank hash, block id) chain the responder holds from `slot` down
    /// ([`ancestors`]): which version of a duplicate slot a voted block descends from.
    AncestorHashes {
        /// The slot whose chain is wanted.
        slot: Slot,
    },
}

impl RepairKind {
    /// The slot the request is about.
    pub fn slot(&self) -> Slot {
        match *self {
            RepairKind::Shred { slot, .. }
            | RepairKind::HighestShred { slot, .. }
            | RepairKind::Orphan { slot }
            | RepairKind::AncestorHashes { slot } => slot,
        }
    }
}

/// A repair request before it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepairRequest {
    /// The node asked.
    pub recipient: Pubkey,
    /// The requester's clock when it sent the request, in ms since the Unix epoch.
    pub wallclock_ms: u64,
    /// Chosen by the requester; echoed in every response.
    pub nonce: u32,
    /// What is asked for.
    pub kind: RepairKind,
}

/// A signed repair request, as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedRequest {
    /// The requester's ed25519 signature over `genesis_hash ‖ encoding[64..]`.
    pub signature: Signature,
    /// The requester's identity.
    pub requester: Pubkey,
    /// The request.
    pub request: RepairRequest,
}

/// A fixed-capacity byte buffer on the stack for building messages.
struct Writer<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Writer<N> {
    fn new() -> Self {
        Writer {
            buf: [0u8; N],
            len: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        // N is sized for the largest message layout of each caller, so this never runs past the
        // buffer; the layouts are fixed, not taken from input.
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Checks `signature` by `signer` over `genesis_hash ‖ parts…` with `verify_strict`.
fn verify_signed(
    signer: &Pubkey,
    signature: &Signature,
    genesis_hash: &Hash,
    parts: &[&[u8]],
) -> Result<(), RepairError> {
    let key = VerifyingKey::from_bytes(signer.as_bytes())
        .map_err(|_| RepairError::InvalidKey(*signer))?;
    let mut message = Writer::<{ Hash::LEN + REPAIR_PACKET_MAX }>::new();
    message.put(genesis_hash.as_bytes());
    for part in parts {
        message.put(part);
    }
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message.bytes(), &signature)
        .map_err(|_| RepairError::BadSignature(*signer))
}

/// Signs `genesis_hash ‖ parts…` with `key`.
fn sign_parts(key: &SigningKey, genesis_hash: &Hash, parts: &[&[u8]]) -> Signature {
    let mut message = Writer::<{ Hash::LEN + REPAIR_PACKET_MAX }>::new();
    message.put(genesis_hash.as_bytes());
    for part in parts {
        message.put(part);
    }
    Signature(key.sign(message.bytes()).to_bytes())
}

impl RepairRequest {
    /// Signs the request as `key`'s identity for the cluster of `genesis_hash`.
    pub fn sign(&self, key: &SigningKey, genesis_hash: &Hash) -> SignedRequest {
        let requester = Pubkey(key.verifying_key().to_bytes());
        let signed_part = self.signed_part(&requester);
        SignedRequest {
            signature: sign_parts(key, genesis_hash, &[signed_part.bytes()]),
            requester,
            request: *self,
        }
    }

    /// The bytes after the signature: tag, header fields and body.
    fn signed_part(&self, requester: &Pubkey) -> Writer<REQUEST_LEN_MAX> {
        let mut w = Writer::new();
        let tag = match self.kind {
            RepairKind::Shred { .. } => TAG_SHRED,
            RepairKind::HighestShred { .. } => TAG_HIGHEST_SHRED,
            RepairKind::Orphan { .. } => TAG_ORPHAN,
            RepairKind::AncestorHashes { .. } => TAG_ANCESTOR_HASHES,
        };
        w.put(&[tag]);
        w.put(requester.as_bytes());
        w.put(self.recipient.as_bytes());
        w.put(&self.wallclock_ms.to_le_bytes());
        w.put(&self.nonce.to_le_bytes());
        match self.kind {
            RepairKind::Shred { slot, index, root } => {
                w.put(&slot.0.to_le_bytes());
                w.put(&index.to_le_bytes());
                match root {
                    Some(root) => {
                        w.put(&[1]);
                        w.put(root.as_bytes());
                    }
                    None => w.put(&[0]),
                }
            }
            RepairKind::HighestShred { slot, from_index } => {
                w.put(&slot.0.to_le_bytes());
                w.put(&from_index.to_le_bytes());
            }
            RepairKind::Orphan { slot } | RepairKind::AncestorHashes { slot } => {
                w.put(&slot.0.to_le_bytes())
            }
        }
        w
    }
}

impl SignedRequest {
    /// The request's datagram.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(REQUEST_LEN_MAX);
        out.extend_from_slice(self.signature.as_bytes());
        out.extend_from_slice(self.request.signed_part(&self.requester).bytes());
        out
    }

    /// Parses a request datagram; checks its form only (see [`verify`] for the rest).
    pub fn decode(bytes: &[u8]) -> Result<SignedRequest, RepairError> {
        if bytes.len() > REPAIR_PACKET_MAX {
            return Err(RepairError::Oversized { len: bytes.len() });
        }
        let mut r = ByteReader::new(bytes);
        let signature = Signature(r.array("signature")?);
        let tag = r.u8("tag")?;
        let requester = Pubkey(r.array("requester")?);
        let recipient = Pubkey(r.array("recipient")?);
        let wallclock_ms = r.u64("wallclock_ms")?;
        let nonce = r.u32("nonce")?;
        let kind = match tag {
            TAG_SHRED => {
                let slot = Slot(r.u64("slot")?);
                let index = r.u32("index")?;
                let root = match r.u8("has_root")? {
                    0 => None,
                    1 => Some(Hash(r.array("root")?)),
                    flag => return Err(RepairError::BadRootFlag(flag)),
                };
                RepairKind::Shred { slot, index, root }
            }
            TAG_HIGHEST_SHRED => RepairKind::HighestShred {
                slot: Slot(r.u64("slot")?),
                from_index: r.u32("from_index")?,
            },
            TAG_ORPHAN => RepairKind::Orphan {
                slot: Slot(r.u64("slot")?),
            },
            TAG_ANCESTOR_HASHES => RepairKind::AncestorHashes {
                slot: Slot(r.u64("slot")?),
            },
            tag => {
                return Err(RepairError::UnknownTag {
                    what: "request",
                    tag,
                })
            }
        };
        r.finish("repair request")?;
        Ok(SignedRequest {
            signature,
            requester,
            request: RepairRequest {
                recipient,
                wallclock_ms,
                nonce,
                kind,
            },
        })
    }
}

/// A datagram on the serve side's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeDatagram {
    /// A repair request.
    Request(SignedRequest),
    /// A requester's answer to a ping.
    Pong(Pong),
}

/// Parses a datagram sent to the serve side: the tag at byte 64 tells a pong from a request.
pub fn decode_serve_datagram(bytes: &[u8]) -> Result<ServeDatagram, RepairError> {
    match bytes.get(Signature::LEN) {
        Some(&ping_pong::TAG_PONG) => Pong::decode(bytes).map(ServeDatagram::Pong),
        _ => SignedRequest::decode(bytes).map(ServeDatagram::Request),
    }
}

/// Checks a decoded request: addressed to `me`, sent within `max_age_ms` of `now_ms` (either way, to
/// allow for clock skew), and signed by its requester for the cluster of `genesis_hash`.
///
/// The cheap checks run first so that junk costs no signature verification. This is one step of
/// [`RepairGate`]'s admission, which a serve side should use whole.
pub fn verify(
    request: &SignedRequest,
    me: &Pubkey,
    genesis_hash: &Hash,
    now_ms: u64,
    max_age_ms: u64,
) -> Result<(), RepairError> {
    if request.request.recipient != *me {
        return Err(RepairError::WrongRecipient {
            recipient: request.request.recipient,
            me: *me,
        });
    }
    if request.request.wallclock_ms.abs_diff(now_ms) > max_age_ms {
        return Err(RepairError::Stale {
            wallclock_ms: request.request.wallclock_ms,
            now_ms,
            max_age_ms,
        });
    }
    let signed_part = request.request.signed_part(&request.requester);
    verify_signed(
        &request.requester,
        &request.signature,
        genesis_hash,
        &[signed_part.bytes()],
    )
}

/// A responder's explicit "cannot serve this", before it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DontHave {
    /// The requester the answer goes to.
    pub recipient: Pubkey,
    /// The request's nonce.
    pub nonce: u32,
    /// The slot asked about.
    pub slot: Slot,
    /// The index asked about (`from_index` for `HighestShred`, `u32::MAX` for `Orphan`).
    pub index: u32,
    /// `Some` when the responder holds a different version of the shred: its own FEC set root.
    pub held_root: Option<Hash>,
}

/// A signed [`DontHave`], as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedDontHave {
    /// The responder's signature over `genesis_hash ‖ tag ‖ encoding[65..]`.
    pub signature: Signature,
    /// The responder's identity.
    pub responder: Pubkey,
    /// The answer.
    pub reply: DontHave,
}

impl DontHave {
    /// Signs the answer as `key`'s identity for the cluster of `genesis_hash`.
    pub fn sign(&self, key: &SigningKey, genesis_hash: &Hash) -> SignedDontHave {
        let responder = Pubkey(key.verifying_key().to_bytes());
        let tag = [self.tag()];
        let fields = self.fields(&responder);
        SignedDontHave {
            signature: sign_parts(key, genesis_hash, &[&tag, fields.bytes()]),
            responder,
            reply: *self,
        }
    }

    fn tag(&self) -> u8 {
        match self.held_root {
            Some(_) => TAG_OTHER_ROOT,
            None => TAG_DONT_HAVE,
        }
    }

    /// The fields after tag and signature.
    fn fields(&self, responder: &Pubkey) -> Writer<{ DONT_HAVE_LEN + Hash::LEN }> {
        let mut w = Writer::new();
        w.put(responder.as_bytes());
        w.put(self.recipient.as_bytes());
        w.put(&self.nonce.to_le_bytes());
        w.put(&self.slot.0.to_le_bytes());
        w.put(&self.index.to_le_bytes());
        if let Some(root) = self.held_root {
            w.put(root.as_bytes());
        }
        w
    }
}

impl SignedDontHave {
    /// The answer's datagram.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DONT_HAVE_LEN + Hash::LEN);
        out.push(self.reply.tag());
        out.extend_from_slice(self.signature.as_bytes());
        out.extend_from_slice(self.reply.fields(&self.responder).bytes());
        out
    }

    /// Checks that the answer is for `me` and signed by its responder for the cluster of
    /// `genesis_hash`. Whether its nonce is one `me` is waiting for is the planner's question.
    pub fn verify(&self, me: &Pubkey, genesis_hash: &Hash) -> Result<(), RepairError> {
        if self.reply.recipient != *me {
            return Err(RepairError::WrongRecipient {
                recipient: self.reply.recipient,
                me: *me,
            });
        }
        let tag = [self.reply.tag()];
        let fields = self.reply.fields(&self.responder);
        verify_signed(
            &self.responder,
            &self.signature,
            genesis_hash,
            &[&tag, fields.bytes()],
        )
    }
}

/// A decoded response datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairResponse<'a> {
    /// A shred (still to be verified as any shred is) and the nonce of the request it answers.
    Shred {
        /// The shred's bytes, [`SHRED_SIZE`] long.
        shred: &'a [u8],
        /// The request's nonce.
        nonce: u32,
    },
    /// The responder cannot serve the request (signature still to be checked with
    /// [`SignedDontHave::verify`]).
    DontHave(SignedDontHave),
    /// A chain of ancestor hashes (signature still to be checked with
    /// [`SignedAncestors::verify`]).
    Ancestors(SignedAncestors),
    /// The responder asks the requester to prove it receives at this address (signature still to
    /// be checked with [`Ping::verify`]).
    Ping(Ping),
}

/// Builds a shred response: `shred ‖ nonce`.
pub fn encode_shred_response(shred: &[u8], nonce: u32) -> Result<Vec<u8>, RepairError> {
    if shred.len() != SHRED_SIZE {
        return Err(RepairError::BadShredLength { len: shred.len() });
    }
    let mut out = Vec::with_capacity(SHRED_RESPONSE_LEN);
    out.extend_from_slice(shred);
    out.extend_from_slice(&nonce.to_le_bytes());
    Ok(out)
}

/// Parses a response datagram: exactly [`SHRED_RESPONSE_LEN`] bytes is a shred, anything shorter
/// starts with a tag.
pub fn decode_response(bytes: &[u8]) -> Result<RepairResponse<'_>, RepairError> {
    if bytes.len() > SHRED_RESPONSE_LEN {
        return Err(RepairError::Oversized { len: bytes.len() });
    }
    if bytes.len() == SHRED_RESPONSE_LEN {
        let mut r = ByteReader::new(bytes);
        let shred = r.take("shred", SHRED_SIZE)?;
        let nonce = r.u32("nonce")?;
        return Ok(RepairResponse::Shred { shred, nonce });
    }
    if bytes.first() == Some(&TAG_ANCESTORS) {
        return SignedAncestors::decode(bytes).map(RepairResponse::Ancestors);
    }
    if bytes.first() == Some(&ping_pong::TAG_PING) {
        return Ping::decode(bytes).map(RepairResponse::Ping);
    }
    let mut r = ByteReader::new(bytes);
    let tag = r.u8("tag")?;
    if tag != TAG_DONT_HAVE && tag != TAG_OTHER_ROOT {
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
    let index = r.u32("index")?;
    let held_root = match tag {
        TAG_OTHER_ROOT => Some(Hash(r.array("held_root")?)),
        _ => None,
    };
    r.finish("repair response")?;
    Ok(RepairResponse::DontHave(SignedDontHave {
        signature,
        responder,
        reply: DontHave {
            recipient,
            nonce,
            slot,
            index,
            held_root,
        },
    }))
}

/// Read access to the node's shred store, as the responder needs it.
pub trait ShredSource {
    /// The data shred `index` of `slot`, if held ([`SHRED_SIZE`] bytes).
    fn shred(&self, slot: Slot, index: u32) -> Option<Vec<u8>>;
    /// The highest data shred index held for `slot`.
    fn last_index(&self, slot: Slot) -> Option<u32>;
    /// The parent of `slot`, if known.
    fn parent(&self, slot: Slot) -> Option<Slot>;
    /// The Merkle root of the FEC set holding data shred `index` of `slot`, if held. The default
    /// says "unknown", in which case a `Shred` request naming a root is answered with the shred.
    fn fec_root(&self, _slot: Slot, _index: u32) -> Option<Hash> {
        None
    }
    /// The chain held from `slot` down, newest first, at most `max` entries (none if `slot` is not
    /// held with a frozen bank). The default holds none, so such requests get "don't have".
    fn ancestor_hashes(&self, _slot: Slot, _max: usize) -> Vec<AncestorHash> {
        Vec::new()
    }
}

/// Turns verified requests into response datagrams (sans-IO: the node sends them).
#[derive(Debug, Clone)]
pub struct RepairResponder {
    identity: SigningKey,
    genesis_hash: Hash,
    responses_max: usize,
}

impl RepairResponder {
    /// A responder signing as `identity` for the cluster of `genesis_hash`, sending at most
    /// `responses_max` (at least 1) datagrams per request.
    pub fn new(identity: SigningKey, genesis_hash: Hash, responses_max: usize) -> Self {
        RepairResponder {
            identity,
            genesis_hash,
            responses_max: responses_max.max(1),
        }
    }

    /// Most datagrams one request draws.
    pub fn responses_max(&self) -> usize {
        self.responses_max
    }

    /// The datagrams that answer `request` (already checked with [`verify`] and the rate limiter);
    /// never empty.
    pub fn respond(&self, request: &SignedRequest, store: &impl ShredSource) -> Vec<Vec<u8>> {
        let nonce = request.request.nonce;
        let mut out = Vec::new();
        let dont_have = |slot: Slot, index: u32, held_root: Option<Hash>| {
            DontHave {
                recipient: request.requester,
                nonce,
                slot,
                index,
                held_root,
            }
            .sign(&self.identity, &self.genesis_hash)
            .encode()
        };
        // Store entries of the wrong size are skipped: answering them would not parse.
        let shred_response = |slot: Slot, index: u32| {
            store
                .shred(slot, index)
                .and_then(|s| encode_shred_response(&s, nonce).ok())
        };
        match request.request.kind {
            RepairKind::Shred { slot, index, root } => {
                let held_root = store.fec_root(slot, index);
                if let (Some(want), Some(held)) = (root, held_root) {
                    if want != held {
                        return vec![dont_have(slot, index, Some(held))];
                    }
                }
                match shred_response(slot, index) {
                    Some(datagram) => out.push(datagram),
                    None => out.push(dont_have(slot, index, None)),
                }
            }
            RepairKind::HighestShred { slot, from_index } => {
                if let Some(last) = store.last_index(slot).filter(|&l| l >= from_index) {
                    // Up to responses_max − 1 shreds from `from_index`, then the highest held,
                    // which tells the requester where the slot (so far) ends.
                    // Only that many indices are looked at, held or not, so a request costs a
                    // bounded number of store reads however far `last` is.
                    let window = u32::try_from(self.responses_max - 1).unwrap_or(u32::MAX);
                    let end = last.min(from_index.saturating_add(window));
                    for index in from_index..end {
                        out.extend(shred_response(slot, index));
                    }
                    out.extend(shred_response(slot, last));
                }
                if out.is_empty() {
                    out.push(dont_have(slot, from_index, None));
                }
            }
            RepairKind::AncestorHashes { slot } => {
                let answer = Ancestors {
                    recipient: request.requester,
                    nonce,
                    slot,
                    chain: store.ancestor_hashes(slot, ANCESTORS_MAX),
                }
                .sign(&self.identity, &self.genesis_hash);
                match answer {
                    Some(a) => out.push(a.encode()),
                    None => out.push(dont_have(slot, u32::MAX, None)),
                }
            }
            RepairKind::Orphan { slot } => {
                // The last shred of `slot` and of each ancestor, newest first: each shred names its
                // parent, so the requester learns the chain back to a slot it holds.
                let mut current = Some(slot);
                while let Some(s) = current {
                    if out.len() >= self.responses_max {
                        break;
                    }
                    let Some(datagram) =
                        store.last_index(s).and_then(|last| shred_response(s, last))
                    else {
                        break;
                    };
                    out.push(datagram);
                    // A parent must be older; a store claiming otherwise would loop.
                    current = store.parent(s).filter(|p| *p < s);
                }
                if out.is_empty() {
                    out.push(dont_have(slot, u32::MAX, None));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
