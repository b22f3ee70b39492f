//! The table of values a node holds: bounded per origin and in total, checked on the way in,
//! expired on the way out.
//!
//! A value is accepted only if its origin is a validator of the cluster, a contact info carries
//! our shred version, its wallclock is within the window around now, and it is newer than what is
//! held under its label. Every refusal is counted by reason. Own values (signed by this node) skip
//! the validator check, and values claiming to be ours that arrive from the network are refused as
//! duplicates: only this node decides what its records say.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use dataplane::types::{Hash, Pubkey, Slot};

use super::crds::{ContactInfo, CrdsKind, CrdsLabel, LabelKey, SignedValue};
use super::stats::{GossipReject, GossipStats};
use crate::map::Map;
use expiry::{ExpiryId, ExpiryLists, Lifetime};

mod expiry;

/// A value newly in the table, for the caller (consensus) to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// The value now held.
    pub value: Arc<SignedValue>,
    /// The older value of the same label it replaced, if any.
    pub replaced: Option<Arc<SignedValue>>,
}

/// How a value reached the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Signed by this node.
    Own,
    /// In a push from a peer.
    Push,
    /// In a pull response, or as a pull request's caller.
    Pull,
}

/// The table's bounds and acceptance rules (from [`super::GossipConfig`] and the cluster).
#[derive(Debug, Clone)]
pub(crate) struct TableRules {
    /// This node's identity.
    pub me: Pubkey,
    /// The cluster's shred version.
    pub shred_version: u16,
    /// Most origins held.
    pub peers_max: usize,
    /// Most duplicate-shred chunks held per origin.
    pub duplicate_shred_chunks_per_origin_max: usize,
    /// Most pieces of slashing evidence held per origin.
    pub slashing_evidence_per_origin_max: usize,
    /// Life of a contact info or vote without a newer one.
    pub value_expiry_ms: u64,
    /// Contact info expiry.
    pub contact_info_expiry_ms: u64,
    /// Life of duplicate-shred chunks and slashing evidence.
    pub evidence_expiry_ms: u64,
    /// Accepted distance between a value's wallclock and now.
    pub wallclock_window_ms: u64,
}

/// One held value.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The value.
    pub value: Arc<SignedValue>,
    /// Its hash ([`SignedValue::hash`]), computed once on insertion.
    pub hash: Hash,
    /// Its record in the table's expiry lists, which says when it expires unless replaced;
    /// `None` if it never expires (this node's own contact info).
    expiry: Option<ExpiryId>,
    /// Copies of this very value received by push so far (saturating): which copy a delivery
    /// was is what prune ranks deliverers by.
    pub push_copies: u8,
}

/// Everything held from one origin.
#[derive(Debug, Default)]
struct OriginValues {
    contact_info: Option<Entry>,
    vote: Option<Entry>,
    duplicate_shreds: BTreeMap<(Slot, u8), Entry>,
    slashing_evidence: BTreeMap<(Pubkey, Hash), Entry>,
}

impl OriginValues {
    fn get(&self, key: &LabelKey) -> Option<&Entry> {
        match key {
            LabelKey::ContactInfo => self.contact_info.as_ref(),
            LabelKey::Vote => self.vote.as_ref(),
            LabelKey::DuplicateShred { slot, chunk_index } => {
                self.duplicate_shreds.get(&(*slot, *chunk_index))
            }
            LabelKey::SlashingEvidence {
                offender,
                first_vote,
            } => self.slashing_evidence.get(&(*offender, *first_vote)),
        }
    }

    fn get_mut(&mut self, key: &LabelKey) -> Option<&mut Entry> {
        match key {
            LabelKey::ContactInfo => self.contact_info.as_mut(),
            LabelKey::Vote => self.vote.as_mut(),
            LabelKey::DuplicateShred { slot, chunk_index } => {
                self.duplicate_shreds.get_mut(&(*slot, *chunk_index))
            }
            LabelKey::SlashingEvidence {
                offender,
                first_vote,
            } => self.slashing_evidence.get_mut(&(*offender, *first_vote)),
        }
    }

    fn put(&mut self, key: LabelKey, entry: Entry) -> Option<Entry> {
        match key {
            LabelKey::ContactInfo => self.contact_info.replace(entry),
            LabelKey::Vote => self.vote.replace(entry),
            LabelKey::DuplicateShred { slot, chunk_index } => {
                self.duplicate_shreds.insert((slot, chunk_index), entry)
            }
            LabelKey::SlashingEvidence {
                offender,
                first_vote,
            } => self.slashing_evidence.insert((offender, first_vote), entry),
        }
    }

    fn remove(&mut self, key: &LabelKey) -> Option<Entry> {
        match key {
            LabelKey::ContactInfo => self.contact_info.take(),
            LabelKey::Vote => self.vote.take(),
            LabelKey::DuplicateShred { slot, chunk_index } => {
                self.duplicate_shreds.remove(&(*slot, *chunk_index))
            }
            LabelKey::SlashingEvidence {
                offender,
                first_vote,
            } => self.slashing_evidence.remove(&(*offender, *first_vote)),
        }
    }

    /// The oldest value of a bounded kind (by wallclock, then hash), with its key.
    fn oldest(&self, kind: CrdsKind) -> Option<(LabelKey, &Entry)> {
        let older = |a: &&Entry, b: &&Entry| {
            newer(a.value.wallclock_ms, &a.hash, b.value.wallclock_ms, &b.hash)
        };
        match kind {
            CrdsKind::DuplicateShred => self
                .duplicate_shreds
                .iter()
                .min_by(|a, b| older(&a.1, &b.1))
                .map(|(&(slot, chunk_index), e)| {
                    (LabelKey::DuplicateShred { slot, chunk_index }, e)
                }),
            CrdsKind::SlashingEvidence => self
                .slashing_evidence
                .iter()
                .min_by(|a, b| older(&a.1, &b.1))
                .map(|(&(offender, first_vote), e)| {
                    (
                        LabelKey::SlashingEvidence {
                            offender,
                            first_vote,
                        },
                        e,
                    )
                }),
            CrdsKind::ContactInfo | CrdsKind::Vote => None,
        }
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.contact_info
            .iter()
            .chain(self.vote.iter())
            .chain(self.duplicate_shreds.values())
            .chain(self.slashing_evidence.values())
    }

    fn is_empty(&self) -> bool {
        self.contact_info.is_none()
            && self.vote.is_none()
            && self.duplicate_shreds.is_empty()
            && self.slashing_evidence.is_empty()
    }
}

/// One origin whose values the table may hold: a validator, or this node.
#[derive(Debug)]
struct Origin {
    pubkey: Pubkey,
    /// Its stake; `None` for this node when it is not a validator.
    stake: Option<u64>,
    values: OriginValues,
}

/// The held values, by origin then label (so every iteration is in a deterministic order).
///
/// The origins are fixed when the table is made (the validators, and this node), so each has a
/// place in one vector, in pubkey order: its *origin index*, which push and prune use too. A
/// lookup is one hash of the pubkey, and iterating the vector visits origins in pubkey order.
#[derive(Debug)]
pub(crate) struct CrdsTable {
    rules: TableRules,
    /// Every validator and this node, by pubkey.
    origins: Vec<Origin>,
    /// Origin index by pubkey.
    index: Map<Pubkey, usize>,
    /// Origins with at least one value held (at most `peers_max` besides this node).
    held_origins: usize,
    /// This node's origin index.
    me: usize,
    /// Every expiring value's deadline, so expiry costs only what expires. Values due at once
    /// all go in the same `expire` call, so their order among themselves changes nothing.
    expiry: ExpiryLists,
    len: usize,
}

impl CrdsTable {
    /// An empty table for a cluster of `validators` (identity, stake; a repeated identity keeps
    /// its last stake). This node (`rules.me`) has a place whether it is a validator or not.
    pub fn new(rules: TableRules, validators: &[(Pubkey, u64)]) -> CrdsTable {
        let mut by_pubkey: BTreeMap<Pubkey, Option<u64>> = validators
            .iter()
            .map(|&(pubkey, stake)| (pubkey, Some(stake)))
            .collect();
        by_pubkey.entry(rules.me).or_insert(None);
        let origins: Vec<Origin> = by_pubkey
            .into_iter()
            .map(|(pubkey, stake)| Origin {
                pubkey,
                stake,
                values: OriginValues::default(),
            })
            .collect();
        let index: Map<Pubkey, usize> = origins
            .iter()
            .enumerate()
            .map(|(i, o)| (o.pubkey, i))
            .collect();
        // Always there: this node was added above.
        let me = index.get(&rules.me).copied().unwrap_or_default();
        CrdsTable {
            rules,
            origins,
            index,
            held_origins: 0,
            me,
            expiry: ExpiryLists::new(),
            len: 0,
        }
    }

    /// The origin index of `pubkey`: a validator or this node.
    pub fn origin_index(&self, pubkey: &Pubkey) -> Option<usize> {
        self.index.get(pubkey).copied()
    }

    /// This node's origin index.
    pub fn me_index(&self) -> usize {
        self.me
    }

    /// How many origin indices there are.
    pub fn origin_count(&self) -> usize {
        self.origins.len()
    }

    /// The pubkey at origin index `i`.
    pub fn pubkey_at(&self, i: usize) -> Pubkey {
        self.origins[i].pubkey
    }

    /// The stake at origin index `i`; `None` for this node when it is not a validator.
    pub fn stake_at(&self, i: usize) -> Option<u64> {
        self.origins[i].stake
    }

    /// Checks `value` and inserts it if it is new, counting the outcome in `stats`.
    pub fn insert(
        &mut self,
        now_ms: u64,
        value: Arc<SignedValue>,
        arrival: Arrival,
        stats: &mut GossipStats,
    ) -> Result<Inserted, GossipReject> {
        let result = self.try_insert(now_ms, value, arrival, stats);
        match &result {
            Ok(inserted) => {
                stats.values_inserted += 1;
                if inserted.replaced.is_some() {
                    stats.values_replaced += 1;
                }
            }
            Err(reject) => stats.count(reject.reason()),
        }
        result
    }

    /// If this very value (same label, wallclock and signature) is held under origin index
    /// `origin` (the value's), counts one more push copy of it and returns how many came before;
    /// `None` if not held. Checked before [`CrdsTable::insert`], it costs no hashing or
    /// allocation.
    pub fn push_duplicate(&mut self, origin: usize, value: &SignedValue) -> Option<u8> {
        debug_assert_eq!(self.origins[origin].pubkey, value.origin);
        let held = self.origins[origin]
            .values
            .get_mut(&value.data.label_key())?;
        if held.value.wallclock_ms != value.wallclock_ms || held.value.signature != value.signature
        {
            return None;
        }
        let before = held.push_copies;
        held.push_copies = before.saturating_add(1);
        Some(before)
    }

    fn try_insert(
        &mut self,
        now_ms: u64,
        value: Arc<SignedValue>,
        arrival: Arrival,
        stats: &mut GossipStats,
    ) -> Result<Inserted, GossipReject> {
        let own = arrival == Arrival::Own;
        value.check_shape()?;
        let origin = value.origin;
        if !own && origin == self.rules.me {
            return Err(GossipReject::Duplicate {
                origin,
                wallclock_ms: value.wallclock_ms,
            });
        }
        // Every origin but this node has a stake; own values are this node's.
        let Some(at) = self.origin_index(&origin) else {
            return Err(GossipReject::UnknownOrigin { origin });
        };
        if let Some(ci) = value.contact_info() {
            if ci.shred_version != self.rules.shred_version {
                return Err(GossipReject::ShredVersion {
                    origin,
                    got: ci.shred_version,
                    want: self.rules.shred_version,
                });
            }
        }
        if value.wallclock_ms.abs_diff(now_ms) > self.rules.wallclock_window_ms {
            return Err(GossipReject::Wallclock {
                origin,
                wallclock_ms: value.wallclock_ms,
                now_ms,
                window_ms: self.rules.wallclock_window_ms,
            });
        }
        if !own && self.origins[at].values.is_empty() && self.held_origins >= self.rules.peers_max {
            return Err(GossipReject::TableFull {
                origin,
                bound: "peers_max",
                max: self.rules.peers_max,
            });
        }
        let label = value.label();
        let hash = match self.origins[at].values.get(&label.key) {
            Some(held) => order_against(&value, held)?,
            None => {
                let hash = value.hash();
                self.make_room(at, &value, &hash, stats)?;
                hash
            }
        };
        let (lifetime, life_ms) = match value.kind() {
            CrdsKind::ContactInfo => (Lifetime::ContactInfo, self.rules.contact_info_expiry_ms),
            CrdsKind::Vote => (Lifetime::Vote, self.rules.value_expiry_ms),
            CrdsKind::DuplicateShred | CrdsKind::SlashingEvidence => {
                (Lifetime::Evidence, self.rules.evidence_expiry_ms)
            }
        };
        let expires_at_ms = if own && label.key == LabelKey::ContactInfo {
            u64::MAX
        } else {
            now_ms.saturating_add(life_ms)
        };
        let held_expiry = self.origins[at]
            .values
            .get(&label.key)
            .and_then(|held| held.expiry);
        // A replacement takes over the record of the value it replaces.
        let expiry = match (held_expiry, expires_at_ms) {
            (Some(id), u64::MAX) => {
                self.expiry.remove(id);
                None
            }
            (Some(id), at_ms) => {
                self.expiry.refile(id, at_ms);
                Some(id)
            }
            (None, u64::MAX) => None,
            (None, at_ms) => Some(self.expiry.add(lifetime, at_ms, at, label.key)),
        };
        let entry = Entry {
            value: value.clone(),
            hash,
            expiry,
            push_copies: u8::from(arrival == Arrival::Push),
        };
        let values = &mut self.origins[at].values;
        if values.is_empty() {
            self.held_origins += 1;
        }
        let replaced = values.put(label.key, entry);
        if replaced.is_none() {
            self.len += 1;
        }
        Ok(Inserted {
            value,
            replaced: replaced.map(|e| e.value),
        })
    }

    fn make_room(
        &mut self,
        at: usize,
        value: &SignedValue,
        hash: &Hash,
        stats: &mut GossipStats,
    ) -> Result<(), GossipReject> {
        let kind = value.kind();
        let (bound, max) = match kind {
            CrdsKind::ContactInfo | CrdsKind::Vote => return Ok(()),
            CrdsKind::DuplicateShred => (
                "duplicate_shred_chunks_per_origin_max",
                self.rules.duplicate_shred_chunks_per_origin_max,
            ),
            CrdsKind::SlashingEvidence => (
                "slashing_evidence_per_origin_max",
                self.rules.slashing_evidence_per_origin_max,
            ),
        };
        let values = &self.origins[at].values;
        let held = match kind {
            CrdsKind::DuplicateShred => values.duplicate_shreds.len(),
            _ => values.slashing_evidence.len(),
        };
        if held < max {
            return Ok(());
        }
        let full = GossipReject::TableFull {
            origin: value.origin,
            bound,
            max,
        };
        let Some((key, oldest)) = values.oldest(kind) else {
            // A bound of zero: nothing of this kind is kept.
            return Err(full);
        };
        let is_newer = newer(
            value.wallclock_ms,
            hash,
            oldest.value.wallclock_ms,
            &oldest.hash,
        ) == Ordering::Greater;
        if !is_newer {
            return Err(full);
        }
        self.remove(&CrdsLabel {
            origin: value.origin,
            key,
        });
        stats.values_evicted += 1;
        Ok(())
    }

    fn remove(&mut self, label: &CrdsLabel) -> Option<Entry> {
        let at = self.origin_index(&label.origin)?;
        self.remove_at(at, &label.key)
    }

    fn remove_at(&mut self, at: usize, key: &LabelKey) -> Option<Entry> {
        let values = &mut self.origins[at].values;
        let entry = values.remove(key)?;
        if values.is_empty() {
            self.held_origins -= 1;
        }
        if let Some(id) = entry.expiry {
            self.expiry.remove(id);
        }
        self.len -= 1;
        Some(entry)
    }

    /// Removes every value whose time is up at `now_ms`.
    pub fn expire(&mut self, now_ms: u64, stats: &mut GossipStats) {
        while let Some((id, at, key)) = self.expiry.due(now_ms) {
            if self.remove_at(at, &key).is_some() {
                stats.values_expired += 1;
            } else {
                // A record without its value cannot be; drop it rather than loop.
                self.expiry.remove(id);
            }
        }
    }

    /// When the next value expires.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.expiry.next_ms()
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Origins held.
    #[cfg(test)]
    pub fn origins_len(&self) -> usize {
        self.held_origins
    }

    /// A validator's stake; `None` outside the validator set.
    pub fn stake(&self, pubkey: &Pubkey) -> Option<u64> {
        self.stake_at(self.origin_index(pubkey)?)
    }

    /// The held value under `label`.
    pub fn get(&self, label: &CrdsLabel) -> Option<&Entry> {
        let at = self.origin_index(&label.origin)?;
        self.origins[at].values.get(&label.key)
    }

    /// The contact info of `pubkey`.
    pub fn contact_info(&self, pubkey: &Pubkey) -> Option<&ContactInfo> {
        self.contact_info_at(self.origin_index(pubkey)?)
    }

    /// The contact info of the origin at index `at`.
    pub fn contact_info_at(&self, at: usize) -> Option<&ContactInfo> {
        let values = &self.origins.get(at)?.values;
        values.contact_info.as_ref()?.value.contact_info()
    }

    /// Every contact info, by origin.
    pub fn contact_infos(&self) -> impl Iterator<Item = &ContactInfo> {
        self.origins
            .iter()
            .filter_map(|o| o.values.contact_info.as_ref()?.value.contact_info())
    }

    /// Every vote, by origin.
    pub fn votes(&self) -> impl Iterator<Item = &Arc<SignedValue>> {
        self.origins
            .iter()
            .filter_map(|o| o.values.vote.as_ref().map(|e| &e.value))
    }

    /// Every held value, by origin then label.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.origins.iter().flat_map(|o| o.values.entries())
    }
}

/// Whether `value` is newer than `held` (same label); its hash if so. The common case — the very
/// value again — is told by wallclock and signature without hashing.
fn order_against(value: &SignedValue, held: &Entry) -> Result<Hash, GossipReject> {
    let stale = || GossipReject::Stale {
        origin: value.origin,
        wallclock_ms: value.wallclock_ms,
        held_wallclock_ms: held.value.wallclock_ms,
    };
    let duplicate = || GossipReject::Duplicate {
        origin: value.origin,
        wallclock_ms: value.wallclock_ms,
    };
    if value.wallclock_ms < held.value.wallclock_ms {
        return Err(stale());
    }
    if value.wallclock_ms == held.value.wallclock_ms && value.signature == held.value.signature {
        return Err(duplicate());
    }
    let hash = value.hash();
    match newer(
        value.wallclock_ms,
        &hash,
        held.value.wallclock_ms,
        &held.hash,
    ) {
        Ordering::Greater => Ok(hash),
        Ordering::Equal => Err(duplicate()),
        Ordering::Less => Err(stale()),
    }
}

/// Orders two values of the same label: newer wallclock first, then the larger hash.
fn newer(a_wallclock_ms: u64, a_hash: &Hash, b_wallclock_ms: u64, b_hash: &Hash) -> Ordering {
    a_wallclock_ms
        .cmp(&b_wallclock_ms)
        .then_with(|| a_hash.cmp(b_hash))
}

#[cfg(test)]
mod tests;
