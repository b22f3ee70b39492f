//! `txn::parse`: every transaction from UDP, forwarding, RPC and gossip votes.
#![no_main]
use dataplane::txn::{parse, parse_message, TxnView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(layout) = parse(bytes) {
        let view = TxnView::from_parts(bytes, layout);
        let _ = (
            view.transfers().count(),
            view.vote_instruction(),
            view.signature(),
        );
        // The message alone parses the same way behind placeholder signatures.
        let again =
            parse_message(view.message()).expect("an accepted transaction's message parses");
        assert_eq!(again.is_vote, layout.is_vote);
    }
});
