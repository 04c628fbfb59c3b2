//! Where a record came from.
//!
//! Provenance travels with the record from the adapter to quarantine, the queue and the
//! audit log, so that an operator can always answer "which file, which line".

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of system a record was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum SourceSystem {
    /// Sintesi XML export feed (Puglia, Lombardy).
    Sintesi,
    /// SIL Plus delimited export (Sicily).
    SilPlus,
    /// Microsoft Access database or its Excel/CSV exports (Campania).
    Access,
    /// A certified e-mail (PEC) message.
    Pec,
    /// A record pushed by a CPI over the push API.
    Push,
    /// A national 1546 XML document read as such.
    Std1546,
    /// The canonical model as JSON lines.
    #[default]
    CanonicalJson,
}

impl SourceSystem {
    /// The stable name used in config, CLI flags and quarantine lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sintesi => "sintesi",
            Self::SilPlus => "silplus",
            Self::Access => "access",
            Self::Pec => "pec",
            Self::Push => "push",
            Self::Std1546 => "std1546",
            Self::CanonicalJson => "canonical-json",
        }
    }
}

impl fmt::Display for SourceSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A position inside the origin (file or message) of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "at", rename_all = "kebab-case")]
pub enum Position {
    /// Position not known (a record built in memory).
    #[default]
    Unknown,
    /// 1-based line of a text file.
    Line(u64),
    /// 1-based row of a table or sheet.
    Row {
        /// Table or sheet name.
        table: String,
        /// 1-based row number, header excluded.
        row: u64,
    },
    /// An XPath-like location inside an XML document.
    XPath(String),
    /// A MIME part path (`1.2.3`) inside a message, then the position inside the part.
    MimePart(String),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => f.write_str("?"),
            Self::Line(n) => write!(f, "line {n}"),
            Self::Row { table, row } => write!(f, "{table} row {row}"),
            Self::XPath(p) => f.write_str(p),
            Self::MimePart(p) => write!(f, "part {p}"),
        }
    }
}

/// Where a record came from: system, CPI, file or message, position.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The kind of source system.
    pub system: SourceSystem,
    /// The CPI code of the centre that holds the record (empty when not known yet).
    #[serde(default)]
    pub cpi: String,
    /// The file name, URL or message id the record was read from.
    #[serde(default)]
    pub origin: String,
    /// The position of the record inside its origin.
    #[serde(default)]
    pub position: Position,
    /// When the source system last changed the record (Sintesi `@ultimaModifica`,
    /// SIL Plus and Access `DT_ULT_MOD`), Unix ms, where it says: the order of the
    /// record's versions. A version older than one already queued or delivered is
    /// superseded and not sent; without it versions go in the order they were read.
    /// (Never the epoch itself: non-zero keeps a rejection small.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_ms: Option<std::num::NonZeroI64>,
}

impl Provenance {
    /// A provenance for `system`, `origin` and `position`, CPI not yet known.
    pub fn new(system: SourceSystem, origin: impl Into<String>, position: Position) -> Self {
        Self { system, cpi: String::new(), origin: origin.into(), position, modified_ms: None }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.system, self.origin, self.position)
    }
}
