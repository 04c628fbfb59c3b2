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
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&bk).unwrap().permissions().mode() & 0o777, 0o700);
        for f in &m.files {
            assert_eq!(std::fs::metadata(bk.join(&f.file)).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.file);
        }
    }
    assert!(silgate_gateway::backup::backup(&cfg, &bk).await.unwrap_err().to_string().contains("not empty"));
    // The run goes on past the backup: the rest of the first file, a second one.
    drop_in(&inbox, "second.jsonl", &vacancies(2000, 40));
    until_accepted(&node, 240, "every record before the restore").await;
    until_drained(&gw).await;
    // Refused while the instance runs.
    let refused = silgate_gateway::backup::restore(cfg.clone(), &bk, None).await.unwrap_err();
    assert!(refused.to_string().contains("running already"), "{refused}");
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.unwrap().unwrap();
    assert!(at_backup < 200, "the backup was taken with the first file under way ({at_backup} delivered)");

    // Restored: the audit in use kept, what was settled since brought over, the second
    // file (moved to done/ after the backup) back in the inbox.
    let r = silgate_gateway::backup::restore(cfg.clone(), &bk, None).await.unwrap();
    assert!(r.audit_kept);
    assert!(r.settled >= 40, "{r:?}");
    assert_eq!(r.inputs, 1, "{r:?}");
    assert!(inbox.join("second.jsonl").exists());
    assert!(r.aside.join("queue.db").exists() && r.aside.join("dedup.db").exists(), "the stores in use are set aside, not deleted");
    // Going on: the backed-up items delivered since are acked unsent, the second file
    // is read again and found delivered.
    let gw = Gateway::start(cfg.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while inbox.join("second.jsonl").exists() {
        assert!(Instant::now() < deadline, "the second file was not read again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until_drained(&gw).await;
    let totals = node.stats(1).await.unwrap().totals;
    assert_eq!((totals.accepted, totals.distinct_codes), (240, 240), "every record once, none under a second id: {totals:?}");
    let report = gw.parts().audit_log.verify().await.unwrap();
    assert!(report.is_ok(), "the chain holds and every delivered record has its story: {report:?}");
    let restored = gw.parts().audit_log.query(&silgate_audit::Query::default()).await.unwrap().into_iter().filter_map(|e| e.typed()).filter(|e| e.name() == "restored").count();
    assert_eq!(restored, 1);
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.unwrap().unwrap();

    // A restore killed once it had set the stores aside: nothing opens the stores until
    // it is run again, which finishes it from there; the run goes on, nothing twice.
    std::fs::write(data.join("restore.pending"), format!("{{\"aside\":\"{}\",\"audit_kept\":true}}", r.aside.display())).unwrap();
    std::fs::remove_file(data.join("queue.db")).unwrap();
    let blocked = silgate_gateway::Parts::open(cfg.clone()).await.unwrap_err();
    assert!(blocked.to_string().contains("did not finish"), "{blocked}");
    let again = silgate_gateway::backup::restore(cfg.clone(), &bk, None).await.unwrap();
    assert_eq!(again.aside, r.aside);
    assert!(!data.join("restore.pending").exists());
    let gw = Gateway::start(cfg.clone()).await.unwrap();
    until_drained(&gw).await;
    let totals = node.stats(1).await.unwrap().totals;
    assert_eq!((totals.accepted, totals.distinct_codes), (240, 240), "{totals:?}");
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
