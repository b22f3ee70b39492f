//! The node's answers to RPC: the [`rpc::Chain`] trait over the live banks, the redb ledger, the
//! transaction pipeline and what the control plane publishes ([`ClusterView`]).
//!
//! Commitment levels: `processed` reads the fork-choice head, `confirmed` the newest optimistically
//! confirmed bank on the head's fork, `finalized` the newest root more than 2/3 of the stake has
//! rooted (the root bank where that one is already below this node's root, as Agave answers). A
//! block or transaction is returned at a commitment only if its slot is on that commitment's chain;
//! a slot below it that is not answers as skipped.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use dataplane::bank::{Bank, TxError};
use dataplane::bank_forks::BankForks;
use dataplane::block::decode_entry;
use dataplane::genesis::{Genesis, MAX_RECENT_BLOCKHASHES};
use dataplane::metrics::{Reject, RejectCounters};
use dataplane::sigverify::verify_txn;
use dataplane::store::Store;
use dataplane::tvu::TvuStats;
use dataplane::txn::{build_transfer, Txn};
use dataplane::types::{Hash, Pubkey, Signature, Slot};
use ed25519_dalek::SigningKey;

mod outcomes;
use outcomes::set_errors;

use crate::cluster_view::ClusterView;
use crate::perf_samples::{PerfCounts, PerfSample, PerfSampler};
use crate::rpc::cluster::{self, BlockCommitment, ClusterNode, EvidenceRecord, VoteAccountInfo};
use crate::rpc::pubsub::{ChainEvent, EventFeed, SlotChanges, TxChange};
use crate::rpc::{
    AddressSignatureRecord, BlockEntries, BlockError, BlockHeader, BlockRecord, Chain, Commitment,
    EntryRecord, EpochInfo, SignatureStatus, SimulateOptions, Simulation, SubmitError,
    TransactionRecord,
};
use controlplane::schedule::Schedules;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The faucet that serves `requestAirdrop` (localnet and tests).
pub struct Faucet {
    /// Its key (the account is funded at genesis).
    pub key: SigningKey,
    /// Most lamports one request may ask for.
    pub max_lamports: u64,
}

/// What RPC needs from the running node.
pub struct NodeChain {
    /// The cluster's genesis.
    pub genesis: Genesis,
    /// Its hash.
    pub genesis_hash: Hash,
    /// This node's identity.
    pub identity: Pubkey,
    /// Where this node's QUIC TPU is reached (peers' are not gossiped yet).
    pub tpu_quic: Option<SocketAddr>,
    /// Live banks.
    pub forks: Arc<RwLock<BankForks>>,
    /// Slot being produced.
    pub working_slot: Arc<AtomicU64>,
    /// The ledger.
    pub store: Arc<Store>,
    /// Into the banking stage.
    pub txns: Sender<Vec<Txn>>,
    /// Rejections by reason (RPC refusals are counted too).
    pub counters: Arc<RejectCounters>,
    /// The faucet, if this node runs one.
    pub faucet: Option<Faucet>,
    /// What the control plane publishes.
    pub view: Arc<ClusterView>,
    /// Leader schedules (RPC's own cache).
    pub schedules: Mutex<Schedules>,
    /// Stake by validator identity (from the genesis).
    pub stakes: HashMap<Pubkey, u64>,
    /// The shred receive path's counters, in a cluster (`None`: a node alone receives none).
    pub shreds: Option<Arc<TvuStats>>,
    /// `getLargestAccounts` answers by commitment, with when they were computed.
    pub largest_accounts: Mutex<HashMap<Commitment, LargestAccounts>>,
    /// Where PubSub hears of transactions this node accepts.
    pub feed: EventFeed,
    /// `getRecentPerformanceSamples`' ring, fed by [`NodeChain::sample_performance`].
    pub perf_samples: Mutex<PerfSampler>,
}

/// How long a `getLargestAccounts` answer is reused: it walks every account.
pub const LARGEST_ACCOUNTS_CACHE_SECS: u64 = 30;

/// A cached `getLargestAccounts` answer.
#[derive(Debug, Clone)]
pub struct LargestAccounts {
    computed: std::time::Instant,
    slot: Slot,
    accounts: Vec<(Pubkey, u64)>,
}

fn block_time_secs(ms: u64) -> Option<i64> {
    i64::try_from(ms / 1000).ok()
}

impl NodeChain {
    /// Takes a performance note now (see [`crate::perf_samples`]); returns when to take the next.
    pub fn sample_performance(&self, now: Instant) -> Duration {
        let root = self.bank(Commitment::Finalized);
        let counts = PerfCounts {
            slot: self.working_bank().slot(),
            transactions: root.total_transaction_count(),
            non_vote_transactions: root.non_vote_transaction_count_since_restart(),
        };
        self.perf_samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .handle_tick(now, counts)
    }

    /// "processed": the bank this node is producing, or the newest block it holds when that is newer
    /// (between its own leader turns, blocks arrive from the other leaders).
    fn working_bank(&self) -> Arc<Bank> {
        let forks = self.forks.read().unwrap_or_else(|e| e.into_inner());
        let highest = forks.highest_frozen();
        match forks.get(Slot(self.working_slot.load(Ordering::Acquire))) {
            Some(working) if working.slot() >= highest.slot() => working,
            _ => highest,
        }
    }

    /// The bank RPC reads at commitment `c` (see the module docs).
    fn bank(&self, c: Commitment) -> Arc<Bank> {
        let forks = self.forks.read().unwrap_or_else(|e| e.into_inner());
        let at = self
            .view
            .slot(c)
            .and_then(|s| forks.get(s))
            .filter(|b| b.is_frozen());
        match (at, c) {
            (Some(b), _) => b,
            // Before the control plane's first report: the newest frozen bank, or the root.
            (None, Commitment::Processed) => forks.highest_frozen(),
            (None, _) => forks.root_bank(),
        }
    }

    /// Whether `slot`'s stored block is on the chain of commitment `c` (a slot on an abandoned fork,
    /// or one whose leader produced nothing, is not).
    fn on_chain(&self, slot: Slot, c: Commitment) -> Result<(), BlockError> {
        let Some(levels) = self.view.levels() else {
            return Err(BlockError::NotAvailable(slot));
        };
        if let Some(e) = self.cleaned_up(slot) {
            return Err(e);
        }
        let top = match c {
            Commitment::Finalized => levels.finalized,
            Commitment::Confirmed | Commitment::Processed => levels.confirmed,
        };
        if slot > top {
            return Err(BlockError::NotAvailable(slot));
        }
        if slot == Slot(0) || self.store.is_rooted(slot).unwrap_or(false) {
            return Ok(());
        }
        // Above the root: an ancestor of the commitment's bank.
        let forks = self.forks.read().unwrap_or_else(|e| e.into_inner());
        let mut cur = forks.get(top);
        while let Some(b) = cur {
            if b.slot() == slot {
                return Ok(());
            }
            if b.slot() < slot {
                break;
            }
            cur = b.parent();
        }
        Err(BlockError::Skipped(slot))
    }

    fn count(&self, reason: Reject) {
        self.counters.add(reason);
    }

    fn record_of(&self, sig: &Signature) -> Option<TransactionRecord> {
        let rec = self.store.tx_status(sig).ok()??;
        let meta = self.store.slot_meta(rec.slot).ok()??;
        let entry = self.store.entry(rec.slot, rec.entry_index).ok()??;
        let entry = decode_entry(&entry).ok()?;
        let tx = entry.transactions.get(usize::from(rec.txn_index))?;
        Some(TransactionRecord {
            slot: rec.slot,
            block_time: block_time_secs(meta.block_time_ms),
            wire: tx.bytes().to_vec(),
            fee: rec.fee,
            err: rec.err.and_then(|t| serde_json::from_str(&t).ok()),
            pre_balances: rec.pre_balances,
            post_balances: rec.post_balances,
        })
    }

    /// Checks a transaction the way the pipeline would, then hands it to the banking stage.
    fn submit(&self, wire: &[u8], preflight: bool) -> Result<Signature, SubmitError> {
        let txn = Txn::parse(wire).map_err(|e| {
            self.count(Reject::from(&e));
            SubmitError::from(&e)
        })?;
        let view = txn.view();
        if verify_txn(&view).is_err() {
            self.count(Reject::BadSignature);
            return Err(SubmitError::BadSignature);
        }
        let bank = self.working_bank();
        let outcome = if preflight {
            bank.simulate(&view).status
        } else {
            bank.check_transaction(&view)
        };
        if let Err(e) = outcome {
            if let Some(reason) = e.reject_reason() {
                self.count(reason);
            }
            return Err(SubmitError::Preflight {
                message: preflight_message(&e),
                err: e.to_solana_json(),
            });
        }
        let signature = txn.signature();
        dataplane::banking::offer(&self.txns, vec![txn], &self.counters)
            .map_err(|_| SubmitError::Busy)?;
        self.feed.publish(ChainEvent::Received {
            slot: bank.slot(),
            signature,
        });
        Ok(signature)
    }
}

/// Solana's wording for the common preflight failures, so client error messages read the same.
fn preflight_message(e: &TxError) -> String {
    match e {
        TxError::BlockhashNotFound => "Blockhash not found".into(),
        TxError::AlreadyProcessed => "This transaction has already been processed".into(),
        TxError::InsufficientFundsForFee => {
            "Attempt to debit an account but found no record of a prior credit.".into()
        }
        TxError::InstructionError { index, .. } => {
            format!("Error processing Instruction {index}: {e}")
        }
    }
}

impl Chain for NodeChain {
    fn slot(&self, c: Commitment) -> Slot {
        self.bank(c).slot()
    }

    fn block_height(&self, c: Commitment) -> u64 {
        self.bank(c).block_height()
    }

    fn balance(&self, key: &Pubkey, c: Commitment) -> (Slot, u64) {
        let bank = self.bank(c);
        (bank.slot(), bank.balance(key))
    }

    fn balances(&self, keys: &[Pubkey], c: Commitment) -> (Slot, Vec<u64>) {
        let bank = self.bank(c);
        (bank.slot(), bank.balances(keys))
    }

    fn supply(&self, c: Commitment) -> (Slot, u64) {
        // The genesis was validated at start, so its sum fits a u64.
        (
            self.bank(c).slot(),
            self.genesis.total_supply().unwrap_or(u64::MAX),
        )
    }

    fn first_available_block(&self) -> Slot {
        self.store.first_slot().ok().flatten().unwrap_or(Slot(0))
    }

    fn simulate_transaction(
        &self,
        wire: &[u8],
        opts: &SimulateOptions,
    ) -> Result<Simulation, SubmitError> {
        let bank = self.bank(opts.commitment);
        let mut txn = match Txn::parse(wire) {
            Ok(txn) => txn,
            Err(e) => {
                let err = e.to_solana_json().ok_or_else(|| SubmitError::from(&e))?;
                return Ok(Simulation {
                    slot: bank.slot(),
                    err: Some(err),
                    accounts: bank.balances(&opts.accounts),
                    ..Simulation::default()
                });
            }
        };
        if opts.sig_verify && verify_txn(&txn.view()).is_err() {
            return Err(SubmitError::BadSignature);
        }
        let mut replacement = None;
        if opts.replace_recent_blockhash {
            let (_, hash, last_valid) = self.latest_blockhash(opts.commitment);
            let at = usize::from(txn.view().layout().recent_blockhash_off);
            let mut replaced = wire.to_vec();
            replaced[at..at + 32].copy_from_slice(hash.as_bytes());
            txn = Txn::parse(&replaced).map_err(|e| SubmitError::from(&e))?;
            replacement = Some((hash, last_valid));
        }
        let view = txn.view();
        let e = bank.simulate(&view);
        let keys: Vec<Pubkey> = (0..view.num_account_keys())
            .map(|i| view.account_key(i))
            .collect();
        let post = e.post_balances();
        let accounts = opts
            .accounts
            .iter()
            .map(|k| match keys.iter().position(|x| x == k) {
                Some(i) if i < post.len() => post[i],
                _ => bank.balance(k),
            })
            .collect();
        Ok(Simulation {
            slot: bank.slot(),
            err: e.status.err().map(|err| err.to_solana_json()),
            fee: e.fee,
            pre_balances: e.pre_balances().to_vec(),
            post_balances: post.to_vec(),
            accounts,
            replacement_blockhash: replacement,
        })
    }

    fn signatures_for_address(
        &self,
        address: &Pubkey,
        before: Option<Signature>,
        until: Option<Signature>,
        limit: usize,
        c: Commitment,
    ) -> Vec<AddressSignatureRecord> {
        // Rows come newest slot first: remembering the last slot's answer asks once per slot.
        let mut last: Option<(Slot, bool)> = None;
        let found = self.store.signatures_for_address(
            address,
            before.as_ref(),
            until.as_ref(),
            limit,
            |slot| match last {
                Some((s, kept)) if s == slot => kept,
                _ => {
                    let kept = self.on_chain(slot, c).is_ok();
                    last = Some((slot, kept));
                    kept
                }
            },
        );
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("getSignaturesForAddress for {address}: ledger read failed: {e}");
                return Vec::new();
            }
        };
        let finalized = self.view.levels().map_or(Slot(0), |l| l.finalized);
        found
            .into_iter()
            .map(|t| {
                let slot = t.slot;
                AddressSignatureRecord {
                    signature: t.signature,
                    slot,
                    err: t.err.and_then(|e| serde_json::from_str(&e).ok()),
                    block_time: block_time_secs(t.block_time_ms),
                    confirmation_status: if slot <= finalized {
                        Commitment::Finalized
                    } else {
                        Commitment::Confirmed
                    },
                }
            })
            .collect()
    }

    fn recent_performance_samples(&self, limit: usize) -> Vec<PerfSample> {
        self.perf_samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recent(limit)
    }

    fn largest_accounts(&self, c: Commitment) -> (Slot, Vec<(Pubkey, u64)>) {
        let fresh = std::time::Duration::from_secs(LARGEST_ACCOUNTS_CACHE_SECS);
        let cached = self
            .largest_accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&c)
            .filter(|l| l.computed.elapsed() < fresh)
            .cloned();
        if let Some(l) = cached {
            return (l.slot, l.accounts);
        }
        // Computed without the cache's lock held: two callers may both compute, neither waits.
        let bank = self.bank(c);
        let answer = LargestAccounts {
            computed: std::time::Instant::now(),
            slot: bank.slot(),
            accounts: bank.largest_accounts(crate::rpc::LARGEST_ACCOUNTS),
        };
        self.largest_accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(c, answer.clone());
        (answer.slot, answer.accounts)
    }

    /// Rooted blocks from the roots table; for `confirmed`, then the confirmed bank's unrooted
    /// ancestors (at most the few dozen slots between the root and the confirmed slot).
    fn blocks(&self, range: RangeInclusive<Slot>, limit: usize, c: Commitment) -> Vec<Slot> {
        let Some(levels) = self.view.levels() else {
            return Vec::new();
        };
        let top = match c {
            Commitment::Finalized => levels.finalized,
            Commitment::Confirmed | Commitment::Processed => levels.confirmed,
        };
        let end = (*range.end()).min(top);
        if *range.start() > end {
            return Vec::new();
        }
        let mut slots = self
            .store
            .rooted_slots(*range.start()..=end, limit)
            .unwrap_or_default();
        let rooted_to = slots.last().copied();
        let forks = self.forks.read().unwrap_or_else(|e| e.into_inner());
        let mut above = Vec::new();
        let mut cur = forks.get(top);
        while let Some(b) = cur {
            if b.slot() < *range.start() || Some(b.slot()) <= rooted_to {
                break;
            }
            if b.slot() <= end && !self.store.is_rooted(b.slot()).unwrap_or(false) {
                above.push(b.slot());
            }
            cur = b.parent();
        }
        above.reverse();
        slots.extend(above);
        slots.truncate(limit);
        slots
    }

    fn latest_blockhash(&self, c: Commitment) -> (Slot, Hash, u64) {
        let bank = self.bank(c);
        // The working bank's newest usable blockhash is its parent's; a frozen bank's is its own.
        let (hash, height) = match bank.blockhash() {
            Some(h) => (h, bank.block_height()),
            None => (bank.last_blockhash(), bank.block_height().saturating_sub(1)),
        };
        (bank.slot(), hash, height + MAX_RECENT_BLOCKHASHES)
    }

    fn is_blockhash_valid(&self, h: &Hash, c: Commitment) -> (Slot, bool) {
        let bank = self.bank(c);
        (bank.slot(), bank.is_blockhash_valid(h))
    }

    fn submit_transaction(&self, wire: Vec<u8>, preflight: bool) -> Result<Signature, SubmitError> {
        self.submit(&wire, preflight)
    }

    fn signature_statuses(
        &self,
        sigs: &[Signature],
        search_history: bool,
    ) -> (Slot, Vec<Option<SignatureStatus>>) {
        let head = self.bank(Commitment::Processed);
        let levels = self.view.levels();
        let (confirmed, finalized) =
            levels.map_or((Slot(0), Slot(0)), |l| (l.confirmed, l.finalized));
        let forks = self.forks.read().unwrap_or_else(|e| e.into_inner());
        let out = sigs
            .iter()
            .map(|sig| {
                // The head's status cache answers for its own fork only: a transaction in a block
                // on an abandoned fork is not found there.
                if let Some((slot, status)) = head.status(sig) {
                    let level = if slot <= finalized {
                        Commitment::Finalized
                    } else if slot <= confirmed {
                        Commitment::Confirmed
                    } else {
                        Commitment::Processed
                    };
                    let confirmations = forks
                        .get(slot)
                        .map(|b| head.block_height().saturating_sub(b.block_height()));
                    return Some(SignatureStatus {
                        slot,
                        confirmations: match level {
                            Commitment::Finalized => None,
                            _ => Some(confirmations.unwrap_or(0)),
                        },
                        err: status.err().map(|e| e.to_solana_json()),
                        confirmation_status: level,
                    });
                }
                if !search_history {
                    return None;
                }
                let rec = self.store.tx_status(sig).ok()??;
                if !self.store.is_rooted(rec.slot).unwrap_or(false) || rec.slot > finalized {
                    return None;
                }
                Some(SignatureStatus {
                    slot: rec.slot,
                    confirmations: None,
                    err: rec.err.and_then(|t| serde_json::from_str(&t).ok()),
                    confirmation_status: Commitment::Finalized,
                })
            })
            .collect();
        (head.slot(), out)
    }

    fn transaction(&self, sig: &Signature, c: Commitment) -> Option<TransactionRecord> {
        let rec = self.record_of(sig)?;
        self.on_chain(rec.slot, c).ok()?;
        Some(rec)
    }

    fn block(&self, slot: Slot, c: Commitment) -> Result<BlockRecord, BlockError> {
        self.on_chain(slot, c)?;
        let (meta, previous_blockhash) = self.stored_block(slot)?;
        let mut transactions = Vec::with_capacity(meta.transaction_count as usize);
        let entries = self
            .store
            .entries(slot)
            .map_err(|_| BlockError::NotAvailable(slot))?;
        for bytes in entries {
            let entry = decode_entry(&bytes).map_err(|_| BlockError::NotAvailable(slot))?;
            for tx in &entry.transactions {
                let rec = self
                    .store
                    .tx_status_in(slot, &tx.signature())
                    .ok()
                    .flatten();
                transactions.push(TransactionRecord {
                    slot,
                    block_time: block_time_secs(meta.block_time_ms),
                    wire: tx.bytes().to_vec(),
                    fee: rec.as_ref().map(|r| r.fee).unwrap_or(0),
                    err: rec
                        .as_ref()
                        .and_then(|r| r.err.as_ref())
                        .and_then(|t| serde_json::from_str(t).ok()),
                    pre_balances: rec
                        .as_ref()
                        .map(|r| r.pre_balances.clone())
                        .unwrap_or_default(),
                    post_balances: rec.map(|r| r.post_balances).unwrap_or_default(),
                });
            }
        }
        Ok(BlockRecord {
            slot,
            parent_slot: meta.parent_slot,
            blockhash: meta.blockhash,
            previous_blockhash,
            block_height: meta.block_height,
            block_time: block_time_secs(meta.block_time_ms),
            transactions,
        })
    }

    fn block_entries(&self, slot: Slot) -> Result<BlockEntries, BlockError> {
        let (meta, start_hash) = self.stored_block(slot)?;
        let entries = self
            .store
            .entries(slot)
            .map_err(|_| BlockError::NotAvailable(slot))?
            .iter()
            .map(|b| {
                decode_entry(b)
                    .map(|e| EntryRecord {
                        num_hashes: e.num_hashes,
                        hash: e.hash,
                        transactions: e.transactions.iter().map(|t| t.bytes().to_vec()).collect(),
                    })
                    .map_err(|_| BlockError::NotAvailable(slot))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BlockEntries {
            slot,
            parent_slot: meta.parent_slot,
            start_hash,
            ticks_per_slot: self.genesis.ticks_per_slot,
            hashes_per_tick: self.genesis.hashes_per_tick,
            entries,
        })
    }

    fn block_header(&self, slot: Slot) -> Result<BlockHeader, BlockError> {
        let (meta, _) = self.stored_block(slot)?;
        Ok(BlockHeader {
            slot,
            parent_slot: meta.parent_slot,
            blockhash: meta.blockhash,
            bank_hash: meta.bank_hash,
            leader: meta.leader,
            block_height: meta.block_height,
            transaction_count: meta.transaction_count,
            block_time: block_time_secs(meta.block_time_ms),
        })
    }

    fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    fn epoch_info(&self, c: Commitment) -> EpochInfo {
        let bank = self.bank(c);
        let per_epoch = self.genesis.slots_per_epoch.max(1);
        EpochInfo {
            epoch: bank.slot().0 / per_epoch,
            slot_index: bank.slot().0 % per_epoch,
            slots_in_epoch: per_epoch,
            absolute_slot: bank.slot(),
            block_height: bank.block_height(),
            transaction_count: bank.total_transaction_count(),
        }
    }

    fn request_airdrop(&self, to: &Pubkey, lamports: u64) -> Result<Signature, SubmitError> {
        let Some(faucet) = &self.faucet else {
            return Err(SubmitError::Unsupported(
                "this node runs no faucet (set rpc.faucet_keypair)".into(),
            ));
        };
        if lamports > faucet.max_lamports {
            return Err(SubmitError::Unsupported(format!(
                "airdrop of {lamports} lamports exceeds this faucet's limit of {}",
                faucet.max_lamports
            )));
        }
        let (_, blockhash, _) = self.latest_blockhash(Commitment::Processed);
        let wire = build_transfer(&faucet.key, to, lamports, &blockhash);
        self.submit(&wire, true)
    }

    fn health(&self) -> Result<(), String> {
        Ok(())
    }

    fn identity(&self) -> Pubkey {
        self.identity
    }

    fn transaction_count(&self, c: Commitment) -> u64 {
        self.bank(c).total_transaction_count()
    }

    fn vote_accounts(&self, c: Commitment) -> (Slot, Vec<VoteAccountInfo>) {
        let bank = self.bank(c);
        let accounts = bank
            .vote_accounts()
            .into_iter()
            .map(|(vote_pubkey, state)| VoteAccountInfo {
                vote_pubkey,
                node_pubkey: state.node,
                activated_stake: self.stakes.get(&state.node).copied().unwrap_or(0),
                last_vote: state.votes.last().map_or(0, |l| l.slot.0),
                root_slot: state.root.map_or(0, |r| r.0),
                epoch_credits: state.epoch_credits.clone(),
            })
            .collect();
        (bank.slot(), accounts)
    }

    fn block_commitment(&self, slot: Slot) -> BlockCommitment {
        let total_stake = self.stakes.values().sum();
        let head = self.bank(Commitment::Processed);
        // On the head's chain, at or above the root (the banks held): Solana's cache covers the
        // same blocks, the working bank's ancestors.
        let on_chain = {
            let forks = self.forks.read().unwrap_or_else(|e| e.into_inner());
            let mut at = Some(head.clone());
            loop {
                match at {
                    Some(bank) if bank.slot() > slot && bank.parent_slot() < bank.slot() => {
                        at = forks.get(bank.parent_slot());
                    }
                    Some(bank) => break bank.slot() == slot,
                    None => break false,
                }
            }
        };
        let commitment = on_chain.then(|| {
            let towers = head.vote_accounts();
            cluster::commitment_of(
                slot,
                towers.iter().map(|(_, tower)| {
                    let stake = self.stakes.get(&tower.node).copied().unwrap_or(0);
                    (tower.as_ref(), stake)
                }),
            )
        });
        BlockCommitment {
            commitment,
            total_stake,
        }
    }

    fn max_shred_slots(&self) -> (Slot, Slot) {
        let Some(s) = &self.shreds else {
            return (Slot(0), Slot(0));
        };
        let get = |a: &AtomicU64| Slot(a.load(Ordering::Relaxed));
        (
            get(&s.newest_retransmitted_slot),
            get(&s.newest_verified_slot),
        )
    }

    fn cluster_nodes(&self) -> Vec<ClusterNode> {
        self.view
            .peers()
            .iter()
            .map(|ci| ClusterNode {
                pubkey: ci.pubkey,
                gossip: Some(ci.gossip),
                tvu: Some(ci.tvu),
                tpu: Some(ci.tpu),
                // Its own is known before gossip may announce it (see `TPU_QUIC_SINCE`).
                tpu_quic: if ci.pubkey == self.identity {
                    self.tpu_quic
                } else {
                    ci.tpu_quic
                },
                tpu_vote: Some(ci.tpu_vote),
                serve_repair: Some(ci.serve_repair),
                rpc: ci.rpc,
                version: Some(format!(
                    "{}.{}.{}",
                    ci.version.major, ci.version.minor, ci.version.patch
                )),
                shred_version: Some(ci.shred_version),
            })
            .collect()
    }

    fn slots_per_epoch(&self) -> u64 {
        self.genesis.slots_per_epoch.max(1)
    }

    fn slot_leader(&self, slot: Slot) -> Option<Pubkey> {
        self.schedules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .leader(slot)
    }

    fn slashing_evidence(&self) -> Vec<EvidenceRecord> {
        self.view.evidence()
    }

    fn recent_prioritization_fees(&self, accounts: &[Pubkey]) -> Vec<(Slot, u64)> {
        self.store.recent_prioritization_fees(accounts)
    }

    fn tower(&self) -> crate::rpc::cluster::TowerView {
        let t = self.view.tower();
        crate::rpc::cluster::TowerView {
            votes: t
                .votes
                .iter()
                .map(|l| (l.slot.0, l.confirmation_count))
                .collect(),
            root: t.root.map(|r| r.0),
            voting: t.voting,
        }
    }

    fn slot_changes(&self, slot: Slot) -> Option<SlotChanges> {
        self.changes_of(slot)
    }

    fn slot_signatures(
        &self,
        slot: Slot,
        wanted: &dyn Fn(&Signature) -> bool,
    ) -> Option<Vec<(Signature, Option<serde_json::Value>)>> {
        let bank = self
            .forks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slot)
            .filter(|b| b.is_frozen())?;
        let count = bank.transaction_count();
        bank.with_transaction_statuses(|statuses| {
            // A bank rebuilt other than by executing its block would hold no list: then the block.
            if statuses.len() as u64 != count {
                return None;
            }
            let signatures = statuses
                .iter()
                .filter(|(signature, _)| wanted(signature))
                .map(|(signature, status)| {
                    let err = status.as_ref().err().map(|e| e.to_solana_json());
                    (*signature, err)
                })
                .collect();
            Some(signatures)
        })
    }
}

impl NodeChain {
    /// A stored block's metadata and its parent's blockhash (where its PoH starts; the genesis hash
    /// for slot 0).
    fn stored_block(&self, slot: Slot) -> Result<(dataplane::store::SlotMeta, Hash), BlockError> {
        let meta = self
            .store
            .slot_meta(slot)
            .ok()
            .flatten()
            .ok_or_else(|| self.missing(slot))?;
        let parent_blockhash = match slot.0 {
            0 => self.genesis_hash,
            _ => self
                .store
                .slot_meta(meta.parent_slot)
                .ok()
                .flatten()
                .map(|p| p.blockhash)
                .or_else(|| {
                    // The parent was pruned: Solana answers the default hash then.
                    self.cleaned_up(meta.parent_slot).map(|_| Hash::default())
                })
                .ok_or(BlockError::NotAvailable(slot))?,
        };
        Ok((meta, parent_blockhash))
    }

    /// What `slot`'s stored block changed: its transactions from storage, their outcomes and the
    /// accounts it wrote from its bank (or, once the bank is gone, from the stored statuses and
    /// balances).
    fn changes_of(&self, slot: Slot) -> Option<SlotChanges> {
        let bank = self
            .forks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slot)
            .filter(|b| b.is_frozen());
        let meta = self.store.slot_meta(slot).ok()??;
        let mut transactions = Vec::with_capacity(meta.transaction_count as usize);
        for bytes in self.store.entries(slot).ok()? {
            let entry = decode_entry(&bytes).ok()?;
            for tx in &entry.transactions {
                let view = tx.view();
                transactions.push(TxChange {
                    signature: tx.signature(),
                    err: None,
                    accounts: (0..view.num_account_keys())
                        .map(|i| view.account_key(i))
                        .collect(),
                    is_vote: view.is_vote(),
                });
            }
        }
        let accounts = match bank {
            Some(bank) => {
                bank.with_transaction_statuses(|statuses| set_errors(&mut transactions, statuses));
                bank.accounts_delta()
            }
            None => {
                let mut statuses = self.store.tx_statuses_in(slot).ok()?;
                let mut written = BTreeMap::new();
                for tx in &mut transactions {
                    let Some(rec) = statuses.remove(&tx.signature) else {
                        continue;
                    };
                    written.extend(
                        tx.accounts
                            .iter()
                            .copied()
                            .zip(rec.post_balances.iter().copied()),
                    );
                    tx.err = rec.err.and_then(|t| serde_json::from_str(&t).ok());
                }
                written.into_iter().collect()
            }
        };
        Some(SlotChanges {
            slot,
            parent: meta.parent_slot,
            transactions,
            accounts,
        })
    }

    /// A slot below the oldest kept block was pruned (`storage.limit_ledger_slots`).
    fn cleaned_up(&self, slot: Slot) -> Option<BlockError> {
        let first_available = self.store.first_slot().ok().flatten()?;
        (slot < first_available).then_some(BlockError::CleanedUp {
            slot,
            first_available,
        })
    }

    /// A slot below the newest stored one without a block was skipped; above it, not yet
    /// available; below the oldest kept block, pruned.
    fn missing(&self, slot: Slot) -> BlockError {
        if let Some(e) = self.cleaned_up(slot) {
            return e;
        }
        match self.store.latest_slot() {
            Ok(Some(latest)) if slot < latest => BlockError::Skipped(slot),
            _ => BlockError::NotAvailable(slot),
        }
    }
}
