//! The RabbitMQ backend against the machine's broker (127.0.0.1:5672, guest/guest;
//! `scripts/test` starts it when it is down), in its test vhost `silgate-test` (emptied
//! by `scripts/test` before each run). Each test uses its own queue names and fails
//! within a minute when the broker does not answer, instead of hanging.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step is a failed test

use silgate_core::RecordKind;
use silgate_queue::{Queue, QueueItem, RabbitConfig, RabbitQueue};
use std::time::Duration;

fn item(i: usize) -> QueueItem {
    QueueItem {
        message_id: format!("m{i:06}"),
        key_hash: format!("k{i}"),
        content_hash: format!("c{i}"),
        kind: RecordKind::Vacancy,
        region: "16".into(),
        cpi: "CPI01".into(),
        communication_code: format!("1600026111{i:015}"),
        source: silgate_core::Provenance::new(silgate_core::SourceSystem::CanonicalJson, format!("test:{i}"), silgate_core::Position::Unknown),
        received_ms: 0,
        document: format!("<doc n=\"{i}\"/>"),
    }
}

/// The test vhost, made when missing (a run outside `scripts/test`).
fn test_vhost() {
    static MADE: std::sync::Once = std::sync::Once::new();
    MADE.call_once(|| {
        let listed = std::process::Command::new("timeout").args(["30", "rabbitmqctl", "-q", "list_vhosts", "--no-table-headers"]).output();
        let present = listed.as_ref().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "silgate-test"));
        if !present {
            for args in [&["-q", "add_vhost", "silgate-test"][..], &["-q", "set_permissions", "-p", "silgate-test", "guest", ".*", ".*", ".*"]] {
                let o = std::process::Command::new("timeout").args(["30", "rabbitmqctl"]).args(args).output();
                assert!(o.as_ref().is_ok_and(|o| o.status.success()), "rabbitmqctl {args:?}: {o:?}");
            }
        }
    });
}

/// Runs one test body, failing it when the broker has not let it finish in a minute.
async fn within_a_minute(body: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(Duration::from_secs(60), body).await.is_err() {
        panic!("RabbitMQ did not answer within 60 s: is the broker up and answering `rabbitmqctl status`?");
    }
}

fn cfg(name: &str) -> RabbitConfig {
    test_vhost();
    let mut c = RabbitConfig::new("amqp://guest:guest@127.0.0.1:5672/silgate-test");
    c.reconnect_for = Duration::from_secs(10);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    c.queue = format!("silgate.test.{name}.{}.{t}", std::process::id());
    c.prefetch = 50;
    c
}

#[tokio::test]
async fn given_confirmed_publishes_should_lease_ack_and_count() {
    within_a_minute(async {
        let q = RabbitQueue::connect(cfg("basic")).await.expect("RabbitMQ on 127.0.0.1:5672");
        assert_eq!(q.enqueue((0..20).map(item).collect()).await.unwrap(), 20);
        let mut seen = Vec::new();
        while seen.len() < 20 {
            let got = q.lease(8, Duration::from_secs(5)).await.unwrap();
            assert!(!got.is_empty(), "queue ran dry after {} items", seen.len());
            for l in got {
                assert_eq!(l.deliveries, 1);
                q.ack(l.lease).await.unwrap();
                seen.push(l.item.message_id);
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 20);
        let s = q.stats().await.unwrap();
        assert_eq!((s.ready, s.dead), (0, 0));
    })
    .await;
}

#[tokio::test]
async fn given_a_released_lease_the_item_should_come_back_counted() {
    within_a_minute(async {
        let q = RabbitQueue::connect(cfg("release")).await.unwrap();
        q.enqueue(vec![item(1)]).await.unwrap();
        let l = q.lease(1, Duration::from_secs(5)).await.unwrap();
        q.release(l[0].lease, Duration::ZERO).await.unwrap();
        let again = q.lease(1, Duration::from_secs(5)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].item, item(1));
        assert!(again[0].deliveries >= 2, "deliveries = {}", again[0].deliveries);
        q.ack(again[0].lease).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn given_a_release_with_a_delay_the_delivery_should_be_given_up_and_the_item_come_back_after_it() {
    within_a_minute(async {
        let q = RabbitQueue::connect(cfg("delayed")).await.unwrap();
        q.enqueue(vec![item(1), item(2)]).await.unwrap();
        let l = q.lease(2, Duration::from_secs(5)).await.unwrap();
        assert_eq!(l.len(), 2);
        let released = std::time::Instant::now();
        // Item 1 retried in a second (counted); item 2 deferred (not counted).
        q.release(l[0].lease, Duration::from_millis(800)).await.unwrap();
        q.defer(l[1].lease, Duration::from_millis(300)).await.unwrap();
        let s = q.stats().await.unwrap();
        assert_eq!((s.ready, s.leased), (2, Some(0)), "both waiting, neither delivery held: {s:?}");
        let mut back = Vec::new();
        while back.len() < 2 {
            back.extend(q.lease(2, Duration::from_secs(5)).await.unwrap());
            assert!(released.elapsed() < Duration::from_secs(20), "not back: {back:?}");
        }
        assert!(released.elapsed() >= Duration::from_millis(800), "no item came back before its delay: {:?}", released.elapsed());
        back.sort_by(|a, b| a.item.message_id.cmp(&b.item.message_id));
        assert_eq!((back[0].item.clone(), back[0].deliveries), (item(1), 2), "a release counts its delivery");
        assert_eq!((back[1].item.clone(), back[1].deliveries), (item(2), 1), "a deferral does not");
        q.ack_all(back.iter().map(|l| l.lease).collect()).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn given_a_delay_past_the_longest_wait_the_item_should_not_come_back_before_it_is_due() {
    within_a_minute(async {
        let q = RabbitQueue::connect(cfg("long-delay")).await.unwrap();
        q.enqueue(vec![item(1)]).await.unwrap();
        let l = q.lease(1, Duration::from_secs(5)).await.unwrap();
        // An hour: past the 15-minute wait, so it goes round with its due time.
        q.release(l[0].lease, Duration::from_secs(3600)).await.unwrap();
        assert!(q.lease(1, Duration::from_secs(2)).await.unwrap().is_empty(), "not back within seconds");
        let s = q.stats().await.unwrap();
        assert_eq!((s.ready, s.leased), (1, Some(0)), "waiting, not held: {s:?}");
    })
    .await;
}

#[tokio::test]
async fn given_dead_letters_should_keep_the_reason_list_and_replay() {
    within_a_minute(async {
        let q = RabbitQueue::connect(cfg("dead")).await.unwrap();
        q.enqueue((0..3).map(item).collect()).await.unwrap();
        let mut n = 0;
        while n < 3 {
            for l in q.lease(3, Duration::from_secs(5)).await.unwrap() {
                q.dead_letter(l.lease, "delivery.refused").await.unwrap();
                n += 1;
            }
        }
        let dead = q.dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 3);
        assert!(dead.iter().all(|d| d.reason == "delivery.refused"));
        // Browsing does not consume.
        assert_eq!(q.dead_letters(10).await.unwrap().len(), 3);
        let back = q.replay(&["m000002".to_string()]).await.unwrap();
        assert_eq!(back.len(), 1);
        let l = q.lease(5, Duration::from_secs(5)).await.unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].item.message_id, "m000002");
        q.ack(l[0].lease).await.unwrap();
        assert_eq!(q.dead_letters(10).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn given_a_closed_connection_unacked_leases_should_be_redelivered() {
    within_a_minute(async {
        let c = cfg("redeliver");
        {
            let q = RabbitQueue::connect(c.clone()).await.unwrap();
            q.enqueue((0..5).map(item).collect()).await.unwrap();
            let got = q.lease(5, Duration::from_secs(5)).await.unwrap();
            assert_eq!(got.len(), 5);
            // dropped without acking: the broker requeues on connection close
        }
        let q = RabbitQueue::connect(c).await.unwrap();
        let mut n = 0;
        while n < 5 {
            let got = q.lease(5, Duration::from_secs(10)).await.unwrap();
            assert!(!got.is_empty());
            for l in got {
                assert!(l.deliveries >= 2);
                q.ack(l.lease).await.unwrap();
                n += 1;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn given_an_amqps_uri_the_connection_should_be_tls_and_fail_against_a_plain_broker() {
    within_a_minute(async {
        // The machine's broker speaks plain AMQP on 5672: a TLS client must fail its
        // handshake there, never fall back to a plain connection.
        let mut c = cfg("amqps");
        c.uri = "amqps://guest:guest@127.0.0.1:5672/silgate-test".into();
        c.reconnect_for = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let e = RabbitQueue::connect(c).await.expect_err("a TLS handshake with a plain AMQP port");
        assert!(started.elapsed() < Duration::from_secs(30), "{e}");
        let text = e.to_string().to_lowercase();
        assert!(text.contains("tls") || text.contains("handshake") || text.contains("certificate") || text.contains("corrupt") || text.contains("invalid"), "{e}");
    })
    .await;
}
