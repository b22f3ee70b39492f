//! The RPC port's connection bounds: a cap on open connections and a header-read timeout that
//! closes slowloris senders and idle keep-alive connections, each counted.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::pubsub::PubSubLimits;
use super::test_node::start_bounded;
use super::HttpLimits;

/// Slow senders are cut off quickly here (the node's default is 10 s).
const LIMITS: HttpLimits = HttpLimits {
    connections_max: 8,
    header_read_timeout: Duration::from_millis(400),
    send_transaction_per_sec: super::SEND_TRANSACTION_PER_IP_PER_SEC,
    send_transaction_burst: super::SEND_TRANSACTION_PER_IP_BURST,
};

/// The cap test holds its connections longer than it takes to try one more.
const CAP_LIMITS: HttpLimits = HttpLimits {
    connections_max: 8,
    header_read_timeout: Duration::from_secs(30),
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
    let mut slow = slowloris(node.addr).await;
    let trickle = async {
        // A byte every 100 ms never completes the head; the timeout counts from the first byte.
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
    assert!(
        closed_within(&mut slow, Duration::from_secs(1))
            .await
            .is_some(),
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
