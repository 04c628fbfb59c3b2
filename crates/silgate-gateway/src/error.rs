//! The gateway's one error type, [`GatewayError`], and [`Context`], which wraps an
//! error with what was being done (`opening /srv/inbox/x.jsonl: ...`).
//!
//! Every message is whole in its `Display` (the wrapped error is part of the text, not
//! a separate `source()`), so a log line or the CLI's `error:` line reads the same
//! whatever prints it. What the drivers need to decide (is this the input's fault or
//! the gateway's?) is asked of the value ([`GatewayError::input_fault`]), never of
//! its text.

use silgate_core::SourceError;

/// What can go wrong in the gateway runtime.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration is unusable; the message names the key.
    #[error("{0}")]
    Config(String),
    /// A local file or folder could not be read or written.
    #[error("{what}: {err}")]
    Io {
        /// What was being done, naming the path.
        what: String,
        /// The operating system's error.
        err: std::io::Error,
    },
    /// A local IO error where the operation names itself in the context around it.
    #[error("{0}")]
    Os(#[from] std::io::Error),
    /// An input could not be read (it is unreadable, not what its kind reads, or refused
    /// whole).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The thread reading an input died (a panic in an adapter): the input's fault.
    #[error("the reader of this input failed: {0}")]
    ReaderFailed(String),
    /// A mailbox gave no body for a message it listed.
    #[error("the server gave no body for UID {0}")]
    NoBody(u32),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] silgate_core::QueueError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] silgate_audit::AuditError),
    /// The dedup index failed.
    #[error(transparent)]
    Dedup(#[from] silgate_dedup::DedupError),
    /// The delivery failed.
    #[error(transparent)]
    Publish(#[from] silgate_publish::PublishError),
    /// The XSD validator could not be built or run.
    #[error(transparent)]
    Xsd(#[from] silgate_std1546::XsdError),
    /// A table mapping is invalid.
    #[error(transparent)]
    Mapping(#[from] silgate_source_tabular::MappingError),
    /// The PEC trust settings are unusable.
    #[error(transparent)]
    Pec(#[from] silgate_source_pec::envelope::EnvelopeError),
    /// The IMAP session failed.
    #[error(transparent)]
    Imap(#[from] silgate_source_pec::mailbox::ImapError),
    /// The instance's lock on PostgreSQL could not be asked for (the server is down).
    #[error("taking the instance's lock on PostgreSQL: {0}")]
    Lock(String),
    /// An HTTP exchange (the Sintesi pull) failed.
    #[error("{0}")]
    Http(String),
    /// TLS settings are unusable.
    #[error("tls: {0}")]
    Tls(String),
    /// A line could not be written as JSON.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A listener failed.
    #[error("{what}: {err}")]
    Serve {
        /// Which listener.
        what: &'static str,
        /// Why.
        err: std::io::Error,
    },
    /// The store of kept refusals failed.
    #[error("kept refusals: {0}")]
    Kept(#[from] silgate_store::StoreError),
    /// A retention purge left entries it could not delete (the log names the folders).
    #[error("{0}")]
    Retention(String),
    /// A task of the gateway ended abnormally.
    #[error("{0} task failed")]
    Task(&'static str),
    /// An error with what was being done when it happened.
    #[error("{context}: {inner}")]
    Context {
        /// What was being done.
        context: String,
        /// What went wrong.
        inner: Box<GatewayError>,
    },
}

impl GatewayError {
    /// A configuration error.
    pub fn config(msg: impl Into<String>) -> Self {
        Self::Config(msg.into())
    }

    /// A local IO error, naming what was being done.
    pub fn io(what: impl Into<String>, err: std::io::Error) -> Self {
        Self::Io { what: what.into(), err }
    }

    /// Stable short code for logs and the CLI.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Config(_) => "gateway.config",
            Self::Io { .. } | Self::Os(_) => "gateway.io",
            Self::Source(e) => e.as_code(),
            Self::ReaderFailed(_) => "source.reader",
            Self::NoBody(_) => "pec.no-body",
            Self::Queue(e) => e.as_code(),
            Self::Audit(e) => e.as_code(),
            Self::Dedup(e) => e.as_code(),
            Self::Publish(e) => e.as_code(),
            Self::Xsd(_) => "std1546.xsd",
            Self::Mapping(_) => "source.mapping",
            Self::Pec(_) => "pec.trust",
            Self::Imap(_) => "pec.imap",
            Self::Lock(_) => "gateway.lock",
            Self::Http(_) => "gateway.http",
            Self::Tls(_) => "gateway.tls",
            Self::Json(_) => "gateway.json",
            Self::Serve { .. } => "gateway.listen",
            Self::Task(_) => "gateway.task",
            Self::Retention(_) => "gateway.retention",
            Self::Kept(e) => e.as_code(),
            Self::Context { inner, .. } => inner.as_code(),
        }
    }

    /// The error under any [`GatewayError::Context`] wrappers.
    pub fn root(&self) -> &GatewayError {
        match self {
            Self::Context { inner, .. } => inner.root(),
            other => other,
        }
    }

    /// The source error, when reading an input failed.
    pub fn source_error(&self) -> Option<&SourceError> {
        match self.root() {
            Self::Source(e) => Some(e),
            _ => None,
        }
    }

    /// True when the failure belongs to the input being read (not what its kind reads,
    /// refused whole, its reader died, the server gave no body), not to the gateway
    /// (queue, database, local disk: then every input would fail alike, and none should
    /// be set aside).
    pub fn input_fault(&self) -> bool {
        match self.root() {
            Self::Source(e) => !matches!(e, SourceError::Io { .. }),
            Self::ReaderFailed(_) | Self::NoBody(_) => true,
            _ => false,
        }
    }
}

impl From<tokio::task::JoinError> for GatewayError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::ReaderFailed(e.to_string())
    }
}

impl From<rustls::Error> for GatewayError {
    fn from(e: rustls::Error) -> Self {
        Self::Tls(e.to_string())
    }
}

impl From<reqwest::Error> for GatewayError {
    fn from(e: reqwest::Error) -> Self {
        Self::Http(e.to_string())
    }
}

/// Adds what was being done to an error, as `anyhow::Context` does, into a
/// [`GatewayError::Context`].
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl Into<String>) -> Result<T, GatewayError>;
    /// Wraps the error with the text `f` makes (only on error).
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T, GatewayError>;
}

impl<T, E: Into<GatewayError>> Context<T> for Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T, GatewayError> {
        self.map_err(|e| GatewayError::Context { context: context.into(), inner: Box::new(e.into()) })
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T, GatewayError> {
        self.map_err(|e| GatewayError::Context { context: f().into(), inner: Box::new(e.into()) })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Into<String>) -> Result<T, GatewayError> {
        self.ok_or_else(|| GatewayError::Config(context.into()))
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T, GatewayError> {
        self.ok_or_else(|| GatewayError::Config(f().into()))
    }
}

/// The result type of the gateway.
pub type Result<T, E = GatewayError> = std::result::Result<T, E>;
