//! The ledger's write path: one slot committed to redb the way the ledger stage commits a leader's
//! block — its entries, one status row per transaction (random signatures), and, rooted at once, the
//! account balances it changed — fsync'd (`Durability::Immediate`), into a ledger that already holds
//! `WARM_SLOTS` such slots (≈ 0.5 M statuses), since a B-tree's cost grows with what it holds.
//! Throughput is transactions/s. Beside it: the machine's limit, the same bytes appended to a file
//! and fsync'd (`limit_append_fsync`); and the same rows in redb keyed by signature alone
//! (`signature_keyed_redb`, the first layout of the status table), whose commits touch a random
//! leaf per transaction and slow down as the table grows.

use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Bencher, Criterion, Throughput};
use dataplane::store::{SlotCommit, SlotMeta, Store, TxStatusRecord};
use dataplane::types::{Hash, Pubkey, Signature, Slot};
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

criterion_group!(benches, store);
criterion_main!(benches);
