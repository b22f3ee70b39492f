//! Repair serve-side tests on real loopback sockets and real redb stores in temporary directories
//! (the asking side's are in `control::repair`, against this serve side).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::rate_limit::TokenBucketConfig;
use dataplane::repair::{
    decode_response, GateConfig, Pong, RepairKind, RepairRequest, RepairResponse,
};
use dataplane::shred::{shred_version, FecConfig, Root, ShredKind, ShredView, Shredder};
use dataplane::store::{SlotCommit, SlotMeta, Store};
use dataplane::types::{Hash, Pubkey, Slot};
use ed25519_dalek::SigningKey;
use tempfile::TempDir;

use super::*;

pub(crate) fn genesis() -> Hash {
    Hash::of(b"repair service test cluster")
}

pub(crate) fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub(crate) fn pubkey(k: &SigningKey) -> Pubkey {
    Pubkey(k.verifying_key().to_bytes())
}

pub(crate) fn bind() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// The test cluster's validators: keys 1 to [`MEMBERS`]; any other key is a stranger.
pub(crate) const MEMBERS: u8 = 8;

pub(crate) fn members() -> Vec<Pubkey> {
    (1..=MEMBERS).map(|n| pubkey(&key(n))).collect()
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes; returns whether it held.
pub(crate) fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

pub(crate) fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A real block of `slot` on `parent`: its data shreds in index order and its last FEC set's root.
pub(crate) fn block_shreds(slot: u64, parent: u64, len: usize) -> (Vec<Vec<u8>>, Hash) {
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
pub(crate) fn store_block(store: &Store, slot: u64, parent: u64, len: usize) -> Vec<Vec<u8>> {
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
        prioritization_fees: Default::default(),
        address_signatures: Vec::new(),
    };
    store.commit_slot(&commit).unwrap();
    shreds
}

/// A running serve side and the store it answers from.
pub(crate) struct Server {
    pub identity: Pubkey,
    pub serve_addr: SocketAddr,
    pub store: Arc<Store>,
    pub stats: Arc<RepairStats>,
    exit: Arc<AtomicBool>,
    service: Option<RepairService>,
    _dir: TempDir,
}

impl Server {
    /// A serve side signing as `keypair` for the cluster of [`members`], with an empty store.
    pub fn start(keypair: SigningKey, gate: GateConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), genesis()).unwrap());
        let exit = Arc::new(AtomicBool::new(false));
        let socket = bind();
        let serve_addr = socket.local_addr().unwrap();
        let identity = pubkey(&keypair);
        let mut cfg = RepairServiceConfig::new(keypair, genesis(), members());
        cfg.gate = gate;
        let io = RepairIo {
            serve_socket: socket,
            store: Arc::clone(&store),
            exit: Arc::clone(&exit),
        };
        let service = RepairService::spawn(cfg, io).unwrap();
        Server {
            identity,
            serve_addr,
            store,
            stats: service.stats(),
            exit,
            service: Some(service),
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.exit.store(true, Ordering::Release);
        if let Some(service) = self.service.take() {
            let _ = service.join();
        }
    }
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

/// Proves to `a` that `signer` receives at `socket`: sends a request, answers the ping with a pong
/// and waits for the serve side to accept it. Leaves nothing to read on `socket`.
pub(crate) fn prove_address(a: &Server, signer: &SigningKey, socket: &UdpSocket) {
    let accepted = get(&a.stats.serve_pongs_accepted);
    let probe = request(signer, &genesis(), a.identity, wallclock_ms(), u32::MAX);
    socket.send_to(&probe, a.serve_addr).unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = socket.recv_from(&mut buf).expect("a ping");
    assert_eq!(from, a.serve_addr);
    let Ok(RepairResponse::Ping(ping)) = decode_response(&buf[..n]) else {
        panic!("expected a ping, got {n} bytes");
    };
    ping.verify(&genesis()).unwrap();
    let pong = Pong::new(&ping, signer, &genesis()).encode();
    socket.send_to(&pong, a.serve_addr).unwrap();
    assert!(wait_until(Duration::from_secs(2), || get(&a
        .stats
        .serve_pongs_accepted)
        > accepted));
}

/// A serving node holding slot 5 and a client socket to poke it with.
fn server(gate: GateConfig) -> (Server, UdpSocket) {
    let a = Server::start(key(1), gate);
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
    let (a, client) = server(GateConfig::default());
    let member = key(3);
    prove_address(&a, &member, &client);
    let now = wallclock_ms();
    let send = |bytes: &[u8]| {
        client.send_to(bytes, a.serve_addr).unwrap();
    };
    send(b"not a repair request");
    send(&request(&key(9), &genesis(), a.identity, now, 1));
    send(&request(
        &member,
        &Hash::of(b"another cluster"),
        a.identity,
        now,
        1,
    ));
    send(&request(&member, &genesis(), pubkey(&key(4)), now, 2));
    send(&request(&member, &genesis(), a.identity, now - 60_000, 3));
    let good = request(&member, &genesis(), a.identity, now, 4);
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
    // The probe and the pong, then the seven above.
    assert_eq!(get(&s.serve_received), 9);
    assert_eq!(get(&s.serve_rejected_decode), 1);
    assert_eq!(get(&s.serve_rejected_not_member), 1);
    assert_eq!(get(&s.serve_rejected_bad_signature), 1);
    assert_eq!(get(&s.serve_rejected_wrong_recipient), 1);
    assert_eq!(get(&s.serve_rejected_stale), 1);
    assert_eq!(get(&s.serve_rejected_unverified_address), 1, "the probe");
    assert_eq!(get(&s.serve_pings_sent), 1);
    assert_eq!(get(&s.serve_served), 1);
    assert_eq!(get(&s.serve_shreds_sent), 1);
    // Only the good request, once, was answered.
    assert_eq!(shred_answers(&client), vec![4]);
}

#[test]
fn a_flood_is_rate_limited_while_others_are_served() {
    let (a, flooder) = server(GateConfig {
        requesters: TokenBucketConfig {
            per_s: 1,
            burst: 4,
            keys_max: 16,
        },
        ..GateConfig::default()
    });
    let flood_key = key(3);
    prove_address(&a, &flood_key, &flooder);
    let now = wallclock_ms();
    for nonce in 0..40 {
        let bytes = request(&flood_key, &genesis(), a.identity, now, nonce);
        flooder.send_to(&bytes, a.serve_addr).unwrap();
    }
    let s = &a.stats;
    assert!(
        // The forty, after the probe and pong that proved the flooder's address.
        wait_until(Duration::from_secs(2), || get(&s.serve_received) == 42),
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
    prove_address(&a, &key(4), &honest);
    let bytes = request(&key(4), &genesis(), a.identity, wallclock_ms(), 7);
    honest.send_to(&bytes, a.serve_addr).unwrap();
    assert!(wait_until(Duration::from_secs(2), || get(&s.serve_served)
        == served + 1));
    assert_eq!(shred_answers(&honest), vec![7]);
}

#[test]
fn a_request_for_another_version_is_told_the_held_root() {
    let (a, client) = server(GateConfig::default());
    let shreds = store_block(&a.store, 6, 5, 3_000);
    let held = Hash(ShredView::parse(&shreds[0]).unwrap().merkle_root().0);
    let asker = key(3);
    prove_address(&a, &asker, &client);
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
fn exit_stops_the_serve_thread() {
    let mut a = Server::start(key(1), GateConfig::default());
    a.exit.store(true, Ordering::Release);
    a.service.take().unwrap().join().unwrap();
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
