//! One incoming message: the JSON-RPC envelope, the method and its parameters, checked in the
//! connection task before anything reaches the hub. Defaults and refusals follow Solana's
//! (`rpc_pubsub.rs`): commitment defaults to finalized, `blockSubscribe` needs at least confirmed,
//! `logsSubscribe` mentions exactly one address.

use dataplane::types::{Pubkey, Signature};
use serde::Deserialize;
use serde_json::Value;

use super::super::encoding::BlockOptions;
use super::super::error::RpcError;
use super::super::params::{
    at_least_confirmed, bad_param, empty_account_data, AccountInfoConfig, Params,
    TransactionDetails, TransactionEncoding,
};
use super::super::server::{batch_refusal, error_response, parse_envelope};
use super::super::stats::{PubSubDrop, PubSubMethod};
use super::super::{Commitment, RpcStats};

/// What a subscription watches, with its options.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Spec {
    /// One transaction reaching `commitment` (and, if asked, its arrival at the node).
    Signature {
        signature: Signature,
        commitment: Commitment,
        received: bool,
    },
    /// One account's state at `commitment`.
    Account {
        pubkey: Pubkey,
        commitment: Commitment,
        encoding: AccountEncoding,
    },
    /// Transaction logs at `commitment`.
    Logs {
        filter: LogsFilter,
        commitment: Commitment,
    },
    /// Blocks at `commitment` (confirmed or finalized), all or those naming one key.
    Block {
        mentions: Option<Pubkey>,
        commitment: Commitment,
        options: BlockOptions,
    },
    /// Every frozen slot.
    Slot,
    /// Every new root.
    Root,
    /// Each slot's progress: completed, optimistically confirmed, rooted (Solana's
    /// `slotsUpdatesSubscribe`, which Agave's TPU clients follow to find the current leader).
    SlotsUpdates,
}

impl Spec {
    /// The commitment it notifies at; `None` for slot and root subscriptions.
    pub fn commitment(&self) -> Option<Commitment> {
        match self {
            Spec::Signature { commitment, .. }
            | Spec::Account { commitment, .. }
            | Spec::Logs { commitment, .. }
            | Spec::Block { commitment, .. } => Some(*commitment),
            Spec::Slot | Spec::Root | Spec::SlotsUpdates => None,
        }
    }

    /// Whether it waits for a signature (served by the signature watch, not the hub's walk).
    pub fn is_signature(&self) -> bool {
        matches!(self, Spec::Signature { .. })
    }

    /// Its notification's method name.
    pub fn notification_method(&self) -> &'static str {
        match self {
            Spec::Signature { .. } => "signatureNotification",
            Spec::Account { .. } => "accountNotification",
            Spec::Logs { .. } => "logsNotification",
            Spec::Block { .. } => "blockNotification",
            Spec::Slot => "slotNotification",
            Spec::Root => "rootNotification",
            Spec::SlotsUpdates => "slotsUpdatesNotification",
        }
    }
}

/// How account data is shown (Solana's `UiAccountEncoding`; accounts here hold no data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AccountEncoding {
    /// Solana's default for `accountSubscribe`: a bare base58 string.
    LegacyBinary,
    /// `[data, encoding name]`.
    Tagged {
        data: &'static str,
        name: &'static str,
    },
}

/// Which transactions' logs a subscription wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LogsFilter {
    /// Every transaction but votes.
    All,
    /// Every transaction.
    AllWithVotes,
    /// Transactions naming this key.
    Mentions(Pubkey),
}

/// A checked request for the hub.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Request {
    /// The JSON-RPC id its answer carries.
    pub id: Value,
    /// What to do.
    pub call: Call,
}

/// One message's requests: a single request, or a batch, which JSON-RPC 2.0 allows and Solana's
/// PubSub answers (as one array).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Incoming {
    /// A single request.
    One(Request),
    /// A batch's items in order: a request for the hub, or the error answer already made. Its
    /// notifications (items without an id) are left out: they get no answer.
    Batch(Vec<Result<Request, Value>>),
}

/// What a request asks of the hub.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Call {
    /// Start a subscription.
    Subscribe(Spec),
    /// End subscription `id` (Solana ends any of the connection's, whatever the method's family).
    Unsubscribe(u64),
}

/// Reads one message: its requests for the hub, or the error answer to send back (`None` when
/// nothing is to be answered: the message held only notifications).
pub(super) fn parse(bytes: &[u8], stats: &RpcStats) -> Result<Incoming, Option<Value>> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(_) => {
            stats.count_error();
            return Err(Some(error_response(Value::Null, &RpcError::parse_error())));
        }
    };
    let Value::Array(items) = value else {
        return parse_request(&value, stats).map(Incoming::One);
    };
    if let Some(refusal) = batch_refusal(items.len()) {
        stats.count_error();
        return Err(Some(error_response(Value::Null, &refusal)));
    }
    let items: Vec<Result<Request, Value>> = items
        .iter()
        .filter_map(|item| match parse_request(item, stats) {
            Ok(request) => Some(Ok(request)),
            Err(answer) => answer.map(Err),
        })
        .collect();
    if items.is_empty() {
        return Err(None);
    }
    Ok(Incoming::Batch(items))
}

/// One request object: the request, or the error answer (`None` for a notification, which is not
/// run: it could not name the subscription it made, and Solana does not run one either).
fn parse_request(value: &Value, stats: &RpcStats) -> Result<Request, Option<Value>> {
    let refuse = |id: Option<Value>, e: RpcError| {
        stats.count_error();
        id.map(|id| error_response(id, &e))
    };
    let (id, name, params) = match parse_envelope(value) {
        Ok(parts) => parts,
        Err((id, e)) => return Err(refuse(id, e)),
    };
    let Some(id) = id else {
        stats.pubsub.count_drop(PubSubDrop::Notification, 1);
        return Err(None);
    };
    let Some(method) = PubSubMethod::from_name(name) else {
        stats.count_unknown_method();
        return Err(refuse(Some(id), RpcError::method_not_found()));
    };
    stats.pubsub.count_call(method);
    match Params::new(params).and_then(|p| call(method, &p)) {
        Ok(call) => Ok(Request { id, call }),
        Err(e) => Err(refuse(Some(id), e)),
    }
}

fn call(method: PubSubMethod, p: &Params<'_>) -> Result<Call, RpcError> {
    use PubSubMethod as M;
    let spec = match method {
        M::AccountUnsubscribe
        | M::BlockUnsubscribe
        | M::LogsUnsubscribe
        | M::RootUnsubscribe
        | M::SignatureUnsubscribe
        | M::SlotUnsubscribe
        | M::SlotsUpdatesUnsubscribe => {
            p.at_most(1)?;
            return Ok(Call::Unsubscribe(p.required(0, "subscription id")?));
        }
        M::SignatureSubscribe => signature(p)?,
        M::AccountSubscribe => account(p)?,
        M::LogsSubscribe => logs(p)?,
        M::BlockSubscribe => block(p)?,
        M::SlotSubscribe => {
            p.at_most(0)?;
            Spec::Slot
        }
        M::RootSubscribe => {
            p.at_most(0)?;
            Spec::Root
        }
        M::SlotsUpdatesSubscribe => {
            p.at_most(0)?;
            Spec::SlotsUpdates
        }
    };
    Ok(Call::Subscribe(spec))
}

/// `signatureSubscribe`'s config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SignatureConfig {
    commitment: Option<Commitment>,
    enable_received_notification: Option<bool>,
}

fn signature(p: &Params<'_>) -> Result<Spec, RpcError> {
    p.at_most(2)?;
    let signature: Signature = p.base58(0, "signature")?;
    let config: SignatureConfig = p.config(1)?;
    Ok(Spec::Signature {
        signature,
        commitment: config.commitment.unwrap_or_default(),
        received: config.enable_received_notification.unwrap_or(false),
    })
}

fn account(p: &Params<'_>) -> Result<Spec, RpcError> {
    p.at_most(2)?;
    let pubkey: Pubkey = p.base58(0, "pubkey")?;
    let config: AccountInfoConfig = p.config(1)?;
    let encoding = match config.encoding.as_deref() {
        None | Some("binary") => AccountEncoding::LegacyBinary,
        Some(name) => {
            let (data, name) = empty_account_data(Some(name))?;
            AccountEncoding::Tagged { data, name }
        }
    };
    Ok(Spec::Account {
        pubkey,
        commitment: config.commitment.unwrap_or_default(),
        encoding,
    })
}

/// `{commitment}`: the config of `logsSubscribe`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct CommitmentConfig {
    commitment: Option<Commitment>,
}

fn logs(p: &Params<'_>) -> Result<Spec, RpcError> {
    p.at_most(2)?;
    let bad = |reason: &str| bad_param(0, "filter", reason);
    let filter = match p.get(0) {
        Some(Value::String(s)) if s == "all" => LogsFilter::All,
        Some(Value::String(s)) if s == "allWithVotes" => LogsFilter::AllWithVotes,
        Some(Value::Object(o)) if o.len() == 1 && o.contains_key("mentions") => {
            let keys = match o.get("mentions") {
                Some(Value::Array(keys)) => keys,
                _ => return Err(bad("mentions must be an array of one address")),
            };
            // Solana's limit, in Solana's words.
            let [key] = keys.as_slice() else {
                return Err(RpcError::invalid_params(
                    "Invalid Request: Only 1 address supported",
                ));
            };
            let key: Pubkey = key
                .as_str()
                .ok_or_else(|| bad("mentions must hold a base58 address"))?
                .parse()
                .map_err(|e| bad(&format!("mentions: {e}")))?;
            LogsFilter::Mentions(key)
        }
        None => {
            return Err(RpcError::invalid_params(
                "Invalid params: missing param 0 (filter)",
            ))
        }
        Some(_) => {
            return Err(bad(
                "expected \"all\", \"allWithVotes\" or {\"mentions\": [address]}",
            ))
        }
    };
    let config: CommitmentConfig = p.config(1)?;
    Ok(Spec::Logs {
        filter,
        commitment: config.commitment.unwrap_or_default(),
    })
}

/// `blockSubscribe`'s config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct BlockSubscribeConfig {
    commitment: Option<Commitment>,
    encoding: Option<TransactionEncoding>,
    transaction_details: Option<TransactionDetails>,
    show_rewards: Option<bool>,
    max_supported_transaction_version: Option<u8>,
}

fn block(p: &Params<'_>) -> Result<Spec, RpcError> {
    p.at_most(2)?;
    let bad = |reason: &str| bad_param(0, "filter", reason);
    let mentions = match p.get(0) {
        Some(Value::String(s)) if s == "all" => None,
        Some(Value::Object(o)) if o.len() == 1 => {
            let key = o
                .get("mentionsAccountOrProgram")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("expected {\"mentionsAccountOrProgram\": address}"))?;
            Some(
                key.parse::<Pubkey>()
                    .map_err(|e| bad(&format!("mentionsAccountOrProgram: {e}")))?,
            )
        }
        None => {
            return Err(RpcError::invalid_params(
                "Invalid params: missing param 0 (filter)",
            ))
        }
        Some(_) => {
            return Err(bad(
                "expected \"all\" or {\"mentionsAccountOrProgram\": address}",
            ))
        }
    };
    let config: BlockSubscribeConfig = p.config(1)?;
    let commitment = at_least_confirmed(config.commitment.unwrap_or_default())?;
    // Solana's defaults for this method (not getBlock's): base64, full, no rewards.
    Ok(Spec::Block {
        mentions,
        commitment,
        options: BlockOptions {
            encoding: config.encoding.unwrap_or(TransactionEncoding::Base64),
            details: config.transaction_details.unwrap_or_default(),
            show_rewards: config.show_rewards.unwrap_or(false),
            max_supported_version: config.max_supported_transaction_version,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use super::super::super::error::{
        INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR,
    };
    use super::super::super::BATCH_REQUESTS_MAX;

    fn parse_json(v: Value) -> Result<Request, Option<Value>> {
        match parse(v.to_string().as_bytes(), &RpcStats::new())? {
            Incoming::One(request) => Ok(request),
            batch => panic!("one request expected: {batch:?}"),
        }
    }

    fn error_code(r: Result<Request, Option<Value>>) -> i64 {
        r.unwrap_err().unwrap()["error"]["code"].as_i64().unwrap()
    }

    fn req(method: &str, params: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
    }

    #[test]
    fn defaults_follow_solana() {
        let sig = Signature([5; 64]).to_string();
        let r = parse_json(req("signatureSubscribe", json!([sig]))).unwrap();
        assert_eq!(r.id, json!(7));
        assert_eq!(
            r.call,
            Call::Subscribe(Spec::Signature {
                signature: Signature([5; 64]),
                commitment: Commitment::Finalized,
                received: false,
            })
        );
        let key = Pubkey([3; 32]).to_string();
        let r = parse_json(req("accountSubscribe", json!([key, null]))).unwrap();
        assert_eq!(
            r.call,
            Call::Subscribe(Spec::Account {
                pubkey: Pubkey([3; 32]),
                commitment: Commitment::Finalized,
                encoding: AccountEncoding::LegacyBinary,
            })
        );
        let r = parse_json(req("blockSubscribe", json!(["all"]))).unwrap();
        let Call::Subscribe(Spec::Block { options, .. }) = r.call else {
            panic!("{r:?}");
        };
        assert_eq!(options.encoding, TransactionEncoding::Base64);
        assert_eq!(options.details, TransactionDetails::Full);
        assert!(!options.show_rewards);
        let r = parse_json(req("slotUnsubscribe", json!([12]))).unwrap();
        assert_eq!(r.call, Call::Unsubscribe(12));
    }

    #[test]
    fn bad_requests_get_solanas_codes_and_never_panic() {
        let unparsed = parse(b"{not json", &RpcStats::new());
        assert_eq!(unparsed.unwrap_err().unwrap()["error"]["code"], PARSE_ERROR);
        assert_eq!(
            error_code(parse_json(req("programSubscribe", json!([])))),
            METHOD_NOT_FOUND
        );
        for (method, params) in [
            ("signatureSubscribe", json!(["not-a-signature"])),
            ("signatureSubscribe", json!([])),
            (
                "accountSubscribe",
                json!([Pubkey([1; 32]).to_string(), {"encoding": "xml"}]),
            ),
            ("logsSubscribe", json!([{"mentions": []}])),
            ("logsSubscribe", json!([{"mentions": ["a", "b"]}])),
            ("logsSubscribe", json!(["some"])),
            (
                "blockSubscribe",
                json!(["all", {"commitment": "processed"}]),
            ),
            ("blockSubscribe", json!([{"mentionsAccountOrProgram": 5}])),
            ("slotSubscribe", json!([1])),
            ("slotUnsubscribe", json!(["x"])),
            ("rootUnsubscribe", json!([])),
        ] {
            let code = error_code(parse_json(req(method, params.clone())));
            assert_eq!(code, INVALID_PARAMS, "{method} {params}");
        }
        // A notification (no id) that fails is answered with nothing.
        let r = parse_json(json!({"jsonrpc": "2.0", "method": "slotSubscribe", "params": [1]}));
        assert_eq!(r, Err(None));
    }

    #[test]
    fn a_request_without_an_id_is_not_run_and_is_counted() {
        let stats = RpcStats::new();
        let text = json!({"jsonrpc": "2.0", "method": "slotSubscribe"}).to_string();
        assert_eq!(parse(text.as_bytes(), &stats), Err(None));
        assert_eq!(stats.pubsub.drops(PubSubDrop::Notification), 1);
        assert_eq!(stats.errors(), 0);
    }

    #[test]
    fn a_batch_keeps_its_items_order_with_their_errors_and_drops_its_notifications() {
        let stats = RpcStats::new();
        let batch = json!([
            req("slotSubscribe", json!([])),
            {"jsonrpc": "2.0", "method": "rootSubscribe"},
            {"jsonrpc": "2.0", "id": "x", "method": "getSlot"},
            {"jsonrpc": "2.0", "id": 9, "method": "slotUnsubscribe", "params": [3]},
            5,
        ]);
        let Ok(Incoming::Batch(items)) = parse(batch.to_string().as_bytes(), &stats) else {
            panic!("a batch");
        };
        assert_eq!(items.len(), 4, "{items:?}");
        assert_eq!(
            items[0],
            Ok(Request {
                id: json!(7),
                call: Call::Subscribe(Spec::Slot)
            })
        );
        let unknown = items[1].as_ref().unwrap_err();
        assert_eq!(unknown["id"], "x");
        assert_eq!(unknown["error"]["code"], METHOD_NOT_FOUND);
        assert_eq!(
            items[2],
            Ok(Request {
                id: json!(9),
                call: Call::Unsubscribe(3)
            })
        );
        let not_an_object = items[3].as_ref().unwrap_err();
        assert_eq!(not_an_object["id"], Value::Null);
        assert_eq!(not_an_object["error"]["code"], INVALID_REQUEST);
        assert_eq!(stats.pubsub.drops(PubSubDrop::Notification), 1);
    }

    #[test]
    fn a_batch_empty_over_the_limit_or_of_notifications_only_gets_one_answer_or_none() {
        let stats = RpcStats::new();
        let code = |r: Result<Incoming, Option<Value>>| r.unwrap_err().unwrap()["error"].clone();
        let empty = code(parse(b"[]", &stats));
        assert_eq!(empty["code"], INVALID_REQUEST);
        let too_many: Vec<Value> = (0..=BATCH_REQUESTS_MAX)
            .map(|_| req("slotSubscribe", json!([])))
            .collect();
        let refused = code(parse(json!(too_many).to_string().as_bytes(), &stats));
        assert_eq!(refused["code"], INVALID_REQUEST);
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("limit of 100"),
            "{refused}"
        );
        let at_the_limit: Vec<Value> = too_many[1..].to_vec();
        let Ok(Incoming::Batch(items)) = parse(json!(at_the_limit).to_string().as_bytes(), &stats)
        else {
            panic!("a batch at the limit is served");
        };
        assert_eq!(items.len(), BATCH_REQUESTS_MAX);
        let notifications = json!([{"jsonrpc": "2.0", "method": "slotSubscribe"}]);
        assert_eq!(
            parse(notifications.to_string().as_bytes(), &stats),
            Err(None)
        );
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse(&bytes, &RpcStats::new());
        }
    }
}
