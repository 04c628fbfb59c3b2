//! The source adapters as the binary sees them: opening an input of a kind, the
//! mapping file, which inbox files a kind takes, the progress bar.

use crate::SourceKind;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use silgate_core::Source;
use silgate_source_pec::PecConfig;
use silgate_source_tabular::{Limits, Mapping};
use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

impl SourceKind {
    /// The name used in config files and on the command line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::CanonicalJson => "canonical-json",
            Self::Sintesi => "sintesi",
            Self::Silplus => "silplus",
            Self::Access => "access",
            Self::Pec => "pec",
        }
    }

    /// Parses a config's `kind`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::CanonicalJson, Self::Sintesi, Self::Silplus, Self::Access, Self::Pec].into_iter().find(|k| k.as_str() == s)
    }

    /// True when `path` (a file or folder in an inbox) is an input of this kind.
    pub(crate) fn takes(self, path: &Path) -> bool {
        let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
        match self {
            Self::CanonicalJson => path.is_file() && ext == "jsonl",
            Self::Sintesi => path.is_file() && ext == "xml",
            Self::Silplus => (path.is_file() && ext == "zip") || (path.is_dir() && path.join(silgate_source_silplus::MANIFEST).is_file()),
            Self::Pec => path.is_file() && ext == "eml",
            Self::Access => {
                (path.is_file() && matches!(ext.as_str(), "mdb" | "accdb" | "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" | "zip")) || (path.is_dir() && path.join(".ready").is_file())
            }
        }
    }
}

/// Loads a mapping file (TOML), or a built-in mapping by name (`silplus-1`,
/// `campania-1`).
pub(crate) fn mapping(spec: Option<&str>) -> Result<Option<Mapping>> {
    let Some(spec) = spec else { return Ok(None) };
    if let Some(m) = Mapping::builtin(spec) {
        return Ok(Some(m));
    }
    let text = std::fs::read_to_string(spec).with_context(|| format!("reading mapping {spec}"))?;
    Ok(Some(Mapping::parse(spec, &text)?))
}

/// The `[pec]` table of a config file.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PecSettings {
    /// PEM files of the PEC providers' certificates (relative to the config file).
    #[serde(default)]
    pub(crate) providers: Vec<PathBuf>,
    /// PEM files of the providers' signing certificates: when given, a signature must
    /// come from one of them (pinning), not merely chain to a provider.
    #[serde(default)]
    pub(crate) signers: Vec<PathBuf>,
    /// Certified sender address -> CPI code.
    #[serde(default)]
    pub(crate) senders: BTreeMap<String, String>,
    /// Ingest anomaly envelopes (the original came by ordinary mail).
    #[serde(default)]
    pub(crate) accept_anomalies: bool,
    /// Largest attachment, MiB.
    #[serde(default = "default_attachment_mib")]
    pub(crate) max_attachment_mib: u64,
    /// Largest message, MiB.
    #[serde(default = "default_message_mib")]
    pub(crate) max_message_mib: u64,
}

fn default_attachment_mib() -> u64 {
    64
}
fn default_message_mib() -> u64 {
    256
}

impl PecSettings {
    /// The adapter's config; relative provider paths resolve against `base`.
    pub(crate) fn build(&self, base: &Path) -> Result<Arc<PecConfig>> {
        let mut pems = Vec::new();
        for p in &self.providers {
            let p = if p.is_absolute() { p.clone() } else { base.join(p) };
            pems.push(std::fs::read(&p).with_context(|| format!("pec.providers: reading {}", p.display()))?);
        }
        let mut pinned = Vec::new();
        for p in &self.signers {
            let p = if p.is_absolute() { p.clone() } else { base.join(p) };
            pinned.push(std::fs::read(&p).with_context(|| format!("pec.signers: reading {}", p.display()))?);
        }
        let trust = silgate_source_pec::Trust::with_signers(&pems, &pinned)?;
        let senders = self.senders.iter().map(|(a, c)| (a.trim().to_ascii_lowercase(), c.clone())).collect();
        let mut c = PecConfig::new(trust, senders);
        c.accept_anomalies = self.accept_anomalies;
        c.max_attachment_bytes = self.max_attachment_mib << 20;
        c.max_message_bytes = self.max_message_mib << 20;
        Ok(Arc::new(c))
    }
}

/// Reads the `[pec]` table of a TOML file.
pub(crate) fn pec_config(path: &Path) -> Result<Arc<PecConfig>> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        pec: Option<PecSettings>,
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let f: File = toml::from_str(&text).with_context(|| format!("{}: invalid [pec] table", path.display()))?;
    let s = f.pec.with_context(|| format!("{} has no [pec] table", path.display()))?;
    s.build(path.parent().unwrap_or(Path::new(".")))
}

/// Opens one input of an adapter kind (not canonical JSON, which is read by lines).
pub(crate) fn open(kind: SourceKind, path: &Path, mapping: Option<Mapping>, pec: Option<&Arc<PecConfig>>) -> Result<Box<dyn Source + Send>> {
    Ok(match kind {
        SourceKind::Pec => {
            let config = pec.context("--source pec needs the [pec] settings (--pec-config FILE, or a [pec] table in the gateway config)")?.clone();
            let raw = std::fs::read(path).map_err(|e| silgate_core::SourceError::io(path.display().to_string(), e))?;
            Box::new(silgate_source_pec::PecMessage::new(raw, path.display().to_string(), config))
        }
        SourceKind::Sintesi => Box::new(silgate_source_sintesi::open(path)?),
        SourceKind::Silplus => Box::new(silgate_source_silplus::open(path, mapping, Limits::default())?),
        SourceKind::Access => Box::new(silgate_source_access::open(path, mapping, Limits::default())?),
        SourceKind::CanonicalJson => anyhow::bail!("canonical JSON is read by lines, not through an adapter"),
    })
}

/// A progress line on stderr (drawn only when stderr is a terminal): records, rate,
/// rejects.
pub(crate) fn progress(label: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {prefix}: {human_pos} records ({per_sec}) {msg} [{elapsed}]").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    pb.set_prefix(label.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Updates the bar every 256 records.
pub(crate) fn tick(pb: &ProgressBar, records: usize, rejected: usize) {
    if records.is_multiple_of(256) {
        pb.set_position(records as u64);
        pb.set_message(format!("{rejected} rejected"));
    }
}
