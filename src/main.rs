//! `blackbook`: the validator binary and its command-line tools.

use blackbook::{cli, localnet, node};

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Validator(args) => args.load_config().and_then(|config| {
            init_tracing(&config.logging.level);
            node::run_validator(config)
        }),
        cli::Command::Localnet(args) => {
            init_tracing("info");
            localnet::run(args)
        }
        command => {
            init_tracing("info");
            cli::run_tool(
                command,
                &mut std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
            )
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line: "config file x: turbine.fanout: …".
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error; `RUST_LOG` wins over `default_filter` (the config's `logging.level`).
fn init_tracing(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: validators started by localnet or systemd log to files.
    tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
