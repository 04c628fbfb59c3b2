//! Unit tests: the migration runner on SQLite and on the machine's PostgreSQL, and the
//! store file's permissions.

use crate::StoreError;
use crate::migrate::{self, Migration, Schema};
use crate::sqlite::{self as sq, Durability};

const V1: Migration = Migration { version: 1, name: "things", sql: "CREATE TABLE IF NOT EXISTS things (id TEXT PRIMARY KEY)", breaks_older: false };
const V2: Migration = Migration { version: 2, name: "things.note", sql: "ALTER TABLE things ADD COLUMN note TEXT", breaks_older: false };
const V3: Migration = Migration {
    version: 3,
    name: "drop things.note",
    sql: "CREATE TABLE things2 (id TEXT PRIMARY KEY); INSERT INTO things2 SELECT id FROM things; DROP TABLE things; ALTER TABLE things2 RENAME TO things",
    breaks_older: true,
};

const ONE: Schema = Schema { store: "test", migrations: &[V1], every_open: "" };
const TWO: Schema = Schema { store: "test", migrations: &[V1, V2], every_open: "" };
const THREE: Schema = Schema { store: "test", migrations: &[V1, V2, V3], every_open: "" };

#[test]
fn given_a_new_store_the_runner_should_apply_every_migration_once_and_then_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = sq::open(&dir.path().join("s.db"), Durability::Full, 1).unwrap();
    assert_eq!(migrate::sqlite(&mut c, &TWO).unwrap(), migrate::Outcome { from: 0, to: 2 });
    c.execute("INSERT INTO things (id, note) VALUES ('a', 'b')", []).unwrap();
    assert_eq!(migrate::sqlite(&mut c, &TWO).unwrap(), migrate::Outcome { from: 2, to: 2 });
    let n: i64 = c.query_row("SELECT count(*) FROM things", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn given_a_store_made_before_the_runner_version_one_should_adopt_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = sq::open(&dir.path().join("s.db"), Durability::Full, 0).unwrap();
    c.execute_batch("CREATE TABLE things (id TEXT PRIMARY KEY); INSERT INTO things VALUES ('kept')").unwrap();
    assert_eq!(migrate::sqlite(&mut c, &TWO).unwrap(), migrate::Outcome { from: 0, to: 2 });
    let id: String = c.query_row("SELECT id FROM things", [], |r| r.get(0)).unwrap();
    assert_eq!(id, "kept");
}

#[test]
fn given_a_store_an_additive_migration_changed_an_older_build_should_still_use_it_but_not_after_a_breaking_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = sq::open(&dir.path().join("s.db"), Durability::Full, 0).unwrap();
    migrate::sqlite(&mut c, &TWO).unwrap();
    // The previous release (knows only v1) on a store at v2: additive, fine.
    assert_eq!(migrate::sqlite(&mut c, &ONE).unwrap(), migrate::Outcome { from: 2, to: 2 });
    migrate::sqlite(&mut c, &THREE).unwrap();
    match migrate::sqlite(&mut c, &TWO) {
        Err(StoreError::TooNew { store: "test", version: 3, min_reader: 3, known: 2 }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn given_a_failing_migration_the_store_should_stay_at_its_version() {
    const BAD: Schema =
        Schema { store: "test", migrations: &[V1, Migration { version: 2, name: "bad", sql: "CREATE TABLE x (a); THIS IS NOT SQL", breaks_older: false }], every_open: "" };
    let dir = tempfile::tempdir().unwrap();
    let mut c = sq::open(&dir.path().join("s.db"), Durability::Full, 0).unwrap();
    migrate::sqlite(&mut c, &ONE).unwrap();
    assert!(migrate::sqlite(&mut c, &BAD).is_err());
    let v: u32 = c.query_row("SELECT version FROM silgate_schema WHERE store = 'test'", [], |r| r.get(0)).unwrap();
    assert_eq!(v, 1);
    let x: i64 = c.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'x'", [], |r| r.get(0)).unwrap();
    assert_eq!(x, 0, "nothing of the failed migration stays");
}

#[cfg(unix)]
#[test]
fn given_a_new_store_file_only_its_owner_should_read_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    drop(sq::open(&p, Durability::Normal, 0).unwrap());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&p), 0o600);
    // A file an older build made under a loose umask, with its journal files.
    let wal = dir.path().join("s.db-wal");
    std::fs::write(&wal, "").unwrap();
    for f in [&p, &wal] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // (Checked while open: SQLite removes the journal at the last close.)
    let held = sq::open(&p, Durability::Normal, 0).unwrap();
    assert_eq!((mode(&p), mode(&wal)), (0o600, 0o600));
    drop(held);
}

#[tokio::test]
async fn given_postgres_the_runner_should_migrate_once_and_refuse_a_store_too_new() {
    let (mut admin, conn) = tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let schema = format!("store_test_{}", std::process::id());
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("host=127.0.0.1 user=postgres dbname=test options='-c search_path={schema}'");
    let pg = crate::pg::PgConn::connect(&url, &crate::pg::PgTls::default(), "test").await.unwrap();
    {
        let mut c = pg.get().await.unwrap();
        assert_eq!(migrate::postgres(&mut c, &TWO).await.unwrap(), migrate::Outcome { from: 0, to: 2 });
        assert_eq!(migrate::postgres(&mut c, &TWO).await.unwrap(), migrate::Outcome { from: 2, to: 2 });
        migrate::postgres(&mut c, &THREE).await.unwrap();
        assert!(matches!(migrate::postgres(&mut c, &TWO).await, Err(StoreError::TooNew { known: 2, .. })));
    }
    let _ = &mut admin;
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
