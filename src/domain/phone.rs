//! Phone numbers (canonical E.164, masked in `Debug`, `Display` and logs) and sender ids.

use std::fmt;

/// A number that is not E.164 (`+` and 7 to 15 digits, the first not `0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an E.164 phone number (+ and 7 to 15 digits)")]
pub struct NotE164;

/// A phone number in E.164: `+`, then 7 to 15 digits, the first not `0` (the shortest are Niue's
/// and Tokelau's: `+683` and 4 digits).
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, NotE164> {
        let digits = raw.strip_prefix('+').ok_or(NotE164)?;
        let valid = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(NotE164)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of this number (with or without its `+`) masked: providers'
    /// error messages may quote the number, and logs only ever show it masked.
    pub fn mask_in(&self, text: &str) -> String {
        let masked = self.masked();
        text.replace(self.as_str(), &masked)
            .replace(&self.0[1..], &masked)
    }

    /// The number as logs may show it: the country code and the last two digits, e.g. `+44*******89`.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let cc = country_code_len(digits);
        let hidden = digits.len() - cc - 2;
        format!(
            "+{}{}{}",
            &digits[..cc],
            "*".repeat(hidden),
            &digits[digits.len() - 2..]
        )
    }
}

/// Length of the ITU-T E.164 country code at the start of `digits` (1 to 3 digits).
/// Codes are prefix-free, so the first two digits decide.
fn country_code_len(digits: &str) -> usize {
    let two: u8 = digits[..2].parse().unwrap_or(0);
    match two / 10 {
        1 | 7 => 1,
        _ => match two {
            20
            | 27
            | 30..=34
            | 36
            | 39
            | 40
            | 41
            | 43..=49
            | 51..=58
            | 60..=66
            | 81
            | 82
            | 84
            | 86
            | 90..=95
            | 98 => 2,
            _ => 3,
        },
    }
}

// Never print a whole number by accident: Debug and Display show the masked form.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// An alphanumeric sender id as carriers accept it: 3 to 11 ASCII letters and digits, at least one
/// letter (all digits would read as a phone number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderId(String);

impl SenderId {
    /// `None` when `raw` is not a usable alphanumeric sender id. Mosaic's `sender_id` is a hint,
    /// not a requirement: an unusable one falls back to the configured sender, it never fails a send.
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = (3..=11).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric())
            && raw.bytes().any(|b| b.is_ascii_alphabetic());
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SenderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
