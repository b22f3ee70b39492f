//! The cluster's methods: who validates (`getVoteAccounts`, `getClusterNodes`), how firmly a block
//! is voted (`getBlockCommitment`), who leads (`getEpochSchedule`, `getLeaderSchedule`,
//! `getSlotLeader`, `getSlotLeaders`) and who misbehaved (`getSlashingEvidence`, ours), in
//! Solana's shapes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use dataplane::types::{Pubkey, Slot};
use dataplane::vote::MAX_LOCKOUT_HISTORY;
use dataplane::vote_state::VoteState;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::RpcError;
use super::params::{bad_param, Params};
use super::{encoding, Chain, Commitment};

/// Vote accounts whose last vote is this many slots behind are delinquent (Solana's default).
pub const DELINQUENT_SLOT_DISTANCE: u64 = 128;
/// Most leaders one `getSlotLeaders` call returns (Solana's limit).
pub const SLOT_LEADERS_MAX: u64 = 5_000;

/// A vote account as `getVoteAccounts` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteAccountInfo {
    /// The vote account.
    pub vote_pubkey: Pubkey,
    /// Its validator's identity.
    pub node_pubkey: Pubkey,
    /// Stake delegated to it, lamports.
    pub activated_stake: u64,
    /// Its newest voted slot (0: none yet).
    pub last_vote: u64,
    /// Its root (0: none yet).
    pub root_slot: u64,
    /// Credits per epoch, newest last: (epoch, credits, previous credits).
    pub epoch_credits: Vec<(u64, u64, u64)>,
}

/// Lockout depths `getBlockCommitment` reports: confirmation counts 1 to 31, then rooted.
pub const COMMITMENT_DEPTHS: usize = MAX_LOCKOUT_HISTORY + 1;

/// How firmly a block is voted, as `getBlockCommitment` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCommitment {
    /// Stake whose tower holds the block at confirmation count `i + 1` (the last entry: stake that
    /// rooted it); `None` for a block not on the processed head's chain at or above the root.
    pub commitment: Option<[u64; COMMITMENT_DEPTHS]>,
    /// The epoch's total stake.
    pub total_stake: u64,
}

/// The stake at each lockout depth on `slot`, a block of the processed head's chain, as Solana
/// aggregates it (`AggregateCommitmentService`): each tower's stake counts as rooted if its root is
/// at or above the block, else at the confirmation count of its oldest vote at or above the block
/// (a vote on a descendant stacks on its ancestors), else not at all.
pub fn commitment_of<'a>(
    slot: Slot,
    towers: impl IntoIterator<Item = (&'a VoteState, u64)>,
) -> [u64; COMMITMENT_DEPTHS] {
    let mut commitment = [0u64; COMMITMENT_DEPTHS];
    for (tower, stake) in towers {
        if stake == 0 {
            continue;
        }
        let depth = if tower.root.is_some_and(|root| root >= slot) {
            Some(COMMITMENT_DEPTHS - 1)
        } else {
            tower
                .votes
                .iter()
                .find(|l| l.slot >= slot)
                .map(|l| (l.confirmation_count as usize).clamp(1, MAX_LOCKOUT_HISTORY) - 1)
        };
        if let Some(depth) = depth {
            commitment[depth] = commitment[depth].saturating_add(stake);
        }
    }
    commitment
}

pub(super) fn get_block_commitment(
    chain: &dyn Chain,
    params: &Params<'_>,
) -> Result<Value, RpcError> {
    params.at_most(1)?;
    let slot: u64 = params.required(0, "slot")?;
    let BlockCommitment {
        commitment,
        total_stake,
    } = chain.block_commitment(Slot(slot));
    Ok(json!({ "commitment": commitment.map(|c| c.to_vec()), "totalStake": total_stake }))
}

/// A node as `getClusterNodes` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// Its identity.
    pub pubkey: Pubkey,
    /// Gossip address.
    pub gossip: Option<SocketAddr>,
    /// Shred (Turbine) address.
    pub tvu: Option<SocketAddr>,
    /// Transaction address.
    pub tpu: Option<SocketAddr>,
    /// Transaction address over QUIC.
    pub tpu_quic: Option<SocketAddr>,
    /// Vote address.
    pub tpu_vote: Option<SocketAddr>,
    /// Repair-serving address.
    pub serve_repair: Option<SocketAddr>,
    /// JSON-RPC address.
    pub rpc: Option<SocketAddr>,
    /// Software version, `major.minor.patch`.
    pub version: Option<String>,
    /// Shred version.
    pub shred_version: Option<u16>,
}

/// One piece of slashing evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRecord {
    /// The validator it convicts.
    pub offender: Pubkey,
    /// What it did (`double_vote`, `lockout_violation`).
    pub kind: String,
    /// The slot concerned.
    pub slot: Slot,
    /// The first signed vote transaction.
    pub first: Vec<u8>,
    /// The conflicting one.
    pub second: Vec<u8>,
}

/// This node's tower, as `getTower` (ours) shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TowerView {
    /// (slot, confirmation count), oldest first.
    pub votes: Vec<(u64, u32)>,
    /// The tower's root.
    pub root: Option<u64>,
    /// Whether the node votes now.
    pub voting: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VoteAccountsConfig {
    commitment: Option<Commitment>,
    vote_pubkey: Option<String>,
    keep_unstaked_delinquents: Option<bool>,
    delinquent_slot_distance: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeaderScheduleConfig {
    identity: Option<String>,
    commitment: Option<Commitment>,
}

pub(super) fn get_vote_accounts(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(1)?;
    let config: VoteAccountsConfig = params.config(0)?;
    let only: Option<Pubkey> = config
        .vote_pubkey
        .as_deref()
        .map(|t| {
            t.parse()
                .map_err(|e| bad_param(0, "votePubkey", &format!("{e}")))
        })
        .transpose()?;
    let c = config.commitment.unwrap_or_default();
    let (slot, accounts) = chain.vote_accounts(c);
    let distance = config
        .delinquent_slot_distance
        .unwrap_or(DELINQUENT_SLOT_DISTANCE);
    let keep_unstaked = config.keep_unstaked_delinquents.unwrap_or(false);
    let mut current = Vec::new();
    let mut delinquent = Vec::new();
    for a in accounts {
        if only.is_some_and(|p| p != a.vote_pubkey) {
            continue;
        }
        let is_delinquent = slot.0.saturating_sub(a.last_vote) > distance;
        if is_delinquent && a.activated_stake == 0 && !keep_unstaked {
            continue;
        }
        let v = json!({
            "votePubkey": a.vote_pubkey.to_string(),
            "nodePubkey": a.node_pubkey.to_string(),
            "activatedStake": a.activated_stake,
            "epochVoteAccount": true,
            "commission": 0,
            "lastVote": a.last_vote,
            "epochCredits": a.epoch_credits.iter().map(|(e, c, p)| json!([e, c, p])).collect::<Vec<_>>(),
            "rootSlot": a.root_slot,
        });
        if is_delinquent {
            delinquent.push(v);
        } else {
            current.push(v);
        }
    }
    Ok(json!({ "current": current, "delinquent": delinquent }))
}

fn addr(a: &Option<SocketAddr>) -> Value {
    a.map_or(Value::Null, |a| json!(a.to_string()))
}

pub(super) fn get_cluster_nodes(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(0)?;
    let nodes: Vec<Value> = chain
        .cluster_nodes()
        .iter()
        .map(|n| {
            json!({
                "pubkey": n.pubkey.to_string(),
                "gossip": addr(&n.gossip),
                "tvu": addr(&n.tvu),
                "tpu": addr(&n.tpu),
                "tpuQuic": addr(&n.tpu_quic),
                "tpuForwards": null,
                "tpuForwardsQuic": null,
                "tpuVote": addr(&n.tpu_vote),
                "serveRepair": addr(&n.serve_repair),
                "rpc": addr(&n.rpc),
                "pubsub": null,
                "version": n.version,
                "featureSet": null,
                "shredVersion": n.shred_version,
            })
        })
        .collect();
    Ok(Value::Array(nodes))
}

pub(super) fn get_epoch_schedule(
    chain: &dyn Chain,
    params: &Params<'_>,
) -> Result<Value, RpcError> {
    params.at_most(0)?;
    let per_epoch = chain.slots_per_epoch();
    Ok(json!({
        "slotsPerEpoch": per_epoch,
        // Schedules depend on the genesis stakes alone, so they are known an epoch ahead.
        "leaderScheduleSlotOffset": per_epoch,
        "warmup": false,
        "firstNormalEpoch": 0,
        "firstNormalSlot": 0,
    }))
}

pub(super) fn get_leader_schedule(
    chain: &dyn Chain,
    params: &Params<'_>,
) -> Result<Value, RpcError> {
    params.at_most(2)?;
    // The first parameter is a slot, or the config object in its place (as Solana allows).
    let (slot, config): (Option<u64>, LeaderScheduleConfig) = match params.get(0) {
        Some(Value::Object(_)) => (None, params.config(0)?),
        _ => (params.optional(0, "slot")?, params.config(1)?),
    };
    let c = config.commitment.unwrap_or_default();
    let only: Option<Pubkey> = config
        .identity
        .as_deref()
        .map(|t| {
            t.parse()
                .map_err(|e| bad_param(1, "identity", &format!("{e}")))
        })
        .transpose()?;
    let per_epoch = chain.slots_per_epoch().max(1);
    let current_epoch = chain.slot(c).0 / per_epoch;
    let epoch = slot.map_or(current_epoch, |s| s / per_epoch);
    // Known for the current and the next epoch, as Solana answers; null beyond.
    if epoch > current_epoch + 1 {
        return Ok(Value::Null);
    }
    let first = epoch * per_epoch;
    let mut schedule: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for i in 0..per_epoch {
        let Some(leader) = chain.slot_leader(Slot(first + i)) else {
            continue;
        };
        if only.is_some_and(|o| o != leader) {
            continue;
        }
        schedule.entry(leader.to_string()).or_default().push(i);
    }
    Ok(json!(schedule))
}

pub(super) fn get_slot_leader(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(1)?;
    let config: super::params::ContextConfig = params.config(0)?;
    let slot = chain.slot(config.commitment.unwrap_or_default());
    let leader = chain
        .slot_leader(slot)
        .ok_or_else(|| RpcError::internal(format!("no leader for slot {slot}")))?;
    Ok(json!(leader.to_string()))
}

pub(super) fn get_slot_leaders(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(2)?;
    let start: u64 = params.required(0, "startSlot")?;
    let limit: u64 = params.required(1, "limit")?;
    if limit > SLOT_LEADERS_MAX {
        return Err(RpcError::invalid_params(format!(
            "Invalid limit; max {SLOT_LEADERS_MAX}"
        )));
    }
    let leaders = (start..start.saturating_add(limit))
        .map(|s| {
            chain
                .slot_leader(Slot(s))
                .map(|l| json!(l.to_string()))
                .ok_or_else(|| RpcError::internal(format!("no leader for slot {s}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(leaders))
}

pub(super) fn get_slashing_evidence(
    chain: &dyn Chain,
    params: &Params<'_>,
) -> Result<Value, RpcError> {
    params.at_most(0)?;
    let list: Vec<Value> = chain
        .slashing_evidence()
        .iter()
        .map(|e| {
            json!({
                "offender": e.offender.to_string(),
                "kind": e.kind,
                "slot": e.slot.0,
                "firstVote": encoding::base64(&e.first),
                "secondVote": encoding::base64(&e.second),
            })
        })
        .collect();
    Ok(Value::Array(list))
}

pub(super) fn get_tower(chain: &dyn Chain, params: &Params<'_>) -> Result<Value, RpcError> {
    params.at_most(0)?;
    let t = chain.tower();
    Ok(json!({
        "votes": t.votes.iter().map(|(s, c)| json!([s, c])).collect::<Vec<_>>(),
        "root": t.root,
        "voting": t.voting,
    }))
}

/// A tower rooted at `root` with `(slot, confirmation count)` votes, oldest first (tests).
#[cfg(test)]
pub(super) fn test_tower(root: Option<u64>, votes: &[(u64, u32)]) -> VoteState {
    VoteState {
        node: Pubkey([1; 32]),
        authorized_voter: Pubkey([1; 32]),
        votes: votes
            .iter()
            .map(|&(slot, confirmation_count)| dataplane::vote::Lockout {
                slot: Slot(slot),
                confirmation_count,
            })
            .collect(),
        root: root.map(Slot),
        credits: 0,
        epoch_credits: vec![],
        last_timestamp: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_towers_stake_counts_once_at_the_depth_of_its_oldest_vote_at_or_above_the_block() {
        // A full tower over slots 20..=50 (confirmation counts 31 down to 1), rooted at 19.
        let votes: Vec<(u64, u32)> = (20..=50).map(|s| (s, 51 - s as u32)).collect();
        let deep = test_tower(Some(19), &votes);
        // A tower that skipped slots 30..=39: a block there counts at the vote on 40.
        let gap = test_tower(None, &[(29, 3), (40, 2), (41, 1)]);
        let behind = test_tower(Some(5), &[(6, 1)]);
        let unstaked = test_tower(Some(100), &[(101, 1)]);
        let towers = [(&deep, 7), (&gap, 11), (&behind, 13), (&unstaked, 0)];
        let at = |slot: u64| commitment_of(Slot(slot), towers.iter().map(|&(t, s)| (t, s)));

        let c = at(35);
        assert_eq!(c[51 - 35 - 1], 7, "deep: the vote on 35 has 16 stacked");
        assert_eq!(c[1], 11, "gap: its vote on 40, twice stacked");
        assert_eq!(
            c.iter().sum::<u64>(),
            18,
            "behind votes below 35 and counts nowhere"
        );

        let rooted = at(19);
        assert_eq!(
            rooted[COMMITMENT_DEPTHS - 1],
            7,
            "a root at the block counts as rooted"
        );
        assert_eq!(rooted[2], 11);
        assert_eq!(rooted.iter().sum::<u64>(), 18);

        let old = at(5);
        assert_eq!(old[COMMITMENT_DEPTHS - 1], 7 + 13);
        assert_eq!(old[2], 11);

        let newest = at(50);
        assert_eq!(newest[0], 7);
        assert_eq!(
            newest.iter().sum::<u64>(),
            7,
            "the others' votes are all older"
        );
        assert_eq!(at(51), [0; COMMITMENT_DEPTHS]);
    }

    #[test]
    fn a_confirmation_count_out_of_range_stays_within_the_array() {
        let odd = test_tower(None, &[(10, 0), (11, 1_000)]);
        let c = commitment_of(Slot(10), [(&odd, 3)]);
        assert_eq!(c[0], 3);
        let c = commitment_of(Slot(11), [(&odd, 3)]);
        assert_eq!(
            c[MAX_LOCKOUT_HISTORY - 1],
            3,
            "clamped to the deepest lockout, not rooted"
        );
    }
}
