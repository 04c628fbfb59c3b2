//! A circuit breaker per node endpoint.
//!
//! Closed: requests flow; `failure_threshold` transient failures in a row open it.
//! Open: nobody sends until `cooldown` has passed; then it is half-open and exactly
//! one request (the probe) goes out. A probe that succeeds closes the breaker; one
//! that fails opens it again for another cooldown. Waiting on an open breaker is not
//! an attempt: it costs the record nothing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker's state, for metrics (0 closed, 1 half-open, 2 open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// One probe is out.
    HalfOpen,
    /// Nobody sends until the instant.
    Open,
}

#[derive(Debug)]
struct Inner {
    failures: u32,
    open_until: Option<Instant>,
    probe_out: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

/// Permission to send, from [`CircuitBreaker::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    probe: bool,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold: threshold.max(1), cooldown, inner: Mutex::new(Inner { failures: 0, open_until: None, probe_out: false }) }
    }

    /// Current state.
    pub fn state(&self) -> BreakerState {
        let Ok(i) = self.inner.lock() else { return BreakerState::Open };
        match i.open_until {
            None => BreakerState::Closed,
            Some(t) if Instant::now() < t => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Waits until a request may go out.
    pub async fn acquire(&self) -> Permit {
        loop {
            let wait = {
                let Ok(mut i) = self.inner.lock() else { return Permit { probe: false } };
                match i.open_until {
                    None => return Permit { probe: false },
                    Some(t) => {
                        let now = Instant::now();
                        if now >= t && !i.probe_out {
                            i.probe_out = true;
                            return Permit { probe: true };
                        }
                        if now >= t { Duration::from_millis(50) } else { (t - now).min(Duration::from_millis(500)) }
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The request went through (the node answered, whatever it said).
    pub fn success(&self, _permit: Permit) {
        if let Ok(mut i) = self.inner.lock() {
            i.failures = 0;
            i.open_until = None;
            i.probe_out = false;
        }
    }

    /// The request failed transiently.
    pub fn failure(&self, permit: Permit) {
        if let Ok(mut i) = self.inner.lock() {
            i.failures += 1;
            if permit.probe || (i.open_until.is_none() && i.failures >= self.threshold) {
                if i.open_until.is_none() || permit.probe {
                    tracing::warn!(failures = i.failures, cooldown = ?self.cooldown, "circuit breaker open");
                }
                i.open_until = Some(Instant::now() + self.cooldown);
                i.probe_out = false;
            }
        }
    }
}
