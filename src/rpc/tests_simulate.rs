//! `simulateTransaction`: Solana's result shape, logs and units, accounts, blockhash replacement,
//! signature checks and bounds.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use dataplane::compute_budget::ComputeBudgetInstruction;
use dataplane::txn::{build_transfer, build_transfer_with_budget};
use dataplane::types::{Hash, Pubkey};
use serde_json::{json, Value};

use super::error::*;
use super::test_node::*;

fn b64(wire: &[u8]) -> Value {
    json!(BASE64.encode(wire))
}

#[tokio::test]
async fn a_transfer_simulates_with_logs_units_fee_and_balances() {
    let node = start().await;
    let c = &node.chain;
    let wire = build_transfer_with_budget(
        &c.payer,
        &c.recipient,
        100,
        &BLOCKHASH,
        &[ComputeBudgetInstruction::SetComputeUnitPrice(1_000_000)],
    );
    let v = node
        .ok(
            "simulateTransaction",
            json!([b64(&wire), {"encoding": "base64", "commitment": "processed",
                "accounts": {"addresses": [c.recipient.to_string(), Pubkey([0x55; 32]).to_string()]}}]),
        )
        .await;
    assert_context(&v, PROCESSED_SLOT);
    let r = &v["value"];
    assert_eq!(r["err"], Value::Null);
    // Priority: 6,000 default units at 1 lamport each.
    assert_eq!(r["fee"], 5_000 + 6_000);
    assert_eq!(r["unitsConsumed"], 300);
    assert_eq!(
        r["logs"],
        json!([
            "Program ComputeBudget111111111111111111111111111111 invoke [1]",
            "Program ComputeBudget111111111111111111111111111111 success",
            "Program 11111111111111111111111111111111 invoke [1]",
            "Program 11111111111111111111111111111111 success",
        ])
    );
    assert_eq!(r["preBalances"][0], PAYER_LAMPORTS);
    assert_eq!(r["postBalances"][0], PAYER_LAMPORTS - 11_000 - 100);
    assert_eq!(r["accounts"][0]["lamports"], 250 + 100);
    assert_eq!(r["accounts"][0]["data"], json!(["", "base64"]));
    assert_eq!(r["accounts"][1], Value::Null);
    assert_eq!(r["replacementBlockhash"], Value::Null);
    assert_eq!(r["returnData"], Value::Null);
    assert_eq!(r["innerInstructions"], Value::Null);
}

#[tokio::test]
async fn failures_are_the_results_err_in_solanas_shape() {
    let node = start().await;
    let c = &node.chain;
    // Base58 by default, as Solana.
    let fail = build_transfer(&c.payer, &c.recipient, LAMPORTS_PREFLIGHT_FAIL, &BLOCKHASH);
    let text = bs58::encode(&fail).into_string();
    let r = node.ok("simulateTransaction", json!([text])).await["value"].clone();
    assert_eq!(r["err"], json!({"InstructionError": [0, {"Custom": 1}]}));
    assert_eq!(
        r["logs"],
        json!([
            "Program 11111111111111111111111111111111 invoke [1]",
            "Program 11111111111111111111111111111111 failed: custom program error: 0x1",
        ])
    );
    assert_eq!(r["unitsConsumed"], 150);
    assert_eq!(r["accounts"], Value::Null);
    // An unknown blockhash: the error, no logs, nothing consumed...
    let stale = build_transfer(&c.payer, &c.recipient, 5, &Hash([0xEE; 32]));
    let r = node
        .ok(
            "simulateTransaction",
            json!([b64(&stale), {"encoding": "base64"}]),
        )
        .await["value"]
        .clone();
    assert_eq!(r["err"], "BlockhashNotFound");
    assert_eq!(
        (r["logs"].clone(), r["unitsConsumed"].clone()),
        (json!([]), json!(0))
    );
    // ...unless the node's blockhash replaces it.
    let v = node
        .ok(
            "simulateTransaction",
            json!([b64(&stale), {"encoding": "base64", "replaceRecentBlockhash": true,
                "innerInstructions": true}]),
        )
        .await;
    let r = &v["value"];
    assert_eq!(r["err"], Value::Null);
    assert_eq!(
        r["replacementBlockhash"],
        json!({"blockhash": BLOCKHASH.to_string(), "lastValidBlockHeight": FINALIZED_SLOT + 150})
    );
    assert_eq!(r["innerInstructions"], json!([]));
    // A duplicate compute budget request is the result's err, as Solana's.
    let twice = build_transfer_with_budget(
        &c.payer,
        &c.recipient,
        5,
        &BLOCKHASH,
        &[
            ComputeBudgetInstruction::SetComputeUnitLimit(1),
            ComputeBudgetInstruction::SetComputeUnitLimit(2),
        ],
    );
    let r = node
        .ok(
            "simulateTransaction",
            json!([b64(&twice), {"encoding": "base64"}]),
        )
        .await["value"]
        .clone();
    assert_eq!(r["err"], json!({"DuplicateInstruction": 1}));
}

#[tokio::test]
async fn signatures_are_checked_when_asked_and_requests_are_bounded() {
    let node = start().await;
    let c = &node.chain;
    let mut forged = build_transfer(&c.payer, &c.recipient, 5, &BLOCKHASH);
    forged[10] ^= 1;
    let config = |sig_verify: bool| json!({"encoding": "base64", "sigVerify": sig_verify});
    // Without sigVerify a bad signature does not matter.
    node.ok("simulateTransaction", json!([b64(&forged), config(false)]))
        .await;
    node.err(
        "simulateTransaction",
        json!([b64(&forged), config(true)]),
        TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
    )
    .await;
    let good = build_transfer(&c.payer, &c.recipient, 5, &BLOCKHASH);
    node.ok("simulateTransaction", json!([b64(&good), config(true)]))
        .await;
    let e = node
        .err(
            "simulateTransaction",
            json!([b64(&good), {"encoding": "base64", "sigVerify": true,
                "replaceRecentBlockhash": true}]),
            INVALID_PARAMS,
        )
        .await;
    assert_eq!(
        message_of(&e),
        "sigVerify may not be used with replaceRecentBlockhash"
    );
    // No more account addresses than the transaction's 3 keys.
    let four: Vec<String> = (1..=4u8).map(|i| Pubkey([i; 32]).to_string()).collect();
    let e = node
        .err(
            "simulateTransaction",
            json!([b64(&good), {"encoding": "base64", "accounts": {"addresses": four}}]),
            INVALID_PARAMS,
        )
        .await;
    assert_eq!(message_of(&e), "Too many accounts provided; max 3");
    // Garbage, a program the chain does not run, an unknown encoding.
    node.err("simulateTransaction", json!(["1111"]), INVALID_PARAMS)
        .await;
    node.err(
        "simulateTransaction",
        json!([b64(&good), {"encoding": "base64", "accounts": {"addresses": [], "encoding": "binary"}}]),
        INVALID_PARAMS,
    )
    .await;
}
