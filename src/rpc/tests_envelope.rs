//! The JSON-RPC envelope over HTTP: batches, notifications, garbage, oversized bodies, counters,
//! and property tests that no request makes the server panic.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::error::*;
use super::server::{handle_body, serve};
use super::test_node::*;
use super::*;

#[tokio::test]
async fn batches_answer_each_request_in_order_and_skip_notifications() {
    let node = start().await;
    let batch = json!([
        {"jsonrpc": "2.0", "id": "a", "method": "getSlot"},
        {"jsonrpc": "2.0", "id": 2, "method": "getBogus"},
        {"jsonrpc": "2.0", "method": "getSlot"},
        {"jsonrpc": "2.0", "id": 3, "method": "getBalance", "params": ["bad"]},
        17,
        {"jsonrpc": "2.0", "id": null, "method": "getTransactionCount"},
    ]);
    let v = node.post(batch.to_string().as_bytes()).await;
    let replies = v.as_array().unwrap();
    assert_eq!(replies.len(), 5, "{v}");
    assert_eq!(
        replies[0],
        json!({"jsonrpc": "2.0", "id": "a", "result": FINALIZED_SLOT})
    );
    assert_eq!(replies[1]["error"]["code"], METHOD_NOT_FOUND);
    assert_eq!(replies[1]["error"]["message"], "Method not found");
    assert_eq!(replies[2]["id"], 3);
    assert_eq!(replies[2]["error"]["code"], INVALID_PARAMS);
    assert_eq!(replies[3]["error"]["code"], INVALID_REQUEST);
    assert_eq!(
        replies[4],
        json!({"jsonrpc": "2.0", "id": null, "result": 77})
    );

    let e = node.post(b"[]").await;
    assert_eq!(e["error"]["code"], INVALID_REQUEST);
    let too_many: Vec<Value> = (0..=BATCH_REQUESTS_MAX)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "getSlot"}))
        .collect();
    let e = node.post(json!(too_many).to_string().as_bytes()).await;
    assert_eq!(e["error"]["code"], INVALID_REQUEST);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("101"),
        "{e}"
    );

    // Only notifications: nothing to say.
    let (status, body) = node
        .http("POST", "/", br#"{"jsonrpc":"2.0","method":"getSlot"}"#)
        .await;
    assert_eq!((status, body.len()), (204, 0));
}

#[tokio::test]
async fn malformed_envelopes_get_json_rpc_errors() {
    let node = start().await;
    let deep = "[".repeat(10_000);
    for (body, code) in [
        (&b"{not json"[..], PARSE_ERROR),
        (b"", PARSE_ERROR),
        (b"\xff\xfe\x00garbage", PARSE_ERROR),
        (deep.as_bytes(), PARSE_ERROR),
        (b"42", INVALID_REQUEST),
        (b"\"getSlot\"", INVALID_REQUEST),
        (br#"{"id":1,"method":"getSlot"}"#, INVALID_REQUEST),
        (
            br#"{"jsonrpc":"1.0","id":1,"method":"getSlot"}"#,
            INVALID_REQUEST,
        ),
        (br#"{"jsonrpc":"2.0","id":1}"#, INVALID_REQUEST),
        (br#"{"jsonrpc":"2.0","id":1,"method":7}"#, INVALID_REQUEST),
        (
            br#"{"jsonrpc":"2.0","id":[1],"method":"getSlot"}"#,
            INVALID_REQUEST,
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"getslot"}"#,
            METHOD_NOT_FOUND,
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"getSlot","params":{"a":1}}"#,
            INVALID_PARAMS,
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"getSlot","params":"x"}"#,
            INVALID_PARAMS,
        ),
    ] {
        let v = node.post(body).await;
        assert_eq!(
            v["error"]["code"],
            code,
            "{}: {v}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(v["jsonrpc"], "2.0");
    }
    let v = node.post(b"{not json").await;
    assert_eq!(
        v,
        json!({"jsonrpc": "2.0", "id": null,
                         "error": {"code": PARSE_ERROR, "message": "Parse error"}})
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413_and_counted() {
    let node = start().await;
    let padding = " ".repeat(REQUEST_BODY_MAX_BYTES);
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"getSlot"}}{padding}"#);
    let (status, _) = node.http("POST", "/", body.as_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(node.stats.rejected_bodies(), 1);
    // Just under the limit is fine.
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"getSlot"}}{}"#,
        &padding[..REQUEST_BODY_MAX_BYTES - 100]
    );
    assert_eq!(node.post(body.as_bytes()).await["result"], FINALIZED_SLOT);
    assert_eq!(node.http("GET", "/", b"").await.0, 405);
}

#[tokio::test]
async fn a_page_of_any_origin_may_call_the_rpc_from_a_browser() {
    let node = start().await;
    let origin = ("Origin", "https://dapp.example");
    // The preflight a browser sends before a JSON POST from another site.
    let (status, head, _) = node
        .exchange(
            "OPTIONS",
            "/",
            &[
                origin,
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "content-type,solana-client",
                ),
            ],
            b"",
        )
        .await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    assert!(
        head.contains("access-control-allow-methods: get,post"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-headers: content-type,solana-client"),
        "{head}"
    );
    assert!(head.contains("access-control-max-age: 86400"), "{head}");
    // The call itself, and a refusal: the page may read both.
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "getSlot"}).to_string();
    let (status, head, body) = node
        .exchange("POST", "/", &[origin], request.as_bytes())
        .await;
    assert_eq!(status, 200);
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    let reply: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(reply["result"], FINALIZED_SLOT);
    let too_large = " ".repeat(REQUEST_BODY_MAX_BYTES + 1);
    let (status, head, _) = node
        .exchange("POST", "/", &[origin], too_large.as_bytes())
        .await;
    assert_eq!(status, 413);
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    let (status, head, _) = node.exchange("GET", "/health", &[origin], b"").await;
    assert_eq!(status, 200);
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
}

#[tokio::test]
async fn stats_count_calls_per_method_and_errors() {
    let node = start().await;
    node.ok("getSlot", json!([])).await;
    node.ok("getSlot", json!([])).await;
    node.err("getBalance", json!([]), INVALID_PARAMS).await;
    node.err("nope", json!([]), METHOD_NOT_FOUND).await;
    node.post(b"garbage").await;
    assert_eq!(node.stats.calls(Method::GetSlot), 2);
    assert_eq!(node.stats.calls(Method::GetBalance), 1);
    assert_eq!(node.stats.calls(Method::SendTransaction), 0);
    assert_eq!(node.stats.unknown_method_calls(), 1);
    assert_eq!(node.stats.errors(), 3);
}

#[tokio::test]
async fn serve_returns_once_shutdown_completes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let chain: std::sync::Arc<dyn Chain> = std::sync::Arc::new(FakeChain::new());
    let server = tokio::spawn(serve(listener, chain, async {
        let _ = rx.await;
    }));
    tx.send(()).unwrap();
    // A guard against hanging forever, not a timing assertion.
    let result = tokio::time::timeout(std::time::Duration::from_secs(30), server).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
}

/// Arbitrary JSON values, biased toward shapes the params parsers look at.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[1-9A-HJ-NP-Za-km-z]{0,100}".prop_map(Value::from),
        "[a-zA-Z+/=]{0,60}".prop_map(Value::from),
        prop_oneof![
            Just("base64"),
            Just("base58"),
            Just("json"),
            Just("jsonParsed"),
            Just("processed"),
            Just("accounts")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("encoding".to_owned()),
                    Just("commitment".to_owned()),
                    Just("minContextSlot".to_owned()),
                    Just("transactionDetails".to_owned()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_method_with_any_params_answers_without_panicking(
        method in proptest::sample::select(Method::ALL),
        params in arb_json(),
    ) {
        let chain = FakeChain::new();
        let stats = RpcStats::new();
        let request = json!({"jsonrpc": "2.0", "id": 7, "method": method.name(), "params": params});
        let reply = handle_body(&chain, &stats, request.to_string().as_bytes()).unwrap();
        prop_assert_eq!(&reply["id"], &json!(7));
        prop_assert!(reply.get("result").is_some() != reply.get("error").is_some());
        prop_assert_eq!(stats.calls(method), 1);
    }

    #[test]
    fn garbage_bodies_get_an_error_not_a_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let chain = FakeChain::new();
        let stats = RpcStats::new();
        if let Some(reply) = handle_body(&chain, &stats, &body) {
            let replies = match reply {
                Value::Array(items) => items,
                single => vec![single],
            };
            for r in replies {
                prop_assert_eq!(&r["jsonrpc"], &json!("2.0"));
            }
        }
    }
}
