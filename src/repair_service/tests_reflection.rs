//! Repair cannot be used for reflection: on real loopback sockets, requests from a key outside the
//! cluster, and a member's signed requests from an address that never answers a ping (what a forged
//! source address looks like to the serve side), draw nothing larger than themselves; after a
//! ping/pong from its own address, the member is served.
//!
//! Forging a source address needs a raw socket; here the "victim" socket sends the requests itself
//! and simply never answers, which is all the serve side can see of a forged source.
//!
//! Before the gate (commit 5c5c274), the first case's 64 `Orphan` requests (9,536 bytes) drew 512
//! shreds (630,784 bytes) to the requests' source.

use std::net::UdpSocket;
use std::time::Duration;

use dataplane::repair::{
    decode_response, GateConfig, RepairKind, RepairRequest, RepairResponse, REQUEST_LEN_MIN,
    SHRED_RESPONSE_LEN,
};
use dataplane::types::Slot;
use ed25519_dalek::SigningKey;

use super::tests::{bind, genesis, get, key, prove_address, store_block, wait_until, Server};
use super::wallclock_ms;

/// What a socket received.
#[derive(Debug, Default)]
struct Received {
    datagrams: usize,
    bytes: usize,
    largest: usize,
    pings: usize,
    shreds: usize,
}

/// Everything `socket` receives until it has been quiet for 300 ms.
fn drain(socket: &UdpSocket) -> Received {
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut got = Received::default();
    while let Ok(n) = socket.recv(&mut buf) {
        got.datagrams += 1;
        got.bytes += n;
        got.largest = got.largest.max(n);
        match decode_response(&buf[..n]) {
            Ok(RepairResponse::Ping(_)) => got.pings += 1,
            Ok(RepairResponse::Shred { .. }) => got.shreds += 1,
            _ => {}
        }
    }
    got
}

/// Sends `count` `Orphan` requests for slot 10 signed by `signer` from `socket`, nonces from
/// `first_nonce`; returns the bytes sent.
fn send_orphans(
    a: &Server,
    signer: &SigningKey,
    socket: &UdpSocket,
    count: u32,
    first_nonce: u32,
) -> usize {
    let mut sent = 0;
    for nonce in first_nonce..first_nonce + count {
        let bytes = RepairRequest {
            recipient: a.identity,
            wallclock_ms: wallclock_ms(),
            nonce,
            kind: RepairKind::Orphan { slot: Slot(10) },
        }
        .sign(signer, &genesis())
        .encode();
        assert_eq!(bytes.len(), REQUEST_LEN_MIN);
        sent += socket.send_to(&bytes, a.serve_addr).unwrap();
    }
    sent
}

/// A serving node holding slots 1 to 10, each on the one before: an `Orphan` request for slot 10
/// draws eight shreds, the most one request may.
fn chain_server() -> Server {
    let a = Server::start(key(1), GateConfig::default());
    for slot in 1..=10 {
        store_block(&a.store, slot, slot - 1, 3_000);
    }
    a
}

#[test]
fn a_fresh_key_outside_the_cluster_draws_nothing() {
    let a = chain_server();
    let victim = bind();
    let sent = send_orphans(&a, &SigningKey::from_bytes(&[77; 32]), &victim, 64, 0);
    assert!(wait_until(Duration::from_secs(3), || get(&a
        .stats
        .serve_received)
        == 64));
    let got = drain(&victim);
    eprintln!("non-member: sent {sent} bytes in 64 requests, received {got:?}");
    assert_eq!(got.bytes, 0, "{got:?}");
    assert_eq!(get(&a.stats.serve_rejected_not_member), 64);
    assert_eq!(get(&a.stats.serve_pings_sent), 0);
    assert_eq!(get(&a.stats.serve_shreds_sent), 0);
}

#[test]
fn an_unproven_address_gets_only_pings_no_larger_than_the_requests_until_it_answers() {
    let a = chain_server();
    let member = key(3);
    // The member's own requests from an address that never answers a ping.
    let victim = bind();
    let sent = send_orphans(&a, &member, &victim, 64, 0);
    assert!(wait_until(Duration::from_secs(3), || get(&a
        .stats
        .serve_received)
        == 64));
    let got = drain(&victim);
    eprintln!("member, unproven address: sent {sent} bytes in 64 requests, received {got:?}");
    assert!(got.largest <= REQUEST_LEN_MIN, "{got:?}");
    assert_eq!(got.datagrams, got.pings, "{got:?}");
    // Pings are rate-limited per address: the burst, not one per request.
    assert!((1..=2).contains(&got.pings), "{got:?}");
    assert!(got.bytes * 32 <= sent, "{got:?}");
    let s = &a.stats;
    assert_eq!(get(&s.serve_rejected_unverified_address), 64);
    assert_eq!(get(&s.serve_pings_sent) as usize, got.pings);
    assert_eq!(get(&s.serve_pings_rate_limited) as usize, 64 - got.pings);
    assert_eq!(get(&s.serve_shreds_sent), 0);

    // Once the member proves its own address it is served in full there...
    let own = bind();
    own.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    prove_address(&a, &member, &own);
    let asked = send_orphans(&a, &member, &own, 1, 1_000);
    let served = drain(&own);
    eprintln!("member, proven address: sent {asked} bytes in 1 request, received {served:?}");
    assert_eq!(served.shreds, 8, "{served:?}");
    assert_eq!(served.bytes, 8 * SHRED_RESPONSE_LEN);
    // ...but that proves nothing about the other address.
    let before = get(&s.serve_rejected_unverified_address);
    send_orphans(&a, &member, &victim, 8, 2_000);
    assert!(wait_until(Duration::from_secs(3), || get(
        &s.serve_rejected_unverified_address
    ) == before + 8));
    let after = drain(&victim);
    assert_eq!(after.shreds, 0, "{after:?}");
    assert!(after.largest <= REQUEST_LEN_MIN, "{after:?}");
}
