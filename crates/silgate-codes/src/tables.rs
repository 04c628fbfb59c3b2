//! All code tables together: the embedded set, and overrides.

use crate::belfiore::Belfiore;
use crate::table::{CodeSet, TableError, TableInfo};
use std::sync::LazyLock;

/// The tables a region may override, by file name stem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableName {
    /// `belfiore.tsv`: comuni and foreign states.
    Belfiore,
    /// `ateco2007.tsv`: ATECO 2007 sottocategorie.
    Ateco,
    /// `cp2011.tsv`: ISTAT CP2011 professions.
    Cp2011,
    /// `titoli.tsv`: titolo di studio levels.
    Titoli,
    /// `lingue.tsv`: languages.
    Lingue,
    /// `cittadinanze.tsv`: citizenships.
    Cittadinanze,
    /// `patenti.tsv`: driving licences.
    Patenti,
    /// `contratti.tsv`: contract types (CO form and ClicLavoro form).
    Contratti,
    /// `cp2011-sixth.tsv`: a region's six-segment code for a five-level CP2011 unit.
    Cp2011Sixth,
}

impl TableName {
    /// Every table.
    pub const ALL: [TableName; 9] = [Self::Belfiore, Self::Ateco, Self::Cp2011, Self::Titoli, Self::Lingue, Self::Cittadinanze, Self::Patenti, Self::Contratti, Self::Cp2011Sixth];

    /// The file name stem (`belfiore`, `ateco2007`, ...).
    pub fn stem(self) -> &'static str {
        match self {
            Self::Belfiore => "belfiore",
            Self::Ateco => "ateco2007",
            Self::Cp2011 => "cp2011",
            Self::Titoli => "titoli",
            Self::Lingue => "lingue",
            Self::Cittadinanze => "cittadinanze",
            Self::Patenti => "patenti",
            Self::Contratti => "contratti",
            Self::Cp2011Sixth => "cp2011-sixth",
        }
    }

    fn embedded(self) -> &'static str {
        match self {
            Self::Belfiore => include_str!("../data/belfiore.tsv"),
            Self::Ateco => include_str!("../data/ateco2007.tsv"),
            Self::Cp2011 => include_str!("../data/curated/cp2011.tsv"),
            Self::Titoli => include_str!("../data/curated/titoli.tsv"),
            Self::Lingue => include_str!("../data/lingue.tsv"),
            Self::Cittadinanze => include_str!("../data/curated/cittadinanze.tsv"),
            Self::Patenti => include_str!("../data/curated/patenti.tsv"),
            Self::Contratti => include_str!("../data/curated/contratti.tsv"),
            Self::Cp2011Sixth => include_str!("../data/curated/cp2011-sixth.tsv"),
        }
    }
}

/// The outcome of looking a code up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code is listed.
    Known,
    /// Well-formed, not listed, and the table is known to be incomplete: a warning.
    NotInIncompleteTable,
    /// Well-formed, not listed, and the table is complete: an error.
    Unknown,
    /// Not of the table's format: an error.
    BadFormat,
}

/// Contract types: ClicLavoro codes and the CO form they come from.
#[derive(Debug, Clone)]
pub struct Contracts {
    /// Metadata.
    pub info: TableInfo,
    co_to_clic: Vec<(String, String)>,
}

/// The documented compact-form rule: a CO code `A.02.00` -> the ClicLavoro code `A02`
/// (letter + the first two digits); `None` when `co` is not of the CO form.
pub fn co_compact(co: &str) -> Option<String> {
    let b = co.as_bytes();
    let shape = b.len() == 7 && b[0].is_ascii_uppercase() && b[1] == b'.' && b[4] == b'.' && [2, 3, 5, 6].iter().all(|&i| b[i].is_ascii_digit());
    shape.then(|| format!("{}{}", &co[..1], &co[2..4]))
}

/// A contract code as sources write it, in the ClicLavoro form: `A02` is kept, a CO
/// code `A.02.00` is compacted ([`co_compact`]); `None` for anything else.
pub fn contract_clic(v: &str) -> Option<String> {
    let b = v.as_bytes();
    if b.len() == 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit() {
        return Some(v.to_string());
    }
    co_compact(v)
}

impl Contracts {
    fn parse(text: &str) -> Result<Self, TableError> {
        let raw = crate::table::parse("contratti", text, &["co_code", "clic_code", "title", "source"])?;
        Ok(Self { info: raw.info, co_to_clic: raw.rows.into_iter().map(|(_, c)| (c[0].to_string(), c[1].to_string())).collect() })
    }

    /// The ClicLavoro code (`A02`) for a CO code (`A.02.00`), from the table, else by the
    /// documented compact-form rule (letter + the first two digits).
    pub fn clic_from_co(&self, co: &str) -> Option<String> {
        if let Some((_, clic)) = self.co_to_clic.iter().find(|(c, _)| c == co) {
            return Some(clic.clone());
        }
        co_compact(co)
    }

    /// True if a ClicLavoro code is listed.
    pub fn knows_clic(&self, clic: &str) -> bool {
        self.co_to_clic.iter().any(|(_, c)| c == clic)
    }
}

/// Every code table the validator needs.
#[derive(Debug, Clone)]
pub struct CodeTables {
    /// Comuni and foreign states.
    pub belfiore: Belfiore,
    /// ATECO 2007 sottocategorie.
    pub ateco: CodeSet,
    /// CP2011 professions (incomplete: level 1 only).
    pub cp2011: CodeSet,
    /// Titolo di studio levels.
    pub titoli: CodeSet,
    /// Languages.
    pub lingue: CodeSet,
    /// Citizenships.
    pub cittadinanze: CodeSet,
    /// Driving licences.
    pub patenti: CodeSet,
    /// Contract types.
    pub contratti: Contracts,
    /// A region's six-segment codes for five-level CP2011 units (empty unless the
    /// region supplies its own).
    pub cp2011_sixth: CodeSet,
}

static EMBEDDED: LazyLock<Result<CodeTables, TableError>> = LazyLock::new(|| CodeTables::load(&|_| None));

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn check_in(set: &CodeSet, code: &str, well_formed: bool) -> CodeCheck {
    if !well_formed {
        CodeCheck::BadFormat
    } else if set.contains(code) {
        CodeCheck::Known
    } else if set.info.complete {
        CodeCheck::Unknown
    } else {
        CodeCheck::NotInIncompleteTable
    }
}

impl CodeTables {
    /// The tables embedded in the binary.
    ///
    /// # Panics
    ///
    /// Never in a released build: the embedded tables are parsed by a unit test
    /// (`given_the_embedded_tables_should_parse`); a broken embedded file fails it.
    #[allow(clippy::expect_used, reason = "embedded data, checked by a test")]
    pub fn embedded() -> &'static CodeTables {
        EMBEDDED.as_ref().expect("embedded code tables parse (checked by a unit test)")
    }

    /// Loads the embedded tables, replacing each one for which `override_text` returns
    /// the text of a region's own file.
    pub fn load(override_text: &dyn Fn(TableName) -> Option<String>) -> Result<Self, TableError> {
        let text = |t: TableName| override_text(t).unwrap_or_else(|| t.embedded().to_string());
        let set = |t: TableName, cols: &[&str]| CodeSet::parse(t.stem(), &text(t), cols);
        Ok(Self {
            belfiore: Belfiore::parse(&text(TableName::Belfiore))?,
            ateco: set(TableName::Ateco, &["code", "title"])?,
            cp2011: set(TableName::Cp2011, &["code", "title", "source"])?,
            titoli: set(TableName::Titoli, &["code", "title", "source"])?,
            lingue: set(TableName::Lingue, &["code", "name", "source"])?,
            cittadinanze: set(TableName::Cittadinanze, &["code", "title", "source"])?,
            patenti: set(TableName::Patenti, &["code", "title", "source"])?,
            contratti: Contracts::parse(&text(TableName::Contratti))?,
            cp2011_sixth: set(TableName::Cp2011Sixth, &["unit", "code", "source"])?,
        })
    }

    /// Metadata of every table, for `silgate codes` and the README.
    pub fn infos(&self) -> Vec<(TableName, &TableInfo)> {
        vec![
            (TableName::Belfiore, &self.belfiore.info),
            (TableName::Ateco, &self.ateco.info),
            (TableName::Cp2011, &self.cp2011.info),
            (TableName::Titoli, &self.titoli.info),
            (TableName::Lingue, &self.lingue.info),
            (TableName::Cittadinanze, &self.cittadinanze.info),
            (TableName::Patenti, &self.patenti.info),
            (TableName::Contratti, &self.contratti.info),
            (TableName::Cp2011Sixth, &self.cp2011_sixth.info),
        ]
    }

    /// ATECO 2007 sottocategoria `NN.NN.NN`.
    pub fn check_ateco(&self, code: &str) -> CodeCheck {
        let b = code.as_bytes();
        let wf = b.len() == 8 && b[2] == b'.' && b[5] == b'.' && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit());
        check_in(&self.ateco, code, wf)
    }

    /// CP2011 profession with its detail segment: `d.d.d.d.d.d` (the sixth may have two
    /// digits). The table holds the grandi gruppi only, so a well-formed code whose
    /// first digit is a grande gruppo is reported as [`CodeCheck::NotInIncompleteTable`]
    /// unless the table (overridden by a region) lists the five-level unit itself.
    pub fn check_profession(&self, code: &str) -> CodeCheck {
        let segs: Vec<&str> = code.split('.').collect();
        let wf = segs.len() == 6 && segs[..5].iter().all(|s| is_digits(s, 1)) && (is_digits(segs[5], 1) || is_digits(segs[5], 2));
        if !wf {
            return CodeCheck::BadFormat;
        }
        let unit = segs[..5].join(".");
        if self.cp2011.contains(&unit) {
            return CodeCheck::Known;
        }
        if !self.cp2011.contains(segs[0]) {
            return CodeCheck::Unknown;
        }
        if self.cp2011.info.complete { CodeCheck::Unknown } else { CodeCheck::NotInIncompleteTable }
    }

    /// Titolo di studio level, 2 digits.
    pub fn check_titolo(&self, code: &str) -> CodeCheck {
        check_in(&self.titoli, code, is_digits(code, 2))
    }

    /// Language: 3 digits, 3 capitals, or `WU`.
    pub fn check_lingua(&self, code: &str) -> CodeCheck {
        let wf = is_digits(code, 3) || (code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())) || code == "WU";
        check_in(&self.lingue, code, wf)
    }

    /// Citizenship, 3 digits.
    pub fn check_cittadinanza(&self, code: &str) -> CodeCheck {
        check_in(&self.cittadinanze, code, is_digits(code, 3))
    }

    /// Driving licence, 2 digits.
    pub fn check_patente(&self, code: &str) -> CodeCheck {
        check_in(&self.patenti, code, is_digits(code, 2))
    }

    /// ClicLavoro contract type `[A-Z]\d{2}`.
    pub fn check_contract(&self, code: &str) -> CodeCheck {
        let b = code.as_bytes();
        let wf = b.len() == 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit();
        if !wf {
            CodeCheck::BadFormat
        } else if self.contratti.knows_clic(code) {
            CodeCheck::Known
        } else if self.contratti.info.complete {
            CodeCheck::Unknown
        } else {
            CodeCheck::NotInIncompleteTable
        }
    }
}

#[cfg(test)]
mod tests;
