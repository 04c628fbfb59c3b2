//! The gateway started in process through `silgate_gateway::Gateway::start`, as `demo`
//! and any embedding start it: an inbox, the push API and the metrics listener, the
//! reference node started the same way, then `shutdown` draining.

use silgate_gateway::config::{ApiClient, ApiConfig, MetricsConfig, SourceConfig};
use silgate_gateway::{Gateway, GatewayConfig, SourceKind};
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One plain HTTP/1.1 request on loopback; the status code and the body.
fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_gateway_started_in_process_it_should_deliver_serve_and_shut_down_draining() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = silgate_node::start(silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"))).await.expect("node");
    let inbox = dir.path().join("inbox");
    let mut cfg = GatewayConfig::new("campania", "CAMPANIA", dir.path().join("data"), silgate_publish::ClientConfig::new(node.endpoint()));
    cfg.sources.push(SourceConfig {
        kind: SourceKind::CanonicalJson,
        url: None,
        cpi: None,
        ca: None,
        client_cert: None,
        client_key: None,
        imap: None,
        mapping: None,
        inbox: Some(inbox.clone()),
        poll_secs: 1,
    });
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let token = {
        use sha2::Digest as _;
        hex_of(&sha2::Sha256::digest(b"bari-secret"))
    };
    cfg.api = Some(ApiConfig::new(loopback, vec![ApiClient { cpi: "CPIBA01".into(), token_sha256: Some(token), cert_sha256: None }]));
    cfg.metrics = Some(MetricsConfig { listen: loopback });
    let gw = Gateway::start(cfg).await.expect("start");
    let (api, metrics) = (gw.api_addr().expect("api bound"), gw.metrics_addr().expect("metrics bound"));
    assert!(api.port() != 0 && metrics.port() != 0, "the handle names the bound ports");
    // The bundled samples: eight records the node accepts, two the rules refuse.
    std::fs::write(inbox.join("demo.jsonl"), include_str!("../../crates/silgate/samples/demo.jsonl")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.stats(1).await.expect("stats").totals.accepted < 8 {
        assert!(Instant::now() < deadline, "the inbox was not delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(inbox.join("done/demo.jsonl").is_file(), "the file moved to done/ once its records were queued");
    // The node holds a document before the gateway has settled its delivery (audited,
    // acked, counted): wait for the count.
    let (a, m) = loop {
        let (a, m) = tokio::task::spawn_blocking(move || {
            (http(api, "GET /v1/records/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), http(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        })
        .await
        .expect("requests");
        if m.1.contains("silgate_gateway_delivery_outcomes_total{outcome=\"delivered\"} 8") || Instant::now() > deadline {
            break (a, m);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(a.0, 401, "{a:?}");
    assert_eq!(m.0, 200);
    assert!(m.1.contains("silgate_gateway_records_total{source=\"canonical-json\",cpi=\"CPIBA01\",outcome=\"queued\"}"), "{}", m.1);
    assert!(m.1.contains("silgate_gateway_delivery_outcomes_total{outcome=\"delivered\"} 8"), "{}", m.1);
    assert!(m.1.trim_end().ends_with("# EOF"), "OpenMetrics text ends with # EOF");
    let parts = gw.parts().clone();
    let stopped = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown drains in time").expect("shutdown");
    assert!(stopped.elapsed() < Duration::from_secs(30));
    assert!(std::net::TcpStream::connect(api).is_err(), "the API listener is closed after shutdown");
    assert!(parts.audit_log.verify().await.expect("verify").is_ok());
    node.stop().await;
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits until the node has accepted `n` documents, failing the test after 30 s with `what`.
pub(crate) async fn until_accepted(node: &silgate_node::NodeHandle, n: i64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.stats(1).await.expect("stats").totals.accepted < n {
        assert!(Instant::now() < deadline, "{what}: {:?}", node.stats(1).await.expect("stats").totals);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_retry_after_longer_than_the_cap_the_item_should_go_back_to_the_queue_not_hold_a_worker() {
    use silgate_core::Queue as _;
    let dir = tempfile::tempdir().expect("tmp");
    let mut node_cfg = silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"));
    // Every request answered 429, come back in an hour.
    node_cfg.faults = silgate_node::Faults { throttle_rate: 1.0, retry_after_secs: 3600, ..silgate_node::Faults::default() };
    let node = silgate_node::start(node_cfg).await.expect("node");
    let mut cfg = GatewayConfig::new("campania", "CAMPANIA", dir.path().join("data"), silgate_publish::ClientConfig::new(node.endpoint()));
    cfg.delivery.max_retry_after_secs = 1;
    cfg.delivery.concurrency = 2;
    let gw = Gateway::start(cfg).await.expect("start");
    let input = dir.path().join("demo.jsonl");
    std::fs::write(&input, include_str!("../../crates/silgate/samples/demo.jsonl")).expect("write");
    let queued = gw.parts().ingest_files(std::slice::from_ref(&input), silgate_gateway::today()).await.expect("ingest").queued;
    assert_eq!(queued, 8);
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.stats(1).await.expect("stats").totals.faults_injected < 8 {
        assert!(Instant::now() < deadline, "not every item was tried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two workers got through eight items: none waited the hour out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = node.stats(1).await.expect("stats").totals;
    assert_eq!((t.faults_injected, t.retry_after_violations, t.accepted), (8, 0, 0), "each tried once, none came back early");
    let q = gw.parts().queue.stats().await.expect("queue");
    assert_eq!((q.leased, q.dead), (Some(0), 0), "every item back in the queue, due in an hour: {q:?}");
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown in time").expect("shutdown");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_send_that_outlives_the_visibility_timeout_its_lease_should_be_renewed_and_the_item_sent_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut node_cfg = silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"));
    // The node takes four seconds to answer; a lease lasts two.
    node_cfg.faults = silgate_node::Faults { latency_ms: 4000, ..silgate_node::Faults::default() };
    let node = silgate_node::start(node_cfg).await.expect("node");
    let mut cfg = GatewayConfig::new("campania", "CAMPANIA", dir.path().join("data"), silgate_publish::ClientConfig::new(node.endpoint()));
    cfg.queue.visibility_timeout_secs = 2;
    cfg.delivery.lease_renew_secs = 60; // the gateway renews at least twice per visibility timeout
    cfg.delivery.concurrency = 4;
    let gw = Gateway::start(cfg).await.expect("start");
    let input = dir.path().join("one.jsonl");
    let first = include_str!("../../crates/silgate/samples/demo.jsonl").lines().next().expect("a sample");
    std::fs::write(&input, format!("{first}\n")).expect("write");
    assert_eq!(gw.parts().ingest_files(std::slice::from_ref(&input), silgate_gateway::today()).await.expect("ingest").queued, 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.stats(1).await.expect("stats").totals.accepted < 1 {
        assert!(Instant::now() < deadline, "not delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a second worker to have taken a lapsed lease, had there been one.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let t = node.stats(1).await.expect("stats").totals;
    assert_eq!((t.accepted, t.duplicates), (1, 0), "sent once: the lease held for the whole send");
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown in time").expect("shutdown");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_records_the_node_refused_a_re_export_should_send_them_again() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut node_cfg = silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"));
    node_cfg.admin = true;
    node_cfg.faults = silgate_node::Faults { reject_rate: 1.0, ..silgate_node::Faults::default() };
    let node = silgate_node::start(node_cfg).await.expect("node");
    let cfg = GatewayConfig::new("campania", "CAMPANIA", dir.path().join("data"), silgate_publish::ClientConfig::new(node.endpoint()));
    let gw = Gateway::start(cfg).await.expect("start");
    let input = dir.path().join("demo.jsonl");
    std::fs::write(&input, include_str!("../../crates/silgate/samples/demo.jsonl")).expect("write");
    let today = silgate_gateway::today();
    assert_eq!(gw.parts().ingest_files(std::slice::from_ref(&input), today).await.expect("ingest").queued, 8);
    let deadline = Instant::now() + Duration::from_secs(30);
    while gw.delivery().refused.load(std::sync::atomic::Ordering::Relaxed) < 8 {
        assert!(Instant::now() < deadline, "not refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The node takes documents again; the same export comes again.
    let addr: SocketAddr = node.base().trim_start_matches("http://").parse().expect("node address");
    let (status, _) = tokio::task::spawn_blocking(move || {
        http(addr, "PUT /admin/faults HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    })
    .await
    .expect("put");
    assert_eq!(status, 204);
    let again = gw.parts().ingest_files(std::slice::from_ref(&input), today).await.expect("ingest");
    assert_eq!((again.queued, again.unchanged), (8, 0), "a refused version is not known: it is sent again");
    // Seen once under the whole suite's load: not all delivered 30 s after the re-export.
    // Not reproduced alone or under CPU load; the counters say where the items were.
    let resent = Instant::now();
    while node.stats(1).await.expect("stats").totals.accepted < 8 {
        assert!(resent.elapsed() < Duration::from_secs(90), "not delivered the second time: {:?}, node {:?}", gw.delivery(), node.stats(1).await.expect("stats").totals);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gw.parts().audit_log.verify().await.expect("verify").is_ok());
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown in time").expect("shutdown");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_update_of_a_delivered_vacancy_it_should_name_the_code_it_replaces() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = silgate_node::start(silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"))).await.expect("node");
    let cfg = GatewayConfig::new("puglia", "PUGLIA", dir.path().join("data"), silgate_publish::ClientConfig::new(node.endpoint()));
    let gw = Gateway::start(cfg).await.expect("start");
    let v1 = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).expect("the sample vacancy").to_string();
    let mut v2: serde_json::Value = serde_json::from_str(&v1).expect("json");
    v2["profile"]["positions"] = serde_json::json!(3);
    let today = silgate_gateway::today();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (n, line) in [v1.clone(), v2.to_string()].into_iter().enumerate() {
        let f = dir.path().join(format!("v{n}.jsonl"));
        std::fs::write(&f, format!("{line}\n")).expect("write");
        assert_eq!(gw.parts().ingest_files(std::slice::from_ref(&f), today).await.expect("ingest").queued, 1);
        while node.stats(1).await.expect("stats").totals.accepted < i64::try_from(n).expect("n") + 1 {
            assert!(Instant::now() < deadline, "version {n} not delivered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let db = rusqlite::Connection::open(dir.path().join("node.db")).expect("node store");
    let docs: Vec<String> = db.prepare("SELECT document FROM documents ORDER BY seq").expect("q").query_map([], |r| r.get(0)).expect("rows").map(|d| d.expect("doc")).collect();
    let tag = |d: &str, t: &str| d.split(&format!(":{t}>")).nth(1).and_then(|r| r.split('<').next()).map(str::to_string);
    let codes: Vec<Option<String>> = docs.iter().map(|d| tag(d, "codiceofferta")).collect();
    let previous: Vec<Option<String>> = docs.iter().map(|d| tag(d, "codiceoffertaprecedente")).collect();
    assert_eq!(previous[0], None, "the first version replaces nothing");
    assert_eq!(previous[1], codes[0], "the update names the first version");
    assert_ne!(codes[1], codes[0]);
    assert!(codes.iter().all(|c| c.as_deref().is_some_and(|c| c.starts_with("14"))), "Puglia's codes start with its ministerial code: {codes:?}");
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown in time").expect("shutdown");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_versions_of_one_vacancy_and_a_node_that_fails_at_random_they_should_arrive_in_order() {
    versions_in_order(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_versions_of_one_vacancy_through_rabbitmq_and_a_node_that_fails_at_random_they_should_arrive_in_order() {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    versions_in_order(Some(format!("silgate.it.order.{t}"))).await;
}

/// Twelve versions of one vacancy among other records, delivered against a node that
/// fails a third of the sends: on the SQLite queue, or on RabbitMQ with the queue named.
async fn versions_in_order(rabbit: Option<String>) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut node_cfg = silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"));
    // A third of the requests answered 503 at random, each answer a little late: a
    // version whose send fails waits its retry while the others go on.
    node_cfg.faults = silgate_node::Faults { error_rate: 0.35, latency_ms: 20, ..silgate_node::Faults::default() };
    let node = silgate_node::start(node_cfg).await.expect("node");
    let mut cfg = GatewayConfig::new("puglia", "PUGLIA", dir.path().join("data"), silgate_publish::ClientConfig::new(node.endpoint()));
    cfg.delivery.concurrency = 8;
    cfg.delivery.min_delay_ms = 10;
    cfg.delivery.max_delay_ms = 200;
    cfg.delivery.max_attempts = 100;
    cfg.delivery.breaker_failures = 1000;
    if let Some(name) = rabbit {
        cfg.queue.backend = silgate_gateway::config::QueueBackend::Rabbitmq;
        cfg.queue.uri = Some(crate::amqp_test_uri().into());
        cfg.queue.name = name;
    }
    let gw = Gateway::start(cfg).await.expect("start");
    // Twelve versions of one vacancy (1..=12 positions) in one file, with the other
    // sample records around them.
    let samples = include_str!("../../crates/silgate/samples/demo.jsonl");
    let v1 = samples.lines().find(|l| l.contains("\"2026/77\"")).expect("the sample vacancy");
    let mut lines: Vec<String> = samples.lines().filter(|l| !l.contains("\"2026/77\"")).map(str::to_string).collect();
    for n in 1..=12 {
        let mut v: serde_json::Value = serde_json::from_str(v1).expect("json");
        v["profile"]["positions"] = serde_json::json!(n);
        lines.insert((n as usize * 2).min(lines.len()), v.to_string());
    }
    let input = dir.path().join("versions.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write");
    let report = gw.parts().ingest_files(std::slice::from_ref(&input), silgate_gateway::today()).await.expect("ingest");
    assert_eq!(report.queued, 12 + 7, "twelve versions and the other accepted samples queued: {report:?}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while node.stats(1).await.expect("stats").totals.accepted < 19 {
        assert!(Instant::now() < deadline, "not delivered: {:?}", node.stats(1).await.expect("stats").totals);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = node.stats(1).await.expect("stats").totals;
    assert!(t.faults_injected > 0, "the node failed some sends: {t:?}");
    let db = rusqlite::Connection::open(dir.path().join("node.db")).expect("node store");
    let docs: Vec<(String, String)> = db
        .prepare("SELECT egov_id, document FROM documents WHERE ok = 1 ORDER BY seq")
        .expect("q")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .map(|d| d.expect("doc"))
        .collect();
    let tag = |d: &str, t: &str| d.split(&format!(":{t}>")).nth(1).and_then(|r| r.split('<').next()).map(str::to_string);
    let versions: Vec<(&str, String, Option<String>)> =
        docs.iter().filter(|(_, d)| d.contains("2026/77")).map(|(id, d)| (id.as_str(), tag(d, "codiceofferta").expect("code"), tag(d, "codiceoffertaprecedente"))).collect();
    assert_eq!(versions.len(), 12, "each version delivered once");
    let positions: Vec<u32> = docs.iter().filter(|(_, d)| d.contains("2026/77")).map(|(_, d)| tag(d, "numerolavoratori").and_then(|n| n.parse().ok()).unwrap_or(0)).collect();
    assert_eq!(positions, (1..=12).collect::<Vec<_>>(), "the node received the versions in the order they were exported");
    for pair in versions.windows(2) {
        assert_eq!(pair[1].2.as_deref(), Some(pair[0].1.as_str()), "each update names the version before it");
    }
    // The dedup index's latest version of the record is the newest one.
    let dedup = rusqlite::Connection::open(dir.path().join("data/dedup.db")).expect("dedup");
    let latest_egov: String =
        dedup.query_row("SELECT m.egov_id FROM latest l JOIN messages m ON m.message_id = l.message_id ORDER BY l.delivered_ms DESC LIMIT 1", [], |r| r.get(0)).expect("latest");
    let newest = versions.last().expect("a version").0;
    // The index records a delivery once the node's answer is back: a moment after the
    // node counted it.
    let is_latest = || {
        dedup.query_row("SELECT count(*) FROM latest l JOIN messages m ON m.message_id = l.message_id WHERE m.egov_id = ?1", [newest], |r| r.get::<_, i64>(0)).expect("count") == 1
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_latest() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(is_latest(), "the newest version is the latest: {latest_egov} vs {newest}");
    assert!(gw.parts().audit_log.verify().await.expect("verify").is_ok());
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown in time").expect("shutdown");
    node.stop().await;
}

/// The first sample CV with its experience's profession at the fifth level.
pub(crate) fn cv_with_five_level_experience() -> String {
    let first = include_str!("../../crates/silgate/samples/demo.jsonl").lines().next().expect("a sample");
    let mut cv: serde_json::Value = serde_json::from_str(first).expect("json");
    assert_eq!(cv["kind"], "cv");
    cv["experiences"][0]["profession"] = serde_json::json!("51220");
    cv.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_five_level_experience_code_the_cv_should_go_without_it_with_a_warning_or_be_rejected_under_reject() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = silgate_node::start(silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"))).await.expect("node");
    let input = dir.path().join("cv.jsonl");
    std::fs::write(&input, cv_with_five_level_experience() + "\n").expect("write");
    let today = silgate_gateway::today();

    // The default, omit: delivered without the element, the omission told four ways.
    let cfg = GatewayConfig::new("campania", "CAMPANIA", dir.path().join("data"), silgate_publish::ClientConfig::new(node.endpoint()));
    let gw = Gateway::start(cfg).await.expect("start");
    let report = gw.parts().ingest_files(std::slice::from_ref(&input), today).await.expect("ingest");
    assert_eq!((report.queued, report.rejected), (1, 0), "{report:?}");
    until_accepted(&node, 1, "not delivered").await;
    let db = rusqlite::Connection::open(dir.path().join("node.db")).expect("node store");
    let doc: String = db.query_row("SELECT document FROM documents WHERE ok = 1", [], |r| r.get(0)).expect("document");
    assert!(!doc.contains(":qualificasvolta>") && doc.contains(":descrqualificasvolta>"), "the code is left out, its title kept: {doc}");
    let field = "/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/qualificasvolta";
    let warnings = std::fs::read_to_string(dir.path().join("data/warnings.jsonl")).expect("warnings file");
    let line: serde_json::Value = serde_json::from_str(warnings.lines().next().expect("a line")).expect("json");
    assert_eq!((line["rule"].as_str(), line["field"].as_str()), (Some("code.unmappable"), Some(field)), "{line}");
    assert!(line["position"].as_str().is_some_and(|p| p.contains("cv.jsonl") && p.contains("line 1")), "names the input and the line: {line}");
    let omitted = gw.parts().audit_log.query(&silgate_audit::Query::default()).await.expect("audit").into_iter().filter_map(|e| e.typed()).find(|e| e.name() == "omitted");
    assert_eq!(omitted, Some(silgate_audit::Event::Omitted { rule: "code.unmappable".into(), field: field.into() }));
    let metrics = gw.parts().metrics.encode(&gw.parts().queue).await;
    assert!(metrics.contains("silgate_gateway_omissions_total{source=\"canonical-json\",cpi=\"CPICE01\",rule=\"code.unmappable\"} 1"), "{metrics}");
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown in time").expect("shutdown");

    // Under reject: quarantined with the rule, at the element.
    let mut cfg = GatewayConfig::new("campania", "CAMPANIA", dir.path().join("strict"), silgate_publish::ClientConfig::new(node.endpoint()));
    cfg.optional_unmappable = silgate_std1546::fit::Unmappable::Reject;
    let gw = Gateway::start(cfg).await.expect("start");
    let report = gw.parts().ingest_files(std::slice::from_ref(&input), today).await.expect("ingest");
    assert_eq!((report.queued, report.rejected), (0, 1), "{report:?}");
    let q = std::fs::read_to_string(dir.path().join("strict/quarantine.jsonl")).expect("quarantine");
    let line: serde_json::Value = serde_json::from_str(q.lines().next().expect("a line")).expect("json");
    assert_eq!((line["rule"].as_str(), line["field"].as_str()), (Some("code.unmappable"), Some(field)), "{line}");
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown in time").expect("shutdown");

    // The region's own table maps the unit: sent with its six-segment code, even under reject.
    let tables = dir.path().join("tables");
    std::fs::create_dir_all(&tables).expect("mkdir");
    std::fs::write(
        tables.join("cp2011-sixth.tsv"),
        "# table: Campania's detail segments\n# source: the region\n# licence: none\n# complete: no: a test\nunit\tcode\tsource\n5.1.2.2.0\t5.1.2.2.0.4\tregion\n",
    )
    .expect("table");
    // A node of its own: a new gateway's first eGov id is the first one's again.
    node.stop().await;
    let node = silgate_node::start(silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node2.db"))).await.expect("node");
    let mut cfg = GatewayConfig::new("campania", "CAMPANIA", dir.path().join("mapped"), silgate_publish::ClientConfig::new(node.endpoint()));
    cfg.optional_unmappable = silgate_std1546::fit::Unmappable::Reject;
    cfg.code_tables = Some(tables);
    let gw = Gateway::start(cfg).await.expect("start");
    let report = gw.parts().ingest_files(std::slice::from_ref(&input), today).await.expect("ingest");
    assert_eq!((report.queued, report.rejected), (1, 0), "{report:?}");
    until_accepted(&node, 1, "not delivered").await;
    let db = rusqlite::Connection::open(dir.path().join("node2.db")).expect("node store");
    let doc: String = db.query_row("SELECT document FROM documents WHERE ok = 1", [], |r| r.get(0)).expect("document");
    assert!(doc.contains(":qualificasvolta>5.1.2.2.0.4<"), "{doc}");
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown in time").expect("shutdown");
    node.stop().await;
}

/// A POST of JSON `body` to `path` with a bearer token; the status and the body.
fn post(addr: SocketAddr, path: &str, token: &str, body: &str) -> (u16, String) {
    http(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_record_naming_another_cpis_or_regions_code_the_push_api_should_refuse_it_with_403() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().expect("tmp");
    let node = silgate_node::start(silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"))).await.expect("node");
    let mut cfg = GatewayConfig::new("puglia", "PUGLIA", dir.path().join("data"), silgate_publish::ClientConfig::new(node.endpoint()));
    let client = |cpi: &str, secret: &[u8]| ApiClient { cpi: cpi.into(), token_sha256: Some(hex_of(&sha2::Sha256::digest(secret))), cert_sha256: None };
    cfg.api = Some(ApiConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), vec![client("CPIBA01", b"bari"), client("CPIFG01", b"foggia")]));
    let gw = Gateway::start(cfg).await.expect("start");
    let api = gw.api_addr().expect("api");
    let sample = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).expect("the sample vacancy");
    let vacancy = |cpi: &str, closure_of: Option<&str>| {
        let mut v: serde_json::Value = serde_json::from_str(sample).expect("json");
        v["system"]["intermediary"]["id"] = serde_json::json!(cpi);
        if let Some(code) = closure_of {
            v["system"]["communication"] = serde_json::json!({"kind": "closure", "closure_reason": "03", "previous_code": code});
        }
        v.to_string()
    };
    let send = move |token: &'static str, body: String| tokio::task::spawn_blocking(move || post(api, "/v1/vacancies", token, &body));
    // Bari's vacancy, delivered: its code is Bari's.
    let (status, _) = send("bari", vacancy("CPIBA01", None)).await.expect("post");
    assert_eq!(status, 202);
    until_accepted(&node, 1, "not delivered").await;
    let db = rusqlite::Connection::open(dir.path().join("node.db")).expect("node store");
    let bari_code: String = db.query_row("SELECT code FROM documents WHERE ok = 1", [], |r| r.get(0)).expect("code");
    // Foggia may not close it, nor name another region's code.
    let (status, body) = send("foggia", vacancy("CPIFG01", Some(&bari_code))).await.expect("post");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"code.foreign\""), "{body}");
    let sicily = format!("16{}", &bari_code[2..]);
    let (status, body) = send("foggia", vacancy("CPIFG01", Some(&sicily))).await.expect("post");
    assert_eq!((status, body.contains("code.foreign")), (403, true), "{body}");
    // A Puglia code silgate never issued (the region's earlier system): accepted, audited.
    let earlier = format!("14{}", "0".repeat(22) + "9");
    let (status, body) = send("foggia", vacancy("CPIFG01", Some(&earlier))).await.expect("post");
    assert_eq!(status, 202, "{body}");
    // Bari closes its own.
    let (status, body) = send("bari", vacancy("CPIBA01", Some(&bari_code))).await.expect("post");
    assert_eq!(status, 202, "{body}");
    let events: Vec<silgate_audit::Event> = gw.parts().audit_log.query(&silgate_audit::Query::default()).await.expect("audit").into_iter().filter_map(|e| e.typed()).collect();
    assert!(events.contains(&silgate_audit::Event::ExternalPrevious { code: earlier }), "the external code is audited");
    assert_eq!(events.iter().filter(|e| matches!(e, silgate_audit::Event::Rejected { rule, .. } if rule == "code.foreign")).count(), 2);
    // The same rule on files (and PEC attachments, through the same ingest).
    let file = dir.path().join("foggia.jsonl");
    std::fs::write(&file, vacancy("CPIFG01", Some(&bari_code)).replace("Servizi Informatici", "Servizi Telematici") + "\n").expect("write");
    let report = gw.parts().ingest_files(std::slice::from_ref(&file), silgate_gateway::today()).await.expect("ingest");
    assert_eq!((report.queued, report.rejected), (0, 1), "{report:?}");
    let q = std::fs::read_to_string(dir.path().join("data/quarantine.jsonl")).expect("quarantine");
    let last: serde_json::Value = serde_json::from_str(q.lines().last().expect("a line")).expect("json");
    assert_eq!((last["rule"].as_str(), last["field"].as_str()), (Some("code.foreign"), Some("DatiSistema/codiceoffertaprecedente")), "{last}");
    // In one batch: Bari's update, then Foggia's vacancy of the same employer and
    // local id. The CPI is part of the business key: Foggia's is a vacancy of its own,
    // not filled in as Bari's update.
    let mut update: serde_json::Value = serde_json::from_str(&vacancy("CPIBA01", None)).expect("json");
    update["profile"]["positions"] = serde_json::json!(5);
    let mut theirs: serde_json::Value = serde_json::from_str(&vacancy("CPIFG01", None)).expect("json");
    theirs["profile"]["positions"] = serde_json::json!(6);
    // An external code on a record that is rejected for another reason: no
    // external-previous entry for it.
    let mut broken: serde_json::Value = serde_json::from_str(&vacancy("CPIFG01", Some(&format!("14{}", "0".repeat(22) + "8")))).expect("json");
    broken["employer"]["sector"] = serde_json::json!("99.99.99");
    let batch = dir.path().join("batch.jsonl");
    std::fs::write(&batch, format!("{update}\n{theirs}\n{broken}\n")).expect("write");
    let before = node.stats(1).await.expect("stats").totals.accepted;
    let report = gw.parts().ingest_files(std::slice::from_ref(&batch), silgate_gateway::today()).await.expect("ingest");
    assert_eq!((report.queued, report.rejected), (2, 1), "{report:?}");
    until_accepted(&node, before + 2, "the update and Foggia's own vacancy not delivered").await;
    let docs: Vec<String> = {
        let mut st = db.prepare("SELECT document FROM documents WHERE ok = 1 ORDER BY rowid").expect("query");
        st.query_map([], |r| r.get(0)).expect("rows").map(|r| r.expect("row")).collect()
    };
    let (bari_update, foggia) = (&docs[docs.len() - 2], &docs[docs.len() - 1]);
    let (bari_update, foggia) = if foggia.contains("CPIBA01") { (foggia, bari_update) } else { (bari_update, foggia) };
    assert!(bari_update.contains(&format!("precedente>{bari_code}<")), "Bari's update names Bari's code: {bari_update}");
    assert!(!foggia.contains(&bari_code), "Foggia's vacancy is not Bari's: {foggia}");
    let events: Vec<silgate_audit::Event> = gw.parts().audit_log.query(&silgate_audit::Query::default()).await.expect("audit").into_iter().filter_map(|e| e.typed()).collect();
    assert_eq!(events.iter().filter(|e| matches!(e, silgate_audit::Event::ExternalPrevious { .. })).count(), 1, "only the accepted record's external code");
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown in time").expect("shutdown");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_record_queued_before_codes_kept_their_cpi_its_closure_should_still_name_its_code() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = silgate_node::start(silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"))).await.expect("node");
    let cfg = GatewayConfig::new("puglia", "PUGLIA", dir.path().join("data"), silgate_publish::ClientConfig::new(node.endpoint()));
    let gw = Gateway::start(cfg).await.expect("start");
    let sample = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).expect("the sample vacancy");
    let today = silgate_gateway::today();
    let send = dir.path().join("send.jsonl");
    std::fs::write(&send, format!("{sample}\n")).expect("write");
    assert_eq!(gw.parts().ingest_files(std::slice::from_ref(&send), today).await.expect("ingest").queued, 1);
    // As an older build left it, with a region that ran on ISTAT numbers: the code
    // remembered for the record, not kept with its CPI, and with Puglia's ISTAT 16.
    let dedup = rusqlite::Connection::open(dir.path().join("data/dedup.db")).expect("dedup");
    dedup.execute_batch("DELETE FROM issued_codes; UPDATE sent_codes SET code = '16' || substr(code, 3);").expect("older state");
    let mut closure: serde_json::Value = serde_json::from_str(sample).expect("json");
    closure["system"]["communication"] = serde_json::json!({"kind": "closure", "closure_reason": "03"});
    let close = dir.path().join("close.jsonl");
    std::fs::write(&close, format!("{closure}\n")).expect("write");
    let report = gw.parts().ingest_files(std::slice::from_ref(&close), today).await.expect("ingest");
    assert_eq!((report.queued, report.rejected), (1, 0), "the closure names the remembered code, whatever its prefix: {report:?}");
    let events: Vec<silgate_audit::Event> = gw.parts().audit_log.query(&silgate_audit::Query::default()).await.expect("audit").into_iter().filter_map(|e| e.typed()).collect();
    // A code remembered without its CPI was kept by a build whose vacancy keys held no
    // CPI: it could be another CPI's record of the same employer and local id, so it is
    // audited as external.
    let external: Vec<&silgate_audit::Event> = events.iter().filter(|e| matches!(e, silgate_audit::Event::ExternalPrevious { .. })).collect();
    assert!(matches!(external.as_slice(), [silgate_audit::Event::ExternalPrevious { code }] if code.starts_with("16")), "{external:?}");
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.expect("shutdown in time").expect("shutdown");
    node.stop().await;
}
