//! Delivery to the national node: SOAP/eGov client, retries, circuit breaker, dead
//! letter, over the dedup index of `silgate-dedup`.
//!
//! The [`Publisher`] leases items from any [`silgate_core::Queue`], and for each:
//!
//! 1. acks it at once if the dedup index (`silgate_dedup::DedupIndex`) says this message id was delivered
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
mod publisher;

pub use breaker::{BreakerState, CircuitBreaker};
pub use client::{ClientConfig, NodeClient, Outcome, is_loopback_host, plain_http_allowed, tls_config};
pub use publisher::{Counters, LATENCY_BOUNDS, Latency, Publisher, Refusal, RefusalSink, RetryConfig};

/// Errors of delivery.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The dedup index failed.
    #[error(transparent)]
    Dedup(#[from] silgate_dedup::DedupError),
    /// A refusal could not be written to the quarantine.
    #[error("quarantine: {0}")]
    Quarantine(String),
    /// A task of the publisher ended abnormally.
    #[error("publisher task: {0}")]
    Task(String),
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

impl PublishError {
    /// Stable short code.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Dedup(e) => e.as_code(),
            Self::Task(_) => "publish.task",
            Self::Quarantine(_) => "publish.quarantine",
            Self::Config(_) => "publish.config",
            Self::Queue(e) => e.as_code(),
            Self::Audit(e) => e.as_code(),
        }
    }
}

#[cfg(test)]
mod tests;
