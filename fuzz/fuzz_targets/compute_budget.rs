//! `ComputeBudgetInstruction::decode`: canonical round trip.
#![no_main]
use dataplane::compute_budget::ComputeBudgetInstruction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(ix) = ComputeBudgetInstruction::decode(bytes) {
        assert_eq!(ix.encode(), bytes);
    }
});
