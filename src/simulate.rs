//! `blackbook simulate`: the deterministic cluster simulator from the command line — one seed, or a
//! sweep of seeds that reports every failing one with the command that reproduces it.

use std::io::Write;

use anyhow::{bail, Context as _};
use clap::Args;
use controlplane::sim::{run, scenarios, SimConfig, SimReport};

/// `simulate` options.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Validators to simulate.
    #[arg(long, default_value_t = 10)]
    pub validators: usize,
    /// Slots to simulate.
    #[arg(long, default_value_t = 1_000)]
    pub slots: u64,
    /// The seed every choice derives from (the first one of a sweep).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run this many seeds (seed, seed + 1, …) and report the failing ones.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// The fault plan (`no-faults`, `leader-crash`, `partition-70-30`, …; see the README).
    #[arg(long, default_value = "no-faults")]
    pub scenario: String,
    /// One-way link latency range in ms, `A..B` (each link draws its own base latency).
    #[arg(long, default_value = "5..20", value_parser = parse_range)]
    pub latency_ms: (u64, u64),
    /// Percent of gossip, vote and repair messages lost.
    #[arg(long, default_value_t = 0.0)]
    pub loss_pct: f64,
    /// Turbine fanout.
    #[arg(long, default_value_t = dataplane::turbine::DEFAULT_FANOUT)]
    pub fanout: usize,
    /// Print one JSON summary (progress lines go to standard error).
    #[arg(long)]
    pub json: bool,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("expected A..B, got {s:?}"))?;
    let a: u64 = a.trim().parse().map_err(|e| format!("{a:?}: {e}"))?;
    let b: u64 = b.trim().parse().map_err(|e| format!("{b:?}: {e}"))?;
    if a > b {
        return Err(format!("range {a}..{b} is empty"));
    }
    Ok((a, b))
}

impl SimulateArgs {
    fn config(&self, seed: u64) -> anyhow::Result<SimConfig> {
        if !(0.0..=100.0).contains(&self.loss_pct) {
            bail!("--loss-pct: must be in 0..=100, got {}", self.loss_pct);
        }
        if self.validators == 0 || self.validators > 1_000 {
            bail!("--validators: must be in 1..=1000, got {}", self.validators);
        }
        let base = SimConfig {
            validators: self.validators,
            slots: self.slots,
            seed,
            latency_ms: self.latency_ms,
            loss_ppm: (self.loss_pct * 10_000.0).round() as u32,
            fanout: self.fanout.max(1),
            ..SimConfig::default()
        };
        scenarios::apply(&self.scenario, base).map_err(|e| anyhow::anyhow!("--scenario: {e}"))
    }
}

/// Runs the command, writing the summary to `out`.
pub fn run_simulate(args: &SimulateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if args.seeds <= 1 {
        let config = args.config(args.seed)?;
        let json = args.json;
        let progress: Box<dyn FnMut(&str)> = Box::new(move |line: &str| {
            if json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        });
        let report = run(config, Some(progress));
        print_report(&report, args.json, out)?;
        if let Some(why) = failure(&report) {
            bail!("{why}; reproduce with: {}", report.reproduce);
        }
        return Ok(());
    }
    let mut failures: Vec<(SimReport, String)> = Vec::new();
    let mut wall = Vec::new();
    for seed in args.seed..args.seed.saturating_add(args.seeds) {
        let report = run(args.config(seed)?, None);
        wall.push(report.wall_ms);
        let why = failure(&report);
        let verdict = if why.is_none() { "ok" } else { "FAILED" };
        writeln!(
            out,
            "seed {seed:>6}: {verdict} | root {} | skipped {} | violations {} | {} ms",
            report.root_min, report.skipped_slots, report.safety_violations, report.wall_ms
        )?;
        if let Some(why) = why {
            failures.push((report, why));
        }
    }
    writeln!(
        out,
        "{} seeds, {} failed, {} ms wall in all",
        args.seeds,
        failures.len(),
        wall.iter().sum::<u64>()
    )?;
    for (f, why) in &failures {
        writeln!(out, "  seed {}: {why}", f.seed)?;
        writeln!(out, "    reproduce: {}", f.reproduce)?;
    }
    if !failures.is_empty() {
        bail!("{} of {} seeds failed", failures.len(), args.seeds);
    }
    Ok(())
}

/// Why a run failed: a safety violation, or its scenario's expectation not shown.
fn failure(r: &SimReport) -> Option<String> {
    if r.safety_violations > 0 {
        let first = r.violations.first().map_or("", String::as_str);
        return Some(format!(
            "{} safety violations: {first}",
            r.safety_violations
        ));
    }
    scenarios::check(r)
        .err()
        .map(|e| format!("scenario {}: {e}", r.scenario))
}

fn print_report(r: &SimReport, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    if json {
        let text = serde_json::to_string_pretty(r).context("rendering the summary")?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{} validators, {} slots, seed {}, scenario {}: root {} (every honest node ≥ {}), {} skipped, \
         safety violations {}",
        r.validators,
        r.slots,
        r.seed,
        r.scenario,
        r.root_max,
        r.root_min,
        r.skipped_slots,
        r.safety_violations
    )?;
    writeln!(
        out,
        "optimistic confirmation p50 {} ms p99 {} ms after slot start; finalized lag p50 {} max {} slots",
        r.confirmation_latency_ms.p50,
        r.confirmation_latency_ms.p99,
        r.finalized_lag_slots.p50,
        r.finalized_lag_slots.max
    )?;
    writeln!(
        out,
        "per validator per slot: gossip {:.1} msgs {:.0} B | votes {:.1} msgs {:.0} B | shreds {:.1} msgs \
         {:.0} B (busiest {:.0} B) | repair {:.1} msgs",
        r.gossip.messages,
        r.gossip.bytes,
        r.votes.messages,
        r.votes.bytes,
        r.shreds.messages,
        r.shreds.bytes,
        r.shreds.bytes_max,
        r.repair.messages
    )?;
    writeln!(out, "wall {} ms, digest {}", r.wall_ms, r.digest)?;
    for v in &r.violations {
        writeln!(out, "VIOLATION: {v}")?;
    }
    if let Err(e) = scenarios::check(r) {
        writeln!(out, "SCENARIO NOT SHOWN: {e}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_ranges_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_range("25..75"), Ok((25, 75)));
        assert!(parse_range("75..25").is_err());
        assert!(parse_range("25").is_err());
    }

    #[test]
    fn a_small_sweep_reports_every_seed_and_passes() {
        let args = SimulateArgs {
            validators: 4,
            slots: 60,
            seed: 3,
            seeds: 2,
            scenario: "no-faults".into(),
            latency_ms: (5, 20),
            loss_pct: 0.0,
            fanout: 8,
            json: false,
        };
        let mut out = Vec::new();
        run_simulate(&args, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("seed      3: ok"), "{text}");
        assert!(text.contains("seed      4: ok"), "{text}");
        assert!(text.contains("2 seeds, 0 failed"), "{text}");
        let bad = SimulateArgs {
            scenario: "no-such".into(),
            ..args
        };
        let e = run_simulate(&bad, &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("unknown scenario"), "{e}");
    }
}
