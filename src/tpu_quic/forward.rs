//! Forwarding over QUIC, as Agave's validators forward: held transactions go to the leader's QUIC
//! TPU, one transaction per unidirectional stream, on a connection that presents this node's
//! identity, so the leader counts them as staked traffic.
//!
//! The banking thread must never wait on the network: [`QuicForwarder`] (its [`QuicForward`])
//! only queues a batch, and gives it back for UDP when the queue is full or the leader failed a
//! handshake lately. [`QuicForwardDriver::run`], on the node's QUIC runtime, keeps one task and
//! one connection per leader; a task whose leader has gone quiet ends, and its connection with it.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dataplane::forward::QuicForward;
use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;

use super::client_config;

/// Batches queued between the banking thread and the driver.
pub const FORWARD_QUEUE_BATCHES: usize = 256;
/// Batches queued for one leader's connection.
const PEER_QUEUE_BATCHES: usize = 32;
/// Leaders with a connection at once (leaders rotate; old ones go idle and are closed).
pub const FORWARD_PEERS_MAX: usize = 64;
/// Validators a vote sender holds a connection to at once: every vote target (the coming leaders
/// and up to `VOTE_DIRECT_MAX` others).
pub const VOTE_PEERS_MAX: usize = controlplane::node::VOTE_DIRECT_MAX + 8;
/// Time a handshake has to complete.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a leader whose handshake failed is reached by UDP instead.
const UNREACHABLE_FOR: Duration = Duration::from_secs(10);
/// A leader's task (and connection) ends after this long without a batch.
const PEER_IDLE: Duration = Duration::from_secs(30);
/// The name a client gives the server (the certificate is checked by identity, not by name).
const SERVER_NAME: &str = "solana-tpu";

/// What QUIC forwarding has done and refused.
#[derive(Debug, Default)]
pub struct QuicForwardStats {
    /// Transactions written to a leader's stream.
    pub sent: AtomicU64,
    /// Transactions lost: their connection failed or its queue was full (the client resends).
    pub failed: AtomicU64,
    /// Handshakes with a leader that failed or timed out.
    pub handshakes_failed: AtomicU64,
    /// Transactions given back for UDP (queue full, or the leader unreachable lately).
    pub sent_by_udp: AtomicU64,
}

/// Leaders whose handshake failed, until when they are reached by UDP instead.
type Unreachable = Arc<Mutex<HashMap<SocketAddr, Instant>>>;

/// One batch for one leader.
struct Batch {
    to: SocketAddr,
    txns: Vec<Box<[u8]>>,
}

/// The banking thread's end: queues batches, never waits.
pub struct QuicForwarder {
    batches: mpsc::Sender<Batch>,
    unreachable: Unreachable,
    stats: Arc<QuicForwardStats>,
}

impl QuicForward for QuicForwarder {
    fn try_forward(&self, to: SocketAddr, txns: Vec<Box<[u8]>>) -> Result<(), Vec<Box<[u8]>>> {
        let recently_failed = self
            .unreachable
            .lock()
            .map(|u| u.get(&to).is_some_and(|until| Instant::now() < *until))
            .unwrap_or(false);
        let refused = if recently_failed {
            txns
        } else {
            match self.batches.try_send(Batch { to, txns }) {
                Ok(()) => return Ok(()),
                Err(e) => e.into_inner().txns,
            }
        };
        self.stats
            .sent_by_udp
            .fetch_add(refused.len() as u64, Ordering::Relaxed);
        Err(refused)
    }
}

/// The async end: connects to leaders and writes the streams.
pub struct QuicForwardDriver {
    batches: mpsc::Receiver<Batch>,
    client: quinn::ClientConfig,
    bind_ip: IpAddr,
    unreachable: Unreachable,
    stats: Arc<QuicForwardStats>,
    peers_max: usize,
}

/// A QUIC forwarding pair for the node `identity`, whose connections leave from `bind_ip`, to at
/// most `peers_max` peers at once ([`FORWARD_PEERS_MAX`] for held transactions, [`VOTE_PEERS_MAX`]
/// for votes).
pub fn quic_forwarder(
    identity: &SigningKey,
    bind_ip: IpAddr,
    stats: Arc<QuicForwardStats>,
    peers_max: usize,
) -> anyhow::Result<(QuicForwarder, QuicForwardDriver)> {
    let (tx, rx) = mpsc::channel(FORWARD_QUEUE_BATCHES);
    let unreachable = Unreachable::default();
    Ok((
        QuicForwarder {
            batches: tx,
            unreachable: unreachable.clone(),
            stats: stats.clone(),
        },
        QuicForwardDriver {
            batches: rx,
            client: client_config(identity)?,
            bind_ip,
            unreachable,
            stats,
            peers_max,
        },
    ))
}

impl QuicForwardDriver {
    /// Runs until `stopping` completes or the banking thread's end is dropped.
    pub async fn run(mut self, stopping: impl Future<Output = ()>) -> anyhow::Result<()> {
        let socket = std::net::UdpSocket::bind((self.bind_ip, 0))?;
        let mut endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            None,
            socket,
            Arc::new(quinn::TokioRuntime),
        )?;
        endpoint.set_default_client_config(self.client.clone());
        let mut peers: HashMap<SocketAddr, mpsc::Sender<Vec<Box<[u8]>>>> = HashMap::new();
        tokio::pin!(stopping);
        loop {
            let batch = tokio::select! {
                _ = &mut stopping => break,
                b = self.batches.recv() => match b {
                    Some(b) => b,
                    None => break,
                },
            };
            self.route(&endpoint, &mut peers, batch);
        }
        endpoint.close(0u32.into(), b"stopping");
        Ok(())
    }

    /// Hands `batch` to its leader's task, starting one if there is none (or it ended idle).
    fn route(
        &self,
        endpoint: &quinn::Endpoint,
        peers: &mut HashMap<SocketAddr, mpsc::Sender<Vec<Box<[u8]>>>>,
        batch: Batch,
    ) {
        if peers.get(&batch.to).is_some_and(|tx| tx.is_closed()) {
            peers.remove(&batch.to);
        }
        if !peers.contains_key(&batch.to) && peers.len() >= self.peers_max {
            peers.retain(|_, tx| !tx.is_closed());
        }
        let tx = match peers.get(&batch.to) {
            Some(tx) => tx,
            None if peers.len() < self.peers_max => {
                let (tx, rx) = mpsc::channel(PEER_QUEUE_BATCHES);
                tokio::spawn(send_to_peer(
                    endpoint.clone(),
                    batch.to,
                    rx,
                    self.unreachable.clone(),
                    self.stats.clone(),
                ));
                peers.entry(batch.to).or_insert(tx)
            }
            None => {
                self.lost(batch.txns.len());
                return;
            }
        };
        if let Err(e) = tx.try_send(batch.txns) {
            let txns = match e {
                mpsc::error::TrySendError::Full(t) | mpsc::error::TrySendError::Closed(t) => t,
            };
            self.lost(txns.len());
        }
    }

    fn lost(&self, n: usize) {
        self.stats.failed.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// One leader's task: a connection (made again when it fails), one stream per transaction.
async fn send_to_peer(
    endpoint: quinn::Endpoint,
    to: SocketAddr,
    mut batches: mpsc::Receiver<Vec<Box<[u8]>>>,
    unreachable: Unreachable,
    stats: Arc<QuicForwardStats>,
) {
    let mut connection: Option<quinn::Connection> = None;
    while let Ok(Some(txns)) = tokio::time::timeout(PEER_IDLE, batches.recv()).await {
        if connection
            .as_ref()
            .is_none_or(|c| c.close_reason().is_some())
        {
            connection = connect(&endpoint, to).await;
            if connection.is_none() {
                stats.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                stats.failed.fetch_add(txns.len() as u64, Ordering::Relaxed);
                if let Ok(mut u) = unreachable.lock() {
                    u.retain(|_, until| Instant::now() < *until);
                    u.insert(to, Instant::now() + UNREACHABLE_FOR);
                }
                continue;
            }
        }
        let Some(c) = &connection else { continue };
        for (i, txn) in txns.iter().enumerate() {
            if let Err(e) = send_one(c, txn).await {
                tracing::debug!(%to, "forwarding over QUIC failed: {e}");
                stats
                    .failed
                    .fetch_add((txns.len() - i) as u64, Ordering::Relaxed);
                connection = None;
                break;
            }
            stats.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Some(c) = connection {
        c.close(0u32.into(), b"idle");
    }
}

async fn connect(endpoint: &quinn::Endpoint, to: SocketAddr) -> Option<quinn::Connection> {
    let connecting = match endpoint.connect(to, SERVER_NAME) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%to, "QUIC forwarding: cannot connect: {e}");
            return None;
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => {
            tracing::debug!(%to, "QUIC forwarding: handshake failed: {e}");
            None
        }
        Err(_) => {
            tracing::debug!(%to, "QUIC forwarding: handshake timed out");
            None
        }
    }
}

async fn send_one(c: &quinn::Connection, txn: &[u8]) -> anyhow::Result<()> {
    let mut stream = c.open_uni().await?;
    stream.write_all(txn).await?;
    stream.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests;
