//! Votes in Solana's format: the vote program's id, lockouts, the `TowerSync` instruction and its
//! compact wire encoding, and the vote transaction a validator signs.
//!
//! A vote transaction is a legacy transaction with one instruction for the vote program:
//! `TowerSync` (discriminant 14) or `TowerSyncSwitch` (15, followed by a 32-byte switch-proof hash),
//! whose accounts are the vote account (writable) and the vote authority (signer). Its fee payer is
//! the validator identity, which is also the vote authority, so the message's keys are
//! `[identity (writable signer), vote account (writable), vote program (read-only)]` — exactly what
//! `solana_vote_interface::instruction::tower_sync` produces.
//!
//! `TowerSync` is encoded as Solana's `serde_tower_sync` does (bincode of `CompactTowerSync`):
//! `root u64 (u64::MAX = none) | short_vec of (varint slot offset, u8 confirmation count) | hash 32 |
//! option<i64> timestamp | block_id 32`. Each offset is relative to the previous lockout's slot, the
//! first one to the root (or 0 without a root).

use crate::byte_reader::{ByteReader, Prefix, ReadError, ReadErrorKind};
use crate::txn::write_compact_u16;
use crate::types::{Hash, Pubkey, Slot};

/// The vote program: `Vote111111111111111111111111111111111111111`.
pub const VOTE_PROGRAM_ID: Pubkey = Pubkey([
    7, 97, 72, 29, 53, 116, 116, 187, 124, 77, 118, 36, 235, 211, 189, 179, 216, 53, 94, 115, 209,
    16, 67, 252, 13, 163, 83, 128, 0, 0, 0, 0,
]);

/// Votes a tower holds; the one that would be the 32nd becomes the root (Solana's
/// `MAX_LOCKOUT_HISTORY`).
pub const MAX_LOCKOUT_HISTORY: usize = 31;
/// Lockout of a vote with one confirmation, in slots; it doubles with each confirmation.
pub const INITIAL_LOCKOUT: u64 = 2;
/// The vote instruction's discriminant for `TowerSync`.
pub const TOWER_SYNC: u32 = 14;
/// The vote instruction's discriminant for `TowerSyncSwitch`.
pub const TOWER_SYNC_SWITCH: u32 = 15;
/// Smallest encoded lockout: a 1-byte slot offset and the confirmation count.
const LOCKOUT_ENCODED_LEN_MIN: usize = 2;
/// Largest encoded `TowerSync`: root, a 1-byte count, 31 × (10-byte varint + 1), hash, timestamp,
/// block id.
pub const TOWER_SYNC_SIZE_MAX: usize = 8 + 1 + MAX_LOCKOUT_HISTORY * 11 + 32 + 9 + 32;

/// A voted slot and how often it has been confirmed since: it may not be abandoned for
/// `2^confirmation_count` slots after `slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lockout {
    /// The voted slot.
    pub slot: Slot,
    /// Votes stacked on it (1 when new).
    pub confirmation_count: u32,
}

impl Lockout {
    /// A fresh vote on `slot`.
    pub fn new(slot: Slot) -> Lockout {
        Lockout {
            slot,
            confirmation_count: 1,
        }
    }

    /// Slots this vote locks the voter onto its fork: `2^confirmation_count` (saturating).
    pub fn lockout(&self) -> u64 {
        INITIAL_LOCKOUT
            .checked_pow(self.confirmation_count)
            .unwrap_or(u64::MAX)
    }

    /// The last slot at which this vote still locks the voter out of other forks.
    pub fn last_locked_out_slot(&self) -> Slot {
        Slot(self.slot.0.saturating_add(self.lockout()))
    }

    /// Whether a vote for `slot` on another fork would break this lockout.
    pub fn is_locked_out_at_slot(&self, slot: Slot) -> bool {
        self.last_locked_out_slot() >= slot
    }
}

/// Why vote bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    /// The bytes end early.
    #[error("vote truncated: {field} at offset {offset}")]
    Truncated {
        /// What was being read.
        field: &'static str,
        /// Where.
        offset: usize,
    },
    /// An instruction other than `TowerSync`/`TowerSyncSwitch`.
    #[error(
        "vote instruction {0} is not supported (only TowerSync = 14 and TowerSyncSwitch = 15)"
    )]
    UnsupportedInstruction(u32),
    /// More lockouts than a tower holds.
    #[error("{0} lockouts, more than the {MAX_LOCKOUT_HISTORY} a tower holds")]
    TooManyLockouts(usize),
    /// A varint that is too long, overflows or is not in its shortest form.
    #[error("invalid varint at offset {0}")]
    BadVarint(usize),
    /// A length prefix that is not a canonical compact-u16.
    #[error("invalid compact-u16 at offset {0}")]
    BadCompactU16(usize),
    /// Lockout slots must rise, and stay above the root.
    #[error("lockout slots must increase from the root: offset {offset} at lockout {index}")]
    BadOffset {
        /// Lockout position.
        index: usize,
        /// The offset read.
        offset: u64,
    },
    /// An option tag other than 0 or 1.
    #[error("invalid option tag {0} for the timestamp")]
    BadOptionTag(u8),
    /// Bytes left over.
    #[error("{0} trailing bytes after the vote instruction")]
    TrailingBytes(usize),
}

impl From<ReadError> for VoteError {
    fn from(e: ReadError) -> Self {
        match e.kind {
            ReadErrorKind::Truncated { .. } => VoteError::Truncated {
                field: e.field,
                offset: e.offset,
            },
            ReadErrorKind::NonCanonical => VoteError::BadCompactU16(e.offset),
            // The lockout count is the only bounded count a vote has.
            ReadErrorKind::TooLarge { value, .. } => VoteError::TooManyLockouts(value),
            ReadErrorKind::TrailingBytes { extra } => VoteError::TrailingBytes(extra),
        }
    }
}

/// What a vote says: the voter's whole tower after voting on the newest slot in `lockouts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TowerSync {
    /// Voted slots, oldest first, with their confirmation counts.
    pub lockouts: Vec<Lockout>,
    /// The voter's root, if it has one.
    pub root: Option<Slot>,
    /// Bank hash of the newest voted slot.
    pub hash: Hash,
    /// The voter's wallclock when it voted, in seconds since the Unix epoch.
    pub timestamp: Option<i64>,
    /// Merkle root of the newest voted block's last FEC set (its block id).
    pub block_id: Hash,
}

impl TowerSync {
    /// The newest voted slot.
    pub fn last_voted_slot(&self) -> Option<Slot> {
        self.lockouts.last().map(|l| l.slot)
    }

    /// Appends the compact encoding (Solana's `serde_tower_sync`). Lockout slots must rise from the
    /// root; an out-of-order tower encodes offsets of 0 where it goes backwards (and then fails to
    /// decode), which no honest tower produces.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.root.map_or(u64::MAX, |r| r.0).to_le_bytes());
        // At most MAX_LOCKOUT_HISTORY in any tower we build; a longer one still encodes.
        write_compact_u16(out, u16::try_from(self.lockouts.len()).unwrap_or(u16::MAX));
        let mut prev = self.root.map_or(0, |r| r.0);
        for l in &self.lockouts {
            write_varint(out, l.slot.0.saturating_sub(prev));
            out.push(u8::try_from(l.confirmation_count).unwrap_or(u8::MAX));
            prev = l.slot.0;
        }
        out.extend_from_slice(self.hash.as_bytes());
        match self.timestamp {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
        out.extend_from_slice(self.block_id.as_bytes());
    }

    /// Decodes one encoded `TowerSync` at the start of `bytes`, returning it and the bytes read.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(TowerSync, usize), VoteError> {
        let mut r = ByteReader::new(bytes);
        let mut lockouts = Vec::with_capacity(MAX_LOCKOUT_HISTORY);
        let fixed = read_tower(&mut r, |l| lockouts.push(l))?;
        Ok((fixed.with_lockouts(lockouts), r.position()))
    }
}

/// A tower's fields other than its lockouts, as [`read_tower`] reads them.
struct TowerFixed {
    root: Option<Slot>,
    hash: Hash,
    timestamp: Option<i64>,
    block_id: Hash,
}

impl TowerFixed {
    fn with_lockouts(self, lockouts: Vec<Lockout>) -> TowerSync {
        TowerSync {
            lockouts,
            root: self.root,
            hash: self.hash,
            timestamp: self.timestamp,
            block_id: self.block_id,
        }
    }
}

/// Reads one encoded `TowerSync`, handing each lockout to `on_lockout` as it is read, so that a
/// caller that only validates allocates nothing.
fn read_tower(
    r: &mut ByteReader<'_>,
    mut on_lockout: impl FnMut(Lockout),
) -> Result<TowerFixed, VoteError> {
    let root = r.u64("root")?;
    let root = (root != u64::MAX).then_some(Slot(root));
    let n = r.count(
        "lockout count",
        Prefix::CompactU16,
        MAX_LOCKOUT_HISTORY,
        LOCKOUT_ENCODED_LEN_MIN,
    )?;
    let mut slot = root.map_or(0, |r| r.0);
    for index in 0..n {
        let offset = read_varint(r)?;
        // Slots rise strictly, except that without a root the first vote may be slot 0.
        let first_unrooted = index == 0 && root.is_none();
        if offset == 0 && !first_unrooted {
            return Err(VoteError::BadOffset { index, offset });
        }
        slot = slot
            .checked_add(offset)
            .ok_or(VoteError::BadOffset { index, offset })?;
        let confirmation_count = u32::from(r.u8("confirmation count")?);
        on_lockout(Lockout {
            slot: Slot(slot),
            confirmation_count,
        });
    }
    let hash = Hash(r.array("hash")?);
    let timestamp = match r.u8("timestamp tag")? {
        0 => None,
        1 => Some(r.u64("timestamp")? as i64),
        t => return Err(VoteError::BadOptionTag(t)),
    };
    let block_id = Hash(r.array("block id")?);
    Ok(TowerFixed {
        root,
        hash,
        timestamp,
        block_id,
    })
}

/// The name of vote program instruction `discriminant` (Solana's `VoteInstruction` variants), for
/// errors that refuse the ones this validator does not execute.
pub fn vote_instruction_name(discriminant: u32) -> &'static str {
    match discriminant {
        0 => "InitializeAccount",
        1 => "Authorize",
        2 => "Vote",
        3 => "Withdraw",
        4 => "UpdateValidatorIdentity",
        5 => "UpdateCommission",
        6 => "VoteSwitch",
        7 => "AuthorizeChecked",
        8 => "UpdateVoteState",
        9 => "UpdateVoteStateSwitch",
        10 => "AuthorizeWithSeed",
        11 => "AuthorizeCheckedWithSeed",
        12 => "CompactUpdateVoteState",
        13 => "CompactUpdateVoteStateSwitch",
        TOWER_SYNC => "TowerSync",
        TOWER_SYNC_SWITCH => "TowerSyncSwitch",
        _ => "unknown",
    }
}

/// A vote program instruction this validator accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VoteInstruction {
    /// Sync the vote account's state with the voter's tower.
    TowerSync(TowerSync),
    /// The same, with the hash of the voter's switching proof.
    TowerSyncSwitch(TowerSync, Hash),
}

impl VoteInstruction {
    /// The tower either variant carries.
    pub fn tower(&self) -> &TowerSync {
        match self {
            VoteInstruction::TowerSync(t) | VoteInstruction::TowerSyncSwitch(t, _) => t,
        }
    }

    /// Decodes instruction data (bounded, no trailing bytes).
    pub fn decode(data: &[u8]) -> Result<VoteInstruction, VoteError> {
        let mut lockouts = Vec::with_capacity(MAX_LOCKOUT_HISTORY);
        let (fixed, switch_proof) = read_instruction(data, |l| lockouts.push(l))?;
        let tower = fixed.with_lockouts(lockouts);
        Ok(match switch_proof {
            None => VoteInstruction::TowerSync(tower),
            Some(hash) => VoteInstruction::TowerSyncSwitch(tower, hash),
        })
    }

    /// Checks instruction data exactly as [`VoteInstruction::decode`] does, without allocating (the
    /// transaction parser's path).
    pub fn check(data: &[u8]) -> Result<(), VoteError> {
        read_instruction(data, |_| {}).map(|_| ())
    }

    /// Appends the instruction data.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            VoteInstruction::TowerSync(t) => {
                out.extend_from_slice(&TOWER_SYNC.to_le_bytes());
                t.encode(out);
            }
            VoteInstruction::TowerSyncSwitch(t, h) => {
                out.extend_from_slice(&TOWER_SYNC_SWITCH.to_le_bytes());
                t.encode(out);
                out.extend_from_slice(h.as_bytes());
            }
        }
    }
}

/// Reads vote instruction data: the tower's fixed fields (lockouts go to `on_lockout`) and, for
/// `TowerSyncSwitch`, the switch-proof hash.
fn read_instruction(
    data: &[u8],
    on_lockout: impl FnMut(Lockout),
) -> Result<(TowerFixed, Option<Hash>), VoteError> {
    let mut r = ByteReader::new(data);
    let discriminant = r.u32("instruction discriminant")?;
    if discriminant != TOWER_SYNC && discriminant != TOWER_SYNC_SWITCH {
        return Err(VoteError::UnsupportedInstruction(discriminant));
    }
    let fixed = read_tower(&mut r, on_lockout)?;
    let switch_proof = if discriminant == TOWER_SYNC_SWITCH {
        Some(Hash(r.array("switch proof hash")?))
    } else {
        None
    };
    r.finish("vote instruction")?;
    Ok((fixed, switch_proof))
}

/// The vote account genesis creates for a validator identity: SHA-256 of a domain tag and the
/// identity (an address nobody holds a key for, as with Solana's program-derived addresses).
pub fn vote_account_address(identity: &Pubkey) -> Pubkey {
    Pubkey(Hash::hashv(&[b"blackbook-vote-account", identity.as_bytes()]).0)
}

/// The message of a vote transaction (what the identity signs): keys `[identity, vote account, vote
/// program]`, header `1 signer, 0 read-only signed, 1 read-only unsigned`.
pub fn vote_message(
    identity: &Pubkey,
    vote_account: &Pubkey,
    instruction: &VoteInstruction,
    recent_blockhash: &Hash,
) -> Vec<u8> {
    let mut data = Vec::with_capacity(4 + TOWER_SYNC_SIZE_MAX + 32);
    instruction.encode(&mut data);
    let mut msg = Vec::with_capacity(3 + 1 + 96 + 32 + 8 + data.len());
    msg.extend_from_slice(&[1, 0, 1]);
    write_compact_u16(&mut msg, 3);
    msg.extend_from_slice(identity.as_bytes());
    msg.extend_from_slice(vote_account.as_bytes());
    msg.extend_from_slice(VOTE_PROGRAM_ID.as_bytes());
    msg.extend_from_slice(recent_blockhash.as_bytes());
    write_compact_u16(&mut msg, 1);
    msg.push(2); // program index: the vote program
    write_compact_u16(&mut msg, 2);
    msg.extend_from_slice(&[1, 0]); // vote account, then the authority (the identity)
    write_compact_u16(&mut msg, u16::try_from(data.len()).unwrap_or(u16::MAX));
    msg.extend_from_slice(&data);
    msg
}

/// Builds a signed vote transaction; `sign` signs the message with the identity's key.
pub fn build_vote_txn(
    identity: &Pubkey,
    vote_account: &Pubkey,
    instruction: &VoteInstruction,
    recent_blockhash: &Hash,
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> Vec<u8> {
    let msg = vote_message(identity, vote_account, instruction, recent_blockhash);
    let sig = sign(&msg);
    let mut out = Vec::with_capacity(1 + 64 + msg.len());
    write_compact_u16(&mut out, 1);
    out.extend_from_slice(&sig);
    out.extend_from_slice(&msg);
    out
}

/// Appends `v` as Solana's `serde_varint` (LEB128, 7 bits per byte).
fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads Solana's `serde_varint` `u64` in canonical form only: at most 10 bytes, no redundant
/// final zero byte, no overflow (so each offset has one encoding, as in Solana's decoder).
fn read_varint(r: &mut ByteReader<'_>) -> Result<u64, VoteError> {
    let start = r.position();
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = r.u8("lockout offset")?;
        let bits = u64::from(b & 0x7f);
        if i == 9 && bits > 1 {
            return Err(VoteError::BadVarint(start));
        }
        v |= bits << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(VoteError::BadVarint(start));
            }
            return Ok(v);
        }
    }
    Err(VoteError::BadVarint(start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tower(root: Option<u64>, slots: &[(u64, u32)]) -> TowerSync {
        TowerSync {
            lockouts: slots
                .iter()
                .map(|&(s, c)| Lockout {
                    slot: Slot(s),
                    confirmation_count: c,
                })
                .collect(),
            root: root.map(Slot),
            hash: Hash([7; 32]),
            timestamp: Some(1_700_000_000),
            block_id: Hash([9; 32]),
        }
    }

    #[test]
    fn the_program_id_is_solanas() {
        assert_eq!(
            VOTE_PROGRAM_ID.to_string(),
            "Vote111111111111111111111111111111111111111"
        );
    }

    #[test]
    fn lockouts_double_and_saturate() {
        let l = Lockout {
            slot: Slot(10),
            confirmation_count: 3,
        };
        assert_eq!(l.lockout(), 8);
        assert_eq!(l.last_locked_out_slot(), Slot(18));
        assert!(l.is_locked_out_at_slot(Slot(18)));
        assert!(!l.is_locked_out_at_slot(Slot(19)));
        let huge = Lockout {
            slot: Slot(u64::MAX - 1),
            confirmation_count: 200,
        };
        assert_eq!(huge.last_locked_out_slot(), Slot(u64::MAX));
    }

    #[test]
    fn tower_sync_round_trips_with_and_without_root() {
        for t in [
            tower(Some(100), &[(101, 3), (105, 2), (300, 1)]),
            tower(None, &[(0, 2), (1, 1)]),
            tower(None, &[]),
        ] {
            for ix in [
                VoteInstruction::TowerSync(t.clone()),
                VoteInstruction::TowerSyncSwitch(t.clone(), Hash([3; 32])),
            ] {
                let mut data = Vec::new();
                ix.encode(&mut data);
                assert_eq!(VoteInstruction::decode(&data), Ok(ix));
            }
        }
    }

    #[test]
    fn bad_vote_data_is_refused_by_name() {
        let mut data = Vec::new();
        VoteInstruction::TowerSync(tower(Some(5), &[(6, 1)])).encode(&mut data);
        assert_eq!(
            VoteInstruction::decode(&data[..data.len() - 1]),
            Err(VoteError::Truncated {
                field: "block id",
                offset: 4 + 8 + 1 + 2 + 32 + 9
            })
        );
        let mut trailing = data.clone();
        trailing.push(0);
        assert_eq!(
            VoteInstruction::decode(&trailing),
            Err(VoteError::TrailingBytes(1))
        );
        let mut other = data.clone();
        other[0] = 2;
        assert_eq!(
            VoteInstruction::decode(&other),
            Err(VoteError::UnsupportedInstruction(2))
        );
        // A zero offset after the first lockout: slots must rise.
        let mut repeat = Vec::new();
        VoteInstruction::TowerSync(tower(Some(5), &[(6, 2), (7, 1)])).encode(&mut repeat);
        let second_offset = 4 + 8 + 1 + 2;
        repeat[second_offset] = 0;
        assert!(matches!(
            VoteInstruction::decode(&repeat),
            Err(VoteError::BadOffset { index: 1, .. })
        ));
        // A non-canonical varint (0x81 0x00 for 1).
        let mut r = ByteReader::new(&[0x81, 0x00]);
        assert_eq!(read_varint(&mut r), Err(VoteError::BadVarint(0)));
        // A lockout count of 1 in two bytes (0x81 0x00): an alias Solana refuses.
        let mut aliased = Vec::new();
        aliased.extend_from_slice(&TOWER_SYNC.to_le_bytes());
        aliased.extend_from_slice(&u64::MAX.to_le_bytes());
        aliased.extend_from_slice(&[0x81, 0x00]);
        assert_eq!(
            VoteInstruction::decode(&aliased),
            Err(VoteError::BadCompactU16(12))
        );
        // 32 lockouts announced.
        let mut many = Vec::new();
        many.extend_from_slice(&TOWER_SYNC.to_le_bytes());
        many.extend_from_slice(&u64::MAX.to_le_bytes());
        many.push(32);
        assert_eq!(
            VoteInstruction::decode(&many),
            Err(VoteError::TooManyLockouts(32))
        );
    }

    #[test]
    fn a_vote_transaction_is_signed_over_its_message() {
        use ed25519_dalek::{Signer, SigningKey, Verifier};
        let key = SigningKey::from_bytes(&[5; 32]);
        let identity = Pubkey(key.verifying_key().to_bytes());
        let vote_account = vote_account_address(&identity);
        let ix = VoteInstruction::TowerSync(tower(Some(1), &[(2, 1)]));
        let wire = build_vote_txn(&identity, &vote_account, &ix, &Hash([4; 32]), |m| {
            key.sign(m).to_bytes()
        });
        let msg = vote_message(&identity, &vote_account, &ix, &Hash([4; 32]));
        assert_eq!(&wire[65..], &msg[..]);
        let sig = ed25519_dalek::Signature::from_bytes(wire[1..65].try_into().unwrap());
        assert!(key.verifying_key().verify(&msg, &sig).is_ok());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = VoteInstruction::decode(&bytes);
        }

        #[test]
        fn rising_towers_round_trip(
            root in proptest::option::of(0u64..1_000_000),
            gaps in proptest::collection::vec((1u64..5_000, 1u32..32), 0..=31),
            ts in proptest::option::of(any::<i64>()),
        ) {
            let mut slot = root.unwrap_or(0);
            let lockouts = gaps.iter().map(|&(g, c)| { slot += g; Lockout { slot: Slot(slot), confirmation_count: c } }).collect();
            let t = TowerSync { lockouts, root: root.map(Slot), hash: Hash([1; 32]), timestamp: ts, block_id: Hash([2; 32]) };
            let mut data = Vec::new();
            VoteInstruction::TowerSync(t.clone()).encode(&mut data);
            prop_assert_eq!(VoteInstruction::decode(&data), Ok(VoteInstruction::TowerSync(t)));
        }
    }
}
