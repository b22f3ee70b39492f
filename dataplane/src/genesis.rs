//! The genesis configuration: the cluster's first state and its timing rules.
//!
//! Stored as JSON for people; identified by the SHA-256 of a canonical binary encoding, so the
//! genesis hash does not change with whitespace or field order.

use serde::{Deserialize, Serialize};

use crate::types::{Hash, Lamports, Pubkey};

/// Ticks in one slot (Solana's value).
pub const DEFAULT_TICKS_PER_SLOT: u64 = 64;
/// Hashes per tick in production (Solana mainnet's value: 10 M hashes/s at 400 ms slots).
pub const DEFAULT_HASHES_PER_TICK: u64 = 62_500;
/// Hashes per tick for local clusters and tests, so that several nodes share 2 cores.
pub const LOCALNET_HASHES_PER_TICK: u64 = 2_000;
/// Target slot duration.
pub const DEFAULT_SLOT_DURATION_MS: u64 = 400;
/// Fee per signature, in lamports (Solana's value).
pub const DEFAULT_LAMPORTS_PER_SIGNATURE: Lamports = 5_000;
/// Slots per epoch (Solana's value); epochs frame leader schedules and stake changes.
pub const DEFAULT_SLOTS_PER_EPOCH: u64 = 432_000;
/// Blocks during which a blockhash stays valid on its fork (Solana's value).
pub const MAX_RECENT_BLOCKHASHES: u64 = 150;
/// Most validators or funded accounts a genesis may list (bounds decoding).
const GENESIS_ENTRIES_MAX: usize = 1_000_000;

/// A validator known at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisValidator {
    /// Node identity (signs blocks and votes).
    pub identity: Pubkey,
    /// Stake, in lamports; weights the leader schedule and votes.
    pub stake: Lamports,
}

/// An account funded at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    /// Address.
    pub pubkey: Pubkey,
    /// Starting balance.
    pub lamports: Lamports,
}

/// Everything a node needs to start the chain at slot 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Human-readable cluster name (part of the hash).
    pub cluster_name: String,
    /// Creation time, ms since the Unix epoch; slot `s` is due at `creation + s × slot_duration`.
    pub creation_time_unix_ms: u64,
    /// PoH ticks per slot.
    pub ticks_per_slot: u64,
    /// PoH hashes per tick.
    pub hashes_per_tick: u64,
    /// Target slot length.
    pub slot_duration_ms: u64,
    /// Fee per transaction signature.
    pub lamports_per_signature: Lamports,
    /// Slots per epoch.
    pub slots_per_epoch: u64,
    /// Validators and stakes.
    pub validators: Vec<GenesisValidator>,
    /// Funded accounts.
    pub accounts: Vec<GenesisAccount>,
}

/// Why a genesis is unusable.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The file could not be read or written.
    #[error("genesis file {path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The JSON is invalid.
    #[error("genesis file {path}: {source}")]
    Json {
        /// File path.
        path: String,
        /// Cause.
        source: serde_json::Error,
    },
    /// A value breaks a rule.
    #[error("invalid genesis: {0}")]
    Invalid(String),
}

impl Genesis {
    /// A genesis with the production timing and fee defaults, created now; callers adjust fields
    /// (tests and benches shorten `hashes_per_tick`).
    pub fn with_defaults(
        cluster_name: &str,
        validators: Vec<GenesisValidator>,
        accounts: Vec<GenesisAccount>,
    ) -> Genesis {
        Genesis {
            cluster_name: cluster_name.to_owned(),
            creation_time_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            ticks_per_slot: DEFAULT_TICKS_PER_SLOT,
            hashes_per_tick: DEFAULT_HASHES_PER_TICK,
            slot_duration_ms: DEFAULT_SLOT_DURATION_MS,
            lamports_per_signature: DEFAULT_LAMPORTS_PER_SIGNATURE,
            slots_per_epoch: DEFAULT_SLOTS_PER_EPOCH,
            validators,
            accounts,
        }
    }

    /// Hashes the PoH must compute per second to keep up with the slot clock.
    pub fn required_hashes_per_second(&self) -> u64 {
        let per_slot = self.ticks_per_slot.saturating_mul(self.hashes_per_tick);
        per_slot.saturating_mul(1000) / self.slot_duration_ms.max(1)
    }

    /// The tick length in nanoseconds.
    pub fn tick_duration_ns(&self) -> u64 {
        self.slot_duration_ms.saturating_mul(1_000_000) / self.ticks_per_slot.max(1)
    }

    /// Total lamports in existence at genesis.
    pub fn total_supply(&self) -> Option<Lamports> {
        self.accounts
            .iter()
            .try_fold(0u64, |acc, a| acc.checked_add(a.lamports))
    }

    /// Checks the rules every genesis must meet.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let bad = |m: String| Err(GenesisError::Invalid(m));
        if self.ticks_per_slot == 0 {
            return bad("ticks_per_slot must be at least 1".into());
        }
        if self.hashes_per_tick < 2 {
            return bad("hashes_per_tick must be at least 2 (one hash may be a mixin)".into());
        }
        if self.slots_per_epoch == 0 {
            return bad("slots_per_epoch must be at least 1".into());
        }
        if self.slot_duration_ms == 0 {
            return bad("slot_duration_ms must be at least 1".into());
        }
        if self.validators.is_empty() {
            return bad("at least one validator is required".into());
        }
        if self.validators.len() > GENESIS_ENTRIES_MAX || self.accounts.len() > GENESIS_ENTRIES_MAX
        {
            return bad(format!(
                "more than {GENESIS_ENTRIES_MAX} validators or accounts"
            ));
        }
        if self.total_supply().is_none() {
            return bad("total supply overflows u64".into());
        }
        let mut seen = std::collections::HashSet::new();
        for a in &self.accounts {
            if !seen.insert(a.pubkey) {
                return bad(format!("account {} is funded twice", a.pubkey));
            }
        }
        Ok(())
    }

    /// The cluster's identity: SHA-256 over a canonical binary encoding of every field.
    pub fn hash(&self) -> Hash {
        let mut b = Vec::with_capacity(128 + 40 * (self.validators.len() + self.accounts.len()));
        b.extend_from_slice(b"blackbook-genesis-v1");
        b.extend_from_slice(&(self.cluster_name.len() as u64).to_le_bytes());
        b.extend_from_slice(self.cluster_name.as_bytes());
        for v in [
            self.creation_time_unix_ms,
            self.ticks_per_slot,
            self.hashes_per_tick,
            self.slot_duration_ms,
            self.lamports_per_signature,
            self.slots_per_epoch,
            self.validators.len() as u64,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in &self.validators {
            b.extend_from_slice(v.identity.as_bytes());
            b.extend_from_slice(&v.stake.to_le_bytes());
        }
        b.extend_from_slice(&(self.accounts.len() as u64).to_le_bytes());
        for a in &self.accounts {
            b.extend_from_slice(a.pubkey.as_bytes());
            b.extend_from_slice(&a.lamports.to_le_bytes());
        }
        Hash::of(&b)
    }

    /// Reads and validates a genesis JSON file.
    pub fn load(path: &std::path::Path) -> Result<Genesis, GenesisError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| GenesisError::Io {
            path: p.clone(),
            source,
        })?;
        let g: Genesis =
            serde_json::from_str(&text).map_err(|source| GenesisError::Json { path: p, source })?;
        g.validate()?;
        Ok(g)
    }

    /// Writes the genesis as pretty JSON.
    pub fn save(&self, path: &std::path::Path) -> Result<(), GenesisError> {
        let p = path.display().to_string();
        let text = serde_json::to_string_pretty(self).map_err(|source| GenesisError::Json {
            path: p.clone(),
            source,
        })?;
        std::fs::write(path, text).map_err(|source| GenesisError::Io { path: p, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Genesis {
        Genesis {
            cluster_name: "test".into(),
            creation_time_unix_ms: 1,
            ticks_per_slot: DEFAULT_TICKS_PER_SLOT,
            hashes_per_tick: LOCALNET_HASHES_PER_TICK,
            slot_duration_ms: DEFAULT_SLOT_DURATION_MS,
            lamports_per_signature: DEFAULT_LAMPORTS_PER_SIGNATURE,
            slots_per_epoch: DEFAULT_SLOTS_PER_EPOCH,
            validators: vec![GenesisValidator {
                identity: Pubkey([1; 32]),
                stake: 100,
            }],
            accounts: vec![GenesisAccount {
                pubkey: Pubkey([2; 32]),
                lamports: 10,
            }],
        }
    }

    #[test]
    fn hash_depends_on_every_field_and_survives_json() {
        let g = sample();
        let h = g.hash();
        let json = serde_json::to_string(&g).unwrap();
        let back: Genesis = serde_json::from_str(&json).unwrap();
        assert_eq!(back.hash(), h);
        let mut g2 = g.clone();
        g2.hashes_per_tick += 1;
        assert_ne!(g2.hash(), h);
        let mut g3 = g.clone();
        g3.accounts[0].lamports += 1;
        assert_ne!(g3.hash(), h);
    }

    #[test]
    fn production_rate_is_ten_million_hashes_per_second() {
        let mut g = sample();
        g.hashes_per_tick = DEFAULT_HASHES_PER_TICK;
        assert_eq!(g.required_hashes_per_second(), 10_000_000);
        assert_eq!(g.tick_duration_ns(), 6_250_000);
    }

    #[test]
    fn validation_names_the_problem() {
        let mut g = sample();
        g.accounts.push(g.accounts[0].clone());
        let e = g.validate().unwrap_err().to_string();
        assert!(e.contains("funded twice"), "{e}");
        let mut g = sample();
        g.ticks_per_slot = 0;
        assert!(g
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ticks_per_slot"));
    }
}
