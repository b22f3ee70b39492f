//! Gossip datagrams: decoded without value signatures (the parse alone), then re-encoded.
#![no_main]
use controlplane::gossip::wire::{decode_and_verify_unheld, encode};
use dataplane::types::Hash;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok((msg, _)) = decode_and_verify_unheld(bytes, &Hash([7; 32]), |_| true) {
        assert_eq!(encode(msg.get()), bytes);
    }
});
