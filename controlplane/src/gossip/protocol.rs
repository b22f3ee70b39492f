//! The gossip state machine, in the manner of quinn-proto's `Connection`: messages and timeouts
//! in, datagrams out, no I/O. Time is passed in, randomness comes from a seeded ChaCha8, and every
//! decision iterates ordered maps, so one seed reproduces a run exactly.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use dataplane::types::{Hash, Pubkey};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::{GossipCluster, GossipConfig, SEEDS_MAX};
use super::crds::{
    ContactInfo, CrdsData, CrdsLabel, LabelKey, SignedValue, SoftwareVersion, TPU_QUIC_SINCE,
    TPU_VOTE_QUIC_SINCE,
};
use super::prune::{Deliveries, PruneMessage, PRUNE_ORIGINS_MAX};
use super::pull::{build_filter, select_response, PullState, Requester, ResponseBudget};
use super::push::{evictee, pack, stake_weight, weighted_sample, ActivePeer, PushState};
use super::stats::{GossipReject, GossipStats, RejectReason};
use super::table::{Arrival, CrdsTable, Inserted, TableRules};
use super::wire::{encoded_len, GossipMessage, VALUES_PER_MESSAGE_MAX};
use crate::signer::{Signer, Verified};

/// One node's gossip: its table of cluster records, push and pull.
#[derive(Debug)]
pub struct Gossip {
    config: GossipConfig,
    genesis_hash: Hash,
    me: ContactInfo,
    seeds: Vec<SocketAddr>,
    /// Pull requests sent (every `seed_pull_every`-th also goes to a seed).
    pulls_sent: u32,
    seed_pull_every: u32,
    rng: ChaCha8Rng,
    table: CrdsTable,
    stats: GossipStats,
    push: PushState,
    pull: PullState,
    /// Who delivers each origin's pushed values, until the next ranking.
    deliveries: Deliveries,
    /// When deliverers are ranked and prunes sent next.
    next_prune_ms: u64,
    /// When this node's contact info is re-signed next; `None` until it is first signed.
    next_refresh_ms: Option<u64>,
    /// This node's QUIC TPU address, announced once every known peer decodes it (see
    /// [`TPU_QUIC_SINCE`]).
    tpu_quic: Option<SocketAddr>,
    /// This node's QUIC vote address, announced the same way (see [`TPU_VOTE_QUIC_SINCE`]).
    tpu_vote_quic: Option<SocketAddr>,
    outbox: VecDeque<(SocketAddr, GossipMessage)>,
}

impl Gossip {
    /// A node `me` (whose `pubkey` must be the signer's) of `cluster`, which first asks `seeds`
    /// (at most [`SEEDS_MAX`]; its own gossip address is skipped). Randomness comes from
    /// `rng_seed` alone. `me.shred_version` is set to the cluster's.
    pub fn new(
        config: GossipConfig,
        cluster: GossipCluster,
        mut me: ContactInfo,
        seeds: Vec<SocketAddr>,
        rng_seed: u64,
    ) -> Gossip {
        me.shred_version = cluster.shred_version;
        let seed_pull_every = config.seed_pull_every;
        let mut own_seeds: Vec<SocketAddr> = Vec::new();
        for seed in seeds {
            if seed != me.gossip && !own_seeds.contains(&seed) && own_seeds.len() < SEEDS_MAX {
                own_seeds.push(seed);
            }
        }
        let rules = TableRules {
            me: me.pubkey,
            shred_version: cluster.shred_version,
            peers_max: config.peers_max,
            duplicate_shred_chunks_per_origin_max: config.duplicate_shred_chunks_per_origin_max,
            slashing_evidence_per_origin_max: config.slashing_evidence_per_origin_max,
            value_expiry_ms: config.value_expiry_ms,
            contact_info_expiry_ms: config.contact_info_expiry_ms,
            evidence_expiry_ms: config.evidence_expiry_ms,
            wallclock_window_ms: config.wallclock_window_ms,
        };
        let table = CrdsTable::new(rules, &cluster.validators);
        let deliveries = Deliveries::new(table.origin_count());
        Gossip {
            table,
            config,
            genesis_hash: cluster.genesis_hash,
            tpu_quic: me.tpu_quic.take(),
            tpu_vote_quic: me.tpu_vote_quic.take(),
            me,
            seeds: own_seeds,
            pulls_sent: 0,
            seed_pull_every,
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
            stats: GossipStats::default(),
            push: PushState::default(),
            pull: PullState::default(),
            deliveries,
            next_prune_ms: 0,
            next_refresh_ms: None,
            outbox: VecDeque::new(),
        }
    }

    /// Takes in a checked message from the socket address `from`; returns the values that were
    /// new. Pushed values that are new are pushed on, and who delivered each pushed value is
    /// noted for prune; a pull request's caller is inserted and, if it is a validator we know,
    /// answered (within the budget and rate limit); a prune addressed to this node stops pushes
    /// of its origins to its sender.
    pub fn handle_message(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        msg: Verified<GossipMessage>,
        signer: &dyn Signer,
    ) -> Vec<Inserted> {
        self.ensure_contact_info(now_ms, signer);
        let msg = msg.into_inner();
        // Only a pull request's length matters (it bounds the answer).
        let request_len = match &msg {
            GossipMessage::PullRequest { .. } => encoded_len(&msg),
            _ => 0,
        };
        let mut inserted = Vec::new();
        match msg {
            GossipMessage::Push {
                from: sender,
                values,
            } => {
                let deliverer = self.deliverer(&sender, from);
                for value in self.bounded(values) {
                    let origin = self.table.origin_index(&value.origin);
                    if let Some(at) = origin {
                        if let Some(copy) = self.table.push_duplicate(at, &value) {
                            self.stats.count(RejectReason::Duplicate);
                            self.record_delivery(deliverer, origin, copy);
                            continue;
                        }
                    }
                    match self
                        .table
                        .insert(now_ms, value, Arrival::Push, &mut self.stats)
                    {
                        Ok(new) => {
                            self.record_delivery(deliverer, origin, 0);
                            self.queue_push(new.value.clone());
                            inserted.push(new);
                        }
                        // Behind the held value: a deliverer, and the slowest kind.
                        Err(GossipReject::Stale { .. }) => {
                            self.record_delivery(deliverer, origin, u8::MAX);
                        }
                        Err(_) => {}
                    }
                }
            }
            GossipMessage::PullResponse { values, .. } => {
                // Not pushed on: a pull answer is old news to the rest of the cluster.
                for value in self.bounded(values) {
                    if let Ok(new) =
                        self.table
                            .insert(now_ms, value, Arrival::Pull, &mut self.stats)
                    {
                        inserted.push(new);
                    }
                }
            }
            GossipMessage::Prune(prune) => self.handle_prune(now_ms, *prune),
            GossipMessage::PullRequest { filter, caller } => {
                self.stats.pull_requests_received += 1;
                let Some(caller_instance) = caller.contact_info().map(|ci| ci.instance) else {
                    self.stats.count(RejectReason::Malformed);
                    return inserted;
                };
                let requester = Requester {
                    pubkey: caller.origin,
                    instance: caller_instance,
                };
                match self
                    .table
                    .insert(now_ms, caller, Arrival::Pull, &mut self.stats)
                {
                    Ok(new) => {
                        // How the rest of the cluster learns of a node that knows only seeds.
                        self.queue_push(new.value.clone());
                        inserted.push(new);
                    }
                    Err(GossipReject::Duplicate { .. } | GossipReject::Stale { .. })
                        if requester.pubkey != self.me.pubkey => {}
                    Err(_) => return inserted,
                }
                if !self.pull.admit(now_ms, from, &self.config) {
                    self.stats.pull_requests_rate_limited += 1;
                    return inserted;
                }
                let budget = ResponseBudget::for_request(request_len, &self.config);
                let batches = select_response(
                    &self.table,
                    &filter,
                    &requester,
                    now_ms,
                    self.config.wallclock_window_ms,
                    &budget,
                    &mut self.rng,
                );
                for values in batches {
                    self.stats.pull_responses_sent += 1;
                    self.stats.pull_response_values_sent += values.len() as u64;
                    let msg = GossipMessage::PullResponse {
                        from: self.me.pubkey,
                        values,
                    };
                    self.send(from, msg);
                }
            }
        }
        inserted
    }

    /// Signs `data` as this node (wallclock `now_ms`, or just above the value it replaces),
    /// inserts it and queues it for push. `None` if the table refused it (counted by reason).
    pub fn push_own(
        &mut self,
        now_ms: u64,
        data: CrdsData,
        signer: &dyn Signer,
    ) -> Option<Inserted> {
        debug_assert_eq!(signer.pubkey(), self.me.pubkey, "signer is not this node");
        let label = CrdsLabel {
            origin: signer.pubkey(),
            key: data.label_key(),
        };
        // Own wallclocks only rise, so a clock step back cannot make a new value look stale.
        let wallclock_ms = match self.table.get(&label) {
            Some(held) => now_ms.max(held.value.wallclock_ms.saturating_add(1)),
            None => now_ms,
        };
        let value = Arc::new(SignedValue::sign(
            signer,
            &self.genesis_hash,
            wallclock_ms,
            data,
        ));
        let new = self
            .table
            .insert(now_ms, value, Arrival::Own, &mut self.stats)
            .ok()?;
        if let Some(ci) = new.value.contact_info() {
            self.me = ci.clone();
        }
        self.queue_push(new.value.clone());
        Some(new)
    }

    /// Does whatever is due at `now_ms`: re-sign this node's contact info, expire values, flush
    /// the push queue, send prunes, send a pull request.
    pub fn handle_timeout(&mut self, now_ms: u64, signer: &dyn Signer) {
        if self.next_refresh_ms.is_none_or(|at_ms| now_ms >= at_ms)
            || self.announced(self.tpu_quic, TPU_QUIC_SINCE) != self.me.tpu_quic
            || self.announced(self.tpu_vote_quic, TPU_VOTE_QUIC_SINCE) != self.me.tpu_vote_quic
        {
            self.refresh_contact_info(now_ms, signer);
        }
        self.table.expire(now_ms, &mut self.stats);
        if now_ms >= self.push.next_flush_ms {
            self.flush_push(now_ms);
            self.push.next_flush_ms = now_ms.saturating_add(self.config.push_interval_ms.max(1));
        }
        if now_ms >= self.next_prune_ms {
            self.send_prunes(now_ms, signer);
            self.next_prune_ms = now_ms.saturating_add(self.config.prune_interval_ms.max(1));
        }
        if now_ms >= self.pull.next_pull_ms {
            self.send_pull();
            self.pull.next_pull_ms = now_ms.saturating_add(self.config.pull_interval_ms.max(1));
        }
    }

    /// The next datagram to send, and where.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, GossipMessage)> {
        self.outbox.pop_front()
    }

    /// The next instant [`Gossip::handle_timeout`] has work to do (0 before the first call).
    pub fn poll_timeout(&self) -> u64 {
        let mut at_ms = self
            .next_refresh_ms
            .unwrap_or(0)
            .min(self.pull.next_pull_ms);
        if !self.push.queue.is_empty() {
            at_ms = at_ms.min(self.push.next_flush_ms);
        }
        if !self.deliveries.is_empty() {
            at_ms = at_ms.min(self.next_prune_ms);
        }
        if let Some(expiry_ms) = self.table.next_expiry_ms() {
            at_ms = at_ms.min(expiry_ms);
        }
        at_ms
    }

    /// Counts a datagram the driver refused at the edge (e.g. a bad signature).
    pub fn record_reject(&mut self, reject: &GossipReject) {
        self.stats.count(reject.reason());
    }

    /// Counts values whose signatures the driver did not verify because they were, byte for
    /// byte, values already held ([`super::wire::decode_and_verify_unheld`]). They still come in
    /// with the message, and the table counts them as duplicates.
    pub fn record_held(&mut self, values: usize) {
        self.stats.values_verify_skipped += values as u64;
    }

    /// The contact info of `pubkey`, if held.
    pub fn contact_info(&self, pubkey: &Pubkey) -> Option<&ContactInfo> {
        self.table.contact_info(pubkey)
    }

    /// Every held contact info (this node's included), by pubkey.
    pub fn contact_infos(&self) -> impl Iterator<Item = &ContactInfo> {
        self.table.contact_infos()
    }

    /// Every held vote, by origin.
    pub fn votes(&self) -> impl Iterator<Item = &Arc<SignedValue>> {
        self.table.votes()
    }

    /// The vote held from `origin`, if any.
    pub fn vote(&self, origin: &Pubkey) -> Option<&Arc<SignedValue>> {
        let label = CrdsLabel {
            origin: *origin,
            key: LabelKey::Vote,
        };
        self.table.get(&label).map(|e| &e.value)
    }

    /// Every held value, by origin then label.
    pub fn values(&self) -> impl Iterator<Item = &Arc<SignedValue>> {
        self.table.entries().map(|e| &e.value)
    }

    /// Whether this very value (same origin, wallclock, data and signature) is held, so a driver
    /// may skip verifying its signature again. Every byte counts: a copy of a held value's
    /// signature on altered data must still be verified (and refused).
    pub fn holds(&self, value: &SignedValue) -> bool {
        self.table.get(&value.label()).is_some_and(|held| {
            held.value.wallclock_ms == value.wallclock_ms
                && held.value.signature == value.signature
                && held.value.data == value.data
        })
    }

    /// This node's contact info as last signed.
    pub fn me(&self) -> &ContactInfo {
        &self.me
    }

    /// The counters.
    pub fn stats(&self) -> &GossipStats {
        &self.stats
    }

    /// Values held.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// The genesis hash signatures are bound to.
    pub fn genesis_hash(&self) -> &Hash {
        &self.genesis_hash
    }

    /// What this node's contact info may carry now of an optional address `own` that releases
    /// before `since` cannot decode: the address once it knows a peer and every peer it knows
    /// announces `since` or newer (older releases refuse a contact info that carries it, and so
    /// every value batched with it).
    fn announced(&self, own: Option<SocketAddr>, since: SoftwareVersion) -> Option<SocketAddr> {
        let mut peers = self
            .table
            .contact_infos()
            .filter(|ci| ci.pubkey != self.me.pubkey)
            .peekable();
        let decode = peers.peek().is_some() && peers.all(|ci| ci.version >= since);
        own.filter(|_| decode)
    }

    fn ensure_contact_info(&mut self, now_ms: u64, signer: &dyn Signer) {
        if self.next_refresh_ms.is_none() {
            self.refresh_contact_info(now_ms, signer);
        }
    }

    fn refresh_contact_info(&mut self, now_ms: u64, signer: &dyn Signer) {
        let me = ContactInfo {
            tpu_quic: self.announced(self.tpu_quic, TPU_QUIC_SINCE),
            tpu_vote_quic: self.announced(self.tpu_vote_quic, TPU_VOTE_QUIC_SINCE),
            ..self.me.clone()
        };
        self.push_own(now_ms, CrdsData::ContactInfo(me), signer);
        self.next_refresh_ms = Some(now_ms.saturating_add(self.config.contact_refresh_ms.max(1)));
    }

    /// At most [`VALUES_PER_MESSAGE_MAX`] values of a message (what a datagram can hold); the
    /// rest, possible only from a driver that skipped the codec, are counted as oversized.
    fn bounded(&mut self, mut values: Vec<Arc<SignedValue>>) -> Vec<Arc<SignedValue>> {
        if values.len() > VALUES_PER_MESSAGE_MAX {
            for _ in VALUES_PER_MESSAGE_MAX..values.len() {
                self.stats.count(RejectReason::Oversized);
            }
            values.truncate(VALUES_PER_MESSAGE_MAX);
        }
        values
    }

    fn queue_push(&mut self, value: Arc<SignedValue>) {
        if self.push.queue.len() >= self.config.push_queue_max {
            self.push.queue.pop_front();
            self.stats.push_queue_dropped += 1;
        }
        self.push.queue.push_back(value);
    }

    fn send(&mut self, to: SocketAddr, msg: GossipMessage) {
        if self.outbox.len() >= self.config.outbox_max {
            self.stats.outbox_dropped += 1;
            return;
        }
        self.outbox.push_back((to, msg));
    }

    /// The peer a push came from, if its claimed sender is a validator whose contact info we hold
    /// at the datagram's source address: only then may its deliveries earn it a prune, which goes
    /// to that address.
    fn deliverer(&self, sender: &Pubkey, from: SocketAddr) -> Option<usize> {
        let at = self.table.origin_index(sender)?;
        if at == self.table.me_index() {
            return None;
        }
        let ci = self.table.contact_info_at(at)?;
        (ci.gossip == from).then_some(at)
    }

    /// Notes that `deliverer` pushed the `copy`-th copy of a value of `origin` (origin indices).
    /// This node's own values are not tracked: nobody pushes them back to it.
    fn record_delivery(&mut self, deliverer: Option<usize>, origin: Option<usize>, copy: u8) {
        if let (Some(peer), Some(origin)) = (deliverer, origin) {
            if origin != self.table.me_index() {
                self.deliveries.record(origin, peer, copy);
            }
        }
    }

    /// Applies a prune addressed to this node by a validator, signed within the wallclock window
    /// (its signature was checked at the edge): values of its origins no longer go to its sender
    /// while the sender stays in the active set. Prunes of this node's own values are ignored, so
    /// every peer it pushes to hears it first-hand.
    fn handle_prune(&mut self, now_ms: u64, prune: PruneMessage) {
        let reject = if prune.destination != self.me.pubkey {
            Some(GossipReject::WrongDestination {
                from: prune.from,
                destination: prune.destination,
            })
        } else if self.table.stake(&prune.from).is_none() {
            Some(GossipReject::UnknownOrigin { origin: prune.from })
        } else if prune.wallclock_ms.abs_diff(now_ms) > self.config.wallclock_window_ms {
            Some(GossipReject::Wallclock {
                origin: prune.from,
                wallclock_ms: prune.wallclock_ms,
                now_ms,
                window_ms: self.config.wallclock_window_ms,
            })
        } else {
            // The codec checks the shape; a driver that skipped it is checked here.
            prune.check_shape().err()
        };
        if let Some(reject) = reject {
            self.stats.count(reject.reason());
            return;
        }
        self.stats.prune_messages_received += 1;
        let Some(peer) = self
            .push
            .active_set
            .iter_mut()
            .find(|p| p.pubkey == prune.from)
        else {
            return;
        };
        let me = self.table.me_index();
        for origin in prune.origins {
            let Some(at) = self.table.origin_index(&origin) else {
                continue;
            };
            if at != me && self.table.stake_at(at).is_some() && peer.prune(at) {
                self.stats.prune_origins_applied += 1;
            }
        }
    }

    /// Ranks the deliverers of every origin that is due, and asks the redundant ones to stop:
    /// one signed prune per peer and [`PRUNE_ORIGINS_MAX`] origins.
    fn send_prunes(&mut self, now_ms: u64, signer: &dyn Signer) {
        if self.deliveries.is_empty() {
            return;
        }
        let table = &self.table;
        let pairs = self
            .deliveries
            .rank(table.me_index(), |i| table.stake_at(i).unwrap_or(0));
        // Sorted by peer, then origin: each peer's origins are one run.
        for run in pairs.chunk_by(|a, b| a.0 == b.0) {
            let peer = self.table.pubkey_at(run[0].0);
            let Some(addr) = self.table.contact_info(&peer).map(|ci| ci.gossip) else {
                continue;
            };
            for chunk in run.chunks(PRUNE_ORIGINS_MAX) {
                let origins: Vec<Pubkey> = chunk
                    .iter()
                    .map(|&(_, origin)| self.table.pubkey_at(origin))
                    .collect();
                self.stats.prune_messages_sent += 1;
                self.stats.prune_origins_sent += origins.len() as u64;
                let prune = PruneMessage::sign(signer, &self.genesis_hash, peer, now_ms, origins);
                self.send(addr, GossipMessage::Prune(Box::new(prune)));
            }
        }
    }

    /// Known peers to push to or pull from, with their weights, by pubkey.
    fn peer_candidates(&self) -> Vec<(Pubkey, u64)> {
        self.table
            .contact_infos()
            .filter(|ci| is_peer(ci, &self.me))
            .map(|ci| {
                let stake = self.table.stake(&ci.pubkey).unwrap_or(0);
                (ci.pubkey, stake_weight(stake))
            })
            .collect()
    }

    /// Drops peers no longer known and tops the active set up from newly known ones, so a node
    /// that just found its first peers pushes at once; when its time is up, also draws one new
    /// peer, and the one that pruned the most leaves (see [`evictee`]).
    fn refresh_active_set(&mut self, now_ms: u64) {
        let (table, me) = (&self.table, &self.me);
        self.push
            .active_set
            .retain_mut(|p| match table.contact_info_at(p.index) {
                Some(ci) if is_peer(ci, me) => {
                    p.addr = ci.gossip;
                    true
                }
                _ => false,
            });
        let size = self.config.active_set_size;
        let rotate = now_ms >= self.push.next_rotate_ms;
        if rotate {
            self.push.next_rotate_ms =
                now_ms.saturating_add(self.config.active_set_rotate_ms.max(1));
        }
        let wanted = size
            .saturating_sub(self.push.active_set.len())
            .max(usize::from(rotate));
        if wanted == 0 {
            // The common case, every flush: no need to list the candidates.
            return;
        }
        let candidates = self.peer_candidates();
        let active = &mut self.push.active_set;
        let rest: Vec<(Pubkey, u64)> = candidates
            .into_iter()
            .filter(|(c, _)| !active.iter().any(|p| p.pubkey == *c))
            .collect();
        let drawn = weighted_sample(&rest, wanted, &mut self.rng);
        let table = &self.table;
        // Candidates come from the table's contact infos, so each has an origin index.
        active.extend(drawn.into_iter().filter_map(|p| {
            let at = table.origin_index(&p)?;
            let addr = table.contact_info(&p)?.gossip;
            Some(ActivePeer::new(p, at, addr, table.origin_count()))
        }));
        while active.len() > size {
            active.remove(evictee(active));
        }
    }

    fn flush_push(&mut self, now_ms: u64) {
        if self.push.queue.is_empty() {
            return;
        }
        self.refresh_active_set(now_ms);
        let mut values = std::mem::take(&mut self.push.queue);
        // Each value goes to the first `push_fanout` peers that take it (not its origin, not a
        // peer that pruned it), longest-standing first: a peer's prune hands its share to the
        // next peer, so a value keeps its fanout while unpruned peers are left.
        let fanout = self.config.push_fanout;
        let takers: Vec<u32> = values
            .iter()
            .map(|v| {
                // Every queued value is held, so its origin has an index.
                let origin = self.table.origin_index(&v.origin);
                let wants = |p: &ActivePeer| match origin {
                    Some(at) => p.wants(at),
                    None => v.origin != p.pubkey,
                };
                let mut mask = 0u32;
                let taking = self.push.active_set.iter().enumerate();
                for (i, _) in taking.filter(|(_, p)| wants(p)).take(fanout) {
                    mask |= 1 << i;
                }
                mask
            })
            .collect();
        for i in 0..self.push.active_set.len() {
            let addr = self.push.active_set[i].addr;
            let mine = values
                .iter()
                .zip(&takers)
                .filter(|(_, mask)| *mask & (1 << i) != 0);
            let batches = pack(mine.map(|(v, _)| v));
            for batch in batches {
                self.stats.push_messages_sent += 1;
                self.stats.push_values_sent += batch.len() as u64;
                let msg = GossipMessage::Push {
                    from: self.me.pubkey,
                    values: batch,
                };
                self.send(addr, msg);
            }
        }
        // The queue's room is kept for the next flush.
        values.clear();
        self.push.queue = values;
    }

    /// One pull request to a random known peer, or to every seed while no peer is known.
    fn send_pull(&mut self) {
        let own = CrdsLabel {
            origin: self.me.pubkey,
            key: LabelKey::ContactInfo,
        };
        let Some(caller) = self.table.get(&own).map(|e| e.value.clone()) else {
            return;
        };
        let candidates = self.peer_candidates();
        self.pulls_sent = self.pulls_sent.wrapping_add(1);
        let mut targets: Vec<SocketAddr> = if candidates.is_empty() {
            self.seeds.clone()
        } else {
            weighted_sample(&candidates, 1, &mut self.rng)
                .iter()
                .filter_map(|p| self.table.contact_info(p).map(|ci| ci.gossip))
                .collect()
        };
        let every = self.seed_pull_every;
        if !candidates.is_empty()
            && every > 0
            && self.pulls_sent % every == 0
            && !self.seeds.is_empty()
        {
            let seed = self.seeds[self.rng.gen_range(0..self.seeds.len())];
            if !targets.contains(&seed) {
                targets.push(seed);
            }
        }
        if targets.is_empty() {
            return;
        }
        let filter = build_filter(&self.table, &mut self.rng);
        for to in targets {
            self.stats.pull_requests_sent += 1;
            let msg = GossipMessage::PullRequest {
                filter: filter.clone(),
                caller: caller.clone(),
            };
            self.send(to, msg);
        }
    }
}

/// Whether `ci` is another node's (not this one's identity, nor its gossip address).
fn is_peer(ci: &ContactInfo, me: &ContactInfo) -> bool {
    ci.pubkey != me.pubkey && ci.gossip != me.gossip
}
