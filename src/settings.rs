//! Settings: the environment as configuration reads it, and the one error a setting that cannot
//! work gives. A leaf: every layer may read its settings through [`Env`]; nothing here knows what
//! the settings are for. The configuration as a whole is assembled by the wiring (`app::config`).

use std::time::Duration;

/// Where the program runs; it decides the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// AWS Lambda (`AWS_LAMBDA_RUNTIME_API` is set): provider `sns`, a key must be configured.
    Lambda,
    /// `serve`: provider `outbox`, and a generated development key when none is configured.
    Local,
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
    #[error("SMS_PROVIDER: unknown provider {name:?} (known: {known})")]
    UnknownProvider { name: String, known: String },
    #[error("SMS_PROVIDER lists {0:?} twice")]
    DuplicateProvider(String),
    #[error("SMS_PROVIDER is empty")]
    NoProvider,
    /// A provider lacks a setting it needs, or has one that cannot work: `problem` says what
    /// (`which needs ...`, `but ...`), and the line names the setting that brought the provider
    /// in: `SMS_PROVIDER`, or `PROVIDERS_BY_COUNTRY` for `countries` when only it names the provider.
    #[error("{}", provider_line(provider, countries, problem))]
    Provider {
        provider: &'static str,
        countries: Vec<String>,
        problem: String,
    },
    /// A variable holds a value that cannot work: `<variable> <what is wrong>`.
    #[error("{variable} {problem}")]
    Invalid {
        variable: &'static str,
        problem: String,
    },
}

impl ConfigError {
    pub fn invalid(variable: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            variable,
            problem: problem.into(),
        }
    }

    /// `provider`, named in `SMS_PROVIDER`, cannot work: `problem` begins `which needs` or `but`.
    pub fn provider(provider: &'static str, problem: impl Into<String>) -> Self {
        Self::Provider {
            provider,
            countries: Vec::new(),
            problem: problem.into(),
        }
    }

    /// The same problem, for a provider only `PROVIDERS_BY_COUNTRY` names (for `countries`).
    pub fn named_for(self, countries: Vec<String>) -> Self {
        match self {
            Self::Provider {
                provider, problem, ..
            } => Self::Provider {
                provider,
                countries,
                problem,
            },
            other => other,
        }
    }
}

fn provider_line(provider: &str, countries: &[String], problem: &str) -> String {
    if countries.is_empty() {
        format!("SMS_PROVIDER includes {provider}, {problem}")
    } else {
        format!(
            "PROVIDERS_BY_COUNTRY names {provider} (for {}), {problem}",
            countries.join(", ")
        )
    }
}

pub const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(300);
/// Mosaic waits 3 s; the answer must be on its way back before then.
pub const DEFAULT_SEND_DEADLINE: Duration = Duration::from_millis(2500);
/// A passcode older than this is useless (providers that can expire a message use it).
pub const DEFAULT_MESSAGE_TTL: Duration = Duration::from_secs(300);

/// The environment as configuration sees it: a lookup (the process environment, or a map in
/// tests) and the host it runs on. Unset and empty optional variables mean the same
/// (CloudFormation parameters often pass an empty string).
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub host: Host,
}

impl<'a> Env<'a> {
    pub fn new(host: Host, lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup, host }
    }

    /// The trimmed value, empty or not.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_owned())
    }

    /// The trimmed value when it is set and not empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// `true`/`false` (any case), `default` when unset.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ConfigError::invalid(
                name,
                format!("must be true or false, got {v:?}"),
            )),
        }
    }

    /// A whole number in `range`, `default` when unset.
    pub fn number(
        &self,
        name: &'static str,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
    ) -> Result<u64, ConfigError> {
        let Some(raw) = self.optional(name) else {
            return Ok(default);
        };
        raw.parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ConfigError::invalid(
                    name,
                    format!(
                        "must be a whole number from {} to {}, got {raw:?}",
                        range.start(),
                        range.end()
                    ),
                )
            })
    }

    /// `MESSAGE_TTL_SECONDS`: how long a provider may keep trying to deliver a passcode.
    pub fn message_ttl(&self) -> Result<Duration, ConfigError> {
        // 36,000 s (10 h) is the longest validity Twilio accepts.
        self.number(
            "MESSAGE_TTL_SECONDS",
            1..=36_000,
            DEFAULT_MESSAGE_TTL.as_secs(),
        )
        .map(Duration::from_secs)
    }

    /// Whether the API key (and so provider credentials) comes from a Secrets Manager secret.
    pub fn has_secret(&self) -> bool {
        self.optional("GATEWAY_SECRET_ID").is_some()
    }
}

/// For unit tests: `read` over a Lambda environment of just `vars`.
#[cfg(test)]
pub(crate) fn in_lambda_env<T>(vars: &[(&str, &str)], read: impl FnOnce(&Env) -> T) -> T {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    };
    read(&Env::new(Host::Lambda, &lookup))
}
