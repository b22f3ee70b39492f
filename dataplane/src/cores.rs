//! Which data-plane threads get a core of their own.
//!
//! On a bare-metal validator the latency-critical loops each own a core: PoH (the clock must never
//! wait for a run queue), the shred receive/retransmit path (a late retransmit delays every node
//! below this one in the Turbine tree) and broadcast. Everything else — sigverify, banking, replay,
//! repair, the control plane — shares the remaining cores. A core is dedicated only while at least
//! [`SHARED_CORES_MIN`] stay shared; on a small machine (this project's CI has 2 cores) nothing is
//! pinned, since a pinned thread on an oversubscribed core waits behind the others instead of
//! moving to an idle one.

use tracing::{info, warn};

/// Cores left to the shared stages before any core is dedicated to one loop.
pub const SHARED_CORES_MIN: usize = 3;

/// The cores dedicated to the node's latency-critical threads (highest-numbered cores first) and
/// how many are left for everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorePlan {
    /// The PoH thread's core.
    pub poh: Option<usize>,
    /// The shred receive/retransmit (TVU) thread's core; clusters only.
    pub tvu: Option<usize>,
    /// The broadcast thread's core; clusters only.
    pub broadcast: Option<usize>,
    /// Cores the other stages share (at least 1).
    pub shared: usize,
}

impl CorePlan {
    /// The plan for a machine with `cores` cores; `pin: false` (config `performance.pin_cores`)
    /// dedicates none. A lone validator has no replication threads to pin.
    pub fn new(cores: usize, pin: bool, clustered: bool) -> CorePlan {
        let cores = cores.max(1);
        let mut plan = CorePlan {
            poh: None,
            tvu: None,
            broadcast: None,
            shared: cores,
        };
        if !pin {
            return plan;
        }
        let wanted: &[fn(&mut CorePlan) -> &mut Option<usize>] = if clustered {
            &[|p| &mut p.poh, |p| &mut p.tvu, |p| &mut p.broadcast]
        } else {
            &[|p| &mut p.poh]
        };
        for slot in wanted {
            if plan.shared <= SHARED_CORES_MIN {
                break;
            }
            plan.shared -= 1;
            *slot(&mut plan) = Some(plan.shared);
        }
        plan
    }

    /// The plan for this machine's available parallelism.
    pub fn for_this_machine(pin: bool, clustered: bool) -> CorePlan {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        CorePlan::new(cores, pin, clustered)
    }
}

/// Pins the calling thread to `core` when one is given (logging the outcome under `role`); a core
/// this process may not use leaves the thread unpinned, with a warning.
pub fn pin_current_thread(core: Option<usize>, role: &str) {
    let Some(core) = core else {
        return;
    };
    let allowed = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.id == core);
    match allowed {
        Some(id) if core_affinity::set_for_current(id) => info!(core, role, "thread pinned"),
        _ => warn!(core, role, "thread could not be pinned; running unpinned"),
    }
}

/// Niceness of the threads a block's production waits on (PoH, banking): ahead of verification
/// and replay when cores are short, so that a leader's slot is not stretched by work that can wait.
pub const LEADER_PATH_NICE: i32 = -5;

/// Niceness of the threads that verify arriving transactions: behind replay and votes when cores
/// are short. Under overload, verifying more new transactions is the work that can wait; replaying
/// and voting on blocks already made is what confirms them.
pub const EDGE_NICE: i32 = 5;

/// Sets the calling thread's niceness to `nice` (Linux, per thread); without the privilege the
/// thread keeps its own, with a debug log.
pub fn set_current_thread_nice(nice: i32, role: &str) {
    // SAFETY: gettid has no preconditions; setpriority only reads its integer arguments.
    let rc = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
    };
    if rc == 0 {
        info!(nice, role, "thread priority set");
    } else {
        tracing::debug!(
            nice,
            role,
            "thread priority unchanged: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_s_niceness_is_its_own() {
        // Raising niceness needs no privilege; the spawning thread keeps its own.
        // SAFETY (every block here): getpriority and gettid take and return plain integers.
        let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let inside = std::thread::spawn(|| {
            set_current_thread_nice(7, "test");
            // SAFETY: plain integer arguments.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
        })
        .join()
        .unwrap();
        assert_eq!(inside, 7);
        assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, before);
    }

    fn plan(
        poh: Option<usize>,
        tvu: Option<usize>,
        broadcast: Option<usize>,
        shared: usize,
    ) -> CorePlan {
        CorePlan {
            poh,
            tvu,
            broadcast,
            shared,
        }
    }

    #[test]
    fn small_machines_pin_nothing_and_big_ones_give_each_loop_its_own_core() {
        for cores in 0..=3 {
            let shared = cores.max(1);
            assert_eq!(
                CorePlan::new(cores, true, true),
                plan(None, None, None, shared)
            );
        }
        assert_eq!(CorePlan::new(4, true, true), plan(Some(3), None, None, 3));
        assert_eq!(
            CorePlan::new(5, true, true),
            plan(Some(4), Some(3), None, 3)
        );
        assert_eq!(
            CorePlan::new(16, true, true),
            plan(Some(15), Some(14), Some(13), 13)
        );
        // A lone validator has no replication threads.
        assert_eq!(
            CorePlan::new(16, true, false),
            plan(Some(15), None, None, 15)
        );
        // Pinning switched off.
        assert_eq!(CorePlan::new(16, false, true), plan(None, None, None, 16));
    }

    #[test]
    fn a_pinned_thread_runs_only_on_its_core() {
        let first = core_affinity::get_core_ids().unwrap_or_default()[0].id;
        let ids = std::thread::spawn(move || {
            pin_current_thread(Some(first), "test");
            core_affinity::get_core_ids().unwrap_or_default()
        })
        .join()
        .unwrap();
        assert_eq!(ids.iter().map(|c| c.id).collect::<Vec<_>>(), vec![first]);
        // A core the machine does not have leaves the thread as it was.
        let ids = std::thread::spawn(|| {
            let before = core_affinity::get_core_ids().unwrap_or_default().len();
            pin_current_thread(Some(100_000), "test");
            (
                before,
                core_affinity::get_core_ids().unwrap_or_default().len(),
            )
        })
        .join()
        .unwrap();
        assert_eq!(ids.0, ids.1);
    }
}
