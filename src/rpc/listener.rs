//! The RPC port's TCP edge: the accept loop and the bounds it puts on connections — the port's
//! connection cap, a cap per source address, hyper's header-read timeout and an idle timeout — each
//! refusal or close counted in [`RpcStats`]. (The request body's deadline is the handler's, in
//! `server`, since only it reads bodies.)

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::{HttpLimits, RpcStats};

/// The TCP peer of a request, put in its extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub(super) struct PeerAddr(pub(super) SocketAddr);

/// Open connections per source address, each at most `cap`. An address is in the table only while
/// it holds a connection, so the table is bounded by the connections held.
#[derive(Debug)]
pub struct PerIpConnections {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIpConnections {
    /// A table allowing `cap` connections per address.
    pub fn new(cap: usize) -> Arc<PerIpConnections> {
        Arc::new(PerIpConnections {
            cap,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one of `ip`'s connections; `None` when it holds `cap` already. The slot gives it
    /// back when dropped.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        if self.cap == 0 {
            return None;
        }
        let mut open = self.open.lock().ok()?;
        let held = open.entry(ip).or_insert(0);
        if *held >= self.cap {
            return None;
        }
        *held += 1;
        Some(IpSlot {
            table: self.clone(),
            ip,
        })
    }

    /// Connections `ip` holds now.
    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock();
        open.map(|o| o.get(&ip).copied().unwrap_or(0)).unwrap_or(0)
    }
}

/// One connection of an address in a [`PerIpConnections`]; released on drop.
#[derive(Debug)]
pub struct IpSlot {
    table: Arc<PerIpConnections>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let Ok(mut open) = self.table.open.lock() else {
            return;
        };
        if let Some(held) = open.get_mut(&self.ip) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What a connection is doing, for its idle timer: the last time a byte moved either way, and
/// how many requests the service is answering.
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Marks a request as being answered until the guard drops.
    fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Completes once no request is being answered and no byte has moved for `idle`. A request
    /// being answered is never idle, however long its handler waits: the body deadline and the
    /// handler bound it instead.
    async fn idle_for(&self, idle: Duration) {
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        loop {
            let quiet_ms = self
                .now_ms()
                .saturating_sub(self.last_ms.load(Ordering::Relaxed));
            let wait_ms = if self.in_flight.load(Ordering::Relaxed) > 0 {
                idle_ms
            } else if quiet_ms >= idle_ms {
                return;
            } else {
                idle_ms - quiet_ms
            };
            tokio::time::sleep(Duration::from_millis(wait_ms.max(1))).await;
        }
    }
}

/// A request in flight on a connection.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        // Answering is activity: the idle time counts from the response.
        self.0.touch();
    }
}

/// A TCP stream that notes in its [`Activity`] every time bytes move.
struct ActivityIo {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for ActivityIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for ActivityIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown`, then lets open connections
/// finish their request.
pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Router,
    stats: Arc<RpcStats>,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.connections_max));
    let per_ip = PerIpConnections::new(limits.connections_per_ip_max);
    // Connection tasks hold a receiver; when all are gone after shutdown, everything finished.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: keep serving.
                    tracing::debug!(error = %e, "RPC accept failed");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            stats.count_refused_connection();
            drop(stream);
            continue;
        };
        // After the port's cap, so that a refusal there takes no address slot at all.
        let Some(ip_slot) = per_ip.try_acquire(peer.ip()) else {
            stats.count_refused_per_ip_connection();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let io = ActivityIo {
            stream,
            activity: activity.clone(),
        };
        let router = router.clone();
        let service_activity = activity.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(PeerAddr(peer));
            let busy = service_activity.busy();
            // A Router is always ready; its error type is Infallible.
            let answer = tower_service::Service::call(&mut router.clone(), req);
            async move {
                let _busy = busy;
                answer.await
            }
        });
        let stats = stats.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slots = (slot, ip_slot);
            stats.connection_opened();
            let mut builder = hyper::server::conn::http1::Builder::new();
            // The header timer starts at connect and after each response, so it also bounds the
            // idle time between requests; the idle timer below may close them sooner.
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let conn = builder
                .serve_connection(hyper_util::rt::TokioIo::new(io), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let outcome = tokio::select! {
                outcome = conn.as_mut() => Some(outcome),
                // Nothing in flight and nothing moving: dropping the connection closes it.
                () = activity.idle_for(limits.idle_timeout) => None,
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    Some(conn.as_mut().await)
                }
            };
            match outcome {
                None => stats.count_idle_closed_connection(),
                Some(Err(e)) if e.is_timeout() => stats.count_timed_out_connection(),
                Some(_) => {}
            }
            stats.connection_closed();
            drop(stop);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    // Every connection task holds a receiver until it ends.
    stop_tx.closed().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_cap_and_slots_come_back_on_drop() {
        let table = PerIpConnections::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = table.try_acquire(a).unwrap();
        let _second = table.try_acquire(a).unwrap();
        assert!(table.try_acquire(a).is_none());
        // Another address has its own count.
        let _other = table.try_acquire(b).unwrap();
        drop(first);
        assert_eq!(table.open(a), 1);
        assert!(table.try_acquire(a).is_some());
        // A dropped slot's address leaves the table once it holds nothing.
        drop(_other);
        assert_eq!(table.open(b), 0);
        assert!(table.open.lock().unwrap().get(&b).is_none());
    }
}
