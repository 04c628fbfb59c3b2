//! The embedded SQLite queue (the default backend).
//!
//! One table of waiting items and one of dead letters, in a WAL-mode file with
//! `synchronous = FULL`: a committed enqueue survives a power cut. Leasing stamps the
//! rows with a fresh random token and pushes their `visible_at` forward by the
//! visibility timeout; a lease that is not acked in time simply becomes visible again.
//! The depth is kept in a one-row table by triggers, so the bound is checked without
//! counting the table, and stays right when several processes share the file.
//!
//! Versions of one record go one at a time, in the order they were queued: each row
//! carries its business key's hash, and only the first row of a key (the lowest `seq`)
//! can be leased. While it is leased, delayed or retried, the later versions of that key
//! wait; once it is acked or dead-lettered the next one is first. The choice is made in
//! the leasing transaction, so it holds across the processes sharing the file.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use silgate_core::{DeadLetter, FullPolicy, LeaseId, Leased, Queue, QueueError, QueueItem, QueueStats};
use silgate_store::now_ms;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const SCHEMA: silgate_store::migrate::Schema = silgate_store::migrate::Schema {
    store: "queue",
    migrations: &[
        silgate_store::migrate::Migration { version: 1, name: "queue, dead, depth", sql: V1, breaks_older: false },
        // An older build would lease a key's later versions beside its first.
        silgate_store::migrate::Migration { version: 2, name: "business key per row: versions in order", sql: V2, breaks_older: true },
        // An older build would lease without stamping (or clearing) the holder: a
        // restarted instance could take back a lease it does not hold.
        silgate_store::migrate::Migration { version: 3, name: "lease holder per row: taken back at restart", sql: V3, breaks_older: true },
    ],
    every_open: "",
};

pub(crate) const V1: &str = "
CREATE TABLE IF NOT EXISTS queue (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT    NOT NULL UNIQUE,
    item       TEXT    NOT NULL,
    visible_at INTEGER NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    lease      INTEGER
);
CREATE INDEX IF NOT EXISTS queue_visible ON queue (visible_at, seq);
CREATE INDEX IF NOT EXISTS queue_lease ON queue (lease);
CREATE TABLE IF NOT EXISTS dead (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT    NOT NULL UNIQUE,
    item       TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    at_ms      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS depth (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT OR IGNORE INTO depth (id, n) VALUES (1, (SELECT count(*) FROM queue));
CREATE TRIGGER IF NOT EXISTS queue_depth_ins AFTER INSERT ON queue BEGIN UPDATE depth SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS queue_depth_del AFTER DELETE ON queue BEGIN UPDATE depth SET n = n - 1 WHERE id = 1; END;
";

const V2: &str = "
ALTER TABLE queue ADD COLUMN key TEXT;
UPDATE queue SET key = CASE WHEN json_valid(item) THEN json_extract(item, '$.key_hash') END;
CREATE INDEX IF NOT EXISTS queue_key ON queue (key, seq);
";

const V3: &str = "
ALTER TABLE queue ADD COLUMN holder TEXT;
CREATE INDEX IF NOT EXISTS queue_holder ON queue (holder) WHERE holder IS NOT NULL;
";

/// Rows that may be leased now: visible, and the first of their key.
const LEASABLE: &str = "SELECT q.seq, q.item, q.deliveries FROM queue q
     WHERE q.visible_at <= ?1 AND NOT EXISTS (SELECT 1 FROM queue p WHERE p.key = q.key AND p.seq < q.seq)
     ORDER BY q.visible_at, q.seq LIMIT ?2";

/// Settings of the SQLite queue.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file.
    pub path: PathBuf,
    /// Most items held (waiting + leased); then [`FullPolicy`] applies.
    pub capacity: u64,
    /// What a producer does when the queue is full.
    pub full_policy: FullPolicy,
    /// How long a producer blocks on a full queue before giving up with
    /// [`QueueError::Full`] (`None`: for ever).
    pub max_block: Option<Duration>,
    /// How long a lease lasts before the item is handed out again.
    pub visibility_timeout: Duration,
    /// Who the leases are stamped with (the gateway's instance name): a restarted
    /// instance takes back its own at once ([`SqliteQueue::take_back`]).
    pub holder: Option<String>,
}

impl SqliteConfig {
    /// Defaults for a file: 1,000,000 items, block, 5 minutes' visibility.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), capacity: 1_000_000, full_policy: FullPolicy::Block, max_block: None, visibility_timeout: Duration::from_secs(300), holder: None }
    }
}

/// The SQLite queue. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    cfg: Arc<SqliteConfig>,
    /// Wakes lessees when this process adds or releases items.
    ready: Arc<Notify>,
    /// Wakes blocked producers when this process removes items.
    room: Arc<Notify>,
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs `f` in one transaction with SQLite's `secure_delete` on (deleted documents are
/// overwritten, not left in free pages), then, when it deleted anything (`f`'s second
/// value), truncates the write-ahead log, which still holds them.
fn securely<T>(conn: &mut Connection, f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<(T, usize)>) -> Result<T, QueueError> {
    conn.execute_batch("PRAGMA secure_delete = ON").map_err(unavailable)?;
    let done = (|| {
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok::<_, rusqlite::Error>(out)
    })()
    .map_err(unavailable);
    let restored = conn.execute_batch("PRAGMA secure_delete = OFF").map_err(unavailable);
    let (out, n) = done?;
    restored?;
    if n > 0 {
        // Busy (a reader holds the log): the log is truncated at a later checkpoint.
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).map_err(unavailable)?;
        if busy != 0 {
            tracing::warn!("The queue's log could not be truncated after a deletion: a later checkpoint does it");
        }
    }
    Ok(out)
}

impl SqliteQueue {
    /// Opens (creating if needed) the queue file.
    pub async fn open(cfg: SqliteConfig) -> Result<Self, QueueError> {
        let path = cfg.path.clone();
        let conn = blocking(move || open_conn(&path)).await?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)), cfg: Arc::new(cfg), ready: Arc::new(Notify::new()), room: Arc::new(Notify::new()) })
    }

    async fn with<T: Send + 'static>(&self, f: impl FnOnce(&mut Connection) -> Result<T, QueueError> + Send + 'static) -> Result<T, QueueError> {
        let conn = self.conn.clone();
        blocking(move || {
            let mut guard = conn.lock().map_err(|_| unavailable("queue connection poisoned"))?;
            f(&mut guard)
        })
        .await
    }

    /// See [`crate::AnyQueue::purge_dead`].
    pub async fn purge_dead(&self, ids: Vec<String>, before_ms: i64) -> Result<usize, QueueError> {
        self.with(move |conn| {
            securely(conn, |tx| {
                let mut n = 0;
                for id in &ids {
                    n += tx.execute("DELETE FROM dead WHERE message_id = ?1 AND at_ms < ?2", params![id, before_ms])?;
                }
                Ok((n, n))
            })
        })
        .await
    }

    /// See [`crate::AnyQueue::erase`]: the waiting items and dead letters of these
    /// business keys (hashed), whoever's lease; returns their message ids.
    pub async fn erase(&self, keys: Vec<String>) -> Result<Vec<String>, QueueError> {
        let (ids, waiting) = self
            .with(move |conn| {
                securely(conn, |tx| {
                    let mut ids = Vec::new();
                    let mut waiting = 0;
                    {
                        let mut q = tx.prepare_cached("DELETE FROM queue WHERE key = ?1 RETURNING message_id")?;
                        let mut d = tx.prepare_cached("DELETE FROM dead WHERE json_valid(item) AND json_extract(item, '$.key_hash') = ?1 RETURNING message_id")?;
                        for k in &keys {
                            let before = ids.len();
                            ids.extend(q.query_map([k], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?);
                            waiting += ids.len() - before;
                            ids.extend(d.query_map([k], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?);
                        }
                    }
                    let n = ids.len();
                    Ok(((ids, waiting), n))
                })
            })
            .await?;
        if waiting > 0 {
            self.room.notify_waiters();
        }
        Ok(ids)
    }

    /// See [`crate::AnyQueue::compact`].
    pub async fn compact(&self) -> Result<(), QueueError> {
        self.with(move |conn| {
            conn.execute_batch("VACUUM").map_err(unavailable)?;
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).map_err(unavailable)?;
            if busy != 0 {
                tracing::warn!("The queue's log could not be truncated after compaction: a later checkpoint does it");
            }
            Ok(())
        })
        .await
    }

    /// See [`crate::AnyQueue::held`].
    pub async fn held(&self, keys: Vec<String>) -> Result<Vec<String>, QueueError> {
        self.with(move |conn| {
            let mut q = conn
                .prepare_cached(
                    "SELECT message_id FROM queue WHERE key = ?1
                     UNION ALL SELECT message_id FROM dead WHERE json_valid(item) AND json_extract(item, '$.key_hash') = ?1",
                )
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for k in &keys {
                out.extend(q.query_map([k], |r| r.get::<_, String>(0)).map_err(unavailable)?.collect::<Result<Vec<_>, _>>().map_err(unavailable)?);
            }
            Ok(out)
        })
        .await
    }

    /// The CPIs of the items waiting and dead-lettered (`""` for an item that names
    /// none).
    pub async fn cpis(&self) -> Result<Vec<String>, QueueError> {
        self.with(move |conn| {
            let mut st = conn
                .prepare(
                    "SELECT DISTINCT coalesce(json_extract(item, '$.cpi'), '') FROM queue WHERE json_valid(item)
                     UNION SELECT DISTINCT coalesce(json_extract(item, '$.cpi'), '') FROM dead WHERE json_valid(item)",
                )
                .map_err(unavailable)?;
            st.query_map([], |r| r.get::<_, String>(0)).map_err(unavailable)?.collect::<Result<Vec<_>, _>>().map_err(unavailable)
        })
        .await
    }

    /// See [`crate::AnyQueue::dead_before`].
    pub async fn dead_before(&self, before_ms: i64) -> Result<Vec<String>, QueueError> {
        self.with(move |conn| {
            let mut st = conn.prepare("SELECT message_id FROM dead WHERE at_ms < ?1 ORDER BY seq").map_err(unavailable)?;
            st.query_map([before_ms], |r| r.get::<_, String>(0)).map_err(unavailable)?.collect::<Result<Vec<_>, _>>().map_err(unavailable)
        })
        .await
    }

    /// See [`crate::AnyQueue::holding`].
    pub async fn holding(&self, ids: Vec<String>) -> Result<Vec<Option<String>>, QueueError> {
        self.with(move |conn| {
            let mut q = conn
                .prepare_cached(
                    "SELECT coalesce(json_extract(item, '$.communication_code'), '') FROM queue WHERE message_id = ?1 AND json_valid(item)
                     UNION ALL SELECT coalesce(json_extract(item, '$.communication_code'), '') FROM dead WHERE message_id = ?1 AND json_valid(item) LIMIT 1",
                )
                .map_err(unavailable)?;
            ids.iter().map(|id| q.query_row([id], |r| r.get::<_, String>(0)).optional().map_err(unavailable)).collect()
        })
        .await
    }

    /// See [`crate::AnyQueue::rekey`]: the `key` column and the item's `key_hash`.
    pub async fn rekey(&self, pairs: Vec<(String, String)>) -> Result<(), QueueError> {
        self.with(move |conn| {
            let tx = conn.transaction().map_err(unavailable)?;
            {
                let mut up = tx
                    .prepare_cached("UPDATE queue SET key = ?2, item = CASE WHEN json_valid(item) THEN json_set(item, '$.key_hash', ?2) ELSE item END WHERE key = ?1")
                    .map_err(unavailable)?;
                for (old, new) in &pairs {
                    up.execute(params![old, new]).map_err(unavailable)?;
                }
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    /// Makes the items leased under `holder` visible again now (their holder died: see
    /// [`crate::AnyQueue::take_back`]); returns how many.
    pub async fn take_back(&self, holder: &str) -> Result<usize, QueueError> {
        let holder = holder.to_string();
        let n = self
            .with(move |conn| {
                conn.execute("UPDATE queue SET lease = NULL, holder = NULL, visible_at = ?2 WHERE holder = ?1 AND lease IS NOT NULL", params![holder, now_ms()])
                    .map_err(unavailable)
            })
            .await?;
        if n > 0 {
            self.ready.notify_waiters();
        }
        Ok(n)
    }

    /// The configuration in use.
    pub fn config(&self) -> &SqliteConfig {
        &self.cfg
    }

    /// Gives a lease's item back with `sql` (the lease `?1`, visible again at `?2`).
    async fn give_back(&self, lease: LeaseId, delay: Duration, sql: &'static str) -> Result<(), QueueError> {
        let d = ms(delay);
        let n = self.with(move |conn| conn.execute(sql, params![lease.0 as i64, now_ms().saturating_add(d)]).map_err(unavailable)).await?;
        self.ready.notify_waiters();
        if n == 0 { Err(QueueError::UnknownLease(lease)) } else { Ok(()) }
    }
}

fn open_conn(path: &Path) -> Result<Connection, QueueError> {
    let mut conn = silgate_store::sqlite::open(path, silgate_store::sqlite::Durability::Full, 0).map_err(unavailable)?;
    silgate_store::migrate::sqlite(&mut conn, &SCHEMA).map_err(unavailable)?;
    Ok(conn)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, QueueError> + Send + 'static) -> Result<T, QueueError> {
    tokio::task::spawn_blocking(f).await.map_err(unavailable)?
}

fn decode(json: &str) -> Result<QueueItem, QueueError> {
    serde_json::from_str(json).map_err(|e| QueueError::Corrupt(format!("stored item does not decode: {e}")))
}

impl Queue for SqliteQueue {
    async fn enqueue(&self, items: Vec<QueueItem>) -> Result<usize, QueueError> {
        if items.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let n = items.len() as u64;
        let encoded: Vec<(String, String, String)> = items
            .iter()
            .map(|i| serde_json::to_string(i).map(|j| (i.message_id.clone(), i.key_hash.clone(), j)))
            .collect::<Result<_, _>>()
            .map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let encoded = Arc::new(encoded);
        loop {
            let enc = encoded.clone();
            let capacity = self.cfg.capacity;
            let added = self
                .with(move |conn| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
                    let depth: i64 = tx.query_row("SELECT n FROM depth WHERE id = 1", [], |r| r.get(0)).map_err(unavailable)?;
                    let depth = u64::try_from(depth).unwrap_or(0);
                    // A batch bigger than the whole capacity still goes into an empty queue.
                    if depth > 0 && depth + n > capacity {
                        return Ok(None);
                    }
                    let now = now_ms();
                    let mut added = 0;
                    {
                        let mut ins = tx.prepare_cached("INSERT OR IGNORE INTO queue (message_id, item, visible_at, key) VALUES (?1, ?2, ?3, ?4)").map_err(unavailable)?;
                        for (id, key, json) in enc.iter() {
                            added += ins.execute(params![id, json, now, key]).map_err(unavailable)?;
                        }
                    }
                    tx.commit().map_err(unavailable)?;
                    Ok(Some(added))
                })
                .await?;
            match added {
                Some(a) => {
                    self.ready.notify_waiters();
                    return Ok(a);
                }
                None => match self.cfg.full_policy {
                    FullPolicy::Block => {
                        if self.cfg.max_block.is_some_and(|m| started.elapsed() >= m) {
                            return Err(QueueError::Full(started.elapsed()));
                        }
                        // Another process may free room without notifying us: poll too.
                        let _ = tokio::time::timeout(Duration::from_millis(200), self.room.notified()).await;
                    }
                },
            }
        }
    }

    async fn lease(&self, max: usize, wait: Duration) -> Result<Vec<Leased>, QueueError> {
        let deadline = Instant::now() + wait;
        let vt = ms(self.cfg.visibility_timeout);
        loop {
            let notified = self.ready.notified();
            let max_i = i64::try_from(max).unwrap_or(i64::MAX);
            let holder = self.cfg.holder.clone();
            let got = self
                .with(move |conn| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
                    let now = now_ms();
                    let rows: Vec<(i64, String, u32)> = {
                        let mut sel = tx.prepare_cached(LEASABLE).map_err(unavailable)?;
                        sel.query_map(params![now, max_i], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(unavailable)?.collect::<Result<_, _>>().map_err(unavailable)?
                    };
                    let mut out = Vec::with_capacity(rows.len());
                    {
                        let mut upd =
                            tx.prepare_cached("UPDATE queue SET lease = ?1, visible_at = ?2, deliveries = deliveries + 1, holder = ?4 WHERE seq = ?3").map_err(unavailable)?;
                        for (seq, json, deliveries) in rows {
                            let token = fastrand::u64(1..i64::MAX as u64);
                            upd.execute(params![token as i64, now + vt, seq, holder]).map_err(unavailable)?;
                            match decode(&json) {
                                Ok(item) => out.push(Leased { item, lease: LeaseId(token), deliveries: deliveries + 1 }),
                                Err(e) => {
                                    // Never lose it: park the undecodable row with its reason.
                                    tx.execute(
                                        "INSERT OR IGNORE INTO dead (message_id, item, reason, at_ms) SELECT message_id, item, ?2, ?3 FROM queue WHERE seq = ?1",
                                        params![seq, e.to_string(), now],
                                    )
                                    .map_err(unavailable)?;
                                    tx.execute("DELETE FROM queue WHERE seq = ?1", [seq]).map_err(unavailable)?;
                                }
                            }
                        }
                    }
                    tx.commit().map_err(unavailable)?;
                    Ok(out)
                })
                .await?;
            if !got.is_empty() || Instant::now() >= deadline {
                return Ok(got);
            }
            let left = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(100));
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    async fn ack(&self, lease: LeaseId) -> Result<(), QueueError> {
        let n = self.with(move |conn| conn.execute("DELETE FROM queue WHERE lease = ?1", [lease.0 as i64]).map_err(unavailable)).await?;
        self.room.notify_waiters();
        if n == 0 { Err(QueueError::UnknownLease(lease)) } else { Ok(()) }
    }

    async fn ack_all(&self, leases: Vec<LeaseId>) -> Result<(), QueueError> {
        if leases.is_empty() {
            return Ok(());
        }
        let missing = self
            .with(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
                let mut missing = None;
                {
                    let mut del = tx.prepare_cached("DELETE FROM queue WHERE lease = ?1").map_err(unavailable)?;
                    for l in &leases {
                        if del.execute([l.0 as i64]).map_err(unavailable)? == 0 && missing.is_none() {
                            missing = Some(*l);
                        }
                    }
                }
                tx.commit().map_err(unavailable)?;
                Ok(missing)
            })
            .await?;
        self.room.notify_waiters();
        match missing {
            Some(l) => Err(QueueError::UnknownLease(l)),
            None => Ok(()),
        }
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), QueueError> {
        let vt = ms(self.cfg.visibility_timeout);
        let n = self.with(move |conn| conn.execute("UPDATE queue SET visible_at = ?2 WHERE lease = ?1", params![lease.0 as i64, now_ms() + vt]).map_err(unavailable)).await?;
        if n == 0 { Err(QueueError::UnknownLease(lease)) } else { Ok(()) }
    }

    async fn release(&self, lease: LeaseId, delay: Duration) -> Result<(), QueueError> {
        self.give_back(lease, delay, "UPDATE queue SET lease = NULL, holder = NULL, visible_at = ?2 WHERE lease = ?1").await
    }

    async fn defer(&self, lease: LeaseId, delay: Duration) -> Result<(), QueueError> {
        self.give_back(lease, delay, "UPDATE queue SET lease = NULL, holder = NULL, visible_at = ?2, deliveries = max(deliveries - 1, 0) WHERE lease = ?1").await
    }

    fn orders_keys(&self) -> bool {
        true
    }

    async fn dead_letter(&self, lease: LeaseId, reason: &str) -> Result<(), QueueError> {
        let reason = reason.to_string();
        let n = self
            .with(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
                tx.execute(
                    "INSERT INTO dead (message_id, item, reason, at_ms) SELECT message_id, item, ?2, ?3 FROM queue WHERE lease = ?1
                     ON CONFLICT (message_id) DO UPDATE SET reason = excluded.reason, at_ms = excluded.at_ms",
                    params![lease.0 as i64, reason, now_ms()],
                )
                .map_err(unavailable)?;
                let n = tx.execute("DELETE FROM queue WHERE lease = ?1", [lease.0 as i64]).map_err(unavailable)?;
                tx.commit().map_err(unavailable)?;
                Ok(n)
            })
            .await?;
        self.room.notify_waiters();
        if n == 0 { Err(QueueError::UnknownLease(lease)) } else { Ok(()) }
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |conn| {
            let mut stmt = conn.prepare("SELECT item, reason, at_ms FROM dead ORDER BY seq LIMIT ?1").map_err(unavailable)?;
            let rows: Vec<(String, String, i64)> =
                stmt.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(unavailable)?.collect::<Result<_, _>>().map_err(unavailable)?;
            rows.into_iter().map(|(json, reason, at_ms)| Ok(DeadLetter { item: decode(&json)?, reason, at_ms })).collect()
        })
        .await
    }

    async fn replay(&self, ids: &[String]) -> Result<Vec<QueueItem>, QueueError> {
        let ids = ids.to_vec();
        let out = self
            .with(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
                let rows: Vec<(i64, String)> = {
                    let mut stmt = tx.prepare("SELECT seq, item FROM dead ORDER BY seq").map_err(unavailable)?;
                    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(unavailable)?.collect::<Result<_, _>>().map_err(unavailable)?
                };
                let mut out = Vec::new();
                let now = now_ms();
                for (seq, json) in rows {
                    let item = decode(&json)?;
                    if !ids.is_empty() && !ids.contains(&item.message_id) {
                        continue;
                    }
                    tx.execute("INSERT OR IGNORE INTO queue (message_id, item, visible_at, key) VALUES (?1, ?2, ?3, ?4)", params![item.message_id, json, now, item.key_hash])
                        .map_err(unavailable)?;
                    tx.execute("DELETE FROM dead WHERE seq = ?1", [seq]).map_err(unavailable)?;
                    out.push(item);
                }
                tx.commit().map_err(unavailable)?;
                Ok(out)
            })
            .await?;
        self.ready.notify_waiters();
        Ok(out)
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.with(|conn| {
            let now = now_ms();
            let (total, leased): (i64, i64) = conn
                .query_row("SELECT (SELECT n FROM depth WHERE id = 1), (SELECT count(*) FROM queue WHERE lease IS NOT NULL AND visible_at > ?1)", [now], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(unavailable)?;
            let dead: i64 = conn.query_row("SELECT count(*) FROM dead", [], |r| r.get(0)).optional().map_err(unavailable)?.unwrap_or(0);
            let n = |v: i64| u64::try_from(v).unwrap_or(0);
            Ok(QueueStats { ready: n(total).saturating_sub(n(leased)), leased: Some(n(leased)), dead: n(dead) })
        })
        .await
    }
}

/// What [`carry_waiting`] brought over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CarriedItems {
    /// Items waiting in the later queue that the restored one lacked.
    pub waiting: usize,
    /// Dead letters of the later queue the restored one lacked.
    pub dead: usize,
    /// Items deleted because they were erased since the backup.
    pub erased: usize,
}

/// Makes the queue file `into` (restored from a backup, already migrated) hold what
/// the queue file `from` (the one in use until the restore) holds: restored items
/// `from` no longer holds were settled since (delivered, refused, purged, erased) and
/// go; items `from` holds and `into` lacks (queued after the backup, replayed) come,
/// after the restored ones (a record's later versions stay behind its earlier ones),
/// visible when they were (a lease is over: now); dead letters likewise. Then deletes
/// the items of the message ids `erased`, with `secure_delete`, and compacts the file.
/// Run it with no process using either file.
pub fn carry_waiting(into: &std::path::Path, from: &std::path::Path, erased: &[String]) -> Result<CarriedItems, QueueError> {
    let mut c = Connection::open(into).map_err(unavailable)?;
    c.busy_timeout(Duration::from_secs(30)).map_err(unavailable)?;
    c.execute("ATTACH DATABASE ?1 AS later", [from.to_string_lossy()]).map_err(unavailable)?;
    let out = securely(&mut c, |tx| {
        // What the later queue no longer holds was settled there (delivered, refused,
        // purged, erased): not brought back. What moved between waiting and dead
        // follows it.
        tx.execute_batch(
            "DELETE FROM queue WHERE message_id NOT IN (SELECT message_id FROM later.queue);
             DELETE FROM dead WHERE message_id NOT IN (SELECT message_id FROM later.dead);",
        )?;
        let dead = tx.execute(
            "INSERT INTO dead (message_id, item, reason, at_ms) SELECT message_id, item, reason, at_ms FROM later.dead l
             WHERE NOT EXISTS (SELECT 1 FROM dead d WHERE d.message_id = l.message_id) ORDER BY l.seq",
            [],
        )?;
        let waiting = tx.execute(
            "INSERT INTO queue (message_id, item, visible_at, deliveries, key)
             SELECT message_id, item, CASE WHEN l.lease IS NULL THEN l.visible_at ELSE ?1 END, deliveries, key FROM later.queue l
             WHERE NOT EXISTS (SELECT 1 FROM queue q WHERE q.message_id = l.message_id) ORDER BY l.seq",
            [now_ms()],
        )?;
        let gone = delete_ids(tx, erased)?;
        Ok((CarriedItems { waiting, dead, erased: gone }, gone))
    })?;
    c.execute("DETACH DATABASE later", []).map_err(unavailable)?;
    vacuum(&c)?;
    Ok(out)
}

/// `VACUUM`, then the log emptied: what the backup brought back in free pages (acked
/// documents, a person erased since) is gone from the disk.
fn vacuum(c: &Connection) -> Result<(), QueueError> {
    c.execute_batch("VACUUM").map_err(unavailable)?;
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)).map_err(unavailable)?;
    Ok(())
}

/// Deletes the items (waiting or dead-lettered) of these message ids from the queue
/// file `into`, with `secure_delete`, and compacts it (a restore whose queue in use is
/// lost: the erasures since, and what the backup brought back in free pages); returns
/// how many. Run it with no process using the file.
pub fn erase_ids(into: &std::path::Path, ids: &[String]) -> Result<usize, QueueError> {
    let mut c = Connection::open(into).map_err(unavailable)?;
    c.busy_timeout(Duration::from_secs(30)).map_err(unavailable)?;
    let n = securely(&mut c, |tx| {
        let n = delete_ids(tx, ids)?;
        Ok((n, n))
    })?;
    vacuum(&c)?;
    Ok(n)
}

fn delete_ids(tx: &rusqlite::Transaction<'_>, ids: &[String]) -> rusqlite::Result<usize> {
    let mut q = tx.prepare("DELETE FROM queue WHERE message_id = ?1")?;
    let mut d = tx.prepare("DELETE FROM dead WHERE message_id = ?1")?;
    let mut n = 0;
    for id in ids {
        n += q.execute([id])? + d.execute([id])?;
    }
    Ok(n)
}

/// Whether the queue file at `path` opens and its items can be read.
pub fn readable(path: &std::path::Path) -> bool {
    let Ok(c) = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else { return false };
    c.query_row("SELECT (SELECT count(*) FROM queue) + (SELECT count(*) FROM dead)", [], |r| r.get::<_, i64>(0)).is_ok()
}
