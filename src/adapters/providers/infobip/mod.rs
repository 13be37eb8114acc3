//! The `infobip` provider: Infobip's SMS API v3, `POST {INFOBIP_BASE_URL}/sms/3/messages`,
//! `Authorization: App <key>`, with the JSON Infobip's "Send SMS message" describes
//! (<https://www.infobip.com/docs/api/channels/sms/sms-messaging/outbound-sms/send-sms-messages>):
//! one message, its `sender`, one destination `to` (digits) with our `messageId`,
//! `content.text` and `options.validityPeriod`.
//!
//! The API key (`infobip_api_key`) comes from the gateway secret, read with the API keys so a
//! rotated secret needs no redeploy, or for local use from `INFOBIP_API_KEY`; Infobip refusing
//! the secret's (401) reads the secret again, once. Each send's `messageId` is the request's
//! idempotency key, the same for a re-send of the same passcode: with Infobip's idempotent
//! sending on for the account, a repeat is rejected (`REJECTED_DUPLICATE_MESSAGE_ID`) and
//! answered as a duplicate (`answers.rs`). With receipts on, the message also carries
//! `webhooks.delivery` (`receipts.rs`).
//!
//! Not the `infobip-sms-sdk` crate: its client is its own (another HTTP stack beside the shared
//! connector, outside the send's deadline and the kit's split of failures into "never sent" and
//! "maybe sent"), and the request is five fields of JSON.
//!
//! * `settings.rs`: what the environment sets, and the API key;
//! * this file: the request and the send, on the provider kit ([`super::rest`]);
//! * `answers.rs`: every answer into the three outcomes;
//! * `receipts.rs`: Infobip's delivery reports, which come the other way with the gateway's
//!   token in their URL and never send.

mod answers;
mod receipts;
mod settings;

pub use receipts::{ReceiptSettings, Receipts, STATUS_PATH, TOKEN_PARAMETER};
pub use settings::{Credentials, InfobipSettings};

/// Whether one read of the gateway secret holds an Infobip key a send can use: `Err` names what
/// is missing or malformed, never a value (the `secret` command's check).
pub fn secret_check(read: &crate::adapters::secrets::SecretValue) -> Result<(), String> {
    match Credentials::in_secret(read)? {
        Some(_) => Ok(()),
        None => Err("infobip_api_key is missing".into()),
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
use serde_json::json;
use std::sync::Arc;
use tokio::time::Instant;

pub const NAME: &str = "infobip";

/// Registered in [`super::REGISTRY`] as `infobip`.
pub fn configure(env: &Env) -> Result<Box<dyn ProviderSetup>, ConfigError> {
    Ok(Box::new(InfobipSettings::from_env(env)?))
}

impl ProviderSetup for InfobipSettings {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, context: &BuildContext<'_>) -> Result<Box<dyn SmsProvider>, BuildError> {
        let receipts = self.receipts.clone().map(|settings| {
            Receipts::new(
                settings,
                Arc::clone(context.secret),
                Arc::clone(context.fingerprint),
            )
        });
        Ok(Box::new(
            Infobip::new(
                self.clone(),
                Arc::clone(context.secret),
                context.http.clone(),
            )
            .with_receipts(receipts),
        ))
    }
}

/// The `infobip` provider, built once at start-up.
pub struct Infobip {
    settings: InfobipSettings,
    secret: Arc<ApiKeys>,
    http: HttpClient,
    credentials: rest::Lookup<Credentials>,
    /// With receipts on: the URL, with the gateway's token, each send asks Infobip to report to.
    receipts: Option<Receipts>,
}

impl Infobip {
    pub fn new(settings: InfobipSettings, secret: Arc<ApiKeys>, http: HttpClient) -> Self {
        Self {
            credentials: rest::Lookup::new(
                settings.env_credentials.clone(),
                Credentials::in_secret,
            ),
            settings,
            secret,
            http,
            receipts: None,
        }
    }

    /// The same provider, asking for delivery reports at `receipts`' URL.
    pub fn with_receipts(self, receipts: Option<Receipts>) -> Self {
        Self { receipts, ..self }
    }

    /// The `sender` for this SMS: the country's own sender, else the request's sender id when
    /// the settings allow it, else `INFOBIP_FROM`.
    fn sender<'a>(&'a self, sms: &'a SmsRequest) -> &'a str {
        let s = &self.settings;
        rest::sender_for(sms, &s.by_country, s.use_sender_id, &s.from)
    }

    /// The JSON `POST /sms/3/messages` takes for this SMS, `message_id` its destination's
    /// `messageId`.
    pub fn body(&self, sms: &SmsRequest, message_id: &str) -> serde_json::Value {
        let (amount, unit) = self.settings.validity_period();
        let mut body = json!({"messages": [{
            "sender": self.sender(sms),
            // Infobip writes numbers in international format without the `+`.
            "destinations": [{
                "to": sms.phone_number.as_str().trim_start_matches('+'),
                "messageId": message_id,
            }],
            // Infobip picks the encoding itself (GSM-7, or UCS-2 for other text).
            "content": {"text": sms.message.as_str()},
            "options": {"validityPeriod": {"amount": amount, "timeUnit": unit}},
        }]});
        // Reports are asked for only with a token to check them by (a fingerprint key).
        if let Some(url) = self.receipts.as_ref().and_then(Receipts::notify_url) {
            body["messages"][0]["webhooks"] = json!({
                "delivery": {"url": url},
                "contentType": "application/json",
            });
        }
        body
    }

    fn no_credentials(&self) -> String {
        if self.secret.secret_id().is_some() {
            "no Infobip API key: the gateway secret (GATEWAY_SECRET_ID) has no infobip_api_key, \
             and INFOBIP_API_KEY is not set"
                .into()
        } else {
            "no Infobip API key: set INFOBIP_API_KEY".into()
        }
    }
}

#[async_trait::async_trait]
impl rest::Rest for Infobip {
    type Credentials = Credentials;
    const LABEL: &'static str = "Infobip";

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
        // The gateway sets the key; a send without one (never the case in a request) gets its own.
        let message_id = sms
            .idempotency_key
            .clone()
            .unwrap_or_else(crate::domain::keys::unique_hex);
        let url = format!("{}/sms/3/messages", self.settings.base_url);
        let authorization = format!("App {}", credentials.api_key);
        let body = Body::Json(self.body(sms, &message_id));
        let request = rest::request(
            "Infobip",
            http::Method::POST,
            &url,
            Some(&authorization),
            body,
        )?;
        rest::exchange(&self.http, "Infobip", request, deadline).await
    }

    fn refuses_credentials(&self, answer: &Answer) -> bool {
        answers::refuses_credentials(answer)
    }

    fn outcome(&self, answer: Answer) -> Result<MessageId, ProviderError> {
        answers::outcome(answer)
    }
}

#[async_trait::async_trait]
impl SmsProvider for Infobip {
    fn name(&self) -> &'static str {
        NAME
    }

    fn min_send_time(&self) -> std::time::Duration {
        crate::adapters::net::MIN_SEND_TIME
    }

    async fn send(&self, sms: &SmsRequest, deadline: Instant) -> Result<MessageId, ProviderError> {
        rest::send_healing_rotation(self, sms, deadline, self.min_send_time()).await
    }

    /// The API key, and the fingerprint key of the receipts' token, may be in the gateway
    /// secret, or (the token's) in `FINGERPRINT_SECRET_ID`, read with it.
    fn starts_after_secret(&self) -> bool {
        self.secret.secret_id().is_some() || self.receipts.is_some()
    }

    /// Checks that there is a key to send with. Infobip's API keys are scoped, and no read on
    /// the SMS API is one every sending key may make, so the first send opens the connection.
    async fn start(&self) -> Result<(), String> {
        let secret_known = self.secret.secret_id().is_none() || self.secret.latest().is_some();
        if let Some(receipts) = &self.receipts
            && secret_known
            && receipts.notify_url().is_none()
        {
            tracing::error!(
                "Infobip receipts are on (INFOBIP_STATUS_CALLBACK_URL or RECEIPTS_BASE_URL), but there is no fingerprint key (fingerprint_key in the gateway secret, FINGERPRINT_SECRET_ID or FINGERPRINT_KEY): Infobip does not sign its reports, the gateway's token in their URL is made from that key, so sends ask for none until there is one"
            );
        }
        rest::credentials_at_start(self)
    }
}
