//! HTTP served on a TCP listener within limits: the one accept loop of the push API
//! and of the reference node.
//!
//! A server that faces more than its own clients must not let idle connections, one
//! busy address or a failing `accept` use it up. [`serve`] therefore:
//!
//! - holds at most [`ConnLimits::total`] connections, and at most
//!   [`ConnLimits::per_ip`] from one client address (one more from that address is
//!   closed at once, before its TLS handshake, so the others keep their slots);
//! - gives the TLS handshake, each request's headers (the first and every later one on
//!   a kept-alive connection) [`ConnLimits::idle`] to arrive;
//! - gives each piece of a request's body [`ConnLimits::idle`] to arrive and the whole
//!   body [`ConnLimits::body`] (a body that stalls or trickles fails, and the handler
//!   reading it answers with an error), and each write of the answer [`ConnLimits::idle`]
//!   to be taken by the client (one that stops reading is dropped);
//! - asks a connection to close after [`ConnLimits::lifetime`] (it finishes the
//!   request it is serving, then closes);
//! - pauses after a failed `accept` (out of descriptors, say) instead of spinning;
//! - speaks HTTP/1.1 only;
//! - on stop, lets every connection finish the request it is serving, within
//!   [`ConnLimits::grace`], then drops what is left.
//!
//! Each connection gets its own service from a closure that sees the [`Peer`] (its
//! address and, over TLS, the client certificate it showed), so the caller can tie a
//! request to who sent it.

#![deny(missing_docs)]

mod body;

pub use body::BodyTimeout;

use axum::Router;
use rustls::pki_types::CertificateDer;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How long to wait after a failed `accept` before the next one.
const ACCEPT_PAUSE: Duration = Duration::from_millis(200);

/// What a listener allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections held at once, in all.
    pub total: usize,
    /// Connections held at once from one client address.
    pub per_ip: usize,
    /// Time allowed for the TLS handshake and for each request's headers.
    pub idle: Duration,
    /// Time after which a connection is asked to close.
    pub lifetime: Duration,
    /// Time allowed for the whole body of one request.
    pub body: Duration,
    /// Time the connections get, on stop, to finish their requests.
    pub grace: Duration,
}

/// The timers of a configuration, in seconds: shared by the push API's and the node's
/// settings (each with its own connection caps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// [`ConnLimits::idle`].
    pub idle_secs: u64,
    /// [`ConnLimits::lifetime`].
    pub lifetime_secs: u64,
    /// [`ConnLimits::body`].
    pub body_secs: u64,
}

/// Default of [`Timers::idle_secs`]: 15.
pub fn default_idle_secs() -> u64 {
    15
}
/// Default of [`Timers::lifetime_secs`]: 300.
pub fn default_lifetime_secs() -> u64 {
    300
}
/// Default of [`Timers::body_secs`]: 60.
pub fn default_body_secs() -> u64 {
    60
}

impl ConnLimits {
    /// Limits from a configuration's numbers: connections in all and per address, and
    /// the timers, each taken between one second and one day (a timer far in the
    /// future must not overflow the clock); 10 s of grace.
    pub fn from_config(total: usize, per_ip: usize, timers: Timers) -> Self {
        let secs = |s: u64| Duration::from_secs(s.clamp(1, 86_400));
        Self { total, per_ip, idle: secs(timers.idle_secs), lifetime: secs(timers.lifetime_secs), body: secs(timers.body_secs), grace: Duration::from_secs(10) }
    }
}

impl Default for ConnLimits {
    fn default() -> Self {
        let timers = Timers { idle_secs: default_idle_secs(), lifetime_secs: default_lifetime_secs(), body_secs: default_body_secs() };
        Self::from_config(512, 16, timers)
    }
}

/// The far end of a connection, as the per-connection service sees it.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// The first certificate of the chain the client showed (TLS only).
    pub certificate: Option<CertificateDer<'static>>,
}

/// Connections held per client address; a slot is given back when its guard drops.
#[derive(Debug, Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// One connection's place in [`PerIp`].
struct IpSlot(Arc<PerIp>, IpAddr);

impl PerIp {
    /// A slot for `ip`, unless it holds `max` already.
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot(self.clone(), ip))
    }

    fn held(&self, ip: IpAddr) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut held = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.1);
            }
        }
    }
}

/// Serves `listener` until `stop` resolves, within `limits`: over TLS when `tls` is
/// given, plain HTTP otherwise. `service` makes each connection's router from its
/// [`Peer`]. Returns once every connection has finished or the grace period is over.
pub async fn serve<M>(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>, limits: ConnLimits, service: M, stop: impl Future<Output = ()>)
where
    M: Fn(Peer) -> Router + Send + Sync + 'static,
{
    let service = Arc::new(service);
    let (closing, closed) = watch::channel(false);
    let mut stop = std::pin::pin!(stop);
    let slots = Arc::new(Semaphore::new(limits.total.max(1)));
    let per_ip = Arc::new(PerIp::default());
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        // Waiting for a free slot (all taken) still notices the stop.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (tcp, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors, say: do not spin on it.
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // One address holding its share is refused at once, before its handshake: the
        // other clients keep their slots.
        let Some(ip_slot) = per_ip.take(peer.ip(), limits.per_ip.max(1)) else {
            tracing::debug!(held = per_ip.held(peer.ip()), "connection refused: its address holds its share of the connections");
            drop(tcp);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let (tls, service, closed) = (tls.clone(), service.clone(), closed.clone());
        conns.spawn(async move {
            let _held = (slot, ip_slot);
            match tls {
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(limits.idle, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::info!(error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake not completed in time");
                            return;
                        }
                    };
                    let certificate = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.clone().into_owned());
                    let router = service(Peer { addr: peer, certificate });
                    drive(stream, router, limits, closed).await;
                }
                None => {
                    let router = service(Peer { addr: peer, certificate: None });
                    drive(tcp, router, limits, closed).await;
                }
            }
        });
    }
    // Every connection finishes the request it is serving (kept-alive ones close).
    if closing.send(true).is_err() {
        tracing::debug!("no connection left to tell of the stop");
    }
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.grace + Duration::from_secs(1), drained).await.is_err() {
        tracing::warn!(left = conns.len(), "connections still open after the grace period; dropping them");
    }
    conns.abort_all();
}

/// Serves one connection: HTTP/1.1, headers within `idle`, bodies within their
/// timers ([`Timed`]), writes taken within `idle` ([`WriteStall`]), asked to close at
/// its lifetime or when `closed` turns true, then given `grace` to finish.
async fn drive<I>(io: I, router: Router, limits: ConnLimits, mut closed: watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let req = req.map(|body| body::Timed::new(body, limits.idle, limits.body));
        tower::ServiceExt::oneshot(router.clone(), req)
    });
    let io = body::WriteStall::new(io, limits.idle);
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new()).http1_only();
    // A client that does not send its request headers in time (the first request's
    // or the next one's on a kept-alive connection) is dropped.
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.idle);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), svc);
    let mut conn = std::pin::pin!(conn);
    let why = tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        () = tokio::time::sleep(limits.lifetime) => "its lifetime limit",
        _ = closed.wait_for(|c| *c) => "the stop",
    };
    conn.as_mut().graceful_shutdown();
    match tokio::time::timeout(limits.grace, conn).await {
        Ok(Ok(())) => tracing::debug!(why, "connection closed"),
        Ok(Err(e)) => tracing::debug!(why, error = %e, "connection ended with an error"),
        Err(_) => tracing::debug!(why, "connection cut: its request outlived the grace period"),
    }
}

#[cfg(test)]
mod tests;
