//! Loopback tests of both backends: exact bytes, sources and flags, GSO/GRO, grouping, timeouts.

use super::*;
use crate::packet::{bind_udp, PACKETS_PER_BATCH, PACKET_DATA_SIZE};

const BACKENDS: [UdpBackend; 2] = [UdpBackend::IoUring, UdpBackend::Mmsg];
/// Long enough for loopback delivery under a loaded 2-core machine, short enough to fail fast.
const WAIT: Duration = Duration::from_millis(500);

fn socket() -> UdpSocket {
    let (s, _, _) = bind_udp("127.0.0.1:0".parse().unwrap(), 4 << 20, 4 << 20).unwrap();
    s
}

fn receiver(backend: UdpBackend, gro: bool) -> UdpReceiver {
    let opts = UdpOptions {
        gro,
        ..UdpOptions::default()
    };
    let rx = UdpReceiver::new(socket(), backend, opts).unwrap();
    assert_eq!(rx.gro(), gro, "GRO must be available on this kernel");
    rx
}

fn sender(backend: UdpBackend) -> UdpSender {
    UdpSender::new(socket(), backend, UdpOptions::default()).unwrap()
}

fn addr(rx: &UdpReceiver) -> SocketAddr {
    rx.socket().local_addr().unwrap()
}

fn payload(i: usize, len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|k| (k * 7 + i) as u8).collect();
    if len >= 4 {
        p[..4].copy_from_slice(&(i as u32).to_le_bytes());
    }
    p
}

/// What one received packet looked like.
type Got = (Vec<u8>, SocketAddr, bool);

/// Receives until `n` packets came in (or a wait times out), also returning the batch sizes.
fn recv_n(rx: &mut UdpReceiver, n: usize) -> (Vec<Got>, Vec<usize>) {
    let mut batch = PacketBatch::new();
    let (mut got, mut sizes) = (Vec::new(), Vec::new());
    while got.len() < n {
        let k = rx.recv(&mut batch, WAIT).unwrap();
        if k == 0 {
            break;
        }
        assert_eq!(k, batch.len());
        assert!(k <= PACKETS_PER_BATCH);
        sizes.push(k);
        got.extend(
            batch
                .iter()
                .map(|p| (p.data().to_vec(), p.addr(), p.is_oversized())),
        );
    }
    (got, sizes)
}

fn refs(payloads: &[Vec<u8>]) -> Vec<&[u8]> {
    payloads.iter().map(Vec::as_slice).collect()
}

#[test]
fn udp_backends_set_up_as_asked() {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|s| s.trim() != "0")
        .unwrap_or(false);
    let rx = receiver(UdpBackend::IoUring, false);
    let tx = sender(UdpBackend::IoUring);
    if !disabled {
        // Where the kernel allows io_uring, the receiver and sender must really use it.
        assert_eq!(rx.backend(), UdpBackend::IoUring);
        assert_eq!(tx.backend(), UdpBackend::IoUring);
        assert!(rx.io_uring_setup().is_some());
        eprintln!(
            "io_uring setup: receiver {:?}, sender {:?}",
            rx.io_uring_setup(),
            tx.io_uring_setup()
        );
    }
    assert_eq!(
        receiver(UdpBackend::Mmsg, false).backend(),
        UdpBackend::Mmsg
    );
    assert!(tx.gso(), "GSO must be available on this kernel");
}

#[test]
fn udp_receive_exact_payloads_and_sources() {
    for backend in BACKENDS {
        let mut rx = receiver(backend, false);
        let (mut tx_a, mut tx_b) = (sender(backend), sender(backend));
        let dest = addr(&rx);
        // Varied sizes, zero-length and maximum included.
        let payloads: Vec<Vec<u8>> = (0..100)
            .map(|i| payload(i, [0, 1, 100, 777, PACKET_DATA_SIZE][i % 5]))
            .collect();
        let msgs: Vec<(&[u8], SocketAddr)> =
            payloads.iter().map(|p| (p.as_slice(), dest)).collect();
        assert_eq!(tx_a.send(&msgs[..60]).unwrap(), 60, "{backend}");
        assert_eq!(tx_b.send(&msgs[60..]).unwrap(), 40, "{backend}");
        let (got, sizes) = recv_n(&mut rx, 100);
        assert_eq!(got.len(), 100, "{backend}");
        assert!(
            sizes.iter().any(|&s| s > 1),
            "{backend}: no batching: {sizes:?}"
        );
        let from_a = tx_a.socket().local_addr().unwrap();
        let from_b = tx_b.socket().local_addr().unwrap();
        for (i, (data, src, oversized)) in got.iter().enumerate() {
            assert_eq!(data, &payloads[i], "{backend}: packet {i}");
            assert_eq!(*src, if i < 60 { from_a } else { from_b }, "{backend}");
            assert!(!oversized);
        }
        assert_eq!(UdpStats::get(&rx.stats().packets_in), 100);
        assert_eq!(UdpStats::get(&tx_a.stats().packets_out), 60);
    }
}

#[test]
fn udp_oversized_datagram_is_flagged() {
    for backend in BACKENDS {
        for gro in [false, true] {
            let mut rx = receiver(backend, gro);
            let mut tx = sender(backend);
            let dest = addr(&rx);
            let (big, exact, huge) = (
                payload(1, PACKET_DATA_SIZE + 1),
                payload(2, PACKET_DATA_SIZE),
                payload(3, 4000),
            );
            let msgs = [
                (big.as_slice(), dest),
                (exact.as_slice(), dest),
                (huge.as_slice(), dest),
            ];
            assert_eq!(tx.send(&msgs).unwrap(), 3);
            let (got, _) = recv_n(&mut rx, 3);
            let seen: Vec<(&[u8], bool)> = got.iter().map(|(d, _, o)| (d.as_slice(), *o)).collect();
            assert_eq!(
                seen,
                vec![
                    (&big[..PACKET_DATA_SIZE], true),
                    (exact.as_slice(), false),
                    (&huge[..PACKET_DATA_SIZE], true)
                ],
                "{backend} gro={gro}"
            );
        }
    }
}

#[test]
fn udp_gso_equal_segments_arrive_as_datagrams() {
    for backend in BACKENDS {
        for gro in [false, true] {
            let mut rx = receiver(backend, gro);
            let mut tx = sender(backend);
            let dest = addr(&rx);
            // 120 full-size packets: three GSO sends of 53, 53 and 14 segments.
            let payloads: Vec<Vec<u8>> = (0..120).map(|i| payload(i, PACKET_DATA_SIZE)).collect();
            assert_eq!(tx.send_same_dest(dest, &refs(&payloads)).unwrap(), 120);
            let (got, _) = recv_n(&mut rx, 120);
            assert_eq!(got.len(), 120, "{backend} gro={gro}");
            let src = tx.socket().local_addr().unwrap();
            for (i, (data, from, oversized)) in got.iter().enumerate() {
                assert_eq!(data, &payloads[i], "{backend} gro={gro} packet {i}");
                assert_eq!(*from, src);
                assert!(!oversized);
            }
            let gro_segments = UdpStats::get(&rx.stats().gro_segments);
            if gro {
                assert!(gro_segments > 0, "{backend}: nothing arrived coalesced");
            } else {
                assert_eq!(gro_segments, 0);
            }
        }
    }
}

#[test]
fn udp_gso_with_short_last_segment() {
    for backend in BACKENDS {
        for gro in [false, true] {
            let mut rx = receiver(backend, gro);
            let mut tx = sender(backend);
            let dest = addr(&rx);
            // Runs: 5 × 500 + 123 (short last), then 2 × 900 (a longer size starts a new run), then 7.
            let lens = [500, 500, 500, 500, 500, 123, 900, 900, 7];
            let payloads: Vec<Vec<u8>> = lens
                .iter()
                .enumerate()
                .map(|(i, &l)| payload(i, l))
                .collect();
            assert_eq!(tx.send_same_dest(dest, &refs(&payloads)).unwrap(), 9);
            let (got, _) = recv_n(&mut rx, 9);
            let data: Vec<Vec<u8>> = got.into_iter().map(|g| g.0).collect();
            assert_eq!(data, payloads, "{backend} gro={gro}");
        }
    }
}

#[test]
fn udp_send_grouped_mixed_destinations() {
    for backend in BACKENDS {
        for gro in [false, true] {
            let mut rxs: Vec<UdpReceiver> = (0..3).map(|_| receiver(backend, gro)).collect();
            let dests: Vec<SocketAddr> = rxs.iter().map(addr).collect();
            let mut tx = sender(backend);
            // Interleaved: 30 to the first, 20 to the second, 1 to the third.
            let payloads: Vec<Vec<u8>> = (0..51).map(|i| payload(i, 300)).collect();
            let to = |i: usize| match i {
                50 => dests[2],
                i if i % 5 < 3 => dests[0],
                _ => dests[1],
            };
            let msgs: Vec<(&[u8], SocketAddr)> = payloads
                .iter()
                .enumerate()
                .map(|(i, p)| (p.as_slice(), to(i)))
                .collect();
            assert_eq!(tx.send_grouped(&msgs).unwrap(), 51);
            for (r, rx) in rxs.iter_mut().enumerate() {
                let want: Vec<&Vec<u8>> = payloads
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| to(*i) == dests[r])
                    .map(|x| x.1)
                    .collect();
                let (got, _) = recv_n(rx, want.len());
                let got: Vec<&Vec<u8>> = got.iter().map(|g| &g.0).collect();
                assert_eq!(got, want, "{backend} gro={gro} receiver {r}");
            }
            // Three destinations: two GSO sends and one plain, in one call.
            assert_eq!(UdpStats::get(&tx.stats().packets_out), 51);
        }
    }
}

#[test]
fn udp_backends_agree_on_the_same_traffic() {
    // The same mixed traffic (plain, GSO, oversized) through each backend pair must arrive alike.
    let run = |backend: UdpBackend, gro: bool| -> Vec<(Vec<u8>, bool)> {
        let mut rx = receiver(backend, gro);
        let mut tx = sender(backend);
        let dest = addr(&rx);
        let plain: Vec<Vec<u8>> = (0..70).map(|i| payload(i, 40 + i * 13)).collect();
        let msgs: Vec<(&[u8], SocketAddr)> = plain.iter().map(|p| (p.as_slice(), dest)).collect();
        assert_eq!(tx.send(&msgs).unwrap(), 70);
        let same: Vec<Vec<u8>> = (0..80)
            .map(|i| payload(i, if i == 79 { 99 } else { 1200 }))
            .collect();
        assert_eq!(tx.send_same_dest(dest, &refs(&same)).unwrap(), 80);
        let (got, _) = recv_n(&mut rx, 150);
        assert_eq!(got.len(), 150, "{backend} gro={gro}");
        got.into_iter().map(|(d, _, o)| (d, o)).collect()
    };
    let reference = run(UdpBackend::Mmsg, false);
    for (backend, gro) in [
        (UdpBackend::IoUring, false),
        (UdpBackend::IoUring, true),
        (UdpBackend::Mmsg, true),
    ] {
        assert!(
            run(backend, gro) == reference,
            "{backend} gro={gro} differs"
        );
    }
}

#[test]
fn udp_timeout_returns_zero() {
    for backend in BACKENDS {
        for gro in [false, true] {
            let mut rx = receiver(backend, gro);
            let mut batch = PacketBatch::new();
            assert!(batch.push(b"stale", addr(&rx)));
            let start = std::time::Instant::now();
            assert_eq!(rx.recv(&mut batch, Duration::from_millis(40)).unwrap(), 0);
            assert!(
                start.elapsed() >= Duration::from_millis(38),
                "{backend} gro={gro}: returned early after {:?}",
                start.elapsed()
            );
            assert!(batch.is_empty());
            // Zero timeout: only what is already queued, here nothing.
            assert_eq!(rx.recv(&mut batch, Duration::ZERO).unwrap(), 0);
            // And it still receives afterwards.
            let mut tx = sender(backend);
            tx.send(&[(b"late".as_slice(), addr(&rx))]).unwrap();
            assert_eq!(rx.recv(&mut batch, WAIT).unwrap(), 1, "{backend} gro={gro}");
            assert_eq!(batch.packets()[0].data(), b"late");
        }
    }
}

#[test]
fn udp_backend_choice_from_env_and_config() {
    assert_eq!(
        UdpBackend::from_value_or(Some("io_uring"), UdpBackend::Mmsg),
        UdpBackend::IoUring
    );
    assert_eq!(
        UdpBackend::from_value_or(Some(" mmsg "), UdpBackend::IoUring),
        UdpBackend::Mmsg
    );
    assert_eq!(
        UdpBackend::from_value_or(Some("epoll"), UdpBackend::IoUring),
        UdpBackend::IoUring
    );
    assert_eq!(
        UdpBackend::from_value_or(None, UdpBackend::Mmsg),
        UdpBackend::Mmsg
    );
    assert!("bogus".parse::<UdpBackend>().is_err());
    // The only test that touches the variable, so parallel tests do not race on it.
    std::env::set_var(BACKEND_ENV, "mmsg");
    assert_eq!(
        UdpBackend::from_env_or(UdpBackend::IoUring),
        UdpBackend::Mmsg
    );
    std::env::set_var(BACKEND_ENV, "io_uring");
    assert_eq!(
        UdpBackend::from_env_or(UdpBackend::Mmsg),
        UdpBackend::IoUring
    );
    std::env::remove_var(BACKEND_ENV);
    assert_eq!(UdpBackend::from_env_or(UdpBackend::Mmsg), UdpBackend::Mmsg);
}

#[test]
fn udp_batch_fills_and_gro_leftovers_carry_over() {
    // 150 GRO-coalesced segments do not fit one 64-packet batch: the rest must come next call.
    for backend in BACKENDS {
        let mut rx = receiver(backend, true);
        let mut tx = sender(backend);
        let payloads: Vec<Vec<u8>> = (0..150).map(|i| payload(i, 200)).collect();
        assert_eq!(tx.send_same_dest(addr(&rx), &refs(&payloads)).unwrap(), 150);
        let (got, sizes) = recv_n(&mut rx, 150);
        let data: Vec<Vec<u8>> = got.into_iter().map(|g| g.0).collect();
        assert_eq!(data, payloads, "{backend}");
        assert!(sizes.contains(&PACKETS_PER_BATCH), "{backend}: {sizes:?}");
    }
}

#[test]
fn udp_receiver_moves_to_the_thread_that_uses_it() {
    // A SINGLE_ISSUER ring belongs to its first user, not its creator: set up here, used there.
    for backend in BACKENDS {
        let mut rx = receiver(backend, false);
        let dest = addr(&rx);
        let handle = std::thread::spawn(move || recv_n(&mut rx, 3).0.len());
        let mut tx = sender(backend);
        let data = [b"a".as_slice(), b"b", b"c"];
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(tx.send_same_dest(dest, &data).unwrap(), 3);
        assert_eq!(handle.join().unwrap(), 3, "{backend}");
    }
}

#[test]
fn udp_gso_refused_falls_back_to_plain_sends() {
    // With UDP checksums off (SO_NO_CHECK, 11 on x86-64 and aarch64) the kernel refuses GSO sends
    // with EINVAL: the sender must notice once and deliver everything as plain datagrams.
    const SO_NO_CHECK: libc::c_int = 11;
    for backend in BACKENDS {
        let mut rx = receiver(backend, false);
        let s = socket();
        let on: libc::c_int = 1;
        // SAFETY: `on` is a live c_int and its size is passed; the kernel only reads it.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                libc::SOL_SOCKET,
                SO_NO_CHECK,
                (&on as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        let mut tx = UdpSender::new(s, backend, UdpOptions::default()).unwrap();
        assert!(tx.gso());
        // Segments above PACKET_DATA_SIZE may just be too big for a path: resent plainly, GSO kept.
        let big: Vec<Vec<u8>> = (0..4).map(|i| payload(i, 2000)).collect();
        assert_eq!(tx.send_same_dest(addr(&rx), &refs(&big)).unwrap(), 4);
        assert!(tx.gso(), "{backend}: GSO dropped for an oversized segment");
        let (got, _) = recv_n(&mut rx, 4);
        assert!(got
            .iter()
            .zip(&big)
            .all(|(g, b)| g.0 == b[..PACKET_DATA_SIZE] && g.2));
        // Small segments refused: the kernel cannot do GSO on this socket at all.
        let payloads: Vec<Vec<u8>> = (0..10).map(|i| payload(i, 100)).collect();
        assert_eq!(tx.send_same_dest(addr(&rx), &refs(&payloads)).unwrap(), 10);
        assert!(
            !tx.gso(),
            "{backend}: GSO still on after the kernel refused it"
        );
        let (got, _) = recv_n(&mut rx, 10);
        let data: Vec<Vec<u8>> = got.into_iter().map(|g| g.0).collect();
        assert_eq!(data, payloads, "{backend}");
    }
}

#[test]
fn udp_io_uring_refused_falls_back_to_mmsg() {
    uring::SETUP_REFUSED.set(true);
    let mut rx = receiver(UdpBackend::IoUring, true);
    let mut tx = sender(UdpBackend::IoUring);
    uring::SETUP_REFUSED.set(false);
    assert_eq!(rx.backend(), UdpBackend::Mmsg);
    assert_eq!(tx.backend(), UdpBackend::Mmsg);
    assert!(rx.io_uring_setup().is_none() && tx.io_uring_setup().is_none());
    let payloads: Vec<Vec<u8>> = (0..5).map(|i| payload(i, 64)).collect();
    assert_eq!(tx.send_same_dest(addr(&rx), &refs(&payloads)).unwrap(), 5);
    let data: Vec<Vec<u8>> = recv_n(&mut rx, 5).0.into_iter().map(|g| g.0).collect();
    assert_eq!(data, payloads);
}

#[test]
fn udp_ipv6_sources_and_gso() {
    let Ok((s, _, _)) = bind_udp("[::1]:0".parse().unwrap(), 1 << 20, 1 << 20) else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    drop(s);
    for backend in BACKENDS {
        for gro in [false, true] {
            let v6 = || {
                bind_udp("[::1]:0".parse().unwrap(), 1 << 20, 1 << 20)
                    .unwrap()
                    .0
            };
            let opts = UdpOptions {
                gro,
                ..UdpOptions::default()
            };
            let mut rx = UdpReceiver::new(v6(), backend, opts).unwrap();
            let mut tx = UdpSender::new(v6(), backend, opts).unwrap();
            let payloads: Vec<Vec<u8>> = (0..60).map(|i| payload(i, 1000)).collect();
            assert_eq!(tx.send_same_dest(addr(&rx), &refs(&payloads)).unwrap(), 60);
            let (got, _) = recv_n(&mut rx, 60);
            let src = tx.socket().local_addr().unwrap();
            assert!(got.iter().all(|g| g.1 == src), "{backend} gro={gro}");
            let data: Vec<Vec<u8>> = got.into_iter().map(|g| g.0).collect();
            assert_eq!(data, payloads, "{backend} gro={gro}");
        }
    }
}

#[test]
fn udp_receivers_and_senders_can_move_between_threads() {
    fn is_send<T: Send>() {}
    is_send::<UdpReceiver>();
    is_send::<UdpSender>();
}

#[test]
fn udp_recv_append_keeps_what_the_batch_holds() {
    for backend in BACKENDS {
        let mut rx = receiver(backend, false);
        let mut tx = sender(backend);
        let dest = addr(&rx);
        let mut batch = PacketBatch::new();
        assert!(batch.push(b"held", dest));
        let payloads: Vec<Vec<u8>> = (0..3).map(|i| payload(i, 100)).collect();
        let msgs: Vec<(&[u8], SocketAddr)> =
            payloads.iter().map(|p| (p.as_slice(), dest)).collect();
        assert_eq!(tx.send_all(&msgs).unwrap(), 3);
        let mut added = 0;
        while added < 3 {
            let n = rx.recv_append(&mut batch, WAIT).unwrap();
            assert!(n > 0, "{backend:?}: {added} of 3 arrived");
            added += n;
        }
        let data: Vec<&[u8]> = batch.iter().map(|p| p.data()).collect();
        assert_eq!(
            data,
            [&b"held"[..], &payloads[0], &payloads[1], &payloads[2]]
        );
        // Nothing more: the wait ends with nothing added and nothing lost.
        assert_eq!(
            rx.recv_append(&mut batch, Duration::from_millis(20))
                .unwrap(),
            0
        );
        assert_eq!(batch.len(), 4, "{backend:?}");
        // A full batch takes nothing: the datagram waits for the next receive.
        while batch.push(b"filler", dest) {}
        assert_eq!(tx.send_all(&[(b"later".as_slice(), dest)]).unwrap(), 1);
        assert_eq!(rx.recv_append(&mut batch, WAIT).unwrap(), 0);
        assert_eq!(rx.recv(&mut batch, WAIT).unwrap(), 1, "{backend:?}");
        assert_eq!(batch.packets()[0].data(), b"later");
    }
}
