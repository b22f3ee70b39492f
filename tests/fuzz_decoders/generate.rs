//! Generators of valid encodings: transactions of every shape the parser accepts (legacy and v0,
//! several signers, transfers, compute budget requests, votes), towers, vote states and entries.
//! Signatures are real where a decoder checks them and placeholders where none does.

use dataplane::compute_budget::{ComputeBudgetInstruction, COMPUTE_BUDGET_PROGRAM_ID};
use dataplane::entry::Entry;
use dataplane::txn::{write_compact_u16, Txn};
use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::vote::{build_vote_txn, Lockout, TowerSync, VoteInstruction, MAX_LOCKOUT_HISTORY};
use dataplane::vote_state::{VoteState, MAX_EPOCH_CREDITS_HISTORY};
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;

/// Key `i` of a small fixed set: distinct, deterministic, valid ed25519 keys.
pub fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i.wrapping_add(1); 32])
}

/// Key `i`'s public half.
pub fn pubkey(i: u8) -> Pubkey {
    Pubkey(key(i).verifying_key().to_bytes())
}

/// One instruction of a generated transfer transaction.
#[derive(Debug, Clone)]
enum Ix {
    Transfer {
        from: usize,
        to: usize,
        lamports: u64,
    },
    Limit(u32),
    Price(u64),
}

/// A transfer transaction's shape: who signs, who receives, what runs.
#[derive(Debug, Clone)]
struct Shape {
    v0: bool,
    signers: usize,
    readonly_signed: usize,
    recipients: usize,
    budget_program: bool,
    ixs: Vec<Ix>,
    blockhash: [u8; 32],
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        any::<bool>(),
        1usize..=3,
        0usize..=2,
        1usize..=3,
        any::<[u8; 32]>(),
    )
        .prop_flat_map(|(v0, signers, ro, recipients, blockhash)| {
            let readonly_signed = ro.min(signers - 1);
            let writable_signers = signers - readonly_signed;
            // Writable accounts: the writable signers, then the recipients.
            let writable: Vec<usize> = (0..writable_signers)
                .chain(signers..signers + recipients)
                .collect();
            let transfer = (
                0..writable_signers,
                prop::sample::select(writable),
                any::<u64>(),
            )
                .prop_map(|(from, to, lamports)| Ix::Transfer { from, to, lamports });
            (
                prop::collection::vec(transfer, 1..=4),
                prop::option::of(any::<u32>()),
                prop::option::of(any::<u64>()),
                any::<prop::sample::Index>(),
            )
                .prop_map(move |(mut ixs, limit, price, at)| {
                    let budget_program = limit.is_some() || price.is_some();
                    for ix in limit.map(Ix::Limit).into_iter().chain(price.map(Ix::Price)) {
                        let i = at.index(ixs.len() + 1);
                        ixs.insert(i, ix);
                    }
                    Shape {
                        v0,
                        signers,
                        readonly_signed,
                        recipients,
                        budget_program,
                        ixs,
                        blockhash,
                    }
                })
        })
}

fn encode_shape(s: &Shape) -> Vec<u8> {
    let system = s.signers + s.recipients;
    let budget = system + 1;
    let mut msg = Vec::new();
    if s.v0 {
        msg.push(0x80);
    }
    let programs = 1 + usize::from(s.budget_program);
    msg.extend_from_slice(&[s.signers as u8, s.readonly_signed as u8, programs as u8]);
    write_compact_u16(&mut msg, (system + programs) as u16);
    for i in 0..s.signers + s.recipients {
        msg.extend_from_slice(pubkey(i as u8).as_bytes());
    }
    msg.extend_from_slice(Pubkey::SYSTEM_PROGRAM.as_bytes());
    if s.budget_program {
        msg.extend_from_slice(COMPUTE_BUDGET_PROGRAM_ID.as_bytes());
    }
    msg.extend_from_slice(&s.blockhash);
    write_compact_u16(&mut msg, s.ixs.len() as u16);
    for ix in &s.ixs {
        let (program, accounts, data) = match *ix {
            Ix::Transfer { from, to, lamports } => {
                let mut data = 2u32.to_le_bytes().to_vec();
                data.extend_from_slice(&lamports.to_le_bytes());
                (system, vec![from as u8, to as u8], data)
            }
            Ix::Limit(units) => (
                budget,
                vec![],
                ComputeBudgetInstruction::SetComputeUnitLimit(units).encode(),
            ),
            Ix::Price(price) => (
                budget,
                vec![],
                ComputeBudgetInstruction::SetComputeUnitPrice(price).encode(),
            ),
        };
        msg.push(program as u8);
        write_compact_u16(&mut msg, accounts.len() as u16);
        msg.extend_from_slice(&accounts);
        write_compact_u16(&mut msg, data.len() as u16);
        msg.extend_from_slice(&data);
    }
    if s.v0 {
        write_compact_u16(&mut msg, 0);
    }
    let mut out = Vec::new();
    write_compact_u16(&mut out, s.signers as u16);
    for i in 0..s.signers {
        // The parser checks shape, not signatures: distinct placeholder signatures will do.
        out.extend_from_slice(&[i as u8 + 1; 64]);
    }
    out.extend_from_slice(&msg);
    out
}

/// A tower as a validator builds it: rising slots under an optional root, counts 1..=31.
pub fn tower() -> impl Strategy<Value = TowerSync> {
    (
        prop::option::of(0u64..1 << 40),
        prop::collection::vec((1u64..10_000, 1u32..=31), 0..=MAX_LOCKOUT_HISTORY),
        any::<[u8; 32]>(),
        prop::option::of(any::<i64>()),
        any::<[u8; 32]>(),
    )
        .prop_map(|(root, gaps, hash, timestamp, block_id)| {
            let mut slot = root.unwrap_or(0);
            let lockouts = gaps
                .into_iter()
                .map(|(gap, confirmation_count)| {
                    slot += gap;
                    Lockout {
                        slot: Slot(slot),
                        confirmation_count,
                    }
                })
                .collect();
            TowerSync {
                lockouts,
                root: root.map(Slot),
                hash: Hash(hash),
                timestamp,
                block_id: Hash(block_id),
            }
        })
}

/// A vote instruction: `TowerSync`, or `TowerSyncSwitch` with a proof hash.
pub fn vote_instruction() -> impl Strategy<Value = VoteInstruction> {
    (tower(), prop::option::of(any::<[u8; 32]>())).prop_map(|(t, switch)| match switch {
        None => VoteInstruction::TowerSync(t),
        Some(h) => VoteInstruction::TowerSyncSwitch(t, Hash(h)),
    })
}

/// A signed vote transaction of validator `who` (0..4).
pub fn vote_txn() -> impl Strategy<Value = Vec<u8>> {
    (0u8..4, vote_instruction(), any::<[u8; 32]>()).prop_map(|(who, ix, blockhash)| {
        let identity = key(who);
        build_vote_txn(
            &pubkey(who),
            &pubkey(who + 10),
            &ix,
            &Hash(blockhash),
            |msg| identity.sign(msg).to_bytes(),
        )
    })
}

/// Any transaction the parser accepts: transfers of every shape, and votes.
pub fn txn() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![3 => shape().prop_map(|s| encode_shape(&s)), 1 => vote_txn()].boxed()
}

/// A vote account's state within its bounds.
pub fn vote_state() -> impl Strategy<Value = VoteState> {
    (
        (0u8..8, 0u8..8, tower()),
        any::<u64>(),
        prop::collection::vec(any::<(u64, u64, u64)>(), 0..=MAX_EPOCH_CREDITS_HISTORY),
        prop::option::of((any::<u64>(), any::<i64>())),
    )
        .prop_map(
            |((node, voter, t), credits, epoch_credits, last)| VoteState {
                node: pubkey(node),
                authorized_voter: pubkey(voter),
                votes: t.lockouts,
                root: t.root,
                credits,
                epoch_credits,
                last_timestamp: last.map(|(s, ts)| (Slot(s), ts)),
            },
        )
}

/// A PoH entry: a tick, or up to 3 transactions from `txns` (valid wire transactions).
pub fn entry(txns: Vec<Vec<u8>>) -> impl Strategy<Value = Entry> {
    (
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::collection::vec(prop::sample::select(txns), 0..=3),
    )
        .prop_map(|(num_hashes, hash, wires)| Entry {
            num_hashes,
            hash: Hash(hash),
            transactions: wires
                .iter()
                .map(|w| Txn::parse(w).expect("generated transactions parse"))
                .collect(),
        })
}
