//! The gateway runtime: what `silgate run` is, as a library under the thin `silgate`
//! binary.
//!
//! [`Gateway::start`] takes a [`GatewayConfig`], opens the stores it names, binds the
//! listeners, starts one task per driver and the publisher, and returns a
//! [`GatewayHandle`] with the bound addresses. [`GatewayHandle::shutdown`] tells every
//! task to stop at its next safe point, lets deliveries in flight finish, and waits for
//! all of them (mini-redis's `server::run(listener, shutdown)`, vector's topology).
//!
//! # Layout
//!
//! - [`config`]: the typed configuration, its loader and its one validator
//!   ([`GatewayConfig::validate`], [`config::check_file`]).
//! - [`Parts`] (`parts.rs`): the opened components (queue, dedup index, audit log,
//!   metrics) and the ingest entry points.
//! - `ingest.rs`: translate -> dedup -> judge -> enqueue -> audit, in batches.
//! - [`translate`]: records -> codes -> 1546 XML or quarantine lines.
//! - [`kept`]: refused records kept for a replay (`silgate quarantine list|replay`).
//! - [`sources`]: the source adapters by kind, mapping files, PEC settings.
//! - `drivers/`: the [`Driver`](drivers) shape and [`supervise`](drivers), and the
//!   inbox poller, the Sintesi pull, the PEC mailbox and the push API.
//! - [`metrics`]: the gateway's registry and its `/metrics` driver.
//! - [`report`]: the weekly report per CPI from the audit log.
//! - [`error`]: the one error type, [`GatewayError`], and its `Context`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod anchor;
pub mod backup;
pub mod config;
pub(crate) mod drivers;
pub mod erasure;
pub mod error;
mod ingest;
mod instance;
pub mod kept;
pub mod metrics;
mod parts;
pub mod report;
pub mod retention;
pub mod secret;
pub mod sources;
pub mod translate;

pub use config::{Files, GatewayConfig, Problem, SourceKind};
pub use drivers::Shutdown;
pub use error::{GatewayError, Result};
pub use ingest::{IngestSummary, Progress};
pub use parts::{Parts, today};

use crate::config::Origin;
use crate::drivers::{Driver, supervise};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The gateway: see [`Gateway::start`].
#[derive(Debug)]
pub struct Gateway;

/// A running gateway.
#[derive(Debug)]
pub struct GatewayHandle {
    parts: Arc<Parts>,
    /// Tells every task to stop (see [`Shutdown`]).
    stop: tokio::sync::watch::Sender<bool>,
    /// One task per driver; each returns once it saw the shutdown.
    drivers: Vec<JoinHandle<()>>,
    /// The publisher: on shutdown it lets sends in flight finish and releases the
    /// leases of what waits to be retried (it stays in the durable queue).
    publisher: JoinHandle<std::result::Result<(), silgate_publish::PublishError>>,
    /// The publisher's counters (delivered, refused, ...).
    delivery: Arc<silgate_publish::Counters>,
    api: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    /// This instance's name, held until the handle is gone (after the shutdown).
    _instance: instance::InstanceLock,
}

impl Gateway {
    /// Validates `config` (looking at the files it names), opens its stores, binds its
    /// listeners and starts its drivers and the publisher.
    pub async fn start(config: GatewayConfig) -> Result<GatewayHandle> {
        let problems = config.validate(Files::Check);
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(Problem::to_string).collect();
            return Err(GatewayError::config(list.join("; ")));
        }
        let held = instance::InstanceLock::take(&config).await?;
        let parts = Arc::new(Parts::open(config).await?);
        // Holding the name: every lease stamped with it was this instance's previous
        // process's (killed), and is taken back now rather than at its timeout.
        remove_stale_temp(&parts.cfg.data_dir);
        let back = parts.queue.take_back(&parts.cfg.instance).await?;
        if back > 0 {
            tracing::warn!(instance = %parts.cfg.instance, items = back, "Took back the leases the previous process of this instance held");
        }
        let publisher = parts.publisher()?;
        let delivery = publisher.counters();
        parts.metrics.attach_delivery(delivery.clone(), publisher.breaker());
        let (stop, shutdown) = Shutdown::new();
        let mut drivers = Vec::new();
        for s in &parts.cfg.sources {
            let every = s.every();
            drivers.push(match s.origin() {
                Some(Origin::Inbox(inbox)) => spawn(drivers::inbox::InboxDriver::new(s.kind, s.mapping.clone(), inbox.to_path_buf(), every)?, &parts, &shutdown),
                Some(Origin::Imap(imap)) => spawn(drivers::mailbox::PecMailbox::new(imap, &parts.cfg, every)?, &parts, &shutdown),
                Some(Origin::Pull(_)) => spawn(drivers::pull::SintesiPull::new(s)?, &parts, &shutdown),
                None => return Err(GatewayError::config("sources: give each source exactly one of inbox, url (sintesi) or imap (pec)")),
            });
        }
        let mut api = None;
        if let Some(a) = parts.cfg.api.clone() {
            let d = drivers::api::ApiDriver::bind(a).await?;
            api = Some(d.addr());
            drivers.push(spawn(d, &parts, &shutdown));
        }
        let mut metrics = None;
        if let Some(m) = &parts.cfg.metrics {
            let d = metrics::MetricsDriver::bind(m.listen).await?;
            metrics = Some(d.addr());
            drivers.push(spawn(d, &parts, &shutdown));
        }
        if parts.cfg.retention.is_some() {
            drivers.push(spawn(retention::RetentionDriver, &parts, &shutdown));
        }
        if let Some(a) = &parts.cfg.anchor {
            drivers.push(spawn(anchor::AnchorDriver::new(std::time::Duration::from_secs(a.every_secs)), &parts, &shutdown));
        }
        let publisher = {
            let stop = shutdown.receiver();
            tokio::spawn(async move { publisher.run(stop, None).await })
        };
        tracing::info!(instance = %parts.cfg.instance, queue = parts.queue.backend(), "Silgate running");
        Ok(GatewayHandle { parts, stop, drivers, publisher, delivery, api, metrics, _instance: held })
    }
}

/// Removes the temporary folders and files (unpacked exports, PEC attachments, pulled
/// feeds) that processes killed in the middle of a read left, in the system's temporary
/// folder and in the data directory.
fn remove_stale_temp(data_dir: &std::path::Path) {
    let system = std::env::temp_dir();
    let (gone, failed) = silgate_core::private::remove_stale_temp(&[&system, data_dir]);
    if !gone.is_empty() {
        tracing::info!(removed = gone.len(), "Removed what killed processes left in the temporary folders");
    }
    for (p, e) in failed {
        tracing::warn!(path = %p.display(), error = %e, "Could not remove a temporary folder a killed process left");
    }
}

/// Starts a driver's task under [`supervise`]: every kind the same way.
fn spawn<D: Driver>(d: D, parts: &Arc<Parts>, shutdown: &Shutdown) -> JoinHandle<()> {
    tokio::spawn(supervise(d, parts.clone(), shutdown.clone()))
}

impl GatewayHandle {
    /// Where the push API listens, when `[api]` is set.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api
    }

    /// Where `/metrics` is served, when `[metrics]` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
    }

    /// The publisher's counters: what it delivered, found delivered, refused, ...
    pub fn delivery(&self) -> &Arc<silgate_publish::Counters> {
        &self.delivery
    }

    /// The gateway's components (queue, dedup index, audit log, metrics).
    pub fn parts(&self) -> &Arc<Parts> {
        &self.parts
    }

    /// Stops the gateway: drivers stop at their next safe point, deliveries in flight
    /// finish, and this returns once every task has ended.
    pub async fn shutdown(self) -> Result<()> {
        tracing::info!("Shutting down: draining in-flight deliveries");
        // Receivers gone means every task ended already: nothing to tell.
        let _no_receivers = self.stop.send(true);
        // Every task is waited for, whatever one of them came to; the first failure is
        // reported once all have ended.
        let mut first: Option<GatewayError> = None;
        for t in self.drivers {
            if t.await.is_err() {
                first.get_or_insert(GatewayError::Task("driver"));
            }
        }
        match self.publisher.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first.get_or_insert(e.into());
            }
            Err(_) => {
                first.get_or_insert(GatewayError::Task("publisher"));
            }
        }
        // The last anchor: the heads once every task has written its last entry.
        if self.parts.cfg.anchor.is_some() {
            match anchor::anchor_in_time(&self.parts.cfg, &self.parts.audit_log).await {
                Ok(n) => tracing::info!(chains = n, "Audit chains anchored at shutdown"),
                Err(e) => tracing::error!(error = %e, "The audit chains could not be anchored at shutdown"),
            }
        }
        first.map_or(Ok(()), Err)
    }
}
