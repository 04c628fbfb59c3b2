//! What every store of silgate shares (the queue, the dedup index, the audit log, the
//! reference node's store): how a SQLite file is opened and used from async code, the
//! reconnecting PostgreSQL connection, and one migration runner.
//!
//! # Layout
//!
//! - [`sqlite`]: [`sqlite::open`] (WAL, `synchronous=FULL` unless told otherwise, busy
//!   timeout, page cache, owner-only file) and [`sqlite::Shared`], one connection used
//!   from `spawn_blocking`.
//! - [`pg`]: [`pg::PgConn`], one PostgreSQL connection that comes back after the server
//!   restarts.
//! - [`migrate`]: a store's [`migrate::Schema`] is a list of numbered migrations;
//!   [`migrate::sqlite`] and [`migrate::postgres`] bring a store up to its latest
//!   version, in one transaction, and refuse a store that a newer silgate changed in a
//!   way this one cannot read.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod migrate;
pub mod pg;
pub mod sqlite;

/// What can go wrong opening, migrating or using a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The store's folder could not be made.
    #[error("{path}: {err}")]
    Io {
        /// The folder or file.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// A copy of the stores ([`sqlite::snapshot`]) could not be completed.
    #[error("backup: {0}")]
    Backup(String),
    /// A newer silgate migrated the store in a way this one cannot read.
    #[error("the {store} store is at schema version {version} and needs silgate that knows at least version {min_reader}; this one knows up to {known}: upgrade this instance")]
    TooNew {
        /// The store (`queue`, `dedup`, `audit`, `node`).
        store: &'static str,
        /// Its schema version.
        version: u32,
        /// The oldest schema version a reader must know.
        min_reader: u32,
        /// The latest version this build knows.
        known: u32,
    },
    /// The blocking task or the connection's lock failed.
    #[error("store task: {0}")]
    Task(String),
}

impl StoreError {
    /// Stable short code.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "store.sqlite",
            Self::Postgres(_) => "store.postgres",
            Self::Io { .. } => "store.io",
            Self::TooNew { .. } => "store.too-new",
            Self::Task(_) => "store.task",
            Self::Backup(_) => "store.backup",
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
