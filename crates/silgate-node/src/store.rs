//! Where the node keeps what it received: one row per eGov message id, with the first
//! answer it gave (replayed to every repeat), plus per-minute counters for the
//! throughput statistics.

use crate::NodeError;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: silgate_store::migrate::Schema = silgate_store::migrate::Schema {
    store: "node",
    migrations: &[silgate_store::migrate::Migration { version: 1, name: "documents, minutes, reasons", sql: V1, breaks_older: false }],
    every_open: "",
};

const V1: &str = "
CREATE TABLE IF NOT EXISTS documents (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    egov_id     TEXT    NOT NULL UNIQUE,
    receipt     TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    cpi         TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    ok          INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    received_ms INTEGER NOT NULL,
    document    TEXT,
    response    TEXT    NOT NULL,
    digest      TEXT
);
CREATE INDEX IF NOT EXISTS documents_code ON documents (code);
CREATE TABLE IF NOT EXISTS minutes (
    minute  INTEGER NOT NULL,
    region  TEXT    NOT NULL,
    cpi     TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    outcome TEXT    NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (minute, region, cpi, kind, outcome)
);
CREATE TABLE IF NOT EXISTS reasons (reason TEXT PRIMARY KEY, n INTEGER NOT NULL);
";

/// One stored document (or refusal).
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) egov_id: String,
    pub(crate) sender: String,
    pub(crate) region: String,
    pub(crate) cpi: String,
    pub(crate) kind: String,
    pub(crate) code: String,
    pub(crate) ok: bool,
    pub(crate) reason: String,
    pub(crate) received_ms: i64,
    pub(crate) document: Option<String>,
    /// SHA-256 of the document as received: a repeated id must carry the same one.
    pub(crate) digest: String,
}

/// What the store knows of a message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Never received.
    New,
    /// Received with the same document: the first answer, to replay.
    Same(String),
    /// Received with a different document: the sender reused an id. Answering with the
    /// first answer would tell it a document arrived that never did.
    Conflict,
}

/// The same digest, or a row from before digests were kept (trusted as the same).
fn same(stored: Option<&str>, digest: &str) -> bool {
    stored.is_none_or(|d| d == digest)
}

/// One row of per-minute throughput.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MinuteRow {
    /// Unix minute (seconds / 60).
    pub minute: i64,
    /// The ministry's region code (from the communication code).
    pub region: String,
    /// CPI code.
    pub cpi: String,
    /// `cv` or `vacancy`.
    pub kind: String,
    /// `accepted`, `rejected` or `duplicate`.
    pub outcome: String,
    /// Count.
    pub n: i64,
}

/// The document store chosen by config.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    /// SQLite file (default).
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(crate::store_pg::PgStore),
}

impl Store {
    pub(crate) async fn repeat(&self, egov_id: &str, digest: &str, minute: i64) -> Result<(Seen, String), NodeError> {
        match self {
            Self::Sqlite(s) => s.repeat(egov_id, digest, minute).await,
            Self::Postgres(p) => p.repeat(egov_id, digest, minute).await,
        }
    }

    pub(crate) async fn insert(&self, s: Stored, respond: impl FnOnce(&str) -> String + Send + 'static) -> Result<(String, Seen), NodeError> {
        match self {
            Self::Sqlite(q) => q.insert(s, respond).await,
            Self::Postgres(p) => p.insert(s, respond).await,
        }
    }

    pub(crate) async fn minutes(&self, since_minute: i64) -> Result<Vec<MinuteRow>, NodeError> {
        match self {
            Self::Sqlite(s) => s.minutes(since_minute).await,
            Self::Postgres(p) => p.minutes(since_minute).await,
        }
    }

    /// Deletes the content of the documents received before `before_ms` (their
    /// retention is past); returns how many. The rows stay: eGov id, digest and answer
    /// (a repeated id is answered as before, a reused one still refused), code,
    /// outcome.
    pub(crate) async fn forget_documents(&self, before_ms: i64) -> Result<usize, NodeError> {
        match self {
            Self::Sqlite(s) => s.forget_documents(before_ms).await,
            Self::Postgres(p) => p.forget_documents(before_ms).await,
        }
    }

    pub(crate) async fn totals(&self) -> Result<Totals, NodeError> {
        match self {
            Self::Sqlite(s) => s.totals().await,
            Self::Postgres(p) => p.totals().await,
        }
    }
}

/// (documents accepted, rejected, distinct accepted codes, duplicates, reasons).
pub(crate) type Totals = (i64, i64, i64, i64, Vec<(String, i64)>);

/// The SQLite document store. Cloning shares the connection.
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    pub(crate) fn open(path: &Path) -> Result<Self, NodeError> {
        let store = |e: silgate_store::StoreError| NodeError::Io(e.to_string());
        let mut conn = silgate_store::sqlite::open(path, silgate_store::sqlite::Durability::Full, 0).map_err(store)?;
        // Stores made before digests were kept (before the migration runner): the column
        // first, so that migration 1 adopts the store whole.
        let old: i64 = conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'documents'", [], |r| r.get(0))?;
        if old == 1 {
            let has_digest: i64 = conn.query_row("SELECT count(*) FROM pragma_table_info('documents') WHERE name = 'digest'", [], |r| r.get(0))?;
            if has_digest == 0 {
                conn.execute_batch("ALTER TABLE documents ADD COLUMN digest TEXT")?;
            }
        }
        silgate_store::migrate::sqlite(&mut conn, &SCHEMA).map_err(store)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    pub(crate) async fn with<T: Send + 'static>(&self, f: impl FnOnce(&mut Connection) -> Result<T, NodeError> + Send + 'static) -> Result<T, NodeError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut g = conn.lock().map_err(|_| NodeError::Io("store poisoned".into()))?;
            f(&mut g)
        })
        .await
        .map_err(|e| NodeError::Io(e.to_string()))?
    }

    pub(crate) async fn forget_documents(&self, before_ms: i64) -> Result<usize, NodeError> {
        self.with(move |c| {
            // Overwritten, not left in free pages; then out of the log too.
            c.execute_batch("PRAGMA secure_delete = ON")?;
            let n = c.execute("UPDATE documents SET document = NULL WHERE document IS NOT NULL AND received_ms < ?1", [before_ms]);
            c.execute_batch("PRAGMA secure_delete = OFF")?;
            let n = n?;
            if n > 0 {
                let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
                if busy != 0 {
                    tracing::warn!("The node store's log could not be truncated after a purge: a later checkpoint does it");
                }
            }
            Ok(n)
        })
        .await
    }

    /// What is known of this message id (a repeat with the same document is counted),
    /// with the region it was stored under.
    pub(crate) async fn repeat(&self, egov_id: &str, digest: &str, minute: i64) -> Result<(Seen, String), NodeError> {
        let (id, digest) = (egov_id.to_string(), digest.to_string());
        self.with(move |c| {
            let row: Option<(String, String, String, String, Option<String>)> = c
                .query_row("SELECT response, region, cpi, kind, digest FROM documents WHERE egov_id = ?1", [&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .optional()?;
            match row {
                None => Ok((Seen::New, String::new())),
                Some((_, region, _, _, stored)) if !same(stored.as_deref(), &digest) => Ok((Seen::Conflict, region)),
                Some((resp, region, cpi, kind, _)) => {
                    bump(c, minute, &region, &cpi, &kind, "duplicate")?;
                    Ok((Seen::Same(resp), region))
                }
            }
        })
        .await
    }

    /// Stores a new message; `respond(receipt)` builds the answer. Returns the answer
    /// and whether this was a repeat that raced in (then the stored answer).
    pub(crate) async fn insert(&self, s: Stored, respond: impl FnOnce(&str) -> String + Send + 'static) -> Result<(String, Seen), NodeError> {
        self.with(move |c| {
            let tx = c.transaction()?;
            let minute = s.received_ms / 60_000;
            let existing: Option<(String, Option<String>)> =
                tx.query_row("SELECT response, digest FROM documents WHERE egov_id = ?1", [&s.egov_id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            if let Some((resp, stored)) = existing {
                if !same(stored.as_deref(), &s.digest) {
                    return Ok((String::new(), Seen::Conflict));
                }
                bump(&tx, minute, &s.region, &s.cpi, &s.kind, "duplicate")?;
                tx.commit()?;
                return Ok((resp.clone(), Seen::Same(resp)));
            }
            let next: i64 = tx.query_row("SELECT coalesce(max(seq), 0) + 1 FROM documents", [], |r| r.get(0))?;
            let receipt = receipt_id(next, s.received_ms);
            let response = respond(&receipt);
            tx.execute(
                "INSERT INTO documents (seq, egov_id, receipt, sender, region, cpi, kind, code, ok, reason, received_ms, document, response, digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![next, s.egov_id, receipt, s.sender, s.region, s.cpi, s.kind, s.code, s.ok, s.reason, s.received_ms, s.document, response, s.digest],
            )?;
            bump(&tx, minute, &s.region, &s.cpi, &s.kind, if s.ok { "accepted" } else { "rejected" })?;
            if !s.ok {
                for r in s.reason.split(' ').filter(|r| !r.is_empty()) {
                    tx.execute("INSERT INTO reasons (reason, n) VALUES (?1, 1) ON CONFLICT (reason) DO UPDATE SET n = n + 1", [r])?;
                }
            }
            tx.commit()?;
            Ok((response, Seen::New))
        })
        .await
    }

    pub(crate) async fn minutes(&self, since_minute: i64) -> Result<Vec<MinuteRow>, NodeError> {
        self.with(move |c| {
            let mut st = c.prepare("SELECT minute, region, cpi, kind, outcome, n FROM minutes WHERE minute >= ?1 ORDER BY minute, region, cpi, kind, outcome")?;
            let rows =
                st.query_map([since_minute], |r| Ok(MinuteRow { minute: r.get(0)?, region: r.get(1)?, cpi: r.get(2)?, kind: r.get(3)?, outcome: r.get(4)?, n: r.get(5)? }))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// (documents accepted, rejected, distinct accepted codes, duplicates, reasons).
    pub(crate) async fn totals(&self) -> Result<Totals, NodeError> {
        self.with(|c| {
            let (acc, rej, distinct): (i64, i64, i64) =
                c.query_row("SELECT coalesce(sum(ok), 0), coalesce(sum(1 - ok), 0), (SELECT count(DISTINCT code) FROM documents WHERE ok = 1) FROM documents", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            let dup: i64 = c.query_row("SELECT coalesce(sum(n), 0) FROM minutes WHERE outcome = 'duplicate'", [], |r| r.get(0))?;
            let mut st = c.prepare("SELECT reason, n FROM reasons ORDER BY n DESC, reason")?;
            let reasons = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
            Ok((acc, rej, distinct, dup, reasons))
        })
        .await
    }
}

fn bump(c: &Connection, minute: i64, region: &str, cpi: &str, kind: &str, outcome: &str) -> Result<(), NodeError> {
    c.execute(
        "INSERT INTO minutes (minute, region, cpi, kind, outcome, n) VALUES (?1, ?2, ?3, ?4, ?5, 1) ON CONFLICT (minute, region, cpi, kind, outcome) DO UPDATE SET n = n + 1",
        params![minute, region, cpi, kind, outcome],
    )?;
    Ok(())
}

/// The node's receipt: an eGov id of its own (`NAZIONALE_NAZIONALESPCoopIT_...`).
pub(crate) fn receipt_id(seq: i64, at_ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(at_ms / 1000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let stamp = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", at.year(), u8::from(at.month()), at.day(), at.hour(), at.minute(), at.second());
    let n = u64::try_from(seq).unwrap_or(0) % 10_000_000;
    silgate_std1546::egov::message_id("NAZIONALE", n, &stamp).unwrap_or_else(|| format!("NAZIONALE_{seq}"))
}
