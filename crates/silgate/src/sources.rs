//! The source adapters as the binary sees them: opening an input of a kind, the
//! mapping file, which inbox files a kind takes, the progress bar.

use crate::SourceKind;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use silgate_core::Source;
use silgate_source_tabular::{Limits, Mapping};
use std::path::Path;
use std::time::Duration;

impl SourceKind {
    /// The name used in config files and on the command line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::CanonicalJson => "canonical-json",
            Self::Sintesi => "sintesi",
            Self::Silplus => "silplus",
            Self::Access => "access",
        }
    }

    /// Parses a config's `kind`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::CanonicalJson, Self::Sintesi, Self::Silplus, Self::Access].into_iter().find(|k| k.as_str() == s)
    }

    /// True when `path` (a file or folder in an inbox) is an input of this kind.
    pub(crate) fn takes(self, path: &Path) -> bool {
        let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
        match self {
            Self::CanonicalJson => path.is_file() && ext == "jsonl",
            Self::Sintesi => path.is_file() && ext == "xml",
            Self::Silplus => (path.is_file() && ext == "zip") || (path.is_dir() && path.join(silgate_source_silplus::MANIFEST).is_file()),
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

/// Opens one input of an adapter kind (not canonical JSON, which is read by lines).
pub(crate) fn open(kind: SourceKind, path: &Path, mapping: Option<Mapping>) -> Result<Box<dyn Source + Send>> {
    Ok(match kind {
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
