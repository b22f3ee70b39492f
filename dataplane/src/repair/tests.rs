use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::rate_limit::TokenBucketConfig;

const NOW: u64 = 1_700_000_000_000;
const MAX_AGE: u64 = 10_000;

fn signer(b: u8) -> SigningKey {
    SigningKey::from_bytes(&[b; 32])
}

fn id(key: &SigningKey) -> Pubkey {
    Pubkey(key.verifying_key().to_bytes())
}

fn genesis() -> Hash {
    Hash::of(b"cluster A")
}

fn kinds() -> [RepairKind; 5] {
    [
        RepairKind::Shred {
            slot: Slot(7),
            index: 3,
            root: None,
        },
        RepairKind::Shred {
            slot: Slot(7),
            index: 3,
            root: Some(Hash::of(b"root")),
        },
        RepairKind::HighestShred {
            slot: Slot(u64::MAX),
            from_index: 9,
        },
        RepairKind::Orphan { slot: Slot(42) },
        RepairKind::AncestorHashes { slot: Slot(43) },
    ]
}

fn request(kind: RepairKind) -> RepairRequest {
    RepairRequest {
        recipient: id(&signer(2)),
        wallclock_ms: NOW,
        nonce: 0xDEAD_BEEF,
        kind,
    }
}

#[test]
fn requests_round_trip_and_verify() {
    for kind in kinds() {
        let signed = request(kind).sign(&signer(1), &genesis());
        let bytes = signed.encode();
        assert!(bytes.len() <= REQUEST_LEN_MAX);
        let decoded = SignedRequest::decode(&bytes).unwrap();
        assert_eq!(decoded, signed);
        assert_eq!(decoded.requester, id(&signer(1)));
        verify(&decoded, &id(&signer(2)), &genesis(), NOW, MAX_AGE).unwrap();
    }
    assert_eq!(
        request(kinds()[1])
            .sign(&signer(1), &genesis())
            .encode()
            .len(),
        REQUEST_LEN_MAX
    );
}

#[test]
fn every_tampered_byte_is_rejected() {
    for kind in kinds() {
        let bytes = request(kind).sign(&signer(1), &genesis()).encode();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            // A flipped byte either breaks the form or the signature, never passes.
            if let Ok(req) = SignedRequest::decode(&t) {
                assert!(
                    verify(&req, &id(&signer(2)), &genesis(), NOW, MAX_AGE).is_err(),
                    "byte {i} of {kind:?}"
                );
            }
        }
    }
}

#[test]
fn wrong_recipient_cluster_and_stale_wallclock_are_rejected() {
    let signed = request(kinds()[0]).sign(&signer(1), &genesis());
    assert!(matches!(
        verify(&signed, &id(&signer(3)), &genesis(), NOW, MAX_AGE),
        Err(RepairError::WrongRecipient { .. })
    ));
    assert_eq!(
        verify(
            &signed,
            &id(&signer(2)),
            &Hash::of(b"cluster B"),
            NOW,
            MAX_AGE
        ),
        Err(RepairError::BadSignature(id(&signer(1))))
    );
    for now in [NOW + MAX_AGE + 1, NOW - MAX_AGE - 1] {
        assert!(matches!(
            verify(&signed, &id(&signer(2)), &genesis(), now, MAX_AGE),
            Err(RepairError::Stale { .. })
        ));
    }
    verify(&signed, &id(&signer(2)), &genesis(), NOW + MAX_AGE, MAX_AGE).unwrap();
}

#[test]
fn forged_requester_is_rejected() {
    let mut signed = request(kinds()[3]).sign(&signer(1), &genesis());
    signed.requester = id(&signer(4));
    assert_eq!(
        verify(&signed, &id(&signer(2)), &genesis(), NOW, MAX_AGE),
        Err(RepairError::BadSignature(id(&signer(4))))
    );
}

#[test]
fn malformed_requests_name_the_problem() {
    let bytes = request(kinds()[1]).sign(&signer(1), &genesis()).encode();
    let mut extra = bytes.clone();
    extra.push(0);
    assert_eq!(
        SignedRequest::decode(&extra),
        Err(RepairError::TrailingBytes { extra: 1 })
    );
    assert!(matches!(
        SignedRequest::decode(&bytes[..bytes.len() - 1]),
        Err(RepairError::Truncated { field: "root", .. })
    ));
    let mut flag = bytes.clone();
    flag[REQUEST_HEADER_LEN + 12] = 2;
    assert_eq!(
        SignedRequest::decode(&flag),
        Err(RepairError::BadRootFlag(2))
    );
    let mut tag = bytes.clone();
    tag[64] = 9;
    assert_eq!(
        SignedRequest::decode(&tag),
        Err(RepairError::UnknownTag {
            what: "request",
            tag: 9
        })
    );
    assert!(matches!(
        SignedRequest::decode(&[0u8; 2000]),
        Err(RepairError::Oversized { len: 2000 })
    ));
    assert_eq!(RepairError::BadRootFlag(2).reason(), "bad_root_flag");
}

#[test]
fn dont_have_round_trips_and_verifies() {
    let me = id(&signer(1));
    for held_root in [None, Some(Hash::of(b"other"))] {
        let reply = DontHave {
            recipient: me,
            nonce: 5,
            slot: Slot(9),
            index: 4,
            held_root,
        };
        let signed = reply.sign(&signer(2), &genesis());
        let bytes = signed.encode();
        assert!(bytes.len() < SHRED_RESPONSE_LEN);
        let RepairResponse::DontHave(decoded) = decode_response(&bytes).unwrap() else {
            panic!("not a DontHave");
        };
        assert_eq!(decoded, signed);
        decoded.verify(&me, &genesis()).unwrap();
        assert!(decoded.verify(&id(&signer(3)), &genesis()).is_err());
        assert!(decoded.verify(&me, &Hash::of(b"cluster B")).is_err());
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x80;
            if let Ok(RepairResponse::DontHave(d)) = decode_response(&t) {
                assert!(d.verify(&me, &genesis()).is_err(), "byte {i}");
            }
        }
    }
}

#[test]
fn shred_responses_round_trip() {
    let shred = vec![0xAB; SHRED_SIZE];
    let bytes = encode_shred_response(&shred, 77).unwrap();
    assert_eq!(bytes.len(), REPAIR_PACKET_MAX);
    assert_eq!(
        decode_response(&bytes).unwrap(),
        RepairResponse::Shred {
            shred: &shred,
            nonce: 77
        }
    );
    assert_eq!(
        encode_shred_response(&shred[1..], 1),
        Err(RepairError::BadShredLength {
            len: SHRED_SIZE - 1
        })
    );
    assert!(matches!(
        decode_response(&[0u8; SHRED_RESPONSE_LEN + 1]),
        Err(RepairError::Oversized { .. })
    ));
    assert!(matches!(
        decode_response(&[7u8; 100]),
        Err(RepairError::UnknownTag { tag: 7, .. })
    ));
    assert!(matches!(
        decode_response(&[]),
        Err(RepairError::Truncated { field: "tag", .. })
    ));
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
        if let Ok(req) = SignedRequest::decode(&bytes) {
            prop_assert_eq!(req.encode(), bytes.clone());
            let _ = verify(&req, &req.request.recipient, &genesis(), NOW, u64::MAX);
        }
        if let Ok(RepairResponse::DontHave(d)) = decode_response(&bytes) {
            prop_assert_eq!(d.encode(), bytes.clone());
            let _ = d.verify(&d.reply.recipient, &genesis());
        }
    }

    #[test]
    fn truncations_never_panic(kind in 0usize..4, cut in 0usize..REQUEST_LEN_MAX) {
        let bytes = request(kinds()[kind]).sign(&signer(1), &genesis()).encode();
        let cut = cut.min(bytes.len().saturating_sub(1));
        prop_assert!(SignedRequest::decode(&bytes[..cut]).is_err());
        let dh = DontHave { recipient: id(&signer(1)), nonce: 1, slot: Slot(1), index: 1,
            held_root: Some(Hash::default()) }.sign(&signer(2), &genesis()).encode();
        let cut = cut.min(dh.len() - 1);
        prop_assert!(decode_response(&dh[..cut]).is_err());
    }
}

#[test]
fn rate_limiter_bursts_refuses_then_refills() {
    let mut limiter = RepairRateLimiter::new(TokenBucketConfig {
        per_s: 10,
        burst: 5,
        keys_max: 4,
    });
    let a = id(&signer(1));
    for nonce in 0..5 {
        limiter.admit(&a, nonce, 1000).unwrap();
    }
    assert_eq!(limiter.admit(&a, 5, 1000), Err(RepairError::RateLimited(a)));
    // 10 per second: one token per 100 ms.
    assert_eq!(limiter.admit(&a, 5, 1099), Err(RepairError::RateLimited(a)));
    limiter.admit(&a, 5, 1100).unwrap();
    assert_eq!(limiter.admit(&a, 6, 1100), Err(RepairError::RateLimited(a)));
    // A long idle spell refills only up to the burst.
    for nonce in 10..15 {
        limiter.admit(&a, nonce, 100_000).unwrap();
    }
    assert!(limiter.admit(&a, 15, 100_000).is_err());
    // Another requester has its own bucket.
    limiter.admit(&id(&signer(2)), 0, 100_000).unwrap();
}

#[test]
fn rate_limiter_refuses_replayed_nonces_without_spending_tokens() {
    let mut limiter = RepairRateLimiter::new(TokenBucketConfig {
        per_s: 1,
        burst: 2,
        keys_max: 4,
    });
    let a = id(&signer(1));
    limiter.admit(&a, 42, 0).unwrap();
    for _ in 0..10 {
        assert_eq!(
            limiter.admit(&a, 42, 0),
            Err(RepairError::DuplicateNonce {
                requester: a,
                nonce: 42
            })
        );
    }
    limiter.admit(&a, 43, 0).unwrap();
}

#[test]
fn rate_limiter_tracks_a_bounded_number_of_requesters() {
    let mut limiter = RepairRateLimiter::new(TokenBucketConfig {
        per_s: 1,
        burst: 1,
        keys_max: 3,
    });
    for b in 0..50u8 {
        limiter.admit(&Pubkey([b; 32]), 0, u64::from(b)).unwrap();
        assert!(limiter.tracked() <= 3);
    }
}

/// One slot of the test store: its parent and its shreds by index.
type StoredSlot = (Option<u64>, BTreeMap<u32, Vec<u8>>);

/// A store holding whole slots.
#[derive(Default)]
struct Store {
    slots: BTreeMap<u64, StoredSlot>,
    root: Option<Hash>,
}

impl Store {
    fn add(&mut self, slot: u64, parent: Option<u64>, indices: impl IntoIterator<Item = u32>) {
        let entry = self.slots.entry(slot).or_default();
        entry.0 = parent;
        for i in indices {
            let mut s = vec![0u8; SHRED_SIZE];
            s[..8].copy_from_slice(&slot.to_le_bytes());
            s[8..12].copy_from_slice(&i.to_le_bytes());
            entry.1.insert(i, s);
        }
    }
}

impl ShredSource for Store {
    fn shred(&self, slot: Slot, index: u32) -> Option<Vec<u8>> {
        self.slots.get(&slot.0)?.1.get(&index).cloned()
    }
    fn last_index(&self, slot: Slot) -> Option<u32> {
        self.slots.get(&slot.0)?.1.keys().next_back().copied()
    }
    fn parent(&self, slot: Slot) -> Option<Slot> {
        self.slots.get(&slot.0)?.0.map(Slot)
    }
    fn fec_root(&self, _slot: Slot, _index: u32) -> Option<Hash> {
        self.root
    }
}

/// Decodes responses into (slot, index) of shreds, or the DontHave.
fn answers(datagrams: &[Vec<u8>], nonce: u32) -> (Vec<(u64, u32)>, Vec<DontHave>) {
    let mut shreds = Vec::new();
    let mut refusals = Vec::new();
    for d in datagrams {
        assert!(d.len() <= REPAIR_PACKET_MAX);
        match decode_response(d).unwrap() {
            RepairResponse::Shred { shred, nonce: n } => {
                assert_eq!(n, nonce);
                shreds.push((
                    u64::from_le_bytes(shred[..8].try_into().unwrap()),
                    u32::from_le_bytes(shred[8..12].try_into().unwrap()),
                ));
            }
            RepairResponse::DontHave(d) => {
                d.verify(&id(&signer(1)), &genesis()).unwrap();
                assert_eq!(d.responder, id(&signer(2)));
                assert_eq!(d.reply.nonce, nonce);
                refusals.push(d.reply);
            }
            RepairResponse::Ancestors(a) => panic!("a shred request drew ancestors: {a:?}"),
            RepairResponse::Ping(p) => panic!("the responder never pings: {p:?}"),
        }
    }
    (shreds, refusals)
}

fn ask(store: &Store, kind: RepairKind) -> (Vec<(u64, u32)>, Vec<DontHave>) {
    let responder = RepairResponder::new(signer(2), genesis(), DEFAULT_RESPONSES_MAX);
    let req = request(kind).sign(&signer(1), &genesis());
    answers(&responder.respond(&req, store), req.request.nonce)
}

#[test]
fn responder_serves_shreds_and_says_dont_have() {
    let mut store = Store::default();
    store.add(7, Some(6), [0, 1, 3]);
    let shred = |slot, index| RepairKind::Shred {
        slot: Slot(slot),
        index,
        root: None,
    };
    assert_eq!(ask(&store, shred(7, 3)), (vec![(7, 3)], vec![]));
    let (shreds, refusals) = ask(&store, shred(7, 2));
    assert!(shreds.is_empty());
    assert_eq!(
        refusals,
        vec![DontHave {
            recipient: id(&signer(1)),
            nonce: 0xDEAD_BEEF,
            slot: Slot(7),
            index: 2,
            held_root: None
        }]
    );
    assert_eq!(ask(&store, shred(8, 0)).1.len(), 1);
}

#[test]
fn responder_names_its_own_version() {
    let mut store = Store::default();
    store.add(7, Some(6), [0]);
    store.root = Some(Hash::of(b"mine"));
    let kind = |root| RepairKind::Shred {
        slot: Slot(7),
        index: 0,
        root: Some(root),
    };
    assert_eq!(ask(&store, kind(Hash::of(b"mine"))).0, vec![(7, 0)]);
    let (shreds, refusals) = ask(&store, kind(Hash::of(b"theirs")));
    assert!(shreds.is_empty());
    assert_eq!(refusals[0].held_root, Some(Hash::of(b"mine")));
}

#[test]
fn highest_shred_is_bounded_and_includes_the_end() {
    let mut store = Store::default();
    store.add(5, Some(4), 0..100);
    let (shreds, refusals) = ask(
        &store,
        RepairKind::HighestShred {
            slot: Slot(5),
            from_index: 10,
        },
    );
    assert!(refusals.is_empty());
    assert_eq!(shreds.len(), DEFAULT_RESPONSES_MAX);
    assert_eq!(
        shreds[..7],
        (10..17).map(|i| (5, i)).collect::<Vec<_>>()[..]
    );
    assert_eq!(shreds[7], (5, 99));
    // Near the end: no duplicate of the last shred.
    let (shreds, _) = ask(
        &store,
        RepairKind::HighestShred {
            slot: Slot(5),
            from_index: 97,
        },
    );
    assert_eq!(shreds, vec![(5, 97), (5, 98), (5, 99)]);
    // Past the end or unknown slot: DontHave.
    for (slot, from_index) in [(5, 100), (6, 0)] {
        let (shreds, refusals) = ask(
            &store,
            RepairKind::HighestShred {
                slot: Slot(slot),
                from_index,
            },
        );
        assert!(shreds.is_empty());
        assert_eq!(refusals[0].index, from_index);
    }
}

#[test]
fn orphan_walks_back_through_held_ancestors() {
    let mut store = Store::default();
    store.add(10, Some(8), 0..4);
    store.add(8, Some(3), 0..2);
    store.add(3, Some(1), [0]);
    let (shreds, _) = ask(&store, RepairKind::Orphan { slot: Slot(10) });
    // Slot 1 is not held: the walk stops at 3.
    assert_eq!(shreds, vec![(10, 3), (8, 1), (3, 0)]);
    // A long chain is cut at the bound.
    let mut chain = Store::default();
    for s in 1..50 {
        chain.add(s, Some(s - 1), [0]);
    }
    assert_eq!(
        ask(&chain, RepairKind::Orphan { slot: Slot(49) }).0.len(),
        DEFAULT_RESPONSES_MAX
    );
    // A store that claims a slot is its own parent does not loop.
    let mut cyclic = Store::default();
    cyclic.add(4, Some(4), [0]);
    assert_eq!(
        ask(&cyclic, RepairKind::Orphan { slot: Slot(4) }).0.len(),
        1
    );
    let (shreds, refusals) = ask(&store, RepairKind::Orphan { slot: Slot(99) });
    assert!(shreds.is_empty());
    assert_eq!(refusals[0].index, u32::MAX);
}
