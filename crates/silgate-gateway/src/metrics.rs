//! The gateway's Prometheus metrics ([`GatewayMetrics`], owned by the gateway's
//! [`crate::Parts`]: no process-global registry) and the driver that serves them with
//! the health probes when `[metrics] listen` is set: `GET /metrics` (OpenMetrics
//! text), `GET /healthz` (the process answers), `GET /readyz` (the queue answers).
//!
//! Ingest counts as it goes (`silgate_gateway_records_total{source, cpi, outcome}`
//! with outcome `queued` / `unchanged` / `rejected`, `..._rejections_total{source,
//! cpi, rule}`, `..._omissions_total{source, cpi, rule}`, `..._enqueued_total`). Delivery figures are read at scrape time, all
//! through prometheus-client's types: the publisher's counters, circuit breaker and
//! latency histogram by a registered collector ([`DeliveryCollector`]), the queue's
//! depth into gauges set just before the registry is encoded. Labels hold source
//! kinds, CPI codes and rule ids: never personal data.

use crate::Parts;
use crate::drivers::{Driver, Shutdown};
use crate::error::{GatewayError, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use silgate_core::Queue;
use silgate_publish::{BreakerState, CircuitBreaker, Counters, LATENCY_BOUNDS};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    source: String,
    cpi: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    source: String,
    cpi: String,
    rule: String,
}

/// The gateway's metrics: the ingest counters, the queue gauges and the delivery
/// collector, in one registry.
#[derive(Debug)]
pub struct GatewayMetrics {
    registry: Registry,
    records: Family<RecordLabels, Counter>,
    rejections: Family<RuleLabels, Counter>,
    omissions: Family<RuleLabels, Counter>,
    enqueued: Counter,
    queue_ready: Gauge,
    queue_leased: Gauge,
    dlq_size: Gauge,
    anchored: Gauge,
    delivery: Arc<DeliveryCollector>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GatewayMetrics {
    /// A fresh registry (`silgate_gateway_*`).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("silgate_gateway");
        let records = Family::<RecordLabels, Counter>::default();
        registry.register("records", "Records read from sources, by source kind, CPI and outcome (queued, unchanged, rejected)", records.clone());
        let rejections = Family::<RuleLabels, Counter>::default();
        registry.register("rejections", "Rejected records, by source kind, CPI and the rule they broke", rejections.clone());
        let omissions = Family::<RuleLabels, Counter>::default();
        registry.register(
            "omissions",
            "Optional elements left out of accepted records' documents (a code the standard cannot carry), by source kind, CPI and rule",
            omissions.clone(),
        );
        let enqueued = Counter::default();
        registry.register("enqueued", "Items put in the durable queue", enqueued.clone());
        let (queue_ready, queue_leased, dlq_size) = (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register("queue_ready", "Items waiting in the queue", queue_ready.clone());
        registry.register("queue_leased", "Items being delivered (-1: the backend does not say)", queue_leased.clone());
        registry.register("dlq_size", "Items in the dead-letter store", dlq_size.clone());
        let anchored = Gauge::default();
        registry.register("audit_anchored_timestamp_seconds", "Unix time of the last audit anchor written (0: none since start)", anchored.clone());
        let delivery = Arc::new(DeliveryCollector::default());
        registry.register_collector(Box::new(delivery.clone()));
        Self { registry, records, rejections, omissions, enqueued, queue_ready, queue_leased, dlq_size, anchored, delivery }
    }

    /// Notes an audit anchor written at `at_ms` (an alert sees anchoring stop).
    pub fn anchored(&self, at_ms: i64) {
        self.anchored.set(at_ms / 1000);
    }

    /// Counts one record of `source` and `cpi` with its outcome.
    pub fn record(&self, source: &str, cpi: &str, outcome: &str) {
        self.records.get_or_create(&RecordLabels { source: source.into(), cpi: cpi.into(), outcome: outcome.into() }).inc();
    }

    /// Counts one rejected record and the rule it broke.
    pub fn rejected(&self, source: &str, cpi: &str, rule: &str) {
        self.record(source, cpi, "rejected");
        self.rejections.get_or_create(&RuleLabels { source: source.into(), cpi: cpi.into(), rule: rule.into() }).inc();
    }

    /// Counts one element left out of an accepted record's document, by its rule.
    pub fn omitted(&self, source: &str, cpi: &str, rule: &str) {
        self.omissions.get_or_create(&RuleLabels { source: source.into(), cpi: cpi.into(), rule: rule.into() }).inc();
    }

    /// Counts items put in the queue.
    pub fn enqueued(&self, n: u64) {
        self.enqueued.inc_by(n);
    }

    /// Connects the publisher's figures (once; later calls are ignored).
    pub fn attach_delivery(&self, counters: Arc<Counters>, breaker: Arc<CircuitBreaker>) {
        let _already = self.delivery.source.set((counters, breaker));
    }

    /// The OpenMetrics text, the queue's depth read now from `queue`.
    pub async fn encode(&self, queue: &impl Queue) -> String {
        match queue.stats().await {
            Ok(q) => {
                self.queue_ready.set(i64::try_from(q.ready).unwrap_or(i64::MAX));
                self.queue_leased.set(q.leased.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)));
                self.dlq_size.set(i64::try_from(q.dead).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::warn!(error = %e, "Queue statistics unavailable for /metrics"),
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "Metrics could not be encoded");
        }
        out
    }
}

/// The publisher's delivery figures, encoded at scrape time: attempts, outcomes,
/// dequeued, breaker state, send latency.
#[derive(Debug, Default)]
pub struct DeliveryCollector {
    source: OnceLock<(Arc<Counters>, Arc<CircuitBreaker>)>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

impl Collector for DeliveryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some((c, breaker)) = self.source.get() else { return Ok(()) };
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let attempts = ConstCounter::new(get(&c.attempts));
        attempts.encode(encoder.encode_descriptor("delivery_attempts", "Sends to the national node", None, attempts.metric_type())?)?;
        let mut family = encoder.encode_descriptor("delivery_outcomes", "Outcomes of delivery, by kind", None, MetricType::Counter)?;
        for (outcome, v) in [
            ("delivered", get(&c.delivered)),
            ("already_delivered", get(&c.already_delivered)),
            ("refused", get(&c.refused)),
            ("transient", get(&c.transient)),
            ("dead_lettered", get(&c.dead_lettered)),
        ] {
            ConstCounter::new(v).encode(family.encode_family(&OutcomeLabels { outcome })?)?;
        }
        let dequeued = ConstCounter::new(get(&c.delivered) + get(&c.already_delivered) + get(&c.refused) + get(&c.dead_lettered));
        dequeued.encode(encoder.encode_descriptor("dequeued", "Items taken out of the queue for good (delivered, refused or dead-lettered)", None, dequeued.metric_type())?)?;
        let waited = ConstCounter::new(get(&c.waited_turn));
        waited.encode(encoder.encode_descriptor(
            "delivery_waited_turn",
            "Items given back untried because an earlier version of their record was not settled (RabbitMQ)",
            None,
            waited.metric_type(),
        )?)?;
        let state = ConstGauge::new(match breaker.state() {
            BreakerState::Closed => 0i64,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        });
        state.encode(encoder.encode_descriptor("breaker_state", "Circuit breaker towards the node: 0 closed, 1 half-open, 2 open", None, state.metric_type())?)?;
        let l = &c.latency;
        let mut buckets: Vec<(f64, u64)> = LATENCY_BOUNDS.iter().zip(&l.buckets).map(|(b, n)| (*b, get(n))).collect();
        buckets.push((f64::INFINITY, get(&l.buckets[LATENCY_BOUNDS.len()])));
        let sum = get(&l.sum_us) as f64 / 1e6;
        let mut h = encoder.encode_descriptor("delivery_latency_seconds", "Time of one send to the node", None, MetricType::Histogram)?;
        h.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, get(&l.count), &buckets, None)?;
        Ok(())
    }
}

/// Serves `/metrics`, `/healthz`, `/readyz`; its listener is bound at start.
#[derive(Debug)]
pub(crate) struct MetricsDriver {
    listener: Option<tokio::net::TcpListener>,
    addr: std::net::SocketAddr,
}

impl MetricsDriver {
    /// Binds `[metrics] listen`.
    pub(crate) async fn bind(listen: std::net::SocketAddr) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|err| GatewayError::Serve { what: "metrics.listen", err })?;
        let addr = listener.local_addr().map_err(|err| GatewayError::Serve { what: "metrics.listen", err })?;
        Ok(Self { listener: Some(listener), addr })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

async fn metrics(State(p): State<Arc<Parts>>) -> impl IntoResponse {
    let body = p.metrics.encode(&p.queue).await;
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
}

async fn ready(State(p): State<Arc<Parts>>) -> impl IntoResponse {
    match p.queue.stats().await {
        Ok(_) => (StatusCode::OK, "ready\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "queue unavailable\n"),
    }
}

impl Driver for MetricsDriver {
    fn name(&self) -> String {
        format!("metrics {}", self.addr)
    }

    async fn run(&mut self, parts: &Arc<Parts>, stop: &mut Shutdown) -> Result<()> {
        let listener = match self.listener.take() {
            Some(l) => l,
            None => tokio::net::TcpListener::bind(self.addr).await.map_err(|err| GatewayError::Serve { what: "metrics.listen", err })?,
        };
        let app = Router::new().route("/metrics", get(metrics)).route("/healthz", get(|| async { "ok\n" })).route("/readyz", get(ready)).with_state(parts.clone());
        tracing::info!(listen = %self.addr, "Metrics listening");
        let mut stop = stop.clone();
        axum::serve(listener, app).with_graceful_shutdown(async move { stop.wait().await }).await.map_err(|err| GatewayError::Serve { what: "metrics", err })
    }
}
