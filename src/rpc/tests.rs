//! Every method over HTTP: response shapes, field names, context, and Solana's error codes.

use std::sync::atomic::Ordering;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use dataplane::txn::build_transfer;
use dataplane::types::{Hash, Pubkey, Signature, LAMPORTS_PER_TOKEN};
use serde_json::{json, Value};

use super::error::*;
use super::test_node::*;
use super::*;

#[tokio::test]
async fn slot_and_block_height_follow_commitment_including_legacy_names() {
    let node = start().await;
    assert_eq!(node.ok("getSlot", json!([])).await, FINALIZED_SLOT);
    assert_eq!(node.ok("getSlot", Value::Null).await, FINALIZED_SLOT);
    for (name, slot) in [
        ("processed", PROCESSED_SLOT),
        ("recent", PROCESSED_SLOT),
        ("confirmed", CONFIRMED_SLOT),
        ("single", CONFIRMED_SLOT),
        ("singleGossip", CONFIRMED_SLOT),
        ("finalized", FINALIZED_SLOT),
        ("max", FINALIZED_SLOT),
        ("root", FINALIZED_SLOT),
    ] {
        let got = node.ok("getSlot", json!([{"commitment": name}])).await;
        assert_eq!(got, slot, "{name}");
        let height = node
            .ok("getBlockHeight", json!([{"commitment": name}]))
            .await;
        assert_eq!(height, slot - 3, "{name}");
    }
    let e = node
        .err("getSlot", json!([{"commitment": "soon"}]), INVALID_PARAMS)
        .await;
    assert!(message_of(&e).contains("soon"), "{e}");
    let e = node.err("getSlot", json!([{}, 1]), INVALID_PARAMS).await;
    assert!(message_of(&e).contains("at most 1"), "{e}");
}

#[tokio::test]
async fn min_context_slot_is_enforced_with_solanas_error() {
    let node = start().await;
    let e = node
        .err(
            "getSlot",
            json!([{"minContextSlot": 100}]),
            MIN_CONTEXT_SLOT_NOT_REACHED,
        )
        .await;
    assert_eq!(e["data"]["contextSlot"], FINALIZED_SLOT);
    let key = node.chain.payer_key().to_string();
    let v = node
        .ok(
            "getBalance",
            json!([key, {"minContextSlot": FINALIZED_SLOT}]),
        )
        .await;
    assert_context(&v, FINALIZED_SLOT);
    node.err(
        "getLatestBlockhash",
        json!([{"commitment": "processed", "minContextSlot": PROCESSED_SLOT + 1}]),
        MIN_CONTEXT_SLOT_NOT_REACHED,
    )
    .await;
}

#[tokio::test]
async fn balance_and_account_info_have_context_and_name_bad_params() {
    let node = start().await;
    let payer = node.chain.payer_key().to_string();
    let v = node
        .ok("getBalance", json!([payer, {"commitment": "confirmed"}]))
        .await;
    assert_context(&v, CONFIRMED_SLOT);
    assert_eq!(v["value"], PAYER_LAMPORTS);

    let info = node.ok("getAccountInfo", json!([payer])).await;
    assert_context(&info, FINALIZED_SLOT);
    assert_eq!(info["value"]["lamports"], PAYER_LAMPORTS);
    assert_eq!(info["value"]["owner"], "11111111111111111111111111111111");
    assert_eq!(info["value"]["data"], json!(["", "base64"]));
    assert_eq!(info["value"]["executable"], false);
    let empty = Pubkey([99; 32]).to_string();
    let none = node.ok("getAccountInfo", json!([empty])).await;
    assert_eq!(none["value"], Value::Null);
    node.err(
        "getAccountInfo",
        json!([payer, {"encoding": "binary"}]),
        INVALID_PARAMS,
    )
    .await;

    let e = node
        .err("getBalance", json!(["0OIl"]), INVALID_PARAMS)
        .await;
    assert!(message_of(&e).contains("param 0 (pubkey)"), "{e}");
    let e = node.err("getBalance", json!([]), INVALID_PARAMS).await;
    assert!(message_of(&e).contains("missing param 0 (pubkey)"), "{e}");
    let e = node.err("getBalance", json!([12]), INVALID_PARAMS).await;
    assert!(message_of(&e).contains("pubkey"), "{e}");
    let sig_text = Signature([5; 64]).to_string();
    let e = node
        .err("getBalance", json!([sig_text]), INVALID_PARAMS)
        .await;
    assert!(message_of(&e).contains("expected 32 bytes"), "{e}");
}

#[tokio::test]
async fn latest_blockhash_and_validity_shapes() {
    let node = start().await;
    let v = node
        .ok("getLatestBlockhash", json!([{"commitment": "processed"}]))
        .await;
    assert_context(&v, PROCESSED_SLOT);
    assert_eq!(v["value"]["blockhash"], BLOCKHASH.to_string());
    assert_eq!(v["value"]["lastValidBlockHeight"], PROCESSED_SLOT + 150);
    let valid = node
        .ok("isBlockhashValid", json!([BLOCKHASH.to_string()]))
        .await;
    assert_context(&valid, FINALIZED_SLOT);
    assert_eq!(valid["value"], true);
    let stale = node
        .ok("isBlockhashValid", json!([Hash([1; 32]).to_string()]))
        .await;
    assert_eq!(stale["value"], false);
    let e = node
        .err("isBlockhashValid", json!(["not base58!"]), INVALID_PARAMS)
        .await;
    assert!(message_of(&e).contains("blockhash"), "{e}");
}

#[tokio::test]
async fn send_transaction_accepts_base58_by_default_and_base64() {
    let node = start().await;
    let chain = &node.chain;
    let expected = chain.transfer_signature().to_string();
    let b58 = bs58::encode(&chain.transfer).into_string();
    assert_eq!(node.ok("sendTransaction", json!([b58])).await, expected);
    let b64 = BASE64.encode(&chain.transfer);
    let config = json!({"encoding": "base64", "skipPreflight": true,
        "preflightCommitment": "confirmed", "maxRetries": 3});
    assert_eq!(
        node.ok("sendTransaction", json!([b64, config])).await,
        expected
    );
    let submitted = chain.submitted.lock().unwrap().clone();
    assert_eq!(
        submitted,
        vec![chain.transfer.clone(), chain.transfer.clone()]
    );
    node.err(
        "sendTransaction",
        json!([b58, {"minContextSlot": 1_000}]),
        MIN_CONTEXT_SLOT_NOT_REACHED,
    )
    .await;
}

#[tokio::test]
async fn send_transaction_maps_every_refusal_to_solanas_code() {
    let node = start().await;
    let payer = &node.chain.payer;
    let send = |lamports: u64| {
        let wire = build_transfer(payer, &Pubkey([3; 32]), lamports, &BLOCKHASH);
        json!([BASE64.encode(wire), {"encoding": "base64"}])
    };
    let e = node
        .err(
            "sendTransaction",
            send(LAMPORTS_PREFLIGHT_FAIL),
            SEND_TRANSACTION_PREFLIGHT_FAILURE,
        )
        .await;
    assert_eq!(
        message_of(&e),
        "Transaction simulation failed: Blockhash not found"
    );
    assert_eq!(
        e["data"],
        json!({"err": "BlockhashNotFound", "logs": [], "accounts": null,
               "unitsConsumed": 0, "returnData": null})
    );
    let e = node
        .err("sendTransaction", send(LAMPORTS_UNHEALTHY), NODE_UNHEALTHY)
        .await;
    assert!(message_of(&e).contains("40 slots behind"), "{e}");
    assert_eq!(e["data"], json!({"numSlotsBehind": null}));
    let e = node
        .err("sendTransaction", send(LAMPORTS_BUSY), INTERNAL_ERROR)
        .await;
    assert!(message_of(&e).contains("overloaded"), "{e}");
    let e = node
        .err(
            "sendTransaction",
            send(LAMPORTS_UNSUPPORTED),
            INVALID_PARAMS,
        )
        .await;
    assert!(message_of(&e).contains("Vote111"), "{e}");

    // A flipped bit in the signed message.
    let mut tampered = node.chain.transfer.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let e = node
        .err(
            "sendTransaction",
            json!([bs58::encode(&tampered).into_string()]),
            TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
        )
        .await;
    assert_eq!(message_of(&e), "Transaction signature verification failure");
    // Not a transaction at all.
    let e = node
        .err("sendTransaction", json!(["1111"]), INVALID_PARAMS)
        .await;
    assert!(message_of(&e).starts_with("invalid transaction: "), "{e}");

    for (params, needle) in [
        (json!(["0OIl"]), "invalid base58"),
        (json!(["@@@", {"encoding": "base64"}]), "invalid base64"),
        (json!(["x".repeat(1_700)]), "too large"),
        (
            json!([BASE64.encode([1u8; 1_233]), {"encoding": "base64"}]),
            "decoded transaction too large: 1233",
        ),
        (
            json!(["abc", {"encoding": "json"}]),
            "unsupported encoding: json",
        ),
        (json!(["abc", {"encoding": "zip"}]), "unknown variant"),
        (json!([]), "missing param 0 (transaction)"),
    ] {
        let e = node.err("sendTransaction", params, INVALID_PARAMS).await;
        assert!(message_of(&e).contains(needle), "{needle}: {e}");
    }
    assert!(node.chain.submitted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn signature_statuses_shape_and_limits() {
    let node = start().await;
    let good = node.chain.transfer_signature().to_string();
    let unknown = Signature([2; 64]).to_string();
    let v = node
        .ok(
            "getSignatureStatuses",
            json!([[good, FAILED_SIG.to_string(), unknown], {"searchTransactionHistory": true}]),
        )
        .await;
    assert_context(&v, PROCESSED_SLOT);
    let statuses = v["value"].as_array().unwrap();
    assert_eq!(statuses.len(), 3);
    // Finalized: `confirmations` is null whatever the node said (clients read null as rooted).
    assert_eq!(
        statuses[0],
        json!({"slot": FINALIZED_SLOT, "confirmations": null, "err": null,
               "status": {"Ok": null}, "confirmationStatus": "finalized"})
    );
    let failed = json!({"InstructionError": [0, {"Custom": 1}]});
    assert_eq!(
        statuses[1],
        json!({"slot": PROCESSED_SLOT, "confirmations": 0, "err": failed,
               "status": {"Err": failed}, "confirmationStatus": "processed"})
    );
    assert_eq!(statuses[2], Value::Null);

    let many = vec![good.clone(); SIGNATURE_STATUSES_MAX + 1];
    let e = node
        .err("getSignatureStatuses", json!([many]), INVALID_PARAMS)
        .await;
    assert_eq!(message_of(&e), "Too many inputs provided; max 256");
    let max = vec![good.clone(); SIGNATURE_STATUSES_MAX];
    let v = node.ok("getSignatureStatuses", json!([max])).await;
    assert_eq!(v["value"].as_array().unwrap().len(), SIGNATURE_STATUSES_MAX);
    let e = node
        .err(
            "getSignatureStatuses",
            json!([[good, "xyz0"]]),
            INVALID_PARAMS,
        )
        .await;
    assert!(message_of(&e).contains("item 1"), "{e}");
    node.err("getSignatureStatuses", json!(["notalist"]), INVALID_PARAMS)
        .await;
}

#[tokio::test]
async fn get_transaction_renders_the_signed_transfer_as_json() {
    let node = start().await;
    let chain = &node.chain;
    let sig = chain.transfer_signature().to_string();
    let v = node.ok("getTransaction", json!([sig])).await;
    assert_eq!(v["slot"], FINALIZED_SLOT);
    assert_eq!(v["blockTime"], 1_700_000_000);
    assert!(v.get("version").is_none(), "{v}");
    let tx = &v["transaction"];
    assert_eq!(tx["signatures"], json!([sig]));
    let msg = &tx["message"];
    assert_eq!(
        msg["header"],
        json!({"numRequiredSignatures": 1, "numReadonlySignedAccounts": 0,
               "numReadonlyUnsignedAccounts": 1})
    );
    assert_eq!(
        msg["accountKeys"],
        json!([
            chain.payer_key().to_string(),
            chain.recipient.to_string(),
            "11111111111111111111111111111111"
        ])
    );
    assert_eq!(msg["recentBlockhash"], BLOCKHASH.to_string());
    let mut data = 2u32.to_le_bytes().to_vec();
    data.extend_from_slice(&250u64.to_le_bytes());
    assert_eq!(
        msg["instructions"],
        json!([{"programIdIndex": 2, "accounts": [0, 1],
                "data": bs58::encode(&data).into_string(), "stackHeight": null}])
    );
    assert_eq!(
        v["meta"],
        json!({"err": null, "status": {"Ok": null}, "fee": 5_000,
               "preBalances": [PAYER_LAMPORTS + 5_250, 0, 1],
               "postBalances": [PAYER_LAMPORTS, 250, 1],
               "innerInstructions": [], "logMessages": [], "preTokenBalances": [],
               "postTokenBalances": [], "rewards": [],
               "loadedAddresses": {"writable": [], "readonly": []},
               "computeUnitsConsumed": 0})
    );
}

#[tokio::test]
async fn get_transaction_other_encodings_versions_and_errors() {
    let node = start().await;
    let chain = &node.chain;
    let sig = chain.transfer_signature().to_string();
    let v = node
        .ok(
            "getTransaction",
            json!([sig, {"encoding": "base64", "maxSupportedTransactionVersion": 0}]),
        )
        .await;
    assert_eq!(v["version"], "legacy");
    assert_eq!(v["transaction"][1], "base64");
    let wire = BASE64
        .decode(v["transaction"][0].as_str().unwrap())
        .unwrap();
    assert_eq!(wire, chain.transfer);
    // Legacy form: the encoding as a bare string.
    let v = node.ok("getTransaction", json!([sig, "base58"])).await;
    assert_eq!(v["transaction"][1], "base58");
    let wire = bs58::decode(v["transaction"][0].as_str().unwrap())
        .into_vec()
        .unwrap();
    assert_eq!(wire, chain.transfer);

    let v = node
        .ok("getTransaction", json!([sig, {"encoding": "jsonParsed"}]))
        .await;
    let msg = &v["transaction"]["message"];
    assert_eq!(
        msg["accountKeys"][0],
        json!({"pubkey": chain.payer_key().to_string(), "writable": true,
               "signer": true, "source": "transaction"})
    );
    assert_eq!(msg["accountKeys"][2]["writable"], false);
    assert_eq!(
        msg["instructions"][0],
        json!({"program": "system", "programId": "11111111111111111111111111111111",
               "parsed": {"type": "transfer", "info": {
                   "source": chain.payer_key().to_string(),
                   "destination": chain.recipient.to_string(), "lamports": 250}},
               "stackHeight": null})
    );
    assert!(v["meta"].get("loadedAddresses").is_none());

    let unknown = Signature([2; 64]).to_string();
    assert_eq!(
        node.ok("getTransaction", json!([unknown])).await,
        Value::Null
    );
    let e = node
        .err(
            "getTransaction",
            json!([sig, {"commitment": "processed"}]),
            INVALID_PARAMS,
        )
        .await;
    assert!(message_of(&e).contains("below `confirmed`"), "{e}");
    node.err("getTransaction", json!([sig, "yaml"]), INVALID_PARAMS)
        .await;
    node.err("getTransaction", json!(["short"]), INVALID_PARAMS)
        .await;
}

#[tokio::test]
async fn get_block_in_every_detail_level() {
    let node = start().await;
    let sig = node.chain.transfer_signature().to_string();
    let full = node.ok("getBlock", json!([FINALIZED_SLOT])).await;
    assert_eq!(full["blockhash"], BLOCKHASH.to_string());
    assert_eq!(full["previousBlockhash"], Hash([6; 32]).to_string());
    assert_eq!(full["parentSlot"], 8);
    assert_eq!(full["blockHeight"], FINALIZED_SLOT - 3);
    assert_eq!(full["blockTime"], 1_700_000_000);
    assert_eq!(full["rewards"], json!([]));
    let txs = full["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0]["transaction"]["signatures"], json!([sig]));
    assert_eq!(txs[0]["meta"]["fee"], 5_000);
    assert!(txs[0].get("version").is_none());
    assert!(full.get("signatures").is_none());

    let sigs = node
        .ok(
            "getBlock",
            json!([FINALIZED_SLOT, {"transactionDetails": "signatures", "rewards": false}]),
        )
        .await;
    assert_eq!(sigs["signatures"], json!([sig]));
    assert!(sigs.get("transactions").is_none() && sigs.get("rewards").is_none());

    let none = node
        .ok(
            "getBlock",
            json!([FINALIZED_SLOT, {"transactionDetails": "none"}]),
        )
        .await;
    assert!(none.get("transactions").is_none() && none.get("signatures").is_none());
    assert_eq!(none["blockhash"], BLOCKHASH.to_string());

    let accounts = node
        .ok(
            "getBlock",
            json!([FINALIZED_SLOT, {"transactionDetails": "accounts",
                                    "maxSupportedTransactionVersion": 0}]),
        )
        .await;
    let tx = &accounts["transactions"][0];
    assert_eq!(tx["version"], "legacy");
    assert_eq!(tx["transaction"]["signatures"], json!([sig]));
    assert_eq!(tx["transaction"]["accountKeys"][1]["signer"], false);
    assert_eq!(tx["meta"]["postBalances"], json!([PAYER_LAMPORTS, 250, 1]));

    let b64 = node.ok("getBlock", json!([FINALIZED_SLOT, "base64"])).await;
    assert_eq!(b64["transactions"][0]["transaction"][1], "base64");
}

#[tokio::test]
async fn get_block_and_entries_errors_carry_solanas_codes() {
    let node = start().await;
    for method in ["getBlock", "getBlockEntries", "getBlockHeader"] {
        let e = node.err(method, json!([9]), SLOT_SKIPPED).await;
        assert_eq!(
            message_of(&e),
            "Slot 9 was skipped, or missing due to ledger jump to recent snapshot"
        );
        let e = node.err(method, json!([500]), BLOCK_NOT_AVAILABLE).await;
        assert_eq!(message_of(&e), "Block not available for slot 500");
        let e = node.err(method, json!(["ten"]), INVALID_PARAMS).await;
        assert!(message_of(&e).contains("param 0 (slot)"), "{e}");
        node.err(method, json!([-1]), INVALID_PARAMS).await;
    }
    node.err(
        "getBlock",
        json!([FINALIZED_SLOT, {"commitment": "processed"}]),
        INVALID_PARAMS,
    )
    .await;
    node.err(
        "getBlock",
        json!([FINALIZED_SLOT, {"transactionDetails": "most"}]),
        INVALID_PARAMS,
    )
    .await;
}

#[tokio::test]
async fn block_headers_name_a_blocks_bank_hash_and_leader() {
    let node = start().await;
    let v = node.ok("getBlockHeader", json!([FINALIZED_SLOT])).await;
    assert_eq!(
        v,
        json!({
            "slot": FINALIZED_SLOT,
            "parentSlot": 8,
            "blockhash": BLOCKHASH.to_string(),
            "bankHash": Hash([4; 32]).to_string(),
            "leader": node.chain.identity().to_string(),
            "blockHeight": FINALIZED_SLOT - 3,
            "transactionCount": 1,
        })
    );
}

#[tokio::test]
async fn block_entries_let_anyone_re_verify_poh() {
    let node = start().await;
    let v = node.ok("getBlockEntries", json!([FINALIZED_SLOT])).await;
    assert_eq!(v["slot"], FINALIZED_SLOT);
    assert_eq!(v["parentSlot"], 8);
    assert_eq!(v["startHash"], Hash([6; 32]).to_string());
    assert_eq!(v["ticksPerSlot"], 64);
    assert_eq!(v["hashesPerTick"], 2_000);
    assert_eq!(
        v["entries"],
        json!([
            {"numHashes": 3, "hash": Hash([8; 32]).to_string(),
             "transactions": [BASE64.encode(&node.chain.transfer)]},
            {"numHashes": 5, "hash": BLOCKHASH.to_string(), "transactions": []},
        ])
    );
}

#[tokio::test]
async fn node_info_methods_and_airdrop() {
    let node = start().await;
    assert_eq!(node.ok("getHealth", json!([])).await, "ok");
    assert_eq!(
        node.http("GET", "/health", b"").await,
        (200, b"ok".to_vec())
    );
    node.chain.healthy.store(false, Ordering::Relaxed);
    let e = node.err("getHealth", json!([]), NODE_UNHEALTHY).await;
    assert_eq!(message_of(&e), "node is behind by 42 slots");
    assert_eq!(
        node.http("GET", "/health", b"").await,
        (200, b"behind".to_vec())
    );

    let v = node.ok("getVersion", json!([])).await;
    assert_eq!(v["solana-core"], SOLANA_CORE_VERSION);
    assert!(v["feature-set"].is_u64());
    assert_eq!(v["blackbook"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        node.ok("getGenesisHash", json!([])).await,
        Hash([5; 32]).to_string()
    );
    assert_eq!(
        node.ok("getIdentity", json!([])).await,
        json!({"identity": Pubkey([4; 32]).to_string()})
    );
    assert_eq!(
        node.ok("getEpochInfo", json!([{"commitment": "confirmed"}]))
            .await,
        json!({"absoluteSlot": CONFIRMED_SLOT, "blockHeight": CONFIRMED_SLOT - 3, "epoch": 0,
               "slotIndex": CONFIRMED_SLOT, "slotsInEpoch": 432_000, "transactionCount": 77})
    );
    assert_eq!(node.ok("getTransactionCount", json!([])).await, 77);
    assert_eq!(
        node.ok("getMinimumBalanceForRentExemption", json!([165]))
            .await,
        0
    );
    node.err(
        "getMinimumBalanceForRentExemption",
        json!([]),
        INVALID_PARAMS,
    )
    .await;
    node.err("getVersion", json!([1]), INVALID_PARAMS).await;

    let to = Pubkey([8; 32]);
    let sig = node
        .ok(
            "requestAirdrop",
            json!([to.to_string(), 5 * LAMPORTS_PER_TOKEN, {"commitment": "confirmed"}]),
        )
        .await;
    assert_eq!(sig, AIRDROP_SIG.to_string());
    assert_eq!(
        *node.chain.airdrops.lock().unwrap(),
        vec![(to, 5 * LAMPORTS_PER_TOKEN)]
    );
    let e = node
        .err(
            "requestAirdrop",
            json!([to.to_string(), 11 * LAMPORTS_PER_TOKEN]),
            INVALID_PARAMS,
        )
        .await;
    assert!(message_of(&e).contains("faucet limit"), "{e}");
    let e = node
        .err("requestAirdrop", json!([to.to_string()]), INVALID_PARAMS)
        .await;
    assert!(message_of(&e).contains("lamports"), "{e}");
}

#[tokio::test]
async fn fee_for_message_counts_required_signatures() {
    let node = start().await;
    // The message of the stored transfer (one signature): bytes after the signature list.
    let message = &node.chain.transfer[1 + 64..];
    let v = node
        .ok("getFeeForMessage", json!([BASE64.encode(message)]))
        .await;
    assert_context(&v, FINALIZED_SLOT);
    assert_eq!(v["value"], FEE_LAMPORTS_PER_SIGNATURE);
    let mut two = message.to_vec();
    two[0] = 2;
    let v = node
        .ok(
            "getFeeForMessage",
            json!([BASE64.encode(&two), {"commitment": "processed"}]),
        )
        .await;
    assert_eq!(v["value"], 2 * FEE_LAMPORTS_PER_SIGNATURE);
    for bad in [
        json!([""]),
        json!(["%%%"]),
        json!([BASE64.encode([0x85u8, 1])]),
    ] {
        node.err("getFeeForMessage", bad, INVALID_PARAMS).await;
    }
}
