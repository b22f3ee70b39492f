//! Opt-in soak: a lone validator under the load generator's saturating load, with a bounded ledger
//! (`--limit-ledger-slots`), for 30 minutes. Every 20 s it samples the validator's RSS, its ledger
//! file and its counters; after warm-up (the window filling, redb's cache filling), RSS and the
//! ledger file must stay flat while the node keeps confirming.
//!
//! ```sh
//! cargo test --release --test soak -- --ignored --nocapture
//! BLACKBOOK_SOAK_MINUTES=5 BLACKBOOK_SOAK_KEEP_SLOTS=256 cargo test --release --test soak -- --ignored --nocapture
//! ```

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BASE_PORT: u16 = 28_300;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The validator process started by the localnet writing into `dir`, by its command line.
fn validator_pid(dir: &Path) -> Option<u32> {
    let config = dir.join("validator-0/blackbook.toml");
    let config = config.to_str()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains("validator") && cmdline.contains(config)).then_some(pid)
    })
}

fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at_s: u64,
    rss: u64,
    ledger: u64,
    included: u64,
    first_slot: u64,
    root: u64,
}

#[test]
#[ignore = "30 minutes at saturating load: cargo test --release --test soak -- --ignored"]
fn soak_a_bounded_validator_keeps_rss_and_ledger_flat() {
    let minutes = env_u64("BLACKBOOK_SOAK_MINUTES", 30);
    let keep = env_u64("BLACKBOOK_SOAK_KEEP_SLOTS", 1_000);
    let dir = tempfile::tempdir().unwrap();
    let mut localnet = Command::new(env!("CARGO_BIN_EXE_blackbook"))
        .args(["localnet", "--validators", "1", "--json", "--duration"])
        .arg(format!("{minutes}m"))
        .arg("--limit-ledger-slots")
        .arg(keep.to_string())
        .arg("--base-port")
        .arg(BASE_PORT.to_string())
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start localnet");
    let metrics_url = format!("http://127.0.0.1:{}/metrics", BASE_PORT + 9);
    let ledger = dir.path().join("validator-0/ledger/ledger.redb");
    let start = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    while localnet.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_secs(20));
        let Some(pid) = validator_pid(dir.path()) else {
            continue;
        };
        let Ok(text) = ureq::get(&metrics_url)
            .call()
            .and_then(|r| r.into_body().read_to_string())
        else {
            continue;
        };
        let s = Sample {
            at_s: start.elapsed().as_secs(),
            rss: rss_bytes(pid).unwrap_or(0),
            ledger: std::fs::metadata(&ledger).map_or(0, |m| m.len()),
            included: metric(&text, "blackbook_transactions_included_total"),
            first_slot: metric(&text, "blackbook_ledger_first_slot"),
            root: metric(&text, "blackbook_root_slot"),
        };
        println!(
            "soak t={:>5}s rss={:>5} MiB ledger={:>6} MiB included={:>10} root={:>6} first_kept={:>6}",
            s.at_s,
            s.rss >> 20,
            s.ledger >> 20,
            s.included,
            s.root,
            s.first_slot
        );
        samples.push(s);
    }
    let out = localnet.wait_with_output().unwrap();
    assert!(out.status.success(), "localnet failed");
    let summary = String::from_utf8_lossy(&out.stdout);
    println!("{}", summary.lines().last().unwrap_or_default());

    assert!(samples.len() >= 6, "too few samples: {samples:?}");
    // Before pruning began: what a transaction costs the ledger file when nothing is freed.
    let pruning = samples
        .iter()
        .position(|s| s.first_slot > 0)
        .expect("nothing was pruned");
    let (first, filled) = (&samples[0], &samples[pruning]);
    let unpruned_bytes_per_tx =
        (filled.ledger - first.ledger) as f64 / (filled.included - first.included).max(1) as f64;
    // Warm-up: the first 40 % of the run (the window fills in keep × 0.4 s, redb's cache with it).
    let warm_at = (samples.len() * 2 / 5).max(pruning);
    let warm = samples[warm_at];
    let after = &samples[warm_at..];
    let last = *samples.last().unwrap();
    let (early, late) = after.split_at(after.len() / 2);
    let max_rss = |s: &[Sample]| s.iter().map(|s| s.rss).max().unwrap_or(0);
    let grown = last.ledger.saturating_sub(warm.ledger);
    let unpruned = unpruned_bytes_per_tx * (last.included - warm.included) as f64;
    println!(
        "soak: after warm-up (t={}s): RSS max {} MiB in the first half, {} MiB in the second \
         ({:+.1} %); ledger {} → {} MiB, {:.1} % of the {:.0} MiB the same {} transactions \
         added before pruning began",
        warm.at_s,
        max_rss(early) >> 20,
        max_rss(late) >> 20,
        (max_rss(late) as f64 / max_rss(early) as f64 - 1.0) * 100.0,
        warm.ledger >> 20,
        last.ledger >> 20,
        grown as f64 / unpruned * 100.0,
        unpruned / f64::from(1u32 << 20),
        last.included - warm.included
    );
    assert!(last.included > warm.included, "the node stopped confirming");
    // Flat: no rise from the first half after warm-up to the second beyond noise.
    assert!(
        max_rss(late) <= max_rss(early) + max_rss(early) / 5,
        "RSS kept growing after warm-up: {samples:?}"
    );
    // Bounded: redb grows its file in coarse steps as the window's load varies, but by far less
    // than an unpruned ledger would (a quarter of it at most).
    assert!(
        (grown as f64) < unpruned / 4.0,
        "ledger grew {grown} bytes after warm-up, unpruned it would have grown {unpruned:.0}"
    );
}
