//! Tests of the ledger rules, forks and roots; the helpers are shared with Sealevel's tests.

use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};

use super::*;
use crate::bank_forks::{BankForks, ForkError, RootUpdates};
use crate::genesis::{
    GenesisAccount, GenesisValidator, DEFAULT_LAMPORTS_PER_SIGNATURE, DEFAULT_SLOTS_PER_EPOCH,
    DEFAULT_TICKS_PER_SLOT, LOCALNET_HASHES_PER_TICK,
};
use crate::metrics::Reject;
use crate::txn::{build_transfer, build_transfer_v0, write_compact_u16};

pub(crate) const FEE: Lamports = DEFAULT_LAMPORTS_PER_SIGNATURE;

/// A deterministic signing key.
pub(crate) fn key(seed: u64) -> SigningKey {
    let mut b = [7u8; 32];
    b[..8].copy_from_slice(&seed.to_le_bytes());
    SigningKey::from_bytes(&b)
}

/// The address of `k`.
pub(crate) fn addr(k: &SigningKey) -> Pubkey {
    Pubkey(k.verifying_key().to_bytes())
}

/// A genesis funding `accounts`.
pub(crate) fn genesis(accounts: &[(Pubkey, Lamports)]) -> Genesis {
    Genesis {
        cluster_name: "bank-tests".into(),
        creation_time_unix_ms: 0,
        ticks_per_slot: DEFAULT_TICKS_PER_SLOT,
        hashes_per_tick: LOCALNET_HASHES_PER_TICK,
        slot_duration_ms: 400,
        lamports_per_signature: FEE,
        slots_per_epoch: DEFAULT_SLOTS_PER_EPOCH,
        validators: vec![GenesisValidator {
            identity: Pubkey([0xEE; 32]),
            stake: 1,
        }],
        accounts: accounts
            .iter()
            .map(|(pubkey, lamports)| GenesisAccount {
                pubkey: *pubkey,
                lamports: *lamports,
            })
            .collect(),
    }
}

/// A signed one-transfer transaction.
pub(crate) fn transfer(from: &SigningKey, to: &Pubkey, lamports: Lamports, bh: &Hash) -> Txn {
    Txn::parse(&build_transfer(from, to, lamports, bh)).expect("valid transfer")
}

/// A signed transaction with one transfer from the payer per `(destination, lamports)`.
pub(crate) fn multi_transfer(from: &SigningKey, to: &[(Pubkey, Lamports)], bh: &Hash) -> Txn {
    let mut msg = vec![1, 0, 1];
    write_compact_u16(&mut msg, (to.len() + 2) as u16);
    msg.extend_from_slice(addr(from).as_bytes());
    for (k, _) in to {
        msg.extend_from_slice(k.as_bytes());
    }
    msg.extend_from_slice(Pubkey::SYSTEM_PROGRAM.as_bytes());
    msg.extend_from_slice(bh.as_bytes());
    write_compact_u16(&mut msg, to.len() as u16);
    let program = (to.len() + 1) as u8;
    for (i, (_, lamports)) in to.iter().enumerate() {
        msg.push(program);
        write_compact_u16(&mut msg, 2);
        msg.extend_from_slice(&[0, (i + 1) as u8]);
        write_compact_u16(&mut msg, 12);
        msg.extend_from_slice(&2u32.to_le_bytes());
        msg.extend_from_slice(&lamports.to_le_bytes());
    }
    let mut wire = vec![1];
    wire.extend_from_slice(&from.sign(&msg).to_bytes());
    wire.extend_from_slice(&msg);
    Txn::parse(&wire).expect("valid multi-transfer")
}

/// A transfer from `payer` with a made-up (unique per `id`) signature: the bank never verifies
/// signatures (sigverify does, upstream), so throughput tests skip the slow signing.
pub(crate) fn unsigned_transfer(
    payer: &Pubkey,
    to: &Pubkey,
    lamports: Lamports,
    bh: &Hash,
    id: u64,
) -> Txn {
    let mut wire = vec![1];
    let mut sig = [0x5A; 64];
    sig[..8].copy_from_slice(&id.to_le_bytes());
    wire.extend_from_slice(&sig);
    wire.extend_from_slice(&[1, 0, 1]);
    write_compact_u16(&mut wire, 3);
    for k in [payer, to, &Pubkey::SYSTEM_PROGRAM] {
        wire.extend_from_slice(k.as_bytes());
    }
    wire.extend_from_slice(bh.as_bytes());
    wire.extend_from_slice(&[1, 2, 2, 0, 1, 12]);
    wire.extend_from_slice(&2u32.to_le_bytes());
    wire.extend_from_slice(&lamports.to_le_bytes());
    Txn::parse(&wire).expect("valid transfer")
}

/// [`unsigned_transfer`] after a Compute Budget `SetComputeUnitPrice(price)` (and the default limit
/// of 6,000 units): a paying transfer for the scheduler's and the banking stage's tests.
pub(crate) fn unsigned_priced_transfer(
    payer: &Pubkey,
    to: &Pubkey,
    lamports: Lamports,
    bh: &Hash,
    id: u64,
    price: u64,
) -> Txn {
    use crate::compute_budget::{ComputeBudgetInstruction, COMPUTE_BUDGET_PROGRAM_ID};
    let mut wire = vec![1];
    let mut sig = [0xA5; 64];
    sig[..8].copy_from_slice(&id.to_le_bytes());
    wire.extend_from_slice(&sig);
    wire.extend_from_slice(&[1, 0, 2]);
    write_compact_u16(&mut wire, 4);
    for k in [
        payer,
        to,
        &Pubkey::SYSTEM_PROGRAM,
        &COMPUTE_BUDGET_PROGRAM_ID,
    ] {
        wire.extend_from_slice(k.as_bytes());
    }
    wire.extend_from_slice(bh.as_bytes());
    wire.push(2); // instructions
    let data = ComputeBudgetInstruction::SetComputeUnitPrice(price).encode();
    wire.extend_from_slice(&[3, 0, data.len() as u8]);
    wire.extend_from_slice(&data);
    wire.extend_from_slice(&[2, 2, 0, 1, 12]);
    wire.extend_from_slice(&2u32.to_le_bytes());
    wire.extend_from_slice(&lamports.to_le_bytes());
    Txn::parse(&wire).expect("valid transfer")
}

/// Executes and commits `txs` one at a time, returning each status.
pub(crate) fn run_serial(bank: &Bank, txs: &[Txn]) -> Vec<TxStatus> {
    txs.iter()
        .map(|t| {
            let one = std::slice::from_ref(t);
            let batch = bank.execute(one);
            bank.commit(one, &batch).expect("commit");
            batch.executions()[0].status
        })
        .collect()
}

fn child(parent: &Arc<Bank>, slot: u64) -> Arc<Bank> {
    Arc::new(Bank::new_child(parent, Slot(slot), Pubkey([0xC0; 32])))
}

struct Setup {
    alice: SigningKey,
    bob: SigningKey,
    genesis: Genesis,
    root: Arc<Bank>,
}

fn setup() -> Setup {
    let alice = key(1);
    let bob = key(2);
    let genesis = genesis(&[(addr(&alice), 1_000_000), (addr(&bob), 3_000)]);
    let root = Arc::new(Bank::genesis(&genesis));
    Setup {
        alice,
        bob,
        genesis,
        root,
    }
}

#[test]
fn genesis_bank_is_slot_zero_rooted_and_frozen() {
    let s = setup();
    let g = &s.root;
    assert_eq!(g.slot(), Slot(0));
    assert_eq!(g.block_height(), 0);
    assert!(g.is_frozen());
    assert_eq!(g.blockhash(), Some(s.genesis.hash()));
    assert_eq!(g.bank_hash(), Some(s.genesis.hash()));
    assert_eq!(g.last_blockhash(), s.genesis.hash());
    assert!(g.is_blockhash_valid(&s.genesis.hash()));
    assert_eq!(g.balance(&addr(&s.alice)), 1_000_000);
    assert_eq!(g.balance(&Pubkey([9; 32])), 0);
    assert_eq!(g.total_supply(), s.genesis.total_supply());
}

#[test]
fn a_transfer_pays_its_fee_to_the_collector_and_conserves_supply() {
    let s = setup();
    let bank = child(&s.root, 1);
    let to = Pubkey([42; 32]);
    let tx = transfer(&s.alice, &to, 1234, &s.genesis.hash());
    let batch = bank.execute(std::slice::from_ref(&tx));
    let e = &batch.executions()[0];
    assert_eq!(e.status, Ok(()));
    assert_eq!(e.fee, FEE);
    assert_eq!(e.balances.pre(), &[1_000_000, 0, 0]);
    assert_eq!(e.balances.post(), &[1_000_000 - FEE - 1234, 1234, 0]);
    // Execution alone changes nothing.
    assert_eq!(bank.balance(&to), 0);
    bank.commit(std::slice::from_ref(&tx), &batch).unwrap();
    assert_eq!(bank.balance(&to), 1234);
    assert_eq!(bank.balance(&addr(&s.alice)), 1_000_000 - FEE - 1234);
    assert_eq!(bank.transaction_count(), 1);
    assert_eq!(bank.signature_count(), 1);
    assert_eq!(bank.collected_fees(), FEE);
    assert_eq!(bank.status(&tx.signature()), Some((Slot(1), Ok(()))));
    assert_eq!(bank.total_supply(), s.genesis.total_supply());

    let blockhash = Hash([5; 32]);
    let h = bank.freeze(blockhash);
    assert_eq!(bank.balance(&bank.collector()), FEE);
    assert_eq!(bank.total_supply(), s.genesis.total_supply());
    // The bank hash is the documented formula over the sorted delta.
    let mut delta = bank.accounts_delta();
    assert_eq!(delta.len(), 3);
    delta.sort();
    let mut bytes = Vec::new();
    for (k, v) in &delta {
        bytes.extend_from_slice(k.as_bytes());
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let delta_hash = Hash::of(&bytes);
    assert_eq!(bank.accounts_delta_hash(), Some(delta_hash));
    // No vote landed: the vote state delta hash is the hash of nothing.
    assert_eq!(bank.vote_delta_hash(), Some(Hash::of(&[])));
    let expected = Hash::hashv(&[
        s.genesis.hash().as_bytes(),
        delta_hash.as_bytes(),
        Hash::of(&[]).as_bytes(),
        &1u64.to_le_bytes(),
        blockhash.as_bytes(),
    ]);
    assert_eq!(h, expected);
    assert_eq!(bank.bank_hash(), Some(expected));
    assert_eq!(bank.blockhash(), Some(blockhash));
    // Freezing again changes nothing; committing is refused.
    assert_eq!(bank.freeze(Hash([6; 32])), expected);
    let again = bank.execute(std::slice::from_ref(&tx));
    assert_eq!(
        bank.commit(std::slice::from_ref(&tx), &again),
        Err(CommitError::Frozen { slot: Slot(1) })
    );
}

#[test]
fn a_v0_transfer_executes_as_its_legacy_twin_and_is_replay_protected() {
    let s = setup();
    let bank = child(&s.root, 1);
    let to = Pubkey([42; 32]);
    let bh = s.genesis.hash();
    let v0 = Txn::parse(&build_transfer_v0(&s.alice, &to, 1234, &bh)).unwrap();
    let legacy = transfer(&s.alice, &to, 1234, &bh);
    let (v0_run, legacy_run) = (
        bank.execute(std::slice::from_ref(&v0)),
        bank.execute(std::slice::from_ref(&legacy)),
    );
    let (a, b) = (&v0_run.executions()[0], &legacy_run.executions()[0]);
    assert_eq!((a.status, a.fee), (Ok(()), FEE));
    assert_eq!(
        (a.balances.pre(), a.balances.post()),
        (b.balances.pre(), b.balances.post())
    );
    assert_eq!(
        run_serial(&bank, &[v0.clone(), v0.clone()]),
        vec![Ok(()), Err(TxError::AlreadyProcessed)]
    );
    assert_eq!(bank.status(&v0.signature()), Some((Slot(1), Ok(()))));
    assert_eq!(bank.balance(&to), 1234);
}

#[test]
fn not_included_transactions_change_nothing() {
    let s = setup();
    let bank = child(&s.root, 1);
    let bh = s.genesis.hash();
    let poor = key(3);
    let ok = transfer(&s.alice, &addr(&poor), FEE - 1, &bh);
    run_serial(&bank, std::slice::from_ref(&ok));
    let before = bank.accounts_delta();
    let txs = [
        // Replay of an included transaction.
        ok.clone(),
        // Unknown blockhash.
        transfer(&s.alice, &Pubkey([1; 32]), 1, &Hash([0xAB; 32])),
        // Payer holds FEE - 1.
        transfer(&poor, &Pubkey([1; 32]), 0, &bh),
    ];
    // One batch each: they share accounts, and a batch must not take conflicting locks.
    let statuses: Vec<_> = txs
        .iter()
        .map(|t| {
            let one = std::slice::from_ref(t);
            let batch = bank.execute(one);
            assert_eq!(batch.included_count(), 0);
            assert!(batch.executions()[0].balances.pre().is_empty());
            bank.commit(one, &batch).unwrap();
            batch.executions()[0].status
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            Err(TxError::AlreadyProcessed),
            Err(TxError::BlockhashNotFound),
            Err(TxError::InsufficientFundsForFee),
        ]
    );
    assert_eq!(bank.accounts_delta(), before);
    assert_eq!(bank.transaction_count(), 1);
    assert_eq!(bank.status(&txs[2].signature()), None);
    // The slot's list holds the included one only.
    assert_eq!(bank.transaction_statuses(), vec![(ok.signature(), Ok(()))]);
    // Preflight gives the same verdicts.
    for (t, status) in txs.iter().zip(&statuses) {
        assert_eq!(bank.check_transaction(&t.view()), *status);
    }
}

#[test]
fn a_failed_transfer_keeps_the_fee_and_undoes_every_transfer() {
    let s = setup();
    let bank = child(&s.root, 1);
    let bh = s.genesis.hash();
    let (c, d) = (Pubkey([0xC; 32]), Pubkey([0xD; 32]));
    // Bob has 3,000 + the fee is 5,000: not enough for the fee.
    let tx = transfer(&s.bob, &c, 1, &bh);
    assert_eq!(
        run_serial(&bank, &[tx]),
        vec![Err(TxError::InsufficientFundsForFee)]
    );
    // Alice pays 100 to c, then more than she has to d.
    let tx = multi_transfer(&s.alice, &[(c, 100), (d, 2_000_000)], &bh);
    let status = run_serial(&bank, std::slice::from_ref(&tx));
    assert_eq!(
        status,
        vec![Err(TxError::InstructionError {
            index: 1,
            kind: InstructionErrorKind::InsufficientFunds
        })]
    );
    assert_eq!(bank.balance(&c), 0);
    assert_eq!(bank.balance(&addr(&s.alice)), 1_000_000 - FEE);
    // Only the fee payer was stored; the failure is recorded and counted.
    assert_eq!(
        bank.accounts_delta(),
        vec![(addr(&s.alice), 1_000_000 - FEE)]
    );
    assert_eq!(bank.status(&tx.signature()).unwrap().1, status[0]);
    assert_eq!(
        bank.transaction_statuses(),
        vec![(tx.signature(), status[0])]
    );
    assert_eq!(bank.transaction_count(), 1);
    assert_eq!(bank.collected_fees(), FEE);
    assert_eq!(
        bank.check_transaction(&tx.view()),
        Err(TxError::AlreadyProcessed)
    );
    // And a multi-transfer that fits succeeds entirely.
    let tx = multi_transfer(&s.alice, &[(c, 100), (d, 200)], &bh);
    assert_eq!(run_serial(&bank, &[tx]), vec![Ok(())]);
    assert_eq!(bank.balances(&[c, d]), vec![100, 200]);
    bank.freeze(Hash([1; 32]));
    assert_eq!(bank.total_supply(), s.genesis.total_supply());
}

#[test]
fn overflowing_credit_is_an_instruction_error() {
    let rich = key(1);
    let poor = key(2);
    // A restored state whose sum exceeds u64::MAX (impossible from a valid genesis) reaches the check.
    let root = Bank::from_root(RootState {
        slot: Slot(10),
        parent_slot: Slot(9),
        bank_hash: Hash([1; 32]),
        blockhash: Hash([2; 32]),
        block_height: 10,
        lamports_per_signature: FEE,
        slots_per_epoch: DEFAULT_SLOTS_PER_EPOCH,
        total_transaction_count: 0,
        accounts: vec![(addr(&rich), u64::MAX), (addr(&poor), 10 * FEE)],
        vote_states: vec![],
        recent_blocks: vec![],
        slot_hashes: vec![],
    });
    let root = Arc::new(root);
    let bank = child(&root, 11);
    let tx = transfer(&poor, &addr(&rich), 1, &Hash([2; 32]));
    assert_eq!(
        run_serial(&bank, &[tx]),
        vec![Err(TxError::InstructionError {
            index: 0,
            kind: InstructionErrorKind::ArithmeticOverflow
        })]
    );
    assert_eq!(bank.balance(&addr(&rich)), u64::MAX);
    assert_eq!(bank.balance(&addr(&poor)), 9 * FEE);
}

#[test]
fn a_blockhash_is_valid_for_150_blocks_on_its_fork() {
    let s = setup();
    let gh = s.genesis.hash();
    let mut bank = s.root.clone();
    for slot in 1..=150u64 {
        bank = child(&bank, slot);
        assert!(bank.is_blockhash_valid(&gh), "height {slot}");
        bank.freeze(Hash::of(&slot.to_le_bytes()));
    }
    // Frozen at height 150: the next block (151) may no longer use the genesis hash.
    assert!(!bank.is_blockhash_valid(&gh));
    assert!(bank.is_blockhash_valid(&Hash::of(&150u64.to_le_bytes())));
    assert_eq!(
        bank.last_valid_block_height(&Hash::of(&150u64.to_le_bytes())),
        Some(300)
    );
    let next = child(&bank, 151);
    assert_eq!(next.block_height(), 151);
    let tx = transfer(&s.alice, &Pubkey([3; 32]), 1, &gh);
    assert_eq!(
        run_serial(&next, &[tx]),
        vec![Err(TxError::BlockhashNotFound)]
    );
    let tx = transfer(
        &s.alice,
        &Pubkey([3; 32]),
        1,
        &Hash::of(&1u64.to_le_bytes()),
    );
    assert_eq!(run_serial(&next, &[tx]), vec![Ok(())]);
    // A blockhash of another fork is unknown here.
    let other = child(&s.root, 1000);
    let tx = transfer(
        &s.alice,
        &Pubkey([3; 32]),
        1,
        &Hash::of(&1u64.to_le_bytes()),
    );
    assert_eq!(
        run_serial(&other, &[tx]),
        vec![Err(TxError::BlockhashNotFound)]
    );
}

#[test]
fn forks_see_only_their_own_history() {
    let s = setup();
    let mut forks = BankForks::new(Bank::genesis(&s.genesis));
    let gh = s.genesis.hash();
    let a = forks
        .new_child(Slot(0), Slot(1), Pubkey([0xA; 32]))
        .unwrap();
    let tx = transfer(&s.alice, &Pubkey([3; 32]), 500, &gh);
    assert_eq!(run_serial(&a, std::slice::from_ref(&tx)), vec![Ok(())]);
    a.freeze(Hash([1; 32]));
    // A sibling fork neither sees the transfer nor considers it processed.
    let b = forks
        .new_child(Slot(0), Slot(2), Pubkey([0xB; 32]))
        .unwrap();
    assert_eq!(b.balance(&Pubkey([3; 32])), 0);
    assert_eq!(b.status(&tx.signature()), None);
    assert_eq!(run_serial(&b, std::slice::from_ref(&tx)), vec![Ok(())]);
    b.freeze(Hash([2; 32]));
    // A child of `a` sees it and refuses the replay.
    let a2 = forks
        .new_child(Slot(1), Slot(3), Pubkey([0xA; 32]))
        .unwrap();
    assert_eq!(a2.balance(&Pubkey([3; 32])), 500);
    assert_eq!(a2.status(&tx.signature()), Some((Slot(1), Ok(()))));
    assert_eq!(
        run_serial(&a2, std::slice::from_ref(&tx)),
        vec![Err(TxError::AlreadyProcessed)]
    );
    assert_eq!(a2.balance(&Pubkey([0xA; 32])), FEE);
    assert_eq!(a2.balance(&Pubkey([0xB; 32])), 0);
    a2.freeze(Hash([3; 32]));
    assert_eq!(forks.len(), 4);

    // Rooting slot 3 squashes 1 and 3, prunes fork 2, and keeps everything readable.
    let updates = forks.set_root(Slot(3)).unwrap();
    assert_eq!(forks.root(), Slot(3));
    assert_eq!(forks.len(), 1);
    assert!(forks.get(Slot(2)).is_none());
    assert!(updates.accounts.contains(&(Pubkey([3; 32]), 500)));
    assert!(updates.accounts.contains(&(Pubkey([0xA; 32]), FEE)));
    assert!(updates.accounts.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(updates.vote_states.is_empty());
    let c = forks
        .new_child(Slot(3), Slot(4), Pubkey([0xA; 32]))
        .unwrap();
    assert_eq!(c.balance(&Pubkey([3; 32])), 500);
    assert_eq!(c.status(&tx.signature()), Some((Slot(1), Ok(()))));
    assert_eq!(
        run_serial(&c, std::slice::from_ref(&tx)),
        vec![Err(TxError::AlreadyProcessed)]
    );
    assert_eq!(c.total_supply(), s.genesis.total_supply());
    assert!(a2.parent().is_none());
}

#[test]
fn fork_errors_name_the_slots() {
    let s = setup();
    let mut forks = BankForks::new(Bank::genesis(&s.genesis));
    let a = forks
        .new_child(Slot(0), Slot(1), Pubkey::default())
        .unwrap();
    assert_eq!(
        forks
            .new_child(Slot(1), Slot(2), Pubkey::default())
            .unwrap_err(),
        ForkError::Bank(BankError::ParentNotFrozen { parent: Slot(1) })
    );
    assert_eq!(forks.set_root(Slot(1)), Err(ForkError::NotFrozen(Slot(1))));
    a.freeze(Hash([1; 32]));
    assert_eq!(
        forks
            .new_child(Slot(1), Slot(1), Pubkey::default())
            .unwrap_err(),
        ForkError::DuplicateSlot(Slot(1))
    );
    assert_eq!(
        forks
            .new_child(Slot(7), Slot(8), Pubkey::default())
            .unwrap_err(),
        ForkError::UnknownParent {
            slot: Slot(8),
            parent: Slot(7)
        }
    );
    assert_eq!(
        forks.set_root(Slot(5)),
        Err(ForkError::UnknownSlot(Slot(5)))
    );
    let b = Bank::try_new_child(&a, Slot(1), Pubkey::default()).unwrap_err();
    assert_eq!(b.to_string(), "slot 1 is not after its parent slot 1");
    let sibling = forks
        .new_child(Slot(0), Slot(2), Pubkey::default())
        .unwrap();
    sibling.freeze(Hash([2; 32]));
    let early = Bank::try_new_child(&a, Slot(3), Pubkey::default()).unwrap();
    forks.set_root(Slot(1)).unwrap();
    assert_eq!(forks.set_root(Slot(1)), Ok(RootUpdates::default()));
    // The sibling fork was pruned: nothing may grow on it any more.
    assert!(forks.get(Slot(2)).is_none());
    assert_eq!(
        Bank::try_new_child(&sibling, Slot(3), Pubkey::default()).unwrap_err(),
        BankError::ParentPruned {
            parent: Slot(2),
            root: Slot(1)
        }
    );
    // Banks at or below a newer root cannot be added.
    let four = forks
        .new_child(Slot(1), Slot(4), Pubkey::default())
        .unwrap();
    four.freeze(Hash([4; 32]));
    forks.set_root(Slot(4)).unwrap();
    assert_eq!(
        forks.insert(early).unwrap_err(),
        ForkError::NotAboveRoot {
            slot: Slot(3),
            root: Slot(4)
        }
    );
    assert_eq!(
        Bank::try_new_child(&a, Slot(5), Pubkey::default()).unwrap_err(),
        BankError::ParentPruned {
            parent: Slot(1),
            root: Slot(4)
        }
    );
    assert_eq!(forks.highest_frozen().slot(), Slot(4));
}

#[test]
fn remove_subtree_drops_a_slot_and_its_descendants_only_and_never_the_root() {
    let s = setup();
    let mut forks = BankForks::new(Bank::genesis(&s.genesis));
    // 0 ─ 1 ─ 2 ─ 4        0 ─ 5 ─ 6
    //      └─ 3
    for (parent, slot) in [(0, 1), (1, 2), (1, 3), (2, 4), (0, 5), (5, 6)] {
        forks
            .new_child(Slot(parent), Slot(slot), Pubkey::default())
            .unwrap()
            .freeze(Hash([slot as u8; 32]));
    }
    assert_eq!(
        forks.subtree(Slot(1)),
        vec![Slot(1), Slot(2), Slot(3), Slot(4)]
    );
    assert_eq!(
        forks.remove_subtree(Slot(1)).unwrap(),
        vec![Slot(1), Slot(2), Slot(3), Slot(4)]
    );
    let mut live: Vec<Slot> = forks.banks().map(|b| b.slot()).collect();
    live.sort_unstable();
    assert_eq!(live, vec![Slot(0), Slot(5), Slot(6)]);
    // Nothing left to remove there; an unknown slot removes nothing.
    assert_eq!(forks.remove_subtree(Slot(1)).unwrap(), Vec::<Slot>::new());
    assert_eq!(forks.remove_subtree(Slot(9)).unwrap(), Vec::<Slot>::new());
    // The slot is free again: another version of it can join.
    forks
        .new_child(Slot(0), Slot(1), Pubkey::default())
        .unwrap()
        .freeze(Hash([11; 32]));
    // The root is refused, and so is everything below it once it moves.
    assert_eq!(
        forks.remove_subtree(Slot(0)),
        Err(ForkError::NotAboveRoot {
            slot: Slot(0),
            root: Slot(0)
        })
    );
    forks.set_root(Slot(5)).unwrap();
    for slot in [3, 5] {
        assert_eq!(
            forks.remove_subtree(Slot(slot)),
            Err(ForkError::NotAboveRoot {
                slot: Slot(slot),
                root: Slot(5)
            })
        );
    }
    assert_eq!(forks.remove_subtree(Slot(6)).unwrap(), vec![Slot(6)]);
    assert_eq!(forks.len(), 1);
    assert_eq!(forks.root(), Slot(5));
}

#[test]
fn commits_must_match_their_execution() {
    let s = setup();
    let bank = child(&s.root, 1);
    let other = child(&s.root, 2);
    let bh = s.genesis.hash();
    let t1 = vec![transfer(&s.alice, &Pubkey([1; 32]), 1, &bh)];
    let t2 = vec![transfer(&s.alice, &Pubkey([2; 32]), 1, &bh)];
    let b1 = bank.execute(&t1);
    let b2 = bank.execute(&t2);
    assert_eq!(
        other.commit(&t1, &b1),
        Err(CommitError::WrongBank {
            executed: Slot(1),
            slot: Slot(2)
        })
    );
    assert!(matches!(
        bank.commit(&t2, &b1),
        Err(CommitError::SignatureMismatch { index: 0, .. })
    ));
    assert_eq!(
        bank.commit(&[], &b1),
        Err(CommitError::LengthMismatch { txs: 0, results: 1 })
    );
    bank.commit(&t1, &b1).unwrap();
    // b2 read Alice's balance before b1 was committed: applying it would create money.
    assert_eq!(
        bank.commit(&t2, &b2),
        Err(CommitError::Stale {
            slot: Slot(1),
            executed: 0,
            now: 1
        })
    );
    assert_eq!(bank.transaction_count(), 1);
}

#[test]
fn restart_from_a_root_restores_blockhashes_and_replay_protection() {
    let s = setup();
    let gh = s.genesis.hash();
    // Run a few slots, then rebuild from what storage would hold.
    let mut forks = BankForks::new(Bank::genesis(&s.genesis));
    let mut recent = vec![RecentBlock {
        slot: Slot(0),
        blockhash: gh,
        block_height: 0,
    }];
    let tx = transfer(&s.alice, &Pubkey([3; 32]), 77, &gh);
    for slot in 1..=3u64 {
        let b = forks
            .new_child(Slot(slot - 1), Slot(slot), Pubkey([0xA; 32]))
            .unwrap();
        if slot == 2 {
            run_serial(&b, std::slice::from_ref(&tx));
        }
        let bh = Hash::of(&slot.to_le_bytes());
        b.freeze(bh);
        forks.set_root(Slot(slot)).unwrap();
        recent.push(RecentBlock {
            slot: Slot(slot),
            blockhash: bh,
            block_height: slot,
        });
    }
    let old = forks.root_bank();
    let mut accounts: Vec<(Pubkey, Lamports)> = s
        .genesis
        .accounts
        .iter()
        .map(|a| (a.pubkey, a.lamports))
        .collect();
    accounts.extend(
        [addr(&s.alice), Pubkey([3; 32]), Pubkey([0xA; 32])]
            .iter()
            .map(|k| (*k, old.balance(k))),
    );
    let last = recent.pop().unwrap();
    let restored = Bank::from_root(RootState {
        slot: last.slot,
        parent_slot: Slot(2),
        bank_hash: old.bank_hash().unwrap(),
        blockhash: last.blockhash,
        block_height: last.block_height,
        lamports_per_signature: FEE,
        slots_per_epoch: DEFAULT_SLOTS_PER_EPOCH,
        total_transaction_count: old.total_transaction_count(),
        accounts,
        vote_states: vec![],
        recent_blocks: recent,
        slot_hashes: vec![],
    });
    assert_eq!(restored.total_supply(), s.genesis.total_supply());
    assert_eq!(restored.total_transaction_count(), 1);
    assert!(restored.is_blockhash_valid(&gh));
    assert!(restored.is_blockhash_valid(&last.blockhash));
    assert!(restored.restore_status(&gh, &tx.signature(), Slot(2), Ok(())));
    assert!(!restored.restore_status(&Hash([0xFF; 32]), &tx.signature(), Slot(2), Ok(())));
    let mut forks2 = BankForks::new(restored);
    let next = forks2
        .new_child(Slot(3), Slot(4), Pubkey([0xA; 32]))
        .unwrap();
    let old_next = Bank::new_child(&old, Slot(4), Pubkey([0xA; 32]));
    assert_eq!(
        run_serial(&next, std::slice::from_ref(&tx)),
        vec![Err(TxError::AlreadyProcessed)]
    );
    // The same block on the restored and the original bank gives the same bank hash.
    let t = transfer(&s.alice, &Pubkey([4; 32]), 5, &last.blockhash);
    run_serial(&next, std::slice::from_ref(&t));
    run_serial(&old_next, std::slice::from_ref(&t));
    assert_eq!(next.freeze(Hash([4; 32])), old_next.freeze(Hash([4; 32])));
}

#[test]
fn errors_map_to_rejects_and_solana_json() {
    use serde_json::json;
    let cases = [
        (TxError::AlreadyProcessed, json!("AlreadyProcessed")),
        (TxError::BlockhashNotFound, json!("BlockhashNotFound")),
        (
            TxError::InsufficientFundsForFee,
            json!("InsufficientFundsForFee"),
        ),
        (
            TxError::InstructionError {
                index: 2,
                kind: InstructionErrorKind::InsufficientFunds,
            },
            json!({"InstructionError": [2, {"Custom": 1}]}),
        ),
        (
            TxError::InstructionError {
                index: 0,
                kind: InstructionErrorKind::ArithmeticOverflow,
            },
            json!({"InstructionError": [0, "ArithmeticOverflow"]}),
        ),
    ];
    for (e, j) in cases {
        assert_eq!(e.to_solana_json(), j);
        assert_eq!(TxError::from_solana_json(&j), Some(e));
        assert_eq!(e.reject_reason().is_some(), !e.is_included());
    }
    assert_eq!(
        Reject::try_from(&TxError::BlockhashNotFound),
        Ok(Reject::BlockhashNotFound)
    );
    assert_eq!(
        TxError::from_solana_json(&json!({"InstructionError": [300, "X"]})),
        None
    );
    assert_eq!(TxError::from_solana_json(&json!("Other")), None);
    let msg = TxError::InstructionError {
        index: 3,
        kind: InstructionErrorKind::InsufficientFunds,
    }
    .to_string();
    assert!(msg.contains("instruction 3"), "{msg}");
}

#[test]
fn a_frozen_bank_answers_for_its_next_block() {
    let s = setup();
    let bank = child(&s.root, 1);
    let bh = Hash([8; 32]);
    bank.freeze(bh);
    assert_eq!(bank.last_blockhash(), bh);
    let tx = transfer(&s.alice, &Pubkey([3; 32]), 1, &bh);
    assert_eq!(bank.check_transaction(&tx.view()), Ok(()));
    assert_eq!(bank.simulate(&tx.view()).status, Ok(()));
    let big = key(4);
    let tx = transfer(&big, &Pubkey([3; 32]), 1, &bh);
    assert_eq!(
        bank.check_transaction(&tx.view()),
        Err(TxError::InsufficientFundsForFee)
    );
}

#[test]
fn largest_accounts_see_the_fork_and_leave_out_empty_ones() {
    let (alice, bob) = (key(1), key(2));
    let g = genesis(&[
        (addr(&alice), 1_000_000),
        (addr(&bob), 50_000),
        (Pubkey([3; 32]), 700_000),
        (Pubkey([4; 32]), 700_000),
    ]);
    let root = Arc::new(Bank::genesis(&g));
    let bank = Bank::new_child(&root, Slot(1), Pubkey([0xC0; 32]));
    // Bob empties his account into a new one, above the root.
    let tx = transfer(&bob, &Pubkey([5; 32]), 45_000, &g.hash());
    assert_eq!(run_serial(&bank, &[tx]), vec![Ok(())]);
    assert_eq!(bank.balance(&addr(&bob)), 0);
    assert_eq!(
        bank.largest_accounts(3),
        vec![
            (addr(&alice), 1_000_000),
            (Pubkey([3; 32]), 700_000),
            (Pubkey([4; 32]), 700_000),
        ]
    );
    let all = bank.largest_accounts(10);
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all[3], (Pubkey([5; 32]), 45_000));
    assert!(bank.largest_accounts(0).is_empty());
}
