//! Leader schedules by epoch (bounded cache), from the data plane; re-exported.
pub use dataplane::leader_schedule::Schedules;
