//! Hostile input: each kind of bad transaction is rejected with a clear reason (an RPC error for RPC
//! callers), counted by reason in the node's metrics, and the node keeps going.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use base64::Engine;
use common::{Options, TestValidator};
use dataplane::txn::build_transfer;
use dataplane::types::{Hash, Pubkey, Signature};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn send_rpc(node: &TestValidator, wire: &[u8]) -> Result<Value, Value> {
    node.try_rpc(
        "sendTransaction",
        json!([b64(wire), {"encoding": "base64"}]),
    )
}

fn sig_of(wire: &[u8]) -> String {
    Signature(wire[1..65].try_into().unwrap()).to_string()
}

fn rejected(reason: &str) -> String {
    format!("blackbook_rejected_total{{reason=\"{reason}\"}}")
}

#[test]
fn every_kind_of_bad_input_is_refused_counted_and_survived() {
    let node = TestValidator::start(Options::default());
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let alice = &node.accounts[0];
    let bob = Pubkey(node.accounts[1].verifying_key().to_bytes());
    let blockhash = node.blockhash();

    // Malformed packet.
    udp.send_to(&[0xde, 0xad, 0xbe, 0xef], node.tpu_addr)
        .unwrap();
    node.wait_metric(&rejected("malformed"), 1);
    let e = send_rpc(&node, &[1, 2, 3]).unwrap_err();
    assert_eq!(e["code"], -32602, "{e}");

    // Oversized packet.
    udp.send_to(&[7u8; 1400], node.tpu_addr).unwrap();
    node.wait_metric(&rejected("oversized"), 1);
    let e = send_rpc(&node, &[7u8; 1400]).unwrap_err();
    assert_eq!(e["code"], -32602, "{e}");
    assert!(e["message"].as_str().unwrap().contains("1232"), "{e}");

    // Bad signature.
    let mut forged = build_transfer(alice, &bob, 10, &blockhash);
    forged[5] ^= 0x40;
    udp.send_to(&forged, node.tpu_addr).unwrap();
    node.wait_metric(&rejected("bad_signature"), 1);
    let e = send_rpc(&node, &forged).unwrap_err();
    assert_eq!(e["code"], -32003, "{e}");

    // Unknown program: make the third key (the program id) something else and re-sign.
    let mut wire = build_transfer(alice, &bob, 10, &blockhash);
    let program_off = 1 + 64 + 3 + 1 + 64;
    wire[program_off] = 9;
    let msg_sig = ed25519_dalek::Signer::sign(alice, &wire[65..]);
    wire[1..65].copy_from_slice(&msg_sig.to_bytes());
    udp.send_to(&wire, node.tpu_addr).unwrap();
    node.wait_metric(&rejected("unsupported_program"), 1);
    let e = send_rpc(&node, &wire).unwrap_err();
    assert!(
        e["message"].as_str().unwrap().contains("not supported"),
        "{e}"
    );

    // Stale (unknown) blockhash.
    let stale = build_transfer(alice, &bob, 11, &Hash([0x5a; 32]));
    udp.send_to(&stale, node.tpu_addr).unwrap();
    node.wait_metric(&rejected("blockhash_not_found"), 1);
    let e = send_rpc(&node, &stale).unwrap_err();
    assert_eq!(e["code"], -32002, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Blockhash not found"),
        "{e}"
    );

    // Fee payer that cannot pay the fee: not included.
    let pauper = SigningKey::from_bytes(&[0x77; 32]);
    let broke = build_transfer(&pauper, &bob, 1, &blockhash);
    udp.send_to(&broke, node.tpu_addr).unwrap();
    node.wait_metric(&rejected("insufficient_funds_for_fee"), 1);
    let e = send_rpc(&node, &broke).unwrap_err();
    assert_eq!(e["code"], -32002, "{e}");

    // Insufficient funds for the transfer itself: refused by preflight over RPC, included as failed
    // (fee paid) when it arrives over UDP.
    let huge = build_transfer(alice, &bob, u64::MAX / 2, &blockhash);
    let e = send_rpc(&node, &huge).unwrap_err();
    assert_eq!(e["code"], -32002, "{e}");
    assert!(e.to_string().contains("InstructionError"), "{e}");
    udp.send_to(&huge, node.tpu_addr).unwrap();
    let status = node.wait_finalized(&sig_of(&huge), Duration::from_secs(30));
    assert_eq!(
        status["err"],
        json!({"InstructionError": [0, {"Custom": 1}]}),
        "{status}"
    );

    // Duplicate transaction: the same packet twice is dropped by dedup; resubmitting a processed
    // transaction over RPC is refused as already processed.
    let good = build_transfer(alice, &bob, 12, &blockhash);
    udp.send_to(&good, node.tpu_addr).unwrap();
    udp.send_to(&good, node.tpu_addr).unwrap();
    node.wait_metric(&rejected("duplicate_signature"), 1);
    node.wait_finalized(&sig_of(&good), Duration::from_secs(30));
    let e = send_rpc(&node, &good).unwrap_err();
    assert_eq!(e["code"], -32002, "{e}");
    assert!(e.to_string().contains("AlreadyProcessed"), "{e}");

    // Still alive and correct: a good transfer confirms and balances add up.
    let before = node.balance(&bob);
    let ok = build_transfer(alice, &bob, 1_000, &node.blockhash());
    let sig = send_rpc(&node, &ok).unwrap();
    assert_eq!(sig.as_str().unwrap(), sig_of(&ok));
    node.wait_finalized(&sig_of(&ok), Duration::from_secs(30));
    assert_eq!(node.balance(&bob), before + 1_000);
}
