//! Pulling a Sintesi feed over HTTPS, incrementally.
//!
//! Every `poll_secs`: `GET {url}/export?cpi={cpi}&dal={watermark}` (the watermark is
//! empty the first time), the body streamed to a temporary file in the data folder
//! (never held in memory), ingested like any feed, and only then the watermark, the
//! largest `ultimaModifica` read, written to `data_dir/watermarks/sintesi-{cpi}.txt`
//! (write then rename: a crash leaves the old one). A crash before that re-pulls the
//! same records next time, and the dedup index makes them cost nothing; a crash after
//! it loses nothing, because everything up to the watermark is queued.
//!
//! A feed whose reading failed or never finished `[limits] max_unfinished_reads` times
//! is set aside in `data_dir/refused/` with its reason, audited once as
//! `source.poison`, and what the same pull (CPI and watermark) serves is not read again
//! until an operator removes it from there. The reads are counted on disk in
//! `data_dir/pull-attempts/<instance>/`, so a crash loop on one feed stops; they are
//! counted by the pull, not by the feed's bytes, which a server stamps anew each time
//! (`generato`).

use super::attempts::Attempts;
use super::{Driver, Shutdown};
use crate::Parts;
use crate::config::SourceConfig;
use crate::error::{Context as _, GatewayError, Result};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Largest feed accepted in one pull.
const MAX_FEED_BYTES: u64 = 16 << 30;

/// One pulled Sintesi source.
#[derive(Debug, Clone)]
pub(crate) struct SintesiPull {
    url: String,
    cpi: String,
    http: reqwest::Client,
    every: Duration,
}

impl SintesiPull {
    pub(crate) fn new(s: &SourceConfig) -> Result<Self> {
        let url = s.url.clone().context("sources.url")?;
        let cpi = s.cpi.clone().context("sources.cpi")?;
        let ca = s.ca.clone().context("sources.ca")?;
        if !url.starts_with("https://") {
            return Err(GatewayError::config(format!("sources.url must be https://, not {url}")));
        }
        let tls = silgate_publish::tls_config(&ca, s.client_cert.as_deref(), s.client_key.as_deref())?;
        // No redirect is followed (to plain HTTP, or to another server): the feed is the
        // configured URL; a 3xx fails the pull.
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(3600))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { url: url.trim_end_matches('/').to_string(), cpi, http, every: s.every() })
    }

    fn watermark_path(&self, parts: &Parts) -> PathBuf {
        let safe: String = self.cpi.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        parts.cfg.data_dir.join("watermarks").join(format!("sintesi-{safe}.txt"))
    }

    /// One pull: fetch, ingest, advance the watermark. Returns the records read.
    pub(crate) async fn once(&self, parts: &Parts) -> Result<u64> {
        let wm_path = self.watermark_path(parts);
        let wm = std::fs::read_to_string(&wm_path).map(|s| s.trim().to_string()).unwrap_or_default();
        let endpoint = format!("{}/export", self.url);
        let target = reqwest::Url::parse_with_params(&endpoint, [("cpi", self.cpi.as_str()), ("dal", wm.as_str())])
            .map_err(|e| GatewayError::config(format!("sources.url {}: {e}", self.url)))?;
        let mut resp = self.http.get(target).send().await.with_context(|| format!("GET {endpoint}"))?;
        if !resp.status().is_success() {
            return Err(GatewayError::Http(format!("GET {endpoint}: HTTP {}", resp.status())));
        }
        let data = &parts.cfg.data_dir;
        silgate_core::private::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let mut tmp = silgate_core::private::temp_file_in(data, "pull").with_context(|| format!("a temporary file in {}", data.display()))?;
        let mut size = 0u64;
        while let Some(chunk) = resp.chunk().await.with_context(|| format!("reading {endpoint}"))? {
            size += chunk.len() as u64;
            if size > MAX_FEED_BYTES {
                return Err(GatewayError::Http(format!("{endpoint}: the feed is larger than {MAX_FEED_BYTES} bytes")));
            }
            tmp.write_all(&chunk).context("writing the pulled feed")?;
        }
        tmp.flush().context("writing the pulled feed")?;
        let origin = format!("{endpoint}?cpi={}&dal={wm}", self.cpi);
        let hash = silgate_dedup::sha256_hex(&[self.cpi.as_bytes(), wm.as_bytes()]);
        let key = std::ffi::OsStr::new(&hash);
        let attempts = Attempts::new(parts.cfg.data_dir.join("pull-attempts").join(&parts.cfg.instance));
        attempts.prune_older_than(Duration::from_secs(30 * 24 * 3600));
        let max = parts.cfg.limits.max_unfinished_reads.max(1);
        if parts.cfg.data_dir.join("refused").join(format!("sintesi-{hash}.xml")).exists() {
            tracing::warn!(cpi = %self.cpi, "This pull's feed was set aside before (data_dir/refused/): not read; remove it there to read it again");
            return Ok(0);
        }
        let started = attempts.of(key);
        if started >= max {
            self.set_aside(parts, tmp, &hash, &origin, &format!("reading it failed or stopped the gateway {started} times")).await?;
            forget(&attempts, key);
            return Ok(0);
        }
        // Without the count a crash loop could not be stopped: do not read it.
        attempts.set(key, started + 1).map_err(|e| GatewayError::io("counting a read of a pulled feed".to_string(), e))?;
        let file = std::fs::File::open(tmp.path()).context("reading the pulled feed")?;
        let src =
            silgate_source_sintesi::Sintesi::new(std::io::BufReader::with_capacity(256 * 1024, file), origin.clone()).with_max_event_bytes(parts.cfg.limits.max_xml_event_bytes);
        let (summary, read) = match parts.ingest_source(Box::new(src), crate::parts::today()).await {
            Ok(done) => {
                forget(&attempts, key);
                done
            }
            // The gateway's own trouble: not the feed's; the attempt is taken back.
            Err(e) if !e.input_fault() => {
                if let Err(io) = attempts.set(key, started) {
                    tracing::warn!(error = %io, "Could not take back the attempt of a pulled feed");
                }
                return Err(e);
            }
            // The count stays: at the limit the same feed is set aside, unread.
            Err(e) => {
                if started + 1 >= max {
                    self.set_aside(parts, tmp, &hash, &origin, &format!("reading it failed {max} times: {e}")).await?;
                    forget(&attempts, key);
                }
                return Err(e);
            }
        };
        tracing::info!(cpi = %self.cpi, records = summary.records, queued = summary.queued, unchanged = summary.unchanged, rejected = summary.rejected, "sintesi feed pulled");
        if let Some(new) = read.watermark {
            let newer = match (new.parse::<silgate_core::Timestamp>(), wm.parse::<silgate_core::Timestamp>()) {
                (Ok(n), Ok(o)) => n.local > o.local,
                _ => new != wm,
            };
            if newer {
                let dir = wm_path.parent().context("watermark folder")?;
                let write = || -> std::io::Result<()> {
                    silgate_core::private::create_dir_all(dir)?;
                    let mut t = tempfile::NamedTempFile::new_in(dir)?;
                    writeln!(t, "{new}")?;
                    t.as_file().sync_all()?;
                    t.persist(&wm_path).map_err(|e| e.error)?;
                    Ok(())
                };
                write().with_context(|| format!("writing {}", wm_path.display()))?;
            }
        }
        Ok(read.records + read.rejected)
    }
}

impl SintesiPull {
    /// Keeps a feed that cannot be read in `refused/` (named by the pull's key) with its
    /// reason, audited; while it is there, the pull reads nothing.
    async fn set_aside(&self, parts: &Parts, feed: tempfile::NamedTempFile, hash: &str, origin: &str, why: &str) -> Result<()> {
        let refused = parts.cfg.data_dir.join("refused");
        let target = refused.join(format!("sintesi-{hash}.xml"));
        tracing::error!(cpi = %self.cpi, reason = %why, "Pulled feed set aside: the pulls behind it wait for another feed");
        let note = format!("{why}: set aside, not read again");
        let refusal = silgate_audit::Event::Rejected { rule: "source.poison".into(), at: Some(origin.to_string()), note: Some(note.clone()) };
        parts.audit.record(vec![silgate_audit::NewEntry::now(refusal, None, None, Some(&self.cpi))]).await?;
        silgate_core::private::create_dir_all(&refused).with_context(|| format!("creating {}", refused.display()))?;
        feed.persist(&target).map_err(|e| GatewayError::io(format!("keeping the feed in {}", refused.display()), e.error))?;
        silgate_core::private::write(&refused.join(format!("sintesi-{hash}.xml.reason.txt")), format!("{origin}\n{note}\n"))
            .with_context(|| "writing the reason of a set-aside feed".to_string())?;
        Ok(())
    }
}

/// Forgets a pull's attempts (read whole, or set aside: the refused file marks it then).
fn forget(attempts: &Attempts, key: &std::ffi::OsStr) {
    if let Err(e) = attempts.set(key, 0) {
        tracing::warn!(error = %e, "Could not forget the attempts of a pulled feed");
    }
}

impl Driver for SintesiPull {
    fn name(&self) -> String {
        format!("sintesi pull {}", self.cpi)
    }

    fn min_restart_delay(&self) -> Duration {
        self.every
    }

    /// Pulls every `poll_secs` until shutdown; a failed pull fails the run (the
    /// supervisor retries after its delay).
    async fn run(&mut self, parts: &Arc<Parts>, stop: &mut Shutdown) -> Result<()> {
        loop {
            if stop.is_shutdown() {
                return Ok(());
            }
            self.once(parts).await?;
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = stop.wait() => {}
            }
        }
    }
}
