//! The live banks of a node, by slot: the root and every fork above it.
//!
//! Setting a new root squashes the deltas of the banks between the old and new root — balances and
//! vote states — into the shared [`RootAccounts`](crate::accounts::RootAccounts), marks their slots
//! rooted in the status cache (which purges what has aged out), and drops every bank that does not
//! descend from the new root.

use std::collections::HashMap;
use std::sync::Arc;

use crate::accounts::{new_account_map, new_vote_state_map, write};
use crate::bank::{Bank, BankError};
use crate::types::{Lamports, Pubkey, Slot};
use crate::vote_state::VoteState;

/// The rooted state that moving the root changes, for storage: each account's newest balance and
/// each vote account's newest state along the rooted chain, both sorted by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootUpdates {
    /// New balances.
    pub accounts: Vec<(Pubkey, Lamports)>,
    /// New vote account states.
    pub vote_states: Vec<(Pubkey, Arc<VoteState>)>,
}

impl From<Vec<(Pubkey, Lamports)>> for RootUpdates {
    /// Balance changes alone.
    fn from(accounts: Vec<(Pubkey, Lamports)>) -> RootUpdates {
        RootUpdates {
            accounts,
            vote_states: Vec::new(),
        }
    }
}

impl RootUpdates {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.vote_states.is_empty()
    }
}

/// Why a fork operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForkError {
    /// No live bank has this slot.
    #[error("no bank for slot {0}")]
    UnknownSlot(Slot),
    /// A bank for this slot is already held.
    #[error("a bank for slot {0} already exists")]
    DuplicateSlot(Slot),
    /// Banks at or below the root are history: nothing is added there.
    #[error("slot {slot} is not above the root {root}")]
    NotAboveRoot {
        /// The new bank's slot.
        slot: Slot,
        /// The root slot.
        root: Slot,
    },
    /// A bank's parent is not held (or was pruned).
    #[error("parent slot {parent} of slot {slot} is not a live bank")]
    UnknownParent {
        /// The new bank's slot.
        slot: Slot,
        /// Its parent's slot.
        parent: Slot,
    },
    /// Only a frozen bank can become the root.
    #[error("slot {0} is not frozen and cannot become the root")]
    NotFrozen(Slot),
    /// The new root must descend from the current one.
    #[error("slot {slot} does not descend from the root {root}")]
    NotDescendant {
        /// The requested root.
        slot: Slot,
        /// The current root.
        root: Slot,
    },
    /// The child bank could not be created.
    #[error(transparent)]
    Bank(#[from] BankError),
}

/// Banks by slot: the root and its descendants.
#[derive(Debug)]
pub struct BankForks {
    banks: HashMap<Slot, Arc<Bank>>,
    root: Slot,
}

impl BankForks {
    /// Forks holding just `root_bank` (the genesis bank or one restored with
    /// [`Bank::from_root`]), which must be frozen.
    pub fn new(root_bank: Bank) -> BankForks {
        debug_assert!(root_bank.is_frozen(), "a root bank is frozen");
        let root = root_bank.slot();
        let mut banks = HashMap::new();
        banks.insert(root, Arc::new(root_bank));
        BankForks { banks, root }
    }

    /// The root slot.
    pub fn root(&self) -> Slot {
        self.root
    }

    /// The root bank.
    pub fn root_bank(&self) -> Arc<Bank> {
        self.banks[&self.root].clone()
    }

    /// The bank for `slot`, if live.
    pub fn get(&self, slot: Slot) -> Option<Arc<Bank>> {
        self.banks.get(&slot).cloned()
    }

    /// Number of live banks.
    pub fn len(&self) -> usize {
        self.banks.len()
    }

    /// Whether no bank is held (never true: the root always is).
    pub fn is_empty(&self) -> bool {
        self.banks.is_empty()
    }

    /// Every live bank, in no particular order.
    pub fn banks(&self) -> impl Iterator<Item = &Arc<Bank>> {
        self.banks.values()
    }

    /// The frozen bank with the highest slot (where RPC's "processed" commitment reads).
    pub fn highest_frozen(&self) -> Arc<Bank> {
        self.banks
            .values()
            .filter(|b| b.is_frozen())
            .max_by_key(|b| b.slot())
            .cloned()
            .unwrap_or_else(|| self.root_bank())
    }

    /// Adds `bank`, whose parent must be live.
    pub fn insert(&mut self, bank: Bank) -> Result<Arc<Bank>, ForkError> {
        let slot = bank.slot();
        if self.banks.contains_key(&slot) {
            return Err(ForkError::DuplicateSlot(slot));
        }
        if slot <= self.root {
            return Err(ForkError::NotAboveRoot {
                slot,
                root: self.root,
            });
        }
        let parent = bank.parent_slot();
        if !self.banks.contains_key(&parent) {
            return Err(ForkError::UnknownParent { slot, parent });
        }
        let bank = Arc::new(bank);
        self.banks.insert(slot, bank.clone());
        Ok(bank)
    }

    /// Creates and adds a bank for `slot` on top of the live, frozen `parent`.
    pub fn new_child(
        &mut self,
        parent: Slot,
        slot: Slot,
        collector: Pubkey,
    ) -> Result<Arc<Bank>, ForkError> {
        let p = self
            .banks
            .get(&parent)
            .ok_or(ForkError::UnknownParent { slot, parent })?;
        if self.banks.contains_key(&slot) {
            return Err(ForkError::DuplicateSlot(slot));
        }
        let child = Bank::try_new_child(p, slot, collector)?;
        self.insert(child)
    }

    /// `slot` and every live bank descending from it, ascending; empty when `slot` is not live.
    pub fn subtree(&self, slot: Slot) -> Vec<Slot> {
        if !self.banks.contains_key(&slot) {
            return Vec::new();
        }
        let mut out: Vec<Slot> = self
            .banks
            .iter()
            .filter(|(s, b)| **s == slot || descends_from(b, slot))
            .map(|(s, _)| *s)
            .collect();
        out.sort_unstable();
        out
    }

    /// Drops the bank of `slot` and every bank descending from it (a duplicate slot's version the
    /// cluster did not confirm, and what was built on it); returns their slots, ascending (empty
    /// when `slot` is not live). What they processed leaves the shared status cache, so another
    /// block for `slot` is not refused its transactions. The root and below it are refused.
    pub fn remove_subtree(&mut self, slot: Slot) -> Result<Vec<Slot>, ForkError> {
        if slot <= self.root {
            return Err(ForkError::NotAboveRoot {
                slot,
                root: self.root,
            });
        }
        let removed = self.subtree(slot);
        for s in &removed {
            self.banks.remove(s);
        }
        // `slot` itself even when it is not live: a block of it that failed replay may have left
        // statuses behind.
        let mut purged = removed.clone();
        if purged.is_empty() {
            purged.push(slot);
        }
        write(self.root_bank().status_cache()).remove_slots(&purged);
        Ok(removed)
    }

    /// The account and vote state changes that rooting the frozen bank `slot` would apply, without
    /// rooting it: storage commits them first, so that nothing reads as rooted before it is durable.
    pub fn root_updates(&self, slot: Slot) -> Result<RootUpdates, ForkError> {
        let bank = self.get(slot).ok_or(ForkError::UnknownSlot(slot))?;
        if slot == self.root {
            return Ok(RootUpdates::default());
        }
        let chain = self.chain_above_root(&bank)?;
        Ok(squash(&chain))
    }

    /// The frozen `bank` and its ancestors above the root, newest first.
    fn chain_above_root(&self, bank: &Arc<Bank>) -> Result<Vec<Arc<Bank>>, ForkError> {
        let slot = bank.slot();
        if !bank.is_frozen() {
            return Err(ForkError::NotFrozen(slot));
        }
        let mut chain = vec![bank.clone()];
        let mut cur = bank.parent();
        loop {
            match cur {
                Some(b) if b.slot() > self.root => {
                    cur = b.parent();
                    chain.push(b);
                }
                Some(b) if b.slot() == self.root => return Ok(chain),
                _ => {
                    return Err(ForkError::NotDescendant {
                        slot,
                        root: self.root,
                    })
                }
            }
        }
    }

    /// Makes the frozen bank `slot` the root: squashes its unrooted ancestors' deltas and its own into
    /// the rooted accounts and vote states, and prunes every bank that does not descend from it.
    /// Returns the rooted changes for storage.
    pub fn set_root(&mut self, slot: Slot) -> Result<RootUpdates, ForkError> {
        let updates = self.root_updates(slot)?;
        self.apply_root(slot, &updates)?;
        Ok(updates)
    }

    /// Roots the frozen bank `slot` with `updates`, which [`BankForks::root_updates`] gave for it
    /// while nothing has moved the root since (the ledger stage computes them under a read lock,
    /// makes them durable, then roots here without squashing again under the write lock).
    pub fn apply_root(&mut self, slot: Slot, updates: &RootUpdates) -> Result<(), ForkError> {
        let bank = self.get(slot).ok_or(ForkError::UnknownSlot(slot))?;
        if slot == self.root {
            return Ok(());
        }
        let chain = self.chain_above_root(&bank)?;
        {
            let mut root = write(bank.root_accounts());
            root.accounts.extend(updates.accounts.iter().copied());
            root.vote_states.extend(updates.vote_states.iter().cloned());
            root.slot = slot;
            root.block_height = bank.block_height();
        }
        {
            let mut cache = write(bank.status_cache());
            for b in chain.iter().rev() {
                cache.add_root(b.slot(), b.block_height());
            }
        }
        bank.cut_parent();
        self.root = slot;
        self.banks
            .retain(|s, b| *s == slot || descends_from(b, slot));
        Ok(())
    }
}

/// The newest balance and vote state of everything written along `chain` (newest bank first),
/// sorted by address.
fn squash(chain: &[Arc<Bank>]) -> RootUpdates {
    let mut accounts = new_account_map();
    let mut vote_states = new_vote_state_map();
    for b in chain.iter().rev() {
        b.with_delta(|delta| accounts.extend(delta.iter().map(|(k, v)| (*k, *v))));
        b.with_vote_delta(|votes| vote_states.extend(votes.iter().map(|(k, v)| (*k, v.clone()))));
    }
    let mut accounts: Vec<_> = accounts.into_iter().collect();
    accounts.sort_unstable_by_key(|(k, _)| *k);
    let mut vote_states: Vec<_> = vote_states.into_iter().collect();
    vote_states.sort_unstable_by_key(|(k, _)| *k);
    RootUpdates {
        accounts,
        vote_states,
    }
}

/// Whether `bank` is a strict descendant of the bank at `ancestor`.
fn descends_from(bank: &Arc<Bank>, ancestor: Slot) -> bool {
    let mut cur = bank.parent();
    while let Some(b) = cur {
        if b.slot() == ancestor {
            return true;
        }
        if b.slot() < ancestor {
            return false;
        }
        cur = b.parent();
    }
    false
}
