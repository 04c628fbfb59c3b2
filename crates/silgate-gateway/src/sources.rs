//! The source adapters as the gateway sees them: opening an input of a kind, the
//! mapping file, which inbox files a kind takes, the PEC adapter's settings.

use crate::config::{PecSettings, SourceKind};
use crate::error::{Context as _, GatewayError, Result};
use silgate_core::Source;
use silgate_source_pec::PecConfig;
pub use silgate_source_tabular::Limits;
use silgate_source_tabular::Mapping;
use std::path::Path;
use std::sync::Arc;

impl SourceKind {
    /// True when `path` (a file or folder in an inbox) is an input of this kind.
    pub fn takes(self, path: &Path) -> bool {
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
pub fn mapping(spec: Option<&str>) -> Result<Option<Mapping>> {
    let Some(spec) = spec else { return Ok(None) };
    if let Some(m) = Mapping::builtin(spec) {
        return Ok(Some(m));
    }
    let text = std::fs::read_to_string(spec).with_context(|| format!("reading mapping {spec}"))?;
    Ok(Some(Mapping::parse(spec, &text)?))
}

impl PecSettings {
    /// The length and modification time of each certificate and CRL file, to tell when
    /// they changed.
    pub fn file_stamps(&self) -> Vec<Option<(u64, std::time::SystemTime)>> {
        self.providers.iter().chain(&self.signers).chain(&self.crls).map(|p| std::fs::metadata(p).and_then(|m| Ok((m.len(), m.modified()?))).ok()).collect()
    }

    /// The adapter's config (the certificate files read; relative paths were resolved
    /// when the config was loaded).
    pub fn build(&self, limits: Limits) -> Result<Arc<PecConfig>> {
        if self.signers.is_empty() {
            return Err(GatewayError::config(format!("pec.signers: {}", crate::config::NO_SIGNERS)));
        }
        let mut pems = Vec::new();
        for p in &self.providers {
            pems.push(std::fs::read(p).map_err(|e| GatewayError::io(format!("pec.providers: reading {}", p.display()), e))?);
        }
        let mut pinned = Vec::new();
        for p in &self.signers {
            pinned.push(std::fs::read(p).map_err(|e| GatewayError::io(format!("pec.signers: reading {}", p.display()), e))?);
        }
        let trust = silgate_source_pec::Trust::new(&pems, &pinned, &self.crls)?;
        let senders = self.senders.iter().map(|(a, c)| (a.trim().to_ascii_lowercase(), c.clone())).collect();
        let mut c = PecConfig::new(trust, senders);
        c.accept_anomalies = self.accept_anomalies;
        c.max_attachment_bytes = self.max_attachment_mib << 20;
        c.max_message_bytes = self.max_message_mib << 20;
        c.limits = limits;
        Ok(Arc::new(c))
    }
}

/// Reads the `[pec]` table of a TOML file (`translate --pec-config`).
pub fn pec_config(path: &Path) -> Result<Arc<PecConfig>> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        pec: Option<PecSettings>,
    }
    let text = std::fs::read_to_string(path).map_err(|e| GatewayError::io(format!("reading {}", path.display()), e))?;
    let f: File = toml::from_str(&text).map_err(|e| GatewayError::config(format!("{}: invalid [pec] table: {}", path.display(), e.message())))?;
    let mut s = f.pec.with_context(|| format!("{} has no [pec] table", path.display()))?;
    crate::config::resolve_pec(&mut s, path.parent().unwrap_or(Path::new(".")));
    s.build(Limits::default())
}

/// Opens one input of an adapter kind (not canonical JSON, which is read by lines).
pub fn open(kind: SourceKind, path: &Path, mapping: Option<Mapping>, pec: Option<&Arc<PecConfig>>, limits: Limits) -> Result<Box<dyn Source + Send>> {
    Ok(match kind {
        SourceKind::Pec => {
            let config = pec.context("--source pec needs the [pec] settings (--pec-config FILE, or a [pec] table in the gateway config)")?.clone();
            let raw = std::fs::read(path).map_err(|e| silgate_core::SourceError::io(path.display().to_string(), e))?;
            Box::new(silgate_source_pec::PecMessage::new(raw, path.display().to_string(), config))
        }
        SourceKind::Sintesi => Box::new(silgate_source_sintesi::open(path)?.with_max_event_bytes(limits.max_xml_event_bytes)),
        SourceKind::Silplus => Box::new(silgate_source_silplus::open(path, mapping, limits)?),
        SourceKind::Access => Box::new(silgate_source_access::open(path, mapping, limits)?),
        SourceKind::CanonicalJson => return Err(GatewayError::config("canonical JSON is read by lines, not through an adapter")),
    })
}
