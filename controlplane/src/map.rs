//! Hash maps for the control plane: fast (ahash) and seeded with constants, so that nothing a
//! simulated run does depends on per-process random hash keys. Decisions never depend on a map's
//! iteration order anyway (callers sort), but a fixed hasher keeps even timing-free details, such
//! as which of two equal candidates a scan meets first, identical between runs of one seed.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

/// A `BuildHasher` for ahash with fixed keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedState;

impl BuildHasher for FixedState {
    type Hasher = ahash::AHasher;

    fn build_hasher(&self) -> ahash::AHasher {
        ahash::RandomState::with_seeds(
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
        )
        .build_hasher()
    }
}

/// A hash map with the fixed fast hasher.
pub type Map<K, V> = HashMap<K, V, FixedState>;
/// A hash set with the fixed fast hasher.
pub type Set<K> = HashSet<K, FixedState>;
