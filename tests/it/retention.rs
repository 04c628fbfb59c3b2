//! Retention: personal content past its `[retention]` days (dead letters, inputs kept
//! in `done/` and `refused/`, pulled feeds set aside) is deleted by `silgate purge` and
//! inside `silgate run`, each purge audited by count, and the audit still verifies.
#![allow(clippy::unwrap_used)]

use silgate_core::Queue as _;
use std::time::{Duration, SystemTime};

/// A gateway configuration in `dir` (Puglia, one canonical-json inbox, a node nobody
/// answers on) with `extra` appended: its data folder, its inbox, its file.
fn gateway_in(dir: &std::path::Path, extra: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (data, inbox, path) = (dir.join("data"), dir.join("inbox"), dir.join("gateway.toml"));
    let text = format!(
        "region = \"puglia\"\nregion_name = \"PUGLIA\"\ndata_dir = \"{}\"\n[node]\nurl = \"http://127.0.0.1:9/ws\"\n\
         [[sources]]\nkind = \"canonical-json\"\ninbox = \"{}\"\n{extra}",
        data.display(),
        inbox.display()
    );
    std::fs::write(&path, text).unwrap();
    (data, inbox, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_content_past_its_days_a_purge_should_delete_it_and_audit_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (data, inbox, cfg_path) = gateway_in(dir.path(), "[retention]\ndead_letters_days = 30\ninputs_days = 90\n");
    let cfg = silgate_gateway::GatewayConfig::load(&cfg_path).unwrap();
    let parts = silgate_gateway::Parts::open(cfg).await.unwrap();
    // A dead letter (a whole document).
    let sample = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).unwrap();
    let input = dir.path().join("v.jsonl");
    std::fs::write(&input, format!("{sample}\n")).unwrap();
    assert_eq!(parts.ingest_files(std::slice::from_ref(&input), silgate_gateway::today()).await.unwrap().queued, 1);
    let leased = parts.queue.lease(1, Duration::from_secs(1)).await.unwrap();
    // As the publisher gives up: the index first, then the dead-letter store.
    parts.dedup.mark_dead(&leased[0].item.message_id).await.unwrap();
    parts.queue.dead_letter(leased[0].lease, "attempts exhausted").await.unwrap();
    // Inputs kept after reading: a file done, a refused one with its reason, an Access
    // export's folder, a pulled feed set aside.
    for d in ["done", "refused"] {
        std::fs::create_dir_all(inbox.join(d)).unwrap();
    }
    std::fs::write(inbox.join("done/Mario_Rossi.jsonl"), "x").unwrap();
    std::fs::write(inbox.join("refused/Anna_Neri.zip"), "x").unwrap();
    std::fs::write(inbox.join("refused/Anna_Neri.zip.reason.txt"), "x").unwrap();
    std::fs::create_dir_all(inbox.join("done/Export.Campania/sub")).unwrap();
    std::fs::write(inbox.join("done/Export.Campania/sub/db.accdb"), "x").unwrap();
    std::fs::create_dir_all(data.join("refused")).unwrap();
    std::fs::write(data.join("refused/sintesi-abc.xml"), "x").unwrap();
    // An export made a year ago, moved in now: its days count from its move.
    let old = inbox.join("done/old-export.jsonl");
    std::fs::write(&old, "x").unwrap();
    std::fs::File::options().write(true).open(&old).unwrap().set_modified(SystemTime::now() - Duration::from_secs(365 * 86_400)).unwrap();
    // Not inputs: a dot entry is left alone.
    std::fs::write(inbox.join("done/.keep"), "").unwrap();

    // Nothing is past its days yet.
    let now = SystemTime::now();
    let s = silgate_gateway::retention::purge(&parts, now).await.unwrap();
    assert_eq!((s.dead_letters, s.inputs), (Some(0), Some(0)));
    // 40 days on: the dead letter (30) goes, the inputs (90) stay.
    let s = silgate_gateway::retention::purge(&parts, now + Duration::from_secs(40 * 86_400)).await.unwrap();
    assert_eq!((s.dead_letters, s.inputs), (Some(1), Some(0)), "the year-old export moved in now stays");
    assert!(old.exists());
    assert!(parts.queue.dead_letters(10).await.unwrap().is_empty());
    // 100 days on: every input, counted once each (a reason note goes with its input);
    // the pulled feed is emptied, not removed (the file keeps its pull paused).
    let s = silgate_gateway::retention::purge(&parts, now + Duration::from_secs(100 * 86_400)).await.unwrap();
    assert_eq!((s.dead_letters, s.inputs), (Some(0), Some(5)));
    assert_eq!(std::fs::read_dir(inbox.join("refused")).unwrap().count(), 0);
    let left: Vec<_> = std::fs::read_dir(inbox.join("done")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from(".keep")]);
    assert_eq!(std::fs::metadata(data.join("refused/sintesi-abc.xml")).unwrap().len(), 0);
    // Audited by count, never by name; the audit verifies.
    let events: Vec<silgate_audit::Event> = parts.audit_log.query(&silgate_audit::Query::default()).await.unwrap().into_iter().filter_map(|e| e.typed()).collect();
    let purged: Vec<&silgate_audit::Event> = events.iter().filter(|e| e.name() == "purged").collect();
    assert_eq!(
        purged,
        [
            &silgate_audit::Event::Purged { what: "dead-letter".into(), count: 1, older_than_days: 30 },
            &silgate_audit::Event::Purged { what: "inputs".into(), count: 5, older_than_days: 90 }
        ]
    );
    let all = parts.audit_log.query(&silgate_audit::Query::default()).await.unwrap().iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(!all.contains("Rossi") && !all.contains("Neri"), "{all}");
    assert!(parts.audit_log.verify().await.unwrap().is_ok());
    // The purged dead letter's story ends with its purge, under its message id; the
    // index no longer knows it: the same record exported again is judged and sent again.
    let story = parts.audit_log.query(&silgate_audit::Query { record: Some(leased[0].item.message_id.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(story.last().and_then(|e| e.typed()).map(|e| e.name()), Some("purged"));
    assert_eq!(parts.ingest_files(std::slice::from_ref(&input), silgate_gateway::today()).await.unwrap().queued, 1);
    drop(parts);

    // The command: what went, by kind.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_silgate")).args(["purge", "--config"]).arg(&cfg_path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dead letters: 0 deleted") && text.contains("inputs: 0 deleted"), "{text}");
}

/// Erasure on request: a person's versions (delivered and still queued), their kept
/// inputs, gone; another person's untouched; the audit tells the erasure without the
/// fiscal code and verifies; a later export of that person is sent as new; the command
/// is refused while the instance runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_erasure_request_the_person_should_be_gone_from_every_store_and_sent_as_new_later() {
    let dir = tempfile::tempdir().unwrap();
    let (data, inbox, cfg_path) = gateway_in(dir.path(), "");
    let cfg = silgate_gateway::GatewayConfig::load(&cfg_path).unwrap();
    let parts = silgate_gateway::Parts::open(cfg.clone()).await.unwrap();
    let demo = include_str!("../../crates/silgate/samples/demo.jsonl");
    let (giulia, salvatore) = (demo.lines().find(|l| l.contains("RSSGLI95P49C352Z")).unwrap(), demo.lines().find(|l| l.contains("RMNSVT79E03G273Y")).unwrap());
    // Giulia's first CV delivered, as the publisher records it; her update and
    // Salvatore's CV still queued.
    let first = dir.path().join("first.jsonl");
    std::fs::write(&first, format!("{giulia}\n")).unwrap();
    assert_eq!(parts.ingest_files(std::slice::from_ref(&first), silgate_gateway::today()).await.unwrap().queued, 1);
    let leased = parts.queue.lease(1, Duration::from_secs(1)).await.unwrap();
    let it = &leased[0].item;
    let offer = silgate_dedup::Identity { message_id: it.message_id.clone(), key_hash: it.key_hash.clone(), content_hash: it.content_hash.clone() };
    parts.dedup.mark_delivered(&offer, "RIC-1").await.unwrap();
    parts.queue.ack(leased[0].lease).await.unwrap();
    let update = giulia.replace("\"Giulia\"", "\"Giuliana\"");
    assert_ne!(update, giulia);
    let second = dir.path().join("second.jsonl");
    std::fs::write(&second, format!("{update}\n{salvatore}\n")).unwrap();
    assert_eq!(parts.ingest_files(std::slice::from_ref(&second), silgate_gateway::today()).await.unwrap().queued, 2);
    let two = parts.queue.lease(2, Duration::from_secs(1)).await.unwrap();
    assert_eq!(two.len(), 2);
    let id_of = |cf: &str| two.iter().find(|l| l.item.document.contains(cf)).unwrap().item.message_id.clone();
    let (hers, his) = (id_of("RSSGLI95P49C352Z"), id_of("RMNSVT79E03G273Y"));
    for l in &two {
        parts.queue.release(l.lease, Duration::ZERO).await.unwrap();
    }
    // Kept inputs: one naming her (lowercase), one naming only him, a workbook.
    std::fs::create_dir_all(inbox.join("done")).unwrap();
    std::fs::write(inbox.join("done/export-1.jsonl"), giulia.to_lowercase()).unwrap();
    std::fs::write(inbox.join("done/export-2.jsonl"), salvatore).unwrap();
    std::fs::write(inbox.join("done/export-3.xlsx"), b"PK\x03\x04 compressed").unwrap();
    drop(parts);

    // Refused while the instance runs (a delivery in flight could still go).
    let running = silgate_gateway::Gateway::start(cfg.clone()).await.unwrap();
    let refused = silgate_gateway::erasure::erase_stopped(cfg.clone(), "RSSGLI95P49C352Z").await.unwrap_err();
    assert!(refused.to_string().contains("running already"), "{refused}");
    running.shutdown().await.unwrap();

    // The code on standard input (out of the process list), any case.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_silgate"))
        .args(["purge", "--config"])
        .arg(&cfg_path)
        .args(["--fiscal-code", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"rssgli95p49c352z\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("forgotten by the dedup index: 2") && text.contains("dead letters deleted: 1") && text.contains("naming the person deleted: 1"), "{text}");
    assert!(text.contains("could not be searched (compressed), left to inputs_days: 1"), "{text}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_silgate")).args(["purge", "--config"]).arg(&cfg_path).args(["--fiscal-code", "RSSGLI"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--fiscal-code"));

    // Not in the queue's file, its free pages or its log, delivered or waiting; his is.
    let on_disk = |cf: &str| ["queue.db", "queue.db-wal"].iter().any(|f| std::fs::read(data.join(f)).is_ok_and(|b| b.windows(cf.len()).any(|w| w == cf.as_bytes())));
    assert!(!on_disk("RSSGLI95P49C352Z"), "her documents are gone from the queue's file");
    assert!(on_disk("RMNSVT79E03G273Y"));
    let parts = silgate_gateway::Parts::open(cfg).await.unwrap();
    // Only Salvatore's CV waits; only his input and the workbook are kept.
    let held = parts.queue.holding(vec![hers, his]).await.unwrap();
    assert!(held[0].is_none() && held[1].is_some(), "{held:?}");
    let mut kept: Vec<_> = std::fs::read_dir(inbox.join("done")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    kept.sort();
    assert_eq!(kept, ["export-2.jsonl", "export-3.xlsx"]);
    // The audit: the request, each version, the inputs, by keyed hash; no fiscal code
    // in it; the chain verifies; her versions' stories end with their erasure.
    let entries = parts.audit_log.query(&silgate_audit::Query::default()).await.unwrap();
    let erased: Vec<(String, u64)> = entries
        .iter()
        .filter_map(|e| match e.typed() {
            Some(silgate_audit::Event::Erased { what, count, subject }) => {
                assert_eq!(subject.len(), 64);
                Some((what, count))
            }
            _ => None,
        })
        .collect();
    assert_eq!(erased, [("request".into(), 1), ("version".into(), 1), ("version".into(), 1), ("inputs".into(), 1), ("unsearched".into(), 1)]);
    let all = entries.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(!all.to_uppercase().contains("RSSGLI95P49C352Z"), "{all}");
    assert!(parts.audit_log.verify().await.unwrap().is_ok());
    let story = parts.audit_log.query(&silgate_audit::Query { record: Some(it.message_id.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(story.last().and_then(|e| e.typed()).map(|e| e.name()), Some("erased"));
    // Exported again, her first CV is new: queued to be sent.
    assert_eq!(parts.ingest_files(std::slice::from_ref(&first), silgate_gateway::today()).await.unwrap().queued, 1);
}

/// The reference node's own retention: a received document's content goes once its
/// days are past; the row that answers a repeated id stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_documents_past_their_days_the_node_should_delete_their_content_and_keep_the_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut node_cfg = silgate_node::NodeConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"));
    node_cfg.retention.documents_days = Some(30);
    let node = silgate_node::start(node_cfg).await.unwrap();
    let cfg = silgate_gateway::GatewayConfig::new("puglia", "PUGLIA", dir.path().join("data"), silgate_publish::ClientConfig::new(node.endpoint()));
    let sample = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).unwrap();
    let send = dir.path().join("send.jsonl");
    std::fs::write(&send, format!("{sample}\n")).unwrap();
    let gw = silgate_gateway::Gateway::start(cfg).await.unwrap();
    assert_eq!(gw.parts().ingest_files(std::slice::from_ref(&send), silgate_gateway::today()).await.unwrap().queued, 1);
    crate::runtime::until_accepted(&node, 1, "not delivered").await;
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.unwrap().unwrap();

    let now = SystemTime::now();
    assert_eq!(node.purge(now).await.unwrap(), Some(0), "within its days");
    assert_eq!(node.purge(now + Duration::from_secs(40 * 86_400)).await.unwrap(), Some(1));
    let db = rusqlite::Connection::open(dir.path().join("node.db")).unwrap();
    let (doc, digest, response, code): (Option<String>, Option<String>, String, String) =
        db.query_row("SELECT document, digest, response, code FROM documents", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap();
    assert!(doc.is_none(), "the content went");
    assert!(digest.is_some_and(|d| d.len() == 64) && !response.is_empty() && code.len() == 25, "what answers a repeated id stays");
    assert_eq!(node.stats(24).await.unwrap().totals.accepted, 1, "the counts hold");
    node.stop().await;
    // Zero days would delete what just arrived: refused.
    let mut zero = silgate_node::NodeConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node2.db"));
    zero.retention.documents_days = Some(0);
    assert!(silgate_node::start(zero).await.unwrap_err().to_string().contains("documents_days"));
}
