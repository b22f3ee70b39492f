//! A frozen slot's transactions, matched with their bank's outcomes.

use std::collections::HashMap;

use dataplane::bank::{TxError, TxStatus};
use dataplane::types::Signature;

use crate::rpc::pubsub::TxChange;

/// Sets each transaction's error from its bank's outcomes. The bank lists them in commit order,
/// which is the block's order, so they are matched by position; a transaction found elsewhere (or
/// not at all: no error) is looked up by signature instead of trusting the order.
pub(super) fn set_errors(transactions: &mut [TxChange], statuses: &[(Signature, TxStatus)]) {
    let mut by_signature: Option<HashMap<Signature, usize, ahash::RandomState>> = None;
    for (i, tx) in transactions.iter_mut().enumerate() {
        let status = match statuses.get(i) {
            Some((signature, status)) if *signature == tx.signature => Some(status),
            _ => by_signature
                .get_or_insert_with(|| {
                    let mut map =
                        HashMap::with_capacity_and_hasher(statuses.len(), Default::default());
                    map.extend(statuses.iter().enumerate().map(|(i, (s, _))| (*s, i)));
                    map
                })
                .get(&tx.signature)
                .map(|&at| &statuses[at].1),
        };
        tx.err = status
            .and_then(|s| s.as_ref().err())
            .map(TxError::to_solana_json);
    }
}

#[cfg(test)]
mod tests {
    use dataplane::bank::InstructionErrorKind;

    use super::*;

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
}
