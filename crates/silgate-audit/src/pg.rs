//! The PostgreSQL audit store (shared deployments).

use crate::AuditError;
use crate::entry::{Entry, GENESIS, Gap, NewEntry, Query, VerifyReport, Walker};
use silgate_store::migrate::{Migration, Schema};
use silgate_store::pg::PgConn;
use std::sync::Arc;

const SCHEMA: Schema =
    Schema { store: "audit", migrations: &[Migration { version: 1, name: "audit, audit_heads", sql: V1, breaks_older: false }, V2, V3], every_open: APPEND_ONLY };

/// The typed fields of an event, in its hash. A build that does not know them would
/// find every new entry "edited": it must not read this store.
const V2: Migration = Migration { version: 2, name: "audit.fields", sql: "ALTER TABLE audit ADD COLUMN IF NOT EXISTS fields TEXT", breaks_older: true };
/// What a record's story is looked up by (completeness, recovery): additive.
const V3: Migration =
    Migration { version: 3, name: "audit (message_id, event) index", sql: "CREATE INDEX IF NOT EXISTS audit_message_event ON audit (message_id, event)", breaks_older: false };

/// The append-only trigger, put back at every open (a hand on the database may have
/// dropped it; `verify` still finds what was changed meanwhile).
const APPEND_ONLY: &str = "
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_append_only' AND tgrelid = 'audit'::regclass) THEN
        CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
            FOR EACH ROW EXECUTE FUNCTION audit_append_only();
    END IF;
END $$;
";

const V1: &str = "
CREATE TABLE IF NOT EXISTS audit (
    instance   TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    at_ms      BIGINT NOT NULL,
    event      TEXT   NOT NULL,
    message_id TEXT,
    code       TEXT,
    cpi        TEXT,
    detail     TEXT   NOT NULL,
    prev_hash  TEXT   NOT NULL,
    hash       TEXT   NOT NULL,
    PRIMARY KEY (instance, seq)
);
CREATE INDEX IF NOT EXISTS audit_message ON audit (message_id);
CREATE INDEX IF NOT EXISTS audit_code ON audit (code);
CREATE INDEX IF NOT EXISTS audit_cpi ON audit (cpi, at_ms);
CREATE TABLE IF NOT EXISTS audit_heads (
    instance TEXT PRIMARY KEY,
    seq      BIGINT NOT NULL,
    hash     TEXT   NOT NULL
);
";

/// A PostgreSQL audit database. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct PgAudit {
    conn: Arc<PgConn>,
}

impl PgAudit {
    pub(crate) async fn connect(conninfo: &str, tls: &silgate_store::pg::PgTls) -> Result<Self, AuditError> {
        let conn = PgConn::connect(conninfo, tls, "audit").await?;
        // Under the migration runner's advisory lock: concurrent first starts migrate once.
        silgate_store::migrate::postgres(&mut *conn.get().await?, &SCHEMA).await?;
        Ok(Self { conn: Arc::new(conn) })
    }

    pub(crate) async fn append(&self, instance: &str, entries: Vec<NewEntry>) -> Result<Vec<Entry>, AuditError> {
        let mut client = self.conn.get().await?;
        let tx = client.transaction().await?;
        tx.execute("INSERT INTO audit_heads (instance, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (instance) DO NOTHING", &[&instance, &GENESIS]).await?;
        let head = tx.query_one("SELECT seq, hash FROM audit_heads WHERE instance = $1 FOR UPDATE", &[&instance]).await?;
        let (mut seq, mut prev): (i64, String) = (head.get(0), head.get(1));
        let ins = tx
            .prepare(
                "INSERT INTO audit (instance, seq, at_ms, event, message_id, code, cpi, detail, prev_hash, hash, fields) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .await?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            seq += 1;
            let entry = Entry::chain(instance, seq, &prev, e);
            tx.execute(
                &ins,
                &[&entry.instance, &entry.seq, &entry.at_ms, &entry.event, &entry.message_id, &entry.code, &entry.cpi, &entry.detail, &entry.prev_hash, &entry.hash, &entry.fields],
            )
            .await?;
            prev.clone_from(&entry.hash);
            out.push(entry);
        }
        tx.execute("UPDATE audit_heads SET seq = $2, hash = $3 WHERE instance = $1", &[&instance, &seq, &prev]).await?;
        tx.commit().await?;
        Ok(out)
    }

    pub(crate) async fn query(&self, q: &Query) -> Result<Vec<Entry>, AuditError> {
        let client = self.conn.get().await?;
        let rows = client
            .query(
                "SELECT instance, seq, at_ms, event, message_id, code, cpi, detail, prev_hash, hash, fields FROM audit
                 WHERE ($1::TEXT IS NULL OR message_id = $1 OR code = $1)
                   AND ($2::TEXT IS NULL OR cpi = $2)
                   AND ($3::BIGINT IS NULL OR at_ms >= $3)
                 ORDER BY at_ms, instance, seq LIMIT $4",
                &[&q.record, &q.cpi, &q.since_ms, &q.limit],
            )
            .await?;
        Ok(rows.iter().map(row).collect())
    }

    pub(crate) async fn lacking(&self, event: &'static str, ids: Vec<String>) -> Result<Vec<String>, AuditError> {
        let client = self.conn.get().await?;
        let rows = client.query("SELECT DISTINCT message_id FROM audit WHERE event = $1 AND message_id = ANY($2)", &[&event, &ids]).await?;
        let found: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(ids.into_iter().filter(|id| !found.contains(id)).collect())
    }

    pub(crate) async fn gaps(&self, examples: usize) -> Result<(u64, Vec<Gap>), AuditError> {
        let client = self.conn.get().await?;
        let rows = client.query(crate::entry::GAPS, &[]).await?;
        let n = rows.len() as u64;
        Ok((n, rows.iter().take(examples).map(|r| Gap { message_id: r.get(0), code: r.get(1), received: r.get(2), queued: r.get(3) }).collect()))
    }

    pub(crate) async fn last(&self, instance: &str) -> Result<Option<Entry>, AuditError> {
        let client = self.conn.get().await?;
        let r = client
            .query_opt(
                "SELECT a.instance, a.seq, a.at_ms, a.event, a.message_id, a.code, a.cpi, a.detail, a.prev_hash, a.hash, a.fields
                 FROM audit a JOIN audit_heads h ON h.instance = a.instance AND h.seq = a.seq WHERE a.instance = $1",
                &[&instance],
            )
            .await?;
        Ok(r.as_ref().map(row))
    }

    pub(crate) async fn heads(&self) -> Result<Vec<(String, i64, String)>, AuditError> {
        let client = self.conn.get().await?;
        let rows = client.query("SELECT instance, seq, hash FROM audit_heads WHERE seq > 0 ORDER BY instance", &[]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    pub(crate) async fn hashes_at(&self, at: Vec<(String, i64)>) -> Result<Vec<Option<String>>, AuditError> {
        let client = self.conn.get().await?;
        let stmt = client.prepare("SELECT hash FROM audit WHERE instance = $1 AND seq = $2").await?;
        let mut out = Vec::with_capacity(at.len());
        for (i, seq) in &at {
            out.push(client.query_opt(&stmt, &[i, seq]).await?.map(|r| r.get(0)));
        }
        Ok(out)
    }

    pub(crate) async fn verify(&self) -> Result<VerifyReport, AuditError> {
        use futures_util::TryStreamExt as _;
        let client = self.conn.get().await?;
        let heads = client.query("SELECT instance, seq, hash FROM audit_heads ORDER BY instance", &[]).await?.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
        let mut walker = Walker::new(heads);
        let no_params: [&str; 0] = [];
        let stream =
            client.query_raw("SELECT instance, seq, at_ms, event, message_id, code, cpi, detail, prev_hash, hash, fields FROM audit ORDER BY instance, seq", no_params).await?;
        let mut stream = std::pin::pin!(stream);
        while let Some(r) = stream.try_next().await? {
            walker.push(row(&r));
        }
        Ok(walker.finish())
    }
}

fn row(r: &tokio_postgres::Row) -> Entry {
    Entry {
        instance: r.get(0),
        seq: r.get(1),
        at_ms: r.get(2),
        event: r.get(3),
        message_id: r.get(4),
        code: r.get(5),
        cpi: r.get(6),
        detail: r.get(7),
        prev_hash: r.get(8),
        hash: r.get(9),
        fields: r.get(10),
    }
}
