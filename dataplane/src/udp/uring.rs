//! The io_uring backend: a multishot `recvmsg` over a provided-buffer ring, and `sendmsg` chains.
//!
//! Receive: one multishot `RECVMSG` request stays armed; the kernel picks a buffer from a ring we
//! provide for every datagram and posts a completion, so one `io_uring_enter` harvests as many
//! datagrams as arrived. The provided buffers belong to the ring, not to the caller's batch (which
//! leaves the receiver between calls), so each datagram is copied once into the batch: ~1.2 KB of
//! memcpy, tens of nanoseconds, against the ≈ 1 µs per-datagram syscall work it saves.
//!
//! Send: one `SENDMSG` request per wire message, linked so that the first failure cancels the rest
//! (what was sent is always a prefix), submitted and reaped with one `io_uring_enter`.
//!
//! Rings are set up with `SINGLE_ISSUER | DEFER_TASKRUN` when the kernel accepts them (completion
//! work then runs only when we ask for events, on our thread, without interrupts) and created
//! disabled, so the thread that first uses the ring becomes its issuer; else without them.

use std::alloc::{self, Layout};
use std::io;
use std::mem;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::{BufRingEntry, Fd, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};
use socket2::SockAddr;

use super::gso::{self, GsoCmsg, WireMsg, GRO_BUFFER_BYTES, RECV_CONTROL_BYTES};
use super::mmsg::{take_chunk, SEND_IOVS_MAX, SEND_MSGS_MAX};
use super::{SendOutcome, UdpStats};
use crate::packet::{PacketBatch, PACKET_DATA_SIZE};

/// `IORING_ENTER_GETEVENTS` (the crate keeps its raw constants private).
const ENTER_GETEVENTS: u32 = 1;
/// Completion tag of the multishot receive.
const RECV_TAG: u64 = u64::MAX;
/// Completion tag of the cancel sent when a receiver is dropped.
const CANCEL_TAG: u64 = u64::MAX - 1;
/// The provided-buffer group of a receiver's ring (one group per ring).
const BUF_GROUP: u16 = 0;
/// Provided buffers of a GRO receiver: 32 × ~64 KiB ≈ 2 MiB (each holds up to 64 segments).
const GRO_RING_BUFFERS: u16 = 32;
/// Largest provided-buffer ring the kernel accepts.
const RING_BUFFERS_MAX: u32 = 1 << 15;
/// Source-address room in each provided buffer: a `sockaddr_in6`, the larger of the two.
const NAME_BYTES: usize = mem::size_of::<libc::sockaddr_in6>();
/// Header the kernel puts at the front of each multishot receive buffer.
const RECVMSG_OUT_BYTES: usize = 16;
/// How long a dropped receiver waits for the kernel to confirm its receive is cancelled.
const CANCEL_WAIT: Duration = Duration::from_millis(200);

#[cfg(test)]
std::thread_local! {
    /// Makes ring setup fail on this thread, as on a kernel that refuses io_uring (tests only).
    pub(super) static SETUP_REFUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Which io_uring setup flags the kernel accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UringSetup {
    /// `SINGLE_ISSUER | DEFER_TASKRUN` (Linux ≥ 6.1).
    SingleIssuerDeferTaskrun,
    /// No optional flags.
    Plain,
}

impl UringSetup {
    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            UringSetup::SingleIssuerDeferTaskrun => "single_issuer+defer_taskrun",
            UringSetup::Plain => "plain",
        }
    }
}

/// A ring plus what its setup allowed.
struct Ring {
    ring: IoUring,
    setup: UringSetup,
    /// Whether the (disabled-at-creation) ring has been enabled by its issuing thread.
    enabled: bool,
    /// Set after a failed `io_uring_enter`: queued entries may point at freed memory, so the ring
    /// must never be entered again.
    poisoned: bool,
}

impl Ring {
    /// A ring of `sq_entries` submissions and `cq_entries` completions, with the optional flags if
    /// the kernel takes them.
    fn new(sq_entries: u32, cq_entries: u32) -> io::Result<Ring> {
        #[cfg(test)]
        if SETUP_REFUSED.get() {
            // What `kernel.io_uring_disabled=2` or a seccomp filter answers.
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        let mut builder = IoUring::builder();
        builder
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_r_disabled()
            .setup_cqsize(cq_entries);
        match builder.build(sq_entries) {
            Ok(ring) => Ok(Ring {
                ring,
                setup: UringSetup::SingleIssuerDeferTaskrun,
                enabled: false,
                poisoned: false,
            }),
            Err(err) => {
                tracing::debug!(%err, "io_uring refused SINGLE_ISSUER|DEFER_TASKRUN; trying without");
                let ring = IoUring::builder()
                    .setup_cqsize(cq_entries)
                    .build(sq_entries)?;
                Ok(Ring {
                    ring,
                    setup: UringSetup::Plain,
                    enabled: true,
                    poisoned: false,
                })
            }
        }
    }

    /// Enables the ring on first use, making the calling thread its single issuer.
    fn enable(&mut self) -> io::Result<()> {
        if self.poisoned {
            return Err(io::Error::other(
                "io_uring ring unusable after a failed enter",
            ));
        }
        if !self.enabled {
            self.ring.submitter().register_enable_rings()?;
            self.enabled = true;
        }
        Ok(())
    }

    /// Submits what is queued and waits up to `timeout` for a completion (none: just collects
    /// what is ready, which with `DEFER_TASKRUN` still needs the syscall to run completion work).
    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        let rc = if timeout.is_zero() {
            let queued = self.ring.submission().len() as u32;
            // SAFETY: no argument is passed; the flags and counts are plain values.
            unsafe {
                self.ring
                    .submitter()
                    .enter::<libc::sigset_t>(queued, 0, ENTER_GETEVENTS, None)
            }
        } else {
            let ts = Timespec::new()
                .sec(timeout.as_secs())
                .nsec(timeout.subsec_nanos());
            self.ring
                .submitter()
                .submit_with_args(1, &SubmitArgs::new().timespec(&ts))
        };
        match rc {
            Ok(_) => Ok(()),
            Err(err) => match err.raw_os_error() {
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) => Ok(()),
                _ => {
                    self.poisoned = true;
                    Err(err)
                }
            },
        }
    }
}

/// A provided-buffer ring: the ring of buffer descriptors the kernel takes from, and the buffers.
struct BufRing {
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    data: *mut u8,
    data_layout: Layout,
    count: u16,
    buf_bytes: usize,
    /// Our copy of the ring's tail (the kernel reads the shared one).
    tail: u16,
    /// Set when the kernel may still write into the buffers: they are then never freed.
    leak: bool,
}

impl BufRing {
    /// `count` (a power of two) buffers of `buf_bytes` each, zeroed.
    fn new(count: u16, buf_bytes: usize) -> io::Result<BufRing> {
        let oom = || io::Error::new(io::ErrorKind::OutOfMemory, "provided-buffer ring");
        // The kernel wants the descriptor ring page-aligned.
        let entries_layout =
            Layout::from_size_align(usize::from(count) * mem::size_of::<BufRingEntry>(), 4096)
                .map_err(|_| oom())?;
        let data_layout =
            Layout::from_size_align(usize::from(count) * buf_bytes, 64).map_err(|_| oom())?;
        // SAFETY: both layouts have non-zero size (count ≥ 1, buf_bytes ≥ 1).
        let entries = unsafe { alloc::alloc_zeroed(entries_layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(oom());
        }
        // SAFETY: as above.
        let data = unsafe { alloc::alloc_zeroed(data_layout) };
        if data.is_null() {
            // SAFETY: allocated just above with this layout.
            unsafe { alloc::dealloc(entries.cast(), entries_layout) };
            return Err(oom());
        }
        Ok(BufRing {
            entries,
            entries_layout,
            data,
            data_layout,
            count,
            buf_bytes,
            tail: 0,
            leak: false,
        })
    }

    /// Queues buffer `bid` for the kernel (visible after [`publish`](Self::publish)).
    fn provide(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.count - 1));
        // SAFETY: `slot < count`, inside the descriptor allocation; `bid < count` (checked by every
        // caller), so the address is inside the data allocation. The kernel reads a descriptor only
        // once the tail covers it, which happens in `publish`, after this write.
        unsafe {
            let entry = &mut *self.entries.add(slot);
            entry.set_addr(self.data.add(usize::from(bid) * self.buf_bytes) as u64);
            entry.set_len(self.buf_bytes as u32);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the provided buffers visible to the kernel.
    fn publish(&self) {
        // SAFETY: `entries` is the ring's page-aligned base; the tail is a u16 inside the first
        // descriptor, shared with the kernel, so it is written atomically with release ordering
        // (the descriptors written before must be visible first).
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast_mut();
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }

    /// The first `len` bytes of buffer `bid`, which the kernel has handed back to us.
    fn bytes(&self, bid: u16, len: usize) -> &[u8] {
        // SAFETY: `bid < count` (checked by callers) and `len` is clamped to the buffer, so the
        // slice is inside the allocation; the kernel does not write a buffer after returning it
        // until we provide it again, which needs `&mut self`.
        unsafe {
            std::slice::from_raw_parts(
                self.data.add(usize::from(bid) * self.buf_bytes),
                len.min(self.buf_bytes),
            )
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.leak {
            return;
        }
        // SAFETY: allocated in `new` with these layouts, freed once.
        unsafe {
            alloc::dealloc(self.entries.cast(), self.entries_layout);
            alloc::dealloc(self.data, self.data_layout);
        }
    }
}

/// A datagram partly split into the caller's batch (it filled up), still holding its buffer.
#[derive(Debug, Clone, Copy)]
struct Pending {
    bid: u16,
    payload_start: usize,
    payload_len: usize,
    segment_bytes: usize,
    addr: SocketAddr,
    truncated: bool,
    offset: usize,
}

/// The receive side of the io_uring backend.
pub(super) struct UringReceiver {
    // Declared first so it is dropped (closing the ring) before the buffers the kernel writes into.
    ring: Ring,
    bufs: BufRing,
    /// Template of the multishot receive: only its name and control lengths matter to the kernel.
    msghdr: Box<libc::msghdr>,
    fd: RawFd,
    gro: bool,
    armed: bool,
    pending: Option<Pending>,
}

// SAFETY: the raw pointers are to heap memory owned by this value alone; the kernel side of the
// ring moves with it. A `SINGLE_ISSUER` ring is bound to the thread that first uses it, which
// the type's docs state (a call from another thread fails with an error, it is not unsound).
unsafe impl Send for UringReceiver {}

impl UringReceiver {
    /// Sets up a ring with `buffers` provided buffers (rounded to a power of two; with GRO, a
    /// fixed smaller number of 64 KiB ones) for receiving on `socket`.
    pub fn new(socket: &UdpSocket, gro: bool, buffers: u32) -> io::Result<UringReceiver> {
        let count = if gro {
            GRO_RING_BUFFERS
        } else {
            buffers.clamp(8, RING_BUFFERS_MAX).next_power_of_two() as u16
        };
        let control = if gro { RECV_CONTROL_BYTES } else { 0 };
        let payload = if gro {
            GRO_BUFFER_BYTES
        } else {
            PACKET_DATA_SIZE
        };
        let buf_bytes = RECVMSG_OUT_BYTES + NAME_BYTES + control + payload;
        // Each buffer yields at most one completion before it is provided again; room for the
        // terminating ones and the cancel on top.
        let ring = Ring::new(8, u32::from(count) * 2)?;
        let mut bufs = BufRing::new(count, buf_bytes)?;
        for bid in 0..count {
            bufs.provide(bid);
        }
        bufs.publish();
        // SAFETY: `entries` is page-aligned, holds `count` descriptors, and lives (in `bufs`,
        // stored beside the ring and dropped after it, or leaked) as long as the ring.
        unsafe {
            ring.ring.submitter().register_buf_ring_with_flags(
                bufs.entries as u64,
                count,
                BUF_GROUP,
                0,
            )?;
        }
        // SAFETY: all-zero bytes are a valid `msghdr`.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { mem::zeroed() });
        msghdr.msg_namelen = NAME_BYTES as libc::socklen_t;
        msghdr.msg_controllen = control as _;
        Ok(UringReceiver {
            ring,
            bufs,
            msghdr,
            fd: socket.as_raw_fd(),
            gro,
            armed: false,
            pending: None,
        })
    }

    /// The setup flags the kernel accepted.
    pub fn setup(&self) -> UringSetup {
        self.ring.setup
    }

    /// Receives into `batch`'s free room (its first `held` packets kept), waiting up to `timeout`
    /// for the first new datagram.
    pub fn recv(
        &mut self,
        batch: &mut PacketBatch,
        held: usize,
        timeout: Duration,
        stats: &UdpStats,
    ) -> io::Result<usize> {
        self.ring.enable()?;
        self.drain_pending(batch, stats);
        if batch.is_full() {
            self.bufs.publish();
            return Ok(batch.len());
        }
        if !self.armed {
            self.arm()?;
        }
        let ready = self.ring.ring.completion().len();
        if ready == 0 || !self.ring.ring.submission().is_empty() {
            // Wait only while nothing new is in hand.
            let wait = if batch.len() == held && ready == 0 {
                timeout
            } else {
                Duration::ZERO
            };
            self.ring.wait(wait)?;
        }
        let err = self.reap(batch, stats);
        self.bufs.publish();
        match err {
            Some(err) if batch.len() == held => Err(err),
            _ => Ok(batch.len()),
        }
    }

    /// Queues the multishot receive (submitted with the next wait).
    fn arm(&mut self) -> io::Result<()> {
        let msghdr: *const libc::msghdr = &*self.msghdr;
        let sqe = opcode::RecvMsgMulti::new(Fd(self.fd), msghdr, BUF_GROUP)
            .build()
            .user_data(RECV_TAG);
        // SAFETY: the msghdr is boxed and lives as long as the ring; the buffer group is registered.
        unsafe { self.ring.ring.submission().push(&sqe) }
            .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        self.armed = true;
        Ok(())
    }

    /// Finishes splitting a datagram that did not fit the last batch.
    fn drain_pending(&mut self, batch: &mut PacketBatch, stats: &UdpStats) {
        let Some(mut p) = self.pending.take() else {
            return;
        };
        let buf = self.bufs.bytes(p.bid, p.payload_start + p.payload_len);
        let payload = buf.get(p.payload_start..).unwrap_or(&[]);
        let added = gso::split_into(
            batch,
            payload,
            p.segment_bytes,
            p.addr,
            p.truncated,
            &mut p.offset,
        );
        if p.segment_bytes > 0 {
            stats.add(&stats.gro_segments, added);
        }
        if gso::split_done(p.offset, p.payload_len) {
            self.bufs.provide(p.bid);
        } else {
            self.pending = Some(p);
        }
    }

    /// Takes completions into `batch` until it is full or none are left; returns the last error.
    fn reap(&mut self, batch: &mut PacketBatch, stats: &UdpStats) -> Option<io::Error> {
        let mut last_err = None;
        let mut cq = self.ring.ring.completion();
        while !batch.is_full() {
            let Some(cqe) = cq.next() else { break };
            if cqe.user_data() != RECV_TAG {
                continue;
            }
            let flags = cqe.flags();
            if !cqueue::more(flags) {
                // The multishot ended (out of buffers, or an error): re-armed below.
                self.armed = false;
            }
            let res = cqe.result();
            if res < 0 {
                // Out of buffers is back-pressure, not an error: datagrams wait in the socket.
                if res != -libc::ENOBUFS {
                    stats.add(&stats.errors, 1);
                    last_err = Some(io::Error::from_raw_os_error(-res));
                }
                continue;
            }
            let Some(bid) = cqueue::buffer_select(flags).filter(|&b| b < self.bufs.count) else {
                stats.add(&stats.errors, 1);
                continue;
            };
            let buf = self.bufs.bytes(bid, res as usize);
            let Ok(out) = RecvMsgOut::parse(buf, &self.msghdr) else {
                stats.add(&stats.errors, 1);
                self.bufs.provide(bid);
                continue;
            };
            let Some(addr) = gso::parse_sockaddr(out.name_data()) else {
                // No usable source address: drop it rather than attribute it to a made-up sender.
                stats.add(&stats.errors, 1);
                self.bufs.provide(bid);
                continue;
            };
            let segment_bytes = if self.gro {
                gso::gro_segment_size(out.control_data()).unwrap_or(0)
            } else {
                0
            };
            let payload = out.payload_data();
            let mut p = Pending {
                bid,
                payload_start: payload.as_ptr() as usize - buf.as_ptr() as usize,
                payload_len: payload.len(),
                segment_bytes,
                addr,
                truncated: out.is_payload_truncated(),
                offset: 0,
            };
            let added = gso::split_into(
                batch,
                payload,
                segment_bytes,
                addr,
                p.truncated,
                &mut p.offset,
            );
            if segment_bytes > 0 && payload.len() > segment_bytes {
                stats.add(&stats.gro_segments, added);
            }
            if gso::split_done(p.offset, p.payload_len) {
                self.bufs.provide(bid);
            } else {
                self.pending = Some(p);
                break;
            }
        }
        last_err
    }
}

impl UringReceiver {
    /// Cancels the multishot receive and waits for the kernel to confirm it; `false` if that could
    /// not be confirmed (the kernel may then still write into the buffers).
    fn cancel(&mut self) -> bool {
        if !self.armed || !self.ring.enabled {
            return true;
        }
        let cancel = opcode::AsyncCancel::new(RECV_TAG)
            .build()
            .user_data(CANCEL_TAG);
        // SAFETY: a cancel carries no pointers.
        if unsafe { self.ring.ring.submission().push(&cancel) }.is_err() {
            return false;
        }
        for _ in 0..4 {
            if self.ring.wait(CANCEL_WAIT / 4).is_err() {
                return false;
            }
            for cqe in self.ring.ring.completion() {
                if cqe.user_data() == RECV_TAG && !cqueue::more(cqe.flags()) {
                    self.armed = false;
                }
            }
            if !self.armed {
                return true;
            }
        }
        false
    }
}

impl Drop for UringReceiver {
    fn drop(&mut self) {
        // If the receive cannot be confirmed cancelled (e.g. dropped on a thread other than the
        // ring's issuer), the buffers are leaked rather than freed under the kernel.
        if !self.cancel() {
            self.bufs.leak = true;
        }
    }
}

/// The send side of the io_uring backend.
pub(super) struct UringSender {
    ring: Ring,
    fd: RawFd,
}

impl UringSender {
    /// Sets up a ring for sending on `socket`.
    pub fn new(socket: &UdpSocket) -> io::Result<UringSender> {
        let entries = SEND_MSGS_MAX as u32;
        Ok(UringSender {
            ring: Ring::new(entries, entries * 2)?,
            fd: socket.as_raw_fd(),
        })
    }

    /// The setup flags the kernel accepted.
    pub fn setup(&self) -> UringSetup {
        self.ring.setup
    }

    /// Sends `plan`'s wire messages, one linked chain of `SENDMSG`s per chunk.
    pub fn send_plan<'a>(
        &mut self,
        plan: &[WireMsg],
        payload: &impl Fn(usize) -> &'a [u8],
    ) -> SendOutcome {
        if let Err(err) = self.ring.enable() {
            return SendOutcome::failed(0, err);
        }
        let mut packets = 0;
        let mut at = 0;
        while at < plan.len() {
            let chunk = take_chunk(&plan[at..]);
            match self.send_chunk(chunk, payload) {
                Ok((sent, None)) => {
                    packets += sent;
                    at += chunk.len();
                }
                Ok((sent, Some(stop))) => return SendOutcome::stopped(packets + sent, stop, chunk),
                Err(err) => return SendOutcome::failed(packets, err),
            }
        }
        SendOutcome::done(packets)
    }

    /// One chunk as a linked chain; waits for every completion before the buffers go out of scope.
    fn send_chunk<'a>(
        &mut self,
        chunk: &[WireMsg],
        payload: &impl Fn(usize) -> &'a [u8],
    ) -> io::Result<(usize, Option<super::mmsg::Stop>)> {
        let addrs: [SockAddr; SEND_MSGS_MAX] = std::array::from_fn(|i| {
            SockAddr::from(chunk.get(i).map_or(super::UNSPECIFIED, |m| m.dest))
        });
        let mut cmsgs = [GsoCmsg::new(0); SEND_MSGS_MAX];
        // SAFETY: all-zero bytes are a valid value of these plain C structs.
        let mut iovs: [libc::iovec; SEND_IOVS_MAX] = unsafe { mem::zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::msghdr; SEND_MSGS_MAX] = unsafe { mem::zeroed() };
        let mut iov_at = 0;
        for (i, m) in chunk.iter().enumerate() {
            for k in 0..m.count {
                let p = payload(m.first + k);
                // The kernel only reads through `iov_base` on send.
                iovs[iov_at + k] = libc::iovec {
                    iov_base: p.as_ptr() as *mut libc::c_void,
                    iov_len: p.len(),
                };
            }
            let hdr = &mut hdrs[i];
            hdr.msg_name = addrs[i].as_ptr() as *mut libc::c_void;
            hdr.msg_namelen = addrs[i].len();
            hdr.msg_iov = &mut iovs[iov_at];
            hdr.msg_iovlen = m.count as _;
            if m.segment_bytes > 0 {
                cmsgs[i] = GsoCmsg::new(m.segment_bytes);
                hdr.msg_control = (&mut cmsgs[i] as *mut GsoCmsg).cast();
                hdr.msg_controllen = GsoCmsg::LEN as _;
            }
            iov_at += m.count;
        }
        {
            let mut sq = self.ring.ring.submission();
            for (i, hdr) in hdrs.iter().take(chunk.len()).enumerate() {
                let mut sqe = opcode::SendMsg::new(Fd(self.fd), hdr)
                    .flags(libc::MSG_DONTWAIT as u32)
                    .build()
                    .user_data(i as u64);
                if i + 1 < chunk.len() {
                    sqe = sqe.flags(squeue::Flags::IO_LINK);
                }
                // SAFETY: every pointer in the header (address, iovecs, payloads, cmsg) stays live
                // until all of the chunk's completions are reaped below, before this returns.
                if unsafe { sq.push(&sqe) }.is_err() {
                    // Cannot happen (the queue holds a whole chunk and is empty between calls);
                    // the entries already queued are still reaped below.
                    break;
                }
            }
        }
        let queued = self.ring.ring.submission().len();
        let mut results = [0i32; SEND_MSGS_MAX];
        let mut reaped = 0;
        let total = queued.min(chunk.len());
        while reaped < total {
            match self.ring.ring.submitter().submit_and_wait(total - reaped) {
                Ok(_) => {}
                Err(err) if err.raw_os_error() == Some(libc::EINTR) => continue,
                Err(err) => {
                    // Entries may still be queued pointing at this frame: never enter again.
                    self.ring.poisoned = true;
                    return Err(err);
                }
            }
            for cqe in self.ring.ring.completion() {
                if let Some(r) = results.get_mut(cqe.user_data() as usize) {
                    *r = cqe.result();
                    reaped += 1;
                }
            }
        }
        let mut packets = 0;
        for (i, &res) in results.iter().take(total).enumerate() {
            if res < 0 {
                return Ok((packets, Some((i, io::Error::from_raw_os_error(-res)))));
            }
            packets += chunk[i].count;
        }
        Ok((packets, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::bind_udp;

    #[test]
    fn udp_uring_receiver_cancels_cleanly() {
        let (socket, _, _) = bind_udp("127.0.0.1:0".parse().unwrap(), 1 << 20, 1 << 20).unwrap();
        let mut rx = UringReceiver::new(&socket, false, 8).unwrap();
        let stats = UdpStats::default();
        let mut batch = PacketBatch::new();
        assert_eq!(
            rx.recv(&mut batch, 0, Duration::from_millis(1), &stats)
                .unwrap(),
            0
        );
        assert!(rx.armed);
        assert!(rx.cancel(), "multishot receive not confirmed cancelled");
        assert!(!rx.armed);
    }
}
