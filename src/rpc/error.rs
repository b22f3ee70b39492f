//! JSON-RPC errors with Solana's codes and messages, which clients match on.

use dataplane::types::Slot;
use serde_json::{json, Value};

use super::{BlockError, SubmitError};

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal error (also: node overloaded).
pub const INTERNAL_ERROR: i64 = -32603;
/// The block was pruned from this node's ledger; the message names the first one kept.
pub const BLOCK_CLEANED_UP: i64 = -32001;
/// `sendTransaction` preflight failed; `data` is a simulation result.
pub const SEND_TRANSACTION_PREFLIGHT_FAILURE: i64 = -32002;
/// A transaction signature does not verify.
pub const TRANSACTION_SIGNATURE_VERIFICATION_FAILURE: i64 = -32003;
/// The block is not (yet) available.
pub const BLOCK_NOT_AVAILABLE: i64 = -32004;
/// The node is unhealthy; `data` is `{numSlotsBehind}`.
pub const NODE_UNHEALTHY: i64 = -32005;
/// The slot was skipped.
pub const SLOT_SKIPPED: i64 = -32007;
/// The node has no snapshot (`getHighestSnapshotSlot`).
pub const NO_SNAPSHOT: i64 = -32008;
/// A versioned transaction asked for without a `maxSupportedTransactionVersion` that covers it.
pub const UNSUPPORTED_TRANSACTION_VERSION: i64 = -32015;
/// The node has not reached the request's `minContextSlot`; `data` is `{contextSlot}`.
pub const MIN_CONTEXT_SLOT_NOT_REACHED: i64 = -32016;

/// Longest text copied from a request into an error message, in characters.
const ECHO_CHARS_MAX: usize = 64;
/// Longest error message, in characters (serde messages may quote request values).
const MESSAGE_CHARS_MAX: usize = 512;

/// At most [`ECHO_CHARS_MAX`] characters of `s`, for quoting untrusted text in messages.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(ECHO_CHARS_MAX) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// A JSON-RPC error object: `{code, message, data}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The error code (see the constants in this module).
    pub code: i64,
    /// Human-readable description.
    pub message: String,
    /// Structured details, where Solana defines them.
    pub data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> RpcError {
        let mut message = message.into();
        if let Some((end, _)) = message.char_indices().nth(MESSAGE_CHARS_MAX) {
            message.truncate(end);
            message.push('…');
        }
        RpcError {
            code,
            message,
            data: None,
        }
    }

    /// -32700: the body is not JSON.
    pub fn parse_error() -> RpcError {
        RpcError::new(PARSE_ERROR, "Parse error")
    }

    /// -32600: not a request object; `detail` says what is wrong.
    pub fn invalid_request(detail: &str) -> RpcError {
        RpcError::new(INVALID_REQUEST, format!("Invalid request: {detail}"))
    }

    /// -32601.
    pub fn method_not_found() -> RpcError {
        RpcError::new(METHOD_NOT_FOUND, "Method not found")
    }

    /// -32602 with `message` as is (it must name the parameter).
    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }

    /// -32008: Solana's answer to `getHighestSnapshotSlot` on a node without snapshots.
    pub fn no_snapshot() -> RpcError {
        RpcError::new(NO_SNAPSHOT, "No snapshot")
    }

    /// -32603.
    pub fn internal(message: impl Into<String>) -> RpcError {
        RpcError::new(INTERNAL_ERROR, message)
    }

    /// 429, as RPC providers answer a client over its rate (sent with HTTP 429 and `Retry-After`,
    /// which stock clients back off on).
    pub fn too_many_requests() -> RpcError {
        RpcError::new(429, "Too many requests for a specific RPC call")
    }

    /// -32005 with Solana's `{numSlotsBehind}` data (we report the reason instead of a count).
    pub fn node_unhealthy(reason: &str) -> RpcError {
        RpcError {
            data: Some(json!({ "numSlotsBehind": null })),
            ..RpcError::new(NODE_UNHEALTHY, reason)
        }
    }

    /// -32016 with the slot the node has reached.
    pub fn min_context_slot_not_reached(context_slot: Slot) -> RpcError {
        RpcError {
            data: Some(json!({ "contextSlot": context_slot.0 })),
            ..RpcError::new(
                MIN_CONTEXT_SLOT_NOT_REACHED,
                "Minimum context slot has not been reached",
            )
        }
    }

    /// -32015 in Solana's words, which tell the client the parameter to send.
    pub fn unsupported_transaction_version(version: u8) -> RpcError {
        RpcError::new(
            UNSUPPORTED_TRANSACTION_VERSION,
            format!(
                "Transaction version ({version}) is not supported by the requesting client. \
                 Please try the request again with the following configuration parameter: \
                 \"maxSupportedTransactionVersion\": {version}"
            ),
        )
    }

    /// The JSON error object.
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "code": self.code, "message": self.message });
        if let Some(data) = &self.data {
            v["data"] = data.clone();
        }
        v
    }
}

impl From<BlockError> for RpcError {
    fn from(e: BlockError) -> RpcError {
        match e {
            BlockError::NotAvailable(slot) => RpcError::new(
                BLOCK_NOT_AVAILABLE,
                format!("Block not available for slot {slot}"),
            ),
            BlockError::CleanedUp {
                slot,
                first_available,
            } => RpcError::new(
                BLOCK_CLEANED_UP,
                format!(
                    "Block {slot} cleaned up, does not exist on node. First available block: \
                     {first_available}"
                ),
            ),
            BlockError::Skipped(slot) => RpcError::new(
                SLOT_SKIPPED,
                format!(
                    "Slot {slot} was skipped, or missing due to ledger jump to recent snapshot"
                ),
            ),
        }
    }
}

impl From<SubmitError> for RpcError {
    fn from(e: SubmitError) -> RpcError {
        match e {
            SubmitError::Malformed(_) | SubmitError::Unsupported(_) => {
                RpcError::new(INVALID_PARAMS, e.to_string())
            }
            SubmitError::BadSignature => {
                RpcError::new(TRANSACTION_SIGNATURE_VERIFICATION_FAILURE, e.to_string())
            }
            SubmitError::Preflight { message, err } => RpcError {
                // Clients parse `data` as Solana's `RpcSimulateTransactionResult`.
                data: Some(json!({
                    "err": err,
                    "logs": [],
                    "accounts": null,
                    "unitsConsumed": 0,
                    "returnData": null,
                })),
                ..RpcError::new(
                    SEND_TRANSACTION_PREFLIGHT_FAILURE,
                    format!("Transaction simulation failed: {message}"),
                )
            },
            SubmitError::Unhealthy(reason) => RpcError::node_unhealthy(&reason),
            SubmitError::Busy => RpcError::new(INTERNAL_ERROR, e.to_string()),
        }
    }
}
