//! PoH: the hash-chain generator unpaced beside a bare sequential SHA-256 loop (this core's limit),
//! and parallel PoH verification on 1 and 2 threads. Throughput is in hashes/s.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataplane::entry::{verify_entries, Entry};
use dataplane::genesis::DEFAULT_HASHES_PER_TICK;
use dataplane::poh::Poh;
use dataplane::types::Hash;
use sha2::{Digest, Sha256};

/// Hashes per measured iteration: 1 M ≈ 60 ms at this machine's ≈ 17 M hashes/s.
const HASHES: u64 = 1 << 20;

fn bare_chain(c: &mut Criterion) {
    let mut g = c.benchmark_group("poh");
    g.throughput(Throughput::Elements(HASHES));
    g.sample_size(20);
    g.bench_function("sha256_chain_bare", |b| {
        let mut state = [0u8; 32];
        b.iter(|| {
            for _ in 0..HASHES {
                state = Sha256::digest(state).into();
            }
            black_box(state)
        })
    });
    g.finish();

    // The generator at production tick size (a tick every 62,500 hashes), as the leader's PoH thread
    // runs it when it is behind the clock: 16 ticks = 1,000,000 hashes per iteration.
    let ticks = 16u64;
    let mut g = c.benchmark_group("poh");
    g.throughput(Throughput::Elements(ticks * DEFAULT_HASHES_PER_TICK));
    g.sample_size(20);
    g.bench_function("generator_unpaced", |b| {
        let mut poh = Poh::new(Hash::default(), DEFAULT_HASHES_PER_TICK);
        b.iter(|| {
            for _ in 0..ticks {
                poh.hash(u64::MAX);
                black_box(poh.tick());
            }
        })
    });
    g.finish();
}

fn verify(c: &mut Criterion) {
    // 64 ticks of 16,384 hashes: one slot's worth of entries at a large tick size.
    let hashes_per_tick = 16_384u64;
    let mut poh = Poh::new(Hash::default(), hashes_per_tick);
    let entries: Vec<Entry> = (0..64)
        .map(|_| {
            poh.hash(u64::MAX);
            let t = poh.tick().expect("tick due");
            Entry {
                num_hashes: t.num_hashes,
                hash: t.hash,
                transactions: vec![],
            }
        })
        .collect();
    let mut g = c.benchmark_group("poh_verify");
    g.throughput(Throughput::Elements(64 * hashes_per_tick));
    g.sample_size(20);
    for threads in [1usize, 2] {
        g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &t| {
            b.iter(|| verify_entries(&Hash::default(), &entries, t).expect("valid chain"))
        });
    }
    g.finish();
}

criterion_group!(benches, bare_chain, verify);
criterion_main!(benches);
