//! The asking side of repair, at the control task's edge: the core's planner decides what to ask
//! whom ([`Output::RepairRequest`](controlplane::io::Output::RepairRequest)); this signs and sends
//! each request on the `repair` socket, checks each answer before the core sees it, and hands the
//! shreds the core accepted to the shred receive path.
//!
//! An answer's peer is the identity known (from gossip) for its source address: answers from an
//! address that is no known peer's `serve_repair` are dropped and counted. A "don't have" must be
//! signed by that peer, for this node and cluster. A shred answer is passed on as raw bytes: the
//! receive path verifies it like any shred (the nonce only says someone asked for it, not that it
//! is genuine). An ancestor-hashes answer must be signed by that peer, as a "don't have" is: the
//! core weighs it by its responder's stake.
//!
//! A peer's serve side answers only addresses that have proven they receive: it may answer a request
//! with a ping instead. A ping from a known peer's `serve_repair`, signed by that peer, is answered
//! at once with a signed pong from this socket (the one requests leave from), so the planner's next
//! retry to that peer is served; pongs per peer address are rate-limited, so a replayed ping cannot
//! make this node a reflector.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use controlplane::gossip::ContactInfo;
use controlplane::io::{Input, RepairAnswer};
use controlplane::node::NodeStats;
use controlplane::repair::RepairRequestOut;
use crossbeam_channel::{Sender, TrySendError};
use dataplane::rate_limit::{KeyedTokenBuckets, TokenBucketConfig};
use dataplane::repair::{
    decode_response, Ping, Pong, RepairKind, RepairRequest, RepairResponse, PONG_LEN,
};
use dataplane::types::{Hash, Pubkey};
use ed25519_dalek::SigningKey;

use crate::repair_service::{bump, RepairStats};

/// Largest answer datagram read (a shred answer is a shred and a nonce; longer is refused).
pub const ANSWER_DATAGRAM_MAX: usize = 1_500;
/// Pongs to each peer address: a serve side pings an address at most twice at once and then once
/// a second, so only a replayed ping would reach this bound. The table holds one entry per peer.
const PONGS: TokenBucketConfig = TokenBucketConfig {
    per_s: 4,
    burst: 8,
    keys_max: 1_024,
};
/// Pongs waiting for [`RepairEdge::send_pongs`], at most (it runs after every datagram, so one is
/// the most ever queued in the node).
const PONGS_QUEUED_MAX: usize = 64;

#[cfg(test)]
mod tests;

/// The repair socket and what checking its answers needs.
pub struct RepairEdge {
    socket: tokio::net::UdpSocket,
    keypair: SigningKey,
    me: Pubkey,
    genesis_hash: Hash,
    /// Source address → identity: who answered.
    peer_ids: HashMap<SocketAddr, Pubkey>,
    /// Into the shred receive path (raw bytes, unverified; never waited on).
    repaired: Sender<Vec<u8>>,
    stats: Arc<RepairStats>,
    /// Pongs per peer address, timed from `started`.
    pongs: KeyedTokenBuckets<SocketAddr>,
    started: Instant,
    /// Pongs to send, and where.
    pongs_queued: Vec<([u8; PONG_LEN], SocketAddr)>,
}

impl RepairEdge {
    /// An edge on `socket`, signing as `keypair` for the cluster of `genesis_hash`.
    pub fn new(
        socket: tokio::net::UdpSocket,
        keypair: SigningKey,
        genesis_hash: Hash,
        repaired: Sender<Vec<u8>>,
        stats: Arc<RepairStats>,
    ) -> RepairEdge {
        RepairEdge {
            socket,
            me: Pubkey(keypair.verifying_key().to_bytes()),
            keypair,
            genesis_hash,
            peer_ids: HashMap::new(),
            repaired,
            stats,
            pongs: KeyedTokenBuckets::new(PONGS),
            started: Instant::now(),
            pongs_queued: Vec::new(),
        }
    }

    /// The socket answers arrive on.
    pub fn socket(&self) -> &tokio::net::UdpSocket {
        &self.socket
    }

    /// Takes answers only from these peers' `serve_repair` addresses (this node left out).
    pub fn set_peers(&mut self, peers: &[ContactInfo]) {
        self.peer_ids = peers
            .iter()
            .filter(|p| p.pubkey != self.me)
            .map(|p| (p.serve_repair, p.pubkey))
            .collect();
    }

    /// Signs `request` (wallclock `now_ms`) and sends it to `to`.
    pub async fn send(&self, now_ms: u64, to: SocketAddr, request: RepairRequestOut) {
        let signed = RepairRequest {
            recipient: request.peer,
            wallclock_ms: now_ms,
            nonce: request.nonce,
            kind: request.kind,
        }
        .sign(&self.keypair, &self.genesis_hash);
        let counter = match request.kind {
            RepairKind::Shred { .. } => &self.stats.requests_shred,
            RepairKind::HighestShred { .. } => &self.stats.requests_highest_shred,
            RepairKind::Orphan { .. } => &self.stats.requests_orphan,
            RepairKind::AncestorHashes { .. } => &self.stats.requests_ancestor_hashes,
        };
        bump(counter, 1);
        if let Err(err) = self.socket.send_to(&signed.encode(), to).await {
            bump(&self.stats.requests_send_dropped, 1);
            tracing::debug!(%to, %err, "repair request not sent");
        }
    }

    /// Checks one answer datagram: an input for the core, or `None` (counted by reason). A ping is
    /// answered here, with a pong queued for [`send_pongs`](Self::send_pongs), and goes no further.
    pub fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) -> Option<Input> {
        let Some(&peer) = self.peer_ids.get(&from) else {
            bump(&self.stats.responses_rejected_unknown_source, 1);
            return None;
        };
        if bytes.len() > ANSWER_DATAGRAM_MAX {
            bump(&self.stats.responses_rejected_decode, 1);
            return None;
        }
        let answer = match decode_response(bytes) {
            Ok(RepairResponse::Shred { shred, nonce }) => {
                return Some(Input::RepairAnswer {
                    from: peer,
                    nonce,
                    answer: RepairAnswer::Shred(Arc::from(shred)),
                })
            }
            Ok(RepairResponse::DontHave(answer)) => answer,
            Ok(RepairResponse::Ancestors(answer)) => {
                let signed_by_peer =
                    answer.responder == peer && answer.verify(&self.me, &self.genesis_hash).is_ok();
                if !signed_by_peer {
                    bump(&self.stats.ancestors_rejected_signature, 1);
                    return None;
                }
                return Some(Input::RepairAnswer {
                    from: peer,
                    nonce: answer.reply.nonce,
                    answer: RepairAnswer::Ancestors(answer.reply.chain),
                });
            }
            Ok(RepairResponse::Ping(ping)) => {
                self.on_ping(&ping, from, peer);
                return None;
            }
            Err(err) => {
                bump(&self.stats.responses_rejected_decode, 1);
                tracing::trace!(%from, %err, "repair answer refused");
                return None;
            }
        };
        if answer.verify(&self.me, &self.genesis_hash).is_err() {
            bump(&self.stats.dont_have_rejected_signature, 1);
            return None;
        }
        if answer.responder != peer {
            bump(&self.stats.dont_have_rejected_responder, 1);
            return None;
        }
        Some(Input::RepairAnswer {
            from: peer,
            nonce: answer.reply.nonce,
            answer: RepairAnswer::DontHave,
        })
    }

    /// Answers `peer`'s ping, which came from its `serve_repair` address `from`, with a pong.
    fn on_ping(&mut self, ping: &Ping, from: SocketAddr, peer: Pubkey) {
        // The cheap check first: a ping claiming another signer costs no signature check.
        if ping.from != peer {
            bump(&self.stats.pings_rejected_responder, 1);
            return;
        }
        if ping.verify(&self.genesis_hash).is_err() {
            bump(&self.stats.pings_rejected_signature, 1);
            return;
        }
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if !self.pongs.admit(from, 1, now_ms) {
            bump(&self.stats.pongs_rate_limited, 1);
            return;
        }
        if self.pongs_queued.len() >= PONGS_QUEUED_MAX {
            bump(&self.stats.pongs_send_dropped, 1);
            return;
        }
        let pong = Pong::new(ping, &self.keypair, &self.genesis_hash).encode();
        self.pongs_queued.push((pong, from));
    }

    /// Sends the pongs [`on_datagram`](Self::on_datagram) queued, from the socket requests leave
    /// from (the address the peer is verifying).
    pub async fn send_pongs(&mut self) {
        for (pong, to) in std::mem::take(&mut self.pongs_queued) {
            match self.socket.send_to(&pong, to).await {
                Ok(_) => bump(&self.stats.pongs_sent, 1),
                Err(err) => {
                    bump(&self.stats.pongs_send_dropped, 1);
                    tracing::debug!(%to, %err, "repair pong not sent");
                }
            }
        }
    }

    /// Hands a shred the core accepted to the shred receive path.
    pub fn repaired(&self, shred: &[u8]) {
        match self.repaired.try_send(shred.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                bump(&self.stats.repaired_dropped, 1);
            }
        }
    }

    /// Copies the core's verdicts on answers into the repair counters.
    pub fn record(&self, core: &NodeStats) {
        use std::sync::atomic::Ordering::Relaxed;
        let s = &self.stats;
        s.responses_accepted.store(core.repair_accepted, Relaxed);
        s.responses_rejected_nonce
            .store(core.repair_refused, Relaxed);
        s.dont_have.store(core.repair_dont_have, Relaxed);
        s.refetches.store(core.repair_refetches, Relaxed);
    }
}
