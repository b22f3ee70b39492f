//! The control plane's decoders: gossip datagrams, vote transactions as the core reads them, and
//! the tower file read back at start.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;

use controlplane::gossip::wire::{decode_and_verify, decode_and_verify_unheld, encode};
use controlplane::gossip::{
    Bloom, ContactInfo, CrdsData, GossipMessage, PruneMessage, SignedValue, SoftwareVersion,
    DATAGRAM_LEN_MAX,
};
use controlplane::io::ParsedVote;
use controlplane::tower::file::{self, TowerFileError};
use dataplane::types::Pubkey;
use dataplane::vote::{Lockout, TowerSync};
use proptest::prelude::*;

use crate::dataplane_targets::GENESIS;
use crate::engine::Target;
use crate::generate::{self, key, pubkey};

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| {
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0))
        }),
    ]
}

fn contact_info() -> impl Strategy<Value = CrdsData> {
    (
        (any::<u16>(), any::<[u16; 3]>(), any::<u64>()),
        [addr(), addr(), addr(), addr(), addr(), addr()],
        prop::option::of(addr()),
        prop::option::of(addr()),
    )
        .prop_map(
            |((shred_version, [major, minor, patch], instance), a, rpc, tpu_quic)| {
                CrdsData::ContactInfo(ContactInfo {
                    // `SignedValue::sign` sets the pubkey and wallclock to the value's.
                    pubkey: Pubkey::default(),
                    wallclock_ms: 0,
                    shred_version,
                    version: SoftwareVersion {
                        major,
                        minor,
                        patch,
                    },
                    instance,
                    gossip: a[0],
                    tpu: a[1],
                    tpu_vote: a[2],
                    tvu: a[3],
                    repair: a[4],
                    serve_repair: a[5],
                    rpc,
                    tpu_quic,
                    tpu_vote_quic: tpu_quic.map(|a| SocketAddr::new(a.ip(), a.port() ^ 1)),
                })
            },
        )
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..=max)
}

fn data() -> impl Strategy<Value = CrdsData> {
    prop_oneof![
        contact_info(),
        bytes(200).prop_map(|tx| CrdsData::Vote { tx }),
        (any::<u64>(), 1u8..=8, any::<u8>(), bytes(200)).prop_map(|(slot, n, i, chunk)| {
            CrdsData::DuplicateShred {
                slot: dataplane::types::Slot(slot),
                chunk_index: i % n,
                num_chunks: n,
                chunk,
            }
        }),
        (0u8..8, any::<u8>(), bytes(100), bytes(100)).prop_map(|(who, kind, first, second)| {
            CrdsData::SlashingEvidence {
                offender: pubkey(who),
                kind,
                first,
                second,
            }
        }),
    ]
}

fn value() -> BoxedStrategy<Arc<SignedValue>> {
    (0u8..4, any::<u64>(), data())
        .prop_map(|(who, wallclock, data)| {
            Arc::new(SignedValue::sign(&key(who), &GENESIS, wallclock, data))
        })
        .boxed()
}

fn message() -> impl Strategy<Value = GossipMessage> {
    let values = prop::collection::vec(value(), 1..=4);
    prop_oneof![
        (0u8..8, values.clone()).prop_map(|(from, values)| GossipMessage::Push {
            from: pubkey(from),
            values,
        }),
        (0u8..8, values).prop_map(|(from, values)| GossipMessage::PullResponse {
            from: pubkey(from),
            values,
        }),
        (
            prop::collection::vec(any::<u64>(), 1..=8),
            prop::collection::vec(any::<u64>(), 1..=112),
            0u8..=16,
            any::<u64>(),
            0u8..4,
            any::<u64>(),
            contact_info(),
        )
            .prop_map(|(keys, words, bits, mask, who, wallclock, ci)| {
                let mask = mask & ((1u64 << bits) - 1);
                GossipMessage::PullRequest {
                    filter: Bloom::from_parts(keys, words, mask, bits).expect("bounded filter"),
                    caller: Arc::new(SignedValue::sign(&key(who), &GENESIS, wallclock, ci)),
                }
            }),
        // Destinations 4..8: never the sender, whom a prune may not address.
        (
            0u8..4,
            4u8..8,
            any::<u64>(),
            prop::collection::vec(0u8..64, 1..=32)
        )
            .prop_map(|(who, to, wallclock, origins)| {
                GossipMessage::Prune(Box::new(PruneMessage::sign(
                    &key(who),
                    &GENESIS,
                    pubkey(to),
                    wallclock,
                    origins.into_iter().map(pubkey).collect(),
                )))
            }),
    ]
}

/// Gossip datagrams (`wire::decode_and_verify`): decoded with signatures of pushed and pulled
/// values skipped (as for values the node already holds), which is the parse and its allocations
/// alone; an accepted datagram must re-encode to its own bytes, and counts as accepted only if its
/// signatures then verify.
///
/// Bound: one `Arc<SignedValue>` (about 200 bytes) per value of at least 107 bytes, each byte
/// string copied once, the filter's words once, the verifier's 1,264-byte buffer: 4 × the input
/// plus 2 KiB.
pub fn gossip() -> Target<bool> {
    Target {
        name: "gossip",
        valid: message()
            .prop_map(|m| encode(&m))
            .prop_filter("fits one datagram", |b| b.len() <= DATAGRAM_LEN_MAX)
            .boxed(),
        structured: None,
        cost: 1,
        raw_len_max: DATAGRAM_LEN_MAX + 8,
        alloc_bytes_max: |len| 4 * len as u64 + 2_048,
        decode: Box::new(|bytes| decode_and_verify_unheld(bytes, &GENESIS, |_| true).is_ok()),
        check: Box::new(|bytes, parsed| {
            let full = decode_and_verify(bytes, &GENESIS);
            if let Ok(msg) = &full {
                let again = encode(msg.get());
                if again != bytes {
                    return Err(format!(
                        "accepted datagram re-encodes differently: {again:?}"
                    ));
                }
            }
            if full.is_ok() && !parsed {
                return Err("verified in full but refused without signatures".into());
            }
            Ok(full.is_ok())
        }),
    }
}

/// `ParsedVote::parse`: a vote transaction as the consensus core reads it (from the vote port,
/// gossip and blocks). Bound: the transaction copied into an `Arc` (with its 16-byte header and
/// rounding) and the 31-lockout vector.
pub fn parsed_vote() -> Target<Option<ParsedVote>> {
    Target {
        name: "parsed_vote",
        valid: generate::vote_txn().boxed(),
        structured: None,
        cost: 1,
        raw_len_max: dataplane::txn::TXN_SIZE_MAX + 8,
        alloc_bytes_max: |len| (len + 32 + 31 * std::mem::size_of::<Lockout>()) as u64,
        decode: Box::new(ParsedVote::parse),
        check: Box::new(|bytes, out| {
            let Some(vote) = out else { return Ok(false) };
            let layout = dataplane::txn::parse(bytes).map_err(|e| format!("txn refused: {e}"))?;
            if !layout.is_vote || &vote.tx[..] != bytes {
                return Err("a parsed vote that is not the vote transaction given".into());
            }
            Ok(true)
        }),
    }
}

/// `tower::file::decode_and_verify`: the node's own tower file, which a crash or a bad disk may
/// leave in any state. Accepted here means well-formed (a bad signature is the last check, made on
/// a well-formed file); a file that verifies must re-encode to its own bytes. Bound: the lockout
/// vector, and the box ed25519-dalek puts a failed verification's error in (`signature::Error`
/// with `std`: 80 bytes seen; 256 allowed).
pub fn tower_file() -> Target<Result<TowerSync, TowerFileError>> {
    Target {
        name: "tower_file",
        valid: generate::tower()
            .prop_map(|t| file::encode(&t, &key(0)))
            .boxed(),
        structured: None,
        cost: 1,
        raw_len_max: file::TOWER_FILE_SIZE_MAX + 8,
        alloc_bytes_max: |_| (31 * std::mem::size_of::<Lockout>() + 256) as u64,
        decode: Box::new(|bytes| {
            file::decode_and_verify(bytes, &pubkey(0)).map(|t| t.into_inner())
        }),
        check: Box::new(|bytes, out| {
            if let Ok(tower) = &out {
                let again = file::encode(tower, &key(0));
                if again != bytes {
                    return Err(format!(
                        "accepted tower file re-encodes differently: {again:?}"
                    ));
                }
            }
            Ok(matches!(out, Ok(_) | Err(TowerFileError::BadSignature)))
        }),
    }
}
