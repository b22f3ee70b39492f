//! A validator with `storage.limit_ledger_slots` prunes rooted history below the window while it
//! runs: RPC answers for a pruned block as Solana does for a cleaned-up one, the pruned
//! transaction is no longer served, counts and supply stay right, and the node restarts on its
//! pruned ledger.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{Options, TestValidator};
use dataplane::txn::build_transfer;
use dataplane::types::Pubkey;
use serde_json::json;

/// The smallest window the config accepts.
const KEPT: u64 = blackbook::config::LIMIT_LEDGER_SLOTS_MIN;

fn first_available(node: &TestValidator) -> u64 {
    node.rpc("getFirstAvailableBlock", json!([]))
        .as_u64()
        .unwrap()
}

fn supply(node: &TestValidator) -> u64 {
    node.rpc("getSupply", json!([]))["value"]["total"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_bounded_ledger_prunes_old_blocks_and_rpc_answers_as_solana_does() {
    let mut node = TestValidator::start(Options {
        slot_ms: 50,
        hashes_per_tick: 500,
        limit_ledger_slots: Some(KEPT),
        ..Options::default()
    });
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let wire = build_transfer(
        &node.accounts[0],
        &Pubkey([7; 32]),
        1_000,
        &node.blockhash(),
    );
    let sig = dataplane::types::Signature(wire[1..65].try_into().unwrap()).to_string();
    socket.send_to(&wire, node.tpu_addr).unwrap();
    let status = node.wait_finalized(&sig, Duration::from_secs(30));
    let slot = status["slot"].as_u64().unwrap();
    let count_before = node.rpc("getTransactionCount", json!([])).as_u64().unwrap();
    // Blocks up to the transfer's, all to be pruned (slots skipped on a busy machine have none).
    let blocks_to_prune = node
        .rpc("getBlocks", json!([0, slot]))
        .as_array()
        .unwrap()
        .len() as u64;
    assert!(blocks_to_prune >= 1);
    let supply_before = supply(&node);
    assert!(node.rpc("getTransaction", json!([sig])).is_object());

    // Rooted slots move past the window: the transfer's block is pruned.
    let deadline = Instant::now() + Duration::from_secs(60);
    while first_available(&node) <= slot {
        assert!(
            Instant::now() < deadline,
            "slot {slot} not pruned in time (first available {})\n{}",
            first_available(&node),
            node.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let first = first_available(&node);
    assert_eq!(
        node.rpc("minimumLedgerSlot", json!([])).as_u64().unwrap(),
        first
    );
    let root = node
        .rpc("getSlot", json!([{"commitment": "finalized"}]))
        .as_u64()
        .unwrap();
    assert!(
        first + KEPT >= root.saturating_sub(8),
        "kept {first}..{root}: more pruned than the window"
    );
    for method in ["getBlock", "getBlockTime"] {
        let err = node.try_rpc(method, json!([slot])).unwrap_err();
        assert_eq!(err["code"], -32001, "{method}: {err}");
        let message = err["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "Block {slot} cleaned up, does not exist on node. First available block: "
            )),
            "{message}"
        );
    }
    // (getSignatureStatuses may still answer from the bank's status cache, which keeps the last
    // 150 blockhashes' transactions for replay protection, pruned ledger or not.)
    assert_eq!(node.rpc("getTransaction", json!([sig])), json!(null));
    // Kept blocks still answer, and the counts do not go back.
    // The oldest kept block's parent is gone: Solana then answers the default hash.
    let oldest = node.rpc("getBlock", json!([first]));
    assert_eq!(
        oldest["previousBlockhash"], "11111111111111111111111111111111",
        "{oldest}"
    );
    let count = node.rpc("getTransactionCount", json!([])).as_u64().unwrap();
    assert!(count >= count_before, "{count} < {count_before}");
    assert_eq!(supply(&node), supply_before);
    // Counted once the pruning's commit returns, a moment after readers see it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.metric("blackbook_ledger_pruned_blocks") < blocks_to_prune {
        assert!(
            Instant::now() < deadline,
            "pruned {} of the {blocks_to_prune} blocks up to slot {slot}",
            node.metric("blackbook_ledger_pruned_blocks")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(node.metric("blackbook_ledger_file_bytes") > 0);

    // Restarted on its pruned ledger, it loads, keeps its counts and goes on pruning.
    assert!(node.terminate().success());
    node.spawn();
    let count_after = node.rpc("getTransactionCount", json!([])).as_u64().unwrap();
    assert!(
        count_after >= count,
        "{count_after} < {count}\n{}",
        node.log()
    );
    assert!(first_available(&node) >= first);
    assert_eq!(supply(&node), supply_before);
    let wire = build_transfer(
        &node.accounts[1],
        &Pubkey([8; 32]),
        1_000,
        &node.blockhash(),
    );
    let sig = dataplane::types::Signature(wire[1..65].try_into().unwrap()).to_string();
    socket.send_to(&wire, node.tpu_addr).unwrap();
    node.wait_finalized(&sig, Duration::from_secs(30));
}
