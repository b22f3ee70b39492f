//! Versioned transactions over HTTP: `version` shown only when the client sends
//! `maxSupportedTransactionVersion`, a v0 transaction refused with Solana's -32015 when it does not,
//! and a v0 message rendered with its (empty) `addressTableLookups`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::error::*;
use super::test_node::*;

/// Solana's -32015 message for a v0 transaction.
const V0_REFUSED: &str = "Transaction version (0) is not supported by the requesting client. \
                          Please try the request again with the following configuration \
                          parameter: \"maxSupportedTransactionVersion\": 0";

#[tokio::test]
async fn get_transaction_refuses_v0_without_max_supported_version() {
    let node = start().await;
    let sig = node.chain.transfer_v0_signature().to_string();
    for config in [
        json!([sig]),
        json!([sig, "base64"]),
        json!([sig, {"encoding": "jsonParsed"}]),
        json!([sig, {"encoding": "base58", "commitment": "confirmed"}]),
    ] {
        let e = node
            .err("getTransaction", config, UNSUPPORTED_TRANSACTION_VERSION)
            .await;
        assert_eq!(message_of(&e), V0_REFUSED);
        assert!(e.get("data").is_none(), "{e}");
    }
}

#[tokio::test]
async fn get_transaction_shows_v0_as_version_0_with_empty_lookups() {
    let node = start().await;
    let chain = &node.chain;
    let sig = chain.transfer_v0_signature().to_string();
    let max =
        |encoding: &str| json!([sig, {"encoding": encoding, "maxSupportedTransactionVersion": 0}]);

    let v = node.ok("getTransaction", max("json")).await;
    assert_eq!(v["version"], 0);
    assert_eq!(v["slot"], V0_SLOT);
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
    assert_eq!(msg["addressTableLookups"], json!([]));
    assert_eq!(msg["instructions"][0]["accounts"], json!([0, 1]));
    assert_eq!(
        v["meta"]["loadedAddresses"],
        json!({"writable": [], "readonly": []})
    );

    let v = node.ok("getTransaction", max("jsonParsed")).await;
    assert_eq!(v["version"], 0);
    let msg = &v["transaction"]["message"];
    assert_eq!(msg["addressTableLookups"], json!([]));
    assert_eq!(
        msg["instructions"][0]["parsed"],
        json!({"type": "transfer", "info": {
            "source": chain.payer_key().to_string(),
            "destination": chain.recipient.to_string(), "lamports": V0_LAMPORTS}})
    );
    assert_eq!(msg["accountKeys"][1]["source"], "transaction");

    let v = node.ok("getTransaction", max("base64")).await;
    assert_eq!(v["version"], 0);
    let wire = BASE64
        .decode(v["transaction"][0].as_str().unwrap())
        .unwrap();
    assert_eq!(wire, chain.transfer_v0);

    // A legacy transaction says "legacy" to the same client, and has no lookups to show.
    let legacy = chain.transfer_signature().to_string();
    let v = node
        .ok(
            "getTransaction",
            json!([legacy, {"maxSupportedTransactionVersion": 0}]),
        )
        .await;
    assert_eq!(v["version"], "legacy");
    assert!(
        v["transaction"]["message"]
            .get("addressTableLookups")
            .is_none(),
        "{v}"
    );
}

#[tokio::test]
async fn get_block_refuses_v0_unless_asked_and_then_shows_version_0() {
    let node = start().await;
    let sig = node.chain.transfer_v0_signature().to_string();
    for config in [
        json!([V0_SLOT]),
        json!([V0_SLOT, "base64"]),
        json!([V0_SLOT, {"transactionDetails": "accounts"}]),
        json!([V0_SLOT, {"encoding": "jsonParsed", "transactionDetails": "full"}]),
    ] {
        let e = node
            .err("getBlock", config, UNSUPPORTED_TRANSACTION_VERSION)
            .await;
        assert_eq!(message_of(&e), V0_REFUSED);
    }
    // Signatures and no details never show a transaction, so they need no version (as Solana).
    let v = node
        .ok(
            "getBlock",
            json!([V0_SLOT, {"transactionDetails": "signatures"}]),
        )
        .await;
    assert_eq!(v["signatures"], json!([sig]));
    node.ok("getBlock", json!([V0_SLOT, {"transactionDetails": "none"}]))
        .await;

    let full = node
        .ok(
            "getBlock",
            json!([V0_SLOT, {"maxSupportedTransactionVersion": 0}]),
        )
        .await;
    let tx = &full["transactions"][0];
    assert_eq!(tx["version"], 0);
    assert_eq!(tx["transaction"]["signatures"], json!([sig]));
    assert_eq!(
        tx["transaction"]["message"]["addressTableLookups"],
        json!([])
    );

    let accounts = node
        .ok(
            "getBlock",
            json!([V0_SLOT, {"transactionDetails": "accounts",
                             "maxSupportedTransactionVersion": 0}]),
        )
        .await;
    let tx = &accounts["transactions"][0];
    assert_eq!(tx["version"], 0);
    assert_eq!(
        tx["transaction"]["accountKeys"][0]["pubkey"],
        node.chain.payer_key().to_string()
    );
    assert_eq!(tx["meta"]["postBalances"][1], V0_LAMPORTS);

    // A block of legacy transactions needs no version to be read.
    let legacy = node.ok("getBlock", json!([FINALIZED_SLOT])).await;
    assert!(legacy["transactions"][0].get("version").is_none());
    assert_eq!(legacy["transactions"].as_array().map(Vec::len), Some(1));
    assert_ne!(legacy["transactions"][0]["transaction"], Value::Null);
}
