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

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::txn::Txn;
use crate::udp::{UdpBackend, UdpOptions, UdpSender};

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
    /// Where held transactions go now (`None`: hold them).
    target: Option<SocketAddr>,
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
            target: None,
            stats: Arc::new(ForwardStats::default()),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ForwardStats> {
        &self.stats
    }

    /// Where held transactions go now (`None`: hold them).
    pub fn target(&self) -> Option<SocketAddr> {
        self.target
    }

    /// Sets where held transactions go from now on (`None`: hold them).
    pub fn set_target(&mut self, target: Option<SocketAddr>) {
        self.target = target;
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
