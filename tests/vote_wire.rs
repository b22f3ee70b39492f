//! Vote transactions on the wire, both ways: one built and signed by stock Solana crates
//! (`solana-vote-interface`'s `tower_sync` in a legacy `Transaction`) parses with our parser and
//! decodes to the same tower, and ours deserialize with Solana's bincode into a `Transaction` whose
//! instruction decodes to the same `TowerSync`.

use std::collections::VecDeque;

use dataplane::txn::TxnView;
use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::vote::{
    build_vote_txn, vote_account_address, Lockout, TowerSync, VoteInstruction, VOTE_PROGRAM_ID,
};
use solana_sdk::hash::Hash as SolanaHash;
use solana_sdk::pubkey::Pubkey as SolanaPubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::Transaction;
use solana_vote_interface::instruction::{
    tower_sync, tower_sync_switch, VoteInstruction as SolanaVoteInstruction,
};
use solana_vote_interface::state::{Lockout as SolanaLockout, TowerSync as SolanaTowerSync};

/// A validator's tower: root 1,000, then 31 votes with falling confirmation counts.
fn our_tower() -> TowerSync {
    TowerSync {
        lockouts: (0..31u32)
            .map(|i| Lockout {
                slot: Slot(1_001 + u64::from(i) * 3),
                confirmation_count: 31 - i,
            })
            .collect(),
        root: Some(Slot(1_000)),
        hash: Hash([0xAB; 32]),
        timestamp: Some(1_700_000_123),
        block_id: Hash([0xCD; 32]),
    }
}

fn solana_tower(t: &TowerSync) -> SolanaTowerSync {
    let lockouts: VecDeque<SolanaLockout> = t
        .lockouts
        .iter()
        .map(|l| SolanaLockout::new_with_confirmation_count(l.slot.0, l.confirmation_count))
        .collect();
    let mut s = SolanaTowerSync::new(
        lockouts,
        t.root.map(|r| r.0),
        SolanaHash::new_from_array(t.hash.0),
        SolanaHash::new_from_array(t.block_id.0),
    );
    s.timestamp = t.timestamp;
    s
}

fn assert_same_tower(ours: &TowerSync, theirs: &SolanaTowerSync) {
    let lockouts: Vec<(u64, u32)> = theirs
        .lockouts
        .iter()
        .map(|l| (l.slot(), l.confirmation_count()))
        .collect();
    let expected: Vec<(u64, u32)> = ours
        .lockouts
        .iter()
        .map(|l| (l.slot.0, l.confirmation_count))
        .collect();
    assert_eq!(lockouts, expected);
    assert_eq!(theirs.root, ours.root.map(|r| r.0));
    assert_eq!(theirs.hash.to_bytes(), ours.hash.0);
    assert_eq!(theirs.timestamp, ours.timestamp);
    assert_eq!(theirs.block_id.to_bytes(), ours.block_id.0);
}

fn identity() -> Keypair {
    Keypair::new_from_array([0x5E; 32])
}

#[test]
fn a_stock_solana_vote_transaction_parses_and_decodes_to_the_same_tower() {
    let identity = identity();
    let node = Pubkey(identity.pubkey().to_bytes());
    let vote_account = vote_account_address(&node);
    let blockhash = Hash([0x42; 32]);
    let tower = our_tower();
    for switch in [None, Some(Hash([0x99; 32]))] {
        let vote_pubkey = SolanaPubkey::new_from_array(vote_account.0);
        let instruction = match switch {
            None => tower_sync(&vote_pubkey, &identity.pubkey(), solana_tower(&tower)),
            Some(proof) => tower_sync_switch(
                &vote_pubkey,
                &identity.pubkey(),
                solana_tower(&tower),
                SolanaHash::new_from_array(proof.0),
            ),
        };
        let tx = Transaction::new_signed_with_payer(
            &[instruction],
            Some(&identity.pubkey()),
            &[&identity],
            SolanaHash::new_from_array(blockhash.0),
        );
        let wire = bincode::serialize(&tx).unwrap();

        let view = TxnView::new(&wire).expect("a stock vote transaction parses");
        assert!(view.is_vote());
        assert_eq!(view.fee_payer(), node);
        assert_eq!(view.vote_account(), Some(vote_account));
        assert_eq!(view.recent_blockhash(), blockhash);
        assert_eq!(view.account_key(2), VOTE_PROGRAM_ID);
        let expected = match switch {
            None => VoteInstruction::TowerSync(tower.clone()),
            Some(proof) => VoteInstruction::TowerSyncSwitch(tower.clone(), proof),
        };
        assert_eq!(view.vote_instruction(), Some(expected.clone()));
        assert_eq!(view.signature().0, tx.signatures[0].as_ref());

        // Ed25519 signatures are deterministic: our builder produces the very same bytes.
        let ours = build_vote_txn(&node, &vote_account, &expected, &blockhash, |m| {
            let sig = identity.sign_message(m);
            <[u8; 64]>::try_from(sig.as_ref()).unwrap()
        });
        assert_eq!(ours, wire);
    }
}

#[test]
fn our_vote_transactions_deserialize_with_solanas_bincode() {
    let identity = identity();
    let node = Pubkey(identity.pubkey().to_bytes());
    let vote_account = vote_account_address(&node);
    let blockhash = Hash([0x17; 32]);
    let without_root = TowerSync {
        root: None,
        timestamp: None,
        lockouts: vec![
            Lockout {
                slot: Slot(0),
                confirmation_count: 2,
            },
            Lockout::new(Slot(1)),
        ],
        ..our_tower()
    };
    for (tower, switch) in [
        (our_tower(), None),
        (without_root, None),
        (our_tower(), Some(Hash([0x21; 32]))),
    ] {
        let instruction = match switch {
            None => VoteInstruction::TowerSync(tower.clone()),
            Some(proof) => VoteInstruction::TowerSyncSwitch(tower.clone(), proof),
        };
        let wire = build_vote_txn(&node, &vote_account, &instruction, &blockhash, |m| {
            let sig = identity.sign_message(m);
            <[u8; 64]>::try_from(sig.as_ref()).unwrap()
        });
        let tx: Transaction = bincode::deserialize(&wire).expect("Solana reads our vote");
        assert_eq!(bincode::serialize(&tx).unwrap(), wire);
        tx.verify().expect("the identity's signature verifies");
        let message = &tx.message;
        assert_eq!(message.header.num_required_signatures, 1);
        assert_eq!(message.header.num_readonly_signed_accounts, 0);
        assert_eq!(message.header.num_readonly_unsigned_accounts, 1);
        assert_eq!(message.account_keys[0], identity.pubkey());
        assert_eq!(message.account_keys[1].to_bytes(), vote_account.0);
        assert_eq!(
            message.account_keys[2],
            solana_vote_interface::program::id()
        );
        assert_eq!(message.recent_blockhash.to_bytes(), blockhash.0);
        let [ix] = message.instructions.as_slice() else {
            panic!("one instruction expected");
        };
        assert_eq!(ix.program_id_index, 2);
        assert_eq!(ix.accounts, vec![1, 0]);
        let decoded: SolanaVoteInstruction = bincode::deserialize(&ix.data).unwrap();
        match (decoded, switch) {
            (SolanaVoteInstruction::TowerSync(t), None) => assert_same_tower(&tower, &t),
            (SolanaVoteInstruction::TowerSyncSwitch(t, proof), Some(ours)) => {
                assert_same_tower(&tower, &t);
                assert_eq!(proof.to_bytes(), ours.0);
            }
            (other, _) => panic!("decoded as {other:?}"),
        }
    }
}
