//! The serve side's admission policy, sans-IO: which datagrams on the serve socket get an answer,
//! and which get nothing or a ping.
//!
//! A request is served only if, in this order (cheapest first, and so that nothing an outsider can
//! forge spends a member's allowance):
//!
//! 1. it parses ([`decode_serve_datagram`]);
//! 2. its signer is a member of the cluster (a hash lookup: strangers cost no signature check);
//! 3. it is for this node, fresh, and signed for this cluster ([`verify`]);
//! 4. its source address has tokens left (charged only after the signature check, so that spoofing
//!    a member's address with junk cannot drain that member's allowance);
//! 5. its nonce is not one the requester used moments ago (a replay);
//! 6. the (signer, source address) pair answered a ping within [`PingConfig::verified_ttl_ms`] —
//!    otherwise the answer is at most a [`Ping`] to that address, rate-limited per address, and
//!    never larger than the request;
//! 7. the requester has tokens left ([`RepairRateLimiter`]).
//!
//! Past half its lifetime a verified pair is pinged again while still served, so a busy requester
//! never stalls on an expiry. A pong is accepted if its signer is a member, its signature holds and
//! its hash answers the token this node would send that signer at the pong's source address.
//!
//! Tokens are not stored: each is `sha256(secret ‖ signer ‖ address ‖ window)`, with a secret only
//! this node knows and the time window it was sent in. Only whoever receives at the address can
//! learn it; it expires after one to two windows; and pings cost no memory, so a flood of them
//! cannot push out anything.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use ed25519_dalek::SigningKey;

use super::{
    decode_serve_datagram, pong_hash, verify, Ping, Pong, RepairError, ServeDatagram,
    SignedRequest, PING_LEN,
};
use crate::rate_limit::{KeyedTokenBuckets, TokenBucketConfig};
use crate::types::{Hash, Pubkey};

/// Nonces remembered per requester to refuse replays within the wallclock window.
const RECENT_NONCES: usize = 32;
/// Domain of the token derivation, so a token is no other hash this node computes.
const TOKEN_DOMAIN: &[u8] = b"blackbook repair ping token";

/// A requester's last [`RECENT_NONCES`] admitted nonces.
#[derive(Debug, Clone, Default)]
struct RecentNonces {
    nonces: [u32; RECENT_NONCES],
    len: usize,
    next: usize,
}

impl RecentNonces {
    fn contains(&self, nonce: u32) -> bool {
        self.nonces[..self.len].contains(&nonce)
    }

    fn push(&mut self, nonce: u32) {
        self.nonces[self.next] = nonce;
        self.next = (self.next + 1) % RECENT_NONCES;
        self.len = (self.len + 1).min(RECENT_NONCES);
    }
}

/// Per-requester token buckets (one request, one token) that also refuse replayed nonces.
///
/// The last 32 (`RECENT_NONCES`) nonces of each requester are remembered, and a replay is refused
/// without spending the requester's tokens, so a replayer cannot starve the real requester.
#[derive(Debug, Clone)]
pub struct RepairRateLimiter {
    buckets: KeyedTokenBuckets<Pubkey, RecentNonces>,
}

impl RepairRateLimiter {
    /// An empty limiter.
    pub fn new(config: TokenBucketConfig) -> Self {
        RepairRateLimiter {
            buckets: KeyedTokenBuckets::new(config),
        }
    }

    /// Requesters currently tracked.
    pub fn tracked(&self) -> usize {
        self.buckets.tracked()
    }

    /// Refuses `nonce` if `requester` used it moments ago; spends nothing.
    pub fn check_nonce(&self, requester: &Pubkey, nonce: u32) -> Result<(), RepairError> {
        match self.buckets.state(requester) {
            Some(recent) if recent.contains(nonce) => Err(RepairError::DuplicateNonce {
                requester: *requester,
                nonce,
            }),
            _ => Ok(()),
        }
    }

    /// Admits one request from `requester` with `nonce` at `now_ms`, or says why not.
    pub fn admit(
        &mut self,
        requester: &Pubkey,
        nonce: u32,
        now_ms: u64,
    ) -> Result<(), RepairError> {
        self.check_nonce(requester, nonce)?;
        if self
            .buckets
            .admit_with(*requester, 1, now_ms, |recent| recent.push(nonce))
        {
            Ok(())
        } else {
            Err(RepairError::RateLimited(*requester))
        }
    }
}

/// Settings of the ping/pong check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingConfig {
    /// How long a (requester, address) pair that answered a ping is served without another.
    pub verified_ttl_ms: u64,
    /// Length of a token's time window: a pong must come back within one to two of these.
    pub token_window_ms: u64,
    /// Pings each address may be sent (the address table's bound included).
    pub pings: TokenBucketConfig,
    /// Verified pairs remembered at most; beyond it the expired, then the oldest, are forgotten.
    pub verified_max: usize,
}

impl Default for PingConfig {
    fn default() -> Self {
        PingConfig {
            // Ten minutes: re-proving costs a requester one round trip, refreshed in the
            // background from half-life, so this only bounds how long a moved address is trusted.
            verified_ttl_ms: 600_000,
            // Ample for a round trip, short enough that a leaked token is soon useless.
            token_window_ms: 10_000,
            // Two at once, then one a second: a lost pong is retried within a second, and an
            // address someone else points requests at gets at most that.
            pings: TokenBucketConfig {
                per_s: 1,
                burst: 2,
                keys_max: 4_096,
            },
            // Forty times the ~100 validators the cluster is built for.
            verified_max: 4_096,
        }
    }
}

/// Default window, either side of now, within which a request's wallclock must fall.
pub const DEFAULT_MAX_REQUEST_AGE_MS: u64 = 10_000;

/// Settings of the serve side's admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateConfig {
    /// Requests per requester identity.
    pub requesters: TokenBucketConfig,
    /// Requests per source address (after the signature check).
    pub addresses: TokenBucketConfig,
    /// The ping/pong check.
    pub ping: PingConfig,
    /// Window, either side of now, within which a request's wallclock must fall.
    pub max_request_age_ms: u64,
}

impl Default for GateConfig {
    fn default() -> Self {
        // A node catching up asks for a few hundred shreds per round; these let one such peer
        // through while capping what any single identity or address can make us send.
        let catch_up = TokenBucketConfig {
            per_s: 512,
            burst: 1_024,
            keys_max: 1_024,
        };
        GateConfig {
            requesters: catch_up,
            addresses: catch_up,
            ping: PingConfig::default(),
            max_request_age_ms: DEFAULT_MAX_REQUEST_AGE_MS,
        }
    }
}

/// The time as the gate reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateTime {
    /// Wallclock, ms since the Unix epoch: what request wallclocks are compared with.
    pub wallclock_ms: u64,
    /// Any monotonic clock, in ms: what buckets, tokens and verifications age by.
    pub monotonic_ms: u64,
}

/// What to do with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Answer this request (with [`RepairResponder`](super::RepairResponder)).
    Serve(SignedRequest),
    /// A pong proved that this member receives at the source address.
    PongAccepted(Pubkey),
    /// Drop it, for this reason.
    Refused(RepairError),
}

/// Whether to ping the datagram's source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingAction {
    /// No ping is due.
    None,
    /// Send this ping to the source address.
    Send([u8; PING_LEN]),
    /// A ping was due, but the address has had its share.
    RateLimited,
}

/// The gate's decision on one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateOutcome {
    /// Serve, accept the pong, or refuse.
    pub verdict: Verdict,
    /// A ping for the source address, if one is due.
    pub ping: PingAction,
}

impl GateOutcome {
    fn refused(err: RepairError) -> GateOutcome {
        GateOutcome {
            verdict: Verdict::Refused(err),
            ping: PingAction::None,
        }
    }
}

/// Admission for the serve side: membership, rate limits and the ping/pong check.
#[derive(Debug)]
pub struct RepairGate {
    identity: SigningKey,
    me: Pubkey,
    genesis_hash: Hash,
    members: HashSet<Pubkey>,
    config: GateConfig,
    secret: [u8; 32],
    requesters: RepairRateLimiter,
    addresses: KeyedTokenBuckets<SocketAddr>,
    pings: KeyedTokenBuckets<SocketAddr>,
    /// (requester, address) → when it last answered a ping (monotonic ms).
    verified: HashMap<(Pubkey, SocketAddr), u64>,
}

impl RepairGate {
    /// A gate for the node `identity` of the cluster of `genesis_hash`, whose validators are
    /// `members`. `secret` keys the ping tokens: random, and never sent.
    pub fn new(
        identity: SigningKey,
        genesis_hash: Hash,
        members: impl IntoIterator<Item = Pubkey>,
        config: GateConfig,
        secret: [u8; 32],
    ) -> RepairGate {
        RepairGate {
            me: Pubkey(identity.verifying_key().to_bytes()),
            identity,
            genesis_hash,
            members: members.into_iter().collect(),
            config,
            secret,
            requesters: RepairRateLimiter::new(config.requesters),
            addresses: KeyedTokenBuckets::new(config.addresses),
            pings: KeyedTokenBuckets::new(config.ping.pings),
            verified: HashMap::new(),
        }
    }

    /// (requester, address) pairs currently remembered as verified, expired ones included.
    pub fn verified_tracked(&self) -> usize {
        self.verified.len()
    }

    /// Judges one datagram that arrived on the serve socket from `from`.
    pub fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr, now: GateTime) -> GateOutcome {
        match decode_serve_datagram(bytes) {
            Ok(ServeDatagram::Request(request)) => self.on_request(request, from, now),
            Ok(ServeDatagram::Pong(pong)) => self.on_pong(&pong, from, now),
            Err(err) => GateOutcome::refused(err),
        }
    }

    fn on_request(
        &mut self,
        request: SignedRequest,
        from: SocketAddr,
        now: GateTime,
    ) -> GateOutcome {
        let requester = request.requester;
        let checked = self.check_request(&request, from, now);
        if let Err(err) = checked {
            return GateOutcome::refused(err);
        }
        let ttl = self.config.ping.verified_ttl_ms;
        let age = self
            .verified
            .get(&(requester, from))
            .map(|at| now.monotonic_ms.saturating_sub(*at));
        match age {
            Some(age) if age < ttl => {
                if let Err(err) =
                    self.requesters
                        .admit(&requester, request.request.nonce, now.monotonic_ms)
                {
                    return GateOutcome::refused(err);
                }
                let ping = if age >= ttl / 2 {
                    self.ping(&requester, from, now.monotonic_ms)
                } else {
                    PingAction::None
                };
                GateOutcome {
                    verdict: Verdict::Serve(request),
                    ping,
                }
            }
            _ => {
                if age.is_some() {
                    self.verified.remove(&(requester, from));
                }
                GateOutcome {
                    verdict: Verdict::Refused(RepairError::UnverifiedAddress {
                        requester,
                        addr: from,
                    }),
                    ping: self.ping(&requester, from, now.monotonic_ms),
                }
            }
        }
    }

    /// Steps 2–5 of the module's list.
    fn check_request(
        &mut self,
        request: &SignedRequest,
        from: SocketAddr,
        now: GateTime,
    ) -> Result<(), RepairError> {
        if !self.members.contains(&request.requester) {
            return Err(RepairError::NotMember(request.requester));
        }
        verify(
            request,
            &self.me,
            &self.genesis_hash,
            now.wallclock_ms,
            self.config.max_request_age_ms,
        )?;
        if !self.addresses.admit(from, 1, now.monotonic_ms) {
            return Err(RepairError::AddressRateLimited(from));
        }
        self.requesters
            .check_nonce(&request.requester, request.request.nonce)
    }

    fn on_pong(&mut self, pong: &Pong, from: SocketAddr, now: GateTime) -> GateOutcome {
        match self.check_pong(pong, from, now.monotonic_ms) {
            Ok(()) => {
                self.remember(pong.from, from, now.monotonic_ms);
                GateOutcome {
                    verdict: Verdict::PongAccepted(pong.from),
                    ping: PingAction::None,
                }
            }
            Err(err) => GateOutcome::refused(err),
        }
    }

    fn check_pong(
        &mut self,
        pong: &Pong,
        from: SocketAddr,
        now_ms: u64,
    ) -> Result<(), RepairError> {
        if !self.members.contains(&pong.from) {
            return Err(RepairError::NotMember(pong.from));
        }
        pong.verify(&self.genesis_hash)?;
        if !self.addresses.admit(from, 1, now_ms) {
            return Err(RepairError::AddressRateLimited(from));
        }
        let window = self.window(now_ms);
        let live = [window, window.saturating_sub(1)]
            .iter()
            .any(|&w| pong_hash(&self.token(&pong.from, &from, w)) == pong.hash);
        if live {
            Ok(())
        } else {
            Err(RepairError::PongMismatch {
                from: pong.from,
                addr: from,
            })
        }
    }

    /// A ping for `requester` at `addr`, if the address has pings left.
    fn ping(&mut self, requester: &Pubkey, addr: SocketAddr, now_ms: u64) -> PingAction {
        if !self.pings.admit(addr, 1, now_ms) {
            return PingAction::RateLimited;
        }
        let token = self.token(requester, &addr, self.window(now_ms));
        PingAction::Send(Ping::new(token, &self.identity, &self.genesis_hash).encode())
    }

    fn window(&self, now_ms: u64) -> u64 {
        now_ms / self.config.ping.token_window_ms.max(1)
    }

    /// The token a ping to `requester` at `addr` carries in `window`.
    fn token(&self, requester: &Pubkey, addr: &SocketAddr, window: u64) -> [u8; 32] {
        Hash::hashv(&[
            TOKEN_DOMAIN,
            &self.secret,
            requester.as_bytes(),
            &addr_bytes(addr),
            &window.to_le_bytes(),
        ])
        .0
    }

    /// Records that `requester` answered a ping at `addr`, within the table's bound.
    fn remember(&mut self, requester: Pubkey, addr: SocketAddr, now_ms: u64) {
        let max = self.config.ping.verified_max;
        let key = (requester, addr);
        if !self.verified.contains_key(&key) && self.verified.len() >= max {
            let ttl = self.config.ping.verified_ttl_ms;
            self.verified
                .retain(|_, at| now_ms.saturating_sub(*at) < ttl);
            // Every entry is a member's proven address, so the oldest is the least likely in use.
            while self.verified.len() >= max {
                let Some(oldest) = self
                    .verified
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| *k)
                else {
                    break;
                };
                self.verified.remove(&oldest);
            }
        }
        if max > 0 {
            self.verified.insert(key, now_ms);
        }
    }
}

/// A socket address as fixed bytes: family, IP (IPv4 zero-padded), port.
fn addr_bytes(addr: &SocketAddr) -> [u8; 19] {
    let mut out = [0u8; 19];
    match addr.ip() {
        IpAddr::V4(ip) => {
            out[0] = 4;
            out[1..5].copy_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out[0] = 6;
            out[1..17].copy_from_slice(&ip.octets());
        }
    }
    out[17..].copy_from_slice(&addr.port().to_le_bytes());
    out
}

#[cfg(test)]
mod tests;
