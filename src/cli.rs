//! The `blackbook` command line: argument definitions and the client-side commands
//! (keys, genesis, transfers, balances, airdrops). The node and localnet live in their own modules.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use dataplane::genesis::{self, Genesis, GenesisAccount, GenesisValidator};
use dataplane::types::{Pubkey, LAMPORTS_PER_TOKEN};

use crate::config::{Config, ConfigError};
use crate::rpc_client::{Commitment, RpcClient, DEFAULT_RPC_URL};
use crate::wallet;
use crate::wallet::slip10::{DerivationPath, SOLANA_DERIVATION_PATH};

/// Stake given to a `--validator` listed without one: 1 token.
pub const DEFAULT_VALIDATOR_STAKE_LAMPORTS: u64 = LAMPORTS_PER_TOKEN;
/// How long `transfer` and `airdrop` wait for confirmation.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// BlackBook: a permissioned Solana-compatible validator (PoH, Sealevel, Turbine, Tower BFT).
#[derive(Debug, Parser)]
#[command(name = "blackbook", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a keypair file (Solana's format), or show or recover one.
    Keygen(KeygenArgs),
    /// Print the public key (address) of a keypair file.
    Address(AddressArgs),
    /// Write a genesis file: validators, funded accounts and timing.
    Genesis(GenesisArgs),
    /// Run a validator node.
    Validator(ValidatorArgs),
    /// Run a local cluster with a load generator and report throughput and latency.
    Localnet(LocalnetArgs),
    /// Send lamports from a keypair to an address, through a node's RPC.
    Transfer(TransferArgs),
    /// Show an account's balance.
    Balance(BalanceArgs),
    /// Ask a node's faucet for lamports.
    Airdrop(AirdropArgs),
    /// Show one node's view of the cluster: slots, leader, peers, tower.
    Status(StatusArgs),
    /// Run the deterministic cluster simulator (many validators, faults, one seed).
    Simulate(crate::simulate::SimulateArgs),
}

/// `status --url URL`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The node.
    #[command(flatten)]
    pub url: UrlArg,
}

/// `keygen`: new keypair by default; `keygen pubkey PATH` or `keygen recover` otherwise.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct KeygenArgs {
    /// Another keygen action instead of creating a keypair.
    #[command(subcommand)]
    pub action: Option<KeygenAction>,
    /// Options for a new keypair.
    #[command(flatten)]
    pub new: KeygenNewArgs,
}

/// Options for writing a keypair file.
#[derive(Debug, Args)]
pub struct KeygenNewArgs {
    /// Keypair file to write.
    #[arg(long, short = 'o', default_value = "identity.json")]
    pub outfile: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Do not derive the key from a printed seed phrase (it then cannot be recovered).
    #[arg(long, conflicts_with = "derivation_path")]
    pub no_mnemonic: bool,
    /// How the seed phrase derives the key.
    #[command(flatten)]
    pub derivation: DerivationArg,
}

/// `--derivation-path [PATH]`, as `solana-keygen` has it.
#[derive(Debug, Args)]
pub struct DerivationArg {
    /// Derive the key by SLIP-0010 at this path (every component hardened, as in
    /// m/44'/501'/0'/0'); the flag alone means that path, Phantom's and Solflare's. Without the
    /// flag the key is the BIP39 seed's first 32 bytes, as `solana-keygen` derives by default.
    #[arg(
        long = "derivation-path",
        value_name = "PATH",
        num_args = 0..=1,
        default_missing_value = SOLANA_DERIVATION_PATH
    )]
    pub derivation_path: Option<DerivationPath>,
}

/// Keygen actions other than creating a keypair.
#[derive(Debug, Subcommand)]
pub enum KeygenAction {
    /// Print the public key of a keypair file.
    Pubkey {
        /// Keypair file.
        path: PathBuf,
    },
    /// Rebuild a keypair file from its seed phrase, read from standard input.
    Recover {
        /// Keypair file to write.
        #[arg(long, short = 'o', default_value = "identity.json")]
        outfile: PathBuf,
        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,
        /// How the phrase derives the key.
        #[command(flatten)]
        derivation: DerivationArg,
    },
}

/// `address --keypair PATH`.
#[derive(Debug, Args)]
pub struct AddressArgs {
    /// Keypair file.
    #[arg(long, short = 'k')]
    pub keypair: PathBuf,
}

/// `genesis`: the cluster's first state and timing rules.
#[derive(Debug, Args)]
pub struct GenesisArgs {
    /// A validator: base58 public key or keypair file, with an optional stake in lamports
    /// (`KEY:STAKE`, default 1 token). Repeat for several.
    #[arg(long = "validator", value_name = "KEY[:STAKE]", required = true)]
    pub validators: Vec<String>,
    /// A funded account: `KEY:LAMPORTS`, KEY a base58 public key or keypair file. Repeatable.
    #[arg(long = "account", value_name = "KEY:LAMPORTS")]
    pub accounts: Vec<String>,
    /// PoH hashes per tick (production 62,500; small values let several nodes share a machine).
    #[arg(long, default_value_t = genesis::DEFAULT_HASHES_PER_TICK)]
    pub hashes_per_tick: u64,
    /// PoH ticks per slot.
    #[arg(long, default_value_t = genesis::DEFAULT_TICKS_PER_SLOT)]
    pub ticks_per_slot: u64,
    /// Target slot duration in milliseconds.
    #[arg(long, default_value_t = genesis::DEFAULT_SLOT_DURATION_MS)]
    pub slot_ms: u64,
    /// Slots per epoch.
    #[arg(long, default_value_t = genesis::DEFAULT_SLOTS_PER_EPOCH)]
    pub slots_per_epoch: u64,
    /// Fee per transaction signature, in lamports.
    #[arg(long, default_value_t = genesis::DEFAULT_LAMPORTS_PER_SIGNATURE)]
    pub lamports_per_signature: u64,
    /// Cluster name (part of the genesis hash).
    #[arg(long, default_value = "blackbook")]
    pub cluster_name: String,
    /// Genesis file to write.
    #[arg(long, default_value = "genesis.json")]
    pub out: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `validator`: the config file, with flags that override it.
#[derive(Debug, Args, Default)]
pub struct ValidatorArgs {
    /// Config file (`blackbook.toml`); every field defaults when absent.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Ledger directory (overrides storage.data_dir).
    #[arg(long)]
    pub ledger: Option<PathBuf>,
    /// Identity keypair file (overrides consensus.identity_keypair).
    #[arg(long)]
    pub identity: Option<PathBuf>,
    /// Genesis file (overrides consensus.genesis).
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// JSON-RPC listen address (overrides rpc.addr).
    #[arg(long)]
    pub rpc_addr: Option<SocketAddr>,
    /// Transaction (TPU) UDP address (overrides network.tpu_addr).
    #[arg(long)]
    pub tpu_addr: Option<SocketAddr>,
    /// Gossip address (overrides network.listen_addr).
    #[arg(long)]
    pub gossip_addr: Option<SocketAddr>,
    /// Faucet keypair for requestAirdrop (overrides rpc.faucet_keypair).
    #[arg(long)]
    pub faucet_keypair: Option<PathBuf>,
}

impl ValidatorArgs {
    /// The config file (or defaults) with the flags applied, validated.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(|e| match e {
                // Range errors name only the field; the others already name the file.
                ConfigError::Invalid { .. } => {
                    anyhow::Error::from(e).context(format!("config file {}", path.display()))
                }
                other => other.into(),
            })?,
            None => Config::default(),
        };
        let set = |target: &mut PathBuf, flag: &Option<PathBuf>| {
            if let Some(v) = flag {
                *target = v.clone();
            }
        };
        set(&mut config.storage.data_dir, &self.ledger);
        set(&mut config.consensus.identity_keypair, &self.identity);
        set(&mut config.consensus.genesis, &self.genesis);
        if let Some(addr) = self.rpc_addr {
            config.rpc.addr = addr;
        }
        if let Some(addr) = self.tpu_addr {
            config.network.tpu_addr = addr;
        }
        if let Some(addr) = self.gossip_addr {
            config.network.listen_addr = addr;
        }
        if let Some(p) = &self.faucet_keypair {
            config.rpc.faucet_keypair = Some(p.clone());
        }
        config.validate().context("invalid configuration")?;
        Ok(config)
    }
}

/// `localnet`: a local cluster of child-process validators driven by the built-in load generator.
#[derive(Debug, Clone, Args)]
pub struct LocalnetArgs {
    /// Validators to start, each a child process with its own ports and data directory.
    #[arg(long, default_value_t = 1, value_parser = parse_count::<1, 64>)]
    pub validators: usize,
    /// Transactions per second to offer; default: as fast as the node confirms.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub tps: Option<u64>,
    /// Stop after this long (`30s`, `5m`); default: run until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// End with one JSON summary object on standard output.
    #[arg(long)]
    pub json: bool,
    /// Directory for genesis, keys and ledgers; default: a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Keep the temporary data directory at exit.
    #[arg(long)]
    pub keep: bool,
    /// PoH hashes per tick for the local genesis.
    #[arg(long, default_value_t = genesis::LOCALNET_HASHES_PER_TICK)]
    pub hashes_per_tick: u64,
    /// Slot duration in milliseconds for the local genesis.
    #[arg(long, default_value_t = genesis::DEFAULT_SLOT_DURATION_MS)]
    pub slot_ms: u64,
    /// Funded accounts the load generator sends between.
    #[arg(long, default_value_t = 1024, value_parser = parse_count::<2, 1_000_000>)]
    pub accounts: usize,
    /// First port; each validator takes a small block of ports above it.
    #[arg(long, default_value_t = 18000, value_parser = clap::value_parser!(u16).range(1024..))]
    pub base_port: u16,
    /// Start the last validator this long after the others (`10s`): it catches up through repair.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub late_start: Option<Duration>,
    /// SIGKILL the validator that leads at this moment (`10s`; never validator 0, which serves
    /// the load generator).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub kill_leader_at: Option<Duration>,
    /// How long a killed validator stays down before it is restarted.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub restart_after: Duration,
    /// Delete the killed validator's tower file before restarting it.
    #[arg(long)]
    pub lose_tower: bool,
    /// Each validator's `storage.limit_ledger_slots`: rooted slots kept below the root (unset,
    /// everything is kept).
    #[arg(long, value_parser = clap::value_parser!(u64).range(crate::config::LIMIT_LEDGER_SLOTS_MIN..))]
    pub limit_ledger_slots: Option<u64>,
}

/// A count in `MIN..=MAX`, for arguments whose range clap cannot express for `usize`.
fn parse_count<const MIN: usize, const MAX: usize>(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (MIN..=MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number in {MIN}..={MAX}, got {text:?}"
        )),
    }
}

/// The node to talk to.
#[derive(Debug, Args)]
pub struct UrlArg {
    /// JSON-RPC URL of a node.
    #[arg(long, short = 'u', default_value = DEFAULT_RPC_URL)]
    pub url: String,
}

/// `transfer`.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The node.
    #[command(flatten)]
    pub url: UrlArg,
    /// Keypair file of the sender (also pays the fee).
    #[arg(long, short = 'k')]
    pub keypair: PathBuf,
    /// Recipient: base58 public key or keypair file.
    #[arg(long)]
    pub to: String,
    /// Lamports to send.
    #[arg(long)]
    pub amount: u64,
    /// Print the signature and return without waiting for confirmation.
    #[arg(long)]
    pub no_wait: bool,
}

/// `balance`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["address", "keypair"])))]
pub struct BalanceArgs {
    /// The node.
    #[command(flatten)]
    pub url: UrlArg,
    /// Account: base58 public key or keypair file.
    pub address: Option<String>,
    /// Account given by its keypair file.
    #[arg(long, short = 'k')]
    pub keypair: Option<PathBuf>,
}

/// `airdrop`.
#[derive(Debug, Args)]
pub struct AirdropArgs {
    /// The node.
    #[command(flatten)]
    pub url: UrlArg,
    /// Recipient: base58 public key or keypair file.
    pub address: String,
    /// Lamports to request.
    pub lamports: u64,
    /// Print the signature and return without waiting for confirmation.
    #[arg(long)]
    pub no_wait: bool,
}

/// Runs a client-side command (everything but `validator` and `localnet`).
pub fn run_tool(
    command: Command,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        Command::Keygen(args) => keygen(args, input, out),
        Command::Address(args) => {
            let key = wallet::read_pubkey_file(&args.keypair)?;
            writeln!(out, "{key}")?;
            Ok(())
        }
        Command::Genesis(args) => write_genesis(args, out),
        Command::Transfer(args) => transfer(args, out),
        Command::Balance(args) => balance(args, out),
        Command::Airdrop(args) => airdrop(args, out),
        Command::Status(args) => status(args, out),
        Command::Simulate(args) => crate::simulate::run_simulate(&args, out),
        Command::Validator(_) | Command::Localnet(_) => bail!("not a client command"),
    }
}

/// `status`: one node's view, from its RPC.
fn status(args: StatusArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    use serde_json::{json, Value};
    let client = RpcClient::new(args.url.url.clone());
    let call = |method: &str, params: Value| -> anyhow::Result<Value> {
        client
            .call(method, params)
            .with_context(|| format!("{method} from {}", client.url()))
    };
    let identity = call("getIdentity", json!([]))?;
    let mut slots = Vec::new();
    for c in ["processed", "confirmed", "finalized"] {
        slots.push(call("getSlot", json!([{ "commitment": c }]))?);
    }
    let leader = call("getSlotLeader", json!([{ "commitment": "processed" }]))?;
    let epoch = call("getEpochInfo", json!([{ "commitment": "processed" }]))?;
    let nodes = call("getClusterNodes", json!([]))?;
    let tower = call("getTower", json!([]))?;
    let votes = call("getVoteAccounts", json!([{ "commitment": "processed" }]))?;
    let me = identity["identity"].as_str().unwrap_or_default().to_owned();
    writeln!(out, "identity   {me}")?;
    writeln!(
        out,
        "slots      processed {} | confirmed {} | finalized {}",
        slots[0], slots[1], slots[2]
    )?;
    writeln!(
        out,
        "leader     {} (slot {})",
        leader.as_str().unwrap_or("?"),
        slots[0]
    )?;
    writeln!(
        out,
        "epoch      {} (slot {} of {})",
        epoch["epoch"], epoch["slotIndex"], epoch["slotsInEpoch"]
    )?;
    let peers = nodes.as_array().cloned().unwrap_or_default();
    writeln!(out, "peers      {} known", peers.len())?;
    for p in &peers {
        writeln!(
            out,
            "  {} gossip {} tpu {} version {}",
            p["pubkey"].as_str().unwrap_or("?"),
            p["gossip"].as_str().unwrap_or("-"),
            p["tpu"].as_str().unwrap_or("-"),
            p["version"].as_str().unwrap_or("?")
        )?;
    }
    let tower_votes = tower["votes"].as_array().cloned().unwrap_or_default();
    let newest = tower_votes.last().map_or("none".to_owned(), |v| {
        format!(
            "{} (lockout {} slots)",
            v[0],
            1u64 << v[1].as_u64().unwrap_or(1).min(63)
        )
    });
    writeln!(
        out,
        "tower      {} votes, root {}, newest {}, {}",
        tower_votes.len(),
        tower["root"],
        newest,
        if tower["voting"].as_bool() == Some(true) {
            "voting"
        } else {
            "not voting"
        }
    )?;
    let all = votes["current"]
        .as_array()
        .into_iter()
        .chain(votes["delinquent"].as_array())
        .flatten();
    for v in all {
        if v["nodePubkey"].as_str() == Some(me.as_str()) {
            writeln!(
                out,
                "vote acct  {} last vote {} root {} credits {}",
                v["votePubkey"].as_str().unwrap_or("?"),
                v["lastVote"],
                v["rootSlot"],
                v["epochCredits"]
                    .as_array()
                    .and_then(|c| c.last())
                    .map_or(Value::Null, |c| c[1].clone())
            )?;
        }
    }
    Ok(())
}

fn keygen(args: KeygenArgs, input: &mut dyn BufRead, out: &mut dyn Write) -> anyhow::Result<()> {
    const RULE: &str = "========================================================================";
    match args.action {
        Some(KeygenAction::Pubkey { path }) => {
            writeln!(out, "{}", wallet::read_pubkey_file(&path)?)?;
        }
        Some(KeygenAction::Recover {
            outfile,
            force,
            derivation,
        }) => {
            let mut phrase = String::new();
            // One line is enough for 24 words; bound the read against a stray binary stream.
            std::io::Read::take(input, 4096).read_line(&mut phrase)?;
            let path = derivation.derivation_path.as_ref();
            let key = wallet::keypair_from_phrase(phrase.trim(), "", path)?;
            wallet::write_keypair_file(&outfile, &key, force)?;
            writeln!(out, "Wrote recovered keypair to {}", outfile.display())?;
            writeln!(out, "pubkey: {}", wallet::pubkey_of(&key))?;
        }
        None => {
            let new = args.new;
            let path = new.derivation.derivation_path.as_ref();
            let (key, mnemonic) = if new.no_mnemonic {
                (wallet::generate_keypair(), None)
            } else {
                let m = wallet::generate_mnemonic();
                (wallet::keypair_from_mnemonic(&m, "", path), Some(m))
            };
            wallet::write_keypair_file(&new.outfile, &key, new.force)?;
            writeln!(out, "Wrote new keypair to {}", new.outfile.display())?;
            writeln!(out, "{RULE}\npubkey: {}\n{RULE}", wallet::pubkey_of(&key))?;
            match (mnemonic, path) {
                (None, _) => {}
                (Some(m), None) => writeln!(
                    out,
                    "Save this seed phrase to recover your keypair (no passphrase; \
                     `blackbook keygen recover` or `solana-keygen recover` rebuild it):\n{m}\n{RULE}"
                )?,
                (Some(m), Some(path)) => writeln!(
                    out,
                    "Save this seed phrase to recover your keypair (no passphrase, derivation path \
                     {path}; `blackbook keygen recover --derivation-path \"{path}\"`, \
                     `solana-keygen recover \"prompt://?full-path={path}\"` or a wallet using \
                     that path rebuild it):\n{m}\n{RULE}"
                )?,
            }
        }
    }
    Ok(())
}

fn write_genesis(args: GenesisArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut validators = Vec::with_capacity(args.validators.len());
    for spec in &args.validators {
        let (key, stake) = match split_amount(spec) {
            Some((key, stake)) => (key, parse_lamports(stake, "stake", spec)?),
            None => (spec.as_str(), DEFAULT_VALIDATOR_STAKE_LAMPORTS),
        };
        let identity = resolve_pubkey(key).with_context(|| format!("--validator {spec}"))?;
        if validators
            .iter()
            .any(|v: &GenesisValidator| v.identity == identity)
        {
            bail!("--validator {spec}: validator {identity} is listed twice");
        }
        validators.push(GenesisValidator { identity, stake });
    }
    let mut accounts = Vec::with_capacity(args.accounts.len());
    for spec in &args.accounts {
        let Some((key, lamports)) = split_amount(spec) else {
            bail!("--account {spec}: expected KEY:LAMPORTS, as in 9xQe…:1000000000");
        };
        accounts.push(GenesisAccount {
            pubkey: resolve_pubkey(key).with_context(|| format!("--account {spec}"))?,
            lamports: parse_lamports(lamports, "lamports", spec)?,
        });
    }
    let creation_time_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock is before 1970")?
        .as_millis()
        .try_into()
        .context("system clock is past the year 500 million")?;
    let genesis = Genesis {
        cluster_name: args.cluster_name,
        creation_time_unix_ms,
        ticks_per_slot: args.ticks_per_slot,
        hashes_per_tick: args.hashes_per_tick,
        slot_duration_ms: args.slot_ms,
        lamports_per_signature: args.lamports_per_signature,
        slots_per_epoch: args.slots_per_epoch,
        validators,
        accounts,
    };
    genesis.validate()?;
    if args.out.exists() && !args.force {
        bail!(
            "genesis file {} already exists; pass --force to overwrite it",
            args.out.display()
        );
    }
    genesis.save(&args.out)?;
    let supply = genesis.total_supply().unwrap_or(0);
    eprintln!(
        "Wrote {}: {} validator(s), {} account(s), supply {} lamports, {} hashes/s required",
        args.out.display(),
        genesis.validators.len(),
        genesis.accounts.len(),
        supply,
        genesis.required_hashes_per_second()
    );
    writeln!(out, "{}", genesis.hash())?;
    Ok(())
}

/// Splits `KEY:AMOUNT` when the part after the last colon is a number.
fn split_amount(spec: &str) -> Option<(&str, &str)> {
    let (key, amount) = spec.rsplit_once(':')?;
    let is_number = !amount.is_empty() && amount.chars().all(|c| c.is_ascii_digit() || c == '_');
    is_number.then_some((key, amount))
}

/// A lamport amount; `_` may group digits (`1_000_000_000`).
fn parse_lamports(text: &str, what: &str, spec: &str) -> anyhow::Result<u64> {
    text.replace('_', "")
        .parse()
        .with_context(|| format!("{spec}: {what} {text:?} is not a lamport amount (0..=2^64-1)"))
}

/// A public key given as base58 text or as the path of a keypair file.
pub fn resolve_pubkey(text: &str) -> anyhow::Result<Pubkey> {
    match text.parse::<Pubkey>() {
        Ok(key) => Ok(key),
        Err(base58_error) => {
            let path = Path::new(text);
            if path.exists() {
                Ok(wallet::read_pubkey_file(path)?)
            } else {
                bail!("{text:?} is neither a base58 public key ({base58_error}) nor a keypair file")
            }
        }
    }
}

/// `1500000000` lamports as `1.5` tokens.
pub fn format_tokens(lamports: u64) -> String {
    let whole = lamports / LAMPORTS_PER_TOKEN;
    let frac = lamports % LAMPORTS_PER_TOKEN;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn transfer(args: TransferArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let key = wallet::read_keypair_file(&args.keypair)?;
    let to = resolve_pubkey(&args.to).context("--to")?;
    let client = RpcClient::new(&args.url.url);
    let (blockhash, last_valid) = client.get_latest_blockhash()?;
    let wire = dataplane::txn::build_transfer(&key, &to, args.amount, &blockhash);
    let signature = client.send_transaction(&wire)?;
    writeln!(out, "Signature: {signature}")?;
    if args.no_wait {
        return Ok(());
    }
    report_confirmation(&client, &signature, Some(last_valid), out)
}

fn balance(args: BalanceArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let key = match (&args.address, &args.keypair) {
        (Some(text), _) => resolve_pubkey(text)?,
        (None, Some(path)) => wallet::read_pubkey_file(path)?,
        (None, None) => bail!("give an address or --keypair"),
    };
    let lamports = RpcClient::new(&args.url.url).get_balance(&key)?;
    writeln!(
        out,
        "{lamports} lamports ({} tokens)",
        format_tokens(lamports)
    )?;
    Ok(())
}

fn airdrop(args: AirdropArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let to = resolve_pubkey(&args.address)?;
    let client = RpcClient::new(&args.url.url);
    let signature = client.request_airdrop(&to, args.lamports)?;
    writeln!(out, "Signature: {signature}")?;
    if args.no_wait {
        return Ok(());
    }
    report_confirmation(&client, &signature, None, out)?;
    let lamports = client.get_balance(&to)?;
    writeln!(
        out,
        "Balance: {lamports} lamports ({} tokens)",
        format_tokens(lamports)
    )?;
    Ok(())
}

/// Waits for `signature` to be confirmed and prints the outcome; a failed or lost one is an error.
fn report_confirmation(
    client: &RpcClient,
    signature: &dataplane::types::Signature,
    last_valid_block_height: Option<u64>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let status = client.wait_for_signature(
        signature,
        Commitment::Confirmed,
        CONFIRM_TIMEOUT,
        last_valid_block_height,
    )?;
    match status {
        Some(s) => match s.err {
            None => {
                let level = s.confirmation_status.as_deref().unwrap_or("confirmed");
                writeln!(out, "Result: {level} in slot {}", s.slot)?;
                Ok(())
            }
            Some(err) => bail!("transaction {signature} failed in slot {}: {err}", s.slot),
        },
        None => bail!(
            "transaction {signature} was not confirmed within {}s{}",
            CONFIRM_TIMEOUT.as_secs(),
            if last_valid_block_height.is_some() {
                " or before its blockhash expired"
            } else {
                ""
            }
        ),
    }
}

#[cfg(test)]
mod tests;
