//! Pruning: a ledger bounded to the newest rooted slots.
//!
//! A validator under load stores ≈ 6 MiB a second; with a bound, everything stored for slots below
//! a kept window under the root goes — blocks, shreds, statuses, both signature indexes, the
//! rooted-chain marks — one signature-index bucket per write transaction, so a backlog never holds
//! the writer for long and the ledger stage's commits interleave. redb reuses the freed pages:
//! the file stops growing once the window is full.
//!
//! Rows of the address index's bucket chains (`address_prev_bucket`, `address_last_bucket`) that
//! point into a pruned bucket go with it; a newer bucket's link to a pruned one may stay, and a walk
//! that follows it finds no rows there and no link onward, so it ends where the ledger does.

use redb::{ReadableMultimapTable, ReadableTable, WriteTransaction};

use super::address_index::{
    ADDRESS_INDEX_BUCKET_SLOTS, ADDRESS_LAST_BUCKET, ADDRESS_PREV_BUCKET, ADDRESS_SIGNATURES,
};
use super::{
    decode_slot_meta_row, read_meta_slot, read_meta_u64, Store, StoreError, DEAD_SLOTS,
    DUPLICATE_PROOFS, ENTRIES, LAST_FEC_ROOT, META, META_PRUNED_TRANSACTIONS, META_ROOT_SLOT,
    ROOTS, SHREDS, SIG_INDEX, SIG_INDEX_BUCKET_SLOTS, SLOT_META, TX_STATUS,
};
use crate::types::Slot;

// One chunk of pruning is one bucket of both indexes.
const _: () = assert!(ADDRESS_INDEX_BUCKET_SLOTS == SIG_INDEX_BUCKET_SLOTS);

/// What one [`Store::prune_below`] call removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Stored blocks deleted.
    pub blocks: u64,
    /// Write transactions it took.
    pub transactions: u64,
}

impl Store {
    /// Deletes everything stored for slots below `below`, which must not be above the root: blocks
    /// and their shreds, statuses, index rows, rooted marks, dead marks and duplicate proofs.
    /// Account and vote state (the root's), slashing evidence and later slots stay. Works one
    /// index bucket per write transaction from the oldest stored slot up.
    pub fn prune_below(&self, below: Slot) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        loop {
            let txn = self.begin_write()?;
            let Some((blocks, buckets_below)) = prune_chunk(&txn, below)? else {
                return Ok(pruned);
            };
            txn.commit()?;
            pruned.blocks += blocks;
            pruned.transactions += 1;
            self.sig_filters
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .forget_below(buckets_below);
        }
    }

    /// Transactions of the rooted blocks pruned so far (the rooted chain's count is this plus the
    /// kept rooted blocks').
    pub fn pruned_transaction_count(&self) -> Result<u64, StoreError> {
        read_meta_u64(&self.read()?.open_table(META)?, META_PRUNED_TRANSACTIONS)
    }
}

/// The oldest slot with anything stored for it (any slot-keyed table, or either index).
/// Index buckets count only once they lie wholly below `below`: a bucket is deleted whole.
fn oldest_slot(txn: &WriteTransaction, below: u64) -> Result<Option<u64>, StoreError> {
    let mut oldest: Option<u64> = None;
    let mut consider = |slot: Option<u64>| {
        if let Some(s) = slot {
            oldest = Some(oldest.map_or(s, |o| o.min(s)));
        }
    };
    consider(txn.open_table(SLOT_META)?.first()?.map(|(k, _)| k.value()));
    consider(txn.open_table(ENTRIES)?.first()?.map(|(k, _)| k.value().0));
    consider(txn.open_table(SHREDS)?.first()?.map(|(k, _)| k.value().0));
    consider(
        txn.open_table(TX_STATUS)?
            .first()?
            .map(|(k, _)| k.value().0),
    );
    consider(
        txn.open_table(LAST_FEC_ROOT)?
            .first()?
            .map(|(k, _)| k.value()),
    );
    consider(txn.open_table(DEAD_SLOTS)?.first()?.map(|(k, _)| k.value()));
    consider(
        txn.open_table(DUPLICATE_PROOFS)?
            .first()?
            .map(|(k, _)| k.value()),
    );
    consider(txn.open_table(ROOTS)?.first()?.map(|(k, _)| k.value()));
    let whole = |bucket: u64| (bucket + 1) * SIG_INDEX_BUCKET_SLOTS <= below;
    let index = txn.open_multimap_table(SIG_INDEX)?;
    let first_index_bucket = index
        .range::<(u64, u64)>(..)?
        .next()
        .transpose()?
        .map(|(k, _)| k.value().0);
    consider(
        first_index_bucket
            .filter(|&b| whole(b))
            .map(|b| b * SIG_INDEX_BUCKET_SLOTS),
    );
    let first_address_bucket = txn
        .open_table(ADDRESS_SIGNATURES)?
        .first()?
        .map(|(k, _)| k.value().0);
    consider(
        first_address_bucket
            .filter(|&b| whole(b))
            .map(|b| b * SIG_INDEX_BUCKET_SLOTS),
    );
    Ok(oldest)
}

/// Prunes the slots from the oldest stored one to the end of its index bucket (or to `below`).
/// Returns the blocks deleted and the bucket below which every index bucket is gone, or `None`
/// when nothing below `below` is left.
fn prune_chunk(txn: &WriteTransaction, below: Slot) -> Result<Option<(u64, u64)>, StoreError> {
    let root = read_meta_slot(&txn.open_table(META)?, META_ROOT_SLOT)?.unwrap_or(Slot(0));
    // Only rooted history goes: the root's bank and everything above it are still live.
    let below = below.0.min(root.0);
    let Some(lo) = oldest_slot(txn, below)?.filter(|&lo| lo < below) else {
        return Ok(None);
    };
    let bucket_end = (lo / SIG_INDEX_BUCKET_SLOTS + 1) * SIG_INDEX_BUCKET_SLOTS;
    let hi = below.min(bucket_end);
    let slots = lo..hi;
    let pairs = (lo, 0u32)..(hi, 0u32);

    // The rooted chain's transactions stay counted (getTransactionCount, and a restart's bank).
    let mut rooted = Vec::new();
    for row in txn.open_table(ROOTS)?.range(slots.clone())? {
        rooted.push(row?.0.value());
    }
    let mut blocks = 0u64;
    let mut transactions = 0u64;
    let mut corrupt = None;
    txn.open_table(SLOT_META)?
        .retain_in(slots.clone(), |slot, row| {
            blocks += 1;
            if rooted.binary_search(&slot).is_ok() {
                match decode_slot_meta_row(slot, row) {
                    Ok(meta) => transactions += u64::from(meta.transaction_count),
                    Err(e) => corrupt = Some(e),
                }
            }
            false
        })?;
    if let Some(e) = corrupt {
        return Err(e);
    }
    let mut meta = txn.open_table(META)?;
    let before = read_meta_u64(&meta, META_PRUNED_TRANSACTIONS)?;
    meta.insert(
        META_PRUNED_TRANSACTIONS,
        (before + transactions).to_le_bytes().as_slice(),
    )?;
    drop(meta);
    txn.open_table(ENTRIES)?
        .retain_in(pairs.clone(), |_, _| false)?;
    txn.open_table(SHREDS)?.retain_in(pairs, |_, _| false)?;
    txn.open_table(TX_STATUS)?
        .retain_in((lo, &[0u8; 64])..(hi, &[0u8; 64]), |_, _| false)?;
    txn.open_table(LAST_FEC_ROOT)?
        .retain_in(slots.clone(), |_, _| false)?;
    txn.open_table(DEAD_SLOTS)?
        .retain_in(slots.clone(), |_, _| false)?;
    txn.open_table(DUPLICATE_PROOFS)?
        .retain_in(slots.clone(), |_, _| false)?;
    txn.open_table(ROOTS)?.retain_in(slots, |_, _| false)?;

    // Index buckets go whole, once every slot of theirs is pruned (rows of a bucket's pruned slots
    // meanwhile are skipped by readers, which check the status or slot meta they name).
    let buckets_below = hi / SIG_INDEX_BUCKET_SLOTS;
    let mut index = txn.open_multimap_table(SIG_INDEX)?;
    let mut keys = Vec::new();
    for row in index.range((0u64, 0u64)..(buckets_below, 0u64))? {
        keys.push(row?.0.value());
    }
    for key in keys {
        index.remove_all(key)?;
    }
    let mut linked: Vec<([u8; 32], u64)> = Vec::new();
    txn.open_table(ADDRESS_SIGNATURES)?.retain_in(
        (0u64, &[0u8; 32], 0u64, 0u64)..(buckets_below, &[0u8; 32], 0u64, 0u64),
        |(bucket, address, _, _), _| {
            if linked.last() != Some(&(*address, bucket)) {
                linked.push((*address, bucket));
            }
            false
        },
    )?;
    let mut prev = txn.open_table(ADDRESS_PREV_BUCKET)?;
    let mut last = txn.open_table(ADDRESS_LAST_BUCKET)?;
    for (address, bucket) in &linked {
        prev.remove((address, *bucket))?;
        let newest = last.get(address)?.map(|v| v.value());
        if newest.is_some_and(|n| n < buckets_below) {
            last.remove(address)?;
        }
    }
    Ok(Some((blocks, buckets_below)))
}
