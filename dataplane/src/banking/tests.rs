//! The banking stage through a commanded leader pipeline: votes go ahead of transfers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;

use super::*;
use crate::bank::tests::{addr, unsigned_transfer};
use crate::bank::vote_tests::{vote_txn, voters_genesis};
use crate::block::decode_entry;
use crate::genesis::{Genesis, GenesisAccount};
use crate::pipeline::{LeaderPipeline, PipelineConfig};
use crate::plane::DataEvent;
use crate::sealevel::Executor;
use crate::store::Store;
use crate::vote::{vote_account_address, Lockout};

/// A slot `ahead` slots after the one due now.
fn slot_ahead(g: &Genesis, ahead: u64) -> Slot {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Slot((now_ms - g.creation_time_unix_ms) / g.slot_duration_ms + ahead)
}

/// A leader pipeline over a fresh ledger of `g` (kept alive by the returned directory).
fn start_leader(
    g: &Genesis,
    leader: &SigningKey,
    batch_size_max: usize,
) -> (LeaderPipeline, Arc<Store>, tempfile::TempDir) {
    start_leader_holding(g, leader, batch_size_max, PENDING_TXNS_MAX)
}

/// [`start_leader`] whose banking stage holds at most `pending_txns_max` transfers.
fn start_leader_holding(
    g: &Genesis,
    leader: &SigningKey,
    batch_size_max: usize,
    pending_txns_max: usize,
) -> (LeaderPipeline, Arc<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), g.hash()).unwrap());
    let (forks, _) = crate::replay::load_cluster(g, &store, &mut Executor::new(0), 1).unwrap();
    let (tpu, _, _) =
        crate::packet::bind_udp("127.0.0.1:0".parse().unwrap(), 1 << 20, 1 << 20).unwrap();
    let p = LeaderPipeline::start(
        PipelineConfig {
            identity: addr(leader),
            sigverify_threads: 1,
            exec_threads: 0,
            batch_size_max,
            pending_txns_max,
            admit_backlog_max: crate::sigverify::ADMIT_BACKLOG_MAX.min(pending_txns_max),
            admit_fresh_window: crate::sigverify::ADMIT_FRESH_WINDOW,
            poh_core: None,
            shredding: None,
            forwarder: None,
            tpu_backend: crate::udp::UdpBackend::IoUring,
        },
        g,
        store.clone(),
        forks,
        tpu,
    )
    .unwrap();
    (p, store, dir)
}

/// Leads `first` alone and waits until its block is stored.
fn lead_one_slot(p: &LeaderPipeline, first: Slot) {
    p.lead
        .send(LeadCommand {
            first,
            last: first,
            parent: Slot(0),
        })
        .unwrap();
    loop {
        match p.events.recv_timeout(Duration::from_secs(5)) {
            Ok(DataEvent::BankFrozen { frozen, .. }) if frozen.slot == first => return,
            Ok(_) => continue,
            Err(e) => panic!("slot {first} was not stored: {e}"),
        }
    }
}

/// The transactions of `slot`'s stored block, entry by entry (ticks left out).
fn stored_entries(store: &Store, slot: Slot) -> Vec<Vec<Txn>> {
    store
        .entries(slot)
        .unwrap()
        .iter()
        .map(|b| decode_entry(b).unwrap().transactions)
        .filter(|t| !t.is_empty())
        .collect()
}

#[test]
fn a_paying_transfer_overtakes_free_ones_queued_before_it() {
    use crate::bank::tests::unsigned_priced_transfer;
    use crate::compute_budget::ComputeBudget;
    let leader = SigningKey::from_bytes(&[23; 32]);
    let account = |tag: u8, i: u32| {
        let mut b = [tag; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        Pubkey(b)
    };
    const FREE: u32 = 200;
    let rich = Pubkey([0x61; 32]);
    let mut g = Genesis {
        hashes_per_tick: 50,
        ticks_per_slot: 8,
        slot_duration_ms: 100,
        creation_time_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
        ..voters_genesis(&[&leader])
    };
    for pubkey in (0..FREE).map(|i| account(0x60, i)).chain([rich]) {
        g.accounts.push(GenesisAccount {
            pubkey,
            lamports: 1_000_000,
        });
    }
    // Batches of 16: the 200 free transfers (no two share an account) need 13 of them.
    let (p, store, _dir) = start_leader(&g, &leader, 16);
    let free: Vec<Txn> = (0..FREE)
        .map(|i| unsigned_transfer(&account(0x60, i), &account(0x70, i), 1, &g.hash(), i.into()))
        .collect();
    p.txns.send(free.clone()).unwrap();
    // Arrives last, pays 1,000 micro-lamports per unit over the default 6,000 units: 6 lamports.
    let paying = unsigned_priced_transfer(&rich, &Pubkey([0x62; 32]), 7, &g.hash(), 1, 1_000);
    assert_eq!(
        paying.view().compute_budget(),
        ComputeBudget {
            unit_limit: 6_000,
            unit_price: 1_000
        }
    );
    p.txns.send(vec![paying.clone()]).unwrap();

    let first = slot_ahead(&g, 3);
    lead_one_slot(&p, first);
    let entries = stored_entries(&store, first);
    // It went into the slot's first entry, first, ahead of free transfers that waited longer.
    assert_eq!(entries[0][0], paying, "the paying transfer was not first");
    assert_eq!(entries[0].len(), 16);
    assert_eq!(&entries[0][1..], &free[..15]);
    let landed_free = entries.iter().flatten().filter(|t| **t != paying).count();
    assert!(landed_free > 15, "only {landed_free} free transfers landed");
    // The stored block's prioritization fees: free transfers landed, so the slot's lowest is 0;
    // for the paying transfer's accounts, its price.
    let recent = store.recent_prioritization_fees(&[]);
    assert_eq!(recent.last(), Some(&(first, 0)));
    let recent = store.recent_prioritization_fees(&[rich, account(0x60, 0)]);
    assert_eq!(recent.last(), Some(&(first, 1_000)));
    // Charged base + priority fee, which went to the leader with the base fees.
    let bank = p.forks.read().unwrap().get(first).unwrap();
    assert_eq!(bank.balance(&rich), 1_000_000 - 5_000 - 6 - 7);
    assert_eq!(
        bank.balance(&addr(&leader)),
        100 * 5_000 + 5_000 * (landed_free as u64 + 1) + 6
    );
    p.shutdown();
}

#[test]
fn the_backlog_holds_at_most_its_configured_transfers() {
    use crate::metrics::Reject;
    let leader = SigningKey::from_bytes(&[24; 32]);
    const HELD: usize = 50;
    const SENT: u32 = 200;
    let account = |tag: u8, i: u32| {
        let mut b = [tag; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        Pubkey(b)
    };
    let mut g = Genesis {
        hashes_per_tick: 50,
        ticks_per_slot: 8,
        slot_duration_ms: 100,
        creation_time_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
        ..voters_genesis(&[&leader])
    };
    for i in 0..SENT {
        g.accounts.push(GenesisAccount {
            pubkey: account(0x80, i),
            lamports: 1_000_000,
        });
    }
    let (p, store, _dir) = start_leader_holding(&g, &leader, 256, HELD);
    // Sent while the node does not lead: the first HELD wait, the rest are refused and counted.
    // No two share an account, so one batch could take them all.
    let sent: Vec<Txn> = (0..SENT)
        .map(|i| unsigned_transfer(&account(0x80, i), &account(0x90, i), 1, &g.hash(), i.into()))
        .collect();
    p.txns.send(sent.clone()).unwrap();
    let refused = SENT as u64 - HELD as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while p.counters.get(Reject::QueueFull) < refused {
        assert!(
            std::time::Instant::now() < deadline,
            "arrivals past the bound not refused"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Leading, the stage lands exactly what it held: the first HELD.
    let first = slot_ahead(&g, 3);
    lead_one_slot(&p, first);
    let landed: Vec<Txn> = stored_entries(&store, first)
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(landed, sent[..HELD]);
    assert_eq!(p.counters.get(Reject::QueueFull), refused);
    p.shutdown();
}

#[test]
fn queued_votes_land_before_every_waiting_transfer() {
    let (leader, peer) = (
        SigningKey::from_bytes(&[21; 32]),
        SigningKey::from_bytes(&[22; 32]),
    );
    let payer = Pubkey([0x33; 32]);
    let mut g = Genesis {
        hashes_per_tick: 50,
        ticks_per_slot: 8,
        slot_duration_ms: 100,
        creation_time_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
        ..voters_genesis(&[&leader, &peer])
    };
    g.accounts.push(GenesisAccount {
        pubkey: payer,
        lamports: 1_000_000_000,
    });
    let (p, store, _dir) = start_leader(&g, &leader, 64);

    // Transfers wait first, then the votes arrive: the leader's own from the control plane, the
    // peer's through the TPU path among more transfers, then another of the peer's votes whose last
    // voted slot is no newer (a tie keeps the vote already held).
    let transfers = |from: u64| -> Vec<Txn> {
        (from..from + 100)
            .map(|id| unsigned_transfer(&payer, &Pubkey([0x44; 32]), 1, &g.hash(), id))
            .collect()
    };
    p.txns.send(transfers(0)).unwrap();
    let leader_account = vote_account_address(&addr(&leader));
    let peer_account = vote_account_address(&addr(&peer));
    let leader_vote = vote_txn(
        &leader,
        &leader_account,
        None,
        &[(0, 1)],
        g.hash(),
        &g.hash(),
    );
    let peer_vote = vote_txn(&peer, &peer_account, None, &[(0, 1)], g.hash(), &g.hash());
    let tied_peer_vote = vote_txn(&peer, &peer_account, None, &[], g.hash(), &g.hash());
    p.votes.send(leader_vote.clone()).unwrap();
    let mut mixed = transfers(100);
    mixed.insert(50, peer_vote.clone());
    p.txns.send(mixed).unwrap();
    p.votes.send(tied_peer_vote.clone()).unwrap();

    let first = slot_ahead(&g, 3);
    p.lead
        .send(LeadCommand {
            first,
            last: first,
            parent: Slot(0),
        })
        .unwrap();
    let (frozen, own) = loop {
        match p.events.recv_timeout(Duration::from_secs(5)) {
            Ok(DataEvent::BankFrozen { frozen, own, .. }) if frozen.slot == first => {
                break (frozen, own)
            }
            Ok(_) => continue,
            Err(e) => panic!("slot {first} was not stored: {e}"),
        }
    };
    let entries: Vec<_> = store
        .entries(first)
        .unwrap()
        .iter()
        .map(|b| decode_entry(b).unwrap())
        .collect();
    let txs: Vec<Txn> = entries
        .iter()
        .flat_map(|e| e.transactions.iter().cloned())
        .collect();
    // Both votes first (equal last voted slots: by account); the superseded vote never; then every
    // transfer.
    let mut votes = [leader_vote, peer_vote];
    votes.sort_by_key(|t| t.view().vote_account());
    assert_eq!(&txs[..2], &votes[..]);
    assert!(!txs.contains(&tied_peer_vote));
    // As many transfers as the slot had room for came after them.
    assert!(txs.len() > 2, "no transfer landed");
    assert!(txs[2..].iter().all(|t| !t.is_vote()));
    let bank = p.forks.read().unwrap().get(first).unwrap();
    let landed: Vec<Pubkey> = bank.vote_delta().into_iter().map(|(k, _)| k).collect();
    let mut expected = vec![leader_account, peer_account];
    expected.sort();
    assert_eq!(landed, expected);
    // The ledger stage's report names the block, its leader and each voter's new tower.
    assert!(own);
    assert_eq!(frozen.parent, Slot(0));
    assert_eq!(frozen.bank_hash, bank.bank_hash().unwrap());
    assert_eq!(frozen.blockhash, bank.blockhash().unwrap());
    assert_eq!(frozen.leader, addr(&leader));
    assert_eq!(
        frozen.block_id,
        Hash::default(),
        "a block that never travelled as shreds"
    );
    let mut voters: Vec<(Pubkey, Vec<Lockout>, Option<Slot>)> = frozen
        .votes
        .iter()
        .map(|v| (v.voter, v.lockouts.clone(), v.root))
        .collect();
    voters.sort_by_key(|v| v.0);
    let mut want = vec![
        (addr(&leader), vec![Lockout::new(Slot(0))], None),
        (addr(&peer), vec![Lockout::new(Slot(0))], None),
    ];
    want.sort_by_key(|v| v.0);
    assert_eq!(voters, want);
    assert_eq!(p.counters.get(Reject::VoteQueueFull), 0);
    p.shutdown();
}

#[test]
fn the_drain_rate_comes_from_slots_busy_to_the_end_only() {
    let mut meter = super::DrainMeter::default();
    // Not opened: nothing to close.
    assert_eq!(meter.close(true), None);
    // The queue ran dry: the slot shows the offered rate, not the drain rate.
    meter.open();
    meter.taken = 1_000;
    meter.went_idle = true;
    assert_eq!(meter.close(true), None);
    // Emptied by the end: likewise.
    meter.open();
    meter.taken = 1_000;
    assert_eq!(meter.close(false), None);
    // Busy to the end: taken over the slot's time.
    meter.open();
    meter.taken = 1_000;
    std::thread::sleep(Duration::from_millis(20));
    let first = meter.close(true).expect("a busy slot is measured");
    assert!(first > 0.0 && first <= 1_000.0 / 0.020, "{first}");
    // Later slots move the smoothed rate part of the way.
    meter.open();
    meter.taken = 0;
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(meter.close(true), None, "nothing taken: no sample");
    meter.open();
    meter.taken = 100_000;
    std::thread::sleep(Duration::from_millis(20));
    let second = meter.close(true).unwrap();
    assert!(second > first, "{second} after {first}");
}

#[test]
fn past_the_admission_bound_paying_transfers_take_the_place_of_free_ones() {
    use crate::bank::tests::unsigned_priced_transfer;
    use crate::metrics::Reject;
    use crate::sigverify::ADMIT_BACKLOG_MIN;
    let leader = SigningKey::from_bytes(&[25; 32]);
    let account = |tag: u8, i: u32| {
        let mut b = [tag; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        Pubkey(b)
    };
    const PAYING: u32 = 5;
    let mut g = Genesis {
        hashes_per_tick: 50,
        ticks_per_slot: 8,
        slot_duration_ms: 100,
        creation_time_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
        ..voters_genesis(&[&leader])
    };
    for i in 0..PAYING {
        g.accounts.push(GenesisAccount {
            pubkey: account(0xA0, i),
            lamports: 1_000_000,
        });
    }
    let (p, store, _dir) = start_leader(&g, &leader, 256);
    // The backlog at its (unmeasured) bound with free transfers, held while the node does not lead.
    let free: Vec<Txn> = (0..ADMIT_BACKLOG_MIN as u32)
        .map(|i| unsigned_transfer(&account(0xB0, i), &account(0xC0, i), 1, &g.hash(), i.into()))
        .collect();
    p.txns.send(free).unwrap();
    let paying: Vec<Txn> = (0..PAYING)
        .map(|i| {
            unsigned_priced_transfer(&account(0xA0, i), &account(0xD0, i), 1, &g.hash(), 1, 500)
        })
        .collect();
    p.txns.send(paying.clone()).unwrap();
    // Each paying transfer evicts a free one: the backlog stays at its bound.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while p.counters.get(Reject::QueueFull) < u64::from(PAYING) {
        assert!(
            std::time::Instant::now() < deadline,
            "no free transfer made room"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(p.counters.get(Reject::QueueFull), u64::from(PAYING));
    // Leading, the paying ones go first.
    let first = slot_ahead(&g, 3);
    lead_one_slot(&p, first);
    let entries = stored_entries(&store, first);
    assert_eq!(entries[0], paying);
    p.shutdown();
}
