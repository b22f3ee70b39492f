//! Positional parameters and Solana's config objects, parsed without trusting the request.
//!
//! Every error names the parameter (`param 0 (pubkey): invalid base58: …`). Config objects ignore
//! fields they do not know, as Solana's do, and `null` stands for an absent parameter.

use std::str::FromStr;

use dataplane::types::ParseBase58Error;
use serde::Deserialize;
use serde_json::Value;

use super::error::{excerpt, RpcError};
use super::Commitment;

/// The `params` array of one request.
pub(super) struct Params<'a> {
    values: &'a [Value],
}

impl<'a> Params<'a> {
    /// `params` absent or `null` means none; anything but an array is refused.
    pub fn new(params: Option<&'a Value>) -> Result<Params<'a>, RpcError> {
        match params {
            None | Some(Value::Null) => Ok(Params { values: &[] }),
            Some(Value::Array(values)) => Ok(Params { values }),
            Some(_) => Err(RpcError::invalid_params(
                "Invalid params: params must be an array of positional parameters",
            )),
        }
    }

    /// Refuses more than `max` parameters.
    pub fn at_most(&self, max: usize) -> Result<(), RpcError> {
        if self.values.len() > max {
            return Err(RpcError::invalid_params(format!(
                "Invalid params: expected at most {max} parameters, got {}",
                self.values.len()
            )));
        }
        Ok(())
    }

    /// Parameter `index`, `None` when absent or `null`.
    pub fn get(&self, index: usize) -> Option<&'a Value> {
        self.values.get(index).filter(|v| !v.is_null())
    }

    /// Parameter `index` as `T`; an error naming `name` when absent or of the wrong type.
    pub fn required<T: Deserialize<'a>>(&self, index: usize, name: &str) -> Result<T, RpcError> {
        self.optional(index, name)?.ok_or_else(|| {
            RpcError::invalid_params(format!("Invalid params: missing param {index} ({name})"))
        })
    }

    /// Parameter `index` as `T`, or `None` when absent.
    pub fn optional<T: Deserialize<'a>>(
        &self,
        index: usize,
        name: &str,
    ) -> Result<Option<T>, RpcError> {
        self.get(index)
            .map(|v| T::deserialize(v).map_err(|e| bad_param(index, name, &e.to_string())))
            .transpose()
    }

    /// Config object at `index`, its defaults when absent.
    pub fn config<T: Deserialize<'a> + Default>(&self, index: usize) -> Result<T, RpcError> {
        Ok(self.optional(index, "config")?.unwrap_or_default())
    }

    /// Base58 key, signature or hash at `index`.
    pub fn base58<T>(&self, index: usize, name: &str) -> Result<T, RpcError>
    where
        T: FromStr<Err = ParseBase58Error>,
    {
        let text: &str = self.required(index, name)?;
        text.parse()
            .map_err(|e: ParseBase58Error| bad_param(index, name, &e.to_string()))
    }
}

/// -32602 naming parameter `index`.
pub(super) fn bad_param(index: usize, name: &str, reason: &str) -> RpcError {
    RpcError::invalid_params(format!("Invalid params: param {index} ({name}): {reason}"))
}

/// Refuses `processed` for methods that read blocks (Solana does too).
pub(super) fn at_least_confirmed(c: Commitment) -> Result<Commitment, RpcError> {
    if c == Commitment::Processed {
        return Err(RpcError::invalid_params(
            "Method does not support commitment below `confirmed`",
        ));
    }
    Ok(c)
}

/// How a transaction is rendered or submitted (Solana's `UiTransactionEncoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum TransactionEncoding {
    /// Legacy: a bare base58 string.
    Binary,
    /// `[base58, "base58"]`.
    Base58,
    /// `[base64, "base64"]`.
    Base64,
    /// Decoded message with raw compiled instructions.
    Json,
    /// Decoded message with account roles and parsed system transfers.
    JsonParsed,
}

impl TransactionEncoding {
    /// Solana's name for it.
    pub fn name(self) -> &'static str {
        match self {
            TransactionEncoding::Binary => "binary",
            TransactionEncoding::Base58 => "base58",
            TransactionEncoding::Base64 => "base64",
            TransactionEncoding::Json => "json",
            TransactionEncoding::JsonParsed => "jsonParsed",
        }
    }
}

/// How much of each transaction `getBlock` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) enum TransactionDetails {
    /// Transactions with meta.
    #[default]
    Full,
    /// First signatures only.
    Signatures,
    /// Neither.
    None,
    /// Signatures and account keys with meta.
    Accounts,
}

/// `{commitment, minContextSlot}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ContextConfig {
    pub commitment: Option<Commitment>,
    pub min_context_slot: Option<u64>,
}

/// `sendTransaction`'s config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct SendConfig {
    pub encoding: Option<TransactionEncoding>,
    /// Skip the simulation (the inclusion checks still run).
    pub skip_preflight: bool,
    // Accepted for compatibility: the node hands the transaction straight to its own pipeline and
    // does not re-broadcast.
    #[allow(dead_code)]
    pub max_retries: Option<u64>,
    pub preflight_commitment: Option<Commitment>,
    pub min_context_slot: Option<u64>,
}

/// `getSignatureStatuses`'s config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct SignatureStatusConfig {
    pub search_transaction_history: bool,
}

/// `getTransaction`'s config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct TransactionConfig {
    pub encoding: Option<TransactionEncoding>,
    pub commitment: Option<Commitment>,
    pub max_supported_transaction_version: Option<u8>,
}

/// `getBlock`'s config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct BlockConfig {
    pub encoding: Option<TransactionEncoding>,
    pub transaction_details: Option<TransactionDetails>,
    pub rewards: Option<bool>,
    pub commitment: Option<Commitment>,
    pub max_supported_transaction_version: Option<u8>,
}

/// `requestAirdrop`'s config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct AirdropConfig {
    // Accepted for compatibility: the faucet signs against the node's newest blockhash.
    #[allow(dead_code)]
    pub recent_blockhash: Option<String>,
    #[allow(dead_code)]
    pub commitment: Option<Commitment>,
}

/// `getAccountInfo`'s config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct AccountInfoConfig {
    pub encoding: Option<String>,
    pub commitment: Option<Commitment>,
    pub min_context_slot: Option<u64>,
}

/// Old clients pass a bare encoding string where newer ones pass a config object
/// (Solana's `RpcEncodingConfigWrapper`); both land in `T`.
pub(super) fn encoding_or_config<'a, T>(
    p: &Params<'a>,
    index: usize,
    set_encoding: impl FnOnce(&mut T, TransactionEncoding),
) -> Result<T, RpcError>
where
    T: Deserialize<'a> + Default,
{
    match p.get(index) {
        Some(Value::String(_)) => {
            let encoding: TransactionEncoding = p.required(index, "encoding")?;
            let mut config = T::default();
            set_encoding(&mut config, encoding);
            Ok(config)
        }
        _ => p.config(index),
    }
}

/// `(data text, encoding name)` of an account without data, in the requested account encoding.
pub(super) fn empty_account_data(
    name: Option<&str>,
) -> Result<(&'static str, &'static str), RpcError> {
    match name.unwrap_or("base64") {
        "base58" => Ok(("", "base58")),
        // A system account has no data, so there is nothing to parse; Solana falls back to base64.
        "base64" | "jsonParsed" => Ok(("", "base64")),
        // A zstd frame of zero bytes (what `zstd -c </dev/null` writes); stock clients ask for it.
        "base64+zstd" => Ok(("KLUv/SQAAQAAmenYUQ==", "base64+zstd")),
        other => Err(bad_param(
            1,
            "config",
            &format!(
                "unsupported account encoding `{}`, expected base58, base64, base64+zstd or jsonParsed",
                excerpt(other)
            ),
        )),
    }
}
