//! The node's dashboard in a real browser: headless Chromium (Debian's `chromium`)
//! driven over WebDriver (`chromedriver`, fantoccini) loads `/dashboard` from the
//! node's plain-HTTP operators' listener while a real gateway delivers to the node, and
//! every number the page shows is compared with `/api/stats`. The screenshot is left in
//! `target/test-artifacts/dashboard.png`.
#![allow(clippy::unwrap_used)]

use crate::delivery::{Proc, block_on, certs, gateway, https, node_lines, run, vacancies, wait_for};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Collects, in the page, every number it shows with what it is (from the `data-*`
/// attributes the page puts on them).
const READ_PAGE: &str = r"
const out = { generated: document.body.dataset.generated, stat: {}, window: {}, rows: {}, reasons: {} };
for (const e of document.querySelectorAll('[data-stat]')) out.stat[e.dataset.stat] = Number(e.textContent);
for (const e of document.querySelectorAll('[data-window]')) out.window[e.dataset.window] = Number(e.textContent);
for (const t of ['region', 'cpi', 'kind']) {
  out.rows[t] = {};
  for (const tr of document.querySelectorAll('tr[data-' + t + ']')) {
    const cells = {};
    for (const td of tr.querySelectorAll('td[data-outcome]')) cells[td.dataset.outcome] = Number(td.textContent);
    out.rows[t][tr.getAttribute('data-' + t)] = cells;
  }
}
for (const tr of document.querySelectorAll('tr[data-reason]')) out.reasons[tr.dataset.reason] = Number(tr.querySelector('td[data-n]').textContent);
out.charts = document.querySelectorAll('figure svg polyline').length;
out.scripts = document.querySelectorAll('script').length;
return out;
";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `chromedriver` on a free loopback port.
fn chromedriver() -> (Proc, String) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian chromium-driver; scripts/test installs it)");
    let proc = Proc(child);
    wait_for("chromedriver", Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    (proc, format!("http://127.0.0.1:{port}"))
}

async fn browser(driver: &str) -> fantoccini::Client {
    let caps: serde_json::Map<String, Value> = serde_json::from_value(serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,2400"]
        }
    }))
    .unwrap();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    fantoccini::ClientBuilder::new(connector).capabilities(caps).connect(driver).await.unwrap()
}

/// The window's counts per key and outcome, summed from `/api/stats` the way the page
/// should.
fn expected_rows(stats: &Value, field: &str) -> BTreeMap<String, BTreeMap<String, i64>> {
    let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for r in stats["per_minute"].as_array().unwrap() {
        *out.entry(r[field].as_str().unwrap().to_string()).or_default().entry(r["outcome"].as_str().unwrap().to_string()).or_default() += r["n"].as_i64().unwrap();
    }
    out
}

fn shown_rows(page: &Value, table: &str) -> BTreeMap<String, BTreeMap<String, i64>> {
    let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (k, cells) in page["rows"][table].as_object().unwrap() {
        for (o, n) in cells.as_object().unwrap() {
            let n = n.as_i64().unwrap();
            if n != 0 {
                out.entry(k.clone()).or_default().insert(o.clone(), n);
            }
        }
    }
    out
}

#[test]
fn given_traffic_at_the_node_the_dashboard_in_chromium_should_show_the_numbers_of_api_stats() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    // One valid document in five answered KO on purpose: rejections with a reason.
    let (_node, urls) = node_lines(dir.path(), &pki, &pki, "reject_rate = 0.2", "dashboard_listen = \"127.0.0.1:0\"", 2);
    let (base, dash) = (urls[0].clone(), urls[1].clone());
    assert!(dash.starts_with("http://127.0.0.1:") && dash.ends_with("/dashboard"), "{dash}");
    let ops = dash.trim_end_matches("/dashboard").to_string();
    let cfg = gateway(dir.path(), &pki, &base, "");
    let gw = run(&cfg);
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();

    let (_driver, driver_url) = chromedriver();
    // fantoccini keeps its session on a task of the runtime that connected it: one
    // runtime for every browser call.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let client = rt.block_on(browser(&driver_url));
    let page_url = format!("{dash}?hours=3&refresh=2");

    // Traffic in waves while the page is open: CVs and vacancies of the demo (some
    // refused at the gateway), then batches of distinct vacancies.
    let demo = include_str!("../../crates/silgate/samples/demo.jsonl");
    std::fs::write(inbox.join("w0.jsonl"), demo).unwrap();
    let mut sent = 10usize;
    let mut seen_generated = Vec::new();
    let mut seen_accepted = Vec::new();
    for wave in 1..=4 {
        std::fs::write(inbox.join(format!("w{wave}.jsonl")), vacancies(40, &format!("dash{wave}"))).unwrap();
        sent += 40;
        let page: Value = rt.block_on(async {
            if wave == 1 {
                client.goto(&page_url).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(2500)).await;
            client.execute(READ_PAGE, vec![]).await.unwrap()
        });
        seen_generated.push(page["generated"].as_str().unwrap().to_string());
        seen_accepted.push(page["stat"]["accepted"].as_i64().unwrap());
    }
    // The page reloaded itself (a new generation each read) and followed the traffic.
    seen_generated.dedup();
    assert!(seen_generated.len() >= 3, "the page did not reload itself: {seen_generated:?}");
    assert!(seen_accepted.windows(2).all(|w| w[0] <= w[1]) && seen_accepted.last() > seen_accepted.first(), "{seen_accepted:?}");

    // A repeated message id: the node answers with its first answer and counts a duplicate.
    let envelope = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/egov/request-egov.xml")).unwrap();
    block_on(async {
        let c = https(&pki).await;
        for _ in 0..2 {
            let r = c.post(format!("{base}/ws/cliclavoro")).header("content-type", "text/xml; charset=utf-8").body(envelope.clone()).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
    });

    // Wait until the node has answered everything the gateway will send, then until the
    // page has reloaded once more, and compare.
    let stats_of = |url: &str| -> Value { block_on(async { serde_json::from_slice(&https(&pki).await.get(url).send().await.unwrap().bytes().await.unwrap()).unwrap() }) };
    let settled = || {
        let s = stats_of(&format!("{ops}/api/stats?hours=3"));
        let t = &s["totals"];
        // The demo file has 2 records refused at the gateway; the fixture envelope is one more message.
        let answered = t["accepted"].as_i64().unwrap() + t["rejected"].as_i64().unwrap();
        answered == i64::try_from(sent - 2 + 1).unwrap() && t["duplicates"].as_i64().unwrap() >= 1
    };
    wait_for("every message answered", Duration::from_secs(90), settled);
    let stats = stats_of(&format!("{ops}/api/stats?hours=3"));
    let page: Value = rt.block_on(async {
        let before: Value = client.execute(READ_PAGE, vec![]).await.unwrap();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now: Value = client.execute(READ_PAGE, vec![]).await.unwrap();
            if now["generated"].as_str().is_some() && now["generated"] != before["generated"] {
                break now;
            }
        }
    });
    // The same numbers over mTLS and over the operators' listener.
    let secure = crate::delivery::stats(&base, &pki);
    assert_eq!(secure["totals"], stats["totals"]);

    let totals = stats["totals"].as_object().unwrap();
    for (k, v) in totals {
        assert_eq!(page["stat"][k], *v, "tile {k}: page {} vs /api/stats {v}", page["stat"][k]);
    }
    assert_eq!(page["stat"].as_object().unwrap().len(), totals.len(), "every total is on the page");
    assert!(totals["accepted"].as_i64().unwrap() > 100 && totals["rejected"].as_i64().unwrap() > 0 && totals["duplicates"].as_i64().unwrap() >= 1, "{totals:?}");
    for table in ["region", "cpi", "kind"] {
        assert_eq!(shown_rows(&page, table), expected_rows(&stats, table), "table by {table}");
    }
    let mut window = BTreeMap::new();
    for r in stats["per_minute"].as_array().unwrap() {
        *window.entry(r["outcome"].as_str().unwrap().to_string()).or_insert(0i64) += r["n"].as_i64().unwrap();
    }
    for (o, n) in &window {
        assert_eq!(page["window"][o].as_i64().unwrap(), *n, "window {o}");
    }
    let reasons: BTreeMap<String, i64> = stats["rejects_by_reason"].as_array().unwrap().iter().map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_i64().unwrap())).collect();
    let shown: BTreeMap<String, i64> = page["reasons"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap())).collect();
    assert_eq!(shown, reasons);
    assert!(reasons.contains_key("fault.injected-reject"), "{reasons:?}");
    assert!(!stats["latency"].as_array().unwrap().is_empty(), "answer times per minute");
    assert!(page["charts"].as_i64().unwrap() >= 6, "the SVG charts: {}", page["charts"]);
    assert_eq!(page["scripts"], 0, "the page runs no script");

    let png = rt.block_on(async {
        let png = client.screenshot().await.unwrap();
        client.close().await.unwrap();
        png
    });
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("dashboard.png"), png).unwrap();
    assert_eq!(gw.term(), 0);
}
