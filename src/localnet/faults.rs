//! Faults a local cluster can be put through, and what they did: kill the current leader
//! (SIGKILL), restart it later (optionally without its tower file), and read back from blocks
//! whether its votes ever broke its own lockouts, how fast votes land, and what it voted after the
//! restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use controlplane::evidence::abandoned_lockouts;
use dataplane::txn::TxnView;
use dataplane::types::{Pubkey, Slot};
use dataplane::vote::{TowerSync, VoteInstruction};
use serde_json::{json, Value};

use crate::rpc_client::RpcClient;

/// Blocks read back per summary at most (each is one RPC call).
pub const BLOCKS_READ_MAX: u64 = 2_000;

/// The fault plan from the command line.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    /// When to SIGKILL the validator leading at that moment.
    pub kill_leader_at: Option<Duration>,
    /// How long it stays down.
    pub restart_after: Duration,
    /// Delete its tower file before the restart.
    pub lose_tower: bool,
}

/// What happened to the killed validator.
#[derive(Debug, Clone, Default)]
pub struct FaultRecord {
    /// Index of the killed validator.
    pub killed: Option<usize>,
    /// The slot due when it was killed.
    pub kill_slot: u64,
    /// When it was killed.
    pub killed_at: Option<Instant>,
    /// The slot due when it was restarted.
    pub restart_slot: Option<u64>,
    /// The cluster's finalized slot when it restarted.
    pub finalized_at_restart: u64,
}

/// One vote read back from a block.
#[derive(Debug, Clone)]
struct LandedVote {
    /// The block it landed in.
    block_slot: u64,
    tower: TowerSync,
}

/// Votes of every validator found in the blocks of `from..=to` on the node's confirmed chain, and
/// the chain's slots (for ancestry: every block on it descends from the earlier ones).
fn read_votes(
    rpc: &RpcClient,
    from: u64,
    to: u64,
) -> (BTreeMap<Pubkey, Vec<LandedVote>>, Vec<u64>) {
    let mut votes: BTreeMap<Pubkey, Vec<LandedVote>> = BTreeMap::new();
    let mut chain = Vec::new();
    let to = to.min(from.saturating_add(BLOCKS_READ_MAX));
    for slot in from..=to {
        let params = json!([slot, {"commitment": "confirmed", "transactionDetails": "full",
            "encoding": "base64", "rewards": false, "maxSupportedTransactionVersion": 0}]);
        let Ok(block) = rpc.call("getBlock", params) else {
            continue;
        };
        chain.push(slot);
        let txs = block["transactions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for tx in txs {
            let Some(b64) = tx["transaction"][0].as_str() else {
                continue;
            };
            use base64::Engine as _;
            let Ok(wire) = base64::engine::general_purpose::STANDARD.decode(b64) else {
                continue;
            };
            let Ok(view) = TxnView::new(&wire) else {
                continue;
            };
            if tx["meta"]["err"] != Value::Null {
                // A failed vote did not change the vote state.
                continue;
            }
            if let Some(ix) = view.vote_instruction() {
                let tower = match ix {
                    VoteInstruction::TowerSync(t) | VoteInstruction::TowerSyncSwitch(t, _) => t,
                };
                votes.entry(view.fee_payer()).or_default().push(LandedVote {
                    block_slot: slot,
                    tower,
                });
            }
        }
    }
    (votes, chain)
}

/// The summary's view of votes: how fast they land, and — for the killed validator — whether any
/// of its votes broke its lockouts and what it voted after the restart.
pub fn vote_summary(
    rpc: &RpcClient,
    from: u64,
    to: u64,
    record: &FaultRecord,
    identities: &[Pubkey],
) -> Value {
    let (votes, chain) = read_votes(rpc, from, to);
    let on_chain = |s: Slot| chain.binary_search(&s.0).is_ok();
    let mut landed = 0u64;
    let mut within_two = 0u64;
    for list in votes.values() {
        for v in list {
            if let Some(last) = v.tower.last_voted_slot() {
                landed += 1;
                if v.block_slot.saturating_sub(last.0) <= 2 {
                    within_two += 1;
                }
            }
        }
    }
    let mut out = json!({
        "votes_landed": landed,
        "votes_landed_within_2_slots_pct": if landed == 0 { 0.0 } else { within_two as f64 * 100.0 / landed as f64 },
    });
    if let Some(k) = record.killed {
        let me = identities.get(k).copied().unwrap_or_default();
        let mine = votes.get(&me).cloned().unwrap_or_default();
        // Consecutive landed votes: a slot the older still locked at the newer's slot, dropped by
        // the newer, must be an ancestor of it — on this one chain, any chain slot below it is.
        let mut violations = 0u64;
        for pair in mine.windows(2) {
            let (older, newer) = (&pair[0].tower, &pair[1].tower);
            let newest = newer.last_voted_slot().unwrap_or_default();
            violations += abandoned_lockouts(older, newer)
                .filter(|x| !(on_chain(*x) && *x <= newest))
                .count() as u64;
        }
        let restart = record.restart_slot.unwrap_or(u64::MAX);
        let after: Vec<&LandedVote> = mine.iter().filter(|v| v.block_slot > restart).collect();
        out["killed"] = json!({
            "validator": k,
            "kill_slot": record.kill_slot,
            "restart_slot": record.restart_slot,
            "finalized_at_restart": record.finalized_at_restart,
            "votes_read_back": mine.len(),
            "lockout_violations": violations,
            "voted_after_restart": !after.is_empty(),
            "first_vote_after_restart": after.first().and_then(|v| v.tower.last_voted_slot()).map(|s| s.0),
            "first_root_after_restart": after.first().and_then(|v| v.tower.root).map(|s| s.0),
        });
    }
    out
}
