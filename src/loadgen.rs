//! The load generator: signs System Program transfers and sends them over UDP to a leader's TPU port,
//! then watches confirmed blocks to measure how many land and how long they take.
//!
//! Confirmation is tracked from blocks (`getBlock` with `transactionDetails: "signatures"`), not by
//! polling each signature, so the cost of watching stays a few RPC calls per slot at any rate.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dataplane::packet::send_mmsg;
use dataplane::txn::build_transfer;
use dataplane::types::{Hash, Pubkey, Signature, Slot};
use ed25519_dalek::SigningKey;
use hdrhistogram::Histogram;
use serde_json::json;

use crate::replication::Schedules;
use crate::rpc_client::RpcClient;
use controlplane::slot_clock::SlotClock;
use dataplane::genesis::Genesis;

/// Transfers signed and sent per UDP batch (one `sendmmsg` call).
const SEND_BATCH: usize = 64;
/// Smallest number of unconfirmed transfers the closed loop keeps in flight.
const IN_FLIGHT_MIN: u64 = 2_048;
/// A transfer not confirmed after this long is counted as dropped (its blockhash has expired by then).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);
/// Seed that makes the load accounts reproducible, so localnet's genesis can fund them.
const ACCOUNT_SEED: &[u8] = b"blackbook-localnet-load-account";

/// The `i`-th load account's key: derived, so genesis and the generator agree without files.
pub fn load_account(i: u64) -> SigningKey {
    SigningKey::from_bytes(&Hash::hashv(&[ACCOUNT_SEED, &i.to_le_bytes()]).0)
}

/// What to send, where, and how fast.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Where transfers go: the current leader's transaction (TPU) UDP address.
    pub tpu: TpuTargets,
    /// The leader's RPC URL (blockhashes and confirmations).
    pub rpc_url: String,
    /// Number of load accounts (from [`load_account`]).
    pub accounts: u64,
    /// Open-loop rate in transactions per second; `None` keeps the node just saturated (closed loop).
    pub tps: Option<u64>,
    /// Signing threads.
    pub signer_threads: usize,
}

/// The validators' TPU addresses and, for a cluster, the leader schedule that says which is leading.
#[derive(Clone)]
pub struct TpuTargets {
    addrs: Vec<(Pubkey, SocketAddr)>,
    schedule: Option<(SlotClock, Arc<Schedules>)>,
}

impl std::fmt::Debug for TpuTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpuTargets")
            .field("addrs", &self.addrs)
            .field("scheduled", &self.schedule.is_some())
            .finish()
    }
}

/// Transfers sent this close to a leader hand-over also go to the next leader.
const HANDOVER_LOOKAHEAD_MS: u64 = 100;

impl TpuTargets {
    /// One validator that leads every slot.
    pub fn single(addr: SocketAddr) -> TpuTargets {
        TpuTargets {
            addrs: vec![(Pubkey::default(), addr)],
            schedule: None,
        }
    }

    /// A cluster: send to whoever the schedule says leads now (and, near a hand-over, next).
    pub fn cluster(genesis: &Genesis, addrs: Vec<(Pubkey, SocketAddr)>) -> TpuTargets {
        TpuTargets {
            addrs,
            schedule: Some((SlotClock::new(genesis), Arc::new(Schedules::new(genesis)))),
        }
    }

    /// Addresses to send to now.
    pub fn current(&self) -> Vec<SocketAddr> {
        let Some((clock, schedules)) = &self.schedule else {
            return self.addrs.iter().map(|(_, a)| *a).collect();
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut leaders = vec![schedules.leader(clock.slot_at(now))];
        let next = schedules.leader(clock.slot_at(now + HANDOVER_LOOKAHEAD_MS));
        if next != leaders[0] {
            leaders.push(next);
        }
        self.addrs
            .iter()
            .filter(|(k, _)| leaders.contains(&Some(*k)))
            .map(|(_, a)| *a)
            .collect()
    }
}

/// Counters and the latency histogram, shared between the generator's threads and the reporter.
#[derive(Debug)]
pub struct LoadStats {
    /// Transfers sent.
    pub submitted: AtomicU64,
    /// Transfers seen in confirmed blocks.
    pub confirmed: AtomicU64,
    /// Transfers given up on after [`CONFIRM_TIMEOUT`].
    pub expired: AtomicU64,
    /// Newest confirmed slot seen.
    pub confirmed_slot: AtomicU64,
    /// Send-to-confirmed-block latency, microseconds.
    pub latency_us: Mutex<Histogram<u64>>,
}

impl LoadStats {
    fn new() -> LoadStats {
        LoadStats {
            submitted: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            confirmed_slot: AtomicU64::new(0),
            latency_us: Mutex::new(
                Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds"),
            ),
        }
    }

    /// Latency percentile in milliseconds (0 when nothing is confirmed yet).
    pub fn latency_ms(&self, percentile: f64) -> f64 {
        let h = self.latency_us.lock().unwrap_or_else(|e| e.into_inner());
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(percentile / 100.0) as f64 / 1000.0
        }
    }
}

/// A running load generator; dropping it without [`LoadGenerator::stop`] leaves threads running.
pub struct LoadGenerator {
    stats: Arc<LoadStats>,
    exit: Arc<AtomicBool>,
    sending: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    config: LoadConfig,
    stats: Arc<LoadStats>,
    exit: Arc<AtomicBool>,
    sending: Arc<AtomicBool>,
    blockhash: Mutex<Hash>,
    outstanding: Mutex<HashMap<Signature, Instant>>,
    started: Instant,
}

impl LoadGenerator {
    /// Fetches a blockhash and starts the signer, blockhash and confirmation threads.
    pub fn start(config: LoadConfig) -> anyhow::Result<LoadGenerator> {
        anyhow::ensure!(
            config.accounts >= 2,
            "the load generator needs at least 2 accounts"
        );
        let rpc = RpcClient::new(&config.rpc_url);
        let (blockhash, _) = rpc.get_latest_blockhash()?;
        let start_slot = rpc.get_slot()?;
        let stats = Arc::new(LoadStats::new());
        stats.confirmed_slot.store(start_slot, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            stats: stats.clone(),
            exit: Arc::new(AtomicBool::new(false)),
            sending: Arc::new(AtomicBool::new(true)),
            blockhash: Mutex::new(blockhash),
            outstanding: Mutex::new(HashMap::new()),
            started: Instant::now(),
            config,
        });
        let mut threads = Vec::new();
        let signers = shared.config.signer_threads.max(1);
        for t in 0..signers {
            let s = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("bbLoadSign{t}"))
                    .spawn(move || sign_loop(&s, t, signers))?,
            );
        }
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("bbLoadHash".into())
                .spawn(move || blockhash_loop(&s))?,
        );
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("bbLoadConfirm".into())
                .spawn(move || confirm_loop(&s, Slot(start_slot)))?,
        );
        Ok(LoadGenerator {
            stats,
            exit: shared.exit.clone(),
            sending: shared.sending.clone(),
            threads,
        })
    }

    /// The live counters.
    pub fn stats(&self) -> &Arc<LoadStats> {
        &self.stats
    }

    /// Stops sending but keeps watching blocks so in-flight transfers can still confirm.
    pub fn stop_sending(&self) {
        self.sending.store(false, Ordering::Relaxed);
    }

    /// Stops every thread and waits for them.
    pub fn stop(self) -> Arc<LoadStats> {
        self.sending.store(false, Ordering::Relaxed);
        self.exit.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        self.stats
    }
}

fn sign_loop(s: &Shared, thread: usize, threads: usize) {
    let socket = match UdpSocket::bind("127.0.0.1:0") {
        Ok(sock) => sock,
        Err(e) => {
            tracing::error!("load generator cannot bind a UDP socket: {e}");
            return;
        }
    };
    // Each thread signs for its own slice of accounts so two threads never reuse a (from, counter) pair.
    let keys: Vec<(SigningKey, Pubkey)> = (0..s.config.accounts)
        .filter(|i| *i as usize % threads == thread)
        .map(|i| {
            let k = load_account(i);
            let p = Pubkey(k.verifying_key().to_bytes());
            (k, p)
        })
        .collect();
    if keys.is_empty() {
        return;
    }
    let all: Vec<Pubkey> = (0..s.config.accounts)
        .map(|i| Pubkey(load_account(i).verifying_key().to_bytes()))
        .collect();
    let per_thread_tps = s.config.tps.map(|t| (t as f64 / threads as f64).max(1.0));
    let mut sent_here = 0u64;
    let mut counter = 0u64;
    let t0 = Instant::now();
    let mut wires: Vec<Vec<u8>> = Vec::with_capacity(SEND_BATCH);
    let mut sigs: Vec<Signature> = Vec::with_capacity(SEND_BATCH);
    while s.sending.load(Ordering::Relaxed) && !s.exit.load(Ordering::Relaxed) {
        if let Some(rate) = per_thread_tps {
            let due = (t0.elapsed().as_secs_f64() * rate) as u64;
            if sent_here >= due {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
        } else {
            let in_flight = s.outstanding.lock().map(|o| o.len() as u64).unwrap_or(0);
            if in_flight >= in_flight_cap(s) {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
        }
        let blockhash = *s.blockhash.lock().unwrap_or_else(|e| e.into_inner());
        wires.clear();
        sigs.clear();
        for _ in 0..SEND_BATCH {
            let (key, from) = &keys[(counter as usize) % keys.len()];
            let round = counter / keys.len() as u64;
            // Walk recipients and amounts so every message (and so every signature) is new.
            let mut to = all[((round as usize) + 1 + thread) % all.len()];
            if to == *from {
                to = all[(round as usize + 2 + thread) % all.len()];
            }
            let lamports = 1 + round % 1_000;
            counter += 1;
            let wire = build_transfer(key, &to, lamports, &blockhash);
            sigs.push(Signature(
                wire[1..65]
                    .try_into()
                    .expect("signature follows the 1-byte count"),
            ));
            wires.push(wire);
        }
        let now = Instant::now();
        if let Ok(mut o) = s.outstanding.lock() {
            for sig in &sigs {
                o.insert(*sig, now);
            }
        }
        let targets = s.config.tpu.current();
        let batch: Vec<(&[u8], SocketAddr)> = wires
            .iter()
            .flat_map(|w| targets.iter().map(move |a| (w.as_slice(), *a)))
            .collect();
        if let Err(e) = send_mmsg(&socket, &batch) {
            tracing::warn!("load generator send failed: {e}");
        }
        sent_here += wires.len() as u64;
        s.stats
            .submitted
            .fetch_add(wires.len() as u64, Ordering::Relaxed);
    }
}

/// The closed loop's window (Little's law): the confirmed rate so far times the median confirmation
/// latency plus two seconds of headroom, never below the floor. A cluster that confirms only after
/// several slots needs that many transfers in flight to stay busy.
fn in_flight_cap(s: &Shared) -> u64 {
    let secs = s.started.elapsed().as_secs_f64().max(1.0);
    let rate = s.stats.confirmed.load(Ordering::Relaxed) as f64 / secs;
    let latency_s = s.stats.latency_ms(50.0) / 1000.0;
    IN_FLIGHT_MIN.max((rate * (latency_s + 2.0)) as u64)
}

fn blockhash_loop(s: &Shared) {
    let rpc = RpcClient::new(&s.config.rpc_url);
    while !s.exit.load(Ordering::Relaxed) {
        match rpc.get_latest_blockhash() {
            Ok((h, _)) => *s.blockhash.lock().unwrap_or_else(|e| e.into_inner()) = h,
            Err(e) => tracing::debug!("load generator: getLatestBlockhash failed: {e}"),
        }
        sleep_unless_exit(&s.exit, Duration::from_millis(400));
    }
}

fn confirm_loop(s: &Shared, start: Slot) {
    let rpc = RpcClient::new(&s.config.rpc_url);
    let mut next = start.0 + 1;
    while !s.exit.load(Ordering::Relaxed) {
        let tip = match rpc.call("getSlot", json!([{"commitment": "confirmed"}])) {
            Ok(v) => v.as_u64().unwrap_or(0),
            Err(e) => {
                tracing::debug!("load generator: getSlot failed: {e}");
                0
            }
        };
        while next <= tip && !s.exit.load(Ordering::Relaxed) {
            let params = json!([next, {"transactionDetails": "signatures", "rewards": false,
                "commitment": "confirmed", "maxSupportedTransactionVersion": 0}]);
            match rpc.call("getBlock", params) {
                Ok(block) => {
                    let seen = Instant::now();
                    let sigs = block["signatures"].as_array().cloned().unwrap_or_default();
                    let mut landed = Vec::new();
                    if let Ok(mut o) = s.outstanding.lock() {
                        for sig in sigs.iter().filter_map(|v| v.as_str()) {
                            if let Ok(sig) = sig.parse::<Signature>() {
                                if let Some(sent) = o.remove(&sig) {
                                    landed.push(seen.duration_since(sent));
                                }
                            }
                        }
                    }
                    if let Ok(mut h) = s.stats.latency_us.lock() {
                        for d in &landed {
                            let _ = h.record((d.as_micros() as u64).max(1));
                        }
                    }
                    s.stats
                        .confirmed
                        .fetch_add(landed.len() as u64, Ordering::Relaxed);
                    s.stats.confirmed_slot.store(next, Ordering::Relaxed);
                    next += 1;
                }
                // A slot with no block (skipped) answers -32007/-32004: move past it once the tip is beyond.
                Err(crate::rpc_client::RpcClientError::Rpc { .. }) => next += 1,
                Err(e) => {
                    tracing::debug!("load generator: getBlock {next} failed: {e}");
                    break;
                }
            }
        }
        expire(s);
        sleep_unless_exit(&s.exit, Duration::from_millis(50));
    }
}

fn expire(s: &Shared) {
    let now = Instant::now();
    if let Ok(mut o) = s.outstanding.lock() {
        let before = o.len();
        o.retain(|_, sent| now.duration_since(*sent) < CONFIRM_TIMEOUT);
        let gone = (before - o.len()) as u64;
        if gone > 0 {
            s.stats.expired.fetch_add(gone, Ordering::Relaxed);
        }
    }
}

fn sleep_unless_exit(exit: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !exit.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_accounts_are_reproducible_and_distinct() {
        assert_eq!(
            load_account(3).verifying_key(),
            load_account(3).verifying_key()
        );
        assert_ne!(
            load_account(3).verifying_key(),
            load_account(4).verifying_key()
        );
    }

    #[test]
    fn latency_percentiles_come_from_the_histogram() {
        let s = LoadStats::new();
        assert_eq!(s.latency_ms(50.0), 0.0);
        {
            let mut h = s.latency_us.lock().unwrap();
            for ms in 1..=100u64 {
                h.record(ms * 1000).unwrap();
            }
        }
        let p50 = s.latency_ms(50.0);
        let p99 = s.latency_ms(99.0);
        assert!((49.0..=51.0).contains(&p50), "{p50}");
        assert!((98.0..=100.5).contains(&p99), "{p99}");
    }
}
