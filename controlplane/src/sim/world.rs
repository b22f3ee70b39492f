//! The simulated world: nodes, links, the event queue and the run loop.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;
use std::sync::Arc;

use dataplane::genesis::{Genesis, GenesisValidator};
use dataplane::turbine::{ShredId, TurbineTree};
use dataplane::types::{Hash, Pubkey, Slot};

use crate::map::Map;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::check::Checker;
use super::report::{Accounting, SimReport, Traffic};
use super::standin::{Arrival, Persisted, SimBlock, StandIn, OLDER_TOWERS_MAX};
use super::{splitmix, SimSigner};
use crate::gossip::{wire, ContactInfo, GossipConfig, GossipMessage, SoftwareVersion};
use crate::io::{Input, Millis, Output, ParsedVote, RepairAnswer, VoteTarget};
use crate::node::{Node, NodeConfig, Restored, TowerStart};
use crate::signer::{Signer, Verified};
use crate::slot_clock::SlotClock;
use dataplane::repair::{AncestorHash, RepairKind, ANCESTORS_MAX};

/// When the simulated genesis was created (a fixed instant, so runs do not depend on the host).
pub const GENESIS_UNIX_MS: Millis = 1_700_000_000_000;
/// Bytes of block data one data shred carries.
const SHRED_PAYLOAD_BYTES: usize = 1_000;
/// Size of one shred on the wire.
const SHRED_BYTES: u64 = 1_228;
/// Trees sampled per block for its delivery time (the block is in once half of them delivered,
/// as erasure coding needs half of a set's shreds).
const DELIVERY_TREES: u32 = 4;
/// Trees sampled per block for shred traffic (scaled to the block's shred count).
const TRAFFIC_TREES: u32 = 8;
/// Ancestors a repair answer carries besides the block asked for (orphan repair).
const REPAIR_ANCESTORS: usize = 8;
/// Bytes a repair request takes on the wire.
const REPAIR_REQUEST_BYTES: u64 = 160;
/// Bytes of an ancestor-hashes answer before its entries, and per entry (`dataplane::repair`).
const ANCESTORS_HEADER_BYTES: u64 = 142;
const ANCESTOR_ENTRY_BYTES: u64 = 72;

/// What a byzantine (or twin) node does differently; every node runs the honest core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Follows the protocol.
    Honest,
    /// Produces two versions of each of its slots and sends each to half of the cluster.
    EquivocatingLeader,
    /// With each vote also sends a conflicting one (same slot, another bank hash) to half the
    /// cluster.
    DoubleVoter,
    /// Never sends its votes.
    VoteWithholder,
    /// Never produces its slots.
    SilentLeader,
    /// Sends old signed gossip messages again, to random nodes.
    Replayer,
}

/// What happens to a restarted node's tower file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TowerFate {
    /// It is intact.
    Keep,
    /// An older file is back (restored from a backup), this many votes old.
    RollBack(usize),
    /// It is gone.
    Lose,
}

/// A scheduled change to the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nodes are split into these groups (listed by index; unlisted nodes form one more group).
    Partition(Vec<Vec<usize>>),
    /// Every link works again.
    Heal,
    /// The node stops (its in-flight messages still arrive; nothing reaches it).
    Crash(usize),
    /// The node starts again from what it persisted.
    Restart(usize, TowerFate),
    /// The current leader crashes.
    CrashLeader,
}

/// A run's settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Validators (nodes besides twins and impersonators).
    pub validators: usize,
    /// Slots to simulate.
    pub slots: u64,
    /// The seed everything derives from.
    pub seed: u64,
    /// One-way link latency range, ms (each link draws its base once).
    pub latency_ms: (u64, u64),
    /// Per-message jitter, percent of the base latency.
    pub jitter_pct: u64,
    /// Loss per gossip, vote or repair message, in parts per million.
    pub loss_ppm: u32,
    /// Turbine fanout.
    pub fanout: usize,
    /// Stakes (defaults to equal).
    pub stakes: Option<Vec<u64>>,
    /// Byzantine behaviours by node index.
    pub behaviors: Vec<(usize, Behavior)>,
    /// Extra instances running the identity of these validators.
    pub twins: Vec<usize>,
    /// A node outside the validator set that forges gossip records.
    pub impersonator: bool,
    /// Actions, by the slot at whose start they happen.
    pub actions: Vec<(u64, Action)>,
    /// Slot length.
    pub slot_ms: u64,
    /// Slots per epoch.
    pub slots_per_epoch: u64,
    /// The scenario's name (for the report and the reproduce command).
    pub scenario: String,
    /// Whether leaders put votes in blocks (off: votes count only from gossip and vote ports).
    pub land_votes: bool,
    /// Whether votes travel by gossip only (not to leaders' vote ports).
    pub gossip_votes_only: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            validators: 10,
            slots: 200,
            seed: 1,
            latency_ms: (5, 20),
            jitter_pct: 10,
            loss_ppm: 0,
            fanout: dataplane::turbine::DEFAULT_FANOUT,
            stakes: None,
            behaviors: Vec::new(),
            twins: Vec::new(),
            impersonator: false,
            actions: Vec::new(),
            slot_ms: 400,
            slots_per_epoch: 64,
            scenario: "no-faults".into(),
            land_votes: true,
            gossip_votes_only: false,
        }
    }
}

#[derive(Debug)]
enum Event {
    Timeout(usize),
    Gossip {
        to: usize,
        from: SocketAddr,
        /// Boxed: the queue moves events on every push and pop.
        msg: Box<GossipMessage>,
        forged: bool,
    },
    Vote {
        to: usize,
        /// Parsed once by the sender: the receiving edge's parse is not the core's work.
        vote: Arc<ParsedVote>,
    },
    Block {
        to: usize,
        block: Arc<SimBlock>,
    },
    Produce {
        node: usize,
        slot: Slot,
        epoch: u64,
    },
    /// A leader's first shreds of `slot` leave it.
    Shreds {
        node: usize,
        slot: Slot,
        epoch: u64,
    },
    SlotStarted {
        to: usize,
        slot: Slot,
    },
    /// A repair request from `from` reaches `to`.
    RepairRequest {
        from: usize,
        to: usize,
        nonce: u32,
        kind: RepairKind,
    },
    /// A repair answer reaches `to`'s core.
    RepairAnswer {
        to: usize,
        from: Pubkey,
        nonce: u32,
        answer: RepairAnswer,
    },
    Action(Action),
    Progress,
    Impersonate,
    Replay(usize),
}

/// Milliseconds the event queue's wheel spans; later events wait in a heap until it reaches them.
const WHEEL_MS: u64 = 4_096;

/// The event queue, ordered by (time, sequence number): a timing wheel of one bucket per
/// millisecond for the next [`WHEEL_MS`], and a heap for later events that moves them into the
/// wheel as it turns. A bucket is first-in first-out, and an event enters it either when pushed
/// (later than everything already there) or, from the heap, the moment its millisecond comes into
/// the wheel's span (before anything can be pushed there), so each bucket stays in sequence order.
/// Events themselves live in a slab; buckets and the heap hold 4-byte indices.
struct EventQueue {
    wheel: Vec<std::collections::VecDeque<u32>>,
    /// The millisecond being popped: the wheel holds `base .. base + WHEEL_MS`.
    base: Millis,
    in_wheel: usize,
    far: BinaryHeap<Reverse<(Millis, u64, u32)>>,
    slab: Vec<Option<(Millis, Event)>>,
    free: Vec<u32>,
}

impl EventQueue {
    fn new(start: Millis) -> EventQueue {
        EventQueue {
            wheel: (0..WHEEL_MS).map(|_| Default::default()).collect(),
            base: start,
            in_wheel: 0,
            far: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
        }
    }

    fn push(&mut self, at: Millis, seq: u64, event: Event) {
        // Nothing is scheduled in the past; were it, it runs now, as a heap would run it next.
        let at = at.max(self.base);
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some((at, event));
                i
            }
            None => {
                self.slab.push(Some((at, event)));
                (self.slab.len() - 1) as u32
            }
        };
        if at < self.base + WHEEL_MS {
            self.wheel[(at % WHEEL_MS) as usize].push_back(i);
            self.in_wheel += 1;
        } else {
            self.far.push(Reverse((at, seq, i)));
        }
    }

    fn pop(&mut self) -> Option<(Millis, Event)> {
        loop {
            if self.in_wheel == 0 {
                let Reverse((at, _, _)) = *self.far.peek()?;
                self.base = at;
                self.admit();
            }
            if let Some(i) = self.wheel[(self.base % WHEEL_MS) as usize].pop_front() {
                self.in_wheel -= 1;
                self.free.push(i);
                return self.slab[i as usize].take();
            }
            self.base += 1;
            self.admit();
        }
    }

    /// Moves heap events now within the wheel's span into their buckets.
    fn admit(&mut self) {
        while let Some(&Reverse((at, _, i))) = self.far.peek() {
            if at >= self.base + WHEEL_MS {
                break;
            }
            self.far.pop();
            self.wheel[(at % WHEEL_MS) as usize].push_back(i);
            self.in_wheel += 1;
        }
    }
}

struct SimNode {
    identity: Pubkey,
    signer: SimSigner,
    addr: SocketAddr,
    core: Option<Node>,
    standin: StandIn,
    behavior: Behavior,
    group: usize,
    next_timeout: Option<Millis>,
    lead_epoch: u64,
    instance: u64,
    /// Old gossip messages a replayer sends again.
    recorded: Vec<(SocketAddr, GossipMessage)>,
}

/// The whole simulated cluster.
pub struct World {
    config: SimConfig,
    genesis: Genesis,
    clock: SlotClock,
    nodes: Vec<SimNode>,
    by_addr: Map<SocketAddr, usize>,
    /// Validator index by identity (a twin shares its original's, which this names).
    by_identity: Map<Pubkey, usize>,
    queue: EventQueue,
    seq: u64,
    now: Millis,
    rng: ChaCha8Rng,
    link_ms: Vec<u64>,
    registry: Map<Hash, Arc<SimBlock>>,
    tree: TurbineTree,
    checker: Checker,
    accounting: Accounting,
    digest: u64,
    genesis_block: Arc<SimBlock>,
    produce_time: Map<Hash, Millis>,
    progress: Option<Progress>,
}

/// Where progress lines go.
pub type Progress = Box<dyn FnMut(&str)>;

fn node_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i >> 8) as u8, (i & 0xff) as u8], 8001))
}

fn with_port(a: SocketAddr, port: u16) -> SocketAddr {
    SocketAddr::new(a.ip(), port)
}

mod faults;
mod repair;

impl World {
    /// Builds the world for `config`.
    pub fn new(config: SimConfig) -> World {
        let n = config.validators.max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let keys: Vec<SimSigner> = (0..n)
            .map(|i| {
                let k = splitmix(config.seed ^ (i as u64).wrapping_mul(0x5851_f42d_4c95_7f2d));
                let mut pk = [0u8; 32];
                pk[..8].copy_from_slice(&k.to_le_bytes());
                pk[8..16].copy_from_slice(&(i as u64).to_le_bytes());
                SimSigner::new(Pubkey(pk), k)
            })
            .collect();
        let stakes: Vec<u64> = config
            .stakes
            .clone()
            .unwrap_or_else(|| vec![100; n])
            .into_iter()
            .chain(std::iter::repeat(100))
            .take(n)
            .collect();
        let genesis = Genesis {
            cluster_name: format!("sim-{}", config.seed),
            creation_time_unix_ms: GENESIS_UNIX_MS,
            slot_duration_ms: config.slot_ms,
            slots_per_epoch: config.slots_per_epoch,
            ..Genesis::with_defaults(
                "sim",
                keys.iter()
                    .zip(&stakes)
                    .map(|(k, s)| GenesisValidator {
                        identity: k.pubkey(),
                        stake: *s,
                    })
                    .collect(),
                vec![],
            )
        };
        let genesis = Genesis {
            creation_time_unix_ms: GENESIS_UNIX_MS,
            ..genesis
        };
        let total_nodes = n + config.twins.len();
        let (lo, hi) = config.latency_ms;
        let link_ms = (0..total_nodes * total_nodes)
            .map(|_| rng.gen_range(lo.min(hi)..=hi.max(lo)))
            .collect();
        let tree = TurbineTree::new(
            &keys
                .iter()
                .zip(&stakes)
                .map(|(k, s)| (k.pubkey(), *s))
                .collect::<Vec<_>>(),
            config.fanout,
        );
        let genesis_block = Arc::new(SimBlock::genesis(genesis.hash()));
        let mut world = World {
            clock: SlotClock::new(&genesis),
            genesis,
            nodes: Vec::new(),
            by_addr: Map::default(),
            by_identity: keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.pubkey(), i))
                .collect(),
            queue: EventQueue::new(GENESIS_UNIX_MS),
            seq: 0,
            now: GENESIS_UNIX_MS,
            rng,
            link_ms,
            registry: Map::default(),
            tree,
            checker: Checker::new(total_nodes, genesis_block.hash),
            accounting: Accounting::new(n, config.slots),
            digest: config.seed,
            genesis_block: genesis_block.clone(),
            produce_time: Map::default(),
            progress: None,
            config,
        };
        world.registry.insert(genesis_block.hash, genesis_block);
        for i in 0..total_nodes {
            let base = if i < n { i } else { world.config.twins[i - n] };
            let behavior = world
                .config
                .behaviors
                .iter()
                .find(|(j, _)| *j == i)
                .map_or(Behavior::Honest, |(_, b)| *b);
            let addr = node_addr(i);
            world.by_addr.insert(addr, i);
            world.by_addr.insert(with_port(addr, 8005), i);
            world.by_addr.insert(with_port(addr, 8007), i);
            let mut persisted = Persisted::default();
            persisted
                .ledger
                .insert(Slot(0), world.genesis_block.clone());
            persisted.root = Some((Slot(0), world.genesis_block.hash));
            world.nodes.push(SimNode {
                identity: keys[base].pubkey(),
                signer: keys[base].clone(),
                addr,
                core: None,
                standin: StandIn::new(persisted),
                behavior,
                group: 0,
                next_timeout: None,
                lead_epoch: 0,
                instance: splitmix(world.config.seed ^ (i as u64 + 1) << 32),
                recorded: Vec::new(),
            });
            if behavior != Behavior::Honest || i >= n || world.config.twins.contains(&i) {
                world.checker.mark_byzantine(i);
            }
        }
        for i in 0..total_nodes {
            // Twins start a little later than the instance they copy.
            let delay = if i >= n { 5 * world.config.slot_ms } else { 0 };
            world.start_node(i, TowerStart::Fresh, GENESIS_UNIX_MS + delay);
        }
        let actions = world.config.actions.clone();
        for (slot, action) in actions {
            let at = world.clock.slot_start_unix_ms(Slot(slot));
            world.schedule(at, Event::Action(action));
        }
        world.schedule(GENESIS_UNIX_MS + 1_000, Event::Progress);
        if world.config.impersonator {
            world.schedule(GENESIS_UNIX_MS + 500, Event::Impersonate);
        }
        for i in 0..total_nodes {
            if world.nodes[i].behavior == Behavior::Replayer {
                world.schedule(GENESIS_UNIX_MS + 20_000, Event::Replay(i));
            }
        }
        world
    }

    /// Prints a progress line per simulated second through `f`.
    pub fn on_progress(&mut self, f: Progress) {
        self.progress = Some(f);
    }

    fn schedule(&mut self, at: Millis, event: Event) {
        self.seq += 1;
        self.queue.push(at, self.seq, event);
    }

    fn end_time(&self) -> Millis {
        self.clock.slot_start_unix_ms(Slot(self.config.slots + 1))
    }

    fn start_node(&mut self, i: usize, tower: TowerStart, at: Millis) {
        let node = &mut self.nodes[i];
        let persisted = std::mem::take(&mut node.standin.persisted);
        let root = persisted.root.unwrap_or((Slot(0), self.genesis_block.hash));
        let contact = ContactInfo {
            pubkey: node.identity,
            wallclock_ms: at,
            shred_version: dataplane::shred::shred_version(&self.genesis.hash()),
            version: SoftwareVersion {
                major: 0,
                minor: 1,
                patch: 0,
            },
            instance: (at << 16) | (node.instance & 0xffff),
            gossip: node.addr,
            tpu: with_port(node.addr, 8003),
            tpu_vote: with_port(node.addr, 8005),
            tvu: with_port(node.addr, 8004),
            repair: with_port(node.addr, 8006),
            serve_repair: with_port(node.addr, 8007),
            rpc: None,
            tpu_quic: None,
            tpu_vote_quic: None,
        };
        let seeds = vec![node_addr(0), node_addr(1 % self.config.validators.max(1))];
        let config = NodeConfig {
            genesis: self.genesis.clone(),
            gossip: GossipConfig::default(),
            contact,
            seeds,
            rng_seed: splitmix(self.config.seed ^ node.instance ^ at),
            voting: true,
        };
        let core = Node::new(
            config,
            Box::new(node.signer.clone()),
            Restored { root, tower },
            at,
        );
        node.core = Some(core);
        node.next_timeout = None;
        node.lead_epoch += 1;
        let mut standin = StandIn::new(persisted);
        // The stored blocks above the root come back in slot order, as start-up replay does.
        let root_block = standin
            .persisted
            .ledger
            .get(&root.0)
            .cloned()
            .unwrap_or_else(|| self.genesis_block.clone());
        let above: Vec<Arc<SimBlock>> = standin
            .persisted
            .ledger
            .range(root.0.next()..)
            .map(|(_, b)| b.clone())
            .collect();
        standin.have.insert(root_block.slot, root_block);
        node.standin = standin;
        self.now = self.now.max(at);
        for b in above {
            if let Arrival::Replayed(done) = self.nodes[i].standin.arrive(b) {
                for d in done {
                    self.feed(i, Input::BankFrozen(d.frozen()));
                }
            }
        }
        self.feed(i, Input::Timeout);
    }

    /// Runs to the end; returns the report.
    pub fn run(mut self) -> SimReport {
        let started = std::time::Instant::now();
        let end = self.end_time();
        while let Some((at, event)) = self.queue.pop() {
            if at > end {
                break;
            }
            self.now = at;
            self.dispatch(event);
        }
        self.now = end;
        let wall_ms = started.elapsed().as_millis() as u64;
        self.report(wall_ms)
    }

    fn alive(&self, i: usize) -> bool {
        self.nodes[i].core.is_some()
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Timeout(i) => {
                if self.nodes[i].next_timeout == Some(self.now) {
                    self.nodes[i].next_timeout = None;
                    self.feed(i, Input::Timeout);
                }
            }
            Event::Gossip {
                to,
                from,
                msg,
                forged,
            } => {
                if !self.alive(to) {
                    return;
                }
                if forged {
                    // The edge's signature check refuses it.
                    if let Some(core) = self.nodes[to].core.as_mut() {
                        core.record_edge_reject(&crate::gossip::GossipReject::BadSignature {
                            origin: Pubkey::default(),
                        });
                    }
                    return;
                }
                if self.nodes[to].behavior == Behavior::Replayer
                    && self.nodes[to].recorded.len() < 256
                {
                    self.nodes[to].recorded.push((from, (*msg).clone()));
                }
                self.feed(
                    to,
                    Input::Gossip {
                        from,
                        msg: Verified::assume_checked(*msg),
                    },
                );
            }
            Event::Vote { to, vote } => {
                if !self.alive(to) {
                    return;
                }
                let v = Arc::unwrap_or_clone(vote);
                self.feed(to, Input::Vote(Verified::assume_checked(v)));
            }
            Event::Block { to, block } => self.block_arrives(to, block),
            Event::Produce { node, slot, epoch } => self.produce(node, slot, epoch),
            Event::Shreds { node, slot, epoch } => {
                if self.alive(node) && self.nodes[node].lead_epoch == epoch {
                    for j in 0..self.config.validators {
                        if j != node && self.nodes[j].group == self.nodes[node].group {
                            let at = self.now + self.latency(node, j);
                            self.schedule(at, Event::SlotStarted { to: j, slot });
                        }
                    }
                }
            }
            Event::SlotStarted { to, slot } => {
                self.feed(to, Input::SlotStarted { slot, parent: None })
            }
            Event::RepairRequest {
                from,
                to,
                nonce,
                kind,
            } => self.serve_repair(from, to, nonce, kind),
            Event::RepairAnswer {
                to,
                from,
                nonce,
                answer,
            } => {
                if self.alive(to) {
                    self.feed(
                        to,
                        Input::RepairAnswer {
                            from,
                            nonce,
                            answer,
                        },
                    );
                }
            }
            Event::Action(a) => self.act(a),
            Event::Progress => {
                self.progress_line();
                self.schedule(self.now + 1_000, Event::Progress);
            }
            Event::Impersonate => {
                self.impersonate();
                self.schedule(self.now + 2_000, Event::Impersonate);
            }
            Event::Replay(i) => {
                self.replay_old(i);
                self.schedule(self.now + 3_000, Event::Replay(i));
            }
        }
    }

    /// Hands `input` to node `i`'s core and carries out what it outputs.
    fn feed(&mut self, i: usize, input: Input) {
        let now = self.now;
        let Some(core) = self.nodes[i].core.as_mut() else {
            return;
        };
        core.handle(now, input);
        let mut outputs = Vec::new();
        while let Some(o) = core.poll_output() {
            outputs.push(o);
        }
        let timeout = core.poll_timeout();
        for o in outputs {
            self.carry_out(i, o);
        }
        if self.nodes[i].core.is_some()
            && self.nodes[i]
                .next_timeout
                .is_none_or(|t| timeout < t || t <= now)
        {
            self.nodes[i].next_timeout = Some(timeout);
            self.schedule(timeout, Event::Timeout(i));
        }
    }

    fn fold(&mut self, parts: &[u64]) {
        for p in parts {
            self.digest = splitmix(self.digest ^ p);
        }
    }

    fn carry_out(&mut self, i: usize, o: Output) {
        match o {
            Output::Lead(cmd) => {
                self.fold(&[1, i as u64, cmd.first.0, cmd.last.0, cmd.parent.0]);
                if self.nodes[i].behavior == Behavior::SilentLeader {
                    return;
                }
                self.nodes[i].lead_epoch += 1;
                let epoch = self.nodes[i].lead_epoch;
                self.nodes[i].standin.leading = Some((cmd, epoch));
                self.nodes[i].standin.last_produced = None;
                let last = cmd.last.0.min(cmd.first.0 + 64);
                for s in cmd.first.0..=last {
                    let first_shreds = self.clock.slot_start_unix_ms(Slot(s)).max(self.now) + 1;
                    self.schedule(
                        first_shreds,
                        Event::Shreds {
                            node: i,
                            slot: Slot(s),
                            epoch,
                        },
                    );
                    let at = self.clock.slot_start_unix_ms(Slot(s + 1)).max(self.now);
                    self.schedule(
                        at,
                        Event::Produce {
                            node: i,
                            slot: Slot(s),
                            epoch,
                        },
                    );
                }
            }
            Output::SetRoot(slot) => {
                let hash = self.nodes[i].standin.block(slot).map(|b| b.hash);
                self.fold(&[2, i as u64, slot.0]);
                if let Some(h) = hash {
                    self.checker.on_root(i, slot, h, &self.registry, self.now);
                }
                self.nodes[i].standin.set_root(slot);
            }
            Output::Vote {
                tower_file,
                tx,
                send_to,
            } => {
                let st = &mut self.nodes[i].standin.persisted;
                if let Some(old) = st.tower_file.replace(tower_file) {
                    st.older_towers.push(old);
                    if st.older_towers.len() > OLDER_TOWERS_MAX {
                        st.older_towers.remove(0);
                    }
                }
                if let Some(v) = ParsedVote::parse(&tx) {
                    self.fold(&[3, i as u64, v.tower.last_voted_slot().map_or(0, |s| s.0)]);
                    self.checker.on_vote(i, &v.tower, &self.registry);
                }
                self.send_vote(i, tx, &send_to);
            }
            Output::ResendVote { tx, send_to } => self.send_vote(i, tx, &send_to),
            Output::BankVote(tx) => {
                if !self.config.land_votes {
                    return;
                }
                if let Some(v) = ParsedVote::parse(&tx) {
                    self.nodes[i].standin.queue_vote(v);
                }
            }
            Output::Gossip { to, msg } => {
                if self.nodes[i].behavior == Behavior::VoteWithholder && carries_vote(&msg) {
                    return;
                }
                if let Some(&j) = self.by_addr.get(&to) {
                    let from = self.nodes[i].addr;
                    self.send(
                        i,
                        j,
                        Traffic::Gossip,
                        wire::encoded_len(&msg) as u64,
                        |_| Event::Gossip {
                            to: j,
                            from,
                            msg: Box::new(msg),
                            forged: false,
                        },
                    );
                }
            }
            Output::CheckDuplicateProof { slot, proof, .. } => {
                // The simulator knows the truth: a proof names two versions it produced.
                if proof.len() == 64 {
                    let a = Hash(proof[..32].try_into().expect("32 bytes"));
                    let b = Hash(proof[32..].try_into().expect("32 bytes"));
                    let valid = a != b
                        && self.registry.get(&a).is_some_and(|x| x.slot == slot)
                        && self.registry.get(&b).is_some_and(|x| x.slot == slot);
                    if valid {
                        self.feed(i, Input::DuplicateSlot { slot, proof });
                    }
                }
            }
            Output::RepairRequest { to, request } => {
                if let Some(&j) = self.by_addr.get(&to) {
                    let (nonce, kind) = (request.nonce, request.kind);
                    self.send(i, j, Traffic::Repair, REPAIR_REQUEST_BYTES, |_| {
                        Event::RepairRequest {
                            from: i,
                            to: j,
                            nonce,
                            kind,
                        }
                    });
                }
            }
            // Repaired blocks reach the stand-in whole, as `Event::Block`.
            Output::Repaired(_) => {}
            Output::ReplaceBlock {
                slot,
                bank_hash,
                block_id,
            } => {
                self.fold(&[4, i as u64, slot.0]);
                // As the data plane does: drop the version, then tell the core to fetch the other.
                self.nodes[i].standin.drop_version(slot, bank_hash);
                self.feed(i, Input::Refetch { slot, block_id });
            }
            Output::Evidence(e) => {
                self.fold(&[5, i as u64, e.slot.0]);
                self.checker.on_evidence(i, e.offender);
            }
            Output::Commitment(c) => {
                self.fold(&[6, i as u64, c.processed.0, c.confirmed.0, c.finalized.0]);
                let confirmed_hash = self.nodes[i].standin.block(c.confirmed).map(|b| b.hash);
                self.checker
                    .on_commitment(i, c, confirmed_hash, &self.registry, self.now);
                if let Some(b) = self.nodes[i].standin.block(c.confirmed) {
                    if let Some(t) = self.produce_time.get(&b.hash) {
                        let slot_start = self.clock.slot_start_unix_ms(b.slot);
                        let _ = t;
                        self.accounting
                            .confirmed(i, b.hash, self.now.saturating_sub(slot_start));
                    }
                }
            }
            Output::Peers(_) | Output::ForwardTo(_) => {}
            Output::DuplicateInstance { .. } => {
                self.fold(&[7, i as u64]);
                self.checker.on_duplicate_instance(i);
            }
        }
    }

    /// Sends over the link `i → j` (if up): counts it, draws loss and latency, schedules it.
    fn send(
        &mut self,
        i: usize,
        j: usize,
        traffic: Traffic,
        bytes: u64,
        event: impl FnOnce(Millis) -> Event,
    ) {
        if i < self.config.validators {
            self.accounting.sent(i, traffic, bytes);
        }
        if i == j {
            let e = event(self.now);
            self.schedule(self.now, e);
            return;
        }
        if self.nodes[i].group != self.nodes[j].group {
            return;
        }
        if self.config.loss_ppm > 0 && self.rng.gen_range(0..1_000_000) < self.config.loss_ppm {
            return;
        }
        let at = self.now + self.latency(i, j);
        let e = event(at);
        self.schedule(at, e);
    }

    fn latency(&mut self, i: usize, j: usize) -> Millis {
        let n = self.nodes.len();
        let base = self.link_ms[i * n + j].max(1);
        let jitter = base * self.config.jitter_pct / 100;
        if jitter == 0 {
            return base;
        }
        base - jitter / 2 + self.rng.gen_range(0..=jitter)
    }

    fn send_vote(&mut self, i: usize, tx: Arc<[u8]>, send_to: &[VoteTarget]) {
        if self.nodes[i].behavior == Behavior::VoteWithholder || self.config.gossip_votes_only {
            return;
        }
        let conflicting = (self.nodes[i].behavior == Behavior::DoubleVoter)
            .then(|| self.conflicting_vote(i, &tx))
            .flatten();
        let parse = |tx: &Arc<[u8]>| ParsedVote::parse(tx).map(|v| (Arc::new(v), tx.len() as u64));
        let Some(vote) = parse(&tx) else {
            return;
        };
        let other = conflicting.as_ref().and_then(parse);
        for (k, to) in send_to.iter().enumerate() {
            let Some(&j) = self.by_addr.get(&to.udp) else {
                continue;
            };
            let (vote, bytes) = match &other {
                Some(c) if k % 2 == 1 => c.clone(),
                _ => vote.clone(),
            };
            self.send(i, j, Traffic::Votes, bytes, |_| Event::Vote { to: j, vote });
        }
        if let Some((c, bytes)) = other {
            // The other version also goes to half the cluster directly.
            let n = self.config.validators;
            for j in (0..n).filter(|j| j % 2 == 1 && *j != i) {
                let vote = c.clone();
                self.send(i, j, Traffic::Votes, bytes, |_| Event::Vote { to: j, vote });
            }
        }
    }

    fn produce(&mut self, i: usize, slot: Slot, epoch: u64) {
        if !self.alive(i) || self.nodes[i].lead_epoch != epoch {
            return;
        }
        let Some((cmd, _)) = self.nodes[i].standin.leading else {
            return;
        };
        let parent = if slot == cmd.first {
            self.nodes[i].standin.block(cmd.parent).cloned()
        } else {
            self.nodes[i].standin.last_produced.clone()
        };
        let Some(parent) = parent else {
            return;
        };
        let leader = self.nodes[i].identity;
        let votes = self.nodes[i].standin.take_votes(&parent);
        let equivocate = self.nodes[i].behavior == Behavior::EquivocatingLeader;
        let a = Arc::new(SimBlock::produce(slot, &parent, leader, votes.clone(), 0));
        self.registry.insert(a.hash, a.clone());
        self.produce_time.insert(a.hash, self.now);
        self.accounting.produced(slot);
        self.fold(&[8, i as u64, slot.0]);
        self.nodes[i].standin.last_produced = Some(a.clone());
        let b = equivocate.then(|| {
            let b = Arc::new(SimBlock::produce(slot, &parent, leader, votes, 1));
            self.registry.insert(b.hash, b.clone());
            self.produce_time.insert(b.hash, self.now);
            b
        });
        self.block_arrives(i, a.clone());
        self.broadcast(i, &a, b.as_ref());
    }

    /// Turbine: each node gets the block once half of the sampled trees' paths to it delivered.
    fn broadcast(&mut self, leader: usize, a: &Arc<SimBlock>, b: Option<&Arc<SimBlock>>) {
        let n = self.config.validators;
        let data_shreds = (a.bytes + 200).div_ceil(SHRED_PAYLOAD_BYTES);
        let shreds = data_shreds.div_ceil(32).max(1) as u64 * 64;
        let leader_key = self.nodes[leader].identity;
        // Delivery times along sampled trees.
        let mut arrivals: Vec<Vec<Millis>> = vec![Vec::new(); n];
        for t in 0..DELIVERY_TREES.max(TRAFFIC_TREES) {
            let order = self.tree.shuffled(&leader_key, ShredId::data(a.slot, t));
            let idx: Vec<usize> = order.iter().filter_map(|k| self.index_of(k)).collect();
            let f = self.config.fanout.max(1);
            if t < TRAFFIC_TREES {
                let per_tree = shreds.div_ceil(u64::from(TRAFFIC_TREES));
                if let Some(&root) = idx.first() {
                    let _ = root;
                    self.accounting.sent_n(
                        leader,
                        Traffic::Shreds,
                        per_tree,
                        per_tree * SHRED_BYTES,
                    );
                }
                for (p, &node) in idx.iter().enumerate() {
                    let children = idx.len().saturating_sub(p * f + 1).min(f) as u64;
                    if children > 0 {
                        self.accounting.sent_n(
                            node,
                            Traffic::Shreds,
                            per_tree * children,
                            per_tree * children * SHRED_BYTES,
                        );
                    }
                }
            }
            if t >= DELIVERY_TREES {
                continue;
            }
            let mut at: Vec<Option<Millis>> = vec![None; idx.len()];
            for p in 0..idx.len() {
                let node = idx[p];
                let (from, t0) = if p == 0 {
                    (leader, Some(self.now))
                } else {
                    let parent = (p - 1) / f;
                    (idx[parent], at[parent])
                };
                let Some(t0) = t0 else {
                    continue;
                };
                let relay_up = from == leader || self.alive(from);
                if !relay_up || self.nodes[from].group != self.nodes[node].group {
                    continue;
                }
                let t1 = t0 + self.latency(from, node);
                at[p] = Some(t1);
                arrivals[node].push(t1);
            }
        }
        for (node, mut times) in arrivals.into_iter().enumerate() {
            if node == leader || times.len() < (DELIVERY_TREES / 2) as usize {
                continue;
            }
            times.sort_unstable();
            let when = times[(DELIVERY_TREES / 2) as usize - 1];
            let block = match b {
                Some(b) if node % 2 == 1 => b.clone(),
                _ => a.clone(),
            };
            self.schedule(when, Event::Block { to: node, block });
        }
    }

    fn index_of(&self, k: &Pubkey) -> Option<usize> {
        self.by_identity.get(k).copied()
    }

    fn block_arrives(&mut self, i: usize, block: Arc<SimBlock>) {
        if !self.alive(i) {
            return;
        }
        let slot = block.slot;
        match self.nodes[i].standin.arrive(block.clone()) {
            Arrival::Replayed(done) => {
                for d in done {
                    self.feed(
                        i,
                        Input::SlotStarted {
                            slot: d.slot,
                            parent: Some(d.parent),
                        },
                    );
                    self.feed(i, Input::BankFrozen(d.frozen()));
                }
            }
            Arrival::Orphan(_) => {
                self.feed(
                    i,
                    Input::SlotStarted {
                        slot,
                        parent: Some(block.parent),
                    },
                );
                // The block is whole (the receive path would report it complete); its parent is
                // what repair must find.
                self.feed(
                    i,
                    Input::SlotProgress(crate::repair::SlotProgress {
                        slot,
                        parent: Some(block.parent),
                        received_data: Vec::new(),
                        last_index: None,
                        missing_roots: Vec::new(),
                        complete: true,
                    }),
                );
                self.feed(i, Input::Orphan { slot: block.parent });
            }
            Arrival::Duplicate(held) => {
                let mut proof = Vec::with_capacity(64);
                proof.extend_from_slice(held.as_bytes());
                proof.extend_from_slice(block.hash.as_bytes());
                self.feed(
                    i,
                    Input::DuplicateSlot {
                        slot,
                        proof: Arc::from(proof),
                    },
                );
            }
            Arrival::Ignored => {}
        }
    }

    fn progress_line(&mut self) {
        if let Some(i) = std::env::var("SIM_TRACE_NODE")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            if let Some(c) = self.nodes.get(i).and_then(|n| n.core.as_ref()) {
                eprintln!(
                    "trace {i} slot {}: {}",
                    self.clock.slot_at(self.now),
                    c.debug_line()
                );
                eprintln!("    {}", c.debug_votes());
            }
        }
        if self.progress.is_none() {
            return;
        }
        let slot = self.clock.slot_at(self.now);
        let honest: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.alive(i) && !self.checker.is_byzantine(i))
            .collect();
        let c: Vec<_> = honest
            .iter()
            .filter_map(|&i| self.nodes[i].core.as_ref().map(|c| c.commitment()))
            .collect();
        let min = |f: fn(&crate::io::Commitment) -> Slot| c.iter().map(f).min().unwrap_or_default();
        let line = format!(
            "t {:>6.1}s | slot {:>5} | processed {:>5} | confirmed {:>5} | finalized {:>5} | \
             produced {:>5} | violations {}",
            (self.now - GENESIS_UNIX_MS) as f64 / 1000.0,
            slot.0,
            min(|c| c.processed).0,
            min(|c| c.confirmed).0,
            min(|c| c.finalized).0,
            self.accounting.blocks_produced(),
            self.checker.violations().len()
        );
        if let Some(f) = self.progress.as_mut() {
            f(&line);
        }
    }

    fn report(self, wall_ms: u64) -> SimReport {
        if std::env::var_os("SIM_DEBUG").is_some() {
            for (i, n) in self.nodes.iter().enumerate() {
                match &n.core {
                    Some(c) => {
                        eprintln!("node {i} group {} {}", n.group, c.debug_line());
                        eprintln!("    {}", c.debug_votes());
                    }
                    None => eprintln!("node {i} down"),
                }
            }
        }
        let honest: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| !self.checker.is_byzantine(i))
            .collect();
        let mut finals = BTreeMap::new();
        for &i in &honest {
            if let Some(c) = self.nodes[i].core.as_ref() {
                finals.insert(i, c.commitment());
            }
        }
        let evidence_nodes = honest
            .iter()
            .filter(|&&i| {
                self.nodes[i]
                    .core
                    .as_ref()
                    .is_some_and(|c| c.evidence().next().is_some())
            })
            .count();
        let duplicate_nodes = honest
            .iter()
            .filter(|&&i| {
                self.nodes[i]
                    .core
                    .as_ref()
                    .is_some_and(|c| c.stats().duplicate_slots > 0)
            })
            .count();
        let mut edge_rejections = std::collections::BTreeMap::new();
        for c in honest.iter().filter_map(|&i| self.nodes[i].core.as_ref()) {
            for (reason, n) in c.gossip().stats().rejections().filter(|(_, n)| *n > 0) {
                *edge_rejections.entry(reason.to_string()).or_insert(0) += n;
            }
        }
        let mut core = crate::node::NodeStats::default();
        for &i in &honest {
            if let Some(c) = self.nodes[i].core.as_ref() {
                core.add(c.stats());
            }
        }
        SimReport::build(
            &self.config,
            &self.checker,
            &self.accounting,
            &finals,
            &self.registry,
            self.digest,
            wall_ms,
            evidence_nodes,
            duplicate_nodes,
            edge_rejections,
            core,
        )
    }
}

fn carries_vote(msg: &GossipMessage) -> bool {
    let values = match msg {
        GossipMessage::Push { values, .. } | GossipMessage::PullResponse { values, .. } => values,
        GossipMessage::PullRequest { .. } | GossipMessage::Prune(_) => return false,
    };
    values
        .iter()
        .any(|v| matches!(v.data, crate::gossip::CrdsData::Vote { .. }))
}

/// Runs one simulation.
pub fn run(config: SimConfig, progress: Option<Progress>) -> SimReport {
    let mut w = World::new(config);
    if let Some(p) = progress {
        w.on_progress(p);
    }
    w.run()
}
