use super::*;
use crate::gossip::stats::RejectReason;
use crate::signer::Signer;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

const GENESIS: Hash = Hash([7; 32]);

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i.wrapping_add(1); 32])
}

fn v4(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), port))
}

fn contact_info(rpc: Option<SocketAddr>) -> CrdsData {
    CrdsData::ContactInfo(ContactInfo {
        pubkey: Pubkey::default(),
        wallclock_ms: 0,
        shred_version: 42,
        version: SoftwareVersion {
            major: 1,
            minor: 2,
            patch: 3,
        },
        instance: 0,
        gossip: v4(8001),
        tpu: v4(8002),
        tpu_vote: v4(8003),
        tvu: v4(8004),
        repair: v4(8005),
        serve_repair: v4(8006),
        rpc,
        tpu_quic: None,
        tpu_vote_quic: None,
    })
}

fn signed(i: u8, wallclock_ms: u64, data: CrdsData) -> Arc<SignedValue> {
    Arc::new(SignedValue::sign(&key(i), &GENESIS, wallclock_ms, data))
}

fn vote(i: u8, len: usize) -> Arc<SignedValue> {
    signed(i, 1_000, CrdsData::Vote { tx: vec![i; len] })
}

fn push(values: Vec<Arc<SignedValue>>) -> GossipMessage {
    GossipMessage::Push {
        from: Pubkey([9; 32]),
        values,
    }
}

fn pull_request(words: usize) -> GossipMessage {
    let filter = Bloom::from_parts(vec![1, 2, 3], vec![0xF0F0; words], 1, 2).expect("valid filter");
    GossipMessage::PullRequest {
        filter,
        caller: signed(1, 5, contact_info(Some(v4(8899)))),
    }
}

fn prune(origins: Vec<Pubkey>) -> GossipMessage {
    GossipMessage::Prune(Box::new(PruneMessage::sign(
        &key(3),
        &GENESIS,
        key(4).pubkey(),
        1_000,
        origins,
    )))
}

fn round_trip(msg: &GossipMessage) {
    let bytes = encode(msg);
    assert_eq!(bytes.len(), encoded_len(msg));
    assert!(bytes.len() <= DATAGRAM_LEN_MAX);
    let decoded = decode_and_verify(&bytes, &GENESIS).expect("decodes");
    assert_eq!(decoded.get(), msg);
}

fn reason(result: Result<Verified<GossipMessage>, GossipReject>) -> RejectReason {
    result.expect_err("refused").reason()
}

#[test]
fn every_message_and_value_kind_round_trips() {
    round_trip(&push(vec![
        signed(0, 1, contact_info(None)),
        vote(1, 300),
        signed(
            2,
            3,
            CrdsData::DuplicateShred {
                slot: Slot(77),
                chunk_index: 1,
                num_chunks: 3,
                chunk: vec![5; 200],
            },
        ),
    ]));
    round_trip(&GossipMessage::PullResponse {
        from: Pubkey([4; 32]),
        values: vec![signed(
            3,
            4,
            CrdsData::SlashingEvidence {
                offender: Pubkey([8; 32]),
                kind: 1,
                first: vec![1; 300],
                second: vec![2; 301],
            },
        )],
    });
    round_trip(&pull_request(BLOOM_WORDS_MAX));
    round_trip(&prune(vec![Pubkey([1; 32])]));
    let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0, 0));
    let mut ci = contact_info(Some(v6));
    if let CrdsData::ContactInfo(c) = &mut ci {
        c.gossip = v6;
        c.serve_repair = v6;
    }
    round_trip(&push(vec![signed(5, 6, ci)]));
}

#[test]
fn the_largest_pull_request_fits_a_datagram() {
    let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0, 0));
    let data = CrdsData::ContactInfo(ContactInfo {
        pubkey: Pubkey::default(),
        wallclock_ms: 0,
        shred_version: 1,
        version: SoftwareVersion::default(),
        instance: 0,
        gossip: v6,
        tpu: v6,
        tpu_vote: v6,
        tvu: v6,
        repair: v6,
        serve_repair: v6,
        rpc: Some(v6),
        tpu_quic: Some(v6),
        tpu_vote_quic: Some(v6),
    });
    let caller = signed(0, 0, data);
    assert_eq!(value_encoded_len(&caller), CONTACT_INFO_VALUE_LEN_MAX);
    let filter = Bloom::from_parts(
        vec![0; BLOOM_KEYS_MAX],
        vec![0; BLOOM_WORDS_BUILT_MAX],
        0,
        0,
    )
    .expect("valid");
    let msg = GossipMessage::PullRequest { filter, caller };
    assert!(encoded_len(&msg) <= DATAGRAM_LEN_MAX);
    round_trip(&msg);
}

#[test]
fn the_largest_prune_fits_a_datagram_and_a_larger_one_is_oversized() {
    let origins: Vec<Pubkey> = (0..PRUNE_ORIGINS_MAX as u8)
        .map(|i| Pubkey([i; 32]))
        .collect();
    let msg = prune(origins);
    assert_eq!(
        encoded_len(&msg),
        PRUNE_OVERHEAD_LEN + 32 * PRUNE_ORIGINS_MAX
    );
    round_trip(&msg);
    // One more origin in the count byte: refused before anything is read or allocated.
    let mut bytes = encode(&msg);
    bytes[2 + 32 + 32] = PRUNE_ORIGINS_MAX as u8 + 1;
    assert_eq!(
        reason(decode_and_verify(&bytes, &GENESIS)),
        RejectReason::Oversized
    );
}

#[test]
fn a_prune_is_verified_and_has_one_encoding() {
    let bytes = encode(&prune(vec![Pubkey([1; 32]), Pubkey([2; 32])]));
    assert_eq!(
        reason(decode_and_verify(&bytes, &Hash([8; 32]))),
        RejectReason::BadSignature
    );
    // Any signed byte altered: the destination, an origin, the wallclock.
    for at in [2 + 32, 2 + 32 + 32 + 1, bytes.len() - 65] {
        let mut altered = bytes.clone();
        altered[at] ^= 1;
        assert_eq!(
            reason(decode_and_verify(&altered, &GENESIS)),
            RejectReason::BadSignature,
            "byte {at}"
        );
    }
    // The sender is who must have signed.
    let mut other_sender = bytes.clone();
    other_sender[2..34].copy_from_slice(key(5).pubkey().as_bytes());
    assert_eq!(
        reason(decode_and_verify(&other_sender, &GENESIS)),
        RejectReason::BadSignature
    );
    // Origins out of order, repeated, or none: malformed, whatever the signature.
    let first_origin = 2 + 32 + 32 + 1;
    let mut swapped = bytes.clone();
    swapped[first_origin..first_origin + 64].rotate_left(32);
    let mut repeated = bytes.clone();
    repeated.copy_within(first_origin..first_origin + 32, first_origin + 32);
    let empty = encode(&GossipMessage::Prune(Box::new(PruneMessage {
        origins: Vec::new(),
        ..PruneMessage::sign(&key(3), &GENESIS, key(4).pubkey(), 1, vec![Pubkey([1; 32])])
    })));
    for malformed in [swapped, repeated, empty] {
        assert_eq!(
            reason(decode_and_verify(&malformed, &GENESIS)),
            RejectReason::Malformed
        );
    }
    // Addressed to its own sender: malformed (such a prune could never be honest).
    let to_self = encode(&GossipMessage::Prune(Box::new(PruneMessage::sign(
        &key(3),
        &GENESIS,
        key(3).pubkey(),
        1,
        vec![Pubkey([1; 32])],
    ))));
    assert_eq!(
        reason(decode_and_verify(&to_self, &GENESIS)),
        RejectReason::Malformed
    );
    for cut in 0..bytes.len() {
        assert_eq!(
            reason(decode_and_verify(&bytes[..cut], &GENESIS)),
            RejectReason::Malformed,
            "cut at {cut}"
        );
    }
}

#[test]
fn a_value_signed_for_another_cluster_or_altered_is_a_bad_signature() {
    let msg = push(vec![vote(1, 100), vote(2, 100)]);
    let bytes = encode(&msg);
    assert_eq!(
        reason(decode_and_verify(&bytes, &Hash([8; 32]))),
        RejectReason::BadSignature
    );
    let mut altered = bytes.clone();
    // The last byte of the second value's vote transaction (just before its signature).
    let at = altered.len() - 65;
    altered[at] ^= 1;
    assert_eq!(
        reason(decode_and_verify(&altered, &GENESIS)),
        RejectReason::BadSignature
    );
    let mut resigned = bytes;
    let sig_at = resigned.len() - 64;
    resigned[sig_at] ^= 1;
    assert_eq!(
        reason(decode_and_verify(&resigned, &GENESIS)),
        RejectReason::BadSignature
    );
}

#[test]
fn lengths_beyond_their_bounds_are_oversized() {
    assert_eq!(
        reason(decode_and_verify(&[1; DATAGRAM_LEN_MAX + 1], &GENESIS)),
        RejectReason::Oversized
    );
    // A vote claiming 1,300 bytes: refused from its length field, before any allocation.
    let mut bytes = encode(&push(vec![vote(1, 10)]));
    let len_at = VALUES_HEADER_LEN + 32 + 8 + 1;
    bytes[len_at..len_at + 2].copy_from_slice(&1_300u16.to_le_bytes());
    assert_eq!(
        reason(decode_and_verify(&bytes, &GENESIS)),
        RejectReason::Oversized
    );
    let mut bytes = encode(&push(vec![vote(1, 10)]));
    bytes[VALUES_HEADER_LEN - 1] = VALUES_PER_MESSAGE_MAX as u8 + 1;
    assert_eq!(
        reason(decode_and_verify(&bytes, &GENESIS)),
        RejectReason::Oversized
    );
    // Filter word count above the bound.
    let mut bytes = encode(&pull_request(1));
    let words_at = 2 + 8 + 1 + 1 + 3 * 8;
    bytes[words_at..words_at + 2].copy_from_slice(&(BLOOM_WORDS_MAX as u16 + 1).to_le_bytes());
    assert_eq!(
        reason(decode_and_verify(&bytes, &GENESIS)),
        RejectReason::Oversized
    );
}

#[test]
fn trailing_truncated_and_unknown_bytes_are_malformed() {
    let bytes = encode(&push(vec![vote(1, 10)]));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        reason(decode_and_verify(&trailing, &GENESIS)),
        RejectReason::Malformed
    );
    for cut in 0..bytes.len() {
        assert_eq!(
            reason(decode_and_verify(&bytes[..cut], &GENESIS)),
            RejectReason::Malformed,
            "cut at {cut}"
        );
    }
    let mut version = bytes.clone();
    version[0] = 2;
    assert_eq!(
        reason(decode_and_verify(&version, &GENESIS)),
        RejectReason::Malformed
    );
    let mut tag = bytes;
    tag[1] = 9;
    assert_eq!(
        reason(decode_and_verify(&tag, &GENESIS)),
        RejectReason::Malformed
    );
    // A pull request whose caller is a vote, not a contact info.
    let filter = Bloom::from_parts(vec![1], vec![0], 0, 0).expect("valid");
    let msg = GossipMessage::PullRequest {
        filter,
        caller: vote(1, 10),
    };
    assert_eq!(
        reason(decode_and_verify(&encode(&msg), &GENESIS)),
        RejectReason::Malformed
    );
}

#[test]
fn held_values_are_kept_unverified_and_the_rest_still_checked() {
    let held = vote(1, 100);
    let fresh = vote(2, 100);
    let is_held = |v: &SignedValue| v.signature == held.signature;
    let bytes = encode(&push(vec![held.clone(), fresh.clone()]));
    let (msg, skipped) = decode_and_verify_unheld(&bytes, &GENESIS, is_held).expect("valid");
    assert_eq!(skipped, 1);
    // Both stay: who delivered a held value is what prune decides on.
    assert_eq!(msg.get(), &push(vec![held.clone(), fresh]));
    // A held value's bytes are not checked, but every other value's are.
    let mut altered = bytes.clone();
    let at = altered.len() - 65;
    altered[at] ^= 1;
    assert_eq!(
        decode_and_verify_unheld(&altered, &GENESIS, is_held)
            .map(|_| ())
            .expect_err("altered")
            .reason(),
        RejectReason::BadSignature
    );
    // A pull request's caller is verified even if held.
    let request = pull_request(1);
    let GossipMessage::PullRequest { caller, .. } = &request else {
        unreachable!("built as a pull request");
    };
    let caller_sig = caller.signature;
    let mut bytes = encode(&request);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let result =
        decode_and_verify_unheld(&bytes, &GENESIS, |v| v.signature[..63] == caller_sig[..63]);
    assert_eq!(
        result.map(|_| ()).expect_err("altered caller").reason(),
        RejectReason::BadSignature
    );
}

fn addr_strategy() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            port,
            0,
            0
        ))),
    ]
}

fn data_strategy() -> impl Strategy<Value = CrdsData> {
    let ci = (
        any::<u16>(),
        any::<(u16, u16, u16)>(),
        proptest::collection::vec(addr_strategy(), 6),
        proptest::collection::vec(proptest::option::of(addr_strategy()), 3),
    )
        .prop_map(|(shred_version, (major, minor, patch), a, optional)| {
            CrdsData::ContactInfo(ContactInfo {
                pubkey: Pubkey::default(),
                wallclock_ms: 0,
                shred_version,
                version: SoftwareVersion {
                    major,
                    minor,
                    patch,
                },
                instance: 0,
                gossip: a[0],
                tpu: a[1],
                tpu_vote: a[2],
                tvu: a[3],
                repair: a[4],
                serve_repair: a[5],
                rpc: optional[0],
                tpu_quic: optional[1],
                tpu_vote_quic: optional[2],
            })
        });
    let vote = proptest::collection::vec(any::<u8>(), 0..600).prop_map(|tx| CrdsData::Vote { tx });
    let chunk = (
        any::<u64>(),
        1..=DUPLICATE_SHRED_CHUNKS_MAX,
        proptest::collection::vec(any::<u8>(), 0..600),
    )
        .prop_flat_map(|(slot, num_chunks, chunk)| {
            (0..num_chunks).prop_map(move |chunk_index| CrdsData::DuplicateShred {
                slot: Slot(slot),
                chunk_index,
                num_chunks,
                chunk: chunk.clone(),
            })
        });
    let evidence = (
        any::<[u8; 32]>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |(offender, kind, first, second)| CrdsData::SlashingEvidence {
                offender: Pubkey(offender),
                kind,
                first,
                second,
            },
        );
    prop_oneof![ci, vote, chunk, evidence]
}

fn value_strategy() -> impl Strategy<Value = Arc<SignedValue>> {
    (0u8..4, any::<u64>(), data_strategy()).prop_map(|(k, w, d)| signed(k, w, d))
}

/// Values trimmed until the message fits one datagram.
fn fitting(mut values: Vec<Arc<SignedValue>>) -> Vec<Arc<SignedValue>> {
    while VALUES_HEADER_LEN + values.iter().map(|v| value_encoded_len(v)).sum::<usize>()
        > DATAGRAM_LEN_MAX
        && values.len() > 1
    {
        values.pop();
    }
    values
}

fn message_strategy() -> impl Strategy<Value = GossipMessage> {
    let values = || proptest::collection::vec(value_strategy(), 1..6).prop_map(fitting);
    let filter = (
        proptest::collection::vec(any::<u64>(), 1..=BLOOM_KEYS_MAX),
        proptest::collection::vec(any::<u64>(), 1..=BLOOM_WORDS_MAX),
        any::<u64>(),
        0..=crate::gossip::bloom::BLOOM_MASK_BITS_MAX,
    )
        .prop_map(|(keys, words, mask, mask_bits)| {
            let mask = mask & ((1u64 << mask_bits) - 1);
            Bloom::from_parts(keys, words, mask, mask_bits).expect("valid filter")
        });
    let caller = (0u8..4, any::<u64>(), data_strategy()).prop_map(|(k, w, d)| match d {
        CrdsData::ContactInfo(_) => signed(k, w, d),
        _ => signed(k, w, contact_info(None)),
    });
    prop_oneof![
        (any::<[u8; 32]>(), values()).prop_map(|(from, values)| GossipMessage::Push {
            from: Pubkey(from),
            values
        }),
        (any::<[u8; 32]>(), values()).prop_map(|(from, values)| GossipMessage::PullResponse {
            from: Pubkey(from),
            values
        }),
        (filter, caller).prop_map(|(filter, caller)| GossipMessage::PullRequest { filter, caller }),
        (
            0u8..4,
            any::<[u8; 32]>(),
            any::<u64>(),
            proptest::collection::vec(any::<[u8; 32]>(), 1..=PRUNE_ORIGINS_MAX),
        )
            .prop_map(|(k, destination, wallclock_ms, origins)| {
                let origins = origins.into_iter().map(Pubkey).collect();
                GossipMessage::Prune(Box::new(PruneMessage::sign(
                    &key(k),
                    &GENESIS,
                    Pubkey(destination),
                    wallclock_ms,
                    origins,
                )))
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn messages_round_trip(msg in message_strategy()) {
        let bytes = encode(&msg);
        prop_assert_eq!(bytes.len(), encoded_len(&msg));
        prop_assert!(bytes.len() <= DATAGRAM_LEN_MAX);
        let decoded = decode_and_verify(&bytes, &GENESIS).expect("decodes");
        prop_assert_eq!(decoded.get(), &msg);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = decode_and_verify(&bytes, &GENESIS);
    }

    #[test]
    fn altered_datagrams_never_panic_and_what_decodes_is_canonical(
        msg in message_strategy(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode(&msg);
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        // Signatures are left out here, so alterations that keep the bytes well-formed are seen
        // too; whatever parses must encode back to the very bytes (one encoding per message).
        if let Ok((decoded, _)) = decode(&bytes) {
            prop_assert_eq!(encode(&decoded), bytes.clone());
        }
        let _ = decode_and_verify(&bytes, &GENESIS);
    }
}

#[test]
fn a_contact_info_without_quic_addresses_keeps_the_old_bytes_and_unknown_optional_bits_are_refused()
{
    let rpc = "127.0.0.1:8899".parse().expect("address");
    let quic: SocketAddr = "127.0.0.1:8009".parse().expect("address");
    let CrdsData::ContactInfo(base) = contact_info(Some(rpc)) else {
        unreachable!("a contact info")
    };
    let with_quic = CrdsData::ContactInfo(ContactInfo {
        tpu_quic: Some(quic),
        ..base.clone()
    });
    let msg = push(vec![signed(5, 6, with_quic)]);
    round_trip(&msg);
    let old = encode(&push(vec![signed(
        5,
        6,
        CrdsData::ContactInfo(base.clone()),
    )]));
    let new = encode(&msg);
    // The old form: the optional byte is the RPC flag alone, as releases before 0.2 wrote it.
    let optional_at = old.len() - 64 - 7 - 1;
    assert_eq!(old[optional_at], 1);
    assert_eq!(new[optional_at], 3);
    assert_eq!(new.len(), old.len() + 7);
    // The QUIC vote address (0.3) is bit 2, after the QUIC TPU's.
    let vote_quic: SocketAddr = "127.0.0.1:8013".parse().expect("address");
    let with_both = CrdsData::ContactInfo(ContactInfo {
        tpu_quic: Some(quic),
        tpu_vote_quic: Some(vote_quic),
        ..base.clone()
    });
    let both = push(vec![signed(5, 6, with_both)]);
    round_trip(&both);
    let both = encode(&both);
    assert_eq!(both[optional_at], 7);
    assert_eq!(both.len(), old.len() + 14);
    assert_eq!(&both[optional_at + 1 + 14..optional_at + 1 + 21], {
        let mut a = vec![4, 127, 0, 0, 1];
        a.extend_from_slice(&8013u16.to_le_bytes());
        a
    });
    // Bits no release defines are refused by name.
    let mut unknown = old.clone();
    unknown[optional_at] = 1 | 8;
    let err = decode_and_verify(&unknown, &GENESIS).expect_err("unknown bit");
    assert!(format!("{err:?}").contains("optional addresses"), "{err:?}");
}
