//! Twilio's status callbacks, inbound: Twilio posts each message's status to
//! `TWILIO_STATUS_CALLBACK_URL`, signed with the account's auth token, and [`StatusCallbacks`] says
//! whether a post is Twilio's own. Apart from the sender: it never sends, and anyone on the internet
//! can reach it. `entry::twilio_status` answers the route and counts what it is told; the URL is a
//! setting ([`super::status_callback_url`]), and the sender asks for callbacks only while an auth
//! token is known to check them with.

use crate::adapters::secrets::{ApiKeys, SecretValue};
use std::sync::Arc;

/// `X-Twilio-Signature` as Twilio computes it for a request to `url` with form `params`: HMAC-SHA1
/// under the account's auth token over the URL followed by each parameter's name and value, sorted
/// by name, in base64 (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    use hmac::{KeyInit, Mac};
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    aws_smithy_types::base64::encode(mac.finalize().into_bytes())
}

/// `url` with its scheme's default port, and without it.
fn with_and_without_default_port(url: &str) -> Vec<String> {
    let mut urls = vec![url.to_owned()];
    if let Ok(uri) = http::Uri::try_from(url)
        && let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority())
    {
        let default = if scheme == "https" { 443 } else { 80 };
        let host = authority.host();
        let other = match authority.port_u16() {
            Some(port) if port == default => host.to_owned(),
            Some(_) => return urls,
            None => format!("{host}:{default}"),
        };
        urls.push(url.replacen(authority.as_str(), &other, 1));
    }
    urls
}

pub use crate::adapters::providers::receipts::Verdict;

/// Checks Twilio's status callbacks: signed for the configured URL with the account's auth token,
/// the current or (during a rotation) the previous one. The tokens come from the gateway secret
/// (`twilio_auth_token`, `twilio_previous_auth_token`), else `TWILIO_AUTH_TOKEN`. Twilio signs
/// with the auth token even when messages are sent with an API key.
pub struct StatusCallbacks {
    /// The configured URL, and the same with the default port written or left out: Twilio's own
    /// validators try both, as Twilio does not sign every callback the same way.
    urls: Vec<String>,
    secret: Arc<ApiKeys>,
    env_token: Option<String>,
    /// `TWILIO_ACCOUNT_SID`; the secret's `twilio_account_sid` wins.
    env_account: Option<String>,
}

impl StatusCallbacks {
    pub fn new(
        url: String,
        secret: Arc<ApiKeys>,
        env_token: Option<String>,
        env_account: Option<String>,
    ) -> Self {
        Self {
            urls: with_and_without_default_port(&url),
            secret,
            env_token,
            env_account,
        }
    }

    fn tokens(&self, secret: Option<&Arc<SecretValue>>) -> Vec<String> {
        let from_secret: Vec<String> = secret
            .into_iter()
            .flat_map(|s| ["twilio_auth_token", "twilio_previous_auth_token"].map(|f| s.field(f)))
            .flatten()
            .map(str::to_owned)
            .collect();
        if from_secret.is_empty() {
            self.env_token.iter().cloned().collect()
        } else {
            from_secret
        }
    }

    fn signed_by(&self, tokens: &[String], params: &[(String, String)], presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let mut valid = false;
        for token in tokens {
            for url in &self.urls {
                let expected = signature(token, url, params);
                valid |= bool::from(expected.as_bytes().ct_eq(presented.as_bytes()));
            }
        }
        valid
    }

    /// Why a callback cannot come from this account at all, if it cannot: a signature not of the
    /// shape Twilio's have (base64 of 20 bytes), or another account's SID. Such a callback is
    /// refused without reading the secret again, so forged posts cannot use up the reads a
    /// rotation needs, and counted apart from the ones that point at our set-up.
    fn implausible(
        &self,
        secret: Option<&Arc<SecretValue>>,
        params: &[(String, String)],
        presented: &str,
    ) -> Option<&'static str> {
        let shaped = presented.len() == 28
            && presented.ends_with('=')
            && presented[..27]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
        let account = secret
            .and_then(|s| s.field("twilio_account_sid").map(str::to_owned))
            .or_else(|| self.env_account.clone());
        let from_account = match account {
            Some(account) => params
                .iter()
                .any(|(k, v)| k == "AccountSid" && *v == account),
            None => true,
        };
        match (shaped, from_account) {
            (false, _) => Some("malformed"),
            (true, false) => Some("other_account"),
            (true, true) => None,
        }
    }

    /// What `presented` (the `X-Twilio-Signature`, if any) says of `params` for the configured
    /// URL. A plausible signature that no known token gives makes the secret be read again
    /// (spaced as every read a request causes is): the token may have been rotated since.
    pub async fn verify(&self, params: &[(String, String)], presented: Option<&str>) -> Verdict {
        let Some(presented) = presented else {
            return Verdict::Anonymous("missing");
        };
        let secret = self.secret.latest();
        if self.signed_by(&self.tokens(secret.as_ref()), params, presented) {
            return Verdict::Signed;
        }
        if let Some(reason) = self.implausible(secret.as_ref(), params, presented) {
            return Verdict::Anonymous(reason);
        }
        match self.secret.reread_after_refusal(secret.as_ref()).await {
            Some(newer) if self.signed_by(&self.tokens(Some(&newer)), params, presented) => {
                Verdict::Signed
            }
            _ => Verdict::Mismatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signer_gives_the_signature_of_twilios_security_documentation() {
        // https://www.twilio.com/docs/usage/webhooks/webhooks-security, "Validating signatures".
        let params: Vec<(String, String)> = [
            ("To", "+18005551212"),
            ("From", "+12349013030"),
            ("Digits", "1234"),
            ("Caller", "+12349013030"),
            ("CallSid", "CA1234567890ABCDE"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn a_callback_url_is_tried_with_and_without_its_default_port() {
        assert_eq!(
            with_and_without_default_port("https://abc.example.com/twilio/status"),
            [
                "https://abc.example.com/twilio/status",
                "https://abc.example.com:443/twilio/status"
            ]
        );
        assert_eq!(
            with_and_without_default_port("https://abc.example.com:443/twilio/status"),
            [
                "https://abc.example.com:443/twilio/status",
                "https://abc.example.com/twilio/status"
            ]
        );
        assert_eq!(
            with_and_without_default_port("http://127.0.0.1:3000/twilio/status"),
            ["http://127.0.0.1:3000/twilio/status"]
        );
    }
}
