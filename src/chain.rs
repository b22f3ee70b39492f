//! The node's answers to RPC: the [`rpc::Chain`] trait over the live banks, the redb ledger and the
//! transaction pipeline.
//!
//! Commitment levels map onto this node's state as follows until consensus lands: `processed` reads the
//! working bank (the slot being produced); `confirmed` and `finalized` read the newest stored slot,
//! which is rooted at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crossbeam_channel::Sender;
use dataplane::bank::{Bank, TxError};
use dataplane::bank_forks::BankForks;
use dataplane::block::decode_entry;
use dataplane::genesis::{Genesis, MAX_RECENT_BLOCKHASHES};
use dataplane::metrics::{Reject, RejectCounters};
use dataplane::sigverify::verify_txn;
use dataplane::store::Store;
use dataplane::txn::{build_transfer, Txn, TxnError};
use dataplane::types::{Hash, Pubkey, Signature, Slot};
use ed25519_dalek::SigningKey;

use crate::rpc::{
    BlockEntries, BlockError, BlockHeader, BlockRecord, Chain, Commitment, EntryRecord, EpochInfo,
    SignatureStatus, SubmitError, TransactionRecord,
};

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
}

fn block_time_secs(ms: u64) -> Option<i64> {
    i64::try_from(ms / 1000).ok()
}

impl NodeChain {
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

    fn root_bank(&self) -> Arc<Bank> {
        self.forks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .root_bank()
    }

    fn bank(&self, c: Commitment) -> Arc<Bank> {
        match c {
            Commitment::Processed => self.working_bank(),
            Commitment::Confirmed | Commitment::Finalized => self.root_bank(),
        }
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
            match e {
                TxnError::UnsupportedProgram(_)
                | TxnError::UnsupportedInstruction { .. }
                | TxnError::UnsupportedVoteInstruction { .. }
                | TxnError::VersionedMessage => SubmitError::Unsupported(e.to_string()),
                _ => SubmitError::Malformed(e.to_string()),
            }
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
        let working = self.working_bank();
        let root = self.root_bank().slot();
        let out = sigs
            .iter()
            .map(|sig| {
                if let Some((slot, status)) = working.status(sig) {
                    let rooted = slot <= root;
                    return Some(SignatureStatus {
                        slot,
                        confirmations: if rooted { None } else { Some(0) },
                        err: status.err().map(|e| e.to_solana_json()),
                        confirmation_status: if rooted {
                            Commitment::Finalized
                        } else {
                            Commitment::Processed
                        },
                    });
                }
                if !search_history {
                    return None;
                }
                let rec = self.store.tx_status(sig).ok()??;
                Some(SignatureStatus {
                    slot: rec.slot,
                    confirmations: None,
                    err: rec.err.and_then(|t| serde_json::from_str(&t).ok()),
                    confirmation_status: Commitment::Finalized,
                })
            })
            .collect();
        (working.slot(), out)
    }

    fn transaction(&self, sig: &Signature, _c: Commitment) -> Option<TransactionRecord> {
        self.record_of(sig)
    }

    fn block(&self, slot: Slot, _c: Commitment) -> Result<BlockRecord, BlockError> {
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
                .ok_or(BlockError::NotAvailable(slot))?,
        };
        Ok((meta, parent_blockhash))
    }

    /// A slot below the newest stored one without a block was skipped; above it, not yet available.
    fn missing(&self, slot: Slot) -> BlockError {
        match self.store.latest_slot() {
            Ok(Some(latest)) if slot < latest => BlockError::Skipped(slot),
            _ => BlockError::NotAvailable(slot),
        }
    }
}
