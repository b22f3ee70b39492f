//! The vote program in the bank: genesis vote accounts, vote state lookups along a fork, and
//! executing a vote's `TowerSync` (see the bank's module docs).

use std::sync::Arc;

use crate::accounts::{read, VoteStateMap};
use crate::bank::tx_error::{InstructionErrorKind, TxError};
use crate::bank::{Bank, ForkView};
use crate::genesis::Genesis;
use crate::txn::TxnView;
use crate::types::{Hash, Pubkey, Slot};
use crate::vote::vote_account_address;
use crate::vote_state::{VoteContext, VoteState};

impl Bank {
    /// Slots per epoch.
    pub fn slots_per_epoch(&self) -> u64 {
        self.slots_per_epoch
    }

    /// This slot's epoch.
    pub fn epoch(&self) -> u64 {
        self.slot.0 / self.slots_per_epoch.max(1)
    }

    /// Ancestors' `(slot, bank hash)`, newest first (at most
    /// [`SLOT_HASHES_MAX`](crate::vote_state::SLOT_HASHES_MAX)): the votes this
    /// bank accepts name these slots and, for their newest, this hash.
    pub fn slot_hashes(&self) -> &[(Slot, Hash)] {
        &self.slot_hashes
    }

    /// What a vote executed on this bank is checked against.
    pub fn vote_context(&self) -> VoteContext<'_> {
        VoteContext {
            slot: self.slot,
            epoch: self.epoch(),
            slot_hashes: &self.slot_hashes,
        }
    }

    /// The state of vote account `vote_account` on this fork.
    pub fn vote_state(&self, vote_account: &Pubkey) -> Option<Arc<VoteState>> {
        self.with_accounts(|a| a.vote_state(vote_account).cloned())
    }

    /// Every vote account on this fork with its state, sorted by address.
    pub fn vote_accounts(&self) -> Vec<(Pubkey, Arc<VoteState>)> {
        self.with_accounts(|a| {
            let mut all = a.root_votes.clone();
            for delta in a.vote_deltas.iter().rev() {
                all.extend(delta.iter().map(|(k, v)| (*k, v.clone())));
            }
            let mut all: Vec<_> = all.into_iter().collect();
            all.sort_unstable_by_key(|(k, _)| *k);
            all
        })
    }

    /// The vote states written in this slot (the votes that landed in this block), sorted by
    /// address.
    pub fn vote_delta(&self) -> Vec<(Pubkey, Arc<VoteState>)> {
        let mut v: Vec<_> = read(&self.state)
            .votes
            .iter()
            .map(|(k, s)| (*k, s.clone()))
            .collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }

    /// Runs `f` on the vote states written in this slot under the bank's read lock.
    pub(crate) fn with_vote_delta<R>(&self, f: impl FnOnce(&VoteStateMap) -> R) -> R {
        f(&read(&self.state).votes)
    }

    /// Runs a vote's `TowerSync` on its vote account's state as this bank sees it, returning the new
    /// state, or the instruction error Solana's vote program reports.
    pub(super) fn execute_vote(
        &self,
        view: &ForkView<'_>,
        tx: &TxnView<'_>,
    ) -> Result<Arc<VoteState>, TxError> {
        let failed = |kind| TxError::InstructionError { index: 0, kind };
        let (Some(vote_account), Some(instruction)) = (tx.vote_account(), tx.vote_instruction())
        else {
            return Err(failed(InstructionErrorKind::InvalidInstructionData));
        };
        let Some(current) = view.accounts.vote_state(&vote_account) else {
            return Err(failed(InstructionErrorKind::InvalidAccountOwner));
        };
        // The parser makes the fee payer the vote's only authority.
        if current.authorized_voter != tx.fee_payer() {
            return Err(failed(InstructionErrorKind::MissingRequiredSignature));
        }
        let mut next = VoteState::clone(current);
        next.process_tower_sync(instruction.tower(), &self.vote_context())
            .map_err(|e| {
                tracing::debug!(
                    slot = self.slot.0,
                    %vote_account,
                    "vote refused: {e}"
                );
                failed(InstructionErrorKind::Vote(e.code()))
            })?;
        Ok(Arc::new(next))
    }
}

/// The vote account genesis creates for each of its validators: at
/// [`vote_account_address`]`(identity)`, voting for the identity and signed by it, with no votes.
pub fn genesis_vote_states(genesis: &Genesis) -> Vec<(Pubkey, Arc<VoteState>)> {
    genesis
        .validators
        .iter()
        .map(|v| {
            (
                vote_account_address(&v.identity),
                Arc::new(VoteState::new(v.identity, v.identity)),
            )
        })
        .collect()
}
