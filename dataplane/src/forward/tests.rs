use std::sync::Mutex;
use std::time::Duration;

use ed25519_dalek::SigningKey;

use super::*;
use crate::txn::build_transfer;
use crate::types::{Hash, Pubkey};

fn transfers(n: u8) -> Vec<Txn> {
    (0..n)
        .map(|i| {
            let key = SigningKey::from_bytes(&[i + 1; 32]);
            Txn::parse(&build_transfer(&key, &Pubkey([9; 32]), 1, &Hash([4; 32]))).unwrap()
        })
        .collect()
}

#[test]
fn forwarded_transactions_arrive_byte_for_byte_at_the_target_and_are_counted() {
    let leader = UdpSocket::bind("127.0.0.1:0").unwrap();
    leader
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let to = leader.local_addr().unwrap();
    let mut f = Forwarder::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    assert_eq!(f.target(), None, "a new forwarder holds");
    f.set_target(Some(ForwardTarget::udp(to)));
    assert_eq!(f.target(), Some(ForwardTarget::udp(to)));

    let txns = transfers(40);
    let wires: Vec<Vec<u8>> = txns.iter().map(|t| t.bytes().to_vec()).collect();
    assert_eq!(f.send(txns, ForwardTarget::udp(to)), 40);
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while got.len() < wires.len() {
        let n = leader.recv(&mut buf).expect("a forwarded transaction");
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got, wires, "same bytes, same order");
    assert_eq!(f.stats().forwarded.load(Ordering::Relaxed), 40);
    assert_eq!(f.stats().failed.load(Ordering::Relaxed), 0);
}

/// Batches taken, with where they were for.
type Taken = Arc<Mutex<Vec<(SocketAddr, Vec<Box<[u8]>>)>>>;

/// A QUIC sender that takes batches while `open`, and keeps what it took.
#[derive(Clone, Default)]
struct FakeQuic {
    open: Arc<std::sync::atomic::AtomicBool>,
    taken: Taken,
}

impl QuicForward for FakeQuic {
    fn try_forward(&self, to: SocketAddr, txns: Vec<Box<[u8]>>) -> Result<(), Vec<Box<[u8]>>> {
        if !self.open.load(Ordering::Relaxed) {
            return Err(txns);
        }
        self.taken.lock().unwrap().push((to, txns));
        Ok(())
    }
}

#[test]
fn a_leader_with_a_quic_tpu_gets_forwards_over_quic_and_udp_takes_what_quic_refuses() {
    let leader = UdpSocket::bind("127.0.0.1:0").unwrap();
    leader
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let quic_addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let quic = FakeQuic::default();
    quic.open.store(true, Ordering::Relaxed);
    let mut f = Forwarder::new(UdpSocket::bind("127.0.0.1:0").unwrap())
        .unwrap()
        .with_quic(Box::new(quic.clone()));
    let target = ForwardTarget {
        tpu: leader.local_addr().unwrap(),
        tpu_quic: Some(quic_addr),
    };
    let txns = transfers(10);
    let wires: Vec<Vec<u8>> = txns.iter().map(|t| t.bytes().to_vec()).collect();
    assert_eq!(f.send(txns, target), 10);
    {
        let taken = quic.taken.lock().unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].0, quic_addr);
        let got: Vec<Vec<u8>> = taken[0].1.iter().map(|w| w.to_vec()).collect();
        assert_eq!(got, wires);
    }
    assert_eq!(f.stats().forwarded_quic.load(Ordering::Relaxed), 10);

    // QUIC cannot take them now: the same batch goes by UDP instead, none lost.
    quic.open.store(false, Ordering::Relaxed);
    let txns = transfers(5);
    let wires: Vec<Vec<u8>> = txns.iter().map(|t| t.bytes().to_vec()).collect();
    assert_eq!(f.send(txns, target), 5);
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while got.len() < wires.len() {
        let n = leader.recv(&mut buf).expect("a forwarded transaction");
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got, wires);
    // A leader without a QUIC TPU is reached by UDP even while QUIC takes batches.
    quic.open.store(true, Ordering::Relaxed);
    assert_eq!(f.send(transfers(3), ForwardTarget::udp(target.tpu)), 3);
    for _ in 0..3 {
        leader.recv(&mut buf).expect("a forwarded transaction");
    }
    assert_eq!(quic.taken.lock().unwrap().len(), 1);
    assert_eq!(f.stats().forwarded.load(Ordering::Relaxed), 18);
    assert_eq!(f.stats().forwarded_quic.load(Ordering::Relaxed), 10);
}
