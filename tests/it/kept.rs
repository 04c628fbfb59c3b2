//! Refused records kept and replayed: `silgate quarantine list|replay` on the real
//! binary against the reference node. A record refused at ingest is judged again with
//! the tables of the day; one the node refused is sent again once the node takes it;
//! a refused version re-exported is sent (it was not known); one a later version
//! replaced is superseded, not sent.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step is a failed test

use crate::delivery::{audit, certs, gateway, ingest, node, put_faults, run, totals, vacancies, wait_for};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn silgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_silgate"))
}

/// `silgate quarantine ARGS --config CFG`: its stdout (it must succeed).
fn quarantine(cfg: &Path, args: &[&str]) -> String {
    let out = silgate().arg("quarantine").args(args).arg("--config").arg(cfg).output().unwrap();
    assert!(out.status.success(), "quarantine {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The kept refusals `quarantine list` prints, as their columns.
fn listed(cfg: &Path, args: &[&str]) -> Vec<Vec<String>> {
    let mut all = vec!["list"];
    all.extend_from_slice(args);
    quarantine(cfg, &all).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

/// Puts top-level settings at the head of a gateway config.
fn with_top(cfg: &Path, top: &str) {
    let text = std::fs::read_to_string(cfg).unwrap();
    let text = text.lines().filter(|l| !top.lines().any(|t| t.split('=').next() == l.split('=').next() && l.contains('='))).collect::<Vec<_>>().join("\n");
    std::fs::write(cfg, format!("{top}\n{text}\n")).unwrap();
}

/// A region's `cp2011-sixth` table (the one of the optional-code test) in DIR/tables:
/// the unit 5.1.2.2.0 mapped to 5.1.2.2.0.4.
fn sixth_table(dir: &Path) -> std::path::PathBuf {
    let tables = dir.join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    std::fs::write(
        tables.join("cp2011-sixth.tsv"),
        "# table: Campania's detail segments\n# source: the region\n# licence: none\n# complete: no: a test\nunit\tcode\tsource\n5.1.2.2.0\t5.1.2.2.0.4\tregion\n",
    )
    .unwrap();
    tables
}

#[test]
fn given_a_cv_refused_at_ingest_a_replay_after_the_table_is_fixed_should_deliver_it() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let cfg = gateway(dir.path(), &pki, &base, "");
    with_top(&cfg, "optional_unmappable = \"reject\"");
    let input = dir.path().join("cv.jsonl");
    std::fs::write(&input, crate::runtime::cv_with_five_level_experience() + "\n").unwrap();
    let out = ingest(&cfg, &input);
    assert!(out.contains("0 queued") && out.contains("1 rejected"), "{out}");

    // Kept, owner-only, named in its quarantine line, listed with the source position.
    let kept = dir.path().join("data/kept.db");
    assert_eq!(std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o600);
    let rows = listed(&cfg, &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (id, row) = (rows[0][0].clone(), &rows[0]);
    assert!(id.starts_with("i-"), "{row:?}");
    assert_eq!((row[2].as_str(), row[4].as_str()), ("ingest", "code.unmappable"), "{row:?}");
    assert_eq!(row[6], "/experiences/0/profession line 1", "the field as the source names it: {row:?}");
    assert!(row[7].contains("cv.jsonl:line 1") && row[8] == "replayable", "{row:?}");
    let q = std::fs::read_to_string(dir.path().join("data/quarantine.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(q.lines().next().unwrap()).unwrap();
    assert_eq!(line["kept"].as_str(), Some(id.as_str()), "{line}");
    assert_eq!(listed(&cfg, &["--rule", "node.ko"]).len(), 0);
    assert_eq!(listed(&cfg, &["--cpi", "CPINOWHERE"]).len(), 0);
    assert_eq!(listed(&cfg, &["--since", "2999-01-01"]).len(), 0);

    // Replayed with the same tables: refused again, still kept under its id.
    let out = quarantine(&cfg, &["replay", "--rule", "code.unmappable"]);
    assert!(out.contains("1 kept refusal(s) judged again: 0 queued") && out.contains("1 refused again"), "{out}");
    let rows = listed(&cfg, &[]);
    assert_eq!((rows.len(), rows[0][0].as_str()), (1, id.as_str()), "{rows:?}");

    // The region's table maps the unit: the replay queues it, and it is delivered with
    // its six-segment code.
    let tables = sixth_table(dir.path());
    with_top(&cfg, &format!("optional_unmappable = \"reject\"\ncode_tables = \"{}\"", tables.display()));
    let out = quarantine(&cfg, &["replay", "--id", &id]);
    assert!(out.contains("1 kept refusal(s) judged again: 1 queued"), "{out}");
    assert_eq!(listed(&cfg, &[]).len(), 0, "nothing waits for a replay");
    let all = listed(&cfg, &["--all"]);
    assert!(all.len() == 1 && all[0][8].starts_with("replayed: queued "), "{all:?}");
    let gw = run(&cfg);
    wait_for("the replayed CV", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gw.term(), 0);
    let db = rusqlite::Connection::open(dir.path().join("node.db")).unwrap();
    let doc: String = db.query_row("SELECT document FROM documents WHERE ok = 1", [], |r| r.get(0)).unwrap();
    assert!(doc.contains(":qualificasvolta>5.1.2.2.0.4<"), "{doc}");
    // A replayed refusal keeps its line, not its record.
    let k = rusqlite::Connection::open(&kept).unwrap();
    let bodies: i64 = k.query_row("SELECT count(*) FROM kept WHERE record IS NOT NULL OR document IS NOT NULL", [], |r| r.get(0)).unwrap();
    assert_eq!(bodies, 0);

    // The same export again: that version was sent, nothing is queued; the story is whole.
    let out = ingest(&cfg, &input);
    assert!(out.contains("0 queued, 1 unchanged"), "{out}");
    let (code, text) = audit(&cfg, &["verify"]);
    assert_eq!(code, 0, "{text}");
    let conn = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let events: Vec<String> =
        conn.prepare("SELECT event FROM audit WHERE event IN ('kept', 'rejudged') ORDER BY seq").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    assert_eq!(events, ["kept", "kept", "rejudged", "rejudged"], "kept, refused again (kept again), then queued");
}

#[test]
fn given_versions_the_node_refused_a_re_export_and_a_replay_should_send_them_and_a_replaced_one_be_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "reject_rate = 1.0");
    let cfg = gateway(dir.path(), &pki, &base, "");
    // Three vacancies, and the second one again, changed: four versions refused.
    let lines: Vec<String> = vacancies(3, "KO").lines().map(str::to_string).collect();
    let more = |l: &str| {
        let m = l.replace("\"positions\": 2", "\"positions\": 3");
        assert_ne!(m, l);
        m
    };
    let refused = dir.path().join("refused.jsonl");
    std::fs::write(&refused, format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[2], more(&lines[1]))).unwrap();
    ingest(&cfg, &refused);
    let gw = run(&cfg);
    wait_for("four refusals", Duration::from_secs(60), || totals(&base, &pki, "rejected") == 4);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gw.term(), 0);
    let rows = listed(&cfg, &["--rule", "node.ko"]);
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.iter().all(|r| r[0].starts_with("n-") && r[2] == "node" && r[3] == "CPIBA01" && r[8] == "replayable"), "{rows:?}");
    // The input's n-th line's refusal.
    let id_of = |n: usize| rows.iter().find(|r| r[7].ends_with(&format!("line {n}"))).map(|r| r[0].clone()).unwrap();
    let (first, second, third, second_changed) = (id_of(1), id_of(2), id_of(3), id_of(4));

    put_faults(&base, &pki, "{}");
    // The first vacancy re-exported unchanged: a refused version is not known, it is
    // sent again. The third one changed in its source: an update, sent.
    let again = dir.path().join("again.jsonl");
    std::fs::write(&again, format!("{}\n{}\n", lines[0], more(&lines[2]))).unwrap();
    let out = ingest(&cfg, &again);
    assert!(out.contains("2 queued"), "{out}");
    let gw = run(&cfg);
    wait_for("the re-export", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 2);

    // The replay: the first was sent since (unchanged), the third replaced (superseded),
    // of the second only its later version goes (the earlier superseded by it).
    let out = quarantine(&cfg, &["replay"]);
    assert!(out.contains("4 kept refusal(s) judged again: 1 queued, 1 unchanged (sent since), 2 superseded"), "{out}");
    wait_for("the replayed vacancy", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 3);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gw.term(), 0);
    let all = listed(&cfg, &["--all"]);
    let outcome = |id: &str| all.iter().find(|r| r[0] == id).map(|r| r[8].clone()).unwrap();
    assert_eq!(outcome(&first), "replayed: unchanged");
    assert_eq!(outcome(&second), "replayed: superseded");
    assert!(outcome(&second_changed).starts_with("replayed: queued "), "{all:?}");
    assert_eq!(outcome(&third), "replayed: superseded");
    // The replayed version went as itself: the same content exported again is known.
    let same = dir.path().join("same.jsonl");
    std::fs::write(&same, more(&lines[1]) + "\n").unwrap();
    let out = ingest(&cfg, &same);
    assert!(out.contains("0 queued, 1 unchanged"), "{out}");
    // Each vacancy once at the node; the replaced one only in its newer version.
    let stats = crate::delivery::stats(&base, &pki);
    assert_eq!(stats["totals"]["accepted"], 3, "{stats}");
    let db = rusqlite::Connection::open(dir.path().join("node.db")).unwrap();
    let distinct: i64 = db.query_row("SELECT count(DISTINCT code) FROM documents WHERE ok = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(distinct, 3);
    let (code, text) = audit(&cfg, &["verify"]);
    assert_eq!(code, 0, "{text}");
}

/// A batch holding a CV then its broken version, or the broken one then a later good
/// one: replayed once the table maps the code, the broken version is the newest in the
/// first (queued), older than the good one in the second (superseded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_refusal_and_a_version_of_its_record_in_one_batch_the_replay_should_follow_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let good = include_str!("../../crates/silgate/samples/demo.jsonl").lines().next().unwrap().to_string();
    let broken = crate::runtime::cv_with_five_level_experience();
    let tables = sixth_table(dir.path());
    let today = silgate_gateway::today();
    for (name, lines, want) in [("broken-last", [&good, &broken], (1, 0)), ("broken-first", [&broken, &good], (0, 1))] {
        let config = |with_table: bool| {
            let mut cfg = silgate_gateway::GatewayConfig::new("campania", "CAMPANIA", dir.path().join(name), silgate_publish::ClientConfig::new("http://127.0.0.1:9/ws"));
            cfg.optional_unmappable = silgate_std1546::fit::Unmappable::Reject;
            cfg.code_tables = with_table.then(|| tables.clone());
            cfg
        };
        let input = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&input, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
        let parts = silgate_gateway::Parts::open(config(false)).await.unwrap();
        let s = parts.ingest_files(std::slice::from_ref(&input), today).await.unwrap();
        assert_eq!((s.queued, s.rejected), (1, 1), "{name}: {s:?}");
        drop(parts);
        let parts = silgate_gateway::Parts::open(config(true)).await.unwrap();
        let r = silgate_gateway::kept::replay(&parts, &silgate_gateway::kept::Filter::default(), today).await.unwrap();
        assert_eq!((r.taken, r.queued, r.superseded), (1, want.0, want.1), "{name}: {r:?}");
        assert!(parts.audit_log.verify().await.unwrap().is_ok());
    }
}

/// A closure read in the same input as the send it closes names nothing yet (the send
/// is queued with the batch): kept with its record, the replay closes the vacancy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_closure_in_the_batch_of_its_send_the_replay_should_queue_it() {
    let dir = tempfile::tempdir().unwrap();
    let send = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).unwrap();
    let mut closure: serde_json::Value = serde_json::from_str(send).unwrap();
    closure["system"]["communication"] = serde_json::json!({"kind": "closure", "closure_reason": "03"});
    let input = dir.path().join("send-and-close.jsonl");
    std::fs::write(&input, format!("{send}\n{closure}\n")).unwrap();
    let cfg = silgate_gateway::GatewayConfig::new("puglia", "PUGLIA", dir.path().join("data"), silgate_publish::ClientConfig::new("http://127.0.0.1:9/ws"));
    let parts = silgate_gateway::Parts::open(cfg).await.unwrap();
    let today = silgate_gateway::today();
    let s = parts.ingest_files(std::slice::from_ref(&input), today).await.unwrap();
    assert_eq!((s.queued, s.rejected), (1, 1), "{s:?}");
    let kept = parts.kept().list(&silgate_gateway::kept::Filter::default()).await.unwrap();
    assert_eq!((kept.len(), kept[0].rule.as_str(), kept[0].replayable), (1, "closure.unknown-original", true), "{kept:?}");
    let r = silgate_gateway::kept::replay(&parts, &silgate_gateway::kept::Filter::default(), today).await.unwrap();
    assert_eq!((r.taken, r.queued, r.superseded), (1, 1, 0), "the closure was read after its send: {r:?}");
    assert!(parts.audit_log.verify().await.unwrap().is_ok());
}
