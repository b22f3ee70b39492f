//! The RPC and PubSub ports' connection bounds: a cap on open connections and one per address, a header-read
//! timeout that closes slowloris senders, a body-read deadline, an idle timeout, and the
//! `sendTransaction` rate per address, each counted. Every test uses a real TCP client.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::pubsub::PubSubLimits;
use super::test_node::start_bounded;
use super::HttpLimits;

/// Slow senders are cut off quickly here (the node's default is 10 s).
const LIMITS: HttpLimits = HttpLimits {
    connections_max: 8,
    connections_per_ip_max: 8,
    header_read_timeout: Duration::from_millis(400),
    body_read_timeout: Duration::from_millis(400),
    // Longer than the header timeout, so that the header timer is the one closing idle
    // connections in the test that counts its closes.
    idle_timeout: Duration::from_secs(30),
    send_transaction_per_sec: super::SEND_TRANSACTION_PER_IP_PER_SEC,
    send_transaction_burst: super::SEND_TRANSACTION_PER_IP_BURST,
};

/// The cap test holds its connections longer than it takes to try one more.
const CAP_LIMITS: HttpLimits = HttpLimits {
    connections_max: 8,
    connections_per_ip_max: 8,
    header_read_timeout: Duration::from_secs(30),
    body_read_timeout: Duration::from_secs(30),
    idle_timeout: Duration::from_secs(30),
    send_transaction_per_sec: super::SEND_TRANSACTION_PER_IP_PER_SEC,
    send_transaction_burst: super::SEND_TRANSACTION_PER_IP_BURST,
};

/// Reads until the server closes the connection; returns what it sent, or `None` if it was still
/// open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| got)
}

/// Sends a partial request head, then one more header byte every 100 ms, as slowloris does.
async fn slowloris(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: localhost\r\nX-a: ")
        .await
        .unwrap();
    s
}

/// Sends a partial request head to `addr`, then one more byte every 100 ms for up to 2 s (a head
/// that never completes; the timeout counts from the first byte); returns whether the server then
/// closed the connection within a second.
async fn trickled_head_is_cut_off(addr: std::net::SocketAddr) -> bool {
    let mut slow = slowloris(addr).await;
    let trickle = async {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow.write_all(b"a").await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), trickle)
        .await
        .unwrap();
    closed_within(&mut slow, Duration::from_secs(1))
        .await
        .is_some()
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_accept_and_counted() {
    let node = start_bounded(PubSubLimits::default(), CAP_LIMITS).await;
    let mut held = Vec::new();
    for _ in 0..CAP_LIMITS.connections_max {
        held.push(slowloris(node.addr).await);
    }
    // Let the server take all of them before the one too many.
    for _ in 0..100 {
        if node.stats.connections_open() == CAP_LIMITS.connections_max as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        node.stats.connections_open(),
        CAP_LIMITS.connections_max as u64
    );
    let mut extra = TcpStream::connect(node.addr).await.unwrap();
    let _ = extra.write_all(b"GET /health HTTP/1.1\r\n\r\n").await;
    let answer = closed_within(&mut extra, Duration::from_millis(300)).await;
    assert_eq!(
        answer,
        Some(Vec::new()),
        "the connection over the cap got an answer"
    );
    assert_eq!(node.stats.connections_refused(), 1);
    // Once the held ones go, the port serves again.
    drop(held);
    for _ in 0..200 {
        if node.stats.connections_open() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, _) = node.http("GET", "/health", b"").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn slowloris_senders_and_idle_keep_alive_connections_are_closed_and_counted() {
    let node = start_bounded(PubSubLimits::default(), LIMITS).await;
    assert!(
        trickled_head_is_cut_off(node.addr).await,
        "a head sent a byte at a time was not cut off"
    );

    // A keep-alive connection that got its answer and then says nothing is closed too.
    let mut idle = TcpStream::connect(node.addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_within(&mut idle, Duration::from_secs(3))
        .await
        .expect("an idle keep-alive connection stayed open");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    for _ in 0..200 {
        if node.stats.connections_timed_out() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(node.stats.connections_timed_out(), 2);
    assert_eq!(node.stats.connections_open(), 0);
}

#[tokio::test]
async fn send_transaction_past_an_ips_rate_gets_429_and_is_counted_other_methods_do_not() {
    let limits = HttpLimits {
        send_transaction_per_sec: 1,
        send_transaction_burst: 3,
        ..HttpLimits::default()
    };
    let node = start_bounded(PubSubLimits::default(), limits).await;
    let send = br#"{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["1111"]}"#;
    for _ in 0..3 {
        let (status, body) = node.http("POST", "/", send).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let (status, body) = node.http("POST", "/", send).await;
    assert_eq!(status, 429);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], 429, "{v}");
    assert_eq!(node.stats.send_transaction_rate_limited(), 1);
    // Other methods are not limited, alone or beside nothing to send.
    let slot = br#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#;
    for _ in 0..5 {
        assert_eq!(node.http("POST", "/", slot).await.0, 200);
    }
    // A batch takes a token per sendTransaction in it: two do not fit in what refilled.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["1"]},
                     {"jsonrpc":"2.0","id":2,"method":"sendTransaction","params":["1"]}]"#;
    assert_eq!(node.http("POST", "/", batch).await.0, 429);
    assert_eq!(node.stats.send_transaction_rate_limited(), 2);
}

/// Waits (bounded) until `done` holds; the server counts a close just after the client sees it.
async fn eventually(done: impl Fn() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_cut_off_by_its_deadline_and_counted() {
    let limits = HttpLimits {
        body_read_timeout: Duration::from_millis(400),
        ..HttpLimits::default()
    };
    let node = start_bounded(PubSubLimits::default(), limits).await;
    let mut slow = TcpStream::connect(node.addr).await.unwrap();
    slow.write_all(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let (mut rd, mut wr) = slow.into_split();
    // A byte every 100 ms: each arrives well within the deadline, so only a deadline on the whole
    // body (not one per read) stops it.
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if wr.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut got = Vec::new();
    let closed = tokio::time::timeout(3 * limits.body_read_timeout, async {
        let mut buf = [0u8; 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a trickled body held the connection for {:?}",
        started.elapsed()
    );
    // Whatever the client saw before the close (the kernel may reset it with bytes unread), it
    // was never a 200.
    assert!(!got.starts_with(b"HTTP/1.1 200"), "{got:?}");
    trickle.abort();
    eventually(|| node.stats.connections_open() == 0).await;
    assert_eq!(node.stats.bodies_timed_out(), 1);
    assert_eq!(node.stats.connections_open(), 0);
    // A body that arrives at once is served as before.
    let slot = br#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#;
    assert_eq!(node.http("POST", "/", slot).await.0, 200);
    assert_eq!(node.stats.bodies_timed_out(), 1);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_and_counted() {
    let limits = HttpLimits {
        // Far past the idle timeout, so that only the idle timer can close the connection.
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_millis(300),
        ..HttpLimits::default()
    };
    let node = start_bounded(PubSubLimits::default(), limits).await;
    let mut idle = TcpStream::connect(node.addr).await.unwrap();
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    idle.write_all(head.as_bytes()).await.unwrap();
    idle.write_all(body).await.unwrap();
    // The answer comes and then, with nothing more sent, the close.
    let answer = closed_within(&mut idle, 3 * limits.idle_timeout)
        .await
        .expect("an idle keep-alive connection stayed open");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    eventually(|| node.stats.connections_idle_closed() == 1).await;
    assert_eq!(node.stats.connections_idle_closed(), 1);
    assert_eq!(node.stats.connections_timed_out(), 0);

    // A connection that keeps asking is not idle, though it lives past the idle timeout.
    let mut busy = TcpStream::connect(node.addr).await.unwrap();
    for _ in 0..4 {
        busy.write_all(head.as_bytes()).await.unwrap();
        busy.write_all(body).await.unwrap();
        let mut buf = [0u8; 4096];
        let n = busy.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        tokio::time::sleep(limits.idle_timeout / 3).await;
    }
    assert_eq!(node.stats.connections_idle_closed(), 1);
}

#[tokio::test]
async fn one_address_holds_at_most_its_connections_and_gets_more_as_it_closes_some() {
    let limits = HttpLimits {
        connections_max: 64,
        connections_per_ip_max: 4,
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        ..HttpLimits::default()
    };
    let node = start_bounded(PubSubLimits::default(), limits).await;
    let mut held = Vec::new();
    for _ in 0..limits.connections_per_ip_max {
        held.push(slowloris(node.addr).await);
    }
    eventually(|| node.stats.connections_open() == limits.connections_per_ip_max as u64).await;
    assert_eq!(
        node.stats.connections_open(),
        limits.connections_per_ip_max as u64
    );
    // Three more from 127.0.0.1: each is closed at accept without an answer, and counted.
    for _ in 0..3 {
        let mut extra = TcpStream::connect(node.addr).await.unwrap();
        let _ = extra.write_all(b"GET /health HTTP/1.1\r\n\r\n").await;
        let answer = closed_within(&mut extra, Duration::from_secs(2)).await;
        assert_eq!(
            answer,
            Some(Vec::new()),
            "a connection over the cap was served"
        );
    }
    assert_eq!(node.stats.connections_refused_per_ip(), 3);
    // The port's own cap was not reached.
    assert_eq!(node.stats.connections_refused(), 0);
    // Closing two makes room for two.
    held.truncate(limits.connections_per_ip_max - 2);
    eventually(|| node.stats.connections_open() == held.len() as u64).await;
    for _ in 0..2 {
        held.push(slowloris(node.addr).await);
    }
    eventually(|| node.stats.connections_open() == limits.connections_per_ip_max as u64).await;
    assert_eq!(
        node.stats.connections_open(),
        limits.connections_per_ip_max as u64
    );
    assert_eq!(node.stats.connections_refused_per_ip(), 3);
    // And once all go, plain requests are served again.
    drop(held);
    eventually(|| node.stats.connections_open() == 0).await;
    assert_eq!(node.http("GET", "/health", b"").await.0, 200);
}

#[tokio::test]
async fn the_pubsub_port_closes_slowloris_senders_and_still_upgrades() {
    let node = start_bounded(PubSubLimits::default(), LIMITS).await;
    assert!(
        trickled_head_is_cut_off(node.ws_addr).await,
        "the PubSub port held a head sent a byte at a time"
    );
    eventually(|| node.stats.connections_timed_out() >= 1).await;
    // A WebSocket upgrade on the same port is served as before, and outlives the header timer.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", node.ws_addr))
        .await
        .expect("upgrade");
    tokio::time::sleep(LIMITS.header_read_timeout * 2).await;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        r#"{"jsonrpc":"2.0","id":1,"method":"slotSubscribe"}"#.into(),
    ))
    .await
    .expect("send");
    let answer = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .expect("an answer in time")
        .expect("open")
        .expect("a frame");
    assert!(
        answer.to_text().unwrap_or("").contains("\"result\""),
        "{answer:?}"
    );
}
