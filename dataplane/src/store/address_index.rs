//! Which transactions name an address (`getSignaturesForAddress`): an index written with each
//! stored block, read newest first without a scan.
//!
//! Rows are keyed (bucket = slot / [`ADDRESS_INDEX_BUCKET_SLOTS`], address, slot, position in the
//! block) → signature, so a commit inserts inside the newest bucket, a bounded subtree, as the
//! signature index does. To find an address's older rows without probing every bucket, each
//! address keeps its newest bucket (`address_last_bucket`) and, per bucket it appears in, the one
//! before (`address_prev_bucket`): a query walks that chain, one B-tree lookup per bucket where the
//! address had transactions, from the newest bucket or, paging back, from the bucket of `before`. Every account key of a transaction is indexed except the programs its
//! instructions call (the System, Compute Budget and vote programs would gain a row per
//! transaction and say nothing).
//!
//! A row carries what the answer needs — the signature and the transaction's error — so a query
//! reads no transaction status: at 10 M transactions a status lookup per listed transaction was
//! most of a query's time, and a random page of the file each (the rows of one address in one
//! bucket share a page). The block time and the block's check come from the slot meta, once per
//! slot.
//!
//! Rows are never deleted: each carries a tag of the block that wrote it (its blockhash's first
//! bytes), and a row whose slot now holds another block, or none (a replaced or removed block), is
//! skipped when read, which is also where the caller's commitment filter applies.

use std::collections::HashMap;

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::{decode_slot_meta_row, SlotCommit, Store, StoreError, SLOT_META};
use crate::byte_reader::{ByteReader, ReadError};
use crate::types::{Hash, Pubkey, Signature, Slot};

/// (bucket, address, slot, position) → the row's value (see [`encode_row`]).
pub(super) const ADDRESS_SIGNATURES: TableDefinition<(u64, &[u8; 32], u64, u64), &[u8]> =
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressTransaction {
    /// Its signature.
    pub signature: Signature,
    /// The slot whose block holds it.
    pub slot: Slot,
    /// Why it failed, as Solana's error JSON text; `None` when it succeeded.
    pub err: Option<String>,
    /// Its block's time, from the slot meta.
    pub block_time_ms: u64,
}

/// Bytes of a row's block tag.
const BLOCK_TAG_LEN: usize = 8;
/// Bytes of a row's value before the error text: signature, block tag, error flag.
const ROW_FIXED_LEN: usize = 64 + BLOCK_TAG_LEN + 1;

/// Which block wrote a row: the first bytes of its blockhash (two versions of a slot differ in
/// their entries, so in their blockhash).
fn block_tag(blockhash: &Hash) -> [u8; BLOCK_TAG_LEN] {
    let mut tag = [0u8; BLOCK_TAG_LEN];
    tag.copy_from_slice(&blockhash.0[..BLOCK_TAG_LEN]);
    tag
}

/// A row's value: signature (64 bytes) ‖ block tag (8) ‖ 1 and the error's JSON text, or 0.
fn encode_row(
    signature: &Signature,
    tag: &[u8; BLOCK_TAG_LEN],
    err: Option<&str>,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(&signature.0);
    out.extend_from_slice(tag);
    match err {
        Some(e) => {
            out.push(1);
            out.extend_from_slice(e.as_bytes());
        }
        None => out.push(0),
    }
}

/// A decoded row value.
struct Row {
    signature: Signature,
    tag: [u8; BLOCK_TAG_LEN],
    err: Option<String>,
}

fn decode_row(key: (u64, &[u8; 32], u64, u64), bytes: &[u8]) -> Result<Row, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        table: "address_signatures",
        key: format!("slot {} position {}", key.2, key.3),
        reason,
    };
    let mut r = ByteReader::new(bytes);
    let read = |e: ReadError| corrupt(e.to_string());
    let signature = Signature(r.array("signature").map_err(read)?);
    let tag = r.array("block tag").map_err(read)?;
    let err = match r.u8("error flag").map_err(read)? {
        0 => {
            r.finish("row").map_err(read)?;
            None
        }
        1 => Some(
            std::str::from_utf8(r.rest())
                .map_err(|e| corrupt(format!("error text: {e}")))?
                .to_owned(),
        ),
        flag => return Err(corrupt(format!("error flag {flag}"))),
    };
    Ok(Row {
        signature,
        tag,
        err,
    })
}

/// What a row is checked against: the block its slot holds now.
#[derive(Debug, Clone, Copy)]
struct StoredBlock {
    tag: [u8; BLOCK_TAG_LEN],
    block_time_ms: u64,
}

fn stored_block(
    metas: &impl ReadableTable<u64, &'static [u8]>,
    slot: u64,
) -> Result<Option<StoredBlock>, StoreError> {
    let Some(row) = metas.get(slot)? else {
        return Ok(None);
    };
    let meta = decode_slot_meta_row(slot, row.value())?;
    Ok(Some(StoredBlock {
        tag: block_tag(&meta.blockhash),
        block_time_ms: meta.block_time_ms,
    }))
}

/// Writes the rows of `c`'s block and links each address's bucket into its chain.
pub(super) fn write_rows(txn: &WriteTransaction, c: &SlotCommit) -> Result<(), StoreError> {
    let rows = &c.address_signatures;
    if rows.is_empty() {
        return Ok(());
    }
    let slot = c.meta.slot;
    let tag = block_tag(&c.meta.blockhash);
    // Failed transactions are few: only theirs are looked up.
    let errors: HashMap<Signature, &str> = c
        .statuses
        .iter()
        .filter_map(|(s, r)| r.err.as_deref().map(|e| (*s, e)))
        .collect();
    let bucket = slot.0 / ADDRESS_INDEX_BUCKET_SLOTS;
    let mut sorted: Vec<&AddressSignature> = rows.iter().collect();
    sorted.sort_unstable_by_key(|r| (r.address, r.position));
    let mut table = txn.open_table(ADDRESS_SIGNATURES)?;
    let mut value = Vec::with_capacity(ROW_FIXED_LEN);
    for r in &sorted {
        let err = errors.get(&r.signature).copied();
        encode_row(&r.signature, &tag, err, &mut value);
        table.insert((bucket, &r.address.0, slot.0, r.position), value.as_slice())?;
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
        let metas = read.open_table(SLOT_META)?;
        let prev = read.open_table(ADDRESS_PREV_BUCKET)?;
        let key = &address.0;
        let rows_in = |b: u64| (b, key, 0u64, 0u64)..=(b, key, u64::MAX, u64::MAX);
        // A `before` that names the address (a client paging back) has a row in its own bucket:
        // start there rather than walk the chain down from the newest bucket (at 10 M
        // transactions, ≈ 600 lookups from the middle of a busy address's history).
        let mut bucket = None;
        if let Some((slot, _)) = upper {
            let b = slot / ADDRESS_INDEX_BUCKET_SLOTS;
            if rows.range(rows_in(b))?.next().is_some() {
                bucket = Some(b);
            }
        }
        if bucket.is_none() {
            let last = read.open_table(ADDRESS_LAST_BUCKET)?;
            bucket = last.get(key)?.map(|v| v.value());
        }
        let lowest_bucket = lower.map_or(0, |(slot, _)| slot / ADDRESS_INDEX_BUCKET_SLOTS);
        // The last slot read and the block it holds, if any.
        let mut last_block: Option<(u64, Option<StoredBlock>)> = None;
        while let Some(b) = bucket {
            if b < lowest_bucket {
                break;
            }
            let skip = upper.is_some_and(|(slot, _)| b > slot / ADDRESS_INDEX_BUCKET_SLOTS);
            if !skip {
                for row in rows.range(rows_in(b))?.rev() {
                    let (k, v) = row?;
                    let key = k.value();
                    let (_, _, slot, position) = key;
                    if upper.is_some_and(|u| (slot, position) >= u) {
                        continue;
                    }
                    if lower.is_some_and(|l| (slot, position) <= l) {
                        return Ok(out);
                    }
                    if !keep(Slot(slot)) {
                        continue;
                    }
                    let stored = match last_block {
                        Some((s, stored)) if s == slot => stored,
                        _ => {
                            let stored = stored_block(&metas, slot)?;
                            last_block = Some((slot, stored));
                            stored
                        }
                    };
                    let row = decode_row(key, v.value())?;
                    let Some(block) = stored.filter(|b| b.tag == row.tag) else {
                        continue; // written by a block since replaced or removed
                    };
                    out.push(AddressTransaction {
                        signature: row.signature,
                        slot: Slot(slot),
                        err: row.err,
                        block_time_ms: block.block_time_ms,
                    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn garbage_rows_are_corrupt_not_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let _ = decode_row((1, &[2; 32], 3, 4), &bytes);
        }
    }

    #[test]
    fn rows_name_what_is_wrong() {
        let mut row = vec![7u8; 64 + BLOCK_TAG_LEN];
        let reason = |bytes: &[u8]| match decode_row((1, &[2; 32], 3, 4), bytes) {
            Err(StoreError::Corrupt { reason, .. }) => reason,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("decoded"),
        };
        assert!(reason(&row[..10]).contains("signature"));
        assert!(reason(&row).contains("error flag"));
        row.push(0);
        assert!(decode_row((1, &[2; 32], 3, 4), &row).unwrap().err.is_none());
        row.push(0);
        assert!(reason(&row).contains("trailing"));
        row[64 + BLOCK_TAG_LEN] = 2;
        assert!(reason(&row).contains("error flag 2"));
        row[64 + BLOCK_TAG_LEN] = 1;
        row[64 + BLOCK_TAG_LEN + 1] = b'x';
        assert_eq!(
            decode_row((1, &[2; 32], 3, 4), &row)
                .unwrap()
                .err
                .as_deref(),
            Some("x")
        );
    }
}
