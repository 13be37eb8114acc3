//! The configuration, read from the environment in one place and checked at start-up: a
//! configuration that cannot work stops the program with one clear line instead of failing the
//! first request.
//!
//! This module reads what the whole gateway shares (keys, the provider list, the send deadline).
//! Each provider reads its own settings from the same [`Env`] (see
//! [`crate::adapters::providers::REGISTRY`]).

use crate::adapters::providers::{self, ProviderSetup};
use crate::domain::country::Country;
use crate::domain::keys::ApiKey;
use crate::settings::{ConfigError, DEFAULT_SECRET_TTL, DEFAULT_SEND_DEADLINE, Env, Host};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyConfig {
    SecretsManager {
        secret_id: String,
        ttl: Duration,
        /// `STALE_KEYS_MAX_SECONDS`: how long past the TTL cached keys may serve while reads fail
        /// for a passing reason.
        stale_max: Duration,
    },
    Fixed(ApiKey),
    /// Generated at start-up for local use; printed once so the user can call the gateway.
    Generated(ApiKey),
}

#[derive(Debug)]
pub struct Config {
    pub keys: KeyConfig,
    /// Every provider named in `SMS_PROVIDER` or `PROVIDERS_BY_COUNTRY`, each once: `SMS_PROVIDER`'s
    /// first, in its order.
    pub providers: Vec<Box<dyn ProviderSetup>>,
    /// `SMS_PROVIDER`: the chain for numbers of every country without one of its own; never empty.
    pub default_chain: Vec<&'static str>,
    /// `PROVIDERS_BY_COUNTRY`: the chains of the countries that have their own.
    pub chains_by_country: HashMap<Country, Vec<&'static str>>,
    /// The whole send, failover included, ends this long after the request arrived.
    pub send_deadline: Duration,
    /// `ALLOWED_COUNTRIES` / `BLOCKED_COUNTRIES`.
    pub countries: crate::domain::country::CountryPolicy,
    /// `VALID_NUMBERS_ONLY` and `BLOCKED_NUMBER_TYPES`.
    pub numbers: crate::domain::numbering::NumberPolicy,
    /// Whether `SENDER_BY_COUNTRY` is set (each provider reads its own senders from it).
    pub senders_by_country: bool,
    /// `GSM_SAFE_TEXT`, `OTP_AUTOFILL_DOMAIN`, `ANDROID_APP_HASH`, `OTP_CODE_PATTERN`,
    /// `MAX_SEGMENTS`: how a message is shaped before it is sent.
    pub shaping: crate::domain::shaping::Shaping,
    /// `IDEMPOTENCY_TABLE`, `DEDUPE_WINDOW_SECONDS`, `MAX_SMS_PER_NUMBER_PER_HOUR`.
    pub dedupe: crate::domain::dedupe::Settings,
    /// `FINGERPRINT_KEY`, for local use; the gateway secret's `fingerprint_key` wins.
    pub fingerprint_key: Option<crate::domain::keys::FingerprintKey>,
    /// `FINGERPRINT_SECRET_ID`: a secret of its own holding `fingerprint_key`, read once at
    /// start-up (the template generates one); the gateway secret's `fingerprint_key` still wins.
    pub fingerprint_secret_id: Option<String>,
    /// `TWILIO_STATUS_CALLBACK_URL`, with what checks the callbacks when the secret does not.
    pub twilio_callbacks: Option<TwilioCallbacks>,
    /// Vonage's receipts (`VONAGE_STATUS_CALLBACK_URL` or `RECEIPTS_BASE_URL`), when vonage is in
    /// a chain.
    pub vonage_receipts: Option<providers::vonage::ReceiptSettings>,
    /// Infobip's receipts (`INFOBIP_STATUS_CALLBACK_URL` or `RECEIPTS_BASE_URL`), when infobip is
    /// in a chain.
    pub infobip_receipts: Option<providers::infobip::ReceiptSettings>,
}

/// Where Twilio's status callbacks come, and the environment's account and auth token for them
/// (the secret's `twilio_account_sid` and `twilio_auth_token` win). `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct TwilioCallbacks {
    pub url: String,
    pub auth_token: Option<String>,
    pub account_sid: Option<String>,
}

impl std::fmt::Debug for TwilioCallbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioCallbacks")
            .field("url", &crate::domain::redact::url_credentials(&self.url))
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "[redacted]"),
            )
            .field("account_sid", &self.account_sid)
            .finish()
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env(host: Host) -> Result<Self, ConfigError> {
        Self::from_lookup(host, |name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`. An empty `GATEWAY_SECRET_ID` or `GATEWAY_API_KEY` is
    /// refused rather than read as unset, as it is surely a mistake.
    pub fn from_lookup(
        host: Host,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = Env::new(host, &lookup);

        let keys = if let Some(secret_id) = env.get("GATEWAY_SECRET_ID") {
            if secret_id.is_empty() {
                return Err(ConfigError::EmptySecretId);
            }
            // Up to a day: a rotated key must reach every instance within the TTL, and a longer
            // one would only postpone what a rotation needs.
            let ttl = env.number(
                "SECRET_TTL_SECONDS",
                0..=86_400,
                DEFAULT_SECRET_TTL.as_secs(),
            )?;
            let stale_max = env.number(
                "STALE_KEYS_MAX_SECONDS",
                0..=86_400,
                crate::adapters::secrets::DEFAULT_STALE_KEYS_MAX.as_secs(),
            )?;
            KeyConfig::SecretsManager {
                secret_id,
                ttl: Duration::from_secs(ttl),
                stale_max: Duration::from_secs(stale_max),
            }
        } else if let Some(key) = env.get("GATEWAY_API_KEY") {
            KeyConfig::Fixed(ApiKey::new(key).ok_or(ConfigError::EmptyKey)?)
        } else if host == Host::Local {
            KeyConfig::Generated(ApiKey::generate())
        } else {
            return Err(ConfigError::NoKey);
        };

        let send_deadline = Duration::from_millis(env.number(
            "SEND_DEADLINE_MS",
            100..=60_000,
            DEFAULT_SEND_DEADLINE.as_millis() as u64,
        )?);

        let default_provider = match host {
            Host::Lambda => "sns",
            Host::Local => "outbox",
        };
        let list = env
            .optional("SMS_PROVIDER")
            .unwrap_or_else(|| default_provider.to_owned());
        let default_chain = chain("SMS_PROVIDER", &list)?;
        let chains_by_country = chains_by_country(&env)?;
        // Each provider is configured (and later built and started) once, however many chains
        // name it: one client, one connection pool, one token.
        // The others in name order, so a missing setting is reported the same way every time.
        let mut names = default_chain.clone();
        let mut others: Vec<&'static str> = chains_by_country.values().flatten().copied().collect();
        others.sort_unstable();
        for name in others {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let mut providers: Vec<Box<dyn ProviderSetup>> = Vec::new();
        for name in names {
            if let Some(configure) = providers::find(name) {
                let setup = configure(&env).map_err(|e| {
                    if default_chain.contains(&name) {
                        return e;
                    }
                    // Only PROVIDERS_BY_COUNTRY names it: the line says so, and for which
                    // countries, rather than sending the reader to SMS_PROVIDER.
                    let mut countries: Vec<String> = chains_by_country
                        .iter()
                        .filter(|(_, chain)| chain.contains(&name))
                        .map(|(country, _)| country.to_string())
                        .collect();
                    countries.sort_unstable();
                    e.named_for(countries)
                })?;
                providers.push(setup);
            }
        }
        let fingerprint_key = env
            .optional("FINGERPRINT_KEY")
            .and_then(crate::domain::keys::FingerprintKey::new);
        let fingerprint_secret_id = env.optional("FINGERPRINT_SECRET_ID");
        if fingerprint_key.is_some() && fingerprint_secret_id.is_some() {
            return Err(ConfigError::invalid(
                "FINGERPRINT_SECRET_ID",
                "and FINGERPRINT_KEY are both set: set one (the secret for a deployment, the variable for local use)",
            ));
        }
        let named = |provider: &str| {
            default_chain
                .iter()
                .chain(chains_by_country.values().flatten())
                .any(|name| *name == provider)
        };
        let twilio_callbacks =
            providers::twilio::status_callback_url(&env, named("twilio"))?.map(|url| {
                TwilioCallbacks {
                    url,
                    auth_token: env.optional("TWILIO_AUTH_TOKEN"),
                    account_sid: env.optional("TWILIO_ACCOUNT_SID"),
                }
            });
        let vonage_receipts = providers::vonage::ReceiptSettings::from_env(&env, named("vonage"))?;
        let infobip_receipts =
            providers::infobip::ReceiptSettings::from_env(&env, named("infobip"))?;
        Ok(Self {
            fingerprint_key,
            fingerprint_secret_id,
            twilio_callbacks,
            vonage_receipts,
            infobip_receipts,
            keys,
            providers,
            default_chain,
            chains_by_country,
            send_deadline,
            countries: crate::domain::country::CountryPolicy::from_env(&env)?,
            numbers: crate::domain::numbering::NumberPolicy::from_env(&env)?,
            shaping: crate::domain::shaping::Shaping::from_env(&env)?,
            senders_by_country: crate::domain::country::senders_set(&env, &providers::names())?,
            dedupe: crate::domain::dedupe::Settings::from_env(&env)?,
        })
    }

    /// Whether any part needs AWS credentials and a region.
    pub fn uses_aws(&self) -> bool {
        matches!(self.keys, KeyConfig::SecretsManager { .. })
            || self.fingerprint_secret_id.is_some()
            || self.dedupe.table.is_some()
            || self.providers.iter().any(|p| p.uses_aws())
    }

    /// `SMS_PROVIDER`'s chain.
    pub fn provider_names(&self) -> Vec<&'static str> {
        self.default_chain.clone()
    }
}

/// A provider chain as `variable` lists it (`twilio,sns`): known names, each once, at least one.
fn chain(variable: &'static str, list: &str) -> Result<Vec<&'static str>, ConfigError> {
    let mut chain: Vec<&'static str> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name = name.to_ascii_lowercase();
        let known = providers::names();
        let Some(&name) = known.iter().find(|known| **known == name) else {
            return Err(match variable {
                "SMS_PROVIDER" => ConfigError::UnknownProvider {
                    name,
                    known: known.join(", "),
                },
                _ => ConfigError::invalid(
                    variable,
                    format!(
                        "names {name:?}, which is no provider (known: {})",
                        known.join(", ")
                    ),
                ),
            });
        };
        if chain.contains(&name) {
            return Err(match variable {
                "SMS_PROVIDER" => ConfigError::DuplicateProvider(name.into()),
                _ => ConfigError::invalid(variable, format!("lists {name:?} twice in one chain")),
            });
        }
        chain.push(name);
    }
    if chain.is_empty() {
        return Err(match variable {
            "SMS_PROVIDER" => ConfigError::NoProvider,
            _ => ConfigError::invalid(variable, "has an empty provider chain"),
        });
    }
    Ok(chain)
}

/// `PROVIDERS_BY_COUNTRY`: JSON from ISO country code to a chain (`{"IN": "twilio,sns"}`).
fn chains_by_country(env: &Env) -> Result<HashMap<Country, Vec<&'static str>>, ConfigError> {
    const VARIABLE: &str = "PROVIDERS_BY_COUNTRY";
    let Some(raw) = env.optional(VARIABLE) else {
        return Ok(HashMap::new());
    };
    let invalid = |problem: String| ConfigError::invalid(VARIABLE, problem);
    let entries = crate::domain::country::by_country(
        VARIABLE,
        &raw,
        "a provider chain, like {\"IN\": \"twilio,sns\"}",
    )?;
    let mut chains = HashMap::new();
    for (_, country, list) in entries {
        let serde_json::Value::String(list) = list else {
            return Err(invalid(format!(
                "{country} must be a provider chain as a string, like \"twilio,sns\""
            )));
        };
        let chain = chain(VARIABLE, &list).map_err(|e| invalid(format!("{country}: {e}")))?;
        chains.insert(country, chain);
    }
    Ok(chains)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(crate) fn config(host: Host, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(host, |name| vars.get(name).cloned())
    }

    #[test]
    fn local_defaults_need_nothing() {
        let c = config(Host::Local, &[]).unwrap();
        assert!(matches!(c.keys, KeyConfig::Generated(_)));
        assert_eq!(c.provider_names(), ["outbox"]);
        assert_eq!(c.send_deadline, Duration::from_millis(2500));
        assert!(!c.uses_aws());
    }

    #[test]
    fn lambda_defaults_to_sns_and_needs_a_key() {
        assert_eq!(config(Host::Lambda, &[]).unwrap_err(), ConfigError::NoKey);
        let c = config(Host::Lambda, &[("GATEWAY_SECRET_ID", "mosaic/key")]).unwrap();
        assert_eq!(
            c.keys,
            KeyConfig::SecretsManager {
                secret_id: "mosaic/key".into(),
                ttl: Duration::from_secs(300),
                stale_max: Duration::from_secs(3600),
            }
        );
        assert_eq!(c.provider_names(), ["sns"]);
        assert!(c.uses_aws());
    }

    #[test]
    fn the_fingerprint_key_comes_from_a_secret_or_the_variable_not_both() {
        let c = config(Host::Local, &[("FINGERPRINT_SECRET_ID", "fp")]).unwrap();
        assert_eq!(c.fingerprint_secret_id.as_deref(), Some("fp"));
        assert!(c.uses_aws(), "the secret is read through the AWS SDK");
        let both = config(
            Host::Local,
            &[("FINGERPRINT_SECRET_ID", "fp"), ("FINGERPRINT_KEY", "k")],
        );
        assert!(
            both.unwrap_err().to_string().contains("set one"),
            "both set is refused"
        );
    }

    #[test]
    fn secret_id_wins_over_a_plain_key() {
        let c = config(
            Host::Local,
            &[
                ("GATEWAY_SECRET_ID", "s"),
                ("GATEWAY_API_KEY", "k"),
                ("SECRET_TTL_SECONDS", "60"),
                ("STALE_KEYS_MAX_SECONDS", "600"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.keys,
            KeyConfig::SecretsManager {
                secret_id: "s".into(),
                ttl: Duration::from_secs(60),
                stale_max: Duration::from_secs(600),
            }
        );
        assert_eq!(
            config(Host::Local, &[("GATEWAY_API_KEY", "k")])
                .unwrap()
                .keys,
            KeyConfig::Fixed(ApiKey::new("k").unwrap())
        );
    }

    #[test]
    fn providers_are_listed_in_order() {
        let c = config(
            Host::Lambda,
            &[("GATEWAY_API_KEY", "k"), ("SMS_PROVIDER", " SNS , outbox")],
        )
        .unwrap();
        assert_eq!(c.provider_names(), ["sns", "outbox"]);
        let c = config(Host::Local, &[("SEND_DEADLINE_MS", "900")]).unwrap();
        assert_eq!(c.send_deadline, Duration::from_millis(900));
    }

    #[test]
    fn every_numeric_setting_refuses_what_is_out_of_range_with_one_line() {
        let base = [
            ("GATEWAY_SECRET_ID", "s"),
            ("SMS_PROVIDER", "twilio,end-user-messaging"),
            ("TWILIO_FROM", "+15005550006"),
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "t"),
            ("EUM_ORIGINATION_IDENTITY", "phone-1"),
        ];
        assert!(config(Host::Lambda, &base).is_ok());
        let numeric = [
            "SECRET_TTL_SECONDS",
            "STALE_KEYS_MAX_SECONDS",
            "SEND_DEADLINE_MS",
            "MESSAGE_TTL_SECONDS",
            "DEDUPE_WINDOW_SECONDS",
            "MAX_SMS_PER_NUMBER_PER_HOUR",
        ];
        let bad = [
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "1e3",
            "2.5",
            "99999999999",
        ];
        for variable in numeric {
            for value in bad {
                let mut vars = base.to_vec();
                vars.push((variable, value));
                let line = config(Host::Lambda, &vars).unwrap_err().to_string();
                assert!(
                    line.starts_with(&format!("{variable} must be a whole number from ")),
                    "{variable}={value}: {line}"
                );
                assert!(!line.contains('\n'), "{line}");
            }
        }
    }

    #[test]
    fn providers_by_country_configures_every_provider_once() {
        let c = config(
            Host::Lambda,
            &[
                ("GATEWAY_SECRET_ID", "s"),
                ("SMS_PROVIDER", "sns"),
                ("EUM_ORIGINATION_IDENTITY", "phone-1"),
                ("TWILIO_FROM", "+15005550006"),
                (
                    "PROVIDERS_BY_COUNTRY",
                    r#"{"in": "Twilio, sns", "DE": "end-user-messaging", "US": "sns"}"#,
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.default_chain, ["sns"]);
        let names: Vec<_> = c.providers.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["sns", "end-user-messaging", "twilio"]);
        let chain = |code| c.chains_by_country[&Country::parse(code).unwrap()].clone();
        assert_eq!(chain("IN"), ["twilio", "sns"]);
        assert_eq!(chain("DE"), ["end-user-messaging"]);
        assert_eq!(chain("US"), ["sns"]);
        assert_eq!(c.provider_names(), ["sns"]);
    }

    #[test]
    fn a_provider_chain_that_cannot_work_is_refused_with_one_line() {
        let problem = |by_country: &str| {
            let vars = [
                ("GATEWAY_SECRET_ID", "s"),
                ("SMS_PROVIDER", "sns"),
                ("PROVIDERS_BY_COUNTRY", by_country),
            ];
            config(Host::Lambda, &vars).unwrap_err().to_string()
        };
        for (value, expected) in [
            ("[1]", "must be a JSON object"),
            ("{", "is not valid JSON"),
            (r#"{"XX": "sns"}"#, "not an ISO 3166"),
            (
                r#"{"DE": ["sns"]}"#,
                "DE must be a provider chain as a string",
            ),
            (
                r#"{"DE": " , "}"#,
                "DE: PROVIDERS_BY_COUNTRY has an empty provider chain",
            ),
            (r#"{"DE": "pigeon"}"#, "which is no provider"),
            (r#"{"DE": "sns,sns"}"#, "twice"),
            (r#"{"DE": "sns", "de": "twilio"}"#, "lists DE twice"),
            // serde_json's object would keep the last silently.
            (r#"{"DE": "sns", "DE": "sns"}"#, "lists DE twice"),
            // A provider named only here is configured all the same, and its settings checked;
            // the line names the setting that brought it in.
            (
                r#"{"DE": "twilio"}"#,
                "PROVIDERS_BY_COUNTRY names twilio (for DE), which needs a sender",
            ),
        ] {
            let line = problem(value);
            assert!(
                line.starts_with("PROVIDERS_BY_COUNTRY") || line.starts_with("SMS_PROVIDER"),
                "{value}: {line}"
            );
            assert!(line.contains(expected), "{value}: {line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn a_provider_line_names_the_setting_that_brought_the_provider_in() {
        let line = |vars: &[(&str, &str)]| {
            let mut all = vec![("GATEWAY_SECRET_ID", "s"), ("SMS_PROVIDER", "sns")];
            all.extend_from_slice(vars);
            config(Host::Lambda, &all).unwrap_err().to_string()
        };
        assert_eq!(
            line(&[(
                "PROVIDERS_BY_COUNTRY",
                r#"{"DE": "twilio", "at": "twilio,sns", "US": "sns"}"#
            )]),
            "PROVIDERS_BY_COUNTRY names twilio (for AT, DE), which needs a sender: set \
             TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM"
        );
        assert!(
            line(&[
                ("PROVIDERS_BY_COUNTRY", r#"{"FR": "end-user-messaging"}"#),
            ])
            .starts_with("PROVIDERS_BY_COUNTRY names end-user-messaging (for FR), which needs EUM_ORIGINATION_IDENTITY")
        );
        // A chain of SMS_PROVIDER names it too: that is where it comes from for most numbers.
        assert!(
            line(&[
                ("SMS_PROVIDER", "sns,twilio"),
                ("PROVIDERS_BY_COUNTRY", r#"{"DE": "twilio"}"#),
            ])
            .starts_with("SMS_PROVIDER includes twilio, which needs a sender")
        );
        assert!(
            line(&[
                ("PROVIDERS_BY_COUNTRY", r#"{"DE": "twilio"}"#),
                ("TWILIO_FROM", "+15005550006"),
                ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ])
            .starts_with(
                "PROVIDERS_BY_COUNTRY names twilio (for DE), but TWILIO_ACCOUNT_SID needs"
            )
        );
    }

    #[test]
    fn a_country_listed_twice_in_any_country_setting_stops_start_up() {
        for (variable, value) in [
            ("MAX_SMS_PER_COUNTRY_PER_HOUR", r#"{"LV": 1, "lv": 1000}"#),
            ("MAX_SMS_PER_COUNTRY_PER_HOUR", r#"{"LV": 1, "LV": 1000}"#),
            (
                "SENDER_BY_COUNTRY",
                r#"{"LV": "Acme", "lv": "+37120000000"}"#,
            ),
            (
                "SENDER_BY_COUNTRY",
                r#"{"LV": "Acme", "LV": "+37120000000"}"#,
            ),
            (
                "PROVIDERS_BY_COUNTRY",
                r#"{"LV": "outbox", "LV": "outbox"}"#,
            ),
        ] {
            // Locally, with only the outbox: no provider reads SENDER_BY_COUNTRY, and it is
            // checked all the same.
            let line = config(Host::Local, &[(variable, value)])
                .unwrap_err()
                .to_string();
            assert!(
                line.starts_with(&format!("{variable} lists LV twice")),
                "{value}: {line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
    }

    /// `Debug` of the whole configuration, built from every secret the environment can hold,
    /// shows none of them.
    #[test]
    fn the_configuration_debug_shows_no_secret() {
        let secrets = [
            ("GATEWAY_API_KEY", "gateway-key-secret-1"),
            ("FINGERPRINT_KEY", "fingerprint-key-secret-2"),
            ("TWILIO_AUTH_TOKEN", "twilio-auth-token-secret-3"),
            ("TWILIO_API_KEY_SECRET", "twilio-api-key-secret-4"),
            ("SFMC_CLIENT_SECRET", "sfmc-client-secret-5"),
        ];
        let others = [
            ("SMS_PROVIDER", "twilio,salesforce-marketing-cloud,outbox"),
            ("TWILIO_FROM", "+15005550006"),
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            // Twilio takes basic-auth credentials in a callback URL: its password is a secret too.
            (
                "TWILIO_STATUS_CALLBACK_URL",
                "https://twilio:callback-password-6@abc.execute-api.us-east-1.amazonaws.com/twilio/status",
            ),
            ("SFMC_SUBDOMAIN", "mc123"),
            ("SFMC_DEFINITION_KEY", "otp"),
            ("SFMC_CLIENT_ID", "sfmc-client-id"),
        ];
        // With an API key, Twilio sends with it and the auth token only checks callbacks;
        // without one, the auth token is the sends' password too.
        let api_key = [("TWILIO_API_KEY_SID", "SK0123456789abcdef0123456789abcdef")];
        for with_api_key in [true, false] {
            let mut vars: Vec<(&str, &str)> = secrets.iter().chain(&others).copied().collect();
            if with_api_key {
                vars.extend(api_key);
            } else {
                vars.retain(|(name, _)| *name != "TWILIO_API_KEY_SECRET");
            }
            let shown = format!("{:?}", config(Host::Local, &vars).unwrap());
            for (name, secret) in secrets {
                assert!(!shown.contains(secret), "{name} in {shown}");
            }
            assert!(!shown.contains("callback-password-6"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
            assert!(
                shown.contains("sfmc-client-id"),
                "identifiers stay: {shown}"
            );
        }
    }

    #[test]
    fn twilio_status_callbacks_need_twilio_in_a_chain() {
        let url = "https://abc.execute-api.us-east-1.amazonaws.com/twilio/status";
        let line = config(Host::Local, &[("TWILIO_STATUS_CALLBACK_URL", url)])
            .unwrap_err()
            .to_string();
        assert!(line.contains("no provider chain"), "{line}");
        let c = config(
            Host::Local,
            &[
                ("TWILIO_STATUS_CALLBACK_URL", url),
                ("PROVIDERS_BY_COUNTRY", r#"{"IN": "twilio"}"#),
                ("TWILIO_FROM", "+15005550006"),
                ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
                ("TWILIO_AUTH_TOKEN", "t"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.twilio_callbacks,
            Some(TwilioCallbacks {
                url: url.to_owned(),
                auth_token: Some("t".to_owned()),
                account_sid: Some("AC0123456789abcdef0123456789abcdef".to_owned()),
            })
        );
    }

    #[test]
    fn the_receipts_base_gives_each_named_provider_its_path_and_the_others_nothing() {
        let base = (
            "RECEIPTS_BASE_URL",
            "https://abc.execute-api.us-east-1.amazonaws.com",
        );
        let c = config(Host::Local, &[base]).unwrap();
        assert_eq!((c.twilio_callbacks, c.vonage_receipts), (None, None));
        let c = config(
            Host::Local,
            &[
                base,
                ("SMS_PROVIDER", "vonage,outbox"),
                ("PROVIDERS_BY_COUNTRY", r#"{"IN": "twilio"}"#),
                ("TWILIO_FROM", "+15005550006"),
                ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
                ("TWILIO_AUTH_TOKEN", "t"),
                ("VONAGE_FROM", "Acme"),
                ("VONAGE_API_KEY", "abcd1234"),
                ("VONAGE_API_SECRET", "s3cret-value"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.twilio_callbacks.map(|t| t.url).as_deref(),
            Some("https://abc.execute-api.us-east-1.amazonaws.com/twilio/status")
        );
        assert_eq!(
            c.vonage_receipts.map(|v| v.url).as_deref(),
            Some("https://abc.execute-api.us-east-1.amazonaws.com/vonage/status")
        );
    }

    #[test]
    fn unworkable_configuration_is_refused() {
        let err = |vars: &[(&str, &str)]| config(Host::Local, vars).unwrap_err();
        assert_eq!(
            err(&[("SMS_PROVIDER", "carrier-pigeon")]),
            ConfigError::UnknownProvider {
                name: "carrier-pigeon".into(),
                known:
                    "sns, twilio, end-user-messaging, salesforce-marketing-cloud, vonage, infobip, http, outbox"
                        .into()
            }
        );
        assert!(
            err(&[("SMS_PROVIDER", "carrier-pigeon")])
                .to_string()
                .contains(
                    "known: sns, twilio, end-user-messaging, salesforce-marketing-cloud, vonage, infobip, http, outbox"
                )
        );
        assert_eq!(
            err(&[("SMS_PROVIDER", "sns,sns")]),
            ConfigError::DuplicateProvider("sns".into())
        );
        assert_eq!(err(&[("SMS_PROVIDER", " , ")]), ConfigError::NoProvider);
        assert_eq!(err(&[("GATEWAY_API_KEY", "")]), ConfigError::EmptyKey);
        assert_eq!(
            err(&[("GATEWAY_SECRET_ID", " ")]),
            ConfigError::EmptySecretId
        );
        assert_eq!(
            err(&[("GATEWAY_SECRET_ID", "s"), ("SECRET_TTL_SECONDS", "5m")]).to_string(),
            "SECRET_TTL_SECONDS must be a whole number from 0 to 86400, got \"5m\""
        );
        for bad in ["0", "99", "2.5s", "60001"] {
            assert!(matches!(
                err(&[("SEND_DEADLINE_MS", bad)]),
                ConfigError::Invalid {
                    variable: "SEND_DEADLINE_MS",
                    ..
                }
            ));
        }
    }
}
