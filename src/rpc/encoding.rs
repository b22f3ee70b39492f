//! Transactions, their meta and blocks rendered in Solana's JSON shapes, and transactions decoded
//! from request text.
//!
//! Rendering walks the message (legacy or v0) generically (any program, any instruction) instead of
//! using `dataplane::txn::parse`, which accepts only the transfers the bank executes today: a stored
//! transaction must stay renderable when more programs (the vote program) arrive.
//!
//! A v0 transaction is shown only to a client that said it understands one
//! (`maxSupportedTransactionVersion` ≥ 0); any other gets Solana's -32015, so an old client never
//! misreads a versioned message as a legacy one.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use dataplane::byte_reader::{ByteReader, Prefix};
use dataplane::txn::{MessageVersion, INSTRUCTIONS_MAX, TXN_SIZE_MAX};
use dataplane::types::{base58, Pubkey, Signature};
use serde_json::{json, Map, Value};

use super::error::RpcError;
use super::params::{bad_param, TransactionDetails, TransactionEncoding};
use super::{BlockRecord, TransactionRecord};

/// Longest base58 text that can decode to [`TXN_SIZE_MAX`] bytes (Solana's `MAX_BASE58_SIZE`).
pub(super) const BASE58_TXN_CHARS_MAX: usize = 1683;
/// Longest base64 text of [`TXN_SIZE_MAX`] bytes (Solana's `MAX_BASE64_SIZE`).
pub(super) const BASE64_TXN_CHARS_MAX: usize = 1644;

/// Decodes a transaction (or message) sent as text, bounding both the text and the bytes.
pub(super) fn decode_wire(
    text: &str,
    encoding: TransactionEncoding,
    index: usize,
    name: &str,
) -> Result<Vec<u8>, RpcError> {
    let bytes = match encoding {
        TransactionEncoding::Base58 | TransactionEncoding::Binary => {
            if text.len() > BASE58_TXN_CHARS_MAX {
                return Err(bad_param(index, name, &format!(
                    "base58 encoded {name} too large: {} bytes (max: encoded/raw {BASE58_TXN_CHARS_MAX}/{TXN_SIZE_MAX})",
                    text.len()
                )));
            }
            bs58::decode(text)
                .into_vec()
                .map_err(|e| bad_param(index, name, &format!("invalid base58 encoding: {e}")))?
        }
        TransactionEncoding::Base64 => {
            if text.len() > BASE64_TXN_CHARS_MAX {
                return Err(bad_param(index, name, &format!(
                    "base64 encoded {name} too large: {} bytes (max: encoded/raw {BASE64_TXN_CHARS_MAX}/{TXN_SIZE_MAX})",
                    text.len()
                )));
            }
            BASE64
                .decode(text)
                .map_err(|e| bad_param(index, name, &format!("invalid base64 encoding: {e}")))?
        }
        TransactionEncoding::Json | TransactionEncoding::JsonParsed => {
            return Err(bad_param(
                index,
                name,
                &format!(
                    "unsupported encoding: {}. Supported encodings: base58, base64",
                    encoding.name()
                ),
            ))
        }
    };
    if bytes.len() > TXN_SIZE_MAX {
        return Err(bad_param(
            index,
            name,
            &format!(
                "decoded {name} too large: {} bytes (max: {TXN_SIZE_MAX} bytes)",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// Smallest encoded instruction: program index, empty account list, empty data.
const INSTRUCTION_LEN_MIN: usize = 3;

/// One compiled instruction, borrowed from the wire bytes.
#[derive(Debug)]
struct Instruction<'a> {
    program_id_index: u8,
    accounts: &'a [u8],
    data: &'a [u8],
}

/// A legacy or v0 (without address table lookups) transaction's fields, borrowed from its wire
/// bytes.
#[derive(Debug)]
pub(super) struct WireTxn<'a> {
    signatures: &'a [u8],
    version: MessageVersion,
    header: [u8; 3],
    keys: &'a [u8],
    recent_blockhash: &'a [u8],
    instructions: Vec<Instruction<'a>>,
}

/// A message's version from its first byte (consumed if it is a version prefix); a version other
/// than 0 is an error.
fn read_version(r: &mut ByteReader<'_>) -> Result<MessageVersion, String> {
    let first = r.peek_u8().ok_or("message is empty")?;
    if first & 0x80 == 0 {
        return Ok(MessageVersion::Legacy);
    }
    r.u8("message version")?;
    match first & 0x7f {
        0 => Ok(MessageVersion::V0),
        version => Err(format!("message version {version} is not supported")),
    }
}

/// The message version of a stored transaction, read from the byte after its signatures.
fn stored_version(wire: &[u8]) -> Result<MessageVersion, String> {
    let mut r = ByteReader::new(wire);
    let num_signatures = usize::from(r.compact_u16("signature count")?);
    r.take("signatures", num_signatures * Signature::LEN)?;
    read_version(&mut r)
}

impl<'a> WireTxn<'a> {
    /// Splits `wire` into its fields; every length is checked against the bytes left.
    pub fn decode(wire: &'a [u8]) -> Result<WireTxn<'a>, String> {
        if wire.len() > TXN_SIZE_MAX {
            return Err(format!("{} bytes exceeds {TXN_SIZE_MAX}", wire.len()));
        }
        let mut r = ByteReader::new(wire);
        let num_signatures = usize::from(r.compact_u16("signature count")?);
        let signatures = r.take("signatures", num_signatures * Signature::LEN)?;
        let version = read_version(&mut r)?;
        let header = r.array("message header")?;
        let num_keys = usize::from(r.compact_u16("account key count")?);
        let keys = r.take("account keys", num_keys * Pubkey::LEN)?;
        let recent_blockhash = r.take("recent blockhash", 32)?;
        let num_instructions = r.count(
            "instruction count",
            Prefix::CompactU16,
            INSTRUCTIONS_MAX,
            INSTRUCTION_LEN_MIN,
        )?;
        let mut instructions = Vec::with_capacity(num_instructions);
        for _ in 0..num_instructions {
            let program_id_index = r.u8("program index")?;
            let n = r.compact_u16("instruction account count")?;
            let accounts = r.take("instruction accounts", usize::from(n))?;
            let d = r.compact_u16("instruction data length")?;
            let data = r.take("instruction data", usize::from(d))?;
            instructions.push(Instruction {
                program_id_index,
                accounts,
                data,
            });
        }
        // The ledger holds no lookups (the parser refuses them), so none are rendered.
        if version == MessageVersion::V0 && r.compact_u16("address table lookup count")? != 0 {
            return Err("address table lookups are not supported".to_owned());
        }
        r.finish("transaction")?;
        Ok(WireTxn {
            signatures,
            version,
            header,
            keys,
            recent_blockhash,
            instructions,
        })
    }

    /// The first signature (the transaction id), base58; empty if unsigned.
    pub fn first_signature(&self) -> String {
        self.signatures
            .get(..Signature::LEN)
            .map(base58)
            .unwrap_or_default()
    }

    fn signature_strings(&self) -> Vec<Value> {
        self.signatures
            .chunks_exact(Signature::LEN)
            .map(|s| Value::String(base58(s)))
            .collect()
    }

    fn num_keys(&self) -> usize {
        self.keys.len() / Pubkey::LEN
    }

    /// Key `i` in base58, or `None` past the key list (a malformed stored instruction).
    fn key(&self, i: usize) -> Option<String> {
        let start = i.checked_mul(Pubkey::LEN)?;
        let k = self.keys.get(start..start + Pubkey::LEN)?;
        Some(base58(k))
    }

    fn is_signer(&self, i: usize) -> bool {
        i < usize::from(self.header[0])
    }

    fn is_writable(&self, i: usize) -> bool {
        let (signed, ro_signed, ro_unsigned) = (
            usize::from(self.header[0]),
            usize::from(self.header[1]),
            usize::from(self.header[2]),
        );
        if i < signed {
            i < signed.saturating_sub(ro_signed)
        } else {
            i < self.num_keys().saturating_sub(ro_unsigned)
        }
    }

    fn parsed_account_keys(&self) -> Vec<Value> {
        (0..self.num_keys())
            .map(|i| {
                json!({
                    "pubkey": self.key(i),
                    "writable": self.is_writable(i),
                    "signer": self.is_signer(i),
                    "source": "transaction",
                })
            })
            .collect()
    }

    fn raw_message(&self) -> Value {
        let instructions: Vec<Value> = self
            .instructions
            .iter()
            .map(|ix| {
                json!({
                    "programIdIndex": ix.program_id_index,
                    "accounts": ix.accounts,
                    "data": bs58::encode(ix.data).into_string(),
                    "stackHeight": null,
                })
            })
            .collect();
        let mut message = json!({
            "header": {
                "numRequiredSignatures": self.header[0],
                "numReadonlySignedAccounts": self.header[1],
                "numReadonlyUnsignedAccounts": self.header[2],
            },
            "accountKeys": (0..self.num_keys()).map(|i| self.key(i)).collect::<Vec<_>>(),
            "recentBlockhash": base58(self.recent_blockhash),
            "instructions": instructions,
        });
        self.add_lookups(&mut message);
        message
    }

    /// Solana shows a v0 message's (here always empty) `addressTableLookups`, a legacy one none.
    fn add_lookups(&self, message: &mut Value) {
        if self.version == MessageVersion::V0 {
            message["addressTableLookups"] = json!([]);
        }
    }

    fn parsed_message(&self) -> Value {
        let instructions: Vec<Value> = self
            .instructions
            .iter()
            .map(|ix| self.parsed_instruction(ix))
            .collect();
        let mut message = json!({
            "accountKeys": self.parsed_account_keys(),
            "recentBlockhash": base58(self.recent_blockhash),
            "instructions": instructions,
        });
        self.add_lookups(&mut message);
        message
    }

    /// A System Program transfer as `{program, programId, parsed: {type, info}}`; anything else
    /// partially decoded (`{programId, accounts, data}`), as Solana does for unknown programs.
    fn parsed_instruction(&self, ix: &Instruction<'_>) -> Value {
        let program_id = self.key(usize::from(ix.program_id_index));
        let is_system = program_id.as_deref() == Some("11111111111111111111111111111111");
        if is_system && ix.data.len() == 12 && ix.data[..4] == 2u32.to_le_bytes() {
            if let [from, to] = ix.accounts {
                let mut lamports = [0u8; 8];
                lamports.copy_from_slice(&ix.data[4..12]);
                return json!({
                    "program": "system",
                    "programId": program_id,
                    "parsed": {
                        "type": "transfer",
                        "info": {
                            "source": self.key(usize::from(*from)),
                            "destination": self.key(usize::from(*to)),
                            "lamports": u64::from_le_bytes(lamports),
                        },
                    },
                    "stackHeight": null,
                });
            }
        }
        json!({
            "programId": program_id,
            "accounts": ix.accounts.iter().map(|&a| self.key(usize::from(a))).collect::<Vec<_>>(),
            "data": bs58::encode(ix.data).into_string(),
            "stackHeight": null,
        })
    }
}

/// `{"Ok": null}` or `{"Err": err}`: Solana's deprecated but still read `status` field.
pub(super) fn status_json(err: &Option<Value>) -> Value {
    match err {
        None => json!({ "Ok": null }),
        Some(e) => json!({ "Err": e }),
    }
}

/// Solana's `UiTransactionStatusMeta` for a transaction that ran no programs besides the System
/// Program: no logs, inner instructions, token balances, rewards or loaded addresses.
fn meta_json(rec: &TransactionRecord, encoding: TransactionEncoding) -> Value {
    let mut meta = json!({
        "err": rec.err,
        "status": status_json(&rec.err),
        "fee": rec.fee,
        "preBalances": rec.pre_balances,
        "postBalances": rec.post_balances,
        "innerInstructions": [],
        "logMessages": [],
        "preTokenBalances": [],
        "postTokenBalances": [],
        "rewards": [],
        "computeUnitsConsumed": 0,
    });
    // Solana leaves loaded addresses out of parsed meta (the accounts list already says it).
    if encoding != TransactionEncoding::JsonParsed {
        meta["loadedAddresses"] = json!({ "writable": [], "readonly": [] });
    }
    meta
}

fn undecodable(rec: &TransactionRecord, reason: &str) -> RpcError {
    RpcError::internal(format!(
        "stored transaction in slot {} cannot be decoded: {reason}",
        rec.slot
    ))
}

/// Solana's `version` field of a stored transaction for a client whose
/// `maxSupportedTransactionVersion` is `max_supported`: absent without one, `"legacy"` or the version
/// number with one; a versioned transaction above it, or with none given, is refused with -32015.
fn version_field(
    rec: &TransactionRecord,
    max_supported: Option<u8>,
) -> Result<Option<Value>, RpcError> {
    let version = stored_version(&rec.wire).map_err(|e| undecodable(rec, &e))?;
    match (version, max_supported) {
        (MessageVersion::Legacy, None) => Ok(None),
        (MessageVersion::Legacy, Some(_)) => Ok(Some(json!("legacy"))),
        (MessageVersion::V0, Some(_)) => Ok(Some(json!(0))),
        (MessageVersion::V0, None) => Err(RpcError::unsupported_transaction_version(0)),
    }
}

/// `{transaction, meta, version?}` for one stored transaction (see [`version_field`]).
pub(super) fn transaction_with_meta(
    rec: &TransactionRecord,
    encoding: TransactionEncoding,
    max_supported_version: Option<u8>,
) -> Result<Map<String, Value>, RpcError> {
    let version = version_field(rec, max_supported_version)?;
    let transaction = match encoding {
        TransactionEncoding::Binary => Value::String(bs58::encode(&rec.wire).into_string()),
        TransactionEncoding::Base58 => json!([bs58::encode(&rec.wire).into_string(), "base58"]),
        TransactionEncoding::Base64 => json!([BASE64.encode(&rec.wire), "base64"]),
        TransactionEncoding::Json | TransactionEncoding::JsonParsed => {
            let txn = WireTxn::decode(&rec.wire).map_err(|e| undecodable(rec, &e))?;
            let message = if encoding == TransactionEncoding::Json {
                txn.raw_message()
            } else {
                txn.parsed_message()
            };
            json!({ "signatures": txn.signature_strings(), "message": message })
        }
    };
    let mut out = Map::new();
    out.insert("transaction".into(), transaction);
    out.insert("meta".into(), meta_json(rec, encoding));
    if let Some(version) = version {
        out.insert("version".into(), version);
    }
    Ok(out)
}

/// `getBlock`'s `transactionDetails: "accounts"` form: signatures and account roles, short meta.
pub(super) fn transaction_accounts(
    rec: &TransactionRecord,
    max_supported_version: Option<u8>,
    show_rewards: bool,
) -> Result<Value, RpcError> {
    let version = version_field(rec, max_supported_version)?;
    let txn = WireTxn::decode(&rec.wire).map_err(|e| undecodable(rec, &e))?;
    let mut meta = json!({
        "err": rec.err,
        "status": status_json(&rec.err),
        "fee": rec.fee,
        "preBalances": rec.pre_balances,
        "postBalances": rec.post_balances,
        "preTokenBalances": [],
        "postTokenBalances": [],
    });
    if show_rewards {
        meta["rewards"] = json!([]);
    }
    let mut out = json!({
        "transaction": {
            "signatures": txn.signature_strings(),
            "accountKeys": txn.parsed_account_keys(),
        },
        "meta": meta,
    });
    if let Some(version) = version {
        out["version"] = version;
    }
    Ok(out)
}

/// The first signature of a stored transaction, base58.
pub(super) fn first_signature(rec: &TransactionRecord) -> Result<String, RpcError> {
    Ok(WireTxn::decode(&rec.wire)
        .map_err(|e| undecodable(rec, &e))?
        .first_signature())
}

/// How a block is rendered (`getBlock`'s and `blockSubscribe`'s options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BlockOptions {
    /// How each transaction is encoded.
    pub encoding: TransactionEncoding,
    /// How much of each transaction is shown.
    pub details: TransactionDetails,
    /// Whether the (always empty) `rewards` fields are present.
    pub show_rewards: bool,
    /// The newest transaction version the client understands.
    pub max_supported_version: Option<u8>,
}

/// Solana's `UiConfirmedBlock` for a stored block.
pub(super) fn block_json(
    block: &BlockRecord,
    options: &BlockOptions,
) -> Result<Map<String, Value>, RpcError> {
    let max_version = options.max_supported_version;
    let mut out = Map::new();
    out.insert("blockhash".into(), json!(block.blockhash.to_string()));
    out.insert(
        "previousBlockhash".into(),
        json!(block.previous_blockhash.to_string()),
    );
    out.insert("parentSlot".into(), json!(block.parent_slot.0));
    out.insert("blockHeight".into(), json!(block.block_height));
    out.insert("blockTime".into(), json!(block.block_time));
    match options.details {
        TransactionDetails::Full => {
            let txs = block
                .transactions
                .iter()
                .map(|t| transaction_with_meta(t, options.encoding, max_version).map(Value::Object))
                .collect::<Result<Vec<_>, _>>()?;
            out.insert("transactions".into(), Value::Array(txs));
        }
        TransactionDetails::Accounts => {
            let txs = block
                .transactions
                .iter()
                .map(|t| transaction_accounts(t, max_version, options.show_rewards))
                .collect::<Result<Vec<_>, _>>()?;
            out.insert("transactions".into(), Value::Array(txs));
        }
        TransactionDetails::Signatures => {
            let sigs = block
                .transactions
                .iter()
                .map(first_signature)
                .collect::<Result<Vec<_>, _>>()?;
            out.insert("signatures".into(), json!(sigs));
        }
        TransactionDetails::None => {}
    }
    if options.show_rewards {
        // No inflation and fees go straight to the leader's balance: there are no reward records.
        out.insert("rewards".into(), json!([]));
    }
    Ok(out)
}

/// Whether a stored transaction names `key` among its account keys (as account or program).
pub(super) fn mentions(rec: &TransactionRecord, key: &Pubkey) -> bool {
    WireTxn::decode(&rec.wire)
        .map(|t| t.keys.chunks_exact(Pubkey::LEN).any(|k| k == key.0))
        .unwrap_or(false)
}

/// Base64 of raw bytes (entries' transactions).
pub(super) fn base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::txn::{build_transfer, build_transfer_v0};
    use dataplane::types::Hash;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    #[test]
    fn decodes_a_transfer_and_rejects_every_truncation() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let wire = build_transfer(&key, &Pubkey([2; 32]), 77, &Hash([3; 32]));
        let txn = WireTxn::decode(&wire).unwrap();
        assert_eq!(txn.header, [1, 0, 1]);
        assert_eq!(txn.num_keys(), 3);
        assert_eq!(txn.instructions.len(), 1);
        assert_eq!(txn.instructions[0].accounts, &[0, 1]);
        assert!(txn.is_writable(0) && txn.is_writable(1) && !txn.is_writable(2));
        for n in 0..wire.len() {
            assert!(WireTxn::decode(&wire[..n]).is_err(), "prefix {n} decoded");
        }
        let mut long = wire.clone();
        long.push(0);
        assert!(WireTxn::decode(&long).unwrap_err().contains("trailing"));
    }

    #[test]
    fn a_non_canonical_length_is_refused_here_as_by_the_transaction_parser() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let wire = build_transfer(&key, &Pubkey([2; 32]), 77, &Hash([3; 32]));
        // The signature count 1 written in two bytes (0x81 0x00): an alias Solana refuses, and
        // which this decoder used to take.
        let mut aliased = vec![0x81, 0x00];
        aliased.extend_from_slice(&wire[1..]);
        let e = WireTxn::decode(&aliased).unwrap_err();
        assert!(
            e.contains("signature count") && e.contains("canonical"),
            "{e}"
        );
        assert!(dataplane::txn::Txn::parse(&aliased).is_err());
        // An aliased instruction data length deep in the message, too (both read through the one
        // `ByteReader`, so they cannot disagree on a length).
        let data_len_at = wire.len() - 13;
        assert_eq!(wire[data_len_at], 12);
        let mut aliased = wire[..data_len_at].to_vec();
        aliased.extend_from_slice(&[0x8c, 0x00]);
        aliased.extend_from_slice(&wire[data_len_at + 1..]);
        let e = WireTxn::decode(&aliased).unwrap_err();
        assert!(
            e.contains("instruction data length") && e.contains("canonical"),
            "{e}"
        );
        assert!(dataplane::txn::Txn::parse(&aliased).is_err());
    }

    fn record(wire: Vec<u8>) -> TransactionRecord {
        TransactionRecord {
            slot: dataplane::types::Slot(1),
            block_time: None,
            wire,
            fee: 5_000,
            err: None,
            pre_balances: vec![],
            post_balances: vec![],
        }
    }

    #[test]
    fn decodes_a_v0_transfer_and_rejects_lookups_and_other_versions() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let wire = build_transfer_v0(&key, &Pubkey([2; 32]), 77, &Hash([3; 32]));
        let txn = WireTxn::decode(&wire).unwrap();
        assert_eq!(txn.version, MessageVersion::V0);
        assert_eq!((txn.header, txn.num_keys()), ([1, 0, 1], 3));
        assert_eq!(txn.raw_message()["addressTableLookups"], json!([]));
        assert_eq!(txn.parsed_message()["addressTableLookups"], json!([]));
        assert_eq!(
            txn.raw_message()["instructions"],
            WireTxn::decode(&build_transfer(&key, &Pubkey([2; 32]), 77, &Hash([3; 32])))
                .unwrap()
                .raw_message()["instructions"]
        );
        for n in 0..wire.len() {
            assert!(WireTxn::decode(&wire[..n]).is_err(), "prefix {n} decoded");
        }
        let mut lookups = wire.clone();
        *lookups.last_mut().unwrap() = 1;
        assert!(WireTxn::decode(&lookups)
            .unwrap_err()
            .contains("address table lookups"));
        let mut v1 = wire.clone();
        v1[65] = 0x81;
        assert_eq!(
            WireTxn::decode(&v1).unwrap_err(),
            "message version 1 is not supported"
        );
        // A legacy message shows no lookups.
        let legacy = build_transfer(&key, &Pubkey([2; 32]), 77, &Hash([3; 32]));
        let legacy = WireTxn::decode(&legacy).unwrap();
        assert_eq!(legacy.version, MessageVersion::Legacy);
        assert!(legacy.raw_message().get("addressTableLookups").is_none());
        assert!(legacy.parsed_message().get("addressTableLookups").is_none());
    }

    #[test]
    fn version_is_shown_only_when_asked_and_v0_only_to_who_asks() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let legacy = record(build_transfer(&key, &Pubkey([2; 32]), 1, &Hash([3; 32])));
        let v0 = record(build_transfer_v0(&key, &Pubkey([2; 32]), 1, &Hash([3; 32])));
        assert_eq!(version_field(&legacy, None), Ok(None));
        assert_eq!(version_field(&legacy, Some(0)), Ok(Some(json!("legacy"))));
        assert_eq!(version_field(&v0, Some(0)), Ok(Some(json!(0))));
        assert_eq!(version_field(&v0, Some(5)), Ok(Some(json!(0))));
        let e = version_field(&v0, None).unwrap_err();
        assert_eq!(e.code, super::super::error::UNSUPPORTED_TRANSACTION_VERSION);
        assert!(e
            .message
            .starts_with("Transaction version (0) is not supported"));
        assert!(e.message.ends_with("\"maxSupportedTransactionVersion\": 0"));
        // Every encoding and detail level checks it, binary ones too.
        for encoding in [
            TransactionEncoding::Base64,
            TransactionEncoding::Base58,
            TransactionEncoding::Json,
            TransactionEncoding::JsonParsed,
        ] {
            assert_eq!(transaction_with_meta(&v0, encoding, None), Err(e.clone()));
            let shown = transaction_with_meta(&v0, encoding, Some(0)).unwrap();
            assert_eq!(shown["version"], json!(0));
        }
        assert_eq!(transaction_accounts(&v0, None, false), Err(e.clone()));
        assert_eq!(
            transaction_accounts(&v0, Some(0), false).unwrap()["version"],
            0
        );
        // A signature list needs no version.
        assert_eq!(first_signature(&v0), Ok(v0_signature(&v0.wire)));
    }

    fn v0_signature(wire: &[u8]) -> String {
        bs58::encode(&wire[1..65]).into_string()
    }

    #[test]
    fn decode_wire_bounds_text_and_bytes() {
        let too_long = "1".repeat(BASE58_TXN_CHARS_MAX + 1);
        let e = decode_wire(&too_long, TransactionEncoding::Base58, 0, "transaction").unwrap_err();
        assert!(e.message.contains("too large"), "{}", e.message);
        // 1644 base64 characters decode to 1233 bytes: within the text bound, over the byte bound.
        let text = BASE64.encode(vec![7u8; TXN_SIZE_MAX + 1]);
        assert_eq!(text.len(), BASE64_TXN_CHARS_MAX);
        let e = decode_wire(&text, TransactionEncoding::Base64, 0, "transaction").unwrap_err();
        assert!(
            e.message.contains("decoded transaction too large: 1233"),
            "{}",
            e.message
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics_and_renders_when_it_decodes(
            bytes in proptest::collection::vec(any::<u8>(), 0..1300)
        ) {
            if let Ok(txn) = WireTxn::decode(&bytes) {
                let _ = txn.raw_message();
                let _ = txn.parsed_message();
                let _ = txn.first_signature();
            }
        }

        #[test]
        fn mutated_transfers_render_or_fail_cleanly(
            idx in 0usize..200,
            byte in any::<u8>(),
            v0 in any::<bool>(),
        ) {
            let key = SigningKey::from_bytes(&[4; 32]);
            let build = if v0 { build_transfer_v0 } else { build_transfer };
            let mut wire = build(&key, &Pubkey([2; 32]), 9, &Hash([3; 32]));
            let i = idx % wire.len();
            wire[i] = byte;
            let rec = record(wire);
            for encoding in [TransactionEncoding::Json, TransactionEncoding::JsonParsed] {
                match transaction_with_meta(&rec, encoding, Some(0)) {
                    Ok(v) => prop_assert!(v["transaction"]["message"]["instructions"].is_array()),
                    Err(e) => prop_assert!(e.message.contains("slot 1"), "{}", e.message),
                }
            }
            let _ = transaction_accounts(&rec, Some(0), true);
        }
    }
}
