//! Backup and restore of the embedded default: a backup taken while the gateway runs,
//! restored after the run went on, and the run going on again: every record at the
//! node once, nothing sent twice, the audit complete.
#![allow(clippy::unwrap_used)]

use crate::runtime::until_accepted;
use silgate_core::Queue as _;
use silgate_gateway::{Gateway, GatewayConfig};
use std::path::Path;
use std::time::{Duration, Instant};

/// `n` vacancies of the demo sample, local ids from `from`.
fn vacancies(from: u32, n: u32) -> String {
    let sample = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).unwrap();
    (from..from + n).map(|i| sample.replace("\"2026/77\"", &format!("\"2026/{i}\"")) + "\n").collect()
}

/// Drops a file in the inbox as a CPI's system would: written beside it, then moved in.
fn drop_in(inbox: &Path, name: &str, text: &str) {
    let tmp = inbox.join(format!(".{name}.part"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, inbox.join(name)).unwrap();
}

/// Waits until the gateway's queue is empty (nothing waiting, nothing leased).
async fn until_drained(gw: &silgate_gateway::GatewayHandle) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = gw.parts().queue.stats().await.unwrap();
        if s.ready == 0 && s.leased.unwrap_or(0) == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the queue did not drain: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_backup_taken_mid_run_a_restore_should_go_on_with_nothing_lost_and_nothing_sent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut node_cfg = silgate_node::NodeConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"));
    // Slow answers: the backup is taken with deliveries under way.
    node_cfg.faults = silgate_node::Faults { latency_ms: 100, ..silgate_node::Faults::default() };
    let node = silgate_node::start(node_cfg).await.unwrap();
    let (data, inbox, bk) = (dir.path().join("data"), dir.path().join("inbox"), dir.path().join("backup"));
    std::fs::create_dir_all(&inbox).unwrap();
    let cfg_path = dir.path().join("gateway.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "region = \"puglia\"\nregion_name = \"PUGLIA\"\ndata_dir = \"{}\"\n[node]\nurl = \"{}\"\n\
             [[sources]]\nkind = \"canonical-json\"\ninbox = \"{}\"\npoll_secs = 1\n",
            data.display(),
            node.endpoint(),
            inbox.display()
        ),
    )
    .unwrap();
    let cfg = GatewayConfig::load(&cfg_path).unwrap();

    // A backup needs stores to copy.
    assert!(silgate_gateway::backup::backup(&cfg, &bk).await.unwrap_err().to_string().contains("has not run"));
    let gw = Gateway::start(cfg.clone()).await.unwrap();
    drop_in(&inbox, "first.jsonl", &vacancies(1000, 200));
    until_accepted(&node, 5, "the first deliveries").await;
    // Taken while deliveries go on: some of the first file delivered, some not.
    let m = silgate_gateway::backup::backup(&cfg, &bk).await.unwrap();
    let at_backup = node.stats(1).await.unwrap().totals.accepted;
    let roles: Vec<&str> = m.files.iter().map(|f| f.role.as_str()).collect();
    assert_eq!(roles[..4], ["queue", "dedup", "audit", "secret"]);
    assert!(!roles.contains(&"anchor-key"), "anchors are not configured: no key was made");
    assert!(roles.contains(&"kept"), "the refusals kept for a replay: {roles:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&bk).unwrap().permissions().mode() & 0o777, 0o700);
        for f in &m.files {
            assert_eq!(std::fs::metadata(bk.join(&f.file)).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.file);
        }
    }
    assert!(silgate_gateway::backup::backup(&cfg, &bk).await.unwrap_err().to_string().contains("not empty"));
    // The run goes on past the backup: the rest of the first file, a second one, and a
    // third still waiting when the gateway stops (queued after the backup).
    drop_in(&inbox, "second.jsonl", &vacancies(2000, 40));
    until_accepted(&node, 240, "every record before the restore").await;
    until_drained(&gw).await;
    // Refused while the instance runs.
    let refused = silgate_gateway::backup::restore(cfg.clone(), &bk, None).await.unwrap_err();
    assert!(refused.to_string().contains("running already"), "{refused}");
    drop_in(&inbox, "third.jsonl", &vacancies(3000, 300));
    let deadline = Instant::now() + Duration::from_secs(30);
    while inbox.join("third.jsonl").exists() {
        assert!(Instant::now() < deadline, "the third file was not read");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.unwrap().unwrap();
    let at_stop = node.stats(1).await.unwrap().totals.accepted;
    assert!(at_backup < 200, "the backup was taken with the first file under way ({at_backup} delivered)");
    assert!(at_stop < 540, "the third file was still under way when the gateway stopped ({at_stop} delivered)");

    // Restored: the audit in use kept, what the stores in use learnt since brought
    // over (deliveries, the third file's waiting items), no input read again.
    let r = silgate_gateway::backup::restore(cfg.clone(), &bk, None).await.unwrap();
    assert!(r.audit_kept);
    assert!(r.settled + r.added >= 540 - usize::try_from(at_backup).unwrap() && r.added >= 340 && r.waiting > 0, "{r:?}");
    assert_eq!(r.inputs, 0, "the queue in use was read: no input is read again ({r:?})");
    assert_eq!(r.aside.len(), 2, "queue and index set aside, not deleted: {r:?}");
    assert!(r.aside.iter().all(|p| p.exists()));
    // Going on: the backed-up items delivered since are not sent again, the third
    // file's waiting items go (new eGov ids above every one used before).
    let gw = Gateway::start(cfg.clone()).await.unwrap();
    until_accepted(&node, 540, "the third file after the restore").await;
    until_drained(&gw).await;
    let totals = node.stats(1).await.unwrap().totals;
    assert_eq!((totals.accepted, totals.distinct_codes), (540, 540), "every record once, none under a second id: {totals:?}");
    assert_eq!(totals.envelopes_refused, 0, "no eGov id used twice: {totals:?}");
    let report = gw.parts().audit_log.verify().await.unwrap();
    assert!(report.is_ok(), "the chain holds and every delivered record has its story: {report:?}");
    let restored = gw.parts().audit_log.query(&silgate_audit::Query::default()).await.unwrap().into_iter().filter_map(|e| e.typed()).filter(|e| e.name() == "restored").count();
    assert_eq!(restored, 1);
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.unwrap().unwrap();

    // A restore killed once it had set the stores aside: nothing opens the stores until
    // it is run again, which finishes it from there; the run goes on, nothing twice.
    // Killed after it set the queue aside, before the index: the run again moves the
    // index too, and carries from both.
    let aside_ms = 1_000 + m.taken_ms;
    std::fs::write(data.join("restore.pending"), format!("{{\"taken_ms\":{},\"aside_ms\":{aside_ms},\"audit_kept\":true}}", m.taken_ms)).unwrap();
    std::fs::rename(data.join("queue.db"), data.join(format!("queue.db.before-restore-{aside_ms}"))).unwrap();
    let blocked = silgate_gateway::Parts::open(cfg.clone()).await.unwrap_err();
    assert!(blocked.to_string().contains("did not finish"), "{blocked}");
    assert!(silgate_gateway::backup::backup(&cfg, &dir.path().join("bk2")).await.unwrap_err().to_string().contains("did not finish"));
    let again = silgate_gateway::backup::restore(cfg.clone(), &bk, None).await.unwrap();
    assert_eq!(again.aside.len(), 2, "{again:?}");
    assert!(again.settled + again.added >= 540 - usize::try_from(at_backup).unwrap(), "{again:?}");
    assert!(!data.join("restore.pending").exists());
    let gw = Gateway::start(cfg.clone()).await.unwrap();
    until_drained(&gw).await;
    let totals = node.stats(1).await.unwrap().totals;
    assert_eq!((totals.accepted, totals.distinct_codes), (540, 540), "{totals:?}");
    assert!(gw.parts().audit_log.verify().await.unwrap().is_ok());
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.unwrap().unwrap();

    // The queue in use lost too (its volume): the inputs moved since the backup are
    // read again and found delivered; nothing is sent twice.
    for f in ["queue.db", "queue.db-wal", "queue.db-shm"] {
        if data.join(f).exists() {
            std::fs::remove_file(data.join(f)).unwrap();
        }
    }
    let lost = silgate_gateway::backup::restore(cfg.clone(), &bk, None).await.unwrap();
    assert!(lost.inputs >= 2 && lost.waiting == 0, "the second and third files go back to the inbox: {lost:?}");
    assert!(inbox.join("third.jsonl").exists());
    let gw = Gateway::start(cfg.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while inbox.join("second.jsonl").exists() || inbox.join("third.jsonl").exists() {
        assert!(Instant::now() < deadline, "the inputs put back were not read again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until_drained(&gw).await;
    let totals = node.stats(1).await.unwrap().totals;
    assert_eq!((totals.accepted, totals.distinct_codes), (540, 540), "{totals:?}");
    assert!(gw.parts().audit_log.verify().await.unwrap().is_ok());
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.unwrap().unwrap();

    // A damaged backup, or another instance's, is refused before anything moves.
    let mut other = cfg.clone();
    other.instance = "another".into();
    assert!(silgate_gateway::backup::check(&other, &bk).unwrap_err().to_string().contains("instance"));
    let audit_copy = bk.join("audit.db");
    let mut bytes = std::fs::read(&audit_copy).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&audit_copy, bytes).unwrap();
    assert!(silgate_gateway::backup::check(&cfg, &bk).unwrap_err().to_string().contains("damaged"));
}
