//! The control-plane core: one entry point for every control decision of a validator.
//!
//! `handle(now, input)` in, `poll_output()` and `poll_timeout()` out, as quinn-proto's `Connection`.
//! No sockets, clocks, threads or global randomness: the node's tokio driver and the deterministic
//! simulator run this same code. It routes inputs to the machines of this crate — gossip, the
//! tower, fork choice, vote aggregation, finality, duplicate handling, evidence, leading — and queues
//! what they decide.
//!
//! Voting follows Agave's replay loop: after every input the heaviest fork is selected; if it does
//! not descend from the last vote it must pass the switch threshold (more than 38 % of the stake
//! voting on other forks, gossip votes included), otherwise the node keeps building on the heaviest
//! block of its own voted fork and does not vote. A candidate newer than the last vote, not locked
//! out and passing both depth thresholds is voted on: the tower file is written before the vote
//! leaves (see [`Output::Vote`]). The root is the newer of the tower's root and the finalized slot
//! on the head's fork.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use dataplane::banking::LeadCommand;
use dataplane::forward::ForwardTarget;
use dataplane::genesis::Genesis;
use dataplane::shred::shred_version;
use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::vote::{build_vote_txn, vote_account_address, Lockout, TowerSync, VoteInstruction};

use crate::ancestry::Ancestry;
use crate::duplicates::Duplicates;
use crate::evidence::{Evidence, EvidenceBook, EvidenceKind};
use crate::finality::Finality;
use crate::fork_choice::ForkChoice;
use crate::gossip::{
    ContactInfo, CrdsData, Gossip, GossipCluster, GossipConfig, Inserted, SignedValue,
};
use crate::io::RepairAnswer;
use crate::io::{BankFrozen, Commitment, Input, Millis, Output, ParsedVote, PeerTable, VoteTarget};
use crate::leader::{decide, LeadDecision, LeaderView, CATCHING_UP_SLOTS};
use crate::map::{Map, Set};
use crate::repair::{RepairConfig, RepairPlanner};
use crate::schedule::Schedules;
use crate::signer::Signer;
use crate::slot_clock::SlotClock;
use crate::tower::{file as tower_file, passes_switch_threshold, Tower, VoteRefusal};
use crate::votes::VoteTracker;

/// An unlanded vote is sent again after this long.
pub const VOTE_REFRESH_MS: Millis = 5_000;
/// Rooted slots remembered below the root, to answer ancestry for old tower votes.
pub const ROOTED_HISTORY_MAX: usize = 4_096;
/// Slots with shreds arriving remembered at most.
pub const ARRIVING_SLOTS_MAX: usize = 256;
/// Slots ahead of the root a block may have and still be tracked.
pub const SLOTS_AHEAD_MAX: u64 = 16_384;
/// Leaders (current and next) a vote is sent to.
pub const VOTE_LEADERS_AHEAD: u64 = 2;
/// Validators a vote is sent to directly, besides the leaders (heaviest stake first). A permissioned
/// cluster of up to ~100 validators sends every vote to every validator: one hop instead of gossip's
/// two or three, which is most of optimistic confirmation's latency after the block itself.
pub const VOTE_DIRECT_MAX: usize = 200;
/// A block that votes name but this node lacks is asked for again after this long.
pub const REPAIR_WANTED_RETRY_MS: Millis = 2_000;
/// Forks are evaluated at least this often (for time-based retries) when no input changed them.
pub const FORK_TICK_MS: Millis = 200;
/// Blocks named by votes asked for per step at most.
pub const REPAIR_WANTED_PER_STEP_MAX: usize = 16;
/// Wanted blocks remembered (with when they were last asked for) at most.
pub const REPAIR_WANTED_MAX: usize = 1_024;
/// While the repair planner has work, a round of its requests runs this often.
pub const REPAIR_ROUND_MS: Millis = 20;
/// Votes from gossip and the vote port are re-evaluated (fork choice, voting, commitment) at most
/// this often: a hundred validators' votes arrive in hundreds of datagrams a slot, and choosing the
/// fork after each would cost more than the few milliseconds of reaction it saves. A replayed block
/// is evaluated at once, and so is a vote that confirms a slot (confirmation latency is what clients
/// wait on).
pub const EVALUATE_COALESCE_MS: Millis = 5;

/// The tower a node starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TowerStart {
    /// A new cluster: nobody has voted yet.
    Fresh,
    /// The tower file, checked at the edge.
    Saved(TowerSync),
    /// No usable tower although this node may have voted before: it waits until the finalized
    /// root passes the slot it saw at start, then starts a fresh tower from that root.
    Lost,
}

/// How a core starts.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The cluster.
    pub genesis: Genesis,
    /// Gossip settings.
    pub gossip: GossipConfig,
    /// This node's addresses, as gossip will advertise them (wallclock is filled in).
    pub contact: ContactInfo,
    /// Gossip addresses to contact first.
    pub seeds: Vec<SocketAddr>,
    /// Seeds every random choice (gossip peers); the simulator passes its own.
    pub rng_seed: u64,
    /// Whether this node votes (a validator in the genesis set does).
    pub voting: bool,
}

/// What the node's storage holds at start.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Its root slot and that block's bank hash.
    pub root: (Slot, Hash),
    /// Its tower.
    pub tower: TowerStart,
}

/// Counters for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeStats {
    /// Votes this node cast.
    pub votes_cast: u64,
    /// Votes re-sent because they had not landed.
    pub votes_refreshed: u64,
    /// Votes refused by the tower, by reason.
    pub votes_refused_locked_out: u64,
    /// Votes refused by a threshold.
    pub votes_refused_threshold: u64,
    /// Switches refused by the switch threshold.
    pub switch_refused: u64,
    /// Votes from others seen (all sources, repeats included).
    pub votes_seen: u64,
    /// Votes dropped (not a validator, unparsable, wrong origin).
    pub votes_dropped: u64,
    /// Votes seen again by another path (the voter's newest transaction, byte for byte): skipped
    /// before parsing, since everything they say is already counted.
    pub votes_repeated: u64,
    /// Slashing evidence found or received.
    pub evidence: u64,
    /// Duplicate slots known.
    pub duplicate_slots: u64,
    /// Leader windows commanded.
    pub lead_commands: u64,
    /// Repair requests sent.
    pub repair_requests: u64,
    /// Repair answers taken (a request of ours, from the peer asked, in time).
    pub repair_accepted: u64,
    /// Repair answers refused (unknown or spent nonce, wrong peer, late).
    pub repair_refused: u64,
    /// "Don't have" answers to requests of ours.
    pub repair_dont_have: u64,
    /// Slots fetched again in the version the cluster confirmed.
    pub repair_refetches: u64,
    /// Fork evaluations run (fork choice, vote decision, roots and commitment).
    pub evaluations: u64,
    /// Ancestor-hashes requests sent (see [`crate::ancestry`]).
    pub ancestor_requests: u64,
    /// Parent links of unplaceable blocks believed from ancestor-hashes answers.
    pub ancestor_links_believed: u64,
    /// Ancestor-hashes answers refused (not asked, late, malformed).
    pub ancestor_answers_refused: u64,
}

impl NodeStats {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &NodeStats) {
        self.votes_cast += other.votes_cast;
        self.votes_refreshed += other.votes_refreshed;
        self.votes_refused_locked_out += other.votes_refused_locked_out;
        self.votes_refused_threshold += other.votes_refused_threshold;
        self.switch_refused += other.switch_refused;
        self.votes_seen += other.votes_seen;
        self.votes_dropped += other.votes_dropped;
        self.votes_repeated += other.votes_repeated;
        self.evidence += other.evidence;
        self.duplicate_slots += other.duplicate_slots;
        self.lead_commands += other.lead_commands;
        self.repair_requests += other.repair_requests;
        self.repair_accepted += other.repair_accepted;
        self.repair_refused += other.repair_refused;
        self.repair_dont_have += other.repair_dont_have;
        self.repair_refetches += other.repair_refetches;
        self.evaluations += other.evaluations;
        self.ancestor_requests += other.ancestor_requests;
        self.ancestor_links_believed += other.ancestor_links_believed;
        self.ancestor_answers_refused += other.ancestor_answers_refused;
    }
}

#[derive(Debug, Clone, Copy)]
struct BlockInfo {
    blockhash: Hash,
    block_id: Hash,
}

/// Whether and why the node may vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Voting {
    /// Voting.
    Ready,
    /// Restarted with a tower: waits until its head reaches the slot it saw at start, so that its
    /// own newer votes (in blocks and gossip) are seen and adopted first.
    CatchingUp { start_slot: Slot },
    /// Restarted without a tower: waits for the finalized root to pass the slot it saw at start.
    WaitingForFinality { start_slot: Slot },
    /// Not a voter (no stake), or another instance runs this identity.
    Off,
}

/// The control-plane core of one validator (module docs).
pub struct Node {
    me: Pubkey,
    vote_account: Pubkey,
    signer: Box<dyn Signer>,
    /// The other validators, heaviest stake first (ties by key): where votes go directly.
    peers_by_stake: Vec<Pubkey>,
    /// Each validator's vote account (derived once: a vote must name its voter's).
    vote_accounts: Map<Pubkey, Pubkey>,
    clock: SlotClock,
    schedules: Schedules,
    gossip: Gossip,
    forks: ForkChoice,
    /// Each validator's newest tower as this node saw it (its lockouts), for the switch proof.
    towers: Map<Pubkey, Vec<Lockout>>,
    votes: VoteTracker,
    tower: Tower,
    finality: Finality,
    duplicates: Duplicates,
    /// Parents of blocks outside the tree, learned from peers while a duplicate slot is open.
    ancestry: Ancestry,
    /// This node's last vote, if its block was dropped for a confirmed version.
    last_vote_dropped: Option<Slot>,
    evidence: EvidenceBook,
    blocks: Map<Slot, BlockInfo>,
    rooted: BTreeSet<Slot>,
    dead: BTreeSet<Slot>,
    confirmed: BTreeMap<Slot, Hash>,
    voting: Voting,
    started: Millis,
    now: Millis,
    head: Slot,
    seen: Slot,
    arriving: BTreeMap<Slot, Millis>,
    /// Slots received in full (every data shred held) and not yet replayed.
    received: BTreeSet<Slot>,
    led_through: Option<Slot>,
    lead_wait_until: Option<Millis>,
    last_vote_sent: Option<Millis>,
    last_vote_landed: bool,
    commitment: Commitment,
    peers_sent: Vec<ContactInfo>,
    forward_to: Option<Option<ForwardTarget>>,
    outputs: VecDeque<Output>,
    stats: NodeStats,
    /// Blocks votes named that were asked for, and when.
    repair_asked: BTreeMap<(Slot, Hash), Millis>,
    /// Which shreds to ask for, of whom, when.
    repair: RepairPlanner,
    /// Peers' serve-repair addresses, from gossip.
    repair_addrs: Map<Pubkey, SocketAddr>,
    /// When the next repair round runs (while the planner has work).
    repair_round_at: Option<Millis>,
    /// What changed since the last step (only that is re-evaluated: the simulator runs a hundred
    /// cores, and a gossip datagram that brought nothing new must cost next to nothing).
    dirty: Dirty,
    /// When coalesced vote changes get evaluated.
    evaluate_at: Option<Millis>,
    /// When a timeout next re-evaluates the forks although no input changed them.
    next_fork_tick: Millis,
    /// What finality was last computed from (head and its hash, root, total stake); `None` once a
    /// validator's root moved. Finality is recomputed only when these change: a root off the
    /// head's fork can join it only by the head moving.
    finality_inputs: Option<(Slot, Option<Hash>, Slot, u64)>,
}

mod ancestry;
mod duplicates;
mod repair;
mod voting;

#[derive(Debug, Clone, Copy, Default)]
struct Dirty {
    /// Blocks, votes, validity: fork choice, voting, roots, commitment.
    fork: bool,
    /// The clock moved: leading, vote refresh, forwarding.
    clock: bool,
    /// Contact information changed.
    peers: bool,
    /// A slot was just optimistically confirmed: report it now, not at the coalescing deadline.
    confirmed: bool,
}

impl Node {
    /// A core for `config`'s validator, signing with `signer`, starting at `now` from what storage
    /// restored.
    pub fn new(
        config: NodeConfig,
        signer: Box<dyn Signer>,
        restored: Restored,
        now: Millis,
    ) -> Node {
        let me = signer.pubkey();
        let genesis = &config.genesis;
        let validators: Vec<(Pubkey, u64)> = genesis
            .validators
            .iter()
            .map(|v| (v.identity, v.stake))
            .collect();
        let stakes: HashMap<Pubkey, u64> = validators.iter().copied().collect();
        let clock = SlotClock::new(genesis);
        let (root, root_hash) = restored.root;
        let start_slot = clock.slot_at(now);
        let staked = stakes.get(&me).is_some_and(|s| *s > 0);
        let (tower, voting) = match (restored.tower, config.voting && staked) {
            (_, false) => (Tower::new(Some(root)), Voting::Off),
            (TowerStart::Fresh, true) => (Tower::new(None), Voting::Ready),
            (TowerStart::Saved(t), true) => (
                Tower::from_tower_sync(&t),
                Voting::CatchingUp { start_slot },
            ),
            (TowerStart::Lost, true) => (
                Tower::new(Some(root)),
                Voting::WaitingForFinality { start_slot },
            ),
        };
        let gossip = Gossip::new(
            config.gossip.clone(),
            GossipCluster {
                genesis_hash: genesis.hash(),
                shred_version: shred_version(&genesis.hash()),
                validators: validators.clone(),
            },
            config.contact.clone(),
            config.seeds.clone(),
            config.rng_seed,
        );
        let mut peers_by_stake: Vec<(Pubkey, u64)> = validators
            .iter()
            .copied()
            .filter(|(k, s)| *k != me && *s > 0)
            .collect();
        peers_by_stake.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        peers_by_stake.dedup_by_key(|(k, _)| *k);
        peers_by_stake.truncate(VOTE_DIRECT_MAX);
        Node {
            me,
            peers_by_stake: peers_by_stake.into_iter().map(|(k, _)| k).collect(),
            vote_accounts: validators
                .iter()
                .map(|(k, _)| (*k, vote_account_address(k)))
                .collect(),
            vote_account: vote_account_address(&me),
            signer,
            clock,
            schedules: Schedules::new(genesis),
            gossip,
            forks: ForkChoice::new(root, root_hash, stakes),
            towers: Map::default(),
            votes: VoteTracker::new(&validators, root),
            tower,
            finality: Finality::new(root),
            duplicates: Duplicates::new(),
            ancestry: Ancestry::new(root, config.rng_seed),
            last_vote_dropped: None,
            evidence: EvidenceBook::new(),
            blocks: Map::default(),
            rooted: BTreeSet::from([root]),
            dead: BTreeSet::new(),
            confirmed: BTreeMap::new(),
            voting,
            started: now,
            now,
            head: root,
            seen: root,
            arriving: BTreeMap::new(),
            received: BTreeSet::new(),
            led_through: None,
            lead_wait_until: None,
            last_vote_sent: None,
            last_vote_landed: true,
            commitment: Commitment {
                processed: root,
                confirmed: root,
                finalized: root,
                root,
            },
            peers_sent: Vec::new(),
            forward_to: None,
            outputs: VecDeque::new(),
            stats: NodeStats::default(),
            repair_asked: BTreeMap::new(),
            repair: {
                let mut p =
                    RepairPlanner::new(RepairConfig::default(), config.rng_seed ^ 0x7265_7061_6972);
                p.set_root(root);
                p
            },
            repair_addrs: Map::default(),
            repair_round_at: None,
            dirty: Dirty {
                fork: true,
                clock: true,
                peers: true,
                confirmed: false,
            },
            evaluate_at: None,
            finality_inputs: None,
            next_fork_tick: 0,
        }
    }

    /// This node's identity.
    pub fn identity(&self) -> Pubkey {
        self.me
    }

    /// Handles one input at `now`.
    pub fn handle(&mut self, now: Millis, input: Input) {
        self.now = self.now.max(now);
        // Whether fork changes from this input may wait for the coalescing deadline.
        let coalesce = matches!(input, Input::Gossip { .. } | Input::Vote(_));
        match input {
            Input::Timeout => {
                self.gossip.handle_timeout(self.now, &*self.signer);
                // Fork state changes only with inputs; time alone matters to it only for the
                // retries of blocks votes named, which a periodic evaluation covers.
                let tick = self.now >= self.next_fork_tick;
                if tick {
                    self.next_fork_tick = self.now.saturating_add(FORK_TICK_MS);
                }
                self.dirty = Dirty {
                    fork: self.dirty.fork || tick,
                    clock: true,
                    peers: self.dirty.peers,
                    confirmed: self.dirty.confirmed,
                };
            }
            Input::BankFrozen(b) => {
                self.dirty.fork = true;
                self.dirty.clock = true;
                self.on_bank_frozen(b);
            }
            Input::BlockDead { slot } => {
                self.dirty.fork = true;
                self.repair.on_completed(slot);
                self.dead.insert(slot);
                self.arriving.remove(&slot);
                self.received.remove(&slot);
                if self.forks.contains(slot) {
                    self.forks.set_invalid(slot, true);
                }
            }
            Input::SlotStarted { slot, parent } => {
                self.dirty.clock = true;
                self.on_slot_started(slot, parent);
            }
            Input::Gossip { from, msg } => {
                self.check_twin(msg.get());
                let inserted = self
                    .gossip
                    .handle_message(self.now, from, msg, &*self.signer);
                for i in inserted {
                    self.on_gossip_value(i);
                }
            }
            Input::Vote(v) => {
                let v = v.into_inner();
                self.on_vote(&v, true);
            }
            Input::DuplicateSlot { slot, proof } => {
                self.dirty.fork = true;
                self.on_duplicate_slot(slot, proof);
            }
            Input::SlotProgress(p) => {
                if p.complete {
                    self.repair.on_completed(p.slot);
                    if self.arriving.contains_key(&p.slot) {
                        self.received.insert(p.slot);
                    }
                } else {
                    self.repair.on_progress(self.now, &p);
                }
                self.wake_repair();
            }
            Input::Orphan { slot } => {
                self.repair.on_orphan(self.now, slot);
                self.wake_repair();
            }
            Input::Refetch { slot, block_id } => {
                tracing::debug!(
                    slot = slot.0,
                    ?block_id,
                    "fetching the confirmed version again"
                );
                self.stats.repair_refetches += 1;
                self.received.remove(&slot);
                self.repair.reopen(self.now, slot);
                self.wake_repair();
            }
            Input::RepairAnswer {
                from,
                nonce,
                answer,
            } => self.on_repair_answer(from, nonce, answer),
        }
        if coalesce && self.dirty.fork && !self.dirty.confirmed {
            self.dirty.fork = false;
            self.evaluate_at
                .get_or_insert(self.now.saturating_add(EVALUATE_COALESCE_MS));
        }
        if self.evaluate_at.is_some_and(|t| self.now >= t) || self.dirty.fork {
            self.evaluate_at = None;
            self.dirty.fork = true;
        }
        self.step();
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the core next wants [`Input::Timeout`].
    pub fn poll_timeout(&self) -> Millis {
        let next_slot = self
            .clock
            .slot_start_unix_ms(self.clock.slot_at(self.now).next());
        let mut t = next_slot.min(self.gossip.poll_timeout());
        if let Some(w) = self.lead_wait_until {
            t = t.min(w);
        }
        if let Some(e) = self.evaluate_at {
            t = t.min(e);
        }
        if let Some(r) = self.repair_round_at {
            t = t.min(r);
        }
        if let (Some(sent), false) = (self.last_vote_sent, self.last_vote_landed) {
            t = t.min(sent + VOTE_REFRESH_MS);
        }
        t.max(self.now + 1)
    }

    /// The commitment levels.
    pub fn commitment(&self) -> Commitment {
        self.commitment
    }

    /// The tower (for `status`).
    pub fn tower(&self) -> &Tower {
        &self.tower
    }

    /// The gossip state (peers, stats).
    pub fn gossip(&self) -> &Gossip {
        &self.gossip
    }

    /// Counters.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// Evidence held.
    pub fn evidence(&self) -> impl Iterator<Item = &Evidence> {
        self.evidence.all()
    }

    /// Slots with a duplicate-slot proof (above the root).
    pub fn duplicate_slots(&self) -> Vec<Slot> {
        self.duplicates.slots()
    }

    /// Each validator's newest vote as fork choice counts it.
    pub fn latest_votes(&self) -> Vec<(Pubkey, Slot, Hash)> {
        let mut v: Vec<_> = self
            .forks
            .latest_votes()
            .map(|(k, s, h)| (*k, s, h))
            .collect();
        v.sort_unstable_by_key(|x| x.0);
        v
    }

    /// Counts a gossip datagram or value the edge refused (bad signature, malformed, oversized).
    pub fn record_edge_reject(&mut self, reject: &crate::gossip::GossipReject) {
        self.gossip.record_reject(reject);
    }

    /// Counts values the edge dropped unverified because gossip already held them.
    pub fn record_edge_held(&mut self, values: usize) {
        self.gossip.record_held(values);
    }

    /// One line on where the node stands, for debugging runs.
    pub fn debug_line(&self) -> String {
        format!(
            "head {} root {} tower_root {:?} last_vote {:?} voting {:?} finalized {} blocks {} best {}",
            self.head,
            self.forks.root(),
            self.tower.root(),
            self.tower.last_voted_slot(),
            self.voting,
            self.finality.finalized(),
            self.forks.len(),
            self.forks.best()
        )
    }

    /// Each validator's newest vote as this node sees it, and whether fork choice counts it.
    pub fn debug_votes(&self) -> String {
        let mut v: Vec<_> = self
            .forks
            .latest_votes()
            .map(|(k, s, h)| (k.0[8], s.0, self.forks.hash(s) == Some(h)))
            .collect();
        v.sort_unstable();
        let off = self.tower.last_voted_slot().map(|l| self.switch_stake(l));
        let tower: Vec<(u64, u32)> = self
            .tower
            .votes()
            .map(|l| (l.slot.0, l.confirmation_count))
            .collect();
        let wanted: Vec<(u64, u64)> = self.forks.wanted().iter().map(|w| (w.0 .0, w.2)).collect();
        let dups: Vec<(u64, bool, bool)> = self
            .duplicates
            .slots()
            .into_iter()
            .filter(|d| self.duplicates.state(*d) == Some(None))
            .map(|d| {
                (
                    d.0,
                    self.forks.contains(d),
                    self.forks.is_ancestor_or_self(d, self.head),
                )
            })
            .collect();
        let chain: Vec<u64> = self.forks.chain_to(self.head).iter().map(|s| s.0).collect();
        format!(
            "open_dups {dups:?} chain {chain:?}\n    votes {v:?} off_fork {off:?} total {} wanted {wanted:?} tower {tower:?}",
            self.votes.total_stake()
        )
    }

    /// Whether the node votes now (for `status` and tests).
    pub fn is_voting(&self) -> bool {
        self.voting == Voting::Ready
    }

    fn on_slot_started(&mut self, slot: Slot, _parent: Option<Slot>) {
        if slot <= self.forks.root() || slot.0 > self.forks.root().0 + SLOTS_AHEAD_MAX {
            return;
        }
        self.seen = self.seen.max(slot);
        if !self.blocks.contains_key(&slot) && !self.dead.contains(&slot) {
            self.arriving.entry(slot).or_insert(self.now);
            while self.arriving.len() > ARRIVING_SLOTS_MAX {
                if let Some((gone, _)) = self.arriving.pop_first() {
                    self.received.remove(&gone);
                }
            }
        }
    }

    fn on_bank_frozen(&mut self, b: BankFrozen) {
        self.arriving.remove(&b.slot);
        self.received.remove(&b.slot);
        self.repair.on_completed(b.slot);
        self.seen = self.seen.max(b.slot);
        if b.slot <= self.forks.root() || b.slot.0 > self.forks.root().0 + SLOTS_AHEAD_MAX {
            return;
        }
        if let Some(h) = self.forks.hash(b.slot) {
            if h == b.bank_hash {
                return;
            }
            // Another version of a slot already held: only a duplicate resolution replaces it.
            return;
        }
        if !self.forks.add_block(b.slot, b.bank_hash, b.parent) {
            return;
        }
        self.blocks.insert(
            b.slot,
            BlockInfo {
                blockhash: b.blockhash,
                block_id: b.block_id,
            },
        );
        if self.dead.contains(&b.slot) {
            self.forks.set_invalid(b.slot, true);
        }
        match self.duplicates.state(b.slot) {
            Some(None) => self.forks.set_invalid(b.slot, true),
            Some(Some(h)) if h != b.bank_hash => {
                self.replace_block(b.slot, h);
                return;
            }
            _ => {}
        }
        // Votes cast before this block arrived now count on it.
        self.recount_confirmed(b.slot);
        for lv in &b.votes {
            // A landed vote's newest slot is an ancestor of this block: its hash is ours.
            let Some(last) = lv.lockouts.last().map(|l| l.slot) else {
                continue;
            };
            let Some(hash) = self.forks.hash(last) else {
                continue;
            };
            let tower = TowerSync {
                lockouts: lv.lockouts.clone(),
                root: lv.root,
                hash,
                timestamp: None,
                block_id: Hash::default(),
            };
            if lv.voter == self.me {
                if self.tower.last_voted_slot() <= Some(last) {
                    self.last_vote_landed = true;
                }
                // A restarted node whose tower file is older than what landed takes the landed
                // tower over before it votes.
                self.adopt_own_vote(&tower);
                continue;
            }
            self.count_vote(lv.voter, &tower);
        }
    }

    fn on_gossip_value(&mut self, inserted: Inserted) {
        let value: &SignedValue = &inserted.value;
        match &value.data {
            CrdsData::ContactInfo(ci) => {
                self.dirty.peers = true;
                let mine = self.gossip.me().instance;
                if ci.pubkey == self.me && ci.instance > mine && self.voting != Voting::Off {
                    // Another, newer process runs this identity: two voters with one key would
                    // double vote, so the older one stops.
                    self.voting = Voting::Off;
                    self.outputs
                        .push_back(Output::DuplicateInstance { other: ci.gossip });
                }
            }
            CrdsData::Vote { tx } if self.evidence.holds_newest(&value.origin, tx) => {
                self.stats.votes_seen += 1;
                self.stats.votes_repeated += 1;
            }
            CrdsData::Vote { tx } => match ParsedVote::parse(tx) {
                Some(v) if v.voter == value.origin => self.on_vote(&v, false),
                _ => self.stats.votes_dropped += 1,
            },
            CrdsData::DuplicateShred {
                slot,
                chunk_index,
                num_chunks,
                chunk,
            } => {
                if let Some(proof) = self.duplicates.add_chunk(
                    value.origin,
                    *slot,
                    *chunk_index,
                    *num_chunks,
                    chunk,
                    self.forks.root(),
                ) {
                    self.outputs.push_back(Output::CheckDuplicateProof {
                        slot: *slot,
                        origin: value.origin,
                        proof,
                    });
                }
            }
            CrdsData::SlashingEvidence {
                offender,
                kind,
                first,
                second,
            } => self.on_gossip_evidence(*offender, *kind, first, second),
        }
    }

    /// Another, newer process running this identity announces itself: two voters with one key
    /// would double vote, so the older one stops voting and tells its driver (which exits).
    fn check_twin(&mut self, msg: &crate::gossip::GossipMessage) {
        use crate::gossip::GossipMessage;
        let values = match msg {
            GossipMessage::Push { values, .. } | GossipMessage::PullResponse { values, .. } => {
                values.as_slice()
            }
            GossipMessage::PullRequest { caller, .. } => std::slice::from_ref(caller),
            #[allow(unreachable_patterns)]
            _ => return,
        };
        let mine = self.gossip.me().instance;
        for v in values {
            let CrdsData::ContactInfo(ci) = &v.data else {
                continue;
            };
            if v.origin == self.me && ci.instance > mine && self.voting != Voting::Off {
                self.voting = Voting::Off;
                self.outputs
                    .push_back(Output::DuplicateInstance { other: ci.gossip });
            }
        }
    }

    fn on_gossip_evidence(&mut self, offender: Pubkey, kind: u8, first: &[u8], second: &[u8]) {
        let (Some(kind), Some(a), Some(b)) = (
            EvidenceKind::from_code(kind),
            ParsedVote::parse(first),
            ParsedVote::parse(second),
        ) else {
            return;
        };
        if a.voter != offender || b.voter != offender {
            return;
        }
        // Keep it only if the two votes really conflict.
        let mut probe = EvidenceBook::new();
        let (forks, rooted) = (&self.forks, &self.rooted);
        probe.check(offender, &a.tower, &a.tx, |_, _| None);
        let found = probe.check(offender, &b.tower, &b.tx, |x, y| {
            descends(forks, rooted, x, y)
        });
        if let Some(e) = found.into_iter().find(|e| e.kind == kind) {
            if self.evidence.keep(e.clone()) {
                self.stats.evidence += 1;
                self.outputs.push_back(Output::Evidence(e));
            }
        }
    }

    /// A vote from gossip or the vote port (`direct`).
    fn on_vote(&mut self, v: &ParsedVote, direct: bool) {
        self.stats.votes_seen += 1;
        if self.evidence.holds_newest(&v.voter, &v.tx) {
            self.stats.votes_repeated += 1;
            return;
        }
        if self.vote_accounts.get(&v.voter) != Some(&v.vote_account) {
            self.stats.votes_dropped += 1;
            return;
        }
        let (forks, rooted) = (&self.forks, &self.rooted);
        let found = self.evidence.check(v.voter, &v.tower, &v.tx, |a, b| {
            descends(forks, rooted, a, b)
        });
        for e in found {
            self.stats.evidence += 1;
            let data = CrdsData::SlashingEvidence {
                offender: e.offender,
                kind: e.kind.code(),
                first: e.first.to_vec(),
                second: e.second.to_vec(),
            };
            self.gossip.push_own(self.now, data, &*self.signer);
            self.outputs.push_back(Output::Evidence(e));
        }
        if v.voter == self.me {
            self.adopt_own_vote(&v.tower);
            return;
        }
        let fresh = self.count_vote(v.voter, &v.tower);
        if fresh && self.leads_soon() {
            self.outputs.push_back(Output::BankVote(v.tx.clone()));
        }
        let _ = direct;
    }

    /// Counts `voter`'s tower in fork choice, vote aggregation and finality; returns whether it was
    /// newer than what was known.
    fn count_vote(&mut self, voter: Pubkey, tower: &TowerSync) -> bool {
        let Some(last) = tower.last_voted_slot() else {
            return false;
        };
        let newer = self.forks.apply_vote(voter, last, tower.hash);
        if newer {
            self.dirty.fork = true;
        }
        if self.finality.observe(voter, last, tower.root) {
            self.dirty.fork = true;
            self.finality_inputs = None;
        }
        if !newer {
            // What an older vote says, the newer one already said (its tower holds every slot
            // still locked); only the evidence check cared. Its block id too was noted when the
            // voter's votes arrived in order, as nearly all do.
            return false;
        }
        if tower.block_id != Hash::default() {
            self.duplicates
                .note_block_id(last, tower.hash, tower.block_id);
        }
        let kept = self.towers.entry(voter).or_default();
        kept.clear();
        kept.extend_from_slice(&tower.lockouts);
        // Every slot of the tower is a vote for that slot; hashes below the newest come from this
        // node's tree, walked lazily from the newest voted block down (both lists descend), so
        // the walk ends where the tracker holds this voter's previous whole tower.
        let forks = &self.forks;
        let whole = forks.hash(last) == Some(tower.hash);
        let mut lockouts = tower.lockouts.iter().rev().skip(1).peekable();
        let mut cur = if whole { forks.parent(last) } else { None };
        let below = std::iter::from_fn(move || {
            while let (Some(s), Some(l)) = (cur, lockouts.peek()) {
                if l.slot > s {
                    // Not on this chain (a slot skipped here): the next lockout may be `s`.
                    lockouts.next();
                    continue;
                }
                cur = forks.parent(s);
                if l.slot == s {
                    lockouts.next();
                    if let Some(h) = forks.hash(s) {
                        return Some((s, h));
                    }
                }
            }
            None
        });
        let effects = if whole || self.ancestry.parent((last, tower.hash)).is_none() {
            let slots = std::iter::once((last, tower.hash)).chain(below);
            self.votes.record(&voter, slots, whole)
        } else {
            // A block outside the tree whose ancestry peers told: its tower's slots are votes for
            // that chain's blocks (see `crate::ancestry`).
            let slots = self.chain_votes((last, tower.hash), &tower.lockouts);
            self.votes.record(&voter, slots, false)
        };
        self.apply_vote_effects(effects);
        newer
    }

    /// After a block arrives, versions confirmed before it did may now be on this node's fork.
    /// Takes in what recording a vote confirmed.
    fn apply_vote_effects(&mut self, effects: crate::votes::VoteEffects) {
        if !effects.confirmed.is_empty() || !effects.duplicate_confirmed.is_empty() {
            self.dirty.fork = true;
            self.dirty.confirmed = true;
        }
        for (slot, hash) in effects.confirmed {
            self.confirmed.insert(slot, hash);
        }
        for (slot, hash) in effects.duplicate_confirmed {
            self.on_duplicate_confirmed(slot, hash);
        }
    }

    fn recount_confirmed(&mut self, slot: Slot) {
        if let Some(h) = self.forks.hash(slot) {
            if self.votes.is_confirmed(slot, &h) {
                self.confirmed.insert(slot, h);
            }
        }
    }

    /// This node's own vote seen in the cluster: newer than the tower (the tower file was older),
    /// so the tower takes it over before anything is voted.
    fn adopt_own_vote(&mut self, t: &TowerSync) {
        let (Some(last), mine) = (t.last_voted_slot(), self.tower.last_voted_slot()) else {
            return;
        };
        if mine.is_some_and(|m| m >= last) || self.voting == Voting::Off {
            return;
        }
        self.tower = Tower::from_tower_sync(t);
        if let Some(h) = Some(t.hash) {
            self.forks.apply_vote(self.me, last, h);
        }
    }

    /// Re-evaluates everything after an input: head, vote, root, commitment, leading, gossip.
    fn step(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        if dirty.fork {
            self.stats.evaluations += 1;
            self.check_duplicate_subtrees();
            self.ask_ancestry();
            self.repair_voted_blocks();
            self.select_and_vote();
            self.update_root_and_commitment();
        }
        if dirty.fork || dirty.clock {
            self.maybe_lead();
        }
        if dirty.clock {
            self.maybe_refresh_vote();
            self.update_forwarding();
        }
        if dirty.peers {
            self.update_peers();
        }
        self.maybe_repair();
        while let Some((to, msg)) = self.gossip.poll_transmit() {
            self.outputs.push_back(Output::Gossip { to, msg });
        }
    }

    fn is_ancestor(&self, a: Slot, of: Slot) -> bool {
        if a >= self.forks.root() {
            return self.forks.is_ancestor_or_self(a, of) && a != of;
        }
        // Below the root: on the rooted chain, or older than what is remembered (rooted long ago).
        self.rooted.contains(&a) || self.rooted.first().is_some_and(|f| a < *f)
    }

    /// Stake that proves a switch off the fork of `last` (see [`ForkChoice::switch_stake`]).
    fn switch_stake(&self, last: Slot) -> u64 {
        let towers = self
            .towers
            .iter()
            .filter(|(v, _)| **v != self.me)
            .map(|(v, lockouts)| (self.votes.stake_of(v), lockouts.as_slice()));
        self.forks.switch_stake(last, towers)
    }

    fn update_root_and_commitment(&mut self) {
        let head = self.head;
        let root = self.forks.root();
        let inputs = (head, self.forks.hash(head), root, self.votes.total_stake());
        // The head's chain down to the root, walked once: finality and confirmation ask about
        // many slots on it.
        let chain = self.forks.chain_to(head);
        let on_chain = |s: Slot| chain.binary_search(&s).is_ok();
        let finalized = if self.finality_inputs == Some(inputs) {
            self.finality.finalized()
        } else {
            self.finality_inputs = Some(inputs);
            let rooted = &self.rooted;
            let votes = &self.votes;
            self.finality.update(
                votes.total_stake(),
                |v| votes.stake_of(v),
                |r| {
                    if r >= root {
                        on_chain(r)
                    } else {
                        rooted.contains(&r)
                    }
                },
            )
        };
        let mut new_root = root;
        if let Some(t) = self.tower.root() {
            if t > new_root && self.forks.is_ancestor_or_self(t, head) {
                new_root = t;
            }
        }
        if finalized > new_root && self.forks.is_ancestor_or_self(finalized, head) {
            new_root = finalized;
        }
        if new_root > root {
            self.set_root(new_root);
        }
        let root = self.forks.root();
        let confirmed = self
            .confirmed
            .iter()
            .rev()
            .find(|(s, h)| on_chain(**s) && self.forks.hash(**s) == Some(**h))
            .map_or(root, |(s, _)| *s)
            .max(finalized.min(head));
        let c = Commitment {
            processed: head,
            confirmed,
            finalized,
            root,
        };
        if c != self.commitment {
            self.commitment = c;
            self.outputs.push_back(Output::Commitment(c));
        }
    }

    fn set_root(&mut self, root: Slot) {
        // The chain from the old root to the new one joins the rooted history.
        let mut cur = Some(root);
        let old = self.forks.root();
        while let Some(s) = cur {
            if s <= old {
                break;
            }
            self.rooted.insert(s);
            cur = self.forks.parent(s);
        }
        while self.rooted.len() > ROOTED_HISTORY_MAX {
            self.rooted.pop_first();
        }
        self.forks.set_root(root);
        self.votes.set_root(root);
        self.finality.prune(Slot(root.0.saturating_sub(1)));
        self.duplicates.set_root(root);
        self.ancestry.set_root(root);
        self.blocks.retain(|s, _| *s >= root);
        self.dead = self.dead.split_off(&root);
        self.confirmed = self.confirmed.split_off(&root);
        self.arriving = self.arriving.split_off(&root.next());
        self.received = self.received.split_off(&root.next());
        self.repair_asked = self.repair_asked.split_off(&(root.next(), Hash::default()));
        self.repair.set_root(root);
        self.outputs.push_back(Output::SetRoot(root));
    }

    fn maybe_lead(&mut self) {
        let slot = self.clock.slot_at(self.now);
        let predecessor_arriving = self.arriving.range(self.head.next()..slot).next().is_some();
        let predecessor_received = self.received.range(self.head.next()..slot).next().is_some();
        // Arriving lately: an orphan whose parent no live peer holds must not stop leading forever.
        let recent = CATCHING_UP_SLOTS * self.clock.slot_duration_ms();
        let unreplayed = self
            .arriving
            .iter()
            .rev()
            .find(|(_, &at)| self.now.saturating_sub(at) <= recent)
            .map_or(self.head, |(&s, _)| s);
        let view = LeaderView {
            now: self.now,
            head: self.head,
            seen: unreplayed,
            led_through: self.led_through,
            started: self.started,
            predecessor_arriving,
            predecessor_received,
        };
        self.lead_wait_until = None;
        match decide(&self.clock, &mut self.schedules, &self.me, view) {
            LeadDecision::Idle => {}
            LeadDecision::WaitUntil(t) => self.lead_wait_until = Some(t),
            LeadDecision::Lead(cmd) => self.lead(cmd),
        }
    }

    fn lead(&mut self, cmd: LeadCommand) {
        self.led_through = Some(cmd.last);
        self.stats.lead_commands += 1;
        self.outputs.push_back(Output::Lead(cmd));
    }

    /// Gulf Stream: forward to the current leader unless this node leads now or next; skip a leader
    /// that has been silent for a whole slot of its turn.
    fn update_forwarding(&mut self) {
        let slot = self.clock.slot_at(self.now);
        let mine = |s: &mut Schedules, x: Slot| s.leader(x) == Some(self.me);
        let target = if mine(&mut self.schedules, slot) || mine(&mut self.schedules, slot.next()) {
            None
        } else {
            let mut s = slot;
            let mut found = None;
            for _ in 0..8 {
                let Some(leader) = self.schedules.leader(s) else {
                    break;
                };
                if leader == self.me {
                    break;
                }
                let turn_start = Slot(s.0 - s.0 % crate::leader_schedule::DEFAULT_SLOTS_PER_LEADER);
                let silent = slot > turn_start
                    && !self
                        .blocks
                        .keys()
                        .any(|b| *b >= turn_start && *b < slot.next())
                    && !self.arriving.keys().any(|b| *b >= turn_start);
                if !silent || s > slot {
                    found = self.gossip.contact_info(&leader).map(|c| ForwardTarget {
                        tpu: c.tpu,
                        tpu_quic: c.tpu_quic,
                    });
                    break;
                }
                s = self.schedules.turn_end(s).next();
            }
            found
        };
        if self.forward_to != Some(target) {
            self.forward_to = Some(target);
            self.outputs.push_back(Output::ForwardTo(target));
        }
    }

    fn update_peers(&mut self) {
        let mut peers: Vec<ContactInfo> = self.gossip.contact_infos().cloned().collect();
        peers.sort_by_key(|c| c.pubkey);
        self.repair_addrs = peers
            .iter()
            .filter(|c| c.pubkey != self.me)
            .map(|c| (c.pubkey, c.serve_repair))
            .collect();
        let ids: Vec<Pubkey> = self.repair_addrs.keys().copied().collect();
        self.repair.set_peers(&ids);
        let changed = peers.len() != self.peers_sent.len()
            || peers
                .iter()
                .zip(&self.peers_sent)
                .any(|(a, b)| !same_addresses(a, b));
        if changed {
            self.peers_sent = peers.clone();
            self.outputs.push_back(Output::Peers(PeerTable { peers }));
        }
    }
}

/// Whether block `b` descends from (or is) block `a`, when this node's chain knows both: the fork
/// tree above the root, the rooted history below it.
fn descends(forks: &ForkChoice, rooted: &BTreeSet<Slot>, a: Slot, b: Slot) -> Option<bool> {
    let root = forks.root();
    let known = |s: Slot| {
        if s >= root {
            forks.contains(s)
        } else {
            rooted.first().is_some_and(|f| s >= *f)
        }
    };
    if !known(a) || !known(b) {
        return None;
    }
    Some(match (a >= root, b >= root) {
        (true, true) => forks.is_ancestor_or_self(a, b),
        (false, true) => rooted.contains(&a),
        (true, false) => false,
        (false, false) => a <= b && rooted.contains(&a) && rooted.contains(&b),
    })
}

fn same_addresses(a: &ContactInfo, b: &ContactInfo) -> bool {
    a.pubkey == b.pubkey
        && a.gossip == b.gossip
        && a.tpu == b.tpu
        && a.tpu_vote == b.tpu_vote
        && a.tvu == b.tvu
        && a.repair == b.repair
        && a.serve_repair == b.serve_repair
        && a.rpc == b.rpc
        && a.tpu_quic == b.tpu_quic
        && a.tpu_vote_quic == b.tpu_vote_quic
}
