//! Anchoring the audit log (`[anchor]`): the signed head of every chain appended to a
//! file the database's owner cannot rewrite (on another volume or host, append-only),
//! by `silgate audit anchor` and every `every_secs` inside `silgate run`; `silgate
//! audit verify --anchors FILE` checks the chains against it. The format and the check
//! are `silgate_audit::anchor`'s; this module keeps the key and writes the file.
//!
//! The key (`key_file`, default `DATA_DIR/anchor.key`: an Ed25519 key, PKCS#8,
//! owner-only) is made at the first anchor. Every line carries its public half, and
//! the lines are checked against the first line's.

use crate::Parts;
use crate::config::GatewayConfig;
use crate::drivers::{Driver, Shutdown};
use crate::error::{GatewayError, Result};
use silgate_audit::AuditLog;
use silgate_audit::anchor::{AnchorKey, heads};
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Reads the anchor key at `path`, or makes it (owner-only) when there is none; two
/// processes making it at once end with the same key.
pub fn load_or_create_key(path: &Path) -> Result<AnchorKey> {
    let bad = |e: silgate_audit::anchor::AnchorError| GatewayError::config(format!("anchor key {}: {e}", path.display()));
    match std::fs::read(path) {
        Ok(der) => return AnchorKey::from_pkcs8(&der).map_err(bad),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(GatewayError::io(format!("reading the anchor key {}", path.display()), e)),
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    silgate_core::private::create_dir_all(dir).map_err(|e| GatewayError::io(format!("creating {}", dir.display()), e))?;
    let der = AnchorKey::generate().map_err(bad)?;
    let mut tmp = silgate_core::private::temp_file_in(dir, "secret").map_err(|e| GatewayError::io(format!("a temporary file in {}", dir.display()), e))?;
    tmp.write_all(&der).and_then(|()| tmp.as_file().sync_all()).map_err(|e| GatewayError::io(format!("writing a new anchor key beside {}", path.display()), e))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            tracing::info!(file = %path.display(), "A new audit anchor key was created: back it up with the data");
            AnchorKey::from_pkcs8(&der).map_err(bad)
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            let der = std::fs::read(path).map_err(|e| GatewayError::io(format!("reading the anchor key {}", path.display()), e))?;
            AnchorKey::from_pkcs8(&der).map_err(bad)
        }
        Err(e) => Err(GatewayError::io(format!("creating the anchor key {}", path.display()), e.error)),
    }
}

/// Appends the signed head of every chain of `log` to the configured anchor file, and
/// makes it durable; returns how many chains were anchored.
pub async fn anchor_now(cfg: &GatewayConfig, log: &AuditLog) -> Result<usize> {
    let a = cfg.anchor.as_ref().ok_or_else(|| GatewayError::config("no [anchor] section: say where the anchors go (file = ...)"))?;
    let key = load_or_create_key(&cfg.anchor_key_path())?;
    let lines = heads(log, &key, silgate_store::now_ms()).await?;
    if lines.is_empty() {
        return Ok(0);
    }
    let text: String = lines.iter().map(|l| l.line() + "\n").collect();
    let file = a.file.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        if let Some(d) = file.parent() {
            silgate_core::private::create_dir_all(d)?;
        }
        let mut f = silgate_core::private::append(&file)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    })
    .await?
    .map_err(|e| GatewayError::io(format!("appending to the anchor file {}", a.file.display()), e))?;
    Ok(lines.len())
}

/// Anchors at start, every `every`, and once more at shutdown.
pub(crate) struct AnchorDriver {
    every: Duration,
}

impl AnchorDriver {
    pub(crate) fn new(every: Duration) -> Self {
        Self { every }
    }
}

impl Driver for AnchorDriver {
    fn name(&self) -> String {
        "audit anchor".into()
    }

    async fn run(&mut self, parts: &Arc<Parts>, stop: &mut Shutdown) -> Result<()> {
        loop {
            let n = anchor_now(&parts.cfg, &parts.audit_log).await?;
            tracing::info!(chains = n, "Audit chains anchored");
            if stop.is_shutdown() {
                return Ok(());
            }
            // At shutdown, the loop anchors once more: the head as the service stops
            // (entries other tasks still write after it are anchored at the next start).
            if self.every.is_zero() {
                stop.wait().await;
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(self.every) => {}
                () = stop.wait() => {}
            }
        }
    }
}
