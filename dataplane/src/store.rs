//! The ledger store: slots, entries, transaction statuses and rooted accounts in one redb file.
//!
//! One write transaction per stored slot keeps a block and its state changes atomic: after a crash the
//! file holds every slot whose commit returned, and nothing of a commit that did not. Readers use
//! redb's MVCC read transactions, so RPC reads never wait for the writer.
//!
//! Tables (`ledger.redb`):
//! - `slot_meta`: slot → [`SlotMeta`]
//! - `entries`: (slot, entry index) → encoded entry bytes (opaque here; the block codec owns them)
//! - `tx_status`: first signature → [`TxStatusRecord`]
//! - `accounts`: pubkey → lamports, **rooted state only**; a zero balance removes the row
//! - `vote_states`: vote account → encoded [`VoteState`], **rooted state only**, written in the same
//!   transaction as the rooted balances
//! - `meta`: genesis hash, schema version, root slot, latest stored slot
//! - `address_signatures`, `address_last_bucket`, `address_prev_bucket`: which transactions name
//!   an address, newest first (`getSignaturesForAddress`; see the `address_index` submodule)
//!
//! Rows use the compact encodings of the `codec` submodule; a row that does not decode is reported as
//! [`StoreError::Corrupt`] naming its table and key.
//!
//! Beside the file, in memory, the store keeps the [`PrioritizationFeeCache`] of the last stored
//! slots: every path that stores a block (the leader's ledger stage, replay) passes through
//! [`Store::commit_slot`], so RPC finds every block's fees here whoever produced it.

mod address_index;
#[cfg(test)]
mod address_tests;
mod codec;
mod prune;
#[cfg(test)]
mod prune_tests;
mod removal;
mod sig_filter;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use redb::{
    Database, MultimapTableDefinition, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition,
};

use crate::bank_forks::RootUpdates;
use crate::prioritization_fees::{PrioritizationFeeCache, SlotPrioritizationFees};
use crate::types::{Hash, Pubkey, Signature, Slot};
use crate::vote_state::VoteState;

pub use address_index::{
    block_position, AddressSignature, AddressTransaction, ADDRESS_INDEX_BUCKET_SLOTS,
};
pub use codec::{SlotMeta, TxStatusRecord, TX_ERR_LEN_MAX};
pub use prune::Pruned;

/// File name of the ledger inside the data directory.
pub const LEDGER_FILE_NAME: &str = "ledger.redb";
/// Version of the table layout and row encodings; a file with another version is refused.
/// Version 3 added the `vote_states` table (and vote state in the bank hash); version 5 the address
/// signature index (an older ledger would answer `getSignaturesForAddress` without its history);
/// version 6 the error and block tag in its rows.
pub const SCHEMA_VERSION: u32 = 6;

const SLOT_META: TableDefinition<u64, &[u8]> = TableDefinition::new("slot_meta");
const ENTRIES: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("entries");
/// Transaction statuses by (slot, first signature): a slot's rows sit together after every older
/// slot's, so a commit appends instead of touching a random B-tree leaf per transaction (with
/// signature-first keys, the cost of a commit grew with the table: ≈ 8 × per slot at 1 M rows).
const TX_STATUS: TableDefinition<(u64, &[u8; 64]), &[u8]> = TableDefinition::new("tx_status");
/// Which slots hold a signature: (bucket = slot / [`SIG_INDEX_BUCKET_SLOTS`], the signature's first
/// 8 bytes) → slots. Inserts stay inside the newest bucket, a bounded subtree; a lookup probes the
/// buckets newest first. A multimap, so a prefix shared by several signatures (or one signature
/// stored in two forks' blocks) keeps every candidate; the full key in `tx_status` decides.
const SIG_INDEX: MultimapTableDefinition<(u64, u64), u64> =
    MultimapTableDefinition::new("sig_index");
/// Slots per signature-index bucket: the bound on the subtree a commit inserts into (≈ 65 k rows
/// at 8 k transactions per slot) against the probes a lookup of an unknown signature makes (one
/// per bucket of history: ≈ 27 k a day of 400 ms slots).
pub const SIG_INDEX_BUCKET_SLOTS: u64 = 8;
const ACCOUNTS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("accounts");
/// Rooted vote account states (the `vote_state` codec).
const VOTE_STATES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("vote_states");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Key of a piece of slashing evidence: (offender, slot, kind).
type EvidenceKey = (&'static [u8; 32], u64, &'static str);
/// Slashing evidence: (offender, slot, kind) → the two signed vote transactions that prove it.
const EVIDENCE: TableDefinition<EvidenceKey, (&[u8], &[u8])> =
    TableDefinition::new("slashing_evidence");
/// Pieces of slashing evidence [`Store::evidence`] returns at most.
pub const EVIDENCE_READ_MAX: usize = 4_096;
/// Every rooted slot (the rooted chain; slots of abandoned forks and skipped slots are absent), so
/// RPC can tell a finalized block from one on a fork the cluster abandoned.
const ROOTS: TableDefinition<u64, ()> = TableDefinition::new("roots");
/// A stored block's data shreds by (slot, shred index), served to peers that repair.
const SHREDS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("shreds");
/// Merkle root of a stored block's last FEC set: the next slot's first set chains to it.
const LAST_FEC_ROOT: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("last_fec_root");
/// Slots whose block failed a check, with the reason: never replayed again, never built on.
const DEAD_SLOTS: TableDefinition<u64, &str> = TableDefinition::new("dead_slots");
/// Proof that a slot's leader equivocated: two validly signed, conflicting shreds (the first proof
/// seen per slot), kept for duplicate-slot handling and slashing evidence.
const DUPLICATE_PROOFS: TableDefinition<u64, (&[u8], &[u8])> =
    TableDefinition::new("duplicate_proofs");

const META_GENESIS_HASH: &str = "genesis_hash";
const META_SCHEMA_VERSION: &str = "schema_version";
const META_ROOT_SLOT: &str = "root_slot";
const META_LATEST_SLOT: &str = "latest_slot";
/// Transactions of the rooted blocks pruned from the ledger (see `prune`).
const META_PRUNED_TRANSACTIONS: &str = "pruned_transactions";

/// Records `root` and its stored ancestors above `old_root` as rooted (walking parent links: the
/// slots between are the rooted chain; slots not on it are skipped or abandoned).
fn record_rooted_chain(
    txn: &redb::WriteTransaction,
    root: Slot,
    old_root: Option<Slot>,
) -> Result<(), StoreError> {
    let metas = txn.open_table(SLOT_META)?;
    let mut roots = txn.open_table(ROOTS)?;
    let floor = old_root.unwrap_or(Slot(0));
    let mut slot = root;
    while slot > floor || (old_root.is_none() && slot == Slot(0)) {
        roots.insert(slot.0, ())?;
        let Some(row) = metas.get(slot.0)? else {
            break;
        };
        let meta = codec::decode_slot_meta(row.value()).map_err(|e| StoreError::Corrupt {
            table: "slot_meta",
            key: slot.0.to_string(),
            reason: e.to_string(),
        })?;
        if meta.parent_slot >= slot {
            break;
        }
        slot = meta.parent_slot;
    }
    Ok(())
}

/// A piece of slashing evidence as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvidence {
    /// The validator it convicts.
    pub offender: Pubkey,
    /// What it did.
    pub kind: String,
    /// The slot concerned.
    pub slot: Slot,
    /// The first signed vote.
    pub first: Vec<u8>,
    /// The conflicting one.
    pub second: Vec<u8>,
}

/// Two conflicting shreds of one slot, both signed by its leader: the first seen, then the other.
pub type DuplicateProof = (Vec<u8>, Vec<u8>);

/// When a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Flushed (fsync) before the commit returns: a crash loses nothing committed. The node's default.
    #[default]
    Immediate,
    /// Visible at once but written to disk only with a later `Immediate` commit or a clean close; a
    /// crash may lose it. For tests and benches.
    Buffered,
}

impl Durability {
    fn to_redb(self) -> redb::Durability {
        match self {
            Durability::Immediate => redb::Durability::Immediate,
            Durability::Buffered => redb::Durability::None,
        }
    }
}

/// One slot to store, with the state changes that root with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotCommit {
    /// The block's metadata; `meta.entry_count` must equal `entries.len()`.
    pub meta: SlotMeta,
    /// The block's entries, already encoded, in order (entry index = position).
    pub entries: Vec<Vec<u8>>,
    /// Status of every transaction in the block, by first signature.
    pub statuses: Vec<(Signature, TxStatusRecord)>,
    /// New balances and vote states of the accounts the slot roots; applied only when `root` is
    /// true.
    pub account_updates: RootUpdates,
    /// Root the slot in the same transaction (a single-validator cluster roots every slot at once).
    pub root: bool,
    /// The block's data shreds in index order (empty where the block never travelled as shreds).
    pub data_shreds: Vec<Vec<u8>>,
    /// Merkle root of the block's last FEC set, where it has one.
    pub last_fec_root: Option<Hash>,
    /// The block's lowest compute unit prices (kept in memory once the commit succeeds).
    pub prioritization_fees: SlotPrioritizationFees,
    /// Every (account key, transaction) pair of the block, for the address signature index.
    pub address_signatures: Vec<AddressSignature>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create ledger directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// redb failed (I/O, a file lock held by another process, a damaged file).
    #[error("ledger database: {0}")]
    Db(Box<redb::Error>),
    /// The ledger belongs to another cluster.
    #[error(
        "ledger {path} belongs to the cluster with genesis hash {stored}, not {expected}; \
         use another data directory or remove the old ledger"
    )]
    GenesisMismatch {
        /// The ledger file.
        path: PathBuf,
        /// Genesis hash recorded in the ledger.
        stored: Hash,
        /// Genesis hash of the cluster this node was started for.
        expected: Hash,
    },
    /// The ledger was written with a layout this build does not read.
    #[error("ledger {path} has schema version {found}; this build reads version {SCHEMA_VERSION}")]
    SchemaVersion {
        /// The ledger file.
        path: PathBuf,
        /// Version recorded in the ledger.
        found: u32,
    },
    /// A stored row does not decode.
    #[error("corrupt row in table {table}, key {key}: {reason}")]
    Corrupt {
        /// Table holding the row.
        table: &'static str,
        /// The row's key, printed.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The commit is inconsistent or breaks a bound its rows must keep.
    #[error("refusing to store slot {slot}: {reason}")]
    InvalidCommit {
        /// Slot of the refused commit.
        slot: Slot,
        /// What is wrong with it.
        reason: String,
    },
    /// Rooted slots are immutable and the root only moves forward.
    #[error("slot {slot} is at or below the root {root}")]
    AtOrBelowRoot {
        /// The slot given.
        slot: Slot,
        /// The current root.
        root: Slot,
    },
    /// `set_root` named a slot that was never stored.
    #[error("cannot root slot {0}: it is not stored")]
    UnknownSlot(Slot),
    /// A failure injected by a test between writing and committing.
    #[cfg(test)]
    #[error("injected failure before commit")]
    Injected,
}

macro_rules! from_redb_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(Box::new(e.into()))
            }
        }
    )*};
}
from_redb_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// The ledger: a redb file shared by the storing thread and any number of readers (`Arc<Store>`).
pub struct Store {
    db: Database,
    path: PathBuf,
    genesis_hash: Hash,
    durability: Durability,
    prioritization_fees: PrioritizationFeeCache,
    /// Which signature-index buckets may hold a signature (see `sig_filter`).
    sig_filters: std::sync::RwLock<sig_filter::SigFilters>,
    #[cfg(test)]
    fail_before_commit: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("genesis_hash", &self.genesis_hash)
            .field("durability", &self.durability)
            .finish()
    }
}

/// redb page cache of a store opened without a size ([`Store::open`]), in bytes.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

impl Store {
    /// Opens (or creates) `dir/ledger.redb` for the cluster `genesis_hash`, committing durably.
    pub fn open(dir: &Path, genesis_hash: Hash) -> Result<Store, StoreError> {
        Store::open_with_durability(dir, genesis_hash, Durability::Immediate)
    }

    /// Like [`Store::open`], with the durability of every later commit.
    pub fn open_with_durability(
        dir: &Path,
        genesis_hash: Hash,
        durability: Durability,
    ) -> Result<Store, StoreError> {
        Store::open_with(dir, genesis_hash, durability, DEFAULT_CACHE_BYTES)
    }

    /// Like [`Store::open_with_durability`], with redb's page cache bounded at `cache_bytes` (most
    /// of a loaded node's memory is this cache: redb's own default is 1 GiB).
    pub fn open_with(
        dir: &Path,
        genesis_hash: Hash,
        durability: Durability,
        cache_bytes: usize,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(LEDGER_FILE_NAME);
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(&path)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let stored = meta
                .get(META_GENESIS_HASH)?
                .map(|v| decode_meta::<32>(META_GENESIS_HASH, v.value()).map(Hash));
            match stored.transpose()? {
                None => {
                    meta.insert(META_GENESIS_HASH, genesis_hash.0.as_slice())?;
                    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION.to_le_bytes().as_slice())?;
                }
                Some(stored) if stored != genesis_hash => {
                    return Err(StoreError::GenesisMismatch {
                        path,
                        stored,
                        expected: genesis_hash,
                    });
                }
                Some(_) => {
                    let version = meta
                        .get(META_SCHEMA_VERSION)?
                        .map(|v| decode_meta::<4>(META_SCHEMA_VERSION, v.value()))
                        .transpose()?
                        .map(u32::from_le_bytes);
                    match version {
                        Some(SCHEMA_VERSION) => {}
                        Some(found) => return Err(StoreError::SchemaVersion { path, found }),
                        None => {
                            return Err(StoreError::Corrupt {
                                table: "meta",
                                key: META_SCHEMA_VERSION.to_owned(),
                                reason: "missing while the genesis hash is present".to_owned(),
                            })
                        }
                    }
                }
            }
            // Opening every table here creates it, so readers never meet a missing table. After
            // the version check: a table of another version may hold other types.
            txn.open_table(SLOT_META)?;
            txn.open_table(ENTRIES)?;
            txn.open_table(TX_STATUS)?;
            txn.open_multimap_table(SIG_INDEX)?;
            txn.open_table(ACCOUNTS)?;
            txn.open_table(VOTE_STATES)?;
            txn.open_table(SHREDS)?;
            txn.open_table(LAST_FEC_ROOT)?;
            txn.open_table(DEAD_SLOTS)?;
            txn.open_table(DUPLICATE_PROOFS)?;
            txn.open_table(ROOTS)?;
            txn.open_table(EVIDENCE)?;
            txn.open_table(address_index::ADDRESS_SIGNATURES)?;
            txn.open_table(address_index::ADDRESS_LAST_BUCKET)?;
            txn.open_table(address_index::ADDRESS_PREV_BUCKET)?;
        }
        txn.commit()?;
        let sig_filters = {
            let read = db.begin_read()?;
            let index = read.open_multimap_table(SIG_INDEX)?;
            // Streamed: at 10 M signatures, collected keys would be 160 MB for a moment.
            let mut failed = None;
            let keys = index.range::<(u64, u64)>(..)?.map_while(|row| match row {
                Ok((key, _)) => Some(key.value()),
                Err(e) => {
                    failed = Some(e);
                    None
                }
            });
            let filters = sig_filter::SigFilters::build(keys);
            if let Some(e) = failed {
                return Err(e.into());
            }
            filters
        };
        Ok(Store {
            db,
            path,
            genesis_hash,
            durability,
            prioritization_fees: PrioritizationFeeCache::default(),
            sig_filters: std::sync::RwLock::new(sig_filters),
            #[cfg(test)]
            fail_before_commit: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Bytes the in-memory signature-index filters hold (2 per stored signature).
    pub fn signature_filter_bytes(&self) -> usize {
        self.sig_filters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .bytes()
    }

    /// Path of the ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Genesis hash of the cluster this ledger belongs to.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// Stores a slot's meta, entries and statuses — and, when `c.root`, its account and vote state
    /// updates and the new root — in one write transaction: all of it is stored, or none of it.
    ///
    /// A slot stored earlier and not rooted is replaced (meta, entries, shreds and statuses). A slot
    /// at or below the root is refused.
    pub fn commit_slot(&self, c: &SlotCommit) -> Result<(), StoreError> {
        let slot = c.meta.slot;
        validate_commit(c)?;
        let txn = self.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            check_above_root(slot, read_meta_slot(&meta, META_ROOT_SLOT)?)?;

            // One buffer for every row of the commit: no allocation per status.
            let mut row = Vec::with_capacity(codec::SLOT_META_LEN);
            codec::encode_slot_meta(&c.meta, &mut row);
            let replaced = txn
                .open_table(SLOT_META)?
                .insert(slot.0, row.as_slice())?
                .is_some();

            let mut entries = txn.open_table(ENTRIES)?;
            if replaced {
                entries.retain_in((slot.0, 0)..=(slot.0, u32::MAX), |_, _| false)?;
            }
            for (index, entry) in (0u32..).zip(&c.entries) {
                entries.insert((slot.0, index), entry.as_slice())?;
            }

            let mut shreds = txn.open_table(SHREDS)?;
            if replaced {
                shreds.retain_in((slot.0, 0)..=(slot.0, u32::MAX), |_, _| false)?;
            }
            for (index, shred) in (0u32..).zip(&c.data_shreds) {
                shreds.insert((slot.0, index), shred.as_slice())?;
            }
            let mut fec_roots = txn.open_table(LAST_FEC_ROOT)?;
            match &c.last_fec_root {
                Some(root) => {
                    fec_roots.insert(slot.0, &root.0)?;
                }
                None => {
                    fec_roots.remove(slot.0)?;
                }
            }

            let mut statuses = txn.open_table(TX_STATUS)?;
            if replaced {
                // Index entries of the replaced block stay: a lookup checks the full key here.
                statuses.retain_in((slot.0, &[0u8; 64])..=(slot.0, &[0xffu8; 64]), |_, _| false)?;
            }
            // In key order, consecutive inserts fill the same leaves.
            let mut sorted: Vec<&(Signature, TxStatusRecord)> = c.statuses.iter().collect();
            sorted.sort_unstable_by_key(|(signature, _)| signature.0);
            let mut index = txn.open_multimap_table(SIG_INDEX)?;
            let bucket = slot.0 / SIG_INDEX_BUCKET_SLOTS;
            let mut prefixes = Vec::with_capacity(sorted.len());
            for (signature, record) in sorted {
                row.clear();
                codec::encode_tx_status(record, &mut row);
                statuses.insert((slot.0, &signature.0), row.as_slice())?;
                let prefix = signature_prefix(signature);
                index.insert((bucket, prefix), slot.0)?;
                prefixes.push(prefix);
            }
            // Before the commit, so no reader finds a stored signature that the filters deny (if
            // the commit fails, the extra prefixes cost a probe, nothing else).
            self.sig_filters
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(bucket, &prefixes);

            address_index::write_rows(&txn, c)?;

            let latest = read_meta_slot(&meta, META_LATEST_SLOT)?;
            if latest.is_none_or(|latest| slot > latest) {
                meta.insert(META_LATEST_SLOT, slot.0.to_le_bytes().as_slice())?;
            }
            if c.root {
                apply_account_updates(&txn, &c.account_updates)?;
                let old = read_meta_slot(&meta, META_ROOT_SLOT)?;
                meta.insert(META_ROOT_SLOT, slot.0.to_le_bytes().as_slice())?;
                record_rooted_chain(&txn, slot, old)?;
            }
        }
        #[cfg(test)]
        if self
            .fail_before_commit
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            // Dropping the transaction aborts it: this is how a failure mid-commit behaves.
            return Err(StoreError::Injected);
        }
        txn.commit()?;
        self.prioritization_fees
            .insert(slot, c.prioritization_fees.clone());
        Ok(())
    }

    /// `(slot, fee)` for the recently stored slots, oldest first: their lowest compute unit price
    /// for transactions writing every one of `accounts` (see [`crate::prioritization_fees`]).
    pub fn recent_prioritization_fees(&self, accounts: &[Pubkey]) -> Vec<(Slot, u64)> {
        self.prioritization_fees.recent(accounts)
    }

    /// The lowest slot with a stored block (slot 0, the genesis block, while nothing is pruned).
    pub fn first_slot(&self) -> Result<Option<Slot>, StoreError> {
        let table = self.read()?.open_table(SLOT_META)?;
        let first = table.first()?.map(|(key, _)| Slot(key.value()));
        Ok(first)
    }

    /// Roots the stored slot `slot` and applies its account and vote state updates, atomically; for
    /// when rooting lags storing. The slot must be stored and above the current root.
    pub fn set_root(&self, slot: Slot, account_updates: &RootUpdates) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            check_above_root(slot, read_meta_slot(&meta, META_ROOT_SLOT)?)?;
            if txn.open_table(SLOT_META)?.get(slot.0)?.is_none() {
                return Err(StoreError::UnknownSlot(slot));
            }
            apply_account_updates(&txn, account_updates)?;
            let old = read_meta_slot(&meta, META_ROOT_SLOT)?;
            meta.insert(META_ROOT_SLOT, slot.0.to_le_bytes().as_slice())?;
            record_rooted_chain(&txn, slot, old)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Whether `slot` is on the rooted chain (genesis always is).
    pub fn is_rooted(&self, slot: Slot) -> Result<bool, StoreError> {
        if slot == Slot(0) {
            return Ok(true);
        }
        let table = self.read()?.open_table(ROOTS)?;
        Ok(table.get(slot.0)?.is_some())
    }

    /// The rooted slots in `range`, ascending, at most `limit` (slot 0, the genesis block, is
    /// always rooted).
    pub fn rooted_slots(
        &self,
        range: RangeInclusive<Slot>,
        limit: usize,
    ) -> Result<Vec<Slot>, StoreError> {
        let mut out = Vec::new();
        if *range.start() == Slot(0) && limit > 0 {
            out.push(Slot(0));
        }
        let from = range.start().0.max(1);
        if from > range.end().0 {
            return Ok(out);
        }
        let table = self.read()?.open_table(ROOTS)?;
        for row in table.range(from..=range.end().0)? {
            if out.len() >= limit {
                break;
            }
            out.push(Slot(row?.0.value()));
        }
        Ok(out)
    }

    /// The highest rooted slot, if any slot is rooted.
    pub fn root(&self) -> Result<Option<Slot>, StoreError> {
        let meta = self.read()?.open_table(META)?;
        read_meta_slot(&meta, META_ROOT_SLOT)
    }

    /// The highest stored slot, rooted or not.
    pub fn latest_slot(&self) -> Result<Option<Slot>, StoreError> {
        let meta = self.read()?.open_table(META)?;
        read_meta_slot(&meta, META_LATEST_SLOT)
    }

    /// The metadata of `slot`, if it is stored.
    pub fn slot_meta(&self, slot: Slot) -> Result<Option<SlotMeta>, StoreError> {
        let table = self.read()?.open_table(SLOT_META)?;
        let row = table.get(slot.0)?;
        row.map(|row| decode_slot_meta_row(slot.0, row.value()))
            .transpose()
    }

    /// All entries of `slot` in order; empty when the slot is not stored.
    pub fn entries(&self, slot: Slot) -> Result<Vec<Vec<u8>>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(ENTRIES)?;
        let mut out = Vec::new();
        for row in table.range((slot.0, 0)..=(slot.0, u32::MAX))? {
            let (key, value) = row?;
            let (_, index) = key.value();
            if index as usize != out.len() {
                return Err(StoreError::Corrupt {
                    table: "entries",
                    key: format!("slot {slot} entry {index}"),
                    reason: format!(
                        "expected entry {} next: entries are not contiguous",
                        out.len()
                    ),
                });
            }
            out.push(value.value().to_vec());
        }
        let meta = txn.open_table(SLOT_META)?;
        if let Some(row) = meta.get(slot.0)? {
            let entry_count = decode_slot_meta_row(slot.0, row.value())?.entry_count;
            if entry_count as usize != out.len() {
                return Err(StoreError::Corrupt {
                    table: "entries",
                    key: format!("slot {slot}"),
                    reason: format!("{} entries stored, slot meta says {entry_count}", out.len()),
                });
            }
        }
        Ok(out)
    }

    /// Entry `index` of `slot`, if stored.
    pub fn entry(&self, slot: Slot, index: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.read()?.open_table(ENTRIES)?;
        let row = table.get((slot.0, index))?;
        Ok(row.map(|row| row.value().to_vec()))
    }

    /// Data shred `index` of the stored block of `slot`, if any.
    pub fn shred(&self, slot: Slot, index: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.read()?.open_table(SHREDS)?;
        let row = table.get((slot.0, index))?;
        Ok(row.map(|row| row.value().to_vec()))
    }

    /// How many data shreds the stored block of `slot` has (0 when none are stored).
    pub fn shred_count(&self, slot: Slot) -> Result<u32, StoreError> {
        let table = self.read()?.open_table(SHREDS)?;
        let last = table
            .range((slot.0, 0)..=(slot.0, u32::MAX))?
            .next_back()
            .transpose()?;
        Ok(last
            .map(|(key, _)| key.value().1.saturating_add(1))
            .unwrap_or(0))
    }

    /// Merkle root of the last FEC set of the stored block of `slot`, if it travelled as shreds.
    pub fn last_fec_root(&self, slot: Slot) -> Result<Option<Hash>, StoreError> {
        let table = self.read()?.open_table(LAST_FEC_ROOT)?;
        let row = table.get(slot.0)?;
        Ok(row.map(|row| Hash(*row.value())))
    }

    /// Records that the block of `slot` failed a check (first reason kept).
    pub fn mark_dead(&self, slot: Slot, reason: &str) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut dead = txn.open_table(DEAD_SLOTS)?;
            if dead.get(slot.0)?.is_none() {
                dead.insert(slot.0, reason)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Keeps `first` and `second`, two conflicting shreds of `slot` signed by its leader, unless a
    /// proof for the slot is kept already; returns whether this one was new.
    pub fn put_duplicate_proof(
        &self,
        slot: Slot,
        first: &[u8],
        second: &[u8],
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write()?;
        let new = {
            let mut proofs = txn.open_table(DUPLICATE_PROOFS)?;
            let new = proofs.get(slot.0)?.is_none();
            if new {
                proofs.insert(slot.0, (first, second))?;
            }
            new
        };
        txn.commit()?;
        Ok(new)
    }

    /// Keeps slashing evidence against `offender` (two signed votes); returns whether it was new.
    pub fn put_evidence(
        &self,
        offender: &Pubkey,
        kind: &str,
        slot: Slot,
        first: &[u8],
        second: &[u8],
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write()?;
        let new = {
            let mut table = txn.open_table(EVIDENCE)?;
            let key = (offender.as_bytes(), slot.0, kind);
            let new = table.get(key)?.is_none();
            if new {
                table.insert(key, (first, second))?;
            }
            new
        };
        txn.commit()?;
        Ok(new)
    }

    /// Slashing evidence kept: (offender, kind, slot, first vote, second vote), at most
    /// [`EVIDENCE_READ_MAX`], by offender then slot.
    pub fn evidence(&self) -> Result<Vec<StoredEvidence>, StoreError> {
        let table = self.read()?.open_table(EVIDENCE)?;
        let mut out = Vec::new();
        for row in table.iter()?.take(EVIDENCE_READ_MAX) {
            let (k, v) = row?;
            let (offender, slot, kind) = k.value();
            let (first, second) = v.value();
            out.push(StoredEvidence {
                offender: Pubkey(*offender),
                kind: kind.to_owned(),
                slot: Slot(slot),
                first: first.to_vec(),
                second: second.to_vec(),
            });
        }
        Ok(out)
    }

    /// The duplicate-slot proof kept for `slot`, if any.
    pub fn duplicate_proof(&self, slot: Slot) -> Result<Option<DuplicateProof>, StoreError> {
        let table = self.read()?.open_table(DUPLICATE_PROOFS)?;
        let row = table.get(slot.0)?;
        Ok(row.map(|row| {
            let (a, b) = row.value();
            (a.to_vec(), b.to_vec())
        }))
    }

    /// Why the block of `slot` is dead, if it is.
    pub fn dead_reason(&self, slot: Slot) -> Result<Option<String>, StoreError> {
        let table = self.read()?.open_table(DEAD_SLOTS)?;
        let row = table.get(slot.0)?;
        Ok(row.map(|row| row.value().to_owned()))
    }

    /// Status of the transaction whose first signature is `signature`, if stored; where blocks of
    /// several forks hold it, the newest slot's. Probes the signature index newest bucket first,
    /// so recent transactions are found at once and an unknown one costs a probe per bucket.
    pub fn tx_status(&self, signature: &Signature) -> Result<Option<TxStatusRecord>, StoreError> {
        let read = self.read()?;
        let index = read.open_multimap_table(SIG_INDEX)?;
        let statuses = read.open_table(TX_STATUS)?;
        let Some(latest) = read_meta_slot(&read.open_table(META)?, META_LATEST_SLOT)? else {
            return Ok(None);
        };
        let prefix = signature_prefix(signature);
        let candidates = self
            .sig_filters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .candidates(prefix, latest.0 / SIG_INDEX_BUCKET_SLOTS);
        for bucket in candidates {
            let mut slots = Vec::new();
            for slot in index.get((bucket, prefix))? {
                slots.push(slot?.value());
            }
            for slot in slots.into_iter().rev() {
                if let Some(rec) = read_tx_status(&statuses, Slot(slot), signature)? {
                    return Ok(Some(rec));
                }
            }
        }
        Ok(None)
    }

    /// Status of `signature` in the block of `slot` (no index probe: the block names the slot).
    pub fn tx_status_in(
        &self,
        slot: Slot,
        signature: &Signature,
    ) -> Result<Option<TxStatusRecord>, StoreError> {
        let read = self.read()?;
        read_tx_status(&read.open_table(TX_STATUS)?, slot, signature)
    }

    /// Every transaction status stored for the block of `slot`, by first signature, read in one
    /// transaction and one range (a reader of a whole block's outcomes, such as PubSub, would
    /// otherwise open a read transaction per transaction).
    pub fn tx_statuses_in(
        &self,
        slot: Slot,
    ) -> Result<HashMap<Signature, TxStatusRecord>, StoreError> {
        let read = self.read()?;
        let table = read.open_table(TX_STATUS)?;
        let mut out = HashMap::new();
        for row in table.range((slot.0, &[0u8; 64])..=(slot.0, &[0xffu8; 64]))? {
            let (key, value) = row?;
            let signature = Signature(*key.value().1);
            let rec =
                codec::decode_tx_status(value.value()).map_err(|reason| StoreError::Corrupt {
                    table: "tx_status",
                    key: format!("slot {slot} signature {signature}"),
                    reason,
                })?;
            out.insert(signature, rec);
        }
        Ok(out)
    }

    /// Rooted balance of `pubkey`; `None` for an account with no lamports.
    pub fn account(&self, pubkey: &Pubkey) -> Result<Option<u64>, StoreError> {
        let table = self.read()?.open_table(ACCOUNTS)?;
        let row = table.get(&pubkey.0)?;
        Ok(row.map(|row| row.value()))
    }

    /// Iterates over the rooted accounts in key order, from one consistent snapshot.
    pub fn accounts_iter(&self) -> Result<AccountsIter, StoreError> {
        let table = self.read()?.open_table(ACCOUNTS)?;
        Ok(AccountsIter {
            range: table.range::<&[u8; 32]>(..)?,
        })
    }

    /// Every rooted account with its balance, in key order (to rebuild the root bank at startup).
    pub fn load_accounts(&self) -> Result<Vec<(Pubkey, u64)>, StoreError> {
        self.accounts_iter()?.collect()
    }

    /// The rooted state of vote account `vote_account`, if it is one.
    pub fn vote_state(&self, vote_account: &Pubkey) -> Result<Option<VoteState>, StoreError> {
        let table = self.read()?.open_table(VOTE_STATES)?;
        let row = table.get(&vote_account.0)?;
        row.map(|row| decode_vote_state_row(vote_account, row.value()))
            .transpose()
    }

    /// Every rooted vote account with its state, in key order (to rebuild the root bank at
    /// startup).
    pub fn load_vote_states(&self) -> Result<Vec<(Pubkey, VoteState)>, StoreError> {
        let table = self.read()?.open_table(VOTE_STATES)?;
        let mut out = Vec::new();
        for row in table.range::<&[u8; 32]>(..)? {
            let (key, value) = row?;
            let vote_account = Pubkey(*key.value());
            out.push((
                vote_account,
                decode_vote_state_row(&vote_account, value.value())?,
            ));
        }
        Ok(out)
    }

    /// Sum of all rooted balances; conserved by every transfer and fee.
    pub fn total_supply(&self) -> Result<u64, StoreError> {
        let mut total = 0u64;
        for account in self.accounts_iter()? {
            let (pubkey, lamports) = account?;
            total = total
                .checked_add(lamports)
                .ok_or_else(|| StoreError::Corrupt {
                    table: "accounts",
                    key: format!("pubkey {pubkey}"),
                    reason: "rooted balances sum past u64::MAX".to_owned(),
                })?;
        }
        Ok(total)
    }

    /// Metadata of every stored slot in `range`, in slot order; callers bound the range (RPC limits).
    pub fn slots_in_range(&self, range: RangeInclusive<Slot>) -> Result<Vec<SlotMeta>, StoreError> {
        let table = self.read()?.open_table(SLOT_META)?;
        let mut out = Vec::new();
        for row in table.range(range.start().0..=range.end().0)? {
            let (key, value) = row?;
            out.push(decode_slot_meta_row(key.value(), value.value())?);
        }
        Ok(out)
    }

    /// Stored slots above the root, ascending: the blocks to replay after a restart.
    pub fn slots_above_root(&self) -> Result<Vec<Slot>, StoreError> {
        let txn = self.read()?;
        let root = read_meta_slot(&txn.open_table(META)?, META_ROOT_SLOT)?;
        let table = txn.open_table(SLOT_META)?;
        let rows = match root {
            Some(root) if root.0 == u64::MAX => return Ok(Vec::new()),
            Some(root) => table.range(root.0 + 1..)?,
            None => table.range::<u64>(..)?,
        };
        let mut out = Vec::new();
        for row in rows {
            out.push(Slot(row?.0.value()));
        }
        Ok(out)
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(self.durability.to_redb())?;
        Ok(txn)
    }

    fn read(&self) -> Result<ReadTransaction, StoreError> {
        Ok(self.db.begin_read()?)
    }

    /// Makes the next commits fail after writing, before committing (atomicity tests).
    #[cfg(test)]
    fn inject_failure_before_commit(&self, fail: bool) {
        self.fail_before_commit
            .store(fail, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Rooted accounts from one read snapshot, in key order (see [`Store::accounts_iter`]).
pub struct AccountsIter {
    range: redb::Range<'static, &'static [u8; 32], u64>,
}

impl Iterator for AccountsIter {
    type Item = Result<(Pubkey, u64), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.range.next()?;
        Some(
            row.map(|(key, value)| (Pubkey(*key.value()), value.value()))
                .map_err(StoreError::from),
        )
    }
}

/// Refuses a commit its rows could not be read back from, before anything is written.
fn validate_commit(c: &SlotCommit) -> Result<(), StoreError> {
    let slot = c.meta.slot;
    if c.meta.entry_count as usize != c.entries.len() {
        return Err(StoreError::InvalidCommit {
            slot,
            reason: format!(
                "meta says {} entries, commit carries {}",
                c.meta.entry_count,
                c.entries.len()
            ),
        });
    }
    for (signature, record) in &c.statuses {
        codec::check_tx_status(record).map_err(|reason| StoreError::InvalidCommit {
            slot,
            reason: format!("status of {signature}: {reason}"),
        })?;
    }
    Ok(())
}

fn check_above_root(slot: Slot, root: Option<Slot>) -> Result<(), StoreError> {
    match root {
        Some(root) if slot <= root => Err(StoreError::AtOrBelowRoot { slot, root }),
        _ => Ok(()),
    }
}

/// Writes rooted balances and vote states; a zero balance removes the account's balance row, as
/// Solana drops empty accounts (a vote account's state stays: it holds no lamports here).
fn apply_account_updates(
    txn: &redb::WriteTransaction,
    updates: &RootUpdates,
) -> Result<(), StoreError> {
    let mut accounts = txn.open_table(ACCOUNTS)?;
    for (pubkey, lamports) in &updates.accounts {
        if *lamports == 0 {
            accounts.remove(&pubkey.0)?;
        } else {
            accounts.insert(&pubkey.0, *lamports)?;
        }
    }
    let mut vote_states = txn.open_table(VOTE_STATES)?;
    let mut row = Vec::new();
    for (vote_account, state) in &updates.vote_states {
        row.clear();
        state.encode(&mut row);
        vote_states.insert(&vote_account.0, row.as_slice())?;
    }
    Ok(())
}

fn decode_vote_state_row(vote_account: &Pubkey, bytes: &[u8]) -> Result<VoteState, StoreError> {
    VoteState::decode(bytes).map_err(|e| StoreError::Corrupt {
        table: "vote_states",
        key: format!("vote account {vote_account}"),
        reason: e.to_string(),
    })
}

/// The index key's second half: a signature's first 8 bytes.
fn signature_prefix(signature: &Signature) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&signature.0[..8]);
    u64::from_be_bytes(b)
}

fn read_tx_status(
    table: &impl ReadableTable<(u64, &'static [u8; 64]), &'static [u8]>,
    slot: Slot,
    signature: &Signature,
) -> Result<Option<TxStatusRecord>, StoreError> {
    let row = table.get((slot.0, &signature.0))?;
    row.map(|row| {
        codec::decode_tx_status(row.value()).map_err(|reason| StoreError::Corrupt {
            table: "tx_status",
            key: format!("slot {slot} signature {signature}"),
            reason,
        })
    })
    .transpose()
}

/// A `u64` meta value; 0 when absent.
fn read_meta_u64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &'static str,
) -> Result<u64, StoreError> {
    let row = meta.get(key)?;
    row.map(|row| decode_meta::<8>(key, row.value()).map(u64::from_le_bytes))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn read_meta_slot(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &'static str,
) -> Result<Option<Slot>, StoreError> {
    let row = meta.get(key)?;
    row.map(|row| decode_meta::<8>(key, row.value()).map(|b| Slot(u64::from_le_bytes(b))))
        .transpose()
}

fn decode_meta<const N: usize>(key: &'static str, bytes: &[u8]) -> Result<[u8; N], StoreError> {
    <[u8; N]>::try_from(bytes).map_err(|_| StoreError::Corrupt {
        table: "meta",
        key: key.to_owned(),
        reason: format!("value is {} bytes, expected {N}", bytes.len()),
    })
}

fn decode_slot_meta_row(key: u64, bytes: &[u8]) -> Result<SlotMeta, StoreError> {
    let corrupt = |reason| StoreError::Corrupt {
        table: "slot_meta",
        key: format!("slot {key}"),
        reason,
    };
    let meta = codec::decode_slot_meta(bytes).map_err(corrupt)?;
    if meta.slot.0 != key {
        return Err(corrupt(format!("row holds slot {}", meta.slot)));
    }
    Ok(meta)
}
