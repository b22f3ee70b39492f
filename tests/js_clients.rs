//! The two most used Solana JavaScript clients, unchanged, against a real node: `@solana/web3.js`
//! 1.x (`tests/js/web3.mjs`) and `@solana/kit` (`tests/js/kit.mjs`), at the versions pinned in
//! `tests/js/package-lock.json`. Each script runs a wallet's everyday path — airdrop,
//! send-and-confirm (which waits on PubSub notifications), a priority fee, v0, simulation, history,
//! subscriptions — and exits non-zero at the first mismatch.
//!
//! Needs Node.js (20.18 or later: `@solana/kit`'s minimum) and npm: the first run installs the
//! packages with `npm ci` from the npm registry into `tests/js/node_modules` (about 60 MB, a few
//! seconds).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Options, TestValidator};

/// A script that has not finished by then is stuck (each of its waits is bounded at 30 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Installs the pinned packages once per run of this binary, unless installed from the same lock.
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = js_dir();
        let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        // npm writes this copy of the lock last; older than the lock means another install.
        let installed = modified(dir.join("node_modules/.package-lock.json"));
        if installed.is_some() && installed >= modified(dir.join("package-lock.json")) {
            return;
        }
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("npm (with Node.js 20.18 or later) is needed for the JavaScript client tests");
        assert!(
            out.status.success(),
            "npm ci in {} failed: {}\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Runs `script` against a fresh node and returns its last line (a JSON summary).
fn run(script: &str) -> String {
    let node = TestValidator::start(Options::default());
    install();
    let dir = js_dir();
    let stdout_path = node.dir.path().join(format!("{script}.out"));
    let stderr_path = node.dir.path().join(format!("{script}.err"));
    let mut child = Command::new("node")
        .arg(script)
        .arg(&node.rpc_url)
        .arg(&node.ws_url)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("Node.js (`node`, 20.18 or later) is needed for the JavaScript client tests");
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let log = node.log();
    let tail_from = (log.len().saturating_sub(4_000)..log.len())
        .find(|&i| log.is_char_boundary(i))
        .unwrap_or(log.len());
    let log_tail = &log[tail_from..];
    assert!(
        status.is_some_and(|s| s.success()),
        "{script}: {}\nstdout:\n{stdout}\nstderr:\n{stderr}\nvalidator log (end):\n{log_tail}",
        status.map_or("timed out".to_string(), |s| s.to_string())
    );
    stdout.lines().last().unwrap_or_default().to_string()
}

#[test]
fn web3_js_airdrops_sends_and_confirms_simulates_and_follows_notifications() {
    let summary = run("web3.mjs");
    assert!(summary.starts_with(r#"{"ok":true"#), "{summary}");
}

#[test]
fn solana_kit_airdrops_and_sends_and_confirms_legacy_and_v0_with_priority_fees() {
    let summary = run("kit.mjs");
    assert!(summary.starts_with(r#"{"ok":true"#), "{summary}");
}
