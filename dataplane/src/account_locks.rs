//! Sealevel's account locks: a transaction write-locks the accounts it may change and read-locks the
//! rest of its keys; writes are exclusive, reads shared. Transactions whose locks are compatible can
//! run at the same time against the same state, in any order, with the same result.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::txn::{Txn, TxnView};
use crate::types::Pubkey;

/// How an account is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    Read,
    Write,
}

/// The locks held by one batch (or one entry) of transactions.
#[derive(Debug)]
pub struct AccountLocks {
    locks: HashMap<Pubkey, Lock, ahash::RandomState>,
}

impl Default for AccountLocks {
    fn default() -> Self {
        AccountLocks::with_capacity(0)
    }
}

impl AccountLocks {
    /// No locks held.
    pub fn new() -> AccountLocks {
        AccountLocks::default()
    }

    /// No locks held, with room for `accounts` without reallocating.
    pub fn with_capacity(accounts: usize) -> AccountLocks {
        AccountLocks {
            locks: HashMap::with_capacity_and_hasher(accounts, ahash::RandomState::new()),
        }
    }

    /// Whether `tx` would conflict with a lock held: it writes an account held in any way, or reads
    /// an account held for writing.
    #[inline]
    pub fn conflicts(&self, tx: &TxnView<'_>) -> bool {
        (0..tx.num_account_keys()).any(|i| match self.locks.get(&tx.account_key(i)) {
            None => false,
            Some(Lock::Read) => tx.is_writable(i),
            Some(Lock::Write) => true,
        })
    }

    /// Takes `tx`'s locks without checking for conflicts (a write lock replaces a read lock). Used both
    /// for admitted transactions and to reserve the accounts of deferred ones.
    #[inline]
    pub fn lock(&mut self, tx: &TxnView<'_>) {
        for i in 0..tx.num_account_keys() {
            let key = tx.account_key(i);
            if tx.is_writable(i) {
                self.locks.insert(key, Lock::Write);
            } else {
                self.locks.entry(key).or_insert(Lock::Read);
            }
        }
    }

    /// Takes `tx`'s locks if none conflicts; returns whether it did.
    pub fn try_lock(&mut self, tx: &TxnView<'_>) -> bool {
        if self.conflicts(tx) {
            return false;
        }
        self.lock(tx);
        true
    }

    /// Takes `tx`'s locks whether or not they conflict, in one lookup per key, and returns whether
    /// none conflicted: [`AccountLocks::conflicts`] then [`AccountLocks::lock`], at half the cost.
    /// The scheduler's pass uses it for admitted and deferred transactions alike.
    #[inline]
    pub fn lock_or_reserve(&mut self, tx: &TxnView<'_>) -> bool {
        let mut free = true;
        for i in 0..tx.num_account_keys() {
            let writable = tx.is_writable(i);
            match self.locks.entry(tx.account_key(i)) {
                Entry::Vacant(v) => {
                    v.insert(if writable { Lock::Write } else { Lock::Read });
                }
                Entry::Occupied(mut o) => {
                    // Writing a held account, or reading a write-held one, conflicts.
                    if writable {
                        free = false;
                        o.insert(Lock::Write);
                    } else if *o.get() == Lock::Write {
                        free = false;
                    }
                }
            }
        }
        free
    }

    /// Releases every lock, keeping the allocation.
    pub fn clear(&mut self) {
        self.locks.clear();
    }

    /// Number of accounts held.
    pub fn len(&self) -> usize {
        self.locks.len()
    }

    /// Whether no account is held.
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }

    /// Whether `key` is write-locked.
    pub fn is_write_locked(&self, key: &Pubkey) -> bool {
        self.locks.get(key) == Some(&Lock::Write)
    }

    /// Whether `key` is read-locked (and not write-locked).
    pub fn is_read_locked(&self, key: &Pubkey) -> bool {
        self.locks.get(key) == Some(&Lock::Read)
    }
}

/// The index of the first transaction in `txs` whose locks conflict with an earlier one's.
pub fn first_lock_conflict(txs: &[Txn]) -> Option<usize> {
    let mut locks = AccountLocks::with_capacity(txs.len() * 3);
    txs.iter().position(|t| !locks.lock_or_reserve(&t.view()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::build_transfer;
    use crate::types::Hash;
    use ed25519_dalek::SigningKey;

    fn transfer_to(from: u8, to: Pubkey) -> Txn {
        let k = SigningKey::from_bytes(&[from; 32]);
        Txn::parse(&build_transfer(&k, &to, 1, &Hash([9; 32]))).unwrap()
    }

    fn transfer(from: u8, to: u8) -> Txn {
        transfer_to(from, Pubkey([to; 32]))
    }

    fn payer(seed: u8) -> Pubkey {
        Pubkey(
            SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .to_bytes(),
        )
    }

    #[test]
    fn writes_are_exclusive_reads_shared() {
        let mut l = AccountLocks::new();
        // Both read the System Program: no conflict.
        assert!(l.try_lock(&transfer(1, 2).view()));
        assert!(l.try_lock(&transfer(3, 4).view()));
        assert!(l.is_read_locked(&Pubkey::SYSTEM_PROGRAM));
        assert!(l.is_write_locked(&payer(1)));
        // Same destination: write-write conflict.
        assert!(!l.try_lock(&transfer(5, 2).view()));
        // Same payer.
        assert!(!l.try_lock(&transfer(1, 6).view()));
        // Paying a payer of the batch.
        assert!(!l.try_lock(&transfer_to(7, payer(3)).view()));
        assert_eq!(l.len(), 5);
        l.clear();
        assert!(l.is_empty());
        assert!(l.try_lock(&transfer(5, 2).view()));
    }

    #[test]
    fn read_write_mixes() {
        let mut l = AccountLocks::new();
        // Writing a read-locked account conflicts.
        l.locks.insert(Pubkey([2; 32]), Lock::Read);
        assert!(l.conflicts(&transfer(1, 2).view()));
        assert!(!l.conflicts(&transfer(1, 3).view()));
        // Reading a write-locked account conflicts (every transfer reads the System Program).
        l.locks.insert(Pubkey::SYSTEM_PROGRAM, Lock::Write);
        assert!(l.conflicts(&transfer(1, 3).view()));
        // A later write lock replaces a read lock.
        l.clear();
        l.locks.insert(payer(1), Lock::Read);
        l.lock(&transfer(1, 3).view());
        assert!(l.is_write_locked(&payer(1)));
    }

    #[test]
    fn lock_or_reserve_equals_conflicts_then_lock() {
        let txs: Vec<Txn> = (0..40u8)
            .map(|i| transfer(i % 7, 100 + i % 5))
            .chain([transfer_to(9, payer(3)), transfer_to(10, Pubkey([101; 32]))])
            .collect();
        let mut a = AccountLocks::new();
        let mut b = AccountLocks::new();
        for t in &txs {
            let v = t.view();
            let free = !a.conflicts(&v);
            a.lock(&v);
            assert_eq!(b.lock_or_reserve(&v), free);
            assert_eq!(a.locks, b.locks);
        }
    }

    #[test]
    fn first_conflict_in_an_entry() {
        let txs = vec![transfer(1, 2), transfer(3, 4), transfer(5, 2)];
        assert_eq!(first_lock_conflict(&txs), Some(2));
        assert_eq!(first_lock_conflict(&txs[..2]), None);
        assert_eq!(first_lock_conflict(&[]), None);
    }
}
