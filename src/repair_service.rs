//! The serve side of repair: peers' requests on the `serve_repair` socket, answered from the store.
//!
//! One std thread, **`bb-serve-repair`**: each datagram is judged by the sans-IO [`RepairGate`]
//! (decoded; from a cluster member; addressed to this node, fresh and signed for this cluster;
//! within its address's and its requester's token buckets; not a replayed nonce; and from an
//! address where the requester has answered a ping lately) and, if admitted, answered by the
//! sans-IO [`RepairResponder`] from the [`Store`]; the answers go back to the request's source
//! address. Refused requests get no answer (answering a flood would amplify it, and answering an
//! unproven address would let anyone aim our shreds at a victim) except, where the gate says so,
//! a ping no larger than the request; pongs to those pings come back on the same socket. Every
//! refusal is counted by reason.
//!
//! The asking side is the control plane's: the core's repair planner decides what to ask whom, and
//! the control task signs, sends and receives on the `repair` socket (see `control::repair`). Its
//! counters live here too, in [`RepairStats`], so every repair metric has one home.
//!
//! Every bound is named: [`PACKETS_PER_BATCH`](dataplane::packet::PACKETS_PER_BATCH) datagrams per
//! receive, [`DEFAULT_RESPONSES_MAX`] answers per request (plus at most one ping), the gate's own
//! bounds in its [`GateConfig`].

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dataplane::packet::{Packet, PacketBatch};
use dataplane::repair::{
    AncestorHash, GateConfig, GateTime, PingAction, RepairError, RepairGate, RepairResponder,
    ShredSource, Verdict, DEFAULT_RESPONSES_MAX, SHRED_RESPONSE_LEN,
};
use dataplane::shred::ShredView;
use dataplane::store::{Store, StoreError};
use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::udp::{UdpBackend, UdpOptions, UdpReceiver, UdpSender};
use ed25519_dalek::SigningKey;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_reflection;

/// Longest the serve thread blocks in one receive before it looks at the exit flag again.
pub const SERVE_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Pause after a failed receive, so that a persistent socket error does not spin a core.
const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// Settings of the serve side.
#[derive(Debug, Clone)]
pub struct RepairServiceConfig {
    /// The node identity: requests must be addressed to it; it signs "don't have" answers and pings.
    pub keypair: SigningKey,
    /// The cluster's genesis hash, bound into every signature.
    pub genesis_hash: Hash,
    /// The cluster's validators: the only identities served.
    pub members: Vec<Pubkey>,
    /// Rate limits, the ping/pong check and the request age window.
    pub gate: GateConfig,
}

impl RepairServiceConfig {
    /// Defaults for everything but identity, cluster and its members.
    pub fn new(keypair: SigningKey, genesis_hash: Hash, members: Vec<Pubkey>) -> Self {
        RepairServiceConfig {
            keypair,
            genesis_hash,
            members,
            gate: GateConfig::default(),
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
    /// Datagrams (requests and pongs) received by the serve side.
    serve_received,
    /// Requests or pongs refused: malformed, truncated, oversized, trailing bytes or unknown tag.
    serve_rejected_decode,
    /// Requests or pongs refused: the signer is not one of the cluster's validators.
    serve_rejected_not_member,
    /// Requests or pongs refused: the signer is not a valid ed25519 key.
    serve_rejected_invalid_key,
    /// Requests or pongs refused: bad signature (tampered, or signed for another cluster).
    serve_rejected_bad_signature,
    /// Requests refused: addressed to another node.
    serve_rejected_wrong_recipient,
    /// Requests refused: wallclock outside the accepted window.
    serve_rejected_stale,
    /// Requests or pongs refused: their source address exceeded its rate limit.
    serve_rejected_address_rate_limited,
    /// Requests refused: the requester exceeded its rate limit.
    serve_rejected_rate_limited,
    /// Requests refused: a nonce the requester used moments ago (a replay).
    serve_rejected_duplicate_nonce,
    /// Requests refused: the requester has not answered a ping at the source address lately
    /// (answered at most with a ping).
    serve_rejected_unverified_address,
    /// Pongs refused: they answer no live ping sent to their source (wrong token, another
    /// address's, or expired).
    serve_rejected_pong_mismatch,
    /// Pings sent (to verify an address, or to renew a verification past its half-life).
    serve_pings_sent,
    /// Pings due but not sent: the address had its share.
    serve_pings_rate_limited,
    /// Pongs accepted: a member proved it receives at an address.
    serve_pongs_accepted,
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
    /// Pings from a peer answered with a pong.
    pongs_sent,
    /// Pings with a bad signature (or for another cluster), not answered.
    pings_rejected_signature,
    /// Pings signed by someone other than the peer at their source address, not answered.
    pings_rejected_responder,
    /// Pings not answered: the peer's address had its share of pongs.
    pongs_rate_limited,
    /// Pongs not sent (socket buffer full or send error).
    pongs_send_dropped,
}

impl RepairStats {
    /// Counts a datagram the serve side refused, by reason.
    fn count_serve_rejection(&self, err: &RepairError) {
        let counter = match err {
            RepairError::NotMember(_) => &self.serve_rejected_not_member,
            RepairError::AddressRateLimited(_) => &self.serve_rejected_address_rate_limited,
            RepairError::UnverifiedAddress { .. } => &self.serve_rejected_unverified_address,
            RepairError::PongMismatch { .. } => &self.serve_rejected_pong_mismatch,
            RepairError::InvalidKey(_) => &self.serve_rejected_invalid_key,
            RepairError::BadSignature(_) => &self.serve_rejected_bad_signature,
            RepairError::WrongRecipient { .. } => &self.serve_rejected_wrong_recipient,
            RepairError::Stale { .. } => &self.serve_rejected_stale,
            RepairError::RateLimited(_) => &self.serve_rejected_rate_limited,
            RepairError::DuplicateNonce { .. } => &self.serve_rejected_duplicate_nonce,
            RepairError::Oversized { .. }
            | RepairError::Truncated { .. }
            | RepairError::TrailingBytes { .. }
            | RepairError::Malformed(_)
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
        let serve = ServeLoop::new(&cfg, &io, Arc::clone(&stats))?;
        tracing::info!(
            identity = %me,
            members = cfg.members.len(),
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
    receiver: UdpReceiver,
    sender: UdpSender,
    gate: RepairGate,
    responder: RepairResponder,
    /// Origin of the gate's monotonic clock.
    started: Instant,
    store: Arc<Store>,
    stats: Arc<RepairStats>,
    exit: Arc<AtomicBool>,
}

impl ServeLoop {
    fn new(
        cfg: &RepairServiceConfig,
        io: &RepairIo,
        stats: Arc<RepairStats>,
    ) -> io::Result<ServeLoop> {
        let (receiver, sender) = udp_pair(&io.serve_socket)?;
        Ok(ServeLoop {
            receiver,
            sender,
            // The token secret comes from the OS-seeded CSPRNG: a token must be unguessable to
            // anyone not receiving at the address it was sent to.
            gate: RepairGate::new(
                cfg.keypair.clone(),
                cfg.genesis_hash,
                cfg.members.iter().copied(),
                cfg.gate,
                rand::random(),
            ),
            responder: RepairResponder::new(
                cfg.keypair.clone(),
                cfg.genesis_hash,
                DEFAULT_RESPONSES_MAX,
            ),
            started: Instant::now(),
            store: Arc::clone(&io.store),
            stats,
            exit: Arc::clone(&io.exit),
        })
    }

    fn run(mut self) {
        let mut batch = PacketBatch::new();
        // At most PACKETS_PER_BATCH × (DEFAULT_RESPONSES_MAX + 1 ping) answers per batch.
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
            let now = GateTime {
                wallclock_ms: wallclock_ms(),
                monotonic_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            };
            answers.clear();
            for packet in batch.iter() {
                self.answer(packet, now, &mut answers);
            }
            let msgs: Vec<(&[u8], SocketAddr)> =
                answers.iter().map(|(d, a)| (d.as_slice(), *a)).collect();
            let dropped = send_all(&mut self.sender, &msgs);
            bump(&self.stats.serve_send_dropped, dropped);
        }
        tracing::info!("repair serve thread exiting");
    }

    /// Judges one datagram and appends what goes back to its source: the answers to an admitted
    /// request, and a ping if the gate wants one.
    fn answer(&mut self, packet: &Packet, now: GateTime, out: &mut Vec<(Vec<u8>, SocketAddr)>) {
        bump(&self.stats.serve_received, 1);
        if packet.is_oversized() {
            bump(&self.stats.serve_rejected_decode, 1);
            return;
        }
        let outcome = self.gate.on_datagram(packet.data(), packet.addr(), now);
        match outcome.ping {
            PingAction::None => {}
            PingAction::Send(ping) => {
                bump(&self.stats.serve_pings_sent, 1);
                out.push((ping.to_vec(), packet.addr()));
            }
            PingAction::RateLimited => bump(&self.stats.serve_pings_rate_limited, 1),
        }
        let request = match outcome.verdict {
            Verdict::Serve(request) => request,
            Verdict::PongAccepted(from) => {
                bump(&self.stats.serve_pongs_accepted, 1);
                tracing::debug!(%from, addr = %packet.addr(), "repair requester verified");
                return;
            }
            Verdict::Refused(err) => {
                self.stats.count_serve_rejection(&err);
                tracing::trace!(from = %packet.addr(), %err, "repair datagram refused");
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
