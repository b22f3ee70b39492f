//! Per-thread throughput of bare `verify_strict` beside the node's sigverify stage.
//!
//! `cargo run --release -p blackbook-dataplane --example sigverify_throughput [rounds]`
//!
//! Prints figures only; the target (DESIGN §6) is stage ≥ 90 % of bare `verify_strict` per thread.
//! Variants run in interleaved rounds and the best of each is kept, so a shared machine's noise hits
//! them alike.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use dataplane::metrics::RejectCounters;
use dataplane::packet::{PacketBatch, PACKETS_PER_BATCH};
use dataplane::sigverify::SigverifyStage;
use dataplane::txn::{build_transfer, TxnView};
use dataplane::types::{Hash, Pubkey};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

/// Transactions per measurement (≈ 0.4 s of one thread at 20 k/s).
const TXNS: usize = PACKETS_PER_BATCH * 128;
/// Interleaved rounds unless given on the command line; the best of each variant is reported.
const ROUNDS_DEFAULT: usize = 3;

/// `TXNS` signed transfers from `payers` distinct fee payers, all distinct packets.
fn transfers(payers: usize) -> Vec<Vec<u8>> {
    (0..TXNS)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&((i % payers) as u64).to_le_bytes());
            let payer = SigningKey::from_bytes(&seed);
            build_transfer(&payer, &Pubkey([9; 32]), i as u64, &Hash::default())
        })
        .collect()
}

fn per_second(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    TXNS as f64 / start.elapsed().as_secs_f64()
}

/// Bare `verify_strict` over the transactions; `keys` holds pre-decoded keys, or `None` to decode
/// each key as a verifier of wire bytes must.
fn bare(views: &[TxnView<'_>], keys: Option<&[VerifyingKey]>) -> f64 {
    per_second(|| {
        for (i, v) in views.iter().enumerate() {
            let key = match keys {
                Some(keys) => keys[i],
                None => VerifyingKey::from_bytes(v.account_key_bytes(0)).expect("valid key"),
            };
            let sig = Signature::from_bytes(v.signature_bytes(0));
            assert!(key.verify_strict(v.message(), &sig).is_ok());
        }
    })
}

/// The stage with `threads` workers, from the first batch queued to the last transaction out.
fn stage(packets: &[Vec<u8>], threads: usize) -> f64 {
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let batches = TXNS / PACKETS_PER_BATCH;
    let (in_tx, in_rx) = crossbeam_channel::bounded(batches);
    for chunk in packets.chunks(PACKETS_PER_BATCH) {
        let mut batch = PacketBatch::new();
        for p in chunk {
            batch.push(p, addr);
        }
        in_tx.send(batch).expect("queue sized for all batches");
    }
    drop(in_tx);
    let (out_tx, out_rx) = crossbeam_channel::bounded(batches);
    let (pool_tx, _pool_rx) = crossbeam_channel::bounded(batches);
    let counters = Arc::new(RejectCounters::default());
    let exit = Arc::new(AtomicBool::new(false));
    let rate = per_second(|| {
        SigverifyStage::spawn(threads, in_rx, out_tx, pool_tx, counters, exit)
            .expect("spawn")
            .join()
            .expect("workers");
    });
    let accepted: usize = out_rx.try_iter().map(|v| v.len()).sum();
    assert_eq!(accepted, TXNS, "the stage dropped transactions");
    rate
}

fn main() {
    let rounds = std::env::args()
        .nth(1)
        .map_or(ROUNDS_DEFAULT, |a| a.parse().expect("rounds: a number"));
    // A distinct payer per transaction (every key decompressed), and 64 busy payers.
    let (distinct, repeated) = (transfers(TXNS), transfers(64));
    let views: Vec<TxnView<'_>> = distinct
        .iter()
        .map(|p| TxnView::new(p).expect("valid transfer"))
        .collect();
    let keys: Vec<VerifyingKey> = views
        .iter()
        .map(|v| VerifyingKey::from_bytes(v.account_key_bytes(0)).expect("valid key"))
        .collect();
    let mut best = [0.0f64; 6];
    for _ in 0..rounds {
        let round = [
            bare(&views, Some(&keys)),
            bare(&views, None),
            stage(&distinct, 1),
            stage(&repeated, 1),
            stage(&distinct, 2),
            stage(&repeated, 2),
        ];
        for (b, r) in best.iter_mut().zip(round) {
            *b = b.max(r);
        }
    }
    let [bare_once, bare_each, distinct1, repeated1, distinct2, repeated2] = best;
    let pct = |x: f64| 100.0 * x / bare_once;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{TXNS} transfers per run, best of {rounds} interleaved rounds, {cores} cores");
    println!("sigverify/bare_verify_strict/key_decoded=once   {bare_once:>9.0} /s  100.0 %");
    for (name, rate) in [
        ("bare_verify_strict/key_decoded=each", bare_each),
        ("stage/threads=1/payers=distinct   ", distinct1),
        ("stage/threads=1/payers=64         ", repeated1),
    ] {
        println!("sigverify/{name} {rate:>9.0} /s  {:.1} %", pct(rate));
    }
    for (name, rate, one) in [
        ("stage/threads=2/payers=distinct   ", distinct2, distinct1),
        ("stage/threads=2/payers=64         ", repeated2, repeated1),
    ] {
        println!(
            "sigverify/{name} {rate:>9.0} /s  {:.2}x one thread",
            rate / one
        );
    }
}
