//! The deterministic cluster simulator: every validator's production control-plane core
//! ([`crate::node::Node`]) under one virtual clock, every choice drawn from one seed.
//!
//! - **Determinism.** Events sit in one queue ordered by (virtual time, sequence number); one
//!   ChaCha RNG seeded by the run's `u64` seed makes every random choice (link latencies, jitter,
//!   loss, who relays, whom to repair from); each core gets its own seed derived from it. The run's
//!   digest folds every output every core produced, in order: two runs of one seed must match.
//! - **The world around the core** ([`world`]): a data-plane stand-in per node (a commanded leader
//!   produces a block on the parent it was told at its slot's end; blocks reach the others after a
//!   Turbine-like delay along the real [`dataplane::turbine::TurbineTree`]; orphans are repaired
//!   from peers), links with latency, jitter and loss, partitions that start and heal, crashes and
//!   restarts where a node keeps only what it persisted (its tower file and its ledger).
//! - **Byzantine validators** ([`Behavior`]), **invariant checkers** after every step
//!   ([`check`]), **named scenarios** ([`scenarios`]) and a JSON **report** ([`report`]).
//!
//! Signatures use a keyed stand-in ([`SimSigner`]): messages travel as values between cores, and
//! the simulator's edge — which knows who sent what — rejects what a real verifier would.

pub mod check;
pub mod report;
pub mod scenarios;
pub mod standin;
pub mod world;

use dataplane::types::Pubkey;

use crate::signer::Signer;

pub use report::SimReport;
pub use world::{run, Action, Behavior, SimConfig, TowerFate};

/// A deterministic stand-in for an ed25519 key: "signs" with a keyed 64-bit mix of the message,
/// cheap enough for 100 simulated validators and distinct per key and message.
#[derive(Debug, Clone)]
pub struct SimSigner {
    pubkey: Pubkey,
    key: u64,
}

impl SimSigner {
    /// The stand-in key of validator `index` in a run seeded by `seed`.
    pub fn new(pubkey: Pubkey, key: u64) -> SimSigner {
        SimSigner { pubkey, key }
    }
}

impl Signer for SimSigner {
    fn pubkey(&self) -> Pubkey {
        self.pubkey
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut h = self.key ^ 0x9e37_79b9_7f4a_7c15;
        for chunk in message.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            h = splitmix(h ^ u64::from_le_bytes(w));
        }
        let mut out = [0u8; 64];
        for (i, part) in out.chunks_mut(8).enumerate() {
            h = splitmix(h.wrapping_add(i as u64));
            part.copy_from_slice(&h.to_le_bytes());
        }
        out
    }
}

/// SplitMix64's finaliser: a fast, well-mixed 64-bit permutation.
pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
