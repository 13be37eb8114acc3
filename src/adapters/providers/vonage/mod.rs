//! The `vonage` provider: Vonage's SMS API, `POST {VONAGE_API_BASE}/sms/json`, form-encoded as
//! Vonage's OpenAPI description (`../shared/contracts/vonage_sms.yml`, `NewMessage`) gives it.
//!
//! Credentials (`vonage_api_key`, `vonage_api_secret`) come from the gateway secret, read with
//! the API keys so a rotated secret needs no redeploy, or for local use from `VONAGE_API_KEY` and
//! `VONAGE_API_SECRET`; Vonage refusing the secret's (status 4) reads the secret again, once.
//! Each send carries the request's idempotency key as `client-ref`, so a copy is told apart in
//! Vonage's records and receipts. Vonage answers `200` to a refusal too: `answers.rs` reads the
//! verdict of each part.
//!
//! * `settings.rs`: what the environment sets, and the credentials;
//! * this file: the request and the send, on the provider kit ([`super::rest`]);
//! * `answers.rs`: every answer into the three outcomes;
//! * `receipts.rs`: Vonage's signed delivery receipts, which come the other way and never send.

mod answers;
mod receipts;
mod settings;

pub use receipts::{ReceiptSettings, Receipts, STATUS_PATH, SignatureMethod, signature};
pub use settings::{Credentials, DEFAULT_API_BASE, VonageSettings};

/// Whether one read of the gateway secret holds Vonage credentials a send can use: `Err` names
/// what is missing or malformed, never a value (the `secret` command's check).
pub fn secret_check(read: &crate::adapters::secrets::SecretValue) -> Result<(), String> {
    match Credentials::in_secret(read)? {
        Some(_) => Ok(()),
        None => Err("vonage_api_key and vonage_api_secret are missing".into()),
    }
}

use super::rest::{self, Body};
use super::{BuildContext, BuildError, ProviderSetup};
use crate::adapters::net::{Answer, HttpClient};
use crate::adapters::secrets::ApiKeys;
use crate::domain::outcome::{MessageId, ProviderError};
use crate::domain::ports::SmsProvider;
use crate::domain::sms::SmsRequest;
use crate::settings::{ConfigError, Env};
use std::sync::Arc;
use tokio::time::Instant;

pub const NAME: &str = "vonage";
/// The longest `client-ref` Vonage keeps.
const CLIENT_REF_MAX: usize = 40;

/// Registered in [`super::REGISTRY`] as `vonage`.
pub fn configure(env: &Env) -> Result<Box<dyn ProviderSetup>, ConfigError> {
    Ok(Box::new(VonageSettings::from_env(env)?))
}

impl ProviderSetup for VonageSettings {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, context: &BuildContext<'_>) -> Result<Box<dyn SmsProvider>, BuildError> {
        Ok(Box::new(Vonage::new(
            self.clone(),
            Arc::clone(context.secret),
            context.http.clone(),
        )))
    }
}

/// The `vonage` provider, built once at start-up.
pub struct Vonage {
    settings: VonageSettings,
    secret: Arc<ApiKeys>,
    http: HttpClient,
    credentials: rest::Lookup<Credentials>,
}

impl Vonage {
    pub fn new(settings: VonageSettings, secret: Arc<ApiKeys>, http: HttpClient) -> Self {
        Self {
            credentials: rest::Lookup::new(
                settings.env_credentials.clone(),
                Credentials::in_secret,
            ),
            settings,
            secret,
            http,
        }
    }

    /// The `from` for this SMS: the country's own sender, else the request's sender id when the
    /// settings allow it, else `VONAGE_FROM`.
    fn from<'a>(&'a self, sms: &'a SmsRequest) -> &'a str {
        let s = &self.settings;
        rest::sender_for(sms, &s.by_country, s.use_sender_id, &s.from)
    }

    /// The receipts URL to send as `callback`, when receipts can be checked: Vonage signs them with
    /// the account's signature secret, and without it every receipt would be refused.
    fn status_callback(&self) -> Option<&str> {
        let receipts = self.settings.receipts.as_ref()?;
        receipts
            .signature_secret(self.secret.latest().as_ref())
            .map(|_| receipts.url.as_str())
    }

    /// The form `POST /sms/json` takes for this SMS, credentials first.
    pub fn form(&self, sms: &SmsRequest, credentials: &Credentials) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("api_key", &credentials.api_key);
        form.append_pair("api_secret", &credentials.api_secret);
        form.append_pair("from", self.from(sms));
        // Vonage writes E.164 without its `+`.
        form.append_pair("to", sms.phone_number.as_str().trim_start_matches('+'));
        form.append_pair("text", sms.message.as_str());
        // Text outside GSM-7 reaches the phone as `?` unless sent as UCS-2.
        if !crate::domain::gsm7::is_gsm7(sms.message.as_str()) {
            form.append_pair("type", "unicode");
        }
        if let Some(key) = &sms.idempotency_key {
            let end = key
                .char_indices()
                .nth(CLIENT_REF_MAX)
                .map_or(key.len(), |(i, _)| i);
            form.append_pair("client-ref", &key[..end]);
        }
        form.append_pair("ttl", &self.settings.ttl_ms().to_string());
        if let Some(url) = self.status_callback() {
            form.append_pair("callback", url);
        }
        form.finish()
    }

    fn no_credentials(&self) -> String {
        if self.secret.secret_id().is_some() {
            "no Vonage credentials: the gateway secret (GATEWAY_SECRET_ID) has no vonage_api_key \
             and vonage_api_secret, and VONAGE_API_KEY is not set"
                .into()
        } else {
            "no Vonage credentials: set VONAGE_API_KEY and VONAGE_API_SECRET".into()
        }
    }
}

#[async_trait::async_trait]
impl rest::Rest for Vonage {
    type Credentials = Credentials;
    const LABEL: &'static str = "Vonage";

    fn secret(&self) -> &ApiKeys {
        &self.secret
    }

    fn credentials(&self) -> &rest::Lookup<Credentials> {
        &self.credentials
    }

    fn no_credentials(&self) -> String {
        self.no_credentials()
    }

    async fn post(
        &self,
        sms: &SmsRequest,
        credentials: &Credentials,
        deadline: Instant,
    ) -> Result<Answer, ProviderError> {
        let url = format!("{}/sms/json", self.settings.api_base);
        let form = Body::Form(self.form(sms, credentials));
        let request = rest::request("Vonage", http::Method::POST, &url, None, form)?;
        rest::exchange(&self.http, "Vonage", request, deadline).await
    }

    fn refuses_credentials(&self, answer: &Answer) -> bool {
        answers::refuses_credentials(answer)
    }

    fn outcome(&self, answer: Answer) -> Result<MessageId, ProviderError> {
        answers::outcome(answer)
    }
}

#[async_trait::async_trait]
impl SmsProvider for Vonage {
    fn name(&self) -> &'static str {
        NAME
    }

    fn min_send_time(&self) -> std::time::Duration {
        crate::adapters::net::MIN_SEND_TIME
    }

    async fn send(&self, sms: &SmsRequest, deadline: Instant) -> Result<MessageId, ProviderError> {
        rest::send_healing_rotation(self, sms, deadline, self.min_send_time()).await
    }

    /// The credentials may be in the gateway secret.
    fn starts_after_secret(&self) -> bool {
        self.secret.secret_id().is_some()
    }

    /// Checks that there are credentials to send with. Vonage has no harmless read on the SMS
    /// API's host to open the connection with, so the first send opens it.
    async fn start(&self) -> Result<(), String> {
        let secret_known = self.secret.secret_id().is_none() || self.secret.latest().is_some();
        if self.settings.receipts.is_some() && secret_known && self.status_callback().is_none() {
            tracing::error!(
                "Vonage receipts are on (VONAGE_STATUS_CALLBACK_URL or RECEIPTS_BASE_URL), but the gateway secret has no vonage_signature_secret (nor is VONAGE_SIGNATURE_SECRET set): Vonage signs its receipts with the account's signature secret, so sends ask for none until the secret holds it"
            );
        }
        rest::credentials_at_start(self)
    }
}
