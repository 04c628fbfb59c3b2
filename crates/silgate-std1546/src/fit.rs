//! Optional codes the standard cannot carry.
//!
//! Many regional systems keep CP2011 professions at the fifth level, the ISTAT unità
//! professionale (`51220`, or `5.1.2.2.0`), while the standard's pattern wants six
//! segments (`5.1.2.2.0.1`). The sixth is a detail level the region chooses: silgate never
//! invents it. In an element the standard requires (a desired profession, a vacancy's
//! profession) such a code rejects the record as before, through the XSD. In an
//! optional element (an experience's `qualificasvolta`, a course's `idqualifica`) it
//! would reject a whole CV for a detail the node can do without, so [`fit`]:
//!
//! 1. takes the region's own six-segment code for the unit when its `cp2011-sixth`
//!    table lists one;
//! 2. otherwise, under [`Unmappable::Omit`] (the default), leaves the element out of the
//!    document with a warning `code.unmappable` naming the element and the reason;
//! 3. under [`Unmappable::Reject`], reports it as an error `code.unmappable`: the record
//!    is quarantined.
//!
//! A code that is not a CP2011 unit at all is left as it is, for the XSD to report.

use silgate_codes::{CodeCheck, CodeTables};
use silgate_core::{Issue, Record};

/// The rule id of an optional code the standard cannot carry.
pub const RULE: &str = "code.unmappable";

/// What to do with an optional code that is well formed in the source but has no form
/// in the national pattern (`optional_unmappable` in the gateway's config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmappable {
    /// Leave the element out, with a warning; the record is delivered.
    #[default]
    Omit,
    /// Reject the record.
    Reject,
}

impl Unmappable {
    /// The config's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Omit => "omit",
            Self::Reject => "reject",
        }
    }
}

impl std::str::FromStr for Unmappable {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "omit" => Ok(Self::Omit),
            "reject" => Ok(Self::Reject),
            _ => Err(format!("optional_unmappable must be omit or reject, got '{s}'")),
        }
    }
}

/// The CP2011 unit (`d.d.d.d.d`) a five-level code names, written with dots or without
/// (`51220`); `None` for anything else.
pub fn five_level(code: &str) -> Option<String> {
    let digits: Vec<char> = if code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()) {
        code.chars().collect()
    } else {
        let segs: Vec<&str> = code.split('.').collect();
        if segs.len() != 5 || !segs.iter().all(|s| s.len() == 1 && s.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        segs.iter().filter_map(|s| s.chars().next()).collect()
    };
    Some(digits.iter().map(char::to_string).collect::<Vec<_>>().join("."))
}

/// Fits the record's optional codes to the standard (see the module): replaces, drops
/// or reports each one, returning the issues.
pub fn fit(record: &mut Record, tables: &CodeTables, policy: Unmappable) -> Vec<Issue> {
    let mut out = Vec::new();
    let Record::Cv(cv) = record else { return out };
    let base = "/Candidatura/DatiCurriculari";
    for (i, e) in cv.experiences.iter_mut().enumerate() {
        let path = format!("{base}/EsperienzeLavorative[{}]/qualificasvolta", i + 1);
        fit_profession(&mut e.profession, &path, tables, policy, &mut out);
    }
    for (i, t) in cv.training.iter_mut().enumerate() {
        let path = format!("{base}/Formazione[{}]/idqualifica", i + 1);
        fit_profession(&mut t.qualification, &path, tables, policy, &mut out);
    }
    out
}

fn fit_profession(code: &mut Option<String>, path: &str, tables: &CodeTables, policy: Unmappable, out: &mut Vec<Issue>) {
    let Some(value) = code.as_deref() else { return };
    if tables.check_profession(value) != CodeCheck::BadFormat {
        return;
    }
    let Some(unit) = five_level(value) else { return };
    if let Some(six) = tables.cp2011_sixth.get(&unit).filter(|c| tables.check_profession(c) != CodeCheck::BadFormat) {
        *code = Some(six.to_string());
        return;
    }
    let why =
        format!("CP2011 code '{value}' names the unità professionale {unit} (five levels); the standard wants six segments and the region's cp2011-sixth table has none for it");
    match policy {
        Unmappable::Omit => {
            out.push(Issue::warning(path, RULE, format!("{why}: left out (optional_unmappable = omit)")));
            *code = None;
        }
        Unmappable::Reject => out.push(Issue::error(path, RULE, format!("{why} (optional_unmappable = reject)"))),
    }
}
