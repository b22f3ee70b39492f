//! Invariant checkers, run on every output that could break one:
//!
//! 1. No two honest nodes root (finalize) conflicting blocks: every honest root lies on one chain.
//! 2. An honest node's root never rolls back.
//! 3. No honest vote breaks its own lockouts: a slot the previous vote still locked at the new
//!    vote's slot must be an ancestor of it (checked against the real block tree, across restarts).
//! 4. A confirmed block is an ancestor of every later root.
//! 5. Finalized never decreases on an honest node.

use std::collections::BTreeMap;
use std::sync::Arc;

use dataplane::types::{Hash, Pubkey, Slot};

use crate::map::{Map, Set};
use dataplane::vote::TowerSync;

use super::standin::SimBlock;
use crate::io::{Commitment, Millis};

/// Violations kept in full at most (the count goes on).
pub const VIOLATIONS_KEPT_MAX: usize = 32;

/// The checker's state.
#[derive(Debug)]
pub struct Checker {
    byzantine: Set<usize>,
    /// The chain every honest root must lie on: slot → bank hash, up to the newest root.
    chain: BTreeMap<Slot, Hash>,
    roots: Vec<Slot>,
    finalized: Vec<Slot>,
    last_vote: Map<usize, TowerSync>,
    confirmed: BTreeMap<Slot, Hash>,
    violations: Vec<String>,
    violation_count: u64,
    evidence_by: Map<usize, Set<Pubkey>>,
    duplicate_instance: Set<usize>,
    notes: Vec<String>,
    root_times: Vec<(Millis, Slot)>,
}

fn is_ancestor(registry: &Map<Hash, Arc<SimBlock>>, a: &Hash, of: &Hash) -> bool {
    let Some(target) = registry.get(a) else {
        return false;
    };
    let mut cur = registry.get(of);
    while let Some(b) = cur {
        if b.hash == *a {
            return true;
        }
        if b.slot <= target.slot || b.slot == Slot(0) {
            return false;
        }
        cur = registry.get(&b.parent_hash);
    }
    false
}

impl Checker {
    /// A checker for `nodes` nodes of a cluster whose genesis block has bank hash `genesis`.
    pub fn new(nodes: usize, genesis: Hash) -> Checker {
        Checker {
            byzantine: Set::default(),
            chain: BTreeMap::from([(Slot(0), genesis)]),
            roots: vec![Slot(0); nodes],
            finalized: vec![Slot(0); nodes],
            last_vote: Map::default(),
            confirmed: BTreeMap::new(),
            violations: Vec::new(),
            violation_count: 0,
            evidence_by: Map::default(),
            duplicate_instance: Set::default(),
            notes: Vec::new(),
            root_times: Vec::new(),
        }
    }

    /// Excludes node `i` from the honest set.
    pub fn mark_byzantine(&mut self, i: usize) {
        self.byzantine.insert(i);
    }

    /// Whether node `i` is byzantine (or a twin).
    pub fn is_byzantine(&self, i: usize) -> bool {
        self.byzantine.contains(&i)
    }

    fn violate(&mut self, what: String) {
        self.violation_count += 1;
        if self.violations.len() < VIOLATIONS_KEPT_MAX {
            self.violations.push(what);
        }
    }

    /// Violations found (the first [`VIOLATIONS_KEPT_MAX`]).
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// How many violations in all.
    pub fn violation_count(&self) -> u64 {
        self.violation_count
    }

    /// Notes on what happened (partitions, crashes), for the report.
    pub fn note(&mut self, s: String) {
        self.notes.push(s);
    }

    /// The notes.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The canonical rooted chain (slot → hash) as far as honest roots reached.
    pub fn chain(&self) -> &BTreeMap<Slot, Hash> {
        &self.chain
    }

    /// The newest root of each node.
    pub fn roots(&self) -> &[Slot] {
        &self.roots
    }

    /// When each new highest honest root appeared.
    pub fn root_times(&self) -> &[(Millis, Slot)] {
        &self.root_times
    }

    /// Nodes that recorded evidence against each offender.
    pub fn evidence_by(&self) -> &Map<usize, Set<Pubkey>> {
        &self.evidence_by
    }

    /// Nodes told another instance runs their identity.
    pub fn duplicate_instances(&self) -> &Set<usize> {
        &self.duplicate_instance
    }

    /// Node `i` rooted (`slot`, `hash`).
    pub fn on_root(
        &mut self,
        i: usize,
        slot: Slot,
        hash: Hash,
        registry: &Map<Hash, Arc<SimBlock>>,
        now: Millis,
    ) {
        if self.is_byzantine(i) {
            return;
        }
        if slot < self.roots[i] {
            self.violate(format!(
                "node {i}: root rolled back from {} to {slot}",
                self.roots[i]
            ));
        }
        self.roots[i] = self.roots[i].max(slot);
        let (&tip_slot, &tip_hash) = self.chain.iter().next_back().expect("genesis");
        if slot <= tip_slot {
            match self.chain.get(&slot) {
                Some(h) if *h == hash => {}
                _ => self.violate(format!(
                    "node {i}: root {slot} ({hash}) conflicts with the chain other honest nodes rooted"
                )),
            }
            return;
        }
        if tip_slot > Slot(0) && !is_ancestor(registry, &tip_hash, &hash) {
            self.violate(format!(
                "node {i}: root {slot} does not descend from the honest root {tip_slot}"
            ));
            return;
        }
        // Extend the chain with the new root's ancestry down to the old tip.
        let mut cur = registry.get(&hash);
        let mut added = Vec::new();
        while let Some(b) = cur {
            if b.slot <= tip_slot {
                break;
            }
            added.push((b.slot, b.hash));
            cur = registry.get(&b.parent_hash);
        }
        for (s, h) in added {
            self.chain.insert(s, h);
        }
        self.root_times.push((now, slot));
        // Every confirmed block at or below the new root must be on the chain.
        let bad: Vec<(Slot, Hash)> = self
            .confirmed
            .range(..=slot)
            .filter(|(s, h)| **s > tip_slot && self.chain.get(s) != Some(h))
            .map(|(s, h)| (*s, *h))
            .collect();
        for (s, h) in bad {
            self.violate(format!(
                "confirmed block {s} ({h}) is not an ancestor of root {slot}"
            ));
        }
    }

    /// Node `i` voted with `tower`.
    pub fn on_vote(&mut self, i: usize, tower: &TowerSync, registry: &Map<Hash, Arc<SimBlock>>) {
        if self.is_byzantine(i) {
            return;
        }
        let Some(new_last) = tower.last_voted_slot() else {
            return;
        };
        if let Some(prev) = self.last_vote.get(&i).cloned() {
            if prev.last_voted_slot() >= Some(new_last) {
                self.violate(format!("node {i}: vote for {new_last} is not newer"));
            }
            let new_hash = tower.hash;
            for l in &prev.lockouts {
                if !l.is_locked_out_at_slot(new_last) || l.slot == new_last {
                    continue;
                }
                // Find the hash the previous vote meant for l: the block at l on prev's chain.
                let prev_hash = chain_hash_at(registry, &prev.hash, l.slot);
                // A lockout binds a slot, as Solana's tower has it: where the leader of `l.slot`
                // equivocated, moving to the version the cluster confirmed keeps the lockout.
                let ok = match prev_hash {
                    Some(h) => {
                        is_ancestor(registry, &h, &new_hash)
                            || chain_hash_at(registry, &new_hash, l.slot).is_some()
                    }
                    None => true,
                };
                if !ok {
                    self.violate(format!(
                        "node {i}: vote for {new_last} abandons slot {} locked until {}",
                        l.slot,
                        l.last_locked_out_slot()
                    ));
                }
            }
        }
        self.last_vote.insert(i, tower.clone());
    }

    /// Node `i`'s commitment moved.
    pub fn on_commitment(
        &mut self,
        i: usize,
        c: Commitment,
        confirmed_hash: Option<Hash>,
        _registry: &Map<Hash, Arc<SimBlock>>,
        _now: Millis,
    ) {
        if self.is_byzantine(i) {
            return;
        }
        if c.finalized < self.finalized[i] {
            self.violate(format!(
                "node {i}: finalized went back from {} to {}",
                self.finalized[i], c.finalized
            ));
        }
        self.finalized[i] = self.finalized[i].max(c.finalized);
        if let Some(h) = confirmed_hash {
            if c.confirmed > Slot(0) {
                if let Some(on_chain) = self.chain.get(&c.confirmed) {
                    if *on_chain != h {
                        self.violate(format!(
                            "node {i}: confirmed {} ({h}) conflicts with the rooted chain",
                            c.confirmed
                        ));
                    }
                } else if let Some((&tip, _)) = self.chain.iter().next_back() {
                    if c.confirmed < tip {
                        self.violate(format!(
                            "node {i}: confirmed {} is a skipped slot below root {tip}",
                            c.confirmed
                        ));
                    }
                }
                self.confirmed.insert(c.confirmed, h);
            }
        }
    }

    /// Node `i` recorded evidence against `offender`.
    pub fn on_evidence(&mut self, i: usize, offender: Pubkey) {
        self.evidence_by.entry(i).or_default().insert(offender);
    }

    /// Node `i` learnt another instance runs its identity.
    pub fn on_duplicate_instance(&mut self, i: usize) {
        self.duplicate_instance.insert(i);
    }

    /// Node `i` crashed: its finalized view restarts from its persisted root.
    pub fn on_crash(&mut self, i: usize) {
        if let Some(f) = self.finalized.get_mut(i) {
            *f = Slot(0);
        }
    }
}

/// The bank hash of the block at `slot` on the chain ending at `tip`.
fn chain_hash_at(registry: &Map<Hash, Arc<SimBlock>>, tip: &Hash, slot: Slot) -> Option<Hash> {
    let mut cur = registry.get(tip);
    while let Some(b) = cur {
        if b.slot == slot {
            return Some(b.hash);
        }
        if b.slot < slot || b.slot == Slot(0) {
            return None;
        }
        cur = registry.get(&b.parent_hash);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::vote::Lockout;

    fn tower(slots: &[u64], tip: &SimBlock) -> TowerSync {
        let n = slots.len() as u32;
        TowerSync {
            lockouts: (0u32..)
                .zip(slots)
                .map(|(i, &s)| Lockout {
                    slot: Slot(s),
                    confirmation_count: n - i,
                })
                .collect(),
            root: None,
            hash: tip.hash,
            timestamp: None,
            block_id: tip.block_id,
        }
    }

    #[test]
    fn leaving_a_locked_slot_is_a_violation_but_moving_to_its_other_version_is_not() {
        let genesis = SimBlock::genesis(Hash::of(b"genesis"));
        let leader = Pubkey([7; 32]);
        let b1 = SimBlock::produce(Slot(1), &genesis, leader, vec![], 0);
        let b2 = SimBlock::produce(Slot(2), &b1, leader, vec![], 0);
        let b2_other = SimBlock::produce(Slot(2), &b1, leader, vec![], 1);
        let b3_on_other = SimBlock::produce(Slot(3), &b2_other, leader, vec![], 0);
        let b3_on_1 = SimBlock::produce(Slot(3), &b1, leader, vec![], 0);
        let registry: Map<Hash, Arc<SimBlock>> =
            [&genesis, &b1, &b2, &b2_other, &b3_on_other, &b3_on_1]
                .into_iter()
                .map(|b| (b.hash, Arc::new(b.clone())))
                .collect();

        let mut checker = Checker::new(2, genesis.hash);
        checker.on_vote(0, &tower(&[1, 2], &b2), &registry);
        checker.on_vote(0, &tower(&[1, 2, 3], &b3_on_other), &registry);
        assert_eq!(checker.violation_count(), 0, "{:?}", checker.violations());

        checker.on_vote(1, &tower(&[1, 2], &b2), &registry);
        checker.on_vote(1, &tower(&[1, 3], &b3_on_1), &registry);
        assert_eq!(checker.violation_count(), 1, "{:?}", checker.violations());
    }
}
