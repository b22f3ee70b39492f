//! The JSON texts PubSub sends, in Solana's shapes: subscribe answers and each notification's
//! `params.result`.

use std::fmt::Write;

use dataplane::types::{Pubkey, Signature, Slot};
use serde_json::{json, Value};

use super::request::AccountEncoding;

/// `{"jsonrpc":"2.0","result":…,"id":…}`.
pub(super) fn answer(id: &Value, result: Value) -> String {
    json!({ "jsonrpc": "2.0", "result": result, "id": id }).to_string()
}

/// `{"jsonrpc":"2.0","method":…,"params":{"result":…,"subscription":…}}` around a result already
/// rendered as JSON text: one event's result goes to every subscription it concerns, so it is
/// rendered once, not once per subscription. (Keys in serde_json's sorted order, as `json!` gives.)
/// Built by appending, not `format!`: the hub writes tens of thousands a second.
pub(super) fn notification_text(method: &str, subscription: u64, result: &str) -> String {
    const HEAD: &str = r#"{"jsonrpc":"2.0","method":""#;
    const PARAMS: &str = r#"","params":{"result":"#;
    const SUBSCRIPTION: &str = r#","subscription":"#;
    let mut text = String::with_capacity(
        HEAD.len() + method.len() + PARAMS.len() + result.len() + SUBSCRIPTION.len() + 22,
    );
    text.push_str(HEAD);
    text.push_str(method);
    text.push_str(PARAMS);
    text.push_str(result);
    text.push_str(SUBSCRIPTION);
    push_u64(&mut text, subscription);
    text.push_str("}}");
    text
}

fn push_u64(text: &mut String, n: u64) {
    let _ = write!(text, "{n}"); // writing to a String cannot fail
}

/// `{"context":{"slot":…},"value":…}`: notifications carry no `apiVersion`, as Solana's.
pub(super) fn with_context(slot: Slot, value: Value) -> Value {
    json!({ "context": { "slot": slot.0 }, "value": value })
}

/// A signature's outcome: `{"err": …}`.
pub(super) fn signature_result(err: &Option<Value>) -> Value {
    json!({ "err": err })
}

/// Solana's `receivedSignature` value (the transaction reached the node, not yet a block).
pub(super) fn received_signature() -> Value {
    json!("receivedSignature")
}

/// Solana's account object for a System Program account without data. An account that holds no
/// lamports no longer exists; Solana then shows a default account (rent epoch 0).
pub(super) fn account(lamports: u64, encoding: AccountEncoding) -> Value {
    let data = match encoding {
        AccountEncoding::LegacyBinary => json!(""),
        AccountEncoding::Tagged { data, name } => json!([data, name]),
    };
    let rent_epoch = if lamports == 0 { 0 } else { u64::MAX };
    json!({
        "lamports": lamports,
        "owner": Pubkey::SYSTEM_PROGRAM.to_string(),
        "data": data,
        "executable": false,
        "rentEpoch": rent_epoch,
        "space": 0,
    })
}

/// A `logsNotification` result with its context: `{"signature","err","logs"}` in slot `slot`. The
/// System Program writes no log lines here (as `getTransaction`'s `logMessages`). Rendered
/// directly, byte for byte what `json!` gives (sorted keys): a busy block's transactions each
/// render one, and through `serde_json::Value` that was a third of the hub's time.
pub(super) fn logs_text(slot: Slot, signature: &Signature, err: &Option<Value>) -> String {
    let mut text = String::with_capacity(160);
    text.push_str(r#"{"context":{"slot":"#);
    push_u64(&mut text, slot.0);
    text.push_str(r#"},"value":{"err":"#);
    match err {
        None => text.push_str("null"),
        Some(err) => text.push_str(&err.to_string()),
    }
    text.push_str(r#","logs":[],"signature":""#);
    // Base58 needs no JSON escaping; written in place, no temporary text per transaction.
    let _ = write!(text, "{signature}"); // writing to a String cannot fail
    text.push_str(r#""}}"#);
    text
}

/// `{"slot","block","err"}`: a rendered block, or Solana's `RpcBlockUpdateError` in its place.
pub(super) fn block(slot: Slot, block: Result<Value, Value>) -> Value {
    match block {
        Ok(block) => json!({ "slot": slot.0, "block": block, "err": null }),
        Err(err) => json!({ "slot": slot.0, "block": null, "err": err }),
    }
}

/// `{"parent","root","slot"}`.
pub(super) fn slot(slot: Slot, parent: Slot, root: Slot) -> Value {
    json!({ "parent": parent.0, "root": root.0, "slot": slot.0 })
}

/// A `slotsUpdatesNotification` result, Solana's `SlotUpdate`: `{"slot", "timestamp" (unix ms),
/// "type"}`, and `"parent"` for `createdBank`.
pub(super) fn slot_update(
    kind: &str,
    slot: Slot,
    parent: Option<Slot>,
    timestamp_ms: u64,
) -> String {
    let mut v = json!({ "slot": slot.0, "timestamp": timestamp_ms, "type": kind });
    if let Some(p) = parent {
        v["parent"] = json!(p.0);
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logs_result_is_byte_for_byte_the_json_macros() {
        let signature = Signature([7; 64]);
        let failed = Some(json!({"InstructionError": [0, {"Custom": 1}]}));
        for err in [None, failed] {
            let by_macro = json!({
                "context": { "slot": 77 },
                "value": { "signature": signature.to_string(), "err": err, "logs": [] },
            })
            .to_string();
            assert_eq!(logs_text(Slot(77), &signature, &err), by_macro);
        }
    }

    #[test]
    fn a_prerendered_notification_is_byte_for_byte_the_json_macros() {
        let result = with_context(Slot(9), json!({"err": null, "logs": [], "signature": "x"}));
        let whole = json!({
            "jsonrpc": "2.0",
            "method": "logsNotification",
            "params": { "result": result, "subscription": 42 },
        })
        .to_string();
        assert_eq!(
            notification_text("logsNotification", 42, &result.to_string()),
            whole
        );
    }
}
