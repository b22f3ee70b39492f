//! The signature watch: every `signatureSubscribe` waiting for its transaction, and the
//! notifications node events make due. A state machine without I/O, like the hub, but apart from
//! it: its thread runs ahead of verification, while the hub's bulk (slot, account, logs and block
//! notifications, thousands a block) runs behind it. A wallet waiting for its transaction is not
//! kept waiting by that bulk, and the bulk takes no time from block production when cores are
//! short.
//!
//! The hub keeps the record of each signature subscription (its connection's count, its id for
//! unsubscribing); the watch keeps what it waits for. A subscription notified (once, and done, as
//! in Solana) is listed in [`Watch::take_fired`] for the hub to forget.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use dataplane::types::{Signature, Slot};
use serde_json::Value;

use super::super::{Chain, Commitment, RpcStats};
use super::changes::ChangesCache;
use super::hub::{ConnectionId, Delivery};
use super::notification;
use super::walk::{level, Walk, LEVELS};
use super::ChainEvent;

/// Keyed at random per process, as the hub's maps (see `hub::Map`).
type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// One subscription waiting for a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Waiter {
    /// Its id.
    pub id: u64,
    /// Whose it is.
    pub connection: ConnectionId,
    /// The level it waits for.
    pub commitment: Commitment,
    /// Whether it is also told when the transaction is received.
    pub received: bool,
}

/// Every waiting signature subscription.
pub(super) struct Watch {
    chain: Arc<dyn Chain>,
    changes: Arc<ChangesCache>,
    stats: Arc<RpcStats>,
    by_signature: Map<Signature, Vec<Waiter>>,
    /// Waiters at each level.
    at_level: [usize; 3],
    walk: Walk,
    /// Notified and ended, not yet forgotten by the hub.
    fired: Vec<u64>,
}

impl Watch {
    /// A watch with no waiter, that has heard nothing of the chain yet.
    pub fn new(chain: Arc<dyn Chain>, changes: Arc<ChangesCache>, stats: Arc<RpcStats>) -> Watch {
        Watch {
            chain,
            changes,
            stats,
            by_signature: Map::default(),
            at_level: [0; 3],
            walk: Walk::default(),
            fired: Vec::new(),
        }
    }

    /// Waits for `signature` on behalf of `waiter`.
    pub fn insert(&mut self, signature: Signature, waiter: Waiter) {
        self.at_level[level(waiter.commitment)] += 1;
        self.by_signature.entry(signature).or_default().push(waiter);
    }

    /// Stops waiting for subscription `id`; whether it was waiting.
    pub fn remove(&mut self, signature: &Signature, id: u64) -> bool {
        let Some(waiters) = self.by_signature.get_mut(signature) else {
            return false;
        };
        let Some(at) = waiters.iter().position(|w| w.id == id) else {
            return false;
        };
        let w = waiters.remove(at);
        self.at_level[level(w.commitment)] -= 1;
        if waiters.is_empty() {
            self.by_signature.remove(signature);
        }
        true
    }

    /// The subscriptions notified (and ended) since the last call.
    pub fn take_fired(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.fired)
    }

    /// The signature notifications `event` (published at `at`) makes due.
    pub fn on_event(&mut self, event: &ChainEvent, at: Option<Instant>) -> Vec<Delivery> {
        let mut out = Vec::new();
        match *event {
            ChainEvent::Frozen { slot, parent } => self.walk.link(slot, parent),
            ChainEvent::Received { slot, signature } => {
                for w in self.by_signature.get(&signature).into_iter().flatten() {
                    if w.received {
                        let result =
                            notification::with_context(slot, notification::received_signature());
                        out.push(self.notification(w, &result));
                    }
                }
            }
            ChainEvent::Commitment(new) => {
                let old = self.walk.levels.replace(new);
                // Slots at or below the last finalized one were covered at every level already.
                let floor = old.map_or(new.finalized, |o| o.finalized);
                for c in LEVELS {
                    let waiting = self.at_level[level(c)] > 0;
                    let changes = &self.changes;
                    // Only worth a storage read if someone waits at this level.
                    let read = |s: Slot| waiting.then(|| changes.get(s).map(|c| c.parent))?;
                    let path = self.walk.newly_covered(c, new.at(c), floor, read);
                    for &slot in path.iter().rev() {
                        self.walk.cover(c, slot);
                        if self.at_level[level(c)] > 0 {
                            self.due_in(c, slot, at, &mut out);
                        }
                    }
                }
                self.walk.settle(new);
            }
        }
        out
    }

    /// Notifies every subscription waiting at level `c` for a transaction of `slot`.
    fn due_in(&mut self, c: Commitment, slot: Slot, at: Option<Instant>, out: &mut Vec<Delivery>) {
        // The block read back, if it is already; else the bank's own list (the read takes
        // milliseconds per thousand transactions), of which only the awaited signatures are
        // copied (a copy of it all took up to 5 ms); else the read.
        if let Some(changes) = self.changes.ready(slot) {
            for tx in &changes.transactions {
                self.landed(c, slot, &tx.signature, &tx.err, at, out);
            }
            return;
        }
        let awaited = |s: &Signature| self.by_signature.contains_key(s);
        if let Some(signatures) = self.chain.slot_signatures(slot, &awaited) {
            for (signature, err) in &signatures {
                self.landed(c, slot, signature, err, at, out);
            }
        } else if let Some(changes) = self.changes.get(slot) {
            for tx in &changes.transactions {
                self.landed(c, slot, &tx.signature, &tx.err, at, out);
            }
        }
    }

    /// `signature` landed in `slot` with `err`, and the slot reached level `c`: every subscription
    /// waiting for that is notified, and ends.
    fn landed(
        &mut self,
        c: Commitment,
        slot: Slot,
        signature: &Signature,
        err: &Option<Value>,
        at: Option<Instant>,
        out: &mut Vec<Delivery>,
    ) {
        let Some(waiters) = self.by_signature.get(signature) else {
            return;
        };
        let (due, rest): (Vec<Waiter>, Vec<Waiter>) =
            waiters.iter().partition(|w| w.commitment == c);
        if due.is_empty() {
            return;
        }
        if rest.is_empty() {
            self.by_signature.remove(signature);
        } else {
            self.by_signature.insert(*signature, rest);
        }
        let result = notification::with_context(slot, notification::signature_result(err));
        for w in due {
            self.at_level[level(c)] -= 1;
            let mut d = self.notification(&w, &result);
            d.since = at;
            out.push(d);
            self.fired.push(w.id);
        }
    }

    fn notification(&self, w: &Waiter, result: &Value) -> Delivery {
        self.stats.pubsub.count_notification();
        Delivery {
            connection: w.connection,
            text: notification::notification_text(
                "signatureNotification",
                w.id,
                &result.to_string(),
            ),
            answers: 0,
            since: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::test_node::FakeChain;
    use super::super::{CommitmentSlots, SlotChanges, TxChange};
    use super::*;
    use serde_json::json;

    const SIG: Signature = Signature([7; 64]);

    /// A watch over a chain whose slots 11 ← 12 ← 13 ← 14 hold one transaction each; `SIG` in 12.
    fn watch() -> Watch {
        let chain = Arc::new(FakeChain::new());
        for slot in 11..=14u64 {
            let signature = if slot == 12 {
                SIG
            } else {
                Signature([slot as u8; 64])
            };
            let changes = SlotChanges {
                slot: Slot(slot),
                parent: Slot(slot - 1),
                transactions: vec![TxChange {
                    signature,
                    err: (slot == 12).then(|| json!({"InstructionError": [0, "Custom"]})),
                    accounts: vec![],
                    is_vote: false,
                }],
                accounts: vec![],
            };
            chain.changes.lock().unwrap().insert(Slot(slot), changes);
        }
        let stats = Arc::new(RpcStats::new());
        let changes = ChangesCache::new(chain.clone(), 16);
        let mut w = Watch::new(chain, changes, stats);
        w.on_event(&levels(10, 10), None);
        w
    }

    fn levels(processed: u64, confirmed: u64) -> ChainEvent {
        ChainEvent::Commitment(CommitmentSlots {
            processed: Slot(processed),
            confirmed: Slot(confirmed),
            finalized: Slot(10),
            root: Slot(10),
        })
    }

    fn waiter(id: u64, commitment: Commitment, received: bool) -> Waiter {
        Waiter {
            id,
            connection: 1,
            commitment,
            received,
        }
    }

    fn results(deliveries: &[Delivery]) -> Vec<Value> {
        deliveries
            .iter()
            .map(|d| serde_json::from_str::<Value>(&d.text).unwrap()["params"].clone())
            .collect()
    }

    #[test]
    fn a_waiter_is_notified_once_at_its_level_then_listed_for_the_hub() {
        let mut w = watch();
        w.insert(SIG, waiter(5, Commitment::Confirmed, false));
        for slot in 11..=12 {
            let frozen = ChainEvent::Frozen {
                slot: Slot(slot),
                parent: Slot(slot - 1),
            };
            assert!(w.on_event(&frozen, None).is_empty());
        }
        // Processed is not what it waits for.
        assert!(w.on_event(&levels(12, 10), None).is_empty());
        let at = Instant::now();
        let due = w.on_event(&levels(12, 12), Some(at));
        assert_eq!(
            results(&due),
            [json!({"result": {"context": {"slot": 12},
                               "value": {"err": {"InstructionError": [0, "Custom"]}}},
                    "subscription": 5})]
        );
        assert_eq!(
            due[0].since,
            Some(at),
            "its delay is measured from the event"
        );
        assert_eq!(w.take_fired(), [5]);
        assert!(w.take_fired().is_empty());
        assert!(w.on_event(&levels(12, 12), None).is_empty(), "once");
    }

    #[test]
    fn a_move_it_missed_is_walked_over_by_the_next_even_with_parents_unheard_of() {
        let mut w = watch();
        w.insert(SIG, waiter(5, Commitment::Confirmed, false));
        // No freeze heard, and confirmation jumps from 10 to 14: the walk reads parents back.
        let due = w.on_event(&levels(14, 14), None);
        assert_eq!(results(&due)[0]["result"]["context"]["slot"], 12);
        assert_eq!(w.take_fired(), [5]);
    }

    #[test]
    fn received_is_told_and_the_wait_goes_on_until_removed() {
        let mut w = watch();
        w.insert(SIG, waiter(5, Commitment::Confirmed, true));
        w.insert(SIG, waiter(6, Commitment::Confirmed, false));
        let received = ChainEvent::Received {
            slot: Slot(11),
            signature: SIG,
        };
        let told = w.on_event(&received, None);
        assert_eq!(
            results(&told),
            [
                json!({"result": {"context": {"slot": 11}, "value": "receivedSignature"},
                    "subscription": 5})
            ]
        );
        assert!(w.take_fired().is_empty(), "still waiting for the block");
        assert!(w.remove(&SIG, 5));
        assert!(!w.remove(&SIG, 5), "removed once");
        let due = w.on_event(&levels(12, 12), None);
        assert_eq!(results(&due)[0]["subscription"], 6);
        assert_eq!(w.take_fired(), [6]);
    }
}
