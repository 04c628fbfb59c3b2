//! The dedup index on PostgreSQL: the same tables and answers as the SQLite one, shared
//! by several gateway instances (scale-out). The eGov counter row is locked by the
//! `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` of each allocation, so two
//! instances never hand out the same progressive.

use crate::{Admission, DedupError, Identity};
use silgate_store::migrate::{Migration, Schema};
use silgate_store::now_ms;
use silgate_store::pg::PgConn;
use std::sync::Arc;

pub(crate) const SCHEMA: Schema = Schema {
    store: "dedup",
    migrations: &[
        Migration { version: 1, name: "dedup_messages, dedup_latest, dedup_egov_counter, dedup_sent_codes, dedup_seen_inputs", sql: V1, breaks_older: false },
        Migration { version: 2, name: "queued_order: versions of a record in order", sql: V2, breaks_older: true },
        Migration { version: 3, name: "dedup_issued_codes: each code's CPI", sql: V3, breaks_older: false },
        Migration { version: 4, name: "dedup_keying: keyed hashes, rows of plain ones adopted", sql: V4, breaks_older: true },
        // Only adds: an older build writes no source time, and its versions go in ingest order.
        Migration { version: 5, name: "source_ms: versions in the source's own order", sql: V5, breaks_older: false },
    ],
    every_open: "",
};

/// See the SQLite index's version 2; the order comes from a sequence, shared by every
/// instance.
const V2: &str = "
ALTER TABLE dedup_messages ADD COLUMN IF NOT EXISTS queued_order BIGINT;
CREATE SEQUENCE IF NOT EXISTS dedup_queued_order;
CREATE INDEX IF NOT EXISTS dedup_messages_key_state ON dedup_messages (key_hash, state);
";

const V1: &str = "
CREATE TABLE IF NOT EXISTS dedup_messages (
    message_id   TEXT PRIMARY KEY,
    key_hash     TEXT   NOT NULL,
    content_hash TEXT   NOT NULL,
    state        TEXT   NOT NULL,
    egov_id      TEXT UNIQUE,
    receipt      TEXT,
    updated_ms   BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS dedup_latest (
    key_hash     TEXT PRIMARY KEY,
    content_hash TEXT   NOT NULL,
    message_id   TEXT   NOT NULL,
    delivered_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS dedup_egov_counter (sender TEXT PRIMARY KEY, n BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_sent_codes (key_hash TEXT PRIMARY KEY, code TEXT NOT NULL, updated_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_seen_inputs (key TEXT PRIMARY KEY, at_ms BIGINT NOT NULL);
";

/// See the SQLite index's version 3.
const V3: &str = "
CREATE TABLE IF NOT EXISTS dedup_issued_codes (code TEXT PRIMARY KEY, cpi TEXT NOT NULL, region TEXT NOT NULL, at_ms BIGINT NOT NULL);
";

/// See the SQLite index's version 4.
const V4: &str = "
CREATE TABLE IF NOT EXISTS dedup_keying (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO dedup_keying (name, value) SELECT 'legacy', '1'
    WHERE EXISTS (SELECT 1 FROM dedup_messages) OR EXISTS (SELECT 1 FROM dedup_latest) OR EXISTS (SELECT 1 FROM dedup_sent_codes) OR EXISTS (SELECT 1 FROM dedup_seen_inputs)
    ON CONFLICT (name) DO NOTHING;
";

/// When the source last changed each version (its `modified_ms`), where it said.
const V5: &str = "ALTER TABLE dedup_messages ADD COLUMN IF NOT EXISTS source_ms BIGINT;";

/// For each (key, source time) of the arrays, in their order: whether a version of the
/// key, queued or delivered, was changed later in its source.
const SUPERSEDED_PG: &str = "SELECT EXISTS (SELECT 1 FROM dedup_messages m WHERE m.key_hash = a.k AND m.state IN ('queued', 'refusing', 'delivered') AND m.source_ms > a.ms)
     FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS a(k, ms, o) ORDER BY a.o";

fn pg(e: tokio_postgres::Error) -> DedupError {
    DedupError::Store(e.into())
}

/// The PostgreSQL dedup index. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct PgDedup {
    conn: Arc<PgConn>,
    /// Rows of builds that hashed plain are here (learnt at [`PgDedup::bind`]).
    legacy: Arc<std::sync::atomic::AtomicBool>,
}

impl PgDedup {
    pub(crate) async fn connect(conninfo: &str, tls: &silgate_store::pg::PgTls) -> Result<Self, DedupError> {
        let conn = PgConn::connect(conninfo, tls, "dedup").await.map_err(pg)?;
        // Under the migration runner's advisory lock: concurrent first starts migrate once.
        silgate_store::migrate::postgres(&mut *conn.get().await.map_err(pg)?, &SCHEMA).await?;
        Ok(Self { conn: Arc::new(conn), legacy: Arc::default() })
    }

    pub(crate) async fn bind(&self, ours: String) -> Result<(), DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        // The first instance to bind a new index sets its fingerprint; every other
        // instance finds it.
        c.execute("INSERT INTO dedup_keying (name, value) VALUES ('fingerprint', $1) ON CONFLICT (name) DO NOTHING", &[&ours]).await.map_err(pg)?;
        let index: String = c.query_one("SELECT value FROM dedup_keying WHERE name = 'fingerprint'", &[]).await.map_err(pg)?.get(0);
        if index != ours {
            return Err(DedupError::OtherSecret { index, ours });
        }
        let legacy: bool = c.query_one("SELECT EXISTS (SELECT 1 FROM dedup_keying WHERE name = 'legacy')", &[]).await.map_err(pg)?.get(0);
        self.legacy.store(legacy, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn holds_legacy(&self) -> bool {
        self.legacy.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// See the SQLite index; here each statement runs once for the batch, over arrays
    /// (one round trip each, whatever the batch's size), and a moved row is taken with
    /// `DELETE ... RETURNING`, so a row another instance writes meanwhile is not lost.
    pub(crate) async fn adopt(&self, records: Vec<crate::Adoption>) -> Result<Vec<Option<String>>, DedupError> {
        let col = |f: fn(&crate::Adoption) -> &str| records.iter().map(|a| f(a).to_string()).collect::<Vec<String>>();
        let (ok, nk) = (col(|a| &a.plain.key_hash), col(|a| &a.keyed.key_hash));
        let (oc, nc, cpi) = (col(|a| &a.plain.content_hash), col(|a| &a.keyed.content_hash), col(|a| &a.cpi));
        let (om, nm) = (col(|a| &a.plain.message_id), col(|a| &a.keyed.message_id));
        let mut c = self.conn.get().await.map_err(pg)?;
        let tx = c.transaction().await.map_err(pg)?;
        tx.execute(
            "WITH r AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS r(ok, nk, oc, nc)),
                  moved AS (DELETE FROM dedup_latest l USING r WHERE l.key_hash = r.ok AND l.content_hash = r.oc RETURNING r.nk, r.nc, l.message_id, l.delivered_ms)
             INSERT INTO dedup_latest (key_hash, content_hash, message_id, delivered_ms) SELECT DISTINCT ON (nk) nk, nc, message_id, delivered_ms FROM moved ORDER BY nk, delivered_ms DESC
             ON CONFLICT (key_hash) DO UPDATE SET content_hash = EXCLUDED.content_hash, message_id = EXCLUDED.message_id, delivered_ms = EXCLUDED.delivered_ms
             WHERE EXCLUDED.delivered_ms > dedup_latest.delivered_ms",
            &[&ok, &nk, &oc, &nc],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "UPDATE dedup_latest l SET content_hash = r.nc FROM unnest($1::text[], $2::text[], $3::text[]) AS r(nk, oc, nc) WHERE l.key_hash = r.nk AND l.content_hash = r.oc",
            &[&nk, &oc, &nc],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "WITH r AS (SELECT DISTINCT * FROM unnest($1::text[], $2::text[], $3::text[]) AS r(ok, nk, cpi)),
                  moved AS (DELETE FROM dedup_sent_codes s USING r WHERE s.key_hash = r.ok
                            AND coalesce((SELECT i.cpi FROM dedup_issued_codes i WHERE i.code = s.code), r.cpi) = r.cpi
                            RETURNING r.nk, s.code, s.updated_ms)
             INSERT INTO dedup_sent_codes (key_hash, code, updated_ms) SELECT DISTINCT ON (nk) nk, code, updated_ms FROM moved ORDER BY nk, updated_ms DESC
             ON CONFLICT (key_hash) DO UPDATE SET code = EXCLUDED.code, updated_ms = EXCLUDED.updated_ms WHERE EXCLUDED.updated_ms > dedup_sent_codes.updated_ms",
            &[&ok, &nk, &cpi],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "UPDATE dedup_messages m SET key_hash = r.nk FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS r(ok, nk)) r WHERE m.key_hash = r.ok AND m.state = 'queued'",
            &[&ok, &nk],
        )
        .await
        .map_err(pg)?;
        let known: std::collections::HashSet<String> = tx
            .query(
                "SELECT message_id FROM dedup_messages WHERE message_id = ANY($1) AND state NOT IN ('refused', 'purged', 'erased', 'lost')",
                &[&[om.clone(), nm.clone()].concat()],
            )
            .await
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tx.commit().await.map_err(pg)?;
        Ok(om.into_iter().zip(nm).map(|(o, n)| (known.contains(&o) && !known.contains(&n)).then_some(o)).collect())
    }

    pub(crate) async fn remember_codes(&self, codes: Vec<crate::Issued>) -> Result<(), DedupError> {
        let mut c = self.conn.get().await.map_err(pg)?;
        let tx = c.transaction().await.map_err(pg)?;
        let up = tx
            .prepare("INSERT INTO dedup_sent_codes (key_hash, code, updated_ms) VALUES ($1, $2, $3) ON CONFLICT (key_hash) DO UPDATE SET code = EXCLUDED.code, updated_ms = EXCLUDED.updated_ms")
            .await
            .map_err(pg)?;
        let owner = tx.prepare("INSERT INTO dedup_issued_codes (code, cpi, region, at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING").await.map_err(pg)?;
        let now = now_ms();
        for i in &codes {
            if i.send {
                tx.execute(&up, &[&i.key_hash, &i.code, &now]).await.map_err(pg)?;
            }
            tx.execute(&owner, &[&i.code, &i.cpi, &i.code.get(..2).unwrap_or_default(), &now]).await.map_err(pg)?;
        }
        tx.commit().await.map_err(pg)
    }

    pub(crate) async fn code_owners(&self, codes: Vec<String>) -> Result<Vec<Option<String>>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        let q = c.prepare("SELECT cpi FROM dedup_issued_codes WHERE code = $1").await.map_err(pg)?;
        let mut out = Vec::with_capacity(codes.len());
        for code in &codes {
            out.push(c.query_opt(&q, &[code]).await.map_err(pg)?.map(|r| r.get::<_, String>(0)));
        }
        Ok(out)
    }

    pub(crate) async fn input_seen(&self, key: String) -> Result<bool, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        Ok(c.query_opt("SELECT 1 FROM dedup_seen_inputs WHERE key = $1", &[&key]).await.map_err(pg)?.is_some())
    }

    pub(crate) async fn mark_input(&self, key: String) -> Result<(), DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        c.execute("INSERT INTO dedup_seen_inputs (key, at_ms) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", &[&key, &now_ms()]).await.map_err(pg)?;
        Ok(())
    }

    pub(crate) async fn last_codes(&self, keys: Vec<String>) -> Result<Vec<Option<String>>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        let q = c.prepare("SELECT code FROM dedup_sent_codes WHERE key_hash = $1").await.map_err(pg)?;
        let mut out = Vec::with_capacity(keys.len());
        for k in &keys {
            out.push(c.query_opt(&q, &[k]).await.map_err(pg)?.map(|r| r.get(0)));
        }
        Ok(out)
    }

    pub(crate) async fn admit(&self, offers: Vec<Identity>) -> Result<Vec<Admission>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        let latest = c.prepare("SELECT content_hash FROM dedup_latest WHERE key_hash = $1").await.map_err(pg)?;
        // A refused version is not known: see the SQLite index.
        let known = c.prepare("SELECT 1 FROM dedup_messages WHERE message_id = $1 AND state NOT IN ('refused', 'purged', 'erased', 'lost')").await.map_err(pg)?;
        let mut out = Vec::with_capacity(offers.len());
        for o in &offers {
            let last: Option<String> = c.query_opt(&latest, &[&o.key_hash]).await.map_err(pg)?.map(|r| r.get(0));
            out.push(if last.as_deref() == Some(o.content_hash.as_str()) {
                Admission::Unchanged
            } else if c.query_opt(&known, &[&o.message_id]).await.map_err(pg)?.is_some() {
                Admission::Known
            } else {
                Admission::New
            });
        }
        Ok(out)
    }

    pub(crate) async fn mark_queued(&self, offers: Vec<(Identity, Option<i64>)>) -> Result<(), DedupError> {
        let mut c = self.conn.get().await.map_err(pg)?;
        let tx = c.transaction().await.map_err(pg)?;
        let ins = tx
            .prepare(
                "INSERT INTO dedup_messages (message_id, key_hash, content_hash, state, updated_ms, queued_order, source_ms)
                 VALUES ($1, $2, $3, 'queued', $4, nextval('dedup_queued_order'), $5)
                 ON CONFLICT (message_id) DO UPDATE SET state = 'queued', key_hash = EXCLUDED.key_hash, content_hash = EXCLUDED.content_hash, source_ms = coalesce(EXCLUDED.source_ms, dedup_messages.source_ms),
                 egov_id = CASE WHEN dedup_messages.state = 'lost' THEN dedup_messages.egov_id END, receipt = NULL, updated_ms = EXCLUDED.updated_ms,
                 queued_order = EXCLUDED.queued_order WHERE dedup_messages.state IN ('refused', 'purged', 'erased', 'lost')",
            )
            .await
            .map_err(pg)?;
        // One transaction at a time per record: its versions' places in the order are
        // then the order in which their transactions commit, whichever instance queues
        // them (a version seen by the publisher never has an earlier one committed after
        // it). Keys locked in sorted order, so two instances never wait on each other.
        let lock = tx.prepare("SELECT pg_advisory_xact_lock(hashtextextended($1, 7373))").await.map_err(pg)?;
        let mut keys: Vec<&str> = offers.iter().map(|(o, _)| o.key_hash.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            tx.execute(&lock, &[&k]).await.map_err(pg)?;
        }
        let now = now_ms();
        for (o, source_ms) in &offers {
            tx.execute(&ins, &[&o.message_id, &o.key_hash, &o.content_hash, &now, source_ms]).await.map_err(pg)?;
        }
        tx.commit().await.map_err(pg)
    }

    pub(crate) async fn superseded(&self, asks: Vec<(String, i64)>) -> Result<Vec<bool>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        let (keys, times): (Vec<String>, Vec<i64>) = asks.into_iter().unzip();
        // One round trip for the batch.
        let rows = c.query(SUPERSEDED_PG, &[&keys, &times]).await.map_err(pg)?;
        Ok(rows.iter().map(|r| r.get::<_, bool>(0)).collect())
    }

    pub(crate) async fn known(&self, ids: Vec<String>) -> Result<Vec<bool>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        let rows = c
            .query(
                "SELECT EXISTS (SELECT 1 FROM dedup_messages m WHERE m.message_id = a.id AND m.state NOT IN ('refusing', 'refused', 'purged', 'erased', 'lost'))
                 FROM unnest($1::text[]) WITH ORDINALITY AS a(id, o) ORDER BY a.o",
                &[&ids],
            )
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(|r| r.get::<_, bool>(0)).collect())
    }

    pub(crate) async fn order_now(&self) -> Result<i64, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        // The sequence's last value (no index on the column): a version taking a place
        // concurrently is as good as after it.
        let row = c.query_one("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM dedup_queued_order", &[]).await.map_err(pg)?;
        Ok(row.get::<_, i64>(0))
    }

    pub(crate) async fn orders_of(&self, ids: Vec<String>) -> Result<Vec<Option<i64>>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        let rows = c
            .query("SELECT m.queued_order FROM unnest($1::text[]) WITH ORDINALITY AS a(id, o) LEFT JOIN dedup_messages m ON m.message_id = a.id ORDER BY a.o", &[&ids])
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(|r| r.get::<_, Option<i64>>(0)).collect())
    }

    pub(crate) async fn queued_after(&self, asks: Vec<(String, i64)>) -> Result<Vec<bool>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        let (keys, orders): (Vec<String>, Vec<i64>) = asks.into_iter().unzip();
        let rows = c
            .query(
                "SELECT EXISTS (SELECT 1 FROM dedup_messages m WHERE m.key_hash = a.k AND m.state IN ('queued', 'delivered', 'dead') AND m.queued_order > a.n)
                 FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS a(k, n, o) ORDER BY a.o",
                &[&keys, &orders],
            )
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(|r| r.get::<_, bool>(0)).collect())
    }

    pub(crate) async fn delivered_many(&self, ids: Vec<String>) -> Result<Vec<Option<String>>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        let st = c.prepare("SELECT receipt FROM dedup_messages WHERE message_id = $1 AND state = 'delivered'").await.map_err(pg)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            out.push(c.query_opt(&st, &[id]).await.map_err(pg)?.map(|r| r.get::<_, Option<String>>(0).unwrap_or_default()));
        }
        Ok(out)
    }

    pub(crate) async fn egov_ids(&self, offers: Vec<Identity>, sender: &str, make: impl Fn(u64) -> Option<String> + Send + 'static) -> Result<Vec<String>, DedupError> {
        let mut c = self.conn.get().await.map_err(pg)?;
        let tx = c.transaction().await.map_err(pg)?;
        let get = tx.prepare("SELECT egov_id FROM dedup_messages WHERE message_id = $1").await.map_err(pg)?;
        let bump = tx
            .prepare("INSERT INTO dedup_egov_counter (sender, n) VALUES ($1, 1) ON CONFLICT (sender) DO UPDATE SET n = dedup_egov_counter.n + 1 RETURNING n")
            .await
            .map_err(pg)?;
        let put = tx
            .prepare(
                "INSERT INTO dedup_messages (message_id, key_hash, content_hash, state, egov_id, updated_ms) VALUES ($1, $2, $3, 'queued', $4, $5)
                 ON CONFLICT (message_id) DO UPDATE SET egov_id = COALESCE(dedup_messages.egov_id, excluded.egov_id), updated_ms = excluded.updated_ms
                 RETURNING egov_id",
            )
            .await
            .map_err(pg)?;
        let now = now_ms();
        let mut out = Vec::with_capacity(offers.len());
        for o in &offers {
            let existing: Option<Option<String>> = tx.query_opt(&get, &[&o.message_id]).await.map_err(pg)?.map(|r| r.get(0));
            if let Some(Some(id)) = existing {
                out.push(id);
                continue;
            }
            let n: i64 = tx.query_one(&bump, &[&sender]).await.map_err(pg)?.get(0);
            let id = make(u64::try_from(n).unwrap_or(0)).ok_or_else(|| DedupError::CounterExhausted(sender.to_string()))?;
            // Another instance may have allocated one meanwhile: keep the first.
            let kept: String = tx.query_one(&put, &[&o.message_id, &o.key_hash, &o.content_hash, &id, &now]).await.map_err(pg)?.get(0);
            out.push(kept);
        }
        tx.commit().await.map_err(pg)?;
        Ok(out)
    }

    pub(crate) async fn mark_delivered_many(&self, done: Vec<(Identity, String)>) -> Result<(), DedupError> {
        let mut c = self.conn.get().await.map_err(pg)?;
        let tx = c.transaction().await.map_err(pg)?;
        let upd = tx.prepare("UPDATE dedup_messages SET state = 'delivered', receipt = $2, updated_ms = $3 WHERE message_id = $1 AND state <> 'erased'").await.map_err(pg)?;
        let latest = tx
            .prepare(
                "INSERT INTO dedup_latest (key_hash, content_hash, message_id, delivered_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key_hash) DO UPDATE SET content_hash = excluded.content_hash, message_id = excluded.message_id, delivered_ms = excluded.delivered_ms",
            )
            .await
            .map_err(pg)?;
        let now = now_ms();
        for (o, receipt) in &done {
            // A version erased meanwhile stays erased, its key without a latest.
            if tx.execute(&upd, &[&o.message_id, receipt, &now]).await.map_err(pg)? > 0 {
                tx.execute(&latest, &[&o.key_hash, &o.content_hash, &o.message_id, &now]).await.map_err(pg)?;
            }
        }
        tx.commit().await.map_err(pg)
    }

    pub(crate) async fn mark_refused(&self, message_id: &str) -> Result<(), DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        c.execute("UPDATE dedup_messages SET state = 'refused', updated_ms = $2 WHERE message_id = $1 AND state <> 'erased'", &[&message_id, &now_ms()]).await.map_err(pg)?;
        Ok(())
    }

    pub(crate) async fn waiting_behind(&self, ids: Vec<String>) -> Result<Vec<Option<bool>>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        let q = c
            .prepare(
                "SELECT EXISTS (SELECT 1 FROM dedup_messages m WHERE m.key_hash = me.key_hash AND m.state = 'queued'
                 AND m.message_id <> me.message_id AND m.queued_order < me.queued_order)
                 FROM dedup_messages me WHERE me.message_id = $1 AND me.queued_order IS NOT NULL",
            )
            .await
            .map_err(pg)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            out.push(c.query_opt(&q, &[id]).await.map_err(pg)?.map(|r| r.get::<_, bool>(0)));
        }
        Ok(out)
    }

    /// Moves a version that is not delivered to `state` (`dead`, `refusing`).
    pub(crate) async fn set_state(&self, message_id: &str, state: &'static str) -> Result<(), DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        c.execute("UPDATE dedup_messages SET state = $2, updated_ms = $3 WHERE message_id = $1 AND state NOT IN ('delivered', 'erased')", &[&message_id, &state, &now_ms()])
            .await
            .map_err(pg)?;
        Ok(())
    }

    pub(crate) async fn mark_purged(&self, ids: Vec<String>) -> Result<(), DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        c.execute("UPDATE dedup_messages SET state = 'purged', updated_ms = $2 WHERE message_id = ANY($1) AND state = 'dead'", &[&ids, &now_ms()]).await.map_err(pg)?;
        Ok(())
    }

    pub(crate) async fn fates(&self, ids: Vec<String>) -> Result<Vec<crate::Fate>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        let rows = c.query("SELECT message_id, state FROM dedup_messages WHERE message_id = ANY($1)", &[&ids]).await.map_err(pg)?;
        let states: std::collections::HashMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(ids.iter().map(|id| crate::Fate::of(states.get(id).map(String::as_str))).collect())
    }

    pub(crate) async fn erase(&self, keys: Vec<String>) -> Result<Vec<String>, DedupError> {
        let keys: Vec<String> = keys.into_iter().filter(|k| !k.is_empty()).collect();
        let mut c = self.conn.get().await.map_err(pg)?;
        let tx = c.transaction().await.map_err(pg)?;
        let rows = tx
            .query(
                "UPDATE dedup_messages SET state = 'erased', key_hash = '', content_hash = '', egov_id = NULL, receipt = NULL, queued_order = NULL, source_ms = NULL, updated_ms = $2
                 WHERE key_hash = ANY($1) RETURNING message_id",
                &[&keys, &now_ms()],
            )
            .await
            .map_err(pg)?;
        tx.execute("DELETE FROM dedup_latest WHERE key_hash = ANY($1)", &[&keys]).await.map_err(pg)?;
        tx.execute("DELETE FROM dedup_sent_codes WHERE key_hash = ANY($1)", &[&keys]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub(crate) async fn versions_of(&self, keys: Vec<String>) -> Result<Vec<String>, DedupError> {
        let keys: Vec<String> = keys.into_iter().filter(|k| !k.is_empty()).collect();
        let c = self.conn.get().await.map_err(pg)?;
        let rows = c.query("SELECT message_id FROM dedup_messages WHERE key_hash = ANY($1)", &[&keys]).await.map_err(pg)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub(crate) async fn cpis(&self) -> Result<Vec<String>, DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        Ok(c.query("SELECT DISTINCT cpi FROM dedup_issued_codes", &[]).await.map_err(pg)?.iter().map(|r| r.get(0)).collect())
    }

    pub(crate) async fn reopen(&self, ids: Vec<String>) -> Result<(), DedupError> {
        let c = self.conn.get().await.map_err(pg)?;
        for id in &ids {
            c.execute("UPDATE dedup_messages SET state = 'queued' WHERE message_id = $1 AND state NOT IN ('delivered', 'purged', 'erased')", &[id]).await.map_err(pg)?;
        }
        Ok(())
    }
}
