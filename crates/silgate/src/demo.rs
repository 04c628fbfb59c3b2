//! `silgate demo`: the main job on the embedded default, on samples bundled in the
//! binary: canonical JSON -> business rules -> 1546 XML -> SQLite queue -> publisher
//! -> the built-in reference node on loopback (HTTPS with client certificates from a
//! throwaway PKI), then the same input again to show deduplication, then the audit
//! chain verified. The node and the gateway run in this process, started from typed
//! configs through `silgate_node::start` and `silgate_gateway::Gateway::start`.

use anyhow::{Context, Result};
use silgate_core::Queue;
use silgate_gateway::{Gateway, GatewayConfig, GatewayHandle};
use silgate_publish::ClientConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The bundled samples: five CVs and three vacancies from CPIs of five regions, plus one
/// CV with a wrong codice fiscale check character and one vacancy with an unknown ATECO
/// code and an expiry before its publication.
const SAMPLES: &str = include_str!("../samples/demo.jsonl");

pub(crate) async fn run(out: Option<PathBuf>) -> Result<ExitCode> {
    let dir = match out {
        Some(o) => o,
        None => std::env::temp_dir().join("silgate-demo"),
    };
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    silgate_core::private::create_dir_all(&dir)?;
    let pki = crate::pki::DevPki::generate("CAMPANIA")?;
    let certs = dir.join("pki");
    pki.write(&certs)?;
    let mut node_cfg = silgate_node::NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.join("node/documents.db"));
    node_cfg.tls = Some(silgate_node::TlsConfig { cert: certs.join("node.pem"), key: certs.join("node.key"), client_ca: certs.join("ca.pem"), senders: Default::default() });
    let node = silgate_node::start(node_cfg).await?;
    let mut to_node = ClientConfig::new(node.endpoint());
    to_node.ca = Some(certs.join("ca.pem"));
    to_node.client_cert = Some(certs.join("client.pem"));
    to_node.client_key = Some(certs.join("client.key"));
    let mut cfg = GatewayConfig::new("campania", "CAMPANIA", dir.join("data"), to_node);
    cfg.instance = "demo".into();
    cfg.delivery.concurrency = 4;
    let inbox = dir.join("inbox");
    silgate_core::private::create_dir_all(&inbox)?;
    let input = inbox.join("demo.jsonl");
    silgate_core::private::write(&input, SAMPLES)?;
    println!("silgate demo in {}", dir.display());
    println!("  path: bundled samples -> 1546 XML -> SQLite queue -> publisher -> reference node {} (mTLS)", node.endpoint());
    let gw = Gateway::start(cfg).await?;
    let parts = gw.parts().clone();
    let today = time::OffsetDateTime::now_utc().date();
    let first = parts.ingest_files(std::slice::from_ref(&input), today).await?;
    println!("  records read:        {}", first.records);
    println!("  rejected at ingest:  {} (reasons in {})", first.rejected, parts.cfg.quarantine_path().display());
    for (rule, n) in &first.reasons {
        println!("      {n} x {rule}");
    }
    println!("  queued:              {}", first.queued);
    let c = gw.delivery();
    drained(&gw, first.queued as u64).await?;
    println!("  delivered:           {} (receipts in the audit log)", c.delivered.load(Ordering::Relaxed));
    println!("  refused by the node: {}", c.refused.load(Ordering::Relaxed));
    let second = parts.ingest_files(std::slice::from_ref(&input), today).await?;
    drained(&gw, (first.queued + second.queued) as u64).await?;
    println!("  same file again:     {} queued, {} deduplicated, {} rejected again (unchanged since delivery)", second.queued, second.unchanged, second.rejected);
    let stats = node.stats(1).await?;
    let t = &stats.totals;
    println!("  node:                {} accepted, {} distinct codes, {} rejected, {} duplicates", t.accepted, t.distinct_codes, t.rejected, t.duplicates);
    let report = parts.audit_log.verify().await?;
    let chain = if report.problems.is_empty() { "intact" } else { "BROKEN" };
    let story = if report.gaps == 0 { "every delivered record with its story".to_string() } else { format!("{} delivered without their story", report.gaps) };
    println!("  audit:               {} entries, chain {chain}, {story}", report.entries);
    gw.shutdown().await?;
    node.stop().await;
    anyhow::ensure!(report.is_ok(), "audit chain broken or incomplete: {:?}, {} gap(s)", report.problems, report.gaps);
    anyhow::ensure!(second.queued == 0, "the second ingest queued {} records", second.queued);
    Ok(ExitCode::SUCCESS)
}

/// Waits until the publisher has settled `settled` items for good (delivered,
/// refused or dead-lettered) and the queue is empty.
async fn drained(gw: &GatewayHandle, settled: u64) -> Result<()> {
    let c = gw.delivery();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let done = c.delivered.load(Ordering::Relaxed) + c.refused.load(Ordering::Relaxed) + c.dead_lettered.load(Ordering::Relaxed);
        let q = gw.parts().queue.stats().await?;
        if done >= settled && q.ready == 0 && q.leased.unwrap_or(0) == 0 {
            return Ok(());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the queue was not delivered within two minutes ({done} of {settled} settled)");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
