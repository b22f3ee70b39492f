use super::*;
use crate::gossip::crds::CrdsData;
use crate::gossip::stats::RejectReason;
use crate::signer::Signer;
use ed25519_dalek::SigningKey;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

const SHRED_VERSION: u16 = 42;
const NOW_MS: u64 = 1_000_000;

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i; 32])
}

fn pk(i: u8) -> Pubkey {
    key(i).pubkey()
}

fn rules() -> TableRules {
    TableRules {
        me: pk(0),
        shred_version: SHRED_VERSION,
        peers_max: 4,
        duplicate_shred_chunks_per_origin_max: 3,
        slashing_evidence_per_origin_max: 2,
        value_expiry_ms: 60_000,
        contact_info_expiry_ms: 3_600_000,
        evidence_expiry_ms: 300_000,
        wallclock_window_ms: 30_000,
    }
}

/// A table whose validators are keys 0..=5 (key 0 is this node).
fn table() -> CrdsTable {
    let validators: Vec<(Pubkey, u64)> = (0..=5).map(|i| (pk(i), 100)).collect();
    CrdsTable::new(rules(), &validators)
}

fn contact_info(shred_version: u16) -> CrdsData {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8001));
    CrdsData::ContactInfo(ContactInfo::at(Pubkey::default(), shred_version, addr))
}

fn signed(i: u8, wallclock_ms: u64, data: CrdsData) -> Arc<SignedValue> {
    Arc::new(SignedValue::sign(
        &key(i),
        &Hash::default(),
        wallclock_ms,
        data,
    ))
}

fn vote(i: u8, wallclock_ms: u64, tx: u8) -> Arc<SignedValue> {
    signed(i, wallclock_ms, CrdsData::Vote { tx: vec![tx; 100] })
}

fn chunk(i: u8, wallclock_ms: u64, slot: u64) -> Arc<SignedValue> {
    signed(
        i,
        wallclock_ms,
        CrdsData::DuplicateShred {
            slot: Slot(slot),
            chunk_index: 0,
            num_chunks: 1,
            chunk: vec![1; 10],
        },
    )
}

fn refused(
    t: &mut CrdsTable,
    stats: &mut GossipStats,
    value: Arc<SignedValue>,
    now_ms: u64,
) -> RejectReason {
    t.insert(now_ms, value, Arrival::Pull, stats)
        .expect_err("refused")
        .reason()
}

#[test]
fn each_refusal_is_counted_by_its_reason() {
    let mut t = table();
    let mut s = GossipStats::default();
    assert_eq!(
        refused(&mut t, &mut s, vote(9, NOW_MS, 1), NOW_MS),
        RejectReason::UnknownOrigin
    );
    assert_eq!(
        refused(&mut t, &mut s, signed(1, NOW_MS, contact_info(43)), NOW_MS),
        RejectReason::ShredVersion
    );
    assert_eq!(
        refused(&mut t, &mut s, vote(1, NOW_MS - 31_000, 1), NOW_MS),
        RejectReason::Wallclock
    );
    assert_eq!(
        refused(&mut t, &mut s, vote(1, NOW_MS + 31_000, 1), NOW_MS),
        RejectReason::Wallclock
    );
    let long_vote = signed(1, NOW_MS, CrdsData::Vote { tx: vec![0; 1_300] });
    assert_eq!(
        refused(&mut t, &mut s, long_vote, NOW_MS),
        RejectReason::Oversized
    );
    // Within the vote bound, but too long to travel in one datagram with its signature.
    let unsendable = signed(1, NOW_MS, CrdsData::Vote { tx: vec![0; 1_150] });
    assert_eq!(
        refused(&mut t, &mut s, unsendable, NOW_MS),
        RejectReason::Oversized
    );
    let mut inconsistent = (*signed(1, NOW_MS, contact_info(SHRED_VERSION))).clone();
    if let CrdsData::ContactInfo(ci) = &mut inconsistent.data {
        ci.pubkey = pk(2);
    }
    assert_eq!(
        refused(&mut t, &mut s, Arc::new(inconsistent), NOW_MS),
        RejectReason::Malformed
    );
    assert_eq!(t.len(), 0);
    let counted: Vec<(&str, u64)> = s.rejections().filter(|(_, n)| *n > 0).collect();
    assert_eq!(
        counted,
        vec![
            ("unknown_origin", 1),
            ("shred_version", 1),
            ("wallclock", 2),
            ("oversized", 2),
            ("malformed", 1)
        ]
    );
    // 30 s off either way is still accepted.
    assert!(t
        .insert(NOW_MS, vote(1, NOW_MS - 30_000, 1), Arrival::Pull, &mut s)
        .is_ok());
    assert!(t
        .insert(NOW_MS, vote(2, NOW_MS + 30_000, 1), Arrival::Pull, &mut s)
        .is_ok());
}

#[test]
fn newer_replaces_older_and_says_so() {
    let mut t = table();
    let mut s = GossipStats::default();
    let first = vote(1, NOW_MS, 1);
    let inserted = t
        .insert(NOW_MS, first.clone(), Arrival::Pull, &mut s)
        .expect("new");
    assert_eq!(inserted.replaced, None);
    assert_eq!(
        refused(&mut t, &mut s, first.clone(), NOW_MS),
        RejectReason::Duplicate
    );
    let second = vote(1, NOW_MS + 400, 2);
    let inserted = t
        .insert(NOW_MS + 400, second.clone(), Arrival::Pull, &mut s)
        .expect("newer");
    assert_eq!(inserted.replaced, Some(first.clone()));
    assert_eq!(inserted.value, second);
    assert_eq!(
        refused(&mut t, &mut s, first, NOW_MS + 400),
        RejectReason::Stale
    );
    assert_eq!(t.len(), 1);
    assert_eq!(t.votes().collect::<Vec<_>>(), vec![&second]);
    assert_eq!((s.values_inserted, s.values_replaced), (2, 1));
}

#[test]
fn equal_wallclocks_are_decided_by_hash_the_same_way_in_any_order() {
    let a = vote(1, NOW_MS, 1);
    let b = vote(1, NOW_MS, 2);
    let winner = if a.hash() > b.hash() { &a } else { &b };
    for order in [[&a, &b], [&b, &a]] {
        let mut t = table();
        let mut s = GossipStats::default();
        for v in order {
            let _ = t.insert(NOW_MS, (*v).clone(), Arrival::Pull, &mut s);
        }
        assert_eq!(t.votes().next(), Some(winner));
    }
}

#[test]
fn values_per_origin_are_bounded_and_the_oldest_make_room() {
    let mut t = table();
    let mut s = GossipStats::default();
    for slot in 0..5u64 {
        t.insert(
            NOW_MS + slot,
            chunk(1, NOW_MS + slot, slot),
            Arrival::Pull,
            &mut s,
        )
        .expect("room is made");
    }
    assert_eq!(t.len(), 3);
    assert_eq!(s.values_evicted, 2);
    let slots: Vec<Slot> = t
        .entries()
        .filter_map(|e| match e.value.data {
            CrdsData::DuplicateShred { slot, .. } => Some(slot),
            _ => None,
        })
        .collect();
    assert_eq!(slots, vec![Slot(2), Slot(3), Slot(4)]);
    // Older than everything held: refused rather than evicting something newer.
    assert_eq!(
        refused(&mut t, &mut s, chunk(1, NOW_MS - 1, 9), NOW_MS),
        RejectReason::TableFull
    );
    // Evidence has its own bound.
    for n in 0..3u8 {
        let evidence = CrdsData::SlashingEvidence {
            offender: pk(2),
            kind: 0,
            first: vec![n; 10],
            second: vec![9; 10],
        };
        let _ = t.insert(
            NOW_MS,
            signed(1, NOW_MS + u64::from(n), evidence),
            Arrival::Pull,
            &mut s,
        );
    }
    assert_eq!(t.len(), 3 + 2);
}

#[test]
fn origins_are_bounded() {
    let mut t = table();
    let mut s = GossipStats::default();
    for i in 1..=4 {
        t.insert(NOW_MS, vote(i, NOW_MS, 1), Arrival::Pull, &mut s)
            .expect("room");
    }
    assert_eq!(
        refused(&mut t, &mut s, vote(5, NOW_MS, 1), NOW_MS),
        RejectReason::TableFull
    );
    assert_eq!(t.origins_len(), 4);
    // Known origins still get new values.
    assert!(t
        .insert(
            NOW_MS,
            signed(4, NOW_MS, contact_info(SHRED_VERSION)),
            Arrival::Pull,
            &mut s
        )
        .is_ok());
}

#[test]
fn values_expire_unless_renewed_and_evidence_lives_longer() {
    let mut t = table();
    let mut s = GossipStats::default();
    t.insert(NOW_MS, vote(1, NOW_MS, 1), Arrival::Pull, &mut s)
        .expect("new");
    t.insert(NOW_MS, vote(2, NOW_MS, 1), Arrival::Pull, &mut s)
        .expect("new");
    t.insert(NOW_MS, chunk(3, NOW_MS, 1), Arrival::Pull, &mut s)
        .expect("new");
    t.insert(
        NOW_MS,
        signed(0, NOW_MS, contact_info(SHRED_VERSION)),
        Arrival::Own,
        &mut s,
    )
    .expect("own");
    assert_eq!(t.next_expiry_ms(), Some(NOW_MS + 60_000));
    // Vote 2 is renewed 30 s in.
    t.insert(
        NOW_MS + 30_000,
        vote(2, NOW_MS + 30_000, 2),
        Arrival::Pull,
        &mut s,
    )
    .expect("newer");
    t.expire(NOW_MS + 59_999, &mut s);
    assert_eq!(t.len(), 4);
    t.expire(NOW_MS + 60_000, &mut s);
    assert_eq!(t.len(), 3);
    assert!(t.votes().all(|v| v.origin == pk(2)));
    t.expire(NOW_MS + 90_000, &mut s);
    assert_eq!(t.len(), 2, "the chunk and this node's contact info remain");
    t.expire(NOW_MS + 300_000, &mut s);
    assert_eq!(t.len(), 1);
    assert_eq!(t.contact_infos().next().map(|c| c.pubkey), Some(pk(0)));
    assert_eq!(s.values_expired, 3);
    assert_eq!(t.next_expiry_ms(), None);
}

#[test]
fn a_value_replaced_often_expires_at_its_last_deadline_which_next_expiry_tells() {
    let mut t = table();
    let mut s = GossipStats::default();
    // Replaced every 400 ms: each replacement keeps the first record, filed earlier.
    for n in 0..=10 {
        let at_ms = NOW_MS + 400 * n;
        t.insert(at_ms, vote(1, at_ms, n as u8), Arrival::Push, &mut s)
            .expect("newer");
    }
    let last_ms = NOW_MS + 4_000;
    assert_eq!(t.next_expiry_ms(), Some(last_ms + 60_000));
    t.insert(
        NOW_MS + 100,
        vote(2, NOW_MS + 100, 1),
        Arrival::Push,
        &mut s,
    )
    .expect("new");
    assert_eq!(t.next_expiry_ms(), Some(NOW_MS + 60_100));
    t.expire(NOW_MS + 60_100, &mut s);
    assert_eq!((t.len(), s.values_expired), (1, 1));
    assert_eq!(t.next_expiry_ms(), Some(last_ms + 60_000));
    // A clock that went back files the replacement at its earlier deadline.
    t.insert(
        NOW_MS + 1_000,
        vote(1, last_ms + 1, 99),
        Arrival::Push,
        &mut s,
    )
    .expect("newer");
    assert_eq!(t.next_expiry_ms(), Some(NOW_MS + 61_000));
    t.expire(NOW_MS + 60_999, &mut s);
    assert_eq!(t.len(), 1);
    t.expire(NOW_MS + 61_000, &mut s);
    assert_eq!((t.len(), s.values_expired), (0, 2));
    assert_eq!(t.next_expiry_ms(), None);
}

#[test]
fn this_nodes_values_from_the_network_are_refused() {
    let mut t = table();
    let mut s = GossipStats::default();
    assert_eq!(
        refused(&mut t, &mut s, vote(0, NOW_MS, 1), NOW_MS),
        RejectReason::Duplicate
    );
    // Own values need not be validators' either (a non-voting node still gossips its address).
    let validators = [(pk(1), 1)];
    let mut t = CrdsTable::new(rules(), &validators);
    assert!(t
        .insert(NOW_MS, vote(0, NOW_MS, 1), Arrival::Own, &mut s)
        .is_ok());
}
