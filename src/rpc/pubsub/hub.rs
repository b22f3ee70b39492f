//! The hub: every subscription of every connection, and the notifications node events cause. A
//! state machine without I/O: requests and events in, `(connection, text)` deliveries out; its
//! driver (see `connection`) owns the channels.
//!
//! Commitment: when a level moves, the hub notifies what each slot it newly covers holds, oldest
//! first (see [`super::walk`]). A slot notifies at a level when its block reaches that level on this
//! node's fork, as Solana's do.
//!
//! Signature subscriptions wait in the signature watch ([`super::signatures`]), which its own
//! thread serves ahead of the rest; the hub keeps their records and arms them
//! ([`Hub::arm_signatures`]) once their answers are queued.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dataplane::types::{Pubkey, Signature, Slot};
use serde_json::{json, Value};

use super::super::encoding::{self, BlockOptions};
use super::super::error::{RpcError, UNSUPPORTED_TRANSACTION_VERSION};
use super::super::server::error_response;
use super::super::stats::PubSubDrop;
use super::super::{Chain, Commitment, RpcStats};
use super::changes::{self, ChangesCache};
use super::notification;
use super::request::{AccountEncoding, Call, LogsFilter, Request, Spec};
use super::signatures::{Waiter, Watch};
use super::walk::{level, Walk, LEVELS, WALK_SLOTS_MAX};
use super::{ChainEvent, CommitmentSlots, SlotChanges};

/// The hub's maps: ahash, keyed at random per process (the keys are clients' choice, so not an
/// unkeyed hash), and several times faster than SipHash on a 64-byte signature, which every
/// transaction of every block is looked up by.
type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// A connection, as the hub knows it.
pub(super) type ConnectionId = u64;

/// A text for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Delivery {
    /// To whom.
    pub connection: ConnectionId,
    /// A JSON-RPC answer or notification.
    pub text: String,
    /// How many requests it answers: 0 for a notification, 1 for an answer, a batch's count of
    /// answers for a batch's array (each request with an id gets exactly one answer).
    pub answers: usize,
    /// For a signature notification: when the event that caused it was published (its delay
    /// is measured when it leaves the node).
    pub since: Option<Instant>,
}

/// How many subscriptions the hub holds at most, and how many slots' changes it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// Subscriptions per connection.
    pub per_connection: usize,
    /// Subscriptions over every connection.
    pub total: usize,
    /// Slots whose changes stay in memory (see [`super::SLOTS_CACHED_MAX`]).
    pub slots_cached: usize,
}

struct Subscription {
    connection: ConnectionId,
    spec: Spec,
}

/// Every subscription and what the hub remembers of the chain.
pub(super) struct Hub {
    chain: Arc<dyn Chain>,
    stats: Arc<RpcStats>,
    limits: Limits,
    next_id: u64,
    subscriptions: Map<u64, Subscription>,
    by_connection: Map<ConnectionId, BTreeSet<u64>>,
    by_account: Map<Pubkey, BTreeSet<u64>>,
    slot_watchers: BTreeSet<u64>,
    root_watchers: BTreeSet<u64>,
    slots_updates_watchers: BTreeSet<u64>,
    /// `logsSubscribe` to every transaction (`all`, `allWithVotes`).
    logs_watchers: BTreeSet<u64>,
    /// `logsSubscribe` by the one key each mentions.
    logs_by_mention: Map<Pubkey, BTreeSet<u64>>,
    block_watchers: BTreeSet<u64>,
    /// Subscriptions bound to each level (see [`level`]), signature subscriptions aside.
    at_level: [usize; 3],
    walk: Walk,
    changes: Arc<ChangesCache>,
    /// Where signature subscriptions wait, shared with the thread that serves them.
    signatures: Arc<Mutex<Watch>>,
    /// Whether a thread of its own serves the watch's events (else the hub does, first).
    signatures_apart: bool,
    /// Signature subscriptions answered but not yet in the watch.
    unarmed: Vec<(Signature, Waiter)>,
    /// The reader thread's queue of frozen slots, once it runs (see [`Hub::read_ahead`]); without
    /// it the hub reads a frozen slot itself.
    read_ahead: Option<SyncSender<Slot>>,
    /// When the event being handled was published (see [`Hub::event_published_at`]).
    event_at: Option<Instant>,
}

impl Hub {
    /// A hub with no subscription, that has heard nothing of the chain yet.
    pub fn new(chain: Arc<dyn Chain>, stats: Arc<RpcStats>, limits: Limits) -> Hub {
        let changes = ChangesCache::new(chain.clone(), limits.slots_cached);
        let watch = Watch::new(chain.clone(), changes.clone(), stats.clone());
        Hub {
            stats,
            limits,
            next_id: 0,
            subscriptions: Map::default(),
            by_connection: Map::default(),
            by_account: Map::default(),
            slot_watchers: BTreeSet::new(),
            root_watchers: BTreeSet::new(),
            slots_updates_watchers: BTreeSet::new(),
            logs_watchers: BTreeSet::new(),
            logs_by_mention: Map::default(),
            block_watchers: BTreeSet::new(),
            at_level: [0; 3],
            walk: Walk::default(),
            changes,
            signatures: Arc::new(Mutex::new(watch)),
            signatures_apart: false,
            unarmed: Vec::new(),
            read_ahead: None,
            chain,
            event_at: None,
        }
    }

    /// From now on frozen slots are read on a thread of their own, ahead of the level moves that
    /// need them, so that the hub answers those moves (and signature subscribers) meanwhile.
    pub fn read_ahead(&mut self) -> std::io::Result<()> {
        self.read_ahead = Some(changes::start_reader(self.changes.clone())?);
        Ok(())
    }

    /// Notes when the next event was published: its signature notifications carry the time,
    /// and their delay is measured when they leave the node.
    pub fn event_published_at(&mut self, at: Instant) {
        self.event_at = Some(at);
    }

    /// Hands the signature watch to a thread of its own, which from now on gives it the node's
    /// events; the hub then arms each signature subscription only when told
    /// ([`Hub::arm_signatures`]), after its answer is queued.
    pub fn signatures_apart(&mut self) -> Arc<Mutex<Watch>> {
        self.signatures_apart = true;
        self.signatures.clone()
    }

    fn watch(&self) -> std::sync::MutexGuard<'_, Watch> {
        self.signatures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts the signature subscriptions answered since the last call into the watch; one already
    /// at its commitment is notified now instead, and ends (as Solana). Call it once their answers
    /// are queued: from then on the watch's thread may notify them at any moment.
    pub fn arm_signatures(&mut self) -> Vec<Delivery> {
        let mut out = Vec::new();
        if self.unarmed.is_empty() {
            return out;
        }
        let unarmed = std::mem::take(&mut self.unarmed);
        // Put in first, then checked: a commitment move the watch takes after the insertion finds
        // the waiter; one it took before finds the status settled here (the node sets the levels
        // it reads before publishing the move). Whichever takes the waiter out notifies it, once.
        // The status is read outside the watch's lock: this thread runs behind verification, and
        // the watch's thread must not wait for it while it reads.
        {
            let mut watch = self.watch();
            for (signature, w) in &unarmed {
                watch.insert(*signature, *w);
            }
        }
        for (signature, w) in unarmed {
            let Some((slot, err)) = self.settled(&signature, w.commitment) else {
                continue;
            };
            if self.watch().remove(&signature, w.id) {
                let result = notification::with_context(slot, notification::signature_result(&err));
                self.notify(w.id, result, &mut out);
                self.forget(w.id);
            }
        }
        out
    }

    /// Forgets the signature subscriptions the watch notified (and ended).
    fn forget_fired(&mut self) {
        let fired = self.watch().take_fired();
        for id in fired {
            self.forget(id);
        }
        self.stats
            .pubsub
            .set_subscriptions_open(self.subscriptions.len());
    }

    /// Subscriptions held, over every connection.
    #[cfg(test)]
    pub fn subscriptions(&self) -> usize {
        self.subscriptions.len()
    }

    /// Runs one request of `connection`; the answer comes first, then any notification it causes.
    pub fn request(&mut self, connection: ConnectionId, request: Request) -> Vec<Delivery> {
        // An unsubscribe from one the watch notified is refused, as Solana refuses it.
        self.forget_fired();
        let mut out = Vec::new();
        let id = &request.id;
        match request.call {
            Call::Subscribe(spec) => self.subscribe(connection, id, spec, &mut out),
            Call::Unsubscribe(sub) => {
                let owned = self
                    .subscriptions
                    .get(&sub)
                    .is_some_and(|s| s.connection == connection);
                let result = if owned {
                    self.remove(sub);
                    Ok(json!(true))
                } else {
                    // Solana's words.
                    Err(RpcError::invalid_params("Invalid subscription id."))
                };
                self.answer(connection, id, result, &mut out);
            }
        }
        self.stats
            .pubsub
            .set_subscriptions_open(self.subscriptions.len());
        out
    }

    /// Runs a batch's requests in order. Their answers, with the errors [`super::request::parse`] made
    /// in their places, go out first as one array (as Solana's PubSub answers a batch); then any
    /// notification they cause.
    pub fn batch(
        &mut self,
        connection: ConnectionId,
        items: Vec<Result<Request, Value>>,
    ) -> Vec<Delivery> {
        let mut answers = Vec::with_capacity(items.len());
        let mut rest = Vec::new();
        for item in items {
            match item {
                Ok(request) => {
                    for delivery in self.request(connection, request) {
                        if delivery.answers > 0 {
                            answers.push(delivery.text);
                        } else {
                            rest.push(delivery);
                        }
                    }
                }
                Err(error) => answers.push(error.to_string()),
            }
        }
        let mut out = Vec::with_capacity(1 + rest.len());
        out.push(Delivery {
            connection,
            text: format!("[{}]", answers.join(",")),
            answers: answers.len(),
            since: None,
        });
        out.extend(rest);
        out
    }

    /// Forgets `connection` and its subscriptions.
    pub fn close(&mut self, connection: ConnectionId) {
        self.forget_fired();
        for id in self.by_connection.remove(&connection).unwrap_or_default() {
            self.remove(id);
        }
        self.stats
            .pubsub
            .set_subscriptions_open(self.subscriptions.len());
    }

    /// The notifications `event` causes.
    /// The notifications `event` causes; its signature notifications first, unless a thread of
    /// their own serves them ([`Hub::signatures_apart`]).
    pub fn on_event(&mut self, event: &ChainEvent) -> Vec<Delivery> {
        let mut out = if self.signatures_apart {
            Vec::new()
        } else {
            let at = self.event_at;
            self.watch().on_event(event, at)
        };
        self.forget_fired();
        match *event {
            ChainEvent::Frozen { slot, parent } => self.on_frozen(slot, parent, &mut out),
            // Only signature subscriptions hear of it.
            ChainEvent::Received { .. } => {}
            ChainEvent::Commitment(levels) => self.on_commitment(levels, &mut out),
        }
        out
    }

    fn answer(
        &self,
        connection: ConnectionId,
        id: &Value,
        result: Result<Value, RpcError>,
        out: &mut Vec<Delivery>,
    ) {
        if result.is_err() {
            self.stats.count_error();
        }
        let text = match result {
            Ok(v) => notification::answer(id, v),
            Err(e) => error_response(id.clone(), &e).to_string(),
        };
        out.push(Delivery {
            connection,
            text,
            answers: 1,
            since: None,
        });
    }

    fn notify(&self, id: u64, result: Value, out: &mut Vec<Delivery>) {
        self.notify_text(id, &result.to_string(), out);
    }

    /// [`Hub::notify`] with the result already rendered (once for every subscription it goes to).
    fn notify_text(&self, id: u64, result: &str, out: &mut Vec<Delivery>) {
        let Some(sub) = self.subscriptions.get(&id) else {
            return;
        };
        self.stats.pubsub.count_notification();
        out.push(Delivery {
            connection: sub.connection,
            text: notification::notification_text(sub.spec.notification_method(), id, result),
            answers: 0,
            since: None,
        });
    }

    fn subscribe(
        &mut self,
        connection: ConnectionId,
        request_id: &Value,
        spec: Spec,
        out: &mut Vec<Delivery>,
    ) {
        let held = self.by_connection.get(&connection).map_or(0, BTreeSet::len);
        let refused = if held >= self.limits.per_connection {
            Some(format!(
                "this connection holds {held} subscriptions, the most one may hold"
            ))
        } else if self.subscriptions.len() >= self.limits.total {
            Some(format!(
                "the node holds {} subscriptions, the most it serves",
                self.subscriptions.len()
            ))
        } else {
            None
        };
        if let Some(reason) = refused {
            self.stats
                .pubsub
                .count_drop(PubSubDrop::SubscriptionLimit, 1);
            // Solana's code and opening words for a refused subscription.
            let e = RpcError::internal(format!(
                "Internal Error: Subscription refused. Node subscription limit reached: {reason}"
            ));
            self.answer(connection, request_id, Err(e), out);
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.answer(connection, request_id, Ok(json!(id)), out);
        self.insert(id, connection, spec);
        if !self.signatures_apart {
            out.extend(self.arm_signatures());
        }
    }

    /// `(slot, err)` of `signature` if its block is already at `commitment`.
    fn settled(
        &self,
        signature: &Signature,
        commitment: Commitment,
    ) -> Option<(Slot, Option<Value>)> {
        let (_, statuses) = self.chain.signature_statuses(&[*signature], true);
        let status = statuses.into_iter().next().flatten()?;
        (level(status.confirmation_status) >= level(commitment))
            .then_some((status.slot, status.err))
    }

    fn insert(&mut self, id: u64, connection: ConnectionId, spec: Spec) {
        self.by_connection.entry(connection).or_default().insert(id);
        match &spec {
            &Spec::Signature {
                signature,
                commitment,
                received,
            } => {
                let waiter = Waiter {
                    id,
                    connection,
                    commitment,
                    received,
                };
                self.unarmed.push((signature, waiter));
            }
            Spec::Account { pubkey, .. } => {
                self.by_account.entry(*pubkey).or_default().insert(id);
            }
            Spec::Logs {
                filter: LogsFilter::Mentions(key),
                ..
            } => {
                self.logs_by_mention.entry(*key).or_default().insert(id);
            }
            Spec::Logs { .. } => {
                self.logs_watchers.insert(id);
            }
            Spec::Block { .. } => {
                self.block_watchers.insert(id);
            }
            Spec::Slot => {
                self.slot_watchers.insert(id);
            }
            Spec::Root => {
                self.root_watchers.insert(id);
            }
            Spec::SlotsUpdates => {
                self.slots_updates_watchers.insert(id);
            }
        }
        if let (Some(c), false) = (spec.commitment(), spec.is_signature()) {
            self.at_level[level(c)] += 1;
        }
        self.subscriptions
            .insert(id, Subscription { connection, spec });
    }

    /// Ends subscription `id`, wherever it waits.
    fn remove(&mut self, id: u64) {
        if let Some(Spec::Signature { signature, .. }) =
            self.subscriptions.get(&id).map(|s| &s.spec)
        {
            let signature = *signature;
            self.unarmed.retain(|(_, w)| w.id != id);
            self.watch().remove(&signature, id);
        }
        self.forget(id);
    }

    /// Drops the hub's record of subscription `id` (the watch has let go of it, or never had it).
    fn forget(&mut self, id: u64) {
        let Some(sub) = self.subscriptions.remove(&id) else {
            return;
        };
        if let Some(ids) = self.by_connection.get_mut(&sub.connection) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_connection.remove(&sub.connection);
            }
        }
        fn unindex<K: std::hash::Hash + Eq>(map: &mut Map<K, BTreeSet<u64>>, k: &K, id: u64) {
            if let Some(ids) = map.get_mut(k) {
                ids.remove(&id);
                if ids.is_empty() {
                    map.remove(k);
                }
            }
        }
        match &sub.spec {
            Spec::Signature { .. } => {}
            Spec::Account { pubkey, .. } => unindex(&mut self.by_account, pubkey, id),
            Spec::Logs {
                filter: LogsFilter::Mentions(key),
                ..
            } => unindex(&mut self.logs_by_mention, key, id),
            Spec::Logs { .. } => {
                self.logs_watchers.remove(&id);
            }
            Spec::Block { .. } => {
                self.block_watchers.remove(&id);
            }
            Spec::Slot => {
                self.slot_watchers.remove(&id);
            }
            Spec::Root => {
                self.root_watchers.remove(&id);
            }
            Spec::SlotsUpdates => {
                self.slots_updates_watchers.remove(&id);
            }
        }
        if let (Some(c), false) = (sub.spec.commitment(), sub.spec.is_signature()) {
            self.at_level[level(c)] -= 1;
        }
    }

    fn watched(&self) -> bool {
        self.at_level.iter().any(|&n| n > 0)
    }

    fn on_frozen(&mut self, slot: Slot, parent: Slot, out: &mut Vec<Delivery>) {
        self.walk.link(slot, parent);
        // Read now, while the slot is only processed: a later level move then costs no storage read.
        if self.watched() {
            match &self.read_ahead {
                // A full queue: the slot is read when a level move needs it.
                Some(reader) => drop(reader.try_send(slot)),
                None => drop(self.changes(slot)),
            }
        }
        // Frozen here means replayed whole: Solana's bank created, its block completed.
        self.slot_updates("createdBank", slot, Some(parent), out);
        self.slot_updates("completed", slot, None, out);
        if self.slot_watchers.is_empty() {
            return;
        }
        let root = self.walk.levels.map_or(Slot(0), |l| l.root);
        let result = notification::slot(slot, parent, root).to_string();
        for &id in &self.slot_watchers {
            self.notify_text(id, &result, out);
        }
    }

    /// What `slot` changed: from memory, else from the chain (kept for later levels).
    fn changes(&mut self, slot: Slot) -> Option<Arc<SlotChanges>> {
        let c = self.changes.get(slot)?;
        self.walk.link(slot, c.parent);
        Some(c)
    }

    /// Tells the `slotsUpdatesSubscribe` subscribers of one step of `slot`.
    fn slot_updates(&self, kind: &str, slot: Slot, parent: Option<Slot>, out: &mut Vec<Delivery>) {
        if self.slots_updates_watchers.is_empty() {
            return;
        }
        let result = notification::slot_update(kind, slot, parent, unix_ms());
        for &id in &self.slots_updates_watchers {
            self.notify_text(id, &result, out);
        }
    }

    fn on_commitment(&mut self, new: CommitmentSlots, out: &mut Vec<Delivery>) {
        let old = self.walk.levels.replace(new);
        if old.is_none_or(|o| new.confirmed > o.confirmed) {
            self.slot_updates("optimisticConfirmation", new.confirmed, None, out);
        }
        // Slots at or below the last finalized one were notified at every level already.
        let floor = old.map_or(new.finalized, |o| o.finalized);
        if let Some(old) = old {
            if new.root > old.root {
                self.notify_roots(old.root, new.root, out);
            }
        }
        for c in LEVELS {
            self.advance(c, new.at(c), floor, out);
        }
        self.walk.settle(new);
        self.changes.forget_below(Slot(new.finalized.0 + 1));
    }

    /// Every slot rooted from `old` (exclusive) to `new`, oldest first (Solana announces each).
    fn notify_roots(&mut self, old: Slot, new: Slot, out: &mut Vec<Delivery>) {
        if self.root_watchers.is_empty() && self.slots_updates_watchers.is_empty() {
            return;
        }
        let mut rooted = vec![new];
        let mut s = new;
        while rooted.len() < WALK_SLOTS_MAX {
            match self.walk.parents.get(&s) {
                Some(&p) if p > old => {
                    rooted.push(p);
                    s = p;
                }
                _ => break,
            }
        }
        for slot in rooted.into_iter().rev() {
            let result = slot.0.to_string();
            for &id in &self.root_watchers {
                self.notify_text(id, &result, out);
            }
            self.slot_updates("root", slot, None, out);
        }
    }

    /// Level `c` reached `top`: notifies what every slot it newly covers holds.
    fn advance(&mut self, c: Commitment, top: Slot, floor: Slot, out: &mut Vec<Delivery>) {
        let l = level(c);
        // Only worth a storage read if someone may be notified.
        let watched = self.watched();
        let (walk, cache) = (&mut self.walk, &self.changes);
        let read = |s: Slot| watched.then(|| cache.get(s).map(|c| c.parent))?;
        let path = walk.newly_covered(c, top, floor, read);
        let mut accounts: BTreeMap<Pubkey, u64> = BTreeMap::new();
        for &slot in path.iter().rev() {
            self.walk.cover(c, slot);
            if self.at_level[l] == 0 {
                continue;
            }
            let Some(changes) = self.changes(slot) else {
                continue;
            };
            self.notify_logs(c, &changes, out);
            self.notify_blocks(c, &changes, out);
            for (key, lamports) in &changes.accounts {
                if self.by_account.contains_key(key) {
                    accounts.insert(*key, *lamports);
                }
            }
        }
        // One notification per account per move: its state at the level's new slot.
        for (key, lamports) in accounts {
            let ids: Vec<(u64, AccountEncoding)> = self.by_account[&key]
                .iter()
                .filter_map(|id| match self.subscriptions.get(id).map(|s| &s.spec) {
                    Some(&Spec::Account {
                        commitment,
                        encoding,
                        ..
                    }) if commitment == c => Some((*id, encoding)),
                    _ => None,
                })
                .collect();
            // Rendered once per encoding asked for, not once per subscription.
            let mut rendered: Vec<(AccountEncoding, String)> = Vec::new();
            for (id, encoding) in ids {
                let at = match rendered.iter().position(|(e, _)| *e == encoding) {
                    Some(at) => at,
                    None => {
                        let value = notification::account(lamports, encoding);
                        let text = notification::with_context(top, value).to_string();
                        rendered.push((encoding, text));
                        rendered.len() - 1
                    }
                };
                self.notify_text(id, &rendered[at].1, out);
            }
        }
    }

    fn notify_logs(&self, c: Commitment, changes: &SlotChanges, out: &mut Vec<Delivery>) {
        // Each transaction's result is rendered once, when first due, for every subscription.
        let rendered: Vec<std::cell::OnceCell<String>> = changes
            .transactions
            .iter()
            .map(|_| Default::default())
            .collect();
        let logs = |i: usize| -> &str {
            rendered[i].get_or_init(|| {
                let tx = &changes.transactions[i];
                notification::logs_text(changes.slot, &tx.signature, &tx.err)
            })
        };
        for &id in &self.logs_watchers {
            let Some(Spec::Logs { filter, commitment }) =
                self.subscriptions.get(&id).map(|s| &s.spec)
            else {
                continue;
            };
            if *commitment != c {
                continue;
            }
            for (i, tx) in changes.transactions.iter().enumerate() {
                if *filter == LogsFilter::AllWithVotes || !tx.is_vote {
                    self.notify_text(id, logs(i), out);
                }
            }
        }
        if self.logs_by_mention.is_empty() {
            return;
        }
        // Looked up per key a transaction names, not per subscription: thousands of subscriptions
        // to quiet addresses would otherwise each scan every transaction of every block.
        for (t, tx) in changes.transactions.iter().enumerate() {
            for (i, key) in tx.accounts.iter().enumerate() {
                if tx.accounts[..i].contains(key) {
                    continue; // a key listed twice notifies once
                }
                let Some(ids) = self.logs_by_mention.get(key) else {
                    continue;
                };
                for &id in ids {
                    let due = matches!(
                        self.subscriptions.get(&id).map(|s| &s.spec),
                        Some(Spec::Logs { commitment, .. }) if *commitment == c
                    );
                    if due {
                        self.notify_text(id, logs(t), out);
                    }
                }
            }
        }
    }

    fn notify_blocks(&self, c: Commitment, changes: &SlotChanges, out: &mut Vec<Delivery>) {
        let due: Vec<(u64, Option<Pubkey>, BlockOptions)> = self
            .block_watchers
            .iter()
            .filter_map(|&id| match self.subscriptions.get(&id).map(|s| &s.spec) {
                Some(&Spec::Block {
                    mentions,
                    commitment,
                    options,
                }) if commitment == c => Some((id, mentions, options)),
                _ => None,
            })
            // A block naming no watched key is not notified at all (as Solana).
            .filter(|(_, mentions, _)| match mentions {
                None => true,
                Some(key) => changes
                    .transactions
                    .iter()
                    .any(|t| t.accounts.contains(key)),
            })
            .collect();
        if due.is_empty() {
            return;
        }
        let block = self.chain.block(changes.slot, c);
        for (id, mentions, options) in due {
            let rendered = match &block {
                Ok(block) => {
                    let mut shown = block.clone();
                    if let Some(key) = mentions {
                        shown.transactions.retain(|t| encoding::mentions(t, &key));
                    }
                    encoding::block_json(&shown, &options)
                        .map(Value::Object)
                        .map_err(|e| match e.code {
                            // The only versioned message the ledger holds is v0.
                            UNSUPPORTED_TRANSACTION_VERSION => {
                                json!({ "UnsupportedTransactionVersion": 0 })
                            }
                            _ => json!("BlockStoreError"),
                        })
                }
                Err(_) => Err(json!("BlockStoreError")),
            };
            let value = notification::block(changes.slot, rendered);
            self.notify(id, notification::with_context(changes.slot, value), out);
        }
    }
}

/// Milliseconds since the Unix epoch (a `slotsUpdatesNotification`'s timestamp).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
