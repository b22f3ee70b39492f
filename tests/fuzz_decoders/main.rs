//! Structure-aware fuzzing, on stable Rust, of every decoder of bytes that come from outside the
//! node: transactions, shreds, repair, gossip, votes, vote states, blocks and entries, the tower
//! file. (The RPC and PubSub decoders are private to the node crate: `src/rpc/tests_fuzz.rs`
//! fuzzes them with this same engine.)
//!
//! Each decoder gets valid encodings from a generator, the same mutated (bit flips, boundary
//! integers over length fields, truncation, insertion, deletion, duplication, splicing of two
//! valid encodings) and raw random bytes. It must not panic or hang, must stay within its
//! documented allocation bound (counted by this binary's global allocator), must accept every
//! valid encoding, and what it accepts must re-encode to the same bytes where an encoder exists.
//!
//! `cargo test --test fuzz_decoders` runs 4,000 inputs per decoder (CI); the long run is
//! `BLACKBOOK_FUZZ_CASES=10000000 cargo test --release --test fuzz_decoders -- --nocapture`, with
//! `BLACKBOOK_FUZZ_SEED=<u64>` for a different stream of inputs than CI's fixed one.

mod controlplane_targets;
mod dataplane_targets;
mod engine;
mod generate;

use engine::{fuzz, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn fuzz_txn() {
    fuzz(&dataplane_targets::txn());
}

#[test]
fn fuzz_txn_message() {
    fuzz(&dataplane_targets::txn_message());
}

#[test]
fn fuzz_shred() {
    fuzz(&dataplane_targets::shred());
}

#[test]
fn fuzz_slot_assembler() {
    fuzz(&dataplane_targets::slot_assembler());
}

#[test]
fn fuzz_repair_request() {
    fuzz(&dataplane_targets::repair_request_target());
}

#[test]
fn fuzz_repair_response() {
    fuzz(&dataplane_targets::repair_response());
}

#[test]
fn fuzz_vote_instruction() {
    fuzz(&dataplane_targets::vote_instruction());
}

#[test]
fn fuzz_vote_state() {
    fuzz(&dataplane_targets::vote_state());
}

#[test]
fn fuzz_compute_budget() {
    fuzz(&dataplane_targets::compute_budget());
}

#[test]
fn fuzz_block() {
    fuzz(&dataplane_targets::block());
}

#[test]
fn fuzz_entry() {
    fuzz(&dataplane_targets::entry());
}

#[test]
fn fuzz_slot_stream() {
    fuzz(&dataplane_targets::slot_stream());
}

#[test]
fn fuzz_gossip() {
    fuzz(&controlplane_targets::gossip());
}

#[test]
fn fuzz_parsed_vote() {
    fuzz(&controlplane_targets::parsed_vote());
}

#[test]
fn fuzz_tower_file() {
    fuzz(&controlplane_targets::tower_file());
}

/// The allocation counter counts: without it every bound above would pass vacuously.
#[test]
fn the_counting_allocator_counts_this_thread() {
    let (v, allocated, _) = engine::measure(|| vec![0u8; 1_000]);
    assert_eq!(v.len(), 1_000);
    assert!(allocated >= 1_000, "counted {allocated} bytes");
    let (_, none, _) = engine::measure(|| 2 + 2);
    assert_eq!(none, 0);
}
