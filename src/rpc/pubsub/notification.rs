//! The JSON texts PubSub sends, in Solana's shapes: subscribe answers and each notification's
//! `params.result`.

use dataplane::types::{Pubkey, Slot};
use serde_json::{json, Value};

use super::request::AccountEncoding;

/// `{"jsonrpc":"2.0","result":…,"id":…}`.
pub(super) fn answer(id: &Value, result: Value) -> String {
    json!({ "jsonrpc": "2.0", "result": result, "id": id }).to_string()
}

/// `{"jsonrpc":"2.0","method":…,"params":{"result":…,"subscription":…}}` around a result already
/// rendered as JSON text: one event's result goes to every subscription it concerns, so it is
/// rendered once, not once per subscription. (Keys in serde_json's sorted order, as `json!` gives.)
pub(super) fn notification_text(method: &str, subscription: u64, result: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"{method}","params":{{"result":{result},"subscription":{subscription}}}}}"#
    )
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

/// `{"signature","err","logs"}`. The System Program writes no log lines here (as `getTransaction`'s
/// `logMessages`).
pub(super) fn logs(signature: &str, err: &Option<Value>) -> Value {
    json!({ "signature": signature, "err": err, "logs": [] })
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
