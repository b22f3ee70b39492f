//! The pipeline as the control plane drives it: lead commands, forwarding targets and root moves.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::*;
use crate::genesis::{GenesisAccount, GenesisValidator};
use crate::ledger_stage::build_commit;
use crate::sealevel::Executor;
use crate::types::Hash;

/// A pipeline for one validator that leads and roots only when commanded.
fn commanded_pipeline(name: &str) -> (LeaderPipeline, Arc<Store>, Genesis, tempfile::TempDir) {
    commanded_pipeline_with(name, None)
}

fn commanded_pipeline_with(
    name: &str,
    forwarder: Option<crate::forward::Forwarder>,
) -> (LeaderPipeline, Arc<Store>, Genesis, tempfile::TempDir) {
    let me = Pubkey([1; 32]);
    let g = Genesis {
        hashes_per_tick: 50,
        ticks_per_slot: 8,
        slot_duration_ms: 100,
        ..Genesis::with_defaults(
            name,
            vec![GenesisValidator {
                identity: me,
                stake: 1,
            }],
            vec![GenesisAccount {
                pubkey: Pubkey([2; 32]),
                lamports: 10,
            }],
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), g.hash()).unwrap());
    let (forks, _) = crate::replay::load_cluster(&g, &store, &mut Executor::new(0), 1).unwrap();
    let (tpu, _, _) =
        crate::packet::bind_udp("127.0.0.1:0".parse().unwrap(), 1 << 20, 1 << 20).unwrap();
    let p = LeaderPipeline::start(
        PipelineConfig {
            identity: me,
            sigverify_threads: 1,
            exec_threads: 0,
            batch_size_max: 64,
            pending_txns_max: crate::banking::PENDING_TXNS_MAX,
            admit_backlog_max: crate::sigverify::ADMIT_BACKLOG_MAX,
            admit_fresh_window: crate::sigverify::ADMIT_FRESH_WINDOW,
            poh_core: None,
            shredding: None,
            forwarder,
            tpu_backend: crate::udp::UdpBackend::IoUring,
        },
        &g,
        store.clone(),
        forks,
        tpu,
    )
    .unwrap();
    (p, store, g, dir)
}

/// A slot `ahead` slots after the one due now.
fn slot_ahead(g: &Genesis, ahead: u64) -> Slot {
    let due = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - g.creation_time_unix_ms;
    Slot(due / g.slot_duration_ms + ahead)
}

/// Own blocks the pipeline reports within `wait` of quiet, as `(slot, parent)`.
fn own_blocks(p: &LeaderPipeline, wait: Duration) -> Vec<(Slot, Slot)> {
    let mut stored = Vec::new();
    while let Ok(ev) = p.events.recv_timeout(wait) {
        if let DataEvent::BankFrozen {
            frozen, own: true, ..
        } = ev
        {
            stored.push((frozen.slot, frozen.parent));
        }
    }
    stored
}

/// Waits for the `Rooted` event of `slot`; panics on any other root or none within `wait`.
fn wait_rooted(p: &LeaderPipeline, slot: Slot, wait: Duration) {
    let until = Instant::now() + wait;
    loop {
        match p
            .events
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            Ok(DataEvent::Rooted { slot: s }) => {
                assert_eq!(s, slot, "rooted another slot");
                return;
            }
            Ok(_) => continue,
            Err(e) => panic!("slot {slot} was not rooted: {e}"),
        }
    }
}

#[test]
fn outside_its_window_a_node_holds_or_forwards_as_the_control_plane_says() {
    use crate::forward::Forwarder;
    let leader = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    leader
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let to = leader.local_addr().unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let forwarder = Forwarder::new(socket).unwrap();
    let (p, _store, g, _dir) = commanded_pipeline_with("forwarding", Some(forwarder));
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let wires: Vec<Vec<u8>> = (0..5)
        .map(|i| crate::txn::build_transfer(&key, &Pubkey([3; 32]), 1 + i, &g.hash()))
        .collect();
    let txns = wires.iter().map(|w| Txn::parse(w).unwrap()).collect();
    p.txns.send(txns).unwrap();
    // Held: no target yet (this node leads soon, as far as it knows).
    let mut buf = [0u8; 2048];
    assert!(leader.recv(&mut buf).is_err(), "held transactions stay");
    // Another node leads now: they go to it, as the client sent them.
    p.forward_to
        .send(Some(crate::forward::ForwardTarget::udp(to)))
        .unwrap();
    let mut got = Vec::new();
    while got.len() < wires.len() {
        let n = leader.recv(&mut buf).expect("forwarded");
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got, wires);
    let stats = p.forward_stats.clone().unwrap();
    // Counted after the send returns: it may trail the datagrams' arrival.
    let until = Instant::now() + Duration::from_secs(2);
    while stats.forwarded.load(Ordering::Relaxed) < 5 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(stats.forwarded.load(Ordering::Relaxed), 5);
    // Forwarded once: nothing is left to lead with or to send again.
    assert!(leader.recv(&mut buf).is_err());
    // Told to hold again: new arrivals stay.
    p.forward_to.send(None).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let more = crate::txn::build_transfer(&key, &Pubkey([3; 32]), 99, &g.hash());
    p.txns.send(vec![Txn::parse(&more).unwrap()]).unwrap();
    assert!(
        leader.recv(&mut buf).is_err(),
        "held after the target was cleared"
    );
    p.shutdown();
}

#[test]
fn what_another_validator_forwarded_here_is_dropped_at_a_hand_off_not_forwarded_again() {
    use crate::forward::Forwarder;
    let leader = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    leader
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let forwarder = Forwarder::new(socket).unwrap();
    let (p, _store, g, _dir) = commanded_pipeline_with("forward-once", Some(forwarder));
    let key = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
    let wires: Vec<Vec<u8>> = (0..6)
        .map(|i| crate::txn::build_transfer(&key, &Pubkey([3; 32]), 1 + i, &g.hash()))
        .collect();
    // Even ones came from a client, odd ones from another validator's forward.
    let txns = wires
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut t = Txn::parse(w).unwrap();
            if i % 2 == 1 {
                t.mark_forwarded();
            }
            t
        })
        .collect();
    p.txns.send(txns).unwrap();
    p.forward_to
        .send(Some(crate::forward::ForwardTarget::udp(
            leader.local_addr().unwrap(),
        )))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    while let Ok(n) = leader.recv(&mut buf) {
        got.push(buf[..n].to_vec());
    }
    let fresh: Vec<Vec<u8>> = wires.iter().step_by(2).cloned().collect();
    assert_eq!(got, fresh, "only the client's transactions are forwarded");
    let stats = p.forward_stats.clone().unwrap();
    assert_eq!(stats.forwarded.load(Ordering::Relaxed), 3);
    assert_eq!(stats.dropped_forwarded.load(Ordering::Relaxed), 3);
    // While it forwards, what another validator forwards here is shed before it is verified.
    let late = crate::txn::build_transfer(&key, &Pubkey([3; 32]), 77, &g.hash());
    let mut batch = crate::packet::PacketBatch::new();
    batch.push_flagged(
        &late,
        "127.0.0.1:9".parse().unwrap(),
        crate::packet::PacketFlags::FORWARDED,
    );
    p.packets.send(batch).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while p.sigverify_stats.shed_forwarded.load(Ordering::Relaxed) == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(p.sigverify_stats.shed_forwarded.load(Ordering::Relaxed), 1);
    assert_eq!(p.sigverify_stats.accepted.load(Ordering::Relaxed), 0);
    assert!(leader.recv(&mut buf).is_err(), "a forward is not forwarded");
    p.shutdown();
}

#[test]
fn a_pipeline_leads_exactly_the_commanded_window_then_waits() {
    let (p, store, g, _dir) = commanded_pipeline("lead-window");
    // Not told to lead: nothing is produced.
    assert!(p.events.recv_timeout(Duration::from_millis(300)).is_err());
    let first = slot_ahead(&g, 2);
    p.lead
        .send(LeadCommand {
            first,
            last: Slot(first.0 + 1),
            parent: Slot(0),
        })
        .unwrap();
    assert_eq!(
        own_blocks(&p, Duration::from_millis(800)),
        vec![(first, Slot(0)), (Slot(first.0 + 1), first)],
        "exactly the window, the first slot on the commanded parent"
    );
    // A command whose parent is not a live bank is refused without stopping the pipeline.
    p.lead
        .send(LeadCommand {
            first: Slot(first.0 + 10),
            last: Slot(first.0 + 10),
            parent: Slot(first.0 + 5),
        })
        .unwrap();
    assert!(p.events.recv_timeout(Duration::from_millis(300)).is_err());
    assert!(!p.exit.load(Ordering::Relaxed));
    assert_eq!(store.latest_slot().unwrap(), Some(Slot(first.0 + 1)));
    // Stored, never rooted: only a SetRoot moves the root.
    assert_eq!(store.root().unwrap(), Some(Slot(0)));
    assert_eq!(p.root_bank().slot(), Slot(0));
    p.shutdown();
}

#[test]
fn own_blocks_are_rooted_only_by_set_root_commands_and_bad_ones_are_ignored() {
    let (p, store, g, _dir) = commanded_pipeline("set-root");
    let first = slot_ahead(&g, 2);
    let second = Slot(first.0 + 1);
    p.lead
        .send(LeadCommand {
            first,
            last: second,
            parent: Slot(0),
        })
        .unwrap();
    assert_eq!(
        own_blocks(&p, Duration::from_millis(800)),
        vec![(first, Slot(0)), (second, first)]
    );
    assert_eq!(store.slots_above_root().unwrap(), vec![first, second]);
    // Unknown, at the root: refused, the pipeline runs on, nothing moves.
    for bad in [Slot(second.0 + 50), Slot(0)] {
        p.fork_commands.send(ForkCommand::SetRoot(bad)).unwrap();
    }
    assert!(p.events.recv_timeout(Duration::from_millis(300)).is_err());
    assert!(!p.exit.load(Ordering::Relaxed));
    assert_eq!(store.root().unwrap(), Some(Slot(0)));
    p.fork_commands.send(ForkCommand::SetRoot(second)).unwrap();
    wait_rooted(&p, second, Duration::from_secs(5));
    assert_eq!(store.root().unwrap(), Some(second));
    assert!(
        store.is_rooted(first).unwrap(),
        "its ancestor joins the rooted chain"
    );
    assert_eq!(p.root_bank().slot(), second);
    assert_eq!(p.root_slot.load(Ordering::Acquire), second.0);
    // Below the root now: refused.
    p.fork_commands.send(ForkCommand::SetRoot(first)).unwrap();
    assert!(p.events.recv_timeout(Duration::from_millis(300)).is_err());
    assert!(!p.exit.load(Ordering::Relaxed));
    assert_eq!(p.root_bank().slot(), second);
    p.shutdown();
}

#[test]
fn a_leader_whose_fork_is_pruned_mid_window_stops_leading_and_keeps_running() {
    let (p, store, g, _dir) = commanded_pipeline("pruned-window");
    let first = slot_ahead(&g, 3);
    p.lead
        .send(LeadCommand {
            first,
            last: Slot(first.0 + 2),
            parent: Slot(0),
        })
        .unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while p.forks.read().unwrap().get(first).is_none() {
        assert!(Instant::now() < until, "slot {first} never opened");
        std::thread::sleep(Duration::from_millis(2));
    }
    // While the leader works on `first`, another fork off genesis arrives (as replay would store
    // and add it) and the control plane roots it: `first` and its fork are pruned.
    let other = Slot(first.0 - 1);
    {
        let mut forks = p.forks.write().unwrap();
        let bank = forks.new_child(Slot(0), other, Pubkey([9; 32])).unwrap();
        bank.freeze(Hash([7; 32]));
        let mut commit = build_commit(
            &bank,
            &[],
            &[],
            bank.blockhash().unwrap(),
            bank.bank_hash().unwrap(),
        )
        .unwrap();
        commit.root = false;
        store.commit_slot(&commit).unwrap();
    }
    p.fork_commands.send(ForkCommand::SetRoot(other)).unwrap();
    // The rest of the window is given up; the pipeline neither stops nor produces on the pruned
    // fork.
    let mut stored = Vec::new();
    let mut rooted = Vec::new();
    while let Ok(ev) = p.events.recv_timeout(Duration::from_millis(600)) {
        match ev {
            DataEvent::BankFrozen {
                frozen, own: true, ..
            } => stored.push(frozen.slot),
            DataEvent::Rooted { slot } => rooted.push(slot),
            _ => {}
        }
    }
    assert_eq!(rooted, vec![other]);
    assert!(p.forks.read().unwrap().get(first).is_none());
    assert!(
        !p.exit.load(Ordering::Relaxed),
        "a pruned fork stopped the node"
    );
    assert!(
        stored.iter().all(|s| *s <= first),
        "led on a pruned fork: {stored:?}"
    );
    // It leads again when told to, on the new root.
    let next = slot_ahead(&g, 2);
    p.lead
        .send(LeadCommand {
            first: next,
            last: next,
            parent: other,
        })
        .unwrap();
    let stored_next = loop {
        match p.events.recv_timeout(Duration::from_secs(3)) {
            Ok(DataEvent::BankFrozen { frozen, .. }) if frozen.slot == next => break frozen.parent,
            Ok(_) => continue,
            Err(e) => panic!("no block for slot {next}: {e}"),
        }
    };
    assert_eq!(stored_next, other);
    p.shutdown();
}
