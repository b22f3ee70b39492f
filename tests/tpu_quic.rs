//! The QUIC TPU against a real node: a client as Solana's TPU clients are (ALPN `solana-tpu`, a
//! self-signed certificate of a throwaway identity, one transaction per unidirectional stream)
//! lands a transfer; `getClusterNodes` advertises where; a wrong ALPN, an oversized stream and one
//! connection past the per-address cap are refused and counted, and the node keeps serving.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use blackbook::tpu_quic::{self, CONNECTIONS_PER_IP_MAX, STAKED_STREAMS_MIN, UNSTAKED_STREAMS};
use common::{Options, TestValidator};
use dataplane::txn::build_transfer;
use dataplane::types::{Pubkey, Signature};
use ed25519_dalek::SigningKey;
use serde_json::json;

/// A client endpoint on loopback presenting a fresh identity, as an unstaked wallet would.
fn client(config: quinn::ClientConfig) -> quinn::Endpoint {
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(config);
    endpoint
}

fn fresh_identity() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

async fn connect(endpoint: &quinn::Endpoint, to: SocketAddr) -> Result<quinn::Connection, String> {
    let connecting = endpoint
        .connect(to, "solana-tpu")
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())
}

/// Sends `bytes` on one unidirectional stream and finishes it; an error if the server stopped it.
async fn send_stream(connection: &quinn::Connection, bytes: &[u8]) -> Result<(), String> {
    let mut stream = connection.open_uni().await.map_err(|e| e.to_string())?;
    stream.write_all(bytes).await.map_err(|e| e.to_string())?;
    stream.finish().map_err(|e| e.to_string())?;
    // Until the server has read it all, or stopped it.
    match tokio::time::timeout(Duration::from_secs(5), stream.stopped()).await {
        Ok(Ok(None)) => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solana_style_quic_client_lands_a_transfer_and_abuse_is_refused() {
    let node = TestValidator::start(Options::default());
    let quic = node.tpu_quic_addr;

    // Advertised where it listens.
    let nodes = node.rpc("getClusterNodes", json!([]));
    assert_eq!(nodes[0]["tpuQuic"], json!(quic.to_string()), "{nodes}");

    // A transfer over QUIC lands.
    let endpoint = client(tpu_quic::client_config(&fresh_identity()).unwrap());
    let connection = connect(&endpoint, quic).await.expect("handshake");
    let alice = &node.accounts[0];
    let bob = Pubkey(node.accounts[1].verifying_key().to_bytes());
    let before = node.balance(&bob);
    let wire = build_transfer(alice, &bob, 1_234, &node.blockhash());
    send_stream(&connection, &wire).await.expect("read whole");
    let signature = Signature(wire[1..65].try_into().unwrap()).to_string();
    node.wait_finalized(&signature, Duration::from_secs(30));
    assert_eq!(node.balance(&bob), before + 1_234);
    node.wait_metric("blackbook_tpu_quic_transactions_total", 1);
    assert!(node.metric("blackbook_tpu_quic_identified_connections_total") >= 1);

    // A stream longer than any transaction is stopped and counted, and lands nothing.
    let oversized = send_stream(&connection, &vec![7u8; 4_000]).await;
    assert!(oversized.is_err(), "an oversized stream was read whole");
    node.wait_metric("blackbook_tpu_quic_streams_oversized_total", 1);

    // Another protocol is refused at the handshake.
    let wrong = tpu_quic::client_config_with_alpn(&fresh_identity(), b"h3").unwrap();
    let refused = connect(&client(wrong), quic).await;
    assert!(refused.is_err(), "a handshake without solana-tpu succeeded");

    // One address holds at most its connections: the next is refused, and counted.
    let mut held = vec![connection];
    let mut endpoints = Vec::new();
    for _ in 1..CONNECTIONS_PER_IP_MAX {
        let e = client(tpu_quic::client_config(&fresh_identity()).unwrap());
        held.push(connect(&e, quic).await.expect("within the per-address cap"));
        endpoints.push(e);
    }
    let over = client(tpu_quic::client_config(&fresh_identity()).unwrap());
    assert!(
        connect(&over, quic).await.is_err(),
        "past the per-address cap"
    );
    node.wait_metric("blackbook_tpu_quic_connections_refused_per_ip_total", 1);

    // Closing one makes room again, and the node still lands transfers.
    held.pop().unwrap().close(0u32.into(), b"done");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = client(tpu_quic::client_config(&fresh_identity()).unwrap());
    let connection = connect(&again, quic).await.expect("room again");
    let wire = build_transfer(alice, &bob, 4_321, &node.blockhash());
    send_stream(&connection, &wire).await.expect("read whole");
    let signature = Signature(wire[1..65].try_into().unwrap()).to_string();
    node.wait_finalized(&signature, Duration::from_secs(30));
    assert_eq!(node.balance(&bob), before + 1_234 + 4_321);
}

/// How many streams `connection` can open at once (each written to, none finished), up to `most`.
async fn streams_open_at_once(connection: &quinn::Connection, most: u32) -> u32 {
    let mut open = Vec::new();
    for _ in 0..most {
        match tokio::time::timeout(Duration::from_millis(300), connection.open_uni()).await {
            Ok(Ok(mut stream)) => {
                stream.write_all(&[1]).await.expect("one byte");
                open.push(stream);
            }
            _ => break,
        }
    }
    open.len() as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staked_identities_get_streams_by_stake_and_unstaked_ones_a_small_budget() {
    let node = TestValidator::start(Options::default());
    let quic = node.tpu_quic_addr;
    // The genesis stakes the validator's identity: a peer presenting it is staked.
    let staked_key =
        blackbook::wallet::read_keypair_file(&node.dir.path().join("identity.json")).unwrap();

    let unstaked = client(tpu_quic::client_config(&fresh_identity()).unwrap());
    let connection = connect(&unstaked, quic).await.expect("handshake");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        streams_open_at_once(&connection, UNSTAKED_STREAMS + 8).await,
        UNSTAKED_STREAMS
    );

    let staked = client(tpu_quic::client_config(&staked_key).unwrap());
    let connection = connect(&staked, quic).await.expect("handshake");
    // The larger budget is granted once the server knows who it is.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let want = STAKED_STREAMS_MIN + 64;
    assert_eq!(streams_open_at_once(&connection, want).await, want);
    node.wait_metric("blackbook_tpu_quic_staked_connections_total", 1);

    // A staked peer is not held to the per-address cap: once identified, its connections stop
    // counting against its address.
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS_PER_IP_MAX + 4 {
        let endpoint = client(tpu_quic::client_config(&staked_key).unwrap());
        let c = connect(&endpoint, quic)
            .await
            .expect("a staked peer's handshake");
        // The server identifies it a moment after the client's side of the handshake ends.
        tokio::time::sleep(Duration::from_millis(100)).await;
        held.push((endpoint, c));
    }
    assert!(held.iter().all(|(_, c)| c.close_reason().is_none()));
    assert_eq!(
        node.metric("blackbook_tpu_quic_connections_refused_per_ip_total"),
        0
    );
}

/// A client endpoint bound to loopback address `127.0.0.{host}`: a flood from many addresses, as
/// from many machines.
fn client_at(host: u8, config: quinn::ClientConfig) -> quinn::Endpoint {
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, host], 0))).unwrap();
    endpoint.set_default_client_config(config);
    endpoint
}

/// Pumps transactions over `connection` as fast as its stream credit allows, until `stop`; each a
/// copy of `template` with another signature (so none is a duplicate, and each costs a verify).
async fn flood(
    connection: quinn::Connection,
    template: Vec<u8>,
    seed: u64,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    let mut tx = template;
    let mut n = seed << 32;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        tx[1..9].copy_from_slice(&n.to_le_bytes());
        let Ok(mut stream) = connection.open_uni().await else {
            return;
        };
        if stream.write_all(&tx).await.is_err() || stream.finish().is_err() {
            return;
        }
        sent.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unstaked_flood_does_not_crowd_out_a_staked_peers_transactions() {
    let node = TestValidator::start(Options::default());
    let quic = node.tpu_quic_addr;
    let staked_key =
        blackbook::wallet::read_keypair_file(&node.dir.path().join("identity.json")).unwrap();
    let blockhash = node.blockhash();

    // The flood: 8 unstaked connections from each of 8 addresses, transfers with bad signatures.
    let mut junk = build_transfer(&node.accounts[1], &Pubkey([9; 32]), 1, &blockhash);
    junk[1] ^= 0xff;
    let stop = Arc::new(AtomicBool::new(false));
    let flood_sent = Arc::new(AtomicU64::new(0));
    let mut flooders = Vec::new();
    for host in 2..10u8 {
        for c in 0..CONNECTIONS_PER_IP_MAX as u64 {
            let endpoint = client_at(host, tpu_quic::client_config(&fresh_identity()).unwrap());
            let connection = connect(&endpoint, quic).await.expect("flood handshake");
            flooders.push((
                endpoint,
                tokio::spawn(flood(
                    connection,
                    junk.clone(),
                    u64::from(host) * 100 + c,
                    stop.clone(),
                    flood_sent.clone(),
                )),
            ));
        }
    }
    let rejected_before = node.metric("blackbook_rejected_total{reason=\"bad_signature\"}");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Meanwhile a staked peer sends transfers at a steady 50 a second.
    let staked = client(tpu_quic::client_config(&staked_key).unwrap());
    let connection = connect(&staked, quic).await.expect("staked handshake");
    let alice = &node.accounts[0];
    let started = std::time::Instant::now();
    let mut signatures = Vec::new();
    for n in 0..200u64 {
        let wire = build_transfer(alice, &Pubkey([7; 32]), 1_000 + n, &blockhash);
        signatures.push(Signature(wire[1..65].try_into().unwrap()).to_string());
        let mut stream = connection.open_uni().await.expect("staked stream");
        stream.write_all(&wire).await.expect("staked write");
        stream.finish().expect("staked finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let flood_secs = started.elapsed().as_secs_f64() + 1.0;
    stop.store(true, Ordering::Relaxed);
    let offered = flood_sent.load(Ordering::Relaxed);
    let verified_bad =
        node.metric("blackbook_rejected_total{reason=\"bad_signature\"}") - rejected_before;

    // Landed: confirmed within 30 s of the last send.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let landed = loop {
        let statuses = node.rpc(
            "getSignatureStatuses",
            json!([signatures, {"searchTransactionHistory": true}]),
        );
        let landed = statuses["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["confirmationStatus"] == "confirmed" || s["confirmationStatus"] == "finalized"
            })
            .count();
        if landed == signatures.len() || std::time::Instant::now() > deadline {
            break landed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "flood: {offered} unstaked transactions offered in {flood_secs:.1} s ({:.0}/s), \
         {verified_bad} verified and refused ({:.0}/s), {} shed before sigverify; \
         staked: {landed} of {} landed",
        offered as f64 / flood_secs,
        verified_bad as f64 / flood_secs,
        node.metric("blackbook_tpu_quic_queue_full_total"),
        signatures.len()
    );
    assert!(
        verified_bad > 4 * signatures.len() as u64,
        "the flood did not reach sigverify: {verified_bad} refused"
    );
    assert!(
        landed * 100 >= signatures.len() * 95,
        "{landed} of {} staked transactions landed under the flood",
        signatures.len()
    );
    for (_, task) in flooders {
        task.abort();
    }
}
