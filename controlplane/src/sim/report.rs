//! What a run measured: roots, skips, confirmation latency, finalized lag, safety violations and
//! traffic per validator per slot, as a JSON summary.

use std::collections::BTreeMap;
use std::sync::Arc;

use dataplane::types::{Hash, Slot};

use crate::map::{Map, Set};
use serde::Serialize;

use super::check::Checker;
use super::standin::SimBlock;
use super::world::SimConfig;
use crate::io::{Commitment, Millis};

/// Kinds of traffic counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// Gossip datagrams.
    Gossip,
    /// Votes sent to leaders' vote ports.
    Votes,
    /// Shreds sent along Turbine trees (leader and relays).
    Shreds,
    /// Repair requests and answers.
    Repair,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Counts {
    messages: u64,
    bytes: u64,
}

/// Traffic and latency counters of a run.
#[derive(Debug)]
pub struct Accounting {
    validators: usize,
    slots: u64,
    per_node: Vec<[Counts; 4]>,
    confirm_ms: Vec<u64>,
    confirmed_seen: Set<(usize, Hash)>,
    produced: u64,
    produced_slots: Set<Slot>,
}

impl Accounting {
    /// Counters for `validators` nodes over `slots` slots.
    pub fn new(validators: usize, slots: u64) -> Accounting {
        Accounting {
            validators,
            slots,
            per_node: vec![[Counts::default(); 4]; validators],
            confirm_ms: Vec::new(),
            confirmed_seen: Set::default(),
            produced: 0,
            produced_slots: Set::default(),
        }
    }

    fn index(t: Traffic) -> usize {
        match t {
            Traffic::Gossip => 0,
            Traffic::Votes => 1,
            Traffic::Shreds => 2,
            Traffic::Repair => 3,
        }
    }

    /// Node `i` sent one message of `bytes`.
    pub fn sent(&mut self, i: usize, t: Traffic, bytes: u64) {
        self.sent_n(i, t, 1, bytes);
    }

    /// Node `i` sent `n` messages totalling `bytes`.
    pub fn sent_n(&mut self, i: usize, t: Traffic, n: u64, bytes: u64) {
        if let Some(c) = self.per_node.get_mut(i) {
            let c = &mut c[Self::index(t)];
            c.messages += n;
            c.bytes += bytes;
        }
    }

    /// A block for `slot` was produced.
    pub fn produced(&mut self, slot: Slot) {
        self.produced += 1;
        self.produced_slots.insert(slot);
    }

    /// Blocks produced so far.
    pub fn blocks_produced(&self) -> u64 {
        self.produced
    }

    /// Node `i` saw block `hash` optimistically confirmed `ms` after its slot started.
    pub fn confirmed(&mut self, i: usize, hash: Hash, ms: Millis) {
        if self.confirmed_seen.insert((i, hash)) {
            self.confirm_ms.push(ms);
        }
    }
}

/// Messages and bytes per validator per slot, for one kind of traffic.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PerSlot {
    /// Mean messages sent per validator per slot.
    pub messages: f64,
    /// Mean bytes sent per validator per slot.
    pub bytes: f64,
    /// The busiest validator's bytes per slot.
    pub bytes_max: f64,
}

/// p50 and p99 (or max).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct Quantiles {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

fn quantiles(mut v: Vec<u64>) -> Quantiles {
    if v.is_empty() {
        return Quantiles::default();
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Quantiles {
        p50: at(0.5),
        p99: at(0.99),
        max: *v.last().unwrap_or(&0),
    }
}

/// The JSON summary of a run.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    /// The scenario.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Validators.
    pub validators: usize,
    /// Slots simulated.
    pub slots: u64,
    /// Turbine fanout.
    pub fanout: usize,
    /// Blocks produced.
    pub blocks_produced: u64,
    /// Blocks on the rooted chain (the slots that rooted).
    pub roots: u64,
    /// Highest root every honest node reached (the lowest honest node's root).
    pub root_min: u64,
    /// Highest root any honest node reached.
    pub root_max: u64,
    /// Slots up to the highest root with no block on the rooted chain.
    pub skipped_slots: u64,
    /// Optimistic confirmation latency from slot start, per node and block, virtual ms.
    pub confirmation_latency_ms: Quantiles,
    /// Slots between the slot clock and an honest node's finalized slot, sampled each slot.
    pub finalized_lag_slots: Quantiles,
    /// Invariant violations (must be 0).
    pub safety_violations: u64,
    /// The first violations, in words.
    pub violations: Vec<String>,
    /// Traffic per validator per slot.
    pub gossip: PerSlot,
    /// Votes to leaders.
    pub votes: PerSlot,
    /// Shreds along the Turbine tree.
    pub shreds: PerSlot,
    /// Repair.
    pub repair: PerSlot,
    /// Honest nodes holding slashing evidence.
    pub nodes_with_evidence: usize,
    /// Honest nodes that saw a duplicate-slot proof.
    pub nodes_with_duplicate_proofs: usize,
    /// Gossip records honest nodes refused, by reason (`duplicate` and `stale` are ordinary:
    /// a record that came by two paths; `bad_signature` and `unknown_origin` are forgeries).
    pub gossip_rejected: BTreeMap<String, u64>,
    /// The honest cores' counters, summed.
    pub core: crate::node::NodeStats,
    /// Digest of everything the cores did, in order: equal for equal seeds.
    pub digest: String,
    /// Wall time of the run.
    pub wall_ms: u64,
    /// The command that reproduces this run.
    pub reproduce: String,
    /// Slot length, virtual ms.
    #[serde(skip)]
    pub slot_ms: u64,
    /// Partitions and crashes, in words.
    pub notes: Vec<String>,
    /// When the highest honest root moved: (virtual ms since genesis, slot).
    #[serde(skip)]
    pub root_times: Vec<(Millis, Slot)>,
    /// Each honest node's final commitment.
    #[serde(skip)]
    pub commitments: BTreeMap<usize, Commitment>,
    /// Nodes that recorded evidence.
    #[serde(skip)]
    pub evidence_nodes: Vec<usize>,
    /// Nodes told another instance runs their identity.
    #[serde(skip)]
    pub duplicate_instances: Vec<usize>,
}

impl SimReport {
    /// Builds the report at the end of a run.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        config: &SimConfig,
        checker: &Checker,
        acc: &Accounting,
        finals: &BTreeMap<usize, Commitment>,
        _registry: &Map<Hash, Arc<SimBlock>>,
        digest: u64,
        wall_ms: u64,
        evidence_nodes: usize,
        duplicate_nodes: usize,
        gossip_rejected: BTreeMap<String, u64>,
        core: crate::node::NodeStats,
    ) -> SimReport {
        let chain = checker.chain();
        let root_max = chain.keys().next_back().copied().unwrap_or_default();
        let root_min = finals.values().map(|c| c.root).min().unwrap_or_default();
        let roots = chain.len().saturating_sub(1) as u64;
        let skipped = root_max.0.saturating_sub(roots);
        let slots = acc.slots.max(1) as f64;
        let n = acc.validators.max(1) as f64;
        let per = |k: usize| {
            let total: Counts = acc.per_node.iter().fold(Counts::default(), |a, c| Counts {
                messages: a.messages + c[k].messages,
                bytes: a.bytes + c[k].bytes,
            });
            let max = acc.per_node.iter().map(|c| c[k].bytes).max().unwrap_or(0);
            PerSlot {
                messages: round2(total.messages as f64 / n / slots),
                bytes: round2(total.bytes as f64 / n / slots),
                bytes_max: round2(max as f64 / slots),
            }
        };
        let mut lags = Vec::new();
        // Finalized lag: for every slot boundary the highest honest root was behind the clock.
        let times = checker.root_times();
        let slot_ms = config.slot_ms.max(1);
        let mut k = 0;
        let mut finalized = 0u64;
        for s in 0..=config.slots {
            let t = super::world::GENESIS_UNIX_MS + s * slot_ms;
            while k < times.len() && times[k].0 <= t {
                finalized = finalized.max(times[k].1 .0);
                k += 1;
            }
            if s >= 32 {
                lags.push(s.saturating_sub(finalized));
            }
        }
        let mut evidence: Vec<usize> = checker.evidence_by().keys().copied().collect();
        evidence.sort_unstable();
        let mut dup: Vec<usize> = checker.duplicate_instances().iter().copied().collect();
        dup.sort_unstable();
        SimReport {
            scenario: config.scenario.clone(),
            seed: config.seed,
            validators: config.validators,
            slots: config.slots,
            fanout: config.fanout,
            blocks_produced: acc.produced,
            roots,
            root_min: root_min.0,
            root_max: root_max.0,
            skipped_slots: skipped,
            confirmation_latency_ms: quantiles(acc.confirm_ms.clone()),
            finalized_lag_slots: quantiles(lags),
            safety_violations: checker.violation_count(),
            violations: checker.violations().to_vec(),
            gossip: per(0),
            votes: per(1),
            shreds: per(2),
            repair: per(3),
            nodes_with_evidence: evidence_nodes,
            nodes_with_duplicate_proofs: duplicate_nodes,
            gossip_rejected,
            core,
            digest: format!("{digest:016x}"),
            wall_ms,
            reproduce: reproduce_command(config),
            slot_ms,
            notes: checker.notes().to_vec(),
            root_times: times.to_vec(),
            commitments: finals.clone(),
            evidence_nodes: evidence,
            duplicate_instances: dup,
        }
    }

    /// The highest honest root reached by the start of `slot`.
    pub fn root_at(&self, slot: u64) -> u64 {
        let t = super::world::GENESIS_UNIX_MS + slot * self.slot_ms;
        self.root_times
            .iter()
            .take_while(|(at, _)| *at <= t)
            .map(|(_, s)| s.0)
            .max()
            .unwrap_or(0)
    }

    /// The slot during which the highest honest root first passed `slot`, if it did.
    pub fn first_root_above(&self, slot: u64) -> Option<u64> {
        self.root_times
            .iter()
            .find(|(_, s)| s.0 > slot)
            .map(|(t, _)| (t - super::world::GENESIS_UNIX_MS) / self.slot_ms.max(1))
    }

    /// The report without wall time, for comparing two runs of one seed.
    pub fn deterministic_part(&self) -> String {
        let mut r = self.clone();
        r.wall_ms = 0;
        serde_json::to_string(&r).unwrap_or_default()
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `blackbook simulate …` for this configuration.
pub fn reproduce_command(c: &SimConfig) -> String {
    format!(
        "blackbook simulate --scenario {} --validators {} --slots {} --seed {} --latency-ms {}..{} \
         --loss-pct {} --fanout {}",
        c.scenario,
        c.validators,
        c.slots,
        c.seed,
        c.latency_ms.0,
        c.latency_ms.1,
        f64::from(c.loss_ppm) / 10_000.0,
        c.fanout
    )
}
