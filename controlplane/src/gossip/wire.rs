//! Gossip messages and their wire format: one message per datagram of at most
//! [`DATAGRAM_LEN_MAX`] bytes, versioned, bounded, canonical.
//!
//! ```text
//! datagram      := version:u8 (=1) ‖ tag:u8 ‖ body                  (integers little-endian)
//! Push (1), PullResponse (3) := from:[32] ‖ count:u8 (1..=16) ‖ value × count
//! PullRequest (2)            := filter ‖ caller:value (a contact info)
//! Prune (4)     := from:[32] ‖ destination:[32] ‖ count:u8 (1..=32) ‖ origin:[32] × count
//!                  (strictly ascending) ‖ wallclock_ms:u64 ‖ signature:[64]
//! filter        := mask:u64 ‖ mask_bits:u8 ‖ key_count:u8 ‖ key:u64 × key_count
//!                  ‖ word_count:u16 ‖ word:u64 × word_count          (see `bloom` for the hashing)
//! value         := origin:[32] ‖ wallclock_ms:u64 ‖ data ‖ signature:[64]
//! data          := 0 ‖ shred_version:u16 ‖ major:u16 ‖ minor:u16 ‖ patch:u16 ‖ instance:u64
//!                    ‖ gossip ‖ tpu ‖ tpu_vote ‖ tvu ‖ repair ‖ serve_repair
//!                    ‖ optional:u8 (bit 0: rpc, bit 1: tpu_quic, bit 2: tpu_vote_quic)
//!                    ‖ rpc:addr? ‖ tpu_quic:addr? ‖ tpu_vote_quic:addr?
//!                | 1 ‖ len:u16 ‖ vote transaction
//!                | 2 ‖ slot:u64 ‖ chunk_index:u8 ‖ num_chunks:u8 ‖ len:u16 ‖ chunk
//!                | 3 ‖ offender:[32] ‖ kind:u8 ‖ len:u16 ‖ first ‖ len:u16 ‖ second
//! addr          := 4 ‖ ipv4:[4] ‖ port:u16  |  6 ‖ ipv6:[16] ‖ port:u16
//! ```
//!
//! A value's signature covers `genesis_hash ‖ value bytes up to the signature`; a contact info's
//! pubkey and wallclock are not repeated inside it (they are the value's). A prune's covers
//! `PRUNE_SIGNING_DOMAIN ‖ genesis_hash ‖ its bytes from destination to the signature`. Every field has one
//! encoding, so decoding then encoding gives back the same bytes, and the signature can be checked
//! over the received bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;

use dataplane::byte_reader::{ByteReader, Prefix, ReadError, ReadErrorKind};
use dataplane::packet::PACKET_DATA_SIZE;
use dataplane::types::{Hash, Pubkey, Slot};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::bloom::{
    Bloom, BLOOM_KEYS_MAX, BLOOM_WORDS_0_2_BUILT_MAX, BLOOM_WORDS_BUILT_MAX, BLOOM_WORDS_MAX,
};
use super::crds::{
    ContactInfo, CrdsData, SignedValue, SoftwareVersion, DUPLICATE_SHRED_CHUNKS_MAX,
    DUPLICATE_SHRED_CHUNK_LEN_MAX, SLASHING_EVIDENCE_VOTE_LEN_MAX, VOTE_TX_LEN_MAX,
};
use super::prune::{PruneMessage, PRUNE_ORIGINS_MAX, PRUNE_SIGNING_DOMAIN};
use super::stats::GossipReject;
use crate::signer::Verified;

/// Longest gossip datagram: Solana's packet payload bound, which needs no IP fragmentation.
pub const DATAGRAM_LEN_MAX: usize = PACKET_DATA_SIZE;
/// A contact info's optional-address bit: it serves JSON-RPC.
const OPTIONAL_RPC: u8 = 1;
/// A contact info's optional-address bit: it serves the QUIC TPU (decoded since
/// [`super::crds::TPU_QUIC_SINCE`]).
const OPTIONAL_TPU_QUIC: u8 = 2;
/// A contact info's optional-address bit: it takes votes over QUIC (decoded since
/// [`super::crds::TPU_VOTE_QUIC_SINCE`]).
const OPTIONAL_TPU_VOTE_QUIC: u8 = 4;
/// The wire format's version, the first byte of every datagram.
pub const WIRE_VERSION: u8 = 1;
/// Most values in one push or pull response (the smallest value is 107 bytes, so 11 fit).
pub const VALUES_PER_MESSAGE_MAX: usize = 16;
/// Bytes before the first value of a push or pull response: version, tag, sender, count.
pub const VALUES_HEADER_LEN: usize = 2 + 32 + 1;
/// Longest value: one that fits a push datagram alone.
pub const VALUE_LEN_MAX: usize = DATAGRAM_LEN_MAX - VALUES_HEADER_LEN;
/// Longest contact info value (every address IPv6, RPC and both QUIC ones included).
pub const CONTACT_INFO_VALUE_LEN_MAX: usize = VALUE_OVERHEAD_LEN + 16 + 9 * ADDR_V6_LEN + 1;
/// Longest filter header: mask, mask bits, key count, keys, word count.
pub const BLOOM_HEADER_LEN_MAX: usize = 8 + 1 + 1 + 8 * BLOOM_KEYS_MAX + 2;
/// A prune datagram's bytes besides its origins: version, tag, sender, destination, origin count,
/// wallclock, signature.
pub const PRUNE_OVERHEAD_LEN: usize = 2 + 32 + 32 + 1 + 8 + 64;

/// Origin, wallclock, data kind and signature: what every value spends beside its data.
const VALUE_OVERHEAD_LEN: usize = 32 + 8 + 1 + 64;
const ADDR_V4_LEN: usize = 1 + 4 + 2;
const ADDR_V6_LEN: usize = 1 + 16 + 2;

const TAG_PUSH: u8 = 1;
const TAG_PULL_REQUEST: u8 = 2;
const TAG_PULL_RESPONSE: u8 = 3;
const TAG_PRUNE: u8 = 4;

const KIND_CONTACT_INFO: u8 = 0;
const KIND_VOTE: u8 = 1;
const KIND_DUPLICATE_SHRED: u8 = 2;
const KIND_SLASHING_EVIDENCE: u8 = 3;

// The largest pull request this node builds (fullest filter, largest contact info) fits one
// datagram; so does the largest one of a release before 0.2 (no QUIC address) or 0.3 (no QUIC vote
// address).
const _: () = assert!(
    2 + BLOOM_HEADER_LEN_MAX + 8 * BLOOM_WORDS_BUILT_MAX + CONTACT_INFO_VALUE_LEN_MAX
        <= DATAGRAM_LEN_MAX
);
const _: () = assert!(
    2 + BLOOM_HEADER_LEN_MAX + 8 * BLOOM_WORDS_MAX + CONTACT_INFO_VALUE_LEN_MAX - 2 * ADDR_V6_LEN
        <= DATAGRAM_LEN_MAX
);
const _: () = assert!(
    2 + BLOOM_HEADER_LEN_MAX + 8 * BLOOM_WORDS_0_2_BUILT_MAX + CONTACT_INFO_VALUE_LEN_MAX
        - ADDR_V6_LEN
        <= DATAGRAM_LEN_MAX
);
// So does the largest prune.
const _: () = assert!(PRUNE_OVERHEAD_LEN + 32 * PRUNE_ORIGINS_MAX <= DATAGRAM_LEN_MAX);

/// A gossip message: what one datagram carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GossipMessage {
    /// New values, pushed to a few peers. `from` is the sender's claim and is not trusted.
    Push {
        /// The sender.
        from: Pubkey,
        /// The values, each signed by its origin.
        values: Vec<Arc<SignedValue>>,
    },
    /// "Send me what you hold that is not in this filter."
    PullRequest {
        /// Hashes of the values the requester holds (one partition of them).
        filter: Bloom,
        /// The requester's own contact info, itself a value for the responder to insert.
        caller: Arc<SignedValue>,
    },
    /// Values answering a pull request.
    PullResponse {
        /// The responder.
        from: Pubkey,
        /// The values.
        values: Vec<Arc<SignedValue>>,
    },
    /// "Stop pushing me these origins' values", signed by the receiver that asks. Boxed: it is
    /// twice the size of the other messages, and messages are moved around in queues.
    Prune(Box<PruneMessage>),
}

/// Something bytes can be written to: a buffer, or a hasher (to hash without encoding first).
pub(crate) trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        Digest::update(self, bytes);
    }
}

/// The datagram for `msg`. Its values must pass [`SignedValue::check_shape`] (all the state
/// machine sends do); the result is at most [`DATAGRAM_LEN_MAX`] bytes when `msg` fits.
pub fn encode(msg: &GossipMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(msg));
    out.push(WIRE_VERSION);
    match msg {
        GossipMessage::Push { from, values } => put_values(&mut out, TAG_PUSH, from, values),
        GossipMessage::PullRequest { filter, caller } => {
            out.push(TAG_PULL_REQUEST);
            out.put(&filter.mask().to_le_bytes());
            out.push(filter.mask_bits());
            out.push(len_u8(filter.keys().len()));
            for key in filter.keys() {
                out.put(&key.to_le_bytes());
            }
            out.put(&len_u16(filter.words().len()).to_le_bytes());
            for word in filter.words() {
                out.put(&word.to_le_bytes());
            }
            put_value(&mut out, caller);
        }
        GossipMessage::PullResponse { from, values } => {
            put_values(&mut out, TAG_PULL_RESPONSE, from, values)
        }
        GossipMessage::Prune(prune) => {
            out.push(TAG_PRUNE);
            out.put(prune.from.as_bytes());
            put_prune_signed(&mut out, prune);
            out.put(&prune.signature);
        }
    }
    out
}

/// The length of [`encode`]'s output, computed from field lengths without encoding.
pub fn encoded_len(msg: &GossipMessage) -> usize {
    match msg {
        GossipMessage::Push { values, .. } | GossipMessage::PullResponse { values, .. } => {
            VALUES_HEADER_LEN + values.iter().map(|v| value_encoded_len(v)).sum::<usize>()
        }
        GossipMessage::PullRequest { filter, caller } => {
            2 + 8
                + 1
                + 1
                + 8 * filter.keys().len()
                + 2
                + 8 * filter.words().len()
                + value_encoded_len(caller)
        }
        GossipMessage::Prune(prune) => PRUNE_OVERHEAD_LEN + 32 * prune.origins.len(),
    }
}

/// Writes what a prune's signature covers after the domain and genesis hash: destination, origin
/// count, origins, wallclock.
pub(crate) fn put_prune_signed(sink: &mut impl Sink, prune: &PruneMessage) {
    sink.put(prune.destination.as_bytes());
    sink.put(&[len_u8(prune.origins.len())]);
    for origin in &prune.origins {
        sink.put(origin.as_bytes());
    }
    sink.put(&prune.wallclock_ms.to_le_bytes());
}

/// The length of [`put_prune_signed`]'s output.
pub(crate) fn prune_signed_len(prune: &PruneMessage) -> usize {
    32 + 1 + 32 * prune.origins.len() + 8
}

/// The encoded length of one value.
pub fn value_encoded_len(value: &SignedValue) -> usize {
    VALUE_OVERHEAD_LEN
        + match &value.data {
            CrdsData::ContactInfo(ci) => {
                // Shred version, software version, instance.
                16 + [
                    ci.gossip,
                    ci.tpu,
                    ci.tpu_vote,
                    ci.tvu,
                    ci.repair,
                    ci.serve_repair,
                ]
                .iter()
                .map(addr_len)
                .sum::<usize>()
                    + 1
                    + ci.rpc.as_ref().map_or(0, addr_len)
                    + ci.tpu_quic.as_ref().map_or(0, addr_len)
                    + ci.tpu_vote_quic.as_ref().map_or(0, addr_len)
            }
            CrdsData::Vote { tx } => 2 + tx.len(),
            CrdsData::DuplicateShred { chunk, .. } => 8 + 1 + 1 + 2 + chunk.len(),
            CrdsData::SlashingEvidence { first, second, .. } => {
                32 + 1 + 2 + first.len() + 2 + second.len()
            }
        }
}

fn put_values(out: &mut Vec<u8>, tag: u8, from: &Pubkey, values: &[Arc<SignedValue>]) {
    out.push(tag);
    out.put(from.as_bytes());
    out.push(len_u8(values.len()));
    for v in values {
        put_value(out, v);
    }
}

/// Writes a value, signature included.
pub(crate) fn put_value(sink: &mut impl Sink, value: &SignedValue) {
    put_value_unsigned(sink, value);
    sink.put(&value.signature);
}

/// Writes what a value's signature covers (after the genesis hash): everything but the signature.
pub(crate) fn put_value_unsigned(sink: &mut impl Sink, value: &SignedValue) {
    sink.put(value.origin.as_bytes());
    sink.put(&value.wallclock_ms.to_le_bytes());
    match &value.data {
        CrdsData::ContactInfo(ci) => {
            sink.put(&[KIND_CONTACT_INFO]);
            sink.put(&ci.shred_version.to_le_bytes());
            sink.put(&ci.version.major.to_le_bytes());
            sink.put(&ci.version.minor.to_le_bytes());
            sink.put(&ci.version.patch.to_le_bytes());
            sink.put(&ci.instance.to_le_bytes());
            for addr in [
                ci.gossip,
                ci.tpu,
                ci.tpu_vote,
                ci.tvu,
                ci.repair,
                ci.serve_repair,
            ] {
                put_addr(sink, &addr);
            }
            // Before 0.2 the byte was only the RPC flag (0 or 1), so a contact info without a QUIC
            // address has the same bytes as then.
            let optional = (u8::from(ci.rpc.is_some()) * OPTIONAL_RPC)
                | (u8::from(ci.tpu_quic.is_some()) * OPTIONAL_TPU_QUIC)
                | (u8::from(ci.tpu_vote_quic.is_some()) * OPTIONAL_TPU_VOTE_QUIC);
            sink.put(&[optional]);
            for addr in [&ci.rpc, &ci.tpu_quic, &ci.tpu_vote_quic]
                .into_iter()
                .flatten()
            {
                put_addr(sink, addr);
            }
        }
        CrdsData::Vote { tx } => {
            sink.put(&[KIND_VOTE]);
            put_bytes(sink, tx);
        }
        CrdsData::DuplicateShred {
            slot,
            chunk_index,
            num_chunks,
            chunk,
        } => {
            sink.put(&[KIND_DUPLICATE_SHRED]);
            sink.put(&slot.0.to_le_bytes());
            sink.put(&[*chunk_index, *num_chunks]);
            put_bytes(sink, chunk);
        }
        CrdsData::SlashingEvidence {
            offender,
            kind,
            first,
            second,
        } => {
            sink.put(&[KIND_SLASHING_EVIDENCE]);
            sink.put(offender.as_bytes());
            sink.put(&[*kind]);
            put_bytes(sink, first);
            put_bytes(sink, second);
        }
    }
}

fn put_bytes(sink: &mut impl Sink, bytes: &[u8]) {
    sink.put(&len_u16(bytes.len()).to_le_bytes());
    sink.put(bytes);
}

fn put_addr(sink: &mut impl Sink, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            sink.put(&[4]);
            sink.put(&ip.octets());
        }
        IpAddr::V6(ip) => {
            sink.put(&[6]);
            sink.put(&ip.octets());
        }
    }
    sink.put(&addr.port().to_le_bytes());
}

fn addr_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => ADDR_V4_LEN,
        SocketAddr::V6(_) => ADDR_V6_LEN,
    }
}

// Lengths written are bounded far below these types' ranges by `check_shape` and the message
// bounds; saturating keeps an out-of-contract value from wrapping into a different valid one.
fn len_u8(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(u8::MAX)
}

fn len_u16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// Decodes one datagram and checks every signature (ed25519 `verify_strict`: a value's by its
/// origin, over `genesis_hash ‖ value bytes`; a prune's by its sender). Bounds every length, rejects trailing bytes, never
/// panics, and allocates only what the datagram's own bytes fill.
pub fn decode_and_verify(
    bytes: &[u8],
    genesis_hash: &Hash,
) -> Result<Verified<GossipMessage>, GossipReject> {
    decode_and_verify_unheld(bytes, genesis_hash, |_| false).map(|(msg, _)| msg)
}

/// As [`decode_and_verify`], but pushed and pulled values for which `held` says the receiver
/// already holds this very value (`Gossip::holds`: the same value, byte for byte) are kept
/// without verifying their signatures again, and their number returned: identical bytes to a
/// value verified before need no second check, and with push fanout many arrivals are such
/// duplicates. They stay in the message because who delivered a duplicate is what prune
/// decides on. A pull request's caller and a prune are always verified.
pub fn decode_and_verify_unheld(
    bytes: &[u8],
    genesis_hash: &Hash,
    held: impl Fn(&SignedValue) -> bool,
) -> Result<(Verified<GossipMessage>, usize), GossipReject> {
    let (msg, signed) = decode(bytes)?;
    // Parsing is cheap and done first; signatures are checked only for a well-formed datagram.
    let mut verifier = Verifier {
        bytes,
        genesis_hash,
        signable: Vec::with_capacity(Hash::LEN + DATAGRAM_LEN_MAX),
    };
    let mut skipped = 0;
    let msg = match msg {
        GossipMessage::Push { from, values } => {
            let values = verifier.unheld(values, &signed, &held, &mut skipped)?;
            GossipMessage::Push { from, values }
        }
        GossipMessage::PullResponse { from, values } => {
            let values = verifier.unheld(values, &signed, &held, &mut skipped)?;
            GossipMessage::PullResponse { from, values }
        }
        GossipMessage::PullRequest { filter, caller } => {
            verifier.verify(&caller, signed[0])?;
            GossipMessage::PullRequest { filter, caller }
        }
        GossipMessage::Prune(prune) => {
            verifier.verify_prune(&prune, signed[0])?;
            GossipMessage::Prune(prune)
        }
    };
    Ok((Verified::assume_checked(msg), skipped))
}

struct Verifier<'a> {
    bytes: &'a [u8],
    genesis_hash: &'a Hash,
    signable: Vec<u8>,
}

impl Verifier<'_> {
    fn verify(&mut self, value: &SignedValue, range: (usize, usize)) -> Result<(), GossipReject> {
        let bad = || GossipReject::BadSignature {
            origin: value.origin,
        };
        let key = VerifyingKey::from_bytes(&value.origin.0).map_err(|_| bad())?;
        self.signable.clear();
        self.signable
            .extend_from_slice(self.genesis_hash.as_bytes());
        self.signable
            .extend_from_slice(&self.bytes[range.0..range.1]);
        key.verify_strict(&self.signable, &Signature::from_bytes(&value.signature))
            .map_err(|_| bad())
    }

    /// A prune's signature, by its sender, over the domain, genesis hash and signed range.
    fn verify_prune(
        &mut self,
        prune: &PruneMessage,
        range: (usize, usize),
    ) -> Result<(), GossipReject> {
        let bad = || GossipReject::BadSignature { origin: prune.from };
        let key = VerifyingKey::from_bytes(&prune.from.0).map_err(|_| bad())?;
        self.signable.clear();
        self.signable.extend_from_slice(PRUNE_SIGNING_DOMAIN);
        self.signable
            .extend_from_slice(self.genesis_hash.as_bytes());
        self.signable
            .extend_from_slice(&self.bytes[range.0..range.1]);
        key.verify_strict(&self.signable, &Signature::from_bytes(&prune.signature))
            .map_err(|_| bad())
    }

    /// Verifies every value `held` does not vouch for; counts the others in `skipped`.
    fn unheld(
        &mut self,
        values: Vec<Arc<SignedValue>>,
        signed: &[(usize, usize)],
        held: &impl Fn(&SignedValue) -> bool,
        skipped: &mut usize,
    ) -> Result<Vec<Arc<SignedValue>>, GossipReject> {
        for (value, &range) in values.iter().zip(signed) {
            if held(value) {
                *skipped += 1;
                continue;
            }
            self.verify(value, range)?;
        }
        Ok(values)
    }
}

/// Each value's signed bytes within the datagram, as `(start, end)`.
type SignedRanges = Vec<(usize, usize)>;

/// Parses a datagram without checking signatures.
fn decode(bytes: &[u8]) -> Result<(GossipMessage, SignedRanges), GossipReject> {
    if bytes.len() > DATAGRAM_LEN_MAX {
        return Err(GossipReject::Oversized {
            field: "datagram",
            len: bytes.len(),
            max: DATAGRAM_LEN_MAX,
        });
    }
    let mut r = ByteReader::new(bytes);
    let version = r.u8("version")?;
    if version != WIRE_VERSION {
        return Err(malformed(&r, "version", "unknown wire version"));
    }
    let tag = r.u8("message tag")?;
    let mut signed = Vec::new();
    let msg = match tag {
        TAG_PUSH | TAG_PULL_RESPONSE => {
            let from = Pubkey(r.array("sender")?);
            let count = r.count(
                "value count",
                Prefix::U8,
                VALUES_PER_MESSAGE_MAX,
                VALUE_OVERHEAD_LEN,
            )?;
            if count == 0 {
                return Err(malformed(&r, "value count", "no values"));
            }
            let mut values = Vec::with_capacity(count);
            for _ in 0..count {
                let (value, range) = read_value(&mut r)?;
                values.push(Arc::new(value));
                signed.push(range);
            }
            if tag == TAG_PUSH {
                GossipMessage::Push { from, values }
            } else {
                GossipMessage::PullResponse { from, values }
            }
        }
        TAG_PULL_REQUEST => {
            let filter = read_bloom(&mut r)?;
            let at = r.position();
            let (caller, range) = read_value(&mut r)?;
            if caller.contact_info().is_none() {
                return Err(GossipReject::Malformed {
                    field: "pull request caller",
                    offset: at,
                    problem: "not a contact info",
                });
            }
            signed.push(range);
            GossipMessage::PullRequest {
                filter,
                caller: Arc::new(caller),
            }
        }
        TAG_PRUNE => {
            let (prune, range) = read_prune(&mut r)?;
            signed.push(range);
            GossipMessage::Prune(Box::new(prune))
        }
        _ => return Err(malformed(&r, "message tag", "unknown message tag")),
    };
    r.finish("datagram")?;
    Ok((msg, signed))
}

impl From<ReadError> for GossipReject {
    fn from(e: ReadError) -> Self {
        match e.kind {
            ReadErrorKind::TooLarge { value, max } => GossipReject::Oversized {
                field: e.field,
                len: value,
                max,
            },
            ReadErrorKind::Truncated { .. }
            | ReadErrorKind::NonCanonical
            | ReadErrorKind::TrailingBytes { .. } => GossipReject::Malformed {
                field: e.field,
                offset: e.offset,
                problem: e.problem(),
            },
        }
    }
}

/// A malformed `field` at the reader's position.
fn malformed(r: &ByteReader<'_>, field: &'static str, problem: &'static str) -> GossipReject {
    GossipReject::Malformed {
        field,
        offset: r.position(),
        problem,
    }
}

/// A u16-length-prefixed byte string of at most `max` bytes; the length is checked before
/// anything is allocated, and the allocation is what the datagram holds.
fn read_bytes(
    r: &mut ByteReader<'_>,
    field: &'static str,
    max: usize,
) -> Result<Vec<u8>, GossipReject> {
    Ok(r.prefixed(field, Prefix::U16, max)?.to_vec())
}

fn read_addr(r: &mut ByteReader<'_>, field: &'static str) -> Result<SocketAddr, GossipReject> {
    match r.u8(field)? {
        4 => {
            let ip = Ipv4Addr::from(r.array::<4>(field)?);
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, r.u16(field)?)))
        }
        6 => {
            let ip = Ipv6Addr::from(r.array::<16>(field)?);
            Ok(SocketAddr::V6(SocketAddrV6::new(ip, r.u16(field)?, 0, 0)))
        }
        _ => Err(malformed(r, field, "address family not 4 or 6")),
    }
}

fn read_bloom(r: &mut ByteReader<'_>) -> Result<Bloom, GossipReject> {
    let at = r.position();
    let mask = r.u64("filter mask")?;
    let mask_bits = r.u8("filter mask bits")?;
    let key_count = r.count("filter key count", Prefix::U8, BLOOM_KEYS_MAX, 8)?;
    let keys = (0..key_count)
        .map(|_| r.u64("filter key"))
        .collect::<Result<Vec<u64>, _>>()?;
    let word_count = r.count("filter word count", Prefix::U16, BLOOM_WORDS_MAX, 8)?;
    let words = (0..word_count)
        .map(|_| r.u64("filter word"))
        .collect::<Result<Vec<u64>, _>>()?;
    Bloom::from_parts(keys, words, mask, mask_bits).map_err(|e| GossipReject::Malformed {
        field: "filter",
        offset: at,
        problem: e.problem(),
    })
}

/// A shape error found after reading, reported at the offset where the message or value starts.
fn at_start(e: GossipReject, start: usize) -> GossipReject {
    match e {
        GossipReject::Malformed { field, problem, .. } => GossipReject::Malformed {
            field,
            offset: start,
            problem,
        },
        other => other,
    }
}

/// A prune (after its tag) and the range its signature covers (after the domain and genesis
/// hash). The origin count is checked before anything is allocated.
fn read_prune(r: &mut ByteReader<'_>) -> Result<(PruneMessage, (usize, usize)), GossipReject> {
    let start = r.position();
    let from = Pubkey(r.array("prune sender")?);
    let signed_start = r.position();
    let destination = Pubkey(r.array("prune destination")?);
    let count = r.count("prune origin count", Prefix::U8, PRUNE_ORIGINS_MAX, 32)?;
    let origins = (0..count)
        .map(|_| r.array("prune origin").map(Pubkey))
        .collect::<Result<Vec<Pubkey>, _>>()?;
    let wallclock_ms = r.u64("prune wallclock")?;
    let signed_end = r.position();
    let signature = r.array::<64>("prune signature")?;
    let prune = PruneMessage {
        from,
        destination,
        wallclock_ms,
        origins,
        signature,
    };
    prune.check_shape().map_err(|e| at_start(e, start))?;
    Ok((prune, (signed_start, signed_end)))
}

/// A value and the range its signature covers.
fn read_value(r: &mut ByteReader<'_>) -> Result<(SignedValue, (usize, usize)), GossipReject> {
    let start = r.position();
    let origin = Pubkey(r.array("value origin")?);
    let wallclock_ms = r.u64("value wallclock")?;
    let data = read_data(r, origin, wallclock_ms)?;
    let end = r.position();
    let signature = r.array::<64>("value signature")?;
    let value = SignedValue::new(origin, wallclock_ms, data, signature);
    value.check_shape().map_err(|e| at_start(e, start))?;
    Ok((value, (start, end)))
}

fn read_data(
    r: &mut ByteReader<'_>,
    origin: Pubkey,
    wallclock_ms: u64,
) -> Result<CrdsData, GossipReject> {
    match r.u8("value kind")? {
        KIND_CONTACT_INFO => {
            let shred_version = r.u16("shred version")?;
            let version = SoftwareVersion {
                major: r.u16("software version")?,
                minor: r.u16("software version")?,
                patch: r.u16("software version")?,
            };
            let instance = r.u64("instance")?;
            let gossip = read_addr(r, "gossip address")?;
            let tpu = read_addr(r, "tpu address")?;
            let tpu_vote = read_addr(r, "tpu vote address")?;
            let tvu = read_addr(r, "tvu address")?;
            let repair = read_addr(r, "repair address")?;
            let serve_repair = read_addr(r, "serve repair address")?;
            let optional = r.u8("optional addresses")?;
            if optional & !(OPTIONAL_RPC | OPTIONAL_TPU_QUIC | OPTIONAL_TPU_VOTE_QUIC) != 0 {
                return Err(malformed(r, "optional addresses", "unknown bits set"));
            }
            let rpc = if optional & OPTIONAL_RPC != 0 {
                Some(read_addr(r, "rpc address")?)
            } else {
                None
            };
            let tpu_quic = if optional & OPTIONAL_TPU_QUIC != 0 {
                Some(read_addr(r, "tpu quic address")?)
            } else {
                None
            };
            let tpu_vote_quic = if optional & OPTIONAL_TPU_VOTE_QUIC != 0 {
                Some(read_addr(r, "tpu vote quic address")?)
            } else {
                None
            };
            Ok(CrdsData::ContactInfo(ContactInfo {
                pubkey: origin,
                wallclock_ms,
                shred_version,
                version,
                instance,
                gossip,
                tpu,
                tpu_vote,
                tvu,
                repair,
                serve_repair,
                rpc,
                tpu_quic,
                tpu_vote_quic,
            }))
        }
        KIND_VOTE => Ok(CrdsData::Vote {
            tx: read_bytes(r, "vote transaction", VOTE_TX_LEN_MAX)?,
        }),
        KIND_DUPLICATE_SHRED => {
            let slot = Slot(r.u64("duplicate shred slot")?);
            let chunk_index = r.u8("duplicate shred chunk index")?;
            let num_chunks = r.u8("duplicate shred chunk count")?;
            if num_chunks > DUPLICATE_SHRED_CHUNKS_MAX {
                return Err(GossipReject::Oversized {
                    field: "duplicate shred chunk count",
                    len: usize::from(num_chunks),
                    max: usize::from(DUPLICATE_SHRED_CHUNKS_MAX),
                });
            }
            let chunk = read_bytes(r, "duplicate shred chunk", DUPLICATE_SHRED_CHUNK_LEN_MAX)?;
            Ok(CrdsData::DuplicateShred {
                slot,
                chunk_index,
                num_chunks,
                chunk,
            })
        }
        KIND_SLASHING_EVIDENCE => Ok(CrdsData::SlashingEvidence {
            offender: Pubkey(r.array("slashing evidence offender")?),
            kind: r.u8("slashing evidence kind")?,
            first: read_bytes(
                r,
                "slashing evidence first vote",
                SLASHING_EVIDENCE_VOTE_LEN_MAX,
            )?,
            second: read_bytes(
                r,
                "slashing evidence second vote",
                SLASHING_EVIDENCE_VOTE_LEN_MAX,
            )?,
        }),
        _ => Err(malformed(r, "value kind", "unknown value kind")),
    }
}

#[cfg(test)]
mod tests;
