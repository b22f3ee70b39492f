//! Shredding: the leader's whole path (cut + Reed-Solomon encode + Merkle + sign) over 1 MiB of slot
//! data, beside each part alone per 32 + 32 set, so the figures say where the time goes. Throughput is
//! in bytes of *input* slot data (a set carries 32 × 981 B); `shred_sets` gives FEC sets/s.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dataplane::shred::{
    erasure_shard_len, fec_set_root, proof_depth, FecConfig, Root, Shredder, SHRED_SIZE,
};
use ed25519_dalek::{Signer, SigningKey};
use rand::{Rng, SeedableRng};
use reed_solomon_simd::ReedSolomonEncoder;

/// Slot bytes per `full` iteration.
const INPUT: usize = 1 << 20;

fn input(len: usize) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    (0..len).map(|_| rng.gen()).collect()
}

fn shred_slot(key: &SigningKey, data: &[u8], out: &mut Vec<[u8; SHRED_SIZE]>) -> Root {
    out.clear();
    let mut s = Shredder::new(key, 10, 9, 1, Root::default(), FecConfig::default())
        .expect("valid shredder");
    s.push(data, true, out).expect("push");
    s.finish(&[], out).expect("finish")
}

fn shred(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let data = input(INPUT);
    let config = FecConfig::default();
    let set_bytes = config.set_capacity();
    let mut out = Vec::with_capacity(2 * INPUT / 900);
    shred_slot(&key, &data, &mut out);
    let sets = out.len() as u64 / 64 + 1;

    let mut g = c.benchmark_group("shred");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(INPUT as u64));
    g.bench_function("full", |b| {
        b.iter(|| black_box(shred_slot(&key, &data, &mut out)))
    });

    // The parts, one 32 + 32 set each (throughput: the set's 31,392 input bytes).
    g.throughput(Throughput::Bytes(set_bytes as u64));
    let depth = proof_depth(64);
    let shard_len = erasure_shard_len(depth);
    let shards: Vec<Vec<u8>> = (0..32)
        .map(|i| data[i * shard_len..(i + 1) * shard_len].to_vec())
        .collect();
    let mut encoder = ReedSolomonEncoder::new(32, 32, shard_len).expect("encoder");
    g.bench_function("rs_encode_only", |b| {
        b.iter(|| {
            for s in &shards {
                encoder.add_original_shard(s).expect("shard");
            }
            let r = encoder.encode().expect("encode");
            black_box(r.recovery(0).map(|p| p[0]));
        })
    });
    let set: Vec<[u8; SHRED_SIZE]> = out[..64].to_vec();
    g.bench_function("merkle_only", |b| b.iter(|| black_box(fec_set_root(&set))));
    let root = fec_set_root(&set).expect("root");
    g.bench_function("sign_only", |b| b.iter(|| black_box(key.sign(&root.0))));
    g.finish();

    let mut g = c.benchmark_group("shred_sets");
    g.sample_size(20);
    g.throughput(Throughput::Elements(sets));
    g.bench_function("full", |b| {
        b.iter(|| black_box(shred_slot(&key, &data, &mut out)))
    });
    g.finish();
}

criterion_group!(benches, shred);
criterion_main!(benches);
