//! Pruning: everything of the pruned slots goes, nothing of the kept ones, only rooted history,
//! and the file stops growing once freed pages are reused.

use super::tests::{commit, open, pk, sig};
use super::*;

/// Stores `slot` with a data shred, a dead-mark-free meta and two transactions, each naming
/// address `pk(1)` and the second also `pk(slot % 3 + 2)`; rooted when `root`.
fn store_slot(store: &Store, slot: u64, root: bool) {
    let mut c = commit(slot, 2, vec![], root);
    c.data_shreds = vec![vec![slot as u8; 100]];
    c.last_fec_root = Some(Hash::of(&slot.to_le_bytes()));
    for (n, (signature, _)) in c.statuses.iter().enumerate() {
        let mut keys = vec![pk(1)];
        if n == 1 {
            keys.push(pk((slot % 3) as u8 + 2));
        }
        for address in keys {
            c.address_signatures.push(AddressSignature {
                address,
                position: block_position(1, n as u16),
                signature: *signature,
            });
        }
    }
    store.commit_slot(&c).unwrap();
}

fn kept(store: &Store, slot: u64) -> bool {
    store.slot_meta(Slot(slot)).unwrap().is_some()
}

#[test]
fn pruning_deletes_every_row_of_the_slots_below_and_nothing_above() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for slot in 0..=60 {
        store_slot(&store, slot, slot <= 50);
    }
    store.mark_dead(Slot(55), "test").unwrap();
    let filters_before = store.signature_filter_bytes();

    // Below 37: slots 0–36 go, in buckets 0–3 whole and part of bucket 4 (32–39).
    let pruned = store.prune_below(Slot(37)).unwrap();
    assert_eq!(pruned.blocks, 37);
    assert_eq!(pruned.transactions, 5, "one transaction per index bucket");
    assert_eq!(store.first_slot().unwrap(), Some(Slot(37)));
    // Two transactions a block, rooted ones counted still.
    assert_eq!(store.pruned_transaction_count().unwrap(), 2 * 37);
    for slot in 0..37 {
        assert!(!kept(&store, slot), "slot {slot}");
        assert!(store.entries(Slot(slot)).unwrap().is_empty());
        assert_eq!(store.shred(Slot(slot), 0).unwrap(), None);
        assert_eq!(store.tx_status(&sig(slot, 0)).unwrap(), None);
        assert_eq!(store.tx_status_in(Slot(slot), &sig(slot, 1)).unwrap(), None);
        if slot > 0 {
            assert!(!store.is_rooted(Slot(slot)).unwrap(), "slot {slot}");
        }
        assert!(!store.sig_index_names(&sig(slot, 0), Slot(slot)).unwrap() || slot >= 32);
    }
    for slot in 37..=60 {
        assert!(kept(&store, slot), "slot {slot}");
        assert_eq!(store.entries(Slot(slot)).unwrap().len(), 2);
        assert!(store.shred(Slot(slot), 0).unwrap().is_some());
        assert_eq!(
            store.tx_status(&sig(slot, 1)).unwrap().map(|r| r.slot),
            Some(Slot(slot))
        );
        assert_eq!(store.is_rooted(Slot(slot)).unwrap(), slot <= 50);
    }
    assert!(store.dead_reason(Slot(55)).unwrap().is_some());
    assert!(store.signature_filter_bytes() < filters_before);

    // The address index lists only what is kept, and a `before` in pruned history finds nothing.
    let listed = store
        .signatures_for_address(&pk(1), None, None, 1_000, |_| true)
        .unwrap();
    assert_eq!(listed.len(), 2 * 24);
    assert_eq!(listed.last().unwrap().slot, Slot(37));
    let older = store
        .signatures_for_address(&pk(1), Some(&sig(20, 0)), None, 1_000, |_| true)
        .unwrap();
    assert!(older.is_empty());
    let one_of_three = store
        .signatures_for_address(&pk(2), None, None, 1_000, |_| true)
        .unwrap();
    assert_eq!(one_of_three.len(), 8, "slots 39, 42, …, 60");

    // Pruning is idempotent, and never passes the root.
    assert_eq!(store.prune_below(Slot(37)).unwrap(), Pruned::default());
    let pruned = store.prune_below(Slot(1_000)).unwrap();
    assert_eq!(pruned.blocks, 50 - 37, "up to the root (50), which stays");
    assert_eq!(store.first_slot().unwrap(), Some(Slot(50)));
    assert_eq!(store.pruned_transaction_count().unwrap(), 2 * 50);
    assert_eq!(store.root().unwrap(), Some(Slot(50)));
    assert!(kept(&store, 51));

    // Reopened, the filters rebuild from what is left and still find it.
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store.tx_status(&sig(53, 0)).unwrap().map(|r| r.slot),
        Some(Slot(53))
    );
    assert_eq!(store.tx_status(&sig(40, 0)).unwrap(), None);
}

#[test]
fn a_pruned_window_keeps_the_file_from_growing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_durability(
        dir.path(),
        Hash::of(b"store test cluster"),
        Durability::Immediate,
    )
    .unwrap();
    let size = || std::fs::metadata(store.path()).unwrap().len();
    let mut after_warm_up = 0;
    for slot in 0..600u64 {
        let mut c = commit(slot, 4, vec![], true);
        // Bulky blocks, so the file's growth is the blocks' and not redb's fixed overhead.
        c.entries = (0..4).map(|i| vec![(slot + i) as u8; 16 << 10]).collect();
        c.meta.entry_count = 4;
        store.commit_slot(&c).unwrap();
        store.prune_below(Slot(slot.saturating_sub(100))).unwrap();
        if slot == 300 {
            after_warm_up = size();
        }
    }
    let end = size();
    // Unpruned, 300 more slots of 64 KiB would add ≈ 19 MiB; with a 100-slot window the freed pages
    // are reused.
    assert!(
        end < after_warm_up + (4 << 20),
        "ledger grew from {after_warm_up} to {end} bytes"
    );
    assert_eq!(store.first_slot().unwrap(), Some(Slot(499)));
}
