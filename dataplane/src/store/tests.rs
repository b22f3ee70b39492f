//! Store tests on real redb files in temporary directories, including a SIGKILL crash test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::bank_forks::RootUpdates;
use crate::vote_state::VoteState;

fn genesis() -> Hash {
    Hash::of(b"store test cluster")
}

pub(super) fn pk(n: u8) -> Pubkey {
    Pubkey([n; 32])
}

/// A signature unique to (slot, transaction number).
pub(super) fn sig(slot: u64, n: u32) -> Signature {
    let mut s = [0u8; 64];
    s[..8].copy_from_slice(&slot.to_le_bytes());
    s[8..12].copy_from_slice(&n.to_le_bytes());
    Signature(s)
}

/// Entry bytes that depend on the slot and index, so a read-back proves which row came back.
fn entry_bytes(slot: u64, index: u32) -> Vec<u8> {
    let len = 40 + (slot as usize * 7 + index as usize * 13) % 200;
    (0..len)
        .map(|i| (slot as usize ^ (index as usize * 31) ^ i) as u8)
        .collect()
}

fn meta(slot: u64, entry_count: u32) -> SlotMeta {
    SlotMeta {
        slot: Slot(slot),
        parent_slot: Slot(slot.saturating_sub(1)),
        blockhash: Hash::of(&slot.to_le_bytes()),
        bank_hash: Hash::hashv(&[b"bank", &slot.to_le_bytes()]),
        block_height: slot,
        block_time_ms: 1_700_000_000_000 + slot * 400,
        leader: pk(200),
        entry_count,
        transaction_count: 2,
        signature_count: 2,
        collected_fees: 10_000,
    }
}

pub(super) fn status(slot: u64, txn_index: u16, err: Option<&str>) -> TxStatusRecord {
    TxStatusRecord {
        slot: Slot(slot),
        entry_index: 1,
        txn_index,
        fee: 5_000,
        err: err.map(str::to_owned),
        pre_balances: vec![100, 0, 1],
        post_balances: vec![45, 50, 1],
    }
}

pub(super) fn commit(
    slot: u64,
    entries: u32,
    updates: Vec<(Pubkey, u64)>,
    root: bool,
) -> SlotCommit {
    SlotCommit {
        meta: meta(slot, entries),
        entries: (0..entries).map(|i| entry_bytes(slot, i)).collect(),
        statuses: vec![
            (sig(slot, 0), status(slot, 0, None)),
            (
                sig(slot, 1),
                status(slot, 1, Some(r#"{"InstructionError":[0,{"Custom":1}]}"#)),
            ),
        ],
        account_updates: updates.into(),
        root,
        data_shreds: Vec::new(),
        last_fec_root: None,
        prioritization_fees: Default::default(),
        address_signatures: Vec::new(),
    }
}

pub(super) fn open(dir: &Path) -> Store {
    Store::open(dir, genesis()).unwrap()
}

#[test]
fn store_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn commit_then_read_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.root().unwrap(), None);
    assert_eq!(store.latest_slot().unwrap(), None);
    assert_eq!(store.genesis_hash(), genesis());

    let c = commit(3, 5, vec![(pk(1), 700), (pk(2), 300)], true);
    store.commit_slot(&c).unwrap();

    assert_eq!(store.slot_meta(Slot(3)).unwrap(), Some(c.meta.clone()));
    assert_eq!(store.slot_meta(Slot(4)).unwrap(), None);
    assert_eq!(store.entries(Slot(3)).unwrap(), c.entries);
    assert_eq!(store.entries(Slot(4)).unwrap(), Vec::<Vec<u8>>::new());
    assert_eq!(store.entry(Slot(3), 4).unwrap(), Some(c.entries[4].clone()));
    assert_eq!(store.entry(Slot(3), 5).unwrap(), None);
    for (signature, record) in &c.statuses {
        assert_eq!(store.tx_status(signature).unwrap().as_ref(), Some(record));
    }
    assert_eq!(store.tx_status(&sig(3, 9)).unwrap(), None);
    assert_eq!(store.account(&pk(1)).unwrap(), Some(700));
    assert_eq!(store.account(&pk(9)).unwrap(), None);
    assert_eq!(
        store.load_accounts().unwrap(),
        vec![(pk(1), 700), (pk(2), 300)]
    );
    assert_eq!(store.total_supply().unwrap(), 1_000);
    assert_eq!(store.root().unwrap(), Some(Slot(3)));
    assert_eq!(store.latest_slot().unwrap(), Some(Slot(3)));
    assert_eq!(store.slots_above_root().unwrap(), Vec::<Slot>::new());
}

#[test]
fn a_slots_statuses_are_read_whole_and_only_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for slot in [3, 4, 5] {
        store
            .commit_slot(&commit(slot, 1, vec![(pk(1), 700)], false))
            .unwrap();
    }
    let c = commit(4, 1, vec![(pk(1), 700)], false);
    let got = store.tx_statuses_in(Slot(4)).unwrap();
    assert_eq!(got.len(), c.statuses.len());
    for (signature, record) in &c.statuses {
        assert_eq!(got.get(signature), Some(record));
    }
    assert!(store.tx_statuses_in(Slot(6)).unwrap().is_empty());
}

/// A vote state that has voted on `slot`.
fn voted(slot: u64) -> std::sync::Arc<VoteState> {
    let mut state = VoteState::new(pk(7), pk(7));
    state.votes.push(crate::vote::Lockout::new(Slot(slot)));
    std::sync::Arc::new(state)
}

#[test]
fn rooted_vote_states_commit_with_the_slot_or_its_root_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let mut c = commit(1, 1, vec![(pk(1), 10)], true);
        c.account_updates.vote_states = vec![(pk(5), voted(0)), (pk(6), voted(0))];
        store.commit_slot(&c).unwrap();
        // Unrooted: stored with the block, not applied.
        let mut c = commit(2, 1, vec![], false);
        c.account_updates.vote_states = vec![(pk(5), voted(1))];
        store.commit_slot(&c).unwrap();
        assert_eq!(store.vote_state(&pk(5)).unwrap(), Some((*voted(0)).clone()));
        let updates = RootUpdates {
            accounts: vec![],
            vote_states: vec![(pk(5), voted(1))],
        };
        store.set_root(Slot(2), &updates).unwrap();
    }
    let store = open(dir.path());
    assert_eq!(
        store.load_vote_states().unwrap(),
        vec![(pk(5), (*voted(1)).clone()), (pk(6), (*voted(0)).clone())]
    );
    assert_eq!(store.vote_state(&pk(9)).unwrap(), None);
    // A damaged row is named, not skipped.
    write_raw(&store, VOTE_STATES, &pk(6).0, &[1, 2, 3]);
    let err = store.load_vote_states().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                table: "vote_states",
                ..
            }
        ),
        "{err}"
    );
    assert!(store.vote_state(&pk(6)).is_err());
}

#[test]
fn slots_in_range_returns_stored_slots_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for slot in [2, 4, 5, 9] {
        store.commit_slot(&commit(slot, 1, vec![], true)).unwrap();
    }
    let slots: Vec<Slot> = store
        .slots_in_range(Slot(3)..=Slot(9))
        .unwrap()
        .into_iter()
        .map(|m| m.slot)
        .collect();
    assert_eq!(slots, vec![Slot(4), Slot(5), Slot(9)]);
    assert_eq!(store.slots_in_range(Slot(6)..=Slot(8)).unwrap(), vec![]);
}

#[test]
fn unrooted_slots_wait_above_the_root_until_set_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .commit_slot(&commit(1, 2, vec![(pk(1), 1_000)], true))
        .unwrap();
    store
        .commit_slot(&commit(2, 2, vec![(pk(1), 1)], false))
        .unwrap();
    store.commit_slot(&commit(3, 2, vec![], false)).unwrap();

    assert_eq!(store.root().unwrap(), Some(Slot(1)));
    assert_eq!(store.latest_slot().unwrap(), Some(Slot(3)));
    assert_eq!(store.slots_above_root().unwrap(), vec![Slot(2), Slot(3)]);
    assert_eq!(
        store.account(&pk(1)).unwrap(),
        Some(1_000),
        "unrooted updates must not touch the accounts table"
    );

    store
        .set_root(Slot(2), &vec![(pk(1), 400), (pk(2), 600)].into())
        .unwrap();
    assert_eq!(store.root().unwrap(), Some(Slot(2)));
    assert_eq!(store.slots_above_root().unwrap(), vec![Slot(3)]);
    assert_eq!(store.account(&pk(2)).unwrap(), Some(600));
    assert_eq!(store.total_supply().unwrap(), 1_000);
}

#[test]
fn root_only_moves_forward_and_rooted_slots_are_immutable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.commit_slot(&commit(5, 1, vec![], true)).unwrap();
    store.commit_slot(&commit(7, 1, vec![], false)).unwrap();

    let err = store.commit_slot(&commit(5, 1, vec![], false)).unwrap_err();
    assert!(matches!(
        err,
        StoreError::AtOrBelowRoot {
            slot: Slot(5),
            root: Slot(5)
        }
    ));
    assert!(matches!(
        store
            .set_root(Slot(4), &RootUpdates::default())
            .unwrap_err(),
        StoreError::AtOrBelowRoot { .. }
    ));
    let err = store
        .set_root(Slot(6), &RootUpdates::default())
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownSlot(Slot(6))), "{err}");
    assert_eq!(store.root().unwrap(), Some(Slot(5)));
    store.set_root(Slot(7), &RootUpdates::default()).unwrap();
    assert_eq!(store.root().unwrap(), Some(Slot(7)));
}

#[test]
fn recommitting_an_unrooted_slot_replaces_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.commit_slot(&commit(4, 6, vec![], false)).unwrap();
    let shorter = commit(4, 2, vec![], false);
    store.commit_slot(&shorter).unwrap();
    assert_eq!(store.entries(Slot(4)).unwrap(), shorter.entries);
    assert_eq!(store.entry(Slot(4), 5).unwrap(), None);
    assert_eq!(store.slot_meta(Slot(4)).unwrap().unwrap().entry_count, 2);
}

#[test]
fn shreds_and_fec_root_are_stored_with_the_block_and_replaced_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.shred_count(Slot(5)).unwrap(), 0);
    let mut c = commit(5, 2, vec![], false);
    c.data_shreds = vec![vec![1; 10], vec![2; 20], vec![3; 30]];
    c.last_fec_root = Some(Hash([8; 32]));
    store.commit_slot(&c).unwrap();
    assert_eq!(store.shred_count(Slot(5)).unwrap(), 3);
    assert_eq!(store.shred(Slot(5), 1).unwrap(), Some(vec![2; 20]));
    assert_eq!(store.shred(Slot(5), 3).unwrap(), None);
    assert_eq!(store.shred(Slot(4), 0).unwrap(), None);
    assert_eq!(store.last_fec_root(Slot(5)).unwrap(), Some(Hash([8; 32])));
    // A replacing commit (a repaired or re-received version of the block) drops the old shreds.
    c.data_shreds = vec![vec![9; 5]];
    c.last_fec_root = None;
    store.commit_slot(&c).unwrap();
    assert_eq!(store.shred_count(Slot(5)).unwrap(), 1);
    assert_eq!(store.shred(Slot(5), 1).unwrap(), None);
    assert_eq!(store.last_fec_root(Slot(5)).unwrap(), None);
}

#[test]
fn dead_slots_keep_their_first_reason_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        assert_eq!(store.dead_reason(Slot(3)).unwrap(), None);
        store.mark_dead(Slot(3), "bank hash mismatch").unwrap();
        store.mark_dead(Slot(3), "second opinion").unwrap();
    }
    let store = open(dir.path());
    assert_eq!(
        store.dead_reason(Slot(3)).unwrap().as_deref(),
        Some("bank hash mismatch")
    );
    assert_eq!(store.dead_reason(Slot(4)).unwrap(), None);
}

#[test]
fn zero_balance_removes_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .commit_slot(&commit(1, 1, vec![(pk(1), 10), (pk(2), 5)], true))
        .unwrap();
    store
        .commit_slot(&commit(2, 1, vec![(pk(1), 0), (pk(2), 15)], true))
        .unwrap();
    assert_eq!(store.account(&pk(1)).unwrap(), None);
    assert_eq!(store.load_accounts().unwrap(), vec![(pk(2), 15)]);
}

#[test]
fn a_failure_before_commit_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .commit_slot(&commit(1, 1, vec![(pk(1), 100)], true))
        .unwrap();

    store.inject_failure_before_commit(true);
    let c = commit(2, 3, vec![(pk(1), 40), (pk(2), 60)], true);
    assert!(matches!(
        store.commit_slot(&c).unwrap_err(),
        StoreError::Injected
    ));
    assert_eq!(store.slot_meta(Slot(2)).unwrap(), None);
    assert_eq!(store.entries(Slot(2)).unwrap(), Vec::<Vec<u8>>::new());
    assert_eq!(store.tx_status(&sig(2, 0)).unwrap(), None);
    assert_eq!(store.account(&pk(1)).unwrap(), Some(100));
    assert_eq!(store.account(&pk(2)).unwrap(), None);
    assert_eq!(store.root().unwrap(), Some(Slot(1)));
    assert_eq!(store.latest_slot().unwrap(), Some(Slot(1)));

    // The same commit goes through once the fault is gone: nothing half-written blocks it.
    store.inject_failure_before_commit(false);
    store.commit_slot(&c).unwrap();
    assert_eq!(store.entries(Slot(2)).unwrap(), c.entries);
    assert_eq!(store.total_supply().unwrap(), 100);
}

#[test]
fn inconsistent_commits_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut c = commit(1, 3, vec![(pk(1), 5)], true);
    c.meta.entry_count = 4;
    let err = store.commit_slot(&c).unwrap_err();
    assert!(
        err.to_string()
            .contains("meta says 4 entries, commit carries 3"),
        "{err}"
    );

    let mut c = commit(1, 3, vec![(pk(1), 5)], true);
    c.statuses[1].1.post_balances = vec![0; 36];
    let err = store.commit_slot(&c).unwrap_err();
    assert!(matches!(
        err,
        StoreError::InvalidCommit { slot: Slot(1), .. }
    ));
    assert!(
        err.to_string().contains("post_balances has 36 entries"),
        "{err}"
    );

    assert_eq!(store.slot_meta(Slot(1)).unwrap(), None);
    assert_eq!(store.tx_status(&sig(1, 0)).unwrap(), None);
    assert_eq!(store.account(&pk(1)).unwrap(), None);
}

#[test]
fn readers_keep_their_snapshot_while_the_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    store
        .commit_slot(&commit(1, 1, vec![(pk(1), 10), (pk(2), 20)], true))
        .unwrap();
    let mut snapshot = store.accounts_iter().unwrap();
    let first = snapshot.next().unwrap().unwrap();

    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            store.commit_slot(&commit(2, 1, vec![(pk(2), 0), (pk(3), 20)], true))
        })
    };
    writer.join().unwrap().unwrap();

    let rest: Vec<_> = snapshot.map(Result::unwrap).collect();
    assert_eq!(first, (pk(1), 10));
    assert_eq!(
        rest,
        vec![(pk(2), 20)],
        "the open iterator sees its snapshot"
    );
    assert_eq!(
        store.load_accounts().unwrap(),
        vec![(pk(1), 10), (pk(3), 20)]
    );
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let c1 = commit(1, 3, vec![(pk(1), 70), (pk(2), 30)], true);
    let c2 = commit(2, 2, vec![], false);
    {
        let store = open(dir.path());
        store.commit_slot(&c1).unwrap();
        store.commit_slot(&c2).unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.slot_meta(Slot(1)).unwrap(), Some(c1.meta.clone()));
    assert_eq!(store.entries(Slot(2)).unwrap(), c2.entries);
    assert_eq!(
        store.tx_status(&c2.statuses[1].0).unwrap().as_ref(),
        Some(&c2.statuses[1].1)
    );
    assert_eq!(store.root().unwrap(), Some(Slot(1)));
    assert_eq!(store.latest_slot().unwrap(), Some(Slot(2)));
    assert_eq!(store.slots_above_root().unwrap(), vec![Slot(2)]);
    assert_eq!(store.total_supply().unwrap(), 100);
}

#[test]
fn another_clusters_ledger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let other = Hash::of(b"another cluster");
    let err = Store::open(dir.path(), other).unwrap_err();
    match &err {
        StoreError::GenesisMismatch {
            stored, expected, ..
        } => {
            assert_eq!(*stored, genesis());
            assert_eq!(*expected, other);
        }
        e => panic!("expected GenesisMismatch, got {e}"),
    }
    let message = err.to_string();
    assert!(message.contains(&genesis().to_string()), "{message}");
    assert!(message.contains(&other.to_string()), "{message}");
    // The refusal wrote nothing: the right cluster still opens.
    drop(open(dir.path()));
}

#[test]
fn another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        write_raw(&store, META, META_SCHEMA_VERSION, &99u32.to_le_bytes());
    }
    let err = Store::open(dir.path(), genesis()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaVersion { found: 99, .. }),
        "{err}"
    );
}

/// Writes a row behind the store's back, as disk damage or a buggy older build would.
fn write_raw<'k, K: redb::Key + 'static>(
    store: &Store,
    table: TableDefinition<K, &[u8]>,
    key: impl std::borrow::Borrow<K::SelfType<'k>>,
    value: &[u8],
) {
    let txn = store.db.begin_write().unwrap();
    txn.open_table(table).unwrap().insert(key, value).unwrap();
    txn.commit().unwrap();
}

#[test]
fn corrupted_rows_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.commit_slot(&commit(1, 3, vec![], false)).unwrap();

    write_raw(&store, SLOT_META, 1u64, b"short");
    let err = store.slot_meta(Slot(1)).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { table: "slot_meta", key, .. } if key == "slot 1"),
        "{err}"
    );
    assert!(store.slots_in_range(Slot(0)..=Slot(9)).is_err());

    // A well-formed row stored under the wrong key.
    let mut row = Vec::new();
    codec::encode_slot_meta(&meta(8, 0), &mut row);
    write_raw(&store, SLOT_META, 2u64, &row);
    let err = store.slot_meta(Slot(2)).unwrap_err();
    assert!(err.to_string().contains("row holds slot 8"), "{err}");

    let mut row = Vec::new();
    codec::encode_tx_status(&status(1, 0, None), &mut row);
    row.push(0);
    write_raw(&store, TX_STATUS, (1u64, &sig(1, 0).0), &row);
    let err = store.tx_status(&sig(1, 0)).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { table: "tx_status", reason, .. } if reason.contains("trailing")),
        "{err}"
    );

    write_raw(&store, META, META_ROOT_SLOT, &[1, 2, 3]);
    let err = store.root().unwrap_err();
    assert!(
        err.to_string().contains("value is 3 bytes, expected 8"),
        "{err}"
    );
}

#[test]
fn missing_entries_are_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.commit_slot(&commit(1, 4, vec![], false)).unwrap();
    let txn = store.db.begin_write().unwrap();
    txn.open_table(ENTRIES)
        .unwrap()
        .remove((1u64, 1u32))
        .unwrap();
    txn.commit().unwrap();
    let err = store.entries(Slot(1)).unwrap_err();
    assert!(err.to_string().contains("not contiguous"), "{err}");

    let txn = store.db.begin_write().unwrap();
    txn.open_table(ENTRIES)
        .unwrap()
        .remove((1u64, 3u32))
        .unwrap();
    txn.open_table(ENTRIES)
        .unwrap()
        .remove((1u64, 2u32))
        .unwrap();
    txn.commit().unwrap();
    let err = store.entries(Slot(1)).unwrap_err();
    assert!(
        err.to_string()
            .contains("1 entries stored, slot meta says 4"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Crash test: a child process (this test binary, re-executed) commits slots with Immediate
// durability and prints each slot after its commit returns; the parent SIGKILLs it mid-run,
// reopens the ledger and checks that every reported slot is there and no lamport was created.

const CRASH_DIR_ENV: &str = "BLACKBOOK_STORE_CRASH_DIR";
const CRASH_ACCOUNTS: u8 = 16;
const CRASH_BALANCE: u64 = 1_000_000;
const CRASH_ENTRIES_PER_SLOT: u32 = 4;

fn crash_child_test_name() -> String {
    let module = module_path!();
    let module = module.split_once("::").map_or(module, |(_, rest)| rest);
    format!("{module}::crash_writer_child")
}

/// The crash test's writer: runs only when re-executed by `sigkill_mid_run_loses_no_committed_slot`.
#[test]
#[ignore = "child process of sigkill_mid_run_loses_no_committed_slot"]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&dir), genesis()).unwrap();
    let mut balances: BTreeMap<Pubkey, u64> = (0..CRASH_ACCOUNTS).map(|n| (pk(n), 0)).collect();
    balances.extend(store.load_accounts().unwrap());
    let mut stdout = std::io::stdout().lock();
    let mut slot = match store.latest_slot().unwrap() {
        Some(latest) => latest.0 + 1,
        None => {
            let funded = (0..CRASH_ACCOUNTS)
                .map(|n| (pk(n), CRASH_BALANCE))
                .collect();
            store.commit_slot(&crash_commit(0, funded)).unwrap();
            writeln!(stdout, "committed 0").unwrap();
            balances.extend((0..CRASH_ACCOUNTS).map(|n| (pk(n), CRASH_BALANCE)));
            1
        }
    };
    let mut rng = StdRng::seed_from_u64(slot);
    loop {
        let mut updates = Vec::new();
        for _ in 0..4 {
            let from = pk(rng.gen_range(0..CRASH_ACCOUNTS));
            let to = pk(rng.gen_range(0..CRASH_ACCOUNTS));
            let amount = rng.gen_range(0..=balances[&from]);
            *balances.get_mut(&from).unwrap() -= amount;
            *balances.get_mut(&to).unwrap() += amount;
            updates.push((from, balances[&from]));
            updates.push((to, balances[&to]));
        }
        store.commit_slot(&crash_commit(slot, updates)).unwrap();
        writeln!(stdout, "committed {slot}").unwrap();
        stdout.flush().unwrap();
        slot += 1;
    }
}

fn crash_commit(slot: u64, account_updates: Vec<(Pubkey, u64)>) -> SlotCommit {
    let mut c = commit(slot, CRASH_ENTRIES_PER_SLOT, account_updates, true);
    c.meta.parent_slot = Slot(slot.saturating_sub(1));
    c
}

#[test]
fn sigkill_mid_run_loses_no_committed_slot() {
    use std::os::unix::process::ExitStatusExt;

    let dir = tempfile::tempdir().unwrap();
    let mut reported = Vec::new();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                &crash_child_test_name(),
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Vary the kill point so rounds interrupt the writer at different moments.
        let kill_after = 8 + round * 5;
        let mut seen = 0;
        for line in lines.by_ref() {
            if let Some(slot) = line.unwrap().strip_prefix("committed ") {
                reported.push(slot.parse::<u64>().unwrap());
                seen += 1;
                if seen == kill_after {
                    // SAFETY: plain syscall on the pid of a child we spawned and have not reaped.
                    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
                    assert_eq!(rc, 0, "kill failed");
                    break;
                }
            }
        }
        assert_eq!(seen, kill_after, "writer stopped before it was killed");
        // Lines the writer printed before it died are still in the pipe.
        for line in lines {
            if let Some(slot) = line.unwrap().strip_prefix("committed ") {
                reported.push(slot.parse().unwrap());
            }
        }
        let exit = child.wait().unwrap();
        assert_eq!(exit.signal(), Some(libc::SIGKILL), "{exit:?}");

        let store = open(dir.path());
        for &slot in &reported {
            let meta = store.slot_meta(Slot(slot)).unwrap();
            assert_eq!(meta.map(|m| m.slot), Some(Slot(slot)), "slot {slot} lost");
            let expected: Vec<_> = (0..CRASH_ENTRIES_PER_SLOT)
                .map(|i| entry_bytes(slot, i))
                .collect();
            assert_eq!(store.entries(Slot(slot)).unwrap(), expected);
            assert!(store.tx_status(&sig(slot, 1)).unwrap().is_some());
        }
        let last_reported = *reported.iter().max().unwrap();
        let root = store.root().unwrap().unwrap();
        assert!(
            root.0 >= last_reported,
            "root {root} below reported {last_reported}"
        );
        assert_eq!(store.latest_slot().unwrap(), Some(root));
        assert_eq!(
            store.total_supply().unwrap(),
            u64::from(CRASH_ACCOUNTS) * CRASH_BALANCE,
            "lamports created or lost across the crash"
        );
    }
}

// ---------------------------------------------------------------------------------------------

/// Commit latency of a busy slot: 1,000 account updates and 1,000 statuses, by durability.
#[test]
#[ignore = "benchmark: cargo test -p blackbook-dataplane --release --lib store::tests::commit_latency -- --ignored --nocapture"]
fn commit_latency_1000_updates_1000_statuses() {
    const SLOTS: u64 = 30;
    const UPDATES: usize = 1_000;
    const STATUSES: u32 = 1_000;
    for durability in [Durability::Immediate, Durability::Buffered] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_durability(dir.path(), genesis(), durability).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut latencies_us = Vec::new();
        for slot in 0..SLOTS {
            let mut c = commit(slot, 64, Vec::new(), true);
            // Entries about the size of 1,000 transfers (≈ 215 bytes each) split over 64 entries.
            c.entries = (0..64).map(|_| vec![slot as u8; 3_400]).collect();
            // Real signatures are random: each status lands on a random leaf of the table.
            c.statuses = (0..STATUSES)
                .map(|n| {
                    let mut s = [0u8; 64];
                    rng.fill(&mut s[..]);
                    (Signature(s), status(slot, (n % 64) as u16, None))
                })
                .collect();
            c.account_updates.accounts = (0..UPDATES)
                .map(|_| (Pubkey(rng.gen()), rng.gen_range(1..1_000_000)))
                .collect();
            let start = Instant::now();
            store.commit_slot(&c).unwrap();
            latencies_us.push(start.elapsed().as_micros() as u64);
        }
        // The first commits grow a fresh file; report steady state.
        let mut steady = latencies_us[5..].to_vec();
        steady.sort_unstable();
        let mean = steady.iter().sum::<u64>() / steady.len() as u64;
        println!(
            "store commit {durability:?}: {UPDATES} account updates + {STATUSES} statuses + 64 entries: \
             p50 {} us, mean {mean} us, max {} us ({} commits)",
            steady[steady.len() / 2],
            steady[steady.len() - 1],
            steady.len()
        );
    }
}

#[test]
fn statuses_are_found_by_signature_across_index_buckets_forks_and_shared_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // Slots spread over several index buckets, some skipped.
    let slots: Vec<u64> = (1..=5 * SIG_INDEX_BUCKET_SLOTS).step_by(3).collect();
    for &slot in &slots {
        store.commit_slot(&commit(slot, 1, vec![], false)).unwrap();
    }
    for &slot in &slots {
        for n in 0..2 {
            let rec = store.tx_status(&sig(slot, n)).unwrap().unwrap();
            assert_eq!(
                (rec.slot, rec.txn_index),
                (Slot(slot), n as u16),
                "slot {slot}"
            );
            assert_eq!(
                store.tx_status_in(Slot(slot), &sig(slot, n)).unwrap(),
                Some(rec)
            );
        }
        // Same 8-byte prefix as a stored signature, different signature: not found.
        assert_eq!(store.tx_status(&sig(slot, 7)).unwrap(), None);
    }
    // A slot that is not stored, and a signature asked of the wrong block.
    assert_eq!(store.tx_status(&sig(2, 0)).unwrap(), None);
    assert_eq!(store.tx_status_in(Slot(4), &sig(1, 0)).unwrap(), None);

    // The same transaction in two forks' blocks (slots 40 and 41, one bucket or two): the newest
    // slot's status is the answer, and each block still has its own.
    let mut a = commit(40, 1, vec![], false);
    let mut b = commit(41, 1, vec![], false);
    let shared = sig(99, 5);
    a.statuses.push((shared, status(40, 0, None)));
    b.statuses
        .push((shared, status(41, 0, Some(r#""AccountInUse""#))));
    store.commit_slot(&a).unwrap();
    store.commit_slot(&b).unwrap();
    assert_eq!(store.tx_status(&shared).unwrap().unwrap().slot, Slot(41));
    assert_eq!(
        store.tx_status_in(Slot(40), &shared).unwrap().unwrap().err,
        None
    );

    // A block stored late into an old bucket (another fork's), after newer buckets sealed it.
    store.commit_slot(&commit(2, 1, vec![], false)).unwrap();
    assert_eq!(store.tx_status(&sig(2, 1)).unwrap().unwrap().slot, Slot(2));
    // Reopened: the in-memory bucket filters are rebuilt from the index, and find everything.
    drop(store);
    let store = open(dir.path());
    for &slot in slots.iter().chain(&[2]) {
        assert_eq!(
            store.tx_status(&sig(slot, 1)).unwrap().unwrap().slot,
            Slot(slot)
        );
    }
    assert_eq!(store.tx_status(&shared).unwrap().unwrap().slot, Slot(41));
    assert_eq!(store.tx_status(&sig(3, 0)).unwrap(), None);
}

#[test]
fn a_replaced_block_takes_its_old_statuses_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut first = commit(5, 1, vec![], false);
    let gone = sig(77, 1);
    first.statuses.push((gone, status(5, 0, None)));
    store.commit_slot(&first).unwrap();
    assert!(store.tx_status(&gone).unwrap().is_some());
    // Another block for slot 5 (not rooted, so it may be replaced) without that transaction.
    store.commit_slot(&commit(5, 2, vec![], false)).unwrap();
    assert_eq!(store.tx_status(&gone).unwrap(), None);
    assert_eq!(store.tx_status_in(Slot(5), &gone).unwrap(), None);
    assert!(store.tx_status(&sig(5, 1)).unwrap().is_some());
}

/// Everything stored for `slot`, to compare before and after another slot's removal.
fn stored_rows(store: &Store, slot: u64) -> impl PartialEq + std::fmt::Debug {
    let slot = Slot(slot);
    let signatures = [sig(slot.0, 0), sig(slot.0, 1), sig(99, 5)];
    (
        store.slot_meta(slot).unwrap(),
        store.entries(slot).unwrap(),
        (0..4)
            .map(|i| store.shred(slot, i).unwrap())
            .collect::<Vec<_>>(),
        store.last_fec_root(slot).unwrap(),
        store.dead_reason(slot).unwrap(),
        signatures
            .iter()
            .map(|s| {
                (
                    store.tx_status_in(slot, s).unwrap(),
                    store.sig_index_names(s, slot).unwrap(),
                )
            })
            .collect::<Vec<_>>(),
    )
}

#[test]
fn remove_block_deletes_exactly_that_slots_rows_and_never_at_or_below_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .commit_slot(&commit(2, 1, vec![(pk(1), 500)], true))
        .unwrap();
    // Slots 3, 4 and 5 share a signature-index bucket; 4 and 5 hold one transaction in common.
    let shared = sig(99, 5);
    for slot in [3u64, 4, 5] {
        let mut c = commit(slot, 3, vec![], false);
        c.data_shreds = vec![vec![slot as u8; 10], vec![slot as u8 + 1; 10]];
        c.last_fec_root = Some(Hash([slot as u8; 32]));
        if slot != 3 {
            c.statuses.push((shared, status(slot, 2, None)));
        }
        store.commit_slot(&c).unwrap();
    }
    store.mark_dead(Slot(6), "poh: chain broken").unwrap();
    store.put_duplicate_proof(Slot(4), b"one", b"two").unwrap();
    let others: Vec<u64> = vec![2, 3, 5, 6];
    let before: Vec<_> = others.iter().map(|&s| stored_rows(&store, s)).collect();
    assert!(store.sig_index_names(&sig(4, 0), Slot(4)).unwrap());

    let listed = |store: &Store| -> Vec<Slot> {
        let fees = store.recent_prioritization_fees(&[]);
        fees.into_iter().map(|(s, _)| s).collect()
    };
    assert_eq!(listed(&store), vec![Slot(2), Slot(3), Slot(4), Slot(5)]);
    assert!(store.remove_block(Slot(4)).unwrap());
    assert_eq!(listed(&store), vec![Slot(2), Slot(3), Slot(5)]);
    assert_eq!(store.slot_meta(Slot(4)).unwrap(), None);
    assert_eq!(store.entries(Slot(4)).unwrap(), Vec::<Vec<u8>>::new());
    assert_eq!(store.entry(Slot(4), 0).unwrap(), None);
    assert_eq!(store.shred_count(Slot(4)).unwrap(), 0);
    assert_eq!(store.last_fec_root(Slot(4)).unwrap(), None);
    for s in [sig(4, 0), sig(4, 1), shared] {
        assert_eq!(store.tx_status_in(Slot(4), &s).unwrap(), None);
        assert!(!store.sig_index_names(&s, Slot(4)).unwrap());
    }
    assert_eq!(store.tx_status(&sig(4, 0)).unwrap(), None);
    // The other block holding the shared transaction answers for it now.
    assert_eq!(store.tx_status(&shared).unwrap().unwrap().slot, Slot(5));
    let after: Vec<_> = others.iter().map(|&s| stored_rows(&store, s)).collect();
    assert_eq!(before, after, "other slots' rows are untouched");
    // Rooted state, the root and the duplicate proof (about the slot, not the version) stay.
    assert_eq!(store.root().unwrap(), Some(Slot(2)));
    assert_eq!(store.account(&pk(1)).unwrap(), Some(500));
    assert!(store.duplicate_proof(Slot(4)).unwrap().is_some());
    assert_eq!(store.slots_above_root().unwrap(), vec![Slot(3), Slot(5)]);
    assert_eq!(store.latest_slot().unwrap(), Some(Slot(5)));

    // The newest block gone, the latest stored slot moves back; a dead mark alone is removed too;
    // nothing stored is nothing removed.
    assert!(store.remove_block(Slot(5)).unwrap());
    assert_eq!(store.latest_slot().unwrap(), Some(Slot(3)));
    assert!(store.remove_block(Slot(6)).unwrap());
    assert_eq!(store.dead_reason(Slot(6)).unwrap(), None);
    assert!(!store.remove_block(Slot(9)).unwrap());

    // At and below the root: refused, nothing touched.
    for slot in [2, 1] {
        assert!(matches!(
            store.remove_block(Slot(slot)),
            Err(StoreError::AtOrBelowRoot { root: Slot(2), .. })
        ));
    }
    assert_eq!(stored_rows(&store, 2), before[0]);
    assert!(store.is_rooted(Slot(2)).unwrap());

    // Another version of the removed slot can be stored in its place, and survives reopening.
    let mut other = commit(4, 1, vec![], false);
    other.meta.bank_hash = Hash([44; 32]);
    store.commit_slot(&other).unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store.slot_meta(Slot(4)).unwrap().unwrap().bank_hash,
        Hash([44; 32])
    );
    assert_eq!(store.slot_meta(Slot(5)).unwrap(), None);
}

#[test]
fn the_first_duplicate_slot_proof_per_slot_is_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        assert_eq!(store.duplicate_proof(Slot(7)).unwrap(), None);
        assert!(store
            .put_duplicate_proof(Slot(7), &[1; 40], &[2; 41])
            .unwrap());
        assert!(!store
            .put_duplicate_proof(Slot(7), &[3; 40], &[4; 40])
            .unwrap());
    }
    let store = open(dir.path());
    assert_eq!(
        store.duplicate_proof(Slot(7)).unwrap(),
        Some((vec![1; 40], vec![2; 41]))
    );
    assert_eq!(store.duplicate_proof(Slot(8)).unwrap(), None);
}

#[test]
fn the_roots_table_holds_the_rooted_chain_and_not_abandoned_or_skipped_slots() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // 0 (rooted at once) <- 1 <- 2 <- 4, and 3 on an abandoned fork off 1.
    store.commit_slot(&commit(0, 0, vec![], true)).unwrap();
    for (slot, parent) in [(1, 0), (2, 1), (3, 1), (4, 2)] {
        let mut c = commit(slot, 0, vec![], false);
        c.meta.parent_slot = Slot(parent);
        store.commit_slot(&c).unwrap();
    }
    store.set_root(Slot(4), &Default::default()).unwrap();
    let rooted: Vec<u64> = (0..=5)
        .filter(|s| store.is_rooted(Slot(*s)).unwrap())
        .collect();
    assert_eq!(rooted, vec![0, 1, 2, 4]);
}

#[test]
fn slashing_evidence_is_kept_once_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let offender = pk(9);
    assert!(store
        .put_evidence(&offender, "double_vote", Slot(5), b"one", b"two")
        .unwrap());
    assert!(!store
        .put_evidence(&offender, "double_vote", Slot(5), b"one", b"three")
        .unwrap());
    let all = store.evidence().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].offender, offender);
    assert_eq!(all[0].second, b"two".to_vec());
}
