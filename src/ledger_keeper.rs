//! The ledger's housekeeping: pruning rooted slots below the kept window
//! (`storage.limit_ledger_slots`) and publishing the ledger's size, on a thread of its own so that
//! neither the ledger stage's commits nor the control plane wait for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dataplane::store::Store;
use dataplane::types::Slot;

use crate::metrics::NodeMetrics;

/// The ledger's housekeeping thread (`bbLedger`): prunes rooted slots below the kept window and
/// publishes the ledger's size.
pub struct LedgerKeeper {
    exit: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl LedgerKeeper {
    /// Stops the thread and waits for it.
    pub fn stop(self) {
        self.exit.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// How often the ledger keeper looks at the root: a second's slots are a few index buckets.
const LEDGER_KEEPER_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the keeper: pruning to `keep_slots` below the root when set.
pub fn start(
    store: Arc<Store>,
    keep_slots: Option<u64>,
    metrics: Arc<NodeMetrics>,
) -> anyhow::Result<LedgerKeeper> {
    let exit = Arc::new(AtomicBool::new(false));
    let stop = exit.clone();
    let thread = std::thread::Builder::new()
        .name("bbLedger".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                keep_ledger(&store, keep_slots, &metrics);
                let mut waited = Duration::ZERO;
                while waited < LEDGER_KEEPER_INTERVAL && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    waited += Duration::from_millis(100);
                }
            }
        })
        .context("starting the ledger keeper thread")?;
    Ok(LedgerKeeper { exit, thread })
}

/// One round of the ledger keeper.
fn keep_ledger(store: &Store, keep_slots: Option<u64>, metrics: &NodeMetrics) {
    if let Some(keep) = keep_slots {
        let below = match store.root() {
            Ok(root) => root.map_or(0, |r| r.0.saturating_sub(keep)),
            Err(e) => {
                tracing::warn!("ledger keeper: reading the root: {e}");
                0
            }
        };
        if below > 0 {
            match store.prune_below(Slot(below)) {
                Ok(p) => {
                    metrics
                        .ledger_pruned_blocks
                        .fetch_add(p.blocks, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(below, "ledger keeper: pruning: {e}"),
            }
        }
    }
    if let Ok(Some(first)) = store.first_slot() {
        metrics.ledger_first_slot.store(first.0, Ordering::Relaxed);
    }
    if let Ok(m) = std::fs::metadata(store.path()) {
        metrics.ledger_file_bytes.store(m.len(), Ordering::Relaxed);
    }
    metrics
        .ledger_signature_filter_bytes
        .store(store.signature_filter_bytes() as u64, Ordering::Relaxed);
}
