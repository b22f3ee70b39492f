//! `txn::parse_message` (RPC `getFeeForMessage`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = dataplane::txn::parse_message(bytes);
});
