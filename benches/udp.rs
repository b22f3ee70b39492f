//! Batched UDP over loopback, one technique per row, 1232-byte datagrams.
//!
//! Same destination (one sender thread → one receiver thread): plain `send_to`/`recv_from`,
//! `sendmmsg`/`recvmmsg` ×64, io_uring send chains + multishot receive, GSO + `recvmmsg`,
//! GSO + GRO, and io_uring with GSO + GRO. Fan-out (Turbine retransmit: each of 64 shreds to 32
//! peers, one sender thread → 32 sockets drained by one receiver thread): plain `send_to`,
//! `sendmmsg`, io_uring, and `send_grouped` (GSO per peer, GRO receivers).
//!
//! The sender is not paced; the throughput is what the receiver counted, so packets dropped by a
//! full socket buffer show up as a lower rate (each row also prints the share that arrived).
//! Sockets ask for 64 MiB buffers through `bind_udp`; the kernel grants up to `net.core.*mem_max`.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::packet::{bind_udp, PacketBatch, PACKET_DATA_SIZE};
use dataplane::udp::{UdpBackend, UdpOptions, UdpReceiver, UdpSender};

/// Packets sent per measured iteration.
const PACKETS: usize = 2048;
/// Packets handed to one send call.
const PER_CALL: usize = 256;
/// Fan-out: destination sockets, and shreds per retransmit batch (each goes to every peer).
const PEERS: usize = 32;
const SHREDS: usize = 64;
/// Socket buffers asked for.
const BUFFER_BYTES: usize = 64 << 20;
/// A sample ends once nothing more has arrived for this long.
const IDLE: Duration = Duration::from_millis(20);
/// How long a receiver blocks before it looks at its stop flag.
const POLL: Duration = Duration::from_millis(20);

fn bound() -> UdpSocket {
    let (socket, _, _) = bind_udp("127.0.0.1:0".parse().unwrap(), BUFFER_BYTES, BUFFER_BYTES)
        .expect("bind loopback UDP socket");
    socket
}

/// The receive technique of a row.
#[derive(Clone, Copy)]
enum Rx {
    RecvFrom,
    Batched(UdpBackend, bool),
}

/// A receiver thread counting packets until stopped.
struct Counter {
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Counter {
    /// Receives on `sockets` with `how` (several sockets are drained in turn without waiting).
    fn spawn(sockets: Vec<UdpSocket>, how: Rx) -> Counter {
        let received = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || match how {
            Rx::RecvFrom => {
                let socket = &sockets[0];
                socket.set_read_timeout(Some(POLL)).unwrap();
                let mut buf = [0u8; PACKET_DATA_SIZE + 1];
                while !halt.load(Ordering::Relaxed) {
                    if socket.recv_from(&mut buf).is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Rx::Batched(backend, gro) => {
                let opts = UdpOptions {
                    gro,
                    ..UdpOptions::default()
                };
                let wait = if sockets.len() == 1 {
                    POLL
                } else {
                    Duration::ZERO
                };
                let mut rxs: Vec<UdpReceiver> = sockets
                    .into_iter()
                    .map(|s| UdpReceiver::new(s, backend, opts).unwrap())
                    .collect();
                assert!(rxs.iter().all(|r| r.backend() == backend && r.gro() == gro));
                let mut batch = PacketBatch::new();
                while !halt.load(Ordering::Relaxed) {
                    for rx in &mut rxs {
                        let n = rx.recv(&mut batch, wait).unwrap_or(0);
                        count.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
        });
        Counter {
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// Runs `send` (which sends `total` packets) and returns the time scaled to what arrived,
    /// so criterion's rate is packets received per second.
    fn measure(&self, total: u64, shares: &mut Vec<f64>, send: impl FnOnce()) -> Duration {
        let before = self.received.load(Ordering::Relaxed);
        let start = Instant::now();
        send();
        let (mut last, mut last_at) = (before, Instant::now());
        loop {
            let now = self.received.load(Ordering::Relaxed);
            if now != last {
                (last, last_at) = (now, Instant::now());
            }
            if now - before >= total || last_at.elapsed() > IDLE {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let got = (last - before).max(1);
        shares.push(got as f64 / total as f64);
        (last_at - start).mul_f64(total as f64 / got as f64)
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends everything, retrying what a full socket buffer turned back.
fn send_all<T>(items: &[T], mut send: impl FnMut(&[T]) -> usize) {
    let mut at = 0;
    while at < items.len() {
        let n = send(&items[at..]);
        if n == 0 {
            std::thread::yield_now();
        }
        at += n;
    }
}

fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut p = vec![(i % 251) as u8; PACKET_DATA_SIZE];
            p[..8].copy_from_slice(&(i as u64).to_le_bytes());
            p
        })
        .collect()
}

/// The send technique of a row.
#[derive(Clone, Copy)]
enum Tx {
    SendTo,
    Mmsg(UdpBackend),
    Gso(UdpBackend),
    Grouped(UdpBackend),
}

/// One row: `send` technique into the receivers, `rounds` of `msgs` per iteration.
fn row(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    how_send: Tx,
    how_recv: Rx,
    peers: usize,
) {
    let sockets: Vec<UdpSocket> = (0..peers).map(|_| bound()).collect();
    let dests: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let counter = Counter::spawn(sockets, how_recv);
    let data = payloads(if peers == 1 { PER_CALL } else { SHREDS });
    // Same destination: PER_CALL packets per call; fan-out: each shred to every peer, shred-major
    // as retransmit produces them.
    let msgs: Vec<(&[u8], SocketAddr)> = if peers == 1 {
        data.iter().map(|p| (p.as_slice(), dests[0])).collect()
    } else {
        data.iter()
            .flat_map(|p| dests.iter().map(move |d| (p.as_slice(), *d)))
            .collect()
    };
    let rounds = PACKETS / msgs.len();
    let per_iter = (rounds * msgs.len()) as u64;
    let socket = bound();
    let mut sender = match how_send {
        Tx::SendTo => None,
        Tx::Mmsg(b) | Tx::Gso(b) | Tx::Grouped(b) => {
            let tx = UdpSender::new(socket.try_clone().unwrap(), b, UdpOptions::default()).unwrap();
            assert_eq!(tx.backend(), b);
            Some(tx)
        }
    };
    let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
    let mut shares = Vec::new();
    c.throughput(Throughput::Elements(per_iter));
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            counter.measure(iters * per_iter, &mut shares, || {
                for _ in 0..iters * rounds as u64 {
                    match (how_send, sender.as_mut()) {
                        (Tx::SendTo, _) => {
                            for (p, d) in &msgs {
                                // A full buffer on loopback drops; the receiver's count shows it.
                                let _ = socket.send_to(p, d);
                            }
                        }
                        (Tx::Mmsg(_), Some(tx)) => {
                            send_all(&msgs, |m| tx.send(m).unwrap_or(0));
                        }
                        (Tx::Gso(_), Some(tx)) => {
                            send_all(&refs, |m| tx.send_same_dest(dests[0], m).unwrap_or(0));
                        }
                        (Tx::Grouped(_), Some(tx)) => {
                            send_all(&msgs, |m| tx.send_grouped(m).unwrap_or(0));
                        }
                        _ => unreachable!("every batched row has a sender"),
                    }
                }
            })
        })
    });
    // Rows filtered out on the command line took no samples.
    if !shares.is_empty() {
        let mean = shares.iter().sum::<f64>() / shares.len() as f64;
        eprintln!("udp/{name}: {:.1} % of sent packets arrived", mean * 100.0);
    }
}

fn udp(c: &mut Criterion) {
    let mut g = c.benchmark_group("udp");
    g.sample_size(20);
    let (io, mm) = (UdpBackend::IoUring, UdpBackend::Mmsg);
    row(
        &mut g,
        "plain_send_to_recv_from",
        Tx::SendTo,
        Rx::RecvFrom,
        1,
    );
    row(
        &mut g,
        "sendmmsg_recvmmsg_x64",
        Tx::Mmsg(mm),
        Rx::Batched(mm, false),
        1,
    );
    row(
        &mut g,
        "io_uring_send_recv",
        Tx::Mmsg(io),
        Rx::Batched(io, false),
        1,
    );
    row(
        &mut g,
        "gso_send_recvmmsg",
        Tx::Gso(mm),
        Rx::Batched(mm, false),
        1,
    );
    row(
        &mut g,
        "gso_send_gro_recv",
        Tx::Gso(mm),
        Rx::Batched(mm, true),
        1,
    );
    row(
        &mut g,
        "io_uring_gso_gro",
        Tx::Gso(io),
        Rx::Batched(io, true),
        1,
    );
    row(
        &mut g,
        "fanout_plain_send_to",
        Tx::SendTo,
        Rx::Batched(mm, false),
        PEERS,
    );
    row(
        &mut g,
        "fanout_sendmmsg",
        Tx::Mmsg(mm),
        Rx::Batched(mm, false),
        PEERS,
    );
    row(
        &mut g,
        "fanout_io_uring",
        Tx::Mmsg(io),
        Rx::Batched(mm, false),
        PEERS,
    );
    row(
        &mut g,
        "fanout_grouped_gso_gro",
        Tx::Grouped(mm),
        Rx::Batched(mm, true),
        PEERS,
    );
    g.finish();
}

criterion_group!(benches, udp);
criterion_main!(benches);
