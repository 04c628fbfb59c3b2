//! The gateway's configuration and components: the queue, the dedup index and the
//! audit log chosen by config, and the ingest step that turns source records into
//! queued items.
//!
//! Ingest, for each batch of records an adapter yields:
//!
//! 1. translate and judge (quarantine what fails, audit `received` + `rejected`);
//! 2. compute the message id and ask the dedup index: unchanged versions are not
//!    queued (audit `deduplicated`);
//! 3. enqueue the rest (returns once durable: the records are *accepted*);
//! 4. record them as queued in the index and the audit (`received` + `queued`).
//!
//! A crash between 3 and 4 re-queues the batch on the next ingest: harmless, the
//! queue and the node are idempotent on the message id.

use crate::translate::{Accepted, Translator};
use anyhow::{Context, Result};
use serde::Deserialize;
use silgate_audit::{AuditLog, Auditor, Event, NewEntry};
use silgate_codes::CodeTables;
use silgate_core::{Date, Queue, QueueItem, ReadSummary, Source, SourceItem};
use silgate_publish::{Admission, ClientConfig, DedupIndex, Offer, RetryConfig};
use silgate_queue::{AnyQueue, RabbitConfig, RabbitQueue, SqliteConfig, SqliteQueue};
use silgate_std1546::XsdValidator;
use std::io::BufRead;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `silgate run --config FILE`: one file per region (see `config/`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayConfig {
    /// This instance's name: its audit chain.
    #[serde(default = "default_instance")]
    pub(crate) instance: String,
    /// ISTAT region code (two digits).
    pub(crate) region: String,
    /// The region's eGov party name (`PUGLIA`).
    pub(crate) region_name: String,
    /// Where the SQLite files and quarantine live (relative to the config file).
    pub(crate) data_dir: PathBuf,
    #[serde(default)]
    pub(crate) queue: QueueConfig,
    #[serde(default)]
    pub(crate) audit: StoreConfig,
    #[serde(default)]
    pub(crate) dedup: StoreConfig,
    pub(crate) node: ClientConfig,
    #[serde(default)]
    pub(crate) delivery: RetryConfig,
    #[serde(default)]
    pub(crate) sources: Vec<SourceConfig>,
    /// Records per ingest batch (one queue transaction each).
    #[serde(default = "default_batch")]
    pub(crate) batch: usize,
    /// PEC: provider certificates, allowed senders, limits.
    #[serde(default)]
    pub(crate) pec: Option<crate::sources::PecSettings>,
    /// The CPI push API.
    #[serde(default)]
    pub(crate) api: Option<crate::api::ApiConfig>,
    /// Prometheus metrics and health probes.
    #[serde(default)]
    pub(crate) metrics: Option<crate::metrics::MetricsConfig>,
    /// The folder the config file is in (relative paths of `[pec]` resolve there).
    #[serde(skip)]
    pub(crate) base: PathBuf,
}

fn default_instance() -> String {
    "gateway".into()
}

fn default_batch() -> usize {
    500
}

/// `[queue]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueueConfig {
    /// `sqlite` (default) or `rabbitmq`.
    #[serde(default = "default_sqlite")]
    pub(crate) backend: String,
    /// SQLite: file (relative to data_dir).
    #[serde(default = "default_queue_file")]
    pub(crate) path: PathBuf,
    /// SQLite: most items held before producers block.
    #[serde(default = "default_capacity")]
    pub(crate) capacity: u64,
    /// SQLite: lease visibility timeout, seconds.
    #[serde(default = "default_visibility")]
    pub(crate) visibility_timeout_secs: u64,
    /// RabbitMQ: URI.
    #[serde(default)]
    pub(crate) uri: Option<String>,
    /// RabbitMQ: queue name.
    #[serde(default = "default_queue_name")]
    pub(crate) name: String,
    /// RabbitMQ: prefetch.
    #[serde(default = "default_prefetch")]
    pub(crate) prefetch: u16,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            backend: default_sqlite(),
            path: default_queue_file(),
            capacity: default_capacity(),
            visibility_timeout_secs: default_visibility(),
            uri: None,
            name: default_queue_name(),
            prefetch: default_prefetch(),
        }
    }
}

fn default_sqlite() -> String {
    "sqlite".into()
}
fn default_queue_file() -> PathBuf {
    "queue.db".into()
}
fn default_capacity() -> u64 {
    1_000_000
}
fn default_visibility() -> u64 {
    300
}
fn default_queue_name() -> String {
    "silgate.records".into()
}
fn default_prefetch() -> u16 {
    64
}

/// `[audit]` and `[dedup]`: SQLite file (default) or PostgreSQL.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreConfig {
    /// `sqlite` (default) or `postgres`.
    #[serde(default)]
    pub(crate) backend: Option<String>,
    /// SQLite file (relative to data_dir).
    #[serde(default)]
    pub(crate) path: Option<PathBuf>,
    /// PostgreSQL connection string.
    #[serde(default)]
    pub(crate) url: Option<String>,
}

/// `[[sources]]`: an inbox folder polled for files of one kind, or (Sintesi) a feed
/// pulled over HTTPS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceConfig {
    /// The kind of files (`canonical-json`, `sintesi`, `silplus`, `access`).
    pub(crate) kind: String,
    /// Sintesi over HTTPS: the base URL; `GET {url}/export?cpi={cpi}&dal={watermark}`.
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// Sintesi over HTTPS: the CPI whose feed is pulled.
    #[serde(default)]
    pub(crate) cpi: Option<String>,
    /// Sintesi over HTTPS: the CA certificate(s) the server's certificate must chain to.
    #[serde(default)]
    pub(crate) ca: Option<PathBuf>,
    /// Sintesi over HTTPS: client certificate and key, when the server asks for one.
    #[serde(default)]
    pub(crate) client_cert: Option<PathBuf>,
    /// See `client_cert`.
    #[serde(default)]
    pub(crate) client_key: Option<PathBuf>,
    /// PEC: the mailbox polled over IMAP.
    #[serde(default)]
    pub(crate) imap: Option<ImapConfig>,
    /// Table mapping for silplus / access: a TOML file (relative to the config file)
    /// or a built-in name (`silplus-1`, `campania-1`).
    #[serde(default)]
    pub(crate) mapping: Option<String>,
    /// The folder; processed files move to `<inbox>/done/`, refused ones to
    /// `<inbox>/refused/` with a `.reason.txt` beside them.
    #[serde(default)]
    pub(crate) inbox: Option<PathBuf>,
    /// Seconds between polls.
    #[serde(default = "default_poll")]
    pub(crate) poll_secs: u64,
}

/// `[sources.imap]`: a PEC mailbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImapConfig {
    /// Server host.
    pub(crate) host: String,
    /// Port (993 for IMAPS, 143 for STARTTLS).
    pub(crate) port: u16,
    /// `imaps`, `starttls`, or `insecure-loopback` (plaintext, loopback servers only).
    #[serde(default = "default_security")]
    pub(crate) security: String,
    /// Login name.
    pub(crate) user: String,
    /// Password (prefer `password_env`).
    #[serde(default)]
    pub(crate) password: Option<String>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub(crate) password_env: Option<String>,
    /// CA certificate(s) the server's certificate must chain to.
    #[serde(default)]
    pub(crate) ca: Option<PathBuf>,
    /// Folder polled.
    #[serde(default = "default_inbox_folder")]
    pub(crate) mailbox: String,
    /// Folder processed messages move to.
    #[serde(default = "default_processed_folder")]
    pub(crate) processed: String,
}

fn default_security() -> String {
    "imaps".into()
}
fn default_inbox_folder() -> String {
    "INBOX".into()
}
fn default_processed_folder() -> String {
    "silgate-processed".into()
}

fn default_poll() -> u64 {
    5
}

impl GatewayConfig {
    /// Loads a TOML file, with `SILGATE__SECTION__KEY` environment overrides; relative
    /// paths are resolved against the file's directory.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let raw = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(config::Environment::with_prefix("SILGATE").prefix_separator("__").separator("__"))
            .build()
            .with_context(|| format!("reading {}", path.display()))?;
        let mut cfg: Self = raw.try_deserialize().with_context(|| format!("{}: invalid configuration", path.display()))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        cfg.base.clone_from(&base);
        let abs = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        cfg.data_dir = abs(&cfg.data_dir);
        for p in [&mut cfg.node.ca, &mut cfg.node.client_cert, &mut cfg.node.client_key].into_iter().flatten() {
            *p = abs(p);
        }
        if let Some(t) = cfg.api.as_mut().and_then(|a| a.tls.as_mut()) {
            for p in [&mut t.cert, &mut t.key, &mut t.client_ca] {
                *p = abs(p);
            }
        }
        for s in &mut cfg.sources {
            s.inbox = s.inbox.as_deref().map(abs);
            for p in [&mut s.ca, &mut s.client_cert, &mut s.client_key].into_iter().flatten() {
                *p = abs(p);
            }
            if let Some(ca) = s.imap.as_mut().and_then(|i| i.ca.as_mut()) {
                *ca = abs(ca);
            }
            match (&s.inbox, &s.url, &s.imap) {
                (Some(_), None, None) => {}
                (None, Some(_), None) => {
                    anyhow::ensure!(s.kind == "sintesi" && s.cpi.is_some() && s.ca.is_some(), "sources: a pulled source (url) must be kind sintesi with cpi and ca")
                }
                (None, None, Some(i)) => {
                    anyhow::ensure!(s.kind == "pec", "sources: an imap mailbox is a source of kind pec");
                    anyhow::ensure!(
                        matches!(i.security.as_str(), "imaps" | "starttls" | "insecure-loopback"),
                        "sources.imap.security must be imaps, starttls or insecure-loopback"
                    );
                    anyhow::ensure!(i.security == "insecure-loopback" || i.ca.is_some(), "sources.imap.ca is required with TLS");
                }
                _ => anyhow::bail!("sources: give each source either an inbox, (sintesi) a url, or (pec) an imap mailbox"),
            }
            anyhow::ensure!(s.kind != "pec" || cfg.pec.is_some(), "sources: a pec source needs the [pec] table (provider certificates, allowed senders)");
            anyhow::ensure!(crate::SourceKind::parse(&s.kind).is_some(), "sources: unknown kind '{}' (canonical-json, sintesi, silplus, access, pec)", s.kind);
            if let Some(m) = &mut s.mapping
                && silgate_source_tabular::Mapping::builtin(m).is_none()
            {
                *m = abs(Path::new(m)).display().to_string();
            }
        }
        anyhow::ensure!(cfg.region.len() == 2 && cfg.region.bytes().all(|b| b.is_ascii_digit()), "region must be a two-digit ISTAT code, got '{}'", cfg.region);
        Ok(cfg)
    }

    fn in_data(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.data_dir.join(p) }
    }

    pub(crate) fn quarantine_path(&self) -> PathBuf {
        self.data_dir.join("quarantine.jsonl")
    }

    pub(crate) async fn open_queue(&self) -> Result<AnyQueue> {
        Ok(match self.queue.backend.as_str() {
            "sqlite" => {
                let mut c = SqliteConfig::new(self.in_data(&self.queue.path));
                c.capacity = self.queue.capacity;
                c.visibility_timeout = Duration::from_secs(self.queue.visibility_timeout_secs);
                AnyQueue::Sqlite(SqliteQueue::open(c).await?)
            }
            "rabbitmq" => {
                let uri = self.queue.uri.clone().context("queue.uri is required for the rabbitmq backend")?;
                let mut c = RabbitConfig::new(uri);
                c.queue.clone_from(&self.queue.name);
                c.prefetch = self.queue.prefetch;
                AnyQueue::Rabbit(RabbitQueue::connect(c).await?)
            }
            other => anyhow::bail!("queue.backend must be sqlite or rabbitmq, not '{other}'"),
        })
    }

    pub(crate) async fn open_audit(&self) -> Result<AuditLog> {
        Ok(match self.audit.backend.as_deref().unwrap_or("sqlite") {
            "sqlite" => AuditLog::sqlite(&self.in_data(self.audit.path.as_deref().unwrap_or(Path::new("audit.db")))).await?,
            "postgres" => AuditLog::postgres(self.audit.url.as_deref().context("audit.url is required for the postgres backend")?).await?,
            other => anyhow::bail!("audit.backend must be sqlite or postgres, not '{other}'"),
        })
    }

    pub(crate) async fn open_dedup(&self) -> Result<DedupIndex> {
        match self.dedup.backend.as_deref().unwrap_or("sqlite") {
            "sqlite" => Ok(DedupIndex::open(&self.in_data(self.dedup.path.as_deref().unwrap_or(Path::new("dedup.db")))).await?),
            "postgres" => Ok(DedupIndex::postgres(self.dedup.url.as_deref().context("dedup.url is required for the postgres backend")?).await?),
            other => anyhow::bail!("dedup.backend must be sqlite or postgres, not '{other}'"),
        }
    }
}

/// What one ingest did.
#[derive(Debug, Default, Clone)]
pub(crate) struct IngestSummary {
    pub(crate) records: usize,
    pub(crate) queued: usize,
    pub(crate) unchanged: usize,
    pub(crate) rejected: usize,
    /// (rule, count) of the rejected records' first errors.
    pub(crate) reasons: Vec<(String, usize)>,
}

/// The ingest side: translator + dedup + queue + audit.
pub(crate) struct Ingest<'a> {
    pub(crate) translator: Translator<'a>,
    pub(crate) queue: &'a AnyQueue,
    pub(crate) dedup: &'a DedupIndex,
    pub(crate) audit: &'a Auditor,
    pub(crate) batch: usize,
    pub(crate) summary: IngestSummary,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl<'a> Ingest<'a> {
    pub(crate) fn new(
        tables: &'a CodeTables,
        today: Date,
        xsd: &'a XsdValidator,
        cfg: &GatewayConfig,
        queue: &'a AnyQueue,
        dedup: &'a DedupIndex,
        audit: &'a Auditor,
    ) -> Result<Self> {
        let translator = Translator::collecting(tables, today, xsd, &cfg.region, &cfg.quarantine_path())?.deferring();
        Ok(Self { translator, queue, dedup, audit, batch: cfg.batch.max(1), summary: IngestSummary::default() })
    }

    /// Ingests a canonical JSON lines file.
    pub(crate) async fn canonical_json(&mut self, input: impl BufRead, origin: &str) -> Result<()> {
        for (i, line) in input.lines().enumerate() {
            let n = u64::try_from(i + 1).unwrap_or(u64::MAX);
            let line = line.with_context(|| format!("{origin}: line {n}"))?;
            self.translator.canonical_json_line(&line, n, origin)?;
            if self.pending() >= self.batch {
                self.flush().await?;
            }
        }
        self.flush().await
    }

    /// Ingests everything an adapter reads: the adapter runs on a blocking thread and
    /// hands items over a bounded channel (memory stays flat), batches are queued as
    /// they fill. Returns the adapter's summary (with its watermark) once the last
    /// batch is queued.
    pub(crate) async fn source(&mut self, src: Box<dyn Source + Send>, progress: Option<&indicatif::ProgressBar>) -> Result<ReadSummary> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<SourceItem>(1024);
        let reader = tokio::task::spawn_blocking(move || {
            let mut src = src;
            src.read(&mut |item| if tx.blocking_send(item).is_ok() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) })
        });
        while let Some(item) = rx.recv().await {
            let item = self.previous_code(item).await?;
            self.translator.item(item)?;
            if let Some(pb) = progress {
                crate::sources::tick(pb, self.translator.summary.records, self.translator.summary.rejected);
            }
            if self.pending() >= self.batch {
                self.flush().await?;
            }
        }
        let summary = reader.await.context("the source reader thread failed")?;
        // What was read before an error is queued or quarantined, and audited, before
        // the error is reported: the record of what happened stays whole.
        self.flush().await?;
        Ok(summary?)
    }

    /// A closure read from a source names the code it closes from the dedup index (the
    /// code last queued for the record's business key); a closure of a record this
    /// gateway never sent is rejected: there is nothing at the node to close.
    async fn previous_code(&self, item: SourceItem) -> Result<SourceItem> {
        let SourceItem::Record(mut rec) = item else { return Ok(item) };
        if rec.communication().kind != silgate_core::CommunicationKind::Closure || rec.communication().previous_code.is_some() {
            return Ok(SourceItem::Record(rec));
        }
        let key_hash = silgate_publish::sha256_hex(&[rec.business_key().as_bytes()]);
        match self.dedup.last_codes(vec![key_hash]).await?.pop().flatten() {
            Some(code) => {
                rec.communication_mut().previous_code = Some(code);
                Ok(SourceItem::Record(rec))
            }
            None => {
                let what = if rec.kind() == silgate_core::RecordKind::Cv { "candidatura" } else { "offerta" };
                Ok(SourceItem::Rejected(silgate_core::Rejection::one(
                    rec.provenance().clone(),
                    format!("DatiSistema/codice{what}precedente"),
                    "closure.unknown-original",
                    "no version of this record was sent through this gateway: there is nothing to close",
                )))
            }
        }
    }

    fn pending(&self) -> usize {
        self.translator.deferred_len()
            + match &self.translator.out {
                crate::translate::Output::Collect { accepted, rejected } => accepted.len() + rejected.len(),
                crate::translate::Output::Dir(_) => 0,
            }
    }

    /// Asks the dedup index about the records waiting in the translator: an unchanged
    /// one is counted and audited as such without being judged again; the others are
    /// judged (XSD + rules) now.
    async fn judge_deferred(&mut self, entries: &mut Vec<NewEntry>) -> Result<()> {
        let waiting = self.translator.take_deferred();
        if waiting.is_empty() {
            return Ok(());
        }
        let offers: Vec<Offer> = waiting
            .iter()
            .map(|r| {
                let (message_id, key_hash, content_hash) = identity(r);
                Offer { message_id, key_hash, content_hash }
            })
            .collect();
        let verdicts = self.dedup.admit(offers).await?;
        let m = crate::metrics::global();
        // Versions seen again unchanged change no state: one audit entry per CPI, input
        // and verdict for the batch, with the count (the weekly report adds it to the
        // CPI's received), instead of one per record.
        let mut seen_again: std::collections::BTreeMap<(String, String, &'static str), usize> = std::collections::BTreeMap::new();
        for (rec, v) in waiting.into_iter().zip(verdicts) {
            if v == Admission::New {
                self.translator.judge(rec)?;
                continue;
            }
            let prov = rec.provenance();
            let why = if v == Admission::Unchanged { "unchanged" } else { "already-queued" };
            *seen_again.entry((prov.cpi.clone(), format!("{}:{}", prov.system, prov.origin), why)).or_default() += 1;
            m.record(prov.system.as_str(), &prov.cpi, "unchanged");
            self.summary.unchanged += 1;
            self.summary.records += 1;
        }
        for ((cpi, origin, why), n) in seen_again {
            let cpi = (!cpi.is_empty()).then_some(cpi.as_str());
            entries.push(NewEntry::now(Event::Deduplicated, None, None, cpi, format!("n={n} {why} at={origin}")));
        }
        Ok(())
    }

    /// Queues what the translator accepted so far.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        let mut entries = Vec::new();
        self.judge_deferred(&mut entries).await?;
        let (accepted, rejected) = self.translator.drain()?;
        let m = crate::metrics::global();
        for r in &rejected {
            let cpi = (!r.cpi.is_empty()).then_some(r.cpi.as_str());
            entries.push(NewEntry::now(Event::Received, None, None, cpi, format!("at={}", r.position)));
            entries.push(NewEntry::now(Event::Rejected, None, None, cpi, format!("rule={} at={}", r.rule, r.position)));
            m.rejected(r.source, &r.cpi, &r.rule);
        }
        self.summary.rejected += rejected.len();
        self.summary.records += rejected.len() + accepted.len();
        let sends: Vec<bool> = accepted.iter().map(|a| a.record.communication().kind == silgate_core::CommunicationKind::Send).collect();
        // When the CPI entered or changed the record: the start of the delay the weekly
        // report measures (to the node's receipt).
        let at_cpi: Vec<i64> = accepted.iter().map(|a| cpi_time_ms(&a.record)).collect();
        let items: Vec<QueueItem> = accepted.into_iter().map(|a| item(a, now_ms())).collect();
        let offers: Vec<Offer> = items.iter().map(|i| Offer { message_id: i.message_id.clone(), key_hash: i.key_hash.clone(), content_hash: i.content_hash.clone() }).collect();
        let verdicts = self.dedup.admit(offers.clone()).await?;
        let mut fresh = Vec::new();
        let mut fresh_offers = Vec::new();
        let mut codes = Vec::new();
        for ((((it, off), v), send), t_cpi) in items.into_iter().zip(offers).zip(verdicts).zip(sends).zip(at_cpi) {
            entries.push(NewEntry::now(Event::Received, Some(&it.message_id), Some(&it.communication_code), Some(&it.cpi), format!("at={} t_cpi={t_cpi}", it.source)));
            match v {
                Admission::New => {
                    m.record(it.source.split(':').next().unwrap_or(""), &it.cpi, "queued");
                    if send {
                        codes.push((it.key_hash.clone(), it.communication_code.clone()));
                    }
                    fresh.push(it);
                    fresh_offers.push(off);
                }
                Admission::Unchanged | Admission::Known => {
                    m.record(it.source.split(':').next().unwrap_or(""), &it.cpi, "unchanged");
                    self.summary.unchanged += 1;
                    let why = if v == Admission::Unchanged { "unchanged since last delivery" } else { "already queued" };
                    entries.push(NewEntry::now(Event::Deduplicated, Some(&it.message_id), Some(&it.communication_code), Some(&it.cpi), why));
                }
            }
        }
        let queued: Vec<NewEntry> = fresh
            .iter()
            .map(|it| NewEntry::now(Event::Queued, Some(&it.message_id), Some(&it.communication_code), Some(&it.cpi), format!("backend={}", self.queue.backend())))
            .collect();
        let n = fresh.len();
        if n > 0 {
            self.queue.enqueue(fresh).await?;
            m.enqueued(n as u64);
            self.dedup.mark_queued(fresh_offers).await?;
            self.dedup.remember_codes(codes).await?;
        }
        self.summary.queued += n;
        entries.extend(queued);
        self.audit.record(entries).await?;
        Ok(())
    }
}

/// The time the CPI gives the record (CV: entered or changed; vacancy: published), in
/// Unix milliseconds; a time without an offset is read as Italian standard time.
fn cpi_time_ms(r: &silgate_core::Record) -> i64 {
    let t = match r {
        silgate_core::Record::Cv(c) => c.system.inserted_at,
        silgate_core::Record::Vacancy(v) => v.publication.published_at,
    };
    let offset = t.offset.unwrap_or(time::UtcOffset::from_hms(1, 0, 0).unwrap_or(time::UtcOffset::UTC));
    let dt = t.local.assume_offset(offset);
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Builds the queue item of an accepted record.
/// A record version's message id, business-key hash and content hash.
fn identity(rec: &silgate_core::Record) -> (String, String, String) {
    let content_hash = hex::encode(silgate_std1546::code::content_hash(rec));
    let key = rec.business_key();
    let key_hash = silgate_publish::sha256_hex(&[key.as_bytes()]);
    (silgate_publish::message_id(rec.provenance().system.as_str(), &key, &content_hash), key_hash, content_hash)
}

fn item(a: Accepted, received_ms: i64) -> QueueItem {
    let rec = &a.record;
    let prov = rec.provenance();
    let (message_id, key_hash, content_hash) = identity(rec);
    let code = rec.communication().code.clone().unwrap_or_default();
    QueueItem {
        message_id,
        key_hash,
        content_hash,
        kind: rec.kind(),
        region: code.get(..2).unwrap_or_default().to_string(),
        cpi: prov.cpi.clone(),
        communication_code: code,
        source: format!("{}:{}:{}", prov.system, prov.origin, prov.position),
        received_ms,
        document: a.xml,
    }
}

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;
