//! The Bloom filter a pull request carries: the hashes of the values the requester holds.
//!
//! Both ends compute the same bit indices, so the hashing is part of the wire protocol and is
//! specified here exactly (which is why no Bloom crate is used: none promises its hashing stays
//! fixed across versions, and a change would silently make every response resend everything):
//!
//! - a value is identified by its 32-byte SHA-256 hash `h` ([`super::crds::SignedValue::hash`]);
//! - `x = u64::from_le_bytes(h[0..8])`;
//! - for each key `key_i` of the filter (random `u64`s the requester draws per request and sends),
//!   the bit index is `splitmix64(x ^ key_i) % num_bits`, with [`splitmix64`] as written below;
//! - bit `b` is bit `b % 64` of word `b / 64`; words travel as little-endian `u64`s;
//! - the filter covers one partition of the hash space: `p = u64::from_le_bytes(h[8..16]) >>
//!   (64 - mask_bits)` (`p = 0` when `mask_bits = 0`), and only values with `p == mask` are in
//!   scope. A table too large for one datagram's filter is covered over several requests.
//!
//! Fresh keys per request make false positives differ each time, so no value stays hidden from a
//! requester for long.

use dataplane::types::Hash;
use rand::Rng;

/// Hash functions per filter for a 1 % false-positive rate (optimal k = 9.59 × ln 2 ≈ 6.6).
pub const BLOOM_KEYS: usize = 7;
/// Most keys a received filter may carry.
pub const BLOOM_KEYS_MAX: usize = 8;
/// Bits per item for a 1 % false-positive rate (−ln 0.01 / ln² 2 ≈ 9.585), in thousandths.
pub const BLOOM_BITS_PER_ITEM_MILLI: usize = 9_586;
/// Most 64-bit words a received filter may have: what fits in a pull request beside the largest
/// contact info of releases before 0.2 (they built filters this large).
pub const BLOOM_WORDS_MAX: usize = 112;
/// Most words a filter this node builds has: what fits in a pull request beside the largest
/// contact info, both QUIC addresses included (checked in `wire`).
pub const BLOOM_WORDS_BUILT_MAX: usize = 107;
/// Most words a filter of a 0.2 release has (one QUIC address; checked in `wire`).
pub const BLOOM_WORDS_0_2_BUILT_MAX: usize = 109;
/// Fewest words a filter this node builds has (4,096 bits). A small table's filter is padded to
/// this size: it lowers false positives, and the request's size is what the responder's
/// amplification budget is measured against.
pub const BLOOM_WORDS_MIN: usize = 64;
/// Most partition bits: 65,536 partitions of [`BLOOM_ITEMS_MAX`] items, far beyond any table.
pub const BLOOM_MASK_BITS_MAX: u8 = 16;
/// Most items one filter holds at a 1 % false-positive rate.
pub const BLOOM_ITEMS_MAX: usize = BLOOM_WORDS_BUILT_MAX * 64 * 1000 / BLOOM_BITS_PER_ITEM_MILLI;

/// A Bloom filter over value hashes in one partition of the hash space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    keys: Vec<u64>,
    words: Vec<u64>,
    mask: u64,
    mask_bits: u8,
}

/// Why filter parts do not make a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BloomError {
    /// No keys, or more than [`BLOOM_KEYS_MAX`].
    KeyCount,
    /// No words, or more than [`BLOOM_WORDS_MAX`].
    WordCount,
    /// More than [`BLOOM_MASK_BITS_MAX`] partition bits, or a mask outside them.
    Mask,
}

impl BloomError {
    /// What is wrong, for error messages.
    pub fn problem(self) -> &'static str {
        match self {
            BloomError::KeyCount => "key count outside 1..=8",
            BloomError::WordCount => "word count outside 1..=112",
            BloomError::Mask => "partition mask outside its bits, or more than 16 bits",
        }
    }
}

impl Bloom {
    /// An empty filter for `items` values of partition `mask` (of `mask_bits` bits), sized for a
    /// 1 % false-positive rate within [`BLOOM_WORDS_MIN`]..=[`BLOOM_WORDS_BUILT_MAX`] words, with fresh
    /// keys from `rng`.
    pub fn for_items(items: usize, mask: u64, mask_bits: u8, rng: &mut impl Rng) -> Bloom {
        let bits = items.saturating_mul(BLOOM_BITS_PER_ITEM_MILLI) / 1000;
        let words = bits
            .div_ceil(64)
            .clamp(BLOOM_WORDS_MIN, BLOOM_WORDS_BUILT_MAX);
        let keys = (0..BLOOM_KEYS).map(|_| rng.gen()).collect();
        let mask_bits = mask_bits.min(BLOOM_MASK_BITS_MAX);
        Bloom {
            keys,
            words: vec![0; words],
            mask: mask & partition_limit(mask_bits),
            mask_bits,
        }
    }

    /// A filter from received parts, checked against every bound.
    pub fn from_parts(
        keys: Vec<u64>,
        words: Vec<u64>,
        mask: u64,
        mask_bits: u8,
    ) -> Result<Bloom, BloomError> {
        if keys.is_empty() || keys.len() > BLOOM_KEYS_MAX {
            return Err(BloomError::KeyCount);
        }
        if words.is_empty() || words.len() > BLOOM_WORDS_MAX {
            return Err(BloomError::WordCount);
        }
        if mask_bits > BLOOM_MASK_BITS_MAX || mask & !partition_limit(mask_bits) != 0 {
            return Err(BloomError::Mask);
        }
        Ok(Bloom {
            keys,
            words,
            mask,
            mask_bits,
        })
    }

    /// Adds a value hash (whether or not it is in this filter's partition).
    pub fn add(&mut self, hash: &Hash) {
        let num_bits = self.num_bits();
        let x = low_word(hash);
        for &key in &self.keys {
            let bit = splitmix64(x ^ key) % num_bits;
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }

    /// Whether `hash` may have been added (false positives at about 1 % when sized for its items).
    pub fn contains(&self, hash: &Hash) -> bool {
        let num_bits = self.num_bits();
        let x = low_word(hash);
        self.keys.iter().all(|&key| {
            let bit = splitmix64(x ^ key) % num_bits;
            self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0
        })
    }

    /// Whether `hash` lies in this filter's partition.
    pub fn covers(&self, hash: &Hash) -> bool {
        partition(hash, self.mask_bits) == self.mask
    }

    /// The hash keys.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// The bit words.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The partition this filter covers.
    pub fn mask(&self) -> u64 {
        self.mask
    }

    /// How many top bits of the partition word select the partition.
    pub fn mask_bits(&self) -> u8 {
        self.mask_bits
    }

    fn num_bits(&self) -> u64 {
        // At most BLOOM_WORDS_MAX words, so this cannot overflow; never zero by construction.
        self.words.len() as u64 * 64
    }
}

/// The partition of `hash` when the space is cut into `2^mask_bits` parts.
pub fn partition(hash: &Hash, mask_bits: u8) -> u64 {
    if mask_bits == 0 {
        return 0;
    }
    let mut w = [0u8; 8];
    w.copy_from_slice(&hash.0[8..16]);
    u64::from_le_bytes(w) >> (64 - u32::from(mask_bits.min(BLOOM_MASK_BITS_MAX)))
}

/// Partition bits for a table of `items` values: the fewest that keep the expected partition
/// within [`BLOOM_ITEMS_MAX`].
pub fn mask_bits_for(items: usize) -> u8 {
    let mut bits = 0u8;
    while bits < BLOOM_MASK_BITS_MAX && items.div_ceil(1 << bits) > BLOOM_ITEMS_MAX {
        bits += 1;
    }
    bits
}

fn partition_limit(mask_bits: u8) -> u64 {
    (1u64 << mask_bits.min(BLOOM_MASK_BITS_MAX)) - 1
}

fn low_word(hash: &Hash) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&hash.0[..8]);
    u64::from_le_bytes(w)
}

/// SplitMix64's output function (Steele, Lea, Flood 2014): a fixed, fast 64-bit mixer.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn hash(i: u64) -> Hash {
        Hash::of(&i.to_le_bytes())
    }

    #[test]
    fn added_hashes_are_found_and_the_false_positive_rate_is_about_one_percent() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let items = BLOOM_ITEMS_MAX;
        let mut bloom = Bloom::for_items(items, 0, 0, &mut rng);
        assert_eq!(bloom.words().len(), BLOOM_WORDS_BUILT_MAX);
        for i in 0..items as u64 {
            bloom.add(&hash(i));
        }
        assert!((0..items as u64).all(|i| bloom.contains(&hash(i))));
        let trials = 100_000u64;
        let false_positives = (0..trials)
            .filter(|i| bloom.contains(&hash(1_000_000 + i)))
            .count();
        // 1 % expected; 1.5 % leaves room for the rounding of k and m.
        assert!(false_positives < 1_500, "{false_positives} of {trials}");
    }

    #[test]
    fn the_indices_are_fixed_by_the_specification() {
        // Pins the hashing both ends must agree on: changing it is a wire-protocol change.
        let bloom_keys = vec![1, 2];
        let mut bloom = Bloom::from_parts(bloom_keys, vec![0; 2], 0, 0).expect("valid");
        let h = Hash([0xAB; 32]);
        bloom.add(&h);
        let x = u64::from_le_bytes([0xAB; 8]);
        let mut expected = [0u64; 2];
        for key in [1u64, 2] {
            let bit = splitmix64(x ^ key) % 128;
            expected[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        assert_eq!(bloom.words(), &expected);
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn partitions_split_the_hash_space() {
        assert_eq!(mask_bits_for(0), 0);
        assert_eq!(mask_bits_for(BLOOM_ITEMS_MAX), 0);
        assert_eq!(mask_bits_for(BLOOM_ITEMS_MAX * 2), 1);
        assert_eq!(mask_bits_for(BLOOM_ITEMS_MAX * 4 + 1), 3);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let filters: Vec<Bloom> = (0..4)
            .map(|m| Bloom::for_items(10, m, 2, &mut rng))
            .collect();
        for i in 0..100 {
            let covering = filters.iter().filter(|f| f.covers(&hash(i))).count();
            assert_eq!(covering, 1);
        }
    }

    #[test]
    fn received_parts_are_bounded() {
        assert_eq!(
            Bloom::from_parts(vec![], vec![0], 0, 0),
            Err(BloomError::KeyCount)
        );
        assert_eq!(
            Bloom::from_parts(vec![0; 9], vec![0], 0, 0),
            Err(BloomError::KeyCount)
        );
        assert_eq!(
            Bloom::from_parts(vec![0], vec![], 0, 0),
            Err(BloomError::WordCount)
        );
        assert_eq!(
            Bloom::from_parts(vec![0], vec![0; BLOOM_WORDS_MAX + 1], 0, 0),
            Err(BloomError::WordCount)
        );
        assert_eq!(
            Bloom::from_parts(vec![0], vec![0], 4, 2),
            Err(BloomError::Mask)
        );
        assert_eq!(
            Bloom::from_parts(vec![0], vec![0], 0, 17),
            Err(BloomError::Mask)
        );
        assert!(Bloom::from_parts(vec![0], vec![0], 3, 2).is_ok());
    }
}
