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
    f.set_target(Some(to));
    assert_eq!(f.target(), Some(to));

    let txns = transfers(40);
    let wires: Vec<Vec<u8>> = txns.iter().map(|t| t.bytes().to_vec()).collect();
    assert_eq!(f.send(txns, to), 40);
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
