//! Which transactions name an address (`getSignaturesForAddress`): an index written with each
//! stored block, read newest first without a scan.
//!
//! Rows are keyed (bucket = slot / [`ADDRESS_INDEX_BUCKET_SLOTS`], address, slot, position in the
//! block) → signature, so a commit inserts inside the newest bucket, a bounded subtree, as the
//! signature index does. To find an address's older rows without probing every bucket, each
//! address keeps its newest bucket (`address_last_bucket`) and, per bucket it appears in, the one
//! before (`address_prev_bucket`): a query walks that chain, one B-tree lookup per bucket where the
//! address had transactions. Every account key of a transaction is indexed except the programs its
//! instructions call (the System, Compute Budget and vote programs would gain a row per
//! transaction and say nothing).
//!
//! Rows are never deleted: a row whose transaction status is gone, or now sits at another place
//! in the block (a replaced or removed block), is skipped when read, which is also where the
//! caller's commitment filter applies.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::{Store, StoreError, TxStatusRecord, TX_STATUS};
use crate::types::{Pubkey, Signature, Slot};

/// (bucket, address, slot, position) → signature.
pub(super) const ADDRESS_SIGNATURES: TableDefinition<(u64, &[u8; 32], u64, u64), &[u8; 64]> =
    TableDefinition::new("address_signatures");
/// Address → the newest bucket holding one of its rows.
pub(super) const ADDRESS_LAST_BUCKET: TableDefinition<&[u8; 32], u64> =
    TableDefinition::new("address_last_bucket");
/// (address, bucket) → the next older bucket holding one of its rows.
pub(super) const ADDRESS_PREV_BUCKET: TableDefinition<(&[u8; 32], u64), u64> =
    TableDefinition::new("address_prev_bucket");
/// Slots per address-index bucket (see the module docs).
pub const ADDRESS_INDEX_BUCKET_SLOTS: u64 = 8;

/// One indexed (address, transaction) pair of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressSignature {
    /// An account key of the transaction.
    pub address: Pubkey,
    /// The transaction's place in its block: entry index << 16 | index within the entry.
    pub position: u64,
    /// The transaction's first signature.
    pub signature: Signature,
}

/// A block position as [`AddressSignature::position`] encodes it.
pub fn block_position(entry_index: u32, txn_index: u16) -> u64 {
    (u64::from(entry_index) << 16) | u64::from(txn_index)
}

/// A transaction found for an address.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressTransaction {
    /// Its signature.
    pub signature: Signature,
    /// Its status as stored.
    pub status: TxStatusRecord,
}

/// Writes `slot`'s rows and links each address's bucket into its chain.
pub(super) fn write_rows(
    txn: &WriteTransaction,
    slot: Slot,
    rows: &[AddressSignature],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let bucket = slot.0 / ADDRESS_INDEX_BUCKET_SLOTS;
    let mut sorted: Vec<&AddressSignature> = rows.iter().collect();
    sorted.sort_unstable_by_key(|r| (r.address, r.position));
    let mut table = txn.open_table(ADDRESS_SIGNATURES)?;
    for r in &sorted {
        table.insert((bucket, &r.address.0, slot.0, r.position), &r.signature.0)?;
    }
    let mut last = txn.open_table(ADDRESS_LAST_BUCKET)?;
    let mut prev = txn.open_table(ADDRESS_PREV_BUCKET)?;
    let mut previous: Option<Pubkey> = None;
    for r in sorted {
        if previous == Some(r.address) {
            continue;
        }
        previous = Some(r.address);
        let key = &r.address.0;
        let newest = last.get(key)?.map(|v| v.value());
        match newest {
            None => {
                last.insert(key, bucket)?;
            }
            Some(b) if b == bucket => {}
            Some(b) if b < bucket => {
                prev.insert((key, bucket), b)?;
                last.insert(key, bucket)?;
            }
            Some(b) => {
                // An older slot stored after newer ones (another fork replayed late): splice the
                // bucket into the chain where it belongs.
                let mut newer = b;
                loop {
                    let older = prev.get((key, newer))?.map(|v| v.value());
                    match older {
                        Some(o) if o == bucket => break,
                        Some(o) if o > bucket => newer = o,
                        older => {
                            prev.insert((key, newer), bucket)?;
                            if let Some(o) = older {
                                prev.insert((key, bucket), o)?;
                            }
                            break;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

impl Store {
    /// The transactions naming `address`, newest first: strictly older than `before` and newer
    /// than `until` (each a stored transaction's signature; an unknown `before` finds nothing, an
    /// unknown `until` bounds nothing), in slots `keep` accepts, at most `limit`. `keep` is asked
    /// once per row, newest slot first, so a caller can cache its answer per slot.
    pub fn signatures_for_address(
        &self,
        address: &Pubkey,
        before: Option<&Signature>,
        until: Option<&Signature>,
        limit: usize,
        mut keep: impl FnMut(Slot) -> bool,
    ) -> Result<Vec<AddressTransaction>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let place = |s: &Signature| -> Result<Option<(u64, u64)>, StoreError> {
            Ok(self
                .tx_status(s)?
                .map(|r| (r.slot.0, block_position(r.entry_index, r.txn_index))))
        };
        let upper = match before {
            Some(s) => match place(s)? {
                Some(p) => Some(p),
                None => return Ok(out),
            },
            None => None,
        };
        let lower = until.map(&place).transpose()?.flatten();
        let read = self.read()?;
        let rows = read.open_table(ADDRESS_SIGNATURES)?;
        let statuses = read.open_table(TX_STATUS)?;
        let prev = read.open_table(ADDRESS_PREV_BUCKET)?;
        let key = &address.0;
        let mut bucket = read
            .open_table(ADDRESS_LAST_BUCKET)?
            .get(key)?
            .map(|v| v.value());
        let lowest_bucket = lower.map_or(0, |(slot, _)| slot / ADDRESS_INDEX_BUCKET_SLOTS);
        while let Some(b) = bucket {
            if b < lowest_bucket {
                break;
            }
            let skip = upper.is_some_and(|(slot, _)| b > slot / ADDRESS_INDEX_BUCKET_SLOTS);
            if !skip {
                let range = (b, key, 0u64, 0u64)..=(b, key, u64::MAX, u64::MAX);
                for row in rows.range(range)?.rev() {
                    let (k, v) = row?;
                    let (_, _, slot, position) = k.value();
                    if upper.is_some_and(|u| (slot, position) >= u) {
                        continue;
                    }
                    if lower.is_some_and(|l| (slot, position) <= l) {
                        return Ok(out);
                    }
                    if !keep(Slot(slot)) {
                        continue;
                    }
                    let signature = Signature(*v.value());
                    let Some(status) = super::read_tx_status(&statuses, Slot(slot), &signature)?
                    else {
                        continue; // its block was replaced or removed
                    };
                    if block_position(status.entry_index, status.txn_index) != position {
                        continue; // a replaced block holds it elsewhere: that row answers
                    }
                    out.push(AddressTransaction { signature, status });
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            bucket = prev.get((key, b))?.map(|v| v.value());
        }
        Ok(out)
    }
}
