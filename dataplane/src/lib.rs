//! BlackBook's data plane: the hot path, with no async runtime.
//!
//! Wire types and codecs, Proof of History, signature verification, Sealevel execution over
//! fork-aware banks, packet I/O and the redb ledger. The control plane steers it through typed
//! messages (see [`plane`]).

pub mod account_locks;
pub mod accounts;
pub mod bank;
pub mod bank_forks;
pub mod banking;
pub mod block;
pub mod blockhash_queue;
pub mod broadcast;
pub mod byte_reader;
pub mod compute_budget;
pub mod cores;
pub mod dedup;
pub mod entry;
pub mod forward;
pub mod genesis;
pub mod leader_schedule;
pub mod ledger_stage;
pub mod metrics;
pub mod packet;
pub mod pipeline;
pub mod plane;
pub mod poh;
pub mod poh_service;
pub mod prioritization_fees;
pub mod rate_limit;
pub mod repair;
pub mod replay;
pub mod replay_stage;
pub mod sealevel;
pub mod shred;
pub mod sigverify;
pub mod status_cache;
pub mod store;
pub mod testkit;
pub mod turbine;
pub mod tvu;
pub mod txn;
pub mod types;
pub mod udp;
pub mod vote;
pub mod vote_queue;
pub mod vote_state;
