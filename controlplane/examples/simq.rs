use controlplane::sim::{run, scenarios, SimConfig};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).cloned().unwrap_or("no-faults".into());
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let slots: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200);
    let seed: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
    let c = scenarios::apply(
        &name,
        SimConfig {
            validators: n,
            slots,
            seed,
            ..SimConfig::default()
        },
    )
    .unwrap();
    let r = run(c, Some(Box::new(|l: &str| eprintln!("{l}"))));
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
}
