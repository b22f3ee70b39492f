//! The asking side's edge against a real serve side, on loopback sockets and redb stores. The
//! harness plays the core: a real [`RepairPlanner`] decides, answers the edge passes go to it as the
//! core takes them, and accepted shreds go to the receive path's channel.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::gossip::ContactInfo;
use controlplane::io::{Input, RepairAnswer};
use controlplane::repair::{RepairConfig, RepairPlanner, RepairRequestOut, SlotProgress};
use crossbeam_channel::Receiver;
use dataplane::repair::{
    Ancestors, GateConfig, Ping, RepairKind, RepairRequest, RepairResponder, ShredSource,
    SignedRequest,
};
use dataplane::shred::ShredView;
use dataplane::types::{Hash, Pubkey, Slot};
use ed25519_dalek::SigningKey;

use super::*;
use crate::repair_service::tests::{bind, genesis, get, key, pubkey, store_block, Server};
use crate::repair_service::RepairStats;

/// Long enough for a first request (answered with a ping), its pong and the planner's retry
/// (`retry_ms`, 200 ms) to be served.
const FIRST_ANSWER: Duration = Duration::from_millis(600);

/// A peer's contact info whose every address is `addr`.
fn contact(identity: Pubkey, addr: SocketAddr) -> ContactInfo {
    ContactInfo::at(identity, 1, addr)
}

/// The asking node: the edge on its own socket, a planner in the core's place.
struct Asker {
    edge: RepairEdge,
    planner: RepairPlanner,
    addrs: HashMap<Pubkey, SocketAddr>,
    repaired: Receiver<Vec<u8>>,
    stats: Arc<RepairStats>,
    local: SocketAddr,
    start: Instant,
    /// The planner's verdicts: shreds accepted, answers refused, "don't have"s taken.
    accepted: u64,
    refused: u64,
    dont_have: u64,
}

impl Asker {
    /// Node 2 asking `peers` (identity, serve_repair), with root `root`.
    fn new(peers: &[(Pubkey, SocketAddr)], root: u64) -> Asker {
        let socket = bind();
        socket.set_nonblocking(true).unwrap();
        let local = socket.local_addr().unwrap();
        let (repaired_tx, repaired) = crossbeam_channel::bounded(1024);
        let stats = Arc::new(RepairStats::default());
        let mut edge = RepairEdge::new(
            tokio::net::UdpSocket::from_std(socket).unwrap(),
            key(2),
            genesis(),
            repaired_tx,
            Arc::clone(&stats),
        );
        let table: Vec<ContactInfo> = peers.iter().map(|&(id, a)| contact(id, a)).collect();
        edge.set_peers(&table);
        let mut planner = RepairPlanner::new(
            RepairConfig {
                repair_delay_ms: 20,
                ..RepairConfig::default()
            },
            7,
        );
        let ids: Vec<Pubkey> = peers.iter().map(|&(id, _)| id).collect();
        planner.set_peers(&ids);
        planner.set_root(Slot(root));
        Asker {
            edge,
            planner,
            addrs: peers.iter().copied().collect(),
            repaired,
            stats,
            local,
            start: Instant::now(),
            accepted: 0,
            refused: 0,
            dont_have: 0,
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Runs 20 ms planner rounds for `d`, handling answers as they come.
    async fn run_for(&mut self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        let mut buf = vec![0u8; ANSWER_DATAGRAM_MAX + 1];
        while tokio::time::Instant::now() < end {
            let now = self.now();
            for r in self.planner.tick(now) {
                let to = self.addrs[&r.peer];
                self.edge.send(wallclock(), to, r).await;
            }
            let round_end = tokio::time::Instant::now() + Duration::from_millis(20);
            while let Ok(Ok((n, from))) =
                tokio::time::timeout_at(round_end, self.edge.socket().recv_from(&mut buf)).await
            {
                let input = self.edge.on_datagram(&buf[..n], from);
                self.edge.send_pongs().await;
                if let Some(input) = input {
                    self.take(input);
                }
            }
        }
    }

    /// What the core does with an answer the edge passed.
    fn take(&mut self, input: Input) {
        let now = self.now();
        let Input::RepairAnswer {
            from,
            nonce,
            answer,
        } = input
        else {
            panic!("the edge made {input:?} of an answer");
        };
        match answer {
            RepairAnswer::Shred(shred) => {
                if self.planner.accept_response(now, nonce, &from) {
                    self.accepted += 1;
                    self.edge.repaired(&shred);
                } else {
                    self.refused += 1;
                }
            }
            RepairAnswer::DontHave => {
                if self.planner.on_dont_have(now, nonce, &from) {
                    self.dont_have += 1;
                } else {
                    self.refused += 1;
                }
            }
            RepairAnswer::Ancestors(chain) => {
                panic!("the planner asked for no ancestors: {chain:?}")
            }
        }
    }

    fn shreds(&self) -> Vec<Vec<u8>> {
        self.repaired.try_iter().collect()
    }
}

fn wallclock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The slot and index of a raw shred.
fn position(shred: &[u8]) -> (u64, u32) {
    let view = ShredView::parse(shred).unwrap();
    (view.slot(), view.index())
}

fn progress(slot: u64, parent: u64, received: Vec<u32>, last: Option<u32>) -> SlotProgress {
    SlotProgress {
        slot: Slot(slot),
        parent: Some(Slot(parent)),
        received_data: received,
        last_index: last,
        missing_roots: Vec::new(),
        complete: false,
    }
}

#[tokio::test]
async fn missing_shreds_are_repaired_from_a_peer() {
    let a = Server::start(key(1), GateConfig::default());
    let shreds = store_block(&a.store, 5, 4, 6_000);
    let count = shreds.len() as u32;
    assert!(count >= 5, "block has {count} data shreds");
    let held: Vec<u32> = (0..count).filter(|i| i % 2 == 0).collect();
    let missing: Vec<u32> = (0..count).filter(|i| i % 2 == 1).collect();
    // The parent is the root, so the planner has no orphan to chase.
    let mut b = Asker::new(&[(a.identity, a.serve_addr)], 4);
    let now = b.now();
    b.planner
        .on_progress(now, &progress(5, 4, held.clone(), Some(count - 1)));

    // Play the shred receive path: each repaired shred joins the progress reported.
    let mut got: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while got.len() < missing.len() && Instant::now() < deadline {
        b.run_for(Duration::from_millis(40)).await;
        for shred in b.shreds() {
            let (slot, index) = position(&shred);
            assert_eq!(slot, 5);
            assert!(missing.contains(&index), "shred {index} was not missing");
            got.insert(index, shred);
        }
        let mut received = held.clone();
        received.extend(got.keys());
        received.sort_unstable();
        let now = b.now();
        b.planner
            .on_progress(now, &progress(5, 4, received, Some(count - 1)));
    }
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), missing);
    for (index, shred) in &got {
        assert_eq!(shred, &shreds[*index as usize], "shred {index} differs");
    }
    // Complete now: nothing more is asked for.
    b.planner.on_completed(Slot(5));
    let asked = get(&b.stats.requests_shred);
    b.run_for(Duration::from_millis(100)).await;
    assert_eq!(get(&b.stats.requests_shred), asked);
    assert!(asked >= missing.len() as u64);
    assert!(b.accepted >= missing.len() as u64);
    assert!(get(&a.stats.serve_served) >= missing.len() as u64);
    assert_eq!(get(&b.stats.responses_rejected_unknown_source), 0);
    assert_eq!(get(&b.stats.requests_send_dropped), 0);
    assert_eq!(get(&a.stats.serve_rejected_bad_signature), 0);
}

#[tokio::test]
async fn a_slot_the_peer_lacks_is_answered_dont_have() {
    let a = Server::start(key(1), GateConfig::default());
    let mut b = Asker::new(&[(a.identity, a.serve_addr)], 40);
    let now = b.now();
    b.planner
        .on_progress(now, &progress(77, 40, vec![0], Some(3)));
    // The first request draws a ping, which the edge answers; the planner's retry is served.
    b.run_for(FIRST_ANSWER).await;
    assert!(b.dont_have >= 1, "{:?}", b.stats.snapshot());
    assert!(get(&a.stats.serve_dont_have) >= 1);
    assert_eq!(get(&a.stats.serve_served), 0);
    assert_eq!(get(&b.stats.dont_have_rejected_signature), 0);
    assert_eq!(get(&b.stats.dont_have_rejected_responder), 0);
    assert!(b.shreds().is_empty(), "nothing to repair from A");
}

#[tokio::test]
async fn an_orphan_gets_the_last_shreds_of_its_ancestry() {
    let a = Server::start(key(1), GateConfig::default());
    let parent = store_block(&a.store, 4, 3, 3_000);
    let child = store_block(&a.store, 5, 4, 3_000);
    let mut b = Asker::new(&[(a.identity, a.serve_addr)], 2);
    let now = b.now();
    b.planner.on_orphan(now, Slot(5));
    // The first request draws a ping, which the edge answers; the planner's retry is served.
    b.run_for(FIRST_ANSWER).await;
    // Newest first: the orphan's last shred, then its parent's (A lacks slot 3, so it stops).
    let got = b.shreds();
    assert!(got.len() >= 2, "{:?}", b.stats.snapshot());
    assert_eq!(&got[0], child.last().unwrap());
    assert_eq!(&got[1], parent.last().unwrap());
    assert!(get(&b.stats.requests_orphan) >= 1);
}

#[tokio::test]
async fn a_slot_without_a_known_end_learns_it_from_highest_shred() {
    let a = Server::start(key(1), GateConfig::default());
    let shreds = store_block(&a.store, 5, 4, 6_000);
    let last = shreds.len() as u32 - 1;
    let mut b = Asker::new(&[(a.identity, a.serve_addr)], 4);
    let now = b.now();
    b.planner.on_progress(now, &progress(5, 4, vec![0], None));
    // The first request draws a ping, which the edge answers; the planner's retry is served.
    b.run_for(FIRST_ANSWER).await;
    let got = b.shreds();
    assert!(
        got.iter().any(|s| s == &shreds[last as usize]),
        "{:?}",
        b.stats.snapshot()
    );
    for shred in &got {
        let (slot, index) = position(shred);
        assert_eq!(slot, 5);
        assert_eq!(shred, &shreds[index as usize]);
    }
    assert!(get(&b.stats.requests_highest_shred) >= 1);
}

/// Answers every request with "don't have", as whoever `identity` is.
struct Empty;

impl ShredSource for Empty {
    fn shred(&self, _: Slot, _: u32) -> Option<Vec<u8>> {
        None
    }
    fn last_index(&self, _: Slot) -> Option<u32> {
        None
    }
    fn parent(&self, _: Slot) -> Option<Slot> {
        None
    }
}

fn dont_have(signer: SigningKey, request_from: &SigningKey, recipient: Pubkey) -> Vec<u8> {
    let request = RepairRequest {
        recipient,
        wallclock_ms: wallclock(),
        nonce: 9,
        kind: RepairKind::Orphan { slot: Slot(5) },
    }
    .sign(request_from, &genesis())
    .encode();
    let request = SignedRequest::decode(&request).unwrap();
    let mut answers = RepairResponder::new(signer, genesis(), 4).respond(&request, &Empty);
    assert_eq!(answers.len(), 1);
    answers.remove(0)
}

#[tokio::test]
async fn answers_from_strangers_and_forged_dont_haves_are_refused_and_counted() {
    let peer = bind();
    let peer_id = pubkey(&key(5));
    let mut b = Asker::new(&[(peer_id, peer.local_addr().unwrap())], 0);

    // From no known peer's address: dropped before parsing, however plausible.
    let stranger = bind();
    let a = Server::start(key(1), GateConfig::default());
    let mut forged = store_block(&a.store, 5, 4, 3_000)[0].clone();
    forged.extend_from_slice(&1u32.to_le_bytes());
    assert!(b
        .edge
        .on_datagram(&forged, stranger.local_addr().unwrap())
        .is_none());
    assert!(b
        .edge
        .on_datagram(b"junk", stranger.local_addr().unwrap())
        .is_none());
    assert_eq!(get(&b.stats.responses_rejected_unknown_source), 2);

    // From the peer's address: junk and an oversized datagram do not parse.
    let from_peer = peer.local_addr().unwrap();
    assert!(b.edge.on_datagram(b"junk", from_peer).is_none());
    assert!(b.edge.on_datagram(&[0u8; 2_000], from_peer).is_none());
    assert_eq!(get(&b.stats.responses_rejected_decode), 2);

    // "Don't have" signed by someone else, or meant for another asker: refused.
    let me = key(2);
    let other = dont_have(key(6), &me, pubkey(&key(6)));
    assert!(b.edge.on_datagram(&other, from_peer).is_none());
    assert_eq!(get(&b.stats.dont_have_rejected_responder), 1);
    let not_mine = dont_have(key(5), &key(7), peer_id);
    assert!(b.edge.on_datagram(&not_mine, from_peer).is_none());
    assert_eq!(get(&b.stats.dont_have_rejected_signature), 1);

    // The peer's own, for this node: passed to the core.
    let genuine = dont_have(key(5), &me, peer_id);
    assert!(matches!(
        b.edge.on_datagram(&genuine, from_peer),
        Some(Input::RepairAnswer {
            from,
            nonce: 9,
            answer: RepairAnswer::DontHave,
        }) if from == peer_id
    ));
    // And a shred from the peer's address goes to the core, which judges its nonce.
    assert!(matches!(
        b.edge.on_datagram(&forged, from_peer),
        Some(Input::RepairAnswer {
            nonce: 1,
            answer: RepairAnswer::Shred(_),
            ..
        })
    ));
}

#[tokio::test]
async fn a_peer_table_without_the_peer_stops_its_answers() {
    let a = Server::start(key(1), GateConfig::default());
    let shreds = store_block(&a.store, 5, 4, 3_000);
    let mut b = Asker::new(&[(a.identity, a.serve_addr)], 4);
    let mut answer = shreds[0].clone();
    answer.extend_from_slice(&3u32.to_le_bytes());
    assert!(b.edge.on_datagram(&answer, a.serve_addr).is_some());
    // The table as gossip gives it, this node listed too; then one without the peer.
    let me = contact(pubkey(&key(2)), b.local);
    b.edge
        .set_peers(&[me.clone(), contact(a.identity, a.serve_addr)]);
    assert!(b.edge.on_datagram(&answer, a.serve_addr).is_some());
    assert!(
        b.edge.on_datagram(&answer, b.local).is_none(),
        "not its own peer"
    );
    b.edge.set_peers(&[me]);
    assert!(b.edge.on_datagram(&answer, a.serve_addr).is_none());
    assert_eq!(get(&b.stats.responses_rejected_unknown_source), 2);
}

#[tokio::test]
async fn ancestor_hashes_come_back_signed_as_the_stored_chain_and_forgeries_are_refused() {
    let a = Server::start(key(1), GateConfig::default());
    // Slot 2 is not held, so the chain ends at 3.
    store_block(&a.store, 3, 2, 1_000);
    store_block(&a.store, 5, 3, 1_000);
    store_block(&a.store, 7, 5, 1_000);
    let mut b = Asker::new(&[(a.identity, a.serve_addr)], 0);
    let ask = RepairRequestOut {
        peer: a.identity,
        kind: RepairKind::AncestorHashes { slot: Slot(7) },
        nonce: 41,
    };
    // The first request draws a ping; once the pong is in, a retry is answered.
    let mut buf = vec![0u8; ANSWER_DATAGRAM_MAX + 1];
    let mut answer = None;
    for _ in 0..4 {
        b.edge.send(wallclock(), a.serve_addr, ask).await;
        let got =
            tokio::time::timeout(Duration::from_secs(2), b.edge.socket().recv_from(&mut buf)).await;
        let Ok(Ok((n, from))) = got else {
            continue;
        };
        match b.edge.on_datagram(&buf[..n], from) {
            Some(input) => {
                answer = Some((input, from));
                break;
            }
            None => b.edge.send_pongs().await,
        }
    }
    let Some((
        Input::RepairAnswer {
            from: who,
            nonce: 41,
            answer: RepairAnswer::Ancestors(chain),
        },
        from,
    )) = answer
    else {
        panic!("no ancestors answer: {answer:?}");
    };
    assert_eq!(who, a.identity);
    let slots: Vec<u64> = chain.iter().map(|e| e.slot.0).collect();
    assert_eq!(slots, vec![7, 5, 3]);
    for e in &chain {
        assert_eq!(
            e.bank_hash,
            Hash::hashv(&[b"bank", &e.slot.0.to_le_bytes()])
        );
        assert_eq!(Some(e.block_id), a.store.last_fec_root(e.slot).unwrap());
    }
    assert!(get(&b.stats.requests_ancestor_hashes) >= 2);

    // The same chain signed by another key, or by the peer for another node: refused, counted.
    let answer = |recipient: Pubkey| Ancestors {
        recipient,
        nonce: 41,
        slot: Slot(7),
        chain: chain.clone(),
    };
    let forged = answer(pubkey(&key(2))).sign(&key(9), &genesis()).unwrap();
    assert!(b.edge.on_datagram(&forged.encode(), from).is_none());
    let elsewhere = answer(pubkey(&key(8))).sign(&key(1), &genesis()).unwrap();
    assert!(b.edge.on_datagram(&elsewhere.encode(), from).is_none());
    assert_eq!(get(&b.stats.ancestors_rejected_signature), 2);
}

#[tokio::test]
async fn a_peers_ping_is_answered_with_a_pong_and_forged_pings_are_not() {
    let peer = bind();
    peer.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let from_peer = peer.local_addr().unwrap();
    let peer_id = pubkey(&key(5));
    let mut b = Asker::new(&[(peer_id, from_peer)], 0);

    let ping = Ping::new([3; 32], &key(5), &genesis());
    assert!(b.edge.on_datagram(&ping.encode(), from_peer).is_none());
    b.edge.send_pongs().await;
    assert_eq!(get(&b.stats.pongs_sent), 1, "{:?}", b.stats.snapshot());
    let mut buf = [0u8; 2048];
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(
        from, b.local,
        "the pong leaves from the socket requests leave from"
    );
    let pong = dataplane::repair::Pong::decode(&buf[..n]).unwrap();
    pong.verify(&genesis()).unwrap();
    assert_eq!(pong.from, pubkey(&key(2)));
    assert_eq!(pong.hash, dataplane::repair::pong_hash(&[3; 32]));

    // Signed by someone else, or not signed at all by the peer: no pong.
    let other = Ping::new([3; 32], &key(6), &genesis());
    assert!(b.edge.on_datagram(&other.encode(), from_peer).is_none());
    assert_eq!(get(&b.stats.pings_rejected_responder), 1);
    let mut forged = ping.encode();
    forged[1..65].copy_from_slice(&[9; 64]);
    assert!(b.edge.on_datagram(&forged, from_peer).is_none());
    assert_eq!(get(&b.stats.pings_rejected_signature), 1);
    let other_cluster = Ping::new([3; 32], &key(5), &dataplane::types::Hash::of(b"B"));
    assert!(b
        .edge
        .on_datagram(&other_cluster.encode(), from_peer)
        .is_none());
    assert_eq!(get(&b.stats.pings_rejected_signature), 2);
    // From no known peer's address: not even parsed.
    let stranger = bind().local_addr().unwrap();
    assert!(b.edge.on_datagram(&ping.encode(), stranger).is_none());
    assert_eq!(get(&b.stats.responses_rejected_unknown_source), 1);
    assert_eq!(get(&b.stats.pongs_sent), 1);

    // A replayed ping draws pongs only up to the peer's bucket.
    for _ in 0..20 {
        assert!(b.edge.on_datagram(&ping.encode(), from_peer).is_none());
        b.edge.send_pongs().await;
    }
    let sent = get(&b.stats.pongs_sent);
    assert!(sent < 12, "{sent} pongs for 21 pings");
    assert_eq!(get(&b.stats.pongs_rate_limited), 21 - sent);
}
