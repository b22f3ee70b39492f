//! When this node leads and on which parent.
//!
//! At the start of a slot this node leads, it builds on the fork-choice head. It starts on time even
//! when its predecessor produced nothing (the predecessor's slots are then skipped, and the tick rule
//! makes the skip visible in the block: it holds the skipped slots' ticks). Only while the
//! predecessor's shreds are actually arriving does it wait, at most [`GRACE_SLOTS_MAX`] slots, for
//! that block; once that block is received in full and only this node's replay of it is behind,
//! it waits for the replay until its turn's last slot (a block on the older parent would fork the
//! predecessor's whole turn away, as a loaded node's replay lags by a few slots). A node that has fallen behind what the cluster shows it, or that has only just
//! started, does not lead: a block on a stale parent would only start a fork.

use dataplane::banking::LeadCommand;
use dataplane::types::{Pubkey, Slot};

/// Milliseconds since the Unix epoch (as `crate::io::Millis`).
type Millis = u64;
use crate::schedule::Schedules;
use crate::slot_clock::SlotClock;

/// Longest wait for a predecessor whose block is still arriving, in slots.
pub const GRACE_SLOTS_MAX: u64 = 2;
/// A node whose head is this many slots behind the newest slot it has seen shreds for is catching
/// up and does not lead (two leader turns: a healthy node is at most one turn behind).
pub const CATCHING_UP_SLOTS: u64 = 8;
/// How long after start a node listens before it may lead (so its receive path has seen the
/// cluster's newest blocks), in slots.
pub const WARM_UP_SLOTS: u64 = 2;
/// Longest window one command covers when this node leads several turns in a row (a lone
/// validator leads every slot).
pub const WINDOW_SLOTS_MAX: u64 = 1_024;

/// Where the node stands, for [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderView {
    /// Now.
    pub now: Millis,
    /// The fork-choice head (the parent to build on).
    pub head: Slot,
    /// The newest slot whose shreds it has seen lately and not yet replayed (a node far behind
    /// that is catching up). Blocks it holds on other forks do not count: fork choice preferring
    /// an older block is no reason to stop leading.
    pub seen: Slot,
    /// The last slot it was already told to lead.
    pub led_through: Option<Slot>,
    /// When it started.
    pub started: Millis,
    /// Whether a slot between the head and the first slot to lead has shreds arriving (its block is
    /// on its way).
    pub predecessor_arriving: bool,
    /// Whether such a slot is received in full and waits for this node's replay.
    pub predecessor_received: bool,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadDecision {
    /// Lead.
    Lead(LeadCommand),
    /// This node leads now but waits for its predecessor's block until the given time.
    WaitUntil(Millis),
    /// Nothing to lead now.
    Idle,
}

/// The leading rule (module docs).
pub fn decide(
    clock: &SlotClock,
    schedules: &mut Schedules,
    me: &Pubkey,
    view: LeaderView,
) -> LeadDecision {
    let slot = clock.slot_at(view.now);
    if schedules.leader(slot).as_ref() != Some(me) {
        return LeadDecision::Idle;
    }
    let warm_at = view
        .started
        .saturating_add(WARM_UP_SLOTS * clock.slot_duration_ms());
    if view.now < warm_at {
        return LeadDecision::Idle;
    }
    // The first slot of this turn not led yet and above the head.
    let turn_end = schedules.turn_end(slot);
    let turn_start = Slot(turn_end.0 + 1 - crate::leader_schedule::DEFAULT_SLOTS_PER_LEADER);
    let mut first = turn_start.max(view.head.next());
    if let Some(led) = view.led_through {
        first = first.max(led.next());
    }
    // Slots of this turn whose time has not come are led when they are due.
    if first > slot {
        return LeadDecision::Idle;
    }
    if view.seen.0 > view.head.0.saturating_add(CATCHING_UP_SLOTS) {
        return LeadDecision::Idle;
    }
    let previous = Slot(first.0.saturating_sub(1));
    let predecessor = schedules.leader(previous);
    let predecessor_other = predecessor.as_ref() != Some(me);
    // The predecessor has been producing its turn (the head is one of its blocks of it): its last
    // block is on its way — small blocks leave the leader only when the slot ends, so its shreds
    // may not have been seen yet.
    let producing = view.head > Slot(0)
        && view.head.0 + crate::leader_schedule::DEFAULT_SLOTS_PER_LEADER > previous.0
        && schedules.leader(view.head) == predecessor;
    // This node's own previous block (a turn just before this one) is still being frozen.
    let own_in_flight = view.led_through == Some(previous);
    // Shreds of the missing block arriving: wait up to two slots for it. Only a producing
    // predecessor (or this node's own block in flight): wait up to half a slot, then go on — a
    // leader that died mid-turn costs the next one no more than that.
    let grace_ms = if predecessor_other && view.predecessor_received {
        // Its block is here, only replay lags: wait for it up to the turn's last slot.
        clock
            .slot_start_unix_ms(turn_end)
            .saturating_sub(clock.slot_start_unix_ms(first))
            .max(GRACE_SLOTS_MAX * clock.slot_duration_ms())
    } else if (predecessor_other && view.predecessor_arriving) || own_in_flight {
        GRACE_SLOTS_MAX * clock.slot_duration_ms()
    } else if predecessor_other && producing {
        clock.slot_duration_ms() / 2
    } else {
        0
    };
    if view.head < previous && grace_ms > 0 {
        let until = clock.slot_start_unix_ms(first).saturating_add(grace_ms);
        if view.now < until {
            return LeadDecision::WaitUntil(until);
        }
    }
    // Consecutive turns of this node go in one command.
    let mut last = turn_end;
    while last.0 - first.0 < WINDOW_SLOTS_MAX && schedules.leader(last.next()).as_ref() == Some(me)
    {
        last = schedules.turn_end(last.next());
    }
    LeadDecision::Lead(LeadCommand {
        first,
        last,
        parent: view.head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::genesis::{Genesis, GenesisValidator};

    fn setup() -> (SlotClock, Schedules, Pubkey, Slot) {
        let g = Genesis {
            creation_time_unix_ms: 1_000_000,
            slot_duration_ms: 400,
            slots_per_epoch: 64,
            ..Genesis::with_defaults(
                "lead",
                (1..=4)
                    .map(|i| GenesisValidator {
                        identity: Pubkey([i; 32]),
                        stake: 1,
                    })
                    .collect(),
                vec![],
            )
        };
        let mut s = Schedules::new(&g);
        let me = Pubkey([2; 32]);
        let first = (8..64)
            .map(Slot)
            .find(|&x| s.leader(x) == Some(me) && s.leader(Slot(x.0 - 1)) != Some(me))
            .unwrap();
        (SlotClock::new(&g), s, me, first)
    }

    fn view(now: Millis, head: u64) -> LeaderView {
        LeaderView {
            now,
            head: Slot(head),
            seen: Slot(head),
            led_through: None,
            started: 0,
            predecessor_arriving: false,
            predecessor_received: false,
        }
    }

    #[test]
    fn a_leader_leads_its_turn_on_the_head_and_skips_a_silent_predecessor_on_time() {
        let (clock, mut s, me, first) = setup();
        let start = clock.slot_start_unix_ms(first);
        assert_eq!(
            decide(&clock, &mut s, &me, view(start - 1, first.0 - 1)),
            LeadDecision::Idle
        );
        let lead = LeadDecision::Lead(LeadCommand {
            first,
            last: Slot(first.0 + 3),
            parent: Slot(first.0 - 1),
        });
        assert_eq!(
            decide(&clock, &mut s, &me, view(start + 1, first.0 - 1)),
            lead
        );
        // The predecessor produced nothing: start on time on the older head.
        assert_eq!(
            decide(&clock, &mut s, &me, view(start + 1, first.0 - 5)),
            LeadDecision::Lead(LeadCommand {
                first,
                last: Slot(first.0 + 3),
                parent: Slot(first.0 - 5),
            })
        );
    }

    #[test]
    fn a_leader_waits_at_most_two_slots_for_a_predecessor_whose_shreds_arrive() {
        let (clock, mut s, me, first) = setup();
        let start = clock.slot_start_unix_ms(first);
        let arriving = LeaderView {
            predecessor_arriving: true,
            ..view(start + 1, first.0 - 2)
        };
        assert_eq!(
            decide(&clock, &mut s, &me, arriving),
            LeadDecision::WaitUntil(start + 800)
        );
        let late = LeaderView {
            now: start + 800,
            ..arriving
        };
        assert!(matches!(
            decide(&clock, &mut s, &me, late),
            LeadDecision::Lead(LeadCommand { first: f, .. }) if f == first
        ));
    }

    #[test]
    fn a_leader_waits_for_its_replay_of_a_predecessor_block_received_in_full_until_its_last_slot() {
        let (clock, mut s, me, first) = setup();
        let start = clock.slot_start_unix_ms(first);
        let received = LeaderView {
            predecessor_arriving: true,
            predecessor_received: true,
            ..view(start + 1, first.0 - 3)
        };
        // The turn is 4 slots: it waits until the last one starts, 3 slots in.
        assert_eq!(
            decide(&clock, &mut s, &me, received),
            LeadDecision::WaitUntil(start + 1_200)
        );
        // Replayed meanwhile: it leads the rest of its turn on the predecessor's block.
        let replayed = LeaderView {
            now: start + 500,
            ..view(start + 500, first.0 - 1)
        };
        assert!(matches!(
            decide(&clock, &mut s, &me, replayed),
            LeadDecision::Lead(LeadCommand { parent, .. }) if parent == Slot(first.0 - 1)
        ));
        // Still not replayed when the last slot starts: it leads on what it has.
        let late = LeaderView {
            now: start + 1_200,
            ..received
        };
        assert!(matches!(
            decide(&clock, &mut s, &me, late),
            LeadDecision::Lead(LeadCommand { parent, .. }) if parent == Slot(first.0 - 3)
        ));
    }

    #[test]
    fn no_lead_while_cold_catching_up_or_already_commanded() {
        let (clock, mut s, me, first) = setup();
        let start = clock.slot_start_unix_ms(first);
        let cold = LeaderView {
            started: start,
            ..view(start + 1, first.0 - 1)
        };
        assert_eq!(decide(&clock, &mut s, &me, cold), LeadDecision::Idle);
        let behind = LeaderView {
            seen: Slot(first.0 + 20),
            ..view(start + 1, first.0 - 1)
        };
        assert_eq!(decide(&clock, &mut s, &me, behind), LeadDecision::Idle);
        let done = LeaderView {
            led_through: Some(Slot(first.0 + 3)),
            ..view(start + 1, first.0 - 1)
        };
        assert_eq!(decide(&clock, &mut s, &me, done), LeadDecision::Idle);
    }
}
