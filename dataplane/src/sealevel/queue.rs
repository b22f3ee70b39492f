//! The scheduler's queue: transactions in priority order — requeued ones first, then by compute unit
//! price (highest first), then by arrival.
//!
//! Three lanes keep the common case cheap: transactions put back at the front (votes, a batch PoH
//! refused) in a deque; paying transactions in a binary heap keyed by (price, arrival); free ones
//! (price 0, most of the traffic) in a deque in arrival order, so they cost what the plain FIFO did.
//! The price comes from the parsed layout ([`Txn::priority`]): nothing is parsed per comparison.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use crate::txn::Txn;

/// A paying transaction with its place in line.
#[derive(Debug)]
pub(super) struct Paying {
    priority: u64,
    seq: u64,
    txn: Txn,
}

impl Paying {
    fn key(&self) -> (u64, Reverse<u64>) {
        (self.priority, Reverse(self.seq))
    }
}

impl PartialEq for Paying {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Paying {}

impl PartialOrd for Paying {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Paying {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// A transaction taken from the queue, with what it needs to go back to the same place.
#[derive(Debug)]
pub(super) enum Popped {
    /// From the front lane.
    Front(Txn),
    /// From the paying lane.
    Paying(Paying),
    /// From the free lane.
    Free(Txn),
}

impl Popped {
    /// The transaction.
    pub(super) fn txn(&self) -> &Txn {
        match self {
            Popped::Front(t) | Popped::Free(t) => t,
            Popped::Paying(p) => &p.txn,
        }
    }

    /// Takes the transaction out.
    pub(super) fn into_txn(self) -> Txn {
        match self {
            Popped::Front(t) | Popped::Free(t) => t,
            Popped::Paying(p) => p.txn,
        }
    }
}

/// Waiting transactions in priority order (see the module docs).
#[derive(Debug, Default)]
pub(super) struct TxnQueue {
    front: VecDeque<Txn>,
    paying: BinaryHeap<Paying>,
    free: VecDeque<Txn>,
    /// Arrival counter of paying transactions (ties of price go in arrival order).
    next_seq: u64,
}

impl TxnQueue {
    /// Queues a newly arrived transaction by its price.
    pub(super) fn push(&mut self, txn: Txn) {
        let priority = txn.priority();
        if priority == 0 {
            self.free.push_back(txn);
        } else {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.paying.push(Paying { priority, seq, txn });
        }
    }

    /// Puts `txns` ahead of everything queued, in their order.
    pub(super) fn push_front(&mut self, txns: Vec<Txn>) {
        for t in txns.into_iter().rev() {
            self.front.push_front(t);
        }
    }

    /// Takes the transaction that goes next.
    pub(super) fn pop(&mut self) -> Option<Popped> {
        if let Some(t) = self.front.pop_front() {
            return Some(Popped::Front(t));
        }
        if let Some(p) = self.paying.pop() {
            return Some(Popped::Paying(p));
        }
        self.free.pop_front().map(Popped::Free)
    }

    /// Puts back a transaction taken by [`TxnQueue::pop`] where it was. Transactions put back in the
    /// reverse of the order they were taken regain their order.
    pub(super) fn restore(&mut self, popped: Popped) {
        match popped {
            Popped::Front(t) => self.front.push_front(t),
            Popped::Paying(p) => self.paying.push(p),
            Popped::Free(t) => self.free.push_front(t),
        }
    }

    /// Drops up to `n` free transactions, the latest arrivals first; how many went.
    pub(super) fn evict_free(&mut self, n: usize) -> usize {
        let n = n.min(self.free.len());
        self.free.truncate(self.free.len() - n);
        n
    }

    /// Transactions waiting.
    pub(super) fn len(&self) -> usize {
        self.front.len() + self.paying.len() + self.free.len()
    }

    /// Whether nothing is waiting.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes every transaction, in queue order.
    pub(super) fn drain(&mut self) -> Vec<Txn> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.front.drain(..));
        while let Some(p) = self.paying.pop() {
            out.push(p.txn);
        }
        out.extend(self.free.drain(..));
        out
    }
}
