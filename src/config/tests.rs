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
    assert_eq!(c.network.tpu_addr.to_string(), "0.0.0.0:8003");
    assert_eq!(c.network.udp_recv_buffer_bytes, 64 * 1024 * 1024);
    assert_eq!(c.consensus.role, Role::Validator);
    assert_eq!(c.gossip.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(c.tower_bft.vote_threshold, 0.67);
    assert_eq!(c.turbine.fanout, 8);
    assert_eq!(c.failover.leader_timeout, Duration::from_millis(1800));
    assert_eq!(c.storage.max_db_size, 1_000_000_000_000);
    assert_eq!(c.rpc.addr.to_string(), "127.0.0.1:8899");
    assert_eq!(c.rpc.faucet_max_lamports, 10_000_000_000);
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
fn reference_example_loads_except_its_shred_size() {
    let c = Config::from_toml_str(&REFERENCE_EXAMPLE.replace("SHRED_SIZE_LINE", "")).unwrap();
    assert_eq!(c.network.listen_addr.to_string(), "0.0.0.0:8080");
    assert_eq!(
        c.consensus.identity_keypair,
        PathBuf::from("/etc/blackbook/validator-keypair.json")
    );
    assert_eq!(c.gossip.seeds.len(), 3);
    assert_eq!(c.performance.worker_threads, 16);
    assert_eq!(c.storage.max_db_size, 1_000_000_000_000);

    let e = Config::from_toml_str(
        &REFERENCE_EXAMPLE.replace("SHRED_SIZE_LINE", "shred_size = 65536  # 64KB"),
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("turbine.shred_size"));
    let text = e.to_string();
    assert!(text.contains("1232") && text.contains("65536"), "{text}");
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
    full.consensus.leader_schedule_url = Some("http://a".into());
    full.rpc.faucet_keypair = Some("f.json".into());
    let table: toml::Table = full.to_toml_string().unwrap().parse().unwrap();
    for (section, fields) in &table {
        assert!(
            text.contains(&format!("[{section}]")),
            "section {section} missing"
        );
        for key in fields.as_table().unwrap().keys() {
            let set = text.contains(&format!("\n{key} = "));
            let commented = text.contains(&format!("\n# {key} = "));
            assert!(set || commented, "{section}.{key} is not documented");
        }
    }
}

#[test]
fn serialized_config_loads_back_identically() {
    let mut c = Config::default();
    c.gossip.seeds = vec!["10.0.0.1:8001".into()];
    c.failover.poh_sync_interval = Duration::from_millis(250);
    c.storage.max_db_size = 3 << 30;
    c.rpc.faucet_keypair = Some("/keys/faucet.json".into());
    let text = c.to_toml_string().unwrap();
    assert_eq!(Config::from_toml_str(&text).unwrap(), c);
}

#[test]
fn each_invalid_value_names_its_field() {
    let cases = [
        (
            "[tower_bft]\nvote_threshold = 1.5",
            "tower_bft.vote_threshold",
        ),
        (
            "[tower_bft]\nvote_threshold = 0.5",
            "tower_bft.vote_threshold",
        ),
        (
            "[tower_bft]\nvote_threshold = nan",
            "tower_bft.vote_threshold",
        ),
        (
            "[tower_bft]\nmax_lockout_depth = 0",
            "tower_bft.max_lockout_depth",
        ),
        (
            "[tower_bft]\noptimistic_confirmation_count = 0",
            "tower_bft.optimistic_confirmation_count",
        ),
        (
            "[tower_bft]\nconfirmed_count = 33",
            "tower_bft.confirmed_count",
        ),
        ("[turbine]\nfanout = 0", "turbine.fanout"),
        ("[turbine]\nfanout = 1001", "turbine.fanout"),
        ("[turbine]\nfec_data_shreds = 0", "turbine.fec_data_shreds"),
        (
            "[turbine]\nfec_coding_shreds = 300",
            "turbine.fec_coding_shreds",
        ),
        ("[network]\nmax_peers = 0", "network.max_peers"),
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
        ("[consensus]\ngenesis = \"\"", "consensus.genesis"),
        (
            "[consensus]\nidentity_keypair = \"\"",
            "consensus.identity_keypair",
        ),
        (
            "[consensus]\nleader_schedule_url = \"ftp://x\"",
            "consensus.leader_schedule_url",
        ),
        ("[gossip]\nseeds = [\"a:1\", \"b\"]", "gossip.seeds"),
        (
            "[gossip]\nheartbeat_interval = \"0s\"",
            "gossip.heartbeat_interval",
        ),
        (
            "[gossip]\npeer_discovery_interval = \"0s\"",
            "gossip.peer_discovery_interval",
        ),
        (
            "[replication]\nsnapshot_interval = 0",
            "replication.snapshot_interval",
        ),
        (
            "[replication]\ncatchup_batch_size = 0",
            "replication.catchup_batch_size",
        ),
        (
            "[failover]\nbackup_priority = 4",
            "failover.backup_priority",
        ),
        (
            "[failover]\nbackup_priority = 0",
            "failover.backup_priority",
        ),
        (
            "[failover]\npoh_sync_interval = \"0ms\"",
            "failover.poh_sync_interval",
        ),
        (
            "[failover]\nleader_timeout = \"50ms\"",
            "failover.leader_timeout",
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
            "[performance]\naccount_shards = 100",
            "performance.account_shards",
        ),
        (
            "[performance]\naccount_shards = 0",
            "performance.account_shards",
        ),
        (
            "[performance]\nbatch_size_max = 0",
            "performance.batch_size_max",
        ),
        ("[storage]\ndata_dir = \"\"", "storage.data_dir"),
        ("[storage]\nmax_db_size = \"1KB\"", "storage.max_db_size"),
        ("[rpc]\nfaucet_keypair = \"\"", "rpc.faucet_keypair"),
        ("[logging]\nlevel = \"=\"", "logging.level"),
    ];
    for (text, field) in cases {
        assert_eq!(invalid_field(text), field, "for {text:?}");
    }
    let e = Config::from_toml_str("[tower_bft]\nvote_threshold = 1.5").unwrap_err();
    assert_eq!(
        e.to_string(),
        "tower_bft.vote_threshold: must be in (0.5, 1.0], got 1.5"
    );
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
            "\n[gossip]\nheartbeat_interval = \"5 parsecs\"",
            "gossip.heartbeat_interval",
            "line 3",
        ),
        (
            "[storage]\nmax_db_size = \"1XB\"",
            "storage.max_db_size",
            "line 2",
        ),
        (
            "[storage]\nmax_db_size = -1",
            "storage.max_db_size",
            "line 2",
        ),
        ("[consensus]\nrole = \"king\"", "consensus.role", "line 2"),
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
fn sizes_and_durations_accept_human_forms() {
    let c = Config::from_toml_str(
        "[storage]\nmax_db_size = \"512GiB\"\n[failover]\nleader_timeout = \"1m 30s\"",
    )
    .unwrap();
    assert_eq!(c.storage.max_db_size, 512 << 30);
    assert_eq!(c.failover.leader_timeout, Duration::from_secs(90));
    let c = Config::from_toml_str("[storage]\nmax_db_size = 2097152").unwrap();
    assert_eq!(c.storage.max_db_size, 2 << 20);
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
            start in 0usize..4000, len in 0usize..40, junk in "[\\[\\]=\"a-z0-9.,\\n #-]{0,20}"
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
