//! Methods wallets and explorers call about accounts and the ledger: shapes, limits and errors.

use dataplane::types::Pubkey;
use serde_json::{json, Value};

use super::error::*;
use super::test_node::*;

#[tokio::test]
async fn multiple_accounts_come_from_one_bank_in_the_order_asked() {
    let node = start().await;
    let payer = node.chain.payer_key().to_string();
    let recipient = node.chain.recipient.to_string();
    let missing = Pubkey([0x77; 32]).to_string();
    let v = node
        .ok(
            "getMultipleAccounts",
            json!([[recipient, missing, payer], {"commitment": "processed"}]),
        )
        .await;
    assert_context(&v, PROCESSED_SLOT);
    let accounts = v["value"].as_array().unwrap();
    assert_eq!(accounts.len(), 3);
    assert_eq!(accounts[0]["lamports"], 250);
    assert_eq!(accounts[1], Value::Null);
    assert_eq!(accounts[2]["lamports"], PAYER_LAMPORTS);
    assert_eq!(
        accounts[2],
        json!({
            "lamports": PAYER_LAMPORTS,
            "owner": "11111111111111111111111111111111",
            "data": ["", "base64"],
            "executable": false,
            "rentEpoch": u64::MAX,
            "space": 0,
        })
    );
    // Encodings as getAccountInfo: base58 as asked, jsonParsed falls back to base64 (no data to
    // parse), as Solana does for accounts it cannot parse.
    for (asked, shown) in [("base58", "base58"), ("jsonParsed", "base64")] {
        let v = node
            .ok(
                "getMultipleAccounts",
                json!([[node.chain.payer_key().to_string()], {"encoding": asked}]),
            )
            .await;
        assert_eq!(v["value"][0]["data"], json!(["", shown]));
    }
    let v = node.ok("getMultipleAccounts", json!([[]])).await;
    assert_eq!(v["value"], json!([]));

    let keys: Vec<String> = (0..101).map(|_| "x".to_owned()).collect();
    let e = node
        .err("getMultipleAccounts", json!([keys]), INVALID_PARAMS)
        .await;
    assert_eq!(message_of(&e), "Too many inputs provided; max 100");
    let e = node
        .err(
            "getMultipleAccounts",
            json!([[Pubkey([1; 32]).to_string(), "0OIl"]]),
            INVALID_PARAMS,
        )
        .await;
    assert!(message_of(&e).contains("item 1"), "{e}");
    node.err("getMultipleAccounts", json!([]), INVALID_PARAMS)
        .await;
    node.err(
        "getMultipleAccounts",
        json!([[], {"encoding": "binary"}]),
        INVALID_PARAMS,
    )
    .await;
    node.err(
        "getMultipleAccounts",
        json!([[], {"minContextSlot": PROCESSED_SLOT + 1, "commitment": "processed"}]),
        MIN_CONTEXT_SLOT_NOT_REACHED,
    )
    .await;
}

#[tokio::test]
async fn supply_never_changes_and_nothing_is_non_circulating() {
    let node = start().await;
    let v = node.ok("getSupply", json!([])).await;
    assert_context(&v, FINALIZED_SLOT);
    assert_eq!(
        v["value"],
        json!({
            "total": SUPPLY_LAMPORTS,
            "circulating": SUPPLY_LAMPORTS,
            "nonCirculating": 0,
            "nonCirculatingAccounts": [],
        })
    );
    let v = node
        .ok(
            "getSupply",
            json!([{"commitment": "confirmed", "excludeNonCirculatingAccountsList": true}]),
        )
        .await;
    assert_context(&v, CONFIRMED_SLOT);
}

#[tokio::test]
async fn ledger_bounds_block_time_and_no_snapshot() {
    let node = start().await;
    assert_eq!(node.ok("getFirstAvailableBlock", json!([])).await, V0_SLOT);
    assert_eq!(node.ok("minimumLedgerSlot", json!([])).await, V0_SLOT);
    node.err("minimumLedgerSlot", json!([1]), INVALID_PARAMS)
        .await;
    assert_eq!(
        node.ok("getBlockTime", json!([FINALIZED_SLOT])).await,
        1_700_000_000
    );
    node.err("getBlockTime", json!([9]), SLOT_SKIPPED).await;
    node.err("getBlockTime", json!([500]), BLOCK_NOT_AVAILABLE)
        .await;
    node.err("getBlockTime", json!(["ten"]), INVALID_PARAMS)
        .await;
    let e = node
        .err("getHighestSnapshotSlot", json!([]), NO_SNAPSHOT)
        .await;
    assert_eq!(message_of(&e), "No snapshot");
}

#[tokio::test]
async fn blocks_list_the_commitments_chain_within_bounds() {
    let node = start().await;
    // Default commitment finalized: 8 and 10 (9 was skipped, 11 is only confirmed).
    assert_eq!(node.ok("getBlocks", json!([0])).await, json!([8, 10]));
    assert_eq!(node.ok("getBlocks", json!([0, 9])).await, json!([8]));
    assert_eq!(
        node.ok("getBlocks", json!([9, {"commitment": "confirmed"}]))
            .await,
        json!([10, 11])
    );
    assert_eq!(
        node.ok("getBlocks", json!([0, 20, {"commitment": "confirmed"}]))
            .await,
        json!([8, 10, 11])
    );
    assert_eq!(node.ok("getBlocks", json!([10, 9])).await, json!([]));
    let e = node
        .err("getBlocks", json!([0, 500_001]), INVALID_PARAMS)
        .await;
    assert_eq!(message_of(&e), "Slot range too large; max 500000");
    node.err(
        "getBlocks",
        json!([0, {"commitment": "processed"}]),
        INVALID_PARAMS,
    )
    .await;
    node.err("getBlocks", json!([]), INVALID_PARAMS).await;

    assert_eq!(
        node.ok("getBlocksWithLimit", json!([0, 1])).await,
        json!([8])
    );
    assert_eq!(
        node.ok("getBlocksWithLimit", json!([8, 3])).await,
        json!([8, 10])
    );
    assert_eq!(
        node.ok(
            "getBlocksWithLimit",
            json!([9, 5, {"commitment": "confirmed"}])
        )
        .await,
        json!([10, 11])
    );
    assert_eq!(
        node.ok("getBlocksWithLimit", json!([8, 0])).await,
        json!([])
    );
    let e = node
        .err("getBlocksWithLimit", json!([0, 500_001]), INVALID_PARAMS)
        .await;
    assert_eq!(message_of(&e), "Limit too large; max 500000");
    node.err("getBlocksWithLimit", json!([0]), INVALID_PARAMS)
        .await;
}

#[tokio::test]
async fn largest_accounts_list_addresses_and_lamports_and_none_non_circulating() {
    let node = start().await;
    let v = node.ok("getLargestAccounts", json!([])).await;
    assert_context(&v, FINALIZED_SLOT);
    assert_eq!(
        v["value"],
        json!([
            {"lamports": PAYER_LAMPORTS, "address": node.chain.payer_key().to_string()},
            {"lamports": 250, "address": node.chain.recipient.to_string()},
        ])
    );
    let v = node
        .ok(
            "getLargestAccounts",
            json!([{"commitment": "processed", "filter": "circulating"}]),
        )
        .await;
    assert_context(&v, PROCESSED_SLOT);
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    let v = node
        .ok("getLargestAccounts", json!([{"filter": "nonCirculating"}]))
        .await;
    assert_eq!(v["value"], json!([]));
    node.err(
        "getLargestAccounts",
        json!([{"filter": "vested"}]),
        INVALID_PARAMS,
    )
    .await;
}

#[tokio::test]
async fn block_production_counts_leader_slots_and_blocks_per_identity() {
    let node = start().await;
    let me = Pubkey([4; 32]).to_string();
    let other = Pubkey([23; 32]).to_string();
    // Finalized slot 10, epochs of 64 slots: slots 0..=10. The fake's leaders: slots 0-3 and 8-11
    // are ours, 4-7 the other's; blocks at 8 and 10.
    let v = node.ok("getBlockProduction", json!([])).await;
    assert_context(&v, FINALIZED_SLOT);
    assert_eq!(
        v["value"],
        json!({
            "byIdentity": { me.clone(): [7, 2], other.clone(): [4, 0] },
            "range": { "firstSlot": 0, "lastSlot": FINALIZED_SLOT },
        })
    );
    let v = node
        .ok(
            "getBlockProduction",
            json!([{"commitment": "confirmed", "identity": me.clone(),
                    "range": {"firstSlot": 8}}]),
        )
        .await;
    assert_eq!(
        v["value"],
        json!({
            "byIdentity": { me: [4, 3] },
            "range": { "firstSlot": 8, "lastSlot": CONFIRMED_SLOT },
        })
    );
    let e = node
        .err(
            "getBlockProduction",
            json!([{"range": {"firstSlot": 11, "lastSlot": 10}}]),
            INVALID_PARAMS,
        )
        .await;
    assert_eq!(
        message_of(&e),
        "lastSlot, 10, cannot be less than firstSlot, 11"
    );
    node.err(
        "getBlockProduction",
        json!([{"identity": "0OIl"}]),
        INVALID_PARAMS,
    )
    .await;
}

#[tokio::test]
async fn signatures_for_address_list_newest_first_with_solanas_fields_and_bounds() {
    let node = start().await;
    let payer = node.chain.payer_key().to_string();
    let legacy = node.chain.transfer_signature().to_string();
    let v0 = node.chain.transfer_v0_signature().to_string();
    let failed = FAILED_SIG.to_string();
    // Default commitment finalized: the failed transaction's slot 11 is only confirmed.
    let v = node.ok("getSignaturesForAddress", json!([payer])).await;
    assert_eq!(
        v,
        json!([
            {"signature": legacy, "slot": FINALIZED_SLOT, "err": null, "memo": null,
             "blockTime": 1_700_000_000, "confirmationStatus": "finalized"},
            {"signature": v0, "slot": V0_SLOT, "err": null, "memo": null,
             "blockTime": 1_699_999_999, "confirmationStatus": "finalized"},
        ])
    );
    let v = node
        .ok(
            "getSignaturesForAddress",
            json!([payer, {"commitment": "confirmed", "limit": 2}]),
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["signature"], failed);
    assert_eq!(v[0]["err"], json!({"InstructionError": [0, {"Custom": 1}]}));
    assert_eq!(v[0]["confirmationStatus"], "confirmed");
    assert_eq!(v[1]["signature"], legacy);
    // Paging: before and until are exclusive.
    let v = node
        .ok(
            "getSignaturesForAddress",
            json!([payer, {"commitment": "confirmed", "before": failed}]),
        )
        .await;
    assert_eq!(v[0]["signature"], legacy);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let v = node
        .ok(
            "getSignaturesForAddress",
            json!([payer, {"commitment": "confirmed", "until": v0}]),
        )
        .await;
    let listed: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["signature"])
        .collect();
    assert_eq!(listed, [&json!(failed), &json!(legacy)]);
    // An address without transactions lists nothing.
    let v = node
        .ok(
            "getSignaturesForAddress",
            json!([Pubkey([0x55; 32]).to_string()]),
        )
        .await;
    assert_eq!(v, json!([]));

    for bad in [json!({"limit": 0}), json!({"limit": 1_001})] {
        let e = node
            .err(
                "getSignaturesForAddress",
                json!([payer, bad]),
                INVALID_PARAMS,
            )
            .await;
        assert_eq!(message_of(&e), "Invalid limit; max 1000");
    }
    let e = node
        .err(
            "getSignaturesForAddress",
            json!([payer, {"commitment": "processed"}]),
            INVALID_PARAMS,
        )
        .await;
    assert_eq!(
        message_of(&e),
        "Method does not support commitment below `confirmed`"
    );
    node.err(
        "getSignaturesForAddress",
        json!([payer, {"before": "0OIl"}]),
        INVALID_PARAMS,
    )
    .await;
    node.err("getSignaturesForAddress", json!(["0OIl"]), INVALID_PARAMS)
        .await;
    node.err("getSignaturesForAddress", json!([]), INVALID_PARAMS)
        .await;
    node.err(
        "getSignaturesForAddress",
        json!([payer, {"minContextSlot": FINALIZED_SLOT + 1}]),
        MIN_CONTEXT_SLOT_NOT_REACHED,
    )
    .await;
    node.ok(
        "getSignaturesForAddress",
        json!([payer, {"minContextSlot": CONFIRMED_SLOT, "commitment": "confirmed"}]),
    )
    .await;
}
