//! Durable queues behind the [`Queue`] trait of `silgate-core`.
//!
//! - [`SqliteQueue`]: the embedded default. One file, WAL, batched commits, leases
//!   with a visibility timeout, a dead-letter table, a bounded depth that blocks
//!   producers when reached.
//! - [`RabbitQueue`]: RabbitMQ through lapin, for scale-out. Publisher confirms (an
//!   enqueue returns only when the broker confirmed every message), a durable quorum
//!   queue with a delivery limit and a dead-letter exchange, prefetch, manual acks, and
//!   reconnection with backoff after a broker restart.
//!
//! [`AnyQueue`] is what the binary holds: the backend chosen by config, with the same
//! trait. The queue knows nothing of sources or of the node: it moves [`QueueItem`]s.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod rabbit;
mod sqlite;

pub use rabbit::{RabbitConfig, RabbitQueue};
pub use silgate_core::{DeadLetter, FullPolicy, LeaseId, Leased, Queue, QueueError, QueueItem, QueueStats};
pub use sqlite::{CarriedItems, SqliteConfig, SqliteQueue, carry_waiting, erase_ids, readable};

use std::time::Duration;

/// The queue backend chosen by config.
#[derive(Debug, Clone)]
pub enum AnyQueue {
    /// Embedded SQLite.
    Sqlite(SqliteQueue),
    /// RabbitMQ.
    Rabbit(RabbitQueue),
}

impl AnyQueue {
    /// `sqlite` or `rabbitmq`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Rabbit(_) => "rabbitmq",
        }
    }

    /// Makes the items leased under `holder` (an instance's name) visible again now;
    /// returns how many. Call it only holding that name's lock: the leases are then
    /// the previous process's, which died with them. RabbitMQ returns a dead
    /// connection's deliveries by itself: nothing to do there.
    pub async fn take_back(&self, holder: &str) -> Result<usize, QueueError> {
        match self {
            Self::Sqlite(q) => q.take_back(holder).await,
            Self::Rabbit(_) => Ok(0),
        }
    }

    /// The message ids of the dead letters that went to the dead-letter store before
    /// `before_ms` (their retention is past), or `None` on RabbitMQ, whose dead-letter
    /// queue the broker keeps (a `message-ttl` policy on `<queue>.dead`).
    pub async fn dead_before(&self, before_ms: i64) -> Result<Option<Vec<String>>, QueueError> {
        match self {
            Self::Sqlite(q) => q.dead_before(before_ms).await.map(Some),
            Self::Rabbit(_) => Ok(None),
        }
    }

    /// Deletes these dead letters if they are still there and went to the store
    /// before `before_ms` (one replayed meanwhile, or dead-lettered again, stays), with
    /// SQLite's `secure_delete`; returns how many went (nothing on RabbitMQ).
    pub async fn purge_dead(&self, ids: Vec<String>, before_ms: i64) -> Result<usize, QueueError> {
        match self {
            Self::Sqlite(q) => q.purge_dead(ids, before_ms).await,
            Self::Rabbit(_) => Ok(0),
        }
    }

    /// Deletes every item (waiting, leased or dead-lettered) of these business keys
    /// (hashed), with SQLite's `secure_delete`: a person's erasure. Returns their
    /// message ids. RabbitMQ cannot take single messages out of a queue: it deletes
    /// nothing, and the publisher drops what the dedup index marked erased when the
    /// broker hands it out.
    pub async fn erase(&self, keys: Vec<String>) -> Result<Vec<String>, QueueError> {
        match self {
            Self::Sqlite(q) => q.erase(keys).await,
            Self::Rabbit(_) => Ok(Vec::new()),
        }
    }

    /// Rewrites the SQLite file without its free pages, then empties its log: what
    /// acks and deletions left there (acked documents are deleted without
    /// `secure_delete`) is gone from the disk. For an erasure, with no other process on
    /// the file; it takes as long as copying the queue. Nothing on RabbitMQ.
    pub async fn compact(&self) -> Result<(), QueueError> {
        match self {
            Self::Sqlite(q) => q.compact().await,
            Self::Rabbit(_) => Ok(()),
        }
    }

    /// The message ids of the items (waiting, leased or dead-lettered) of these
    /// business keys (hashed): what [`AnyQueue::erase`] would delete. RabbitMQ cannot
    /// tell: none.
    pub async fn held(&self, keys: Vec<String>) -> Result<Vec<String>, QueueError> {
        match self {
            Self::Sqlite(q) => q.held(keys).await,
            Self::Rabbit(_) => Ok(Vec::new()),
        }
    }

    /// The CPIs the queue's items belong to (`""` for an item that names none): where
    /// a person's records may be, by business key. RabbitMQ cannot tell: none.
    pub async fn cpis(&self) -> Result<Vec<String>, QueueError> {
        match self {
            Self::Sqlite(q) => q.cpis().await,
            Self::Rabbit(_) => Ok(Vec::new()),
        }
    }

    /// For each message id the queue holds (waiting, leased or dead-lettered), the
    /// communication code of its item. Only the SQLite queue can tell; RabbitMQ
    /// answers none.
    pub async fn holding(&self, ids: Vec<String>) -> Result<Vec<Option<String>>, QueueError> {
        match self {
            Self::Sqlite(q) => q.holding(ids).await,
            Self::Rabbit(_) => Ok(vec![None; ids.len()]),
        }
    }

    /// Gives the waiting items of each business key the first hash of a pair the
    /// second one (a record an older build queued under a plain hash, now keyed):
    /// its versions stay one queue key, so they still go one at a time in order.
    /// Idempotent. On RabbitMQ the order lives in the dedup index, which moves its own
    /// rows: nothing to do here.
    pub async fn rekey(&self, pairs: Vec<(String, String)>) -> Result<(), QueueError> {
        match self {
            Self::Sqlite(q) => q.rekey(pairs).await,
            Self::Rabbit(_) => Ok(()),
        }
    }
}

macro_rules! each {
    ($self:ident, $q:ident => $e:expr) => {
        match $self {
            AnyQueue::Sqlite($q) => $e,
            AnyQueue::Rabbit($q) => $e,
        }
    };
}

impl Queue for AnyQueue {
    async fn enqueue(&self, items: Vec<QueueItem>) -> Result<usize, QueueError> {
        each!(self, q => q.enqueue(items).await)
    }
    async fn lease(&self, max: usize, wait: Duration) -> Result<Vec<Leased>, QueueError> {
        each!(self, q => q.lease(max, wait).await)
    }
    async fn ack(&self, lease: LeaseId) -> Result<(), QueueError> {
        each!(self, q => q.ack(lease).await)
    }
    async fn ack_all(&self, leases: Vec<LeaseId>) -> Result<(), QueueError> {
        each!(self, q => q.ack_all(leases).await)
    }
    async fn keep_alive(&self, lease: LeaseId) -> Result<(), QueueError> {
        each!(self, q => q.keep_alive(lease).await)
    }
    async fn release(&self, lease: LeaseId, delay: Duration) -> Result<(), QueueError> {
        each!(self, q => q.release(lease, delay).await)
    }
    async fn defer(&self, lease: LeaseId, delay: Duration) -> Result<(), QueueError> {
        each!(self, q => q.defer(lease, delay).await)
    }
    fn orders_keys(&self) -> bool {
        each!(self, q => q.orders_keys())
    }
    async fn dead_letter(&self, lease: LeaseId, reason: &str) -> Result<(), QueueError> {
        each!(self, q => q.dead_letter(lease, reason).await)
    }
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        each!(self, q => q.dead_letters(limit).await)
    }
    async fn replay(&self, ids: &[String]) -> Result<Vec<QueueItem>, QueueError> {
        each!(self, q => q.replay(ids).await)
    }
    async fn stats(&self) -> Result<QueueStats, QueueError> {
        each!(self, q => q.stats().await)
    }
}

#[cfg(test)]
mod tests;
