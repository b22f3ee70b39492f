//! SLIP-0010 ed25519 key derivation: the hierarchical keys wallets such as Phantom and Solflare
//! derive from a seed phrase (`m/44'/501'/0'/0'` for a Solana account), so their phrases recover the
//! same addresses here.
//!
//! ed25519 has no public-key derivation, so SLIP-0010 defines hardened children only; a path with a
//! normal component is refused rather than silently promoted (as `solana-keygen` does), so the path a
//! user writes is the path their key comes from.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use sha2::Sha512;

/// The path Phantom, Solflare and `solana-keygen --derivation-path` use for a Solana account.
pub const SOLANA_DERIVATION_PATH: &str = "m/44'/501'/0'/0'";
/// Most components a path may have: BIP32 serialises depth as one byte.
pub const DERIVATION_DEPTH_MAX: usize = u8::MAX as usize;
/// The bit that marks a hardened child index (BIP32's `2^31`).
const HARDENED: u32 = 1 << 31;
/// SLIP-0010's HMAC key for the ed25519 master key.
const ED25519_CURVE: &[u8] = b"ed25519 seed";

/// Why text is not a usable ed25519 derivation path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerivationPathError {
    /// The path does not start at the master key.
    #[error("derivation path {path:?} must start with \"m\", as in {SOLANA_DERIVATION_PATH}")]
    NoMaster {
        /// The path as given.
        path: String,
    },
    /// A component is not a number below 2^31 followed by `'`.
    #[error(
        "derivation path component {position} ({component:?}) is not an index in 0..2^31 followed \
         by ' (as in 44')"
    )]
    BadComponent {
        /// 1-based position after `m`.
        position: usize,
        /// The component as given.
        component: String,
    },
    /// A normal (non-hardened) component, which ed25519 cannot derive.
    #[error(
        "derivation path component {position} ({component}) is not hardened: SLIP-0010 ed25519 \
         derives hardened keys only; write {component}' (solana-keygen reads {component} as \
         {component}')"
    )]
    NotHardened {
        /// 1-based position after `m`.
        position: usize,
        /// The index as given.
        component: u32,
    },
    /// More components than BIP32 allows.
    #[error("derivation path has {depth} components, more than {DERIVATION_DEPTH_MAX}")]
    TooDeep {
        /// Components given.
        depth: usize,
    },
}

/// A SLIP-0010 ed25519 derivation path: hardened child indices below the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivationPath {
    /// Child indices without the hardened bit (every one is hardened).
    indices: Vec<u32>,
}

impl DerivationPath {
    /// Solana's account path, `m/44'/501'/0'/0'`.
    pub fn solana() -> DerivationPath {
        DerivationPath {
            indices: vec![44, 501, 0, 0],
        }
    }

    /// The hardened child indices, without the hardened bit.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }
}

impl FromStr for DerivationPath {
    type Err = DerivationPathError;

    /// Parses `m/44'/501'/0'/0'` (`h` or `H` may stand for `'`); `m` alone is the master key.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.split('/');
        if parts.next() != Some("m") {
            return Err(DerivationPathError::NoMaster {
                path: text.to_string(),
            });
        }
        let mut indices = Vec::new();
        for (i, part) in parts.enumerate() {
            let position = i + 1;
            if position > DERIVATION_DEPTH_MAX {
                return Err(DerivationPathError::TooDeep {
                    depth: text.split('/').count() - 1,
                });
            }
            let (digits, hardened) = match part.strip_suffix(['\'', 'h', 'H']) {
                Some(digits) => (digits, true),
                None => (part, false),
            };
            // `u32::from_str` also takes a leading `+`; an index is digits only.
            let index = Some(digits)
                .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<u32>().ok())
                .filter(|&n| n < HARDENED)
                .ok_or_else(|| DerivationPathError::BadComponent {
                    position,
                    component: part.to_string(),
                })?;
            if !hardened {
                return Err(DerivationPathError::NotHardened {
                    position,
                    component: index,
                });
            }
            indices.push(index);
        }
        Ok(DerivationPath { indices })
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for index in &self.indices {
            write!(f, "/{index}'")?;
        }
        Ok(())
    }
}

/// A SLIP-0010 ed25519 extended private key: the 32-byte ed25519 secret and its chain code.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtendedKey {
    /// The ed25519 secret key (seed), as `SigningKey::from_bytes` takes it.
    pub secret: [u8; 32],
    /// The chain code its children are derived with.
    pub chain_code: [u8; 32],
}

impl fmt::Debug for ExtendedKey {
    // Never print a secret by accident (in a test failure or a log line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExtendedKey(..)")
    }
}

impl ExtendedKey {
    /// The master key of `seed` (a BIP39 seed, or any byte string).
    pub fn master(seed: &[u8]) -> ExtendedKey {
        ExtendedKey::from_hmac(ED25519_CURVE, &[seed])
    }

    /// The hardened child `index` (`index'`); `index` must be below 2^31.
    pub fn child(&self, index: u32) -> ExtendedKey {
        assert!(index < HARDENED, "child index {index} is not below 2^31");
        let ser32 = (index | HARDENED).to_be_bytes();
        ExtendedKey::from_hmac(&self.chain_code, &[&[0], &self.secret, &ser32])
    }

    /// The key at `path` below the master key of `seed`.
    pub fn derive(seed: &[u8], path: &DerivationPath) -> ExtendedKey {
        path.indices()
            .iter()
            .fold(ExtendedKey::master(seed), |key, &index| key.child(index))
    }

    /// `I = HMAC-SHA512(key, data)`, split into the secret `I_L` and the chain code `I_R`.
    fn from_hmac(key: &[u8], data: &[&[u8]]) -> ExtendedKey {
        let mut mac =
            <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
        for part in data {
            mac.update(part);
        }
        let i = mac.finalize().into_bytes();
        let mut out = ExtendedKey {
            secret: [0; 32],
            chain_code: [0; 32],
        };
        out.secret.copy_from_slice(&i[..32]);
        out.chain_code.copy_from_slice(&i[32..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// `(path, chain code, private key, public key without SLIP-0010's 00 prefix)`.
    type Step = (&'static str, &'static str, &'static str, &'static str);

    /// SLIP-0010 "Test vector 1 for ed25519" (satoshilabs/slips, slip-0010.md).
    const VECTOR_1_SEED: &str = "000102030405060708090a0b0c0d0e0f";
    const VECTOR_1: [Step; 6] = [
        (
            "m",
            "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
            "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
            "a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed",
        ),
        (
            "m/0H",
            "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
            "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
            "8c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c",
        ),
        (
            "m/0H/1H",
            "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14",
            "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
            "1932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187",
        ),
        (
            "m/0H/1H/2H",
            "2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c",
            "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
            "ae98736566d30ed0e9d2f4486a64bc95740d89c7db33f52121f8ea8f76ff0fc1",
        ),
        (
            "m/0H/1H/2H/2H",
            "8f6d87f93d750e0efccda017d662a1b31a266e4a6f5993b15f5c1f07f74dd5cc",
            "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
            "8abae2d66361c879b900d204ad2cc4984fa2aa344dd7ddc46007329ac76c429c",
        ),
        (
            "m/0H/1H/2H/2H/1000000000H",
            "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230",
            "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
            "3c24da049451555d51a7014a37337aa4e12d41e485abccfa46b47dfb2af54b7a",
        ),
    ];

    /// SLIP-0010 "Test vector 2 for ed25519".
    const VECTOR_2_SEED: &str = "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a2\
                                 9f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542";
    const VECTOR_2: [Step; 6] = [
        (
            "m",
            "ef70a74db9c3a5af931b5fe73ed8e1a53464133654fd55e7a66f8570b8e33c3b",
            "171cb88b1b3c1db25add599712e36245d75bc65a1a5c9e18d76f9f2b1eab4012",
            "8fe9693f8fa62a4305a140b9764c5ee01e455963744fe18204b4fb948249308a",
        ),
        (
            "m/0H",
            "0b78a3226f915c082bf118f83618a618ab6dec793752624cbeb622acb562862d",
            "1559eb2bbec5790b0c65d8693e4d0875b1747f4970ae8b650486ed7470845635",
            "86fab68dcb57aa196c77c5f264f215a112c22a912c10d123b0d03c3c28ef1037",
        ),
        (
            "m/0H/2147483647H",
            "138f0b2551bcafeca6ff2aa88ba8ed0ed8de070841f0c4ef0165df8181eaad7f",
            "ea4f5bfe8694d8bb74b7b59404632fd5968b774ed545e810de9c32a4fb4192f4",
            "5ba3b9ac6e90e83effcd25ac4e58a1365a9e35a3d3ae5eb07b9e4d90bcf7506d",
        ),
        (
            "m/0H/2147483647H/1H",
            "73bd9fff1cfbde33a1b846c27085f711c0fe2d66fd32e139d3ebc28e5a4a6b90",
            "3757c7577170179c7868353ada796c839135b3d30554bbb74a4b1e4a5a58505c",
            "2e66aa57069c86cc18249aecf5cb5a9cebbfd6fadeab056254763874a9352b45",
        ),
        (
            "m/0H/2147483647H/1H/2147483646H",
            "0902fe8a29f9140480a00ef244bd183e8a13288e4412d8389d140aac1794825a",
            "5837736c89570de861ebc173b1086da4f505d4adb387c6a1b1342d5e4ac9ec72",
            "e33c0f7d81d843c572275f287498e8d408654fdf0d1e065b84e2e6f157aab09b",
        ),
        (
            "m/0H/2147483647H/1H/2147483646H/2H",
            "5d70af781f3a37b829f0d060924d5e960bdc02e85423494afc0b1a41bbe196d4",
            "551d333177df541ad876a60ea71f00447931c0a9da16f227c11ea080d7391b8d",
            "47150c75db263559a70d5778bf36abbab30fb061ad69f69ece61a72b0cfa4fc0",
        ),
    ];

    fn check_vector(seed: &str, steps: &[Step]) {
        let seed = unhex(seed);
        let mut key = ExtendedKey::master(&seed);
        for (i, &(path, chain_code, private, public)) in steps.iter().enumerate() {
            let path: DerivationPath = path.parse().unwrap();
            assert_eq!(path.indices().len(), i, "{path}");
            if let Some(&index) = path.indices().last() {
                key = key.child(index);
            }
            assert_eq!(hex(&key.chain_code), chain_code, "chain code at {path}");
            assert_eq!(hex(&key.secret), private, "private key at {path}");
            let verifying = ed25519_dalek::SigningKey::from_bytes(&key.secret).verifying_key();
            assert_eq!(hex(verifying.as_bytes()), public, "public key at {path}");
            // Deriving the whole path from the seed lands on the same key as stepping down.
            assert_eq!(ExtendedKey::derive(&seed, &path), key, "{path}");
        }
    }

    #[test]
    fn slip10_ed25519_test_vector_1() {
        check_vector(VECTOR_1_SEED, &VECTOR_1);
    }

    #[test]
    fn slip10_ed25519_test_vector_2() {
        check_vector(VECTOR_2_SEED, &VECTOR_2);
    }

    #[test]
    fn paths_parse_in_solana_notation_and_print_back() {
        let solana: DerivationPath = SOLANA_DERIVATION_PATH.parse().unwrap();
        assert_eq!(solana, DerivationPath::solana());
        assert_eq!(solana.indices(), [44, 501, 0, 0]);
        assert_eq!(solana.to_string(), SOLANA_DERIVATION_PATH);
        assert_eq!("m/44h/501H/0'/0h".parse::<DerivationPath>(), Ok(solana));
        assert_eq!("m".parse::<DerivationPath>().unwrap().indices(), [0u32; 0]);
        let top: DerivationPath = "m/2147483647'".parse().unwrap();
        assert_eq!(top.indices(), [HARDENED - 1]);
    }

    #[test]
    fn bad_paths_name_the_component_and_the_fix() {
        let err = |text: &str| text.parse::<DerivationPath>().unwrap_err();
        assert_eq!(
            err("m/44'/501'/0/0"),
            DerivationPathError::NotHardened {
                position: 3,
                component: 0
            }
        );
        let message = err("m/44'/501'/7'/3").to_string();
        assert!(
            message.contains("component 4 (3) is not hardened"),
            "{message}"
        );
        assert!(message.contains("write 3'"), "{message}");
        for no_master in ["", "44'/501'/0'/0'", "M/44'", "/44'", "m'/44'"] {
            assert!(
                matches!(err(no_master), DerivationPathError::NoMaster { .. }),
                "{no_master:?}"
            );
        }
        for (text, position) in [
            ("m/", 1),
            ("m/44'/", 2),
            ("m/x'", 1),
            ("m/+1'", 1),
            ("m/-1'", 1),
            ("m/1''", 1),
            ("m/2147483648'", 1),
            ("m/44'/501'/99999999999'", 3),
            ("m/ 1'", 1),
        ] {
            assert_eq!(
                err(text),
                DerivationPathError::BadComponent {
                    position,
                    component: text.rsplit('/').next().unwrap().to_string()
                },
                "{text:?}"
            );
        }
        let deep = format!("m{}", "/1'".repeat(DERIVATION_DEPTH_MAX));
        assert_eq!(
            deep.parse::<DerivationPath>().unwrap().indices().len(),
            DERIVATION_DEPTH_MAX
        );
        let deeper = format!("{deep}/1'");
        assert_eq!(
            err(&deeper),
            DerivationPathError::TooDeep {
                depth: DERIVATION_DEPTH_MAX + 1
            }
        );
    }

    proptest::proptest! {
        /// Any text parses or fails without panicking, and what parses prints back to itself.
        #[test]
        fn any_text_parses_or_fails_cleanly(text in "m(/[0-9]{1,11}['hH]?){0,6}|\\PC{0,40}") {
            if let Ok(path) = text.parse::<DerivationPath>() {
                let again: DerivationPath = path.to_string().parse().unwrap();
                proptest::prop_assert_eq!(again, path);
            }
        }
    }
}
