//! The glue around the hub: the thread that drives it (and reads the node's events), and one task
//! per WebSocket connection, on a thread of PubSub's own.
//!
//! A connection reads a message, checks it ([`request::parse`]) and hands the request to the hub;
//! whatever the hub has for it (answers, notifications) arrives on its send queue, bounded in
//! messages and bytes. The hub never waits for a connection: a full queue disconnects the client
//! (counted), and the task stops even while a write to that client is stuck.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::SinkExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use super::super::listener::IpSlot;
use super::super::stats::PubSubDrop;
use super::super::{Chain, RpcStats};
use super::hub::{ConnectionId, Delivery, Hub, Limits};
use super::request::{self, Request};
use super::{ChainEvent, PubSubLimits, Shared, StampedEvent};

/// Most requests of one connection the hub may hold unanswered: their answers (at most ~1 KiB
/// each) must fit the send queue's bounds with room to spare.
const REQUESTS_IN_FLIGHT_MAX: usize = 32;
/// Niceness of the hub thread: level with the leader path, ahead of verification and of the
/// node's default. The hub finds a waiting wallet's signature notification due; on cores kept busy
/// by verification it otherwise waits for a time slice, and the notification with it. It uses a
/// few % of a core with 10,000 subscriptions (`tests/pubsub_load.rs`).
const HUB_NICE: i32 = dataplane::cores::LEADER_PATH_NICE;
/// How long a stopping service gives its connections to close before their thread ends.
const CONNECTIONS_CLOSING_MAX: Duration = Duration::from_secs(1);
/// Most queued messages written to a client before one flush.
const WRITE_BATCH_MESSAGES_MAX: usize = 256;

/// What connections tell the hub thread (node events it reads from the feed itself).
pub(super) enum HubInput {
    /// A connection opened: where its texts go.
    Open {
        connection: ConnectionId,
        edge: Edge,
    },
    /// A checked request.
    Request {
        connection: ConnectionId,
        request: Request,
    },
    /// A connection closed.
    Close { connection: ConnectionId },
}

/// A text queued for a client, whether it answers one of its requests, and, for a signature
/// notification, when the event that caused it was published.
struct Outgoing {
    text: String,
    answer: bool,
    since: Option<Instant>,
}

/// The hub's end of one connection.
pub(super) struct Edge {
    queue: mpsc::Sender<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    /// Dropped to make the connection stop.
    _kick: oneshot::Sender<()>,
}

/// Every open connection's edge, looked up once per text queued (ahash: see `hub::Map`).
type Edges = HashMap<ConnectionId, Edge, ahash::RandomState>;

/// Starts the hub's thread: it blocks on storage reads (a slot's changes, a block), never on a
/// client. It reads the node's events from `feed` itself, ahead of requests, until `stop`: an event
/// handed on by a task of the RPC runtime waited for that runtime, busy writing the last block's
/// notifications, before a signature notification could even be found due.
pub(super) fn start_hub(
    chain: Arc<dyn Chain>,
    stats: Arc<RpcStats>,
    limits: PubSubLimits,
    mut input: mpsc::Receiver<HubInput>,
    mut feed: broadcast::Receiver<StampedEvent>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let queue_bytes_max = limits.send_queue_bytes;
    let limits = Limits {
        per_connection: limits.subscriptions_per_connection,
        total: limits.subscriptions,
        slots_cached: limits.slots_cached,
    };
    let mut hub = Hub::new(chain, stats.clone(), limits);
    hub.read_ahead()?;
    // Only waits on channels: no I/O or timer driver.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    std::thread::Builder::new()
        .name("bbPubSub".into())
        .spawn(move || {
            dataplane::cores::set_current_thread_nice(HUB_NICE, "pubsub hub");
            let mut edges = Edges::default();
            let mut events_open = true;
            runtime.block_on(async {
                // Ends when every sender of requests is gone: every connection and the service.
                loop {
                    let deliveries = tokio::select! {
                        biased;
                        _ = stopped(&mut stop), if events_open => {
                            events_open = false;
                            continue;
                        }
                        event = feed.recv(), if events_open => match event {
                            Ok((at, e)) => {
                                hub.event_published_at(at);
                                if let ChainEvent::Commitment(levels) = &e {
                                    let due = hub.signatures_due(levels);
                                    deliver(due, &mut edges, &mut hub, &stats, queue_bytes_max);
                                }
                                hub.on_event(&e)
                            }
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                stats.pubsub.count_drop(PubSubDrop::EventsLagged, n);
                                tracing::warn!(missed = n, "PubSub hub fell behind the node's events");
                                continue;
                            }
                            Err(broadcast::error::RecvError::Closed) => {
                                events_open = false;
                                continue;
                            }
                        },
                        msg = input.recv() => match msg {
                            Some(msg) => handle(msg, &mut hub, &mut edges),
                            None => break,
                        },
                    };
                    deliver(deliveries, &mut edges, &mut hub, &stats, queue_bytes_max);
                }
            });
        })?;
    Ok(())
}

/// Starts the thread that runs every connection's task, at the hub's niceness, and returns its
/// runtime's handle: on the RPC runtime, a queued notification also waited for a worker busy with
/// HTTP requests, behind the default-priority threads. The thread ends once `stop` is set (or its
/// sender is gone) and the connections have closed, or after [`CONNECTIONS_CLOSING_MAX`].
pub(super) fn start_connections_thread(
    mut stop: watch::Receiver<bool>,
    connections: Arc<Semaphore>,
    connections_max: usize,
) -> std::io::Result<tokio::runtime::Handle> {
    // Its sockets stay registered with the reactor of the runtime that accepted them.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("bbPubSubIo".into())
        .spawn(move || {
            dataplane::cores::set_current_thread_nice(HUB_NICE, "pubsub connections");
            runtime.block_on(async {
                stopped(&mut stop).await;
                let closing = async {
                    while connections.available_permits() < connections_max {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                };
                let _ = tokio::time::timeout(CONNECTIONS_CLOSING_MAX, closing).await;
            });
        })?;
    Ok(handle)
}

/// Runs one connection's input through the hub: what it has for each connection.
fn handle(msg: HubInput, hub: &mut Hub, edges: &mut Edges) -> Vec<Delivery> {
    match msg {
        HubInput::Open { connection, edge } => {
            // Connections that vanished without a Close (their task was dropped).
            edges.retain(|&c, e| {
                let open = !e.queue.is_closed();
                if !open {
                    hub.close(c);
                }
                open
            });
            edges.insert(connection, edge);
            Vec::new()
        }
        // From a connection already dropped: nothing to answer, nothing to keep.
        HubInput::Request {
            connection,
            request,
        } if edges.contains_key(&connection) => hub.request(connection, request),
        HubInput::Request { .. } => Vec::new(),
        HubInput::Close { connection } => {
            edges.remove(&connection);
            hub.close(connection);
            Vec::new()
        }
    }
}

/// Queues each text for its connection; a connection whose queue is full is dropped.
fn deliver(
    deliveries: Vec<Delivery>,
    edges: &mut Edges,
    hub: &mut Hub,
    stats: &RpcStats,
    queue_bytes_max: usize,
) {
    for Delivery {
        connection,
        text,
        answer,
        since,
    } in deliveries
    {
        let Some(edge) = edges.get(&connection) else {
            continue;
        };
        let len = text.len();
        // Counted before it is queued, so that the connection never takes off more than was added.
        let queued = edge.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if queued <= queue_bytes_max
            && edge
                .queue
                .try_send(Outgoing {
                    text,
                    answer,
                    since,
                })
                .is_ok()
        {
            continue;
        }
        edge.queued_bytes.fetch_sub(len, Ordering::Relaxed);
        // Full (a client that does not read) or closed (it left): either way it is gone.
        if !edge.queue.is_closed() {
            stats.pubsub.count_drop(PubSubDrop::SlowClient, 1);
            tracing::debug!(connection, "PubSub client not reading: disconnected");
        }
        edges.remove(&connection);
        hub.close(connection);
    }
}

/// Resolves once the service is stopping.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await of the caller's.
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves one WebSocket connection until the client leaves, breaks a rule, stops reading, or the
/// service stops. `permit` holds its place among the connections, in all and from its address.
pub(super) async fn run(
    mut socket: WebSocket,
    shared: Arc<Shared>,
    permit: (OwnedSemaphorePermit, Option<IpSlot>),
) {
    let stats = shared.stats.clone();
    let connection = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let (queue, mut outgoing) = mpsc::channel::<Outgoing>(shared.limits.send_queue_messages);
    // Requests handed to the hub whose answers have not been written yet.
    let mut in_flight = 0usize;
    let room = (outgoing.max_capacity() / 2).min(REQUESTS_IN_FLIGHT_MAX);
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let (kick, mut kicked) = oneshot::channel::<()>();
    let edge = Edge {
        queue,
        queued_bytes: queued_bytes.clone(),
        _kick: kick,
    };
    if shared
        .hub
        .send(HubInput::Open { connection, edge })
        .await
        .is_err()
    {
        return;
    }
    stats.pubsub.connection_opened();
    let mut stop = shared.stop.subscribe();
    loop {
        tokio::select! {
            // The hub dropped this connection (it did not read) or is gone.
            _ = &mut kicked => break,
            _ = stopped(&mut stop) => break,
            next = outgoing.recv() => {
                let Some(first) = next else { break };
                // What else is queued goes out in the same write: one flush (one syscall) for a
                // block's burst of notifications, instead of one per message, leaves the runtime
                // free sooner for the other connections.
                let mut batch = vec![first];
                while batch.len() < WRITE_BATCH_MESSAGES_MAX {
                    match outgoing.try_recv() {
                        Ok(o) => batch.push(o),
                        Err(_) => break,
                    }
                }
                let mut sent_signatures = Vec::new();
                let write = async {
                    for Outgoing { text, answer, since } in batch {
                        queued_bytes.fetch_sub(text.len(), Ordering::Relaxed);
                        in_flight = in_flight.saturating_sub(usize::from(answer));
                        sent_signatures.extend(since);
                        socket.feed(Message::Text(text.into())).await?;
                    }
                    socket.flush().await
                };
                // A client that stops reading blocks this write; the hub kicks it once its queue
                // is full.
                tokio::select! {
                    r = write => if r.is_err() { break },
                    _ = &mut kicked => break,
                }
                // Written to the socket: the notifications have left the node.
                for at in sent_signatures {
                    shared.stats.pubsub.observe_signature_delay(at.elapsed());
                }
            }
            // Requests wait while answers pile up: a client that sends many at once is served as
            // fast as it reads, not disconnected for its own answers.
            frame = socket.recv(), if in_flight < room && outgoing.len() < room => {
                let bytes = match frame {
                    Some(Ok(Message::Text(t))) => axum::body::Bytes::from(t),
                    Some(Ok(Message::Binary(b))) => b,
                    // Pings are answered by the WebSocket layer.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        // Too large, or not WebSocket: nothing more can be read from it.
                        stats.pubsub.count_drop(PubSubDrop::BadFrame, 1);
                        tracing::debug!(connection, "PubSub connection closed: {e}");
                        break;
                    }
                };
                match request::parse(&bytes, &stats) {
                    Ok(request) => {
                        in_flight += usize::from(request.id.is_some());
                        let input = HubInput::Request { connection, request };
                        if shared.hub.send(input).await.is_err() {
                            break;
                        }
                    }
                    Err(Some(error)) => {
                        let text = error.to_string();
                        tokio::select! {
                            r = socket.send(Message::Text(text.into())) => if r.is_err() { break },
                            _ = &mut kicked => break,
                        }
                    }
                    Err(None) => {}
                }
            }
        }
    }
    let _ = shared.hub.send(HubInput::Close { connection }).await;
    // Room for another before the count says so.
    drop(permit);
    stats.pubsub.connection_closed();
}
