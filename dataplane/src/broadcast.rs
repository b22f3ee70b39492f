//! The leader's broadcast: each shred goes to the root of its own Turbine tree, which passes it on.
//!
//! The ledger stage shreds the slot as PoH produces entries (see [`crate::shred::Shredder`]) and
//! hands each emitted FEC set here; this thread looks up each shred's tree root and sends the batch,
//! grouped by destination so that GSO carries several shreds per system call where they share one.
//! The thread owns its [`TurbineTree`] (from the genesis stakes) and its own copy of the peers' TVU
//! addresses, replaced by the newest [`PeerAddrs`] the control plane sends: no lock is shared.
//!
//! **Fault injection (tests only).** `BLACKBOOK_FAULT_DROP_SHREDS=<percent>` drops that share of
//! outgoing shreds at random and `BLACKBOOK_FAULT_DROP_FEC_SETS=<percent>` drops whole FEC sets, so
//! that integration tests can prove erasure recovery and repair. Only debug builds and builds with
//! the `fault-injection` feature honour them (release builds log that they ignore them); a node that
//! honours them logs a warning.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rand::Rng;

use crate::plane::PeerAddrs;
use crate::shred::{ShredView, SHRED_SIZE};
use crate::turbine::{ShredId, TurbineScratch, TurbineTree};
use crate::types::Pubkey;
use crate::udp::{UdpBackend, UdpOptions, UdpSender};

/// Env switch: percent of outgoing shreds to drop (tests only).
pub const FAULT_DROP_SHREDS_ENV: &str = "BLACKBOOK_FAULT_DROP_SHREDS";
/// Env switch: percent of outgoing FEC sets to drop whole (tests only).
pub const FAULT_DROP_FEC_SETS_ENV: &str = "BLACKBOOK_FAULT_DROP_FEC_SETS";

/// Test-only losses in the send path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BroadcastFaults {
    /// Percent of shreds dropped at random.
    pub drop_shreds_percent: u8,
    /// Percent of FEC sets dropped whole.
    pub drop_fec_sets_percent: u8,
}

impl BroadcastFaults {
    /// Reads the fault switches from the environment (absent or invalid: no faults). Only test
    /// builds honour them: debug builds, or any build with the `fault-injection` feature. A release
    /// build logs that it ignores them, so a stray variable can never make a production leader drop
    /// shreds.
    pub fn from_env() -> BroadcastFaults {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u8>().ok())
                .map(|p| p.min(100))
                .unwrap_or(0)
        };
        let faults = BroadcastFaults {
            drop_shreds_percent: read(FAULT_DROP_SHREDS_ENV),
            drop_fec_sets_percent: read(FAULT_DROP_FEC_SETS_ENV),
        };
        if faults == BroadcastFaults::default() {
            return faults;
        }
        if !FAULT_INJECTION_BUILT_IN {
            tracing::warn!(
                ?faults,
                "fault switches ignored: this build has no fault injection (a test-only feature)"
            );
            return BroadcastFaults::default();
        }
        tracing::warn!(
            ?faults,
            "TEST FAULT INJECTION: this leader drops outgoing shreds on purpose"
        );
        faults
    }
}

/// Whether this build honours the fault switches (debug builds and the `fault-injection` feature).
pub const FAULT_INJECTION_BUILT_IN: bool = cfg!(any(debug_assertions, feature = "fault-injection"));

/// Broadcast counters.
#[derive(Debug, Default)]
pub struct BroadcastStats {
    /// Shreds handed to the socket.
    pub shreds_sent: AtomicU64,
    /// Shreds dropped by fault injection.
    pub shreds_dropped: AtomicU64,
    /// FEC sets dropped whole by fault injection.
    pub fec_sets_dropped: AtomicU64,
    /// Shreds with no tree root to send to (a cluster of one), or whose root's address is not
    /// known yet.
    pub no_root: AtomicU64,
}

/// How the broadcast thread runs.
#[derive(Debug, Clone, Copy)]
pub struct BroadcastConfig {
    /// UDP backend for sending.
    pub backend: UdpBackend,
    /// Test-only drops (none in production).
    pub faults: BroadcastFaults,
    /// Core to pin the thread to (see [`crate::cores::CorePlan`]).
    pub pin_core: Option<usize>,
}

/// What the broadcast thread talks to.
pub struct BroadcastIo {
    /// Socket shreds leave from.
    pub socket: UdpSocket,
    /// FEC sets from the ledger stage.
    pub sets: Receiver<Vec<[u8; SHRED_SIZE]>>,
    /// The peers' TVU addresses from the control plane (newest wins; none known until the first).
    pub peers: Receiver<Arc<PeerAddrs>>,
    /// Set to stop.
    pub exit: Arc<AtomicBool>,
}

/// The running broadcast thread.
pub struct BroadcastStage {
    thread: JoinHandle<()>,
    stats: Arc<BroadcastStats>,
}

impl BroadcastStage {
    /// Starts the thread (`bb-broadcast`), sending the FEC sets that arrive on `io.sets` to each
    /// shred's root in `tree`.
    pub fn spawn(
        identity: Pubkey,
        tree: TurbineTree,
        config: BroadcastConfig,
        io: BroadcastIo,
    ) -> std::io::Result<BroadcastStage> {
        let BroadcastIo {
            socket,
            sets,
            peers,
            exit,
        } = io;
        let stats = Arc::new(BroadcastStats::default());
        let mut sender = UdpSender::new(socket, config.backend, UdpOptions::default())?;
        let st = stats.clone();
        let faults = config.faults;
        let thread = std::thread::Builder::new()
            .name("bb-broadcast".into())
            .spawn(move || {
                crate::cores::pin_current_thread(config.pin_core, "broadcast");
                let mut scratch = TurbineScratch::default();
                let mut rng = rand::thread_rng();
                let mut addrs = Arc::new(PeerAddrs::default());
                while !exit.load(Ordering::Relaxed) {
                    let set = match sets.recv_timeout(Duration::from_millis(100)) {
                        Ok(s) => s,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    if let Some(newest) = peers.try_iter().last() {
                        addrs = newest;
                    }
                    if faults.drop_fec_sets_percent > 0
                        && rng.gen_range(0..100) < faults.drop_fec_sets_percent
                    {
                        st.fec_sets_dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let mut out: Vec<(&[u8], SocketAddr)> = Vec::with_capacity(set.len());
                    for shred in &set {
                        if faults.drop_shreds_percent > 0
                            && rng.gen_range(0..100) < faults.drop_shreds_percent
                        {
                            st.shreds_dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let Ok(view) = ShredView::parse(shred) else {
                            continue;
                        };
                        let id = ShredId::of(&view);
                        let addr = tree
                            .root_with(&identity, id, &mut scratch)
                            .and_then(|root| addrs.tvu.get(&root).copied());
                        match addr {
                            Some(addr) => out.push((shred.as_slice(), addr)),
                            None => {
                                st.no_root.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    match sender.send_grouped(&out) {
                        Ok(n) => {
                            st.shreds_sent.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(e) => tracing::debug!("broadcast send failed: {e}"),
                    }
                }
            })?;
        Ok(BroadcastStage { thread, stats })
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<BroadcastStats> {
        &self.stats
    }

    /// Waits for the thread to end (set `exit` first).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}
