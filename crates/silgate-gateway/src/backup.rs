//! Backup and restore of the embedded default (`silgate backup DIR`, `silgate restore
//! DIR`).
//!
//! A backup is one folder, owner-only: the queue, the dedup index and the audit as
//! they were at one instant (SQLite's online backup over all three from one read
//! transaction, `silgate_store::sqlite::snapshot`: what a crash at that instant
//! would have left, which start-up already knows how to finish), the region's secret
//! (without it no hash in the stores can be matched again), the anchor key and the
//! quarantine file when they exist, and `silgate-backup.json`: what each file is, its
//! SHA-256 and size, the instance and when it was taken. The gateway runs on while it
//! is taken; writers wait only for the instant the read begins.
//!
//! A restore, with the instance stopped (it takes its lock):
//! - checks the backup whole (every file's digest, the instance, the secret: a backup
//!   taken under another secret is refused, as the index would refuse it);
//! - sets the stores in use aside in `DATA_DIR/before-restore-<time>/` (never deleted
//!   here) and puts the backup's queue and index in their place;
//! - brings over from the index set aside what it settled after the backup
//!   (`silgate_dedup::carry_settled`): versions delivered or refused, the eGov ids
//!   they went under, the higher eGov counter (an id is never used twice), and the
//!   erasures done since (applied again to the restored queue and index). So a
//!   backed-up item delivered since is acked, not sent again; one sent but
//!   unanswered goes again under its first id, which the node answers with its first
//!   receipt. Without a readable index the counter must be given
//!   (`--egov-counter-floor`, the progressive of the last id the node saw);
//! - keeps the audit in use when it verifies (it is append-only: nothing in it is
//!   wrong for being later than the backup); only a missing or broken one is replaced
//!   by the backup's (anchors then name what the chain lost);
//! - puts every kept input moved to an inbox's `done/` after the backup back in its
//!   inbox, to be read again: what it held and was not delivered is queued again, what
//!   was delivered is found delivered. What came by PEC, pull or the push API after
//!   the backup and was not delivered is not in the restored queue: the summary says
//!   from when to ask again;
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
    /// `queue`, `dedup`, `audit`, `secret`, `anchor-key`, `quarantine`.
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
    /// Where the stores in use were set aside.
    pub aside: PathBuf,
    /// Whether the audit in use was kept (it verified) rather than replaced.
    pub audit_kept: bool,
    /// Versions settled after the backup, brought from the index set aside.
    pub settled: usize,
    /// eGov ids allocated after the backup to versions still waiting, brought over.
    pub egov_ids: usize,
    /// Keys erased after the backup, erased again.
    pub erased_keys: usize,
    /// Kept inputs put back in their inbox.
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
/// instance's lock: refused while the instance runs. `counter_floor`: the eGov
/// progressive to go on from when the index in use cannot be read.
pub async fn restore(cfg: GatewayConfig, dir: &Path, counter_floor: Option<u64>) -> Result<Restored> {
    embedded(&cfg)?;
    let _held = crate::instance::InstanceLock::take(&cfg).await?;
    let m = {
        let (cfg, dir) = (cfg.clone(), dir.to_path_buf());
        tokio::task::spawn_blocking(move || check(&cfg, &dir)).await??
    };
    let file_of = |role: &str| m.files.iter().find(|f| f.role == role).map(|f| dir.join(&f.file));
    // The secret: the backup's, or the same one.
    let secret = cfg.secret_path();
    let theirs = file_of("secret").ok_or_else(|| GatewayError::config("restore: the backup holds no secret"))?;
    if secret.exists() {
        let (a, _) = digest(&secret)?;
        let (b, _) = digest(&theirs)?;
        if a != b {
            return Err(GatewayError::config(format!(
                "restore: the backup was taken under another secret than {}: restore with the secret it was taken under (it is in the backup), or not at all",
                secret.display()
            )));
        }
    }
    let [queue, dedup, audit] = stores(&cfg);
    // An unfinished restore is done again from where its stores were set aside (what
    // lies in the stores' places is a partial copy of the backup).
    let marker = pending(&cfg);
    let (aside, audit_kept) = match std::fs::read(&marker) {
        Ok(bytes) => {
            let p: Pending = serde_json::from_slice(&bytes)
                .map_err(|e| GatewayError::config(format!("restore: {} is unreadable ({e}): see the folders before-restore-* in the data directory", marker.display())))?;
            let mut partial = vec![&queue, &dedup];
            if !p.audit_kept {
                partial.push(&audit);
            }
            for s in partial {
                for suffix in ["", "-wal", "-shm"] {
                    match std::fs::remove_file(with_suffix(s, suffix)) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(s, e)),
                        _ => {}
                    }
                }
            }
            (p.aside, p.audit_kept)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dedup_readable = dedup.exists() && readable(&dedup);
            if !dedup_readable && counter_floor.is_none() {
                return Err(GatewayError::config(format!(
                    "restore: the dedup index in use ({}) cannot be read, so the eGov counter reached since the backup is unknown: give --egov-counter-floor N (the progressive of the last eGov id the node saw, in its receipts or in the audit's attempts)",
                    dedup.display()
                )));
            }
            let audit_kept = audit.exists() && verifies(&audit).await;
            // The stores in use, set aside whole (with their logs), after the marker that
            // says where: a crash from here on is finished by running the restore again.
            let aside = cfg.data_dir.join(format!("before-restore-{}", silgate_store::now_ms()));
            silgate_core::private::create_dir_all(&aside).map_err(|e| io(&aside, e))?;
            write_private(&marker, &serde_json::to_vec(&Pending { aside: aside.clone(), audit_kept })?)?;
            crate::secret::sync_dir(&cfg.data_dir).map_err(|e| io(&cfg.data_dir, e))?;
            let mut moving = vec![&queue, &dedup];
            if !audit_kept {
                moving.push(&audit);
            }
            for p in moving {
                for suffix in ["", "-wal", "-shm"] {
                    let from = with_suffix(p, suffix);
                    if from.exists() {
                        let name = format!("{}{suffix}", p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
                        std::fs::rename(&from, aside.join(name)).map_err(|e| io(&from, e))?;
                    }
                }
            }
            (aside, audit_kept)
        }
        Err(e) => return Err(io(&marker, e)),
    };
    let mut put = vec![("queue", &queue), ("dedup", &dedup)];
    if !audit_kept {
        put.push(("audit", &audit));
    }
    if !secret.exists() {
        put.push(("secret", &secret));
    }
    for (role, to) in put {
        let from = file_of(role).ok_or_else(|| GatewayError::config(format!("restore: the backup holds no {role} file")))?;
        if let Some(d) = to.parent() {
            silgate_core::private::create_dir_all(d).map_err(|e| io(d, e))?;
        }
        copy_private(&from, to)?;
    }
    let mut out = Restored { taken_ms: m.taken_ms, aside: aside.clone(), audit_kept, ..Default::default() };
    let later = aside.join(dedup.file_name().unwrap_or_default());
    let carried = if later.exists() && readable(&later) {
        let (into, from) = (dedup.clone(), later);
        Some(tokio::task::spawn_blocking(move || silgate_dedup::carry_settled(&into, &from)).await??)
    } else {
        None
    };
    if let Some(floor) = counter_floor {
        let (into, sender) = (dedup.clone(), cfg.region_name.clone());
        tokio::task::spawn_blocking(move || silgate_dedup::raise_counter(&into, &sender, floor)).await??;
    }
    let parts = crate::Parts::open_restoring(cfg.clone()).await?;
    if let Some(c) = carried {
        out.settled = c.settled;
        out.egov_ids = c.egov_ids;
        out.erased_keys = c.erased_keys.len();
        if !c.erased_keys.is_empty() {
            parts.queue.erase(c.erased_keys.clone()).await?;
            parts.dedup.erase(c.erased_keys).await?;
        }
    }
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
    let entry = silgate_audit::NewEntry::now(
        silgate_audit::Event::Restored { taken_ms: m.taken_ms, audit: if audit_kept { "kept" } else { "restored" }.into(), settled: out.settled as u64, inputs: out.inputs as u64 },
        None,
        None,
        None,
    );
    parts.audit.record(vec![entry]).await?;
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
    aside: PathBuf,
    audit_kept: bool,
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Whether a SQLite index file opens and reads.
fn readable(p: &Path) -> bool {
    silgate_dedup::readable(p)
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
