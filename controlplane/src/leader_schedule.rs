//! The leader schedule lives in the data plane (its shred receive path needs it too); re-exported.
pub use dataplane::leader_schedule::*;
