//! The Compute Budget program's instructions, as Solana encodes them, and the priority fee they set.
//!
//! A transfer may carry `SetComputeUnitLimit` (data `[2, u32 LE]`) and `SetComputeUnitPrice`
//! (`[3, u64 LE]`, micro-lamports per compute unit), each at most once: a second one of either is
//! Solana's `DuplicateInstruction` naming its index. The other Compute Budget instructions
//! (`RequestUnitsDeprecated` = 0, `RequestHeapFrame` = 1, `SetLoadedAccountsDataSizeLimit` = 4) are
//! refused by name: nothing here uses heap frames or loaded account data, so accepting them would
//! only pretend. Data must be exactly the instruction's length (Solana's borsh read ignores trailing
//! bytes; no stock client writes any).
//!
//! The compute unit limit, when no `SetComputeUnitLimit` gives one, is Solana's current default
//! (SIMD-0170): 3,000 units per instruction of a builtin program — the System, vote and Compute Budget
//! programs, every program this chain runs, compute-budget instructions included — and 200,000 per
//! instruction of any other program (none here). A requested limit above 1,400,000 counts as 1,400,000.
//! Compute units are not metered (no program here has a variable cost): the limit only prices the
//! priority fee, `ceil(price × limit / 1,000,000)` lamports, which the fee payer pays on top of the base
//! fee.

use crate::types::{Lamports, Pubkey};

/// The Compute Budget program: `ComputeBudget111111111111111111111111111111`.
pub const COMPUTE_BUDGET_PROGRAM_ID: Pubkey = Pubkey([
    3, 6, 70, 111, 229, 33, 23, 50, 255, 236, 173, 186, 114, 195, 155, 231, 188, 140, 229, 187,
    197, 247, 18, 107, 44, 67, 155, 58, 64, 0, 0, 0,
]);
/// The largest compute unit limit a transaction can have (Solana's `MAX_COMPUTE_UNIT_LIMIT`).
pub const COMPUTE_UNIT_LIMIT_MAX: u32 = 1_400_000;
/// Default compute units per builtin-program instruction when no limit is requested (SIMD-0170's
/// `MAX_BUILTIN_ALLOCATION_COMPUTE_UNIT_LIMIT`).
pub const BUILTIN_INSTRUCTION_COMPUTE_UNITS: u32 = 3_000;
/// Micro-lamports in a lamport: the unit of the compute unit price.
pub const MICRO_LAMPORTS_PER_LAMPORT: u64 = 1_000_000;

/// `SetComputeUnitLimit`'s discriminant.
const SET_COMPUTE_UNIT_LIMIT: u8 = 2;
/// `SetComputeUnitPrice`'s discriminant.
const SET_COMPUTE_UNIT_PRICE: u8 = 3;

/// A transaction's compute budget: what its priority fee and its priority are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ComputeBudget {
    /// Compute units, requested or by default, at most [`COMPUTE_UNIT_LIMIT_MAX`].
    pub unit_limit: u32,
    /// Micro-lamports per compute unit (0 when none is set).
    pub unit_price: u64,
}

impl ComputeBudget {
    /// `ceil(unit_price × unit_limit / 1,000,000)` lamports; `u64::MAX` when it does not fit, as
    /// Solana saturates (no payer holds that much, so such a transaction cannot pay).
    pub fn priority_fee(&self) -> Lamports {
        let micro_lamports = u128::from(self.unit_price) * u128::from(self.unit_limit);
        let lamports = micro_lamports.div_ceil(u128::from(MICRO_LAMPORTS_PER_LAMPORT));
        u64::try_from(lamports).unwrap_or(u64::MAX)
    }
}

/// One Compute Budget instruction this chain runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputeBudgetInstruction {
    /// `SetComputeUnitLimit(units)`.
    SetComputeUnitLimit(u32),
    /// `SetComputeUnitPrice(micro_lamports)`.
    SetComputeUnitPrice(u64),
}

/// Why a Compute Budget instruction's data is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ComputeBudgetError {
    /// An instruction Solana has but this chain does not run.
    #[error(
        "Compute Budget instruction {name} ({discriminant}) is not supported (only \
         SetComputeUnitLimit = 2 and SetComputeUnitPrice = 3 are)"
    )]
    Unsupported {
        /// The data's first byte.
        discriminant: u8,
        /// Its name in Solana's `ComputeBudgetInstruction` ("unknown" past the last one).
        name: &'static str,
    },
    /// Data of the wrong length for its instruction (Solana: `InvalidInstructionData`).
    #[error("invalid Compute Budget instruction data: {0}")]
    Malformed(&'static str),
}

impl ComputeBudgetInstruction {
    /// Decodes instruction data (borsh: a one-byte discriminant, then the little-endian value).
    pub fn decode(data: &[u8]) -> Result<ComputeBudgetInstruction, ComputeBudgetError> {
        let Some((&discriminant, value)) = data.split_first() else {
            return Err(ComputeBudgetError::Malformed("instruction data is empty"));
        };
        match discriminant {
            SET_COMPUTE_UNIT_LIMIT => {
                let units: [u8; 4] = value.try_into().map_err(|_| {
                    ComputeBudgetError::Malformed("SetComputeUnitLimit data must be 5 bytes")
                })?;
                Ok(ComputeBudgetInstruction::SetComputeUnitLimit(
                    u32::from_le_bytes(units),
                ))
            }
            SET_COMPUTE_UNIT_PRICE => {
                let price: [u8; 8] = value.try_into().map_err(|_| {
                    ComputeBudgetError::Malformed("SetComputeUnitPrice data must be 9 bytes")
                })?;
                Ok(ComputeBudgetInstruction::SetComputeUnitPrice(
                    u64::from_le_bytes(price),
                ))
            }
            _ => Err(ComputeBudgetError::Unsupported {
                discriminant,
                name: instruction_name(discriminant),
            }),
        }
    }

    /// The instruction data, as Solana's `ComputeBudgetInstruction` builders write it.
    pub fn encode(&self) -> Vec<u8> {
        match *self {
            ComputeBudgetInstruction::SetComputeUnitLimit(units) => {
                let mut data = vec![SET_COMPUTE_UNIT_LIMIT];
                data.extend_from_slice(&units.to_le_bytes());
                data
            }
            ComputeBudgetInstruction::SetComputeUnitPrice(price) => {
                let mut data = vec![SET_COMPUTE_UNIT_PRICE];
                data.extend_from_slice(&price.to_le_bytes());
                data
            }
        }
    }
}

/// The name of Compute Budget instruction `discriminant` in Solana's `ComputeBudgetInstruction`.
pub fn instruction_name(discriminant: u8) -> &'static str {
    match discriminant {
        0 => "RequestUnitsDeprecated",
        1 => "RequestHeapFrame",
        SET_COMPUTE_UNIT_LIMIT => "SetComputeUnitLimit",
        SET_COMPUTE_UNIT_PRICE => "SetComputeUnitPrice",
        4 => "SetLoadedAccountsDataSizeLimit",
        _ => "unknown",
    }
}

/// A Compute Budget instruction repeats one the transaction already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateInstruction;

/// The Compute Budget requests of one transaction, gathered instruction by instruction.
#[derive(Debug, Clone, Copy, Default)]
pub struct ComputeBudgetRequests {
    unit_limit: Option<u32>,
    unit_price: Option<u64>,
}

impl ComputeBudgetRequests {
    /// Takes one request; a second one of the same kind is refused (the first stays).
    pub fn add(&mut self, ix: ComputeBudgetInstruction) -> Result<(), DuplicateInstruction> {
        match ix {
            ComputeBudgetInstruction::SetComputeUnitLimit(units) => {
                set_once(&mut self.unit_limit, units)
            }
            ComputeBudgetInstruction::SetComputeUnitPrice(price) => {
                set_once(&mut self.unit_price, price)
            }
        }
    }

    /// The budget of a transaction of `num_instructions` builtin-program instructions (see the
    /// module docs for the default limit).
    pub fn finish(&self, num_instructions: usize) -> ComputeBudget {
        let default_limit = u32::try_from(num_instructions)
            .unwrap_or(u32::MAX)
            .saturating_mul(BUILTIN_INSTRUCTION_COMPUTE_UNITS);
        ComputeBudget {
            unit_limit: self
                .unit_limit
                .unwrap_or(default_limit)
                .min(COMPUTE_UNIT_LIMIT_MAX),
            unit_price: self.unit_price.unwrap_or(0),
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), DuplicateInstruction> {
    if slot.is_some() {
        return Err(DuplicateInstruction);
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_id_is_solanas() {
        assert_eq!(
            COMPUTE_BUDGET_PROGRAM_ID.to_string(),
            "ComputeBudget111111111111111111111111111111"
        );
    }

    #[test]
    fn priority_fee_rounds_up_and_saturates() {
        let fee = |unit_limit, unit_price| {
            ComputeBudget {
                unit_limit,
                unit_price,
            }
            .priority_fee()
        };
        assert_eq!(fee(200_000, 0), 0);
        assert_eq!(fee(0, u64::MAX), 0);
        // 1 micro-lamport over 1 unit is still a whole lamport.
        assert_eq!(fee(1, 1), 1);
        assert_eq!(fee(300, 10_000), 3);
        assert_eq!(fee(301, 10_000), 4);
        assert_eq!(fee(1_000_000, 1), 1);
        assert_eq!(fee(1_000_001, 1), 2);
        assert_eq!(fee(COMPUTE_UNIT_LIMIT_MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn decodes_what_it_encodes_and_names_the_rest() {
        for ix in [
            ComputeBudgetInstruction::SetComputeUnitLimit(7),
            ComputeBudgetInstruction::SetComputeUnitPrice(u64::MAX),
        ] {
            assert_eq!(ComputeBudgetInstruction::decode(&ix.encode()), Ok(ix));
        }
        assert_eq!(
            ComputeBudgetInstruction::SetComputeUnitPrice(1).encode(),
            [3, 1, 0, 0, 0, 0, 0, 0, 0]
        );
        for (data, name) in [
            (&[0u8, 1, 0, 0, 0, 0, 0, 0, 0][..], "RequestUnitsDeprecated"),
            (&[1, 0, 0x80, 0, 0][..], "RequestHeapFrame"),
            (&[4, 0, 0, 1, 0][..], "SetLoadedAccountsDataSizeLimit"),
            (&[9][..], "unknown"),
        ] {
            let e = ComputeBudgetInstruction::decode(data).unwrap_err();
            assert_eq!(
                e,
                ComputeBudgetError::Unsupported {
                    discriminant: data[0],
                    name
                }
            );
            assert!(e.to_string().contains(name), "{e}");
        }
        for data in [
            &[][..],
            &[2, 0, 0, 0][..],
            &[3, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
        ] {
            assert!(matches!(
                ComputeBudgetInstruction::decode(data),
                Err(ComputeBudgetError::Malformed(_))
            ));
        }
    }

    #[test]
    fn requests_refuse_duplicates_and_default_the_limit() {
        let mut r = ComputeBudgetRequests::default();
        assert_eq!(
            r.finish(2),
            ComputeBudget {
                unit_limit: 6_000,
                unit_price: 0
            }
        );
        r.add(ComputeBudgetInstruction::SetComputeUnitPrice(5))
            .unwrap();
        assert_eq!(
            r.add(ComputeBudgetInstruction::SetComputeUnitPrice(5)),
            Err(DuplicateInstruction)
        );
        r.add(ComputeBudgetInstruction::SetComputeUnitLimit(u32::MAX))
            .unwrap();
        assert_eq!(
            r.add(ComputeBudgetInstruction::SetComputeUnitLimit(1)),
            Err(DuplicateInstruction)
        );
        assert_eq!(
            r.finish(3),
            ComputeBudget {
                unit_limit: COMPUTE_UNIT_LIMIT_MAX,
                unit_price: 5
            }
        );
        // The default caps too (64 instructions give 192,000, below the cap; the cap still holds).
        assert_eq!(
            ComputeBudgetRequests::default().finish(1_000).unit_limit,
            COMPUTE_UNIT_LIMIT_MAX
        );
    }
}
