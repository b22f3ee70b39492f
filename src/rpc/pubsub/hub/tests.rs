use super::super::super::test_node::FakeChain;
use super::super::TxChange;
use super::*;

fn hub_over(chain: Arc<FakeChain>) -> Hub {
    hub_keeping(chain, super::super::SLOTS_CACHED_MAX)
}

fn hub_keeping(chain: Arc<FakeChain>, slots_cached: usize) -> Hub {
    let limits = Limits {
        per_connection: 10,
        total: 10,
        slots_cached,
    };
    Hub::new(chain, Arc::new(RpcStats::new()), limits)
}

fn hub() -> Hub {
    hub_over(Arc::new(FakeChain::new()))
}

fn levels(processed: u64, finalized: u64) -> ChainEvent {
    ChainEvent::Commitment(CommitmentSlots {
        processed: Slot(processed),
        confirmed: Slot(finalized),
        finalized: Slot(finalized),
        root: Slot(finalized),
    })
}

/// What slot `slot` holds: one transaction whose signature is `[slot; 64]`.
fn changes(slot: u64, parent: u64) -> SlotChanges {
    SlotChanges {
        slot: Slot(slot),
        parent: Slot(parent),
        transactions: vec![TxChange {
            signature: Signature([slot as u8; 64]),
            err: None,
            accounts: vec![],
            is_vote: false,
        }],
        accounts: vec![],
    }
}

fn frozen(hub: &mut Hub, slot: u64, parent: u64) {
    hub.changes.insert(changes(slot, parent));
    hub.on_event(&ChainEvent::Frozen {
        slot: Slot(slot),
        parent: Slot(parent),
    });
}

/// The slots whose transactions `deliveries` report.
fn logged_slots(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries
        .iter()
        .map(|d| {
            let v: Value = serde_json::from_str(&d.text).unwrap();
            v["params"]["result"]["context"]["slot"].as_u64().unwrap()
        })
        .collect()
}

#[test]
fn a_processed_head_switching_forks_misses_nothing_and_repeats_nothing() {
    let mut hub = hub();
    hub.on_event(&levels(10, 10));
    let logs = Spec::Logs {
        filter: LogsFilter::All,
        commitment: Commitment::Processed,
    };
    let answer = hub.request(
        1,
        Request {
            id: json!(1),
            call: Call::Subscribe(logs),
        },
    );
    assert_eq!(answer.len(), 1);
    assert_eq!(hub.subscriptions(), 1);
    // 10 <- 11 <- 12 and 10 <- 13.
    frozen(&mut hub, 11, 10);
    frozen(&mut hub, 12, 11);
    frozen(&mut hub, 13, 10);
    assert_eq!(logged_slots(&hub.on_event(&levels(12, 10))), [11, 12]);
    assert_eq!(logged_slots(&hub.on_event(&levels(13, 10))), [13]);
    assert_eq!(
        logged_slots(&hub.on_event(&levels(12, 10))),
        Vec::<u64>::new()
    );
    // Finality passes 12: the other fork is forgotten, nothing is notified again.
    frozen(&mut hub, 14, 12);
    assert_eq!(logged_slots(&hub.on_event(&levels(14, 12))), [14]);
    assert!(hub.walk.covered.iter().all(|n| n.iter().all(|s| s.0 > 12)));
    assert!((10..=12).all(|s| hub.changes.ready(Slot(s)).is_none()));
    assert!(hub.changes.ready(Slot(14)).is_some());
    hub.close(1);
    assert_eq!(hub.subscriptions(), 0);
}

#[test]
fn the_changes_of_at_most_the_configured_slots_stay_in_memory() {
    let frozen_kept = |slots_cached: usize| -> Vec<u64> {
        let mut hub = hub_keeping(Arc::new(FakeChain::new()), slots_cached);
        hub.on_event(&levels(10, 10));
        for slot in 11..=20 {
            frozen(&mut hub, slot, slot - 1);
        }
        (11..=20)
            .filter(|&s| hub.changes.ready(Slot(s)).is_some())
            .collect()
    };
    assert_eq!(frozen_kept(3), [18, 19, 20], "the newest three");
    assert_eq!(frozen_kept(super::super::SLOTS_CACHED_MAX).len(), 10);
}

#[test]
fn signature_notifications_come_before_the_rest_of_a_move_and_only_once() {
    let mut hub = hub();
    hub.on_event(&levels(10, 10));
    let subscribe = |hub: &mut Hub, id: u64, spec: Spec| {
        let call = Call::Subscribe(spec);
        hub.request(
            1,
            Request {
                id: json!(id),
                call,
            },
        );
    };
    let processed = Commitment::Processed;
    let logs = Spec::Logs {
        filter: LogsFilter::All,
        commitment: processed,
    };
    subscribe(&mut hub, 1, logs);
    for slot in [11u8, 12] {
        let signature = Spec::Signature {
            signature: Signature([slot; 64]),
            commitment: processed,
            received: false,
        };
        subscribe(&mut hub, u64::from(slot), signature);
    }
    frozen(&mut hub, 11, 10);
    frozen(&mut hub, 12, 11);
    let ChainEvent::Commitment(new) = levels(12, 10) else {
        unreachable!("a commitment event")
    };
    let methods = |d: &[Delivery]| -> Vec<String> {
        d.iter()
            .map(|d| serde_json::from_str::<Value>(&d.text).unwrap()["method"].to_string())
            .collect()
    };
    let all = hub.on_event(&ChainEvent::Commitment(new));
    assert_eq!(
        methods(&all),
        [
            "\"signatureNotification\"",
            "\"signatureNotification\"",
            "\"logsNotification\"",
            "\"logsNotification\""
        ]
    );
    assert_eq!(logged_slots(&all[..2]), [11, 12]);
    // Once: the same move again notifies nothing, and the two signature subscriptions ended.
    assert!(hub.on_event(&ChainEvent::Commitment(new)).is_empty());
    assert_eq!(hub.subscriptions(), 1);
}

#[test]
fn without_subscriptions_no_slot_is_read() {
    let chain = Arc::new(FakeChain::new());
    chain
        .changes
        .lock()
        .unwrap()
        .insert(Slot(11), changes(11, 10));
    let mut hub = hub_over(chain);
    hub.on_event(&levels(10, 10));
    // A read would keep slot 11's changes in memory: none is made.
    hub.on_event(&ChainEvent::Frozen {
        slot: Slot(11),
        parent: Slot(10),
    });
    assert!(hub.on_event(&levels(11, 11)).is_empty());
    assert!(hub.changes.ready(Slot(11)).is_none());
}

#[test]
fn signature_notifications_come_from_the_banks_list_while_the_blocks_are_unread() {
    let chain = Arc::new(FakeChain::new());
    for (slot, parent) in [(11, 10), (12, 11)] {
        let mut c = changes(slot, parent);
        if slot == 12 {
            c.transactions[0].err = Some(json!({"InstructionError": [0, "Custom"]}));
        }
        chain.changes.lock().unwrap().insert(Slot(slot), c);
    }
    let mut hub = hub_over(chain);
    // A reader that never reads: the blocks stay unread.
    let (reader, _unread) = std::sync::mpsc::sync_channel(8);
    hub.read_ahead = Some(reader);
    hub.on_event(&levels(10, 10));
    for slot in [11u8, 12] {
        let spec = Spec::Signature {
            signature: Signature([slot; 64]),
            commitment: Commitment::Confirmed,
            received: false,
        };
        let request = Request {
            id: json!(slot),
            call: Call::Subscribe(spec),
        };
        hub.request(1, request);
    }
    for (slot, parent) in [(11, 10), (12, 11)] {
        hub.on_event(&ChainEvent::Frozen {
            slot: Slot(slot),
            parent: Slot(parent),
        });
    }
    let ChainEvent::Commitment(new) = levels(12, 12) else {
        unreachable!("a commitment event")
    };
    let due = hub.on_event(&ChainEvent::Commitment(new));
    assert_eq!(logged_slots(&due), [11, 12]);
    let errs: Vec<Value> = due
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(&d.text).unwrap()["params"]["result"]["value"]["err"]
                .clone()
        })
        .collect();
    assert_eq!(
        errs,
        [Value::Null, json!({"InstructionError": [0, "Custom"]})]
    );
    assert!(hub.changes.ready(Slot(11)).is_none(), "block 11 was read");
    assert!(hub.changes.ready(Slot(12)).is_none(), "block 12 was read");
    assert_eq!(hub.subscriptions(), 0, "notified once and done");
}
