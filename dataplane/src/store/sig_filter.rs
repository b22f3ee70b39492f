//! Which signature-index buckets may hold a signature, answered from memory.
//!
//! A lookup of a signature the caller cannot place (`getSignatureStatuses` with history,
//! `getTransaction`, `getSignaturesForAddress`'s `before`) probes the index buckets newest first,
//! one B-tree lookup each: ≈ 1,250 at 10 M transactions, most of them reads of pages nothing else
//! wants. A blocked Bloom filter per sealed bucket (one 64-byte block per signature, 16 bits per
//! signature: ≈ 0.1 % false positives) skips the buckets that cannot hold it, so a lookup probes
//! the bucket that does and about one in a thousand of the others.
//!
//! The filters hold the signatures' 8-byte index prefixes — the index's own keys — so they are
//! rebuilt from the index when the ledger opens, with no table of their own to keep in step.
//! They only ever over-approximate: a replaced or removed block's prefixes stay set, as its index
//! rows do, and the full key in `tx_status` decides. Memory is 2 bytes per indexed signature
//! (20 MiB at 10 M), bounded by what the ledger keeps.

use std::collections::BTreeMap;

/// Filter bits per signature: 16, with 7 bits set in one 512-bit block, gives 0.1 % false
/// positives (measured in the tests).
const BITS_PER_SIGNATURE: usize = 16;
/// Bits set per signature, within its block.
const PROBES: u32 = 7;
/// `u64` words per block: one 64-byte cache line.
const BLOCK_WORDS: usize = 8;

/// A blocked Bloom filter over signature prefixes.
#[derive(Debug, Clone)]
struct Bloom {
    blocks: Vec<[u64; BLOCK_WORDS]>,
}

/// SplitMix64's finaliser: prefixes are signature bytes, already uniform, but a fixed mix keeps a
/// crafted run of prefixes from landing in one block.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Bloom {
    /// A filter sized for `prefixes`, holding them.
    fn of(prefixes: &[u64]) -> Bloom {
        let bits = prefixes.len().max(1) * BITS_PER_SIGNATURE;
        let mut bloom = Bloom {
            blocks: vec![[0; BLOCK_WORDS]; bits.div_ceil(BLOCK_WORDS * 64)],
        };
        for &p in prefixes {
            let (block, bits) = bloom.place(p);
            for (word, b) in bloom.blocks[block].iter_mut().zip(bits) {
                *word |= b;
            }
        }
        bloom
    }

    /// The block of `prefix` and the bits it sets there.
    fn place(&self, prefix: u64) -> (usize, [u64; BLOCK_WORDS]) {
        let h = mix(prefix);
        // Lemire's multiply-shift: a block from the high bits without a power-of-two size.
        let block = ((u128::from(h) * self.blocks.len() as u128) >> 64) as usize;
        let mut bits = [0u64; BLOCK_WORDS];
        let mut g = mix(h);
        for _ in 0..PROBES {
            let bit = (g & 511) as usize;
            bits[bit / 64] |= 1 << (bit % 64);
            g >>= 9;
        }
        (block, bits)
    }

    fn may_contain(&self, prefix: u64) -> bool {
        let (block, bits) = self.place(prefix);
        self.blocks[block]
            .iter()
            .zip(bits)
            .all(|(word, b)| word & b == b)
    }

    fn bytes(&self) -> usize {
        self.blocks.len() * BLOCK_WORDS * 8
    }
}

/// The filters of every bucket of the signature index.
#[derive(Debug, Default)]
pub(super) struct SigFilters {
    /// Sealed buckets: one filter built when the bucket was sealed, plus one per block stored
    /// into it later (a fork replayed late).
    sealed: BTreeMap<u64, Vec<Bloom>>,
    /// The newest bucket, still filling: its prefixes, sealed into a filter sized for all of
    /// them once a newer bucket begins. Always probed until then.
    open: Option<(u64, Vec<u64>)>,
}

impl SigFilters {
    /// Filters built from the index's keys, in key order: (bucket, prefix).
    pub(super) fn build(keys: impl IntoIterator<Item = (u64, u64)>) -> SigFilters {
        let mut filters = SigFilters::default();
        let mut current: Option<(u64, Vec<u64>)> = None;
        for (bucket, prefix) in keys {
            match &mut current {
                Some((b, prefixes)) if *b == bucket => prefixes.push(prefix),
                _ => {
                    if let Some((b, prefixes)) = current.take() {
                        filters.sealed.insert(b, vec![Bloom::of(&prefixes)]);
                    }
                    current = Some((bucket, vec![prefix]));
                }
            }
        }
        filters.open = current;
        filters
    }

    /// Records prefixes stored into `bucket`.
    pub(super) fn insert(&mut self, bucket: u64, prefixes: &[u64]) {
        match &mut self.open {
            Some((b, open)) if *b == bucket => open.extend_from_slice(prefixes),
            Some((b, _)) if *b > bucket => self
                .sealed
                .entry(bucket)
                .or_default()
                .push(Bloom::of(prefixes)),
            _ => {
                if let Some((b, open)) = self.open.take() {
                    self.sealed.entry(b).or_default().push(Bloom::of(&open));
                }
                self.open = Some((bucket, prefixes.to_vec()));
            }
        }
    }

    /// Buckets at or below `newest` that may hold `prefix`, newest first.
    pub(super) fn candidates(&self, prefix: u64, newest: u64) -> Vec<u64> {
        let mut out = Vec::new();
        if let Some((b, _)) = &self.open {
            if *b <= newest {
                out.push(*b);
            }
        }
        out.extend(
            self.sealed
                .range(..=newest)
                .rev()
                .filter(|(_, blooms)| blooms.iter().any(|f| f.may_contain(prefix)))
                .map(|(b, _)| *b),
        );
        out
    }

    /// Drops the filters of buckets below `bucket` (pruned from the ledger).
    pub(super) fn forget_below(&mut self, bucket: u64) {
        self.sealed = self.sealed.split_off(&bucket);
        if self.open.as_ref().is_some_and(|(b, _)| *b < bucket) {
            self.open = None;
        }
    }

    /// Bytes the filters hold.
    pub(super) fn bytes(&self) -> usize {
        let sealed: usize = self.sealed.values().flatten().map(Bloom::bytes).sum();
        sealed + self.open.as_ref().map_or(0, |(_, p)| p.len() * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn a_filter_holds_what_it_was_given_and_rarely_more() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let held: Vec<u64> = (0..50_000).map(|_| rng.gen()).collect();
        let bloom = Bloom::of(&held);
        assert!(held.iter().all(|&p| bloom.may_contain(p)));
        let trials = 1_000_000;
        let false_positives = (0..trials).filter(|_| bloom.may_contain(rng.gen())).count();
        // 0.10 % measured (1,015 in a million); a filter that said "maybe" more would fail here.
        assert!(
            false_positives < trials / 500,
            "{false_positives} false positives in {trials}"
        );
        assert_eq!(
            bloom.bytes(),
            (50_000 * BITS_PER_SIGNATURE).div_ceil(512) * 64
        );
    }

    #[test]
    fn candidates_are_the_open_bucket_and_the_sealed_ones_that_may_hold_the_prefix() {
        let mut filters = SigFilters::build([(1, 10), (1, 11), (2, 20), (4, 40)]);
        // Bucket 4 is open: always a candidate, whatever the prefix.
        assert_eq!(filters.candidates(10, 9), vec![4, 1]);
        assert_eq!(filters.candidates(20, 9), vec![4, 2]);
        assert_eq!(filters.candidates(20, 3), vec![2]);
        // A newer bucket seals bucket 4; a late block into bucket 2 adds to its filters.
        filters.insert(5, &[50]);
        filters.insert(2, &[21]);
        assert_eq!(filters.candidates(40, 9), vec![5, 4]);
        assert_eq!(filters.candidates(21, 9), vec![5, 2]);
        assert_eq!(filters.candidates(20, 9), vec![5, 2]);
        assert_eq!(filters.candidates(99, 9), vec![5]);
        filters.insert(5, &[51]);
        assert_eq!(filters.candidates(51, 4), Vec::<u64>::new());
    }
}
