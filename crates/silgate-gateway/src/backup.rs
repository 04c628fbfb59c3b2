//! Backup and restore of the embedded default (`silgate backup DIR`, `silgate restore
//! DIR`).
//!
//! A backup is one folder, owner-only: the queue, the dedup index and the audit as
//! they were at one instant (SQLite's online backup over all three from one read
//! transaction, `silgate_store::sqlite::snapshot`: what a crash at that instant
//! would have left, which start-up already knows how to finish), the region's secret
//! (without it no hash in the stores can be matched again), the anchor key, the
//! quarantine file and the refused records kept for a replay (`kept.db`, a copy of
//! its own) when they exist, and `silgate-backup.json`: what each file is, its
//! SHA-256 and size, the instance and when it was taken. The gateway runs on while it
//! is taken: its writers wait for the instant the read begins (and a log checkpoint a
//! retention purge asks for meanwhile waits for the copy, within the busy timeout).
//!
//! A restore, with every instance of the data directory stopped (it takes the
//! instance's lock and checks the others'):
//! - checks the backup whole (every file's digest, the instance, the secret: a backup
//!   taken under another secret is refused, as the index would refuse it);
//! - sets the stores in use aside beside themselves (`<file>.before-restore-<ms>`,
//!   never deleted here) and puts the backup's queue and index in their place (and the
//!   anchor key, quarantine and kept refusals where they are missing);
//! - keeps the audit in use when it verifies (it is append-only: nothing in it is
//!   wrong for being later than the backup); only a missing or broken one is replaced
//!   by the backup's (anchors then name what the chain lost);
//! - brings over from the index set aside what it learnt since
//!   (`silgate_dedup::carry_settled`): erasures first (applied again), then versions
//!   queued since, the states settled since (delivered, refused, dead, purged), the
//!   eGov ids allocated since, the content last delivered and code last queued, and
//!   the higher eGov counter (an id is never used twice). So a send that went
//!   unanswered goes again under its first id, which the node answers with its first
//!   receipt. Without a readable index the counter must be given
//!   (`--egov-counter-floor`, the progressive of the last id the node saw);
//! - makes the restored queue hold what the queue set aside holds
//!   (`silgate_queue::carry_waiting`): items it settled since (delivered, refused,
//!   purged, erased) go, items queued since and dead letters come, in order behind the
//!   restored ones; the file is compacted. When that queue is lost too, every kept
//!   input moved to an inbox's `done/` after the backup goes back to its inbox, to be
//!   read again, and the summary names the sources whose inputs cannot be read again
//!   (PEC, pull, the push API); versions the index holds as waiting with no item left
//!   are marked lost (`silgate_dedup::mark_lost`: new again to ingest, same eGov id);
//! - audits the restore (`restored`).
//!
//! Before it moves anything it writes `DATA_DIR/restore.pending` (where the stores
//! went): while it exists nothing opens the stores, and a restore run again after a
//! crash finishes the job from the stores set aside.

use crate::config::{GatewayConfig, Origin, QueueBackend, StoreBackend};
use crate::error::{GatewayError, Result};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The manifest's file name in a backup folder.
pub const MANIFEST: &str = "silgate-backup.json";

/// The manifest of a backup folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// This layout's version (1).
    pub format: u32,
    /// The instance whose stores these are.
    pub instance: String,
    /// Its region (the ministry's code or name, as configured).
    pub region: String,
    /// When the stores were read, Unix ms.
    pub taken_ms: i64,
    /// The files.
    pub files: Vec<Kept>,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Kept {
    /// `queue`, `dedup`, `audit`, `secret`, `anchor-key`, `quarantine`, `kept`.
    pub role: String,
    /// Its name in the folder.
    pub file: String,
    /// SHA-256 (hex) of its content.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// When the backup was taken, Unix ms.
    pub taken_ms: i64,
    /// The stores in use, set aside beside themselves (`<file>.before-restore-<ms>`,
    /// never deleted here).
    pub aside: Vec<PathBuf>,
    /// Whether the audit in use was kept (it verified) rather than replaced.
    pub audit_kept: bool,
    /// Versions both knew that the index in use changed since the backup (delivered,
    /// refused, dead-lettered, purged, queued again, given an eGov id).
    pub settled: usize,
    /// Versions the index in use knew that the backup's did not (queued since).
    pub added: usize,
    /// Versions waiting in the index whose item no queue held any more (the queue in
    /// use lost): new again to ingest.
    pub lost: usize,
    /// Erased versions the index in use holds (erased in the restored stores too).
    pub erased: usize,
    /// Items of the queue in use the backup's lacked (waiting or dead-lettered),
    /// brought over.
    pub waiting: usize,
    /// Kept inputs put back in their inbox (only when the queue in use is lost).
    pub inputs: usize,
    /// Sources whose inputs cannot be read again (PEC, pull, push API): what they
    /// brought after the backup and was not delivered must be asked for again.
    pub not_replayable: Vec<String>,
}

const ROLES: [&str; 3] = ["queue", "dedup", "audit"];

/// The embedded default only: every store on SQLite.
fn embedded(cfg: &GatewayConfig) -> Result<()> {
    if cfg.queue.backend != QueueBackend::Sqlite || cfg.dedup.backend != StoreBackend::Sqlite || cfg.audit.backend != StoreBackend::Sqlite {
        return Err(GatewayError::config(
            "backup and restore cover the embedded default (queue, dedup and audit on SQLite); back PostgreSQL up with its own tools (pg_dump, base backups) and keep RabbitMQ's queue durable",
        ));
    }
    Ok(())
}

fn stores(cfg: &GatewayConfig) -> [PathBuf; 3] {
    [cfg.queue_file(), cfg.dedup_file(), cfg.audit_file()]
}

fn io(what: &Path, e: std::io::Error) -> GatewayError {
    GatewayError::io(format!("backup: {}", what.display()), e)
}

/// Takes a backup of `cfg`'s stores into `dir` (a folder that does not exist or is
/// empty), while the gateway may run.
pub async fn backup(cfg: &GatewayConfig, dir: &Path) -> Result<Manifest> {
    embedded(cfg)?;
    let cfg = cfg.clone();
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || backup_blocking(&cfg, &dir)).await?
}

fn backup_blocking(cfg: &GatewayConfig, dir: &Path) -> Result<Manifest> {
    if pending(cfg).exists() {
        return Err(GatewayError::config("backup: a restore did not finish: run `silgate restore` again first"));
    }
    let paths = stores(cfg);
    for p in &paths {
        if !p.exists() {
            return Err(GatewayError::config(format!("backup: {} does not exist: the gateway has not run with this configuration yet", p.display())));
        }
    }
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(GatewayError::config(format!("backup: {} is not empty: give a new folder", dir.display())));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir, e)),
    }
    silgate_core::private::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let taken_ms = silgate_store::now_ms();
    let pairs: Vec<(PathBuf, PathBuf)> = paths.iter().zip(ROLES).map(|(p, role)| (p.clone(), dir.join(format!("{role}.db")))).collect();
    silgate_store::sqlite::snapshot(&pairs).map_err(|e| GatewayError::config(format!("backup: {e}")))?;
    let mut files = Vec::new();
    for (role, (_, copy)) in ROLES.iter().zip(&pairs) {
        files.push(kept(role, copy)?);
    }
    let secret = cfg.secret_path();
    if !secret.exists() {
        return Err(GatewayError::config(format!("backup: the region's secret {} does not exist", secret.display())));
    }
    for (role, from, name) in [("secret", secret, "secret.key"), ("anchor-key", cfg.anchor_key_path(), "anchor.key"), ("quarantine", cfg.quarantine_path(), "quarantine.jsonl")] {
        if role != "secret" && !from.exists() {
            continue;
        }
        let to = dir.join(name);
        copy_private(&from, &to)?;
        files.push(kept(role, &to)?);
    }
    // The refused records kept for a replay: a copy of their own (they change nothing
    // the three stores hold).
    let refusals = cfg.kept_file();
    if refusals.exists() {
        let copy = dir.join("kept.db");
        silgate_store::sqlite::snapshot(&[(refusals, copy.clone())]).map_err(|e| GatewayError::config(format!("backup: {e}")))?;
        files.push(kept("kept", &copy)?);
    }
    let manifest = Manifest { format: 1, instance: cfg.instance.clone(), region: cfg.region.clone(), taken_ms, files };
    let text = serde_json::to_vec_pretty(&manifest)?;
    let path = dir.join(MANIFEST);
    write_private(&path, &text)?;
    crate::secret::sync_dir(dir).map_err(|e| io(dir, e))?;
    Ok(manifest)
}

/// A file's entry in the manifest.
fn kept(role: &str, path: &Path) -> Result<Kept> {
    let (sha256, bytes) = digest(path)?;
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Kept { role: role.into(), file, sha256, bytes })
}

fn digest(path: &Path) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| io(path, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

fn copy_private(from: &Path, to: &Path) -> Result<()> {
    let mut src = std::fs::File::open(from).map_err(|e| io(from, e))?;
    let mut dst = silgate_core::private::create(to).map_err(|e| io(to, e))?;
    std::io::copy(&mut src, &mut dst).map_err(|e| io(to, e))?;
    dst.sync_all().map_err(|e| io(to, e))
}

/// Writes `to` whole or not at all: a file beside it, synced, renamed over it, the
/// folder synced.
fn write_atomic(to: &Path, bytes: &[u8]) -> Result<()> {
    let part = with_suffix(to, ".part");
    write_private(&part, bytes)?;
    std::fs::rename(&part, to).map_err(|e| io(to, e))?;
    if let Some(d) = to.parent() {
        crate::secret::sync_dir(d).map_err(|e| io(d, e))?;
    }
    Ok(())
}

fn write_private(to: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut f = silgate_core::private::create(to).map_err(|e| io(to, e))?;
    f.write_all(bytes).map_err(|e| io(to, e))?;
    f.sync_all().map_err(|e| io(to, e))
}

/// Reads and checks a backup folder: its manifest, every file's digest, the instance.
pub fn check(cfg: &GatewayConfig, dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let mut text = Vec::new();
    std::fs::File::open(&path).map_err(|e| io(&path, e))?.take(1 << 20).read_to_end(&mut text).map_err(|e| io(&path, e))?;
    let m: Manifest = serde_json::from_slice(&text).map_err(|e| GatewayError::config(format!("restore: {} is not a silgate backup manifest: {e}", path.display())))?;
    if m.format != 1 {
        return Err(GatewayError::config(format!("restore: {} is of format {}, this build reads format 1", path.display(), m.format)));
    }
    if m.instance != cfg.instance {
        return Err(GatewayError::config(format!("restore: the backup is of instance {:?}, the configuration's is {:?}", m.instance, cfg.instance)));
    }
    for role in ROLES.iter().chain(&["secret"]) {
        if !m.files.iter().any(|f| f.role == *role) {
            return Err(GatewayError::config(format!("restore: the backup holds no {role} file")));
        }
    }
    for f in &m.files {
        if f.file.contains('/') || f.file.contains('\\') || f.file.starts_with('.') {
            return Err(GatewayError::config(format!("restore: the manifest names {:?}, not a file of the folder", f.file)));
        }
        let (sha, bytes) = digest(&dir.join(&f.file))?;
        if sha != f.sha256 || bytes != f.bytes {
            return Err(GatewayError::config(format!("restore: {} is not the file the backup made (its digest differs): the backup is damaged", f.file)));
        }
    }
    Ok(m)
}

/// Restores `cfg`'s stores from the backup in `dir` (see the module's text). Holds the
/// instance's lock and refuses while any instance runs on the data directory.
/// `counter_floor`: the eGov progressive to go on from when the index in use cannot be
/// read.
pub async fn restore(cfg: GatewayConfig, dir: &Path, counter_floor: Option<u64>) -> Result<Restored> {
    embedded(&cfg)?;
    let _held = crate::instance::InstanceLock::take(&cfg).await?;
    crate::instance::none_running(&cfg)?;
    let m = {
        let (cfg, dir) = (cfg.clone(), dir.to_path_buf());
        tokio::task::spawn_blocking(move || check(&cfg, &dir)).await??
    };
    let file_of = |role: &str| m.files.iter().find(|f| f.role == role).map(|f| dir.join(&f.file));
    // The secret: the backup's, or the same one.
    let secret = cfg.secret_path();
    let theirs = file_of("secret").ok_or_else(|| GatewayError::config("restore: the backup holds no secret"))?;
    if secret.exists() && digest(&secret)?.0 != digest(&theirs)?.0 {
        return Err(GatewayError::config(format!(
            "restore: the backup was taken under another secret than {}: restore with the secret it was taken under (it is in the backup), or not at all",
            secret.display()
        )));
    }
    let [queue, dedup, audit] = stores(&cfg);
    // A restore that did not finish is done again from where it left the stores in
    // use; a new one writes down where it sets them (beside themselves: same volume)
    // before it moves anything.
    let marker = pending(&cfg);
    let p = match std::fs::read(&marker) {
        Ok(bytes) => {
            let p: Pending = serde_json::from_slice(&bytes)
                .map_err(|e| GatewayError::config(format!("restore: {} is unreadable ({e}): see the files *.before-restore-* beside the stores", marker.display())))?;
            if p.taken_ms != m.taken_ms {
                return Err(GatewayError::config(format!(
                    "restore: an unfinished restore of the backup taken at {} ms is pending ({}): run it again with that backup",
                    p.taken_ms,
                    marker.display()
                )));
            }
            p
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let audit_kept = audit.exists() && verifies(&audit).await;
            Pending { taken_ms: m.taken_ms, aside_ms: silgate_store::now_ms(), audit_kept }
        }
        Err(e) => return Err(io(&marker, e)),
    };
    let mut replaced = vec![("queue", &queue), ("dedup", &dedup)];
    if !p.audit_kept {
        replaced.push(("audit", &audit));
    }
    let aside_of = |store: &Path| with_suffix(store, &format!(".before-restore-{}", p.aside_ms));
    // The index to carry from: set aside already, or still in place.
    let later_dedup = if aside_of(&dedup).exists() { aside_of(&dedup) } else { dedup.clone() };
    let dedup_readable = later_dedup.exists() && silgate_dedup::readable(&later_dedup);
    if !dedup_readable && counter_floor.is_none() {
        return Err(GatewayError::config(format!(
            "restore: the dedup index in use ({}) cannot be read, so the eGov counter reached since the backup is unknown: give --egov-counter-floor N (the progressive of the last eGov id the node saw, in its receipts or in the audit's attempts)",
            later_dedup.display()
        )));
    }
    if !marker.exists() {
        write_atomic(&marker, &serde_json::to_vec(&p)?)?;
    }
    let mut aside = Vec::new();
    for (_, store) in &replaced {
        let moved = aside_of(store);
        if moved.exists() {
            // Set aside already (its main file goes last): what is in its place is a
            // partial copy of the backup.
            for suffix in ["-wal", "-shm", ""] {
                let place = with_suffix(store, suffix);
                match std::fs::remove_file(&place) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&place, e)),
                    _ => {}
                }
            }
        } else if store.exists() {
            // Its log first, its main file last: a run again after a crash in between
            // moves what is left, never deletes a log.
            for suffix in ["-wal", "-shm", ""] {
                let (place, to) = (with_suffix(store, suffix), with_suffix(&moved, suffix));
                if place.exists() {
                    std::fs::rename(&place, &to).map_err(|e| io(&place, e))?;
                }
            }
        } else {
            // Missing: an empty stand-in says so to a run again (it reads as lost).
            write_atomic(&moved, b"")?;
        }
        if let Some(d) = store.parent() {
            crate::secret::sync_dir(d).map_err(|e| io(d, e))?;
        }
        aside.push(moved);
    }
    let mut put: Vec<(&str, PathBuf)> = replaced.iter().map(|(role, store)| (*role, store.to_path_buf())).collect();
    if !secret.exists() {
        put.push(("secret", secret.clone()));
    }
    // Kept by the backup, put back only where they are missing.
    for (role, path) in [("anchor-key", cfg.anchor_key_path()), ("quarantine", cfg.quarantine_path()), ("kept", cfg.kept_file())] {
        if !path.exists() && file_of(role).is_some() {
            put.push((role, path));
        }
    }
    for (role, to) in &put {
        let from = file_of(role).ok_or_else(|| GatewayError::config(format!("restore: the backup holds no {role} file")))?;
        if let Some(d) = to.parent() {
            silgate_core::private::create_dir_all(d).map_err(|e| io(d, e))?;
        }
        // Whole or not at all (a secret cut short would lock the instance out).
        let part = with_suffix(to, ".restoring");
        copy_private(&from, &part)?;
        std::fs::rename(&part, to).map_err(|e| io(to, e))?;
    }
    // Opened once (so migrated, if the backup is of an older build) and closed, before
    // anything is carried into them.
    drop(cfg.open_dedup().await?);
    drop(cfg.open_queue().await?);
    let mut out = Restored { taken_ms: m.taken_ms, aside, audit_kept: p.audit_kept, ..Default::default() };
    let mut erased = Vec::new();
    // Set aside by now (it was in place, readable).
    if dedup_readable {
        let (into, from) = (dedup.clone(), aside_of(&dedup));
        let c = tokio::task::spawn_blocking(move || silgate_dedup::carry_settled(&into, &from)).await??;
        (out.settled, out.added, out.erased) = (c.settled, c.added, c.erased.len());
        erased = c.erased;
    }
    if let Some(floor) = counter_floor {
        let (into, sender) = (dedup.clone(), cfg.region_name.clone());
        tokio::task::spawn_blocking(move || silgate_dedup::raise_counter(&into, &sender, floor)).await??;
    }
    let later_queue = aside_of(&queue);
    if later_queue.exists() && silgate_queue::readable(&later_queue) {
        let (into, from) = (queue.clone(), later_queue);
        let c = tokio::task::spawn_blocking(move || silgate_queue::carry_waiting(&into, &from, &erased)).await??;
        out.waiting = c.waiting + c.dead;
    } else {
        // The queue in use is lost: what was read since the backup is read again; what
        // came otherwise must be asked for again.
        let since = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(m.taken_ms).unwrap_or(0));
        let inboxes: Vec<PathBuf> = cfg.sources.iter().filter_map(|s| if let Some(Origin::Inbox(i)) = s.origin() { Some(i.to_path_buf()) } else { None }).collect();
        out.inputs = tokio::task::spawn_blocking(move || inboxes.iter().map(|i| put_back(i, since)).sum()).await?;
        out.not_replayable = cfg
            .sources
            .iter()
            .filter(|s| !matches!(s.origin(), Some(Origin::Inbox(_))))
            .map(|s| s.kind.as_str().to_string())
            .chain(cfg.api.as_ref().map(|_| "api".to_string()))
            .collect();
        let into = queue.clone();
        tokio::task::spawn_blocking(move || silgate_queue::erase_ids(&into, &erased)).await??;
    }
    // A version the index holds as waiting whose item no queue holds any more is new
    // again to ingest (read again, it is queued, under its first eGov id).
    let (into, q) = (dedup.clone(), queue.clone());
    out.lost = tokio::task::spawn_blocking(move || silgate_dedup::mark_lost(&into, &q)).await??;
    let parts = crate::Parts::open_restoring(cfg.clone()).await?;
    let entry = silgate_audit::NewEntry::now(
        silgate_audit::Event::Restored {
            taken_ms: m.taken_ms,
            audit: if p.audit_kept { "kept" } else { "restored" }.into(),
            settled: (out.settled + out.added) as u64,
            inputs: out.inputs as u64,
        },
        None,
        None,
        None,
    );
    parts.audit.record(vec![entry]).await?;
    drop(parts);
    std::fs::remove_file(&marker).map_err(|e| io(&marker, e))?;
    crate::secret::sync_dir(&cfg.data_dir).map_err(|e| io(&cfg.data_dir, e))?;
    Ok(out)
}

/// The file an unfinished restore leaves in the data directory: where it set the
/// stores in use aside, and whether it kept the audit. While it exists nothing opens
/// the stores ([`crate::Parts::open`] refuses).
pub(crate) fn pending(cfg: &GatewayConfig) -> PathBuf {
    cfg.data_dir.join("restore.pending")
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    /// The backup's time: a restore run again must be of the same backup.
    taken_ms: i64,
    /// The stores in use are set aside beside themselves as `<file>.before-restore-<ms>`.
    aside_ms: i64,
    /// Whether the audit in use stays.
    audit_kept: bool,
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Whether the audit file verifies (a chain that breaks, or a file that does not
/// open, is replaced by the backup's).
async fn verifies(p: &Path) -> bool {
    match silgate_audit::AuditLog::sqlite(p).await {
        Ok(log) => log.verify().await.is_ok_and(|r| r.problems.is_empty()),
        Err(_) => false,
    }
}

/// Moves back into `inbox` every entry of its `done/` that was moved there at or
/// after `since`; returns how many. An entry whose name is taken in the inbox stays.
fn put_back(inbox: &Path, since: std::time::SystemTime) -> usize {
    use std::os::unix::fs::MetadataExt as _;
    let done = inbox.join("done");
    let Ok(entries) = std::fs::read_dir(&done) else { return 0 };
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else { continue };
        // Its change time: when it was moved there (ingest moves an input once its
        // records are queued: one moved before the backup has them in it).
        let moved = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(meta.ctime()).unwrap_or(0))
            + std::time::Duration::from_nanos(u64::try_from(meta.ctime_nsec()).unwrap_or(0));
        if meta.file_type().is_symlink() || moved < since {
            continue;
        }
        let to = inbox.join(&name);
        if to.exists() {
            tracing::warn!(folder = %inbox.display(), "Restore: an input moved after the backup was not put back: its name is taken in the inbox");
            continue;
        }
        match std::fs::rename(e.path(), &to) {
            Ok(()) => n += 1,
            Err(err) => tracing::warn!(folder = %inbox.display(), error = %err.kind(), "Restore: an input moved after the backup could not be put back"),
        }
    }
    n
}
