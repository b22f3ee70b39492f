//! Tests of the command line: parsing, and each client command end to end (against a fake node).

use std::sync::Mutex;

use base64::Engine as _;
use clap::CommandFactory as _;
use dataplane::types::{Hash, Signature};
use serde_json::{json, Value};

use super::*;
use crate::rpc_client::fake_rpc::{self, ok};

fn parse(args: &[&str]) -> Result<Command, clap::Error> {
    let mut argv = vec!["blackbook"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).map(|c| c.command)
}

/// Runs a client command; returns its standard output.
fn run(args: &[&str], stdin: &str) -> anyhow::Result<String> {
    let command = parse(args)?;
    let mut out = Vec::new();
    run_tool(command, &mut stdin.as_bytes(), &mut out)?;
    Ok(String::from_utf8(out)?)
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn command_definitions_are_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn localnet_defaults_and_ranges() {
    let Command::Localnet(a) = parse(&["localnet"]).unwrap() else {
        panic!("not localnet");
    };
    assert_eq!(a.validators, 1);
    assert_eq!(a.tps, None);
    assert_eq!(a.duration, None);
    assert!(!a.json && !a.keep && a.data_dir.is_none());
    assert_eq!(a.hashes_per_tick, genesis::LOCALNET_HASHES_PER_TICK);
    assert_eq!(a.slot_ms, 400);
    assert_eq!(a.accounts, 1024);
    assert_eq!(a.base_port, 18000);

    let Command::Localnet(a) = parse(&[
        "localnet",
        "--validators",
        "3",
        "--tps",
        "5000",
        "--duration",
        "30s",
        "--json",
        "--data-dir",
        "/tmp/x",
        "--keep",
        "--accounts",
        "10",
        "--base-port",
        "20000",
    ])
    .unwrap() else {
        panic!("not localnet");
    };
    assert_eq!(a.validators, 3);
    assert_eq!(a.tps, Some(5000));
    assert_eq!(a.duration, Some(Duration::from_secs(30)));
    assert!(a.json && a.keep);
    assert_eq!(a.data_dir, Some(PathBuf::from("/tmp/x")));
    assert_eq!((a.accounts, a.base_port), (10, 20000));

    for bad in [
        &["localnet", "--validators", "0"][..],
        &["localnet", "--tps", "0"],
        &["localnet", "--duration", "soon"],
        &["localnet", "--accounts", "1"],
        &["localnet", "--base-port", "80"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn keygen_writes_a_recoverable_keypair_and_refuses_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("id.json");
    let out = run(&["keygen", "--outfile", path_str(&file)], "").unwrap();
    let pubkey = wallet::read_pubkey_file(&file).unwrap();
    assert!(out.contains(&format!("pubkey: {pubkey}")), "{out}");

    // The printed phrase is the one line of 12 English words; it derives the same key.
    let phrase = out
        .lines()
        .find(|l| l.split_whitespace().count() == wallet::MNEMONIC_WORDS)
        .unwrap();
    let derived = wallet::keypair_from_phrase(phrase, "", None).unwrap();
    assert_eq!(wallet::pubkey_of(&derived), pubkey);

    let e = run(&["keygen", "--outfile", path_str(&file)], "").unwrap_err();
    assert!(e.to_string().contains("--force"), "{e}");
    assert_eq!(wallet::read_pubkey_file(&file).unwrap(), pubkey);

    let out = run(
        &["keygen", "-o", path_str(&file), "--force", "--no-mnemonic"],
        "",
    )
    .unwrap();
    let replaced = wallet::read_pubkey_file(&file).unwrap();
    assert_ne!(replaced, pubkey);
    assert!(!out.contains(phrase));
    assert!(
        out.lines().all(|l| l.split_whitespace().count() < 12),
        "{out}"
    );

    let shown = run(&["keygen", "pubkey", path_str(&file)], "").unwrap();
    assert_eq!(shown.trim(), replaced.to_string());
    let shown = run(&["address", "--keypair", path_str(&file)], "").unwrap();
    assert_eq!(shown.trim(), replaced.to_string());

    // Recover rebuilds the first key from its phrase.
    let again = dir.path().join("again.json");
    run(
        &["keygen", "recover", "-o", path_str(&again)],
        &format!("{phrase}\n"),
    )
    .unwrap();
    assert_eq!(wallet::read_pubkey_file(&again).unwrap(), pubkey);
    assert!(run(
        &["keygen", "recover", "-o", path_str(&again), "--force"],
        "no such words\n"
    )
    .is_err());
}

/// BIP39's first English test vector.
const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                       abandon abandon about";
/// The address Phantom shows for [`ABANDON`] (its account 0, `m/44'/501'/0'/0'`).
const ABANDON_PHANTOM: &str = "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk";

#[test]
fn keygen_recover_derives_by_slip10_when_given_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("id.json");
    let recover = |extra: &[&str]| {
        let mut args = vec!["keygen", "recover", "--force", "-o", path_str(&file)];
        args.extend_from_slice(extra);
        let out = run(&args, &format!("{ABANDON}\n")).unwrap();
        let pubkey = wallet::read_pubkey_file(&file).unwrap();
        assert!(out.contains(&format!("pubkey: {pubkey}")), "{out}");
        pubkey.to_string()
    };
    // The flag alone, before another flag or last, means Solana's path: Phantom's address.
    assert_eq!(recover(&["--derivation-path"]), ABANDON_PHANTOM);
    let mut args = vec!["keygen", "recover", "--derivation-path", "--force"];
    args.extend_from_slice(&["-o", path_str(&file)]);
    run(&args, &format!("{ABANDON}\n")).unwrap();
    assert_eq!(
        wallet::read_pubkey_file(&file).unwrap().to_string(),
        ABANDON_PHANTOM
    );
    assert_eq!(
        recover(&["--derivation-path", "m/44'/501'/0'/0'"]),
        ABANDON_PHANTOM
    );
    // Another account is another key, the one that path derives.
    let account_1 = recover(&["--derivation-path", "m/44'/501'/1'/0'"]);
    let path: wallet::slip10::DerivationPath = "m/44'/501'/1'/0'".parse().unwrap();
    let expected = wallet::keypair_from_phrase(ABANDON, "", Some(&path)).unwrap();
    assert_eq!(account_1, wallet::pubkey_of(&expected).to_string());
    assert_ne!(account_1, ABANDON_PHANTOM);
    // Without the flag the key is solana-keygen's default: the BIP39 seed's first 32 bytes.
    let plain = recover(&[]);
    let seed_key = ed25519_dalek::SigningKey::from_bytes(
        &bip39::Mnemonic::parse(ABANDON).unwrap().to_seed("")[..32]
            .try_into()
            .unwrap(),
    );
    assert_eq!(plain, wallet::pubkey_of(&seed_key).to_string());
    assert_ne!(plain, ABANDON_PHANTOM);
}

#[test]
fn a_derivation_path_with_a_normal_component_is_refused() {
    for args in [
        &["keygen", "recover", "--derivation-path", "m/44'/501'/0/0"][..],
        &["keygen", "--derivation-path", "m/44'/501'/0/0"],
    ] {
        let e = parse(args).unwrap_err().to_string();
        assert!(e.contains("--derivation-path"), "{e}");
        assert!(
            e.contains("component 3 (0) is not hardened") && e.contains("write 0'"),
            "{e}"
        );
    }
    let e = parse(&["keygen", "recover", "--derivation-path", "44'/501'"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("must start with \"m\""), "{e}");
    // A key with no phrase has nothing to derive from.
    assert!(parse(&["keygen", "--no-mnemonic", "--derivation-path"]).is_err());
}

#[test]
fn keygen_with_a_derivation_path_prints_a_phrase_that_recovers_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("id.json");
    let out = run(&["keygen", "-o", path_str(&file), "--derivation-path"], "").unwrap();
    let pubkey = wallet::read_pubkey_file(&file).unwrap();
    assert!(out.contains("derivation path m/44'/501'/0'/0'"), "{out}");
    let phrase = out
        .lines()
        .find(|l| l.split_whitespace().count() == wallet::MNEMONIC_WORDS)
        .unwrap();
    let solana = wallet::slip10::DerivationPath::solana();
    let derived = wallet::keypair_from_phrase(phrase, "", Some(&solana)).unwrap();
    assert_eq!(wallet::pubkey_of(&derived), pubkey);
    let plain = wallet::keypair_from_phrase(phrase, "", None).unwrap();
    assert_ne!(wallet::pubkey_of(&plain), pubkey);
}

#[test]
fn genesis_writes_a_valid_file_and_prints_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let id = dir.path().join("id.json");
    let key = wallet::generate_keypair();
    wallet::write_keypair_file(&id, &key, false).unwrap();
    let other = Pubkey([8; 32]).to_string();
    let out_file = dir.path().join("genesis.json");
    let validator_spec = format!("{}:5_000", id.display());
    let account_spec = format!("{other}:1000000000");
    let faucet_spec = format!("{}:7", Pubkey([9; 32]));
    let args = [
        "genesis",
        "--validator",
        &validator_spec,
        "--validator",
        &other,
        "--account",
        &account_spec,
        "--account",
        &faucet_spec,
        "--hashes-per-tick",
        "2000",
        "--cluster-name",
        "test",
        "--out",
        path_str(&out_file),
    ];
    let printed = run(&args, "").unwrap();
    let g = Genesis::load(&out_file).unwrap();
    assert_eq!(printed.trim(), g.hash().to_string());
    assert_eq!(g.cluster_name, "test");
    assert_eq!(g.hashes_per_tick, 2000);
    assert_eq!(g.ticks_per_slot, genesis::DEFAULT_TICKS_PER_SLOT);
    assert_eq!(g.slots_per_epoch, genesis::DEFAULT_SLOTS_PER_EPOCH);
    assert_eq!(g.validators[0].identity, wallet::pubkey_of(&key));
    assert_eq!(g.validators[0].stake, 5_000);
    assert_eq!(g.validators[1].stake, DEFAULT_VALIDATOR_STAKE_LAMPORTS);
    assert_eq!(g.total_supply(), Some(1_000_000_007));
    let age_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - g.creation_time_unix_ms;
    assert!(age_ms < 60_000, "creation time is now");

    let e = run(&args, "").unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    let mut forced = args.to_vec();
    forced.push("--force");
    run(&forced, "").unwrap();
    assert!(
        parse(&["genesis", "--account", &account_spec]).is_err(),
        "needs a validator"
    );
}

#[test]
fn genesis_rejects_bad_specs_with_the_spec_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.json");
    let v = Pubkey([1; 32]).to_string();
    let a = Pubkey([2; 32]).to_string();
    let cases = [
        (vec!["--validator", "nonsense"], "nonsense"),
        (vec!["--validator", &v, "--account", &a], "KEY:LAMPORTS"),
        (vec!["--validator", "zz:10"], "zz:10"),
        (vec!["--validator", &v, "--validator", &v], "listed twice"),
        (
            vec!["--validator", &v, "--ticks-per-slot", "0"],
            "ticks_per_slot",
        ),
    ];
    for (extra, expect) in cases {
        let mut args = vec!["genesis", "--out", path_str(&out)];
        args.extend(extra);
        let e = format!("{:#}", run(&args, "").unwrap_err());
        assert!(e.contains(expect), "{args:?}: {e}");
        assert!(!out.exists());
    }
    let dup = format!("{a}:1");
    let e = format!(
        "{:#}",
        run(
            &[
                "genesis",
                "--out",
                path_str(&out),
                "--validator",
                &v,
                "--account",
                &dup,
                "--account",
                &dup
            ],
            ""
        )
        .unwrap_err()
    );
    assert!(e.contains("funded twice"), "{e}");
    let huge = format!("{a}:99999999999999999999");
    let e = format!(
        "{:#}",
        run(
            &[
                "genesis",
                "--out",
                path_str(&out),
                "--validator",
                &v,
                "--account",
                &huge
            ],
            ""
        )
        .unwrap_err()
    );
    assert!(e.contains("not a lamport amount"), "{e}");
}

#[test]
fn validator_flags_override_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blackbook.toml");
    std::fs::write(
        &file,
        "[storage]\ndata_dir = \"ledger\"\n[rpc]\naddr = \"127.0.0.1:9000\"\n[turbine]\nfanout = 4\n",
    )
    .unwrap();
    let Command::Validator(args) = parse(&[
        "validator",
        "--config",
        path_str(&file),
        "--rpc-addr",
        "127.0.0.1:9100",
        "--identity",
        "me.json",
        "--tpu-addr",
        "127.0.0.1:9101",
    ])
    .unwrap() else {
        panic!("not validator");
    };
    let c = args.load_config().unwrap();
    assert_eq!(c.storage.data_dir, dir.path().join("ledger"));
    assert_eq!(c.rpc.addr.to_string(), "127.0.0.1:9100");
    assert_eq!(c.network.tpu_addr.to_string(), "127.0.0.1:9101");
    assert_eq!(c.consensus.identity_keypair, PathBuf::from("me.json"));
    assert_eq!(c.turbine.fanout, 4);

    let defaults = ValidatorArgs::default().load_config().unwrap();
    assert_eq!(defaults, Config::default());

    std::fs::write(&file, "[turbine]\nfanout = 0\n").unwrap();
    let args = ValidatorArgs {
        config: Some(file.clone()),
        ..ValidatorArgs::default()
    };
    let e = format!("{:#}", args.load_config().unwrap_err());
    assert!(e.contains("blackbook.toml"), "{e}");
    assert!(
        e.contains("turbine.fanout: must be in 1..=1000, got 0"),
        "{e}"
    );

    // A removed section reaches the operator with the reason it is gone, not only its name.
    std::fs::write(&file, "[tower_bft]\nvote_threshold = 0.67\n").unwrap();
    let e = format!("{:#}", args.load_config().unwrap_err());
    assert!(e.contains("blackbook.toml"), "{e}");
    assert!(
        e.contains("tower_bft: not configurable") && e.contains("cluster constants"),
        "{e}"
    );
}

#[test]
fn tokens_print_without_trailing_zeros() {
    assert_eq!(format_tokens(0), "0");
    assert_eq!(format_tokens(1), "0.000000001");
    assert_eq!(format_tokens(1_500_000_000), "1.5");
    assert_eq!(format_tokens(42 * LAMPORTS_PER_TOKEN), "42");
    assert_eq!(format_tokens(u64::MAX), "18446744073.709551615");
}

/// A fake node that records sent transactions and reports them with `status` once sent.
fn fake_node(status: Value) -> (fake_rpc::FakeRpc, std::sync::Arc<Mutex<Vec<Vec<u8>>>>) {
    let sent = std::sync::Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let seen = sent.clone();
    let server = fake_rpc::start(move |req: &Value| {
        let id = &req["id"];
        match req["method"].as_str().unwrap_or("") {
            "getLatestBlockhash" => ok(
                id,
                json!({"context": {"slot": 3},
                       "value": {"blockhash": Hash([6; 32]).to_string(), "lastValidBlockHeight": 1000}}),
            ),
            "getBlockHeight" => ok(id, json!(10)),
            "getBalance" => ok(id, json!({"context": {"slot": 3}, "value": 2_500_000_000u64})),
            "sendTransaction" => {
                let wire = base64::engine::general_purpose::STANDARD
                    .decode(req["params"][0].as_str().unwrap())
                    .unwrap();
                let sig = dataplane::txn::TxnView::new(&wire).unwrap().signature();
                seen.lock().unwrap().push(wire);
                ok(id, json!(sig.to_string()))
            }
            "requestAirdrop" => {
                seen.lock().unwrap().push(Vec::new());
                ok(id, json!(Signature([1; 64]).to_string()))
            }
            "getSignatureStatuses" => {
                let n = req["params"][0].as_array().unwrap().len();
                let known = !seen.lock().unwrap().is_empty();
                let one = if known { status.clone() } else { Value::Null };
                ok(id, json!({"context": {"slot": 4}, "value": vec![one; n]}))
            }
            _ => (200, json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}}).to_string()),
        }
    });
    (server, sent)
}

#[test]
fn transfer_signs_sends_and_waits_for_confirmation() {
    let (server, sent) = fake_node(json!({"slot": 4, "confirmations": 0, "err": null,
        "status": {"Ok": null}, "confirmationStatus": "confirmed"}));
    let dir = tempfile::tempdir().unwrap();
    let id = dir.path().join("id.json");
    let key = wallet::generate_keypair();
    wallet::write_keypair_file(&id, &key, false).unwrap();
    let to = Pubkey([4; 32]);
    let out = run(
        &[
            "transfer",
            "--url",
            &server.url,
            "--keypair",
            path_str(&id),
            "--to",
            &to.to_string(),
            "--amount",
            "12345",
        ],
        "",
    )
    .unwrap();

    let wire = sent.lock().unwrap()[0].clone();
    let view = dataplane::txn::TxnView::new(&wire).unwrap();
    assert!(
        out.contains(&format!("Signature: {}", view.signature())),
        "{out}"
    );
    assert!(out.contains("confirmed in slot 4"), "{out}");
    assert_eq!(view.fee_payer(), wallet::pubkey_of(&key));
    assert_eq!(view.account_key(1), to);
    assert_eq!(view.recent_blockhash(), Hash([6; 32]));
    let transfers: Vec<_> = view.transfers().collect();
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0].lamports, 12345);
    let sig = ed25519_dalek::Signature::from_bytes(view.signature_bytes(0));
    key.verifying_key()
        .verify_strict(view.message(), &sig)
        .unwrap();
}

#[test]
fn a_failed_transfer_is_an_error_naming_the_reason() {
    let (server, _) = fake_node(json!({"slot": 4, "confirmations": 0,
        "err": {"InstructionError": [0, {"Custom": 1}]},
        "status": {"Err": {"InstructionError": [0, {"Custom": 1}]}}, "confirmationStatus": "processed"}));
    let dir = tempfile::tempdir().unwrap();
    let id = dir.path().join("id.json");
    wallet::write_keypair_file(&id, &wallet::generate_keypair(), false).unwrap();
    let to = Pubkey([4; 32]).to_string();
    let e = run(
        &[
            "transfer",
            "-u",
            &server.url,
            "-k",
            path_str(&id),
            "--to",
            &to,
            "--amount",
            "1",
        ],
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("failed in slot 4") && e.contains("Custom"),
        "{e}"
    );

    // --no-wait returns after sending.
    let out = run(
        &[
            "transfer",
            "-u",
            &server.url,
            "-k",
            path_str(&id),
            "--to",
            &to,
            "--amount",
            "1",
            "--no-wait",
        ],
        "",
    )
    .unwrap();
    assert!(out.starts_with("Signature: "), "{out}");
}

#[test]
fn balance_and_airdrop_report_lamports_and_tokens() {
    let (server, sent) = fake_node(json!({"slot": 9, "confirmations": null, "err": null,
        "status": {"Ok": null}, "confirmationStatus": "finalized"}));
    let who = Pubkey([5; 32]).to_string();
    let out = run(&["balance", "--url", &server.url, &who], "").unwrap();
    assert_eq!(out.trim(), "2500000000 lamports (2.5 tokens)");

    let dir = tempfile::tempdir().unwrap();
    let id = dir.path().join("id.json");
    wallet::write_keypair_file(&id, &wallet::generate_keypair(), false).unwrap();
    let out = run(
        &["balance", "--url", &server.url, "--keypair", path_str(&id)],
        "",
    )
    .unwrap();
    assert!(out.contains("2.5 tokens"), "{out}");
    assert!(parse(&["balance"]).is_err(), "needs an address or keypair");

    let out = run(&["airdrop", "--url", &server.url, &who, "1000"], "").unwrap();
    assert_eq!(sent.lock().unwrap().len(), 1);
    assert!(
        out.contains(&format!("Signature: {}", Signature([1; 64]))),
        "{out}"
    );
    assert!(out.contains("finalized in slot 9"), "{out}");
    assert!(out.contains("Balance: 2500000000 lamports"), "{out}");
}

#[test]
fn an_unknown_address_is_named_in_the_error() {
    let e = format!("{:#}", resolve_pubkey("not-a-key").unwrap_err());
    assert!(e.contains("not-a-key") && e.contains("base58"), "{e}");
}

#[test]
fn status_shows_slots_by_commitment_peers_tower_and_own_vote_account() {
    let me = Pubkey([7; 32]).to_string();
    let other = Pubkey([8; 32]).to_string();
    let vote = Pubkey([9; 32]).to_string();
    let (me_s, other_s, vote_s) = (me.clone(), other.clone(), vote.clone());
    let server = fake_rpc::start(move |req: &Value| {
        let id = &req["id"];
        let result = match req["method"].as_str().unwrap_or("") {
            "getIdentity" => json!({ "identity": me_s }),
            "getSlot" => match req["params"][0]["commitment"].as_str() {
                Some("processed") => json!(70),
                Some("confirmed") => json!(69),
                Some("finalized") => json!(38),
                _ => Value::Null,
            },
            "getSlotLeader" => json!(other_s),
            "getEpochInfo" => json!({"epoch": 1, "slotIndex": 6, "slotsInEpoch": 64}),
            "getClusterNodes" => json!([
                {"pubkey": me_s, "gossip": "127.0.0.1:8001", "tpu": "127.0.0.1:8003", "version": "0.1.0"},
                {"pubkey": other_s, "gossip": "127.0.0.1:9001", "tpu": null, "version": "0.1.0"},
            ]),
            "getTower" => json!({"root": 38, "votes": [[68, 2], [69, 1]], "voting": true}),
            "getVoteAccounts" => json!({
                "current": [
                    {"nodePubkey": other_s, "votePubkey": "x", "lastVote": 69, "rootSlot": 38, "epochCredits": [[1, 40, 0]]},
                    {"nodePubkey": me_s, "votePubkey": vote_s, "lastVote": 69, "rootSlot": 38, "epochCredits": [[0, 20, 0], [1, 31, 20]]},
                ],
                "delinquent": [],
            }),
            _ => return (200, json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}}).to_string()),
        };
        ok(id, result)
    });
    let out = run(&["status", "--url", &server.url], "").unwrap();

    assert!(out.contains(&format!("identity   {me}")), "{out}");
    assert!(
        out.contains("processed 70 | confirmed 69 | finalized 38"),
        "{out}"
    );
    assert!(
        out.contains(&format!("leader     {other} (slot 70)")),
        "{out}"
    );
    assert!(out.contains("epoch      1 (slot 6 of 64)"), "{out}");
    assert!(out.contains("peers      2 known"), "{out}");
    assert!(
        out.contains(&format!("{other} gossip 127.0.0.1:9001 tpu - ")),
        "{out}"
    );
    assert!(
        out.contains("tower      2 votes, root 38, newest 69 (lockout 2 slots), voting"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "vote acct  {vote} last vote 69 root 38 credits 31"
        )),
        "{out}"
    );
    assert!(
        !out.contains("credits 40"),
        "another node's account is not ours: {out}"
    );
}

#[test]
fn status_names_the_failing_call_and_the_node() {
    let server = fake_rpc::start(|req: &Value| {
        let id = &req["id"];
        match req["method"].as_str().unwrap_or("") {
            "getIdentity" => ok(id, json!({"identity": Pubkey([7; 32]).to_string()})),
            _ => (200, json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}}).to_string()),
        }
    });
    let e = format!(
        "{:#}",
        run(&["status", "--url", &server.url], "").unwrap_err()
    );
    assert!(e.contains("getSlot") && e.contains(&server.url), "{e}");
}
