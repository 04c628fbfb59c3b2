//! Dates and timestamps as the national standard writes them.
//!
//! `xs:date` maps to [`Date`] (`YYYY-MM-DD`). `xs:dateTime` maps to [`Timestamp`],
//! which keeps the local date-time and, separately, the offset if the source gave one:
//! the ministry's examples carry no offset, and a round trip must not invent one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use time::{Month, PrimitiveDateTime, Time, UtcOffset};

pub use time::Date;

/// An `xs:dateTime`: local date and time, with the UTC offset when one was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    /// Date and time as written.
    pub local: PrimitiveDateTime,
    /// The offset written after the time (`Z`, `+01:00`), if any.
    pub offset: Option<UtcOffset>,
}

/// Why a text is not an `xs:dateTime` or `xs:date`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a valid {what} ({reason})")]
pub struct TimestampError {
    text: String,
    what: &'static str,
    reason: &'static str,
}

impl TimestampError {
    fn new(text: &str, what: &'static str, reason: &'static str) -> Self {
        // Only the shape of the input goes into the message: dates may be personal.
        let text: String = text.chars().take(40).map(|c| if c.is_ascii_digit() { '9' } else { c }).collect();
        Self { text, what, reason }
    }
}

impl Timestamp {
    /// Unix milliseconds; a time written without an offset is read as Italian
    /// standard time (+01:00), the one rule for the regions' local times.
    pub fn unix_ms(&self) -> i64 {
        let offset = self.offset.unwrap_or(UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC));
        i64::try_from(self.local.assume_offset(offset).unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
    }

    /// A timestamp without offset.
    pub fn local(local: PrimitiveDateTime) -> Self {
        Self { local, offset: None }
    }

    /// The date part.
    pub fn date(&self) -> Date {
        self.local.date()
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// Parses an `xs:date` without time zone (`YYYY-MM-DD`).
pub fn parse_date(text: &str) -> Result<Date, TimestampError> {
    let err = |r| TimestampError::new(text, "date (YYYY-MM-DD)", r);
    let mut parts = text.split('-');
    let (y, m, d) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d), None) => (y, m, d),
        _ => return Err(err("expected YYYY-MM-DD")),
    };
    let y = digits(y, 4).ok_or_else(|| err("year must have 4 digits"))?;
    let m = digits(m, 2).ok_or_else(|| err("month must have 2 digits"))?;
    let d = digits(d, 2).ok_or_else(|| err("day must have 2 digits"))?;
    let month = u8::try_from(m).ok().and_then(|m| Month::try_from(m).ok()).ok_or_else(|| err("no such month"))?;
    let year = i32::try_from(y).map_err(|_| err("year out of range"))?;
    let day = u8::try_from(d).map_err(|_| err("no such day"))?;
    Date::from_calendar_date(year, month, day).map_err(|_| err("no such day in that month"))
}

/// Formats an `xs:date` (`YYYY-MM-DD`).
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |r| TimestampError::new(text, "date-time (YYYY-MM-DDTHH:MM:SS)", r);
        let (date, rest) = text.split_once('T').ok_or_else(|| err("missing 'T'"))?;
        let date = parse_date(date).map_err(|_| err("bad date part"))?;
        // Split the offset off: 'Z', or a trailing +HH:MM / -HH:MM.
        let (time_part, offset) = if let Some(t) = rest.strip_suffix('Z') {
            (t, Some(UtcOffset::UTC))
        } else if rest.len() > 6 && matches!(rest.as_bytes()[rest.len() - 6], b'+' | b'-') {
            let (t, o) = rest.split_at(rest.len() - 6);
            let sign: i8 = if o.starts_with('-') { -1 } else { 1 };
            let (hh, mm) = o[1..].split_once(':').ok_or_else(|| err("bad offset"))?;
            let hh = digits(hh, 2).ok_or_else(|| err("bad offset hours"))?;
            let mm = digits(mm, 2).ok_or_else(|| err("bad offset minutes"))?;
            let (hh, mm) = (i8::try_from(hh).map_err(|_| err("bad offset"))?, i8::try_from(mm).map_err(|_| err("bad offset"))?);
            let off = UtcOffset::from_hms(sign * hh, sign * mm, 0).map_err(|_| err("offset out of range"))?;
            (t, Some(off))
        } else {
            (rest, None)
        };
        let (hms, frac) = match time_part.split_once('.') {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (time_part, None),
        };
        let mut it = hms.split(':');
        let (h, m, s) = match (it.next(), it.next(), it.next(), it.next()) {
            (Some(h), Some(m), Some(s), None) => (h, m, s),
            _ => return Err(err("expected HH:MM:SS")),
        };
        let h = digits(h, 2).ok_or_else(|| err("bad hours"))?;
        let m = digits(m, 2).ok_or_else(|| err("bad minutes"))?;
        let s = digits(s, 2).ok_or_else(|| err("bad seconds"))?;
        let nanos = match frac {
            None => 0,
            Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
                let v: u32 = f.parse().map_err(|_| err("bad fraction"))?;
                v * 10u32.pow(9 - u32::try_from(f.len()).map_err(|_| err("bad fraction"))?)
            }
            Some(_) => return Err(err("bad fraction of second")),
        };
        let to_u8 = |v: u32| u8::try_from(v).map_err(|_| err("time out of range"));
        let time = Time::from_hms_nano(to_u8(h)?, to_u8(m)?, to_u8(s)?, nanos).map_err(|_| err("time out of range"))?;
        Ok(Self { local: PrimitiveDateTime::new(date, time), offset })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.local.time();
        write!(f, "{}T{:02}:{:02}:{:02}", format_date(self.local.date()), t.hour(), t.minute(), t.second())?;
        let n = t.nanosecond();
        if n != 0 {
            let frac = format!("{n:09}");
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        match self.offset {
            None => Ok(()),
            Some(o) if o.is_utc() => f.write_str("Z"),
            Some(o) => {
                let sign = if o.is_negative() { '-' } else { '+' };
                write!(f, "{sign}{:02}:{:02}", o.whole_hours().unsigned_abs(), o.minutes_past_hour().unsigned_abs())
            }
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "YYYY-MM-DDTHH:MM[:SS[.fraction]], with Z or +HH:MM when the source gave an offset",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
        })
    }
}

/// The JSON Schema of a date field (`YYYY-MM-DD`), for fields serialized through
/// [`serde_date`].
#[cfg(feature = "schema")]
#[derive(Debug)]
pub struct DateSchema;

#[cfg(feature = "schema")]
impl schemars::JsonSchema for DateSchema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Date".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" })
    }
}

/// Serde helpers for `time::Date` as `YYYY-MM-DD`.
pub mod serde_date {
    use super::*;

    /// Serialize a date as `YYYY-MM-DD`.
    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_date(*d))
    }

    /// Deserialize a date from `YYYY-MM-DD`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        parse_date(&s).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Date>`.
    pub mod option {
        use super::*;

        /// Serialize an optional date.
        pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.collect_str(&format_date(*d)),
                None => s.serialize_none(),
            }
        }

        /// Deserialize an optional date.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(s) => parse_date(&s).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests;
