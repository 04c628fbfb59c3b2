//! Kept refusals: what is needed to judge a refused record again.
//!
//! Every record refused at ingest (XSD, rules, a foreign code) and every version the
//! national node refused for good (KO, a `Client` fault) is kept here, beside its
//! quarantine line, until it is replayed, erased or past `[retention] refused_days`:
//!
//! - refused at ingest: the canonical record as it was judged (codes allocated, the
//!   code it replaces named), with its provenance (source, input, position);
//! - refused by the node: the 1546 document that was sent, read back into the
//!   canonical model at the replay (what the document did not carry, an element the
//!   optional-code policy left out, is not in it).
//!
//! `silgate quarantine list` shows them; `silgate quarantine replay` hands them to the
//! ingest step again, judged with the code tables and the mapping of the day
//! ([`replay`]). Of several kept versions of one record only the newest goes. A
//! version of the same record queued (delivered, dead-lettered) after one was kept is
//! newer: the kept one is then superseded, not sent (it would replace the newer one at
//! the node). For a refusal at ingest whose source gives the record's own time, that
//! time decides instead (as at every ingest); a node's refusal is placed where its
//! refused version was queued, and goes again under that version's message id.
//!
//! The store is one SQLite file in the data directory (`kept.db`, owner-only, whatever
//! the queue and index backends): it holds personal data. A replayed refusal keeps its
//! line and outcome, not its record.

use crate::error::Result;
use crate::parts::Parts;
use rusqlite::{OptionalExtension as _, params};
use silgate_audit::{Event, NewEntry, Rejudged};
use silgate_core::{Issue, Provenance, SourceItem};
use silgate_store::migrate::{Migration, Schema};
use silgate_store::now_ms;
use silgate_store::sqlite::{Durability, Shared};
use std::path::Path;

const V1: &str = "
CREATE TABLE IF NOT EXISTS kept (
    id          TEXT PRIMARY KEY,
    refused_by  TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    source      TEXT NOT NULL,
    provenance  TEXT NOT NULL,
    position    TEXT NOT NULL,
    cpi         TEXT NOT NULL,
    rule        TEXT NOT NULL,
    field       TEXT NOT NULL,
    message     TEXT NOT NULL,
    issues      TEXT NOT NULL,
    key_hash    TEXT NOT NULL,
    message_id  TEXT,
    content_hash TEXT,
    code        TEXT,
    record      TEXT,
    document    TEXT,
    place       INTEGER,
    seq         INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    settled_ms  INTEGER,
    outcome     TEXT
);
CREATE INDEX IF NOT EXISTS kept_state_at ON kept (state, at_ms);
CREATE INDEX IF NOT EXISTS kept_key ON kept (key_hash);
";

/// The kept store's migrations.
const SCHEMA: Schema = Schema { store: "kept", migrations: &[Migration { version: 1, name: "kept refusals", sql: V1, breaks_older: false }], every_open: "" };

/// Who refused a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedBy {
    /// The ingest step (XSD, rules, codes), before it was queued.
    Ingest,
    /// The national node, for good.
    Node,
}

impl RefusedBy {
    /// `ingest` or `node`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Node => "node",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "node" { Self::Node } else { Self::Ingest }
    }
}

/// What can be judged again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The canonical record (JSON), refused at ingest.
    Record(String),
    /// The 1546 document the node refused.
    Document(String),
}

/// A refusal to keep.
#[derive(Debug, Clone)]
pub struct NewKept {
    /// Its id: the same refusal kept twice (an input read again) is one.
    pub id: String,
    /// Who refused it.
    pub by: RefusedBy,
    /// Where the record came from.
    pub provenance: Provenance,
    /// The record's CPI.
    pub cpi: String,
    /// Every issue (the first error's rule and field are listed).
    pub issues: Vec<Issue>,
    /// The record's business key, keyed (empty when no record could be read).
    pub key_hash: String,
    /// The version's message id, when it had one.
    pub message_id: Option<String>,
    /// Its content hash (the node's refusals: with the message id, the version a replay
    /// queues again).
    pub content_hash: Option<String>,
    /// Its communication code, when it had one.
    pub code: Option<String>,
    /// What a replay judges; `None` when the source gave nothing the model could read
    /// (the source must send it again).
    pub body: Option<Body>,
    /// Its place in the order of queueing (a later version of its record is newer).
    pub place: Option<i64>,
    /// Its place among the records of its batch (of two kept with one place, the later
    /// read is newer).
    pub seq: i64,
}

/// The state of a kept refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptState {
    /// Waiting for a replay.
    Kept,
    /// Replayed (its outcome says how); its record is no longer kept.
    Replayed,
}

/// A kept refusal as `silgate quarantine list` shows it.
#[derive(Debug, Clone)]
pub struct Kept {
    /// Its id.
    pub id: String,
    /// Who refused it.
    pub by: RefusedBy,
    /// When it was (last) kept, Unix ms.
    pub at_ms: i64,
    /// Where the record came from.
    pub provenance: Provenance,
    /// The record's CPI.
    pub cpi: String,
    /// The first error's rule.
    pub rule: String,
    /// The first error's field.
    pub field: String,
    /// The first error's field as the source names it, with its position
    /// (`ESPERIENZE.CSV/COD_QUAL line 7`), where the source names it otherwise.
    pub source_field: Option<String>,
    /// The first error's message (never a value).
    pub message: String,
    /// The version's message id, when it had one.
    pub message_id: Option<String>,
    /// Its communication code, when it had one.
    pub code: Option<String>,
    /// Whether a replay has something to judge.
    pub replayable: bool,
    /// Kept or replayed.
    pub state: KeptState,
    /// How many times it was refused.
    pub attempts: u32,
    /// What its replay did (`queued <message id>`, `superseded`, ...).
    pub outcome: Option<String>,
}

/// Which kept refusals `list` and `replay` take.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this one.
    pub id: Option<String>,
    /// Only this CPI's.
    pub cpi: Option<String>,
    /// Only those whose first error has this rule.
    pub rule: Option<String>,
    /// Only those kept at or after this time, Unix ms.
    pub since_ms: Option<i64>,
    /// Replayed ones too.
    pub all: bool,
}

/// The store of kept refusals (`DATA_DIR/kept.db`). Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct KeptStore {
    db: Shared,
}

/// The first error of `issues` (or the first issue): (field, rule, message).
pub(crate) fn first(issues: &[Issue]) -> (&str, &str, &str) {
    first_issue(issues).map_or(("", "unknown", ""), |i| (i.path.as_str(), i.rule.as_str(), i.message.as_str()))
}

/// The issue a refusal is known by: its first error, else its first issue.
pub(crate) fn first_issue(issues: &[Issue]) -> Option<&Issue> {
    issues.iter().find(|i| i.is_error()).or(issues.first())
}

/// The id of a refusal at ingest: from where it was read and what was refused (the
/// same record at the same place is one refusal, kept again).
pub(crate) fn ingest_id(keyer: &silgate_dedup::Keyer, provenance: &Provenance, what: &str) -> String {
    let h = keyer.hash(&[b"kept", provenance.to_string().as_bytes(), what.as_bytes()]);
    format!("i-{}", h.get(..16).unwrap_or(&h))
}

/// The id of a node's refusal of a version: from its message id.
pub(crate) fn node_id(message_id: &str) -> String {
    format!("n-{}", message_id.get(..16).unwrap_or(message_id))
}

impl KeptStore {
    /// Opens (creating it owner-only) the store at `path`.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_path_buf();
        let conn = silgate_store::sqlite::blocking(move || -> std::result::Result<_, silgate_store::StoreError> {
            let mut c = silgate_store::sqlite::open(&path, Durability::Full, 0)?;
            silgate_store::migrate::sqlite(&mut c, &SCHEMA)?;
            // What goes (a replayed record, an erasure, retention) is overwritten.
            c.execute_batch("PRAGMA secure_delete = ON")?;
            Ok(c)
        })
        .await?;
        Ok(Self { db: Shared::new(conn) })
    }

    /// Keeps `refusals`; one kept before under the same id is kept again, with the new
    /// reason (and waits for a replay again).
    pub async fn keep(&self, refusals: Vec<NewKept>) -> Result<()> {
        if refusals.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        self.db
            .with(move |c| -> std::result::Result<(), silgate_store::StoreError> {
                let tx = c.transaction()?;
                {
                    let mut ins = tx.prepare_cached(
                        "INSERT INTO kept (id, refused_by, at_ms, source, provenance, position, cpi, rule, field, message, issues, key_hash, message_id, code,
                             record, document, place, content_hash, seq, state, attempts)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, 'kept', 1)
                         ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms, rule = excluded.rule, field = excluded.field, message = excluded.message,
                             issues = excluded.issues, record = excluded.record, document = excluded.document, place = excluded.place, seq = excluded.seq,
                             key_hash = CASE WHEN excluded.key_hash <> '' THEN excluded.key_hash ELSE kept.key_hash END,
                             message_id = coalesce(excluded.message_id, kept.message_id), content_hash = coalesce(excluded.content_hash, kept.content_hash),
                             state = 'kept', attempts = kept.attempts + 1, settled_ms = NULL, outcome = NULL",
                    )?;
                    for k in &refusals {
                        let (field, rule, message) = first(&k.issues);
                        let issues = serde_json::to_string(&k.issues).unwrap_or_else(|_| "[]".into());
                        let prov = serde_json::to_string(&k.provenance).unwrap_or_else(|_| "{}".into());
                        let position = format!("{}:{}", k.provenance.origin, k.provenance.position);
                        let (record, document) = match &k.body {
                            Some(Body::Record(r)) => (Some(r), None),
                            Some(Body::Document(d)) => (None, Some(d)),
                            None => (None, None),
                        };
                        ins.execute(params![
                            k.id,
                            k.by.as_str(),
                            now,
                            k.provenance.system.as_str(),
                            prov,
                            position,
                            k.cpi,
                            rule,
                            field,
                            message,
                            issues,
                            k.key_hash,
                            k.message_id,
                            k.code,
                            record,
                            document,
                            k.place,
                            k.content_hash,
                            k.seq
                        ])?;
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Moves kept refusals to `place` in the order of queueing (the batch they were
    /// read in is queued: its earlier versions of their records are older).
    pub(crate) async fn place(&self, ids: Vec<String>, place: i64) -> Result<()> {
        self.db
            .with(move |c| -> std::result::Result<(), silgate_store::StoreError> {
                let tx = c.transaction()?;
                {
                    let mut up = tx.prepare_cached("UPDATE kept SET place = ?2 WHERE id = ?1 AND state = 'kept'")?;
                    for id in &ids {
                        up.execute(params![id, place])?;
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// The kept refusals `filter` takes, oldest first.
    pub async fn list(&self, filter: &Filter) -> Result<Vec<Kept>> {
        let f = filter.clone();
        Ok(self
            .db
            .with(move |c| -> std::result::Result<Vec<Kept>, silgate_store::StoreError> {
                let mut q = c.prepare(
                    "SELECT id, refused_by, at_ms, provenance, cpi, rule, field, message, message_id, code, record IS NOT NULL OR document IS NOT NULL, state, attempts, outcome,
                     issues FROM kept WHERE (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR cpi = ?2) AND (?3 IS NULL OR rule = ?3) AND (?4 IS NULL OR at_ms >= ?4)
                     AND (?5 OR state = 'kept') ORDER BY at_ms, id",
                )?;
                let rows = q.query_map(params![f.id, f.cpi, f.rule, f.since_ms, f.all], |r| {
                    let prov: String = r.get(3)?;
                    let issues: Vec<Issue> = serde_json::from_str(&r.get::<_, String>(14)?).unwrap_or_default();
                    Ok(Kept {
                        source_field: first_issue(&issues).and_then(|i| i.source_field.clone()),
                        id: r.get(0)?,
                        by: RefusedBy::parse(&r.get::<_, String>(1)?),
                        at_ms: r.get(2)?,
                        provenance: serde_json::from_str(&prov).unwrap_or_default(),
                        cpi: r.get(4)?,
                        rule: r.get(5)?,
                        field: r.get(6)?,
                        message: r.get(7)?,
                        message_id: r.get(8)?,
                        code: r.get(9)?,
                        replayable: r.get(10)?,
                        state: if r.get::<_, String>(11)? == "kept" { KeptState::Kept } else { KeptState::Replayed },
                        attempts: r.get(12)?,
                        outcome: r.get(13)?,
                    })
                })?;
                Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
            })
            .await?)
    }

    /// What a replay of `id` judges, with its key and place: `None` when it is no
    /// longer kept or has nothing to judge.
    async fn body(&self, id: &str) -> Result<Option<Held>> {
        let id = id.to_string();
        Ok(self
            .db
            .with(move |c| -> std::result::Result<Option<Held>, silgate_store::StoreError> {
                let sql =
                    "SELECT refused_by, provenance, key_hash, message_id, record, document, place, content_hash, at_ms, attempts, seq FROM kept WHERE id = ?1 AND state = 'kept'";
                let row = c
                    .query_row(sql, [&id], |r| {
                        let by = RefusedBy::parse(&r.get::<_, String>(0)?);
                        let prov: String = r.get(1)?;
                        let body = r.get::<_, Option<String>>(4)?.map(Body::Record).or(r.get::<_, Option<String>>(5)?.map(Body::Document));
                        Ok((
                            by,
                            prov,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            body,
                            r.get::<_, Option<i64>>(6)?,
                            r.get::<_, Option<String>>(7)?,
                            r.get::<_, i64>(8)?,
                            r.get::<_, u32>(9)?,
                            r.get::<_, i64>(10)?,
                        ))
                    })
                    .optional()?;
                Ok(row.and_then(|(by, prov, key_hash, message_id, body, place, content_hash, at_ms, attempts, seq)| {
                    // A provenance this build cannot read: nothing to replay it with.
                    let provenance = serde_json::from_str(&prov).ok()?;
                    Some(Held { by, provenance, key_hash, message_id, content_hash, body: body?, place, at_ms, attempts, seq })
                }))
            })
            .await?)
    }

    /// Every refusal still kept of these business keys (hashed), as the order of their
    /// versions sees them: (id, key, when it stands).
    async fn rivals(&self, keys: Vec<String>) -> Result<Vec<(String, String, Standing)>> {
        Ok(self
            .db
            .with(move |c| -> std::result::Result<Vec<(String, String, Standing)>, silgate_store::StoreError> {
                let mut q = c.prepare_cached("SELECT id, provenance, place, at_ms, seq, refused_by FROM kept WHERE key_hash = ?1 AND state = 'kept'")?;
                let mut out = Vec::new();
                for k in keys.iter().filter(|k| !k.is_empty()) {
                    let rows = q.query_map([k], |r| {
                        let prov: String = r.get(1)?;
                        let timed = serde_json::from_str::<Provenance>(&prov).ok().and_then(|p| p.modified_ms).map(std::num::NonZeroI64::get);
                        let read = RefusedBy::parse(&r.get::<_, String>(5)?) == RefusedBy::Ingest;
                        Ok((r.get::<_, String>(0)?, Standing { timed, place: r.get(2)?, read, at_ms: r.get(3)?, seq: r.get(4)? }))
                    })?;
                    for row in rows {
                        let (id, standing) = row?;
                        out.push((id, k.clone(), standing));
                    }
                }
                Ok(out)
            })
            .await?)
    }

    /// Marks kept refusals replayed with their outcome, and forgets their records: each
    /// (id, its refusals when read, outcome) unless it was refused again since.
    async fn settle(&self, done: Vec<(String, u32, String)>) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        self.db
            .with(move |c| -> std::result::Result<(), silgate_store::StoreError> {
                let tx = c.transaction()?;
                {
                    let mut up = tx.prepare_cached(
                        "UPDATE kept SET state = 'replayed', settled_ms = ?2, outcome = ?4, record = NULL, document = NULL WHERE id = ?1 AND state = 'kept' AND attempts = ?3",
                    )?;
                    for (id, attempts, outcome) in &done {
                        up.execute(params![id, now, attempts, outcome])?;
                    }
                }
                tx.commit()?;
                truncate_log(c)
            })
            .await?;
        Ok(())
    }

    /// Deletes the kept refusals of these business keys (hashed), or whose record or
    /// document holds `needle` (a person's fiscal code): an erasure. Returns how many.
    pub async fn erase(&self, keys: Vec<String>, needle: String) -> Result<usize> {
        Ok(self
            .db
            .with(move |c| -> std::result::Result<usize, silgate_store::StoreError> {
                let tx = c.transaction()?;
                let mut n = 0;
                {
                    let mut by_key = tx.prepare_cached("DELETE FROM kept WHERE key_hash = ?1")?;
                    for k in keys.iter().filter(|k| !k.is_empty()) {
                        n += by_key.execute([k])?;
                    }
                }
                if !needle.is_empty() {
                    let needle = needle.to_uppercase();
                    n += tx.execute("DELETE FROM kept WHERE instr(upper(record), ?1) > 0 OR instr(upper(document), ?1) > 0", [&needle])?;
                }
                tx.commit()?;
                if n > 0 {
                    c.execute_batch("VACUUM")?;
                }
                truncate_log(c)?;
                Ok(n)
            })
            .await?)
    }

    /// Deletes the kept refusals kept before `before_ms` (retention). Returns how many.
    pub async fn forget_before(&self, before_ms: i64) -> Result<usize> {
        Ok(self
            .db
            .with(move |c| -> std::result::Result<usize, silgate_store::StoreError> {
                let n = c.execute("DELETE FROM kept WHERE at_ms < ?1", [before_ms])?;
                truncate_log(c)?;
                Ok(n)
            })
            .await?)
    }
}

/// Writes the log back into the file and empties it: what `secure_delete` overwrote in
/// the file is not left in the log.
fn truncate_log(c: &rusqlite::Connection) -> std::result::Result<(), silgate_store::StoreError> {
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// A kept refusal's body, as a replay takes it.
#[derive(Debug)]
struct Held {
    by: RefusedBy,
    provenance: Provenance,
    key_hash: String,
    message_id: Option<String>,
    content_hash: Option<String>,
    body: Body,
    place: Option<i64>,
    at_ms: i64,
    /// How many times it was refused when read: a refusal kept again since is not
    /// settled by this replay.
    attempts: u32,
    /// Its place among the records of its batch.
    seq: i64,
}

impl Held {
    fn standing(&self) -> Standing {
        Standing { timed: self.provenance.modified_ms.map(std::num::NonZeroI64::get), place: self.place, read: self.by == RefusedBy::Ingest, at_ms: self.at_ms, seq: self.seq }
    }
}

/// Where a kept version of a record stands among the others: by its source's time when
/// both have one, else by its place in the order of queueing (at one place a refusal
/// at ingest, placed after what was queued, is later than the node's refusal of the
/// version queued there), when it was kept, and its place in its batch.
#[derive(Debug, Clone, Copy)]
struct Standing {
    timed: Option<i64>,
    place: Option<i64>,
    /// Refused at ingest (read after its place), not by the node (queued at it).
    read: bool,
    at_ms: i64,
    seq: i64,
}

impl Standing {
    fn newer_than(&self, other: &Standing) -> bool {
        match (self.timed, other.timed) {
            (Some(a), Some(b)) if a != b => a > b,
            _ => (self.place, self.read, self.at_ms, self.seq) > (other.place, other.read, other.at_ms, other.seq),
        }
    }
}

/// What a replay did.
#[derive(Debug, Default, Clone)]
pub struct ReplaySummary {
    /// Kept refusals taken.
    pub taken: usize,
    /// Accepted and queued.
    pub queued: usize,
    /// Accepted; the same version was queued or delivered since.
    pub unchanged: usize,
    /// A later version of the record was queued since: not sent.
    pub superseded: usize,
    /// Refused again (kept again with the new reason).
    pub rejected: usize,
    /// Nothing to judge (the source gave nothing the model could read).
    pub not_replayable: usize,
    /// Left kept: the node's refusal of it is still being settled (try again later).
    pub in_delivery: usize,
}

/// `silgate quarantine replay`: judges the kept refusals `filter` takes again, with the
/// gateway's code tables and mapping of `today`, and queues the accepted ones (through
/// the ingest step: dedup, order, audit). A replayed refusal is settled; one refused
/// again stays kept under its id with the new reason; one whose record cannot be read
/// back stays kept, counted not replayable; a node's refusal still being settled stays
/// kept, counted in delivery.
///
/// Of the kept versions of one record (those `filter` takes and the others), only the
/// newest is judged (by the source's time where both have one, else by place); the
/// others are superseded. A version of the record queued, delivered or dead-lettered
/// after a kept one supersedes it too. Each goes again under the message id it was
/// kept with, so a later export of the same content is known.
pub async fn replay(parts: &Parts, filter: &Filter, today: silgate_core::Date) -> Result<ReplaySummary> {
    use std::collections::{HashMap, HashSet};
    let kept = parts.kept();
    let mut s = ReplaySummary::default();
    let chosen = kept.list(&Filter { all: false, ..filter.clone() }).await?;
    let mut held = Vec::with_capacity(chosen.len());
    for k in &chosen {
        s.taken += 1;
        match kept.body(&k.id).await? {
            Some(h) => held.push((k.id.clone(), h)),
            None => s.not_replayable += 1,
        }
    }
    // The places of the refused versions now (a node's refusal noted where its version
    // stood; one kept without a place stands there, or at the start).
    let ids: Vec<String> = held.iter().filter_map(|(_, h)| h.message_id.clone()).collect();
    let (places_now, known): (HashMap<String, Option<i64>>, HashSet<String>) = if ids.is_empty() {
        (HashMap::new(), HashSet::new())
    } else {
        let places = ids.iter().cloned().zip(parts.dedup.orders_of(ids.clone()).await?).collect();
        let known = ids.iter().cloned().zip(parts.dedup.known(ids.clone()).await?).filter(|(_, k)| *k).map(|(id, _)| id).collect();
        (places, known)
    };
    // Where each node's refusal was kept (before a missing place is filled in): its
    // version has moved on when its place now is another.
    let kept_at: HashMap<String, Option<i64>> = held.iter().filter(|(_, h)| h.by == RefusedBy::Node).map(|(id, h)| (id.clone(), h.place)).collect();
    for (_, h) in &mut held {
        if h.by == RefusedBy::Node && h.place.is_none() {
            h.place = Some(h.message_id.as_ref().and_then(|id| places_now.get(id).copied().flatten()).unwrap_or(0));
        }
    }
    // The newest kept version of each record, among all those still kept.
    let mut keys: Vec<String> = held.iter().map(|(_, h)| h.key_hash.clone()).filter(|k| !k.is_empty()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut standing: HashMap<String, (String, Standing)> = kept.rivals(keys).await?.into_iter().map(|(id, key, st)| (id, (key, st))).collect();
    for (id, h) in &held {
        if !h.key_hash.is_empty() {
            standing.insert(id.clone(), (h.key_hash.clone(), h.standing()));
        }
    }
    let mut newest: HashMap<String, (String, Standing)> = HashMap::new();
    let mut order: Vec<(&String, &(String, Standing))> = standing.iter().collect();
    order.sort_by(|a, b| a.0.cmp(b.0));
    for (id, (key, st)) in order {
        match newest.get(key) {
            Some((_, cur)) if !st.newer_than(cur) => {}
            _ => {
                newest.insert(key.clone(), (id.clone(), *st));
            }
        }
    }
    let mut superseded: HashSet<usize> =
        held.iter().enumerate().filter(|(_, (id, h))| !h.key_hash.is_empty() && newest.get(&h.key_hash).is_some_and(|(n, _)| n != id)).map(|(i, _)| i).collect();
    // A version of the record queued after it. A refusal at ingest whose source gives
    // the record's own time is left to the ingest's check by that time.
    let timed = |h: &Held| h.provenance.modified_ms.is_some();
    let asks: Vec<(usize, (String, i64))> = held
        .iter()
        .enumerate()
        .filter(|(i, (_, h))| !superseded.contains(i) && !h.key_hash.is_empty() && (h.by == RefusedBy::Node || !timed(h)))
        .filter_map(|(i, (_, h))| h.place.map(|p| (i, (h.key_hash.clone(), p))))
        .collect();
    if !asks.is_empty() {
        let answers = parts.dedup.queued_after(asks.iter().map(|(_, a)| a.clone()).collect()).await?;
        superseded.extend(asks.into_iter().zip(answers).filter(|(_, later)| *later).map(|((i, _), _)| i));
    }
    let mut entries = Vec::new();
    let mut done: Vec<(String, u32, String)> = Vec::new();
    let mut judge: Vec<(String, Held)> = Vec::new();
    for (i, (id, h)) in held.into_iter().enumerate() {
        let is_known = h.message_id.as_ref().is_some_and(|m| known.contains(m));
        // The node's refused version queued again since has moved on from its place;
        // still at it, its refusal is being settled by the publisher: left kept.
        let now = h.message_id.as_ref().and_then(|m| places_now.get(m).copied().flatten());
        let moved = h.by == RefusedBy::Ingest
            || match kept_at.get(&id).copied().flatten() {
                Some(p) => now != Some(p),
                None => now.is_some(),
            };
        let verdict = if is_known && !moved {
            s.in_delivery += 1;
            continue;
        } else if is_known {
            s.unchanged += 1;
            Rejudged::Unchanged
        } else if superseded.contains(&i) {
            s.superseded += 1;
            Rejudged::Superseded
        } else {
            judge.push((id, h));
            continue;
        };
        let cpi = Some(h.provenance.cpi.as_str()).filter(|c| !c.is_empty());
        entries.push(NewEntry::now(Event::Rejudged { kept: id.clone(), verdict }, h.message_id.as_deref(), None, cpi));
        done.push((id, h.attempts, verdict.as_str().to_string()));
    }
    parts.audit.record(std::mem::take(&mut entries)).await?;
    kept.settle(std::mem::take(&mut done)).await?;
    for chunk in judge.chunks(parts.cfg.batch.max(1)) {
        let mut ingest = parts.ingest(today)?;
        let mut tickets: Vec<(&str, &Held)> = Vec::new();
        for (id, h) in chunk {
            // Read back with the provenance it was read with; a body that cannot be
            // read back (kept by another build) stays kept.
            let rec = match &h.body {
                Body::Record(json) => silgate_core::json::parse_record(json).ok(),
                Body::Document(xml) => silgate_std1546::read::read_document(xml.as_bytes(), h.provenance.clone()).0,
            };
            let Some(mut rec) = rec else {
                s.not_replayable += 1;
                continue;
            };
            *rec.provenance_mut() = h.provenance.clone();
            if matches!(h.body, Body::Document(_)) {
                // What is judged again is the document kept: its fields are its paths.
                rec.provenance_mut().fields = silgate_core::SourceFields::national();
            }
            // The version goes again as itself, and refused again it stays this refusal.
            if let (Some(message_id), Some(content_hash)) = (&h.message_id, &h.content_hash) {
                let identity = silgate_dedup::Identity { message_id: message_id.clone(), key_hash: h.key_hash.clone(), content_hash: content_hash.clone() };
                ingest.translator.pin(identity, id.clone());
            }
            ingest.offer(SourceItem::Record(Box::new(rec)), Some(tickets.len())).await?;
            tickets.push((id.as_str(), h));
        }
        ingest.flush().await?;
        for (t, verdict) in ingest.take_verdicts() {
            let Some((id, h)) = tickets.get(t) else { continue };
            let cpi = Some(h.provenance.cpi.as_str()).filter(|c| !c.is_empty());
            let (v, message_id, outcome) = match verdict {
                crate::translate::Verdict::Queued(m) => (Rejudged::Queued, Some(m.clone()), format!("queued {m}")),
                // Known to the index as it is being refused (the publisher settles it
                // now): left kept.
                crate::translate::Verdict::Unchanged(_) if h.by == RefusedBy::Node => {
                    s.in_delivery += 1;
                    continue;
                }
                crate::translate::Verdict::Unchanged(m) => (Rejudged::Unchanged, Some(m), Rejudged::Unchanged.as_str().to_string()),
                crate::translate::Verdict::Superseded(m) => (Rejudged::Superseded, Some(m), Rejudged::Superseded.as_str().to_string()),
                crate::translate::Verdict::Rejected(_, again) => {
                    s.rejected += 1;
                    entries.push(NewEntry::now(Event::Rejudged { kept: id.to_string(), verdict: Rejudged::RejectedAgain }, h.message_id.as_deref(), None, cpi));
                    // Kept again under its id; under another (it had no identity to go
                    // again with), which holds its record: this one is settled then.
                    if let Some(again) = again.filter(|a| a != id) {
                        done.push((id.to_string(), h.attempts, format!("rejected-again as {again}")));
                    }
                    continue;
                }
            };
            match v {
                Rejudged::Queued => s.queued += 1,
                Rejudged::Superseded => s.superseded += 1,
                _ => s.unchanged += 1,
            }
            entries.push(NewEntry::now(Event::Rejudged { kept: id.to_string(), verdict: v }, message_id.as_deref(), None, cpi));
            done.push((id.to_string(), h.attempts, outcome));
        }
        parts.audit.record(std::mem::take(&mut entries)).await?;
        kept.settle(std::mem::take(&mut done)).await?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test stores are temporary

    use super::*;
    use silgate_core::{Position, SourceSystem};

    fn refusal(id: &str, cpi: &str, rule: &str, key: &str, body: Option<Body>) -> NewKept {
        let mut provenance = Provenance::new(SourceSystem::CanonicalJson, "in.jsonl", Position::Line(3));
        provenance.cpi = cpi.into();
        NewKept {
            id: id.into(),
            by: RefusedBy::Ingest,
            provenance,
            cpi: cpi.into(),
            issues: vec![Issue::warning("a", "first.warning", "w"), Issue::error("worker/birth_date", rule, "m")],
            key_hash: key.into(),
            message_id: None,
            content_hash: None,
            code: None,
            body,
            place: Some(7),
            seq: 0,
        }
    }

    #[tokio::test]
    async fn given_refusals_the_store_should_list_keep_again_settle_erase_and_forget_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeptStore::open(&dir.path().join("kept.db")).await.unwrap();
        let cv = Body::Record("{\"kind\":\"cv\",\"worker\":{\"fiscal_code\":\"RSSMRA80A01H501U\"}}".into());
        store
            .keep(vec![
                refusal("i-1", "CPIBA01", "cf.checksum", "k1", Some(cv.clone())),
                refusal("i-2", "CPIFG01", "xsd.pattern", "k2", Some(Body::Document("<x/>".into()))),
                refusal("i-3", "CPIFG01", "json.syntax", "", None),
            ])
            .await
            .unwrap();
        let all = store.list(&Filter::default()).await.unwrap();
        assert_eq!(all.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["i-1", "i-2", "i-3"]);
        assert_eq!((all[0].rule.as_str(), all[0].field.as_str()), ("cf.checksum", "worker/birth_date"), "the first error, not the first issue");
        assert_eq!(all[0].provenance.position, Position::Line(3));
        assert!(all[0].replayable && all[1].replayable && !all[2].replayable);
        let st = &store;
        let by = |f: Filter| async move { st.list(&f).await.unwrap().into_iter().map(|k| k.id).collect::<Vec<_>>() };
        assert_eq!(by(Filter { cpi: Some("CPIFG01".into()), ..Filter::default() }).await, ["i-2", "i-3"]);
        assert_eq!(by(Filter { rule: Some("xsd.pattern".into()), ..Filter::default() }).await, ["i-2"]);
        assert_eq!(by(Filter { id: Some("i-3".into()), ..Filter::default() }).await, ["i-3"]);
        assert!(by(Filter { since_ms: Some(now_ms() + 60_000), ..Filter::default() }).await.is_empty());

        // Refused again under the same id: one refusal, the new reason, counted.
        store.keep(vec![refusal("i-1", "CPIBA01", "comune.not-valid-at-date", "k1", Some(cv))]).await.unwrap();
        let again = store.list(&Filter { id: Some("i-1".into()), ..Filter::default() }).await.unwrap();
        assert_eq!((again.len(), again[0].rule.as_str(), again[0].attempts), (1, "comune.not-valid-at-date", 2));
        assert!(store.body("i-1").await.unwrap().is_some_and(|h| h.place == Some(7) && h.key_hash == "k1"));

        // Settled: out of the default list, its record gone, its outcome kept.
        store.settle(vec![("i-1".into(), 1, "stale".into()), ("i-2".into(), 1, "queued m".into())]).await.unwrap();
        assert_eq!(by(Filter::default()).await, ["i-3", "i-1"], "oldest first: i-1 was refused again last");
        let settled = store.list(&Filter { id: Some("i-2".into()), all: true, ..Filter::default() }).await.unwrap();
        assert_eq!((settled[0].state, settled[0].outcome.as_deref(), settled[0].replayable), (KeptState::Replayed, Some("queued m"), false));
        assert!(store.body("i-2").await.unwrap().is_none());

        // An erasure by key and by the code in a record; retention by age.
        assert_eq!(store.erase(vec!["nokey".into()], "rssmra80a01h501u".into()).await.unwrap(), 1, "the code in any case");
        assert_eq!(store.erase(vec![String::new()], String::new()).await.unwrap(), 0, "an empty key or code names nothing");
        assert_eq!(by(Filter { all: true, ..Filter::default() }).await, ["i-2", "i-3"]);
        assert_eq!(store.forget_before(now_ms() + 1).await.unwrap(), 2);
        assert!(by(Filter { all: true, ..Filter::default() }).await.is_empty());
    }

    #[test]
    fn given_kept_versions_of_one_record_the_newest_should_be_the_source_s_then_the_order_s() {
        let st = |timed: Option<i64>, place: i64, read: bool, at_ms: i64, seq: i64| Standing { timed, place: Some(place), read, at_ms, seq };
        assert!(st(Some(300), 1, false, 1, 0).newer_than(&st(Some(200), 9, true, 9, 9)), "the source's time first");
        assert!(st(None, 6, false, 1, 0).newer_than(&st(Some(200), 5, true, 9, 9)), "else the place");
        // At one place: refused at ingest after the batch whose last version the node
        // refused later.
        assert!(st(None, 5, true, 1, 2).newer_than(&st(None, 5, false, 9, 0)));
        assert!(st(None, 5, true, 1, 3).newer_than(&st(None, 5, true, 1, 2)), "then the read order in the batch");
        assert!(!st(None, 5, true, 1, 2).newer_than(&st(None, 5, true, 1, 2)));
    }

    #[test]
    fn given_a_refusal_its_id_should_follow_its_place_and_content() {
        let k = silgate_dedup::Keyer::new(&[7; 32]);
        let p = Provenance::new(SourceSystem::Sintesi, "feed.xml", Position::Line(4));
        let q = Provenance::new(SourceSystem::Sintesi, "feed.xml", Position::Line(5));
        assert_eq!(ingest_id(&k, &p, "a"), ingest_id(&k, &p, "a"));
        assert_ne!(ingest_id(&k, &p, "a"), ingest_id(&k, &p, "b"));
        assert_ne!(ingest_id(&k, &p, "a"), ingest_id(&k, &q, "a"));
        assert_eq!(ingest_id(&k, &p, "a").len(), 18);
        assert_eq!(node_id("0123456789abcdef0123"), "n-0123456789abcdef");
    }
}
