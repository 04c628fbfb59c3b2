//! The opened components of a gateway ([`Parts`]: config, queue, dedup index, audit
//! log and writer, metrics) and the ingest entry points the drivers and the CLI share.

use crate::config::{GatewayConfig, SourceKind};
use crate::error::{Context as _, GatewayError, Result};
use crate::ingest::{Ingest, IngestSummary, Progress};
use crate::metrics::GatewayMetrics;
use crate::translate::Translator;
use silgate_audit::{AuditLog, Auditor};
use silgate_core::{Date, QueueItem};
use silgate_dedup::DedupIndex;
use silgate_publish::{NodeClient, Publisher, RefusalSink};
use silgate_queue::AnyQueue;
use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Node refusals go to the gateway's quarantine file, one JSON line each.
#[derive(Debug)]
pub(crate) struct QuarantineFile(Mutex<std::fs::File>);

impl QuarantineFile {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if let Some(d) = path.parent() {
            silgate_core::private::create_dir_all(d).map_err(|e| GatewayError::io(format!("creating {}", d.display()), e))?;
        }
        let f = silgate_core::private::append(path).map_err(|e| GatewayError::io(format!("opening {}", path.display()), e))?;
        Ok(Self(Mutex::new(f)))
    }

    /// Appends the line of a node's refusal of `item`, kept under `kept`.
    fn line(&self, item: &QueueItem, kept: &str, code: &str, reason: &str) -> std::io::Result<()> {
        let line = serde_json::json!({
            "kept": kept,
            "source": item.source.system,
            "position": format!("{}:{}", item.source.origin, item.source.position),
            "field": "",
            "rule": code,
            "message": reason,
            "message_id": item.message_id,
            "code": item.communication_code,
            "issues": [],
        });
        let mut f = self.0.lock().map_err(|_| std::io::Error::other("the quarantine file's lock was poisoned"))?;
        writeln!(f, "{line}")?;
        f.flush()
    }
}

/// Where the publisher hands the node's refusals: a quarantine line, and the document
/// kept for a replay (audited `kept`).
#[derive(Debug)]
struct RefusalKeeper {
    file: QuarantineFile,
    kept: crate::kept::KeptStore,
    dedup: DedupIndex,
    audit: Auditor,
}

impl RefusalSink for RefusalKeeper {
    fn refused<'a>(&'a self, item: &'a QueueItem, code: &'a str, reason: &'a str) -> silgate_publish::Refusal<'a> {
        Box::pin(async move {
            let id = crate::kept::node_id(&item.message_id);
            let keep = crate::kept::NewKept {
                id: id.clone(),
                by: crate::kept::RefusedBy::Node,
                provenance: item.source.clone(),
                cpi: item.cpi.clone(),
                issues: vec![silgate_core::Issue::error("", code, reason)],
                key_hash: item.key_hash.clone(),
                message_id: Some(item.message_id.clone()),
                content_hash: Some(item.content_hash.clone()),
                code: Some(item.communication_code.clone()),
                body: Some(crate::kept::Body::Document(item.document.clone())),
                // Where the refused version was queued: a version of its record queued
                // later is newer, and it moves on when the version is queued again.
                place: self.dedup.orders_of(vec![item.message_id.clone()]).await.map_err(std::io::Error::other)?.into_iter().next().flatten(),
                seq: 0,
            };
            self.kept.keep(vec![keep]).await.map_err(std::io::Error::other)?;
            self.file.line(item, &id, code, reason)?;
            let cpi = Some(item.cpi.as_str()).filter(|c| !c.is_empty());
            let entry = silgate_audit::NewEntry::now(
                silgate_audit::Event::Kept { id, by: crate::kept::RefusedBy::Node.as_str().to_string() },
                Some(&item.message_id),
                Some(&item.communication_code),
                cpi,
            );
            self.audit.one(entry).await.map_err(std::io::Error::other)
        })
    }
}

/// Creates the data directory owner-only, or narrows an existing one to its owner
/// (it holds the queue, the indexes, the audit and the quarantine: personal data).
fn data_dir(dir: &Path) -> Result<()> {
    silgate_core::private::create_dir_all(dir).map_err(|e| GatewayError::io(format!("creating {}", dir.display()), e))?;
    match silgate_core::private::narrow(dir) {
        Ok(true) => tracing::warn!(dir = %dir.display(), "The data directory let its group or others in: narrowed to its owner (0700)"),
        Ok(false) => {}
        // Not ours to change (a mounted volume): its owner's choice stands.
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "The data directory lets its group or others in and could not be narrowed"),
    }
    Ok(())
}

/// The opened components of a gateway: what every driver and command works with.
#[derive(Debug)]
pub struct Parts {
    /// The configuration it was opened from.
    pub cfg: GatewayConfig,
    /// The durable queue.
    pub queue: AnyQueue,
    /// The dedup index.
    pub dedup: DedupIndex,
    /// The audit log (queries, verify).
    pub audit_log: AuditLog,
    /// The audit writer of this instance's chain.
    pub audit: Auditor,
    /// The gateway's metrics (ingest counters; delivery figures are read from the
    /// publisher at scrape time).
    pub metrics: GatewayMetrics,
    /// The region's own code tables (`code_tables`), when it has any.
    tables: Option<silgate_codes::CodeTables>,
    /// The region's secret (`secret_file`), the key of the hashes the stores keep.
    pub(crate) keyer: silgate_dedup::Keyer,
    /// Refused records kept for a replay (`DATA_DIR/kept.db`).
    kept: crate::kept::KeptStore,
}

impl Parts {
    /// Opens the queue, the dedup index and the audit log a configuration names.
    pub async fn open(cfg: GatewayConfig) -> Result<Self> {
        // A restore that did not finish left stores that are neither the old ones nor
        // the backup's: nothing may use them until it is run again.
        if crate::backup::pending(&cfg).exists() {
            return Err(GatewayError::config(format!("a restore of {} did not finish: run `silgate restore` again with the same backup", cfg.data_dir.display())));
        }
        Self::open_restoring(cfg).await
    }

    /// [`Parts::open`] without the check for an unfinished restore (the restore's own).
    pub(crate) async fn open_restoring(mut cfg: GatewayConfig) -> Result<Self> {
        // However the config was made (loaded, built in code, changed after `new`).
        cfg.normalize_region();
        data_dir(&cfg.data_dir)?;
        let tables = cfg.load_code_tables()?;
        let queue = cfg.open_queue().await?;
        let dedup = cfg.open_dedup().await?;
        let keyer = crate::secret::load_or_create(&cfg.secret_path())?;
        dedup.bind(&keyer).await?;
        let audit_log = cfg.open_audit().await?;
        let audit = Auditor::spawn(audit_log.clone(), &cfg.instance);
        let kept = crate::kept::KeptStore::open(&cfg.kept_file()).await?;
        Ok(Self { cfg, queue, dedup, audit_log, audit, metrics: GatewayMetrics::new(), tables, keyer, kept })
    }

    /// The refused records kept for a replay.
    pub fn kept(&self) -> &crate::kept::KeptStore {
        &self.kept
    }

    /// The code tables records are judged with: the embedded ones, or the region's.
    pub fn code_tables(&self) -> &silgate_codes::CodeTables {
        self.tables.as_ref().unwrap_or_else(|| silgate_codes::CodeTables::embedded())
    }

    /// The publisher over this gateway's queue, dedup index and audit, refusals going
    /// to the quarantine file.
    pub fn publisher(&self) -> Result<Publisher<AnyQueue>> {
        let client = NodeClient::new(self.cfg.node.clone(), &self.cfg.region_name)?;
        let sink =
            Arc::new(RefusalKeeper { file: QuarantineFile::open(&self.cfg.quarantine_path())?, kept: self.kept.clone(), dedup: self.dedup.clone(), audit: self.audit.clone() });
        Ok(Publisher::new(self.queue.clone(), self.dedup.clone(), client, self.audit.clone(), self.cfg.effective_delivery(), sink))
    }

    /// An ingest step over this gateway's queue, dedup index and audit, judging with
    /// the gateway's code tables at `today`.
    pub(crate) fn ingest(&self, today: Date) -> Result<Ingest<'_>> {
        let xsd = silgate_std1546::XsdValidator::shared()?;
        let translator =
            Translator::collecting(self.code_tables(), today, xsd, &self.cfg.region, &self.cfg.quarantine_path(), &self.keyer)?.with_unmappable(self.cfg.optional_unmappable);
        Ok(Ingest {
            translator,
            queue: &self.queue,
            dedup: &self.dedup,
            keyer: &self.keyer,
            audit: &self.audit,
            kept: &self.kept,
            metrics: &self.metrics,
            batch: self.cfg.batch.max(1),
            max_line_bytes: self.cfg.limits.max_line_bytes,
            summary: IngestSummary::default(),
        })
    }

    /// Ingests files of canonical JSON lines.
    pub async fn ingest_files(&self, files: &[PathBuf], today: Date) -> Result<IngestSummary> {
        self.ingest_inputs(SourceKind::CanonicalJson, None, files, today, None).await
    }

    /// Ingests inputs of any kind; `progress` is told as records are read.
    pub async fn ingest_inputs(&self, kind: SourceKind, mapping: Option<&str>, inputs: &[PathBuf], today: Date, progress: Option<&dyn Progress>) -> Result<IngestSummary> {
        let mapping = crate::sources::mapping(mapping)?;
        let pec = match (&self.cfg.pec, kind) {
            (Some(p), SourceKind::Pec) => Some(p.build(self.cfg.limits)?),
            _ => None,
        };
        let mut ing = self.ingest(today)?;
        for f in inputs {
            if kind == SourceKind::CanonicalJson {
                let file = std::fs::File::open(f).map_err(|e| silgate_core::SourceError::io(f.display().to_string(), e)).with_context(|| format!("opening {}", f.display()))?;
                ing.canonical_json(BufReader::new(file), &f.display().to_string()).await?;
            } else {
                let src = crate::sources::open(kind, f, mapping.clone(), pec.as_ref(), self.cfg.limits)?;
                ing.source(src, progress).await?;
            }
        }
        let mut s = ing.summary.clone();
        s.reasons.clone_from(&ing.translator.summary.reasons);
        Ok(s)
    }

    /// Ingests everything one source reads; returns the ingest's and the source's
    /// summaries (the latter has the watermark), once every batch is queued.
    pub(crate) async fn ingest_source(&self, src: Box<dyn silgate_core::Source + Send>, today: Date) -> Result<(IngestSummary, silgate_core::ReadSummary)> {
        let mut ing = self.ingest(today)?;
        let read = ing.source(src, None).await?;
        let mut s = ing.summary.clone();
        s.reasons.clone_from(&ing.translator.summary.reasons);
        Ok((s, read))
    }
}

/// Today's date (UTC): the date records are judged against in the service.
pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}
