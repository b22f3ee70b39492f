//! Crash safety: the node is SIGKILLed while it is producing blocks full of transfers, restarted on the
//! same ledger, and must have lost no committed slot, replay what sits above its root, conserve the
//! total supply, and keep producing.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{Options, TestValidator};
use dataplane::txn::build_transfer;
use dataplane::types::Pubkey;
use serde_json::json;

fn pubkey(k: &ed25519_dalek::SigningKey) -> Pubkey {
    Pubkey(k.verifying_key().to_bytes())
}

fn total_supply(node: &TestValidator) -> u64 {
    let mut keys: Vec<Pubkey> = node.accounts.iter().map(pubkey).collect();
    keys.push(pubkey(&node.faucet));
    keys.push(node.identity);
    keys.iter().map(|k| node.balance(k)).sum()
}

#[test]
fn sigkill_mid_run_then_restart_loses_nothing_committed() {
    let mut node = TestValidator::start(Options {
        accounts: 8,
        ..Options::default()
    });
    let genesis_supply = node.genesis.total_supply().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();

    // Stream transfers among the accounts for a while, then kill -9 in the middle of the stream.
    let start = Instant::now();
    let mut n = 0u64;
    let mut blockhash = node.blockhash();
    let mut last_refresh = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if last_refresh.elapsed() > Duration::from_millis(500) {
            blockhash = node.blockhash();
            last_refresh = Instant::now();
        }
        for _ in 0..50 {
            let from = &node.accounts[(n % 8) as usize];
            let to = pubkey(&node.accounts[((n + 1) % 8) as usize]);
            let wire = build_transfer(from, &to, 1 + n % 997, &blockhash);
            socket.send_to(&wire, node.tpu_addr).unwrap();
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Tower BFT roots a block once 31 votes are stacked on it: wait for the first roots.
    let deadline = Instant::now() + Duration::from_secs(30);
    let finalized_before = loop {
        let f = node.rpc("getSlot", json!([{"commitment": "finalized"}]));
        let f = f.as_u64().unwrap();
        if f > 5 || Instant::now() > deadline {
            break f;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        finalized_before > 5,
        "nothing finalized: {finalized_before}"
    );
    let mut blocks_before = Vec::new();
    for slot in finalized_before.saturating_sub(5)..=finalized_before {
        if let Ok(b) = node.try_rpc(
            "getBlock",
            json!([slot, {"transactionDetails": "signatures", "rewards": false}]),
        ) {
            blocks_before.push((slot, b));
        }
    }
    assert!(!blocks_before.is_empty());
    // Keep sending so the kill lands mid-slot with transactions in flight.
    for _ in 0..200 {
        let from = &node.accounts[(n % 8) as usize];
        let to = pubkey(&node.accounts[((n + 3) % 8) as usize]);
        let wire = build_transfer(from, &to, 1 + n % 991, &blockhash);
        socket.send_to(&wire, node.tpu_addr).unwrap();
        n += 1;
    }
    node.kill9();

    node.spawn();
    let log = node.log();
    assert!(
        log.contains("replayed"),
        "restart must report its replay of stored blocks above the root\n{log}"
    );
    let finalized_after = node.rpc("getSlot", json!([{"commitment": "finalized"}]));
    assert!(finalized_after.as_u64().unwrap() >= finalized_before);
    for (slot, before) in &blocks_before {
        let after = node.rpc(
            "getBlock",
            json!([slot, {"transactionDetails": "signatures", "rewards": false}]),
        );
        assert_eq!(&after, before, "block {slot} changed across the crash");
    }
    assert_eq!(total_supply(&node), genesis_supply);

    // The restarted node keeps producing and confirming.
    let to = Pubkey([42; 32]);
    let wire = build_transfer(&node.accounts[0], &to, 777, &node.blockhash());
    let sig = bs58_sig(&wire);
    socket.send_to(&wire, node.tpu_addr).unwrap();
    let status = node.wait_finalized(&sig, Duration::from_secs(30));
    assert!(status["err"].is_null(), "{status}");
    assert_eq!(node.balance(&to), 777);
    let mut keys: Vec<Pubkey> = node.accounts.iter().map(pubkey).collect();
    keys.extend([pubkey(&node.faucet), node.identity, to]);
    let supply: u64 = keys.iter().map(|k| node.balance(k)).sum();
    assert_eq!(supply, genesis_supply);
}

fn bs58_sig(wire: &[u8]) -> String {
    dataplane::types::Signature(wire[1..65].try_into().unwrap()).to_string()
}
