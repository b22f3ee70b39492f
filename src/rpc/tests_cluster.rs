//! The cluster methods over HTTP, in Solana's shapes.

use serde_json::{json, Value};

use super::error::*;
use super::test_node::*;
use super::Chain;
use dataplane::types::Pubkey;

#[tokio::test]
async fn block_commitment_has_solanas_shape_and_nulls_a_block_past_the_head() {
    let node = start().await;
    // The fake's towers: 1,000 stake voted 9 (twice stacked) and 10, rooted 3; 500 voted 12.
    let v = node.ok("getBlockCommitment", json!([9])).await;
    let mut expected = vec![0u64; 32];
    expected[0] = 500;
    expected[1] = 1_000;
    assert_eq!(v, json!({"commitment": expected, "totalStake": 1_500}));
    let rooted = node.ok("getBlockCommitment", json!([3])).await;
    assert_eq!(rooted["commitment"][31], 1_000);
    assert_eq!(rooted["commitment"][0], 500);
    let ahead = node
        .ok("getBlockCommitment", json!([PROCESSED_SLOT + 1]))
        .await;
    assert_eq!(ahead, json!({"commitment": null, "totalStake": 1_500}));
    node.err("getBlockCommitment", json!([]), INVALID_PARAMS)
        .await;
    node.err("getBlockCommitment", json!(["9"]), INVALID_PARAMS)
        .await;
    node.err("getBlockCommitment", json!([9, {}]), INVALID_PARAMS)
        .await;
}

#[tokio::test]
async fn max_shred_slots_are_the_receive_paths_newest() {
    let node = start().await;
    let retransmit = node.ok("getMaxRetransmitSlot", json!([])).await;
    assert_eq!(retransmit, PROCESSED_SLOT + 1);
    let inserted = node.ok("getMaxShredInsertSlot", json!([])).await;
    assert_eq!(inserted, PROCESSED_SLOT + 2);
    node.err("getMaxShredInsertSlot", json!([1]), INVALID_PARAMS)
        .await;
}

#[tokio::test]
async fn vote_accounts_split_current_from_delinquent_in_solanas_shape() {
    let node = start().await;
    // Finalized slot 10: the stale account's last vote (0) is within 128 slots, so it is current.
    let v = node.ok("getVoteAccounts", json!([])).await;
    let current = v["current"].as_array().unwrap();
    assert_eq!(current.len(), 2);
    let a = &current[0];
    for field in [
        "votePubkey",
        "nodePubkey",
        "activatedStake",
        "epochVoteAccount",
        "commission",
        "lastVote",
        "epochCredits",
        "rootSlot",
    ] {
        assert!(a.get(field).is_some(), "missing {field}: {a}");
    }
    assert_eq!(a["votePubkey"], Pubkey([21; 32]).to_string());
    assert_eq!(a["lastVote"], FINALIZED_SLOT);
    assert_eq!(a["epochCredits"], json!([[0, 10, 0]]));
    // A shorter delinquency distance moves the silent one to delinquent.
    let v = node
        .ok("getVoteAccounts", json!([{"delinquentSlotDistance": 5}]))
        .await;
    assert_eq!(v["current"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["delinquent"][0]["votePubkey"],
        Pubkey([22; 32]).to_string()
    );
    // Filtered by vote account.
    let only = Pubkey([22; 32]).to_string();
    let v = node
        .ok("getVoteAccounts", json!([{"votePubkey": only}]))
        .await;
    assert_eq!(v["current"].as_array().unwrap().len(), 1);
    node.err(
        "getVoteAccounts",
        json!([{"votePubkey": "x0"}]),
        INVALID_PARAMS,
    )
    .await;
}

#[tokio::test]
async fn cluster_nodes_list_every_address_solana_clients_read() {
    let node = start().await;
    let v = node.ok("getClusterNodes", json!([])).await;
    let n = &v[0];
    assert_eq!(n["gossip"], "127.0.0.1:8001");
    assert_eq!(n["tpu"], "127.0.0.1:8003");
    assert_eq!(n["tpuVote"], "127.0.0.1:8007");
    assert_eq!(n["tpuQuic"], "127.0.0.1:8009");
    assert_eq!(n["rpc"], "127.0.0.1:8899");
    assert_eq!(n["shredVersion"], 7);
    assert_eq!(n["version"], "0.1.0");
    assert!(n.get("tpuQuic").is_some() && n.get("pubsub").is_some());
}

#[tokio::test]
async fn schedule_methods_answer_from_the_epoch_schedule() {
    let node = start().await;
    let s = node.ok("getEpochSchedule", json!([])).await;
    assert_eq!(s["slotsPerEpoch"], 64);
    assert_eq!(s["warmup"], false);
    let sched = node.ok("getLeaderSchedule", json!([])).await;
    let me = node.chain.identity().to_string();
    let mine: Vec<u64> = serde_json::from_value(sched[&me].clone()).unwrap();
    assert_eq!(mine.len(), 32);
    assert!(mine.iter().all(|i| i % 8 < 4));
    let only = node
        .ok("getLeaderSchedule", json!([null, {"identity": me}]))
        .await;
    assert_eq!(only.as_object().unwrap().len(), 1);
    // The config may stand in the slot's place; an epoch two ahead is unknown.
    let cfg = node
        .ok("getLeaderSchedule", json!([{"identity": me}]))
        .await;
    assert_eq!(cfg, only);
    assert_eq!(
        node.ok("getLeaderSchedule", json!([64 * 5])).await,
        Value::Null
    );
    let leaders = node.ok("getSlotLeaders", json!([2, 4])).await;
    assert_eq!(leaders.as_array().unwrap().len(), 4);
    assert_eq!(leaders[0], me);
    assert_ne!(leaders[2], me);
    node.err("getSlotLeaders", json!([0, 5_001]), INVALID_PARAMS)
        .await;
    let leader = node
        .ok("getSlotLeader", json!([{"commitment": "processed"}]))
        .await;
    assert_eq!(
        leader,
        if PROCESSED_SLOT % 8 < 4 {
            me
        } else {
            Pubkey([23; 32]).to_string()
        }
    );
}

#[tokio::test]
async fn slashing_evidence_lists_both_signed_votes() {
    let node = start().await;
    let v = node.ok("getSlashingEvidence", json!([])).await;
    assert_eq!(v[0]["kind"], "double_vote");
    assert_eq!(v[0]["slot"], 5);
    assert_eq!(v[0]["firstVote"], "AQID");
    assert_eq!(v[0]["secondVote"], "BAUG");
}

#[tokio::test]
async fn the_tower_shows_votes_root_and_whether_the_node_votes() {
    let node = start().await;
    let t = node.ok("getTower", json!([])).await;
    assert_eq!(
        t,
        json!({"votes": [[9, 2], [10, 1]], "root": 3, "voting": true})
    );
}

#[tokio::test]
async fn performance_samples_list_newest_first_in_solanas_shape_within_the_limit() {
    let node = start().await;
    let v = node.ok("getRecentPerformanceSamples", json!([])).await;
    let samples = v.as_array().unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(
        samples[0],
        json!({
            "slot": PROCESSED_SLOT,
            "numTransactions": 120,
            "numNonVoteTransactions": 100,
            "numSlots": 2,
            "samplePeriodSecs": 60,
        })
    );
    assert_eq!(samples[2]["samplePeriodSecs"], 5);
    // `null` is the default, as the stock client sends it.
    let v = node.ok("getRecentPerformanceSamples", json!([null])).await;
    assert_eq!(v.as_array().unwrap().len(), 3);
    let v = node.ok("getRecentPerformanceSamples", json!([1])).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["slot"], PROCESSED_SLOT);
    let v = node.ok("getRecentPerformanceSamples", json!([0])).await;
    assert_eq!(v, json!([]));
    let e = node
        .err("getRecentPerformanceSamples", json!([721]), INVALID_PARAMS)
        .await;
    assert_eq!(message_of(&e), "Invalid limit; max 720");
    node.err("getRecentPerformanceSamples", json!([-1]), INVALID_PARAMS)
        .await;
    node.err("getRecentPerformanceSamples", json!([1, 2]), INVALID_PARAMS)
        .await;
}
