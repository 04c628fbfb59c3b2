//! One PostgreSQL connection that comes back after the server restarts, used by the
//! audit log, the dedup index and the node's store.
//!
//! Each use checks the connection and reconnects once it has closed. The operation
//! that saw it close failed, and its caller retries it (an input stays in its inbox, a
//! delivery is settled again): reconnecting on the next use is enough.
//!
//! TLS: with `sslmode=require` in the connection string the connection is TLS
//! (rustls), the server's certificate verified against the [`PgTls`] roots and its name
//! against the host connected to (what libpq calls `verify-full`); without it, or with
//! `disable` or `prefer`, it is plain, for a database on the same host or network.

use rustls::pki_types::ServerName;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::{Client, NoTls};

/// The roots a TLS connection's server certificate must chain to: the configured CA
/// file's, or the system's (the default).
#[derive(Debug, Clone, Default)]
pub struct PgTls(Option<Arc<rustls::ClientConfig>>);

impl PgTls {
    /// Trusts the CA certificates of the PEM file `path`.
    pub fn from_pem_file(path: &std::path::Path) -> Result<Self, crate::StoreError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let bad = |e: String| crate::StoreError::Io { path: path.display().to_string(), err: std::io::Error::new(std::io::ErrorKind::InvalidData, e) };
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            roots.add(c.map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(bad("no CA certificate in the file".into()));
        }
        Ok(Self(Some(client_config(roots).map_err(|e| bad(e.to_string()))?)))
    }

    /// The client config: the configured roots, or the system's, loaded now.
    fn config(&self) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
        if let Some(c) = &self.0 {
            return Ok(c.clone());
        }
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "a system CA certificate could not be read");
        }
        let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
        client_config(roots)
    }
}

fn client_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?.with_root_certificates(roots).with_no_client_auth()))
}

/// Makes a rustls connector per connection, named after the host connected to (or
/// says why it cannot).
#[derive(Clone)]
struct MakeRustls(Result<Arc<rustls::ClientConfig>, rustls::Error>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        let config = self.0.clone()?;
        Ok(RustlsConnect(config, ServerName::try_from(domain.to_string())?))
    }
}

/// One TLS handshake over a PostgreSQL socket.
struct RustlsConnect(Arc<rustls::ClientConfig>, ServerName<'static>);

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, std::io::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let Self(config, name) = self;
        Box::pin(async move { Ok(RustlsStream(tokio_rustls::TlsConnector::from(config).connect(name, stream).await?)) })
    }
}

/// A TLS session to PostgreSQL.
struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// A reconnecting PostgreSQL connection.
#[derive(Debug)]
pub struct PgConn {
    what: &'static str,
    conninfo: String,
    tls: PgTls,
    client: Mutex<Client>,
}

async fn open(conninfo: &str, tls: &PgTls, what: &'static str) -> Result<Client, tokio_postgres::Error> {
    let config: tokio_postgres::Config = conninfo.parse()?;
    let ended = move |r: Result<(), tokio_postgres::Error>| {
        if let Err(e) = r {
            tracing::error!(error = %e, what, "PostgreSQL connection ended");
        }
    };
    if config.get_ssl_mode() == SslMode::Require {
        let (client, connection) = config.connect(MakeRustls(tls.config())).await?;
        tokio::spawn(async move { ended(connection.await) });
        Ok(client)
    } else {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move { ended(connection.await) });
        Ok(client)
    }
}

impl PgConn {
    /// Connects (over TLS with `sslmode=require`, verified against `tls`); `what`
    /// names the user in logs (`audit`, `dedup`).
    pub async fn connect(conninfo: &str, tls: &PgTls, what: &'static str) -> Result<Self, tokio_postgres::Error> {
        Ok(Self { what, conninfo: conninfo.to_string(), tls: tls.clone(), client: Mutex::new(open(conninfo, tls, what).await?) })
    }

    /// The connection, connected again first if it has closed.
    pub async fn get(&self) -> Result<MutexGuard<'_, Client>, tokio_postgres::Error> {
        let mut c = self.client.lock().await;
        if c.is_closed() {
            tracing::warn!(what = self.what, "PostgreSQL connection closed: reconnecting");
            *c = open(&self.conninfo, &self.tls, self.what).await?;
        }
        Ok(c)
    }
}

/// A PostgreSQL session-level advisory lock on a name, held as long as its own
/// connection lives: the server releases it when the connection ends, however the
/// holding process ends. A watchdog takes it again if the connection drops (a server
/// restart) and logs an error if another session got it meanwhile.
#[derive(Debug)]
pub struct SessionLock {
    watchdog: tokio::task::JoinHandle<()>,
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        // The connection goes with the task: the server releases the lock.
        self.watchdog.abort();
    }
}

/// Asks for the lock on `name` (hashed by the server into the advisory lock's key).
async fn try_lock(conn: &PgConn, name: &str) -> Result<bool, tokio_postgres::Error> {
    let client = conn.get().await?;
    // Advisory locks span the database: the schema is part of the name, so
    // deployments in two schemas of one database do not refuse each other.
    let row = client.query_one("SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ':' || $1, 0))", &[&name]).await?;
    row.try_get(0)
}

/// True when this session still holds the lock on `name` (asked within 10 s: a
/// connection that does not answer has lost it, as far as anyone can tell).
async fn still_held(conn: &PgConn, name: &str) -> bool {
    let ask = async {
        let client = conn.get().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                   AND ((classid::bigint << 32) | objid::bigint) = hashtextextended(current_schema() || ':' || $1, 0))",
                &[&name],
            )
            .await?;
        row.try_get::<_, bool>(0)
    };
    matches!(tokio::time::timeout(std::time::Duration::from_secs(10), ask).await, Ok(Ok(true)))
}

impl SessionLock {
    /// Takes the lock on `name` over a connection of its own; `Ok(None)` when another
    /// session holds it.
    pub async fn take(conninfo: &str, tls: &PgTls, name: &str) -> Result<Option<Self>, tokio_postgres::Error> {
        let conn = PgConn::connect(conninfo, tls, "instance lock").await?;
        if !try_lock(&conn, name).await? {
            return Ok(None);
        }
        let name = name.to_string();
        let watchdog = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut held = true;
            loop {
                every.tick().await;
                if held && still_held(&conn, &name).await {
                    continue;
                }
                held = match try_lock(&conn, &name).await {
                    Ok(true) => {
                        tracing::warn!("The instance lock on PostgreSQL was lost (its connection ended or stopped answering): taken again");
                        true
                    }
                    Ok(false) => {
                        tracing::error!("PostgreSQL connection of the instance lock ended and another process holds the instance's name now: stop one of them");
                        false
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "PostgreSQL connection of the instance lock ended: could not take it again (tried again in 10 s)");
                        false
                    }
                };
            }
        });
        Ok(Some(Self { watchdog }))
    }
}
