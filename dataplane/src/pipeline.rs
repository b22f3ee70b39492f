//! The leader's transaction pipeline, wired: UDP fetch → sigverify ×N → banking (Sealevel) → PoH →
//! ledger (redb). The node adds RPC and the control plane on top; the `pipeline` bench drives the same
//! wiring with pre-signed packets.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::bank::Bank;
use crate::bank_forks::BankForks;
use crate::banking::{BankingChannels, BankingConfig, BankingStage, LeadCommand};
use crate::genesis::Genesis;
use crate::ledger_stage::{LedgerChannels, LedgerStage};
use crate::metrics::RejectCounters;
use crate::packet::{FetchStage, FetchStats, PacketBatchPool};
use crate::plane::{DataEvent, DATA_EVENTS_MAX};
use crate::poh_service::{PohConfig, PohHandle, PohService};
use crate::sigverify::{SigverifyStage, SigverifyStats};
use crate::store::Store;
use crate::txn::Txn;
use crate::types::{Pubkey, Slot};

/// Packet batches queued between fetch and sigverify (64 packets each).
pub const FETCH_QUEUE_BATCHES: usize = 1_024;
/// Batches of verified transactions queued before banking.
pub const VERIFIED_QUEUE_BATCHES: usize = 4_096;
/// Packet batches preallocated for the receive path (≈ 21 MiB; the pool grows if a burst needs more).
pub const PACKET_POOL_BATCHES: usize = 256;

/// How to run the pipeline.
pub struct PipelineConfig {
    /// This node's identity (collects its slots' fees).
    pub identity: Pubkey,
    /// Sigverify worker threads.
    pub sigverify_threads: usize,
    /// Sealevel worker threads besides the banking thread.
    pub exec_threads: usize,
    /// Most transactions per batch/entry.
    pub batch_size_max: usize,
    /// Core to pin the PoH thread to, where the machine has cores to spare.
    pub poh_core: Option<usize>,
    /// Lead every slot from start-up on (a lone validator); otherwise lead on [`LeadCommand`]s.
    pub lead_alone: bool,
    /// Rooting rule (see [`crate::ledger_stage::LedgerChannels::root_depth`]).
    pub root_depth: Option<u64>,
    /// Shred produced slots for broadcast (clusters of more than one validator).
    pub shredding: Option<crate::ledger_stage::LedgerShredding>,
    /// Forward held transactions to other leaders (clusters; see [`crate::forward`]).
    pub forwarder: Option<crate::forward::Forwarder>,
}

/// A running leader pipeline and the handles its users read.
pub struct LeaderPipeline {
    /// Live banks.
    pub forks: Arc<RwLock<BankForks>>,
    /// Slot being produced.
    pub working_slot: Arc<AtomicU64>,
    /// Newest rooted slot.
    pub root_slot: Arc<AtomicU64>,
    /// Rejections by reason.
    pub counters: Arc<RejectCounters>,
    /// Inject verified transactions (RPC).
    pub txns: Sender<Vec<Txn>>,
    /// Inject verified vote transactions (the control plane); they go ahead of every transfer.
    pub votes: Sender<Txn>,
    /// Orders to lead, from the control plane.
    pub lead: Sender<LeadCommand>,
    /// Events for the control plane.
    pub events: Receiver<DataEvent>,
    /// Set when the pipeline stops (by request or because a stage failed).
    pub exit: Arc<AtomicBool>,
    /// Fetch counters.
    pub fetch_stats: Arc<FetchStats>,
    /// Sigverify counters.
    pub sigverify_stats: Arc<SigverifyStats>,
    /// Forwarding counters (clusters).
    pub forward_stats: Option<Arc<crate::forward::ForwardStats>>,
    fetch: FetchStage,
    sigverify: SigverifyStage,
    banking: BankingStage,
    ledger: LedgerStage,
    poh: PohHandle,
}

impl LeaderPipeline {
    /// Starts every stage; a lone validator leads from the first slot after the newest bank that is
    /// due now, others when the control plane says.
    pub fn start(
        config: PipelineConfig,
        genesis: &Genesis,
        store: Arc<Store>,
        forks: BankForks,
        tpu: UdpSocket,
    ) -> std::io::Result<LeaderPipeline> {
        let parent: Arc<Bank> = forks.highest_frozen();
        let root = forks.root();
        let forks = Arc::new(RwLock::new(forks));
        let exit = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(RejectCounters::default());
        let working_slot = Arc::new(AtomicU64::new(parent.slot().0));
        let root_slot = Arc::new(AtomicU64::new(root.0));

        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let due = Slot(
            now_ms.saturating_sub(genesis.creation_time_unix_ms) / genesis.slot_duration_ms.max(1),
        );
        let first_slot = due.max(parent.slot().next());

        let (poh, poh_events) =
            PohService::spawn(PohConfig::from_genesis(genesis, config.poh_core));
        let (banking_tx, banking_rx) = bounded(1_024);
        let (slot_ended_tx, slot_ended_rx) = bounded(16);
        let (events_tx, events_rx) = bounded(DATA_EVENTS_MAX);
        let ledger = LedgerStage::spawn(LedgerChannels {
            poh_events,
            banking: banking_rx,
            slot_ended: slot_ended_tx,
            events: events_tx,
            forks: forks.clone(),
            store,
            root_slot: root_slot.clone(),
            root_depth: config.root_depth,
            exit: exit.clone(),
            shredding: config.shredding,
        })?;
        let (txns_tx, txns_rx) = bounded(VERIFIED_QUEUE_BATCHES);
        let (lead_tx, lead_rx) = bounded(16);
        let (votes_tx, votes_rx) = bounded(crate::banking::VOTE_CHANNEL_CAPACITY);
        if config.lead_alone {
            let _ = lead_tx.try_send(LeadCommand {
                first: first_slot,
                last: Slot(u64::MAX),
                parent: parent.slot(),
            });
        }
        let forward_stats = config.forwarder.as_ref().map(|f| f.stats().clone());
        let banking = BankingStage::spawn(
            BankingConfig {
                identity: config.identity,
                batch_size_max: config.batch_size_max,
                exec_threads: config.exec_threads,
                genesis_unix_ms: genesis.creation_time_unix_ms,
                slot_duration_ms: genesis.slot_duration_ms,
            },
            BankingChannels {
                txns: txns_rx,
                votes: votes_rx,
                slot_ended: slot_ended_rx,
                lead: lead_rx,
                output: banking_tx,
                poh: poh.clone(),
                forks: forks.clone(),
                working_slot: working_slot.clone(),
                counters: counters.clone(),
                forwarder: config.forwarder,
                exit: exit.clone(),
            },
        )?;
        let pool = PacketBatchPool::new(PACKET_POOL_BATCHES);
        let (packets_tx, packets_rx) = bounded(FETCH_QUEUE_BATCHES);
        let sigverify = SigverifyStage::spawn(
            config.sigverify_threads,
            packets_rx,
            txns_tx.clone(),
            pool.recycler(),
            counters.clone(),
            exit.clone(),
        )?;
        let fetch = FetchStage::spawn(tpu, pool, packets_tx, counters.clone(), exit.clone())?;
        Ok(LeaderPipeline {
            fetch_stats: fetch.stats().clone(),
            sigverify_stats: sigverify.stats().clone(),
            forward_stats,
            forks,
            working_slot,
            root_slot,
            counters,
            txns: txns_tx,
            votes: votes_tx,
            lead: lead_tx,
            events: events_rx,
            exit,
            fetch,
            sigverify,
            banking,
            ledger,
            poh,
        })
    }

    /// The bank of the slot being produced (or the newest frozen one between slots).
    pub fn working_bank(&self) -> Arc<Bank> {
        let forks = self.forks.read().unwrap_or_else(|e| e.into_inner());
        forks
            .get(Slot(self.working_slot.load(Ordering::Acquire)))
            .unwrap_or_else(|| forks.highest_frozen())
    }

    /// The newest rooted bank.
    pub fn root_bank(&self) -> Arc<Bank> {
        self.forks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .root_bank()
    }

    /// Stops every stage and waits for them; the slot in progress is abandoned (its transactions were
    /// never stored, so they are simply not part of the ledger).
    pub fn shutdown(self) {
        self.exit.store(true, Ordering::SeqCst);
        let _ = self.fetch.join();
        let _ = self.sigverify.join();
        self.banking.join();
        self.poh.shutdown();
        self.ledger.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::{GenesisAccount, GenesisValidator};
    use crate::sealevel::Executor;
    use std::time::Duration;

    /// A pipeline for one validator that leads only when commanded, with depth-4 rooting.
    fn commanded_pipeline(name: &str) -> (LeaderPipeline, Arc<Store>, Genesis, tempfile::TempDir) {
        commanded_pipeline_with(name, None)
    }

    fn commanded_pipeline_with(
        name: &str,
        forwarder: Option<crate::forward::Forwarder>,
    ) -> (LeaderPipeline, Arc<Store>, Genesis, tempfile::TempDir) {
        let me = Pubkey([1; 32]);
        let g = Genesis {
            hashes_per_tick: 50,
            ticks_per_slot: 8,
            slot_duration_ms: 100,
            ..Genesis::with_defaults(
                name,
                vec![GenesisValidator {
                    identity: me,
                    stake: 1,
                }],
                vec![GenesisAccount {
                    pubkey: Pubkey([2; 32]),
                    lamports: 10,
                }],
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), g.hash()).unwrap());
        let (forks, _) = crate::replay::load(&g, &store, &mut Executor::new(0), 1).unwrap();
        let (tpu, _, _) =
            crate::packet::bind_udp("127.0.0.1:0".parse().unwrap(), 1 << 20, 1 << 20).unwrap();
        let p = LeaderPipeline::start(
            PipelineConfig {
                identity: me,
                sigverify_threads: 1,
                exec_threads: 0,
                batch_size_max: 64,
                poh_core: None,
                lead_alone: false,
                root_depth: Some(4),
                shredding: None,
                forwarder,
            },
            &g,
            store.clone(),
            forks,
            tpu,
        )
        .unwrap();
        (p, store, g, dir)
    }

    /// A slot `ahead` slots after the one due now.
    fn slot_ahead(g: &Genesis, ahead: u64) -> Slot {
        let due = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            - g.creation_time_unix_ms;
        Slot(due / g.slot_duration_ms + ahead)
    }

    #[test]
    fn outside_its_window_a_node_holds_or_forwards_as_its_forwarder_says() {
        use crate::forward::{ForwardTarget, Forwarder};
        use std::sync::atomic::AtomicBool;
        let leader = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        leader
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let to = leader.local_addr().unwrap();
        let forward_now = Arc::new(AtomicBool::new(false));
        let switch = forward_now.clone();
        let target: ForwardTarget = Arc::new(move |_| switch.load(Ordering::Relaxed).then_some(to));
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let forwarder = Forwarder::new(socket, target).unwrap();
        let (p, _store, g, _dir) = commanded_pipeline_with("forwarding", Some(forwarder));
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let wires: Vec<Vec<u8>> = (0..5)
            .map(|i| crate::txn::build_transfer(&key, &Pubkey([3; 32]), 1 + i, &g.hash()))
            .collect();
        let txns = wires.iter().map(|w| Txn::parse(w).unwrap()).collect();
        p.txns.send(txns).unwrap();
        // Held: this node leads soon.
        let mut buf = [0u8; 2048];
        assert!(leader.recv(&mut buf).is_err(), "held transactions stay");
        // Another node leads now: they go to it, as the client sent them.
        forward_now.store(true, Ordering::Relaxed);
        let mut got = Vec::new();
        while got.len() < wires.len() {
            let n = leader.recv(&mut buf).expect("forwarded");
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, wires);
        let stats = p.forward_stats.clone().unwrap();
        assert_eq!(stats.forwarded.load(Ordering::Relaxed), 5);
        // Forwarded once: nothing is left to lead with or to send again.
        assert!(leader.recv(&mut buf).is_err());
        p.shutdown();
    }

    #[test]
    fn a_pipeline_leads_exactly_the_commanded_window_then_waits() {
        let (p, store, g, _dir) = commanded_pipeline("lead-window");
        // Not told to lead: nothing is produced.
        assert!(p.events.recv_timeout(Duration::from_millis(300)).is_err());
        let first = slot_ahead(&g, 2);
        p.lead
            .send(LeadCommand {
                first,
                last: Slot(first.0 + 1),
                parent: Slot(0),
            })
            .unwrap();
        let mut stored = Vec::new();
        while let Ok(ev) = p.events.recv_timeout(Duration::from_millis(800)) {
            if let DataEvent::SlotStored { slot, parent, .. } = ev {
                stored.push((slot, parent));
            }
        }
        assert_eq!(
            stored,
            vec![(first, Slot(0)), (Slot(first.0 + 1), first)],
            "exactly the window, the first slot on the commanded parent"
        );
        // A command whose parent is not a live bank is refused without stopping the pipeline.
        p.lead
            .send(LeadCommand {
                first: Slot(first.0 + 10),
                last: Slot(first.0 + 10),
                parent: Slot(first.0 + 5),
            })
            .unwrap();
        assert!(p.events.recv_timeout(Duration::from_millis(300)).is_err());
        assert!(!p.exit.load(Ordering::Relaxed));
        assert_eq!(store.latest_slot().unwrap(), Some(Slot(first.0 + 1)));
        p.shutdown();
    }

    #[test]
    fn a_leader_whose_fork_is_pruned_mid_window_stops_leading_and_keeps_running() {
        let (p, _store, g, _dir) = commanded_pipeline("pruned-window");
        let first = slot_ahead(&g, 3);
        p.lead
            .send(LeadCommand {
                first,
                last: Slot(first.0 + 2),
                parent: Slot(0),
            })
            .unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while p.forks.read().unwrap().get(first).is_none() {
            assert!(
                std::time::Instant::now() < until,
                "slot {first} never opened"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        // While the leader works on `first`, the cluster roots another fork off genesis (as a
        // replayed chain would under the depth rule): `first` and its fork are pruned.
        let other = Slot(first.0 - 1);
        {
            let mut forks = p.forks.write().unwrap();
            forks
                .new_child(Slot(0), other, Pubkey([9; 32]))
                .unwrap()
                .freeze(crate::types::Hash([7; 32]));
            forks.set_root(other).unwrap();
            assert!(forks.get(first).is_none());
        }
        // The rest of the window is given up; the pipeline neither stops nor produces on the
        // pruned fork.
        let mut stored = Vec::new();
        while let Ok(ev) = p.events.recv_timeout(Duration::from_millis(600)) {
            if let DataEvent::SlotStored { slot, .. } = ev {
                stored.push(slot);
            }
        }
        assert!(
            !p.exit.load(Ordering::Relaxed),
            "a pruned fork stopped the node"
        );
        assert!(
            stored.iter().all(|s| *s <= first),
            "led on a pruned fork: {stored:?}"
        );
        // It leads again when told to, on the new root.
        let next = slot_ahead(&g, 2);
        p.lead
            .send(LeadCommand {
                first: next,
                last: next,
                parent: other,
            })
            .unwrap();
        let stored_next = loop {
            match p.events.recv_timeout(Duration::from_secs(3)) {
                Ok(DataEvent::SlotStored { slot, parent, .. }) if slot == next => break parent,
                Ok(_) => continue,
                Err(e) => panic!("no block for slot {next}: {e}"),
            }
        };
        assert_eq!(stored_next, other);
        p.shutdown();
    }
}
