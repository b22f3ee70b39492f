//! `Block::decode`: canonical round trip.
#![no_main]
use dataplane::block::Block;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(block) = Block::decode(bytes) {
        assert_eq!(block.encode(), bytes);
    }
});
