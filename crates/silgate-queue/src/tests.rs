//! Unit tests of the SQLite backend (the RabbitMQ one is tested against the real
//! broker in `tests/rabbit.rs`).

use super::*;
use silgate_core::RecordKind;

pub(crate) fn item(i: usize) -> QueueItem {
    QueueItem {
        message_id: format!("m{i:06}"),
        key_hash: format!("k{i}"),
        content_hash: format!("c{i}"),
        kind: RecordKind::Cv,
        region: "16".into(),
        cpi: "CPI01".into(),
        communication_code: format!("1600026221{i:015}"),
        source: silgate_core::Provenance::new(silgate_core::SourceSystem::CanonicalJson, format!("test:{i}"), silgate_core::Position::Unknown),
        received_ms: 0,
        document: format!("<doc n=\"{i}\"/>"),
    }
}

async fn open(dir: &tempfile::TempDir, f: impl FnOnce(&mut SqliteConfig)) -> SqliteQueue {
    let mut cfg = SqliteConfig::new(dir.path().join("q.db"));
    f(&mut cfg);
    SqliteQueue::open(cfg).await.unwrap()
}

#[tokio::test]
async fn given_items_enqueued_should_lease_in_order_and_ack_away() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, |_| {}).await;
    assert_eq!(q.enqueue((0..5).map(item).collect()).await.unwrap(), 5);
    assert_eq!(q.enqueue(vec![item(2)]).await.unwrap(), 0, "a waiting message id is not queued twice");
    let got = q.lease(3, Duration::ZERO).await.unwrap();
    assert_eq!(got.iter().map(|l| l.item.message_id.as_str()).collect::<Vec<_>>(), ["m000000", "m000001", "m000002"]);
    assert!(got.iter().all(|l| l.deliveries == 1));
    q.ack(got[0].lease).await.unwrap();
    q.ack_all(got[1..].iter().map(|l| l.lease).collect()).await.unwrap();
    assert!(matches!(q.ack(got[0].lease).await, Err(QueueError::UnknownLease(_))));
    let s = q.stats().await.unwrap();
    assert_eq!((s.ready, s.leased, s.dead), (2, Some(0), 0));
}

#[tokio::test]
async fn given_an_expired_lease_the_item_should_come_back_with_a_higher_count() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, |c| c.visibility_timeout = Duration::from_millis(50)).await;
    q.enqueue(vec![item(1)]).await.unwrap();
    let first = q.lease(1, Duration::ZERO).await.unwrap();
    assert!(q.lease(1, Duration::ZERO).await.unwrap().is_empty(), "leased items are invisible");
    tokio::time::sleep(Duration::from_millis(80)).await;
    let again = q.lease(1, Duration::from_millis(500)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].deliveries, 2);
    assert!(q.ack(first[0].lease).await.is_err(), "the old lease is void");
    q.ack(again[0].lease).await.unwrap();
}

#[tokio::test]
async fn given_a_kept_alive_lease_the_item_should_stay_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, |c| c.visibility_timeout = Duration::from_millis(150)).await;
    q.enqueue(vec![item(1)]).await.unwrap();
    let l = q.lease(1, Duration::ZERO).await.unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        q.keep_alive(l[0].lease).await.unwrap();
    }
    assert!(q.lease(1, Duration::ZERO).await.unwrap().is_empty(), "300 ms after leasing, still held");
    q.ack(l[0].lease).await.unwrap();
}

#[tokio::test]
async fn given_a_release_with_delay_the_item_should_wait_then_return() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, |_| {}).await;
    q.enqueue(vec![item(1)]).await.unwrap();
    let l = q.lease(1, Duration::ZERO).await.unwrap();
    q.release(l[0].lease, Duration::from_millis(150)).await.unwrap();
    assert!(q.lease(1, Duration::ZERO).await.unwrap().is_empty());
    let back = q.lease(1, Duration::from_secs(2)).await.unwrap();
    assert_eq!(back[0].deliveries, 2);
}

#[tokio::test]
async fn given_dead_letters_should_list_and_replay_them() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, |_| {}).await;
    q.enqueue((0..3).map(item).collect()).await.unwrap();
    for l in q.lease(3, Duration::ZERO).await.unwrap() {
        q.dead_letter(l.lease, "delivery.attempts-exhausted").await.unwrap();
    }
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 3);
    assert_eq!(dead[0].reason, "delivery.attempts-exhausted");
    assert_eq!(q.stats().await.unwrap().dead, 3);
    let back = q.replay(&["m000001".to_string()]).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(q.replay(&[]).await.unwrap().len(), 2);
    assert_eq!(q.lease(10, Duration::ZERO).await.unwrap().len(), 3);
}

#[tokio::test]
async fn given_a_full_queue_the_producer_should_block_until_room() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, |c| {
        c.capacity = 2;
        c.max_block = Some(Duration::from_millis(300));
    })
    .await;
    q.enqueue(vec![item(1), item(2)]).await.unwrap();
    assert!(matches!(q.enqueue(vec![item(3)]).await, Err(QueueError::Full(_))));
    let producer = {
        let q = q.clone();
        tokio::spawn(async move { q.enqueue(vec![item(3)]).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let l = q.lease(1, Duration::ZERO).await.unwrap();
    q.ack(l[0].lease).await.unwrap();
    assert_eq!(producer.await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn given_a_reopened_file_nothing_committed_should_be_lost() {
    let dir = tempfile::tempdir().unwrap();
    {
        let q = open(&dir, |_| {}).await;
        q.enqueue((0..100).map(item).collect()).await.unwrap();
        let l = q.lease(10, Duration::ZERO).await.unwrap();
        q.ack(l[0].lease).await.unwrap();
    }
    let q = open(&dir, |_| {}).await;
    let s = q.stats().await.unwrap();
    assert_eq!((s.ready, s.leased), (90, Some(9)), "the 9 unacked leases stay invisible until their timeout");
}
