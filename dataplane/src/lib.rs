//! BlackBook's data plane: the hot path, with no async runtime.
//!
//! Wire types and codecs, Proof of History, signature verification, Sealevel execution over
//! fork-aware banks, packet I/O and the redb ledger. The control plane steers it through typed
//! messages (see [`plane`]).

pub mod block;
pub mod dedup;
pub mod entry;
pub mod genesis;
pub mod metrics;
pub mod packet;
pub mod poh;
pub mod poh_service;
pub mod sigverify;
pub mod store;
pub mod txn;
pub mod types;
