//! Account balances and vote states: the rooted base that every bank reads through, and the
//! per-slot maps above it.
//!
//! A bank's view of an account is the newest value along its fork: its own delta, then each unrooted
//! ancestor's delta, then the rooted [`RootAccounts`]. Readers take every lock they need once (per batch
//! or per chunk of a batch) and then look accounts up without further synchronisation. Vote accounts'
//! states are layered the same way, in maps of their own beside the balances.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::types::{Lamports, Pubkey, Slot};
use crate::vote_state::VoteState;

/// A map keyed by account address, hashed with a per-process random key so that an attacker cannot
/// choose addresses that collide (SipHash would be ~8× slower on this path, DESIGN §6).
pub type AccountMap = HashMap<Pubkey, Lamports, ahash::RandomState>;

/// An empty [`AccountMap`] with a fresh random hash key.
pub fn new_account_map() -> AccountMap {
    AccountMap::with_hasher(ahash::RandomState::new())
}

/// Vote states by vote account address (shared, since a state is rewritten whole by each vote).
pub type VoteStateMap = HashMap<Pubkey, Arc<VoteState>, ahash::RandomState>;

/// An empty [`VoteStateMap`] with a fresh random hash key.
pub fn new_vote_state_map() -> VoteStateMap {
    VoteStateMap::with_hasher(ahash::RandomState::new())
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
    /// State of every vote account as of the root.
    pub vote_states: VoteStateMap,
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
            vote_states: new_vote_state_map(),
        }
    }

    /// The same, holding `vote_states` as the rooted vote accounts.
    pub fn with_vote_states(
        mut self,
        vote_states: impl IntoIterator<Item = (Pubkey, Arc<VoteState>)>,
    ) -> RootAccounts {
        self.vote_states.extend(vote_states);
        self
    }
}

/// Balance and vote state lookups through a fork: the newest delta first, then older ones, then
/// the root.
pub(crate) struct AccountsReader<'a> {
    /// Deltas from the bank itself down to the oldest unrooted ancestor.
    pub deltas: &'a [&'a AccountMap],
    /// The rooted base.
    pub root: &'a AccountMap,
    /// Vote state deltas, in the same order as `deltas`.
    pub vote_deltas: &'a [&'a VoteStateMap],
    /// The rooted vote states.
    pub root_votes: &'a VoteStateMap,
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

    /// The state of vote account `key` on this fork, if it is one.
    pub fn vote_state(&self, key: &Pubkey) -> Option<&Arc<VoteState>> {
        self.vote_deltas
            .iter()
            .find_map(|d| d.get(key))
            .or_else(|| self.root_votes.get(key))
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
            vote_deltas: &[],
            root_votes: &root.vote_states,
        };
        assert_eq!(r.balance(&Pubkey([1; 32])), 11);
        assert_eq!(r.balance(&Pubkey([2; 32])), 20);
        assert_eq!(r.balance(&Pubkey([3; 32])), 34);
        assert_eq!(r.balance(&Pubkey([4; 32])), 0);
    }

    #[test]
    fn newest_vote_state_wins_then_root() {
        let state = |credits| {
            Arc::new(VoteState {
                credits,
                ..VoteState::new(Pubkey([7; 32]), Pubkey([7; 32]))
            })
        };
        let root = RootAccounts::new(Slot(0), 0, [])
            .with_vote_states([(Pubkey([1; 32]), state(1)), (Pubkey([2; 32]), state(2))]);
        let mut older = new_vote_state_map();
        older.insert(Pubkey([1; 32]), state(11));
        let mut newer = new_vote_state_map();
        newer.insert(Pubkey([1; 32]), state(12));
        let vote_deltas = [&newer, &older];
        let r = AccountsReader {
            deltas: &[],
            root: &root.accounts,
            vote_deltas: &vote_deltas,
            root_votes: &root.vote_states,
        };
        assert_eq!(r.vote_state(&Pubkey([1; 32])).map(|s| s.credits), Some(12));
        assert_eq!(r.vote_state(&Pubkey([2; 32])).map(|s| s.credits), Some(2));
        assert_eq!(r.vote_state(&Pubkey([3; 32])), None);
    }
}
