//! Stock Solana clients in other languages, unchanged, against a real node: JavaScript's two most
//! used, `@solana/web3.js` 1.x (`tests/js/web3.mjs`) and `@solana/kit` (`tests/js/kit.mjs`), at the
//! versions pinned in `tests/js/package-lock.json`; and Python's `solana-py` with `solders`
//! (`tests/py/solana_py.py`), pinned in `tests/py/requirements.txt`. Each script runs a wallet's
//! everyday path — airdrop, send-and-confirm (which waits on PubSub notifications), a priority fee,
//! v0, simulation, history, subscriptions — and exits non-zero at the first mismatch.
//!
//! Needs Node.js (20.18 or later: `@solana/kit`'s minimum) with npm, and Python 3.9 or later with
//! `venv`. The first run installs the packages: `npm ci` into `tests/js/node_modules` (about 60 MB)
//! and `pip` into a virtual environment at `tests/py/.venv` (about 30 MB), a few seconds each.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Options, TestValidator};

/// A script that has not finished by then is stuck (each of its waits is bounded at 30 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);

fn tests_dir(language: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(language)
}

fn modified(path: PathBuf) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Runs an installer to its end; panics with its output if it fails.
fn install_with(command: &mut Command, needs: &str) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{needs} is needed for these tests: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Installs the pinned JavaScript packages once per run of this binary, unless installed from the
/// same lock already.
fn install_js() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = tests_dir("js");
        // npm writes this copy of the lock last; older than the lock means another install.
        let installed = modified(dir.join("node_modules/.package-lock.json"));
        if installed.is_some() && installed >= modified(dir.join("package-lock.json")) {
            return;
        }
        install_with(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir),
            "npm (with Node.js 20.18 or later)",
        );
    });
}

/// Makes `tests/py/.venv` with the pinned Python packages once per run of this binary, unless it
/// was made from the same requirements already.
fn install_py() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = tests_dir("py");
        let stamp = dir.join(".venv/installed");
        if modified(stamp.clone()) >= modified(dir.join("requirements.txt")) {
            return;
        }
        install_with(
            Command::new("python3")
                .args(["-m", "venv", ".venv"])
                .current_dir(&dir),
            "Python 3 (`python3`, with venv)",
        );
        install_with(
            Command::new(".venv/bin/python")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["--requirement", "requirements.txt"])
                .current_dir(&dir),
            "pip",
        );
        std::fs::write(stamp, "").unwrap();
    });
}

/// Runs `program script` in `tests/<language>`, once `install` has run, against a fresh node (its
/// RPC and PubSub URLs as the arguments) and returns the script's last line (a JSON summary).
fn run(language: &str, install: fn(), program: &str, script: &str) -> String {
    let node = TestValidator::start(Options::default());
    install();
    let dir = tests_dir(language);
    let stdout_path = node.dir.path().join(format!("{script}.out"));
    let stderr_path = node.dir.path().join(format!("{script}.err"));
    // A bare name is looked up on PATH; a path is the test directory's own (the venv's python).
    let program_path = match program.contains('/') {
        true => dir.join(program),
        false => PathBuf::from(program),
    };
    let mut child = Command::new(program_path)
        .arg(script)
        .arg(&node.rpc_url)
        .arg(&node.ws_url)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed for these tests: {e}"));
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
    let summary = run("js", install_js, "node", "web3.mjs");
    assert!(summary.starts_with(r#"{"ok":true"#), "{summary}");
}

#[test]
fn solana_kit_airdrops_and_sends_and_confirms_legacy_and_v0_with_priority_fees() {
    let summary = run("js", install_js, "node", "kit.mjs");
    assert!(summary.starts_with(r#"{"ok":true"#), "{summary}");
}

#[test]
fn solana_py_sends_v0_with_priority_fees_and_decodes_every_notification() {
    let summary = run("py", install_py, ".venv/bin/python", "solana_py.py");
    assert!(summary.starts_with(r#"{"ok": true"#), "{summary}");
}
