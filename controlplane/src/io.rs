//! The only types a driver of the control-plane core sees: what goes in ([`Input`]) and what comes
//! out ([`Output`]). Time is milliseconds since the Unix epoch (the node's wall clock, or the
//! simulator's virtual clock on the same scale).

use std::net::SocketAddr;
use std::sync::Arc;

use dataplane::banking::LeadCommand;
use dataplane::forward::ForwardTarget;
use dataplane::types::{Hash, Pubkey, Signature, Slot};
use dataplane::vote::{TowerSync, VoteInstruction};

use crate::evidence::Evidence;
use crate::gossip::{ContactInfo, GossipMessage};
use crate::repair::{RepairRequestOut, SlotProgress};
use crate::signer::Verified;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// A vote transaction, checked at the edge (signature by the voter, who is its fee payer and vote
/// authority) and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedVote {
    /// The voting validator's identity.
    pub voter: Pubkey,
    /// Its vote account.
    pub vote_account: Pubkey,
    /// The tower it voted with.
    pub tower: TowerSync,
    /// The switching proof's hash (`TowerSyncSwitch`).
    pub switch_proof: Option<Hash>,
    /// The transaction's signature.
    pub signature: Signature,
    /// The wire bytes (forwarded to leaders, kept as evidence).
    pub tx: Arc<[u8]>,
}

impl ParsedVote {
    /// Parses a vote transaction's wire bytes (without checking its signature: callers at the edge
    /// do that first). `None` if it is not a vote transaction.
    pub fn parse(tx: &[u8]) -> Option<ParsedVote> {
        let view = dataplane::txn::TxnView::new(tx).ok()?;
        let vote_account = view.vote_account()?;
        let ix = view.vote_instruction()?;
        let (tower, switch_proof) = match ix {
            VoteInstruction::TowerSync(t) => (t, None),
            VoteInstruction::TowerSyncSwitch(t, h) => (t, Some(h)),
        };
        Some(ParsedVote {
            voter: view.fee_payer(),
            vote_account,
            tower,
            switch_proof,
            signature: view.signature(),
            tx: Arc::from(tx),
        })
    }
}

pub use dataplane::plane::{BankFrozen, LandedVote};

/// What a driver hands the core.
#[derive(Debug, Clone)]
pub enum Input {
    /// The time [`crate::node::Node::poll_timeout`] asked for has come (or any later time).
    Timeout,
    /// A bank froze.
    BankFrozen(BankFrozen),
    /// A block failed replay and is dead, as are its descendants.
    BlockDead {
        /// The slot.
        slot: Slot,
    },
    /// The shred receive path saw the first verified shred of a slot (its parent, once known).
    SlotStarted {
        /// The slot.
        slot: Slot,
        /// Its parent, if a data shred named it.
        parent: Option<Slot>,
    },
    /// A gossip datagram, decoded and checked at the edge.
    Gossip {
        /// Where it came from.
        from: SocketAddr,
        /// The message.
        msg: Verified<GossipMessage>,
    },
    /// A vote transaction from the vote port, checked at the edge.
    Vote(Verified<ParsedVote>),
    /// The receive path's progress on an incomplete slot (sent when it changes, and once
    /// complete), for the repair planner.
    SlotProgress(SlotProgress),
    /// A slot named as a parent that this node does not hold: repair it and its ancestors.
    Orphan {
        /// The missing slot.
        slot: Slot,
    },
    /// The data plane dropped this node's version of `slot` (after [`Output::ReplaceBlock`])
    /// and forgot it: fetch the slot again, the version with `block_id`.
    Refetch {
        /// The slot.
        slot: Slot,
        /// The wanted version's block id, if known.
        block_id: Option<Hash>,
    },
    /// An answer on the repair socket from the peer with identity `from` (the edge mapped its
    /// source address and checked a "don't have" answer's signature).
    RepairAnswer {
        /// Who answered.
        from: Pubkey,
        /// The nonce it carries back.
        nonce: u32,
        /// What it says.
        answer: RepairAnswer,
    },
    /// A duplicate-slot proof checked at the edge (this node's receive path found it, or a
    /// gossiped proof the driver verified after [`Output::CheckDuplicateProof`]).
    DuplicateSlot {
        /// The slot.
        slot: Slot,
        /// The proof's bytes (two conflicting shreds, as the data plane encodes them).
        proof: Arc<[u8]>,
    },
}

/// A repair answer's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairAnswer {
    /// A shred (its bytes go to the receive path only if the request is known).
    Shred(Arc<[u8]>),
    /// The peer does not hold what was asked.
    DontHave,
    /// The chain the peer holds below the slot asked about, newest first (the edge checked its
    /// signature; the core checks its form).
    Ancestors(Vec<dataplane::repair::AncestorHash>),
}

/// What this node's commitment levels stand at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Commitment {
    /// The fork-choice head (RPC "processed").
    pub processed: Slot,
    /// The newest optimistically confirmed block on the head's fork (RPC "confirmed").
    pub confirmed: Slot,
    /// The newest root more than 2/3 of the stake has rooted, on the head's fork (RPC "finalized").
    pub finalized: Slot,
    /// This node's own root (the fork tree's root).
    pub root: Slot,
}

/// Where each peer validator can be reached, from gossip, for the data plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTable {
    /// Contact information of every validator known (this node's own included), by identity.
    pub peers: Vec<ContactInfo>,
}

/// Where a vote goes: a validator's UDP vote socket, and its QUIC one if it announces one (the
/// edge sends over QUIC, under this node's identity, and falls back to UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VoteTarget {
    /// The vote socket (`tpuVote`).
    pub udp: SocketAddr,
    /// Staked vote ingest over QUIC (`tpuVoteQuic`), if announced.
    pub quic: Option<SocketAddr>,
}

/// What the core asks its driver to do.
#[derive(Debug, Clone)]
pub enum Output {
    /// Lead these slots on this parent.
    Lead(LeadCommand),
    /// Move the root (the single owner of the bank forks applies it; storage first).
    SetRoot(Slot),
    /// Persist the tower file, then — only if that succeeded — send the vote.
    Vote {
        /// The signed tower file to write (fsync, rename) first.
        tower_file: Vec<u8>,
        /// The vote transaction.
        tx: Arc<[u8]>,
        /// The vote ports of the leaders of the current and next slots, then of other validators.
        send_to: Vec<VoteTarget>,
    },
    /// Send the same vote again (it has not landed): no tower change, so nothing to persist.
    ResendVote {
        /// The re-signed vote transaction (fresh blockhash).
        tx: Arc<[u8]>,
        /// Where to.
        send_to: Vec<VoteTarget>,
    },
    /// Hand a vote (own or another validator's) to this node's banking stage: it leads soon.
    BankVote(Arc<[u8]>),
    /// Send a gossip message.
    Gossip {
        /// The destination.
        to: SocketAddr,
        /// The message.
        msg: GossipMessage,
    },
    /// Check a duplicate-slot proof assembled from gossip; if valid, report it as
    /// [`Input::DuplicateSlot`].
    CheckDuplicateProof {
        /// The slot.
        slot: Slot,
        /// Who gossiped it.
        origin: Pubkey,
        /// The proof's bytes.
        proof: Arc<[u8]>,
    },
    /// Sign and send this repair request to `to` (the peer's serve-repair address).
    RepairRequest {
        /// The peer's serve-repair address.
        to: SocketAddr,
        /// The request.
        request: RepairRequestOut,
    },
    /// An answer this node asked for: hand the shred to the receive path.
    Repaired(Arc<[u8]>),
    /// Drop this node's version of `slot` (and its descendants): another version was
    /// duplicate-confirmed; repair that one by its block id.
    ReplaceBlock {
        /// The slot.
        slot: Slot,
        /// The confirmed version's bank hash.
        bank_hash: Hash,
        /// Its block id, if a vote named it.
        block_id: Option<Hash>,
    },
    /// Slashing evidence found (store it; it is gossiped already).
    Evidence(Evidence),
    /// Commitment levels moved.
    Commitment(Commitment),
    /// The peer table changed.
    Peers(PeerTable),
    /// Where to forward held transactions from now on (`None`: hold them, this node leads now or
    /// next).
    ForwardTo(Option<ForwardTarget>),
    /// Another process runs this identity: this one must stop (it stopped voting already).
    DuplicateInstance {
        /// The other instance's gossip address.
        other: SocketAddr,
    },
}
