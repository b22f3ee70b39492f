//! Batched UDP I/O for every datagram plane of the node (TPU transactions, Turbine shreds, repair).
//!
//! One interface, two backends chosen at start-up and logged ([`UdpBackend`]):
//!
//! - **io_uring**: a multishot `recvmsg` over a ring of provided buffers on receive, linked
//!   `sendmsg` chains on send; `SINGLE_ISSUER | DEFER_TASKRUN` when the kernel takes them.
//! - **mmsg**: `recvmmsg`/`sendmmsg`, the portable fallback, used whenever io_uring cannot be set up
//!   (old kernel, seccomp, `kernel.io_uring_disabled`).
//!
//! Both can use UDP segmentation offload: [`UdpSender::send_same_dest`] hands the kernel one
//! super-datagram of up to 64 equal segments (`UDP_SEGMENT`), and a receiver with
//! [`UdpOptions::gro`] takes coalesced segments in one buffer (`UDP_GRO`) and splits them back into
//! packets. Receives fill the caller's preallocated [`PacketBatch`] exactly as
//! [`recv_mmsg`](crate::packet::recv_mmsg) does (length, source, oversized flag).
//!
//! Where bytes are copied: mmsg without GRO receives straight into the batch's buffers (only the
//! kernel copies); GRO and io_uring's provided buffers land in receiver-owned memory and are copied
//! once into the batch (the `gso` and `uring` submodules say why that still wins). Sends never copy.
//!
//! Receivers and senders take `&mut self` and are used from one thread: an io_uring ring set up
//! with `SINGLE_ISSUER` belongs to the first thread that uses it, and calls from another thread
//! fail with an error.
//!
//! Linux only.

mod gso;
mod mmsg;
#[cfg(test)]
mod tests;
mod uring;

use std::fmt;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::packet::{PacketBatch, PACKET_DATA_SIZE};
use gso::WireMsg;
use mmsg::MmsgReceiver;
use uring::{UringReceiver, UringSender};

pub use uring::UringSetup;

/// Environment variable that overrides the configured backend: `io_uring` or `mmsg`.
pub const BACKEND_ENV: &str = "BLACKBOOK_UDP_BACKEND";
/// Default provided buffers of an io_uring receiver without GRO (≈ 1.3 KB each).
pub const RING_ENTRIES_DEFAULT: u32 = 512;
/// A receive that ends this close to its timeout counts as timed out (kernel timers are coarse).
const RECV_WAIT_SLACK: Duration = Duration::from_millis(1);
/// Placeholder destination of unused send slots.
const UNSPECIFIED: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));

/// Which system-call family moves the datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpBackend {
    /// io_uring: multishot receive over provided buffers, linked send chains.
    IoUring,
    /// `recvmmsg`/`sendmmsg`: works everywhere.
    Mmsg,
}

impl UdpBackend {
    /// The name used in config, the environment and logs.
    pub fn name(self) -> &'static str {
        match self {
            UdpBackend::IoUring => "io_uring",
            UdpBackend::Mmsg => "mmsg",
        }
    }

    /// The backend named by [`BACKEND_ENV`] if set and valid, else `default` (e.g. from config);
    /// an unknown value is logged and ignored.
    pub fn from_env_or(default: UdpBackend) -> UdpBackend {
        Self::from_value_or(std::env::var(BACKEND_ENV).ok().as_deref(), default)
    }

    /// As [`from_env_or`](Self::from_env_or), for an already-read value.
    pub fn from_value_or(value: Option<&str>, default: UdpBackend) -> UdpBackend {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|err| {
                tracing::warn!(%err, default = default.name(), "ignoring {BACKEND_ENV}");
                default
            }),
        }
    }
}

impl Default for UdpBackend {
    /// io_uring: in `benches/udp.rs` on the 2-core reference machine its multishot receive took
    /// ≈ 1.35× the packets of `recvmmsg` (plain datagrams, one sender), and it was within noise of
    /// mmsg on GSO/GRO and fan-out; where it cannot be set up the receivers fall back to mmsg.
    fn default() -> Self {
        UdpBackend::IoUring
    }
}

impl fmt::Display for UdpBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend name that is neither `io_uring` nor `mmsg`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown UDP backend {0:?} (expected \"io_uring\" or \"mmsg\")")]
pub struct UnknownUdpBackend(pub String);

impl FromStr for UdpBackend {
    type Err = UnknownUdpBackend;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "io_uring" | "io-uring" | "iouring" | "uring" => Ok(UdpBackend::IoUring),
            "mmsg" => Ok(UdpBackend::Mmsg),
            other => Err(UnknownUdpBackend(other.to_owned())),
        }
    }
}

/// Per-socket options of [`UdpReceiver`] and [`UdpSender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpOptions {
    /// Receive with `UDP_GRO` (coalesced segments split into packets); turned off, with a warning,
    /// if the kernel refuses it.
    pub gro: bool,
    /// Send with `UDP_SEGMENT` where a destination gets several packets; turned off, with a
    /// warning, if the kernel refuses it.
    pub gso: bool,
    /// Provided buffers of an io_uring receiver without GRO (a power of two, 8..=32768).
    pub ring_entries: u32,
}

impl Default for UdpOptions {
    fn default() -> Self {
        UdpOptions {
            gro: false,
            gso: true,
            ring_entries: RING_ENTRIES_DEFAULT,
        }
    }
}

/// Counters of one receiver or sender (shareable with a metrics thread).
#[derive(Debug, Default)]
pub struct UdpStats {
    /// Packets received (after GRO splitting, oversized ones included).
    pub packets_in: AtomicU64,
    /// Receive calls that returned packets.
    pub batches_in: AtomicU64,
    /// Payload bytes received (as stored: oversized packets count their kept prefix).
    pub bytes_in: AtomicU64,
    /// Packets handed to the kernel.
    pub packets_out: AtomicU64,
    /// Send calls (`send`, `send_same_dest`, `send_grouped`) that sent something.
    pub batches_out: AtomicU64,
    /// Payload bytes handed to the kernel.
    pub bytes_out: AtomicU64,
    /// Sends cut short by a full socket buffer.
    pub would_block: AtomicU64,
    /// Failed system calls and datagrams that could not be used (no source address).
    pub errors: AtomicU64,
    /// Packets that arrived coalesced by GRO and were split out.
    pub gro_segments: AtomicU64,
}

impl UdpStats {
    fn add(&self, counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// How a backend's send of a plan ended.
struct SendOutcome {
    packets: usize,
    stop: Option<SendStop>,
}

/// Why a send stopped before the end of its plan.
enum SendStop {
    /// The socket buffer is full.
    WouldBlock,
    /// The kernel refused a GSO message with segments of `segment_bytes` (no segmentation
    /// offload on this path, or segments too large for it).
    GsoRefused { err: io::Error, segment_bytes: u16 },
    /// Any other failure.
    Failed(io::Error),
}

impl SendOutcome {
    fn done(packets: usize) -> SendOutcome {
        SendOutcome {
            packets,
            stop: None,
        }
    }

    fn failed(packets: usize, err: io::Error) -> SendOutcome {
        SendOutcome {
            packets,
            stop: Some(SendStop::Failed(err)),
        }
    }

    /// Classifies the error that stopped message `at` of `chunk`.
    fn stopped(packets: usize, (at, err): mmsg::Stop, chunk: &[WireMsg]) -> SendOutcome {
        let segment_bytes = chunk.get(at).map_or(0, |m| m.segment_bytes);
        let stop = if err.kind() == io::ErrorKind::WouldBlock {
            SendStop::WouldBlock
        } else if segment_bytes > 0
            && matches!(
                err.raw_os_error(),
                Some(libc::EIO | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOPROTOOPT)
            )
        {
            SendStop::GsoRefused { err, segment_bytes }
        } else {
            SendStop::Failed(err)
        };
        SendOutcome {
            packets,
            stop: Some(stop),
        }
    }
}

enum RecvInner {
    Mmsg(MmsgReceiver),
    Uring(Box<UringReceiver>),
}

/// Receives datagrams into [`PacketBatch`]es with the chosen backend.
pub struct UdpReceiver {
    inner: RecvInner,
    // After `inner`: an io_uring receiver must be torn down before its socket closes.
    socket: UdpSocket,
    backend: UdpBackend,
    gro: bool,
    stats: Arc<UdpStats>,
}

impl fmt::Debug for UdpReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpReceiver")
            .field("socket", &self.socket)
            .field("backend", &self.backend)
            .field("gro", &self.gro)
            .finish()
    }
}

impl UdpReceiver {
    /// A receiver on `socket` (bound, e.g. by [`bind_udp`](crate::packet::bind_udp); set blocking
    /// here). Falls back to mmsg, with a warning, when io_uring cannot be set up.
    pub fn new(socket: UdpSocket, backend: UdpBackend, opts: UdpOptions) -> io::Result<Self> {
        socket.set_nonblocking(false)?;
        let addr = socket.local_addr()?;
        let gro = opts.gro
            && gso::enable_gro(&socket)
                .inspect_err(
                    |err| tracing::warn!(%addr, %err, "UDP_GRO refused; receiving without"),
                )
                .is_ok();
        let (inner, backend, setup) = match backend {
            UdpBackend::IoUring => match UringReceiver::new(&socket, gro, opts.ring_entries) {
                Ok(r) => {
                    let setup = r.setup().name();
                    (RecvInner::Uring(Box::new(r)), UdpBackend::IoUring, setup)
                }
                Err(err) => {
                    tracing::warn!(%addr, %err, "io_uring unavailable for UDP receive; using recvmmsg");
                    (
                        RecvInner::Mmsg(MmsgReceiver::new(gro)),
                        UdpBackend::Mmsg,
                        "-",
                    )
                }
            },
            UdpBackend::Mmsg => (
                RecvInner::Mmsg(MmsgReceiver::new(gro)),
                UdpBackend::Mmsg,
                "-",
            ),
        };
        tracing::info!(%addr, backend = backend.name(), gro, io_uring_setup = setup, "UDP receiver ready");
        Ok(UdpReceiver {
            inner,
            socket,
            backend,
            gro,
            stats: Arc::default(),
        })
    }

    /// Replaces `batch`'s contents with the datagrams that arrive, waiting up to `timeout` for the
    /// first (zero: only what is already there). Returns the packets received, `Ok(0)` on timeout.
    ///
    /// Datagrams longer than [`PACKET_DATA_SIZE`] are truncated
    /// and flagged oversized; with GRO, coalesced segments become one packet each.
    pub fn recv(&mut self, batch: &mut PacketBatch, timeout: Duration) -> io::Result<usize> {
        batch.clear();
        self.recv_append(batch, timeout)
    }

    /// Like [`UdpReceiver::recv`], keeping the packets already in `batch`: datagrams fill its free
    /// room, waiting up to `timeout` for the first new one. Returns the packets added (0 at once
    /// when `batch` is full).
    pub fn recv_append(&mut self, batch: &mut PacketBatch, timeout: Duration) -> io::Result<usize> {
        let held = batch.len();
        if batch.is_full() {
            return Ok(0);
        }
        let stats = &*self.stats;
        let start = Instant::now();
        let mut wait = timeout;
        loop {
            let result = match &mut self.inner {
                RecvInner::Mmsg(m) => m.recv(&self.socket, batch, held, wait, stats),
                RecvInner::Uring(u) => u.recv(batch, held, wait, stats),
            };
            if let Err(err) = result {
                stats.add(&stats.errors, 1);
                return Err(err);
            }
            // A wait can end early without data: a signal or io_uring task-work notification
            // interrupts it (EINTR), and SO_RCVTIMEO counts in jiffies. Wait out the rest.
            let left = timeout.saturating_sub(start.elapsed());
            if batch.len() > held || left < RECV_WAIT_SLACK {
                break;
            }
            wait = left;
        }
        let n = batch.len() - held;
        if n > 0 {
            stats.add(&stats.packets_in, n);
            stats.add(&stats.batches_in, 1);
            let bytes: usize = batch.packets()[held..].iter().map(|p| p.data().len()).sum();
            stats.add(&stats.bytes_in, bytes);
        }
        Ok(n)
    }

    /// The backend in use (after any fallback).
    pub fn backend(&self) -> UdpBackend {
        self.backend
    }

    /// Whether GRO is on.
    pub fn gro(&self) -> bool {
        self.gro
    }

    /// The io_uring setup flags the kernel accepted, when the backend is io_uring.
    pub fn io_uring_setup(&self) -> Option<UringSetup> {
        match &self.inner {
            RecvInner::Uring(u) => Some(u.setup()),
            RecvInner::Mmsg(_) => None,
        }
    }

    /// The socket received on.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The receiver's counters.
    pub fn stats(&self) -> &Arc<UdpStats> {
        &self.stats
    }
}

enum SendInner {
    Mmsg,
    Uring(Box<UringSender>),
}

/// Sends datagrams with the chosen backend, using GSO where one destination gets several.
///
/// Sends never block: each returns how many packets (from the front of its input, in the order
/// stated) went to the kernel, stopping early at a full socket buffer (counted in
/// [`UdpStats::would_block`]) or at an error; the error is returned only if nothing was sent,
/// else the next call meets it again.
pub struct UdpSender {
    inner: SendInner,
    socket: UdpSocket,
    backend: UdpBackend,
    gso: bool,
    stats: Arc<UdpStats>,
    /// Reused by `send_grouped`: input indices in destination order.
    order: Vec<usize>,
    /// Reused by every send: the wire messages of the current call.
    plan: Vec<WireMsg>,
}

impl fmt::Debug for UdpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSender")
            .field("socket", &self.socket)
            .field("backend", &self.backend)
            .field("gso", &self.gso)
            .finish()
    }
}

impl UdpSender {
    /// A sender on `socket`. Probes GSO once (off, with a warning, if the kernel lacks it) and
    /// falls back to mmsg, with a warning, when io_uring cannot be set up.
    pub fn new(socket: UdpSocket, backend: UdpBackend, opts: UdpOptions) -> io::Result<Self> {
        let addr = socket.local_addr()?;
        let gso = opts.gso
            && gso::probe_gso(&socket)
                .inspect_err(|err| tracing::warn!(%addr, %err, "UDP_SEGMENT unsupported; sending without GSO"))
                .is_ok();
        let (inner, backend, setup) = match backend {
            UdpBackend::IoUring => match UringSender::new(&socket) {
                Ok(s) => {
                    let setup = s.setup().name();
                    (SendInner::Uring(Box::new(s)), UdpBackend::IoUring, setup)
                }
                Err(err) => {
                    tracing::warn!(%addr, %err, "io_uring unavailable for UDP send; using sendmmsg");
                    (SendInner::Mmsg, UdpBackend::Mmsg, "-")
                }
            },
            UdpBackend::Mmsg => (SendInner::Mmsg, UdpBackend::Mmsg, "-"),
        };
        tracing::info!(%addr, backend = backend.name(), gso, io_uring_setup = setup, "UDP sender ready");
        Ok(UdpSender {
            inner,
            socket,
            backend,
            gso,
            stats: Arc::default(),
            order: Vec::new(),
            plan: Vec::new(),
        })
    }

    /// Sends each `(payload, destination)` as its own datagram, in order, batched into as few
    /// system calls as the backend allows.
    pub fn send(&mut self, msgs: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
        self.transmit(msgs.len(), |i| msgs[i].1, |i| msgs[i].0, false)
    }

    /// Like [`UdpSender::send`], but waits out a full socket buffer (yielding the thread) until
    /// every message is sent; for senders that would rather slow down than drop (load generators,
    /// benches). Returns `msgs.len()` unless an error stops it.
    pub fn send_all(&mut self, msgs: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
        let mut sent = 0;
        while sent < msgs.len() {
            match self.send(&msgs[sent..]) {
                Ok(0) => std::thread::yield_now(),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// Sends `payloads` to `dest`, in order, as GSO super-datagrams (runs of equal-sized payloads,
    /// the last of a run may be shorter, at most 64 × and 64 KiB per run); per-packet datagrams
    /// where sizes break runs or GSO is off.
    pub fn send_same_dest(&mut self, dest: SocketAddr, payloads: &[&[u8]]) -> io::Result<usize> {
        self.transmit(payloads.len(), |_| dest, |i| payloads[i], true)
    }

    /// Sends a mixed batch grouped by destination, with GSO for each destination that gets two or
    /// more packets. The order sent (and so the prefix a short count means) is `msgs` stably
    /// sorted by destination.
    pub fn send_grouped(&mut self, msgs: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
        let mut order = mem::take(&mut self.order);
        order.clear();
        order.extend(0..msgs.len());
        order.sort_by_key(|&i| msgs[i].1);
        let result = self.transmit(msgs.len(), |k| msgs[order[k]].1, |k| msgs[order[k]].0, true);
        self.order = order;
        result
    }

    /// Plans and sends packets `0..n` (in the order `dest`/`payload` give), falling back to plain
    /// datagrams for good if the kernel refuses a GSO send.
    fn transmit<'a>(
        &mut self,
        n: usize,
        dest: impl Fn(usize) -> SocketAddr,
        payload: impl Fn(usize) -> &'a [u8],
        gso: bool,
    ) -> io::Result<usize> {
        let stats = Arc::clone(&self.stats);
        let mut sent = 0;
        let mut gso = gso;
        loop {
            let mut plan = mem::take(&mut self.plan);
            plan.clear();
            gso::plan(&mut plan, sent, n, &dest, &payload, gso && self.gso);
            let outcome = match &mut self.inner {
                SendInner::Mmsg => mmsg::send_plan(&self.socket, &plan, &payload),
                SendInner::Uring(u) => u.send_plan(&plan, &payload),
            };
            self.plan = plan;
            let now = sent + outcome.packets;
            stats.add(&stats.packets_out, outcome.packets);
            stats.add(
                &stats.bytes_out,
                (sent..now).map(|i| payload(i).len()).sum(),
            );
            sent = now;
            let result = match outcome.stop {
                None => Ok(sent),
                Some(SendStop::WouldBlock) => {
                    stats.add(&stats.would_block, 1);
                    Ok(sent)
                }
                Some(SendStop::GsoRefused { err, segment_bytes })
                    if usize::from(segment_bytes) > PACKET_DATA_SIZE
                        && err.raw_os_error() == Some(libc::EINVAL) =>
                {
                    // Segments larger than any path must carry may exceed this route's MTU:
                    // that says nothing about GSO itself, so only this call goes without.
                    tracing::debug!(%err, segment_bytes, "UDP_SEGMENT send refused; resending plainly");
                    gso = false;
                    continue;
                }
                Some(SendStop::GsoRefused { err, .. }) => {
                    tracing::warn!(
                        addr = ?self.socket.local_addr().ok(), %err,
                        "kernel refused a UDP_SEGMENT send; sending without GSO from now on"
                    );
                    self.gso = false;
                    continue;
                }
                Some(SendStop::Failed(err)) => {
                    stats.add(&stats.errors, 1);
                    if sent > 0 {
                        Ok(sent)
                    } else {
                        Err(err)
                    }
                }
            };
            if sent > 0 {
                stats.add(&stats.batches_out, 1);
            }
            return result;
        }
    }

    /// The backend in use (after any fallback).
    pub fn backend(&self) -> UdpBackend {
        self.backend
    }

    /// Whether GSO is (still) used.
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// The io_uring setup flags the kernel accepted, when the backend is io_uring.
    pub fn io_uring_setup(&self) -> Option<UringSetup> {
        match &self.inner {
            SendInner::Uring(u) => Some(u.setup()),
            SendInner::Mmsg => None,
        }
    }

    /// The socket sent from.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The sender's counters.
    pub fn stats(&self) -> &Arc<UdpStats> {
        &self.stats
    }
}
