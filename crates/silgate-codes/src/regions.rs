//! The ministry's region codes: the first two digits of every communication code, and
//! the sending region of the national systems (`data/curated/regioni.tsv`, with its
//! source). They are not ISTAT's numbers: ISTAT 16 is Puglia, the ministry's 16 is
//! Sicilia.
//!
//! A region is named by its ministerial code (`14`) or by its name, compared without
//! case, spaces or punctuation (`puglia`, `Emilia-Romagna`, `val d'aosta`): only the
//! table's own names, no other spelling is guessed.

use crate::table::{self, TableInfo};
use std::sync::OnceLock;

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// The ministerial code, two digits (`00` is the national node).
    pub code: String,
    /// The name as the table writes it (`EMILIA ROMAGNA`).
    pub name: String,
}

impl Region {
    /// True for the national node's own row (`00`), which is no region.
    pub fn is_national(&self) -> bool {
        self.code == "00"
    }

    /// The name as an eGov party name carries it: upper case letters and digits only
    /// (`EMILIAROMAGNA`, `VALDAOSTA`).
    pub fn party_name(&self) -> String {
        squeeze(&self.name)
    }
}

/// The table.
#[derive(Debug, Clone)]
pub struct Regions {
    /// Where it comes from.
    pub info: TableInfo,
    rows: Vec<Region>,
}

/// Upper case, letters and digits only: how names are compared.
fn squeeze(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect()
}

impl Regions {
    /// The embedded table, parsed once.
    pub fn embedded() -> &'static Regions {
        static R: OnceLock<Regions> = OnceLock::new();
        R.get_or_init(|| {
            // The embedded table is part of the build and checked by its tests.
            match table::parse("regioni", include_str!("../data/curated/regioni.tsv"), &["code", "title"]) {
                Ok(t) => Regions { rows: t.rows.iter().map(|(_, c)| Region { code: c[0].to_string(), name: c[1].to_string() }).collect(), info: t.info },
                Err(_) => Regions { info: TableInfo::default(), rows: Vec::new() },
            }
        })
    }

    /// Every row, in code order.
    pub fn all(&self) -> &[Region] {
        &self.rows
    }

    /// The region a code or a name names, if any.
    pub fn find(&self, spec: &str) -> Option<&Region> {
        let spec = spec.trim();
        if spec.len() == 2 && spec.bytes().all(|b| b.is_ascii_digit()) {
            return self.rows.iter().find(|r| r.code == spec);
        }
        let want = squeeze(spec);
        (!want.is_empty()).then(|| self.rows.iter().find(|r| squeeze(&r.name) == want)).flatten()
    }

    /// The region of a ministerial code.
    pub fn by_code(&self, code: &str) -> Option<&Region> {
        self.rows.iter().find(|r| r.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_ministry_table_every_row_of_the_standard_should_be_there() {
        let want = [
            ("00", "NCN"),
            ("01", "ABRUZZO"),
            ("02", "BASILICATA"),
            ("03", "BOLZANO"),
            ("04", "CALABRIA"),
            ("05", "CAMPANIA"),
            ("06", "EMILIA ROMAGNA"),
            ("07", "FRIULI VENEZIA GIULIA"),
            ("08", "LAZIO"),
            ("09", "LIGURIA"),
            ("10", "LOMBARDIA"),
            ("11", "MARCHE"),
            ("12", "MOLISE"),
            ("13", "PIEMONTE"),
            ("14", "PUGLIA"),
            ("15", "SARDEGNA"),
            ("16", "SICILIA"),
            ("17", "TOSCANA"),
            ("18", "TRENTO"),
            ("19", "UMBRIA"),
            ("20", "VAL D'AOSTA"),
            ("21", "VENETO"),
        ];
        let r = Regions::embedded();
        let got: Vec<(&str, &str)> = r.all().iter().map(|x| (x.code.as_str(), x.name.as_str())).collect();
        assert_eq!(got, want);
        assert!(r.info.complete && r.info.source.contains("std1546.md"));
    }

    #[test]
    fn given_a_name_or_a_code_the_region_should_be_found_without_guessing() {
        let r = Regions::embedded();
        for (spec, code) in [
            ("puglia", "14"),
            ("PUGLIA", "14"),
            ("14", "14"),
            ("sicilia", "16"),
            ("bolzano", "03"),
            ("emilia-romagna", "06"),
            ("Emilia Romagna", "06"),
            ("val d'aosta", "20"),
            ("friuli-venezia-giulia", "07"),
        ] {
            assert_eq!(r.find(spec).map(|x| x.code.as_str()), Some(code), "{spec}");
        }
        for spec in ["valle d'aosta", "22", "1", "", "apulia"] {
            assert_eq!(r.find(spec), None, "{spec}");
        }
        assert_eq!(r.find("emilia romagna").map(Region::party_name).as_deref(), Some("EMILIAROMAGNA"));
        assert!(r.find("00").is_some_and(Region::is_national));
    }
}
