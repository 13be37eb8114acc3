//! Vonage's delivery receipts, inbound: with a status callback URL, each send carries `callback`
//! and Vonage reports what became of the message there (`GET` or `POST`, as the account's
//! dashboard chooses). With signed webhooks on, Vonage signs each receipt (`sig`) with the
//! account's signature secret, by the method chosen in the dashboard
//! (https://developer.vonage.com/en/getting-started/concepts/signing-messages). [`Receipts`] says
//! whether a receipt is Vonage's own; it never sends, and anyone on the internet can reach it.
//! Without a signature secret there is nothing to check a receipt with, so sends ask for none.

use crate::adapters::providers::receipts::{self, Verdict};
use crate::adapters::secrets::{ApiKeys, SecretValue};
use crate::settings::{ConfigError, Env};
use std::fmt;
use std::sync::Arc;

/// The path Vonage's receipts come to.
pub const STATUS_PATH: &str = "/vonage/status";

/// The secret field that holds the account's signature secret.
const SECRET_FIELD: &str = "vonage_signature_secret";

/// How the account signs (Vonage's dashboard, "Signature method"): `VONAGE_SIGNATURE_METHOD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureMethod {
    /// `md5hash`: MD5 of the parameters followed by the secret (the dashboard's default, and the
    /// weakest: it is no HMAC).
    Md5Hash,
    Md5,
    Sha1,
    Sha256,
    /// The strongest Vonage offers.
    #[default]
    Sha512,
}

impl SignatureMethod {
    const NAMES: [(&'static str, Self); 5] = [
        ("md5hash", Self::Md5Hash),
        ("md5", Self::Md5),
        ("sha1", Self::Sha1),
        ("sha256", Self::Sha256),
        ("sha512", Self::Sha512),
    ];

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let Some(raw) = env.optional("VONAGE_SIGNATURE_METHOD") else {
            return Ok(Self::default());
        };
        Self::NAMES
            .iter()
            .find(|(name, _)| raw.eq_ignore_ascii_case(name))
            .map(|(_, method)| *method)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "VONAGE_SIGNATURE_METHOD",
                    format!(
                        "must be the signature method chosen in Vonage's dashboard: md5hash, md5, \
                         sha1, sha256 or sha512, got {raw:?}"
                    ),
                )
            })
    }

    /// The length of its signatures: hex digits of the digest.
    fn hex_len(self) -> usize {
        match self {
            Self::Md5Hash | Self::Md5 => 32,
            Self::Sha1 => 40,
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The hex of an HMAC over `message` keyed by `secret`, with digest `$digest`.
macro_rules! hmac_hex {
    ($digest:ty, $secret:expr, $message:expr) => {{
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<$digest>::new_from_slice($secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update($message);
        hex(&mac.finalize().into_bytes())
    }};
}

/// `sig` as Vonage computes it for `params` (the `sig` among them left out): each parameter as
/// `&name=value`, sorted by name, with `&` and `=` in values written `_`; then the MD5 of that
/// followed by the secret (`md5hash`), or its HMAC keyed by the secret. In lower-case hex (Vonage
/// writes the HMACs upper-case; [`Receipts`] compares either).
pub fn signature(method: SignatureMethod, secret: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort();
    let mut signed = String::new();
    for (name, value) in sorted {
        signed.push('&');
        signed.push_str(name);
        signed.push('=');
        signed.extend(
            value
                .chars()
                .map(|c| if c == '&' || c == '=' { '_' } else { c }),
        );
    }
    match method {
        SignatureMethod::Md5Hash => {
            use md5::Digest;
            signed.push_str(secret);
            hex(&md5::Md5::digest(signed.as_bytes()))
        }
        SignatureMethod::Md5 => hmac_hex!(md5::Md5, secret, signed.as_bytes()),
        SignatureMethod::Sha1 => hmac_hex!(sha1::Sha1, secret, signed.as_bytes()),
        SignatureMethod::Sha256 => hmac_hex!(sha2::Sha256, secret, signed.as_bytes()),
        SignatureMethod::Sha512 => hmac_hex!(sha2::Sha512, secret, signed.as_bytes()),
    }
}

/// Where Vonage's receipts come and how they are checked, from the environment: the URL
/// ([`receipts::callback_url`]), `VONAGE_SIGNATURE_METHOD`, and for local use
/// `VONAGE_SIGNATURE_SECRET` and `VONAGE_API_KEY` (the gateway secret's fields win). `Debug` hides
/// the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiptSettings {
    pub url: String,
    pub method: SignatureMethod,
    pub env_secret: Option<String>,
    pub env_api_key: Option<String>,
}

impl fmt::Debug for ReceiptSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptSettings")
            .field("url", &crate::domain::redact::url_credentials(&self.url))
            .field("method", &self.method)
            .field(
                "env_secret",
                &self.env_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("env_api_key", &self.env_api_key)
            .finish()
    }
}

impl ReceiptSettings {
    /// Vonage's receipt settings, for a gateway whose chains name vonage when `named`; `None`
    /// when no URL is set for them.
    pub fn from_env(env: &Env, named: bool) -> Result<Option<Self>, ConfigError> {
        let method = SignatureMethod::from_env(env)?;
        let Some(url) = receipts::callback_url(
            env,
            "VONAGE_STATUS_CALLBACK_URL",
            STATUS_PATH,
            "vonage",
            named,
        )?
        else {
            return Ok(None);
        };
        Ok(Some(Self {
            url,
            method,
            env_secret: env.optional("VONAGE_SIGNATURE_SECRET"),
            env_api_key: env.optional("VONAGE_API_KEY"),
        }))
    }

    /// The signature secret a receipt is checked with: the gateway secret's, else the variable.
    pub fn signature_secret(&self, read: Option<&Arc<SecretValue>>) -> Option<String> {
        read.and_then(|s| s.field(SECRET_FIELD))
            .map(str::to_owned)
            .or_else(|| self.env_secret.clone())
    }
}

/// Checks Vonage's receipts: signed with the account's signature secret by the configured method.
pub struct Receipts {
    settings: ReceiptSettings,
    secret: Arc<ApiKeys>,
}

impl Receipts {
    pub fn new(settings: ReceiptSettings, secret: Arc<ApiKeys>) -> Self {
        Self { settings, secret }
    }

    fn signed_by(&self, read: Option<&Arc<SecretValue>>, params: &[(String, String)]) -> bool {
        use subtle::ConstantTimeEq;
        let Some(secret) = self.settings.signature_secret(read) else {
            return false;
        };
        let presented = params
            .iter()
            .find(|(k, _)| k == "sig")
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        let expected = signature(self.settings.method, &secret, params);
        expected.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// Why a receipt cannot come from this account at all, if it cannot: a `sig` of no method's
    /// shape, or another account's `api-key`. Such a receipt is refused without reading the
    /// secret again, so forged posts cannot use up the reads a rotation needs.
    fn implausible(
        &self,
        read: Option<&Arc<SecretValue>>,
        params: &[(String, String)],
        presented: &str,
    ) -> Option<&'static str> {
        let shaped = SignatureMethod::NAMES
            .iter()
            .any(|(_, method)| presented.len() == method.hex_len())
            && presented.bytes().all(|b| b.is_ascii_hexdigit());
        if !shaped {
            return Some("malformed");
        }
        let account = read
            .and_then(|s| s.field("vonage_api_key").map(str::to_owned))
            .or_else(|| self.settings.env_api_key.clone());
        let from_account = account
            .is_none_or(|account| params.iter().any(|(k, v)| k == "api-key" && *v == account));
        (!from_account).then_some("other_account")
    }

    /// What a receipt's `sig` says of its parameters. A plausible signature that the secret
    /// known does not give makes the secret be read again (spaced as every read a request causes
    /// is): it may have been changed since.
    pub async fn verify(&self, params: &[(String, String)]) -> Verdict {
        let Some((_, presented)) = params.iter().find(|(k, _)| k == "sig") else {
            return Verdict::Anonymous("missing");
        };
        let read = self.secret.latest();
        if self.signed_by(read.as_ref(), params) {
            return Verdict::Signed;
        }
        if let Some(reason) = self.implausible(read.as_ref(), params, presented) {
            return Verdict::Anonymous(reason);
        }
        // For our account, signed by another method (the dashboard's default is md5hash, ours
        // sha512): our set-up, which no read of the secret heals. Every receipt is being lost.
        if presented.len() != self.settings.method.hex_len() {
            tracing::warn!(
                target: "mosaic_sms_gateway::delivery",
                provider = "vonage",
                method = ?self.settings.method,
                "a Vonage receipt for the account signed by another signature method: set \
                 VONAGE_SIGNATURE_METHOD to the one Vonage's dashboard shows"
            );
            return Verdict::Mismatch;
        }
        match self.secret.reread_after_refusal(read.as_ref()).await {
            Some(newer) if self.signed_by(Some(&newer), params) => Verdict::Signed,
            _ => Verdict::Mismatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_signer_gives_the_signatures_of_vonages_library_for_every_method() {
        // The vectors Vonage's Ruby SDK tests its signer with (test/vonage/signature_test.rb).
        let signed = params(&[
            ("message-timestamp", "2013-11-21 15:27:30"),
            ("messageId", "020000001B0FE827"),
            ("msisdn", "14843472194"),
            ("text", "Test again"),
            ("timestamp", "1385047698"),
            ("to", "13239877404"),
            ("type", "text"),
        ]);
        let secret = "my_secret_key_for_testing";
        for (method, expected) in [
            (SignatureMethod::Md5Hash, "d2e7b1dc968737c5998ad624e02f90b7"),
            (SignatureMethod::Md5, "DDEBD46008C2D4E93CCE578A332A52D5"),
            (
                SignatureMethod::Sha1,
                "27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A",
            ),
            (
                SignatureMethod::Sha256,
                "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330",
            ),
            (
                SignatureMethod::Sha512,
                "E0D3C650F8C9D1A5C174D10DDDBFB003E561F59B265616208B0487C5D819481CD3C311D59CF6165ECD1139622D5BA3A256C0D763AC4A9AD9144B5A426B94FE82",
            ),
        ] {
            assert_eq!(
                signature(method, secret, &signed),
                expected.to_ascii_lowercase(),
                "{method:?}"
            );
        }
        // `sig` itself is never signed.
        let mut with_sig = signed.clone();
        with_sig.push(("sig".into(), "whatever".into()));
        assert_eq!(
            signature(SignatureMethod::Sha512, secret, &with_sig),
            signature(SignatureMethod::Sha512, secret, &signed)
        );
    }

    #[test]
    fn ampersands_and_equals_in_values_are_signed_as_underscores() {
        let a = params(&[("text", "a&b=c")]);
        let b = params(&[("text", "a_b_c")]);
        assert_eq!(
            signature(SignatureMethod::Sha256, "s", &a),
            signature(SignatureMethod::Sha256, "s", &b)
        );
    }

    #[test]
    fn the_method_is_one_vonage_offers_and_defaults_to_the_strongest() {
        let method =
            |vars: &[(&str, &str)]| crate::settings::in_lambda_env(vars, SignatureMethod::from_env);
        assert_eq!(method(&[]).unwrap(), SignatureMethod::Sha512);
        assert_eq!(
            method(&[("VONAGE_SIGNATURE_METHOD", "MD5HASH")]).unwrap(),
            SignatureMethod::Md5Hash
        );
        let line = method(&[("VONAGE_SIGNATURE_METHOD", "sha384")])
            .unwrap_err()
            .to_string();
        assert!(
            line.starts_with("VONAGE_SIGNATURE_METHOD must be"),
            "{line}"
        );
    }

    #[test]
    fn the_settings_debug_shows_no_signature_secret() {
        let settings = ReceiptSettings {
            url: "https://x.example.com/vonage/status".into(),
            method: SignatureMethod::Sha256,
            env_secret: Some("sig-secret-value".into()),
            env_api_key: Some("abcd1234".into()),
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("sig-secret-value"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
