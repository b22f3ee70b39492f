//! Account balances: the rooted base that every bank reads through, and the per-slot maps above it.
//!
//! A bank's view of an account is the newest value along its fork: its own delta, then each unrooted
//! ancestor's delta, then the rooted [`RootAccounts`]. Readers take every lock they need once (per batch
//! or per chunk of a batch) and then look accounts up without further synchronisation.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::types::{Lamports, Pubkey, Slot};

/// A map keyed by account address, hashed with a per-process random key so that an attacker cannot
/// choose addresses that collide (SipHash would be ~8× slower on this path, DESIGN §6).
pub type AccountMap = HashMap<Pubkey, Lamports, ahash::RandomState>;

/// An empty [`AccountMap`] with a fresh random hash key.
pub fn new_account_map() -> AccountMap {
    AccountMap::with_hasher(ahash::RandomState::new())
}

/// The rooted state: every account as of the root slot. Banks above the root hold only deltas.
#[derive(Debug)]
pub struct RootAccounts {
    /// The slot whose state this is.
    pub slot: Slot,
    /// That slot's block height.
    pub block_height: u64,
    /// Balance of every account ever written up to the root.
    pub accounts: AccountMap,
}

impl RootAccounts {
    /// Rooted state at `slot` holding `accounts` (a later duplicate key overwrites an earlier one).
    pub fn new(
        slot: Slot,
        block_height: u64,
        accounts: impl IntoIterator<Item = (Pubkey, Lamports)>,
    ) -> RootAccounts {
        let mut map = new_account_map();
        map.extend(accounts);
        RootAccounts {
            slot,
            block_height,
            accounts: map,
        }
    }
}

/// Balance lookups through a fork: the newest delta first, then older ones, then the root.
pub(crate) struct AccountsReader<'a> {
    /// Deltas from the bank itself down to the oldest unrooted ancestor.
    pub deltas: &'a [&'a AccountMap],
    /// The rooted base.
    pub root: &'a AccountMap,
}

impl AccountsReader<'_> {
    /// The balance of `key` on this fork; an account never written holds 0 lamports.
    #[inline]
    pub fn balance(&self, key: &Pubkey) -> Lamports {
        for delta in self.deltas {
            if delta.is_empty() {
                continue;
            }
            if let Some(v) = delta.get(key) {
                return *v;
            }
        }
        self.root.get(key).copied().unwrap_or(0)
    }
}

/// Read-locks `lock`, ignoring poisoning: a panicking writer never leaves a map half-updated (each
/// write applies a batch that was fully computed beforehand), so the data stays usable.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `lock`, ignoring poisoning (see [`read`]).
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_delta_wins_then_root_then_zero() {
        let root = RootAccounts::new(Slot(0), 0, [(Pubkey([1; 32]), 10), (Pubkey([2; 32]), 20)]);
        let mut older = new_account_map();
        older.insert(Pubkey([1; 32]), 11);
        older.insert(Pubkey([3; 32]), 33);
        let mut newer = new_account_map();
        newer.insert(Pubkey([3; 32]), 34);
        let deltas = [&newer, &older];
        let r = AccountsReader {
            deltas: &deltas,
            root: &root.accounts,
        };
        assert_eq!(r.balance(&Pubkey([1; 32])), 11);
        assert_eq!(r.balance(&Pubkey([2; 32])), 20);
        assert_eq!(r.balance(&Pubkey([3; 32])), 34);
        assert_eq!(r.balance(&Pubkey([4; 32])), 0);
    }
}
