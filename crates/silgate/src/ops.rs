//! Operator commands: `run`, `ingest`, `node`, `quarantine list|replay`, `dlq list|replay`, `audit verify|query`,
//! `config check`, `report weekly`, `certs`. Each loads what it needs through
//! `silgate_gateway` and prints; none holds runtime logic.

use anyhow::{Context, Result};
use silgate_audit::{Event, NewEntry, Query};
use silgate_core::Queue;
use silgate_gateway::{Files, Gateway, GatewayConfig, Parts, SourceKind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `silgate run`: the gateway until SIGTERM or SIGINT, which drains.
pub(crate) async fn run(config: &Path) -> Result<ExitCode> {
    let gw = Gateway::start(GatewayConfig::load(config)?).await?;
    shutdown_signal().await;
    gw.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

/// `silgate ingest`: inputs into the durable queue, with a progress bar.
pub(crate) async fn ingest(config: &Path, kind: SourceKind, mapping: Option<&str>, files: &[PathBuf]) -> Result<ExitCode> {
    let parts = Parts::open(GatewayConfig::load(config)?).await?;
    let pb = crate::progress::bar(kind.as_str());
    let s = parts.ingest_inputs(kind, mapping, files, silgate_gateway::today(), Some(&pb)).await?;
    pb.finish_and_clear();
    println!("{} record(s): {} queued, {} unchanged (not queued), {} rejected (see {})", s.records, s.queued, s.unchanged, s.rejected, parts.cfg.quarantine_path().display());
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT.
pub(crate) async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// `silgate config check FILE [--offline]`.
pub(crate) fn config_check(path: &Path, offline: bool) -> Result<ExitCode> {
    let found = silgate_gateway::config::check_file(path, if offline { Files::Ignore } else { Files::Check });
    for p in &found {
        println!("{}: {p}", path.display());
    }
    if found.is_empty() {
        println!("{}: ok", path.display());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem(s)", found.len());
        Ok(ExitCode::from(1))
    }
}

/// `silgate report weekly`.
pub(crate) async fn report_weekly(config: &Path, since: &str, province: Option<&str>, format: &str) -> Result<ExitCode> {
    let format = format.parse()?;
    let cfg = GatewayConfig::read(config)?;
    print!("{}", silgate_gateway::report::weekly(&cfg, since, province, format).await?);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn node(config: &Path) -> Result<ExitCode> {
    let text = std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let mut cfg: silgate_node::NodeConfig = toml::from_str(&text).with_context(|| format!("{}: invalid node configuration", config.display()))?;
    let base = config.parent().map(Path::to_path_buf).unwrap_or_default();
    let abs = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    cfg.store = abs(&cfg.store);
    if let Some(t) = &mut cfg.tls {
        t.cert = abs(&t.cert);
        t.key = abs(&t.key);
        t.client_ca = abs(&t.client_ca);
    }
    let handle = silgate_node::start(cfg).await?;
    // The line tests and scripts wait for.
    println!("silgate node listening on {}", handle.base());
    if let Some(at) = handle.dashboard {
        println!("silgate node dashboard on http://{at}/dashboard");
    }
    shutdown_signal().await;
    handle.stop().await;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn purge(config: &Path) -> Result<ExitCode> {
    let cfg = GatewayConfig::load(config)?;
    anyhow::ensure!(cfg.retention.is_some(), "no [retention] section in {}: nothing is past its days", config.display());
    let parts = Parts::open(cfg).await?;
    let s = silgate_gateway::retention::purge(&parts, std::time::SystemTime::now()).await?;
    let say = |n: Option<usize>| n.map_or_else(|| "kept (no retention set, or the broker's)".to_string(), |n| format!("{n} deleted"));
    println!("dead letters: {}", say(s.dead_letters));
    println!("inputs: {}", say(s.inputs));
    println!("kept refusals: {}", say(s.refused));
    Ok(ExitCode::SUCCESS)
}

/// `silgate backup DIR`.
pub(crate) async fn backup(config: &Path, dir: &Path) -> Result<ExitCode> {
    let cfg = GatewayConfig::load(config)?;
    let m = silgate_gateway::backup::backup(&cfg, dir).await?;
    for f in &m.files {
        println!("{}\t{}\t{} bytes", f.role, f.file, f.bytes);
    }
    println!("backup of instance {} taken at {} ms in {}", m.instance, m.taken_ms, dir.display());
    Ok(ExitCode::SUCCESS)
}

/// `silgate restore DIR`.
pub(crate) async fn restore(config: &Path, dir: &Path, floor: Option<u64>) -> Result<ExitCode> {
    let cfg = GatewayConfig::load(config)?;
    let r = silgate_gateway::backup::restore(cfg, dir, floor).await?;
    println!("restored the backup taken at {} ms", r.taken_ms);
    for a in &r.aside {
        println!("set aside (not deleted): {}", a.display());
    }
    println!("audit: {}", if r.audit_kept { "the one in use verified and goes on" } else { "the backup's (the one in use was missing or broken; it is set aside)" });
    println!(
        "from the stores in use: {} version(s) changed and {} queued since, {} item(s) waiting or dead-lettered, {} erased version(s)",
        r.settled, r.added, r.waiting, r.erased
    );
    if r.lost > 0 {
        println!("versions whose items were lost with the queue: {} (read again, they are queued again)", r.lost);
    }
    println!("inputs moved after the backup, put back in their inbox: {}", r.inputs);
    for s in &r.not_replayable {
        println!("{s}: what it brought after the backup and was not delivered is not in the restored queue: ask for it again from {} ms", r.taken_ms);
    }
    Ok(ExitCode::SUCCESS)
}

/// `silgate purge --fiscal-code CF`.
pub(crate) async fn erase(config: &Path, fiscal_code: &str) -> Result<ExitCode> {
    // `-`: read from standard input, so the code stays out of the process list and the
    // shell's history.
    let given = if fiscal_code == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line
    } else {
        fiscal_code.to_string()
    };
    let cf = silgate_gateway::erasure::fiscal_code(&given)?;
    let cfg = GatewayConfig::load(config)?;
    let e = silgate_gateway::erasure::erase_stopped(cfg, &cf).await?;
    println!("versions forgotten by the dedup index: {}", e.versions);
    println!("queued items and dead letters deleted: {}", e.queued);
    println!("refused records kept for a replay deleted: {}", e.refused);
    println!("kept inputs naming the person deleted: {}", e.inputs);
    if e.unsearched > 0 {
        println!("kept inputs that could not be searched (compressed), left to inputs_days: {}", e.unsearched);
    }
    for p in &e.set_aside {
        println!("set aside by a restore, still holding earlier content (delete it once the restore is checked): {}", p.display());
    }
    println!("a later export of this person is sent to the node as new");
    Ok(ExitCode::SUCCESS)
}

/// `--since YYYY-MM-DD` as Unix ms at that day's midnight (UTC).
fn since_ms(since: Option<String>) -> Result<Option<i64>> {
    since
        .map(|s| {
            let d = silgate_core::time_types::parse_date(&s).map_err(|_| anyhow::anyhow!("--since must be YYYY-MM-DD, got '{s}'"))?;
            Ok(d.midnight().assume_utc().unix_timestamp() * 1000)
        })
        .transpose()
}

/// `silgate quarantine list`.
pub(crate) async fn quarantine_list(config: &Path, cpi: Option<String>, rule: Option<String>, since: Option<String>, all: bool) -> Result<ExitCode> {
    let parts = Parts::open(GatewayConfig::read(config)?).await?;
    let filter = silgate_gateway::kept::Filter { id: None, cpi, rule, since_ms: since_ms(since)?, all };
    let kept = parts.kept().list(&filter).await?;
    for k in &kept {
        let at = time::OffsetDateTime::from_unix_timestamp(k.at_ms / 1000).map_or_else(|_| k.at_ms.to_string(), |t| t.date().to_string());
        let replay = match (&k.outcome, k.replayable) {
            (Some(o), _) => format!("replayed: {o}"),
            (None, true) => "replayable".to_string(),
            (None, false) => "not replayable: the source must send it again".to_string(),
        };
        let position = format!("{}:{}:{}", k.provenance.system, k.provenance.origin, k.provenance.position);
        let source = k.source_field.as_deref().unwrap_or("-");
        println!("{}\t{at}\t{}\t{}\t{}\t{}\t{source}\t{position}\t{replay}\t{}", k.id, k.by.as_str(), k.cpi, k.rule, k.field, k.message);
    }
    eprintln!("{} kept refusal(s)", kept.len());
    Ok(ExitCode::SUCCESS)
}

/// `silgate quarantine replay`.
pub(crate) async fn quarantine_replay(config: &Path, rule: Option<String>, id: Option<String>) -> Result<ExitCode> {
    let parts = Parts::open(GatewayConfig::load(config)?).await?;
    let filter = silgate_gateway::kept::Filter { id, rule, ..Default::default() };
    let s = silgate_gateway::kept::replay(&parts, &filter, silgate_gateway::today()).await?;
    if let (Some(id), 0) = (&filter.id, s.taken) {
        anyhow::bail!("no kept refusal {id} waits for a replay (`silgate quarantine list --all` shows every one, replayed ones with their outcome)");
    }
    println!(
        "{} kept refusal(s) judged again: {} queued, {} unchanged (sent since), {} superseded (a later version was queued), {} refused again (still kept), {} not replayable",
        s.taken, s.queued, s.unchanged, s.superseded, s.rejected, s.not_replayable
    );
    if s.in_delivery > 0 {
        println!("{} left kept: the node's refusal of them is still being settled by a running gateway (replay them again later)", s.in_delivery);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn dlq_list(config: &Path, limit: usize) -> Result<ExitCode> {
    let parts = Parts::open(GatewayConfig::read(config)?).await?;
    let dead = parts.queue.dead_letters(limit).await?;
    for d in &dead {
        println!("{}\t{}\t{}\t{}\t{}", d.item.message_id, d.item.communication_code, d.item.cpi, d.at_ms, d.reason);
    }
    eprintln!("{} dead letter(s)", dead.len());
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn dlq_replay(config: &Path, ids: &[String]) -> Result<ExitCode> {
    let parts = Parts::open(GatewayConfig::load(config)?).await?;
    // Reopened in the index first: a replayed item leased at once must not be found
    // dead (and put back in the dead-letter store), and it goes before its record's
    // later versions.
    let ids: Vec<String> = if ids.is_empty() { parts.queue.dead_letters(usize::MAX).await?.into_iter().map(|d| d.item.message_id).collect() } else { ids.to_vec() };
    parts.dedup.reopen(ids.clone()).await?;
    let back = parts.queue.replay(&ids).await?;
    let entries = back.iter().map(|i| NewEntry::now(Event::Replayed, Some(&i.message_id), Some(&i.communication_code), Some(&i.cpi))).collect();
    parts.audit.record(entries).await?;
    println!("{} item(s) replayed into the queue", back.len());
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn audit_verify(config: &Path, anchors: Option<&Path>) -> Result<ExitCode> {
    let cfg = GatewayConfig::read(config)?;
    let log = cfg.open_audit().await?;
    let r = log.verify().await?;
    // The configured anchor file unless another (a copy) is named.
    let anchors = anchors.map(Path::to_path_buf).or_else(|| cfg.anchor.as_ref().map(|a| a.file.clone()));
    let anchored = match &anchors {
        Some(f) => Some(match std::fs::File::open(f) {
            Ok(file) => silgate_audit::anchor::check(&log, std::io::BufReader::new(file)).await?,
            Err(e) => {
                silgate_audit::anchor::AnchorReport { problems: vec![silgate_audit::anchor::AnchorProblem::Unread { why: format!("{}: {e}", f.display()) }], ..Default::default() }
            }
        }),
        None => None,
    };
    for p in &r.problems {
        println!("BROKEN {p}");
    }
    for g in &r.gap_examples {
        println!("GAP {g}");
    }
    if let Some(a) = &anchored {
        for p in &a.problems {
            println!("ANCHOR {p}");
        }
        for (instance, seq) in &a.unanchored {
            println!("UNANCHORED {instance:?} (head #{seq}): no line of the anchor file anchors this chain");
        }
    }
    if r.is_ok() {
        println!("audit intact and complete: {} chain(s), {} entries, every delivered record with its story", r.chains, r.entries);
    }
    if !r.problems.is_empty() {
        println!("audit NOT intact: {} problem(s) in {} chain(s), {} entries", r.problems.len(), r.chains, r.entries);
    }
    if r.gaps > 0 {
        println!("audit NOT complete: {} delivered record version(s) without their received or queued entry (the first {} above)", r.gaps, r.gap_examples.len());
    }
    match &anchored {
        Some(a) if a.is_ok() => {
            println!("anchors: {} line(s), every anchored head held by its chain; signed by key {} (compare it with the one on record)", a.lines, a.key.as_deref().unwrap_or("-"))
        }
        Some(a) => println!("anchors NOT held: {} problem(s) in {} line(s)", a.problems.len(), a.lines),
        None => {}
    }
    Ok(if r.is_ok() && anchored.as_ref().is_none_or(silgate_audit::anchor::AnchorReport::is_ok) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub(crate) async fn audit_anchor(config: &Path) -> Result<ExitCode> {
    let cfg = GatewayConfig::load(config)?;
    let log = cfg.open_audit().await?;
    let n = silgate_gateway::anchor::anchor_now(&cfg, &log).await?;
    let file = cfg.anchor.as_ref().map(|a| a.file.display().to_string()).unwrap_or_default();
    println!("anchored {n} chain(s) in {file}");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn audit_query(config: &Path, record: Option<String>, cpi: Option<String>, since: Option<String>) -> Result<ExitCode> {
    anyhow::ensure!(record.is_some() || cpi.is_some(), "give --record ID or --cpi CODE");
    let since_ms = since_ms(since)?;
    let cfg = GatewayConfig::read(config)?;
    let log = cfg.open_audit().await?;
    let entries = log.query(&Query { record, cpi, since_ms, limit: None }).await?;
    for e in &entries {
        println!("{e}");
    }
    eprintln!("{} entr(y/ies)", entries.len());
    Ok(ExitCode::SUCCESS)
}

/// Writes a throwaway PKI for tests and trials: a CA, the node's certificate (for
/// `localhost` and 127.0.0.1) and a region's client certificate, all signed by it.
pub(crate) fn certs(out: &Path, region: &str) -> Result<ExitCode> {
    let files = crate::pki::DevPki::generate(region)?;
    files.write(out)?;
    println!("wrote ca.pem, node.pem, node.key, client.pem, client.key in {}", out.display());
    Ok(ExitCode::SUCCESS)
}
