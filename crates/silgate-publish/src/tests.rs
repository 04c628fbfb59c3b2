//! Unit tests: classification, Retry-After, breaker, ids.

use super::*;
use silgate_std1546::egov::{self, Action, Header};
use std::time::Duration;

fn ok_body(ok: bool) -> Vec<u8> {
    let h = Header { sender: "NAZIONALE".into(), message_id: "NAZIONALE_NAZIONALESPCoopIT_0000001_2026-11-24_10:15".into(), ..Header::default() };
    egov::response(Some(&h), Action::Candidatura, ok, "x").into_bytes()
}

#[test]
fn given_node_answers_the_classifier_should_follow_egov_md() {
    assert!(matches!(client::classify(200, None, &ok_body(true)), Outcome::Delivered { receipt } if receipt.starts_with("NAZIONALE_")));
    assert!(matches!(client::classify(200, None, &ok_body(false)), Outcome::Refused { .. }));
    assert!(matches!(client::classify(503, None, b"down"), Outcome::Transient { class: "http-5xx", .. }));
    assert!(matches!(client::classify(429, Some(Duration::from_secs(2)), b""), Outcome::Transient { class: "http-429", retry_after: Some(d), .. } if d == Duration::from_secs(2)));
    let client_fault = egov::fault(None, "Client", "EGOV_IT_106", "Azione");
    assert!(matches!(client::classify(500, None, client_fault.as_bytes()), Outcome::Refused { code, .. } if code == "EGOV_IT_106"));
    let server_fault = egov::fault(None, "Server", "EGOV_IT_300", "processing error");
    assert!(matches!(client::classify(500, None, server_fault.as_bytes()), Outcome::Transient { class: "soap-server", .. }));
    let dup = egov::fault(None, "Client", "EGOV_IT_110", "already processed");
    assert!(matches!(client::classify(500, None, dup.as_bytes()), Outcome::Duplicate { .. }));
    assert!(matches!(client::classify(200, None, b"<html/>"), Outcome::Transient { class: "garbled", .. }));
}

#[test]
fn given_retry_after_forms_should_parse_seconds_and_dates() {
    assert_eq!(client::parse_retry_after("7"), Some(Duration::from_secs(7)));
    let future = std::time::SystemTime::now() + Duration::from_secs(30);
    let d = client::parse_retry_after(&httpdate::fmt_http_date(future)).unwrap();
    assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30));
    assert_eq!(client::parse_retry_after("soon"), None);
}

#[tokio::test]
async fn given_failures_the_breaker_should_open_then_probe_once() {
    let b = CircuitBreaker::new(2, Duration::from_millis(100));
    let p = b.acquire().await;
    b.failure(p);
    assert_eq!(b.state(), BreakerState::Closed);
    let p = b.acquire().await;
    b.failure(p);
    assert_eq!(b.state(), BreakerState::Open);
    let started = std::time::Instant::now();
    let probe = b.acquire().await;
    assert!(started.elapsed() >= Duration::from_millis(80), "waited for the cooldown");
    // While the probe is out, others wait.
    assert!(tokio::time::timeout(Duration::from_millis(100), b.acquire()).await.is_err());
    b.success(probe);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn given_the_same_version_the_message_id_should_be_stable() {
    let a = message_id("sintesi", "cv:RSSMRA80A01H501U:CPI1", "c1");
    assert_eq!(a, message_id("sintesi", "cv:RSSMRA80A01H501U:CPI1", "c1"));
    assert_ne!(a, message_id("sintesi", "cv:RSSMRA80A01H501U:CPI1", "c2"));
    assert_ne!(a, message_id("silplus", "cv:RSSMRA80A01H501U:CPI1", "c1"));
    assert_eq!(a.len(), 64);
}

async fn index_behaves(idx: DedupIndex) {
    let o = |m: &str, c: &str| Offer { message_id: m.into(), key_hash: "k".into(), content_hash: c.into() };
    assert_eq!(idx.admit(vec![o("m1", "c1")]).await.unwrap(), [Admission::New]);
    idx.mark_queued(vec![o("m1", "c1")]).await.unwrap();
    assert_eq!(idx.admit(vec![o("m1", "c1")]).await.unwrap(), [Admission::Known]);
    let id1 = idx.egov_id(&o("m1", "c1"), "PUGLIA", |n| egov::message_id("PUGLIA", n, "2026-11-24T10:15:00")).await.unwrap();
    let again = idx.egov_id(&o("m1", "c1"), "PUGLIA", |n| egov::message_id("PUGLIA", n, "2026-11-24T11:00:00")).await.unwrap();
    assert_eq!(id1, again, "a retry reuses the id");
    assert_eq!(id1, "PUGLIA_PUGLIASPCoopIT_0000001_2026-11-24_10:15");
    idx.mark_delivered(&o("m1", "c1"), "R1").await.unwrap();
    assert_eq!(idx.delivered("m1").await.unwrap().as_deref(), Some("R1"));
    assert_eq!(idx.admit(vec![o("m1", "c1"), o("m2", "c2")]).await.unwrap(), [Admission::Unchanged, Admission::New]);
    let ids = idx.egov_ids(vec![o("m2", "c2"), o("m3", "c3"), o("m1", "c1")], "PUGLIA", |n| egov::message_id("PUGLIA", n, "2026-11-24T10:16:00")).await.unwrap();
    assert!(ids[0].contains("_0000002_") && ids[1].contains("_0000003_"), "{ids:?}");
    assert_eq!(ids[2], id1);
    assert_eq!(idx.delivered_many(vec!["m1".into(), "m2".into()]).await.unwrap(), [Some("R1".to_string()), None]);
}

#[tokio::test]
async fn given_offers_the_sqlite_index_should_tell_new_known_and_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    index_behaves(DedupIndex::open(&dir.path().join("d.db")).await.unwrap()).await;
}

#[tokio::test]
async fn given_offers_the_postgres_index_should_tell_new_known_and_unchanged() {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("dedup_test_{}_{}", std::process::id(), t % 1_000_000_000);
    let (client, conn) = tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await.expect("PostgreSQL on 127.0.0.1:5432");
    tokio::spawn(conn);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("host=127.0.0.1 user=postgres dbname=test options='-c search_path={schema}'");
    index_behaves(DedupIndex::postgres(&url).await.unwrap()).await;
}

#[tokio::test]
async fn given_its_postgres_connection_killed_the_index_should_reconnect_on_the_next_use() {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("dedup_reconnect_{}_{}", std::process::id(), t % 1_000_000_000);
    let (admin, conn) = tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await.expect("PostgreSQL on 127.0.0.1:5432");
    tokio::spawn(conn);
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("host=127.0.0.1 user=postgres dbname=test application_name={schema} options='-c search_path={schema}'");
    let index = DedupIndex::postgres(&url).await.unwrap();
    assert!(!index.input_seen("before").await.unwrap());
    // What a PostgreSQL restart does to the gateway's session.
    let killed = admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", &[&schema]).await.unwrap();
    assert_eq!(killed.len(), 1);
    // The use that finds the connection gone may fail (its caller retries); the next works.
    let mut ok = false;
    for _ in 0..10 {
        if index.mark_input("after").await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ok, "the index did not reconnect");
    assert!(index.input_seen("after").await.unwrap());
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

#[test]
fn given_a_plain_http_url_only_a_loopback_host_should_be_allowed() {
    for ok in ["http://127.0.0.1:8080/ws", "http://127.1.2.3/ws", "http://localhost/ws", "http://LOCALHOST:9/ws", "http://[::1]:8443/ws"] {
        assert!(plain_http_allowed(ok), "{ok}");
    }
    for no in ["http://127.0.0.1.example.org/ws", "http://localhost.example.org/ws", "http://10.0.0.1/ws", "https://127.0.0.1/ws", "http://[::2]/ws", "not a url", "http://"] {
        assert!(!plain_http_allowed(no), "{no}");
    }
}
