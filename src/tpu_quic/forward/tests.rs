use std::time::Duration;

use dataplane::forward::{ForwardTarget, Forwarder};
use dataplane::metrics::RejectCounters;
use dataplane::packet::{PacketBatch, PacketBatchPool, PacketFlags};
use dataplane::txn::{build_transfer, Txn};
use dataplane::types::{Hash, Pubkey};

use super::*;
use crate::tpu_quic::{serve, server_config, QuicLimits, QuicStats, Stakes, TpuSink};

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn pk(k: &SigningKey) -> Pubkey {
    Pubkey(k.verifying_key().to_bytes())
}

fn transfers(n: u8) -> Vec<Txn> {
    (0..n)
        .map(|i| {
            Txn::parse(&build_transfer(
                &key(100 + i),
                &Pubkey([9; 32]),
                1,
                &Hash([4; 32]),
            ))
            .unwrap()
        })
        .collect()
}

/// A QUIC TPU on loopback for the leader `leader`, which knows `staked` as staked; what it reads
/// comes out of the returned queue.
fn leader_tpu(
    runtime: &tokio::runtime::Runtime,
    leader: &SigningKey,
    staked: Pubkey,
) -> (
    SocketAddr,
    crossbeam_channel::Receiver<PacketBatch>,
    Arc<QuicStats>,
) {
    let _on = runtime.enter();
    let endpoint = quinn::Endpoint::server(
        server_config(leader).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let addr = endpoint.local_addr().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(64);
    let sink = TpuSink {
        packets: tx,
        pool: PacketBatchPool::new(64),
        counters: Arc::new(RejectCounters::default()),
    };
    let stats = Arc::new(QuicStats::default());
    runtime.spawn(serve(
        endpoint,
        sink,
        Arc::new(Stakes::new([(pk(leader), 100), (staked, 100)])),
        stats.clone(),
        QuicLimits::default(),
        std::future::pending(),
    ));
    (addr, rx, stats)
}

#[test]
fn forwards_reach_the_leaders_quic_tpu_as_staked_and_an_unreachable_leader_falls_back_to_udp() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let me = key(1);
    let (quic_addr, packets, leader_stats) = leader_tpu(&runtime, &key(2), pk(&me));
    let stats = Arc::new(QuicForwardStats::default());
    let (quic, driver) = quic_forwarder(
        &me,
        "127.0.0.1".parse().unwrap(),
        stats.clone(),
        FORWARD_PEERS_MAX,
    )
    .unwrap();
    runtime.spawn(driver.run(std::future::pending()));
    let udp_leader = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp_leader
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut f = Forwarder::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .unwrap()
        .with_quic(Box::new(quic));

    let txns = transfers(40);
    let wires: Vec<Vec<u8>> = txns.iter().map(|t| t.bytes().to_vec()).collect();
    let target = ForwardTarget {
        tpu: udp_leader.local_addr().unwrap(),
        tpu_quic: Some(quic_addr),
    };
    assert_eq!(f.send(txns, target), 40);
    let mut got = Vec::new();
    while got.len() < wires.len() {
        let batch = packets
            .recv_timeout(Duration::from_secs(10))
            .expect("forwarded transactions over QUIC");
        assert!(
            batch
                .iter()
                .all(|p| p.flags().contains(PacketFlags::FORWARDED)),
            "a staked sender's transactions are marked as forwarded, never to be forwarded again"
        );
        got.extend(batch.iter().map(|p| p.data().to_vec()));
    }
    got.sort();
    let mut want = wires.clone();
    want.sort();
    assert_eq!(got, want, "every transaction, byte for byte");
    assert_eq!(stats.sent.load(Ordering::Relaxed), 40);
    assert_eq!(
        leader_stats.staked_transactions.load(Ordering::Relaxed),
        40,
        "the leader counts them as staked"
    );
    assert_eq!(f.stats().forwarded_quic.load(Ordering::Relaxed), 40);

    // A leader whose QUIC port answers nothing: the first batch is lost to the failed handshake
    // (counted); from then on its batches go by UDP.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = ForwardTarget {
        tpu: target.tpu,
        tpu_quic: Some(dead.local_addr().unwrap()),
    };
    f.send(transfers(3), silent);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stats.handshakes_failed.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the handshake never failed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(stats.failed.load(Ordering::Relaxed), 3);
    let txns = transfers(5);
    let wires: Vec<Vec<u8>> = txns.iter().map(|t| t.bytes().to_vec()).collect();
    assert_eq!(f.send(txns, silent), 5);
    let mut buf = [0u8; 2048];
    for want in &wires {
        let n = udp_leader.recv(&mut buf).expect("sent by UDP instead");
        assert_eq!(&buf[..n], &want[..]);
    }
    assert_eq!(stats.sent_by_udp.load(Ordering::Relaxed), 5);
}
