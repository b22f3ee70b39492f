//! Maps wall-clock time to slots: slot `s` is due `s × slot_duration` after genesis creation.

use dataplane::genesis::Genesis;
use dataplane::types::Slot;

/// The cluster's slot timetable, from the genesis creation time and slot length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotClock {
    genesis_unix_ms: u64,
    slot_duration_ms: u64,
}

impl SlotClock {
    /// The timetable a genesis defines.
    pub fn new(genesis: &Genesis) -> SlotClock {
        SlotClock {
            genesis_unix_ms: genesis.creation_time_unix_ms,
            slot_duration_ms: genesis.slot_duration_ms.max(1),
        }
    }

    /// The slot due at `now_unix_ms` (slot 0 before genesis time).
    pub fn slot_at(&self, now_unix_ms: u64) -> Slot {
        Slot(now_unix_ms.saturating_sub(self.genesis_unix_ms) / self.slot_duration_ms)
    }

    /// When `slot` is due to start, in ms since the Unix epoch.
    pub fn slot_start_unix_ms(&self, slot: Slot) -> u64 {
        self.genesis_unix_ms
            .saturating_add(slot.0.saturating_mul(self.slot_duration_ms))
    }

    /// The slot length.
    pub fn slot_duration_ms(&self) -> u64 {
        self.slot_duration_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_wall_clock() {
        let c = SlotClock {
            genesis_unix_ms: 1_000,
            slot_duration_ms: 400,
        };
        assert_eq!(c.slot_at(0), Slot(0));
        assert_eq!(c.slot_at(1_399), Slot(0));
        assert_eq!(c.slot_at(1_400), Slot(1));
        assert_eq!(c.slot_start_unix_ms(Slot(3)), 2_200);
        for s in 0..100 {
            assert_eq!(c.slot_at(c.slot_start_unix_ms(Slot(s))), Slot(s));
        }
    }
}
