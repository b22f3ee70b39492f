//! Shared integration-test harness: real `blackbook validator` processes on loopback, each with its own
//! genesis, keys, config and redb ledger in a temporary directory.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dataplane::genesis::{Genesis, GenesisAccount, GenesisValidator};
use dataplane::types::Pubkey;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

/// Lamports the faucet holds at genesis.
pub const FAUCET_LAMPORTS: u64 = 1_000_000_000_000_000;
/// Lamports each funded test account holds at genesis.
pub const ACCOUNT_LAMPORTS: u64 = 10_000_000_000;

/// A validator process and everything it was started with.
pub struct TestValidator {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub rpc_url: String,
    /// PubSub's own port, as a WebSocket URL.
    pub ws_url: String,
    pub tpu_addr: SocketAddr,
    /// Its QUIC TPU.
    pub tpu_quic_addr: SocketAddr,
    /// Its QUIC vote socket (staked validators only).
    pub tpu_vote_quic_addr: SocketAddr,
    pub identity: Pubkey,
    pub faucet: SigningKey,
    pub accounts: Vec<SigningKey>,
    pub genesis: Genesis,
    child: Option<Child>,
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free TCP port")
}

fn write_keypair(path: &Path, key: &SigningKey) {
    let bytes: Vec<u8> = key.to_keypair_bytes().to_vec();
    std::fs::write(path, serde_json::to_string(&bytes).unwrap()).unwrap();
}

/// Options for [`TestValidator::start`].
pub struct Options {
    /// Funded accounts to create (keys returned in `accounts`).
    pub accounts: usize,
    /// PoH hashes per tick (small so tests share 2 cores).
    pub hashes_per_tick: u64,
    /// Slot length.
    pub slot_ms: u64,
    /// Load-generator accounts to fund (`blackbook::loadgen::load_account(0..n)`, as localnet does).
    pub load_accounts: u64,
    /// Size the sigverify and worker threads from the cores, as localnet does (default: one each).
    pub sized_threads: bool,
    /// `storage.limit_ledger_slots` (default: unset, nothing pruned).
    pub limit_ledger_slots: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            accounts: 4,
            hashes_per_tick: 2_000,
            slot_ms: 200,
            load_accounts: 0,
            sized_threads: false,
            limit_ledger_slots: None,
        }
    }
}

impl TestValidator {
    /// Writes keys, genesis and config, starts the process and waits until its RPC answers healthy.
    pub fn start(opts: Options) -> TestValidator {
        let dir = tempfile::tempdir().unwrap();
        let identity_key = SigningKey::from_bytes(&rand_bytes());
        let faucet = SigningKey::from_bytes(&rand_bytes());
        write_keypair(&dir.path().join("identity.json"), &identity_key);
        write_keypair(&dir.path().join("faucet.json"), &faucet);
        let accounts: Vec<SigningKey> = (0..opts.accounts)
            .map(|_| SigningKey::from_bytes(&rand_bytes()))
            .collect();
        let identity = Pubkey(identity_key.verifying_key().to_bytes());
        let mut funded = vec![GenesisAccount {
            pubkey: Pubkey(faucet.verifying_key().to_bytes()),
            lamports: FAUCET_LAMPORTS,
        }];
        funded.extend(accounts.iter().map(|k| GenesisAccount {
            pubkey: Pubkey(k.verifying_key().to_bytes()),
            lamports: ACCOUNT_LAMPORTS,
        }));
        funded.extend((0..opts.load_accounts).map(|i| {
            GenesisAccount {
                pubkey: Pubkey(
                    blackbook::loadgen::load_account(i)
                        .verifying_key()
                        .to_bytes(),
                ),
                lamports: ACCOUNT_LAMPORTS,
            }
        }));
        let genesis = Genesis {
            cluster_name: "test".into(),
            creation_time_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
            ticks_per_slot: 64,
            hashes_per_tick: opts.hashes_per_tick,
            slot_duration_ms: opts.slot_ms,
            lamports_per_signature: 5_000,
            slots_per_epoch: 64,
            validators: vec![GenesisValidator {
                identity,
                stake: 1_000_000,
            }],
            accounts: funded,
        };
        genesis.save(&dir.path().join("genesis.json")).unwrap();
        let rpc_port = free_tcp_port();
        let pubsub_port = free_tcp_port();
        let tpu_port = free_udp_port();
        let tpu_quic_port = free_udp_port();
        let gossip_port = free_udp_port();
        // Every socket on its own free port: the defaults (0.0.0.0:8004..8007) would collide with
        // any other validator on the machine, another test's included.
        let [vote_port, vote_quic_port, tvu_port, repair_port, serve_repair_port] =
            [(); 5].map(|()| free_udp_port());
        let threads = if opts.sized_threads {
            ""
        } else {
            "sigverify_threads = 1\nworker_threads = 1\n"
        };
        let limit = opts
            .limit_ledger_slots
            .map(|n| format!("limit_ledger_slots = {n}\n"))
            .unwrap_or_default();
        let config = format!(
            "[network]\nlisten_addr = \"127.0.0.1:{gossip_port}\"\ntpu_addr = \"127.0.0.1:{tpu_port}\"\n\
             tpu_quic_addr = \"127.0.0.1:{tpu_quic_port}\"\n\
             tpu_vote_addr = \"127.0.0.1:{vote_port}\"\n\
             tpu_vote_quic_addr = \"127.0.0.1:{vote_quic_port}\"\ntvu_addr = \"127.0.0.1:{tvu_port}\"\n\
             repair_addr = \"127.0.0.1:{repair_port}\"\n\
             serve_repair_addr = \"127.0.0.1:{serve_repair_port}\"\n\
             udp_recv_buffer_bytes = 8388608\n\n\
             [consensus]\nidentity_keypair = \"identity.json\"\ngenesis = \"genesis.json\"\n\n\
             [storage]\ndata_dir = \"ledger\"\n{limit}\n\
             [rpc]\naddr = \"127.0.0.1:{rpc_port}\"\npubsub_addr = \"127.0.0.1:{pubsub_port}\"\n\
             faucet_keypair = \"faucet.json\"\n\n\
             [performance]\npin_cores = false\n{threads}"
        );
        let config_path = dir.path().join("blackbook.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut v = TestValidator {
            dir,
            config_path,
            rpc_url: format!("http://127.0.0.1:{rpc_port}"),
            ws_url: format!("ws://127.0.0.1:{pubsub_port}"),
            tpu_addr: SocketAddr::from(([127, 0, 0, 1], tpu_port)),
            tpu_quic_addr: SocketAddr::from(([127, 0, 0, 1], tpu_quic_port)),
            tpu_vote_quic_addr: SocketAddr::from(([127, 0, 0, 1], vote_quic_port)),
            identity,
            faucet,
            accounts,
            genesis,
            child: None,
        };
        v.spawn();
        v
    }

    /// Starts (or restarts) the process on the same directory and waits for health.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("validator.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_blackbook"))
            .arg("validator")
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start blackbook validator");
        self.child = Some(child);
        self.wait_healthy(Duration::from_secs(60));
    }

    /// Polls `getHealth` until it answers "ok".
    pub fn wait_healthy(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("validator exited during start-up: {status}\n{}", self.log());
                }
            }
            if let Ok(v) = self.try_rpc("getHealth", json!([])) {
                if v == json!("ok") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "validator not healthy in time\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The validator's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("validator.log")).unwrap_or_default()
    }

    /// Sends SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        c.wait().unwrap()
    }

    /// One JSON-RPC call; `Err` carries the error object.
    pub fn try_rpc(&self, method: &str, params: Value) -> Result<Value, Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp = ureq::post(&self.rpc_url)
            .config()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .send_json(&body)
            .map_err(|e| json!({"transport": e.to_string()}))?;
        let v: Value = resp
            .into_body()
            .read_json()
            .map_err(|e| json!({"decode": e.to_string()}))?;
        if let Some(e) = v.get("error") {
            return Err(e.clone());
        }
        Ok(v["result"].clone())
    }

    /// One JSON-RPC call that must succeed.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}\n{}", self.log()))
    }

    /// Finalized balance of `key`.
    pub fn balance(&self, key: &Pubkey) -> u64 {
        self.rpc(
            "getBalance",
            json!([key.to_string(), {"commitment": "finalized"}]),
        )["value"]
            .as_u64()
            .unwrap()
    }

    /// Latest finalized blockhash.
    pub fn blockhash(&self) -> dataplane::types::Hash {
        self.rpc("getLatestBlockhash", json!([{"commitment": "finalized"}]))["value"]["blockhash"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Waits until `sig` has a finalized status; returns the status object.
    pub fn wait_finalized(&self, sig: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.rpc(
                "getSignatureStatuses",
                json!([[sig], {"searchTransactionHistory": true}]),
            );
            let s = &r["value"][0];
            if s["confirmationStatus"] == "finalized" {
                return s.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{sig} not finalized in time: {s}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (up to 20 s) until `metric` reaches `want`.
    pub fn wait_metric(&self, metric: &str, want: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.metric(metric);
            if got >= want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{metric} = {got}, want ≥ {want}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A metric's value from the Prometheus endpoint (`GET /metrics` on the RPC port).
    pub fn metric(&self, name_and_labels: &str) -> u64 {
        let text = ureq::get(&format!("{}/metrics", self.rpc_url))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name_and_labels) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
            .unwrap_or(0)
    }
}

impl Drop for TestValidator {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn rand_bytes() -> [u8; 32] {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}
