//! The address signature index: newest first across buckets, before/until/limit, filters, late
//! older slots, and rows whose block went away.

use super::tests::{commit, open, pk, sig, status};
use super::*;

/// A slot whose transaction `n` (status position: entry 1, index `n`) names `addresses[n]`.
fn commit_with(store: &Store, slot: u64, addresses: &[&[Pubkey]]) -> Vec<Signature> {
    let txs: Vec<(Signature, &[Pubkey])> = addresses
        .iter()
        .enumerate()
        .map(|(n, keys)| (sig(slot, 10 + n as u32), *keys))
        .collect();
    commit_txs(store, slot, &txs);
    txs.into_iter().map(|(s, _)| s).collect()
}

/// Stores `slot` (unrooted) holding `txs` in order: transaction `n` sits at entry 1, index `n`.
fn commit_txs(store: &Store, slot: u64, txs: &[(Signature, &[Pubkey])]) {
    commit_version(store, slot, 0, txs, None);
}

/// Like [`commit_txs`], for version `version` of the slot's block (another blockhash), with the
/// last transaction failing with `last_err`.
fn commit_version(
    store: &Store,
    slot: u64,
    version: u8,
    txs: &[(Signature, &[Pubkey])],
    last_err: Option<&str>,
) {
    let mut c = commit(slot, 2, vec![], false);
    c.meta.blockhash.0[0] ^= version;
    c.statuses.clear();
    for (n, (s, keys)) in txs.iter().enumerate() {
        let err = last_err.filter(|_| n + 1 == txs.len());
        c.statuses.push((*s, status(slot, n as u16, err)));
        for k in keys.iter() {
            c.address_signatures.push(AddressSignature {
                address: *k,
                position: block_position(1, n as u16),
                signature: *s,
            });
        }
    }
    store.commit_slot(&c).unwrap();
}

fn found(
    store: &Store,
    a: &Pubkey,
    before: Option<&Signature>,
    until: Option<&Signature>,
    limit: usize,
) -> Vec<Signature> {
    store
        .signatures_for_address(a, before, until, limit, |_| true)
        .unwrap()
        .into_iter()
        .map(|t| t.signature)
        .collect()
}

#[test]
fn an_address_lists_its_transactions_newest_first_across_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (pk(1), pk(2));
    // Slots 3 and 5 share a bucket; 20 and 100 are buckets of their own; 21 (20's bucket) and 40
    // name only b.
    let s3 = commit_with(&store, 3, &[&[a], &[a, b]]);
    let s5 = commit_with(&store, 5, &[&[a]]);
    let s20 = commit_with(&store, 20, &[&[a, b]]);
    let s21 = commit_with(&store, 21, &[&[b]]);
    let s40 = commit_with(&store, 40, &[&[b]]);
    let s100 = commit_with(&store, 100, &[&[a]]);
    let all = vec![s100[0], s20[0], s5[0], s3[1], s3[0]];
    assert_eq!(found(&store, &a, None, None, 100), all);
    assert_eq!(found(&store, &a, None, None, 2), all[..2]);
    // Before is exclusive, until is exclusive; both within one bucket and across.
    assert_eq!(found(&store, &a, Some(&s20[0]), None, 100), all[2..]);
    assert_eq!(found(&store, &a, Some(&s3[1]), None, 100), vec![s3[0]]);
    assert_eq!(found(&store, &a, None, Some(&s5[0]), 100), all[..2]);
    assert_eq!(
        found(&store, &a, Some(&s100[0]), Some(&s3[0]), 100),
        all[1..4]
    );
    // A before that does not name the address bounds it all the same, whether the address has
    // rows in its bucket (21) or not (40).
    assert_eq!(found(&store, &a, Some(&s21[0]), None, 100), all[1..]);
    assert_eq!(found(&store, &a, Some(&s40[0]), None, 100), all[1..]);
    // An unknown before finds nothing; an unknown until bounds nothing; an unknown address nothing.
    assert!(found(&store, &a, Some(&sig(999, 0)), None, 100).is_empty());
    assert_eq!(found(&store, &a, None, Some(&sig(999, 0)), 100), all);
    assert!(found(&store, &pk(9), None, None, 100).is_empty());
    assert_eq!(found(&store, &b, None, None, 100).len(), 4);
    // The caller's filter (its commitment) skips slots without using up the limit.
    let kept: Vec<Signature> = store
        .signatures_for_address(&a, None, None, 2, |s| s != Slot(100))
        .unwrap()
        .into_iter()
        .map(|t| t.signature)
        .collect();
    assert_eq!(kept, all[1..3]);
    // The slot comes with it.
    let first = store
        .signatures_for_address(&a, None, None, 1, |_| true)
        .unwrap();
    assert_eq!(first[0].slot, Slot(100));
}

#[test]
fn a_row_carries_the_error_and_the_block_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = pk(1);
    let (ok, failed) = (sig(9, 1), sig(9, 2));
    let err = r#"{"InstructionError":[0,{"Custom":1}]}"#;
    commit_version(&store, 9, 0, &[(ok, &[a]), (failed, &[a])], Some(err));
    let listed = store
        .signatures_for_address(&a, None, None, 10, |_| true)
        .unwrap();
    let block_time_ms = store.slot_meta(Slot(9)).unwrap().unwrap().block_time_ms;
    let expected = |signature, err: Option<&str>| AddressTransaction {
        signature,
        slot: Slot(9),
        err: err.map(str::to_owned),
        block_time_ms,
    };
    assert_eq!(
        listed,
        vec![expected(failed, Some(err)), expected(ok, None)]
    );
}

#[test]
fn an_older_slot_stored_late_is_found_in_order_and_removed_blocks_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = pk(1);
    let s100 = commit_with(&store, 100, &[&[a]]);
    let s10 = commit_with(&store, 10, &[&[a]]);
    // Another fork's slot, replayed after both, between them.
    let s50 = commit_with(&store, 50, &[&[a]]);
    let s60 = commit_with(&store, 60, &[&[a]]);
    // Slot 11 shares slot 10's bucket, which the chain already links.
    let s11 = commit_with(&store, 11, &[&[a]]);
    assert_eq!(
        found(&store, &a, None, None, 10),
        vec![s100[0], s60[0], s50[0], s11[0], s10[0]]
    );
    assert_eq!(
        found(&store, &a, Some(&s50[0]), None, 10),
        vec![s11[0], s10[0]]
    );
    assert!(store.remove_block(Slot(50)).unwrap());
    assert_eq!(
        found(&store, &a, None, None, 10),
        vec![s100[0], s60[0], s11[0], s10[0]]
    );
}

#[test]
fn a_replaced_block_lists_only_its_new_transactions_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (pk(1), pk(2));
    let (x, y, z) = (sig(7, 1), sig(7, 2), sig(7, 3));
    commit_txs(&store, 7, &[(x, &[a]), (y, &[a, b])]);
    assert_eq!(found(&store, &a, None, None, 10), vec![y, x]);
    // The cluster confirmed another version of slot 7: y moved to the front, x is gone, z (naming
    // only b) is new. a's old row for place 1 still names y: it must not list y twice.
    commit_version(&store, 7, 1, &[(y, &[a, b]), (z, &[b])], None);
    assert_eq!(found(&store, &a, None, None, 10), vec![y]);
    assert_eq!(found(&store, &b, None, None, 10), vec![z, y]);
    // x is unknown now, so it starts no page.
    assert!(found(&store, &a, Some(&x), None, 10).is_empty());
    assert_eq!(found(&store, &a, Some(&z), None, 10), vec![y]);
    assert!(found(&store, &b, Some(&y), None, 10).is_empty());
}

#[test]
fn pages_of_the_limit_cover_a_hot_address_once_each_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let hot = pk(1);
    // 3 slots in 3 buckets x 700 transactions, each also naming one cold address.
    let mut all = Vec::new();
    for slot in [4u64, 12, 30] {
        let cold: Vec<Pubkey> = (0..700u32)
            .map(|n| {
                let mut k = [0u8; 32];
                k[..4].copy_from_slice(&n.to_le_bytes());
                k[31] = 0xcc;
                Pubkey(k)
            })
            .collect();
        let keys: Vec<[Pubkey; 2]> = cold.iter().map(|c| [hot, *c]).collect();
        let txs: Vec<(Signature, &[Pubkey])> = keys
            .iter()
            .enumerate()
            .map(|(n, k)| (sig(slot, n as u32), k.as_slice()))
            .collect();
        commit_txs(&store, slot, &txs);
        all.extend(txs.iter().map(|(s, _)| *s));
    }
    all.reverse();
    let first = found(&store, &hot, None, None, 1_000);
    assert_eq!(first, all[..1_000]);
    let second = found(&store, &hot, first.last(), None, 1_000);
    assert_eq!(second, all[1_000..2_000]);
    let third = found(&store, &hot, second.last(), None, 1_000);
    assert_eq!(third, all[2_000..]);
    assert!(found(&store, &hot, third.last(), None, 1_000).is_empty());
    // A page bounded below by `until` stops there, inside a bucket.
    assert_eq!(
        found(&store, &hot, None, Some(&all[1_500]), 1_000)[..],
        all[..1_000]
    );
    assert_eq!(
        found(&store, &hot, Some(&all[999]), Some(&all[1_500]), 1_000),
        all[1_000..1_500]
    );
}
