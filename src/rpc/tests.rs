//! The real server on 127.0.0.1:0 over a fake [`Chain`] with canned data, spoken to over raw HTTP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use dataplane::txn::{build_transfer, TxnView};
use dataplane::types::{Hash, Pubkey, Signature, Slot, LAMPORTS_PER_TOKEN};
use ed25519_dalek::{SigningKey, VerifyingKey};
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::error::*;
use super::server::handle_body;
use super::*;

pub(super) const FINALIZED_SLOT: u64 = 10;
pub(super) const CONFIRMED_SLOT: u64 = 11;
pub(super) const PROCESSED_SLOT: u64 = 12;
pub(super) const BLOCKHASH: Hash = Hash([7; 32]);
pub(super) const PAYER_LAMPORTS: u64 = 1_000_000_000;
/// Transfers of these amounts make the fake node refuse the transaction in one particular way.
pub(super) const LAMPORTS_PREFLIGHT_FAIL: u64 = 13;
const LAMPORTS_UNHEALTHY: u64 = 14;
const LAMPORTS_BUSY: u64 = 15;
const LAMPORTS_UNSUPPORTED: u64 = 16;
const FAILED_SIG: Signature = Signature([1; 64]);
const AIRDROP_SIG: Signature = Signature([9; 64]);

/// A node with one block (slot 10) holding one transfer; slot 9 was skipped.
pub(super) struct FakeChain {
    pub payer: SigningKey,
    pub recipient: Pubkey,
    pub transfer: Vec<u8>,
    pub healthy: AtomicBool,
    pub submitted: Mutex<Vec<Vec<u8>>>,
    pub airdrops: Mutex<Vec<(Pubkey, u64)>>,
}

impl FakeChain {
    pub fn new() -> FakeChain {
        let payer = SigningKey::from_bytes(&[42; 32]);
        let recipient = Pubkey([3; 32]);
        let transfer = build_transfer(&payer, &recipient, 250, &BLOCKHASH);
        FakeChain {
            payer,
            recipient,
            transfer,
            healthy: AtomicBool::new(true),
            submitted: Mutex::new(Vec::new()),
            airdrops: Mutex::new(Vec::new()),
        }
    }

    pub fn payer_key(&self) -> Pubkey {
        Pubkey(self.payer.verifying_key().to_bytes())
    }

    pub fn transfer_signature(&self) -> Signature {
        TxnView::new(&self.transfer).unwrap().signature()
    }

    fn record(&self) -> TransactionRecord {
        TransactionRecord {
            slot: Slot(FINALIZED_SLOT),
            block_time: Some(1_700_000_000),
            wire: self.transfer.clone(),
            fee: 5_000,
            err: None,
            pre_balances: vec![PAYER_LAMPORTS + 5_250, 0, 1],
            post_balances: vec![PAYER_LAMPORTS, 250, 1],
        }
    }
}

fn slot_at(c: Commitment) -> u64 {
    match c {
        Commitment::Processed => PROCESSED_SLOT,
        Commitment::Confirmed => CONFIRMED_SLOT,
        Commitment::Finalized => FINALIZED_SLOT,
    }
}

impl Chain for FakeChain {
    fn slot(&self, c: Commitment) -> Slot {
        Slot(slot_at(c))
    }
    fn block_height(&self, c: Commitment) -> u64 {
        slot_at(c) - 3
    }
    fn balance(&self, key: &Pubkey, c: Commitment) -> (Slot, u64) {
        let lamports = if *key == self.payer_key() {
            PAYER_LAMPORTS
        } else if *key == self.recipient {
            250
        } else {
            0
        };
        (Slot(slot_at(c)), lamports)
    }
    fn latest_blockhash(&self, c: Commitment) -> (Slot, Hash, u64) {
        (Slot(slot_at(c)), BLOCKHASH, slot_at(c) + 150)
    }
    fn is_blockhash_valid(&self, h: &Hash, c: Commitment) -> (Slot, bool) {
        (Slot(slot_at(c)), *h == BLOCKHASH)
    }
    fn submit_transaction(&self, wire: Vec<u8>) -> Result<Signature, SubmitError> {
        let view = TxnView::new(&wire).map_err(|e| SubmitError::Malformed(e.to_string()))?;
        let payer = VerifyingKey::from_bytes(view.account_key_bytes(0))
            .map_err(|_| SubmitError::BadSignature)?;
        let sig = ed25519_dalek::Signature::from_bytes(view.signature_bytes(0));
        payer
            .verify_strict(view.message(), &sig)
            .map_err(|_| SubmitError::BadSignature)?;
        match view.transfers().next().map(|t| t.lamports) {
            Some(LAMPORTS_PREFLIGHT_FAIL) => Err(SubmitError::Preflight {
                message: "Blockhash not found".into(),
                err: json!("BlockhashNotFound"),
            }),
            Some(LAMPORTS_UNHEALTHY) => Err(SubmitError::Unhealthy(
                "node is 40 slots behind the cluster".into(),
            )),
            Some(LAMPORTS_BUSY) => Err(SubmitError::Busy),
            Some(LAMPORTS_UNSUPPORTED) => Err(SubmitError::Unsupported(
                "program Vote111 is not supported".into(),
            )),
            _ => {
                let signature = view.signature();
                self.submitted.lock().unwrap().push(wire);
                Ok(signature)
            }
        }
    }
    fn signature_statuses(
        &self,
        sigs: &[Signature],
        _search_history: bool,
    ) -> (Slot, Vec<Option<SignatureStatus>>) {
        let statuses = sigs
            .iter()
            .map(|s| {
                if *s == self.transfer_signature() {
                    Some(SignatureStatus {
                        slot: Slot(FINALIZED_SLOT),
                        confirmations: Some(3),
                        err: None,
                        confirmation_status: Commitment::Finalized,
                    })
                } else if *s == FAILED_SIG {
                    Some(SignatureStatus {
                        slot: Slot(PROCESSED_SLOT),
                        confirmations: Some(0),
                        err: Some(json!({"InstructionError": [0, {"Custom": 1}]})),
                        confirmation_status: Commitment::Processed,
                    })
                } else {
                    None
                }
            })
            .collect();
        (Slot(PROCESSED_SLOT), statuses)
    }
    fn transaction(&self, sig: &Signature, _c: Commitment) -> Option<TransactionRecord> {
        (*sig == self.transfer_signature()).then(|| self.record())
    }
    fn block(&self, slot: Slot, _c: Commitment) -> Result<BlockRecord, BlockError> {
        match slot.0 {
            FINALIZED_SLOT => Ok(BlockRecord {
                slot,
                parent_slot: Slot(8),
                blockhash: BLOCKHASH,
                previous_blockhash: Hash([6; 32]),
                block_height: FINALIZED_SLOT - 3,
                block_time: Some(1_700_000_000),
                transactions: vec![self.record()],
            }),
            9 => Err(BlockError::Skipped(slot)),
            _ => Err(BlockError::NotAvailable(slot)),
        }
    }
    fn block_entries(&self, slot: Slot) -> Result<BlockEntries, BlockError> {
        self.block(slot, Commitment::Finalized)?;
        Ok(BlockEntries {
            slot,
            parent_slot: Slot(8),
            start_hash: Hash([6; 32]),
            ticks_per_slot: 64,
            hashes_per_tick: 2_000,
            entries: vec![
                EntryRecord {
                    num_hashes: 3,
                    hash: Hash([8; 32]),
                    transactions: vec![self.transfer.clone()],
                },
                EntryRecord {
                    num_hashes: 5,
                    hash: BLOCKHASH,
                    transactions: vec![],
                },
            ],
        })
    }
    fn genesis_hash(&self) -> Hash {
        Hash([5; 32])
    }
    fn epoch_info(&self, c: Commitment) -> EpochInfo {
        EpochInfo {
            epoch: 0,
            slot_index: slot_at(c),
            slots_in_epoch: 432_000,
            absolute_slot: Slot(slot_at(c)),
            block_height: slot_at(c) - 3,
            transaction_count: 77,
        }
    }
    fn request_airdrop(&self, to: &Pubkey, lamports: u64) -> Result<Signature, SubmitError> {
        if lamports > 10 * LAMPORTS_PER_TOKEN {
            return Err(SubmitError::Unsupported(format!(
                "airdrop of {lamports} lamports exceeds the faucet limit"
            )));
        }
        self.airdrops.lock().unwrap().push((*to, lamports));
        Ok(AIRDROP_SIG)
    }
    fn health(&self) -> Result<(), String> {
        if self.healthy.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("node is behind by 42 slots".into())
        }
    }
    fn identity(&self) -> Pubkey {
        Pubkey([4; 32])
    }
    fn transaction_count(&self, _c: Commitment) -> u64 {
        77
    }
}

/// A running server; dropping it shuts the server down.
pub(super) struct TestNode {
    pub addr: SocketAddr,
    pub chain: Arc<FakeChain>,
    pub stats: Arc<RpcStats>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub(super) async fn start() -> TestNode {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let chain = Arc::new(FakeChain::new());
    let stats = Arc::new(RpcStats::new());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server_chain: Arc<dyn Chain> = chain.clone();
    tokio::spawn(serve_with_stats(
        listener,
        server_chain,
        stats.clone(),
        async {
            let _ = rx.await;
        },
    ));
    TestNode {
        addr,
        chain,
        stats,
        _shutdown: tx,
    }
}

impl TestNode {
    /// One HTTP/1.1 exchange; returns the status and body.
    async fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let body = body.to_vec();
        // Written concurrently: the server may answer and close before reading a refused body. The
        // write half stays open until the reply is read (hyper drops half-closed connections).
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(head.as_bytes()).await;
            let _ = wr.write_all(&body).await;
            wr
        });
        let mut raw = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        while let Ok(n) = rd.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..n]);
        }
        let _ = writer.await;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("no headers");
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let status: u16 = head[9..12].parse().unwrap();
        let mut body = raw[split + 4..].to_vec();
        if let Some(len) = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
        {
            body.truncate(len.trim().parse().unwrap());
        }
        (status, body)
    }

    /// POSTs `body` and parses the JSON reply.
    pub async fn post(&self, body: &[u8]) -> Value {
        let (status, reply) = self.http("POST", "/", body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
        serde_json::from_slice(&reply).unwrap()
    }

    pub async fn call(&self, method: &str, params: Value) -> Value {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        self.post(request.to_string().as_bytes()).await
    }

    /// The result of a call that must succeed.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let reply = self.call(method, params).await;
        assert_eq!(reply["jsonrpc"], "2.0");
        assert_eq!(reply["id"], 1);
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// The error object of a call that must fail with `code`.
    pub async fn err(&self, method: &str, params: Value, code: i64) -> Value {
        let reply = self.call(method, params).await;
        assert_eq!(reply["error"]["code"], code, "{method}: {reply}");
        assert!(reply.get("result").is_none());
        reply["error"].clone()
    }
}

fn message_of(e: &Value) -> &str {
    e["message"].as_str().unwrap()
}

fn assert_context(v: &Value, slot: u64) {
    assert_eq!(v["context"]["slot"], slot, "{v}");
    assert_eq!(v["context"]["apiVersion"], SOLANA_CORE_VERSION);
}

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
    for method in ["getBlock", "getBlockEntries"] {
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
