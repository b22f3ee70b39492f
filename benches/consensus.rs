//! Control plane: one validator's core taking a 100-validator cluster's votes, beside the edge's bare
//! `verify_strict` of the same vote transactions — the signature check every vote passes before the
//! core sees it, so the rate the core must beat. Each vote is a Solana `TowerSync` transaction: the
//! core parses it, checks it for evidence, counts it in fork choice, vote aggregation and finality,
//! and then sees it again landed in the next block. Throughput is votes/s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::gossip::crds::{ContactInfo, SoftwareVersion};
use controlplane::io::{Input, ParsedVote};
use controlplane::node::{Node, NodeConfig, Restored, TowerStart};
use controlplane::signer::{Signer as _, Verified};
use controlplane::tower::Tower;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::genesis::{Genesis, GenesisValidator};
use dataplane::plane::{BankFrozen, LandedVote};
use dataplane::txn::TxnView;
use dataplane::types::{Hash, Slot};
use dataplane::vote::{build_vote_txn, vote_account_address, VoteInstruction};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

/// The cluster's size.
const VALIDATORS: usize = 100;
/// Slots per measured iteration (past the 32 a first root needs).
const SLOTS: u64 = 48;
const SLOT_MS: u64 = 400;

/// One iteration's inputs: the chain's blocks and every other validator's vote on each.
struct Cluster {
    genesis: Genesis,
    me: SigningKey,
    blocks: Vec<BankFrozen>,
    /// Per slot, the votes of validators 1.. on it.
    votes: Vec<Vec<Arc<[u8]>>>,
}

fn key(i: usize) -> SigningKey {
    SigningKey::from_bytes(&Hash::hashv(&[b"consensus-bench", &(i as u64).to_le_bytes()]).0)
}

fn cluster() -> Cluster {
    let keys: Vec<SigningKey> = (0..VALIDATORS).map(key).collect();
    let genesis = Genesis {
        creation_time_unix_ms: 0,
        slot_duration_ms: SLOT_MS,
        slots_per_epoch: 64,
        ..Genesis::with_defaults(
            "bench",
            keys.iter()
                .map(|k| GenesisValidator {
                    identity: k.pubkey(),
                    stake: 100,
                })
                .collect(),
            vec![],
        )
    };
    let mut towers: Vec<Tower> = (0..VALIDATORS).map(|_| Tower::new(None)).collect();
    let mut blocks = Vec::new();
    let mut votes: Vec<Vec<Arc<[u8]>>> = Vec::new();
    for s in 1..=SLOTS {
        let slot = Slot(s);
        let bank_hash = Hash::hashv(&[b"bank", &s.to_le_bytes()]);
        let blockhash = Hash::hashv(&[b"blockhash", &s.to_le_bytes()]);
        // The previous slot's votes landed in this block.
        let landed = towers[1..]
            .iter()
            .zip(&keys[1..])
            .filter(|_| s > 1)
            .map(|(t, k)| {
                let sync = t.tower_sync();
                LandedVote {
                    voter: k.pubkey(),
                    lockouts: sync.lockouts,
                    root: sync.root,
                    timestamp: None,
                }
            })
            .collect();
        blocks.push(BankFrozen {
            slot,
            parent: Slot(s - 1),
            bank_hash,
            blockhash,
            block_id: Hash::hashv(&[b"block id", &s.to_le_bytes()]),
            leader: keys[(s as usize / 4) % VALIDATORS].pubkey(),
            votes: landed,
        });
        let mut on_slot = Vec::new();
        for (t, k) in towers.iter_mut().zip(&keys).skip(1) {
            t.record_vote(slot, bank_hash, Hash::default(), 0);
            let me = k.pubkey();
            let tx = build_vote_txn(
                &me,
                &vote_account_address(&me),
                &VoteInstruction::TowerSync(t.tower_sync()),
                &blockhash,
                |m| k.sign(m),
            );
            on_slot.push(Arc::from(tx));
        }
        votes.push(on_slot);
    }
    Cluster {
        genesis,
        me: keys[0].clone(),
        blocks,
        votes,
    }
}

fn core(c: &Cluster) -> Node {
    let addr = "127.0.0.1:8001".parse().expect("address");
    let contact = ContactInfo {
        version: SoftwareVersion {
            major: 0,
            minor: 1,
            patch: 0,
        },
        instance: 1,
        ..ContactInfo::at(
            c.me.pubkey(),
            dataplane::shred::shred_version(&c.genesis.hash()),
            addr,
        )
    };
    let config = NodeConfig {
        genesis: c.genesis.clone(),
        gossip: Default::default(),
        contact,
        seeds: vec![],
        rng_seed: 7,
        voting: true,
    };
    let restored = Restored {
        root: (Slot(0), Hash::default()),
        tower: TowerStart::Fresh,
    };
    Node::new(config, Box::new(c.me.clone()), restored, 0)
}

/// Feeds one iteration's blocks and votes to a new core; returns the time and the votes fed.
fn run_core(c: &Cluster) -> (Duration, u64) {
    let mut node = core(c);
    let mut fed = 0u64;
    let start = Instant::now();
    for (block, votes) in c.blocks.iter().zip(&c.votes) {
        let now = block.slot.0 * SLOT_MS;
        node.handle(now, Input::BankFrozen(block.clone()));
        for tx in votes {
            let Some(v) = ParsedVote::parse(tx) else {
                continue;
            };
            node.handle(now + 50, Input::Vote(Verified::checked_at_edge(v)));
            fed += 1;
        }
        while node.poll_output().is_some() {}
    }
    let t = start.elapsed();
    assert!(
        node.commitment().root >= Slot(SLOTS - 33),
        "the bench cluster must root: {:?}",
        node.commitment()
    );
    (t, fed)
}

fn verify_all(c: &Cluster) -> u64 {
    let mut ok = 0;
    for tx in c.votes.iter().flatten() {
        let v = TxnView::new(tx).expect("valid");
        let key = VerifyingKey::from_bytes(v.account_key_bytes(0)).expect("key");
        ok += u64::from(
            key.verify_strict(v.message(), &Signature::from_bytes(v.signature_bytes(0)))
                .is_ok(),
        );
    }
    ok
}

#[derive(Default)]
struct Tally {
    elements: u64,
    time: Duration,
}

impl Tally {
    fn rate(&self) -> f64 {
        self.elements as f64 / self.time.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

fn consensus(c: &mut Criterion) {
    let cluster = cluster();
    let per_iter = cluster.votes.iter().map(Vec::len).sum::<usize>() as u64;
    let (mut limit, mut measured) = (Tally::default(), Tally::default());
    let mut g = c.benchmark_group("consensus");
    g.throughput(Throughput::Elements(per_iter));
    g.sample_size(10);
    g.bench_function("verify_strict_votes", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                assert_eq!(verify_all(&cluster), per_iter);
            }
            let t = start.elapsed();
            limit.elements += iters * per_iter;
            limit.time += t;
            t
        })
    });
    g.bench_function("core_votes_100_validators", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (t, fed) = run_core(&cluster);
                measured.elements += fed;
                measured.time += t;
                total += t;
            }
            total
        })
    });
    g.finish();
    if limit.elements > 0 && measured.elements > 0 {
        eprintln!(
            "consensus/core_votes_100_validators: {:.0} k votes/s = {:.1}x verify_strict_votes \
             ({:.1} k votes/s, one thread) in this run",
            measured.rate() / 1e3,
            measured.rate() / limit.rate(),
            limit.rate() / 1e3
        );
    }
}

criterion_group!(benches, consensus);
criterion_main!(benches);
