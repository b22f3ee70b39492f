//! Block replay on a validator: a leader's blocks of pre-signed transfers (produced once, outside the
//! timing) are replayed in order by a fresh validator — stream decode, tick and PoH checks, every
//! signature checked with `verify_strict` on 1 or 2 threads, re-execution, bank-hash check and the
//! fsync'd store commit (each block stored while the next is checked, as the replay stage does with
//! a queue). Throughput is transactions replayed per second, timed from the first block handed to
//! `Replayer::submit` to the last one stored; the validator's set-up (temp-dir store,
//! genesis load) is outside the timing.
//! Beside it, `no_sigverify_exec_only`: the same blocks through `replay_block` with trusted
//! signatures and no store (ticks, PoH and execution, bank hash), to show where the time goes.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataplane::bank::Bank;
use dataplane::entry::Entry;
use dataplane::genesis::{Genesis, GenesisAccount, GenesisValidator};
use dataplane::replay::{load_cluster, replay_block, BlockClaim, SignatureCheck};
use dataplane::replay_stage::{ReceivedBlock, ReplayOutcome, Replayer};
use dataplane::sealevel::Executor;
use dataplane::store::Store;
use dataplane::testkit::{produce_block, slot_stream};
use dataplane::txn::{build_transfer, Txn};
use dataplane::types::{Hash, Pubkey, Slot};
use ed25519_dalek::SigningKey;

/// Blocks replayed per measured iteration (slots 1, 2, …, each on the previous one).
const BLOCKS: usize = 8;
/// Transfers per block.
const TXS_PER_BLOCK: usize = 2_048;
/// Transfers per entry, at most; an entry's transfers have distinct payers and recipients.
const TXS_PER_ENTRY_MAX: usize = 64;
/// Funded fee payers; transfer `i` is paid by payer `i % PAYERS`.
const PAYERS: usize = 4_096;
/// Transactions per measured iteration.
const TXS: usize = BLOCKS * TXS_PER_BLOCK;
/// The slot's leader.
const LEADER: Pubkey = Pubkey([1; 32]);

fn payer(i: usize) -> SigningKey {
    SigningKey::from_bytes(&Hash::hashv(&[b"replay-bench", &(i as u64).to_le_bytes()]).0)
}

/// Default genesis with small PoH ticks, so the block is mostly transactions.
fn genesis(keys: &[SigningKey]) -> Genesis {
    Genesis {
        ticks_per_slot: 64,
        hashes_per_tick: 200,
        ..Genesis::with_defaults(
            "replay-bench",
            vec![GenesisValidator {
                identity: LEADER,
                stake: 1,
            }],
            keys.iter()
                .map(|k| GenesisAccount {
                    pubkey: Pubkey(k.verifying_key().to_bytes()),
                    lamports: 1_000_000_000_000,
                })
                .collect(),
        )
    }
}

/// Transfers `from..to` (global indices), signed on both cores.
fn sign(keys: &[SigningKey], blockhash: &Hash, from: usize, to: usize) -> Vec<Txn> {
    let mid = from + (to - from) / 2;
    std::thread::scope(|s| {
        let parts: Vec<_> = [(from, mid), (mid, to)]
            .into_iter()
            .map(|(a, b)| {
                s.spawn(move || {
                    (a..b)
                        .map(|i| {
                            let to = Pubkey(Hash::hashv(&[b"to", &(i as u64).to_le_bytes()]).0);
                            let wire =
                                build_transfer(&keys[i % PAYERS], &to, 1 + i as u64, blockhash);
                            Txn::parse(&wire).expect("a valid transfer")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("signer"))
            .collect()
    })
}

/// A node's chain state in a temporary directory (a new ledger: genesis stored as slot 0).
struct Node {
    _dir: tempfile::TempDir,
    forks: Arc<RwLock<dataplane::bank_forks::BankForks>>,
    store: Arc<Store>,
}

fn node(g: &Genesis) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path(), g.hash()).expect("store"));
    let (forks, _) = load_cluster(g, &store, &mut Executor::new(0), 1).expect("load");
    Node {
        _dir: dir,
        forks: Arc::new(RwLock::new(forks)),
        store,
    }
}

/// One leader block as a validator receives it, with the leader's entries and bank hash.
struct LeaderBlock {
    received: ReceivedBlock,
    entries: Vec<Entry>,
    claim: BlockClaim,
}

/// Produces `BLOCKS` consecutive blocks on a leader's bank chain.
fn leader_blocks(g: &Genesis, keys: &[SigningKey]) -> Vec<LeaderBlock> {
    let leader = node(g);
    let mut parent = leader
        .forks
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .root_bank();
    let blockhash = g.hash();
    (0..BLOCKS)
        .map(|b| {
            let txs = sign(keys, &blockhash, b * TXS_PER_BLOCK, (b + 1) * TXS_PER_BLOCK);
            let batches: Vec<Vec<Txn>> =
                txs.chunks(TXS_PER_ENTRY_MAX).map(|c| c.to_vec()).collect();
            let slot = Slot(b as u64 + 1);
            let (bank, entries) = produce_block(g, &parent, slot, LEADER, batches);
            let bank_hash = bank.bank_hash().expect("frozen");
            let block = LeaderBlock {
                received: ReceivedBlock {
                    slot,
                    parent: parent.slot(),
                    leader: LEADER,
                    stream: slot_stream(&entries, bank_hash, g.creation_time_unix_ms),
                    data_shreds: vec![],
                    last_fec_root: None,
                },
                entries,
                claim: BlockClaim {
                    slot,
                    leader: LEADER,
                    bank_hash,
                },
            };
            parent = bank;
            block
        })
        .collect()
}

/// One iteration of the full replay: a fresh validator, then the blocks replayed in order (timed).
fn replay_once(
    g: &Genesis,
    blocks: &[LeaderBlock],
    verify_threads: usize,
    exec_threads: usize,
) -> Duration {
    let validator = node(g);
    let mut replayer = Replayer::new(
        g.clone(),
        validator.forks.clone(),
        validator.store.clone(),
        verify_threads,
        exec_threads,
    );
    let received: Vec<ReceivedBlock> = blocks.iter().map(|b| b.received.clone()).collect();
    let start = Instant::now();
    // Queued, as for a validator that is behind: each block is checked while the one before it is
    // stored.
    let mut outcomes = Vec::new();
    for block in received {
        outcomes.extend(replayer.submit(block).expect("store"));
    }
    outcomes.extend(replayer.finish().expect("store"));
    let elapsed = start.elapsed();
    assert_eq!(
        outcomes.len(),
        blocks.len(),
        "one outcome per block: {outcomes:?}"
    );
    for (outcome, block) in outcomes.iter().zip(blocks) {
        assert!(
            matches!(outcome, ReplayOutcome::Replayed { transactions, .. }
                if *transactions as usize == TXS_PER_BLOCK),
            "slot {} must replay with {TXS_PER_BLOCK} transactions: {outcome:?}",
            block.received.slot.0
        );
    }
    drop(replayer);
    drop(validator);
    elapsed
}

/// One iteration without signatures or store: the blocks through `replay_block` on a fresh validator's
/// genesis bank (fresh, because banks share their root's status cache: a second chain on the same
/// root would find every transfer already processed).
fn exec_once(g: &Genesis, blocks: &[LeaderBlock]) -> Duration {
    let validator = node(g);
    let mut parent: Arc<Bank> = validator
        .forks
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .root_bank();
    let mut executor = Executor::new(0);
    let start = Instant::now();
    for b in blocks {
        let (bank, executions) = replay_block(
            g,
            &parent,
            &b.claim,
            &b.entries,
            &mut executor,
            1,
            SignatureCheck::Trusted,
        )
        .expect("the leader's block replays");
        assert_eq!(executions.len(), TXS_PER_BLOCK);
        parent = Arc::new(bank);
    }
    let elapsed = start.elapsed();
    black_box(parent);
    drop(validator);
    elapsed
}

fn replay(c: &mut Criterion) {
    let keys: Vec<SigningKey> = (0..PAYERS).map(payer).collect();
    let g = genesis(&keys);
    let blocks = leader_blocks(&g, &keys);
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(TXS as u64));
    group.sample_size(10);
    for verify_threads in [1usize, 2] {
        group.bench_with_input(
            BenchmarkId::new("verify_threads", verify_threads),
            &verify_threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| replay_once(&g, &blocks, threads, 0))
                        .sum()
                })
            },
        );
    }
    // What a 2-core validator runs: verification on both cores, one Sealevel worker besides the
    // replay thread.
    group.bench_function("verify_threads_2_exec_workers_1", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| replay_once(&g, &blocks, 2, 1)).sum())
    });
    group.bench_function("no_sigverify_exec_only", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| exec_once(&g, &blocks)).sum())
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
