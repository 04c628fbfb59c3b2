//! Delivery benchmark: end-to-end records/s through each queue backend to the reference
//! node, beside the raw limits measured in the same run on the same machine:
//!
//! - raw POST: keep-alive HTTPS POSTs (mTLS) of the same SOAP bodies to the same node,
//!   same concurrency, no queue, no dedup, no audit;
//! - raw SQLite: batched inserts (500 per transaction, WAL, synchronous=FULL) of the same
//!   queue items;
//! - raw lapin: publish-with-confirm of the same queue items to the same broker.
//!
//! End to end = enqueue the items while the publisher delivers them (lease, dedup
//! index, eGov id, SOAP POST, audit, ack), as `silgate run` does. Reported as records/s and as the ratio to the slower raw
//! limit on its path (goal: >= 0.70). `SILGATE_BENCH_N` sets the record count (default
//! 20,000). Needs RabbitMQ on 127.0.0.1:5672 (skipped with a note when absent).

use silgate_audit::{AuditLog, Auditor};
use silgate_core::{Queue, QueueItem, Record, RecordKind};
use silgate_dedup::DedupIndex;
use silgate_publish::{ClientConfig, NodeClient, Publisher, RefusalSink, RetryConfig};
use silgate_queue::{RabbitConfig, RabbitQueue, SqliteConfig, SqliteQueue};
use silgate_std1546::XsdValidator;
use silgate_std1546::code::{CodeAllocator, ContentAllocator};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;

#[derive(Debug)]
struct Discard;
impl RefusalSink for Discard {
    fn refused<'a>(&'a self, _item: &'a QueueItem, code: &'a str, _reason: &'a str) -> silgate_publish::Refusal<'a> {
        eprintln!("refused: {code}");
        Box::pin(async { Ok(()) })
    }
}

fn documents(n: usize) -> Vec<QueueItem> {
    let line = include_str!("../../silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).expect("sample vacancy");
    let tables = silgate_codes::CodeTables::embedded();
    let xsd = XsdValidator::shared().expect("validator");
    let today = time::OffsetDateTime::now_utc().date();
    let mut alloc = ContentAllocator { region: "16".into() };
    let keyer = silgate_dedup::Keyer::new(b"the bench's secret, not a region");
    (0..n)
        .map(|i| {
            let mut v: serde_json::Value = serde_json::from_str(&line.replace("\"2026/77\"", &format!("\"B/{i}\""))).expect("json");
            v.as_object_mut().expect("object").remove("kind");
            let mut rec = Record::Vacancy(Box::new(serde_json::from_value(v).expect("vacancy")));
            rec.provenance_mut().cpi = "CPIBA01".into();
            rec.communication_mut().code = alloc.allocate(&rec);
            let (xml, issues) = silgate_std1546::emit(&rec, tables, today, xsd).expect("emit");
            assert!(!silgate_core::issue::has_errors(&issues), "{issues:?}");
            let id = keyer.identity("bench", &rec.business_key(), &silgate_std1546::code::content_hash(&rec));
            QueueItem {
                message_id: id.message_id,
                key_hash: id.key_hash,
                content_hash: id.content_hash,
                kind: RecordKind::Vacancy,
                region: "16".into(),
                cpi: "CPIBA01".into(),
                communication_code: rec.communication().code.clone().unwrap_or_default(),
                source: silgate_core::Provenance::new(silgate_core::SourceSystem::CanonicalJson, format!("bench:{i}"), silgate_core::Position::Unknown),
                received_ms: 0,
                document: xml,
            }
        })
        .collect()
}

fn pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let nk = KeyPair::generate().expect("key");
    let mut np = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    np.subject_alt_names.push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    np.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let node = np.signed_by(&nk, &issuer).expect("node");
    for (f, t) in [("ca.pem", ca.pem()), ("node.pem", node.pem()), ("node.key", nk.serialize_pem())] {
        std::fs::write(dir.join(f), t).expect("write");
    }
    // The node takes from each client only the eGov sender its certificate names.
    for sender in SENDERS {
        let ck = KeyPair::generate().expect("key");
        let mut cp = CertificateParams::new(Vec::<String>::new()).expect("params");
        cp.distinguished_name.push(rcgen::DnType::CommonName, sender);
        cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = cp.signed_by(&ck, &issuer).expect("client");
        std::fs::write(dir.join(format!("client-{sender}.pem")), client.pem()).expect("write");
        std::fs::write(dir.join(format!("client-{sender}.key")), ck.serialize_pem()).expect("write");
    }
}

/// The eGov senders of the runs (one each: the node holds every run's documents).
const SENDERS: [&str; 4] = ["RAW", "DLV", "SQL", "RMQ"];

fn client_cfg(dir: &Path, url: &str, sender: &str) -> ClientConfig {
    ClientConfig {
        url: url.into(),
        ca: Some(dir.join("ca.pem")),
        client_cert: Some(dir.join(format!("client-{sender}.pem"))),
        client_key: Some(dir.join(format!("client-{sender}.key"))),
        service: "ClicLavoro".into(),
        timeout_secs: 30,
        plain_soap: false,
    }
}

async fn raw_post(client: &NodeClient, items: &[QueueItem], sender: &str) -> f64 {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let items = Arc::new(items.to_vec());
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, items, next, sender) = (client.clone(), items.clone(), next.clone(), sender.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(it) = items.get(i) else { break };
                let id = silgate_std1546::egov::message_id(&sender, (i + 1) as u64, "2026-11-24T10:00:00").expect("id");
                let o = client.send(silgate_std1546::egov::Action::Vacancy, &id, &it.document).await;
                assert_eq!(o.class(), "delivered", "{o:?}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    items.len() as f64 / started.elapsed().as_secs_f64()
}

fn raw_sqlite(dir: &Path, items: &[QueueItem]) -> f64 {
    let c = rusqlite::Connection::open(dir.join("raw.db")).expect("open");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "FULL").expect("sync");
    c.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, item TEXT NOT NULL)").expect("table");
    let started = Instant::now();
    let mut c = c;
    for chunk in items.chunks(500) {
        let tx = c.transaction().expect("tx");
        {
            let mut st = tx.prepare_cached("INSERT INTO t (id, item) VALUES (?1, ?2)").expect("prep");
            for it in chunk {
                st.execute(rusqlite::params![it.message_id, serde_json::to_string(it).expect("json")]).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    items.len() as f64 / started.elapsed().as_secs_f64()
}

async fn raw_lapin(items: &[QueueItem], queue: &str) -> Option<f64> {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions};
    use lapin::types::{AMQPValue, FieldTable};
    let conn = lapin::Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", lapin::ConnectionProperties::default()).await.ok()?;
    let ch = conn.create_channel().await.ok()?;
    ch.confirm_select(ConfirmSelectOptions::default()).await.ok()?;
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    ch.queue_declare(queue.into(), QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() }, args).await.ok()?;
    let started = Instant::now();
    for chunk in items.chunks(500) {
        let mut confirms = Vec::new();
        for it in chunk {
            let body = serde_json::to_vec(it).expect("json");
            confirms.push(ch.basic_publish("".into(), queue.into(), BasicPublishOptions::default(), &body, lapin::BasicProperties::default().with_delivery_mode(2)).await.ok()?);
        }
        for c in confirms {
            assert!(c.await.ok()?.is_ack());
        }
    }
    let rate = items.len() as f64 / started.elapsed().as_secs_f64();
    let _ = ch.queue_delete(queue.into(), QueueDeleteOptions::default()).await;
    Some(rate)
}

/// Queue alone: enqueue every item in batches of 500 (durable on return), then lease
/// batches of 500 and ack them until the queue is empty. Records/s of the round trip.
async fn queue_round_trip<Q: Queue>(queue: &Q, items: &[QueueItem]) -> f64 {
    let started = Instant::now();
    for chunk in items.chunks(500) {
        queue.enqueue(chunk.to_vec()).await.expect("enqueue");
    }
    let mut done = 0;
    while done < items.len() {
        let leased = queue.lease(500, Duration::from_millis(500)).await.expect("lease");
        done += leased.len();
        queue.ack_all(leased.into_iter().map(|l| l.lease).collect()).await.expect("ack");
    }
    items.len() as f64 / started.elapsed().as_secs_f64()
}

/// Delivery alone: the queue is filled first, then the publisher drains it (lease,
/// dedup index, eGov id, SOAP POST, audit, ack).
async fn delivery_only<Q: Queue + Clone + 'static>(queue: Q, dir: &Path, url: &str, sender: &str, items: &[QueueItem]) -> f64 {
    for chunk in items.chunks(500) {
        queue.enqueue(chunk.to_vec()).await.expect("enqueue");
    }
    let dedup = DedupIndex::open(&dir.join(format!("dedup-{sender}.db"))).await.expect("dedup");
    let audit = Auditor::spawn(AuditLog::sqlite(&dir.join(format!("audit-{sender}.db"))).await.expect("audit"), "bench");
    let client = NodeClient::new(client_cfg(dir, url, sender), sender).expect("client");
    let cfg = RetryConfig { concurrency: CONCURRENCY, ..RetryConfig::default() };
    let publisher = Publisher::new(queue, dedup, client, audit, cfg, Arc::new(Discard));
    let started = Instant::now();
    let (_tx, stop) = tokio::sync::watch::channel(false);
    publisher.run(stop, Some(Duration::from_millis(200))).await.expect("run");
    let elapsed = started.elapsed().as_secs_f64() - 0.2;
    assert_eq!(publisher.counters().delivered.load(std::sync::atomic::Ordering::Relaxed) as usize, items.len(), "every item delivered");
    items.len() as f64 / elapsed
}

async fn end_to_end<Q: Queue + Clone + 'static>(queue: Q, dir: &Path, url: &str, sender: &str, items: &[QueueItem]) -> f64 {
    let dedup = DedupIndex::open(&dir.join(format!("dedup-{sender}.db"))).await.expect("dedup");
    let audit = Auditor::spawn(AuditLog::sqlite(&dir.join(format!("audit-{sender}.db"))).await.expect("audit"), "bench");
    let client = NodeClient::new(client_cfg(dir, url, sender), sender).expect("client");
    let cfg = RetryConfig { concurrency: CONCURRENCY, ..RetryConfig::default() };
    let publisher = Publisher::new(queue.clone(), dedup, client, audit, cfg, Arc::new(Discard));
    // Ingest and delivery overlap, as in `silgate run`: the producer enqueues in
    // batches while the publisher drains.
    let started = Instant::now();
    let producer = {
        let (queue, items) = (queue.clone(), items.to_vec());
        tokio::spawn(async move {
            for chunk in items.chunks(500) {
                queue.enqueue(chunk.to_vec()).await.expect("enqueue");
            }
        })
    };
    let (_tx, stop) = tokio::sync::watch::channel(false);
    publisher.run(stop, Some(Duration::from_millis(200))).await.expect("run");
    producer.await.expect("producer");
    let elapsed = started.elapsed().as_secs_f64() - 0.2;
    let delivered = publisher.counters().delivered.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(delivered as usize, items.len(), "every item delivered");
    items.len() as f64 / elapsed
}

fn main() {
    let n: usize = std::env::var("SILGATE_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    pki(dir.path());
    eprintln!("preparing {n} documents...");
    let items = documents(n);
    rt.block_on(async {
        let node_cfg: silgate_node::NodeConfig = toml::from_str(&format!(
            "listen = \"127.0.0.1:0\"\nstore = \"{}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n",
            dir.path().join("node.db").display(),
            dir.path().join("node.pem").display(),
            dir.path().join("node.key").display(),
            dir.path().join("ca.pem").display()
        ))
        .expect("node config");
        let node = silgate_node::start(node_cfg).await.expect("node");
        let url = node.endpoint();
        let raw_client = NodeClient::new(client_cfg(dir.path(), &url, "RAW"), "RAW").expect("client");
        let post = raw_post(&raw_client, &items, "RAW").await;
        let sqlite = raw_sqlite(dir.path(), &items);
        let tag = std::process::id();
        let lapin = raw_lapin(&items, &format!("silgate.bench.raw.{tag}")).await;
        let q = SqliteQueue::open(SqliteConfig::new(dir.path().join("queue-rt.db"))).await.expect("queue");
        let rt_sqlite = queue_round_trip(&q, &items).await;
        let rt_rabbit = match lapin {
            Some(_) => {
                let mut c = RabbitConfig::new("amqp://guest:guest@127.0.0.1:5672/%2f");
                c.queue = format!("silgate.bench.rt.{tag}");
                let q = RabbitQueue::connect(c).await.expect("rabbit");
                Some(queue_round_trip(&q, &items).await)
            }
            None => None,
        };
        // Delivery alone needs documents the node has not seen: new ids per run, so the
        // same items under another sender (the eGov ids differ) will do.
        let q = SqliteQueue::open(SqliteConfig::new(dir.path().join("queue-dl.db"))).await.expect("queue");
        let delivery = delivery_only(q, dir.path(), &url, "DLV", &items).await;
        let q = SqliteQueue::open(SqliteConfig::new(dir.path().join("queue.db"))).await.expect("queue");
        let e2e_sqlite = end_to_end(q, dir.path(), &url, "SQL", &items).await;
        let e2e_rabbit = match lapin {
            Some(_) => {
                let mut c = RabbitConfig::new("amqp://guest:guest@127.0.0.1:5672/%2f");
                c.queue = format!("silgate.bench.e2e.{tag}");
                let q = RabbitQueue::connect(c).await.expect("rabbit");
                Some(end_to_end(q, dir.path(), &url, "RMQ", &items).await)
            }
            None => None,
        };
        println!("delivery benchmark, {n} vacancies, concurrency {CONCURRENCY}, same node (HTTPS+mTLS, XSD+rules, SQLite store)");
        println!("{:<44} {:>12} {:>10}", "measure", "records/s", "ratio");
        println!("{:<44} {:>12.0} {:>10}", "raw keep-alive POSTs to the node", post, "-");
        println!("{:<44} {:>12.0} {:>10}", "raw SQLite batched inserts (500/tx, FULL)", sqlite, "-");
        match lapin {
            Some(l) => println!("{:<44} {:>12.0} {:>10}", "raw lapin publish-with-confirm (quorum)", l, "-"),
            None => println!("{:<44} {:>12} {:>10}", "raw lapin publish-with-confirm", "no broker", "-"),
        }
        let lim_sqlite = post.min(sqlite);
        println!("{:<44} {:>12.0} {:>10.2}", "end to end, SQLite queue", e2e_sqlite, e2e_sqlite / lim_sqlite);
        if let (Some(e), Some(l)) = (e2e_rabbit, lapin) {
            println!("{:<44} {:>12.0} {:>10.2}", "end to end, RabbitMQ queue", e, e / post.min(l));
        }
        println!("{:<44} {:>12.0} {:>10.2}", "queue round trip, SQLite", rt_sqlite, rt_sqlite / sqlite);
        if let (Some(r), Some(l)) = (rt_rabbit, lapin) {
            println!("{:<44} {:>12.0} {:>10.2}", "queue round trip, RabbitMQ", r, r / l);
        }
        println!("{:<44} {:>12.0} {:>10.2}", "delivery alone (queue filled first)", delivery, delivery / post);
        println!("(ratio = measure / the slower raw limit on its path; goal >= 0.70)");
        // One line per figure for scripts/bench's table: figure, value, raw limit, ratio, goal.
        let row = |figure: &str, value: f64, raw_label: &str, raw: f64| {
            println!("BENCH\t{figure}\t{value:.0} records/s\t{raw_label} {raw:.0}/s\t{:.2}\t>= 0.70", value / raw);
        };
        row("queue enqueue+dequeue, SQLite", rt_sqlite, "raw SQLite batched inserts", sqlite);
        if let (Some(r), Some(l)) = (rt_rabbit, lapin) {
            row("queue enqueue+dequeue, RabbitMQ", r, "raw lapin publish-with-confirm", l);
        }
        row("delivery (publisher, queue filled first)", delivery, "raw keep-alive POSTs, same node", post);
        row("end to end in process, SQLite queue", e2e_sqlite, "slower of raw POST / raw SQLite", lim_sqlite);
        if let (Some(e), Some(l)) = (e2e_rabbit, lapin) {
            row("end to end in process, RabbitMQ queue", e, "slower of raw POST / raw lapin", post.min(l));
        }
        node.stop().await;
    });
}
