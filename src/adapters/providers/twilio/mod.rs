//! The `twilio` provider: Twilio's Programmable Messaging API, `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
//!
//! Credentials come from the gateway secret (read with the API keys, under the same cache, so a
//! rotated token needs no redeploy) or, for local use, from the environment. The HTTP client is the
//! SDK's own hyper + rustls connector, built once; its connection is opened at start-up.
//!
//! A request is never retried here: Twilio's API has no idempotency key, so a retry after a lost
//! answer could deliver the passcode twice. Twilio's answer decides the outcome (see [`classify`]).
//!
//! One file for each thing a provider is, in the order they are met:
//! * `settings.rs`: what the environment sets (`from_env`), checked at start-up;
//! * `credentials.rs`: the credentials, and the one lookup that picks the secret's or the
//!   environment's for a send;
//! * this file: the provider itself, its request and its send (with the one resend a rotated
//!   token allows) and the start-up check;
//! * `answers.rs`: every answer into the three outcomes;
//! * `callbacks.rs`: Twilio's status callbacks, which come the other way and never send.

mod answers;
mod callbacks;
mod credentials;
mod settings;

pub use answers::classify;
pub use callbacks::{StatusCallbacks, Verdict, signature};
pub use credentials::Credentials;
pub use credentials::secret_check;
pub use settings::{DEFAULT_API_BASE, STATUS_PATH, Sender, TwilioSettings, status_callback_url};

use answers::{outcome, refuses_credentials};

use super::rest::{self, Body};
use super::{BuildContext, BuildError, ProviderSetup};
use crate::adapters::net::{Answer, HttpClient};
use crate::adapters::secrets::ApiKeys;
use crate::domain::outcome::{MessageId, ProviderError};
use crate::domain::ports::SmsProvider;
use crate::domain::sms::SmsRequest;
use crate::settings::{ConfigError, Env};
use aws_smithy_types::body::SdkBody;
use std::sync::Arc;
use tokio::time::Instant;

/// Registered in [`super::REGISTRY`] as `twilio`.
pub fn configure(env: &Env) -> Result<Box<dyn ProviderSetup>, ConfigError> {
    Ok(Box::new(TwilioSettings::from_env(env)?))
}

impl ProviderSetup for TwilioSettings {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn build(&self, context: &BuildContext<'_>) -> Result<Box<dyn SmsProvider>, BuildError> {
        Ok(Box::new(Twilio::new(
            self.clone(),
            Arc::clone(context.secret),
            context.http.clone(),
        )))
    }
}

/// The `twilio` provider, built once at start-up from its settings, the gateway secret and the
/// shared HTTP client.
pub struct Twilio {
    settings: TwilioSettings,
    secret: Arc<ApiKeys>,
    http: HttpClient,
    credentials: credentials::Lookup,
}

impl Twilio {
    pub fn new(settings: TwilioSettings, secret: Arc<ApiKeys>, http: HttpClient) -> Self {
        Self {
            credentials: credentials::lookup_with(settings.env_credentials.clone()),
            settings,
            secret,
            http,
        }
    }

    /// Why there are no credentials. Sent to Mosaic in a 502 as well as logged, so it names the
    /// secret only by its variable: its ARN would tell the account and the secret's name.
    fn no_credentials(&self) -> String {
        if self.secret.secret_id().is_some() {
            "no Twilio credentials: the gateway secret (GATEWAY_SECRET_ID) has no \
             twilio_account_sid and twilio_auth_token (or twilio_api_key_sid and \
             twilio_api_key_secret), and TWILIO_ACCOUNT_SID is not set"
                .into()
        } else {
            "no Twilio credentials: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN".into()
        }
    }

    fn url(&self, credentials: &Credentials, resource: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{resource}",
            self.settings.api_base, credentials.account_sid
        )
    }

    /// The callback URL to ask Twilio for, when callbacks can be checked: Twilio signs them with
    /// the account's auth token, which a set-up sending with an API key may not have given.
    fn status_callback(&self) -> Option<&str> {
        let url = self.settings.status_callback.as_deref()?;
        let token = self.settings.env_auth_token
            || self
                .secret
                .latest()
                .is_some_and(|s| s.field("twilio_auth_token").is_some());
        token.then_some(url)
    }

    /// The form Twilio's `Messages.json` takes for this SMS.
    pub fn form(&self, sms: &SmsRequest) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", sms.phone_number.as_str());
        form.append_pair("Body", sms.message.as_str());
        // A country's own sender replaces the default one for its numbers, and wins over the
        // request's sender id (a country with a local number may not take alphanumeric senders).
        let local = sms.country.and_then(|c| self.settings.by_country.get(&c));
        let request_sender = sms
            .sender_id
            .as_ref()
            .filter(|_| self.settings.use_sender_id && local.is_none());
        let sender = local.unwrap_or(&self.settings.sender);
        match (sender, request_sender) {
            // With a Messaging Service, a `From` picks that sender from the service's pool.
            (Sender::MessagingService(sid), Some(sender_id)) => {
                form.append_pair("MessagingServiceSid", sid);
                form.append_pair("From", sender_id.as_str());
            }
            (Sender::MessagingService(sid), None) => {
                form.append_pair("MessagingServiceSid", sid);
            }
            (Sender::From(_), Some(sender_id)) => {
                form.append_pair("From", sender_id.as_str());
            }
            (Sender::From(from), None) => {
                form.append_pair("From", from);
            }
        }
        form.append_pair(
            "ValidityPeriod",
            &self.settings.validity.as_secs().to_string(),
        );
        if let Some(url) = self.status_callback() {
            form.append_pair("StatusCallback", url);
        }
        form.finish()
    }

    fn request(
        &self,
        method: http::Method,
        url: &str,
        credentials: &Credentials,
        body: Body,
    ) -> Result<http::Request<SdkBody>, ProviderError> {
        rest::request("Twilio", method, url, Some(&credentials.basic_auth()), body)
    }
}

#[async_trait::async_trait]
impl rest::Rest for Twilio {
    type Credentials = Credentials;
    const LABEL: &'static str = "Twilio";

    fn secret(&self) -> &ApiKeys {
        &self.secret
    }

    fn credentials(&self) -> &credentials::Lookup {
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
        let url = self.url(credentials, "Messages.json");
        let form = Body::Form(self.form(sms));
        let request = self.request(http::Method::POST, &url, credentials, form)?;
        rest::exchange(&self.http, "Twilio", request, deadline).await
    }

    /// Twilio authenticates before it creates a message: a refusal of the credentials sent
    /// nothing, and the token may have been rotated since the secret was last read.
    fn refuses_credentials(&self, answer: &Answer) -> bool {
        refuses_credentials(answer)
    }

    fn outcome(&self, answer: Answer) -> Result<MessageId, ProviderError> {
        outcome(answer)
    }
}

#[async_trait::async_trait]
impl SmsProvider for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
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

    async fn start(&self) -> Result<(), String> {
        if self.settings.status_callback.is_some()
            && self.secret.latest().is_some()
            && self.status_callback().is_none()
        {
            tracing::error!(
                "TWILIO_STATUS_CALLBACK_URL is set, but the gateway secret has no twilio_auth_token (nor is TWILIO_AUTH_TOKEN set): Twilio signs its status callbacks with the account's auth token, so sends ask for none until the secret holds it"
            );
        }
        let credentials = match self.credentials.find(self.secret.latest().as_ref())? {
            Some(found) => found.credentials,
            // The secret could not be read yet (requests answer 503 until it can): the
            // credentials come with it.
            None if self.secret.secret_id().is_some() && self.secret.latest().is_none() => {
                return Ok(());
            }
            None => {
                let secret = self.secret.secret_id().unwrap_or_default();
                return Err(format!("{} (secret {secret})", self.no_credentials()));
            }
        };
        // A harmless read (the balance holds nothing secret) that checks the credentials and
        // leaves an open TLS connection in the pool for the first passcode.
        let url = self.url(&credentials, "Balance.json");
        let request = self
            .request(http::Method::GET, &url, &credentials, Body::Empty)
            .map_err(|e| e.to_string())?;
        match self.http.exchange(request, rest::WARM_UP_TIMEOUT).await {
            Ok(answer) if answer.status == 200 => {
                tracing::debug!("Twilio connection opened; credentials accepted")
            }
            // A restricted API key may send messages yet not read the balance: not an error.
            Ok(answer) if answer.status == 403 => tracing::warn!(
                "Twilio refused the start-up read of the balance (403); a restricted API key may \
                 still send messages"
            ),
            Ok(answer) => {
                let err = classify(answer.status, &answer.body);
                tracing::error!(
                    status = answer.status,
                    reason = err.reason(),
                    "Twilio refused the start-up check; sends will fail until this is fixed"
                );
            }
            Err(err) => tracing::warn!(
                error = %err,
                "no answer from Twilio at start-up; the first send will try again"
            ),
        }
        Ok(())
    }
}
