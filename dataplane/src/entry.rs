//! PoH entries: the hash chain's records, how a chain of them is verified, and the tick rules.
//!
//! An entry says "after `num_hashes` more hashes the chain reached `hash`". A tick carries no
//! transactions; any other entry's last hash mixes in the Merkle root of its transactions'
//! signatures (Solana's scheme), which proves the transactions existed at that point of the chain.

use sha2::{Digest, Sha256};

use crate::txn::Txn;
use crate::types::Hash;

/// One step of the PoH chain: a tick (no transactions) or a batch of transactions mixed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Hashes since the previous entry, the mixin (if any) included.
    pub num_hashes: u64,
    /// The chain's hash after this entry.
    pub hash: Hash,
    /// The transactions mixed in; empty for a tick.
    pub transactions: Vec<Txn>,
}

impl Entry {
    /// A tick: an entry without transactions.
    pub fn is_tick(&self) -> bool {
        self.transactions.is_empty()
    }
}

/// Why a chain of entries does not follow from its start hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PohVerifyError {
    /// The entry's hash is not what its hashes (and mixin) produce from the previous entry's hash.
    #[error(
        "entry {index}: claims {claimed} after {num_hashes} hashes, the chain gives {computed}"
    )]
    HashMismatch {
        /// Position of the entry in the slice.
        index: usize,
        /// Hashes the entry declares.
        num_hashes: u64,
        /// The hash the entry declares.
        claimed: Hash,
        /// The hash the chain actually reaches.
        computed: Hash,
    },
    /// An entry with transactions must spend at least one hash on the mixin.
    #[error("entry {index} holds {transactions} transactions but declares 0 hashes")]
    TransactionsWithoutHash {
        /// Position of the entry in the slice.
        index: usize,
        /// Number of transactions it holds.
        transactions: usize,
    },
}

/// Why a slot's entries break the tick rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TickError {
    /// The slot has the wrong number of ticks.
    #[error("slot holds {actual} ticks, expected {expected}")]
    WrongTickCount {
        /// Ticks the slot must hold.
        expected: u64,
        /// Ticks it holds.
        actual: u64,
    },
    /// The slot's last entry is not a tick (or the slot has no entries).
    #[error("last entry (index {index}) of the slot is not a tick")]
    LastEntryNotTick {
        /// Index of the last entry (0 when there are none).
        index: usize,
    },
    /// A tick closes the wrong number of hashes.
    #[error("tick {tick} (entry {index}) closes {actual} hashes, expected {expected}")]
    WrongHashesPerTick {
        /// Position of the tick among the slot's ticks (0-based).
        tick: u64,
        /// Position of the tick entry among the slot's entries.
        index: usize,
        /// Hashes a tick must close.
        expected: u64,
        /// Hashes it closes.
        actual: u64,
    },
}

/// Merkle leaf and interior-node prefixes of Solana's `merkle-tree` crate.
const LEAF_PREFIX: &[u8] = &[0];
const INTERMEDIATE_PREFIX: &[u8] = &[1];

/// Merkle root of every signature of every transaction, in order (Solana's `hash_transactions`).
///
/// Leaves are `sha256(0 ‖ signature)`, interior nodes `sha256(1 ‖ left ‖ right)`; an odd last node
/// at any level pairs with itself. No signatures give `Hash::default()`.
pub fn hash_signatures(txs: &[Txn]) -> Hash {
    let count: usize = txs.iter().map(|t| t.view().num_signatures()).sum();
    let signatures = txs.iter().flat_map(|t| {
        let view = t.view();
        (0..view.num_signatures()).map(move |i| &view.signature_bytes(i)[..])
    });
    merkle_root(signatures, count)
}

/// Root of Solana's Merkle tree over `count` leaves (see [`hash_signatures`]).
fn merkle_root<'a>(leaves: impl Iterator<Item = &'a [u8]>, count: usize) -> Hash {
    if count == 0 {
        return Hash::default();
    }
    let mut level: Vec<Hash> = Vec::with_capacity(count);
    level.extend(leaves.map(|leaf| Hash::hashv(&[LEAF_PREFIX, leaf])));
    // Reduce in place: node i of the next level overwrites slot i, which was already consumed.
    let mut len = level.len();
    while len > 1 {
        let next_len = len.div_ceil(2);
        for i in 0..next_len {
            let left = level[2 * i];
            let right = if 2 * i + 1 < len {
                level[2 * i + 1]
            } else {
                left
            };
            level[i] = Hash::hashv(&[INTERMEDIATE_PREFIX, &left.0, &right.0]);
        }
        len = next_len;
    }
    level[0]
}

/// Runs `n` plain PoH hashes (`h = sha256(h)`) on a 32-byte state: the chain's hot loop.
#[inline]
pub(crate) fn hash_chain(state: &mut [u8; 32], n: u64) {
    for _ in 0..n {
        *state = Sha256::digest(*state).into();
    }
}

/// Mixes `mixin` into the chain: `h = sha256(h ‖ mixin)`, one hash.
#[inline]
pub(crate) fn hash_mixin(state: &mut [u8; 32], mixin: &Hash) {
    let mut h = Sha256::new();
    h.update(*state);
    h.update(mixin.0);
    *state = h.finalize().into();
}

/// The hash an entry reaches from `start` (Solana's `next_hash`).
///
/// Without transactions: `num_hashes` plain hashes. With transactions: `num_hashes - 1` plain
/// hashes, then the mixin of [`hash_signatures`].
pub fn next_hash(start: &Hash, num_hashes: u64, transactions: &[Txn]) -> Hash {
    let mut state = start.0;
    if transactions.is_empty() {
        hash_chain(&mut state, num_hashes);
    } else {
        hash_chain(&mut state, num_hashes.saturating_sub(1));
        hash_mixin(&mut state, &hash_signatures(transactions));
    }
    Hash(state)
}

/// Verifies `entries` from `start`; `first_index` is the first entry's index in the caller's slice.
fn verify_run(start: &Hash, entries: &[Entry], first_index: usize) -> Result<(), PohVerifyError> {
    let mut prev = *start;
    for (i, e) in entries.iter().enumerate() {
        let computed = next_hash(&prev, e.num_hashes, &e.transactions);
        if computed != e.hash {
            return Err(PohVerifyError::HashMismatch {
                index: first_index + i,
                num_hashes: e.num_hashes,
                claimed: e.hash,
                computed,
            });
        }
        prev = e.hash;
    }
    Ok(())
}

/// Relative cost of verifying one entry: its hashes plus about two per signature (Merkle tree).
fn verify_cost(e: &Entry) -> u128 {
    let signatures: usize = e
        .transactions
        .iter()
        .map(|t| t.view().num_signatures())
        .sum();
    u128::from(e.num_hashes) + 2 * signatures as u128 + 1
}

/// Verifies that `entries` chain from `start`, on up to `threads` threads.
///
/// Entry `i` starts at entry `i-1`'s claimed hash, so the slice is cut into contiguous runs of
/// about equal hashing work, each verified on its own thread. The error names the lowest failing
/// entry. Cost is the sum of `num_hashes`: on untrusted entries run [`check_ticks`] first, which
/// bounds it.
pub fn verify_entries(
    start: &Hash,
    entries: &[Entry],
    threads: usize,
) -> Result<(), PohVerifyError> {
    for (index, e) in entries.iter().enumerate() {
        if e.num_hashes == 0 && !e.transactions.is_empty() {
            return Err(PohVerifyError::TransactionsWithoutHash {
                index,
                transactions: e.transactions.len(),
            });
        }
    }
    let threads = threads.clamp(1, entries.len().max(1));
    if threads == 1 {
        return verify_run(start, entries, 0);
    }
    let bounds = split_by_cost(entries, threads);
    let results: Vec<Result<(), PohVerifyError>> = std::thread::scope(|s| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (lo, hi) = (w[0], w[1]);
                let run_start = if lo == 0 {
                    *start
                } else {
                    entries[lo - 1].hash
                };
                s.spawn(move || verify_run(&run_start, &entries[lo..hi], lo))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                // verify_run does not panic; if it ever did, surface the panic rather than pass.
                Err(p) => std::panic::resume_unwind(p),
            })
            .collect()
    });
    // Runs are in index order, so the first error is the lowest failing entry.
    results.into_iter().collect()
}

/// Cut points `0 = b0 < b1 < … < bk = len` splitting `entries` into at most `parts` non-empty runs
/// of about equal verification cost.
fn split_by_cost(entries: &[Entry], parts: usize) -> Vec<usize> {
    let total: u128 = entries.iter().map(verify_cost).sum();
    let mut bounds = Vec::with_capacity(parts + 1);
    bounds.push(0);
    let mut acc: u128 = 0;
    let mut next_cut = 1u128;
    for (i, e) in entries.iter().enumerate() {
        acc += verify_cost(e);
        // Cut after entry i once this run reached its share; never leave an empty run.
        if next_cut < parts as u128
            && acc * parts as u128 >= next_cut * total
            && i + 1 < entries.len()
        {
            bounds.push(i + 1);
            next_cut += 1;
        }
    }
    bounds.push(entries.len());
    bounds.dedup();
    bounds
}

/// Checks a slot's tick structure: exactly `expected_ticks` ticks, the last entry a tick, and every
/// tick closing exactly `hashes_per_tick` hashes counted since the previous tick (the entries in
/// between and the tick itself).
pub fn check_ticks(
    entries: &[Entry],
    expected_ticks: u64,
    hashes_per_tick: u64,
) -> Result<(), TickError> {
    match entries.last() {
        Some(e) if e.is_tick() => {}
        _ => {
            return Err(TickError::LastEntryNotTick {
                index: entries.len().saturating_sub(1),
            })
        }
    }
    let mut ticks: u64 = 0;
    let mut hashes: u64 = 0;
    for (index, e) in entries.iter().enumerate() {
        hashes = hashes.saturating_add(e.num_hashes);
        if e.is_tick() {
            if hashes != hashes_per_tick {
                return Err(TickError::WrongHashesPerTick {
                    tick: ticks,
                    index,
                    expected: hashes_per_tick,
                    actual: hashes,
                });
            }
            ticks += 1;
            hashes = 0;
        }
    }
    if ticks != expected_ticks {
        return Err(TickError::WrongTickCount {
            expected: expected_ticks,
            actual: ticks,
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::txn::{build_transfer, build_transfer_v0};
    use crate::types::Pubkey;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// A pool of real signed transfers, built once (signing is the slow part of these tests).
    pub(crate) fn txn_pool() -> &'static [Txn] {
        static POOL: OnceLock<Vec<Txn>> = OnceLock::new();
        POOL.get_or_init(|| {
            (0u8..32)
                .map(|i| {
                    let key = SigningKey::from_bytes(&[i.wrapping_add(1); 32]);
                    let to = Pubkey([i.wrapping_add(100); 32]);
                    let lamports = u64::from(i) * 7 + 1;
                    // Every other one a v0 message, so entries and blocks carry both formats.
                    let bytes = if i % 2 == 1 {
                        build_transfer_v0(&key, &to, lamports, &Hash([i; 32]))
                    } else {
                        build_transfer(&key, &to, lamports, &Hash([i; 32]))
                    };
                    Txn::parse(&bytes).expect("built transfers parse")
                })
                .collect()
        })
    }

    /// Reference Merkle root written the obvious way: build every level as a new vector.
    fn merkle_reference(txs: &[Txn]) -> Hash {
        let mut level: Vec<Hash> = txs
            .iter()
            .flat_map(|t| {
                let v = t.view();
                (0..v.num_signatures())
                    .map(move |i| Hash::hashv(&[&[0u8], v.signature_bytes(i)]))
                    .collect::<Vec<_>>()
            })
            .collect();
        if level.is_empty() {
            return Hash::default();
        }
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|c| {
                    let r = c.get(1).unwrap_or(&c[0]);
                    Hash::hashv(&[&[1u8], &c[0].0, &r.0])
                })
                .collect();
        }
        level[0]
    }

    /// Builds a valid chain from `start`: `(num_hashes, txn indices)` per entry.
    pub(crate) fn chain(start: Hash, shape: &[(u64, Vec<usize>)]) -> Vec<Entry> {
        let pool = txn_pool();
        let mut prev = start;
        shape
            .iter()
            .map(|(n, idx)| {
                let transactions: Vec<Txn> =
                    idx.iter().map(|&i| pool[i % pool.len()].clone()).collect();
                let num_hashes = if transactions.is_empty() {
                    *n
                } else {
                    (*n).max(1)
                };
                let hash = next_hash(&prev, num_hashes, &transactions);
                prev = hash;
                Entry {
                    num_hashes,
                    hash,
                    transactions,
                }
            })
            .collect()
    }

    #[test]
    fn merkle_root_of_small_trees_by_hand() {
        let pool = txn_pool();
        assert_eq!(hash_signatures(&[]), Hash::default());
        let leaf = |t: &Txn| Hash::hashv(&[&[0u8], &t.signature().0]);
        let node = |a: Hash, b: Hash| Hash::hashv(&[&[1u8], &a.0, &b.0]);
        assert_eq!(hash_signatures(&pool[..1]), leaf(&pool[0]));
        let (a, b, c) = (leaf(&pool[0]), leaf(&pool[1]), leaf(&pool[2]));
        assert_eq!(hash_signatures(&pool[..2]), node(a, b));
        // Three leaves: the odd third pairs with itself.
        assert_eq!(hash_signatures(&pool[..3]), node(node(a, b), node(c, c)));
    }

    #[test]
    fn merkle_root_matches_solana_known_answer() {
        // The golden root of `test_tree_from_many` in Solana's merkle-tree crate.
        let words: [&[u8]; 11] = [
            b"my", b"very", b"eager", b"mother", b"just", b"served", b"us", b"nine", b"pizzas",
            b"make", b"prime",
        ];
        let root = merkle_root(words.iter().copied(), words.len());
        let hex: String = root.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "b40c847546fdceea166f927fc46c5ca33c3638236a36275c1346d3dffb84e1bc"
        );
    }

    #[test]
    fn next_hash_matches_the_definition() {
        let start = Hash([9; 32]);
        let mut h = start;
        for _ in 0..5 {
            h = Hash::of(&h.0);
        }
        assert_eq!(next_hash(&start, 5, &[]), h);
        assert_eq!(next_hash(&start, 0, &[]), start);
        let txs = &txn_pool()[..3];
        let mut h = start;
        for _ in 0..4 {
            h = Hash::of(&h.0);
        }
        let mixed = Hash::hashv(&[&h.0, &hash_signatures(txs).0]);
        assert_eq!(next_hash(&start, 5, txs), mixed);
    }

    #[test]
    fn verify_names_the_bad_entry_on_any_thread_count() {
        let start = Hash([1; 32]);
        let shape: Vec<(u64, Vec<usize>)> = (0..40)
            .map(|i| {
                (
                    i as u64 % 7 + 1,
                    if i % 3 == 0 { vec![i, i + 1] } else { vec![] },
                )
            })
            .collect();
        let good = chain(start, &shape);
        for threads in [1, 2, 3, 8, 100] {
            assert_eq!(verify_entries(&start, &good, threads), Ok(()));
            for bad in [0, 17, 39] {
                let mut entries = good.clone();
                entries[bad].hash.0[0] ^= 1;
                let err = verify_entries(&start, &entries, threads).unwrap_err();
                assert!(
                    matches!(err, PohVerifyError::HashMismatch { index, .. } if index == bad),
                    "threads {threads}, corrupted {bad}: {err}"
                );
            }
        }
        assert!(verify_entries(&Hash([2; 32]), &good, 2).is_err());
        assert_eq!(verify_entries(&start, &[], 4), Ok(()));
    }

    #[test]
    fn transaction_entry_needs_a_hash() {
        let start = Hash::default();
        let mut entries = chain(start, &[(3, vec![]), (1, vec![0])]);
        entries[1].num_hashes = 0;
        let err = verify_entries(&start, &entries, 1).unwrap_err();
        assert_eq!(
            err,
            PohVerifyError::TransactionsWithoutHash {
                index: 1,
                transactions: 1
            }
        );
        assert!(err.to_string().contains("entry 1"), "{err}");
    }

    #[test]
    fn tick_rules_name_the_values() {
        let start = Hash::default();
        // Two ticks of 10 hashes, the second with a 4-hash transaction entry before it.
        let entries = chain(start, &[(10, vec![]), (4, vec![1]), (6, vec![])]);
        assert_eq!(check_ticks(&entries, 2, 10), Ok(()));
        assert_eq!(
            check_ticks(&entries, 3, 10),
            Err(TickError::WrongTickCount {
                expected: 3,
                actual: 2
            })
        );
        let err = check_ticks(&entries, 2, 8).unwrap_err();
        assert_eq!(
            err,
            TickError::WrongHashesPerTick {
                tick: 0,
                index: 0,
                expected: 8,
                actual: 10
            }
        );
        assert!(err.to_string().contains("closes 10 hashes"), "{err}");
        assert_eq!(
            check_ticks(&entries[..2], 1, 10),
            Err(TickError::LastEntryNotTick { index: 1 })
        );
        assert_eq!(
            check_ticks(&[], 0, 10),
            Err(TickError::LastEntryNotTick { index: 0 })
        );
    }

    proptest! {
        #[test]
        fn merkle_root_matches_reference(idx in proptest::collection::vec(0usize..32, 0..20)) {
            let pool = txn_pool();
            let txs: Vec<Txn> = idx.iter().map(|&i| pool[i].clone()).collect();
            prop_assert_eq!(hash_signatures(&txs), merkle_reference(&txs));
        }

        #[test]
        fn parallel_verdict_equals_sequential(
            shape in proptest::collection::vec(
                (0u64..20, proptest::collection::vec(0usize..32, 0..3)),
                0..30,
            ),
            corrupt in proptest::option::of((0usize..30, 0usize..32)),
            threads in 1usize..6,
        ) {
            let start = Hash([5; 32]);
            let mut entries = chain(start, &shape);
            if let Some((i, byte)) = corrupt {
                if let Some(e) = entries.get_mut(i) {
                    e.hash.0[byte] ^= 0x80;
                }
            }
            prop_assert_eq!(
                verify_entries(&start, &entries, threads),
                verify_entries(&start, &entries, 1)
            );
        }
    }
}
