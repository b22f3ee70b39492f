//! Repair service tests on real loopback sockets and real redb stores in temporary directories.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use controlplane::repair::RepairConfig;
use crossbeam_channel::{Receiver, Sender};
use dataplane::plane::SlotRepairStatus;
use dataplane::repair::{
    decode_response, RateLimitConfig, RepairKind, RepairRequest, RepairResponse,
};
use dataplane::shred::{shred_version, FecConfig, Root, ShredKind, ShredView, Shredder};
use dataplane::store::{SlotCommit, SlotMeta, Store};
use dataplane::types::{Hash, Pubkey, Slot};
use ed25519_dalek::SigningKey;
use tempfile::TempDir;

use super::*;

fn genesis() -> Hash {
    Hash::of(b"repair service test cluster")
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn pubkey(k: &SigningKey) -> Pubkey {
    Pubkey(k.verifying_key().to_bytes())
}

fn bind() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes; returns whether it held.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A real block of `slot` on `parent`: its data shreds in index order and its last FEC set's root.
fn block_shreds(slot: u64, parent: u64, len: usize) -> (Vec<Vec<u8>>, Hash) {
    let leader = key(200);
    let version = shred_version(&genesis());
    let config = FecConfig::default();
    let mut shredder =
        Shredder::new(&leader, slot, parent, version, Root::default(), config).unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + slot as usize) as u8).collect();
    let mut out = Vec::new();
    let root = shredder.finish(&data, &mut out).unwrap();
    let mut data_shreds: Vec<(u32, Vec<u8>)> = out
        .iter()
        .filter_map(|s| {
            let view = ShredView::parse(s).ok()?;
            (view.kind() == ShredKind::Data).then(|| (view.index(), s.to_vec()))
        })
        .collect();
    data_shreds.sort_by_key(|(i, _)| *i);
    (
        data_shreds.into_iter().map(|(_, s)| s).collect(),
        Hash(root.0),
    )
}

/// Stores a block of `slot` on `parent` as a committed slot with its data shreds; returns them.
fn store_block(store: &Store, slot: u64, parent: u64, len: usize) -> Vec<Vec<u8>> {
    let (shreds, last_root) = block_shreds(slot, parent, len);
    let commit = SlotCommit {
        meta: SlotMeta {
            slot: Slot(slot),
            parent_slot: Slot(parent),
            blockhash: Hash::of(&slot.to_le_bytes()),
            bank_hash: Hash::hashv(&[b"bank", &slot.to_le_bytes()]),
            block_height: slot,
            block_time_ms: 1_700_000_000_000 + slot * 400,
            leader: pubkey(&key(200)),
            entry_count: 0,
            transaction_count: 0,
            signature_count: 0,
            collected_fees: 0,
        },
        entries: Vec::new(),
        statuses: Vec::new(),
        account_updates: Default::default(),
        root: false,
        data_shreds: shreds.clone(),
        last_fec_root: Some(last_root),
    };
    store.commit_slot(&commit).unwrap();
    shreds
}

/// A node's two sockets, bound before any service starts so that peers can name them.
struct Sockets {
    repair: UdpSocket,
    serve: UdpSocket,
}

impl Sockets {
    fn bind() -> Sockets {
        Sockets {
            repair: bind(),
            serve: bind(),
        }
    }

    fn serve_addr(&self) -> SocketAddr {
        self.serve.local_addr().unwrap()
    }
}

/// A running repair service and the node state around it.
struct Node {
    identity: Pubkey,
    serve_addr: SocketAddr,
    repair_addr: SocketAddr,
    store: Arc<Store>,
    status: Arc<Mutex<Vec<SlotRepairStatus>>>,
    orphans: Sender<Slot>,
    refetch: Sender<dataplane::plane::Refetch>,
    peers: Sender<Vec<RepairPeer>>,
    root: Arc<AtomicU64>,
    repaired: Receiver<Vec<u8>>,
    exit: Arc<AtomicBool>,
    stats: Arc<RepairStats>,
    service: Option<RepairService>,
    _dir: TempDir,
}

/// Test settings: quick repair rounds so tests take a fraction of a second.
fn test_config(keypair: SigningKey, peers: Vec<RepairPeer>) -> RepairServiceConfig {
    let mut cfg = RepairServiceConfig::new(keypair, genesis(), peers);
    cfg.planner = RepairConfig {
        repair_delay_ms: 20,
        ..RepairConfig::default()
    };
    cfg
}

impl Node {
    fn start(cfg: RepairServiceConfig, sockets: Sockets) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), genesis()).unwrap());
        let status = Arc::new(Mutex::new(Vec::new()));
        let (orphans_tx, orphans_rx) = crossbeam_channel::bounded(64);
        let (refetch_tx, refetch_rx) = crossbeam_channel::bounded(64);
        let (peers_tx, peers_rx) = crossbeam_channel::bounded(PEER_UPDATES_MAX);
        let (repaired_tx, repaired_rx) = crossbeam_channel::bounded(1024);
        let root = Arc::new(AtomicU64::new(0));
        let exit = Arc::new(AtomicBool::new(false));
        let identity = pubkey(&cfg.keypair);
        let serve_addr = sockets.serve_addr();
        let repair_addr = sockets.repair.local_addr().unwrap();
        let io = RepairIo {
            repair_socket: sockets.repair,
            serve_socket: sockets.serve,
            store: Arc::clone(&store),
            status: Arc::clone(&status),
            orphans: orphans_rx,
            refetch: refetch_rx,
            peers: peers_rx,
            root: Arc::clone(&root),
            repaired: repaired_tx,
            exit: Arc::clone(&exit),
        };
        let service = RepairService::spawn(cfg, io).unwrap();
        Node {
            identity,
            serve_addr,
            repair_addr,
            store,
            status,
            orphans: orphans_tx,
            refetch: refetch_tx,
            peers: peers_tx,
            root,
            repaired: repaired_rx,
            exit,
            stats: service.stats(),
            service: Some(service),
            _dir: dir,
        }
    }

    fn set_status(&self, status: Vec<SlotRepairStatus>) {
        *self.status.lock().unwrap() = status;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.exit.store(true, Ordering::Release);
        if let Some(service) = self.service.take() {
            let _ = service.join();
        }
    }
}

/// Node A (serving, holding blocks) and node B (repairing from A).
fn pair() -> (Node, Node) {
    let (a_sockets, b_sockets) = (Sockets::bind(), Sockets::bind());
    let a_peer = RepairPeer {
        identity: pubkey(&key(1)),
        serve_repair: a_sockets.serve_addr(),
    };
    let b_peer = RepairPeer {
        identity: pubkey(&key(2)),
        serve_repair: b_sockets.serve_addr(),
    };
    let a = Node::start(test_config(key(1), vec![b_peer]), a_sockets);
    let b = Node::start(test_config(key(2), vec![a_peer]), b_sockets);
    (a, b)
}

/// The slot and index of a raw shred.
fn position(shred: &[u8]) -> (u64, u32) {
    let view = ShredView::parse(shred).unwrap();
    (view.slot(), view.index())
}

#[test]
fn missing_shreds_are_repaired_from_a_peer() {
    let (a, b) = pair();
    let shreds = store_block(&a.store, 5, 4, 6_000);
    let count = shreds.len() as u32;
    assert!(count >= 5, "block has {count} data shreds");
    let held: Vec<u32> = (0..count).filter(|i| i % 2 == 0).collect();
    let missing: Vec<u32> = (0..count).filter(|i| i % 2 == 1).collect();
    // The parent is the root, so the planner has no orphan to chase.
    b.root.store(4, Ordering::Release);
    let status = |received: Vec<u32>| SlotRepairStatus {
        slot: Slot(5),
        parent: Some(Slot(4)),
        complete: received.len() == count as usize,
        received_data: received,
        last_index: Some(count - 1),
        missing_roots: Vec::new(),
    };
    b.set_status(vec![status(held.clone())]);

    // Play the shred receive path: each repaired shred joins the status B publishes.
    let mut got: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while got.len() < missing.len() && Instant::now() < deadline {
        if let Ok(shred) = b.repaired.recv_timeout(Duration::from_millis(50)) {
            let (slot, index) = position(&shred);
            assert_eq!(slot, 5);
            assert!(missing.contains(&index), "shred {index} was not missing");
            got.insert(index, shred);
            let mut received = held.clone();
            received.extend(got.keys());
            received.sort_unstable();
            b.set_status(vec![status(received)]);
        }
    }
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), missing);
    for (index, shred) in &got {
        assert_eq!(shred, &shreds[*index as usize], "shred {index} differs");
    }
    // Complete now: nothing more is asked for or delivered.
    std::thread::sleep(Duration::from_millis(100));
    while let Ok(shred) = b.repaired.try_recv() {
        let (_, index) = position(&shred);
        assert!(missing.contains(&index), "unexpected shred {index}");
    }
    assert!(get(&b.stats.requests_shred) >= missing.len() as u64);
    assert!(get(&b.stats.responses_accepted) >= missing.len() as u64);
    assert!(get(&a.stats.serve_served) >= missing.len() as u64);
    assert_eq!(get(&b.stats.responses_rejected_unknown_source), 0);
    assert_eq!(get(&a.stats.serve_rejected_bad_signature), 0);
}

#[test]
fn a_peer_list_from_the_control_plane_replaces_the_configured_one() {
    // B starts knowing no peer (as a node does before gossip), A holds the block.
    let (a_sockets, b_sockets) = (Sockets::bind(), Sockets::bind());
    let a_peer = RepairPeer {
        identity: pubkey(&key(1)),
        serve_repair: a_sockets.serve_addr(),
    };
    let a = Node::start(test_config(key(1), Vec::new()), a_sockets);
    let b = Node::start(test_config(key(2), Vec::new()), b_sockets);
    let shreds = store_block(&a.store, 5, 4, 3_000);
    b.root.store(4, Ordering::Release);
    b.set_status(vec![SlotRepairStatus {
        slot: Slot(5),
        parent: Some(Slot(4)),
        received_data: vec![0],
        last_index: Some(shreds.len() as u32 - 1),
        missing_roots: Vec::new(),
        complete: false,
    }]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(b.repaired.try_recv().is_err(), "no peer to ask yet");
    assert_eq!(get(&a.stats.serve_received), 0);
    // The peer table arrives (itself listed too, as gossip lists every node): B asks A.
    let b_self = RepairPeer {
        identity: b.identity,
        serve_repair: b.serve_addr,
    };
    b.peers.send(vec![b_self, a_peer]).unwrap();
    let shred = b
        .repaired
        .recv_timeout(Duration::from_secs(3))
        .expect("a repaired shred");
    let (slot, index) = position(&shred);
    assert_eq!(slot, 5);
    assert_eq!(shred, shreds[index as usize]);
    assert_eq!(get(&b.stats.responses_rejected_unknown_source), 0);
    assert_eq!(get(&b.stats.requests_send_dropped), 0);
    // An empty table: B stops asking.
    b.peers.send(Vec::new()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let asked = get(&a.stats.serve_received);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        get(&a.stats.serve_received),
        asked,
        "asked a peer it no longer knows"
    );
}

#[test]
fn a_slot_the_peer_lacks_is_answered_dont_have() {
    let (a, b) = pair();
    b.root.store(40, Ordering::Release);
    b.set_status(vec![SlotRepairStatus {
        slot: Slot(77),
        parent: Some(Slot(40)),
        received_data: vec![0],
        last_index: Some(3),
        missing_roots: Vec::new(),
        complete: false,
    }]);
    assert!(
        wait_until(Duration::from_secs(2), || get(&b.stats.dont_have) >= 1),
        "{:?}",
        b.stats.snapshot()
    );
    assert!(get(&a.stats.serve_dont_have) >= 1);
    assert_eq!(get(&a.stats.serve_served), 0);
    assert_eq!(get(&b.stats.dont_have_rejected_signature), 0);
    assert!(b.repaired.try_recv().is_err(), "nothing to repair from A");
}

#[test]
fn an_orphan_gets_the_last_shreds_of_its_ancestry() {
    let (a, b) = pair();
    let parent = store_block(&a.store, 4, 3, 3_000);
    let child = store_block(&a.store, 5, 4, 3_000);
    b.root.store(2, Ordering::Release);
    b.orphans.send(Slot(5)).unwrap();

    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while got.len() < 2 && Instant::now() < deadline {
        if let Ok(shred) = b.repaired.recv_timeout(Duration::from_millis(50)) {
            got.push(shred);
        }
    }
    // Newest first: the orphan's last shred, then its parent's (A lacks slot 3, so it stops).
    assert_eq!(got.len(), 2, "{:?}", b.stats.snapshot());
    assert_eq!(&got[0], child.last().unwrap());
    assert_eq!(&got[1], parent.last().unwrap());
    assert!(get(&b.stats.requests_orphan) >= 1);
    assert!(get(&a.stats.serve_served) >= 1);
}

/// A request to `recipient` signed by `signer` for the cluster of `genesis_hash`.
fn request(
    signer: &SigningKey,
    genesis_hash: &Hash,
    recipient: Pubkey,
    wallclock_ms: u64,
    nonce: u32,
) -> Vec<u8> {
    RepairRequest {
        recipient,
        wallclock_ms,
        nonce,
        kind: RepairKind::Shred {
            slot: Slot(5),
            index: 0,
            root: None,
        },
    }
    .sign(signer, genesis_hash)
    .encode()
}

/// A serving node holding slot 5, with no peers of its own, and a client socket to poke it with.
fn server(rate_limit: RateLimitConfig) -> (Node, UdpSocket) {
    let mut cfg = test_config(key(1), Vec::new());
    cfg.rate_limit = rate_limit;
    let a = Node::start(cfg, Sockets::bind());
    store_block(&a.store, 5, 4, 3_000);
    let client = bind();
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    (a, client)
}

/// Shred answers `socket` receives until it goes quiet for 200 ms.
fn shred_answers(socket: &UdpSocket) -> Vec<u32> {
    let mut buf = [0u8; 2048];
    let mut nonces = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        if let Ok(RepairResponse::Shred { nonce, .. }) = decode_response(&buf[..n]) {
            nonces.push(nonce);
        }
    }
    nonces
}

#[test]
fn strangers_stale_and_replayed_requests_are_refused_and_counted() {
    let (a, client) = server(RateLimitConfig::default());
    let stranger = key(9);
    let now = wallclock_ms();
    let send = |bytes: &[u8]| {
        client.send_to(bytes, a.serve_addr).unwrap();
    };
    send(b"not a repair request");
    send(&request(
        &stranger,
        &Hash::of(b"another cluster"),
        a.identity,
        now,
        1,
    ));
    send(&request(&stranger, &genesis(), pubkey(&key(3)), now, 2));
    send(&request(&stranger, &genesis(), a.identity, now - 60_000, 3));
    let good = request(&stranger, &genesis(), a.identity, now, 4);
    send(&good);
    assert!(wait_until(Duration::from_secs(2), || get(&a
        .stats
        .serve_served)
        == 1));
    send(&good);

    let s = &a.stats;
    assert!(
        wait_until(Duration::from_secs(2), || get(
            &s.serve_rejected_duplicate_nonce
        ) == 1),
        "{:?}",
        s.snapshot()
    );
    assert_eq!(get(&s.serve_received), 6);
    assert_eq!(get(&s.serve_rejected_decode), 1);
    assert_eq!(get(&s.serve_rejected_bad_signature), 1);
    assert_eq!(get(&s.serve_rejected_wrong_recipient), 1);
    assert_eq!(get(&s.serve_rejected_stale), 1);
    assert_eq!(get(&s.serve_served), 1);
    assert_eq!(get(&s.serve_shreds_sent), 1);
    // Only the good request, once, was answered.
    assert_eq!(shred_answers(&client), vec![4]);
}

#[test]
fn a_flood_is_rate_limited_while_others_are_served() {
    let (a, flooder) = server(RateLimitConfig {
        requests_per_s: 1,
        burst: 4,
        requesters_max: 16,
    });
    let flood_key = key(9);
    let now = wallclock_ms();
    for nonce in 0..40 {
        let bytes = request(&flood_key, &genesis(), a.identity, now, nonce);
        flooder.send_to(&bytes, a.serve_addr).unwrap();
    }
    let s = &a.stats;
    assert!(
        wait_until(Duration::from_secs(2), || get(&s.serve_received) == 40),
        "{:?}",
        s.snapshot()
    );
    // The burst, plus at most a token or two refilled while the flood arrived.
    let served = get(&s.serve_served);
    assert!((4..=6).contains(&served), "served {served}");
    assert_eq!(get(&s.serve_rejected_rate_limited), 40 - served);
    assert_eq!(shred_answers(&flooder).len() as u64, served);

    // Another requester is still answered.
    let honest = bind();
    honest
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let bytes = request(&key(10), &genesis(), a.identity, wallclock_ms(), 7);
    honest.send_to(&bytes, a.serve_addr).unwrap();
    assert!(wait_until(Duration::from_secs(2), || get(&s.serve_served)
        == served + 1));
    assert_eq!(shred_answers(&honest), vec![7]);
}

#[test]
fn a_slot_without_a_known_end_learns_it_from_highest_shred() {
    let (a, b) = pair();
    let shreds = store_block(&a.store, 5, 4, 6_000);
    let last = shreds.len() as u32 - 1;
    b.root.store(4, Ordering::Release);
    b.set_status(vec![SlotRepairStatus {
        slot: Slot(5),
        parent: Some(Slot(4)),
        received_data: vec![0],
        last_index: None,
        missing_roots: Vec::new(),
        complete: false,
    }]);
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !got.contains_key(&last) && Instant::now() < deadline {
        if let Ok(shred) = b.repaired.recv_timeout(Duration::from_millis(50)) {
            let (slot, index) = position(&shred);
            assert_eq!(slot, 5);
            assert!((1..=last).contains(&index), "unexpected shred {index}");
            assert_eq!(shred, shreds[index as usize]);
            got.insert(index, shred);
        }
    }
    assert!(got.contains_key(&last), "{:?}", b.stats.snapshot());
    assert!(get(&b.stats.requests_highest_shred) >= 1);
}

#[test]
fn a_slot_completed_once_is_repaired_again_when_it_must_be_fetched_again() {
    let (a, b) = pair();
    let shreds = store_block(&a.store, 5, 4, 3_000);
    b.root.store(4, Ordering::Release);
    // The receive path completed slot 5 (the version later dropped): the planner settles it, and
    // an orphan report for it is not asked.
    b.set_status(vec![SlotRepairStatus {
        slot: Slot(5),
        parent: None,
        received_data: Vec::new(),
        last_index: None,
        missing_roots: Vec::new(),
        complete: true,
    }]);
    std::thread::sleep(ROUND_INTERVAL * 5);
    b.orphans.send(Slot(5)).unwrap();
    assert!(
        b.repaired.recv_timeout(Duration::from_millis(300)).is_err(),
        "a completed slot is not repaired"
    );
    assert_eq!(get(&b.stats.requests_orphan), 0);

    // The receive path forgot the slot, then asked for it again: the client starts a fresh
    // planner, and the peer's last shred of the slot comes back.
    b.set_status(Vec::new());
    let block_id = Hash(
        ShredView::parse(shreds.last().unwrap())
            .unwrap()
            .merkle_root()
            .0,
    );
    b.refetch
        .send(dataplane::plane::Refetch {
            slot: Slot(5),
            block_id: Some(block_id),
        })
        .unwrap();
    let shred = b
        .repaired
        .recv_timeout(Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("slot 5 not repaired again ({e}): {:?}", b.stats.snapshot()));
    assert_eq!(&shred, shreds.last().unwrap());
    assert_eq!(get(&b.stats.refetches), 1);
    assert!(get(&b.stats.requests_orphan) >= 1);
}

#[test]
fn a_request_for_another_version_is_told_the_held_root() {
    let (a, client) = server(RateLimitConfig::default());
    let shreds = store_block(&a.store, 6, 5, 3_000);
    let held = Hash(ShredView::parse(&shreds[0]).unwrap().merkle_root().0);
    let asker = key(9);
    let bytes = RepairRequest {
        recipient: a.identity,
        wallclock_ms: wallclock_ms(),
        nonce: 11,
        kind: RepairKind::Shred {
            slot: Slot(6),
            index: 0,
            root: Some(Hash([0xAB; 32])),
        },
    }
    .sign(&asker, &genesis())
    .encode();
    client.send_to(&bytes, a.serve_addr).unwrap();
    let mut buf = [0u8; 2048];
    let n = client.recv(&mut buf).unwrap();
    let Ok(RepairResponse::DontHave(answer)) = decode_response(&buf[..n]) else {
        panic!("expected a don't-have answer, got {n} bytes");
    };
    answer.verify(&pubkey(&asker), &genesis()).unwrap();
    assert_eq!(answer.responder, a.identity);
    assert_eq!(answer.reply.nonce, 11);
    assert_eq!(answer.reply.held_root, Some(held));
    assert_eq!(get(&a.stats.serve_dont_have), 1);
}

#[test]
fn answers_from_unknown_addresses_are_dropped() {
    let (a, b) = pair();
    let shreds = store_block(&a.store, 5, 4, 3_000);
    let stranger = bind();
    let mut forged = shreds[0].clone();
    forged.extend_from_slice(&1u32.to_le_bytes());
    stranger.send_to(&forged, b.repair_addr).unwrap();
    stranger.send_to(b"junk", b.repair_addr).unwrap();
    assert!(
        wait_until(Duration::from_secs(2), || get(&b
            .stats
            .responses_rejected_unknown_source)
            == 2),
        "{:?}",
        b.stats.snapshot()
    );
    assert!(b.repaired.try_recv().is_err());
    assert_eq!(get(&b.stats.responses_accepted), 0);
}

#[test]
fn exit_stops_both_threads_promptly() {
    let (a, b) = pair();
    let started = Instant::now();
    for node in [&a, &b] {
        node.exit.store(true, Ordering::Release);
    }
    let mut a = a;
    let mut b = b;
    let joins = [a.service.take().unwrap(), b.service.take().unwrap()];
    for service in joins {
        service.join().unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn snapshot_names_every_counter_once() {
    let stats = RepairStats::default();
    stats.serve_served.store(3, Ordering::Relaxed);
    let snapshot = stats.snapshot();
    let mut names: Vec<&str> = snapshot.iter().map(|(n, _)| *n).collect();
    assert!(snapshot.contains(&("serve_served", 3)));
    assert!(snapshot.contains(&("requests_orphan", 0)));
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), snapshot.len());
}
