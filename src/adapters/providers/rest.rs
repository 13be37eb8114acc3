//! The kit a REST provider is built on, so that the provider itself is its settings, its request
//! and its table of answers:
//!
//! * [`usable_url`]: where credentials may go (https, or http to a stand-in on this machine);
//! * [`request`]: the request, with the gateway's `User-Agent`, on the shared connector;
//! * [`exchange`]: one call under the send's deadline, its failures in the three outcomes (no
//!   connection: certainly not sent; anything after: maybe sent); never retried;
//! * [`pair`]: credentials that are two fields (an id and its secret), named the same way in the
//!   environment and in the gateway secret;
//! * [`Lookup`]: the credentials for a send, the gateway secret's (parsed once per read of it)
//!   else the environment's;
//! * [`send_healing_rotation`]: a send whose credentials were refused reads the secret again, once
//!   for all the sends that saw the refusal, and sends once more when it holds others.

use crate::adapters::net::{Answer, HttpClient};
use crate::adapters::secrets::{ApiKeys, SecretValue};
use crate::domain::outcome::{MessageId, ProviderError};
use crate::domain::sms::SmsRequest;
use aws_smithy_types::body::SdkBody;
use http::header;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A call is cut short after this (and by the send deadline, whichever comes first).
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(1500);
/// A start-up call (that opens the connection, checks the credentials) gives up after this; it
/// only logs.
pub const WARM_UP_TIMEOUT: Duration = Duration::from_millis(1000);

/// Whether `url` may carry credentials: https, or http to this machine (a stand-in).
pub fn usable_url(url: &str) -> bool {
    let Ok(uri) = http::Uri::try_from(url) else {
        return false;
    };
    if !port_ok(&uri) {
        return false;
    }
    match uri.scheme_str() {
        Some("https") => uri.host().is_some(),
        Some("http") => matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]")),
        _ => false,
    }
}

/// Whether the port `uri` writes, if it writes one, is a port (1 to 65535): `http::Uri` takes
/// `:99999` and `:` and reads them as no port at all.
fn port_ok(uri: &http::Uri) -> bool {
    let Some(authority) = uri.authority() else {
        return true;
    };
    let host_and_port = authority.as_str().rsplit('@').next().unwrap_or_default();
    let after_host = host_and_port.rsplit(']').next().unwrap_or_default();
    !after_host.contains(':') || authority.port_u16().is_some_and(|port| port != 0)
}

/// What a request carries.
pub enum Body {
    Empty,
    /// `application/x-www-form-urlencoded`.
    Form(String),
    /// `application/json`.
    Json(serde_json::Value),
}

/// A request to `provider` (named in the error should it not build), asking for JSON.
pub fn request(
    provider: &str,
    method: http::Method,
    url: &str,
    authorization: Option<&str>,
    body: Body,
) -> Result<http::Request<SdkBody>, ProviderError> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(url)
        .header(header::ACCEPT, "application/json")
        .header(
            header::USER_AGENT,
            concat!("mosaic-sms-gateway/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let body = match body {
        Body::Empty => SdkBody::empty(),
        Body::Form(form) => {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            SdkBody::from(form)
        }
        Body::Json(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            SdkBody::from(json.to_string())
        }
    };
    request.body(body).map_err(|e| {
        ProviderError::misconfigured(format!("{provider} request could not be built: {e}"))
    })
}

/// Sends `request` to `provider` and reads the whole answer, within [`OPERATION_TIMEOUT`] and by
/// `deadline`. A failure is one that gave no answer to read: certainly not sent when no
/// connection was made, else maybe sent (it may come after the provider took the message).
pub async fn exchange(
    http: &HttpClient,
    provider: &str,
    request: http::Request<SdkBody>,
    deadline: Instant,
) -> Result<Answer, ProviderError> {
    let timeout = OPERATION_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
    match http.exchange(request, timeout).await {
        Ok(answer) => Ok(answer),
        Err(err) if err.never_sent() => {
            Err(ProviderError::unavailable(format!("{provider}: {err}")))
        }
        Err(err) => Err(ProviderError::indeterminate(format!("{provider}: {err}"))),
    }
}

/// Reads two fields, `(id, secret)`, through `get`: `Ok(None)` when neither is there, an error
/// naming the missing one (never quoting a value) when only one is.
pub fn pair(
    (id, secret): (&str, &str),
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>, String> {
    match (get(id), get(secret)) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(format!("{secret} is missing")),
        (None, Some(_)) => Err(format!("{id} is missing")),
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
    }
}

/// The credentials one read of the gateway secret holds (`None`: it holds none), or why they
/// cannot work.
pub type InSecret<C> = Result<Option<C>, String>;

/// What reads a provider's credentials out of one read of the secret.
type ReadSecret<C> = Box<dyn Fn(&SecretValue) -> InSecret<C> + Send + Sync>;

/// Credentials found for a send, and whether the gateway secret held them: only the secret's can
/// have been rotated, so only a refusal of those is worth reading the secret again.
pub struct Found<C> {
    pub credentials: C,
    pub from_secret: bool,
}

/// Where a send's credentials come from: the gateway secret's (as of one read of it), else the
/// environment's.
pub struct Lookup<C> {
    env: Option<C>,
    /// Reads a provider's credentials out of one read of the secret; its error says why they
    /// cannot work, never quoting a secret. A closure, so a provider whose fields are named by
    /// its configuration (the `http` provider's `{secret.FIELD}`) can say which.
    in_secret: ReadSecret<C>,
    /// The last read of the secret looked at, and what it holds: a read is parsed once, by the
    /// first send that sees it, not once per send. Keyed by the read itself (`Arc::ptr_eq`), not
    /// by its contents: each read of the secret is a new `Arc`, so the same pointer is the same
    /// read, told in one comparison that touches no secret; and the `Arc` held here keeps its
    /// address from going to a later read while it is the key.
    pub(in crate::adapters::providers) last_read: Mutex<Option<(Arc<SecretValue>, InSecret<C>)>>,
}

impl<C: Clone> Lookup<C> {
    pub fn new(
        env: Option<C>,
        in_secret: impl Fn(&SecretValue) -> InSecret<C> + Send + Sync + 'static,
    ) -> Self {
        Self {
            env,
            in_secret: Box::new(in_secret),
            last_read: Mutex::new(None),
        }
    }

    /// The credentials to send with while `secret` is the gateway secret's latest read (`None`: no
    /// secret, or none read yet): the secret's, else the environment's; `Ok(None)` when neither
    /// has any. When the secret's are there but cannot work, the error says why (never quoting a
    /// secret) and the environment's are not used: whoever put credentials in the secret meant them.
    pub fn find(&self, secret: Option<&Arc<SecretValue>>) -> Result<Option<Found<C>>, String> {
        if let Some(secret) = secret
            && let Some(credentials) = self.in_read(secret)?
        {
            return Ok(Some(Found {
                credentials,
                from_secret: true,
            }));
        }
        Ok(self.env.clone().map(|credentials| Found {
            credentials,
            from_secret: false,
        }))
    }

    /// What this read of the secret holds, parsed only if it is not the last read looked at.
    fn in_read(&self, read: &Arc<SecretValue>) -> InSecret<C> {
        let mut last_read = self.last_read.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((last, in_secret)) = &*last_read
            && Arc::ptr_eq(last, read)
        {
            return in_secret.clone();
        }
        let in_secret = (self.in_secret)(read);
        *last_read = Some((Arc::clone(read), in_secret.clone()));
        in_secret
    }
}

/// A `from` / `sender` as Vonage and Infobip take it: a number (E.164, with or without its `+`;
/// sent as digits, as both write numbers), a short code, or an alphanumeric sender id; `None` for
/// anything else.
pub fn digits_or_sender_id(raw: &str) -> Option<String> {
    use crate::domain::sms::{PhoneNumber, SenderId};
    if let Ok(number) = PhoneNumber::parse(raw) {
        return Some(number.as_str().trim_start_matches('+').to_owned());
    }
    let digits = (3..=15).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit());
    (digits || SenderId::parse(raw).is_some()).then(|| raw.to_owned())
}

/// The sender for `sms`: its country's own (`SENDER_BY_COUNTRY`), else the request's sender id
/// when `use_sender_id` allows it, else `default`.
pub fn sender_for<'a>(
    sms: &'a SmsRequest,
    by_country: &'a std::collections::HashMap<crate::domain::country::Country, String>,
    use_sender_id: bool,
    default: &'a str,
) -> &'a str {
    if let Some(local) = sms.country.and_then(|c| by_country.get(&c)) {
        return local;
    }
    match &sms.sender_id {
        Some(sender_id) if use_sender_id => sender_id.as_str(),
        _ => default,
    }
}

/// The start-up check of a provider whose credentials may be in the gateway secret: some to send
/// with, or a secret not read yet (requests answer 503 until it can be); else one line that says
/// what is missing.
pub fn credentials_at_start<P: Rest>(provider: &P) -> Result<(), String> {
    let secret = provider.secret();
    match provider.credentials().find(secret.latest().as_ref())? {
        Some(_) => Ok(()),
        None if secret.secret_id().is_some() && secret.latest().is_none() => Ok(()),
        None => Err(format!(
            "{} (secret {})",
            provider.no_credentials(),
            secret.secret_id().unwrap_or_default()
        )),
    }
}

/// A REST provider whose credentials may be in the gateway secret: what
/// [`send_healing_rotation`] needs of it.
#[async_trait::async_trait]
pub trait Rest: Sync {
    type Credentials: Clone + PartialEq + std::marker::Send + Sync;

    /// The provider as logs and reasons name it (`Twilio`).
    const LABEL: &'static str;

    fn secret(&self) -> &ApiKeys;

    fn credentials(&self) -> &Lookup<Self::Credentials>;

    /// Why there are no credentials at all (a certain non-send, our set-up). Sent to Mosaic in a
    /// 502 as well as logged, so it names the secret only by its variable.
    fn no_credentials(&self) -> String;

    /// Posts `sms` with `credentials`; a failure is one that gave no answer to read.
    async fn post(
        &self,
        sms: &SmsRequest,
        credentials: &Self::Credentials,
        deadline: Instant,
    ) -> Result<Answer, ProviderError>;

    /// Whether an answer refused the credentials themselves, before anything was sent.
    fn refuses_credentials(&self, answer: &Answer) -> bool;

    /// What an answer means.
    fn outcome(&self, answer: Answer) -> Result<MessageId, ProviderError>;
}

/// Sends with the credentials found now. Should the provider refuse credentials that came from
/// the secret (nothing was sent), the secret is read again (one read for all the sends that saw
/// the refusal) and, when it now holds other credentials and the deadline leaves `min_send_time`
/// for it, the request is sent once more with them.
pub async fn send_healing_rotation<P: Rest>(
    provider: &P,
    sms: &SmsRequest,
    deadline: Instant,
    min_send_time: Duration,
) -> Result<MessageId, ProviderError> {
    let secret = provider.secret().latest();
    let found = provider
        .credentials()
        .find(secret.as_ref())
        .map_err(ProviderError::misconfigured)?
        .ok_or_else(|| ProviderError::misconfigured(provider.no_credentials()))?;
    let answer = provider.post(sms, &found.credentials, deadline).await?;
    // Only credentials from the secret can have been rotated there.
    if !provider.refuses_credentials(&answer) || !found.from_secret {
        return provider.outcome(answer);
    }
    let retry_by = deadline.checked_sub(min_send_time).unwrap_or(deadline);
    let reread = tokio::time::timeout_at(
        retry_by,
        provider.secret().reread_after_refusal(secret.as_ref()),
    );
    let rotated = match reread.await {
        Ok(Some(newer)) => provider.credentials().find(Some(&newer)).ok().flatten(),
        _ => None,
    };
    match rotated {
        Some(rotated) if rotated.credentials != found.credentials && Instant::now() <= retry_by => {
            tracing::info!(
                "{} refused the credentials, and the gateway secret now holds others: sending once more with them",
                P::LABEL
            );
            provider.outcome(provider.post(sms, &rotated.credentials, deadline).await?)
        }
        _ => provider.outcome(answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_over_https_or_to_this_machine_only() {
        for url in [
            "https://rest.nexmo.com/sms/json",
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "https://rest.nexmo.com:443/sms/json",
            "http://[::1]:8080/x",
        ] {
            assert!(usable_url(url), "{url}");
        }
        for url in [
            "http://rest.nexmo.com/sms/json",
            // A port that is no port: every request would fail to connect.
            "https://rest.nexmo.com:99999/sms/json",
            "https://rest.nexmo.com:/sms/json",
            "http://127.0.0.1:70000/x",
            "ftp://127.0.0.1/",
            "rest.nexmo.com",
            "",
        ] {
            assert!(!usable_url(url), "{url}");
        }
    }

    #[test]
    fn a_pair_is_both_or_neither() {
        let get = |present: &'static [&'static str]| {
            move |name: &str| present.contains(&name).then(|| format!("v-{name}"))
        };
        assert_eq!(pair(("a", "b"), get(&[])), Ok(None));
        assert_eq!(
            pair(("a", "b"), get(&["a", "b"])),
            Ok(Some(("v-a".into(), "v-b".into())))
        );
        assert_eq!(pair(("a", "b"), get(&["a"])), Err("b is missing".into()));
        assert_eq!(pair(("a", "b"), get(&["b"])), Err("a is missing".into()));
    }
}
