//! The node's Prometheus metrics (prometheus-client). Labels carry kinds, outcomes
//! and region codes only: never personal data.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DocLabels {
    pub(crate) region: String,
    pub(crate) kind: String,
    pub(crate) outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FaultLabels {
    pub(crate) fault: String,
}

#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) registry: Registry,
    pub(crate) documents: Family<DocLabels, Counter>,
    pub(crate) faults: Family<FaultLabels, Counter>,
    pub(crate) envelope_refused: Counter,
    pub(crate) retry_after_violations: Counter,
    pub(crate) documents_purged: Counter,
    pub(crate) latency: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("silgate_node");
        let documents = Family::<DocLabels, Counter>::default();
        registry.register("documents", "Documents received, by region, kind and outcome (accepted, rejected, duplicate)", documents.clone());
        let faults = Family::<FaultLabels, Counter>::default();
        registry.register("faults_injected", "Faults injected, by kind (outage, error, throttle, reject)", faults.clone());
        let envelope_refused = Counter::default();
        registry.register("envelopes_refused", "Requests refused for a malformed envelope or header", envelope_refused.clone());
        let retry_after_violations = Counter::default();
        registry.register("retry_after_violations", "Requests that came back before the Retry-After they were given", retry_after_violations.clone());
        let documents_purged = Counter::default();
        registry.register("documents_purged", "Received documents whose content was deleted, its retention past", documents_purged.clone());
        let latency = Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]);
        registry.register("request_duration_seconds", "Time to answer one request", latency.clone());
        Self { registry, documents, faults, envelope_refused, retry_after_violations, documents_purged, latency }
    }

    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
