//! One function per JSON-RPC method: parse the params, ask the [`Chain`], render Solana's shape.

use dataplane::types::{Hash, Pubkey, Signature, Slot};
use serde_json::{json, Value};

use super::encoding::{self, decode_wire};
use super::error::RpcError;
use super::params::{
    at_least_confirmed, bad_param, empty_account_data, encoding_or_config, AccountInfoConfig,
    AirdropConfig, BlockConfig, ContextConfig, Params, SendConfig, SignatureStatusConfig,
    TransactionConfig, TransactionEncoding,
};
use super::{blocks, cluster, simulate};
use super::{
    Chain, Commitment, Method, FEE_LAMPORTS_PER_SIGNATURE, MULTIPLE_ACCOUNTS_MAX,
    PERF_SAMPLES_LIMIT, PRIORITIZATION_FEE_ACCOUNTS_MAX, SIGNATURES_FOR_ADDRESS_MAX,
    SIGNATURE_STATUSES_MAX, SOLANA_CORE_VERSION,
};

/// Feature-set id reported by `getVersion`: identifies our ledger rules. Bump it when they change.
const FEATURE_SET_ID: u32 = 0x0b1a_cb00;

/// Runs `method` with `params` against `chain`.
pub(super) fn call(
    chain: &dyn Chain,
    method: Method,
    params: &Params<'_>,
) -> Result<Value, RpcError> {
    match method {
        Method::GetAccountInfo => get_account_info(chain, params),
        Method::GetBalance => get_balance(chain, params),
        Method::GetBlock => get_block(chain, params),
        Method::GetBlockEntries => get_block_entries(chain, params),
        Method::GetBlockHeader => get_block_header(chain, params),
        Method::GetClusterNodes => cluster::get_cluster_nodes(chain, params),
        Method::GetEpochSchedule => cluster::get_epoch_schedule(chain, params),
        Method::GetLeaderSchedule => cluster::get_leader_schedule(chain, params),
        Method::GetSlashingEvidence => cluster::get_slashing_evidence(chain, params),
        Method::GetSlotLeader => cluster::get_slot_leader(chain, params),
        Method::GetSlotLeaders => cluster::get_slot_leaders(chain, params),
        Method::GetVoteAccounts => cluster::get_vote_accounts(chain, params),
        Method::GetBlockCommitment => cluster::get_block_commitment(chain, params),
        Method::GetTower => cluster::get_tower(chain, params),
        Method::GetBlockHeight => {
            let (c, min) = context_params(params, 0)?;
            context_slot(chain.slot(c), min)?;
            Ok(json!(chain.block_height(c)))
        }
        Method::GetEpochInfo => {
            let (c, min) = context_params(params, 0)?;
            let info = chain.epoch_info(c);
            context_slot(info.absolute_slot, min)?;
            Ok(json!({
                "absoluteSlot": info.absolute_slot.0,
                "blockHeight": info.block_height,
                "epoch": info.epoch,
                "slotIndex": info.slot_index,
                "slotsInEpoch": info.slots_in_epoch,
                "transactionCount": info.transaction_count,
            }))
        }
        Method::GetBlockTime => {
            params.at_most(1)?;
            let slot: u64 = params.required(0, "slot")?;
            Ok(json!(chain.block_header(Slot(slot))?.block_time))
        }
        Method::GetBlocks => blocks::get_blocks(chain, params),
        Method::GetBlocksWithLimit => blocks::get_blocks_with_limit(chain, params),
        Method::GetFeeForMessage => get_fee_for_message(chain, params),
        // The oldest block kept: genesis, or the first above a pruned range.
        Method::GetFirstAvailableBlock | Method::MinimumLedgerSlot => {
            params.at_most(0)?;
            Ok(json!(chain.first_available_block().0))
        }
        Method::GetMaxRetransmitSlot => {
            params.at_most(0)?;
            Ok(json!(chain.max_shred_slots().0 .0))
        }
        Method::GetMaxShredInsertSlot => {
            params.at_most(0)?;
            Ok(json!(chain.max_shred_slots().1 .0))
        }
        Method::GetHighestSnapshotSlot => {
            params.at_most(0)?;
            // Nodes catch up by replaying blocks; none takes snapshots.
            Err(RpcError::no_snapshot())
        }
        Method::GetMultipleAccounts => get_multiple_accounts(chain, params),
        Method::GetLargestAccounts => get_largest_accounts(chain, params),
        Method::GetBlockProduction => blocks::get_block_production(chain, params),
        Method::GetSupply => {
            let (c, min) = context_params(params, 0)?;
            let (slot, total) = chain.supply(c);
            context_slot(slot, min)?;
            // No account is non-circulating: no stake is locked and nothing is vested.
            Ok(with_context(
                slot,
                json!({
                    "total": total,
                    "circulating": total,
                    "nonCirculating": 0,
                    "nonCirculatingAccounts": [],
                }),
            ))
        }
        Method::GetGenesisHash => {
            params.at_most(0)?;
            Ok(json!(chain.genesis_hash().to_string()))
        }
        Method::GetHealth => {
            params.at_most(0)?;
            chain
                .health()
                .map_err(|reason| RpcError::node_unhealthy(&reason))?;
            Ok(json!("ok"))
        }
        Method::GetIdentity => {
            params.at_most(0)?;
            Ok(json!({ "identity": chain.identity().to_string() }))
        }
        Method::GetLatestBlockhash => {
            let (c, min) = context_params(params, 0)?;
            let (slot, blockhash, last_valid_block_height) = chain.latest_blockhash(c);
            context_slot(slot, min)?;
            Ok(with_context(
                slot,
                json!({
                    "blockhash": blockhash.to_string(),
                    "lastValidBlockHeight": last_valid_block_height,
                }),
            ))
        }
        Method::GetMinimumBalanceForRentExemption => {
            params.at_most(2)?;
            let _data_len: u64 = params.required(0, "dataLength")?;
            let _config: ContextConfig = params.config(1)?;
            // There is no rent: an account of any size is exempt at any balance.
            Ok(json!(0))
        }
        Method::GetRecentPerformanceSamples => {
            params.at_most(1)?;
            let limit: usize = params.optional(0, "limit")?.unwrap_or(PERF_SAMPLES_LIMIT);
            if limit > PERF_SAMPLES_LIMIT {
                return Err(RpcError::invalid_params(format!(
                    "Invalid limit; max {PERF_SAMPLES_LIMIT}"
                )));
            }
            let samples: Vec<Value> = chain
                .recent_performance_samples(limit)
                .iter()
                .map(|s| {
                    json!({
                        "slot": s.slot.0,
                        "numTransactions": s.num_transactions,
                        "numNonVoteTransactions": s.num_non_vote_transactions,
                        "numSlots": s.num_slots,
                        "samplePeriodSecs": s.sample_period_secs,
                    })
                })
                .collect();
            Ok(Value::Array(samples))
        }
        Method::GetRecentPrioritizationFees => get_recent_prioritization_fees(chain, params),
        Method::GetSignatureStatuses => get_signature_statuses(chain, params),
        Method::GetSignaturesForAddress => get_signatures_for_address(chain, params),
        Method::GetSlot => {
            let (c, min) = context_params(params, 0)?;
            Ok(json!(context_slot(chain.slot(c), min)?.0))
        }
        Method::GetTransaction => get_transaction(chain, params),
        Method::GetTransactionCount => {
            let (c, min) = context_params(params, 0)?;
            context_slot(chain.slot(c), min)?;
            Ok(json!(chain.transaction_count(c)))
        }
        Method::GetVersion => {
            params.at_most(0)?;
            // Clients pick APIs by `solana-core` (older ones fall back to methods removed since,
            // such as getRecentBlockhash and getFees, for nodes below 1.9), so we report the
            // release whose API we implement rather than our own version.
            Ok(json!({
                "solana-core": SOLANA_CORE_VERSION,
                "feature-set": FEATURE_SET_ID,
                "blackbook": env!("CARGO_PKG_VERSION"),
            }))
        }
        Method::IsBlockhashValid => {
            params.at_most(2)?;
            let blockhash: Hash = params.base58(0, "blockhash")?;
            let config: ContextConfig = params.config(1)?;
            let (slot, valid) = chain.is_blockhash_valid(&blockhash, commitment(&config));
            context_slot(slot, config.min_context_slot)?;
            Ok(with_context(slot, json!(valid)))
        }
        Method::RequestAirdrop => {
            params.at_most(3)?;
            let to: Pubkey = params.base58(0, "pubkey")?;
            let lamports: u64 = params.required(1, "lamports")?;
            let _config: AirdropConfig = params.config(2)?;
            let signature = chain.request_airdrop(&to, lamports)?;
            Ok(json!(signature.to_string()))
        }
        Method::SendTransaction => send_transaction(chain, params),
        Method::SimulateTransaction => simulate::simulate_transaction(chain, params),
    }
}

/// `{context: {slot, apiVersion}, value}`.
pub(super) fn with_context(slot: Slot, value: Value) -> Value {
    json!({
        "context": { "slot": slot.0, "apiVersion": SOLANA_CORE_VERSION },
        "value": value,
    })
}

pub(super) fn commitment(config: &ContextConfig) -> Commitment {
    config.commitment.unwrap_or_default()
}

/// `[{commitment, minContextSlot}]` at `index`, as most read methods take.
fn context_params(
    params: &Params<'_>,
    index: usize,
) -> Result<(Commitment, Option<u64>), RpcError> {
    params.at_most(index + 1)?;
    let config: ContextConfig = params.config(index)?;
    Ok((commitment(&config), config.min_context_slot))
}

/// `slot`, or -32016 if the caller asked for a later one.
pub(super) fn context_slot(slot: Slot, min_context_slot: Option<u64>) -> Result<Slot, RpcError> {
    match min_context_slot {
        Some(min) if slot.0 < min => Err(RpcError::min_context_slot_not_reached(slot)),
        _ => Ok(slot),
    }
}

fn get_balance(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let key: Pubkey = params.base58(0, "pubkey")?;
    let config: ContextConfig = params.config(1)?;
    let (slot, lamports) = chain.balance(&key, commitment(&config));
    context_slot(slot, config.min_context_slot)?;
    Ok(with_context(slot, json!(lamports)))
}

/// Every account is a System Program account without data, so its balance says everything.
fn get_account_info(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let key: Pubkey = params.base58(0, "pubkey")?;
    let config: AccountInfoConfig = params.config(1)?;
    let data = empty_account_data(config.encoding.as_deref())?;
    let (slot, lamports) = chain.balance(&key, config.commitment.unwrap_or_default());
    context_slot(slot, config.min_context_slot)?;
    Ok(with_context(slot, account_json(lamports, data)))
}

/// An account in Solana's `UiAccount` shape; a missing (never funded or emptied) account is null.
pub(super) fn account_json(lamports: u64, (data, encoding): (&str, &str)) -> Value {
    if lamports == 0 {
        return Value::Null;
    }
    json!({
        "lamports": lamports,
        "owner": Pubkey::SYSTEM_PROGRAM.to_string(),
        "data": [data, encoding],
        "executable": false,
        "rentEpoch": u64::MAX,
        "space": 0,
    })
}

/// `getLargestAccounts`' config: Solana's `filter`, besides the commitment.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LargestAccountsConfig {
    commitment: Option<Commitment>,
    filter: Option<String>,
}

/// The 20 largest balances; every account circulates, so `nonCirculating` lists none.
fn get_largest_accounts(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(1)?;
    let config: LargestAccountsConfig = params.config(0)?;
    let circulating = match config.filter.as_deref() {
        None | Some("circulating") => true,
        Some("nonCirculating") => false,
        Some(other) => {
            return Err(bad_param(
                0,
                "config",
                &format!(
                    "unknown filter `{}`, expected circulating or nonCirculating",
                    super::error::excerpt(other)
                ),
            ))
        }
    };
    let (slot, accounts) = chain.largest_accounts(config.commitment.unwrap_or_default());
    let value: Vec<Value> = accounts
        .into_iter()
        .filter(|_| circulating)
        .map(|(address, lamports)| json!({ "lamports": lamports, "address": address.to_string() }))
        .collect();
    Ok(with_context(slot, Value::Array(value)))
}

/// Up to 100 accounts read from one bank, in the order asked, null where missing.
fn get_multiple_accounts(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let texts: Vec<&str> = match params.get(0) {
        // Count before parsing so an oversized list costs nothing.
        Some(Value::Array(items)) if items.len() > MULTIPLE_ACCOUNTS_MAX => {
            return Err(RpcError::invalid_params(format!(
                "Too many inputs provided; max {MULTIPLE_ACCOUNTS_MAX}"
            )));
        }
        _ => params.required(0, "pubkeys")?,
    };
    let keys = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.parse::<Pubkey>()
                .map_err(|e| bad_param(0, "pubkeys", &format!("item {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config: AccountInfoConfig = params.config(1)?;
    let data = empty_account_data(config.encoding.as_deref())?;
    let (slot, balances) = chain.balances(&keys, config.commitment.unwrap_or_default());
    context_slot(slot, config.min_context_slot)?;
    if balances.len() != keys.len() {
        return Err(RpcError::internal(format!(
            "node returned {} balances for {} keys",
            balances.len(),
            keys.len()
        )));
    }
    let accounts: Vec<Value> = balances
        .into_iter()
        .map(|lamports| account_json(lamports, data))
        .collect();
    Ok(with_context(slot, Value::Array(accounts)))
}

fn send_transaction(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let text: &str = params.required(0, "transaction")?;
    let config: SendConfig = params.config(1)?;
    let encoding = config.encoding.unwrap_or(TransactionEncoding::Base58);
    let wire = decode_wire(text, encoding, 0, "transaction")?;
    if let Some(min) = config.min_context_slot {
        context_slot(
            chain.slot(config.preflight_commitment.unwrap_or_default()),
            Some(min),
        )?;
    }
    let signature = chain.submit_transaction(wire, !config.skip_preflight)?;
    Ok(json!(signature.to_string()))
}

/// `getSignaturesForAddress`' config.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SignaturesForAddressConfig {
    limit: Option<usize>,
    before: Option<String>,
    until: Option<String>,
    commitment: Option<Commitment>,
    min_context_slot: Option<u64>,
}

/// Up to 1,000 transactions naming an address, newest first, from the ledger's address index.
fn get_signatures_for_address(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let address: Pubkey = params.base58(0, "address")?;
    let config: SignaturesForAddressConfig = params.config(1)?;
    let limit = config.limit.unwrap_or(SIGNATURES_FOR_ADDRESS_MAX);
    if limit == 0 || limit > SIGNATURES_FOR_ADDRESS_MAX {
        return Err(RpcError::invalid_params(format!(
            "Invalid limit; max {SIGNATURES_FOR_ADDRESS_MAX}"
        )));
    }
    let signature = |text: &Option<String>, name: &str| -> Result<Option<Signature>, RpcError> {
        text.as_deref()
            .map(|t| {
                t.parse::<Signature>()
                    .map_err(|e| bad_param(1, name, &e.to_string()))
            })
            .transpose()
    };
    let before = signature(&config.before, "before")?;
    let until = signature(&config.until, "until")?;
    let c = at_least_confirmed(config.commitment.unwrap_or_default())?;
    context_slot(chain.slot(c), config.min_context_slot)?;
    let found: Vec<Value> = chain
        .signatures_for_address(&address, before, until, limit, c)
        .into_iter()
        .map(|r| {
            json!({
                "signature": r.signature.to_string(),
                "slot": r.slot.0,
                "err": r.err,
                "memo": null,
                "blockTime": r.block_time,
                "confirmationStatus": r.confirmation_status.as_str(),
            })
        })
        .collect();
    Ok(Value::Array(found))
}

fn get_signature_statuses(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let texts: Vec<&str> = match params.get(0) {
        // Count before parsing so an oversized list costs nothing.
        Some(Value::Array(items)) if items.len() > SIGNATURE_STATUSES_MAX => {
            return Err(RpcError::invalid_params(format!(
                "Too many inputs provided; max {SIGNATURE_STATUSES_MAX}"
            )));
        }
        _ => params.required(0, "signatures")?,
    };
    let signatures = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.parse::<Signature>()
                .map_err(|e| bad_param(0, "signatures", &format!("item {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config: SignatureStatusConfig = params.config(1)?;
    let (slot, statuses) = chain.signature_statuses(&signatures, config.search_transaction_history);
    if statuses.len() != signatures.len() {
        return Err(RpcError::internal(format!(
            "node returned {} statuses for {} signatures",
            statuses.len(),
            signatures.len()
        )));
    }
    let value: Vec<Value> = statuses
        .into_iter()
        .map(|status| match status {
            None => Value::Null,
            Some(s) => json!({
                "slot": s.slot.0,
                // Clients treat `confirmations: null` as rooted, so finalized must say null.
                "confirmations": if s.confirmation_status == Commitment::Finalized {
                    None
                } else {
                    s.confirmations
                },
                "status": encoding::status_json(&s.err),
                "err": s.err,
                "confirmationStatus": s.confirmation_status.as_str(),
            }),
        })
        .collect();
    Ok(with_context(slot, Value::Array(value)))
}

fn get_transaction(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let signature: Signature = params.base58(0, "signature")?;
    let config: TransactionConfig =
        encoding_or_config(params, 1, |c: &mut TransactionConfig, e| {
            c.encoding = Some(e)
        })?;
    let c = at_least_confirmed(config.commitment.unwrap_or_default())?;
    let Some(record) = chain.transaction(&signature, c) else {
        return Ok(Value::Null);
    };
    let encoding = config.encoding.unwrap_or(TransactionEncoding::Json);
    let max_version = config.max_supported_transaction_version;
    let mut out = encoding::transaction_with_meta(&record, encoding, max_version)?;
    out.insert("slot".into(), json!(record.slot.0));
    out.insert("blockTime".into(), json!(record.block_time));
    Ok(Value::Object(out))
}

fn get_block(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let slot: u64 = params.required(0, "slot")?;
    let config: BlockConfig =
        encoding_or_config(params, 1, |c: &mut BlockConfig, e| c.encoding = Some(e))?;
    let c = at_least_confirmed(config.commitment.unwrap_or_default())?;
    let block = chain.block(Slot(slot), c)?;
    let options = encoding::BlockOptions {
        encoding: config.encoding.unwrap_or(TransactionEncoding::Json),
        details: config.transaction_details.unwrap_or_default(),
        show_rewards: config.rewards.unwrap_or(true),
        max_supported_version: config.max_supported_transaction_version,
    };
    Ok(Value::Object(encoding::block_json(&block, &options)?))
}

fn get_block_entries(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(1)?;
    let slot: u64 = params.required(0, "slot")?;
    let block = chain.block_entries(Slot(slot))?;
    let entries: Vec<Value> = block
        .entries
        .iter()
        .map(|e| {
            json!({
                "numHashes": e.num_hashes,
                "hash": e.hash.to_string(),
                "transactions": e.transactions.iter().map(|t| encoding::base64(t)).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "slot": block.slot.0,
        "parentSlot": block.parent_slot.0,
        "startHash": block.start_hash.to_string(),
        "ticksPerSlot": block.ticks_per_slot,
        "hashesPerTick": block.hashes_per_tick,
        "entries": entries,
    }))
}

fn get_block_header(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(1)?;
    let slot: u64 = params.required(0, "slot")?;
    let h = chain.block_header(Slot(slot))?;
    Ok(json!({
        "slot": h.slot.0,
        "parentSlot": h.parent_slot.0,
        "blockhash": h.blockhash.to_string(),
        "bankHash": h.bank_hash.to_string(),
        "leader": h.leader.to_string(),
        "blockHeight": h.block_height,
        "transactionCount": h.transaction_count,
    }))
}

/// The base fee per signature plus the priority fee of the message's Compute Budget instructions.
/// The message is parsed as the node would parse the signed transaction, so a message it would
/// refuse gets no quote but the reason.
fn get_fee_for_message(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let text: &str = params.required(0, "message")?;
    let config: ContextConfig = params.config(1)?;
    let message = decode_wire(text, TransactionEncoding::Base64, 0, "message")?;
    let layout = dataplane::txn::parse_message(&message)
        .map_err(|e| bad_param(0, "message", &e.to_string()))?;
    let slot = context_slot(chain.slot(commitment(&config)), config.min_context_slot)?;
    let fee = FEE_LAMPORTS_PER_SIGNATURE
        .saturating_mul(u64::from(layout.num_signatures))
        .saturating_add(layout.compute_budget().priority_fee());
    Ok(with_context(slot, json!(fee)))
}

/// `[{slot, prioritizationFee}]`, oldest slot first, for at most 128 optional account addresses.
fn get_recent_prioritization_fees(
    chain: &dyn Chain,
    params: &Params<'_>,
) -> Result<Value, RpcError> {
    params.at_most(1)?;
    let texts: Vec<&str> = match params.get(0) {
        // Count before parsing so an oversized list costs nothing.
        Some(Value::Array(items)) if items.len() > PRIORITIZATION_FEE_ACCOUNTS_MAX => {
            return Err(RpcError::invalid_params(format!(
                "Too many inputs provided; max {PRIORITIZATION_FEE_ACCOUNTS_MAX}"
            )));
        }
        _ => params.optional(0, "accountAddresses")?.unwrap_or_default(),
    };
    let accounts = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.parse::<Pubkey>()
                .map_err(|e| bad_param(0, "accountAddresses", &format!("item {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fees: Vec<Value> = chain
        .recent_prioritization_fees(&accounts)
        .into_iter()
        .map(|(slot, fee)| json!({ "slot": slot.0, "prioritizationFee": fee }))
        .collect();
    Ok(Value::Array(fees))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_slot_enforces_the_minimum() {
        assert_eq!(context_slot(Slot(5), None), Ok(Slot(5)));
        assert_eq!(context_slot(Slot(5), Some(5)), Ok(Slot(5)));
        let e = context_slot(Slot(5), Some(6)).unwrap_err();
        assert_eq!(e.code, super::super::error::MIN_CONTEXT_SLOT_NOT_REACHED);
        assert_eq!(e.data, Some(json!({ "contextSlot": 5 })));
    }
}
