//! Solana transactions (legacy and v0 messages): a zero-copy, bounded parser and a transfer
//! builder.
//!
//! The parser records offsets into the packet (as Firedancer's `fd_txn_parse` does) and allocates
//! nothing; every length is checked against what is left of the packet before it is used, so any byte
//! string either parses into a [`TxnLayout`] or yields a [`TxnError`] naming the problem.
//!
//! Two kinds of transaction are accepted: *transfers*, whose every instruction is a System Program
//! `Transfer` or a Compute Budget `SetComputeUnitLimit`/`SetComputeUnitPrice` (see
//! [`crate::compute_budget`]), and *votes*, whose only instruction is the vote program's `TowerSync` or
//! `TowerSyncSwitch` over `[vote account (writable, unsigned), vote authority (signer)]`, with the
//! authority paying the fee (see [`crate::vote`]). The compute budget is read once, here, and kept in
//! the layout: the fee and the banking stage's priority come from it without parsing again.
//!
//! Wire format (Solana's): `compact-u16 n, n × 64-byte signatures, message`, where the legacy message is
//! `header(3) | compact-u16 k, k × 32-byte keys | 32-byte recent blockhash | compact-u16 m, m ×
//! (program index u8, compact-u16 a, a × u8 account index, compact-u16 d, d × data byte)`.
//!
//! A versioned message starts with a byte whose top bit is set and whose low 7 bits are the version
//! (a legacy header's first byte, a signer count, never has it set). Version 0 is `0x80 | legacy
//! message | compact-u16 l, l × address table lookup`; we accept it with no lookups (`l` = 0), since
//! accounts loaded from a lookup table would need the table's on-chain contents. The signatures cover
//! the whole message, version byte included.

use ed25519_dalek::{Signer, SigningKey};

use crate::byte_reader::{ByteReader, Prefix, ReadError, ReadErrorKind};
use crate::compute_budget::{
    ComputeBudget, ComputeBudgetError, ComputeBudgetInstruction, ComputeBudgetRequests,
    COMPUTE_BUDGET_PROGRAM_ID,
};
use crate::types::{Hash, Lamports, Pubkey, Signature};
use crate::vote::{vote_instruction_name, VoteError, VoteInstruction, VOTE_PROGRAM_ID};

/// Largest transaction we accept, in bytes: Solana's `PACKET_DATA_SIZE` (IPv6 MTU minus headers).
pub const TXN_SIZE_MAX: usize = 1232;
/// Most signatures that fit in one packet (19 × 64 + the rest of a minimal message ≤ 1232).
pub const SIGNATURES_MAX: usize = 19;
/// Most account keys that fit in one packet after one signature.
pub const ACCOUNT_KEYS_MAX: usize = 35;
/// Most instructions one transaction may carry (each needs at least 3 bytes).
pub const INSTRUCTIONS_MAX: usize = 64;
/// Size of a System Program transfer's instruction data: `u32` discriminant 2, `u64` lamports.
pub const TRANSFER_DATA_LEN: usize = 12;
/// The System Program's instruction discriminant for `Transfer`.
const SYSTEM_TRANSFER: u32 = 2;

/// Why a byte string is not an acceptable transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// Larger than one packet.
    #[error("transaction is {len} bytes, more than the {TXN_SIZE_MAX}-byte limit")]
    Oversized {
        /// Bytes received.
        len: usize,
    },
    /// The bytes end before a field they announce.
    #[error(
        "transaction truncated: {field} needs {needed} bytes at offset {offset}, {available} left"
    )]
    Truncated {
        /// What was being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A compact-u16 length is longer than 3 bytes, overflows, or is not in its shortest form.
    #[error("invalid compact-u16 length for {field} at offset {offset}")]
    BadCompactU16 {
        /// What was being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
    },
    /// Bytes are left after the last instruction.
    #[error("{extra} trailing bytes after the transaction")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A versioned message of a version other than 0.
    #[error("message version {version} is not supported (only legacy and v0 messages are)")]
    UnsupportedVersion {
        /// The version (the prefix byte's low 7 bits).
        version: u8,
    },
    /// A v0 message that loads accounts from address lookup tables.
    #[error(
        "v0 message has {count} address table lookups: address lookup tables are not supported \
         (list every account in the message's account keys)"
    )]
    AddressTableLookups {
        /// Lookups announced.
        count: usize,
    },
    /// The header, the signature count and the key count disagree.
    #[error("invalid message header: {0}")]
    BadHeader(&'static str),
    /// More of something than a packet can hold.
    #[error("{field} {count} exceeds the limit {max}")]
    TooMany {
        /// The count that is too large.
        field: &'static str,
        /// How many were announced.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// An instruction names an account index past the key list.
    #[error(
        "instruction {instruction} uses account index {index}, but the message has {num_keys} keys"
    )]
    AccountIndexOutOfRange {
        /// Instruction position.
        instruction: usize,
        /// The bad index.
        index: u8,
        /// Keys in the message.
        num_keys: usize,
    },
    /// The same account key appears twice.
    #[error("account key {0} appears more than once")]
    DuplicateAccountKey(Pubkey),
    /// The transaction has no instructions.
    #[error("transaction has no instructions")]
    NoInstructions,
    /// An instruction calls a program other than the System, Compute Budget and vote programs.
    #[error(
        "program {0} is not supported (only the System Program's Transfer, the Compute Budget \
         program's SetComputeUnitLimit and SetComputeUnitPrice, and the vote program's TowerSync \
         are)"
    )]
    UnsupportedProgram(Pubkey),
    /// A Compute Budget instruction this chain does not run, or whose data does not decode.
    #[error("instruction {instruction}: {error}")]
    ComputeBudget {
        /// Instruction position.
        instruction: usize,
        /// What is wrong.
        error: ComputeBudgetError,
    },
    /// A second `SetComputeUnitLimit` or `SetComputeUnitPrice` (Solana's `DuplicateInstruction`).
    #[error(
        "instruction {instruction} repeats a Compute Budget instruction the transaction already \
         has (DuplicateInstruction)"
    )]
    DuplicateInstruction {
        /// Position of the repeat.
        instruction: u8,
    },
    /// A System Program instruction other than `Transfer`.
    #[error("system instruction {discriminant} is not supported (only Transfer = 2 is)")]
    UnsupportedInstruction {
        /// The instruction's discriminant, or `u32::MAX` if its data is shorter than 4 bytes.
        discriminant: u32,
    },
    /// A transfer with the wrong accounts or data length.
    #[error("malformed transfer in instruction {instruction}: {reason}")]
    MalformedTransfer {
        /// Instruction position.
        instruction: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A vote instruction in a transaction with other instructions (transfers or more votes).
    #[error(
        "a vote transaction carries exactly one instruction, this one has {instructions} \
         (votes cannot be mixed with transfers)"
    )]
    VoteNotAlone {
        /// Instructions in the transaction.
        instructions: usize,
    },
    /// A vote program instruction other than `TowerSync`/`TowerSyncSwitch`.
    #[error(
        "vote instruction {name} ({discriminant}) is not supported (only TowerSync = 14 and \
         TowerSyncSwitch = 15 are)"
    )]
    UnsupportedVoteInstruction {
        /// The instruction's discriminant.
        discriminant: u32,
        /// Its name in Solana's `VoteInstruction`.
        name: &'static str,
    },
    /// A vote whose accounts do not have the roles a `TowerSync` needs.
    #[error("malformed vote: {reason}")]
    MalformedVote {
        /// What is wrong.
        reason: &'static str,
    },
    /// A `TowerSync` whose data does not decode.
    #[error("malformed vote data: {0}")]
    BadVoteData(VoteError),
}

impl TxnError {
    /// The error in Solana's `TransactionError` JSON shape where Solana reports it as one (from
    /// `sendTransaction`'s preflight): a repeated compute budget request is `DuplicateInstruction`,
    /// compute budget data that does not decode is `InvalidInstructionData`. `None` for the others,
    /// which Solana refuses before any transaction error exists (or does not refuse at all).
    pub fn to_solana_json(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        match self {
            TxnError::DuplicateInstruction { instruction } => {
                Some(json!({ "DuplicateInstruction": instruction }))
            }
            TxnError::ComputeBudget {
                instruction,
                error: ComputeBudgetError::Malformed(_),
            } => Some(json!({ "InstructionError": [instruction, "InvalidInstructionData"] })),
            _ => None,
        }
    }
}

impl From<ReadError> for TxnError {
    fn from(e: ReadError) -> Self {
        let ReadError {
            field,
            offset,
            kind,
        } = e;
        match kind {
            ReadErrorKind::Truncated { needed, available } => TxnError::Truncated {
                field,
                offset,
                needed,
                available,
            },
            ReadErrorKind::NonCanonical => TxnError::BadCompactU16 { field, offset },
            ReadErrorKind::TooLarge { value, max } => TxnError::TooMany {
                field,
                count: value,
                max,
            },
            ReadErrorKind::TrailingBytes { extra } => TxnError::TrailingBytes { extra },
        }
    }
}

/// A message's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageVersion {
    /// Solana's original message, without a version byte.
    #[default]
    Legacy,
    /// Version 0 (prefix byte `0x80`), here always without address table lookups.
    V0,
}

/// Offsets and counts of one parsed transaction, relative to the start of its bytes.
///
/// All offsets fit in `u16` because a transaction is at most [`TXN_SIZE_MAX`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxnLayout {
    /// Total length in bytes.
    pub len: u16,
    /// Number of signatures (equals `num_required_signatures`).
    pub num_signatures: u8,
    /// Offset of the first signature.
    pub signatures_off: u16,
    /// Offset of the message (what the signatures sign; a v0 message's version byte included).
    pub message_off: u16,
    /// Legacy or v0.
    pub version: MessageVersion,
    /// Header: signatures required.
    pub num_required_signatures: u8,
    /// Header: read-only accounts among the signers.
    pub num_readonly_signed: u8,
    /// Header: read-only accounts among the non-signers.
    pub num_readonly_unsigned: u8,
    /// Number of account keys.
    pub num_account_keys: u8,
    /// Offset of the first account key.
    pub account_keys_off: u16,
    /// Offset of the recent blockhash.
    pub recent_blockhash_off: u16,
    /// Number of instructions.
    pub num_instructions: u8,
    /// Offset of the first instruction.
    pub instructions_off: u16,
    /// A vote transaction (one `TowerSync` instruction) rather than transfers.
    pub is_vote: bool,
    /// Compute unit limit, requested or by default (see [`crate::compute_budget`]).
    pub compute_unit_limit: u32,
    /// Compute unit price in micro-lamports (0 when none is set).
    pub compute_unit_price: u64,
}

impl TxnLayout {
    /// The compute budget read by [`parse`].
    pub fn compute_budget(&self) -> ComputeBudget {
        ComputeBudget {
            unit_limit: self.compute_unit_limit,
            unit_price: self.compute_unit_price,
        }
    }
}

/// One System Program transfer, with accounts as indices into the key list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// Position of its instruction in the transaction (Compute Budget instructions count too).
    pub instruction: u8,
    /// Index of the debited account (a writable signer).
    pub from: u8,
    /// Index of the credited account (writable).
    pub to: u8,
    /// Amount moved.
    pub lamports: Lamports,
}

/// Appends `v` as a compact-u16.
pub fn write_compact_u16(out: &mut Vec<u8>, mut v: u16) {
    loop {
        let mut b = (v & 0x7f) as u8;
        v >>= 7;
        if v != 0 {
            b |= 0x80;
        }
        out.push(b);
        if v == 0 {
            break;
        }
    }
}

/// Parses and sanitizes a transaction without allocating: its shape (every length, to the last
/// byte), then what its instructions do.
///
/// Accepts legacy and v0 messages (v0 without address table lookups) whose every instruction is a
/// System Program transfer between distinct-role accounts (debited account a writable signer,
/// credited account writable) or a Compute Budget limit or price (each at most once), or whose only
/// instruction is a vote (see the module docs).
pub fn parse(bytes: &[u8]) -> Result<TxnLayout, TxnError> {
    if bytes.len() > TXN_SIZE_MAX {
        return Err(TxnError::Oversized { len: bytes.len() });
    }
    let mut r = ByteReader::new(bytes);
    // Nothing is allocated per counted item here: each `take` checks the bytes the count needs.
    let num_signatures = r.count("signature count", Prefix::CompactU16, SIGNATURES_MAX, 0)?;
    let signatures_off = r.position();
    r.take("signatures", num_signatures * Signature::LEN)?;
    let message_off = r.position();
    let version = message_version(&mut r)?;

    let num_required_signatures = r.u8("message header")?;
    let num_readonly_signed = r.u8("message header")?;
    let num_readonly_unsigned = r.u8("message header")?;
    if usize::from(num_required_signatures) != num_signatures {
        return Err(TxnError::BadHeader(
            "signature count differs from the header's required signatures",
        ));
    }
    if num_required_signatures == 0 {
        return Err(TxnError::BadHeader(
            "a transaction needs a fee payer signature",
        ));
    }
    if num_readonly_signed >= num_required_signatures {
        return Err(TxnError::BadHeader("the fee payer must be writable"));
    }

    let num_keys = r.count("account key count", Prefix::CompactU16, ACCOUNT_KEYS_MAX, 0)?;
    if usize::from(num_required_signatures) + usize::from(num_readonly_unsigned) > num_keys {
        return Err(TxnError::BadHeader(
            "signers plus read-only unsigned accounts exceed the account keys",
        ));
    }
    let account_keys_off = r.position();
    let keys = r.take("account keys", num_keys * Pubkey::LEN)?;
    // Quadratic, but over at most 35 keys; a hash set would allocate.
    for i in 1..num_keys {
        let ki = &keys[i * 32..i * 32 + 32];
        for j in 0..i {
            if ki == &keys[j * 32..j * 32 + 32] {
                return Err(TxnError::DuplicateAccountKey(
                    Pubkey::try_from_slice(ki).unwrap_or_default(),
                ));
            }
        }
    }
    let recent_blockhash_off = r.position();
    r.take("recent blockhash", Hash::LEN)?;

    let num_instructions = r.count("instruction count", Prefix::CompactU16, INSTRUCTIONS_MAX, 0)?;
    if num_instructions == 0 {
        return Err(TxnError::NoInstructions);
    }
    let instructions_off = r.position();
    // The message's shape first, as Solana deserializes before it sanitizes: a v0 message's lookups
    // are known before any instruction is judged, so an instruction naming an account a lookup
    // would load is refused for the lookup, not for an index past the keys.
    for _ in 0..num_instructions {
        read_instruction(&mut r)?;
    }
    if version == MessageVersion::V0 {
        let count = usize::from(r.compact_u16("address table lookup count")?);
        if count != 0 {
            return Err(TxnError::AddressTableLookups { count });
        }
    }
    r.finish("transaction")?;
    let roles = KeyRoles {
        num_keys,
        num_required_signatures: usize::from(num_required_signatures),
        num_readonly_signed: usize::from(num_readonly_signed),
        num_readonly_unsigned: usize::from(num_readonly_unsigned),
    };
    let instructions = ByteReader::at(bytes, instructions_off);
    let (is_vote, budget) = check_instructions(instructions, num_instructions, keys, &roles)?;
    Ok(TxnLayout {
        len: bytes.len() as u16,
        num_signatures: num_required_signatures,
        signatures_off: signatures_off as u16,
        message_off: message_off as u16,
        version,
        num_required_signatures,
        num_readonly_signed,
        num_readonly_unsigned,
        num_account_keys: num_keys as u8,
        account_keys_off: account_keys_off as u16,
        recent_blockhash_off: recent_blockhash_off as u16,
        num_instructions: num_instructions as u8,
        instructions_off: instructions_off as u16,
        is_vote,
        compute_unit_limit: budget.unit_limit,
        compute_unit_price: budget.unit_price,
    })
}

/// Parses a message — the bytes a transaction's signatures sign — as [`parse`] parses a whole
/// transaction, behind placeholder signatures: what quoting the fee of an unsigned message needs
/// (RPC `getFeeForMessage`). Offsets, in the layout and in errors, count the placeholders.
pub fn parse_message(message: &[u8]) -> Result<TxnLayout, TxnError> {
    if message.len() > TXN_SIZE_MAX {
        return Err(TxnError::Oversized { len: message.len() });
    }
    // A v0 message's header follows its version byte.
    let header_at = usize::from(message.first().is_some_and(|b| b & 0x80 != 0));
    let Some(&signers) = message.get(header_at) else {
        return Err(TxnError::Truncated {
            field: "message header",
            offset: header_at,
            needed: 1,
            available: 0,
        });
    };
    let signers = usize::from(signers);
    if signers > SIGNATURES_MAX {
        return Err(TxnError::TooMany {
            field: "signature count",
            count: signers,
            max: SIGNATURES_MAX,
        });
    }
    let mut wire = Vec::with_capacity(1 + signers * Signature::LEN + message.len());
    write_compact_u16(&mut wire, signers as u16);
    wire.resize(wire.len() + signers * Signature::LEN, 0);
    wire.extend_from_slice(message);
    parse(&wire)
}

/// One compiled instruction: program index, account indices and data.
fn read_instruction<'a>(r: &mut ByteReader<'a>) -> Result<(u8, &'a [u8], &'a [u8]), TxnError> {
    let program_index = r.u8("program index")?;
    let num_accounts = r.compact_u16("instruction account count")?;
    let accounts = r.take("instruction accounts", usize::from(num_accounts))?;
    let data_len = r.compact_u16("instruction data length")?;
    let data = r.take("instruction data", usize::from(data_len))?;
    Ok((program_index, accounts, data))
}

/// Checks the `num_instructions` instructions at `r` (whose shape [`parse`] has read) against the
/// key list: indices in range, and transfers and compute budget requests only, or one vote. Returns
/// whether it is a vote, and its compute budget.
fn check_instructions(
    mut r: ByteReader<'_>,
    num_instructions: usize,
    keys: &[u8],
    roles: &KeyRoles,
) -> Result<(bool, ComputeBudget), TxnError> {
    let num_keys = roles.num_keys;
    let mut is_vote = false;
    let mut budget = ComputeBudgetRequests::default();
    for ix in 0..num_instructions {
        let (program_index, accounts, data) = read_instruction(&mut r)?;
        let out_of_range = std::iter::once(&program_index)
            .chain(accounts)
            .find(|&&i| usize::from(i) >= num_keys);
        if let Some(&index) = out_of_range {
            return Err(TxnError::AccountIndexOutOfRange {
                instruction: ix,
                index,
                num_keys,
            });
        }
        let pi = usize::from(program_index) * 32;
        let program = &keys[pi..pi + 32];
        if program == Pubkey::SYSTEM_PROGRAM.as_bytes() {
            check_transfer(ix, accounts, data, roles, program_index)?;
        } else if program == VOTE_PROGRAM_ID.as_bytes() {
            if num_instructions != 1 {
                return Err(TxnError::VoteNotAlone {
                    instructions: num_instructions,
                });
            }
            check_vote(accounts, data, roles, program_index)?;
            is_vote = true;
        } else if program == COMPUTE_BUDGET_PROGRAM_ID.as_bytes() {
            // Solana ignores a compute budget instruction's accounts; so do we.
            let request = ComputeBudgetInstruction::decode(data).map_err(|error| {
                TxnError::ComputeBudget {
                    instruction: ix,
                    error,
                }
            })?;
            budget
                .add(request)
                .map_err(|_| TxnError::DuplicateInstruction {
                    // At most INSTRUCTIONS_MAX (64) instructions.
                    instruction: ix as u8,
                })?;
        } else {
            return Err(TxnError::UnsupportedProgram(
                Pubkey::try_from_slice(program).unwrap_or_default(),
            ));
        }
    }
    Ok((is_vote, budget.finish(num_instructions)))
}

/// Reads a versioned message's prefix byte, if there is one. A legacy message starts with its
/// header instead, whose first byte is its signer count: Solana reads any first byte with the top
/// bit set as a version prefix, so a legacy message has fewer than 128 signers.
fn message_version(r: &mut ByteReader<'_>) -> Result<MessageVersion, TxnError> {
    let Some(first) = r.peek_u8() else {
        return Ok(MessageVersion::Legacy); // the header read reports the truncation
    };
    if first & 0x80 == 0 {
        return Ok(MessageVersion::Legacy);
    }
    r.u8("message version")?;
    match first & 0x7f {
        0 => Ok(MessageVersion::V0),
        version => Err(TxnError::UnsupportedVersion { version }),
    }
}

struct KeyRoles {
    num_keys: usize,
    num_required_signatures: usize,
    num_readonly_signed: usize,
    num_readonly_unsigned: usize,
}

impl KeyRoles {
    fn is_signer(&self, i: usize) -> bool {
        i < self.num_required_signatures
    }

    fn is_writable(&self, i: usize) -> bool {
        if i < self.num_required_signatures {
            i < self.num_required_signatures - self.num_readonly_signed
        } else {
            i < self.num_keys - self.num_readonly_unsigned
        }
    }
}

fn check_transfer(
    ix: usize,
    accounts: &[u8],
    data: &[u8],
    roles: &KeyRoles,
    program_index: u8,
) -> Result<(), TxnError> {
    let discriminant = match data.get(..4) {
        Some(d) => u32::from_le_bytes([d[0], d[1], d[2], d[3]]),
        None => u32::MAX,
    };
    if discriminant != SYSTEM_TRANSFER {
        return Err(TxnError::UnsupportedInstruction { discriminant });
    }
    let malformed = |reason| TxnError::MalformedTransfer {
        instruction: ix,
        reason,
    };
    if data.len() != TRANSFER_DATA_LEN {
        return Err(malformed("instruction data must be 12 bytes"));
    }
    if accounts.len() != 2 {
        return Err(malformed("a transfer takes exactly 2 accounts"));
    }
    let (from, to) = (usize::from(accounts[0]), usize::from(accounts[1]));
    if accounts[0] == program_index || accounts[1] == program_index {
        return Err(malformed("the System Program cannot be a transfer account"));
    }
    if !roles.is_signer(from) {
        return Err(malformed("the debited account must sign"));
    }
    if !roles.is_writable(from) || !roles.is_writable(to) {
        return Err(malformed("both transfer accounts must be writable"));
    }
    Ok(())
}

/// Checks a vote instruction: `TowerSync`/`TowerSyncSwitch` data that decodes, over `[vote account
/// (writable, not a signer), vote authority (a signer)]`, where the authority is the fee payer (a
/// validator signs its votes with its identity, which pays for them).
fn check_vote(
    accounts: &[u8],
    data: &[u8],
    roles: &KeyRoles,
    program_index: u8,
) -> Result<(), TxnError> {
    VoteInstruction::check(data).map_err(|e| match e {
        VoteError::UnsupportedInstruction(discriminant) => TxnError::UnsupportedVoteInstruction {
            discriminant,
            name: vote_instruction_name(discriminant),
        },
        other => TxnError::BadVoteData(other),
    })?;
    let malformed = |reason| TxnError::MalformedVote { reason };
    let &[vote_account, authority] = accounts else {
        return Err(malformed(
            "a vote takes exactly 2 accounts: the vote account and the vote authority",
        ));
    };
    if vote_account == program_index || authority == program_index {
        return Err(malformed("the vote program cannot be a vote account"));
    }
    if roles.is_signer(usize::from(vote_account)) {
        return Err(malformed("the vote account must not be a signer"));
    }
    if !roles.is_writable(usize::from(vote_account)) {
        return Err(malformed("the vote account must be writable"));
    }
    if !roles.is_signer(usize::from(authority)) {
        return Err(malformed("the vote authority must sign"));
    }
    if authority != 0 {
        return Err(malformed(
            "the vote authority must be the fee payer (account 0)",
        ));
    }
    Ok(())
}

/// A parsed transaction borrowed from its packet bytes.
#[derive(Debug, Clone, Copy)]
pub struct TxnView<'a> {
    bytes: &'a [u8],
    layout: TxnLayout,
}

impl<'a> TxnView<'a> {
    /// Parses `bytes` (see [`parse`]).
    pub fn new(bytes: &'a [u8]) -> Result<Self, TxnError> {
        Ok(Self {
            layout: parse(bytes)?,
            bytes,
        })
    }

    /// Pairs bytes with a layout previously produced by [`parse`] on the same bytes.
    ///
    /// # Panics
    /// Accessors panic if `layout` did not come from parsing exactly these bytes.
    pub fn from_parts(bytes: &'a [u8], layout: TxnLayout) -> Self {
        debug_assert_eq!(usize::from(layout.len), bytes.len());
        Self { bytes, layout }
    }

    /// The layout (offsets).
    pub fn layout(&self) -> &TxnLayout {
        &self.layout
    }

    /// The whole wire bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The signed message bytes.
    pub fn message(&self) -> &'a [u8] {
        &self.bytes[usize::from(self.layout.message_off)..]
    }

    /// Signature `i` (raw bytes).
    pub fn signature_bytes(&self, i: usize) -> &'a [u8; 64] {
        let off = usize::from(self.layout.signatures_off) + i * 64;
        self.bytes[off..off + 64]
            .try_into()
            .expect("layout bounds signatures")
    }

    /// The first signature: the transaction's id.
    pub fn signature(&self) -> Signature {
        Signature(*self.signature_bytes(0))
    }

    /// Number of signatures.
    pub fn num_signatures(&self) -> usize {
        usize::from(self.layout.num_signatures)
    }

    /// Account key `i` (raw bytes).
    pub fn account_key_bytes(&self, i: usize) -> &'a [u8; 32] {
        let off = usize::from(self.layout.account_keys_off) + i * 32;
        self.bytes[off..off + 32]
            .try_into()
            .expect("layout bounds keys")
    }

    /// Account key `i`.
    pub fn account_key(&self, i: usize) -> Pubkey {
        Pubkey(*self.account_key_bytes(i))
    }

    /// Number of account keys.
    pub fn num_account_keys(&self) -> usize {
        usize::from(self.layout.num_account_keys)
    }

    /// The fee payer: account 0.
    pub fn fee_payer(&self) -> Pubkey {
        self.account_key(0)
    }

    /// Whether account `i` is written (Sealevel takes an exclusive lock on it).
    pub fn is_writable(&self, i: usize) -> bool {
        let l = &self.layout;
        let signed = usize::from(l.num_required_signatures);
        if i < signed {
            i < signed - usize::from(l.num_readonly_signed)
        } else {
            i < usize::from(l.num_account_keys) - usize::from(l.num_readonly_unsigned)
        }
    }

    /// The blockhash the transaction was signed against.
    pub fn recent_blockhash(&self) -> Hash {
        let off = usize::from(self.layout.recent_blockhash_off);
        Hash(
            self.bytes[off..off + 32]
                .try_into()
                .expect("layout bounds blockhash"),
        )
    }

    /// The transfers, in instruction order (every instruction of a transfer transaction that is not
    /// a compute budget request is one, by [`parse`]); none for a vote.
    pub fn transfers(&self) -> Transfers<'a> {
        Transfers {
            bytes: self.bytes,
            keys_off: usize::from(self.layout.account_keys_off),
            pos: usize::from(self.layout.instructions_off),
            next: 0,
            count: if self.layout.is_vote {
                0
            } else {
                self.layout.num_instructions
            },
        }
    }

    /// The compute budget read by [`parse`].
    pub fn compute_budget(&self) -> ComputeBudget {
        self.layout.compute_budget()
    }

    /// The program each instruction calls, in instruction order.
    pub fn instruction_programs(&self) -> impl Iterator<Item = Pubkey> + 'a {
        let view = *self;
        let mut r = ByteReader::at(self.bytes, usize::from(self.layout.instructions_off));
        (0..self.layout.num_instructions).map_while(move |_| {
            // Validated by `parse`: the shape and the program index are sound.
            let (program_index, _, _) = read_instruction(&mut r).ok()?;
            Some(view.account_key(usize::from(program_index)))
        })
    }

    /// Whether this is a vote transaction (see the module docs).
    pub fn is_vote(&self) -> bool {
        self.layout.is_vote
    }

    /// The message's format.
    pub fn version(&self) -> MessageVersion {
        self.layout.version
    }

    /// The vote's instruction, decoded on demand (it allocates its lockouts); `None` for a transfer.
    pub fn vote_instruction(&self) -> Option<VoteInstruction> {
        let (_, data) = self.vote_parts()?;
        VoteInstruction::decode(data).ok()
    }

    /// The vote account a vote writes; `None` for a transfer.
    pub fn vote_account(&self) -> Option<Pubkey> {
        let (vote_account, _) = self.vote_parts()?;
        Some(self.account_key(vote_account))
    }

    /// A vote's account index of its vote account, and its instruction data.
    fn vote_parts(&self) -> Option<(usize, &'a [u8])> {
        if !self.layout.is_vote {
            return None;
        }
        // Validated by `parse`: one instruction, 2 account indices, data that decodes.
        let mut r = ByteReader::at(self.bytes, usize::from(self.layout.instructions_off));
        let (_, accounts, data) = read_instruction(&mut r).ok()?;
        Some((usize::from(*accounts.first()?), data))
    }
}

/// Iterator over a parsed transaction's transfers; re-walks the already validated instructions,
/// skipping compute budget requests.
pub struct Transfers<'a> {
    bytes: &'a [u8],
    keys_off: usize,
    pos: usize,
    next: u8,
    count: u8,
}

impl Iterator for Transfers<'_> {
    type Item = Transfer;

    fn next(&mut self) -> Option<Transfer> {
        while self.next < self.count {
            let instruction = self.next;
            self.next += 1;
            // Validated by `parse`: the shape, indices in range, and a System Program instruction
            // is a transfer (2 accounts, 12 bytes of data).
            let mut r = ByteReader::at(self.bytes, self.pos);
            let (program_index, accounts, data) = read_instruction(&mut r).ok()?;
            self.pos = r.position();
            let key = self.keys_off + usize::from(program_index) * 32;
            if self.bytes.get(key..key + 32)? != Pubkey::SYSTEM_PROGRAM.as_bytes() {
                continue;
            }
            let lamports = u64::from_le_bytes(data.get(4..12)?.try_into().ok()?);
            return Some(Transfer {
                instruction,
                from: *accounts.first()?,
                to: *accounts.get(1)?,
                lamports,
            });
        }
        None
    }
}

/// An owned, parsed transaction: its wire bytes and their layout.
#[derive(Clone)]
pub struct Txn {
    bytes: Box<[u8]>,
    layout: TxnLayout,
    /// Arrived from another validator that had forwarded it already (see [`Txn::mark_forwarded`]).
    forwarded: bool,
}

// The same bytes are the same transaction, however it arrived.
impl PartialEq for Txn {
    fn eq(&self, other: &Txn) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Txn {}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Txn({})", self.view().signature())
    }
}

impl Txn {
    /// Parses and takes ownership of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Txn, TxnError> {
        let layout = parse(bytes)?;
        Ok(Txn {
            bytes: bytes.into(),
            layout,
            forwarded: false,
        })
    }

    /// Builds from bytes and the layout [`parse`] produced for them.
    pub fn from_parts(bytes: Box<[u8]>, layout: TxnLayout) -> Txn {
        Txn {
            bytes,
            layout,
            forwarded: false,
        }
    }

    /// Marks it as forwarded to this node by another validator: it is never forwarded again, so
    /// a transaction costs the cluster at most one extra verification however long it waits.
    pub fn mark_forwarded(&mut self) {
        self.forwarded = true;
    }

    /// Whether another validator forwarded it here (see [`Txn::mark_forwarded`]).
    pub fn is_forwarded(&self) -> bool {
        self.forwarded
    }

    /// A borrowed view.
    pub fn view(&self) -> TxnView<'_> {
        TxnView::from_parts(&self.bytes, self.layout)
    }

    /// The wire bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Its wire bytes, taken out without a copy.
    pub fn into_bytes(self) -> Box<[u8]> {
        self.bytes
    }

    /// The id (first signature).
    pub fn signature(&self) -> Signature {
        self.view().signature()
    }

    /// Whether this is a vote transaction.
    pub fn is_vote(&self) -> bool {
        self.layout.is_vote
    }

    /// Its priority in the banking stage's queue: the compute unit price (micro-lamports per
    /// compute unit), read once by [`parse`].
    pub fn priority(&self) -> u64 {
        self.layout.compute_unit_price
    }
}

/// Builds and signs a one-instruction System Program transfer in Solana's legacy wire format.
pub fn build_transfer(
    from: &SigningKey,
    to: &Pubkey,
    lamports: Lamports,
    recent_blockhash: &Hash,
) -> Vec<u8> {
    let message = transfer_message(
        from,
        to,
        lamports,
        recent_blockhash,
        MessageVersion::Legacy,
        &[],
    );
    sign_one(from, &message)
}

/// [`build_transfer`] preceded by compute budget instructions, as wallets write them: the Compute
/// Budget program is the last (read-only) key and its instructions come first.
pub fn build_transfer_with_budget(
    from: &SigningKey,
    to: &Pubkey,
    lamports: Lamports,
    recent_blockhash: &Hash,
    budget: &[ComputeBudgetInstruction],
) -> Vec<u8> {
    let message = transfer_message(
        from,
        to,
        lamports,
        recent_blockhash,
        MessageVersion::Legacy,
        budget,
    );
    sign_one(from, &message)
}

/// [`build_transfer`] as a v0 message (no address table lookups), as `solana-sdk`'s
/// `v0::Message::try_compile` builds it.
pub fn build_transfer_v0(
    from: &SigningKey,
    to: &Pubkey,
    lamports: Lamports,
    recent_blockhash: &Hash,
) -> Vec<u8> {
    let message = transfer_message(
        from,
        to,
        lamports,
        recent_blockhash,
        MessageVersion::V0,
        &[],
    );
    sign_one(from, &message)
}

/// The message of a transfer from `from` (fee payer and only signer) to `to`, after `budget`.
fn transfer_message(
    from: &SigningKey,
    to: &Pubkey,
    lamports: Lamports,
    recent_blockhash: &Hash,
    version: MessageVersion,
    budget: &[ComputeBudgetInstruction],
) -> Vec<u8> {
    let from_key = Pubkey(from.verifying_key().to_bytes());
    let mut msg = Vec::with_capacity(160 + 48 * budget.len());
    if version == MessageVersion::V0 {
        msg.push(0x80);
    }
    // header: 1 signer, 0 read-only signed, the programs read-only unsigned.
    let programs: u8 = if budget.is_empty() { 1 } else { 2 };
    msg.extend_from_slice(&[1, 0, programs]);
    write_compact_u16(&mut msg, 2 + u16::from(programs));
    msg.extend_from_slice(from_key.as_bytes());
    msg.extend_from_slice(to.as_bytes());
    msg.extend_from_slice(Pubkey::SYSTEM_PROGRAM.as_bytes());
    if !budget.is_empty() {
        msg.extend_from_slice(COMPUTE_BUDGET_PROGRAM_ID.as_bytes());
    }
    msg.extend_from_slice(recent_blockhash.as_bytes());
    // Callers pass at most a few budget instructions; more than fit a packet fail to parse.
    write_compact_u16(&mut msg, 1 + budget.len() as u16);
    for ix in budget {
        let data = ix.encode();
        msg.push(3); // program index: the Compute Budget program
        write_compact_u16(&mut msg, 0);
        write_compact_u16(&mut msg, data.len() as u16);
        msg.extend_from_slice(&data);
    }
    msg.push(2); // program index
    write_compact_u16(&mut msg, 2);
    msg.extend_from_slice(&[0, 1]);
    write_compact_u16(&mut msg, TRANSFER_DATA_LEN as u16);
    msg.extend_from_slice(&SYSTEM_TRANSFER.to_le_bytes());
    msg.extend_from_slice(&lamports.to_le_bytes());
    if version == MessageVersion::V0 {
        write_compact_u16(&mut msg, 0); // no address table lookups
    }
    msg
}

/// The wire bytes of `message` signed by its one signer.
fn sign_one(signer: &SigningKey, message: &[u8]) -> Vec<u8> {
    let sig = signer.sign(message);
    let mut out = Vec::with_capacity(1 + 64 + message.len());
    write_compact_u16(&mut out, 1);
    out.extend_from_slice(&sig.to_bytes());
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod compute_budget_tests;
#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn builds_and_parses_a_transfer() {
        let k = key(1);
        let to = Pubkey([9; 32]);
        let bh = Hash([3; 32]);
        let bytes = build_transfer(&k, &to, 1234, &bh);
        let v = TxnView::new(&bytes).unwrap();
        assert_eq!(v.num_signatures(), 1);
        assert_eq!(v.fee_payer(), Pubkey(k.verifying_key().to_bytes()));
        assert_eq!(v.account_key(1), to);
        assert_eq!(v.recent_blockhash(), bh);
        assert!(v.is_writable(0) && v.is_writable(1) && !v.is_writable(2));
        let t: Vec<_> = v.transfers().collect();
        assert_eq!(
            t,
            vec![Transfer {
                instruction: 0,
                from: 0,
                to: 1,
                lamports: 1234
            }]
        );
        // The signature covers exactly the message bytes.
        let vk = k.verifying_key();
        let sig = ed25519_dalek::Signature::from_bytes(v.signature_bytes(0));
        assert!(vk.verify_strict(v.message(), &sig).is_ok());
    }

    #[test]
    fn compact_u16_canonical_forms() {
        // The writer's output reads back (the reader's own tests cover every decoding rule).
        for v in [0u16, 1, 127, 128, 16383, 16384, u16::MAX] {
            let mut out = Vec::new();
            write_compact_u16(&mut out, v);
            let mut r = ByteReader::new(&out);
            assert_eq!(r.compact_u16("x"), Ok(v));
            assert!(r.is_empty());
        }
        // An aliased signature count is refused by name, wherever it sits.
        let good = build_transfer(&key(2), &Pubkey([5; 32]), 1, &Hash::default());
        for alias in [&[0x81, 0x00][..], &[0x81, 0x80, 0x00]] {
            let mut t = alias.to_vec();
            t.extend_from_slice(&good[1..]);
            assert_eq!(
                parse(&t),
                Err(TxnError::BadCompactU16 {
                    field: "signature count",
                    offset: 0
                })
            );
        }
    }

    #[test]
    fn rejects_each_kind_of_bad_transaction() {
        let k = key(2);
        let good = build_transfer(&k, &Pubkey([5; 32]), 1, &Hash::default());
        // Trailing byte.
        let mut t = good.clone();
        t.push(0);
        assert_eq!(parse(&t), Err(TxnError::TrailingBytes { extra: 1 }));
        // Oversized.
        assert!(matches!(
            parse(&vec![0u8; 1233]),
            Err(TxnError::Oversized { len: 1233 })
        ));
        // Truncated at every length.
        for n in 0..good.len() {
            assert!(parse(&good[..n]).is_err(), "prefix {n} parsed");
        }
        // A version other than 0.
        let mut v1 = good.clone();
        v1.insert(65, 0x81);
        assert_eq!(parse(&v1), Err(TxnError::UnsupportedVersion { version: 1 }));
        // Unknown program: change the third key (program id).
        let mut p = good.clone();
        let prog_off = 65 + 3 + 1 + 64;
        p[prog_off] = 1;
        assert!(matches!(parse(&p), Err(TxnError::UnsupportedProgram(_))));
        // Other system instruction (CreateAccount = 0).
        let mut c = good.clone();
        let data_off = good.len() - 12;
        c[data_off] = 0;
        assert_eq!(
            parse(&c),
            Err(TxnError::UnsupportedInstruction { discriminant: 0 })
        );
        // Duplicate key.
        let mut d = good.clone();
        d[65 + 4 + 32..65 + 4 + 64].copy_from_slice(&good[65 + 4..65 + 4 + 32]);
        assert!(matches!(parse(&d), Err(TxnError::DuplicateAccountKey(_))));
        // Signature count disagrees with header.
        let mut h = good.clone();
        h[65] = 2;
        assert!(matches!(parse(&h), Err(TxnError::BadHeader(_))));
    }

    /// An unsigned transaction (zero signatures bytes: parsing does not verify them) with header
    /// `[signers, read-only signed, read-only unsigned]`, `keys` and `(program index, accounts,
    /// data)` instructions.
    pub(super) fn raw_txn(
        header: [u8; 3],
        keys: &[Pubkey],
        instructions: &[(u8, &[u8], &[u8])],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        write_compact_u16(&mut out, u16::from(header[0]));
        out.extend(std::iter::repeat_n(0u8, 64 * usize::from(header[0])));
        out.extend_from_slice(&header);
        write_compact_u16(&mut out, keys.len() as u16);
        for k in keys {
            out.extend_from_slice(k.as_bytes());
        }
        out.extend_from_slice(&[3; 32]);
        write_compact_u16(&mut out, instructions.len() as u16);
        for (program, accounts, data) in instructions {
            out.push(*program);
            write_compact_u16(&mut out, accounts.len() as u16);
            out.extend_from_slice(accounts);
            write_compact_u16(&mut out, data.len() as u16);
            out.extend_from_slice(data);
        }
        out
    }

    fn tower_sync_data() -> Vec<u8> {
        use crate::types::Slot;
        use crate::vote::{Lockout, TowerSync};
        let tower = TowerSync {
            lockouts: vec![
                Lockout {
                    slot: Slot(11),
                    confirmation_count: 2,
                },
                Lockout::new(Slot(12)),
            ],
            root: Some(Slot(10)),
            hash: Hash([4; 32]),
            timestamp: Some(1_700_000_000),
            block_id: Hash([5; 32]),
        };
        let mut data = Vec::new();
        VoteInstruction::TowerSync(tower).encode(&mut data);
        data
    }

    const IDENTITY: Pubkey = Pubkey([1; 32]);
    const VOTE_ACCOUNT: Pubkey = Pubkey([2; 32]);

    #[test]
    fn builds_and_parses_a_vote() {
        let k = key(6);
        let identity = Pubkey(k.verifying_key().to_bytes());
        let vote_account = crate::vote::vote_account_address(&identity);
        let ix = VoteInstruction::decode(&tower_sync_data()).unwrap();
        let wire =
            crate::vote::build_vote_txn(&identity, &vote_account, &ix, &Hash([8; 32]), |m| {
                k.sign(m).to_bytes()
            });
        let v = TxnView::new(&wire).unwrap();
        assert!(v.is_vote() && v.layout().is_vote);
        assert_eq!(v.fee_payer(), identity);
        assert_eq!(v.vote_account(), Some(vote_account));
        assert_eq!(v.vote_instruction(), Some(ix));
        assert_eq!(v.transfers().count(), 0);
        // The vote account is write-locked, the vote program only read.
        assert!(v.is_writable(0) && v.is_writable(1) && !v.is_writable(2));
        // A transfer is no vote.
        let t = build_transfer(&k, &Pubkey([9; 32]), 1, &Hash::default());
        let t = TxnView::new(&t).unwrap();
        assert!(!t.is_vote());
        assert_eq!((t.vote_account(), t.vote_instruction()), (None, None));
    }

    #[test]
    fn a_vote_switch_parses_too() {
        let mut data = tower_sync_data();
        data[..4].copy_from_slice(&crate::vote::TOWER_SYNC_SWITCH.to_le_bytes());
        data.extend_from_slice(&[6; 32]);
        let keys = [IDENTITY, VOTE_ACCOUNT, VOTE_PROGRAM_ID];
        let wire = raw_txn([1, 0, 1], &keys, &[(2, &[1, 0], &data)]);
        let v = TxnView::new(&wire).unwrap();
        assert!(matches!(
            v.vote_instruction(),
            Some(VoteInstruction::TowerSyncSwitch(_, h)) if h == Hash([6; 32])
        ));
    }

    #[test]
    fn votes_mixed_with_other_instructions_are_refused() {
        let data = tower_sync_data();
        let mut transfer = SYSTEM_TRANSFER.to_le_bytes().to_vec();
        transfer.extend_from_slice(&5u64.to_le_bytes());
        let keys = [
            IDENTITY,
            VOTE_ACCOUNT,
            Pubkey([7; 32]),
            VOTE_PROGRAM_ID,
            Pubkey::SYSTEM_PROGRAM,
        ];
        let vote: (u8, &[u8], &[u8]) = (3, &[1, 0], &data);
        let pay: (u8, &[u8], &[u8]) = (4, &[0, 2], &transfer);
        for ixs in [[vote, pay], [pay, vote], [vote, vote]] {
            assert_eq!(
                parse(&raw_txn([1, 0, 2], &keys, &ixs)),
                Err(TxnError::VoteNotAlone { instructions: 2 })
            );
        }
    }

    #[test]
    fn votes_with_wrong_accounts_or_roles_are_refused() {
        let data = tower_sync_data();
        let malformed = |wire: Vec<u8>| match parse(&wire) {
            Err(TxnError::MalformedVote { reason }) => reason,
            other => panic!("expected a malformed vote, got {other:?}"),
        };
        let keys = [IDENTITY, VOTE_ACCOUNT, VOTE_PROGRAM_ID];
        // One account, three accounts.
        assert!(malformed(raw_txn([1, 0, 1], &keys, &[(2, &[1], &data)])).contains("exactly 2"));
        assert!(
            malformed(raw_txn([1, 0, 1], &keys, &[(2, &[1, 0, 0], &data)])).contains("exactly 2")
        );
        // The vote program as the vote account.
        assert!(malformed(raw_txn([1, 0, 1], &keys, &[(2, &[2, 0], &data)])).contains("program"));
        // The vote account read-only (header marks the last two keys read-only).
        assert!(malformed(raw_txn([1, 0, 2], &keys, &[(2, &[1, 0], &data)])).contains("writable"));
        // The vote account signs.
        let two_signers = [IDENTITY, VOTE_ACCOUNT, VOTE_PROGRAM_ID];
        assert!(
            malformed(raw_txn([2, 0, 1], &two_signers, &[(2, &[1, 0], &data)]))
                .contains("not be a signer")
        );
        // The authority does not sign.
        let keys4 = [IDENTITY, VOTE_ACCOUNT, Pubkey([7; 32]), VOTE_PROGRAM_ID];
        assert!(
            malformed(raw_txn([1, 0, 1], &keys4, &[(3, &[1, 2], &data)])).contains("must sign")
        );
        // The authority signs but is not the fee payer.
        let keys4 = [Pubkey([7; 32]), IDENTITY, VOTE_ACCOUNT, VOTE_PROGRAM_ID];
        assert!(
            malformed(raw_txn([2, 0, 1], &keys4, &[(3, &[2, 1], &data)])).contains("fee payer")
        );
    }

    #[test]
    fn bad_vote_data_is_refused_with_its_reason() {
        let keys = [IDENTITY, VOTE_ACCOUNT, VOTE_PROGRAM_ID];
        let with = |data: &[u8]| parse(&raw_txn([1, 0, 1], &keys, &[(2, &[1, 0], data)]));
        let mut trailing = tower_sync_data();
        trailing.push(0);
        assert_eq!(
            with(&trailing),
            Err(TxnError::BadVoteData(VoteError::TrailingBytes(1)))
        );
        let data = tower_sync_data();
        assert!(matches!(
            with(&data[..data.len() - 1]),
            Err(TxnError::BadVoteData(VoteError::Truncated { .. }))
        ));
        assert!(matches!(
            with(&[14, 0]),
            Err(TxnError::BadVoteData(VoteError::Truncated {
                offset: 0,
                ..
            }))
        ));
        // Solana's other vote instructions are named.
        let mut old_vote = data.clone();
        old_vote[..4].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            with(&old_vote),
            Err(TxnError::UnsupportedVoteInstruction {
                discriminant: 2,
                name: "Vote"
            })
        );
        let e = with(&old_vote).unwrap_err();
        assert!(e.to_string().contains("Vote (2)"), "{e}");
        assert_eq!(
            crate::metrics::Reject::from(&e),
            crate::metrics::Reject::UnsupportedInstruction
        );
        // Any other program is still refused by address.
        let other = [IDENTITY, VOTE_ACCOUNT, Pubkey([9; 32])];
        assert_eq!(
            parse(&raw_txn([1, 0, 1], &other, &[(2, &[1, 0], &data)])),
            Err(TxnError::UnsupportedProgram(Pubkey([9; 32])))
        );
    }

    /// `wire` (at most 127 signatures) with its message made v0: the version byte before it, then
    /// `lookups` (the encoded address table lookups) after it. The signatures are left as they were.
    fn as_v0(wire: &[u8], lookups: &[u8]) -> Vec<u8> {
        let message_off = 1 + 64 * usize::from(wire[0]);
        let mut out = wire[..message_off].to_vec();
        out.push(0x80);
        out.extend_from_slice(&wire[message_off..]);
        out.extend_from_slice(lookups);
        out
    }

    #[test]
    fn builds_and_parses_a_v0_transfer() {
        let k = key(1);
        let to = Pubkey([9; 32]);
        let bh = Hash([3; 32]);
        let wire = build_transfer_v0(&k, &to, 1234, &bh);
        let v = TxnView::new(&wire).unwrap();
        assert_eq!(v.version(), MessageVersion::V0);
        assert_eq!(v.fee_payer(), Pubkey(k.verifying_key().to_bytes()));
        assert_eq!((v.num_account_keys(), v.account_key(1)), (3, to));
        assert_eq!(v.recent_blockhash(), bh);
        assert!(v.is_writable(0) && v.is_writable(1) && !v.is_writable(2));
        let legacy = build_transfer(&k, &to, 1234, &bh);
        // The v0 message is the legacy one between a version byte and an empty lookup list.
        assert_eq!(wire[65..], as_v0(&legacy, &[0])[65..]);
        let legacy = TxnView::new(&legacy).unwrap();
        assert_eq!(legacy.version(), MessageVersion::Legacy);
        assert_eq!(
            v.transfers().collect::<Vec<_>>(),
            legacy.transfers().collect::<Vec<_>>()
        );
        // The signed message is the whole v0 message: version byte, body and the empty lookups.
        assert_eq!(v.message()[0], 0x80);
        assert_eq!(v.message().len(), legacy.message().len() + 2);
        let vk = k.verifying_key();
        let sig = ed25519_dalek::Signature::from_bytes(v.signature_bytes(0));
        assert!(vk.verify_strict(v.message(), &sig).is_ok());
        assert!(vk.verify_strict(&v.message()[1..], &sig).is_err());
    }

    #[test]
    fn a_v0_vote_parses_too() {
        let keys = [IDENTITY, VOTE_ACCOUNT, VOTE_PROGRAM_ID];
        let legacy = raw_txn([1, 0, 1], &keys, &[(2, &[1, 0], &tower_sync_data())]);
        let wire = as_v0(&legacy, &[0]);
        let v = TxnView::new(&wire).unwrap();
        assert!(v.is_vote() && v.version() == MessageVersion::V0);
        assert_eq!(v.vote_account(), Some(VOTE_ACCOUNT));
        assert_eq!(
            v.vote_instruction(),
            TxnView::new(&legacy).unwrap().vote_instruction()
        );
    }

    #[test]
    fn v0_lookups_and_other_versions_are_refused_by_name() {
        let good = build_transfer(&key(2), &Pubkey([5; 32]), 1, &Hash::default());
        // A transfer to an account loaded from a table (index 2 past the 2 keys; as solana-sdk's
        // `try_compile` builds it, with the table's writable index 0 standing for the recipient):
        // the lookup is named, not the index.
        let keys = [IDENTITY, Pubkey::SYSTEM_PROGRAM];
        let mut data = SYSTEM_TRANSFER.to_le_bytes().to_vec();
        data.extend_from_slice(&5u64.to_le_bytes());
        let loaded = raw_txn([1, 0, 1], &keys, &[(1, &[0, 2], &data)]);
        let mut table = vec![1];
        table.extend_from_slice(&[8; 32]);
        table.extend_from_slice(&[1, 0, 0]);
        assert_eq!(
            parse(&as_v0(&loaded, &table)),
            Err(TxnError::AddressTableLookups { count: 1 })
        );
        // Without the v0 prefix the same instruction is an index past the keys.
        assert!(matches!(
            parse(&loaded),
            Err(TxnError::AccountIndexOutOfRange { index: 2, .. })
        ));
        // One lookup: table key, one writable index, no read-only ones.
        let mut lookup = vec![1];
        lookup.extend_from_slice(&[8; 32]);
        lookup.extend_from_slice(&[1, 0, 0]);
        let e = parse(&as_v0(&good, &lookup)).unwrap_err();
        assert_eq!(e, TxnError::AddressTableLookups { count: 1 });
        assert!(
            e.to_string()
                .contains("address lookup tables are not supported"),
            "{e}"
        );
        assert_eq!(
            crate::metrics::Reject::from(&e),
            crate::metrics::Reject::UnsupportedMessage
        );
        // A count alone is refused before the lookups it announces are read.
        assert_eq!(
            parse(&as_v0(&good, &[0x80, 0x01])),
            Err(TxnError::AddressTableLookups { count: 128 })
        );
        // The lookup count is required, and nothing may follow it.
        assert!(matches!(
            parse(&as_v0(&good, &[])),
            Err(TxnError::Truncated {
                field: "address table lookup count",
                ..
            })
        ));
        assert_eq!(
            parse(&as_v0(&good, &[0, 0])),
            Err(TxnError::TrailingBytes { extra: 1 })
        );
        // Every version but 0.
        for version in 1..=0x7f_u8 {
            let mut wire = as_v0(&good, &[0]);
            wire[65] = 0x80 | version;
            let e = parse(&wire).unwrap_err();
            assert_eq!(e, TxnError::UnsupportedVersion { version });
            assert!(e.to_string().contains("only legacy and v0"), "{e}");
        }
        // A version byte and nothing else.
        assert!(matches!(
            parse(&good[..65].iter().copied().chain([0x80]).collect::<Vec<_>>()),
            Err(TxnError::Truncated {
                field: "message header",
                ..
            })
        ));
        // Every truncation of a v0 transfer fails.
        let v0 = as_v0(&good, &[0]);
        for n in 0..v0.len() {
            assert!(parse(&v0[..n]).is_err(), "prefix {n} parsed");
        }
    }

    proptest! {
        #[test]
        fn mutated_v0_transfers_never_panic(idx in 0usize..180, val in any::<u8>(), lamports in any::<u64>()) {
            let mut b = build_transfer_v0(&key(3), &Pubkey([1; 32]), lamports, &Hash([2; 32]));
            let i = idx % b.len();
            b[i] = val;
            if let Ok(l) = parse(&b) {
                let v = TxnView::from_parts(&b, l);
                let _ = v.transfers().count();
                prop_assert_eq!(v.message()[0] == 0x80, v.version() == MessageVersion::V0);
            }
        }

        #[test]
        fn built_v0_transfers_round_trip(lamports in any::<u64>(), to in any::<[u8; 32]>()) {
            let k = key(4);
            prop_assume!(to != [0u8; 32] && to != k.verifying_key().to_bytes());
            let b = build_transfer_v0(&k, &Pubkey(to), lamports, &Hash([7; 32]));
            let v = TxnView::new(&b).unwrap();
            prop_assert_eq!(v.version(), MessageVersion::V0);
            let t: Vec<_> = v.transfers().collect();
            prop_assert_eq!(t, vec![Transfer { instruction: 0, from: 0, to: 1, lamports }]);
        }
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn mutated_transfers_never_panic(idx in 0usize..180, val in any::<u8>(), lamports in any::<u64>()) {
            let mut b = build_transfer(&key(3), &Pubkey([1; 32]), lamports, &Hash([2; 32]));
            let i = idx % b.len();
            b[i] = val;
            if let Ok(l) = parse(&b) {
                let v = TxnView::from_parts(&b, l);
                let _ = v.transfers().count();
                let _ = v.signature();
            }
        }

        #[test]
        fn mutated_votes_never_panic(idx in 0usize..400, val in any::<u8>()) {
            let keys = [IDENTITY, VOTE_ACCOUNT, VOTE_PROGRAM_ID];
            let mut b = raw_txn([1, 0, 1], &keys, &[(2, &[1, 0], &tower_sync_data())]);
            let i = idx % b.len();
            b[i] = val;
            if let Ok(l) = parse(&b) {
                let v = TxnView::from_parts(&b, l);
                let _ = v.transfers().count();
                if v.is_vote() {
                    prop_assert!(v.vote_instruction().is_some());
                    prop_assert!(v.vote_account().is_some());
                }
            }
        }

        #[test]
        fn parsed_votes_decode_to_what_was_built(
            root in proptest::option::of(0u64..1_000_000),
            gaps in proptest::collection::vec((1u64..5_000, 1u32..32), 1..=31),
            ts in proptest::option::of(any::<i64>()),
        ) {
            use crate::types::Slot;
            use crate::vote::{Lockout, TowerSync};
            let mut slot = root.unwrap_or(0);
            let lockouts = gaps.iter().map(|&(g, c)| { slot += g; Lockout { slot: Slot(slot), confirmation_count: c } }).collect();
            let t = TowerSync { lockouts, root: root.map(Slot), hash: Hash([1; 32]), timestamp: ts, block_id: Hash([2; 32]) };
            let ix = VoteInstruction::TowerSync(t);
            let wire = crate::vote::build_vote_txn(&IDENTITY, &VOTE_ACCOUNT, &ix, &Hash([3; 32]), |_| [0; 64]);
            let v = TxnView::new(&wire).unwrap();
            prop_assert_eq!(v.vote_instruction(), Some(ix));
            prop_assert_eq!(v.vote_account(), Some(VOTE_ACCOUNT));
        }

        #[test]
        fn built_transfers_round_trip(lamports in any::<u64>(), to in any::<[u8; 32]>()) {
            prop_assume!(to != [0u8; 32]);
            let k = key(4);
            prop_assume!(to != k.verifying_key().to_bytes());
            let b = build_transfer(&k, &Pubkey(to), lamports, &Hash([7; 32]));
            let v = TxnView::new(&b).unwrap();
            let t = v.transfers().next().unwrap();
            prop_assert_eq!(t.lamports, lamports);
            prop_assert_eq!(v.account_key(usize::from(t.to)), Pubkey(to));
        }
    }
}
