//! The SQLite dedup index (embedded default).

use crate::{Admission, DedupError, Identity};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use silgate_store::now_ms;
use silgate_store::sqlite::{Durability, Shared};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The SQLite dedup index. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct SqliteDedup {
    conn: Shared,
    /// Rows of builds that hashed plain are here (learnt at [`SqliteDedup::bind`]).
    legacy: Arc<AtomicBool>,
}

impl SqliteDedup {
    /// Opens (creating if needed) the index file and brings its tables up to date.
    pub(crate) async fn open(path: &Path) -> Result<Self, DedupError> {
        let path = path.to_path_buf();
        let conn = silgate_store::sqlite::blocking(move || -> Result<Connection, DedupError> {
            // Its indexes take random keys (hashes, ids): a page cache that holds them
            // saves a read per insert (profiled on an unchanged re-ingest). Bounded: 32 MiB.
            let mut c = silgate_store::sqlite::open(&path, Durability::Full, 32)?;
            silgate_store::migrate::sqlite(&mut c, &crate::SQLITE_SCHEMA)?;
            Ok(c)
        })
        .await?;
        Ok(Self { conn: Shared::new(conn), legacy: Arc::new(AtomicBool::new(false)) })
    }

    pub(crate) async fn bind(&self, ours: String) -> Result<(), DedupError> {
        let legacy = self
            .with(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let kept: Option<String> = tx.query_row("SELECT value FROM keying WHERE name = 'fingerprint'", [], |r| r.get(0)).optional()?;
                match kept {
                    None => {
                        tx.execute("INSERT INTO keying (name, value) VALUES ('fingerprint', ?1)", [&ours])?;
                    }
                    Some(index) if index != ours => return Err(DedupError::OtherSecret { index, ours }),
                    Some(_) => {}
                }
                let legacy = tx.query_row("SELECT EXISTS (SELECT 1 FROM keying WHERE name = 'legacy')", [], |r| r.get::<_, bool>(0))?;
                tx.commit()?;
                Ok(legacy)
            })
            .await?;
        self.legacy.store(legacy, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn holds_legacy(&self) -> bool {
        self.legacy.load(Ordering::Relaxed)
    }

    pub(crate) async fn adopt(&self, records: Vec<crate::Adoption>) -> Result<Vec<Option<String>>, DedupError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut out = Vec::with_capacity(records.len());
            {
                // The content last delivered moves only when it is this version's: under
                // a plain key two CPIs' vacancies of one employer and local id were one
                // record, and the row may be the other CPI's. The newer row wins (an older
                // build's item still queued may deliver after its record was adopted).
                let mut latest = tx.prepare_cached(
                    "INSERT INTO latest (key_hash, content_hash, message_id, delivered_ms)
                     SELECT ?2, ?4, message_id, delivered_ms FROM latest WHERE key_hash = ?1 AND content_hash = ?3
                     ON CONFLICT (key_hash) DO UPDATE SET content_hash = excluded.content_hash, message_id = excluded.message_id, delivered_ms = excluded.delivered_ms
                     WHERE excluded.delivered_ms > latest.delivered_ms",
                )?;
                let mut drop_latest = tx.prepare_cached("DELETE FROM latest WHERE key_hash = ?1 AND content_hash = ?2")?;
                // An older build's item delivered after its key was moved wrote the plain
                // content hash under the keyed key.
                let mut fix_content = tx.prepare_cached("UPDATE latest SET content_hash = ?3 WHERE key_hash = ?1 AND content_hash = ?2")?;
                // The code last queued moves when it is this CPI's, or its CPI was not kept.
                let mut codes = tx.prepare_cached(
                    "INSERT INTO sent_codes (key_hash, code, updated_ms)
                     SELECT ?2, s.code, s.updated_ms FROM sent_codes s LEFT JOIN issued_codes i ON i.code = s.code WHERE s.key_hash = ?1 AND (i.cpi IS NULL OR i.cpi = ?3)
                     ON CONFLICT (key_hash) DO UPDATE SET code = excluded.code, updated_ms = excluded.updated_ms WHERE excluded.updated_ms > sent_codes.updated_ms",
                )?;
                let mut drop_codes =
                    tx.prepare_cached("DELETE FROM sent_codes WHERE key_hash = ?1 AND coalesce((SELECT cpi FROM issued_codes i WHERE i.code = sent_codes.code), ?2) = ?2")?;
                // The versions still waiting, so that the record's next ones wait for them.
                let mut versions = tx.prepare_cached("UPDATE messages SET key_hash = ?2 WHERE key_hash = ?1 AND state = 'queued'")?;
                let mut known = tx.prepare_cached("SELECT 1 FROM messages WHERE message_id = ?1 AND state NOT IN ('refused', 'purged', 'erased', 'lost')")?;
                for a in &records {
                    let (old, new) = (&a.plain, &a.keyed);
                    latest.execute(params![old.key_hash, new.key_hash, old.content_hash, new.content_hash])?;
                    drop_latest.execute(params![old.key_hash, old.content_hash])?;
                    fix_content.execute(params![new.key_hash, old.content_hash, new.content_hash])?;
                    codes.execute(params![old.key_hash, new.key_hash, a.cpi])?;
                    drop_codes.execute(params![old.key_hash, a.cpi])?;
                    versions.execute(params![old.key_hash, new.key_hash])?;
                    let plain = known.query_row([&old.message_id], |_| Ok(())).optional()?.is_some();
                    let keyed = known.query_row([&new.message_id], |_| Ok(())).optional()?.is_some();
                    out.push((plain && !keyed).then(|| old.message_id.clone()));
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn with<T: Send + 'static>(&self, f: impl FnOnce(&mut Connection) -> Result<T, DedupError> + Send + 'static) -> Result<T, DedupError> {
        self.conn.with(f).await
    }

    /// Judges a batch of offers (read only: nothing is recorded until
    /// [`DedupIndex::mark_queued`], after the queue has committed them).
    pub(crate) async fn admit(&self, offers: Vec<Identity>) -> Result<Vec<Admission>, DedupError> {
        self.with(move |c| {
            // One read transaction for the batch: outside one, every lookup would take
            // and drop the database's shared lock on its own.
            let tx = c.transaction()?;
            let mut latest = tx.prepare_cached("SELECT content_hash FROM latest WHERE key_hash = ?1")?;
            // A version the node refused is not known: re-exported (corrected or not), it is
            // judged and sent again, under a new eGov id (see `mark_queued`).
            let mut known = tx.prepare_cached("SELECT 1 FROM messages WHERE message_id = ?1 AND state NOT IN ('refused', 'purged', 'erased', 'lost')")?;
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

    pub(crate) async fn remember_codes(&self, codes: Vec<crate::Issued>) -> Result<(), DedupError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut up = tx.prepare_cached("INSERT INTO sent_codes (key_hash, code, updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT(key_hash) DO UPDATE SET code = excluded.code, updated_ms = excluded.updated_ms")?;
                let mut owner = tx.prepare_cached("INSERT OR IGNORE INTO issued_codes (code, cpi, region, at_ms) VALUES (?1, ?2, ?3, ?4)")?;
                let now = now_ms();
                for i in &codes {
                    if i.send {
                        up.execute(params![i.key_hash, i.code, now])?;
                    }
                    owner.execute(params![i.code, i.cpi, i.code.get(..2).unwrap_or_default(), now])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn code_owners(&self, codes: Vec<String>) -> Result<Vec<Option<String>>, DedupError> {
        self.with(move |c| {
            let mut q = c.prepare_cached("SELECT cpi FROM issued_codes WHERE code = ?1")?;
            codes.iter().map(|code| q.query_row([code], |r| r.get::<_, String>(0)).optional().map_err(DedupError::from)).collect()
        })
        .await
    }

    pub(crate) async fn input_seen(&self, key: String) -> Result<bool, DedupError> {
        self.with(move |c| Ok(c.prepare_cached("SELECT 1 FROM seen_inputs WHERE key = ?1")?.query_row([&key], |_| Ok(())).optional()?.is_some())).await
    }

    pub(crate) async fn mark_input(&self, key: String) -> Result<(), DedupError> {
        self.with(move |c| {
            c.execute("INSERT OR IGNORE INTO seen_inputs (key, at_ms) VALUES (?1, ?2)", params![key, now_ms()])?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn last_codes(&self, keys: Vec<String>) -> Result<Vec<Option<String>>, DedupError> {
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
    pub(crate) async fn mark_queued(&self, offers: Vec<(Identity, Option<i64>)>) -> Result<(), DedupError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                // A refused version queued again forgets its eGov id: the node answers a
                // repeated id with its first answer, and this is a new try.
                // Each version takes the next place in the order of queueing (a refused one
                // queued again too: it is a new try).
                let mut ins = tx.prepare_cached(
                    "INSERT INTO messages (message_id, key_hash, content_hash, state, updated_ms, queued_order, source_ms)
                     VALUES (?1, ?2, ?3, 'queued', ?4, (SELECT coalesce(max(queued_order), 0) + 1 FROM messages), ?5)
                     ON CONFLICT (message_id) DO UPDATE SET state = 'queued', key_hash = excluded.key_hash, content_hash = excluded.content_hash, source_ms = coalesce(excluded.source_ms, messages.source_ms),
                     egov_id = CASE WHEN messages.state = 'lost' THEN messages.egov_id END, receipt = NULL, updated_ms = excluded.updated_ms,
                     queued_order = excluded.queued_order WHERE messages.state IN ('refused', 'purged', 'erased', 'lost')",
                )?;
                let now = now_ms();
                for (o, source_ms) in &offers {
                    ins.execute(params![o.message_id, o.key_hash, o.content_hash, now, source_ms])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// For each message id, its receipt when delivered (one read).
    pub(crate) async fn delivered_many(&self, ids: Vec<String>) -> Result<Vec<Option<String>>, DedupError> {
        self.with(move |c| {
            let mut st = c.prepare_cached("SELECT receipt FROM messages WHERE message_id = ?1 AND state = 'delivered'")?;
            ids.iter().map(|id| Ok(st.query_row([id], |r| r.get::<_, Option<String>>(0)).optional()?.map(Option::unwrap_or_default))).collect()
        })
        .await
    }

    /// eGov ids for many offers in one transaction (one commit).
    pub(crate) async fn egov_ids(&self, offers: Vec<Identity>, sender: &str, make: impl Fn(u64) -> Option<String> + Send + 'static) -> Result<Vec<String>, DedupError> {
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
                    let id = make(u64::try_from(n).unwrap_or(0)).ok_or_else(|| DedupError::CounterExhausted(sender.to_string()))?;
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
    pub(crate) async fn mark_delivered_many(&self, done: Vec<(Identity, String)>) -> Result<(), DedupError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let now = now_ms();
                // A version erased meanwhile (a person's request while it was in flight) stays
                // erased, and its key gets no content last delivered.
                let mut upd = tx.prepare_cached("UPDATE messages SET state = 'delivered', receipt = ?2, updated_ms = ?3 WHERE message_id = ?1 AND state <> 'erased'")?;
                let mut latest = tx.prepare_cached(
                    "INSERT INTO latest (key_hash, content_hash, message_id, delivered_ms)
                     SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM messages WHERE message_id = ?3 AND state = 'erased')
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
    pub(crate) async fn mark_refused(&self, message_id: &str) -> Result<(), DedupError> {
        let id = message_id.to_string();
        self.with(move |c| {
            c.execute("UPDATE messages SET state = 'refused', updated_ms = ?2 WHERE message_id = ?1 AND state <> 'erased'", params![id, now_ms()])?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn waiting_behind(&self, ids: Vec<String>) -> Result<Vec<Option<bool>>, DedupError> {
        self.with(move |c| {
            let tx = c.transaction()?;
            let out = {
                let mut q = tx.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM messages m WHERE m.key_hash = me.key_hash AND m.state = 'queued'
                     AND m.message_id <> me.message_id AND m.queued_order < me.queued_order)
                     FROM messages me WHERE me.message_id = ?1 AND me.queued_order IS NOT NULL",
                )?;
                ids.iter().map(|id| q.query_row([id], |r| r.get::<_, bool>(0)).optional()).collect::<Result<Vec<_>, _>>()?
            };
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Moves a version that is not delivered to `state` (`dead`, `refusing`).
    pub(crate) async fn set_state(&self, message_id: &str, state: &'static str) -> Result<(), DedupError> {
        let id = message_id.to_string();
        self.with(move |c| {
            c.execute("UPDATE messages SET state = ?2, updated_ms = ?3 WHERE message_id = ?1 AND state NOT IN ('delivered', 'erased')", params![id, state, now_ms()])?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn mark_purged(&self, ids: Vec<String>) -> Result<(), DedupError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut up = tx.prepare_cached("UPDATE messages SET state = 'purged', updated_ms = ?2 WHERE message_id = ?1 AND state = 'dead'")?;
                let now = now_ms();
                for id in &ids {
                    up.execute(params![id, now])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn fates(&self, ids: Vec<String>) -> Result<Vec<crate::Fate>, DedupError> {
        self.with(move |c| {
            let tx = c.transaction()?;
            let out = {
                let mut q = tx.prepare_cached("SELECT state FROM messages WHERE message_id = ?1")?;
                ids.iter().map(|id| Ok(crate::Fate::of(q.query_row([id], |r| r.get::<_, String>(0)).optional()?.as_deref()))).collect::<Result<Vec<_>, rusqlite::Error>>()?
            };
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    pub(crate) async fn erase(&self, keys: Vec<String>) -> Result<Vec<String>, DedupError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut ids = Vec::new();
            {
                let mut up = tx.prepare_cached(
                    "UPDATE messages SET state = 'erased', key_hash = '', content_hash = '', egov_id = NULL, receipt = NULL, queued_order = NULL, source_ms = NULL, updated_ms = ?2
                     WHERE key_hash = ?1 RETURNING message_id",
                )?;
                let mut latest = tx.prepare_cached("DELETE FROM latest WHERE key_hash = ?1")?;
                let mut codes = tx.prepare_cached("DELETE FROM sent_codes WHERE key_hash = ?1")?;
                let now = now_ms();
                for k in keys.iter().filter(|k| !k.is_empty()) {
                    ids.extend(up.query_map(params![k, now], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?);
                    latest.execute([k])?;
                    codes.execute([k])?;
                }
            }
            tx.commit()?;
            Ok(ids)
        })
        .await
    }

    pub(crate) async fn superseded(&self, asks: Vec<(String, i64)>) -> Result<Vec<bool>, DedupError> {
        self.with(move |c| {
            let mut q = c.prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE key_hash = ?1 AND state IN ('queued', 'refusing', 'delivered') AND source_ms > ?2)")?;
            asks.iter().map(|(k, ms)| q.query_row(params![k, ms], |r| r.get::<_, bool>(0)).map_err(DedupError::from)).collect()
        })
        .await
    }

    pub(crate) async fn known(&self, ids: Vec<String>) -> Result<Vec<bool>, DedupError> {
        self.with(move |c| {
            let mut q = c.prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE message_id = ?1 AND state NOT IN ('refusing', 'refused', 'purged', 'erased', 'lost'))")?;
            ids.iter().map(|id| q.query_row([id], |r| r.get::<_, bool>(0)).map_err(DedupError::from)).collect()
        })
        .await
    }

    pub(crate) async fn order_now(&self) -> Result<i64, DedupError> {
        self.with(move |c| Ok(c.query_row("SELECT coalesce(max(queued_order), 0) FROM messages", [], |r| r.get::<_, i64>(0))?)).await
    }

    pub(crate) async fn orders_of(&self, ids: Vec<String>) -> Result<Vec<Option<i64>>, DedupError> {
        self.with(move |c| {
            let mut q = c.prepare_cached("SELECT queued_order FROM messages WHERE message_id = ?1")?;
            ids.iter().map(|id| Ok(q.query_row([id], |r| r.get::<_, Option<i64>>(0)).optional()?.flatten())).collect()
        })
        .await
    }

    pub(crate) async fn queued_after(&self, asks: Vec<(String, i64)>) -> Result<Vec<bool>, DedupError> {
        self.with(move |c| {
            let mut q = c.prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE key_hash = ?1 AND state IN ('queued', 'delivered', 'dead') AND queued_order > ?2)")?;
            asks.iter().map(|(k, n)| q.query_row(params![k, n], |r| r.get::<_, bool>(0)).map_err(DedupError::from)).collect()
        })
        .await
    }

    pub(crate) async fn versions_of(&self, keys: Vec<String>) -> Result<Vec<String>, DedupError> {
        self.with(move |c| {
            let mut q = c.prepare_cached("SELECT message_id FROM messages WHERE key_hash = ?1")?;
            let mut out = Vec::new();
            for k in keys.iter().filter(|k| !k.is_empty()) {
                out.extend(q.query_map([k], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?);
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn cpis(&self) -> Result<Vec<String>, DedupError> {
        self.with(move |c| {
            let mut q = c.prepare("SELECT DISTINCT cpi FROM issued_codes")?;
            let out = q.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            Ok(out)
        })
        .await
    }

    /// Forgets the state of these message ids so a replay resends them.
    pub(crate) async fn reopen(&self, ids: Vec<String>) -> Result<(), DedupError> {
        self.with(move |c| {
            for id in &ids {
                c.execute("UPDATE messages SET state = 'queued', updated_ms = ?2 WHERE message_id = ?1 AND state NOT IN ('delivered', 'purged', 'erased')", params![id, now_ms()])?;
            }
            Ok(())
        })
        .await
    }
}

/// What [`carry_settled`] brought over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    /// Message ids the later index had erased on a person's request: erased again
    /// here; delete them from the restored queue too.
    pub erased: Vec<String>,
    /// Versions both knew that the later index changed since (settled, queued again,
    /// given an eGov id).
    pub settled: usize,
    /// Versions the later index knew that the earlier one did not (queued after the
    /// backup), with their eGov ids.
    pub added: usize,
}

/// Brings into the index file `into` (restored from a backup, already migrated) what
/// the index file `from` (the one in use until the restore, later) learnt since:
/// - first the erasures done since, by message id: those versions become `erased`
///   here, and their keys lose the content last delivered and the code last queued;
/// - then every version `from` knows and `into` does not (queued after the backup),
///   in its state, with its eGov id and queueing order; and every version both know
///   that `from` changed since, whole (delivered, refused, dead, purged, queued again,
///   given an eGov id: so a send that went unanswered goes again under its first id);
/// - the content last delivered and the code last queued per key (the later one
///   wins), the codes' CPIs, and each sender's eGov counter (the higher one: an id
///   once used is never used again).
///
/// An eGov id already held here by another version is never given to a second one.
/// Run it with no process using either file.
pub fn carry_settled(into: &std::path::Path, from: &std::path::Path) -> Result<Carried, DedupError> {
    let mut c = rusqlite::Connection::open(into)?;
    c.busy_timeout(std::time::Duration::from_secs(30))?;
    c.execute("ATTACH DATABASE ?1 AS later", [from.to_string_lossy()])?;
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let erased = {
        let mut q = tx.prepare("SELECT message_id FROM later.messages WHERE state = 'erased'")?;
        q.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?
    };
    // Erasures by message id (the later index erased every version its key had then;
    // a version exported again since is its own later row, carried below).
    tx.execute_batch(
        "CREATE TEMP TABLE gone AS SELECT DISTINCT m.key_hash FROM messages m JOIN later.messages l ON l.message_id = m.message_id
             WHERE l.state = 'erased' AND m.key_hash <> '';
         DELETE FROM latest WHERE key_hash IN (SELECT key_hash FROM gone);
         DELETE FROM sent_codes WHERE key_hash IN (SELECT key_hash FROM gone);
         UPDATE messages SET state = 'erased', key_hash = '', content_hash = '', egov_id = NULL, receipt = NULL, queued_order = NULL, source_ms = NULL
             WHERE message_id IN (SELECT message_id FROM later.messages WHERE state = 'erased');
         DROP TABLE gone;",
    )?;
    // The source times, when the later index is of a build that kept them (schema 5).
    let timed: bool = tx.query_row("SELECT count(*) > 0 FROM pragma_table_info('messages', 'later') WHERE name = 'source_ms'", [], |r| r.get(0))?;
    let source_ms = if timed { "l.source_ms" } else { "NULL" };
    let added = tx.execute(
        &format!(
            "INSERT INTO messages (message_id, key_hash, content_hash, state, egov_id, receipt, updated_ms, queued_order, source_ms)
             SELECT l.message_id, l.key_hash, l.content_hash, l.state,
                    CASE WHEN l.egov_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.egov_id = l.egov_id) THEN l.egov_id END,
                    l.receipt, l.updated_ms, l.queued_order, {source_ms}
             FROM later.messages l WHERE l.state <> 'erased' AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.message_id = l.message_id)"
        ),
        [],
    )?;
    // A version both know: the later row wins whole where it changed since (settled,
    // queued again with a new eGov id, allocated one), an eGov id another version
    // holds here excepted.
    // (A version erased before the backup and queued again since is carried too.)
    let settled = tx.execute(
        &format!(
            "UPDATE messages SET (state, key_hash, content_hash, receipt, updated_ms, queued_order, source_ms, egov_id) =
                 (SELECT l.state, l.key_hash, l.content_hash, l.receipt, l.updated_ms, l.queued_order, {source_ms},
                         CASE WHEN l.egov_id IS NULL OR l.egov_id IS messages.egov_id
                                OR NOT EXISTS (SELECT 1 FROM messages o WHERE o.egov_id = l.egov_id AND o.message_id <> messages.message_id)
                              THEN l.egov_id ELSE messages.egov_id END
                  FROM later.messages l WHERE l.message_id = messages.message_id)
             WHERE EXISTS (SELECT 1 FROM later.messages l WHERE l.message_id = messages.message_id
               AND l.state <> 'erased' AND l.updated_ms > messages.updated_ms)"
        ),
        [],
    )?;
    tx.execute_batch(
        "INSERT INTO egov_counter (sender, n) SELECT sender, n FROM later.egov_counter WHERE true
             ON CONFLICT (sender) DO UPDATE SET n = max(egov_counter.n, excluded.n);
         INSERT OR IGNORE INTO issued_codes SELECT code, cpi, region, at_ms FROM later.issued_codes;
         INSERT INTO latest (key_hash, content_hash, message_id, delivered_ms) SELECT key_hash, content_hash, message_id, delivered_ms FROM later.latest WHERE true
             ON CONFLICT (key_hash) DO UPDATE SET content_hash = excluded.content_hash, message_id = excluded.message_id, delivered_ms = excluded.delivered_ms
             WHERE excluded.delivered_ms >= latest.delivered_ms;
         INSERT INTO sent_codes (key_hash, code, updated_ms) SELECT key_hash, code, updated_ms FROM later.sent_codes WHERE true
             ON CONFLICT (key_hash) DO UPDATE SET code = excluded.code, updated_ms = excluded.updated_ms WHERE excluded.updated_ms >= sent_codes.updated_ms;",
    )?;
    tx.commit()?;
    c.execute("DETACH DATABASE later", [])?;
    Ok(Carried { erased, settled, added })
}

/// Marks `lost` the versions the index file `into` holds as waiting (queued,
/// refusing, dead) whose item the queue file `queue` does not hold (a restore whose
/// queue in use was lost): a `lost` version is new again to ingest (read again, it is
/// queued), and queued again it keeps its eGov id (a send that went unanswered goes
/// again under its first id). Returns how many. Run it with no process on the files.
pub fn mark_lost(into: &std::path::Path, queue: &std::path::Path) -> Result<usize, DedupError> {
    let c = rusqlite::Connection::open(into)?;
    c.busy_timeout(std::time::Duration::from_secs(30))?;
    c.execute("ATTACH DATABASE ?1 AS q", [queue.to_string_lossy()])?;
    let n = c.execute(
        "UPDATE messages SET state = 'lost', queued_order = NULL, updated_ms = ?1 WHERE state IN ('queued', 'refusing', 'dead')
           AND message_id NOT IN (SELECT message_id FROM q.queue UNION ALL SELECT message_id FROM q.dead)",
        [now_ms()],
    )?;
    c.execute("DETACH DATABASE q", [])?;
    Ok(n)
}

/// Raises the eGov counter of `sender` in the index file `into` to at least `floor`
/// (a restore without the index in use until then: the last id the node saw).
pub fn raise_counter(into: &std::path::Path, sender: &str, floor: u64) -> Result<(), DedupError> {
    let c = rusqlite::Connection::open(into)?;
    c.busy_timeout(std::time::Duration::from_secs(30))?;
    c.execute(
        "INSERT INTO egov_counter (sender, n) VALUES (?1, ?2) ON CONFLICT (sender) DO UPDATE SET n = max(egov_counter.n, excluded.n)",
        params![sender, i64::try_from(floor).unwrap_or(i64::MAX)],
    )?;
    Ok(())
}

/// Whether the index file at `path` opens and its versions can be read (a restore
/// brings over what a readable one settled).
pub fn readable(path: &std::path::Path) -> bool {
    let Ok(c) = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else { return false };
    c.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0)).is_ok()
}
