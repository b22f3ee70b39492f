//! `decode_entry`: canonical round trip.
#![no_main]
use dataplane::block::{decode_entry, encode_entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(entry) = decode_entry(bytes) {
        let mut again = Vec::new();
        encode_entry(&entry, &mut again);
        assert_eq!(again, bytes);
    }
});
