//! Serving the routes on hyper-util ourselves, since warp's own server runs hyper without
//! a timer (so without its header timeout) and without any cap: a client that sends its
//! request head slowly, stalls mid-body or stops reading a reply holds a connection for
//! ever, and enough of them exhaust the process.
//!
//! - the request head must arrive within `header_read_timeout` (hyper's timer starts when
//!   it begins reading a head, so this also ends kept-alive connections idle for longer);
//! - a request body that stalls, or a reply the client does not read, for `idle_timeout`
//!   ends the connection (a handler that is busy, such as a long-poll, does not count);
//! - at most `max_connections` are served at once; further ones wait in the kernel's
//!   accept queue.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use warp::filters::BoxedFilter;
use warp::reply::Response;

/// The connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// The socket address of the peer, put in every request's extensions (see `client_ip`).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `routes` on `listener` until `shutdown`, then lets open connections finish.
pub async fn serve(
    listener: TcpListener,
    routes: BoxedFilter<(Response,)>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s,
            _ = shutdown.cancelled() => break,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        // Without it a reply written in two pieces (the head, then a small body) waits
        // for the client's delayed acknowledgement of the first: up to 40 ms a request.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, %peer, "could not set TCP_NODELAY");
        }
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(WatchedIo {
            inner: stream,
            activity: activity.clone(),
        });
        let service = TowerToHyperService::new(ConnService {
            inner: warp::service(routes.clone()),
            peer,
            activity: activity.clone(),
        });
        let conn = graceful.watch(
            builder
                .serve_connection_with_upgrades(io, service)
                .into_owned(),
        );
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                },
                _ = activity.stalled(idle) => {
                    tracing::info!(%peer, "closed a connection stalled for {} s", idle.as_secs());
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// When a connection last started waiting on its client: for body bytes, or for room to
/// write. Milliseconds since `start`, plus one; 0 when not waiting.
struct Activity {
    start: Instant,
    body_wait: AtomicU64,
    write_wait: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            body_wait: AtomicU64::new(0),
            write_wait: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    /// Marks the wait begun, unless it already was.
    fn waiting(&self, slot: &AtomicU64) {
        let _ = slot.compare_exchange(0, self.now(), Ordering::Relaxed, Ordering::Relaxed);
    }

    fn progressed(slot: &AtomicU64) {
        slot.store(0, Ordering::Relaxed);
    }

    fn waited_ms(&self, slot: &AtomicU64) -> u64 {
        match slot.load(Ordering::Relaxed) {
            0 => 0,
            since => self.now().saturating_sub(since),
        }
    }

    /// Resolves once the client has kept the connection waiting for `limit`.
    async fn stalled(&self, limit: Duration) {
        let limit_ms = limit.as_millis() as u64;
        let tick = (limit / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            tokio::time::sleep(tick).await;
            if self.waited_ms(&self.body_wait) >= limit_ms
                || self.waited_ms(&self.write_wait) >= limit_ms
            {
                return;
            }
        }
    }
}

/// The socket, noting when writes are blocked (the client does not read).
struct WatchedIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl WatchedIo {
    fn note<T>(&self, r: Poll<T>) -> Poll<T> {
        if r.is_pending() {
            self.activity.waiting(&self.activity.write_wait);
        } else {
            Activity::progressed(&self.activity.write_wait);
        }
        r
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body, noting when its reader waits for the client.
struct WatchedBody {
    inner: Incoming,
    activity: Arc<Activity>,
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if r.is_pending() {
            self.activity.waiting(&self.activity.body_wait);
        } else {
            Activity::progressed(&self.activity.body_wait);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        // A body nobody reads any more keeps no one waiting.
        Activity::progressed(&self.activity.body_wait);
    }
}

/// warp's service with the peer's address in each request and its body watched.
#[derive(Clone)]
struct ConnService<S> {
    inner: S,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl<S> tower_service::Service<hyper::Request<Incoming>> for ConnService<S>
where
    S: tower_service::Service<hyper::Request<WatchedBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: hyper::Request<Incoming>) -> Self::Future {
        let activity = self.activity.clone();
        let mut req = req.map(|inner| WatchedBody { inner, activity });
        req.extensions_mut().insert(PeerAddr(self.peer));
        self.inner.call(req)
    }
}
