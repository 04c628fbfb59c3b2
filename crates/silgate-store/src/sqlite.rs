//! Opening a SQLite store file and using its connection from async code.

use crate::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How durable a store's commits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a commit survives a power cut (the gateway's stores).
    Full,
    /// `synchronous=NORMAL`: a commit survives a process crash, not a power cut.
    Normal,
}

/// Opens (creating it and its folder if needed) a store file: WAL journal, the given
/// durability, a 30 s busy timeout (several processes may share a file), a page cache
/// of at most `cache_mib` MiB (0: SQLite's default). The file holds personal data: it
/// is created readable by its owner only, and an existing one (with its journal files,
/// which SQLite creates with the database's mode) is narrowed to its owner.
pub fn open(path: &Path, durability: Durability, cache_mib: u32) -> Result<Connection, StoreError> {
    let io = |p: &Path, err| StoreError::Io { path: p.display().to_string(), err };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        silgate_core::private::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    if !path.exists() {
        drop(silgate_core::private::open_write(path).map_err(|e| io(path, e))?);
    }
    for p in [path.to_path_buf(), journal(path, "-wal"), journal(path, "-shm")] {
        match silgate_core::private::narrow(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(file = %p.display(), error = %e, "A store file lets its group or others in and could not be narrowed")
            }
            _ => {}
        }
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", if durability == Durability::Full { "FULL" } else { "NORMAL" })?;
    if cache_mib > 0 {
        // Negative: KiB, not pages.
        conn.pragma_update(None, "cache_size", -(i64::from(cache_mib) * 1024))?;
    }
    Ok(conn)
}

/// A journal file of the database at `path` (`-wal`, `-shm`).
fn journal(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// One SQLite connection shared by clones, used from `spawn_blocking` (rusqlite is
/// blocking; the runtime's threads must not wait on a disk).
#[derive(Debug, Clone)]
pub struct Shared {
    conn: Arc<Mutex<Connection>>,
}

impl Shared {
    /// Wraps an opened connection.
    pub fn new(conn: Connection) -> Self {
        Self { conn: Arc::new(Mutex::new(conn)) }
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn with<T, E>(&self, f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        blocking(move || {
            let mut g = conn.lock().map_err(|_| StoreError::Task("a store connection was poisoned by a panic".into()))?;
            f(&mut g)
        })
        .await
    }
}

/// Runs `f` on a blocking thread.
pub async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| E::from(StoreError::Task(e.to_string())))?
}

/// Copies the store files `pairs` (`(store, copy)`) as one consistent set, while the
/// processes using them go on: SQLite's online backup, from one read transaction over
/// every store begun while no writer could commit to any of them (a second
/// connection held their write locks for that moment only, waiting out a commit in
/// flight within the busy timeout). So the copies are the stores as they were at one
/// instant, as a crash would leave them. Each copy is created owner-only, holds its
/// whole content in one file (no write-ahead log beside it) and passes SQLite's
/// `quick_check`. A copy must not exist yet.
pub fn snapshot(pairs: &[(std::path::PathBuf, std::path::PathBuf)]) -> Result<(), StoreError> {
    use rusqlite::OpenFlags;
    let io = |p: &Path, err| StoreError::Io { path: p.display().to_string(), err };
    let Some(((first, _), rest)) = pairs.split_first() else { return Ok(()) };
    let open_set = || -> Result<Connection, StoreError> {
        let c = Connection::open_with_flags(first, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        c.busy_timeout(Duration::from_secs(30))?;
        for (i, (path, _)) in rest.iter().enumerate() {
            if !path.exists() {
                return Err(io(path, std::io::Error::from(std::io::ErrorKind::NotFound)));
            }
            c.execute("ATTACH DATABASE ?1 AS ?2", rusqlite::params![path.to_string_lossy(), format!("s{}", i + 1)])?;
        }
        Ok(c)
    };
    let schema = |i: usize| if i == 0 { "main".to_string() } else { format!("s{i}") };
    let fence = open_set()?;
    fence.execute_batch("BEGIN IMMEDIATE")?;
    let src = open_set()?;
    let began = (|| {
        src.execute_batch("BEGIN")?;
        for i in 0..pairs.len() {
            src.query_row(&format!("SELECT count(*) FROM {}.sqlite_master", schema(i)), [], |r| r.get::<_, i64>(0))?;
        }
        Ok::<_, rusqlite::Error>(())
    })();
    fence.execute_batch("ROLLBACK")?;
    drop(fence);
    began?;
    for (i, (_, copy)) in pairs.iter().enumerate() {
        if copy.exists() {
            return Err(io(copy, std::io::Error::from(std::io::ErrorKind::AlreadyExists)));
        }
        drop(silgate_core::private::open_write(copy).map_err(|e| io(copy, e))?);
        let mut dst = Connection::open(copy)?;
        {
            let b = rusqlite::backup::Backup::new_with_names(&src, schema(i).as_str(), &mut dst, "main")?;
            match b.step(-1)? {
                rusqlite::backup::StepResult::Done => {}
                other => return Err(StoreError::Backup(format!("the copy {} did not complete: {other:?}", copy.display()))),
            }
        }
        dst.pragma_update(None, "journal_mode", "DELETE")?;
        let check: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Backup(format!("the copy {} fails its check: {check}", copy.display())));
        }
    }
    src.execute_batch("COMMIT")?;
    Ok(())
}
