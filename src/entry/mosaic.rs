//! Mosaic's side, as the admin commands need it: the validation challenge exactly as Mosaic sends
//! it (behind `check`), and the registration of a gateway (behind `register`): a client-credentials
//! token from `/oidc/token`, then `PUT /cis/v1/tenantsmsproviders`.
//!
//! No message here ever quotes the API key or the client secret: answers that might echo them are
//! masked before they are shown.

use crate::adapters::net::{Answer, ExchangeError, HttpClient};
use crate::domain::keys::ApiKey;
use crate::domain::sms::PhoneNumber;
use aws_smithy_types::body::SdkBody;
use http::header;
use serde_json::json;
use std::time::{Duration, Instant};

/// Mosaic waits this long for a gateway's answer.
pub const MOSAIC_BUDGET: Duration = Duration::from_secs(3);
/// Mosaic's admin API gets this long per call.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Mosaic's regions, by the API host of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Region {
    Us,
    Eu,
    Ca,
    Au,
    Sandbox,
}

impl Region {
    pub fn api_base(self) -> &'static str {
        match self {
            Self::Us => "https://api.transmitsecurity.io",
            Self::Eu => "https://api.eu.transmitsecurity.io",
            Self::Ca => "https://api.ca.transmitsecurity.io",
            Self::Au => "https://api.au.transmitsecurity.io",
            Self::Sandbox => "https://api.sbx.transmitsecurity.io",
        }
    }
}

/// Why a gateway fails Mosaic's challenge (or the test send), in one line.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{uri} is not a usable URL: {detail}")]
    BadUri { uri: String, detail: String },
    #[error("{uri} is unreachable: {detail}")]
    Unreachable { uri: String, detail: String },
    #[error("TLS with {uri} failed (Mosaic needs a valid certificate): {detail}")]
    Tls { uri: String, detail: String },
    #[error("{uri} did not answer within Mosaic's {} s", MOSAIC_BUDGET.as_secs())]
    TooSlow { uri: String },
    #[error("the connection to {uri} failed: {detail}")]
    ConnectionFailed { uri: String, detail: String },
    #[error("{uri} answered HTTP {status}{detail}; Mosaic needs 200")]
    Status {
        uri: String,
        status: u16,
        detail: String,
    },
    #[error("{uri} answered with Content-Type {content_type:?}; Mosaic needs application/json")]
    NotJsonType { uri: String, content_type: String },
    #[error("{uri} answered a body that is not JSON")]
    NotJson { uri: String },
    #[error("{uri} did not echo the verification key as {{\"key\": \"...\"}}")]
    KeyNotEchoed { uri: String },
    #[error("{uri} answered 200 without a provider and message_id")]
    NoMessageId { uri: String },
}

/// What a passed challenge measured.
#[derive(Debug)]
pub struct Passed {
    pub latency: Duration,
}

/// What a test send answered.
#[derive(Debug)]
pub struct Sent {
    pub provider: String,
    pub message_id: String,
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system's random generator failed");
    crate::domain::keys::hex(&buffer)
}

/// Sends Mosaic's validation challenge to `uri`, as Mosaic does: its headers, a fresh random
/// `X-Verification-Key`, and its 3 s budget. Passes only on `200`, `application/json` and the key
/// echoed as `{"key": ...}`.
pub async fn challenge(
    client: &HttpClient,
    uri: &str,
    api_key: &ApiKey,
) -> Result<Passed, CheckError> {
    let verification_key = random_hex(16);
    let request = http::Request::get(uri)
        .header(header::ACCEPT, "application/json, text/plain, */*")
        .header(header::CONTENT_LENGTH, "0")
        .header("X-API-Key", api_key.expose())
        .header("X-Scheme", "https")
        .header("X-Verification-Key", &verification_key)
        .body(SdkBody::empty())
        .map_err(|e| CheckError::BadUri {
            uri: uri.to_owned(),
            detail: e.to_string(),
        })?;
    let started = Instant::now();
    let answer = call(client, uri, request).await?;
    let latency = started.elapsed();
    let body = json_answer(uri, &answer)?;
    if body.get("key").and_then(|k| k.as_str()) != Some(verification_key.as_str()) {
        return Err(CheckError::KeyNotEchoed {
            uri: uri.to_owned(),
        });
    }
    Ok(Passed { latency })
}

/// Sends one SMS through the gateway as Mosaic would, and reads the provider and message id.
pub async fn test_send(
    client: &HttpClient,
    uri: &str,
    api_key: &ApiKey,
    to: &PhoneNumber,
    message: &str,
) -> Result<Sent, CheckError> {
    let body = json!({"phone_number": to.as_str(), "message": message}).to_string();
    let request = http::Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/plain, */*")
        .header("X-API-Key", api_key.expose())
        .body(SdkBody::from(body))
        .map_err(|e| CheckError::BadUri {
            uri: uri.to_owned(),
            detail: e.to_string(),
        })?;
    let answer = call(client, uri, request).await?;
    let body = json_answer(uri, &answer)?;
    let field = |name: &str| body.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    match (field("provider"), field("message_id")) {
        (Some(provider), Some(message_id)) => Ok(Sent {
            provider,
            message_id,
        }),
        _ => Err(CheckError::NoMessageId {
            uri: uri.to_owned(),
        }),
    }
}

async fn call(
    client: &HttpClient,
    uri: &str,
    request: http::Request<SdkBody>,
) -> Result<Answer, CheckError> {
    let uri_owned = || uri.to_owned();
    client
        .exchange(request, MOSAIC_BUDGET)
        .await
        .map_err(|err| match err {
            ExchangeError::TimedOut(_) => CheckError::TooSlow { uri: uri_owned() },
            ExchangeError::NotConnected { detail, tls: true } => CheckError::Tls {
                uri: uri_owned(),
                detail,
            },
            ExchangeError::NotConnected { detail, .. } => CheckError::Unreachable {
                uri: uri_owned(),
                detail,
            },
            err => CheckError::ConnectionFailed {
                uri: uri_owned(),
                detail: err.to_string(),
            },
        })
}

/// The answer's JSON body, when it is a `200` with `application/json`.
fn json_answer(uri: &str, answer: &Answer) -> Result<serde_json::Value, CheckError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
    if answer.status != 200 {
        // The gateway's own error code and message, when it is this gateway.
        let detail = json
            .as_ref()
            .and_then(|v| {
                let code = v.get("error")?.as_str()?;
                let message = v.get("message").and_then(|m| m.as_str()).unwrap_or("");
                Some(format!(" ({code}: {message})"))
            })
            .unwrap_or_default();
        return Err(CheckError::Status {
            uri: uri.to_owned(),
            status: answer.status,
            detail,
        });
    }
    let content_type = answer.content_type.clone().unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(CheckError::NotJsonType {
            uri: uri.to_owned(),
            content_type,
        });
    }
    json.ok_or_else(|| CheckError::NotJson {
        uri: uri.to_owned(),
    })
}

/// A Mosaic management application's credentials. `Debug` hides the secret.
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// Why a registration failed, in one line.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(
        "Mosaic refused the client credentials (HTTP {0}): check MOSAIC_CLIENT_ID and MOSAIC_CLIENT_SECRET"
    )]
    BadClient(u16),
    #[error(
        "Mosaic refused the registration (HTTP 403): the application is not allowed to manage this tenant's SMS providers; use a management application's client credentials"
    )]
    Forbidden,
    #[error("Mosaic refused the admin token (HTTP 401) it had just issued; try again")]
    TokenRefused,
    #[error("Mosaic answered HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("Mosaic at {base} could not be reached: {detail}")]
    Network { base: String, detail: String },
    #[error("Mosaic's token answer has no access_token")]
    NoToken,
}

/// Mosaic's admin API at `base` (`https://api.transmitsecurity.io`, or a stand-in).
pub struct Admin<'a> {
    pub client: &'a HttpClient,
    pub base: String,
}

impl Admin<'_> {
    pub fn providers_url(&self) -> String {
        format!("{}/cis/v1/tenantsmsproviders", self.base)
    }

    /// The registration's body, as Mosaic takes it.
    pub fn registration(uri: &str, api_key: &ApiKey) -> serde_json::Value {
        json!({"provider": "CustomGateway", "custom_gateway": {"uri": uri, "api_key": api_key.expose()}})
    }

    /// An admin token (a JWT valid for an hour) for a management application.
    pub async fn token(&self, credentials: &ClientCredentials) -> Result<String, RegisterError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &credentials.client_id)
            .append_pair("client_secret", &credentials.client_secret)
            .finish();
        let request = http::Request::post(format!("{}/oidc/token", self.base))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(SdkBody::from(form))
            .map_err(|e| self.network(e.to_string()))?;
        let answer = self.call(request).await?;
        match answer.status {
            200 => serde_json::from_slice::<serde_json::Value>(&answer.body)
                .ok()
                .and_then(|v| v.get("access_token")?.as_str().map(str::to_owned))
                .ok_or(RegisterError::NoToken),
            400 | 401 | 403 => Err(RegisterError::BadClient(answer.status)),
            status => Err(RegisterError::Refused {
                status,
                body: masked_body(&answer.body, &[&credentials.client_secret]),
            }),
        }
    }

    /// `PUT /cis/v1/tenantsmsproviders`, once. Mosaic sends its challenge to `uri` before it
    /// answers, and refuses a gateway that fails it.
    pub async fn register(
        &self,
        token: &str,
        uri: &str,
        api_key: &ApiKey,
    ) -> Result<(), RegisterError> {
        let request = http::Request::put(self.providers_url())
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(SdkBody::from(Self::registration(uri, api_key).to_string()))
            .map_err(|e| self.network(e.to_string()))?;
        let answer = self.call(request).await?;
        match answer.status {
            200..=299 => Ok(()),
            401 => Err(RegisterError::TokenRefused),
            403 => Err(RegisterError::Forbidden),
            status => Err(RegisterError::Refused {
                status,
                body: masked_body(&answer.body, &[api_key.expose(), token]),
            }),
        }
    }

    async fn call(&self, request: http::Request<SdkBody>) -> Result<Answer, RegisterError> {
        self.client
            .exchange(request, ADMIN_TIMEOUT)
            .await
            .map_err(|e| self.network(e.to_string()))
    }

    fn network(&self, detail: String) -> RegisterError {
        RegisterError::Network {
            base: self.base.clone(),
            detail,
        }
    }
}

/// An answer's body for a one-line message: secrets it may echo masked, on one line, cut short.
fn masked_body(body: &[u8], secrets: &[&str]) -> String {
    let mut text = String::from_utf8_lossy(body).replace(['\n', '\r'], " ");
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "[redacted]");
    }
    if text.chars().count() > 300 {
        text = text.chars().take(300).collect::<String>() + "...";
    }
    if text.trim().is_empty() {
        "(no body)".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_shown_to_the_user_hide_what_they_echo() {
        let body = br#"{"message":"bad gateway key s3cr3t-key
for uri"}"#;
        let shown = masked_body(body, &["s3cr3t-key", ""]);
        assert_eq!(shown, r#"{"message":"bad gateway key [redacted] for uri"}"#);
        assert_eq!(masked_body(b"", &[]), "(no body)");
        assert!(masked_body(&[b'x'; 1000], &[]).ends_with("..."));
    }

    #[test]
    fn regions_have_their_hosts() {
        assert_eq!(Region::Us.api_base(), "https://api.transmitsecurity.io");
        assert_eq!(
            Region::Sandbox.api_base(),
            "https://api.sbx.transmitsecurity.io"
        );
        let credentials = ClientCredentials {
            client_id: "app".into(),
            client_secret: "s3cr3t".into(),
        };
        assert!(!format!("{credentials:?}").contains("s3cr3t"));
    }
}
