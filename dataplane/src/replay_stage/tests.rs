use std::sync::Arc;

use ed25519_dalek::SigningKey;

use super::*;
use crate::bank_forks::BankForks;
use crate::entry::Entry;
use crate::genesis::{GenesisAccount, GenesisValidator};
use crate::plane::LandedVote;
use crate::replay::load_cluster;
use crate::testkit::{produce_block, slot_stream};
use crate::txn::{build_transfer, Txn};

const HASHES_PER_TICK: u64 = 8;
const TICKS_PER_SLOT: u64 = 4;
const LEADER: Pubkey = Pubkey([1; 32]);

fn payer(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 40; 32])
}

fn genesis() -> Genesis {
    genesis_with_payers(4)
}

fn genesis_with_payers(payers: u8) -> Genesis {
    Genesis {
        ticks_per_slot: TICKS_PER_SLOT,
        hashes_per_tick: HASHES_PER_TICK,
        ..Genesis::with_defaults(
            "replay-stage-test",
            vec![GenesisValidator {
                identity: LEADER,
                stake: 1,
            }],
            (0..payers)
                .map(|i| GenesisAccount {
                    pubkey: Pubkey(payer(i).verifying_key().to_bytes()),
                    lamports: 1_000_000_000,
                })
                .collect(),
        )
    }
}

/// A node's chain state in a temporary directory.
struct Node {
    _dir: tempfile::TempDir,
    forks: Arc<RwLock<BankForks>>,
    store: Arc<Store>,
}

fn node(g: &Genesis) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), g.hash()).unwrap());
    let (forks, _) = load_cluster(g, &store, &mut Executor::new(0), 1).unwrap();
    Node {
        _dir: dir,
        forks: Arc::new(RwLock::new(forks)),
        store,
    }
}

fn produce(g: &Genesis, parent: &Arc<Bank>, slot: u64, txs: Vec<Txn>) -> (Arc<Bank>, Vec<Entry>) {
    produce_block(g, parent, Slot(slot), LEADER, vec![txs])
}

fn stream(entries: &[Entry], bank_hash: Hash) -> Vec<u8> {
    slot_stream(entries, bank_hash, 1_234)
}

/// What replay reports for `bank` received as [`received`] builds it.
fn frozen_report(bank: &Bank) -> BankFrozen {
    BankFrozen::new(bank, Hash([5; 32])).unwrap()
}

fn received(bank: &Bank, entries: &[Entry]) -> ReceivedBlock {
    ReceivedBlock {
        slot: bank.slot(),
        parent: bank.parent_slot(),
        leader: LEADER,
        stream: stream(entries, bank.bank_hash().unwrap()),
        data_shreds: vec![vec![7; 3]],
        last_fec_root: Some(Hash([5; 32])),
    }
}

fn transfers(g: &Genesis, from: u8, n: u64) -> Vec<Txn> {
    (0..n)
        .map(|i| {
            // One payer per transaction: an entry never holds two that write the same account.
            Txn::parse(&build_transfer(
                &payer((from + i as u8) % 4),
                &Pubkey([90 + i as u8; 32]),
                1_000 + i,
                &g.hash(),
            ))
            .unwrap()
        })
        .collect()
}

fn replayer(g: &Genesis, n: &Node) -> Replayer {
    Replayer::new(g.clone(), n.forks.clone(), n.store.clone(), 2, 0)
}

#[test]
fn a_validator_replays_the_leaders_blocks_to_the_same_bank_hashes_and_stores_them() {
    let g = genesis();
    let leader = node(&g);
    let validator = node(&g);
    let root = leader.forks.read().unwrap().root_bank();
    let (b1, e1) = produce(&g, &root, 1, transfers(&g, 0, 3));
    // Slot 2 skipped: slot 3's block carries its ticks.
    let (b3, e3) = produce(&g, &b1, 3, transfers(&g, 1, 2));
    let mut r = replayer(&g, &validator);
    let out = r.replay(received(&b1, &e1)).unwrap();
    assert_eq!(
        out,
        vec![ReplayOutcome::Replayed {
            frozen: frozen_report(&b1),
            transactions: 3
        }]
    );
    r.replay(received(&b3, &e3)).unwrap();
    let forks = validator.forks.read().unwrap();
    assert_eq!(forks.get(Slot(3)).unwrap().bank_hash(), b3.bank_hash());
    // 1,001 from each block.
    assert_eq!(
        forks.get(Slot(3)).unwrap().balance(&Pubkey([91; 32])),
        2_002
    );
    let meta = validator.store.slot_meta(Slot(3)).unwrap().unwrap();
    assert_eq!(meta.parent_slot, Slot(1));
    assert_eq!(meta.bank_hash, b3.bank_hash().unwrap());
    assert_eq!(meta.block_time_ms, 1_234);
    assert_eq!(meta.leader, LEADER);
    assert_eq!(validator.store.entries(Slot(3)).unwrap().len(), e3.len());
    assert_eq!(validator.store.shred(Slot(3), 0).unwrap(), Some(vec![7; 3]));
    assert_eq!(
        validator.store.last_fec_root(Slot(3)).unwrap(),
        Some(Hash([5; 32]))
    );
    // Not rooted: rooting is the caller's policy.
    assert_eq!(validator.store.root().unwrap(), Some(Slot(0)));
    let sig = e3[e3.len() - TICKS_PER_SLOT as usize - 1].transactions[0].signature();
    assert_eq!(
        validator.store.tx_status(&sig).unwrap().unwrap().slot,
        Slot(3)
    );
    // Replay fills the address index too: [91; 32] received one transfer in each block.
    let to_91 = |e: &[Entry]| e[e.len() - TICKS_PER_SLOT as usize - 1].transactions[1].signature();
    let listed = |address: &Pubkey| -> Vec<crate::types::Signature> {
        validator
            .store
            .signatures_for_address(address, None, None, 10, |_| true)
            .unwrap()
            .into_iter()
            .map(|t| t.signature)
            .collect()
    };
    assert_eq!(listed(&Pubkey([91; 32])), vec![to_91(&e3), to_91(&e1)]);
    // Payer 2 paid slot 3's second transfer and slot 1's third.
    let block_txs = |e: &[Entry]| {
        e[e.len() - TICKS_PER_SLOT as usize - 1]
            .transactions
            .clone()
    };
    assert_eq!(
        listed(&Pubkey(payer(2).verifying_key().to_bytes())),
        vec![to_91(&e3), block_txs(&e1)[2].signature()]
    );
    // The program a transaction calls is not indexed (every transfer would name it).
    assert!(listed(&Pubkey::SYSTEM_PROGRAM).is_empty());
    assert_eq!(r.stats().replayed.load(Ordering::Relaxed), 2);
    assert_eq!(r.stats().transactions.load(Ordering::Relaxed), 5);
    // The same block again is nothing new.
    drop(forks);
    assert_eq!(
        r.replay(received(&b3, &e3)).unwrap(),
        vec![ReplayOutcome::AlreadyKnown(Slot(3))]
    );
}

#[test]
fn queued_blocks_are_checked_while_the_one_before_is_stored_and_reported_in_order_once_stored() {
    let g = genesis();
    let leader = node(&g);
    let validator = node(&g);
    let root = leader.forks.read().unwrap().root_bank();
    let (b1, e1) = produce(&g, &root, 1, transfers(&g, 0, 3));
    let (b2, e2) = produce(&g, &b1, 2, transfers(&g, 1, 2));
    let (b3, e3) = produce(&g, &b2, 3, transfers(&g, 2, 1));
    let (b4, e4) = produce(&g, &b2, 4, transfers(&g, 3, 1));
    let mut bad = received(&b3, &e3);
    bad.stream = stream(&e3, Hash([3; 32]));
    let mut r = replayer(&g, &validator);
    let mut outcomes = Vec::new();
    // Whatever is reported is already stored: a vote on it survives a crash.
    let mut take = |out: Vec<ReplayOutcome>, store: &Store| {
        for o in &out {
            if let ReplayOutcome::Replayed { frozen, .. } = o {
                assert!(store.slot_meta(frozen.slot).unwrap().is_some(), "{o:?}");
            }
        }
        outcomes.extend(out);
    };
    for block in [
        received(&b1, &e1),
        received(&b2, &e2),
        bad,
        received(&b4, &e4),
    ] {
        // Slot 2 is checked against slot 1's bank while slot 1 may still be on its way to storage.
        take(r.submit(block).unwrap(), &validator.store);
    }
    take(r.finish().unwrap(), &validator.store);
    assert!(!r.is_storing());
    assert_eq!(
        outcomes,
        vec![
            ReplayOutcome::Replayed {
                frozen: frozen_report(&b1),
                transactions: 3
            },
            ReplayOutcome::Replayed {
                frozen: frozen_report(&b2),
                transactions: 2
            },
            ReplayOutcome::Dead {
                slot: Slot(3),
                reason: DeadReason::BankHash
            },
            ReplayOutcome::Replayed {
                frozen: frozen_report(&b4),
                transactions: 1
            },
        ]
    );
    assert!(validator.store.dead_reason(Slot(3)).unwrap().is_some());
    assert_eq!(
        validator
            .store
            .slot_meta(Slot(4))
            .unwrap()
            .unwrap()
            .parent_slot,
        Slot(2)
    );
}

#[test]
fn an_entry_split_across_sealevel_workers_replays_to_the_leaders_bank_hash() {
    // Twice the executor's smallest chunk, one payer and one recipient per transfer: replay gives the
    // second half of the entry to a worker.
    const N: u8 = 2 * crate::sealevel::CHUNK_MIN as u8;
    let g = genesis_with_payers(N);
    let leader = node(&g);
    let validator = node(&g);
    let txs: Vec<Txn> = (0..N)
        .map(|i| {
            Txn::parse(&build_transfer(
                &payer(i),
                &Pubkey([150 + i; 32]),
                500 + u64::from(i),
                &g.hash(),
            ))
            .unwrap()
        })
        .collect();
    let root = leader.forks.read().unwrap().root_bank();
    let (b1, e1) = produce(&g, &root, 1, txs);
    let mut r = Replayer::new(
        g.clone(),
        validator.forks.clone(),
        validator.store.clone(),
        2,
        1,
    );
    let out = r.replay(received(&b1, &e1)).unwrap();
    assert_eq!(
        out,
        vec![ReplayOutcome::Replayed {
            frozen: frozen_report(&b1),
            transactions: u32::from(N)
        }]
    );
    let forks = validator.forks.read().unwrap();
    let replayed = forks.get(Slot(1)).unwrap();
    for i in 0..N {
        assert_eq!(replayed.balance(&Pubkey([150 + i; 32])), 500 + u64::from(i));
    }
}

#[test]
fn a_block_that_arrives_before_its_parent_waits_then_replays() {
    let g = genesis();
    let leader = node(&g);
    let validator = node(&g);
    let root = leader.forks.read().unwrap().root_bank();
    let (b1, e1) = produce(&g, &root, 1, transfers(&g, 0, 1));
    let (b2, e2) = produce(&g, &b1, 2, transfers(&g, 1, 1));
    let (b3, e3) = produce(&g, &b2, 3, vec![]);
    let mut r = replayer(&g, &validator);
    assert_eq!(
        r.replay(received(&b3, &e3)).unwrap(),
        vec![ReplayOutcome::WaitingForParent {
            slot: Slot(3),
            parent: Slot(2)
        }]
    );
    r.replay(received(&b2, &e2)).unwrap();
    assert_eq!(r.orphans(), vec![(Slot(2), Slot(1)), (Slot(3), Slot(2))]);
    assert_eq!(r.stats().waiting.load(Ordering::Relaxed), 2);
    let out = r.replay(received(&b1, &e1)).unwrap();
    let replayed: Vec<Slot> = out
        .iter()
        .filter_map(|o| match o {
            ReplayOutcome::Replayed { frozen, .. } => Some(frozen.slot),
            _ => None,
        })
        .collect();
    assert_eq!(replayed, vec![Slot(1), Slot(2), Slot(3)]);
    assert!(r.orphans().is_empty());
    assert_eq!(
        validator
            .forks
            .read()
            .unwrap()
            .get(Slot(3))
            .unwrap()
            .bank_hash(),
        b3.bank_hash()
    );
}

/// Replays `block` on a fresh validator that already has slot 1's parent (genesis) and returns the
/// outcome.
fn outcome_of(g: &Genesis, block: ReceivedBlock) -> (ReplayOutcome, Node) {
    let validator = node(g);
    let mut r = replayer(g, &validator);
    let out = r.replay(block).unwrap().remove(0);
    (out, validator)
}

#[test]
fn every_failed_check_marks_the_block_dead_with_its_reason_and_applies_nothing() {
    let g = genesis();
    let leader = node(&g);
    let root = leader.forks.read().unwrap().root_bank();
    let (b1, e1) = produce(&g, &root, 1, transfers(&g, 0, 2));
    let good = received(&b1, &e1);
    let tx_entry = e1.len() - TICKS_PER_SLOT as usize - 1;

    // Wrong bank hash claimed.
    let mut wrong_hash = good.clone();
    wrong_hash.stream = stream(&e1, Hash([9; 32]));
    // A leader that records a transaction with a bad signature (PoH and bank hash consistent).
    let mut forged = transfers(&g, 0, 2);
    let mut bytes = forged[1].bytes().to_vec();
    bytes[5] ^= 1;
    forged[1] = Txn::parse(&bytes).unwrap();
    let (fb, fe) = produce(&g, &root, 1, forged);
    let bad_sig = received(&fb, &fe);
    // A broken PoH chain.
    let mut bad_poh_entries = e1.clone();
    bad_poh_entries[0].hash.0[0] ^= 1;
    let mut bad_poh = good.clone();
    bad_poh.stream = stream(&bad_poh_entries, b1.bank_hash().unwrap());
    // One tick short.
    let mut short = good.clone();
    short.stream = stream(&e1[..e1.len() - 1], b1.bank_hash().unwrap());
    // Garbage.
    let mut garbage = good.clone();
    garbage.stream = vec![1, 1, 0xFF, 3];
    // A transfer the leader could not have included (the payer's balance is spent twice in one
    // entry would conflict; here: the same transaction twice, a lock conflict).
    let mut conflict_entries = e1.clone();
    let dup = conflict_entries[tx_entry].transactions[0].clone();
    conflict_entries[tx_entry].transactions.push(dup);
    let mut conflict = good.clone();
    conflict.stream = stream(&conflict_entries, b1.bank_hash().unwrap());

    for (block, reason) in [
        (wrong_hash, DeadReason::BankHash),
        (bad_sig, DeadReason::Signature),
        (bad_poh, DeadReason::Poh),
        (short, DeadReason::Ticks),
        (garbage, DeadReason::Codec),
    ] {
        let (out, v) = outcome_of(&g, block);
        assert_eq!(
            out,
            ReplayOutcome::Dead {
                slot: Slot(1),
                reason
            }
        );
        assert!(v
            .store
            .dead_reason(Slot(1))
            .unwrap()
            .unwrap()
            .starts_with(reason.name()));
        assert!(v.store.slot_meta(Slot(1)).unwrap().is_none());
        assert!(v.forks.read().unwrap().get(Slot(1)).is_none());
        assert_eq!(v.store.total_supply().unwrap(), g.total_supply().unwrap());
    }
    // The conflicting entry changes the PoH mixin too; whichever check catches it first, it is dead.
    let (out, _) = outcome_of(&g, conflict);
    assert!(matches!(out, ReplayOutcome::Dead { .. }), "{out:?}");
}

#[test]
fn children_of_a_dead_block_are_dead_and_the_good_block_is_still_accepted_after() {
    let g = genesis();
    let leader = node(&g);
    let validator = node(&g);
    let root = leader.forks.read().unwrap().root_bank();
    let (b1, e1) = produce(&g, &root, 1, transfers(&g, 0, 1));
    let (b2, e2) = produce(&g, &b1, 2, vec![]);
    let mut bad = received(&b1, &e1);
    bad.stream = stream(&e1, Hash([3; 32]));
    let mut r = replayer(&g, &validator);
    // The child arrives first and waits; the dead parent then takes it down too.
    r.replay(received(&b2, &e2)).unwrap();
    let out = r.replay(bad).unwrap();
    assert_eq!(
        out,
        vec![
            ReplayOutcome::Dead {
                slot: Slot(1),
                reason: DeadReason::BankHash
            },
            ReplayOutcome::Dead {
                slot: Slot(2),
                reason: DeadReason::DeadParent
            },
        ]
    );
    assert_eq!(
        r.stats().dead_by_reason(),
        vec![("bank_hash", 1), ("dead_parent", 1)]
    );
    // A dead slot stays dead: the honest version arriving later is not replayed.
    assert_eq!(
        r.replay(received(&b1, &e1)).unwrap(),
        vec![ReplayOutcome::AlreadyKnown(Slot(1))]
    );
}

#[test]
fn the_stage_thread_reports_frozen_and_dead_blocks_to_the_control_plane() {
    let g = genesis();
    let leader = node(&g);
    let validator = node(&g);
    let root = leader.forks.read().unwrap().root_bank();
    let (b1, e1) = produce(&g, &root, 1, transfers(&g, 0, 1));
    let (b2, e2) = produce(&g, &b1, 2, vec![]);
    let mut bad2 = received(&b2, &e2);
    bad2.stream = stream(&e2, Hash([3; 32]));
    let (blocks_tx, blocks_rx) = crossbeam_channel::bounded(8);
    let (events_tx, events_rx) = crossbeam_channel::bounded(8);
    let exit = Arc::new(AtomicBool::new(false));
    let stage =
        ReplayStage::spawn(replayer(&g, &validator), blocks_rx, events_tx, exit.clone()).unwrap();
    blocks_tx.send(received(&b1, &e1)).unwrap();
    blocks_tx.send(bad2).unwrap();
    let timeout = Duration::from_secs(10);
    assert_eq!(
        events_rx.recv_timeout(timeout).unwrap(),
        DataEvent::BankFrozen {
            frozen: frozen_report(&b1),
            transactions: 1,
            own: false,
        }
    );
    assert_eq!(
        events_rx.recv_timeout(timeout).unwrap(),
        DataEvent::BlockDead {
            slot: Slot(2),
            reason: "bank_hash"
        }
    );
    assert_eq!(stage.stats().dead.load(Ordering::Relaxed), 1);
    exit.store(true, Ordering::Relaxed);
    stage.join();
}

#[test]
fn a_replayed_block_reports_its_block_id_leader_and_the_towers_its_votes_left() {
    use crate::bank::vote_tests::{vote_txn, voters_genesis};
    use crate::vote::{vote_account_address, Lockout};
    let voter = SigningKey::from_bytes(&[8; 32]);
    let identity = Pubkey(voter.verifying_key().to_bytes());
    let g = Genesis {
        ticks_per_slot: TICKS_PER_SLOT,
        hashes_per_tick: HASHES_PER_TICK,
        ..voters_genesis(&[&voter])
    };
    let account = vote_account_address(&identity);
    let vote = vote_txn(&voter, &account, None, &[(0, 1)], g.hash(), &g.hash());
    let root = Arc::new(Bank::genesis(&g));
    let (b1, e1) = produce_block(&g, &root, Slot(1), identity, vec![vec![vote]]);
    let validator = node(&g);
    let mut r = replayer(&g, &validator);
    let block = ReceivedBlock {
        slot: Slot(1),
        parent: Slot(0),
        leader: identity,
        stream: stream(&e1, b1.bank_hash().unwrap()),
        data_shreds: Vec::new(),
        last_fec_root: Some(Hash([0xB1; 32])),
    };
    let out = r.replay(block).unwrap();
    let [ReplayOutcome::Replayed {
        frozen,
        transactions,
    }] = &out[..]
    else {
        panic!("not replayed: {out:?}");
    };
    assert_eq!(*transactions, 1);
    assert_eq!(frozen.slot, Slot(1));
    assert_eq!(frozen.parent, Slot(0));
    assert_eq!(frozen.bank_hash, b1.bank_hash().unwrap());
    assert_eq!(frozen.blockhash, b1.blockhash().unwrap());
    assert_eq!(frozen.block_id, Hash([0xB1; 32]), "the last FEC set's root");
    assert_eq!(frozen.leader, identity);
    assert_eq!(
        frozen.votes,
        vec![LandedVote {
            voter: identity,
            lockouts: vec![Lockout::new(Slot(0))],
            root: None,
            timestamp: Some(1_700_000_000),
        }]
    );
    // Stored, not rooted.
    assert_eq!(validator.store.root().unwrap(), Some(Slot(0)));
}

#[test]
fn a_clustered_restart_brings_back_every_stored_fork_unrooted() {
    let g = genesis();
    let leader = node(&g);
    let validator = node(&g);
    let root = leader.forks.read().unwrap().root_bank();
    let (b1, e1) = produce(&g, &root, 1, transfers(&g, 0, 1));
    let (b2, e2) = produce(&g, &root, 2, transfers(&g, 1, 1));
    let (b3, e3) = produce(&g, &b1, 3, vec![]);
    let mut r = replayer(&g, &validator);
    for (b, e) in [(&b1, &e1), (&b2, &e2), (&b3, &e3)] {
        r.replay(received(b, e)).unwrap();
    }
    drop(r);
    let store = validator.store.clone();
    drop(validator.forks);
    let (forks, report) =
        crate::replay::load_cluster(&g, &store, &mut Executor::new(0), 1).unwrap();
    assert_eq!(report.replayed, vec![Slot(1), Slot(2), Slot(3)]);
    assert_eq!(forks.root(), Slot(0), "nothing rooted by start-up");
    for b in [&b1, &b2, &b3] {
        assert_eq!(forks.get(b.slot()).unwrap().bank_hash(), b.bank_hash());
    }
    assert_eq!(store.root().unwrap(), Some(Slot(0)));
}

#[test]
fn a_block_whose_parent_is_pruned_while_it_is_checked_is_refused_without_a_panic() {
    use crate::bank::BankError;
    use crate::replay::{replay_block, BlockClaim, SignatureCheck};
    let g = genesis();
    let leader = node(&g);
    let root = leader.forks.read().unwrap().root_bank();
    let (b1, e1) = produce(&g, &root, 1, transfers(&g, 0, 1));
    let (b3, e3) = produce(&g, &b1, 3, vec![]);
    let validator = node(&g);
    let mut r = replayer(&g, &validator);
    r.replay(received(&b1, &e1)).unwrap();
    let parent = validator.forks.read().unwrap().get(Slot(1)).unwrap();
    // While slot 3 is being checked, the root moves to slot 2 on another fork: slot 1 is pruned.
    {
        let mut forks = validator.forks.write().unwrap();
        forks
            .new_child(Slot(0), Slot(2), LEADER)
            .unwrap()
            .freeze(Hash([3; 32]));
        forks.set_root(Slot(2)).unwrap();
    }
    let claim = BlockClaim {
        slot: Slot(3),
        leader: LEADER,
        bank_hash: b3.bank_hash().unwrap(),
    };
    let err = replay_block(
        &g,
        &parent,
        &claim,
        &e3,
        &mut Executor::new(0),
        1,
        SignatureCheck::Verify,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ReplayError::Parent {
                source: BankError::ParentPruned { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(DeadReason::of(&err), DeadReason::NotOnRootedChain);
}

#[test]
fn descendants_of_a_block_off_the_rooted_chain_are_abandoned_not_failed() {
    let g = genesis();
    let leader = node(&g);
    let root = leader.forks.read().unwrap().root_bank();
    let (b1, e1) = produce(&g, &root, 1, transfers(&g, 0, 1));
    let (b3, e3) = produce(&g, &b1, 3, vec![]);
    let (b4, e4) = produce(&g, &b3, 4, vec![]);
    let validator = node(&g);
    let mut r = replayer(&g, &validator);
    r.replay(received(&b1, &e1)).unwrap();
    // The root moves to slot 2 on another fork: slot 1's fork is abandoned.
    {
        let mut forks = validator.forks.write().unwrap();
        forks
            .new_child(Slot(0), Slot(2), LEADER)
            .unwrap()
            .freeze(Hash([3; 32]));
        forks.set_root(Slot(2)).unwrap();
    }
    let mut outcomes = r.replay(received(&b3, &e3)).unwrap();
    outcomes.extend(r.replay(received(&b4, &e4)).unwrap());
    assert_eq!(
        outcomes,
        vec![
            ReplayOutcome::Dead {
                slot: Slot(3),
                reason: DeadReason::NotOnRootedChain
            },
            ReplayOutcome::Dead {
                slot: Slot(4),
                reason: DeadReason::NotOnRootedChain
            },
        ]
    );
    assert_eq!(r.stats().dead_by_reason(), vec![("not_on_rooted_chain", 2)]);
}
