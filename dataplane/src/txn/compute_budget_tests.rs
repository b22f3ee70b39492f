//! Transfers with Compute Budget instructions: read once by the parser, refused by name or as
//! Solana's `DuplicateInstruction`.

use super::tests::raw_txn;
use super::*;
use crate::compute_budget::{COMPUTE_UNIT_LIMIT_MAX, MICRO_LAMPORTS_PER_LAMPORT};

const PAYER: Pubkey = Pubkey([1; 32]);
const TO: Pubkey = Pubkey([2; 32]);
const KEYS: [Pubkey; 4] = [PAYER, TO, Pubkey::SYSTEM_PROGRAM, COMPUTE_BUDGET_PROGRAM_ID];

fn transfer_data(lamports: u64) -> Vec<u8> {
    let mut data = SYSTEM_TRANSFER.to_le_bytes().to_vec();
    data.extend_from_slice(&lamports.to_le_bytes());
    data
}

fn limit(units: u32) -> Vec<u8> {
    ComputeBudgetInstruction::SetComputeUnitLimit(units).encode()
}

fn price(micro_lamports: u64) -> Vec<u8> {
    ComputeBudgetInstruction::SetComputeUnitPrice(micro_lamports).encode()
}

/// An unsigned transfer of 5 lamports from `PAYER` to `TO` with the given compute budget data
/// (instructions to the Compute Budget program, before the transfer).
fn with_budget(budget: &[Vec<u8>]) -> Vec<u8> {
    let pay = transfer_data(5);
    let mut ixs: Vec<(u8, &[u8], &[u8])> = budget.iter().map(|d| (3, &[][..], &d[..])).collect();
    ixs.push((2, &[0, 1], &pay));
    raw_txn([1, 0, 2], &KEYS, &ixs)
}

#[test]
fn a_built_transfer_with_a_limit_and_a_price_parses_into_its_budget() {
    let k = SigningKey::from_bytes(&[4; 32]);
    let wire = build_transfer_with_budget(
        &k,
        &TO,
        77,
        &Hash([3; 32]),
        &[
            ComputeBudgetInstruction::SetComputeUnitLimit(450),
            ComputeBudgetInstruction::SetComputeUnitPrice(20_000),
        ],
    );
    let txn = Txn::parse(&wire).unwrap();
    let v = txn.view();
    assert_eq!(
        v.compute_budget(),
        ComputeBudget {
            unit_limit: 450,
            unit_price: 20_000
        }
    );
    assert_eq!(txn.priority(), 20_000);
    assert!(!v.is_writable(3), "the Compute Budget program is read-only");
    // The transfer is instruction 2, after the two budget instructions.
    assert_eq!(
        v.transfers().collect::<Vec<_>>(),
        vec![Transfer {
            instruction: 2,
            from: 0,
            to: 1,
            lamports: 77
        }]
    );
    let vk = k.verifying_key();
    let sig = ed25519_dalek::Signature::from_bytes(v.signature_bytes(0));
    assert!(vk.verify_strict(v.message(), &sig).is_ok());
}

#[test]
fn the_default_limit_is_3000_units_per_instruction_and_a_request_is_capped() {
    let budget = |b: &[Vec<u8>]| TxnView::new(&with_budget(b)).unwrap().compute_budget();
    // No budget instruction: one System Program instruction.
    let plain = build_transfer(&SigningKey::from_bytes(&[4; 32]), &TO, 1, &Hash([3; 32]));
    assert_eq!(
        TxnView::new(&plain).unwrap().compute_budget(),
        ComputeBudget {
            unit_limit: 3_000,
            unit_price: 0
        }
    );
    // A price alone: the compute budget instruction counts as a builtin instruction too.
    assert_eq!(
        budget(&[price(7)]),
        ComputeBudget {
            unit_limit: 6_000,
            unit_price: 7
        }
    );
    assert_eq!(budget(&[limit(0), price(7)]).unit_limit, 0);
    assert_eq!(
        budget(&[limit(u32::MAX)]).unit_limit,
        COMPUTE_UNIT_LIMIT_MAX
    );
    // A transaction of compute budget instructions only pays its fees and transfers nothing.
    let wire = raw_txn([1, 0, 2], &KEYS, &[(3, &[], &price(9))]);
    let v = TxnView::new(&wire).unwrap();
    assert_eq!(v.transfers().count(), 0);
    assert_eq!(v.compute_budget().unit_price, 9);
    assert_eq!(
        v.compute_budget().priority_fee(),
        (9 * 3_000u64).div_ceil(MICRO_LAMPORTS_PER_LAMPORT)
    );
}

#[test]
fn a_repeated_limit_or_price_is_a_duplicate_instruction_naming_its_index() {
    for (budget, instruction) in [
        (vec![price(1), price(2)], 1),
        (vec![limit(1), price(2), limit(1)], 2),
        (vec![price(1), limit(9), limit(9)], 2),
    ] {
        let e = parse(&with_budget(&budget)).unwrap_err();
        assert_eq!(e, TxnError::DuplicateInstruction { instruction });
        assert!(e.to_string().contains("DuplicateInstruction"), "{e}");
    }
    // After the transfer counts the same.
    let pay = transfer_data(5);
    let (p1, p2) = (price(1), price(2));
    let wire = raw_txn(
        [1, 0, 2],
        &KEYS,
        &[(3, &[], &p1), (2, &[0, 1], &pay), (3, &[], &p2)],
    );
    assert_eq!(
        parse(&wire),
        Err(TxnError::DuplicateInstruction { instruction: 2 })
    );
}

#[test]
fn other_compute_budget_instructions_are_refused_by_name() {
    for (data, name) in [
        (vec![0, 0, 0, 1, 0, 0, 0, 0, 0], "RequestUnitsDeprecated"),
        (vec![1, 0, 0, 4, 0], "RequestHeapFrame"),
        (vec![4, 0, 0, 4, 0], "SetLoadedAccountsDataSizeLimit"),
    ] {
        let e = parse(&with_budget(&[price(1), data.clone()])).unwrap_err();
        assert_eq!(
            e,
            TxnError::ComputeBudget {
                instruction: 1,
                error: ComputeBudgetError::Unsupported {
                    discriminant: data[0],
                    name
                }
            }
        );
        let text = e.to_string();
        assert!(
            text.contains(name) && text.contains("instruction 1"),
            "{text}"
        );
    }
    // Data of the wrong length, or none.
    for data in [vec![], vec![3, 1, 0, 0, 0], limit(1)[..4].to_vec(), {
        let mut d = price(1);
        d.push(0);
        d
    }] {
        assert!(matches!(
            parse(&with_budget(&[data])),
            Err(TxnError::ComputeBudget {
                instruction: 0,
                error: ComputeBudgetError::Malformed(_)
            })
        ));
    }
}

#[test]
fn a_vote_cannot_carry_a_compute_budget() {
    // Votes stay alone, as Solana's simple vote transactions are (and pay no priority).
    let keys = [
        Pubkey([8; 32]),
        Pubkey([9; 32]),
        crate::vote::VOTE_PROGRAM_ID,
        COMPUTE_BUDGET_PROGRAM_ID,
    ];
    let p = price(5);
    let vote_data = [14u8, 0, 0, 0];
    let wire = raw_txn([1, 0, 2], &keys, &[(3, &[], &p), (2, &[1, 0], &vote_data)]);
    assert_eq!(
        parse(&wire),
        Err(TxnError::VoteNotAlone { instructions: 2 })
    );
}

proptest::proptest! {
    #[test]
    fn mutated_budget_transfers_never_panic(
        idx in 0usize..260,
        val in proptest::prelude::any::<u8>(),
        unit_price in proptest::prelude::any::<u64>(),
    ) {
        let k = SigningKey::from_bytes(&[6; 32]);
        let mut wire = build_transfer_with_budget(
            &k,
            &TO,
            1,
            &Hash::default(),
            &[
                ComputeBudgetInstruction::SetComputeUnitLimit(300),
                ComputeBudgetInstruction::SetComputeUnitPrice(unit_price),
            ],
        );
        let i = idx % wire.len();
        wire[i] = val;
        if let Ok(v) = TxnView::new(&wire) {
            let _ = v.transfers().count();
            let _ = v.compute_budget().priority_fee();
        }
    }
}

#[test]
fn an_unsigned_message_parses_into_its_signatures_and_budget() {
    let k = SigningKey::from_bytes(&[4; 32]);
    let wire = build_transfer_with_budget(
        &k,
        &TO,
        1,
        &Hash([3; 32]),
        &[ComputeBudgetInstruction::SetComputeUnitPrice(1_000_000)],
    );
    let layout = parse_message(&wire[1 + 64..]).unwrap();
    assert_eq!(layout.num_signatures, 1);
    assert_eq!(
        layout.compute_budget(),
        ComputeBudget {
            unit_limit: 6_000,
            unit_price: 1_000_000
        }
    );
    // A v0 message's signer count follows its version byte.
    let v0 = build_transfer_v0(&k, &TO, 1, &Hash([3; 32]));
    assert_eq!(parse_message(&v0[1 + 64..]).unwrap().num_signatures, 1);
    // What the parser refuses in a transaction it refuses in a message, without a placeholder
    // for more signers than a packet holds.
    let mut twice = with_budget(&[price(1), price(2)]);
    twice.drain(..1 + 64);
    assert_eq!(
        parse_message(&twice),
        Err(TxnError::DuplicateInstruction { instruction: 1 })
    );
    assert!(matches!(
        parse_message(&[20, 0, 1]),
        Err(TxnError::TooMany { count: 20, .. })
    ));
    for bad in [&[][..], &[0x80][..], &[0x81, 1, 0, 0][..]] {
        assert!(parse_message(bad).is_err());
    }
    assert!(matches!(
        parse_message(&[1; 1300]),
        Err(TxnError::Oversized { len: 1300 })
    ));
}

#[test]
fn instruction_programs_name_each_instructions_program_in_order() {
    let wire = with_budget(&[limit(5), price(1)]);
    let v = TxnView::new(&wire).unwrap();
    assert_eq!(
        v.instruction_programs().collect::<Vec<_>>(),
        vec![
            COMPUTE_BUDGET_PROGRAM_ID,
            COMPUTE_BUDGET_PROGRAM_ID,
            Pubkey::SYSTEM_PROGRAM
        ]
    );
}
