//! Tests of the config file: defaults, examples, and errors that name their field.

use super::*;

/// The reference document's example, verbatim but for the rejected `shred_size` line.
const REFERENCE_EXAMPLE: &str = r#"
[network]
listen_addr = "0.0.0.0:8080"
advertise_addr = "validator042.blackbook.network:8080"
max_peers = 50

[consensus]
role = "validator"  # or "leader" or "backup"
validator_keypair = "/etc/blackbook/validator-keypair.json"
leader_schedule_url = "https://api.blackbook.network/leader-schedule"

[gossip]
seeds = [
"seed1.blackbook.network:8080",
"seed2.blackbook.network:8080",
"seed3.blackbook.network:8080",
]
heartbeat_interval = "5s"
peer_discovery_interval = "30s"

[tower_bft]
vote_threshold = 0.67  # 67% quorum
max_lockout_depth = 32
optimistic_confirmation_count = 1
confirmed_count = 10

[turbine]
fanout = 8
SHRED_SIZE_LINE

[replication]
full_node = true
snapshot_interval = 10000  # Every 10k slots
catchup_batch_size = 1000

[failover]
backup_priority = 2  # 1=primary, 2=secondary, 3=tertiary
poh_sync_interval = "100ms"
leader_timeout = "1800ms"  # 3 missed heartbeats

[performance]
worker_threads = 16
account_shards = 256

[storage]
data_dir = "/var/lib/blackbook"
max_db_size = "1TB"
"#;

/// Sections of the reference example that BlackBook deliberately does not have.
const REFERENCE_SECTIONS_ABSENT: [&str; 3] = ["tower_bft", "replication", "failover"];
/// Keys of the reference example's other sections that BlackBook deliberately does not have.
const REFERENCE_KEYS_ABSENT: [&str; 4] = [
    "role",
    "leader_schedule_url",
    "account_shards",
    "max_db_size",
];

/// `text` without the sections and keys above; every other line is kept as it is.
fn without_absent_settings(text: &str) -> String {
    let mut kept = String::new();
    let mut in_absent_section = false;
    for line in text.lines() {
        if let Some(name) = section_name(line.trim()) {
            in_absent_section = REFERENCE_SECTIONS_ABSENT.contains(&name.as_str());
        }
        let key = line.split('=').next().unwrap_or("").trim();
        if in_absent_section || (line.contains('=') && REFERENCE_KEYS_ABSENT.contains(&key)) {
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

fn invalid_field(text: &str) -> String {
    match Config::from_toml_str(text) {
        Err(e) => e.field().unwrap_or_default().to_string(),
        Ok(_) => panic!("accepted: {text}"),
    }
}

#[test]
fn defaults_are_the_documented_values() {
    let c = Config::default();
    assert_eq!(c.network.listen_addr.to_string(), "0.0.0.0:8001");
    assert_eq!(c.network.advertise_addr, None);
    assert_eq!(c.network.tpu_addr.to_string(), "0.0.0.0:8003");
    assert_eq!(c.network.tpu_vote_addr.to_string(), "0.0.0.0:8007");
    assert_eq!(c.network.max_peers, 512);
    assert_eq!(c.network.udp_recv_buffer_bytes, 64 * 1024 * 1024);
    assert_eq!(c.network.udp_send_buffer_bytes, 16 * 1024 * 1024);
    assert_eq!(c.network.udp_backend, "io_uring");
    assert_eq!(c.consensus.identity_keypair, PathBuf::from("identity.json"));
    assert_eq!(c.consensus.genesis, PathBuf::from("genesis.json"));
    assert!(c.gossip.seeds.is_empty());
    assert_eq!(c.gossip.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(c.gossip.peer_discovery_interval, Duration::from_millis(500));
    assert_eq!(c.turbine.fanout, dataplane::turbine::DEFAULT_FANOUT);
    assert_eq!(
        (c.turbine.fec_data_shreds, c.turbine.fec_coding_shreds),
        (32, 32)
    );
    assert_eq!(c.performance.batch_size_max, 256);
    assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/blackbook"));
    assert_eq!(
        c.storage.cache_mib, 256,
        "redb's page cache is bounded by default"
    );
    let sized = Config::from_toml_str("[storage]\ncache_mib = 1024").unwrap();
    assert_eq!(sized.storage.cache_mib, 1024);
    assert_eq!(c.rpc.addr.to_string(), "127.0.0.1:8899");
    // Solana's convention: PubSub on the RPC port + 1.
    assert_eq!(c.rpc.pubsub_addr().unwrap().to_string(), "127.0.0.1:8900");
    assert_eq!(c.rpc.faucet_max_lamports, 10_000_000_000);
    assert_eq!(c.logging.level, "info");
    c.validate().unwrap();
}

#[test]
fn empty_file_is_the_default_config() {
    assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
    assert_eq!(
        Config::from_toml_str("[network]\n[rpc]\n").unwrap(),
        Config::default()
    );
}

#[test]
fn reference_example_loads_without_the_settings_blackbook_does_not_have() {
    // Verbatim, it is refused at its first deliberately absent section, with the reason.
    let verbatim = REFERENCE_EXAMPLE.replace("SHRED_SIZE_LINE", "");
    let e = Config::from_toml_str(&verbatim).unwrap_err();
    assert_eq!(e.field(), Some("tower_bft"));
    assert!(e.to_string().contains("cluster constants"), "{e}");

    let supported = without_absent_settings(&verbatim);
    let c = Config::from_toml_str(&supported).unwrap();
    assert_eq!(c.network.listen_addr.to_string(), "0.0.0.0:8080");
    assert_eq!(
        c.network.advertise_addr.as_deref(),
        Some("validator042.blackbook.network:8080")
    );
    assert_eq!(c.network.max_peers, 50);
    assert_eq!(
        c.consensus.identity_keypair,
        PathBuf::from("/etc/blackbook/validator-keypair.json")
    );
    assert_eq!(c.gossip.seeds.len(), 3);
    assert_eq!(c.gossip.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(c.gossip.peer_discovery_interval, Duration::from_secs(30));
    assert_eq!(c.turbine.fanout, 8);
    assert_eq!(c.performance.worker_threads, 16);
    assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/blackbook"));

    let e = Config::from_toml_str(&without_absent_settings(
        &REFERENCE_EXAMPLE.replace("SHRED_SIZE_LINE", "shred_size = 65536  # 64KB"),
    ))
    .unwrap_err();
    assert_eq!(e.field(), Some("turbine.shred_size"));
    let text = e.to_string();
    assert!(text.contains("1232") && text.contains("65536"), "{text}");
}

#[test]
fn tower_bft_is_refused_as_cluster_constants() {
    // Any form of the section, even empty or beside valid settings, is refused with the reason.
    for text in [
        "[tower_bft]\nvote_threshold = 0.67",
        "[tower_bft]\n",
        "[turbine]\nfanout = 8\n[tower_bft]\nmax_lockout_depth = 32\n",
        "tower_bft = { vote_threshold = 0.67 }",
    ] {
        let e = Config::from_toml_str(text).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { .. }), "{text:?}: {e:?}");
        assert_eq!(e.field(), Some("tower_bft"), "{text:?}");
        let message = e.to_string();
        assert!(
            message.starts_with("tower_bft: not configurable")
                && message.contains("cluster constants")
                && message.contains("safety"),
            "{text:?}: {message}"
        );
    }
}

#[test]
fn removed_sections_and_keys_are_unknown_fields_named_in_the_error() {
    let cases = [
        ("[failover]\nbackup_priority = 2", "failover", "failover"),
        (
            "[replication]\nfull_node = true",
            "replication",
            "replication",
        ),
        (
            "[consensus]\nrole = \"validator\"",
            "consensus.role",
            "role",
        ),
        (
            "[consensus]\nleader_schedule_url = \"https://a.example\"",
            "consensus.leader_schedule_url",
            "leader_schedule_url",
        ),
        (
            "[consensus]\nprovisional_root_depth = 8",
            "consensus.provisional_root_depth",
            "provisional_root_depth",
        ),
        ("[network]\npeers = []", "network.peers", "peers"),
        (
            "[[network.peers]]\nidentity = \"x\"\ntvu_addr = \"10.0.0.2:8004\"",
            "network.peers",
            "peers",
        ),
        (
            "[performance]\naccount_shards = 256",
            "performance.account_shards",
            "account_shards",
        ),
        (
            "[storage]\nmax_db_size = \"1TB\"",
            "storage.max_db_size",
            "max_db_size",
        ),
    ];
    for (text, field, key) in cases {
        let e = Config::from_toml_str(text).unwrap_err();
        assert!(matches!(e, ConfigError::Toml { .. }), "{text:?}: {e:?}");
        assert_eq!(e.field(), Some(field), "for {text:?}: {e}");
        let message = e.to_string();
        assert!(
            message.contains(&format!("unknown field `{key}`")),
            "for {text:?}: {message}"
        );
    }
}

#[test]
fn example_file_documents_every_field_with_the_defaults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = dir.join("blackbook.example.toml");
    let loaded = Config::load(&path).unwrap();
    let mut expected = Config::default();
    expected.resolve_paths(dir);
    assert_eq!(loaded, expected);

    // Every field, optional ones included, appears in the file (set or as a commented example).
    let text = std::fs::read_to_string(&path).unwrap();
    let mut full = Config::default();
    full.network.advertise_addr = Some("a:1".into());
    full.rpc.faucet_keypair = Some("f.json".into());
    full.rpc.pubsub_addr = Some("127.0.0.1:8900".parse().unwrap());
    full.network.tpu_quic_addr = Some("0.0.0.0:8009".parse().unwrap());
    full.network.tpu_vote_quic_addr = Some("0.0.0.0:8013".parse().unwrap());
    full.storage.limit_ledger_slots = Some(216_000);
    let table: toml::Table = full.to_toml_string().unwrap().parse().unwrap();
    for (section, fields) in &table {
        assert!(
            text.contains(&format!("\n[{section}]\n")),
            "section {section} missing"
        );
        for key in fields.as_table().unwrap().keys() {
            let set = text.contains(&format!("\n{key} = "));
            let commented = text.contains(&format!("\n# {key} = "));
            assert!(set || commented, "{section}.{key} is not documented");
        }
    }

    // And nothing else: a commented example of a removed field would mislead as much as a set one.
    let mut section = String::new();
    for line in text.lines() {
        if let Some(name) = section_name(line) {
            section = name;
            continue;
        }
        let example = line.strip_prefix("# ").unwrap_or(line);
        let Some((key, _)) = example.split_once(" = ") else {
            continue;
        };
        if key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            let known = table
                .get(&section)
                .and_then(|t| t.as_table())
                .is_some_and(|t| t.contains_key(key));
            assert!(known, "{section}.{key} in the example is not a field");
        }
    }
}

#[test]
fn serialized_config_loads_back_identically() {
    let mut c = Config::default();
    c.network.advertise_addr = Some("validator.example.net:9001".into());
    c.network.tpu_vote_addr = "10.0.0.1:9007".parse().unwrap();
    c.network.max_peers = 2000;
    c.gossip.seeds = vec!["10.0.0.1:8001".into(), "seed.example.net:8001".into()];
    c.gossip.heartbeat_interval = Duration::from_millis(1500);
    c.gossip.peer_discovery_interval = Duration::from_millis(250);
    c.performance.pin_cores = false;
    c.rpc.faucet_keypair = Some("/keys/faucet.json".into());
    let text = c.to_toml_string().unwrap();
    assert_eq!(Config::from_toml_str(&text).unwrap(), c);
    // The defaults, with their optional fields unset, round-trip too.
    let text = Config::default().to_toml_string().unwrap();
    assert_eq!(Config::from_toml_str(&text).unwrap(), Config::default());
}

#[test]
fn each_invalid_value_names_its_field() {
    let seeds_17 = format!(
        "[gossip]\nseeds = [{}]",
        (1..=17)
            .map(|i| format!("\"10.0.0.{i}:8001\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cases = [
        ("[turbine]\nfanout = 0", "turbine.fanout"),
        ("[turbine]\nfanout = 1001", "turbine.fanout"),
        ("[turbine]\nfec_data_shreds = 0", "turbine.fec_data_shreds"),
        (
            "[turbine]\nfec_coding_shreds = 300",
            "turbine.fec_coding_shreds",
        ),
        ("[network]\nmax_peers = 0", "network.max_peers"),
        ("[network]\nmax_peers = 100001", "network.max_peers"),
        (
            "[network]\nadvertise_addr = \"nohost\"",
            "network.advertise_addr",
        ),
        (
            "[network]\nudp_recv_buffer_bytes = 10",
            "network.udp_recv_buffer_bytes",
        ),
        (
            "[network]\nudp_send_buffer_bytes = 10",
            "network.udp_send_buffer_bytes",
        ),
        ("[network]\nudp_backend = \"epoll\"", "network.udp_backend"),
        ("[consensus]\ngenesis = \"\"", "consensus.genesis"),
        (
            "[consensus]\nidentity_keypair = \"\"",
            "consensus.identity_keypair",
        ),
        ("[gossip]\nseeds = [\"a:1\", \"b\"]", "gossip.seeds"),
        ("[gossip]\nseeds = [\"a:0\"]", "gossip.seeds"),
        (seeds_17.as_str(), "gossip.seeds (count)"),
        (
            "[gossip]\nheartbeat_interval = \"0s\"",
            "gossip.heartbeat_interval (ms)",
        ),
        (
            "[gossip]\nheartbeat_interval = \"99ms\"",
            "gossip.heartbeat_interval (ms)",
        ),
        (
            "[gossip]\nheartbeat_interval = \"30s 1ms\"",
            "gossip.heartbeat_interval (ms)",
        ),
        (
            "[gossip]\npeer_discovery_interval = \"0s\"",
            "gossip.peer_discovery_interval (ms)",
        ),
        (
            "[gossip]\npeer_discovery_interval = \"9ms\"",
            "gossip.peer_discovery_interval (ms)",
        ),
        (
            "[gossip]\npeer_discovery_interval = \"1m 1ms\"",
            "gossip.peer_discovery_interval (ms)",
        ),
        (
            "[performance]\nworker_threads = 5000",
            "performance.worker_threads",
        ),
        (
            "[performance]\nsigverify_threads = 5000",
            "performance.sigverify_threads",
        ),
        (
            "[performance]\nbatch_size_max = 0",
            "performance.batch_size_max",
        ),
        (
            "[performance]\nbatch_size_max = 65537",
            "performance.batch_size_max",
        ),
        ("[storage]\ndata_dir = \"\"", "storage.data_dir"),
        ("[storage]\ncache_mib = 4", "storage.cache_mib"),
        (
            "[storage]\nlimit_ledger_slots = 10",
            "storage.limit_ledger_slots",
        ),
        ("[rpc]\nfaucet_keypair = \"\"", "rpc.faucet_keypair"),
        ("[rpc]\naddr = \"127.0.0.1:65535\"", "rpc.pubsub_addr"),
        (
            "[rpc]\naddr = \"127.0.0.1:9000\"\npubsub_addr = \"127.0.0.1:9000\"",
            "rpc.pubsub_addr",
        ),
        ("[logging]\nlevel = \"=\"", "logging.level"),
    ];
    for (text, field) in cases {
        assert_eq!(invalid_field(text), field, "for {text:?}");
    }

    // The whole message: field, allowed range, and the value given.
    let messages = [
        (
            "[turbine]\nfanout = 0",
            "turbine.fanout: must be in 1..=1000, got 0",
        ),
        (&seeds_17, "gossip.seeds (count): must be in 0..=16, got 17"),
        (
            "[gossip]\nheartbeat_interval = \"99ms\"",
            "gossip.heartbeat_interval (ms): must be in 100..=30000, got 99",
        ),
        (
            "[gossip]\npeer_discovery_interval = \"61s\"",
            "gossip.peer_discovery_interval (ms): must be in 10..=60000, got 61000",
        ),
    ];
    for (text, message) in messages {
        let e = Config::from_toml_str(text).unwrap_err();
        assert_eq!(e.to_string(), message, "for {text:?}");
    }
}

#[test]
fn gossip_ranges_include_their_bounds() {
    let seeds_16: Vec<String> = (1..=16).map(|i| format!("10.0.0.{i}:8001")).collect();
    let text = format!(
        "[gossip]\nseeds = {seeds_16:?}\nheartbeat_interval = \"100ms\"\n\
         peer_discovery_interval = \"10ms\"\n"
    );
    let c = Config::from_toml_str(&text).unwrap();
    assert_eq!(c.gossip.seeds, seeds_16);
    assert_eq!(c.gossip.heartbeat_interval, Duration::from_millis(100));
    assert_eq!(c.gossip.peer_discovery_interval, Duration::from_millis(10));

    let c = Config::from_toml_str(
        "[gossip]\nheartbeat_interval = \"30s\"\npeer_discovery_interval = \"1m\"\n\
         [network]\nmax_peers = 100000\n",
    )
    .unwrap();
    assert_eq!(c.gossip.heartbeat_interval, Duration::from_secs(30));
    assert_eq!(c.gossip.peer_discovery_interval, Duration::from_secs(60));
    assert_eq!(c.network.max_peers, 100_000);
    let c = Config::from_toml_str("[network]\nmax_peers = 1").unwrap();
    assert_eq!(c.network.max_peers, 1);
}

#[test]
fn tpu_vote_addr_is_a_socket_address() {
    let c = Config::from_toml_str("[network]\ntpu_vote_addr = \"10.0.0.2:9007\"").unwrap();
    assert_eq!(
        c.network.tpu_vote_addr,
        SocketAddr::from(([10, 0, 0, 2], 9007))
    );
    // Only the vote socket moves: it is a field of its own, not derived from tpu_addr.
    assert_eq!(c.network.tpu_addr, NetworkConfig::default().tpu_addr);
    let c = Config::from_toml_str("[network]\ntpu_vote_addr = \"[::1]:9007\"").unwrap();
    assert_eq!(c.network.tpu_vote_addr.to_string(), "[::1]:9007");
    // An address without a port, with a port out of range, or with a host name (only an IP
    // address is bound) is a type error that names the field.
    for bad in [
        "\"10.0.0.2\"",
        "\"10.0.0.2:70000\"",
        "\"vote.example.net:8007\"",
        "8007",
    ] {
        let e = Config::from_toml_str(&format!("[network]\ntpu_vote_addr = {bad}")).unwrap_err();
        assert_eq!(e.field(), Some("network.tpu_vote_addr"), "for {bad}: {e}");
    }
}

#[test]
fn type_errors_and_unknown_keys_name_the_key_and_line() {
    let cases = [
        ("[turbine]\nfanout = \"eight\"", "turbine.fanout", "line 2"),
        (
            "[network]\nlisten_addr = \"nowhere\"",
            "network.listen_addr",
            "line 2",
        ),
        (
            "[network]\nmax_peers = 512\ntpu_vote_addr = \"nowhere\"",
            "network.tpu_vote_addr",
            "line 3",
        ),
        (
            "\n[gossip]\nheartbeat_interval = \"5 parsecs\"",
            "gossip.heartbeat_interval",
            "line 3",
        ),
        (
            "[gossip]\npeer_discovery_interval = 500",
            "gossip.peer_discovery_interval",
            "line 2",
        ),
        ("[rpc]\nenabled = true\nbogus = 1", "rpc.bogus", "line 3"),
        (
            "[gossip]\nseeds = [\n  \"a:1\",\n  7,\n]",
            "gossip.seeds",
            "line 4",
        ),
        ("[nonsense]\nx = 1", "nonsense", "line 1"),
    ];
    for (text, field, line) in cases {
        let e = Config::from_toml_str(text).unwrap_err();
        assert!(matches!(e, ConfigError::Toml { .. }), "{e:?}");
        assert_eq!(e.field(), Some(field), "for {text:?}: {e}");
        assert!(e.to_string().contains(line), "for {text:?}: {e}");
    }
    let e = Config::from_toml_str("[rpc]\nbogus = 1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `bogus`"), "{e}");
    let e = Config::from_toml_str("[rpc\n").unwrap_err();
    assert!(matches!(e, ConfigError::Toml { .. }), "{e:?}");
}

#[test]
fn rpc_edge_limits_default_to_the_servers_and_are_settable() {
    let c = Config::from_toml_str("").unwrap();
    assert_eq!(c.rpc.http_limits(), crate::rpc::HttpLimits::default());
    assert_eq!(c.rpc.connections_per_ip_max, 128);
    assert_eq!(c.rpc.pubsub_limits().connections_per_ip, 128);
    let c = Config::from_toml_str(
        "[rpc]\nconnections_max = 4096\nconnections_per_ip_max = 16\n\
         header_read_timeout = \"5s\"\nbody_read_timeout = \"2s\"\nidle_timeout = \"1500ms\"\n\
         send_transaction_per_ip_per_sec = 50\nsend_transaction_per_ip_burst = 100\nthreads = 6\n",
    )
    .unwrap();
    let limits = c.rpc.http_limits();
    assert_eq!(limits.connections_max, 4096);
    assert_eq!(limits.connections_per_ip_max, 16);
    assert_eq!(limits.header_read_timeout, Duration::from_secs(5));
    assert_eq!(limits.body_read_timeout, Duration::from_secs(2));
    assert_eq!(limits.idle_timeout, Duration::from_millis(1500));
    assert_eq!(
        (
            limits.send_transaction_per_sec,
            limits.send_transaction_burst
        ),
        (50, 100)
    );
    assert_eq!(c.rpc.pubsub_limits().connections_per_ip, 16);
    assert_eq!(c.rpc.threads, 6);
    // Written out and read back unchanged.
    let text = c.to_toml_string().unwrap();
    assert_eq!(Config::from_toml_str(&text).unwrap(), c);
    // Out of range, each names its field.
    for (text, field) in [
        ("[rpc]\nconnections_max = 0", "rpc.connections_max"),
        (
            "[rpc]\nconnections_max = 10\nconnections_per_ip_max = 11",
            "rpc.connections_per_ip_max",
        ),
        (
            "[rpc]\nbody_read_timeout = \"1ms\"",
            "rpc.body_read_timeout (ms)",
        ),
        (
            "[rpc]\nheader_read_timeout = \"2s\"\nidle_timeout = \"3s\"",
            "rpc.idle_timeout",
        ),
        (
            "[rpc]\nsend_transaction_per_ip_burst = 0",
            "rpc.send_transaction_per_ip_burst",
        ),
        ("[rpc]\nthreads = 0", "rpc.threads"),
    ] {
        let e = Config::from_toml_str(text).unwrap_err();
        assert_eq!(e.field(), Some(field), "for {text:?}: {e}");
    }
    // A misspelt limit is still an unknown key.
    let e = Config::from_toml_str("[rpc]\nconnection_max = 10").unwrap_err();
    assert_eq!(e.field(), Some("rpc.connection_max"), "{e}");
}

#[test]
fn memory_bounds_default_to_the_servers_and_are_settable() {
    use crate::rpc::pubsub::PubSubLimits;
    use crate::tpu_quic::QuicLimits;
    let c = Config::from_toml_str("").unwrap();
    assert_eq!(c.rpc.pubsub_limits(), PubSubLimits::default());
    assert_eq!(c.network.tpu_quic_limits(), QuicLimits::default());
    assert_eq!(
        (
            c.performance.pending_transactions_max,
            c.performance.admit_backlog_max
        ),
        (262_144, 16_384)
    );
    assert_eq!(
        c.performance.admit_fresh_window,
        dataplane::sigverify::ADMIT_FRESH_WINDOW
    );
    assert_eq!(
        (c.rpc.pubsub_slots_cached, c.rpc.pubsub_send_queue_bytes),
        (256, 16 << 20)
    );

    let c = Config::from_toml_str(
        "[network]
tpu_quic_connections_max = 100
tpu_quic_connections_per_ip_max = 3
         [performance]
pending_transactions_max = 5000
admit_backlog_max = 3000
admit_fresh_window = \"20s\"
         [rpc]
pubsub_connections_max = 20
pubsub_subscriptions_per_connection_max = 7
         pubsub_subscriptions_max = 90
pubsub_send_queue_messages = 100
         pubsub_send_queue_bytes = 2097152
pubsub_slots_cached = 40
",
    )
    .unwrap();
    assert_eq!(
        c.network.tpu_quic_limits(),
        QuicLimits {
            connections_max: 100,
            connections_per_ip_max: 3
        }
    );
    assert_eq!(c.network.tpu_quic_limits().unstaked_connections_max(), 50);
    assert_eq!(c.performance.pending_transactions_max, 5000);
    assert_eq!(c.performance.admit_backlog_max, 3000);
    assert_eq!(c.performance.admit_fresh_window, Duration::from_secs(20));
    assert_eq!(
        c.rpc.pubsub_limits(),
        PubSubLimits {
            connections: 20,
            connections_per_ip: 128,
            subscriptions_per_connection: 7,
            subscriptions: 90,
            message_bytes: crate::rpc::pubsub::MESSAGE_BYTES_MAX,
            send_queue_messages: 100,
            send_queue_bytes: 2 << 20,
            slots_cached: 40,
        }
    );
    let text = c.to_toml_string().unwrap();
    assert_eq!(Config::from_toml_str(&text).unwrap(), c);

    // Every range includes its bounds.
    let c = Config::from_toml_str(
        "[network]
tpu_quic_connections_max = 2
tpu_quic_connections_per_ip_max = 2
         [performance]
pending_transactions_max = 2048
admit_backlog_max = 2048
         [rpc]
pubsub_connections_max = 1
pubsub_subscriptions_per_connection_max = 1
         pubsub_subscriptions_max = 1
pubsub_send_queue_messages = 64
         pubsub_send_queue_bytes = 1048576
pubsub_slots_cached = 32
",
    )
    .unwrap();
    assert_eq!(c.performance.admit_backlog_max, 2048);
    let c = Config::from_toml_str(
        "[network]
tpu_quic_connections_max = 65536
         [performance]
pending_transactions_max = 16777216
admit_backlog_max = 2048
         [rpc]
pubsub_connections_max = 1048576
pubsub_subscriptions_max = 10000000
         pubsub_send_queue_messages = 1048576
pubsub_send_queue_bytes = 1073741824
         pubsub_slots_cached = 65536
",
    )
    .unwrap();
    assert_eq!(c.rpc.pubsub_slots_cached, 65_536);

    // Out of range, each names its field, the allowed range and the value given.
    for (text, message) in [
        (
            "[network]
tpu_quic_connections_max = 1",
            "network.tpu_quic_connections_max: must be in 2..=65536, got 1",
        ),
        (
            "[network]
tpu_quic_connections_max = 65537",
            "network.tpu_quic_connections_max: must be in 2..=65536, got 65537",
        ),
        (
            "[network]
tpu_quic_connections_per_ip_max = 0",
            "network.tpu_quic_connections_per_ip_max: must be in 1..=2048, got 0",
        ),
        (
            "[network]
tpu_quic_connections_max = 4
tpu_quic_connections_per_ip_max = 5",
            "network.tpu_quic_connections_per_ip_max: must be in 1..=4, got 5",
        ),
        (
            "[performance]
pending_transactions_max = 2047",
            "performance.pending_transactions_max: must be in 2048..=16777216, got 2047",
        ),
        (
            "[performance]
pending_transactions_max = 16777217",
            "performance.pending_transactions_max: must be in 2048..=16777216, got 16777217",
        ),
        (
            "[performance]
admit_backlog_max = 2047",
            "performance.admit_backlog_max: must be in 2048..=262144, got 2047",
        ),
        (
            "[performance]
pending_transactions_max = 10000
admit_backlog_max = 16384",
            "performance.admit_backlog_max: must be in 2048..=10000, got 16384",
        ),
        (
            "[performance]
admit_fresh_window = \"500ms\"",
            "performance.admit_fresh_window (ms): must be in 1000..=600000, got 500",
        ),
        (
            "[rpc]
pubsub_connections_max = 0",
            "rpc.pubsub_connections_max: must be in 1..=1048576, got 0",
        ),
        (
            "[rpc]
pubsub_subscriptions_max = 0",
            "rpc.pubsub_subscriptions_max: must be in 1..=10000000, got 0",
        ),
        (
            "[rpc]
pubsub_subscriptions_max = 10
pubsub_subscriptions_per_connection_max = 11",
            "rpc.pubsub_subscriptions_per_connection_max: must be in 1..=10, got 11",
        ),
        (
            "[rpc]
pubsub_subscriptions_per_connection_max = 0",
            "rpc.pubsub_subscriptions_per_connection_max: must be in 1..=100000, got 0",
        ),
        (
            "[rpc]
pubsub_send_queue_messages = 63",
            "rpc.pubsub_send_queue_messages: must be in 64..=1048576, got 63",
        ),
        (
            "[rpc]
pubsub_send_queue_bytes = 65536",
            "rpc.pubsub_send_queue_bytes: must be in 1048576..=1073741824, got 65536",
        ),
        (
            "[rpc]
pubsub_slots_cached = 31",
            "rpc.pubsub_slots_cached: must be in 32..=65536, got 31",
        ),
        (
            "[rpc]
pubsub_slots_cached = 65537",
            "rpc.pubsub_slots_cached: must be in 32..=65536, got 65537",
        ),
    ] {
        let e = Config::from_toml_str(text).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { .. }), "{text:?}: {e:?}");
        let field = message.split(':').next().unwrap();
        assert_eq!(e.field(), Some(field), "for {text:?}");
        assert_eq!(e.to_string(), message, "for {text:?}");
    }
    // A negative count is a type error that names the key.
    let e = Config::from_toml_str(
        "[rpc]
pubsub_slots_cached = -1",
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("rpc.pubsub_slots_cached"), "{e}");
}

#[test]
fn durations_accept_human_forms() {
    let c = Config::from_toml_str(
        "[gossip]\nheartbeat_interval = \"1s 500ms\"\npeer_discovery_interval = \"1m\"",
    )
    .unwrap();
    assert_eq!(c.gossip.heartbeat_interval, Duration::from_millis(1500));
    assert_eq!(c.gossip.peer_discovery_interval, Duration::from_secs(60));
    let e = Config::from_toml_str("[gossip]\nheartbeat_interval = \"5\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"5s\" or \"100ms\""), "{e}");
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        "[consensus]\nidentity_keypair = \"keys/id.json\"\ngenesis = \"/abs/genesis.json\"\n\
         [storage]\ndata_dir = \"ledger\"\n[rpc]\nfaucet_keypair = \"faucet.json\"\n",
    )
    .unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(
        c.consensus.identity_keypair,
        dir.path().join("keys/id.json")
    );
    assert_eq!(c.consensus.genesis, PathBuf::from("/abs/genesis.json"));
    assert_eq!(c.storage.data_dir, dir.path().join("ledger"));
    assert_eq!(c.rpc.faucet_keypair, Some(dir.path().join("faucet.json")));
}

#[test]
fn load_reports_missing_and_oversized_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let e = Config::load(&missing).unwrap_err().to_string();
    assert!(e.contains("absent.toml"), "{e}");
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; (CONFIG_FILE_BYTES_MAX + 1) as usize]).unwrap();
    assert!(matches!(
        Config::load(&big),
        Err(ConfigError::TooLarge { .. })
    ));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[turbine]\nfanout = 0\n").unwrap();
    assert_eq!(
        Config::load(&bad).unwrap_err().field(),
        Some("turbine.fanout")
    );
}

mod fuzz {
    use proptest::prelude::*;

    use super::super::*;

    fn example() -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("blackbook.example.toml"),
        )
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text is a config or a typed error, never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = Config::from_toml_str(&text);
        }

        /// Damaged real configs (a byte range replaced) load or fail with a message, never panic.
        #[test]
        fn damaged_example_never_panics(
            start in 0usize..6000, len in 0usize..40, junk in "[\\[\\]=\"a-z0-9.,\\n #-]{0,20}"
        ) {
            let mut text = example();
            let start = start.min(text.len());
            let end = (start + len).min(text.len());
            if text.is_char_boundary(start) && text.is_char_boundary(end) {
                text.replace_range(start..end, &junk);
                if let Err(e) = Config::from_toml_str(&text) {
                    prop_assert!(!e.to_string().is_empty());
                }
            }
        }

        /// The key finder takes any text and any offset.
        #[test]
        fn key_path_at_any_offset_never_panics(text in "\\PC{0,120}", offset in 0usize..200) {
            let _ = key_path_at(&text, offset);
        }
    }
}

#[test]
fn the_quic_vote_socket_defaults_to_the_vote_port_plus_six_and_must_exist() {
    let c = Config::from_toml_str("[network]\ntpu_vote_addr = \"127.0.0.1:9007\"").unwrap();
    assert_eq!(
        c.network.tpu_vote_quic_addr(),
        Some("127.0.0.1:9013".parse().unwrap())
    );
    let c = Config::from_toml_str(
        "[network]\ntpu_vote_addr = \"127.0.0.1:9007\"\ntpu_vote_quic_addr = \"127.0.0.1:9200\"",
    )
    .unwrap();
    assert_eq!(
        c.network.tpu_vote_quic_addr(),
        Some("127.0.0.1:9200".parse().unwrap())
    );
    let err = Config::from_toml_str("[network]\ntpu_vote_addr = \"127.0.0.1:65533\"")
        .expect_err("no port + 6");
    assert!(
        err.to_string().contains("network.tpu_vote_quic_addr"),
        "{err}"
    );
}

#[test]
fn the_quic_tpu_defaults_to_the_tpu_port_plus_six() {
    let c = Config::from_toml_str("[network]\ntpu_addr = \"127.0.0.1:9003\"").unwrap();
    assert_eq!(
        c.network.tpu_quic_addr(),
        Some("127.0.0.1:9009".parse().unwrap())
    );
    let c = Config::from_toml_str(
        "[network]\ntpu_addr = \"127.0.0.1:9003\"\ntpu_quic_addr = \"127.0.0.1:9100\"",
    )
    .unwrap();
    assert_eq!(
        c.network.tpu_quic_addr(),
        Some("127.0.0.1:9100".parse().unwrap())
    );
    // No port 6 above the TPU's: it must be named.
    let e = Config::from_toml_str("[network]\ntpu_addr = \"127.0.0.1:65533\"").unwrap_err();
    assert_eq!(e.field(), Some("network.tpu_quic_addr"), "{e}");
}
