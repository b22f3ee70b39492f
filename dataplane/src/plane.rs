//! Typed messages between the planes: the data plane reports events, the control plane sends
//! commands. No closures and no locks cross between them: each side owns its state and learns the
//! other's decisions only from these messages.
//!
//! Events (data → control) travel on an **unbounded** channel, because they must not be lost (a
//! missed `BankFrozen` is a block the control plane never votes on) and the data plane must never
//! block on the control plane. It is bounded in practice: its producers emit a few events per slot
//! and fork (started, frozen or dead, rooted) and a progress report per slot being assembled at most
//! every few tens of milliseconds; their rate is set by clocks, not by traffic. Commands (control →
//! data) travel on bounded channels the data plane drains.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::bank::Bank;
use crate::bank_forks::ForkError;
use crate::types::{Hash, Pubkey, Slot};
use crate::vote::Lockout;

/// A validator's vote state as a block left it: what landed on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandedVote {
    /// The validator (its vote account's node identity).
    pub voter: Pubkey,
    /// Its tower as the vote program holds it, oldest vote first.
    pub lockouts: Vec<Lockout>,
    /// Its tower's root.
    pub root: Option<Slot>,
    /// Its last vote's timestamp (Unix seconds), if a vote carried one.
    pub timestamp: Option<i64>,
}

/// A block replayed (or produced) and frozen: the one report that covers own and received blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankFrozen {
    /// The slot.
    pub slot: Slot,
    /// The block it builds on.
    pub parent: Slot,
    /// Its bank hash.
    pub bank_hash: Hash,
    /// Its blockhash (the last tick's hash).
    pub blockhash: Hash,
    /// Merkle root of its last FEC set (the block id; `Hash::default()` for a block that never
    /// travelled as shreds).
    pub block_id: Hash,
    /// The leader that produced it.
    pub leader: Pubkey,
    /// Vote states the block changed (the votes that landed in it), by vote account address.
    pub votes: Vec<LandedVote>,
}

impl BankFrozen {
    /// The report for the frozen `bank` whose last FEC set has Merkle root `block_id`; the leader is
    /// the bank's fee collector. Refuses a bank that is not frozen.
    pub fn new(bank: &Bank, block_id: Hash) -> Result<BankFrozen, ForkError> {
        let slot = bank.slot();
        let (Some(bank_hash), Some(blockhash)) = (bank.bank_hash(), bank.blockhash()) else {
            return Err(ForkError::NotFrozen(slot));
        };
        let votes = bank
            .vote_delta()
            .into_iter()
            .map(|(_, state)| LandedVote {
                voter: state.node,
                lockouts: state.votes.clone(),
                root: state.root,
                timestamp: state.last_timestamp.map(|(_, t)| t),
            })
            .collect();
        Ok(BankFrozen {
            slot,
            parent: bank.parent_slot(),
            bank_hash,
            blockhash,
            block_id,
            leader: bank.collector(),
            votes,
        })
    }
}

/// What the data plane tells the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEvent {
    /// A block was stored (unrooted) and its bank frozen: this node's own block (from the ledger
    /// stage) or a received one (from replay).
    BankFrozen {
        /// The frozen bank.
        frozen: BankFrozen,
        /// Transactions the block holds.
        transactions: u32,
        /// Whether this node produced it.
        own: bool,
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
    /// The shred receive path verified the first shred of a slot it had not seen (once per slot).
    SlotStarted {
        /// The slot.
        slot: Slot,
        /// Its parent, if that first shred was a data shred (which names it).
        parent: Option<Slot>,
    },
    /// A [`ForkCommand::SetRoot`] was applied: the root moved to `slot` (its state is durable;
    /// forks not descending from it are pruned).
    Rooted {
        /// The new root.
        slot: Slot,
    },
    /// Where the shred receive path stands on a slot it assembles: sent when it changed (at most
    /// every few tens of milliseconds per slot) and once when the slot completes.
    SlotProgress(SlotProgress),
    /// The receive path forgot this node's version of a duplicate slot and takes only the
    /// confirmed one: repair must fetch it again. Sent after every progress report of the dropped
    /// version, so the planner never takes an old "complete" for the new one.
    Refetch(Refetch),
    /// Two validly signed, different shreds for one slot position: the leader equivocated. The pair is
    /// the proof.
    DuplicateSlotProof {
        /// The slot.
        slot: Slot,
        /// One shred.
        first: Vec<u8>,
        /// The conflicting one.
        second: Vec<u8>,
    },
}

/// What the control plane tells the owner of the bank forks (the ledger stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkCommand {
    /// Make this frozen, stored bank the root: its state is stored first, then the fork tree is
    /// pruned to its descendants. A slot that cannot be rooted is logged and ignored.
    SetRoot(Slot),
    /// Another version of `slot` was duplicate-confirmed: drop this node's version and every block
    /// built on it (fork tree and store), and have the shred receive path and repair fetch the
    /// confirmed one (see [`ReplacedBlocks`]). A slot at or below the root is logged and ignored.
    ReplaceBlock {
        /// The duplicate slot.
        slot: Slot,
        /// The confirmed version's bank hash.
        bank_hash: Hash,
        /// The confirmed version's block id (Merkle root of its last FEC set), if a vote named it.
        block_id: Option<Hash>,
    },
}

/// Blocks the ledger stage dropped for [`ForkCommand::ReplaceBlock`], for the shred receive path:
/// it forgets them and accepts only the wanted version of `slot` from then on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacedBlocks {
    /// The duplicate slot.
    pub slot: Slot,
    /// The confirmed version's block id, if known.
    pub block_id: Option<Hash>,
    /// `slot` and the slots of the blocks built on the dropped version, ascending (bounded by the
    /// live forks).
    pub removed: Vec<Slot>,
    /// Merkle roots of the dropped version's FEC sets, as stored (bounded by its data shreds).
    pub losing_roots: Vec<Hash>,
}

/// Replaced-block notices queued to the shred receive path at most (one per duplicate slot the
/// cluster resolved against this node; it drains them every loop).
pub const REPLACED_QUEUED_MAX: usize = 64;

/// A slot whose block this node dropped and must fetch again, for repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refetch {
    /// The slot.
    pub slot: Slot,
    /// The wanted version's block id, if known (the receive path takes only that version).
    pub block_id: Option<Hash>,
}

/// Where each validator's shreds go (its TVU address), for the Turbine senders (retransmit,
/// broadcast). Sent as `Arc<PeerAddrs>`: each sender keeps the newest it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerAddrs {
    /// TVU address by validator identity.
    pub tvu: HashMap<Pubkey, SocketAddr>,
}

/// Peer address updates queued to one Turbine sender at most; it drains them every loop (newest
/// wins), and they change at gossip's pace.
pub const PEER_UPDATES_MAX: usize = 64;

/// What the shred receive path knows about a slot it is assembling (cumulative, not a delta), for
/// the control plane's repair planner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotProgress {
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
