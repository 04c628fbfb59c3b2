//! The PostgreSQL document store (`postgres = "host=... dbname=..."` in the node's
//! config): the same tables and answers as the SQLite store, for a node shared by
//! several processes or kept beside the gateways' PostgreSQL.

use crate::NodeError;
use crate::store::{MinuteRow, Seen, Stored, Totals, receipt_id};
use silgate_store::migrate::{Migration, Schema};
use silgate_store::pg::PgConn;
use std::sync::Arc;

const SCHEMA: Schema =
    Schema { store: "node", migrations: &[Migration { version: 1, name: "node_documents, node_minutes, node_reasons", sql: V1, breaks_older: false }], every_open: "" };

const V1: &str = "
CREATE TABLE IF NOT EXISTS node_documents (
    seq         BIGSERIAL PRIMARY KEY,
    egov_id     TEXT    NOT NULL UNIQUE,
    receipt     TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    cpi         TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    ok          BOOLEAN NOT NULL,
    reason      TEXT    NOT NULL,
    received_ms BIGINT  NOT NULL,
    document    TEXT,
    response    TEXT    NOT NULL
);
ALTER TABLE node_documents ADD COLUMN IF NOT EXISTS digest TEXT;
CREATE INDEX IF NOT EXISTS node_documents_code ON node_documents (code);
CREATE TABLE IF NOT EXISTS node_minutes (
    minute  BIGINT NOT NULL,
    region  TEXT   NOT NULL,
    cpi     TEXT   NOT NULL,
    kind    TEXT   NOT NULL,
    outcome TEXT   NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (minute, region, cpi, kind, outcome)
);
CREATE TABLE IF NOT EXISTS node_reasons (reason TEXT PRIMARY KEY, n BIGINT NOT NULL);
";

const BUMP: &str = "INSERT INTO node_minutes (minute, region, cpi, kind, outcome, n) VALUES ($1, $2, $3, $4, $5, 1)
    ON CONFLICT (minute, region, cpi, kind, outcome) DO UPDATE SET n = node_minutes.n + 1";

fn pg(e: tokio_postgres::Error) -> NodeError {
    NodeError::Io(format!("PostgreSQL: {e}"))
}

/// The PostgreSQL store. Cloning shares the connection.
#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    client: Arc<PgConn>,
}

impl PgStore {
    pub(crate) async fn connect(conninfo: &str, tls: &silgate_store::pg::PgTls) -> Result<Self, NodeError> {
        // A connection that comes back after the server restarts; migrated under the
        // runner's advisory lock (concurrent first starts migrate once).
        let conn = PgConn::connect(conninfo, tls, "node").await.map_err(pg)?;
        silgate_store::migrate::postgres(&mut *conn.get().await.map_err(pg)?, &SCHEMA).await.map_err(|e| NodeError::Io(e.to_string()))?;
        Ok(Self { client: Arc::new(conn) })
    }

    pub(crate) async fn forget_documents(&self, before_ms: i64) -> Result<usize, NodeError> {
        let c = self.client.get().await.map_err(pg)?;
        let n = c.execute("UPDATE node_documents SET document = NULL WHERE document IS NOT NULL AND received_ms < $1", &[&before_ms]).await.map_err(pg)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(crate) async fn repeat(&self, egov_id: &str, digest: &str, minute: i64) -> Result<(Seen, String), NodeError> {
        let c = self.client.get().await.map_err(pg)?;
        let Some(row) = c.query_opt("SELECT response, region, cpi, kind, digest FROM node_documents WHERE egov_id = $1", &[&egov_id]).await.map_err(pg)? else {
            return Ok((Seen::New, String::new()));
        };
        let (resp, region, cpi, kind, stored): (String, String, String, String, Option<String>) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        if stored.as_deref().is_some_and(|d| d != digest) {
            return Ok((Seen::Conflict, region));
        }
        c.execute(BUMP, &[&minute, &region, &cpi, &kind, &"duplicate"]).await.map_err(pg)?;
        Ok((Seen::Same(resp), region))
    }

    pub(crate) async fn insert(&self, s: Stored, respond: impl FnOnce(&str) -> String + Send + 'static) -> Result<(String, Seen), NodeError> {
        let mut c = self.client.get().await.map_err(pg)?;
        let tx = c.transaction().await.map_err(pg)?;
        let minute = s.received_ms / 60_000;
        // Serialise inserts of one id: the loser of a race sees the winner's answer.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&s.egov_id]).await.map_err(pg)?;
        if let Some(row) = tx.query_opt("SELECT response, digest FROM node_documents WHERE egov_id = $1", &[&s.egov_id]).await.map_err(pg)? {
            let (resp, stored): (String, Option<String>) = (row.get(0), row.get(1));
            if stored.as_deref().is_some_and(|d| d != s.digest) {
                return Ok((String::new(), Seen::Conflict));
            }
            tx.execute(BUMP, &[&minute, &s.region, &s.cpi, &s.kind, &"duplicate"]).await.map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            return Ok((resp.clone(), Seen::Same(resp)));
        }
        let seq: i64 = tx.query_one("SELECT nextval(pg_get_serial_sequence('node_documents', 'seq'))", &[]).await.map_err(pg)?.get(0);
        let receipt = receipt_id(seq, s.received_ms);
        let response = respond(&receipt);
        tx.execute(
            "INSERT INTO node_documents (seq, egov_id, receipt, sender, region, cpi, kind, code, ok, reason, received_ms, document, response, digest)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &[&seq, &s.egov_id, &receipt, &s.sender, &s.region, &s.cpi, &s.kind, &s.code, &s.ok, &s.reason, &s.received_ms, &s.document, &response, &s.digest],
        )
        .await
        .map_err(pg)?;
        let outcome = if s.ok { "accepted" } else { "rejected" };
        tx.execute(BUMP, &[&minute, &s.region, &s.cpi, &s.kind, &outcome]).await.map_err(pg)?;
        if !s.ok {
            for r in s.reason.split(' ').filter(|r| !r.is_empty()) {
                tx.execute("INSERT INTO node_reasons (reason, n) VALUES ($1, 1) ON CONFLICT (reason) DO UPDATE SET n = node_reasons.n + 1", &[&r]).await.map_err(pg)?;
            }
        }
        tx.commit().await.map_err(pg)?;
        Ok((response, Seen::New))
    }

    pub(crate) async fn minutes(&self, since_minute: i64) -> Result<Vec<MinuteRow>, NodeError> {
        let c = self.client.get().await.map_err(pg)?;
        let rows = c
            .query("SELECT minute, region, cpi, kind, outcome, n FROM node_minutes WHERE minute >= $1 ORDER BY minute, region, cpi, kind, outcome", &[&since_minute])
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(|r| MinuteRow { minute: r.get(0), region: r.get(1), cpi: r.get(2), kind: r.get(3), outcome: r.get(4), n: r.get(5) }).collect())
    }

    pub(crate) async fn totals(&self) -> Result<Totals, NodeError> {
        let c = self.client.get().await.map_err(pg)?;
        let t = c
            .query_one(
                "SELECT coalesce(sum(CASE WHEN ok THEN 1 ELSE 0 END), 0)::BIGINT, coalesce(sum(CASE WHEN ok THEN 0 ELSE 1 END), 0)::BIGINT,
                        (SELECT count(DISTINCT code) FROM node_documents WHERE ok)::BIGINT FROM node_documents",
                &[],
            )
            .await
            .map_err(pg)?;
        let dup: i64 = c.query_one("SELECT coalesce(sum(n), 0)::BIGINT FROM node_minutes WHERE outcome = 'duplicate'", &[]).await.map_err(pg)?.get(0);
        let reasons = c.query("SELECT reason, n FROM node_reasons ORDER BY n DESC, reason", &[]).await.map_err(pg)?.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok((t.get(0), t.get(1), t.get(2), dup, reasons))
    }
}
