//! The portable backend: `recvmmsg`/`sendmmsg`, one system call per batch.
//!
//! Without GRO, datagrams land straight in the batch's packet buffers (through
//! [`packet::recv_into`](crate::packet::recv_into)). With GRO a datagram may be 64 KiB of coalesced
//! segments, so it lands in preallocated scratch buffers and is split into the batch (a copy).

use std::io;
use std::mem;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::SockAddr;

use super::gso::{self, GsoCmsg, WireMsg, GRO_BUFFER_BYTES, RECV_CONTROL_BYTES};
use super::{SendOutcome, UdpStats};
use crate::packet::{self, PacketBatch};

/// Coalesced datagrams one GRO `recvmmsg` takes at most: 16 × 64 KiB = 1 MiB of scratch. Each may
/// hold up to 64 segments, and uncoalesced traffic takes one buffer per datagram.
const GRO_BUFFERS: usize = 16;
/// Wire messages one `sendmmsg` call carries at most.
pub(super) const SEND_MSGS_MAX: usize = 64;
/// Payload iovecs one send call gathers at most (bounds the stack arrays).
pub(super) const SEND_IOVS_MAX: usize = 512;

/// Raw sockaddr room with the alignment the kernel expects of a `sockaddr_storage`.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct NameBuf([u8; 128]);

/// Control-message room, aligned for `cmsghdr`.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct ControlBuf([u8; RECV_CONTROL_BYTES]);

/// What a GRO receive brought in and how far its splitting has got.
#[derive(Debug, Clone, Copy, Default)]
struct Received {
    len: usize,
    segment_bytes: usize,
    addr: Option<SocketAddr>,
    truncated: bool,
}

/// Scratch space of GRO receives, allocated once.
struct GroScratch {
    data: Box<[u8]>,
    received: [Received; GRO_BUFFERS],
    /// Buffers filled by the last `recvmmsg`.
    filled: usize,
    /// The buffer being split, and the byte where splitting goes on.
    next: usize,
    offset: usize,
}

/// The receive side of the mmsg backend.
pub(super) struct MmsgReceiver {
    /// The read timeout last set on the socket (`SO_RCVTIMEO`), so it is set only when it changes.
    read_timeout: Option<Duration>,
    gro: Option<Box<GroScratch>>,
}

impl MmsgReceiver {
    /// A receiver; `gro` says the socket has `UDP_GRO` on (scratch buffers are allocated).
    pub fn new(gro: bool) -> MmsgReceiver {
        MmsgReceiver {
            read_timeout: None,
            gro: gro.then(|| {
                Box::new(GroScratch {
                    data: vec![0; GRO_BUFFERS * GRO_BUFFER_BYTES].into_boxed_slice(),
                    received: [Received::default(); GRO_BUFFERS],
                    filled: 0,
                    next: 0,
                    offset: 0,
                })
            }),
        }
    }

    /// Receives into `batch`'s free room (its first `held` packets kept), waiting up to `timeout`
    /// for the first new datagram.
    pub fn recv(
        &mut self,
        socket: &UdpSocket,
        batch: &mut PacketBatch,
        held: usize,
        timeout: Duration,
        stats: &UdpStats,
    ) -> io::Result<usize> {
        let flags = self.wait_flags(socket, timeout)?;
        let Some(scratch) = self.gro.as_deref_mut() else {
            return packet::recv_into(socket, batch, flags);
        };
        // Leftovers of the last receive first; a receive only when they are used up.
        scratch.drain(batch, stats);
        if batch.is_full() {
            return Ok(batch.len());
        }
        // Wait only while nothing new is in hand.
        let flags = if batch.len() == held {
            flags
        } else {
            libc::MSG_DONTWAIT
        };
        scratch.receive(socket, flags)?;
        scratch.drain(batch, stats);
        Ok(batch.len())
    }

    /// `recvmmsg` flags for `timeout`, setting the socket's read timeout when it changed.
    fn wait_flags(&mut self, socket: &UdpSocket, timeout: Duration) -> io::Result<libc::c_int> {
        if timeout.is_zero() {
            return Ok(libc::MSG_DONTWAIT);
        }
        if self.read_timeout != Some(timeout) {
            socket.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        Ok(libc::MSG_WAITFORONE)
    }
}

impl GroScratch {
    /// Splits received buffers into `batch` until it is full or they are used up.
    fn drain(&mut self, batch: &mut PacketBatch, stats: &UdpStats) {
        while self.next < self.filled && !batch.is_full() {
            let r = self.received[self.next];
            let start = self.next * GRO_BUFFER_BYTES;
            let payload = &self.data[start..start + r.len];
            if let Some(addr) = r.addr {
                let added = gso::split_into(
                    batch,
                    payload,
                    r.segment_bytes,
                    addr,
                    r.truncated,
                    &mut self.offset,
                );
                if r.segment_bytes > 0 && r.len > r.segment_bytes {
                    stats.add(&stats.gro_segments, added);
                }
            } else {
                // No usable source address: drop it rather than attribute it to a made-up sender.
                stats.add(&stats.errors, 1);
                self.offset = r.len.max(1);
            }
            if !gso::split_done(self.offset, r.len) {
                return;
            }
            self.next += 1;
            self.offset = 0;
        }
    }

    /// One `recvmmsg` into the scratch buffers (all free: only called once they are drained).
    fn receive(&mut self, socket: &UdpSocket, flags: libc::c_int) -> io::Result<()> {
        self.filled = 0;
        self.next = 0;
        self.offset = 0;
        let mut names = [NameBuf([0; 128]); GRO_BUFFERS];
        let mut controls = [ControlBuf([0; RECV_CONTROL_BYTES]); GRO_BUFFERS];
        // SAFETY: all-zero bytes are a valid value of these plain C structs.
        let mut iovs: [libc::iovec; GRO_BUFFERS] = unsafe { mem::zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; GRO_BUFFERS] = unsafe { mem::zeroed() };
        for (i, chunk) in self.data.chunks_exact_mut(GRO_BUFFER_BYTES).enumerate() {
            iovs[i] = libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: GRO_BUFFER_BYTES,
            };
            let hdr = &mut hdrs[i].msg_hdr;
            hdr.msg_name = names[i].0.as_mut_ptr().cast();
            hdr.msg_namelen = names[i].0.len() as libc::socklen_t;
            hdr.msg_iov = &mut iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = controls[i].0.as_mut_ptr().cast();
            hdr.msg_controllen = RECV_CONTROL_BYTES as _;
        }
        // SAFETY: every header points at live, writable locals or at `self.data`'s chunks, with their
        // true lengths; nothing moves or is read until the call returns.
        let rc = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                GRO_BUFFERS as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(()),
                _ => Err(err),
            };
        }
        let filled = (rc as usize).min(GRO_BUFFERS);
        for (i, hdr) in hdrs.iter().take(filled).enumerate() {
            let h = &hdr.msg_hdr;
            let name_len = (h.msg_namelen as usize).min(names[i].0.len());
            // `msg_controllen` is a `usize` on glibc but a `u32` on musl.
            #[allow(clippy::unnecessary_cast)]
            let control_len = (h.msg_controllen as usize).min(RECV_CONTROL_BYTES);
            let len = (hdr.msg_len as usize).min(GRO_BUFFER_BYTES);
            self.received[i] = Received {
                len,
                segment_bytes: gso::gro_segment_size(&controls[i].0[..control_len]).unwrap_or(0),
                addr: gso::parse_sockaddr(&names[i].0[..name_len]),
                truncated: h.msg_flags & libc::MSG_TRUNC != 0,
            };
        }
        self.filled = filled;
        Ok(())
    }
}

/// Sends `plan`'s wire messages with `sendmmsg` (non-blocking), stopping at the first failure.
pub(super) fn send_plan<'a>(
    socket: &UdpSocket,
    plan: &[WireMsg],
    payload: &impl Fn(usize) -> &'a [u8],
) -> SendOutcome {
    let mut packets = 0;
    let mut at = 0;
    while at < plan.len() {
        let chunk = take_chunk(&plan[at..]);
        match send_chunk(socket, chunk, payload) {
            (sent, None) => {
                packets += sent;
                at += chunk.len();
            }
            (sent, Some(stop)) => return SendOutcome::stopped(packets + sent, stop, chunk),
        }
    }
    SendOutcome::done(packets)
}

/// The longest prefix of `plan` that fits one send call's message and iovec bounds.
pub(super) fn take_chunk(plan: &[WireMsg]) -> &[WireMsg] {
    let mut iovs = 0;
    let mut n = 0;
    for m in plan.iter().take(SEND_MSGS_MAX) {
        if n > 0 && iovs + m.count > SEND_IOVS_MAX {
            break;
        }
        iovs += m.count;
        n += 1;
    }
    &plan[..n]
}

/// Why a send call stopped early: the index (in its chunk) of the message that failed, and the error.
pub(super) type Stop = (usize, io::Error);

/// One chunk through `sendmmsg`: returns packets sent and, if it stopped early, where and why.
fn send_chunk<'a>(
    socket: &UdpSocket,
    chunk: &[WireMsg],
    payload: &impl Fn(usize) -> &'a [u8],
) -> (usize, Option<Stop>) {
    let addrs: [SockAddr; SEND_MSGS_MAX] = std::array::from_fn(|i| {
        SockAddr::from(chunk.get(i).map_or(super::UNSPECIFIED, |m| m.dest))
    });
    let mut cmsgs = [GsoCmsg::new(0); SEND_MSGS_MAX];
    // SAFETY: all-zero bytes are a valid value of these plain C structs.
    let mut iovs: [libc::iovec; SEND_IOVS_MAX] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; SEND_MSGS_MAX] = unsafe { mem::zeroed() };
    let mut iov_at = 0;
    for (i, m) in chunk.iter().enumerate() {
        for k in 0..m.count {
            let p = payload(m.first + k);
            // The kernel only reads through `iov_base` on send; the cast to `*mut` is for the C type.
            iovs[iov_at + k] = libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            };
        }
        let hdr = &mut hdrs[i].msg_hdr;
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
    let mut done = 0;
    let mut packets = 0;
    while done < chunk.len() {
        // SAFETY: headers `done..` point at the local arrays and at payloads the caller borrows for
        // the whole call; nothing moves while the kernel reads them.
        let rc = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                hdrs[done..].as_mut_ptr(),
                (chunk.len() - done) as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return (packets, Some((done, err)));
        }
        let sent = rc as usize;
        packets += chunk[done..done + sent]
            .iter()
            .map(|m| m.count)
            .sum::<usize>();
        done += sent;
    }
    (packets, None)
}
