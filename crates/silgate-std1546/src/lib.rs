//! The national standard of decreto direttoriale 1546/2011 (ClicLavoro Allegato 4):
//! canonical records to XML and back, and validation.
//!
//! # Layout
//!
//! - [`write`]: canonical -> XML (Candidatura Rev.038, Vacancy Rev.064), element order
//!   fixed by the XSD sequences.
//! - [`read`]: XML -> canonical, returning `(Option<Record>, Vec<Issue>)`.
//! - [`xsd`]: validation against the project's schemas in `schemas/` (embedded),
//!   in process with libxml2, on one dedicated thread.
//! - [`rules`]: the business rules a schema cannot express (checksums, codes at a date,
//!   coherence, closures).
//! - [`egov`]: the SOAP 1.1 + eGov envelope that carries one document to the node.
//! - [`code`]: the 25-character communication code and its allocators.
//! - [`fields`]: the national path of each element and the canonical field it is
//!   written from, so that an issue names the source's own field too.
//! - [`fit`]: optional codes the standard cannot carry (a five-level CP2011 code), mapped
//!   by the region's table, left out with a warning, or rejected, by policy.
//!
//! [`validate_xml`] and [`emit`] are the two entry points: one judges a document, the
//! other turns a record into a document and judges it. Both return every issue, never
//! just the first.
//!
//! Only this crate knows XML.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod code;
pub mod egov;
pub mod fields;
pub mod fit;
pub mod read;
pub mod rules;
mod tree;
pub mod write;
pub mod xsd;

use silgate_codes::CodeTables;
use silgate_core::{Date, Issue, Provenance, Record};
pub use xsd::{XsdError, XsdValidator};

/// The outcome of judging one document.
#[derive(Debug, Clone)]
pub struct Report {
    /// The record, when it could be read.
    pub record: Option<Record>,
    /// Every issue: reading, XSD, business rules.
    pub issues: Vec<Issue>,
}

impl Report {
    /// True when no issue is an error.
    pub fn is_valid(&self) -> bool {
        !silgate_core::issue::has_errors(&self.issues)
    }
}

/// Judges a 1546 document: reads it, validates it against our XSD, and checks the
/// business rules at `today`.
pub fn validate_xml(xml: &[u8], provenance: Provenance, tables: &CodeTables, today: Date, xsd: &XsdValidator) -> Result<Report, XsdError> {
    // The kind comes from the root the parser found (a comment cannot fool it); it is
    // None when the document is malformed, has another root or wrong namespaces.
    let (kind, record, mut issues) = read::read_with_kind(xml, provenance);
    if let Some(kind) = kind {
        for i in xsd.validate(kind, xml)? {
            if !issues.iter().any(|j| j.path == i.path && j.rule.starts_with("xml.")) {
                issues.push(i);
            }
        }
    }
    if let Some(r) = &record {
        issues.extend(rules::check_record(r, tables, today));
    }
    Ok(Report { record, issues })
}

/// Turns a record into a document and judges it (business rules, then XSD on the
/// output). The XML is returned even when invalid, for diagnosis; callers quarantine
/// the record when [`Report::is_valid`] is false.
pub fn emit(record: &Record, tables: &CodeTables, today: Date, xsd: &XsdValidator) -> Result<(String, Vec<Issue>), XsdError> {
    let xml = write::write_record(record);
    let mut issues = rules::check_record(record, tables, today);
    issues.extend(xsd.validate(record.kind(), xml.as_bytes())?);
    Ok((xml, issues))
}

#[cfg(test)]
mod tests;
