//! The ledger stage on its own: frozen banks in, stored blocks and `BankFrozen` reports out, and
//! the root moved only by `SetRoot` commands.

use std::time::Instant;

use crossbeam_channel::{bounded, unbounded};

use super::*;
use crate::genesis::{Genesis, GenesisValidator};
use crate::replay::load_cluster;
use crate::sealevel::Executor;
use crate::shred::shred_version;
use crate::types::Pubkey;

const LEADER_KEY: [u8; 32] = [4; 32];

/// A running ledger stage and the ends of its channels.
struct Harness {
    _dir: tempfile::TempDir,
    stage: Option<LedgerStage>,
    banking: Sender<BankingOutput>,
    commands: Sender<ForkCommand>,
    events: Receiver<DataEvent>,
    forks: Arc<RwLock<BankForks>>,
    store: Arc<Store>,
    root_slot: Arc<AtomicU64>,
    exit: Arc<AtomicBool>,
    /// FEC sets it shreds (kept open so shredding never fails).
    _sets: Receiver<Vec<[u8; SHRED_SIZE]>>,
    /// What it tells the shred receive path of replaced blocks.
    replaced: Receiver<ReplacedBlocks>,
    /// PoH's end of the stage's channels (kept open: a closed one stops the stage).
    _poh: Sender<PohEvent>,
    _slot_ended: Receiver<SlotEnded>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.exit.store(true, Ordering::Relaxed);
        if let Some(stage) = self.stage.take() {
            stage.join();
        }
    }
}

fn leader() -> Pubkey {
    Pubkey(
        SigningKey::from_bytes(&LEADER_KEY)
            .verifying_key()
            .to_bytes(),
    )
}

fn start() -> Harness {
    let g = Genesis::with_defaults(
        "ledger-stage-test",
        vec![GenesisValidator {
            identity: leader(),
            stake: 1,
        }],
        vec![],
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), g.hash()).unwrap());
    let (forks, _) = load_cluster(&g, &store, &mut Executor::new(0), 1).unwrap();
    let forks = Arc::new(RwLock::new(forks));
    let (poh_tx, poh_rx) = bounded(16);
    let (banking_tx, banking_rx) = bounded(16);
    let (slot_ended_tx, slot_ended_rx) = bounded(16);
    let (commands_tx, commands_rx) = bounded(FORK_COMMANDS_MAX);
    let (events_tx, events_rx) = unbounded();
    let (sets_tx, sets_rx) = bounded(1_024);
    let (replaced_tx, replaced_rx) = bounded(crate::plane::REPLACED_QUEUED_MAX);
    let root_slot = Arc::new(AtomicU64::new(0));
    let exit = Arc::new(AtomicBool::new(false));
    let stage = LedgerStage::spawn(LedgerChannels {
        poh_events: poh_rx,
        banking: banking_rx,
        slot_ended: slot_ended_tx,
        commands: commands_rx,
        events: events_tx,
        forks: forks.clone(),
        store: store.clone(),
        root_slot: root_slot.clone(),
        exit: exit.clone(),
        shredding: Some(LedgerShredding {
            keypair: SigningKey::from_bytes(&LEADER_KEY),
            shred_version: shred_version(&g.hash()),
            fec: FecConfig::new(4, 4).unwrap(),
            genesis_hash: g.hash(),
            sets: sets_tx,
            replaced: replaced_tx,
        }),
    })
    .unwrap();
    Harness {
        _dir: dir,
        stage: Some(stage),
        banking: banking_tx,
        commands: commands_tx,
        events: events_rx,
        forks,
        store,
        root_slot,
        exit,
        _sets: sets_rx,
        replaced: replaced_rx,
        _poh: poh_tx,
        _slot_ended: slot_ended_rx,
    }
}

impl Harness {
    /// Opens `slot` on `parent` in the forks, freezes it and hands it to the stage as banking does.
    fn produce(&self, parent: u64, slot: u64) -> Arc<Bank> {
        let bank = self
            .forks
            .write()
            .unwrap()
            .new_child(Slot(parent), Slot(slot), leader())
            .unwrap();
        bank.freeze(Hash([slot as u8; 32]));
        self.banking
            .send(BankingOutput::Frozen { bank: bank.clone() })
            .unwrap();
        bank
    }

    fn next_event(&self) -> DataEvent {
        self.events
            .recv_timeout(Duration::from_secs(5))
            .expect("an event")
    }

    fn quiet(&self) -> bool {
        self.events
            .recv_timeout(Duration::from_millis(200))
            .is_err()
    }
}

#[test]
fn own_blocks_are_stored_unrooted_and_reported_with_their_block_id() {
    let h = start();
    for (parent, slot) in [(0, 1), (1, 2), (0, 3)] {
        let bank = h.produce(parent, slot);
        let DataEvent::BankFrozen {
            frozen,
            transactions,
            own,
        } = h.next_event()
        else {
            panic!("not a BankFrozen report");
        };
        assert!(own);
        assert_eq!(transactions, 0);
        // Reported after it is stored, with the Merkle root of its last FEC set as block id.
        let stored = h
            .store
            .last_fec_root(Slot(slot))
            .unwrap()
            .expect("shredded");
        assert_eq!(frozen, BankFrozen::new(&bank, stored).unwrap());
        assert_eq!(frozen.leader, leader());
        assert_ne!(frozen.block_id, Hash::default());
    }
    assert_eq!(
        h.store.slots_above_root().unwrap(),
        vec![Slot(1), Slot(2), Slot(3)]
    );
    assert_eq!(h.store.root().unwrap(), Some(Slot(0)));
    assert_eq!(h.forks.read().unwrap().root(), Slot(0));
    assert!(h.quiet(), "nothing rooted on its own");
}

#[test]
fn set_root_stores_first_then_prunes_the_forks_then_reports_and_bad_ones_are_ignored() {
    let h = start();
    for (parent, slot) in [(0, 1), (1, 2), (0, 3)] {
        h.produce(parent, slot);
        assert!(matches!(h.next_event(), DataEvent::BankFrozen { .. }));
    }
    // An open, unfrozen bank on slot 2.
    h.forks
        .write()
        .unwrap()
        .new_child(Slot(2), Slot(4), leader())
        .unwrap();
    // Unknown, not frozen, at the root: each is refused, the stage runs on, nothing moves.
    for bad in [9, 4, 0] {
        h.commands.send(ForkCommand::SetRoot(Slot(bad))).unwrap();
    }
    assert!(h.quiet());
    assert!(!h.exit.load(Ordering::Relaxed));
    assert_eq!(h.store.root().unwrap(), Some(Slot(0)));
    assert_eq!(h.forks.read().unwrap().root(), Slot(0));

    // A reader that must never see the forks' root ahead of the durable one. It is watching
    // before the root moves (on a loaded machine the thread could otherwise start after it).
    let stop = Arc::new(AtomicBool::new(false));
    let watching = Arc::new(std::sync::Barrier::new(2));
    let watcher = {
        let (forks, store, stop) = (h.forks.clone(), h.store.clone(), stop.clone());
        let watching = watching.clone();
        std::thread::spawn(move || {
            let mut checks = 0u64;
            loop {
                let in_memory = forks.read().unwrap().root();
                let durable = store.root().unwrap().unwrap_or_default();
                assert!(
                    in_memory <= durable,
                    "forks rooted at {in_memory} before storage at {durable}"
                );
                checks += 1;
                if checks == 1 {
                    watching.wait();
                }
                if stop.load(Ordering::Relaxed) {
                    return checks;
                }
            }
        })
    };
    watching.wait();
    let before = Instant::now();
    h.commands.send(ForkCommand::SetRoot(Slot(2))).unwrap();
    assert_eq!(h.next_event(), DataEvent::Rooted { slot: Slot(2) });
    assert!(before.elapsed() < Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    assert!(watcher.join().unwrap() > 0);
    // Durable, pruned, published.
    assert_eq!(h.store.root().unwrap(), Some(Slot(2)));
    assert!(h.store.is_rooted(Slot(1)).unwrap());
    assert!(!h.store.is_rooted(Slot(3)).unwrap());
    {
        let forks = h.forks.read().unwrap();
        assert_eq!(forks.root(), Slot(2));
        assert!(forks.get(Slot(3)).is_none(), "the other fork is pruned");
        assert!(forks.get(Slot(1)).is_none(), "below the root");
        assert!(forks.get(Slot(4)).is_some(), "a descendant stays");
    }
    assert_eq!(h.root_slot.load(Ordering::Acquire), 2);
    // Below the root now, and on the pruned fork: refused.
    for bad in [1, 3] {
        h.commands.send(ForkCommand::SetRoot(Slot(bad))).unwrap();
    }
    assert!(h.quiet());
    assert!(!h.exit.load(Ordering::Relaxed));
    assert_eq!(h.store.root().unwrap(), Some(Slot(2)));
}

#[test]
fn replace_block_drops_the_slot_and_its_descendants_from_store_and_forks_and_tells_the_receive_path(
) {
    let h = start();
    // 0 ─ 1 ─ 2 ─ 3        0 ─ 4
    for (parent, slot) in [(0, 1), (1, 2), (2, 3), (0, 4)] {
        h.produce(parent, slot);
        assert!(matches!(h.next_event(), DataEvent::BankFrozen { .. }));
    }
    let last_root_of_2 = h.store.last_fec_root(Slot(2)).unwrap().unwrap();
    // This node is producing slot 5 on slot 3 when the command comes.
    let working = h
        .forks
        .write()
        .unwrap()
        .new_child(Slot(3), Slot(5), leader())
        .unwrap();
    let block_id = Hash([0xB1; 32]);
    h.commands
        .send(ForkCommand::ReplaceBlock {
            slot: Slot(2),
            bank_hash: Hash([0xB0; 32]),
            block_id: Some(block_id),
        })
        .unwrap();
    let notice = h
        .replaced
        .recv_timeout(Duration::from_secs(5))
        .expect("the receive path is told");
    assert_eq!(notice.slot, Slot(2));
    assert_eq!(notice.block_id, Some(block_id));
    assert_eq!(notice.removed, vec![Slot(2), Slot(3), Slot(5)]);
    // The dropped version's set roots as its stored shreds name them (an empty block has one set).
    assert_eq!(notice.losing_roots, vec![last_root_of_2]);
    {
        let forks = h.forks.read().unwrap();
        for gone in [2, 3, 5] {
            assert!(forks.get(Slot(gone)).is_none(), "slot {gone} still live");
        }
        for kept in [0, 1, 4] {
            assert!(forks.get(Slot(kept)).is_some(), "slot {kept} dropped");
        }
    }
    for gone in [2, 3] {
        assert_eq!(h.store.slot_meta(Slot(gone)).unwrap(), None);
        assert_eq!(h.store.shred_count(Slot(gone)).unwrap(), 0);
        assert_eq!(h.store.last_fec_root(Slot(gone)).unwrap(), None);
    }
    assert_eq!(h.store.slots_above_root().unwrap(), vec![Slot(1), Slot(4)]);
    // The block produced on the dropped fork is frozen later: neither stored nor reported.
    working.freeze(Hash([5; 32]));
    h.banking
        .send(BankingOutput::Frozen { bank: working })
        .unwrap();
    assert!(
        h.quiet(),
        "a block built on a dropped version is not reported"
    );
    assert_eq!(h.store.slot_meta(Slot(5)).unwrap(), None);

    // At or below the root: refused, the stage runs on, nothing changes.
    h.commands.send(ForkCommand::SetRoot(Slot(1))).unwrap();
    assert_eq!(h.next_event(), DataEvent::Rooted { slot: Slot(1) });
    for bad in [0, 1] {
        h.commands
            .send(ForkCommand::ReplaceBlock {
                slot: Slot(bad),
                bank_hash: Hash::default(),
                block_id: None,
            })
            .unwrap();
    }
    assert!(h.quiet());
    assert!(h.replaced.try_recv().is_err());
    assert!(!h.exit.load(Ordering::Relaxed));
    assert!(h.store.slot_meta(Slot(1)).unwrap().is_some());
    // A slot this node never held is still forgotten and fetched (nothing to remove).
    h.commands
        .send(ForkCommand::ReplaceBlock {
            slot: Slot(9),
            bank_hash: Hash::default(),
            block_id: None,
        })
        .unwrap();
    let notice = h
        .replaced
        .recv_timeout(Duration::from_secs(5))
        .expect("told");
    assert_eq!(notice.removed, vec![Slot(9)]);
    assert!(notice.losing_roots.is_empty());
    assert!(!h.exit.load(Ordering::Relaxed));
}
