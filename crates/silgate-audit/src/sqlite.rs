//! The SQLite audit store (embedded default).

use crate::AuditError;
use crate::entry::{Entry, GENESIS, Gap, NewEntry, Query, VerifyReport, Walker};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use silgate_store::migrate::{Migration, Schema};
use silgate_store::sqlite::{Durability, Shared, blocking};
use std::path::Path;

const SCHEMA: Schema =
    Schema { store: "audit", migrations: &[Migration { version: 1, name: "audit, audit_heads", sql: V1, breaks_older: false }, V2, V3], every_open: APPEND_ONLY };

/// The typed fields of an event, in its hash. A build that does not know them would
/// find every new entry "edited": it must not read this store.
const V2: Migration = Migration { version: 2, name: "audit.fields", sql: "ALTER TABLE audit ADD COLUMN fields TEXT", breaks_older: true };
/// What a record's story is looked up by (completeness, recovery): additive.
const V3: Migration =
    Migration { version: 3, name: "audit (message_id, event) index", sql: "CREATE INDEX IF NOT EXISTS audit_message_event ON audit (message_id, event)", breaks_older: false };

/// The append-only triggers, put back at every open (a hand on the file may have dropped
/// them; `verify` still finds what was changed meanwhile).
const APPEND_ONLY: &str = "
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

const V1: &str = "
CREATE TABLE IF NOT EXISTS audit (
    instance   TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    event      TEXT    NOT NULL,
    message_id TEXT,
    code       TEXT,
    cpi        TEXT,
    detail     TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    PRIMARY KEY (instance, seq)
);
CREATE INDEX IF NOT EXISTS audit_message ON audit (message_id);
CREATE INDEX IF NOT EXISTS audit_code ON audit (code);
CREATE INDEX IF NOT EXISTS audit_cpi ON audit (cpi, at_ms);
CREATE TABLE IF NOT EXISTS audit_heads (
    instance TEXT PRIMARY KEY,
    seq      INTEGER NOT NULL,
    hash     TEXT    NOT NULL
);
";

/// A SQLite audit file. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct SqliteAudit {
    conn: Shared,
}

impl SqliteAudit {
    pub(crate) async fn open(path: &Path) -> Result<Self, AuditError> {
        let path = path.to_path_buf();
        let conn = blocking(move || -> Result<Connection, AuditError> {
            // Its indexes take random keys (hashes, ids): a page cache that holds them
            // saves a read per insert (profiled on an unchanged re-ingest). Bounded: 32 MiB.
            let mut conn = silgate_store::sqlite::open(&path, Durability::Full, 32)?;
            silgate_store::migrate::sqlite(&mut conn, &SCHEMA)?;
            Ok(conn)
        })
        .await?;
        Ok(Self { conn: Shared::new(conn) })
    }

    async fn with<T: Send + 'static>(&self, f: impl FnOnce(&mut Connection) -> Result<T, AuditError> + Send + 'static) -> Result<T, AuditError> {
        self.conn.with(f).await
    }

    pub(crate) async fn append(&self, instance: &str, entries: Vec<NewEntry>) -> Result<Vec<Entry>, AuditError> {
        let instance = instance.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let head: Option<(i64, String)> = tx.query_row("SELECT seq, hash FROM audit_heads WHERE instance = ?1", [&instance], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            let (mut seq, mut prev) = head.unwrap_or((0, GENESIS.to_string()));
            let mut out = Vec::with_capacity(entries.len());
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO audit (instance, seq, at_ms, event, message_id, code, cpi, detail, prev_hash, hash, fields) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?;
                for e in entries {
                    seq += 1;
                    let entry = Entry::chain(&instance, seq, &prev, e);
                    ins.execute(params![
                        entry.instance,
                        entry.seq,
                        entry.at_ms,
                        entry.event,
                        entry.message_id,
                        entry.code,
                        entry.cpi,
                        entry.detail,
                        entry.prev_hash,
                        entry.hash,
                        entry.fields
                    ])?;
                    prev.clone_from(&entry.hash);
                    out.push(entry);
                }
            }
            tx.execute(
                "INSERT INTO audit_heads (instance, seq, hash) VALUES (?1, ?2, ?3) ON CONFLICT (instance) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                params![instance, seq, prev],
            )?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    pub(crate) async fn query(&self, q: &Query) -> Result<Vec<Entry>, AuditError> {
        let q = q.clone();
        self.with(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT instance, seq, at_ms, event, message_id, code, cpi, detail, prev_hash, hash, fields FROM audit
                 WHERE (?1 IS NULL OR message_id = ?1 OR code = ?1)
                   AND (?2 IS NULL OR cpi = ?2)
                   AND (?3 IS NULL OR at_ms >= ?3)
                 ORDER BY at_ms, instance, seq LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![q.record, q.cpi, q.since_ms, q.limit.unwrap_or(-1)], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub(crate) async fn lacking(&self, event: &'static str, ids: Vec<String>) -> Result<Vec<String>, AuditError> {
        self.with(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT 1 FROM audit WHERE message_id = ?1 AND event = ?2 LIMIT 1")?;
            let mut out = Vec::new();
            for id in ids {
                if stmt.query_row(params![id, event], |_| Ok(())).optional()?.is_none() {
                    out.push(id);
                }
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn gaps(&self, examples: usize) -> Result<(u64, Vec<Gap>), AuditError> {
        self.with(move |conn| {
            let mut stmt = conn.prepare(crate::entry::GAPS)?;
            let mut n = 0u64;
            let mut out = Vec::new();
            for g in stmt.query_map([], |r| Ok(Gap { message_id: r.get(0)?, code: r.get(1)?, received: r.get(2)?, queued: r.get(3)? }))? {
                let g = g?;
                n += 1;
                if out.len() < examples {
                    out.push(g);
                }
            }
            Ok((n, out))
        })
        .await
    }

    pub(crate) async fn last(&self, instance: &str) -> Result<Option<Entry>, AuditError> {
        let instance = instance.to_string();
        self.with(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT a.instance, a.seq, a.at_ms, a.event, a.message_id, a.code, a.cpi, a.detail, a.prev_hash, a.hash, a.fields
                 FROM audit a JOIN audit_heads h ON h.instance = a.instance AND h.seq = a.seq WHERE a.instance = ?1",
            )?;
            Ok(stmt.query_row([&instance], row).optional()?)
        })
        .await
    }

    pub(crate) async fn heads(&self) -> Result<Vec<(String, i64, String)>, AuditError> {
        self.with(|conn| {
            let mut stmt = conn.prepare("SELECT instance, seq, hash FROM audit_heads WHERE seq > 0 ORDER BY instance")?;
            Ok(stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub(crate) async fn hashes_at(&self, at: Vec<(String, i64)>) -> Result<Vec<Option<String>>, AuditError> {
        self.with(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT hash FROM audit WHERE instance = ?1 AND seq = ?2")?;
            at.iter().map(|(i, seq)| Ok(stmt.query_row(rusqlite::params![i, seq], |r| r.get(0)).optional()?)).collect()
        })
        .await
    }

    pub(crate) async fn verify(&self) -> Result<VerifyReport, AuditError> {
        self.with(|conn| {
            let heads = {
                let mut stmt = conn.prepare("SELECT instance, seq, hash FROM audit_heads ORDER BY instance")?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<Vec<_>, _>>()?
            };
            let mut walker = Walker::new(heads);
            let mut stmt = conn.prepare("SELECT instance, seq, at_ms, event, message_id, code, cpi, detail, prev_hash, hash, fields FROM audit ORDER BY instance, seq")?;
            for e in stmt.query_map([], row)? {
                walker.push(e?);
            }
            Ok(walker.finish())
        })
        .await
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        instance: r.get(0)?,
        seq: r.get(1)?,
        at_ms: r.get(2)?,
        event: r.get(3)?,
        message_id: r.get(4)?,
        code: r.get(5)?,
        cpi: r.get(6)?,
        detail: r.get(7)?,
        prev_hash: r.get(8)?,
        hash: r.get(9)?,
        fields: r.get(10)?,
    })
}
