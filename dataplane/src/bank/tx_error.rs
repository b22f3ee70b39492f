//! Transaction outcomes: why a transaction failed or was kept out of a block, in our terms and in
//! Solana's JSON shape.

use crate::genesis::MAX_RECENT_BLOCKHASHES;
use crate::metrics::Reject;

/// The outcome of one transaction: `Ok` or why it failed.
pub type TxStatus = Result<(), TxError>;

/// Why an instruction (a transfer) failed after the fee was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstructionErrorKind {
    /// The debited account holds less than the amount.
    #[error("insufficient funds for the transfer")]
    InsufficientFunds,
    /// The credited account would exceed `u64::MAX` lamports.
    #[error("arithmetic overflow crediting the transfer")]
    ArithmeticOverflow,
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
    /// transfer for lack of funds is the System Program's `Custom(1)` (`ResultWithNegativeLamports`).
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
                };
                json!({ "InstructionError": [index, kind] })
            }
        }
    }

    /// Reads back what [`TxError::to_solana_json`] wrote (e.g. to rebuild the status cache from storage).
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
        let kind = if kind.get("Custom").and_then(|c| c.as_u64()) == Some(1) {
            InstructionErrorKind::InsufficientFunds
        } else if kind.as_str() == Some("ArithmeticOverflow") {
            InstructionErrorKind::ArithmeticOverflow
        } else {
            return None;
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
