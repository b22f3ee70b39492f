//! Sealevel through the node's own path: scheduler (conflict-free batches, account locks), parallel
//! executor, fee debit, status-cache recording and commit — with 0 %, 10 % and 100 % of transactions
//! contending for one hot account. Transactions are pre-signed and pre-verified; throughput is tx/s.
//! Beside it, the machine-limit row: the same transfers on a bare `HashMap`.

use std::collections::HashMap;
use std::sync::Arc;

use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use dataplane::bank::Bank;
use dataplane::genesis::{Genesis, GenesisAccount, GenesisValidator};
use dataplane::sealevel::{Executor, Scheduler, DEFAULT_BATCH_SIZE_MAX};
use dataplane::txn::{build_transfer, Txn};
use dataplane::types::{Hash, Pubkey, Slot};
use ed25519_dalek::SigningKey;

/// Transactions per measured iteration.
const TXS: usize = 16_384;

fn key(i: u64) -> SigningKey {
    SigningKey::from_bytes(&Hash::hashv(&[b"sealevel-bench", &i.to_le_bytes()]).0)
}

fn genesis(payers: &[Pubkey]) -> Genesis {
    Genesis {
        cluster_name: "bench".into(),
        creation_time_unix_ms: 0,
        ticks_per_slot: 64,
        hashes_per_tick: 2_000,
        slot_duration_ms: 400,
        lamports_per_signature: 5_000,
        slots_per_epoch: 432_000,
        validators: vec![GenesisValidator {
            identity: Pubkey([1; 32]),
            stake: 1,
        }],
        accounts: payers
            .iter()
            .map(|p| GenesisAccount {
                pubkey: *p,
                lamports: 1_000_000_000,
            })
            .collect(),
    }
}

/// `contended_pct` % of the transfers pay into one hot account; the rest touch only their own pair.
fn transfers(keys: &[SigningKey], blockhash: &Hash, contended_pct: usize) -> Vec<Txn> {
    let hot = Pubkey([0xee; 32]);
    (0..TXS)
        .map(|i| {
            let to = if i * 100 / TXS < contended_pct {
                hot
            } else {
                Pubkey(Hash::hashv(&[b"to", &(i as u64).to_le_bytes()]).0)
            };
            Txn::parse(&build_transfer(&keys[i], &to, 1 + i as u64, blockhash)).expect("valid")
        })
        .collect()
}

fn sealevel(c: &mut Criterion) {
    let keys: Vec<SigningKey> = (0..TXS as u64).map(key).collect();
    let payers: Vec<Pubkey> = keys
        .iter()
        .map(|k| Pubkey(k.verifying_key().to_bytes()))
        .collect();
    let g = genesis(&payers);
    let blockhash = g.hash();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .saturating_sub(1);
    let mut executor = Executor::new(threads);
    let mut group = c.benchmark_group("sealevel");
    group.throughput(Throughput::Elements(TXS as u64));
    group.sample_size(20);
    // Every iteration of every case gets its own slot: banks of one slot share a status cache, so
    // reusing a slot would make repeated transfers "already processed".
    let mut slot = 0u64;
    for pct in [0usize, 10, 100] {
        let txs = transfers(&keys, &blockhash, pct);
        group.bench_with_input(BenchmarkId::new("contention_pct", pct), &pct, |b, _| {
            b.iter_batched(
                || {
                    // A fresh genesis and child bank each iteration (outside the timing), so no
                    // transfer is "already processed" and the status cache starts empty, as a slot's
                    // working set would on a node that roots and purges.
                    slot += 1;
                    let root = Arc::new(Bank::genesis(&g));
                    let bank = Arc::new(Bank::new_child(&root, Slot(slot), Pubkey([1; 32])));
                    let mut s = Scheduler::new(DEFAULT_BATCH_SIZE_MAX);
                    s.extend(txs.iter().cloned());
                    (bank, s)
                },
                |(bank, mut scheduler)| {
                    let mut batch = Vec::with_capacity(DEFAULT_BATCH_SIZE_MAX);
                    let mut included = 0;
                    while scheduler.next_batch(&mut batch) > 0 {
                        let txs = Arc::new(std::mem::take(&mut batch));
                        let executed = executor.execute(&bank, &txs);
                        included += executed.included_count();
                        bank.commit(&txs, &executed).expect("commit");
                        batch = Arc::try_unwrap(txs).unwrap_or_default();
                    }
                    assert_eq!(included, TXS, "every transfer must be included");
                    black_box(bank)
                },
                BatchSize::PerIteration,
            )
        });
    }
    // The machine limit: the same balance updates on a bare map with the same keyed fast hasher.
    let pairs: Vec<(Pubkey, Pubkey)> = payers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                *p,
                Pubkey(Hash::hashv(&[b"to", &(i as u64).to_le_bytes()]).0),
            )
        })
        .collect();
    group.bench_function("bare_hashmap_transfer", |b| {
        let mut map: HashMap<Pubkey, u64, ahash::RandomState> = HashMap::default();
        for p in &payers {
            map.insert(*p, 1_000_000_000);
        }
        b.iter(|| {
            for (from, to) in &pairs {
                let f = map.get_mut(from).expect("funded");
                *f -= 1;
                *map.entry(*to).or_insert(0) += 1;
            }
        })
    });
    group.finish();
}

criterion_group!(benches, sealevel);
criterion_main!(benches);
