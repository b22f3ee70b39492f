//! Named scenarios: a fault plan applied to a base configuration (size, seed, links).
//!
//! Fault times are given in slots and scale with nothing: a scenario needs enough slots to play out
//! (each names its minimum). The tests beside them assert what each must show.

use super::world::{Action, Behavior, SimConfig, TowerFate};

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
            c.actions = vec![(40, Action::Partition(vec![a, b])), (140, Action::Heal)];
        }
        "partition-50-50" => {
            need(420, 2, &c)?;
            let (a, b) = split(n, 50);
            c.actions = vec![(40, Action::Partition(vec![a, b])), (340, Action::Heal)];
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
            c.actions = vec![(40, Action::Partition(groups.clone())), (80, Action::Heal)];
            c.actions
                .extend(groups[0].iter().map(|&i| (80, Action::Crash(i))));
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

#[cfg(test)]
mod tests;
