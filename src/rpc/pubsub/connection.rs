//! The glue around the hub: the thread that drives it (and reads the node's events), and one task
//! per WebSocket connection, on a thread of PubSub's own.
//!
//! A connection reads a message, checks it ([`request::parse`]) and hands the request to the hub;
//! whatever the hub has for it (answers, notifications) arrives on its send queue, bounded in
//! messages and bytes. The hub never waits for a connection: a full queue disconnects the client
//! (counted), and the task stops even while a write to that client is stuck.
//!
//! Signature subscriptions are served apart ([`super::signatures`]): a thread of their own, ahead of
//! verification, reads the node's events too and writes a due signature notification itself, ahead
//! of the queue, when nothing queued before it is still unwritten and the socket is free
//! ([`Writer`]). A wallet waiting for its transaction waits neither for the hub, which builds a
//! block's bulk of notifications behind verification (its work can wait; block production
//! cannot), nor for the connections' thread, which may be writing that bulk to every other client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::{FutureExt, Sink, SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use super::super::listener::IpSlot;
use super::super::stats::PubSubDrop;
use super::super::{Chain, RpcStats};
use super::hub::{ConnectionId, Delivery, Hub, Limits};
use super::request::{self, Incoming, Request};
use super::signatures::Watch;
use super::{ChainEvent, PubSubLimits, Shared, StampedEvent};

/// Most requests of one connection the hub may hold unanswered: their answers (at most ~1 KiB
/// each) must fit the send queue's bounds with room to spare.
const REQUESTS_IN_FLIGHT_MAX: usize = 32;
/// Niceness of the signature watch's thread: level with the leader path, ahead of verification
/// and of the node's default. On cores kept busy by verification a waiting wallet's notification
/// otherwise waits for a time slice. It uses well under 1 % of a core with 10,000 subscriptions
/// (`tests/pubsub_load.rs`).
const SIGNATURES_NICE: i32 = dataplane::cores::LEADER_PATH_NICE;
/// Niceness of the hub, its block reader and the connections' thread: behind verification (and
/// everything else). Their bulk of slot, account, logs and block notifications (≈ 4 % of a core
/// for 10,000 subscriptions at 22 k tx/s) then runs mostly on time verification leaves, and under
/// load it lags a little, which no client is promised otherwise (on two saturated cores it still
/// cost about 1 % of tx/s: `tests/pubsub_load.rs`).
pub(super) const BULK_NICE: i32 = 19;
/// How long a stopping service gives its connections to close before their thread ends.
const CONNECTIONS_CLOSING_MAX: Duration = Duration::from_secs(1);
/// Most signature notifications the watch's thread writes itself for one event; the rest are
/// queued, so that a flood of them (100,000 subscriptions may come due at once) costs that thread,
/// ahead of verification, no more than this.
const WRITE_AHEAD_MAX: usize = 64;
/// How long the close frame for a broken rule may wait to be written (the client may not read).
const CLOSE_FRAME_WAIT_MAX: Duration = Duration::from_secs(1);
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
    /// A checked batch: its requests, and its items' error answers in their places.
    Batch {
        connection: ConnectionId,
        items: Vec<Result<Request, serde_json::Value>>,
    },
    /// A connection closed.
    Close { connection: ConnectionId },
}

/// A text queued for a client, how many of its requests it answers, whether it is ordered (see
/// [`Writer`]), and, for a signature notification, when the event that caused it was published.
struct Outgoing {
    text: String,
    answers: usize,
    ordered: bool,
    since: Option<Instant>,
}

/// The hub's end of one connection; dropped, it makes the connection stop.
pub(super) struct Edge {
    lane: Lane,
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.lane.kick.kick();
    }
}

/// Where texts for one connection go, from the hub or the signature watch's thread.
pub(super) struct Lane<S = SplitSink<WebSocket, Message>> {
    queue: mpsc::Sender<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    writer: Arc<Writer<S>>,
    kick: Arc<Kick>,
}

impl<S> Clone for Lane<S> {
    fn clone(&self) -> Self {
        Lane {
            queue: self.queue.clone(),
            queued_bytes: self.queued_bytes.clone(),
            writer: self.writer.clone(),
            kick: self.kick.clone(),
        }
    }
}

/// Makes a connection stop, once, from whichever thread finds it must.
struct Kick(Mutex<Option<oneshot::Sender<()>>>);

impl Kick {
    fn kick(&self) {
        // Dropping the sender wakes the connection's task.
        drop(self.0.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}

/// The connection is gone: it left, or did not read and was stopped.
struct Gone;

impl<S: Sink<Message> + Unpin> Lane<S> {
    /// Queues `text`, after trying to write it ahead ([`Writer::write_ahead`]) if it is a
    /// signature notification and `ahead` allows one more; a connection whose queue is full is
    /// stopped (counted). An answer, and anything `from_watch`, is ordered (see [`Writer`]).
    fn send(
        &self,
        delivery: Delivery,
        from_watch: bool,
        ahead: &mut usize,
        stats: &RpcStats,
        queue_bytes_max: usize,
    ) -> Result<(), Gone> {
        let Delivery {
            connection,
            text,
            answers,
            since,
        } = delivery;
        let text = match since {
            Some(at) if *ahead > 0 => {
                *ahead -= 1;
                match self.writer.write_ahead(text, at, stats) {
                    Ok(()) => return Ok(()),
                    Err(text) => text,
                }
            }
            _ => text,
        };
        let len = text.len();
        // Counted before it is queued, so that the connection never takes off more than was added,
        // and so that nothing is written ahead of it meanwhile.
        let queued = self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        let ordered = answers > 0 || from_watch;
        if ordered {
            self.writer.ordered_queued.fetch_add(1, Ordering::Release);
        }
        let outgoing = Outgoing {
            text,
            answers,
            ordered,
            since,
        };
        if queued <= queue_bytes_max && self.queue.try_send(outgoing).is_ok() {
            return Ok(());
        }
        self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
        // Full (a client that does not read) or closed (it left): either way it is gone.
        if !self.queue.is_closed() {
            stats.pubsub.count_drop(PubSubDrop::SlowClient, 1);
            tracing::debug!(connection, "PubSub client not reading: disconnected");
        }
        self.kick.kick();
        Err(Gone)
    }
}

/// Every open connection's lane, shared by the hub (which adds and removes them) and the signature
/// watch's thread.
type Lanes = HashMap<ConnectionId, Lane, ahash::RandomState>;

/// One connection's socket for writing, shared by its task and the signature watch's thread, which
/// writes a signature notification ahead of the queue only when every ordered text queued before
/// it has been handed to the socket (`ordered_written == ordered_queued`, read while holding the
/// socket). Ordered are answers and the watch's own notifications: so a client never hears of a
/// subscription before the answer that named it, nor of its transaction landing before it was
/// received. Other notifications (slots, accounts, logs, blocks) are not waited for: Solana
/// promises no order across subscriptions, and they are written behind verification, so a
/// connection's queue of them may wait on busy cores.
pub(super) struct Writer<S = SplitSink<WebSocket, Message>> {
    sink: tokio::sync::Mutex<S>,
    /// Ordered texts put on the connection's queue.
    ordered_queued: AtomicU64,
    /// Of those, handed to the socket by the connection's task.
    ordered_written: AtomicU64,
    /// When the events of signature notifications the watch wrote but could not flush (the socket
    /// was busy or full) were published: the task flushes them and measures their delay.
    unflushed: std::sync::Mutex<Vec<Instant>>,
    /// Signature notifications (and their events' times) that found the task writing: it writes
    /// them first at its next write, not behind the bulk queued meanwhile.
    pending: std::sync::Mutex<Vec<(String, Instant)>>,
    /// Wakes the task to flush what the watch wrote.
    flush: tokio::sync::Notify,
}

impl<S: Sink<Message> + Unpin> Writer<S> {
    fn new(sink: S) -> Writer<S> {
        Writer {
            sink: tokio::sync::Mutex::new(sink),
            ordered_queued: AtomicU64::new(0),
            ordered_written: AtomicU64::new(0),
            unflushed: Default::default(),
            pending: Default::default(),
            flush: tokio::sync::Notify::new(),
        }
    }

    /// Writes `text` now, from the signature watch's thread, if no ordered text queued before is
    /// unwritten; if the task is writing, leaves it for the task to write first ([`Writer::pending`]).
    /// Gives it back when an ordered text before it is unwritten.
    fn write_ahead(&self, text: String, since: Instant, stats: &RpcStats) -> Result<(), String> {
        let unwritten = || {
            self.ordered_written.load(Ordering::Acquire)
                != self.ordered_queued.load(Ordering::Acquire)
        };
        let Ok(mut sink) = self.sink.try_lock() else {
            // The task writes ordered texts in order, so one still unwritten goes first.
            if unwritten() {
                return Err(text);
            }
            self.ordered_queued.fetch_add(1, Ordering::Release);
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((text, since));
            // Kept for the task if it is not waiting yet.
            self.flush.notify_one();
            return Ok(());
        };
        if unwritten() {
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

    /// Takes the pending signature notifications, for the task to write (holding the socket).
    fn take_pending(&self) -> Vec<(String, Instant)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Feeds the pending signature notifications to `sink` (the task's, held), noting when each
    /// one's event was published in `sent`.
    async fn feed_pending(&self, sink: &mut S, sent: &mut Vec<Instant>) -> Result<(), S::Error> {
        for (text, at) in self.take_pending() {
            sink.feed(Message::Text(text.into())).await?;
            self.ordered_written.fetch_add(1, Ordering::Release);
            sent.push(at);
        }
        Ok(())
    }

    /// Measures, once flushed, the delay of the signature notifications the task just wrote
    /// (`sent`) and of those the watch wrote ahead.
    fn flushed(&self, sent: Vec<Instant>, stats: &RpcStats) {
        let written: Vec<Instant> =
            std::mem::take(&mut *self.unflushed.lock().unwrap_or_else(|e| e.into_inner()));
        for at in sent.into_iter().chain(written) {
            stats.pubsub.observe_signature_delay(at.elapsed());
        }
    }
}

/// Every open connection's edge, looked up once per text queued (ahash: see `hub::Map`).
type Edges = HashMap<ConnectionId, Edge, ahash::RandomState>;

/// Starts the hub's thread, and the signature watch's: the hub blocks on storage reads (a slot's
/// changes, a block), never on a client. Each reads the node's events from `feed` itself, ahead
/// of requests, until `stop`: an event handed on by a task of the RPC runtime waited for that
/// runtime, busy writing the last block's notifications.
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
    let lanes = Arc::new(Mutex::new(Lanes::default()));
    let signatures = Signatures {
        watch: hub.signatures_apart(),
        lanes: lanes.clone(),
        stats: stats.clone(),
        queue_bytes_max,
    };
    start_signatures(signatures, feed.resubscribe(), stop.clone())?;
    // Only waits on channels: no I/O or timer driver.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    std::thread::Builder::new()
        .name("bbPubSub".into())
        .spawn(move || {
            dataplane::cores::set_current_thread_nice(BULK_NICE, "pubsub hub");
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
                            Some(msg) => handle(msg, &mut hub, &mut edges, &lanes),
                            None => break,
                        },
                    };
                    deliver(deliveries, &mut edges, &lanes, &mut hub, &stats, queue_bytes_max);
                    // Answers first: a client never hears of a subscription before its answer.
                    let armed = hub.arm_signatures();
                    deliver(armed, &mut edges, &lanes, &mut hub, &stats, queue_bytes_max);
                }
            });
        })?;
    Ok(())
}

/// What the signature watch's thread works with.
struct Signatures {
    watch: Arc<Mutex<Watch>>,
    lanes: Arc<Mutex<Lanes>>,
    stats: Arc<RpcStats>,
    queue_bytes_max: usize,
}

/// Starts the signature watch's thread, at [`SIGNATURES_NICE`]: it hands the node's events to the
/// watch and writes the signature notifications they make due, until `stop`.
fn start_signatures(
    signatures: Signatures,
    mut feed: broadcast::Receiver<StampedEvent>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    std::thread::Builder::new()
        .name("bbPubSubSig".into())
        .spawn(move || {
            dataplane::cores::set_current_thread_nice(SIGNATURES_NICE, "pubsub signatures");
            runtime.block_on(async {
                loop {
                    tokio::select! {
                        biased;
                        _ = stopped(&mut stop) => break,
                        event = feed.recv() => match event {
                            Ok((at, e)) => signatures.on_event(&e, at),
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                // The next commitment move walks back over what was missed.
                                signatures.stats.pubsub.count_drop(PubSubDrop::EventsLagged, n);
                                tracing::warn!(missed = n, "PubSub signature watch fell behind");
                            }
                            Err(broadcast::error::RecvError::Closed) => break,
                        },
                    }
                }
            });
        })?;
    Ok(())
}

impl Signatures {
    /// Writes (or queues) the signature notifications `event`, published at `at`, makes due.
    fn on_event(&self, event: &ChainEvent, at: Instant) {
        let due = self
            .watch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_event(event, Some(at));
        if due.is_empty() {
            return;
        }
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let mut ahead = WRITE_AHEAD_MAX;
        for d in due {
            if let Some(lane) = lanes.get(&d.connection) {
                // A connection stopped here tells the hub as it closes.
                let _ = lane.send(d, true, &mut ahead, &self.stats, self.queue_bytes_max);
            }
        }
    }
}

/// Starts the thread that runs every connection's task, at [`BULK_NICE`], and returns its
/// runtime's handle: on the RPC runtime, a queued notification also waited for a worker busy with
/// HTTP requests. What it writes is mostly the hub's bulk; a signature notification the watch's
/// thread writes itself, or leaves for a task to write first. The thread ends once `stop` is set (or its
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
            dataplane::cores::set_current_thread_nice(BULK_NICE, "pubsub connections");
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
fn handle(msg: HubInput, hub: &mut Hub, edges: &mut Edges, lanes: &Mutex<Lanes>) -> Vec<Delivery> {
    match msg {
        HubInput::Open { connection, edge } => {
            let mut lanes = lanes.lock().unwrap_or_else(|e| e.into_inner());
            // Connections that vanished without a Close (their task was dropped).
            edges.retain(|&c, e| {
                let open = !e.lane.queue.is_closed();
                if !open {
                    lanes.remove(&c);
                    hub.close(c);
                }
                open
            });
            lanes.insert(connection, edge.lane.clone());
            edges.insert(connection, edge);
            Vec::new()
        }
        // From a connection already dropped: nothing to answer, nothing to keep.
        HubInput::Request {
            connection,
            request,
        } if edges.contains_key(&connection) => hub.request(connection, request),
        HubInput::Batch { connection, items } if edges.contains_key(&connection) => {
            hub.batch(connection, items)
        }
        HubInput::Request { .. } | HubInput::Batch { .. } => Vec::new(),
        HubInput::Close { connection } => {
            edges.remove(&connection);
            lanes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&connection);
            hub.close(connection);
            Vec::new()
        }
    }
}

/// Queues each text for its connection; a connection whose queue is full is dropped.
fn deliver(
    deliveries: Vec<Delivery>,
    edges: &mut Edges,
    lanes: &Mutex<Lanes>,
    hub: &mut Hub,
    stats: &RpcStats,
    queue_bytes_max: usize,
) {
    // The hub writes nothing ahead: the signature watch's thread does.
    let mut ahead = 0;
    for d in deliveries {
        let connection = d.connection;
        let Some(edge) = edges.get(&connection) else {
            continue;
        };
        if edge
            .lane
            .send(d, false, &mut ahead, stats, queue_bytes_max)
            .is_err()
        {
            edges.remove(&connection);
            lanes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&connection);
            hub.close(connection);
        }
    }
}

/// The close frame for a connection whose input broke a rule (RFC 6455 §7.4.1 codes).
fn close_frame(e: axum::Error) -> CloseFrame {
    use tungstenite::error::{CapacityError, Error};
    let (code, reason) = match e.into_inner().downcast::<Error>().map(|e| *e) {
        Ok(Error::Capacity(CapacityError::MessageTooLong { size, max_size })) => (
            close_code::SIZE,
            format!("message of {size} bytes, over the {max_size}-byte limit"),
        ),
        Ok(Error::Capacity(_)) => (close_code::SIZE, "message too long".to_string()),
        Ok(Error::Utf8(_)) => (close_code::INVALID, "text frame not UTF-8".to_string()),
        Ok(Error::Protocol(p)) => (close_code::PROTOCOL, p.to_string()),
        _ => (close_code::PROTOCOL, "broken WebSocket input".to_string()),
    };
    // A close frame's reason holds at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: reason[..end].into(),
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
        lane: Lane {
            queue,
            queued_bytes: queued_bytes.clone(),
            writer: writer.clone(),
            kick: Arc::new(Kick(Mutex::new(Some(kick)))),
        },
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
                    writer.feed_pending(&mut *sink, &mut sent_signatures).await?;
                    for Outgoing { text, answers, ordered, since } in batch {
                        queued_bytes.fetch_sub(text.len(), Ordering::Relaxed);
                        in_flight = in_flight.saturating_sub(answers);
                        sent_signatures.extend(since);
                        sink.feed(Message::Text(text.into())).await?;
                        if ordered {
                            writer.ordered_written.fetch_add(1, Ordering::Release);
                        }
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
                writer.flushed(sent_signatures, &shared.stats);
            }
            // The watch wrote a signature notification it could not flush, or left one pending.
            _ = writer.flush.notified() => {
                let mut sent_signatures = Vec::new();
                let flush = async {
                    let mut sink = writer.sink.lock().await;
                    writer.feed_pending(&mut *sink, &mut sent_signatures).await?;
                    sink.flush().await
                };
                tokio::select! {
                    r = flush => if r.is_err() { break },
                    _ = &mut kicked => break,
                }
                writer.flushed(sent_signatures, &shared.stats);
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
                        // Too large, or not WebSocket: nothing more can be read from it. The
                        // client is told why in a close frame, if it still reads.
                        stats.pubsub.count_drop(PubSubDrop::BadFrame, 1);
                        tracing::debug!(connection, "PubSub connection closed: {e}");
                        let close = Message::Close(Some(close_frame(e)));
                        let send = async { writer.sink.lock().await.send(close).await };
                        tokio::select! {
                            _ = send => {}
                            _ = &mut kicked => {}
                            _ = tokio::time::sleep(CLOSE_FRAME_WAIT_MAX) => {}
                        }
                        break;
                    }
                };
                match request::parse(&bytes, &stats) {
                    Ok(incoming) => {
                        // A batch counts each of its answers, though they come as one array:
                        // reading waits until it is written, so a client has at most one batch
                        // beyond the bound queued at the hub.
                        let input = match incoming {
                            Incoming::One(request) => {
                                in_flight += 1;
                                HubInput::Request { connection, request }
                            }
                            Incoming::Batch(items) => {
                                in_flight += items.len();
                                HubInput::Batch { connection, items }
                            }
                        };
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
mod tests;
