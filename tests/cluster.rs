//! Validator processes on loopback (`blackbook localnet --validators 4`): leaders rotating, blocks
//! travelling as shreds along the Turbine tree, every validator replaying and voting (Tower BFT) —
//! every validator ends with the same rooted chain. With the leaders' test-only fault switch on
//! (10 % of shreds and some whole FEC sets dropped in the send path) and one validator started
//! late, the chain still reaches every node, through erasure recovery and repair. SIGKILL the
//! current leader: only its turns are skipped, the others keep confirming and finalizing, and after
//! a restart it votes again without breaking its lockouts — or, restarted without its tower file,
//! it waits for the cluster's finality to pass its start before it votes from a fresh tower.
//!
//! Slots are 200 ms in most runs here so that 31 stacked votes (a root) fit them; the kill-the-leader
//! run keeps the 400 ms default, so its downtime and catch-up cost the cluster as many slots as they
//! would in production.

use std::process::Command;

use serde_json::Value;

/// One cluster at a time: four validator processes already fill the 2 cores, and two clusters at
/// once would measure the machine rather than the protocol (the lag and skip bounds below).
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs localnet with `args` (and `env`) and returns its JSON summary.
fn localnet(args: &[&str], env: &[(&str, &str)], base_port: u16) -> (Value, String) {
    let _one = ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // Kept after the run (and cleared before the next on this port), so that a failing
    // assertion can show a validator's log.
    let dir = run_dir(base_port);
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_blackbook"))
        .arg("localnet")
        .args(args)
        .args(["--json", "--accounts", "256", "--base-port"])
        .arg(base_port.to_string())
        .arg("--data-dir")
        .arg(&dir)
        .envs(env.iter().copied())
        .output()
        .expect("run blackbook localnet");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "localnet failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not JSON ({e}): {stdout}\n{stderr}"));
    (summary, stderr)
}

/// The data directory of the localnet run on `base_port`.
fn run_dir(base_port: u16) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("localnet-{base_port}"))
}

/// The log of validator `n` of the run on `base_port`, for a failure's message.
fn validator_log(base_port: u16, n: &Value) -> String {
    let path = run_dir(base_port).join(format!("validator-{n}/validator.log"));
    let log = std::fs::read_to_string(&path).unwrap_or_else(|e| format!("{path:?}: {e}"));
    format!("--- {} ---\n{log}", path.display())
}

fn counter(summary: &Value, name: &str) -> u64 {
    summary["replication"][name].as_u64().unwrap_or(0)
}

/// Dead blocks other than those left behind on a fork the cluster rooted past (which a slow leader
/// can produce, and which are not failures of replay).
fn failed_blocks(summary: &Value) -> Vec<(String, u64)> {
    let Some(counters) = summary["replication"].as_object() else {
        return Vec::new();
    };
    counters
        .iter()
        .filter(|(k, v)| {
            k.starts_with("blocks_dead_")
                && k.as_str() != "blocks_dead_total"
                && k.as_str() != "blocks_dead_not_on_rooted_chain"
                && v.as_u64() != Some(0)
        })
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
        .collect()
}

#[test]
fn four_validators_rotate_leaders_and_end_with_identical_ledgers() {
    let (s, stderr) = localnet(
        &["--validators", "4", "--duration", "16s", "--slot-ms", "200"],
        &[],
        27400,
    );
    assert_eq!(s["validators"], 4);
    // Same blocks and bank hashes on every node, produced by more than one leader.
    assert_eq!(s["ledgers_identical"], true, "{s}\n{stderr}");
    assert!(s["ledgers_compared_blocks"].as_u64().unwrap() >= 10, "{s}");
    assert!(s["leaders_in_chain"].as_u64().unwrap() >= 2, "{s}");
    assert!(s["tx_confirmed"].as_u64().unwrap() > 0, "{s}\n{stderr}");
    // Blocks reached the other validators as shreds and were replayed there; none was refused.
    assert!(counter(&s, "blocks_replayed_from_network_total") > 0, "{s}");
    assert!(counter(&s, "shreds_retransmitted_total") > 0, "{s}");
    assert_eq!(failed_blocks(&s), vec![], "{s}");
    // What a leader still held when its window ended went on to the next leader (Gulf Stream).
    assert!(counter(&s, "transactions_forwarded_total") > 0, "{s}");
    // Over QUIC, as the node's identity: the next leader counted them as staked traffic. Gossip
    // announced every node's QUIC TPU to every node.
    assert!(counter(&s, "transactions_forwarded_quic_total") > 0, "{s}");
    assert!(counter(&s, "tpu_quic_staked_transactions_total") > 0, "{s}");
    for n in s["nodes"].as_array().unwrap() {
        assert_eq!(n["tpu_quic_known"], 4, "{n}");
    }
    // Votes went over QUIC too, to the QUIC vote sockets gossip announced, and were read there.
    assert!(counter(&s, "votes_sent_quic_total") > 0, "{s}");
    assert!(counter(&s, "votes_received_quic_total") > 0, "{s}");
    // Progress lines name the leader, the commitment levels and each node's slot and replay lag.
    assert!(
        stderr.contains("| leader ")
            && stderr.contains("| nodes ")
            && stderr.contains(" finalized "),
        "{stderr}"
    );
    // Tower BFT at work: roots follow about 32 slots behind and votes land fast. The targets
    // (nothing skipped, lag ≤ 40) are release-build figures, measured with `localnet` (README);
    // four debug-build validators sharing two busy cores can miss a turn now and then, so this
    // asserts liveness, not the targets: each skipped slot is named to its leader, few are skipped,
    // and finality keeps up.
    let skipped = s["skipped_slots"].as_u64().unwrap();
    let by_leader: u64 = s["skipped_by_leader"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_leader, skipped, "{s}");
    assert!(skipped * 4 <= s["slots"].as_u64().unwrap(), "{s}");
    assert!(
        s["finalized_lag_slots"]["max"].as_u64().unwrap() <= 64,
        "{s}"
    );
    assert!(
        s["votes"]["votes_landed_within_2_slots_pct"]
            .as_f64()
            .unwrap()
            >= 90.0,
        "{s}"
    );
}

#[test]
fn lost_shreds_and_fec_sets_and_a_late_validator_are_made_whole_by_recovery_and_repair() {
    let (s, stderr) = localnet(
        &[
            "--validators",
            "4",
            "--duration",
            "20s",
            "--slot-ms",
            "200",
            "--late-start",
            "6s",
        ],
        &[
            ("BLACKBOOK_FAULT_DROP_SHREDS", "10"),
            ("BLACKBOOK_FAULT_DROP_FEC_SETS", "10"),
        ],
        27500,
    );
    assert_eq!(s["ledgers_identical"], true, "{s}\n{stderr}");
    assert!(stderr.contains("starting validator-3 late"), "{stderr}");
    assert!(counter(&s, "shreds_fault_dropped_total") > 0, "{s}");
    assert!(counter(&s, "fec_sets_fault_dropped_total") > 0, "{s}");
    assert!(
        counter(&s, "shreds_recovered_total") > 0,
        "erasure recovery: {s}"
    );
    assert!(counter(&s, "shreds_repaired_total") > 0, "repair: {s}");
    // Served only after the requesters proved their addresses: pinged, answered, then served.
    assert!(counter(&s, "repair_serve_pongs_accepted") > 0, "{s}");
    assert!(counter(&s, "repair_serve_served") > 0, "{s}");
    assert!(s["ledgers_compared_blocks"].as_u64().unwrap() >= 10, "{s}");
    assert_eq!(failed_blocks(&s), vec![], "{s}");
    // The late validator caught up through repair: it repaired shreds itself and its finalized slot
    // is within a leader turn of the others'.
    let nodes = s["nodes"].as_array().expect("per-node summary");
    let late = &nodes[3];
    assert_eq!(late["name"], "validator-3");
    assert!(
        late["replication"]["shreds_repaired_total"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{late}"
    );
    // The nodes are read one after another while they run (5 slots a second here), so their
    // finalized slots differ by a few slots even when all keep up; a healthy node was seen 5
    // behind the others' median. Compare with the slowest of the others: a validator that did not
    // catch up is tens of slots behind every one of them.
    let finalized = |n: &Value| n["finalized_slot"].as_u64().unwrap_or(0);
    let slowest_other = nodes[..3].iter().map(finalized).min().unwrap_or(0);
    assert!(
        finalized(late) + 4 >= slowest_other,
        "late validator behind: {s}"
    );
}

fn killed(s: &Value) -> &Value {
    &s["votes"]["killed"]
}

#[test]
fn killing_the_leader_skips_only_its_turns_and_it_votes_again_after_a_restart() {
    let (s, stderr) = localnet(
        &[
            "--validators",
            "4",
            "--duration",
            "40s",
            // Light load, as the targets are stated: the 2 cores run four validators besides.
            "--tps",
            "300",
            "--kill-leader-at",
            "14s",
            "--restart-after",
            "4s",
        ],
        &[],
        27600,
    );
    let k = killed(&s);
    assert!(k["validator"].as_u64().unwrap() > 0, "{s}\n{stderr}");
    // Confirmation and finality went on without it (three of four is more than 2/3).
    assert!(s["tx_confirmed"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["finalized_lag_slots"]["max"].as_u64().unwrap() <= 48,
        "{s}"
    );
    // Only its turns were skipped (down 4 s and catching up after: a few of its 4-slot turns).
    let name = format!("validator-{}", k["validator"]);
    let skipped = s["skipped_by_leader"].as_object().unwrap();
    assert!(
        skipped.keys().all(|n| *n == name),
        "turns of others skipped: {s}"
    );
    assert!(s["skipped_slots"].as_u64().unwrap() <= 16, "{s}");
    assert_eq!(s["ledgers_identical"], true, "{s}\n{stderr}");
    // Back: it caught up and voted again, and none of its votes broke its lockouts.
    assert_eq!(k["voted_after_restart"], true, "{s}\n{stderr}");
    assert_eq!(k["lockout_violations"], 0, "{s}");
    assert!(k["votes_read_back"].as_u64().unwrap() > 0, "{s}");
}

#[test]
fn a_node_restarted_without_its_tower_waits_for_finality_then_votes_from_a_fresh_tower() {
    let (s, stderr) = localnet(
        &[
            "--validators",
            "4",
            "--duration",
            "30s",
            "--slot-ms",
            "200",
            "--kill-leader-at",
            "8s",
            "--restart-after",
            "3s",
            "--lose-tower",
        ],
        &[],
        27700,
    );
    assert!(
        stderr.contains("tower.bin"),
        "the tower was deleted: {stderr}"
    );
    let k = killed(&s);
    assert_eq!(
        k["voted_after_restart"],
        true,
        "{s}\n{stderr}\n{}",
        validator_log(27700, &k["validator"])
    );
    // Its first vote after the restart comes from a fresh tower rooted at a finalized slot past the
    // slot it started at: it did not vote before finality passed it.
    let restart = k["restart_slot"].as_u64().unwrap();
    let root = k["first_root_after_restart"].as_u64().unwrap_or(0);
    assert!(
        root >= restart,
        "first vote's root {root} < restart slot {restart}: {s}"
    );
    assert_eq!(k["lockout_violations"], 0, "{s}");
    assert_eq!(s["ledgers_identical"], true, "{s}\n{stderr}");
}
