//! Gossip: the cluster's signed records (contact infos, votes, duplicate-slot proofs, slashing
//! evidence), spread by push and pull from seed addresses, as a sans-IO state machine.
//!
//! - [`crds`]: the records, their labels, signatures (bound to the genesis hash) and hashes;
//! - `table`: what a node holds — bounded, checked on insertion, expiring;
//! - `push` / `pull`: who gets what, and how much (pull answers are bounded and rate-limited
//!   so they cannot amplify a spoofed request by more than [`PULL_RESPONSE_AMPLIFICATION_MAX`]);
//! - [`prune`]: receivers tell pushers which origins' values reach them by better paths, so each
//!   value arrives about twice rather than push-fanout times;
//! - [`bloom`]: the pull request's filter, whose hashing both ends must share;
//! - [`wire`]: one message per datagram of at most [`DATAGRAM_LEN_MAX`] bytes, decoded and
//!   verified once at the edge;
//! - [`Gossip`]: the state machine (`handle_message`, `push_own`, `handle_timeout`,
//!   `poll_transmit`, `poll_timeout`). It touches no socket, clock or global randomness, and signs
//!   only its own values, so a simulator can run a hundred of them in one process.

pub mod bloom;
pub mod config;
pub mod crds;
pub mod prune;
pub mod stats;
pub mod wire;

mod protocol;
mod pull;
mod push;
mod table;

pub use bloom::Bloom;
pub use config::{
    GossipCluster, GossipConfig, GossipConfigError, PULL_RESPONSE_AMPLIFICATION_MAX,
    WALLCLOCK_WINDOW_MS,
};
pub use crds::{
    ContactInfo, CrdsData, CrdsKind, CrdsLabel, LabelKey, SignedValue, SoftwareVersion,
};
pub use protocol::Gossip;
pub use prune::{PruneMessage, PRUNE_ORIGINS_MAX};
pub use stats::{GossipReject, GossipStats, RejectReason};
pub use table::Inserted;
pub use wire::{
    decode_and_verify, decode_and_verify_unheld, encode, encoded_len, GossipMessage,
    DATAGRAM_LEN_MAX,
};

#[cfg(test)]
mod tests;
