//! Gulf Stream forwarding: a node that is not about to lead sends the verified transactions it holds
//! to the leader of the moment, instead of keeping them for its own next turn.
//!
//! The forwarder holds the current target, which the control plane sets (through the banking
//! stage's `forward_to` channel, newest wins) whenever it changes: `None` (hold) while this node
//! leads the current or the next slot, and otherwise the current leader's transaction socket. The
//! banking stage forwards whatever it holds outside a leader window to that target.
//! A leader whose window ends therefore hands what it could not include to the next leader, and a
//! transaction sent to the wrong node reaches the right one within a hop. Every node follows the
//! same schedule and clock, so a forwarded transaction moves forward in time and never cycles; one
//! that can never be included is dropped by the leader that executes it (counted there).
//!
//! Where the leader announces a QUIC TPU and the node has a QUIC sender ([`QuicForward`]), held
//! transactions go over QUIC under this node's identity, as Agave forwards: the leader counts the
//! connection as staked, so a flood of unstaked traffic cannot crowd them out. Plain UDP remains
//! for leaders without one, and for any batch the QUIC sender cannot take at that moment.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::txn::Txn;
use crate::udp::{UdpBackend, UdpOptions, UdpSender};

/// Most transactions handed to the socket per call.
const SEND_BATCH_MAX: usize = 256;

/// Where held transactions go: a leader's UDP transaction socket, and its QUIC one if announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardTarget {
    /// UDP transaction ingest.
    pub tpu: SocketAddr,
    /// QUIC transaction ingest (Solana's `tpuQuic`), if the leader announces one.
    pub tpu_quic: Option<SocketAddr>,
}

impl ForwardTarget {
    /// A leader reached over UDP only.
    pub fn udp(tpu: SocketAddr) -> ForwardTarget {
        ForwardTarget {
            tpu,
            tpu_quic: None,
        }
    }
}

/// A QUIC sender run elsewhere (the node's async runtime), which the banking thread hands batches
/// to without waiting.
pub trait QuicForward: Send {
    /// Takes `txns` (wire bytes) for the QUIC TPU at `to`, or gives them back when it cannot
    /// send them now (its queue is full, or `to` failed a handshake lately): they go by UDP.
    fn try_forward(&self, to: SocketAddr, txns: Vec<Box<[u8]>>) -> Result<(), Vec<Box<[u8]>>>;
}

/// Forwarding counters.
#[derive(Debug, Default)]
pub struct ForwardStats {
    /// Transactions sent on to another leader (either way).
    pub forwarded: AtomicU64,
    /// Of those, handed to the QUIC sender.
    pub forwarded_quic: AtomicU64,
    /// Transactions the socket refused (lost; the client resends).
    pub failed: AtomicU64,
    /// Held transactions dropped instead of forwarded: another validator had forwarded them here.
    pub dropped_forwarded: AtomicU64,
}

/// The banking stage's sender of held transactions.
pub struct Forwarder {
    sender: UdpSender,
    quic: Option<Box<dyn QuicForward>>,
    /// Where held transactions go now (`None`: hold them).
    target: Option<ForwardTarget>,
    stats: Arc<ForwardStats>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("target", &self.target)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Forwarder {
    /// Forwards from `socket`; it holds everything until [`Forwarder::set_target`] names a target.
    pub fn new(socket: UdpSocket) -> std::io::Result<Forwarder> {
        // A same-destination stream (GSO where the kernel has it), without a ring of its own.
        let sender = UdpSender::new(socket, UdpBackend::Mmsg, UdpOptions::default())?;
        Ok(Forwarder {
            sender,
            quic: None,
            target: None,
            stats: Arc::new(ForwardStats::default()),
        })
    }

    /// Forwards over QUIC through `quic` to leaders that announce a QUIC TPU.
    pub fn with_quic(mut self, quic: Box<dyn QuicForward>) -> Forwarder {
        self.quic = Some(quic);
        self
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ForwardStats> {
        &self.stats
    }

    /// Where held transactions go now (`None`: hold them).
    pub fn target(&self) -> Option<ForwardTarget> {
        self.target
    }

    /// Sets where held transactions go from now on (`None`: hold them).
    pub fn set_target(&mut self, target: Option<ForwardTarget>) {
        self.target = target;
    }

    /// Counts `n` held transactions dropped because they had been forwarded here already.
    pub fn drop_forwarded(&self, n: usize) {
        self.stats
            .dropped_forwarded
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Sends `txns` to `to` as they arrived (wire bytes unchanged): over QUIC where both ends can,
    /// else over UDP. Returns how many went out (to the QUIC sender, or into the UDP socket).
    pub fn send(&mut self, txns: impl IntoIterator<Item = Txn>, to: ForwardTarget) -> usize {
        let mut wires: Vec<Box<[u8]>> = txns.into_iter().map(Txn::into_bytes).collect();
        if let (Some(quic), Some(quic_addr)) = (&self.quic, to.tpu_quic) {
            let n = wires.len() as u64;
            match quic.try_forward(quic_addr, wires) {
                Ok(()) => {
                    self.stats.forwarded.fetch_add(n, Ordering::Relaxed);
                    self.stats.forwarded_quic.fetch_add(n, Ordering::Relaxed);
                    return n as usize;
                }
                Err(back) => wires = back,
            }
        }
        self.send_udp(&wires, to.tpu)
    }

    fn send_udp(&mut self, wires: &[Box<[u8]>], to: SocketAddr) -> usize {
        let mut sent = 0;
        for chunk in wires.chunks(SEND_BATCH_MAX) {
            let payloads: Vec<&[u8]> = chunk.iter().map(|w| &w[..]).collect();
            match self.sender.send_same_dest(to, &payloads) {
                Ok(n) => {
                    sent += n;
                    let lost = chunk.len().saturating_sub(n) as u64;
                    self.stats.failed.fetch_add(lost, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::debug!(%to, "forwarding failed: {e}");
                    self.stats
                        .failed
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            }
        }
        self.stats
            .forwarded
            .fetch_add(sent as u64, Ordering::Relaxed);
        sent
    }
}

#[cfg(test)]
mod tests;
