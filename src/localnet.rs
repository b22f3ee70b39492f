//! `blackbook localnet`: a whole local cluster with one command.
//!
//! Writes keys, a genesis and one config per validator into a data directory, starts every validator
//! as a child process (`blackbook validator --config …`, own ports and ledger), drives the load
//! generator against the leader and prints a progress line every second. Ctrl-C or `--duration`
//! stops the load, lets in-flight transfers confirm, stops the validators and prints a summary.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use dataplane::genesis::{
    Genesis, GenesisAccount, GenesisValidator, DEFAULT_LAMPORTS_PER_SIGNATURE,
    DEFAULT_SLOTS_PER_EPOCH, DEFAULT_TICKS_PER_SLOT,
};
use dataplane::types::{Pubkey, LAMPORTS_PER_TOKEN};
use ed25519_dalek::SigningKey;
use serde_json::json;

use crate::cli::LocalnetArgs;
use crate::loadgen::{load_account, LoadConfig, LoadGenerator};
use crate::rpc_client::RpcClient;
use crate::wallet;

/// Validators this build can run together: replication arrives with issue 3.
const VALIDATORS_MAX: usize = 1;
/// Lamports in each load account at genesis.
const LOAD_ACCOUNT_LAMPORTS: u64 = 1_000 * LAMPORTS_PER_TOKEN;
/// Lamports in the faucet at genesis.
const FAUCET_LAMPORTS: u64 = 500_000_000 * LAMPORTS_PER_TOKEN;
/// Stake of each validator at genesis.
const VALIDATOR_STAKE: u64 = 1_000_000 * LAMPORTS_PER_TOKEN;
/// How long a validator may take to answer `getHealth` after start.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long in-flight transfers may take to confirm after the load stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(4);

/// One validator process and where to reach it.
struct Node {
    name: String,
    identity: Pubkey,
    rpc_url: String,
    tpu_addr: SocketAddr,
    child: Child,
}

/// Runs the local cluster until the duration ends or Ctrl-C.
pub fn run(args: LocalnetArgs) -> anyhow::Result<()> {
    if args.validators == 0 {
        bail!("--validators must be at least 1");
    }
    if args.validators > VALIDATORS_MAX {
        bail!(
            "--validators {}: this build runs {VALIDATORS_MAX} validator (block replication, which lets \
             several validators share one chain, is the next capability to land)",
            args.validators
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    let (dir, _temp) = match &args.data_dir {
        Some(d) => {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("blackbook-localnet-")
                .tempdir()?;
            (
                t.path().to_path_buf(),
                if args.keep { None } else { Some(t) },
            )
        }
    };
    let log = |line: String| {
        if !args.json {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    };
    log(format!("localnet: data directory {}", dir.display()));

    let cluster = write_cluster(&dir, &args)?;
    let exe = std::env::current_exe().context("locating the blackbook binary")?;
    let mut nodes = Vec::new();
    for v in &cluster.validators {
        nodes.push(spawn_validator(&exe, v)?);
    }
    let result = drive(&args, &cluster, &mut nodes, &stop, &log);
    for n in &mut nodes {
        terminate(&mut n.child);
    }
    if args.keep || args.data_dir.is_some() {
        log(format!(
            "localnet: ledgers and logs kept in {}",
            dir.display()
        ));
    }
    result
}

/// Files and ports of one validator, written before it starts.
struct ValidatorFiles {
    name: String,
    identity: Pubkey,
    config: PathBuf,
    log: PathBuf,
    rpc_addr: SocketAddr,
    tpu_addr: SocketAddr,
}

struct Cluster {
    genesis: Genesis,
    validators: Vec<ValidatorFiles>,
}

fn write_cluster(dir: &Path, args: &LocalnetArgs) -> anyhow::Result<Cluster> {
    let faucet = SigningKey::generate(&mut rand::rngs::OsRng);
    let faucet_path = dir.join("faucet.json");
    wallet::write_keypair_file(&faucet_path, &faucet, true)?;
    let mut validators = Vec::new();
    let mut genesis_validators = Vec::new();
    let mut accounts = vec![GenesisAccount {
        pubkey: Pubkey(faucet.verifying_key().to_bytes()),
        lamports: FAUCET_LAMPORTS,
    }];
    for i in 0..args.validators {
        let name = format!("validator-{i}");
        let vdir = dir.join(&name);
        fs::create_dir_all(&vdir)?;
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let identity = Pubkey(key.verifying_key().to_bytes());
        wallet::write_keypair_file(&vdir.join("identity.json"), &key, true)?;
        let port = |offset: u16| -> anyhow::Result<SocketAddr> {
            let p = args
                .base_port
                .checked_add(i as u16 * 10 + offset)
                .context("--base-port too high for this many validators")?;
            Ok(SocketAddr::from(([127, 0, 0, 1], p)))
        };
        let (gossip, tpu, rpc) = (port(1)?, port(3)?, port(9)?);
        let faucet_line = if i == 0 {
            format!("faucet_keypair = {:?}\n", faucet_path.display().to_string())
        } else {
            String::new()
        };
        let config = format!(
            "# Written by `blackbook localnet`.\n\
             [network]\nlisten_addr = \"{gossip}\"\ntpu_addr = \"{tpu}\"\n\n\
             [consensus]\nidentity_keypair = \"identity.json\"\ngenesis = \"../genesis.json\"\n\n\
             [storage]\ndata_dir = \"ledger\"\n\n\
             [rpc]\naddr = \"{rpc}\"\n{faucet_line}\n\
             [performance]\npin_cores = false\n"
        );
        let config_path = vdir.join("blackbook.toml");
        fs::write(&config_path, config)?;
        genesis_validators.push(GenesisValidator {
            identity,
            stake: VALIDATOR_STAKE,
        });
        accounts.push(GenesisAccount {
            pubkey: identity,
            lamports: LAMPORTS_PER_TOKEN,
        });
        validators.push(ValidatorFiles {
            name: name.clone(),
            identity,
            config: config_path,
            log: vdir.join("validator.log"),
            rpc_addr: rpc,
            tpu_addr: tpu,
        });
    }
    for i in 0..args.accounts {
        accounts.push(GenesisAccount {
            pubkey: Pubkey(load_account(i as u64).verifying_key().to_bytes()),
            lamports: LOAD_ACCOUNT_LAMPORTS,
        });
    }
    let genesis = Genesis {
        cluster_name: "localnet".into(),
        creation_time_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        ticks_per_slot: DEFAULT_TICKS_PER_SLOT,
        hashes_per_tick: args.hashes_per_tick,
        slot_duration_ms: args.slot_ms,
        lamports_per_signature: DEFAULT_LAMPORTS_PER_SIGNATURE,
        slots_per_epoch: DEFAULT_SLOTS_PER_EPOCH,
        validators: genesis_validators,
        accounts,
    };
    genesis.validate()?;
    genesis.save(&dir.join("genesis.json"))?;
    Ok(Cluster {
        genesis,
        validators,
    })
}

fn spawn_validator(exe: &Path, v: &ValidatorFiles) -> anyhow::Result<Node> {
    use std::os::unix::process::CommandExt;
    let log = fs::File::create(&v.log).with_context(|| format!("creating {}", v.log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("validator")
        .arg("--config")
        .arg(&v.config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: a Ctrl-C in the terminal reaches localnet only, which then lets in-flight
    // transfers confirm before it stops the validators itself.
    cmd.process_group(0);
    die_with_parent(&mut cmd);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", v.name))?;
    Ok(Node {
        name: v.name.clone(),
        identity: v.identity,
        rpc_url: format!("http://{}", v.rpc_addr),
        tpu_addr: v.tpu_addr,
        child,
    })
}

/// Asks the kernel to SIGTERM the validator if localnet itself dies, so no orphan keeps its ports.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

fn terminate(child: &mut Child) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn wait_healthy(node: &mut Node, stop: &AtomicBool) -> anyhow::Result<()> {
    let rpc = RpcClient::new(&node.rpc_url);
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Some(status) = node.child.try_wait()? {
            bail!(
                "{} exited during start-up ({status}); see its log",
                node.name
            );
        }
        if rpc.get_health().is_ok() {
            return Ok(());
        }
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted while waiting for {}", node.name);
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not become healthy within {STARTUP_TIMEOUT:?}",
                node.name
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn drive(
    args: &LocalnetArgs,
    cluster: &Cluster,
    nodes: &mut [Node],
    stop: &AtomicBool,
    log: &dyn Fn(String),
) -> anyhow::Result<()> {
    for (n, v) in nodes.iter_mut().zip(&cluster.validators) {
        wait_healthy(n, stop)?;
        log(format!(
            "localnet: {} identity {} rpc {} tpu {} log {}",
            n.name,
            n.identity,
            n.rpc_url,
            n.tpu_addr,
            v.log.display()
        ));
    }
    let (leader_identity, leader_rpc, leader_tpu) = (
        nodes[0].identity,
        nodes[0].rpc_url.clone(),
        nodes[0].tpu_addr,
    );
    let rpc = RpcClient::new(&leader_rpc);
    let load = LoadGenerator::start(LoadConfig {
        tpu_addr: leader_tpu,
        rpc_url: leader_rpc.clone(),
        accounts: args.accounts as u64,
        tps: args.tps,
        signer_threads: 1,
    })?;
    let started = Instant::now();
    let stats = load.stats().clone();
    let (mut last_sub, mut last_conf, mut last_t) = (0u64, 0u64, Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let done = args.duration.is_some_and(|d| started.elapsed() >= d);
        if done || stop.load(Ordering::SeqCst) {
            break;
        }
        for n in nodes.iter_mut() {
            if let Some(status) = n.child.try_wait()? {
                load.stop();
                bail!("{} exited unexpectedly ({status}); see its log", n.name);
            }
        }
        if last_t.elapsed() >= Duration::from_secs(1) {
            let dt = last_t.elapsed().as_secs_f64();
            let sub = stats.submitted.load(Ordering::Relaxed);
            let conf = stats.confirmed.load(Ordering::Relaxed);
            let slot = rpc
                .call("getSlot", json!([{"commitment": "processed"}]))
                .ok()
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            log(format!(
                "slot {slot:>6} | leader {} | submitted {:>7.0} tx/s | confirmed {:>7.0} tx/s | \
                 latency p50 {:>6.0} ms p99 {:>6.0} ms | total confirmed {conf}",
                short(&leader_identity),
                (sub - last_sub) as f64 / dt,
                (conf - last_conf) as f64 / dt,
                stats.latency_ms(50.0),
                stats.latency_ms(99.0),
            ));
            (last_sub, last_conf, last_t) = (sub, conf, Instant::now());
        }
    }
    load.stop_sending();
    let send_secs = started.elapsed().as_secs_f64();
    let drain_end = Instant::now() + DRAIN_TIMEOUT;
    while Instant::now() < drain_end
        && stats.confirmed.load(Ordering::Relaxed) < stats.submitted.load(Ordering::Relaxed)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = load.stop();
    let finalized = rpc
        .call("getSlot", json!([{"commitment": "finalized"}]))
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or_else(|| stats.confirmed_slot.load(Ordering::Relaxed));
    let processed = rpc
        .call("getSlot", json!([{"commitment": "processed"}]))
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(finalized);
    let submitted = stats.submitted.load(Ordering::Relaxed);
    let confirmed = stats.confirmed.load(Ordering::Relaxed);
    let summary = json!({
        "validators": nodes.len(),
        "genesis_hash": cluster.genesis.hash().to_string(),
        "slots": processed,
        "finalized_slot": finalized,
        "duration_s": send_secs,
        "tx_submitted": submitted,
        "tx_confirmed": confirmed,
        "tx_expired": stats.expired.load(Ordering::Relaxed),
        "tps": confirmed as f64 / send_secs.max(1e-9),
        "confirm_latency_ms": {"p50": stats.latency_ms(50.0), "p90": stats.latency_ms(90.0),
                               "p99": stats.latency_ms(99.0)},
        "rpc_urls": nodes.iter().map(|n| n.rpc_url.clone()).collect::<Vec<_>>(),
    });
    if args.json {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{summary}")?;
    } else {
        log(format!(
            "localnet: {confirmed} of {submitted} transfers confirmed in {send_secs:.1} s \
             ({:.0} tx/s), latency p50 {:.0} ms p99 {:.0} ms, finalized slot {finalized}",
            confirmed as f64 / send_secs.max(1e-9),
            stats.latency_ms(50.0),
            stats.latency_ms(99.0)
        ));
    }
    Ok(())
}

fn short(k: &Pubkey) -> String {
    let s = k.to_string();
    format!("{}…", &s[..6.min(s.len())])
}
