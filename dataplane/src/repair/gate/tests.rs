use std::net::SocketAddr;

use super::*;
use crate::repair::{RepairKind, RepairRequest, PONG_LEN};
use crate::types::Slot;

const WALL: u64 = 1_700_000_000_000;
const SERVER: u8 = 1;
const MEMBER: u8 = 2;
const STRANGER: u8 = 9;

fn key(b: u8) -> SigningKey {
    SigningKey::from_bytes(&[b; 32])
}

fn id(b: u8) -> Pubkey {
    Pubkey(key(b).verifying_key().to_bytes())
}

fn genesis() -> Hash {
    Hash::of(b"cluster A")
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

fn at(monotonic_ms: u64) -> GateTime {
    GateTime {
        wallclock_ms: WALL + monotonic_ms,
        monotonic_ms,
    }
}

/// A gate for node [`SERVER`] of a cluster of [`SERVER`] and [`MEMBER`].
fn gate(config: GateConfig) -> RepairGate {
    RepairGate::new(
        key(SERVER),
        genesis(),
        [id(SERVER), id(MEMBER)],
        config,
        [0x42; 32],
    )
}

/// An `Orphan` request (the smallest kind) from `signer` with `nonce`, sent at `monotonic_ms`.
fn request(signer: u8, nonce: u32, monotonic_ms: u64) -> Vec<u8> {
    RepairRequest {
        recipient: id(SERVER),
        wallclock_ms: WALL + monotonic_ms,
        nonce,
        kind: RepairKind::Orphan { slot: Slot(5) },
    }
    .sign(&key(signer), &genesis())
    .encode()
}

/// What `signer` answers to the ping in `outcome`.
fn pong_to(outcome: &GateOutcome, signer: u8) -> [u8; PONG_LEN] {
    let PingAction::Send(ping) = outcome.ping else {
        panic!("no ping in {outcome:?}");
    };
    let ping = Ping::decode(&ping).unwrap();
    ping.verify(&genesis()).unwrap();
    assert_eq!(ping.from, id(SERVER));
    Pong::new(&ping, &key(signer), &genesis()).encode()
}

fn refused(outcome: &GateOutcome) -> Option<&RepairError> {
    match &outcome.verdict {
        Verdict::Refused(err) => Some(err),
        _ => None,
    }
}

fn served(outcome: &GateOutcome) -> bool {
    matches!(outcome.verdict, Verdict::Serve(_))
}

/// A gate that has verified [`MEMBER`] at `addr(1)` at time 0.
fn verified_gate(config: GateConfig) -> RepairGate {
    let mut g = gate(config);
    let first = g.on_datagram(&request(MEMBER, 0, 0), addr(1), at(0));
    let pong = pong_to(&first, MEMBER);
    let accepted = g.on_datagram(&pong, addr(1), at(0));
    assert_eq!(accepted.verdict, Verdict::PongAccepted(id(MEMBER)));
    g
}

#[test]
fn a_stranger_gets_nothing_not_even_a_ping() {
    let mut g = gate(GateConfig::default());
    let out = g.on_datagram(&request(STRANGER, 1, 0), addr(1), at(0));
    assert_eq!(refused(&out), Some(&RepairError::NotMember(id(STRANGER))));
    assert_eq!(out.ping, PingAction::None);
    // Its pongs are refused before their signature is even looked at.
    let ping = Ping::new([1; 32], &key(SERVER), &genesis());
    let pong = Pong::new(&ping, &key(STRANGER), &genesis()).encode();
    let out = g.on_datagram(&pong, addr(1), at(0));
    assert_eq!(refused(&out), Some(&RepairError::NotMember(id(STRANGER))));
}

#[test]
fn a_member_at_an_unproven_address_gets_only_a_ping_no_larger_than_its_request() {
    let mut g = gate(GateConfig::default());
    let bytes = request(MEMBER, 1, 0);
    let out = g.on_datagram(&bytes, addr(1), at(0));
    assert_eq!(
        refused(&out),
        Some(&RepairError::UnverifiedAddress {
            requester: id(MEMBER),
            addr: addr(1)
        })
    );
    let PingAction::Send(ping) = out.ping else {
        panic!("expected a ping, got {out:?}");
    };
    assert!(ping.len() <= bytes.len());
}

#[test]
fn after_a_pong_from_the_same_address_the_member_is_served() {
    let mut g = verified_gate(GateConfig::default());
    let out = g.on_datagram(&request(MEMBER, 1, 10), addr(1), at(10));
    assert!(served(&out), "{out:?}");
    assert_eq!(out.ping, PingAction::None);
    assert_eq!(g.verified_tracked(), 1);
    // The proof is for that address only: the same key elsewhere starts over.
    let out = g.on_datagram(&request(MEMBER, 2, 10), addr(2), at(10));
    assert!(matches!(
        refused(&out),
        Some(RepairError::UnverifiedAddress { .. })
    ));
}

#[test]
fn a_pong_from_another_address_or_with_another_token_is_refused() {
    let mut g = gate(GateConfig::default());
    let first = g.on_datagram(&request(MEMBER, 0, 0), addr(1), at(0));
    let pong = pong_to(&first, MEMBER);
    // An attacker who forges requests from addr(1) cannot see the ping, so cannot make the pong
    // from there; the member's own pong, sent from elsewhere, proves nothing about addr(1).
    let out = g.on_datagram(&pong, addr(2), at(0));
    assert_eq!(
        refused(&out),
        Some(&RepairError::PongMismatch {
            from: id(MEMBER),
            addr: addr(2)
        })
    );
    let guessed = Pong::new(
        &Ping::new([0; 32], &key(SERVER), &genesis()),
        &key(MEMBER),
        &genesis(),
    )
    .encode();
    assert!(matches!(
        refused(&g.on_datagram(&guessed, addr(1), at(0))),
        Some(RepairError::PongMismatch { .. })
    ));
    // A pong signed by the wrong key for the claimed member.
    let mut forged = pong;
    forged[..64].copy_from_slice(&[7; 64]);
    assert_eq!(
        refused(&g.on_datagram(&forged, addr(1), at(0))),
        Some(&RepairError::BadSignature(id(MEMBER)))
    );
    // Still unverified.
    let out = g.on_datagram(&request(MEMBER, 1, 0), addr(1), at(0));
    assert!(!served(&out));
    assert_eq!(g.verified_tracked(), 0);
}

#[test]
fn a_pong_past_its_tokens_window_has_expired() {
    let config = GateConfig::default();
    let window = config.ping.token_window_ms;
    let mut g = gate(config);
    let first = g.on_datagram(&request(MEMBER, 0, 0), addr(1), at(0));
    let pong = pong_to(&first, MEMBER);
    // Within the next window still good (checked on a copy), two windows later expired.
    let late = 2 * window;
    assert!(matches!(
        refused(&g.on_datagram(&pong, addr(1), at(late))),
        Some(RepairError::PongMismatch { .. })
    ));
    let out = g.on_datagram(&pong, addr(1), at(window + window / 2));
    assert_eq!(out.verdict, Verdict::PongAccepted(id(MEMBER)));
}

#[test]
fn pings_to_one_address_are_rate_limited() {
    let mut g = gate(GateConfig::default());
    let pings: Vec<PingAction> = (0..5)
        .map(|n| g.on_datagram(&request(MEMBER, n, 0), addr(1), at(0)).ping)
        .collect();
    assert!(matches!(pings[0], PingAction::Send(_)));
    assert!(matches!(pings[1], PingAction::Send(_)));
    assert!(pings[2..].iter().all(|p| *p == PingAction::RateLimited));
    // One a second after the burst.
    let later = g.on_datagram(&request(MEMBER, 9, 1_000), addr(1), at(1_000));
    assert!(matches!(later.ping, PingAction::Send(_)));
}

#[test]
fn a_verification_expires_and_is_refreshed_from_half_life() {
    let config = GateConfig::default();
    let ttl = config.ping.verified_ttl_ms;
    let mut g = verified_gate(config);
    let young = g.on_datagram(&request(MEMBER, 1, ttl / 4), addr(1), at(ttl / 4));
    assert!(served(&young));
    assert_eq!(young.ping, PingAction::None);
    // Past half-life: served, and pinged so the member can renew before expiry.
    let old = g.on_datagram(&request(MEMBER, 2, ttl / 2), addr(1), at(ttl / 2));
    assert!(served(&old));
    let pong = pong_to(&old, MEMBER);
    g.on_datagram(&pong, addr(1), at(ttl / 2));
    // Renewed at ttl / 2: at ttl - 1 it is young again.
    let renewed = g.on_datagram(&request(MEMBER, 3, ttl - 1), addr(1), at(ttl - 1));
    assert!(served(&renewed), "{renewed:?}");
    assert_eq!(renewed.ping, PingAction::None);
    // Without renewal it expires.
    let expired = g.on_datagram(
        &request(MEMBER, 4, ttl / 2 + ttl),
        addr(1),
        at(ttl / 2 + ttl),
    );
    assert!(matches!(
        refused(&expired),
        Some(RepairError::UnverifiedAddress { .. })
    ));
    assert!(matches!(expired.ping, PingAction::Send(_)));
}

#[test]
fn per_address_and_per_key_buckets_both_hold() {
    let tight = TokenBucketConfig {
        per_s: 1,
        burst: 3,
        keys_max: 16,
    };
    let mut g = verified_gate(GateConfig {
        addresses: tight,
        ..GateConfig::default()
    });
    // The verifying request and the pong took two of addr(1)'s three tokens.
    assert!(served(&g.on_datagram(
        &request(MEMBER, 1, 0),
        addr(1),
        at(0)
    )));
    assert_eq!(
        refused(&g.on_datagram(&request(MEMBER, 2, 0), addr(1), at(0))),
        Some(&RepairError::AddressRateLimited(addr(1)))
    );

    let mut g = verified_gate(GateConfig {
        requesters: tight,
        ..GateConfig::default()
    });
    for nonce in 1..=3 {
        assert!(served(&g.on_datagram(
            &request(MEMBER, nonce, 0),
            addr(1),
            at(0)
        )));
    }
    assert_eq!(
        refused(&g.on_datagram(&request(MEMBER, 4, 0), addr(1), at(0))),
        Some(&RepairError::RateLimited(id(MEMBER)))
    );
}

#[test]
fn a_replayed_request_is_refused_without_a_ping() {
    let mut g = verified_gate(GateConfig::default());
    let bytes = request(MEMBER, 7, 0);
    assert!(served(&g.on_datagram(&bytes, addr(1), at(0))));
    // Replayed from the member's address, or from a forged one: refused, and nothing is sent.
    for from in [addr(1), addr(3)] {
        let out = g.on_datagram(&bytes, from, at(0));
        assert_eq!(
            refused(&out),
            Some(&RepairError::DuplicateNonce {
                requester: id(MEMBER),
                nonce: 7
            })
        );
        assert_eq!(out.ping, PingAction::None);
    }
}

#[test]
fn junk_stale_and_misaddressed_requests_are_refused_without_a_ping() {
    let mut g = gate(GateConfig::default());
    for (bytes, now) in [
        (b"junk".to_vec(), 0),
        (request(MEMBER, 1, 0), 60_000),
        (
            RepairRequest {
                recipient: id(MEMBER),
                wallclock_ms: WALL,
                nonce: 1,
                kind: RepairKind::Orphan { slot: Slot(5) },
            }
            .sign(&key(MEMBER), &genesis())
            .encode(),
            0,
        ),
    ] {
        let out = g.on_datagram(&bytes, addr(1), at(now));
        assert!(refused(&out).is_some(), "{out:?}");
        assert_eq!(out.ping, PingAction::None);
    }
}

#[test]
fn the_verified_table_is_bounded() {
    let mut config = GateConfig::default();
    config.ping.verified_max = 2;
    config.ping.pings.burst = 100;
    let mut g = gate(config);
    for port in 1..=5 {
        let first = g.on_datagram(&request(MEMBER, u32::from(port), 0), addr(port), at(0));
        let pong = pong_to(&first, MEMBER);
        let out = g.on_datagram(&pong, addr(port), at(u64::from(port)));
        assert_eq!(out.verdict, Verdict::PongAccepted(id(MEMBER)));
        assert!(g.verified_tracked() <= 2);
    }
    // The newest are kept.
    assert!(served(&g.on_datagram(
        &request(MEMBER, 50, 9),
        addr(5),
        at(9)
    )));
    assert!(!served(&g.on_datagram(
        &request(MEMBER, 51, 9),
        addr(1),
        at(9)
    )));
}
