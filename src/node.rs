//! `blackbook validator`: one node — the data-plane pipeline on its own threads, steered by the
//! control-plane core on one tokio task (see [`crate::control`]) and served by RPC and metrics.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::routing::get;
use controlplane::gossip::{ContactInfo, GossipConfig, SoftwareVersion};
use controlplane::io::Input;
use controlplane::node::{Node, NodeConfig, Restored, TowerStart};
use controlplane::schedule::Schedules;
use controlplane::slot_clock::SlotClock;
use controlplane::tower::file as tower_file;
use dataplane::cores::CorePlan;
use dataplane::forward::Forwarder;
use dataplane::genesis::Genesis;
use dataplane::packet::bind_udp;
use dataplane::pipeline::{LeaderPipeline, PipelineConfig};
use dataplane::plane::BankFrozen;
use dataplane::poh::{check_leader_capacity, measure_hash_rate};
use dataplane::sealevel::Executor;
use dataplane::shred::shred_version;
use dataplane::store::{Durability, Store};
use dataplane::types::{Hash, Pubkey, Slot};

use crate::chain::{Faucet, NodeChain};
use crate::cluster_view::ClusterView;
use crate::config::Config;
use crate::control::{self, ControlIo, DataPlaneCommands, RepairEdge};
use crate::metrics::{render, NodeMetrics, QuicMetrics};
use crate::replication::{self, Replication, ReplicationParts, ReplicationSockets};
use crate::rpc::cluster::EvidenceRecord;
use crate::rpc::pubsub::{self, EventFeed, PubSub};
use crate::rpc::RpcStats;
use crate::tpu_quic::forward::{
    quic_forwarder, QuicForwardDriver, QuicForwarder, FORWARD_PEERS_MAX, VOTE_PEERS_MAX,
};
use crate::tpu_quic::{self, QuicStats, TpuSink};
use crate::wallet;
use ed25519_dalek::SigningKey;

/// How long the start-up PoH speed check hashes.
const HASH_RATE_PROBE: Duration = Duration::from_millis(200);
/// The tower file's name in `storage.data_dir`.
pub const TOWER_FILE: &str = "tower.bin";
/// Votes read from QUIC and not yet taken by the control task (a few slots of every validator's).
const QUIC_VOTES_QUEUE: usize = 4_096;
/// A node with no tower and no stored blocks that starts within this many slots of genesis is part
/// of a new cluster: nobody can have voted yet, so it votes at once. Later, a missing tower means a
/// lost one, and the node waits for finality to pass the slot it started at before voting.
pub const FRESH_CLUSTER_SLOTS: u64 = 64;
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

/// The forwarder of held transactions (Gulf Stream): over QUIC as `identity` to leaders that
/// announce a QUIC TPU, from a UDP socket to the rest; its target comes from the control plane.
/// The QUIC side's driver is returned to run on the QUIC runtime.
fn forwarder(
    config: &Config,
    identity: &SigningKey,
    stats: &QuicStats,
) -> anyhow::Result<(Forwarder, QuicForwardDriver)> {
    let bind_ip = config.network.tpu_addr.ip();
    let socket = UdpSocket::bind((bind_ip, 0))
        .with_context(|| format!("binding the forwarding socket on {bind_ip}"))?;
    let (quic, driver) =
        quic_forwarder(identity, bind_ip, stats.forward.clone(), FORWARD_PEERS_MAX)?;
    Ok((Forwarder::new(socket)?.with_quic(Box::new(quic)), driver))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn open_store(dir: &Path, genesis_hash: Hash, cache_mib: u64) -> anyhow::Result<Store> {
    let cache_bytes = usize::try_from(cache_mib << 20).unwrap_or(usize::MAX);
    Store::open_with(dir, genesis_hash, Durability::Immediate, cache_bytes)
        .with_context(|| format!("opening the ledger in {}", dir.display()))
}

/// The tower this node starts with (see [`FRESH_CLUSTER_SLOTS`]).
fn load_tower(
    path: &Path,
    identity: &Pubkey,
    store: &Store,
    genesis: &Genesis,
) -> anyhow::Result<TowerStart> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(match tower_file::decode_and_verify(&bytes, identity) {
            Ok(t) => {
                let t = t.into_inner();
                tracing::info!(
                    last_vote = ?t.last_voted_slot(),
                    root = ?t.root,
                    "tower restored from {}",
                    path.display()
                );
                TowerStart::Saved(t)
            }
            Err(e) => {
                tracing::warn!(
                    "tower file {} is unusable ({e}): no vote until finality passes this start",
                    path.display()
                );
                TowerStart::Lost
            }
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let stored = store.latest_slot()?.unwrap_or(Slot(0));
            let now = SlotClock::new(genesis).slot_at(unix_ms());
            if stored == Slot(0) && now.0 < FRESH_CLUSTER_SLOTS {
                Ok(TowerStart::Fresh)
            } else {
                tracing::warn!(
                    "no tower file at {} (ledger at slot {stored}, clock at {now}): no vote until \
                     finality passes this start",
                    path.display()
                );
                Ok(TowerStart::Lost)
            }
        }
        Err(e) => Err(e).with_context(|| format!("reading the tower file {}", path.display())),
    }
}

/// The addresses this node advertises in gossip: each configured socket, with the advertised host
/// in place of an unspecified (0.0.0.0) bind address.
fn contact_info(
    config: &Config,
    identity: Pubkey,
    genesis_hash: &Hash,
    clustered: bool,
) -> anyhow::Result<ContactInfo> {
    let n = &config.network;
    let gossip = match &n.advertise_addr {
        Some(a) => a
            .to_socket_addrs()
            .with_context(|| format!("network.advertise_addr {a:?}"))?
            .next()
            .with_context(|| format!("network.advertise_addr {a:?} resolves to nothing"))?,
        None => n.listen_addr,
    };
    let host: IpAddr = gossip.ip();
    if host.is_unspecified() && clustered {
        bail!(
            "network.advertise_addr: required when network.listen_addr is {} in a cluster of \
             several validators (peers must be told where to reach this node)",
            n.listen_addr
        );
    }
    let fix = |a: SocketAddr| {
        if a.ip().is_unspecified() {
            SocketAddr::new(host, a.port())
        } else {
            a
        }
    };
    let version = |i: usize| {
        env!("CARGO_PKG_VERSION")
            .split('.')
            .nth(i)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    };
    Ok(ContactInfo {
        pubkey: identity,
        wallclock_ms: unix_ms(),
        shred_version: shred_version(genesis_hash),
        version: SoftwareVersion {
            major: version(0),
            minor: version(1),
            patch: version(2),
        },
        // Start time above, randomness below: a newer process of this identity has the larger.
        instance: (unix_ms() << 16) | u64::from(rand::random::<u16>()),
        gossip,
        tpu: fix(n.tpu_addr),
        tpu_vote: fix(n.tpu_vote_addr),
        tvu: fix(n.tvu_addr),
        repair: fix(n.repair_addr),
        serve_repair: fix(n.serve_repair_addr),
        rpc: config.rpc.enabled.then(|| fix(config.rpc.addr)),
        tpu_quic: n.tpu_quic_addr().map(fix),
        tpu_vote_quic: n.tpu_vote_quic_addr().map(fix),
    })
}

/// `gossip.seeds`, resolved.
fn seeds(config: &Config) -> anyhow::Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for s in &config.gossip.seeds {
        let addr = s
            .to_socket_addrs()
            .with_context(|| format!("gossip.seeds: resolving {s:?}"))?
            .next()
            .with_context(|| format!("gossip.seeds: {s:?} resolves to nothing"))?;
        out.push(addr);
    }
    Ok(out)
}

fn gossip_config(config: &Config) -> anyhow::Result<GossipConfig> {
    let g = GossipConfig {
        peers_max: config.network.max_peers,
        contact_refresh_ms: config.gossip.heartbeat_interval.as_millis() as u64,
        pull_interval_ms: config.gossip.peer_discovery_interval.as_millis() as u64,
        ..GossipConfig::default()
    };
    g.validate()
        .map_err(|e| anyhow::anyhow!("gossip settings: {e}"))?;
    Ok(g)
}

/// Binds a control-plane UDP socket with the configured buffers, for tokio.
fn control_socket(config: &Config, addr: SocketAddr, field: &str) -> anyhow::Result<UdpSocket> {
    let (socket, _, _) = bind_udp(
        addr,
        config.network.udp_recv_buffer_bytes,
        config.network.udp_send_buffer_bytes,
    )
    .with_context(|| format!("binding {field} {addr}"))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
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
    let store = Arc::new(open_store(
        ledger_dir,
        genesis_hash,
        config.storage.cache_mib,
    )?);
    let ledger_keeper = crate::ledger_keeper::start(
        store.clone(),
        config.storage.limit_ledger_slots,
        metrics.clone(),
    )?;
    let tower_path: PathBuf = ledger_dir.join(TOWER_FILE);
    let tower = load_tower(&tower_path, &identity, &store, &genesis)?;
    let mut executor = Executor::new(plan.exec);
    // Stored blocks above the root rejoin the fork tree unrooted: only the control plane roots.
    let (forks, report) = dataplane::replay::load_cluster(&genesis, &store, &mut executor, 2)
        .context("loading the ledger")?;
    drop(executor);
    metrics.root_slot.store(report.root.0, Ordering::Relaxed);
    tracing::info!(
        root = report.root.0,
        statuses_restored = report.statuses_restored,
        "ledger loaded: replayed {} stored blocks above the root",
        report.replayed.len()
    );
    // What the control plane must hear about first: the root, and every bank above it.
    let root_bank = forks.root_bank();
    let root = (
        root_bank.slot(),
        root_bank.bank_hash().unwrap_or(genesis_hash),
    );
    let mut restored_banks: Vec<BankFrozen> = Vec::new();
    for bank in forks.banks().filter(|b| b.slot() > root.0 && b.is_frozen()) {
        let block_id = store.last_fec_root(bank.slot())?.unwrap_or_default();
        restored_banks.push(BankFrozen::new(bank, block_id)?);
    }
    restored_banks.sort_by_key(|b| b.slot);

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
    let quic_stats = Arc::new(QuicStats::default());
    let vote_quic_stats = Arc::new(QuicStats::default());
    let (forwarder, quic_forward) = if clustered {
        let (f, driver) = forwarder(&config, &identity_key, &quic_stats)?;
        (Some(f), Some(driver))
    } else {
        (None, None)
    };
    let gossip_socket = control_socket(&config, config.network.listen_addr, "network.listen_addr")?;
    let vote_socket = control_socket(
        &config,
        config.network.tpu_vote_addr,
        "network.tpu_vote_addr",
    )?;
    let (tpu, granted_rcv, _) = bind_udp(
        config.network.tpu_addr,
        config.network.udp_recv_buffer_bytes,
        config.network.udp_send_buffer_bytes,
    )
    .with_context(|| format!("binding network.tpu_addr {}", config.network.tpu_addr))?;
    tracing::info!(tpu = %config.network.tpu_addr, recv_buffer_bytes = granted_rcv,
        sigverify_threads = plan.sigverify, exec_threads = plan.exec, cores = ?plan.cores,
        "transaction pipeline starting");
    // Taken before anything can lead: every own block of an earlier slot is a previous run's.
    let own_blocks_from = SlotClock::new(&genesis).slot_at(unix_ms());
    let pipeline = LeaderPipeline::start(
        PipelineConfig {
            identity,
            sigverify_threads: plan.sigverify,
            exec_threads: plan.exec,
            batch_size_max: config.performance.batch_size_max,
            pending_txns_max: config.performance.pending_transactions_max,
            admit_backlog_max: config.performance.admit_backlog_max,
            admit_fresh_window: config.performance.admit_fresh_window,
            poh_core: plan.cores.poh,
            shredding,
            forwarder,
            tpu_backend: config.network.udp_backend(),
        },
        &genesis,
        store.clone(),
        forks,
        tpu,
    )?;

    let (replication, repair_client) = match (replication_sockets, sets_rx) {
        (Some(sockets), Some(sets)) => {
            let (replication, client) = Replication::start(
                ReplicationParts {
                    config: &config,
                    genesis: &genesis,
                    keypair: &identity_key,
                    forks: pipeline.forks.clone(),
                    store: store.clone(),
                    root_slot: pipeline.root_slot.clone(),
                    sets,
                    own_blocks_from,
                    // A block's signatures are checked all at once between blocks, on every shared
                    // core: a validator must keep up with a leader whose sigverify runs continuously.
                    verify_threads: plan.cores.shared.max(1),
                    exec_threads: plan.exec,
                    cores: plan.cores,
                    exit: pipeline.exit.clone(),
                },
                sockets,
            )?;
            (Some(Arc::new(replication)), Some(client))
        }
        _ => (None, None),
    };

    let faucet = match &config.rpc.faucet_keypair {
        Some(path) => Some(Faucet {
            key: wallet::read_keypair_file(path).with_context(|| "rpc.faucet_keypair")?,
            max_lamports: config.rpc.faucet_max_lamports,
        }),
        None => None,
    };
    let view = Arc::new(ClusterView::new());
    for e in store.evidence()? {
        view.add_evidence(EvidenceRecord {
            offender: e.offender,
            kind: e.kind,
            slot: e.slot,
            first: e.first,
            second: e.second,
        });
    }
    let feed = EventFeed::new();
    let contact = contact_info(&config, identity, &genesis_hash, clustered)?;
    let tpu_quic = config.network.tpu_quic_addr().map(|a| {
        // Advertised on the host the TPU is advertised on when bound to every address.
        if a.ip().is_unspecified() {
            SocketAddr::new(contact.tpu.ip(), a.port())
        } else {
            a
        }
    });
    let chain = Arc::new(NodeChain {
        tpu_quic,
        genesis: genesis.clone(),
        genesis_hash,
        identity,
        forks: pipeline.forks.clone(),
        working_slot: pipeline.working_slot.clone(),
        store: store.clone(),
        txns: pipeline.txns.clone(),
        counters: pipeline.counters.clone(),
        faucet,
        view: view.clone(),
        schedules: std::sync::Mutex::new(Schedules::new(&genesis)),
        stakes: genesis
            .validators
            .iter()
            .map(|v| (v.identity, v.stake))
            .collect(),
        feed: feed.clone(),
        shreds: replication.as_ref().map(|r| r.shred_stats()),
        largest_accounts: Default::default(),
        perf_samples: Default::default(),
    });

    // The control-plane core, told what storage holds before anything else happens.
    let node_config = NodeConfig {
        genesis: genesis.clone(),
        gossip: gossip_config(&config)?,
        contact,
        seeds: seeds(&config)?,
        rng_seed: rand::random(),
        voting: true,
    };
    let mut core = Node::new(
        node_config,
        Box::new(identity_key.clone()),
        Restored { root, tower },
        unix_ms(),
    );
    for b in restored_banks {
        core.handle(unix_ms(), Input::BankFrozen(b));
    }

    let runtime = named_runtime("bbControl", 2)?;
    // RPC and PubSub apart: a client flood or a burst of notifications queues behind itself, never
    // in front of votes and gossip.
    let rpc_runtime = named_runtime("bbRpc", config.rpc.threads)?;
    let quic_runtime = start_quic_tpu(
        &config,
        &genesis,
        &identity_key,
        &pipeline,
        quic_stats.clone(),
        quic_forward,
    )?;
    let (quic_votes, vote_sender) = start_quic_votes(
        &config,
        &genesis,
        &identity_key,
        &quic_runtime,
        vote_quic_stats.clone(),
        pipeline.exit.clone(),
    )?;
    let mut event_sources = vec![pipeline.events.clone()];
    if let Some(r) = &replication {
        event_sources.push(r.events.clone());
    }
    let events = control::bridge_events(event_sources, pipeline.exit.clone())?;
    let commands = DataPlaneCommands {
        lead: pipeline.lead.clone(),
        fork_commands: pipeline.fork_commands.clone(),
        votes: pipeline.votes.clone(),
        forward_to: pipeline.forward_to.clone(),
        turbine_peers: replication
            .as_ref()
            .map(|r| r.turbine_peers.clone())
            .unwrap_or_default(),
    };
    let result = runtime.block_on(async {
        let io = ControlIo {
            gossip: tokio::net::UdpSocket::from_std(gossip_socket)?,
            votes: tokio::net::UdpSocket::from_std(vote_socket)?,
            quic_votes,
            vote_sender,
            repair: match repair_client {
                Some(c) => {
                    c.socket.set_nonblocking(true)?;
                    Some(RepairEdge::new(
                        tokio::net::UdpSocket::from_std(c.socket)?,
                        identity_key.clone(),
                        genesis_hash,
                        c.repaired,
                        c.stats,
                    ))
                }
                None => None,
            },
            events,
            commands,
            store: store.clone(),
            view,
            feed,
            metrics: metrics.clone(),
            tower_path,
            genesis_hash,
            shred_version: shred_version(&genesis_hash),
            schedules: Schedules::new(&genesis),
        };
        serve(
            &config,
            rpc_runtime.handle(),
            quic_stats,
            vote_quic_stats,
            chain,
            &pipeline,
            metrics,
            replication.clone(),
            core,
            io,
        )
        .await
    });
    rpc_runtime.shutdown_timeout(Duration::from_secs(1));
    quic_runtime.shutdown_timeout(Duration::from_secs(1));
    tracing::info!("stopping the pipeline");
    pipeline.exit.store(true, Ordering::SeqCst);
    if let Some(r) = replication.and_then(|r| Arc::try_unwrap(r).ok()) {
        r.join();
    }
    pipeline.shutdown();
    ledger_keeper.stop();
    tracing::info!("stopped");
    result
}

/// RPC, PubSub and metrics on their own tasks of `rpc_runtime`; the control task until a signal or
/// a data-plane stop.
#[allow(clippy::too_many_arguments)]
async fn serve(
    config: &Config,
    rpc_runtime: &tokio::runtime::Handle,
    quic_stats: Arc<QuicStats>,
    vote_quic_stats: Arc<QuicStats>,
    chain: Arc<NodeChain>,
    pipeline: &LeaderPipeline,
    metrics: Arc<NodeMetrics>,
    replication: Option<Arc<Replication>>,
    core: Node,
    io: ControlIo,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let mut pubsub = None;
    let rpc_task = if config.rpc.enabled {
        let addr: SocketAddr = config.rpc.addr;
        let listener = bind_listener(addr).with_context(|| format!("binding rpc.addr {addr}"))?;
        // Validation guarantees it (the RPC port is not the last one).
        let ws_addr = config
            .rpc
            .pubsub_addr()
            .context("rpc.pubsub_addr: no port after rpc.addr's")?;
        let ws_listener =
            bind_listener(ws_addr).with_context(|| format!("binding rpc.pubsub_addr {ws_addr}"))?;
        tracing::info!(%addr, pubsub = %ws_addr, threads = config.rpc.threads, "JSON-RPC listening (PubSub on both)");
        let stats = Arc::new(RpcStats::new());
        // Its hub and its connections run on threads of its own.
        let service = PubSub::start_with_limits(
            chain.clone(),
            stats.clone(),
            &io.feed,
            config.rpc.pubsub_limits(),
        )
        .context("starting PubSub")?;
        let (ws_service, http) = (service.clone(), config.rpc.http_limits());
        let ws_stop = stopped(stop_rx.clone());
        rpc_runtime.spawn(async move {
            // Registered with the RPC runtime's reactor: accepted sockets are served there.
            match tokio::net::TcpListener::from_std(ws_listener) {
                Ok(l) => pubsub::serve(l, ws_service, http, ws_stop).await,
                Err(e) => Err(e),
            }
        });
        let extra = metrics_route(
            pipeline,
            quic_stats,
            vote_quic_stats,
            metrics,
            replication,
            stats.clone(),
        );
        let (rpc_chain, rpc_service) = (chain.clone(), service.clone());
        let rpc_stop = stopped(stop_rx.clone());
        let task = rpc_runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            crate::rpc::serve_bounded(
                listener,
                rpc_chain,
                stats,
                extra,
                Some(rpc_service),
                http,
                rpc_stop,
            )
            .await
        });
        pubsub = Some(service);
        // Performance samples for RPC: a note now, then as the sampler asks.
        let sampling = chain.clone();
        let mut stop = stop_rx.clone();
        rpc_runtime.spawn(async move {
            loop {
                let wait = sampling.sample_performance(std::time::Instant::now());
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        });
        Some(task)
    } else {
        None
    };

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let signal = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
            _ = sigterm.recv() => tracing::info!("SIGTERM received"),
        }
    };
    let result = control::run(core, io, signal).await;
    let _ = stop_tx.send(true);
    if let Some(p) = &pubsub {
        p.shutdown();
    }
    if let Some(t) = rpc_task {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    result
}

/// The QUIC TPU on a runtime of its own (it is transaction intake, not control), feeding the
/// pipeline's sigverify as the UDP TPU does.
fn start_quic_tpu(
    config: &Config,
    genesis: &Genesis,
    identity: &SigningKey,
    pipeline: &LeaderPipeline,
    stats: Arc<QuicStats>,
    forward: Option<QuicForwardDriver>,
) -> anyhow::Result<tokio::runtime::Runtime> {
    let addr = config
        .network
        .tpu_quic_addr()
        .context("network.tpu_quic_addr: no port after the TPU's")?;
    let runtime = named_runtime("bbQuic", 1)?;
    let endpoint = quic_endpoint(config, identity, &runtime, addr, "network.tpu_quic_addr")?;
    let sink = TpuSink {
        packets: pipeline.packets.clone(),
        pool: pipeline.packet_pool.clone(),
        counters: pipeline.counters.clone(),
    };
    if let Some(driver) = forward {
        let stopped = stopping(pipeline.exit.clone());
        runtime.spawn(async move {
            if let Err(e) = driver.run(stopped).await {
                tracing::error!("QUIC forwarding stopped: {e:#}");
            }
        });
    }
    runtime.spawn(tpu_quic::serve(
        endpoint,
        sink,
        quic_stakes(genesis),
        stats,
        config.network.tpu_quic_limits(),
        stopping(pipeline.exit.clone()),
    ));
    tracing::info!(%addr, "QUIC TPU listening (ALPN solana-tpu)");
    Ok(runtime)
}

/// The QUIC vote socket (staked validators only) and this node's QUIC vote sender, both on the
/// QUIC runtime: what the socket reads goes to the control task through the receiver returned.
fn start_quic_votes(
    config: &Config,
    genesis: &Genesis,
    identity: &SigningKey,
    runtime: &tokio::runtime::Runtime,
    stats: Arc<QuicStats>,
    exit: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<(tpu_quic::QuicVotes, QuicForwarder)> {
    let addr = config
        .network
        .tpu_vote_quic_addr()
        .context("network.tpu_vote_quic_addr: no port after the vote port")?;
    let endpoint = quic_endpoint(
        config,
        identity,
        runtime,
        addr,
        "network.tpu_vote_quic_addr",
    )?;
    let (votes, received) = tokio::sync::mpsc::channel(QUIC_VOTES_QUEUE);
    runtime.spawn(tpu_quic::serve_votes(
        endpoint,
        votes,
        quic_stakes(genesis),
        stats.clone(),
        config.network.tpu_quic_limits(),
        stopping(exit.clone()),
    ));
    let (sender, driver) = quic_forwarder(
        identity,
        config.network.tpu_vote_addr.ip(),
        stats.forward.clone(),
        VOTE_PEERS_MAX,
    )?;
    runtime.spawn(async move {
        if let Err(e) = driver.run(stopping(exit)).await {
            tracing::error!("QUIC vote sending stopped: {e:#}");
        }
    });
    tracing::info!(%addr, "QUIC vote socket listening (staked validators only)");
    Ok((received, sender))
}

/// A QUIC server endpoint on `addr` (the setting `field`) presenting `identity`, on `runtime`.
fn quic_endpoint(
    config: &Config,
    identity: &SigningKey,
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    field: &str,
) -> anyhow::Result<quinn::Endpoint> {
    let socket = control_socket(config, addr, field)?;
    let _on_quic = runtime.enter();
    Ok(quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(tpu_quic::server_config(identity)?),
        socket,
        Arc::new(quinn::TokioRuntime),
    )?)
}

/// What a QUIC connection's identity is weighed by: the genesis validators' stakes.
fn quic_stakes(genesis: &Genesis) -> Arc<tpu_quic::Stakes> {
    Arc::new(tpu_quic::Stakes::new(
        genesis.validators.iter().map(|v| (v.identity, v.stake)),
    ))
}

/// Resolves once `exit` is set.
async fn stopping(exit: Arc<std::sync::atomic::AtomicBool>) {
    while !exit.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A multi-threaded tokio runtime of `threads` workers named `name`.
fn named_runtime(name: &str, threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
}

/// A listening TCP socket, non-blocking, for a tokio listener on whichever runtime serves it.
fn bind_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// `GET /metrics` on the RPC port: the node's counters, the data plane's, replication's and RPC's.
fn metrics_route(
    pipeline: &LeaderPipeline,
    quic_stats: Arc<QuicStats>,
    vote_quic_stats: Arc<QuicStats>,
    metrics: Arc<NodeMetrics>,
    replication: Option<Arc<Replication>>,
    rpc_stats: Arc<RpcStats>,
) -> axum::Router {
    let counters = pipeline.counters.clone();
    let sig_stats = pipeline.sigverify_stats.clone();
    let forward_stats = pipeline.forward_stats.clone();
    let working_slot = pipeline.working_slot.clone();
    axum::Router::new().route(
        "/metrics",
        get(move || {
            let text = {
                // Sigverify's own counters, copied into the registry at each scrape.
                for (to, from) in [
                    (&metrics.sigverify_shed_backlog, &sig_stats.shed_backlog),
                    (&metrics.sigverify_shed_stale, &sig_stats.shed_stale),
                    (&metrics.sigverify_shed_late, &sig_stats.shed_late),
                    (&metrics.sigverify_shed_forwarded, &sig_stats.shed_forwarded),
                    (&metrics.sigverify_accepted, &sig_stats.accepted),
                ] {
                    to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
                }
                metrics
                    .slot
                    .fetch_max(working_slot.load(Ordering::Relaxed), Ordering::Relaxed);
                if let Some(f) = &forward_stats {
                    metrics
                        .transactions_forwarded
                        .store(f.forwarded.load(Ordering::Relaxed), Ordering::Relaxed);
                    metrics
                        .transactions_forward_failed
                        .store(f.failed.load(Ordering::Relaxed), Ordering::Relaxed);
                    metrics.transactions_forward_dropped_forwarded.store(
                        f.dropped_forwarded.load(Ordering::Relaxed),
                        Ordering::Relaxed,
                    );
                }
                render(
                    &metrics,
                    &counters,
                    &rpc_stats,
                    Some(QuicMetrics {
                        tpu: &quic_stats,
                        votes: &vote_quic_stats,
                    }),
                    replication.as_deref(),
                )
            };
            async move { text }
        }),
    )
}
