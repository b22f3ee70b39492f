use super::*;

fn peer(b: u8) -> Pubkey {
    Pubkey([b; 32])
}

fn planner(peers: u8) -> RepairPlanner {
    let mut p = RepairPlanner::new(RepairConfig::default(), 7);
    let peers: Vec<Pubkey> = (1..=peers).map(peer).collect();
    p.set_peers(&peers);
    p
}

fn progress(slot: u64, received: &[u32], last_index: Option<u32>) -> SlotProgress {
    SlotProgress {
        slot: Slot(slot),
        parent: slot.checked_sub(1).map(Slot),
        received_data: received.to_vec(),
        last_index,
        missing_roots: Vec::new(),
        complete: false,
    }
}

/// The `Shred` requests' (slot, index), in order.
fn shred_asks(out: &[RepairRequestOut]) -> Vec<(u64, u32)> {
    out.iter()
        .filter_map(|r| match r.kind {
            RepairKind::Shred { slot, index, .. } => Some((slot.0, index)),
            _ => None,
        })
        .collect()
}

#[test]
fn nothing_is_asked_before_the_delay() {
    let mut p = planner(3);
    p.on_progress(1000, &progress(5, &[0, 2], Some(3)));
    assert!(p.tick(1000).is_empty());
    assert!(p.tick(1149).is_empty());
    // New shreds reset the quiet time.
    p.on_progress(1100, &progress(5, &[0, 2, 3], Some(3)));
    assert!(p.tick(1249).is_empty());
    let out = p.tick(1250);
    assert_eq!(shred_asks(&out), vec![(5, 1)]);
}

#[test]
fn missing_indices_are_retried_after_retry_ms_from_another_peer() {
    let mut p = planner(4);
    p.on_progress(0, &progress(5, &[0, 3], Some(4)));
    let first = p.tick(150);
    assert_eq!(shred_asks(&first), vec![(5, 1), (5, 2), (5, 4)]);
    // Within retry_ms: nothing again.
    assert!(p.tick(200).is_empty());
    assert!(p.tick(349).is_empty());
    let second = p.tick(350);
    assert_eq!(shred_asks(&second), shred_asks(&first));
    for (a, b) in first.iter().zip(&second) {
        assert_ne!(
            a.peer, b.peer,
            "retry of {:?} went to the same peer",
            a.kind
        );
        assert_ne!(a.nonce, b.nonce);
    }
    // A shred that arrives is not asked for again.
    p.on_progress(400, &progress(5, &[0, 1, 3], Some(4)));
    let third = p.tick(750);
    assert_eq!(shred_asks(&third), vec![(5, 2), (5, 4)]);
}

#[test]
fn completion_stops_requests_and_refuses_late_answers() {
    let mut p = planner(2);
    p.on_progress(0, &progress(5, &[0], Some(2)));
    let out = p.tick(150);
    assert_eq!(out.len(), 2);
    p.on_progress(
        160,
        &SlotProgress {
            complete: true,
            ..progress(5, &[0, 1, 2], Some(2))
        },
    );
    assert!(p.tick(10_000).is_empty());
    assert!(!p.accept_response(170, out[0].nonce, &out[0].peer));
    // A late report for the completed slot does not revive it.
    p.on_progress(200, &progress(5, &[0], Some(2)));
    assert!(p.tick(20_000).is_empty());
    assert_eq!(p.tracked_slots(), 0);
}

#[test]
fn unknown_end_asks_for_the_highest_shred() {
    let mut p = planner(2);
    p.on_progress(0, &progress(9, &[0, 1, 4], None));
    let out = p.tick(150);
    assert_eq!(shred_asks(&out), vec![(9, 2), (9, 3)]);
    let highest: Vec<RepairKind> = out
        .iter()
        .map(|r| r.kind)
        .filter(|k| matches!(k, RepairKind::HighestShred { .. }))
        .collect();
    assert_eq!(
        highest,
        vec![RepairKind::HighestShred {
            slot: Slot(9),
            from_index: 5
        }]
    );
    // Once the end is known, no more HighestShred.
    p.on_progress(200, &progress(9, &[0, 1, 4], Some(5)));
    let out = p.tick(1000);
    assert!(out
        .iter()
        .all(|r| matches!(r.kind, RepairKind::Shred { .. })));
    assert_eq!(shred_asks(&out), vec![(9, 2), (9, 3), (9, 5)]);
}

#[test]
fn orphans_walk_back() {
    let mut p = planner(3);
    p.on_orphan(0, Slot(10));
    assert!(p.tick(100).is_empty());
    let out = p.tick(150);
    assert_eq!(
        out.iter().map(|r| r.kind).collect::<Vec<_>>(),
        vec![RepairKind::Orphan { slot: Slot(10) }]
    );
    assert!(p.accept_response(160, out[0].nonce, &out[0].peer));
    // The answer delivered slot 10's last shred: it names parent 8, which is not held either.
    p.on_progress(170, &progress(10, &[3], Some(3)));
    p.on_orphan(170, Slot(8));
    let out = p.tick(320);
    assert_eq!(out[0].kind, RepairKind::Orphan { slot: Slot(8) });
    assert_eq!(shred_asks(&out), vec![(10, 0), (10, 1), (10, 2)]);
    // Retried from another peer until slot 8 shows up.
    let retry = p.tick(520);
    assert_eq!(retry[0].kind, RepairKind::Orphan { slot: Slot(8) });
    assert_ne!(retry[0].peer, out[0].peer);
    p.on_progress(530, &progress(8, &[0], None));
    assert!(p
        .tick(5000)
        .iter()
        .all(|r| r.kind != RepairKind::Orphan { slot: Slot(8) }));
}

#[test]
fn unknown_parents_above_the_root_become_orphans() {
    let mut p = planner(2);
    // No root yet: a parent could be old and held, so it is not chased.
    p.on_progress(0, &progress(10, &[0], None));
    assert!(p
        .tick(150)
        .iter()
        .all(|r| !matches!(r.kind, RepairKind::Orphan { .. })));
    p.set_root(Slot(2));
    p.on_completed(Slot(6));
    p.on_progress(200, &progress(7, &[0], None)); // parent 6: completed
    p.on_progress(200, &progress(20, &[0], None)); // parent 19: unknown
    let mut p3 = progress(3, &[0], None);
    p3.parent = Some(Slot(2)); // the root itself
    p.on_progress(200, &p3);
    let orphans: Vec<RepairKind> = p
        .tick(400)
        .into_iter()
        .map(|r| r.kind)
        .filter(|k| matches!(k, RepairKind::Orphan { .. }))
        .collect();
    assert_eq!(orphans, vec![RepairKind::Orphan { slot: Slot(19) }]);
}

#[test]
fn nonces_are_accepted_once_from_the_right_peer_in_time() {
    let mut p = planner(3);
    p.on_progress(0, &progress(5, &[1], Some(1)));
    let out = p.tick(150);
    assert_eq!(out.len(), 1);
    let r = out[0];
    let other = if r.peer == peer(1) { peer(2) } else { peer(1) };
    assert!(!p.accept_response(160, r.nonce, &other));
    assert!(!p.accept_response(160, r.nonce.wrapping_add(1), &r.peer));
    assert!(p.accept_response(160, r.nonce, &r.peer));
    assert!(!p.accept_response(161, r.nonce, &r.peer), "second answer");

    // Too late.
    let out = p.tick(400);
    assert_eq!(out.len(), 1);
    assert!(!p.accept_response(400 + 1_001, out[0].nonce, &out[0].peer));

    // A HighestShred request takes several answers, up to the responder's bound.
    let mut p = planner(2);
    p.on_progress(0, &progress(6, &[], None));
    let out = p.tick(150);
    assert!(matches!(out[0].kind, RepairKind::HighestShred { .. }));
    for _ in 0..DEFAULT_RESPONSES_MAX {
        assert!(p.accept_response(160, out[0].nonce, &out[0].peer));
    }
    assert!(!p.accept_response(160, out[0].nonce, &out[0].peer));
}

#[test]
fn dont_have_sends_the_next_try_elsewhere_at_once() {
    let mut p = planner(3);
    p.on_progress(0, &progress(5, &[1], Some(1)));
    let out = p.tick(150);
    let r = out[0];
    assert!(!p.on_dont_have(151, r.nonce, &peer(99)));
    assert!(p.on_dont_have(151, r.nonce, &r.peer));
    assert!(!p.on_dont_have(151, r.nonce, &r.peer), "nonce is spent");
    let retry = p.tick(152);
    assert_eq!(shred_asks(&retry), vec![(5, 0)]);
    assert_ne!(retry[0].peer, r.peer);
    // Both others say no too: the planner falls back to asking again rather than going quiet.
    assert!(p.on_dont_have(153, retry[0].nonce, &retry[0].peer));
    let third = p.tick(154);
    assert_eq!(third.len(), 1);
    assert!(p.on_dont_have(155, third[0].nonce, &third[0].peer));
    assert_eq!(p.tick(156).len(), 1);
}

#[test]
fn bounds_hold() {
    let config = RepairConfig {
        requests_per_round_max: 10,
        requests_per_slot_max: 4,
        outstanding_max: 25,
        slots_tracked_max: 5,
        orphans_max: 2,
        ..RepairConfig::default()
    };
    let mut p = RepairPlanner::new(config, 1);
    p.set_peers(&[peer(1), peer(2)]);
    for slot in 0..20 {
        p.on_progress(0, &progress(slot, &[100], Some(200)));
        p.on_orphan(0, Slot(1000 + slot));
    }
    assert_eq!(p.tracked_slots(), 5);
    let out = p.tick(150);
    assert_eq!(out.len(), 10);
    let orphans = out
        .iter()
        .filter(|r| matches!(r.kind, RepairKind::Orphan { .. }))
        .count();
    assert_eq!(orphans, 2);
    // Oldest slots kept and served first, at most 4 per slot.
    assert_eq!(
        shred_asks(&out),
        vec![
            (0, 0),
            (0, 1),
            (0, 2),
            (0, 3),
            (1, 0),
            (1, 1),
            (1, 2),
            (1, 3)
        ]
    );
    let mut total = out.len();
    for round in 1..10 {
        let out = p.tick(150 + round);
        assert!(out.len() <= 10);
        total += out.len();
        assert!(p.outstanding() <= 25);
    }
    assert_eq!(
        total, 25,
        "outstanding bound caps requests until answers or expiry"
    );
    // Expiry frees the bound.
    assert!(!p.tick(150 + 1_001 + 200).is_empty());
}

#[test]
fn no_peers_no_requests_and_roots_prune() {
    let mut p = RepairPlanner::new(RepairConfig::default(), 3);
    p.on_progress(0, &progress(5, &[1], Some(3)));
    assert!(p.tick(1000).is_empty());
    p.set_peers(&[peer(1)]);
    assert_eq!(p.tick(1000).len(), 3);
    p.set_root(Slot(5));
    assert_eq!(p.tracked_slots(), 0);
    assert_eq!(p.outstanding(), 0);
    p.on_progress(2000, &progress(4, &[1], Some(3)));
    assert!(p.tick(5000).is_empty());
}

#[test]
fn same_seed_same_requests() {
    let run = |seed| {
        let mut p = RepairPlanner::new(RepairConfig::default(), seed);
        p.handle(0, RepairInput::Peers((1..=9).map(peer).collect()));
        p.handle(0, RepairInput::Progress(progress(3, &[0, 5], None)));
        p.handle(0, RepairInput::Orphan(Slot(2)));
        let mut all = p.handle(150, RepairInput::Tick);
        all.extend(p.handle(400, RepairInput::Tick));
        all
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn a_request_names_the_fec_set_root_the_node_knows() {
    let mut p = planner(3);
    let root = Hash([7; 32]);
    p.on_progress(
        0,
        &SlotProgress {
            missing_roots: vec![(1, root)],
            ..progress(5, &[0, 3], Some(3))
        },
    );
    let out = p.tick(10_000);
    let asks: Vec<(u32, Option<Hash>)> = out
        .iter()
        .filter_map(|r| match r.kind {
            RepairKind::Shred { index, root, .. } => Some((index, root)),
            _ => None,
        })
        .collect();
    assert_eq!(asks, vec![(1, Some(root)), (2, None)]);
}

#[test]
fn a_reopened_slot_is_fetched_again_and_its_old_requests_refused() {
    let mut p = planner(2);
    p.on_progress(0, &progress(5, &[0], Some(2)));
    let old = p.tick(150);
    assert!(!old.is_empty());
    p.on_completed(Slot(5));
    assert!(!p.has_work());
    // Another version of slot 5 won: the data plane dropped ours.
    p.reopen(1_000, Slot(5));
    assert!(p.has_work());
    assert!(!p.accept_response(1_001, old[0].nonce, &old[0].peer));
    assert!(p.tick(1_100).is_empty(), "the repair delay holds");
    let out = p.tick(1_150);
    assert!(
        out.iter()
            .any(|r| r.kind == RepairKind::Orphan { slot: Slot(5) }),
        "{out:?}"
    );
    // Its new progress is tracked like any slot's.
    p.on_progress(1_200, &progress(5, &[0, 2], Some(2)));
    assert_eq!(shred_asks(&p.tick(1_400)), vec![(5, 1)]);
}
