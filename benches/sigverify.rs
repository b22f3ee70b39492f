//! Signature verification: bare ed25519 `verify_strict` beside the node's sigverify stage (parse,
//! dedup, strict verify, hand-off) on 1 and 2 threads. Throughput is signatures/s.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_channel::bounded;
use dataplane::metrics::{Reject, RejectCounters};
use dataplane::packet::{PacketBatch, PacketBatchPool, PACKETS_PER_BATCH};
use dataplane::sigverify::SigverifyStage;
use dataplane::txn::{build_transfer, TxnView};
use dataplane::types::{Hash, Pubkey};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

/// Distinct signed transfers (the stage's dedup filter must never see a repeat within its window).
const POOL: usize = 131_072;
/// Transactions per measured iteration.
const PER_ITER: usize = 4_096;

fn signed_pool() -> Vec<Vec<u8>> {
    let keys: Vec<SigningKey> = (0..256u64)
        .map(|i| SigningKey::from_bytes(&Hash::hashv(&[b"sigverify-bench", &i.to_le_bytes()]).0))
        .collect();
    std::thread::scope(|s| {
        let halves: Vec<_> = (0..2)
            .map(|h| {
                let keys = &keys;
                s.spawn(move || {
                    (h * POOL / 2..(h + 1) * POOL / 2)
                        .map(|i| {
                            build_transfer(
                                &keys[i % 256],
                                &Pubkey([7; 32]),
                                1 + i as u64,
                                &Hash([3; 32]),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves
            .into_iter()
            .flat_map(|h| h.join().expect("signer"))
            .collect()
    })
}

fn bare_verify(wire: &[u8]) -> bool {
    let v = TxnView::new(wire).expect("valid");
    let key = VerifyingKey::from_bytes(v.account_key_bytes(0)).expect("key");
    key.verify_strict(v.message(), &Signature::from_bytes(v.signature_bytes(0)))
        .is_ok()
}

fn sigverify(c: &mut Criterion) {
    let pool = signed_pool();
    let mut g = c.benchmark_group("sigverify");
    g.throughput(Throughput::Elements(PER_ITER as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    for threads in [1usize, 2] {
        g.bench_with_input(
            BenchmarkId::new("verify_strict_bare", threads),
            &threads,
            |b, &t| {
                let mut next = 0usize;
                b.iter(|| {
                    let start = next;
                    next = (next + PER_ITER) % POOL;
                    std::thread::scope(|s| {
                        for part in 0..t {
                            let pool = &pool;
                            s.spawn(move || {
                                for i in (part..PER_ITER).step_by(t) {
                                    assert!(bare_verify(&pool[(start + i) % POOL]));
                                }
                            });
                        }
                    });
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("stage", threads), &threads, |b, &t| {
            let exit = Arc::new(AtomicBool::new(false));
            let counters = Arc::new(RejectCounters::default());
            let batches = PacketBatchPool::new(256);
            let (in_tx, in_rx) = bounded::<PacketBatch>(256);
            let (out_tx, out_rx) = bounded(1024);
            let stage = SigverifyStage::spawn(
                t,
                in_rx,
                out_tx,
                batches.recycler(),
                counters.clone(),
                exit.clone(),
            )
            .expect("spawn");
            let from: std::net::SocketAddr = "127.0.0.1:1".parse().expect("addr");
            let mut next = 0usize;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let mut sent = 0;
                    let mut received = 0;
                    // A packet the dedup filter takes for a repeat (the pool cycles; the filter is
                    // probabilistic) is rejected, not handed on: count it as handled, or the wait below
                    // would never end.
                    let rejected_before = counters.get(Reject::DuplicateSignature);
                    while sent < PER_ITER {
                        let mut batch = batches.take();
                        for _ in 0..PACKETS_PER_BATCH.min(PER_ITER - sent) {
                            batch.push(&pool[next], from);
                            next = (next + 1) % POOL;
                            sent += 1;
                        }
                        in_tx.send(batch).expect("stage running");
                        while let Ok(v) = out_rx.try_recv() {
                            received += v.len();
                        }
                    }
                    while received + dups(&counters, rejected_before) < PER_ITER {
                        if let Ok(v) = out_rx.recv_timeout(Duration::from_millis(1)) {
                            received += v.len();
                        }
                    }
                    total += start.elapsed();
                }
                total
            });
            let repeats = counters.get(Reject::DuplicateSignature);
            if repeats > 0 {
                // Each one inflates the rate a little (a repeat is cheaper than a verify).
                eprintln!("sigverify/stage/{t}: {repeats} packets rejected as repeats");
            }
            exit.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(in_tx);
            let _ = stage.join();
        });
    }
    g.finish();
}

criterion_group!(benches, sigverify);
criterion_main!(benches);

/// Packets the stage rejected as repeats since `before`.
fn dups(counters: &RejectCounters, before: u64) -> usize {
    counters
        .get(Reject::DuplicateSignature)
        .saturating_sub(before) as usize
}
