//! Fault injection: what the node does wrong on purpose, so the gateway's retries,
//! Retry-After handling and circuit breaker can be tested against real behaviour.

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// One window during which every request gets 503.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    /// Seconds after the faults were set (node start, or the last admin update).
    pub start_secs: f64,
    /// Length of the window in seconds.
    pub duration_secs: f64,
}

/// The faults to inject, from config (`[faults]`) or `PUT /admin/faults`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of requests answered 503 (0.0..=1.0).
    pub error_rate: f64,
    /// Share of requests answered 429 with `Retry-After`.
    pub throttle_rate: f64,
    /// The `Retry-After` of a 429, seconds.
    pub retry_after_secs: u64,
    /// Added latency for every request, milliseconds.
    pub latency_ms: u64,
    /// Share of valid documents answered KO (`fault.injected-reject`).
    pub reject_rate: f64,
    /// 503 outage windows.
    pub outages: Vec<Outage>,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Serve it normally.
    Serve,
    /// 503: an outage window.
    Outage,
    /// 503: a random error.
    Error,
    /// 429 with this Retry-After.
    Throttle(u64),
    /// KO the document.
    Reject,
}

/// Faults plus the instant they were set (outage windows count from it).
#[derive(Debug, Clone)]
pub(crate) struct FaultState {
    pub(crate) faults: Faults,
    pub(crate) since: Instant,
}

impl FaultState {
    pub(crate) fn new(faults: Faults) -> Self {
        Self { faults, since: Instant::now() }
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.faults.latency_ms)
    }

    pub(crate) fn decide(&self) -> Decision {
        let f = &self.faults;
        let t = self.since.elapsed().as_secs_f64();
        if f.outages.iter().any(|o| t >= o.start_secs && t < o.start_secs + o.duration_secs) {
            return Decision::Outage;
        }
        let r = fastrand::f64();
        if r < f.error_rate {
            Decision::Error
        } else if r < f.error_rate + f.throttle_rate {
            Decision::Throttle(f.retry_after_secs.max(1))
        } else if fastrand::f64() < f.reject_rate {
            Decision::Reject
        } else {
            Decision::Serve
        }
    }
}
