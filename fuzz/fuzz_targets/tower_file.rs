//! `tower::file::decode_and_verify`: a tower file in any state.
#![no_main]
use controlplane::tower::file::decode_and_verify;
use dataplane::types::Pubkey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    // Expect the identity the file itself names, so that every file gets past the identity check
    // into the tower's decoding and the signature check.
    let mut expected = [0u8; 32];
    if let Some(named) = bytes.get(8..40) {
        expected.copy_from_slice(named);
    }
    let _ = decode_and_verify(bytes, &Pubkey(expected));
});
