//! Row encodings of the ledger store: fixed little-endian layouts with bounded decoders.
//!
//! Every decoder reads through [`ByteReader`], which checks each length against what is left of the
//! row before using it, refuses trailing bytes and never allocates more than a named limit allows, so
//! a damaged file yields a reason string (wrapped by the store into `StoreError::Corrupt`) instead of
//! a panic.

use crate::byte_reader::{ByteReader, Prefix};
use crate::txn::ACCOUNT_KEYS_MAX;
use crate::types::{Hash, Pubkey, Slot};

/// Longest transaction error text a status row may hold, in bytes (Solana's error JSON is far shorter).
pub const TX_ERR_LEN_MAX: usize = 1024;

/// Everything the ledger keeps about one stored slot (block), apart from its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMeta {
    /// This slot.
    pub slot: Slot,
    /// The slot this block builds on.
    pub parent_slot: Slot,
    /// Hash of the block's last tick.
    pub blockhash: Hash,
    /// Bank hash after executing the block.
    pub bank_hash: Hash,
    /// Number of blocks from genesis to this one on its fork.
    pub block_height: u64,
    /// Leader's wall clock when the block was produced, ms since the Unix epoch.
    pub block_time_ms: u64,
    /// The leader that produced the block.
    pub leader: Pubkey,
    /// Entries in the block (rows in the `entries` table for this slot).
    pub entry_count: u32,
    /// Transactions in the block, failed ones included.
    pub transaction_count: u32,
    /// Signatures over all the block's transactions.
    pub signature_count: u64,
    /// Fees paid in the block, credited to the leader.
    pub collected_fees: u64,
}

/// Encoded size of a [`SlotMeta`] row.
pub(crate) const SLOT_META_LEN: usize = 8 + 8 + 32 + 32 + 8 + 8 + 32 + 4 + 4 + 8 + 8;

/// The outcome of one executed transaction, found by its first signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxStatusRecord {
    /// Slot whose block holds the transaction.
    pub slot: Slot,
    /// Entry within the block.
    pub entry_index: u32,
    /// Position of the transaction within its entry.
    pub txn_index: u16,
    /// Fee charged, in lamports.
    pub fee: u64,
    /// Why the transaction failed, as Solana's error JSON text; `None` when it succeeded.
    pub err: Option<String>,
    /// Balances of the transaction's accounts before it ran, in account-key order.
    pub pre_balances: Vec<u64>,
    /// Balances of the transaction's accounts after it ran, in account-key order.
    pub post_balances: Vec<u64>,
}

/// Appends `meta`'s fixed-size encoding to `out`.
pub(crate) fn encode_slot_meta(meta: &SlotMeta, out: &mut Vec<u8>) {
    out.reserve(SLOT_META_LEN);
    out.extend_from_slice(&meta.slot.0.to_le_bytes());
    out.extend_from_slice(&meta.parent_slot.0.to_le_bytes());
    out.extend_from_slice(&meta.blockhash.0);
    out.extend_from_slice(&meta.bank_hash.0);
    out.extend_from_slice(&meta.block_height.to_le_bytes());
    out.extend_from_slice(&meta.block_time_ms.to_le_bytes());
    out.extend_from_slice(&meta.leader.0);
    out.extend_from_slice(&meta.entry_count.to_le_bytes());
    out.extend_from_slice(&meta.transaction_count.to_le_bytes());
    out.extend_from_slice(&meta.signature_count.to_le_bytes());
    out.extend_from_slice(&meta.collected_fees.to_le_bytes());
}

/// Reads a [`SlotMeta`] row.
pub(crate) fn decode_slot_meta(bytes: &[u8]) -> Result<SlotMeta, String> {
    let mut r = ByteReader::new(bytes);
    let meta = SlotMeta {
        slot: Slot(r.u64("slot")?),
        parent_slot: Slot(r.u64("parent_slot")?),
        blockhash: Hash(r.array("blockhash")?),
        bank_hash: Hash(r.array("bank_hash")?),
        block_height: r.u64("block_height")?,
        block_time_ms: r.u64("block_time_ms")?,
        leader: Pubkey(r.array("leader")?),
        entry_count: r.u32("entry_count")?,
        transaction_count: r.u32("transaction_count")?,
        signature_count: r.u64("signature_count")?,
        collected_fees: r.u64("collected_fees")?,
    };
    r.finish("slot meta row")?;
    Ok(meta)
}

/// Why a status record cannot be stored: it would break a bound its decoder enforces.
pub(crate) fn check_tx_status(record: &TxStatusRecord) -> Result<(), String> {
    for (name, balances) in [
        ("pre_balances", &record.pre_balances),
        ("post_balances", &record.post_balances),
    ] {
        if balances.len() > ACCOUNT_KEYS_MAX {
            return Err(format!(
                "{name} has {} entries, more than the {ACCOUNT_KEYS_MAX} accounts a transaction can hold",
                balances.len()
            ));
        }
    }
    if let Some(err) = &record.err {
        if err.len() > TX_ERR_LEN_MAX {
            return Err(format!(
                "error text is {} bytes, more than the {TX_ERR_LEN_MAX}-byte limit",
                err.len()
            ));
        }
    }
    Ok(())
}

/// Appends `record`'s encoding to `out`; the caller has checked it with [`check_tx_status`].
///
/// Layout: `slot u64 | entry_index u32 | txn_index u16 | fee u64 | err_tag u8 [err_len u16 | utf-8]
/// | n_pre u8 | n_pre × u64 | n_post u8 | n_post × u64`.
pub(crate) fn encode_tx_status(record: &TxStatusRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(&record.slot.0.to_le_bytes());
    out.extend_from_slice(&record.entry_index.to_le_bytes());
    out.extend_from_slice(&record.txn_index.to_le_bytes());
    out.extend_from_slice(&record.fee.to_le_bytes());
    match &record.err {
        None => out.push(0),
        Some(err) => {
            out.push(1);
            // check_tx_status bounds the length to TX_ERR_LEN_MAX, well inside u16.
            out.extend_from_slice(&(err.len() as u16).to_le_bytes());
            out.extend_from_slice(err.as_bytes());
        }
    }
    for balances in [&record.pre_balances, &record.post_balances] {
        // check_tx_status bounds the count to ACCOUNT_KEYS_MAX, well inside u8.
        out.push(balances.len() as u8);
        for lamports in balances {
            out.extend_from_slice(&lamports.to_le_bytes());
        }
    }
}

/// Reads a [`TxStatusRecord`] row.
pub(crate) fn decode_tx_status(bytes: &[u8]) -> Result<TxStatusRecord, String> {
    let mut r = ByteReader::new(bytes);
    let slot = Slot(r.u64("slot")?);
    let entry_index = r.u32("entry_index")?;
    let txn_index = r.u16("txn_index")?;
    let fee = r.u64("fee")?;
    let err = match r.u8("err tag")? {
        0 => None,
        1 => {
            let text = r.prefixed("err text length", Prefix::U16, TX_ERR_LEN_MAX)?;
            let text =
                std::str::from_utf8(text).map_err(|e| format!("error text is not UTF-8: {e}"))?;
            Some(text.to_owned())
        }
        tag => return Err(format!("err tag {tag} is neither 0 (none) nor 1 (some)")),
    };
    let pre_balances = read_balances(&mut r, "pre_balances count", "pre_balances")?;
    let post_balances = read_balances(&mut r, "post_balances count", "post_balances")?;
    r.finish("tx status row")?;
    Ok(TxStatusRecord {
        slot,
        entry_index,
        txn_index,
        fee,
        err,
        pre_balances,
        post_balances,
    })
}

/// A `u8` count (at most [`ACCOUNT_KEYS_MAX`]) followed by that many `u64` balances.
fn read_balances(
    r: &mut ByteReader<'_>,
    count_field: &'static str,
    field: &'static str,
) -> Result<Vec<u64>, String> {
    let count = r.count(count_field, Prefix::U8, ACCOUNT_KEYS_MAX, 8)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(r.u64(field)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn slot_meta_strategy() -> impl Strategy<Value = SlotMeta> {
        (
            (
                any::<u64>(),
                any::<u64>(),
                any::<[u8; 32]>(),
                any::<[u8; 32]>(),
            ),
            (any::<u64>(), any::<u64>(), any::<[u8; 32]>()),
            (any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>()),
        )
            .prop_map(
                |((s, p, bh, bank), (height, time, leader), (e, t, sigs, fees))| SlotMeta {
                    slot: Slot(s),
                    parent_slot: Slot(p),
                    blockhash: Hash(bh),
                    bank_hash: Hash(bank),
                    block_height: height,
                    block_time_ms: time,
                    leader: Pubkey(leader),
                    entry_count: e,
                    transaction_count: t,
                    signature_count: sigs,
                    collected_fees: fees,
                },
            )
    }

    fn tx_status_strategy() -> impl Strategy<Value = TxStatusRecord> {
        let balances = proptest::collection::vec(any::<u64>(), 0..=ACCOUNT_KEYS_MAX);
        (
            (any::<u64>(), any::<u32>(), any::<u16>(), any::<u64>()),
            proptest::option::of("\\PC{0,80}"),
            balances.clone(),
            balances,
        )
            .prop_map(|((slot, entry_index, txn_index, fee), err, pre, post)| {
                TxStatusRecord {
                    slot: Slot(slot),
                    entry_index,
                    txn_index,
                    fee,
                    err,
                    pre_balances: pre,
                    post_balances: post,
                }
            })
    }

    fn sample_status() -> TxStatusRecord {
        TxStatusRecord {
            slot: Slot(9),
            entry_index: 3,
            txn_index: 1,
            fee: 5_000,
            err: Some(r#"{"InstructionError":[0,{"Custom":1}]}"#.to_owned()),
            pre_balances: vec![10, 20],
            post_balances: vec![5, 25],
        }
    }

    #[test]
    fn status_with_too_many_balances_is_refused_before_encoding() {
        let mut record = sample_status();
        record.pre_balances = vec![1; ACCOUNT_KEYS_MAX + 1];
        let reason = check_tx_status(&record).unwrap_err();
        assert!(reason.contains("36 entries"), "{reason}");
        record.pre_balances.clear();
        record.err = Some("x".repeat(TX_ERR_LEN_MAX + 1));
        assert!(check_tx_status(&record).unwrap_err().contains("1025 bytes"));
    }

    #[test]
    fn decoder_refuses_balance_count_over_the_account_limit() {
        let mut bytes = Vec::new();
        encode_tx_status(&sample_status(), &mut bytes);
        // The pre_balances count sits right after the fixed fields and the error text.
        let err_len = sample_status().err.unwrap().len();
        let count_at = 8 + 4 + 2 + 8 + 1 + 2 + err_len;
        assert_eq!(bytes[count_at], 2);
        bytes[count_at] = 200;
        let reason = decode_tx_status(&bytes).unwrap_err();
        assert!(reason.contains("count 200"), "{reason}");
    }

    #[test]
    fn decoder_refuses_unknown_err_tag_and_bad_utf8() {
        let mut bytes = Vec::new();
        encode_tx_status(&sample_status(), &mut bytes);
        let tag_at = 8 + 4 + 2 + 8;
        let mut bad_tag = bytes.clone();
        bad_tag[tag_at] = 7;
        assert!(decode_tx_status(&bad_tag)
            .unwrap_err()
            .contains("err tag 7"));
        let mut bad_text = bytes;
        bad_text[tag_at + 3] = 0xFF;
        assert!(decode_tx_status(&bad_text).unwrap_err().contains("UTF-8"));
    }

    proptest! {
        #[test]
        fn slot_meta_round_trips(meta in slot_meta_strategy()) {
            let mut bytes = Vec::new();
            encode_slot_meta(&meta, &mut bytes);
            prop_assert_eq!(bytes.len(), SLOT_META_LEN);
            prop_assert_eq!(decode_slot_meta(&bytes).unwrap(), meta);
        }

        #[test]
        fn tx_status_round_trips(record in tx_status_strategy()) {
            prop_assert!(check_tx_status(&record).is_ok());
            let mut bytes = Vec::new();
            encode_tx_status(&record, &mut bytes);
            prop_assert_eq!(decode_tx_status(&bytes).unwrap(), record);
        }

        #[test]
        fn truncated_or_extended_rows_are_refused(
            meta in slot_meta_strategy(),
            record in tx_status_strategy(),
            cut in any::<prop::sample::Index>(),
            extra in proptest::collection::vec(any::<u8>(), 1..8),
        ) {
            let mut bytes = Vec::new();
            encode_slot_meta(&meta, &mut bytes);
            let short = &bytes[..cut.index(bytes.len())];
            prop_assert!(decode_slot_meta(short).is_err());
            bytes.extend_from_slice(&extra);
            prop_assert!(decode_slot_meta(&bytes).unwrap_err().contains("trailing"));

            let mut bytes = Vec::new();
            encode_tx_status(&record, &mut bytes);
            let short = &bytes[..cut.index(bytes.len())];
            prop_assert!(decode_tx_status(short).is_err());
            bytes.extend_from_slice(&extra);
            prop_assert!(decode_tx_status(&bytes).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode_slot_meta(&bytes);
            let _ = decode_tx_status(&bytes);
        }
    }
}
