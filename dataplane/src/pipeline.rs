//! The leader's transaction pipeline, wired: UDP fetch → sigverify ×N → banking (Sealevel) → PoH →
//! ledger (redb). The node adds RPC and the control plane on top; the `pipeline` bench drives the same
//! wiring with pre-signed packets.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use crate::bank::Bank;
use crate::bank_forks::BankForks;
use crate::banking::{BankingChannels, BankingConfig, BankingStage, LeadCommand};
use crate::genesis::Genesis;
use crate::ledger_stage::{LedgerChannels, LedgerStage, FORK_COMMANDS_MAX};
use crate::metrics::RejectCounters;
use crate::packet::{FetchStage, FetchStats, PacketBatch, PacketBatchPool};
use crate::plane::{DataEvent, ForkCommand};
use crate::poh_service::{PohConfig, PohHandle, PohService};
use crate::sigverify::{Admission, SigverifyStage, SigverifyStats};
use crate::store::Store;
use crate::txn::Txn;
use crate::types::{Pubkey, Slot};

/// Packet batches queued between fetch and sigverify (64 packets each).
pub const FETCH_QUEUE_BATCHES: usize = 1_024;
/// Batches of verified transactions queued before banking.
pub const VERIFIED_QUEUE_BATCHES: usize = 4_096;
/// Packet batches preallocated for the receive path (≈ 21 MiB; the pool grows if a burst needs more).
pub const PACKET_POOL_BATCHES: usize = 256;
/// Lead commands queued at most (the control plane sends one per leader window).
pub const LEAD_COMMANDS_MAX: usize = 16;
/// Forwarding targets queued at most (the control plane sends one when the target changes, at most
/// once per slot; the banking stage drains them, newest wins).
pub const FORWARD_TARGETS_MAX: usize = 64;

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
    /// Verified transfers the banking stage may hold ([`crate::banking::PENDING_TXNS_MAX`] by
    /// default).
    pub pending_txns_max: usize,
    /// The ceiling of sigverify's admission bound (see [`crate::sigverify::Admission`];
    /// [`crate::sigverify::ADMIT_BACKLOG_MAX`] by default); at most `pending_txns_max`.
    pub admit_backlog_max: usize,
    /// While overloaded, how recently a free transaction must have been signed to be verified
    /// (see [`Admission`]).
    pub admit_fresh_window: Duration,
    /// Core to pin the PoH thread to, where the machine has cores to spare.
    pub poh_core: Option<usize>,
    /// Shred produced slots for broadcast (clusters of more than one validator).
    pub shredding: Option<crate::ledger_stage::LedgerShredding>,
    /// Forward held transactions to other leaders (clusters; see [`crate::forward`]).
    pub forwarder: Option<crate::forward::Forwarder>,
    /// How the TPU socket receives (io_uring or `recvmmsg`, as every socket).
    pub tpu_backend: crate::udp::UdpBackend,
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
    /// Root moves and replaced blocks, from the control plane, to the ledger stage (the single
    /// owner of the root and the fork tree).
    pub fork_commands: Sender<ForkCommand>,
    /// Where held transactions go from now on (`None`: hold them), from the control plane.
    pub forward_to: Sender<Option<crate::forward::ForwardTarget>>,
    /// Events for the control plane (unbounded: see [`crate::plane`]).
    pub events: Receiver<DataEvent>,
    /// Set when the pipeline stops (by request or because a stage failed).
    pub exit: Arc<AtomicBool>,
    /// Fetch counters.
    pub fetch_stats: Arc<FetchStats>,
    /// Sigverify's input, for TPU receivers besides the UDP fetch stage (QUIC): batches of
    /// packets not yet verified, drawn from [`LeaderPipeline::packet_pool`].
    pub packets: Sender<PacketBatch>,
    /// Empty packet batches, recycled by sigverify.
    pub packet_pool: PacketBatchPool,
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
    /// Starts every stage. Nothing is produced until the control plane sends a [`LeadCommand`]
    /// (a lone validator too), and nothing is rooted until it sends [`ForkCommand::SetRoot`].
    pub fn start(
        config: PipelineConfig,
        genesis: &Genesis,
        store: Arc<Store>,
        forks: BankForks,
        tpu: UdpSocket,
    ) -> std::io::Result<LeaderPipeline> {
        let working_slot = Arc::new(AtomicU64::new(forks.highest_frozen().slot().0));
        let root_slot = Arc::new(AtomicU64::new(forks.root().0));
        let forks = Arc::new(RwLock::new(forks));
        let exit = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(RejectCounters::default());

        let (poh, poh_events) =
            PohService::spawn(PohConfig::from_genesis(genesis, config.poh_core));
        let (banking_tx, banking_rx) = bounded(1_024);
        let (slot_ended_tx, slot_ended_rx) = bounded(16);
        // Unbounded: events must not be lost, and their rate is set by the slot clock (see
        // `crate::plane`).
        let (events_tx, events_rx) = unbounded();
        let (commands_tx, commands_rx) = bounded(FORK_COMMANDS_MAX);
        let ledger = LedgerStage::spawn(LedgerChannels {
            poh_events,
            banking: banking_rx,
            slot_ended: slot_ended_tx,
            commands: commands_rx,
            events: events_tx,
            forks: forks.clone(),
            store,
            root_slot: root_slot.clone(),
            exit: exit.clone(),
            shredding: config.shredding,
        })?;
        let (txns_tx, txns_rx) = bounded(VERIFIED_QUEUE_BATCHES);
        let (lead_tx, lead_rx) = bounded(LEAD_COMMANDS_MAX);
        let (votes_tx, votes_rx) = bounded(crate::banking::VOTE_CHANNEL_CAPACITY);
        let (forward_tx, forward_rx) = bounded(FORWARD_TARGETS_MAX);
        let forward_stats = config.forwarder.as_ref().map(|f| f.stats().clone());
        let admission = Arc::new(
            Admission::new(config.admit_backlog_max)
                .with_slot_duration(Duration::from_millis(genesis.slot_duration_ms))
                .with_fresh_window(config.admit_fresh_window),
        );
        let banking = BankingStage::spawn(
            BankingConfig {
                identity: config.identity,
                batch_size_max: config.batch_size_max,
                exec_threads: config.exec_threads,
                genesis_unix_ms: genesis.creation_time_unix_ms,
                slot_duration_ms: genesis.slot_duration_ms,
                pending_txns_max: config.pending_txns_max,
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
                forward_to: forward_rx,
                admission: admission.clone(),
                exit: exit.clone(),
            },
        )?;
        let pool = PacketBatchPool::new(PACKET_POOL_BATCHES);
        let (packets_tx, packets_rx) = bounded(FETCH_QUEUE_BATCHES);
        let sigverify = SigverifyStage::spawn_admitting(
            config.sigverify_threads,
            packets_rx,
            txns_tx.clone(),
            pool.recycler(),
            counters.clone(),
            exit.clone(),
            Some(admission),
        )?;
        let fetch = FetchStage::spawn(
            tpu,
            config.tpu_backend,
            pool.clone(),
            packets_tx.clone(),
            counters.clone(),
            exit.clone(),
        )?;
        Ok(LeaderPipeline {
            packets: packets_tx,
            packet_pool: pool,
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
            fork_commands: commands_tx,
            forward_to: forward_tx,
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
mod tests;
