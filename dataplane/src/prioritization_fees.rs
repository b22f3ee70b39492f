//! Recent prioritization fees, for Solana's `getRecentPrioritizationFees`: per stored slot, the
//! lowest compute unit price (micro-lamports per compute unit) its transactions paid, overall and per
//! account they write.
//!
//! Solana's rules: a slot counts every transaction it holds except votes and those with a compute
//! unit limit of 0 (their price says nothing); a slot's fee for a set of accounts is the larger of its
//! lowest price overall and the lowest price paid by the transactions writing each of those
//! accounts — what it took to land a transaction that writes them all. An account whose lowest price
//! is the slot's lowest adds nothing and is not kept, and of the rest only the
//! [`ACCOUNTS_PER_SLOT_MAX`] highest are kept (the contended ones, which say the most). Unlike Solana,
//! which lists only slots that held such a transaction, every stored slot is listed (0 when nothing
//! paid), so a quiet chain still answers with its recent slots.
//!
//! The record is computed once per block, when it is stored (off the banking path), and kept in
//! memory for the last [`RECENT_SLOTS_MAX`] slots; a restarted node starts empty, as Solana's does.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::txn::Txn;
use crate::types::{Pubkey, Slot};

/// Slots remembered (Solana's `MAX_NUM_RECENT_BLOCKS`).
pub const RECENT_SLOTS_MAX: usize = 150;
/// Accounts with a lowest price above their slot's lowest kept per slot, highest first.
pub const ACCOUNTS_PER_SLOT_MAX: usize = 256;

/// One slot's lowest prices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotPrioritizationFees {
    /// Lowest price among the counted transactions (`None`: there were none).
    min_price: Option<u64>,
    /// Written accounts whose lowest price is above `min_price`, sorted by address.
    accounts: Vec<(Pubkey, u64)>,
}

impl SlotPrioritizationFees {
    /// The record of a block holding `txns` (see the module docs for what counts).
    pub fn from_block<'a>(txns: impl Iterator<Item = &'a Txn> + Clone) -> SlotPrioritizationFees {
        let counted = txns.filter(|t| !t.is_vote() && t.view().compute_budget().unit_limit > 0);
        let mut prices = counted.clone().map(Txn::priority);
        let Some(first) = prices.next() else {
            return SlotPrioritizationFees::default();
        };
        let (min, max) = prices.fold((first, first), |(lo, hi), p| (lo.min(p), hi.max(p)));
        if min == max {
            // Every account's lowest is the slot's lowest: nothing to keep per account.
            return SlotPrioritizationFees {
                min_price: Some(min),
                accounts: Vec::new(),
            };
        }
        let mut lowest: HashMap<Pubkey, u64, ahash::RandomState> = HashMap::default();
        for t in counted {
            let v = t.view();
            let price = t.priority();
            for i in (0..v.num_account_keys()).filter(|i| v.is_writable(*i)) {
                lowest
                    .entry(v.account_key(i))
                    .and_modify(|p| *p = (*p).min(price))
                    .or_insert(price);
            }
        }
        let mut accounts: Vec<(Pubkey, u64)> =
            lowest.into_iter().filter(|(_, p)| *p > min).collect();
        if accounts.len() > ACCOUNTS_PER_SLOT_MAX {
            accounts.select_nth_unstable_by(ACCOUNTS_PER_SLOT_MAX - 1, |a, b| b.1.cmp(&a.1));
            accounts.truncate(ACCOUNTS_PER_SLOT_MAX);
        }
        accounts.sort_unstable_by_key(|(k, _)| *k);
        SlotPrioritizationFees {
            min_price: Some(min),
            accounts,
        }
    }

    /// The slot's fee for transactions writing every one of `accounts` (all transactions when
    /// empty): the larger of its lowest price and each account's lowest price.
    pub fn fee_for(&self, accounts: &[Pubkey]) -> u64 {
        let own = accounts
            .iter()
            .filter_map(|k| {
                self.accounts
                    .binary_search_by_key(k, |(key, _)| *key)
                    .ok()
                    .map(|i| self.accounts[i].1)
            })
            .max();
        self.min_price.unwrap_or(0).max(own.unwrap_or(0))
    }
}

/// The records of the last [`RECENT_SLOTS_MAX`] stored slots, shared by the storing stages and RPC.
#[derive(Debug, Default)]
pub struct PrioritizationFeeCache {
    slots: Mutex<BTreeMap<Slot, SlotPrioritizationFees>>,
}

impl PrioritizationFeeCache {
    /// Records (or replaces) `slot`'s fees, forgetting the oldest slot beyond the bound.
    pub fn insert(&self, slot: Slot, fees: SlotPrioritizationFees) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.insert(slot, fees);
        while slots.len() > RECENT_SLOTS_MAX {
            slots.pop_first();
        }
    }

    /// Forgets `slot` (its block was removed).
    pub fn remove(&self, slot: Slot) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&slot);
    }

    /// `(slot, fee)` for every remembered slot, oldest first (see [`SlotPrioritizationFees::fee_for`]).
    pub fn recent(&self, accounts: &[Pubkey]) -> Vec<(Slot, u64)> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(slot, fees)| (*slot, fees.fee_for(accounts)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::tests::{unsigned_priced_transfer, unsigned_transfer};
    use crate::compute_budget::COMPUTE_BUDGET_PROGRAM_ID;
    use crate::txn::write_compact_u16;
    use crate::types::Hash;

    const A: Pubkey = Pubkey([0xA; 32]);
    const B: Pubkey = Pubkey([0xB; 32]);
    const C: Pubkey = Pubkey([0xC; 32]);

    /// A transfer from `payer` to `to` at `price` (free when 0).
    fn tx(payer: Pubkey, to: Pubkey, price: u64, id: u64) -> Txn {
        let bh = Hash([1; 32]);
        if price == 0 {
            unsigned_transfer(&payer, &to, 1, &bh, id)
        } else {
            unsigned_priced_transfer(&payer, &to, 1, &bh, id, price)
        }
    }

    /// A price with a compute unit limit of 0: not counted.
    fn zero_limit(payer: Pubkey, price: u64) -> Txn {
        let mut wire = vec![1];
        wire.extend_from_slice(&[0x3C; 64]);
        wire.extend_from_slice(&[1, 0, 1]);
        write_compact_u16(&mut wire, 2);
        wire.extend_from_slice(payer.as_bytes());
        wire.extend_from_slice(COMPUTE_BUDGET_PROGRAM_ID.as_bytes());
        wire.extend_from_slice(&[1; 32]);
        wire.push(2);
        for data in [
            crate::compute_budget::ComputeBudgetInstruction::SetComputeUnitLimit(0).encode(),
            crate::compute_budget::ComputeBudgetInstruction::SetComputeUnitPrice(price).encode(),
        ] {
            wire.extend_from_slice(&[1, 0, data.len() as u8]);
            wire.extend_from_slice(&data);
        }
        Txn::parse(&wire).unwrap()
    }

    #[test]
    fn a_slots_fee_is_its_lowest_price_raised_by_the_accounts_asked_for() {
        // Solana's own example: [5: writes A, B], [9: B, C], [2: A, C] (payers first).
        let txs = [tx(A, B, 5, 1), tx(B, C, 9, 2), tx(A, C, 2, 3)];
        let fees = SlotPrioritizationFees::from_block(txs.iter());
        assert_eq!(fees.fee_for(&[]), 2);
        assert_eq!(fees.fee_for(&[A]), 2);
        assert_eq!(fees.fee_for(&[B]), 5);
        assert_eq!(fees.fee_for(&[C]), 2);
        assert_eq!(fees.fee_for(&[A, B, C]), 5);
        assert_eq!(fees.fee_for(&[Pubkey([0xD; 32])]), 2);
        // Only B says more than the slot's lowest.
        assert_eq!(fees.accounts, vec![(B, 5)]);
    }

    #[test]
    fn free_votes_and_zero_limits_do_not_count_and_a_free_transfer_makes_the_lowest_zero() {
        let paying = [tx(A, B, 7, 1), zero_limit(C, 1)];
        let fees = SlotPrioritizationFees::from_block(paying.iter());
        assert_eq!(fees.fee_for(&[]), 7);
        assert!(fees.accounts.is_empty());
        let mixed = [tx(A, B, 7, 1), tx(C, Pubkey([0xE; 32]), 0, 2)];
        let fees = SlotPrioritizationFees::from_block(mixed.iter());
        assert_eq!(fees.fee_for(&[]), 0);
        assert_eq!(fees.fee_for(&[B]), 7);
        assert_eq!(fees.fee_for(&[C]), 0);
        let none = SlotPrioritizationFees::from_block([].iter());
        assert_eq!(none, SlotPrioritizationFees::default());
        assert_eq!(none.fee_for(&[A]), 0);
    }

    #[test]
    fn accounts_are_bounded_to_the_highest_prices() {
        let n = ACCOUNTS_PER_SLOT_MAX as u64 + 50;
        let mut txs = vec![tx(Pubkey([0xF0; 32]), Pubkey([0xF1; 32]), 0, 0)];
        for i in 1..=n {
            let mut payer = [0x50; 32];
            payer[..8].copy_from_slice(&i.to_le_bytes());
            let mut to = [0x60; 32];
            to[..8].copy_from_slice(&i.to_le_bytes());
            txs.push(tx(Pubkey(payer), Pubkey(to), i, i));
        }
        let fees = SlotPrioritizationFees::from_block(txs.iter());
        // Two written accounts per paying transfer; the highest prices survive.
        assert_eq!(fees.accounts.len(), ACCOUNTS_PER_SLOT_MAX);
        let lowest_kept = fees.accounts.iter().map(|(_, p)| *p).min().unwrap();
        assert_eq!(lowest_kept, n - ACCOUNTS_PER_SLOT_MAX as u64 / 2 + 1);
        let mut top = [0x50; 32];
        top[..8].copy_from_slice(&n.to_le_bytes());
        assert_eq!(fees.fee_for(&[Pubkey(top)]), n);
    }

    #[test]
    fn the_cache_keeps_the_newest_150_slots_in_order() {
        let cache = PrioritizationFeeCache::default();
        let paying = [tx(A, B, 3, 1)];
        for s in (1..=200).rev() {
            cache.insert(Slot(s), SlotPrioritizationFees::from_block(paying.iter()));
        }
        // Whatever order slots arrive in, the oldest are the ones forgotten.
        cache.insert(Slot(201), SlotPrioritizationFees::default());
        let recent = cache.recent(&[]);
        assert_eq!(recent.len(), RECENT_SLOTS_MAX);
        assert_eq!(recent.first(), Some(&(Slot(52), 3)));
        assert_eq!(recent.last(), Some(&(Slot(201), 0)));
        cache.remove(Slot(201));
        assert_eq!(cache.recent(&[B]).last(), Some(&(Slot(200), 3)));
    }
}
