//! The `vonage` provider's settings and credentials, read from the environment at start-up and
//! checked there: a setting that cannot work stops start-up with one line that names it.

use crate::adapters::providers::rest;
use crate::adapters::secrets::SecretValue;
use crate::domain::country::Country;
use crate::settings::{ConfigError, Env};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// Where requests go while `VONAGE_API_BASE` is not set (the description's server).
pub const DEFAULT_API_BASE: &str = "https://rest.nexmo.com";

/// Vonage's `ttl` bounds, in milliseconds (`NewMessage.ttl` in Vonage's description).
const TTL_MS: std::ops::RangeInclusive<u64> = 20_000..=604_800_000;

/// The API key and secret. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub(super) api_key: String,
    pub(super) api_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &"[redacted]")
            .field("api_secret", &"[redacted]")
            .finish()
    }
}

const ENV_NAMES: (&str, &str) = ("VONAGE_API_KEY", "VONAGE_API_SECRET");
const SECRET_NAMES: (&str, &str) = ("vonage_api_key", "vonage_api_secret");

impl Credentials {
    /// Reads the pair under `names`, checked against the lengths Vonage's description gives (an
    /// 8-character key, a secret of 6 to 32); an error names the field, never its value.
    fn read(
        names: (&str, &str),
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        let Some((api_key, api_secret)) = rest::pair(names, get)? else {
            return Ok(None);
        };
        if api_key.chars().count() != 8 {
            return Err(format!("{} must be 8 characters", names.0));
        }
        if !(6..=32).contains(&api_secret.chars().count()) {
            return Err(format!("{} must be 6 to 32 characters", names.1));
        }
        Ok(Some(Self {
            api_key,
            api_secret,
        }))
    }

    /// The gateway secret's, from one read of it.
    pub(super) fn in_secret(read: &SecretValue) -> rest::InSecret<Self> {
        Self::read(SECRET_NAMES, |name| read.field(name).map(str::to_owned))
            .map_err(|problem| format!("the gateway secret's Vonage credentials: {problem}"))
    }
}

/// The `vonage` provider's settings, from the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct VonageSettings {
    /// `VONAGE_FROM`, as Vonage takes it.
    pub from: String,
    /// `SENDER_BY_COUNTRY`: the `from` for numbers in these countries.
    pub by_country: HashMap<Country, String>,
    /// Send a valid request `sender_id` as an alphanumeric `from` (`VONAGE_USE_SENDER_ID`).
    pub use_sender_id: bool,
    /// `MESSAGE_TTL_SECONDS`, sent as `ttl` (milliseconds, within Vonage's bounds).
    pub ttl: Duration,
    /// `VONAGE_API_BASE`, without a trailing `/`.
    pub api_base: String,
    /// `VONAGE_API_KEY` and `VONAGE_API_SECRET`; the secret's win.
    pub env_credentials: Option<Credentials>,
    /// Where receipts come and how they are checked, when they are on.
    pub receipts: Option<super::ReceiptSettings>,
}

impl fmt::Debug for VonageSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VonageSettings")
            .field("from", &self.from)
            .field("by_country", &self.by_country)
            .field("use_sender_id", &self.use_sender_id)
            .field("ttl", &self.ttl)
            .field(
                "api_base",
                &crate::domain::redact::url_credentials(&self.api_base),
            )
            .field("env_credentials", &self.env_credentials)
            .field("receipts", &self.receipts)
            .finish()
    }
}

impl VonageSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let Some(raw) = env.optional("VONAGE_FROM") else {
            return Err(ConfigError::provider(
                "vonage",
                "which needs a sender: set VONAGE_FROM (a number of the account, or an alphanumeric sender id)",
            ));
        };
        let from = rest::digits_or_sender_id(&raw).ok_or_else(|| {
            ConfigError::invalid(
                "VONAGE_FROM",
                format!(
                    "must be an E.164 number, a short code or an alphanumeric sender id, got {raw:?}"
                ),
            )
        })?;
        let mut by_country = HashMap::new();
        for (country, raw) in crate::domain::country::senders_for("vonage", env)? {
            let from = rest::digits_or_sender_id(&raw).ok_or_else(|| {
                ConfigError::invalid(
                    "SENDER_BY_COUNTRY",
                    format!(
                        "{country}: {raw:?} is not a Vonage from (an E.164 number, a short code or a sender id)"
                    ),
                )
            })?;
            by_country.insert(country, from);
        }
        let api_base = env
            .optional("VONAGE_API_BASE")
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned())
            .trim_end_matches('/')
            .to_owned();
        // Plain HTTP would send the credentials in clear: only to a stand-in on this machine.
        if !rest::usable_url(&format!("{api_base}/sms/json")) {
            return Err(ConfigError::invalid(
                "VONAGE_API_BASE",
                format!("must be an https URL (http only on loopback), got {api_base:?}"),
            ));
        }
        let env_credentials = Credentials::read(ENV_NAMES, |name| env.optional(name))
            .map_err(|problem| ConfigError::provider("vonage", format!("but {problem}")))?;
        if env_credentials.is_none() && !env.has_secret() {
            return Err(ConfigError::provider(
                "vonage",
                "but no Vonage credentials are configured: put vonage_api_key and \
                 vonage_api_secret in the gateway secret (GATEWAY_SECRET_ID), or set \
                 VONAGE_API_KEY and VONAGE_API_SECRET",
            ));
        }
        Ok(Self {
            from,
            by_country,
            use_sender_id: env.flag("VONAGE_USE_SENDER_ID", false)?,
            ttl: env.message_ttl()?,
            api_base,
            env_credentials,
            receipts: super::ReceiptSettings::from_env(env, true)?,
        })
    }

    /// `ttl` as Vonage takes it: milliseconds, no fewer than its minimum (20 s).
    pub fn ttl_ms(&self) -> u64 {
        (self.ttl.as_millis() as u64).clamp(*TTL_MS.start(), *TTL_MS.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<VonageSettings, ConfigError> {
        crate::settings::in_lambda_env(vars, VonageSettings::from_env)
    }

    const BASE: &[(&str, &str)] = &[
        ("VONAGE_FROM", "Acme"),
        ("VONAGE_API_KEY", "abcd1234"),
        ("VONAGE_API_SECRET", "s3cret-value"),
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
    fn a_complete_set_up_reads_and_its_debug_shows_no_credential() {
        let s = settings(&with(&[
            ("VONAGE_FROM", "+447700900001"),
            (
                "SENDER_BY_COUNTRY",
                r#"{"US": {"vonage": "12015550123"}, "DE": "Acme"}"#,
            ),
            ("MESSAGE_TTL_SECONDS", "5"),
        ]))
        .unwrap();
        assert_eq!(s.from, "447700900001");
        assert_eq!(s.by_country.len(), 2);
        assert_eq!(s.api_base, DEFAULT_API_BASE);
        // Vonage takes no ttl under 20 s.
        assert_eq!(s.ttl_ms(), 20_000);
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("abcd1234") && !debug.contains("s3cret-value"),
            "{debug}"
        );
        assert!(debug.contains("[redacted]"), "{debug}");
        assert_eq!(settings(BASE).unwrap().ttl_ms(), 300_000);
    }

    #[test]
    fn a_set_up_that_cannot_work_stops_start_up_in_one_line_that_names_it() {
        for (vars, start) in [
            (
                &[("VONAGE_FROM", "")][..],
                "SMS_PROVIDER includes vonage, which needs a sender",
            ),
            (&[("VONAGE_FROM", "not a sender!")], "VONAGE_FROM"),
            (
                &[("SENDER_BY_COUNTRY", r#"{"DE": "+49 no"}"#)],
                "SENDER_BY_COUNTRY",
            ),
            (
                &[("VONAGE_API_BASE", "http://rest.nexmo.com")],
                "VONAGE_API_BASE",
            ),
            (
                &[("VONAGE_API_SECRET", "")],
                "SMS_PROVIDER includes vonage, but VONAGE_API_SECRET is missing",
            ),
            (
                &[("VONAGE_API_KEY", "short")],
                "SMS_PROVIDER includes vonage, but VONAGE_API_KEY must be 8",
            ),
            (
                &[("VONAGE_API_KEY", ""), ("VONAGE_API_SECRET", "")],
                "SMS_PROVIDER includes vonage, but no Vonage credentials",
            ),
        ] {
            let line = line(vars);
            assert!(line.starts_with(start), "{line}");
            assert!(
                !line.contains('\n') && !line.contains("s3cret-value"),
                "{line}"
            );
        }
    }
}
