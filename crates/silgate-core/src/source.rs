//! The seam between source adapters and the rest of silgate: the [`Source`] trait.
//!
//! An adapter reads one input (a Sintesi feed, a SIL Plus export, an Access database, a
//! PEC message...) and hands what it finds, in input order, to an emitter:
//!
//! - [`SourceItem::Record`]: a canonical [`Record`] with its [`Provenance`] filled in
//!   (system, CPI, file, position). It is not judged yet: the national rules and the
//!   XSD are applied downstream, once, for every source alike.
//! - [`SourceItem::Rejected`]: a row or element that could not even be mapped (missing
//!   column, unknown local code, child row without parent...), with every
//!   [`Issue`] found. Quarantine stores it; the rest of the input goes on.
//!
//! An input that cannot be read at all (missing file, a zip that is not a zip, a
//! database that is not Jet, an export whose manifest does not match) is a
//! [`SourceError`] returned by [`Source::read`]: the caller reports it once, clearly.
//! Adapters that check an input whole (the SIL Plus manifest) do so before emitting
//! anything, so a refused input never half-ingests.
//!
//! Adapters know nothing of queues: this is vector's source/sink split. The emitter is
//! a plain closure; the binary decides whether it writes files, fills a bounded
//! channel towards the queue, or counts. Returning [`ControlFlow::Break`] stops the
//! read early (shutdown); the adapter returns `Ok` with what it emitted so far.

use crate::issue::Issue;
use crate::model::Record;
use crate::provenance::{Provenance, SourceSystem};
use std::ops::ControlFlow;

/// One thing an adapter found in its input.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceItem {
    /// A record mapped to the canonical model (not judged yet).
    Record(Box<Record>),
    /// A part of the input that could not be mapped.
    Rejected(Rejection),
}

/// A part of the input that could not be mapped to a record, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Where it is: system, CPI (when known), file, position.
    pub provenance: Provenance,
    /// Every problem found; at least one error. Paths name the source's own field
    /// (`LAVORATORI.CSV/COD_FISC`, `Lavoratore/@stato`); messages never hold the value
    /// of a personal field.
    pub issues: Vec<Issue>,
}

impl Rejection {
    /// A rejection with one error.
    pub fn one(provenance: Provenance, field: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self { provenance, issues: vec![Issue::error(field, rule, message)] }
    }
}

/// The callback an adapter emits items to; `Break` asks it to stop.
pub type Emit<'a> = dyn FnMut(SourceItem) -> ControlFlow<()> + 'a;

/// What a finished read says about its input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Records emitted.
    pub records: u64,
    /// Rejections emitted.
    pub rejected: u64,
    /// The high-water mark of the input, for sources that pull incrementally (the
    /// largest `ultimaModifica` seen in a Sintesi feed). The caller persists it only
    /// after the emitted records are durably queued.
    pub watermark: Option<String>,
    /// True when the emitter asked to stop before the end of the input.
    pub stopped: bool,
}

impl ReadSummary {
    /// Counts `item` and passes it on to `emit`; records whether `emit` asked to stop.
    pub fn emit(&mut self, emit: &mut Emit<'_>, item: SourceItem) -> ControlFlow<()> {
        match &item {
            SourceItem::Record(_) => self.records += 1,
            SourceItem::Rejected(_) => self.rejected += 1,
        }
        let flow = emit(item);
        if flow.is_break() {
            self.stopped = true;
        }
        flow
    }
}

/// An input that cannot be read at all. The message names the input and says what is
/// wrong with it, in terms an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The input could not be opened or read.
    #[error("{input}: {source}")]
    Io {
        /// The input (file, URL, message).
        input: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input is not what the adapter reads (a zip that is not a zip, a database
    /// that is not Jet, a Sintesi feed with another root).
    #[error("{input}: {message}")]
    Format {
        /// The input.
        input: String,
        /// What is wrong.
        message: String,
    },
    /// The input is refused whole: its parts do not agree (a SIL Plus export whose
    /// files do not match its manifest, a required column missing from a header).
    #[error("{input}: refused whole: {message}")]
    Refused {
        /// The input.
        input: String,
        /// Why.
        message: String,
    },
    /// The input is refused whole because reading it would pass a configured limit (a
    /// sheet's grid, a part's inflated size): what it asks for is said, never allocated.
    #[error("{input}: refused whole, over the limit {rule}: {message}")]
    Limit {
        /// The input.
        input: String,
        /// The limit's rule id (`limit.sheet_cells`, ...).
        rule: &'static str,
        /// What the input asks for, and the limit.
        message: String,
    },
}

impl SourceError {
    /// A stable code for the error kind.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "source.io",
            Self::Format { .. } => "source.format",
            Self::Refused { .. } => "source.refused",
            Self::Limit { rule, .. } => rule,
        }
    }

    /// A format error for `input`.
    pub fn format(input: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Format { input: input.into(), message: message.into() }
    }

    /// A refusal of `input`.
    pub fn refused(input: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Refused { input: input.into(), message: message.into() }
    }

    /// A refusal of `input` by the limit `rule`.
    pub fn limit(input: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self::Limit { input: input.into(), rule, message: message.into() }
    }

    /// An IO error on `input`.
    pub fn io(input: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { input: input.into(), source }
    }
}

/// A source adapter: reads its input and emits records and rejections in input order.
///
/// Implementations stream: memory does not grow with the input (joins that cannot
/// stream are bounded and say so in their error).
pub trait Source {
    /// The kind of system this adapter reads.
    fn system(&self) -> SourceSystem;

    /// Reads the whole input, emitting every record and rejection.
    fn read(&mut self, emit: &mut Emit<'_>) -> Result<ReadSummary, SourceError>;
}
