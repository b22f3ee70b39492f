//! Solana-compatible JSON-RPC over HTTP.
//!
//! Method names, parameters, response shapes and error codes follow Solana's JSON-RPC API so that stock
//! clients (`solana-rpc-client`, `@solana/web3.js`, wallets) work against a BlackBook node unchanged.
//! The server knows nothing about banks, PoH or storage: it talks to the node through the [`Chain`]
//! trait, runs each request on tokio's blocking pool (a `Chain` call may read redb) and renders the
//! answers. Layout: [`server`] (HTTP and the JSON-RPC envelope), `methods` (one function per method; `blocks` for the block lists),
//! `params` (bounded parameter parsing), `encoding` (transactions and blocks as JSON), [`error`]
//! (Solana's error codes), [`stats`] (request counters) and [`pubsub`] (Solana's subscriptions over
//! WebSocket, fed by the node's [`pubsub::EventFeed`]).

mod blocks;
pub mod cluster;
mod encoding;
pub mod error;
mod listener;
mod methods;
mod params;
pub mod pubsub;
pub mod rate_limit;
pub mod server;
mod simulate;
pub mod stats;

#[cfg(test)]
mod test_node;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cluster;
#[cfg(test)]
mod tests_edge;
#[cfg(test)]
mod tests_envelope;
#[cfg(test)]
mod tests_fees;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_ledger;
#[cfg(test)]
mod tests_simulate;
#[cfg(test)]
mod tests_stock_client;
#[cfg(test)]
mod tests_versions;

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::perf_samples::PerfSample;
use dataplane::txn::TxnError;
use dataplane::types::{Hash, Pubkey, Signature, Slot};
use serde::de::{self, Deserialize, Deserializer, Visitor};

pub use server::{serve_bounded, serve_with_pubsub, serve_with_routes};
pub use stats::{Method, PubSubMethod, RpcStats};

/// The Solana release whose RPC API this server speaks; `getVersion` reports it and every response
/// context carries it as `apiVersion`.
pub const SOLANA_CORE_VERSION: &str = "3.0.0";
/// Largest request body accepted, in bytes; larger bodies get HTTP 413. Fits a batch of ~35 base64
/// transactions; Solana's own limit is 50 KiB.
pub const REQUEST_BODY_MAX_BYTES: usize = 64 * 1024;
/// Most requests in one JSON-RPC batch.
pub const BATCH_REQUESTS_MAX: usize = 100;
/// Most signatures in one `getSignatureStatuses` call (Solana's limit).
pub const SIGNATURE_STATUSES_MAX: usize = 256;
/// Requests (single or batch) processed at once; later ones wait for a slot, which bounds the
/// blocking threads and memory that RPC can take from the node.
pub const CONCURRENT_REQUESTS_MAX: usize = 32;
/// HTTP connections the RPC port holds at once; more are closed at accept and counted, so idle or
/// slow clients cannot pile up without end. (A connection upgraded to WebSocket leaves this count
/// for PubSub's own connection limit.)
pub const HTTP_CONNECTIONS_MAX: usize = 2_048;
/// HTTP connections one source address may hold at once, so that one host cannot take the whole
/// [`HTTP_CONNECTIONS_MAX`]; more are closed at accept and counted. A proxy in front of the node
/// is one address: raise it there.
pub const HTTP_CONNECTIONS_PER_IP_MAX: usize = 128;
/// A connection must send a whole request head within this long of connecting and of each
/// response: slowloris senders and idle keep-alive connections are closed and counted.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A request's whole body must arrive within this long of its head (bodies are at most
/// [`REQUEST_BODY_MAX_BYTES`]); a slower sender gets 408 and its connection is closed and counted.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A connection with no request being answered and no byte moving for this long is closed and
/// counted. (The header timeout bounds the same wait, so the smaller of the two applies.)
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `sendTransaction` calls one IP address may make a second, sustained (HTTP 429 past it).
pub const SEND_TRANSACTION_PER_IP_PER_SEC: u32 = 200;
/// `sendTransaction` calls one IP address may make at once before the rate applies.
pub const SEND_TRANSACTION_PER_IP_BURST: u32 = 1_000;
/// Worker threads of the RPC and PubSub runtime by default: the reference machine's two cores.
pub const THREADS: usize = 2;

/// The RPC port's connection and rate bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections held at once ([`HTTP_CONNECTIONS_MAX`]).
    pub connections_max: usize,
    /// Connections held at once from one address ([`HTTP_CONNECTIONS_PER_IP_MAX`]).
    pub connections_per_ip_max: usize,
    /// Time to send a whole request head ([`HEADER_READ_TIMEOUT`]).
    pub header_read_timeout: std::time::Duration,
    /// Time to send a whole request body after its head ([`BODY_READ_TIMEOUT`]).
    pub body_read_timeout: std::time::Duration,
    /// Time a connection may sit with nothing to do ([`IDLE_TIMEOUT`]).
    pub idle_timeout: std::time::Duration,
    /// Sustained `sendTransaction` calls per IP a second ([`SEND_TRANSACTION_PER_IP_PER_SEC`]).
    pub send_transaction_per_sec: u32,
    /// `sendTransaction` burst per IP ([`SEND_TRANSACTION_PER_IP_BURST`]).
    pub send_transaction_burst: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connections_max: HTTP_CONNECTIONS_MAX,
            connections_per_ip_max: HTTP_CONNECTIONS_PER_IP_MAX,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            send_transaction_per_sec: SEND_TRANSACTION_PER_IP_PER_SEC,
            send_transaction_burst: SEND_TRANSACTION_PER_IP_BURST,
        }
    }
}
/// The fee per signature that `getFeeForMessage` quotes, in lamports (the ledger rule; see README).
pub const FEE_LAMPORTS_PER_SIGNATURE: u64 = 5_000;
/// Widest slot range (and largest limit) of `getBlocks`/`getBlocksWithLimit` (Solana's).
pub const BLOCKS_RANGE_MAX: u64 = 500_000;
/// Accounts `getLargestAccounts` lists (Solana's 20).
pub const LARGEST_ACCOUNTS: usize = 20;
/// Most samples one `getRecentPerformanceSamples` call returns (Solana's limit and default).
pub const PERF_SAMPLES_LIMIT: usize = crate::perf_samples::PERF_SAMPLES_MAX;
/// Most signatures one `getSignaturesForAddress` call returns (Solana's limit and default).
pub const SIGNATURES_FOR_ADDRESS_MAX: usize = 1_000;
/// Most keys one `getMultipleAccounts` call may name (Solana's limit).
pub const MULTIPLE_ACCOUNTS_MAX: usize = 100;
/// Most accounts one `getRecentPrioritizationFees` call may name (Solana's `MAX_TX_ACCOUNT_LOCKS`).
pub const PRIORITIZATION_FEE_ACCOUNTS_MAX: usize = 128;

/// How settled the state a request reads must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Commitment {
    /// The node's latest bank, possibly on a fork that gets abandoned.
    Processed,
    /// Voted on by a supermajority.
    Confirmed,
    /// Rooted: will never be rolled back.
    #[default]
    Finalized,
}

impl Commitment {
    /// Solana's name for the level, as used in `confirmationStatus`.
    pub fn as_str(self) -> &'static str {
        match self {
            Commitment::Processed => "processed",
            Commitment::Confirmed => "confirmed",
            Commitment::Finalized => "finalized",
        }
    }
}

impl fmt::Display for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A commitment name that is neither current nor one of Solana's legacy names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown commitment `{0}`, expected processed, confirmed or finalized")]
pub struct UnknownCommitment(pub String);

impl FromStr for Commitment {
    type Err = UnknownCommitment;

    /// Accepts the current names and the legacy ones older clients still send
    /// (`recent`, `single`, `singleGossip`, `root`, `max`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "processed" | "recent" => Ok(Commitment::Processed),
            "confirmed" | "single" | "singleGossip" => Ok(Commitment::Confirmed),
            "finalized" | "root" | "max" => Ok(Commitment::Finalized),
            other => Err(UnknownCommitment(error::excerpt(other))),
        }
    }
}

impl<'de> Deserialize<'de> for Commitment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CommitmentVisitor;
        impl Visitor<'_> for CommitmentVisitor {
            type Value = Commitment;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a commitment level string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Commitment, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(CommitmentVisitor)
    }
}

/// What the RPC server needs from the node; the node implements it over its banks and ledger.
///
/// Calls run on tokio's blocking pool, so they may read storage, but they should not wait on the
/// pipeline for long.
pub trait Chain: Send + Sync + 'static {
    /// The highest slot at commitment `c`.
    fn slot(&self, c: Commitment) -> Slot;
    /// The block height (blocks, not slots, since genesis) at commitment `c`.
    fn block_height(&self, c: Commitment) -> u64;
    /// `(context slot, lamports)` of `key` at commitment `c`.
    fn balance(&self, key: &Pubkey, c: Commitment) -> (Slot, u64);
    /// `(context slot, lamports of each key)` at commitment `c`, all read from one bank.
    fn balances(&self, keys: &[Pubkey], c: Commitment) -> (Slot, Vec<u64>);
    /// `(context slot, total supply)` at commitment `c`: the genesis supply, which never changes.
    fn supply(&self, c: Commitment) -> (Slot, u64);
    /// The lowest slot whose block this node holds.
    fn first_available_block(&self) -> Slot;
    /// Transactions naming `address` in blocks on the chain of commitment `c`, newest first,
    /// strictly between `until` and `before` (signatures), at most `limit`.
    fn signatures_for_address(
        &self,
        address: &Pubkey,
        before: Option<Signature>,
        until: Option<Signature>,
        limit: usize,
        c: Commitment,
    ) -> Vec<AddressSignatureRecord>;
    /// The newest `limit` performance samples, newest first (`getRecentPerformanceSamples`).
    fn recent_performance_samples(&self, limit: usize) -> Vec<PerfSample>;
    /// Executes a transaction against the bank at `opts.commitment` without committing it
    /// (`simulateTransaction`). A transaction the parser refuses is an error unless Solana reports
    /// it as a transaction error (then it is the simulation's `err`).
    fn simulate_transaction(
        &self,
        wire: &[u8],
        opts: &SimulateOptions,
    ) -> Result<Simulation, SubmitError>;
    /// `(context slot, the [`LARGEST_ACCOUNTS`] largest balances, largest first)` at commitment `c`;
    /// may be a recent cached answer (it walks every account).
    fn largest_accounts(&self, c: Commitment) -> (Slot, Vec<(Pubkey, u64)>);
    /// The slots in `range` with a block on the chain of commitment `c` (confirmed or finalized),
    /// ascending, at most `limit`.
    fn blocks(&self, range: RangeInclusive<Slot>, limit: usize, c: Commitment) -> Vec<Slot>;
    /// `(context slot, blockhash, last valid block height)` of the newest blockhash at `c`.
    fn latest_blockhash(&self, c: Commitment) -> (Slot, Hash, u64);
    /// `(context slot, valid)`: whether a transaction may still use `h` as its recent blockhash.
    fn is_blockhash_valid(&self, h: &Hash, c: Commitment) -> (Slot, bool);
    /// Hands a transaction's wire bytes to the pipeline; returns its signature (its id). With
    /// `preflight` the transaction is first simulated on the working bank, as Solana's RPC does, and a
    /// failing one is refused; without it only the checks that decide inclusion run.
    fn submit_transaction(&self, wire: Vec<u8>, preflight: bool) -> Result<Signature, SubmitError>;
    /// `(context slot, one entry per signature)`; `None` where the signature is unknown.
    fn signature_statuses(
        &self,
        sigs: &[Signature],
        search_history: bool,
    ) -> (Slot, Vec<Option<SignatureStatus>>);
    /// A transaction in a block at commitment `c`, with its execution results.
    fn transaction(&self, sig: &Signature, c: Commitment) -> Option<TransactionRecord>;
    /// The block of `slot` at commitment `c`.
    fn block(&self, slot: Slot, c: Commitment) -> Result<BlockRecord, BlockError>;
    /// The PoH entries of `slot`'s block, so anyone can re-verify its hash chain.
    fn block_entries(&self, slot: Slot) -> Result<BlockEntries, BlockError>;
    /// What identifies `slot`'s stored block and its outcome, without its transactions.
    fn block_header(&self, slot: Slot) -> Result<BlockHeader, BlockError>;
    /// The hash of the genesis file: the cluster's identity.
    fn genesis_hash(&self) -> Hash;
    /// Epoch and slot position at commitment `c`.
    fn epoch_info(&self, c: Commitment) -> EpochInfo;
    /// Sends `lamports` from the faucet to `to`; returns the airdrop transaction's signature.
    fn request_airdrop(&self, to: &Pubkey, lamports: u64) -> Result<Signature, SubmitError>;
    /// `Err` while the node is behind or not ready; the message says why.
    fn health(&self) -> Result<(), String>;
    /// The validator's identity key.
    fn identity(&self) -> Pubkey;
    /// Transactions processed since genesis at commitment `c`.
    fn transaction_count(&self, c: Commitment) -> u64;
    /// `(context slot, every vote account)` at commitment `c`.
    fn vote_accounts(&self, c: Commitment) -> (Slot, Vec<cluster::VoteAccountInfo>);
    /// The stake at each lockout depth on `slot` by the processed head's towers, and the epoch's
    /// total stake ([`cluster::commitment_of`]).
    fn block_commitment(&self, slot: Slot) -> cluster::BlockCommitment;
    /// `(newest slot retransmitted, newest slot inserted)` by the shred receive path: Solana's
    /// max retransmit and max shred insert slots (0 before any shred arrives).
    fn max_shred_slots(&self) -> (Slot, Slot);
    /// The nodes gossip knows, this one included.
    fn cluster_nodes(&self) -> Vec<cluster::ClusterNode>;
    /// Slots per epoch.
    fn slots_per_epoch(&self) -> u64;
    /// The leader of `slot` (the schedule is a function of the genesis stakes and the epoch).
    fn slot_leader(&self, slot: Slot) -> Option<Pubkey>;
    /// Slashing evidence this node holds.
    fn slashing_evidence(&self) -> Vec<cluster::EvidenceRecord>;
    /// This node's tower.
    fn tower(&self) -> cluster::TowerView;
    /// `(slot, micro-lamports per compute unit)` for the recently stored slots, oldest first: the
    /// lowest compute unit price that landed a transaction writing every one of `accounts` (all
    /// transactions when empty), as Solana's `getRecentPrioritizationFees` reports it.
    fn recent_prioritization_fees(&self, accounts: &[Pubkey]) -> Vec<(Slot, u64)>;
    /// What frozen slot `slot` changed (PubSub's notifications); `None` if the node holds no
    /// frozen bank or stored block for it.
    fn slot_changes(&self, slot: Slot) -> Option<pubsub::SlotChanges>;
    /// Those of frozen slot `slot`'s transactions whose first signature is `wanted` (with Solana's
    /// `TransactionError` JSON if it failed), in order, from its bank in memory, without copying
    /// the rest; `None` once the node holds no frozen bank for it.
    fn slot_signatures(
        &self,
        slot: Slot,
        wanted: &dyn Fn(&Signature) -> bool,
    ) -> Option<Vec<(Signature, Option<serde_json::Value>)>>;
}

/// One transaction `getSignaturesForAddress` lists.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressSignatureRecord {
    /// Its signature.
    pub signature: Signature,
    /// Slot of the block that holds it.
    pub slot: Slot,
    /// Solana `TransactionError` JSON if it failed.
    pub err: Option<serde_json::Value>,
    /// The block's production time, Unix seconds.
    pub block_time: Option<i64>,
    /// How settled its block is (confirmed or finalized).
    pub confirmation_status: Commitment,
}

/// How to simulate a transaction (`simulateTransaction`'s config).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimulateOptions {
    /// Verify the signatures first (a failure is -32003).
    pub sig_verify: bool,
    /// Run it with the bank's newest blockhash instead of its own.
    pub replace_recent_blockhash: bool,
    /// Which bank to run it on.
    pub commitment: Commitment,
    /// Accounts whose balances after the transaction to report.
    pub accounts: Vec<Pubkey>,
}

/// A simulated transaction's outcome.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Simulation {
    /// The bank it ran on.
    pub slot: Slot,
    /// Solana `TransactionError` JSON if it failed.
    pub err: Option<serde_json::Value>,
    /// Fee it would pay (0 when it would not be included).
    pub fee: u64,
    /// Balances of its account keys before, in key order (empty when not included).
    pub pre_balances: Vec<u64>,
    /// Balances of its account keys after, in key order (empty when not included).
    pub post_balances: Vec<u64>,
    /// Balance of each of [`SimulateOptions::accounts`] after it.
    pub accounts: Vec<u64>,
    /// The blockhash it ran with and that blockhash's last valid block height, when replaced.
    pub replacement_blockhash: Option<(Hash, u64)>,
}

/// A transaction's status as `getSignatureStatuses` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureStatus {
    /// Slot of the block that holds the transaction.
    pub slot: Slot,
    /// Blocks built on top since; `None` once rooted (rendered as `null` when finalized).
    pub confirmations: Option<u64>,
    /// Solana `TransactionError` JSON if the transaction failed.
    pub err: Option<serde_json::Value>,
    /// How settled the block is.
    pub confirmation_status: Commitment,
}

/// A stored transaction with its execution results.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionRecord {
    /// Slot of the block that holds it.
    pub slot: Slot,
    /// The block's production time, Unix seconds.
    pub block_time: Option<i64>,
    /// The wire bytes as received.
    pub wire: Vec<u8>,
    /// Fee charged, in lamports.
    pub fee: u64,
    /// Solana `TransactionError` JSON if it failed.
    pub err: Option<serde_json::Value>,
    /// Balances of its account keys before, in key order.
    pub pre_balances: Vec<u64>,
    /// Balances of its account keys after, in key order.
    pub post_balances: Vec<u64>,
}

/// A stored block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockRecord {
    /// Its slot.
    pub slot: Slot,
    /// Its parent's slot.
    pub parent_slot: Slot,
    /// Hash of its last tick.
    pub blockhash: Hash,
    /// Its parent's blockhash.
    pub previous_blockhash: Hash,
    /// Blocks since genesis.
    pub block_height: u64,
    /// Production time, Unix seconds.
    pub block_time: Option<i64>,
    /// Its transactions, in execution order.
    pub transactions: Vec<TransactionRecord>,
}

/// A block's PoH entries.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockEntries {
    /// The block's slot.
    pub slot: Slot,
    /// Its parent's slot.
    pub parent_slot: Slot,
    /// The PoH hash the block starts from (the parent's blockhash).
    pub start_hash: Hash,
    /// Ticks per slot (genesis).
    pub ticks_per_slot: u64,
    /// Hashes per tick (genesis).
    pub hashes_per_tick: u64,
    /// The entries in order.
    pub entries: Vec<EntryRecord>,
}

/// A stored block's identity and outcome (BlackBook's `getBlockHeader`): enough to compare two
/// validators' ledgers block by block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockHeader {
    /// The block's slot.
    pub slot: Slot,
    /// Its parent's slot.
    pub parent_slot: Slot,
    /// Hash of its last tick.
    pub blockhash: Hash,
    /// Bank hash after executing it.
    pub bank_hash: Hash,
    /// The leader that produced it.
    pub leader: Pubkey,
    /// Blocks from genesis to it on its fork.
    pub block_height: u64,
    /// Transactions in it, failed ones included.
    pub transaction_count: u32,
    /// Production time, Unix seconds.
    pub block_time: Option<i64>,
}

/// One PoH entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRecord {
    /// Hashes since the previous entry.
    pub num_hashes: u64,
    /// The entry's hash.
    pub hash: Hash,
    /// Wire bytes of the transactions mixed into it (empty for a tick).
    pub transactions: Vec<Vec<u8>>,
}

/// Epoch position, as `getEpochInfo` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EpochInfo {
    /// The current epoch.
    pub epoch: u64,
    /// Slot within the epoch.
    pub slot_index: u64,
    /// Slots per epoch.
    pub slots_in_epoch: u64,
    /// The current slot.
    pub absolute_slot: Slot,
    /// The current block height.
    pub block_height: u64,
    /// Transactions processed since genesis.
    pub transaction_count: u64,
}

/// Why a block or its entries cannot be returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Not stored (yet) at the asked commitment; RPC code -32004.
    #[error("block not available for slot {0}")]
    NotAvailable(Slot),
    /// The slot has no block: its leader produced none; RPC code -32007.
    #[error("slot {0} was skipped")]
    Skipped(Slot),
    /// Below the ledger's kept window (`storage.limit_ledger_slots`); RPC code -32001.
    #[error("block {slot} cleaned up; first available block {first_available}")]
    CleanedUp {
        /// The slot asked for.
        slot: Slot,
        /// The oldest block the ledger keeps.
        first_available: Slot,
    },
}

/// Why a transaction (or airdrop) was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmitError {
    /// Not a well-formed transaction; RPC code -32602.
    #[error("invalid transaction: {0}")]
    Malformed(String),
    /// A signature does not verify; RPC code -32003.
    #[error("Transaction signature verification failure")]
    BadSignature,
    /// Refused by the node's pre-execution checks; RPC code -32002 with Solana's simulation data.
    #[error("Transaction simulation failed: {message}")]
    Preflight {
        /// Human-readable reason.
        message: String,
        /// Solana `TransactionError` JSON, e.g. `"BlockhashNotFound"`.
        err: serde_json::Value,
    },
    /// A program, instruction or message version the chain does not run; RPC code -32602.
    #[error("{0}")]
    Unsupported(String),
    /// The node cannot take transactions now; RPC code -32005.
    #[error("{0}")]
    Unhealthy(String),
    /// The ingest queue is full; RPC code -32603.
    #[error("node is overloaded: transaction queue is full, retry later")]
    Busy,
}

impl From<&TxnError> for SubmitError {
    /// How `sendTransaction` reports a transaction the parser refuses: as Solana's preflight
    /// transaction error where Solana has one (`DuplicateInstruction`, `InvalidInstructionData`),
    /// as unsupported when the chain does not run what it asks for, else as malformed.
    fn from(e: &TxnError) -> SubmitError {
        if let Some(err) = e.to_solana_json() {
            return SubmitError::Preflight {
                message: e.to_string(),
                err,
            };
        }
        match e {
            TxnError::UnsupportedProgram(_)
            | TxnError::UnsupportedInstruction { .. }
            | TxnError::UnsupportedVoteInstruction { .. }
            | TxnError::ComputeBudget { .. }
            | TxnError::UnsupportedVersion { .. }
            | TxnError::AddressTableLookups { .. } => SubmitError::Unsupported(e.to_string()),
            _ => SubmitError::Malformed(e.to_string()),
        }
    }
}
