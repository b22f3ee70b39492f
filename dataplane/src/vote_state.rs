//! The state of a vote account, and how a `TowerSync` vote changes it — as Agave's vote program does
//! for a tower sync (`check_and_filter_proposed_vote_state`, then `process_new_vote_state`).
//!
//! A [`VoteState`] is what the chain knows of one validator's tower: its votes (at most 31 lockouts),
//! its root, the credits it earned by rooting slots, and its last timestamp. A vote replaces the
//! tower with the voter's whole new tower after checking that it is well formed, that it does not
//! roll back the root or break a lockout the old tower still holds, and that its slots are
//! ancestors of the bank that executes it, the newest with the bank hash that ancestor has.
//!
//! Ancestry is checked against the executing bank's *slot hashes*: the `(slot, bank hash)` of its
//! last [`SLOT_HASHES_MAX`] ancestors, newest first (Solana's `SlotHashes` sysvar). It is a function of
//! the fork alone — not of how far this node has rooted — so every validator executing a vote on the
//! same bank reaches the same verdict. As in Agave, lockouts older than that window are dropped
//! from the new tower unless the old tower already holds them, and a root older than the window is
//! replaced by the newest old vote (or old root) at or below it.
//!
//! Encoding (for the bank hash and redb), little-endian, canonical: `version u8 (1) | node 32 |
//! authorized voter 32 | n u8 (≤ 31) | n × (slot u64 | confirmation count u32) | root tag u8 [u64] |
//! credits u64 | m u8 (≤ 64) | m × (epoch u64 | credits u64 | prev credits u64) | timestamp tag u8
//! [slot u64 | unix seconds i64]`.

use std::cmp::Ordering;

use crate::byte_reader::{ByteReader, ReadError, ReadErrorKind};
use crate::types::{Hash, Pubkey, Slot};
use crate::vote::{Lockout, TowerSync, MAX_LOCKOUT_HISTORY};

/// Epochs of credits a vote state keeps (Solana's `MAX_EPOCH_CREDITS_HISTORY`).
pub const MAX_EPOCH_CREDITS_HISTORY: usize = 64;
/// Ancestors a bank keeps as its slot hashes (Solana's `SlotHashes` holds 512).
pub const SLOT_HASHES_MAX: usize = 512;
/// The version byte that starts an encoded vote state.
const VOTE_STATE_VERSION: u8 = 1;
/// Largest encoded vote state, in bytes.
pub const VOTE_STATE_SIZE_MAX: usize =
    1 + 32 + 32 + 1 + MAX_LOCKOUT_HISTORY * 12 + 9 + 8 + 1 + MAX_EPOCH_CREDITS_HISTORY * 24 + 17;

/// One epoch's credits: `(epoch, credits at its end, credits at its start)`, as Solana keeps them.
pub type EpochCredits = (u64, u64, u64);

/// A vote account's state (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteState {
    /// The validator identity this account votes for.
    pub node: Pubkey,
    /// Who must sign its votes.
    pub authorized_voter: Pubkey,
    /// The tower: voted slots, oldest first, at most [`MAX_LOCKOUT_HISTORY`].
    pub votes: Vec<Lockout>,
    /// The tower's root.
    pub root: Option<Slot>,
    /// Credits earned since the account was created: one per voted slot that became rooted.
    pub credits: u64,
    /// Credits per epoch, oldest first, at most [`MAX_EPOCH_CREDITS_HISTORY`].
    pub epoch_credits: Vec<EpochCredits>,
    /// The last voted slot that carried a timestamp, and that timestamp (Unix seconds).
    pub last_timestamp: Option<(Slot, i64)>,
}

/// What a vote is checked against: the bank executing it.
#[derive(Debug, Clone, Copy)]
pub struct VoteContext<'a> {
    /// The executing bank's slot.
    pub slot: Slot,
    /// Its epoch (`slot / slots_per_epoch`): where earned credits are counted.
    pub epoch: u64,
    /// Its ancestors' `(slot, bank hash)`, newest first (at most [`SLOT_HASHES_MAX`]).
    pub slot_hashes: &'a [(Slot, Hash)],
}

/// Agave's `VoteError`, whose position is the custom error code a failed vote instruction reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum VoteErrorCode {
    /// The vote is not newer than the last one, or older than the slot hashes.
    VoteTooOld = 0,
    /// A voted slot is not an ancestor of the executing bank.
    SlotsMismatch = 1,
    /// The newest voted slot's hash is not that ancestor's bank hash.
    SlotHashMismatch = 2,
    /// The tower has no votes.
    EmptySlots = 3,
    /// The timestamp goes backwards.
    TimestampTooOld = 4,
    /// Reauthorising too soon (not produced here).
    TooSoonToReauthorize = 5,
    /// The new tower drops a vote the old one still locks.
    LockoutConflict = 6,
    /// A vote lies past the previous vote's lockout.
    NewVoteStateLockoutMismatch = 7,
    /// Voted slots do not rise.
    SlotsNotOrdered = 8,
    /// Confirmation counts do not fall from bottom to top.
    ConfirmationsNotOrdered = 9,
    /// A vote with no confirmations.
    ZeroConfirmations = 10,
    /// A confirmation count above 31.
    ConfirmationTooLarge = 11,
    /// The root goes backwards.
    RootRollBack = 12,
    /// A vote kept by the new tower lost confirmations.
    ConfirmationRollBack = 13,
    /// A vote at or below the tower's root.
    SlotSmallerThanRoot = 14,
    /// More than 31 votes.
    TooManyVotes = 15,
    /// Every voted slot was older than the slot hashes (not produced here).
    VotesTooOldAllFiltered = 16,
    /// The root is in the slot hashes' range but not an ancestor.
    RootOnDifferentFork = 17,
    /// Closing an active vote account (not produced here).
    ActiveVoteAccountClose = 18,
    /// Commission change too late in the epoch (not produced here).
    CommissionUpdateTooLate = 19,
    /// An internal consistency check failed.
    AssertionFailed = 20,
}

impl VoteErrorCode {
    /// Every code, in code order.
    pub const ALL: [VoteErrorCode; 21] = [
        VoteErrorCode::VoteTooOld,
        VoteErrorCode::SlotsMismatch,
        VoteErrorCode::SlotHashMismatch,
        VoteErrorCode::EmptySlots,
        VoteErrorCode::TimestampTooOld,
        VoteErrorCode::TooSoonToReauthorize,
        VoteErrorCode::LockoutConflict,
        VoteErrorCode::NewVoteStateLockoutMismatch,
        VoteErrorCode::SlotsNotOrdered,
        VoteErrorCode::ConfirmationsNotOrdered,
        VoteErrorCode::ZeroConfirmations,
        VoteErrorCode::ConfirmationTooLarge,
        VoteErrorCode::RootRollBack,
        VoteErrorCode::ConfirmationRollBack,
        VoteErrorCode::SlotSmallerThanRoot,
        VoteErrorCode::TooManyVotes,
        VoteErrorCode::VotesTooOldAllFiltered,
        VoteErrorCode::RootOnDifferentFork,
        VoteErrorCode::ActiveVoteAccountClose,
        VoteErrorCode::CommissionUpdateTooLate,
        VoteErrorCode::AssertionFailed,
    ];

    /// The custom program error code (`InstructionError::Custom`).
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The code for `code`, if it is one.
    pub fn from_code(code: u32) -> Option<VoteErrorCode> {
        VoteErrorCode::ALL.get(usize::try_from(code).ok()?).copied()
    }

    /// Agave's variant name.
    pub fn name(self) -> &'static str {
        match self {
            VoteErrorCode::VoteTooOld => "VoteTooOld",
            VoteErrorCode::SlotsMismatch => "SlotsMismatch",
            VoteErrorCode::SlotHashMismatch => "SlotHashMismatch",
            VoteErrorCode::EmptySlots => "EmptySlots",
            VoteErrorCode::TimestampTooOld => "TimestampTooOld",
            VoteErrorCode::TooSoonToReauthorize => "TooSoonToReauthorize",
            VoteErrorCode::LockoutConflict => "LockoutConflict",
            VoteErrorCode::NewVoteStateLockoutMismatch => "NewVoteStateLockoutMismatch",
            VoteErrorCode::SlotsNotOrdered => "SlotsNotOrdered",
            VoteErrorCode::ConfirmationsNotOrdered => "ConfirmationsNotOrdered",
            VoteErrorCode::ZeroConfirmations => "ZeroConfirmations",
            VoteErrorCode::ConfirmationTooLarge => "ConfirmationTooLarge",
            VoteErrorCode::RootRollBack => "RootRollBack",
            VoteErrorCode::ConfirmationRollBack => "ConfirmationRollBack",
            VoteErrorCode::SlotSmallerThanRoot => "SlotSmallerThanRoot",
            VoteErrorCode::TooManyVotes => "TooManyVotes",
            VoteErrorCode::VotesTooOldAllFiltered => "VotesTooOldAllFiltered",
            VoteErrorCode::RootOnDifferentFork => "RootOnDifferentFork",
            VoteErrorCode::ActiveVoteAccountClose => "ActiveVoteAccountClose",
            VoteErrorCode::CommissionUpdateTooLate => "CommissionUpdateTooLate",
            VoteErrorCode::AssertionFailed => "AssertionFailed",
        }
    }
}

impl std::fmt::Display for VoteErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vote error {} ({})", self.name(), self.code())
    }
}

/// Why a vote was refused, with the values that broke the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteStateError {
    /// The tower has no votes.
    #[error("the vote has no lockouts")]
    EmptySlots,
    /// More votes than a tower holds.
    #[error("the vote has {count} lockouts, more than {MAX_LOCKOUT_HISTORY}")]
    TooManyVotes {
        /// Lockouts in the vote.
        count: usize,
    },
    /// A lockout with no confirmations.
    #[error("lockout on slot {slot} has 0 confirmations")]
    ZeroConfirmations {
        /// Its slot.
        slot: Slot,
    },
    /// A confirmation count past the tower's depth.
    #[error(
        "lockout on slot {slot} has {confirmation_count} confirmations, more than \
         {MAX_LOCKOUT_HISTORY}"
    )]
    ConfirmationTooLarge {
        /// Its slot.
        slot: Slot,
        /// Its confirmation count.
        confirmation_count: u32,
    },
    /// Lockout slots do not rise strictly.
    #[error("lockout slot {slot} does not come after slot {previous}")]
    SlotsNotOrdered {
        /// The lockout before it.
        previous: Slot,
        /// The offending slot.
        slot: Slot,
    },
    /// Confirmation counts do not fall strictly from bottom to top.
    #[error(
        "slot {slot} has {confirmation_count} confirmations, not fewer than the {previous} of \
         slot {previous_slot} below it"
    )]
    ConfirmationsNotOrdered {
        /// The lockout below it.
        previous_slot: Slot,
        /// That lockout's confirmations.
        previous: u32,
        /// The offending slot.
        slot: Slot,
        /// Its confirmations.
        confirmation_count: u32,
    },
    /// A vote lies past the lockout of the vote below it, which it should have popped.
    #[error(
        "slot {slot} lies past slot {previous}'s lockout (locked out until slot \
         {last_locked_out})"
    )]
    NewVoteStateLockoutMismatch {
        /// The vote below it.
        previous: Slot,
        /// The last slot that vote locks.
        last_locked_out: Slot,
        /// The offending slot.
        slot: Slot,
    },
    /// A vote at or below the proposed root.
    #[error("lockout slot {slot} is not above the proposed root {root}")]
    SlotSmallerThanRoot {
        /// The offending slot.
        slot: Slot,
        /// The proposed root.
        root: Slot,
    },
    /// The proposed root is older than the current one (or missing while there is one).
    #[error("proposed root {proposed:?} rolls back the current root {current}")]
    RootRollBack {
        /// The account's root.
        current: Slot,
        /// The vote's root (after replacing one older than the slot hashes).
        proposed: Option<Slot>,
    },
    /// The newest voted slot is not newer than the account's last vote.
    #[error("last voted slot {proposed} is not newer than the account's last vote {last_voted}")]
    VoteTooOld {
        /// The account's last voted slot.
        last_voted: Slot,
        /// The vote's last slot.
        proposed: Slot,
    },
    /// The newest voted slot is older than every slot hash of the executing bank.
    #[error("last voted slot {proposed} is older than the oldest slot hash {earliest}")]
    OlderThanSlotHashes {
        /// The vote's last slot.
        proposed: Slot,
        /// The oldest ancestor the bank remembers.
        earliest: Slot,
    },
    /// A voted slot that is not an ancestor of the executing bank (or the bank has no ancestors).
    #[error("voted slot {slot} is not an ancestor of the bank of slot {bank}")]
    SlotsMismatch {
        /// The offending slot.
        slot: Slot,
        /// The executing bank's slot.
        bank: Slot,
    },
    /// The proposed root is in the slot hashes' range but not an ancestor.
    #[error("proposed root {root} is not an ancestor of the bank of slot {bank}")]
    RootOnDifferentFork {
        /// The proposed root.
        root: Slot,
        /// The executing bank's slot.
        bank: Slot,
    },
    /// The vote's hash is not the bank hash of its newest slot on this fork.
    #[error("vote hash {vote_hash} is not slot {slot}'s bank hash {bank_hash} on this fork")]
    SlotHashMismatch {
        /// The newest voted slot.
        slot: Slot,
        /// Its bank hash on this fork.
        bank_hash: Hash,
        /// The hash the vote names.
        vote_hash: Hash,
    },
    /// The new tower drops or contradicts a vote the old tower still locks.
    #[error(
        "the vote drops slot {slot}, still locked out until slot {last_locked_out} at the new \
         vote on slot {new_slot}"
    )]
    LockoutConflict {
        /// The old tower's vote.
        slot: Slot,
        /// The last slot it locks.
        last_locked_out: Slot,
        /// The new tower's vote that replaces it.
        new_slot: Slot,
    },
    /// A vote the new tower keeps has fewer confirmations than in the old one.
    #[error("slot {slot} falls from {current} to {proposed} confirmations")]
    ConfirmationRollBack {
        /// The slot.
        slot: Slot,
        /// Its confirmations in the old tower.
        current: u32,
        /// Its confirmations in the new tower.
        proposed: u32,
    },
    /// The timestamp goes backwards.
    #[error(
        "timestamp {timestamp} at slot {slot} is older than the last one, {last_timestamp} at \
         slot {last_slot}"
    )]
    TimestampTooOld {
        /// The vote's last slot.
        slot: Slot,
        /// Its timestamp.
        timestamp: i64,
        /// The last timestamped slot.
        last_slot: Slot,
        /// Its timestamp.
        last_timestamp: i64,
    },
    /// The slot hashes walk ended somewhere Agave asserts it cannot.
    #[error("vote check assertion failed: {0}")]
    AssertionFailed(&'static str),
}

impl VoteStateError {
    /// The Agave error code a failed vote instruction reports.
    pub fn code(&self) -> VoteErrorCode {
        match self {
            VoteStateError::EmptySlots => VoteErrorCode::EmptySlots,
            VoteStateError::TooManyVotes { .. } => VoteErrorCode::TooManyVotes,
            VoteStateError::ZeroConfirmations { .. } => VoteErrorCode::ZeroConfirmations,
            VoteStateError::ConfirmationTooLarge { .. } => VoteErrorCode::ConfirmationTooLarge,
            VoteStateError::SlotsNotOrdered { .. } => VoteErrorCode::SlotsNotOrdered,
            VoteStateError::ConfirmationsNotOrdered { .. } => {
                VoteErrorCode::ConfirmationsNotOrdered
            }
            VoteStateError::NewVoteStateLockoutMismatch { .. } => {
                VoteErrorCode::NewVoteStateLockoutMismatch
            }
            VoteStateError::SlotSmallerThanRoot { .. } => VoteErrorCode::SlotSmallerThanRoot,
            VoteStateError::RootRollBack { .. } => VoteErrorCode::RootRollBack,
            VoteStateError::VoteTooOld { .. } | VoteStateError::OlderThanSlotHashes { .. } => {
                VoteErrorCode::VoteTooOld
            }
            VoteStateError::SlotsMismatch { .. } => VoteErrorCode::SlotsMismatch,
            VoteStateError::RootOnDifferentFork { .. } => VoteErrorCode::RootOnDifferentFork,
            VoteStateError::SlotHashMismatch { .. } => VoteErrorCode::SlotHashMismatch,
            VoteStateError::LockoutConflict { .. } => VoteErrorCode::LockoutConflict,
            VoteStateError::ConfirmationRollBack { .. } => VoteErrorCode::ConfirmationRollBack,
            VoteStateError::TimestampTooOld { .. } => VoteErrorCode::TimestampTooOld,
            VoteStateError::AssertionFailed(_) => VoteErrorCode::AssertionFailed,
        }
    }
}

/// Why stored vote state bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteStateDecodeError {
    /// The bytes end early.
    #[error("vote state truncated: {field} at offset {offset}")]
    Truncated {
        /// What was being read.
        field: &'static str,
        /// Where.
        offset: usize,
    },
    /// A version this build does not read.
    #[error("vote state version {0}, this build reads version {VOTE_STATE_VERSION}")]
    UnknownVersion(u8),
    /// More votes than a tower holds.
    #[error("{0} votes, more than the {MAX_LOCKOUT_HISTORY} a tower holds")]
    TooManyVotes(usize),
    /// More epochs of credits than are kept.
    #[error("{0} epoch credit entries, more than the {MAX_EPOCH_CREDITS_HISTORY} kept")]
    TooManyEpochCredits(usize),
    /// An option tag other than 0 or 1.
    #[error("invalid option tag {tag} for the {field}")]
    BadOptionTag {
        /// The optional field.
        field: &'static str,
        /// The tag read.
        tag: u8,
    },
    /// Bytes left over.
    #[error("{0} trailing bytes after the vote state")]
    TrailingBytes(usize),
    /// A field refused for a reason the format has no variant of its own for (a non-canonical
    /// compact-u16 or a count over its limit: the vote state has neither today).
    #[error("malformed vote state: {0}")]
    Malformed(ReadError),
}

impl From<ReadError> for VoteStateDecodeError {
    fn from(e: ReadError) -> Self {
        match e.kind {
            ReadErrorKind::Truncated { .. } => VoteStateDecodeError::Truncated {
                field: e.field,
                offset: e.offset,
            },
            ReadErrorKind::TrailingBytes { extra } => VoteStateDecodeError::TrailingBytes(extra),
            ReadErrorKind::NonCanonical | ReadErrorKind::TooLarge { .. } => {
                VoteStateDecodeError::Malformed(e)
            }
        }
    }
}

impl VoteState {
    /// A vote account with no votes yet, for validator `node`, whose votes `authorized_voter` signs.
    pub fn new(node: Pubkey, authorized_voter: Pubkey) -> VoteState {
        VoteState {
            node,
            authorized_voter,
            votes: Vec::new(),
            root: None,
            credits: 0,
            epoch_credits: Vec::new(),
            last_timestamp: None,
        }
    }

    /// The newest voted slot.
    pub fn last_voted_slot(&self) -> Option<Slot> {
        self.votes.last().map(|l| l.slot)
    }

    /// Whether the tower holds a vote on `slot`.
    pub fn contains_slot(&self, slot: Slot) -> bool {
        self.votes.binary_search_by_key(&slot, |l| l.slot).is_ok()
    }

    /// Applies a vote (see the module docs). On error the state is unchanged.
    pub fn process_tower_sync(
        &mut self,
        tower: &TowerSync,
        ctx: &VoteContext<'_>,
    ) -> Result<(), VoteStateError> {
        let mut lockouts = tower.lockouts.clone();
        let mut root = tower.root;
        self.check_and_filter(&mut lockouts, &mut root, tower.hash, ctx)?;
        let mut next = self.clone();
        next.process_new_tower(lockouts, root, tower.timestamp, ctx.epoch)?;
        *self = next;
        Ok(())
    }

    /// Agave's `check_and_filter_proposed_vote_state`: the vote is newer than the last one, its
    /// slots are ancestors of the executing bank and its hash is its newest slot's bank hash;
    /// lockouts older than the slot hashes and unknown to the old tower are dropped, and a root
    /// older than the slot hashes is replaced by what the old tower knows.
    fn check_and_filter(
        &self,
        lockouts: &mut Vec<Lockout>,
        root: &mut Option<Slot>,
        hash: Hash,
        ctx: &VoteContext<'_>,
    ) -> Result<(), VoteStateError> {
        let Some(last_proposed) = lockouts.last().map(|l| l.slot) else {
            return Err(VoteStateError::EmptySlots);
        };
        if lockouts.len() > MAX_LOCKOUT_HISTORY {
            return Err(VoteStateError::TooManyVotes {
                count: lockouts.len(),
            });
        }
        if let Some(last_voted) = self.last_voted_slot() {
            if last_proposed <= last_voted {
                return Err(VoteStateError::VoteTooOld {
                    last_voted,
                    proposed: last_proposed,
                });
            }
        }
        let slot_hashes = ctx.slot_hashes;
        let Some(&(earliest, _)) = slot_hashes.last() else {
            return Err(VoteStateError::SlotsMismatch {
                slot: last_proposed,
                bank: ctx.slot,
            });
        };
        if last_proposed < earliest {
            return Err(VoteStateError::OlderThanSlotHashes {
                proposed: last_proposed,
                earliest,
            });
        }
        if let Some(proposed_root) = *root {
            if proposed_root < earliest {
                *root = self.root;
                if let Some(v) = self.votes.iter().rev().find(|v| v.slot <= proposed_root) {
                    *root = Some(v.slot);
                }
            }
        }

        // Walk the lockouts (the root first) from oldest to newest against the slot hashes from
        // oldest to newest, as Agave does.
        let mut root_to_check = *root;
        let mut index = 0;
        let mut hashes_left = slot_hashes.len();
        // Lockouts number at most MAX_LOCKOUT_HISTORY (checked above): one bit each.
        let mut dropped: u32 = 0;
        while index < lockouts.len() && hashes_left > 0 {
            let slot = root_to_check.unwrap_or(lockouts[index].slot);
            if root_to_check.is_none() && index > 0 && slot <= lockouts[index - 1].slot {
                return Err(VoteStateError::SlotsNotOrdered {
                    previous: lockouts[index - 1].slot,
                    slot,
                });
            }
            let ancestor = slot_hashes[hashes_left - 1].0;
            match slot.cmp(&ancestor) {
                Ordering::Less if hashes_left == slot_hashes.len() => {
                    // Older than the slot hashes: kept only if the old tower already holds it.
                    if slot >= earliest {
                        return Err(VoteStateError::AssertionFailed(
                            "a slot older than the oldest slot hash is not older",
                        ));
                    }
                    if root_to_check.take().is_none() {
                        if !self.contains_slot(slot) {
                            dropped |= 1 << index;
                        }
                        index += 1;
                    }
                }
                Ordering::Less => {
                    // Within the slot hashes' range but not among them: another fork.
                    return Err(match root_to_check {
                        Some(root) => VoteStateError::RootOnDifferentFork {
                            root,
                            bank: ctx.slot,
                        },
                        None => VoteStateError::SlotsMismatch {
                            slot,
                            bank: ctx.slot,
                        },
                    });
                }
                Ordering::Greater => hashes_left -= 1,
                Ordering::Equal => {
                    if root_to_check.take().is_none() {
                        index += 1;
                        hashes_left -= 1;
                    }
                }
            }
        }
        if index != lockouts.len() {
            // The newest voted slots are newer than every ancestor: not on this bank's fork.
            return Err(VoteStateError::SlotsMismatch {
                slot: lockouts[index].slot,
                bank: ctx.slot,
            });
        }
        let Some(&(matched, bank_hash)) = slot_hashes.get(hashes_left) else {
            return Err(VoteStateError::AssertionFailed(
                "the last voted slot matched no slot hash",
            ));
        };
        if matched != last_proposed {
            return Err(VoteStateError::AssertionFailed(
                "the last voted slot is not the last slot hash matched",
            ));
        }
        if bank_hash != hash {
            return Err(VoteStateError::SlotHashMismatch {
                slot: matched,
                bank_hash,
                vote_hash: hash,
            });
        }
        let mut position = 0;
        lockouts.retain(|_| {
            let keep = dropped & (1 << position) == 0;
            position += 1;
            keep
        });
        Ok(())
    }

    /// Agave's `process_new_vote_state`: checks the new tower's shape and that it keeps every
    /// vote the old tower still locks, then replaces the tower, credits the newly rooted votes and
    /// records the timestamp.
    fn process_new_tower(
        &mut self,
        new_votes: Vec<Lockout>,
        new_root: Option<Slot>,
        timestamp: Option<i64>,
        epoch: u64,
    ) -> Result<(), VoteStateError> {
        let Some(last) = new_votes.last().copied() else {
            return Err(VoteStateError::EmptySlots);
        };
        if new_votes.len() > MAX_LOCKOUT_HISTORY {
            return Err(VoteStateError::TooManyVotes {
                count: new_votes.len(),
            });
        }
        if let Some(current) = self.root {
            if new_root.is_none_or(|r| r < current) {
                return Err(VoteStateError::RootRollBack {
                    current,
                    proposed: new_root,
                });
            }
        }
        check_tower_shape(&new_votes, new_root)?;

        // Old votes the new root passes earn a credit each; the rest must be kept by the new tower
        // or have expired before the new vote that replaces them.
        let mut current = 0;
        let mut earned = 0u64;
        if let Some(new_root) = new_root {
            while current < self.votes.len() && self.votes[current].slot <= new_root {
                earned += 1;
                current += 1;
            }
        }
        let mut new = 0;
        while current < self.votes.len() && new < new_votes.len() {
            let old = self.votes[current];
            let proposed = new_votes[new];
            match old.slot.cmp(&proposed.slot) {
                Ordering::Less => {
                    if old.last_locked_out_slot() >= proposed.slot {
                        return Err(VoteStateError::LockoutConflict {
                            slot: old.slot,
                            last_locked_out: old.last_locked_out_slot(),
                            new_slot: proposed.slot,
                        });
                    }
                    current += 1;
                }
                Ordering::Equal => {
                    if proposed.confirmation_count < old.confirmation_count {
                        return Err(VoteStateError::ConfirmationRollBack {
                            slot: old.slot,
                            current: old.confirmation_count,
                            proposed: proposed.confirmation_count,
                        });
                    }
                    current += 1;
                    new += 1;
                }
                Ordering::Greater => new += 1,
            }
        }

        if self.root != new_root {
            self.increment_credits(epoch, earned);
        }
        if let Some(timestamp) = timestamp {
            self.process_timestamp(last.slot, timestamp)?;
        }
        self.root = new_root;
        self.votes = new_votes;
        Ok(())
    }

    /// Adds `credits` to `epoch`'s entry, opening it (and dropping the oldest past
    /// [`MAX_EPOCH_CREDITS_HISTORY`]) as Agave's `increment_credits` does.
    fn increment_credits(&mut self, epoch: u64, credits: u64) {
        match self.epoch_credits.last_mut() {
            None => self.epoch_credits.push((epoch, 0, 0)),
            Some(last) if last.0 != epoch => {
                let (_, total, prev) = *last;
                if total != prev {
                    self.epoch_credits.push((epoch, total, total));
                } else {
                    // Nothing was earned in that epoch: it becomes this one.
                    last.0 = epoch;
                }
                if self.epoch_credits.len() > MAX_EPOCH_CREDITS_HISTORY {
                    self.epoch_credits.remove(0);
                }
            }
            Some(_) => {}
        }
        if let Some(last) = self.epoch_credits.last_mut() {
            last.1 = last.1.saturating_add(credits);
        }
        self.credits = self.credits.saturating_add(credits);
    }

    /// Keeps `timestamp` for `slot` unless it goes back in slot or time (Agave's
    /// `process_timestamp`; the account starts at slot 0, time 0).
    fn process_timestamp(&mut self, slot: Slot, timestamp: i64) -> Result<(), VoteStateError> {
        let (last_slot, last_timestamp) = self.last_timestamp.unwrap_or((Slot(0), 0));
        let older = slot < last_slot || timestamp < last_timestamp;
        let differs_at_same_slot = slot == last_slot
            && (slot, timestamp) != (last_slot, last_timestamp)
            && last_slot.0 != 0;
        if older || differs_at_same_slot {
            return Err(VoteStateError::TimestampTooOld {
                slot,
                timestamp,
                last_slot,
                last_timestamp,
            });
        }
        self.last_timestamp = Some((slot, timestamp));
        Ok(())
    }

    /// Appends the canonical encoding (module docs). Counts are bounded by construction:
    /// [`VoteState::process_tower_sync`] and [`VoteState::decode`] keep them.
    pub fn encode(&self, out: &mut Vec<u8>) {
        debug_assert!(self.votes.len() <= MAX_LOCKOUT_HISTORY);
        debug_assert!(self.epoch_credits.len() <= MAX_EPOCH_CREDITS_HISTORY);
        out.reserve(VOTE_STATE_SIZE_MAX);
        out.push(VOTE_STATE_VERSION);
        out.extend_from_slice(self.node.as_bytes());
        out.extend_from_slice(self.authorized_voter.as_bytes());
        out.push(self.votes.len() as u8);
        for l in &self.votes {
            out.extend_from_slice(&l.slot.0.to_le_bytes());
            out.extend_from_slice(&l.confirmation_count.to_le_bytes());
        }
        match self.root {
            None => out.push(0),
            Some(r) => {
                out.push(1);
                out.extend_from_slice(&r.0.to_le_bytes());
            }
        }
        out.extend_from_slice(&self.credits.to_le_bytes());
        out.push(self.epoch_credits.len() as u8);
        for (epoch, credits, prev) in &self.epoch_credits {
            out.extend_from_slice(&epoch.to_le_bytes());
            out.extend_from_slice(&credits.to_le_bytes());
            out.extend_from_slice(&prev.to_le_bytes());
        }
        match self.last_timestamp {
            None => out.push(0),
            Some((slot, t)) => {
                out.push(1);
                out.extend_from_slice(&slot.0.to_le_bytes());
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
    }

    /// The encoding as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes an encoded vote state: bounded, canonical, no trailing bytes, never panics.
    pub fn decode(bytes: &[u8]) -> Result<VoteState, VoteStateDecodeError> {
        let mut r = ByteReader::new(bytes);
        let version = r.u8("version")?;
        if version != VOTE_STATE_VERSION {
            return Err(VoteStateDecodeError::UnknownVersion(version));
        }
        let node = Pubkey(r.array("node")?);
        let authorized_voter = Pubkey(r.array("authorized voter")?);
        let n = usize::from(r.u8("vote count")?);
        if n > MAX_LOCKOUT_HISTORY {
            return Err(VoteStateDecodeError::TooManyVotes(n));
        }
        let mut votes = Vec::with_capacity(n);
        for _ in 0..n {
            let slot = Slot(r.u64("vote slot")?);
            let confirmation_count = r.u32("confirmation count")?;
            votes.push(Lockout {
                slot,
                confirmation_count,
            });
        }
        let root = match r.u8("root tag")? {
            0 => None,
            1 => Some(Slot(r.u64("root")?)),
            tag => return Err(VoteStateDecodeError::BadOptionTag { field: "root", tag }),
        };
        let credits = r.u64("credits")?;
        let m = usize::from(r.u8("epoch credit count")?);
        if m > MAX_EPOCH_CREDITS_HISTORY {
            return Err(VoteStateDecodeError::TooManyEpochCredits(m));
        }
        let mut epoch_credits = Vec::with_capacity(m);
        for _ in 0..m {
            epoch_credits.push((
                r.u64("epoch")?,
                r.u64("epoch credits")?,
                r.u64("epoch prev credits")?,
            ));
        }
        let last_timestamp = match r.u8("timestamp tag")? {
            0 => None,
            1 => Some((Slot(r.u64("timestamp slot")?), r.u64("timestamp")? as i64)),
            tag => {
                return Err(VoteStateDecodeError::BadOptionTag {
                    field: "timestamp",
                    tag,
                })
            }
        };
        r.finish("vote state")?;
        Ok(VoteState {
            node,
            authorized_voter,
            votes,
            root,
            credits,
            epoch_credits,
            last_timestamp,
        })
    }
}

/// Agave's per-vote checks of a proposed tower: confirmations in `1..=31`, no vote at or below the
/// root (unless the root is slot 0), slots rising, confirmations falling, and each vote within the
/// lockout of the one below it.
fn check_tower_shape(votes: &[Lockout], root: Option<Slot>) -> Result<(), VoteStateError> {
    let mut previous: Option<Lockout> = None;
    for vote in votes {
        if vote.confirmation_count == 0 {
            return Err(VoteStateError::ZeroConfirmations { slot: vote.slot });
        }
        if vote.confirmation_count > MAX_LOCKOUT_HISTORY as u32 {
            return Err(VoteStateError::ConfirmationTooLarge {
                slot: vote.slot,
                confirmation_count: vote.confirmation_count,
            });
        }
        if let Some(root) = root {
            // Agave lets a tower rooted at slot 0 hold a vote on slot 0 (its towers always have a
            // root, 0 when empty).
            if vote.slot <= root && root != Slot(0) {
                return Err(VoteStateError::SlotSmallerThanRoot {
                    slot: vote.slot,
                    root,
                });
            }
        }
        if let Some(p) = previous {
            if p.slot >= vote.slot {
                return Err(VoteStateError::SlotsNotOrdered {
                    previous: p.slot,
                    slot: vote.slot,
                });
            }
            if p.confirmation_count <= vote.confirmation_count {
                return Err(VoteStateError::ConfirmationsNotOrdered {
                    previous_slot: p.slot,
                    previous: p.confirmation_count,
                    slot: vote.slot,
                    confirmation_count: vote.confirmation_count,
                });
            }
            if vote.slot > p.last_locked_out_slot() {
                return Err(VoteStateError::NewVoteStateLockoutMismatch {
                    previous: p.slot,
                    last_locked_out: p.last_locked_out_slot(),
                    slot: vote.slot,
                });
            }
        }
        previous = Some(*vote);
    }
    Ok(())
}

/// SHA-256 over the vote accounts written in a slot, sorted by address, each `address ‖ encoded
/// vote state` (the hash of nothing when none was written).
pub fn vote_delta_hash<'a>(delta: impl IntoIterator<Item = (&'a Pubkey, &'a VoteState)>) -> Hash {
    use sha2::{Digest, Sha256};
    let mut entries: Vec<(&Pubkey, &VoteState)> = delta.into_iter().collect();
    entries.sort_unstable_by_key(|(k, _)| *k);
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity(VOTE_STATE_SIZE_MAX);
    for (k, v) in entries {
        buf.clear();
        v.encode(&mut buf);
        h.update(k.as_bytes());
        h.update(&buf);
    }
    Hash(h.finalize().into())
}

#[cfg(test)]
mod tests;
