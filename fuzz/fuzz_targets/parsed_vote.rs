//! `ParsedVote::parse`: the consensus core's reading of a vote transaction.
#![no_main]
use controlplane::io::ParsedVote;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Some(vote) = ParsedVote::parse(bytes) {
        assert_eq!(&vote.tx[..], bytes);
    }
});
