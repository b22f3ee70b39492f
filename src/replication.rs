//! A validator in a cluster of several: the threads that move blocks between nodes (broadcast,
//! the shred receive path, replay, repair). They share nothing with the control plane but
//! channels: each Turbine sender owns its tree (from the genesis stakes) and keeps its own copy of
//! the peers' addresses, which the control plane sends (from gossip) on [`Replication`]'s
//! `turbine_peers`; until it does, no peer is known. Repair's asking side is the control task's
//! ([`RepairClientIo`]): this plane only serves peers' requests.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use dataplane::bank_forks::BankForks;
use dataplane::broadcast::{BroadcastConfig, BroadcastFaults, BroadcastIo, BroadcastStage};
use dataplane::cores::CorePlan;
use dataplane::genesis::Genesis;
use dataplane::ledger_stage::LedgerShredding;
use dataplane::packet::bind_udp;
use dataplane::plane::{
    DataEvent, PeerAddrs, ReplacedBlocks, PEER_UPDATES_MAX, REPLACED_QUEUED_MAX,
};
use dataplane::replay_stage::{ReplayStage, Replayer};
use dataplane::shred::{shred_version, FecConfig, SHRED_SIZE};
use dataplane::store::Store;
use dataplane::turbine::TurbineTree;
use dataplane::tvu::{Tvu, TvuConfig, TvuIo, TvuStats};
use dataplane::types::{Pubkey, Slot};
use ed25519_dalek::SigningKey;
use prometheus_client::registry::Registry;

use crate::config::Config;
use crate::metrics;
use crate::repair_service::{RepairIo, RepairService, RepairServiceConfig, RepairStats};

/// Blocks reassembled by the receive path and waiting for replay, at most.
const BLOCKS_QUEUED_MAX: usize = 64;
/// Repaired shreds waiting for the receive path, at most.
const REPAIRED_QUEUED_MAX: usize = 16_384;
/// FEC sets waiting for broadcast, at most.
const FEC_SETS_QUEUED_MAX: usize = 1_024;

/// Sockets of the replication plane, bound before anything starts (so a port clash fails fast).
pub struct ReplicationSockets {
    tvu: UdpSocket,
    retransmit: UdpSocket,
    broadcast: UdpSocket,
    repair: UdpSocket,
    serve_repair: UdpSocket,
}

impl ReplicationSockets {
    /// Binds the configured shred and repair sockets and two ephemeral send sockets.
    pub fn bind(config: &Config) -> anyhow::Result<ReplicationSockets> {
        let n = &config.network;
        let bind = |addr: SocketAddr, field: &str| {
            bind_udp(addr, n.udp_recv_buffer_bytes, n.udp_send_buffer_bytes)
                .map(|(s, _, _)| s)
                .with_context(|| format!("binding {field} {addr}"))
        };
        let ephemeral = SocketAddr::new(n.tvu_addr.ip(), 0);
        Ok(ReplicationSockets {
            tvu: bind(n.tvu_addr, "network.tvu_addr")?,
            retransmit: bind(ephemeral, "a retransmit socket")?,
            broadcast: bind(ephemeral, "a broadcast socket")?,
            repair: bind(n.repair_addr, "network.repair_addr")?,
            serve_repair: bind(n.serve_repair_addr, "network.serve_repair_addr")?,
        })
    }
}

/// The receiving ends of what the pipeline's ledger stage sends the replication plane.
pub struct LedgerOutputs {
    /// FEC sets of the slots it produces, to broadcast.
    sets: Receiver<Vec<[u8; SHRED_SIZE]>>,
    /// Blocks it dropped for another version of their slot, to the shred receive path.
    replaced: Receiver<ReplacedBlocks>,
}

/// What the pipeline needs to shred and broadcast its slots (and to tell the receive path of
/// replaced blocks), and the receiving ends of what it sends.
pub fn shredding(
    config: &Config,
    genesis: &Genesis,
    keypair: &SigningKey,
) -> anyhow::Result<(LedgerShredding, LedgerOutputs)> {
    let fec = FecConfig::new(
        config.turbine.fec_data_shreds,
        config.turbine.fec_coding_shreds,
    )
    .map_err(|e| anyhow::anyhow!("turbine.fec_data_shreds/fec_coding_shreds: {e}"))?;
    let (sets_tx, sets_rx) = bounded(FEC_SETS_QUEUED_MAX);
    let (replaced_tx, replaced_rx) = bounded(REPLACED_QUEUED_MAX);
    Ok((
        LedgerShredding {
            keypair: keypair.clone(),
            shred_version: shred_version(&genesis.hash()),
            fec,
            genesis_hash: genesis.hash(),
            sets: sets_tx,
            replaced: replaced_tx,
        },
        LedgerOutputs {
            sets: sets_rx,
            replaced: replaced_rx,
        },
    ))
}

/// The running replication plane.
pub struct Replication {
    broadcast: BroadcastStage,
    tvu: Tvu,
    replay: ReplayStage,
    repair: RepairService,
    /// Events from the receive path and replay (unbounded: see [`dataplane::plane`]).
    pub events: Receiver<DataEvent>,
    /// Peer TVU addresses for each Turbine sender (the receive path's retransmit, broadcast);
    /// send the same update to each.
    pub turbine_peers: Vec<Sender<Arc<PeerAddrs>>>,
}

/// What the control task needs to ask peers for repairs.
pub struct RepairClientIo {
    /// The repair socket (`network.repair_addr`).
    pub socket: UdpSocket,
    /// Into the shred receive path (bounded; never waited on).
    pub repaired: Sender<Vec<u8>>,
    /// Repair's counters, shared with the serve side and the metrics.
    pub stats: Arc<RepairStats>,
}

/// Everything [`Replication::start`] wires together.
pub struct ReplicationParts<'a> {
    /// Node config.
    pub config: &'a Config,
    /// The cluster.
    pub genesis: &'a Genesis,
    /// This node's identity key.
    pub keypair: &'a SigningKey,
    /// The live fork tree (shared with the pipeline).
    pub forks: Arc<RwLock<BankForks>>,
    /// The ledger.
    pub store: Arc<Store>,
    /// The root slot (shared with the pipeline).
    pub root_slot: Arc<AtomicU64>,
    /// What the pipeline's ledger stage sends: FEC sets and replaced blocks (see [`shredding`]).
    pub sets: LedgerOutputs,
    /// The first slot this run can lead (see [`TvuConfig::own_blocks_from`]).
    pub own_blocks_from: Slot,
    /// Sigverify threads for replay.
    pub verify_threads: usize,
    /// Sealevel workers for replay, besides the replay thread itself.
    pub exec_threads: usize,
    /// Dedicated cores (TVU and broadcast use theirs).
    pub cores: CorePlan,
    /// Stops everything.
    pub exit: Arc<AtomicBool>,
}

impl Replication {
    /// Starts broadcast, the shred receive path, replay and repair's serve side, knowing no peer
    /// until the control plane sends their addresses; returns what repair's asking side needs.
    pub fn start(
        p: ReplicationParts<'_>,
        sockets: ReplicationSockets,
    ) -> anyhow::Result<(Self, RepairClientIo)> {
        let me = Pubkey(p.keypair.verifying_key().to_bytes());
        let backend = p.config.network.udp_backend();
        let nodes: Vec<(Pubkey, u64)> = p
            .genesis
            .validators
            .iter()
            .map(|v| (v.identity, v.stake))
            .collect();
        let tree = TurbineTree::new(&nodes, p.config.turbine.fanout);
        let (broadcast_peers_tx, broadcast_peers_rx) = bounded(PEER_UPDATES_MAX);
        let broadcast = BroadcastStage::spawn(
            me,
            tree.clone(),
            BroadcastConfig {
                backend,
                faults: BroadcastFaults::from_env(),
                pin_core: p.cores.broadcast,
            },
            BroadcastIo {
                socket: sockets.broadcast,
                sets: p.sets.sets,
                peers: broadcast_peers_rx,
                exit: p.exit.clone(),
            },
        )?;
        // Unbounded: events must not be lost, and their rate is set by the slot clock (see
        // `dataplane::plane`).
        let (events_tx, events_rx) = unbounded();
        let (blocks_tx, blocks_rx) = bounded(BLOCKS_QUEUED_MAX);
        let (repaired_tx, repaired_rx) = bounded(REPAIRED_QUEUED_MAX);
        let (tvu_peers_tx, tvu_peers_rx) = bounded(PEER_UPDATES_MAX);
        let tvu = Tvu::spawn(
            TvuConfig {
                identity: me,
                own_blocks_from: p.own_blocks_from,
                shred_version: shred_version(&p.genesis.hash()),
                backend,
                pin_core: p.cores.tvu,
            },
            dataplane::leader_schedule::Schedules::new(p.genesis),
            tree,
            TvuIo {
                socket: sockets.tvu,
                retransmit_socket: sockets.retransmit,
                repaired: repaired_rx,
                blocks: blocks_tx,
                events: events_tx.clone(),
                peers: tvu_peers_rx,
                replaced: p.sets.replaced,
                root_slot: p.root_slot.clone(),
                exit: p.exit.clone(),
            },
        )?;
        let replayer = Replayer::new(
            p.genesis.clone(),
            p.forks,
            p.store.clone(),
            p.verify_threads,
            p.exec_threads,
        );
        let replay = ReplayStage::spawn(replayer, blocks_rx, events_tx, p.exit.clone())?;
        let repair = RepairService::spawn(
            // The cluster is permissioned: only genesis validators are served (gossip, too,
            // refuses anyone else's records).
            RepairServiceConfig::new(
                p.keypair.clone(),
                p.genesis.hash(),
                p.genesis.validators.iter().map(|v| v.identity).collect(),
            ),
            RepairIo {
                serve_socket: sockets.serve_repair,
                store: p.store,
                exit: p.exit,
            },
        )?;
        let client = RepairClientIo {
            socket: sockets.repair,
            repaired: repaired_tx,
            stats: repair.stats(),
        };
        tracing::info!(backend = backend.name(), "replication started");
        Ok((
            Replication {
                broadcast,
                tvu,
                replay,
                repair,
                events: events_rx,
                turbine_peers: vec![tvu_peers_tx, broadcast_peers_tx],
            },
            client,
        ))
    }

    /// The receive path's counters (RPC reads its newest inserted and retransmitted slots).
    pub fn shred_stats(&self) -> Arc<TvuStats> {
        self.tvu.stats().clone()
    }

    /// The newest slot a verified shred named.
    pub fn newest_seen(&self) -> Slot {
        Slot(
            self.tvu
                .stats()
                .newest_verified_slot
                .load(Ordering::Relaxed),
        )
    }

    /// Adds replication's counters (Turbine, replay, broadcast, repair) to a scrape's registry.
    pub fn register_metrics(&self, r: &mut Registry) {
        let t = self.tvu.stats();
        let rs = self.replay.stats();
        let b = self.broadcast.stats();
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "blackbook_shreds_turbine",
                "Shreds received over Turbine",
                get(&t.turbine_shreds),
            ),
            (
                "blackbook_shreds_repaired",
                "Shreds received from repair",
                get(&t.repaired_shreds),
            ),
            (
                "blackbook_shreds_duplicate",
                "Shreds received again",
                get(&t.duplicates),
            ),
            (
                "blackbook_shreds_retransmitted",
                "Shreds sent on along the Turbine tree",
                get(&t.retransmitted),
            ),
            (
                "blackbook_shreds_retransmitted_recovered",
                "Erasure-recovered shreds sent on along the Turbine tree",
                get(&t.retransmitted_recovered),
            ),
            (
                "blackbook_shreds_recovered",
                "Data shreds rebuilt by erasure recovery",
                get(&t.recovered_data),
            ),
            (
                "blackbook_slots_completed",
                "Slots whose every data shred arrived",
                get(&t.completed_slots),
            ),
            (
                "blackbook_equivocations",
                "Slots whose leader signed two conflicting shreds",
                get(&t.equivocations),
            ),
            (
                "blackbook_slots_refetched",
                "Slots fetched again after a bad block",
                get(&t.refetched_slots),
            ),
            (
                "blackbook_blocks_replayed_from_network",
                "Blocks replayed as received",
                get(&rs.replayed),
            ),
            (
                "blackbook_blocks_dead",
                "Blocks refused by replay",
                get(&rs.dead),
            ),
            (
                "blackbook_shreds_broadcast",
                "Shreds this node sent as leader",
                get(&b.shreds_sent),
            ),
            (
                "blackbook_shreds_fault_dropped",
                "Shreds dropped by the test-only fault switch",
                get(&b.shreds_dropped),
            ),
            (
                "blackbook_fec_sets_fault_dropped",
                "FEC sets dropped by the test-only fault switch",
                get(&b.fec_sets_dropped),
            ),
        ] {
            metrics::counter(r, name, help, value);
        }
        let rejected = t.rejected();
        metrics::labelled(
            r,
            "blackbook_shreds_rejected",
            "Shreds refused, by reason",
            "reason",
            rejected.iter().copied(),
        );
        let dead = rs.dead_by_reason();
        metrics::labelled(
            r,
            "blackbook_blocks_dead_by_reason",
            "Blocks refused by replay, by reason",
            "reason",
            dead.iter().copied(),
        );
        for (name, n) in self.repair.stats().snapshot() {
            metrics::counter(
                r,
                &format!("blackbook_repair_{name}"),
                "Repair: requests, pings, pongs and responses by outcome (src/repair_service.rs)",
                n,
            );
        }
    }

    /// Waits for every thread (set `exit` first).
    pub fn join(self) {
        self.broadcast.join();
        self.tvu.join();
        self.replay.join();
        let _ = self.repair.join();
    }
}
