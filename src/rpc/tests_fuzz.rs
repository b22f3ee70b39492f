//! Structure-aware fuzzing of the RPC and PubSub decoders, with the engine of
//! `tests/fuzz_decoders` (these decoders are private to the crate, so they are fuzzed from here):
//! whole JSON-RPC bodies through `handle_body` against the fake chain, PubSub messages through
//! `request::parse`, and transactions sent as text through `decode_wire` and `WireTxn::decode`.
//! The long run: `BLACKBOOK_FUZZ_CASES=10000000 cargo test --release --lib rpc::tests_fuzz --
//! --nocapture`.

#[path = "../../tests/fuzz_decoders/engine.rs"]
mod engine;

use std::sync::Arc;

use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{json, Value};

use self::engine::{fuzz, CountingAlloc, Target};
use super::encoding::{decode_wire, WireTxn};
use super::params::TransactionEncoding;
use super::pubsub::parse_request_for_fuzzing;
use super::server::handle_body;
use super::test_node::*;
use super::{Method, PubSubMethod, RpcStats, REQUEST_BODY_MAX_BYTES};

// Counts what each decode asks for; the other unit tests of this binary only pay a thread-local add
// per allocation.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// A request every method answers with a result against the fake chain.
fn requests(chain: &FakeChain) -> Vec<Value> {
    let payer = chain.payer_key().to_string();
    let recipient = chain.recipient.to_string();
    let sig = chain.transfer_signature().to_string();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let message = &chain.transfer[65..];
    let calls: Vec<(&str, Value)> = vec![
        ("getAccountInfo", json!([payer, {"encoding": "base64"}])),
        ("getBalance", json!([payer, {"commitment": "confirmed"}])),
        (
            "getBlock",
            json!([FINALIZED_SLOT, {"encoding": "json", "maxSupportedTransactionVersion": 0}]),
        ),
        (
            "getBlock",
            json!([FINALIZED_SLOT, {"encoding": "base64", "transactionDetails": "signatures"}]),
        ),
        ("getBlockCommitment", json!([FINALIZED_SLOT])),
        ("getMaxRetransmitSlot", json!([])),
        ("getMaxShredInsertSlot", json!([])),
        ("getBlockHeight", json!([])),
        ("getBlockTime", json!([FINALIZED_SLOT])),
        ("getBlocks", json!([0, FINALIZED_SLOT])),
        ("getBlocksWithLimit", json!([0, 5])),
        ("getEpochInfo", json!([{"commitment": "processed"}])),
        ("getFeeForMessage", json!([b64(message)])),
        ("getFirstAvailableBlock", json!([])),
        ("getGenesisHash", json!([])),
        ("getHealth", json!([])),
        ("getIdentity", json!([])),
        ("getLatestBlockhash", json!([{"commitment": "finalized"}])),
        ("getMinimumBalanceForRentExemption", json!([0])),
        ("getMultipleAccounts", json!([[payer, recipient]])),
        (
            "getSignatureStatuses",
            json!([[sig], {"searchTransactionHistory": true}]),
        ),
        ("getSignaturesForAddress", json!([payer, {"limit": 10}])),
        ("getSlot", json!([])),
        ("getSupply", json!([])),
        ("getTransaction", json!([sig, "json"])),
        ("getTransactionCount", json!([])),
        ("getVersion", json!([])),
        ("isBlockhashValid", json!([BLOCKHASH.to_string()])),
        ("requestAirdrop", json!([recipient, 1_000])),
        (
            "sendTransaction",
            json!([b64(&chain.transfer), {"encoding": "base64"}]),
        ),
        (
            "sendTransaction",
            json!([bs58::encode(&chain.transfer).into_string()]),
        ),
        (
            "simulateTransaction",
            json!([b64(&chain.transfer), {"encoding": "base64"}]),
        ),
    ];
    calls
        .into_iter()
        .map(|(method, params)| json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .collect()
}

/// Any JSON value, its leaves drawn mostly from what the params decoders look for: keys,
/// signatures and transactions in base58 and base64, commitments, encodings, boundary numbers.
fn arb_json(chain: &FakeChain) -> BoxedStrategy<Value> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let strings = vec![
        chain.payer_key().to_string(),
        chain.transfer_signature().to_string(),
        BLOCKHASH.to_string(),
        b64(&chain.transfer),
        b64(&chain.transfer[65..]),
        bs58::encode(&chain.transfer).into_string(),
        "processed".into(),
        "confirmed".into(),
        "finalized".into(),
        "base58".into(),
        "base64".into(),
        "base64+zstd".into(),
        "json".into(),
        "jsonParsed".into(),
        "full".into(),
        "signatures".into(),
        "none".into(),
        "all".into(),
        "".into(),
        "1".repeat(100),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop::sample::select(
            &[
                0i64,
                1,
                -1,
                8,
                10,
                12,
                255,
                256,
                1 << 31,
                i64::MAX,
                i64::MIN
            ][..]
        )
        .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(strings).prop_map(Value::from),
        "[a-zA-Z0-9+/=]{0,12}".prop_map(Value::from),
    ];
    let keys = prop_oneof![
        prop::sample::select(
            &[
                "commitment",
                "encoding",
                "minContextSlot",
                "transactionDetails",
                "maxSupportedTransactionVersion",
                "rewards",
                "limit",
                "before",
                "until",
                "skipPreflight",
                "preflightCommitment",
                "maxRetries",
                "searchTransactionHistory",
                "replaceRecentBlockhash",
                "sigVerify",
                "dataSlice",
                "offset",
                "length",
                "filters",
                "mentions",
                "mentionsAccountOrProgram",
                "enableReceivedNotification",
                "accounts",
                "identity",
                "range",
                "firstSlot",
                "lastSlot",
            ][..]
        )
        .prop_map(str::to_owned),
        "[a-z]{1,8}",
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(keys.clone(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Requests of any method, names included, with any parameters, ids and envelope fields.
fn arb_request(chain: &FakeChain, methods: Vec<&'static str>) -> BoxedStrategy<Vec<u8>> {
    let id = prop_oneof![
        Just(json!(1)),
        Just(json!("a")),
        Just(Value::Null),
        Just(json!([1])),
    ];
    let method = prop_oneof![
        8 => prop::sample::select(methods).prop_map(Value::from),
        1 => "[a-zA-Z]{0,20}".prop_map(Value::from),
    ];
    let params = prop_oneof![
        4 => prop::collection::vec(arb_json(chain), 0..4).prop_map(Value::from),
        1 => arb_json(chain),
    ];
    (method, params, prop::option::of(id), any::<bool>())
        .prop_map(|(method, params, id, versioned)| {
            let mut request = json!({"method": method, "params": params});
            if versioned {
                request["jsonrpc"] = json!("2.0");
            }
            if let Some(id) = id {
                request["id"] = id;
            }
            request.to_string().into_bytes()
        })
        .boxed()
}

/// Checks one response object: JSON-RPC 2.0, exactly one of result and error, an error with an
/// integer code and a message. Returns whether it is a result.
fn check_response(v: &Value) -> Result<bool, String> {
    if v["jsonrpc"] != "2.0" {
        return Err(format!("not a JSON-RPC 2.0 response: {v}"));
    }
    match (v.get("result"), v.get("error")) {
        (Some(_), None) => Ok(true),
        (None, Some(e)) if e["code"].is_i64() && e["message"].is_string() => Ok(false),
        _ => Err(format!("neither one result nor one well-formed error: {v}")),
    }
}

/// `handle_body`: an HTTP body, at most 64 KiB, parsed as JSON, checked as JSON-RPC, its params
/// decoded and the method answered. Accepted: every response a result. Bound: the body's JSON tree
/// and the answer (the largest, a `getBlock`, renders ≈ 10 KiB): 48 × the body plus 256 KiB.
fn rpc_body() -> Target<Option<Value>> {
    let chain = Arc::new(FakeChain::new());
    let templates: Vec<Vec<u8>> = requests(&chain)
        .into_iter()
        .map(|r| r.to_string().into_bytes())
        .collect();
    let batch =
        prop::collection::vec(prop::sample::select(templates.clone()), 2..=4).prop_map(|items| {
            let mut out = b"[".to_vec();
            out.extend_from_slice(&items.join(&b","[..]));
            out.push(b']');
            out
        });
    let methods = Method::ALL.iter().map(|m| m.name()).collect();
    let stats = RpcStats::new();
    let decode_chain = Arc::clone(&chain);
    Target {
        name: "rpc_body",
        valid: prop_oneof![3 => prop::sample::select(templates), 1 => batch].boxed(),
        structured: Some(arb_request(&chain, methods)),
        cost: 1,
        raw_len_max: 512,
        alloc_bytes_max: |len| 48 * len as u64 + 256 * 1024,
        decode: Box::new(move |body| handle_body(&*decode_chain, &stats, body)),
        check: Box::new(move |body, reply| {
            // What sendTransaction and requestAirdrop record must not pile up over millions of calls.
            chain.submitted.lock().expect("lock").clear();
            chain.airdrops.lock().expect("lock").clear();
            if body.len() > REQUEST_BODY_MAX_BYTES {
                return Err("the fuzzer made a body larger than the server accepts".into());
            }
            match reply {
                None => Ok(false), // notifications only: nothing to answer
                Some(Value::Array(items)) => {
                    let mut all = !items.is_empty();
                    for item in &items {
                        all &= check_response(item)?;
                    }
                    Ok(all)
                }
                Some(one) => check_response(&one),
            }
        }),
    }
}

/// A message every PubSub method takes.
fn pubsub_messages(chain: &FakeChain) -> Vec<Vec<u8>> {
    let payer = chain.payer_key().to_string();
    let sig = chain.transfer_signature().to_string();
    let calls: Vec<(&str, Value)> = vec![
        (
            "accountSubscribe",
            json!([payer, {"encoding": "base64", "commitment": "confirmed"}]),
        ),
        ("accountSubscribe", json!([payer])),
        (
            "signatureSubscribe",
            json!([sig, {"enableReceivedNotification": true}]),
        ),
        ("logsSubscribe", json!(["all"])),
        (
            "logsSubscribe",
            json!([{"mentions": [payer]}, {"commitment": "processed"}]),
        ),
        (
            "blockSubscribe",
            json!(["all", {"commitment": "confirmed", "encoding": "json"}]),
        ),
        (
            "blockSubscribe",
            json!([{"mentionsAccountOrProgram": payer}, {"transactionDetails": "signatures"}]),
        ),
        ("slotSubscribe", json!([])),
        ("rootSubscribe", json!([])),
        ("accountUnsubscribe", json!([3])),
        ("signatureUnsubscribe", json!([0])),
    ];
    calls
        .into_iter()
        .map(|(method, params)| {
            json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
                .to_string()
                .into_bytes()
        })
        .collect()
}

/// PubSub's `request::parse`: one WebSocket text message (at most 64 KiB). A refused message with
/// an id gets a well-formed error response. Bound: its JSON tree, 48 × the message plus 4 KiB.
fn pubsub_request() -> Target<Result<(), Option<Value>>> {
    let chain = FakeChain::new();
    let methods = PubSubMethod::ALL.iter().map(|m| m.name()).collect();
    let stats = RpcStats::new();
    Target {
        name: "pubsub_request",
        valid: prop::sample::select(pubsub_messages(&chain)).boxed(),
        structured: Some(arb_request(&chain, methods)),
        cost: 1,
        raw_len_max: 512,
        alloc_bytes_max: |len| 48 * len as u64 + 4 * 1024,
        decode: Box::new(move |bytes| parse_request_for_fuzzing(bytes, &stats)),
        check: Box::new(|_, out| match out {
            Ok(()) => Ok(true),
            Err(None) => Ok(false),
            Err(Some(reply)) => match check_response(&reply)? {
                true => Err(format!("a refused request answered with a result: {reply}")),
                false => Ok(false),
            },
        }),
    }
}

/// What [`wire_txn`] decodes: the text's bytes, if it decodes, and whether the renderer reads them.
type Wire = Option<(Vec<u8>, bool)>;

/// `decode_wire` then `WireTxn::decode` (what `sendTransaction` reads from its parameter, and what
/// renders stored transactions), base64 and base58: the text of valid transactions, mutated. The
/// differential: whatever `txn::parse` accepts, the renderer reads too, with the same signature.
/// Bound: the decoded bytes and the instruction list, 4 × the text plus 4 KiB.
fn wire_txn() -> Target<Wire> {
    let chain = FakeChain::new();
    let wires = vec![chain.transfer.clone(), chain.transfer_v0.clone()];
    let text = (prop::sample::select(wires), any::<bool>()).prop_map(|(wire, b58)| {
        let text = if b58 {
            bs58::encode(&wire).into_string()
        } else {
            base64::engine::general_purpose::STANDARD.encode(&wire)
        };
        // The first byte says which encoding the text is in, so mutations keep both alive.
        let mut out = vec![u8::from(b58)];
        out.extend_from_slice(text.as_bytes());
        out
    });
    Target {
        name: "wire_txn",
        valid: text.boxed(),
        structured: None,
        cost: 1,
        raw_len_max: 1_800,
        alloc_bytes_max: |len| 4 * len as u64 + 4 * 1024,
        decode: Box::new(|input| {
            let (&kind, text) = input.split_first()?;
            let text = std::str::from_utf8(text).ok()?;
            let encoding = if kind & 1 == 1 {
                TransactionEncoding::Base58
            } else {
                TransactionEncoding::Base64
            };
            let wire = decode_wire(text, encoding, 0, "transaction").ok()?;
            let rendered = WireTxn::decode(&wire).is_ok();
            Some((wire, rendered))
        }),
        check: Box::new(|_, out| {
            let Some((wire, rendered)) = out else {
                return Ok(false);
            };
            if let Ok(layout) = dataplane::txn::parse(&wire) {
                let view = dataplane::txn::TxnView::from_parts(&wire, layout);
                let txn = WireTxn::decode(&wire)
                    .map_err(|e| format!("the renderer refuses a parsed transaction: {e}"))?;
                if txn.first_signature() != view.signature().to_string() {
                    return Err("the renderer reads another signature".into());
                }
            }
            Ok(rendered)
        }),
    }
}

#[test]
fn fuzz_rpc_body() {
    fuzz(&rpc_body());
}

#[test]
fn fuzz_pubsub_request() {
    fuzz(&pubsub_request());
}

#[test]
fn fuzz_wire_txn() {
    fuzz(&wire_txn());
}
