//! Twilio's credentials: the Account SID and what authenticates (the account's auth token, or an
//! API key), from the gateway secret or, for local use, the environment; and the one lookup that
//! picks between them for each send.

use crate::adapters::providers::rest;
use crate::adapters::secrets::SecretValue;
use crate::settings::Env;
use std::fmt;

/// Whether `value` is a Twilio SID of the given kind: two letters and 32 hex digits.
pub(super) fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Twilio credentials: the Account SID (it is in every URL), and what authenticates, either the
/// account's auth token or an API key (SID and secret). `Debug` shows only the Account SID.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub account_sid: String,
    username: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The names credentials go by in one place (the environment, or the secret's JSON).
struct CredentialNames {
    account_sid: &'static str,
    auth_token: &'static str,
    api_key_sid: &'static str,
    api_key_secret: &'static str,
}

const ENV_NAMES: CredentialNames = CredentialNames {
    account_sid: "TWILIO_ACCOUNT_SID",
    auth_token: "TWILIO_AUTH_TOKEN",
    api_key_sid: "TWILIO_API_KEY_SID",
    api_key_secret: "TWILIO_API_KEY_SECRET",
};

const SECRET_NAMES: CredentialNames = CredentialNames {
    account_sid: "twilio_account_sid",
    auth_token: "twilio_auth_token",
    api_key_sid: "twilio_api_key_sid",
    api_key_secret: "twilio_api_key_secret",
};

impl Credentials {
    /// Reads credentials under `names`: `Ok(None)` when none are there at all, an error naming
    /// what is missing or malformed (never quoting a secret) when they are incomplete.
    fn read(
        names: &CredentialNames,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        let account_sid = get(names.account_sid);
        let auth_token = get(names.auth_token);
        let key_sid = get(names.api_key_sid);
        let key_secret = get(names.api_key_secret);
        if account_sid.is_none()
            && auth_token.is_none()
            && key_sid.is_none()
            && key_secret.is_none()
        {
            return Ok(None);
        }
        let Some(account_sid) = account_sid else {
            return Err(format!("{} is missing", names.account_sid));
        };
        if !is_sid(&account_sid, "AC") {
            return Err(format!(
                "{} must be AC followed by 32 hex digits",
                names.account_sid
            ));
        }
        let (username, password) = match (key_sid, key_secret, auth_token) {
            (Some(sid), Some(secret), _) => {
                if !is_sid(&sid, "SK") {
                    return Err(format!(
                        "{} must be SK followed by 32 hex digits",
                        names.api_key_sid
                    ));
                }
                (sid, secret)
            }
            (Some(_), None, _) => return Err(format!("{} is missing", names.api_key_secret)),
            (None, Some(_), _) => return Err(format!("{} is missing", names.api_key_sid)),
            (None, None, Some(token)) => (account_sid.clone(), token),
            (None, None, None) => {
                return Err(format!(
                    "{} needs {} (or {} and {})",
                    names.account_sid, names.auth_token, names.api_key_sid, names.api_key_secret
                ));
            }
        };
        Ok(Some(Self {
            account_sid,
            username,
            password,
        }))
    }

    /// `TWILIO_ACCOUNT_SID` with `TWILIO_AUTH_TOKEN` (or `TWILIO_API_KEY_SID` and
    /// `TWILIO_API_KEY_SECRET`), for local use: the gateway secret's win.
    pub(super) fn in_env(env: &Env) -> Result<Option<Self>, String> {
        Self::read(&ENV_NAMES, |name| env.optional(name))
    }

    pub(super) fn basic_auth(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!("Basic {}", aws_smithy_types::base64::encode(pair))
    }
}

/// Whether one read of the gateway secret holds Twilio credentials a send can use: `Err` names
/// what is missing or malformed, never a value (the `secret` command's check).
pub fn secret_check(read: &SecretValue) -> Result<(), String> {
    match Credentials::read(&SECRET_NAMES, |name| read.field(name).map(str::to_owned))? {
        Some(_) => Ok(()),
        None => Err("twilio_account_sid and twilio_auth_token (or twilio_api_key_sid and twilio_api_key_secret) are missing".into()),
    }
}

/// Where a send's Twilio credentials come from: the gateway secret's, else the environment's.
pub(super) type Lookup = rest::Lookup<Credentials>;

/// A lookup with `env` (the environment's credentials) behind the secret's.
pub(super) fn lookup_with(env: Option<Credentials>) -> Lookup {
    Lookup::new(env, |read| {
        Credentials::read(&SECRET_NAMES, |name| read.field(name).map(str::to_owned))
            .map_err(|problem| format!("the gateway secret's Twilio credentials: {problem}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::secrets::parse_secret;
    use std::sync::Arc;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    fn read(json: &str) -> Arc<SecretValue> {
        Arc::new(parse_secret(json).unwrap())
    }

    fn env() -> Credentials {
        let get = |name: &str| match name {
            "TWILIO_ACCOUNT_SID" => Some(ACCOUNT.to_owned()),
            "TWILIO_AUTH_TOKEN" => Some("env-token".to_owned()),
            _ => None,
        };
        Credentials::read(&ENV_NAMES, get).unwrap().unwrap()
    }

    #[test]
    fn the_secrets_credentials_win_over_the_environments_and_only_they_are_from_the_secret() {
        let lookup = lookup_with(Some(env()));
        let with = read(&format!(
            r#"{{"api_key": "k", "twilio_account_sid": "{ACCOUNT}", "twilio_auth_token": "secret-token"}}"#
        ));
        let found = lookup.find(Some(&with)).unwrap().unwrap();
        assert!(found.from_secret);
        assert_ne!(found.credentials, env());

        let without = read(r#"{"api_key": "k"}"#);
        for secret in [Some(&without), None] {
            let found = lookup.find(secret).unwrap().unwrap();
            assert!(!found.from_secret);
            assert_eq!(found.credentials, env());
        }
        assert!(lookup_with(None).find(Some(&without)).unwrap().is_none());
    }

    #[test]
    fn credentials_in_the_secret_that_cannot_work_are_not_replaced_by_the_environments() {
        let lookup = lookup_with(Some(env()));
        let broken = read(r#"{"api_key": "k", "twilio_auth_token": "secret-token"}"#);
        let problem = lookup.find(Some(&broken)).err().unwrap();
        assert!(
            problem.contains("twilio_account_sid is missing") && !problem.contains("secret-token"),
            "{problem}"
        );
    }

    #[test]
    fn the_last_read_is_kept_and_a_new_read_is_parsed_anew() {
        let lookup = lookup_with(None);
        let first = read(&format!(
            r#"{{"api_key": "k", "twilio_account_sid": "{ACCOUNT}", "twilio_auth_token": "one"}}"#
        ));
        let found = lookup.find(Some(&first)).unwrap().unwrap();
        // The same read is answered from the cache, ...
        assert!(Arc::ptr_eq(
            &lookup.last_read.lock().unwrap().as_ref().unwrap().0,
            &first
        ));
        assert_eq!(
            lookup.find(Some(&first)).unwrap().unwrap().credentials,
            found.credentials
        );
        // ... a rotation is a new read, with equal or other values, and is parsed again.
        let second = read(&format!(
            r#"{{"api_key": "k", "twilio_account_sid": "{ACCOUNT}", "twilio_auth_token": "two"}}"#
        ));
        let rotated = lookup.find(Some(&second)).unwrap().unwrap();
        assert_ne!(rotated.credentials, found.credentials);
    }
}
