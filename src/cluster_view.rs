//! What the control plane publishes for RPC, metrics and `blackbook status`: the commitment levels,
//! the peers gossip knows, slashing evidence and the tower. The control task writes it; RPC
//! threads read it. Both live on the control-plane side: the data plane never sees it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use controlplane::gossip::ContactInfo;
use controlplane::io::Commitment as Levels;
use dataplane::types::Slot;
use dataplane::vote::Lockout;

use crate::rpc::cluster::EvidenceRecord;
use crate::rpc::Commitment;

/// Evidence records kept for RPC at most (the ledger keeps every one).
pub const EVIDENCE_SHOWN_MAX: usize = 1_024;

/// The tower as `blackbook status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TowerStatus {
    /// Votes, oldest first.
    pub votes: Vec<Lockout>,
    /// The tower's root.
    pub root: Option<Slot>,
    /// Whether the node votes now (false while it waits after a restart, or when it must not).
    pub voting: bool,
}

/// The control plane's state, as others read it.
#[derive(Debug, Default)]
pub struct ClusterView {
    processed: AtomicU64,
    confirmed: AtomicU64,
    finalized: AtomicU64,
    root: AtomicU64,
    /// Set once the control plane reported its first commitment (before that, RPC falls back to
    /// the banks it has).
    known: AtomicBool,
    peers: RwLock<Arc<Vec<ContactInfo>>>,
    evidence: RwLock<Vec<EvidenceRecord>>,
    tower: RwLock<TowerStatus>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl ClusterView {
    /// Nothing known yet.
    pub fn new() -> ClusterView {
        ClusterView::default()
    }

    /// Publishes new commitment levels.
    pub fn set_levels(&self, c: Levels) {
        self.processed.store(c.processed.0, Ordering::Release);
        self.confirmed.store(c.confirmed.0, Ordering::Release);
        self.finalized.store(c.finalized.0, Ordering::Release);
        self.root.store(c.root.0, Ordering::Release);
        self.known.store(true, Ordering::Release);
    }

    /// The levels, if the control plane has reported any.
    pub fn levels(&self) -> Option<Levels> {
        self.known.load(Ordering::Acquire).then(|| Levels {
            processed: Slot(self.processed.load(Ordering::Acquire)),
            confirmed: Slot(self.confirmed.load(Ordering::Acquire)),
            finalized: Slot(self.finalized.load(Ordering::Acquire)),
            root: Slot(self.root.load(Ordering::Acquire)),
        })
    }

    /// The slot RPC reads at commitment `c`, if known.
    pub fn slot(&self, c: Commitment) -> Option<Slot> {
        let l = self.levels()?;
        Some(match c {
            Commitment::Processed => l.processed,
            Commitment::Confirmed => l.confirmed,
            Commitment::Finalized => l.finalized,
        })
    }

    /// Publishes the peers gossip knows.
    pub fn set_peers(&self, peers: Vec<ContactInfo>) {
        *write(&self.peers) = Arc::new(peers);
    }

    /// The peers gossip knows (this node included).
    pub fn peers(&self) -> Arc<Vec<ContactInfo>> {
        read(&self.peers).clone()
    }

    /// Records a piece of evidence (bounded; the oldest are dropped from view, not from the ledger).
    pub fn add_evidence(&self, e: EvidenceRecord) {
        let mut list = write(&self.evidence);
        if list.len() >= EVIDENCE_SHOWN_MAX {
            list.remove(0);
        }
        list.push(e);
    }

    /// The evidence held.
    pub fn evidence(&self) -> Vec<EvidenceRecord> {
        read(&self.evidence).clone()
    }

    /// Publishes the tower.
    pub fn set_tower(&self, t: TowerStatus) {
        *write(&self.tower) = t;
    }

    /// The tower.
    pub fn tower(&self) -> TowerStatus {
        read(&self.tower).clone()
    }
}
