//! `decode_slot_stream`: canonical round trip.
#![no_main]
use dataplane::block::{decode_slot_stream, encode_stream_entry, encode_stream_footer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok((entries, footer)) = decode_slot_stream(bytes) {
        let mut again = Vec::new();
        for e in &entries {
            encode_stream_entry(e, &mut again);
        }
        encode_stream_footer(&footer, &mut again);
        assert_eq!(again, bytes);
    }
});
