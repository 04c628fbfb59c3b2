//! The CPI push API: CPI systems push vacancies and CVs as they change, instead of
//! waiting for an export.
//!
//! - `POST /v1/vacancies`, `POST /v1/cvs`: one record, as canonical JSON (the serde
//!   form of `silgate_core::Record`) or a national 1546 XML document
//!   (`Content-Type: application/xml`). `202` with `{"id": <tracking id>}` once the
//!   record is in the durable queue; `422` with every issue when it is invalid.
//! - `POST /v1/batch`: `{"records": [...]}` of canonical JSON, `200` with one outcome
//!   per item (`queued` + id, `unchanged` + id, or `rejected` + issues).
//! - `GET /v1/records/{id}`: the record's history from the audit log (received,
//!   queued, attempts, delivered with the node's receipt, rejected with reasons).
//!
//! A CPI proves who it is with a bearer token (the config holds only its SHA-256) or,
//! when `[api.tls]` is set, with a client certificate signed by `client_ca` whose
//! SHA-256 fingerprint is configured for it (`cert_sha256`). A CPI may push and read
//! only records of its own CPI code (`403`). A request without credentials, or with
//! unknown ones, is `401` and audited. Bodies over `max_body_kib` are refused (`413`)
//! before they are read whole; more than `rate_per_minute` requests from one CPI are
//! `429` with `Retry-After`. Every error is JSON:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`. Without `[api.tls]`
//! the API is plain HTTP and binds only to loopback (TLS is then the reverse proxy's).

use super::{Driver, Shutdown};
use crate::Parts;
use crate::config::{ApiConfig, ApiTls};
use crate::error::{Context as _, GatewayError, Result as GwResult};
use crate::translate::{Ticket, Verdict};
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use silgate_audit::{Event, NewEntry, Query};
use silgate_core::{Issue, Position, Provenance, Record, RecordKind, SourceFields, SourceSystem};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The SHA-256 fingerprint of the client certificate the connection showed, if any,
/// and, over TLS, the client's address (refusals are limited per address): put on
/// every request.
#[derive(Debug, Clone)]
struct PeerCert(Option<String>, Option<std::net::IpAddr>);

/// Refused requests (no or unknown credentials) per client address per minute: past
/// it, one is refused 429 before anything is looked up or counted.
const REFUSED_PER_IP_PER_MINUTE: u32 = 60;

/// Refused callers, told to the audit log as counts per minute and reason (not a row
/// each: a flood of unauthenticated requests must not fill the disk the queue is on).
#[derive(Debug, Default)]
struct Refusals {
    /// Reason -> requests refused since the last flush.
    counts: std::collections::BTreeMap<&'static str, u64>,
    /// Client address -> (refusals this minute, the minute's start).
    per_ip: HashMap<std::net::IpAddr, (u32, Instant)>,
}

struct ApiState {
    parts: Arc<Parts>,
    tokens: HashMap<String, String>,
    certs: HashMap<String, String>,
    rate: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    refusals: Mutex<Refusals>,
    /// The ingest task's inbox (see [`submissions`]): every request's records go
    /// through the one ingest step, batched together.
    submit: tokio::sync::mpsc::Sender<Submission>,
}

fn error(status: StatusCode, code: &str, message: &str, field: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message, "field": field}}))).into_response()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

impl ApiState {
    /// The caller's CPI, or the response refusing it.
    async fn caller(&self, headers: &HeaderMap, peer: Option<&PeerCert>) -> Result<String, Box<Response>> {
        let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        let cert = peer.and_then(|p| p.0.as_deref());
        // A certificate, when shown, decides; else the token.
        let cpi = match cert {
            Some(fp) => self.certs.get(fp).cloned(),
            None => token.and_then(|t| self.tokens.get(&sha256_hex(t.as_bytes())).cloned()),
        };
        match cpi {
            Some(c) => {
                if !self.allow(&c) {
                    let mut r = error(StatusCode::TOO_MANY_REQUESTS, "api.rate", "too many requests from this CPI", "");
                    r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                    return Err(Box::new(r));
                }
                Ok(c)
            }
            None => {
                let why = match (cert, token) {
                    (Some(_), _) => "unknown client certificate",
                    (None, Some(_)) => "unknown token",
                    (None, None) => "no credentials",
                };
                {
                    let mut r = self.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if let Some(ip) = peer.and_then(|p| p.1) {
                        let now = Instant::now();
                        let (n, since) = r.per_ip.entry(ip).or_insert((0, now));
                        if now.duration_since(*since) >= std::time::Duration::from_secs(60) {
                            (*n, *since) = (0, now);
                        }
                        *n += 1;
                        if *n > REFUSED_PER_IP_PER_MINUTE {
                            let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "api.rate", "too many refused requests from this address", "");
                            resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
                            return Err(Box::new(resp));
                        }
                    }
                    *r.counts.entry(why).or_insert(0) += 1;
                }
                Err(Box::new(error(
                    StatusCode::UNAUTHORIZED,
                    "api.unauthenticated",
                    &format!("a bearer token or client certificate of a configured CPI is required ({why})"),
                    "Authorization",
                )))
            }
        }
    }

    /// Writes the refusals counted since the last call to the audit log, one entry per
    /// reason; on failure they are counted again for the next call.
    async fn flush_refusals(&self) {
        let counts = {
            let mut r = self.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            r.per_ip.retain(|_, (_, since)| now.duration_since(*since) < std::time::Duration::from_secs(60));
            std::mem::take(&mut r.counts)
        };
        if counts.is_empty() {
            return;
        }
        let entries = counts
            .iter()
            .map(|(why, n)| NewEntry::now(Event::Rejected { rule: "api.unauthenticated".into(), at: None, note: Some(format!("{n} request(s): {why}")) }, None, None, None))
            .collect();
        if let Err(e) = self.parts.audit.record(entries).await {
            tracing::error!(error = %e, "Could not audit the refused requests; counted again for the next minute");
            let mut r = self.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (why, n) in counts {
                *r.counts.entry(why).or_insert(0) += n;
            }
        }
    }

    /// A token bucket per CPI: `rate` per minute, bursts of `rate / 6` (10 s).
    fn allow(&self, cpi: &str) -> bool {
        let Ok(mut b) = self.buckets.lock() else { return false };
        let cap = f64::from(self.rate.max(6)) / 6.0;
        let per_sec = f64::from(self.rate) / 60.0;
        let now = Instant::now();
        let (tokens, last) = b.entry(cpi.to_string()).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_sec).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One record's outcome.
enum Outcome {
    Queued(String),
    Unchanged(String),
    Rejected(Vec<Issue>),
    Forbidden(String),
}

/// Parses a body as canonical JSON or a national document.
fn parse(body: &[u8], xml: bool, want: Option<RecordKind>) -> Result<Record, Vec<Issue>> {
    let rec = if xml {
        let (rec, issues) = silgate_std1546::read::read_document(body, Provenance::new(SourceSystem::Push, "push", Position::Unknown));
        match rec {
            Some(r) if !silgate_core::issue::has_errors(&issues) => r,
            _ => return Err(issues),
        }
    } else {
        return silgate_core::json::parse_body(body, want).map_err(|i| vec![i]);
    };
    if let Some(k) = want
        && rec.kind() != k
    {
        return Err(vec![Issue::error("kind", "api.kind", format!("this endpoint takes a {}", k.as_str()))]);
    }
    Ok(rec)
}

/// Takes one record of the caller's CPI through the gateway's ingest (the same path as
/// a file's record: see [`submissions`]) and waits for its fate.
async fn ingest_one(st: &ApiState, cpi: &str, mut rec: Record, xml: bool) -> Option<Outcome> {
    if rec.written_cpi() != Some(cpi) {
        return Some(Outcome::Forbidden(rec.written_cpi().unwrap_or_default().to_string()));
    }
    {
        let p = rec.provenance_mut();
        // Its fields are named as the body it came in names them: a national document
        // by its paths, JSON by its pointers (whatever provenance a JSON body claims).
        let fields = if xml { SourceFields::national() } else { SourceFields::default() };
        *p = Provenance::new(SourceSystem::Push, format!("push:{cpi}"), Position::Unknown);
        p.cpi = cpi.to_string();
        p.fields = fields;
    }
    let (reply, verdict) = tokio::sync::oneshot::channel();
    st.submit.send(Submission { record: rec, reply }).await.ok()?;
    Some(match verdict.await.ok()?? {
        Verdict::Queued(id) => Outcome::Queued(id),
        Verdict::Unchanged(id) | Verdict::Superseded(id) => Outcome::Unchanged(id),
        Verdict::Rejected(issues, _) => Outcome::Rejected(issues),
    })
}

fn respond(o: Outcome) -> Response {
    match o {
        Outcome::Queued(id) => (StatusCode::ACCEPTED, axum::Json(json!({"id": id, "status": "queued"}))).into_response(),
        Outcome::Unchanged(id) => (StatusCode::ACCEPTED, axum::Json(json!({"id": id, "status": "unchanged"}))).into_response(),
        Outcome::Rejected(issues) => {
            let first = issues.iter().find(|i| i.is_error()).cloned().unwrap_or_else(|| Issue::error("", "invalid", "invalid record"));
            // Naming another CPI's (or region's) code is not a malformed record: the
            // caller may not touch that record.
            let status = if first.rule == "code.foreign" { StatusCode::FORBIDDEN } else { StatusCode::UNPROCESSABLE_ENTITY };
            let error = json!({"code": first.rule, "message": first.message, "field": first.path, "source_field": first.source_field});
            (status, axum::Json(json!({"error": error, "issues": issues}))).into_response()
        }
        Outcome::Forbidden(theirs) => {
            error(StatusCode::FORBIDDEN, "api.cpi", &format!("a CPI may push only its own records (this one is of CPI {theirs})"), "system.intermediary.id")
        }
    }
}

fn is_xml(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("xml"))
}

type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

/// The body, or the JSON refusal: `413` past the limit (axum stops reading there).
fn body_or_refusal(body: Body) -> Result<Bytes, Box<Response>> {
    body.map_err(|e| {
        Box::new(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            error(StatusCode::PAYLOAD_TOO_LARGE, "api.too-large", "the body is larger than the limit (max_body_kib)", "")
        } else {
            error(StatusCode::BAD_REQUEST, "api.body", "the body could not be read", "")
        })
    })
}

/// The caller's CPI and the body, or the refusal (401, 429, 413) to send instead.
async fn admitted(st: &ApiState, headers: &HeaderMap, peer: Option<&PeerCert>, body: Body) -> Result<(String, Bytes), Box<Response>> {
    let cpi = st.caller(headers, peer).await?;
    Ok((cpi, body_or_refusal(body)?))
}

/// The certificate fingerprint put on the request by the TLS listener.
type Peer = Option<Extension<PeerCert>>;

async fn push(st: Arc<ApiState>, headers: HeaderMap, peer: Peer, body: Body, kind: RecordKind) -> Response {
    let (cpi, body) = match admitted(&st, &headers, peer.as_ref().map(|p| &p.0), body).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let xml = is_xml(&headers);
    let rec = match parse(&body, xml, Some(kind)) {
        Ok(r) => r,
        Err(issues) => return respond(Outcome::Rejected(issues)),
    };
    match ingest_one(&st, &cpi, rec, xml).await {
        Some(o) => respond(o),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "api.unavailable", "the record could not be queued now: try again", ""),
    }
}

async fn vacancies(State(st): State<Arc<ApiState>>, headers: HeaderMap, peer: Peer, body: Body) -> Response {
    push(st, headers, peer, body, RecordKind::Vacancy).await
}

async fn cvs(State(st): State<Arc<ApiState>>, headers: HeaderMap, peer: Peer, body: Body) -> Response {
    push(st, headers, peer, body, RecordKind::Cv).await
}

async fn batch(State(st): State<Arc<ApiState>>, headers: HeaderMap, peer: Peer, body: Body) -> Response {
    let (cpi, body) = match admitted(&st, &headers, peer.as_ref().map(|p| &p.0), body).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let items = match silgate_core::json::batch_items(&body) {
        Ok(items) => items,
        Err(i) => return error(StatusCode::UNPROCESSABLE_ENTITY, &i.rule, &i.message, &i.path),
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let outcome = match silgate_core::json::record_from_value(item).map_err(|e| vec![e]) {
            Ok(rec) => match ingest_one(&st, &cpi, rec, false).await {
                Some(o) => o,
                None => {
                    return error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "api.unavailable",
                        "the batch could not be queued now: the items before this one were",
                        &format!("records[{i}]"),
                    );
                }
            },
            Err(issues) => Outcome::Rejected(issues),
        };
        out.push(match outcome {
            Outcome::Queued(id) => json!({"index": i, "status": "queued", "id": id}),
            Outcome::Unchanged(id) => json!({"index": i, "status": "unchanged", "id": id}),
            // As on the single-record endpoints (403): naming another CPI's or region's
            // code is a refusal of access, not a malformed record.
            Outcome::Rejected(issues) if issues.iter().find(|i| i.is_error()).is_some_and(|i| i.rule == "code.foreign") => {
                json!({"index": i, "status": "forbidden", "issues": issues})
            }
            Outcome::Rejected(issues) => json!({"index": i, "status": "rejected", "issues": issues}),
            Outcome::Forbidden(_) => {
                json!({"index": i, "status": "forbidden", "issues": [Issue::error("system.intermediary.id", "api.cpi", "a CPI may push only its own records")]})
            }
        });
    }
    (StatusCode::OK, axum::Json(json!({"results": out}))).into_response()
}

async fn status(State(st): State<Arc<ApiState>>, headers: HeaderMap, peer: Peer, Path(id): Path<String>) -> Response {
    let cpi = match st.caller(&headers, peer.as_ref().map(|p| &p.0)).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let entries = match st.parts.audit_log.query(&Query { record: Some(id.clone()), ..Query::default() }).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "Audit query failed");
            return error(StatusCode::SERVICE_UNAVAILABLE, "api.unavailable", "the history could not be read now", "");
        }
    };
    if entries.is_empty() {
        return error(StatusCode::NOT_FOUND, "api.unknown", "no record with this id", "id");
    }
    if entries.iter().any(|e| e.cpi.as_deref().is_some_and(|c| c != cpi)) {
        return error(StatusCode::FORBIDDEN, "api.cpi", "a CPI may read only its own records", "id");
    }
    // The typed fields, never the stored text (an entry this build cannot read shows
    // its name only).
    let history: Vec<Value> = entries
        .iter()
        .map(|e| {
            let fields = e.typed().and_then(|t| serde_json::to_value(t).ok()).unwrap_or_else(|| json!({"event": e.event}));
            json!({"event": e.event, "at_ms": e.at_ms, "code": e.code, "fields": fields})
        })
        .collect();
    let current = entries.last().map(|e| e.event.clone()).unwrap_or_default();
    (StatusCode::OK, axum::Json(json!({"id": id, "status": current, "history": history}))).into_response()
}

/// The push API: its listener is bound when the gateway starts (so the address is
/// known, and a port taken is a start error), then served until shutdown.
pub(crate) struct ApiDriver {
    cfg: ApiConfig,
    listener: Option<tokio::net::TcpListener>,
    addr: std::net::SocketAddr,
}

impl std::fmt::Debug for ApiDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiDriver").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl ApiDriver {
    /// Binds `[api] listen`.
    pub(crate) async fn bind(cfg: ApiConfig) -> GwResult<Self> {
        if cfg.tls.is_none() && !cfg.listen.ip().is_loopback() {
            return Err(GatewayError::config(format!(
                "api.listen must be a loopback address without [api.tls] (TLS then belongs to the reverse proxy in front), not {}",
                cfg.listen
            )));
        }
        let listener = tokio::net::TcpListener::bind(cfg.listen).await.map_err(|err| GatewayError::Serve { what: "api.listen", err })?;
        let addr = listener.local_addr().map_err(|err| GatewayError::Serve { what: "api.listen", err })?;
        Ok(Self { cfg, listener: Some(listener), addr })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

impl Driver for ApiDriver {
    fn name(&self) -> String {
        format!("push API {}", self.addr)
    }

    async fn run(&mut self, parts: &Arc<Parts>, stop: &mut Shutdown) -> GwResult<()> {
        // After a failure the same address is bound again.
        let listener = match self.listener.take() {
            Some(l) => l,
            None => tokio::net::TcpListener::bind(self.addr).await.map_err(|err| GatewayError::Serve { what: "api.listen", err })?,
        };
        let cfg = &self.cfg;
        // The ingest task ends once the listener has stopped and what was submitted is
        // answered (or once the state, the only sender, is dropped with the router).
        let (submit, inbox) = tokio::sync::mpsc::channel(1024);
        let (close, closing) = tokio::sync::oneshot::channel();
        let ingest = tokio::spawn(submissions(parts.clone(), inbox, closing));
        let tokens = cfg.clients.iter().filter_map(|c| Some((c.token_sha256.as_ref()?.to_ascii_lowercase(), c.cpi.clone()))).collect();
        let certs = cfg.clients.iter().filter_map(|c| Some((c.cert_sha256.as_ref()?.to_ascii_lowercase().replace(':', ""), c.cpi.clone()))).collect();
        let st = Arc::new(ApiState {
            parts: parts.clone(),
            tokens,
            certs,
            rate: cfg.rate_per_minute,
            buckets: Mutex::new(HashMap::new()),
            refusals: Mutex::new(Refusals::default()),
            submit,
        });
        // Refused callers reach the audit log as counts, once a minute and at the end.
        let (tally_stop, mut tally_stopped) = tokio::sync::oneshot::channel::<()>();
        let tally = {
            let st = st.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
                every.tick().await;
                loop {
                    tokio::select! {
                        _ = every.tick() => st.flush_refusals().await,
                        _ = &mut tally_stopped => break,
                    }
                }
                st.flush_refusals().await;
            })
        };
        let app = Router::new()
            .route("/v1/vacancies", post(vacancies))
            .route("/v1/cvs", post(cvs))
            .route("/v1/batch", post(batch))
            .route("/v1/records/{id}", get(status))
            .layer(DefaultBodyLimit::max(cfg.max_body_kib * 1024))
            .with_state(st);
        tracing::info!(listen = %self.addr, tls = cfg.tls.is_some(), "Push API listening");
        let mut limits = cfg.conn_limits();
        let over_tls = cfg.tls.is_some();
        let acceptor = match &cfg.tls {
            Some(t) => Some(tls_acceptor(t)),
            // Plain HTTP is loopback only (checked with the config): the callers are
            // the region's own processes on this machine, one address for all of them.
            None => {
                limits.per_ip = limits.total;
                None
            }
        };
        let served = match acceptor.transpose() {
            Ok(acceptor) => {
                let mut stop = stop.clone();
                // Each connection's requests carry the fingerprint of the client
                // certificate it showed and its address.
                let routes = move |peer: silgate_serve::Peer| {
                    let cert = peer.certificate.map(|c| sha256_hex(c.as_ref()));
                    // Refusals are limited per address over TLS only: on plain loopback
                    // every local caller shares 127.0.0.1.
                    app.clone().layer(Extension(PeerCert(cert, over_tls.then_some(peer.addr.ip()))))
                };
                silgate_serve::serve(listener, acceptor, limits, routes, async move { stop.wait().await }).await;
                Ok(())
            }
            Err(e) => Err(e),
        };
        // The ingest task may have ended already (its senders gone): nothing to tell.
        let _ended = close.send(());
        let _stopped = tally_stop.send(());
        tally.await.map_err(|_| GatewayError::Task("push API refusals"))?;
        ingest.await.map_err(|_| GatewayError::Task("push ingest"))?;
        served
    }
}

/// The API's rustls config: its certificate, client certificates asked for and
/// verified against `client_ca` when shown (a client without one may use a token).
fn tls_acceptor(t: &ApiTls) -> GwResult<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pem = |what: &str, p: &std::path::Path, e: rustls::pki_types::pem::Error| GatewayError::Tls(format!("{what} {}: {e}", p.display()));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert).and_then(Iterator::collect).map_err(|e| pem("api.tls.cert", &t.cert, e))?;
    let key = PrivateKeyDer::from_pem_file(&t.key).map_err(|e| pem("api.tls.key", &t.key, e))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&t.client_ca).map_err(|e| pem("api.tls.client_ca", &t.client_ca, e))? {
        roots.add(ca.map_err(|e| pem("api.tls.client_ca", &t.client_ca, e))?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| GatewayError::Tls(format!("api.tls.client_ca: {e}")))?;
    let mut sc = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("api.tls: certificate and key")?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(sc)))
}

/// A record pushed through the API, waiting for its fate.
#[derive(Debug)]
struct Submission {
    /// The record, its provenance set (push, the caller's CPI).
    record: Record,
    /// Where its verdict goes; `None`: the batch could not be queued now.
    reply: tokio::sync::oneshot::Sender<Option<Verdict>>,
}

/// The push API's ingest: one task owns the ingest step and takes the records of
/// every request through it, in batches of what has arrived (group commit), exactly
/// as it takes a file's: previous code, code, identity, dedup, judge, queue, audit.
/// Ends when every sender is gone (the API stopped).
async fn submissions(parts: Arc<Parts>, mut rx: tokio::sync::mpsc::Receiver<Submission>, mut closing: tokio::sync::oneshot::Receiver<()>) {
    let mut closed = false;
    loop {
        let first = tokio::select! {
            biased;
            s = rx.recv() => match s {
                Some(s) => s,
                None => return,
            },
            // The listener has stopped (the requests in flight were let finish): no new
            // record is taken (a request still open is told to try again); what is
            // already waiting is still ingested and answered.
            _ = &mut closing, if !closed => {
                rx.close();
                closed = true;
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < parts.cfg.batch.max(1) {
            match rx.try_recv() {
                Ok(s) => batch.push(s),
                Err(_) => break,
            }
        }
        let (records, replies): (Vec<Record>, Vec<_>) = batch.into_iter().map(|s| (s.record, s.reply)).unzip();
        let mut verdicts: Vec<Option<Verdict>> = replies.iter().map(|_| None).collect();
        // Its own task: a panic in one batch (an adapter, a rule) fails that batch's
        // requests, not the API.
        match tokio::spawn(ingest_batch(parts.clone(), records)).await {
            Ok(Ok(settled)) => {
                for (t, v) in settled {
                    if let Some(slot) = verdicts.get_mut(t) {
                        *slot = Some(v);
                    }
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, code = e.as_code(), "Push ingest failed; the requests are answered 503"),
            Err(e) => tracing::error!(error = %e, "Push ingest panicked; the requests are answered 503"),
        }
        for (reply, v) in replies.into_iter().zip(verdicts) {
            // A caller that went away (timeout, closed connection) needs no answer.
            let _gone = reply.send(v);
        }
    }
}

/// One batch of pushed records through the ingest step, each under its index as ticket.
async fn ingest_batch(parts: Arc<Parts>, records: Vec<Record>) -> GwResult<Vec<(Ticket, Verdict)>> {
    let mut ing = parts.ingest(crate::parts::today())?;
    for (t, rec) in records.into_iter().enumerate() {
        ing.offer(silgate_core::SourceItem::Record(Box::new(rec)), Some(t)).await?;
    }
    ing.flush().await?;
    Ok(ing.take_verdicts())
}
