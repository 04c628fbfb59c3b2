//! The dedup index: which record versions exist, which were delivered, and the eGov
//! message id each one travels under; shared by ingest (is this version new?) and the
//! publisher (was it delivered? under which eGov id?), so neither calls into the
//! other's crate.
//!
//! - `messages`: one row per message id (record version) ever queued, with its state
//!   (`queued`, `delivered`, `refusing`, `refused`, `dead`, `purged`, `erased`, `lost`), its eGov
//!   id once allocated, and the node's receipt.
//! - `latest`: per business key (hashed), the content hash last delivered. An ingest
//!   whose content hash equals it is *unchanged* and is not queued (DESIGN §3.3).
//! - `egov_counter`: the persisted 7-digit progressive of the eGov ids, per sender.
//!   An id is allocated once per message id, stored before the first send, and reused
//!   on every retry (egov.md).
//!
//! - `sent_codes`: per business key, the communication code last queued (what a later
//!   closure names as the code it closes); `seen_inputs`: inputs processed whole (a PEC
//!   message by identificativo + content hash).
//! - `keying` (schema 4): the fingerprint of the region's secret every hash is keyed
//!   with ([`Keyer`]), and whether the index holds rows of builds that hashed plain
//!   (`legacy`), adopted one record at a time as ingest meets them again
//!   ([`DedupIndex::adopt`]).
//!
//! The publisher marks a message delivered here *before* it acks the queue (DESIGN
//! §3.2): after a crash between the two, the redelivered item is found delivered and
//! acked without a second send.
//!
//! # Layout
//!
//! - `lib.rs`: [`DedupIndex`] (the backend chosen by config), [`Admission`], [`Identity`],
//!   [`sha256_hex`], [`DedupError`], the schemas.
//! - `keyed.rs`: [`Keyer`], the identity of a record version keyed under the region's
//!   secret, and [`legacy_identity`], the plain one older builds stored.
//! - `sqlite.rs`: [`SqliteDedup`]; `pg.rs`: [`PgDedup`] (same tables, `dedup_` prefix).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod keyed;
mod pg;
mod sqlite;

pub use keyed::{Keyer, legacy_identity, legacy_key_hash, new_secret};
pub use pg::PgDedup;
pub use sqlite::{Carried, SqliteDedup, carry_settled, mark_lost, raise_counter, readable};

use sha2::{Digest, Sha256};
use silgate_store::migrate::{Migration, Schema};
use std::path::Path;

/// Errors of the dedup index.
#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    /// Its store failed (SQLite, PostgreSQL, a migration).
    #[error("dedup index: {0}")]
    Store(#[from] silgate_store::StoreError),
    /// An allocation of eGov ids returned none.
    #[error("dedup index: no eGov id was allocated")]
    NoEgovId,
    /// The eGov progressive of a sender ran out of its 7 digits.
    #[error("dedup index: eGov counter for {0} exhausted (7 digits)")]
    CounterExhausted(String),
    /// The index was keyed under another secret than the one it is opened with: its
    /// hashes would never match (every record would look new and be sent again).
    #[error(
        "dedup index: it was keyed with another secret (fingerprint {index}) than secret_file's (fingerprint {ours}): give every instance of this index the region's one secret file (copy it from the instance that made the index, or restore it from the backup)"
    )]
    OtherSecret {
        /// The fingerprint the index keeps.
        index: String,
        /// The fingerprint of the secret it was opened with.
        ours: String,
    },
}

impl From<rusqlite::Error> for DedupError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<tokio_postgres::Error> for DedupError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Store(e.into())
    }
}

impl DedupError {
    /// Stable short code.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Store(e) => e.as_code(),
            Self::CounterExhausted(_) | Self::NoEgovId => "dedup.counter",
            Self::OtherSecret { .. } => "dedup.secret",
        }
    }
}

/// Lowercase hex of SHA-256 over length-prefixed parts.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// The SQLite index's migrations.
pub(crate) const SQLITE_SCHEMA: Schema = Schema {
    store: "dedup",
    migrations: &[
        Migration { version: 1, name: "messages, latest, egov_counter, sent_codes, seen_inputs", sql: SQLITE_V1, breaks_older: false },
        Migration { version: 2, name: "queued_order: versions of a record in order", sql: SQLITE_V2, breaks_older: true },
        Migration { version: 3, name: "issued_codes: each code's CPI", sql: SQLITE_V3, breaks_older: false },
        // An older build would hash plain: it would miss every keyed row and send again.
        Migration { version: 4, name: "keying: keyed hashes, rows of plain ones adopted", sql: SQLITE_V4, breaks_older: true },
        // Only adds: an older build writes no source time, and its versions go in ingest order.
        Migration { version: 5, name: "source_ms: versions in the source's own order", sql: SQLITE_V5, breaks_older: false },
    ],
    every_open: "",
};

/// The order in which versions were queued (a row an older build queued has none and
/// holds no version back), and the lookup of a record's waiting versions.
const SQLITE_V2: &str = "
ALTER TABLE messages ADD COLUMN queued_order INTEGER;
CREATE INDEX IF NOT EXISTS messages_queued_order ON messages (queued_order);
CREATE INDEX IF NOT EXISTS messages_key_state ON messages (key_hash, state);
";

const SQLITE_V1: &str = "
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

/// Every communication code this gateway queued, with the CPI of its record (and the
/// region, its first two digits): whose code a later record may name as the one it
/// replaces or closes. Codes queued before this table existed are not in it.
const SQLITE_V3: &str = "
CREATE TABLE IF NOT EXISTS issued_codes (code TEXT PRIMARY KEY, cpi TEXT NOT NULL, region TEXT NOT NULL, at_ms INTEGER NOT NULL);
";

/// The secret's fingerprint, and whether rows of builds that hashed plain are here (an
/// index that held anything when it was migrated).
const SQLITE_V4: &str = "
CREATE TABLE IF NOT EXISTS keying (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO keying (name, value) SELECT 'legacy', '1'
    WHERE EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM latest) OR EXISTS (SELECT 1 FROM sent_codes) OR EXISTS (SELECT 1 FROM seen_inputs);
";

/// When the source last changed each version (its `modified_ms`), where it said.
const SQLITE_V5: &str = "ALTER TABLE messages ADD COLUMN source_ms INTEGER;";

/// One record met again by ingest in an index that holds rows of older builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// Its identity as older builds stored it ([`legacy_identity`]).
    pub plain: Identity,
    /// Its keyed identity ([`Keyer::identity`]).
    pub keyed: Identity,
    /// Its CPI: a code remembered under the plain key moves only if it is this CPI's
    /// (two CPIs' vacancies of one employer and local id shared a plain key).
    pub cpi: String,
}

/// A communication code queued for a record: its business key (hashed) and its CPI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The record's hashed business key.
    pub key_hash: String,
    /// The 25-character code.
    pub code: String,
    /// The record's CPI.
    pub cpi: String,
    /// True for a send (a code a later version or a closure names); false for a
    /// closure.
    pub send: bool,
}

/// What the index decided for a version a queue hands out ([`DedupIndex::fates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Nothing against sending it (its own checks still apply).
    Open,
    /// Marked dead: it goes to the dead-letter store, not to the node.
    Dead,
    /// Its person's content was erased: dropped, never sent.
    Erased,
}

impl Fate {
    fn of(state: Option<&str>) -> Self {
        match state {
            Some("dead") => Self::Dead,
            Some("erased") => Self::Erased,
            _ => Self::Open,
        }
    }
}

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

/// A record version's identity, computed once where the record enters ingest and
/// carried with it to the queue item: what the index is asked about and told of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
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
    Postgres(PgDedup),
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
    pub async fn open(path: &Path) -> Result<Self, DedupError> {
        Ok(Self::Sqlite(SqliteDedup::open(path).await?))
    }

    /// Connects to PostgreSQL and creates the tables if needed; over TLS
    /// (`sslmode=require`) verified against `tls`.
    pub async fn postgres(conninfo: &str, tls: &silgate_store::pg::PgTls) -> Result<Self, DedupError> {
        Ok(Self::Postgres(PgDedup::connect(conninfo, tls).await?))
    }

    /// Binds the index to the region's secret: an index that has none yet keeps its
    /// fingerprint; one keyed with another secret is refused
    /// ([`DedupError::OtherSecret`]). Also learns whether the index holds rows of
    /// builds that hashed plain ([`DedupIndex::holds_legacy`]).
    pub async fn bind(&self, keyer: &Keyer) -> Result<(), DedupError> {
        each!(self, d => d.bind(keyer.fingerprint().to_string()).await)
    }

    /// True when the index holds rows stored by builds that hashed plain (it held
    /// anything when schema 4 came): ingest then adopts each record's rows when it
    /// meets the record ([`DedupIndex::adopt`]), and asks for them where it looks a
    /// key up before that.
    pub fn holds_legacy(&self) -> bool {
        each!(self, d => d.holds_legacy())
    }

    /// Moves the rows an older build stored under a record's plain identity to its
    /// keyed one: the content last delivered when it is this version's (its hash keyed
    /// too), the code last queued when it is the record's CPI's (or its CPI was not
    /// kept), and the key of its versions still queued. Returns, for each, the plain
    /// message id when that very version is known under it (queued or delivered by the
    /// older build): the version keeps that id, so that it is not taken as new nor told
    /// twice. Idempotent.
    pub async fn adopt(&self, records: Vec<Adoption>) -> Result<Vec<Option<String>>, DedupError> {
        each!(self, d => d.adopt(records).await)
    }

    /// Judges a batch of offers (read only: nothing is recorded until
    /// [`DedupIndex::mark_queued`], after the queue has committed them).
    pub async fn admit(&self, offers: Vec<Identity>) -> Result<Vec<Admission>, DedupError> {
        each!(self, d => d.admit(offers).await)
    }

    /// Records that these versions are in the durable queue.
    pub async fn mark_queued(&self, offers: Vec<Identity>) -> Result<(), DedupError> {
        self.mark_queued_at(offers.into_iter().map(|o| (o, None)).collect()).await
    }

    /// [`DedupIndex::mark_queued`] with each version's source time (Unix ms, when its
    /// source said when it last changed it): what [`DedupIndex::superseded`] compares.
    pub async fn mark_queued_at(&self, offers: Vec<(Identity, Option<i64>)>) -> Result<(), DedupError> {
        each!(self, d => d.mark_queued(offers).await)
    }

    /// For each (business key hashed, source time), true when a version of that key
    /// queued or delivered was changed later in its source: the offered one is older
    /// and must not be sent (it would replace the newer one at the node). Versions
    /// without a source time compare with nothing.
    pub async fn superseded(&self, asks: Vec<(String, i64)>) -> Result<Vec<bool>, DedupError> {
        each!(self, d => d.superseded(asks).await)
    }

    /// The place in the order of queueing the last version queued took (0 when none
    /// was): a record set aside now (a rejection kept for replay) is behind every
    /// version queued after it, see [`DedupIndex::queued_after`].
    pub async fn order_now(&self) -> Result<i64, DedupError> {
        each!(self, d => d.order_now().await)
    }

    /// For each message id, true when the index holds that version queued, delivered
    /// or dead-lettered (not refused, nor being refused, purged, erased or lost).
    pub async fn known(&self, ids: Vec<String>) -> Result<Vec<bool>, DedupError> {
        each!(self, d => d.known(ids).await)
    }

    /// For each message id, its place in the order of queueing (`None`: not known, or
    /// queued by a build that kept no order, or lost).
    pub async fn orders_of(&self, ids: Vec<String>) -> Result<Vec<Option<i64>>, DedupError> {
        each!(self, d => d.orders_of(ids).await)
    }

    /// For each (business key hashed, place in the order), true when a version of that
    /// key was queued after that place and is queued, delivered or dead-lettered (a
    /// dead letter is replayed, not replaced): a version set aside then (refused,
    /// rejected) is older than it, and replayed it would replace it.
    pub async fn queued_after(&self, asks: Vec<(String, i64)>) -> Result<Vec<bool>, DedupError> {
        each!(self, d => d.queued_after(asks).await)
    }

    /// For each message id, true when an earlier queued version of its record is not
    /// settled yet (neither delivered, refused nor dead-lettered): it must wait. The
    /// order is the order in which [`DedupIndex::mark_queued`] saw them; `None` when
    /// the index has no place for it (not told yet that it is queued, or queued by a
    /// build that kept no order).
    pub async fn waiting_behind(&self, ids: Vec<String>) -> Result<Vec<Option<bool>>, DedupError> {
        each!(self, d => d.waiting_behind(ids).await)
    }

    /// Records that these versions went to the dead-letter store: settled, they hold
    /// no later version of their record back (a replay queues them again).
    pub async fn mark_dead(&self, message_id: &str) -> Result<(), DedupError> {
        each!(self, d => d.set_state(message_id, "dead").await)
    }

    /// Remembers the codes just queued: each one's CPI, and for a send the code last
    /// queued for its business key (what a later closure or update of the record names
    /// as the code it replaces).
    pub async fn remember_codes(&self, codes: Vec<Issued>) -> Result<(), DedupError> {
        each!(self, d => d.remember_codes(codes).await)
    }

    /// For each code, the CPI of the record it was queued for; `None` for a code this
    /// gateway never queued (or queued before it kept their CPIs).
    pub async fn code_owners(&self, codes: Vec<String>) -> Result<Vec<Option<String>>, DedupError> {
        each!(self, d => d.code_owners(codes).await)
    }

    /// True when an input with this key (a PEC message: identificativo + content hash)
    /// was processed whole before.
    pub async fn input_seen(&self, key: &str) -> Result<bool, DedupError> {
        each!(self, d => d.input_seen(key.to_string()).await)
    }

    /// Records that an input was processed whole (every record queued or quarantined).
    pub async fn mark_input(&self, key: &str) -> Result<(), DedupError> {
        each!(self, d => d.mark_input(key.to_string()).await)
    }

    /// For each hashed business key, the communication code last queued for it.
    pub async fn last_codes(&self, keys: Vec<String>) -> Result<Vec<Option<String>>, DedupError> {
        each!(self, d => d.last_codes(keys).await)
    }

    /// For each message id, its receipt when it was already delivered.
    pub async fn delivered_many(&self, ids: Vec<String>) -> Result<Vec<Option<String>>, DedupError> {
        each!(self, d => d.delivered_many(ids).await)
    }

    /// The receipt, when this message id was already delivered.
    pub async fn delivered(&self, message_id: &str) -> Result<Option<String>, DedupError> {
        Ok(self.delivered_many(vec![message_id.to_string()]).await?.pop().flatten())
    }

    /// The eGov id of each offer, allocating (with `make(counter)`) and persisting in one
    /// commit those that have none yet: durable before the first send, reused on every
    /// retry.
    pub async fn egov_ids(&self, offers: Vec<Identity>, sender: &str, make: impl Fn(u64) -> Option<String> + Send + 'static) -> Result<Vec<String>, DedupError> {
        each!(self, d => d.egov_ids(offers, sender, make).await)
    }

    /// [`DedupIndex::egov_ids`] for one offer.
    pub async fn egov_id(&self, offer: &Identity, sender: &str, make: impl Fn(u64) -> Option<String> + Send + 'static) -> Result<String, DedupError> {
        self.egov_ids(vec![offer.clone()], sender, make).await?.pop().ok_or_else(|| DedupError::NoEgovId)
    }

    /// Records deliveries (before the queue is acked), with the node's receipts.
    pub async fn mark_delivered_many(&self, done: Vec<(Identity, String)>) -> Result<(), DedupError> {
        each!(self, d => d.mark_delivered_many(done).await)
    }

    /// [`DedupIndex::mark_delivered_many`] for one.
    pub async fn mark_delivered(&self, offer: &Identity, receipt: &str) -> Result<(), DedupError> {
        self.mark_delivered_many(vec![(offer.clone(), receipt.to_string())]).await
    }

    /// Records that the node refused this version for good and that it is about to
    /// leave the queue: settled (it holds no later version of its record back), still
    /// known (a re-export admitted now would be queued beside the item being acked, and
    /// dropped with it). [`DedupIndex::mark_refused`] follows the ack.
    pub async fn mark_refusing(&self, message_id: &str) -> Result<(), DedupError> {
        each!(self, d => d.set_state(message_id, "refusing").await)
    }

    /// Records a permanent refusal by the node, once the item left the queue: the
    /// version is not known any more (a re-export is sent again).
    pub async fn mark_refused(&self, message_id: &str) -> Result<(), DedupError> {
        each!(self, d => d.mark_refused(message_id).await)
    }

    /// Records that these dead-lettered versions are being deleted (their retention
    /// is past): not known any more (a re-export is judged and sent again), holding
    /// nothing back, and not reopened by a replay. Only versions still `dead` change.
    pub async fn mark_purged(&self, ids: Vec<String>) -> Result<(), DedupError> {
        each!(self, d => d.mark_purged(ids).await)
    }

    /// For each message id, what the index decided for it that its queue may not
    /// reflect yet: marked dead ([`DedupIndex::mark_dead`]: its move to the
    /// dead-letter store was decided and audited, and may not have happened), or
    /// erased ([`DedupIndex::erase`]: a broker still holds it).
    pub async fn fates(&self, ids: Vec<String>) -> Result<Vec<Fate>, DedupError> {
        each!(self, d => d.fates(ids).await)
    }

    /// A person's erasure: forgets these business keys (hashed). Their versions keep
    /// only their message id, marked `erased` (a queue that cannot delete one message,
    /// RabbitMQ, still hands them out: the publisher drops them), their content hash,
    /// eGov id and receipt go, and so do the content last delivered and the code last
    /// queued: a later export of that person is new and is sent. Returns the message
    /// ids erased.
    pub async fn erase(&self, keys: Vec<String>) -> Result<Vec<String>, DedupError> {
        each!(self, d => d.erase(keys).await)
    }

    /// The message ids of every version of these business keys (hashed): what an
    /// erasure of those keys will forget (audited before it does).
    pub async fn versions_of(&self, keys: Vec<String>) -> Result<Vec<String>, DedupError> {
        each!(self, d => d.versions_of(keys).await)
    }

    /// Every CPI a code was queued for (where a person's records may be, by business
    /// key).
    pub async fn cpis(&self) -> Result<Vec<String>, DedupError> {
        each!(self, d => d.cpis().await)
    }

    /// Forgets the state of these message ids so a replay resends them.
    pub async fn reopen(&self, ids: Vec<String>) -> Result<(), DedupError> {
        each!(self, d => d.reopen(ids).await)
    }
}

#[cfg(test)]
mod tests;
