//! One value of a table, as the storage gives it, and its reading as text, date,
//! timestamp, number or boolean.
//!
//! CSV gives text only; Access and Excel give typed values. Every reading accepts both,
//! so one mapping serves all storages: a date is a Jet/Excel date-time, or text as
//! `DD/MM/YYYY` (the Italian exports), `YYYY-MM-DD`, either with a time after it.

use time::{Date, Month, PrimitiveDateTime, Time};

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Cell {
    /// Empty or NULL.
    #[default]
    Null,
    /// Text (CSV, Access text and memo, Excel strings; money and decimals as text).
    Text(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A Yes/No value.
    Bool(bool),
    /// A date and time (Access Date/Time, Excel date cells).
    DateTime(PrimitiveDateTime),
}

impl Cell {
    /// The value as trimmed text; `None` when empty. Numbers print without a
    /// fractional part when they have none (`12.0` -> `12`: Excel stores codes typed as
    /// numbers).
    pub fn text(&self) -> Option<String> {
        let s = match self {
            Self::Null => return None,
            Self::Text(s) => s.trim().to_string(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            Self::Float(f) => f.to_string(),
            Self::Bool(b) => if *b { "1" } else { "0" }.to_string(),
            Self::DateTime(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        };
        (!s.is_empty()).then_some(s)
    }

    /// Like [`Cell::text`], but moves the text out (the cell is left empty): no copy
    /// when the storage gave text.
    pub fn take_text(&mut self) -> Option<String> {
        match std::mem::take(self) {
            Self::Text(s) => {
                let t = s.trim();
                if t.is_empty() {
                    None
                } else if t.len() == s.len() {
                    Some(s)
                } else {
                    Some(t.to_string())
                }
            }
            other => other.text(),
        }
    }

    /// The key text of the cell without copying text (numbers are formatted).
    pub fn key(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Text(s) => std::borrow::Cow::Borrowed(s.trim()),
            other => std::borrow::Cow::Owned(other.text().unwrap_or_default()),
        }
    }

    /// The value as a date and time (midnight for a date alone).
    pub fn datetime(&self) -> Result<Option<PrimitiveDateTime>, &'static str> {
        match self {
            Self::Null => Ok(None),
            Self::DateTime(d) => Ok(Some(*d)),
            Self::Text(s) if s.trim().is_empty() => Ok(None),
            Self::Text(s) => parse_datetime(s.trim()).map(Some).ok_or("expected a date as DD/MM/YYYY or YYYY-MM-DD, optionally followed by HH:MM[:SS]"),
            _ => Err("expected a date"),
        }
    }

    /// The value as a date (the time part, if any, is dropped).
    pub fn date(&self) -> Result<Option<Date>, &'static str> {
        self.datetime().map(|d| d.map(PrimitiveDateTime::date))
    }

    /// The value as a boolean: `S`/`SI`/`Y`/`YES`/`1`/`TRUE`/`VERO` or
    /// `N`/`NO`/`0`/`FALSE`/`FALSO`, any case, or an Access Yes/No.
    pub fn boolean(&self) -> Result<Option<bool>, &'static str> {
        match self {
            Self::Null => Ok(None),
            Self::Bool(b) => Ok(Some(*b)),
            Self::Int(i) => Ok(Some(*i != 0)),
            _ => match self.text().map(|s| s.to_ascii_uppercase()).as_deref() {
                None => Ok(None),
                Some("S" | "SI" | "SÌ" | "Y" | "YES" | "1" | "-1" | "TRUE" | "VERO" | "X") => Ok(Some(true)),
                Some("N" | "NO" | "0" | "FALSE" | "FALSO") => Ok(Some(false)),
                Some(_) => Err("expected a yes/no value (S/N, SI/NO, 1/0, TRUE/FALSE)"),
            },
        }
    }

    /// The value as a whole number; money and decimals (`1234.5000`, `1.234,50`) are
    /// rounded to the nearest unit.
    pub fn number(&self) -> Result<Option<i64>, &'static str> {
        match self {
            Self::Null => Ok(None),
            Self::Int(i) => Ok(Some(*i)),
            Self::Float(f) if f.is_finite() && f.abs() < 9e15 => Ok(Some(f.round() as i64)),
            Self::Float(_) | Self::Bool(_) | Self::DateTime(_) => Err("expected a number"),
            Self::Text(s) => {
                let s = s.trim().trim_start_matches('€').trim();
                if s.is_empty() {
                    return Ok(None);
                }
                // Italian form `1.234,50` or plain `1234.50`.
                let normal = if s.contains(',') { s.replace('.', "").replace(',', ".") } else { s.to_string() };
                normal.parse::<f64>().ok().filter(|f| f.is_finite() && f.abs() < 9e15).map(|f| Some(f.round() as i64)).ok_or("expected a number")
            }
        }
    }
}

/// Parses `DD/MM/YYYY`, `YYYY-MM-DD`, either optionally followed by ` HH:MM[:SS]` (or
/// `T` for the ISO form) and a fraction of a second.
pub fn parse_datetime(s: &str) -> Option<PrimitiveDateTime> {
    let (d, t) = match s.find([' ', 'T']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim())),
        None => (s, None),
    };
    let date = parse_date(d)?;
    let time = match t {
        None | Some("") => Time::MIDNIGHT,
        Some(t) => parse_time(t)?,
    };
    Some(PrimitiveDateTime::new(date, time))
}

fn num<T: std::str::FromStr>(s: &str, len: std::ops::RangeInclusive<usize>) -> Option<T> {
    (len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn parse_date(s: &str) -> Option<Date> {
    let (y, m, d) = if let Some((d, rest)) = s.split_once('/') {
        let (m, y) = rest.split_once('/')?;
        (num::<i32>(y, 4..=4)?, num::<u8>(m, 1..=2)?, num::<u8>(d, 1..=2)?)
    } else {
        let mut it = s.splitn(3, '-');
        (num::<i32>(it.next()?, 4..=4)?, num::<u8>(it.next()?, 2..=2)?, num::<u8>(it.next()?, 2..=2)?)
    };
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

fn parse_time(s: &str) -> Option<Time> {
    let s = s.split('.').next()?;
    let mut it = s.split(':');
    let h = num::<u8>(it.next()?, 1..=2)?;
    let m = num::<u8>(it.next()?, 2..=2)?;
    let sec = match it.next() {
        Some(x) => num::<u8>(x, 2..=2)?,
        None => 0,
    };
    if it.next().is_some() {
        return None;
    }
    Time::from_hms(h, m, sec).ok()
}
