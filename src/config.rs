//! The node's configuration file, `blackbook.toml`.
//!
//! Sections follow the reference document (network, consensus, gossip, tower_bft, turbine,
//! replication, failover, performance, storage) plus `rpc` and `logging`. Every field has a default,
//! so an empty file is a valid configuration; unknown keys are rejected, and every invalid value is
//! an error that names its field (`tower_bft.vote_threshold: must be in (0.5, 1.0], got 1.5`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Largest config file read, so a wrong path (a ledger, a device) fails fast instead of filling memory.
const CONFIG_FILE_BYTES_MAX: u64 = 1 << 20;
/// Most bytes of a shred on the wire: one UDP datagram that never fragments (Solana's packet size).
pub const SHRED_BYTES_MAX: usize = 1232;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {cause}")]
    Io {
        /// File path.
        path: String,
        /// Cause (shown in the message, so not also a `source`).
        cause: std::io::Error,
    },
    /// The file is larger than any real configuration.
    #[error("config file {path} is {len_bytes} bytes; a config file is at most {max_bytes} bytes")]
    TooLarge {
        /// File path.
        path: String,
        /// Its size.
        len_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// The text is not valid TOML, or a value has the wrong type, or a key is unknown.
    #[error("{location}: {field}{message}")]
    Toml {
        /// File (or `<string>`) and line where the problem is.
        location: String,
        /// `section.key: ` where it could be found, else empty.
        field: String,
        /// The TOML reader's explanation.
        message: String,
    },
    /// A value is out of its allowed range.
    #[error("{field}: {message}")]
    Invalid {
        /// Dotted field name, e.g. `tower_bft.vote_threshold`.
        field: String,
        /// What is wrong, with the value given.
        message: String,
    },
}

impl ConfigError {
    fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The dotted name of the field at fault, where one is known.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            ConfigError::Toml { field, .. } if !field.is_empty() => {
                Some(field.trim_end_matches(": "))
            }
            _ => None,
        }
    }
}

/// The node's role in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Follows the leader schedule: votes, replays, leads in its own slots.
    #[default]
    Validator,
    /// Prefers to lead (a single-leader cluster's producer).
    Leader,
    /// Hot standby that takes over when the leader stops.
    Backup,
}

/// The whole `blackbook.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Sockets and peer limits.
    pub network: NetworkConfig,
    /// Identity, genesis and role.
    pub consensus: ConsensusConfig,
    /// Peer discovery.
    pub gossip: GossipConfig,
    /// Voting and lockouts.
    pub tower_bft: TowerBftConfig,
    /// Block propagation.
    pub turbine: TurbineConfig,
    /// Ledger replication and catch-up.
    pub replication: ReplicationConfig,
    /// Leader failover.
    pub failover: FailoverConfig,
    /// Threads, shards and batching.
    pub performance: PerformanceConfig,
    /// Ledger location and size.
    pub storage: StorageConfig,
    /// JSON-RPC server and faucet.
    pub rpc: RpcConfig,
    /// Log verbosity.
    pub logging: LoggingConfig,
}

/// `[network]`: sockets and peer limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Gossip socket.
    pub listen_addr: SocketAddr,
    /// `host:port` other nodes should use to reach this one, when it differs from `listen_addr`.
    pub advertise_addr: Option<String>,
    /// Socket where clients send transactions (UDP).
    pub tpu_addr: SocketAddr,
    /// Most peers kept in the gossip table.
    pub max_peers: usize,
    /// Kernel receive buffer for UDP sockets; too small and bursts drop.
    pub udp_recv_buffer_bytes: usize,
    /// Kernel send buffer for UDP sockets.
    pub udp_send_buffer_bytes: usize,
    /// Socket where shreds arrive (Turbine, UDP).
    pub tvu_addr: SocketAddr,
    /// Socket this node sends repair requests from and receives answers on (UDP).
    pub repair_addr: SocketAddr,
    /// Socket where peers' repair requests arrive (UDP).
    pub serve_repair_addr: SocketAddr,
    /// Batched UDP backend: `io_uring` (falls back to `mmsg` where the kernel refuses) or `mmsg`.
    pub udp_backend: String,
    /// The other validators and their sockets (static until gossip lands).
    pub peers: Vec<PeerConfig>,
}

/// One other validator's contact information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Its identity (base58 public key, as in the genesis).
    pub identity: String,
    /// Its shred socket.
    pub tvu_addr: SocketAddr,
    /// Its repair-serving socket.
    pub serve_repair_addr: SocketAddr,
    /// Its transaction socket.
    pub tpu_addr: SocketAddr,
}

impl PeerConfig {
    /// Its identity as a key (validation refuses a config where this fails).
    pub fn pubkey(&self) -> anyhow::Result<dataplane::types::Pubkey> {
        self.identity
            .parse()
            .map_err(|_| anyhow::anyhow!("network.peers.identity {:?}", self.identity))
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 8001)),
            advertise_addr: None,
            tpu_addr: SocketAddr::from(([0, 0, 0, 0], 8003)),
            max_peers: 50,
            udp_recv_buffer_bytes: 64 << 20,
            udp_send_buffer_bytes: 16 << 20,
            tvu_addr: SocketAddr::from(([0, 0, 0, 0], 8004)),
            repair_addr: SocketAddr::from(([0, 0, 0, 0], 8005)),
            serve_repair_addr: SocketAddr::from(([0, 0, 0, 0], 8006)),
            udp_backend: "io_uring".to_owned(),
            peers: Vec::new(),
        }
    }
}

/// `[consensus]`: identity, genesis and role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusConfig {
    /// What this node does in the cluster.
    pub role: Role,
    /// The node's identity keypair (Solana keypair file). The reference calls it `validator_keypair`.
    #[serde(alias = "validator_keypair")]
    pub identity_keypair: PathBuf,
    /// The cluster's genesis file.
    pub genesis: PathBuf,
    /// Where to fetch a leader schedule instead of deriving it from stakes.
    pub leader_schedule_url: Option<String>,
    /// Until Tower BFT votes decide, a block roots once the highest block is this many slots past
    /// it (multi-validator clusters; a lone validator roots every block at once).
    pub provisional_root_depth: u64,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            role: Role::Validator,
            identity_keypair: PathBuf::from("identity.json"),
            genesis: PathBuf::from("genesis.json"),
            leader_schedule_url: None,
            provisional_root_depth: 8,
        }
    }
}

/// `[gossip]`: peer discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipConfig {
    /// `host:port` of nodes to contact first.
    pub seeds: Vec<String>,
    /// How often this node announces itself.
    #[serde(with = "duration_text")]
    pub heartbeat_interval: Duration,
    /// How often it asks peers for the peers they know.
    #[serde(with = "duration_text")]
    pub peer_discovery_interval: Duration,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            seeds: Vec::new(),
            heartbeat_interval: Duration::from_secs(5),
            peer_discovery_interval: Duration::from_secs(30),
        }
    }
}

/// `[tower_bft]`: voting and lockouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TowerBftConfig {
    /// Stake fraction that makes a supermajority.
    pub vote_threshold: f64,
    /// Votes in a tower; the oldest roots when a new one would exceed it.
    pub max_lockout_depth: u32,
    /// Supermajority votes on a block that make it optimistically confirmed.
    pub optimistic_confirmation_count: u32,
    /// Confirmations (descendant blocks voted on) after which a block is reported `confirmed`.
    pub confirmed_count: u32,
}

impl Default for TowerBftConfig {
    fn default() -> Self {
        TowerBftConfig {
            vote_threshold: 0.67,
            max_lockout_depth: 32,
            optimistic_confirmation_count: 1,
            confirmed_count: 10,
        }
    }
}

/// `[turbine]`: block propagation. Shreds are always ≤ 1232-byte datagrams; see [`SHRED_BYTES_MAX`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurbineConfig {
    /// Children per node in the broadcast tree.
    pub fanout: usize,
    /// Data shreds per FEC set.
    pub fec_data_shreds: usize,
    /// Reed-Solomon coding shreds per FEC set.
    pub fec_coding_shreds: usize,
}

impl Default for TurbineConfig {
    fn default() -> Self {
        TurbineConfig {
            fanout: 8,
            fec_data_shreds: 32,
            fec_coding_shreds: 32,
        }
    }
}

/// `[replication]`: ledger replication and catch-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// Keep the whole ledger (not only recent slots).
    pub full_node: bool,
    /// Slots between account snapshots.
    pub snapshot_interval: u64,
    /// Slots requested per catch-up request.
    pub catchup_batch_size: u64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            full_node: true,
            snapshot_interval: 10_000,
            catchup_batch_size: 1_000,
        }
    }
}

/// `[failover]`: leader failover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// Order among backups: 1 = primary, 2 = secondary, 3 = tertiary.
    pub backup_priority: u8,
    /// How often a backup syncs its PoH with the leader's.
    #[serde(with = "duration_text")]
    pub poh_sync_interval: Duration,
    /// Silence after which the leader is presumed dead.
    #[serde(with = "duration_text")]
    pub leader_timeout: Duration,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            backup_priority: 2,
            poh_sync_interval: Duration::from_millis(100),
            leader_timeout: Duration::from_millis(1800),
        }
    }
}

/// `[performance]`: threads, shards and batching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerformanceConfig {
    /// Sealevel execution threads; 0 = chosen from the core count.
    pub worker_threads: usize,
    /// Signature verification threads; 0 = chosen from the core count.
    pub sigverify_threads: usize,
    /// Account map shards (a power of two).
    pub account_shards: usize,
    /// Pin hot-path threads to cores (still skipped when there are too few cores).
    pub pin_cores: bool,
    /// Most transactions in one execution batch.
    pub batch_size_max: usize,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        PerformanceConfig {
            worker_threads: 0,
            sigverify_threads: 0,
            account_shards: 256,
            pin_cores: true,
            batch_size_max: 256,
        }
    }
}

/// `[storage]`: ledger location and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory holding the redb ledger.
    pub data_dir: PathBuf,
    /// Largest ledger size in bytes; in TOML an integer or a size such as `"1TB"` or `"512GiB"`.
    #[serde(with = "byte_size_text")]
    pub max_db_size: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("/var/lib/blackbook"),
            max_db_size: 1_000_000_000_000,
        }
    }
}

/// `[rpc]`: the JSON-RPC server and its faucet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcConfig {
    /// Serve JSON-RPC at all.
    pub enabled: bool,
    /// HTTP listen address.
    pub addr: SocketAddr,
    /// Keypair whose funds `requestAirdrop` hands out; no faucet when unset.
    pub faucet_keypair: Option<PathBuf>,
    /// Most lamports one airdrop may request.
    pub faucet_max_lamports: u64,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            enabled: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 8899)),
            faucet_keypair: None,
            faucet_max_lamports: 10 * dataplane::types::LAMPORTS_PER_TOKEN,
        }
    }
}

/// `[logging]`: log verbosity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// A `tracing` filter (`info`, `debug`, `blackbook=debug,info`); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "info".into(),
        }
    }
}

impl Config {
    /// Reads, checks and validates a config file; relative paths in it resolve against its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let io = |cause| ConfigError::Io {
            path: shown.clone(),
            cause,
        };
        let len_bytes = std::fs::metadata(path).map_err(io)?.len();
        if len_bytes > CONFIG_FILE_BYTES_MAX {
            return Err(ConfigError::TooLarge {
                path: shown,
                len_bytes,
                max_bytes: CONFIG_FILE_BYTES_MAX,
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mut config = Config::parse(&text, &shown)?;
        config.resolve_paths(path.parent().unwrap_or(Path::new("")));
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates TOML text; relative paths stay relative (to the working directory).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let config = Config::parse(text, "<string>")?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML text (what `load` reads back).
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        reject_removed_keys(text)?;
        toml::from_str(text).map_err(|e| toml_error(text, source_name, &e))
    }

    /// Makes every relative path in the config relative to `base` (the config file's directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.consensus.identity_keypair);
        resolve(&mut self.consensus.genesis);
        resolve(&mut self.storage.data_dir);
        if let Some(p) = self.rpc.faucet_keypair.as_mut() {
            resolve(p);
        }
    }

    /// Checks every value's range; the error names the first field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let n = &self.network;
        if let Some(addr) = &n.advertise_addr {
            check_host_port("network.advertise_addr", addr)?;
        }
        check_range("network.max_peers", n.max_peers, 1, 100_000)?;
        check_range(
            "network.udp_recv_buffer_bytes",
            n.udp_recv_buffer_bytes,
            64 << 10,
            1 << 31,
        )?;
        check_range(
            "network.udp_send_buffer_bytes",
            n.udp_send_buffer_bytes,
            64 << 10,
            1 << 31,
        )?;

        if !matches!(n.udp_backend.as_str(), "io_uring" | "mmsg") {
            return Err(ConfigError::invalid(
                "network.udp_backend",
                format!("must be \"io_uring\" or \"mmsg\", got {:?}", n.udp_backend),
            ));
        }
        for p in &n.peers {
            if p.pubkey().is_err() {
                return Err(ConfigError::invalid(
                    "network.peers.identity",
                    format!("not a base58 public key: {:?}", p.identity),
                ));
            }
        }
        check_range(
            "consensus.provisional_root_depth",
            self.consensus.provisional_root_depth,
            1,
            1_024,
        )?;

        let c = &self.consensus;
        check_nonempty_path("consensus.identity_keypair", &c.identity_keypair)?;
        check_nonempty_path("consensus.genesis", &c.genesis)?;
        if let Some(url) = &c.leader_schedule_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::invalid(
                    "consensus.leader_schedule_url",
                    format!("must be an http:// or https:// URL, got {url:?}"),
                ));
            }
        }

        let g = &self.gossip;
        for seed in &g.seeds {
            check_host_port("gossip.seeds", seed)?;
        }
        check_nonzero_duration("gossip.heartbeat_interval", g.heartbeat_interval)?;
        check_nonzero_duration("gossip.peer_discovery_interval", g.peer_discovery_interval)?;

        let t = &self.tower_bft;
        // `!(a > b)` rather than `a <= b` so that NaN is rejected too.
        if !(t.vote_threshold > 0.5 && t.vote_threshold <= 1.0) {
            return Err(ConfigError::invalid(
                "tower_bft.vote_threshold",
                format!("must be in (0.5, 1.0], got {}", t.vote_threshold),
            ));
        }
        // Lockouts double per vote: 2^depth slots must fit a u64.
        check_range("tower_bft.max_lockout_depth", t.max_lockout_depth, 1, 63)?;
        check_range(
            "tower_bft.optimistic_confirmation_count",
            t.optimistic_confirmation_count,
            1,
            t.max_lockout_depth,
        )?;
        check_range(
            "tower_bft.confirmed_count",
            t.confirmed_count,
            t.optimistic_confirmation_count,
            t.max_lockout_depth,
        )?;

        let tb = &self.turbine;
        check_range("turbine.fanout", tb.fanout, 1, 1000)?;
        check_range("turbine.fec_data_shreds", tb.fec_data_shreds, 1, 256)?;
        check_range("turbine.fec_coding_shreds", tb.fec_coding_shreds, 1, 256)?;

        let r = &self.replication;
        check_range(
            "replication.snapshot_interval",
            r.snapshot_interval,
            1,
            u64::MAX,
        )?;
        check_range(
            "replication.catchup_batch_size",
            r.catchup_batch_size,
            1,
            100_000,
        )?;

        let f = &self.failover;
        check_range("failover.backup_priority", f.backup_priority, 1, 3)?;
        check_nonzero_duration("failover.poh_sync_interval", f.poh_sync_interval)?;
        check_nonzero_duration("failover.leader_timeout", f.leader_timeout)?;
        if f.leader_timeout <= f.poh_sync_interval {
            return Err(ConfigError::invalid(
                "failover.leader_timeout",
                format!(
                    "must be longer than failover.poh_sync_interval ({}), got {}",
                    humantime::format_duration(f.poh_sync_interval),
                    humantime::format_duration(f.leader_timeout)
                ),
            ));
        }

        let p = &self.performance;
        check_range("performance.worker_threads", p.worker_threads, 0, 1024)?;
        check_range(
            "performance.sigverify_threads",
            p.sigverify_threads,
            0,
            1024,
        )?;
        check_range("performance.account_shards", p.account_shards, 1, 1 << 16)?;
        if !p.account_shards.is_power_of_two() {
            return Err(ConfigError::invalid(
                "performance.account_shards",
                format!("must be a power of two, got {}", p.account_shards),
            ));
        }
        check_range("performance.batch_size_max", p.batch_size_max, 1, 1 << 16)?;

        let s = &self.storage;
        check_nonempty_path("storage.data_dir", &s.data_dir)?;
        // A TOML integer is an i64, so larger sizes could not be written back.
        check_range(
            "storage.max_db_size",
            s.max_db_size,
            1 << 20,
            i64::MAX as u64,
        )?;

        if let Some(p) = &self.rpc.faucet_keypair {
            check_nonempty_path("rpc.faucet_keypair", p)?;
        }

        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.logging.level) {
            return Err(ConfigError::invalid(
                "logging.level",
                format!(
                    "not a log filter (try \"info\" or \"blackbook=debug,info\"), got {:?}: {e}",
                    self.logging.level
                ),
            ));
        }
        Ok(())
    }
}

fn check_range<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::invalid(
            field,
            format!("must be in {min}..={max}, got {value}"),
        ));
    }
    Ok(())
}

fn check_nonzero_duration(field: &str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::invalid(field, "must be longer than 0, got 0s"));
    }
    Ok(())
}

fn check_nonempty_path(field: &str, value: &Path) -> Result<(), ConfigError> {
    if value.as_os_str().is_empty() {
        return Err(ConfigError::invalid(field, "must not be empty"));
    }
    Ok(())
}

/// `host:port` with a non-empty host and a port in 1..=65535.
fn check_host_port(field: &str, value: &str) -> Result<(), ConfigError> {
    let ok = match value.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    };
    if !ok {
        return Err(ConfigError::invalid(
            field,
            format!("must be host:port (port 1..=65535), got {value:?}"),
        ));
    }
    Ok(())
}

/// Keys the reference document uses that BlackBook deliberately does not have, each with the reason.
fn reject_removed_keys(text: &str) -> Result<(), ConfigError> {
    // Parse only the structure; type errors are reported by the typed pass with their location.
    let Ok(table) = text.parse::<toml::Table>() else {
        return Ok(());
    };
    let turbine = table.get("turbine").and_then(|t| t.as_table());
    if let Some(size) = turbine.and_then(|t| t.get("shred_size")) {
        return Err(ConfigError::invalid(
            "turbine.shred_size",
            format!(
                "not configurable (got {size}): a shred is one UDP datagram of at most \
                 {SHRED_BYTES_MAX} bytes, because a larger one fragments at the IP layer, where one \
                 lost fragment loses the whole shred; blocks are sent as FEC sets of \
                 turbine.fec_data_shreds + turbine.fec_coding_shreds shreds instead. Remove this key"
            ),
        ));
    }
    Ok(())
}

/// Turns a TOML reader error into one that names the file, line and (where found) `section.key`.
fn toml_error(text: &str, source_name: &str, e: &toml::de::Error) -> ConfigError {
    let (location, field) = match e.span() {
        Some(span) => {
            let offset = span.start.min(text.len());
            let line = text.as_bytes()[..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            let field = key_path_at(text, offset)
                .map(|k| format!("{k}: "))
                .unwrap_or_default();
            (format!("{source_name} line {line}"), field)
        }
        None => (source_name.to_string(), String::new()),
    };
    ConfigError::Toml {
        location,
        field,
        message: e.message().trim().to_string(),
    }
}

/// The dotted key (`section.key`) whose line holds `offset`, found by looking back for the key's
/// `=` and the section header. A best effort for messages only: `None` where the layout is unusual.
fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let mut before = text[..line_start].lines().rev();
    let mut line = text[line_start..].lines().next().unwrap_or("").trim();
    if let Some(header) = section_name(line) {
        return Some(header);
    }
    // A value continued over several lines (an array): the key is on the nearest line with `=`.
    while !line.contains('=') {
        line = before.next()?.trim();
        if section_name(line).is_some() {
            return None;
        }
    }
    let key = line.split('=').next()?.trim().trim_matches('"');
    let section = before.find_map(|l| section_name(l.trim()));
    Some(match section {
        Some(s) => format!("{s}.{key}"),
        None => key.to_string(),
    })
}

fn section_name(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(
        inner[..end]
            .trim_matches(|c| c == '[' || c == ' ')
            .to_string(),
    )
}

/// Serde for durations as humantime text (`"5s"`, `"100ms"`, `"1m 30s"`).
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?} ({e}); write a number and a unit, as in \"5s\" or \"100ms\""
            ))
        })
    }
}

/// Serde for byte sizes: an integer, or text such as `"1TB"` (10^12) or `"64MiB"` (2^26).
mod byte_size_text {
    use serde::{de, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(SizeVisitor)
    }

    struct SizeVisitor;

    impl de::Visitor<'_> for SizeVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a size in bytes: an integer or text such as \"1TB\" or \"512GiB\"")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("size must not be negative, got {v}")))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            let parsed = v
                .trim()
                .parse::<bytesize::ByteSize>()
                .map_err(|e| E::custom(format!("invalid size {v:?}: {e}")))?;
            // The parser saturates on overflow; a saturated value is not what was written.
            if parsed.as_u64() == u64::MAX {
                return Err(E::custom(format!("size {v:?} is too large")));
            }
            Ok(parsed.as_u64())
        }
    }
}

#[cfg(test)]
mod tests;
