//! The `twilio` provider's settings, read from the environment at start-up and checked there: a
//! setting that cannot work stops start-up with one line that names it.

use super::credentials::{Credentials, is_sid};
use crate::domain::country::Country;
use crate::domain::sms::{PhoneNumber, SenderId};
use crate::settings::{ConfigError, Env};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// Where requests go while `TWILIO_API_BASE` is not set.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// Where SMS come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// `TWILIO_MESSAGING_SERVICE_SID`: Twilio picks a sender from the service's pool.
    MessagingService(String),
    /// `TWILIO_FROM`: a Twilio number (E.164), short code or alphanumeric sender id.
    From(String),
}

impl Sender {
    /// `MG...` is a Messaging Service; an E.164 number, a short code or an alphanumeric sender id
    /// is a `From`; anything else `None`.
    fn parse(raw: &str) -> Option<Self> {
        if is_sid(raw, "MG") {
            return Some(Self::MessagingService(raw.to_owned()));
        }
        let short_code = (5..=6).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit());
        let usable =
            PhoneNumber::parse(raw).is_ok() || SenderId::parse(raw).is_some() || short_code;
        usable.then(|| Self::From(raw.to_owned()))
    }
}

/// The path Twilio's status callbacks come to.
pub const STATUS_PATH: &str = "/twilio/status";

/// `TWILIO_STATUS_CALLBACK_URL` (or `/twilio/status` under `RECEIPTS_BASE_URL`): where Twilio
/// posts a message's status, for a gateway whose chains name twilio when `named`.
pub fn status_callback_url(env: &Env, named: bool) -> Result<Option<String>, ConfigError> {
    crate::adapters::providers::receipts::callback_url(
        env,
        "TWILIO_STATUS_CALLBACK_URL",
        STATUS_PATH,
        "twilio",
        named,
    )
}

/// The `twilio` provider's settings, from the environment. `Debug` shows no credential, nor one
/// written into a URL.
#[derive(Clone, PartialEq, Eq)]
pub struct TwilioSettings {
    pub sender: Sender,
    /// `SENDER_BY_COUNTRY`: the sender for numbers in these countries, instead of `sender`.
    pub by_country: HashMap<Country, Sender>,
    /// Send a valid request `sender_id` as an alphanumeric `From` (`TWILIO_USE_SENDER_ID`).
    pub use_sender_id: bool,
    /// Twilio's `ValidityPeriod` (`MESSAGE_TTL_SECONDS`).
    pub validity: Duration,
    /// `TWILIO_API_BASE`, without a trailing `/`.
    pub api_base: String,
    /// `TWILIO_ACCOUNT_SID` with `TWILIO_AUTH_TOKEN` (or an API key); the secret's win.
    pub env_credentials: Option<Credentials>,
    /// `TWILIO_STATUS_CALLBACK_URL`, sent as `StatusCallback` while an auth token is known to
    /// check the callbacks with.
    pub status_callback: Option<String>,
    /// `TWILIO_AUTH_TOKEN`, whatever authenticates the sends: Twilio signs callbacks with it.
    pub env_auth_token: bool,
}

impl fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = crate::domain::redact::url_credentials;
        f.debug_struct("TwilioSettings")
            .field("sender", &self.sender)
            .field("by_country", &self.by_country)
            .field("use_sender_id", &self.use_sender_id)
            .field("validity", &self.validity)
            .field("api_base", &url(&self.api_base))
            .field("env_credentials", &self.env_credentials)
            .field("status_callback", &self.status_callback.as_deref().map(url))
            .field("env_auth_token", &self.env_auth_token)
            .finish()
    }
}

impl TwilioSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let sender = match (
            env.optional("TWILIO_MESSAGING_SERVICE_SID"),
            env.optional("TWILIO_FROM"),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "TWILIO_FROM",
                    "and TWILIO_MESSAGING_SERVICE_SID are both set: set one (the Messaging Service picks the number itself)",
                ));
            }
            (None, None) => {
                return Err(ConfigError::provider(
                    "twilio",
                    "which needs a sender: set TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM",
                ));
            }
            (Some(sid), None) => Sender::parse(&sid)
                .filter(|s| matches!(s, Sender::MessagingService(_)))
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "TWILIO_MESSAGING_SERVICE_SID",
                        format!("must be MG followed by 32 hex digits, got {sid:?}"),
                    )
                })?,
            (None, Some(from)) => Sender::parse(&from)
                .filter(|s| matches!(s, Sender::From(_)))
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "TWILIO_FROM",
                        format!(
                            "must be an E.164 number, a short code or an alphanumeric sender id, got {from:?}"
                        ),
                    )
                })?,
        };
        let mut by_country = HashMap::new();
        for (country, raw) in crate::domain::country::senders_for("twilio", env)? {
            let sender = Sender::parse(&raw).ok_or_else(|| {
                ConfigError::invalid(
                    "SENDER_BY_COUNTRY",
                    format!(
                        "{country}: {raw:?} is neither a Messaging Service SID (MG...) nor a Twilio From (E.164 number, short code or sender id)"
                    ),
                )
            })?;
            by_country.insert(country, sender);
        }
        let api_base = env
            .optional("TWILIO_API_BASE")
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned())
            .trim_end_matches('/')
            .to_owned();
        // Plain HTTP would send the credentials in clear: only to a stand-in on this machine.
        if !crate::adapters::providers::rest::usable_url(&format!("{api_base}/2010-04-01/Accounts"))
        {
            return Err(ConfigError::invalid(
                "TWILIO_API_BASE",
                format!("must be an https URL (http only on loopback), got {api_base:?}"),
            ));
        }
        let env_credentials = Credentials::in_env(env)
            .map_err(|problem| ConfigError::provider("twilio", format!("but {problem}")))?;
        if env_credentials.is_none() && !env.has_secret() {
            return Err(ConfigError::provider(
                "twilio",
                "but no Twilio credentials are configured: put twilio_account_sid and \
                 twilio_auth_token in the gateway secret (GATEWAY_SECRET_ID), or set TWILIO_ACCOUNT_SID \
                 and TWILIO_AUTH_TOKEN",
            ));
        }
        Ok(Self {
            sender,
            by_country,
            use_sender_id: env.flag("TWILIO_USE_SENDER_ID", false)?,
            validity: env.message_ttl()?,
            api_base,
            env_credentials,
            status_callback: status_callback_url(env, true)?,
            env_auth_token: env.optional("TWILIO_AUTH_TOKEN").is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Host;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";

    fn settings(vars: &[(&str, &str)]) -> Result<TwilioSettings, ConfigError> {
        crate::settings::in_lambda_env(vars, TwilioSettings::from_env)
    }

    fn problem(vars: &[(&str, &str)]) -> String {
        settings(vars).unwrap_err().to_string()
    }

    #[test]
    fn a_status_callback_url_is_https_and_ends_in_the_callback_path() {
        let url = |value: &str| {
            let lookup =
                |name: &str| (name == "TWILIO_STATUS_CALLBACK_URL").then(|| value.to_owned());
            status_callback_url(&Env::new(Host::Lambda, &lookup), true)
        };
        assert_eq!(
            url("https://abc.execute-api.us-east-1.amazonaws.com/twilio/status")
                .unwrap()
                .as_deref(),
            Some("https://abc.execute-api.us-east-1.amazonaws.com/twilio/status")
        );
        assert!(
            url("http://127.0.0.1:3000/twilio/status")
                .unwrap()
                .is_some()
        );
        for bad in [
            "http://example.com/twilio/status",
            "https://example.com/send-sms",
            "https://example.com/prod/twilio/status",
            "https://example.com/twilio/status?x=1",
            "twilio/status",
        ] {
            let line = url(bad).unwrap_err().to_string();
            assert!(
                line.starts_with("TWILIO_STATUS_CALLBACK_URL must be"),
                "{line}"
            );
        }
    }

    #[test]
    fn settings_are_read_with_their_defaults() {
        let s = settings(&[
            ("TWILIO_FROM", "+15005550006"),
            ("TWILIO_ACCOUNT_SID", ACCOUNT),
            ("TWILIO_AUTH_TOKEN", "token"),
        ])
        .unwrap();
        assert_eq!(s.sender, Sender::From("+15005550006".into()));
        assert!(!s.use_sender_id);
        assert_eq!(s.validity, Duration::from_secs(300));
        assert_eq!(s.api_base, "https://api.twilio.com");
        let credentials = s.env_credentials.unwrap();
        assert_eq!(credentials.account_sid, ACCOUNT);
        assert_eq!(
            credentials.basic_auth(),
            format!(
                "Basic {}",
                aws_smithy_types::base64::encode(format!("{ACCOUNT}:token"))
            )
        );

        let s = settings(&[
            ("TWILIO_MESSAGING_SERVICE_SID", SERVICE),
            ("GATEWAY_SECRET_ID", "gw"),
            ("TWILIO_USE_SENDER_ID", "TRUE"),
            ("MESSAGE_TTL_SECONDS", "120"),
            ("TWILIO_API_BASE", "http://127.0.0.1:9/"),
        ])
        .unwrap();
        assert_eq!(s.sender, Sender::MessagingService(SERVICE.into()));
        assert!(s.use_sender_id);
        // An alphanumeric sender that merely starts with MG is a From, not a service.
        let mg = settings(&[
            ("TWILIO_FROM", "MGBank"),
            ("TWILIO_ACCOUNT_SID", ACCOUNT),
            ("TWILIO_AUTH_TOKEN", "token"),
        ])
        .unwrap();
        assert_eq!(mg.sender, Sender::From("MGBank".into()));
        assert_eq!(s.validity, Duration::from_secs(120));
        assert_eq!(s.api_base, "http://127.0.0.1:9");
        assert_eq!(s.env_credentials, None);
    }

    #[test]
    fn an_api_key_authenticates_as_itself() {
        let key = "SK0123456789abcdef0123456789abcdef";
        let s = settings(&[
            ("TWILIO_FROM", "Acme"),
            ("TWILIO_ACCOUNT_SID", ACCOUNT),
            ("TWILIO_API_KEY_SID", key),
            ("TWILIO_API_KEY_SECRET", "key-secret"),
        ])
        .unwrap();
        let credentials = s.env_credentials.unwrap();
        assert_eq!(credentials.account_sid, ACCOUNT);
        assert_eq!(
            credentials.basic_auth(),
            format!(
                "Basic {}",
                aws_smithy_types::base64::encode(format!("{key}:key-secret"))
            )
        );
        let shown = format!("{credentials:?}");
        assert!(
            !shown.contains("key-secret") && shown.contains("[redacted]"),
            "{shown}"
        );
    }

    #[test]
    fn unworkable_settings_stop_start_up_with_one_line() {
        let creds = [("TWILIO_ACCOUNT_SID", ACCOUNT), ("TWILIO_AUTH_TOKEN", "t")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = creds.to_vec();
            vars.extend_from_slice(extra);
            problem(&vars)
        };
        assert!(with(&[]).contains("needs a sender"));
        assert!(
            with(&[
                ("TWILIO_FROM", "+15005550006"),
                ("TWILIO_MESSAGING_SERVICE_SID", SERVICE)
            ])
            .contains("both set")
        );
        assert!(
            with(&[("TWILIO_MESSAGING_SERVICE_SID", "MG123")])
                .starts_with("TWILIO_MESSAGING_SERVICE_SID")
        );
        assert!(with(&[("TWILIO_FROM", "my bank")]).starts_with("TWILIO_FROM"));
        assert!(
            with(&[("TWILIO_FROM", "Acme"), ("TWILIO_USE_SENDER_ID", "yes")])
                .starts_with("TWILIO_USE_SENDER_ID")
        );
        assert!(
            with(&[("TWILIO_FROM", "Acme"), ("MESSAGE_TTL_SECONDS", "36001")])
                .starts_with("MESSAGE_TTL_SECONDS")
        );
        for base in ["api.twilio.com", "http://api.twilio.com", "ftp://127.0.0.1"] {
            let line = with(&[("TWILIO_FROM", "Acme"), ("TWILIO_API_BASE", base)]);
            assert!(line.starts_with("TWILIO_API_BASE"), "{line}");
        }

        let none = problem(&[("TWILIO_FROM", "Acme")]);
        assert!(none.contains("no Twilio credentials"), "{none}");
        let half = problem(&[("TWILIO_FROM", "Acme"), ("TWILIO_AUTH_TOKEN", "s3cr3t")]);
        assert!(half.contains("TWILIO_ACCOUNT_SID is missing"), "{half}");
        let bad_sid = problem(&[
            ("TWILIO_FROM", "Acme"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "s3cr3t"),
        ]);
        assert!(bad_sid.contains("AC followed by 32 hex"), "{bad_sid}");
        for line in [none, half, bad_sid] {
            assert!(!line.contains("s3cr3t") && !line.contains('\n'), "{line}");
        }
    }
}
