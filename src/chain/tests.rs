use dataplane::bank::{InstructionErrorKind, TxError};
use dataplane::types::Signature;

use super::set_errors;
use crate::rpc::pubsub::TxChange;

fn tx(n: u8) -> TxChange {
    TxChange {
        signature: Signature([n; 64]),
        err: None,
        accounts: Vec::new(),
        is_vote: false,
    }
}

const FAILED: TxError = TxError::InstructionError {
    index: 0,
    kind: InstructionErrorKind::InsufficientFunds,
};

#[test]
fn errors_come_from_the_banks_outcomes_in_order_or_out_of_it() {
    let in_order = [
        (Signature([1; 64]), Ok(())),
        (Signature([2; 64]), Err(FAILED)),
        (Signature([3; 64]), Ok(())),
    ];
    let mut block = [tx(1), tx(2), tx(3)];
    set_errors(&mut block, &in_order);
    let errs: Vec<_> = block.iter().map(|t| t.err.clone()).collect();
    assert_eq!(errs, [None, Some(FAILED.to_solana_json()), None]);

    // Listed in another order than the block's, and one the bank never saw: each by signature.
    let shuffled = [
        (Signature([3; 64]), Err(FAILED)),
        (Signature([1; 64]), Ok(())),
    ];
    let mut block = [tx(1), tx(2), tx(3)];
    block[1].err = Some(serde_json::json!("stale"));
    set_errors(&mut block, &shuffled);
    let errs: Vec<_> = block.iter().map(|t| t.err.clone()).collect();
    assert_eq!(errs, [None, None, Some(FAILED.to_solana_json())]);
}
