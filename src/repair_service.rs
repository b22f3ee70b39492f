//! The repair service: the repair protocol wired to its two UDP sockets and the node's store.
//!
//! Two std threads, no async:
//!
//! - **`bb-serve-repair`** answers peers on the `serve_repair` socket. Each request datagram is
//!   decoded ([`SignedRequest::decode`]), checked ([`verify`]: addressed to this node, fresh, signed
//!   for this cluster), admitted by the requester's token bucket ([`RepairRateLimiter`], which also
//!   refuses replayed nonces) and answered by the sans-IO [`RepairResponder`] from the [`Store`]; the
//!   answers go back to the request's source address. Refused requests get no answer (answering a
//!   flood would amplify it) and are counted by reason.
//! - **`bb-repair`** asks peers on the `repair` socket. Every [`ROUND_INTERVAL`] it feeds the
//!   sans-IO [`RepairPlanner`] what the shred receive path published (the [`SlotRepairStatus`]
//!   snapshot), the orphans replay reported and the current root, runs a round, signs each request
//!   with the node identity and sends it to the chosen peer's `serve_repair` address. Between rounds
//!   it receives answers on the same socket: a shred whose nonce the planner accepts goes to the
//!   `repaired` channel as raw bytes (the shred receive path verifies it like any shred: the nonce
//!   only says someone asked for it, not that it is genuine); a verified "don't have" makes the
//!   planner ask elsewhere.
//!
//! A slot to fetch again ([`Refetch`]: this node's version of a duplicate slot was dropped for the
//! one the cluster confirmed) was completed once, and the planner has no input that takes a
//! completion back: the client starts a fresh planner (peers, root, remembered orphans and what
//! the receive path reports carry over; outstanding requests do not) and gives it the slot as an
//! orphan. Its version is the receive path's business: it takes only shreds of the wanted version
//! and names that version's FEC set roots in what it reports, so the requests name them.
//!
//! A response's peer is the identity known for its source address: answers from addresses that are
//! no known peer's `serve_repair` are dropped and counted. The peers are the config's at start and
//! then whatever list the control plane last sent on [`RepairIo::peers`] (from gossip): the client
//! applies the newest list at the start of each round.
//!
//! Every bound is named: [`PACKETS_PER_BATCH`](dataplane::packet::PACKETS_PER_BATCH) datagrams per receive, [`DEFAULT_RESPONSES_MAX`]
//! answers per request, [`ORPHANS_PER_ROUND_MAX`] orphans and [`REFETCHES_PER_ROUND_MAX`] slots to
//! fetch again per round, [`ORPHANS_REMEMBERED_MAX`] orphans remembered, the planner's and the rate
//! limiter's own bounds in their configs.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use controlplane::repair::{RepairConfig, RepairPlanner, RepairRequestOut, SlotProgress};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use dataplane::packet::{Packet, PacketBatch};
use dataplane::plane::{Refetch, SlotRepairStatus};
use dataplane::repair::{
    decode_response, verify, RateLimitConfig, RepairError, RepairKind, RepairRateLimiter,
    RepairRequest, RepairResponder, RepairResponse, ShredSource, SignedRequest,
    DEFAULT_RESPONSES_MAX, SHRED_RESPONSE_LEN,
};
use dataplane::shred::ShredView;
use dataplane::store::{Store, StoreError};
use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::udp::{UdpBackend, UdpOptions, UdpReceiver, UdpSender};
use ed25519_dalek::SigningKey;

#[cfg(test)]
mod tests;

/// How often the client thread runs a planner round.
pub const ROUND_INTERVAL: Duration = Duration::from_millis(20);
/// Longest the serve thread blocks in one receive before it looks at the exit flag again.
pub const SERVE_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Pause after a failed receive, so that a persistent socket error does not spin a core.
const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// Default window, either side of now, within which a request's wallclock must fall.
pub const DEFAULT_MAX_REQUEST_AGE_MS: u64 = 10_000;
/// Peer lists queued to the client at most (the control plane sends one when its peer table
/// changes; the client drains them every round, newest wins).
pub const PEER_UPDATES_MAX: usize = 64;
/// Most orphans taken from the orphan channel per round; the rest wait for the next round.
pub const ORPHANS_PER_ROUND_MAX: usize = 1024;
/// Most slots to fetch again taken per round; the rest wait for the next round.
pub const REFETCHES_PER_ROUND_MAX: usize = 64;
/// Orphans (and slots to fetch again) remembered above the root, oldest kept, so that a fresh
/// planner is given them again.
pub const ORPHANS_REMEMBERED_MAX: usize = 64;

/// A peer to ask for repairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepairPeer {
    /// Its node identity (requests are addressed to it; its "don't have"s are signed by it).
    pub identity: Pubkey,
    /// Its `serve_repair` socket (its answers come from there too).
    pub serve_repair: SocketAddr,
}

/// Settings of the repair service.
#[derive(Debug, Clone)]
pub struct RepairServiceConfig {
    /// The node identity: signs requests and "don't have" answers.
    pub keypair: SigningKey,
    /// The cluster's genesis hash, bound into every signature.
    pub genesis_hash: Hash,
    /// Peers to ask at start (this node is ignored if listed); [`RepairIo::peers`] replaces them.
    pub peers: Vec<RepairPeer>,
    /// The planner's policy and bounds.
    pub planner: RepairConfig,
    /// The per-requester token bucket of the serve side.
    pub rate_limit: RateLimitConfig,
    /// Window, either side of now, within which a request's wallclock must fall.
    pub max_request_age_ms: u64,
    /// Seeds the planner's random peer choice and nonces.
    pub seed: u64,
}

impl RepairServiceConfig {
    /// Defaults for everything but identity, cluster and peers; the seed comes from the identity so
    /// that nodes of one cluster do not all make the same choices.
    pub fn new(keypair: SigningKey, genesis_hash: Hash, peers: Vec<RepairPeer>) -> Self {
        let identity = keypair.verifying_key().to_bytes();
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&identity[..8]);
        RepairServiceConfig {
            keypair,
            genesis_hash,
            peers,
            planner: RepairConfig::default(),
            rate_limit: RateLimitConfig::default(),
            max_request_age_ms: DEFAULT_MAX_REQUEST_AGE_MS,
            seed: u64::from_le_bytes(seed),
        }
    }
}

/// What the service reads and writes: its sockets, the store and the node's shared state.
#[derive(Debug)]
pub struct RepairIo {
    /// Socket the client sends requests from and receives answers on.
    pub repair_socket: UdpSocket,
    /// Socket the serve side receives requests on and answers from.
    pub serve_socket: UdpSocket,
    /// The ledger the serve side answers from.
    pub store: Arc<Store>,
    /// The shred receive path's latest view of the slots it assembles.
    pub status: Arc<Mutex<Vec<SlotRepairStatus>>>,
    /// Parents that replay is missing.
    pub orphans: Receiver<Slot>,
    /// Slots whose dropped version must be fetched again in the cluster's (from the receive path).
    pub refetch: Receiver<Refetch>,
    /// Peer lists from the control plane; each replaces the last (newest wins).
    pub peers: Receiver<Vec<RepairPeer>>,
    /// The node's current root slot.
    pub root: Arc<AtomicU64>,
    /// Where repaired shreds go (raw bytes, unverified; never blocked on).
    pub repaired: Sender<Vec<u8>>,
    /// Set to stop both threads.
    pub exit: Arc<AtomicBool>,
}

/// Declares [`RepairStats`] and its `snapshot` from one list, so the two cannot drift apart.
macro_rules! repair_stats {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// The service's counters (relaxed atomics, shared with the metrics endpoint).
        #[derive(Debug, Default)]
        pub struct RepairStats {
            $($(#[doc = $doc])+ pub $name: AtomicU64,)+
        }

        impl RepairStats {
            /// Every counter as `(name, value)`, in declaration order; names are stable snake-case
            /// metric names (prefix them, e.g. `blackbook_repair_`, when exporting).
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)+]
            }
        }
    };
}

repair_stats! {
    /// Request datagrams received by the serve side.
    serve_received,
    /// Requests refused: malformed, truncated, oversized, trailing bytes or unknown tag.
    serve_rejected_decode,
    /// Requests refused: the requester is not a valid ed25519 key.
    serve_rejected_invalid_key,
    /// Requests refused: bad signature (tampered, or signed for another cluster).
    serve_rejected_bad_signature,
    /// Requests refused: addressed to another node.
    serve_rejected_wrong_recipient,
    /// Requests refused: wallclock outside the accepted window.
    serve_rejected_stale,
    /// Requests refused: the requester exceeded its rate limit.
    serve_rejected_rate_limited,
    /// Requests refused: a nonce the requester used moments ago (a replay).
    serve_rejected_duplicate_nonce,
    /// Requests answered with at least one shred.
    serve_served,
    /// Requests answered with "don't have".
    serve_dont_have,
    /// Shred datagrams sent in answers.
    serve_shreds_sent,
    /// Answer datagrams not sent (socket buffer full or send error).
    serve_send_dropped,
    /// Store reads that failed while answering (answered as not held).
    serve_store_errors,
    /// Failed receives on the serve socket.
    serve_recv_errors,
    /// `Shred` requests sent.
    requests_shred,
    /// `HighestShred` requests sent.
    requests_highest_shred,
    /// `Orphan` requests sent.
    requests_orphan,
    /// Slots to fetch again in the version the cluster confirmed (each starts a fresh planner).
    refetches,
    /// Requests the planner made that were not sent (socket buffer full, send error, or a peer
    /// without an address).
    requests_send_dropped,
    /// Shred answers accepted and passed to the `repaired` channel.
    responses_accepted,
    /// Answers from an address that is no configured peer's `serve_repair`.
    responses_rejected_unknown_source,
    /// Answers that do not parse.
    responses_rejected_decode,
    /// Shred answers with a nonce the planner does not expect from that peer (unknown, late or
    /// already answered).
    responses_rejected_nonce,
    /// Accepted shreds dropped because the `repaired` channel was full or closed.
    repaired_dropped,
    /// Verified "don't have" answers the planner accepted.
    dont_have,
    /// "Don't have" answers with a bad signature or for another node.
    dont_have_rejected_signature,
    /// "Don't have" answers signed by someone other than the peer at their source address.
    dont_have_rejected_responder,
    /// "Don't have" answers with a nonce the planner does not expect from that peer.
    dont_have_rejected_nonce,
    /// Failed receives on the repair socket.
    client_recv_errors,
}

impl RepairStats {
    /// Counts a request the serve side refused, by reason.
    fn count_serve_rejection(&self, err: &RepairError) {
        let counter = match err {
            RepairError::InvalidKey(_) => &self.serve_rejected_invalid_key,
            RepairError::BadSignature(_) => &self.serve_rejected_bad_signature,
            RepairError::WrongRecipient { .. } => &self.serve_rejected_wrong_recipient,
            RepairError::Stale { .. } => &self.serve_rejected_stale,
            RepairError::RateLimited(_) => &self.serve_rejected_rate_limited,
            RepairError::DuplicateNonce { .. } => &self.serve_rejected_duplicate_nonce,
            RepairError::Oversized { .. }
            | RepairError::Truncated { .. }
            | RepairError::TrailingBytes { .. }
            | RepairError::UnknownTag { .. }
            | RepairError::BadRootFlag(_)
            | RepairError::BadShredLength { .. } => &self.serve_rejected_decode,
        };
        bump(counter, 1);
    }
}

/// Adds `n` to a counter.
fn bump(counter: &AtomicU64, n: usize) {
    counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// The running service: its two threads and their counters.
#[derive(Debug)]
pub struct RepairService {
    stats: Arc<RepairStats>,
    serve: JoinHandle<()>,
    client: JoinHandle<()>,
}

impl RepairService {
    /// Starts the serve (`bb-serve-repair`) and client (`bb-repair`) threads.
    pub fn spawn(cfg: RepairServiceConfig, io: RepairIo) -> io::Result<RepairService> {
        let stats = Arc::new(RepairStats::default());
        let me = Pubkey(cfg.keypair.verifying_key().to_bytes());
        let serve = ServeLoop::new(&cfg, &io, me, Arc::clone(&stats))?;
        let client = ClientLoop::new(&cfg, io, me, Arc::clone(&stats))?;
        tracing::info!(
            identity = %me,
            serve_repair = ?serve.receiver.socket().local_addr().ok(),
            repair = ?client.receiver.socket().local_addr().ok(),
            peers = client.peer_addrs.len(),
            "repair service starting"
        );
        let serve_exit = Arc::clone(&serve.exit);
        let serve = thread::Builder::new()
            .name("bb-serve-repair".into())
            .spawn(move || serve.run())?;
        let client = match thread::Builder::new()
            .name("bb-repair".into())
            .spawn(move || client.run())
        {
            Ok(handle) => handle,
            Err(err) => {
                // The exit flag is the node's: stop the serve thread without stopping the node.
                serve_exit.store(true, Ordering::Release);
                let _ = serve.join();
                return Err(err);
            }
        };
        Ok(RepairService {
            stats,
            serve,
            client,
        })
    }

    /// The service's counters.
    pub fn stats(&self) -> Arc<RepairStats> {
        Arc::clone(&self.stats)
    }

    /// Waits for both threads to end (after the exit flag is set); `Err` if either panicked.
    pub fn join(self) -> thread::Result<()> {
        let serve = self.serve.join();
        let client = self.client.join();
        serve.and(client)
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn wallclock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Sends every message it can; returns how many were not sent. A message the kernel refuses is
/// skipped (one bad destination must not block the others); a full socket buffer drops the rest.
fn send_all(sender: &mut UdpSender, msgs: &[(&[u8], SocketAddr)]) -> usize {
    let mut done = 0;
    let mut dropped = 0;
    while done < msgs.len() {
        match sender.send(&msgs[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => {
                tracing::debug!(dest = %msgs[done].1, %err, "repair datagram not sent");
                done += 1;
                dropped += 1;
            }
        }
    }
    dropped + (msgs.len() - done)
}

/// The store as the responder reads it; read errors count and read as "not held".
struct StoreShreds<'a> {
    store: &'a Store,
    stats: &'a RepairStats,
}

impl StoreShreds<'_> {
    fn read<T>(&self, result: Result<T, StoreError>) -> Option<T> {
        result
            .inspect_err(|err| {
                bump(&self.stats.serve_store_errors, 1);
                tracing::debug!(%err, "store read failed while serving repair");
            })
            .ok()
    }
}

impl ShredSource for StoreShreds<'_> {
    fn shred(&self, slot: Slot, index: u32) -> Option<Vec<u8>> {
        self.read(self.store.shred(slot, index)).flatten()
    }

    fn last_index(&self, slot: Slot) -> Option<u32> {
        self.read(self.store.shred_count(slot))?.checked_sub(1)
    }

    fn parent(&self, slot: Slot) -> Option<Slot> {
        self.read(self.store.slot_meta(slot))
            .flatten()
            .map(|meta| meta.parent_slot)
    }

    /// The root recomputed from the stored shred's own Merkle proof: right for every FEC set, not
    /// only the last one `Store::last_fec_root` keeps.
    fn fec_root(&self, slot: Slot, index: u32) -> Option<Hash> {
        let shred = self.shred(slot, index)?;
        let view = ShredView::parse(&shred).ok()?;
        (view.slot() == slot.0 && view.index() == index).then(|| Hash(view.merkle_root().0))
    }
}

/// The serve thread's state.
struct ServeLoop {
    me: Pubkey,
    genesis_hash: Hash,
    max_request_age_ms: u64,
    receiver: UdpReceiver,
    sender: UdpSender,
    limiter: RepairRateLimiter,
    responder: RepairResponder,
    store: Arc<Store>,
    stats: Arc<RepairStats>,
    exit: Arc<AtomicBool>,
    node_exit: Arc<AtomicBool>,
}

impl ServeLoop {
    fn new(
        cfg: &RepairServiceConfig,
        io: &RepairIo,
        me: Pubkey,
        stats: Arc<RepairStats>,
    ) -> io::Result<ServeLoop> {
        let (receiver, sender) = udp_pair(&io.serve_socket)?;
        Ok(ServeLoop {
            me,
            genesis_hash: cfg.genesis_hash,
            max_request_age_ms: cfg.max_request_age_ms,
            receiver,
            sender,
            limiter: RepairRateLimiter::new(cfg.rate_limit),
            responder: RepairResponder::new(
                cfg.keypair.clone(),
                cfg.genesis_hash,
                DEFAULT_RESPONSES_MAX,
            ),
            store: Arc::clone(&io.store),
            stats,
            exit: Arc::new(AtomicBool::new(false)),
            node_exit: Arc::clone(&io.exit),
        })
    }

    fn run(mut self) {
        let mut batch = PacketBatch::new();
        // At most PACKETS_PER_BATCH × DEFAULT_RESPONSES_MAX answers per batch.
        let mut answers: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        while !self.exit.load(Ordering::Acquire) && !self.node_exit.load(Ordering::Acquire) {
            match self.receiver.recv(&mut batch, SERVE_POLL_INTERVAL) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(err) => {
                    bump(&self.stats.serve_recv_errors, 1);
                    tracing::debug!(%err, "serve_repair receive failed");
                    thread::sleep(RECV_ERROR_BACKOFF);
                    continue;
                }
            }
            let now_ms = wallclock_ms();
            answers.clear();
            for packet in batch.iter() {
                self.answer(packet, now_ms, &mut answers);
            }
            let msgs: Vec<(&[u8], SocketAddr)> =
                answers.iter().map(|(d, a)| (d.as_slice(), *a)).collect();
            let dropped = send_all(&mut self.sender, &msgs);
            bump(&self.stats.serve_send_dropped, dropped);
        }
        tracing::info!("repair serve thread exiting");
    }

    /// Checks one request and, if it passes, appends its answers.
    fn answer(&mut self, packet: &Packet, now_ms: u64, out: &mut Vec<(Vec<u8>, SocketAddr)>) {
        bump(&self.stats.serve_received, 1);
        if packet.is_oversized() {
            bump(&self.stats.serve_rejected_decode, 1);
            return;
        }
        // Cheap checks first (in `verify`), then the signature, then the requester's bucket: only
        // a request that is genuinely from its requester spends that requester's tokens.
        let checked = SignedRequest::decode(packet.data()).and_then(|request| {
            verify(
                &request,
                &self.me,
                &self.genesis_hash,
                now_ms,
                self.max_request_age_ms,
            )?;
            self.limiter
                .admit(&request.requester, request.request.nonce, now_ms)?;
            Ok(request)
        });
        let request = match checked {
            Ok(request) => request,
            Err(err) => {
                self.stats.count_serve_rejection(&err);
                tracing::trace!(from = %packet.addr(), %err, "repair request refused");
                return;
            }
        };
        let source = StoreShreds {
            store: &self.store,
            stats: &self.stats,
        };
        let answers = self.responder.respond(&request, &source);
        let shreds = answers
            .iter()
            .filter(|a| a.len() == SHRED_RESPONSE_LEN)
            .count();
        if shreds > 0 {
            bump(&self.stats.serve_served, 1);
            bump(&self.stats.serve_shreds_sent, shreds);
        } else {
            bump(&self.stats.serve_dont_have, 1);
        }
        out.extend(answers.into_iter().map(|a| (a, packet.addr())));
    }
}

/// A receiver and a sender on one socket (the sender on a duplicate of its descriptor).
///
/// mmsg, not io_uring: repair traffic is a few hundred datagrams per second, and an io_uring ring
/// set up with `SINGLE_ISSUER` must not be built on one thread and used on another.
fn udp_pair(socket: &UdpSocket) -> io::Result<(UdpReceiver, UdpSender)> {
    let opts = UdpOptions {
        gro: false,
        gso: false,
        ..UdpOptions::default()
    };
    let sender = UdpSender::new(socket.try_clone()?, UdpBackend::Mmsg, opts)?;
    let receiver = UdpReceiver::new(socket.try_clone()?, UdpBackend::Mmsg, opts)?;
    Ok((receiver, sender))
}

/// The client thread's state.
struct ClientLoop {
    me: Pubkey,
    keypair: SigningKey,
    genesis_hash: Hash,
    planner: RepairPlanner,
    /// The planner's settings and seed, to start a fresh one.
    planner_config: RepairConfig,
    seed: u64,
    /// Fresh planners started so far (each gets its own seed).
    planner_restarts: u64,
    /// Orphans and slots to fetch again, above the root (see [`ORPHANS_REMEMBERED_MAX`]).
    orphans_remembered: BTreeSet<Slot>,
    /// Identity → where to send its requests.
    peer_addrs: HashMap<Pubkey, SocketAddr>,
    /// Source address → identity, to name the peer of an answer.
    peer_ids: HashMap<SocketAddr, Pubkey>,
    receiver: UdpReceiver,
    sender: UdpSender,
    status: Arc<Mutex<Vec<SlotRepairStatus>>>,
    orphans: Receiver<Slot>,
    refetch: Receiver<Refetch>,
    peer_updates: Receiver<Vec<RepairPeer>>,
    root: Arc<AtomicU64>,
    repaired: Sender<Vec<u8>>,
    stats: Arc<RepairStats>,
    exit: Arc<AtomicBool>,
    /// The planner's clock starts here.
    start: Instant,
}

impl ClientLoop {
    fn new(
        cfg: &RepairServiceConfig,
        io: RepairIo,
        me: Pubkey,
        stats: Arc<RepairStats>,
    ) -> io::Result<ClientLoop> {
        let (receiver, sender) = udp_pair(&io.repair_socket)?;
        let mut client = ClientLoop {
            me,
            keypair: cfg.keypair.clone(),
            genesis_hash: cfg.genesis_hash,
            planner: RepairPlanner::new(cfg.planner.clone(), cfg.seed),
            planner_config: cfg.planner.clone(),
            seed: cfg.seed,
            planner_restarts: 0,
            orphans_remembered: BTreeSet::new(),
            peer_addrs: HashMap::new(),
            peer_ids: HashMap::new(),
            receiver,
            sender,
            status: io.status,
            orphans: io.orphans,
            refetch: io.refetch,
            peer_updates: io.peers,
            root: io.root,
            repaired: io.repaired,
            stats,
            exit: io.exit,
            start: Instant::now(),
        };
        client.set_peers(&cfg.peers);
        Ok(client)
    }

    /// Makes `peers` (this node left out) the ones to ask and to take answers from.
    fn set_peers(&mut self, peers: &[RepairPeer]) {
        let peers: Vec<RepairPeer> = peers
            .iter()
            .copied()
            .filter(|p| p.identity != self.me)
            .collect();
        let identities: Vec<Pubkey> = peers.iter().map(|p| p.identity).collect();
        self.planner.set_peers(&identities);
        self.peer_addrs = peers.iter().map(|p| (p.identity, p.serve_repair)).collect();
        self.peer_ids = peers.iter().map(|p| (p.serve_repair, p.identity)).collect();
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn run(mut self) {
        let mut batch = PacketBatch::new();
        let mut next_round = Instant::now();
        while !self.exit.load(Ordering::Acquire) {
            // Answers are taken as they come; the wait ends at the next round so the cadence holds.
            let wait = next_round.saturating_duration_since(Instant::now());
            match self.receiver.recv(&mut batch, wait) {
                Ok(_) => {
                    let now_ms = self.now_ms();
                    for packet in batch.iter() {
                        self.on_answer(packet, now_ms);
                    }
                }
                Err(err) => {
                    bump(&self.stats.client_recv_errors, 1);
                    tracing::debug!(%err, "repair socket receive failed");
                    thread::sleep(RECV_ERROR_BACKOFF);
                }
            }
            if Instant::now() >= next_round {
                self.round();
                // From now, not from the missed deadline: a slow round must not cause a burst.
                next_round = Instant::now() + ROUND_INTERVAL;
            }
        }
        tracing::info!("repair client thread exiting");
    }

    /// Feeds the planner what changed, then signs and sends the requests of one round.
    fn round(&mut self) {
        if let Some(peers) = self.peer_updates.try_iter().last() {
            self.set_peers(&peers);
        }
        let now_ms = self.now_ms();
        let refetch: Vec<Refetch> = self
            .refetch
            .try_iter()
            .take(REFETCHES_PER_ROUND_MAX)
            .collect();
        if !refetch.is_empty() {
            self.restart_planner(&refetch);
        }
        // Copied out so the receive path waits on the lock only for the copy; read after the
        // refetch requests, so a slot the receive path forgot is no longer reported complete.
        let status: Vec<SlotRepairStatus> = self
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let root = Slot(self.root.load(Ordering::Acquire));
        self.planner.set_root(root);
        self.orphans_remembered = self
            .orphans_remembered
            .split_off(&Slot(root.0.saturating_add(1)));
        for s in status {
            if s.complete {
                self.planner.on_completed(s.slot);
            } else {
                let progress = SlotProgress {
                    slot: s.slot,
                    parent: s.parent,
                    received_data: s.received_data,
                    last_index: s.last_index,
                    missing_roots: s.missing_roots,
                    complete: false,
                };
                self.planner.on_progress(now_ms, &progress);
            }
        }
        if !refetch.is_empty() {
            // After the status: orphans completed meanwhile are settled and not asked again.
            for &slot in &self.orphans_remembered {
                self.planner.on_orphan(now_ms, slot);
            }
            // Also when the remembered ones crowded them out.
            for r in &refetch {
                self.planner.on_orphan(now_ms, r.slot);
            }
        }
        let orphans: Vec<Slot> = self
            .orphans
            .try_iter()
            .take(ORPHANS_PER_ROUND_MAX)
            .collect();
        for slot in orphans {
            self.remember_orphan(slot);
            self.planner.on_orphan(now_ms, slot);
        }
        let requests = self.planner.tick(now_ms);
        if !requests.is_empty() {
            self.send_requests(&requests);
        }
    }

    /// Starts a fresh planner for slots to fetch again (the old one would not take back their
    /// completion), with the current peers, and remembers the slots as orphans, which the round
    /// then gives it. Answers to the old planner's requests are refused from now on.
    fn restart_planner(&mut self, refetch: &[Refetch]) {
        self.planner_restarts += 1;
        // A seed of its own per restart, so it does not draw the nonces its predecessor just used.
        let seed = self
            .seed
            .wrapping_add(self.planner_restarts.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.planner = RepairPlanner::new(self.planner_config.clone(), seed);
        let identities: Vec<Pubkey> = self.peer_addrs.keys().copied().collect();
        self.planner.set_peers(&identities);
        for r in refetch {
            tracing::info!(slot = r.slot.0, block_id = ?r.block_id, "repairing a slot again");
            self.remember_orphan(r.slot);
        }
        bump(&self.stats.refetches, refetch.len());
    }

    /// Remembers `slot` as an orphan, keeping the oldest when full (closest to the held chain).
    fn remember_orphan(&mut self, slot: Slot) {
        self.orphans_remembered.insert(slot);
        while self.orphans_remembered.len() > ORPHANS_REMEMBERED_MAX {
            self.orphans_remembered.pop_last();
        }
    }

    fn send_requests(&mut self, requests: &[RepairRequestOut]) {
        let wallclock_ms = wallclock_ms();
        let mut datagrams: Vec<(Vec<u8>, SocketAddr)> = Vec::with_capacity(requests.len());
        for r in requests {
            let Some(&addr) = self.peer_addrs.get(&r.peer) else {
                bump(&self.stats.requests_send_dropped, 1);
                continue;
            };
            let request = RepairRequest {
                recipient: r.peer,
                wallclock_ms,
                nonce: r.nonce,
                kind: r.kind,
            };
            let signed = request.sign(&self.keypair, &self.genesis_hash);
            datagrams.push((signed.encode(), addr));
            let counter = match r.kind {
                RepairKind::Shred { .. } => &self.stats.requests_shred,
                RepairKind::HighestShred { .. } => &self.stats.requests_highest_shred,
                RepairKind::Orphan { .. } => &self.stats.requests_orphan,
            };
            bump(counter, 1);
        }
        let msgs: Vec<(&[u8], SocketAddr)> =
            datagrams.iter().map(|(d, a)| (d.as_slice(), *a)).collect();
        let dropped = send_all(&mut self.sender, &msgs);
        bump(&self.stats.requests_send_dropped, dropped);
    }

    /// Handles one answer datagram.
    fn on_answer(&mut self, packet: &Packet, now_ms: u64) {
        let Some(&peer) = self.peer_ids.get(&packet.addr()) else {
            bump(&self.stats.responses_rejected_unknown_source, 1);
            return;
        };
        if packet.is_oversized() {
            bump(&self.stats.responses_rejected_decode, 1);
            return;
        }
        match decode_response(packet.data()) {
            Err(err) => {
                bump(&self.stats.responses_rejected_decode, 1);
                tracing::trace!(from = %packet.addr(), %err, "repair answer refused");
            }
            Ok(RepairResponse::Shred { shred, nonce }) => {
                if !self.planner.accept_response(now_ms, nonce, &peer) {
                    bump(&self.stats.responses_rejected_nonce, 1);
                    return;
                }
                bump(&self.stats.responses_accepted, 1);
                match self.repaired.try_send(shred.to_vec()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                        bump(&self.stats.repaired_dropped, 1);
                    }
                }
            }
            Ok(RepairResponse::DontHave(answer)) => {
                if answer.verify(&self.me, &self.genesis_hash).is_err() {
                    bump(&self.stats.dont_have_rejected_signature, 1);
                } else if answer.responder != peer {
                    bump(&self.stats.dont_have_rejected_responder, 1);
                } else if self.planner.on_dont_have(now_ms, answer.reply.nonce, &peer) {
                    bump(&self.stats.dont_have, 1);
                } else {
                    bump(&self.stats.dont_have_rejected_nonce, 1);
                }
            }
        }
    }
}
