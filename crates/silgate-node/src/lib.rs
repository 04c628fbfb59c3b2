//! The reference national node: a ClicLavoro-style receiver that the gateway, its
//! tests and its demo deliver to.
//!
//! It speaks the wire protocol of `../shared/formats/egov.md`: SOAP 1.1 with the eGov
//! header, over HTTPS with client certificates checked against the regions' CA. For
//! each request it
//!
//! 1. reads and checks the envelope (a refusal is a SOAP `Client` fault with the
//!    `EGOV_IT_*` code of the national profile); over TLS the sender must be the one
//!    the client certificate names (`EGOV_IT_201` otherwise), so one region cannot
//!    send under another's name and ids;
//! 2. applies the configured [`Faults`] (outage windows, random 503, 429 with
//!    `Retry-After`, latency, random KO) and notes any client that comes back before
//!    the `Retry-After` it was given;
//! 3. answers a repeated message id with the first answer, counted as a duplicate
//!    (idempotency: `inoltro = EGOV_IT_ALPIUUNAVOLTA`);
//! 4. judges the document with `silgate-std1546` (XSD and business rules): `KO` with
//!    the rule ids, or `OK` with a receipt id;
//! 5. stores the document and the answer (SQLite, or PostgreSQL with `postgres = ...`).
//!
//! `GET /api/stats` gives totals and per-minute throughput per region, CPI and kind;
//! `GET /dashboard` the operators' page over the same numbers (server-rendered SVG,
//! reloading itself); `GET /metrics` the Prometheus text; `GET /healthz`;
//! `GET|PUT /admin/faults` when `admin = true`. With `dashboard_listen` the page, the
//! stats, the metrics and the health probe are also served read-only over plain HTTP
//! on a second address, for browsers that hold no region certificate.
//!
//! Both listeners are served within connection limits (`silgate-serve`): a cap in all
//! and per client address, handshake and header timeouts, a lifetime per connection,
//! a pause after a failed accept.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod dashboard;
pub mod faults;
mod metrics;
mod server;
mod store;
mod store_pg;
mod tls;

pub use dashboard::LatencyMinute;
pub use faults::{Faults, Outage};
pub use server::{MinuteRowOut, NodeHandle, Stats, Totals, start};
pub use store::MinuteRow;

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors of the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The document store failed.
    #[error("node store: {0}")]
    Store(#[from] rusqlite::Error),
    /// TLS material could not be loaded or is unusable.
    #[error("node TLS: {0}")]
    Tls(String),
    /// A file or socket operation failed.
    #[error("node: {0}")]
    Io(String),
    /// The validator could not start.
    #[error("node validator: {0}")]
    Validator(String),
}

impl NodeError {
    /// Stable short code.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Store(_) => "node.store",
            Self::Tls(_) => "node.tls",
            Self::Io(_) => "node.io",
            Self::Validator(_) => "node.validator",
        }
    }
}

/// TLS of the node's listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the node.
    pub cert: PathBuf,
    /// PEM private key of the node (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates that sign the regions' client certificates. Every client
    /// must present one (mTLS).
    pub client_ca: PathBuf,
    /// The eGov sender each client certificate may use, by the SHA-256 of the
    /// certificate (hex): for a PKI whose certificates do not carry the sender's name as
    /// their subject's common name. A certificate not listed here may send as its
    /// common name only (`EGOV_IT_201` otherwise).
    #[serde(default)]
    pub senders: std::collections::BTreeMap<String, String>,
}

/// The node's configuration (`silgate node --config FILE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Listen address (`127.0.0.1:8443`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// HTTPS with client certificates. Without it the node speaks plain HTTP, which it
    /// refuses on anything but a loopback address.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The SQLite file of received documents (default `node.db`).
    #[serde(default = "default_store")]
    pub store: PathBuf,
    /// A PostgreSQL connection string: when set, documents are stored there instead.
    #[serde(default)]
    pub postgres: Option<String>,
    /// With `postgres` and `sslmode=require`: a PEM file of the CA certificates the
    /// database's certificate must chain to (default: the system's roots).
    #[serde(default)]
    pub postgres_ca: Option<PathBuf>,
    /// The eGov `Servizio` the node publishes.
    #[serde(default = "default_service")]
    pub service: String,
    /// A second, plain-HTTP listener for operators: `/dashboard`, `/api/stats`,
    /// `/metrics`, `/healthz`, read-only (no SOAP, no admin). The page carries counts
    /// and codes, never document content; bind it to loopback or the operators'
    /// network, behind their reverse proxy.
    #[serde(default)]
    pub dashboard_listen: Option<SocketAddr>,
    /// Whether `PUT /admin/faults` is served.
    #[serde(default)]
    pub admin: bool,
    /// Faults injected from the start.
    #[serde(default)]
    pub faults: Faults,
    /// Date against which documents are judged (YYYY-MM-DD; default: today).
    #[serde(default)]
    pub today: Option<String>,
    /// Most connections at once on each listener. (default: 256)
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Most connections at once from one IP address (a region's Porta di Dominio or
    /// gateway instances); one more is closed at once. (default: 64)
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// Seconds a connection may stay silent: in its TLS handshake, before its request
    /// headers are in, or between requests. (default: 15)
    /// Also the time each piece of a request body, and each write of an answer, may
    /// take.
    #[serde(default = "silgate_serve::default_idle_secs")]
    pub idle_secs: u64,
    /// Seconds a connection may last: then it is asked to close (it finishes the
    /// request it serves within 10 s, else it is cut). (default: 300)
    #[serde(default = "silgate_serve::default_lifetime_secs")]
    pub max_connection_secs: u64,
    /// Seconds a request's whole body may take to arrive; a slower one is answered
    /// with an error. (default: 60)
    #[serde(default = "silgate_serve::default_body_secs")]
    pub max_body_secs: u64,
    /// `[retention]`: how long the content of received documents is kept.
    #[serde(default)]
    pub retention: NodeRetention,
}

/// `[retention]` of the node's store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRetention {
    /// Days the content of a received document is kept (unset: kept). Past them it is
    /// deleted, at start and once a day; the row stays (eGov id, digest, answer, code,
    /// outcome), so a repeated id is answered as before and the counts hold.
    #[serde(default)]
    pub documents_days: Option<u32>,
}

impl NodeConfig {
    /// A node on `listen` storing in the SQLite file `store`, with every other setting
    /// at its default (no TLS: loopback only; no faults).
    pub fn new(listen: SocketAddr, store: PathBuf) -> Self {
        Self {
            listen,
            tls: None,
            store,
            postgres: None,
            postgres_ca: None,
            service: default_service(),
            dashboard_listen: None,
            admin: false,
            faults: Faults::default(),
            today: None,
            max_connections: default_max_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            idle_secs: silgate_serve::default_idle_secs(),
            max_connection_secs: silgate_serve::default_lifetime_secs(),
            max_body_secs: silgate_serve::default_body_secs(),
            retention: NodeRetention::default(),
        }
    }

    /// The connection limits of the node's listeners.
    pub fn conn_limits(&self) -> silgate_serve::ConnLimits {
        let timers = silgate_serve::Timers { idle_secs: self.idle_secs, lifetime_secs: self.max_connection_secs, body_secs: self.max_body_secs };
        silgate_serve::ConnLimits::from_config(self.max_connections, self.max_connections_per_ip, timers)
    }
}

fn default_max_connections() -> usize {
    256
}
fn default_max_connections_per_ip() -> usize {
    64
}

fn default_store() -> PathBuf {
    "node.db".into()
}

fn default_service() -> String {
    "ClicLavoro".into()
}
