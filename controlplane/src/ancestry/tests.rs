use super::*;

fn key(i: u8) -> Pubkey {
    Pubkey([i; 32])
}

fn entry(slot: u64, tag: u8) -> AncestorHash {
    AncestorHash {
        slot: Slot(slot),
        bank_hash: Hash([tag; 32]),
        block_id: Hash([tag.wrapping_add(100); 32]),
    }
}

/// A chain from `top` down to `bottom`, every block tagged `tag`.
fn chain(top: u64, bottom: u64, tag: u8) -> Vec<AncestorHash> {
    (bottom..=top).rev().map(|s| entry(s, tag)).collect()
}

/// Asks `holders` (stake 100 each of `total`) about `target`; returns (peer, nonce) per request.
fn ask_all(a: &mut Ancestry, now: Millis, target: Block, n: u8, total: u64) -> Vec<(Pubkey, u32)> {
    let holders: Vec<(Pubkey, u64)> = (1..=n).map(|i| (key(i), 100)).collect();
    a.ask(now, target, &holders, total)
        .into_iter()
        .map(|r| {
            assert_eq!(r.kind, RepairKind::AncestorHashes { slot: target.0 });
            (r.peer, r.nonce)
        })
        .collect()
}

#[test]
fn a_link_is_believed_once_a_third_of_the_stake_names_it_and_each_peer_counts_once() {
    let mut a = Ancestry::new(Slot(0), 7);
    let target = (Slot(30), Hash([1; 32]));
    let asks = ask_all(&mut a, 0, target, 10, 1_000);
    assert!(asks.len() >= 4, "{asks:?}");
    let good = chain(30, 20, 1);
    // Three peers (300 of 1,000) are not a third: nothing is believed yet.
    for &(peer, nonce) in &asks[..3] {
        let believed = a.on_answer(1, &peer, 100, 1_000, nonce, &good).unwrap();
        assert!(believed.is_empty());
    }
    assert_eq!(a.parent(target), None);
    // The same peer again (a second request to it) adds nothing.
    let again = a.ask(2_000, target, &[(asks[0].0, 100)], 1_000);
    assert_eq!(again.len(), 0, "a peer that answered is not asked again");
    // The fourth reaches 400 ≥ 1,000 / 3: every link of the chain is believed at once.
    let (peer, nonce) = asks[3];
    let believed = a.on_answer(1, &peer, 100, 1_000, nonce, &good).unwrap();
    assert_eq!(believed.len(), good.len() - 1);
    assert_eq!(a.parent(target), Some(entry(29, 1)));
    assert_eq!(a.parent((Slot(21), Hash([1; 32]))), Some(entry(20, 1)));
    assert_eq!(
        a.parent((Slot(20), Hash([1; 32]))),
        None,
        "the chain ends there"
    );
}

#[test]
fn a_minority_cannot_make_a_false_parent_believed() {
    let mut a = Ancestry::new(Slot(0), 7);
    let target = (Slot(30), Hash([1; 32]));
    let asks = ask_all(&mut a, 0, target, 10, 1_000);
    // Three liars name another parent for 30; four honest peers name the true one.
    let mut lie = chain(30, 25, 9);
    lie[0] = entry(30, 1);
    for &(peer, nonce) in &asks[..3] {
        assert!(a
            .on_answer(1, &peer, 100, 1_000, nonce, &lie)
            .unwrap()
            .is_empty());
    }
    let good = chain(30, 25, 1);
    let mut believed = Vec::new();
    for &(peer, nonce) in &asks[3..7] {
        believed = a.on_answer(1, &peer, 100, 1_000, nonce, &good).unwrap();
    }
    assert!(!believed.is_empty());
    assert_eq!(a.parent(target), Some(entry(29, 1)));
}

#[test]
fn answers_nobody_asked_for_late_or_malformed_are_refused() {
    let mut a = Ancestry::new(Slot(0), 7);
    let target = (Slot(30), Hash([1; 32]));
    let asks = ask_all(&mut a, 0, target, 10, 1_000);
    let good = chain(30, 20, 1);
    let (peer, nonce) = asks[0];
    // Wrong peer, unknown nonce.
    assert_eq!(
        a.on_answer(1, &key(99), 100, 400, nonce, &good),
        Err(Refusal::NotAsked)
    );
    assert_eq!(
        a.on_answer(1, &peer, 100, 400, nonce.wrapping_add(1), &good),
        Err(Refusal::NotAsked)
    );
    // Not starting at the slot asked about; not descending; empty.
    assert_eq!(
        a.on_answer(1, &peer, 100, 400, nonce, &chain(31, 20, 1)),
        Err(Refusal::Malformed)
    );
    let (peer, nonce) = asks[1];
    let mut up = good.clone();
    up.swap(1, 2);
    assert_eq!(
        a.on_answer(1, &peer, 100, 400, nonce, &up),
        Err(Refusal::Malformed)
    );
    let (peer, nonce) = asks[2];
    assert_eq!(
        a.on_answer(1, &peer, 100, 400, nonce, &[]),
        Err(Refusal::Malformed)
    );
    // Late.
    let (peer, nonce) = asks[3];
    assert_eq!(
        a.on_answer(ANSWER_TIMEOUT_MS + 1, &peer, 100, 400, nonce, &good),
        Err(Refusal::NotAsked)
    );
    // Answered requests are spent; the late one goes at the next expiry sweep.
    assert_eq!(a.outstanding(), 4);
}

#[test]
fn asks_go_to_the_heaviest_holders_until_enough_stake_and_wait_before_asking_again() {
    let mut a = Ancestry::new(Slot(0), 7);
    let target = (Slot(30), Hash([1; 32]));
    let holders = [(key(1), 10), (key(2), 500), (key(3), 300), (key(4), 200)];
    let asked: Vec<Pubkey> = a
        .ask(0, target, &holders, 1_000)
        .iter()
        .map(|r| r.peer)
        .collect();
    // 2/3 of 1,000 is 667: the two heaviest (800) suffice.
    assert_eq!(asked, vec![key(2), key(3)]);
    assert!(a.ask(RETRY_MS - 1, target, &holders, 1_000).is_empty());
    assert!(!a.ask(RETRY_MS, target, &holders, 1_000).is_empty());
    // A "don't have" spends the request; from another peer it is not ours.
    let r = a.ask(0, (Slot(40), Hash([2; 32])), &holders, 1_000);
    assert!(!a.on_dont_have(r[0].nonce, &key(77)));
    assert!(a.on_dont_have(r[0].nonce, &r[0].peer));
    assert!(!a.on_dont_have(r[0].nonce, &r[0].peer));
}

#[test]
fn a_new_root_forgets_what_is_at_or_below_it() {
    let mut a = Ancestry::new(Slot(0), 7);
    let target = (Slot(30), Hash([1; 32]));
    let asks = ask_all(&mut a, 0, target, 4, 400);
    let good = chain(30, 20, 1);
    for &(peer, nonce) in &asks[..2] {
        a.on_answer(1, &peer, 100, 400, nonce, &good).unwrap();
    }
    assert_eq!(a.parent(target), Some(entry(29, 1)));
    assert_eq!(a.outstanding(), 1, "the third peer has not answered");
    a.set_root(Slot(25));
    assert_eq!(a.parent((Slot(24), Hash([1; 32]))), None);
    assert_eq!(a.parent((Slot(26), Hash([1; 32]))), Some(entry(25, 1)));
    assert_eq!(a.outstanding(), 1, "slot 30 is above the root");
    a.set_root(Slot(30));
    assert_eq!(a.parent(target), None);
    assert_eq!(a.outstanding(), 0);
    assert!(a.ask(2_000, target, &[(key(9), 400)], 400).is_empty());
}
