//! Codice fiscale of a natural person: 16 characters
//! `CCCNNN YY M DD LLLL K` (surname, name, birth year, month letter, birth day + 40 for
//! women, Belfiore code of the birthplace, check letter).
//!
//! **Omocodia.** When two people would get the same code, the Agenzia delle Entrate
//! replaces digits, from the right, with the letters `LMNPQRSTUV` (for 0..9) in the
//! seven numeric positions. [`decode`] undoes the substitution before reading the date
//! and the birthplace, and the checksum is computed on the code as written.
//!
//! An 11-digit code is a provisional fiscal code (or a company's): it is checked as a
//! partita IVA.

use silgate_core::Sex;
use time::{Date, Month};

/// Why a codice fiscale is not valid by itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CfError {
    /// Not 16 characters (nor 11 digits).
    #[error("codice fiscale must have 16 characters (or 11 digits), found {0}")]
    Length(usize),
    /// A character is not allowed at its position.
    #[error("character {position} is not allowed there")]
    Format {
        /// 1-based position.
        position: usize,
    },
    /// The month letter is not one of `ABCDEHLMPRST`.
    #[error("month letter at position 9 is not one of ABCDEHLMPRST")]
    Month,
    /// Day (after removing the +40 for women) outside 1..=31.
    #[error("day at positions 10-11 is outside 1-31 and 41-71")]
    Day,
    /// The check letter does not match.
    #[error("check character is wrong")]
    Checksum {
        /// The check letter the other 15 characters give.
        expected: char,
    },
    /// The 11-digit form fails the partita IVA checksum.
    #[error("11-digit fiscal code fails the check digit")]
    NumericChecksum,
}

impl CfError {
    /// Stable rule id.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Length(_) | Self::Format { .. } | Self::Month | Self::Day => "cf.format",
            Self::Checksum { .. } | Self::NumericChecksum => "cf.checksum",
        }
    }
}

/// What a 16-character codice fiscale says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Last two digits of the birth year.
    pub year2: u8,
    /// Birth month.
    pub month: Month,
    /// Day of birth.
    pub day: u8,
    /// Sex (day > 40 means female).
    pub sex: Sex,
    /// Belfiore code of the birthplace, omocodia undone.
    pub birthplace: String,
    /// True if any omocodia letter was used.
    pub omocodia: bool,
}

/// The result of checking a codice fiscale by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// A 16-character personal code.
    Personal(Decoded),
    /// An 11-digit numeric code.
    Numeric,
}

/// Positions (0-based) holding digits that omocodia may replace with letters.
const OMOCODIA_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
const OMOCODIA_LETTERS: &[u8; 10] = b"LMNPQRSTUV";
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";
/// Values of characters in odd (1st, 3rd, ...) positions, for 0-9 then A-Z.
const ODD: [u8; 26] = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];

/// The check letter for the first 15 characters (upper-case letters and digits).
pub fn check_char(first15: &[u8]) -> Option<char> {
    if first15.len() != 15 {
        return None;
    }
    let mut sum: u32 = 0;
    for (i, &c) in first15.iter().enumerate() {
        let idx = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A',
            _ => return None,
        };
        // Positions are 1-based in the rule: index 0 is "odd".
        sum += u32::from(if i % 2 == 0 { ODD[usize::from(idx)] } else { idx });
    }
    let rem = u8::try_from(sum % 26).ok()?;
    Some(char::from(b'A' + rem))
}

fn undo_omocodia(c: u8) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c);
    }
    OMOCODIA_LETTERS.iter().position(|&l| l == c).and_then(|p| u8::try_from(p).ok()).map(|d| b'0' + d)
}

/// Checks `cf` by itself: form, checksum, and decodes date, sex and birthplace.
pub fn check(cf: &str) -> Result<Checked, CfError> {
    let b = cf.as_bytes();
    if b.len() == 11 && b.iter().all(u8::is_ascii_digit) {
        return crate::piva::check(cf).map(|()| Checked::Numeric).map_err(|_| CfError::NumericChecksum);
    }
    if b.len() != 16 {
        return Err(CfError::Length(cf.chars().count()));
    }
    let mut plain = [0u8; 16];
    let mut omocodia = false;
    for (i, &c) in b.iter().enumerate() {
        plain[i] = if OMOCODIA_POSITIONS.contains(&i) {
            let d = undo_omocodia(c).ok_or(CfError::Format { position: i + 1 })?;
            omocodia |= !c.is_ascii_digit();
            d
        } else if c.is_ascii_uppercase() {
            c
        } else {
            return Err(CfError::Format { position: i + 1 });
        };
    }
    let expected = check_char(&b[..15]).ok_or(CfError::Format { position: 1 })?;
    if char::from(b[15]) != expected {
        return Err(CfError::Checksum { expected });
    }
    let two = |i: usize| (plain[i] - b'0') * 10 + (plain[i + 1] - b'0');
    let month_idx = MONTHS.iter().position(|&m| m == plain[8]).ok_or(CfError::Month)?;
    let month = u8::try_from(month_idx + 1).ok().and_then(|m| Month::try_from(m).ok()).ok_or(CfError::Month)?;
    let raw_day = two(9);
    let (day, sex) = match raw_day {
        1..=31 => (raw_day, Sex::M),
        41..=71 => (raw_day - 40, Sex::F),
        _ => return Err(CfError::Day),
    };
    let birthplace = String::from_utf8_lossy(&plain[11..15]).into_owned();
    Ok(Checked::Personal(Decoded { year2: two(6), month, day, sex, birthplace, omocodia }))
}

/// A disagreement between a codice fiscale and the other personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// Year, month or day differ from the birth date.
    BirthDate,
    /// The day's +40 says otherwise.
    Sex,
    /// The Belfiore code differs from the birthplace.
    Birthplace,
}

impl Mismatch {
    /// Stable rule id.
    pub fn as_code(self) -> &'static str {
        match self {
            Self::BirthDate => "cf.birth-date",
            Self::Sex => "cf.sex",
            Self::Birthplace => "cf.birthplace",
        }
    }

    /// What disagrees, without echoing personal data.
    pub fn message(self) -> &'static str {
        match self {
            Self::BirthDate => "codice fiscale does not match the birth date",
            Self::Sex => "codice fiscale does not match the sex",
            Self::Birthplace => "codice fiscale does not match the birthplace code",
        }
    }
}

/// Compares what the code says with what the record says; fields not known are skipped.
pub fn coherence(d: &Decoded, birth: Option<Date>, sex: Option<Sex>, birthplace: Option<&str>) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(b) = birth {
        let y2 = u8::try_from(b.year().rem_euclid(100)).unwrap_or(u8::MAX);
        if y2 != d.year2 || b.month() != d.month || b.day() != d.day {
            out.push(Mismatch::BirthDate);
        }
    }
    if sex.is_some_and(|s| s != d.sex) {
        out.push(Mismatch::Sex);
    }
    if birthplace.is_some_and(|p| p != d.birthplace) {
        out.push(Mismatch::Birthplace);
    }
    out
}

#[cfg(test)]
mod tests;
