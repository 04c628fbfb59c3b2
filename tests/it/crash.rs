//! The audit tells every record's story whatever moment the process died: SIGKILLs in
//! the middle of a run on the embedded default, and a batch whose entries were lost
//! after the queue's commit, told again at the next read; and its anchors catch a chain
//! its database's owner rewrote whole.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step is a failed test

use crate::delivery::{audit, certs, gateway, ingest, node, run, stats, totals, vacancies, wait_for};
use std::time::Duration;

fn verify(cfg: &std::path::Path) -> (bool, String) {
    let (code, out) = audit(cfg, &["verify"]);
    (code == 0, out)
}

/// SIGKILL five times at random moments while 4,000 vacancies are ingested and
/// delivered, then a last run to the end: every record at the node once, and `audit
/// verify` finds the chains intact and every delivered record with its `received`,
/// `queued` and `delivered` entries.
#[test]
fn given_sigkills_during_a_run_every_delivered_record_should_have_its_whole_story() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    // Five kills: on a loaded machine one input can be in the middle of its read at
    // three of them, which would set it aside as poison (another test's subject).
    let cfg = gateway(dir.path(), &pki, &base, "[queue]\nvisibility_timeout_secs = 300\n[limits]\nmax_unfinished_reads = 10\n");
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    for f in 0..8 {
        std::fs::write(inbox.join(format!("v{f}.jsonl")), vacancies(500, &format!("crash{f}"))).unwrap();
    }
    for _ in 0..5 {
        let gw = run(&cfg);
        let jitter = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() % 1700;
        std::thread::sleep(Duration::from_millis(800 + u64::from(jitter)));
        gw.kill9();
    }
    let gw = run(&cfg);
    wait_for("4,000 vacancies at the node", Duration::from_secs(240), || totals(&base, &pki, "accepted") == 4000);
    assert_eq!(gw.term(), 0);
    let s = stats(&base, &pki);
    assert_eq!(s["totals"]["distinct_codes"].as_i64(), Some(4000), "nothing twice: {s}");
    let (ok, out) = verify(&cfg);
    assert!(ok, "{out}");
    assert!(out.contains("every delivered record with its story"), "{out}");
    let audit = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let delivered: i64 = audit.query_row("SELECT count(DISTINCT message_id) FROM audit WHERE event = 'delivered'", [], |r| r.get(0)).unwrap();
    assert_eq!(delivered, 4000);
}

/// A batch committed to the queue whose audit entries were lost (the process died in
/// between; simulated with an audit file that never saw them): read again, its records
/// are known to the dedup index and not queued twice, and their `received` and
/// `queued` entries are written then, marked recovered; once delivered, the audit is
/// complete.
#[test]
fn given_queued_records_the_audit_never_saw_a_later_read_should_tell_their_story() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let input = dir.path().join("v.jsonl");
    // Each record twice: told once all the same.
    std::fs::write(&input, vacancies(30, "lost").repeat(2)).unwrap();
    ingest(&gateway(dir.path(), &pki, &base, "[audit]\npath = \"lost-audit.db\"\n"), &input);
    let cfg = gateway(dir.path(), &pki, &base, "");
    ingest(&cfg, &input);
    let audit = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let count = |sql: &str| -> i64 { audit.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM audit WHERE event IN ('received', 'queued') AND detail LIKE '%(recovered at a later read)'"), 60);
    let queue = rusqlite::Connection::open(dir.path().join("data/queue.db")).unwrap();
    let waiting: i64 = queue.query_row("SELECT count(*) FROM queue", [], |r| r.get(0)).unwrap();
    assert_eq!(waiting, 30, "queued once");
    let gw = run(&cfg);
    wait_for("30 at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 30);
    assert_eq!(gw.term(), 0);
    let (ok, out) = verify(&cfg);
    assert!(ok, "{out}");
    // Read a third time: told already, nothing more is written as recovered.
    ingest(&cfg, &input);
    assert_eq!(count("SELECT count(*) FROM audit WHERE detail LIKE '%(recovered at a later read)'"), 60);
}

/// `silgate audit anchor` and `silgate run` append the signed heads to the anchor file
/// (owner-only, outside the data directory); the database's owner then drops the
/// append-only triggers and writes a new chain, which `audit verify` alone finds
/// intact: `audit verify --anchors` does not, and names the anchored entry.
#[test]
fn given_anchored_chains_a_chain_rewritten_whole_should_fail_verify_with_anchors() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let anchors = dir.path().join("worm").join("anchors.jsonl");
    // Its folder must be there (a volume not mounted is not replaced by a local folder).
    let cfg = gateway(dir.path(), &pki, &base, &format!("[anchor]\nfile = \"{}\"\nevery_secs = 0\n", anchors.display()));
    let (code, _) = audit(&cfg, &["anchor"]);
    assert_ne!(code, 0, "anchored into a folder that is not there");
    std::fs::create_dir_all(anchors.parent().unwrap()).unwrap();
    let cfg = gateway(dir.path(), &pki, &base, &format!("[anchor]\nfile = \"{}\"\nevery_secs = 0\n", anchors.display()));
    let input = dir.path().join("v.jsonl");
    std::fs::write(&input, vacancies(20, "anchored")).unwrap();
    ingest(&cfg, &input);
    let (code, out) = audit(&cfg, &["anchor"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("anchored 1 chain(s)"), "{out}");
    // `silgate run` anchors at start and at shutdown.
    let gw = run(&cfg);
    wait_for("20 at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 20);
    assert_eq!(gw.term(), 0);
    let text = std::fs::read_to_string(&anchors).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in [anchors.clone(), dir.path().join("data/anchor.key")] {
            assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
        }
    }
    let path = anchors.display().to_string();
    let (code, out) = audit(&cfg, &["verify", "--anchors", &path]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("anchors: 3 line(s), every anchored head held by its chain; signed by key "), "{out}");
    // The configured file is the default.
    assert_eq!(audit(&cfg, &["verify"]).0, 0);

    // The owner of the database rewrites the chain whole: it verifies on its own.
    {
        let db = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
        db.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DELETE FROM audit; DELETE FROM audit_heads;").unwrap();
    }
    let other = dir.path().join("w.jsonl");
    std::fs::write(&other, vacancies(30, "rewritten")).unwrap();
    ingest(&cfg, &other);
    let (code, out) = audit(&cfg, &["verify", "--anchors", &path]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("audit intact and complete"), "the rewritten chain is consistent on its own: {out}");
    assert!(out.contains("ANCHOR anchor line 1: \"gw\"#") && out.contains("anchors NOT held"), "{out}");
    // A new key would sign lines the file's first line does not pin: refused.
    std::fs::remove_file(dir.path().join("data/anchor.key")).unwrap();
    let (code, _) = audit(&cfg, &["anchor"]);
    assert_ne!(code, 0, "no new key for a file that holds lines");
    assert_eq!(std::fs::read_to_string(&anchors).unwrap().lines().count(), 3);
}
