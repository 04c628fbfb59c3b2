//! Which physical table and column hold each logical one, and the region's local code
//! tables: the versioned `format_version` of sources.md.
//!
//! A mapping file is TOML:
//!
//! ```toml
//! format_version = "campania-1"
//! [tables.LAVORATORI]             # the logical table (Entity::name)
//! table = "Anagrafica"            # the physical table, sheet or file stem
//! columns = { ID_LAV = "IdLavoratore", COD_FISC = "CodiceFiscale" }  # others: same name
//! [codes.orario]                  # local code -> national code
//! "T" = "FT"
//! [csv]
//! delimiter = ";"
//! encoding = "windows-1252"       # or "utf-8"
//! ```
//!
//! Code tables a mapping may override: `sesso`, `orario`, `livello` (CEFR),
//! `stato_lavoratore`, `stato_richiesta`, `contratto`, `qualifica`, `ateco`,
//! `titolo`, `lingua`, `cittadinanza`, `comune`. A value listed there is replaced by
//! its national code before any other reading.

use crate::entity::Entity;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A mapping that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// Not TOML, or not this shape.
    #[error("mapping {name}: {message}")]
    Invalid {
        /// The mapping's name or file.
        name: String,
        /// What is wrong.
        message: String,
    },
}

impl MappingError {
    /// A stable code.
    pub fn as_code(&self) -> &'static str {
        "mapping.invalid"
    }
}

/// Where one logical table lives.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableMap {
    /// Physical table, sheet or file stem.
    pub table: String,
    /// Logical column -> physical column; unlisted columns keep their logical name.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
}

/// How delimited files of this mapping are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// One character.
    #[serde(default = "semicolon")]
    pub delimiter: String,
    /// `windows-1252` or `utf-8` (a UTF-8 byte-order mark is honoured anyway).
    #[serde(default = "cp1252")]
    pub encoding: String,
}

fn semicolon() -> String {
    ";".into()
}
fn cp1252() -> String {
    "windows-1252".into()
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self { delimiter: semicolon(), encoding: cp1252() }
    }
}

/// A whole mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Its version name (`silplus-1`, `campania-1`, or the region's own).
    pub format_version: String,
    /// Logical table name -> where it lives. Unlisted tables keep their logical name.
    #[serde(default)]
    pub tables: BTreeMap<String, TableMap>,
    /// Local code tables: table -> local code -> national code.
    #[serde(default)]
    pub codes: BTreeMap<String, BTreeMap<String, String>>,
    /// Delimited files.
    #[serde(default)]
    pub csv: CsvOptions,
}

const CAMPANIA_1: &str = include_str!("../mappings/campania-1.toml");

impl Mapping {
    /// Parses a mapping file's text; `name` is used in errors.
    pub fn parse(name: &str, text: &str) -> Result<Self, MappingError> {
        let m: Self = toml::from_str(text).map_err(|e| MappingError::Invalid { name: name.into(), message: e.message().to_string() })?;
        for t in m.tables.keys() {
            if Entity::parse(t).is_none() {
                return Err(MappingError::Invalid {
                    name: name.into(),
                    message: format!("unknown logical table '{t}' (expected one of LAVORATORI, ESPERIENZE, TITOLI, LINGUE, DISPONIBILITA, AZIENDE, RICHIESTE)"),
                });
            }
        }
        for (t, tm) in &m.tables {
            let e = Entity::parse(t).ok_or_else(|| MappingError::Invalid { name: name.into(), message: format!("unknown table {t}") })?;
            if let Some(c) = tm.columns.keys().find(|c| e.index(c).is_none()) {
                return Err(MappingError::Invalid { name: name.into(), message: format!("table {t}: unknown logical column '{c}'") });
            }
        }
        if m.csv.delimiter.len() != 1 {
            return Err(MappingError::Invalid { name: name.into(), message: "csv.delimiter must be one ASCII character".into() });
        }
        if !matches!(m.csv.encoding.as_str(), "windows-1252" | "utf-8") {
            return Err(MappingError::Invalid { name: name.into(), message: "csv.encoding must be windows-1252 or utf-8".into() });
        }
        Ok(m)
    }

    /// The SIL Plus mapping (`silplus-1`): tables are the files `LAVORATORI.CSV`...,
    /// columns keep their names.
    pub fn silplus() -> Self {
        let tables = Entity::ALL.iter().map(|e| (e.name().to_string(), TableMap { table: format!("{}.CSV", e.name()), columns: BTreeMap::new() })).collect();
        Self { format_version: "silplus-1".into(), tables, codes: BTreeMap::new(), csv: CsvOptions::default() }
    }

    /// Campania's Access mapping (`campania-1`).
    pub fn campania1() -> Self {
        // The text is part of the crate; its test proves it parses.
        Self::parse("campania-1", CAMPANIA_1).unwrap_or_else(|_| Self::silplus())
    }

    /// A built-in mapping by name.
    pub fn builtin(name: &str) -> Option<Self> {
        match name {
            "silplus-1" => Some(Self::silplus()),
            "campania-1" => Some(Self::campania1()),
            _ => None,
        }
    }

    /// The physical table of an entity.
    pub fn table(&self, e: Entity) -> String {
        self.tables.get(e.name()).map_or_else(|| e.name().to_string(), |t| t.table.clone())
    }

    /// The physical column of a logical one.
    pub fn column<'a>(&'a self, e: Entity, logical: &'a str) -> &'a str {
        self.tables.get(e.name()).and_then(|t| t.columns.get(logical)).map_or(logical, String::as_str)
    }

    /// The national code a local table gives for `value`, if it lists it.
    pub fn local_code(&self, table: &str, value: &str) -> Option<&str> {
        self.codes.get(table).and_then(|t| t.get(value)).map(String::as_str)
    }

    /// The delimiter byte.
    pub fn delimiter(&self) -> u8 {
        self.csv.delimiter.bytes().next().unwrap_or(b';')
    }
}
