//! The ledger's write path: one slot committed to redb the way the ledger stage commits a leader's
//! block — its entries, one status row per transaction (random signatures), and, rooted at once, the
//! account balances it changed — fsync'd (`Durability::Immediate`), into a ledger that already holds
//! `WARM_SLOTS` such slots (≈ 0.5 M statuses), since a B-tree's cost grows with what it holds.
//! Throughput is transactions/s. Beside it: the machine's limit, the same bytes appended to a file
//! and fsync'd (`limit_append_fsync`); and the same rows in redb keyed by signature alone
//! (`signature_keyed_redb`, the first layout of the status table), whose commits touch a random
//! leaf per transaction and slow down as the table grows.
//!
//! `address_index/…`: `getSignaturesForAddress` reads against the target "≤ 5 ms at p99 on a ledger
//! of 10 million transactions". A ledger of `BLACKBOOK_BENCH_ADDRESS_TXS` transactions (default
//! 10,000,000 under `cargo bench`, 20,000 when the bench runs as a test; 1,000 a slot) is built
//! once, untimed, through `Store::commit_slot` (durable commits, as the node's): each transfer has a
//! payer from a pool of 100,000 addresses and a recipient from a pool of 1,000,000, and one
//! transaction in 100 pays a hot address (an exchange's deposit wallet). With
//! `BLACKBOOK_BENCH_ADDRESS_LEDGER=DIR` the ledger is kept in DIR and reused by later runs of the
//! same size. A query is what the node's `signatures_for_address` does short of JSON: the index
//! walk with the rooted check once per slot. Every query's latency goes into an HDR histogram; after
//! the group, each shape prints p50/p99/max, the p99's ratio to the 5 ms limit, and the same split
//! into the first pass over the shape's 1,000 inputs (pages no query read before) and the passes
//! after.
//!
//! ```sh
//! BLACKBOOK_BENCH_ADDRESS_LEDGER=/tmp/bb-addr-ledger cargo bench --bench store -- address_index
//! ```
//!
//! Measured 2026-12-05 on the same 10 M ledger (release, the 2-core reference machine, file read
//! into the page cache first), with per-bucket Bloom filters in front of the signature index:
//! opening the ledger takes 2.6 s (the filters are rebuilt from the index: 19.1 MiB), and p99
//! (p99 / 5 ms) — first pass p99, later p99: `hot` 0.402 ms (0.080) — one query 0.889, 0.402;
//! `hot/before` 0.527 ms (0.105) — 0.739, 0.524; `typical` 1.313 ms (0.263) — 1.198, 1.321;
//! `typical/before` 0.795 ms (0.159) — 0.757, 0.797 (p50s 0.297, 0.386, 0.877, 0.538 ms). Placing
//! `before` had probed the signature index once per 8-slot bucket newer than it (≈ 625 on average);
//! now about one in a thousand buckets is probed in vain.
//!
//! Measured 2026-12-04, before the filters, same conditions: `hot` 0.199 ms (0.04) — one query
//! 8.4 ms, 0.199; `hot/before` 5.22 ms (1.045) — 14.6, 2.43; `typical` 2.86 ms (0.57) — 4.80, 0.62;
//! `typical/before` 1.64 ms (0.33) — 1.92, 1.61. The 10 M ledger built in 1,351 s (7,400 tx/s,
//! other builds sharing the cores), 8.0 GiB (7.1 GiB once reopened: redb trims free pages at the
//! end). The schema-5 layout (a status lookup per listed transaction) measured `hot` 1.52,
//! `hot/before` 105, `typical` 22.9, `typical/before` 24.6 ms at p99 with the file only partly in
//! the page cache.

use std::cell::OnceCell;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Bencher, Criterion, Throughput};
use dataplane::store::{
    block_position, AddressSignature, SlotCommit, SlotMeta, Store, TxStatusRecord,
};
use dataplane::types::{Hash, Pubkey, Signature, Slot};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use redb::{Database, TableDefinition};

/// Transactions per committed slot (a 400 ms slot at ≈ 20 k tx/s).
const TXS: usize = 8_192;
/// Accounts a slot of transfers changes (payer and payee of each; some repeat).
const ACCOUNTS: usize = 11_000;
/// Slots committed before the measured ones, so the trees are not empty.
const WARM_SLOTS: u64 = 64;

fn hash(tag: &[u8], i: u64) -> [u8; 32] {
    Hash::hashv(&[tag, &i.to_le_bytes()]).0
}

fn signature(slot: u64, i: usize) -> Signature {
    let a = hash(b"sig-a", slot << 20 | i as u64);
    let b = hash(b"sig-b", slot << 20 | i as u64);
    let mut s = [0u8; 64];
    s[..32].copy_from_slice(&a);
    s[32..].copy_from_slice(&b);
    Signature(s)
}

/// A rooted slot of `TXS` transfers, encoded as the ledger stage would hand it to the store.
fn slot_commit(slot: u64) -> SlotCommit {
    let entries: Vec<Vec<u8>> = (0..TXS / 64).map(|_| vec![0xab; 64 * 215]).collect();
    let statuses = (0..TXS)
        .map(|i| {
            (
                signature(slot, i),
                TxStatusRecord {
                    slot: Slot(slot),
                    entry_index: (i / 64) as u32,
                    txn_index: (i % 64) as u16,
                    fee: 5_000,
                    err: None,
                    pre_balances: vec![1_000_000, 7, 1],
                    post_balances: vec![994_000, 1_007, 1],
                },
            )
        })
        .collect();
    let mut account_updates: Vec<(Pubkey, u64)> = (0..ACCOUNTS as u64)
        .map(|i| (Pubkey(hash(b"account", i)), 1_000 + slot + i))
        .collect();
    account_updates.sort_unstable_by_key(|(k, _)| *k);
    SlotCommit {
        meta: SlotMeta {
            slot: Slot(slot),
            parent_slot: Slot(slot - 1),
            blockhash: Hash(hash(b"blockhash", slot)),
            bank_hash: Hash(hash(b"bank", slot)),
            block_height: slot,
            block_time_ms: 1_700_000_000_000,
            leader: Pubkey([1; 32]),
            entry_count: entries.len() as u32,
            transaction_count: TXS as u32,
            signature_count: TXS as u64,
            collected_fees: 5_000 * TXS as u64,
        },
        entries,
        statuses,
        account_updates: account_updates.into(),
        root: true,
        data_shreds: Vec::new(),
        last_fec_root: None,
        prioritization_fees: Default::default(),
        address_signatures: Vec::new(),
    }
}

const BARE_STATUS: TableDefinition<&[u8; 64], &[u8]> = TableDefinition::new("status");
const BARE_ACCOUNTS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("accounts");
const BARE_ENTRIES: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("entries");

/// The same rows through redb alone, statuses keyed by signature, in the order they arrive.
fn signature_keyed_commit(db: &Database, c: &SlotCommit) {
    let txn = db.begin_write().expect("begin");
    {
        let mut entries = txn.open_table(BARE_ENTRIES).expect("table");
        for (i, e) in c.entries.iter().enumerate() {
            entries
                .insert((c.meta.slot.0, i as u32), e.as_slice())
                .expect("insert");
        }
        let mut status = txn.open_table(BARE_STATUS).expect("table");
        let row = [0u8; 73];
        for (sig, _) in &c.statuses {
            status.insert(&sig.0, row.as_slice()).expect("insert");
        }
        let mut accounts = txn.open_table(BARE_ACCOUNTS).expect("table");
        for (k, v) in &c.account_updates.accounts {
            accounts.insert(&k.0, *v).expect("insert");
        }
    }
    txn.commit().expect("commit");
}

/// The slot's rows as one byte string: what any durable layout must at least write.
fn slot_bytes(c: &SlotCommit) -> Vec<u8> {
    let mut out = Vec::new();
    for e in &c.entries {
        out.extend_from_slice(e);
    }
    for (sig, _) in &c.statuses {
        out.extend_from_slice(&sig.0);
        out.extend_from_slice(&[0u8; 73]);
    }
    for (k, v) in &c.account_updates.accounts {
        out.extend_from_slice(&k.0);
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Commits `warm` slots untimed, then times one more slot's commit per iteration.
fn bench_commits(b: &mut Bencher<'_>, warm: u64, mut commit: impl FnMut(&SlotCommit)) {
    let mut slot = 1;
    for _ in 0..warm {
        commit(&slot_commit(slot));
        slot += 1;
    }
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let c = slot_commit(slot);
            slot += 1;
            let start = Instant::now();
            commit(&c);
            total += start.elapsed();
        }
        total
    })
}

fn store(c: &mut Criterion) {
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(TXS as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));

    g.bench_function("limit_append_fsync", |b| {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = std::fs::File::create(dir.path().join("append")).expect("file");
        bench_commits(b, 0, |c| {
            file.write_all(&slot_bytes(c)).expect("write");
            file.sync_data().expect("fsync");
        })
    });
    g.bench_function("signature_keyed_redb", |b| {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::create(dir.path().join("keyed.redb")).expect("db");
        bench_commits(b, WARM_SLOTS, |c| signature_keyed_commit(&db, c))
    });
    g.bench_function("commit_slot", |b| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), Hash([9; 32])).expect("store");
        bench_commits(b, WARM_SLOTS, |c| store.commit_slot(c).expect("commit"))
    });
    g.finish();
}

/// Transactions of the address-index ledger, unless `BLACKBOOK_BENCH_ADDRESS_TXS` says otherwise.
const ADDRESS_TXS_DEFAULT: u64 = 10_000_000;
/// Transactions of that ledger when the bench runs as a test (`cargo test --all-targets`).
const ADDRESS_TXS_TEST: u64 = 20_000;
/// Transactions per slot of that ledger.
const ADDRESS_SLOT_TXS: u64 = 1_000;
/// Addresses that pay (each pays ≈ 100 transactions of 10 M).
const PAYERS: u64 = 100_000;
/// Addresses that receive.
const RECIPIENTS: u64 = 1_000_000;
/// One transaction in this many pays the hot address.
const HOT_EVERY: u64 = 100;
/// Payers whose transactions the build remembers, to page from their middle.
const TRACKED_PAYERS: u64 = 1_000;
/// Signatures a query returns at most (Solana's limit, the RPC default).
const QUERY_LIMIT: usize = 1_000;
/// The target: p99 of a query.
const QUERY_P99_LIMIT_MS: f64 = 5.0;

fn address(tag: &[u8], i: u64) -> Pubkey {
    Pubkey(hash(tag, i))
}

fn random_signature(rng: &mut ChaCha8Rng) -> Signature {
    let mut s = [0u8; 64];
    rng.fill(&mut s[..]);
    Signature(s)
}

/// The built ledger and the queries' inputs.
struct AddressLedger {
    /// The ledger's directory, unless it is kept (`BLACKBOOK_BENCH_ADDRESS_LEDGER`).
    _dir: Option<tempfile::TempDir>,
    store: Store,
    hot: Pubkey,
    /// The hot address's signatures, oldest first.
    hot_signatures: Vec<Signature>,
    /// Tracked payers with their signatures, oldest first.
    payers: Vec<(Pubkey, Vec<Signature>)>,
}

fn address_ledger_txs() -> u64 {
    // `cargo bench` passes `--bench`; without it criterion runs each bench once as a test.
    let default = if std::env::args().any(|a| a == "--bench") {
        ADDRESS_TXS_DEFAULT
    } else {
        ADDRESS_TXS_TEST
    };
    std::env::var("BLACKBOOK_BENCH_ADDRESS_TXS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
        .max(ADDRESS_SLOT_TXS)
}

/// One slot of transfers as the ledger stage would store it (rooted at once, as a one-validator
/// cluster does), with its address rows.
fn address_slot(
    slot: u64,
    rng: &mut ChaCha8Rng,
    hot: &Pubkey,
    mut paid: impl FnMut(u64, Pubkey, Signature),
) -> SlotCommit {
    let per_entry = 64;
    let entry_count = ADDRESS_SLOT_TXS.div_ceil(per_entry) as u32;
    let mut statuses = Vec::with_capacity(ADDRESS_SLOT_TXS as usize);
    let mut rows = Vec::with_capacity(2 * ADDRESS_SLOT_TXS as usize);
    for i in 0..ADDRESS_SLOT_TXS {
        let signature = random_signature(rng);
        let (entry_index, txn_index) = ((i / per_entry) as u32, (i % per_entry) as u16);
        let payer_index = rng.gen_range(0..PAYERS);
        let payer = address(b"payer", payer_index);
        let recipient = if i % HOT_EVERY == 0 {
            *hot
        } else {
            address(b"recipient", rng.gen_range(0..RECIPIENTS))
        };
        paid(payer_index, recipient, signature);
        statuses.push((
            signature,
            TxStatusRecord {
                slot: Slot(slot),
                entry_index,
                txn_index,
                fee: 5_000,
                err: None,
                pre_balances: vec![1_000_000, 7, 1],
                post_balances: vec![994_000, 1_007, 1],
            },
        ));
        let position = block_position(entry_index, txn_index);
        for address in [payer, recipient] {
            rows.push(AddressSignature {
                address,
                position,
                signature,
            });
        }
    }
    SlotCommit {
        meta: SlotMeta {
            slot: Slot(slot),
            parent_slot: Slot(slot - 1),
            blockhash: Hash(hash(b"blockhash", slot)),
            bank_hash: Hash(hash(b"bank", slot)),
            block_height: slot,
            block_time_ms: 1_700_000_000_000 + slot * 400,
            leader: Pubkey([1; 32]),
            entry_count,
            transaction_count: ADDRESS_SLOT_TXS as u32,
            signature_count: ADDRESS_SLOT_TXS,
            collected_fees: 5_000 * ADDRESS_SLOT_TXS,
        },
        entries: (0..entry_count).map(|_| vec![0xab; 32]).collect(),
        statuses,
        account_updates: Default::default(),
        root: true,
        data_shreds: Vec::new(),
        last_fec_root: None,
        prioritization_fees: Default::default(),
        address_signatures: rows,
    }
}

/// Builds the ledger (minutes at 10 M transactions), or reuses the one kept in
/// `BLACKBOOK_BENCH_ADDRESS_LEDGER` if it holds as many slots: the inputs are then regenerated from
/// the seed without storing anything.
fn address_ledger(txs: u64) -> AddressLedger {
    let kept = std::env::var_os("BLACKBOOK_BENCH_ADDRESS_LEDGER").map(PathBuf::from);
    let temp = match kept {
        Some(_) => None,
        None => Some(tempfile::tempdir().expect("tempdir")),
    };
    let dir = match (&kept, &temp) {
        (Some(kept), _) => kept.clone(),
        (None, Some(temp)) => temp.path().to_path_buf(),
        (None, None) => unreachable!("one of the two is set"),
    };
    // Durable commits, as the node's: redb reuses freed pages only after one (buffered ones
    // grew the file ≈ 5 × at 200 k transactions).
    let opening = Instant::now();
    let store = Store::open(&dir, Hash([9; 32]))
        .expect("store (delete a kept ledger of another schema version)");
    // Opening rebuilds the signature-index filters from the index: part of a node's start-up.
    eprintln!(
        "address_index: ledger opened in {:.2?}, signature filters {:.1} MiB",
        opening.elapsed(),
        store.signature_filter_bytes() as f64 / f64::from(1u32 << 20)
    );
    let slots = txs / ADDRESS_SLOT_TXS;
    let stored = |slot: u64| store.slot_meta(Slot(slot)).expect("slot meta").is_some();
    let reuse = stored(slots) && !stored(slots + 1);
    assert!(
        reuse || !stored(1),
        "{} holds a ledger of another size",
        dir.display()
    );
    let mut rng = ChaCha8Rng::seed_from_u64(0x5167);
    let hot = address(b"hot", 0);
    let mut hot_signatures = Vec::new();
    let mut tracked: Vec<Vec<Signature>> = vec![Vec::new(); TRACKED_PAYERS as usize];
    let start = Instant::now();
    for slot in 1..=slots {
        let c = address_slot(slot, &mut rng, &hot, |payer, recipient, signature| {
            if let Some(t) = tracked.get_mut(payer as usize) {
                t.push(signature);
            }
            if recipient == hot {
                hot_signatures.push(signature);
            }
        });
        if reuse {
            continue;
        }
        store.commit_slot(&c).expect("commit");
        if slot % (slots / 10).max(1) == 0 {
            eprintln!(
                "address_index: built {} of {} transactions in {:.0?}",
                slot * ADDRESS_SLOT_TXS,
                slots * ADDRESS_SLOT_TXS,
                start.elapsed()
            );
        }
    }
    let size = std::fs::metadata(store.path()).map_or(0, |m| m.len());
    let took = start.elapsed();
    eprintln!(
        "address_index: ledger of {} transactions {} in {took:.0?} ({:.0} tx/s), {:.2} GiB",
        slots * ADDRESS_SLOT_TXS,
        if reuse {
            "reused, inputs regenerated"
        } else {
            "built"
        },
        (slots * ADDRESS_SLOT_TXS) as f64 / took.as_secs_f64(),
        size as f64 / f64::from(1u32 << 30)
    );
    AddressLedger {
        _dir: temp,
        store,
        hot,
        hot_signatures,
        payers: tracked
            .into_iter()
            .enumerate()
            .map(|(i, sigs)| (address(b"payer", i as u64), sigs))
            .collect(),
    }
}

/// What the node's `signatures_for_address` does short of JSON: the walk with the rooted check
/// once per slot. Returns how many it found.
fn signatures_query(store: &Store, address: &Pubkey, before: Option<&Signature>) -> usize {
    let mut last: Option<(Slot, bool)> = None;
    let found = store
        .signatures_for_address(address, before, None, QUERY_LIMIT, |slot| match last {
            Some((s, kept)) if s == slot => kept,
            _ => {
                let kept = store.is_rooted(slot).expect("roots");
                last = Some((slot, kept));
                kept
            }
        })
        .expect("query");
    found.len()
}

/// A query shape: the address and `before` of its n-th run.
type QueryInput = Box<dyn Fn(&AddressLedger, usize) -> (Pubkey, Option<Signature>)>;

/// Distinct inputs of the shapes that vary theirs: a query's first pass over them reads pages
/// nothing read before; the passes after find them cached (see the module docs).
const QUERY_INPUTS: usize = 1_000;

/// Query latencies: all, and split into the first pass over a shape's inputs and the passes after.
struct Latencies {
    all: Histogram<u64>,
    first_pass: Histogram<u64>,
    later: Histogram<u64>,
    found: u64,
}

impl Latencies {
    fn new() -> Latencies {
        let h = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
        Latencies {
            all: h(),
            first_pass: h(),
            later: h(),
            found: 0,
        }
    }

    fn record(&mut self, first_pass: bool, took: Duration, found: usize) {
        let us = took.as_micros() as u64;
        self.all.saturating_record(us);
        let part = if first_pass {
            &mut self.first_pass
        } else {
            &mut self.later
        };
        part.saturating_record(us);
        self.found += found as u64;
    }
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1_000.0
}

fn address_index(c: &mut Criterion) {
    let txs = address_ledger_txs();
    // Built on first use, so that a filter skipping these benches skips the build; dropped with
    // its directory when the group ends (a static would leave gigabytes in the temp directory).
    let ledger: OnceCell<AddressLedger> = OnceCell::new();
    let mut g = c.benchmark_group("address_index");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(1));
    let shapes: Vec<(&str, usize, QueryInput)> = vec![
        // The newest 1,000 of the hot address's ≈ 1 % of all transactions.
        ("hot/limit=1000", 1, Box::new(|l, _| (l.hot, None))),
        // Paging back from 1,000 places spread over the hot address's history.
        (
            "hot/before/limit=1000",
            QUERY_INPUTS,
            Box::new(|l, n| {
                let sigs = &l.hot_signatures;
                let spread = sigs.len().saturating_sub(QUERY_LIMIT).max(1);
                let at = QUERY_LIMIT + (n % QUERY_INPUTS * 7_919) % spread;
                (l.hot, sigs.get(at.min(sigs.len() - 1)).copied())
            }),
        ),
        // A payer's whole history (≈ 100 transactions in ≈ 100 buckets at 10 M).
        (
            "typical/limit=1000",
            QUERY_INPUTS,
            Box::new(|l, n| (l.payers[n % l.payers.len()].0, None)),
        ),
        // From the middle of a payer's history.
        (
            "typical/before/limit=1000",
            QUERY_INPUTS,
            Box::new(|l, n| {
                let (payer, sigs) = &l.payers[n % l.payers.len()];
                (*payer, sigs.get(sigs.len() / 2).copied())
            }),
        ),
    ];
    let mut results = Vec::new();
    for (name, inputs, input) in shapes {
        let latencies = std::cell::RefCell::new(Latencies::new());
        // Criterion calls the routine once per sample: the query count runs across them.
        let queries = std::cell::Cell::new(0usize);
        g.bench_function(format!("txs={txs}/{name}"), |b| {
            let ledger = ledger.get_or_init(|| address_ledger(txs));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let n = queries.get();
                    queries.set(n + 1);
                    let (address, before) = input(ledger, n);
                    let start = Instant::now();
                    let listed = signatures_query(&ledger.store, &address, before.as_ref());
                    let took = start.elapsed();
                    total += took;
                    latencies.borrow_mut().record(n < inputs, took, listed);
                }
                total
            })
        });
        results.push((name, latencies.into_inner()));
    }
    g.finish();
    for (name, l) in results.iter().filter(|(_, l)| !l.all.is_empty()) {
        let p99_ms = ms(&l.all, 0.99);
        println!(
            "address_index/txs={txs}/{name}: {} queries of {:.0} signatures on average, \
             p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; p99 / {QUERY_P99_LIMIT_MS} ms limit = {:.3}; \
             first pass over the inputs {} queries p50 {:.3} ms p99 {:.3} ms, later {} queries \
             p50 {:.3} ms p99 {:.3} ms",
            l.all.len(),
            l.found as f64 / l.all.len() as f64,
            ms(&l.all, 0.5),
            p99_ms,
            l.all.max() as f64 / 1_000.0,
            p99_ms / QUERY_P99_LIMIT_MS,
            l.first_pass.len(),
            ms(&l.first_pass, 0.5),
            ms(&l.first_pass, 0.99),
            l.later.len(),
            ms(&l.later, 0.5),
            ms(&l.later, 0.99),
        );
    }
}

criterion_group!(benches, store, address_index);
criterion_main!(benches);
