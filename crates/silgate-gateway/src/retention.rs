//! Retention (`[retention]`): personal content the gateway keeps past its purpose is
//! deleted once its days are past, by `silgate purge` and at start and once a day
//! inside `silgate run`; each purge is audited (`purged`: each dead letter under its
//! message id, the inputs by count), never by name.
//!
//! What holds personal content, and its key:
//! - dead letters (the SQLite queue's dead-letter store: whole documents):
//!   `dead_letters_days`, by when they were dead-lettered. Each purged version gets its
//!   own `purged` entry (its story ends there), its content is overwritten in the file,
//!   and the dedup index no longer knows it (a re-export is judged and sent again);
//! - inputs kept after reading (an inbox's `done/` and `refused/`, with their reason
//!   notes): `inputs_days`, by when they were moved there (the entry's change time: a
//!   move sets it); pulled feeds set aside in `DATA_DIR/refused/` are emptied, not
//!   removed (the file is what keeps their pull paused);
//! - refused records kept for a replay (`DATA_DIR/kept.db`, see [`crate::kept`]):
//!   `refused_days`, by when they were last refused, replayed or not; counted in one
//!   `purged` entry, overwritten in the file.
//!
//! Delivered queue items are not kept (an ack deletes them); quarantine and warning
//! lines hold rule ids, fields and positions, no record content; the audit holds none
//! and is never purged. Errors name folders, never the entries in them (their names
//! are people's).

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
    /// Inputs deleted from `done/` and `refused/` folders, or feeds emptied (`None`:
    /// not configured).
    pub inputs: Option<usize>,
    /// Kept refusals deleted, replayed or not (`None`: not configured).
    pub refused: Option<usize>,
    /// Entries that could not be deleted (left for the next purge; the log says which
    /// folder).
    pub failed: usize,
}

/// Deletes what is past its retention (measured from `now`), audits what went, and
/// says so. A failure on one entry does not stop the rest; what went is audited before
/// an error is returned.
pub async fn purge(parts: &Parts, now: SystemTime) -> Result<PurgeSummary> {
    let r = parts.cfg.retention.clone().unwrap_or_default();
    let mut out = PurgeSummary::default();
    if let Some(days) = r.dead_letters_days {
        let before = ms(cutoff(now, days));
        match parts.queue.dead_before(before).await? {
            Some(ids) => {
                // Audited and forgotten by the index (a replay no longer reopens them)
                // before they go; a crash in between deletes them at the next purge,
                // audited again.
                let entries: Vec<NewEntry> = ids.iter().map(|id| purged("dead-letter", 1, days, Some(id))).collect();
                let mut n = 0;
                if !entries.is_empty() {
                    parts.audit.record(entries).await?;
                    parts.dedup.mark_purged(ids.clone()).await?;
                    n = parts.queue.purge_dead(ids, before).await?;
                }
                out.dead_letters = Some(n);
            }
            None => tracing::warn!("dead_letters_days: the RabbitMQ dead-letter queue is the broker's to expire (a message-ttl policy on <queue>.dead)"),
        }
    }
    if let Some(days) = r.inputs_days {
        let before = cutoff(now, days);
        let folders = kept_folders(parts);
        let (n, failed) = tokio::task::spawn_blocking(move || {
            folders.iter().fold((0, 0), |(n, f), (dir, how)| {
                let (dn, df) = sweep(dir, before, *how);
                (n + dn, f + df)
            })
        })
        .await?;
        if n > 0 {
            parts.audit.record(vec![purged("inputs", n, days, None)]).await?;
        }
        out.inputs = Some(n);
        out.failed = failed;
    }
    if let Some(days) = r.refused_days {
        let n = parts.kept().forget_before(ms(cutoff(now, days))).await?;
        if n > 0 {
            parts.audit.record(vec![purged("kept-refusals", n, days, None)]).await?;
        }
        out.refused = Some(n);
    }
    if out.failed > 0 {
        return Err(GatewayError::Retention(format!("retention: {} kept input(s) could not be deleted (the log names their folders); the rest went and is audited", out.failed)));
    }
    Ok(out)
}

fn purged(what: &str, count: usize, days: u32, id: Option<&str>) -> NewEntry {
    NewEntry::now(Event::Purged { what: what.into(), count: u64::try_from(count).unwrap_or(u64::MAX), older_than_days: days }, id, None, None)
}

/// `days` before `now`.
fn cutoff(now: SystemTime, days: u32) -> SystemTime {
    now.checked_sub(Duration::from_secs(u64::from(days) * 86_400)).unwrap_or(SystemTime::UNIX_EPOCH)
}

fn ms(t: SystemTime) -> i64 {
    i64::try_from(t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(i64::MAX)
}

/// What a purge does to an entry past its days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sweep {
    /// Removes it (a file, or an Access export's folder whole).
    Remove,
    /// Empties it (a pulled feed set aside: the file keeps its pull paused).
    Empty,
}

/// The folders kept inputs wait in: every inbox's `done/` and `refused/`, and the
/// data directory's `refused/` (pulled feeds).
pub(crate) fn kept_folders(parts: &Parts) -> Vec<(PathBuf, Sweep)> {
    let mut out = vec![(parts.cfg.data_dir.join("refused"), Sweep::Empty)];
    for s in &parts.cfg.sources {
        if let Some(Origin::Inbox(inbox)) = s.origin() {
            out.push((inbox.join("done"), Sweep::Remove));
            out.push((inbox.join("refused"), Sweep::Remove));
        }
    }
    out
}

/// Deletes (or empties) the entries of `dir` moved there before `before`; returns how
/// many inputs went (a reason note beside its input is not counted apart) and how many
/// could not be deleted. A missing folder holds nothing; a folder that is a symbolic
/// link is not followed; entries whose name starts with a dot are not inputs.
fn sweep(dir: &Path, before: SystemTime, how: Sweep) -> (usize, usize) {
    let (entries, mut failed) = kept_entries(dir, "Retention");
    let mut n = 0;
    for (name, path, meta) in entries {
        if arrived(&meta).is_none_or(|t| t >= before) {
            continue;
        }
        let note = name.ends_with(".reason.txt");
        let done = match (how, meta.is_dir()) {
            (Sweep::Empty, false) if note => Ok(false),
            (Sweep::Empty, false) if meta.len() == 0 => Ok(false),
            (Sweep::Empty, false) => std::fs::OpenOptions::new().write(true).truncate(true).open(&path).map(|_| true),
            (Sweep::Empty, true) | (Sweep::Remove, true) => std::fs::remove_dir_all(&path).map(|()| true),
            (Sweep::Remove, false) => std::fs::remove_file(&path).map(|()| !note),
        };
        match done {
            Ok(true) => n += 1,
            Ok(false) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                // The folder, never the entry: its name is often a person's.
                tracing::error!(folder = %dir.display(), error = %e.kind(), "Retention: an entry past its days could not be deleted");
                failed += 1;
            }
        }
    }
    (n, failed)
}

/// The entries of a folder of kept inputs a sweep may act on (`who` names the sweep in
/// the log), with how many could not be read. A missing folder holds nothing; a
/// folder that is a symbolic link is not followed; entries whose name starts with a
/// dot are not inputs, and a link is not one either (emptying it would empty what it
/// points to); an entry gone meanwhile (another instance's sweep) is skipped.
pub(crate) fn kept_entries(dir: &Path, who: &str) -> (Vec<(String, PathBuf, std::fs::Metadata)>, usize) {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            tracing::warn!(folder = %dir.display(), "{who}: not a folder (a symbolic link?): left alone");
            return (Vec::new(), 0);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Vec::new(), 0),
        Err(e) => {
            tracing::error!(folder = %dir.display(), error = %e.kind(), "{who}: the folder cannot be read");
            return (Vec::new(), 1);
        }
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(folder = %dir.display(), error = %e.kind(), "{who}: the folder cannot be read");
            return (Vec::new(), 1);
        }
    };
    let (mut out, mut failed) = (Vec::new(), 0);
    for e in entries {
        let Ok(e) = e else {
            failed += 1;
            continue;
        };
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {}
            Ok(m) => out.push((name, path, m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => failed += 1,
        }
    }
    (out, failed)
}

/// When an entry came to its folder: its change time (a rename sets it; its
/// modification time is the source's). `None` where the system does not tell: kept.
fn arrived(meta: &std::fs::Metadata) -> Option<SystemTime> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        u64::try_from(meta.ctime()).ok().filter(|&s| s > 0).map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// Purges at start, then once a day; a failed purge is logged and tried again the next
/// day (not at once: what failed would fail again).
pub(crate) struct RetentionDriver;

impl Driver for RetentionDriver {
    fn name(&self) -> String {
        "retention".into()
    }

    async fn run(&mut self, parts: &Arc<Parts>, stop: &mut Shutdown) -> Result<()> {
        loop {
            match purge(parts, SystemTime::now()).await {
                Ok(s) => tracing::info!(dead_letters = ?s.dead_letters, inputs = ?s.inputs, "Retention: what was past its days was deleted"),
                Err(e) => tracing::error!(error = %e, "Retention: the purge did not finish; tried again tomorrow"),
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(86_400)) => {}
                () = stop.wait() => return Ok(()),
            }
        }
    }
}
