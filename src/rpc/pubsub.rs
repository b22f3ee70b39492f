//! Solana's PubSub: JSON-RPC 2.0 subscriptions over WebSocket, so that stock clients' confirmation
//! (`signatureSubscribe`) and watchers (`accountSubscribe`, `slotSubscribe`, …) work unchanged.
//!
//! Served on a port of its own (by Solana's convention the RPC port + 1, where clients look for it)
//! and on the RPC port itself as an upgrade of `GET /`. The node publishes [`ChainEvent`]s on an
//! [`EventFeed`]: a bank frozen, the commitment levels moved, a transaction received. One hub thread
//! owns every subscription ([`hub`]: a state machine without I/O) and turns events into
//! notifications; it reads what a slot changed ([`Chain::slot_changes`]) only when someone
//! subscribed to something it could hold. It runs behind verification: its bulk waits when cores
//! are short, block production does not. Signature subscriptions wait apart, in the signature watch
//! ([`signatures`]), whose thread runs ahead of verification and writes a due notification itself
//! when it can. Each connection is one task ([`connection`]), on a thread of PubSub's own, that
//! checks requests ([`request`]), hands them to the hub and writes what was queued for it.
//!
//! Every bound has its default here and is set from `[rpc]` through [`PubSubLimits`]: connections,
//! subscriptions per connection and in total, the send queue per connection, and the slots whose
//! changes are kept in memory (the size of an incoming message stays a constant). A client that
//! does not read is disconnected once its queue is full, never buffered without end; every refusal
//! and disconnect is counted in [`RpcStats::pubsub`](super::RpcStats).

mod changes;
mod connection;
mod hub;
mod notification;
mod request;
mod signatures;
mod walk;

#[cfg(test)]
mod tests;

/// One incoming message parsed as a connection parses it: `Ok` for a request that is served, else
/// the error response (if the message had an id). For the RPC decoder fuzzer (`rpc::tests_fuzz`).
#[cfg(test)]
pub(super) fn parse_request_for_fuzzing(
    bytes: &[u8],
    stats: &RpcStats,
) -> Result<(), Option<Value>> {
    request::parse(bytes, stats).map(|_| ())
}

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use dataplane::types::{Pubkey, Signature, Slot};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch, Semaphore};

use super::listener::{accept_loop, PeerAddr, PerIpConnections};
use super::stats::PubSubDrop;
use super::{Chain, Commitment, HttpLimits, RpcStats};

/// Most WebSocket connections open at once, over both ports.
pub const CONNECTIONS_MAX: usize = 1_000;
/// Most WebSocket connections one source address may hold, over both ports, so that one host
/// cannot take every [`CONNECTIONS_MAX`] (the node sets it from `rpc.connections_per_ip_max`).
pub const CONNECTIONS_PER_IP_MAX: usize = 128;
/// Most subscriptions one connection may hold.
pub const SUBSCRIPTIONS_PER_CONNECTION_MAX: usize = 1_000;
/// Most subscriptions the node holds, over every connection.
pub const SUBSCRIPTIONS_MAX: usize = 100_000;
/// Largest incoming message (and frame), in bytes; a larger one closes the connection.
pub const MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// A connection's read buffer, in bytes. Requests are small and rare; tungstenite's default
/// (128 KiB) is allocated per connection and zeroed on every poll of its read side, which each
/// wake-up to write does: at 125 connections that was 86 % of the connections' thread's CPU and
/// 16 MiB of memory. A larger request is still read whole, a buffer at a time.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Most messages waiting to be written to one client; one more disconnects it.
pub const SEND_QUEUE_MESSAGES_MAX: usize = 1_024;
/// Most bytes waiting to be written to one client; more disconnects it.
pub const SEND_QUEUE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Most slots whose changes (transactions and written accounts) are kept in memory, read ahead of
/// the commitment moves that notify them.
pub const SLOTS_CACHED_MAX: usize = 256;
/// Node events buffered for the hub; a hub further behind loses the oldest (counted).
pub const EVENT_FEED_CAPACITY: usize = 4_096;
/// Requests and events queued into the hub; senders wait for room.
const HUB_INPUT_CAPACITY: usize = 1_024;

/// PubSub's bounds; the default is the constants above (the node sets them from `[rpc]`, tests use
/// smaller ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubSubLimits {
    /// See [`CONNECTIONS_MAX`].
    pub connections: usize,
    /// See [`CONNECTIONS_PER_IP_MAX`].
    pub connections_per_ip: usize,
    /// See [`SUBSCRIPTIONS_PER_CONNECTION_MAX`].
    pub subscriptions_per_connection: usize,
    /// See [`SUBSCRIPTIONS_MAX`].
    pub subscriptions: usize,
    /// See [`MESSAGE_BYTES_MAX`].
    pub message_bytes: usize,
    /// See [`SEND_QUEUE_MESSAGES_MAX`].
    pub send_queue_messages: usize,
    /// See [`SEND_QUEUE_BYTES_MAX`].
    pub send_queue_bytes: usize,
    /// See [`SLOTS_CACHED_MAX`].
    pub slots_cached: usize,
}

impl Default for PubSubLimits {
    fn default() -> Self {
        PubSubLimits {
            connections: CONNECTIONS_MAX,
            connections_per_ip: CONNECTIONS_PER_IP_MAX,
            subscriptions_per_connection: SUBSCRIPTIONS_PER_CONNECTION_MAX,
            subscriptions: SUBSCRIPTIONS_MAX,
            message_bytes: MESSAGE_BYTES_MAX,
            send_queue_messages: SEND_QUEUE_MESSAGES_MAX,
            send_queue_bytes: SEND_QUEUE_BYTES_MAX,
            slots_cached: SLOTS_CACHED_MAX,
        }
    }
}

/// Where the commitment levels stand, as the node reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitmentSlots {
    /// The fork-choice head.
    pub processed: Slot,
    /// The newest optimistically confirmed slot on the head's fork.
    pub confirmed: Slot,
    /// The newest finalized slot.
    pub finalized: Slot,
    /// This node's root.
    pub root: Slot,
}

impl CommitmentSlots {
    /// The slot of level `c`.
    pub fn at(&self, c: Commitment) -> Slot {
        match c {
            Commitment::Processed => self.processed,
            Commitment::Confirmed => self.confirmed,
            Commitment::Finalized => self.finalized,
        }
    }
}

/// What the node tells PubSub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// A bank was frozen: its block is complete and stored (this node's own or a received one).
    Frozen {
        /// The slot.
        slot: Slot,
        /// Its parent.
        parent: Slot,
    },
    /// The commitment levels or this node's root moved.
    Commitment(CommitmentSlots),
    /// A transaction was accepted for processing (not yet in a block).
    Received {
        /// The slot being processed when it arrived.
        slot: Slot,
        /// Its signature.
        signature: Signature,
    },
}

/// An event and when the node published it (the start of its notifications' delay).
pub type StampedEvent = (Instant, ChainEvent);

/// The node's side of the event feed: publishing never blocks and needs no listener.
#[derive(Debug, Clone)]
pub struct EventFeed(broadcast::Sender<StampedEvent>);

impl Default for EventFeed {
    fn default() -> Self {
        EventFeed::new()
    }
}

impl EventFeed {
    /// A feed holding up to [`EVENT_FEED_CAPACITY`] events per listener.
    pub fn new() -> EventFeed {
        EventFeed(broadcast::channel(EVENT_FEED_CAPACITY).0)
    }

    /// Publishes `event` to every listener.
    pub fn publish(&self, event: ChainEvent) {
        // No listener (RPC disabled, or not started yet) is not an error.
        let _ = self.0.send((Instant::now(), event));
    }

    /// A new listener, seeing events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<StampedEvent> {
        self.0.subscribe()
    }
}

/// What one frozen slot changed.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotChanges {
    /// The slot.
    pub slot: Slot,
    /// Its parent.
    pub parent: Slot,
    /// Its transactions, in execution order.
    pub transactions: Vec<TxChange>,
    /// Every account it wrote, with its balance after the slot.
    pub accounts: Vec<(Pubkey, u64)>,
}

/// One transaction of a frozen slot.
#[derive(Debug, Clone, PartialEq)]
pub struct TxChange {
    /// Its first signature.
    pub signature: Signature,
    /// Solana `TransactionError` JSON if it failed.
    pub err: Option<Value>,
    /// Its account keys (programs included).
    pub accounts: Vec<Pubkey>,
    /// Whether it is a vote.
    pub is_vote: bool,
}

/// A running PubSub service: cheap to clone, shared by both ports.
#[derive(Clone)]
pub struct PubSub {
    shared: Arc<Shared>,
}

/// What every connection task shares.
struct Shared {
    hub: mpsc::Sender<connection::HubInput>,
    stats: Arc<RpcStats>,
    limits: PubSubLimits,
    connections: Arc<Semaphore>,
    per_ip: Arc<PerIpConnections>,
    next_connection: AtomicU64,
    stop: watch::Sender<bool>,
    /// The runtime of PubSub's own that runs every connection's task.
    connections_runtime: tokio::runtime::Handle,
}

impl PubSub {
    /// Starts the hub thread, which reads `feed`'s events itself, and the thread that runs the
    /// connections.
    pub fn start(
        chain: Arc<dyn Chain>,
        stats: Arc<RpcStats>,
        feed: &EventFeed,
    ) -> io::Result<PubSub> {
        PubSub::start_with_limits(chain, stats, feed, PubSubLimits::default())
    }

    /// [`PubSub::start`] with other bounds.
    pub fn start_with_limits(
        chain: Arc<dyn Chain>,
        stats: Arc<RpcStats>,
        feed: &EventFeed,
        limits: PubSubLimits,
    ) -> io::Result<PubSub> {
        let (hub, input) = mpsc::channel(HUB_INPUT_CAPACITY);
        let (stop, _) = watch::channel(false);
        connection::start_hub(
            chain,
            stats.clone(),
            limits,
            input,
            feed.subscribe(),
            stop.subscribe(),
        )?;
        let connections = Arc::new(Semaphore::new(limits.connections));
        let connections_runtime = connection::start_connections_thread(
            stop.subscribe(),
            connections.clone(),
            limits.connections,
        )?;
        Ok(PubSub {
            shared: Arc::new(Shared {
                hub,
                stats,
                limits,
                connections,
                per_ip: PerIpConnections::new(limits.connections_per_ip),
                next_connection: AtomicU64::new(0),
                stop,
                connections_runtime,
            }),
        })
    }

    /// Closes every connection and stops taking events (the node is stopping).
    pub fn shutdown(&self) {
        let _ = self.shared.stop.send(true);
    }

    /// Upgrades an HTTP request from `peer` (when known) to a PubSub connection, or refuses it
    /// when the most connections are open, in all or from that address (429, which stock clients
    /// retry after `Retry-After`).
    pub fn accept(&self, ws: WebSocketUpgrade, peer: Option<IpAddr>) -> Response {
        let refuse = |reason: PubSubDrop, text: &'static str| {
            self.shared.stats.pubsub.count_drop(reason, 1);
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                text,
            )
                .into_response()
        };
        let Ok(permit) = self.shared.connections.clone().try_acquire_owned() else {
            return refuse(PubSubDrop::ConnectionLimit, "too many PubSub connections");
        };
        let ip_slot = match peer {
            Some(ip) => match self.shared.per_ip.try_acquire(ip) {
                Some(slot) => Some(slot),
                None => {
                    return refuse(
                        PubSubDrop::ConnectionLimitPerIp,
                        "too many PubSub connections from this address",
                    )
                }
            },
            None => None,
        };
        let shared = self.shared.clone();
        let max = self.shared.limits.message_bytes;
        ws.max_message_size(max)
            .max_frame_size(max)
            .read_buffer_size(READ_BUFFER_BYTES)
            .on_upgrade(move |socket| async move {
                let runtime = shared.connections_runtime.clone();
                // Once the service stopped, the task is dropped unrun and its permit with it.
                drop(runtime.spawn(connection::run(socket, shared, (permit, ip_slot))));
            })
    }

    /// Serves upgrades on every path: the dedicated PubSub port.
    pub fn router(&self) -> Router {
        Router::new().fallback(upgrade).with_state(self.clone())
    }
}

async fn upgrade(
    State(pubsub): State<PubSub>,
    peer: Option<Extension<PeerAddr>>,
    ws: WebSocketUpgrade,
) -> Response {
    pubsub.accept(ws, peer.map(|Extension(PeerAddr(peer))| peer.ip()))
}

/// Serves PubSub on `listener` (its own port) until `shutdown` completes; then closes every
/// connection. The port has the RPC port's edge: `http`'s header-read and idle timeouts bound a
/// connection until it upgrades (a slowloris sender or a silent one is closed and counted with the
/// RPC port's), and connection caps twice PubSub's own sit behind them, so that PubSub's caps, which
/// answer 429 and count as PubSub refusals, are the ones clients meet.
pub async fn serve(
    listener: tokio::net::TcpListener,
    pubsub: PubSub,
    http: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let own = pubsub.shared.limits;
    let edge = HttpLimits {
        connections_max: own.connections.saturating_mul(2).max(1),
        connections_per_ip_max: own.connections_per_ip.saturating_mul(2).max(1),
        ..http
    };
    let stats = pubsub.shared.stats.clone();
    let result = accept_loop(listener, pubsub.router(), stats, edge, shutdown).await;
    pubsub.shutdown();
    result
}
