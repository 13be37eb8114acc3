//! What the providers' delivery receipts share: where a provider is told to send them, and what
//! checking one says of it. A receipt comes the other way, from anyone on the internet who knows
//! the URL, and never sends; `entry::receipts` answers the routes and counts what it is told.
//!
//! A provider's receipts come to its own path (`/twilio/status`, `/vonage/status`, ...), at the URL
//! its `<PROVIDER>_STATUS_CALLBACK_URL` gives, or else under `RECEIPTS_BASE_URL`, the gateway's
//! public address (the template sets that one only: Lambda's 4 KB of environment has no room for
//! a URL per provider).

use crate::settings::{ConfigError, Env};

/// What a receipt's check says of it. Anyone on the internet can post to the URL; only a
/// [`Verdict::Mismatch`] points at our set-up, so only that one is alarmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Signed (or carrying the gateway's token) as the provider does it.
    Signed,
    /// Of the provider's shape and for our account (when one is known), and no secret the
    /// gateway knows gives its signature: the secret it checks with is not the one the provider
    /// signs with (rotated, mistyped, another account's), or someone who knows the account forged
    /// it.
    Mismatch,
    /// No signature (`missing`), one of another shape (`malformed`), another account's receipt
    /// (`other_account`), or too big to be one (`oversized`): noise, nothing about our set-up.
    Anonymous(&'static str),
}

/// `RECEIPTS_BASE_URL`: the gateway's public base URL, under which each provider in a chain that
/// posts receipts is asked to post them to its own path.
pub const BASE_URL: &str = "RECEIPTS_BASE_URL";

/// Whether `url` is one the gateway can be told receipts at: https (http only on loopback, for
/// stand-ins), without a query, with `path` exactly (the router answers receipts there only).
fn usable(url: &str, path: &str) -> bool {
    super::rest::usable_url(url)
        && http::Uri::try_from(url).is_ok_and(|uri| uri.path() == path && uri.query().is_none())
}

/// Where a provider's receipts come: `setting` (`TWILIO_STATUS_CALLBACK_URL`, ...) when set, else
/// `path` under [`BASE_URL`] when the provider is `named` in a chain; `None` when neither is set.
/// A URL that cannot work, or `setting` set for a provider no chain names, stops start-up.
pub fn callback_url(
    env: &Env,
    setting: &'static str,
    path: &'static str,
    provider: &str,
    named: bool,
) -> Result<Option<String>, ConfigError> {
    if let Some(url) = env.optional(setting) {
        if !named {
            return Err(ConfigError::invalid(
                setting,
                format!(
                    "is set, but no provider chain (SMS_PROVIDER, PROVIDERS_BY_COUNTRY) includes {provider}"
                ),
            ));
        }
        if !usable(&url, path) {
            return Err(ConfigError::invalid(
                setting,
                format!(
                    "must be an https URL (http only on loopback) whose path is {path}, got {url:?}"
                ),
            ));
        }
        return Ok(Some(url));
    }
    let Some(base) = env.optional(BASE_URL) else {
        return Ok(None);
    };
    let base = base.trim_end_matches('/');
    let url = format!("{base}{path}");
    if !stage_of(base).is_some_and(|stage| usable(&url, &format!("{stage}{path}"))) {
        return Err(ConfigError::invalid(
            BASE_URL,
            format!(
                "must be an https URL (http only on loopback) without a query, and without a path \
                 but a REST API's stage, as https://abc123.execute-api.eu-west-1.amazonaws.com or \
                 https://abc123.execute-api.eu-west-1.amazonaws.com/v1, got {base:?}"
            ),
        ));
    }
    Ok(named.then_some(url))
}

/// The path of a base URL: none, or one segment, a REST API's stage (`/v1`), which the Lambda
/// host takes off the path before the Router sees it (`entry::lambda`); `None` for another path.
fn stage_of(base: &str) -> Option<String> {
    let uri = http::Uri::try_from(base).ok()?;
    match uri.path() {
        "" | "/" => Some(String::new()),
        path if !path[1..].contains('/') => Some(path.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(vars: &[(&str, &str)], named: bool) -> Result<Option<String>, ConfigError> {
        crate::settings::in_lambda_env(vars, |env| {
            callback_url(
                env,
                "VONAGE_STATUS_CALLBACK_URL",
                "/vonage/status",
                "vonage",
                named,
            )
        })
    }

    #[test]
    fn a_providers_own_url_wins_and_the_base_gives_the_others_their_path() {
        let base = (
            "RECEIPTS_BASE_URL",
            "https://abc.execute-api.eu-west-1.amazonaws.com/",
        );
        assert_eq!(
            url(&[base], true).unwrap().as_deref(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com/vonage/status")
        );
        // A provider no chain names asks for nothing, and the base is no error for it.
        assert_eq!(url(&[base], false).unwrap(), None);
        let own = (
            "VONAGE_STATUS_CALLBACK_URL",
            "https://receipts.example.com/vonage/status",
        );
        assert_eq!(
            url(&[base, own], true).unwrap().as_deref(),
            Some("https://receipts.example.com/vonage/status")
        );
        assert_eq!(url(&[], true).unwrap(), None);
    }

    #[test]
    fn a_base_may_carry_a_rest_apis_stage() {
        let base = (
            "RECEIPTS_BASE_URL",
            "https://abc.execute-api.eu-west-1.amazonaws.com/v1",
        );
        assert_eq!(
            url(&[base], true).unwrap().as_deref(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com/v1/vonage/status")
        );
    }

    #[test]
    fn a_url_that_cannot_work_stops_start_up_naming_its_setting() {
        for (vars, named, start) in [
            (
                &[(
                    "VONAGE_STATUS_CALLBACK_URL",
                    "https://x.example.com/vonage/status",
                )][..],
                false,
                "VONAGE_STATUS_CALLBACK_URL is set, but no provider chain",
            ),
            (
                &[(
                    "VONAGE_STATUS_CALLBACK_URL",
                    "http://x.example.com/vonage/status",
                )],
                true,
                "VONAGE_STATUS_CALLBACK_URL must be an https URL",
            ),
            (
                &[("VONAGE_STATUS_CALLBACK_URL", "https://x.example.com/status")],
                true,
                "VONAGE_STATUS_CALLBACK_URL must be an https URL",
            ),
            (
                &[("RECEIPTS_BASE_URL", "https://x.example.com/prod/v1")],
                true,
                "RECEIPTS_BASE_URL must be an https URL",
            ),
            (
                &[("RECEIPTS_BASE_URL", "https://x.example.com:99999")],
                true,
                "RECEIPTS_BASE_URL must be an https URL",
            ),
            (
                &[("RECEIPTS_BASE_URL", "https://x.example.com/?a=1")],
                false,
                "RECEIPTS_BASE_URL must be an https URL",
            ),
        ] {
            let line = url(vars, named).unwrap_err().to_string();
            assert!(line.starts_with(start), "{line}");
        }
    }
}
