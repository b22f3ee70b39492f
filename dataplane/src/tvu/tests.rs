use std::collections::HashMap;
use std::sync::RwLock;

use ed25519_dalek::SigningKey;

use super::*;
use crate::bank::Bank;
use crate::bank_forks::BankForks;
use crate::genesis::{Genesis, GenesisAccount, GenesisValidator};
use crate::leader_schedule::Schedules;
use crate::replay::load_cluster;
use crate::replay_stage::{ReplayStage, Replayer};
use crate::sealevel::Executor;
use crate::shred::{shred_version, FecConfig, Root, Shredder, SHRED_SIZE};
use crate::store::Store;
use crate::testkit::{produce_block, slot_stream};
use crate::txn::{build_transfer, Txn};

pub(super) fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub(super) fn pk(k: &SigningKey) -> Pubkey {
    Pubkey(k.verifying_key().to_bytes())
}

struct Validator {
    _dir: tempfile::TempDir,
    forks: Arc<RwLock<BankForks>>,
    tvu: Tvu,
    replay: ReplayStage,
    events: crossbeam_channel::Receiver<DataEvent>,
    /// Peer address updates, as the control plane sends them.
    peers: crossbeam_channel::Sender<Arc<PeerAddrs>>,
}

/// A cluster whose only staked validator is `leader`: its schedule gives `leader` every slot.
pub(super) fn genesis(leader: &SigningKey, others: &[Pubkey], payers: &[SigningKey]) -> Genesis {
    let mut validators = vec![GenesisValidator {
        identity: pk(leader),
        stake: 10,
    }];
    validators.extend(others.iter().map(|p| GenesisValidator {
        identity: *p,
        stake: 0,
    }));
    Genesis {
        ticks_per_slot: 4,
        hashes_per_tick: 200,
        ..Genesis::with_defaults(
            "tvu-test",
            validators,
            payers
                .iter()
                .map(|k| GenesisAccount {
                    pubkey: pk(k),
                    lamports: 1_000_000_000,
                })
                .collect(),
        )
    }
}

/// Starts a validator's receive path and replay: its schedules come from `g`, its tree is `tree`,
/// and `addrs` (if any) are the peer addresses the control plane sends before the first shred.
fn start_validator(
    g: &Genesis,
    me: Pubkey,
    socket: UdpSocket,
    tree: TurbineTree,
    addrs: Option<PeerAddrs>,
    exit: &Arc<AtomicBool>,
) -> Validator {
    start_validator_leading_from(g, me, Slot(0), socket, tree, addrs, exit)
}

/// Like [`start_validator`], for a run that can lead from `own_blocks_from` on.
fn start_validator_leading_from(
    g: &Genesis,
    me: Pubkey,
    own_blocks_from: Slot,
    socket: UdpSocket,
    tree: TurbineTree,
    addrs: Option<PeerAddrs>,
    exit: &Arc<AtomicBool>,
) -> Validator {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), g.hash()).unwrap());
    let (forks, _) = load_cluster(g, &store, &mut Executor::new(0), 1).unwrap();
    let forks = Arc::new(RwLock::new(forks));
    let (blocks_tx, blocks_rx) = crossbeam_channel::bounded(16);
    let (events_tx, events) = crossbeam_channel::unbounded();
    let (_repaired_tx, repaired_rx) = crossbeam_channel::bounded(16);
    let (peers_tx, peers_rx) = crossbeam_channel::bounded(crate::plane::PEER_UPDATES_MAX);
    // No block is replaced here: the ledger stage's end stays unused.
    let (_replaced_tx, replaced_rx) = crossbeam_channel::bounded(crate::plane::REPLACED_QUEUED_MAX);
    if let Some(addrs) = addrs {
        peers_tx.send(Arc::new(addrs)).unwrap();
    }
    let tvu = Tvu::spawn(
        TvuConfig {
            identity: me,
            own_blocks_from,
            shred_version: shred_version(&g.hash()),
            backend: UdpBackend::Mmsg,
            pin_core: None,
        },
        Schedules::new(g),
        tree,
        TvuIo {
            socket,
            retransmit_socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            repaired: repaired_rx,
            blocks: blocks_tx,
            events: events_tx.clone(),
            peers: peers_rx,
            replaced: replaced_rx,
            root_slot: Arc::new(AtomicU64::new(0)),
            exit: exit.clone(),
        },
    )
    .unwrap();
    let replayer = Replayer::new(g.clone(), forks.clone(), store, 1, 0);
    let replay = ReplayStage::spawn(replayer, blocks_rx, events_tx, exit.clone()).unwrap();
    Validator {
        _dir: dir,
        forks,
        tvu,
        replay,
        events,
        peers: peers_tx,
    }
}

/// Shreds a produced block as the leader's ledger stage does.
pub(super) fn shred_block(
    g: &Genesis,
    leader: &SigningKey,
    bank: &Bank,
    entries: &[crate::entry::Entry],
    chained: Root,
) -> (Vec<[u8; SHRED_SIZE]>, Root) {
    let mut s = Shredder::new(
        leader,
        bank.slot().0,
        bank.parent_slot().0,
        shred_version(&g.hash()),
        chained,
        // Small sets, so each block spans several.
        FecConfig::new(4, 4).unwrap(),
    )
    .unwrap();
    let stream = slot_stream(entries, bank.bank_hash().unwrap(), 42);
    let mut out = Vec::new();
    s.push(&stream[..stream.len() / 2], false, &mut out)
        .unwrap();
    let root = s.finish(&stream[stream.len() / 2..], &mut out).unwrap();
    (out, root)
}

#[test]
fn validators_receive_retransmit_recover_and_replay_the_leaders_blocks_and_count_bad_shreds() {
    let leader = key(1);
    let (k2, k3) = (key(2), key(3));
    let payers: Vec<SigningKey> = (10..74).map(key).collect();
    let g = genesis(&leader, &[pk(&k2), pk(&k3)], &payers);
    let sockets: Vec<UdpSocket> = (0..2)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    // Fanout 1: the leader reaches one root per shred, which must retransmit to the other node.
    let nodes: Vec<(Pubkey, u64)> = g.validators.iter().map(|v| (v.identity, v.stake)).collect();
    let addrs_of = || PeerAddrs {
        tvu: [(pk(&k2), addrs[0]), (pk(&k3), addrs[1])].into(),
    };
    let exit = Arc::new(AtomicBool::new(false));
    let mut sockets = sockets.into_iter();
    let vals = [
        start_validator(
            &g,
            pk(&k2),
            sockets.next().unwrap(),
            TurbineTree::new(&nodes, 1),
            Some(addrs_of()),
            &exit,
        ),
        start_validator(
            &g,
            pk(&k3),
            sockets.next().unwrap(),
            TurbineTree::new(&nodes, 1),
            Some(addrs_of()),
            &exit,
        ),
    ];

    // Three blocks with enough transfers for several FEC sets each.
    let genesis_bank = Arc::new(Bank::genesis(&g));
    let mut parent = genesis_bank;
    let mut chained = Root(g.hash().0);
    let mut blocks = Vec::new();
    let mut shreds = Vec::new();
    let transfers = |slot: u64, to: u8| -> Vec<Vec<Txn>> {
        // Transfers to one account conflict: one per entry.
        payers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                vec![Txn::parse(&build_transfer(
                    p,
                    &Pubkey([to; 32]),
                    slot * 1000 + i as u64,
                    &g.hash(),
                ))
                .unwrap()]
            })
            .collect()
    };
    let mut slot3_parent_root = chained;
    let mut last_roots = Vec::new();
    for slot in 1..=3u64 {
        let (bank, entries) =
            produce_block(&g, &parent, Slot(slot), pk(&leader), transfers(slot, 200));
        if slot == 3 {
            slot3_parent_root = chained;
        }
        let (s, root) = shred_block(&g, &leader, &bank, &entries, chained);
        chained = root;
        last_roots.push(root);
        shreds.push(s);
        blocks.push(bank.clone());
        parent = bank;
    }
    // The leader equivocates: a second, validly signed version of slot 3 with other transfers.
    let (other3, other3_entries) =
        produce_block(&g, &blocks[1], Slot(3), pk(&leader), transfers(3, 201));
    let (other3_shreds, _) = shred_block(&g, &leader, &other3, &other3_entries, slot3_parent_root);
    assert!(shreds[0].len() > 16, "several FEC sets per block");

    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Hostile input first: garbage, a shred with a flipped signature byte, one with a flipped proof
    // byte, one of another cluster's version, a truncated one.
    let good = shreds[0][0];
    let mut bad_sig = good;
    bad_sig[3] ^= 1;
    let mut bad_proof = good;
    bad_proof[SHRED_SIZE - 1] ^= 1;
    let mut other_version = good;
    other_version[77] ^= 0xFF;
    for bytes in [
        &[0xAB; 100][..],
        &bad_sig[..],
        &bad_proof[..],
        &other_version[..],
        &good[..600],
    ] {
        for a in &addrs {
            sender.send_to(bytes, a).unwrap();
        }
    }
    // The leader's broadcast: every shred to its tree root, a third of each block's data shreds lost.
    let tree = TurbineTree::new(&nodes, 1);
    let mut scratch = TurbineScratch::default();
    for block in &shreds {
        for (i, s) in block.iter().enumerate() {
            let v = ShredView::parse(s).unwrap();
            if v.kind() == crate::shred::ShredKind::Data && i % 3 == 0 {
                continue;
            }
            let id = ShredId::of(&v);
            let root = tree.root_with(&pk(&leader), id, &mut scratch).unwrap();
            let addr = if root == pk(&k2) { addrs[0] } else { addrs[1] };
            sender.send_to(s, addr).unwrap();
            if i % 16 == 0 {
                // Do not outrun the receivers' socket buffers.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    let deadline = Instant::now() + Duration::from_secs(20);
    for v in &vals {
        loop {
            let done = {
                let forks = v.forks.read().unwrap();
                (1..=3).all(|s| forks.get(Slot(s)).is_some())
            };
            if done {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "validator did not replay all 3 blocks: turbine {} completed {} recovered {} \
                 rejected {:?} dead {:?} waiting {}",
                v.tvu.stats().turbine_shreds.load(Ordering::Relaxed),
                v.tvu.stats().completed_slots.load(Ordering::Relaxed),
                v.tvu.stats().recovered_data.load(Ordering::Relaxed),
                v.tvu.stats().rejected(),
                v.replay.stats().dead_by_reason(),
                v.replay.stats().waiting.load(Ordering::Relaxed),
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let forks = v.forks.read().unwrap();
        for b in &blocks {
            assert_eq!(forks.get(b.slot()).unwrap().bank_hash(), b.bank_hash());
        }
        let st = v.tvu.stats();
        assert!(
            st.recovered_data.load(Ordering::Relaxed) > 0,
            "erasure recovery used"
        );
        assert!(
            st.retransmitted.load(Ordering::Relaxed) > 0,
            "retransmitted to the other node"
        );
        assert_eq!(st.completed_slots.load(Ordering::Relaxed), 3);
        assert_eq!(st.newest_verified_slot.load(Ordering::Relaxed), 3);
        let retransmitted = st.newest_retransmitted_slot.load(Ordering::Relaxed);
        assert!((1..=3).contains(&retransmitted), "{retransmitted}");
        let rejected = st.rejected();
        for reason in ["bad_signature", "wrong_version"] {
            assert!(
                rejected.iter().any(|(r, n)| *r == reason && *n >= 1),
                "{reason} not counted: {rejected:?}"
            );
        }
        // Garbage, truncated and bad-proof shreds are refused by parse or proof checks.
        assert!(st.rejected_total() >= 5, "{rejected:?}");
        assert_eq!(v.replay.stats().dead.load(Ordering::Relaxed), 0);
    }

    // After replay: a shred whose index lies outside its FEC set, and one with a bad Merkle proof in
    // a set whose root is already verified; then the other version of slot 3's first data shred.
    let mut out_of_set = shreds[2][1];
    out_of_set[73..77].copy_from_slice(&1_000u32.to_le_bytes());
    let mut late_bad_proof = shreds[2][2];
    late_bad_proof[SHRED_SIZE - 1] ^= 1;
    let second = other3_shreds[0];
    assert_ne!(second[..], shreds[2][0][..]);
    for bytes in [&out_of_set, &late_bad_proof, &second] {
        for a in &addrs {
            sender.send_to(&bytes[..], a).unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for v in &vals {
        let mut seen = Vec::new();
        let proof = loop {
            match v
                .events
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(DataEvent::DuplicateSlotProof {
                    slot,
                    first,
                    second,
                }) => break (slot, first, second),
                Ok(ev) => seen.push(ev),
                Err(e) => panic!(
                    "no duplicate-slot proof ({e}): rejected {:?}",
                    v.tvu.stats().rejected()
                ),
            }
        };
        // Replay reports a block once it is stored, which may come after the proof.
        let frozen_count = |seen: &[DataEvent]| {
            seen.iter()
                .filter(|ev| matches!(ev, DataEvent::BankFrozen { .. }))
                .count()
        };
        while frozen_count(&seen) < 3 {
            match v
                .events
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(ev) => seen.push(ev),
                Err(e) => panic!("replay reported {} blocks ({e})", frozen_count(&seen)),
            }
        }
        // Each slot started once, whatever its shreds' number and order (the other version of
        // slot 3 included); its parent is named when the first shred was a data shred.
        let mut started: Vec<(Slot, Option<Slot>)> = seen
            .iter()
            .filter_map(|ev| match ev {
                DataEvent::SlotStarted { slot, parent } => Some((*slot, *parent)),
                _ => None,
            })
            .collect();
        started.sort_by_key(|s| s.0);
        assert_eq!(
            started.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![Slot(1), Slot(2), Slot(3)],
            "{started:?}"
        );
        for (slot, parent) in &started {
            assert!(parent.is_none() || *parent == Some(Slot(slot.0 - 1)));
        }
        // Replay reported each block as received (not own), with its leader and last FEC root.
        let frozen: Vec<(Slot, Hash, Pubkey, bool)> = seen
            .iter()
            .filter_map(|ev| match ev {
                DataEvent::BankFrozen { frozen, own, .. } => {
                    Some((frozen.slot, frozen.block_id, frozen.leader, *own))
                }
                _ => None,
            })
            .collect();
        let expected: Vec<(Slot, Hash, Pubkey, bool)> = (1..=3)
            .map(|s| {
                (
                    Slot(s),
                    Hash(last_roots[s as usize - 1].0),
                    pk(&leader),
                    false,
                )
            })
            .collect();
        assert_eq!(frozen, expected);
        // The proof: the two versions of slot 3's data shred 0, both as the leader signed them.
        let (slot, first, second_seen) = proof;
        assert_eq!(slot, Slot(3));
        let mut pair = [first, second_seen];
        pair.sort();
        let mut expected = [shreds[2][0].to_vec(), second.to_vec()];
        expected.sort();
        assert_eq!(pair, expected);
        assert_eq!(v.tvu.stats().equivocations.load(Ordering::Relaxed), 1);
        let rejected = v.tvu.stats().rejected();
        for reason in ["index_out_of_set", "bad_merkle_proof"] {
            assert!(
                rejected.iter().any(|(r, n)| *r == reason && *n >= 1),
                "{reason} not counted: {rejected:?}"
            );
        }
        // Replay was not disturbed: the first version of slot 3 stays.
        assert_eq!(
            v.forks.read().unwrap().get(Slot(3)).unwrap().bank_hash(),
            blocks[2].bank_hash()
        );
    }
    exit.store(true, Ordering::Relaxed);
    for v in vals {
        v.tvu.join();
        v.replay.join();
    }
}

#[test]
fn at_fanout_200_a_root_retransmits_each_shred_to_every_child_the_tree_names() {
    const OTHERS: u16 = 199;
    let leader = key(1);
    let me = key(2);
    let payers: Vec<SigningKey> = (10..26).map(key).collect();
    let g = genesis(&leader, &[pk(&me)], &payers);
    // 199 passive children, each a real socket. Our node's stake makes it the root of nearly every
    // shred, so nearly every shred fans out 199 ways from it.
    let children: Vec<(Pubkey, UdpSocket)> = (0..OTHERS)
        .map(|i| {
            let mut id = [0xE0; 32];
            id[..2].copy_from_slice(&i.to_le_bytes());
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            (Pubkey(id), s)
        })
        .collect();
    let mut nodes = vec![(pk(&leader), 10), (pk(&me), 100_000)];
    nodes.extend(children.iter().map(|(p, _)| (*p, 1)));
    let tree = TurbineTree::new(&nodes, 200);
    let mut tvu_addrs: HashMap<Pubkey, SocketAddr> = children
        .iter()
        .map(|(p, s)| (*p, s.local_addr().unwrap()))
        .collect();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let my_addr = socket.local_addr().unwrap();
    tvu_addrs.insert(pk(&me), my_addr);
    let exit = Arc::new(AtomicBool::new(false));
    let v = start_validator(
        &g,
        pk(&me),
        socket,
        tree.clone(),
        Some(PeerAddrs { tvu: tvu_addrs }),
        &exit,
    );

    let txs: Vec<Vec<Txn>> = payers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            vec![Txn::parse(&build_transfer(
                p,
                &Pubkey([200; 32]),
                1 + i as u64,
                &g.hash(),
            ))
            .unwrap()]
        })
        .collect();
    let genesis_bank = Arc::new(Bank::genesis(&g));
    let (bank, entries) = produce_block(&g, &genesis_bank, Slot(1), pk(&leader), txs);
    let (shreds, _) = shred_block(&g, &leader, &bank, &entries, Root(g.hash().0));

    // Every shred goes to our node but two data shreds of the first set, which it must rebuild and
    // still pass on; what each child must get follows from the tree alone.
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut expected: HashMap<Pubkey, Vec<Vec<u8>>> = HashMap::new();
    let mut rooted_here = 0;
    let lost: Vec<usize> = (0..4)
        .filter(|&i| tree.root(&pk(&leader), ShredId::data(Slot(1), i as u32)) == Some(pk(&me)))
        .take(2)
        .collect();
    assert_eq!(lost.len(), 2, "our node roots most data shreds");
    for (i, s) in shreds.iter().enumerate() {
        let view = ShredView::parse(s).unwrap();
        let id = ShredId::of(&view);
        let kids = tree.children(&pk(&leader), id, &pk(&me));
        if tree.root(&pk(&leader), id) == Some(pk(&me)) {
            rooted_here += 1;
            assert_eq!(
                kids.len(),
                usize::from(OTHERS),
                "a root at fanout 200 feeds all"
            );
        } else {
            assert!(kids.is_empty(), "below the root every node is a leaf");
        }
        for k in kids {
            expected.entry(k).or_default().push(s.to_vec());
        }
        if lost.contains(&i) {
            continue;
        }
        sender.send_to(s, my_addr).unwrap();
        // Each shred becomes 199 datagrams: pace so the children's buffers keep up.
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        rooted_here * 10 >= shreds.len() * 9,
        "{rooted_here} of {}",
        shreds.len()
    );

    let mut sent_on = 0;
    let mut buf = [0u8; 2048];
    for (child, s) in &children {
        let mut want = expected.remove(child).unwrap_or_default();
        // The expected count with a timeout each, then whatever else is already queued.
        let mut got = Vec::new();
        while got.len() < want.len() {
            match s.recv(&mut buf) {
                Ok(n) => got.push(buf[..n].to_vec()),
                Err(_) => break,
            }
        }
        s.set_nonblocking(true).unwrap();
        while let Ok(n) = s.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        got.sort();
        want.sort();
        assert_eq!(got.len(), want.len(), "child {child:?}");
        assert!(
            got == want,
            "child {child:?} got other shreds than the tree names"
        );
        sent_on += got.len();
    }
    assert_eq!(sent_on, rooted_here * usize::from(OTHERS));
    assert_eq!(
        v.tvu.stats().retransmitted.load(Ordering::Relaxed),
        sent_on as u64
    );
    assert_eq!(
        v.tvu
            .stats()
            .retransmitted_recovered
            .load(Ordering::Relaxed),
        2 * u64::from(OTHERS)
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while v.forks.read().unwrap().get(Slot(1)).is_none() {
        assert!(Instant::now() < deadline, "slot 1 not replayed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        v.forks.read().unwrap().get(Slot(1)).unwrap().bank_hash(),
        bank.bank_hash()
    );
    exit.store(true, Ordering::Relaxed);
    v.tvu.join();
    v.replay.join();
}

#[test]
fn a_peer_address_update_reaches_the_retransmit_path_of_a_running_node() {
    let leader = key(1);
    let me = key(2);
    let child = key(3);
    let payers: Vec<SigningKey> = (10..14).map(key).collect();
    let g = genesis(&leader, &[pk(&me), pk(&child)], &payers);
    // Our node's stake makes it the root of nearly every shred, with the child below it.
    let nodes = [(pk(&leader), 10), (pk(&me), 100_000), (pk(&child), 1)];
    let tree = TurbineTree::new(&nodes, 8);
    let child_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    child_socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let child_addr = child_socket.local_addr().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let my_addr = socket.local_addr().unwrap();
    let exit = Arc::new(AtomicBool::new(false));
    // No addresses known at start: the control plane has not heard from gossip yet.
    let v = start_validator(&g, pk(&me), socket, tree.clone(), None, &exit);

    let mut parent = Arc::new(Bank::genesis(&g));
    let mut chained = Root(g.hash().0);
    let mut blocks = Vec::new();
    for slot in 1..=2u64 {
        let txs: Vec<Vec<Txn>> = payers
            .iter()
            .map(|p| {
                vec![Txn::parse(&build_transfer(p, &Pubkey([200; 32]), slot, &g.hash())).unwrap()]
            })
            .collect();
        let (bank, entries) = produce_block(&g, &parent, Slot(slot), pk(&leader), txs);
        let (shreds, root) = shred_block(&g, &leader, &bank, &entries, chained);
        chained = root;
        blocks.push(shreds);
        parent = bank;
    }
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let send_all = |shreds: &[[u8; SHRED_SIZE]]| {
        for s in shreds {
            sender.send_to(s, my_addr).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let wait_completed = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while v.tvu.stats().completed_slots.load(Ordering::Relaxed) < n {
            assert!(Instant::now() < deadline, "slot {n} not completed");
            std::thread::sleep(Duration::from_millis(5));
        }
    };

    // Slot 1 before any address: the child is in the tree but cannot be reached.
    send_all(&blocks[0]);
    wait_completed(1);
    let mut buf = [0u8; 2048];
    assert!(child_socket.recv(&mut buf).is_err(), "nothing to send to");
    assert_eq!(v.tvu.stats().retransmitted.load(Ordering::Relaxed), 0);

    // The control plane learns the child's address: the running thread picks it up.
    v.peers
        .send(Arc::new(PeerAddrs {
            tvu: [(pk(&child), child_addr)].into(),
        }))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    send_all(&blocks[1]);
    wait_completed(2);
    let mut want: Vec<Vec<u8>> = blocks[1]
        .iter()
        .filter(|s| {
            let id = ShredId::of(&ShredView::parse(&s[..]).unwrap());
            tree.children(&pk(&leader), id, &pk(&me))
                .contains(&pk(&child))
        })
        .map(|s| s.to_vec())
        .collect();
    assert!(
        !want.is_empty(),
        "the child is below our node for some shreds"
    );
    let mut got = Vec::new();
    while got.len() < want.len() {
        match child_socket.recv(&mut buf) {
            Ok(n) => got.push(buf[..n].to_vec()),
            Err(e) => panic!("{} of {} shreds retransmitted: {e}", got.len(), want.len()),
        }
    }
    got.sort();
    want.sort();
    assert!(
        got == want,
        "the child got other shreds than the tree names"
    );
    assert_eq!(
        v.tvu.stats().retransmitted.load(Ordering::Relaxed),
        want.len() as u64
    );
    exit.store(true, Ordering::Relaxed);
    v.tvu.join();
    v.replay.join();
}

#[test]
fn a_restarted_leader_receives_its_own_blocks_of_a_previous_run_but_not_of_this_one() {
    // A leader that sent out slots 1 and 2, then stopped before storing them: the cluster built
    // on them, so the restarted node (which can lead from slot 3 on) must take them from the
    // network. Slot 3 is this run's own: it holds that block already and refuses it.
    let leader = key(1);
    let payers: Vec<SigningKey> = (10..14).map(key).collect();
    let g = genesis(&leader, &[pk(&key(2))], &payers);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let nodes: Vec<(Pubkey, u64)> = g.validators.iter().map(|v| (v.identity, v.stake)).collect();
    let exit = Arc::new(AtomicBool::new(false));
    let v = start_validator_leading_from(
        &g,
        pk(&leader),
        Slot(3),
        socket,
        TurbineTree::new(&nodes, 1),
        None,
        &exit,
    );
    let mut parent = Arc::new(Bank::genesis(&g));
    let mut chained = Root(g.hash().0);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for slot in 1..=3u64 {
        let txs = payers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                vec![Txn::parse(&build_transfer(
                    p,
                    &pk(&key(2)),
                    slot * 10 + i as u64,
                    &g.hash(),
                ))
                .unwrap()]
            })
            .collect();
        let (bank, entries) = produce_block(&g, &parent, Slot(slot), pk(&leader), txs);
        let (shreds, root) = shred_block(&g, &leader, &bank, &entries, chained);
        chained = root;
        for s in &shreds {
            sender.send_to(s, addr).unwrap();
        }
        parent = bank;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(1..=2).all(|s| v.forks.read().unwrap().get(Slot(s)).is_some()) {
        assert!(
            Instant::now() < deadline,
            "the previous run's blocks were not replayed: rejected {:?}",
            v.tvu.stats().rejected()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !v
        .tvu
        .stats()
        .rejected()
        .iter()
        .any(|(r, n)| *r == "own_slot" && *n > 0)
    {
        assert!(
            Instant::now() < deadline,
            "slot 3's shreds were not refused"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(v.forks.read().unwrap().get(Slot(3)).is_none());
    exit.store(true, Ordering::Relaxed);
}
