//! The admin commands, `check` and `register`: where the API key comes from, and the one line each
//! prints. They share the binary and its HTTP client with the gateway; they never print a key.

use crate::adapters::net::HttpClient;
use crate::domain::keys::ApiKey;
use crate::domain::sms::PhoneNumber;
use crate::entry::mosaic::{self, Admin, ClientCredentials, Region};

/// Where the gateway's API key comes from: never a value on the command line.
#[derive(Debug, Clone, clap::Args)]
#[group(multiple = false)]
pub struct KeySource {
    /// The name of an environment variable that holds the API key.
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    /// The gateway's Secrets Manager secret (name or ARN; the stack's ApiKeySecretArn output),
    /// read with your AWS credentials.
    #[arg(long, value_name = "ID")]
    pub secret_id: Option<String>,
}

impl KeySource {
    /// The API key, from the variable, the secret (read through `http`), or a prompt on the
    /// terminal (without echo).
    pub async fn api_key(&self, http: &HttpClient) -> Result<ApiKey, String> {
        if let Some(name) = &self.api_key_env {
            let value = std::env::var(name)
                .map_err(|_| format!("the environment variable {name} is not set"))?;
            return ApiKey::new(value)
                .ok_or_else(|| format!("the environment variable {name} is empty"));
        }
        if let Some(secret_id) = &self.secret_id {
            return read_secret(secret_id, http).await;
        }
        let typed = rpassword::prompt_password("Gateway API key: ").map_err(|_| {
            "no API key: give --api-key-env NAME or --secret-id ID (there is no terminal to ask on)"
                .to_owned()
        })?;
        ApiKey::new(typed.trim()).ok_or_else(|| "no API key was typed".to_owned())
    }
}

async fn read_secret(secret_id: &str, http: &HttpClient) -> Result<ApiKey, String> {
    let client = crate::entry::secret::client(http).await?;
    let secret = crate::entry::secret::read(&client, secret_id).await?;
    Ok(secret.keys.current)
}

/// An `http(s)` URL, checked before anything is sent.
fn checked_uri(uri: &str) -> Result<(), String> {
    let parsed = http::Uri::try_from(uri).map_err(|e| format!("{uri} is not a URL: {e}"))?;
    match (parsed.scheme_str(), parsed.host()) {
        (Some("https" | "http"), Some(_)) => Ok(()),
        _ => Err(format!("{uri} is not an http(s) URL")),
    }
}

/// `check`: Mosaic's challenge, then with `send_to` one real SMS. Returns the lines to print.
pub async fn check(
    uri: &str,
    keys: &KeySource,
    send_to: Option<&str>,
    message: &str,
) -> Result<Vec<String>, String> {
    checked_uri(uri)?;
    let to = send_to
        .map(|raw| {
            PhoneNumber::parse(raw).map_err(|_| {
                format!("--send-to {raw:?} is not an E.164 number (+ and 7 to 15 digits)")
            })
        })
        .transpose()?;
    let client = HttpClient::new();
    let api_key = keys.api_key(&client).await?;
    let passed = mosaic::challenge(&client, uri, &api_key)
        .await
        .map_err(|e| format!("fail: {e}"))?;
    let mut lines = vec![format!(
        "pass: {uri} answered Mosaic's challenge in {} ms",
        passed.latency.as_millis()
    )];
    if let Some(to) = to {
        let sent = mosaic::test_send(&client, uri, &api_key, &to, message)
            .await
            .map_err(|e| format!("fail: the test SMS to {to}: {e}"))?;
        lines.push(format!(
            "sent: a test SMS to {to} through {} (message id {})",
            sent.provider, sent.message_id
        ));
    }
    Ok(lines)
}

/// `register`: a token, the challenge (nothing changes if the gateway would fail it), the PUT.
pub async fn register(
    uri: &str,
    region: Region,
    keys: &KeySource,
    api_base: Option<&str>,
    dry_run: bool,
) -> Result<String, String> {
    checked_uri(uri)?;
    if api_base.is_none() && !uri.starts_with("https://") {
        return Err(format!("{uri}: Mosaic calls gateways over https only"));
    }
    let credential = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("{name} is not set: export the client credentials of a Mosaic management application"))
    };
    let credentials = ClientCredentials {
        client_id: credential("MOSAIC_CLIENT_ID")?,
        client_secret: credential("MOSAIC_CLIENT_SECRET")?,
    };
    let client = HttpClient::new();
    let api_key = keys.api_key(&client).await?;
    let admin = Admin {
        client: &client,
        base: api_base
            .unwrap_or(region.api_base())
            .trim_end_matches('/')
            .to_owned(),
    };
    let token = admin
        .token(&credentials)
        .await
        .map_err(|e| format!("not registered: {e}"))?;
    let passed = mosaic::challenge(&client, uri, &api_key)
        .await
        .map_err(|e| format!("not registered: the gateway would fail Mosaic's challenge: {e}"))?;
    if dry_run {
        let mut body = Admin::registration(uri, &api_key);
        body["custom_gateway"]["api_key"] = "[redacted]".into();
        return Ok(format!(
            "dry run: the gateway passed the challenge in {} ms; would PUT {} {body}; nothing changed",
            passed.latency.as_millis(),
            admin.providers_url()
        ));
    }
    admin
        .register(&token, uri, &api_key)
        .await
        .map_err(|e| format!("not registered: {e}"))?;
    Ok(format!(
        "registered: {uri} is the tenant's SMS gateway at {} (it passed the challenge in {} ms)",
        admin.base,
        passed.latency.as_millis()
    ))
}
