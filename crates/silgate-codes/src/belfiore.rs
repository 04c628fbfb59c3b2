//! Comuni and foreign states by Belfiore code (codice catastale), with the dates each
//! code was in use.
//!
//! A code may have several rows: a comune renamed, moved to another province, or
//! suppressed and later re-created keeps its code across rows. A code is valid on a
//! date if any of its rows covers that date (bounds included).

use crate::table::{self, TableError, TableInfo};
use silgate_core::time_types::parse_date;
use std::collections::HashMap;
use time::Date;

/// One validity period of a Belfiore code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Name during that period.
    pub name: String,
    /// Province sigla, `EE` for foreign states.
    pub province: String,
    /// First day of validity, if known.
    pub valid_from: Option<Date>,
    /// Last day of validity; `None` while still in use.
    pub valid_to: Option<Date>,
}

impl Place {
    /// True if this period covers `d`.
    pub fn covers(&self, d: Date) -> bool {
        self.valid_from.is_none_or(|f| f <= d) && self.valid_to.is_none_or(|t| d <= t)
    }

    /// True for a foreign state.
    pub fn is_foreign(&self) -> bool {
        self.province == "EE"
    }
}

/// The outcome of checking a Belfiore code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceCheck<'a> {
    /// Known and valid at the date asked (or at some date, if none was asked).
    Valid(&'a Place),
    /// `0000`: the standard's "not specified".
    Unspecified,
    /// Not of the form `[A-Z]\d{3}`.
    BadFormat,
    /// Well-formed, but no comune or state ever had this code.
    Unknown,
    /// Known, but not in use on the date asked.
    NotValidAt {
        /// The periods the code was in use.
        periods: &'a [Place],
    },
}

/// The Belfiore table.
#[derive(Debug, Clone)]
pub struct Belfiore {
    /// Metadata.
    pub info: TableInfo,
    places: HashMap<String, Vec<Place>>,
}

/// True if `code` has the Belfiore form `[A-Z]\d{3}`.
pub fn is_well_formed(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 4 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit)
}

impl Belfiore {
    /// Parses the `belfiore.tsv` form.
    pub fn parse(text: &str) -> Result<Self, TableError> {
        let raw = table::parse("belfiore", text, &["code", "name", "province", "valid_from", "valid_to"])?;
        let mut places: HashMap<String, Vec<Place>> = HashMap::new();
        for (line, c) in raw.rows {
            let date = |s: &str| -> Result<Option<Date>, TableError> {
                if s.is_empty() { Ok(None) } else { parse_date(s).map(Some).map_err(|_| TableError::Date { table: "belfiore".into(), line }) }
            };
            let place = Place { name: c[1].to_string(), province: c[2].to_string(), valid_from: date(c[3])?, valid_to: date(c[4])? };
            places.entry(c[0].to_string()).or_default().push(place);
        }
        Ok(Self { info: raw.info, places })
    }

    /// All periods of `code`.
    pub fn periods(&self, code: &str) -> &[Place] {
        self.places.get(code).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Checks `code`, at date `at` when given.
    pub fn check(&self, code: &str, at: Option<Date>) -> PlaceCheck<'_> {
        if code == "0000" {
            return PlaceCheck::Unspecified;
        }
        if !is_well_formed(code) {
            return PlaceCheck::BadFormat;
        }
        let Some(periods) = self.places.get(code) else { return PlaceCheck::Unknown };
        match at {
            None => periods.iter().find(|p| p.valid_to.is_none()).or(periods.last()).map_or(PlaceCheck::Unknown, PlaceCheck::Valid),
            Some(d) => match periods.iter().find(|p| p.covers(d)) {
                Some(p) => PlaceCheck::Valid(p),
                None => PlaceCheck::NotValidAt { periods },
            },
        }
    }

    /// Number of distinct codes.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }
}
