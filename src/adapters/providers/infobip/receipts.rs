//! Infobip's delivery reports, inbound: with a receipts URL, each send carries
//! `webhooks.delivery.url` and Infobip posts what became of the message there (JSON, `results[]`).
//! Infobip does not sign its webhooks, so the URL the gateway gives carries a token of its own, an
//! HMAC of the fingerprint key: a report that comes back with it came from whoever was given the
//! URL, Infobip. [`Receipts`] checks the token (in constant time); it never sends, and anyone on
//! the internet can reach it. Without a fingerprint key there is no token to give, so sends ask
//! for no report.

use crate::adapters::providers::receipts::{self, Verdict};
use crate::adapters::secrets::ApiKeys;
use crate::domain::keys::FingerprintKey;
use crate::settings::{ConfigError, Env};
use std::fmt;
use std::sync::{Arc, OnceLock};
use subtle::ConstantTimeEq;

/// The path Infobip's reports come to.
pub const STATUS_PATH: &str = "/infobip/status";

/// The query parameter that carries the token.
pub const TOKEN_PARAMETER: &str = "token";

/// Where Infobip's reports come, from the environment ([`receipts::callback_url`]:
/// `INFOBIP_STATUS_CALLBACK_URL`, else the path under `RECEIPTS_BASE_URL`).
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiptSettings {
    pub url: String,
}

impl fmt::Debug for ReceiptSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptSettings")
            .field("url", &crate::domain::redact::url_credentials(&self.url))
            .finish()
    }
}

impl ReceiptSettings {
    /// `None` when receipts are off; `named`: whether a provider chain includes infobip.
    pub fn from_env(env: &Env, named: bool) -> Result<Option<Self>, ConfigError> {
        let url = receipts::callback_url(
            env,
            "INFOBIP_STATUS_CALLBACK_URL",
            STATUS_PATH,
            "infobip",
            named,
        )?;
        Ok(url.map(|url| Self { url }))
    }
}

/// The gateway's token for Infobip's reports, and its check.
#[derive(Clone)]
pub struct Receipts {
    settings: ReceiptSettings,
    /// The gateway secret, whose `fingerprint_key` wins (as it does for the store's names).
    secret: Arc<ApiKeys>,
    /// `FINGERPRINT_KEY`, or the key `FINGERPRINT_SECRET_ID` holds once start-up has read it.
    fingerprint: Arc<OnceLock<FingerprintKey>>,
}

impl fmt::Debug for Receipts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receipts")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Receipts {
    pub fn new(
        settings: ReceiptSettings,
        secret: Arc<ApiKeys>,
        fingerprint: Arc<OnceLock<FingerprintKey>>,
    ) -> Self {
        Self {
            settings,
            secret,
            fingerprint,
        }
    }

    /// The token, or `None` without a fingerprint key. Not the API key's: a rotation of the API
    /// key would turn away the reports of every message sent before it.
    fn token(&self) -> Option<String> {
        let from_secret = self.secret.latest().and_then(|secret| {
            secret
                .field("fingerprint_key")
                .map(|key| key.as_bytes().to_vec())
        });
        let key = from_secret.or_else(|| self.fingerprint.get().map(|k| k.as_bytes().to_vec()))?;
        // Its own purpose, and the provider's name: no other name or token of the gateway's is
        // this one.
        Some(crate::domain::ports::Fingerprint::of(&key, "receipts", &["infobip"]).hex())
    }

    /// The URL to send as `webhooks.delivery.url`, with the token; `None` without one.
    pub fn notify_url(&self) -> Option<String> {
        let token = self.token()?;
        Some(format!("{}?{TOKEN_PARAMETER}={token}", self.settings.url))
    }

    /// What the token in a report's query says of it.
    pub fn verify(&self, query: Option<&str>) -> Verdict {
        let presented = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .find(|(name, _)| name == TOKEN_PARAMETER)
            .map(|(_, value)| value.into_owned());
        let Some(presented) = presented else {
            return Verdict::Anonymous("missing");
        };
        // The token is 64 hex digits: anything else is noise, not a token of ours gone stale.
        if presented.len() != 64 || !presented.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Verdict::Anonymous("malformed");
        }
        // A token of the right shape that is not ours: the fingerprint key changed since the
        // message was sent, or it is missing now. Our set-up either way.
        let Some(expected) = self.token() else {
            return Verdict::Mismatch;
        };
        let presented = presented.to_ascii_lowercase();
        match bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
            true => Verdict::Signed,
            false => Verdict::Mismatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::keys::{ApiKey, KeySet};

    fn receipts(fingerprint: Option<&str>) -> Receipts {
        let keys = ApiKeys::Fixed(KeySet::single(ApiKey::new("k").unwrap()));
        let lock = fingerprint
            .and_then(FingerprintKey::new)
            .map_or_else(OnceLock::new, OnceLock::from);
        Receipts::new(
            ReceiptSettings {
                url: "https://abc.execute-api.eu-west-1.amazonaws.com/infobip/status".into(),
            },
            Arc::new(keys),
            Arc::new(lock),
        )
    }

    fn token_of(url: &str) -> String {
        url.split_once("?token=").unwrap().1.to_owned()
    }

    #[test]
    fn the_url_carries_the_gateways_token_and_only_it_passes() {
        let r = receipts(Some("fingerprint-key-1"));
        let url = r.notify_url().unwrap();
        assert!(
            url.starts_with(
                "https://abc.execute-api.eu-west-1.amazonaws.com/infobip/status?token="
            ),
            "{url}"
        );
        let token = token_of(&url);
        assert_eq!(token.len(), 64);
        assert!(!url.contains("fingerprint-key-1"));
        assert_eq!(r.verify(Some(&format!("token={token}"))), Verdict::Signed);
        assert_eq!(
            r.verify(Some(&format!("a=1&token={}", token.to_uppercase()))),
            Verdict::Signed
        );
        // Another key's token: ours, gone stale or forged.
        let other = token_of(&receipts(Some("fingerprint-key-2")).notify_url().unwrap());
        assert_ne!(other, token);
        assert_eq!(r.verify(Some(&format!("token={other}"))), Verdict::Mismatch);
        assert_eq!(r.verify(None), Verdict::Anonymous("missing"));
        assert_eq!(r.verify(Some("tok=1")), Verdict::Anonymous("missing"));
        assert_eq!(r.verify(Some("token=abc")), Verdict::Anonymous("malformed"));
        let not_hex = "g".repeat(64);
        assert_eq!(
            r.verify(Some(&format!("token={not_hex}"))),
            Verdict::Anonymous("malformed")
        );
    }

    #[test]
    fn without_a_fingerprint_key_no_report_is_asked_for_nor_taken() {
        let r = receipts(None);
        assert_eq!(r.notify_url(), None);
        let token = "a".repeat(64);
        assert_eq!(r.verify(Some(&format!("token={token}"))), Verdict::Mismatch);
    }
}
