//! `VoteState::decode`: canonical round trip.
#![no_main]
use dataplane::vote_state::VoteState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(state) = VoteState::decode(bytes) {
        assert_eq!(state.to_bytes(), bytes);
    }
});
