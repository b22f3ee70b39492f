//! A small blocking JSON-RPC client for Solana's methods, used by the CLI and the load generator.
//!
//! It speaks plain HTTP/1.1 through `ureq` with short timeouts, keeps connections alive, and is cheap
//! to clone (clones share one connection pool). Solana's error objects come back as
//! [`RpcClientError::Rpc`] with their `code`, `message` and `data`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use dataplane::types::{Hash, Pubkey, Signature};
use serde_json::{json, Value};

/// The URL the CLI uses when none is given.
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8899";
/// Most signatures Solana accepts in one `getSignatureStatuses` call.
pub const SIGNATURE_STATUSES_MAX: usize = 256;
/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for a whole call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body read (a full `getBlock` stays far below it).
const RESPONSE_BYTES_MAX: u64 = 64 << 20;

/// Why an RPC call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcClientError {
    /// The node answered with a JSON-RPC error object.
    #[error("RPC error {code}: {message}")]
    Rpc {
        /// Solana's error code, e.g. -32002 (transaction simulation failed).
        code: i64,
        /// The node's explanation.
        message: String,
        /// Extra detail, where the node gives some.
        data: Option<Value>,
    },
    /// The request did not reach the node, or its answer did not come back.
    #[error("cannot reach {url}: {reason}")]
    Transport {
        /// Endpoint.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The answer is not the JSON-RPC response the method promises.
    #[error("{method}: unexpected response: {reason}")]
    Response {
        /// Method called.
        method: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// How settled the state a query reads must be (Solana's commitment levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Commitment {
    /// Seen by the node, possibly on a fork that dies.
    Processed,
    /// Voted on by a supermajority.
    Confirmed,
    /// Rooted: will not be rolled back.
    Finalized,
}

impl Commitment {
    /// Solana's name for the level.
    pub fn as_str(self) -> &'static str {
        match self {
            Commitment::Processed => "processed",
            Commitment::Confirmed => "confirmed",
            Commitment::Finalized => "finalized",
        }
    }

    /// Reads Solana's name for a level.
    pub fn parse(name: &str) -> Option<Commitment> {
        match name {
            "processed" => Some(Commitment::Processed),
            "confirmed" => Some(Commitment::Confirmed),
            "finalized" => Some(Commitment::Finalized),
            _ => None,
        }
    }
}

/// One transaction's status, as `getSignatureStatuses` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureStatus {
    /// Slot that holds the transaction.
    pub slot: u64,
    /// Solana's `TransactionError` JSON when the transaction failed.
    pub err: Option<Value>,
    /// `"processed"`, `"confirmed"` or `"finalized"`.
    pub confirmation_status: Option<String>,
}

impl SignatureStatus {
    /// Whether the status has reached at least `level`.
    pub fn reached(&self, level: Commitment) -> bool {
        self.confirmation_status
            .as_deref()
            .and_then(Commitment::parse)
            .is_some_and(|c| c >= level)
    }
}

/// A blocking JSON-RPC client; clones share the connection pool.
#[derive(Clone)]
pub struct RpcClient {
    agent: ureq::Agent,
    url: Arc<str>,
    commitment: Commitment,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &self.url)
            .field("commitment", &self.commitment)
            .finish()
    }
}

impl RpcClient {
    /// A client for `url` (e.g. `http://127.0.0.1:8899`), reading at `confirmed` commitment.
    pub fn new(url: impl Into<String>) -> RpcClient {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(CALL_TIMEOUT))
            // Error bodies are JSON-RPC error objects: read them instead of failing on the status.
            .http_status_as_error(false)
            .build();
        RpcClient {
            agent: config.into(),
            url: Arc::from(url.into()),
            commitment: Commitment::Confirmed,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The same client reading at `commitment`.
    pub fn with_commitment(mut self, commitment: Commitment) -> RpcClient {
        self.commitment = commitment;
        self
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params` and returns its `result`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let transport = |reason: String| RpcClientError::Transport {
            url: self.url.to_string(),
            reason,
        };
        let mut response = self
            .agent
            .post(&*self.url)
            .send_json(&request)
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body: Value = response
            .body_mut()
            .with_config()
            .limit(RESPONSE_BYTES_MAX)
            .read_json()
            .map_err(|e| transport(format!("HTTP {status}, body is not JSON: {e}")))?;
        parse_response(method, body, status)
    }

    fn commitment_config(&self) -> Value {
        json!({"commitment": self.commitment.as_str()})
    }

    /// The newest blockhash and the last block height at which it is still valid.
    pub fn get_latest_blockhash(&self) -> Result<(Hash, u64), RpcClientError> {
        let method = "getLatestBlockhash";
        let result = self.call(method, json!([self.commitment_config()]))?;
        let value = field(method, &result, "value")?;
        let hash = parse_base58(method, field(method, value, "blockhash")?)?;
        let height = as_u64(method, field(method, value, "lastValidBlockHeight")?)?;
        Ok((hash, height))
    }

    /// Submits a signed transaction (sent base64-encoded); returns its signature.
    pub fn send_transaction(&self, wire: &[u8]) -> Result<Signature, RpcClientError> {
        let method = "sendTransaction";
        let encoded = base64::engine::general_purpose::STANDARD.encode(wire);
        let result = self.call(
            method,
            json!([encoded, {"encoding": "base64", "preflightCommitment": self.commitment.as_str()}]),
        )?;
        parse_base58(method, &result)
    }

    /// Statuses of `signatures`, in order (`None` = unknown); lists over 256 go in several calls.
    pub fn get_signature_statuses(
        &self,
        signatures: &[Signature],
    ) -> Result<Vec<Option<SignatureStatus>>, RpcClientError> {
        let method = "getSignatureStatuses";
        let mut out = Vec::with_capacity(signatures.len());
        for chunk in signatures.chunks(SIGNATURE_STATUSES_MAX) {
            let names: Vec<String> = chunk.iter().map(|s| s.to_string()).collect();
            let result = self.call(method, json!([names, {"searchTransactionHistory": true}]))?;
            let values = field(method, &result, "value")?
                .as_array()
                .filter(|v| v.len() == chunk.len())
                .ok_or_else(|| {
                    response_error(method, format!("value is not {} items", chunk.len()))
                })?;
            for v in values {
                out.push(parse_status(method, v)?);
            }
        }
        Ok(out)
    }

    /// An account's balance in lamports.
    pub fn get_balance(&self, key: &Pubkey) -> Result<u64, RpcClientError> {
        let method = "getBalance";
        let result = self.call(method, json!([key.to_string(), self.commitment_config()]))?;
        as_u64(method, field(method, &result, "value")?)
    }

    /// The node's current slot at the client's commitment.
    pub fn get_slot(&self) -> Result<u64, RpcClientError> {
        let result = self.call("getSlot", json!([self.commitment_config()]))?;
        as_u64("getSlot", &result)
    }

    /// The node's current block height at the client's commitment.
    pub fn get_block_height(&self) -> Result<u64, RpcClientError> {
        let result = self.call("getBlockHeight", json!([self.commitment_config()]))?;
        as_u64("getBlockHeight", &result)
    }

    /// Asks the node's faucet for `lamports`; returns the airdrop transaction's signature.
    pub fn request_airdrop(&self, to: &Pubkey, lamports: u64) -> Result<Signature, RpcClientError> {
        let method = "requestAirdrop";
        let result = self.call(
            method,
            json!([to.to_string(), lamports, self.commitment_config()]),
        )?;
        parse_base58(method, &result)
    }

    /// `Ok` when the node reports itself healthy.
    pub fn get_health(&self) -> Result<(), RpcClientError> {
        let result = self.call("getHealth", Value::Null)?;
        match result.as_str() {
            Some("ok") => Ok(()),
            _ => Err(response_error(
                "getHealth",
                format!("expected \"ok\", got {result}"),
            )),
        }
    }

    /// The genesis hash, which identifies the cluster.
    pub fn get_genesis_hash(&self) -> Result<Hash, RpcClientError> {
        let result = self.call("getGenesisHash", Value::Null)?;
        parse_base58("getGenesisHash", &result)
    }

    /// Polls `signature` until it reaches `level` or fails, or until `timeout` or
    /// `last_valid_block_height` (where given) passes; `None` when it never settled.
    pub fn wait_for_signature(
        &self,
        signature: &Signature,
        level: Commitment,
        timeout: Duration,
        last_valid_block_height: Option<u64>,
    ) -> Result<Option<SignatureStatus>, RpcClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.get_signature_statuses(std::slice::from_ref(signature))?;
            if let Some(Some(s)) = status.into_iter().next() {
                if s.err.is_some() || s.reached(level) {
                    return Ok(Some(s));
                }
            }
            if let Some(last) = last_valid_block_height {
                if self.get_block_height()? > last {
                    // The blockhash expired: the transaction can no longer land. One last look, as
                    // it may have landed in the block that crossed the height.
                    let status = self.get_signature_statuses(std::slice::from_ref(signature))?;
                    return Ok(status
                        .into_iter()
                        .next()
                        .flatten()
                        .filter(|s| s.err.is_some() || s.reached(level)));
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn response_error(method: &str, reason: String) -> RpcClientError {
    RpcClientError::Response {
        method: method.to_string(),
        reason,
    }
}

/// The `result` of a JSON-RPC response, or its `error` as a typed error.
fn parse_response(method: &str, mut body: Value, status: u16) -> Result<Value, RpcClientError> {
    if let Some(error) = body.get_mut("error").filter(|e| !e.is_null()) {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("(no message)")
            .to_string();
        let data = error
            .get_mut("data")
            .map(Value::take)
            .filter(|d| !d.is_null());
        return Err(RpcClientError::Rpc {
            code,
            message,
            data,
        });
    }
    match body.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(response_error(
            method,
            format!(
                "HTTP {status}, neither result nor error in {}",
                truncated(&body)
            ),
        )),
    }
}

/// A value for an error message, cut so that a huge body does not flood the terminal.
fn truncated(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

fn field<'a>(method: &str, v: &'a Value, name: &str) -> Result<&'a Value, RpcClientError> {
    v.get(name)
        .ok_or_else(|| response_error(method, format!("no `{name}` in {}", truncated(v))))
}

fn as_u64(method: &str, v: &Value) -> Result<u64, RpcClientError> {
    v.as_u64().ok_or_else(|| {
        response_error(
            method,
            format!("expected an unsigned integer, got {}", truncated(v)),
        )
    })
}

fn parse_base58<T: std::str::FromStr>(method: &str, v: &Value) -> Result<T, RpcClientError>
where
    T::Err: std::fmt::Display,
{
    let text = v.as_str().ok_or_else(|| {
        response_error(
            method,
            format!("expected a base58 string, got {}", truncated(v)),
        )
    })?;
    text.parse()
        .map_err(|e| response_error(method, format!("{text:?}: {e}")))
}

fn parse_status(method: &str, v: &Value) -> Result<Option<SignatureStatus>, RpcClientError> {
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(SignatureStatus {
        slot: as_u64(method, field(method, v, "slot")?)?,
        err: v.get("err").filter(|e| !e.is_null()).cloned(),
        confirmation_status: v
            .get("confirmationStatus")
            .and_then(Value::as_str)
            .map(str::to_string),
    }))
}

/// A tiny HTTP responder with canned Solana-shaped answers, for tests of RPC callers.
#[cfg(test)]
pub(crate) mod fake_rpc {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    use serde_json::Value;

    /// Answers a request (the parsed JSON body) with an HTTP status and a body.
    pub type Handler = dyn Fn(&Value) -> (u16, String) + Send + Sync;

    /// A running responder; its thread stops when the test process ends.
    pub struct FakeRpc {
        /// `http://127.0.0.1:PORT`.
        pub url: String,
        /// Every request body received, in order.
        pub requests: Arc<Mutex<Vec<Value>>>,
    }

    /// Starts a responder on a free loopback port.
    pub fn start(handler: impl Fn(&Value) -> (u16, String) + Send + Sync + 'static) -> FakeRpc {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, handler) = (seen.clone(), handler.clone());
                std::thread::spawn(move || serve(stream, &seen, &*handler));
            }
        });
        FakeRpc { url, requests }
    }

    /// A JSON-RPC success body.
    pub fn ok(id: &Value, result: Value) -> (u16, String) {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result});
        (200, body.to_string())
    }

    fn serve(stream: TcpStream, seen: &Mutex<Vec<Value>>, handler: &Handler) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        // Keep-alive: answer requests on this connection until the client closes it.
        loop {
            let mut content_length = 0usize;
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        content_length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0u8; content_length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            seen.lock().unwrap().push(request.clone());
            let (status, reply) = handler(&request);
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                reply.len()
            );
            if writer.write_all(head.as_bytes()).is_err()
                || writer.write_all(reply.as_bytes()).is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake_rpc::{ok, start};
    use super::*;

    fn canned(request: &Value) -> (u16, String) {
        let id = &request["id"];
        let params = &request["params"];
        match request["method"].as_str().unwrap_or("") {
            "getLatestBlockhash" => ok(
                id,
                json!({"context": {"slot": 5, "apiVersion": "3.0.0"},
                       "value": {"blockhash": Hash([9; 32]).to_string(), "lastValidBlockHeight": 155}}),
            ),
            "getBalance" => ok(id, json!({"context": {"slot": 5}, "value": 1_500_000_000u64})),
            "getSlot" => ok(id, json!(42)),
            "getBlockHeight" => ok(id, json!(40)),
            "getHealth" => ok(id, json!("ok")),
            "getGenesisHash" => ok(id, json!(Hash([3; 32]).to_string())),
            "requestAirdrop" => ok(id, json!(Signature([4; 64]).to_string())),
            "sendTransaction" => {
                let wire = base64::engine::general_purpose::STANDARD
                    .decode(params[0].as_str().unwrap_or(""))
                    .unwrap_or_default();
                match dataplane::txn::TxnView::new(&wire) {
                    Ok(v) => ok(id, json!(v.signature().to_string())),
                    Err(e) => (
                        200,
                        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602,
                            "message": format!("invalid transaction: {e}")}})
                        .to_string(),
                    ),
                }
            }
            "getSignatureStatuses" => {
                // Known: signatures whose first byte is even; confirmed when it is 0.
                let value: Vec<Value> = params[0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| {
                        let sig: Signature = s.as_str().unwrap().parse().unwrap();
                        match sig.0[0] {
                            b if b % 2 == 1 => Value::Null,
                            0 => json!({"slot": 7, "confirmations": null, "err": null,
                                        "status": {"Ok": null}, "confirmationStatus": "finalized"}),
                            _ => json!({"slot": 8, "confirmations": 1,
                                        "err": {"InstructionError": [0, {"Custom": 1}]},
                                        "status": {"Err": {"InstructionError": [0, {"Custom": 1}]}},
                                        "confirmationStatus": "processed"}),
                        }
                    })
                    .collect();
                ok(id, json!({"context": {"slot": 9}, "value": value}))
            }
            "simulateTransaction" => (
                500,
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32002,
                    "message": "Transaction simulation failed: Attempt to debit an account but found no record of a prior credit.",
                    "data": {"err": "AccountNotFound", "logs": []}}})
                .to_string(),
            ),
            "broken" => (502, "<html>bad gateway</html>".into()),
            "empty" => (200, json!({"jsonrpc": "2.0", "id": id}).to_string()),
            _ => (
                200,
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}})
                    .to_string(),
            ),
        }
    }

    #[test]
    fn typed_helpers_read_solana_shapes() {
        let server = start(canned);
        let client = RpcClient::new(&server.url);
        assert_eq!(client.get_latest_blockhash().unwrap(), (Hash([9; 32]), 155));
        assert_eq!(client.get_balance(&Pubkey([1; 32])).unwrap(), 1_500_000_000);
        assert_eq!(client.get_slot().unwrap(), 42);
        assert_eq!(client.get_block_height().unwrap(), 40);
        client.get_health().unwrap();
        assert_eq!(client.get_genesis_hash().unwrap(), Hash([3; 32]));
        assert_eq!(
            client.request_airdrop(&Pubkey([1; 32]), 5).unwrap(),
            Signature([4; 64])
        );

        let requests = server.requests.lock().unwrap();
        let balance = requests
            .iter()
            .find(|r| r["method"] == "getBalance")
            .unwrap();
        assert_eq!(balance["params"][0], Pubkey([1; 32]).to_string());
        assert_eq!(balance["params"][1]["commitment"], "confirmed");
        assert_eq!(balance["jsonrpc"], "2.0");
        let ids: std::collections::HashSet<_> =
            requests.iter().map(|r| r["id"].as_u64().unwrap()).collect();
        assert_eq!(ids.len(), requests.len(), "request ids are unique");
    }

    #[test]
    fn send_transaction_sends_base64_and_returns_the_signature() {
        let server = start(canned);
        let client = RpcClient::new(&server.url);
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let wire = dataplane::txn::build_transfer(&key, &Pubkey([2; 32]), 10, &Hash([9; 32]));
        let sig = client.send_transaction(&wire).unwrap();
        assert_eq!(
            sig,
            dataplane::txn::TxnView::new(&wire).unwrap().signature()
        );
        let requests = server.requests.lock().unwrap();
        assert_eq!(requests[0]["params"][1]["encoding"], "base64");

        drop(requests);
        match client.send_transaction(&[1, 2, 3]) {
            Err(RpcClientError::Rpc { code, message, .. }) => {
                assert_eq!(code, -32602);
                assert!(message.contains("invalid transaction"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn signature_statuses_keep_order_and_chunk_by_256() {
        let server = start(canned);
        let client = RpcClient::new(&server.url);
        let sigs: Vec<Signature> = (0..600u32)
            .map(|i| {
                let mut s = [0u8; 64];
                s[0] = (i % 3) as u8; // 0: finalized, 1: unknown, 2: failed
                s[1..5].copy_from_slice(&i.to_le_bytes());
                Signature(s)
            })
            .collect();
        let statuses = client.get_signature_statuses(&sigs).unwrap();
        assert_eq!(statuses.len(), 600);
        for (sig, status) in sigs.iter().zip(&statuses) {
            match sig.0[0] {
                0 => {
                    let s = status.as_ref().unwrap();
                    assert_eq!(s.slot, 7);
                    assert!(s.err.is_none() && s.reached(Commitment::Confirmed));
                }
                1 => assert!(status.is_none()),
                _ => {
                    let s = status.as_ref().unwrap();
                    assert_eq!(s.err.as_ref().unwrap()["InstructionError"][0], 0);
                    assert!(!s.reached(Commitment::Confirmed));
                    assert!(s.reached(Commitment::Processed));
                }
            }
        }
        let sizes: Vec<usize> = server
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| r["params"][0].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, vec![256, 256, 88]);
        assert!(client.get_signature_statuses(&[]).unwrap().is_empty());
    }

    #[test]
    fn errors_carry_code_message_and_data() {
        let server = start(canned);
        let client = RpcClient::new(&server.url);
        match client.call("simulateTransaction", json!([])) {
            Err(RpcClientError::Rpc {
                code,
                message,
                data,
            }) => {
                assert_eq!(code, -32002);
                assert!(message.starts_with("Transaction simulation failed"));
                assert_eq!(data.unwrap()["err"], "AccountNotFound");
            }
            other => panic!("{other:?}"),
        }
        let e = client.call("nope", json!([])).unwrap_err();
        assert!(e.to_string().contains("-32601"), "{e}");
        let e = client.call("broken", json!([])).unwrap_err().to_string();
        assert!(e.contains("502") && e.contains(&server.url), "{e}");
        let e = client.call("empty", json!([])).unwrap_err().to_string();
        assert!(e.contains("neither result nor error"), "{e}");
    }

    #[test]
    fn unreachable_node_is_a_transport_error() {
        // Bind then drop, so the port is very likely closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = RpcClient::new(format!("http://127.0.0.1:{port}"));
        assert!(matches!(
            client.get_slot(),
            Err(RpcClientError::Transport { .. })
        ));
    }

    #[test]
    fn wait_for_signature_returns_settled_failed_or_none() {
        let server = start(canned);
        let client = RpcClient::new(&server.url);
        let finalized = Signature([0; 64]);
        let s = client
            .wait_for_signature(
                &finalized,
                Commitment::Confirmed,
                Duration::from_secs(5),
                None,
            )
            .unwrap()
            .unwrap();
        assert_eq!(s.slot, 7);
        let failed = Signature([2; 64]);
        let s = client
            .wait_for_signature(&failed, Commitment::Confirmed, Duration::from_secs(5), None)
            .unwrap()
            .unwrap();
        assert!(s.err.is_some());
        let unknown = Signature([1; 64]);
        let none = client
            .wait_for_signature(&unknown, Commitment::Confirmed, Duration::ZERO, None)
            .unwrap();
        assert!(none.is_none());
        // Block height 40 is past a last valid height of 39: expired without waiting for the timeout.
        let none = client
            .wait_for_signature(
                &unknown,
                Commitment::Confirmed,
                Duration::from_secs(60),
                Some(39),
            )
            .unwrap();
        assert!(none.is_none());
    }
}
