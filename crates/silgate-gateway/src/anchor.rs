//! Anchoring the audit log (`[anchor]`): the signed head of every chain appended to a
//! file the database's owner cannot rewrite (on another volume or host, append-only),
//! by `silgate audit anchor`, inside `silgate run` at start and every `every_secs`, and
//! by [`crate::GatewayHandle::shutdown`] once every task has ended; `silgate audit
//! verify --anchors FILE` checks the chains against it. The format and the check are
//! `silgate_audit::anchor`'s; this module keeps the key and writes the file.
//!
//! The key (`key_file`, default `DATA_DIR/anchor.key`: an Ed25519 key, PKCS#8,
//! owner-only) is made at the first anchor, and never again once the file holds lines:
//! every line must carry the key of the file's first line.

use crate::Parts;
use crate::config::GatewayConfig;
use crate::drivers::{Driver, Shutdown};
use crate::error::{GatewayError, Result};
use silgate_audit::AuditLog;
use silgate_audit::anchor::{AnchorKey, first_key};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The longest an anchor may take (a hung network volume must not hold a shutdown).
pub(crate) const ANCHOR_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads the anchor key at `path`, or makes it (owner-only) when there is none and
/// `may_create`; two processes making it at once end with the same key.
fn load_or_create_key(path: &Path, may_create: bool) -> Result<AnchorKey> {
    let bad = |e: silgate_audit::anchor::AnchorError| GatewayError::config(format!("anchor key {}: {e}", path.display()));
    match std::fs::read(path) {
        Ok(der) => {
            crate::secret::warn_if_open(path, "anchor key");
            return AnchorKey::from_pkcs8(&der).map_err(bad);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(GatewayError::config(format!(
                "anchor key {} is missing but the anchor file holds lines signed with it: restore it from the backup (or start a new anchor file)",
                path.display()
            )));
        }
        Err(e) => return Err(GatewayError::io(format!("reading the anchor key {}", path.display()), e)),
    }
    let der = AnchorKey::generate().map_err(bad)?;
    crate::secret::create_once(path, &der, "anchor key")?;
    let der = std::fs::read(path).map_err(|e| GatewayError::io(format!("reading the anchor key {}", path.display()), e))?;
    AnchorKey::from_pkcs8(&der).map_err(bad)
}

/// Appends the signed head of every chain of `log` to the configured anchor file, and
/// makes it durable; returns how many chains were anchored. The file's folder must
/// exist (an unmounted volume is not replaced by a local folder), and its first line
/// must be signed by this key.
pub async fn anchor_now(cfg: &GatewayConfig, log: &AuditLog) -> Result<usize> {
    let a = cfg.anchor.as_ref().ok_or_else(|| GatewayError::config("no [anchor] section: say where the anchors go (file = ...)"))?;
    let (a, whole) = (a.clone(), cfg.clone());
    let file = a.file.clone();
    let key_path = cfg.anchor_key_path();
    let at_ms = silgate_store::now_ms();
    let chains = log.heads().await?;
    let n = chains.len();
    detached(move || -> Result<()> {
        // On the thread too: looking at a hung volume must not hold the runtime.
        if let Some(why) = crate::config::anchor_problem(&a, &whole) {
            return Err(GatewayError::config(format!("anchor.file: {why}")));
        }
        if chains.is_empty() {
            return Ok(());
        }
        let io = |e: std::io::Error| GatewayError::io(format!("appending to the anchor file {}", file.display()), e);
        let mut f = silgate_core::private::append_as_is(&file).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let pinned = if len == 0 { None } else { first_key(std::io::BufReader::new(std::fs::File::open(&file).map_err(io)?)).map_err(io)? };
        // A key is made only for a file that holds nothing yet.
        let key = load_or_create_key(&key_path, len == 0)?;
        if let Some(k) = pinned
            && k != key.public_hex()
        {
            return Err(GatewayError::config(format!(
                "the anchor file {} is signed by another key (its first line) than {}: put that key back, or start a new anchor file",
                file.display(),
                key_path.display()
            )));
        }
        let mut text = String::new();
        // A line a crash cut short is ended, so the next one is whole.
        if len > 0 {
            let mut last = [0u8; 1];
            let mut r = std::fs::File::open(&file).map_err(io)?;
            r.seek(std::io::SeekFrom::End(-1)).map_err(io)?;
            r.read_exact(&mut last).map_err(io)?;
            if last[0] != b'\n' {
                text.push('\n');
            }
        }
        for (instance, seq, hash) in &chains {
            text.push_str(&silgate_audit::anchor::Anchor::signed(&key, instance, *seq, hash, at_ms).line());
            text.push('\n');
        }
        f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(io)
    })
    .await?;
    Ok(n)
}

/// [`anchor_now`] within [`ANCHOR_TIMEOUT`].
pub(crate) async fn anchor_in_time(cfg: &GatewayConfig, log: &AuditLog) -> Result<usize> {
    tokio::time::timeout(ANCHOR_TIMEOUT, anchor_now(cfg, log))
        .await
        .unwrap_or_else(|_| Err(GatewayError::config(format!("anchoring took longer than {} s", ANCHOR_TIMEOUT.as_secs()))))
}

/// Runs the file's blocking work on a thread of its own: on a hung volume the wait
/// can be given up ([`anchor_in_time`]) without the runtime waiting for the thread at
/// exit, as it would for a `spawn_blocking` task.
async fn detached<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("silgate-anchor".into())
        .spawn(move || {
            // The receiver gone (the wait given up): nothing to tell.
            let _gone = tx.send(f());
        })
        .map_err(|e| GatewayError::io("starting the anchor's thread", e))?;
    rx.await.map_err(|_| GatewayError::Task("anchor"))?
}

/// Anchors at start and every `every` (0: only at start); the last anchor is
/// [`crate::GatewayHandle::shutdown`]'s, once every task has ended.
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
            let n = anchor_in_time(&parts.cfg, &parts.audit_log).await?;
            parts.metrics.anchored(silgate_store::now_ms());
            tracing::info!(chains = n, "Audit chains anchored");
            if self.every.is_zero() {
                stop.wait().await;
                return Ok(());
            }
            tokio::select! {
                () = tokio::time::sleep(self.every) => {}
                () = stop.wait() => return Ok(()),
            }
        }
    }
}
