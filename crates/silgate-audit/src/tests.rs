//! Unit tests: the chain over SQLite, and over the machine's PostgreSQL.

use super::*;

fn entries(n: usize) -> Vec<NewEntry> {
    (0..n).map(|i| NewEntry::now(Event::Queued { backend: format!("b{i}"), recovered: false }, Some(&format!("m{i}")), Some("1500025211000000000000001"), Some("CPI01"))).collect()
}

fn tamper(path: &std::path::Path, sql: &str) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(&format!("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; {sql}")).unwrap();
}

#[tokio::test]
async fn given_appends_from_two_handles_should_form_one_verifiable_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let a = AuditLog::sqlite(&path).await.unwrap();
    let b = AuditLog::sqlite(&path).await.unwrap();
    a.append("gw", entries(3)).await.unwrap();
    b.append("gw", entries(2)).await.unwrap();
    a.append("other", entries(1)).await.unwrap();
    let r = a.verify().await.unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!((r.chains, r.entries), (2, 6));
    let hist = a.query(&Query { record: Some("m1".into()), ..Query::default() }).await.unwrap();
    assert_eq!(hist.len(), 2);
}

#[tokio::test]
async fn given_an_edited_entry_verify_should_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let a = AuditLog::sqlite(&path).await.unwrap();
    a.append("gw", entries(5)).await.unwrap();
    tamper(&path, "UPDATE audit SET detail = 'n=99' WHERE seq = 3");
    let r = a.verify().await.unwrap();
    assert_eq!(r.problems, vec![Problem::Edited { instance: "gw".into(), seq: 3 }]);
}

#[tokio::test]
async fn given_a_deleted_entry_verify_should_name_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let a = AuditLog::sqlite(&path).await.unwrap();
    a.append("gw", entries(5)).await.unwrap();
    tamper(&path, "DELETE FROM audit WHERE seq = 2");
    let r = a.verify().await.unwrap();
    assert_eq!(r.problems, vec![Problem::Deleted { instance: "gw".into(), after: 1, next: 3 }]);
    assert!(r.problems[0].to_string().contains("gw#2..2: deleted"));
}

#[tokio::test]
async fn given_the_last_entries_deleted_verify_should_report_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let a = AuditLog::sqlite(&path).await.unwrap();
    a.append("gw", entries(5)).await.unwrap();
    tamper(&path, "DELETE FROM audit WHERE seq >= 4");
    let r = a.verify().await.unwrap();
    assert_eq!(r.problems, vec![Problem::Truncated { instance: "gw".into(), last: 3, head: 5 }]);
}

#[tokio::test]
async fn given_a_rehashed_forgery_verify_should_see_the_broken_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let a = AuditLog::sqlite(&path).await.unwrap();
    let stored = a.append("gw", entries(4)).await.unwrap();
    // A forger who recomputes the edited entry's own hash still breaks the next link.
    let mut forged = stored[1].clone();
    forged.detail = "n=forged".into();
    forged.hash = forged.compute_hash();
    tamper(&path, &format!("UPDATE audit SET detail = '{}', hash = '{}' WHERE seq = 2", forged.detail, forged.hash));
    let r = a.verify().await.unwrap();
    assert_eq!(r.problems, vec![Problem::Relinked { instance: "gw".into(), seq: 3 }]);
}

#[tokio::test]
async fn given_an_update_through_sql_the_store_should_refuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let a = AuditLog::sqlite(&path).await.unwrap();
    a.append("gw", entries(1)).await.unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let err = c.execute("DELETE FROM audit", []).unwrap_err();
    assert!(err.to_string().contains("append-only"));
}

#[tokio::test]
async fn given_many_concurrent_writers_the_auditor_should_group_commit_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::sqlite(&dir.path().join("audit.db")).await.unwrap();
    let auditor = Auditor::spawn(log.clone(), "gw");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let a = auditor.clone();
        tasks.push(tokio::spawn(async move { a.record(entries(10)).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let r = log.verify().await.unwrap();
    assert!(r.is_ok());
    assert_eq!(r.entries, 200);
}

/// A private schema in the machine's PostgreSQL `test` database.
async fn pg_schema() -> String {
    let schema = format!("audit_test_{}", fastrand_name());
    let (client, conn) =
        tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await.expect("PostgreSQL on 127.0.0.1:5432 (scripts/test starts it)");
    tokio::spawn(conn);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    format!("host=127.0.0.1 user=postgres dbname=test options='-c search_path={schema}'")
}

fn fastrand_name() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}_{}", std::process::id(), t % 1_000_000_000)
}

#[tokio::test]
async fn given_postgres_two_instances_and_an_edit_verify_should_name_the_entry() {
    let conninfo = pg_schema().await;
    let a = AuditLog::postgres(&conninfo, &Default::default()).await.unwrap();
    let b = AuditLog::postgres(&conninfo, &Default::default()).await.unwrap();
    a.append("gw-1", entries(3)).await.unwrap();
    b.append("gw-2", entries(3)).await.unwrap();
    b.append("gw-1", entries(2)).await.unwrap();
    let r = a.verify().await.unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!((r.chains, r.entries), (2, 8));
    let (client, conn) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute("ALTER TABLE audit DISABLE TRIGGER audit_append_only; UPDATE audit SET cpi = 'CPI99' WHERE instance = 'gw-2' AND seq = 2; DELETE FROM audit WHERE instance = 'gw-1' AND seq = 4").await.unwrap();
    let r = a.verify().await.unwrap();
    assert_eq!(r.problems, vec![Problem::Deleted { instance: "gw-1".into(), after: 3, next: 5 }, Problem::Edited { instance: "gw-2".into(), seq: 2 }]);
}

#[tokio::test]
async fn given_its_postgres_connection_killed_the_log_should_reconnect_and_keep_one_chain() {
    let conninfo = pg_schema().await;
    let app = format!("audit_reconnect_{}", fastrand_name());
    let log = AuditLog::postgres(&format!("{conninfo} application_name={app}"), &Default::default()).await.unwrap();
    log.append("gw-1", entries(3)).await.unwrap();
    let (admin, conn) = tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let killed = admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", &[&app]).await.unwrap();
    assert_eq!(killed.len(), 1);
    // The append that finds the connection gone may fail (the caller retries it).
    // (The client learns the connection closed asynchronously: the caller's retries
    // come some time apart, as they do in the gateway.)
    let mut appended = false;
    for _ in 0..10 {
        if log.append("gw-1", entries(2)).await.is_ok() {
            appended = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(appended, "the log did not reconnect");
    let r = log.verify().await.unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!((r.chains, r.entries), (1, 5));
}

#[tokio::test]
async fn given_typed_events_they_should_come_back_typed_and_an_edit_of_their_fields_should_show() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let a = AuditLog::sqlite(&path).await.unwrap();
    let ev = Event::Received { at: Some("canonical-json:/in/a.jsonl:line 3".into()), t_cpi_ms: Some(1_700_000_000_000), recovered: false };
    a.append(
        "gw",
        vec![
            NewEntry::now(ev.clone(), Some("m1"), Some("c1"), Some("CPI01")),
            NewEntry::now(Event::Delivered { receipt: "R1".into(), egov_id: "E1".into(), recovered: false }, Some("m1"), Some("c1"), Some("CPI01")),
        ],
    )
    .await
    .unwrap();
    let got = a.query(&Query { record: Some("m1".into()), ..Query::default() }).await.unwrap();
    assert_eq!(got[0].typed(), Some(ev));
    assert_eq!(got[0].detail, "at=canonical-json:/in/a.jsonl:line 3 t_cpi=1700000000000");
    assert_eq!(got[1].typed(), Some(Event::Delivered { receipt: "R1".into(), egov_id: "E1".into(), recovered: false }));
    tamper(&path, "UPDATE audit SET fields = replace(fields, 'R1', 'R2') WHERE seq = 2");
    assert_eq!(a.verify().await.unwrap().problems, vec![Problem::Edited { instance: "gw".into(), seq: 2 }]);
}

#[tokio::test]
async fn given_a_store_written_before_typed_fields_it_should_verify_and_read_its_details() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    {
        // A version-1 store as the gateway wrote it before the migration runner.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE audit (instance TEXT NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, event TEXT NOT NULL, message_id TEXT, code TEXT, cpi TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (instance, seq));
             CREATE TABLE audit_heads (instance TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);",
        )
        .unwrap();
        let mut prev = GENESIS.to_string();
        for (seq, (event, detail)) in [
            ("received", "at=silplus:/in/x.zip:LAVORATORI row 2 t_cpi=1700000000000"),
            ("deduplicated", "n=4 unchanged at=silplus:/in/x.zip"),
            ("rejected", "rule=cf.checksum at=x"),
        ]
        .into_iter()
        .enumerate()
        {
            let seq = i64::try_from(seq).unwrap() + 1;
            let mut e = Entry {
                instance: "gw".into(),
                seq,
                at_ms: 1,
                event: event.into(),
                message_id: Some("m".into()),
                code: None,
                cpi: Some("CPI01".into()),
                detail: detail.into(),
                fields: None,
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            e.hash = e.compute_hash();
            c.execute(
                "INSERT INTO audit VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                rusqlite::params![e.instance, e.seq, e.at_ms, e.event, e.message_id, e.code, e.cpi, e.detail, e.prev_hash, e.hash],
            )
            .unwrap();
            prev = e.hash;
        }
        c.execute("INSERT INTO audit_heads VALUES ('gw', 3, ?1)", [&prev]).unwrap();
    }
    let a = AuditLog::sqlite(&path).await.unwrap();
    a.append("gw", entries(1)).await.unwrap();
    let r = a.verify().await.unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!(r.entries, 4);
    let old = a.query(&Query { record: Some("m".into()), ..Query::default() }).await.unwrap();
    assert_eq!(old[0].typed(), Some(Event::Received { at: Some("silplus:/in/x.zip:LAVORATORI".into()), t_cpi_ms: Some(1_700_000_000_000), recovered: false }));
    assert_eq!(old[1].typed(), Some(Event::Deduplicated { count: 4, why: SeenAgain::Unchanged, at: Some("silplus:/in/x.zip".into()), receipt: None }));
    assert_eq!(old[2].typed(), Some(Event::Rejected { rule: "cf.checksum".into(), at: Some("x".into()), note: None }));
}

#[test]
fn given_every_kind_of_event_its_fields_should_round_trip_and_name_it() {
    let all = [
        Event::Received { at: None, t_cpi_ms: None, recovered: false },
        Event::Rejected { rule: "api.unauthenticated".into(), at: None, note: Some("no credentials".into()) },
        Event::Queued { backend: "sqlite".into(), recovered: false },
        Event::Deduplicated { count: 3, why: SeenAgain::AlreadyQueued, at: Some("x".into()), receipt: None },
        Event::Attempt { n: 2, outcome: "http-5xx".into(), egov_id: "E".into(), detail: Some("503".into()) },
        Event::Delivered { receipt: "R".into(), egov_id: "E".into(), recovered: false },
        Event::Refused { code: "node.ko".into() },
        Event::DeadLettered { reason: DeadReason::Poison { deliveries: 21 } },
        Event::DeadLettered { reason: DeadReason::AttemptsExhausted { attempts: 12 } },
        Event::Replayed,
        Event::ExternalPrevious { code: "1400026211000000000000001".into() },
        Event::Omitted { rule: "code.unmappable".into(), field: "/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/qualificasvolta".into() },
        Event::Input(Input::Processed { uid: 7, id: "opec.1".into(), class: "transport".into(), records: 3, queued: 2, unchanged: 0, rejected: 1 }),
        Event::Input(Input::AlreadyProcessed { uid: 7, id: "opec.1".into() }),
        Event::Input(Input::SetAside { uid: 8, folder: "silgate-failed".into(), reason: "failed 3 times".into() }),
    ];
    for e in all {
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], e.name(), "{json}");
        assert_eq!(serde_json::from_value::<Event>(json.clone()).unwrap(), e, "{json}");
        // The rendered detail, read as an old entry would be, tells the same kind.
        assert_eq!(crate::event::legacy(e.name(), &e.to_string()).map(|l| l.name()), Some(e.name()), "{e}");
    }
}

/// A record version's story: received, queued, delivered (each optional).
fn story(id: &str, received: bool, queued: bool, delivered: bool) -> Vec<NewEntry> {
    let code = Some("1400025211000000000000001");
    let mut out = Vec::new();
    if received {
        out.push(NewEntry::now(Event::Received { at: None, t_cpi_ms: None, recovered: false }, Some(id), code, Some("CPI01")));
    }
    if queued {
        out.push(NewEntry::now(Event::Queued { backend: "sqlite".into(), recovered: false }, Some(id), code, Some("CPI01")));
    }
    if delivered {
        out.push(NewEntry::now(Event::Delivered { receipt: "R".into(), egov_id: "E".into(), recovered: false }, Some(id), code, Some("CPI01")));
    }
    out
}

async fn completeness(log: &AuditLog) {
    let mut all = story("whole", true, true, true);
    all.extend(story("no-received", false, true, true));
    all.extend(story("no-queued", true, false, true));
    all.extend(story("waiting", true, true, false));
    log.append("gw", all).await.unwrap();
    let r = log.verify().await.unwrap();
    assert!(r.problems.is_empty(), "the chain is intact: {:?}", r.problems);
    assert!(!r.is_ok(), "but not complete");
    assert_eq!(r.gaps, 2);
    let named: Vec<String> = r.gap_examples.iter().map(ToString::to_string).collect();
    assert_eq!(named, ["no-queued (code 1400025211000000000000001) delivered without queued", "no-received (code 1400025211000000000000001) delivered without received"]);
    let ids = ["whole", "no-received", "no-queued", "waiting", "never"].map(String::from).to_vec();
    assert_eq!(log.lacking("queued", ids.clone()).await.unwrap(), ["no-queued", "never"]);
    assert_eq!(log.lacking("delivered", ids).await.unwrap(), ["waiting", "never"]);
    // Told late, marked recovered: complete again.
    log.append(
        "gw",
        vec![
            NewEntry::now(Event::Received { at: None, t_cpi_ms: None, recovered: true }, Some("no-received"), None, Some("CPI01")),
            NewEntry::now(Event::Queued { backend: "sqlite".into(), recovered: true }, Some("no-queued"), None, Some("CPI01")),
        ],
    )
    .await
    .unwrap();
    let r = log.verify().await.unwrap();
    assert!(r.is_ok(), "{} gap(s)", r.gaps);
    let late = log.query(&Query { record: Some("no-queued".into()), ..Query::default() }).await.unwrap();
    assert!(late.iter().any(|e| e.detail.ends_with("(recovered at a later read)")), "{late:?}");
}

#[tokio::test]
async fn given_a_delivered_version_without_its_story_verify_should_report_the_gap_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    completeness(&AuditLog::sqlite(&dir.path().join("audit.db")).await.unwrap()).await;
}

#[tokio::test]
async fn given_a_delivered_version_without_its_story_verify_should_report_the_gap_on_postgres() {
    let conninfo = pg_schema().await;
    completeness(&AuditLog::postgres(&conninfo, &Default::default()).await.unwrap()).await;
}
