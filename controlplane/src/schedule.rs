//! Leader schedules by epoch, computed from the genesis stakes once each and cached (bounded).
//!
//! Each owner keeps its own [`Schedules`] — the control-plane core, the shred receive path, RPC —
//! since a schedule is a pure function of the genesis and the epoch: nothing is shared between the
//! planes but the genesis itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use dataplane::genesis::{Genesis, GenesisValidator};
use dataplane::types::{Pubkey, Slot};

use crate::leader_schedule::{LeaderSchedule, DEFAULT_SLOTS_PER_LEADER};

/// Epoch schedules kept at most (the current epoch, its neighbours, and one RPC may ask about).
pub const EPOCHS_CACHED_MAX: usize = 4;

/// The leader of any slot, from the genesis validator set.
#[derive(Debug, Clone)]
pub struct Schedules {
    validators: Vec<GenesisValidator>,
    slots_per_epoch: u64,
    cache: BTreeMap<u64, Arc<LeaderSchedule>>,
}

impl Schedules {
    /// Schedules for the cluster `genesis` describes.
    pub fn new(genesis: &Genesis) -> Schedules {
        Schedules {
            validators: genesis.validators.clone(),
            slots_per_epoch: genesis.slots_per_epoch.max(1),
            cache: BTreeMap::new(),
        }
    }

    /// Slots per epoch.
    pub fn slots_per_epoch(&self) -> u64 {
        self.slots_per_epoch
    }

    /// The epoch `slot` falls in.
    pub fn epoch_of(&self, slot: Slot) -> u64 {
        slot.0 / self.slots_per_epoch
    }

    /// The first slot of `epoch`.
    pub fn first_slot_of(&self, epoch: u64) -> Slot {
        Slot(epoch.saturating_mul(self.slots_per_epoch))
    }

    /// The schedule of `epoch` (`None` only for a genesis without stake, which validation refuses).
    pub fn epoch(&mut self, epoch: u64) -> Option<Arc<LeaderSchedule>> {
        if let Some(s) = self.cache.get(&epoch) {
            return Some(s.clone());
        }
        let s =
            Arc::new(LeaderSchedule::new(&self.validators, DEFAULT_SLOTS_PER_LEADER, epoch).ok()?);
        if self.cache.len() >= EPOCHS_CACHED_MAX {
            // Evict the epoch furthest from the one asked for.
            let far = self
                .cache
                .keys()
                .copied()
                .max_by_key(|e| e.abs_diff(epoch))
                .expect("cache is not empty");
            self.cache.remove(&far);
        }
        self.cache.insert(epoch, s.clone());
        Some(s)
    }

    /// The leader of `slot`.
    pub fn leader(&mut self, slot: Slot) -> Option<Pubkey> {
        let epoch = self.epoch_of(slot);
        self.epoch(epoch).map(|s| s.leader(slot))
    }

    /// The last slot of the leader turn that holds `slot`.
    pub fn turn_end(&self, slot: Slot) -> Slot {
        let n = DEFAULT_SLOTS_PER_LEADER;
        Slot(slot.0 - slot.0 % n + n - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_bounded_and_answers_match_fresh_schedules() {
        let g = Genesis {
            slots_per_epoch: 64,
            ..Genesis::with_defaults(
                "sched",
                (1..=3)
                    .map(|i| GenesisValidator {
                        identity: Pubkey([i; 32]),
                        stake: u64::from(i),
                    })
                    .collect(),
                vec![],
            )
        };
        let mut s = Schedules::new(&g);
        for slot in (0..64 * 10).step_by(7) {
            let fresh = LeaderSchedule::new(&g.validators, 4, slot / 64).unwrap();
            assert_eq!(s.leader(Slot(slot)), Some(fresh.leader(Slot(slot))));
            assert!(s.cache.len() <= EPOCHS_CACHED_MAX);
        }
        assert_eq!(s.turn_end(Slot(9)), Slot(11));
        assert_eq!(s.epoch_of(Slot(130)), 2);
        assert_eq!(s.first_slot_of(2), Slot(128));
    }
}
