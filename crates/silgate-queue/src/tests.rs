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

/// Item `i`, a version of the record whose key is `key`.
fn version(i: usize, key: &str) -> QueueItem {
    QueueItem { key_hash: key.into(), ..item(i) }
}

fn ids(leased: &[Leased]) -> Vec<&str> {
    leased.iter().map(|l| l.item.message_id.as_str()).collect()
}

#[tokio::test]
async fn given_versions_of_one_record_only_the_first_should_be_leased_until_it_settles() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, |_| {}).await;
    // Three versions of A, two of B, one of C, interleaved.
    let items = vec![version(0, "A"), version(1, "B"), version(2, "A"), version(3, "C"), version(4, "A"), version(5, "B")];
    q.enqueue(items).await.unwrap();
    let first = q.lease(10, Duration::ZERO).await.unwrap();
    assert_eq!(ids(&first), ["m000000", "m000001", "m000003"], "one version of each record at a time");
    assert!(q.lease(10, Duration::ZERO).await.unwrap().is_empty(), "the later versions wait while the first is leased");
    // Acked: A's next version is first now.
    q.ack(first[0].lease).await.unwrap();
    let next = q.lease(10, Duration::ZERO).await.unwrap();
    assert_eq!(ids(&next), ["m000002"]);
    // Released with a delay (a retry): B's later version waits for it too.
    q.release(first[1].lease, Duration::from_millis(300)).await.unwrap();
    assert!(q.lease(10, Duration::ZERO).await.unwrap().is_empty(), "B's second version does not overtake its retried first");
    let retried = q.lease(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(ids(&retried), ["m000001"]);
    // Dead-lettered: the next version goes.
    q.dead_letter(retried[0].lease, "refused").await.unwrap();
    q.ack(next[0].lease).await.unwrap();
    let rest = q.lease(10, Duration::ZERO).await.unwrap();
    assert_eq!(ids(&rest), ["m000004", "m000005"]);
}

#[tokio::test]
async fn given_two_processes_on_one_file_no_record_should_have_two_versions_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir, |_| {}).await;
    let b = open(&dir, |_| {}).await;
    a.enqueue((0..40).map(|i| version(i, &format!("K{}", i % 4))).collect()).await.unwrap();
    let mut order: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut delivered = 0;
    while delivered < 40 {
        let (x, y) = tokio::join!(a.lease(8, Duration::from_millis(200)), b.lease(8, Duration::from_millis(200)));
        let (x, y) = (x.unwrap(), y.unwrap());
        let mut keys: Vec<&str> = x.iter().chain(&y).map(|l| l.item.key_hash.as_str()).collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n, "two versions of one record leased at once");
        for l in x.iter().chain(&y) {
            order.entry(l.item.key_hash.clone()).or_default().push(l.item.message_id.clone());
        }
        delivered += n;
        a.ack_all(x.iter().map(|l| l.lease).collect()).await.unwrap();
        b.ack_all(y.iter().map(|l| l.lease).collect()).await.unwrap();
    }
    for (key, got) in order {
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted, "the versions of {key} went in the order they were queued");
    }
}

#[tokio::test]
async fn given_a_queue_of_schema_1_its_rows_should_get_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    {
        // A version-1 file, as an older build left it, with two versions of one record.
        static OLD: silgate_store::migrate::Schema = silgate_store::migrate::Schema {
            store: "queue",
            migrations: &[silgate_store::migrate::Migration { version: 1, name: "queue, dead, depth", sql: super::sqlite::V1, breaks_older: false }],
            every_open: "",
        };
        let mut conn = silgate_store::sqlite::open(&path, silgate_store::sqlite::Durability::Full, 0).unwrap();
        silgate_store::migrate::sqlite(&mut conn, &OLD).unwrap();
        for i in 0..2 {
            let json = serde_json::to_string(&version(i, "A")).unwrap();
            conn.execute("INSERT INTO queue (message_id, item, visible_at) VALUES (?1, ?2, 0)", rusqlite::params![format!("m{i:06}"), json]).unwrap();
        }
    }
    let q = SqliteQueue::open(SqliteConfig::new(&path)).await.unwrap();
    assert_eq!(ids(&q.lease(10, Duration::ZERO).await.unwrap()), ["m000000"], "rows queued before the upgrade are ordered too");
}

#[tokio::test]
async fn given_a_restarted_holder_its_leases_should_come_back_at_once_and_no_one_elses() {
    let dir = tempfile::tempdir().unwrap();
    let long = Duration::from_secs(300);
    let dead = open(&dir, |c| {
        c.visibility_timeout = long;
        c.holder = Some("gw-1".into());
    })
    .await;
    let other = open(&dir, |c| {
        c.visibility_timeout = long;
        c.holder = Some("gw-2".into());
    })
    .await;
    dead.enqueue((0..4).map(item).collect()).await.unwrap();
    let held = dead.lease(2, Duration::ZERO).await.unwrap();
    let busy = other.lease(1, Duration::ZERO).await.unwrap();
    assert_eq!((held.len(), busy.len()), (2, 1));
    drop(dead);
    // gw-1 starts again: what its dead process held is visible now, not in 300 s.
    let again = open(&dir, |c| {
        c.visibility_timeout = long;
        c.holder = Some("gw-1".into());
    })
    .await;
    assert_eq!(again.take_back("gw-1").await.unwrap(), 2);
    let mut got = ids(&again.lease(10, Duration::ZERO).await.unwrap()).iter().map(|s| s.to_string()).collect::<Vec<_>>();
    got.sort();
    let mut want: Vec<String> = held.iter().map(|l| l.item.message_id.clone()).collect();
    want.push("m000003".into());
    want.sort();
    assert_eq!(got, want, "gw-1's two leases and the one never leased; gw-2's stays with it");
    assert!(dead_lease_void(&again, held[0].lease).await, "the dead process's lease is void");
    other.ack(busy[0].lease).await.unwrap();
    assert_eq!(again.take_back("gw-1").await.unwrap(), 3, "what it holds now is stamped with its name");
}

async fn dead_lease_void(q: &SqliteQueue, lease: LeaseId) -> bool {
    matches!(q.ack(lease).await, Err(QueueError::UnknownLease(_)))
}
