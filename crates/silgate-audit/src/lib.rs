//! The audit log: every state change of every record, append-only, hash-chained.
//!
//! DESIGN §3.5: received, rejected(reason), queued, attempt(n, outcome),
//! delivered(receipt), dead-lettered, replayed. Each [`Entry`] stores the hash of the
//! entry before it, so editing, inserting or deleting an entry breaks the chain and
//! [`AuditLog::verify`] says where.
//!
//! # Chains
//!
//! There is one chain per *instance* (a gateway process's configured name). Several
//! processes may share a name (an operator's `silgate ingest` beside the running
//! service): every append reads the chain's head inside its own write transaction
//! (SQLite `BEGIN IMMEDIATE`, PostgreSQL `SELECT ... FOR UPDATE` on the head row), so a
//! chain is always serialised, whoever writes it. Scale-out instances get one chain
//! each, so they never wait on one another. The head row (`seq`, `hash`) also makes
//! the deletion of the *last* entries visible, which a bare chain could not show.
//!
//! # What is stored
//!
//! Ids and hashes only: message id, 25-digit communication code, CPI code, the event,
//! and a short detail (attempt number, outcome class, the node's receipt id, a rule
//! id). Never CV content, never a fiscal code.
//!
//! # Writing
//!
//! [`Auditor`] is the cheap, cloneable handle the pipeline uses. Appends from many
//! tasks are gathered by one writer task and committed together (group commit); each
//! caller's future resolves once its entries are committed.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod anchor;
mod entry;
pub mod event;
mod pg;
mod sqlite;
mod writer;

pub use entry::{Entry, GAP_EXAMPLES, GENESIS, Gap, NewEntry, Problem, Query, VerifyReport};
pub use event::{DeadReason, Event, Input, Rejudged, SeenAgain};
pub use writer::Auditor;

use std::path::Path;

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// SQLite failed.
    #[error("audit database (SQLite): {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("audit database (PostgreSQL): {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// Opening or migrating the store failed.
    #[error("audit database: {0}")]
    Store(#[from] silgate_store::StoreError),
    /// The writer task is gone (the process is shutting down).
    #[error("audit writer stopped")]
    WriterStopped,
    /// A blocking task panicked or was cancelled.
    #[error("audit task failed: {0}")]
    Task(String),
}

impl AuditError {
    /// Stable short code for metrics.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "audit.sqlite",
            Self::Postgres(_) => "audit.postgres",
            Self::Store(e) => e.as_code(),
            Self::WriterStopped => "audit.stopped",
            Self::Task(_) => "audit.task",
        }
    }
}

/// The audit store: SQLite (embedded default) or PostgreSQL (shared deployments).
#[derive(Debug, Clone)]
pub enum AuditLog {
    /// A SQLite file.
    Sqlite(sqlite::SqliteAudit),
    /// A PostgreSQL database.
    Postgres(pg::PgAudit),
}

impl AuditLog {
    /// Opens (creating if needed) a SQLite audit file.
    pub async fn sqlite(path: &Path) -> Result<Self, AuditError> {
        Ok(Self::Sqlite(sqlite::SqliteAudit::open(path).await?))
    }

    /// Connects to PostgreSQL (`host=... user=... dbname=...` or a URL) and creates the
    /// tables if needed; over TLS (`sslmode=require`) verified against `tls`.
    pub async fn postgres(conninfo: &str, tls: &silgate_store::pg::PgTls) -> Result<Self, AuditError> {
        Ok(Self::Postgres(pg::PgAudit::connect(conninfo, tls).await?))
    }

    /// Appends entries to `instance`'s chain in one transaction; returns them as stored.
    pub async fn append(&self, instance: &str, entries: Vec<NewEntry>) -> Result<Vec<Entry>, AuditError> {
        match self {
            Self::Sqlite(s) => s.append(instance, entries).await,
            Self::Postgres(p) => p.append(instance, entries).await,
        }
    }

    /// Entries matching `q`, in chain order (instance, seq).
    pub async fn query(&self, q: &Query) -> Result<Vec<Entry>, AuditError> {
        match self {
            Self::Sqlite(s) => s.query(q).await,
            Self::Postgres(p) => p.query(q).await,
        }
    }

    /// The last entry of `instance`'s chain (its head), if any.
    pub async fn last(&self, instance: &str) -> Result<Option<Entry>, AuditError> {
        match self {
            Self::Sqlite(s) => s.last(instance).await,
            Self::Postgres(p) => p.last(instance).await,
        }
    }

    /// Walks every chain and reports the first problem of each, then checks the log
    /// is complete: every delivered record version has its `received` and `queued`
    /// entries ([`VerifyReport::gaps`], with the first [`GAP_EXAMPLES`]).
    pub async fn verify(&self) -> Result<VerifyReport, AuditError> {
        let mut r = match self {
            Self::Sqlite(s) => s.verify().await?,
            Self::Postgres(p) => p.verify().await?,
        };
        let (n, first) = match self {
            Self::Sqlite(s) => s.gaps(GAP_EXAMPLES).await?,
            Self::Postgres(p) => p.gaps(GAP_EXAMPLES).await?,
        };
        r.gaps = n;
        r.gap_examples = first;
        Ok(r)
    }

    /// The head of every chain that has entries: (instance, seq, hash).
    pub async fn heads(&self) -> Result<Vec<(String, i64, String)>, AuditError> {
        match self {
            Self::Sqlite(s) => s.heads().await,
            Self::Postgres(p) => p.heads().await,
        }
    }

    /// The stored hash of each (instance, seq) entry; `None` where there is none.
    pub async fn hashes_at(&self, at: Vec<(String, i64)>) -> Result<Vec<Option<String>>, AuditError> {
        match self {
            Self::Sqlite(s) => s.hashes_at(at).await,
            Self::Postgres(p) => p.hashes_at(at).await,
        }
    }

    /// Of `ids` (message ids), those with no entry of `event` (`received`, `queued`,
    /// `delivered`): what a crash between a state change and its entry left untold.
    pub async fn lacking(&self, event: &'static str, ids: Vec<String>) -> Result<Vec<String>, AuditError> {
        if ids.is_empty() {
            return Ok(ids);
        }
        match self {
            Self::Sqlite(s) => s.lacking(event, ids).await,
            Self::Postgres(p) => p.lacking(event, ids).await,
        }
    }
}

#[cfg(test)]
mod tests;
