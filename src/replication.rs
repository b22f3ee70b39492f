//! A validator in a cluster of several: the threads that move blocks between nodes (broadcast,
//! the shred receive path, replay, repair) and the control-plane rule that decides when this node
//! leads and on which parent.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use controlplane::leader_schedule::LeaderSchedule;
use controlplane::slot_clock::SlotClock;
use crossbeam_channel::{bounded, Receiver, Sender};
use dataplane::bank_forks::BankForks;
use dataplane::banking::LeadCommand;
use dataplane::broadcast::{BroadcastConfig, BroadcastFaults, BroadcastStage};
use dataplane::cores::CorePlan;
use dataplane::genesis::Genesis;
use dataplane::ledger_stage::LedgerShredding;
use dataplane::packet::bind_udp;
use dataplane::plane::{DataEvent, DATA_EVENTS_MAX};
use dataplane::replay_stage::{ReplayStage, Replayer};
use dataplane::shred::{shred_version, FecConfig, SHRED_SIZE};
use dataplane::store::Store;
use dataplane::turbine::TurbineTree;
use dataplane::tvu::{ClusterShape, LeaderLookup, Tvu, TvuConfig, TvuIo};
use dataplane::types::{Pubkey, Slot};
use dataplane::udp::UdpBackend;
use ed25519_dalek::SigningKey;

use crate::config::Config;
use crate::repair_service::{RepairIo, RepairPeer, RepairService, RepairServiceConfig};

/// Consecutive slots each leader produces (the fixed round-robin turn).
pub const SLOTS_PER_LEADER: u64 = controlplane::leader_schedule::DEFAULT_SLOTS_PER_LEADER;
/// How long a new leader waits for the previous leader's last block before building on an older one,
/// as a share of the slot.
const GRACE_SLOT_FRACTION: u64 = 2;
/// A node whose newest block is this many slots behind the newest verified shred it has seen is
/// catching up (it joined late or was cut off): it does not lead, since a block on such an old parent
/// would only start a fork. Two leader turns: a healthy node is at most one turn behind.
pub const CATCHING_UP_SLOTS: u64 = 2 * SLOTS_PER_LEADER;

/// Leader schedules by epoch, computed once each.
pub struct Schedules {
    genesis: Genesis,
    by_epoch: Mutex<HashMap<u64, Arc<LeaderSchedule>>>,
}

impl Schedules {
    /// Schedules for the cluster `genesis` describes.
    pub fn new(genesis: &Genesis) -> Schedules {
        Schedules {
            genesis: genesis.clone(),
            by_epoch: Mutex::new(HashMap::new()),
        }
    }

    /// The leader of `slot` (`None` only for a genesis without stake, which validation refuses).
    pub fn leader(&self, slot: Slot) -> Option<Pubkey> {
        let epoch = slot.0 / self.genesis.slots_per_epoch.max(1);
        let mut map = self.by_epoch.lock().unwrap_or_else(|e| e.into_inner());
        if let std::collections::hash_map::Entry::Vacant(e) = map.entry(epoch) {
            let s = LeaderSchedule::new(&self.genesis.validators, SLOTS_PER_LEADER, epoch).ok()?;
            e.insert(Arc::new(s));
        }
        map.get(&epoch).map(|s| s.leader(slot))
    }
}

/// Where this node stands, for [`lead_decision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainView {
    /// Its newest frozen block.
    pub highest: Slot,
    /// The newest slot it has seen a verified shred for.
    pub seen: Slot,
    /// The last slot it was already told to lead.
    pub led_through: Option<Slot>,
    /// Whether it has listened to the cluster for long enough (two slots since start) to know if it is
    /// behind: a node that just started must not lead before its receive path had a chance to see
    /// the cluster's newest blocks.
    pub warm: bool,
}

/// The control plane's rule for leading: at the start of a slot this node leads, build on the
/// newest replayed block — after waiting up to half a slot for the previous leader's last block
/// when it is missing, so a slow network does not fork the chain at every hand-over — unless the
/// node is catching up.
pub fn lead_decision(
    now_unix_ms: u64,
    clock: &SlotClock,
    schedules: &Schedules,
    me: &Pubkey,
    view: ChainView,
) -> Option<LeadCommand> {
    let ChainView {
        highest,
        seen,
        led_through,
        warm,
    } = view;
    if !warm {
        return None;
    }
    let slot = clock.slot_at(now_unix_ms);
    if led_through.is_some_and(|l| slot <= l) || slot <= highest {
        return None;
    }
    if schedules.leader(slot).as_ref() != Some(me) {
        return None;
    }
    if seen.0 > highest.0.saturating_add(CATCHING_UP_SLOTS) {
        tracing::debug!(
            slot = slot.0,
            highest = highest.0,
            seen = seen.0,
            "catching up: not leading"
        );
        return None;
    }
    let previous = Slot(slot.0.saturating_sub(1));
    let previous_is_other = schedules.leader(previous).as_ref() != Some(me);
    let waited = now_unix_ms.saturating_sub(clock.slot_start_unix_ms(slot));
    if highest < previous
        && previous_is_other
        && waited < clock.slot_duration_ms() / GRACE_SLOT_FRACTION
    {
        return None;
    }
    let mut last = slot;
    while schedules.leader(last.next()).as_ref() == Some(me) && last.0 - slot.0 < 1_024 {
        last = last.next();
    }
    Some(LeadCommand {
        first: slot,
        last,
        parent: highest,
    })
}

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

/// What the pipeline needs to shred and broadcast its slots, and the receiving end of its FEC sets.
pub fn shredding(
    config: &Config,
    genesis: &Genesis,
    keypair: &SigningKey,
) -> anyhow::Result<(LedgerShredding, Receiver<Vec<[u8; SHRED_SIZE]>>)> {
    let fec = FecConfig::new(
        config.turbine.fec_data_shreds,
        config.turbine.fec_coding_shreds,
    )
    .map_err(|e| anyhow::anyhow!("turbine.fec_data_shreds/fec_coding_shreds: {e}"))?;
    let (sets_tx, sets_rx) = bounded(1_024);
    Ok((
        LedgerShredding {
            keypair: keypair.clone(),
            shred_version: shred_version(&genesis.hash()),
            fec,
            genesis_hash: genesis.hash(),
            sets: sets_tx,
        },
        sets_rx,
    ))
}

/// The running replication plane.
pub struct Replication {
    broadcast: BroadcastStage,
    tvu: Tvu,
    replay: ReplayStage,
    repair: RepairService,
    /// Events from the receive path and replay.
    pub events: Receiver<DataEvent>,
    /// Parents replay is missing, for repair.
    pub orphans: Sender<Slot>,
}

/// Everything [`Replication::start`] wires together.
pub struct ReplicationParts<'a> {
    /// Node config.
    pub config: &'a Config,
    /// The cluster.
    pub genesis: &'a Genesis,
    /// This node's identity key.
    pub keypair: &'a SigningKey,
    /// Leader schedules.
    pub schedules: Arc<Schedules>,
    /// The live fork tree (shared with the pipeline).
    pub forks: Arc<RwLock<BankForks>>,
    /// The ledger.
    pub store: Arc<Store>,
    /// The root slot (shared with the pipeline).
    pub root_slot: Arc<AtomicU64>,
    /// FEC sets from the pipeline's ledger stage.
    pub sets: Receiver<Vec<[u8; SHRED_SIZE]>>,
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
    /// Starts broadcast, the shred receive path, replay and repair.
    pub fn start(p: ReplicationParts<'_>, sockets: ReplicationSockets) -> anyhow::Result<Self> {
        let me = Pubkey(p.keypair.verifying_key().to_bytes());
        let backend = UdpBackend::from_value_or(
            Some(p.config.network.udp_backend.as_str()),
            UdpBackend::IoUring,
        );
        let backend = UdpBackend::from_env_or(backend);
        let mut tvu_addrs = HashMap::new();
        let mut repair_peers = Vec::new();
        for peer in &p.config.network.peers {
            let identity = peer.pubkey()?;
            tvu_addrs.insert(identity, peer.tvu_addr);
            repair_peers.push(RepairPeer {
                identity,
                serve_repair: peer.serve_repair_addr,
            });
        }
        let nodes: Vec<(Pubkey, u64)> = p
            .genesis
            .validators
            .iter()
            .map(|v| (v.identity, v.stake))
            .collect();
        let cluster = Arc::new(RwLock::new(ClusterShape {
            tree: TurbineTree::new(&nodes, p.config.turbine.fanout),
            tvu_addrs,
        }));
        let broadcast = BroadcastStage::spawn(
            me,
            cluster.clone(),
            sockets.broadcast,
            BroadcastConfig {
                backend,
                faults: BroadcastFaults::from_env(),
                pin_core: p.cores.broadcast,
            },
            p.sets,
            p.exit.clone(),
        )?;
        let (events_tx, events_rx) = bounded(DATA_EVENTS_MAX);
        let (blocks_tx, blocks_rx) = bounded(64);
        let (repaired_tx, repaired_rx) = bounded(16_384);
        let schedules = p.schedules.clone();
        let leader_of: LeaderLookup = Arc::new(move |slot| schedules.leader(slot));
        let tvu = Tvu::spawn(
            TvuConfig {
                identity: me,
                shred_version: shred_version(&p.genesis.hash()),
                backend,
                pin_core: p.cores.tvu,
            },
            cluster,
            leader_of,
            TvuIo {
                socket: sockets.tvu,
                retransmit_socket: sockets.retransmit,
                repaired: repaired_rx,
                blocks: blocks_tx,
                events: events_tx.clone(),
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
        )
        .with_rooting(
            p.config.consensus.provisional_root_depth,
            p.root_slot.clone(),
        );
        let replay = ReplayStage::spawn(replayer, blocks_rx, events_tx, p.exit.clone())?;
        let (orphans_tx, orphans_rx) = bounded(1_024);
        let repair = RepairService::spawn(
            RepairServiceConfig::new(p.keypair.clone(), p.genesis.hash(), repair_peers),
            RepairIo {
                repair_socket: sockets.repair,
                serve_socket: sockets.serve_repair,
                store: p.store,
                status: tvu.status().clone(),
                orphans: orphans_rx,
                root: p.root_slot,
                repaired: repaired_tx,
                exit: p.exit,
            },
        )?;
        tracing::info!(backend = backend.name(), "replication started");
        Ok(Replication {
            broadcast,
            tvu,
            replay,
            repair,
            events: events_rx,
            orphans: orphans_tx,
        })
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

    /// Prometheus lines for the replication counters.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let t = self.tvu.stats();
        let r = self.replay.stats();
        let b = self.broadcast.stats();
        let line = |out: &mut String, name: &str, v: u64| {
            let _ = writeln!(out, "blackbook_{name} {v}");
        };
        line(
            out,
            "shreds_turbine_total",
            t.turbine_shreds.load(Ordering::Relaxed),
        );
        line(
            out,
            "shreds_repaired_total",
            t.repaired_shreds.load(Ordering::Relaxed),
        );
        line(
            out,
            "shreds_duplicate_total",
            t.duplicates.load(Ordering::Relaxed),
        );
        line(
            out,
            "shreds_retransmitted_total",
            t.retransmitted.load(Ordering::Relaxed),
        );
        line(
            out,
            "shreds_retransmitted_recovered_total",
            t.retransmitted_recovered.load(Ordering::Relaxed),
        );
        line(
            out,
            "shreds_recovered_total",
            t.recovered_data.load(Ordering::Relaxed),
        );
        line(
            out,
            "slots_completed_total",
            t.completed_slots.load(Ordering::Relaxed),
        );
        line(
            out,
            "equivocations_total",
            t.equivocations.load(Ordering::Relaxed),
        );
        for (reason, n) in t.rejected() {
            let _ = writeln!(
                out,
                "blackbook_shreds_rejected_total{{reason=\"{reason}\"}} {n}"
            );
        }
        line(
            out,
            "blocks_replayed_from_network_total",
            r.replayed.load(Ordering::Relaxed),
        );
        line(out, "blocks_dead_total", r.dead.load(Ordering::Relaxed));
        for (reason, n) in r.dead_by_reason() {
            let _ = writeln!(
                out,
                "blackbook_blocks_dead_by_reason_total{{reason=\"{reason}\"}} {n}"
            );
        }
        line(
            out,
            "shreds_broadcast_total",
            b.shreds_sent.load(Ordering::Relaxed),
        );
        line(
            out,
            "shreds_fault_dropped_total",
            b.shreds_dropped.load(Ordering::Relaxed),
        );
        line(
            out,
            "fec_sets_fault_dropped_total",
            b.fec_sets_dropped.load(Ordering::Relaxed),
        );
        for (name, n) in self.repair.stats().snapshot() {
            line(out, &format!("repair_{name}"), n);
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

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::genesis::GenesisValidator;

    fn genesis(n: u8) -> Genesis {
        Genesis {
            slot_duration_ms: 400,
            ..Genesis::with_defaults(
                "lead",
                (1..=n)
                    .map(|i| GenesisValidator {
                        identity: Pubkey([i; 32]),
                        stake: 1,
                    })
                    .collect(),
                vec![],
            )
        }
    }

    fn view(highest: u64, seen: u64, led_through: Option<u64>) -> ChainView {
        ChainView {
            highest: Slot(highest),
            seen: Slot(seen),
            led_through: led_through.map(Slot),
            warm: true,
        }
    }

    #[test]
    fn a_leader_leads_its_whole_turn_on_the_newest_block_and_waits_briefly_for_the_previous_one() {
        let g = genesis(4);
        let clock = SlotClock::new(&g);
        let s = Schedules::new(&g);
        // Find this schedule's turn for validator 2 after slot 48.
        let first = (48..200)
            .map(Slot)
            .find(|&x| {
                s.leader(x) == Some(Pubkey([2; 32]))
                    && s.leader(Slot(x.0 - 1)) != Some(Pubkey([2; 32]))
            })
            .unwrap();
        let me = Pubkey([2; 32]);
        let start = clock.slot_start_unix_ms(first);
        // Someone else's slot: nothing.
        assert_eq!(
            lead_decision(start - 1, &clock, &s, &me, view(first.0 - 1, 0, None)),
            None
        );
        // Our turn, previous block in: lead all four slots on it.
        assert_eq!(
            lead_decision(start + 1, &clock, &s, &me, view(first.0 - 1, 0, None)),
            Some(LeadCommand {
                first,
                last: Slot(first.0 + SLOTS_PER_LEADER - 1),
                parent: Slot(first.0 - 1)
            })
        );
        // Previous block missing: wait up to half a slot, then build on what we have.
        assert_eq!(
            lead_decision(start + 100, &clock, &s, &me, view(first.0 - 3, 0, None)),
            None
        );
        assert_eq!(
            lead_decision(
                start + 250,
                &clock,
                &s,
                &me,
                view(first.0 - 3, first.0 - 1, None)
            )
            .map(|c| c.parent),
            Some(Slot(first.0 - 3))
        );
        // Far behind what the cluster has shown it (a late joiner): do not lead on a stale parent.
        assert_eq!(
            lead_decision(start + 1, &clock, &s, &me, view(1, first.0 - 1, None)),
            None
        );
        // Just started: listen first.
        let cold = ChainView {
            warm: false,
            ..view(first.0 - 1, 0, None)
        };
        assert_eq!(lead_decision(start + 1, &clock, &s, &me, cold), None);
        // A new cluster where nobody has produced anything yet: lead on genesis.
        assert!(lead_decision(start + 300, &clock, &s, &me, view(0, 0, None)).is_some());
        // Already commanded for this window.
        assert_eq!(
            lead_decision(
                start + 450,
                &clock,
                &s,
                &me,
                view(first.0, first.0, Some(first.0 + 3))
            ),
            None
        );
    }
}
