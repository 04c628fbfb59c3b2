//! Problems found in a record: one shape for mapping, XSD and business-rule findings.
//!
//! An [`Issue`] names *where* (a path into the national document, e.g.
//! `/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale`), *which rule* (a stable id
//! such as `cf.checksum` or `xsd.pattern`), and *what* (a lower-case message). Rule ids
//! are stable strings: the CLI, the quarantine file and the audit log use them as keys.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad an issue is.
///
/// Errors make a record invalid (it goes to quarantine). Warnings are reported and
/// counted, and the record is still delivered: the typical warning is a well-formed
/// code missing from a code table known to be incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported, counted, still delivered.
    Warning,
    /// The record is rejected.
    Error,
}

/// One problem with one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// Error or warning.
    pub severity: Severity,
    /// Location of the offending field, as a path into the national document.
    pub path: String,
    /// Stable rule id (`xsd.pattern`, `cf.checksum`, `comune.unknown`, ...).
    pub rule: String,
    /// What is wrong, lower-case, no trailing period. Never holds CV content
    /// (names, fiscal codes, contacts): only codes, dates formats and rule facts.
    pub message: String,
    /// The source's own field and position (`ESPERIENZE.CSV/COD_QUAL line 7`; the
    /// national path itself for a national document; see [`crate::SourceFields`]),
    /// where the source or the adapter could tell it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_field: Option<String>,
}

impl Issue {
    /// An error at `path` breaking `rule`.
    pub fn error(path: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, path: path.into(), rule: rule.into(), message: message.into(), source_field: None }
    }

    /// A warning at `path` about `rule`.
    pub fn warning(path: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, path: path.into(), rule: rule.into(), message: message.into(), source_field: None }
    }

    /// This issue, naming also the source's own field and position.
    pub fn at_source(mut self, source: impl Into<String>) -> Self {
        self.source_field = Some(source.into());
        self
    }

    /// True when this issue rejects the record.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(s) = self.source_field.as_ref().filter(|s| **s != self.path) {
            write!(f, " ({s})")?;
        }
        match self.severity {
            Severity::Error => write!(f, ": {}: {}", self.rule, self.message),
            Severity::Warning => write!(f, ": {}: warning: {}", self.rule, self.message),
        }
    }
}

/// True when any issue in `issues` is an error.
pub fn has_errors(issues: &[Issue]) -> bool {
    issues.iter().any(Issue::is_error)
}
