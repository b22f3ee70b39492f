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
    DEFAULT_TICKS_PER_SLOT,
};
use dataplane::types::{Pubkey, Slot, LAMPORTS_PER_TOKEN};
use ed25519_dalek::SigningKey;
use serde_json::json;

use crate::cli::LocalnetArgs;
use crate::loadgen::{load_account, LoadConfig, LoadGenerator, TpuTargets};
use crate::rpc_client::RpcClient;
use crate::wallet;
use controlplane::schedule::Schedules;
use controlplane::slot_clock::SlotClock;

mod faults;
use faults::{FaultPlan, FaultRecord};

/// Slots per epoch of a local cluster.
pub const LOCALNET_SLOTS_PER_EPOCH: u64 = 64;
/// Most validators one localnet starts (each is a full process; a laptop runs a handful).
const VALIDATORS_MAX: usize = 32;
/// Lamports in each load account at genesis.
const LOAD_ACCOUNT_LAMPORTS: u64 = 1_000 * LAMPORTS_PER_TOKEN;
/// Lamports in the faucet at genesis.
const FAUCET_LAMPORTS: u64 = 500_000_000 * LAMPORTS_PER_TOKEN;
/// Stake of each validator at genesis.
const VALIDATOR_STAKE: u64 = 1_000_000 * LAMPORTS_PER_TOKEN;
/// How long a validator may take to answer `getHealth` after start.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of a validator's log quoted when it exits unexpectedly.
const EXIT_LOG_LINES: usize = 30;
/// How long in-flight transfers may take to confirm after the load stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(4);

/// One validator process and where to reach it.
struct Node {
    name: String,
    identity: Pubkey,
    rpc_url: String,
    /// Its PubSub (WebSocket) URL.
    ws_url: String,
    tpu_addr: SocketAddr,
    log: PathBuf,
    child: Child,
    /// Killed on purpose (a fault the run injects): its exit is expected.
    killed: bool,
}

/// Runs the local cluster until the duration ends or Ctrl-C.
pub fn run(args: LocalnetArgs) -> anyhow::Result<()> {
    if args.validators == 0 {
        bail!("--validators must be at least 1");
    }
    if args.validators > VALIDATORS_MAX {
        bail!(
            "--validators {}: localnet starts at most {VALIDATORS_MAX} validators",
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
            if args.keep {
                // Detached from the guard, so nothing deletes it.
                (t.keep(), None)
            } else {
                (t.path().to_path_buf(), Some(t))
            }
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
    let late = match args.late_start {
        Some(_) if cluster.validators.len() < 2 => {
            bail!("--late-start needs at least 2 validators")
        }
        Some(_) => cluster.validators.last(),
        None => None,
    };
    for v in &cluster.validators {
        if late.is_some_and(|l| std::ptr::eq(l, v)) {
            continue;
        }
        nodes.push(spawn_validator(&exe, v)?);
    }
    let result = drive(
        &args,
        &cluster,
        &mut nodes,
        &stop,
        &log,
        late.map(|v| (&exe, v)),
    );
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
    pubsub_addr: SocketAddr,
    tpu_addr: SocketAddr,
}

/// Ports of one validator.
struct Ports {
    gossip: SocketAddr,
    tpu: SocketAddr,
    tpu_quic: SocketAddr,
    tvu: SocketAddr,
    repair: SocketAddr,
    serve_repair: SocketAddr,
    tpu_vote: SocketAddr,
    tpu_vote_quic: SocketAddr,
    rpc: SocketAddr,
    pubsub: SocketAddr,
}

fn ports(base_port: u16, i: usize) -> anyhow::Result<Ports> {
    let port = |offset: u16| -> anyhow::Result<SocketAddr> {
        let p = base_port
            .checked_add(i as u16 * 10 + offset)
            .context("--base-port too high for this many validators")?;
        Ok(SocketAddr::from(([127, 0, 0, 1], p)))
    };
    Ok(Ports {
        gossip: port(1)?,
        tpu: port(3)?,
        tvu: port(4)?,
        repair: port(5)?,
        serve_repair: port(6)?,
        tpu_vote: port(7)?,
        // Not the vote port + 6 either (the next validator's block): offset 2 is free.
        tpu_vote_quic: port(2)?,
        // Not Solana's TPU + 6, which is the RPC port in this layout: advertised as tpuQuic.
        tpu_quic: port(8)?,
        rpc: port(9)?,
        // The RPC port + 1, where Solana's clients look: the next validator's offset 0, which no
        // validator uses.
        pubsub: port(10)?,
    })
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
    let keys: Vec<SigningKey> = (0..args.validators)
        .map(|_| SigningKey::generate(&mut rand::rngs::OsRng))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        let name = format!("validator-{i}");
        let vdir = dir.join(&name);
        fs::create_dir_all(&vdir)?;
        let identity = Pubkey(key.verifying_key().to_bytes());
        wallet::write_keypair_file(&vdir.join("identity.json"), key, true)?;
        let p = ports(args.base_port, i)?;
        let faucet_line = if i == 0 {
            format!("faucet_keypair = {:?}\n", faucet_path.display().to_string())
        } else {
            String::new()
        };
        // Every node knows one seed (validator 0; validator 0 itself validator 1): gossip finds
        // the rest.
        let seed = if i == 0 { 1 % keys.len() } else { 0 };
        let seeds = if keys.len() > 1 {
            format!(
                "[gossip]\nseeds = [\"{}\"]\n\n",
                ports(args.base_port, seed)?.gossip
            )
        } else {
            String::new()
        };
        let limit_line = args
            .limit_ledger_slots
            .map(|n| format!("limit_ledger_slots = {n}\n"))
            .unwrap_or_default();
        let config = format!(
            "# Written by `blackbook localnet`.\n\
             [network]\nlisten_addr = \"{}\"\ntpu_addr = \"{}\"\ntpu_quic_addr = \"{}\"\n\
             tpu_vote_addr = \"{}\"\ntpu_vote_quic_addr = \"{}\"\n\
             tvu_addr = \"{}\"\nrepair_addr = \"{}\"\nserve_repair_addr = \"{}\"\n\n{seeds}\
             [consensus]\nidentity_keypair = \"identity.json\"\ngenesis = \"../genesis.json\"\n\n\
             [storage]\ndata_dir = \"ledger\"\n{limit_line}\n\
             [rpc]\naddr = \"{}\"\npubsub_addr = \"{}\"\n{faucet_line}\n\
             [performance]\npin_cores = false\n",
            p.gossip,
            p.tpu,
            p.tpu_quic,
            p.tpu_vote,
            p.tpu_vote_quic,
            p.tvu,
            p.repair,
            p.serve_repair,
            p.rpc,
            p.pubsub
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
            rpc_addr: p.rpc,
            pubsub_addr: p.pubsub,
            tpu_addr: p.tpu,
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
        // Short epochs, so every run crosses epoch boundaries (schedules, credits).
        slots_per_epoch: LOCALNET_SLOTS_PER_EPOCH,
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
        ws_url: format!("ws://{}", v.pubsub_addr),
        tpu_addr: v.tpu_addr,
        log: v.log.clone(),
        child,
        killed: false,
    })
}

/// The last `lines` lines of a validator's log (for an error message).
fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return format!("(cannot read {})", path.display());
    };
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
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
    nodes: &mut Vec<Node>,
    stop: &AtomicBool,
    log: &dyn Fn(String),
    late: Option<(&PathBuf, &ValidatorFiles)>,
) -> anyhow::Result<()> {
    for (n, v) in nodes.iter_mut().zip(&cluster.validators) {
        wait_healthy(n, stop)?;
        log(format!(
            "localnet: {} identity {} rpc {} ws {} tpu {} log {}",
            n.name,
            n.identity,
            n.rpc_url,
            n.ws_url,
            n.tpu_addr,
            v.log.display()
        ));
    }
    let rpc_url = nodes[0].rpc_url.clone();
    let rpc = RpcClient::new(&rpc_url);
    let mut node_rpcs: Vec<RpcClient> = nodes.iter().map(|n| RpcClient::new(&n.rpc_url)).collect();
    let tpu = if cluster.validators.len() == 1 {
        TpuTargets::single(nodes[0].tpu_addr)
    } else {
        TpuTargets::cluster(
            &cluster.genesis,
            cluster
                .validators
                .iter()
                .map(|v| (v.identity, v.tpu_addr))
                .collect(),
        )
    };
    let clock = SlotClock::new(&cluster.genesis);
    let mut schedules = Schedules::new(&cluster.genesis);
    let load = LoadGenerator::start(LoadConfig {
        tpu,
        rpc_url: rpc_url.clone(),
        accounts: args.accounts as u64,
        tps: args.tps,
        signer_threads: 1,
    })?;
    let started = Instant::now();
    let late_exe = late.map(|(e, _)| e.as_path());
    let mut late = late;
    let fault_plan = args.kill_leader_at.map(|at| FaultPlan {
        kill_leader_at: Some(at),
        restart_after: args.restart_after,
        lose_tower: args.lose_tower,
    });
    let mut record = FaultRecord::default();
    let mut lags: Vec<u64> = Vec::new();
    let stats = load.stats().clone();
    let (mut last_sub, mut last_conf, mut last_t) = (0u64, 0u64, Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let done = args.duration.is_some_and(|d| started.elapsed() >= d);
        if done || stop.load(Ordering::SeqCst) {
            break;
        }
        if let (Some((exe, v)), Some(after)) = (late, args.late_start) {
            if started.elapsed() >= after {
                log(format!("localnet: starting {} late", v.name));
                let node = spawn_validator(exe, v)?;
                node_rpcs.push(RpcClient::new(&node.rpc_url));
                nodes.push(node);
                late = None;
            }
        }
        if let Some(plan) = fault_plan {
            inject_faults(
                plan,
                &mut record,
                FaultContext {
                    started,
                    clock: &clock,
                    schedules: &mut schedules,
                    cluster,
                    exe: late_exe,
                    rpc: &rpc,
                },
                nodes,
                log,
            )?;
        }
        for n in nodes.iter_mut().filter(|n| !n.killed) {
            if let Some(status) = n.child.try_wait()? {
                load.stop();
                bail!(
                    "{} exited unexpectedly ({status}); the end of its log {}:\n{}",
                    n.name,
                    n.log.display(),
                    log_tail(&n.log, EXIT_LOG_LINES)
                );
            }
        }
        if last_t.elapsed() >= Duration::from_secs(1) {
            let dt = last_t.elapsed().as_secs_f64();
            let sub = stats.submitted.load(Ordering::Relaxed);
            let conf = stats.confirmed.load(Ordering::Relaxed);
            let slots: Vec<u64> = node_rpcs
                .iter()
                .map(|r| processed_slot(r).unwrap_or(0))
                .collect();
            let slot = slots.iter().copied().max().unwrap_or(0);
            let leader = if nodes.len() == 1 {
                nodes[0].identity
            } else {
                schedules
                    .leader(clock.slot_at(unix_ms()))
                    .unwrap_or_default()
            };
            let lag = if nodes.len() > 1 {
                // Each node's newest block and how many slots it trails the newest anywhere.
                format!(
                    " | nodes {}",
                    slots
                        .iter()
                        .map(|s| format!("{s}(-{})", slot.saturating_sub(*s)))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            } else {
                String::new()
            };
            let levels = commitment_slots(&rpc);
            if let Some((processed, _, finalized, _)) = levels {
                lags.push(processed.saturating_sub(finalized));
            }
            let consensus = levels.map_or(String::new(), |(p, c, f, skipped)| {
                format!(" | processed {p} confirmed {c} finalized {f} skipped {skipped}")
            });
            log(format!(
                "slot {slot:>6} | leader {}{consensus}{lag} | submitted {:>7.0} tx/s | confirmed {:>7.0} tx/s | \
                 latency p50 {:>6.0} ms p99 {:>6.0} ms | total confirmed {conf}",
                short(&leader),
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
    let processed = rpc
        .call("getSlot", json!([{"commitment": "processed"}]))
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let submitted = stats.submitted.load(Ordering::Relaxed);
    let confirmed = stats.confirmed.load(Ordering::Relaxed);
    let comparison = compare_ledgers(&node_rpcs, stop);
    // After the comparison's settling pause, so the newest roots are in.
    let finalized = rpc
        .call("getSlot", json!([{"commitment": "finalized"}]))
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or_else(|| stats.confirmed_slot.load(Ordering::Relaxed));
    let confirmed_now = rpc
        .call("getSlot", json!([{"commitment": "confirmed"}]))
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(finalized);
    let identities: Vec<Pubkey> = cluster.validators.iter().map(|v| v.identity).collect();
    let votes = faults::vote_summary(&rpc, 1, confirmed_now, &record, &identities);
    lags.sort_unstable();
    let lag_at = |q: f64| {
        lags.get(((lags.len().saturating_sub(1)) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let slot_ms = cluster.genesis.slot_duration_ms.max(1) as f64;
    // Whose turns were skipped, by validator name.
    let mut skipped_by_leader = serde_json::Map::new();
    for s in &comparison.skipped_slots {
        let name = schedules
            .leader(Slot(*s))
            .and_then(|l| cluster.validators.iter().find(|v| v.identity == l))
            .map_or("unknown".to_owned(), |v| v.name.clone());
        let n = skipped_by_leader
            .get(&name)
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        skipped_by_leader.insert(name, json!(n + 1));
    }
    let counters: Vec<serde_json::Map<String, serde_json::Value>> =
        nodes.iter().map(replication_counters).collect();
    let mut replication = serde_json::Map::new();
    for node in &counters {
        for (name, v) in node {
            let sum = replication.get(name).and_then(|x| x.as_u64()).unwrap_or(0)
                + v.as_u64().unwrap_or(0);
            replication.insert(name.clone(), json!(sum));
        }
    }
    let per_node: Vec<serde_json::Value> = nodes
        .iter()
        .zip(&counters)
        .zip(&node_rpcs)
        .map(|((n, c), r)| {
            json!({
                "name": n.name,
                "identity": n.identity.to_string(),
                "slot": processed_slot(r),
                "finalized_slot": r.call("getSlot", json!([{"commitment": "finalized"}])).ok(),
                // Validators whose QUIC TPU this node knows (its own, and those gossip announced).
                "tpu_quic_known": r.call("getClusterNodes", json!([])).ok().map(|nodes| {
                    nodes.as_array().map_or(0, |a| {
                        a.iter().filter(|n| n["tpuQuic"].is_string()).count()
                    })
                }),
                "replication": c,
            })
        })
        .collect();
    let summary = json!({
        "validators": nodes.len(),
        "genesis_hash": cluster.genesis.hash().to_string(),
        "slots": processed,
        "finalized_slot": finalized,
        "duration_s": send_secs,
        "tx_submitted": submitted,
        "tx_confirmed": confirmed,
        "tx_expired": stats.expired.load(Ordering::Relaxed),
        "tx_resent": stats.resent.load(Ordering::Relaxed),
        "tps": confirmed as f64 / send_secs.max(1e-9),
        "confirm_latency_ms": {"p50": stats.latency_ms(50.0), "p90": stats.latency_ms(90.0),
                               "p99": stats.latency_ms(99.0)},
        // First send to the end of the including block's slot; the rest is confirmation.
        "inclusion_latency_ms": {"p50": stats.inclusion_ms(50.0), "p90": stats.inclusion_ms(90.0),
                                 "p99": stats.inclusion_ms(99.0)},
        "confirm_latency_slots": {"p50": stats.latency_ms(50.0) / slot_ms,
                                  "p99": stats.latency_ms(99.0) / slot_ms},
        "finalized_lag_slots": {"p50": lag_at(0.5), "max": lags.last().copied().unwrap_or(0)},
        "skipped_slots": comparison.skipped,
        "skipped_slot_list": comparison.skipped_slots,
        "skipped_by_leader": skipped_by_leader,
        "votes": votes,
        "rpc_urls": nodes.iter().map(|n| n.rpc_url.clone()).collect::<Vec<_>>(),
        "ws_urls": nodes.iter().map(|n| n.ws_url.clone()).collect::<Vec<_>>(),
        "ledgers_identical": comparison.identical,
        "ledgers_compared_through_slot": comparison.through_slot,
        "ledgers_compared_blocks": comparison.blocks,
        "ledger_differences": comparison.differences,
        "leaders_in_chain": comparison.leaders,
        "replication": replication,
        "nodes": per_node,
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
        if nodes.len() > 1 {
            log(format!(
                "localnet: ledgers {} on all {} validators through slot {} ({} blocks compared)",
                if comparison.identical {
                    "identical"
                } else {
                    "DIFFER"
                },
                nodes.len(),
                comparison.through_slot,
                comparison.blocks
            ));
            for d in &comparison.differences {
                log(format!("localnet:   {d}"));
            }
        }
    }
    Ok(())
}

/// (processed, confirmed, finalized, skipped slots on the processed fork) from one node.
fn commitment_slots(rpc: &RpcClient) -> Option<(u64, u64, u64, u64)> {
    let at = |c: &str, method: &str| {
        rpc.call(method, json!([{ "commitment": c }]))
            .ok()
            .and_then(|v| v.as_u64())
    };
    let processed = at("processed", "getSlot")?;
    let height = at("processed", "getBlockHeight")?;
    Some((
        processed,
        at("confirmed", "getSlot")?,
        at("finalized", "getSlot")?,
        // Every slot up to the head either holds a block of its fork or was skipped.
        processed.saturating_sub(height),
    ))
}

/// What [`inject_faults`] needs from the run.
struct FaultContext<'a> {
    started: Instant,
    clock: &'a SlotClock,
    schedules: &'a mut Schedules,
    cluster: &'a Cluster,
    exe: Option<&'a Path>,
    rpc: &'a RpcClient,
}

/// Kills the current leader at the planned time (never validator 0, which serves the load
/// generator: it waits for the next leader then) and restarts it later, without its tower if
/// planned.
fn inject_faults(
    plan: FaultPlan,
    record: &mut FaultRecord,
    cx: FaultContext<'_>,
    nodes: &mut [Node],
    log: &dyn Fn(String),
) -> anyhow::Result<()> {
    let elapsed = cx.started.elapsed();
    if record.killed.is_none() && plan.kill_leader_at.is_some_and(|at| elapsed >= at) {
        let slot = cx.clock.slot_at(unix_ms());
        let leader = cx.schedules.leader(slot);
        if let Some(k) = nodes
            .iter()
            .position(|n| Some(n.identity) == leader)
            .filter(|k| *k > 0)
        {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(nodes[k].child.id() as i32, libc::SIGKILL);
            }
            let _ = nodes[k].child.wait();
            nodes[k].killed = true;
            record.killed = Some(k);
            record.kill_slot = slot.0;
            record.killed_at = Some(Instant::now());
            log(format!(
                "localnet: killed {} (SIGKILL), the leader of slot {slot}",
                nodes[k].name
            ));
        }
    }
    if let (Some(k), Some(at), None) = (record.killed, record.killed_at, record.restart_slot) {
        if at.elapsed() >= plan.restart_after {
            let v = &cx.cluster.validators[k];
            if plan.lose_tower {
                let tower = v
                    .config
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("ledger")
                    .join(crate::node::TOWER_FILE);
                match fs::remove_file(&tower) {
                    Ok(()) => log(format!("localnet: deleted {}", tower.display())),
                    Err(e) => log(format!("localnet: deleting {}: {e}", tower.display())),
                }
            }
            let exe = match cx.exe {
                Some(e) => e.to_path_buf(),
                None => std::env::current_exe().context("locating the blackbook binary")?,
            };
            let node = spawn_validator(&exe, v)?;
            let slot = cx.clock.slot_at(unix_ms());
            record.restart_slot = Some(slot.0);
            record.finalized_at_restart = cx
                .rpc
                .call("getSlot", json!([{"commitment": "finalized"}]))
                .ok()
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            log(format!("localnet: restarted {} at slot {slot}", v.name));
            nodes[k] = node;
        }
    }
    Ok(())
}

/// One validator's replication counters from its `/metrics` (erasure recovery, repair and its
/// ping/pong address checks, dead blocks, refused shreds, forwarded transactions, over QUIC and
/// staked at the leader), so a run can show that the paths it exercised really worked; summed over
/// the validators for the summary's `replication`.
fn replication_counters(n: &Node) -> serde_json::Map<String, serde_json::Value> {
    // (exposition name, summary key): repair's counters keep the summary's older, shorter keys.
    let names = [
        ("blackbook_shreds_recovered_total", "shreds_recovered_total"),
        ("blackbook_shreds_repaired_total", "shreds_repaired_total"),
        (
            "blackbook_shreds_retransmitted_total",
            "shreds_retransmitted_total",
        ),
        (
            "blackbook_blocks_replayed_from_network_total",
            "blocks_replayed_from_network_total",
        ),
        ("blackbook_blocks_dead_total", "blocks_dead_total"),
        (
            "blackbook_shreds_fault_dropped_total",
            "shreds_fault_dropped_total",
        ),
        (
            "blackbook_fec_sets_fault_dropped_total",
            "fec_sets_fault_dropped_total",
        ),
        (
            "blackbook_repair_responses_accepted_total",
            "repair_responses_accepted",
        ),
        ("blackbook_repair_serve_served_total", "repair_serve_served"),
        (
            "blackbook_repair_serve_pings_sent_total",
            "repair_serve_pings_sent",
        ),
        (
            "blackbook_repair_serve_pongs_accepted_total",
            "repair_serve_pongs_accepted",
        ),
        (
            "blackbook_repair_serve_rejected_unverified_address_total",
            "repair_serve_rejected_unverified_address",
        ),
        (
            "blackbook_transactions_forwarded_total",
            "transactions_forwarded_total",
        ),
        (
            "blackbook_transactions_forward_dropped_forwarded_total",
            "transactions_forward_dropped_forwarded_total",
        ),
        (
            "blackbook_sigverify_shed_forwarded_total",
            "sigverify_shed_forwarded_total",
        ),
        (
            "blackbook_sigverify_shed_late_total",
            "sigverify_shed_late_total",
        ),
        (
            "blackbook_sigverify_shed_stale_total",
            "sigverify_shed_stale_total",
        ),
        (
            "blackbook_sigverify_shed_backlog_total",
            "sigverify_shed_backlog_total",
        ),
        (
            "blackbook_forward_quic_sent_total",
            "transactions_forwarded_quic_total",
        ),
        (
            "blackbook_tpu_quic_staked_transactions_total",
            "tpu_quic_staked_transactions_total",
        ),
        ("blackbook_vote_quic_sent_total", "votes_sent_quic_total"),
        (
            "blackbook_vote_quic_sent_by_udp_total",
            "votes_sent_by_udp_fallback_total",
        ),
        (
            "blackbook_tpu_vote_quic_staked_transactions_total",
            "votes_received_quic_total",
        ),
    ];
    let mut counters = serde_json::Map::new();
    let url = format!("{}/metrics", n.rpc_url);
    let Ok(mut resp) = ureq::get(&url).call() else {
        return counters;
    };
    let Ok(text) = resp.body_mut().read_to_string() else {
        return counters;
    };
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(v) = value.parse::<u64>() else {
            continue;
        };
        if let Some((_, key)) = names.iter().find(|(n, _)| *n == name) {
            counters.insert((*key).to_owned(), json!(v));
        } else if let Some(reason) = name
            .strip_prefix("blackbook_blocks_dead_by_reason_total{reason=\"")
            .and_then(|r| r.strip_suffix("\"}"))
        {
            counters.insert(format!("blocks_dead_{reason}"), json!(v));
        }
    }
    counters
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn processed_slot(rpc: &RpcClient) -> Option<u64> {
    rpc.call("getSlot", json!([{"commitment": "processed"}]))
        .ok()
        .and_then(|v| v.as_u64())
}

/// One block of a rooted chain as compared: slot, parent, blockhash, bank hash, leader, transaction
/// count.
type ChainBlock = (u64, u64, String, String, String, u64);

/// What comparing the validators' rooted chains found.
struct LedgerComparison {
    identical: bool,
    through_slot: u64,
    blocks: u64,
    skipped: u64,
    /// The skipped slots themselves.
    skipped_slots: Vec<u64>,
    /// Distinct leaders of the compared blocks (rotation at work).
    leaders: usize,
    differences: Vec<String>,
}

/// Compares every validator's rooted chain (slot, parent, blockhash, bank hash, leader and
/// transaction count of each block, from `getBlockHeader`) up to the lowest finalized slot among
/// them. Equal blockhashes mean equal PoH chains and so equal entries and transactions; equal bank
/// hashes mean every validator reached the same state executing them.
fn compare_ledgers(rpcs: &[RpcClient], stop: &AtomicBool) -> LedgerComparison {
    // Give the last blocks a moment to root everywhere.
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let finalized: Vec<u64> = rpcs
        .iter()
        .map(|r| {
            r.call("getSlot", json!([{"commitment": "finalized"}]))
                .ok()
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
        })
        .collect();
    let through = finalized.iter().copied().min().unwrap_or(0);
    let mut differences = Vec::new();
    // A block (slot first); `Ok(None)` for a slot the node has no block for (skipped, or not stored
    // there); `Err` when the node could not be asked (retried first).
    let fetch = |r: &RpcClient, slot: u64| -> Result<Option<ChainBlock>, String> {
        let params = json!([slot]);
        let mut last_err = String::new();
        for _ in 0..5 {
            match r.call("getBlockHeader", params.clone()) {
                Ok(v) => {
                    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
                    return Ok((|| {
                        Some((
                            slot,
                            v.get("parentSlot")?.as_u64()?,
                            text("blockhash")?,
                            text("bankHash")?,
                            text("leader")?,
                            v.get("transactionCount")?.as_u64()?,
                        ))
                    })());
                }
                Err(crate::rpc_client::RpcClientError::Rpc { .. }) => return Ok(None),
                Err(e) => {
                    last_err = e.to_string();
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        Err(last_err)
    };
    // Each node's rooted chain, walked back from its newest finalized block through parent links, so
    // that blocks of abandoned forks a node happens to store are not compared.
    let chain_of = |r: &RpcClient, from: u64| -> Result<Vec<ChainBlock>, String> {
        let mut chain = Vec::new();
        let mut slot = from;
        // The finalized slot itself may be skipped on this node: step down to its newest block.
        let mut block = fetch(r, slot)?;
        while block.is_none() && slot > 0 {
            slot -= 1;
            block = fetch(r, slot)?;
        }
        while let Some(b) = block {
            let parent = b.1;
            chain.push(b);
            if slot == 0 || parent >= slot {
                break;
            }
            slot = parent;
            block = fetch(r, slot)?;
        }
        chain.reverse();
        Ok(chain)
    };
    let chains: Vec<Result<Vec<ChainBlock>, String>> = rpcs
        .iter()
        .zip(&finalized)
        .map(|(r, f)| chain_of(r, *f).map(|c| c.into_iter().filter(|b| b.0 <= through).collect()))
        .collect();
    let (blocks, leaders, first_block, skipped_slots) = match &chains[0] {
        Ok(c) => {
            let leaders: std::collections::BTreeSet<&str> =
                c.iter().filter(|b| b.0 > 0).map(|b| b.4.as_str()).collect();
            let first = c.iter().map(|b| b.0).filter(|s| *s > 0).min();
            let held: std::collections::BTreeSet<u64> = c.iter().map(|b| b.0).collect();
            let skipped = first.map_or(Vec::new(), |f| {
                (f..=through).filter(|s| !held.contains(s)).collect()
            });
            (c.len() as u64, leaders.len(), first, skipped)
        }
        Err(_) => (0, 0, None, Vec::new()),
    };
    for (i, c) in chains.iter().enumerate().skip(1) {
        if *c != chains[0] && differences.len() < 16 {
            let first_diff = match (&chains[0], c) {
                (Ok(a), Ok(b)) => a
                    .iter()
                    .zip(b)
                    .find(|(x, y)| x != y)
                    .map(|(x, y)| format!("{x:?} vs {y:?}"))
                    .unwrap_or_else(|| format!("{} vs {} blocks", a.len(), b.len())),
                (a, b) => format!("{:?} vs {:?}", a.as_ref().err(), b.as_ref().err()),
            };
            differences.push(format!(
                "validator-{i}'s rooted chain differs from validator-0's: {first_diff}"
            ));
        }
    }
    LedgerComparison {
        identical: differences.is_empty() && through > 0,
        through_slot: through,
        blocks,
        // Slots from the first block after genesis (before it, the nodes were still starting) to
        // the compared end that hold no block of the rooted chain.
        skipped: first_block.map_or(0, |f| {
            (through + 1)
                .saturating_sub(f)
                .saturating_sub(blocks.saturating_sub(1))
        }),
        skipped_slots,
        leaders,
        differences,
    }
}

fn short(k: &Pubkey) -> String {
    let s = k.to_string();
    format!("{}…", &s[..6.min(s.len())])
}
