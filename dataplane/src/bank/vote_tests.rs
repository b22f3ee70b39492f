//! Votes executed by banks: genesis vote accounts, the vote program's outcomes, vote state deltas in
//! the bank hash, replay, and rooting.

use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};

use super::tests::{addr, genesis, key, run_serial, transfer, FEE};
use super::*;
use crate::account_locks::first_lock_conflict;
use crate::bank_forks::BankForks;
use crate::genesis::GenesisValidator;
use crate::sealevel::{replay_entry, Executor};
use crate::vote::{build_vote_txn, vote_account_address, Lockout, TowerSync, VoteInstruction};
use crate::vote_state::VoteErrorCode;

/// A vote by `voter` (its identity signs and pays) on `vote_account`, for `votes` with `root`,
/// naming `hash` as the newest voted slot's bank hash, signed against `blockhash`.
pub(crate) fn vote_txn(
    voter: &SigningKey,
    vote_account: &Pubkey,
    root: Option<u64>,
    votes: &[(u64, u32)],
    hash: Hash,
    blockhash: &Hash,
) -> Txn {
    let tower = TowerSync {
        lockouts: votes
            .iter()
            .map(|&(s, c)| Lockout {
                slot: Slot(s),
                confirmation_count: c,
            })
            .collect(),
        root: root.map(Slot),
        hash,
        timestamp: Some(1_700_000_000),
        block_id: Hash([0xB1; 32]),
    };
    let wire = build_vote_txn(
        &addr(voter),
        vote_account,
        &VoteInstruction::TowerSync(tower),
        blockhash,
        |m| voter.sign(m).to_bytes(),
    );
    Txn::parse(&wire).expect("valid vote")
}

/// A genesis whose validators are `voters`, each funded for fees.
pub(crate) fn voters_genesis(voters: &[&SigningKey]) -> Genesis {
    let funded: Vec<(Pubkey, Lamports)> = voters.iter().map(|k| (addr(k), 100 * FEE)).collect();
    Genesis {
        validators: voters
            .iter()
            .map(|k| GenesisValidator {
                identity: addr(k),
                stake: 1,
            })
            .collect(),
        ..genesis(&funded)
    }
}

fn child(parent: &Arc<Bank>, slot: u64) -> Arc<Bank> {
    Arc::new(Bank::new_child(parent, Slot(slot), Pubkey([0xC0; 32])))
}

fn slot_one(g: &Genesis) -> (Arc<Bank>, Arc<Bank>) {
    let root = Arc::new(Bank::genesis(g));
    let one = child(&root, 1);
    one.freeze(Hash([1; 32]));
    (root, one)
}

fn vote_error(code: VoteErrorCode) -> TxStatus {
    Err(TxError::InstructionError {
        index: 0,
        kind: InstructionErrorKind::Vote(code),
    })
}

#[test]
fn genesis_creates_a_vote_account_per_validator() {
    let (a, b) = (key(11), key(12));
    let g = voters_genesis(&[&a, &b]);
    let bank = Bank::genesis(&g);
    let accounts = bank.vote_accounts();
    assert_eq!(accounts.len(), 2);
    assert!(accounts.windows(2).all(|w| w[0].0 < w[1].0));
    for k in [&a, &b] {
        let state = bank
            .vote_state(&vote_account_address(&addr(k)))
            .expect("vote account");
        assert_eq!(*state, VoteState::new(addr(k), addr(k)));
    }
    // A vote account holds no lamports: the supply is the funded accounts'.
    assert_eq!(bank.total_supply(), g.total_supply());
    assert!(bank.vote_delta().is_empty());
}

#[test]
fn a_vote_updates_its_account_on_this_fork_only_and_enters_the_bank_hash() {
    let voter = key(11);
    let g = voters_genesis(&[&voter]);
    let (_root, one) = slot_one(&g);
    let account = vote_account_address(&addr(&voter));
    let two = child(&one, 2);
    assert_eq!(
        two.slot_hashes(),
        &[(Slot(1), one.bank_hash().unwrap()), (Slot(0), g.hash())]
    );
    let tx = vote_txn(
        &voter,
        &account,
        None,
        &[(0, 2), (1, 1)],
        one.bank_hash().unwrap(),
        &g.hash(),
    );
    let batch = two.execute(std::slice::from_ref(&tx));
    let e = &batch.executions()[0];
    assert_eq!(e.status, Ok(()));
    assert_eq!(e.fee, FEE);
    assert_eq!(e.pre_balances(), &[100 * FEE, 0, 0]);
    assert_eq!(e.post_balances(), &[99 * FEE, 0, 0]);
    // Nothing is written before the commit.
    assert!(two.vote_delta().is_empty());
    two.commit(std::slice::from_ref(&tx), &batch).unwrap();
    let state = two.vote_state(&account).unwrap();
    assert_eq!(state.last_voted_slot(), Some(Slot(1)));
    assert_eq!(state.last_timestamp, Some((Slot(1), 1_700_000_000)));
    assert_eq!(two.vote_delta(), vec![(account, state.clone())]);
    assert_eq!(two.vote_accounts(), vec![(account, state.clone())]);
    // The parent and a sibling fork still see the genesis state.
    assert_eq!(one.vote_state(&account).unwrap().votes, vec![]);
    let sibling = child(&one, 3);
    assert_eq!(sibling.vote_state(&account).unwrap().votes, vec![]);

    let blockhash = Hash([2; 32]);
    let bank_hash = two.freeze(blockhash);
    let mut vote_bytes = account.as_bytes().to_vec();
    vote_bytes.extend(state.to_bytes());
    let vote_delta_hash = Hash::of(&vote_bytes);
    assert_eq!(two.vote_delta_hash(), Some(vote_delta_hash));
    let expected = Hash::hashv(&[
        one.bank_hash().unwrap().as_bytes(),
        two.accounts_delta_hash().unwrap().as_bytes(),
        vote_delta_hash.as_bytes(),
        &1u64.to_le_bytes(),
        blockhash.as_bytes(),
    ]);
    assert_eq!(bank_hash, expected);
    // A later vote builds on the state this slot wrote.
    let three = child(&two, 3);
    let next = vote_txn(
        &voter,
        &account,
        None,
        &[(0, 3), (1, 2), (2, 1)],
        bank_hash,
        &g.hash(),
    );
    assert_eq!(run_serial(&three, &[next]), vec![Ok(())]);
    assert_eq!(
        three.vote_state(&account).unwrap().last_voted_slot(),
        Some(Slot(2))
    );
}

#[test]
fn a_replaying_validator_reaches_the_leaders_bank_hash() {
    let (voter, other, stranger) = (key(11), key(12), key(13));
    let mut g = voters_genesis(&[&voter, &other]);
    g.accounts.push(crate::genesis::GenesisAccount {
        pubkey: addr(&stranger),
        lamports: 10 * FEE,
    });
    let (_root, one) = slot_one(&g);
    let hash = one.bank_hash().unwrap();
    let txs = Arc::new(vec![
        vote_txn(
            &voter,
            &vote_account_address(&addr(&voter)),
            None,
            &[(1, 1)],
            hash,
            &g.hash(),
        ),
        vote_txn(
            &other,
            &vote_account_address(&addr(&other)),
            None,
            &[(0, 2), (1, 1)],
            hash,
            &g.hash(),
        ),
        // A refused vote is part of the block as well.
        vote_txn(
            &stranger,
            &Pubkey([0x77; 32]),
            None,
            &[(1, 1)],
            hash,
            &g.hash(),
        ),
    ]);
    // The leader: execute, (record), commit, freeze.
    let leader = child(&one, 2);
    let executed = leader.execute(&txs);
    leader.commit(&txs, &executed).unwrap();
    let blockhash = Hash([2; 32]);
    let leader_hash = leader.freeze(blockhash);
    assert_eq!(leader.vote_delta().len(), 2);
    // Another validator, with banks of its own, replays the same entry for slot 2.
    let (_its_root, its_one) = slot_one(&g);
    assert_eq!(its_one.bank_hash(), Some(hash));
    let replayer = child(&its_one, 2);
    let mut exec = Executor::new(1);
    let outcomes = replay_entry(&replayer, &mut exec, &txs).unwrap();
    assert_eq!(outcomes, executed.executions().to_vec());
    assert_eq!(replayer.freeze(blockhash), leader_hash);
    assert_eq!(replayer.vote_accounts(), leader.vote_accounts());
}

#[test]
fn refused_votes_pay_the_fee_and_say_why_as_solana_does() {
    let (voter, stranger) = (key(11), key(12));
    let mut g = voters_genesis(&[&voter]);
    g.accounts.push(crate::genesis::GenesisAccount {
        pubkey: addr(&stranger),
        lamports: 10 * FEE,
    });
    let (_root, one) = slot_one(&g);
    let account = vote_account_address(&addr(&voter));
    let hash = one.bank_hash().unwrap();
    let two = child(&one, 2);
    let txs = [
        // No vote account at that address.
        vote_txn(
            &voter,
            &Pubkey([0x77; 32]),
            None,
            &[(1, 1)],
            hash,
            &g.hash(),
        ),
        // Signed by someone other than the authorized voter.
        vote_txn(&stranger, &account, None, &[(1, 1)], hash, &g.hash()),
        // The wrong bank hash for slot 1.
        vote_txn(&voter, &account, None, &[(1, 1)], Hash([9; 32]), &g.hash()),
        // Slot 2 is the executing bank, no ancestor.
        vote_txn(&voter, &account, None, &[(2, 1)], hash, &g.hash()),
    ];
    let statuses = run_serial(&two, &txs);
    assert_eq!(
        statuses,
        vec![
            Err(TxError::InstructionError {
                index: 0,
                kind: InstructionErrorKind::InvalidAccountOwner
            }),
            Err(TxError::InstructionError {
                index: 0,
                kind: InstructionErrorKind::MissingRequiredSignature
            }),
            vote_error(VoteErrorCode::SlotHashMismatch),
            vote_error(VoteErrorCode::SlotsMismatch),
        ]
    );
    // Every one was included and paid its fee; the account did not change.
    assert_eq!(two.transaction_count(), 4);
    // Votes, even refused ones, are not counted as non-vote transactions; a child's transfer is.
    assert_eq!(two.non_vote_transaction_count_since_restart(), 0);
    two.freeze(Hash([2; 32]));
    let three = child(&two, 3);
    run_serial(&three, &[transfer(&stranger, &addr(&voter), 1, &g.hash())]);
    assert_eq!(three.non_vote_transaction_count_since_restart(), 1);
    assert_eq!(three.total_transaction_count(), 5);
    assert_eq!(two.balance(&addr(&voter)), 97 * FEE);
    assert_eq!(two.balance(&addr(&stranger)), 9 * FEE);
    assert!(two.vote_delta().is_empty());
    // RPC shows what Solana shows, and a restart reads it back.
    let json = statuses[2].unwrap_err().to_solana_json();
    assert_eq!(
        json,
        serde_json::json!({ "InstructionError": [0, { "Custom": 2 }] })
    );
    assert_eq!(
        TxError::from_solana_json(&json),
        Some(statuses[2].unwrap_err())
    );
    let owner = statuses[0].unwrap_err().to_solana_json();
    assert_eq!(
        owner,
        serde_json::json!({ "InstructionError": [0, "InvalidAccountOwner"] })
    );
    assert_eq!(
        TxError::from_solana_json(&owner),
        Some(statuses[0].unwrap_err())
    );
    assert!(statuses[2]
        .unwrap_err()
        .to_string()
        .contains("SlotHashMismatch"));
    // A voter that cannot pay the fee is not included at all.
    let broke = key(14);
    let g2 = Genesis {
        accounts: vec![],
        ..voters_genesis(&[&broke])
    };
    let (_r, one2) = slot_one(&g2);
    let two2 = child(&one2, 2);
    let tx = vote_txn(
        &broke,
        &vote_account_address(&addr(&broke)),
        None,
        &[(1, 1)],
        one2.bank_hash().unwrap(),
        &g2.hash(),
    );
    assert_eq!(
        run_serial(&two2, &[tx]),
        vec![Err(TxError::InsufficientFundsForFee)]
    );
}

#[test]
fn two_votes_for_one_account_never_share_a_batch() {
    let voter = key(11);
    let g = voters_genesis(&[&voter]);
    let (_root, one) = slot_one(&g);
    let account = vote_account_address(&addr(&voter));
    let hash = one.bank_hash().unwrap();
    let a = vote_txn(&voter, &account, None, &[(1, 1)], hash, &g.hash());
    let b = vote_txn(&voter, &account, None, &[(0, 2), (1, 1)], hash, &g.hash());
    assert_eq!(first_lock_conflict(&[a.clone(), b.clone()]), Some(1));
    // Run one after the other, the second sees the first's tower and is too old.
    let two = child(&one, 2);
    assert_eq!(
        run_serial(&two, &[a, b]),
        vec![Ok(()), vote_error(VoteErrorCode::VoteTooOld)]
    );
    // Votes of two validators share a batch: each writes only its own account.
    let other = key(12);
    let c = vote_txn(
        &other,
        &vote_account_address(&addr(&other)),
        None,
        &[(1, 1)],
        hash,
        &g.hash(),
    );
    let d = vote_txn(&voter, &account, None, &[(1, 1)], hash, &g.hash());
    assert_eq!(first_lock_conflict(&[c, d]), None);
    // A transfer from the voter's identity does conflict with its vote (both write the payer).
    let t = transfer(&voter, &Pubkey([5; 32]), 1, &g.hash());
    let v = vote_txn(&voter, &account, None, &[(1, 1)], hash, &g.hash());
    assert_eq!(first_lock_conflict(&[v, t]), Some(1));
}

#[test]
fn rooting_squashes_vote_states_for_storage() {
    let (voter, other) = (key(11), key(12));
    let g = voters_genesis(&[&voter, &other]);
    let mut forks = BankForks::new(Bank::genesis(&g));
    let one = forks
        .new_child(Slot(0), Slot(1), Pubkey::default())
        .unwrap();
    let account = vote_account_address(&addr(&voter));
    let tx = vote_txn(&voter, &account, None, &[(0, 1)], g.hash(), &g.hash());
    assert_eq!(run_serial(&one, std::slice::from_ref(&tx)), vec![Ok(())]);
    one.freeze(Hash([1; 32]));
    let two = forks
        .new_child(Slot(1), Slot(2), Pubkey::default())
        .unwrap();
    let tx = vote_txn(
        &voter,
        &account,
        None,
        &[(0, 2), (1, 1)],
        one.bank_hash().unwrap(),
        &g.hash(),
    );
    assert_eq!(run_serial(&two, std::slice::from_ref(&tx)), vec![Ok(())]);
    two.freeze(Hash([2; 32]));
    let newest = two.vote_state(&account).unwrap();
    let updates = forks.root_updates(Slot(2)).unwrap();
    // Only the newest state of the one account that voted.
    assert_eq!(updates.vote_states, vec![(account, newest.clone())]);
    assert_eq!(forks.set_root(Slot(2)).unwrap(), updates);
    let root = forks.root_bank();
    assert_eq!(root.vote_state(&account), Some(newest));
    assert_eq!(root.vote_accounts().len(), 2);
    // Its children take votes on the rooted chain.
    let three = forks
        .new_child(Slot(2), Slot(3), Pubkey::default())
        .unwrap();
    let tx = vote_txn(
        &voter,
        &account,
        None,
        &[(0, 3), (1, 2), (2, 1)],
        two.bank_hash().unwrap(),
        &g.hash(),
    );
    assert_eq!(run_serial(&three, &[tx]), vec![Ok(())]);
}
