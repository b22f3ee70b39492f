//! Shreds: a slot's byte stream cut into signed, erasure-coded, Merkle-authenticated datagrams.
//!
//! The leader's [`Shredder`] cuts the slot's bytes (encoded entries and trailer: opaque here) into
//! data shreds, groups them into FEC sets, adds Reed-Solomon coding shreds, builds one Merkle tree per
//! set and signs its root once. A validator checks shreds one at a time with [`ShredView::parse`] and
//! [`ShredVerifier`] (one ed25519 verification per set, not per shred), and a [`SlotAssembler`]
//! recovers sets from any `num_data` of their shreds, detects equivocation and yields the slot's exact
//! bytes.
//!
//! # Wire layout
//!
//! Every shred is exactly [`SHRED_SIZE`] = 1,228 bytes (so every shred of a set has the same size and
//! fits one [`PACKET_DATA_SIZE`] datagram). Integers are little-endian. `d` is the proof depth.
//!
//! ```text
//! offset        len     field
//! ---------------------------------------------- common header (both kinds)
//!    0           64     leader signature over the FEC set's 32-byte Merkle root
//!   64            1     variant: high nibble kind (0xD_ data, 0xC_ coding), low nibble proof depth d
//!   65            8     slot u64
//!   73            4     index u32 (data: data index in the slot; coding: coding index in the slot)
//!   77            2     shred_version u16 (see shred_version(); never 0)
//!   79            4     fec_set_index u32 (data index of the set's first data shred)
//! ---------------------------------------------- data shred
//!   83            2     parent_offset u16 (slot - parent slot; 0 only for slot 0)     ┐
//!   85            1     flags u8 (0x01 DATA_COMPLETE, 0x02 LAST_IN_SLOT)               │ erasure shard,
//!   86            2     size u16: payload bytes used                                    │ L = 1106 - 20d
//!   88      L - 5       payload (bytes past `size` are zero)                           ┘
//!   83 + L        7     padding, zero
//! ---------------------------------------------- coding shred
//!   83            2     num_data u16   (data shreds in the set)
//!   85            2     num_coding u16 (coding shreds in the set)
//!   87            2     position u16   (this shred's place among the set's coding shreds)
//!   89            L     parity shard   (Reed-Solomon over the set's data erasure shards)
//!   89 + L        1     padding, zero
//! ---------------------------------------------- both kinds
//!   1196 - 20d   32     chained Merkle root: the previous set's root (first set: the parent slot's)
//!   1228 - 20d   20·d   Merkle proof: sibling hashes truncated to 20 bytes, leaf level first
//! ```
//!
//! With the default 32 + 32 set, `d` = 6: a data shred carries 981 payload bytes.
//!
//! **Erasure shard.** A data shred's shard is its data header and payload (offsets 83 to 83 + L); a
//! coding shred's parity has the same length. Everything else of a data shred is known from any other
//! shred of its set (signature, slot, version, set index, chained root; index = fec_set_index +
//! position; proof from the rebuilt tree), so a recovered data shred is rebuilt byte for byte. `L` is
//! even because reed-solomon-simd needs even shards: with equal-size shreds that costs 7 padding bytes
//! in a data shred and 1 in a coding shred.
//!
//! **Merkle tree.** Leaves are the set's data shreds in position order, then its coding shreds. A leaf
//! is `sha256(LEAF_PREFIX ‖ shred[64 .. 1228 - 20d])` (everything after the signature and before the
//! proof, chained root included); a node is `sha256(NODE_PREFIX ‖ left[..20] ‖ right[..20])`. A level
//! with an odd number of nodes pairs its last node with itself (duplicated, as Solana does). The root
//! is the full 32 bytes of the top node; the leader signs it once per set.
//!
//! **Sets.** A full set is [`FecConfig`]`.data_shreds` data + `coding_shreds` coding shreds (default
//! 32 + 32); the slot's last set may hold fewer data shreds but always the full number of coding
//! shreds. Data indices run 0.. through the slot; coding indices likewise, separately.
//! [`ShredView::parse`] has no cluster context: the shred version is checked by [`ShredVerifier`].
//!
//! **Copies.** Leader: input bytes → the shredder's pending buffer → the output shred arrays (the
//! Reed-Solomon encoder copies the data shards into its work area and the parity is copied out).
//! Validator: a verified shred is copied once, packet buffer → its slot's boxed shred buffer;
//! recovery decodes from those buffers (the decoder copies shards into its work area); a completed
//! slot's payloads are gathered once into [`CompletedSlot::data`].

mod assembler;
mod merkle;
mod shredder;
#[cfg(test)]
mod tests;
mod verifier;

use std::fmt;

use crate::packet::PACKET_DATA_SIZE;
use crate::types::{Hash, Signature};

pub use assembler::{
    AssembleError, AssemblerLimits, CompletedSlot, Conflict, Equivocation, InsertOutcome, Inserted,
    ShredCounts, SlotAssembler, SHREDS_RECEIVED_PER_SLOT_MAX, SLOTS_HELD_MAX,
};
pub use merkle::{LEAF_PREFIX, NODE_PREFIX};
pub use shredder::{Shredder, ShredderError};
pub use verifier::{ShredVerifier, VERIFIED_SETS_MAX};

/// Bytes in every shred, data or coding (Solana's size; at most one [`PACKET_DATA_SIZE`] datagram).
pub const SHRED_SIZE: usize = 1228;
const _: () = assert!(SHRED_SIZE <= PACKET_DATA_SIZE);

/// Bytes of one Merkle proof entry: a SHA-256 node truncated, as Solana does.
pub const PROOF_ENTRY_LEN: usize = 20;
/// Deepest Merkle proof: a tree over [`FEC_SET_SHREDS_MAX`] leaves.
pub const PROOF_DEPTH_MAX: u8 = 8;
/// Most shreds (data + coding) in one FEC set; the Merkle tree has at most this many leaves.
pub const FEC_SET_SHREDS_MAX: usize = 1 << PROOF_DEPTH_MAX;
/// Most data shreds in one set: every set has at least one coding shred.
pub const DATA_SHREDS_PER_FEC_SET_MAX: usize = FEC_SET_SHREDS_MAX - 1;
/// Most data shreds in one slot (Solana's limit); data indices are below it.
pub const DATA_SHREDS_PER_SLOT_MAX: u32 = 32_768;
/// Most coding shreds in one slot; coding indices are below it.
pub const CODING_SHREDS_PER_SLOT_MAX: u32 = 32_768;
/// Default data shreds per FEC set.
pub const DATA_SHREDS_PER_FEC_SET: usize = 32;
/// Default coding shreds per FEC set.
pub const CODING_SHREDS_PER_FEC_SET: usize = 32;

/// Flag: the caller's batch of bytes ends in this data shred (a decodable boundary for replay).
pub const DATA_COMPLETE: u8 = 0x01;
/// Flag: the slot's last data shred (always set together with [`DATA_COMPLETE`]).
pub const LAST_IN_SLOT: u8 = 0x02;
const FLAGS_KNOWN: u8 = DATA_COMPLETE | LAST_IN_SLOT;

const VARIANT_DATA: u8 = 0xD0;
const VARIANT_CODING: u8 = 0xC0;

const SIGNATURE_LEN: usize = 64;
const ROOT_LEN: usize = 32;
const OFF_VARIANT: usize = 64;
const OFF_SLOT: usize = 65;
const OFF_INDEX: usize = 73;
const OFF_VERSION: usize = 77;
const OFF_FEC_SET_INDEX: usize = 79;
/// End of the common header; a data shred's erasure shard starts here.
const COMMON_HEADER_END: usize = 83;
const OFF_PARENT_OFFSET: usize = 83;
const OFF_FLAGS: usize = 85;
const OFF_SIZE: usize = 86;
/// End of the data header: the payload starts here.
const DATA_HEADER_END: usize = 88;
const OFF_NUM_DATA: usize = 83;
const OFF_NUM_CODING: usize = 85;
const OFF_POSITION: usize = 87;
/// End of the coding header: the parity shard starts here.
const CODING_HEADER_END: usize = 89;
/// Erasure shard length at proof depth 0, rounded down to even (reed-solomon-simd needs even shards).
const SHARD_LEN_DEPTH0: usize = (SHRED_SIZE - CODING_HEADER_END - ROOT_LEN) & !1;

/// Erasure shard bytes of every shred of a set whose proofs are `depth` entries long.
pub const fn erasure_shard_len(depth: u8) -> usize {
    SHARD_LEN_DEPTH0 - PROOF_ENTRY_LEN * depth as usize
}

/// Payload bytes one data shred can carry at proof depth `depth` (981 for a 32 + 32 set).
pub const fn data_payload_capacity(depth: u8) -> usize {
    erasure_shard_len(depth) - (DATA_HEADER_END - COMMON_HEADER_END)
}

/// Offset of the chained Merkle root in a shred with a `depth`-entry proof.
const fn chained_root_offset(depth: u8) -> usize {
    proof_offset(depth) - ROOT_LEN
}

/// Offset of the Merkle proof (the end of the bytes a leaf hashes).
const fn proof_offset(depth: u8) -> usize {
    SHRED_SIZE - PROOF_ENTRY_LEN * depth as usize
}

/// Proof depth of a Merkle tree over `leaves` leaves: ⌈log2 leaves⌉ (0 for one leaf).
pub const fn proof_depth(leaves: usize) -> u8 {
    if leaves <= 1 {
        0
    } else {
        (usize::BITS - (leaves - 1).leading_zeros()) as u8
    }
}

/// The shred version of a cluster: its genesis hash folded to 16 bits, plus one (saturating) so it is
/// never 0 and a zeroed header never looks valid (Solana's rule, without hard forks).
pub fn shred_version(genesis_hash: &Hash) -> u16 {
    let mut acc = [0u8; 2];
    for pair in genesis_hash.0.chunks_exact(2) {
        acc[0] ^= pair[0];
        acc[1] ^= pair[1];
    }
    u16::from_be_bytes(acc).saturating_add(1)
}

/// A FEC set's Merkle root: what the leader signs, and what the next set chains to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Root(pub [u8; 32]);

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Hash(self.0).fmt(f)
    }
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root({})", Hash(self.0))
    }
}

/// Whether a shred carries slot data or parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ShredKind {
    /// A slice of the slot's bytes.
    Data,
    /// Reed-Solomon parity over the set's data shards.
    Coding,
}

/// How many data and coding shreds make a FEC set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FecConfig {
    data_shreds: usize,
    coding_shreds: usize,
}

/// Why a [`FecConfig`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FecConfigError {
    /// A count is zero or the set exceeds [`FEC_SET_SHREDS_MAX`].
    #[error(
        "FEC set of {data_shreds} data + {coding_shreds} coding shreds: each must be at least 1 \
         and the total at most {FEC_SET_SHREDS_MAX}"
    )]
    BadCounts {
        /// Requested data shreds per set.
        data_shreds: usize,
        /// Requested coding shreds per set.
        coding_shreds: usize,
    },
}

impl FecConfig {
    /// A set of `data_shreds` + `coding_shreds`; both at least 1, total at most [`FEC_SET_SHREDS_MAX`].
    pub fn new(data_shreds: usize, coding_shreds: usize) -> Result<FecConfig, FecConfigError> {
        let ok = data_shreds >= 1
            && coding_shreds >= 1
            && data_shreds + coding_shreds <= FEC_SET_SHREDS_MAX
            && reed_solomon_simd::ReedSolomonEncoder::supports(data_shreds, coding_shreds);
        if !ok {
            return Err(FecConfigError::BadCounts {
                data_shreds,
                coding_shreds,
            });
        }
        Ok(FecConfig {
            data_shreds,
            coding_shreds,
        })
    }

    /// Data shreds in a full set.
    pub fn data_shreds(&self) -> usize {
        self.data_shreds
    }

    /// Coding shreds in every set, the slot's last (shorter) set included.
    pub fn coding_shreds(&self) -> usize {
        self.coding_shreds
    }

    /// Slot bytes one full set carries.
    pub fn set_capacity(&self) -> usize {
        self.data_shreds * data_payload_capacity(proof_depth(self.data_shreds + self.coding_shreds))
    }
}

impl Default for FecConfig {
    fn default() -> Self {
        FecConfig {
            data_shreds: DATA_SHREDS_PER_FEC_SET,
            coding_shreds: CODING_SHREDS_PER_FEC_SET,
        }
    }
}

/// Why bytes are not an acceptable shred. Each variant is one counted reason (see [`Self::reason`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShredError {
    /// The datagram is not exactly [`SHRED_SIZE`] bytes.
    #[error("shred is {len} bytes, expected {SHRED_SIZE}")]
    BadSize {
        /// Bytes received.
        len: usize,
    },
    /// The variant byte (offset 64) names no kind, or a proof deeper than [`PROOF_DEPTH_MAX`].
    #[error("unknown shred variant {variant:#04x} at offset 64")]
    BadVariant {
        /// The variant byte.
        variant: u8,
    },
    /// The proof depth cannot be that of the set the headers describe.
    #[error(
        "proof depth {depth} does not fit a set whose shred at leaf {leaf} implies {expected}"
    )]
    BadProofDepth {
        /// Depth from the variant byte.
        depth: u8,
        /// The shred's leaf position in the set's tree.
        leaf: usize,
        /// The depth (coding) or minimum depth (data) the headers imply.
        expected: u8,
    },
    /// A data shred's index is outside the set its `fec_set_index` names.
    #[error(
        "data shred index {index} outside FEC set starting at {fec_set_index} \
         (at most {DATA_SHREDS_PER_FEC_SET_MAX} data shreds per set)"
    )]
    IndexOutOfSet {
        /// The shred's index.
        index: u32,
        /// The set's first data index.
        fec_set_index: u32,
    },
    /// An index beyond the per-slot limit.
    #[error("{kind:?} shred index {index} (or its set) reaches past the slot limit {max}")]
    IndexTooLarge {
        /// Which kind of shred.
        kind: ShredKind,
        /// The index at fault.
        index: u32,
        /// The per-slot limit.
        max: u32,
    },
    /// A coding header whose counts are zero or exceed [`FEC_SET_SHREDS_MAX`].
    #[error("coding header (offset 83) announces {num_data} data + {num_coding} coding shreds")]
    BadSetCounts {
        /// `num_data` field.
        num_data: u16,
        /// `num_coding` field.
        num_coding: u16,
    },
    /// A coding shred's position is not below `num_coding`, or above its own index.
    #[error("coding position {position} (offset 87) outside set of {num_coding} at index {index}")]
    PositionOutOfSet {
        /// `position` field.
        position: u16,
        /// `num_coding` field.
        num_coding: u16,
        /// The shred's coding index.
        index: u32,
    },
    /// A parent offset that points before slot 0, or 0 for a slot other than 0.
    #[error("parent offset {parent_offset} (offset 83) invalid for slot {slot}")]
    BadParentOffset {
        /// The shred's slot.
        slot: u64,
        /// `parent_offset` field.
        parent_offset: u16,
    },
    /// Unknown flag bits, or LAST_IN_SLOT without DATA_COMPLETE.
    #[error("data flags {flags:#04x} (offset 85) invalid")]
    BadFlags {
        /// The flags byte.
        flags: u8,
    },
    /// A payload size larger than the shred can hold.
    #[error("payload size {size} (offset 86) exceeds capacity {capacity}")]
    BadPayloadSize {
        /// `size` field.
        size: u16,
        /// Payload capacity at this proof depth.
        capacity: usize,
    },
    /// A byte that must be zero (unused payload or padding) is not.
    #[error("non-zero byte at offset {offset} in payload tail or padding")]
    NonZeroPadding {
        /// First offending offset.
        offset: usize,
    },
    /// The shred belongs to another cluster (or fork of genesis).
    #[error("shred version {found}, this cluster's is {expected}")]
    WrongVersion {
        /// The cluster's version.
        expected: u16,
        /// The shred's version.
        found: u16,
    },
    /// The leader's key bytes are not an ed25519 point.
    #[error("leader key is not a valid ed25519 public key")]
    BadLeaderKey,
    /// The Merkle proof does not lead to the root this set's signature is known to sign.
    #[error("Merkle proof of slot {slot} set {fec_set_index} leaf {leaf} does not reach the signed root")]
    BadMerkleProof {
        /// The shred's slot.
        slot: u64,
        /// The set's first data index.
        fec_set_index: u32,
        /// The shred's leaf position.
        leaf: usize,
    },
    /// `verify_strict` refuses the signature over the root the shred's proof yields.
    #[error("leader signature over slot {slot} set {fec_set_index} root {root} is invalid")]
    BadSignature {
        /// The shred's slot.
        slot: u64,
        /// The set's first data index.
        fec_set_index: u32,
        /// The root recomputed from the shred.
        root: Root,
    },
}

impl ShredError {
    /// Stable snake-case name of the reason, for a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            ShredError::BadSize { .. } => "bad_size",
            ShredError::BadVariant { .. } => "bad_variant",
            ShredError::BadProofDepth { .. } => "bad_proof_depth",
            ShredError::IndexOutOfSet { .. } => "index_out_of_set",
            ShredError::IndexTooLarge { .. } => "index_too_large",
            ShredError::BadSetCounts { .. } => "bad_set_counts",
            ShredError::PositionOutOfSet { .. } => "position_out_of_set",
            ShredError::BadParentOffset { .. } => "bad_parent_offset",
            ShredError::BadFlags { .. } => "bad_flags",
            ShredError::BadPayloadSize { .. } => "bad_payload_size",
            ShredError::NonZeroPadding { .. } => "non_zero_padding",
            ShredError::WrongVersion { .. } => "wrong_version",
            ShredError::BadLeaderKey => "bad_leader_key",
            ShredError::BadMerkleProof { .. } => "bad_merkle_proof",
            ShredError::BadSignature { .. } => "bad_signature",
        }
    }
}

/// A data shred's own header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataHeader {
    /// Slot minus parent slot.
    pub parent_offset: u16,
    /// [`DATA_COMPLETE`] and [`LAST_IN_SLOT`] bits.
    pub flags: u8,
    /// Payload bytes used.
    pub size: u16,
}

/// A coding shred's own header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodingHeader {
    /// Data shreds in the set.
    pub num_data: u16,
    /// Coding shreds in the set.
    pub num_coding: u16,
    /// This shred's place among the set's coding shreds.
    pub position: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KindHeader {
    Data(DataHeader),
    Coding(CodingHeader),
}

/// A parsed, structurally valid shred borrowed from its packet buffer (nothing is copied).
///
/// Parsing checks layout only; authenticity needs [`ShredVerifier::verify`].
#[derive(Debug, Clone, Copy)]
pub struct ShredView<'a> {
    bytes: &'a [u8; SHRED_SIZE],
    depth: u8,
    slot: u64,
    index: u32,
    version: u16,
    fec_set_index: u32,
    header: KindHeader,
}

fn u16_at(b: &[u8; SHRED_SIZE], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8; SHRED_SIZE], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8; SHRED_SIZE], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// First non-zero byte in `b[range]`, as an error naming its offset.
fn check_zero(b: &[u8; SHRED_SIZE], start: usize, end: usize) -> Result<(), ShredError> {
    match b[start..end].iter().position(|&x| x != 0) {
        Some(i) => Err(ShredError::NonZeroPadding { offset: start + i }),
        None => Ok(()),
    }
}

impl<'a> ShredView<'a> {
    /// Checks size, variant, proof depth against the set, index within its set, header fields and
    /// zero padding; never panics, whatever the bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<ShredView<'a>, ShredError> {
        let bytes: &[u8; SHRED_SIZE] = bytes
            .try_into()
            .map_err(|_| ShredError::BadSize { len: bytes.len() })?;
        let variant = bytes[OFF_VARIANT];
        let depth = variant & 0x0F;
        if depth == 0 || depth > PROOF_DEPTH_MAX {
            return Err(ShredError::BadVariant { variant });
        }
        let slot = u64_at(bytes, OFF_SLOT);
        let index = u32_at(bytes, OFF_INDEX);
        let version = u16_at(bytes, OFF_VERSION);
        let fec_set_index = u32_at(bytes, OFF_FEC_SET_INDEX);
        let header = match variant & 0xF0 {
            VARIANT_DATA => Self::parse_data(bytes, depth, slot, index, fec_set_index)?,
            VARIANT_CODING => Self::parse_coding(bytes, depth, index, fec_set_index)?,
            _ => return Err(ShredError::BadVariant { variant }),
        };
        Ok(ShredView {
            bytes,
            depth,
            slot,
            index,
            version,
            fec_set_index,
            header,
        })
    }

    fn parse_data(
        b: &[u8; SHRED_SIZE],
        depth: u8,
        slot: u64,
        index: u32,
        fec_set_index: u32,
    ) -> Result<KindHeader, ShredError> {
        if index >= DATA_SHREDS_PER_SLOT_MAX {
            return Err(ShredError::IndexTooLarge {
                kind: ShredKind::Data,
                index,
                max: DATA_SHREDS_PER_SLOT_MAX,
            });
        }
        let pos = index.wrapping_sub(fec_set_index) as usize;
        if index < fec_set_index || pos >= DATA_SHREDS_PER_FEC_SET_MAX {
            return Err(ShredError::IndexOutOfSet {
                index,
                fec_set_index,
            });
        }
        // The set holds this shred and at least one coding shred after it: pos + 2 leaves at least.
        let min_depth = proof_depth(pos + 2);
        if depth < min_depth {
            return Err(ShredError::BadProofDepth {
                depth,
                leaf: pos,
                expected: min_depth,
            });
        }
        let parent_offset = u16_at(b, OFF_PARENT_OFFSET);
        if (parent_offset == 0) != (slot == 0) || u64::from(parent_offset) > slot {
            return Err(ShredError::BadParentOffset {
                slot,
                parent_offset,
            });
        }
        let flags = b[OFF_FLAGS];
        if flags & !FLAGS_KNOWN != 0 || (flags & LAST_IN_SLOT != 0 && flags & DATA_COMPLETE == 0) {
            return Err(ShredError::BadFlags { flags });
        }
        let size = u16_at(b, OFF_SIZE);
        let capacity = data_payload_capacity(depth);
        if size as usize > capacity {
            return Err(ShredError::BadPayloadSize { size, capacity });
        }
        // Unused payload and padding are zero, so one set of leader bytes has one encoding.
        check_zero(
            b,
            DATA_HEADER_END + size as usize,
            chained_root_offset(depth),
        )?;
        Ok(KindHeader::Data(DataHeader {
            parent_offset,
            flags,
            size,
        }))
    }

    fn parse_coding(
        b: &[u8; SHRED_SIZE],
        depth: u8,
        index: u32,
        fec_set_index: u32,
    ) -> Result<KindHeader, ShredError> {
        let num_data = u16_at(b, OFF_NUM_DATA);
        let num_coding = u16_at(b, OFF_NUM_CODING);
        let position = u16_at(b, OFF_POSITION);
        let total = num_data as usize + num_coding as usize;
        if num_data == 0 || num_coding == 0 || total > FEC_SET_SHREDS_MAX {
            return Err(ShredError::BadSetCounts {
                num_data,
                num_coding,
            });
        }
        if position >= num_coding || u32::from(position) > index {
            return Err(ShredError::PositionOutOfSet {
                position,
                num_coding,
                index,
            });
        }
        if index >= CODING_SHREDS_PER_SLOT_MAX {
            return Err(ShredError::IndexTooLarge {
                kind: ShredKind::Coding,
                index,
                max: CODING_SHREDS_PER_SLOT_MAX,
            });
        }
        if u64::from(fec_set_index) + u64::from(num_data) > u64::from(DATA_SHREDS_PER_SLOT_MAX) {
            return Err(ShredError::IndexTooLarge {
                kind: ShredKind::Data,
                index: fec_set_index,
                max: DATA_SHREDS_PER_SLOT_MAX,
            });
        }
        let expected = proof_depth(total);
        if depth != expected {
            return Err(ShredError::BadProofDepth {
                depth,
                leaf: num_data as usize + position as usize,
                expected,
            });
        }
        let shard_end = CODING_HEADER_END + erasure_shard_len(depth);
        check_zero(b, shard_end, chained_root_offset(depth))?;
        Ok(KindHeader::Coding(CodingHeader {
            num_data,
            num_coding,
            position,
        }))
    }

    /// All [`SHRED_SIZE`] bytes, as received.
    pub fn bytes(&self) -> &'a [u8; SHRED_SIZE] {
        self.bytes
    }

    /// Data or coding.
    pub fn kind(&self) -> ShredKind {
        match self.header {
            KindHeader::Data(_) => ShredKind::Data,
            KindHeader::Coding(_) => ShredKind::Coding,
        }
    }

    /// The slot this shred belongs to.
    pub fn slot(&self) -> u64 {
        self.slot
    }

    /// Data index (data shreds) or coding index (coding shreds) within the slot.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The cluster's shred version as the shred states it.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Data index of the set's first data shred.
    pub fn fec_set_index(&self) -> u32 {
        self.fec_set_index
    }

    /// Merkle proof entries.
    pub fn proof_depth(&self) -> u8 {
        self.depth
    }

    /// The leader's signature over the set's root.
    pub fn signature(&self) -> Signature {
        let mut s = [0u8; SIGNATURE_LEN];
        s.copy_from_slice(&self.bytes[..SIGNATURE_LEN]);
        Signature(s)
    }

    /// The previous set's root, as this shred states it.
    pub fn chained_root(&self) -> Root {
        let off = chained_root_offset(self.depth);
        let mut r = [0u8; ROOT_LEN];
        r.copy_from_slice(&self.bytes[off..off + ROOT_LEN]);
        Root(r)
    }

    /// The data header, for a data shred.
    pub fn data_header(&self) -> Option<DataHeader> {
        match self.header {
            KindHeader::Data(h) => Some(h),
            KindHeader::Coding(_) => None,
        }
    }

    /// The coding header, for a coding shred.
    pub fn coding_header(&self) -> Option<CodingHeader> {
        match self.header {
            KindHeader::Coding(h) => Some(h),
            KindHeader::Data(_) => None,
        }
    }

    /// The slot bytes a data shred carries (empty for a coding shred).
    pub fn payload(&self) -> &'a [u8] {
        match self.header {
            KindHeader::Data(h) => &self.bytes[DATA_HEADER_END..DATA_HEADER_END + h.size as usize],
            KindHeader::Coding(_) => &[],
        }
    }

    /// The parent slot, for a data shred.
    pub fn parent(&self) -> Option<u64> {
        self.data_header()
            .map(|h| self.slot - u64::from(h.parent_offset))
    }

    /// The data flags (0 for a coding shred).
    pub fn flags(&self) -> u8 {
        self.data_header().map_or(0, |h| h.flags)
    }

    /// The shred's leaf position in its set's tree: data shreds first, then coding shreds.
    pub fn leaf_index(&self) -> usize {
        match self.header {
            KindHeader::Data(_) => (self.index - self.fec_set_index) as usize,
            KindHeader::Coding(h) => h.num_data as usize + h.position as usize,
        }
    }

    /// Coding index of the set's first coding shred (coding shreds only).
    pub(crate) fn coding_start(&self) -> Option<u32> {
        self.coding_header()
            .map(|h| self.index - u32::from(h.position))
    }

    /// The bytes the Merkle leaf hashes: after the signature, before the proof.
    pub(crate) fn leaf_bytes(&self) -> &'a [u8] {
        &self.bytes[SIGNATURE_LEN..proof_offset(self.depth)]
    }

    /// Recomputes the set's Merkle root from this shred's leaf and proof.
    pub fn merkle_root(&self) -> Root {
        let proof = &self.bytes[proof_offset(self.depth)..];
        merkle::root_from_proof(merkle::leaf(self.leaf_bytes()), self.leaf_index(), proof)
    }
}

/// The erasure shard of a shred of `kind` at `depth`.
fn shard_of(b: &[u8; SHRED_SIZE], kind: ShredKind, depth: u8) -> &[u8] {
    let start = match kind {
        ShredKind::Data => COMMON_HEADER_END,
        ShredKind::Coding => CODING_HEADER_END,
    };
    &b[start..start + erasure_shard_len(depth)]
}

/// Fields every shred of one set shares, for writing headers.
#[derive(Debug, Clone, Copy)]
struct SetHeader {
    slot: u64,
    version: u16,
    fec_set_index: u32,
    depth: u8,
    chained_root: Root,
}

impl SetHeader {
    /// Writes the common header (signature excluded) and the chained root.
    fn write_common(&self, b: &mut [u8; SHRED_SIZE], kind: ShredKind, index: u32) {
        let kind_bits = match kind {
            ShredKind::Data => VARIANT_DATA,
            ShredKind::Coding => VARIANT_CODING,
        };
        b[OFF_VARIANT] = kind_bits | self.depth;
        b[OFF_SLOT..OFF_SLOT + 8].copy_from_slice(&self.slot.to_le_bytes());
        b[OFF_INDEX..OFF_INDEX + 4].copy_from_slice(&index.to_le_bytes());
        b[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&self.version.to_le_bytes());
        b[OFF_FEC_SET_INDEX..OFF_FEC_SET_INDEX + 4]
            .copy_from_slice(&self.fec_set_index.to_le_bytes());
        let off = chained_root_offset(self.depth);
        b[off..off + ROOT_LEN].copy_from_slice(&self.chained_root.0);
    }

    /// Writes a coding shred's header fields.
    fn write_coding(&self, b: &mut [u8; SHRED_SIZE], h: CodingHeader, coding_index: u32) {
        self.write_common(b, ShredKind::Coding, coding_index);
        b[OFF_NUM_DATA..OFF_NUM_DATA + 2].copy_from_slice(&h.num_data.to_le_bytes());
        b[OFF_NUM_CODING..OFF_NUM_CODING + 2].copy_from_slice(&h.num_coding.to_le_bytes());
        b[OFF_POSITION..OFF_POSITION + 2].copy_from_slice(&h.position.to_le_bytes());
    }
}

/// Writes a data header.
fn write_data_header(b: &mut [u8; SHRED_SIZE], h: DataHeader) {
    b[OFF_PARENT_OFFSET..OFF_PARENT_OFFSET + 2].copy_from_slice(&h.parent_offset.to_le_bytes());
    b[OFF_FLAGS] = h.flags;
    b[OFF_SIZE..OFF_SIZE + 2].copy_from_slice(&h.size.to_le_bytes());
}

/// Recomputes a whole set's Merkle root from its shreds in leaf order (data, then coding); `None` if
/// the slice is empty or a shred's variant names no valid depth.
pub fn fec_set_root(shreds: &[[u8; SHRED_SIZE]]) -> Option<Root> {
    let depth = shreds.first()?[OFF_VARIANT] & 0x0F;
    if depth > PROOF_DEPTH_MAX {
        return None;
    }
    let poff = proof_offset(depth);
    let mut tree = merkle::MerkleTree::default();
    tree.build(shreds.iter().map(|s| merkle::leaf(&s[SIGNATURE_LEN..poff])));
    Some(tree.root())
}
