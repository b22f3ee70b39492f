//! Priority fees: the base fee plus `ceil(price × limit / 1,000,000)`, paid by the fee payer in full
//! or not at all, credited to the slot's leader, never changing the supply.

use std::sync::Arc;

use super::tests::{addr, genesis, key, run_serial, FEE};
use super::*;
use crate::compute_budget::{ComputeBudgetError, ComputeBudgetInstruction};
use crate::txn::{build_transfer_with_budget, TxnError};

const LEADER: Pubkey = Pubkey([0xC0; 32]);

fn budget(limit: u32, price: u64) -> [ComputeBudgetInstruction; 2] {
    [
        ComputeBudgetInstruction::SetComputeUnitLimit(limit),
        ComputeBudgetInstruction::SetComputeUnitPrice(price),
    ]
}

fn paying(
    from: &ed25519_dalek::SigningKey,
    to: &Pubkey,
    lamports: Lamports,
    bh: &Hash,
    ixs: &[ComputeBudgetInstruction],
) -> Txn {
    Txn::parse(&build_transfer_with_budget(from, to, lamports, bh, ixs)).expect("valid transfer")
}

#[test]
fn the_priority_fee_rounds_up_and_goes_to_the_leader_with_the_base_fee() {
    let alice = key(1);
    let g = genesis(&[(addr(&alice), 1_000_000)]);
    let root = Arc::new(Bank::genesis(&g));
    let bank = Bank::new_child(&root, Slot(1), LEADER);
    let to = Pubkey([42; 32]);
    // 301 units at 10,000 micro-lamports: 3.01 lamports, rounded up to 4.
    let tx = paying(&alice, &to, 100, &g.hash(), &budget(301, 10_000));
    assert_eq!(bank.fee(&tx.view()), Some(FEE + 4));
    let batch = bank.execute(std::slice::from_ref(&tx));
    let e = &batch.executions()[0];
    assert_eq!((e.status, e.fee), (Ok(()), FEE + 4));
    // Keys: payer, recipient, System Program, Compute Budget program.
    assert_eq!(e.balances.pre(), &[1_000_000, 0, 0, 0]);
    assert_eq!(e.balances.post(), &[1_000_000 - FEE - 4 - 100, 100, 0, 0]);
    bank.commit(std::slice::from_ref(&tx), &batch).unwrap();
    assert_eq!(bank.collected_fees(), FEE + 4);
    assert_eq!(bank.total_supply(), g.total_supply());
    bank.freeze(Hash([5; 32]));
    assert_eq!(bank.balance(&LEADER), FEE + 4);
    assert_eq!(bank.balance(&addr(&alice)), 1_000_000 - FEE - 4 - 100);
    assert_eq!(bank.total_supply(), g.total_supply());

    // Exactly divisible: 300 units at 10,000 is 3 lamports; a price alone takes the default limit of
    // 3,000 units per instruction (two here): 6,000 × 500 = 3 lamports.
    let tx = paying(&alice, &to, 1, &g.hash(), &budget(300, 10_000));
    assert_eq!(bank.fee(&tx.view()), Some(FEE + 3));
    let tx = paying(
        &alice,
        &to,
        1,
        &g.hash(),
        &[ComputeBudgetInstruction::SetComputeUnitPrice(500)],
    );
    assert_eq!(bank.fee(&tx.view()), Some(FEE + 3));
    // A limit alone, or a zero price, costs nothing more.
    let tx = paying(
        &alice,
        &to,
        1,
        &g.hash(),
        &[ComputeBudgetInstruction::SetComputeUnitLimit(1_400_000)],
    );
    assert_eq!(bank.fee(&tx.view()), Some(FEE));
}

#[test]
fn a_payer_that_can_pay_the_base_fee_but_not_the_priority_fee_is_not_included() {
    let (alice, bob) = (key(1), key(2));
    // Bob holds the base fee and 3 lamports; his transaction's priority fee is 4.
    let g = genesis(&[(addr(&alice), 1_000_000), (addr(&bob), FEE + 3)]);
    let root = Arc::new(Bank::genesis(&g));
    let bank = Bank::new_child(&root, Slot(1), LEADER);
    let to = Pubkey([42; 32]);
    let tx = paying(&bob, &to, 0, &g.hash(), &budget(301, 10_000));
    assert_eq!(
        run_serial(&bank, std::slice::from_ref(&tx)),
        vec![Err(TxError::InsufficientFundsForFee)]
    );
    assert_eq!(
        bank.check_transaction(&tx.view()),
        Err(TxError::InsufficientFundsForFee)
    );
    assert_eq!(bank.balance(&addr(&bob)), FEE + 3);
    assert_eq!((bank.transaction_count(), bank.collected_fees()), (0, 0));
    assert_eq!(bank.status(&tx.signature()), None);
    // With exactly enough, it lands and leaves the payer empty.
    let tx = paying(&bob, &to, 0, &g.hash(), &budget(300, 10_000));
    assert_eq!(run_serial(&bank, std::slice::from_ref(&tx)), vec![Ok(())]);
    assert_eq!(bank.balance(&addr(&bob)), 0);
    // A priority fee too large for a u64 is one nobody can pay.
    let tx = paying(&alice, &to, 0, &g.hash(), &budget(1_400_000, u64::MAX));
    assert_eq!(bank.fee(&tx.view()), None);
    assert_eq!(
        run_serial(&bank, std::slice::from_ref(&tx)),
        vec![Err(TxError::InsufficientFundsForFee)]
    );
}

#[test]
fn a_failed_transfer_still_pays_its_priority_fee_and_supply_never_changes() {
    let (alice, bob) = (key(1), key(2));
    let g = genesis(&[(addr(&alice), 1_000_000), (addr(&bob), 50_000)]);
    let root = Arc::new(Bank::genesis(&g));
    let bank = Bank::new_child(&root, Slot(1), LEADER);
    let bh = g.hash();
    let txs = [
        paying(&alice, &Pubkey([7; 32]), 10, &bh, &budget(2_000, 1_000_000)),
        // More than Bob has after his fee: included as failed, fee kept. The transfer is
        // instruction 2, after the two budget instructions.
        paying(&bob, &Pubkey([8; 32]), 49_000, &bh, &budget(5_000, 200_000)),
    ];
    let statuses = run_serial(&bank, &txs);
    assert_eq!(statuses[0], Ok(()));
    assert_eq!(
        statuses[1],
        Err(TxError::InstructionError {
            index: 2,
            kind: InstructionErrorKind::InsufficientFunds
        })
    );
    assert_eq!(bank.balance(&addr(&bob)), 50_000 - FEE - 1_000);
    assert_eq!(bank.balance(&Pubkey([8; 32])), 0);
    let fees = (FEE + 2_000) + (FEE + 1_000);
    assert_eq!(bank.collected_fees(), fees);
    assert_eq!(bank.total_supply(), g.total_supply());
    bank.freeze(Hash([9; 32]));
    assert_eq!(bank.balance(&LEADER), fees);
    assert_eq!(bank.total_supply(), g.total_supply());
}

#[test]
fn duplicate_and_unsupported_budget_instructions_never_reach_a_bank() {
    let alice = key(1);
    let bh = Hash([3; 32]);
    let to = Pubkey([42; 32]);
    let twice = build_transfer_with_budget(
        &alice,
        &to,
        1,
        &bh,
        &[
            ComputeBudgetInstruction::SetComputeUnitPrice(1),
            ComputeBudgetInstruction::SetComputeUnitLimit(500),
            ComputeBudgetInstruction::SetComputeUnitPrice(2),
        ],
    );
    let e = Txn::parse(&twice).unwrap_err();
    assert_eq!(e, TxnError::DuplicateInstruction { instruction: 2 });
    // Solana's shape, as RPC reports it.
    assert_eq!(
        e.to_solana_json(),
        Some(serde_json::json!({ "DuplicateInstruction": 2 }))
    );
    // A heap frame request, as a wallet might add: refused, named, counted as unsupported.
    let mut wire = build_transfer_with_budget(
        &alice,
        &to,
        1,
        &bh,
        &[ComputeBudgetInstruction::SetComputeUnitLimit(0x0004_0000)],
    );
    // Turn SetComputeUnitLimit (2) into RequestHeapFrame (1) with the same 4-byte value.
    let at = wire
        .windows(5)
        .position(|w| w == [2, 0, 0, 4, 0])
        .expect("the limit's data");
    wire[at] = 1;
    let e = Txn::parse(&wire).unwrap_err();
    assert_eq!(
        e,
        TxnError::ComputeBudget {
            instruction: 0,
            error: ComputeBudgetError::Unsupported {
                discriminant: 1,
                name: "RequestHeapFrame"
            }
        }
    );
    assert!(e.to_string().contains("RequestHeapFrame"), "{e}");
    assert_eq!(e.to_solana_json(), None);
    assert_eq!(
        crate::metrics::Reject::from(&e),
        crate::metrics::Reject::UnsupportedInstruction
    );
}
