//! Gulf Stream forwarding: a node that is not about to lead sends the verified transactions it holds
//! to the leader of the moment, instead of keeping them for its own next turn.
//!
//! The banking stage asks [`Forwarder::target`] for the current slot whenever it holds transactions
//! outside a leader window. The control plane's rule (see the node) answers `None` (hold) when this
//! node leads the current or the next slot, and otherwise the current leader's transaction socket.
//! A leader whose window ends therefore hands what it could not include to the next leader, and a
//! transaction sent to the wrong node reaches the right one within a hop. Every node follows the
//! same schedule and clock, so a forwarded transaction moves forward in time and never cycles; one
//! that can never be included is dropped by the leader that executes it (counted there).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::txn::Txn;
use crate::types::Slot;
use crate::udp::{UdpBackend, UdpOptions, UdpSender};

/// Where to forward at a slot: the leader's transaction socket, or `None` to hold.
pub type ForwardTarget = Arc<dyn Fn(Slot) -> Option<SocketAddr> + Send + Sync>;

/// Most transactions handed to the socket per call.
const SEND_BATCH_MAX: usize = 256;

/// Forwarding counters.
#[derive(Debug, Default)]
pub struct ForwardStats {
    /// Transactions sent on to another leader.
    pub forwarded: AtomicU64,
    /// Transactions the socket refused (lost; the client resends).
    pub failed: AtomicU64,
}

/// The banking stage's sender of held transactions.
pub struct Forwarder {
    sender: UdpSender,
    target: ForwardTarget,
    stats: Arc<ForwardStats>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("stats", &self.stats)
            .finish()
    }
}

impl Forwarder {
    /// Forwards from `socket` to where `target` says.
    pub fn new(socket: UdpSocket, target: ForwardTarget) -> std::io::Result<Forwarder> {
        // A same-destination stream (GSO where the kernel has it), without a ring of its own.
        let sender = UdpSender::new(socket, UdpBackend::Mmsg, UdpOptions::default())?;
        Ok(Forwarder {
            sender,
            target,
            stats: Arc::new(ForwardStats::default()),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ForwardStats> {
        &self.stats
    }

    /// Where transactions held at `slot` go (`None`: hold them).
    pub fn target(&self, slot: Slot) -> Option<SocketAddr> {
        (self.target)(slot)
    }

    /// Sends `txns` to `to` as they arrived (wire bytes unchanged); returns how many went out.
    pub fn send(&mut self, txns: impl IntoIterator<Item = Txn>, to: SocketAddr) -> usize {
        let txns: Vec<Txn> = txns.into_iter().collect();
        let mut sent = 0;
        for chunk in txns.chunks(SEND_BATCH_MAX) {
            let payloads: Vec<&[u8]> = chunk.iter().map(Txn::bytes).collect();
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
