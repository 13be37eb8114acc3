//! The passcode message itself, shaped once before anything else reads it: look-alike characters
//! written as GSM-7 (`GSM_SAFE_TEXT`), so a curly quote does not turn one SMS into two or three;
//! the lines that let the phone fill the code in by itself (`OTP_AUTOFILL_DOMAIN`, the WICG
//! origin-bound one-time code line, and `ANDROID_APP_HASH`, the SMS Retriever's app hash); and the
//! count of segments the result is sent as, refused past `MAX_SEGMENTS`. The dedupe fingerprints
//! the shaped text (a re-send is shaped the same), and every provider sends it.

use crate::domain::gsm7::{self, Segments};
use crate::domain::sms::{MAX_MESSAGE_CHARS, Message};
use crate::settings::{ConfigError, Env};

/// The most segments a message may take by default: a typical passcode takes one; three means a
/// template changed by mistake, at three times the price.
pub const DEFAULT_MAX_SEGMENTS: usize = 3;

/// The SMS Retriever reads messages of at most 140 bytes: one SMS.
const RETRIEVER_MAX_BYTES: usize = 140;

/// A message as short as Mosaic sends ("Your verification code is 123456"): the autofill lines
/// must leave it room in one SMS.
const SHORTEST_PASSCODE_MESSAGE: usize = 40;

/// Where the passcode is in a message: by default the one run of 4 to 10 digits; or a pattern,
/// whose first group (or whole match) is the code, matched exactly once.
#[derive(Debug, Clone, Default)]
pub enum CodeFinder {
    #[default]
    DigitRun,
    Pattern(regex::Regex),
}

impl CodeFinder {
    /// The code in `text`, or why there is none to take.
    pub fn find<'a>(&self, text: &'a str) -> Result<&'a str, Skipped> {
        let mut found = match self {
            Self::DigitRun => text
                .split(|c: char| !c.is_ascii_digit())
                .filter(|run| (4..=10).contains(&run.len()))
                .collect::<Vec<_>>(),
            Self::Pattern(pattern) => pattern
                .captures_iter(text)
                .filter_map(|c| c.get(1).or_else(|| c.get(0)))
                .map(|m| m.as_str())
                .filter(|code| !code.is_empty())
                .collect(),
        };
        match found.len() {
            0 => Err(Skipped::NoCode),
            1 => Ok(found.remove(0)),
            _ => Err(Skipped::SeveralCodes),
        }
    }
}

/// Why the autofill lines were left out of a message (sent as it came, and counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// No code in the message.
    NoCode,
    /// More than one candidate: the line could name the wrong one.
    SeveralCodes,
    /// With the app hash, more than the SMS Retriever's 140 bytes.
    TooLongForRetriever,
    /// With the lines, more than the `MAX_MESSAGE_CHARS` a message may have.
    TooLong,
}

impl Skipped {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoCode => "no_code",
            Self::SeveralCodes => "several_codes",
            Self::TooLongForRetriever => "too_long_for_retriever",
            Self::TooLong => "too_long",
        }
    }
}

/// How messages are shaped (settings in `app::config`; all off but the look-alikes by default).
#[derive(Debug, Clone)]
pub struct Shaping {
    /// `GSM_SAFE_TEXT`.
    pub gsm_safe: bool,
    /// `OTP_AUTOFILL_DOMAIN`: the host of the origin-bound line.
    pub autofill_domain: Option<String>,
    /// `ANDROID_APP_HASH`: 11 characters.
    pub app_hash: Option<String>,
    /// `OTP_CODE_PATTERN`.
    pub code: CodeFinder,
    /// `MAX_SEGMENTS`; 0: no limit.
    pub max_segments: usize,
}

impl Default for Shaping {
    fn default() -> Self {
        Self {
            gsm_safe: true,
            autofill_domain: None,
            app_hash: None,
            code: CodeFinder::DigitRun,
            max_segments: DEFAULT_MAX_SEGMENTS,
        }
    }
}

/// A message as it is sent.
#[derive(Debug, Clone)]
pub struct Shaped {
    pub message: Message,
    pub segments: Segments,
    /// Why autofill lines that are configured were left out, if they were.
    pub skipped: Option<Skipped>,
}

/// A message that would take more than `MAX_SEGMENTS` SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    pub segments: usize,
    pub max: usize,
}

/// Whether `host` is a host name an origin-bound line can carry: dot-separated labels of ASCII
/// letters, digits and hyphens (1 to 63 each, no hyphen at either end), at least two, at most 253
/// characters. IDNs go in their `xn--` form.
fn is_host(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    host.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl Shaping {
    /// `GSM_SAFE_TEXT`, `OTP_AUTOFILL_DOMAIN`, `ANDROID_APP_HASH`, `OTP_CODE_PATTERN` and
    /// `MAX_SEGMENTS`, checked: autofill lines that leave a passcode no room stop start-up.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let autofill_domain = match env.optional("OTP_AUTOFILL_DOMAIN") {
            Some(raw) => {
                let host = raw.trim_start_matches('@').to_ascii_lowercase();
                if !is_host(&host) {
                    return Err(ConfigError::invalid(
                        "OTP_AUTOFILL_DOMAIN",
                        format!(
                            "must be the host of the page that asks for the code (login.example.com), got {raw:?}"
                        ),
                    ));
                }
                Some(host)
            }
            None => None,
        };
        let app_hash = match env.optional("ANDROID_APP_HASH") {
            Some(hash) => {
                let base64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
                if hash.len() != 11 || !hash.bytes().all(base64) {
                    return Err(ConfigError::invalid(
                        "ANDROID_APP_HASH",
                        "must be the 11 characters (letters, digits, + and /) of the app's SMS Retriever hash",
                    ));
                }
                Some(hash)
            }
            None => None,
        };
        let code = match env.optional("OTP_CODE_PATTERN") {
            Some(pattern) => CodeFinder::Pattern(regex::Regex::new(&pattern).map_err(|e| {
                let first = e.to_string().lines().last().unwrap_or_default().to_owned();
                ConfigError::invalid(
                    "OTP_CODE_PATTERN",
                    format!("is not a regular expression the gateway reads ({first})"),
                )
            })?),
            None => CodeFinder::DigitRun,
        };
        let shaping = Self {
            gsm_safe: env.flag("GSM_SAFE_TEXT", true)?,
            autofill_domain,
            app_hash,
            code,
            max_segments: env.number("MAX_SEGMENTS", 0..=11, DEFAULT_MAX_SEGMENTS as u64)? as usize,
        };
        shaping.check().map_err(|why| {
            let setting = if shaping.app_hash.is_some() {
                "ANDROID_APP_HASH"
            } else {
                "OTP_AUTOFILL_DOMAIN"
            };
            ConfigError::invalid(setting, format!("cannot work: {why}"))
        })?;
        Ok(shaping)
    }

    fn autofill_on(&self) -> bool {
        self.autofill_domain.is_some() || self.app_hash.is_some()
    }

    /// What the autofill lines add to a message whose code has `code_len` characters: the blank
    /// line, then the app hash on its own line, then the origin-bound line, last as its spec
    /// wants it (`@login.example.com #123456`: one space, then `#`, then the code).
    fn lines(&self, code: &str) -> String {
        let mut lines = String::from("\n");
        if let Some(hash) = &self.app_hash {
            lines.push('\n');
            lines.push_str(hash);
        }
        if let Some(domain) = &self.autofill_domain {
            lines.push('\n');
            lines.push('@');
            lines.push_str(domain);
            lines.push_str(" #");
            lines.push_str(code);
        }
        lines
    }

    /// Whether the autofill lines leave a short passcode message room in one SMS (140 bytes for
    /// the SMS Retriever, 160 GSM-7 characters otherwise); the start-up check of the settings.
    /// `Err` says what does not fit.
    pub fn check(&self) -> Result<(), String> {
        if !self.autofill_on() {
            return Ok(());
        }
        let added = self.lines("0123456789").chars().count();
        let (room, of) = match self.app_hash {
            // 140 bytes are 160 GSM-7 septets.
            Some(_) => (RETRIEVER_MAX_BYTES * 8 / 7, "the SMS Retriever's 140 bytes"),
            None => (160, "one SMS (160 GSM-7 characters)"),
        };
        if added + SHORTEST_PASSCODE_MESSAGE > room {
            return Err(format!(
                "the autofill lines take {added} characters with a 10-digit code, which leaves a \
                 {SHORTEST_PASSCODE_MESSAGE}-character passcode message no room in {of}"
            ));
        }
        Ok(())
    }

    /// `message` as it is sent, with its segments; `Err` when it would take more than
    /// `MAX_SEGMENTS`. The autofill lines are left out, and the reason kept, when the code cannot
    /// be told or (with the app hash) the result is longer than the SMS Retriever reads.
    pub fn shape(&self, message: &Message) -> Result<Shaped, TooLong> {
        let mut text = message.as_str().to_owned();
        // Never past the characters a message may have (an ellipsis becomes three): what the
        // providers take is what Mosaic's message was checked against.
        // Nor into more SMS: an ellipsis is one UCS-2 unit but three septets.
        if self.gsm_safe
            && let Some(safe) = gsm7::gsm_safe(&text)
            && safe.chars().count() <= MAX_MESSAGE_CHARS
            && gsm7::segments(&safe).count <= gsm7::segments(&text).count
        {
            text = safe;
        }
        let mut skipped = None;
        if self.autofill_on() {
            match self.code.find(&text) {
                Ok(code) => {
                    let with = format!("{}{}", text.trim_end(), self.lines(code));
                    // One SMS is 140 bytes: 160 GSM-7 septets or 70 UCS-2 code units.
                    let fits = self.app_hash.is_none() || gsm7::segments(&with).count == 1;
                    if with.chars().count() > MAX_MESSAGE_CHARS {
                        skipped = Some(Skipped::TooLong);
                    } else if fits {
                        text = with;
                    } else {
                        skipped = Some(Skipped::TooLongForRetriever);
                    }
                }
                Err(why) => skipped = Some(why),
            }
        }
        let segments = gsm7::segments(&text);
        if self.max_segments > 0 && segments.count > self.max_segments {
            return Err(TooLong {
                segments: segments.count,
                max: self.max_segments,
            });
        }
        Ok(Shaped {
            message: Message::shaped(text),
            segments,
            skipped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gsm7::Encoding;

    fn message(text: &str) -> Message {
        Message::parse(text).unwrap()
    }

    fn shaped(shaping: &Shaping, text: &str) -> Shaped {
        shaping.shape(&message(text)).unwrap()
    }

    #[test]
    fn the_code_finder_takes_the_one_run_of_4_to_10_digits() {
        let finder = CodeFinder::DigitRun;
        assert_eq!(finder.find("Your code is 123456"), Ok("123456"));
        assert_eq!(finder.find("482913 is your code"), Ok("482913"));
        assert_eq!(finder.find("Code 1234. Valid 5 min"), Ok("1234"));
        assert_eq!(finder.find("Your code"), Err(Skipped::NoCode));
        // A 3-digit group twice, or a run of 11 digits (a phone number), is no code.
        assert_eq!(finder.find("Code 123-456"), Err(Skipped::NoCode));
        assert_eq!(finder.find("Call 14155550100"), Err(Skipped::NoCode));
        assert_eq!(
            finder.find("Code 1234, or 5678"),
            Err(Skipped::SeveralCodes)
        );
        let pattern = CodeFinder::Pattern(regex::Regex::new(r"code: ([0-9]{3}-[0-9]{3})").unwrap());
        assert_eq!(pattern.find("Your code: 123-456. 2024"), Ok("123-456"));
        assert_eq!(pattern.find("Your 123-456"), Err(Skipped::NoCode));
    }

    #[test]
    fn look_alikes_keep_a_message_in_one_gsm7_sms_and_can_be_turned_off() {
        let text = "Don’t share it: “123456” – Acme";
        let on = shaped(&Shaping::default(), text);
        assert_eq!(on.message.as_str(), "Don't share it: \"123456\" - Acme");
        assert_eq!(on.segments.encoding, Encoding::Gsm7);
        let off = Shaping {
            gsm_safe: false,
            ..Shaping::default()
        };
        let kept = shaped(&off, text);
        assert_eq!(kept.message.as_str(), text);
        assert_eq!(kept.segments.encoding, Encoding::Ucs2);
    }

    #[test]
    fn the_origin_bound_line_is_the_last_after_a_blank_line() {
        let shaping = Shaping {
            autofill_domain: Some("login.example.com".into()),
            ..Shaping::default()
        };
        let s = shaped(&shaping, "Your Acme code is 123456\n");
        assert_eq!(
            s.message.as_str(),
            "Your Acme code is 123456\n\n@login.example.com #123456"
        );
        assert_eq!(s.skipped, None);
        let none = shaped(&shaping, "Your Acme code is ready");
        assert_eq!(none.message.as_str(), "Your Acme code is ready");
        assert_eq!(none.skipped, Some(Skipped::NoCode));
        let several = shaped(&shaping, "Code 1234 or 5678");
        assert_eq!(several.message.as_str(), "Code 1234 or 5678");
        assert_eq!(several.skipped, Some(Skipped::SeveralCodes));
    }

    #[test]
    fn the_app_hash_goes_on_its_own_line_before_the_origin_bound_one() {
        let hash = Shaping {
            app_hash: Some("FA+9qCX9VSu".into()),
            ..Shaping::default()
        };
        assert_eq!(
            shaped(&hash, "Your code is 123456").message.as_str(),
            "Your code is 123456\n\nFA+9qCX9VSu"
        );
        let both = Shaping {
            autofill_domain: Some("login.example.com".into()),
            ..hash.clone()
        };
        assert_eq!(
            shaped(&both, "Your code is 123456").message.as_str(),
            "Your code is 123456\n\nFA+9qCX9VSu\n@login.example.com #123456"
        );
        // Past the SMS Retriever's 140 bytes: sent as it came, and counted.
        let long = format!("Your code is 123456. {}", "x".repeat(130));
        let s = shaped(&hash, &long);
        assert_eq!(s.message.as_str(), long);
        assert_eq!(s.skipped, Some(Skipped::TooLongForRetriever));
        // In UCS-2, 140 bytes are 70 characters.
        let s = shaped(&hash, &format!("Код 123456 {}", "ж".repeat(50)));
        assert_eq!(s.skipped, Some(Skipped::TooLongForRetriever));
        assert_eq!(shaped(&hash, "Код 123456").skipped, None);
    }

    #[test]
    fn more_segments_than_allowed_are_refused_with_the_count() {
        let shaping = Shaping::default();
        assert_eq!(
            shaping.shape(&message(&"a".repeat(460))).unwrap_err(),
            TooLong {
                segments: 4,
                max: 3
            }
        );
        assert_eq!(shaped(&shaping, &"a".repeat(459)).segments.count, 3);
        let unlimited = Shaping {
            max_segments: 0,
            ..Shaping::default()
        };
        assert_eq!(shaped(&unlimited, &"a".repeat(1600)).segments.count, 11);
    }

    #[test]
    fn look_alikes_are_kept_when_their_gsm7_form_takes_more_sms() {
        // 12 characters and 58 ellipses: one UCS-2 SMS (70 units), or 186 septets (two SMS).
        let text = format!("Code 482913 {}", "\u{2026}".repeat(58));
        let s = shaped(&Shaping::default(), &text);
        assert_eq!(s.message.as_str(), text);
        assert_eq!(s.segments.count, 1);
        // Three UCS-2 SMS that would be four GSM-7 ones: sent, not refused past MAX_SEGMENTS.
        let text = format!("Code 482913 {}", "\u{2026}".repeat(150));
        assert_eq!(shaped(&Shaping::default(), &text).segments.count, 3);
    }

    #[test]
    fn shaping_never_makes_a_message_longer_than_a_message_may_be() {
        let unlimited = Shaping {
            max_segments: 0,
            autofill_domain: Some("login.example.com".into()),
            ..Shaping::default()
        };
        // 1,592 characters; its ellipses as three dots each would be 4,752.
        let dots = format!("Code 482913 {}", "\u{2026}".repeat(1580));
        let s = shaped(&unlimited, &dots);
        assert!(s.message.as_str().chars().count() <= MAX_MESSAGE_CHARS);
        assert!(s.message.as_str().starts_with(&dots));
        // 1,599 characters: the origin-bound line would take it past 1,600.
        let long = format!("Your code is 482913{}", " x".repeat(790));
        let s = shaped(&unlimited, &long);
        assert_eq!(s.message.as_str(), long);
        assert_eq!(s.skipped, Some(Skipped::TooLong));
        // Eleven segments allowed: the same.
        let eleven = Shaping {
            max_segments: 11,
            ..unlimited
        };
        assert_eq!(shaped(&eleven, &long).message.as_str(), long);
    }

    #[test]
    fn settings_that_cannot_work_stop_start_up_in_one_line() {
        let read = |vars: &[(&str, &str)]| crate::settings::in_lambda_env(vars, Shaping::from_env);
        let s = read(&[
            ("OTP_AUTOFILL_DOMAIN", "@Login.Example.com"),
            ("ANDROID_APP_HASH", "FA+9qCX9VSu"),
            ("OTP_CODE_PATTERN", "code ([0-9]{6})"),
            ("MAX_SEGMENTS", "0"),
            ("GSM_SAFE_TEXT", "false"),
        ])
        .unwrap();
        assert_eq!(s.autofill_domain.as_deref(), Some("login.example.com"));
        assert_eq!((s.max_segments, s.gsm_safe), (0, false));
        for (vars, start) in [
            (
                &[("OTP_AUTOFILL_DOMAIN", "https://login.example.com")][..],
                "OTP_AUTOFILL_DOMAIN must be",
            ),
            (
                &[("OTP_AUTOFILL_DOMAIN", "localhost")],
                "OTP_AUTOFILL_DOMAIN must be",
            ),
            (&[("ANDROID_APP_HASH", "short")], "ANDROID_APP_HASH must be"),
            (
                &[("OTP_CODE_PATTERN", "(unclosed")],
                "OTP_CODE_PATTERN is not",
            ),
            (&[("MAX_SEGMENTS", "12")], "MAX_SEGMENTS"),
            (
                &[(
                    "OTP_AUTOFILL_DOMAIN",
                    &*format!("{0}.{0}.example.com", "a".repeat(60)),
                )],
                "OTP_AUTOFILL_DOMAIN cannot work",
            ),
        ] {
            let line = read(vars).unwrap_err().to_string();
            assert!(line.starts_with(start), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn lines_that_leave_a_passcode_no_room_are_refused_at_start_up() {
        let long_domain = format!("{}.example.com", "a".repeat(100));
        let shaping = Shaping {
            autofill_domain: Some(long_domain),
            ..Shaping::default()
        };
        let why = shaping.check().unwrap_err();
        assert!(why.contains("one SMS"), "{why}");
        let with_hash = Shaping {
            autofill_domain: Some(format!("{}.example.com", "a".repeat(95))),
            app_hash: Some("FA+9qCX9VSu".into()),
            ..Shaping::default()
        };
        assert!(with_hash.check().unwrap_err().contains("140 bytes"));
        assert!(Shaping::default().check().is_ok());
        let fine = Shaping {
            autofill_domain: Some("login.example.com".into()),
            app_hash: Some("FA+9qCX9VSu".into()),
            ..Shaping::default()
        };
        assert!(fine.check().is_ok());
    }
}
