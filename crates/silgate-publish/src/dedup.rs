//! The dedup index: which record versions exist, which were delivered, and the eGov
//! message id each one travels under.
//!
//! - `messages`: one row per message id (record version) ever queued, with its state
//!   (`queued`, `delivered`, `refused`), its eGov id once allocated, and the node's
//!   receipt.
//! - `latest`: per business key (hashed), the content hash last delivered. An ingest
//!   whose content hash equals it is *unchanged* and is not queued (DESIGN §3.3).
//! - `egov_counter`: the persisted 7-digit progressive of the eGov ids, per sender.
//!   An id is allocated once per message id, stored before the first send, and reused
//!   on every retry (egov.md).
//!
//! The publisher marks a message delivered here *before* it acks the queue (DESIGN
//! §3.2): after a crash between the two, the redelivered item is found delivered and
//! acked without a second send.

use crate::PublishError;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    message_id   TEXT PRIMARY KEY,
    key_hash     TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    state        TEXT NOT NULL,
    egov_id      TEXT UNIQUE,
    receipt      TEXT,
    updated_ms   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS latest (
    key_hash     TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    delivered_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS egov_counter (sender TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sent_codes (key_hash TEXT PRIMARY KEY, code TEXT NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen_inputs (key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
";

/// What the index says about a record version offered for queueing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Not seen: queue it.
    New,
    /// This exact content was the last delivered for its business key.
    Unchanged,
    /// This version is already queued (or delivered earlier and superseded since):
    /// nothing to add.
    Known,
}

/// A version offered for queueing.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Message id.
    pub message_id: String,
    /// Hashed business key.
    pub key_hash: String,
    /// Content hash.
    pub content_hash: String,
}

/// The dedup index chosen by config: SQLite (embedded default) or PostgreSQL (shared
/// by several gateway instances).
#[derive(Debug, Clone)]
pub enum DedupIndex {
    /// A SQLite file.
    Sqlite(SqliteDedup),
    /// A PostgreSQL database.
    Postgres(crate::dedup_pg::PgDedup),
}

macro_rules! each {
    ($self:ident, $d:ident => $e:expr) => {
        match $self {
            DedupIndex::Sqlite($d) => $e,
            DedupIndex::Postgres($d) => $e,
        }
    };
}

impl DedupIndex {
    /// Opens (creating if needed) a SQLite index file.
    pub async fn open(path: &Path) -> Result<Self, PublishError> {
        Ok(Self::Sqlite(SqliteDedup::open(path).await?))
    }

    /// Connects to PostgreSQL and creates the tables if needed.
    pub async fn postgres(conninfo: &str) -> Result<Self, PublishError> {
        Ok(Self::Postgres(crate::dedup_pg::PgDedup::connect(conninfo).await?))
    }

    /// Judges a batch of offers (read only: nothing is recorded until
    /// [`DedupIndex::mark_queued`], after the queue has committed them).
    pub async fn admit(&self, offers: Vec<Offer>) -> Result<Vec<Admission>, PublishError> {
        each!(self, d => d.admit(offers).await)
    }

    /// Records that these versions are in the durable queue.
    pub async fn mark_queued(&self, offers: Vec<Offer>) -> Result<(), PublishError> {
        each!(self, d => d.mark_queued(offers).await)
    }

    /// Remembers the communication code last queued for each business key (hashed):
    /// what a later closure of the record must name as the code it closes.
    pub async fn remember_codes(&self, codes: Vec<(String, String)>) -> Result<(), PublishError> {
        each!(self, d => d.remember_codes(codes).await)
    }

    /// True when an input with this key (a PEC message: identificativo + content hash)
    /// was processed whole before.
    pub async fn input_seen(&self, key: &str) -> Result<bool, PublishError> {
        each!(self, d => d.input_seen(key.to_string()).await)
    }

    /// Records that an input was processed whole (every record queued or quarantined).
    pub async fn mark_input(&self, key: &str) -> Result<(), PublishError> {
        each!(self, d => d.mark_input(key.to_string()).await)
    }

    /// For each hashed business key, the communication code last queued for it.
    pub async fn last_codes(&self, keys: Vec<String>) -> Result<Vec<Option<String>>, PublishError> {
        each!(self, d => d.last_codes(keys).await)
    }

    /// For each message id, its receipt when it was already delivered.
    pub async fn delivered_many(&self, ids: Vec<String>) -> Result<Vec<Option<String>>, PublishError> {
        each!(self, d => d.delivered_many(ids).await)
    }

    /// The receipt, when this message id was already delivered.
    pub async fn delivered(&self, message_id: &str) -> Result<Option<String>, PublishError> {
        Ok(self.delivered_many(vec![message_id.to_string()]).await?.pop().flatten())
    }

    /// The eGov id of each offer, allocating (with `make(counter)`) and persisting in one
    /// commit those that have none yet: durable before the first send, reused on every
    /// retry.
    pub async fn egov_ids(&self, offers: Vec<Offer>, sender: &str, make: impl Fn(u64) -> Option<String> + Send + 'static) -> Result<Vec<String>, PublishError> {
        each!(self, d => d.egov_ids(offers, sender, make).await)
    }

    /// [`DedupIndex::egov_ids`] for one offer.
    pub async fn egov_id(&self, offer: &Offer, sender: &str, make: impl Fn(u64) -> Option<String> + Send + 'static) -> Result<String, PublishError> {
        self.egov_ids(vec![offer.clone()], sender, make).await?.pop().ok_or_else(|| PublishError::Dedup("no eGov id allocated".into()))
    }

    /// Records deliveries (before the queue is acked), with the node's receipts.
    pub async fn mark_delivered_many(&self, done: Vec<(Offer, String)>) -> Result<(), PublishError> {
        each!(self, d => d.mark_delivered_many(done).await)
    }

    /// [`DedupIndex::mark_delivered_many`] for one.
    pub async fn mark_delivered(&self, offer: &Offer, receipt: &str) -> Result<(), PublishError> {
        self.mark_delivered_many(vec![(offer.clone(), receipt.to_string())]).await
    }

    /// Records a permanent refusal by the node.
    pub async fn mark_refused(&self, message_id: &str) -> Result<(), PublishError> {
        each!(self, d => d.mark_refused(message_id).await)
    }

    /// Forgets the state of these message ids so a replay resends them.
    pub async fn reopen(&self, ids: Vec<String>) -> Result<(), PublishError> {
        each!(self, d => d.reopen(ids).await)
    }
}

/// The SQLite dedup index. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct SqliteDedup {
    conn: Arc<Mutex<Connection>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl SqliteDedup {
    /// Opens (creating if needed) the index file.
    async fn open(path: &Path) -> Result<Self, PublishError> {
        let path = path.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, PublishError> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| PublishError::Dedup(format!("{}: {e}", dir.display())))?;
            }
            let c = Connection::open(&path)?;
            c.busy_timeout(std::time::Duration::from_secs(30))?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "FULL")?;
            // Its indexes take random keys (hashes, ids): a page cache that holds them
            // saves a read per insert (profiled on an unchanged re-ingest). Bounded: 32 MiB.
            c.pragma_update(None, "cache_size", -32_768)?;
            c.execute_batch(SCHEMA)?;
            Ok(c)
        })
        .await
        .map_err(|e| PublishError::Dedup(e.to_string()))??;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    async fn with<T: Send + 'static>(&self, f: impl FnOnce(&mut Connection) -> Result<T, PublishError> + Send + 'static) -> Result<T, PublishError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut g = conn.lock().map_err(|_| PublishError::Dedup("index poisoned".into()))?;
            f(&mut g)
        })
        .await
        .map_err(|e| PublishError::Dedup(e.to_string()))?
    }

    /// Judges a batch of offers (read only: nothing is recorded until
    /// [`DedupIndex::mark_queued`], after the queue has committed them).
    pub(crate) async fn admit(&self, offers: Vec<Offer>) -> Result<Vec<Admission>, PublishError> {
        self.with(move |c| {
            // One read transaction for the batch: outside one, every lookup would take
            // and drop the database's shared lock on its own.
            let tx = c.transaction()?;
            let mut latest = tx.prepare_cached("SELECT content_hash FROM latest WHERE key_hash = ?1")?;
            let mut known = tx.prepare_cached("SELECT 1 FROM messages WHERE message_id = ?1")?;
            let mut out = Vec::with_capacity(offers.len());
            for o in &offers {
                let last: Option<String> = latest.query_row([&o.key_hash], |r| r.get(0)).optional()?;
                out.push(if last.as_deref() == Some(o.content_hash.as_str()) {
                    Admission::Unchanged
                } else if known.query_row([&o.message_id], |_| Ok(())).optional()?.is_some() {
                    Admission::Known
                } else {
                    Admission::New
                });
            }
            drop((latest, known));
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    pub(crate) async fn remember_codes(&self, codes: Vec<(String, String)>) -> Result<(), PublishError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut up = tx.prepare_cached("INSERT INTO sent_codes (key_hash, code, updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT(key_hash) DO UPDATE SET code = excluded.code, updated_ms = excluded.updated_ms")?;
                let now = now_ms();
                for (k, code) in &codes {
                    up.execute(params![k, code, now])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn input_seen(&self, key: String) -> Result<bool, PublishError> {
        self.with(move |c| Ok(c.prepare_cached("SELECT 1 FROM seen_inputs WHERE key = ?1")?.query_row([&key], |_| Ok(())).optional()?.is_some())).await
    }

    pub(crate) async fn mark_input(&self, key: String) -> Result<(), PublishError> {
        self.with(move |c| {
            c.execute("INSERT OR IGNORE INTO seen_inputs (key, at_ms) VALUES (?1, ?2)", params![key, now_ms()])?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn last_codes(&self, keys: Vec<String>) -> Result<Vec<Option<String>>, PublishError> {
        self.with(move |c| {
            let mut q = c.prepare_cached("SELECT code FROM sent_codes WHERE key_hash = ?1")?;
            let mut out = Vec::with_capacity(keys.len());
            for k in &keys {
                out.push(q.query_row([k], |r| r.get(0)).optional()?);
            }
            Ok(out)
        })
        .await
    }

    /// Records that these versions are in the durable queue.
    pub(crate) async fn mark_queued(&self, offers: Vec<Offer>) -> Result<(), PublishError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut ins = tx.prepare_cached("INSERT OR IGNORE INTO messages (message_id, key_hash, content_hash, state, updated_ms) VALUES (?1, ?2, ?3, 'queued', ?4)")?;
                let now = now_ms();
                for o in &offers {
                    ins.execute(params![o.message_id, o.key_hash, o.content_hash, now])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// For each message id, its receipt when delivered (one read).
    pub(crate) async fn delivered_many(&self, ids: Vec<String>) -> Result<Vec<Option<String>>, PublishError> {
        self.with(move |c| {
            let mut st = c.prepare_cached("SELECT receipt FROM messages WHERE message_id = ?1 AND state = 'delivered'")?;
            ids.iter().map(|id| Ok(st.query_row([id], |r| r.get::<_, Option<String>>(0)).optional()?.map(Option::unwrap_or_default))).collect()
        })
        .await
    }

    /// eGov ids for many offers in one transaction (one commit).
    pub(crate) async fn egov_ids(&self, offers: Vec<Offer>, sender: &str, make: impl Fn(u64) -> Option<String> + Send + 'static) -> Result<Vec<String>, PublishError> {
        let sender = sender.to_string();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut out = Vec::with_capacity(offers.len());
            {
                let mut get = tx.prepare_cached("SELECT egov_id FROM messages WHERE message_id = ?1")?;
                let mut bump = tx.prepare_cached("INSERT INTO egov_counter (sender, n) VALUES (?1, 1) ON CONFLICT (sender) DO UPDATE SET n = n + 1 RETURNING n")?;
                let mut put = tx.prepare_cached(
                    "INSERT INTO messages (message_id, key_hash, content_hash, state, egov_id, updated_ms) VALUES (?1, ?2, ?3, 'queued', ?4, ?5)
                     ON CONFLICT (message_id) DO UPDATE SET egov_id = excluded.egov_id, updated_ms = excluded.updated_ms",
                )?;
                let now = now_ms();
                for o in &offers {
                    let existing: Option<Option<String>> = get.query_row([&o.message_id], |r| r.get(0)).optional()?;
                    if let Some(Some(id)) = existing {
                        out.push(id);
                        continue;
                    }
                    let n: i64 = bump.query_row([&sender], |r| r.get(0))?;
                    let id = make(u64::try_from(n).unwrap_or(0)).ok_or_else(|| PublishError::Dedup(format!("eGov counter for {sender} exhausted (7 digits)")))?;
                    put.execute(params![o.message_id, o.key_hash, o.content_hash, id, now])?;
                    out.push(id);
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Deliveries in one transaction.
    pub(crate) async fn mark_delivered_many(&self, done: Vec<(Offer, String)>) -> Result<(), PublishError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let now = now_ms();
                let mut upd = tx.prepare_cached("UPDATE messages SET state = 'delivered', receipt = ?2, updated_ms = ?3 WHERE message_id = ?1")?;
                let mut latest = tx.prepare_cached(
                    "INSERT INTO latest (key_hash, content_hash, message_id, delivered_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (key_hash) DO UPDATE SET content_hash = excluded.content_hash, message_id = excluded.message_id, delivered_ms = excluded.delivered_ms",
                )?;
                for (o, receipt) in &done {
                    upd.execute(params![o.message_id, receipt, now])?;
                    latest.execute(params![o.key_hash, o.content_hash, o.message_id, now])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Records a permanent refusal by the node.
    pub(crate) async fn mark_refused(&self, message_id: &str) -> Result<(), PublishError> {
        let id = message_id.to_string();
        self.with(move |c| {
            c.execute("UPDATE messages SET state = 'refused', updated_ms = ?2 WHERE message_id = ?1", params![id, now_ms()])?;
            Ok(())
        })
        .await
    }

    /// Forgets the state of these message ids so a replay resends them.
    pub(crate) async fn reopen(&self, ids: Vec<String>) -> Result<(), PublishError> {
        self.with(move |c| {
            for id in &ids {
                c.execute("UPDATE messages SET state = 'queued' WHERE message_id = ?1 AND state <> 'delivered'", [id])?;
            }
            Ok(())
        })
        .await
    }
}
