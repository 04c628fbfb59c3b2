//! The canonical model of silgate: what every source adapter produces and what the
//! decreto 1546/2011 writer consumes.
//!
//! # Layout
//!
//! - [`model`] holds the records themselves: [`Cv`] (a worker's "candidatura") and
//!   [`Vacancy`] (an employer's "ricerca di personale"), wrapped in [`Record`]. The
//!   field set is the one of the national standard plus what the regional systems carry
//!   beyond it (residence, consent), so that nothing a source says is lost before the
//!   writer decides what the national document can hold.
//! - [`provenance`] says where a record came from: the source system, the CPI, the file
//!   or message, and the position inside it. Every record carries one.
//! - [`issue`] is the one shape of every problem found while mapping or validating:
//!   (path, rule, message, severity). Mapping and validation return `(T, Vec<Issue>)`
//!   rather than stopping at the first problem, which is also what quarantine stores.
//! - [`queue`] is the seam between ingest and delivery: [`QueueItem`] and the
//!   [`Queue`] trait the backends of `silgate-queue` implement.
//! - [`source`] is the seam between adapters and the rest: the [`Source`] trait,
//!   what adapters emit ([`SourceItem`], [`Rejection`]) and the [`SourceError`] of an
//!   input that cannot be read at all.
//! - [`time_types`] has the two date types of the standard: [`Timestamp`] (an
//!   `xs:dateTime` that remembers whether it carried an offset) and re-exports
//!   `time::Date` for `xs:date`.
//!
//! - [`private`] is the one place files and folders holding personal data are created
//!   (owner-only, whatever the umask) and temporary folders are named and cleaned.
//!
//! Apart from [`private`], this crate does no IO: no files, no network, no
//! environment. Canonical types are
//! not the wire format: JSON is their serde form, the national XML is produced by
//! `silgate-std1546`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod issue;
pub mod json;
pub mod model;
pub mod private;
pub mod provenance;
pub mod queue;
pub mod source;
pub mod time_types;

pub use issue::{Issue, Severity};
pub use model::*;
pub use provenance::{FieldMap, Position, Provenance, SourceFields, SourceSystem};
pub use queue::{DeadLetter, FullPolicy, LeaseId, Leased, Queue, QueueError, QueueItem, QueueStats};
pub use source::{Emit, ReadSummary, Rejection, Source, SourceError, SourceItem};
pub use time_types::{Date, Timestamp, TimestampError};
