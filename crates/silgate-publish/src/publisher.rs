//! The delivery loop.

use crate::PublishError;
use crate::breaker::CircuitBreaker;
use crate::client::{NodeClient, Outcome};
use backon::BackoffBuilder as _;
use silgate_audit::{Auditor, DeadReason, Event, NewEntry, SeenAgain};
use silgate_core::{Leased, Queue, QueueItem};
use silgate_dedup::{DedupIndex, Fate, Identity};
use silgate_std1546::egov::{self, Action};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

/// Retry and concurrency settings (`[delivery]` in config).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Attempts per item before it is dead-lettered.
    pub max_attempts: u32,
    /// First backoff step, milliseconds.
    pub min_delay_ms: u64,
    /// Largest backoff step, milliseconds.
    pub max_delay_ms: u64,
    /// Consecutive transient failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker stays open, milliseconds.
    pub breaker_cooldown_ms: u64,
    /// Deliveries of one item (across crashes) after which it is dead-lettered as
    /// poison without another attempt.
    pub max_deliveries: u32,
    /// The longest `Retry-After` a worker waits out itself, seconds; a longer one
    /// releases the item to the queue with that delay, and the worker goes on with
    /// others. (default: 900)
    pub max_retry_after_secs: u64,
    /// How often the lease of an item being delivered is renewed, seconds: while its
    /// send and its waits last, so that it is never handed to a second worker (the
    /// gateway renews at least twice per visibility timeout). (default: 60)
    pub lease_renew_secs: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            max_attempts: 12,
            min_delay_ms: 200,
            max_delay_ms: 30_000,
            breaker_failures: 8,
            breaker_cooldown_ms: 5_000,
            max_deliveries: 20,
            max_retry_after_secs: 900,
            lease_renew_secs: 60,
        }
    }
}

/// What [`RefusalSink::refused`] returns: done once the refusal is written down.
pub type Refusal<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send + 'a>>;

/// Where permanently refused records go (the gateway's quarantine, and its store of
/// refusals kept for a replay).
pub trait RefusalSink: Send + Sync {
    /// The node refused `item` for good with `code` / `reason`. An error (the
    /// quarantine could not be written) keeps the item in the queue: it is not acked,
    /// and comes back.
    fn refused<'a>(&'a self, item: &'a QueueItem, code: &'a str, reason: &'a str) -> Refusal<'a>;
}

/// Running totals, for the demo and metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Delivered (OK or duplicate at the node).
    pub delivered: AtomicU64,
    /// Found delivered in the dedup index and acked without sending.
    pub already_delivered: AtomicU64,
    /// Refused by the node (quarantined).
    pub refused: AtomicU64,
    /// Dead-lettered.
    pub dead_lettered: AtomicU64,
    /// Attempts made.
    pub attempts: AtomicU64,
    /// Transient failures.
    pub transient: AtomicU64,
    /// Items given back untried: an earlier version of their record was not settled.
    pub waited_turn: AtomicU64,
    /// Time of each send (request to answer).
    pub latency: Latency,
}

/// How long an item waits, given back, while an earlier version of its record is
/// still unsettled (RabbitMQ: the shortest delay queue).
pub(crate) const TURN_WAIT: Duration = Duration::from_secs(1);

/// How long after its ingest an item the dedup index has not placed in its record's
/// order yet waits for that, milliseconds.
const UNPLACED_WAIT_MS: i64 = 60_000;

/// Upper bounds, seconds, of the send-latency buckets.
pub const LATENCY_BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// A latency histogram of atomic counters (Prometheus buckets are cumulative: the
/// exporter adds them up).
#[derive(Debug, Default)]
pub struct Latency {
    /// Observations per bucket of [`LATENCY_BOUNDS`], the last one above them all.
    pub buckets: [AtomicU64; 11],
    /// Sum of the observations, microseconds.
    pub sum_us: AtomicU64,
    /// Number of observations.
    pub count: AtomicU64,
}

impl Latency {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BOUNDS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// See the crate documentation.
#[derive(Clone)]
pub struct Publisher<Q: Queue> {
    queue: Q,
    dedup: DedupIndex,
    client: NodeClient,
    audit: Auditor,
    cfg: RetryConfig,
    breaker: Arc<CircuitBreaker>,
    sink: Arc<dyn RefusalSink>,
    counters: Arc<Counters>,
}

impl<Q: Queue> std::fmt::Debug for Publisher<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("endpoint", &self.client.endpoint()).field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

fn offer(item: &QueueItem) -> Identity {
    Identity { message_id: item.message_id.clone(), key_hash: item.key_hash.clone(), content_hash: item.content_hash.clone() }
}

fn entry(event: Event, item: &QueueItem) -> NewEntry {
    NewEntry::now(event, Some(&item.message_id), Some(&item.communication_code), Some(&item.cpi))
}

fn stamp_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

/// A successful delivery waiting to be committed by the settler.
struct Settle {
    lease: silgate_core::LeaseId,
    offer: Identity,
    receipt: String,
    entries: Vec<NewEntry>,
}

enum Done {
    /// Acked (delivered, refused) or dead-lettered.
    Settled,
    /// Shutdown interrupted a retry wait: the lease was released.
    Released,
}

impl<Q: Queue + Clone + 'static> Publisher<Q> {
    /// A publisher over `queue`, delivering with `client`.
    pub fn new(queue: Q, dedup: DedupIndex, client: NodeClient, audit: Auditor, cfg: RetryConfig, sink: Arc<dyn RefusalSink>) -> Self {
        let breaker = Arc::new(CircuitBreaker::new(cfg.breaker_failures, Duration::from_millis(cfg.breaker_cooldown_ms)));
        Self { queue, dedup, client, audit, cfg, breaker, sink, counters: Arc::new(Counters::default()) }
    }

    /// The running totals.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// The breaker of the endpoint.
    pub fn breaker(&self) -> Arc<CircuitBreaker> {
        self.breaker.clone()
    }

    /// Delivers until `stop` turns true, then finishes the requests in flight
    /// (releasing items that were only waiting to retry) and returns. With
    /// `until_empty`, also returns once the queue has been empty for `until_empty`.
    ///
    /// Bookkeeping is batched: one read of the dedup index and one commit of eGov ids
    /// per leased batch before sending; successful deliveries are settled together by
    /// one task (dedup index commit, then audit commit, then queue acks, in that order).
    pub async fn run(&self, mut stop: watch::Receiver<bool>, until_empty: Option<Duration>) -> Result<(), PublishError> {
        let width = self.cfg.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(width));
        let (settle_tx, settle_rx) = mpsc::channel::<Settle>(width * 4);
        let settler = tokio::spawn(self.clone().settle(settle_rx, stop.clone()));
        let mut idle_since: Option<std::time::Instant> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            let free = slots.available_permits();
            if free == 0 {
                tokio::select! {
                    p = slots.clone().acquire_owned() => drop(p),
                    _ = stop.changed() => {}
                }
                continue;
            }
            let leased = tokio::select! {
                l = self.queue.lease(free, Duration::from_millis(250)) => l,
                _ = stop.changed() => continue,
            };
            let leased = match leased {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "lease failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if leased.is_empty() {
                if let Some(limit) = until_empty {
                    let idle = *idle_since.get_or_insert_with(std::time::Instant::now);
                    if idle.elapsed() >= limit && slots.available_permits() == width && settle_tx.capacity() == settle_tx.max_capacity() {
                        break;
                    }
                }
                continue;
            }
            idle_since = None;
            let leases: Vec<_> = leased.iter().map(|l| l.lease).collect();
            let ready = match self.prepare(leased).await {
                Ok(r) => r,
                Err(e) => {
                    // Give the items back now rather than when their leases lapse.
                    tracing::error!(error = %e, code = e.as_code(), "Could not prepare a leased batch; releasing it");
                    self.release_all(leases).await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            for (l, egov_id) in ready {
                let Ok(permit) = slots.clone().acquire_owned().await else { break };
                let me = self.clone();
                let stop = stop.clone();
                let settle = settle_tx.clone();
                tokio::spawn(async move {
                    let lease = l.lease;
                    if let Err(e) = me.deliver(l, egov_id, stop, settle).await {
                        tracing::error!(error = %e, code = e.as_code(), "Delivery bookkeeping failed; the item goes back to the queue");
                        // Given back now (a RabbitMQ delivery has no timer of its own);
                        // one already settled refuses the release, harmlessly.
                        me.release_all(vec![lease]).await;
                    }
                    drop(permit);
                });
            }
        }
        // Drain: every in-flight delivery settles or releases, then the settler empties.
        let _all = slots.acquire_many(u32::try_from(width).unwrap_or(u32::MAX)).await;
        drop(settle_tx);
        settler.await.map_err(|e| PublishError::Task(format!("settler task: {e}")))?;
        Ok(())
    }

    /// Acks the already-delivered items of a leased batch and gives the others their
    /// eGov ids (persisted in one commit before any is sent).
    async fn prepare(&self, leased: Vec<Leased>) -> Result<Vec<(Leased, String)>, PublishError> {
        let leased = self.decided(leased).await?;
        let ids = leased.iter().map(|l| l.item.message_id.clone()).collect();
        let receipts = self.dedup.delivered_many(ids).await?;
        // Found delivered, but with no `delivered` entry: the process died between
        // recording the delivery and auditing it. The entry is written now, marked
        // recovered, with the eGov id the send went under (persisted before it).
        let found: Vec<String> = leased.iter().zip(&receipts).filter(|(_, r)| r.is_some()).map(|(l, _)| l.item.message_id.clone()).collect();
        let mut untold: std::collections::HashSet<String> = self.audit.log().lacking("delivered", found).await?.into_iter().collect();
        let recovered: Vec<&Leased> = leased.iter().filter(|l| untold.contains(&l.item.message_id)).collect();
        let egov_of: std::collections::HashMap<String, String> = if recovered.is_empty() {
            std::collections::HashMap::new()
        } else {
            let sender = self.client.sender().to_string();
            let (stamp, for_id) = (stamp_now(), sender.clone());
            let ids = self.dedup.egov_ids(recovered.iter().map(|l| offer(&l.item)).collect(), &sender, move |n| egov::message_id(&for_id, n, &stamp)).await?;
            recovered.iter().map(|l| l.item.message_id.clone()).zip(ids).collect()
        };
        let mut todo = Vec::with_capacity(leased.len());
        let mut done = Vec::new();
        let mut entries = Vec::new();
        for (l, receipt) in leased.into_iter().zip(receipts) {
            match receipt {
                // Told once, however many copies the lease holds.
                Some(receipt) if untold.remove(&l.item.message_id) => {
                    let egov_id = egov_of.get(&l.item.message_id).cloned().unwrap_or_default();
                    entries.push(entry(Event::Delivered { receipt, egov_id, recovered: true }, &l.item));
                    done.push(l.lease);
                }
                Some(r) => {
                    entries.push(entry(Event::Deduplicated { count: 1, why: SeenAgain::AlreadyDelivered, at: None, receipt: Some(r) }, &l.item));
                    done.push(l.lease);
                }
                None if l.deliveries > self.cfg.max_deliveries => {
                    // Audited first: a dead letter is never without its entry.
                    self.audit.one(entry(Event::DeadLettered { reason: DeadReason::Poison { deliveries: l.deliveries } }, &l.item)).await?;
                    self.dedup.mark_dead(&l.item.message_id).await?;
                    self.queue.dead_letter(l.lease, "delivery.poison: handed out too many times").await?;
                    self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                }
                None => todo.push(l),
            }
        }
        if !done.is_empty() {
            self.counters.already_delivered.fetch_add(done.len() as u64, Ordering::Relaxed);
            self.audit.record(entries).await?;
            self.queue.ack_all(done).await?;
        } else {
            self.audit.record(entries).await?;
        }
        let todo = self.in_turn(todo).await?;
        let sender = self.client.sender().to_string();
        let stamp = stamp_now();
        let for_id = sender.clone();
        let egov = self.dedup.egov_ids(todo.iter().map(|l| offer(&l.item)).collect(), &sender, move |n| egov::message_id(&for_id, n, &stamp)).await?;
        Ok(todo.into_iter().zip(egov).collect())
    }

    /// On a queue that cannot move or delete one item by itself (RabbitMQ), what the
    /// index decided before the broker handed these out: a version marked dead (and
    /// audited) before a move to the dead-letter store that did not happen is moved
    /// now, not sent (its record's later versions are already going); one erased on a
    /// person's request (and audited) while the broker held it is dropped, before
    /// anything else looks at it (not even its content goes to a dead-letter queue).
    async fn decided(&self, leased: Vec<Leased>) -> Result<Vec<Leased>, PublishError> {
        if self.queue.orders_keys() || leased.is_empty() {
            return Ok(leased);
        }
        let fates = self.dedup.fates(leased.iter().map(|l| l.item.message_id.clone()).collect()).await?;
        let mut alive = Vec::with_capacity(leased.len());
        for (l, fate) in leased.into_iter().zip(fates) {
            match fate {
                Fate::Dead => {
                    self.queue.dead_letter(l.lease, "delivery.dead: dead-lettered before an interruption").await?;
                    self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                }
                Fate::Erased => self.queue.ack(l.lease).await?,
                Fate::Open => alive.push(l),
            }
        }
        Ok(alive)
    }

    /// Keeps the versions of a record in order on a queue that does not (RabbitMQ): an
    /// item whose record has an earlier version still unsettled in the dedup index is
    /// given back untried, to come again after [`TURN_WAIT`]; the others go on. On a
    /// queue that orders keys itself (SQLite) every item is in its turn already.
    async fn in_turn(&self, todo: Vec<Leased>) -> Result<Vec<Leased>, PublishError> {
        if self.queue.orders_keys() || todo.is_empty() {
            return Ok(todo);
        }
        let behind = self.dedup.waiting_behind(todo.iter().map(|l| l.item.message_id.clone()).collect()).await?;
        let mut go = Vec::with_capacity(todo.len());
        let now = silgate_store::now_ms();
        for (l, behind) in todo.into_iter().zip(behind) {
            // Not in the index yet: ingest tells it right after the queue's commit, and
            // the item can be here first. It waits for that, a while: an item whose
            // ingest died in between (or queued by an older build) then goes.
            let wait = behind.unwrap_or_else(|| now.saturating_sub(l.item.received_ms) < UNPLACED_WAIT_MS);
            if wait {
                self.counters.waited_turn.fetch_add(1, Ordering::Relaxed);
                self.queue.defer(l.lease, TURN_WAIT).await?;
            } else {
                go.push(l);
            }
        }
        Ok(go)
    }

    /// Commits successful deliveries in batches: dedup index first, then the audit,
    /// then the queue acks (DESIGN §3.2: recorded before acked).
    async fn settle(self, mut rx: mpsc::Receiver<Settle>, mut stop: watch::Receiver<bool>) {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < 512 {
                match rx.try_recv() {
                    Ok(s) => batch.push(s),
                    Err(_) => break,
                }
            }
            let n = batch.len() as u64;
            let mut marks = Vec::with_capacity(batch.len());
            let mut leases = Vec::with_capacity(batch.len());
            let mut entries = Vec::with_capacity(batch.len() * 2);
            for s in batch {
                marks.push((s.offer, s.receipt));
                leases.push(s.lease);
                entries.extend(s.entries);
            }
            if let Err(e) = self.dedup.mark_delivered_many(marks).await {
                tracing::error!(error = %e, "Could not record deliveries; the items will be offered again (the node is idempotent)");
                self.release_all(leases).await;
                continue;
            }
            // Nothing is acked before its delivery is audited: the write is tried again
            // (the leases kept alive meanwhile) until it succeeds; only a shutdown in
            // the middle gives the items back unaudited (they come back found delivered).
            if !self.audit_settled(&entries, &leases, &mut stop).await {
                self.release_all(leases).await;
                continue;
            }
            if let Err(e) = self.queue.ack_all(leases).await {
                tracing::warn!(error = %e, "Ack failed; the delivered items will come back and be acked as already delivered");
            }
            self.counters.delivered.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Audits settled deliveries, trying again (with a delay doubling to 30 s, the
    /// leases kept alive) until the write succeeds: true; false when the publisher is
    /// stopped first.
    async fn audit_settled(&self, entries: &[NewEntry], leases: &[silgate_core::LeaseId], stop: &mut watch::Receiver<bool>) -> bool {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.audit.record(entries.to_vec()).await {
                Ok(()) => return true,
                Err(e) => tracing::error!(error = %e, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "Could not audit deliveries; they wait, unacked"),
            }
            if *stop.borrow() {
                return false;
            }
            for l in leases {
                if let Err(e) = self.queue.keep_alive(*l).await {
                    tracing::warn!(error = %e, "Could not keep a settled item's lease alive");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => {}
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }

    /// Runs `fut` while renewing `lease` every `lease_renew_secs`: a send or a wait that
    /// lasts keeps its item (a renewal that fails is logged; the lease may lapse).
    async fn held<T>(&self, lease: silgate_core::LeaseId, fut: impl std::future::Future<Output = T>) -> T {
        let every = Duration::from_secs(self.cfg.lease_renew_secs.max(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return out,
                _ = tick.tick() => {
                    if let Err(e) = self.queue.keep_alive(lease).await {
                        tracing::warn!(error = %e, "Could not renew a lease during its delivery");
                    }
                }
            }
        }
    }

    /// Gives leases back at once; one that cannot be given back lapses at its
    /// visibility timeout instead (logged: nothing is lost either way).
    async fn release_all(&self, leases: Vec<silgate_core::LeaseId>) {
        for l in leases {
            if let Err(e) = self.queue.release(l, Duration::from_secs(1)).await {
                tracing::warn!(error = %e, "Could not release a lease; it lapses at its visibility timeout");
            }
        }
    }

    async fn deliver(&self, l: Leased, egov_id: String, mut stop: watch::Receiver<bool>, settle: mpsc::Sender<Settle>) -> Result<Done, PublishError> {
        let item = &l.item;
        let o = offer(item);
        let action = Action::for_kind(item.kind);
        let mut steps = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.cfg.min_delay_ms))
            .with_max_delay(Duration::from_millis(self.cfg.max_delay_ms))
            .with_factor(2.0)
            .without_max_times()
            .build();
        let mut last = String::new();
        for attempt in 1..=self.cfg.max_attempts.max(1) {
            let permit = tokio::select! {
                p = self.breaker.acquire() => p,
                _ = stop.changed() => {
                    self.queue.release(l.lease, Duration::ZERO).await?;
                    return Ok(Done::Released);
                }
            };
            self.counters.attempts.fetch_add(1, Ordering::Relaxed);
            let sent = std::time::Instant::now();
            // Renewed now (time went by in the breaker, or in the wait before), then while
            // the send lasts.
            if let Err(e) = self.queue.keep_alive(l.lease).await {
                tracing::warn!(error = %e, "Could not renew a lease before its send");
            }
            let outcome = self.held(l.lease, self.client.send(action, &egov_id, &item.document)).await;
            self.counters.latency.observe(sent.elapsed());
            let tried = Event::Attempt {
                n: attempt,
                outcome: outcome.class().to_string(),
                egov_id: egov_id.clone(),
                detail: match &outcome {
                    Outcome::Transient { detail, .. } => Some(detail.clone()),
                    _ => None,
                },
            };
            match outcome {
                Outcome::Delivered { receipt } | Outcome::Duplicate { receipt } => {
                    self.breaker.success(permit);
                    let entries = vec![entry(tried, item), entry(Event::Delivered { receipt: receipt.clone(), egov_id: egov_id.clone(), recovered: false }, item)];
                    if settle.send(Settle { lease: l.lease, offer: o, receipt, entries }).await.is_err() {
                        return Err(PublishError::Task("settler stopped".into()));
                    }
                    return Ok(Done::Settled);
                }
                Outcome::Refused { code, reason } => {
                    self.breaker.success(permit);
                    self.audit.one(entry(tried, item)).await?;
                    self.sink.refused(item, &code, &reason).await.map_err(|e| PublishError::Quarantine(e.to_string()))?;
                    self.audit.one(entry(Event::Refused { code }, item)).await?;
                    // Settled but still known while it leaves the queue: a re-export
                    // admitted in between must not be queued beside the item about to be
                    // acked (it would be dropped with it), and the record's later
                    // versions may go. A crash before the last step leaves the version
                    // known, as it always was: a later change of it is sent.
                    self.dedup.mark_refusing(&item.message_id).await?;
                    self.queue.ack(l.lease).await?;
                    self.dedup.mark_refused(&item.message_id).await?;
                    self.counters.refused.fetch_add(1, Ordering::Relaxed);
                    return Ok(Done::Settled);
                }
                Outcome::Transient { class, detail: why, retry_after } => {
                    // A node that asks for longer than a worker waits gets its item back
                    // in the queue, due after the time it asked for (a day at most): said
                    // in the attempt's entry.
                    let release = retry_after.filter(|ra| *ra > Duration::from_secs(self.cfg.max_retry_after_secs)).map(|ra| ra.min(Duration::from_secs(86_400)));
                    let tried = match (tried, release) {
                        (Event::Attempt { n, outcome, egov_id, detail }, Some(ra)) => Event::Attempt {
                            n,
                            outcome,
                            egov_id,
                            detail: Some(format!("{}; released to the queue for {} s (Retry-After)", detail.unwrap_or_default(), ra.as_secs())),
                        },
                        (t, _) => t,
                    };
                    self.audit.one(entry(tried, item)).await?;
                    self.breaker.failure(permit);
                    self.counters.transient.fetch_add(1, Ordering::Relaxed);
                    last = format!("{class}: {why}");
                    if attempt == self.cfg.max_attempts.max(1) {
                        break;
                    }
                    let step = steps.next().unwrap_or(Duration::from_millis(self.cfg.max_delay_ms));
                    let jittered = Duration::from_millis(fastrand::u64(0..=u64::try_from(step.as_millis()).unwrap_or(u64::MAX)));
                    if let Some(ra) = release {
                        tracing::info!(retry_after_secs = ra.as_secs(), "The node asked for a long pause; the item goes back to the queue until then");
                        self.queue.release(l.lease, ra).await?;
                        return Ok(Done::Released);
                    }
                    let wait = match retry_after {
                        Some(ra) => ra.max(jittered),
                        None => jittered,
                    };
                    // Still ours while we wait: a long retry sequence must not let the
                    // lease lapse and hand the item to a second worker.
                    self.queue.keep_alive(l.lease).await?;
                    tokio::select! {
                        _ = self.held(l.lease, tokio::time::sleep(wait)) => {}
                        _ = stop.changed() => {
                            self.queue.release(l.lease, Duration::ZERO).await?;
                            return Ok(Done::Released);
                        }
                    }
                }
            }
        }
        let reason = format!("delivery.attempts-exhausted: {last}");
        // Audited first: a dead letter is never without its entry.
        self.audit.one(entry(Event::DeadLettered { reason: DeadReason::AttemptsExhausted { attempts: self.cfg.max_attempts } }, item)).await?;
        // Settled in the index first: the record's later versions may go.
        self.dedup.mark_dead(&item.message_id).await?;
        self.queue.dead_letter(l.lease, &reason).await?;
        self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
        Ok(Done::Settled)
    }
}
