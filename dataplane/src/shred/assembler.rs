//! The validator side after verification: FEC set recovery, equivocation detection and slot assembly.
//!
//! Each verified shred is copied once, from the packet buffer into a boxed [`SHRED_SIZE`] buffer held
//! by its slot (that is the one copy on the receive path; recovery decodes from those buffers in
//! place). A completed slot's bytes are then gathered once more, from the data shreds' payloads into
//! [`CompletedSlot::data`].

use std::collections::BTreeMap;

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

use super::merkle::{self, MerkleTree};
use super::{
    erasure_shard_len, proof_offset, shard_of, CodingHeader, Root, SetHeader, ShredKind, ShredView,
    CODING_HEADER_END, COMMON_HEADER_END, DATA_SHREDS_PER_FEC_SET_MAX, LAST_IN_SLOT, SHRED_SIZE,
    SIGNATURE_LEN,
};

/// Most slots the assembler holds at once (incomplete ones, and completed ones kept to catch late
/// equivocation until they are purged or evicted).
pub const SLOTS_HELD_MAX: usize = 64;
/// Most shreds received (data + coding) held per slot: 16,384 × 1,228 B ≈ 20 MB. Recovered data
/// shreds come on top, at most as many as the coding shreds received, so a slot holds at most twice
/// this many buffers.
pub const SHREDS_RECEIVED_PER_SLOT_MAX: usize = 16_384;
/// Last roots of completed slots remembered to check their children's first chained root.
const COMPLETED_ROOTS_MAX: usize = 1024;

/// The assembler's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssemblerLimits {
    /// Most slots held at once.
    pub slots_max: usize,
    /// Most received shreds held per slot.
    pub shreds_per_slot_max: usize,
}

impl Default for AssemblerLimits {
    fn default() -> Self {
        AssemblerLimits {
            slots_max: SLOTS_HELD_MAX,
            shreds_per_slot_max: SHREDS_RECEIVED_PER_SLOT_MAX,
        }
    }
}

/// Why a verified shred was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    /// A new slot while [`AssemblerLimits::slots_max`] slots, none of them completed, are held.
    #[error("shred for slot {slot} refused: {max} incomplete slots already held")]
    TooManySlots {
        /// The refused shred's slot.
        slot: u64,
        /// The limit.
        max: usize,
    },
    /// The slot is below the floor set by [`SlotAssembler::purge_below`].
    #[error("shred for slot {slot} refused: slots below {floor} were purged")]
    Purged {
        /// The slot.
        slot: u64,
        /// The lowest slot still taken.
        floor: u64,
    },
    /// The slot was completed and has since been evicted; see [`SlotAssembler::forget`].
    #[error("shred for slot {slot} refused: the slot was already completed")]
    AlreadyCompleted {
        /// The slot.
        slot: u64,
    },
    /// The slot already holds [`AssemblerLimits::shreds_per_slot_max`] received shreds.
    #[error("shred for slot {slot} refused: {max} shreds already held for it")]
    TooManyShreds {
        /// The slot.
        slot: u64,
        /// The limit.
        max: usize,
    },
    /// The slot's first set does not chain to the last root of the parent slot assembled here.
    #[error(
        "slot {slot} set {fec_set_index} chains to {found}, parent slot {parent} ended with {expected}"
    )]
    ChainedRootMismatch {
        /// The slot.
        slot: u64,
        /// The set (always 0).
        fec_set_index: u32,
        /// The parent slot.
        parent: u64,
        /// The parent's last root.
        expected: Root,
        /// The chained root the shred states.
        found: Root,
    },
}

impl AssembleError {
    /// Stable name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            AssembleError::TooManySlots { .. } => "too_many_slots",
            AssembleError::Purged { .. } => "purged_slot",
            AssembleError::AlreadyCompleted { .. } => "already_completed",
            AssembleError::TooManyShreds { .. } => "too_many_shreds",
            AssembleError::ChainedRootMismatch { .. } => "chained_root_mismatch",
        }
    }
}

/// What two conflicting, validly signed shreds disagree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Different bytes at the same slot, kind and index.
    SameIndex,
    /// Different Merkle roots for the same FEC set.
    SetRoot,
    /// Same root, but different chained roots within the set.
    SetChainedRoot,
    /// Coding headers (or a data shred's position) that disagree on the set's shape.
    SetShape,
    /// A set whose chained root is not the previous set's root.
    ChainedRoot,
    /// Two different last shreds, or data past the slot's last shred.
    LastIndex,
    /// Data shreds naming different parents.
    Parent,
}

/// Two validly signed shreds of one slot that cannot both be true: a duplicate-slot proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    /// The slot.
    pub slot: u64,
    /// The index of the shred just offered (`second`).
    pub index: u32,
    /// Its kind.
    pub kind: ShredKind,
    /// What they disagree on.
    pub conflict: Conflict,
    /// The shred held first.
    pub first: Vec<u8>,
    /// The shred just offered; it is not stored.
    pub second: Vec<u8>,
}

/// Shreds behind a completed slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShredCounts {
    /// Data shreds received (turbine or repair).
    pub received_data: u32,
    /// Coding shreds received.
    pub received_coding: u32,
    /// Data shreds rebuilt by erasure recovery.
    pub recovered_data: u32,
}

/// A slot whose data shreds 0..=last are all present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedSlot {
    /// The slot.
    pub slot: u64,
    /// Its parent slot.
    pub parent: u64,
    /// The slot's exact byte stream, as the leader pushed it.
    pub data: Vec<u8>,
    /// Root of the slot's last set: the child slot's first chained root.
    pub last_root: Root,
    /// The first set's chained root (should be the parent's `last_root`; checked here only when
    /// the parent was assembled by this assembler).
    pub chained_root: Root,
    /// Shreds received and recovered.
    pub counts: ShredCounts,
}

/// A shred taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Data indices rebuilt by erasure recovery this time (bytes: [`SlotAssembler::data_shred`]).
    pub recovered: Vec<u32>,
    /// A set whose recovery failed: its rebuilt shreds did not reproduce the signed root (the leader
    /// encoded bad parity) or were malformed. The set then completes only from its data shreds.
    pub recovery_failed: Option<u32>,
    /// The slot, if this shred completed it.
    pub completed: Option<CompletedSlot>,
}

/// What [`SlotAssembler::insert`] did with a verified shred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored.
    Inserted(Inserted),
    /// The same shred is already held (signature bytes aside); nothing changed.
    Duplicate,
    /// The shred conflicts with one held; it is not stored.
    Equivocation(Box<Equivocation>),
}

/// What every shred of one set agrees on, learned from the first one held.
#[derive(Debug, Clone, Copy)]
struct SetMeta {
    root: Root,
    signature: [u8; SIGNATURE_LEN],
    chained_root: Root,
    version: u16,
    depth: u8,
    /// (num_data, num_coding, first coding index), once a coding shred is held.
    shape: Option<(u16, u16, u32)>,
    /// The first shred held, to quote in a conflict.
    witness: (ShredKind, u32),
    recovered: bool,
    recovery_failed: bool,
}

#[derive(Debug, Default)]
struct SlotState {
    parent: Option<(u64, u32)>,
    data: BTreeMap<u32, Box<[u8; SHRED_SIZE]>>,
    coding: BTreeMap<u32, Box<[u8; SHRED_SIZE]>>,
    sets: BTreeMap<u32, SetMeta>,
    last_index: Option<u32>,
    counts: ShredCounts,
    received: usize,
    completed: bool,
}

impl SlotState {
    fn shred(&self, (kind, index): (ShredKind, u32)) -> Vec<u8> {
        let map = match kind {
            ShredKind::Data => &self.data,
            ShredKind::Coding => &self.coding,
        };
        map.get(&index).map(|b| b.to_vec()).unwrap_or_default()
    }

    fn highest_data(&self) -> Option<u32> {
        self.data.keys().next_back().copied()
    }
}

/// Reed-Solomon coders and a tree, reused from set to set (they allocate).
#[derive(Default)]
struct Coders {
    encoder: Option<ReedSolomonEncoder>,
    decoder: Option<ReedSolomonDecoder>,
    tree: MerkleTree,
}

type RsResult<T> = Result<T, reed_solomon_simd::Error>;

impl Coders {
    fn encoder(&mut self, nd: usize, nc: usize, len: usize) -> RsResult<&mut ReedSolomonEncoder> {
        let e = match self.encoder.take() {
            Some(mut e) => {
                e.reset(nd, nc, len)?;
                e
            }
            None => ReedSolomonEncoder::new(nd, nc, len)?,
        };
        Ok(self.encoder.insert(e))
    }

    fn decoder(&mut self, nd: usize, nc: usize, len: usize) -> RsResult<&mut ReedSolomonDecoder> {
        let d = match self.decoder.take() {
            Some(mut d) => {
                d.reset(nd, nc, len)?;
                d
            }
            None => ReedSolomonDecoder::new(nd, nc, len)?,
        };
        Ok(self.decoder.insert(d))
    }
}

/// Collects verified shreds per slot, recovers sets and yields completed slots.
pub struct SlotAssembler {
    limits: AssemblerLimits,
    slots: BTreeMap<u64, SlotState>,
    completed_roots: BTreeMap<u64, Root>,
    /// Slots below this were purged: their shreds are refused.
    floor: u64,
    coders: Coders,
}

impl Default for SlotAssembler {
    fn default() -> Self {
        SlotAssembler::new(AssemblerLimits::default())
    }
}

impl SlotAssembler {
    /// An empty assembler with `limits`.
    pub fn new(limits: AssemblerLimits) -> SlotAssembler {
        SlotAssembler {
            limits,
            slots: BTreeMap::new(),
            completed_roots: BTreeMap::new(),
            floor: 0,
            coders: Coders::default(),
        }
    }

    /// Takes a shred that [`ShredVerifier::verify`](super::ShredVerifier::verify) accepted, with the
    /// root it returned (turbine and repair shreds alike).
    pub fn insert(
        &mut self,
        shred: &ShredView<'_>,
        root: Root,
    ) -> Result<InsertOutcome, AssembleError> {
        let slot = shred.slot();
        self.ensure_slot(slot)?;
        let result = self.insert_held(shred, root);
        // A slot opened for a shred that was then refused holds nothing: do not let it take room.
        if self.slots.get(&slot).is_some_and(|s| s.received == 0) {
            self.slots.remove(&slot);
        }
        result
    }

    fn insert_held(
        &mut self,
        shred: &ShredView<'_>,
        root: Root,
    ) -> Result<InsertOutcome, AssembleError> {
        let slot = shred.slot();
        let Some(st) = self.slots.get_mut(&slot) else {
            return Err(AssembleError::TooManySlots {
                slot,
                max: self.limits.slots_max,
            });
        };
        if let Some(outcome) = check_conflicts(st, shred, root) {
            return Ok(outcome);
        }
        let fec = shred.fec_set_index();
        if fec == 0 && !st.sets.contains_key(&0) {
            let parent = shred.parent().or(st.parent.map(|p| p.0));
            if let Some(parent) = parent {
                if let Some(&expected) = self.completed_roots.get(&parent) {
                    if expected != shred.chained_root() {
                        return Err(AssembleError::ChainedRootMismatch {
                            slot,
                            fec_set_index: 0,
                            parent,
                            expected,
                            found: shred.chained_root(),
                        });
                    }
                }
            }
        }
        if st.received >= self.limits.shreds_per_slot_max {
            return Err(AssembleError::TooManyShreds {
                slot,
                max: self.limits.shreds_per_slot_max,
            });
        }
        store(st, shred, root);
        let mut inserted = Inserted::default();
        match recover_set(st, slot, fec, &mut self.coders) {
            Recovery::NotYet => {}
            Recovery::Done(indices) => inserted.recovered = indices,
            Recovery::Failed => inserted.recovery_failed = Some(fec),
        }
        if let Some(done) = complete(st, slot) {
            self.completed_roots.insert(slot, done.last_root);
            while self.completed_roots.len() > COMPLETED_ROOTS_MAX {
                self.completed_roots.pop_first();
            }
            inserted.completed = Some(done);
        }
        Ok(InsertOutcome::Inserted(inserted))
    }

    /// Makes room for `slot`: evicts the lowest completed slot when full, or refuses.
    fn ensure_slot(&mut self, slot: u64) -> Result<(), AssembleError> {
        if self.slots.contains_key(&slot) {
            return Ok(());
        }
        if slot < self.floor {
            return Err(AssembleError::Purged {
                slot,
                floor: self.floor,
            });
        }
        // Completed, then evicted: taking its shreds again would yield the slot a second time.
        if self.completed_roots.contains_key(&slot) {
            return Err(AssembleError::AlreadyCompleted { slot });
        }
        if self.slots.len() >= self.limits.slots_max {
            let done = self
                .slots
                .iter()
                .find(|(_, s)| s.completed)
                .map(|(&s, _)| s);
            match done {
                Some(s) => {
                    self.slots.remove(&s);
                }
                None => {
                    return Err(AssembleError::TooManySlots {
                        slot,
                        max: self.limits.slots_max,
                    })
                }
            }
        }
        self.slots.insert(slot, SlotState::default());
        Ok(())
    }

    /// Drops every slot below `slot` and refuses their shreds from now on (called as the root
    /// advances).
    pub fn purge_below(&mut self, slot: u64) {
        self.floor = self.floor.max(slot);
        self.slots = self.slots.split_off(&slot);
    }

    /// Drops everything held for `slot`, so it can be assembled again from scratch (a duplicate
    /// slot's version the cluster did not choose, before repairing the one it did).
    pub fn forget(&mut self, slot: u64) {
        self.slots.remove(&slot);
        self.completed_roots.remove(&slot);
    }

    /// Slots held.
    pub fn slots_held(&self) -> usize {
        self.slots.len()
    }

    /// Received shreds held for `slot`.
    pub fn shreds_received(&self, slot: u64) -> usize {
        self.slots.get(&slot).map_or(0, |s| s.received)
    }

    /// Whether `slot` has been completed.
    pub fn is_complete(&self, slot: u64) -> bool {
        self.slots.get(&slot).is_some_and(|s| s.completed)
    }

    /// A held data shred's bytes, received or recovered (for the ledger and for serving repair).
    pub fn data_shred(&self, slot: u64, index: u32) -> Option<&[u8; SHRED_SIZE]> {
        self.slots.get(&slot)?.data.get(&index).map(|b| &**b)
    }

    /// Highest data index held for `slot`.
    pub fn highest_data_index(&self, slot: u64) -> Option<u32> {
        self.slots.get(&slot)?.highest_data()
    }

    /// The slot's last data index, once its LAST_IN_SLOT shred is held.
    pub fn last_index(&self, slot: u64) -> Option<u32> {
        self.slots.get(&slot)?.last_index
    }

    /// The slot's parent, once a data shred named it.
    pub fn parent(&self, slot: u64) -> Option<u64> {
        Some(self.slots.get(&slot)?.parent?.0)
    }

    /// The Merkle root of the FEC set that holds data index `index` of `slot`, where a held shred
    /// proves which set that is: a coding shred gave the set's data count, or a later data shred
    /// of the same set is held. Repair names it, so a peer holding another version says so.
    pub fn set_root_of(&self, slot: u64, index: u32) -> Option<Root> {
        let st = self.slots.get(&slot)?;
        let (&start, set) = st.sets.range(..=index).next_back()?;
        let inside = match set.shape {
            Some((num_data, _, _)) => index < start.saturating_add(u32::from(num_data)),
            // Sets are contiguous in data indices: a later data shred of this set brackets it.
            None => st
                .data
                .range(index..)
                .next()
                .and_then(|(_, b)| ShredView::parse(&b[..]).ok())
                .is_some_and(|v| v.fec_set_index() == start),
        };
        inside.then_some(set.root)
    }

    /// The Merkle root of the FEC set that ends at data index `index` of `slot`, where a held set
    /// starts right after it: that set chains to it. Repair names it, so a slot assembled from its
    /// end backwards (a duplicate slot fetched again by its block id) keeps to one version.
    pub fn root_of_set_ending_at(&self, slot: u64, index: u32) -> Option<Root> {
        let next = index.checked_add(1)?;
        Some(self.slots.get(&slot)?.sets.get(&next)?.chained_root)
    }

    /// Data indices repair should ask for: the gaps below the last index (or, until it is known,
    /// below the highest index held). Empty for a completed or unknown slot.
    pub fn missing_data(&self, slot: u64) -> Vec<u32> {
        let Some(st) = self.slots.get(&slot) else {
            return Vec::new();
        };
        if st.completed {
            return Vec::new();
        }
        let Some(end) = st.last_index.or(st.highest_data()) else {
            return Vec::new();
        };
        (0..=end).filter(|i| !st.data.contains_key(i)).collect()
    }
}

/// The conflict (or duplicate) `shred` makes with what `st` holds, if any.
fn check_conflicts(st: &SlotState, shred: &ShredView<'_>, root: Root) -> Option<InsertOutcome> {
    let index = shred.index();
    let kind = shred.kind();
    let held = match kind {
        ShredKind::Data => st.data.get(&index),
        ShredKind::Coding => st.coding.get(&index),
    };
    if let Some(held) = held {
        // The signature is outside the signed bytes; the same set may carry two valid signatures.
        if held[SIGNATURE_LEN..] == shred.bytes()[SIGNATURE_LEN..] {
            return Some(InsertOutcome::Duplicate);
        }
        return Some(equivocation(shred, Conflict::SameIndex, held.to_vec()));
    }
    let conflict = set_conflict(st, shred, root)
        .or_else(|| chain_conflict(st, shred, root))
        .or_else(|| slot_conflict(st, shred));
    conflict.map(|(c, witness)| equivocation(shred, c, st.shred(witness)))
}

fn equivocation(shred: &ShredView<'_>, conflict: Conflict, first: Vec<u8>) -> InsertOutcome {
    InsertOutcome::Equivocation(Box::new(Equivocation {
        slot: shred.slot(),
        index: shred.index(),
        kind: shred.kind(),
        conflict,
        first,
        second: shred.bytes().to_vec(),
    }))
}

type Witnessed = (Conflict, (ShredKind, u32));

/// Disagreement with the set's other shreds.
fn set_conflict(st: &SlotState, shred: &ShredView<'_>, root: Root) -> Option<Witnessed> {
    let fec = shred.fec_set_index();
    let meta = st.sets.get(&fec)?;
    let w = meta.witness;
    if meta.root != root {
        return Some((Conflict::SetRoot, w));
    }
    if meta.chained_root != shred.chained_root() {
        return Some((Conflict::SetChainedRoot, w));
    }
    if meta.depth != shred.proof_depth() {
        return Some((Conflict::SetShape, w));
    }
    match (shred.coding_header(), meta.shape) {
        (Some(h), Some(shape)) => {
            let mine = (h.num_data, h.num_coding, shred.coding_start().unwrap_or(0));
            (mine != shape).then_some((Conflict::SetShape, w))
        }
        (Some(h), None) => {
            // A data shred of this set held past the set's announced end (data shreds further on
            // that belong to the next sets are no conflict).
            let end = fec + DATA_SHREDS_PER_FEC_SET_MAX as u32;
            let past = st
                .data
                .range(fec + u32::from(h.num_data)..end)
                .find(|(_, held)| {
                    ShredView::parse(&held[..]).is_ok_and(|v| v.fec_set_index() == fec)
                });
            past.map(|(&i, _)| (Conflict::SetShape, (ShredKind::Data, i)))
        }
        (None, Some((nd, _, _))) => {
            (shred.leaf_index() >= nd as usize).then_some((Conflict::SetShape, w))
        }
        (None, None) => None,
    }
}

/// A broken chain between this shred's set and its neighbours.
fn chain_conflict(st: &SlotState, shred: &ShredView<'_>, root: Root) -> Option<Witnessed> {
    let fec = shred.fec_set_index();
    let known = st.sets.get(&fec);
    if known.is_none() {
        if let Some((&pf, pm)) = st.sets.range(..fec).next_back() {
            let adjacent = pm.shape.is_some_and(|(nd, _, _)| pf + u32::from(nd) == fec);
            if adjacent && pm.root != shred.chained_root() {
                return Some((Conflict::ChainedRoot, pm.witness));
            }
        }
    }
    let learns_shape = known.is_none_or(|m| m.shape.is_none());
    if let (true, Some(h)) = (learns_shape, shred.coding_header()) {
        if let Some(next) = st.sets.get(&(fec + u32::from(h.num_data))) {
            if next.chained_root != root {
                return Some((Conflict::ChainedRoot, next.witness));
            }
        }
    }
    None
}

/// Disagreement on the slot's parent or last index.
fn slot_conflict(st: &SlotState, shred: &ShredView<'_>) -> Option<Witnessed> {
    let index = shred.index();
    let parent = shred.parent()?;
    if let Some((p, w)) = st.parent {
        if p != parent {
            return Some((Conflict::Parent, (ShredKind::Data, w)));
        }
    }
    let is_last = shred.flags() & LAST_IN_SLOT != 0;
    match st.last_index {
        Some(last) if (is_last && last != index) || index > last => {
            return Some((Conflict::LastIndex, (ShredKind::Data, last)));
        }
        _ => {}
    }
    if is_last {
        if let Some(high) = st.highest_data().filter(|&h| h > index) {
            return Some((Conflict::LastIndex, (ShredKind::Data, high)));
        }
    }
    None
}

/// Stores a shred that conflicts with nothing held: the one copy of its bytes.
fn store(st: &mut SlotState, shred: &ShredView<'_>, root: Root) {
    let index = shred.index();
    let kind = shred.kind();
    let fec = shred.fec_set_index();
    let shape = shred
        .coding_header()
        .map(|h| (h.num_data, h.num_coding, shred.coding_start().unwrap_or(0)));
    let meta = st.sets.entry(fec).or_insert_with(|| SetMeta {
        root,
        signature: shred.signature().0,
        chained_root: shred.chained_root(),
        version: shred.version(),
        depth: shred.proof_depth(),
        shape: None,
        witness: (kind, index),
        recovered: false,
        recovery_failed: false,
    });
    if meta.shape.is_none() {
        meta.shape = shape;
    }
    let buf = Box::new(*shred.bytes());
    st.received += 1;
    match kind {
        ShredKind::Data => {
            st.counts.received_data += 1;
            note_data(st, shred);
            st.data.insert(index, buf);
        }
        ShredKind::Coding => {
            st.counts.received_coding += 1;
            st.coding.insert(index, buf);
        }
    }
}

/// Records a data shred's parent and last-index facts.
fn note_data(st: &mut SlotState, shred: &ShredView<'_>) {
    if let (None, Some(p)) = (st.parent, shred.parent()) {
        st.parent = Some((p, shred.index()));
    }
    if shred.flags() & LAST_IN_SLOT != 0 && st.last_index.is_none() {
        st.last_index = Some(shred.index());
    }
}

enum Recovery {
    NotYet,
    Done(Vec<u32>),
    Failed,
}

/// Rebuilds set `fec`'s missing data shreds once any `num_data` of its shreds are held, and keeps
/// them only if the whole rebuilt set reproduces the signed root.
fn recover_set(st: &mut SlotState, slot: u64, fec: u32, coders: &mut Coders) -> Recovery {
    let Some(meta) = st.sets.get(&fec).copied() else {
        return Recovery::NotYet;
    };
    let Some((nd, nc, cs)) = meta.shape else {
        return Recovery::NotYet;
    };
    let (nd, nc) = (nd as usize, nc as usize);
    let data_end = fec + nd as u32;
    let have_data = st.data.range(fec..data_end).count();
    let have_coding = st.coding.range(cs..cs + nc as u32).count();
    if meta.recovered || meta.recovery_failed || have_data >= nd || have_data + have_coding < nd {
        return Recovery::NotYet;
    }
    let rebuilt = rebuild_set(st, slot, fec, &meta, coders);
    let Some(set_meta) = st.sets.get_mut(&fec) else {
        return Recovery::NotYet;
    };
    let Some(rebuilt) = rebuilt else {
        set_meta.recovery_failed = true;
        return Recovery::Failed;
    };
    set_meta.recovered = true;
    let mut indices = Vec::with_capacity(rebuilt.len());
    for (index, buf) in rebuilt {
        if let Ok(view) = ShredView::parse(&buf[..]) {
            note_data(st, &view);
        }
        st.counts.recovered_data += 1;
        st.data.insert(index, buf);
        indices.push(index);
    }
    Recovery::Done(indices)
}

/// Decodes the set's missing data shreds, regenerates its missing coding shreds' leaves, and returns
/// the rebuilt data shreds (proofs and signature written) if the tree's root is the signed one and
/// each rebuilt shred parses; `None` otherwise.
fn rebuild_set(
    st: &SlotState,
    slot: u64,
    fec: u32,
    meta: &SetMeta,
    coders: &mut Coders,
) -> Option<Vec<(u32, Box<[u8; SHRED_SIZE]>)>> {
    let (nd, nc, cs) = meta.shape?;
    let (nd, nc) = (nd as usize, nc as usize);
    let depth = meta.depth;
    let len = erasure_shard_len(depth);
    let set = SetHeader {
        slot,
        version: meta.version,
        fec_set_index: fec,
        depth,
        chained_root: meta.chained_root,
    };
    let data_end = fec + nd as u32;
    let coding_end = cs + nc as u32;
    let mut rebuilt: Vec<(u32, Box<[u8; SHRED_SIZE]>)> = Vec::new();
    {
        let decoder = coders.decoder(nd, nc, len).ok()?;
        for (&i, s) in st.data.range(fec..data_end) {
            let shard = shard_of(s, ShredKind::Data, depth);
            decoder.add_original_shard((i - fec) as usize, shard).ok()?;
        }
        for (&i, s) in st.coding.range(cs..coding_end) {
            let shard = shard_of(s, ShredKind::Coding, depth);
            decoder.add_recovery_shard((i - cs) as usize, shard).ok()?;
        }
        let restored = decoder.decode().ok()?;
        for (pos, shard) in restored.restored_original_iter() {
            let mut b = Box::new([0u8; SHRED_SIZE]);
            let index = fec + pos as u32;
            set.write_common(&mut b, ShredKind::Data, index);
            b[COMMON_HEADER_END..COMMON_HEADER_END + len].copy_from_slice(shard);
            rebuilt.push((index, b));
        }
    }
    // Every data shred of the set, in position order: held or rebuilt.
    let mut data: Vec<&[u8; SHRED_SIZE]> = Vec::with_capacity(nd);
    let mut fresh = rebuilt.iter().peekable();
    for index in fec..data_end {
        match st.data.get(&index) {
            Some(b) => data.push(b),
            None => match fresh.next_if(|(i, _)| *i == index) {
                Some((_, b)) => data.push(b),
                None => return None,
            },
        }
    }
    let poff = proof_offset(depth);
    let mut leaves: Vec<[u8; 32]> = data
        .iter()
        .map(|s| merkle::leaf(&s[SIGNATURE_LEN..poff]))
        .collect();
    let coding_leaves = coding_leaves(st, &set, &data, (nc, cs), coders)?;
    leaves.extend(coding_leaves);
    coders.tree.build(leaves);
    if coders.tree.root() != meta.root {
        return None;
    }
    for (index, b) in rebuilt.iter_mut() {
        coders
            .tree
            .write_proof((*index - fec) as usize, &mut b[poff..]);
        b[..SIGNATURE_LEN].copy_from_slice(&meta.signature);
        ShredView::parse(&b[..]).ok()?;
    }
    Some(rebuilt)
}

/// Leaves of the set's coding shreds: held ones hashed as they are, missing ones re-encoded from the
/// full data.
fn coding_leaves(
    st: &SlotState,
    set: &SetHeader,
    data: &[&[u8; SHRED_SIZE]],
    (nc, cs): (usize, u32),
    coders: &mut Coders,
) -> Option<Vec<[u8; 32]>> {
    let depth = set.depth;
    let poff = proof_offset(depth);
    let len = erasure_shard_len(depth);
    let coding_end = cs + nc as u32;
    let mut leaves = Vec::with_capacity(nc);
    if st.coding.range(cs..coding_end).count() == nc {
        leaves.extend(
            st.coding
                .range(cs..coding_end)
                .map(|(_, s)| merkle::leaf(&s[SIGNATURE_LEN..poff])),
        );
        return Some(leaves);
    }
    let encoder = coders.encoder(data.len(), nc, len).ok()?;
    for s in data {
        encoder
            .add_original_shard(shard_of(s, ShredKind::Data, depth))
            .ok()?;
    }
    let parity = encoder.encode().ok()?;
    let mut scratch = [0u8; SHRED_SIZE];
    for (j, p) in parity.recovery_iter().enumerate() {
        let index = cs + j as u32;
        if let Some(s) = st.coding.get(&index) {
            leaves.push(merkle::leaf(&s[SIGNATURE_LEN..poff]));
            continue;
        }
        let header = CodingHeader {
            num_data: data.len() as u16,
            num_coding: nc as u16,
            position: j as u16,
        };
        scratch.fill(0);
        set.write_coding(&mut scratch, header, index);
        scratch[CODING_HEADER_END..CODING_HEADER_END + len].copy_from_slice(p);
        leaves.push(merkle::leaf(&scratch[SIGNATURE_LEN..poff]));
    }
    Some(leaves)
}

/// The completed slot, the first time data shreds 0..=last are all held.
fn complete(st: &mut SlotState, slot: u64) -> Option<CompletedSlot> {
    if st.completed {
        return None;
    }
    let last = st.last_index?;
    if st.data.len() <= last as usize || st.data.range(..=last).count() != last as usize + 1 {
        return None;
    }
    let mut data = Vec::new();
    for s in st.data.range(..=last).map(|(_, s)| s) {
        data.extend_from_slice(ShredView::parse(&s[..]).ok()?.payload());
    }
    let last_root = st.sets.range(..=last).next_back()?.1.root;
    let chained_root = st.sets.get(&0)?.chained_root;
    st.completed = true;
    Some(CompletedSlot {
        slot,
        parent: st.parent.map_or(slot, |p| p.0),
        data,
        last_root,
        chained_root,
        counts: st.counts,
    })
}
