//! The tower file: a validator's tower, signed by its identity, written (and fsynced, and renamed
//! into place by the node) before any vote that depends on it leaves the node.
//!
//! Layout: `"BBTOWER1" | identity 32 | TowerSync (the vote program's compact encoding) | signature 64`,
//! the signature covering everything before it. A file that does not decode, names another identity
//! or carries a bad signature is refused as a whole: the node then behaves as if it had no tower.

use dataplane::types::Pubkey;
use dataplane::vote::{TowerSync, TOWER_SYNC_SIZE_MAX};

use crate::signer::{Signer, Verified};

const MAGIC: &[u8; 8] = b"BBTOWER1";
/// Largest tower file.
pub const TOWER_FILE_SIZE_MAX: usize = 8 + 32 + TOWER_SYNC_SIZE_MAX + 64;

/// Why a tower file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TowerFileError {
    /// Not a tower file of this format.
    #[error("not a tower file (bad magic or {len} bytes)")]
    Format {
        /// Its length.
        len: usize,
    },
    /// The tower does not decode.
    #[error("tower does not decode: {0}")]
    Tower(#[from] dataplane::vote::VoteError),
    /// Signed by someone else than this node.
    #[error("tower belongs to {found}, not this node {expected}")]
    WrongIdentity {
        /// The file's identity.
        found: Pubkey,
        /// This node's.
        expected: Pubkey,
    },
    /// The signature does not verify.
    #[error("tower signature does not verify")]
    BadSignature,
}

/// Encodes and signs `tower` as `signer`'s tower file.
pub fn encode(tower: &TowerSync, signer: &dyn Signer) -> Vec<u8> {
    let mut out = Vec::with_capacity(TOWER_FILE_SIZE_MAX);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(signer.pubkey().as_bytes());
    tower.encode(&mut out);
    let sig = signer.sign(&out);
    out.extend_from_slice(&sig);
    out
}

/// Decodes a tower file without checking its signature (the simulator, whose stand-in signatures
/// are not ed25519, and [`decode_and_verify`] after checking).
pub(crate) fn decode_unverified(
    bytes: &[u8],
    expected: &Pubkey,
) -> Result<TowerSync, TowerFileError> {
    let format = TowerFileError::Format { len: bytes.len() };
    if bytes.len() > TOWER_FILE_SIZE_MAX || bytes.len() < 8 + 32 + 64 || &bytes[..8] != MAGIC {
        return Err(format);
    }
    let found = Pubkey(bytes[8..40].try_into().expect("32 bytes"));
    if found != *expected {
        return Err(TowerFileError::WrongIdentity {
            found,
            expected: *expected,
        });
    }
    let body = &bytes[40..bytes.len() - 64];
    let (tower, used) = TowerSync::decode_prefix(body)?;
    if used != body.len() {
        return Err(format);
    }
    Ok(tower)
}

/// Decodes a tower file and checks its ed25519 signature by `expected`.
pub fn decode_and_verify(
    bytes: &[u8],
    expected: &Pubkey,
) -> Result<Verified<TowerSync>, TowerFileError> {
    let tower = decode_unverified(bytes, expected)?;
    let (signed, sig) = bytes.split_at(bytes.len() - 64);
    let key = ed25519_dalek::VerifyingKey::from_bytes(expected.as_bytes())
        .map_err(|_| TowerFileError::BadSignature)?;
    let sig = ed25519_dalek::Signature::from_bytes(sig.try_into().expect("64 bytes"));
    key.verify_strict(signed, &sig)
        .map_err(|_| TowerFileError::BadSignature)?;
    Ok(Verified::assume_checked(tower))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::types::{Hash, Slot};
    use dataplane::vote::Lockout;
    use ed25519_dalek::SigningKey;

    fn tower() -> TowerSync {
        TowerSync {
            lockouts: vec![
                Lockout {
                    slot: Slot(11),
                    confirmation_count: 2,
                },
                Lockout::new(Slot(12)),
            ],
            root: Some(Slot(10)),
            hash: Hash([1; 32]),
            timestamp: Some(5),
            block_id: Hash([2; 32]),
        }
    }

    #[test]
    fn a_signed_tower_file_round_trips_and_tampering_is_refused() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let me = Signer::pubkey(&key);
        let bytes = encode(&tower(), &key);
        assert_eq!(
            decode_and_verify(&bytes, &me).map(|v| v.into_inner()),
            Ok(tower())
        );
        let mut bad = bytes.clone();
        bad[45] ^= 1;
        assert!(decode_and_verify(&bad, &me).is_err());
        let other = Pubkey([9; 32]);
        assert_eq!(
            decode_and_verify(&bytes, &other),
            Err(TowerFileError::WrongIdentity {
                found: me,
                expected: other
            })
        );
        assert!(matches!(
            decode_and_verify(&bytes[..50], &me),
            Err(TowerFileError::Format { .. }) | Err(TowerFileError::Tower(_))
        ));
    }
}
