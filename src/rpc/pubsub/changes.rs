//! What frozen slots changed, read from the chain once per slot by whoever asks first: the hub, or
//! the reader thread that reads each frozen slot ahead of its commitment moves.
//!
//! Reading a block of thousands of transactions takes milliseconds. Done on the hub's thread it
//! made a commitment move that followed a freeze wait for the read, and every signature
//! notification with it; the reader thread takes the read off that path, and a hub that needs a
//! slot the reader is still reading waits for that read instead of repeating it.

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use dataplane::types::Slot;

use super::super::Chain;
use super::SlotChanges;

/// Frozen slots waiting for the reader; past it a slot is read when the hub needs it.
const READ_AHEAD_QUEUE: usize = 64;

/// One slot's changes: unset while being read; `None` inside if the chain had none.
type Cell = Arc<OnceLock<Option<Arc<SlotChanges>>>>;

/// Slots' changes, shared by the hub and the reader thread.
pub(super) struct ChangesCache {
    chain: Arc<dyn Chain>,
    slots: Mutex<BTreeMap<Slot, Cell>>,
    /// Most slots kept; past it the oldest are forgotten (see [`super::SLOTS_CACHED_MAX`]).
    slots_max: usize,
}

impl ChangesCache {
    /// An empty cache over `chain` that keeps at most `slots_max` slots (at least one).
    pub fn new(chain: Arc<dyn Chain>, slots_max: usize) -> Arc<ChangesCache> {
        Arc::new(ChangesCache {
            chain,
            slots: Mutex::new(BTreeMap::new()),
            slots_max: slots_max.max(1),
        })
    }

    fn cell(&self, slot: Slot) -> Cell {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let cell = slots.entry(slot).or_default().clone();
        while slots.len() > self.slots_max {
            slots.pop_first();
        }
        cell
    }

    /// What `slot` changed: from memory, else read now (or awaited, if another thread reads it).
    pub fn get(&self, slot: Slot) -> Option<Arc<SlotChanges>> {
        let cell = self.cell(slot);
        let changes = cell
            .get_or_init(|| self.chain.slot_changes(slot).map(Arc::new))
            .clone();
        if changes.is_none() {
            // Not there yet (or gone): asked again, it is read again.
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if slots.get(&slot).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                slots.remove(&slot);
            }
        }
        changes
    }

    /// What `slot` changed if it has been read already; never reads or waits.
    pub fn ready(&self, slot: Slot) -> Option<Arc<SlotChanges>> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.get(&slot)?.get()?.clone()
    }

    /// Forgets every slot below `slot`.
    pub fn forget_below(&self, slot: Slot) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        *slots = slots.split_off(&slot);
    }

    /// Puts `changes` in, as if read (hub tests).
    #[cfg(test)]
    pub fn insert(&self, changes: SlotChanges) {
        let cell = self.cell(changes.slot);
        let _ = cell.set(Some(Arc::new(changes)));
    }
}

/// Starts the reader thread; it ends when the returned sender is dropped.
pub(super) fn start_reader(cache: Arc<ChangesCache>) -> std::io::Result<SyncSender<Slot>> {
    let (tx, rx): (SyncSender<Slot>, Receiver<Slot>) = sync_channel(READ_AHEAD_QUEUE);
    std::thread::Builder::new()
        .name("bbPubSubRead".into())
        .spawn(move || {
            // Its reads feed the hub's bulk, which runs behind verification too.
            dataplane::cores::set_current_thread_nice(
                super::connection::BULK_NICE,
                "pubsub reader",
            );
            while let Ok(slot) = rx.recv() {
                cache.get(slot);
            }
        })?;
    Ok(tx)
}
