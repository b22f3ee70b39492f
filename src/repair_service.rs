//! The serve side of repair: peers' requests on the `serve_repair` socket, answered from the store.
//!
//! One std thread, **`bb-serve-repair`**: each request datagram is decoded
//! ([`SignedRequest::decode`]), checked ([`verify`]: addressed to this node, fresh, signed for this
//! cluster), admitted by the requester's token bucket ([`RepairRateLimiter`], which also refuses
//! replayed nonces) and answered by the sans-IO [`RepairResponder`] from the [`Store`]; the answers
//! go back to the request's source address. Refused requests get no answer (answering a flood
//! would amplify it) and are counted by reason.
//!
//! The asking side is the control plane's: the core's repair planner decides what to ask whom, and
//! the control task signs, sends and receives on the `repair` socket (see `control::repair`). Its
//! counters live here too, in [`RepairStats`], so every repair metric has one home.
//!
//! Every bound is named: [`PACKETS_PER_BATCH`](dataplane::packet::PACKETS_PER_BATCH) datagrams per
//! receive, [`DEFAULT_RESPONSES_MAX`] answers per request, the rate limiter's own bounds in its
//! config.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dataplane::packet::{Packet, PacketBatch};
use dataplane::repair::{
    verify, AncestorHash, RateLimitConfig, RepairError, RepairRateLimiter, RepairResponder,
    ShredSource, SignedRequest, DEFAULT_RESPONSES_MAX, SHRED_RESPONSE_LEN,
};
use dataplane::shred::ShredView;
use dataplane::store::{Store, StoreError};
use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::udp::{UdpBackend, UdpOptions, UdpReceiver, UdpSender};
use ed25519_dalek::SigningKey;

#[cfg(test)]
pub(crate) mod tests;

/// Longest the serve thread blocks in one receive before it looks at the exit flag again.
pub const SERVE_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Pause after a failed receive, so that a persistent socket error does not spin a core.
const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// Default window, either side of now, within which a request's wallclock must fall.
pub const DEFAULT_MAX_REQUEST_AGE_MS: u64 = 10_000;
/// Settings of the serve side.
#[derive(Debug, Clone)]
pub struct RepairServiceConfig {
    /// The node identity: requests must be addressed to it; it signs "don't have" answers.
    pub keypair: SigningKey,
    /// The cluster's genesis hash, bound into every signature.
    pub genesis_hash: Hash,
    /// The per-requester token bucket.
    pub rate_limit: RateLimitConfig,
    /// Window, either side of now, within which a request's wallclock must fall.
    pub max_request_age_ms: u64,
}

impl RepairServiceConfig {
    /// Defaults for everything but identity and cluster.
    pub fn new(keypair: SigningKey, genesis_hash: Hash) -> Self {
        RepairServiceConfig {
            keypair,
            genesis_hash,
            rate_limit: RateLimitConfig::default(),
            max_request_age_ms: DEFAULT_MAX_REQUEST_AGE_MS,
        }
    }
}

/// What the serve side reads: its socket and the store.
#[derive(Debug)]
pub struct RepairIo {
    /// Socket the serve side receives requests on and answers from.
    pub serve_socket: UdpSocket,
    /// The ledger it answers from.
    pub store: Arc<Store>,
    /// Set to stop the thread.
    pub exit: Arc<AtomicBool>,
}

/// Declares [`RepairStats`] and its `snapshot` from one list, so the two cannot drift apart.
macro_rules! repair_stats {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// Repair's counters, both sides (relaxed atomics, shared with the metrics endpoint).
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
    /// `AncestorHashes` requests sent.
    requests_ancestor_hashes,
    /// Slots to fetch again in the version the cluster confirmed.
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
    /// Ancestor-hashes answers with a bad signature, for another node, or signed by someone other
    /// than the peer at their source address.
    ancestors_rejected_signature,
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
            | RepairError::BadAncestors(_)
            | RepairError::BadShredLength { .. } => &self.serve_rejected_decode,
        };
        bump(counter, 1);
    }
}

/// Adds `n` to a counter.
pub(crate) fn bump(counter: &AtomicU64, n: usize) {
    counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// The running serve side: its thread and the repair counters.
#[derive(Debug)]
pub struct RepairService {
    stats: Arc<RepairStats>,
    serve: JoinHandle<()>,
}

impl RepairService {
    /// Starts the serve thread (`bb-serve-repair`).
    pub fn spawn(cfg: RepairServiceConfig, io: RepairIo) -> io::Result<RepairService> {
        let stats = Arc::new(RepairStats::default());
        let me = Pubkey(cfg.keypair.verifying_key().to_bytes());
        let serve = ServeLoop::new(&cfg, &io, me, Arc::clone(&stats))?;
        tracing::info!(
            identity = %me,
            serve_repair = ?serve.receiver.socket().local_addr().ok(),
            "repair serve side starting"
        );
        let serve = thread::Builder::new()
            .name("bb-serve-repair".into())
            .spawn(move || serve.run())?;
        Ok(RepairService { stats, serve })
    }

    /// The repair counters (the control task's asking side counts into them too).
    pub fn stats(&self) -> Arc<RepairStats> {
        Arc::clone(&self.stats)
    }

    /// Waits for the thread to end (after the exit flag is set); `Err` if it panicked.
    pub fn join(self) -> thread::Result<()> {
        self.serve.join()
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

    /// Replayed slots' metadata down the parent links: bank hash, and the last FEC set's root as
    /// the block id.
    fn ancestor_hashes(&self, slot: Slot, max: usize) -> Vec<AncestorHash> {
        let mut out = Vec::new();
        let mut current = Some(slot);
        while let Some(s) = current {
            if out.len() >= max {
                break;
            }
            let Some(meta) = self.read(self.store.slot_meta(s)).flatten() else {
                break;
            };
            let block_id = self.read(self.store.last_fec_root(s)).flatten();
            out.push(AncestorHash {
                slot: s,
                bank_hash: meta.bank_hash,
                block_id: block_id.unwrap_or_default(),
            });
            // A parent must be older; a store claiming otherwise would loop.
            current = (meta.parent_slot < s).then_some(meta.parent_slot);
        }
        out
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
            exit: Arc::clone(&io.exit),
        })
    }

    fn run(mut self) {
        let mut batch = PacketBatch::new();
        // At most PACKETS_PER_BATCH × DEFAULT_RESPONSES_MAX answers per batch.
        let mut answers: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        while !self.exit.load(Ordering::Acquire) {
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
