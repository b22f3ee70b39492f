//! Gossip: the cluster's signed records (contact infos, votes, duplicate-slot proofs, slashing
//! evidence), spread by push and pull from seed addresses, as a sans-IO state machine.
//!
//! - [`crds`]: the records, their labels, signatures (bound to the genesis hash) and hashes;
//! - [`bloom`]: the pull request's filter, whose hashing both ends must share;
//! - [`wire`]: one message per datagram of at most [`DATAGRAM_LEN_MAX`] bytes, decoded and
//!   verified once at the edge;

pub mod bloom;
pub mod crds;
pub mod stats;
pub mod wire;

pub use bloom::Bloom;
pub use crds::{
    ContactInfo, CrdsData, CrdsKind, CrdsLabel, LabelKey, SignedValue, SoftwareVersion,
};
pub use stats::{GossipReject, GossipStats, RejectReason};
pub use wire::{decode_and_verify, encode, encoded_len, GossipMessage, DATAGRAM_LEN_MAX};
