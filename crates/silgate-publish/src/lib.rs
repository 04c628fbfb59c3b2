//! Delivery to the national node: dedup index, SOAP/eGov client, retries, circuit
//! breaker, dead letter.
//!
//! The [`Publisher`] leases items from any [`silgate_core::Queue`], and for each:
//!
//! 1. acks it at once if the [`DedupIndex`] says this message id was delivered
//!    (a redelivery after a crash);
//! 2. takes its eGov id from the index (allocated and persisted on first use, reused
//!    on every retry);
//! 3. sends it with the [`NodeClient`] through the endpoint's [`CircuitBreaker`],
//!    retrying transient outcomes with exponential backoff and full jitter (backon's
//!    exponential schedule, drawn uniformly below each step), honouring `Retry-After`,
//!    up to a bounded number of attempts;
//! 4. marks it delivered in the index, then acks the queue (in that order: DESIGN
//!    §3.2); or, when the node refuses it for good, hands it to the [`RefusalSink`]
//!    (quarantine) and acks; or, when attempts run out, dead-letters it.
//!
//! Every attempt and outcome goes to the audit log. The publisher knows nothing of
//! sources.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod breaker;
pub mod client;
pub mod dedup;
mod dedup_pg;
mod publisher;

pub use breaker::{BreakerState, CircuitBreaker};
pub use client::{ClientConfig, NodeClient, Outcome, is_loopback_host, plain_http_allowed, tls_config};
pub use dedup::{Admission, DedupIndex, Offer, SqliteDedup};
pub use dedup_pg::PgDedup;
pub use publisher::{Counters, LATENCY_BOUNDS, Latency, Publisher, RefusalSink, RetryConfig};

use sha2::{Digest, Sha256};

/// Errors of delivery.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The dedup index failed.
    #[error("dedup index: {0}")]
    Dedup(String),
    /// The configuration is unusable (certificates, URL).
    #[error("delivery config: {0}")]
    Config(String),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] silgate_core::QueueError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] silgate_audit::AuditError),
}

impl From<rusqlite::Error> for PublishError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Dedup(e.to_string())
    }
}

impl PublishError {
    /// Stable short code.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Dedup(_) => "publish.dedup",
            Self::Config(_) => "publish.config",
            Self::Queue(e) => e.as_code(),
            Self::Audit(e) => e.as_code(),
        }
    }
}

/// Lowercase hex of SHA-256.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// The message id of a record version: SHA-256 over (source system, business key,
/// content hash), hex.
pub fn message_id(system: &str, business_key: &str, content_hash: &str) -> String {
    sha256_hex(&[system.as_bytes(), business_key.as_bytes(), content_hash.as_bytes()])
}

#[cfg(test)]
mod tests;
