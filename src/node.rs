//! The validator node: wires the data plane and the control plane (placeholder until integration).

/// Runs a validator with `config` until it is stopped.
pub fn run_validator(config: crate::config::Config) -> anyhow::Result<()> {
    let _ = config;
    anyhow::bail!("not wired yet")
}
