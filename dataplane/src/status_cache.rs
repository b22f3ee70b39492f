//! Replay protection across forks: which signatures were processed, in which slots, under which
//! recent blockhash.
//!
//! One cache is shared by every bank of a node. Entries are keyed by the transaction's recent
//! blockhash, then by signature, and list the slots (possibly on several forks) where the transaction
//! was included. A bank asks "was this processed in one of *my* ancestors (or a root)?", so a
//! transaction included on a dead fork can still be included on another.
//!
//! Memory stays bounded: a transaction can only be included while its blockhash is among the last
//! [`MAX_RECENT_BLOCKHASHES`] blocks, so whole blockhash entries are dropped once they fall that far
//! behind the root ([`StatusCache::add_root`]), and only rooted slots that recent are remembered.

use std::collections::{HashMap, VecDeque};

use crate::bank::TxStatus;
use crate::genesis::MAX_RECENT_BLOCKHASHES;
use crate::types::{Hash, Signature, Slot};

/// Where one signature was processed: almost always one slot, several only across forks.
#[derive(Debug, Clone)]
enum SlotStatuses {
    One(Slot, TxStatus),
    Many(Vec<(Slot, TxStatus)>),
}

impl SlotStatuses {
    fn iter(&self) -> impl Iterator<Item = (Slot, TxStatus)> + '_ {
        let (one, many) = match self {
            SlotStatuses::One(s, st) => (Some((*s, *st)), &[][..]),
            SlotStatuses::Many(v) => (None, &v[..]),
        };
        one.into_iter().chain(many.iter().copied())
    }

    fn set(&mut self, slot: Slot, status: TxStatus) {
        match self {
            SlotStatuses::One(s, st) if *s == slot => *st = status,
            SlotStatuses::One(s, st) => *self = SlotStatuses::Many(vec![(*s, *st), (slot, status)]),
            SlotStatuses::Many(v) => match v.iter_mut().find(|(s, _)| *s == slot) {
                Some(e) => e.1 = status,
                None => v.push((slot, status)),
            },
        }
    }
}

/// Statuses of every transaction signed against one blockhash.
#[derive(Debug)]
pub(crate) struct BlockhashStatuses {
    /// Block height of the blockhash (its age decides when the entry is purged).
    height: u64,
    by_signature: HashMap<Signature, SlotStatuses, ahash::RandomState>,
}

impl BlockhashStatuses {
    /// The first slot among `statuses` of `signature` for which `on_fork` holds.
    #[inline]
    pub(crate) fn find(
        &self,
        signature: &Signature,
        on_fork: impl Fn(Slot) -> bool,
    ) -> Option<(Slot, TxStatus)> {
        self.by_signature
            .get(signature)?
            .iter()
            .find(|(slot, _)| on_fork(*slot))
    }
}

/// Per-fork replay protection shared by all banks (see the module docs).
#[derive(Debug, Default)]
pub struct StatusCache {
    by_blockhash: HashMap<Hash, BlockhashStatuses, ahash::RandomState>,
    /// Recently rooted slots with their block heights, ascending.
    roots: VecDeque<(Slot, u64)>,
    signatures: usize,
}

impl StatusCache {
    /// An empty cache.
    pub fn new() -> StatusCache {
        StatusCache::default()
    }

    /// Records that the transaction `signature`, signed against `blockhash` (produced at
    /// `blockhash_height`), was included in `slot` with `status`. Also used to rebuild the cache after
    /// a restart; inserting the same `(signature, slot)` again replaces the status.
    pub fn insert(
        &mut self,
        blockhash: &Hash,
        blockhash_height: u64,
        signature: &Signature,
        slot: Slot,
        status: TxStatus,
    ) {
        let entry = self
            .by_blockhash
            .entry(*blockhash)
            .or_insert_with(|| BlockhashStatuses {
                height: blockhash_height,
                by_signature: HashMap::with_hasher(ahash::RandomState::new()),
            });
        match entry.by_signature.entry(*signature) {
            std::collections::hash_map::Entry::Occupied(mut o) => o.get_mut().set(slot, status),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(SlotStatuses::One(slot, status));
                self.signatures += 1;
            }
        }
    }

    /// The statuses recorded under `blockhash`, for repeated lookups with the same blockhash.
    #[inline]
    pub(crate) fn blockhash_statuses(&self, blockhash: &Hash) -> Option<&BlockhashStatuses> {
        self.by_blockhash.get(blockhash)
    }

    /// Where `signature` (signed against `blockhash`) was processed on a fork: the first recorded slot
    /// that is rooted or for which `is_ancestor` holds.
    pub fn get(
        &self,
        blockhash: &Hash,
        signature: &Signature,
        is_ancestor: impl Fn(Slot) -> bool,
    ) -> Option<(Slot, TxStatus)> {
        self.blockhash_statuses(blockhash)?
            .find(signature, |s| is_ancestor(s) || self.is_root(s))
    }

    /// Like [`StatusCache::get`] without knowing the blockhash: looks under every blockhash (at most a
    /// few hundred map lookups; meant for RPC, not the hot path).
    pub fn find(
        &self,
        signature: &Signature,
        is_ancestor: impl Fn(Slot) -> bool,
    ) -> Option<(Slot, TxStatus)> {
        self.by_blockhash
            .values()
            .find_map(|e| e.find(signature, |s| is_ancestor(s) || self.is_root(s)))
    }

    /// Whether `slot` is a root still within the cache's window.
    #[inline]
    pub fn is_root(&self, slot: Slot) -> bool {
        self.roots.binary_search_by_key(&slot, |(s, _)| *s).is_ok()
    }

    /// The most recent root, if any.
    pub fn root(&self) -> Option<Slot> {
        self.roots.back().map(|(s, _)| *s)
    }

    /// Marks `slot` (at `block_height`) rooted and purges what is now too old to matter: blockhash
    /// entries more than [`MAX_RECENT_BLOCKHASHES`] blocks behind the newest root, and roots older than
    /// any transaction that can still be checked.
    pub fn add_root(&mut self, slot: Slot, block_height: u64) {
        match self.roots.binary_search_by_key(&slot, |(s, _)| *s) {
            Ok(_) => {}
            Err(i) => self.roots.insert(i, (slot, block_height)),
        }
        let newest_height = self.roots.iter().map(|(_, h)| *h).max().unwrap_or(0);
        // A bank above the root sits at height ≥ newest + 1, so blockhashes below newest − 149 are
        // unusable there; keep one block of slack.
        let oldest_useful = newest_height.saturating_sub(MAX_RECENT_BLOCKHASHES);
        let mut purged = 0;
        self.by_blockhash.retain(|_, e| {
            let keep = e.height >= oldest_useful;
            if !keep {
                purged += e.by_signature.len();
            }
            keep
        });
        self.signatures -= purged;
        // A matching earlier inclusion sits at or above its blockhash's height.
        self.roots.retain(|(_, h)| *h >= oldest_useful);
    }

    /// Number of signatures held.
    pub fn len(&self) -> usize {
        self.signatures
    }

    /// Whether no signature is held.
    pub fn is_empty(&self) -> bool {
        self.signatures == 0
    }

    /// Number of blockhash entries held.
    pub fn blockhash_count(&self) -> usize {
        self.by_blockhash.len()
    }

    /// Number of roots remembered.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::TxError;

    fn sig(i: u8) -> Signature {
        Signature([i; 64])
    }

    #[test]
    fn lookups_are_per_fork() {
        let mut c = StatusCache::new();
        let bh = Hash([1; 32]);
        c.insert(&bh, 0, &sig(1), Slot(5), Ok(()));
        c.insert(
            &bh,
            0,
            &sig(1),
            Slot(6),
            Err(TxError::InsufficientFundsForFee),
        );
        // Fork containing slot 5 only.
        assert_eq!(c.get(&bh, &sig(1), |s| s == Slot(5)), Some((Slot(5), Ok(()))));
        // Fork containing slot 6 only.
        assert_eq!(
            c.get(&bh, &sig(1), |s| s == Slot(6)),
            Some((Slot(6), Err(TxError::InsufficientFundsForFee)))
        );
        // A fork with neither.
        assert_eq!(c.get(&bh, &sig(1), |s| s == Slot(7)), None);
        // Wrong blockhash or signature.
        assert_eq!(c.get(&Hash([2; 32]), &sig(1), |_| true), None);
        assert_eq!(c.get(&bh, &sig(2), |_| true), None);
        assert_eq!(c.find(&sig(1), |s| s == Slot(6)).map(|x| x.0), Some(Slot(6)));
        // Once slot 5 is rooted, every fork sees it.
        c.add_root(Slot(5), 1);
        assert_eq!(c.get(&bh, &sig(1), |_| false), Some((Slot(5), Ok(()))));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn purges_blockhashes_older_than_150_blocks_behind_the_root() {
        let mut c = StatusCache::new();
        for h in 0u64..10 {
            let mut b = [0u8; 32];
            b[0] = h as u8;
            c.insert(&Hash(b), h, &sig(h as u8), Slot(h + 1), Ok(()));
        }
        assert_eq!(c.len(), 10);
        c.add_root(Slot(100), 150);
        assert_eq!(c.blockhash_count(), 10);
        c.add_root(Slot(105), 155);
        // Heights 0..=4 are now more than 150 behind height 155.
        assert_eq!(c.blockhash_count(), 5);
        assert_eq!(c.len(), 5);
        assert!(c.is_root(Slot(100)) && c.is_root(Slot(105)));
        c.add_root(Slot(400), 400);
        assert_eq!(c.blockhash_count(), 0);
        assert!(c.is_empty());
        assert!(!c.is_root(Slot(100)));
        assert_eq!(c.root(), Some(Slot(400)));
        assert_eq!(c.root_count(), 1);
    }
}
