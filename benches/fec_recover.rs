//! FEC set recovery through the assembler (copy in, Reed-Solomon decode, re-encode of the missing
//! coding leaves, Merkle tree check), for a 32 + 32 set with half its shreds lost: all 32 data shreds,
//! or a random half. Beside it the bare reed-solomon-simd decode. Throughput: the set's input bytes;
//! `fec_recover_sets` gives sets/s (target ≈ 330 µs per set, DESIGN §6).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dataplane::shred::{
    erasure_shard_len, proof_depth, FecConfig, InsertOutcome, Root, ShredVerifier, ShredView,
    Shredder, SlotAssembler, SHRED_SIZE,
};
use dataplane::types::Pubkey;
use ed25519_dalek::SigningKey;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reed_solomon_simd::ReedSolomonDecoder;

const SLOT: u64 = 10;

/// One full 32 + 32 set (the slot is exactly one set) and each shred's verified root.
fn one_set() -> (Vec<[u8; SHRED_SIZE]>, Vec<Root>) {
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let config = FecConfig::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let data: Vec<u8> = (0..config.set_capacity()).map(|_| rng.gen()).collect();
    let mut out = Vec::new();
    let mut s = Shredder::new(&key, SLOT, SLOT - 1, 1, Root::default(), config).expect("shredder");
    s.finish(&data, &mut out).expect("finish");
    let mut ver = ShredVerifier::new(1);
    let leader = Pubkey(key.verifying_key().to_bytes());
    let roots = out
        .iter()
        .map(|b| {
            ver.verify(&ShredView::parse(b).expect("parse"), &leader)
                .expect("verify")
        })
        .collect();
    (out, roots)
}

fn recover(asm: &mut SlotAssembler, shreds: &[[u8; SHRED_SIZE]], roots: &[Root], keep: &[usize]) {
    let mut completed = false;
    for &i in keep {
        let v = ShredView::parse(&shreds[i]).expect("parse");
        if let Ok(InsertOutcome::Inserted(ins)) = asm.insert(&v, roots[i]) {
            completed |= ins.completed.is_some();
        }
    }
    assert!(completed, "set recovered");
    asm.forget(SLOT);
}

fn fec_recover(c: &mut Criterion) {
    let (shreds, roots) = one_set();
    let set_bytes = FecConfig::default().set_capacity() as u64;
    let all_data_lost: Vec<usize> = (32..64).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut random_half: Vec<usize> = (0..64).collect();
    random_half.shuffle(&mut rng);
    random_half.truncate(32);
    let mut asm = SlotAssembler::default();

    for (group, throughput) in [
        ("fec_recover", Throughput::Bytes(set_bytes)),
        ("fec_recover_sets", Throughput::Elements(1)),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(throughput);
        g.bench_function("all_data_lost", |b| {
            b.iter(|| recover(&mut asm, &shreds, &roots, &all_data_lost))
        });
        g.bench_function("random_half", |b| {
            b.iter(|| recover(&mut asm, &shreds, &roots, &random_half))
        });
        let len = erasure_shard_len(proof_depth(64));
        let mut decoder = ReedSolomonDecoder::new(32, 32, len).expect("decoder");
        g.bench_function("rs_decode_only_all_data_lost", |b| {
            b.iter(|| {
                for (j, s) in shreds[32..].iter().enumerate() {
                    decoder
                        .add_recovery_shard(j, &s[89..89 + len])
                        .expect("shard");
                }
                let r = decoder.decode().expect("decode");
                black_box(r.restored_original(0).map(|s| s[0]));
            })
        });
        g.finish();
    }
}

criterion_group!(benches, fec_recover);
criterion_main!(benches);
