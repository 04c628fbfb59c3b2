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
fn given_a_plain_http_url_only_a_loopback_host_should_be_allowed() {
    for ok in ["http://127.0.0.1:8080/ws", "http://127.1.2.3/ws", "http://localhost/ws", "http://LOCALHOST:9/ws", "http://[::1]:8443/ws"] {
        assert!(plain_http_allowed(ok), "{ok}");
    }
    for no in ["http://127.0.0.1.example.org/ws", "http://localhost.example.org/ws", "http://10.0.0.1/ws", "https://127.0.0.1/ws", "http://[::2]/ws", "not a url", "http://"] {
        assert!(!plain_http_allowed(no), "{no}");
    }
}

#[test]
fn given_a_loopback_plain_http_node_the_client_should_build_and_another_host_should_be_refused() {
    assert!(NodeClient::new(ClientConfig::new("http://127.0.0.1:9/ws"), "PUGLIA").is_ok());
    assert!(matches!(NodeClient::new(ClientConfig::new("http://node.example/ws"), "PUGLIA"), Err(PublishError::Config(_))));
}

#[tokio::test]
async fn given_a_node_that_answers_with_a_redirect_the_client_should_not_follow_it() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // Where the redirect points: it must never be asked.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = elsewhere.local_addr().unwrap();
    let node = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = node.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = node.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let _ = s.read(&mut buf).await;
        let answer = format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{target}/ws\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        s.write_all(answer.as_bytes()).await.unwrap();
    });
    let client = NodeClient::new(ClientConfig::new(format!("http://{at}/ws")), "PUGLIA").unwrap();
    let out = client.send(Action::Vacancy, "PUGLIA_PUGLIASPCoopIT_0000001_2026-11-24_10:15", "<x/>").await;
    assert!(matches!(out, Outcome::Transient { class: "http-other", .. }), "{out:?}");
    assert!(tokio::time::timeout(Duration::from_millis(300), elsewhere.accept()).await.is_err(), "the redirect was followed");
}
