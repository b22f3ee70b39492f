//! Keypair files and seed phrases, compatible with Solana's tools.
//!
//! A keypair file is a JSON array of 64 numbers: the 32-byte ed25519 secret seed followed by the
//! 32-byte public key, exactly as `solana-keygen` writes it, so files move between the two freely.
//! A seed phrase is a 12-word BIP39 mnemonic. Without a derivation path the key is the first 32
//! bytes of its BIP39 seed with an empty passphrase, as `solana-keygen new` derives it; with one
//! (`m/44'/501'/0'/0'` for Phantom and Solflare) it is the SLIP-0010 key at that path (see
//! [`slip10`]).

pub mod slip10;

use std::io::{Read, Write};
use std::path::Path;

use dataplane::types::Pubkey;
use ed25519_dalek::SigningKey;

use self::slip10::{DerivationPath, ExtendedKey};

/// Bytes in a keypair: secret seed ‖ public key.
pub const KEYPAIR_BYTES: usize = 64;
/// Largest keypair file read: 64 numbers with generous whitespace, far below anything harmful.
const KEYPAIR_FILE_BYTES_MAX: u64 = 16 << 10;
/// Words in a generated seed phrase (128 bits of entropy), `solana-keygen new`'s default.
pub const MNEMONIC_WORDS: usize = 12;

/// Why a keypair or seed phrase cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The file could not be read or written.
    #[error("keypair file {path}: {cause}")]
    Io {
        /// File path.
        path: String,
        /// Cause (shown in the message, so not also a `source`).
        cause: std::io::Error,
    },
    /// The file exists and overwriting was not asked for.
    #[error("keypair file {path} already exists; pass --force to overwrite it")]
    Exists {
        /// File path.
        path: String,
    },
    /// The contents are not a keypair.
    #[error("keypair file {path}: {reason}")]
    Malformed {
        /// File path (or `<text>`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The seed phrase is not a valid BIP39 English mnemonic.
    #[error("invalid seed phrase: {0}")]
    Mnemonic(String),
}

/// The public key (account address) of a signing key.
pub fn pubkey_of(key: &SigningKey) -> Pubkey {
    Pubkey(key.verifying_key().to_bytes())
}

/// A new random key from the operating system's generator.
pub fn generate_keypair() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

/// The keypair file text: a compact JSON array of 64 numbers, secret seed then public key.
pub fn encode_keypair(key: &SigningKey) -> String {
    let bytes = key.to_keypair_bytes();
    // Compact form: Solana's reader splits on commas, so this is what it expects.
    serde_json::to_string(&bytes[..]).unwrap_or_default()
}

/// Reads keypair text; `source` names it in errors. The public half must match the secret.
pub fn decode_keypair(text: &str, source: &str) -> Result<SigningKey, WalletError> {
    let malformed = |reason: String| WalletError::Malformed {
        path: source.to_string(),
        reason,
    };
    let numbers: Vec<u8> = serde_json::from_str(text.trim()).map_err(|e| {
        malformed(format!(
            "not a JSON array of {KEYPAIR_BYTES} numbers in 0..=255 ({e})"
        ))
    })?;
    let bytes: [u8; KEYPAIR_BYTES] = numbers.as_slice().try_into().map_err(|_| {
        malformed(format!(
            "expected {KEYPAIR_BYTES} numbers (32-byte secret, 32-byte public key), found {}",
            numbers.len()
        ))
    })?;
    let secret: [u8; 32] = bytes[..32].try_into().unwrap_or([0; 32]);
    let key = SigningKey::from_bytes(&secret);
    let derived = pubkey_of(&key);
    if derived.as_bytes()[..] != bytes[32..] {
        let stored = Pubkey::try_from_slice(&bytes[32..]).unwrap_or_default();
        return Err(malformed(format!(
            "stored public key {stored} does not match the secret key, whose public key is {derived}"
        )));
    }
    Ok(key)
}

/// Reads a Solana keypair file, bounded in size, and checks its public half.
pub fn read_keypair_file(path: &Path) -> Result<SigningKey, WalletError> {
    let shown = path.display().to_string();
    let io = |cause| WalletError::Io {
        path: shown.clone(),
        cause,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(KEYPAIR_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > KEYPAIR_FILE_BYTES_MAX {
        return Err(WalletError::Malformed {
            path: shown,
            reason: format!("larger than {KEYPAIR_FILE_BYTES_MAX} bytes; not a keypair file"),
        });
    }
    decode_keypair(&text, &shown)
}

/// The public key stored in a keypair file (after checking it matches the secret).
pub fn read_pubkey_file(path: &Path) -> Result<Pubkey, WalletError> {
    read_keypair_file(path).map(|k| pubkey_of(&k))
}

/// Writes a keypair file readable only by its owner; refuses to replace one unless `overwrite`.
pub fn write_keypair_file(
    path: &Path,
    key: &SigningKey,
    overwrite: bool,
) -> Result<(), WalletError> {
    let shown = path.display().to_string();
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|cause| {
        if cause.kind() == std::io::ErrorKind::AlreadyExists {
            WalletError::Exists {
                path: shown.clone(),
            }
        } else {
            WalletError::Io {
                path: shown.clone(),
                cause,
            }
        }
    })?;
    file.write_all(encode_keypair(key).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|cause| WalletError::Io { path: shown, cause })
}

/// A new random 12-word English seed phrase.
pub fn generate_mnemonic() -> bip39::Mnemonic {
    // BIP39: 4 bytes of entropy for every 3 words.
    let mut entropy = [0u8; MNEMONIC_WORDS / 3 * 4];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut entropy);
    // 16 bytes is a valid BIP39 entropy length, so this cannot fail.
    bip39::Mnemonic::from_entropy(&entropy).expect("16 bytes is a valid BIP39 entropy length")
}

/// The key a seed phrase stands for: the SLIP-0010 key at `derivation` if given, else the first 32
/// bytes of the BIP39 seed (`solana-keygen`'s default).
pub fn keypair_from_mnemonic(
    mnemonic: &bip39::Mnemonic,
    passphrase: &str,
    derivation: Option<&DerivationPath>,
) -> SigningKey {
    let seed = mnemonic.to_seed(passphrase);
    let secret = match derivation {
        Some(path) => ExtendedKey::derive(&seed, path).secret,
        None => {
            let mut secret = [0u8; 32];
            secret.copy_from_slice(&seed[..32]);
            secret
        }
    };
    SigningKey::from_bytes(&secret)
}

/// Parses an English seed phrase (checksum verified) and derives its key (see
/// [`keypair_from_mnemonic`]).
pub fn keypair_from_phrase(
    phrase: &str,
    passphrase: &str,
    derivation: Option<&DerivationPath>,
) -> Result<SigningKey, WalletError> {
    let words = phrase.split_whitespace().count();
    if words > 24 {
        return Err(WalletError::Mnemonic(format!(
            "{words} words; a seed phrase has 12 to 24"
        )));
    }
    let mnemonic = bip39::Mnemonic::parse_in(bip39::Language::English, phrase)
        .map_err(|e| WalletError::Mnemonic(e.to_string()))?;
    Ok(keypair_from_mnemonic(&mnemonic, passphrase, derivation))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BIP39's first English test vector.
    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                           abandon abandon abandon about";

    #[test]
    fn keypair_file_round_trip_is_private_and_refuses_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.json");
        let key = generate_keypair();
        write_keypair_file(&path, &key, false).unwrap();
        let back = read_keypair_file(&path).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
        assert_eq!(read_pubkey_file(&path).unwrap(), pubkey_of(&key));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        }

        let other = generate_keypair();
        assert!(matches!(
            write_keypair_file(&path, &other, false),
            Err(WalletError::Exists { .. })
        ));
        assert_eq!(read_pubkey_file(&path).unwrap(), pubkey_of(&key));
        write_keypair_file(&path, &other, true).unwrap();
        assert_eq!(read_pubkey_file(&path).unwrap(), pubkey_of(&other));
    }

    #[test]
    fn file_holds_secret_then_public_key_as_64_numbers() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let numbers: Vec<u8> = serde_json::from_str(&encode_keypair(&key)).unwrap();
        assert_eq!(numbers.len(), 64);
        assert_eq!(numbers[..32], [7; 32]);
        assert_eq!(numbers[32..], key.verifying_key().to_bytes());
    }

    #[test]
    fn stored_public_half_is_checked() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut bytes = key.to_keypair_bytes();
        bytes[40] ^= 1;
        let text = serde_json::to_string(&bytes[..]).unwrap();
        let e = decode_keypair(&text, "x.json").unwrap_err().to_string();
        assert!(e.contains("does not match"), "{e}");
        assert!(e.contains(&pubkey_of(&key).to_string()), "{e}");
    }

    #[test]
    fn malformed_files_are_typed_errors() {
        for (text, expect) in [
            ("", "not a JSON array"),
            ("[1,2,3]", "found 3"),
            ("[256]", "not a JSON array"),
            ("{\"a\":1}", "not a JSON array"),
            ("\"5Kd3\"", "not a JSON array"),
        ] {
            let e = decode_keypair(text, "k.json").unwrap_err().to_string();
            assert!(e.contains(expect) && e.contains("k.json"), "{text:?}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; 20_000]).unwrap();
        let e = read_keypair_file(&big).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
        assert!(matches!(
            read_keypair_file(&dir.path().join("absent.json")),
            Err(WalletError::Io { .. })
        ));
    }

    #[test]
    fn mnemonic_derivation_matches_bip39_seed_vector() {
        // BIP39 seed of the vector with an empty passphrase; its first 32 bytes are the secret.
        let seed_hex = "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc1";
        let key = keypair_from_phrase(ABANDON, "", None).unwrap();
        let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, seed_hex);
        assert_ne!(
            keypair_from_phrase(ABANDON, "pass", None)
                .unwrap()
                .to_bytes(),
            key.to_bytes()
        );
    }

    #[test]
    fn solana_derivation_path_gives_the_address_phantom_shows() {
        // The address Phantom, Solflare and @solana/web3.js + ed25519-hd-key show for BIP39's first
        // vector at m/44'/501'/0'/0' (published in several wallet libraries' tests).
        let phantom = "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk";
        let path = DerivationPath::solana();
        let key = keypair_from_phrase(ABANDON, "", Some(&path)).unwrap();
        assert_eq!(pubkey_of(&key).to_string(), phantom);
        // Without the path the key stays solana-keygen's (the seed's first 32 bytes).
        let plain = keypair_from_phrase(ABANDON, "", None).unwrap();
        assert_ne!(pubkey_of(&plain).to_string(), phantom);
        // The next account is another key.
        let account_1: DerivationPath = "m/44'/501'/1'/0'".parse().unwrap();
        let next = keypair_from_phrase(ABANDON, "", Some(&account_1)).unwrap();
        assert_ne!(pubkey_of(&next), pubkey_of(&key));
    }

    #[test]
    fn generated_mnemonics_have_12_words_and_rederive() {
        let m = generate_mnemonic();
        assert_eq!(m.word_count(), MNEMONIC_WORDS);
        let key = keypair_from_mnemonic(&m, "", None);
        let again = keypair_from_phrase(&m.to_string(), "", None).unwrap();
        assert_eq!(key.to_bytes(), again.to_bytes());
        assert_ne!(generate_mnemonic().to_string(), m.to_string());
    }

    #[test]
    fn bad_phrases_are_rejected() {
        let bad_checksum = ABANDON.replace("about", "abandon");
        assert!(matches!(
            keypair_from_phrase(&bad_checksum, "", None),
            Err(WalletError::Mnemonic(_))
        ));
        assert!(keypair_from_phrase("not words at all", "", None).is_err());
        assert!(keypair_from_phrase(&"abandon ".repeat(10_000), "", None).is_err());
    }

    proptest::proptest! {
        /// Every secret survives the file format, and any text decodes or fails without panicking.
        #[test]
        fn keypair_text_round_trips(secret in proptest::array::uniform32(0u8..), junk in "\\PC{0,80}") {
            let key = SigningKey::from_bytes(&secret);
            let back = decode_keypair(&encode_keypair(&key), "p").unwrap();
            proptest::prop_assert_eq!(back.to_bytes(), secret);
            let _ = decode_keypair(&junk, "p");
        }
    }

    proptest::proptest! {
        /// Our SLIP-0010 keys are solana-keypair's (ed25519-dalek-bip32) for any seed and path.
        #[test]
        fn derived_keys_match_solana_keypair(
            seed in proptest::collection::vec(proptest::num::u8::ANY, 16..=64),
            indices in proptest::collection::vec(0u32..(1 << 31), 0..6),
        ) {
            #[allow(deprecated)] // solana-sdk points at solana-keypair, which we do not depend on.
            use solana_sdk::signer::{keypair::keypair_from_seed_and_derivation_path, Signer};
            let text = std::iter::once("m".to_string())
                .chain(indices.iter().map(|i| format!("{i}'")))
                .collect::<Vec<_>>()
                .join("/");
            let ours: DerivationPath = text.parse().unwrap();
            let theirs = solana_derivation_path::DerivationPath::from_absolute_path_str(&text).unwrap();
            let sol = keypair_from_seed_and_derivation_path(&seed, Some(theirs)).unwrap();
            let key = SigningKey::from_bytes(&ExtendedKey::derive(&seed, &ours).secret);
            proptest::prop_assert_eq!(sol.pubkey().to_bytes(), pubkey_of(&key).0);
        }
    }

    /// Files and phrases interoperate with Solana's own keypair code.
    #[test]
    #[allow(deprecated)]
    fn solana_sdk_reads_our_files_and_derives_our_keys() {
        use solana_sdk::signature::{
            keypair_from_seed_phrase_and_passphrase, read_keypair_file as solana_read,
            write_keypair_file as solana_write, Keypair, Signer,
        };
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours.json");
        let key = generate_keypair();
        write_keypair_file(&ours, &key, false).unwrap();
        let theirs = solana_read(&ours).unwrap();
        assert_eq!(theirs.pubkey().to_bytes(), pubkey_of(&key).0);

        let theirs_path = dir.path().join("theirs.json");
        let kp = Keypair::new();
        solana_write(&kp, &theirs_path).unwrap();
        assert_eq!(
            read_pubkey_file(&theirs_path).unwrap().0,
            kp.pubkey().to_bytes()
        );

        let m = generate_mnemonic();
        let sol = keypair_from_seed_phrase_and_passphrase(&m.to_string(), "").unwrap();
        assert_eq!(
            sol.pubkey().to_bytes(),
            pubkey_of(&keypair_from_mnemonic(&m, "", None)).0
        );
    }
}
