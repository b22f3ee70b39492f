//! `blackbook localnet`: a local cluster with a load generator (placeholder until integration).

/// Starts the local cluster described by `args` and drives load through it.
pub fn run(args: crate::cli::LocalnetArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("not wired yet")
}
