//! The whole single-leader pipeline: pre-signed transfers in over loopback UDP → fetch → sigverify →
//! Sealevel → PoH → block stored in redb (fsync'd). Throughput is transactions stored per second,
//! timed from the first packet sent to the last transaction's block committed. Beside it, its limit
//! on this machine: the same transfers' signatures checked with bare `verify_strict` on two threads
//! (signature checking is a 2-core node's ceiling); the bench prints the pipeline's share of it.
//! `replay_of_the_leaders_blocks`: each leader run's stored blocks replayed on a fresh validator of
//! the same genesis (slot stream, parent, leader, as received; all queued, as for a validator that is
//! behind, so each block is checked while the one before it is stored): the row times the replay, the
//! leader run is timed beside it, and the bench prints replay / leader over the same transactions —
//! a validator that replays slower than leaders produce falls behind for good.
//! `quic_to_stored_block`: the same transfers over the QUIC TPU (one stream each, from one staked
//! client connection on loopback); the bench prints its rate against `udp_to_stored_block`'s in
//! the same run (target ≥ 80 %). Measured 2026-12-05 (`cargo bench --bench pipeline --
//! "udp_to_stored|quic_to_stored|verify_strict"`): QUIC 19.4 k tx/s = 86 % of UDP's 22.5 k.

use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::banking::LeadCommand;
use dataplane::block::decode_entry;
use dataplane::entry::Entry;
use dataplane::genesis::{Genesis, GenesisAccount, GenesisValidator};
use dataplane::packet::bind_udp;
use dataplane::pipeline::{LeaderPipeline, PipelineConfig};
use dataplane::plane::DataEvent;
use dataplane::replay_stage::{ReceivedBlock, ReplayOutcome, Replayer};
use dataplane::sealevel::Executor;
use dataplane::store::Store;
use dataplane::testkit::slot_stream;
use dataplane::txn::{build_transfer, TxnView};
use dataplane::types::{Hash, Pubkey, Slot};
use dataplane::udp::{UdpBackend, UdpOptions, UdpSender};
use ed25519_dalek::{SigningKey, VerifyingKey};

/// Transfers per measured iteration.
const TXS: usize = 60_000;
/// Distinct fee payers (so most transfers do not contend).
const PAYERS: usize = 4_096;

fn payer(i: usize) -> SigningKey {
    SigningKey::from_bytes(&Hash::hashv(&[b"pipeline-bench", &(i as u64).to_le_bytes()]).0)
}

fn genesis(keys: &[SigningKey]) -> Genesis {
    Genesis {
        cluster_name: "bench".into(),
        creation_time_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        ticks_per_slot: 64,
        hashes_per_tick: 2_000,
        slot_duration_ms: 400,
        lamports_per_signature: 5_000,
        slots_per_epoch: 432_000,
        validators: vec![GenesisValidator {
            identity: Pubkey([1; 32]),
            stake: 1,
        }],
        accounts: keys
            .iter()
            .map(|k| GenesisAccount {
                pubkey: Pubkey(k.verifying_key().to_bytes()),
                lamports: 1_000_000_000_000,
            })
            .collect(),
    }
}

/// Signs `TXS` transfers on both cores.
fn sign(keys: &[SigningKey], blockhash: &Hash) -> Vec<Vec<u8>> {
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..2)
            .map(|h| {
                s.spawn(move || {
                    (h * TXS / 2..(h + 1) * TXS / 2)
                        .map(|i| {
                            let to = Pubkey(Hash::hashv(&[b"to", &(i as u64).to_le_bytes()]).0);
                            build_transfer(&keys[i % PAYERS], &to, 1 + i as u64, blockhash)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("signer"))
            .collect()
    })
}

/// One run: a fresh node, `TXS` transfers sent, the time until the last one is stored.
fn run_once(keys: &[SigningKey]) -> Duration {
    lead(keys).elapsed
}

/// How transfers reach the leader.
#[derive(Clone, Copy, PartialEq)]
enum Transport {
    /// Datagrams to the UDP TPU, 64 per `sendmmsg`.
    Udp,
    /// One QUIC stream each to the QUIC TPU, from one connection of a staked client (as a
    /// forwarding validator's), as Solana's clients send.
    Quic,
}

/// A QUIC TPU in front of `pipeline` and a client connected to it: (server runtime, client
/// runtime, connection, server counters).
fn quic_tpu(
    pipeline: &LeaderPipeline,
) -> (
    tokio::runtime::Runtime,
    tokio::runtime::Runtime,
    quinn::Connection,
    Arc<blackbook::tpu_quic::QuicStats>,
) {
    use blackbook::tpu_quic::{self, QuicStats, Stakes, TpuSink};
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server_key = SigningKey::from_bytes(&[1; 32]);
    let client_key = SigningKey::from_bytes(&[2; 32]);
    let stakes = Arc::new(Stakes::new([(
        Pubkey(client_key.verifying_key().to_bytes()),
        1,
    )]));
    let stats = Arc::new(QuicStats::default());
    let (socket, _, _) =
        bind_udp("127.0.0.1:0".parse().expect("addr"), 64 << 20, 16 << 20).expect("bind");
    socket.set_nonblocking(true).expect("nonblocking");
    let addr = socket.local_addr().expect("addr");
    let endpoint = {
        let _in = server_rt.enter();
        quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(tpu_quic::server_config(&server_key).expect("server config")),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .expect("endpoint")
    };
    let sink = TpuSink {
        packets: pipeline.packets.clone(),
        pool: pipeline.packet_pool.clone(),
        counters: pipeline.counters.clone(),
    };
    server_rt.spawn(tpu_quic::serve(
        endpoint,
        sink,
        stakes,
        stats.clone(),
        tpu_quic::QuicLimits::default(),
        std::future::pending(),
    ));
    let connection = client_rt.block_on(async {
        let mut client =
            quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("client");
        client.set_default_client_config(
            tpu_quic::client_config(&client_key).expect("client config"),
        );
        let connection = client
            .connect(addr, "solana-tpu")
            .expect("connect")
            .await
            .expect("handshake");
        // The staked budget arrives just after the handshake.
        tokio::time::sleep(Duration::from_millis(100)).await;
        connection
    });
    (server_rt, client_rt, connection, stats)
}

/// What one leader run left: its time, its genesis and its ledger.
struct LeaderRun {
    elapsed: Duration,
    genesis: Genesis,
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

/// The leader pipeline from the first packet sent to the last transfer's block stored.
fn lead(keys: &[SigningKey]) -> LeaderRun {
    lead_over(keys, Transport::Udp)
}

/// [`lead`], the transfers sent over `transport`.
fn lead_over(keys: &[SigningKey], transport: Transport) -> LeaderRun {
    let g = genesis(keys);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path(), g.hash()).expect("store"));
    let mut exec = Executor::new(0);
    let (forks, _) = dataplane::replay::load_cluster(&g, &store, &mut exec, 1).expect("load");
    let (tpu, _, _) =
        bind_udp("127.0.0.1:0".parse().expect("addr"), 64 << 20, 1 << 20).expect("bind");
    let tpu_addr = tpu.local_addr().expect("addr");
    let pipeline = LeaderPipeline::start(
        PipelineConfig {
            identity: Pubkey([1; 32]),
            sigverify_threads: 2,
            exec_threads: 0,
            batch_size_max: 256,
            pending_txns_max: dataplane::banking::PENDING_TXNS_MAX,
            admit_backlog_max: dataplane::sigverify::ADMIT_BACKLOG_MAX,
            admit_fresh_window: dataplane::sigverify::ADMIT_FRESH_WINDOW,
            poh_core: None,
            shredding: None,
            forwarder: None,
            tpu_backend: UdpBackend::IoUring,
        },
        &g,
        store.clone(),
        forks,
        tpu,
    )
    .expect("pipeline");
    // A lone leader, commanded as the control plane commands one: every slot from the one due now.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let due = now_ms.saturating_sub(g.creation_time_unix_ms) / g.slot_duration_ms.max(1);
    pipeline
        .lead
        .send(LeadCommand {
            first: Slot(due.max(1)),
            last: Slot(u64::MAX),
            parent: Slot(0),
        })
        .expect("lead");
    let wires = sign(keys, &g.hash());
    let mut sender = UdpSender::new(
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
        UdpBackend::Mmsg,
        UdpOptions::default(),
    )
    .expect("sender");
    let quic = (transport == Transport::Quic).then(|| quic_tpu(&pipeline));
    let start = Instant::now();
    let mut stored = 0usize;
    let fetched = pipeline.fetch_stats.clone();
    let verified = pipeline.sigverify_stats.clone();
    let received = || match &quic {
        Some((_, _, _, stats)) => stats.transactions.load(Ordering::Relaxed),
        None => fetched.packets.load(Ordering::Relaxed),
    };
    let mut sent = 0u64;
    for chunk in wires.chunks(64) {
        // Closed loop: keep the kernel's socket buffer (small unless tuning/tune.sh ran) and the
        // sigverify queue from overflowing, as a client that watches the node would.
        while sent.saturating_sub(received()) > 128
            || sent.saturating_sub(verified.packets.load(Ordering::Relaxed)) > 1_024
        {
            // Sleep rather than spin: on a 2-core machine a spinning sender takes CPU from sigverify.
            std::thread::sleep(Duration::from_micros(50));
        }
        sent += chunk.len() as u64;
        match &quic {
            Some((_, client_rt, connection, _)) => client_rt.block_on(async {
                for w in chunk {
                    let mut stream = connection.open_uni().await.expect("stream");
                    stream.write_all(w).await.expect("write");
                    stream.finish().expect("finish");
                }
            }),
            None => {
                let batch: Vec<(&[u8], std::net::SocketAddr)> =
                    chunk.iter().map(|w| (w.as_slice(), tpu_addr)).collect();
                sender.send_all(&batch).expect("send");
            }
        }
        while let Ok(ev) = pipeline.events.try_recv() {
            if let DataEvent::BankFrozen { transactions, .. } = ev {
                stored += transactions as usize;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored < TXS && Instant::now() < deadline {
        if let Ok(DataEvent::BankFrozen { transactions, .. }) =
            pipeline.events.recv_timeout(Duration::from_millis(100))
        {
            stored += transactions as usize;
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(
        stored,
        TXS,
        "every transfer must be stored; fetched {} in {} batches, sigverify took {}, verified {}, \
         rejected {:?}",
        fetched.packets.load(Ordering::Relaxed),
        fetched.batches.load(Ordering::Relaxed),
        verified.packets.load(Ordering::Relaxed),
        verified.accepted.load(Ordering::Relaxed),
        pipeline.counters.snapshot()
    );
    if let Some((server_rt, client_rt, connection, _)) = quic {
        connection.close(0u32.into(), b"done");
        client_rt.shutdown_timeout(Duration::from_secs(1));
        server_rt.shutdown_timeout(Duration::from_secs(1));
    }
    pipeline.shutdown();
    LeaderRun {
        elapsed,
        genesis: g,
        store,
        _dir: dir,
    }
}

/// Replays every block `run`'s leader stored on a fresh validator of the same genesis, as a
/// validator receives them (slot stream, leader, parent), with what a 2-core validator runs:
/// signatures checked on both cores and one Sealevel worker. Returns the replay's time, from the
/// first block handed over to the last one stored.
fn replay_stored(run: &LeaderRun) -> Duration {
    let slots = run
        .store
        .slots_in_range(Slot(1)..=Slot(u64::MAX))
        .expect("stored slots");
    let blocks: Vec<ReceivedBlock> = slots
        .iter()
        .map(|meta| {
            let entries: Vec<Entry> = run
                .store
                .entries(meta.slot)
                .expect("entries")
                .iter()
                .map(|e| decode_entry(e).expect("a stored entry"))
                .collect();
            ReceivedBlock {
                slot: meta.slot,
                parent: meta.parent_slot,
                leader: meta.leader,
                stream: slot_stream(&entries, meta.bank_hash, meta.block_time_ms),
                data_shreds: Vec::new(),
                last_fec_root: None,
            }
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path(), run.genesis.hash()).expect("store"));
    let mut exec = Executor::new(0);
    let (forks, _) =
        dataplane::replay::load_cluster(&run.genesis, &store, &mut exec, 1).expect("load");
    let mut replayer = Replayer::new(
        run.genesis.clone(),
        Arc::new(RwLock::new(forks)),
        store,
        2,
        1,
    );
    let start = Instant::now();
    let mut replayed = 0usize;
    let mut count = |outcomes: Vec<ReplayOutcome>| {
        for outcome in outcomes {
            match outcome {
                ReplayOutcome::Replayed { transactions, .. } => replayed += transactions as usize,
                other => panic!("the leader's block must replay: {other:?}"),
            }
        }
    };
    // Every block is queued, as for a validator that is behind: each is checked while the one
    // before it is stored (what the replay stage does with a queue).
    for block in blocks {
        count(replayer.submit(block).expect("store"));
    }
    count(replayer.finish().expect("store"));
    let elapsed = start.elapsed();
    assert_eq!(replayed, TXS, "every stored transfer must replay");
    elapsed
}

/// `verify_strict` of every transfer's signature (key decoded from the packet, as a verifier of
/// wire bytes must), split over two threads.
fn verify_all_bare(wires: &[Vec<u8>]) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for half in wires.chunks(wires.len().div_ceil(2)) {
            s.spawn(move || {
                for wire in half {
                    let v = TxnView::new(wire).expect("valid");
                    let key = VerifyingKey::from_bytes(v.account_key_bytes(0)).expect("key");
                    let sig = ed25519_dalek::Signature::from_bytes(v.signature_bytes(0));
                    assert!(key.verify_strict(v.message(), &sig).is_ok());
                }
            });
        }
    });
    start.elapsed()
}

/// Elements and time measured by a row, for the share printed at the end.
#[derive(Default)]
struct Tally {
    elements: u64,
    time: Duration,
}

impl Tally {
    fn add(&mut self, elements: u64, time: Duration) {
        self.elements += elements;
        self.time += time;
    }

    fn rate(&self) -> f64 {
        self.elements as f64 / self.time.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

fn pipeline(c: &mut Criterion) {
    let keys: Vec<SigningKey> = (0..PAYERS).map(payer).collect();
    let limit_wires = sign(&keys, &Hash([5; 32]));
    let mut limit = Tally::default();
    let mut measured = Tally::default();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(TXS as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("verify_strict_bare_2threads", |b| {
        b.iter_custom(|iters| {
            let t: Duration = (0..iters).map(|_| verify_all_bare(&limit_wires)).sum();
            limit.add(iters * TXS as u64, t);
            t
        })
    });
    g.bench_function("udp_to_stored_block", |b| {
        b.iter_custom(|iters| {
            let t: Duration = (0..iters).map(|_| run_once(&keys)).sum();
            measured.add(iters * TXS as u64, t);
            t
        })
    });
    // The same over the QUIC TPU, against the UDP row in this run.
    let mut over_quic = Tally::default();
    g.bench_function("quic_to_stored_block", |b| {
        b.iter_custom(|iters| {
            let t: Duration = (0..iters)
                .map(|_| lead_over(&keys, Transport::Quic).elapsed)
                .sum();
            over_quic.add(iters * TXS as u64, t);
            t
        })
    });
    // The leader's blocks replayed on a validator: the row times the replay; the leader run that
    // made them is timed beside it, so both rates come from the same transactions in this run.
    let mut leader = Tally::default();
    let mut replay = Tally::default();
    g.bench_function("replay_of_the_leaders_blocks", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let run = lead(&keys);
                leader.add(TXS as u64, run.elapsed);
                let r = replay_stored(&run);
                replay.add(TXS as u64, r);
                t += r;
            }
            t
        })
    });
    g.finish();
    if over_quic.elements > 0 && measured.elements > 0 {
        eprintln!(
            "pipeline/quic_to_stored_block: {:.1} k tx/s = {:.0} % of udp_to_stored_block's {:.1} k \
             tx/s in this run (target >= 80 %)",
            over_quic.rate() / 1e3,
            100.0 * over_quic.rate() / measured.rate(),
            measured.rate() / 1e3
        );
    }
    if leader.elements > 0 && replay.elements > 0 {
        eprintln!(
            "pipeline/replay_of_the_leaders_blocks: replay {:.1} k tx/s = {:.2}x the leader's \
             {:.1} k tx/s over the same transactions in this run (must be >= 1: a validator that \
             replays slower than leaders produce falls behind for good)",
            replay.rate() / 1e3,
            replay.rate() / leader.rate(),
            leader.rate() / 1e3
        );
    }
    if limit.elements > 0 && measured.elements > 0 {
        eprintln!(
            "pipeline/udp_to_stored_block: {:.1} k tx/s = {:.0} % of verify_strict_bare_2threads \
             ({:.1} k sig/s) in this run",
            measured.rate() / 1e3,
            100.0 * measured.rate() / limit.rate(),
            limit.rate() / 1e3
        );
    }
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
