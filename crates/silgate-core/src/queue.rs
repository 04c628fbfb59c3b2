//! The seam between ingest and delivery: the durable queue.
//!
//! Adapters produce records; the binary turns each accepted record into a
//! [`QueueItem`] (its 1546 document plus the ids the publisher needs) and hands it to
//! a [`Queue`]. The publisher leases items, delivers them, and then acks them. Neither
//! side knows which backend sits in between: `silgate-queue` has the embedded SQLite
//! one (the default) and the RabbitMQ one.
//!
//! # The contract every backend keeps
//!
//! - [`Queue::enqueue`] returns only once the items are durable (SQLite transaction
//!   committed, RabbitMQ publisher confirm received). That is the moment a record is
//!   *accepted* (DESIGN §3.1); the caller gives the source its receipt afterwards.
//! - A leased item that is neither acked nor dead-lettered comes back: after its
//!   visibility timeout (SQLite) or when the consumer's channel closes (RabbitMQ). Its
//!   [`Leased::deliveries`] count grows each time, so the publisher can tell a retry
//!   from a first attempt. Delivery is therefore *at least once*; exactly-once at the
//!   node comes from the message id (the node is idempotent on it).
//! - A full queue blocks the producer ([`FullPolicy::Block`]) instead of growing: back
//!   pressure, not memory growth (DESIGN §3.7).

use crate::{Provenance, RecordKind};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// One record on its way to the national node.
///
/// Holds what delivery needs and nothing a log may not see except `document`, which
/// is the 1546 XML itself (it contains personal data: never log it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    /// Stable id of this record version: hex HMAC-SHA-256, under the region's secret,
    /// over (source system, business key, content hash). The same version always gets
    /// the same id (a version an older build queued keeps its plain SHA-256 one).
    pub message_id: String,
    /// Hex HMAC-SHA-256 of the business key under the region's secret (the key itself
    /// holds a fiscal code).
    pub key_hash: String,
    /// Hex HMAC-SHA-256 of the canonical content under the region's secret.
    pub content_hash: String,
    /// CV or vacancy.
    pub kind: RecordKind,
    /// The region's code in the ministry's table (the communication code's first two
    /// digits).
    pub region: String,
    /// CPI code of the record.
    pub cpi: String,
    /// The 25-character codice comunicazione of this version.
    pub communication_code: String,
    /// Where it came from: system, CPI, origin, position (no personal data). An item
    /// queued by a build that kept it as a `system:origin:position` text is read too
    /// (system parsed, the rest kept as its origin).
    #[serde(deserialize_with = "provenance_or_text")]
    pub source: Provenance,
    /// When silgate received it, Unix milliseconds.
    pub received_ms: i64,
    /// The 1546 XML document.
    pub document: String,
}

/// A lease on a queued item: the publisher owns it until it acks, releases or
/// dead-letters it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased {
    /// The item.
    pub item: QueueItem,
    /// Backend handle of this lease (a row token, a delivery tag).
    pub lease: LeaseId,
    /// How many times the item has been handed out, this lease included (1 the first
    /// time).
    pub deliveries: u32,
}

/// Opaque handle of one lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseId(pub u64);

/// What to do when the queue holds its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FullPolicy {
    /// The producer waits until there is room (the only policy that loses nothing).
    #[default]
    Block,
}

/// An item in the dead-letter store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The item as it was queued.
    pub item: QueueItem,
    /// Why delivery gave up (a rule or error class, never document content).
    pub reason: String,
    /// When it was dead-lettered, Unix milliseconds.
    pub at_ms: i64,
}

/// Counts of a queue, for metrics and `silgate queue stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct QueueStats {
    /// Items waiting to be leased.
    pub ready: u64,
    /// Items leased and not yet acked (`None` when the backend cannot tell).
    pub leased: Option<u64>,
    /// Items in the dead-letter store.
    pub dead: u64,
}

/// Errors of a queue backend.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backend is unreachable or failed; the operation may succeed later.
    #[error("queue backend unavailable: {0}")]
    Unavailable(String),
    /// The broker refused a publish (negative confirm).
    #[error("queue backend refused the item: {0}")]
    Refused(String),
    /// The queue stayed full for longer than the producer was willing to wait.
    #[error("queue full: waited {0:?} for room")]
    Full(Duration),
    /// A lease is not (or no longer) held.
    #[error("unknown or expired lease {0:?}")]
    UnknownLease(LeaseId),
    /// Stored data could not be read back.
    #[error("corrupt queue entry: {0}")]
    Corrupt(String),
}

impl QueueError {
    /// Stable short code for metrics and audit.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "queue.unavailable",
            Self::Refused(_) => "queue.refused",
            Self::Full(_) => "queue.full",
            Self::UnknownLease(_) => "queue.unknown-lease",
            Self::Corrupt(_) => "queue.corrupt",
        }
    }
}

/// A durable queue of [`QueueItem`]s. See the module documentation for the contract.
pub trait Queue: Send + Sync {
    /// Stores `items` durably; returns once they are (all of them, or an error and
    /// none counted). Items whose message id is already waiting may be skipped: the
    /// return value is the number actually added.
    fn enqueue(&self, items: Vec<QueueItem>) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// Leases up to `max` items, waiting up to `wait` for the first one.
    fn lease(&self, max: usize, wait: Duration) -> impl Future<Output = Result<Vec<Leased>, QueueError>> + Send;

    /// Delivery is done: removes the item for good.
    fn ack(&self, lease: LeaseId) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Acks several leases at once (one commit where the backend can). Fails on the
    /// first lease it does not hold; the ones before it are acked.
    fn ack_all(&self, leases: Vec<LeaseId>) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Keeps a lease alive while its holder is still working on it (waiting to retry):
    /// pushes the visibility deadline a full timeout forward. A backend whose leases
    /// do not expire while the holder lives (RabbitMQ) does nothing.
    fn keep_alive(&self, lease: LeaseId) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Gives the item back, to be leased again after `delay`.
    fn release(&self, lease: LeaseId, delay: Duration) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Gives the item back untried, to be leased again after `delay`: this lease does
    /// not count in [`Leased::deliveries`] (the item waited its turn behind an earlier
    /// version of its record; it was not sent).
    fn defer(&self, lease: LeaseId, delay: Duration) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// True when the backend itself never leases a version of a business key while an
    /// earlier one of that key is waiting or leased (the SQLite queue); false when the
    /// publisher must keep that order (RabbitMQ).
    fn orders_keys(&self) -> bool;

    /// Moves the item to the dead-letter store with `reason`.
    fn dead_letter(&self, lease: LeaseId, reason: &str) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Lists up to `limit` dead letters, oldest first, without removing them.
    fn dead_letters(&self, limit: usize) -> impl Future<Output = Result<Vec<DeadLetter>, QueueError>> + Send;

    /// Moves dead letters back to the queue (those with the given message ids, or all
    /// when `ids` is empty); returns them.
    fn replay(&self, ids: &[String]) -> impl Future<Output = Result<Vec<QueueItem>, QueueError>> + Send;

    /// Current counts.
    fn stats(&self) -> impl Future<Output = Result<QueueStats, QueueError>> + Send;
}

/// Reads [`QueueItem::source`]: the provenance, or the text older builds queued.
fn provenance_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Provenance, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Struct(Provenance),
        Text(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::Struct(p) => p,
        Either::Text(t) => {
            let (system, rest) = t.split_once(':').unwrap_or(("", t.as_str()));
            let system = serde_json::from_value(serde_json::Value::String(system.to_string())).unwrap_or_default();
            Provenance::new(system, rest, crate::Position::Unknown)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Position, SourceSystem};

    fn json(source: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"message_id": "m", "key_hash": "k", "content_hash": "c", "kind": "vacancy", "region": "16", "cpi": "CPI01",
            "communication_code": "1600000000000000000000001", "source": source, "received_ms": 1, "document": "<x/>"})
    }

    #[test]
    fn given_an_item_it_should_round_trip_with_its_provenance() {
        let mut p = Provenance::new(SourceSystem::SilPlus, "/in/x.zip", Position::Row { table: "LAVORATORI".into(), row: 2 });
        p.cpi = "CPI01".into();
        let item: QueueItem = serde_json::from_value(json(serde_json::to_value(&p).unwrap())).unwrap();
        assert_eq!(item.source, p);
        let back: QueueItem = serde_json::from_str(&serde_json::to_string(&item).unwrap()).unwrap();
        assert_eq!(back, item);
    }

    #[test]
    fn given_an_item_queued_by_an_older_build_its_text_source_should_be_read() {
        let item: QueueItem = serde_json::from_value(json(serde_json::json!("pec:imap://u@h/INBOX;UID=3:part 1.2"))).unwrap();
        assert_eq!(item.source, Provenance::new(SourceSystem::Pec, "imap://u@h/INBOX;UID=3:part 1.2", Position::Unknown));
    }
}
