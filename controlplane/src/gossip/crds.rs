//! Cluster records (CRDS values): what gossip carries, how each is named, signed and hashed.
//!
//! A [`SignedValue`] is one record signed by its origin over `genesis_hash ‖ canonical encoding of
//! (origin, wallclock, data)` (see [`super::wire`]), so a record signed for another cluster never
//! verifies here. Each value has a [`CrdsLabel`]: a table holds at most one value per label, the
//! newest by wallclock (ties broken by the value hash, so every node keeps the same one).

use std::net::SocketAddr;
use std::sync::OnceLock;

use dataplane::packet::PACKET_DATA_SIZE;
use dataplane::types::{Hash, Pubkey, Slot};
use sha2::{Digest, Sha256};

use super::stats::GossipReject;
use super::wire::{self, VALUE_LEN_MAX};
use crate::signer::Signer;

/// Longest vote transaction a Vote value carries: a Solana transaction's wire bound.
pub const VOTE_TX_LEN_MAX: usize = PACKET_DATA_SIZE;
/// Longest chunk of a duplicate-slot proof: small enough that a chunk value fits one datagram.
pub const DUPLICATE_SHRED_CHUNK_LEN_MAX: usize = 1_024;
/// Most chunks one duplicate-slot proof is split into (a ≈ 2.5 KB proof takes 3).
pub const DUPLICATE_SHRED_CHUNKS_MAX: u8 = 8;
/// Longest of the two vote transactions in slashing evidence.
pub const SLASHING_EVIDENCE_VOTE_LEN_MAX: usize = PACKET_DATA_SIZE;

/// A node's software version, announced so rolling upgrades can see who runs what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SoftwareVersion {
    /// Incompatible changes.
    pub major: u16,
    /// Compatible additions.
    pub minor: u16,
    /// Fixes.
    pub patch: u16,
}

/// Where a validator can be reached, and what it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactInfo {
    /// The validator's identity (always the value's origin).
    pub pubkey: Pubkey,
    /// When it was signed, Unix ms (always the value's wallclock).
    pub wallclock_ms: u64,
    /// The cluster's shred version; a node of another shred version is ignored.
    pub shred_version: u16,
    /// Software it runs.
    pub version: SoftwareVersion,
    /// This process's instance: when it started (Unix ms) in the high bits, randomness below. A node
    /// that sees its own identity with a newer instance knows another process runs it, and stops.
    pub instance: u64,
    /// Gossip socket (UDP).
    pub gossip: SocketAddr,
    /// Transaction ingest (UDP).
    pub tpu: SocketAddr,
    /// Vote transaction ingest (UDP).
    pub tpu_vote: SocketAddr,
    /// Shred ingest, Turbine (UDP).
    pub tvu: SocketAddr,
    /// Where it sends repair requests from and receives their answers.
    pub repair: SocketAddr,
    /// Where it answers repair requests.
    pub serve_repair: SocketAddr,
    /// JSON-RPC, if it serves it.
    pub rpc: Option<SocketAddr>,
    /// Transaction ingest over QUIC (Solana's `tpuQuic`), if it serves it and announces it (see
    /// [`TPU_QUIC_SINCE`]).
    pub tpu_quic: Option<SocketAddr>,
    /// Vote ingest over QUIC, staked senders only (Agave's `tpuVoteQuic`), if it serves it and
    /// announces it (see [`TPU_VOTE_QUIC_SINCE`]).
    pub tpu_vote_quic: Option<SocketAddr>,
}

/// The first release whose gossip decodes a contact info's QUIC address. Older releases refuse a
/// contact info that carries one, so a node announces it only once every peer it knows runs this
/// release or newer (a rolling upgrade first replaces every node, then the addresses appear).
pub const TPU_QUIC_SINCE: SoftwareVersion = SoftwareVersion {
    major: 0,
    minor: 2,
    patch: 0,
};

/// The first release whose gossip decodes a contact info's QUIC vote address; announced under the
/// same rule as [`TPU_QUIC_SINCE`].
pub const TPU_VOTE_QUIC_SINCE: SoftwareVersion = SoftwareVersion {
    major: 0,
    minor: 3,
    patch: 0,
};

impl ContactInfo {
    /// A node serving everything on one address (tests, benches, the simulator's hosts), wallclock 0,
    /// instance 0, no RPC.
    pub fn at(pubkey: Pubkey, shred_version: u16, addr: SocketAddr) -> ContactInfo {
        ContactInfo {
            pubkey,
            wallclock_ms: 0,
            shred_version,
            version: SoftwareVersion::default(),
            instance: 0,
            gossip: addr,
            tpu: addr,
            tpu_vote: addr,
            tvu: addr,
            repair: addr,
            serve_repair: addr,
            rpc: None,
            tpu_quic: None,
            tpu_vote_quic: None,
        }
    }
}

/// What a value says.
// Values live behind `Arc<SignedValue>` in the table and in messages: boxing the contact info
// would add an allocation per value and save nothing that is copied.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrdsData {
    /// The origin's addresses and version.
    ContactInfo(ContactInfo),
    /// The origin's newest vote: a Solana vote transaction's wire bytes (gossip does not parse it).
    Vote {
        /// The transaction, at most [`VOTE_TX_LEN_MAX`] bytes.
        tx: Vec<u8>,
    },
    /// One chunk of a duplicate-slot proof (two conflicting shreds of `slot`).
    DuplicateShred {
        /// The slot with two versions.
        slot: Slot,
        /// Which chunk this is, below `num_chunks`.
        chunk_index: u8,
        /// Chunks in the whole proof, 1..=[`DUPLICATE_SHRED_CHUNKS_MAX`].
        num_chunks: u8,
        /// The chunk's bytes, at most [`DUPLICATE_SHRED_CHUNK_LEN_MAX`].
        chunk: Vec<u8>,
    },
    /// Two signed votes of `offender` that break a rule together (a double vote).
    SlashingEvidence {
        /// Who voted twice.
        offender: Pubkey,
        /// Which rule, as the evidence module numbers them.
        kind: u8,
        /// The first vote transaction.
        first: Vec<u8>,
        /// The conflicting vote transaction.
        second: Vec<u8>,
    },
}

/// The kinds of value, in the order the wire tags them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CrdsKind {
    /// [`CrdsData::ContactInfo`].
    ContactInfo,
    /// [`CrdsData::Vote`].
    Vote,
    /// [`CrdsData::DuplicateShred`].
    DuplicateShred,
    /// [`CrdsData::SlashingEvidence`].
    SlashingEvidence,
}

/// Which slot of its origin's records a value fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelKey {
    /// The one contact info.
    ContactInfo,
    /// The one (newest) vote.
    Vote,
    /// A chunk of the proof for a slot.
    DuplicateShred {
        /// The slot.
        slot: Slot,
        /// The chunk.
        chunk_index: u8,
    },
    /// Evidence against an offender, told apart by the first vote's SHA-256.
    SlashingEvidence {
        /// The offender.
        offender: Pubkey,
        /// SHA-256 of the first vote transaction.
        first_vote: Hash,
    },
}

/// A value's name: a newer value with the same label replaces an older one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CrdsLabel {
    /// Who signed it.
    pub origin: Pubkey,
    /// Which of the origin's records it is.
    pub key: LabelKey,
}

/// One record, signed by its origin. Build it with [`SignedValue::new`] or
/// [`SignedValue::sign`]; once hashed, it is not to be changed (values travel behind `Arc`).
pub struct SignedValue {
    /// The signer.
    pub origin: Pubkey,
    /// When it was signed, Unix ms (virtual ms in the simulator).
    pub wallclock_ms: u64,
    /// The record.
    pub data: CrdsData,
    /// The origin's ed25519 signature over `genesis_hash ‖ encoding of (origin, wallclock, data)`.
    pub signature: [u8; 64],
    /// [`SignedValue::hash`], computed on first use: every node a value reaches needs it (its
    /// table keeps it), and in the simulator they all share one `Arc` of the value.
    hash: OnceLock<Hash>,
}

impl std::fmt::Debug for SignedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedValue")
            .field("origin", &self.origin)
            .field("wallclock_ms", &self.wallclock_ms)
            .field("data", &self.data)
            .field("signature", &self.signature)
            .finish()
    }
}

/// A copy is made to be changed (shared values are shared by `Arc`), so it hashes afresh.
impl Clone for SignedValue {
    fn clone(&self) -> Self {
        SignedValue::new(
            self.origin,
            self.wallclock_ms,
            self.data.clone(),
            self.signature,
        )
    }
}

/// Equal values are equal in every signed field and the signature; the hash follows from them.
impl PartialEq for SignedValue {
    fn eq(&self, other: &Self) -> bool {
        self.origin == other.origin
            && self.wallclock_ms == other.wallclock_ms
            && self.signature == other.signature
            && self.data == other.data
    }
}

impl Eq for SignedValue {}

impl CrdsData {
    /// The value's kind.
    pub fn kind(&self) -> CrdsKind {
        match self {
            CrdsData::ContactInfo(_) => CrdsKind::ContactInfo,
            CrdsData::Vote { .. } => CrdsKind::Vote,
            CrdsData::DuplicateShred { .. } => CrdsKind::DuplicateShred,
            CrdsData::SlashingEvidence { .. } => CrdsKind::SlashingEvidence,
        }
    }

    /// Which of its origin's records this is. Slashing evidence hashes its first vote (evidence is
    /// rare, so the SHA-256 costs little).
    pub fn label_key(&self) -> LabelKey {
        match self {
            CrdsData::ContactInfo(_) => LabelKey::ContactInfo,
            CrdsData::Vote { .. } => LabelKey::Vote,
            CrdsData::DuplicateShred {
                slot, chunk_index, ..
            } => LabelKey::DuplicateShred {
                slot: *slot,
                chunk_index: *chunk_index,
            },
            CrdsData::SlashingEvidence {
                offender, first, ..
            } => LabelKey::SlashingEvidence {
                offender: *offender,
                first_vote: Hash::of(first),
            },
        }
    }

    /// Checks the per-field bounds and the chunk numbering (not the signature).
    pub fn check_bounds(&self) -> Result<(), GossipReject> {
        match self {
            CrdsData::ContactInfo(_) => Ok(()),
            CrdsData::Vote { tx } => check_len("vote transaction", tx.len(), VOTE_TX_LEN_MAX),
            CrdsData::DuplicateShred {
                chunk_index,
                num_chunks,
                chunk,
                ..
            } => {
                check_len(
                    "duplicate shred chunk count",
                    usize::from(*num_chunks),
                    usize::from(DUPLICATE_SHRED_CHUNKS_MAX),
                )?;
                if chunk_index >= num_chunks {
                    return Err(GossipReject::Malformed {
                        field: "duplicate shred chunk index",
                        offset: 0,
                        problem: "chunk index not below the chunk count",
                    });
                }
                check_len(
                    "duplicate shred chunk",
                    chunk.len(),
                    DUPLICATE_SHRED_CHUNK_LEN_MAX,
                )
            }
            CrdsData::SlashingEvidence { first, second, .. } => {
                check_len(
                    "slashing evidence first vote",
                    first.len(),
                    SLASHING_EVIDENCE_VOTE_LEN_MAX,
                )?;
                check_len(
                    "slashing evidence second vote",
                    second.len(),
                    SLASHING_EVIDENCE_VOTE_LEN_MAX,
                )
            }
        }
    }
}

fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), GossipReject> {
    if len > max {
        return Err(GossipReject::Oversized { field, len, max });
    }
    Ok(())
}

impl SignedValue {
    /// A value from its parts (the signature is not checked here).
    pub fn new(origin: Pubkey, wallclock_ms: u64, data: CrdsData, signature: [u8; 64]) -> Self {
        SignedValue {
            origin,
            wallclock_ms,
            data,
            signature,
            hash: OnceLock::new(),
        }
    }

    /// Signs `data` as `signer` at `wallclock_ms` for the cluster of `genesis_hash`. A contact
    /// info's own `pubkey` and `wallclock_ms` are set to the value's, which they must equal.
    pub fn sign(
        signer: &dyn Signer,
        genesis_hash: &Hash,
        wallclock_ms: u64,
        mut data: CrdsData,
    ) -> SignedValue {
        let origin = signer.pubkey();
        if let CrdsData::ContactInfo(ci) = &mut data {
            ci.pubkey = origin;
            ci.wallclock_ms = wallclock_ms;
        }
        let mut value = SignedValue::new(origin, wallclock_ms, data, [0; 64]);
        value.signature = signer.sign(&value.signable_bytes(genesis_hash));
        value
    }

    /// What the origin signs: `genesis_hash ‖ encoding of (origin, wallclock, data)`.
    pub fn signable_bytes(&self, genesis_hash: &Hash) -> Vec<u8> {
        let mut out = Vec::with_capacity(Hash::LEN + wire::value_encoded_len(self));
        out.extend_from_slice(genesis_hash.as_bytes());
        wire::put_value_unsigned(&mut out, self);
        out
    }

    /// The value's identity: SHA-256 of its whole wire encoding, signature included. Pull
    /// requests' Bloom filters and equal-wallclock tie-breaks use it. Computed once per value.
    pub fn hash(&self) -> Hash {
        *self.hash.get_or_init(|| {
            let mut hasher = Sha256::new();
            wire::put_value(&mut hasher, self);
            Hash(hasher.finalize().into())
        })
    }

    /// The value's kind.
    pub fn kind(&self) -> CrdsKind {
        self.data.kind()
    }

    /// The value's label.
    pub fn label(&self) -> CrdsLabel {
        CrdsLabel {
            origin: self.origin,
            key: self.data.label_key(),
        }
    }

    /// The contact info, if this value is one.
    pub fn contact_info(&self) -> Option<&ContactInfo> {
        match &self.data {
            CrdsData::ContactInfo(ci) => Some(ci),
            _ => None,
        }
    }

    /// Checks everything about the value's shape that needs no signature or table: field bounds,
    /// a contact info naming its value's origin and wallclock, and the whole value fitting one
    /// datagram.
    pub fn check_shape(&self) -> Result<(), GossipReject> {
        self.data.check_bounds()?;
        if let Some(ci) = self.contact_info() {
            if ci.pubkey != self.origin || ci.wallclock_ms != self.wallclock_ms {
                return Err(GossipReject::Malformed {
                    field: "contact info",
                    offset: 0,
                    problem: "pubkey or wallclock differs from the value's origin or wallclock",
                });
            }
        }
        check_len("value", wire::value_encoded_len(self), VALUE_LEN_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn contact_info() -> ContactInfo {
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8001));
        ContactInfo::at(Pubkey::default(), 7, addr)
    }

    #[test]
    fn signing_fills_the_contact_infos_identity_and_wallclock() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let v = SignedValue::sign(
            &key,
            &Hash::default(),
            1234,
            CrdsData::ContactInfo(contact_info()),
        );
        let ci = v.contact_info().expect("contact info");
        assert_eq!(ci.pubkey, Signer::pubkey(&key));
        assert_eq!(ci.wallclock_ms, 1234);
        assert!(v.check_shape().is_ok());
    }

    #[test]
    fn the_signature_binds_the_cluster() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let data = CrdsData::Vote { tx: vec![1, 2, 3] };
        let a = SignedValue::sign(&key, &Hash([1; 32]), 5, data.clone());
        let b = SignedValue::sign(&key, &Hash([2; 32]), 5, data);
        assert_ne!(a.signature, b.signature);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn chunk_numbering_and_lengths_are_bounded() {
        let chunk = |chunk_index, num_chunks, len| CrdsData::DuplicateShred {
            slot: Slot(9),
            chunk_index,
            num_chunks,
            chunk: vec![0; len],
        };
        assert!(chunk(2, 3, 10).check_bounds().is_ok());
        assert!(matches!(
            chunk(3, 3, 10).check_bounds(),
            Err(GossipReject::Malformed { .. })
        ));
        assert!(matches!(
            chunk(0, DUPLICATE_SHRED_CHUNKS_MAX + 1, 10).check_bounds(),
            Err(GossipReject::Oversized { .. })
        ));
        assert!(matches!(
            chunk(0, 1, DUPLICATE_SHRED_CHUNK_LEN_MAX + 1).check_bounds(),
            Err(GossipReject::Oversized { .. })
        ));
    }
}
