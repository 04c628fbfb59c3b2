//! The gateway's Prometheus metrics and health probes, served by `silgate run` when
//! `[metrics] listen` is set: `GET /metrics` (OpenMetrics text), `GET /healthz` (the
//! process answers), `GET /readyz` (the queue answers).
//!
//! Ingest counts as it goes (`silgate_gateway_records_total{source, cpi, outcome}`
//! with outcome `queued` / `unchanged` / `rejected`, `..._rejections_total{source,
//! cpi, rule}`, `..._enqueued_total`); delivery figures are read from the publisher
//! and the queue at scrape time (attempts, outcomes, dequeued, send latency histogram,
//! circuit breaker state, queue depth, dead letters). Labels hold source kinds, CPI
//! codes and rule ids: never personal data.

use crate::run::Parts;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use silgate_core::Queue;
use silgate_publish::{BreakerState, CircuitBreaker, Counters, LATENCY_BOUNDS};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use tokio::sync::watch;

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub(crate) listen: SocketAddr,
}

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

/// The counters ingest feeds.
#[derive(Debug)]
pub(crate) struct GatewayMetrics {
    registry: Registry,
    records: Family<RecordLabels, Counter>,
    rejections: Family<RuleLabels, Counter>,
    enqueued: Counter,
}

/// The process's metrics.
pub(crate) fn global() -> &'static GatewayMetrics {
    static M: OnceLock<GatewayMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let mut registry = Registry::with_prefix("silgate_gateway");
        let records = Family::<RecordLabels, Counter>::default();
        registry.register("records", "Records read from sources, by source kind, CPI and outcome (queued, unchanged, rejected)", records.clone());
        let rejections = Family::<RuleLabels, Counter>::default();
        registry.register("rejections", "Rejected records, by source kind, CPI and the rule they broke", rejections.clone());
        let enqueued = Counter::default();
        registry.register("enqueued", "Items put in the durable queue", enqueued.clone());
        GatewayMetrics { registry, records, rejections, enqueued }
    })
}

impl GatewayMetrics {
    pub(crate) fn record(&self, source: &str, cpi: &str, outcome: &str) {
        self.records.get_or_create(&RecordLabels { source: source.into(), cpi: cpi.into(), outcome: outcome.into() }).inc();
    }

    pub(crate) fn rejected(&self, source: &str, cpi: &str, rule: &str) {
        self.record(source, cpi, "rejected");
        self.rejections.get_or_create(&RuleLabels { source: source.into(), cpi: cpi.into(), rule: rule.into() }).inc();
    }

    pub(crate) fn enqueued(&self, n: u64) {
        self.enqueued.inc_by(n);
    }
}

struct Scrape {
    parts: Arc<Parts>,
    counters: Arc<Counters>,
    breaker: Arc<CircuitBreaker>,
}

fn counter(out: &mut String, name: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP silgate_gateway_{name} {help}\n# TYPE silgate_gateway_{name} counter");
    for (labels, v) in samples {
        let _ = writeln!(out, "silgate_gateway_{name}_total{labels} {v}");
    }
}

fn gauge(out: &mut String, name: &str, help: &str, v: i64) {
    let _ = writeln!(out, "# HELP silgate_gateway_{name} {help}\n# TYPE silgate_gateway_{name} gauge\nsilgate_gateway_{name} {v}");
}

async fn metrics(State(s): State<Arc<Scrape>>) -> impl IntoResponse {
    let m = global();
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &m.registry);
    let mut out = out.trim_end().trim_end_matches("# EOF").to_string();
    let c = &s.counters;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    counter(&mut out, "delivery_attempts", "Sends to the national node", &[("", get(&c.attempts))]);
    counter(
        &mut out,
        "delivery_outcomes",
        "Outcomes of delivery, by kind",
        &[
            ("{outcome=\"delivered\"}", get(&c.delivered)),
            ("{outcome=\"already_delivered\"}", get(&c.already_delivered)),
            ("{outcome=\"refused\"}", get(&c.refused)),
            ("{outcome=\"transient\"}", get(&c.transient)),
            ("{outcome=\"dead_lettered\"}", get(&c.dead_lettered)),
        ],
    );
    let dequeued = get(&c.delivered) + get(&c.already_delivered) + get(&c.refused) + get(&c.dead_lettered);
    counter(&mut out, "dequeued", "Items taken out of the queue for good (delivered, refused or dead-lettered)", &[("", dequeued)]);
    let state = match s.breaker.state() {
        BreakerState::Closed => 0,
        BreakerState::HalfOpen => 1,
        BreakerState::Open => 2,
    };
    gauge(&mut out, "breaker_state", "Circuit breaker towards the node: 0 closed, 1 half-open, 2 open", state);
    if let Ok(q) = s.parts.queue.stats().await {
        gauge(&mut out, "queue_ready", "Items waiting in the queue", i64::try_from(q.ready).unwrap_or(i64::MAX));
        gauge(&mut out, "queue_leased", "Items being delivered", q.leased.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)));
        gauge(&mut out, "dlq_size", "Items in the dead-letter store", i64::try_from(q.dead).unwrap_or(i64::MAX));
    }
    let _ = writeln!(out, "# HELP silgate_gateway_delivery_latency_seconds Time of one send to the node\n# TYPE silgate_gateway_delivery_latency_seconds histogram");
    let mut cumulative = 0;
    for (i, b) in LATENCY_BOUNDS.iter().enumerate() {
        cumulative += get(&c.latency.buckets[i]);
        let _ = writeln!(out, "silgate_gateway_delivery_latency_seconds_bucket{{le=\"{b}\"}} {cumulative}");
    }
    cumulative += get(&c.latency.buckets[LATENCY_BOUNDS.len()]);
    let _ = writeln!(out, "silgate_gateway_delivery_latency_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(out, "silgate_gateway_delivery_latency_seconds_sum {}", get(&c.latency.sum_us) as f64 / 1e6);
    let _ = writeln!(out, "silgate_gateway_delivery_latency_seconds_count {}", get(&c.latency.count));
    out.push_str("# EOF\n");
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], out)
}

async fn ready(State(s): State<Arc<Scrape>>) -> impl IntoResponse {
    match s.parts.queue.stats().await {
        Ok(_) => (StatusCode::OK, "ready\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "queue unavailable\n"),
    }
}

/// Serves `/metrics`, `/healthz`, `/readyz` until `stop`.
pub(crate) async fn serve(cfg: MetricsConfig, parts: Arc<Parts>, counters: Arc<Counters>, breaker: Arc<CircuitBreaker>, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let state = Arc::new(Scrape { parts, counters, breaker });
    let app = Router::new().route("/metrics", get(metrics)).route("/healthz", get(|| async { "ok\n" })).route("/readyz", get(ready)).with_state(state);
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    tracing::info!(listen = %listener.local_addr()?, "metrics listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await?;
    Ok(())
}
