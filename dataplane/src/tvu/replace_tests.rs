//! A duplicate slot resolved against this node, end to end through real parts: the ledger stage
//! drops the losing version and its child, the receive path forgets them and asks repair for the
//! slot, and the confirmed version's shreds (as repair delivers them) are assembled, replayed and
//! reported in its place.

use std::sync::RwLock;

use crossbeam_channel::{bounded, unbounded};
use ed25519_dalek::SigningKey;

use super::tests::{genesis, key, pk, shred_block};
use super::*;
use crate::bank::Bank;
use crate::bank_forks::BankForks;
use crate::banking::{BankingOutput, SlotEnded};
use crate::genesis::Genesis;
use crate::ledger_stage::{LedgerChannels, LedgerShredding, LedgerStage, FORK_COMMANDS_MAX};
use crate::plane::{BankFrozen, ForkCommand, REPLACED_QUEUED_MAX};
use crate::poh_service::PohEvent;
use crate::replay::load_cluster;
use crate::replay_stage::{ReplayStage, Replayer};
use crate::sealevel::Executor;
use crate::shred::{shred_version, FecConfig, ShredKind, SHRED_SIZE};
use crate::store::Store;
use crate::testkit::produce_block;
use crate::txn::{build_transfer, Txn};

/// A validator's receive path, replay and ledger stage over one fork tree and one store.
struct Node {
    _dir: tempfile::TempDir,
    forks: Arc<RwLock<BankForks>>,
    store: Arc<Store>,
    tvu: Option<Tvu>,
    replay: Option<ReplayStage>,
    ledger: Option<LedgerStage>,
    /// Shreds as repair delivers them.
    repaired: Sender<Vec<u8>>,
    /// The control plane's commands to the ledger stage.
    commands: Sender<ForkCommand>,
    /// Every stage's events.
    events: Receiver<DataEvent>,
    exit: Arc<AtomicBool>,
    /// Ends of channels the stages must see open.
    _poh: Sender<PohEvent>,
    _banking: Sender<BankingOutput>,
    _slot_ended: Receiver<SlotEnded>,
    _sets: Receiver<Vec<[u8; SHRED_SIZE]>>,
    _peers: Sender<Arc<PeerAddrs>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.exit.store(true, Ordering::Relaxed);
        if let Some(t) = self.tvu.take() {
            t.join();
        }
        if let Some(r) = self.replay.take() {
            r.join();
        }
        if let Some(l) = self.ledger.take() {
            l.join();
        }
    }
}

fn start(g: &Genesis, me: &SigningKey) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), g.hash()).unwrap());
    let (forks, _) = load_cluster(g, &store, &mut Executor::new(0), 1).unwrap();
    let forks = Arc::new(RwLock::new(forks));
    let exit = Arc::new(AtomicBool::new(false));
    let root_slot = Arc::new(AtomicU64::new(0));
    let (events_tx, events) = unbounded();
    let (blocks_tx, blocks_rx) = bounded(16);
    let (repaired_tx, repaired_rx) = bounded(4_096);
    let (peers_tx, peers_rx) = bounded(crate::plane::PEER_UPDATES_MAX);
    let (replaced_tx, replaced_rx) = bounded(REPLACED_QUEUED_MAX);
    let (commands_tx, commands_rx) = bounded(FORK_COMMANDS_MAX);
    let (poh_tx, poh_rx) = bounded(16);
    let (banking_tx, banking_rx) = bounded(16);
    let (slot_ended_tx, slot_ended_rx) = bounded(16);
    let (sets_tx, sets_rx) = bounded(16);
    let nodes: Vec<(Pubkey, u64)> = g.validators.iter().map(|v| (v.identity, v.stake)).collect();
    let tvu = Tvu::spawn(
        TvuConfig {
            identity: pk(me),
            own_blocks_from: Slot(0),
            shred_version: shred_version(&g.hash()),
            backend: UdpBackend::Mmsg,
            pin_core: None,
        },
        Schedules::new(g),
        TurbineTree::new(&nodes, 8),
        TvuIo {
            // Nothing arrives by Turbine here: every shred comes as repair delivers it.
            socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            retransmit_socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            repaired: repaired_rx,
            blocks: blocks_tx,
            events: events_tx.clone(),
            peers: peers_rx,
            replaced: replaced_rx,
            root_slot: root_slot.clone(),
            exit: exit.clone(),
        },
    )
    .unwrap();
    let replayer = Replayer::new(g.clone(), forks.clone(), store.clone(), 1, 0);
    let replay = ReplayStage::spawn(replayer, blocks_rx, events_tx.clone(), exit.clone()).unwrap();
    let ledger = LedgerStage::spawn(LedgerChannels {
        poh_events: poh_rx,
        banking: banking_rx,
        slot_ended: slot_ended_tx,
        commands: commands_rx,
        events: events_tx,
        forks: forks.clone(),
        store: store.clone(),
        root_slot,
        exit: exit.clone(),
        shredding: Some(LedgerShredding {
            keypair: me.clone(),
            shred_version: shred_version(&g.hash()),
            fec: FecConfig::new(4, 4).unwrap(),
            genesis_hash: g.hash(),
            sets: sets_tx,
            replaced: replaced_tx,
        }),
    })
    .unwrap();
    Node {
        _dir: dir,
        forks,
        store,
        tvu: Some(tvu),
        replay: Some(replay),
        ledger: Some(ledger),
        repaired: repaired_tx,
        commands: commands_tx,
        events,
        exit,
        _poh: poh_tx,
        _banking: banking_tx,
        _slot_ended: slot_ended_rx,
        _sets: sets_rx,
        _peers: peers_tx,
    }
}

impl Node {
    fn deliver<'a>(&self, shreds: impl IntoIterator<Item = &'a [u8; SHRED_SIZE]>) {
        for s in shreds {
            self.repaired.send(s.to_vec()).unwrap();
        }
    }

    fn tvu(&self) -> &Tvu {
        self.tvu.as_ref().expect("running")
    }

    /// Waits until every slot in `slots` was reported frozen, collecting events meanwhile. A
    /// replayed bank enters the forks before it is stored and is reported only once stored, so
    /// the report, not the fork tree, says that the store holds it.
    fn wait_frozen(&self, what: &str, seen: &mut Vec<DataEvent>, slots: &[Slot]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let frozen = |seen: &[DataEvent], slot: Slot| {
            seen.iter()
                .any(|e| matches!(e, DataEvent::BankFrozen { frozen, .. } if frozen.slot == slot))
        };
        while !slots.iter().all(|s| frozen(seen, *s)) {
            assert!(
                Instant::now() < deadline,
                "{what}: rejected {:?}, events {:?}",
                self.tvu().stats().rejected(),
                brief(seen),
            );
            seen.extend(self.events.recv_timeout(Duration::from_millis(20)));
        }
        seen.extend(self.events.try_iter());
    }
}

/// One transfer per entry (transfers to one account conflict), from `payers`, to `to`.
fn transfers(g: &Genesis, payers: &[SigningKey], slot: u64, to: u8) -> Vec<Vec<Txn>> {
    payers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let lamports = slot * 1_000 + i as u64;
            vec![Txn::parse(&build_transfer(p, &Pubkey([to; 32]), lamports, &g.hash())).unwrap()]
        })
        .collect()
}

fn data_only(shreds: &[[u8; SHRED_SIZE]]) -> Vec<[u8; SHRED_SIZE]> {
    shreds
        .iter()
        .filter(|s| ShredView::parse(&s[..]).unwrap().kind() == ShredKind::Data)
        .copied()
        .collect()
}

/// Events without their shreds' bytes, for failure messages.
fn brief(events: &[DataEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            DataEvent::DuplicateSlotProof { slot, .. } => format!("DuplicateSlotProof({slot})"),
            DataEvent::BankFrozen { frozen, .. } => {
                format!("BankFrozen({}, {})", frozen.slot, frozen.bank_hash)
            }
            other => format!("{other:?}"),
        })
        .collect()
}

fn proofs(events: &[DataEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, DataEvent::DuplicateSlotProof { .. }))
        .count()
}

#[test]
fn a_replaced_duplicate_slot_is_refetched_by_its_block_id_and_the_confirmed_version_replayed() {
    let leader = key(1);
    let me = key(2);
    let payers: Vec<SigningKey> = (10..74).map(key).collect();
    let g = genesis(&leader, &[pk(&me)], &payers);
    let node = start(&g, &me);

    // Slot 1; two versions of slot 2 on it, signed by its leader, alike in their first 24
    // entries (so their first FEC sets are the same) and different after; slot 3 on version A.
    // Each version is produced on its own copy of slot 1: banks share one status cache, and the
    // leader's second version must not see the first one's transactions as processed.
    let slot1 = || {
        let genesis_bank = Arc::new(Bank::genesis(&g));
        let batches = transfers(&g, &payers[..8], 1, 200);
        let (b1, e1) = produce_block(&g, &genesis_bank, Slot(1), pk(&leader), batches);
        let (s1, r1) = shred_block(&g, &leader, &b1, &e1, Root(g.hash().0));
        (b1, s1, r1)
    };
    let (_, s1, r1) = slot1();
    let common = transfers(&g, &payers[..24], 2, 201);
    let version = |to: u8| {
        let (b1, _, _) = slot1();
        let mut batches = common.clone();
        batches.extend(transfers(&g, &payers[24..], 2, to));
        let (bank, entries) = produce_block(&g, &b1, Slot(2), pk(&leader), batches);
        let (shreds, root) = shred_block(&g, &leader, &bank, &entries, r1);
        (bank, shreds, root)
    };
    let (a, sa, ra) = version(202);
    let (b, sb, rb) = version(203);
    let (b3, e3) = produce_block(
        &g,
        &a,
        Slot(3),
        pk(&leader),
        transfers(&g, &payers[..4], 3, 204),
    );
    let (s3, _) = shred_block(&g, &leader, &b3, &e3, ra);
    assert_ne!(a.bank_hash(), b.bank_hash());
    let (da, db) = (data_only(&sa), data_only(&sb));
    let shared = da.iter().zip(&db).take_while(|(x, y)| x == y).count();
    assert!(
        shared >= 4,
        "the versions share their first set ({shared} data shreds)"
    );
    assert!(
        db.len() >= shared + 8,
        "and differ in several sets after it: {shared} of {}",
        db.len()
    );
    let a_only: Vec<[u8; SHRED_SIZE]> = da[shared..].to_vec();
    let (a_early, a_late) = a_only.split_at(a_only.len() / 2);

    // The node holds version A and a child on it; a shred of version B is a duplicate proof.
    let mut seen = Vec::new();
    node.deliver(s1.iter().chain(&sa).chain(&s3));
    node.wait_frozen("A and its child replayed", &mut seen, &[Slot(2), Slot(3)]);
    assert_eq!(
        node.forks.read().unwrap().get(Slot(2)).unwrap().bank_hash(),
        a.bank_hash()
    );
    node.deliver([&db[shared]]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while proofs(&seen) == 0 {
        assert!(
            Instant::now() < deadline,
            "no duplicate proof: {:?}",
            brief(&seen)
        );
        seen.extend(node.events.recv_timeout(Duration::from_millis(20)));
    }
    assert_eq!(proofs(&seen), 1);

    // The cluster confirmed B: the ledger stage drops A and its child, the receive path forgets
    // them and asks repair for slot 2 by B's block id.
    let block_id = Hash(rb.0);
    node.commands
        .send(ForkCommand::ReplaceBlock {
            slot: Slot(2),
            bank_hash: b.bank_hash().unwrap(),
            block_id: Some(block_id),
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut before = Vec::new();
    let asked = loop {
        assert!(
            Instant::now() < deadline,
            "repair never asked: {:?}",
            brief(&before)
        );
        match node.events.recv_timeout(Duration::from_millis(20)) {
            Ok(DataEvent::Refetch(r)) => break r,
            Ok(other) => before.push(other),
            Err(_) => {}
        }
    };
    assert_eq!(
        asked,
        Refetch {
            slot: Slot(2),
            block_id: Some(block_id)
        }
    );
    // A's completion was reported before the refetch, so the planner reopens the slot after it.
    assert!(
        seen.iter()
            .chain(&before)
            .any(|e| matches!(e, DataEvent::SlotProgress(p) if p.slot == Slot(2) && p.complete)),
        "{:?}",
        brief(&seen)
    );
    {
        let forks = node.forks.read().unwrap();
        assert!(forks.get(Slot(2)).is_none() && forks.get(Slot(3)).is_none());
        assert!(forks.get(Slot(1)).is_some());
    }
    for gone in [2, 3] {
        assert_eq!(node.store.slot_meta(Slot(gone)).unwrap(), None);
        assert_eq!(node.store.shred_count(Slot(gone)).unwrap(), 0);
    }
    let mut after: Vec<DataEvent> = node.events.try_iter().collect();
    assert!(
        !after
            .iter()
            .any(|e| matches!(e, DataEvent::SlotProgress(p) if p.slot == Slot(2))),
        "nothing of slot 2 held after it was forgotten: {:?}",
        brief(&after)
    );

    // Repair's first answer is B's last shred: from then on repair names B's roots, for the rest
    // of its last set and for the shred just before it.
    let last = *db.last().unwrap();
    let last_view = ShredView::parse(&last[..]).unwrap();
    let (last_set, last_index) = (last_view.fec_set_index(), last_view.index());
    node.deliver([&last]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        assert!(Instant::now() < deadline, "slot 2 never reported to repair");
        match node.events.recv_timeout(Duration::from_millis(20)) {
            Ok(DataEvent::SlotProgress(p)) if p.slot == Slot(2) => break p,
            Ok(other) => after.push(other),
            Err(_) => {}
        }
    };
    assert!(!status.complete);
    assert_eq!(status.last_index, Some(last_index));
    let mut expected: Vec<(u32, Hash)> = (last_set..last_index).map(|i| (i, block_id)).collect();
    expected.insert(0, (last_set - 1, Hash(last_view.chained_root().0)));
    assert_eq!(status.missing_roots, expected);

    // Then A's shreds (from a peer holding A) and the rest of B's, first index first: A's are
    // never taken, B's wait until the chain from its last set proves them, shared sets included.
    node.deliver(a_early);
    node.deliver(&db[..db.len() - 1]);
    node.wait_frozen("B replayed", &mut after, &[Slot(2)]);
    let forks_hash = node.forks.read().unwrap().get(Slot(2)).unwrap().bank_hash();
    assert_eq!(forks_hash, b.bank_hash());
    let frozen: Vec<&BankFrozen> = after
        .iter()
        .filter_map(|e| match e {
            DataEvent::BankFrozen { frozen, own, .. } if frozen.slot == Slot(2) => {
                assert!(!own);
                Some(frozen)
            }
            _ => None,
        })
        .collect();
    assert_eq!(frozen.len(), 1, "{:?}", brief(&after));
    assert_eq!(frozen[0].bank_hash, b.bank_hash().unwrap());
    assert_eq!(frozen[0].block_id, block_id);
    assert_eq!(frozen[0].parent, Slot(1));
    let meta = node.store.slot_meta(Slot(2)).unwrap().unwrap();
    assert_eq!(meta.bank_hash, b.bank_hash().unwrap());
    assert_eq!(node.store.last_fec_root(Slot(2)).unwrap(), Some(block_id));
    assert_eq!(node.store.shred_count(Slot(2)).unwrap(), db.len() as u32);

    // Late shreds of A and of its child: refused, never a new duplicate proof, never replayed.
    node.deliver(a_late);
    node.deliver(&s3);
    let deadline = Instant::now() + Duration::from_secs(10);
    let rejected = |reason: &str| {
        node.tvu()
            .stats()
            .rejected()
            .iter()
            .any(|(r, n)| *r == reason && *n > 0)
    };
    while !(rejected("other_version") && rejected("chained_root_mismatch")) {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            node.tvu().stats().rejected()
        );
        after.extend(node.events.recv_timeout(Duration::from_millis(20)));
    }
    std::thread::sleep(Duration::from_millis(200));
    after.extend(node.events.try_iter());
    assert_eq!(
        proofs(&after),
        0,
        "the dropped version is no new proof: {:?}",
        brief(&after)
    );
    assert_eq!(node.tvu().stats().equivocations.load(Ordering::Relaxed), 1);
    assert_eq!(
        node.tvu().stats().refetched_slots.load(Ordering::Relaxed),
        1
    );
    assert!(node.forks.read().unwrap().get(Slot(3)).is_none());
    assert_eq!(node.store.slot_meta(Slot(3)).unwrap(), None);
    assert_eq!(node.store.dead_reason(Slot(2)).unwrap(), None);
}
