//! The load generator: signs System Program transfers and sends them over UDP to a leader's TPU port,
//! then watches confirmed blocks to measure how many land and how long they take.
//!
//! Confirmation is tracked from blocks (`getBlock` with `transactionDetails: "signatures"`), not by
//! polling each signature, so the cost of watching stays a few RPC calls per slot at any rate.
//! Like a wallet's send-and-confirm, a transfer not confirmed in good time (see [`RESEND_AFTER`]) is sent again
//! (the same bytes, to whoever leads then) until it lands or its blockhash expires: a datagram can
//! be lost, and a block that held it can end up on an abandoned fork. Nodes drop the repeats.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dataplane::txn::build_transfer;
use dataplane::types::{Hash, Pubkey, Signature, Slot};
use dataplane::udp::{UdpBackend, UdpOptions, UdpSender};
use ed25519_dalek::SigningKey;
use hdrhistogram::Histogram;
use serde_json::json;

use crate::rpc_client::RpcClient;
use controlplane::schedule::Schedules;
use controlplane::slot_clock::SlotClock;
use dataplane::genesis::Genesis;

/// Transfers signed and sent per UDP batch (one `sendmmsg` call).
const SEND_BATCH: usize = 64;
/// Smallest number of unconfirmed transfers the closed loop keeps in flight.
const IN_FLIGHT_MIN: u64 = 2_048;
/// A transfer not confirmed after this long is counted as dropped (its blockhash has expired by then).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);
/// An unconfirmed transfer is sent again after twice the median confirmation latency since it was
/// last sent, and never sooner than this (longer than a leader turn of 4 × 400 ms plus a healthy
/// block's confirmation), so repeats stay rare.
pub const RESEND_AFTER: Duration = Duration::from_secs(4);
/// Most transfers sent again per round (every [`RESEND_ROUND`]).
const RESENDS_PER_ROUND_MAX: usize = 4_096;
/// How often unconfirmed transfers are looked at for resending.
const RESEND_ROUND: Duration = Duration::from_millis(250);
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
    schedule: Option<(SlotClock, Arc<Mutex<Schedules>>)>,
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
            schedule: Some((
                SlotClock::new(genesis),
                Arc::new(Mutex::new(Schedules::new(genesis))),
            )),
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
        let mut schedules = schedules.lock().unwrap_or_else(|e| e.into_inner());
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
    /// Sends of a transfer after its first (see [`RESEND_AFTER`]).
    pub resent: AtomicU64,
    /// Newest confirmed slot seen.
    pub confirmed_slot: AtomicU64,
    /// Send-to-confirmed-block latency, microseconds.
    pub latency_us: Mutex<Histogram<u64>>,
    /// Of that, first send to the end of the slot whose block holds the transfer, microseconds
    /// (a cluster's only: the slot clock dates blocks): the time to inclusion. The rest of
    /// [`LoadStats::latency_us`] is the block's wait for confirmation.
    pub inclusion_us: Mutex<Histogram<u64>>,
}

impl LoadStats {
    fn new() -> LoadStats {
        LoadStats {
            submitted: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            resent: AtomicU64::new(0),
            confirmed_slot: AtomicU64::new(0),
            latency_us: Mutex::new(latency_histogram()),
            inclusion_us: Mutex::new(latency_histogram()),
        }
    }

    /// Latency percentile in milliseconds (0 when nothing is confirmed yet).
    pub fn latency_ms(&self, percentile: f64) -> f64 {
        percentile_ms(&self.latency_us, percentile)
    }

    /// Time-to-inclusion percentile in milliseconds (0 when nothing is dated yet).
    pub fn inclusion_ms(&self, percentile: f64) -> f64 {
        percentile_ms(&self.inclusion_us, percentile)
    }
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds")
}

fn percentile_ms(histogram: &Mutex<Histogram<u64>>, percentile: f64) -> f64 {
    let h = histogram.lock().unwrap_or_else(|e| e.into_inner());
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(percentile / 100.0) as f64 / 1000.0
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
    outstanding: Mutex<HashMap<Signature, Pending>>,
    /// (when, transfers confirmed by then), over the last [`RATE_WINDOW`].
    rate_samples: Mutex<VecDeque<(Instant, u64)>>,
    started: Instant,
}

/// A transfer sent and not yet seen in a confirmed block.
struct Pending {
    /// First sent (latency is measured from here).
    sent: Instant,
    /// Last sent.
    last_sent: Instant,
    /// Its wire bytes, for resending.
    wire: Vec<u8>,
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
            rate_samples: Mutex::new(VecDeque::new()),
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
                .name("bbLoadResend".into())
                .spawn(move || resend_loop(&s))?,
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

/// The account that sender `from` (of `accounts`) pays in `round`: a quarter to three quarters of
/// the accounts away, moving on by one each round. Senders of one round pay distinct accounts, and
/// senders signing at the same moment (neighbours) pay accounts far from their own, so a block's
/// transfers rarely write the same account (a real workload spreads over many accounts; one hot
/// account would serialise Sealevel).
fn recipient(from: usize, round: u64, accounts: usize) -> usize {
    let accounts = accounts.max(2);
    let half = (accounts / 2).max(1) as u64;
    // At least 1: never itself.
    let shift = (accounts / 4 + (round % half) as usize).max(1);
    (from + shift) % accounts
}

fn sign_loop(s: &Shared, thread: usize, threads: usize) {
    let Some(mut socket) = load_sender() else {
        return;
    };
    // Each thread signs for its own slice of accounts so two threads never reuse a (from, counter) pair.
    let keys: Vec<(usize, SigningKey)> = (0..s.config.accounts)
        .filter(|i| *i as usize % threads == thread)
        .map(|i| (i as usize, load_account(i)))
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
            let (from, key) = &keys[(counter as usize) % keys.len()];
            let round = counter / keys.len() as u64;
            let to = all[recipient(*from, round, all.len())];
            // Amounts walk with the round, so every message (and so every signature) is new.
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
        send_to_leaders(&mut socket, &s.config.tpu, &wires);
        sent_here += wires.len() as u64;
        s.stats
            .submitted
            .fetch_add(wires.len() as u64, Ordering::Relaxed);
        if let Ok(mut o) = s.outstanding.lock() {
            for (sig, wire) in sigs.iter().zip(wires.drain(..)) {
                o.insert(
                    *sig,
                    Pending {
                        sent: now,
                        last_sent: now,
                        wire,
                    },
                );
            }
        }
    }
}

/// A UDP sender for the load generator's transfers (the same batched sender as the node's).
fn load_sender() -> Option<UdpSender> {
    let sender = UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| UdpSender::new(socket, UdpBackend::Mmsg, UdpOptions::default()));
    match sender {
        Ok(sender) => Some(sender),
        Err(e) => {
            tracing::error!("load generator cannot bind a UDP socket: {e}");
            None
        }
    }
}

/// Sends each of `wires` to the leaders of now (and, near a hand-over, next).
fn send_to_leaders(socket: &mut UdpSender, tpu: &TpuTargets, wires: &[Vec<u8>]) {
    let targets = tpu.current();
    let batch: Vec<(&[u8], SocketAddr)> = wires
        .iter()
        .flat_map(|w| targets.iter().map(move |a| (w.as_slice(), *a)))
        .collect();
    for chunk in batch.chunks(SEND_BATCH * 2) {
        if let Err(e) = socket.send_all(chunk) {
            tracing::warn!("load generator send failed: {e}");
        }
    }
}

/// Appends to `wires` (at most `max`) the transfers last sent at least `after` before `now`, and
/// marks them sent now.
fn take_due(
    outstanding: &mut HashMap<Signature, Pending>,
    now: Instant,
    after: Duration,
    max: usize,
    wires: &mut Vec<Vec<u8>>,
) {
    for p in outstanding.values_mut() {
        if wires.len() >= max {
            break;
        }
        if now.saturating_duration_since(p.last_sent) >= after {
            p.last_sent = now;
            wires.push(p.wire.clone());
        }
    }
}

/// Sends again the transfers that have waited [`RESEND_AFTER`] since they were last sent.
fn resend_loop(s: &Shared) {
    let Some(mut socket) = load_sender() else {
        return;
    };
    let mut wires: Vec<Vec<u8>> = Vec::new();
    while !s.exit.load(Ordering::Relaxed) {
        sleep_unless_exit(&s.exit, RESEND_ROUND);
        let now = Instant::now();
        let after = RESEND_AFTER.max(Duration::from_secs_f64(
            2.0 * s.stats.latency_ms(50.0) / 1000.0,
        ));
        wires.clear();
        if let Ok(mut o) = s.outstanding.lock() {
            take_due(&mut o, now, after, RESENDS_PER_ROUND_MAX, &mut wires);
        }
        if !wires.is_empty() {
            send_to_leaders(&mut socket, &s.config.tpu, &wires);
            s.stats
                .resent
                .fetch_add(wires.len() as u64, Ordering::Relaxed);
        }
    }
}

/// The closed loop's window (Little's law): the confirmed rate of the last [`RATE_WINDOW`] times
/// the unloaded confirmation latency (its 10th percentile) with [`WINDOW_HEADROOM`] on top, never
/// below the floor. A cluster that confirms only after several slots needs that many transfers in
/// flight to stay busy. The headroom lets the rate grow while bounding the queue the load builds:
/// sized from the median instead, the window would feed its own queueing delay back into itself.
fn in_flight_cap(s: &Shared) -> u64 {
    let rate = s.recent_rate();
    let base_s = s.stats.latency_ms(10.0) / 1000.0;
    IN_FLIGHT_MIN.max((rate * (WINDOW_HEADROOM.0 * base_s + WINDOW_HEADROOM.1)) as u64)
}

/// The window over the unloaded latency: (factor, extra seconds).
const WINDOW_HEADROOM: (f64, f64) = (1.25, 0.5);
/// The span over which the confirmed rate is measured for the window.
const RATE_WINDOW: Duration = Duration::from_secs(5);

impl Shared {
    /// When `slot` ends by the cluster's slot clock, as an instant of this process (`None` for a
    /// single validator, whose slots are not on a schedule).
    fn slot_end(&self, slot: Slot) -> Option<Instant> {
        let (clock, _) = self.config.tpu.schedule.as_ref()?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_millis() as u64;
        slot_end_at(clock, slot, Instant::now(), now_ms)
    }

    /// Transfers confirmed per second over the last [`RATE_WINDOW`] (since start, before that).
    fn recent_rate(&self) -> f64 {
        let samples = self.rate_samples.lock().unwrap_or_else(|e| e.into_inner());
        let now = (Instant::now(), self.stats.confirmed.load(Ordering::Relaxed));
        let first = samples.front().copied().unwrap_or((self.started, 0));
        let secs = now.0.duration_since(first.0).as_secs_f64().max(1.0);
        now.1.saturating_sub(first.1) as f64 / secs
    }

    /// Records the confirmed count now, keeping the samples of the last [`RATE_WINDOW`].
    fn sample_rate(&self) {
        let mut samples = self.rate_samples.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        samples.push_back((now, self.stats.confirmed.load(Ordering::Relaxed)));
        while samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            samples.pop_front();
        }
    }
}

/// When `slot` ends by `clock`, given that `now` is `now_ms` on the Unix clock.
fn slot_end_at(clock: &SlotClock, slot: Slot, now: Instant, now_ms: u64) -> Option<Instant> {
    let end_ms = clock.slot_start_unix_ms(Slot(slot.0 + 1));
    if end_ms >= now_ms {
        now.checked_add(Duration::from_millis(end_ms - now_ms))
    } else {
        now.checked_sub(Duration::from_millis(now_ms - end_ms))
    }
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
                    let block_end = s.slot_end(Slot(next));
                    let mut landed = Vec::new();
                    if let Ok(mut o) = s.outstanding.lock() {
                        for sig in sigs.iter().filter_map(|v| v.as_str()) {
                            if let Ok(sig) = sig.parse::<Signature>() {
                                if let Some(p) = o.remove(&sig) {
                                    let included =
                                        block_end.map(|end| end.saturating_duration_since(p.sent));
                                    landed.push((seen.duration_since(p.sent), included));
                                }
                            }
                        }
                    }
                    if let Ok(mut h) = s.stats.latency_us.lock() {
                        for (d, _) in &landed {
                            let _ = h.record((d.as_micros() as u64).max(1));
                        }
                    }
                    if let Ok(mut h) = s.stats.inclusion_us.lock() {
                        for d in landed.iter().filter_map(|(_, i)| *i) {
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
        s.sample_rate();
        sleep_unless_exit(&s.exit, Duration::from_millis(50));
    }
}

fn expire(s: &Shared) {
    let now = Instant::now();
    if let Ok(mut o) = s.outstanding.lock() {
        let before = o.len();
        o.retain(|_, p| now.duration_since(p.sent) < CONFIRM_TIMEOUT);
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
    fn senders_of_a_round_pay_distinct_accounts_never_themselves_and_far_from_their_own() {
        let accounts = 1_000;
        for round in [0, 1, 499, 500, 501, 999, 1_000, 12_345] {
            let paid: std::collections::HashSet<usize> = (0..accounts)
                .map(|from| {
                    let to = recipient(from, round, accounts);
                    assert_ne!(to, from, "round {round}: {from} pays itself");
                    to
                })
                .collect();
            assert_eq!(
                paid.len(),
                accounts,
                "round {round}: two senders pay one account"
            );
        }
        // Senders signing together (consecutive accounts) pay accounts far from every one of them.
        let near = |a: usize, b: usize| a.abs_diff(b).min(accounts - a.abs_diff(b)) < 100;
        for round in 0..1_000 {
            assert!((0..100)
                .all(|from| (0..100).all(|other| !near(recipient(from, round, accounts), other))));
        }
        // A round later the same sender pays another account.
        assert_ne!(recipient(7, 3, accounts), recipient(7, 4, accounts));
    }

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
    fn unconfirmed_transfers_are_resent_once_due_and_not_again_until_due_again() {
        let t0 = Instant::now();
        let after = Duration::from_secs(4);
        let mut o: HashMap<Signature, Pending> = (0..5u8)
            .map(|i| {
                let sent = t0 + Duration::from_secs(u64::from(i));
                let p = Pending {
                    sent,
                    last_sent: sent,
                    wire: vec![i; 3],
                };
                (Signature([i; 64]), p)
            })
            .collect();
        let mut wires = Vec::new();
        // At t0 + 5 s, those sent at 0 s and 1 s are due.
        take_due(&mut o, t0 + Duration::from_secs(5), after, 10, &mut wires);
        wires.sort();
        assert_eq!(wires, vec![vec![0; 3], vec![1; 3]]);
        // A moment later nothing new is due, and the two just resent are not due again.
        wires.clear();
        take_due(
            &mut o,
            t0 + Duration::from_millis(5_500),
            after,
            10,
            &mut wires,
        );
        assert!(wires.is_empty());
        // Much later all are due, but a round sends at most `max`.
        take_due(&mut o, t0 + Duration::from_secs(60), after, 3, &mut wires);
        assert_eq!(wires.len(), 3);
        // The first send time (latency is measured from it) is kept.
        assert_eq!(o[&Signature([0; 64])].sent, t0);
    }

    #[test]
    fn a_slot_ends_where_the_slot_clock_starts_the_next() {
        let genesis = Genesis {
            creation_time_unix_ms: 1_000_000,
            slot_duration_ms: 400,
            ..Genesis::with_defaults("loadgen", vec![], vec![])
        };
        let clock = SlotClock::new(&genesis);
        let now = Instant::now() + Duration::from_secs(10);
        // Slot 5 ends at 1,002,400: 400 ms before a "now" of 1,002,800, 100 ms after 1,002,300.
        assert_eq!(
            slot_end_at(&clock, Slot(5), now, 1_002_800),
            Some(now - Duration::from_millis(400))
        );
        assert_eq!(
            slot_end_at(&clock, Slot(5), now, 1_002_300),
            Some(now + Duration::from_millis(100))
        );
        assert_eq!(slot_end_at(&clock, Slot(5), now, 1_002_400), Some(now));
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
        // Time to inclusion has its own histogram.
        assert_eq!(s.inclusion_ms(50.0), 0.0);
        s.inclusion_us.lock().unwrap().record(7_000).unwrap();
        assert!((6.9..=7.1).contains(&s.inclusion_ms(50.0)));
    }
}
