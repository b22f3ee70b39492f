//! Start-up from the ledger: rebuild the banks at the stored root (balances, vote states and the
//! root's slot hashes), put back the recent transaction statuses (so replays stay rejected across a
//! restart), and replay every stored block above the root.
//!
//! Replaying a block checks everything a validator will check for a block it receives: the PoH chain
//! (verified in parallel), the tick structure, conflict-free entries, that every transaction is one a
//! leader could include, and finally that the recomputed bank hash equals the stored one.

use std::sync::Arc;

use crate::bank::{genesis_vote_states, Bank, RecentBlock, RootState, TxError, TxExecution};
use crate::bank_forks::BankForks;
use crate::block::decode_entry;
use crate::entry::{check_ticks, verify_entries, Entry};
use crate::genesis::{Genesis, MAX_RECENT_BLOCKHASHES};
use crate::ledger_stage::build_commit;
use crate::sealevel::{replay_entry, Executor};
use crate::sigverify::{verify_txn_cached, KeyCache};
use crate::store::{SlotMeta, Store};
use crate::txn::Txn;
use crate::types::{Hash, Pubkey, Slot};
use crate::vote_state::SLOT_HASHES_MAX;

/// Why the ledger cannot be loaded or a stored block cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// redb failed.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// A stored entry does not decode.
    #[error("slot {slot} entry {index}: {source}")]
    Codec {
        /// The slot.
        slot: Slot,
        /// Entry index.
        index: usize,
        /// Cause.
        source: crate::block::CodecError,
    },
    /// The block's PoH chain does not verify.
    #[error("slot {slot}: {source}")]
    Poh {
        /// The slot.
        slot: Slot,
        /// Cause.
        source: crate::entry::PohVerifyError,
    },
    /// The block's ticks are wrong.
    #[error("slot {slot}: {source}")]
    Ticks {
        /// The slot.
        slot: Slot,
        /// Cause.
        source: crate::entry::TickError,
    },
    /// An entry cannot be executed as stored.
    #[error("slot {slot}: {source}")]
    Execute {
        /// The slot.
        slot: Slot,
        /// Cause (boxed: it carries signatures).
        source: Box<crate::sealevel::ReplayError>,
    },
    /// Re-execution gives another bank hash than the stored one.
    #[error("slot {slot}: replayed bank hash {replayed} differs from stored {stored}")]
    BankHashMismatch {
        /// The slot.
        slot: Slot,
        /// Recomputed.
        replayed: Hash,
        /// Stored.
        stored: Hash,
    },
    /// A stored block's parent is not known.
    #[error("slot {slot}: parent slot {parent} is not a live bank")]
    UnknownParent {
        /// The slot.
        slot: Slot,
        /// Its parent.
        parent: Slot,
    },
    /// The parent cannot take a child (its fork was pruned while the block was checked).
    #[error("slot {slot}: {source}")]
    Parent {
        /// The slot.
        slot: Slot,
        /// Cause.
        source: crate::bank::BankError,
    },
    /// Rooting failed.
    #[error("forks: {0}")]
    Forks(#[from] crate::bank_forks::ForkError),
    /// Building the genesis slot's commit failed.
    #[error("genesis slot: {0}")]
    Ledger(#[from] crate::ledger_stage::LedgerError),
    /// The replayed bank is still referenced by an executor worker.
    #[error("slot {0}: replayed bank still shared after execution")]
    BankShared(Slot),
    /// A transaction signature in a received block does not verify.
    #[error("slot {slot}: entry {entry} transaction {index}: {source}")]
    Signature {
        /// The slot.
        slot: Slot,
        /// Entry position.
        entry: usize,
        /// Transaction position in the entry.
        index: usize,
        /// Cause.
        source: crate::sigverify::SigverifyError,
    },
    /// A signature verification thread panicked.
    #[error("slot {0}: a signature verification thread panicked")]
    VerifierPanicked(Slot),
    /// The stored slot meta of the root is missing.
    #[error("the ledger's root slot {0} has no slot metadata")]
    MissingRootMeta(Slot),
    /// An ancestor of the root, needed for its slot hashes, is not stored.
    #[error(
        "slot {parent}, parent of stored slot {slot} on the root's chain, has no slot metadata"
    )]
    MissingAncestorMeta {
        /// The stored slot.
        slot: Slot,
        /// Its missing parent.
        parent: Slot,
    },
}

/// What start-up found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// The root the node restarted from (0 for a new ledger).
    pub root: Slot,
    /// Blocks above the root that were replayed into the fork tree (unrooted).
    pub replayed: Vec<Slot>,
    /// Transaction statuses put back into the status cache.
    pub statuses_restored: usize,
}

/// Opens the chain state from `store`: a new ledger gets the genesis bank stored as slot 0. Every
/// stored block above the root is replayed into the fork tree in slot order without rooting it (the
/// root moves only by the control plane's command, once the node runs), and a stored block whose
/// parent is not live (a fork pruned by an earlier root) is left out.
pub fn load_cluster(
    genesis: &Genesis,
    store: &Store,
    executor: &mut Executor,
    verify_threads: usize,
) -> Result<(BankForks, LoadReport), ReplayError> {
    let root = match store.root()? {
        Some(root) => root,
        None => {
            store_genesis(genesis, store)?;
            Slot(0)
        }
    };
    let root_meta = store
        .slot_meta(root)?
        .ok_or(ReplayError::MissingRootMeta(root))?;
    let first_recent = Slot(root.0.saturating_sub(MAX_RECENT_BLOCKHASHES + 1));
    let rooted: std::collections::HashSet<Slot> = store
        .rooted_slots(Slot(0)..=root, usize::MAX)?
        .into_iter()
        .collect();
    // Only the rooted chain: a block of an abandoned fork below the root is none of the root
    // bank's history (its blockhash is not recent there and its transactions were not processed).
    let recent_metas: Vec<SlotMeta> = store
        .slots_in_range(first_recent..=root)?
        .into_iter()
        .filter(|m| rooted.contains(&m.slot))
        .collect();
    let total_transaction_count = store.pruned_transaction_count()?
        + store
            .slots_in_range(Slot(0)..=root)?
            .iter()
            .filter(|m| rooted.contains(&m.slot))
            .map(|m| u64::from(m.transaction_count))
            .sum::<u64>();
    let bank = Bank::from_root(RootState {
        slot: root,
        parent_slot: root_meta.parent_slot,
        bank_hash: root_meta.bank_hash,
        blockhash: root_meta.blockhash,
        block_height: root_meta.block_height,
        lamports_per_signature: genesis.lamports_per_signature,
        slots_per_epoch: genesis.slots_per_epoch,
        total_transaction_count,
        accounts: store.load_accounts()?,
        vote_states: store
            .load_vote_states()?
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect(),
        recent_blocks: recent_metas
            .iter()
            .map(|m| RecentBlock {
                slot: m.slot,
                blockhash: m.blockhash,
                block_height: m.block_height,
            })
            .collect(),
        slot_hashes: stored_slot_hashes(store, &root_meta)?,
    });
    let statuses_restored = restore_statuses(&bank, store, &recent_metas)?;
    let mut forks = BankForks::new(bank);
    let mut replayed = Vec::new();
    for slot in store.slots_above_root()? {
        if store.dead_reason(slot)?.is_some() {
            continue;
        }
        match replay_stored_slot(genesis, store, &mut forks, executor, verify_threads, slot) {
            Ok(()) => replayed.push(slot),
            Err(ReplayError::UnknownParent { slot, parent }) => {
                tracing::info!(
                    slot = slot.0,
                    parent = parent.0,
                    "stored block on a pruned fork left out"
                );
            }
            Err(e) => return Err(e),
        }
    }
    Ok((
        forks,
        LoadReport {
            root,
            replayed,
            statuses_restored,
        },
    ))
}

/// Stores slot 0: the genesis bank, its accounts and vote accounts rooted.
fn store_genesis(genesis: &Genesis, store: &Store) -> Result<(), ReplayError> {
    let bank = Bank::genesis(genesis);
    let hash = genesis.hash();
    let mut commit = build_commit(&bank, &[], &[], hash, hash)?;
    commit.meta.block_time_ms = genesis.creation_time_unix_ms;
    commit.account_updates.accounts = genesis
        .accounts
        .iter()
        .map(|a| (a.pubkey, a.lamports))
        .collect();
    commit.account_updates.vote_states = genesis_vote_states(genesis);
    store.commit_slot(&commit)?;
    Ok(())
}

/// The slot hashes of the stored slot `meta`: its chain of stored parents with their bank hashes,
/// newest first, as the live bank had them (at most [`SLOT_HASHES_MAX`]; slot 0 ends the chain).
fn stored_slot_hashes(store: &Store, meta: &SlotMeta) -> Result<Vec<(Slot, Hash)>, ReplayError> {
    let mut out = Vec::with_capacity(SLOT_HASHES_MAX);
    let (mut slot, mut parent) = (meta.slot, meta.parent_slot);
    // Where the ledger was pruned, the history ends: votes for slots that old matter no more.
    let first_kept = store.first_slot()?.unwrap_or(Slot(0));
    while out.len() < SLOT_HASHES_MAX && parent < slot && parent >= first_kept {
        let p = store
            .slot_meta(parent)?
            .ok_or(ReplayError::MissingAncestorMeta { slot, parent })?;
        out.push((p.slot, p.bank_hash));
        (slot, parent) = (p.slot, p.parent_slot);
    }
    Ok(out)
}

/// Puts back the statuses of transactions in the recent rooted blocks.
fn restore_statuses(bank: &Bank, store: &Store, metas: &[SlotMeta]) -> Result<usize, ReplayError> {
    let mut restored = 0;
    for meta in metas {
        for (index, bytes) in store.entries(meta.slot)?.iter().enumerate() {
            let entry = decode_entry(bytes).map_err(|source| ReplayError::Codec {
                slot: meta.slot,
                index,
                source,
            })?;
            for tx in &entry.transactions {
                let sig = tx.signature();
                let status = match store.tx_status_in(meta.slot, &sig)? {
                    Some(rec) => match rec.err {
                        None => Ok(()),
                        Some(text) => Err(serde_json::from_str(&text)
                            .ok()
                            .and_then(|v| TxError::from_solana_json(&v))
                            .unwrap_or(TxError::AlreadyProcessed)),
                    },
                    None => Ok(()),
                };
                if bank.restore_status(&tx.view().recent_blockhash(), &sig, meta.slot, status) {
                    restored += 1;
                }
            }
        }
    }
    Ok(restored)
}

/// Replays one stored block on its parent, checks its bank hash, and adds it to the fork tree.
fn replay_stored_slot(
    genesis: &Genesis,
    store: &Store,
    forks: &mut BankForks,
    executor: &mut Executor,
    verify_threads: usize,
    slot: Slot,
) -> Result<(), ReplayError> {
    let meta = store
        .slot_meta(slot)?
        .ok_or(ReplayError::MissingRootMeta(slot))?;
    let entries = store
        .entries(slot)?
        .iter()
        .enumerate()
        .map(|(index, b)| {
            decode_entry(b).map_err(|source| ReplayError::Codec {
                slot,
                index,
                source,
            })
        })
        .collect::<Result<Vec<Entry>, _>>()?;
    let parent = forks
        .get(meta.parent_slot)
        .ok_or(ReplayError::UnknownParent {
            slot,
            parent: meta.parent_slot,
        })?;
    let claim = BlockClaim {
        slot,
        leader: meta.leader,
        bank_hash: meta.bank_hash,
    };
    let (bank, _) = replay_block(
        genesis,
        &parent,
        &claim,
        &entries,
        executor,
        verify_threads,
        SignatureCheck::Trusted,
    )?;
    forks.insert(bank)?;
    tracing::info!(slot = slot.0, "replayed stored block above the root");
    Ok(())
}

/// What a block claims, to be checked by replaying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockClaim {
    /// The slot the block fills.
    pub slot: Slot,
    /// The leader that produced it (collects its fees).
    pub leader: Pubkey,
    /// The bank hash the leader reached.
    pub bank_hash: Hash,
}

/// Whether replay checks transaction signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A block from the network: every signature is checked.
    Verify,
    /// A block from our own ledger: checked before it was stored.
    Trusted,
}

/// Verifies and re-executes a block on `parent`, returning its frozen bank and each transaction's
/// outcome when the bank hash matches the claim. Checks run cheapest first: ticks, PoH, signatures,
/// then execution.
pub fn replay_block(
    genesis: &Genesis,
    parent: &Arc<Bank>,
    claim: &BlockClaim,
    entries: &[Entry],
    executor: &mut Executor,
    verify_threads: usize,
    signatures: SignatureCheck,
) -> Result<(Bank, Vec<TxExecution>), ReplayError> {
    let slot = claim.slot;
    let start = parent
        .blockhash()
        .unwrap_or_else(|| parent.last_blockhash());
    // Ticks first: they bound the hashing work that PoH verification then spends.
    let ticks = (slot.0.saturating_sub(parent.slot().0)).saturating_mul(genesis.ticks_per_slot);
    check_ticks(entries, ticks, genesis.hashes_per_tick)
        .map_err(|source| ReplayError::Ticks { slot, source })?;
    verify_entries(&start, entries, verify_threads)
        .map_err(|source| ReplayError::Poh { slot, source })?;
    if signatures == SignatureCheck::Verify {
        verify_block_signatures(slot, entries, verify_threads)?;
    }
    let bank = Bank::try_new_child(parent, slot, claim.leader)
        .map_err(|source| ReplayError::Parent { slot, source })?;
    let bank = Arc::new(bank);
    let mut executions = Vec::new();
    for e in entries.iter().filter(|e| !e.is_tick()) {
        let txs = Arc::new(e.transactions.clone());
        let outcomes =
            replay_entry(&bank, executor, &txs).map_err(|source| ReplayError::Execute {
                slot,
                source: Box::new(source),
            })?;
        executions.extend(outcomes);
    }
    let blockhash = entries.last().map(|e| e.hash).unwrap_or(start);
    let replayed = bank.freeze(blockhash);
    if replayed != claim.bank_hash {
        return Err(ReplayError::BankHashMismatch {
            slot,
            replayed,
            stored: claim.bank_hash,
        });
    }
    let bank = Arc::try_unwrap(bank).map_err(|_| ReplayError::BankShared(slot))?;
    Ok((bank, executions))
}

/// Checks every transaction signature of a received block with `verify_strict`, on `threads` threads.
pub fn verify_block_signatures(
    slot: Slot,
    entries: &[Entry],
    threads: usize,
) -> Result<(), ReplayError> {
    let txs: Vec<(usize, usize, &Txn)> = entries
        .iter()
        .enumerate()
        .flat_map(|(ei, e)| {
            e.transactions
                .iter()
                .enumerate()
                .map(move |(ti, t)| (ei, ti, t))
        })
        .collect();
    let check = |part: &[(usize, usize, &Txn)]| -> Result<(), ReplayError> {
        let mut keys = KeyCache::new();
        for &(entry, index, t) in part {
            verify_txn_cached(&t.view(), &mut keys).map_err(|source| ReplayError::Signature {
                slot,
                entry,
                index,
                source,
            })?;
        }
        Ok(())
    };
    let threads = threads.clamp(1, 64);
    if threads == 1 || txs.len() < 64 {
        return check(&txs);
    }
    let chunk = txs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = txs
            .chunks(chunk)
            .skip(1)
            .map(|part| s.spawn(move || check(part)))
            .collect();
        // The calling thread takes the first chunk itself.
        let first = check(&txs[..chunk.min(txs.len())]);
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(ReplayError::VerifierPanicked(slot))))
            .fold(first, |acc, r| acc.and(r))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::{GenesisAccount, GenesisValidator};
    use crate::ledger_stage::build_commit;
    use crate::poh::Poh;
    use crate::txn::{build_transfer, Txn};
    use crate::types::Pubkey;
    use crate::vote_state::VoteState;
    use ed25519_dalek::SigningKey;

    const HASHES_PER_TICK: u64 = 8;
    const TICKS_PER_SLOT: u64 = 4;

    fn genesis(payer: &SigningKey) -> Genesis {
        Genesis {
            cluster_name: "replay-test".into(),
            creation_time_unix_ms: 1,
            ticks_per_slot: TICKS_PER_SLOT,
            hashes_per_tick: HASHES_PER_TICK,
            slot_duration_ms: 400,
            lamports_per_signature: 5_000,
            slots_per_epoch: 432_000,
            validators: vec![GenesisValidator {
                identity: Pubkey([1; 32]),
                stake: 1,
            }],
            accounts: vec![GenesisAccount {
                pubkey: Pubkey(payer.verifying_key().to_bytes()),
                lamports: 1_000_000,
            }],
        }
    }

    /// Produces slot 1 on the genesis bank the way a leader does: execute, record into PoH, commit,
    /// tick to the end, freeze.
    fn produce_slot_one(g: &Genesis, payer: &SigningKey) -> (Arc<Bank>, Vec<Entry>) {
        let txs =
            vec![Txn::parse(&build_transfer(payer, &Pubkey([9; 32]), 1_234, &g.hash())).unwrap()];
        produce_slot_one_with(g, txs)
    }

    /// Produces slot 1 holding `txs` in one entry.
    fn produce_slot_one_with(g: &Genesis, txs: Vec<Txn>) -> (Arc<Bank>, Vec<Entry>) {
        let (bank, entries) = produce_on(&Arc::new(Bank::genesis(g)), 1, txs);
        (Arc::new(bank), entries)
    }

    /// Produces block `slot` holding `txs` on `parent` as a leader does (one entry, then the
    /// ticks of every slot since the parent).
    fn produce_on(parent: &Arc<Bank>, slot: u64, txs: Vec<Txn>) -> (Bank, Vec<Entry>) {
        let bank = Bank::new_child(parent, Slot(slot), Pubkey([1; 32]));
        let start = parent
            .blockhash()
            .unwrap_or_else(|| parent.last_blockhash());
        let mut poh = Poh::new(start, HASHES_PER_TICK);
        let mut entries = Vec::new();
        if !txs.is_empty() {
            let txs = Arc::new(txs);
            let executed = bank.execute(&txs);
            poh.hash(3);
            let rec = poh
                .record(crate::entry::hash_signatures(&txs))
                .expect("room in the tick");
            bank.commit(&txs, &executed).unwrap();
            entries.push(Entry {
                num_hashes: rec.num_hashes,
                hash: rec.hash,
                transactions: txs.to_vec(),
            });
        }
        for _ in 0..(slot - parent.slot().0) * TICKS_PER_SLOT {
            poh.hash(u64::MAX);
            let t = poh.tick().unwrap();
            entries.push(Entry {
                num_hashes: t.num_hashes,
                hash: t.hash,
                transactions: vec![],
            });
        }
        bank.freeze(entries.last().unwrap().hash);
        (bank, entries)
    }

    fn store_unrooted(store: &Store, bank: &Bank, entries: &[Entry]) {
        let mut commit = build_commit(
            bank,
            entries,
            &[],
            bank.blockhash().unwrap(),
            bank.bank_hash().unwrap(),
        )
        .unwrap();
        commit.root = false;
        store.commit_slot(&commit).unwrap();
    }

    #[test]
    fn a_transaction_of_an_abandoned_fork_below_the_root_does_not_block_its_replay_above_it() {
        // Slot 1 (abandoned, block height 1) and slot 4 (on the rooted chain 0-2-3) carry the same
        // transfer, as a client's resend lands it again on the fork the cluster chose. A restart
        // must replay 4: only the rooted chain's statuses and blockhashes are the root bank's, even
        // for a slot below the root's block height.
        let payer = SigningKey::from_bytes(&[5; 32]);
        let g = genesis(&payer);
        let transfer =
            || Txn::parse(&build_transfer(&payer, &Pubkey([9; 32]), 1_234, &g.hash())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let b4 = {
            let store = Store::open(dir.path(), g.hash()).unwrap();
            let mut exec = Executor::new(0);
            let (mut forks, _) = load_cluster(&g, &store, &mut exec, 1).unwrap();
            let genesis_bank = forks.root_bank();
            let (b1, e1) = produce_on(&genesis_bank, 1, vec![transfer()]);
            let (b2, e2) = produce_on(&genesis_bank, 2, vec![]);
            store_unrooted(&store, &b1, &e1);
            store_unrooted(&store, &b2, &e2);
            forks.insert(b1).unwrap();
            let b2 = forks.insert(b2).unwrap();
            let (b3, e3) = produce_on(&b2, 3, vec![]);
            store_unrooted(&store, &b3, &e3);
            let b3 = forks.insert(b3).unwrap();
            set_root(&mut forks, &store, Slot(3));
            assert!(!store.is_rooted(Slot(1)).unwrap());
            let (b4, e4) = produce_on(&b3, 4, vec![transfer()]);
            store_unrooted(&store, &b4, &e4);
            b4
        };
        let store = Store::open(dir.path(), g.hash()).unwrap();
        let mut exec = Executor::new(0);
        let (forks, report) = load_cluster(&g, &store, &mut exec, 1).unwrap();
        assert_eq!(report.root, Slot(3));
        assert_eq!(report.replayed, vec![Slot(4)]);
        assert_eq!(forks.get(Slot(4)).unwrap().bank_hash(), b4.bank_hash());
        // Nor are the abandoned slot's transactions counted: the rooted chain holds none.
        assert_eq!(forks.root_bank().total_transaction_count(), 0);
    }

    /// Roots `slot` as the ledger stage does on a `SetRoot` command: storage first, then the forks.
    fn set_root(forks: &mut BankForks, store: &Store, slot: Slot) {
        let updates = forks.root_updates(slot).unwrap();
        store.set_root(slot, &updates).unwrap();
        forks.apply_root(slot, &updates).unwrap();
    }

    #[test]
    fn restart_replays_a_stored_unrooted_block_and_leaves_it_unrooted() {
        let payer = SigningKey::from_bytes(&[5; 32]);
        let g = genesis(&payer);
        let dir = tempfile::tempdir().unwrap();
        let (bank, entries) = produce_slot_one(&g, &payer);
        {
            let store = Store::open(dir.path(), g.hash()).unwrap();
            let mut exec = Executor::new(0);
            let (_forks, report) = load_cluster(&g, &store, &mut exec, 1).unwrap();
            assert_eq!(report.root, Slot(0));
            // Stored, not rooted: as a crash between storing a block and rooting it leaves it.
            let mut commit = build_commit(
                &bank,
                &entries,
                &[],
                bank.blockhash().unwrap(),
                bank.bank_hash().unwrap(),
            )
            .unwrap();
            commit.root = false;
            store.commit_slot(&commit).unwrap();
            assert_eq!(store.slots_above_root().unwrap(), vec![Slot(1)]);
        }
        let store = Store::open(dir.path(), g.hash()).unwrap();
        let mut exec = Executor::new(0);
        let (mut forks, report) = load_cluster(&g, &store, &mut exec, 2).unwrap();
        assert_eq!(report.replayed, vec![Slot(1)]);
        // Start-up never roots: the control plane decides.
        assert_eq!(forks.root(), Slot(0));
        assert_eq!(forks.get(Slot(1)).unwrap().bank_hash(), bank.bank_hash());
        assert_eq!(store.root().unwrap(), Some(Slot(0)));
        assert_eq!(store.account(&Pubkey([9; 32])).unwrap(), None);
        set_root(&mut forks, &store, Slot(1));
        assert_eq!(forks.root_bank().bank_hash(), bank.bank_hash());
        assert_eq!(store.root().unwrap(), Some(Slot(1)));
        assert_eq!(store.account(&Pubkey([9; 32])).unwrap(), Some(1_234));
        assert_eq!(store.total_supply().unwrap(), 1_000_000);
    }

    #[test]
    fn rooted_vote_states_survive_a_restart() {
        use crate::bank::vote_tests::{vote_txn, voters_genesis};
        use crate::vote::vote_account_address;
        let voter = SigningKey::from_bytes(&[8; 32]);
        let g = Genesis {
            ticks_per_slot: TICKS_PER_SLOT,
            hashes_per_tick: HASHES_PER_TICK,
            ..voters_genesis(&[&voter])
        };
        let identity = Pubkey(voter.verifying_key().to_bytes());
        let account = vote_account_address(&identity);
        let vote = vote_txn(&voter, &account, None, &[(0, 1)], g.hash(), &g.hash());
        let (bank, entries) = produce_slot_one_with(&g, vec![vote]);
        let voted = bank.vote_state(&account).expect("vote account");
        assert_eq!(voted.last_voted_slot(), Some(Slot(0)));
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), g.hash()).unwrap();
            let mut exec = Executor::new(0);
            let (forks, _) = load_cluster(&g, &store, &mut exec, 1).unwrap();
            // Genesis stored its vote account.
            assert_eq!(
                store.vote_state(&account).unwrap(),
                Some(VoteState::new(identity, identity))
            );
            assert_eq!(forks.root_bank().vote_accounts().len(), 1);
            let mut commit = build_commit(
                &bank,
                &entries,
                &[],
                bank.blockhash().unwrap(),
                bank.bank_hash().unwrap(),
            )
            .unwrap();
            commit.root = false;
            store.commit_slot(&commit).unwrap();
        }
        // The first restart replays slot 1 (the vote reaches the stored bank hash); it is then
        // rooted as a SetRoot command would.
        {
            let store = Store::open(dir.path(), g.hash()).unwrap();
            let mut exec = Executor::new(0);
            let (mut forks, report) = load_cluster(&g, &store, &mut exec, 1).unwrap();
            assert_eq!(report.replayed, vec![Slot(1)]);
            set_root(&mut forks, &store, Slot(1));
            assert_eq!(forks.root_bank().vote_state(&account), Some(voted.clone()));
            assert_eq!(store.vote_state(&account).unwrap().as_ref(), Some(&*voted));
        }
        // The second finds it rooted in redb, with the root's slot hashes to take the next vote.
        let store = Store::open(dir.path(), g.hash()).unwrap();
        let mut exec = Executor::new(0);
        let (forks, report) = load_cluster(&g, &store, &mut exec, 1).unwrap();
        assert!(report.replayed.is_empty());
        let root = forks.root_bank();
        assert_eq!(root.slot(), Slot(1));
        assert_eq!(root.vote_state(&account), Some(voted));
        assert_eq!(root.slot_hashes(), bank.slot_hashes());
        let two = Arc::new(Bank::new_child(&root, Slot(2), identity));
        let next = vote_txn(
            &voter,
            &account,
            None,
            &[(0, 2), (1, 1)],
            bank.bank_hash().unwrap(),
            &g.hash(),
        );
        let executed = two.execute(std::slice::from_ref(&next));
        assert_eq!(executed.executions()[0].status, Ok(()));
    }

    #[test]
    fn a_tampered_stored_block_is_refused_on_replay() {
        let payer = SigningKey::from_bytes(&[6; 32]);
        let g = genesis(&payer);
        let dir = tempfile::tempdir().unwrap();
        let (bank, mut entries) = produce_slot_one(&g, &payer);
        let store = Store::open(dir.path(), g.hash()).unwrap();
        let mut exec = Executor::new(0);
        load_cluster(&g, &store, &mut exec, 1).unwrap();
        // A tick whose hash was altered breaks the PoH chain (the tick structure is intact).
        entries[1].hash.0[0] ^= 1;
        let mut commit = build_commit(
            &bank,
            &entries,
            &[],
            bank.blockhash().unwrap(),
            bank.bank_hash().unwrap(),
        )
        .unwrap();
        commit.root = false;
        store.commit_slot(&commit).unwrap();
        let err = load_cluster(&g, &store, &mut exec, 1).unwrap_err();
        assert!(
            matches!(err, ReplayError::Poh { slot: Slot(1), .. }),
            "{err}"
        );
    }
}
