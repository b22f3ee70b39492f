//! `blackbook validator`: one node — the data-plane pipeline on its own threads, steered and served by
//! a tokio control plane (RPC, metrics, signals).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::routing::get;
use dataplane::cores::CorePlan;
use dataplane::forward::Forwarder;
use dataplane::genesis::Genesis;
use dataplane::packet::bind_udp;
use dataplane::pipeline::{LeaderPipeline, PipelineConfig};
use dataplane::plane::DataEvent;
use dataplane::poh::{check_leader_capacity, measure_hash_rate};
use dataplane::sealevel::Executor;
use dataplane::store::Store;
use dataplane::types::Pubkey;

use crate::chain::{Faucet, NodeChain};
use crate::config::Config;
use crate::metrics::{render, NodeMetrics};
use crate::replication::{self, Replication, ReplicationParts, ReplicationSockets};
use crate::rpc::RpcStats;
use crate::wallet;
use controlplane::leader::{decide, LeadDecision, LeaderView};
use controlplane::schedule::Schedules;
use controlplane::slot_clock::SlotClock;
use dataplane::plane::PeerAddrs;
use dataplane::types::Slot;

/// How long the start-up PoH speed check hashes.
const HASH_RATE_PROBE: Duration = Duration::from_millis(200);

/// Thread counts and dedicated cores for this machine, from the config or the cores available.
struct ThreadPlan {
    sigverify: usize,
    exec: usize,
    cores: CorePlan,
}

fn plan_threads(config: &Config, clustered: bool) -> ThreadPlan {
    let perf = &config.performance;
    // PoH, and in a cluster the shred receive and broadcast loops, get cores of their own only where
    // enough are left for everything else; on small machines nothing is pinned.
    let cores = CorePlan::for_this_machine(perf.pin_cores, clustered);
    let spare = cores.shared;
    let sigverify = match perf.sigverify_threads {
        0 => spare.saturating_sub(2).max(1),
        n => n,
    };
    let exec = match perf.worker_threads {
        0 => (spare / 4).max(1),
        n => n,
    };
    ThreadPlan {
        sigverify,
        exec,
        cores,
    }
}

/// The socket held transactions are forwarded from (Gulf Stream); its target comes from the control
/// loop.
fn forwarder(config: &Config) -> anyhow::Result<Forwarder> {
    let bind_ip = config.network.tpu_addr.ip();
    let socket = UdpSocket::bind((bind_ip, 0))
        .with_context(|| format!("binding the forwarding socket on {bind_ip}"))?;
    Ok(Forwarder::new(socket)?)
}

/// Stop-gap until the control loop drives the peer tables from gossip: the configured peers' TPU
/// addresses by identity, and their TVU and repair addresses sent once to the replication threads.
fn static_peers(
    config: &Config,
    replication: Option<&Replication>,
) -> anyhow::Result<HashMap<Pubkey, SocketAddr>> {
    let mut tpus = HashMap::new();
    let mut tvu = HashMap::new();
    let mut repair = Vec::new();
    for peer in &config.network.peers {
        let identity = peer.pubkey()?;
        tpus.insert(identity, peer.tpu_addr);
        tvu.insert(identity, peer.tvu_addr);
        repair.push(crate::repair_service::RepairPeer {
            identity,
            serve_repair: peer.serve_repair_addr,
        });
    }
    if let Some(r) = replication {
        let addrs = Arc::new(PeerAddrs { tvu });
        for s in &r.turbine_peers {
            let _ = s.try_send(addrs.clone());
        }
        let _ = r.repair_peers.try_send(repair);
    }
    Ok(tpus)
}

/// Runs the validator until SIGINT/SIGTERM.
pub fn run_validator(config: Config) -> anyhow::Result<()> {
    let genesis = Genesis::load(&config.consensus.genesis)
        .with_context(|| format!("loading genesis {}", config.consensus.genesis.display()))?;
    let genesis_hash = genesis.hash();
    let identity_key = wallet::read_keypair_file(&config.consensus.identity_keypair)
        .with_context(|| "consensus.identity_keypair")?;
    let identity = Pubkey(identity_key.verifying_key().to_bytes());
    tracing::info!(%identity, %genesis_hash, "starting BlackBook validator {}", env!("CARGO_PKG_VERSION"));

    let metrics = Arc::new(NodeMetrics::default());
    let measured = measure_hash_rate(HASH_RATE_PROBE);
    metrics
        .poh_hashes_per_second
        .store(measured, Ordering::Relaxed);
    let required = genesis.required_hashes_per_second();
    if let Err(e) = check_leader_capacity(measured, required) {
        bail!("refusing to lead: {e}");
    }
    tracing::info!(
        measured_hps = measured,
        required_hps = required,
        "PoH speed check passed"
    );

    // More than one validator: blocks travel as shreds and leaders rotate.
    let clustered = genesis.validators.len() > 1;
    let plan = plan_threads(&config, clustered);
    let ledger_dir = &config.storage.data_dir;
    std::fs::create_dir_all(ledger_dir)
        .with_context(|| format!("creating storage.data_dir {}", ledger_dir.display()))?;
    let store = Arc::new(open_store(ledger_dir, genesis_hash)?);
    let mut executor = Executor::new(plan.exec);
    // Stored blocks above the root rejoin the fork tree unrooted: only the control plane roots.
    let (forks, report) = dataplane::replay::load_cluster(&genesis, &store, &mut executor, 2)
        .context("loading the ledger")?;
    drop(executor);
    metrics
        .blocks_replayed
        .store(report.replayed.len() as u64, Ordering::Relaxed);
    metrics.root_slot.store(report.root.0, Ordering::Relaxed);
    tracing::info!(
        root = report.root.0,
        statuses_restored = report.statuses_restored,
        "ledger loaded: replayed {} stored blocks above the root",
        report.replayed.len()
    );

    let replication_sockets = if clustered {
        Some(ReplicationSockets::bind(&config)?)
    } else {
        None
    };
    let (shredding, sets_rx) = if clustered {
        let (sh, rx) = replication::shredding(&config, &genesis, &identity_key)?;
        (Some(sh), Some(rx))
    } else {
        (None, None)
    };
    let forwarder = if clustered {
        Some(forwarder(&config)?)
    } else {
        None
    };
    let (tpu, granted_rcv, _) = bind_udp(
        config.network.tpu_addr,
        config.network.udp_recv_buffer_bytes,
        config.network.udp_send_buffer_bytes,
    )
    .with_context(|| format!("binding network.tpu_addr {}", config.network.tpu_addr))?;
    tracing::info!(tpu = %config.network.tpu_addr, recv_buffer_bytes = granted_rcv,
        sigverify_threads = plan.sigverify, exec_threads = plan.exec, cores = ?plan.cores,
        "transaction pipeline starting");
    let pipeline = LeaderPipeline::start(
        PipelineConfig {
            identity,
            sigverify_threads: plan.sigverify,
            exec_threads: plan.exec,
            batch_size_max: config.performance.batch_size_max,
            poh_core: plan.cores.poh,
            shredding,
            forwarder,
        },
        &genesis,
        store.clone(),
        forks,
        tpu,
    )?;

    let replication = match (replication_sockets, sets_rx) {
        (Some(sockets), Some(sets)) => Some(Arc::new(Replication::start(
            ReplicationParts {
                config: &config,
                genesis: &genesis,
                keypair: &identity_key,
                forks: pipeline.forks.clone(),
                store: store.clone(),
                root_slot: pipeline.root_slot.clone(),
                sets,
                // A block's signatures are checked all at once between blocks, on every shared
                // core: a validator must keep up with a leader whose sigverify runs continuously.
                verify_threads: plan.cores.shared.max(1),
                exec_threads: plan.exec,
                cores: plan.cores,
                exit: pipeline.exit.clone(),
            },
            sockets,
        )?)),
        _ => None,
    };
    let tpus = static_peers(&config, replication.as_deref())?;

    let faucet = match &config.rpc.faucet_keypair {
        Some(path) => Some(Faucet {
            key: wallet::read_keypair_file(path).with_context(|| "rpc.faucet_keypair")?,
            max_lamports: config.rpc.faucet_max_lamports,
        }),
        None => None,
    };
    let chain = Arc::new(NodeChain {
        genesis: genesis.clone(),
        genesis_hash,
        identity,
        forks: pipeline.forks.clone(),
        working_slot: pipeline.working_slot.clone(),
        store: store.clone(),
        txns: pipeline.txns.clone(),
        counters: pipeline.counters.clone(),
        faucet,
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bbControl")
        .enable_all()
        .build()?;
    let leading = Leading {
        clock: SlotClock::new(&genesis),
        schedules: Schedules::new(&genesis),
        identity,
        tpus,
    };
    let result = runtime.block_on(control_plane(
        &config,
        chain,
        &pipeline,
        metrics,
        replication.clone(),
        leading,
    ));
    tracing::info!("stopping the pipeline");
    pipeline.exit.store(true, Ordering::SeqCst);
    if let Some(r) = replication.and_then(|r| Arc::try_unwrap(r).ok()) {
        r.join();
    }
    pipeline.shutdown();
    tracing::info!("stopped");
    result
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn open_store(dir: &Path, genesis_hash: dataplane::types::Hash) -> anyhow::Result<Store> {
    Store::open(dir, genesis_hash)
        .with_context(|| format!("opening the ledger in {}", dir.display()))
}

/// What the control plane needs to decide when this node leads and where to forward.
struct Leading {
    clock: SlotClock,
    schedules: Schedules,
    identity: Pubkey,
    tpus: HashMap<Pubkey, SocketAddr>,
}

/// The control plane: RPC and metrics server, data-plane events, leader turns and signal handling.
async fn control_plane(
    config: &Config,
    chain: Arc<NodeChain>,
    pipeline: &LeaderPipeline,
    metrics: Arc<NodeMetrics>,
    replication: Option<Arc<Replication>>,
    mut leading: Leading,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let rpc_task = if config.rpc.enabled {
        let addr: SocketAddr = config.rpc.addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding rpc.addr {addr}"))?;
        tracing::info!(%addr, "JSON-RPC listening");
        let counters = pipeline.counters.clone();
        let sig_stats = pipeline.sigverify_stats.clone();
        let forward_stats = pipeline.forward_stats.clone();
        let node_metrics = metrics.clone();
        let repl = replication.clone();
        let extra = axum::Router::new().route(
            "/metrics",
            get(move || {
                let text = {
                    node_metrics.sigverify_accepted.store(
                        sig_stats.accepted.load(Ordering::Relaxed),
                        Ordering::Relaxed,
                    );
                    if let Some(f) = &forward_stats {
                        node_metrics
                            .transactions_forwarded
                            .store(f.forwarded.load(Ordering::Relaxed), Ordering::Relaxed);
                        node_metrics
                            .transactions_forward_failed
                            .store(f.failed.load(Ordering::Relaxed), Ordering::Relaxed);
                    }
                    let mut text = render(&node_metrics, &counters);
                    if let Some(r) = &repl {
                        r.render_metrics(&mut text);
                    }
                    text
                };
                async move { text }
            }),
        );
        let mut stop = stop_rx.clone();
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        Some(tokio::spawn(crate::rpc::serve_with_routes(
            listener,
            chain.clone(),
            Arc::new(RpcStats::new()),
            extra,
            shutdown,
        )))
    } else {
        None
    };

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut lead_tick = tokio::time::interval(Duration::from_millis(5));
    let mut led_through: Option<Slot> = None;
    let mut forward_to: Option<Option<SocketAddr>> = None;
    let started = unix_ms();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT received"); break; }
            _ = sigterm.recv() => { tracing::info!("SIGTERM received"); break; }
            _ = lead_tick.tick() => {
                let now = unix_ms();
                let head = chain.forks.read().unwrap_or_else(|e| e.into_inner()).highest_frozen().slot();
                let seen = replication.as_ref().map(|r| r.newest_seen()).unwrap_or_default();
                let view = LeaderView { now, head, seen, led_through, started, predecessor_arriving: false };
                if let LeadDecision::Lead(cmd) =
                    decide(&leading.clock, &mut leading.schedules, &leading.identity, view)
                {
                    tracing::info!(first = cmd.first.0, last = cmd.last.0, parent = cmd.parent.0, "leading");
                    led_through = Some(cmd.last);
                    let _ = pipeline.lead.try_send(cmd);
                }
                // Gulf Stream: the current leader's TPU, unless this node leads now or next.
                let slot = leading.clock.slot_at(now);
                let me = Some(leading.identity);
                let target = if leading.schedules.leader(slot) == me
                    || leading.schedules.leader(slot.next()) == me
                {
                    None
                } else {
                    leading.schedules.leader(slot).and_then(|l| leading.tpus.get(&l).copied())
                };
                if forward_to != Some(target) && pipeline.forward_to.try_send(target).is_ok() {
                    forward_to = Some(target);
                }
            }
            _ = tick.tick() => {
                while let Ok(ev) = pipeline.events.try_recv() {
                    on_data_event(&metrics, &chain.store, ev);
                }
                if let Some(r) = &replication {
                    while let Ok(ev) = r.events.try_recv() {
                        if let DataEvent::MissingParent { parent, .. } = ev {
                            let _ = r.orphans.try_send(parent);
                        }
                        on_data_event(&metrics, &chain.store, ev);
                    }
                }
                metrics.slot.store(pipeline.working_slot.load(Ordering::Relaxed), Ordering::Relaxed);
                if pipeline.exit.load(Ordering::Relaxed) {
                    let _ = stop_tx.send(true);
                    if let Some(t) = rpc_task { let _ = t.await; }
                    bail!("a pipeline stage stopped; see the log above");
                }
            }
        }
    }
    let _ = stop_tx.send(true);
    if let Some(t) = rpc_task {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    Ok(())
}

fn on_data_event(metrics: &NodeMetrics, store: &Store, ev: DataEvent) {
    match ev {
        DataEvent::BankFrozen {
            transactions, own, ..
        } => {
            if own {
                metrics.blocks_stored.fetch_add(1, Ordering::Relaxed);
                metrics
                    .transactions_included
                    .fetch_add(u64::from(transactions), Ordering::Relaxed);
            } else {
                metrics.blocks_replayed.fetch_add(1, Ordering::Relaxed);
            }
        }
        DataEvent::Rooted { slot } => metrics.root_slot.store(slot.0, Ordering::Relaxed),
        DataEvent::DuplicateSlotProof {
            slot,
            first,
            second,
        } => {
            metrics
                .duplicate_slot_proofs
                .fetch_add(1, Ordering::Relaxed);
            // Kept durably for duplicate-slot handling and slashing evidence (consensus acts on it).
            match store.put_duplicate_proof(slot, &first, &second) {
                Ok(true) => tracing::warn!(
                    slot = slot.0,
                    "duplicate-slot proof kept: the leader equivocated"
                ),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(slot = slot.0, "keeping a duplicate-slot proof failed: {e}")
                }
            }
        }
        DataEvent::BlockDead { .. }
        | DataEvent::MissingParent { .. }
        | DataEvent::SlotStarted { .. } => {}
    }
}
