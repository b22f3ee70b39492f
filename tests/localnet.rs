//! The main job end to end: `blackbook localnet --duration … --json` starts a validator process, drives
//! the load generator over UDP, confirms transfers and prints the summary.

use std::process::Command;

use serde_json::Value;

#[test]
fn localnet_confirms_transfers_and_prints_a_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_blackbook"))
        .args(["localnet", "--duration", "8s", "--json", "--accounts", "64"])
        // 100 ms slots: Tower BFT roots a block 32 votes later, so 8 s cross the first roots.
        .args(["--slot-ms", "100"])
        .arg("--base-port")
        .arg("27300")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run blackbook localnet");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "localnet failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not JSON ({e}): {stdout}\n{stderr}"));
    assert_eq!(summary["validators"], 1);
    assert!(summary["slots"].as_u64().unwrap() > 5, "{summary}");
    assert!(summary["finalized_slot"].as_u64().unwrap() > 0, "{summary}");
    let submitted = summary["tx_submitted"].as_u64().unwrap();
    let confirmed = summary["tx_confirmed"].as_u64().unwrap();
    assert!(confirmed > 0, "{summary}\n{stderr}");
    assert!(confirmed <= submitted, "{summary}");
    assert!(summary["tps"].as_f64().unwrap() > 0.0);
    let p50 = summary["confirm_latency_ms"]["p50"].as_f64().unwrap();
    let p99 = summary["confirm_latency_ms"]["p99"].as_f64().unwrap();
    assert!(p50 > 0.0 && p99 >= p50, "{summary}");
    // The progress lines went to stderr in --json mode.
    assert!(stderr.contains("confirmed"), "{stderr}");
}
