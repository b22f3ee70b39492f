//! Named scenarios: a fault plan applied to a base configuration (size, seed, links).
//!
//! Fault times are given in slots and scale with nothing: a scenario needs enough slots to play out
//! (each names its minimum). [`check`] says whether a run showed what its scenario must show (the
//! tests beside them run it for the CI seeds, `blackbook simulate` for every seed it runs).

use std::collections::HashSet;

use super::world::{Action, Behavior, SimConfig, TowerFate};
use super::SimReport;

/// Every scenario name, for `blackbook simulate --scenario`.
pub const NAMES: &[&str] = &[
    "no-faults",
    "leader-crash",
    "partition-70-30",
    "partition-50-50",
    "partition-60-40",
    "kill-heaviest-partition",
    "switch-with-gossip-votes",
    "restart-rolled-back-tower",
    "restart-lost-tower",
    "equivocating-leader",
    "double-voter",
    "byzantine-mix",
];

/// The first `share` percent of `n` nodes and the rest.
fn split(n: usize, share: usize) -> (Vec<usize>, Vec<usize>) {
    let k = (n * share).div_ceil(100).min(n);
    ((0..k).collect(), (k..n).collect())
}

/// Applies scenario `name` to `base`; an error names the unknown scenario or what it needs.
pub fn apply(name: &str, base: SimConfig) -> Result<SimConfig, String> {
    let n = base.validators;
    let mut c = SimConfig {
        scenario: name.to_owned(),
        ..base
    };
    let need = |slots: u64, validators: usize, c: &SimConfig| {
        if c.slots < slots || c.validators < validators {
            Err(format!(
                "scenario {name} needs at least {slots} slots and {validators} validators"
            ))
        } else {
            Ok(())
        }
    };
    match name {
        "no-faults" => {}
        "leader-crash" => {
            need(150, 4, &c)?;
            c.actions = vec![(60, Action::CrashLeader)];
            // The crashed leader is found at run time; restart every node that is down.
            c.actions
                .extend((0..n).map(|i| (110, Action::Restart(i, TowerFate::Keep))));
        }
        "partition-70-30" | "partition-60-40" => {
            let share = if name == "partition-70-30" { 70 } else { 60 };
            need(if share == 70 { 200 } else { 400 }, 4, &c)?;
            let (a, b) = split(n, share);
            c.actions = vec![
                (SPLIT_AT, Action::Partition(vec![a, b])),
                (HEAL_70_30, Action::Heal),
            ];
        }
        "partition-50-50" => {
            need(420, 2, &c)?;
            let (a, b) = split(n, 50);
            c.actions = vec![
                (SPLIT_AT, Action::Partition(vec![a, b])),
                (HEAL_50_50, Action::Heal),
            ];
        }
        "kill-heaviest-partition" => {
            need(200, 8, &c)?;
            // Four groups; the first is slightly heavier. After the heal it dies, and the other
            // three (more than 2/3 together) must switch onto one fork and root again.
            let groups: Vec<Vec<usize>> = (0..4)
                .map(|g| (0..n).filter(|i| i % 4 == g).collect())
                .collect();
            let mut stakes = vec![100u64; n];
            for &i in &groups[0] {
                stakes[i] = 110;
            }
            c.stakes = Some(stakes);
            c.actions = vec![
                (SPLIT_AT, Action::Partition(groups.clone())),
                (KILL_AT, Action::Heal),
            ];
            c.actions
                .extend(groups[0].iter().map(|&i| (KILL_AT, Action::Crash(i))));
        }
        "switch-with-gossip-votes" => {
            need(200, 6, &c)?;
            // No vote ever lands in a block and votes travel by gossip only, so the minority's
            // switch after the heal can only be proven by gossip votes.
            c.land_votes = false;
            c.gossip_votes_only = true;
            let (a, b) = split(n, 65);
            c.actions = vec![(40, Action::Partition(vec![a, b])), (100, Action::Heal)];
        }
        "restart-rolled-back-tower" | "restart-lost-tower" => {
            need(200, 4, &c)?;
            let fate = if name == "restart-rolled-back-tower" {
                TowerFate::RollBack(12)
            } else {
                TowerFate::Lose
            };
            c.actions = vec![(60, Action::Crash(1)), (70, Action::Restart(1, fate))];
        }
        "equivocating-leader" => {
            need(150, 4, &c)?;
            c.behaviors = vec![(0, Behavior::EquivocatingLeader)];
        }
        "double-voter" => {
            need(150, 4, &c)?;
            c.behaviors = vec![(0, Behavior::DoubleVoter)];
        }
        "byzantine-mix" => {
            need(200, 10, &c)?;
            // Below a third of the stake: one of each, on 10 or more validators (3 of 10).
            c.behaviors = vec![
                (0, Behavior::VoteWithholder),
                (1, Behavior::SilentLeader),
                (2, Behavior::Replayer),
            ];
            c.impersonator = true;
            c.twins = vec![3];
        }
        other => {
            return Err(format!(
                "unknown scenario {other:?}; one of: {}",
                NAMES.join(", ")
            ))
        }
    }
    Ok(c)
}

/// Slot at which the partition scenarios split the cluster.
const SPLIT_AT: u64 = 40;
/// Slot at which `partition-70-30` and `partition-60-40` heal.
const HEAL_70_30: u64 = 140;
/// Slots the 70 % side's root must advance in each half of its split.
const ROOT_ADVANCE_PER_HALF: u64 = 16;
/// Slot at which `kill-heaviest-partition` heals and kills the heaviest group.
const KILL_AT: u64 = 80;
/// Slots within which the survivors must root again after the kill.
const KILL_ROOT_AFTER_SLOTS: u64 = 96;
/// Slot at which `partition-50-50` heals (held for 300 slots).
const HEAL_50_50: u64 = 340;
/// Slots within which `partition-50-50` must root again after its heal.
const ROOT_AFTER_HEAL_SLOTS: u64 = 64;

/// Whether `r` shows what its scenario must show beyond safety (which the checker holds every run
/// to): liveness, skips, evidence. An error says what it did not show.
pub fn check(r: &SimReport) -> Result<(), String> {
    let slots = r.slots;
    let root_min_at_least = |margin: u64| {
        let want = slots.saturating_sub(margin);
        if r.root_min >= want {
            Ok(())
        } else {
            Err(format!(
                "the lowest honest root is {}, want at least {want} (slots - {margin})",
                r.root_min
            ))
        }
    };
    let expect = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    match r.scenario.as_str() {
        "no-faults" => {
            expect(
                r.skipped_slots == 0,
                format!("{} slots skipped", r.skipped_slots),
            )?;
            root_min_at_least(40)?;
            // Every honest node ends on one root chain (the checker holds them to it); at most the
            // newest root is still on its way to some.
            let roots: HashSet<_> = r.commitments.values().map(|c| c.root).collect();
            expect(roots.len() <= 2, format!("final roots differ: {roots:?}"))
        }
        "leader-crash" => {
            expect(
                (1..=12).contains(&r.skipped_slots),
                format!("{} slots skipped, want 1..=12", r.skipped_slots),
            )?;
            root_min_at_least(40)?;
            expect(
                r.finalized_lag_slots.max <= 48,
                format!("finalized lag reached {} slots", r.finalized_lag_slots.max),
            )
        }
        "partition-70-30" => {
            // The 70 % side keeps rooting during the split: its root moves on in each half of it.
            // (A third of its slots belong to the cut-off leaders, so its root trails by more
            // than 32 slots: 40 seeds rooted 27..42 by slot 90 and 67..90 by slot 139.)
            let half = SPLIT_AT + HEAL_70_30.saturating_sub(SPLIT_AT) / 2;
            let marks = [SPLIT_AT, half, HEAL_70_30 - 1].map(|s| r.root_at(s));
            expect(
                marks
                    .windows(2)
                    .all(|w| w[1] >= w[0] + ROOT_ADVANCE_PER_HALF),
                format!(
                    "roots {marks:?} at slots {SPLIT_AT}, {half}, {}: the majority stopped \
                     rooting during the split (want {ROOT_ADVANCE_PER_HALF}+ slots a half)",
                    HEAL_70_30 - 1
                ),
            )?;
            root_min_at_least(40)
        }
        "partition-50-50" => {
            let during = r.root_at(HEAL_50_50);
            expect(
                during <= SPLIT_AT,
                format!("rooted {during} during the split"),
            )?;
            let first = r.first_root_above(r.root_at(SPLIT_AT + 1).max(SPLIT_AT));
            let want = HEAL_50_50 + ROOT_AFTER_HEAL_SLOTS;
            expect(
                first.is_some_and(|s| s <= want),
                format!("first root after the heal (slot {HEAL_50_50}) in slot {first:?}, want ≤ {want}"),
            )
        }
        "partition-60-40" => {
            // The reference document says the 60 % side finalizes; with a 2/3 supermajority it
            // cannot. Nothing new roots during the split (40..140).
            let during = r.root_at(HEAL_70_30 - 1);
            expect(
                during <= SPLIT_AT,
                format!("rooted {during} during the split"),
            )?;
            root_min_at_least(48)
        }
        "kill-heaviest-partition" => {
            // The three survivors' groups (73 % of the stake, barely above 2/3, so every survivor
            // must switch onto one fork before anything roots) root again, and go on rooting.
            // 40 seeds: the first new root 3..71 slots after the heal, the final root 168..229.
            let first = r.first_root_above(r.root_at(KILL_AT));
            let want = KILL_AT + KILL_ROOT_AFTER_SLOTS;
            expect(
                first.is_some_and(|s| s <= want),
                format!("first root after the kill (slot {KILL_AT}) in slot {first:?}, want ≤ {want}: nobody switched"),
            )?;
            let want = slots.saturating_sub(100);
            expect(
                r.root_max >= want,
                format!(
                    "root {}, want ≥ {want} (slots - 100): rooting stopped",
                    r.root_max
                ),
            )
        }
        "switch-with-gossip-votes" => {
            // The 65 % side alone cannot root; it needs the minority to switch, proven by gossip.
            let want = slots.saturating_sub(60);
            expect(
                r.root_max >= want,
                format!("root {}, want ≥ {want}: nobody switched", r.root_max),
            )
        }
        "restart-rolled-back-tower" | "restart-lost-tower" => root_min_at_least(48),
        "equivocating-leader" => {
            expect(
                r.nodes_with_duplicate_proofs >= r.validators / 2,
                format!(
                    "{} honest nodes hold a duplicate proof",
                    r.nodes_with_duplicate_proofs
                ),
            )?;
            root_min_at_least(48)
        }
        "double-voter" => {
            expect(
                r.nodes_with_evidence >= r.validators / 2,
                format!("{} honest nodes hold evidence", r.nodes_with_evidence),
            )?;
            root_min_at_least(48)
        }
        "byzantine-mix" => {
            root_min_at_least(60)?;
            // Refusals the honest nodes counted at their gossip edge, by reason: a fault-free run
            // counts only duplicates and the odd stale record.
            let refused = |reason: &str| r.gossip_rejected.get(reason).copied().unwrap_or(0);
            for (reason, by) in [
                ("bad_signature", "the impersonator's records"),
                ("unknown_origin", "records from a key outside the set"),
                ("wallclock", "the replayer's old records"),
            ] {
                expect(
                    refused(reason) > 0,
                    format!("nothing refused as {reason}: {by} got through or were never sent"),
                )?;
            }
            expect(
                !r.duplicate_instances.is_empty(),
                "the older twin never learnt of the other instance".into(),
            )
        }
        other => Err(format!("unknown scenario {other:?}")),
    }
}

#[cfg(test)]
mod tests;
