//! Tests of the state machine: one node driven by hand, and small networks in the harness.

mod discovery;
mod harness;

use std::net::SocketAddr;
use std::sync::Arc;

use dataplane::types::Hash;
use ed25519_dalek::SigningKey;

use self::harness::{addr, cluster, contact_info, key, GENESIS, SHRED_VERSION, START_MS};
use super::bloom::{Bloom, BLOOM_WORDS_MAX, BLOOM_WORDS_MIN};
use super::*;
use crate::signer::{Signer, Verified};

const NOW_MS: u64 = START_MS;
/// Values per hand-made push (what fits a datagram is not the point here).
const VALUES_PER_MESSAGE: usize = 8;

/// Node 0 of an `n`-validator cluster, its own contact info signed, outbox emptied.
fn node(n: usize, seeds: Vec<SocketAddr>) -> (Gossip, SigningKey) {
    let mut g = Gossip::new(
        GossipConfig::default(),
        cluster(n),
        contact_info(0),
        seeds,
        1,
    );
    let k = key(0);
    g.handle_timeout(NOW_MS, &k);
    drain(&mut g);
    (g, k)
}

fn drain(g: &mut Gossip) -> Vec<(SocketAddr, GossipMessage)> {
    std::iter::from_fn(|| g.poll_transmit()).collect()
}

fn signed(i: usize, wallclock_ms: u64, data: CrdsData) -> Arc<SignedValue> {
    Arc::new(SignedValue::sign(&key(i), &GENESIS, wallclock_ms, data))
}

fn ci_value(i: usize, wallclock_ms: u64) -> Arc<SignedValue> {
    signed(i, wallclock_ms, CrdsData::ContactInfo(contact_info(i)))
}

fn vote(i: usize, wallclock_ms: u64, tx_len: usize) -> Arc<SignedValue> {
    signed(
        i,
        wallclock_ms,
        CrdsData::Vote {
            tx: vec![i as u8; tx_len],
        },
    )
}

fn push(values: Vec<Arc<SignedValue>>) -> Verified<GossipMessage> {
    Verified::assume_checked(GossipMessage::Push {
        from: key(99).pubkey(),
        values,
    })
}

fn pull_request(filter_words: usize, caller: Arc<SignedValue>) -> GossipMessage {
    let filter = Bloom::from_parts(vec![1, 2, 3, 4, 5, 6, 7], vec![0; filter_words], 0, 0)
        .expect("valid filter");
    GossipMessage::PullRequest { filter, caller }
}

#[test]
fn the_first_timeout_signs_this_nodes_contact_info_and_asks_the_seeds() {
    let seeds = vec![addr(1, 8001), addr(2, 8001), addr(0, 8001)];
    let mut g = Gossip::new(
        GossipConfig::default(),
        cluster(3),
        contact_info(0),
        seeds,
        1,
    );
    assert_eq!(g.poll_timeout(), 0);
    g.handle_timeout(NOW_MS, &key(0));
    assert_eq!(g.table_len(), 1);
    assert_eq!(g.me().wallclock_ms, NOW_MS);
    let out = drain(&mut g);
    // Its own address is not a seed to ask.
    let to: Vec<SocketAddr> = out.iter().map(|(to, _)| *to).collect();
    assert_eq!(to, vec![addr(1, 8001), addr(2, 8001)]);
    for (_, msg) in &out {
        let GossipMessage::PullRequest { filter, caller } = msg else {
            panic!("expected a pull request, got {msg:?}");
        };
        assert_eq!(caller.origin, key(0).pubkey());
        assert_eq!(filter.words().len(), BLOOM_WORDS_MIN);
    }
    assert!(g.poll_timeout() > NOW_MS);
}

#[test]
fn refused_values_are_dropped_and_counted_by_reason() {
    let (mut g, k) = node(4, vec![]);
    let stranger = Arc::new(SignedValue::sign(
        &SigningKey::from_bytes(&[0xEE; 32]),
        &GENESIS,
        NOW_MS,
        CrdsData::Vote { tx: vec![1] },
    ));
    let mut other_version = contact_info(2);
    other_version.shred_version = SHRED_VERSION + 1;
    let values = vec![
        stranger,
        signed(2, NOW_MS, CrdsData::ContactInfo(other_version)),
        vote(3, NOW_MS - 31_000, 10),
        vote(1, NOW_MS, 1_300),
    ];
    let new = g.handle_message(NOW_MS, addr(9, 1), push(values), &k);
    assert!(new.is_empty());
    assert_eq!(g.table_len(), 1);
    // A signature for another cluster is refused at the edge and counted there.
    let foreign = Arc::new(SignedValue::sign(
        &key(1),
        &Hash([1; 32]),
        NOW_MS,
        CrdsData::Vote { tx: vec![1] },
    ));
    let bytes = encode(&GossipMessage::Push {
        from: key(1).pubkey(),
        values: vec![foreign],
    });
    let reject = decode_and_verify(&bytes, &GENESIS).expect_err("foreign signature");
    g.record_reject(&reject);
    let s = g.stats();
    assert_eq!(
        (
            s.unknown_origin,
            s.shred_version,
            s.wallclock,
            s.oversized,
            s.bad_signature
        ),
        (1, 1, 1, 1, 1)
    );
    assert!(drain(&mut g).is_empty(), "nothing refused is pushed on");
}

#[test]
fn new_values_are_pushed_on_once_to_the_fanout_and_replacements_reported() {
    let (mut g, k) = node(10, vec![]);
    let peers: Vec<Arc<SignedValue>> = (1..10).map(|i| ci_value(i, NOW_MS)).collect();
    assert_eq!(
        g.handle_message(NOW_MS, addr(1, 8001), push(peers), &k)
            .len(),
        9
    );
    let first = vote(3, NOW_MS, 300);
    let new = g.handle_message(NOW_MS, addr(1, 8001), push(vec![first.clone()]), &k);
    assert_eq!(new[0].replaced, None);
    // The same vote again is a duplicate and is not pushed twice.
    assert!(g
        .handle_message(NOW_MS, addr(2, 8001), push(vec![first.clone()]), &k)
        .is_empty());
    assert_eq!(g.stats().duplicate, 1);
    g.handle_timeout(g.poll_timeout().max(NOW_MS), &k);
    let out = drain(&mut g);
    let mut vote_to = Vec::new();
    for (to, msg) in &out {
        let GossipMessage::Push { values, .. } = msg else {
            panic!("expected a push, got {msg:?}");
        };
        assert!(encoded_len(msg) <= DATAGRAM_LEN_MAX);
        if values.contains(&first) {
            vote_to.push(*to);
        }
    }
    vote_to.sort();
    vote_to.dedup();
    // To the fanout, once each, and not back to its own origin.
    assert_eq!(vote_to.len(), GossipConfig::default().push_fanout);
    assert!(!vote_to.contains(&addr(3, 8001)));
    let second = vote(3, NOW_MS + 400, 300);
    let new = g.handle_message(NOW_MS + 400, addr(1, 8001), push(vec![second.clone()]), &k);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].value, second);
    assert_eq!(new[0].replaced, Some(first));
    assert_eq!(g.votes().collect::<Vec<_>>(), vec![&second]);
}

#[test]
fn push_own_signs_inserts_and_queues() {
    let (mut g, k) = node(3, vec![]);
    g.handle_message(NOW_MS, addr(1, 8001), push(vec![ci_value(1, NOW_MS)]), &k);
    let new = g
        .push_own(NOW_MS + 5, CrdsData::Vote { tx: vec![7; 200] }, &k)
        .expect("own vote");
    assert_eq!(new.value.origin, k.pubkey());
    assert_eq!(new.value.wallclock_ms, NOW_MS + 5);
    // A second vote in the same millisecond still gets a newer wallclock.
    let again = g
        .push_own(NOW_MS + 5, CrdsData::Vote { tx: vec![8; 200] }, &k)
        .expect("own vote");
    assert_eq!(again.value.wallclock_ms, NOW_MS + 6);
    assert_eq!(again.replaced, Some(new.value));
    // Its signature verifies on the wire.
    let bytes = encode(&GossipMessage::Push {
        from: k.pubkey(),
        values: vec![again.value.clone()],
    });
    assert!(decode_and_verify(&bytes, &GENESIS).is_ok());
    g.handle_timeout(g.poll_timeout(), &k);
    let out = drain(&mut g);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, addr(1, 8001));
}

#[test]
fn this_nodes_contact_info_is_refreshed_and_expired_peers_are_forgotten() {
    let (mut g, k) = node(3, vec![]);
    g.handle_message(NOW_MS, addr(1, 8001), push(vec![ci_value(1, NOW_MS)]), &k);
    let config = GossipConfig::default();
    let mut now = NOW_MS;
    while now < NOW_MS + config.contact_info_expiry_ms {
        now = g.poll_timeout().max(now + 1);
        g.handle_timeout(now, &k);
        drain(&mut g);
    }
    assert_eq!(g.contact_infos().count(), 1, "peer 1 expired");
    assert!(g.me().wallclock_ms >= now - config.contact_refresh_ms);
    assert_eq!(g.stats().values_expired, 1);
}

#[test]
fn pull_responses_are_bounded_by_the_request_size_and_rate_limited() {
    let n = 100;
    let (mut g, k) = node(n, vec![]);
    for chunk in (1..n).collect::<Vec<_>>().chunks(5) {
        let values = chunk
            .iter()
            .flat_map(|&i| [ci_value(i, NOW_MS), vote(i, NOW_MS, 350)])
            .collect();
        g.handle_message(NOW_MS, addr(1, 8001), push(values), &k);
    }
    assert_eq!(g.table_len(), 1 + 2 * (n - 1));
    drain(&mut g);
    // An address no node has, with the smallest and the largest filter a request can carry.
    let spoofed: SocketAddr = "192.0.2.1:9".parse().expect("address");
    let interval_ms = GossipConfig::default().pull_interval_ms;
    for (round, words) in [1, BLOOM_WORDS_MIN, BLOOM_WORDS_MAX]
        .into_iter()
        .enumerate()
    {
        let request = pull_request(words, ci_value(5, NOW_MS));
        let request_len = encoded_len(&request);
        // Each request in a rate-limit window of its own.
        let at_ms = NOW_MS + round as u64 * interval_ms;
        g.handle_message(at_ms, spoofed, Verified::assume_checked(request), &k);
        let out = drain(&mut g);
        assert!(!out.is_empty());
        assert!(out.len() <= GossipConfig::default().pull_response_datagrams_max);
        let response_len: usize = out.iter().map(|(_, m)| encoded_len(m)).sum();
        assert!(
            response_len <= PULL_RESPONSE_AMPLIFICATION_MAX * request_len,
            "{response_len} bytes out for {request_len} in"
        );
        assert!(out.iter().all(|(to, _)| *to == spoofed));
    }
    // The third request from one address within a pull interval is not answered.
    let at_ms = NOW_MS + 3 * interval_ms;
    for expect_answer in [true, true, false] {
        let request = pull_request(1, ci_value(5, NOW_MS));
        let spoofed2: SocketAddr = "192.0.2.2:9".parse().expect("address");
        g.handle_message(at_ms, spoofed2, Verified::assume_checked(request), &k);
        assert_eq!(!drain(&mut g).is_empty(), expect_answer);
    }
    assert_eq!(g.stats().pull_requests_rate_limited, 1);
    // A caller outside the validator set gets nothing.
    let stranger = Arc::new(SignedValue::sign(
        &SigningKey::from_bytes(&[0xEE; 32]),
        &GENESIS,
        NOW_MS,
        CrdsData::ContactInfo(contact_info(7)),
    ));
    let request = pull_request(1, stranger);
    g.handle_message(at_ms, addr(7, 8001), Verified::assume_checked(request), &k);
    assert!(drain(&mut g).is_empty());
}

#[test]
fn a_pull_request_teaches_the_responder_its_caller_and_gets_what_the_filter_lacks() {
    let (mut seed, seed_key) = node(3, vec![]);
    seed.handle_message(
        NOW_MS,
        addr(2, 8001),
        push(vec![ci_value(2, NOW_MS)]),
        &seed_key,
    );
    let mut newcomer = Gossip::new(
        GossipConfig::default(),
        cluster(3),
        contact_info(1),
        vec![addr(0, 8001)],
        2,
    );
    let newcomer_key = key(1);
    newcomer.handle_timeout(NOW_MS, &newcomer_key);
    let (to, request) = drain(&mut newcomer).pop().expect("a pull request");
    assert_eq!(to, addr(0, 8001));
    let bytes = encode(&request);
    let checked = decode_and_verify(&bytes, &GENESIS).expect("valid request");
    let new = seed.handle_message(NOW_MS, addr(1, 8001), checked, &seed_key);
    assert_eq!(new.len(), 1, "the caller's contact info is new to the seed");
    assert!(seed.contact_info(&newcomer_key.pubkey()).is_some());
    let responses = drain(&mut seed);
    assert!(responses.iter().all(|(to, _)| *to == addr(1, 8001)));
    for (_, response) in responses {
        let checked = decode_and_verify(&encode(&response), &GENESIS).expect("valid response");
        newcomer.handle_message(NOW_MS + 10, addr(0, 8001), checked, &newcomer_key);
    }
    assert_eq!(newcomer.contact_infos().count(), 3);
}

#[test]
fn a_table_too_large_for_one_filter_is_pulled_one_partition_at_a_time() {
    let n = 400;
    let config = GossipConfig {
        pull_response_values_max: 64,
        ..GossipConfig::default()
    };
    let held: Vec<Arc<SignedValue>> = (1..n)
        .flat_map(|i| [ci_value(i, NOW_MS), vote(i, NOW_MS, 100)])
        .collect();
    let newer: Vec<Arc<SignedValue>> = (1..=40).map(|i| vote(i, NOW_MS + 1, 100)).collect();
    let mut requester = Gossip::new(config.clone(), cluster(n), contact_info(0), vec![], 1);
    let mut responder = Gossip::new(config, cluster(n), contact_info(1), vec![], 2);
    let (requester_key, responder_key) = (key(0), key(1));
    requester.handle_timeout(NOW_MS, &requester_key);
    responder.handle_timeout(NOW_MS, &responder_key);
    drain(&mut requester);
    for batch in held.chunks(VALUES_PER_MESSAGE) {
        requester.handle_message(NOW_MS, addr(2, 8001), push(batch.to_vec()), &requester_key);
        responder.handle_message(NOW_MS, addr(2, 8001), push(batch.to_vec()), &responder_key);
    }
    for batch in newer.chunks(VALUES_PER_MESSAGE) {
        responder.handle_message(NOW_MS, addr(2, 8001), push(batch.to_vec()), &responder_key);
    }
    assert!(requester.table_len() > super::bloom::BLOOM_ITEMS_MAX);
    drain(&mut responder);
    // The next pull goes to some peer; hand it to the responder instead.
    let pull_at_ms = NOW_MS + GossipConfig::default().pull_interval_ms;
    requester.handle_timeout(pull_at_ms, &requester_key);
    let (_, request) = drain(&mut requester)
        .into_iter()
        .find(|(_, m)| matches!(m, GossipMessage::PullRequest { .. }))
        .expect("a pull request");
    assert!(encoded_len(&request) <= DATAGRAM_LEN_MAX);
    let GossipMessage::PullRequest { filter, .. } = &request else {
        unreachable!("matched above");
    };
    assert_eq!(filter.mask_bits(), 1);
    let in_partition: Vec<&Arc<SignedValue>> =
        newer.iter().filter(|v| filter.covers(&v.hash())).collect();
    let filter = filter.clone();
    responder.handle_message(
        pull_at_ms,
        addr(0, 8001),
        Verified::assume_checked(request),
        &responder_key,
    );
    let answered: Vec<Arc<SignedValue>> = drain(&mut responder)
        .into_iter()
        .flat_map(|(_, m)| match m {
            GossipMessage::PullResponse { values, .. } => values,
            _ => Vec::new(),
        })
        .collect();
    assert!(!answered.is_empty());
    for value in &answered {
        assert!(filter.covers(&value.hash()), "outside the partition");
        assert!(in_partition.contains(&value), "the requester held it");
    }
}

#[test]
fn a_pull_answers_the_requester_with_its_identity_from_another_instance_only() {
    let (mut g, k) = node(3, vec![]);
    let instance = |instance, wallclock_ms| {
        signed(
            1,
            wallclock_ms,
            CrdsData::ContactInfo(ContactInfo {
                instance,
                ..contact_info(1)
            }),
        )
    };
    let newer_twin = instance(2, NOW_MS + 10);
    g.handle_message(
        NOW_MS + 10,
        addr(2, 8001),
        push(vec![newer_twin.clone(), vote(1, NOW_MS + 10, 100)]),
        &k,
    );
    drain(&mut g);
    let answer = |g: &mut Gossip, caller| {
        g.handle_message(
            NOW_MS + 20,
            addr(1, 8001),
            Verified::assume_checked(pull_request(BLOOM_WORDS_MIN, caller)),
            &k,
        );
        drain(g)
            .into_iter()
            .flat_map(|(_, m)| match m {
                GossipMessage::PullResponse { values, .. } => values,
                _ => Vec::new(),
            })
            .collect::<Vec<_>>()
    };
    let of_node_1 = |values: &[Arc<SignedValue>]| {
        values
            .iter()
            .filter(|v| v.origin == key(1).pubkey())
            .cloned()
            .collect::<Vec<_>>()
    };
    // The older process asks: it is shown the newer one's contact info, never its own vote.
    let answered = answer(&mut g, instance(1, NOW_MS));
    assert_eq!(of_node_1(&answered), vec![newer_twin]);
    // The newer process asks: it is answered, but with nothing of its own.
    let answered = answer(&mut g, instance(2, NOW_MS + 20));
    assert!(!answered.is_empty());
    assert_eq!(of_node_1(&answered), Vec::new());
}

fn push_from(i: usize, values: Vec<Arc<SignedValue>>) -> Verified<GossipMessage> {
    Verified::assume_checked(GossipMessage::Push {
        from: key(i).pubkey(),
        values,
    })
}

fn prune_msg(from: usize, to: usize, wallclock_ms: u64, origins: &[usize]) -> GossipMessage {
    GossipMessage::Prune(Box::new(PruneMessage::sign(
        &key(from),
        &GENESIS,
        key(to).pubkey(),
        wallclock_ms,
        origins.iter().map(|&i| key(i).pubkey()).collect(),
    )))
}

/// Peers (by index) each value of `origin` in `out` was pushed to.
fn pushed_to(out: &[(SocketAddr, GossipMessage)], value: &Arc<SignedValue>) -> Vec<SocketAddr> {
    let mut to: Vec<SocketAddr> = out
        .iter()
        .filter(|(_, m)| matches!(m, GossipMessage::Push { values, .. } if values.contains(value)))
        .map(|(to, _)| *to)
        .collect();
    to.sort();
    to
}

#[test]
fn redundant_deliverers_are_sent_signed_prunes_and_the_first_kept() {
    let (mut g, k) = node(10, vec![]);
    let peers: Vec<Arc<SignedValue>> = (1..10).map(|i| ci_value(i, NOW_MS)).collect();
    g.handle_message(NOW_MS, addr(1, 8001), push(peers), &k);
    // Three votes of origin 9, each from peer 1 first, then peers 2, 3 and 4.
    for n in 0..super::prune::PRUNE_MIN_UPSERTS as u64 {
        let v = vote(9, NOW_MS + n, 100);
        for peer in 1..=4 {
            g.handle_message(
                NOW_MS,
                addr(peer, 8001),
                push_from(peer, vec![v.clone()]),
                &k,
            );
        }
        // Claimed by peer 5 but from another address: not counted as its delivery.
        g.handle_message(NOW_MS, addr(7, 8001), push_from(5, vec![v]), &k);
    }
    drain(&mut g);
    g.handle_timeout(NOW_MS + GossipConfig::default().prune_interval_ms, &k);
    let mut prunes: Vec<(SocketAddr, PruneMessage)> = drain(&mut g)
        .into_iter()
        .filter_map(|(to, m)| match m {
            GossipMessage::Prune(p) => Some((to, *p)),
            _ => None,
        })
        .collect();
    prunes.sort_by_key(|(to, _)| *to);
    // Peer 1 was first every time; peers 2..4 tie, and peer 4's larger stake keeps it.
    let to: Vec<SocketAddr> = prunes.iter().map(|(to, _)| *to).collect();
    assert_eq!(to, vec![addr(2, 8001), addr(3, 8001)]);
    for (i, (_, prune)) in prunes.iter().enumerate() {
        assert_eq!(prune.from, k.pubkey());
        assert_eq!(prune.destination, key(2 + i).pubkey());
        assert_eq!(prune.origins, vec![key(9).pubkey()]);
        let msg = GossipMessage::Prune(Box::new(prune.clone()));
        assert!(decode_and_verify(&encode(&msg), &GENESIS).is_ok());
    }
    assert_eq!(
        (g.stats().prune_messages_sent, g.stats().prune_origins_sent),
        (2, 2)
    );
}

#[test]
fn a_prune_moves_its_origins_off_its_sender_but_never_this_nodes_own_values() {
    let (mut g, k) = node(10, vec![]);
    let peers: Vec<Arc<SignedValue>> = (1..10).map(|i| ci_value(i, NOW_MS)).collect();
    g.handle_message(NOW_MS, addr(1, 8001), push(peers), &k);
    let first = vote(3, NOW_MS, 100);
    g.handle_message(NOW_MS, addr(1, 8001), push(vec![first.clone()]), &k);
    g.handle_timeout(g.poll_timeout().max(NOW_MS), &k);
    let before = pushed_to(&drain(&mut g), &first);
    assert_eq!(before.len(), GossipConfig::default().push_fanout);
    // The first peer that got origin 3's vote prunes origin 3 and this node.
    let pruner = before[0];
    let p = (1..10).find(|&i| addr(i, 8001) == pruner).expect("a peer");
    let now = NOW_MS + 100;
    let msg = prune_msg(p, 0, now, &[0, 3]);
    g.handle_message(now, pruner, Verified::assume_checked(msg), &k);
    assert_eq!(g.stats().prune_messages_received, 1);
    assert_eq!(
        g.stats().prune_origins_applied,
        1,
        "its own values are not pruned"
    );
    let second = vote(3, now, 100);
    g.handle_message(now, addr(1, 8001), push(vec![second.clone()]), &k);
    let own = g
        .push_own(now, CrdsData::Vote { tx: vec![1; 100] }, &k)
        .expect("own vote")
        .value;
    g.handle_timeout(g.poll_timeout().max(now), &k);
    let out = drain(&mut g);
    let after = pushed_to(&out, &second);
    // Still the full fanout: a spare peer takes the pruner's place.
    assert_eq!(after.len(), GossipConfig::default().push_fanout);
    assert!(!after.contains(&pruner));
    assert_eq!(pushed_to(&out, &own).len(), 6);
}

#[test]
fn prunes_for_others_from_strangers_or_out_of_the_window_are_refused_by_reason() {
    let (mut g, k) = node(10, vec![]);
    let peers: Vec<Arc<SignedValue>> = (1..10).map(|i| ci_value(i, NOW_MS)).collect();
    g.handle_message(NOW_MS, addr(1, 8001), push(peers), &k);
    let stranger = SigningKey::from_bytes(&[0xEE; 32]);
    let refused = [
        prune_msg(2, 3, NOW_MS, &[4]),
        GossipMessage::Prune(Box::new(PruneMessage::sign(
            &stranger,
            &GENESIS,
            k.pubkey(),
            NOW_MS,
            vec![key(4).pubkey()],
        ))),
        prune_msg(2, 0, NOW_MS - 31_000, &[4]),
    ];
    for msg in refused {
        g.handle_message(NOW_MS, addr(2, 8001), Verified::assume_checked(msg), &k);
    }
    let s = g.stats();
    assert_eq!(
        (s.wrong_destination, s.unknown_origin, s.wallclock),
        (1, 1, 1)
    );
    assert_eq!((s.prune_messages_received, s.prune_origins_applied), (0, 0));
}

#[test]
fn the_quic_addresses_are_announced_only_while_every_known_peer_decodes_them() {
    let quic = addr(0, 8009);
    let vote_quic = addr(0, 8013);
    let mut g = Gossip::new(
        GossipConfig::default(),
        cluster(3),
        ContactInfo {
            tpu_quic: Some(quic),
            tpu_vote_quic: Some(vote_quic),
            ..contact_info(0)
        },
        vec![],
        1,
    );
    let k = key(0);
    let at = |v: (u16, u16)| {
        let (major, minor) = v;
        ContactInfo {
            version: SoftwareVersion {
                major,
                minor,
                patch: 0,
            },
            ..contact_info(1)
        }
    };
    // Alone, it cannot know who decodes it: the first contact info is in the old form.
    g.handle_timeout(NOW_MS, &k);
    drain(&mut g);
    assert_eq!(g.me().tpu_quic, None);
    assert_eq!(g.me().tpu_vote_quic, None);
    // A peer of 0.2: the QUIC TPU is announced at once, not at the next refresh; the QUIC vote
    // address, which 0.2 does not decode, is not.
    let new_peer = signed(1, NOW_MS, CrdsData::ContactInfo(at((0, 2))));
    g.handle_message(NOW_MS, addr(1, 8001), push(vec![new_peer]), &k);
    g.handle_timeout(NOW_MS + 1, &k);
    assert_eq!(g.me().tpu_quic, Some(quic));
    assert_eq!(g.me().tpu_vote_quic, None);
    // The peer upgrades to 0.3: both are announced.
    let upgraded = signed(1, NOW_MS + 1, CrdsData::ContactInfo(at((0, 3))));
    g.handle_message(NOW_MS + 1, addr(1, 8001), push(vec![upgraded]), &k);
    g.handle_timeout(NOW_MS + 2, &k);
    assert_eq!(g.me().tpu_quic, Some(quic));
    assert_eq!(g.me().tpu_vote_quic, Some(vote_quic));
    let flush_at = g.poll_timeout();
    g.handle_timeout(flush_at, &k);
    let pushed = drain(&mut g);
    assert!(pushed.iter().any(|(_, m)| matches!(m,
        GossipMessage::Push { values, .. }
            if values.iter().any(|v| v.contact_info().is_some_and(|c| c.tpu_quic == Some(quic))))));
    // A peer of an older release appears (a rolling upgrade not finished): back to the old form,
    // which it decodes.
    let old_peer = signed(
        2,
        flush_at,
        CrdsData::ContactInfo(ContactInfo {
            pubkey: key(2).pubkey(),
            ..at((0, 1))
        }),
    );
    g.handle_message(flush_at, addr(2, 8001), push(vec![old_peer]), &k);
    g.handle_timeout(flush_at + 1, &k);
    assert_eq!(g.me().tpu_quic, None);
    assert_eq!(g.me().tpu_vote_quic, None);
    let own = g.contact_info(&k.pubkey()).expect("own contact info");
    assert_eq!(own.tpu_quic, None);
    assert_eq!(own.tpu_vote_quic, None);
}
