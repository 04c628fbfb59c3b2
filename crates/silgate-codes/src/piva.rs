//! Partita IVA: 11 digits, the last a check digit (Luhn-style: digits in even
//! positions are doubled, 9 subtracted when over 9).

/// Why a partita IVA is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PivaError {
    /// Not exactly 11 digits.
    #[error("partita IVA must be 11 digits")]
    Format,
    /// The check digit does not match.
    #[error("partita IVA check digit is wrong")]
    Checksum {
        /// The digit the first ten give.
        expected: u8,
    },
}

impl PivaError {
    /// Stable rule id.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::Format => "piva.format",
            Self::Checksum { .. } => "piva.checksum",
        }
    }
}

/// The check digit of the first ten digits.
pub fn check_digit(first10: &[u8]) -> Option<u8> {
    if first10.len() != 10 || !first10.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut sum: u32 = 0;
    for (i, &c) in first10.iter().enumerate() {
        let d = u32::from(c - b'0');
        sum += if i % 2 == 0 {
            d
        } else if d * 2 > 9 {
            d * 2 - 9
        } else {
            d * 2
        };
    }
    u8::try_from((10 - sum % 10) % 10).ok()
}

/// Checks an 11-digit partita IVA.
pub fn check(piva: &str) -> Result<(), PivaError> {
    let b = piva.as_bytes();
    if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) {
        return Err(PivaError::Format);
    }
    let expected = check_digit(&b[..10]).ok_or(PivaError::Format)?;
    if b[10] - b'0' == expected { Ok(()) } else { Err(PivaError::Checksum { expected }) }
}

#[cfg(test)]
mod tests;
