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
    /// How the source names the record's fields: what an issue found after mapping
    /// (the XSD, the rules, the codes) names beside its national path.
    /// (An adapter's to say: not part of the published schema of a canonical record.)
    #[serde(default, skip_serializing_if = "SourceFields::is_canonical")]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub fields: SourceFields,
}

impl Provenance {
    /// A provenance for `system`, `origin` and `position`, CPI not yet known.
    pub fn new(system: SourceSystem, origin: impl Into<String>, position: Position) -> Self {
        Self { system, cpi: String::new(), origin: origin.into(), position, modified_ms: None, fields: SourceFields::default() }
    }

    /// The source's own name and position of the canonical field `pointer` (a JSON
    /// pointer into the record, `/experiences/0/profession`) whose national path is
    /// `national`: see [`SourceFields`]. `None` when the source filled neither the
    /// field nor any part that holds it.
    pub fn source_of(&self, pointer: &str, national: &str) -> Option<String> {
        match self.fields.0.as_deref() {
            // Only the canonical model is named by its own pointers: another source
            // without names (kept by a build that did not name them) names nothing.
            None if !matches!(self.system, SourceSystem::CanonicalJson | SourceSystem::Push) => None,
            // A group that is the record itself (`DatiCurriculari`): the record's place.
            None if pointer.is_empty() => Some(match &self.position {
                Position::Unknown => "/".to_string(),
                p => p.to_string(),
            }),
            None => Some(match &self.position {
                Position::Unknown => pointer.to_string(),
                p => format!("{pointer} {p}"),
            }),
            Some(Named::National) => Some(national.to_string()),
            Some(Named::Mapped(m)) => m.locate(pointer),
        }
    }
}

/// How a source names the fields of its records.
///
/// Issues of the national standard (an XSD facet, a business rule, a code) are found
/// on the canonical record after the adapter mapped it, and name the national path
/// (`/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/qualificasvolta`). The
/// operator fixes the source, so each issue also names the source's own field and
/// position (`ESPERIENZE.CSV/COD_QUAL line 7`): the adapter says here how, one of
/// - canonical (the default): the source is the canonical model itself (canonical JSON
///   lines, the push API's JSON); a field is its JSON pointer, at the record's position;
/// - national: the source is a national 1546 document; a field is its national path;
/// - mapped: the adapter's own names, each canonical field it filled and each part it
///   built from one row or element with the source's field and position ([`FieldMap`]).
///
/// (One pointer wide: a provenance travels with every record and every rejection.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SourceFields(Option<Box<Named>>);

/// The ways of naming that are not the canonical model's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Named {
    National,
    Mapped(FieldMap),
}

impl SourceFields {
    /// Fields named as the national document names them.
    pub fn national() -> Self {
        Self(Some(Box::new(Named::National)))
    }

    /// Fields named by the adapter, as `map` says.
    pub fn mapped(map: FieldMap) -> Self {
        Self(Some(Box::new(Named::Mapped(map))))
    }

    /// True when the fields are the canonical model's own (not written: the default).
    pub fn is_canonical(&self) -> bool {
        self.0.is_none()
    }

    /// True when the fields are a national document's.
    pub fn is_national(&self) -> bool {
        matches!(self.0.as_deref(), Some(Named::National))
    }

    /// The adapter's names, when it gave them.
    pub fn mapped_fields(&self) -> Option<&FieldMap> {
        match self.0.as_deref() {
            Some(Named::Mapped(m)) => Some(m),
            _ => None,
        }
    }
}

/// Canonical fields (JSON pointers: `/worker/fiscal_code`, `/experiences/0`) with the
/// source's field and position each was read from (`ESPERIENZE.CSV/COD_QUAL line 7`,
/// `/SintesiExport/Lavoratore[4]/Esperienze/Esperienza[1]/@qualifica`).
///
/// An adapter notes each part of a record it built from one row or element
/// ([`FieldMap::part`]): where it was read, and which of its fields it filled, by
/// names shared by every row of a table ([`FieldNames`]). That costs one entry per
/// row, not a string per field: the names are spelled out only for an issue
/// ([`FieldMap::locate`]). An issue on a field the part did not fill (a mandatory
/// element missing, a code silgate derived) names the part's row or element.
///
/// Written as a list of (canonical field, source) pairs, and read back as such (a
/// kept refusal keeps its record with them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldMap {
    parts: Vec<Part>,
    /// Pairs noted one by one, or read back.
    flat: Vec<(String, String)>,
}

/// The names of the fields a part of a record may fill: for each, the canonical field
/// under the part (`/profession`) and the source's own name of it (`COD_QUAL`,
/// `@qualifica`). Built once per table and shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldNames(std::sync::Arc<[(std::borrow::Cow<'static, str>, std::borrow::Cow<'static, str>)]>);

impl FieldNames {
    /// The names, in the order of [`FieldMap::part`]'s `filled` bits (at most 64).
    pub fn new(names: Vec<(std::borrow::Cow<'static, str>, std::borrow::Cow<'static, str>)>) -> Self {
        Self(names.into())
    }

    /// How many names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One part of a record, read from one row or element.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Part {
    /// The part's pointer (`/experiences`, `` for the record itself) ...
    list: &'static str,
    /// ... and its index in that list, for an item of one.
    index: Option<u32>,
    /// The table (or element path) it was read from, and where in it.
    table: std::sync::Arc<str>,
    position: Position,
    names: FieldNames,
    /// Bit i: it filled `names[i]`.
    filled: u64,
}

impl Part {
    /// The rest of `pointer` under this part (`/profession`, empty for the part
    /// itself), when the part holds it.
    fn under<'p>(&self, pointer: &'p str) -> Option<&'p str> {
        let rest = pointer.strip_prefix(self.list)?;
        let rest = match self.index {
            None => rest,
            Some(i) => {
                let rest = rest.strip_prefix('/')?;
                let end = rest.find('/').unwrap_or(rest.len());
                // The index as a JSON pointer writes it: no leading zero.
                if rest[..end] != *i.to_string() {
                    return None;
                }
                &rest[end..]
            }
        };
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    fn at(&self, name: &str) -> String {
        field_at(&self.table, name, &self.position)
    }

    /// Whether it filled `names[i]`.
    fn filled(&self, i: usize) -> bool {
        i < 64 && self.filled & (1u64 << i) != 0
    }
}

impl FieldMap {
    /// Notes that the canonical field (or part) `pointer` was read from `source`.
    pub fn add(&mut self, pointer: impl Into<String>, source: impl Into<String>) {
        self.flat.push((pointer.into(), source.into()));
    }

    /// Notes a part of the record read from one row or element: its pointer (`list`,
    /// and `index` for an item of a list: `/experiences`, 1 is `/experiences/1`; `""`
    /// and `None` for the record itself), the table or element it was read from and
    /// where in it (`ESPERIENZE.CSV` at line 7), the names of its fields and, as bits,
    /// which of them it filled.
    pub fn part(&mut self, list: &'static str, index: Option<usize>, table: std::sync::Arc<str>, position: Position, names: &FieldNames, filled: u64) {
        let index = index.map(|i| u32::try_from(i).unwrap_or(u32::MAX));
        self.parts.push(Part { list, index, table, position, names: names.clone(), filled });
    }

    /// True when nothing was noted.
    pub fn is_empty(&self) -> bool {
        self.flat.is_empty() && self.parts.is_empty()
    }

    /// Every (canonical field or part, source) noted, spelled out.
    pub fn iter(&self) -> impl Iterator<Item = (String, String)> + '_ {
        let parts = self.parts.iter().flat_map(|p| {
            let base = match p.index {
                Some(i) => format!("{}/{i}", p.list),
                None => p.list.to_string(),
            };
            // A filled field named by the part's own pointer (`""`, a value held by the
            // element itself) stands for the part, as `locate` finds it.
            let filled = move || p.names.0.iter().enumerate().filter(move |(i, _)| p.filled(*i));
            let own = filled().all(|(_, (f, _))| !f.is_empty()).then(|| (base.clone(), p.at("")));
            let fields = filled().map(move |(_, (f, n))| (format!("{base}{f}"), p.at(n)));
            own.into_iter().chain(fields)
        });
        self.flat.iter().cloned().chain(parts)
    }

    /// The source of `pointer`: its own entry, else that of the nearest part holding
    /// it (`/experiences/0` for `/experiences/0/end`), else `None`.
    pub fn locate(&self, pointer: &str) -> Option<String> {
        let mut at = pointer;
        loop {
            if let Some((_, s)) = self.flat.iter().find(|(p, _)| p == at) {
                return Some(s.clone());
            }
            if let Some((p, rest)) = self.parts.iter().find_map(|p| p.under(at).filter(|r| r.is_empty()).map(|_| (p, &pointer[at.len()..]))) {
                let named = p.names.0.iter().enumerate().find(|(i, (f, _))| p.filled(*i) && f == rest);
                return Some(named.map_or_else(|| p.at(""), |(_, (_, n))| p.at(n)));
            }
            at = &at[..at.rfind('/')?];
        }
    }
}

impl Serialize for FieldMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for FieldMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self { parts: Vec::new(), flat: Vec::deserialize(d)? })
    }
}

/// The source field `field` of the table or input `table` at `position`, as issues
/// name it: `ESPERIENZE.CSV/COD_QUAL line 7`, `Esperienze/COD_QUAL row 7`; with no
/// field, the row itself (`ESPERIENZE.CSV line 7`).
pub fn field_at(table: &str, field: &str, position: &Position) -> String {
    let at = if field.is_empty() { table.to_string() } else { format!("{table}/{field}") };
    match position {
        Position::Row { row, .. } => format!("{at} row {row}"),
        Position::Unknown => at,
        p => format!("{at} {p}"),
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.system, self.origin, self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_field_map_it_should_name_the_field_else_the_nearest_part_else_nothing() {
        let mut m = FieldMap::default();
        m.add("/experiences/0", "ESPERIENZE.CSV line 7");
        m.add("/experiences/0/profession", "ESPERIENZE.CSV/COD_QUAL line 7");
        assert_eq!(m.locate("/experiences/0/profession").as_deref(), Some("ESPERIENZE.CSV/COD_QUAL line 7"));
        assert_eq!(m.locate("/experiences/0/end").as_deref(), Some("ESPERIENZE.CSV line 7"));
        assert_eq!(m.locate("/experiences/1/end"), None, "another experience is no part of this one");
        assert_eq!(m.locate("/experiences/00/end"), None);
        m.add("", "LAVORATORI.CSV line 2");
        assert_eq!(m.locate("/worker/name").as_deref(), Some("LAVORATORI.CSV line 2"), "the record's own row at last");
    }

    #[test]
    fn given_parts_it_should_name_their_filled_fields_else_their_row_and_write_them_all_out() {
        use std::borrow::Cow;
        let names = FieldNames::new(vec![(Cow::Borrowed("/start"), Cow::Borrowed("DT_INIZIO")), (Cow::Borrowed("/profession"), Cow::Borrowed("COD_QUAL"))]);
        let worker = FieldNames::new(vec![(Cow::Borrowed("/worker/name"), Cow::Borrowed("NOME"))]);
        let mut m = FieldMap::default();
        m.part("", None, "LAVORATORI.CSV".into(), Position::Line(2), &worker, 0b1);
        m.part("/experiences", Some(0), "ESPERIENZE.CSV".into(), Position::Line(7), &names, 0b10);
        m.part("/experiences", Some(10), "ESPERIENZE.CSV".into(), Position::Line(9), &names, 0b11);
        assert_eq!(m.locate("/experiences/0/profession").as_deref(), Some("ESPERIENZE.CSV/COD_QUAL line 7"));
        assert_eq!(m.locate("/experiences/0/start").as_deref(), Some("ESPERIENZE.CSV line 7"), "not filled: the row");
        assert_eq!(m.locate("/experiences/10/start").as_deref(), Some("ESPERIENZE.CSV/DT_INIZIO line 9"));
        assert_eq!(m.locate("/experiences/1/start").as_deref(), Some("LAVORATORI.CSV line 2"), "no such item: the record's row");
        assert_eq!(m.locate("/worker/name").as_deref(), Some("LAVORATORI.CSV/NOME line 2"));
        assert_eq!(m.locate("/worker").as_deref(), Some("LAVORATORI.CSV line 2"));
        // Written out and read back, it names the same.
        let back: FieldMap = serde_json::from_str(&serde_json::to_string(&m).unwrap_or_default()).unwrap_or_default();
        assert_eq!(back.iter().count(), 2 + 2 + 3, "each part and each field it filled");
        for p in ["/experiences/0/profession", "/experiences/0/start", "/experiences/10/start", "/worker/name", "/worker/surname"] {
            assert_eq!(back.locate(p), m.locate(p), "{p}");
        }
    }

    #[test]
    fn given_a_value_held_by_the_element_itself_it_should_name_it_the_same_once_read_back() {
        use std::borrow::Cow;
        let licence = FieldNames::new(vec![(Cow::Borrowed(""), Cow::Borrowed("@codice"))]);
        let mut m = FieldMap::default();
        m.part("/licences/driving", Some(0), "/X/Patente[1]".into(), Position::Unknown, &licence, 0b1);
        m.part("/licences/driving", Some(1), "/X/Patente[2]".into(), Position::Unknown, &licence, 0b0);
        let back: FieldMap = serde_json::from_str(&serde_json::to_string(&m).unwrap_or_default()).unwrap_or_default();
        assert_eq!(back.iter().count(), 2, "one entry per pointer: {:?}", back.iter().collect::<Vec<_>>());
        for p in ["/licences/driving/0", "/licences/driving/1"] {
            assert_eq!(back.locate(p), m.locate(p), "{p}");
        }
        assert_eq!(m.locate("/licences/driving/0").as_deref(), Some("/X/Patente[1]/@codice"));
    }

    #[test]
    fn given_each_kind_of_position_field_at_should_name_table_field_and_place_once() {
        assert_eq!(field_at("ESPERIENZE.CSV", "COD_QUAL", &Position::Line(7)), "ESPERIENZE.CSV/COD_QUAL line 7");
        assert_eq!(field_at("Esperienze", "CodQualifica", &Position::Row { table: "Esperienze".into(), row: 3 }), "Esperienze/CodQualifica row 3");
        assert_eq!(field_at("Esperienze", "", &Position::Row { table: "Esperienze".into(), row: 3 }), "Esperienze row 3");
        assert_eq!(field_at("T", "F", &Position::Unknown), "T/F");
    }

    #[test]
    fn given_a_canonical_source_the_field_should_be_its_pointer_at_its_position() {
        let mut p = Provenance::new(SourceSystem::CanonicalJson, "in.jsonl", Position::Line(4));
        assert_eq!(p.source_of("/worker/name", "/Candidatura/Lavoratore/DatiAnagrafici/nome").as_deref(), Some("/worker/name line 4"));
        p.position = Position::Unknown;
        assert_eq!(p.source_of("/worker/name", "x").as_deref(), Some("/worker/name"));
        p.fields = SourceFields::mapped(FieldMap::default());
        assert_eq!(p.source_of("/worker/name", "x"), None);
        // A group that is the record itself: the record's place.
        let p = Provenance::new(SourceSystem::CanonicalJson, "in.jsonl", Position::Line(4));
        assert_eq!(p.source_of("", "/Candidatura/DatiCurriculari").as_deref(), Some("line 4"));
        // Another source that named nothing (kept by an earlier build) is not taken
        // for canonical JSON.
        let p = Provenance::new(SourceSystem::SilPlus, "x.zip", Position::Line(4));
        assert_eq!(p.source_of("/worker/name", "x"), None);
        // Written only when not canonical: an older reader of canonical JSON is not met with it.
        let json = serde_json::to_string(&Provenance::new(SourceSystem::CanonicalJson, "a", Position::Unknown)).unwrap_or_default();
        assert!(!json.contains("fields"), "{json}");
    }
}
