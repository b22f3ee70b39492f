//! PubSub over real WebSockets against the fake chain: every method's notification, field by field;
//! once-and-done signatures; unsubscribe; the bounds; both ports.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dataplane::txn::build_transfer;
use dataplane::types::{Pubkey, Signature, Slot};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::super::error::{INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND};
use super::super::stats::{PubSubDrop, PubSubMethod};
use super::super::test_node::*;
use super::*;

/// How long a test waits for a message that must come.
const WAIT: Duration = Duration::from_secs(10);
/// How long a test listens to conclude that nothing comes.
const QUIET: Duration = Duration::from_millis(300);

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .unwrap();
        Client { ws, next_id: 1 }
    }

    async fn send_text(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next JSON message; panics after [`WAIT`].
    async fn recv(&mut self) -> Value {
        self.try_recv(WAIT).await.expect("a message in time")
    }

    async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match msg.ok()? {
                Message::Text(t) => return Some(serde_json::from_str(&t).unwrap()),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The code and reason of the close frame that ends the connection (skipping anything before).
    async fn close_frame(&mut self) -> (u16, String) {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a close frame in time")
                .expect("a close frame before the end")
                .expect("a close frame, not an error");
            if let Message::Close(frame) = msg {
                let frame = frame.expect("a close frame with a code");
                return (frame.code.into(), frame.reason.to_string());
            }
        }
    }

    async fn assert_quiet(&mut self) {
        if let Some(v) = self.try_recv(QUIET).await {
            panic!("unexpected message: {v}");
        }
    }

    /// Sends a request; returns its id.
    async fn request(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_text(req.to_string()).await;
        id
    }

    /// The answer to one request (which must be the next message).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.request(method, params).await;
        let answer = self.recv().await;
        assert_eq!(answer["id"], id, "{answer}");
        assert_eq!(answer["jsonrpc"], "2.0");
        answer
    }

    async fn subscribe(&mut self, method: &str, params: Value) -> u64 {
        let answer = self.call(method, params).await;
        answer["result"]
            .as_u64()
            .unwrap_or_else(|| panic!("{method}: {answer}"))
    }
}

fn notification(method: &str, subscription: u64, result: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": method,
        "params": {"result": result, "subscription": subscription},
    })
}

fn levels(processed: u64, confirmed: u64, finalized: u64, root: u64) -> ChainEvent {
    ChainEvent::Commitment(CommitmentSlots {
        processed: Slot(processed),
        confirmed: Slot(confirmed),
        finalized: Slot(finalized),
        root: Slot(root),
    })
}

fn tx(signature: Signature, accounts: &[Pubkey], err: Option<Value>) -> TxChange {
    TxChange {
        signature,
        err,
        accounts: accounts.to_vec(),
        is_vote: false,
    }
}

/// Records what `slot` changed, then announces it frozen.
fn freeze(
    node: &TestNode,
    slot: u64,
    parent: u64,
    transactions: Vec<TxChange>,
    accounts: Vec<(Pubkey, u64)>,
) {
    node.chain.changes.lock().unwrap().insert(
        Slot(slot),
        SlotChanges {
            slot: Slot(slot),
            parent: Slot(parent),
            transactions,
            accounts,
        },
    );
    node.chain.feed.publish(ChainEvent::Frozen {
        slot: Slot(slot),
        parent: Slot(parent),
    });
}

/// Waits until `check` holds (the hub runs on its own thread).
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn signature_notifies_once_at_its_commitment_then_ends() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    node.chain.feed.publish(levels(10, 10, 10, 10));
    let sig = Signature([77; 64]);
    let id = c
        .subscribe(
            "signatureSubscribe",
            json!([sig.to_string(), {"commitment": "confirmed"}]),
        )
        .await;
    freeze(&node, 12, 10, vec![], vec![]);
    freeze(&node, 13, 12, vec![tx(sig, &[], None)], vec![]);
    node.chain.feed.publish(levels(13, 10, 10, 10));
    // Processed is not what it asked for.
    c.assert_quiet().await;

    // Confirmation jumps from 10 to 13: the block of 13 holds it.
    let sent = Instant::now();
    node.chain.feed.publish(levels(13, 13, 10, 10));
    let got = c.recv().await;
    let delay = sent.elapsed();
    assert_eq!(
        got,
        notification(
            "signatureNotification",
            id,
            json!({"context": {"slot": 13}, "value": {"err": null}}),
        )
    );
    eprintln!("signature notification {delay:?} after the commitment event");
    // The node measured it too: one delay, from the event to the write to this client.
    let delays = || {
        crate::metrics::render(
            &crate::metrics::NodeMetrics::default(),
            &dataplane::metrics::RejectCounters::default(),
            &node.stats,
            None,
            None,
        )
    };
    eventually("the delay is observed", || {
        delays().contains("blackbook_pubsub_signature_notification_delay_seconds_count 1")
    })
    .await;
    let text = delays();
    let sum: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("blackbook_pubsub_signature_notification_delay_seconds_sum "))
        .and_then(|v| v.parse().ok())
        .expect("a delay sum");
    assert!(sum > 0.0 && sum < WAIT.as_secs_f64(), "{sum}");

    // Done: finalization says nothing more, and the id is gone (as Solana's auto-unsubscribe).
    node.chain.feed.publish(levels(13, 13, 13, 13));
    c.assert_quiet().await;
    let e = c.call("signatureUnsubscribe", json!([id])).await;
    assert_eq!(
        e["error"],
        json!({"code": INVALID_PARAMS, "message": "Invalid subscription id."})
    );
    assert_eq!(node.stats.pubsub.subscriptions_open(), 0);
}

/// The signature watch runs apart from the hub: a hub held up rendering a block (its bulk runs
/// behind verification, and may lag on busy cores) does not hold up a wallet's notification.
#[tokio::test]
async fn a_signature_notification_does_not_wait_for_the_hubs_bulk() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    node.chain.feed.publish(levels(10, 10, 10, 10));
    let block_params = json!(["all", {"commitment": "confirmed",
        "transactionDetails": "signatures", "maxSupportedTransactionVersion": 0}]);
    let blocks = c.subscribe("blockSubscribe", block_params).await;
    let sig = Signature([78; 64]);
    let id = c
        .subscribe(
            "signatureSubscribe",
            json!([sig.to_string(), {"commitment": "confirmed"}]),
        )
        .await;
    freeze(
        &node,
        11,
        10,
        vec![tx(Signature([79; 64]), &[], None)],
        vec![],
    );
    freeze(&node, 12, 11, vec![tx(sig, &[], None)], vec![]);
    node.chain.block_held.store(true, Ordering::Release);
    // Block 11 confirmed: the hub renders it for the block subscription, and is held there.
    node.chain.feed.publish(levels(11, 11, 10, 10));
    eventually("the hub reads block 11", || {
        node.chain.block_reads.load(Ordering::Relaxed) > 0
    })
    .await;
    node.chain.feed.publish(levels(12, 12, 10, 10));
    assert_eq!(
        c.recv().await,
        notification(
            "signatureNotification",
            id,
            json!({"context": {"slot": 12}, "value": {"err": null}}),
        )
    );
    node.chain.block_held.store(false, Ordering::Release);
    for slot in [11, 12] {
        let n = c.recv().await;
        assert_eq!(n["method"], "blockNotification", "{n}");
        assert_eq!(n["params"]["subscription"], blocks);
        assert_eq!(n["params"]["result"]["context"]["slot"], slot);
    }
    c.assert_quiet().await;
}

#[tokio::test]
async fn settled_signature_is_notified_at_once_with_its_error() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    // The fake holds the transfer as finalized in slot 10 and FAILED_SIG as processed in 12.
    let transfer = node.chain.transfer_signature().to_string();
    for commitment in ["confirmed", "finalized"] {
        let id = c
            .subscribe(
                "signatureSubscribe",
                json!([transfer, {"commitment": commitment}]),
            )
            .await;
        assert_eq!(
            c.recv().await,
            notification(
                "signatureNotification",
                id,
                json!({"context": {"slot": FINALIZED_SLOT}, "value": {"err": null}}),
            )
        );
    }
    let failed = FAILED_SIG.to_string();
    let id = c
        .subscribe(
            "signatureSubscribe",
            json!([failed, {"commitment": "processed"}]),
        )
        .await;
    assert_eq!(
        c.recv().await,
        notification(
            "signatureNotification",
            id,
            json!({
                "context": {"slot": PROCESSED_SLOT},
                "value": {"err": {"InstructionError": [0, {"Custom": 1}]}},
            }),
        )
    );
    // Not yet confirmed: only the answer.
    c.subscribe(
        "signatureSubscribe",
        json!([failed, {"commitment": "confirmed"}]),
    )
    .await;
    c.assert_quiet().await;
    assert_eq!(node.stats.pubsub.subscriptions_open(), 1);
}

#[tokio::test]
async fn received_notification_comes_when_the_node_takes_the_transaction() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    node.chain.feed.publish(levels(12, 10, 10, 10));
    let wire = build_transfer(&node.chain.payer, &node.chain.recipient, 300, &BLOCKHASH);
    let sig = dataplane::txn::TxnView::new(&wire).unwrap().signature();
    let id = c
        .subscribe(
            "signatureSubscribe",
            json!([sig.to_string(), {"commitment": "processed", "enableReceivedNotification": true}]),
        )
        .await;
    let text = super::super::encoding::base64(&wire);
    node.ok("sendTransaction", json!([text, {"encoding": "base64"}]))
        .await;
    assert_eq!(
        c.recv().await,
        notification(
            "signatureNotification",
            id,
            json!({"context": {"slot": PROCESSED_SLOT}, "value": "receivedSignature"}),
        )
    );
    freeze(&node, 13, 12, vec![tx(sig, &[], None)], vec![]);
    node.chain.feed.publish(levels(13, 10, 10, 10));
    assert_eq!(
        c.recv().await,
        notification(
            "signatureNotification",
            id,
            json!({"context": {"slot": 13}, "value": {"err": null}}),
        )
    );
}

#[tokio::test]
async fn account_notifications_follow_the_commitment_in_each_encoding() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    node.chain.feed.publish(levels(10, 10, 10, 10));
    let payer = node.chain.payer_key();
    let recipient = node.chain.recipient;
    let payer_id = c
        .subscribe(
            "accountSubscribe",
            json!([payer.to_string(), {"commitment": "processed", "encoding": "base64"}]),
        )
        .await;
    let mut by_encoding = Vec::new();
    for (encoding, data) in [
        (json!(null), json!("")),
        (json!("base64"), json!(["", "base64"])),
        (json!("base58"), json!(["", "base58"])),
        (
            json!("base64+zstd"),
            json!(["KLUv/SQAAQAAmenYUQ==", "base64+zstd"]),
        ),
    ] {
        let id = c
            .subscribe(
                "accountSubscribe",
                json!([recipient.to_string(), {"commitment": "confirmed", "encoding": encoding}]),
            )
            .await;
        by_encoding.push((id, data));
    }
    freeze(&node, 11, 10, vec![], vec![(payer, 900), (recipient, 500)]);
    freeze(&node, 12, 11, vec![], vec![(recipient, 0)]);
    node.chain.feed.publish(levels(12, 10, 10, 10));
    assert_eq!(
        c.recv().await,
        notification(
            "accountNotification",
            payer_id,
            json!({
                "context": {"slot": 12},
                "value": {
                    "lamports": 900,
                    "owner": "11111111111111111111111111111111",
                    "data": ["", "base64"],
                    "executable": false,
                    "rentEpoch": u64::MAX,
                    "space": 0,
                },
            }),
        )
    );
    c.assert_quiet().await;
    // Confirmed covers 11 and 12 at once: one notification each, with the state at 12 (emptied:
    // a default account, as Solana shows a deleted one).
    node.chain.feed.publish(levels(12, 12, 10, 10));
    for (id, data) in by_encoding {
        assert_eq!(
            c.recv().await,
            notification(
                "accountNotification",
                id,
                json!({
                    "context": {"slot": 12},
                    "value": {
                        "lamports": 0,
                        "owner": "11111111111111111111111111111111",
                        "data": data,
                        "executable": false,
                        "rentEpoch": 0,
                        "space": 0,
                    },
                }),
            )
        );
    }
    c.assert_quiet().await;
}

#[tokio::test]
async fn slot_and_root_notifications_have_solanas_shapes() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    node.chain.feed.publish(levels(10, 10, 10, 10));
    let slot_id = c.subscribe("slotSubscribe", json!([])).await;
    let root_id = c.subscribe("rootSubscribe", json!(null)).await;
    freeze(&node, 11, 10, vec![], vec![]);
    assert_eq!(
        c.recv().await,
        notification(
            "slotNotification",
            slot_id,
            json!({"parent": 10, "root": 10, "slot": 11}),
        )
    );
    freeze(&node, 12, 11, vec![], vec![]);
    assert_eq!(
        c.recv().await,
        notification(
            "slotNotification",
            slot_id,
            json!({"parent": 11, "root": 10, "slot": 12}),
        )
    );
    // The root moves two slots: each rooted slot is announced, oldest first.
    node.chain.feed.publish(levels(12, 12, 12, 12));
    for slot in [11, 12] {
        assert_eq!(
            c.recv().await,
            notification("rootNotification", root_id, json!(slot))
        );
    }
    let answer = c.call("slotUnsubscribe", json!([slot_id])).await;
    assert_eq!(answer["result"], true);
    freeze(&node, 13, 12, vec![], vec![]);
    c.assert_quiet().await;
}

#[tokio::test]
async fn slots_updates_have_solanas_shapes() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    node.chain.feed.publish(levels(10, 10, 10, 10));
    let id = c.subscribe("slotsUpdatesSubscribe", json!([])).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    freeze(&node, 11, 10, vec![], vec![]);
    // Each a `SlotUpdate` as Solana tags it; the timestamp is the node's clock in ms.
    let expect = |want: Value, got: Value| {
        let result = &got["params"]["result"];
        let at = result["timestamp"].as_u64().expect("a timestamp");
        assert!(at >= before, "{got}");
        let mut shaped = got.clone();
        shaped["params"]["result"]["timestamp"] = json!(0);
        assert_eq!(shaped, notification("slotsUpdatesNotification", id, want));
    };
    expect(
        json!({"parent": 10, "slot": 11, "timestamp": 0, "type": "createdBank"}),
        c.recv().await,
    );
    expect(
        json!({"slot": 11, "timestamp": 0, "type": "completed"}),
        c.recv().await,
    );
    node.chain.feed.publish(levels(11, 11, 10, 10));
    expect(
        json!({"slot": 11, "timestamp": 0, "type": "optimisticConfirmation"}),
        c.recv().await,
    );
    node.chain.feed.publish(levels(11, 11, 11, 11));
    expect(
        json!({"slot": 11, "timestamp": 0, "type": "root"}),
        c.recv().await,
    );
    let answer = c.call("slotsUpdatesUnsubscribe", json!([id])).await;
    assert_eq!(answer["result"], true);
    freeze(&node, 12, 11, vec![], vec![]);
    c.assert_quiet().await;
}

#[tokio::test]
async fn logs_notifications_by_filter() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    node.chain.feed.publish(levels(10, 10, 10, 10));
    let payer = node.chain.payer_key();
    let recipient = node.chain.recipient;
    let all = c
        .subscribe("logsSubscribe", json!(["all", {"commitment": "processed"}]))
        .await;
    let with_votes = c
        .subscribe(
            "logsSubscribe",
            json!(["allWithVotes", {"commitment": "processed"}]),
        )
        .await;
    let mentions = c
        .subscribe(
            "logsSubscribe",
            json!([{"mentions": [recipient.to_string()]}, {"commitment": "processed"}]),
        )
        .await;
    // The payer is in every transaction, the vote included; at confirmed, nothing yet.
    let payer_mentions = c
        .subscribe(
            "logsSubscribe",
            json!([{"mentions": [payer.to_string()]}, {"commitment": "processed"}]),
        )
        .await;
    c.subscribe(
        "logsSubscribe",
        json!([{"mentions": [recipient.to_string()]}, {"commitment": "confirmed"}]),
    )
    .await;
    let transfer = tx(Signature([1; 64]), &[payer, recipient], None);
    let mut vote = tx(Signature([2; 64]), &[payer, Pubkey([21; 32])], None);
    vote.is_vote = true;
    let err = json!({"InstructionError": [0, {"Custom": 1}]});
    let failed = tx(
        Signature([3; 64]),
        &[payer, Pubkey([8; 32])],
        Some(err.clone()),
    );
    freeze(&node, 11, 10, vec![transfer, vote, failed], vec![]);
    node.chain.feed.publish(levels(11, 10, 10, 10));
    let logs = |sig: u8, err: Value| {
        json!({
            "context": {"slot": 11},
            "value": {"signature": Signature([sig; 64]).to_string(), "err": err, "logs": []},
        })
    };
    let expected = [
        (all, logs(1, json!(null))),
        (all, logs(3, err.clone())),
        (with_votes, logs(1, json!(null))),
        (with_votes, logs(2, json!(null))),
        (with_votes, logs(3, err.clone())),
        // Mentions come in block order, each transaction's keys in order.
        (payer_mentions, logs(1, json!(null))),
        (mentions, logs(1, json!(null))),
        (payer_mentions, logs(2, json!(null))),
        (payer_mentions, logs(3, err.clone())),
    ];
    for (id, result) in expected {
        assert_eq!(c.recv().await, notification("logsNotification", id, result));
    }
    c.assert_quiet().await;
}

#[tokio::test]
async fn block_notifications_render_as_get_block_does() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    node.chain.feed.publish(levels(7, 7, 7, 7));
    let payer = node.chain.payer_key();
    let recipient = node.chain.recipient;
    let signatures = c
        .subscribe(
            "blockSubscribe",
            json!(["all", {"commitment": "confirmed", "transactionDetails": "signatures",
                           "maxSupportedTransactionVersion": 0}]),
        )
        .await;
    let mentions = c
        .subscribe(
            "blockSubscribe",
            json!([{"mentionsAccountOrProgram": recipient.to_string()},
                   {"commitment": "confirmed", "encoding": "json", "showRewards": true,
                    "maxSupportedTransactionVersion": 0}]),
        )
        .await;
    // Names no key of any transaction: never notified.
    c.subscribe(
        "blockSubscribe",
        json!([{"mentionsAccountOrProgram": Pubkey([99; 32]).to_string()},
               {"commitment": "confirmed"}]),
    )
    .await;
    // Solana's defaults (base64, full) and no maxSupportedTransactionVersion: slot 8's v0 transfer
    // cannot be shown to it.
    let legacy_only = c
        .subscribe(
            "blockSubscribe",
            json!(["all", {"commitment": "confirmed"}]),
        )
        .await;
    let keys = [payer, recipient, Pubkey::SYSTEM_PROGRAM];
    freeze(
        &node,
        V0_SLOT,
        7,
        vec![tx(node.chain.transfer_v0_signature(), &keys, None)],
        vec![],
    );
    freeze(
        &node,
        FINALIZED_SLOT,
        V0_SLOT,
        vec![tx(node.chain.transfer_signature(), &keys, None)],
        vec![],
    );
    node.chain.feed.publish(levels(10, 10, 7, 7));

    let block_at = |slot: u64, block: Value| json!({"context": {"slot": slot}, "value": {"slot": slot, "block": block, "err": null}});
    for slot in [V0_SLOT, FINALIZED_SLOT] {
        let get_block = |config: Value| node.ok("getBlock", json!([slot, config]));
        let sigs = get_block(json!({"transactionDetails": "signatures", "rewards": false,
                                    "maxSupportedTransactionVersion": 0}))
        .await;
        assert_eq!(sigs["signatures"].as_array().unwrap().len(), 1);
        assert_eq!(
            c.recv().await,
            notification("blockNotification", signatures, block_at(slot, sigs))
        );
        let full =
            get_block(json!({"encoding": "json", "maxSupportedTransactionVersion": 0})).await;
        assert_eq!(
            c.recv().await,
            notification("blockNotification", mentions, block_at(slot, full))
        );
        let got = c.recv().await;
        let result = &got["params"]["result"];
        assert_eq!(got["params"]["subscription"], legacy_only, "{got}");
        assert_eq!(result["context"]["slot"], slot);
        if slot == V0_SLOT {
            assert_eq!(
                result["value"],
                json!({"slot": slot, "block": null, "err": {"UnsupportedTransactionVersion": 0}})
            );
        } else {
            let base64 = get_block(json!({"encoding": "base64", "rewards": false})).await;
            assert_eq!(
                result["value"],
                json!({"slot": slot, "block": base64, "err": null})
            );
        }
    }
    c.assert_quiet().await;
    // Below confirmed is refused, as Solana.
    let e = c
        .call(
            "blockSubscribe",
            json!(["all", {"commitment": "processed"}]),
        )
        .await;
    assert_eq!(e["error"]["code"], INVALID_PARAMS);
}

#[tokio::test]
async fn unsubscribe_ends_only_the_connections_own() {
    let node = start().await;
    let mut a = Client::connect(node.ws_addr).await;
    let mut b = Client::connect(node.ws_addr).await;
    let id = a.subscribe("slotSubscribe", json!([])).await;
    let other = b.subscribe("rootSubscribe", json!([])).await;
    assert_ne!(id, other);
    let e = b.call("slotUnsubscribe", json!([id])).await;
    assert_eq!(e["error"]["code"], INVALID_PARAMS, "{e}");
    assert_eq!(e["error"]["message"], "Invalid subscription id.");
    // Like Solana, any unsubscribe method ends any of the connection's subscriptions.
    let ok = a.call("rootUnsubscribe", json!([id])).await;
    assert_eq!(
        ok,
        json!({"jsonrpc": "2.0", "result": true, "id": ok["id"]})
    );
    let again = a.call("slotUnsubscribe", json!([id])).await;
    assert_eq!(again["error"]["code"], INVALID_PARAMS);
    assert_eq!(node.stats.pubsub.subscriptions_open(), 1);
    drop(b);
    eventually("closed connection's subscriptions dropped", || {
        node.stats.pubsub.subscriptions_open() == 0
    })
    .await;
    assert_eq!(node.stats.pubsub.calls(PubSubMethod::SlotUnsubscribe), 2);
}

#[tokio::test]
async fn served_on_the_rpc_port_by_http_upgrade() {
    let node = start().await;
    let mut c = Client::connect(node.addr).await;
    let id = c.subscribe("slotSubscribe", json!([])).await;
    freeze(&node, 11, 10, vec![], vec![]);
    assert_eq!(
        c.recv().await,
        notification(
            "slotNotification",
            id,
            json!({"parent": 10, "root": 0, "slot": 11}),
        )
    );
    // A plain GET is no upgrade, and JSON-RPC over HTTP still works beside it.
    assert_eq!(node.http("GET", "/", b"").await.0, 405);
    assert_eq!(node.ok("getSlot", json!([])).await, FINALIZED_SLOT);
}

#[tokio::test]
async fn malformed_messages_get_json_rpc_errors() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    c.send_text("{not json".into()).await;
    assert_eq!(
        c.recv().await,
        json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null})
    );
    let e = c.call("getSlot", json!([])).await;
    assert_eq!(e["error"]["code"], METHOD_NOT_FOUND);
    c.send_text("[]".into()).await;
    assert_eq!(c.recv().await["error"]["code"], -32600);
    let e = c
        .call("signatureSubscribe", json!(["zz", {"commitment": "soon"}]))
        .await;
    assert_eq!(e["error"]["code"], INVALID_PARAMS);
    // Still served.
    c.subscribe("slotSubscribe", json!([])).await;
    assert!(node.stats.errors() >= 4);
}

#[tokio::test]
async fn a_batch_is_answered_as_one_array_and_a_request_without_an_id_is_not_run() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    node.chain.feed.publish(levels(10, 10, 10, 10));
    // Without an id, nothing is made and nothing is answered (as Solana).
    c.send_text(json!({"jsonrpc": "2.0", "method": "slotSubscribe"}).to_string())
        .await;
    c.assert_quiet().await;
    assert_eq!(node.stats.pubsub.drops(PubSubDrop::Notification), 1);

    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "slotSubscribe"},
        {"jsonrpc": "2.0", "method": "rootSubscribe"},
        {"jsonrpc": "2.0", "id": "two", "method": "getSlot"},
        {"jsonrpc": "2.0", "id": 3, "method": "rootSubscribe", "params": []},
    ]);
    c.send_text(batch.to_string()).await;
    let answers = c.recv().await;
    let answers = answers.as_array().expect("one array for the batch");
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[0]["id"], 1);
    let slot_id = answers[0]["result"].as_u64().expect("a subscription id");
    assert_eq!(answers[1]["id"], "two");
    assert_eq!(answers[1]["error"]["code"], METHOD_NOT_FOUND);
    assert_eq!(answers[2]["id"], 3);
    let root_id = answers[2]["result"].as_u64().expect("a subscription id");
    assert_eq!(node.stats.pubsub.drops(PubSubDrop::Notification), 2);

    // Only the batch's two subscriptions notify: the one without an id was never made.
    freeze(&node, 11, 10, vec![], vec![]);
    assert_eq!(
        c.recv().await,
        notification(
            "slotNotification",
            slot_id,
            json!({"parent": 10, "root": 10, "slot": 11}),
        )
    );
    node.chain.feed.publish(levels(11, 11, 11, 11));
    assert_eq!(
        c.recv().await,
        notification("rootNotification", root_id, json!(11))
    );
    c.assert_quiet().await;

    // An unsubscribe in a batch: its answer is an array too.
    let batch =
        json!([{"jsonrpc": "2.0", "id": 4, "method": "slotUnsubscribe", "params": [slot_id]}]);
    c.send_text(batch.to_string()).await;
    assert_eq!(
        c.recv().await,
        json!([{"jsonrpc": "2.0", "result": true, "id": 4}])
    );
}

#[tokio::test]
async fn batches_sent_faster_than_their_answers_are_read_are_all_answered() {
    // A small queue: each batch of 10 counts 10 answers against a room of 8, so the connection
    // reads the next batch only once the last one's array is written.
    let node = start_with(PubSubLimits {
        send_queue_messages: 16,
        ..PubSubLimits::default()
    })
    .await;
    let mut c = Client::connect(node.ws_addr).await;
    for b in 0..30u64 {
        let batch: Vec<Value> = (0..10u64)
            .map(|i| json!({"jsonrpc": "2.0", "id": b * 10 + i, "method": "slotSubscribe"}))
            .collect();
        c.send_text(json!(batch).to_string()).await;
    }
    for b in 0..30u64 {
        let answers = c.recv().await;
        let ids: Vec<u64> = answers
            .as_array()
            .expect("an array per batch")
            .iter()
            .map(|a| {
                assert!(a["result"].is_u64(), "{a}");
                a["id"].as_u64().unwrap()
            })
            .collect();
        assert_eq!(ids, (b * 10..b * 10 + 10).collect::<Vec<_>>());
    }
    assert_eq!(node.stats.pubsub.drops(PubSubDrop::SlowClient), 0);
}

#[tokio::test]
async fn a_request_many_read_buffers_long_is_read_whole_on_both_ports() {
    let node = start().await;
    // Just under the message bound: read a small buffer at a time, then answered as any other.
    let padding = " ".repeat(MESSAGE_BYTES_MAX - 200);
    for addr in [node.ws_addr, node.addr] {
        let mut c = Client::connect(addr).await;
        c.send_text(format!(
            r#"{{"jsonrpc":"2.0","id":7,{padding}"method":"slotSubscribe","params":[]}}"#
        ))
        .await;
        let answer = c.recv().await;
        assert_eq!(answer["id"], 7, "{answer}");
        assert!(answer["result"].is_u64(), "{answer}");
    }
}

#[tokio::test]
async fn oversized_message_closes_the_connection_and_is_counted() {
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"slotSubscribe\",\"params\":[\"{}\"]}}",
        "x".repeat(MESSAGE_BYTES_MAX)
    );
    let _ = c.ws.send(Message::Text(big.into())).await;
    let (code, reason) = c.close_frame().await;
    assert_eq!(
        code, 1009,
        "RFC 6455's code for a message too big: {reason}"
    );
    assert!(reason.contains("over the 65536-byte limit"), "{reason}");
    eventually("bad frame counted", || {
        node.stats.pubsub.drops(PubSubDrop::BadFrame) == 1
    })
    .await;
    eventually("connection closed", || {
        node.stats.pubsub.connections_open() == 0
    })
    .await;
}

#[tokio::test]
async fn a_text_frame_not_utf8_closes_the_connection_with_its_code() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let node = start().await;
    let mut c = Client::connect(node.ws_addr).await;
    let broken = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    let _ = c.ws.send(Message::Frame(broken)).await;
    let (code, reason) = c.close_frame().await;
    assert_eq!(
        code, 1007,
        "RFC 6455's code for data not of its type: {reason}"
    );
    eventually("bad frame counted", || {
        node.stats.pubsub.drops(PubSubDrop::BadFrame) == 1
    })
    .await;
}

#[tokio::test]
async fn subscriptions_are_bounded_per_connection_and_per_node() {
    let node = start_with(PubSubLimits {
        subscriptions_per_connection: 3,
        subscriptions: 5,
        ..PubSubLimits::default()
    })
    .await;
    let mut a = Client::connect(node.ws_addr).await;
    let mut b = Client::connect(node.ws_addr).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(a.subscribe("slotSubscribe", json!([])).await);
    }
    let refused = a.call("slotSubscribe", json!([])).await;
    assert_eq!(refused["error"]["code"], INTERNAL_ERROR, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Internal Error: Subscription refused."),
        "{message}"
    );
    // Room again once one ends.
    a.call("slotUnsubscribe", json!([ids[0]])).await;
    a.subscribe("slotSubscribe", json!([])).await;
    b.subscribe("slotSubscribe", json!([])).await;
    b.subscribe("slotSubscribe", json!([])).await;
    // The node holds five: the sixth is refused on any connection.
    let refused = b.call("slotSubscribe", json!([])).await;
    assert_eq!(refused["error"]["code"], INTERNAL_ERROR, "{refused}");
    assert_eq!(node.stats.pubsub.drops(PubSubDrop::SubscriptionLimit), 2);
    assert_eq!(node.stats.pubsub.subscriptions_open(), 5);
}

#[tokio::test]
async fn connections_are_bounded_and_refused_with_429() {
    let node = start_with(PubSubLimits {
        connections: 2,
        ..PubSubLimits::default()
    })
    .await;
    let mut a = Client::connect(node.ws_addr).await;
    let _b = Client::connect(node.addr).await;
    // A connection is counted once its task runs, after the client saw the upgrade.
    eventually("both connections counted", || {
        node.stats.pubsub.connections_open() == 2
    })
    .await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/", node.ws_addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("third connection not refused: {:?}", other.map(|_| ())),
    }
    assert_eq!(node.stats.pubsub.drops(PubSubDrop::ConnectionLimit), 1);
    a.ws.close(None).await.unwrap();
    eventually("first connection closed", || {
        node.stats.pubsub.connections_open() == 1
    })
    .await;
    let mut c = Client::connect(node.ws_addr).await;
    c.subscribe("slotSubscribe", json!([])).await;
}

#[tokio::test]
async fn one_address_holds_at_most_its_connections_over_both_ports() {
    let node = start_with(PubSubLimits {
        connections_per_ip: 2,
        ..PubSubLimits::default()
    })
    .await;
    let mut a = Client::connect(node.ws_addr).await;
    let _b = Client::connect(node.addr).await;
    // A connection is counted once its task runs, after the client saw the upgrade.
    eventually("both connections counted", || {
        node.stats.pubsub.connections_open() == 2
    })
    .await;
    for port in [node.ws_addr, node.addr] {
        match tokio_tungstenite::connect_async(format!("ws://{port}/")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 429);
            }
            other => panic!("third connection not refused: {:?}", other.map(|_| ())),
        }
    }
    assert_eq!(node.stats.pubsub.drops(PubSubDrop::ConnectionLimitPerIp), 2);
    assert_eq!(node.stats.pubsub.drops(PubSubDrop::ConnectionLimit), 0);
    a.ws.close(None).await.unwrap();
    eventually("first connection closed", || {
        node.stats.pubsub.connections_open() == 1
    })
    .await;
    let mut c = Client::connect(node.ws_addr).await;
    c.subscribe("slotSubscribe", json!([])).await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_disconnected_and_counted() {
    // Once by the queue's message bound, once by its byte bound.
    for limits in [
        PubSubLimits {
            send_queue_messages: 16,
            ..PubSubLimits::default()
        },
        PubSubLimits {
            send_queue_bytes: 64 * 1024,
            ..PubSubLimits::default()
        },
    ] {
        disconnects_a_client_that_does_not_read(limits).await;
    }
}

async fn disconnects_a_client_that_does_not_read(limits: PubSubLimits) {
    let node = start_with(limits).await;
    let mut c = Client::connect(node.ws_addr).await;
    // Many subscriptions, so that each slot makes many notifications; sent at once, more than the
    // queue holds, their answers come as fast as they are read.
    for _ in 0..200 {
        c.request("slotSubscribe", json!([])).await;
    }
    for _ in 0..200 {
        assert!(c.recv().await["result"].is_u64());
    }
    // From here on the client reads nothing: kernel buffers fill, then the send queue.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut slot = 11;
    while node.stats.pubsub.drops(PubSubDrop::SlowClient) == 0 {
        assert!(Instant::now() < deadline, "slow client never disconnected");
        node.chain.feed.publish(ChainEvent::Frozen {
            slot: Slot(slot),
            parent: Slot(slot - 1),
        });
        slot += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    eventually("connection and its subscriptions dropped", || {
        node.stats.pubsub.connections_open() == 0 && node.stats.pubsub.subscriptions_open() == 0
    })
    .await;
    assert_eq!(node.stats.pubsub.drops(PubSubDrop::SlowClient), 1);
    // Others are served as before.
    let mut d = Client::connect(node.ws_addr).await;
    d.subscribe("rootSubscribe", json!([])).await;
}

#[tokio::test]
async fn slots_past_the_configured_cache_are_read_again_when_a_level_needs_them() {
    // Ten frozen slots, read ahead as they freeze; finality then covers all ten at once. A cache of
    // four keeps the newest four: the six older ones are read again. The default keeps all ten.
    for (slots_cached, reads) in [(4, 16), (SLOTS_CACHED_MAX, 10)] {
        let node = start_with(PubSubLimits {
            slots_cached,
            ..PubSubLimits::default()
        })
        .await;
        let mut c = Client::connect(node.ws_addr).await;
        node.chain.feed.publish(levels(10, 10, 10, 10));
        let all = c
            .subscribe("logsSubscribe", json!(["all", {"commitment": "finalized"}]))
            .await;
        for slot in 11..=20u8 {
            let transfer = tx(Signature([slot; 64]), &[node.chain.recipient], None);
            freeze(
                &node,
                slot.into(),
                (slot - 1).into(),
                vec![transfer],
                vec![],
            );
        }
        let read = |n: u64| node.chain.slot_changes_reads.load(Ordering::Relaxed) == n;
        eventually("every frozen slot read ahead", || read(10)).await;
        node.chain.feed.publish(levels(20, 20, 20, 20));
        for slot in 11..=20u8 {
            let result = json!({
                "context": {"slot": slot},
                "value": {"signature": Signature([slot; 64]).to_string(), "err": null, "logs": []},
            });
            assert_eq!(
                c.recv().await,
                notification("logsNotification", all, result)
            );
        }
        c.assert_quiet().await;
        assert_eq!(
            node.chain.slot_changes_reads.load(Ordering::Relaxed),
            reads,
            "slots_cached = {slots_cached}"
        );
    }
}
