//! Priority fees over HTTP: `getRecentPrioritizationFees`, `getFeeForMessage` with Compute Budget
//! instructions, and how `sendTransaction` refuses compute budget instructions it does not take.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use dataplane::compute_budget::ComputeBudgetInstruction;
use dataplane::txn::build_transfer_with_budget;
use dataplane::types::Pubkey;
use serde_json::json;

use super::error::*;
use super::test_node::*;
use super::*;

#[tokio::test]
async fn recent_prioritization_fees_per_slot_raised_by_the_accounts_named() {
    let node = start().await;
    let all = json!([
        {"slot": V0_SLOT, "prioritizationFee": 0},
        {"slot": FINALIZED_SLOT, "prioritizationFee": 5_000},
    ]);
    assert_eq!(node.ok("getRecentPrioritizationFees", json!([])).await, all);
    assert_eq!(
        node.ok("getRecentPrioritizationFees", json!(null)).await,
        all
    );
    assert_eq!(
        node.ok("getRecentPrioritizationFees", json!([[]])).await,
        all
    );
    let payer = node.chain.payer_key().to_string();
    let other = Pubkey([0x31; 32]).to_string();
    let v = node
        .ok("getRecentPrioritizationFees", json!([[other, payer]]))
        .await;
    assert_eq!(
        v[1],
        json!({"slot": FINALIZED_SLOT, "prioritizationFee": 20_000})
    );

    // At most 128 addresses, counted before any is parsed; each one named when it is bad.
    let too_many: Vec<String> = (0..129).map(|_| "x".to_owned()).collect();
    let e = node
        .err(
            "getRecentPrioritizationFees",
            json!([too_many]),
            INVALID_PARAMS,
        )
        .await;
    assert_eq!(message_of(&e), "Too many inputs provided; max 128");
    let e = node
        .err(
            "getRecentPrioritizationFees",
            json!([[Pubkey([1; 32]).to_string(), "0OIl"]]),
            INVALID_PARAMS,
        )
        .await;
    assert!(message_of(&e).contains("item 1"), "{e}");
    node.err(
        "getRecentPrioritizationFees",
        json!(["not a list"]),
        INVALID_PARAMS,
    )
    .await;
    node.err(
        "getRecentPrioritizationFees",
        json!([[], {}]),
        INVALID_PARAMS,
    )
    .await;
}

/// The message (the bytes after the one signature) of a transfer with `budget`.
fn message_with(node: &TestNode, budget: &[ComputeBudgetInstruction]) -> String {
    let wire = build_transfer_with_budget(
        &node.chain.payer,
        &node.chain.recipient,
        9,
        &BLOCKHASH,
        budget,
    );
    BASE64.encode(&wire[1 + 64..])
}

#[tokio::test]
async fn fee_for_message_adds_the_priority_fee_rounded_up() {
    let node = start().await;
    let fee = |v: serde_json::Value| v["value"].as_u64().unwrap();
    let limit = ComputeBudgetInstruction::SetComputeUnitLimit;
    let price = ComputeBudgetInstruction::SetComputeUnitPrice;
    // 301 units at 10,000 micro-lamports: 3.01 lamports, charged as 4.
    let m = message_with(&node, &[limit(301), price(10_000)]);
    let v = node.ok("getFeeForMessage", json!([m])).await;
    assert_context(&v, FINALIZED_SLOT);
    assert_eq!(fee(v), FEE_LAMPORTS_PER_SIGNATURE + 4);
    // A price alone: 3,000 default units for each of the two instructions.
    let m = message_with(&node, &[price(1_000_000)]);
    assert_eq!(
        fee(node.ok("getFeeForMessage", json!([m])).await),
        FEE_LAMPORTS_PER_SIGNATURE + 6_000
    );
    let m = message_with(&node, &[limit(1_400_000)]);
    assert_eq!(
        fee(node.ok("getFeeForMessage", json!([m])).await),
        FEE_LAMPORTS_PER_SIGNATURE
    );
    // A message the node would refuse gets its reason, not a quote.
    let m = message_with(&node, &[price(1), price(2)]);
    let e = node
        .err("getFeeForMessage", json!([m]), INVALID_PARAMS)
        .await;
    assert!(message_of(&e).contains("DuplicateInstruction"), "{e}");
}

#[tokio::test]
async fn send_transaction_reports_budget_refusals_as_solana_does() {
    let node = start().await;
    let send = |budget: &[ComputeBudgetInstruction]| {
        let wire = build_transfer_with_budget(
            &node.chain.payer,
            &node.chain.recipient,
            9,
            &BLOCKHASH,
            budget,
        );
        json!([BASE64.encode(wire), {"encoding": "base64"}])
    };
    let price = ComputeBudgetInstruction::SetComputeUnitPrice;
    // A duplicate is the preflight's transaction error, in Solana's shape.
    let e = node
        .err(
            "sendTransaction",
            send(&[price(1), price(1)]),
            SEND_TRANSACTION_PREFLIGHT_FAILURE,
        )
        .await;
    assert_eq!(e["data"]["err"], json!({"DuplicateInstruction": 1}));
    assert!(message_of(&e).starts_with("Transaction simulation failed"));
    // One priced transfer goes through.
    node.ok("sendTransaction", send(&[price(5)])).await;
    assert_eq!(node.chain.submitted.lock().unwrap().len(), 1);
    // A heap frame request is named.
    let mut wire = build_transfer_with_budget(
        &node.chain.payer,
        &node.chain.recipient,
        9,
        &BLOCKHASH,
        &[ComputeBudgetInstruction::SetComputeUnitLimit(0x0004_0000)],
    );
    // The limit's data sits just before the transfer instruction (17 bytes).
    let at = wire.len() - 17 - 5;
    assert_eq!(wire[at..at + 5], [2, 0, 0, 4, 0]);
    wire[at] = 1;
    let e = node
        .err(
            "sendTransaction",
            json!([BASE64.encode(wire), {"encoding": "base64"}]),
            INVALID_PARAMS,
        )
        .await;
    assert!(message_of(&e).contains("RequestHeapFrame"), "{e}");
}
