//! The delivery client: one document, one SOAP request, one classified [`Outcome`].
//!
//! HTTPS with rustls (ring), the node's certificate checked against the configured CA
//! only (no system roots: the national node is reached through SPCoop's own PKI), and
//! the region's client certificate presented (mTLS). The outcome classes are those of
//! egov.md: delivered, duplicate (counts as delivered), refused (permanent: quarantine,
//! no retry) and transient (retry, honouring `Retry-After`).

use crate::PublishError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use silgate_std1546::egov::{self, Action, Header};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to reach the node.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The SOAP endpoint (`https://node.example:8443/ws/cliclavoro`).
    pub url: String,
    /// PEM CA that signs the node's certificate (required for https).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain of this region (mTLS).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// The eGov `Servizio`.
    #[serde(default = "default_service")]
    pub service: String,
    /// Per-request timeout, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Send plain SOAP without the eGov header to a regional Porta di Dominio that adds
    /// it; `url` is then the PdD's base (`https://pdd.example/pdd/PD`) and each request
    /// goes to `<url>/<service>/<azione>`.
    #[serde(default)]
    pub plain_soap: bool,
}

impl ClientConfig {
    /// A node at `url` with every other setting at its default (no certificates).
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ca: None, client_cert: None, client_key: None, service: default_service(), timeout_secs: default_timeout(), plain_soap: false }
    }
}

fn default_service() -> String {
    "ClicLavoro".into()
}

fn default_timeout() -> u64 {
    30
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `OK`: the node holds the document; its receipt id.
    Delivered {
        /// The node's receipt (its reply message id).
        receipt: String,
    },
    /// `EGOV_IT_110` "already processed": delivered before.
    Duplicate {
        /// The receipt, when the node gave one.
        receipt: String,
    },
    /// Permanent: `KO`, a `Client` fault or an `EGOV_IT_1xx` other than 110.
    Refused {
        /// Rule ids or eGov code.
        code: String,
        /// The node's description (no document content).
        reason: String,
    },
    /// Retry later.
    Transient {
        /// `connect`, `timeout`, `tls`, `http-5xx`, `http-429`, `soap-server`, `http-other`, `garbled`.
        class: &'static str,
        /// Detail for the audit (no document content).
        detail: String,
        /// The node's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
}

impl Outcome {
    /// Short class for audit and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "delivered",
            Self::Duplicate { .. } => "duplicate",
            Self::Refused { .. } => "refused",
            Self::Transient { class, .. } => class,
        }
    }
}

/// The HTTP client towards one node endpoint.
#[derive(Debug, Clone)]
pub struct NodeClient {
    http: reqwest::Client,
    cfg: Arc<ClientConfig>,
    sender: String,
}

fn tls_err(what: &str, p: &std::path::Path, e: impl std::fmt::Display) -> PublishError {
    PublishError::Config(format!("{what} {}: {e}", p.display()))
}

/// A rustls client configuration trusting only the CA certificates of `ca` (PEM), with
/// a client certificate when `client_cert` and `client_key` are both given. Shared by
/// the node client and the gateway's HTTPS pulls (Sintesi).
pub fn tls_config(ca: &std::path::Path, client_cert: Option<&std::path::Path>, client_key: Option<&std::path::Path>) -> Result<rustls::ClientConfig, PublishError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| tls_err("reading CA", ca, e))? {
        roots.add(c.map_err(|e| tls_err("reading CA", ca, e))?).map_err(|e| tls_err("CA", ca, e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().map_err(|e| PublishError::Config(e.to_string()))?.with_root_certificates(roots);
    let tls = match (client_cert, client_key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| tls_err("reading client certificate", cert, e))?
                .collect::<Result<_, _>>()
                .map_err(|e| tls_err("reading client certificate", cert, e))?;
            let k = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err("reading client key", key, e))?;
            builder.with_client_auth_cert(chain, k).map_err(|e| PublishError::Config(format!("client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(PublishError::Config("client_cert and client_key go together".into())),
    };
    Ok(tls)
}

impl NodeClient {
    /// Builds the client; `sender` is the region's eGov party name (`PUGLIA`).
    pub fn new(cfg: ClientConfig, sender: &str) -> Result<Self, PublishError> {
        // No redirect is followed: the node is the one configured endpoint, and a 3xx
        // (to plain HTTP, or elsewhere) is an answer to classify, not a place to go.
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            // Shorter than a server's usual idle limit (the reference node's is 15 s):
            // a kept connection is dropped here before the server closes it under a
            // request.
            .pool_idle_timeout(Duration::from_secs(10))
            .http1_only()
            .redirect(reqwest::redirect::Policy::none());
        if cfg.url.starts_with("https://") {
            let ca = cfg.ca.as_ref().ok_or_else(|| PublishError::Config("node.ca is required for an https node".into()))?;
            let tls = tls_config(ca, cfg.client_cert.as_deref(), cfg.client_key.as_deref())?;
            b = b.tls_backend_preconfigured(tls);
        } else if !plain_http_allowed(&cfg.url) {
            return Err(PublishError::Config(format!("plain http is only allowed to a loopback node, not {}", cfg.url)));
        } else {
            // Plain HTTP still needs a TLS backend to build the client (reqwest has no
            // default crypto provider here): one that trusts nothing, never used.
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let none = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| PublishError::Config(e.to_string()))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            b = b.tls_backend_preconfigured(none);
        }
        let http = b.build().map_err(|e| PublishError::Config(format!("HTTP client: {e}")))?;
        tracing::info!(url = %cfg.url, plain_soap = cfg.plain_soap, service = %cfg.service, "node client ready");
        Ok(Self { http, cfg: Arc::new(cfg), sender: sender.to_string() })
    }

    /// The endpoint URL (circuit breakers are per endpoint).
    pub fn endpoint(&self) -> &str {
        &self.cfg.url
    }

    /// The eGov sender name.
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// Sends one document under `egov_id` and classifies the answer.
    pub async fn send(&self, action: Action, egov_id: &str, document: &str) -> Outcome {
        let header = Header {
            sender: self.sender.clone(),
            receiver: egov::NATIONAL.into(),
            service: self.cfg.service.clone(),
            action: action.name().into(),
            message_id: egov_id.to_string(),
            registered_at: registered_at(egov_id),
            reference: None,
            inoltro: Some(egov::AT_MOST_ONCE.into()),
            conferma: Some("false".into()),
            exceptions: Vec::new(),
        };
        let body = egov::request((!self.cfg.plain_soap).then_some(&header), action, document);
        let url = if self.cfg.plain_soap { format!("{}/{}/{}", self.cfg.url.trim_end_matches('/'), self.cfg.service, action.name()) } else { self.cfg.url.clone() };
        let res = self.http.post(&url).header("content-type", "text/xml; charset=utf-8").header("soapaction", format!("\"{}\"", action.soap_action())).body(body).send().await;
        let resp = match res {
            Ok(r) => r,
            Err(e) => return transport(&e),
        };
        let status = resp.status();
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return transport(&e),
        };
        classify(status.as_u16(), retry_after, &bytes)
    }
}

/// The rule for a node reached over plain HTTP: only on this machine (a test node, or
/// a local Porta di Dominio that carries the traffic on). The URL's host must be a
/// loopback address or `localhost` (`http://127.0.0.1.example.org` is not).
pub fn plain_http_allowed(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else { return false };
    u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host)
}

/// A host name or address that can only be this machine: `localhost`, or a loopback
/// address (`127.0.0.0/8`, `::1`, with or without brackets).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `OraRegistrazione` of the first send, recovered from the id (`..._yyyy-MM-dd_HH:mm`),
/// so that retries carry the same header.
fn registered_at(id: &str) -> String {
    let mut parts = id.rsplitn(3, '_');
    match (parts.next(), parts.next()) {
        (Some(t), Some(d)) => format!("{d}T{t}:00"),
        _ => String::new(),
    }
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(s) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = httpdate::parse_http_date(v.trim()).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn transport(e: &reqwest::Error) -> Outcome {
    let mut detail = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut tls = false;
    while let Some(s) = src {
        let text = s.to_string();
        if s.downcast_ref::<rustls::Error>().is_some() || text.contains("certificate") {
            tls = true;
        }
        detail = text;
        src = s.source();
    }
    let class = if tls {
        "tls"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "connect"
    };
    Outcome::Transient { class, detail, retry_after: None }
}

/// Classifies an HTTP answer (egov.md, "Outcome classes").
pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Outcome {
    if status == 429 {
        return Outcome::Transient { class: "http-429", detail: "429 Too Many Requests".into(), retry_after };
    }
    let parsed = egov::parse_response(body);
    if status >= 500 {
        // A SOAP fault travels with 500: judge it by its code.
        if let Ok(r) = &parsed
            && let Some((code, text)) = &r.fault
        {
            return fault_outcome(code, text, r.header.as_ref());
        }
        return Outcome::Transient { class: "http-5xx", detail: format!("HTTP {status}"), retry_after };
    }
    if status != 200 {
        return Outcome::Transient { class: "http-other", detail: format!("HTTP {status}"), retry_after };
    }
    match parsed {
        Err(e) => Outcome::Transient { class: "garbled", detail: format!("unreadable answer: {}", e.code), retry_after: None },
        Ok(r) => {
            if let Some((code, text)) = &r.fault {
                return fault_outcome(code, text, r.header.as_ref());
            }
            // eGov mode: the reply's message id; plain SOAP through a PdD: the node's
            // receipt travels in Descr_Esito.
            let receipt = r.header.as_ref().map(|h| h.message_id.clone()).filter(|id| !id.is_empty()).unwrap_or_else(|| r.description.clone());
            match r.ok {
                Some(true) => Outcome::Delivered { receipt },
                _ => Outcome::Refused { code: "node.ko".into(), reason: r.description },
            }
        }
    }
}

fn fault_outcome(code: &str, text: &str, header: Option<&Header>) -> Outcome {
    let egov_code =
        header.and_then(|h| h.exceptions.first().cloned()).or_else(|| text.split(':').next().filter(|c| c.starts_with("EGOV_IT_")).map(str::to_string)).unwrap_or_default();
    if egov_code == "EGOV_IT_110" && text.contains("already") {
        return Outcome::Duplicate { receipt: String::new() };
    }
    let transient = code == "Server" || egov_code == "EGOV_IT_300";
    if transient {
        Outcome::Transient { class: "soap-server", detail: text.to_string(), retry_after: None }
    } else {
        Outcome::Refused { code: if egov_code.is_empty() { format!("soap.{code}") } else { egov_code }, reason: text.to_string() }
    }
}
