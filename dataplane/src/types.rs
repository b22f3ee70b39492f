//! Primitive value types shared by every stage: keys, signatures, hashes and slots.
//!
//! They match Solana's byte layouts (32-byte ed25519 public keys, 64-byte signatures, 32-byte SHA-256
//! hashes) and print as base58, so wallets and client libraries see the forms they expect.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Why a base58 string is not a valid key, signature or hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseBase58Error {
    /// The text is not base58.
    #[error("invalid base58: {0}")]
    Invalid(String),
    /// The text decodes to the wrong number of bytes.
    #[error("expected {expected} bytes, base58 text decodes to {actual}")]
    WrongLength {
        /// Bytes the type holds.
        expected: usize,
        /// Bytes the text decoded to.
        actual: usize,
    },
}

fn decode_base58<const N: usize>(s: &str) -> Result<[u8; N], ParseBase58Error> {
    // Base58 needs at most ~1.37 characters per byte; longer text cannot be a valid N-byte value and
    // is rejected before decoding so a hostile string costs nothing.
    if s.len() > N * 2 {
        return Err(ParseBase58Error::WrongLength {
            expected: N,
            actual: s.len(),
        });
    }
    let mut out = [0u8; N];
    let mut buf = [0u8; 128];
    let n = bs58::decode(s)
        .onto(&mut buf[..])
        .map_err(|e| ParseBase58Error::Invalid(e.to_string()))?;
    if n != N {
        return Err(ParseBase58Error::WrongLength {
            expected: N,
            actual: n,
        });
    }
    out.copy_from_slice(&buf[..N]);
    Ok(out)
}

/// Base58 text of `bytes`, written into `buf`: five8's fixed-width encoders for 32 and 64 bytes
/// (every key, hash and signature), which are an order of magnitude faster than the general
/// big-number loop; PubSub and RPC render thousands per block.
fn encode_base58<'a>(bytes: &[u8], buf: &'a mut [u8; 128]) -> &'a str {
    let len = if let Ok(b) = <&[u8; 32]>::try_from(bytes) {
        let mut out = [0u8; five8::BASE58_ENCODED_32_MAX_LEN];
        let n = usize::from(five8::encode_32(b, &mut out));
        buf[..n].copy_from_slice(&out[..n]);
        n
    } else if let Ok(b) = <&[u8; 64]>::try_from(bytes) {
        let mut out = [0u8; five8::BASE58_ENCODED_64_MAX_LEN];
        let n = usize::from(five8::encode_64(b, &mut out));
        buf[..n].copy_from_slice(&out[..n]);
        n
    } else {
        // Other widths reach here only through `base58`, which sends longer ones elsewhere.
        bs58::encode(bytes).onto(&mut buf[..]).unwrap_or(0)
    };
    // Base58's alphabet is ASCII.
    std::str::from_utf8(&buf[..len]).unwrap_or_default()
}

/// Base58 text of any bytes: keys, hashes and signatures (32 and 64 bytes) through the fixed-width
/// encoders, any other width through the general one.
pub fn base58(bytes: &[u8]) -> String {
    // 128 characters hold the base58 text of up to 93 bytes.
    if bytes.len() <= 93 {
        encode_base58(bytes, &mut [0u8; 128]).to_string()
    } else {
        bs58::encode(bytes).into_string()
    }
}

macro_rules! base58_bytes_type {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(transparent)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length of the value in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Reads the value from exactly `Self::LEN` bytes; `None` for any other length.
            pub fn try_from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self([0u8; $len])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(encode_base58(&self.0, &mut [0u8; 128]))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = ParseBase58Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                decode_base58::<$len>(s).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(encode_base58(&self.0, &mut [0u8; 128]))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

base58_bytes_type!(
    /// An ed25519 public key: an account address or a validator identity.
    Pubkey,
    32
);
base58_bytes_type!(
    /// An ed25519 signature; a transaction's first signature is its id.
    Signature,
    64
);
base58_bytes_type!(
    /// A SHA-256 digest: PoH hashes, blockhashes, bank hashes, the genesis hash.
    Hash,
    32
);

impl Hash {
    /// SHA-256 of the concatenation of `parts`.
    pub fn hashv(parts: &[&[u8]]) -> Hash {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        Hash(h.finalize().into())
    }

    /// SHA-256 of one byte string.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }
}

impl Pubkey {
    /// The System Program's id, `11111111111111111111111111111111` (all zero bytes).
    pub const SYSTEM_PROGRAM: Pubkey = Pubkey([0u8; 32]);
}

/// A slot number: the leader's turn to produce one block, ticked by PoH.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Slot(pub u64);

impl Slot {
    /// The slot after this one.
    pub fn next(self) -> Slot {
        Slot(self.0.saturating_add(1))
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Lamports: the chain's base unit of money (1 SOL-equivalent = 10^9 lamports).
pub type Lamports = u64;

/// Number of lamports in one whole token, as in Solana.
pub const LAMPORTS_PER_TOKEN: Lamports = 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_program_prints_as_solana_does() {
        assert_eq!(
            Pubkey::SYSTEM_PROGRAM.to_string(),
            "11111111111111111111111111111111"
        );
    }

    #[test]
    fn base58_round_trip_and_length_checks() {
        let k = Pubkey([7u8; 32]);
        let s = k.to_string();
        assert_eq!(s.parse::<Pubkey>().unwrap(), k);
        let sig = Signature([0xAB; 64]);
        assert_eq!(sig.to_string().parse::<Signature>().unwrap(), sig);
        assert!(matches!(
            sig.to_string().parse::<Pubkey>(),
            Err(ParseBase58Error::WrongLength { .. })
        ));
        assert!(matches!(
            "0OIl".parse::<Pubkey>(),
            Err(ParseBase58Error::Invalid(_))
        ));
        assert!("1".repeat(10_000).parse::<Hash>().is_err());
    }

    proptest::proptest! {
        /// The fast fixed-width encoders print what the general base58 encoder prints, leading
        /// zero bytes (each a '1') included.
        #[test]
        fn base58_text_is_the_general_encoders(
            key in proptest::array::uniform32(proptest::prelude::any::<u8>()),
            sig_head in proptest::array::uniform32(proptest::prelude::any::<u8>()),
            sig_tail in proptest::array::uniform32(proptest::prelude::any::<u8>()),
            zeros in 0usize..40,
        ) {
            let mut key = key;
            key[..zeros.min(32)].fill(0);
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&sig_head);
            sig[32..].copy_from_slice(&sig_tail);
            sig[..zeros].fill(0);
            proptest::prop_assert_eq!(Pubkey(key).to_string(), bs58::encode(key).into_string());
            proptest::prop_assert_eq!(Signature(sig).to_string(), bs58::encode(sig).into_string());
            proptest::prop_assert_eq!(
                serde_json::to_string(&Signature(sig)).unwrap(),
                format!("\"{}\"", bs58::encode(sig).into_string())
            );
        }

        /// `base58` of any width, around the fixed widths and the stack buffer's 93 bytes,
        /// prints what the general encoder prints.
        #[test]
        fn base58_of_any_width_is_the_general_encoders(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            zeros in 0usize..100,
        ) {
            let mut bytes = bytes;
            let n = zeros.min(bytes.len());
            bytes[..n].fill(0);
            for width in [bytes.len(), 32, 64, 93, 94] {
                let mut b = bytes.clone();
                b.resize(width, 0xA5);
                proptest::prop_assert_eq!(base58(&b), bs58::encode(&b).into_string());
            }
        }
    }

    #[test]
    fn base58_of_all_zero_and_all_ones_values() {
        assert_eq!(Signature([0; 64]).to_string(), "1".repeat(64));
        assert_eq!(
            Hash([0xFF; 32]).to_string(),
            bs58::encode([0xFF; 32]).into_string()
        );
        assert_eq!(
            Signature([0xFF; 64]).to_string(),
            bs58::encode([0xFF; 64]).into_string()
        );
    }

    #[test]
    fn hashv_equals_hash_of_concatenation() {
        assert_eq!(Hash::hashv(&[b"ab", b"cd"]), Hash::of(b"abcd"));
    }
}
