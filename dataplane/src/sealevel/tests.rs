//! Tests of the scheduler, the parallel executor and entry replay.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::bank::tests::{
    addr, genesis, key, multi_transfer, run_serial, transfer, unsigned_transfer, FEE,
};
use crate::bank::TxStatus;
use crate::types::{Hash, Lamports, Pubkey, Slot};

/// Drains `sched` through `executor` into `bank`; returns the transactions in batch order and the
/// batches' lengths.
fn run_pipeline(
    sched: &mut Scheduler,
    executor: &mut Executor,
    bank: &Arc<Bank>,
) -> (Vec<Txn>, Vec<usize>) {
    let mut order = Vec::new();
    let mut sizes = Vec::new();
    let mut batch = Arc::new(Vec::new());
    loop {
        let n = sched.next_batch(Arc::get_mut(&mut batch).expect("workers let go"));
        if n == 0 {
            break;
        }
        assert!(
            !entry_locks_conflict(&batch),
            "batch takes conflicting locks"
        );
        let results = executor.execute(bank, &batch);
        assert_eq!(results.len(), n);
        bank.commit(&batch, &results).expect("commit");
        sizes.push(n);
        order.extend(batch.iter().cloned());
    }
    (order, sizes)
}

fn statuses_by_signature(txs: &[Txn], statuses: &[TxStatus]) -> HashMap<Signature, Vec<TxStatus>> {
    let mut m: HashMap<Signature, Vec<TxStatus>> = HashMap::new();
    for (t, s) in txs.iter().zip(statuses) {
        m.entry(t.signature()).or_default().push(*s);
    }
    m
}

#[test]
fn batches_are_conflict_free_bounded_and_keep_conflicting_order() {
    let bh = Hash([1; 32]);
    let hot = Pubkey([0x77; 32]);
    let mut sched = Scheduler::new(4);
    // t0 → hot, t1 → hot (conflicts with t0), t2 free, t3 pays t1's payer (conflicts with deferred
    // t1: must wait for it), t4..t7 free.
    let txs = [
        transfer(&key(0), &hot, 1, &bh),
        transfer(&key(1), &hot, 1, &bh),
        transfer(&key(2), &Pubkey([2; 32]), 1, &bh),
        transfer(&key(3), &addr(&key(1)), 1, &bh),
        transfer(&key(4), &Pubkey([4; 32]), 1, &bh),
        transfer(&key(5), &Pubkey([5; 32]), 1, &bh),
        transfer(&key(6), &Pubkey([6; 32]), 1, &bh),
        transfer(&key(7), &Pubkey([7; 32]), 1, &bh),
    ];
    sched.extend(txs.iter().cloned());
    let mut batch = Vec::new();
    let mut batches = Vec::new();
    while sched.next_batch(&mut batch) > 0 {
        assert!(batch.len() <= 4);
        assert!(!entry_locks_conflict(&batch));
        batches.push(
            batch
                .iter()
                .map(|t| txs.iter().position(|x| x == t).unwrap())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(batches, vec![vec![0, 2, 4, 5], vec![1, 6, 7], vec![3]]);
    assert!(sched.is_empty());
    // A refused batch goes back ahead of newer arrivals, in order.
    sched.push(txs[7].clone());
    sched.requeue_front(vec![txs[4].clone(), txs[5].clone()]);
    let got: Vec<_> = sched.drain().collect();
    assert_eq!(got, vec![txs[4].clone(), txs[5].clone(), txs[7].clone()]);
}

#[test]
fn the_pass_stops_after_deferred_max_blocked_transactions() {
    let bh = Hash([1; 32]);
    let hot = Pubkey([0x77; 32]);
    let mut sched = Scheduler::new(64);
    sched.set_deferred_max(2);
    for i in 0..5 {
        sched.push(transfer(&key(i), &hot, 1, &bh));
    }
    sched.push(transfer(&key(9), &Pubkey([9; 32]), 1, &bh));
    let mut batch = Vec::new();
    // One hot transaction, then two blocked: the pass ends before reaching the free one.
    assert_eq!(sched.next_batch(&mut batch), 1);
    assert_eq!(sched.len(), 5);
}

#[test]
fn paying_transactions_go_first_by_price_then_arrival_and_requeued_ones_before_all() {
    use crate::bank::tests::unsigned_priced_transfer;
    let bh = Hash([1; 32]);
    let payer = |i: u8| Pubkey([0x40 + i; 32]);
    let free = |i: u8| unsigned_transfer(&payer(i), &Pubkey([0xF0; 32]), 1, &bh, u64::from(i));
    let priced = |i: u8, price| {
        unsigned_priced_transfer(&payer(i), &Pubkey([0xF1; 32]), 1, &bh, u64::from(i), price)
    };
    // One transaction per batch: the batches show the queue's order.
    let mut sched = Scheduler::new(1);
    // Arrival order: two free, then paying ones at 5, 9 and 5 micro-lamports per unit, then free.
    let txs = [
        free(0),
        free(1),
        priced(2, 5),
        priced(3, 9),
        priced(4, 5),
        free(5),
    ];
    sched.extend(txs.iter().cloned());
    // Votes (or a refused batch) put back at the front pass even the highest price.
    let requeued = free(6);
    sched.requeue_front(vec![requeued.clone()]);
    let mut batch = Vec::new();
    let mut order = Vec::new();
    while sched.next_batch(&mut batch) > 0 {
        order.extend(batch.iter().cloned());
    }
    let expected = [
        requeued,
        txs[3].clone(),
        txs[2].clone(),
        txs[4].clone(),
        txs[0].clone(),
        txs[1].clone(),
        txs[5].clone(),
    ];
    assert_eq!(order, expected);
    // Drained (for forwarding) in the same order.
    sched.extend(txs.iter().cloned());
    let drained: Vec<Txn> = sched.drain().collect();
    assert_eq!(drained, expected[1..]);
}

#[test]
fn a_deferred_paying_transaction_keeps_its_place_ahead_of_free_ones() {
    use crate::bank::tests::unsigned_priced_transfer;
    let bh = Hash([1; 32]);
    let hot = Pubkey([0x77; 32]);
    let mut sched = Scheduler::new(8);
    // Two paying transfers to one account: the second is deferred behind the first and must still
    // come before every free transfer in the next batch.
    let first = unsigned_priced_transfer(&Pubkey([1; 32]), &hot, 1, &bh, 1, 100);
    let second = unsigned_priced_transfer(&Pubkey([2; 32]), &hot, 1, &bh, 2, 50);
    let frees: Vec<Txn> = (10..14u8)
        .map(|i| unsigned_transfer(&Pubkey([i; 32]), &hot, 1, &bh, u64::from(i)))
        .collect();
    sched.extend(frees.iter().cloned());
    sched.push(second.clone());
    sched.push(first.clone());
    let mut batch = Vec::new();
    assert_eq!(sched.next_batch(&mut batch), 1);
    assert_eq!(batch, vec![first]);
    assert_eq!(sched.next_batch(&mut batch), 1);
    assert_eq!(batch, vec![second]);
    assert_eq!(sched.next_batch(&mut batch), 1);
    assert_eq!(batch, vec![frees[0].clone()]);
}

#[test]
fn replay_rejects_conflicts_and_uncommittable_entries_without_committing() {
    let alice = key(1);
    let bob = key(2);
    let g = genesis(&[(addr(&alice), 1_000_000), (addr(&bob), 1_000_000)]);
    let gh = g.hash();
    let root = Arc::new(Bank::genesis(&g));
    let bank = Arc::new(Bank::new_child(&root, Slot(1), Pubkey([0xC; 32])));
    let mut executor = Executor::new(2);
    executor.set_chunk_min(1);

    let conflicting = Arc::new(vec![
        transfer(&alice, &Pubkey([3; 32]), 1, &gh),
        transfer(&bob, &Pubkey([3; 32]), 1, &gh),
    ]);
    assert_eq!(
        replay_entry(&bank, &mut executor, &conflicting),
        Err(ReplayError::ConflictingLocks {
            index: 1,
            signature: conflicting[1].signature()
        })
    );
    let stale = Arc::new(vec![
        transfer(&alice, &Pubkey([3; 32]), 1, &gh),
        transfer(&bob, &Pubkey([4; 32]), 1, &Hash([9; 32])),
    ]);
    let err = replay_entry(&bank, &mut executor, &stale).unwrap_err();
    assert_eq!(
        err,
        ReplayError::NotIncluded {
            index: 1,
            signature: stale[1].signature(),
            error: TxError::BlockhashNotFound
        }
    );
    assert!(err.to_string().contains("blockhash not found"), "{err}");
    assert_eq!(bank.transaction_count(), 0);
    assert!(bank.accounts_delta().is_empty());

    // A failing transfer is included (the leader includes it): the entry replays.
    let good = Arc::new(vec![
        transfer(&alice, &Pubkey([3; 32]), 1, &gh),
        transfer(&bob, &Pubkey([4; 32]), 10_000_000, &gh),
    ]);
    replay_entry(&bank, &mut executor, &good).unwrap();
    assert_eq!(bank.transaction_count(), 2);
    assert_eq!(bank.balance(&Pubkey([3; 32])), 1);
    assert_eq!(bank.balance(&addr(&bob)), 1_000_000 - FEE);
    // Replaying it again: its transactions are already processed.
    assert!(matches!(
        replay_entry(&bank, &mut executor, &good),
        Err(ReplayError::NotIncluded {
            error: TxError::AlreadyProcessed,
            ..
        })
    ));
    assert_eq!(bank.transaction_count(), 2);
}

/// One random transaction over a small set of accounts.
#[derive(Debug, Clone)]
enum Op {
    /// `payer` pays `lamports` to `to` (an index into the account set).
    Transfer {
        payer: usize,
        to: usize,
        lamports: u64,
    },
    /// `payer` pays several destinations in one transaction.
    Multi { payer: usize, to: Vec<(usize, u64)> },
    /// A transaction against a blockhash this fork does not know.
    Stale { payer: usize },
    /// An exact copy of an earlier transaction (index modulo the list so far).
    Duplicate(usize),
}

const ACCOUNTS: usize = 6;

fn op() -> impl Strategy<Value = Op> {
    let idx = 0..ACCOUNTS;
    let amount = prop_oneof![0u64..50_000, 0u64..2_000_000];
    prop_oneof![
        6 => (idx.clone(), idx.clone(), amount.clone())
            .prop_map(|(payer, to, lamports)| Op::Transfer { payer, to, lamports }),
        2 => (idx.clone(), proptest::collection::vec((idx.clone(), amount), 1..4))
            .prop_map(|(payer, to)| Op::Multi { payer, to }),
        1 => idx.prop_map(|payer| Op::Stale { payer }),
        1 => any::<usize>().prop_map(Op::Duplicate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Scheduler + parallel executor give exactly what serial execution gives, in batch order and in
    /// arrival order alike, and supply is conserved.
    #[test]
    fn parallel_execution_equals_serial(
        balances in proptest::collection::vec(0u64..3_000_000, ACCOUNTS),
        ops in proptest::collection::vec(op(), 1..48),
        threads in 2usize..=4,
        batch_size_max in 1usize..12,
    ) {
        let keys: Vec<_> = (0..ACCOUNTS as u64).map(|i| key(100 + i)).collect();
        let addrs: Vec<Pubkey> = keys.iter().map(addr).collect();
        let funded: Vec<_> = addrs.iter().copied().zip(balances.iter().copied()).collect();
        let g = genesis(&funded);
        let gh = g.hash();
        let mut txs: Vec<Txn> = Vec::new();
        for (n, op) in ops.iter().enumerate() {
            // Distinct lamports amounts keep otherwise equal transactions distinct.
            let nonce = n as u64;
            let t = match op {
                Op::Transfer { payer, to, lamports } => {
                    // A transaction lists each key once: paying oneself needs another destination.
                    let to = if to == payer { (to + 1) % ACCOUNTS } else { *to };
                    transfer(&keys[*payer], &addrs[to], lamports + nonce, &gh)
                }
                Op::Multi { payer, to } => {
                    let mut dests: Vec<(Pubkey, u64)> = Vec::new();
                    for (i, l) in to {
                        // Keys must be distinct, and the payer is key 0.
                        if *i != *payer && !dests.iter().any(|(k, _)| *k == addrs[*i]) {
                            dests.push((addrs[*i], l + nonce));
                        }
                    }
                    if dests.is_empty() {
                        let mut fresh = [0xD1; 32];
                        fresh[0] = n as u8;
                        dests.push((Pubkey(fresh), nonce));
                    }
                    multi_transfer(&keys[*payer], &dests, &gh)
                }
                Op::Stale { payer } => {
                    transfer(&keys[*payer], &Pubkey([0xDD; 32]), nonce, &Hash([3; 32]))
                }
                Op::Duplicate(i) => match txs.len() {
                    0 => transfer(&keys[0], &addrs[1], nonce, &gh),
                    len => txs[i % len].clone(),
                },
            };
            txs.push(t);
        }

        // Each run gets its own genesis bank: same-slot banks must not share one status cache.
        let collector = Pubkey([0xCC; 32]);
        let fresh = || Bank::new_child(&Arc::new(Bank::genesis(&g)), Slot(1), collector);
        let parallel = Arc::new(fresh());
        let mut sched = Scheduler::new(batch_size_max);
        sched.extend(txs.iter().cloned());
        let mut executor = Executor::new(threads);
        executor.set_chunk_min(1);
        let (order, sizes) = run_pipeline(&mut sched, &mut executor, &parallel);
        prop_assert_eq!(order.len(), txs.len());
        prop_assert!(sizes.iter().all(|s| *s <= batch_size_max));

        let by_batch = fresh();
        let batch_statuses = run_serial(&by_batch, &order);
        let by_arrival = fresh();
        let arrival_statuses = run_serial(&by_arrival, &txs);

        // Statuses, per transaction.
        for t in &order {
            let mine = parallel.status(&t.signature());
            prop_assert_eq!(mine, by_batch.status(&t.signature()));
            prop_assert_eq!(mine, by_arrival.status(&t.signature()));
        }
        prop_assert_eq!(
            statuses_by_signature(&order, &batch_statuses),
            statuses_by_signature(&txs, &arrival_statuses)
        );
        // Balances, counters and the bank hash.
        let mut all: Vec<Pubkey> = addrs.clone();
        all.push(collector);
        prop_assert_eq!(parallel.accounts_delta(), by_batch.accounts_delta());
        prop_assert_eq!(parallel.accounts_delta(), by_arrival.accounts_delta());
        prop_assert_eq!(parallel.transaction_count(), by_arrival.transaction_count());
        prop_assert_eq!(parallel.collected_fees(), by_arrival.collected_fees());
        let blockhash = Hash([0xB; 32]);
        let h = parallel.freeze(blockhash);
        prop_assert_eq!(h, by_batch.freeze(blockhash));
        prop_assert_eq!(h, by_arrival.freeze(blockhash));
        prop_assert_eq!(parallel.balances(&all), by_arrival.balances(&all));
        prop_assert_eq!(parallel.total_supply(), g.total_supply());
        let fees: Lamports = parallel.collected_fees();
        prop_assert_eq!(parallel.balance(&collector), fees);
    }
}

/// Transfers/s through scheduler, locks, execution, fee debit and status recording, at 0 %, 10 % and
/// 100 % of transactions paying one hot account. Run with
/// `cargo test --release -p blackbook-dataplane --lib sealevel_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "throughput measurement; run in release"]
fn sealevel_throughput() {
    use std::time::Instant;
    let env = |name: &str| std::env::var(name).ok();
    let txs_count: usize = env("SEALEVEL_TXS")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let threads: Vec<usize> = env("SEALEVEL_THREADS")
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 1, 2]);
    let batch_size_max: usize = env("SEALEVEL_BATCH")
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_BATCH_SIZE_MAX);
    let payers: Vec<Pubkey> = (0..txs_count as u64)
        .map(|i| {
            let mut k = [0xA1; 32];
            k[..8].copy_from_slice(&i.to_le_bytes());
            Pubkey(k)
        })
        .collect();
    let funded: Vec<_> = payers.iter().map(|p| (*p, 1_000_000_000)).collect();
    let g = genesis(&funded);
    let gh = g.hash();
    let hot = Pubkey([0x77; 32]);
    println!(
        "limit: bare HashMap transfer (ahash, {txs_count} payers, fresh destinations): {:.0} tx/s",
        bare_hashmap_transfers(&payers)
    );
    let levels: Vec<usize> = env("SEALEVEL_CONTENTION")
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 10, 100]);
    for contention_pct in levels {
        let txs: Vec<Txn> = payers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let contended = contention_pct > 0 && i % (100 / contention_pct) == 0;
                let mut fresh = [0xF1; 32];
                fresh[..8].copy_from_slice(&(i as u64).to_le_bytes());
                let to = if contended { hot } else { Pubkey(fresh) };
                unsigned_transfer(p, &to, 1 + i as u64, &gh, i as u64)
            })
            .collect();
        for &t in &threads {
            // Best of three runs: this machine is shared, and interference only ever slows a run.
            let mut best = 0f64;
            let mut best_cpu = 0f64;
            let mut batches = 0;
            for _ in 0..3 {
                let root = Arc::new(Bank::genesis(&g));
                let bank = Arc::new(Bank::new_child(&root, Slot(1), Pubkey([0xCC; 32])));
                let mut executor = Executor::new(t);
                let mut sched = Scheduler::new(batch_size_max);
                let queued = txs.clone();
                let mut batch = Arc::new(Vec::with_capacity(batch_size_max));
                batches = 0;
                let start = Instant::now();
                let cpu_start = process_cpu_secs();
                sched.extend(queued);
                while sched.next_batch(Arc::get_mut(&mut batch).expect("workers let go")) > 0 {
                    let results = executor.execute(&bank, &batch);
                    bank.commit(&batch, &results).expect("commit");
                    batches += 1;
                }
                let secs = start.elapsed().as_secs_f64();
                let cpu_secs = process_cpu_secs() - cpu_start;
                assert_eq!(bank.transaction_count(), txs_count as u64);
                best = best.max(txs_count as f64 / secs);
                best_cpu = best_cpu.max(txs_count as f64 / cpu_secs);
            }
            println!(
                "sealevel/contention={contention_pct}pct threads={t} batch_max={batch_size_max}: \
                 {best:.0} tx/s wall, {best_cpu:.0} tx per CPU-second ({batches} batches)"
            );
        }
    }
}

/// CPU time used by this process so far, all threads: on a shared machine it shows the work done,
/// where wall time also counts other processes' turns.
fn process_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The machine's limit for comparison (DESIGN §6): a debit and a credit on one `HashMap` per transfer,
/// nothing else; best of three runs, in transfers/s.
fn bare_hashmap_transfers(payers: &[Pubkey]) -> f64 {
    use std::collections::HashMap;
    use std::time::Instant;
    let mut best = 0f64;
    for _ in 0..3 {
        let mut m: HashMap<Pubkey, u64, ahash::RandomState> =
            payers.iter().map(|p| (*p, 1_000_000_000)).collect();
        let start = Instant::now();
        for (i, p) in payers.iter().enumerate() {
            let mut to = [0xF1; 32];
            to[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let from = m.get(p).copied().unwrap_or(0);
            if let Some(left) = from.checked_sub(1) {
                m.insert(*p, left);
                *m.entry(Pubkey(to)).or_insert(0) += 1;
            }
        }
        best = best.max(payers.len() as f64 / start.elapsed().as_secs_f64());
        std::hint::black_box(&m);
    }
    best
}
