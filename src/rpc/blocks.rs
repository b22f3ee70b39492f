//! Which slots hold blocks: `getBlocks`, `getBlocksWithLimit` and `getBlockProduction`, over the
//! chain of the commitment asked (confirmed at least).

use dataplane::types::{Pubkey, Slot};
use serde_json::{json, Value};

use super::error::RpcError;
use super::methods::{commitment, context_slot, with_context};
use super::params::{at_least_confirmed, bad_param, ContextConfig, Params};
use super::{Chain, Commitment, BLOCKS_RANGE_MAX};

/// `[start, end?, config?]`, where the second may be the config instead (Solana takes either).
/// Without an end, the blocks up to the commitment's slot.
pub(super) fn get_blocks(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(3)?;
    let start: u64 = params.required(0, "startSlot")?;
    let (end, config): (Option<u64>, ContextConfig) = match params.get(1) {
        Some(Value::Object(_)) => {
            params.at_most(2)?;
            (None, params.config(1)?)
        }
        _ => (params.optional(1, "endSlot")?, params.config(2)?),
    };
    let c = at_least_confirmed(commitment(&config))?;
    let top = context_slot(chain.slot(c), config.min_context_slot)?;
    let end = end.unwrap_or(top.0);
    if end < start {
        return Ok(json!([]));
    }
    if end - start > BLOCKS_RANGE_MAX {
        return Err(RpcError::invalid_params(format!(
            "Slot range too large; max {BLOCKS_RANGE_MAX}"
        )));
    }
    let slots = chain.blocks(Slot(start)..=Slot(end), usize::MAX, c);
    Ok(json!(slots.iter().map(|s| s.0).collect::<Vec<_>>()))
}

/// `[start, limit, config?]`: the first `limit` blocks from `start` on (skipped slots do not count).
pub(super) fn get_blocks_with_limit(
    chain: &dyn Chain,
    params: &Params<'_>,
) -> Result<Value, RpcError> {
    params.at_most(3)?;
    let start: u64 = params.required(0, "startSlot")?;
    let limit: u64 = params.required(1, "limit")?;
    let config: ContextConfig = params.config(2)?;
    if limit > BLOCKS_RANGE_MAX {
        return Err(RpcError::invalid_params(format!(
            "Limit too large; max {BLOCKS_RANGE_MAX}"
        )));
    }
    let c = at_least_confirmed(commitment(&config))?;
    let top = context_slot(chain.slot(c), config.min_context_slot)?;
    // `limit` is at most 500,000, so it fits a usize.
    let slots = chain.blocks(Slot(start)..=top, limit as usize, c);
    Ok(json!(slots.iter().map(|s| s.0).collect::<Vec<_>>()))
}

/// `getBlockProduction`'s config.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockProductionConfig {
    commitment: Option<Commitment>,
    identity: Option<String>,
    range: Option<BlockProductionRange>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockProductionRange {
    first_slot: u64,
    last_slot: Option<u64>,
}

/// Leader slots and blocks produced per leader over a range (default: this epoch so far).
pub(super) fn get_block_production(
    chain: &dyn Chain,
    params: &Params<'_>,
) -> Result<Value, RpcError> {
    params.at_most(1)?;
    let config: BlockProductionConfig = params.config(0)?;
    let c = config.commitment.unwrap_or_default();
    let current = chain.slot(c);
    let identity: Option<Pubkey> = config
        .identity
        .as_deref()
        .map(|t| {
            t.parse()
                .map_err(|e| bad_param(0, "identity", &format!("{e}")))
        })
        .transpose()?;
    let (first, last) = match &config.range {
        Some(r) => (
            r.first_slot,
            r.last_slot.unwrap_or(current.0).min(current.0),
        ),
        None => {
            let per_epoch = chain.slots_per_epoch().max(1);
            (current.0 - current.0 % per_epoch, current.0)
        }
    };
    if last < first {
        return Err(RpcError::invalid_params(format!(
            "lastSlot, {last}, cannot be less than firstSlot, {first}"
        )));
    }
    if last - first > BLOCKS_RANGE_MAX {
        return Err(RpcError::invalid_params(format!(
            "Slot range too large; max {BLOCKS_RANGE_MAX}"
        )));
    }
    // Blocks count on the confirmed chain at least (a processed block may still be abandoned).
    let blocks_at = if c == Commitment::Processed {
        Commitment::Confirmed
    } else {
        c
    };
    let produced = chain.blocks(Slot(first)..=Slot(last), usize::MAX, blocks_at);
    let mut by_identity: std::collections::BTreeMap<Pubkey, (u64, u64)> = Default::default();
    let mut produced = produced.into_iter().peekable();
    for slot in first..=last {
        let made = produced.next_if_eq(&Slot(slot)).is_some();
        let Some(leader) = chain.slot_leader(Slot(slot)) else {
            continue;
        };
        if identity.is_some_and(|id| id != leader) {
            continue;
        }
        let e = by_identity.entry(leader).or_default();
        e.0 += 1;
        e.1 += u64::from(made);
    }
    let by_identity: serde_json::Map<String, Value> = by_identity
        .into_iter()
        .map(|(k, (slots, blocks))| (k.to_string(), json!([slots, blocks])))
        .collect();
    Ok(with_context(
        current,
        json!({
            "byIdentity": by_identity,
            "range": { "firstSlot": first, "lastSlot": last },
        }),
    ))
}
