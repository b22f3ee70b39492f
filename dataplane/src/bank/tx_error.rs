//! Transaction outcomes: why a transaction failed or was kept out of a block, in our terms and in
//! Solana's JSON shape.

use crate::genesis::MAX_RECENT_BLOCKHASHES;
use crate::metrics::Reject;
use crate::vote_state::VoteErrorCode;

/// The outcome of one transaction: `Ok` or why it failed.
pub type TxStatus = Result<(), TxError>;

/// Why an instruction (a transfer or a vote) failed after the fee was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstructionErrorKind {
    /// The debited account holds less than the amount.
    #[error("insufficient funds for the transfer")]
    InsufficientFunds,
    /// The credited account would exceed `u64::MAX` lamports.
    #[error("arithmetic overflow crediting the transfer")]
    ArithmeticOverflow,
    /// A vote for an account that is no vote account (Solana: not owned by the vote program).
    #[error("the vote account is not a vote account")]
    InvalidAccountOwner,
    /// A vote not signed by its account's authorized voter.
    #[error("the vote is not signed by the account's authorized voter")]
    MissingRequiredSignature,
    /// Instruction data that does not decode (the parser refuses such transactions first).
    #[error("invalid instruction data")]
    InvalidInstructionData,
    /// The vote program refused the vote (Solana: `Custom(code)`).
    #[error("{0}")]
    Vote(VoteErrorCode),
}

/// Why a transaction failed or was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Already included on this fork (not included again).
    #[error("transaction already processed on this fork")]
    AlreadyProcessed,
    /// The recent blockhash is unknown on this fork or older than 150 blocks (not included).
    #[error("blockhash not found among the last {MAX_RECENT_BLOCKHASHES} blocks of this fork")]
    BlockhashNotFound,
    /// The fee payer cannot pay the fee (not included).
    #[error("fee payer cannot pay the transaction fee")]
    InsufficientFundsForFee,
    /// Instruction `index` failed; the fee was paid and every transfer undone (included).
    #[error("instruction {index} failed: {kind}")]
    InstructionError {
        /// Position of the failing instruction.
        index: u8,
        /// What went wrong.
        kind: InstructionErrorKind,
    },
}

impl TxError {
    /// Whether a transaction that failed this way is still included in the block (fee charged).
    pub fn is_included(&self) -> bool {
        matches!(self, TxError::InstructionError { .. })
    }

    /// The rejection counter for an error that keeps a transaction out of the block.
    pub fn reject_reason(&self) -> Option<Reject> {
        Reject::try_from(self).ok()
    }

    /// The error in Solana's `TransactionError` JSON shape, as RPC clients expect it. A failed
    /// transfer for lack of funds is the System Program's `Custom(1)` (`ResultWithNegativeLamports`);
    /// a refused vote is the vote program's `Custom(code)` with Agave's `VoteError` code.
    pub fn to_solana_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            TxError::AlreadyProcessed => json!("AlreadyProcessed"),
            TxError::BlockhashNotFound => json!("BlockhashNotFound"),
            TxError::InsufficientFundsForFee => json!("InsufficientFundsForFee"),
            TxError::InstructionError { index, kind } => {
                let kind = match kind {
                    InstructionErrorKind::InsufficientFunds => json!({ "Custom": 1 }),
                    InstructionErrorKind::ArithmeticOverflow => json!("ArithmeticOverflow"),
                    InstructionErrorKind::InvalidAccountOwner => json!("InvalidAccountOwner"),
                    InstructionErrorKind::MissingRequiredSignature => {
                        json!("MissingRequiredSignature")
                    }
                    InstructionErrorKind::InvalidInstructionData => {
                        json!("InvalidInstructionData")
                    }
                    InstructionErrorKind::Vote(code) => json!({ "Custom": code.code() }),
                };
                json!({ "InstructionError": [index, kind] })
            }
        }
    }

    /// Reads back what [`TxError::to_solana_json`] wrote (e.g. to rebuild the status cache from storage).
    /// `Custom(1)` reads as the System Program's `InsufficientFunds`, though a vote's `SlotsMismatch`
    /// writes it too: the JSON, all that RPC shows of a restored status, is the same either way.
    pub fn from_solana_json(v: &serde_json::Value) -> Option<TxError> {
        match v.as_str() {
            Some("AlreadyProcessed") => return Some(TxError::AlreadyProcessed),
            Some("BlockhashNotFound") => return Some(TxError::BlockhashNotFound),
            Some("InsufficientFundsForFee") => return Some(TxError::InsufficientFundsForFee),
            Some(_) => return None,
            None => {}
        }
        let pair = v.get("InstructionError")?.as_array()?;
        let [index, kind] = pair.as_slice() else {
            return None;
        };
        let index = u8::try_from(index.as_u64()?).ok()?;
        let kind = match (kind.get("Custom").and_then(|c| c.as_u64()), kind.as_str()) {
            (Some(1), _) => InstructionErrorKind::InsufficientFunds,
            (Some(code), _) => {
                InstructionErrorKind::Vote(VoteErrorCode::from_code(u32::try_from(code).ok()?)?)
            }
            (None, Some("ArithmeticOverflow")) => InstructionErrorKind::ArithmeticOverflow,
            (None, Some("InvalidAccountOwner")) => InstructionErrorKind::InvalidAccountOwner,
            (None, Some("MissingRequiredSignature")) => {
                InstructionErrorKind::MissingRequiredSignature
            }
            (None, Some("InvalidInstructionData")) => InstructionErrorKind::InvalidInstructionData,
            _ => return None,
        };
        Some(TxError::InstructionError { index, kind })
    }
}

impl TryFrom<&TxError> for Reject {
    type Error = TxError;

    /// Maps the errors that keep a transaction out of the block; an included failure is no rejection.
    fn try_from(e: &TxError) -> Result<Reject, TxError> {
        match e {
            TxError::AlreadyProcessed => Ok(Reject::AlreadyProcessed),
            TxError::BlockhashNotFound => Ok(Reject::BlockhashNotFound),
            TxError::InsufficientFundsForFee => Ok(Reject::InsufficientFundsForFee),
            TxError::InstructionError { .. } => Err(*e),
        }
    }
}
