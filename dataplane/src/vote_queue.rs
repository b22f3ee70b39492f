//! The leader's vote queue: the newest vote of each vote account, waiting for the next batch.
//!
//! A vote carries the voter's whole tower, so a newer vote from the same account makes an older one
//! useless (and the older one would fail as `VoteTooOld` after it). The queue therefore keeps one
//! vote per vote account — the one with the highest last voted slot; on a tie, the one it already
//! holds — and is bounded by [`VOTE_ACCOUNTS_QUEUED_MAX`] accounts, far above a cluster's ~100
//! validators. When it is full, a vote for another account takes the place of the held vote with
//! the oldest last voted slot, if it is newer; either way one vote is dropped and the banking stage
//! counts it. Banking drains the whole queue ahead of every transfer of a slot, so votes never wait
//! behind transfers and never compete with them for the transfer queue's room.

use std::collections::{BTreeSet, HashMap};

use crate::txn::Txn;
use crate::types::{Pubkey, Slot};

/// Vote accounts whose newest vote the queue holds at most.
pub const VOTE_ACCOUNTS_QUEUED_MAX: usize = 4_096;

/// What became of a vote offered to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOffer {
    /// The first vote held for its account.
    Queued,
    /// Newer than the vote held for its account, which it replaced.
    Replaced,
    /// Not newer than the vote held for its account: dropped.
    Superseded,
    /// The queue was full: it took the place of the vote with the oldest last voted slot.
    Evicted,
    /// The queue was full and it was not newer than any held vote: dropped.
    Full,
    /// Not a vote transaction: dropped.
    NotAVote,
}

impl VoteOffer {
    /// Whether a vote was dropped for lack of room (to be counted as `vote_queue_full`).
    pub fn dropped_for_room(self) -> bool {
        matches!(self, VoteOffer::Evicted | VoteOffer::Full)
    }
}

#[derive(Debug)]
struct QueuedVote {
    last_voted_slot: Slot,
    txn: Txn,
}

/// The newest vote per vote account (see the module docs).
#[derive(Debug)]
pub struct VoteQueue {
    votes: HashMap<Pubkey, QueuedVote, ahash::RandomState>,
    /// The held votes by (last voted slot, vote account): the oldest is evicted first.
    by_slot: BTreeSet<(Slot, Pubkey)>,
    accounts_max: usize,
}

impl Default for VoteQueue {
    fn default() -> Self {
        VoteQueue::new(VOTE_ACCOUNTS_QUEUED_MAX)
    }
}

impl VoteQueue {
    /// An empty queue holding votes for at most `accounts_max` (at least 1) vote accounts.
    pub fn new(accounts_max: usize) -> VoteQueue {
        VoteQueue {
            votes: HashMap::with_hasher(ahash::RandomState::new()),
            by_slot: BTreeSet::new(),
            accounts_max: accounts_max.max(1),
        }
    }

    /// Vote accounts with a queued vote.
    pub fn len(&self) -> usize {
        self.votes.len()
    }

    /// Whether no vote waits.
    pub fn is_empty(&self) -> bool {
        self.votes.is_empty()
    }

    /// Offers a verified vote transaction; see [`VoteOffer`].
    pub fn push(&mut self, txn: Txn) -> VoteOffer {
        let view = txn.view();
        let (Some(account), Some(instruction)) = (view.vote_account(), view.vote_instruction())
        else {
            return VoteOffer::NotAVote;
        };
        // A tower with no lockouts is refused at execution; it ranks below every real vote.
        let last_voted_slot = instruction.tower().last_voted_slot().unwrap_or(Slot(0));
        let offer = match self.votes.get(&account) {
            Some(held) if held.last_voted_slot >= last_voted_slot => return VoteOffer::Superseded,
            Some(held) => {
                self.by_slot.remove(&(held.last_voted_slot, account));
                VoteOffer::Replaced
            }
            None if self.votes.len() < self.accounts_max => VoteOffer::Queued,
            None => {
                let Some(&(oldest, oldest_account)) = self.by_slot.first() else {
                    return VoteOffer::Full;
                };
                if oldest >= last_voted_slot {
                    return VoteOffer::Full;
                }
                self.by_slot.remove(&(oldest, oldest_account));
                self.votes.remove(&oldest_account);
                VoteOffer::Evicted
            }
        };
        self.by_slot.insert((last_voted_slot, account));
        self.votes.insert(
            account,
            QueuedVote {
                last_voted_slot,
                txn,
            },
        );
        offer
    }

    /// Takes every queued vote, oldest last voted slot first (then by vote account), leaving the
    /// queue empty.
    pub fn drain(&mut self) -> Vec<Txn> {
        let order = std::mem::take(&mut self.by_slot);
        let mut out = Vec::with_capacity(order.len());
        for (_, account) in order {
            if let Some(v) = self.votes.remove(&account) {
                out.push(v.txn);
            }
        }
        debug_assert!(self.votes.is_empty());
        self.votes.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::build_transfer;
    use crate::types::Hash;
    use crate::vote::{build_vote_txn, Lockout, TowerSync, VoteInstruction};

    /// A vote on `account` whose newest slot is `slot` (`seed` makes otherwise equal votes differ).
    fn vote(account: u8, slot: u64, seed: u8) -> Txn {
        let tower = TowerSync {
            lockouts: vec![Lockout::new(Slot(slot))],
            root: None,
            hash: Hash([seed; 32]),
            timestamp: None,
            block_id: Hash::default(),
        };
        let wire = build_vote_txn(
            &Pubkey([account; 32]),
            &Pubkey([account.wrapping_add(100); 32]),
            &VoteInstruction::TowerSync(tower),
            &Hash::default(),
            |_| [seed; 64],
        );
        Txn::parse(&wire).unwrap()
    }

    #[test]
    fn the_newest_vote_per_account_wins_and_ties_keep_the_held_one() {
        let mut q = VoteQueue::default();
        assert_eq!(q.push(vote(1, 10, 0)), VoteOffer::Queued);
        assert_eq!(q.push(vote(1, 9, 1)), VoteOffer::Superseded);
        assert_eq!(q.push(vote(1, 10, 2)), VoteOffer::Superseded);
        assert_eq!(q.push(vote(1, 12, 3)), VoteOffer::Replaced);
        assert_eq!(q.push(vote(2, 11, 4)), VoteOffer::Queued);
        assert_eq!(q.len(), 2);
        // Oldest last voted slot first; the queue is then empty.
        assert_eq!(q.drain(), vec![vote(2, 11, 4), vote(1, 12, 3)]);
        assert!(q.is_empty());
        assert_eq!(q.push(vote(1, 5, 5)), VoteOffer::Queued);
    }

    #[test]
    fn a_full_queue_drops_the_oldest_vote_for_a_newer_one() {
        let mut q = VoteQueue::new(3);
        for (account, slot) in [(1, 20), (2, 10), (3, 30)] {
            assert_eq!(q.push(vote(account, slot, 0)), VoteOffer::Queued);
        }
        // Account 2's vote on slot 10 is the oldest: a newer vote of account 4 takes its place.
        let offer = q.push(vote(4, 15, 0));
        assert_eq!(offer, VoteOffer::Evicted);
        assert!(offer.dropped_for_room());
        // A vote older than every held one is dropped itself.
        assert_eq!(q.push(vote(5, 12, 0)), VoteOffer::Full);
        // Held accounts still take newer votes at the bound.
        assert_eq!(q.push(vote(1, 25, 1)), VoteOffer::Replaced);
        assert_eq!(q.len(), 3);
        assert_eq!(
            q.drain(),
            vec![vote(4, 15, 0), vote(1, 25, 1), vote(3, 30, 0)]
        );
    }

    #[test]
    fn transfers_are_not_votes() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let t = Txn::parse(&build_transfer(&key, &Pubkey([4; 32]), 1, &Hash::default())).unwrap();
        let mut q = VoteQueue::default();
        assert_eq!(q.push(t), VoteOffer::NotAVote);
        assert!(q.is_empty());
    }
}
