//! Configuration, read from the environment in one place and checked at start-up: a configuration
//! that cannot work stops the program with one clear line instead of failing the first request.

use crate::auth::ApiKey;
use crate::providers::sns::{SmsType, SnsSettings};
use crate::sms::{PhoneNumber, SenderId};
use std::path::PathBuf;
use std::time::Duration;

/// Where the program runs; it decides the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// AWS Lambda (`AWS_LAMBDA_RUNTIME_API` is set): provider `sns`, a key must be configured.
    Lambda,
    /// `serve`: provider `outbox`, and a generated development key when none is configured.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyConfig {
    SecretsManager {
        secret_id: String,
        ttl: Duration,
    },
    Fixed(ApiKey),
    /// Generated at start-up for local use; printed once so the user can call the gateway.
    Generated(ApiKey),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderConfig {
    Sns(SnsSettings),
    Outbox { path: PathBuf },
}

impl ProviderConfig {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sns(_) => "sns",
            Self::Outbox { .. } => "outbox",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub keys: KeyConfig,
    /// Tried in this order; never empty.
    pub providers: Vec<ProviderConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no API key is configured: set GATEWAY_SECRET_ID (a Secrets Manager secret) or GATEWAY_API_KEY"
    )]
    NoKey,
    #[error("GATEWAY_API_KEY is empty")]
    EmptyKey,
    #[error("GATEWAY_SECRET_ID is empty")]
    EmptySecretId,
    #[error("SECRET_TTL_SECONDS must be a whole number of seconds, got {0:?}")]
    BadTtl(String),
    #[error("SMS_PROVIDER: unknown provider {0:?} (known: sns, outbox)")]
    UnknownProvider(String),
    #[error(
        "SMS_PROVIDER: the twilio provider is not part of this version yet (known: sns, outbox)"
    )]
    TwilioNotYetSupported,
    #[error("SMS_PROVIDER lists {0:?} twice")]
    DuplicateProvider(String),
    #[error("SMS_PROVIDER is empty")]
    NoProvider,
    #[error("SNS_SMS_TYPE must be Transactional or Promotional, got {0:?}")]
    BadSmsType(String),
    #[error("SNS_SENDER_ID must be 3 to 11 letters and digits with at least one letter, got {0:?}")]
    BadSenderId(String),
    #[error("SNS_ORIGINATION_NUMBER must be an E.164 phone number (+ and 8 to 15 digits)")]
    BadOriginationNumber,
}

const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(300);

impl Config {
    /// Reads the process environment.
    pub fn from_env(host: Host) -> Result<Self, ConfigError> {
        Self::from_lookup(host, |name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests). Unset and empty
    /// optional variables mean the same (CloudFormation parameters often pass an empty string); an
    /// empty `GATEWAY_SECRET_ID` or `GATEWAY_API_KEY` is refused instead, as it is surely a mistake.
    pub fn from_lookup(
        host: Host,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned());
        let optional = |name: &str| get(name).filter(|v| !v.is_empty());

        let keys = if let Some(secret_id) = get("GATEWAY_SECRET_ID") {
            if secret_id.is_empty() {
                return Err(ConfigError::EmptySecretId);
            }
            let ttl = match optional("SECRET_TTL_SECONDS") {
                None => DEFAULT_SECRET_TTL,
                Some(raw) => {
                    Duration::from_secs(raw.parse().map_err(|_| ConfigError::BadTtl(raw))?)
                }
            };
            KeyConfig::SecretsManager { secret_id, ttl }
        } else if let Some(key) = get("GATEWAY_API_KEY") {
            KeyConfig::Fixed(ApiKey::new(key).ok_or(ConfigError::EmptyKey)?)
        } else if host == Host::Local {
            KeyConfig::Generated(ApiKey::generate())
        } else {
            return Err(ConfigError::NoKey);
        };

        let default_provider = match host {
            Host::Lambda => "sns",
            Host::Local => "outbox",
        };
        let list = optional("SMS_PROVIDER").unwrap_or_else(|| default_provider.to_owned());
        let mut providers: Vec<ProviderConfig> = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let provider = match name.to_ascii_lowercase().as_str() {
                "sns" => ProviderConfig::Sns(sns_settings(&optional)?),
                "outbox" => ProviderConfig::Outbox {
                    path: optional("OUTBOX_PATH")
                        .unwrap_or_else(|| "outbox.jsonl".into())
                        .into(),
                },
                "twilio" => return Err(ConfigError::TwilioNotYetSupported),
                _ => return Err(ConfigError::UnknownProvider(name.to_owned())),
            };
            if providers.iter().any(|p| p.name() == provider.name()) {
                return Err(ConfigError::DuplicateProvider(name.to_owned()));
            }
            providers.push(provider);
        }
        if providers.is_empty() {
            return Err(ConfigError::NoProvider);
        }
        Ok(Self { keys, providers })
    }

    /// Whether any part needs AWS credentials and a region.
    pub fn uses_aws(&self) -> bool {
        matches!(self.keys, KeyConfig::SecretsManager { .. })
            || self
                .providers
                .iter()
                .any(|p| matches!(p, ProviderConfig::Sns(_)))
    }
}

fn sns_settings(optional: &impl Fn(&str) -> Option<String>) -> Result<SnsSettings, ConfigError> {
    let sms_type = match optional("SNS_SMS_TYPE") {
        None => SmsType::Transactional,
        Some(raw) => SmsType::parse(&raw).ok_or(ConfigError::BadSmsType(raw))?,
    };
    let default_sender_id = match optional("SNS_SENDER_ID") {
        None => None,
        Some(raw) => Some(SenderId::parse(&raw).ok_or(ConfigError::BadSenderId(raw))?),
    };
    let origination_number = match optional("SNS_ORIGINATION_NUMBER") {
        None => None,
        Some(raw) => Some(
            PhoneNumber::parse(&raw)
                .map_err(|_| ConfigError::BadOriginationNumber)?
                .as_str()
                .to_owned(),
        ),
    };
    Ok(SnsSettings {
        sms_type,
        default_sender_id,
        origination_number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(host: Host, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
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
        assert_eq!(
            c.providers,
            vec![ProviderConfig::Outbox {
                path: "outbox.jsonl".into()
            }]
        );
        assert!(!c.uses_aws());
    }

    #[test]
    fn lambda_defaults_to_sns_and_needs_a_key() {
        assert_eq!(config(Host::Lambda, &[]), Err(ConfigError::NoKey));
        let c = config(Host::Lambda, &[("GATEWAY_SECRET_ID", "mosaic/key")]).unwrap();
        assert_eq!(
            c.keys,
            KeyConfig::SecretsManager {
                secret_id: "mosaic/key".into(),
                ttl: Duration::from_secs(300)
            }
        );
        assert_eq!(
            c.providers,
            vec![ProviderConfig::Sns(SnsSettings::default())]
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
            ],
        )
        .unwrap();
        assert_eq!(
            c.keys,
            KeyConfig::SecretsManager {
                secret_id: "s".into(),
                ttl: Duration::from_secs(60)
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
    fn sns_settings_are_read_and_checked() {
        let c = config(
            Host::Lambda,
            &[
                ("GATEWAY_API_KEY", "k"),
                ("SMS_PROVIDER", "sns, outbox"),
                ("SNS_SENDER_ID", "Acme"),
                ("SNS_ORIGINATION_NUMBER", "+18005550100"),
                ("SNS_SMS_TYPE", "Promotional"),
                ("OUTBOX_PATH", "/tmp/o.jsonl"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.providers,
            vec![
                ProviderConfig::Sns(SnsSettings {
                    sms_type: SmsType::Promotional,
                    default_sender_id: SenderId::parse("Acme"),
                    origination_number: Some("+18005550100".into())
                }),
                ProviderConfig::Outbox {
                    path: "/tmp/o.jsonl".into()
                }
            ]
        );
    }

    #[test]
    fn unworkable_configuration_is_refused() {
        let err = |vars: &[(&str, &str)]| config(Host::Local, vars).unwrap_err();
        assert_eq!(
            err(&[("SMS_PROVIDER", "carrier-pigeon")]),
            ConfigError::UnknownProvider("carrier-pigeon".into())
        );
        assert_eq!(
            err(&[("SMS_PROVIDER", "twilio")]),
            ConfigError::TwilioNotYetSupported
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
            err(&[("GATEWAY_SECRET_ID", "s"), ("SECRET_TTL_SECONDS", "5m")]),
            ConfigError::BadTtl("5m".into())
        );
        assert_eq!(
            err(&[("SMS_PROVIDER", "sns"), ("SNS_SMS_TYPE", "transactional")]),
            ConfigError::BadSmsType("transactional".into())
        );
        assert_eq!(
            err(&[("SMS_PROVIDER", "sns"), ("SNS_SENDER_ID", "My Bank")]),
            ConfigError::BadSenderId("My Bank".into())
        );
        assert_eq!(
            err(&[
                ("SMS_PROVIDER", "sns"),
                ("SNS_ORIGINATION_NUMBER", "555-0100")
            ]),
            ConfigError::BadOriginationNumber
        );
    }
}
