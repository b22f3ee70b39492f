//! The leader schedule: who produces each slot.
//!
//! Deterministic from the validator set alone, so every node that knows the same stakes computes the
//! same schedule. Leaders hold `slots_per_leader` consecutive slots; with equal stakes the turns go
//! round-robin in identity order, and with unequal stakes a stake-weighted shuffle (seeded by the epoch)
//! orders the turns.
//!
//! [`Schedules`] caches the schedules of a few epochs (bounded). Each owner keeps its own — the
//! control-plane core, the shred receive path, RPC — since a schedule is a pure function of the
//! genesis and the epoch: nothing is shared between the planes but the genesis itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::genesis::{Genesis, GenesisValidator};
use crate::types::{Hash, Pubkey, Slot};

/// Consecutive slots each leader holds, as in Solana (`NUM_CONSECUTIVE_LEADER_SLOTS`).
pub const DEFAULT_SLOTS_PER_LEADER: u64 = 4;

/// Why a schedule cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// No validator has stake.
    #[error("no validator has stake: a schedule needs at least one staked validator")]
    NoStake,
    /// A turn length of zero.
    #[error("slots_per_leader must be at least 1")]
    ZeroSlotsPerLeader,
}

/// The leaders of one epoch's turns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderSchedule {
    turns: Vec<Pubkey>,
    slots_per_leader: u64,
}

impl LeaderSchedule {
    /// Builds the schedule for `epoch` from the staked validators.
    pub fn new(
        validators: &[GenesisValidator],
        slots_per_leader: u64,
        epoch: u64,
    ) -> Result<LeaderSchedule, ScheduleError> {
        if slots_per_leader == 0 {
            return Err(ScheduleError::ZeroSlotsPerLeader);
        }
        let mut staked: Vec<(Pubkey, u64)> = validators
            .iter()
            .filter(|v| v.stake > 0)
            .map(|v| (v.identity, v.stake))
            .collect();
        if staked.is_empty() {
            return Err(ScheduleError::NoStake);
        }
        staked.sort_by_key(|a| a.0);
        staked.dedup_by(|a, b| a.0 == b.0);
        let equal = staked.iter().all(|(_, s)| *s == staked[0].1);
        let turns = if equal {
            staked.iter().map(|(k, _)| *k).collect()
        } else {
            weighted_turns(&staked, epoch)
        };
        Ok(LeaderSchedule {
            turns,
            slots_per_leader,
        })
    }

    /// The leader of `slot`.
    pub fn leader(&self, slot: Slot) -> Pubkey {
        let turn = slot.0 / self.slots_per_leader;
        self.turns[(turn % self.turns.len() as u64) as usize]
    }

    /// Number of turns before the schedule repeats.
    pub fn turns(&self) -> usize {
        self.turns.len()
    }
}

/// One turn per validator per 1/len of the total stake, ordered by a seeded stake-weighted draw.
fn weighted_turns(staked: &[(Pubkey, u64)], epoch: u64) -> Vec<Pubkey> {
    let total: u128 = staked.iter().map(|(_, s)| u128::from(*s)).sum();
    let n = staked.len() * 4;
    let mut seed = Hash::hashv(&[b"leader-schedule", &epoch.to_le_bytes()]);
    (0..n)
        .map(|_| {
            seed = Hash::of(seed.as_bytes());
            let r = u128::from(u64::from_le_bytes(
                seed.0[..8].try_into().expect("8 bytes of a hash"),
            )) % total;
            let mut acc = 0u128;
            for (k, s) in staked {
                acc += u128::from(*s);
                if r < acc {
                    return *k;
                }
            }
            staked[staked.len() - 1].0
        })
        .collect()
}

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

    fn v(b: u8, stake: u64) -> GenesisValidator {
        GenesisValidator {
            identity: Pubkey([b; 32]),
            stake,
        }
    }

    #[test]
    fn equal_stakes_rotate_round_robin_in_turns() {
        let s = LeaderSchedule::new(&[v(3, 10), v(1, 10), v(2, 10)], 4, 0).unwrap();
        let leaders: Vec<u8> = (0..24).map(|i| s.leader(Slot(i)).0[0]).collect();
        assert_eq!(
            leaders,
            [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
        );
    }

    #[test]
    fn single_validator_leads_every_slot() {
        let s = LeaderSchedule::new(&[v(9, 1)], 4, 0).unwrap();
        assert!((0..100).all(|i| s.leader(Slot(i)) == Pubkey([9; 32])));
    }

    #[test]
    fn unequal_stakes_are_deterministic_and_weighted() {
        let vals = [v(1, 900), v(2, 100)];
        let a = LeaderSchedule::new(&vals, 1, 7).unwrap();
        let b = LeaderSchedule::new(&vals, 1, 7).unwrap();
        assert_eq!(a, b);
        let heavy = (0..a.turns() as u64)
            .filter(|i| a.leader(Slot(*i)) == Pubkey([1; 32]))
            .count();
        assert!(heavy > a.turns() / 2, "{heavy} of {}", a.turns());
    }

    #[test]
    fn unstaked_sets_are_refused() {
        assert_eq!(
            LeaderSchedule::new(&[v(1, 0)], 4, 0),
            Err(ScheduleError::NoStake)
        );
        assert_eq!(
            LeaderSchedule::new(&[v(1, 1)], 0, 0),
            Err(ScheduleError::ZeroSlotsPerLeader)
        );
    }

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
