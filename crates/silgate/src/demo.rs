//! `silgate demo`: the main job on the embedded default, on samples bundled in the
//! binary: canonical JSON -> business rules -> 1546 XML -> SQLite queue -> publisher
//! -> the built-in reference node on loopback (HTTPS with client certificates from a
//! throwaway PKI), then the same input again to show deduplication, then the audit
//! chain verified.

use crate::gateway::GatewayConfig;
use crate::run::Parts;
use anyhow::{Context, Result};
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
    std::fs::create_dir_all(&dir)?;
    let pki = crate::pki::DevPki::generate("CAMPANIA")?;
    pki.write(&dir.join("pki"))?;
    let node_cfg: silgate_node::NodeConfig = toml::from_str(&format!(
        "listen = \"127.0.0.1:0\"\nstore = \"{}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n",
        dir.join("node/documents.db").display(),
        dir.join("pki/node.pem").display(),
        dir.join("pki/node.key").display(),
        dir.join("pki/ca.pem").display()
    ))?;
    let node = silgate_node::start(node_cfg).await?;
    let gw_toml = dir.join("gateway.toml");
    std::fs::write(
        &gw_toml,
        format!(
            "instance = \"demo\"\nregion = \"15\"\nregion_name = \"CAMPANIA\"\ndata_dir = \"data\"\n\n[node]\nurl = \"{}\"\nca = \"pki/ca.pem\"\nclient_cert = \"pki/client.pem\"\nclient_key = \"pki/client.key\"\n\n[delivery]\nconcurrency = 4\n",
            node.endpoint()
        ),
    )?;
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox)?;
    let input = inbox.join("demo.jsonl");
    std::fs::write(&input, SAMPLES)?;
    println!("silgate demo in {}", dir.display());
    println!("  path: bundled samples -> 1546 XML -> SQLite queue -> publisher -> reference node {} (mTLS)", node.endpoint());
    let parts = Parts::open(GatewayConfig::load(&gw_toml)?).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let first = parts.ingest_files(std::slice::from_ref(&input), today).await?;
    println!("  records read:        {}", first.records);
    println!("  rejected at ingest:  {} (reasons in {})", first.rejected, parts.cfg.quarantine_path().display());
    for (rule, n) in &first.reasons {
        println!("      {n} x {rule}");
    }
    println!("  queued:              {}", first.queued);
    let publisher = parts.publisher()?;
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    publisher.run(stop.clone(), Some(Duration::from_millis(300))).await?;
    let c = publisher.counters();
    println!("  delivered:           {} (receipts in the audit log)", c.delivered.load(Ordering::Relaxed));
    println!("  refused by the node: {}", c.refused.load(Ordering::Relaxed));
    let second = parts.ingest_files(std::slice::from_ref(&input), today).await?;
    publisher.run(stop, Some(Duration::from_millis(300))).await?;
    println!("  same file again:     {} queued, {} deduplicated, {} rejected again (unchanged since delivery)", second.queued, second.unchanged, second.rejected);
    let stats = node.stats(1).await?;
    let t = &stats.totals;
    println!("  node:                {} accepted, {} distinct codes, {} rejected, {} duplicates", t.accepted, t.distinct_codes, t.rejected, t.duplicates);
    let report = parts.audit_log.verify().await?;
    println!("  audit:               {} entries, chain {}", report.entries, if report.is_ok() { "intact" } else { "BROKEN" });
    node.stop().await;
    anyhow::ensure!(report.is_ok(), "audit chain broken: {:?}", report.problems);
    anyhow::ensure!(second.queued == 0, "the second ingest queued {} records", second.queued);
    Ok(ExitCode::SUCCESS)
}
