//! The drivers: the long-running pieces that bring records in (inbox poller, Sintesi
//! pull, PEC mailbox, push API) or serve the operators (metrics), all of one shape.
//!
//! A [`Driver`] runs until shutdown and returns `Ok(())`, or fails with an error;
//! [`supervise`] runs it, and after a failure logs it and starts it again after a
//! delay that doubles from one second (or the driver's own floor: a pull's poll
//! interval) up to a minute (reset once a run has lasted a minute), until shutdown. What a driver does with one input's failure (set it
//! aside, retry it at the next poll) is its own business; an `Err` is the driver's
//! own trouble (a lock held by another process, a mailbox that does not answer, a
//! listener that died).

pub(crate) mod api;
pub(crate) mod attempts;
pub(crate) mod inbox;
pub(crate) mod mailbox;
pub(crate) mod pull;

use crate::Parts;
use crate::error::Result;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Tells tasks the gateway is stopping: a `watch` channel whose sender the
/// [`crate::GatewayHandle`] holds. Tasks look at it only at safe points (between two
/// inputs, between two polls), so that what they are doing finishes first.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown signal and the sender that triggers it.
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    /// True once shutdown was asked for (or its sender is gone).
    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves once shutdown is asked for (or its sender is gone).
    pub async fn wait(&mut self) {
        while !*self.0.borrow_and_update() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }

    /// The `watch` receiver, for components that take one (the publisher).
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.0.clone()
    }
}

/// A long-running piece of the gateway.
pub(crate) trait Driver: Send + 'static {
    /// What it is, for logs (`inbox /srv/in`, `push API`): no personal data.
    fn name(&self) -> String;

    /// Runs until `shutdown` (`Ok`), or fails (`Err`: [`supervise`] starts it again).
    fn run(&mut self, parts: &Arc<Parts>, shutdown: &mut Shutdown) -> impl Future<Output = Result<()>> + Send;

    /// The shortest wait before it is started again after a failure (a pull waits its
    /// poll interval: a feed that fails alike every time is not fetched every second).
    fn min_restart_delay(&self) -> Duration {
        FIRST_RESTART_DELAY
    }
}

/// The first delay before a failed driver is started again; it doubles up to
/// [`MAX_RESTART_DELAY`].
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);

/// Runs `driver` until shutdown, starting it again after each failure.
pub(crate) async fn supervise<D: Driver>(mut driver: D, parts: Arc<Parts>, mut shutdown: Shutdown) {
    let mut delay = FIRST_RESTART_DELAY;
    loop {
        if shutdown.is_shutdown() {
            return;
        }
        let started = Instant::now();
        match driver.run(&parts, &mut shutdown).await {
            Ok(()) => return,
            Err(e) => {
                if started.elapsed() >= MAX_RESTART_DELAY {
                    delay = FIRST_RESTART_DELAY;
                }
                delay = delay.max(driver.min_restart_delay());
                tracing::error!(driver = %driver.name(), error = %e, code = e.as_code(), retry_in_secs = delay.as_secs(), "Driver failed; starting it again");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait() => return,
        }
        delay = (delay * 2).min(MAX_RESTART_DELAY.max(driver.min_restart_delay()));
    }
}
