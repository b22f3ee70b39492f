//! The repair planner: which missing shreds to ask for, of whom, and when (sans-IO).
//!
//! Shreds normally arrive through Turbine; repair fills the gaps. The data plane reports each
//! incomplete slot's progress ([`SlotProgress`]), slots it saw referenced as a parent but does not
//! hold (orphans), and slots it completed; the planner answers with [`RepairRequestOut`]s for the node
//! to sign and send (see `dataplane::repair` for the wire format).
//!
//! Policy:
//! - a slot is repaired only after it has made no progress for `repair_delay_ms`, so shreds still on
//!   their way through Turbine are not asked for twice;
//! - each missing index is asked for at most once per `retry_ms`, each retry of a peer other than the
//!   previous one, chosen at random among the known peers from a seeded RNG;
//! - a slot whose end is unknown also gets a `HighestShred` request from past its highest received
//!   index, which tells the node where the slot ends;
//! - an orphan (reported by the data plane, or a reported parent above the root that the planner
//!   has neither tracked nor seen completed) gets an `Orphan` request, and each answer's parent in
//!   turn, until the chain reaches slots the node holds;
//! - a peer that answers "don't have" is avoided for that slot, and the next try is not delayed;
//! - every request's nonce is remembered (bounded, expiring), and [`RepairPlanner::accept_response`]
//!   refuses responses nobody asked for, from the wrong peer, or too late.
//!
//! Every collection has a named bound in [`RepairConfig`]; when one is full, the newest slots (the
//! farthest from the root, so the least urgent) are the ones left out.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dataplane::repair::{RepairKind, DEFAULT_RESPONSES_MAX};
use dataplane::types::{Hash, Pubkey, Slot};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Most data shreds one slot may have (Solana's `MAX_DATA_SHREDS_PER_SLOT`); higher indices are
/// ignored.
pub const DATA_SHREDS_PER_SLOT_MAX: u32 = 32_768;

/// The planner's settings; every bound is named here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairConfig {
    /// Quiet time after a slot's last progress before it is repaired.
    pub repair_delay_ms: u64,
    /// Least time between two requests for the same shred.
    pub retry_ms: u64,
    /// Most requests one round ([`RepairPlanner::tick`]) emits.
    pub requests_per_round_max: usize,
    /// Most requests one round emits for one slot.
    pub requests_per_slot_max: usize,
    /// Most requests awaiting an answer at once.
    pub outstanding_max: usize,
    /// How long an answer is accepted after its request.
    pub response_timeout_ms: u64,
    /// Most incomplete slots tracked.
    pub slots_tracked_max: usize,
    /// Most orphans tracked.
    pub orphans_max: usize,
    /// Most completed slots remembered, so late progress reports do not revive them.
    pub completed_max: usize,
    /// Most peers avoided per slot after they said "don't have".
    pub avoided_peers_max: usize,
}

impl Default for RepairConfig {
    fn default() -> Self {
        RepairConfig {
            repair_delay_ms: 150,
            retry_ms: 200,
            requests_per_round_max: 256,
            requests_per_slot_max: 32,
            outstanding_max: 4096,
            response_timeout_ms: 1_000,
            slots_tracked_max: 1024,
            orphans_max: 64,
            completed_max: 1024,
            avoided_peers_max: 8,
        }
    }
}

/// The data plane's report on one slot (cumulative, not a delta); unsorted indices are sorted.
pub use dataplane::plane::SlotProgress;

/// A request for the node to sign and send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepairRequestOut {
    /// Whom to ask.
    pub peer: Pubkey,
    /// What to ask for.
    pub kind: RepairKind,
    /// The nonce to put in the request; answers carry it back.
    pub nonce: u32,
}

/// Everything that can happen to the planner, for drivers that feed it one event at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairInput {
    /// A slot's progress.
    Progress(SlotProgress),
    /// A slot referenced as a parent but not held.
    Orphan(Slot),
    /// A slot is complete (or replayed): stop repairing it.
    Completed(Slot),
    /// A new root: forget everything at or below it.
    Root(Slot),
    /// The current set of peers to ask.
    Peers(Vec<Pubkey>),
    /// A verified "don't have" from `peer` for the request with `nonce`.
    DontHave {
        /// The request's nonce.
        nonce: u32,
        /// Who answered.
        peer: Pubkey,
    },
    /// Time to run a round.
    Tick,
}

/// When and of whom a shred was last asked.
#[derive(Debug, Clone, Copy)]
struct Ask {
    at_ms: u64,
    peer: Pubkey,
    /// The peer said "don't have": ask again without waiting for `retry_ms`.
    refused: bool,
}

/// What the planner knows of one incomplete slot.
#[derive(Debug, Clone, Default)]
struct SlotState {
    received: Vec<u32>,
    last_index: Option<u32>,
    /// Last time the slot gained shreds (or was first seen).
    progress_ms: u64,
    /// Last ask per missing index.
    asked: BTreeMap<u32, Ask>,
    /// Known FEC set roots of missing indices.
    roots: BTreeMap<u32, Hash>,
    /// Last `HighestShred` ask.
    highest: Option<Ask>,
    /// Peers that said "don't have" for this slot.
    avoided: Vec<Pubkey>,
}

/// What the planner knows of one orphan.
#[derive(Debug, Clone)]
struct OrphanState {
    first_ms: u64,
    ask: Option<Ask>,
    avoided: Vec<Pubkey>,
}

/// A request awaiting its answer.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    peer: Pubkey,
    slot: Slot,
    /// The index asked for by a `Shred` request; `None` for requests with several answers.
    index: Option<u32>,
    sent_ms: u64,
    /// Answers still accepted for it.
    answers_left: usize,
}

/// The repair state machine; see the module docs for its policy.
#[derive(Debug, Clone)]
pub struct RepairPlanner {
    config: RepairConfig,
    rng: ChaCha8Rng,
    peers: Vec<Pubkey>,
    root: Option<Slot>,
    slots: BTreeMap<Slot, SlotState>,
    orphans: BTreeMap<Slot, OrphanState>,
    completed: BTreeSet<Slot>,
    outstanding: HashMap<u32, Outstanding>,
}

impl RepairPlanner {
    /// A planner with no peers and nothing to repair; `seed` drives every random choice.
    pub fn new(config: RepairConfig, seed: u64) -> Self {
        RepairPlanner {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            peers: Vec::new(),
            root: None,
            slots: BTreeMap::new(),
            orphans: BTreeMap::new(),
            completed: BTreeSet::new(),
            outstanding: HashMap::new(),
        }
    }

    /// Feeds one event; only [`RepairInput::Tick`] produces requests.
    pub fn handle(&mut self, now_ms: u64, input: RepairInput) -> Vec<RepairRequestOut> {
        match input {
            RepairInput::Progress(p) => self.on_progress(now_ms, &p),
            RepairInput::Orphan(slot) => self.on_orphan(now_ms, slot),
            RepairInput::Completed(slot) => self.on_completed(slot),
            RepairInput::Root(slot) => self.set_root(slot),
            RepairInput::Peers(peers) => self.set_peers(&peers),
            RepairInput::DontHave { nonce, peer } => {
                self.on_dont_have(now_ms, nonce, &peer);
            }
            RepairInput::Tick => return self.tick(now_ms),
        }
        Vec::new()
    }

    /// Replaces the set of peers to ask (this node must not be among them).
    pub fn set_peers(&mut self, peers: &[Pubkey]) {
        // Sorted so that the seeded choice does not depend on the order the caller found them in.
        self.peers = peers.to_vec();
        self.peers.sort_unstable();
        self.peers.dedup();
    }

    /// Records a slot's progress; a complete slot is treated as [`RepairPlanner::on_completed`].
    pub fn on_progress(&mut self, now_ms: u64, progress: &SlotProgress) {
        let slot = progress.slot;
        if progress.complete {
            self.on_completed(slot);
            return;
        }
        if self.is_settled(slot) {
            return;
        }
        // Its shreds are arriving: it is no longer an orphan, the slot state takes over.
        self.orphans.remove(&slot);
        if !self.slots.contains_key(&slot) && !self.make_room_for_slot(slot) {
            return;
        }
        let state = self.slots.entry(slot).or_insert_with(|| SlotState {
            progress_ms: now_ms,
            ..SlotState::default()
        });
        let mut received: Vec<u32> = progress
            .received_data
            .iter()
            .copied()
            .filter(|&i| i < DATA_SHREDS_PER_SLOT_MAX)
            .collect();
        received.sort_unstable();
        received.dedup();
        let last_index = progress
            .last_index
            .filter(|&l| l < DATA_SHREDS_PER_SLOT_MAX);
        let gained = received
            .iter()
            .any(|i| state.received.binary_search(i).is_err())
            || (last_index.is_some() && state.last_index.is_none());
        if gained {
            state.progress_ms = now_ms;
        }
        // Reports are cumulative, but a lagging one must not forget what an earlier one said.
        if received.len() >= state.received.len() {
            state.received = received;
        } else {
            state.received.extend(received);
            state.received.sort_unstable();
            state.received.dedup();
        }
        state.last_index = state.last_index.or(last_index);
        for &(index, root) in progress
            .missing_roots
            .iter()
            .take(DATA_SHREDS_PER_SLOT_MAX as usize)
        {
            state.roots.insert(index, root);
        }
        let held = &state.received;
        state.asked.retain(|i, _| held.binary_search(i).is_err());
        state.roots.retain(|i, _| held.binary_search(i).is_err());
        // Walk back: a parent above the root that is neither tracked nor completed is one this
        // node lacks. Without a root the planner cannot tell a missing parent from an old one.
        if let Some(parent) = progress.parent.filter(|p| *p < slot) {
            if self.root.is_some() && !self.slots.contains_key(&parent) {
                self.on_orphan(now_ms, parent);
            }
        }
    }

    /// Records that `slot` was referenced as a parent but is not held.
    pub fn on_orphan(&mut self, now_ms: u64, slot: Slot) {
        if self.is_settled(slot)
            || self.slots.contains_key(&slot)
            || self.orphans.contains_key(&slot)
        {
            return;
        }
        if self.orphans.len() >= self.config.orphans_max {
            // Keep the oldest orphans: they are the closest to the chain the node holds.
            match self.orphans.last_key_value() {
                Some((&newest, _)) if newest > slot => {
                    self.orphans.remove(&newest);
                }
                _ => return,
            }
        }
        self.orphans.insert(
            slot,
            OrphanState {
                first_ms: now_ms,
                ask: None,
                avoided: Vec::new(),
            },
        );
    }

    /// Stops repairing `slot` (complete or replayed) and refuses late answers for it.
    pub fn on_completed(&mut self, slot: Slot) {
        self.slots.remove(&slot);
        self.orphans.remove(&slot);
        self.outstanding.retain(|_, o| o.slot != slot);
        self.completed.insert(slot);
        while self.completed.len() > self.config.completed_max {
            self.completed.pop_first();
        }
    }

    /// Repairs `slot` again from nothing: the data plane dropped the version it held (another
    /// was duplicate-confirmed), or votes name another version than the one held. Its requests
    /// still out are forgotten, so their answers are refused, and it is asked for as an orphan
    /// (which also fetches its missing ancestors).
    pub fn reopen(&mut self, now_ms: u64, slot: Slot) {
        self.slots.remove(&slot);
        self.completed.remove(&slot);
        self.orphans.remove(&slot);
        self.outstanding.retain(|_, o| o.slot != slot);
        self.on_orphan(now_ms, slot);
    }

    /// Whether any slot or orphan awaits repair (a driver need not run rounds otherwise).
    pub fn has_work(&self) -> bool {
        !self.slots.is_empty() || !self.orphans.is_empty()
    }

    /// Forgets every slot at or below the new root: they are final and need no repair.
    pub fn set_root(&mut self, root: Slot) {
        self.root = Some(self.root.map_or(root, |r| r.max(root)));
        let keep = |s: &Slot| *s > root;
        self.slots.retain(|s, _| keep(s));
        self.orphans.retain(|s, _| keep(s));
        self.completed.retain(keep);
        self.outstanding.retain(|_, o| keep(&o.slot));
    }

    /// Whether an answer with `nonce` from `peer` answers a live request of ours; counts it.
    ///
    /// A `Shred` request takes one answer; `HighestShred` and `Orphan` requests take up to
    /// `DEFAULT_RESPONSES_MAX` until they expire.
    pub fn accept_response(&mut self, now_ms: u64, nonce: u32, peer: &Pubkey) -> bool {
        let Some(o) = self.outstanding.get_mut(&nonce) else {
            return false;
        };
        if now_ms.saturating_sub(o.sent_ms) > self.config.response_timeout_ms {
            self.outstanding.remove(&nonce);
            return false;
        }
        if o.peer != *peer {
            return false;
        }
        o.answers_left = o.answers_left.saturating_sub(1);
        if o.answers_left == 0 {
            self.outstanding.remove(&nonce);
        }
        true
    }

    /// Handles a verified "don't have" answer: the peer is avoided for that slot and the shred is
    /// asked again of another peer in the next round. False if the answer is not accepted.
    pub fn on_dont_have(&mut self, now_ms: u64, nonce: u32, peer: &Pubkey) -> bool {
        let Some(o) = self.outstanding.get(&nonce).copied() else {
            return false;
        };
        if !self.accept_response(now_ms, nonce, peer) {
            return false;
        }
        self.outstanding.remove(&nonce);
        let avoided_max = self.config.avoided_peers_max;
        if let Some(state) = self.slots.get_mut(&o.slot) {
            avoid(&mut state.avoided, *peer, avoided_max);
            let ask = match o.index {
                Some(i) => state.asked.get_mut(&i),
                None => state.highest.as_mut(),
            };
            if let Some(ask) = ask {
                ask.refused = true;
            }
        } else if let Some(orphan) = self.orphans.get_mut(&o.slot) {
            avoid(&mut orphan.avoided, *peer, avoided_max);
            if let Some(ask) = orphan.ask.as_mut() {
                ask.refused = true;
            }
        }
        true
    }

    /// Requests awaiting an answer.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Incomplete slots tracked.
    pub fn tracked_slots(&self) -> usize {
        self.slots.len()
    }

    /// Runs one round: the requests to send now, oldest slots first, orphans before them.
    pub fn tick(&mut self, now_ms: u64) -> Vec<RepairRequestOut> {
        let timeout = self.config.response_timeout_ms;
        self.outstanding
            .retain(|_, o| now_ms.saturating_sub(o.sent_ms) <= timeout);
        let mut out = Vec::new();
        if self.peers.is_empty() {
            return out;
        }
        let orphans: Vec<Slot> = self.orphans.keys().copied().collect();
        for slot in orphans {
            if !self.room(&out) {
                return out;
            }
            self.plan_orphan(now_ms, slot, &mut out);
        }
        let slots: Vec<Slot> = self.slots.keys().copied().collect();
        for slot in slots {
            if !self.room(&out) {
                break;
            }
            self.plan_slot(now_ms, slot, &mut out);
        }
        out
    }

    /// Whether this round may emit another request.
    fn room(&self, out: &[RepairRequestOut]) -> bool {
        out.len() < self.config.requests_per_round_max
            && self.outstanding.len() < self.config.outstanding_max
    }

    fn plan_orphan(&mut self, now_ms: u64, slot: Slot, out: &mut Vec<RepairRequestOut>) {
        let Some(orphan) = self.orphans.get(&slot) else {
            return;
        };
        if now_ms.saturating_sub(orphan.first_ms) < self.config.repair_delay_ms
            || !self.due(orphan.ask, now_ms)
        {
            return;
        }
        let (last, avoided) = (orphan.ask.map(|a| a.peer), orphan.avoided.clone());
        let Some(peer) = self.pick_peer(last, &avoided) else {
            return;
        };
        let request = self.issue(now_ms, peer, RepairKind::Orphan { slot }, None);
        out.push(request);
        if let Some(orphan) = self.orphans.get_mut(&slot) {
            orphan.ask = Some(Ask {
                at_ms: now_ms,
                peer,
                refused: false,
            });
        }
    }

    fn plan_slot(&mut self, now_ms: u64, slot: Slot, out: &mut Vec<RepairRequestOut>) {
        let Some(state) = self.slots.get(&slot) else {
            return;
        };
        if now_ms.saturating_sub(state.progress_ms) < self.config.repair_delay_ms {
            return;
        }
        // Missing indices below the known end, or below the highest received when the end is
        // unknown (the `HighestShred` request covers what lies past it).
        let end = match state.last_index {
            Some(last) => last.saturating_add(1),
            None => state.received.last().map_or(0, |&h| h + 1),
        };
        let mut wanted: Vec<(u32, Option<Pubkey>, Option<Hash>)> = Vec::new();
        let mut next_held = state.received.iter().peekable();
        for index in 0..end {
            if wanted.len() >= self.config.requests_per_slot_max {
                break;
            }
            while next_held.peek().is_some_and(|&&h| h < index) {
                next_held.next();
            }
            if next_held.peek() == Some(&&index) {
                continue;
            }
            let ask = state.asked.get(&index).copied();
            if self.due(ask, now_ms) {
                wanted.push((index, ask.map(|a| a.peer), state.roots.get(&index).copied()));
            }
        }
        let highest = (state.last_index.is_none()
            && wanted.len() < self.config.requests_per_slot_max
            && self.due(state.highest, now_ms))
        .then(|| (end, state.highest.map(|a| a.peer)));
        let avoided = state.avoided.clone();

        for (index, last_peer, root) in wanted {
            if !self.room(out) {
                return;
            }
            let Some(peer) = self.pick_peer(last_peer, &avoided) else {
                return;
            };
            let kind = RepairKind::Shred { slot, index, root };
            out.push(self.issue(now_ms, peer, kind, Some(index)));
            if let Some(state) = self.slots.get_mut(&slot) {
                state.asked.insert(
                    index,
                    Ask {
                        at_ms: now_ms,
                        peer,
                        refused: false,
                    },
                );
            }
        }
        if let Some((from_index, last_peer)) = highest {
            if !self.room(out) {
                return;
            }
            let Some(peer) = self.pick_peer(last_peer, &avoided) else {
                return;
            };
            let kind = RepairKind::HighestShred { slot, from_index };
            out.push(self.issue(now_ms, peer, kind, None));
            if let Some(state) = self.slots.get_mut(&slot) {
                state.highest = Some(Ask {
                    at_ms: now_ms,
                    peer,
                    refused: false,
                });
            }
        }
    }

    /// Whether a shred last asked as `ask` may be asked again at `now_ms`.
    fn due(&self, ask: Option<Ask>, now_ms: u64) -> bool {
        ask.is_none_or(|a| a.refused || now_ms.saturating_sub(a.at_ms) >= self.config.retry_ms)
    }

    /// Records a new outstanding request and returns it.
    fn issue(
        &mut self,
        now_ms: u64,
        peer: Pubkey,
        kind: RepairKind,
        index: Option<u32>,
    ) -> RepairRequestOut {
        let mut nonce = self.rng.next_u32();
        // With at most `outstanding_max` of 2³² nonces taken, a clash is rare; redraw until free.
        while self.outstanding.contains_key(&nonce) {
            nonce = self.rng.next_u32();
        }
        self.outstanding.insert(
            nonce,
            Outstanding {
                peer,
                slot: kind.slot(),
                index,
                sent_ms: now_ms,
                answers_left: if index.is_some() {
                    1
                } else {
                    DEFAULT_RESPONSES_MAX
                },
            },
        );
        RepairRequestOut { peer, kind, nonce }
    }

    /// A random peer other than `last` and those `avoided`; if that leaves none, any peer other
    /// than `last`; if there is only `last`, it.
    fn pick_peer(&mut self, last: Option<Pubkey>, avoided: &[Pubkey]) -> Option<Pubkey> {
        let fresh = |p: &&Pubkey| Some(**p) != last && !avoided.contains(p);
        let not_last = |p: &&Pubkey| Some(**p) != last;
        let count = self.peers.iter().filter(fresh).count();
        if count > 0 {
            let n = (self.rng.next_u64() % count as u64) as usize;
            return self.peers.iter().filter(fresh).nth(n).copied();
        }
        let count = self.peers.iter().filter(not_last).count();
        if count > 0 {
            let n = (self.rng.next_u64() % count as u64) as usize;
            return self.peers.iter().filter(not_last).nth(n).copied();
        }
        self.peers.first().copied()
    }

    /// Whether `slot` needs no repair: at or below the root, or completed.
    fn is_settled(&self, slot: Slot) -> bool {
        self.root.is_some_and(|r| slot <= r) || self.completed.contains(&slot)
    }

    /// Makes room for tracking `slot`, evicting the newest tracked slot if `slot` is older; false
    /// if `slot` itself is the one left out.
    fn make_room_for_slot(&mut self, slot: Slot) -> bool {
        if self.slots.len() < self.config.slots_tracked_max {
            return true;
        }
        match self.slots.last_key_value() {
            Some((&newest, _)) if newest > slot => {
                self.slots.remove(&newest);
                self.outstanding.retain(|_, o| o.slot != newest);
                true
            }
            _ => false,
        }
    }
}

/// Adds `peer` to a bounded avoid list, forgetting the oldest entry when full.
fn avoid(avoided: &mut Vec<Pubkey>, peer: Pubkey, max: usize) {
    if avoided.contains(&peer) || max == 0 {
        return;
    }
    if avoided.len() >= max {
        avoided.remove(0);
    }
    avoided.push(peer);
}

#[cfg(test)]
mod tests;
