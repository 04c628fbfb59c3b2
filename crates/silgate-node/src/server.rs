//! The HTTP side: routes, the SOAP handler, the listener with TLS.

use crate::dashboard::{LatencyMinute, LatencyRing};
use crate::faults::{Decision, FaultState, Faults};
use crate::metrics::{DocLabels, FaultLabels, Metrics};
use crate::store::{MinuteRow, Seen, Store, Stored};
use crate::{NodeConfig, NodeError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use silgate_codes::CodeTables;
use silgate_core::{Date, Provenance, SourceSystem};
use silgate_std1546::XsdValidator;
use silgate_std1546::egov::{self, Action, Header};
use silgate_store::now_ms;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Largest request accepted (a 1546 document is a few KiB).
const MAX_BODY: usize = 4 * 1024 * 1024;

struct App {
    cfg: NodeConfig,
    store: Store,
    faults: RwLock<FaultState>,
    /// Message id -> instant before which the client was told not to come back.
    not_before: Mutex<HashMap<String, Instant>>,
    metrics: Metrics,
    answer_times: LatencyRing,
    tables: &'static CodeTables,
    xsd: &'static XsdValidator,
    today: Option<Date>,
    faults_injected: AtomicU64,
    refused: AtomicU64,
    violations: AtomicU64,
}

/// Totals of `/api/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Documents accepted (OK), one per message id.
    pub accepted: i64,
    /// Documents refused (KO), one per message id.
    pub rejected: i64,
    /// Distinct communication codes among the accepted documents.
    pub distinct_codes: i64,
    /// Repeats of a message id already answered.
    pub duplicates: i64,
    /// Faults injected (503, 429, KO on purpose).
    pub faults_injected: u64,
    /// Envelopes refused (SOAP Client faults).
    pub envelopes_refused: u64,
    /// Requests that came back before their Retry-After.
    pub retry_after_violations: u64,
}

/// The body of `GET /api/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Totals since the store was created.
    pub totals: Totals,
    /// Rejections by rule id, most frequent first.
    pub rejects_by_reason: Vec<(String, i64)>,
    /// Per-minute counts over the window asked (`?hours=N`, default 3).
    pub per_minute: Vec<MinuteRowOut>,
    /// The node's answer times per minute over the same window (kept in memory since
    /// the node started).
    #[serde(default)]
    pub latency: Vec<LatencyMinute>,
    /// The name of every region code in `per_minute`, from the ministry's table
    /// (`14` -> `PUGLIA`).
    #[serde(default)]
    pub region_names: std::collections::BTreeMap<String, String>,
}

/// A per-minute row as served.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MinuteRowOut {
    /// `YYYY-MM-DDTHH:MMZ`.
    pub minute: String,
    /// The ministry's region code (the communication code's first two digits).
    pub region: String,
    /// CPI code.
    pub cpi: String,
    /// `cv` or `vacancy`.
    pub kind: String,
    /// `accepted`, `rejected` or `duplicate`.
    pub outcome: String,
    /// Count.
    pub n: i64,
}

impl From<MinuteRow> for MinuteRowOut {
    fn from(r: MinuteRow) -> Self {
        Self { minute: minute_label(r.minute), region: r.region, cpi: r.cpi, kind: r.kind, outcome: r.outcome, n: r.n }
    }
}

/// `YYYY-MM-DDTHH:MMZ` of a Unix minute.
pub(crate) fn minute_label(minute: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(minute * 60).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

/// A running node.
pub struct NodeHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// `https` or `http`.
    pub scheme: &'static str,
    /// The operators' plain-HTTP listener (`dashboard_listen`), when configured.
    pub dashboard: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    app: Arc<App>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle").field("addr", &self.addr).field("scheme", &self.scheme).finish_non_exhaustive()
    }
}

impl NodeHandle {
    /// What `GET /api/stats?hours=N` would answer.
    pub async fn stats(&self, hours: i64) -> Result<Stats, NodeError> {
        compute_stats(&self.app, hours).await
    }

    /// Deletes the content of the documents past `[retention] documents_days` as of
    /// `now` (the daily run does it with the clock's time); returns how many. `None`
    /// when no retention is set.
    pub async fn purge(&self, now: std::time::SystemTime) -> Result<Option<usize>, NodeError> {
        purge(&self.app, now).await
    }

    /// The SOAP endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("{}://{}/ws/cliclavoro", self.scheme, self.addr)
    }

    /// The base URL.
    pub fn base(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Waits until the node stops (it runs until [`NodeHandle::stop`] or an error).
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn soap(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"))], body).into_response()
}

fn reply_header(req: &Header, id: &str) -> Header {
    Header {
        sender: egov::NATIONAL.into(),
        receiver: req.sender.clone(),
        service: req.service.clone(),
        action: req.action.clone(),
        message_id: id.to_string(),
        registered_at: now_stamp(),
        reference: Some(req.message_id.clone()),
        inoltro: None,
        conferma: None,
        exceptions: Vec::new(),
    }
}

fn now_stamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

async fn soap_endpoint(State(app): State<Arc<App>>, party: Option<axum::Extension<Party>>, body: Bytes) -> Response {
    let started = Instant::now();
    let resp = handle(&app, &body, None, party.and_then(|p| p.0.0)).await;
    answered(&app, started);
    resp
}

/// `/pdd/PD/{servizio}/{azione}`: plain SOAP, as a regional application posts it to its
/// Porta di Dominio; the node plays the PdD and builds the header itself.
async fn pdd_endpoint(
    State(app): State<Arc<App>>,
    axum::extract::Path((servizio, azione)): axum::extract::Path<(String, String)>,
    party: Option<axum::Extension<Party>>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let resp = handle(&app, &body, Some((servizio, azione)), party.and_then(|p| p.0.0)).await;
    answered(&app, started);
    resp
}

/// Notes an answer's time in the metrics and the dashboard's per-minute ring.
fn answered(app: &App, started: Instant) {
    let took = started.elapsed();
    app.metrics.latency.observe(took.as_secs_f64());
    app.answer_times.observe(now_ms() / 60_000, took);
}

fn refused(app: &App, e: &egov::EnvelopeError) -> Response {
    app.refused.fetch_add(1, Ordering::Relaxed);
    app.metrics.envelope_refused.inc();
    soap(StatusCode::INTERNAL_SERVER_ERROR, egov::fault(None, e.fault, e.code, &e.message))
}

/// Handles one SOAP request; `party` is the sender the client certificate allows
/// (`None` on plain HTTP).
async fn handle(app: &Arc<App>, body: &[u8], pdd: Option<(String, String)>, party: Option<String>) -> Response {
    let req = match egov::parse_request(body, &app.cfg.service, pdd.is_none()) {
        Ok(r) => r,
        Err(e) => return refused(app, &e),
    };
    let h = match (&req.header, pdd) {
        (Some(h), None) => h.clone(),
        (None, Some((servizio, azione))) => {
            if servizio != app.cfg.service {
                return refused(app, &egov::EnvelopeError { code: "EGOV_IT_105", fault: "Client", message: format!("no service '{servizio}' at this Porta di Dominio") });
            }
            if azione != req.action.name() {
                return refused(
                    app,
                    &egov::EnvelopeError { code: "EGOV_IT_106", fault: "Client", message: format!("action '{azione}' does not match the body's {}", req.action.name()) },
                );
            }
            // No eGov id comes with plain SOAP: the PdD identifies the message by its
            // content, so that a retried send is still recognised as a repeat.
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(req.document.as_bytes());
            let id = hex::encode(&digest[..16]);
            Header {
                sender: party.clone().unwrap_or_else(|| "PDD".into()),
                receiver: egov::NATIONAL.into(),
                service: servizio,
                action: azione,
                message_id: format!("PDD_{id}"),
                registered_at: now_stamp(),
                ..Header::default()
            }
        }
        (Some(_), Some(_)) => {
            return refused(
                app,
                &egov::EnvelopeError { code: "EGOV_IT_002", fault: "Client", message: "the Porta di Dominio endpoint takes plain SOAP: the header is added here".into() },
            );
        }
        (None, None) => return refused(app, &egov::EnvelopeError { code: "EGOV_IT_002", fault: "Client", message: "missing eGov Intestazione".into() }),
    };
    // One region may not send under another's name (nor, since a message id starts
    // with its sender, under its ids).
    if let Some(allowed) = &party
        && h.sender != *allowed
    {
        return refused(
            app,
            &egov::EnvelopeError { code: "EGOV_IT_201", fault: "Client", message: format!("sender '{}' is not the one the client certificate names ('{allowed}')", h.sender) },
        );
    }
    // Did this client come back before its Retry-After?
    if let Ok(mut nb) = app.not_before.lock()
        && let Some(t) = nb.remove(&h.message_id)
        && Instant::now() + Duration::from_millis(50) < t
    {
        app.violations.fetch_add(1, Ordering::Relaxed);
        app.metrics.retry_after_violations.inc();
    }
    let (decision, latency) = match app.faults.read() {
        Ok(f) => (f.decide(), f.latency()),
        Err(_) => (Decision::Serve, Duration::ZERO),
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = |name: &str| {
        app.faults_injected.fetch_add(1, Ordering::Relaxed);
        app.metrics.faults.get_or_create(&FaultLabels { fault: name.to_string() }).inc();
    };
    match decision {
        Decision::Outage => {
            fault("outage");
            return (StatusCode::SERVICE_UNAVAILABLE, "node outage (injected)").into_response();
        }
        Decision::Error => {
            fault("error");
            return (StatusCode::SERVICE_UNAVAILABLE, "node error (injected)").into_response();
        }
        Decision::Throttle(secs) => {
            fault("throttle");
            if let Ok(mut nb) = app.not_before.lock() {
                // Clients that never came back must not grow the map for ever.
                if nb.len() >= 100_000 {
                    let now = Instant::now();
                    nb.retain(|_, t| *t > now);
                }
                nb.insert(h.message_id.clone(), Instant::now() + Duration::from_secs(secs));
            }
            return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, secs.to_string())], "slow down (injected)").into_response();
        }
        Decision::Serve | Decision::Reject => {}
    }
    let minute = now_ms() / 60_000;
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(req.document.as_bytes()))
    };
    match app.store.repeat(&h.message_id, &digest, minute).await {
        Ok((Seen::Same(first), region)) => {
            app.metrics.documents.get_or_create(&DocLabels { region, kind: kind_of(req.action), outcome: "duplicate".into() }).inc();
            return soap(StatusCode::OK, first);
        }
        Ok((Seen::Conflict, _)) => return id_reused(app, &h),
        Ok((Seen::New, _)) => {}
        Err(e) => return server_fault(&h, &e),
    }
    // Judge the document (XSD + rules) off the async threads.
    let doc = req.document.clone();
    let (tables, xsd, today) = (app.tables, app.xsd, app.today.unwrap_or_else(|| time::OffsetDateTime::now_utc().date()));
    let judged = tokio::task::spawn_blocking(move || {
        let prov = Provenance::new(SourceSystem::Std1546, "node", silgate_core::Position::Unknown);
        silgate_std1546::validate_xml(doc.as_bytes(), prov, tables, today, xsd)
    })
    .await;
    let report = match judged {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return server_fault(&h, &NodeError::Validator(e.to_string())),
        Err(e) => return server_fault(&h, &NodeError::Validator(e.to_string())),
    };
    let mut rules: Vec<&str> = report.issues.iter().filter(|i| i.is_error()).map(|i| i.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let mut ok = rules.is_empty();
    let mut reason = rules.join(" ");
    if ok && decision == Decision::Reject {
        fault("reject");
        ok = false;
        reason = "fault.injected-reject".into();
    }
    let (cpi, code) = match &report.record {
        Some(r) => (r.written_cpi().unwrap_or_default().to_string(), r.communication().code.clone().unwrap_or_default()),
        None => (String::new(), String::new()),
    };
    let region = code.get(..2).unwrap_or("").to_string();
    let stored = Stored {
        egov_id: h.message_id.clone(),
        sender: h.sender.clone(),
        region: region.clone(),
        cpi,
        kind: kind_of(req.action),
        code,
        ok,
        reason: reason.clone(),
        received_ms: now_ms(),
        document: ok.then(|| req.document.clone()),
        digest,
    };
    let action = req.action;
    let hh = h.clone();
    let descr = if ok { String::new() } else { format!("documento rifiutato: {reason}") };
    let result = app.store.insert(stored, move |receipt| egov::response(Some(&reply_header(&hh, receipt)), action, ok, if ok { receipt } else { &descr })).await;
    match result {
        Ok((_, Seen::Conflict)) => id_reused(app, &h),
        Ok((resp, seen)) => {
            let outcome = if matches!(seen, Seen::Same(_)) {
                "duplicate"
            } else if ok {
                "accepted"
            } else {
                "rejected"
            };
            app.metrics.documents.get_or_create(&DocLabels { region, kind: kind_of(action), outcome: outcome.into() }).inc();
            soap(StatusCode::OK, resp)
        }
        Err(e) => server_fault(&h, &e),
    }
}

/// The sender used a message id again for a different document. Replaying the first
/// answer would tell it this document arrived: refuse it instead (`Client`, a header
/// error other than `EGOV_IT_110`, so the sender treats it as permanent and says so).
fn id_reused(app: &App, h: &Header) -> Response {
    tracing::warn!(sender = %h.sender, "a message id came again with a different document");
    refused(
        app,
        &egov::EnvelopeError { code: "EGOV_IT_100", fault: "Client", message: "identificativo already used for a different document: a sender's ids must be unique".into() },
    )
}

fn kind_of(a: Action) -> String {
    match a {
        Action::Candidatura => "cv",
        Action::Vacancy => "vacancy",
        Action::Messaggio => "messaggio",
    }
    .into()
}

fn server_fault(h: &Header, e: &NodeError) -> Response {
    tracing::error!(error = %e, "node failed to process a request");
    soap(StatusCode::INTERNAL_SERVER_ERROR, egov::fault(Some(&reply_header(h, "")), "Server", "EGOV_IT_300", "processing error"))
}

#[derive(Debug, Deserialize)]
struct StatsQuery {
    hours: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct DashboardQuery {
    hours: Option<i64>,
    refresh: Option<u64>,
}

/// `GET /dashboard`: the operators' page (see [`crate::dashboard`]).
async fn dashboard(State(app): State<Arc<App>>, Query(q): Query<DashboardQuery>) -> Response {
    let hours = q.hours.unwrap_or(3).clamp(1, 24);
    let refresh = q.refresh.unwrap_or(10).clamp(2, 3600);
    let generated = now_ms();
    match compute_stats(&app, hours).await {
        Ok(s) => {
            let page = crate::dashboard::render(&s, hours, refresh, generated / 60_000, generated);
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], page).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn stats(State(app): State<Arc<App>>, Query(q): Query<StatsQuery>) -> Response {
    match compute_stats(&app, q.hours.unwrap_or(3)).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn compute_stats(app: &App, hours: i64) -> Result<Stats, NodeError> {
    let since = now_ms() / 60_000 - hours.clamp(1, 24 * 31) * 60;
    let totals = app.store.totals().await?;
    let minutes = app.store.minutes(since).await?;
    let (accepted, rejected, distinct_codes, duplicates, reasons) = totals;
    Ok(Stats {
        totals: Totals {
            accepted,
            rejected,
            distinct_codes,
            duplicates,
            faults_injected: app.faults_injected.load(Ordering::Relaxed),
            envelopes_refused: app.refused.load(Ordering::Relaxed),
            retry_after_violations: app.violations.load(Ordering::Relaxed),
        },
        region_names: minutes.iter().filter_map(|m| Some((m.region.clone(), silgate_codes::Regions::embedded().by_code(&m.region)?.name.clone()))).collect(),
        rejects_by_reason: reasons,
        per_minute: minutes.into_iter().map(Into::into).collect(),
        latency: app.answer_times.since(since),
    })
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.encode()).into_response()
}

async fn get_faults(State(app): State<Arc<App>>) -> Response {
    match app.faults.read() {
        Ok(f) => axum::Json(f.faults.clone()).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn put_faults(State(app): State<Arc<App>>, body: Bytes) -> Response {
    if !app.cfg.admin {
        return (StatusCode::FORBIDDEN, "admin endpoint disabled (admin = false)").into_response();
    }
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            if let Ok(mut w) = app.faults.write() {
                *w = FaultState::new(f);
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, format!("faults: {e}")).into_response(),
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/ws/cliclavoro", post(soap_endpoint))
        .route("/pdd/PD/{servizio}/{azione}", post(pdd_endpoint))
        .route("/api/stats", get(stats))
        .route("/dashboard", get(dashboard))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/admin/faults", get(get_faults).put(put_faults))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// The operators' listener (`dashboard_listen`): read-only pages and numbers, no SOAP,
/// no admin. Plain HTTP, for a browser on the operators' network.
fn ops_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { axum::response::Redirect::to("/dashboard") }))
        .route("/dashboard", get(dashboard))
        .route("/api/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(app)
}

/// Starts the node: binds, and serves until stopped.
pub async fn start(cfg: NodeConfig) -> Result<NodeHandle, NodeError> {
    let tls = match &cfg.tls {
        Some(t) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(t)?)),
        None if cfg.listen.ip().is_loopback() => None,
        None => return Err(NodeError::Tls(format!("plain HTTP is only allowed on loopback; {} needs [tls]", cfg.listen))),
    };
    let today = match &cfg.today {
        Some(d) => Some(silgate_core::time_types::parse_date(d).map_err(|_| NodeError::Validator(format!("today = '{d}' is not YYYY-MM-DD")))?),
        None => None,
    };
    if cfg.retention.documents_days == Some(0) {
        return Err(NodeError::Io("retention.documents_days = 0 would delete what just arrived: give at least 1 day, or leave it unset to keep documents".into()));
    }
    let xsd = XsdValidator::shared().map_err(|e| NodeError::Validator(e.to_string()))?;
    let tables = CodeTables::embedded();
    let store = match &cfg.postgres {
        Some(url) => {
            let tls = match &cfg.postgres_ca {
                Some(ca) => silgate_store::pg::PgTls::from_pem_file(ca).map_err(|e| NodeError::Tls(format!("postgres_ca: {e}")))?,
                None => silgate_store::pg::PgTls::default(),
            };
            Store::Postgres(crate::store_pg::PgStore::connect(url, &tls).await?)
        }
        None => Store::Sqlite(crate::store::SqliteStore::open(&cfg.store)?),
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen).await.map_err(|e| NodeError::Io(format!("binding {}: {e}", cfg.listen)))?;
    let addr = listener.local_addr().map_err(|e| NodeError::Io(e.to_string()))?;
    let app = Arc::new(App {
        faults: RwLock::new(FaultState::new(cfg.faults.clone())),
        cfg,
        store,
        not_before: Mutex::new(HashMap::new()),
        metrics: Metrics::new(),
        answer_times: LatencyRing::default(),
        tables,
        xsd,
        today,
        faults_injected: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        violations: AtomicU64::new(0),
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (stop, stopped) = watch::channel(false);
    let (limits, senders) = (app.cfg.conn_limits(), app.cfg.tls.as_ref().map(|t| t.senders.clone()).unwrap_or_default());
    let mut tasks = vec![tokio::spawn(serve(listener, tls, router(app.clone()), limits, senders, stopped.clone()))];
    if app.cfg.retention.documents_days.is_some() {
        tasks.push(tokio::spawn(purge_daily(app.clone(), stopped.clone())));
    }
    let mut dashboard = None;
    if let Some(at) = app.cfg.dashboard_listen {
        let ops = tokio::net::TcpListener::bind(at).await.map_err(|e| NodeError::Io(format!("binding {at}: {e}")))?;
        dashboard = Some(ops.local_addr().map_err(|e| NodeError::Io(e.to_string()))?);
        tasks.push(tokio::spawn(serve(ops, None, ops_router(app.clone()), limits, Default::default(), stopped)));
    }
    Ok(NodeHandle { addr, scheme, dashboard, stop, tasks, app })
}

/// One purge of the store by `[retention]` (see [`NodeHandle::purge`]).
async fn purge(app: &App, now: std::time::SystemTime) -> Result<Option<usize>, NodeError> {
    let Some(days) = app.cfg.retention.documents_days else { return Ok(None) };
    let before = now.checked_sub(Duration::from_secs(u64::from(days) * 86_400)).unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    let before_ms = i64::try_from(before.duration_since(std::time::SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(i64::MAX);
    let n = app.store.forget_documents(before_ms).await?;
    app.metrics.documents_purged.inc_by(n as u64);
    Ok(Some(n))
}

/// The daily purge: at start, then every 24 hours, until the node stops. A failure is
/// logged and tried again the next day.
async fn purge_daily(app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    loop {
        match purge(&app, std::time::SystemTime::now()).await {
            Ok(Some(n)) if n > 0 => tracing::info!(documents = n, "Deleted the content of documents past their retention"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "The retention purge of the node's store failed; tried again tomorrow"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(86_400)) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// The eGov sender a connection may use: the one its client certificate names
/// (`None` on plain HTTP, which is loopback only and checks no sender).
#[derive(Debug, Clone)]
struct Party(Option<String>);

impl Party {
    /// The sender `peer`'s certificate names: its entry in `[tls] senders`, else its
    /// subject's common name (an empty name, which no sender matches, when it has none).
    fn of(peer: &silgate_serve::Peer, senders: &std::collections::BTreeMap<String, String>) -> Self {
        let Some(cert) = &peer.certificate else { return Self(None) };
        let fingerprint = {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(cert.as_ref()))
        };
        if let Some(s) = senders.get(&fingerprint) {
            return Self(Some(s.clone()));
        }
        let cn =
            x509_parser::parse_x509_certificate(cert.as_ref()).ok().and_then(|(_, c)| c.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string));
        Self(Some(cn.unwrap_or_default()))
    }
}

/// Serves `service` on `listener` (TLS when an acceptor is given) within the node's
/// connection limits until `stopped`; each request carries its connection's [`Party`].
async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: Router,
    limits: silgate_serve::ConnLimits,
    senders: std::collections::BTreeMap<String, String>,
    mut stopped: watch::Receiver<bool>,
) {
    // Fingerprints as `openssl x509 -fingerprint` prints them (upper case, colons) or
    // plain hex: one form.
    let senders: std::collections::BTreeMap<String, String> = senders.into_iter().map(|(k, v)| (k.to_ascii_lowercase().replace(':', ""), v)).collect();
    let routes = move |peer: silgate_serve::Peer| service.clone().layer(axum::Extension(Party::of(&peer, &senders)));
    silgate_serve::serve(listener, tls, limits, routes, async move {
        // A dropped sender stops the node as well.
        let _stopped = stopped.wait_for(|s| *s).await;
    })
    .await;
}
