//! Removing an unrooted block: the undo of [`Store::commit_slot`] for a slot whose version the
//! cluster did not confirm (a duplicate slot), so that the confirmed version can be stored and
//! replayed in its place.

use redb::ReadableTable;

use super::{
    check_above_root, read_meta_slot, Store, StoreError, DEAD_SLOTS, ENTRIES, LAST_FEC_ROOT, META,
    META_LATEST_SLOT, META_ROOT_SLOT, SHREDS, SIG_INDEX, SIG_INDEX_BUCKET_SLOTS, SLOT_META,
    TX_STATUS,
};
use crate::types::{Signature, Slot};

impl Store {
    /// Deletes everything stored for the unrooted block of `slot` in one write transaction: its
    /// slot meta, entries, transaction statuses and their signature index rows, data shreds, last
    /// FEC root and dead mark; the latest stored slot moves back if it was this one. Rows of other
    /// slots, rooted state and duplicate-slot proofs (which are about the slot, not one version of
    /// it) stay. Returns whether anything was stored for it. A slot at or below the root is refused.
    pub fn remove_block(&self, slot: Slot) -> Result<bool, StoreError> {
        let txn = self.begin_write()?;
        let removed = {
            let mut meta = txn.open_table(META)?;
            check_above_root(slot, read_meta_slot(&meta, META_ROOT_SLOT)?)?;
            let mut metas = txn.open_table(SLOT_META)?;
            let mut removed = metas.remove(slot.0)?.is_some();

            let all = |slot: Slot| (slot.0, 0u32)..=(slot.0, u32::MAX);
            let mut entries = txn.open_table(ENTRIES)?;
            entries.retain_in(all(slot), |_, _| false)?;
            let mut shreds = txn.open_table(SHREDS)?;
            shreds.retain_in(all(slot), |_, _| false)?;
            removed |= txn.open_table(LAST_FEC_ROOT)?.remove(slot.0)?.is_some();
            removed |= txn.open_table(DEAD_SLOTS)?.remove(slot.0)?.is_some();

            // The statuses' signatures name the index rows to drop: read them before removing.
            let mut statuses = txn.open_table(TX_STATUS)?;
            let range = (slot.0, &[0u8; 64])..=(slot.0, &[0xffu8; 64]);
            let mut signatures = Vec::new();
            for row in statuses.range(range.clone())? {
                let (key, _) = row?;
                signatures.push(Signature(*key.value().1));
            }
            statuses.retain_in(range, |_, _| false)?;
            let mut index = txn.open_multimap_table(SIG_INDEX)?;
            let bucket = slot.0 / SIG_INDEX_BUCKET_SLOTS;
            for signature in &signatures {
                index.remove((bucket, super::signature_prefix(signature)), slot.0)?;
            }

            if read_meta_slot(&meta, META_LATEST_SLOT)? == Some(slot) {
                let newest = metas.last()?.map(|(key, _)| key.value());
                match newest {
                    Some(newest) => {
                        meta.insert(META_LATEST_SLOT, newest.to_le_bytes().as_slice())?;
                    }
                    None => {
                        meta.remove(META_LATEST_SLOT)?;
                    }
                }
            }
            removed
        };
        txn.commit()?;
        self.prioritization_fees.remove(slot);
        Ok(removed)
    }

    /// Whether the multimap signature index names `slot` for `signature` (tests check that a
    /// removed block leaves no index row behind).
    #[cfg(test)]
    pub(crate) fn sig_index_names(
        &self,
        signature: &Signature,
        slot: Slot,
    ) -> Result<bool, StoreError> {
        let index = self.read()?.open_multimap_table(SIG_INDEX)?;
        let key = (
            slot.0 / SIG_INDEX_BUCKET_SLOTS,
            super::signature_prefix(signature),
        );
        for row in index.get(key)? {
            if row?.value() == slot.0 {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
