//! Packet buffers and batched UDP I/O: the TPU's edge.
//!
//! Datagrams land in fixed-size [`Packet`]s inside preallocated [`PacketBatch`]es, received many at a
//! time with `recvmmsg`. Empty batches circulate through a bounded [`PacketBatchPool`], so the receive
//! path allocates nothing in steady state. Datagrams longer than [`PACKET_DATA_SIZE`] are flagged
//! [`PacketFlags::OVERSIZED`] (truncated, never parsed) rather than dropped silently, so that they can
//! be counted as [`Reject::Oversized`](crate::metrics::Reject::Oversized).
//!
//! Linux only: `recvmmsg`/`sendmmsg` are called through `libc`.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

use crate::metrics::{Reject, RejectCounters};
use crate::udp::{UdpBackend, UdpOptions, UdpReceiver};

/// Largest datagram payload we accept: Solana's `PACKET_DATA_SIZE` (IPv6 minimum MTU minus headers).
pub const PACKET_DATA_SIZE: usize = 1232;
/// Packets per [`PacketBatch`]: one `recvmmsg` call fills at most this many.
pub const PACKETS_PER_BATCH: usize = 64;
/// Placeholder address for packets whose source is unknown.
const UNSPECIFIED_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
/// How long the fetch thread blocks in one receive before it looks at its exit flag again.
pub const FETCH_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Non-blocking receives the fetch stage tries to top up a batch before handing it on.
const FETCH_COALESCE_TRIES: usize = 4;

/// Per-packet flags set by the receive path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketFlags(u8);

impl PacketFlags {
    /// The datagram was longer than [`PACKET_DATA_SIZE`]; the buffer holds only its first bytes.
    pub const OVERSIZED: PacketFlags = PacketFlags(1);
    /// Sent by a staked validator that forwarded it (Gulf Stream): never forwarded again.
    pub const FORWARDED: PacketFlags = PacketFlags(2);

    /// Whether every flag in `other` is set.
    pub fn contains(self, other: PacketFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the flags in `other`.
    pub fn insert(&mut self, other: PacketFlags) {
        self.0 |= other.0;
    }
}

/// One received datagram in a fixed-size buffer.
#[derive(Clone)]
pub struct Packet {
    buf: [u8; PACKET_DATA_SIZE],
    len: u16,
    addr: SocketAddr,
    flags: PacketFlags,
}

impl Default for Packet {
    fn default() -> Self {
        Packet {
            buf: [0; PACKET_DATA_SIZE],
            len: 0,
            addr: UNSPECIFIED_ADDR,
            flags: PacketFlags::default(),
        }
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len)
            .field("addr", &self.addr)
            .field("flags", &self.flags)
            .finish()
    }
}

impl Packet {
    /// The received bytes (at most [`PACKET_DATA_SIZE`]; a prefix if the packet is oversized).
    pub fn data(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// Where the datagram came from.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The receive path's flags.
    pub fn flags(&self) -> PacketFlags {
        self.flags
    }

    /// Whether the datagram was longer than [`PACKET_DATA_SIZE`] (and must not be parsed).
    pub fn is_oversized(&self) -> bool {
        self.flags.contains(PacketFlags::OVERSIZED)
    }

    /// Overwrites the packet with `data` from `addr`; longer data is truncated and flagged oversized.
    pub fn set(&mut self, data: &[u8], addr: SocketAddr) {
        let len = data.len().min(PACKET_DATA_SIZE);
        self.buf[..len].copy_from_slice(&data[..len]);
        self.len = len as u16;
        self.addr = addr;
        self.flags = PacketFlags::default();
        if data.len() > PACKET_DATA_SIZE {
            self.flags.insert(PacketFlags::OVERSIZED);
        }
    }
}

/// A reusable batch of up to [`PACKETS_PER_BATCH`] packets, allocated once.
#[derive(Debug)]
pub struct PacketBatch {
    packets: Box<[Packet]>,
    len: usize,
    /// When the first packet held arrived (how long the batch has queued, for admission).
    first_at: Option<Instant>,
}

impl Default for PacketBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl PacketBatch {
    /// An empty batch with room for [`PACKETS_PER_BATCH`] packets (one allocation of ~80 KiB).
    pub fn new() -> PacketBatch {
        PacketBatch {
            packets: vec![Packet::default(); PACKETS_PER_BATCH].into_boxed_slice(),
            len: 0,
            first_at: None,
        }
    }

    /// Packets in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no packets.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether no more packets fit.
    pub fn is_full(&self) -> bool {
        self.len == self.packets.len()
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.len = 0;
        self.first_at = None;
    }

    /// How long ago the first packet held arrived (zero when empty).
    pub fn waited(&self) -> Duration {
        self.first_at.map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Dates the batch's first packet (call before appending to it).
    fn note_arrival(&mut self) {
        if self.len == 0 {
            self.first_at = Some(Instant::now());
        }
    }

    /// The packets held.
    pub fn packets(&self) -> &[Packet] {
        &self.packets[..self.len]
    }

    /// Iterates over the packets held.
    pub fn iter(&self) -> std::slice::Iter<'_, Packet> {
        self.packets().iter()
    }

    /// Appends a copy of `data` (e.g. a transaction sent over RPC); `false` if the batch is full.
    pub fn push(&mut self, data: &[u8], addr: SocketAddr) -> bool {
        self.push_flagged(data, addr, PacketFlags::default())
    }

    /// [`PacketBatch::push`] with the receive path's `flags` set on the packet.
    pub fn push_flagged(&mut self, data: &[u8], addr: SocketAddr, flags: PacketFlags) -> bool {
        self.note_arrival();
        match self.packets.get_mut(self.len) {
            Some(p) => {
                p.set(data, addr);
                p.flags.insert(flags);
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

impl PacketBatch {
    /// Appends a copy of a received datagram's bytes (the receive paths that cannot land in the
    /// batch directly: GRO and io_uring's provided buffers). `oversized` marks a datagram the kernel
    /// truncated; data longer than [`PACKET_DATA_SIZE`] is truncated and flagged too. `false` if full.
    pub(crate) fn push_received(&mut self, data: &[u8], addr: SocketAddr, oversized: bool) -> bool {
        self.note_arrival();
        match self.packets.get_mut(self.len) {
            Some(p) => {
                p.set(data, addr);
                if oversized {
                    p.flags.insert(PacketFlags::OVERSIZED);
                }
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

impl<'a> IntoIterator for &'a PacketBatch {
    type Item = &'a Packet;
    type IntoIter = std::slice::Iter<'a, Packet>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A bounded pool of empty batches shared by the stage that fills them and the stages that recycle them.
///
/// `take` pops a batch or, when every batch is in flight, allocates one (counted in
/// [`allocated`](Self::allocated)); recycling into a full pool frees the batch. Memory is thus bounded
/// by the pool size plus the capacity of the queues between stages.
#[derive(Debug, Clone)]
pub struct PacketBatchPool {
    free_tx: Sender<PacketBatch>,
    free_rx: Receiver<PacketBatch>,
    allocated: Arc<AtomicU64>,
}

impl PacketBatchPool {
    /// A pool holding `batches` preallocated empty batches (and room for no more).
    pub fn new(batches: usize) -> PacketBatchPool {
        let (free_tx, free_rx) = crossbeam_channel::bounded(batches.max(1));
        for _ in 0..batches {
            // Cannot fail: the channel has room for exactly `batches`.
            let _ = free_tx.try_send(PacketBatch::new());
        }
        PacketBatchPool {
            free_tx,
            free_rx,
            allocated: Arc::new(AtomicU64::new(0)),
        }
    }

    /// An empty batch: from the pool, or newly allocated when the pool is empty.
    pub fn take(&self) -> PacketBatch {
        match self.free_rx.try_recv() {
            Ok(mut batch) => {
                batch.clear();
                batch
            }
            Err(_) => {
                self.allocated.fetch_add(1, Ordering::Relaxed);
                PacketBatch::new()
            }
        }
    }

    /// Returns a batch to the pool (dropping it if the pool is full).
    pub fn recycle(&self, mut batch: PacketBatch) {
        batch.clear();
        let _ = self.free_tx.try_send(batch);
    }

    /// The sending end later stages use to hand batches back (they should `clear` them first).
    pub fn recycler(&self) -> Sender<PacketBatch> {
        self.free_tx.clone()
    }

    /// Batches allocated because the pool was empty: zero in steady state.
    pub fn allocated(&self) -> u64 {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Empty batches currently in the pool.
    pub fn available(&self) -> usize {
        self.free_rx.len()
    }
}

/// Receives with one `recvmmsg` call (`flags` as given) straight into `batch`'s free packet buffers.
pub(crate) fn recv_into(
    socket: &UdpSocket,
    batch: &mut PacketBatch,
    flags: libc::c_int,
) -> io::Result<usize> {
    let start = batch.len;
    let mut addrs: [SockAddrStorage; PACKETS_PER_BATCH] =
        std::array::from_fn(|_| SockAddrStorage::zeroed());
    // SAFETY: all-zero bytes are a valid value of these plain C structs (null pointers, zero lengths).
    let mut iovs: [libc::iovec; PACKETS_PER_BATCH] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; PACKETS_PER_BATCH] = unsafe { mem::zeroed() };
    let count = batch
        .packets
        .len()
        .min(PACKETS_PER_BATCH)
        .saturating_sub(start);
    if count == 0 {
        return Ok(0);
    }
    for (i, packet) in batch.packets[start..].iter_mut().take(count).enumerate() {
        iovs[i] = libc::iovec {
            iov_base: packet.buf.as_mut_ptr().cast(),
            iov_len: PACKET_DATA_SIZE,
        };
        let hdr = &mut hdrs[i].msg_hdr;
        hdr.msg_namelen = addrs[i].size_of();
        hdr.msg_name = (&mut addrs[i] as *mut SockAddrStorage).cast();
        hdr.msg_iov = &mut iovs[i];
        hdr.msg_iovlen = 1;
    }
    // SAFETY: the first `count` headers point at live, writable buffers of the stated lengths (packet
    // buffers owned by `batch`, and the local `iovs`/`addrs`), none of which moves or is read before
    // the call returns; the kernel writes at most those lengths.
    let received = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            hdrs.as_mut_ptr(),
            count as libc::c_uint,
            flags,
            std::ptr::null_mut(),
        )
    };
    if received < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => {
                Ok(0)
            }
            _ => Err(err),
        };
    }
    let received = received as usize;
    if received > 0 {
        batch.note_arrival();
    }
    for (i, packet) in batch.packets[start..].iter_mut().take(received).enumerate() {
        let hdr = &hdrs[i];
        let len = hdr.msg_len as usize;
        packet.len = len.min(PACKET_DATA_SIZE) as u16;
        packet.flags = PacketFlags::default();
        if hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 || len > PACKET_DATA_SIZE {
            packet.flags.insert(PacketFlags::OVERSIZED);
        }
        let storage = mem::replace(&mut addrs[i], SockAddrStorage::zeroed());
        // SAFETY: the kernel wrote the sender's address into the first `msg_namelen` bytes.
        let addr = unsafe { SockAddr::new(storage, hdr.msg_hdr.msg_namelen) };
        packet.addr = addr.as_socket().unwrap_or(UNSPECIFIED_ADDR);
    }
    batch.len = start + received;
    Ok(received)
}

/// Binds a UDP socket with the asked-for kernel buffer sizes and returns the sizes the kernel granted.
///
/// The granted sizes are what `getsockopt` reports (Linux doubles the asked value for bookkeeping and
/// caps it at twice `net.core.rmem_max`/`wmem_max`). When less than asked, logs a warning: packets
/// will drop under load until the sysctl limits are raised.
pub fn bind_udp(
    addr: SocketAddr,
    recv_buffer_bytes: usize,
    send_buffer_bytes: usize,
) -> io::Result<(UdpSocket, usize, usize)> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Sized before bind so no datagram arrives into a default-sized queue.
    socket.set_recv_buffer_size(recv_buffer_bytes)?;
    socket.set_send_buffer_size(send_buffer_bytes)?;
    socket.bind(&addr.into())?;
    let granted_rcv = granted_buffer_bytes(socket.recv_buffer_size()?);
    let granted_snd = granted_buffer_bytes(socket.send_buffer_size()?);
    tracing::info!(
        %addr, recv_buffer_bytes = granted_rcv, send_buffer_bytes = granted_snd,
        "UDP socket bound"
    );
    if granted_rcv < recv_buffer_bytes {
        tracing::warn!(
            %addr, asked_bytes = recv_buffer_bytes, granted_bytes = granted_rcv,
            "UDP receive buffer smaller than asked; run tuning/tune.sh to raise net.core.rmem_max"
        );
    }
    if granted_snd < send_buffer_bytes {
        tracing::warn!(
            %addr, asked_bytes = send_buffer_bytes, granted_bytes = granted_snd,
            "UDP send buffer smaller than asked; run tuning/tune.sh to raise net.core.wmem_max"
        );
    }
    Ok((socket.into(), granted_rcv, granted_snd))
}

/// The buffer size a socket was granted, from what `getsockopt` reports: Linux doubles the value
/// it sets (the other half pays for its bookkeeping, see socket(7)), so comparing the report with
/// the request would hide a grant of anything above half of it.
fn granted_buffer_bytes(reported: usize) -> usize {
    if cfg!(target_os = "linux") {
        reported / 2
    } else {
        reported
    }
}

/// Counters of the fetch stage.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// Datagrams received (oversized ones included).
    pub packets: AtomicU64,
    /// Batches handed to the next stage.
    pub batches: AtomicU64,
    /// Receive errors other than timeouts.
    pub errors: AtomicU64,
}

/// The receiver thread: fills batches from a UDP socket and hands them on, never blocking on the queue.
#[derive(Debug)]
pub struct FetchStage {
    thread: JoinHandle<()>,
    stats: Arc<FetchStats>,
}

impl FetchStage {
    /// Spawns the receiver thread on `socket` with the `backend` of the [`udp`](crate::udp) module
    /// (io_uring or `recvmmsg`, as every other socket of the node), drawing empty batches from
    /// `pool` and sending full ones to `out`; a full `out` queue drops the batch and counts its
    /// packets as [`Reject::QueueFull`]. Receives wait at most [`FETCH_POLL_INTERVAL`]; the thread
    /// ends within that time of `exit` being set, or when `out` is disconnected.
    pub fn spawn(
        socket: UdpSocket,
        backend: UdpBackend,
        pool: PacketBatchPool,
        out: Sender<PacketBatch>,
        counters: Arc<RejectCounters>,
        exit: Arc<AtomicBool>,
    ) -> io::Result<FetchStage> {
        let mut receiver = UdpReceiver::new(socket, backend, UdpOptions::default())?;
        let stats = Arc::new(FetchStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("bb-fetch".into())
            .spawn(move || {
                fetch_loop(&mut receiver, &pool, &out, &counters, &exit, &thread_stats)
            })?;
        Ok(FetchStage { thread, stats })
    }

    /// The stage's counters.
    pub fn stats(&self) -> &Arc<FetchStats> {
        &self.stats
    }

    /// Waits for the thread to end (set the exit flag first).
    pub fn join(self) -> std::thread::Result<()> {
        self.thread.join()
    }
}

fn fetch_loop(
    receiver: &mut UdpReceiver,
    pool: &PacketBatchPool,
    out: &Sender<PacketBatch>,
    counters: &RejectCounters,
    exit: &AtomicBool,
    stats: &FetchStats,
) {
    let mut batch = pool.take();
    while !exit.load(Ordering::Relaxed) {
        match receiver.recv_append(&mut batch, FETCH_POLL_INTERVAL) {
            Ok(0) if batch.is_empty() => {}
            Ok(mut n) => {
                // Coalesce: take what else is already queued before handing the batch on, so a
                // stream of datagrams travels in full batches rather than one queue slot each.
                for _ in 0..FETCH_COALESCE_TRIES {
                    match receiver.recv_append(&mut batch, Duration::ZERO) {
                        Ok(k) if k > 0 => n += k,
                        _ => break,
                    }
                }
                stats.packets.fetch_add(n as u64, Ordering::Relaxed);
                batch = match out.try_send(batch) {
                    Ok(()) => {
                        stats.batches.fetch_add(1, Ordering::Relaxed);
                        pool.take()
                    }
                    // While the next stage is busy, keep filling the held batch (so a full queue
                    // holds full batches); only a full batch that still finds no room is dropped,
                    // which keeps the socket drained — the kernel would drop them anyway.
                    Err(TrySendError::Full(mut held)) => {
                        if held.is_full() {
                            counters.add_n(Reject::QueueFull, held.len() as u64);
                            held.clear();
                        }
                        held
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                };
            }
            Err(err) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%err, "UDP receive failed");
                // Avoid spinning on a persistent error while still noticing `exit` promptly.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    // Packets still held at shutdown never reach the next stage: count them.
    if !batch.is_empty() {
        counters.add_n(Reject::QueueFull, batch.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCALHOST: &str = "127.0.0.1:0";

    fn receiver() -> UdpSocket {
        let (socket, _, _) = bind_udp(LOCALHOST.parse().unwrap(), 1 << 20, 1 << 20).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket
    }

    fn sender() -> crate::udp::UdpSender {
        let socket = UdpSocket::bind(LOCALHOST).unwrap();
        crate::udp::UdpSender::new(socket, UdpBackend::Mmsg, UdpOptions::default()).unwrap()
    }

    fn payload(i: usize, len: usize) -> Vec<u8> {
        let mut p = vec![(i % 251) as u8; len];
        p[..4].copy_from_slice(&(i as u32).to_le_bytes());
        p
    }

    fn addressed(payloads: &[Vec<u8>], dest: SocketAddr) -> Vec<(&[u8], SocketAddr)> {
        payloads.iter().map(|p| (p.as_slice(), dest)).collect()
    }

    fn index_of(data: &[u8]) -> usize {
        u32::from_le_bytes(data[..4].try_into().unwrap()) as usize
    }

    #[test]
    fn batch_push_and_pool_recycling() {
        let mut batch = PacketBatch::new();
        let addr: SocketAddr = "10.0.0.1:9".parse().unwrap();
        for i in 0..PACKETS_PER_BATCH {
            assert!(batch.push(&payload(i, 10), addr));
        }
        assert!(batch.is_full());
        assert!(!batch.push(b"x", addr));
        assert!(!batch.push(&[0; 2000], addr));
        batch.clear();
        assert!(batch.push(&[7; 2000], addr));
        assert!(batch.packets()[0].is_oversized());
        assert_eq!(batch.packets()[0].data().len(), PACKET_DATA_SIZE);

        let pool = PacketBatchPool::new(2);
        let (x, y) = (pool.take(), pool.take());
        assert_eq!(pool.allocated(), 0);
        let z = pool.take();
        assert_eq!(pool.allocated(), 1);
        pool.recycle(x);
        pool.recycle(y);
        pool.recycle(z); // pool full: dropped
        assert_eq!(pool.available(), 2);
        assert!(pool.take().is_empty());
    }

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn fetch_stage_delivers_batches_without_allocating() {
        let rx = receiver();
        let dest = rx.local_addr().unwrap();
        let mut tx = sender();
        let pool = PacketBatchPool::new(56);
        // Room for a batch per packet of a burst: the queue never fills, so nothing may be dropped.
        let (out_tx, out_rx) = crossbeam_channel::bounded(50);
        let counters = Arc::new(RejectCounters::default());
        let exit = Arc::new(AtomicBool::new(false));
        let stage = FetchStage::spawn(
            rx,
            UdpBackend::IoUring,
            pool.clone(),
            out_tx,
            Arc::clone(&counters),
            Arc::clone(&exit),
        )
        .unwrap();
        let recycler = pool.recycler();
        let payloads: Vec<Vec<u8>> = (0..500).map(|i| payload(i, 300)).collect();
        let mut got = Vec::new();
        for burst in payloads.chunks(50) {
            let msgs = addressed(burst, dest);
            tx.send_all(&msgs).unwrap();
            let want = got.len() + burst.len();
            while got.len() < want {
                let mut batch: PacketBatch = out_rx.recv_timeout(Duration::from_secs(10)).unwrap();
                got.extend(batch.iter().map(|p| index_of(p.data())));
                batch.clear();
                recycler.send(batch).unwrap();
            }
        }
        got.sort_unstable();
        assert_eq!(got, (0..500).collect::<Vec<_>>());
        assert_eq!(stage.stats().packets.load(Ordering::Relaxed), 500);
        assert_eq!(counters.get(Reject::QueueFull), 0);
        // At most 1 (fetch) + 50 (queue) + 1 (consumer) batches are ever out of a 56-batch pool.
        assert_eq!(pool.allocated(), 0);
        exit.store(true, Ordering::Relaxed);
        stage.join().unwrap();
    }

    #[test]
    fn a_batch_dates_its_first_packet_until_cleared() {
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut batch = PacketBatch::new();
        assert_eq!(batch.waited(), Duration::ZERO);
        batch.push(b"first", from);
        std::thread::sleep(Duration::from_millis(20));
        batch.push(b"second", from);
        // Dated by the first packet, not the last.
        assert!(batch.waited() >= Duration::from_millis(20));
        batch.clear();
        assert_eq!(batch.waited(), Duration::ZERO);
        batch.push(b"again", from);
        assert!(batch.waited() < Duration::from_millis(20));
    }

    #[test]
    fn fetch_stage_counts_queue_full_and_keeps_receiving() {
        let rx = receiver();
        let dest = rx.local_addr().unwrap();
        let mut tx = sender();
        let pool = PacketBatchPool::new(4);
        // Nobody consumes: the single queue slot fills and later batches must be dropped, counted.
        let (out_tx, out_rx) = crossbeam_channel::bounded(1);
        let counters = Arc::new(RejectCounters::default());
        let exit = Arc::new(AtomicBool::new(false));
        let stage = FetchStage::spawn(
            rx,
            UdpBackend::Mmsg,
            pool,
            out_tx,
            Arc::clone(&counters),
            Arc::clone(&exit),
        )
        .unwrap();
        let payloads: Vec<Vec<u8>> = (0..300).map(|i| payload(i, 100)).collect();
        for (n, burst) in payloads.chunks(30).enumerate() {
            let msgs = addressed(burst, dest);
            tx.send_all(&msgs).unwrap();
            let want = ((n + 1) * 30) as u64;
            wait_until("fetch to receive the burst", || {
                stage.stats().packets.load(Ordering::Relaxed) == want
            });
        }
        exit.store(true, Ordering::Relaxed);
        let stats = Arc::clone(stage.stats());
        stage.join().unwrap();
        let queued: usize = out_rx.try_iter().map(|b| b.len()).sum();
        assert!(queued > 0);
        assert!(counters.get(Reject::QueueFull) > 0);
        assert_eq!(
            queued as u64 + counters.get(Reject::QueueFull),
            stats.packets.load(Ordering::Relaxed)
        );
    }

    #[test]
    fn bind_udp_reports_granted_buffers() {
        let (socket, rcv, snd) = bind_udp(LOCALHOST.parse().unwrap(), 64 << 10, 32 << 10).unwrap();
        assert!(socket.local_addr().unwrap().port() != 0);
        assert!(rcv > 0 && snd > 0);
        // Asking for far more than any default limit is granted only partly, and still binds.
        let (_s, rcv_big, snd_big) =
            bind_udp(LOCALHOST.parse().unwrap(), 1 << 30, 1 << 30).unwrap();
        assert!(rcv_big < 1 << 30);
        // The grant is what the request got, capped by the kernel's limit, not the doubled value
        // the kernel reports (which would hide a shortfall of up to half).
        let limit = |name: &str| -> usize {
            std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let (rmem_max, wmem_max) = (limit("rmem_max"), limit("wmem_max"));
        assert_eq!((rcv_big, snd_big), (rmem_max, wmem_max));
        let asked = (rmem_max / 2).max(4096);
        let (_s, rcv, _) = bind_udp(LOCALHOST.parse().unwrap(), asked, 4096).unwrap();
        assert_eq!(rcv, asked);
    }
}
