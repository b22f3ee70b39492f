//! Typed messages between the planes: the data plane reports events, the control plane sends
//! commands. Both travel on bounded channels; the data plane never blocks on a full one.

use crate::types::{Hash, Slot};

/// What the data plane tells the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEvent {
    /// A block was stored (and, until consensus lands, rooted).
    SlotStored {
        /// The slot.
        slot: Slot,
        /// Its parent.
        parent: Slot,
        /// Bank hash after executing it.
        bank_hash: Hash,
        /// Its blockhash.
        blockhash: Hash,
        /// Transactions it holds.
        transactions: u32,
    },
    /// A block received from its leader was replayed, checked and stored (not rooted).
    BlockReplayed {
        /// The slot.
        slot: Slot,
        /// The block it builds on.
        parent: Slot,
        /// Its bank hash (equal to the leader's claim).
        bank_hash: Hash,
        /// Transactions it holds.
        transactions: u32,
    },
    /// A received block failed a check and is dead.
    BlockDead {
        /// The slot.
        slot: Slot,
        /// Which check (a metrics label).
        reason: &'static str,
    },
    /// A received block waits for a parent this node does not have (repair should fetch it).
    MissingParent {
        /// The waiting slot.
        slot: Slot,
        /// The missing parent.
        parent: Slot,
    },
    /// The root moved to `slot` (its state is durable; forks not descending from it are pruned).
    Rooted {
        /// The new root.
        slot: Slot,
    },
    /// Two validly signed, different shreds for one slot position: the leader equivocated. The pair is
    /// the proof (kept for the control plane; slashing and duplicate-slot handling come with
    /// consensus).
    DuplicateSlotProof {
        /// The slot.
        slot: Slot,
        /// One shred.
        first: Vec<u8>,
        /// The conflicting one.
        second: Vec<u8>,
    },
    /// A stored block was replayed from the ledger at start-up.
    SlotReplayed {
        /// The slot.
        slot: Slot,
        /// Bank hash recomputed by replay (equal to the stored one).
        bank_hash: Hash,
    },
}

/// What the shred receive path knows about a slot it is assembling, published for repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRepairStatus {
    /// The slot.
    pub slot: Slot,
    /// Its parent, once a data shred named it.
    pub parent: Option<Slot>,
    /// Data shred indices held (received or recovered), ascending.
    pub received_data: Vec<u32>,
    /// Index of its last data shred, once known (LAST_IN_SLOT seen or recovered).
    pub last_index: Option<u32>,
    /// Missing data indices whose FEC set's Merkle root is known, with that root, ascending.
    pub missing_roots: Vec<(u32, Hash)>,
    /// Whether every data shred is held.
    pub complete: bool,
}

/// Bound of the data → control event queue.
pub const DATA_EVENTS_MAX: usize = 4_096;
