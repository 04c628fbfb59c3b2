//! Numbered schema migrations, one runner for every store.
//!
//! Each store (`queue`, `dedup`, `audit`, `node`) has a [`Schema`]: its migrations in
//! order, numbered from 1. The version a store is at lives in the `silgate_schema`
//! table of its database (one row per store, so several stores can share one database
//! or PostgreSQL schema), with `min_reader`: the oldest version a silgate build must
//! know to use the store.
//!
//! [`sqlite`] and [`postgres`] run at every open, in one transaction (on PostgreSQL
//! under an advisory lock, so instances starting together migrate once): they read the
//! row, refuse the store when `min_reader` is above what this build knows
//! ([`StoreError::TooNew`]), apply the migrations above the store's version, and write
//! the new version. Migration 1 of every store is written with `IF NOT EXISTS`, so a
//! store made before the runner existed is adopted as version 1. A schema's
//! `every_open` statements (idempotent) run after the migrations at every open.
//!
//! The rolling-upgrade rule (ARCHITECTURE.md): a migration that only adds (a table, a
//! nullable column, an index) leaves `min_reader` where it was, so instances of the
//! previous release keep running on the migrated store while the others are upgraded;
//! a migration that removes, renames or changes the meaning of anything sets
//! [`Migration::breaks_older`], raising `min_reader` to its version: the release before
//! it must already have stopped using what it removes, and older instances refuse the
//! store instead of misreading it.

use crate::StoreError;

/// One numbered change of a store's tables.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number: 1, 2, ... in order, no gaps.
    pub version: u32,
    /// What it does, for logs.
    pub name: &'static str,
    /// The statements (one batch).
    pub sql: &'static str,
    /// True when a build that does not know this migration can no longer use the store.
    pub breaks_older: bool,
}

/// A store's migrations.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The store's name in `silgate_schema`.
    pub store: &'static str,
    /// Its migrations, in order.
    pub migrations: &'static [Migration],
    /// Idempotent statements run at every open, after the migrations: protections that
    /// a hand on the database may have removed (the audit log's append-only triggers),
    /// put back. Empty for most stores.
    pub every_open: &'static str,
}

impl Schema {
    /// The latest version this build knows.
    pub fn latest(&self) -> u32 {
        self.migrations.last().map_or(0, |m| m.version)
    }

    /// The `min_reader` after applying everything up to `version`.
    fn min_reader(&self, version: u32, before: u32) -> u32 {
        self.migrations.iter().filter(|m| m.version <= version && m.breaks_older).map(|m| m.version).max().unwrap_or(0).max(before)
    }

    fn check(&self, version: u32, min_reader: u32) -> Result<(), StoreError> {
        if self.migrations.iter().zip(1..).any(|(m, n)| m.version != n) {
            return Err(StoreError::Task(format!("the {} store's migrations are not numbered 1, 2, 3 ... in order", self.store)));
        }
        if min_reader > self.latest() {
            return Err(StoreError::TooNew { store: self.store, version, min_reader, known: self.latest() });
        }
        Ok(())
    }
}

const TABLE: &str = "CREATE TABLE IF NOT EXISTS silgate_schema (store TEXT PRIMARY KEY, version INTEGER NOT NULL, min_reader INTEGER NOT NULL, updated_ms BIGINT NOT NULL)";

/// What a migration run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The version the store was at.
    pub from: u32,
    /// The version it is at now.
    pub to: u32,
}

/// Brings a SQLite store up to `schema`'s latest version, in one transaction.
pub fn sqlite(conn: &mut rusqlite::Connection, schema: &Schema) -> Result<Outcome, StoreError> {
    use rusqlite::OptionalExtension as _;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(TABLE)?;
    let row: Option<(u32, u32)> = tx.query_row("SELECT version, min_reader FROM silgate_schema WHERE store = ?1", [schema.store], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    let (from, min_reader) = row.unwrap_or((0, 0));
    schema.check(from, min_reader)?;
    for m in schema.migrations.iter().filter(|m| m.version > from) {
        tracing::info!(store = schema.store, version = m.version, name = m.name, "Migrating a store");
        tx.execute_batch(m.sql)?;
    }
    if !schema.every_open.is_empty() {
        tx.execute_batch(schema.every_open)?;
    }
    let to = from.max(schema.latest());
    let new_min = schema.min_reader(to, min_reader);
    if row != Some((to, new_min)) {
        tx.execute(
            "INSERT INTO silgate_schema (store, version, min_reader, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (store) DO UPDATE SET version = excluded.version, min_reader = excluded.min_reader, updated_ms = excluded.updated_ms",
            rusqlite::params![schema.store, to, new_min, crate::now_ms()],
        )?;
    }
    tx.commit()?;
    Ok(Outcome { from, to })
}

/// The advisory lock every PostgreSQL migration takes (one for all stores: starts are
/// rare, and concurrent first starts race on `CREATE ... IF NOT EXISTS` otherwise).
const PG_LOCK: i64 = 7_154_600;

/// Brings a PostgreSQL store up to `schema`'s latest version, in one transaction under
/// an advisory lock (the transaction-level one: a session lock released before the
/// transaction commits would let the next starter miss uncommitted tables).
pub async fn postgres(client: &mut tokio_postgres::Client, schema: &Schema) -> Result<Outcome, StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PG_LOCK]).await?;
    tx.batch_execute(TABLE).await?;
    let row = tx.query_opt("SELECT version, min_reader FROM silgate_schema WHERE store = $1", &[&schema.store]).await?;
    let row = row.map(|r| (u32::try_from(r.get::<_, i32>(0)).unwrap_or(0), u32::try_from(r.get::<_, i32>(1)).unwrap_or(0)));
    let (from, min_reader) = row.unwrap_or((0, 0));
    schema.check(from, min_reader)?;
    for m in schema.migrations.iter().filter(|m| m.version > from) {
        tracing::info!(store = schema.store, version = m.version, name = m.name, "Migrating a store");
        tx.batch_execute(m.sql).await?;
    }
    if !schema.every_open.is_empty() {
        tx.batch_execute(schema.every_open).await?;
    }
    let to = from.max(schema.latest());
    let new_min = schema.min_reader(to, min_reader);
    if row != Some((to, new_min)) {
        let (v, mr) = (i32::try_from(to).unwrap_or(i32::MAX), i32::try_from(new_min).unwrap_or(i32::MAX));
        tx.execute(
            "INSERT INTO silgate_schema (store, version, min_reader, updated_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (store) DO UPDATE SET version = EXCLUDED.version, min_reader = EXCLUDED.min_reader, updated_ms = EXCLUDED.updated_ms",
            &[&schema.store, &v, &mr, &crate::now_ms()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Outcome { from, to })
}
