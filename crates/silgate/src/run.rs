//! `silgate run` (the service), `silgate ingest` (one-off into the queue).
//!
//! `run` polls each configured inbox, ingests every file it finds (then moves it to
//! `<inbox>/done/`: the file's receipt, given only once its records are queued or
//! quarantined), and runs the publisher. SIGTERM or SIGINT stops polling, lets the
//! requests in flight finish, releases items that were waiting to retry (they stay in
//! the durable queue), and exits 0.

use crate::SourceKind;
use crate::gateway::{GatewayConfig, Ingest, IngestSummary};
use anyhow::{Context, Result};
use silgate_audit::Auditor;
use silgate_core::QueueItem;
use silgate_publish::{NodeClient, Publisher, RefusalSink};
use silgate_queue::AnyQueue;
use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Node refusals go to the gateway's quarantine file, one JSON line each.
#[derive(Debug)]
pub(crate) struct QuarantineFile(Mutex<std::fs::File>);

impl QuarantineFile {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        Ok(Self(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))?)))
    }
}

impl RefusalSink for QuarantineFile {
    fn refused(&self, item: &QueueItem, code: &str, reason: &str) {
        let line = serde_json::json!({
            "source": item.source,
            "position": item.source,
            "field": "",
            "rule": code,
            "message": reason,
            "message_id": item.message_id,
            "code": item.communication_code,
            "issues": [],
        });
        if let Ok(mut f) = self.0.lock() {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The opened components of a gateway.
pub(crate) struct Parts {
    pub(crate) cfg: GatewayConfig,
    pub(crate) queue: AnyQueue,
    pub(crate) dedup: silgate_publish::DedupIndex,
    pub(crate) audit_log: silgate_audit::AuditLog,
    pub(crate) audit: Auditor,
}

impl Parts {
    pub(crate) async fn open(cfg: GatewayConfig) -> Result<Self> {
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating {}", cfg.data_dir.display()))?;
        let queue = cfg.open_queue().await?;
        let dedup = cfg.open_dedup().await?;
        let audit_log = cfg.open_audit().await?;
        let audit = Auditor::spawn(audit_log.clone(), &cfg.instance);
        Ok(Self { cfg, queue, dedup, audit_log, audit })
    }

    pub(crate) fn publisher(&self) -> Result<Publisher<AnyQueue>> {
        let client = NodeClient::new(self.cfg.node.clone(), &self.cfg.region_name)?;
        let sink = Arc::new(QuarantineFile::open(&self.cfg.quarantine_path())?);
        Ok(Publisher::new(self.queue.clone(), self.dedup.clone(), client, self.audit.clone(), self.cfg.delivery.clone(), sink))
    }

    /// An ingest step over this gateway's queue, dedup index and audit, judging with
    /// the embedded code tables at `today`.
    pub(crate) fn ingest(&self, today: silgate_core::Date) -> Result<Ingest<'_>> {
        let xsd = silgate_std1546::XsdValidator::shared()?;
        Ingest::new(silgate_codes::CodeTables::embedded(), today, xsd, &self.cfg, &self.queue, &self.dedup, &self.audit)
    }

    /// Ingests files of canonical JSON lines.
    pub(crate) async fn ingest_files(&self, files: &[PathBuf], today: silgate_core::Date) -> Result<IngestSummary> {
        self.ingest_inputs(SourceKind::CanonicalJson, None, files, today, false).await
    }

    /// Ingests inputs of any kind; `progress` draws a bar on a terminal.
    pub(crate) async fn ingest_inputs(&self, kind: SourceKind, mapping: Option<&str>, inputs: &[PathBuf], today: silgate_core::Date, progress: bool) -> Result<IngestSummary> {
        let mapping = crate::sources::mapping(mapping)?;
        let pec = match (&self.cfg.pec, kind) {
            (Some(p), SourceKind::Pec) => Some(p.build(&self.cfg.base)?),
            _ => None,
        };
        let mut ing = self.ingest(today)?;
        let pb = progress.then(|| crate::sources::progress(kind.as_str()));
        for f in inputs {
            if kind == SourceKind::CanonicalJson {
                let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
                ing.canonical_json(BufReader::new(file), &f.display().to_string()).await?;
            } else {
                let src = crate::sources::open(kind, f, mapping.clone(), pec.as_ref())?;
                ing.source(src, pb.as_ref()).await?;
            }
        }
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        let mut s = ing.summary.clone();
        s.reasons.clone_from(&ing.translator.summary.reasons);
        Ok(s)
    }

    /// Ingests everything one source reads; returns the ingest's and the source's
    /// summaries (the latter has the watermark), once every batch is queued.
    pub(crate) async fn ingest_source(&self, src: Box<dyn silgate_core::Source + Send>, today: silgate_core::Date) -> Result<(IngestSummary, silgate_core::ReadSummary)> {
        let mut ing = self.ingest(today)?;
        let read = ing.source(src, None).await?;
        let mut s = ing.summary.clone();
        s.reasons.clone_from(&ing.translator.summary.reasons);
        Ok((s, read))
    }
}

pub(crate) fn today() -> silgate_core::Date {
    time::OffsetDateTime::now_utc().date()
}

pub(crate) async fn ingest(config: &Path, kind: SourceKind, mapping: Option<&str>, files: &[PathBuf]) -> Result<ExitCode> {
    let parts = Parts::open(GatewayConfig::load(config)?).await?;
    let s = parts.ingest_inputs(kind, mapping, files, today(), true).await?;
    println!("{} record(s): {} queued, {} unchanged (not queued), {} rejected (see {})", s.records, s.queued, s.unchanged, s.rejected, parts.cfg.quarantine_path().display());
    Ok(ExitCode::SUCCESS)
}

/// Moves an inbox entry (file or folder) into `to/`, under a new name if one of that
/// name is already there (an export re-sent under the same name is not overwritten).
/// Returns the name it got.
fn move_into(f: &Path, to: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(to)?;
    let name = f.file_name().ok_or_else(|| std::io::Error::other("no file name"))?;
    let mut target = to.join(name);
    if target.exists() {
        // The stamp goes before the extension: the name must still be what its kind
        // takes (a claimed input is listed again by extension).
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let p = Path::new(name);
        target = match (p.file_stem(), p.extension()) {
            (Some(stem), Some(ext)) => to.join(format!("{}.{ms}.{}", stem.to_string_lossy(), ext.to_string_lossy())),
            _ => to.join(format!("{}.{ms}", name.to_string_lossy())),
        };
    }
    std::fs::rename(f, &target)?;
    Ok(target)
}

/// Size and last change of a file, or of everything in a folder: an input is taken only
/// when this is the same at two polls in a row (it is not being copied in any more).
fn fingerprint(p: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(p).ok()?;
    if m.is_file() {
        return Some((m.len(), m.modified().ok()?));
    }
    let mut size = 0;
    let mut last = m.modified().ok()?;
    for e in std::fs::read_dir(p).ok()?.flatten() {
        let (s, t) = fingerprint(&e.path())?;
        size += s;
        last = last.max(t);
    }
    Some((size, last))
}

/// Names an inbox never takes: hidden files and the usual partial-upload names.
fn in_transit(p: &Path) -> bool {
    let n = p.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    n.starts_with('.') || [".part", ".tmp", ".partial", ".crdownload", ".filepart"].iter().any(|s| n.ends_with(s))
}

/// Where an instance holds the inputs it took from a shared inbox:
/// `INBOX/.claimed/<instance>/`.
fn claims_of(inbox: &Path, instance: &str) -> PathBuf {
    let safe: String = instance.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    inbox.join(".claimed").join(safe)
}

/// Holds this instance's claims folder: an exclusive lock on `<claims>.lock`, kept while
/// the poller runs and released by the kernel when the process dies. A second process
/// with the same instance name is refused (two of them would read each other's claims).
fn lock_claims(claims: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = claims.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(PathBuf::from(format!("{}.lock", claims.display())))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(std::io::Error::other(format!("another running instance holds {}: give every instance polling this inbox its own `instance` name", claims.display())))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Takes over what instances that are not running any more left in their claims
/// folders (their lock is free: the instance died, or was renamed or scaled in): the
/// inputs move into this instance's claims and are ingested here.
fn adopt_orphans(inbox: &Path, claims: &Path) {
    let Ok(rd) = std::fs::read_dir(inbox.join(".claimed")) else { return };
    for other in rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir() && p != claims) {
        let Ok(lock) = lock_claims(&other) else { continue };
        if let Ok(items) = std::fs::read_dir(&other) {
            for item in items.filter_map(|e| e.ok().map(|e| e.path())) {
                match move_into(&item, claims) {
                    Ok(to) => tracing::warn!(from = %item.display(), to = %to.display(), "took over an input left by an instance that is not running"),
                    Err(e) => tracing::warn!(file = %item.display(), error = %e, "could not take over a left input"),
                }
            }
        }
        drop(lock);
    }
}

/// Takes a stable input for this instance with one atomic rename into its claims
/// folder. `None` when another instance took it first (the file is gone).
fn claim(f: &Path, claims: &Path) -> std::io::Result<Option<PathBuf>> {
    match move_into(f, claims) {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !f.exists() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Polls one inbox. Several instances may poll the same one (scale-out): an input is
/// taken by renaming it into this instance's claims folder, which only one rename can
/// do; inputs left there by a crash of this instance are taken again first.
async fn poll_inbox(parts: Arc<Parts>, kind: SourceKind, mapping: Option<String>, inbox: PathBuf, every: Duration, mut stop: watch::Receiver<bool>) {
    let done = inbox.join("done");
    let refused = inbox.join("refused");
    let claims = claims_of(&inbox, &parts.cfg.instance);
    let _held = match lock_claims(&claims) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(inbox = %inbox.display(), error = %e, "this inbox cannot be polled");
            return;
        }
    };
    let mut seen: std::collections::HashMap<PathBuf, (u64, std::time::SystemTime)> = std::collections::HashMap::new();
    let mut stuck: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&inbox) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !in_transit(p) && !stuck.contains(p) && kind.takes(p)).collect(),
            Err(e) => {
                tracing::warn!(inbox = %inbox.display(), error = %e, "inbox unreadable");
                Vec::new()
            }
        };
        files.sort();
        // Only what did not change since the last poll: a file still being copied in
        // waits for the next one.
        let mut now_seen = std::collections::HashMap::new();
        let mut ready = Vec::new();
        for f in files {
            let Some(fp) = fingerprint(&f) else { continue };
            if seen.get(&f) == Some(&fp) {
                ready.push(f);
            } else {
                now_seen.insert(f, fp);
            }
        }
        seen = now_seen;
        // What this instance (or one that is not running any more) held, then what it
        // takes now.
        adopt_orphans(&inbox, &claims);
        let mut taken: Vec<PathBuf> =
            std::fs::read_dir(&claims).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !stuck.contains(p) && kind.takes(p)).collect()).unwrap_or_default();
        taken.sort();
        for f in ready {
            match claim(&f, &claims) {
                Ok(Some(p)) => taken.push(p),
                Ok(None) => {}
                Err(e) => tracing::warn!(file = %f.display(), error = %e, "could not take an input from the inbox"),
            }
        }
        for f in taken {
            if *stop.borrow() {
                return;
            }
            match parts.ingest_inputs(kind, mapping.as_deref(), std::slice::from_ref(&f), today(), false).await {
                Ok(s) => {
                    tracing::info!(file = %f.display(), records = s.records, queued = s.queued, unchanged = s.unchanged, rejected = s.rejected, "ingested");
                    if let Err(e) = move_into(&f, &done) {
                        tracing::error!(file = %f.display(), error = %e, "could not move an ingested file to done/; it will not be taken again");
                        stuck.insert(f);
                    }
                }
                Err(e) if matches!(e.downcast_ref::<silgate_core::SourceError>(), Some(silgate_core::SourceError::Io { .. })) => {
                    // Locked, permissions, a disk error: the input may be fine later.
                    tracing::error!(file = %f.display(), error = %format!("{e:#}"), "input unreadable now; it stays in the inbox for the next poll");
                }
                Err(e) if e.downcast_ref::<silgate_core::SourceError>().is_some() => {
                    // Not what the kind reads, refused whole before anything was emitted
                    // (a truncated export), or unreadable past some point (what came
                    // before is queued or quarantined). Set it aside with the reason.
                    let reason = format!("{e:#}");
                    tracing::error!(file = %f.display(), error = %reason, "input refused; moved to refused/");
                    match move_into(&f, &refused) {
                        Ok(target) => {
                            let note = PathBuf::from(format!("{}.reason.txt", target.display()));
                            let _ = std::fs::write(
                                note,
                                format!("{reason}\nRecords read before the error, if any, were queued or quarantined (see the audit log); nothing after it was.\n"),
                            );
                        }
                        Err(e) => {
                            tracing::error!(file = %f.display(), error = %e, "could not move a refused input to refused/; it will not be taken again");
                            stuck.insert(f.clone());
                        }
                    }
                    let entry = silgate_audit::NewEntry::now(silgate_audit::Event::Rejected, None, None, None, format!("rule=source.refused at={}", f.display()));
                    let _ = parts.audit.record(vec![entry]).await;
                }
                Err(e) => tracing::error!(file = %f.display(), error = %format!("{e:#}"), "ingest failed; the file stays in the inbox"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

pub(crate) async fn run(config: &Path) -> Result<ExitCode> {
    let parts = Arc::new(Parts::open(GatewayConfig::load(config)?).await?);
    let publisher = parts.publisher()?;
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();
    for s in &parts.cfg.sources {
        let kind = SourceKind::parse(&s.kind).with_context(|| format!("unknown source kind '{}'", s.kind))?;
        let every = Duration::from_secs(s.poll_secs.max(1));
        match (&s.inbox, &s.imap) {
            (Some(inbox), _) => {
                std::fs::create_dir_all(inbox).with_context(|| format!("creating {}", inbox.display()))?;
                tasks.push(tokio::spawn(poll_inbox(parts.clone(), kind, s.mapping.clone(), inbox.clone(), every, stop.clone())));
            }
            (None, Some(imap)) => {
                let mb = crate::mailbox::PecMailbox::new(imap, &parts.cfg)?;
                tasks.push(tokio::spawn(mb.run(parts.clone(), every, stop.clone())));
            }
            (None, None) => {
                let puller = crate::pull::SintesiPull::new(s)?;
                tasks.push(tokio::spawn(puller.run(parts.clone(), every, stop.clone())));
            }
        }
    }
    if let Some(api) = parts.cfg.api.clone() {
        let (parts, stop) = (parts.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = crate::api::serve(api, parts, stop).await {
                tracing::error!(error = %format!("{e:#}"), "push API stopped");
            }
        }));
    }
    if let Some(m) = parts.cfg.metrics.clone() {
        let (parts, stop, counters, breaker) = (parts.clone(), stop.clone(), publisher.counters(), publisher.breaker());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(m, parts, counters, breaker, stop).await {
                tracing::error!(error = %format!("{e:#}"), "metrics endpoint stopped");
            }
        }));
    }
    let pub_task = {
        let stop = stop.clone();
        tokio::spawn(async move { publisher.run(stop, None).await })
    };
    tracing::info!(instance = %parts.cfg.instance, queue = parts.queue.backend(), "silgate running");
    shutdown_signal().await;
    tracing::info!("shutting down: draining in-flight deliveries");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    pub_task.await.context("publisher task")??;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT.
pub(crate) async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_name_taken_in_the_claims_the_input_should_keep_its_extension() {
        let dir = tempfile::tempdir().unwrap();
        let (inbox, claims) = (dir.path().join("inbox"), dir.path().join("claims"));
        std::fs::create_dir_all(&inbox).unwrap();
        std::fs::create_dir_all(&claims).unwrap();
        std::fs::write(claims.join("export.jsonl"), "first\n").unwrap();
        std::fs::write(inbox.join("export.jsonl"), "second\n").unwrap();
        let moved = claim(&inbox.join("export.jsonl"), &claims).unwrap().unwrap();
        assert!(SourceKind::CanonicalJson.takes(&moved), "{}", moved.display());
        assert_eq!(std::fs::read_to_string(claims.join("export.jsonl")).unwrap(), "first\n");
        // Gone already: another instance took it.
        assert!(claim(&inbox.join("export.jsonl"), &claims).unwrap().is_none());
    }

    #[test]
    fn given_two_pollers_with_one_instance_name_the_second_should_be_refused() {
        let dir = tempfile::tempdir().unwrap();
        let claims = claims_of(dir.path(), "gw");
        let held = lock_claims(&claims).unwrap();
        let e = lock_claims(&claims).unwrap_err();
        assert!(e.to_string().contains("its own `instance` name"), "{e}");
        drop(held);
        assert!(lock_claims(&claims).is_ok(), "free again once the holder is gone");
    }

    #[test]
    fn given_claims_of_an_instance_not_running_another_should_take_them_over() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path();
        let (dead, mine, alive) = (claims_of(inbox, "gone"), claims_of(inbox, "me"), claims_of(inbox, "busy"));
        for c in [&dead, &mine, &alive] {
            std::fs::create_dir_all(c).unwrap();
        }
        std::fs::write(dead.join("left.jsonl"), "x\n").unwrap();
        std::fs::write(alive.join("working.jsonl"), "y\n").unwrap();
        let _busy = lock_claims(&alive).unwrap();
        let _me = lock_claims(&mine).unwrap();
        adopt_orphans(inbox, &mine);
        assert!(mine.join("left.jsonl").is_file(), "the dead instance's input is taken over");
        assert!(alive.join("working.jsonl").is_file(), "a running instance keeps its own");
    }
}
