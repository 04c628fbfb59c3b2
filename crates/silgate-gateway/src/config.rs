//! The gateway's configuration (`silgate run --config FILE`, one file per region; see
//! `config/`), typed, and its one validator.
//!
//! Reading happens here and nowhere else: [`GatewayConfig::load`] reads the TOML file
//! with `SILGATE__SECTION__KEY` environment overrides, resolves relative paths against
//! the file's folder and runs [`GatewayConfig::validate`]; any problem refuses the
//! start with every problem listed. [`check_file`] (`silgate config check`) reads the
//! file section by section, so that a section that does not parse does not hide the
//! problems of the others, and runs the very same per-section rules on what parsed.
//! Each rule exists once, in the `check_*` function of its section.

use crate::error::{Context as _, GatewayError, Result};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use silgate_audit::AuditLog;
use silgate_dedup::DedupIndex;
use silgate_publish::{ClientConfig, RetryConfig};
use silgate_queue::{AnyQueue, RabbitConfig, RabbitQueue, SqliteConfig, SqliteQueue};
use silgate_std1546::fit::Unmappable;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `silgate run --config FILE`: one file per region (see `config/`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// This instance's name: its audit chain and its inbox claims. (default: `gateway`)
    #[serde(default = "default_instance")]
    pub instance: String,
    /// The region: its name (`puglia`, `emilia-romagna`) or its code in the ministry's
    /// table (`14`); held as the code once loaded. The first two digits of every
    /// communication code.
    pub region: String,
    /// The region's eGov party name (`PUGLIA`, `EMILIAROMAGNA`): its name in the
    /// ministry's table, letters and digits only.
    pub region_name: String,
    /// Where the SQLite files and quarantine live (relative to the config file).
    pub data_dir: PathBuf,
    /// `[queue]`.
    #[serde(default)]
    pub queue: QueueConfig,
    /// `[audit]`.
    #[serde(default)]
    pub audit: StoreConfig,
    /// `[dedup]`.
    #[serde(default)]
    pub dedup: StoreConfig,
    /// `[node]`: how to reach the national node.
    pub node: ClientConfig,
    /// `[delivery]`: retries, concurrency, circuit breaker.
    #[serde(default)]
    pub delivery: RetryConfig,
    /// `[[sources]]`.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Records per ingest batch (one queue transaction each). (default: 500)
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// PEC: provider certificates, allowed senders, limits.
    #[serde(default)]
    pub pec: Option<PecSettings>,
    /// The CPI push API.
    #[serde(default)]
    pub api: Option<ApiConfig>,
    /// Prometheus metrics and health probes.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// `[limits]`: what one input may make a reader hold (workbook grids and parts,
    /// join indexes); an input past one is refused with the limit's rule.
    #[serde(default)]
    pub limits: silgate_source_tabular::Limits,
    /// An optional element whose code is well formed in the source but has no form in
    /// the standard (a five-level CP2011 code where six segments are wanted): `omit`
    /// leaves it out of the document with a warning (`warnings.jsonl`, an `omitted`
    /// audit entry, a metric) and delivers the record; `reject` quarantines the record.
    /// A code the region's `cp2011-sixth` table maps is sent mapped. (default: `omit`)
    #[serde(default)]
    pub optional_unmappable: Unmappable,
    /// A folder with the region's own code tables (`cp2011-sixth.tsv`, `cp2011.tsv`,
    /// ...; the format of the embedded ones), each in place of the embedded table of
    /// that name. (default: the embedded tables)
    #[serde(default)]
    pub code_tables: Option<PathBuf>,
    /// The region's secret, the key of every hash stored of a business key (64 hex
    /// digits, owner-only; created at first start when missing). Every instance that
    /// shares a dedup index needs the same file, and it is backed up with the data.
    /// (default: `DATA_DIR/secret.key`)
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// `[anchor]`: where the signed heads of the audit chains go.
    #[serde(default)]
    pub anchor: Option<AnchorConfig>,
    /// `[retention]`: how long personal content is kept (`silgate purge`, and once a
    /// day inside `silgate run`).
    #[serde(default)]
    pub retention: Option<RetentionConfig>,
    /// The folder the config file is in (relative paths resolve there).
    #[serde(skip)]
    pub base: PathBuf,
}

fn default_instance() -> String {
    "gateway".into()
}

fn default_batch() -> usize {
    500
}

/// `[queue] backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    /// The embedded SQLite queue (default).
    #[default]
    Sqlite,
    /// A RabbitMQ quorum queue (scale-out).
    Rabbitmq,
}

/// `[queue]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// `sqlite` or `rabbitmq`. (default: sqlite)
    #[serde(default)]
    pub backend: QueueBackend,
    /// SQLite: file (relative to data_dir). (default: queue.db)
    #[serde(default = "default_queue_file")]
    pub path: PathBuf,
    /// SQLite: most items held before producers block. (default: 1000000)
    #[serde(default = "default_capacity")]
    pub capacity: u64,
    /// SQLite: lease visibility timeout, seconds. (default: 300)
    #[serde(default = "default_visibility")]
    pub visibility_timeout_secs: u64,
    /// RabbitMQ: URI (required for rabbitmq).
    #[serde(default)]
    pub uri: Option<String>,
    /// RabbitMQ: queue name. (default: silgate.records)
    #[serde(default = "default_queue_name")]
    pub name: String,
    /// RabbitMQ: prefetch. (default: 64)
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// RabbitMQ with an `amqps://` URI: a PEM file of CA certificates the broker's
    /// certificate may chain to, trusted besides the system's roots (relative to the
    /// config file).
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            backend: QueueBackend::Sqlite,
            path: default_queue_file(),
            capacity: default_capacity(),
            visibility_timeout_secs: default_visibility(),
            uri: None,
            name: default_queue_name(),
            prefetch: default_prefetch(),
            ca: None,
        }
    }
}

fn default_queue_file() -> PathBuf {
    "queue.db".into()
}
fn default_capacity() -> u64 {
    1_000_000
}
fn default_visibility() -> u64 {
    300
}
fn default_queue_name() -> String {
    "silgate.records".into()
}
fn default_prefetch() -> u16 {
    64
}

/// `[audit] backend` and `[dedup] backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// A SQLite file under data_dir (default).
    #[default]
    Sqlite,
    /// PostgreSQL, shared by several instances.
    Postgres,
}

/// `[audit]` and `[dedup]`: SQLite file (default) or PostgreSQL.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite` or `postgres`. (default: sqlite)
    #[serde(default)]
    pub backend: StoreBackend,
    /// SQLite file (relative to data_dir). (default: audit.db / dedup.db)
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// PostgreSQL connection string (required for postgres). With `sslmode=require`
    /// the connection is TLS, the server's certificate and name verified.
    #[serde(default)]
    pub url: Option<String>,
    /// With `sslmode=require`: a PEM file of the CA certificates the database's
    /// certificate must chain to (relative to the config file; default: the system's
    /// roots).
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

impl StoreConfig {
    /// The TLS roots for its PostgreSQL connection.
    pub(crate) fn pg_tls(&self, key: &str) -> Result<silgate_store::pg::PgTls> {
        match &self.ca {
            Some(ca) => silgate_store::pg::PgTls::from_pem_file(ca).map_err(|e| GatewayError::config(format!("{key}.ca: {e}"))),
            None => Ok(silgate_store::pg::PgTls::default()),
        }
    }
}

/// The kinds of input the gateway reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// The canonical model as JSON, one record per line.
    CanonicalJson,
    /// A Sintesi XML export feed (`SintesiExport`).
    Sintesi,
    /// A SIL Plus export: a folder or zip with `EXPORT.TXT`.
    Silplus,
    /// An Access database (.mdb/.accdb), workbook (.xlsx/.xls), CSV exports, or a zip.
    Access,
    /// A PEC message saved as .eml, or a PEC mailbox.
    Pec,
}

impl SourceKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [SourceKind; 5] = [Self::CanonicalJson, Self::Sintesi, Self::Silplus, Self::Access, Self::Pec];

    /// The name used in config files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CanonicalJson => "canonical-json",
            Self::Sintesi => "sintesi",
            Self::Silplus => "silplus",
            Self::Access => "access",
            Self::Pec => "pec",
        }
    }

    /// The kind of a name (`canonical-json`, ...).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::str::FromStr for SourceKind {
    type Err = GatewayError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| GatewayError::config(format!("unknown source kind '{s}' (canonical-json, sintesi, silplus, access, pec)")))
    }
}

/// `[[sources]]`: an inbox folder polled for files of one kind, a Sintesi feed pulled
/// over HTTPS, or a PEC mailbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The kind of input (`canonical-json`, `sintesi`, `silplus`, `access`, `pec`).
    pub kind: SourceKind,
    /// Sintesi over HTTPS: the base URL; `GET {url}/export?cpi={cpi}&dal={watermark}`.
    #[serde(default)]
    pub url: Option<String>,
    /// Sintesi over HTTPS: the CPI whose feed is pulled.
    #[serde(default)]
    pub cpi: Option<String>,
    /// Sintesi over HTTPS: the CA certificate(s) the server's certificate must chain to.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Sintesi over HTTPS: client certificate and key, when the server asks for one.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// See `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// PEC: the mailbox polled over IMAP.
    #[serde(default)]
    pub imap: Option<ImapConfig>,
    /// Table mapping for silplus / access: a TOML file (relative to the config file)
    /// or a built-in name (`silplus-1`, `campania-1`). (default: the kind's built-in)
    #[serde(default)]
    pub mapping: Option<String>,
    /// The folder; processed files move to `<inbox>/done/`, refused ones to
    /// `<inbox>/refused/` with a `.reason.txt` beside them.
    #[serde(default)]
    pub inbox: Option<PathBuf>,
    /// Seconds between polls. (default: 5)
    #[serde(default = "default_poll")]
    pub poll_secs: u64,
}

/// Where a source's inputs come from: the one of `inbox`, `url` and `imap` it gives.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// An inbox folder.
    Inbox(&'a Path),
    /// A Sintesi feed pulled over HTTPS.
    Pull(&'a str),
    /// A PEC mailbox.
    Imap(&'a ImapConfig),
}

impl SourceConfig {
    /// Where its inputs come from, or `None` when it gives none or several.
    pub fn origin(&self) -> Option<Origin<'_>> {
        match (&self.inbox, &self.url, &self.imap) {
            (Some(i), None, None) => Some(Origin::Inbox(i)),
            (None, Some(u), None) => Some(Origin::Pull(u)),
            (None, None, Some(m)) => Some(Origin::Imap(m)),
            _ => None,
        }
    }

    /// Seconds between polls, at least one.
    pub fn every(&self) -> Duration {
        Duration::from_secs(self.poll_secs.max(1))
    }
}

/// `[sources.imap] security`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImapSecurity {
    /// TLS from the first byte (port 993). (default)
    #[default]
    Imaps,
    /// STARTTLS on a plain connection (port 143).
    Starttls,
    /// No TLS at all: loopback servers only (tests).
    InsecureLoopback,
}

/// `[sources.imap]`: a PEC mailbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// Server host.
    pub host: String,
    /// Port (993 for IMAPS, 143 for STARTTLS).
    pub port: u16,
    /// `imaps`, `starttls`, or `insecure-loopback` (plaintext, loopback servers only).
    /// (default: imaps)
    #[serde(default)]
    pub security: ImapSecurity,
    /// Login name.
    pub user: String,
    /// Password (prefer `password_env`).
    #[serde(default)]
    pub password: Option<String>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// CA certificate(s) the server's certificate must chain to (required with TLS).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Folder polled. (default: INBOX)
    #[serde(default = "default_inbox_folder")]
    pub mailbox: String,
    /// Folder processed messages move to. (default: silgate-processed)
    #[serde(default = "default_processed_folder")]
    pub processed: String,
}

fn default_inbox_folder() -> String {
    "INBOX".into()
}
fn default_processed_folder() -> String {
    "silgate-processed".into()
}
fn default_poll() -> u64 {
    5
}

/// The `[pec]` table of a config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PecSettings {
    /// PEM files of the CA certificates that issue the PEC providers' signing
    /// certificates (relative to the config file): a signature's chain must end at one.
    #[serde(default)]
    pub providers: Vec<PathBuf>,
    /// PEM files of the providers' signing certificates (required): a signature must
    /// come from one of them (pinning), not merely chain to a provider's CA.
    #[serde(default)]
    pub signers: Vec<PathBuf>,
    /// PEM files of the providers' CAs' CRLs: when given, a signer revoked by its
    /// issuer's CRL is refused, and so is every message of a provider whose CRL is
    /// missing or past its next update (the operator refreshes the files; they are read
    /// again when they change).
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// Certified sender address -> CPI code.
    #[serde(default)]
    pub senders: BTreeMap<String, String>,
    /// Ingest anomaly envelopes (the original came by ordinary mail). (default: false)
    #[serde(default)]
    pub accept_anomalies: bool,
    /// Largest attachment, MiB. (default: 64)
    #[serde(default = "default_attachment_mib")]
    pub max_attachment_mib: u64,
    /// Largest message, MiB. (default: 256)
    #[serde(default = "default_message_mib")]
    pub max_message_mib: u64,
}

fn default_attachment_mib() -> u64 {
    64
}
fn default_message_mib() -> u64 {
    256
}

/// `[api]`: the CPI push API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Where to listen (a loopback address without `[api.tls]`).
    pub listen: SocketAddr,
    /// Largest body, KiB. (default: 256)
    #[serde(default = "default_body_kib")]
    pub max_body_kib: usize,
    /// Requests per minute per CPI. (default: 600)
    #[serde(default = "default_rate")]
    pub rate_per_minute: u32,
    /// The CPIs allowed to push.
    #[serde(default)]
    pub clients: Vec<ApiClient>,
    /// HTTPS, with client certificates asked for (and checked when given).
    #[serde(default)]
    pub tls: Option<ApiTls>,
    /// Most connections at once. (default: 512)
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// With `[api.tls]`: most connections at once from one IP address; one more is
    /// closed at once. (default: 16)
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// Seconds a connection may stay silent: in its TLS handshake, before its request
    /// headers are in, or between requests. (default: 15)
    /// Also the time each piece of a request body, and each write of an answer, may
    /// take.
    #[serde(default = "silgate_serve::default_idle_secs")]
    pub idle_secs: u64,
    /// Seconds a connection may last: then it is asked to close (it finishes the
    /// request it serves within 10 s, else it is cut). (default: 300)
    #[serde(default = "silgate_serve::default_lifetime_secs")]
    pub max_connection_secs: u64,
    /// Seconds a request's whole body may take to arrive; a slower one is answered
    /// with an error. (default: 60)
    #[serde(default = "silgate_serve::default_body_secs")]
    pub max_body_secs: u64,
}

impl ApiConfig {
    /// An API on `listen` for `clients`, without TLS (so on a loopback address), every
    /// other setting at its default.
    pub fn new(listen: SocketAddr, clients: Vec<ApiClient>) -> Self {
        Self {
            listen,
            max_body_kib: default_body_kib(),
            rate_per_minute: default_rate(),
            clients,
            tls: None,
            max_connections: default_max_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            idle_secs: silgate_serve::default_idle_secs(),
            max_connection_secs: silgate_serve::default_lifetime_secs(),
            max_body_secs: silgate_serve::default_body_secs(),
        }
    }

    /// The connection limits of the API's listener (per address: its TLS setting's
    /// to decide, see the push API).
    pub fn conn_limits(&self) -> silgate_serve::ConnLimits {
        let timers = silgate_serve::Timers { idle_secs: self.idle_secs, lifetime_secs: self.max_connection_secs, body_secs: self.max_body_secs };
        silgate_serve::ConnLimits::from_config(self.max_connections, self.max_connections_per_ip, timers)
    }
}

fn default_max_connections() -> usize {
    512
}
fn default_max_connections_per_ip() -> usize {
    16
}

fn default_body_kib() -> usize {
    256
}
fn default_rate() -> u32 {
    600
}

/// `[api.tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTls {
    /// PEM certificate chain of the API.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates that sign the CPIs' client certificates. A client that shows
    /// a certificate not signed by one of them is refused in the handshake; one that
    /// shows none may still use a bearer token.
    pub client_ca: PathBuf,
}

/// `[[api.clients]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiClient {
    /// The CPI code.
    pub cpi: String,
    /// SHA-256 (hex) of its bearer token.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// SHA-256 (hex) of its client certificate (DER), with `[api.tls]`:
    /// `openssl x509 -in cpi.pem -outform der | sha256sum`.
    #[serde(default)]
    pub cert_sha256: Option<String>,
}

/// `[anchor]`: the audit log's anchors (`silgate audit anchor`, and a run inside
/// `silgate run`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorConfig {
    /// The file the signed heads are appended to: on another volume or host than the
    /// data directory and the audit database, where their owner cannot rewrite it
    /// (append-only: `chattr +a`, a WORM share).
    pub file: PathBuf,
    /// Seconds between two anchors inside `silgate run` (at least 60; 0: only at start,
    /// at shutdown and by `silgate audit anchor`). (default: 3600)
    #[serde(default = "default_anchor_every")]
    pub every_secs: u64,
    /// The Ed25519 key the anchors are signed with (PKCS#8, owner-only; made at the
    /// first anchor). (default: `DATA_DIR/anchor.key`)
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

fn default_anchor_every() -> u64 {
    3600
}

/// `[retention]`: days personal content is kept, each kind on its own; a kind without a
/// number is kept (the region decides: its own rules on keeping CVs and vacancies).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Dead letters (whole documents), from when they were dead-lettered.
    #[serde(default)]
    pub dead_letters_days: Option<u32>,
    /// Inputs kept after reading (`done/`, `refused/` of every inbox, pulled feeds set
    /// aside in `DATA_DIR/refused/`), from when they were moved there.
    #[serde(default)]
    pub inputs_days: Option<u32>,
    /// Refused records kept for a replay (`DATA_DIR/kept.db`, with their records),
    /// from when they were (last) refused; a replayed one's line goes then too.
    #[serde(default)]
    pub refused_days: Option<u32>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub listen: SocketAddr,
}

/// One problem of a configuration: the key it is about and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key (`sources[2].imap.security`), or the section.
    pub key: String,
    /// What is wrong, and what to do.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Whether the validator looks at the files a configuration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Files named must exist; mapping files must parse.
    Check,
    /// The configuration alone (a build machine without the certificates).
    Ignore,
}

/// Collects problems.
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem { key: key.into(), message: message.into() });
    }

    fn file(&mut self, files: Files, p: &Path, key: impl Into<String>) {
        if files == Files::Check && !p.is_file() {
            self.push(key, format!("{} does not exist or is not a file", p.display()));
        }
    }
}

fn abs(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

fn resolve_node(n: &mut ClientConfig, base: &Path) {
    for p in [&mut n.ca, &mut n.client_cert, &mut n.client_key].into_iter().flatten() {
        *p = abs(base, p);
    }
}

fn resolve_source(s: &mut SourceConfig, base: &Path) {
    s.inbox = s.inbox.as_deref().map(|p| abs(base, p));
    for p in [&mut s.ca, &mut s.client_cert, &mut s.client_key].into_iter().flatten() {
        *p = abs(base, p);
    }
    if let Some(ca) = s.imap.as_mut().and_then(|i| i.ca.as_mut()) {
        *ca = abs(base, ca);
    }
    if let Some(m) = &mut s.mapping
        && silgate_source_tabular::Mapping::builtin(m).is_none()
    {
        *m = abs(base, Path::new(m)).display().to_string();
    }
}

pub(crate) fn resolve_pec(p: &mut PecSettings, base: &Path) {
    for f in p.providers.iter_mut().chain(p.signers.iter_mut()).chain(p.crls.iter_mut()) {
        *f = abs(base, f);
    }
}

fn resolve_api(a: &mut ApiConfig, base: &Path) {
    if let Some(t) = a.tls.as_mut() {
        for p in [&mut t.cert, &mut t.key, &mut t.client_ca] {
            *p = abs(base, p);
        }
    }
}

/// The region rules: `region` names a region of the ministry's table (by name or
/// code), and `region_name` (the eGov sender) is that region's name, alphanumeric.
fn check_region(region: &str, region_name: &str, p: &mut Problems) {
    let regions = silgate_codes::Regions::embedded();
    let Some(r) = regions.find(region) else {
        p.push("region", format!("'{region}' is neither a region's name nor its code in the ministry's table (`silgate codes` lists them: 14 PUGLIA, 16 SICILIA, ...)"));
        return;
    };
    if r.is_national() {
        p.push("region", "00 is the national node's code, not a region's");
        return;
    }
    if !region_name.bytes().all(|b| b.is_ascii_alphanumeric()) || region_name.is_empty() {
        p.push("region_name", format!("the eGov sender name must be letters and digits only, e.g. {}", r.party_name()));
    } else if let Some(theirs) = regions.find(region_name).filter(|t| t.code != r.code) {
        // A sender name that is another region's name: the two keys disagree (the usual
        // cause, a configuration written for ISTAT numbers, is named when it fits).
        let istat = if region.bytes().all(|b| b.is_ascii_digit()) { "; a configuration written for ISTAT numbers? see README, Upgrading" } else { "" };
        p.push(
            "region, region_name",
            format!(
                "region {region} is {} {} in the ministry's table, but region_name {region_name} is {} {}: they must name one region{istat}",
                r.code, r.name, theirs.code, theirs.name
            ),
        );
    }
}

fn check_queue(q: &QueueConfig, files: Files, p: &mut Problems) {
    if q.backend == QueueBackend::Sqlite && q.visibility_timeout_secs < 2 {
        p.push("queue.visibility_timeout_secs", "at least 2: a lease is renewed at half of it");
    }
    if q.backend == QueueBackend::Rabbitmq && q.uri.is_none() {
        p.push("queue.uri", "required for the rabbitmq backend");
    }
    if let Some(ca) = &q.ca {
        if q.uri.as_deref().is_some_and(|u| u.starts_with("amqps://")) {
            p.file(files, ca, "queue.ca");
        } else {
            p.push("queue.ca", "used only with an amqps:// queue.uri (TLS to the broker)");
        }
    }
}

/// The embedded code tables with a region's own files from `dir` in place of theirs
/// (`<stem>.tsv`, for each [`silgate_codes::TableName`] present there): what
/// `code_tables` in the config and `--code-tables` on the command line load.
pub fn code_tables_from(dir: &Path) -> std::result::Result<silgate_codes::CodeTables, String> {
    if !dir.is_dir() {
        return Err(format!("{} does not exist or is not a folder", dir.display()));
    }
    let mut texts = std::collections::HashMap::new();
    for t in silgate_codes::TableName::ALL {
        let p = dir.join(format!("{}.tsv", t.stem()));
        match std::fs::read_to_string(&p) {
            Ok(text) => {
                texts.insert(t, text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("reading {}: {e}", p.display())),
        }
    }
    silgate_codes::CodeTables::load(&|t| texts.get(&t).cloned()).map_err(|e| format!("{}: {e}", dir.display()))
}

fn check_code_tables(dir: &Path, files: Files, p: &mut Problems) {
    if files == Files::Check
        && let Err(e) = code_tables_from(dir)
    {
        p.push("code_tables", e);
    }
}

fn check_retention(r: &RetentionConfig, p: &mut Problems) {
    for (key, v) in [("retention.dead_letters_days", r.dead_letters_days), ("retention.inputs_days", r.inputs_days), ("retention.refused_days", r.refused_days)] {
        if v == Some(0) {
            p.push(key, "at least 1 (leave it out to keep them)");
        }
    }
}

/// What keeps `[anchor] file` from where anchors belong, judged on the disk (`None`:
/// fine): its folder must exist (an unmounted volume is not replaced by a local
/// folder), and it may lie neither in the data directory nor beside the SQLite audit
/// file, symbolic links and `..` resolved.
pub(crate) fn anchor_problem(a: &AnchorConfig, cfg: &GatewayConfig) -> Option<String> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let parent = a.file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Some(format!("its folder {} does not exist (a volume not mounted?)", parent.display()));
    }
    let folder = canon(parent);
    let mut own = vec![canon(&cfg.data_dir)];
    if cfg.audit.backend == StoreBackend::Sqlite {
        let db = cfg.audit_file();
        own.extend(db.parent().map(canon));
    }
    own.iter().any(|d| folder.starts_with(d)).then(|| {
        "is inside data_dir or beside the audit database: put the anchors where the database's owner cannot rewrite them (another volume or host, an append-only file)".to_string()
    })
}

fn check_anchor(a: &AnchorConfig, data_dir: &Path, p: &mut Problems) {
    if a.every_secs != 0 && a.every_secs < 60 {
        p.push("anchor.every_secs", "at least 60 (or 0: only at start, at shutdown and by `silgate audit anchor`)");
    }
    if a.file.starts_with(data_dir) {
        p.push("anchor.file", "is inside data_dir: put the anchors where the database's owner cannot rewrite them (another volume or host, an append-only file)");
    }
}

fn check_limits(l: &silgate_source_tabular::Limits, p: &mut Problems) {
    for (key, v) in [
        ("limits.max_index_rows", l.max_index_rows),
        ("limits.max_sheet_cells", l.max_sheet_cells),
        ("limits.max_shared_strings", l.max_shared_strings),
        ("limits.max_workbook_part_bytes", l.max_workbook_part_bytes),
        ("limits.max_sheet_text_bytes", l.max_sheet_text_bytes),
        ("limits.max_xml_event_bytes", l.max_xml_event_bytes),
        ("limits.max_line_bytes", l.max_line_bytes),
        ("limits.max_unfinished_reads", u64::from(l.max_unfinished_reads)),
    ] {
        if v == 0 {
            p.push(key, "must be at least 1");
        }
    }
}

fn check_delivery(d: &RetryConfig, p: &mut Problems) {
    if d.lease_renew_secs == 0 {
        p.push("delivery.lease_renew_secs", "must be at least 1");
    }
}

fn check_store(s: &StoreConfig, name: &str, files: Files, p: &mut Problems) {
    if s.backend == StoreBackend::Postgres && s.url.is_none() {
        p.push(format!("{name}.url"), "required for the postgres backend");
    }
    if let Some(ca) = &s.ca {
        p.file(files, ca, format!("{name}.ca"));
        // Only sslmode=require connects over TLS: a CA beside anything else would be
        // silently unused.
        if !s.url.as_deref().is_some_and(|u| u.contains("sslmode=require")) {
            p.push(format!("{name}.ca"), "used only with sslmode=require in the url (TLS to PostgreSQL)");
        }
    }
}

fn check_node(n: &ClientConfig, files: Files, p: &mut Problems) {
    if n.url.starts_with("https://") {
        match &n.ca {
            Some(ca) => p.file(files, ca, "node.ca"),
            None => p.push("node.ca", "required for an https node"),
        }
    } else if !silgate_publish::plain_http_allowed(&n.url) {
        p.push("node.url", format!("plain http only to a loopback node (127.0.0.1, [::1], localhost), not {}", n.url));
    }
    match (&n.client_cert, &n.client_key) {
        (Some(c), Some(k)) => {
            p.file(files, c, "node.client_cert");
            p.file(files, k, "node.client_key");
        }
        (None, None) => {}
        _ => p.push("node.client_cert, node.client_key", "give both or neither"),
    }
}

/// Why a `[pec]` table without pinned signing certificates is refused.
pub(crate) const NO_SIGNERS: &str = "the providers' signing certificates are needed (pinning): without them any certificate a provider's CA issued could sign a forged daticert.xml (see the README on where they come from)";

fn check_pec(s: &PecSettings, files: Files, p: &mut Problems) {
    if s.providers.is_empty() {
        p.push("pec.providers", "at least one provider certificate is needed");
    }
    for (i, f) in s.providers.iter().enumerate() {
        p.file(files, f, format!("pec.providers[{i}]"));
    }
    if s.signers.is_empty() {
        p.push("pec.signers", NO_SIGNERS);
    }
    for (i, f) in s.signers.iter().enumerate() {
        p.file(files, f, format!("pec.signers[{i}]"));
    }
    for (i, f) in s.crls.iter().enumerate() {
        p.file(files, f, format!("pec.crls[{i}]"));
    }
    if s.senders.is_empty() {
        p.push("pec.senders", "no sender is allowed: every PEC message would be refused");
    }
}

fn check_api(a: &ApiConfig, files: Files, p: &mut Problems) {
    if let Some(t) = &a.tls {
        p.file(files, &t.cert, "api.tls.cert");
        p.file(files, &t.key, "api.tls.key");
        p.file(files, &t.client_ca, "api.tls.client_ca");
    }
    for (key, v) in [
        ("api.max_connections", a.max_connections as u64),
        ("api.max_connections_per_ip", a.max_connections_per_ip as u64),
        ("api.idle_secs", a.idle_secs),
        ("api.max_connection_secs", a.max_connection_secs),
        ("api.max_body_secs", a.max_body_secs),
    ] {
        if v == 0 {
            p.push(key, "must be at least 1");
        }
    }
    if a.tls.is_none() && !a.listen.ip().is_loopback() {
        p.push("api.listen", format!("{} is not loopback: without [api.tls], TLS belongs to the proxy in front", a.listen));
    }
    let is_sha256 = |h: &str| {
        let h = h.replace(':', "");
        h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
    };
    for (i, c) in a.clients.iter().enumerate() {
        if c.token_sha256.as_deref().is_some_and(|h| !is_sha256(h)) {
            p.push(format!("api.clients[{i}].token_sha256"), "not a SHA-256 in hex (64 characters)");
        }
        if c.cert_sha256.as_deref().is_some_and(|h| !is_sha256(h)) {
            p.push(format!("api.clients[{i}].cert_sha256"), "not a SHA-256 in hex (64 characters)");
        }
        match (&c.token_sha256, &c.cert_sha256) {
            (None, None) => p.push(format!("api.clients[{i}]"), format!("({}) give token_sha256, cert_sha256 or both", c.cpi)),
            (_, Some(_)) if a.tls.is_none() => p.push(format!("api.clients[{i}].cert_sha256"), "client certificates need [api.tls]"),
            _ => {}
        }
    }
}

fn check_source(i: usize, s: &SourceConfig, has_pec: bool, files: Files, p: &mut Problems) {
    let key = format!("sources[{i}]");
    match s.origin() {
        Some(Origin::Inbox(_)) => {}
        Some(Origin::Pull(u)) => {
            if s.kind != SourceKind::Sintesi {
                p.push(format!("{key}.url"), "only a sintesi source is pulled over HTTPS");
            }
            if !u.starts_with("https://") {
                p.push(format!("{key}.url"), "must be https://");
            }
            if s.cpi.is_none() {
                p.push(format!("{key}.cpi"), "required with url");
            }
            match &s.ca {
                Some(ca) => p.file(files, ca, format!("{key}.ca")),
                None => p.push(format!("{key}.ca"), "required with url"),
            }
        }
        Some(Origin::Imap(imap)) => check_imap(imap, &key, s.kind, files, p),
        None => p.push(&key, "give exactly one of inbox, url (sintesi) or imap (pec)"),
    }
    if s.kind == SourceKind::Pec && !has_pec {
        p.push(&key, "a pec source needs the [pec] table (provider certificates, allowed senders)");
    }
    if let Some(m) = &s.mapping
        && silgate_source_tabular::Mapping::builtin(m).is_none()
    {
        match std::fs::read_to_string(m) {
            Ok(t) => {
                if let Err(e) = silgate_source_tabular::Mapping::parse(m, &t) {
                    p.push(format!("{key}.mapping"), e.to_string());
                }
            }
            Err(_) if files == Files::Ignore => {}
            Err(e) => p.push(format!("{key}.mapping"), format!("{m} cannot be read ({e}); built-in: silplus-1, campania-1")),
        }
    }
}

fn check_imap(imap: &ImapConfig, key: &str, kind: SourceKind, files: Files, p: &mut Problems) {
    if kind != SourceKind::Pec {
        p.push(format!("{key}.imap"), "only a pec source reads a mailbox");
    }
    match imap.security {
        ImapSecurity::Imaps | ImapSecurity::Starttls => match &imap.ca {
            Some(ca) => p.file(files, ca, format!("{key}.imap.ca")),
            None => p.push(format!("{key}.imap.ca"), "required with TLS"),
        },
        ImapSecurity::InsecureLoopback if silgate_publish::is_loopback_host(&imap.host) => {}
        ImapSecurity::InsecureLoopback => p.push(format!("{key}.imap.security"), format!("insecure-loopback with a host that is not loopback ({})", imap.host)),
    }
    if imap.password.is_none() && imap.password_env.is_none() {
        p.push(format!("{key}.imap"), "password or password_env is required");
    }
}

impl GatewayConfig {
    /// The embedded default for one region (`region` by name or ministerial code, held
    /// by its code): SQLite queue, dedup index and audit under
    /// `data_dir`, delivery to `node`, no sources (records arrive through
    /// [`Parts::ingest_files`](crate::Parts::ingest_files) or the push API), every
    /// other setting at its default.
    pub fn new(region: impl Into<String>, region_name: impl Into<String>, data_dir: PathBuf, node: ClientConfig) -> Self {
        let mut cfg = Self {
            instance: default_instance(),
            region: region.into(),
            region_name: region_name.into(),
            data_dir,
            queue: QueueConfig::default(),
            audit: StoreConfig::default(),
            dedup: StoreConfig::default(),
            node,
            delivery: RetryConfig::default(),
            sources: Vec::new(),
            batch: default_batch(),
            pec: None,
            api: None,
            metrics: None,
            limits: silgate_source_tabular::Limits::default(),
            optional_unmappable: Unmappable::default(),
            code_tables: None,
            secret_file: None,
            anchor: None,
            retention: None,
            base: PathBuf::new(),
        };
        cfg.normalize_region();
        cfg
    }

    /// Loads a TOML file, with `SILGATE__SECTION__KEY` environment overrides; relative
    /// paths are resolved against the file's directory; then validates it (the files it
    /// names are looked at by [`crate::Gateway::start`], which needs them). Every
    /// problem found is in the error.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg = Self::read(path)?;
        let problems = cfg.validate(Files::Ignore);
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(Problem::to_string).collect();
            return Err(GatewayError::config(format!("{}: {}", path.display(), list.join("; "))));
        }
        Ok(cfg)
    }

    /// Reads a configuration as [`GatewayConfig::load`] does, without judging what its
    /// sections mean: for the commands that only read the stores (`audit verify`,
    /// `audit query`, `report weekly`, `dlq list`), which an operator must be able to
    /// run on a configuration that would not start (a broken `[api]` section, say).
    pub fn read(path: &Path) -> Result<Self> {
        let raw = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(config::Environment::with_prefix("SILGATE").prefix_separator("__").separator("__"))
            .build()
            .map_err(|e| GatewayError::config(format!("reading {}: {e}", path.display())))?;
        let mut cfg: Self = raw.try_deserialize().map_err(|e| GatewayError::config(format!("{}: invalid configuration: {e}", path.display())))?;
        cfg.resolve(path.parent().map(Path::to_path_buf).unwrap_or_default());
        Ok(cfg)
    }

    /// A region given by name is held by its ministerial code from here on, and the eGov
    /// sender name in upper case (the envelope carries it as written).
    pub fn normalize_region(&mut self) {
        if let Some(r) = silgate_codes::Regions::embedded().find(&self.region) {
            self.region.clone_from(&r.code);
        }
        self.region_name.make_ascii_uppercase();
    }

    /// Makes the relative paths of the configuration relative to `base` (the config
    /// file's folder), and remembers `base`.
    pub fn resolve(&mut self, base: PathBuf) {
        self.normalize_region();
        self.data_dir = abs(&base, &self.data_dir);
        for ca in [&mut self.queue.ca, &mut self.audit.ca, &mut self.dedup.ca, &mut self.code_tables, &mut self.secret_file].into_iter().flatten() {
            *ca = abs(&base, ca);
        }
        if let Some(a) = self.anchor.as_mut() {
            a.file = abs(&base, &a.file);
            if let Some(k) = a.key_file.as_mut() {
                *k = abs(&base, k);
            }
        }
        resolve_node(&mut self.node, &base);
        if let Some(a) = self.api.as_mut() {
            resolve_api(a, &base);
        }
        if let Some(p) = self.pec.as_mut() {
            resolve_pec(p, &base);
        }
        for s in &mut self.sources {
            resolve_source(s, &base);
        }
        self.base = base;
    }

    /// Every problem of the configuration (empty: none): the one validator, used by
    /// `run`, `ingest` and `config check` alike.
    pub fn validate(&self, files: Files) -> Vec<Problem> {
        let mut p = Problems(Vec::new());
        check_region(&self.region, &self.region_name, &mut p);
        check_queue(&self.queue, files, &mut p);
        check_delivery(&self.delivery, &mut p);
        check_limits(&self.limits, &mut p);
        if let Some(dir) = &self.code_tables {
            check_code_tables(dir, files, &mut p);
        }
        if files == Files::Check
            && let Some(why) = crate::secret::problem(&self.secret_path())
        {
            p.push("secret_file", why);
        }
        check_store(&self.audit, "audit", files, &mut p);
        check_store(&self.dedup, "dedup", files, &mut p);
        if let Some(a) = &self.anchor {
            check_anchor(a, &self.data_dir, &mut p);
            if files == Files::Check
                && let Some(why) = anchor_problem(a, self)
            {
                p.push("anchor.file", why);
            }
        }
        if let Some(r) = &self.retention {
            check_retention(r, &mut p);
            if r.dead_letters_days.is_some() && self.queue.backend == QueueBackend::Rabbitmq {
                p.push("retention.dead_letters_days", "the RabbitMQ dead-letter queue is the broker's to expire: set a message-ttl policy on <queue>.dead, and leave this out");
            }
        }
        check_node(&self.node, files, &mut p);
        if let Some(pec) = &self.pec {
            check_pec(pec, files, &mut p);
        }
        if let Some(a) = &self.api {
            check_api(a, files, &mut p);
        }
        for (i, s) in self.sources.iter().enumerate() {
            check_source(i, s, self.pec.is_some(), files, &mut p);
        }
        p.0
    }

    fn in_data(&self, p: &Path) -> PathBuf {
        abs(&self.data_dir, p)
    }

    /// The SQLite queue's file (whatever the backend in use).
    pub fn queue_file(&self) -> PathBuf {
        self.in_data(&self.queue.path)
    }

    /// The SQLite audit's file (`audit.path`, default `DATA_DIR/audit.db`; whatever the
    /// backend in use).
    pub fn audit_file(&self) -> PathBuf {
        self.in_data(self.audit.path.as_deref().unwrap_or(Path::new("audit.db")))
    }

    /// The SQLite dedup index's file (`dedup.path`, default `DATA_DIR/dedup.db`;
    /// whatever the backend in use).
    pub fn dedup_file(&self) -> PathBuf {
        self.in_data(self.dedup.path.as_deref().unwrap_or(Path::new("dedup.db")))
    }

    /// The region's secret file (`secret_file`, default `DATA_DIR/secret.key`).
    pub fn secret_path(&self) -> PathBuf {
        self.secret_file.clone().unwrap_or_else(|| self.data_dir.join("secret.key"))
    }

    /// The audit anchor key (`[anchor] key_file`, default `DATA_DIR/anchor.key`).
    pub fn anchor_key_path(&self) -> PathBuf {
        self.anchor.as_ref().and_then(|a| a.key_file.clone()).unwrap_or_else(|| self.data_dir.join("anchor.key"))
    }

    /// The quarantine file: one JSON line per rejected record.
    pub fn quarantine_path(&self) -> PathBuf {
        self.data_dir.join("quarantine.jsonl")
    }

    /// The store of refused records kept for a replay (`DATA_DIR/kept.db`).
    pub fn kept_file(&self) -> PathBuf {
        self.data_dir.join("kept.db")
    }

    /// The code tables to judge with: the embedded ones, with the region's own files
    /// from `code_tables` in place of theirs.
    pub fn load_code_tables(&self) -> Result<Option<silgate_codes::CodeTables>> {
        self.code_tables.as_deref().map(|dir| code_tables_from(dir).map_err(|e| GatewayError::config(format!("code_tables: {e}")))).transpose()
    }

    /// The delivery settings as the publisher uses them: a lease is renewed at least
    /// twice per visibility timeout of the SQLite queue, whatever `lease_renew_secs`
    /// says.
    pub fn effective_delivery(&self) -> RetryConfig {
        let mut d = self.delivery.clone();
        if self.queue.backend == QueueBackend::Sqlite {
            d.lease_renew_secs = d.lease_renew_secs.min((self.queue.visibility_timeout_secs / 2).max(1));
        }
        d
    }

    /// Opens the configured queue.
    pub async fn open_queue(&self) -> Result<AnyQueue> {
        Ok(match self.queue.backend {
            QueueBackend::Sqlite => {
                let mut c = SqliteConfig::new(self.queue_file());
                c.holder = Some(self.instance.clone());
                c.capacity = self.queue.capacity;
                c.visibility_timeout = Duration::from_secs(self.queue.visibility_timeout_secs);
                AnyQueue::Sqlite(SqliteQueue::open(c).await?)
            }
            QueueBackend::Rabbitmq => {
                let uri = self.queue.uri.clone().context("queue.uri is required for the rabbitmq backend")?;
                let mut c = RabbitConfig::new(uri);
                c.queue.clone_from(&self.queue.name);
                c.prefetch = self.queue.prefetch;
                if let Some(ca) = &self.queue.ca {
                    let pem = std::fs::read_to_string(ca).map_err(|e| GatewayError::io(format!("queue.ca: reading {}", ca.display()), e))?;
                    // The broker's TLS stack skips what does not parse: an empty or
                    // wrong file would be ignored without a word.
                    if !pem.contains("-----BEGIN CERTIFICATE-----") {
                        return Err(GatewayError::config(format!("queue.ca: {} holds no PEM certificate", ca.display())));
                    }
                    c.ca_pem = Some(pem);
                }
                AnyQueue::Rabbit(RabbitQueue::connect(c).await?)
            }
        })
    }

    /// Opens the configured audit log.
    pub async fn open_audit(&self) -> Result<AuditLog> {
        Ok(match self.audit.backend {
            StoreBackend::Sqlite => AuditLog::sqlite(&self.audit_file()).await?,
            StoreBackend::Postgres => {
                AuditLog::postgres(self.audit.url.as_deref().context("audit.url is required for the postgres backend")?, &self.audit.pg_tls("audit")?).await?
            }
        })
    }

    /// Opens the configured dedup index.
    pub async fn open_dedup(&self) -> Result<DedupIndex> {
        Ok(match self.dedup.backend {
            StoreBackend::Sqlite => DedupIndex::open(&self.dedup_file()).await?,
            StoreBackend::Postgres => {
                DedupIndex::postgres(self.dedup.url.as_deref().context("dedup.url is required for the postgres backend")?, &self.dedup.pg_tls("dedup")?).await?
            }
        })
    }
}

/// The top-level keys of a gateway configuration.
const KEYS: [&str; 20] = [
    "instance",
    "region",
    "region_name",
    "data_dir",
    "queue",
    "audit",
    "dedup",
    "node",
    "delivery",
    "sources",
    "batch",
    "pec",
    "api",
    "metrics",
    "limits",
    "optional_unmappable",
    "code_tables",
    "secret_file",
    "anchor",
    "retention",
];

/// One section read on its own; a shape problem is reported with its key path.
fn section<T: DeserializeOwned>(v: Option<&toml::Value>, name: &str, p: &mut Problems) -> Option<T> {
    let v = v?;
    match serde_path_to_error::deserialize::<_, T>(v.clone()) {
        Ok(t) => Some(t),
        Err(e) => {
            let path = e.path().to_string();
            let key = if path == "." || path.is_empty() { name.to_string() } else { format!("{name}.{path}") };
            p.push(key, e.into_inner().message().to_string());
            None
        }
    }
}

/// `silgate config check FILE`: every problem of a configuration file at once, instead
/// of the first one a start would stop at. The TOML itself; then each section read on
/// its own against its shape (unknown keys, wrong types and values, missing keys), so
/// one bad section does not hide the next; then the rules of [`GatewayConfig::validate`]
/// on every section that parsed. Environment overrides are not applied: this checks the
/// file.
pub fn check_file(path: &Path, files: Files) -> Vec<Problem> {
    let mut p = Problems(Vec::new());
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![Problem { key: path.display().to_string(), message: format!("cannot be read: {e}") }],
    };
    let root: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => return vec![Problem { key: path.display().to_string(), message: format!("not TOML: {}", e.message()) }],
    };
    let base = path.parent().unwrap_or(Path::new("."));
    for k in root.keys() {
        if !KEYS.contains(&k.as_str()) {
            p.push(k, format!("unknown key (expected one of {})", KEYS.join(", ")));
        }
    }
    for k in ["region", "region_name", "data_dir", "node"] {
        if !root.contains_key(k) {
            p.push(k, "missing");
        }
    }
    match (root.get("region").map(toml::Value::as_str), root.get("region_name").and_then(toml::Value::as_str)) {
        (Some(Some(r)), Some(name)) => check_region(r, name, &mut p),
        (Some(Some(r)), None) => check_region(r, "", &mut p),
        (Some(None), _) => p.push("region", "must be a string: a region's name (\"puglia\") or its ministerial code (\"14\")"),
        (None, _) => {}
    }
    for k in ["instance", "region_name"] {
        if root.get(k).is_some_and(|v| !v.is_str()) {
            p.push(k, "must be a string");
        }
    }
    let _ = section::<PathBuf>(root.get("data_dir"), "data_dir", &mut p);
    let _ = section::<usize>(root.get("batch"), "batch", &mut p);
    let _ = section::<Unmappable>(root.get("optional_unmappable"), "optional_unmappable", &mut p);
    if let Some(dir) = section::<PathBuf>(root.get("code_tables"), "code_tables", &mut p) {
        check_code_tables(&abs(base, &dir), files, &mut p);
    }
    if let Some(file) = section::<PathBuf>(root.get("secret_file"), "secret_file", &mut p)
        && files == Files::Check
        && let Some(why) = crate::secret::problem(&abs(base, &file))
    {
        p.push("secret_file", why);
    }
    if let Some(r) = section::<RetentionConfig>(root.get("retention"), "retention", &mut p) {
        check_retention(&r, &mut p);
    }
    if let Some(mut a) = section::<AnchorConfig>(root.get("anchor"), "anchor", &mut p) {
        a.file = abs(base, &a.file);
        let data = root.get("data_dir").and_then(toml::Value::as_str).map(|d| abs(base, Path::new(d)));
        check_anchor(&a, data.as_deref().unwrap_or(Path::new("\0")), &mut p);
    }
    if let Some(mut q) = section::<QueueConfig>(root.get("queue"), "queue", &mut p) {
        if let Some(ca) = q.ca.as_mut() {
            *ca = abs(base, ca);
        }
        check_queue(&q, files, &mut p);
    }
    for name in ["audit", "dedup"] {
        if let Some(mut s) = section::<StoreConfig>(root.get(name), name, &mut p) {
            if let Some(ca) = s.ca.as_mut() {
                *ca = abs(base, ca);
            }
            check_store(&s, name, files, &mut p);
        }
    }
    if let Some(mut n) = section::<ClientConfig>(root.get("node"), "node", &mut p) {
        resolve_node(&mut n, base);
        check_node(&n, files, &mut p);
    }
    if let Some(d) = section::<RetryConfig>(root.get("delivery"), "delivery", &mut p) {
        check_delivery(&d, &mut p);
    }
    let pec = section::<PecSettings>(root.get("pec"), "pec", &mut p);
    if let Some(mut s) = pec.clone() {
        resolve_pec(&mut s, base);
        check_pec(&s, files, &mut p);
    }
    if let Some(mut a) = section::<ApiConfig>(root.get("api"), "api", &mut p) {
        resolve_api(&mut a, base);
        check_api(&a, files, &mut p);
    }
    let _ = section::<MetricsConfig>(root.get("metrics"), "metrics", &mut p);
    if let Some(l) = section::<silgate_source_tabular::Limits>(root.get("limits"), "limits", &mut p) {
        check_limits(&l, &mut p);
    }
    if let Some(list) = root.get("sources") {
        match list.as_array() {
            None => p.push("sources", "must be an array of tables ([[sources]])"),
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    let Some(mut s) = section::<SourceConfig>(Some(v), &format!("sources[{i}]"), &mut p) else { continue };
                    resolve_source(&mut s, base);
                    check_source(i, &s, pec.is_some() || root.contains_key("pec"), files, &mut p);
                }
            }
        }
    }
    p.0
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
