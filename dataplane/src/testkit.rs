//! Building blocks for tests and benches: blocks produced the way a leader produces them, without
//! the PoH thread's wall-clock pacing.

use std::sync::Arc;

use crate::bank::Bank;
use crate::block::{encode_stream_entry, encode_stream_footer, SlotFooter};
use crate::entry::{hash_signatures, Entry};
use crate::genesis::Genesis;
use crate::poh::Poh;
use crate::txn::Txn;
use crate::types::{Hash, Pubkey, Slot};

/// Produces `slot` on the frozen `parent` as its leader would: the ticks of the skipped slots, one
/// entry per element of `batches` (each must be free of lock conflicts, and every transaction in it
/// includable), then the slot's ticks. Returns the frozen bank and the block's entries.
///
/// # Panics
/// If `parent` is not frozen, `slot` is not above it, or a batch cannot be recorded or committed:
/// this is for building test inputs, where that is a bug in the test.
pub fn produce_block(
    genesis: &Genesis,
    parent: &Arc<Bank>,
    slot: Slot,
    leader: Pubkey,
    batches: Vec<Vec<Txn>>,
) -> (Arc<Bank>, Vec<Entry>) {
    let start = parent.blockhash().expect("parent is frozen");
    assert!(slot > parent.slot(), "slot above its parent");
    let bank = Arc::new(Bank::new_child(parent, slot, leader));
    let mut poh = Poh::new(start, genesis.hashes_per_tick);
    let mut entries = Vec::new();
    let tick = |poh: &mut Poh, entries: &mut Vec<Entry>| {
        poh.hash(u64::MAX);
        let t = poh.tick().expect("a full tick");
        entries.push(Entry {
            num_hashes: t.num_hashes,
            hash: t.hash,
            transactions: vec![],
        });
    };
    for _ in 0..(slot.0 - parent.slot().0 - 1) * genesis.ticks_per_slot {
        tick(&mut poh, &mut entries);
    }
    // Records go one hash apart; a tick closes whenever the current one has no room left.
    for batch in batches.into_iter().filter(|b| !b.is_empty()) {
        if poh.remaining_hashes() <= 1 {
            tick(&mut poh, &mut entries);
        }
        let txs = Arc::new(batch);
        let executed = bank.execute(&txs);
        poh.hash(1);
        let rec = poh
            .record(hash_signatures(&txs))
            .expect("room left in the tick");
        bank.commit(&txs, &executed).expect("commit");
        entries.push(Entry {
            num_hashes: rec.num_hashes,
            hash: rec.hash,
            transactions: Arc::try_unwrap(txs).unwrap_or_else(|t| t.to_vec()),
        });
    }
    let own_ticks = entries.iter().filter(|e| e.is_tick()).count() as u64
        - (slot.0 - parent.slot().0 - 1) * genesis.ticks_per_slot;
    for _ in own_ticks..genesis.ticks_per_slot {
        tick(&mut poh, &mut entries);
    }
    bank.freeze(entries.last().expect("ticks").hash);
    (bank, entries)
}

/// The slot stream a leader shreds for `entries`, closed by a footer claiming `bank_hash`.
pub fn slot_stream(entries: &[Entry], bank_hash: Hash, block_time_ms: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        encode_stream_entry(e, &mut out);
    }
    encode_stream_footer(
        &SlotFooter {
            bank_hash,
            block_time_ms,
        },
        &mut out,
    );
    out
}
