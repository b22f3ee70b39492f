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
fn a_notification_is_written_ahead_only_after_every_answer_queued_before_it() {
    let stats = RpcStats::new();
    let writer = Writer::new(Socket::default());
    // An answer is queued and its task has not written it yet: the notification must wait.
    writer.ordered_queued.store(1, Ordering::Release);
    let back = writer.write_ahead("notification".into(), Instant::now(), &stats);
    assert_eq!(back, Err("notification".to_string()));
    assert!(texts(&writer).is_empty());

    // Once the task handed the answer to the socket, the watch writes and flushes it at once.
    writer.ordered_written.store(1, Ordering::Release);
    assert_eq!(
        writer.write_ahead("notification".into(), Instant::now(), &stats),
        Ok(())
    );
    assert_eq!(texts(&writer), ["notification"]);
    assert_eq!(writer.sink.try_lock().unwrap().flushed, 1);
    assert!(writer.unflushed.lock().unwrap().is_empty());
}

/// A lane over `socket` whose queue holds `capacity` texts; with its queue's and kick's ends.
fn lane(
    socket: Socket,
    capacity: usize,
) -> (
    Lane<Socket>,
    mpsc::Receiver<Outgoing>,
    oneshot::Receiver<()>,
) {
    let (queue, queued) = mpsc::channel(capacity);
    let (kick, kicked) = oneshot::channel();
    let lane = Lane {
        queue,
        queued_bytes: Arc::new(AtomicUsize::new(0)),
        writer: Arc::new(Writer::new(socket)),
        kick: Arc::new(Kick(Mutex::new(Some(kick)))),
    };
    (lane, queued, kicked)
}

fn delivery(text: &str, answer: bool, since: Option<Instant>) -> Delivery {
    Delivery {
        connection: 1,
        text: text.into(),
        answers: usize::from(answer),
        since,
    }
}

#[test]
fn a_watch_notification_passes_unwritten_bulk_but_not_an_unwritten_answer() {
    let stats = RpcStats::new();
    let (lane, mut queued, _kicked) = lane(Socket::default(), 8);
    let mut ahead = 8;
    let mut send = |d: Delivery, from_watch: bool| {
        assert!(lane
            .send(d, from_watch, &mut ahead, &stats, 1 << 20)
            .is_ok());
    };
    // The hub's slot notification waits in the queue for the connection's task; the watch's
    // notification goes out past it.
    send(delivery("slot", false, None), false);
    send(delivery("signature 1", false, Some(Instant::now())), true);
    assert_eq!(texts(&lane.writer), ["signature 1"]);
    // An answer queued, unwritten: the next notification waits behind it.
    send(delivery("answer", true, None), false);
    send(delivery("signature 2", false, Some(Instant::now())), true);
    assert_eq!(texts(&lane.writer), ["signature 1"]);
    let waiting: Vec<String> = std::iter::from_fn(|| queued.try_recv().ok())
        .map(|o| o.text)
        .collect();
    assert_eq!(waiting, ["slot", "answer", "signature 2"]);
}

#[test]
fn a_full_queue_stops_the_connection_and_is_counted() {
    let stats = RpcStats::new();
    let (lane, _queued, mut kicked) = lane(Socket::default(), 1);
    let mut ahead = 0;
    assert!(lane
        .send(
            delivery("a", false, None),
            false,
            &mut ahead,
            &stats,
            1 << 20
        )
        .is_ok());
    assert!(lane
        .send(
            delivery("b", false, None),
            false,
            &mut ahead,
            &stats,
            1 << 20
        )
        .is_err());
    assert_eq!(stats.pubsub.drops(PubSubDrop::SlowClient), 1);
    assert_eq!(
        kicked.try_recv(),
        Err(oneshot::error::TryRecvError::Closed),
        "the connection's task is told to stop"
    );
}

#[tokio::test]
async fn a_notification_that_finds_the_task_writing_is_left_for_it_to_write_first() {
    let stats = RpcStats::new();
    let writer = Writer::new(Socket::default());
    let held = writer.sink.try_lock().unwrap();
    let at = Instant::now();
    let back = writer.write_ahead("notification".into(), at, &stats);
    assert_eq!(back, Ok(()));
    drop(held);
    assert!(texts(&writer).is_empty(), "not written by the watch");
    tokio::time::timeout(Duration::from_secs(5), writer.flush.notified())
        .await
        .expect("the task is woken");
    assert_eq!(writer.take_pending(), [("notification".to_string(), at)]);
    // Counted as ordered: a later one waits until the task has written this one.
    assert_eq!(
        writer.write_ahead("next".into(), at, &stats),
        Err("next".to_string())
    );
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
    writer.flushed(Vec::new(), &stats);
    assert!(writer.unflushed.lock().unwrap().is_empty());
}
