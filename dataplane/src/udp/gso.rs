//! UDP segmentation offload, both ways, as plain data handling shared by the two backends.
//!
//! Sending: [`plan`] turns a run of payloads into wire messages — one `UDP_SEGMENT` super-datagram
//! per run of equal-sized payloads to one destination (the last may be shorter), or one plain
//! datagram each — and [`GsoCmsg`] is the control message that asks for the split. Receiving:
//! [`gro_segment_size`] reads the `UDP_GRO` control message and [`split_into`] cuts a coalesced
//! buffer back into packets. The socket options live here too ([`probe_gso`], [`enable_gro`]).

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use crate::packet::{PacketBatch, PACKET_DATA_SIZE};

/// Most segments one GSO send may carry: the kernel's `UDP_MAX_SEGMENTS` on older kernels (newer
/// ones allow 128, but the 64 KiB datagram limit binds first for 1232-byte segments anyway).
pub(super) const GSO_SEGMENTS_MAX: usize = 64;
/// Largest UDP payload of one IPv4 datagram (65,535 minus 20 bytes of IP and 8 of UDP header).
const IPV4_PAYLOAD_MAX: usize = 65_507;
/// Largest UDP payload of one IPv6 datagram without jumbograms (65,535 minus the UDP header).
const IPV6_PAYLOAD_MAX: usize = 65_527;
/// Bytes a GRO receive can return in one buffer: a whole coalesced 64 KiB datagram.
pub(super) const GRO_BUFFER_BYTES: usize = 1 << 16;
/// Control-message room for a receive with GRO on (one `UDP_GRO` int, with headroom for others).
pub(super) const RECV_CONTROL_BYTES: usize = 64;

/// One datagram on the wire: `count` payloads from index `first`, split by the kernel into segments
/// of `segment_bytes` when that is non-zero (GSO), else a single plain datagram (`count` = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WireMsg {
    /// Where it goes.
    pub dest: SocketAddr,
    /// Index of its first payload in the caller's ordering.
    pub first: usize,
    /// Payloads it carries.
    pub count: usize,
    /// GSO segment size, or 0 for a plain datagram.
    pub segment_bytes: u16,
}

/// Segments of `segment_bytes` that fit one GSO datagram to `dest`.
pub(super) fn segments_max(dest: &SocketAddr, segment_bytes: usize) -> usize {
    let payload_max = match dest {
        SocketAddr::V4(_) => IPV4_PAYLOAD_MAX,
        SocketAddr::V6(_) => IPV6_PAYLOAD_MAX,
    };
    (payload_max / segment_bytes.max(1)).min(GSO_SEGMENTS_MAX)
}

/// Plans payloads `start..n` (in the caller's order) into wire messages appended to `out`.
///
/// With `gso`, consecutive payloads to one destination become one super-datagram while they have
/// the first one's size; a single shorter payload may close it (the kernel allows a short last
/// segment), a longer one starts the next. Runs of one stay plain datagrams.
pub(super) fn plan<'a>(
    out: &mut Vec<WireMsg>,
    start: usize,
    n: usize,
    dest: impl Fn(usize) -> SocketAddr,
    payload: impl Fn(usize) -> &'a [u8],
    gso: bool,
) {
    let mut i = start;
    while i < n {
        let to = dest(i);
        let seg = payload(i).len();
        let mut count = 1;
        if gso && seg > 0 && seg <= usize::from(u16::MAX) {
            let limit = segments_max(&to, seg);
            while count < limit && i + count < n && dest(i + count) == to {
                let len = payload(i + count).len();
                if len > seg || len == 0 {
                    break;
                }
                count += 1;
                if len < seg {
                    break;
                }
            }
        }
        out.push(WireMsg {
            dest: to,
            first: i,
            count,
            // Cannot truncate: checked against u16::MAX above whenever count > 1.
            segment_bytes: if count > 1 { seg as u16 } else { 0 },
        });
        i += count;
    }
}

/// The `UDP_SEGMENT` control message of a GSO send, laid out as `CMSG_SPACE(sizeof(u16))` bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct GsoCmsg {
    hdr: libc::cmsghdr,
    segment_bytes: u16,
    // Pads to the 8-byte cmsg alignment, as CMSG_SPACE does.
    _pad: [u8; 6],
}

impl GsoCmsg {
    /// A control message asking the kernel to cut the datagram into `segment_bytes` segments.
    pub fn new(segment_bytes: u16) -> GsoCmsg {
        // SAFETY: all-zero bytes are a valid `cmsghdr` (a plain C struct of integers).
        let mut hdr: libc::cmsghdr = unsafe { mem::zeroed() };
        hdr.cmsg_level = libc::SOL_UDP;
        hdr.cmsg_type = libc::UDP_SEGMENT;
        // CMSG_LEN(2): header plus the u16 payload, without trailing padding.
        hdr.cmsg_len = (mem::size_of::<libc::cmsghdr>() + mem::size_of::<u16>()) as _;
        GsoCmsg {
            hdr,
            segment_bytes,
            _pad: [0; 6],
        }
    }

    /// Bytes to put in `msg_controllen`.
    pub const LEN: usize = mem::size_of::<GsoCmsg>();
}

/// Reads the GRO segment size from received control data (a `UDP_GRO` cmsg), if there is one.
///
/// Walks the cmsg chain by hand over the bytes so that it needs no pointer arithmetic; a malformed
/// chain ends the walk (the kernel wrote it, but a bound costs nothing).
pub(super) fn gro_segment_size(control: &[u8]) -> Option<usize> {
    let hdr_len = mem::size_of::<libc::cmsghdr>();
    let align = mem::size_of::<usize>();
    let mut at = 0;
    while at + hdr_len <= control.len() {
        let word = |off: usize, len: usize| control.get(at + off..at + off + len);
        let cmsg_len = usize::from_ne_bytes(word(0, 8)?.try_into().ok()?);
        let level = i32::from_ne_bytes(word(8, 4)?.try_into().ok()?);
        let kind = i32::from_ne_bytes(word(12, 4)?.try_into().ok()?);
        if cmsg_len < hdr_len || at + cmsg_len > control.len() {
            return None;
        }
        if level == libc::SOL_UDP && kind == libc::UDP_GRO {
            let data = control.get(at + hdr_len..at + cmsg_len)?;
            let size = match data.len() {
                2..=3 => usize::from(u16::from_ne_bytes(data[..2].try_into().ok()?)),
                n if n >= 4 => i32::from_ne_bytes(data[..4].try_into().ok()?) as usize,
                _ => return None,
            };
            return (size > 0).then_some(size);
        }
        at += cmsg_len.div_ceil(align) * align;
    }
    None
}

/// Parses a kernel-written `sockaddr_in`/`sockaddr_in6` from raw bytes.
pub(super) fn parse_sockaddr(raw: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes(raw.get(..2)?.try_into().ok()?));
    let port = u16::from_be_bytes(raw.get(2..4)?.try_into().ok()?);
    if family == libc::AF_INET {
        let ip: [u8; 4] = raw.get(4..8)?.try_into().ok()?;
        Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
    } else if family == libc::AF_INET6 {
        let flowinfo = u32::from_be_bytes(raw.get(4..8)?.try_into().ok()?);
        let ip: [u8; 16] = raw.get(8..24)?.try_into().ok()?;
        let scope = u32::from_ne_bytes(raw.get(24..28)?.try_into().ok()?);
        Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            port,
            flowinfo,
            scope,
        )))
    } else {
        None
    }
}

/// Cuts a received buffer into packets of `segment_bytes` (0: the whole buffer is one datagram),
/// appending to `batch` from byte `*offset` on; advances `*offset` and returns the packets added.
///
/// This is a copy — GRO hands us one 64 KiB buffer where the batch wants 1232-byte slots — and still
/// far cheaper than the alternative: one memcpy of ~1.2 KB costs tens of nanoseconds, while each
/// datagram GRO saves us would otherwise cost a trip through the receive path (≈ 1–2 µs).
/// `truncated` says the kernel cut the datagram short (it was longer than the buffer).
pub(super) fn split_into(
    batch: &mut PacketBatch,
    payload: &[u8],
    segment_bytes: usize,
    addr: SocketAddr,
    truncated: bool,
    offset: &mut usize,
) -> usize {
    let mut added = 0;
    if segment_bytes == 0 {
        // One datagram; a zero-length one is still a datagram.
        if *offset == 0 && batch.push_received(payload, addr, truncated) {
            *offset = payload.len().max(1);
            added = 1;
        }
        return added;
    }
    while *offset < payload.len() {
        let end = (*offset + segment_bytes).min(payload.len());
        let segment = &payload[*offset..end];
        let oversized = segment.len() > PACKET_DATA_SIZE || (truncated && end == payload.len());
        if !batch.push_received(segment, addr, oversized) {
            break;
        }
        *offset = end;
        added += 1;
    }
    added
}

/// Whether a split that stopped at `offset` has taken all of a `len`-byte payload.
pub(super) fn split_done(offset: usize, len: usize) -> bool {
    offset >= len.max(1)
}

/// Whether the kernel supports `UDP_SEGMENT` on this socket (reading the option fails if not).
pub(super) fn probe_gso(socket: &UdpSocket) -> io::Result<()> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value`/`len` are live locals of the sizes stated; the kernel writes at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Turns on `UDP_GRO`: the kernel may then hand over several same-size datagrams in one buffer.
pub(super) fn enable_gro(socket: &UdpSocket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live c_int and its size is passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            (&on as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(lens: &[usize], dests: &[u16], gso: bool) -> Vec<(u16, usize, usize, u16)> {
        let bufs: Vec<Vec<u8>> = lens.iter().map(|&l| vec![0; l]).collect();
        let addr = |i: usize| SocketAddr::from(([127, 0, 0, 1], dests[i]));
        let mut out = Vec::new();
        plan(&mut out, 0, lens.len(), addr, |i| &bufs[i], gso);
        out.iter()
            .map(|m| (m.dest.port(), m.first, m.count, m.segment_bytes))
            .collect()
    }

    #[test]
    fn udp_plan_groups_equal_runs_per_destination() {
        // Equal sizes, short last, then a longer one starts a new run; a destination change splits.
        let lens = [100, 100, 100, 40, 100, 100, 7, 7];
        let dests = [1, 1, 1, 1, 1, 1, 2, 2];
        assert_eq!(
            plan_of(&lens, &dests, true),
            vec![(1, 0, 4, 100), (1, 4, 2, 100), (2, 6, 2, 7)]
        );
        // A longer payload cannot join a run; a single one is plain.
        assert_eq!(
            plan_of(&[10, 20, 20], &[1, 1, 1], true),
            vec![(1, 0, 1, 0), (1, 1, 2, 20)]
        );
        // Without GSO everything is plain.
        assert_eq!(plan_of(&[5, 5], &[1, 1], false).len(), 2);
        // 1232-byte segments: 53 per IPv4 datagram.
        let lens = vec![PACKET_DATA_SIZE; 120];
        let dests = vec![1; 120];
        let counts: Vec<usize> = plan_of(&lens, &dests, true).iter().map(|m| m.2).collect();
        assert_eq!(counts, vec![53, 53, 14]);
    }

    #[test]
    fn udp_gro_cmsg_round_trip_and_sockaddr_parse() {
        let mut buf = [0u8; 32];
        buf[..8].copy_from_slice(&20usize.to_ne_bytes());
        buf[8..12].copy_from_slice(&libc::SOL_UDP.to_ne_bytes());
        buf[12..16].copy_from_slice(&libc::UDP_GRO.to_ne_bytes());
        buf[16..20].copy_from_slice(&1232i32.to_ne_bytes());
        assert_eq!(gro_segment_size(&buf), Some(1232));
        assert_eq!(gro_segment_size(&buf[..10]), None);
        buf[0] = 200; // a length past the buffer ends the walk
        assert_eq!(gro_segment_size(&buf), None);

        let mut raw = [0u8; 28];
        raw[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        raw[2..4].copy_from_slice(&8001u16.to_be_bytes());
        raw[4..8].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(parse_sockaddr(&raw), Some("10.1.2.3:8001".parse().unwrap()));
        assert_eq!(parse_sockaddr(&raw[..3]), None);
    }
}
