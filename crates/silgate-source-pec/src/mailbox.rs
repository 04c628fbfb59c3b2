//! The PEC mailbox over IMAP (async-imap on tokio): IMAPS, or STARTTLS, through
//! tokio-rustls; plaintext only to a loopback server and only when the config says
//! `insecure_loopback`.
//!
//! What the gateway needs of a mailbox, and no more: the UIDs of the messages not yet
//! processed (`UNSEEN`), a message's bytes without marking it read (`BODY.PEEK[]`),
//! marking it processed once every record in it is queued or quarantined (`\Seen`, then
//! `UID MOVE` to the processed folder), and waiting for news (`IDLE` when the server has
//! it, else a sleep).

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use futures_util::StreamExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How to reach the mailbox.
#[derive(Clone)]
pub struct ImapSettings {
    /// Server host name (also the TLS name).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// `imaps`, `starttls`, or `plain` (loopback only, with `insecure_loopback`).
    pub security: Security,
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
    /// The folder polled (`INBOX`).
    pub mailbox: String,
    /// Where processed messages are moved (created if missing).
    pub processed: String,
}

impl std::fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &"***")
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

/// The longest any one IMAP command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

async fn timed<T, E: std::fmt::Display>(step: &'static str, f: impl std::future::Future<Output = Result<T, E>>) -> Result<T, ImapError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(r) => r.map_err(|e| fail(step)(&e)),
        Err(_) => Err(ImapError { step, message: format!("no answer in {} s", COMMAND_TIMEOUT.as_secs()) }),
    }
}

/// Transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte.
    Imaps,
    /// Plain, then `STARTTLS` before login.
    StartTls,
    /// No TLS: tests against a loopback server only.
    InsecureLoopback,
}

/// An IMAP failure: which step, and what the server or the network said.
#[derive(Debug, thiserror::Error)]
#[error("imap {step}: {message}")]
pub struct ImapError {
    /// The step (`connect`, `tls`, `login`, `select`, `search`, `fetch`, `move`, `idle`).
    pub step: &'static str,
    /// What went wrong.
    pub message: String,
}

fn fail(step: &'static str) -> impl Fn(&dyn std::fmt::Display) -> ImapError {
    move |e| ImapError { step, message: e.to_string() }
}

/// The connection under the IMAP client.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A logged-in, selected mailbox.
#[derive(Debug)]
pub struct Mailbox {
    session: Session<Conn>,
    settings: ImapSettings,
    idle: bool,
    moves: bool,
}

async fn tls(tcp: TcpStream, host: &str, tls: &Arc<rustls::ClientConfig>) -> Result<Conn, ImapError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| fail("tls")(&e))?;
    let s = tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp).await.map_err(|e| fail("tls")(&e))?;
    Ok(Conn::Tls(Box::new(s)))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Mailbox {
    /// Connects, secures, logs in, selects the mailbox and makes sure the processed
    /// folder exists. `tls_config` is required unless the security is
    /// [`Security::InsecureLoopback`] (refused for a host that is not loopback).
    pub async fn connect(settings: ImapSettings, tls_config: Option<Arc<rustls::ClientConfig>>) -> Result<Self, ImapError> {
        if settings.security == Security::InsecureLoopback && !is_loopback(&settings.host) {
            return Err(ImapError { step: "connect", message: format!("plaintext IMAP is only allowed to a loopback server, not {}", settings.host) });
        }
        let tcp = tokio::time::timeout(Duration::from_secs(15), TcpStream::connect((settings.host.as_str(), settings.port)))
            .await
            .map_err(|e| fail("connect")(&e))?
            .map_err(|e| fail("connect")(&e))?;
        let needs_tls = || tls_config.clone().ok_or_else(|| ImapError { step: "tls", message: "no TLS configuration".into() });
        let client = match settings.security {
            Security::Imaps => {
                let mut c = async_imap::Client::new(tls(tcp, &settings.host, &needs_tls()?).await?);
                c.read_response().await.map_err(|e| fail("greeting")(&e))?;
                c
            }
            Security::StartTls => {
                let mut plain = async_imap::Client::new(Conn::Plain(tcp));
                plain.read_response().await.map_err(|e| fail("greeting")(&e))?;
                plain.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| fail("starttls")(&e))?;
                let Conn::Plain(tcp) = plain.into_inner() else { return Err(ImapError { step: "starttls", message: "unexpected stream".into() }) };
                async_imap::Client::new(tls(tcp, &settings.host, &needs_tls()?).await?)
            }
            Security::InsecureLoopback => {
                let mut c = async_imap::Client::new(Conn::Plain(tcp));
                c.read_response().await.map_err(|e| fail("greeting")(&e))?;
                c
            }
        };
        let mut session = match tokio::time::timeout(COMMAND_TIMEOUT, client.login(&settings.user, &settings.password)).await {
            Ok(Ok(s)) => s,
            Ok(Err((e, _))) => return Err(fail("login")(&e)),
            Err(_) => return Err(ImapError { step: "login", message: "no answer".into() }),
        };
        let caps = timed("capability", session.capabilities()).await?;
        let idle = caps.has_str("IDLE");
        let moves = caps.has_str("MOVE");
        timed("select", session.select(&settings.mailbox)).await?;
        Ok(Self { session, settings, idle, moves })
    }

    /// Creates a folder if it is missing (an error other than "exists" is reported).
    pub async fn ensure_folder(&mut self, name: &str) -> Result<(), ImapError> {
        let exists = {
            let mut list = timed("list", self.session.list(None, Some(name))).await?;
            let mut found = false;
            while let Some(n) = list.next().await {
                found |= n.is_ok_and(|n| n.name() == name);
            }
            found
        };
        if !exists {
            timed("create", self.session.create(name)).await?;
        }
        Ok(())
    }

    /// UIDs of every message in the polled folder (processed ones are moved out of
    /// it: a message another client marked read is still taken), oldest first.
    pub async fn pending(&mut self) -> Result<Vec<u32>, ImapError> {
        let mut uids: Vec<u32> = timed("search", self.session.uid_search("ALL")).await?.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// A message's size in bytes, asked before its bytes are fetched.
    pub async fn size(&mut self, uid: u32) -> Result<Option<u64>, ImapError> {
        let mut stream = timed("fetch", self.session.uid_fetch(uid.to_string(), "RFC822.SIZE")).await?;
        let mut size = None;
        while let Some(f) = timed("fetch", async { Ok::<_, ImapError>(stream.next().await) }).await? {
            let f = f.map_err(|e| fail("fetch")(&e))?;
            if f.uid == Some(uid) {
                size = f.size.map(u64::from);
            }
        }
        Ok(size)
    }

    /// A message's bytes, without marking it read.
    pub async fn fetch(&mut self, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        let mut stream = timed("fetch", self.session.uid_fetch(uid.to_string(), "BODY.PEEK[]")).await?;
        let mut body = None;
        while let Some(f) = timed("fetch", async { Ok::<_, ImapError>(stream.next().await) }).await? {
            let f = f.map_err(|e| fail("fetch")(&e))?;
            if f.uid == Some(uid) {
                body = f.body().map(<[u8]>::to_vec).or(body);
            }
        }
        Ok(body)
    }

    /// Marks a message processed: `\Seen`, then moved to the processed folder.
    pub async fn processed(&mut self, uid: u32) -> Result<(), ImapError> {
        let to = self.settings.processed.clone();
        self.move_to(uid, &to).await
    }

    /// `\Seen`, then moved to `folder` (MOVE, or COPY + `\Deleted` + EXPUNGE when the
    /// server has no MOVE).
    pub async fn move_to(&mut self, uid: u32, folder: &str) -> Result<(), ImapError> {
        self.ensure_folder(folder).await?;
        {
            let mut s = timed("store", self.session.uid_store(uid.to_string(), "+FLAGS (\\Seen)")).await?;
            while let Some(r) = s.next().await {
                r.map_err(|e| fail("store")(&e))?;
            }
        }
        if self.moves {
            return timed("move", self.session.uid_mv(uid.to_string(), folder)).await;
        }
        timed("copy", self.session.uid_copy(uid.to_string(), folder)).await?;
        {
            let mut s = timed("store", self.session.uid_store(uid.to_string(), "+FLAGS (\\Deleted)")).await?;
            while let Some(r) = s.next().await {
                r.map_err(|e| fail("store")(&e))?;
            }
        }
        let gone = timed("expunge", self.session.expunge()).await?;
        let mut gone = std::pin::pin!(gone);
        while let Some(r) = gone.next().await {
            r.map_err(|e| fail("expunge")(&e))?;
        }
        Ok(())
    }

    /// Waits for news in the mailbox, at most `limit` (IDLE when the server has it).
    /// Consumes and gives back the mailbox (IDLE takes the session).
    pub async fn wait(self, limit: Duration) -> Result<Self, ImapError> {
        if !self.idle {
            tokio::time::sleep(limit).await;
            return Ok(self);
        }
        let Self { session, settings, idle, moves } = self;
        let mut handle = session.idle();
        timed("idle", handle.init()).await?;
        let (wait, _stop) = handle.wait_with_timeout(limit);
        let r: Result<IdleResponse, _> = wait.await;
        r.map_err(|e| fail("idle")(&e))?;
        let session = timed("idle", handle.done()).await?;
        Ok(Self { session, settings, idle, moves })
    }

    /// Logs out.
    pub async fn logout(mut self) {
        let _ = self.session.logout().await;
    }
}
