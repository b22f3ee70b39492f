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

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use crate::bank::TxStatus;
use crate::genesis::MAX_RECENT_BLOCKHASHES;
use crate::types::{Hash, Signature, Slot};

/// Statuses of every transaction signed against one blockhash.
#[derive(Debug)]
pub(crate) struct BlockhashStatuses {
    /// Block height of the blockhash (its age decides when the entry is purged).
    height: u64,
    /// The first slot where each signature was processed: the only one, except across forks.
    first: HashMap<Signature, (Slot, TxStatus), ahash::RandomState>,
    /// Further slots, for the rare signature processed on several forks; kept apart so the common
    /// entry stays small.
    more: HashMap<Signature, Vec<(Slot, TxStatus)>, ahash::RandomState>,
}

impl BlockhashStatuses {
    fn with_capacity(height: u64, signatures: usize) -> BlockhashStatuses {
        BlockhashStatuses {
            height,
            first: HashMap::with_capacity_and_hasher(signatures, ahash::RandomState::new()),
            more: HashMap::with_hasher(ahash::RandomState::new()),
        }
    }

    /// The first slot among `statuses` of `signature` for which `on_fork` holds.
    #[inline]
    pub(crate) fn find(
        &self,
        signature: &Signature,
        on_fork: impl Fn(Slot) -> bool,
    ) -> Option<(Slot, TxStatus)> {
        let first = self.first.get(signature)?;
        if on_fork(first.0) {
            return Some(*first);
        }
        self.more
            .get(signature)?
            .iter()
            .find(|(slot, _)| on_fork(*slot))
            .copied()
    }

    /// Records `signature` in `slot`; returns whether the signature is new under this blockhash.
    fn insert(&mut self, signature: &Signature, slot: Slot, status: TxStatus) -> bool {
        match self.first.entry(*signature) {
            Entry::Vacant(v) => {
                v.insert((slot, status));
                true
            }
            Entry::Occupied(mut o) if o.get().0 == slot => {
                *o.get_mut() = (slot, status);
                false
            }
            Entry::Occupied(_) => {
                let more = self.more.entry(*signature).or_default();
                match more.iter_mut().find(|(s, _)| *s == slot) {
                    Some(e) => e.1 = status,
                    None => more.push((slot, status)),
                }
                false
            }
        }
    }

    fn len(&self) -> usize {
        self.first.len()
    }

    /// Forgets every record in a slot of `slots` (sorted); returns how many signatures it no
    /// longer holds at all.
    fn remove_slots(&mut self, slots: &[Slot]) -> usize {
        let gone = |slot: &Slot| slots.binary_search(slot).is_ok();
        self.more.retain(|_, v| {
            v.retain(|(slot, _)| !gone(slot));
            !v.is_empty()
        });
        let mut dropped = 0;
        let more = &mut self.more;
        self.first.retain(|signature, first| {
            if !gone(&first.0) {
                return true;
            }
            // Another fork's inclusion takes its place, if there is one.
            match more.get_mut(signature).and_then(|v| v.pop()) {
                Some(next) => {
                    *first = next;
                    if more.get(signature).is_some_and(|v| v.is_empty()) {
                        more.remove(signature);
                    }
                    true
                }
                None => {
                    dropped += 1;
                    false
                }
            }
        });
        dropped
    }
}

/// Per-fork replay protection shared by all banks (see the module docs).
#[derive(Debug, Default)]
pub struct StatusCache {
    by_blockhash: HashMap<Hash, BlockhashStatuses, ahash::RandomState>,
    /// Recently rooted slots with their block heights, ascending.
    roots: VecDeque<(Slot, u64)>,
    signatures: usize,
    /// The most recently created blockhash entry: the next one is sized like it, so that it does not
    /// rehash its way up on the hot path.
    newest: Option<Hash>,
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
        self.insert_slot(
            slot,
            std::iter::once((*blockhash, blockhash_height, *signature, status)),
        );
    }

    /// Records `(blockhash, blockhash height, signature, status)` of transactions included in `slot`,
    /// finding the per-blockhash map once per run of equal blockhashes (a batch mostly shares one).
    pub fn insert_slot(
        &mut self,
        slot: Slot,
        statuses: impl IntoIterator<Item = (Hash, u64, Signature, TxStatus)>,
    ) {
        // New entries are sized like the newest one so they do not rehash their way up.
        let sized_like = self
            .newest
            .and_then(|h| self.by_blockhash.get(&h))
            .map_or(0, BlockhashStatuses::len);
        let mut added = 0;
        let mut run: Option<(Hash, &mut BlockhashStatuses)> = None;
        for (blockhash, height, signature, status) in statuses {
            let entry = match run {
                Some((h, entry)) if h == blockhash => entry,
                _ => match self.by_blockhash.entry(blockhash) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => {
                        self.newest = Some(blockhash);
                        v.insert(BlockhashStatuses::with_capacity(height, sized_like))
                    }
                },
            };
            if entry.insert(&signature, slot, status) {
                added += 1;
            }
            run = Some((blockhash, entry));
        }
        self.signatures += added;
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
                purged += e.len();
            }
            keep
        });
        self.signatures -= purged;
        // A matching earlier inclusion sits at or above its blockhash's height.
        self.roots.retain(|(_, h)| *h >= oldest_useful);
    }

    /// Forgets what was processed in `slots` (unrooted blocks dropped from the fork tree), so that
    /// another block for one of those slot numbers does not see its transactions as processed.
    /// Costs a pass over the cache: for the rare replaced duplicate slot, not the hot path.
    pub fn remove_slots(&mut self, slots: &[Slot]) {
        let mut slots = slots.to_vec();
        slots.sort_unstable();
        let mut dropped = 0;
        self.by_blockhash.retain(|_, e| {
            dropped += e.remove_slots(&slots);
            e.len() > 0
        });
        self.signatures -= dropped;
        if self
            .newest
            .is_some_and(|h| !self.by_blockhash.contains_key(&h))
        {
            self.newest = None;
        }
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
        assert_eq!(
            c.get(&bh, &sig(1), |s| s == Slot(5)),
            Some((Slot(5), Ok(())))
        );
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
        assert_eq!(
            c.find(&sig(1), |s| s == Slot(6)).map(|x| x.0),
            Some(Slot(6))
        );
        // Once slot 5 is rooted, every fork sees it.
        c.add_root(Slot(5), 1);
        assert_eq!(c.get(&bh, &sig(1), |_| false), Some((Slot(5), Ok(()))));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn removed_slots_are_forgotten_and_other_forks_inclusions_stay() {
        let mut c = StatusCache::new();
        let (bh, other) = (Hash([1; 32]), Hash([2; 32]));
        // sig 1 in slots 5 (to be removed), 6 and 7; sig 2 only in 5; sig 3 in 8 under another
        // blockhash, which empties when slot 8 goes.
        for slot in [5, 6, 7] {
            c.insert(&bh, 0, &sig(1), Slot(slot), Ok(()));
        }
        c.insert(&bh, 0, &sig(2), Slot(5), Ok(()));
        c.insert(&other, 0, &sig(3), Slot(8), Ok(()));
        assert_eq!(c.len(), 3);
        c.remove_slots(&[Slot(8), Slot(5)]);
        assert_eq!(c.len(), 1);
        assert_eq!(c.blockhash_count(), 1);
        assert_eq!(c.get(&bh, &sig(1), |s| s == Slot(5)), None);
        assert_eq!(c.get(&bh, &sig(2), |_| true), None);
        assert_eq!(c.get(&other, &sig(3), |_| true), None);
        for slot in [6, 7] {
            assert_eq!(
                c.get(&bh, &sig(1), |s| s == Slot(slot)).map(|x| x.0),
                Some(Slot(slot))
            );
        }
        c.remove_slots(&[Slot(6), Slot(7)]);
        assert!(c.is_empty());
        // The cache takes new inclusions as before.
        c.insert(&bh, 0, &sig(1), Slot(5), Ok(()));
        assert_eq!(
            c.get(&bh, &sig(1), |s| s == Slot(5)).map(|x| x.0),
            Some(Slot(5))
        );
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
