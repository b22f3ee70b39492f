//! The glue around the hub: the thread that drives it (and reads the node's events), and one task
//! per WebSocket connection, on a thread of PubSub's own.
//!
//! A connection reads a message, checks it ([`request::parse`]) and hands the request to the hub;
//! whatever the hub has for it (answers, notifications) arrives on its send queue, bounded in
//! messages and bytes. The hub never waits for a connection: a full queue disconnects the client
//! (counted), and the task stops even while a write to that client is stuck.
//!
//! A signature notification the hub finds due is written by the hub itself, ahead of the queue,
//! when nothing queued before it is still unwritten and the socket is free ([`Writer`]): a wallet
//! waiting for its transaction does not wait for the connections' thread, which may be writing a
//! block's burst of notifications to every other client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::{FutureExt, Sink, SinkExt, StreamExt};
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
/// Most signature notifications the hub writes itself for one event; the rest are queued, so that
/// a flood of them (100,000 subscriptions may come due at once) costs the hub no more than this.
const WRITE_AHEAD_MAX: usize = 64;
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
    writer: Arc<Writer>,
    /// Dropped to make the connection stop.
    _kick: oneshot::Sender<()>,
}

/// One connection's socket for writing, shared by its task and the hub. The hub writes a signature
/// notification ahead of the queue only when every text it queued before has been handed to the
/// socket (`written == queued`, read while holding the socket), so a client never hears of a
/// subscription before the answer that named it.
pub(super) struct Writer<S = SplitSink<WebSocket, Message>> {
    sink: tokio::sync::Mutex<S>,
    /// Texts the hub put on the connection's queue.
    queued: AtomicU64,
    /// Of those, handed to the socket by the connection's task.
    written: AtomicU64,
    /// When the events of signature notifications the hub wrote but could not flush (the socket
    /// was busy or full) were published: the task flushes them and measures their delay.
    unflushed: std::sync::Mutex<Vec<Instant>>,
    /// Wakes the task to flush what the hub wrote.
    flush: tokio::sync::Notify,
}

impl<S: Sink<Message> + Unpin> Writer<S> {
    fn new(sink: S) -> Writer<S> {
        Writer {
            sink: tokio::sync::Mutex::new(sink),
            queued: AtomicU64::new(0),
            written: AtomicU64::new(0),
            unflushed: Default::default(),
            flush: tokio::sync::Notify::new(),
        }
    }

    /// Writes `text` now, from the hub, if nothing queued before is unwritten and no one else is
    /// writing; gives it back otherwise.
    fn write_ahead(&self, text: String, since: Instant, stats: &RpcStats) -> Result<(), String> {
        let Ok(mut sink) = self.sink.try_lock() else {
            return Err(text);
        };
        if self.written.load(Ordering::Acquire) != self.queued.load(Ordering::Acquire) {
            return Err(text);
        }
        let message = Message::Text(text.into());
        // Split sinks take an item without waiting when they hold none, and this one holds none
        // outside a write (every write of the task's ends in a flush).
        match sink.feed(message.clone()).now_or_never() {
            Some(Ok(())) => {}
            Some(Err(_)) => return Ok(()),
            None => {
                return Err(match message {
                    Message::Text(t) => t.to_string(),
                    _ => String::new(),
                })
            }
        }
        match sink.flush().now_or_never() {
            Some(Ok(())) => stats.pubsub.observe_signature_delay(since.elapsed()),
            // The task meets the same error at its next read or write and ends.
            Some(Err(_)) => {}
            None => {
                self.unflushed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(since);
                self.flush.notify_one();
            }
        }
        Ok(())
    }

    /// Measures the delay of what the hub wrote ahead, once flushed.
    fn flushed(&self, stats: &RpcStats) {
        let written: Vec<Instant> =
            std::mem::take(&mut *self.unflushed.lock().unwrap_or_else(|e| e.into_inner()));
        for at in written {
            stats.pubsub.observe_signature_delay(at.elapsed());
        }
    }
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
            let mut early = None;
            runtime.block_on(async {
                // Ends when every sender of requests is gone: every connection and the service.
                loop {
                    // An event taken while the last delivery ran comes first.
                    let deliveries = if let Some(e) = early.take() {
                        on_event(e, &mut hub, &mut edges, &stats, queue_bytes_max)
                    } else { tokio::select! {
                        biased;
                        _ = stopped(&mut stop), if events_open => {
                            events_open = false;
                            continue;
                        }
                        event = feed.recv(), if events_open => match event {
                            Ok((at, e)) => {
                                let e = Early { at, event: e, signatures_done: false };
                                on_event(e, &mut hub, &mut edges, &stats, queue_bytes_max)
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
                    } };
                    let peek = events_open.then_some(Peek { feed: &mut feed, early: &mut early });
                    deliver(deliveries, 0, &mut edges, &mut hub, &stats, queue_bytes_max, peek);
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

/// A node event and when it was published; taken from the feed early (see [`Peek`]) its due
/// signature notifications may already be out.
struct Early {
    at: Instant,
    event: ChainEvent,
    signatures_done: bool,
}

/// The feed, looked at between chunks of a long delivery: the commitment move that follows a
/// freeze by microseconds waited for the freeze's slot notifications (thousands) to be queued,
/// up to 4 ms, before its signature notifications could be found due.
struct Peek<'a> {
    feed: &'a mut broadcast::Receiver<StampedEvent>,
    /// The event taken, handled next.
    early: &'a mut Option<Early>,
}

/// Texts delivered between two looks at the feed.
const PEEK_EVERY: usize = 256;

impl Peek<'_> {
    /// Takes the next event if one is waiting, and sends the signature notifications it makes due.
    fn look(&mut self, hub: &mut Hub, edges: &mut Edges, stats: &RpcStats, queue_bytes_max: usize) {
        if self.early.is_some() {
            return;
        }
        match self.feed.try_recv() {
            Ok((at, event)) => {
                let mut e = Early {
                    at,
                    event,
                    signatures_done: false,
                };
                signatures_due(&mut e, hub, edges, stats, queue_bytes_max);
                *self.early = Some(e);
            }
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                stats.pubsub.count_drop(PubSubDrop::EventsLagged, n);
                tracing::warn!(missed = n, "PubSub hub fell behind the node's events");
            }
            // Empty, or closed: the hub's loop finds out.
            Err(_) => {}
        }
    }
}

/// Sends the signature notifications a commitment move makes due, ahead of all else it causes.
fn signatures_due(
    e: &mut Early,
    hub: &mut Hub,
    edges: &mut Edges,
    stats: &RpcStats,
    queue_bytes_max: usize,
) {
    if let (ChainEvent::Commitment(levels), false) = (&e.event, e.signatures_done) {
        hub.event_published_at(e.at);
        let due = hub.signatures_due(levels);
        deliver(
            due,
            WRITE_AHEAD_MAX,
            edges,
            hub,
            stats,
            queue_bytes_max,
            None,
        );
    }
    e.signatures_done = true;
}

/// Everything a node event causes, its due signature notifications sent first.
fn on_event(
    mut e: Early,
    hub: &mut Hub,
    edges: &mut Edges,
    stats: &RpcStats,
    queue_bytes_max: usize,
) -> Vec<Delivery> {
    signatures_due(&mut e, hub, edges, stats, queue_bytes_max);
    hub.event_published_at(e.at);
    hub.on_event(&e.event)
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

/// Queues each text for its connection, after writing up to `ahead` signature notifications
/// itself ([`Writer::write_ahead`]), looking at the feed every [`PEEK_EVERY`] texts if `peek` is
/// given; a connection whose queue is full is dropped.
fn deliver(
    deliveries: Vec<Delivery>,
    mut ahead: usize,
    edges: &mut Edges,
    hub: &mut Hub,
    stats: &RpcStats,
    queue_bytes_max: usize,
    mut peek: Option<Peek<'_>>,
) {
    for (
        i,
        Delivery {
            connection,
            text,
            answer,
            since,
        },
    ) in deliveries.into_iter().enumerate()
    {
        if let Some(p) = peek.as_mut().filter(|_| i % PEEK_EVERY == PEEK_EVERY - 1) {
            p.look(hub, edges, stats, queue_bytes_max);
        }
        let Some(edge) = edges.get(&connection) else {
            continue;
        };
        let text = match since {
            Some(at) if ahead > 0 => {
                ahead -= 1;
                match edge.writer.write_ahead(text, at, stats) {
                    Ok(()) => continue,
                    Err(text) => text,
                }
            }
            _ => text,
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
            edge.writer.queued.fetch_add(1, Ordering::Release);
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
    socket: WebSocket,
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
    let (sink, mut socket) = socket.split();
    let writer = Arc::new(Writer::new(sink));
    let edge = Edge {
        queue,
        queued_bytes: queued_bytes.clone(),
        writer: writer.clone(),
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
                    let mut sink = writer.sink.lock().await;
                    for Outgoing { text, answer, since } in batch {
                        queued_bytes.fetch_sub(text.len(), Ordering::Relaxed);
                        in_flight = in_flight.saturating_sub(usize::from(answer));
                        sent_signatures.extend(since);
                        sink.feed(Message::Text(text.into())).await?;
                        writer.written.fetch_add(1, Ordering::Release);
                    }
                    sink.flush().await
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
                writer.flushed(&shared.stats);
            }
            // The hub wrote a signature notification it could not flush.
            _ = writer.flush.notified() => {
                let flush = async { writer.sink.lock().await.flush().await };
                tokio::select! {
                    r = flush => if r.is_err() { break },
                    _ = &mut kicked => break,
                }
                writer.flushed(&shared.stats);
            }
            // Requests wait while answers pile up: a client that sends many at once is served as
            // fast as it reads, not disconnected for its own answers.
            frame = socket.next(), if in_flight < room && outgoing.len() < room => {
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
                        let send = async {
                            writer.sink.lock().await.send(Message::Text(text.into())).await
                        };
                        tokio::select! {
                            r = send => if r.is_err() { break },
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

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A socket that takes every message and flushes only when told to.
    #[derive(Default)]
    struct Socket {
        sent: Vec<Message>,
        flushed: usize,
        full: bool,
    }

    impl Sink<Message> for Socket {
        type Error = std::io::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(mut self: Pin<&mut Self>, m: Message) -> std::io::Result<()> {
            self.sent.push(m);
            Ok(())
        }
        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            if self.full {
                return Poll::Pending;
            }
            self.flushed = self.sent.len();
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn texts(writer: &Writer<Socket>) -> Vec<String> {
        let sink = writer.sink.try_lock().unwrap();
        sink.sent
            .iter()
            .map(|m| match m {
                Message::Text(t) => t.to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_notification_is_written_ahead_only_after_everything_queued_before_it() {
        let stats = RpcStats::new();
        let writer = Writer::new(Socket::default());
        // An answer is queued and its task has not written it yet: the notification must wait.
        writer.queued.store(1, Ordering::Release);
        let back = writer.write_ahead("notification".into(), Instant::now(), &stats);
        assert_eq!(back, Err("notification".to_string()));
        assert!(texts(&writer).is_empty());

        // Once the task handed the answer to the socket, the hub writes and flushes it at once.
        writer.written.store(1, Ordering::Release);
        assert_eq!(
            writer.write_ahead("notification".into(), Instant::now(), &stats),
            Ok(())
        );
        assert_eq!(texts(&writer), ["notification"]);
        assert_eq!(writer.sink.try_lock().unwrap().flushed, 1);
        assert!(writer.unflushed.lock().unwrap().is_empty());
    }

    #[test]
    fn a_socket_being_written_by_the_task_is_left_to_it() {
        let stats = RpcStats::new();
        let writer = Writer::new(Socket::default());
        let held = writer.sink.try_lock().unwrap();
        let back = writer.write_ahead("notification".into(), Instant::now(), &stats);
        assert_eq!(back, Err("notification".to_string()));
        drop(held);
        assert!(texts(&writer).is_empty());
    }

    #[test]
    fn a_commitment_move_waiting_on_the_feed_is_served_between_chunks_of_a_long_delivery() {
        use super::super::super::test_node::FakeChain;
        use super::super::super::Commitment;
        use super::super::request::{Call, Spec};
        use super::super::{CommitmentSlots, EventFeed, SlotChanges, TxChange};
        use dataplane::types::{Signature, Slot};
        use serde_json::json;

        let levels = |slot: u64| {
            ChainEvent::Commitment(CommitmentSlots {
                processed: Slot(slot),
                confirmed: Slot(slot),
                finalized: Slot(slot),
                root: Slot(slot),
            })
        };
        let chain = Arc::new(FakeChain::new());
        let signature = Signature([11; 64]);
        chain.changes.lock().unwrap().insert(
            Slot(11),
            SlotChanges {
                slot: Slot(11),
                parent: Slot(10),
                transactions: vec![TxChange {
                    signature,
                    err: None,
                    accounts: vec![],
                    is_vote: false,
                }],
                accounts: vec![],
            },
        );
        let stats = Arc::new(RpcStats::new());
        let limits = Limits {
            per_connection: 10,
            total: 10,
            slots_cached: 8,
        };
        let mut hub = Hub::new(chain, stats.clone(), limits);
        hub.on_event(&levels(10));
        let spec = Spec::Signature {
            signature,
            commitment: Commitment::Confirmed,
            received: false,
        };
        let call = Call::Subscribe(spec);
        hub.request(
            1,
            Request {
                id: Some(json!(1)),
                call,
            },
        );
        hub.on_event(&ChainEvent::Frozen {
            slot: Slot(11),
            parent: Slot(10),
        });
        let feed = EventFeed::new();
        let mut events = feed.subscribe();
        feed.publish(levels(11));

        // A freeze's burst, to a connection already gone: the move behind it is taken and served
        // while the burst is delivered, not after.
        let burst = (0..PEEK_EVERY * 2)
            .map(|_| Delivery {
                connection: 99,
                text: "slot".into(),
                answer: false,
                since: None,
            })
            .collect();
        let mut edges = Edges::default();
        let mut early = None;
        let peek = Peek {
            feed: &mut events,
            early: &mut early,
        };
        deliver(burst, 0, &mut edges, &mut hub, &stats, 1 << 20, Some(peek));
        assert_eq!(hub.subscriptions(), 0, "notified once and done, mid-burst");
        let e = early.expect("the move is kept for the hub's loop");
        assert_eq!(e.event, levels(11));
        assert!(e.signatures_done);

        // Handled next, the rest of the move repeats nothing.
        let rest = on_event(e, &mut hub, &mut edges, &stats, 1 << 20);
        assert!(rest.iter().all(|d| d.since.is_none()), "{rest:?}");
        assert!(events.try_recv().is_err(), "nothing else was taken");
    }

    #[tokio::test]
    async fn what_the_hub_could_not_flush_the_task_is_woken_to_flush() {
        let stats = RpcStats::new();
        let writer = Writer::new(Socket {
            full: true,
            ..Default::default()
        });
        let at = Instant::now();
        assert_eq!(writer.write_ahead("n".into(), at, &stats), Ok(()));
        assert_eq!(texts(&writer), ["n"]);
        assert_eq!(*writer.unflushed.lock().unwrap(), vec![at]);
        // The wake-up is kept for the task even though it was not waiting yet.
        tokio::time::timeout(Duration::from_secs(5), writer.flush.notified())
            .await
            .expect("the task is told to flush");
        writer.sink.try_lock().unwrap().full = false;
        writer.sink.lock().await.flush().await.unwrap();
        writer.flushed(&stats);
        assert!(writer.unflushed.lock().unwrap().is_empty());
    }
}
