//! Keyed hashes: what the dedup index keeps of a business key is an HMAC under the
//! region's secret, never a plain SHA-256 anyone holding a fiscal code could confirm;
//! an index an older build filled with plain hashes is adopted record by record, and
//! nothing it delivered is sent again.
#![allow(clippy::unwrap_used)]

use crate::runtime::until_accepted;
use silgate_gateway::{Gateway, GatewayConfig};
use std::net::SocketAddr;
use std::time::Duration;

/// The region's secret the gateway made in `data`.
fn keyer(data: &std::path::Path) -> silgate_dedup::Keyer {
    let text = std::fs::read_to_string(data.join("secret.key")).unwrap();
    let t = text.trim();
    assert_eq!(t.len(), 64, "64 hex digits");
    let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap()).collect();
    silgate_dedup::Keyer::new(&bytes)
}

/// The record as ingest sees the line (its CPI in the provenance).
fn record(line: &str) -> silgate_core::Record {
    let mut rec = silgate_core::json::parse_record(line).unwrap();
    let cpi = rec.cpi().to_string();
    let p = rec.provenance_mut();
    *p = silgate_core::Provenance::new(silgate_core::SourceSystem::CanonicalJson, "x", silgate_core::Position::Line(1));
    p.cpi = cpi;
    rec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_index_with_plain_hashes_an_upgraded_gateway_should_adopt_it_and_send_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let node = silgate_node::start(silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().join("node.db"))).await.unwrap();
    let data = dir.path().join("data");
    let cfg = GatewayConfig::new("puglia", "PUGLIA", data.clone(), silgate_publish::ClientConfig::new(node.endpoint()));
    let sample = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).unwrap();
    let send = dir.path().join("send.jsonl");
    std::fs::write(&send, format!("{sample}\n")).unwrap();
    let today = silgate_gateway::today();

    // A fresh index: keyed under the secret the first start made, owner-only.
    let gw = Gateway::start(cfg.clone()).await.unwrap();
    assert_eq!(gw.parts().ingest_files(std::slice::from_ref(&send), today).await.unwrap().queued, 1);
    until_accepted(&node, 1, "not delivered").await;
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.unwrap().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(data.join("secret.key")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let keyer = keyer(&data);
    let rec = record(sample);
    assert!(rec.business_key().contains(":CPI"), "a vacancy's key holds its CPI: {}", rec.business_key());
    let content = silgate_std1546::code::content_hash(&rec);
    let system = rec.provenance().system.as_str();
    let keyed = keyer.identity(system, &rec.business_key(), &content);
    let legacy = silgate_dedup::legacy_identity(system, &rec.legacy_business_key(), &content);
    let db = rusqlite::Connection::open(data.join("dedup.db")).unwrap();
    let one = |sql: &str| -> String { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(one("SELECT key_hash FROM latest"), keyed.key_hash, "the index keeps the keyed hash");
    assert_eq!(one("SELECT message_id FROM messages"), keyed.message_id);
    let plain = silgate_dedup::sha256_hex(&[rec.business_key().as_bytes()]);
    let all = one(
        "SELECT group_concat(key_hash || content_hash || message_id) FROM (SELECT key_hash, content_hash, message_id FROM latest UNION ALL SELECT key_hash, content_hash, message_id FROM messages)",
    );
    assert!(!all.contains(&plain) && !all.contains(&legacy.key_hash) && !all.contains(&legacy.content_hash), "no plain hash of the key or the content is kept");

    // A second and a third vacancy queued and not delivered yet (no publisher runs).
    let other = sample.replace("\"2026/77\"", "\"2026/78\"");
    let third = sample.replace("\"2026/77\"", "\"2026/79\"");
    let queued = dir.path().join("queued.jsonl");
    std::fs::write(&queued, format!("{other}\n{third}\n")).unwrap();
    let parts = silgate_gateway::Parts::open(cfg.clone()).await.unwrap();
    assert_eq!(parts.ingest_files(std::slice::from_ref(&queued), today).await.unwrap().queued, 2);
    drop(parts);
    // The third as an older build killed between the queue's commit and the index's
    // left it: in the queue under its plain ids, unknown to the index.
    let rec_c = record(&third);
    let content_c = silgate_std1546::code::content_hash(&rec_c);
    let keyed_c = keyer.identity(system, &rec_c.business_key(), &content_c);
    let legacy_c = silgate_dedup::legacy_identity(system, &rec_c.legacy_business_key(), &content_c);
    db.execute_batch(&format!("DELETE FROM messages WHERE message_id = '{km}'; DELETE FROM sent_codes WHERE key_hash = '{kk}';", km = keyed_c.message_id, kk = keyed_c.key_hash))
        .unwrap();
    let code_c: String = {
        let q = rusqlite::Connection::open(data.join("queue.db")).unwrap();
        let code = q.query_row("SELECT json_extract(item, '$.communication_code') FROM queue WHERE message_id = ?1", [&keyed_c.message_id], |r| r.get(0)).unwrap();
        let n = q
            .execute(
                "UPDATE queue SET message_id = ?1, key = ?2, item = json_set(item, '$.message_id', ?1, '$.key_hash', ?2, '$.content_hash', ?3) WHERE message_id = ?4",
                rusqlite::params![legacy_c.message_id, legacy_c.key_hash, legacy_c.content_hash, keyed_c.message_id],
            )
            .unwrap();
        assert_eq!(n, 1);
        code
    };
    let rec_b = record(&other);
    let content_b = silgate_std1546::code::content_hash(&rec_b);
    let keyed_b = keyer.identity(system, &rec_b.business_key(), &content_b);
    let legacy_b = silgate_dedup::legacy_identity(system, &rec_b.legacy_business_key(), &content_b);

    // As an older build would have left both (plain hashes, a vacancy's key without its
    // CPI), just after this build's migration marked the index as holding plain rows;
    // the queue's item of the second carries its plain ids.
    db.execute_batch(&format!(
        "UPDATE messages SET message_id = '{bm}', key_hash = '{bk}', content_hash = '{bc}' WHERE message_id = '{km}';
         UPDATE sent_codes SET key_hash = '{bk}' WHERE key_hash = '{kk}';",
        bm = legacy_b.message_id,
        bk = legacy_b.key_hash,
        bc = legacy_b.content_hash,
        km = keyed_b.message_id,
        kk = keyed_b.key_hash
    ))
    .unwrap();
    {
        let q = rusqlite::Connection::open(data.join("queue.db")).unwrap();
        let n = q
            .execute(
                "UPDATE queue SET message_id = ?1, key = ?2, item = json_set(item, '$.message_id', ?1, '$.key_hash', ?2, '$.content_hash', ?3) WHERE message_id = ?4",
                rusqlite::params![legacy_b.message_id, legacy_b.key_hash, legacy_b.content_hash, keyed_b.message_id],
            )
            .unwrap();
        assert_eq!(n, 1, "the second vacancy waits in the queue");
    }
    let code_b: String = db.query_row("SELECT code FROM sent_codes WHERE key_hash = ?1", [&legacy_b.key_hash], |r| r.get(0)).unwrap();
    db.execute_batch(&format!(
        "UPDATE messages SET message_id = '{lm}', key_hash = '{lk}', content_hash = '{lc}' WHERE message_id = '{km}';
         UPDATE latest SET key_hash = '{lk}', content_hash = '{lc}', message_id = '{lm}';
         UPDATE sent_codes SET key_hash = '{lk}' WHERE key_hash = '{kk}';
         DELETE FROM keying WHERE name = 'legacy'; INSERT INTO keying (name, value) VALUES ('legacy', '1');",
        lm = legacy.message_id,
        lk = legacy.key_hash,
        lc = legacy.content_hash,
        km = keyed.message_id,
        kk = keyed.key_hash
    ))
    .unwrap();
    let code: String = db.query_row("SELECT code FROM sent_codes WHERE key_hash = ?1", [&legacy.key_hash], |r| r.get(0)).unwrap();

    // The third, read again before anything is delivered (no publisher runs): the queue
    // holds it under its plain id, so it is known.
    std::fs::write(dir.path().join("third.jsonl"), format!("{third}\n")).unwrap();
    let parts = silgate_gateway::Parts::open(cfg.clone()).await.unwrap();
    let c = parts.ingest_files(&[dir.path().join("third.jsonl")], today).await.unwrap();
    assert_eq!((c.queued, c.unchanged), (0, 1), "not queued a second time: {c:?}");
    // The index learnt what that build did not tell it: an update names the code.
    let mut update_c: serde_json::Value = serde_json::from_str(&third).unwrap();
    update_c["profile"]["positions"] = serde_json::json!(8);
    std::fs::write(dir.path().join("update-c.jsonl"), format!("{update_c}\n")).unwrap();
    assert_eq!(parts.ingest_files(&[dir.path().join("update-c.jsonl")], today).await.unwrap().queued, 1);
    drop(parts);

    // The same export again: recognised, not sent again; the record's rows are keyed.
    let gw = Gateway::start(cfg.clone()).await.unwrap();
    let again = gw.parts().ingest_files(std::slice::from_ref(&send), today).await.unwrap();
    assert_eq!((again.queued, again.unchanged), (0, 1), "{again:?}");
    // (The publisher may be delivering the second vacancy meanwhile: rows by key.)
    assert_eq!(one(&format!("SELECT content_hash FROM latest WHERE key_hash = '{}'", keyed.key_hash)), keyed.content_hash);
    assert_eq!(one(&format!("SELECT count(*) || '' FROM latest WHERE key_hash = '{}'", legacy.key_hash)), "0", "the plain row moved");
    assert_eq!(one(&format!("SELECT code FROM sent_codes WHERE key_hash = '{}'", keyed.key_hash)), code);
    assert_eq!(one(&format!("SELECT count(*) || '' FROM messages WHERE message_id = '{}'", legacy.message_id)), "1", "the version keeps the id it went out with");

    // An update of the second vacancy while its older build's version still waits: it
    // names that version's code and goes after it, and that version is sent once.
    let mut update_b: serde_json::Value = serde_json::from_str(&other).unwrap();
    update_b["profile"]["positions"] = serde_json::json!(7);
    let file_b = dir.path().join("update-b.jsonl");
    std::fs::write(&file_b, format!("{update_b}\n")).unwrap();
    // Read again with it: the waiting version is known, not queued a second time.
    std::fs::write(dir.path().join("both-b.jsonl"), format!("{other}\n{update_b}\n")).unwrap();
    let b = gw.parts().ingest_files(&[dir.path().join("both-b.jsonl")], today).await.unwrap();
    assert_eq!((b.queued, b.unchanged), (1, 1), "{b:?}");
    until_accepted(&node, 5, "the second vacancy's two versions and the third's not delivered").await;
    let nodedb = rusqlite::Connection::open(dir.path().join("node.db")).unwrap();
    let docs: Vec<String> = {
        let mut st = nodedb.prepare("SELECT document FROM documents WHERE ok = 1 ORDER BY rowid").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let first = docs.iter().position(|d| d.contains(&format!(">{code_b}<")) && !d.contains("precedente>")).expect("the waiting version delivered");
    let then = docs.iter().position(|d| d.contains(&format!("precedente>{code_b}<"))).expect("the update delivered, naming it");
    assert!(first < then, "the waiting version first, then the update");
    let c_first = docs.iter().position(|d| d.contains(&format!(">{code_c}<")) && !d.contains("precedente>")).expect("the third delivered");
    let c_then = docs.iter().position(|d| d.contains(&format!("precedente>{code_c}<"))).expect("the third's update delivered, naming its code");
    assert!(c_first < c_then);

    // An update names the code the older build sent; a closure follows it.
    let mut update: serde_json::Value = serde_json::from_str(sample).unwrap();
    update["profile"]["positions"] = serde_json::json!(5);
    let file = dir.path().join("update.jsonl");
    std::fs::write(&file, format!("{update}\n")).unwrap();
    assert_eq!(gw.parts().ingest_files(std::slice::from_ref(&file), today).await.unwrap().queued, 1);
    until_accepted(&node, 6, "the update not delivered").await;
    let doc: String = nodedb.query_row("SELECT document FROM documents WHERE ok = 1 ORDER BY rowid DESC LIMIT 1", [], |r| r.get(0)).unwrap();
    assert!(doc.contains(&format!("precedente>{code}<")), "the update names the older build's code: {doc}");
    let stats = node.stats(1).await.unwrap();
    assert_eq!((stats.totals.accepted, stats.totals.duplicates, stats.totals.distinct_codes), (6, 0, 6), "nothing twice: {:?}", stats.totals);
    let report = gw.parts().audit_log.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    tokio::time::timeout(Duration::from_secs(30), gw.shutdown()).await.unwrap().unwrap();

    // Opened under another secret, the index refuses to start rather than send all again.
    std::fs::write(data.join("secret.key"), format!("{}\n", "ab".repeat(32))).unwrap();
    let err = match Gateway::start(cfg).await {
        Ok(_) => panic!("a gateway started on an index keyed with another secret"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("another secret") && err.contains("fingerprint"), "{err}");
    node.stop().await;
}
