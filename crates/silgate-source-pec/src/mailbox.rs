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
#[derive(Debug, Clone)]
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
        let mut client = match settings.security {
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
        let _ = &mut client;
        let mut session = client.login(&settings.user, &settings.password).await.map_err(|(e, _)| fail("login")(&e))?;
        let caps = session.capabilities().await.map_err(|e| fail("capability")(&e))?;
        let idle = caps.has_str("IDLE");
        let _ = session.create(&settings.processed).await;
        session.select(&settings.mailbox).await.map_err(|e| fail("select")(&e))?;
        Ok(Self { session, settings, idle })
    }

    /// UIDs of the messages not processed yet, oldest first.
    pub async fn unseen(&mut self) -> Result<Vec<u32>, ImapError> {
        let mut uids: Vec<u32> = self.session.uid_search("UNSEEN").await.map_err(|e| fail("search")(&e))?.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// A message's bytes, without marking it read.
    pub async fn fetch(&mut self, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        let mut stream = self.session.uid_fetch(uid.to_string(), "BODY.PEEK[]").await.map_err(|e| fail("fetch")(&e))?;
        let mut body = None;
        while let Some(f) = stream.next().await {
            let f = f.map_err(|e| fail("fetch")(&e))?;
            if f.uid == Some(uid) || body.is_none() {
                body = f.body().map(<[u8]>::to_vec).or(body);
            }
        }
        Ok(body)
    }

    /// Marks a message processed: `\Seen`, then moved to the processed folder.
    pub async fn processed(&mut self, uid: u32) -> Result<(), ImapError> {
        {
            let mut s = self.session.uid_store(uid.to_string(), "+FLAGS (\\Seen)").await.map_err(|e| fail("store")(&e))?;
            while let Some(r) = s.next().await {
                r.map_err(|e| fail("store")(&e))?;
            }
        }
        self.session.uid_mv(uid.to_string(), &self.settings.processed).await.map_err(|e| fail("move")(&e))
    }

    /// Waits for news in the mailbox, at most `limit` (IDLE when the server has it).
    /// Consumes and gives back the mailbox (IDLE takes the session).
    pub async fn wait(self, limit: Duration) -> Result<Self, ImapError> {
        if !self.idle {
            tokio::time::sleep(limit).await;
            return Ok(self);
        }
        let Self { session, settings, idle } = self;
        let mut handle = session.idle();
        handle.init().await.map_err(|e| fail("idle")(&e))?;
        let (wait, _stop) = handle.wait_with_timeout(limit);
        let r: Result<IdleResponse, _> = wait.await;
        r.map_err(|e| fail("idle")(&e))?;
        let session = handle.done().await.map_err(|e| fail("idle")(&e))?;
        Ok(Self { session, settings, idle })
    }

    /// Logs out.
    pub async fn logout(mut self) {
        let _ = self.session.logout().await;
    }
}
