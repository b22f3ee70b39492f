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
use dataplane::types::{Hash, Pubkey, Signature, Slot};
use dataplane::udp::{UdpBackend, UdpOptions, UdpSender};
use dataplane::vote::{build_vote_txn, vote_account_address, Lockout, TowerSync, VoteInstruction};
use ed25519_dalek::{Signer as _, SigningKey};
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

/// Floods the UDP TPU at `to` from one thread with copies of `template`, each with another
/// signature, from 8 source addresses (so no one address's limit stops it), until `stop`.
fn udp_flood(
    to: SocketAddr,
    template: Vec<u8>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut senders: Vec<UdpSender> = (10..18u8)
            .map(|host| {
                let socket = std::net::UdpSocket::bind(SocketAddr::from(([127, 0, 0, host], 0)))
                    .expect("flood socket");
                UdpSender::new(socket, UdpBackend::Mmsg, UdpOptions::default()).expect("sender")
            })
            .collect();
        let mut run: Vec<Vec<u8>> = vec![template; 64];
        let mut n = 1u64 << 48;
        while !stop.load(Ordering::Relaxed) {
            for tx in &mut run {
                n += 1;
                tx[1..9].copy_from_slice(&n.to_le_bytes());
            }
            let payloads: Vec<&[u8]> = run.iter().map(|t| t.as_slice()).collect();
            let sender = &mut senders[(n % 8) as usize];
            if let Ok(k) = sender.send_same_dest(to, &payloads) {
                sent.fetch_add(k as u64, Ordering::Relaxed);
            }
        }
    })
}

/// Sends `bytes` on one unidirectional stream, as a validator forwards: without waiting for it to
/// be read.
async fn send_unacknowledged(connection: &quinn::Connection, bytes: &[u8]) {
    let mut stream = connection.open_uni().await.expect("a stream");
    stream.write_all(bytes).await.expect("written");
    stream.finish().expect("finished");
}

/// A vote transaction of a throwaway voter for `slot`: it passes the edge's checks (a vote, signed)
/// and is then dropped by the core (not a validator's), which leaves consensus alone.
fn stranger_vote(voter: &SigningKey, slot: u64, blockhash: &Hash) -> Vec<u8> {
    let identity = Pubkey(voter.verifying_key().to_bytes());
    let tower = TowerSync {
        lockouts: vec![Lockout {
            slot: Slot(slot),
            confirmation_count: 1,
        }],
        root: None,
        hash: Hash([slot as u8; 32]),
        timestamp: None,
        block_id: Hash([7; 32]),
    };
    build_vote_txn(
        &identity,
        &vote_account_address(&identity),
        &VoteInstruction::TowerSync(tower),
        blockhash,
        |m| voter.sign(m).to_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unstaked_flood_at_ten_times_verify_capacity_does_not_crowd_out_staked_transactions_or_votes(
) {
    let node = TestValidator::start(Options::default());
    let quic = node.tpu_quic_addr;
    let staked_key =
        blackbook::wallet::read_keypair_file(&node.dir.path().join("identity.json")).unwrap();
    let blockhash = node.blockhash();

    // The flood, transfers with bad signatures: 8 unstaked QUIC connections from each of 8
    // addresses, and the UDP TPU from 8 more.
    let mut junk = build_transfer(&node.accounts[1], &Pubkey([9; 32]), 1, &blockhash);
    junk[1] ^= 0xff;
    let stop = Arc::new(AtomicBool::new(false));
    let (quic_sent, udp_sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
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
                    quic_sent.clone(),
                )),
            ));
        }
    }
    let udp = udp_flood(node.tpu_addr, junk.clone(), stop.clone(), udp_sent.clone());
    let bad_signatures = || node.metric("blackbook_rejected_total{reason=\"bad_signature\"}");
    let rejected_before = bad_signatures();
    let votes_before = node.metric("blackbook_votes_verified_total");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Meanwhile a staked validator sends transfers to the QUIC TPU (as it forwards) and votes to
    // the QUIC vote socket, each at a steady 50 a second.
    let staked = client(tpu_quic::client_config(&staked_key).unwrap());
    let connection = connect(&staked, quic).await.expect("staked handshake");
    let votes = connect(&staked, node.tpu_vote_quic_addr)
        .await
        .expect("staked vote handshake");
    let alice = &node.accounts[0];
    let voter = fresh_identity();
    let started = std::time::Instant::now();
    let mut signatures = Vec::new();
    for n in 0..200u64 {
        let wire = build_transfer(alice, &Pubkey([7; 32]), 1_000 + n, &blockhash);
        signatures.push(Signature(wire[1..65].try_into().unwrap()).to_string());
        send_unacknowledged(&connection, &wire).await;
        send_unacknowledged(&votes, &stranger_vote(&voter, 1 + n, &blockhash)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let flood_secs = started.elapsed().as_secs_f64() + 1.0;
    stop.store(true, Ordering::Relaxed);
    let offered = quic_sent.load(Ordering::Relaxed) + udp_sent.load(Ordering::Relaxed);
    let verified_bad = bad_signatures() - rejected_before;
    let _ = udp.join();

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
    let votes_verified = node.metric("blackbook_votes_verified_total") - votes_before;
    println!(
        "flood: {offered} unstaked transactions offered in {flood_secs:.1} s ({:.0}/s: QUIC {}, \
         UDP {}), {verified_bad} verified and refused ({:.0}/s): {:.1}x; shed before sigverify: \
         QUIC {}, UDP fetch and sigverify {}; staked: {landed} of {} transfers landed, \
         {votes_verified} of 200 votes verified",
        offered as f64 / flood_secs,
        quic_sent.load(Ordering::Relaxed),
        udp_sent.load(Ordering::Relaxed),
        verified_bad as f64 / flood_secs,
        offered as f64 / verified_bad.max(1) as f64,
        node.metric("blackbook_tpu_quic_queue_full_total"),
        node.metric("blackbook_rejected_total{reason=\"queue_full\"}"),
        signatures.len()
    );
    // The node verified as much as it could (the flood reached sigverify) and was offered ten
    // times that.
    assert!(
        verified_bad > 4 * signatures.len() as u64,
        "the flood did not reach sigverify: {verified_bad} refused"
    );
    assert!(
        offered >= 10 * verified_bad,
        "the flood was {:.1}x what the node verified, not 10x",
        offered as f64 / verified_bad as f64
    );
    assert!(
        landed * 100 >= signatures.len() * 95,
        "{landed} of {} staked transactions landed under the flood",
        signatures.len()
    );
    assert!(
        votes_verified * 100 >= 200 * 95,
        "{votes_verified} of 200 staked votes reached the control plane under the flood"
    );
    for (_, task) in flooders {
        task.abort();
    }
}
