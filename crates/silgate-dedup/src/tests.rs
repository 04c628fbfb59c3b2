//! Unit tests: message ids, and the index's answers on SQLite and on the machine's
//! PostgreSQL (with a reconnect after the server drops the session).

use super::*;
use silgate_std1546::egov;

/// The rows an older build (dedup schema 3, plain hashes) left for two records: `A`
/// delivered, `B` queued and not delivered yet, each with the code last queued; `B`'s
/// plain key (a vacancy's: no CPI) was shared with CPI02's vacancy of the same employer
/// and local id, whose code it remembers.
struct Legacy {
    a: (Identity, Identity),
    b: (Identity, Identity),
    keyer: Keyer,
}

impl Legacy {
    fn new() -> Self {
        let keyer = Keyer::new(b"the region's secret, 32 bytes...");
        let (ka, kb) = ("cv:RSSMRA80A01H501U:CPI01", "vacancy:CPI01:01234567890:V-7");
        let (lb, ca, cb) = ("vacancy:01234567890:V-7", [1u8; 32], [2u8; 32]);
        Self { a: (legacy_identity("sintesi", ka, &ca), keyer.identity("sintesi", ka, &ca)), b: (legacy_identity("sintesi", lb, &cb), keyer.identity("sintesi", kb, &cb)), keyer }
    }

    /// The older build's rows, as SQL for a table prefix (`""` or `"dedup_"`).
    fn rows(&self, t: &str) -> String {
        let (a, b) = (&self.a.0, &self.b.0);
        format!(
            "INSERT INTO {t}messages (message_id, key_hash, content_hash, state, egov_id, receipt, updated_ms, queued_order) VALUES
                ('{}', '{}', '{}', 'delivered', 'E-1', 'R-1', 1, 1), ('{}', '{}', '{}', 'queued', NULL, NULL, 1, 2);
             INSERT INTO {t}latest (key_hash, content_hash, message_id, delivered_ms) VALUES ('{}', '{}', '{}', 1);
             INSERT INTO {t}sent_codes (key_hash, code, updated_ms) VALUES ('{}', 'CODE-A', 1), ('{}', 'CODE-B', 1);
             INSERT INTO {t}issued_codes (code, cpi, region, at_ms) VALUES ('CODE-B', 'CPI02', '14', 1);",
            a.message_id, a.key_hash, a.content_hash, b.message_id, b.key_hash, b.content_hash, a.key_hash, a.content_hash, a.message_id, a.key_hash, b.key_hash
        )
    }
}

/// An index an older build filled, opened by this one: bound to the secret, it adopts
/// each record's rows when ingest meets the record again, and nothing delivered or
/// queued looks new.
async fn legacy_index_adopted(idx: DedupIndex, l: &Legacy) {
    idx.bind(&l.keyer).await.unwrap();
    assert!(idx.holds_legacy());
    let ((la, ka), (lb, kb)) = (&l.a, &l.b);
    assert_eq!(idx.admit(vec![ka.clone()]).await.unwrap(), [Admission::New], "before adoption the keyed identity is unknown");
    let ad = |plain: &Identity, keyed: &Identity| Adoption { plain: plain.clone(), keyed: keyed.clone(), cpi: "CPI01".into() };
    let known = idx.adopt(vec![ad(la, ka), ad(lb, kb)]).await.unwrap();
    assert_eq!(known, [Some(la.message_id.clone()), Some(lb.message_id.clone())], "both versions are known under their plain ids");
    assert_eq!(idx.admit(vec![ka.clone()]).await.unwrap(), [Admission::Unchanged], "the delivered content is recognised under the keyed key");
    let b_as_known = Identity { message_id: lb.message_id.clone(), ..kb.clone() };
    assert_eq!(idx.admit(vec![b_as_known]).await.unwrap(), [Admission::Known], "the queued version keeps its plain id");
    assert_eq!(idx.last_codes(vec![ka.key_hash.clone(), kb.key_hash.clone()]).await.unwrap(), [Some("CODE-A".into()), None], "CPI02's code stays for CPI02");
    let other_cpi = l.keyer.identity("sintesi", "vacancy:CPI02:01234567890:V-7", &[4u8; 32]);
    idx.adopt(vec![Adoption { plain: lb.clone(), keyed: other_cpi.clone(), cpi: "CPI02".into() }]).await.unwrap();
    assert_eq!(idx.last_codes(vec![other_cpi.key_hash.clone(), la.key_hash.clone(), lb.key_hash.clone()]).await.unwrap(), [Some("CODE-B".into()), None, None]);
    // A new version of B waits for the older build's version, now under B's keyed key.
    let b2 = l.keyer.identity("sintesi", "vacancy:CPI01:01234567890:V-7", &[3u8; 32]);
    idx.mark_queued(vec![b2.clone()]).await.unwrap();
    assert_eq!(idx.waiting_behind(vec![b2.message_id.clone()]).await.unwrap(), [Some(true)]);
    assert_eq!(idx.delivered(&la.message_id).await.unwrap().as_deref(), Some("R-1"), "the delivery stays under the id it went out with");
    // Idempotent.
    assert_eq!(idx.adopt(vec![ad(la, ka)]).await.unwrap(), [Some(la.message_id.clone())]);
    assert_eq!(idx.admit(vec![ka.clone()]).await.unwrap(), [Admission::Unchanged]);
    // Another secret is refused: its hashes would never match.
    let other = Keyer::new(b"not the region's secret, at all.");
    let err = idx.bind(&other).await.unwrap_err();
    assert!(matches!(&err, DedupError::OtherSecret { index, ours } if index == l.keyer.fingerprint() && ours == other.fingerprint()), "{err}");
}

#[tokio::test]
async fn given_an_index_an_older_build_filled_the_sqlite_index_should_adopt_its_rows_under_keyed_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let l = Legacy::new();
    {
        let mut c = rusqlite::Connection::open(&path).unwrap();
        let v3 = Schema { store: "dedup", migrations: &SQLITE_SCHEMA.migrations[..3], every_open: "" };
        silgate_store::migrate::sqlite(&mut c, &v3).unwrap();
        c.execute_batch(&l.rows("")).unwrap();
    }
    legacy_index_adopted(DedupIndex::open(&path).await.unwrap(), &l).await;
    // A fresh index holds nothing plain, and keeps the fingerprint of its first secret.
    let fresh = DedupIndex::open(&dir.path().join("fresh.db")).await.unwrap();
    fresh.bind(&l.keyer).await.unwrap();
    assert!(!fresh.holds_legacy());
    fresh.bind(&l.keyer).await.unwrap();
    assert!(fresh.bind(&Keyer::new(b"x")).await.is_err());
}

#[tokio::test]
async fn given_an_index_an_older_build_filled_the_postgres_index_should_adopt_its_rows_under_keyed_hashes() {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("dedup_legacy_{}_{}", std::process::id(), t % 1_000_000_000);
    let url = format!("host=127.0.0.1 user=postgres dbname=test options='-c search_path={schema}'");
    let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("PostgreSQL on 127.0.0.1:5432");
    tokio::spawn(conn);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let l = Legacy::new();
    let v3 = Schema { store: "dedup", migrations: &pg::SCHEMA.migrations[..3], every_open: "" };
    silgate_store::migrate::postgres(&mut client, &v3).await.unwrap();
    // The older build took its places in the order from the sequence.
    client.batch_execute(&format!("{} SELECT setval('dedup_queued_order', 2);", l.rows("dedup_"))).await.unwrap();
    legacy_index_adopted(DedupIndex::postgres(&url, &Default::default()).await.unwrap(), &l).await;
    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

async fn index_behaves(idx: DedupIndex) {
    let o = |m: &str, c: &str| Identity { message_id: m.into(), key_hash: "k".into(), content_hash: c.into() };
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
    // Refused by the node: not known any more; queued again, it goes under a new eGov id.
    idx.mark_queued(vec![o("m2", "c2")]).await.unwrap();
    let before = idx.egov_id(&o("m2", "c2"), "PUGLIA", |n| egov::message_id("PUGLIA", n, "2026-11-24T10:17:00")).await.unwrap();
    idx.mark_refused("m2").await.unwrap();
    assert_eq!(idx.admit(vec![o("m2", "c2")]).await.unwrap(), [Admission::New], "a refused version is sent again");
    idx.mark_queued(vec![o("m2", "c2")]).await.unwrap();
    assert_eq!(idx.admit(vec![o("m2", "c2")]).await.unwrap(), [Admission::Known]);
    let after = idx.egov_id(&o("m2", "c2"), "PUGLIA", |n| egov::message_id("PUGLIA", n, "2026-11-24T10:18:00")).await.unwrap();
    assert_ne!(after, before, "a new try needs a new eGov id: the node replays its first answer to a repeated one");
    // A delivered one is not reopened by being queued again.
    idx.mark_queued(vec![o("m1", "c1")]).await.unwrap();
    assert_eq!(idx.delivered("m1").await.unwrap().as_deref(), Some("R1"));
    // Versions of one record wait for the earlier unsettled ones, in queueing order.
    let v = |m: &str| Identity { message_id: m.into(), key_hash: "order".into(), content_hash: m.into() };
    idx.mark_queued(vec![v("v1"), v("v2")]).await.unwrap();
    idx.mark_queued(vec![v("v3")]).await.unwrap();
    let ask = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(idx.waiting_behind(ask(&["v1", "v2", "v3", "unknown"])).await.unwrap(), [Some(false), Some(true), Some(true), None]);
    idx.mark_delivered(&v("v1"), "R").await.unwrap();
    assert_eq!(idx.waiting_behind(ask(&["v2", "v3"])).await.unwrap(), [Some(false), Some(true)], "delivered, v1 holds nothing back");
    idx.mark_dead("v2").await.unwrap();
    assert_eq!(idx.waiting_behind(ask(&["v3"])).await.unwrap(), [Some(false)], "dead-lettered, v2 holds nothing back");
    assert_eq!(idx.fates(ask(&["v1", "v2", "v3", "unknown"])).await.unwrap(), [Fate::Open, Fate::Dead, Fate::Open, Fate::Open]);
    assert_eq!(idx.admit(vec![v("v2")]).await.unwrap(), [Admission::Known], "a dead letter is known: replayed, not queued again");
    // Replayed, v2 is waiting again, still before v3.
    idx.reopen(vec!["v2".into()]).await.unwrap();
    assert_eq!(idx.waiting_behind(ask(&["v2", "v3"])).await.unwrap(), [Some(false), Some(true)]);
    // Refusing (acked next): settled, still known.
    idx.mark_refusing("v2").await.unwrap();
    assert_eq!(idx.waiting_behind(ask(&["v3"])).await.unwrap(), [Some(false)], "a refusal holds nothing back");
    assert_eq!(idx.admit(vec![v("v2")]).await.unwrap(), [Admission::Known], "not admitted again while it leaves the queue");
    // Refused then queued again: a new try, last in the order.
    idx.mark_refused("v2").await.unwrap();
    idx.mark_queued(vec![v("v2")]).await.unwrap();
    assert_eq!(idx.waiting_behind(ask(&["v2", "v3"])).await.unwrap(), [Some(true), Some(false)]);
    // A person's erasure: every version of the key forgotten (delivered v1 too), the
    // content last delivered and the code last queued gone; another key untouched.
    idx.remember_codes(vec![Issued { key_hash: "order".into(), code: "C-ORDER".into(), cpi: "CPI-E".into(), send: true }]).await.unwrap();
    let mut erased = idx.erase(vec!["order".into(), "nobody".into(), String::new()]).await.unwrap();
    erased.sort();
    assert_eq!(erased, ["v1", "v2", "v3"]);
    assert_eq!(idx.fates(ask(&["v1", "v3"])).await.unwrap(), [Fate::Erased, Fate::Erased], "a broker still holding one drops it");
    assert_eq!(idx.last_codes(vec!["order".into()]).await.unwrap(), [None]);
    assert_eq!(idx.delivered("v1").await.unwrap(), None);
    assert!(idx.cpis().await.unwrap().contains(&"CPI-E".to_string()));
    assert_eq!(idx.admit(vec![v("v1")]).await.unwrap(), [Admission::New], "exported again, the person is new");
    idx.mark_queued(vec![v("v1")]).await.unwrap();
    assert_eq!(idx.admit(vec![v("v1")]).await.unwrap(), [Admission::Known]);
    assert_eq!(idx.waiting_behind(ask(&["v1"])).await.unwrap(), [Some(false)]);
    assert_eq!(idx.erase(vec![String::new()]).await.unwrap(), Vec::<String>::new(), "an empty key names no tombstone");
    assert_eq!(idx.delivered("m1").await.unwrap().as_deref(), Some("R1"));
    // The source's own order: a version changed before one queued is superseded; one
    // without a source time, or of another key, compares with nothing.
    let t = |m: &str| Identity { message_id: m.into(), key_hash: "timed".into(), content_hash: m.into() };
    idx.mark_queued_at(vec![(t("t2"), Some(2_000)), (t("tn"), None)]).await.unwrap();
    let asks = vec![("timed".to_string(), 1_000), ("timed".to_string(), 3_000), ("other".to_string(), 1)];
    assert_eq!(idx.superseded(asks.clone()).await.unwrap(), [true, false, false]);
    idx.mark_refused("t2").await.unwrap();
    assert_eq!(idx.superseded(asks).await.unwrap(), [false, false, false], "a refused version supersedes nothing");
    // The order of queueing: what was queued after a place, and is not refused.
    let place = idx.order_now().await.unwrap();
    assert!(place > 0);
    let o = |m: &str| Identity { message_id: m.into(), key_hash: "ordered".into(), content_hash: m.into() };
    assert_eq!(idx.queued_after(vec![("ordered".into(), place)]).await.unwrap(), [false]);
    idx.mark_queued(vec![o("o1")]).await.unwrap();
    let o1 = idx.orders_of(vec!["o1".into(), "nowhere".into()]).await.unwrap();
    assert!(o1[0].is_some_and(|n| n > place) && o1[1].is_none(), "{o1:?}");
    assert_eq!(idx.order_now().await.unwrap(), o1[0].unwrap());
    idx.mark_queued(vec![o("o2")]).await.unwrap();
    let asks = vec![("ordered".to_string(), place), ("ordered".to_string(), o1[0].unwrap()), ("other".to_string(), 0)];
    assert_eq!(idx.queued_after(asks.clone()).await.unwrap(), [true, true, false]);
    assert_eq!(idx.known(vec!["o2".into(), "nowhere".into()]).await.unwrap(), [true, false]);
    idx.mark_refusing("o2").await.unwrap();
    assert_eq!(idx.known(vec!["o2".into()]).await.unwrap(), [false], "a version being refused is not known");
    assert_eq!(idx.queued_after(asks.clone()).await.unwrap(), [true, false, false], "nor after anything");
    idx.mark_queued(vec![o("o2")]).await.unwrap();
    idx.mark_dead("o2").await.unwrap();
    assert_eq!(idx.queued_after(asks.clone()).await.unwrap(), [true, true, false], "a dead letter is replayed, not replaced");
    idx.mark_refused("o2").await.unwrap();
    assert_eq!(idx.queued_after(asks).await.unwrap(), [true, false, false], "a refused version is not after anything");
    // A version queued again without a source time keeps the one it had.
    let timed = Identity { message_id: "st".into(), key_hash: "src".into(), content_hash: "st".into() };
    idx.mark_queued_at(vec![(timed.clone(), Some(5_000))]).await.unwrap();
    idx.mark_refused("st").await.unwrap();
    idx.mark_queued_at(vec![(timed, None)]).await.unwrap();
    assert_eq!(idx.superseded(vec![("src".into(), 4_000)]).await.unwrap(), [true]);
    assert_eq!(idx.known(vec!["o2".into()]).await.unwrap(), [false], "a refused version is not known");
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
    index_behaves(DedupIndex::postgres(&url, &Default::default()).await.unwrap()).await;
}

#[tokio::test]
async fn given_its_postgres_connection_killed_the_index_should_reconnect_on_the_next_use() {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("dedup_reconnect_{}_{}", std::process::id(), t % 1_000_000_000);
    let (admin, conn) = tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await.expect("PostgreSQL on 127.0.0.1:5432");
    tokio::spawn(conn);
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("host=127.0.0.1 user=postgres dbname=test application_name={schema} options='-c search_path={schema}'");
    let index = DedupIndex::postgres(&url, &Default::default()).await.unwrap();
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
