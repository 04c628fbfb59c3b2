//! Retention (`[retention]`): personal content the gateway keeps past its purpose is
//! deleted once its days are past, by `silgate purge` and once a day inside `silgate
//! run`; each purge is audited by count (`purged`), never by name.
//!
//! What holds personal content, and its key:
//! - dead letters (the SQLite queue's dead-letter store: whole documents):
//!   `dead_letters_days`, by when they were dead-lettered;
//! - inputs kept after reading (an inbox's `done/` and `refused/`, with their reason
//!   notes, and pulled feeds set aside in `DATA_DIR/refused/`): `inputs_days`, by when
//!   they were moved there (the entry's change time: a move sets it).
//!
//! Delivered queue items are not kept (an ack deletes them); quarantine and warning
//! lines hold rule ids, fields and positions, no record content; the audit holds none
//! and is never purged. A purged pulled feed lets its pull fetch again.

use crate::Parts;
use crate::config::Origin;
use crate::drivers::{Driver, Shutdown};
use crate::error::{GatewayError, Result};
use silgate_audit::{Event, NewEntry};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What one purge deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeSummary {
    /// Dead letters deleted (`None`: not configured, or kept by RabbitMQ).
    pub dead_letters: Option<usize>,
    /// Inputs deleted from `done/` and `refused/` folders (`None`: not configured).
    pub inputs: Option<usize>,
}

/// Deletes what is past its retention (measured from `now`), audits each kind by
/// count, and says what went.
pub async fn purge(parts: &Parts, now: SystemTime) -> Result<PurgeSummary> {
    let r = parts.cfg.retention.clone().unwrap_or_default();
    let mut out = PurgeSummary::default();
    let mut entries = Vec::new();
    if let Some(days) = r.dead_letters_days {
        let before = cutoff(now, days);
        let before_ms = i64::try_from(before.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(i64::MAX);
        let n = parts.queue.purge_dead(before_ms).await?;
        match n {
            Some(n) if n > 0 => entries.push(purged("dead-letters", n, days)),
            Some(_) => {}
            None => tracing::warn!("dead_letters_days: the RabbitMQ dead-letter queue is the broker's to expire (a message-ttl policy on <queue>.dead)"),
        }
        out.dead_letters = n;
    }
    if let Some(days) = r.inputs_days {
        let before = cutoff(now, days);
        let folders = kept_folders(parts);
        let n = tokio::task::spawn_blocking(move || folders.iter().map(|d| sweep(d, before)).sum::<Result<usize>>()).await??;
        if n > 0 {
            entries.push(purged("inputs", n, days));
        }
        out.inputs = Some(n);
    }
    if !entries.is_empty() {
        parts.audit.record(entries).await?;
    }
    Ok(out)
}

fn purged(what: &str, count: usize, days: u32) -> NewEntry {
    NewEntry::now(Event::Purged { what: what.into(), count: u64::try_from(count).unwrap_or(u64::MAX), older_than_days: days }, None, None, None)
}

/// `days` before `now`.
fn cutoff(now: SystemTime, days: u32) -> SystemTime {
    now.checked_sub(Duration::from_secs(u64::from(days) * 86_400)).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The folders kept inputs wait in: every inbox's `done/` and `refused/`, and the
/// data directory's `refused/` (pulled feeds).
fn kept_folders(parts: &Parts) -> Vec<PathBuf> {
    let mut out = vec![parts.cfg.data_dir.join("refused")];
    for s in &parts.cfg.sources {
        if let Some(Origin::Inbox(inbox)) = s.origin() {
            out.push(inbox.join("done"));
            out.push(inbox.join("refused"));
        }
    }
    out
}

/// Deletes the entries of `dir` (files, or an Access export's folder whole) moved there
/// before `before`; returns how many inputs went (a reason note beside its input is
/// not counted apart). A missing folder holds nothing.
fn sweep(dir: &Path, before: SystemTime) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(GatewayError::io(format!("reading {}", dir.display()), e)),
    };
    let mut n = 0;
    for e in entries {
        let e = e.map_err(|e| GatewayError::io(format!("reading {}", dir.display()), e))?;
        let path = e.path();
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Gone meanwhile (another instance's purge).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(GatewayError::io(format!("reading {}", path.display()), e)),
        };
        if arrived(&meta) >= before {
            continue;
        }
        let gone = if meta.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        match gone {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(GatewayError::io(format!("removing {}", path.display()), e)),
        }
        if !path.to_string_lossy().ends_with(".reason.txt") {
            n += 1;
        }
    }
    Ok(n)
}

/// When an entry came to its folder: its change time (a rename sets it; its
/// modification time is the source's), else its modification time.
fn arrived(meta: &std::fs::Metadata) -> SystemTime {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let secs = u64::try_from(meta.ctime()).unwrap_or(0);
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }
    #[cfg(not(unix))]
    {
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// Purges at start, then once a day.
pub(crate) struct RetentionDriver;

impl Driver for RetentionDriver {
    fn name(&self) -> String {
        "retention".into()
    }

    async fn run(&mut self, parts: &Arc<Parts>, stop: &mut Shutdown) -> Result<()> {
        loop {
            let s = purge(parts, SystemTime::now()).await?;
            tracing::info!(dead_letters = ?s.dead_letters, inputs = ?s.inputs, "Retention: what was past its days was deleted");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(86_400)) => {}
                () = stop.wait() => return Ok(()),
            }
        }
    }
}
