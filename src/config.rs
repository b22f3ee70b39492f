//! The node's configuration file, `blackbook.toml`.
//!
//! Sections follow the reference document (network, consensus, gossip, turbine, performance,
//! storage) plus `rpc` and `logging`; a section or field lands with the feature that reads it, so
//! every field here does something. The reference's `[tower_bft]` thresholds are not settings:
//! Tower BFT's thresholds are cluster constants, and one node with its own would break safety.
//! Every field has a default, so an empty file is a valid configuration; unknown keys are rejected,
//! and every invalid value is an error that names its field (`turbine.fanout: must be in 1..=1000,
//! got 0`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rpc;

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

/// The whole `blackbook.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Sockets and peer limits.
    pub network: NetworkConfig,
    /// Identity and genesis.
    pub consensus: ConsensusConfig,
    /// Peer discovery.
    pub gossip: GossipConfig,
    /// Block propagation.
    pub turbine: TurbineConfig,
    /// Threads and batching.
    pub performance: PerformanceConfig,
    /// Ledger location.
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
    /// Gossip socket (UDP).
    pub listen_addr: SocketAddr,
    /// `host:port` other nodes should use to reach this one's gossip socket, when it differs from
    /// `listen_addr`; its host is also advertised for every other socket bound to 0.0.0.0.
    pub advertise_addr: Option<String>,
    /// Socket where clients send transactions (UDP).
    pub tpu_addr: SocketAddr,
    /// Socket where clients send transactions over QUIC (Solana's QUIC TPU); unset, the TPU
    /// port + 6 (Solana's `QUIC_PORT_OFFSET`), where Solana's clients look for it.
    pub tpu_quic_addr: Option<SocketAddr>,
    /// Socket where other validators send their votes (UDP).
    pub tpu_vote_addr: SocketAddr,
    /// Socket where other validators send their votes over QUIC (staked senders only); unset, the
    /// vote port + 6.
    pub tpu_vote_quic_addr: Option<SocketAddr>,
    /// QUIC TPU connections held at once; half at most may be unstaked.
    pub tpu_quic_connections_max: usize,
    /// QUIC TPU connections one source address may hold while handshaking or unstaked.
    pub tpu_quic_connections_per_ip_max: usize,
    /// Most validators kept in the gossip table.
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
}

/// Where a QUIC socket beside the UDP one at `udp` is by default (Solana's `QUIC_PORT_OFFSET`).
fn quic_beside(udp: SocketAddr) -> Option<SocketAddr> {
    let port = udp.port().checked_add(crate::tpu_quic::QUIC_PORT_OFFSET)?;
    Some(SocketAddr::new(udp.ip(), port))
}

impl NetworkConfig {
    /// The QUIC TPU's address: `tpu_quic_addr`, else the TPU's port + 6; `None` if that port
    /// does not exist.
    pub fn tpu_quic_addr(&self) -> Option<SocketAddr> {
        self.tpu_quic_addr.or_else(|| quic_beside(self.tpu_addr))
    }

    /// The QUIC vote socket's address: `tpu_vote_quic_addr`, else the vote port + 6; `None` if
    /// that port does not exist.
    pub fn tpu_vote_quic_addr(&self) -> Option<SocketAddr> {
        self.tpu_vote_quic_addr
            .or_else(|| quic_beside(self.tpu_vote_addr))
    }

    /// The QUIC TPU's connection caps these settings name.
    pub fn tpu_quic_limits(&self) -> crate::tpu_quic::QuicLimits {
        crate::tpu_quic::QuicLimits {
            connections_max: self.tpu_quic_connections_max,
            connections_per_ip_max: self.tpu_quic_connections_per_ip_max,
        }
    }

    /// The batched UDP backend of every socket: `udp_backend`, overridden by the
    /// `BLACKBOOK_UDP_BACKEND` environment variable.
    pub fn udp_backend(&self) -> dataplane::udp::UdpBackend {
        use dataplane::udp::UdpBackend;
        UdpBackend::from_env_or(UdpBackend::from_value_or(
            Some(self.udp_backend.as_str()),
            UdpBackend::IoUring,
        ))
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 8001)),
            advertise_addr: None,
            tpu_addr: SocketAddr::from(([0, 0, 0, 0], 8003)),
            tpu_quic_addr: None,
            tpu_vote_addr: SocketAddr::from(([0, 0, 0, 0], 8007)),
            tpu_vote_quic_addr: None,
            tpu_quic_connections_max: crate::tpu_quic::CONNECTIONS_MAX,
            tpu_quic_connections_per_ip_max: crate::tpu_quic::CONNECTIONS_PER_IP_MAX,
            max_peers: 512,
            udp_recv_buffer_bytes: 64 << 20,
            udp_send_buffer_bytes: 16 << 20,
            tvu_addr: SocketAddr::from(([0, 0, 0, 0], 8004)),
            repair_addr: SocketAddr::from(([0, 0, 0, 0], 8005)),
            serve_repair_addr: SocketAddr::from(([0, 0, 0, 0], 8006)),
            udp_backend: "io_uring".to_owned(),
        }
    }
}

/// `[consensus]`: identity and genesis. (The tower lives in `storage.data_dir/tower.bin`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusConfig {
    /// The node's identity keypair (Solana keypair file). The reference calls it `validator_keypair`.
    #[serde(alias = "validator_keypair")]
    pub identity_keypair: PathBuf,
    /// The cluster's genesis file.
    pub genesis: PathBuf,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            identity_keypair: PathBuf::from("identity.json"),
            genesis: PathBuf::from("genesis.json"),
        }
    }
}

/// `[gossip]`: peer discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipConfig {
    /// `host:port` of gossip sockets to contact first (a node that knows only these learns the
    /// whole validator set; every few pulls one goes to a seed again, which re-joins the tables a
    /// long partition split).
    pub seeds: Vec<String>,
    /// How often this node re-signs and announces its contact information.
    #[serde(with = "duration_text")]
    pub heartbeat_interval: Duration,
    /// How often it pulls from a peer what it lacks (new nodes, and whatever push missed).
    #[serde(with = "duration_text")]
    pub peer_discovery_interval: Duration,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            seeds: Vec::new(),
            heartbeat_interval: Duration::from_secs(5),
            peer_discovery_interval: Duration::from_millis(500),
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
            fanout: dataplane::turbine::DEFAULT_FANOUT,
            fec_data_shreds: 32,
            fec_coding_shreds: 32,
        }
    }
}

/// `[performance]`: threads and batching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerformanceConfig {
    /// Sealevel execution threads; 0 = chosen from the core count.
    pub worker_threads: usize,
    /// Signature verification threads; 0 = chosen from the core count.
    pub sigverify_threads: usize,
    /// Pin hot-path threads to cores (still skipped when there are too few cores).
    pub pin_cores: bool,
    /// Most transactions in one execution batch.
    pub batch_size_max: usize,
    /// Verified transfers the banking stage holds waiting to run; more are refused (`queue_full`).
    pub pending_transactions_max: usize,
    /// The most the banking backlog may hold before arriving batches are shed before signature
    /// verification (the bound is otherwise a second of its measured drain rate); at most
    /// `pending_transactions_max`.
    pub admit_backlog_max: usize,
    /// While overloaded (the backlog reached its bound in the last 10 s), a free transaction is
    /// verified only if its blockhash is at most this much older than the newest arriving: the
    /// latency budget of a free transfer under overload. 1 s..=10 min; a window longer than a
    /// blockhash's lifetime (150 blocks) turns the rule off.
    #[serde(with = "duration_text")]
    pub admit_fresh_window: Duration,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        PerformanceConfig {
            worker_threads: 0,
            sigverify_threads: 0,
            pin_cores: true,
            batch_size_max: 256,
            pending_transactions_max: dataplane::banking::PENDING_TXNS_MAX,
            admit_backlog_max: dataplane::sigverify::ADMIT_BACKLOG_MAX,
            admit_fresh_window: dataplane::sigverify::ADMIT_FRESH_WINDOW,
        }
    }
}

/// The smallest `storage.limit_ledger_slots`: a window shorter than this would prune slots that
/// peers a few seconds behind still repair from this node.
pub const LIMIT_LEDGER_SLOTS_MIN: u64 = 64;

/// `[storage]`: ledger location and its memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory holding the redb ledger and the tower file.
    pub data_dir: PathBuf,
    /// redb's page cache, MiB: the bound on most of the ledger's memory.
    pub cache_mib: u64,
    /// Rooted slots kept below the root; older blocks, statuses and index rows are pruned (RPC
    /// then answers as Solana does for cleaned-up blocks). Unset, the ledger keeps everything, as
    /// Solana's validator without `--limit-ledger-size`. A peer down for longer than this window
    /// cannot repair the missing slots from this node.
    pub limit_ledger_slots: Option<u64>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("/var/lib/blackbook"),
            cache_mib: (dataplane::store::DEFAULT_CACHE_BYTES >> 20) as u64,
            limit_ledger_slots: None,
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
    /// PubSub (WebSocket) listen address; unset, the RPC address with port + 1, where Solana's
    /// clients look for it. PubSub is also served on `addr` itself (HTTP upgrade of `GET /`).
    pub pubsub_addr: Option<SocketAddr>,
    /// Keypair whose funds `requestAirdrop` hands out; no faucet when unset.
    pub faucet_keypair: Option<PathBuf>,
    /// Most lamports one airdrop may request.
    pub faucet_max_lamports: u64,
    /// HTTP connections the RPC port holds at once; more are closed at accept.
    pub connections_max: usize,
    /// Connections one source address may hold: HTTP on the RPC port, and WebSocket over both
    /// ports. A proxy in front of the node is one address: raise it there.
    pub connections_per_ip_max: usize,
    /// Time a connection has to send a whole request head, from connecting or from the previous
    /// response.
    #[serde(with = "duration_text")]
    pub header_read_timeout: Duration,
    /// Time a request has to send its whole body after its head (408 and closed past it).
    #[serde(with = "duration_text")]
    pub body_read_timeout: Duration,
    /// Time a connection may sit with no request and no bytes moving before it is closed; at most
    /// `header_read_timeout`, which bounds the same wait.
    #[serde(with = "duration_text")]
    pub idle_timeout: Duration,
    /// Sustained `sendTransaction` calls one address may make a second (HTTP 429 past it).
    pub send_transaction_per_ip_per_sec: u32,
    /// `sendTransaction` calls one address may make at once before the rate applies.
    pub send_transaction_per_ip_burst: u32,
    /// Worker threads of the runtime that serves RPC and accepts PubSub connections, apart from the
    /// control plane's, so that a flood of requests never queues votes and gossip behind it
    /// (PubSub's connections then run on a thread of their own).
    pub threads: usize,
    /// PubSub (WebSocket) connections held at once, over both ports.
    pub pubsub_connections_max: usize,
    /// Subscriptions one PubSub connection may hold.
    pub pubsub_subscriptions_per_connection_max: usize,
    /// Subscriptions the node holds, over every connection.
    pub pubsub_subscriptions_max: usize,
    /// Messages waiting to be written to one PubSub client; one more disconnects it.
    pub pubsub_send_queue_messages: usize,
    /// Bytes waiting to be written to one PubSub client; more disconnects it.
    pub pubsub_send_queue_bytes: usize,
    /// Slots whose changes PubSub keeps in memory, read ahead of the commitment moves.
    pub pubsub_slots_cached: usize,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            enabled: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 8899)),
            pubsub_addr: None,
            faucet_keypair: None,
            faucet_max_lamports: 10 * dataplane::types::LAMPORTS_PER_TOKEN,
            connections_max: rpc::HTTP_CONNECTIONS_MAX,
            connections_per_ip_max: rpc::HTTP_CONNECTIONS_PER_IP_MAX,
            header_read_timeout: rpc::HEADER_READ_TIMEOUT,
            body_read_timeout: rpc::BODY_READ_TIMEOUT,
            idle_timeout: rpc::IDLE_TIMEOUT,
            send_transaction_per_ip_per_sec: rpc::SEND_TRANSACTION_PER_IP_PER_SEC,
            send_transaction_per_ip_burst: rpc::SEND_TRANSACTION_PER_IP_BURST,
            threads: rpc::THREADS,
            pubsub_connections_max: rpc::pubsub::CONNECTIONS_MAX,
            pubsub_subscriptions_per_connection_max: rpc::pubsub::SUBSCRIPTIONS_PER_CONNECTION_MAX,
            pubsub_subscriptions_max: rpc::pubsub::SUBSCRIPTIONS_MAX,
            pubsub_send_queue_messages: rpc::pubsub::SEND_QUEUE_MESSAGES_MAX,
            pubsub_send_queue_bytes: rpc::pubsub::SEND_QUEUE_BYTES_MAX,
            pubsub_slots_cached: rpc::pubsub::SLOTS_CACHED_MAX,
        }
    }
}

impl RpcConfig {
    /// The RPC port's connection and rate bounds these settings name.
    pub fn http_limits(&self) -> rpc::HttpLimits {
        rpc::HttpLimits {
            connections_max: self.connections_max,
            connections_per_ip_max: self.connections_per_ip_max,
            header_read_timeout: self.header_read_timeout,
            body_read_timeout: self.body_read_timeout,
            idle_timeout: self.idle_timeout,
            send_transaction_per_sec: self.send_transaction_per_ip_per_sec,
            send_transaction_burst: self.send_transaction_per_ip_burst,
        }
    }

    /// PubSub's bounds these settings name (the per-address cap is the RPC port's).
    pub fn pubsub_limits(&self) -> rpc::pubsub::PubSubLimits {
        rpc::pubsub::PubSubLimits {
            connections: self.pubsub_connections_max,
            connections_per_ip: self.connections_per_ip_max,
            subscriptions_per_connection: self.pubsub_subscriptions_per_connection_max,
            subscriptions: self.pubsub_subscriptions_max,
            message_bytes: rpc::pubsub::MESSAGE_BYTES_MAX,
            send_queue_messages: self.pubsub_send_queue_messages,
            send_queue_bytes: self.pubsub_send_queue_bytes,
            slots_cached: self.pubsub_slots_cached,
        }
    }

    /// Where PubSub listens: `pubsub_addr`, else `addr` with port + 1 (`None` when that port does
    /// not exist; [`Config::validate`] refuses it).
    pub fn pubsub_addr(&self) -> Option<SocketAddr> {
        match self.pubsub_addr {
            Some(a) => Some(a),
            None => {
                let port = self.addr.port().checked_add(1)?;
                Some(SocketAddr::new(self.addr.ip(), port))
            }
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

        check_range(
            "network.tpu_quic_connections_max",
            n.tpu_quic_connections_max,
            2,
            1 << 16,
        )?;
        check_range(
            "network.tpu_quic_connections_per_ip_max",
            n.tpu_quic_connections_per_ip_max,
            1,
            n.tpu_quic_connections_max,
        )?;

        if !matches!(n.udp_backend.as_str(), "io_uring" | "mmsg") {
            return Err(ConfigError::invalid(
                "network.udp_backend",
                format!("must be \"io_uring\" or \"mmsg\", got {:?}", n.udp_backend),
            ));
        }
        let c = &self.consensus;
        check_nonempty_path("consensus.identity_keypair", &c.identity_keypair)?;
        check_nonempty_path("consensus.genesis", &c.genesis)?;

        let g = &self.gossip;
        for seed in &g.seeds {
            check_host_port("gossip.seeds", seed)?;
        }
        check_range("gossip.seeds (count)", g.seeds.len(), 0, 16)?;
        check_range(
            "gossip.heartbeat_interval (ms)",
            g.heartbeat_interval.as_millis(),
            100,
            30_000,
        )?;
        check_range(
            "gossip.peer_discovery_interval (ms)",
            g.peer_discovery_interval.as_millis(),
            10,
            60_000,
        )?;

        let tb = &self.turbine;
        check_range("turbine.fanout", tb.fanout, 1, 1000)?;
        check_range("turbine.fec_data_shreds", tb.fec_data_shreds, 1, 256)?;
        check_range("turbine.fec_coding_shreds", tb.fec_coding_shreds, 1, 256)?;

        let p = &self.performance;
        check_range("performance.worker_threads", p.worker_threads, 0, 1024)?;
        check_range(
            "performance.sigverify_threads",
            p.sigverify_threads,
            0,
            1024,
        )?;
        check_range("performance.batch_size_max", p.batch_size_max, 1, 1 << 16)?;
        check_range(
            "performance.pending_transactions_max",
            p.pending_transactions_max,
            dataplane::sigverify::ADMIT_BACKLOG_MIN,
            1 << 24,
        )?;
        check_range(
            "performance.admit_backlog_max",
            p.admit_backlog_max,
            dataplane::sigverify::ADMIT_BACKLOG_MIN,
            p.pending_transactions_max,
        )?;
        check_range(
            "performance.admit_fresh_window (ms)",
            p.admit_fresh_window.as_millis(),
            1_000,
            600_000,
        )?;

        let s = &self.storage;
        check_nonempty_path("storage.data_dir", &s.data_dir)?;
        check_range("storage.cache_mib", s.cache_mib, 8, 1 << 20)?;
        if let Some(kept) = s.limit_ledger_slots {
            check_range(
                "storage.limit_ledger_slots",
                kept,
                LIMIT_LEDGER_SLOTS_MIN,
                u64::MAX,
            )?;
        }

        if let Some(p) = &self.rpc.faucet_keypair {
            check_nonempty_path("rpc.faucet_keypair", p)?;
        }
        self.validate_rpc_limits()?;
        match self.rpc.pubsub_addr() {
            None => {
                return Err(ConfigError::invalid(
                    "rpc.pubsub_addr",
                    format!(
                        "must be set when rpc.addr uses port {} (the default is that port + 1)",
                        self.rpc.addr.port()
                    ),
                ))
            }
            Some(a) if a == self.rpc.addr => {
                return Err(ConfigError::invalid(
                    "rpc.pubsub_addr",
                    format!("must differ from rpc.addr, got {a} for both"),
                ))
            }
            Some(_) => {}
        }

        if self.network.tpu_quic_addr().is_none() {
            return Err(ConfigError::invalid(
                "network.tpu_quic_addr",
                format!(
                    "must be set when network.tpu_addr uses port {} (the default is that port + 6)",
                    self.network.tpu_addr.port()
                ),
            ));
        }
        if self.network.tpu_vote_quic_addr().is_none() {
            return Err(ConfigError::invalid(
                "network.tpu_vote_quic_addr",
                format!(
                    "must be set when network.tpu_vote_addr uses port {} (the default is that \
                     port + 6)",
                    self.network.tpu_vote_addr.port()
                ),
            ));
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

impl Config {
    /// The RPC edge's bounds: each in a range that serves, the idle timeout within the header
    /// timeout (which already closes a connection idle that long).
    fn validate_rpc_limits(&self) -> Result<(), ConfigError> {
        let r = &self.rpc;
        check_range("rpc.connections_max", r.connections_max, 1, 1 << 20)?;
        check_range(
            "rpc.connections_per_ip_max",
            r.connections_per_ip_max,
            1,
            r.connections_max,
        )?;
        for (field, timeout) in [
            ("rpc.header_read_timeout (ms)", r.header_read_timeout),
            ("rpc.body_read_timeout (ms)", r.body_read_timeout),
            ("rpc.idle_timeout (ms)", r.idle_timeout),
        ] {
            check_range(field, timeout.as_millis(), 100, 600_000)?;
        }
        if r.idle_timeout > r.header_read_timeout {
            return Err(ConfigError::invalid(
                "rpc.idle_timeout",
                format!(
                    "must be at most rpc.header_read_timeout ({}), which already closes a \
                     connection idle that long; got {}",
                    humantime::format_duration(r.header_read_timeout),
                    humantime::format_duration(r.idle_timeout)
                ),
            ));
        }
        check_range(
            "rpc.send_transaction_per_ip_per_sec",
            r.send_transaction_per_ip_per_sec,
            1,
            10_000_000,
        )?;
        check_range(
            "rpc.send_transaction_per_ip_burst",
            r.send_transaction_per_ip_burst,
            1,
            10_000_000,
        )?;
        check_range("rpc.threads", r.threads, 1, 256)?;
        self.validate_pubsub_limits()
    }

    /// PubSub's bounds: each in a range that serves. A send queue holds a connection's answers
    /// in flight (up to 32, about 1 KiB each) and any single notification (a block's can take
    /// megabytes), so it holds at least 64 messages and 1 MiB. A cache of fewer slots than lie
    /// between processed and finalized (about 32) would read each block again at every level.
    fn validate_pubsub_limits(&self) -> Result<(), ConfigError> {
        let r = &self.rpc;
        check_range(
            "rpc.pubsub_connections_max",
            r.pubsub_connections_max,
            1,
            1 << 20,
        )?;
        check_range(
            "rpc.pubsub_subscriptions_max",
            r.pubsub_subscriptions_max,
            1,
            10_000_000,
        )?;
        check_range(
            "rpc.pubsub_subscriptions_per_connection_max",
            r.pubsub_subscriptions_per_connection_max,
            1,
            r.pubsub_subscriptions_max,
        )?;
        check_range(
            "rpc.pubsub_send_queue_messages",
            r.pubsub_send_queue_messages,
            64,
            1 << 20,
        )?;
        check_range(
            "rpc.pubsub_send_queue_bytes",
            r.pubsub_send_queue_bytes,
            1 << 20,
            1 << 30,
        )?;
        check_range("rpc.pubsub_slots_cached", r.pubsub_slots_cached, 32, 65_536)?;
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
    if table.contains_key("tower_bft") {
        return Err(ConfigError::invalid(
            "tower_bft",
            "not configurable: Tower BFT's thresholds (vote 3s > 2S at depth 8, 100s > 38S at \
             depth 4 and for switching, 31 lockouts) are cluster constants compared as exact \
             integers, because one node with its own would break the cluster's safety. Remove this \
             section",
        ));
    }
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

#[cfg(test)]
mod tests;
