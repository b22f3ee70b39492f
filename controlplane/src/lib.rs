//! BlackBook's control plane: sans-IO protocol state machines steering the data plane.
//!
//! Nothing here touches sockets, threads or clocks: callers pass the time in and carry the
//! outputs out, so the node's tokio driver and the deterministic simulator run the same code.

pub mod ancestry;
pub mod duplicates;
pub mod evidence;
pub mod finality;
pub mod fork_choice;
pub mod gossip;
pub mod io;
pub mod leader;
pub mod leader_schedule;
pub mod map;
pub mod node;
pub mod repair;
pub mod schedule;
pub mod signer;
pub mod sim;
pub mod slot_clock;
pub mod tower;
pub mod votes;
