//! `silgate run` on a PEC mailbox: every message in the polled folder is fetched (without
//! marking it read), taken apart by the PEC adapter, its records queued or quarantined,
//! its fate audited, and only then marked `\Seen` and moved to the processed folder.
//!
//! Exactly once: a crash before the move leaves the message in the inbox; seen again,
//! its records are known to the dedup index and queue nothing, and a message recorded
//! as processed whole (key: the PEC `identificativo` + the SHA-256 of its bytes) is
//! only moved. A message larger than the limit is not fetched; one whose reading fails
//! or never finishes (`[limits] max_unfinished_reads`, 3, counted on disk by the
//! message's SHA-256, so a crash loop on one message stops there) is set aside in
//! `silgate-failed` (audited) so the others go on; the gateway's own failures (queue,
//! database, disk) restart the session instead. The providers' certificates, pinned
//! signers and CRLs are read again when one of their files changes (a refreshed CRL
//! needs no restart); a message whose signer's CA has no current CRL among them stays
//! in the folder, uncounted, until the CRL is refreshed.
//! A failed session is started again by the driver supervisor (a delay doubling from
//! one second to a minute, reset once a session lasted a minute); between polls the
//! client IDLEs when the server can.

use super::attempts::Attempts;
use super::{Driver, Shutdown};
use crate::Parts;
use crate::config::{GatewayConfig, ImapConfig, ImapSecurity};
use crate::error::{Context as _, GatewayError, Result};
use crate::parts::today;
use silgate_audit::{Event, Input, NewEntry};
use silgate_source_pec::mailbox::{ImapSettings, Mailbox, Security};
use silgate_source_pec::{PecConfig, PecMessage};
use std::sync::Arc;
use std::time::Duration;

/// Counts of attempts not written for this long are dropped (their message left the
/// folder by other ways).
const ATTEMPTS_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where messages the gateway cannot take go (audited), so the rest go on.
const FAILED: &str = "silgate-failed";

/// One polled mailbox.
#[derive(Debug, Clone)]
pub(crate) struct PecMailbox {
    settings: ImapSettings,
    tls: Option<Arc<rustls::ClientConfig>>,
    pec: Arc<PecConfig>,
    /// The `[pec]` table and the limits the adapter's config was built from, with the
    /// state of its certificate files then: rebuilt when they change.
    trust: (crate::config::PecSettings, silgate_source_tabular::Limits, Vec<FileStamp>),
    every: Duration,
    /// Reads started and not finished, per message (on disk).
    attempts: Attempts,
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    /// Ingested, or quarantined: it may be moved to the processed folder.
    Done,
    /// Its signer's revocation cannot be checked now (no current CRL): it stays in the
    /// folder until the CRL file is refreshed.
    Waits,
}

/// A file's length and modification time (`None`: unreadable).
type FileStamp = Option<(u64, std::time::SystemTime)>;

impl PecMailbox {
    pub(crate) fn new(c: &ImapConfig, cfg: &GatewayConfig, every: Duration) -> Result<Self> {
        let security = match c.security {
            ImapSecurity::Imaps => Security::Imaps,
            ImapSecurity::Starttls => Security::StartTls,
            ImapSecurity::InsecureLoopback => Security::InsecureLoopback,
        };
        let password = match (&c.password, &c.password_env) {
            (_, Some(var)) => std::env::var(var).map_err(|_| GatewayError::config(format!("sources.imap.password_env: {var} is not set")))?,
            (Some(p), None) => p.clone(),
            (None, None) => return Err(GatewayError::config("sources.imap: password or password_env is required")),
        };
        let tls = match &c.ca {
            Some(ca) => Some(Arc::new(silgate_publish::tls_config(ca, None, None)?)),
            None => None,
        };
        let table = cfg.pec.as_ref().context("a pec source needs the [pec] table")?.clone();
        let stamps = table.file_stamps();
        let pec = table.build(cfg.limits)?;
        let settings = ImapSettings { host: c.host.clone(), port: c.port, security, user: c.user.clone(), password, mailbox: c.mailbox.clone(), processed: c.processed.clone() };
        let attempts = Attempts::new(cfg.data_dir.join("pec-attempts").join(&cfg.instance));
        Ok(Self { settings, tls, pec, trust: (table, cfg.limits, stamps), every, attempts })
    }

    /// Builds the adapter's config again when a certificate or CRL file changed; a
    /// file that no longer reads keeps the previous trust (logged).
    fn refresh_trust(&mut self) {
        let (table, limits, stamps) = &mut self.trust;
        let now = table.file_stamps();
        if now == *stamps {
            return;
        }
        match table.build(*limits) {
            Ok(pec) => {
                tracing::info!("PEC provider certificates, pinned signers or CRLs changed: read again");
                self.pec = pec;
                *stamps = now;
            }
            Err(e) => tracing::error!(error = %e, "PEC trust files changed and do not read: the previous ones stay in use"),
        }
    }

    fn origin(&self, uid: u32) -> String {
        format!("imap://{}@{}/{};UID={uid}", self.settings.user, self.settings.host, self.settings.mailbox)
    }

    /// Handles one message whole; returns once it may be marked processed, or says it
    /// must wait in the folder.
    async fn one(&self, parts: &Parts, uid: u32, raw: Vec<u8>) -> Result<Taken> {
        // Keyed: the message holds personal data, and the index keeps this.
        let hash = parts.keyer.hash(&[b"pec", &raw]);
        let plain = parts.dedup.holds_legacy().then(|| silgate_dedup::sha256_hex(&[&raw]));
        let (pec, copy) = (self.pec.clone(), raw.clone());
        let opened = tokio::task::spawn_blocking(move || silgate_source_pec::envelope::open(&copy, &pec.trust)).await?;
        if let Err(e) = &opened
            && e.rule == "pec.crl"
        {
            tracing::error!(uid, reason = %e.message, "PEC message left in the folder: its signer's CRL is missing or stale");
            return Ok(Taken::Waits);
        }
        let (class, id, cpi) = match &opened {
            Ok(env) => {
                let dc = env.daticert.clone().unwrap_or_default();
                let cpi = self.pec.senders.get(&dc.mittente.trim().to_ascii_lowercase()).cloned();
                (format!("{:?}", env.class.clone().unwrap_or(silgate_source_pec::Class::NotPec)).to_lowercase(), dc.identificativo, cpi)
            }
            Err(e) => (format!("invalid ({})", e.rule), String::new(), None),
        };
        let key = format!("pec:{id}:{hash}");
        // Processed whole by an older build, which kept a plain hash.
        let before = match plain {
            Some(h) => parts.dedup.input_seen(&format!("pec:{id}:{h}")).await?,
            None => false,
        };
        if before || parts.dedup.input_seen(&key).await? {
            let e = NewEntry::now(Event::Input(Input::AlreadyProcessed { uid, id }), None, None, cpi.as_deref());
            parts.audit.record(vec![e]).await?;
            return Ok(Taken::Done);
        }
        let msg = match opened {
            // Opened once above: the adapter does not verify the signature again.
            Ok(env) => PecMessage::opened(raw, self.origin(uid), self.pec.clone(), env),
            Err(_) => PecMessage::new(raw, self.origin(uid), self.pec.clone()),
        };
        let (s, _) = parts.ingest_source(Box::new(msg), today()).await?;
        parts.dedup.mark_input(&key).await?;
        tracing::info!(uid, class = %class, records = s.records, queued = s.queued, rejected = s.rejected, "PEC message processed");
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        let done = Input::Processed { uid, id, class, records: n(s.records), queued: n(s.queued), unchanged: n(s.unchanged), rejected: n(s.rejected) };
        parts.audit.record(vec![NewEntry::now(Event::Input(done), None, None, cpi.as_deref())]).await?;
        Ok(Taken::Done)
    }

    async fn session(&mut self, parts: &Parts, stop: &mut Shutdown) -> Result<()> {
        let every = self.every;
        let mut mb = Mailbox::connect(self.settings.clone(), self.tls.clone()).await?;
        mb.ensure_folder(&self.settings.processed).await?;
        loop {
            self.refresh_trust();
            self.attempts.prune_older_than(ATTEMPTS_KEPT);
            for uid in mb.pending().await? {
                if stop.is_shutdown() {
                    mb.logout().await;
                    return Ok(());
                }
                if let Some(n) = mb.size(uid).await?
                    && n > self.pec.max_message_bytes
                {
                    self.set_aside(parts, &mut mb, uid, &format!("larger than {} MiB: not fetched", self.pec.max_message_bytes >> 20)).await?;
                    continue;
                }
                let max = parts.cfg.limits.max_unfinished_reads.max(1);
                let raw = mb.fetch(uid).await?;
                // Counted by content: a UID says nothing across UIDVALIDITY changes.
                let name = match &raw {
                    Some(raw) => parts.keyer.hash(&[b"pec", raw]),
                    None => format!("uid-{uid}"),
                };
                let key = std::ffi::OsStr::new(&name);
                let started = self.attempts.of(key);
                if started >= max {
                    let why = format!("source.poison: reading it stopped the gateway {started} times (killed or crashed in the middle)");
                    self.set_aside(parts, &mut mb, uid, &why).await?;
                    self.forget(key);
                    continue;
                }
                // Without the count a crash loop could not be stopped: do not read it.
                self.attempts.set(key, started + 1).map_err(|e| GatewayError::io("counting a read of a PEC message".to_string(), e))?;
                let outcome = match raw {
                    Some(raw) => self.one(parts, uid, raw).await,
                    None => Err(GatewayError::NoBody(uid)),
                };
                match outcome {
                    Ok(Taken::Done) => {
                        self.forget(key);
                        mb.processed(uid).await?;
                    }
                    // Not the message's fault: it stays, uncounted, for a later poll.
                    Ok(Taken::Waits) => {
                        if let Err(io) = self.attempts.set(key, started) {
                            tracing::warn!(uid, error = %io, "Could not take back the attempt of a PEC message");
                        }
                    }
                    // The gateway's own trouble (queue, database, disk): not the
                    // message's; the session restarts later and takes it again.
                    Err(e) if !e.input_fault() => {
                        if let Err(io) = self.attempts.set(key, started) {
                            tracing::warn!(uid, error = %io, "Could not take back the attempt of a PEC message");
                        }
                        return Err(e);
                    }
                    Err(e) => {
                        let n = started + 1;
                        tracing::error!(uid, attempt = n, error = %e, "PEC message failed");
                        if n >= max {
                            self.set_aside(parts, &mut mb, uid, &format!("failed {n} times: {e}")).await?;
                            self.forget(key);
                        }
                    }
                }
            }
            if stop.is_shutdown() {
                mb.logout().await;
                return Ok(());
            }
            mb = tokio::select! {
                r = mb.wait(every) => r?,
                _ = stop.wait() => return Ok(()),
            };
        }
    }

    /// Forgets the attempts at a message that left the folder.
    fn forget(&self, key: &std::ffi::OsStr) {
        if let Err(e) = self.attempts.set(key, 0) {
            tracing::warn!(error = %e, "Could not forget the attempts of a PEC message");
        }
    }

    /// Moves a message the gateway cannot take to the failed folder, audited: the
    /// mailbox goes on with the next one.
    async fn set_aside(&self, parts: &Parts, mb: &mut Mailbox, uid: u32, why: &str) -> Result<()> {
        tracing::error!(uid, reason = %why, folder = FAILED, "PEC message set aside");
        let e = NewEntry::now(Event::Input(Input::SetAside { uid, folder: FAILED.to_string(), reason: why.to_string() }), None, None, None);
        parts.audit.record(vec![e]).await?;
        mb.move_to(uid, FAILED).await?;
        Ok(())
    }
}

impl Driver for PecMailbox {
    fn name(&self) -> String {
        format!("pec mailbox {}", self.settings.host)
    }

    /// One IMAP session, until shutdown; a failure (the server, the network, the
    /// gateway's own stores) ends it and the supervisor reconnects after its delay.
    async fn run(&mut self, parts: &Arc<Parts>, stop: &mut Shutdown) -> Result<()> {
        self.session(parts, stop).await
    }
}
