//! `simulateTransaction`: a transaction executed on a bank without committing, in Solana's
//! `RpcSimulateTransactionResult` shape.
//!
//! Logs and compute units follow Solana's builtin programs: each instruction logs `Program <id>
//! invoke [1]` then `Program <id> success` (or `Program <id> failed: <reason>`, after which nothing
//! runs) and consumes its program's fixed cost — 150 units for the System and Compute Budget
//! programs, 2,100 for the vote program. A transaction refused before it runs (unknown blockhash,
//! fee payer short of the fee, already processed) logs nothing and consumes nothing, as on Solana.

use dataplane::compute_budget::COMPUTE_BUDGET_PROGRAM_ID;
use dataplane::txn::{TxnView, ACCOUNT_KEYS_MAX};
use dataplane::types::Pubkey;
use dataplane::vote::VOTE_PROGRAM_ID;
use serde::Deserialize;
use serde_json::{json, Value};

use super::encoding::decode_wire;
use super::error::RpcError;
use super::methods::{context_slot, with_context};
use super::params::{bad_param, empty_account_data, Params, TransactionEncoding};
use super::{Chain, Commitment, SimulateOptions};

/// Compute units a System Program or Compute Budget instruction consumes (Solana's builtin cost).
const BUILTIN_INSTRUCTION_UNITS: u64 = 150;
/// Compute units a vote instruction consumes (Solana's vote program cost).
const VOTE_INSTRUCTION_UNITS: u64 = 2_100;

/// `simulateTransaction`'s config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SimulateConfig {
    sig_verify: bool,
    replace_recent_blockhash: bool,
    commitment: Option<Commitment>,
    encoding: Option<TransactionEncoding>,
    accounts: Option<AccountsConfig>,
    min_context_slot: Option<u64>,
    inner_instructions: bool,
}

/// Which accounts to return after the simulation, and how.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AccountsConfig {
    addresses: Vec<String>,
    encoding: Option<String>,
}

pub(super) fn simulate_transaction(
    chain: &dyn Chain,
    params: &Params<'_>,
) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let text: &str = params.required(0, "transaction")?;
    let config: SimulateConfig = params.config(1)?;
    if config.sig_verify && config.replace_recent_blockhash {
        return Err(RpcError::invalid_params(
            "sigVerify may not be used with replaceRecentBlockhash",
        ));
    }
    let encoding = config.encoding.unwrap_or(TransactionEncoding::Base58);
    let wire = decode_wire(text, encoding, 0, "transaction")?;
    let parsed = TxnView::new(&wire).ok();
    let (addresses, account_encoding) = match &config.accounts {
        Some(a) => {
            // Solana's bound: no more addresses than the transaction has keys.
            let max = parsed.map_or(ACCOUNT_KEYS_MAX, |v| v.num_account_keys());
            if a.addresses.len() > max {
                return Err(RpcError::invalid_params(format!(
                    "Too many accounts provided; max {max}"
                )));
            }
            let keys = a
                .addresses
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    t.parse::<Pubkey>()
                        .map_err(|e| bad_param(1, "accounts.addresses", &format!("item {i}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (keys, Some(empty_account_data(a.encoding.as_deref())?))
        }
        None => (Vec::new(), None),
    };
    let opts = SimulateOptions {
        sig_verify: config.sig_verify,
        replace_recent_blockhash: config.replace_recent_blockhash,
        commitment: config.commitment.unwrap_or_default(),
        accounts: addresses,
    };
    let sim = chain.simulate_transaction(&wire, &opts)?;
    context_slot(sim.slot, config.min_context_slot)?;
    let (logs, units) = match parsed {
        Some(v) if sim.fee > 0 => logs_and_units(&v, sim.err.as_ref()),
        _ => (Vec::new(), 0),
    };
    let accounts = account_encoding.map(|data| {
        sim.accounts
            .iter()
            .map(|&lamports| super::methods::account_json(lamports, data))
            .collect::<Vec<_>>()
    });
    let replacement = sim.replacement_blockhash.map(|(hash, last_valid)| {
        json!({ "blockhash": hash.to_string(), "lastValidBlockHeight": last_valid })
    });
    Ok(with_context(
        sim.slot,
        json!({
            "err": sim.err,
            "logs": logs,
            "accounts": accounts,
            "unitsConsumed": units,
            "loadedAccountsDataSize": 0,
            "returnData": null,
            "innerInstructions": config.inner_instructions.then(Vec::<Value>::new),
            "replacementBlockhash": replacement,
            "fee": sim.fee,
            "preBalances": sim.pre_balances,
            "postBalances": sim.post_balances,
            "preTokenBalances": [],
            "postTokenBalances": [],
            "loadedAddresses": { "writable": [], "readonly": [] },
        }),
    ))
}

/// Each instruction's logs and units up to the one that failed (`err`'s `InstructionError` index).
fn logs_and_units(view: &TxnView<'_>, err: Option<&Value>) -> (Vec<String>, u64) {
    let failed_at = err
        .and_then(|e| e.get("InstructionError"))
        .and_then(|pair| Some((pair.get(0)?.as_u64()?, pair.get(1)?.clone())));
    let mut logs = Vec::new();
    let mut units = 0u64;
    for (i, program) in (0u64..).zip(view.instruction_programs()) {
        logs.push(format!("Program {program} invoke [1]"));
        units += if program == VOTE_PROGRAM_ID {
            VOTE_INSTRUCTION_UNITS
        } else {
            debug_assert!(
                program == Pubkey::SYSTEM_PROGRAM || program == COMPUTE_BUDGET_PROGRAM_ID
            );
            BUILTIN_INSTRUCTION_UNITS
        };
        match &failed_at {
            Some((index, reason)) if *index == i => {
                logs.push(format!("Program {program} failed: {}", failure(reason)));
                break;
            }
            _ => logs.push(format!("Program {program} success")),
        }
    }
    (logs, units)
}

/// Solana's wording for an instruction error in a log line.
fn failure(reason: &Value) -> String {
    match reason.get("Custom").and_then(Value::as_u64) {
        Some(code) => format!("custom program error: {code:#x}"),
        None => reason.as_str().unwrap_or("instruction failed").to_owned(),
    }
}
