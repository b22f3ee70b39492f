//! The shred receive path (TVU): shreds in from Turbine and repair → dedup → parse → verify (leader
//! signature once per FEC set, Merkle proof per shred) → retransmit to this node's Turbine children →
//! assemble (erasure recovery) → completed blocks to replay.
//!
//! One thread does it all: on a 2-core machine running several validators, a thread per step would
//! cost more in handoffs than it saves. Turbine shreds are retransmitted before they are inserted, so
//! a node's children never wait for its assembly work; repaired shreds are never retransmitted (their
//! requester is the only node missing them). A data shred this node rebuilt by erasure recovery from
//! Turbine shreds goes to its children in that shred's tree as if it had arrived: a shred the leader
//! lost on the way to its tree's root would otherwise be missing in the root's whole subtree.
//!
//! Copies, from the socket on: the kernel writes each datagram into the thread's one preallocated
//! [`PacketBatch`] (mmsg without GRO), or into io_uring's registered provided-buffer ring or a GRO
//! buffer, from which it is copied once into the batch (see [`crate::udp`]). Dedup, parsing,
//! Merkle and signature verification and retransmission all read the batch in place: no copy
//! before the verifier. After verification the assembler copies each shred once into its slot
//! (where erasure recovery decodes in place); a completed slot's payloads are gathered once into
//! the block's byte stream, and its data shreds are copied once more, into the block handed to
//! replay, which moves them into the ledger (repair serves them from there). Repaired shreds
//! arrive as their own buffers from the repair thread.
//!
//! Nothing is shared with the control plane but channels: the thread owns its leader
//! [`Schedules`] (a pure function of the genesis and the epoch) and its [`TurbineTree`] (the
//! genesis stakes), and keeps its own copy of the peers' TVU addresses, replaced by the newest
//! [`PeerAddrs`] the control plane sends. The first verified shred of each slot is reported as
//! [`DataEvent::SlotStarted`]; what changed in the slots it assembles as [`DataEvent::SlotProgress`]
//! every [`PROGRESS_INTERVAL`], and a completed slot at once: the control plane's repair planner
//! asks peers for what is missing.
//!
//! When the ledger stage drops this node's version of a duplicate slot ([`ReplacedBlocks`]), the
//! thread forgets that slot and the blocks built on it, takes only the wanted version of the slot
//! from then on (see [`refetch`]), and tells the control plane to fetch it ([`DataEvent::Refetch`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::dedup::Deduper;
use crate::leader_schedule::Schedules;
use crate::packet::PacketBatch;
use crate::plane::{DataEvent, PeerAddrs, Refetch, ReplacedBlocks, SlotProgress};
use crate::replay_stage::ReceivedBlock;
use crate::shred::{
    AssembleError, AssemblerLimits, CompletedSlot, InsertOutcome, Root, ShredVerifier, ShredView,
    SlotAssembler,
};
use crate::turbine::{ShredId, TurbineScratch, TurbineTree};
use crate::types::{Hash, Pubkey, Slot};
use crate::udp::{UdpBackend, UdpOptions, UdpReceiver, UdpSender};

pub mod refetch;
use refetch::{Refetches, Verdict};

/// How long one receive waits before the thread looks at repaired shreds, its clock and `exit`.
const RECV_TIMEOUT: Duration = Duration::from_millis(5);
/// How often the progress of slots that changed is reported.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(50);
/// Shreds further than this many slots ahead of the root are dropped (they cannot be checked
/// against a known leader window and would pin assembler memory).
pub const SLOTS_AHEAD_MAX: u64 = 2_048;
/// Completed slots remembered (a late shred of one is not an error).
const COMPLETED_REMEMBERED_MAX: usize = 64;

/// Shred dedup table size (2^18 fingerprints, 2 MiB: several seconds of Turbine traffic).
const SHRED_DEDUP_SLOTS_LOG2: u32 = 18;
/// How long a shred's fingerprint is kept at most.
const SHRED_DEDUP_MAX_AGE: Duration = Duration::from_secs(2);

/// Receive path settings.
#[derive(Debug, Clone)]
pub struct TvuConfig {
    /// This node's identity (its place in the tree).
    pub identity: Pubkey,
    /// The first slot this run can lead. Its own blocks of earlier slots are received like
    /// anyone's: a previous run may have sent one out and stopped before storing it, and the
    /// cluster may have built on it.
    pub own_blocks_from: Slot,
    /// The cluster's shred version; others are dropped.
    pub shred_version: u16,
    /// UDP backend for receive and retransmit.
    pub backend: UdpBackend,
    /// Core to pin the thread to (see [`crate::cores::CorePlan`]).
    pub pin_core: Option<usize>,
}

/// Receive path counters.
#[derive(Debug, Default)]
pub struct TvuStats {
    /// Shreds received from Turbine.
    pub turbine_shreds: AtomicU64,
    /// Shreds received through repair.
    pub repaired_shreds: AtomicU64,
    /// Exact repeats dropped by the dedup filter.
    pub duplicates: AtomicU64,
    /// Shreds sent on to Turbine children.
    pub retransmitted: AtomicU64,
    /// Of those, data shreds this node rebuilt by erasure recovery.
    pub retransmitted_recovered: AtomicU64,
    /// Data shreds rebuilt by erasure recovery.
    pub recovered_data: AtomicU64,
    /// Slots completed and handed to replay.
    pub completed_slots: AtomicU64,
    /// Equivocations seen (two validly signed shreds for one position).
    pub equivocations: AtomicU64,
    /// Slots forgotten to be fetched again in the version the cluster confirmed.
    pub refetched_slots: AtomicU64,
    /// Newest slot of any shred that passed verification: how far the cluster has got, as far as
    /// this node can tell (a node far behind it is catching up and must not lead). Also Solana's
    /// max shred insert slot: a verified shred goes into its slot's assembly (all but those of a
    /// duplicate slot's other version, held or dropped while the confirmed one is fetched).
    pub newest_verified_slot: AtomicU64,
    /// Newest slot of a shred sent on to Turbine children (Solana's max retransmit slot).
    pub newest_retransmitted_slot: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl TvuStats {
    /// Refused shreds by reason, for metrics.
    pub fn rejected(&self) -> Vec<(&'static str, u64)> {
        self.rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(r, n)| (*r, *n))
            .collect()
    }

    /// Refused shreds, all reasons.
    pub fn rejected_total(&self) -> u64 {
        self.rejected().iter().map(|(_, n)| n).sum()
    }

    fn reject(&self, reason: &'static str) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }
}

/// Everything the receive path talks to.
pub struct TvuIo {
    /// Socket shreds arrive on.
    pub socket: UdpSocket,
    /// Socket retransmissions leave from.
    pub retransmit_socket: UdpSocket,
    /// Raw shreds that repair fetched.
    pub repaired: Receiver<Vec<u8>>,
    /// Completed blocks, to replay.
    pub blocks: Sender<ReceivedBlock>,
    /// Events for the control plane (slots started, their progress, slots to fetch again,
    /// duplicate-slot proofs; unbounded: see [`crate::plane`]).
    pub events: Sender<DataEvent>,
    /// The peers' TVU addresses from the control plane (newest wins; none known until the first).
    pub peers: Receiver<Arc<PeerAddrs>>,
    /// Blocks the ledger stage dropped for another version of their slot.
    pub replaced: Receiver<ReplacedBlocks>,
    /// The newest root (older shreds are dropped, older slots purged).
    pub root_slot: Arc<AtomicU64>,
    /// Set to stop.
    pub exit: Arc<AtomicBool>,
}

/// The running receive path.
pub struct Tvu {
    thread: JoinHandle<()>,
    stats: Arc<TvuStats>,
}

impl Tvu {
    /// Starts the receive thread (`bb-tvu`), which owns `schedules` (who signs each slot's
    /// shreds) and `tree` (where each shred goes next).
    pub fn spawn(
        config: TvuConfig,
        schedules: Schedules,
        tree: TurbineTree,
        io: TvuIo,
    ) -> std::io::Result<Tvu> {
        let stats = Arc::new(TvuStats::default());
        let TvuIo {
            socket,
            retransmit_socket,
            repaired,
            blocks,
            events,
            peers,
            replaced,
            root_slot,
            exit,
        } = io;
        let receiver = UdpReceiver::new(socket, config.backend, UdpOptions::default())?;
        let sender = UdpSender::new(retransmit_socket, config.backend, UdpOptions::default())?;
        let links = Links {
            repaired,
            blocks,
            events,
            peers,
            replaced,
            root_slot,
            exit,
        };
        let mut window = Window {
            verifier: ShredVerifier::new(config.shred_version),
            assembler: SlotAssembler::new(AssemblerLimits::default()),
            deduper: Deduper::new(SHRED_DEDUP_SLOTS_LOG2, SHRED_DEDUP_MAX_AGE),
            scratch: TurbineScratch::default(),
            children: Vec::new(),
            recovered_out: Vec::new(),
            slots: BTreeSet::new(),
            completed: BTreeSet::new(),
            started: BTreeSet::new(),
            changed: BTreeSet::new(),
            refetches: Refetches::default(),
            config,
            schedules,
            tree,
            peers: Arc::new(PeerAddrs::default()),
            stats: stats.clone(),
        };
        let pin_core = window.config.pin_core;
        let thread = std::thread::Builder::new()
            .name("bb-tvu".into())
            .spawn(move || {
                crate::cores::pin_current_thread(pin_core, "tvu");
                window.run(receiver, sender, links)
            })?;
        Ok(Tvu { thread, stats })
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<TvuStats> {
        &self.stats
    }

    /// Waits for the thread to end (set `exit` first).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// The channels and flags of [`TvuIo`] once its sockets are taken.
struct Links {
    repaired: Receiver<Vec<u8>>,
    blocks: Sender<ReceivedBlock>,
    events: Sender<DataEvent>,
    peers: Receiver<Arc<PeerAddrs>>,
    replaced: Receiver<ReplacedBlocks>,
    root_slot: Arc<AtomicU64>,
    exit: Arc<AtomicBool>,
}

struct Window {
    config: TvuConfig,
    schedules: Schedules,
    tree: TurbineTree,
    /// The peers' TVU addresses: this thread's own snapshot, replaced whole by each update.
    peers: Arc<PeerAddrs>,
    verifier: ShredVerifier,
    assembler: SlotAssembler,
    deduper: Deduper,
    scratch: TurbineScratch,
    children: Vec<Pubkey>,
    /// Rebuilt data shreds waiting to go to this node's children, with where.
    recovered_out: Vec<(Arc<[u8]>, SocketAddr)>,
    /// Slots with shreds held and not completed.
    slots: BTreeSet<u64>,
    /// Recently completed slots.
    completed: BTreeSet<u64>,
    /// Slots above the root with a verified shred, each reported once as started. Bounded: only
    /// slots in `root + 1 ..= root + SLOTS_AHEAD_MAX` are admitted, and older ones are purged as
    /// the root moves.
    started: BTreeSet<u64>,
    /// Slots in `slots` whose progress changed since it was last reported.
    changed: BTreeSet<u64>,
    /// Slots fetched again after their version here was dropped: which shreds they take.
    refetches: Refetches,
    stats: Arc<TvuStats>,
}

/// Where a shred came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Turbine,
    Repair,
}

impl Window {
    fn run(&mut self, mut receiver: UdpReceiver, mut sender: UdpSender, io: Links) {
        let mut batch = PacketBatch::new();
        let mut out: Vec<(usize, SocketAddr)> = Vec::new();
        let mut last_progress = Instant::now();
        let mut root = io.root_slot.load(Ordering::Acquire);
        while !io.exit.load(Ordering::Relaxed) {
            // Before any shred of this round: addresses given before a shred arrives are used
            // for it.
            if let Some(peers) = io.peers.try_iter().last() {
                self.peers = peers;
            }
            // Before any shred of this round too: a shred of the dropped version must not be
            // taken after the ledger dropped it.
            while let Ok(notice) = io.replaced.try_recv() {
                self.on_replaced(notice, root, &io);
            }
            match receiver.recv(&mut batch, RECV_TIMEOUT) {
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("shred receive failed: {e}");
                    std::thread::sleep(RECV_TIMEOUT);
                    continue;
                }
            }
            out.clear();
            for (i, packet) in batch.iter().enumerate() {
                self.stats.turbine_shreds.fetch_add(1, Ordering::Relaxed);
                if packet.is_oversized() {
                    self.stats.reject("oversized");
                    continue;
                }
                let children = self.handle(packet.data(), Source::Turbine, root, &io);
                for addr in children {
                    out.push((i, addr));
                }
            }
            if !out.is_empty() {
                let packets: Vec<(&[u8], SocketAddr)> = out
                    .iter()
                    .map(|&(i, addr)| (batch.packets()[i].data(), addr))
                    .collect();
                self.retransmit(&mut sender, &packets, false);
            }
            if !self.recovered_out.is_empty() {
                let recovered = std::mem::take(&mut self.recovered_out);
                let packets: Vec<(&[u8], SocketAddr)> =
                    recovered.iter().map(|(b, addr)| (&b[..], *addr)).collect();
                self.retransmit(&mut sender, &packets, true);
                self.recovered_out = recovered;
                self.recovered_out.clear();
            }
            while let Ok(shred) = io.repaired.try_recv() {
                self.stats.repaired_shreds.fetch_add(1, Ordering::Relaxed);
                self.handle(&shred, Source::Repair, root, &io);
            }
            let now_root = io.root_slot.load(Ordering::Acquire);
            if now_root > root {
                root = now_root;
                self.assembler.purge_below(root + 1);
                self.slots = self.slots.split_off(&(root + 1));
                self.completed = self.completed.split_off(&(root + 1));
                self.started = self.started.split_off(&(root + 1));
                self.changed = self.changed.split_off(&(root + 1));
                self.refetches.purge_below(root + 1);
            }
            if last_progress.elapsed() >= PROGRESS_INTERVAL {
                last_progress = Instant::now();
                self.report_progress(&io);
                // Forget old fingerprints now and then, so a shred dropped after dedup (a slot too
                // far ahead, a full assembler) is taken when repair or a retransmit brings it again.
                self.deduper.maybe_reset(last_progress);
            }
        }
    }

    /// Checks one shred, inserts it and returns where to retransmit it.
    fn handle(&mut self, bytes: &[u8], source: Source, root: u64, io: &Links) -> Vec<SocketAddr> {
        if self.deduper.is_duplicate(bytes) {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            return Vec::new();
        }
        let view = match ShredView::parse(bytes) {
            Ok(v) => v,
            Err(e) => {
                self.stats.reject(e.reason());
                return Vec::new();
            }
        };
        let slot = view.slot();
        if slot <= root {
            self.stats.reject("older_than_root");
            return Vec::new();
        }
        if slot > root.saturating_add(SLOTS_AHEAD_MAX) {
            self.stats.reject("too_far_ahead");
            return Vec::new();
        }
        let Some(leader) = self.schedules.leader(Slot(slot)) else {
            self.stats.reject("unknown_leader");
            return Vec::new();
        };
        if leader == self.config.identity && slot >= self.config.own_blocks_from.0 {
            // This run's own slot coming back (repair answer or a confused peer): we hold it.
            self.stats.reject("own_slot");
            return Vec::new();
        }
        let merkle_root = match self.verifier.verify(&view, &leader) {
            Ok(r) => r,
            Err(e) => {
                self.stats.reject(e.reason());
                return Vec::new();
            }
        };
        self.stats
            .newest_verified_slot
            .fetch_max(slot, Ordering::Relaxed);
        if self.started.insert(slot) {
            let parent = view.parent().map(Slot);
            let _ = io.events.send(DataEvent::SlotStarted {
                slot: Slot(slot),
                parent,
            });
        }
        let mut targets = Vec::new();
        if source == Source::Turbine {
            self.children_addrs(&leader, ShredId::of(&view), &mut targets);
            if !targets.is_empty() {
                self.stats
                    .newest_retransmitted_slot
                    .fetch_max(slot, Ordering::Relaxed);
            }
        }
        match self.refetches.verdict(slot, merkle_root) {
            Verdict::Take => {}
            Verdict::Hold => {
                self.refetches.hold(slot, merkle_root, view.bytes());
                return targets;
            }
            Verdict::Drop => {
                self.stats.reject("other_version");
                return targets;
            }
        }
        self.insert(&view, merkle_root, leader, source, io);
        if self.refetches.contains(slot) {
            self.take_proven(&view, leader, io);
        }
        targets
    }

    /// A taken shred of a slot fetched again proves that the set it chains to is the wanted
    /// version's too: takes the shreds held for that set, and those their own chains prove.
    fn take_proven(&mut self, first: &ShredView<'_>, leader: Pubkey, io: &Links) {
        let slot = first.slot();
        let mut chained = Vec::new();
        // The first set chains to the parent's last set, not to one of this slot.
        if first.fec_set_index() > 0 {
            chained.push(first.chained_root());
        }
        while let Some(root) = chained.pop() {
            for bytes in self.refetches.prove(slot, root) {
                // Verified when it arrived; its set's root is `root`.
                let Ok(view) = ShredView::parse(&bytes[..]) else {
                    continue;
                };
                self.insert(&view, root, leader, Source::Repair, io);
                if view.fec_set_index() > 0 {
                    chained.push(view.chained_root());
                }
            }
        }
    }

    /// Inserts a verified shred whose set has Merkle root `merkle_root` and acts on the outcome.
    fn insert(
        &mut self,
        view: &ShredView<'_>,
        merkle_root: Root,
        leader: Pubkey,
        source: Source,
        io: &Links,
    ) {
        let slot = view.slot();
        // Shreds of a completed slot still go in while the assembler holds it: a second version of
        // a shred already held is a duplicate-slot proof, however late it comes.
        let outcome = self.assembler.insert(view, merkle_root);
        match outcome {
            Ok(InsertOutcome::Inserted(ins)) => {
                if !self.assembler.is_complete(slot) {
                    self.slots.insert(slot);
                    self.changed.insert(slot);
                }
                self.stats
                    .recovered_data
                    .fetch_add(ins.recovered.len() as u64, Ordering::Relaxed);
                if source == Source::Turbine {
                    self.queue_recovered(slot, &leader, &ins.recovered);
                }
                if let Some(set) = ins.recovery_failed {
                    tracing::warn!(
                        slot,
                        set,
                        "erasure recovery did not reproduce the signed root"
                    );
                    self.stats.reject("recovery_failed");
                }
                if let Some(done) = ins.completed {
                    self.complete(done, leader, io);
                }
            }
            Ok(InsertOutcome::Duplicate) => {
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            Ok(InsertOutcome::Equivocation(eq)) => {
                self.stats.equivocations.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    slot,
                    index = eq.index,
                    "leader equivocated: {:?}",
                    eq.conflict
                );
                let _ = io.events.send(DataEvent::DuplicateSlotProof {
                    slot: Slot(eq.slot),
                    first: eq.first,
                    second: eq.second,
                });
            }
            // A late shred of a slot completed and since evicted: nothing left to add it to.
            Err(AssembleError::AlreadyCompleted { .. }) if self.completed.contains(&slot) => {}
            Err(e) => self.stats.reject(e.reason()),
        }
    }

    /// Forgets the blocks the ledger stage dropped for another version of their slot, takes only
    /// the wanted version of that slot from now on, and has repair fetch it.
    fn on_replaced(&mut self, notice: ReplacedBlocks, root: u64, io: &Links) {
        let slot = notice.slot.0;
        for s in notice.removed.iter().map(|s| s.0).chain([slot]) {
            self.assembler.forget(s);
            self.slots.remove(&s);
            self.completed.remove(&s);
            self.started.remove(&s);
            self.changed.remove(&s);
            self.refetches.remove(s);
        }
        if slot <= root {
            return;
        }
        self.refetches
            .start(slot, notice.block_id, &notice.losing_roots);
        // Shreds of sets both versions share were seen with the dropped one: let them in again.
        self.deduper.reset();
        self.stats.refetched_slots.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            slot,
            block_id = ?notice.block_id,
            forgotten = notice.removed.len(),
            "fetching the confirmed version of a duplicate slot"
        );
        // On the events channel, after every report of the dropped version.
        let _ = io.events.send(DataEvent::Refetch(Refetch {
            slot: notice.slot,
            block_id: notice.block_id,
        }));
    }

    /// Sends shreds on to children, counting them (`recovered`: rebuilt here, not received).
    fn retransmit(&self, sender: &mut UdpSender, packets: &[(&[u8], SocketAddr)], recovered: bool) {
        match sender.send_grouped(packets) {
            Ok(n) => {
                self.stats
                    .retransmitted
                    .fetch_add(n as u64, Ordering::Relaxed);
                if recovered {
                    self.stats
                        .retransmitted_recovered
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::debug!(recovered, "retransmit failed: {e}"),
        }
    }

    /// Appends the addresses of this node's children in `id`'s tree to `out`.
    fn children_addrs(&mut self, leader: &Pubkey, id: ShredId, out: &mut Vec<SocketAddr>) {
        self.tree.children_into(
            leader,
            id,
            &self.config.identity,
            &mut self.scratch,
            &mut self.children,
        );
        out.extend(
            self.children
                .iter()
                .filter_map(|c| self.peers.tvu.get(c).copied()),
        );
    }

    /// Queues rebuilt data shreds for this node's children in their trees. Each is marked seen, so
    /// the original arriving late is dropped as a repeat rather than sent on a second time.
    fn queue_recovered(&mut self, slot: u64, leader: &Pubkey, indices: &[u32]) {
        let mut addrs = Vec::new();
        for &index in indices {
            addrs.clear();
            self.children_addrs(leader, ShredId::data(Slot(slot), index), &mut addrs);
            let Some(bytes) = self.assembler.data_shred(slot, index) else {
                continue;
            };
            self.deduper.is_duplicate(bytes);
            // A leaf (most nodes, for most shreds) has no one to send it to: no copy.
            if addrs.is_empty() {
                continue;
            }
            let bytes: Arc<[u8]> = Arc::from(&bytes[..]);
            for &addr in &addrs {
                self.recovered_out.push((bytes.clone(), addr));
            }
        }
    }

    fn complete(&mut self, done: CompletedSlot, leader: Pubkey, io: &Links) {
        let slot = done.slot;
        self.refetches.completed(slot);
        let last = self.assembler.last_index(slot).unwrap_or(0);
        let data_shreds: Vec<Vec<u8>> = (0..=last)
            .filter_map(|i| self.assembler.data_shred(slot, i).map(|s| s.to_vec()))
            .collect();
        self.slots.remove(&slot);
        self.changed.remove(&slot);
        self.completed.insert(slot);
        while self.completed.len() > COMPLETED_REMEMBERED_MAX {
            self.completed.pop_first();
        }
        // At once: repair stops asking for it.
        let _ = io.events.send(DataEvent::SlotProgress(SlotProgress {
            slot: Slot(slot),
            parent: Some(Slot(done.parent)),
            received_data: Vec::new(),
            last_index: None,
            missing_roots: Vec::new(),
            complete: true,
        }));
        self.stats.completed_slots.fetch_add(1, Ordering::Relaxed);
        let block = ReceivedBlock {
            slot: Slot(slot),
            parent: Slot(done.parent),
            leader,
            stream: done.data,
            data_shreds,
            last_fec_root: Some(Hash(done.last_root.0)),
        };
        // Replay is the consumer that must not lose a block: wait for room rather than drop it.
        if io.blocks.send(block).is_err() {
            io.exit.store(true, Ordering::Relaxed);
        }
    }

    /// Reports the slots whose progress changed since the last report.
    fn report_progress(&mut self, io: &Links) {
        for slot in std::mem::take(&mut self.changed) {
            if !self.slots.contains(&slot) {
                continue;
            }
            let _ = io
                .events
                .send(DataEvent::SlotProgress(self.progress_of(slot)));
        }
    }

    /// Where the assembler stands on `slot`, which it holds incomplete.
    fn progress_of(&self, slot: u64) -> SlotProgress {
        let last_index = self.assembler.last_index(slot);
        let end = last_index.or(self.assembler.highest_data_index(slot));
        let missing: BTreeSet<u32> = self.assembler.missing_data(slot).into_iter().collect();
        let received_data = match end {
            Some(end) => (0..=end).filter(|i| !missing.contains(i)).collect(),
            None => Vec::new(),
        };
        let missing_roots = missing
            .iter()
            .filter_map(|&i| {
                let root = self
                    .assembler
                    .set_root_of(slot, i)
                    .or_else(|| self.assembler.root_of_set_ending_at(slot, i))?;
                Some((i, Hash(root.0)))
            })
            .collect();
        SlotProgress {
            slot: Slot(slot),
            parent: self.assembler.parent(slot).map(Slot),
            received_data,
            last_index,
            missing_roots,
            complete: false,
        }
    }
}

#[cfg(test)]
mod replace_tests;
#[cfg(test)]
mod tests;
