//! `VoteInstruction::decode`: agrees with `check`, re-encodes canonically.
#![no_main]
use dataplane::vote::VoteInstruction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let decoded = VoteInstruction::decode(bytes);
    assert_eq!(decoded.is_ok(), VoteInstruction::check(bytes).is_ok());
    if let Ok(ix) = decoded {
        let mut again = Vec::new();
        ix.encode(&mut again);
        assert_eq!(again, bytes);
    }
});
