//! The `infobip` provider's settings and its API key, read from the environment at start-up and
//! checked there: a setting that cannot work stops start-up with one line that names it.

use crate::adapters::providers::rest;
use crate::adapters::secrets::SecretValue;
use crate::domain::country::Country;
use crate::settings::{ConfigError, Env};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// The longest validity Infobip keeps: "Validity period longer than 48h is not supported"
/// (`options.validityPeriod`, https://www.infobip.com/docs/api/channels/sms/sms-messaging/outbound-sms/send-sms-messages).
const MAX_VALIDITY: Duration = Duration::from_secs(48 * 3600);

/// The API key, sent as `Authorization: App <key>`. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub(super) api_key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { api_key: [redacted] }")
    }
}

const ENV_NAME: &str = "INFOBIP_API_KEY";
const SECRET_NAME: &str = "infobip_api_key";

impl Credentials {
    /// Reads the key under `name`; an error names the field, never its value. The key goes into
    /// a header, so it must be visible ASCII without spaces (as Infobip's keys are).
    fn read(name: &str, get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let Some(api_key) = get(name) else {
            return Ok(None);
        };
        let api_key = api_key.trim().to_owned();
        if api_key.is_empty() {
            return Err(format!("{name} is empty"));
        }
        if !api_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "{name} must be the key as the Infobip portal shows it (no spaces or other characters)"
            ));
        }
        Ok(Some(Self { api_key }))
    }

    /// The gateway secret's, from one read of it.
    pub(super) fn in_secret(read: &SecretValue) -> rest::InSecret<Self> {
        Self::read(SECRET_NAME, |name| read.field(name).map(str::to_owned))
            .map_err(|problem| format!("the gateway secret's Infobip key: {problem}"))
    }
}

/// The `infobip` provider's settings, from the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct InfobipSettings {
    /// `INFOBIP_FROM`, as Infobip takes it.
    pub from: String,
    /// `SENDER_BY_COUNTRY`: the `sender` for numbers in these countries.
    pub by_country: HashMap<Country, String>,
    /// Send a valid request `sender_id` as an alphanumeric `sender` (`INFOBIP_USE_SENDER_ID`).
    pub use_sender_id: bool,
    /// `MESSAGE_TTL_SECONDS`, sent as `options.validityPeriod`.
    pub ttl: Duration,
    /// `INFOBIP_BASE_URL`, the account's own API host, without a trailing `/`.
    pub base_url: String,
    /// `INFOBIP_API_KEY`; the secret's wins.
    pub env_credentials: Option<Credentials>,
    /// Where reports come, when they are on.
    pub receipts: Option<super::ReceiptSettings>,
}

impl fmt::Debug for InfobipSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfobipSettings")
            .field("from", &self.from)
            .field("by_country", &self.by_country)
            .field("use_sender_id", &self.use_sender_id)
            .field("ttl", &self.ttl)
            .field(
                "base_url",
                &crate::domain::redact::url_credentials(&self.base_url),
            )
            .field("env_credentials", &self.env_credentials)
            .field("receipts", &self.receipts)
            .finish()
    }
}

impl InfobipSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let Some(raw) = env.optional("INFOBIP_BASE_URL") else {
            return Err(ConfigError::provider(
                "infobip",
                "which needs the account's API base URL: set INFOBIP_BASE_URL (the Infobip \
                 portal's home page shows it, as xxxxx.api.infobip.com)",
            ));
        };
        // The portal shows the host alone: https is meant.
        let base_url = match raw.contains("://") {
            true => raw.clone(),
            false => format!("https://{raw}"),
        }
        .trim_end_matches('/')
        .to_owned();
        // Plain HTTP would send the API key in clear: only to a stand-in on this machine.
        if !rest::usable_url(&format!("{base_url}/sms/3/messages")) {
            return Err(ConfigError::invalid(
                "INFOBIP_BASE_URL",
                format!("must be an https URL or host (http only on loopback), got {raw:?}"),
            ));
        }
        let Some(raw) = env.optional("INFOBIP_FROM") else {
            return Err(ConfigError::provider(
                "infobip",
                "which needs a sender: set INFOBIP_FROM (a number of the account, or an \
                 alphanumeric sender id)",
            ));
        };
        let from = rest::digits_or_sender_id(&raw).ok_or_else(|| {
            ConfigError::invalid(
                "INFOBIP_FROM",
                format!(
                    "must be an E.164 number, a short code or an alphanumeric sender id (3 to 11 letters and digits), got {raw:?}"
                ),
            )
        })?;
        let mut by_country = HashMap::new();
        for (country, raw) in crate::domain::country::senders_for("infobip", env)? {
            let from = rest::digits_or_sender_id(&raw).ok_or_else(|| {
                ConfigError::invalid(
                    "SENDER_BY_COUNTRY",
                    format!(
                        "{country}: {raw:?} is not an Infobip sender (an E.164 number, a short code or a sender id)"
                    ),
                )
            })?;
            by_country.insert(country, from);
        }
        let env_credentials = Credentials::read(ENV_NAME, |name| env.optional(name))
            .map_err(|problem| ConfigError::provider("infobip", format!("but {problem}")))?;
        if env_credentials.is_none() && !env.has_secret() {
            return Err(ConfigError::provider(
                "infobip",
                "but no Infobip API key is configured: put infobip_api_key in the gateway secret \
                 (GATEWAY_SECRET_ID), or set INFOBIP_API_KEY",
            ));
        }
        Ok(Self {
            from,
            by_country,
            use_sender_id: env.flag("INFOBIP_USE_SENDER_ID", false)?,
            ttl: env.message_ttl()?,
            base_url,
            env_credentials,
            receipts: super::ReceiptSettings::from_env(env, true)?,
        })
    }

    /// `options.validityPeriod` as Infobip takes it, `(amount, timeUnit)`: whole minutes in
    /// `MINUTES` (Infobip's own unit when none is given), anything else in `SECONDS`; never past
    /// Infobip's 48 hours.
    pub fn validity_period(&self) -> (u64, &'static str) {
        let seconds = self.ttl.min(MAX_VALIDITY).as_secs().max(1);
        match seconds % 60 {
            0 => (seconds / 60, "MINUTES"),
            _ => (seconds, "SECONDS"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<InfobipSettings, ConfigError> {
        crate::settings::in_lambda_env(vars, InfobipSettings::from_env)
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef-01234567-89ab-cdef-0123-456789abcdef";

    const BASE: &[(&str, &str)] = &[
        ("INFOBIP_BASE_URL", "https://xyz12.api.infobip.com"),
        ("INFOBIP_FROM", "Acme"),
        ("INFOBIP_API_KEY", KEY),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars: Vec<_> = BASE
            .iter()
            .filter(|(k, _)| extra.iter().all(|(e, _)| e != k))
            .copied()
            .collect();
        vars.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
        vars
    }

    fn line(vars: &[(&'static str, &'static str)]) -> String {
        settings(&with(vars)).unwrap_err().to_string()
    }

    #[test]
    fn a_complete_set_up_reads_and_its_debug_shows_no_key() {
        let s = settings(&with(&[
            ("INFOBIP_BASE_URL", "xyz12.api.infobip.com/"),
            ("INFOBIP_FROM", "+447700900001"),
            (
                "SENDER_BY_COUNTRY",
                r#"{"US": {"infobip": "12015550123"}, "DE": "Acme"}"#,
            ),
            ("MESSAGE_TTL_SECONDS", "90"),
        ]))
        .unwrap();
        assert_eq!(s.base_url, "https://xyz12.api.infobip.com");
        assert_eq!(s.from, "447700900001");
        assert_eq!(s.by_country.len(), 2);
        assert_eq!(s.validity_period(), (90, "SECONDS"));
        let debug = format!("{s:?}");
        assert!(!debug.contains(KEY), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
        // The default 300 s is five minutes.
        assert_eq!(settings(BASE).unwrap().validity_period(), (5, "MINUTES"));
        let long = settings(&with(&[("MESSAGE_TTL_SECONDS", "36000")])).unwrap();
        assert_eq!(long.validity_period(), (600, "MINUTES"));
    }

    #[test]
    fn a_set_up_that_cannot_work_stops_start_up_in_one_line_that_names_it() {
        for (vars, start) in [
            (
                &[("INFOBIP_BASE_URL", "")][..],
                "SMS_PROVIDER includes infobip, which needs the account's API base URL",
            ),
            (
                &[("INFOBIP_BASE_URL", "http://xyz12.api.infobip.com")],
                "INFOBIP_BASE_URL",
            ),
            (
                &[("INFOBIP_BASE_URL", "ftp://127.0.0.1")],
                "INFOBIP_BASE_URL",
            ),
            (
                &[("INFOBIP_FROM", "")],
                "SMS_PROVIDER includes infobip, which needs a sender",
            ),
            (&[("INFOBIP_FROM", "not a sender!")], "INFOBIP_FROM"),
            (
                &[("SENDER_BY_COUNTRY", r#"{"DE": "+49 no"}"#)],
                "SENDER_BY_COUNTRY",
            ),
            (
                &[("INFOBIP_API_KEY", "two words")],
                "SMS_PROVIDER includes infobip, but INFOBIP_API_KEY must be the key",
            ),
            (
                &[("INFOBIP_API_KEY", "")],
                "SMS_PROVIDER includes infobip, but no Infobip API key",
            ),
        ] {
            let line = line(vars);
            assert!(line.starts_with(start), "{line}");
            assert!(!line.contains('\n') && !line.contains(KEY), "{line}");
        }
        let line = line(&[("INFOBIP_API_KEY", "s3cret key")]);
        assert!(!line.contains("s3cret"), "{line}");
    }

    #[test]
    fn with_a_secret_the_key_may_come_from_it_alone() {
        let vars = with(&[
            ("INFOBIP_API_KEY", ""),
            ("GATEWAY_SECRET_ID", "mosaic/gateway"),
        ]);
        let s = settings(&vars).unwrap();
        assert_eq!(s.env_credentials, None);
        let parse = |json: &str| crate::adapters::secrets::parse_secret(json).unwrap();
        let read = parse(&format!(r#"{{"api_key":"k","infobip_api_key":" {KEY} "}}"#));
        assert_eq!(
            Credentials::in_secret(&read),
            Ok(Some(Credentials {
                api_key: KEY.into()
            }))
        );
        let none = parse(r#"{"api_key":"k"}"#);
        assert_eq!(Credentials::in_secret(&none), Ok(None));
    }
}
