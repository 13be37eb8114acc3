//! The `http` provider: any SMS provider with an HTTP API, reached by a JSON description
//! (`HTTP_PROVIDER`, or the file `HTTP_PROVIDER_FILE` names) that says the request and what each
//! answer means. The at-most-once rule is the description's to declare: a `sent` status with a
//! readable id is sent, `refused` answers `422`, `not_sent` hands over to the next provider, and
//! every other status, a timeout or a lost connection may have sent (no other provider goes).
//!
//! * `template.rs`: the description's strings, compiled once: literal text and placeholders,
//!   each value encoded for where it stands (a JSON string, a form value, a URL);
//! * `settings.rs`: the description, read and checked at start-up;
//! * this file: the request and the send, on the provider kit ([`super::rest`]);
//! * `answers.rs`: every answer into the three outcomes, by the description's rules and lists.
//!
//! `{secret.FIELD}` values come from the gateway secret at each send (parsed once per read of
//! it); a 401 or 403 the description declares `not_sent` reads the secret again, once, as for
//! every provider whose credentials may be rotated.

mod answers;
mod settings;
mod template;

pub use answers::{Answers, Declared, Rule};
pub use settings::HttpSettings;

use super::rest::{self, Body};
use super::{BuildContext, BuildError, ProviderSetup};
use crate::adapters::net::{Answer, HttpClient};
use crate::adapters::secrets::{ApiKeys, SecretValue};
use crate::domain::outcome::{MessageId, ProviderError};
use crate::domain::ports::SmsProvider;
use crate::domain::sms::SmsRequest;
use crate::settings::{ConfigError, Env};
use settings::{BodyTemplate, JsonTemplate};
use std::sync::Arc;
use template::{Values, percent, plain};
use tokio::time::Instant;

/// The name `SMS_PROVIDER` uses; answers, logs and metrics use the description's `name`.
pub const NAME: &str = "http";

/// Registered in [`super::REGISTRY`] as `http`.
pub fn configure(env: &Env) -> Result<Box<dyn ProviderSetup>, ConfigError> {
    Ok(Box::new(HttpSettings::from_env(env)?))
}

impl ProviderSetup for HttpSettings {
    /// The registry's name, which the chains use to find it.
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, context: &BuildContext<'_>) -> Result<Box<dyn SmsProvider>, BuildError> {
        Ok(Box::new(HttpProvider::new(
            self.clone(),
            Arc::clone(context.secret),
            context.http.clone(),
        )))
    }
}

/// The values of the secret fields the description names, in its order. `Debug` shows none.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValues(Vec<String>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValues([redacted; {}])", self.0.len())
    }
}

/// The `http` provider, built once at start-up.
pub struct HttpProvider {
    settings: HttpSettings,
    secret: Arc<ApiKeys>,
    http: HttpClient,
    credentials: rest::Lookup<SecretValues>,
}

impl HttpProvider {
    pub fn new(settings: HttpSettings, secret: Arc<ApiKeys>, http: HttpClient) -> Self {
        let fields = settings.fields.0.clone();
        // A description without `{secret.*}` needs nothing of the secret: its (empty) values are
        // always there.
        let env = fields.is_empty().then(|| SecretValues(Vec::new()));
        Self {
            credentials: rest::Lookup::new(env, move |read: &SecretValue| {
                let mut values = Vec::with_capacity(fields.len());
                for field in &fields {
                    match read.field(field) {
                        Some(value) => values.push(value.to_owned()),
                        None => {
                            return Err(format!(
                                "the gateway secret has no {field} (HTTP_PROVIDER uses {{secret.{field}}})"
                            ));
                        }
                    }
                }
                Ok(Some(SecretValues(values)))
            }),
            settings,
            secret,
            http,
        }
    }

    /// `{sender}` for this SMS: the country's own sender, else the request's sender id when the
    /// settings allow it, else `HTTP_PROVIDER_FROM`.
    fn sender<'a>(&'a self, sms: &'a SmsRequest) -> &'a str {
        let Some(senders) = &self.settings.senders else {
            return "";
        };
        rest::sender_for(
            sms,
            &senders.by_country,
            senders.use_sender_id,
            &senders.from,
        )
    }

    /// The request for `sms`, with the secret's values.
    pub fn request(
        &self,
        sms: &SmsRequest,
        secrets: &SecretValues,
    ) -> Result<http::Request<aws_smithy_types::body::SdkBody>, ProviderError> {
        let s = &self.settings;
        let ttl = s.ttl.as_secs().to_string();
        let values = Values {
            to: sms.phone_number.as_str(),
            text: sms.message.as_str(),
            sender: self.sender(sms),
            reference: sms.idempotency_key.as_deref().unwrap_or(""),
            ttl_seconds: &ttl,
            secrets: &secrets.0,
        };
        let url = s.url.render(&values, percent);
        let authorization = s.basic_auth.as_ref().map(|(user, password)| {
            let pair = format!(
                "{}:{}",
                user.render(&values, plain),
                password.render(&values, plain)
            );
            format!("Basic {}", aws_smithy_types::base64::encode(pair))
        });
        let body = match &s.body {
            BodyTemplate::None => Body::Empty,
            BodyTemplate::Json(json) => Body::Json(render_json(json, &values, s.ttl.as_secs())),
            BodyTemplate::Form(form) => {
                let mut encoder = form_urlencoded::Serializer::new(String::new());
                for (key, value) in form {
                    encoder.append_pair(key, &value.render(&values, plain));
                }
                Body::Form(encoder.finish())
            }
        };
        let mut request = rest::request(
            s.name,
            s.method.clone(),
            &url,
            authorization.as_deref(),
            body,
        )?;
        for (name, value) in &s.headers {
            // A value from the secret that a header cannot hold (a newline): nothing was sent.
            let mut value = http::HeaderValue::from_str(&value.render(&values, plain)).map_err(|_| {
                ProviderError::misconfigured(format!(
                    "{}: the header {name} of HTTP_PROVIDER is not a valid header once filled in; check the secret fields it uses",
                    s.name
                ))
            })?;
            // Any of them may hold a credential: `Debug` of the request, here or in the client,
            // shows none.
            value.set_sensitive(true);
            request.headers_mut().insert(name.clone(), value);
        }
        Ok(request)
    }

    fn no_credentials(&self) -> String {
        format!(
            "{}: HTTP_PROVIDER uses {{secret.{}}}, and the gateway secret (GATEWAY_SECRET_ID) cannot be read yet",
            self.settings.name,
            self.settings.fields.0.first().map_or("", String::as_str)
        )
    }
}

fn render_json(json: &JsonTemplate, values: &Values<'_>, ttl_seconds: u64) -> serde_json::Value {
    match json {
        JsonTemplate::Fixed(value) => value.clone(),
        JsonTemplate::String(template) => template.render(values, plain).into(),
        JsonTemplate::TtlSeconds => ttl_seconds.into(),
        JsonTemplate::Array(items) => items
            .iter()
            .map(|i| render_json(i, values, ttl_seconds))
            .collect(),
        JsonTemplate::Object(members) => members
            .iter()
            .map(|(k, m)| (k.clone(), render_json(m, values, ttl_seconds)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

#[async_trait::async_trait]
impl rest::Rest for HttpProvider {
    type Credentials = SecretValues;
    const LABEL: &'static str = "The http provider";

    fn secret(&self) -> &ApiKeys {
        &self.secret
    }

    fn credentials(&self) -> &rest::Lookup<SecretValues> {
        &self.credentials
    }

    fn no_credentials(&self) -> String {
        self.no_credentials()
    }

    async fn post(
        &self,
        sms: &SmsRequest,
        secrets: &SecretValues,
        deadline: Instant,
    ) -> Result<Answer, ProviderError> {
        let name = self.settings.name;
        let request = self.request(sms, secrets)?;
        let answer = rest::exchange(&self.http, name, request, deadline).await?;
        // The name, the status, what it means and the masked number: never the URL as sent, a
        // header or a body (they hold secrets, the number or the passcode).
        tracing::info!(
            provider = name,
            status = answer.status,
            outcome = self.settings.answers.verdict(&answer).word(),
            phone = %sms.phone_number,
            "the http provider answered"
        );
        Ok(answer)
    }

    fn refuses_credentials(&self, answer: &Answer) -> bool {
        !self.settings.fields.0.is_empty() && self.settings.answers.refuses_credentials(answer)
    }

    fn outcome(&self, answer: Answer) -> Result<MessageId, ProviderError> {
        self.settings.answers.outcome(self.settings.name, &answer)
    }
}

#[async_trait::async_trait]
impl SmsProvider for HttpProvider {
    /// The description's `name`.
    fn name(&self) -> &'static str {
        self.settings.name
    }

    fn min_send_time(&self) -> std::time::Duration {
        crate::adapters::net::MIN_SEND_TIME
    }

    async fn send(&self, sms: &SmsRequest, deadline: Instant) -> Result<MessageId, ProviderError> {
        rest::send_healing_rotation(self, sms, deadline, self.min_send_time()).await
    }

    /// The `{secret.*}` values are in the gateway secret.
    fn starts_after_secret(&self) -> bool {
        !self.settings.fields.0.is_empty() && self.secret.secret_id().is_some()
    }

    /// Checks that the secret holds every field the description names. There is no harmless
    /// request to open the connection with (the description has one request: a send).
    async fn start(&self) -> Result<(), String> {
        match self.credentials.find(self.secret.latest().as_ref()) {
            Ok(Some(_)) => Ok(()),
            Err(problem) => {
                let secret = self.secret.secret_id().unwrap_or_default();
                Err(format!("{problem} (secret {secret})"))
            }
            // The secret could not be read yet (requests answer 503 until it can).
            Ok(None) => Ok(()),
        }
    }
}
