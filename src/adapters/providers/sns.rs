//! The `sns` provider: Amazon SNS `Publish` straight to a phone number.

use super::{BuildContext, BuildError, ProviderSetup};
use crate::adapters::aws::ServiceErrors;
use crate::domain::country::Country;
use crate::domain::outcome::{MessageId, ProviderError};
use crate::domain::ports::SmsProvider;
use crate::domain::sms::{PhoneNumber, SenderId, SmsRequest};
use crate::settings::{ConfigError, Env};
use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use std::collections::HashMap;
use tokio::time::Instant;

/// SNS's `AWS.SNS.SMS.SMSType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsType {
    /// Critical messages such as passcodes: highest delivery reliability.
    Transactional,
    Promotional,
}

impl SmsType {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "Transactional" => Some(Self::Transactional),
            "Promotional" => Some(Self::Promotional),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Transactional => "Transactional",
            Self::Promotional => "Promotional",
        }
    }
}

/// Whose sender id SNS uses when both Mosaic's request and `SNS_SENDER_ID` have one
/// (`SENDER_ID_SOURCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderIdSource {
    /// The request's valid `sender_id` wins; `SNS_SENDER_ID` is the fallback.
    Request,
    /// `SNS_SENDER_ID` wins; the request's is used only when none is configured. The default:
    /// where sender ids must be registered, only the operator's is, and another gets blocked.
    Config,
}

/// SNS settings from the environment (`SNS_SENDER_ID`, `SNS_ORIGINATION_NUMBER`, `SNS_SMS_TYPE`).
/// The default is what an empty environment gives: transactional, no sender id, no number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsSettings {
    pub sms_type: SmsType,
    /// Used when the request brings no usable sender id of its own.
    pub default_sender_id: Option<SenderId>,
    pub origination_number: Option<String>,
    pub sender_id_source: SenderIdSource,
    /// `SENDER_BY_COUNTRY`: the sender for numbers in these countries, instead of the default one.
    pub by_country: HashMap<Country, LocalSender>,
}

/// A country's own SNS sender: an origination number (`+...`) or a sender id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSender {
    Number(String),
    Id(SenderId),
}

impl Default for SnsSettings {
    fn default() -> Self {
        Self {
            sms_type: SmsType::Transactional,
            default_sender_id: None,
            origination_number: None,
            sender_id_source: SenderIdSource::Config,
            by_country: HashMap::new(),
        }
    }
}

impl SnsSettings {
    /// `SNS_SMS_TYPE`, `SNS_SENDER_ID`, `SNS_ORIGINATION_NUMBER`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let sms_type = match env.optional("SNS_SMS_TYPE") {
            None => SmsType::Transactional,
            Some(raw) => SmsType::parse(&raw).ok_or_else(|| {
                ConfigError::invalid(
                    "SNS_SMS_TYPE",
                    format!("must be Transactional or Promotional, got {raw:?}"),
                )
            })?,
        };
        let default_sender_id = match env.optional("SNS_SENDER_ID") {
            None => None,
            Some(raw) => Some(SenderId::parse(&raw).ok_or_else(|| {
                ConfigError::invalid(
                    "SNS_SENDER_ID",
                    format!(
                        "must be 3 to 11 letters and digits with at least one letter, got {raw:?}"
                    ),
                )
            })?),
        };
        let origination_number = match env.optional("SNS_ORIGINATION_NUMBER") {
            None => None,
            Some(raw) => Some(
                PhoneNumber::parse(&raw)
                    .map_err(|_| {
                        ConfigError::invalid(
                            "SNS_ORIGINATION_NUMBER",
                            "must be an E.164 phone number (+ and 7 to 15 digits)",
                        )
                    })?
                    .as_str()
                    .to_owned(),
            ),
        };
        let sender_id_source = match env.optional("SENDER_ID_SOURCE").as_deref() {
            None | Some("config") => SenderIdSource::Config,
            Some("request") => SenderIdSource::Request,
            Some(other) => {
                return Err(ConfigError::invalid(
                    "SENDER_ID_SOURCE",
                    format!("must be request or config, got {other:?}"),
                ));
            }
        };
        let mut by_country = HashMap::new();
        for (country, sender) in crate::domain::country::senders_for("sns", env)? {
            let local = if sender.starts_with('+') {
                PhoneNumber::parse(&sender)
                    .map(|n| LocalSender::Number(n.as_str().to_owned()))
                    .ok()
            } else {
                SenderId::parse(&sender).map(LocalSender::Id)
            };
            let local = local.ok_or_else(|| {
                ConfigError::invalid(
                    "SENDER_BY_COUNTRY",
                    format!(
                        "{country}: {sender:?} is neither an E.164 origination number nor a sender id (3 to 11 letters and digits)"
                    ),
                )
            })?;
            by_country.insert(country, local);
        }
        Ok(Self {
            sms_type,
            default_sender_id,
            origination_number,
            sender_id_source,
            by_country,
        })
    }
}

/// Registered in [`super::REGISTRY`] as `sns`.
pub fn configure(env: &Env) -> Result<Box<dyn ProviderSetup>, ConfigError> {
    Ok(Box::new(SnsSettings::from_env(env)?))
}

impl ProviderSetup for SnsSettings {
    fn name(&self) -> &'static str {
        "sns"
    }

    fn uses_aws(&self) -> bool {
        true
    }

    fn build(&self, context: &BuildContext<'_>) -> Result<Box<dyn SmsProvider>, BuildError> {
        let sdk = context.aws.ok_or(crate::adapters::aws::NoRegion)?;
        Ok(Box::new(Sns::new(client(sdk), self.clone())))
    }
}

/// The SNS client, with no retries: `Publish` has no idempotency token, and the SDK's retry rules
/// also retry failures that can come after SNS took the message (a lost or unreadable answer), so a
/// retry could send the passcode twice. A failed send is answered 502, and Mosaic sends again.
pub fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::config::Builder::from(sdk)
        .timeout_config(crate::adapters::aws::send_timeouts())
        .retry_config(crate::adapters::aws::send_retries())
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

pub struct Sns {
    client: aws_sdk_sns::Client,
    settings: SnsSettings,
}

impl Sns {
    pub fn new(client: aws_sdk_sns::Client, settings: SnsSettings) -> Self {
        Self { client, settings }
    }
}

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data_type is set")
}

#[async_trait::async_trait]
impl SmsProvider for Sns {
    fn name(&self) -> &'static str {
        "sns"
    }

    fn min_send_time(&self) -> std::time::Duration {
        crate::adapters::net::MIN_SEND_TIME
    }

    async fn send(&self, sms: &SmsRequest, _deadline: Instant) -> Result<MessageId, ProviderError> {
        let mut publish = self
            .client
            .publish()
            .phone_number(sms.phone_number.as_str())
            .message(sms.message.as_str())
            .message_attributes(
                "AWS.SNS.SMS.SMSType",
                attribute(self.settings.sms_type.as_str()),
            );
        // A country's own sender replaces the default sender (id and number) for its numbers.
        let local = sms.country.and_then(|c| self.settings.by_country.get(&c));
        let (configured, origination_number) = match local {
            Some(LocalSender::Id(id)) => (Some(id), None),
            Some(LocalSender::Number(number)) => (None, Some(number)),
            None => (
                self.settings.default_sender_id.as_ref(),
                self.settings.origination_number.as_ref(),
            ),
        };
        // A country's own sender wins over the request's too.
        let requested = sms.sender_id.as_ref().filter(|_| local.is_none());
        let sender = match self.settings.sender_id_source {
            SenderIdSource::Request => requested.or(configured),
            SenderIdSource::Config => configured.or(requested),
        };
        if let Some(sender) = sender {
            publish =
                publish.message_attributes("AWS.SNS.SMS.SenderID", attribute(sender.as_str()));
        }
        if let Some(number) = origination_number {
            publish = publish.message_attributes("AWS.MM.SMS.OriginationNumber", attribute(number));
        }
        let output = publish.send().await.map_err(classify)?;
        crate::domain::outcome::accepted("SNS", output.message_id)
    }

    /// A cheap read at start-up: it opens the TLS connection (in Lambda during init, so the first
    /// passcode does not pay a handshake) and says whether the account can reach anyone at all.
    async fn start(&self) -> Result<(), String> {
        match self.client.get_sms_sandbox_account_status().send().await {
            Ok(status) if status.is_in_sandbox() => tracing::warn!(
                "the AWS account is in the SNS SMS sandbox: only verified phone numbers receive SMS \
                 (SNS console, Text messaging (SMS), Exit SMS sandbox)"
            ),
            Ok(_) => {
                tracing::debug!("SNS connection opened; the account is out of the SMS sandbox")
            }
            Err(err) => tracing::warn!(
                error = %crate::adapters::aws::error_line(&err),
                "cannot read the SNS SMS sandbox status (sns:GetSMSSandboxAccountStatus)"
            ),
        }
        Ok(())
    }
}

/// SNS answers `InvalidParameter` both for a bad recipient and for our own bad set-up (an attribute
/// it refuses, an origination number the account does not own): only one about the phone number
/// refuses the recipient for good.
fn about_the_recipient(e: &PublishError) -> bool {
    // Parsed answers carry the text in the metadata, modelled errors built by hand in themselves.
    e.message().is_some_and(|m| m.contains("PhoneNumber")) || e.to_string().contains("PhoneNumber")
}

fn a_refused_parameter(e: &PublishError) -> bool {
    matches!(
        e,
        PublishError::InvalidParameterException(_)
            | PublishError::InvalidParameterValueException(_)
            | PublishError::ValidationException(_)
    )
}

/// SNS's errors (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors):
/// a refused phone number is final (it is not a number any provider can send to); a refused
/// parameter of ours or a permission we lack is our set-up; its internal error may come after it
/// took the message. `EndpointDisabled` is about mobile push endpoints, not a phone number: if SNS
/// ever answers it to an SMS, it is a certain non-send another provider may deliver.
const ERRORS: ServiceErrors<PublishError> = ServiceErrors {
    service: "SNS",
    refused: |e| a_refused_parameter(e) && about_the_recipient(e),
    misconfigured: |e| {
        (a_refused_parameter(e) && !about_the_recipient(e))
            || matches!(
                e,
                PublishError::AuthorizationErrorException(_)
                    | PublishError::KmsAccessDeniedException(_)
                    | PublishError::KmsDisabledException(_)
                    | PublishError::KmsNotFoundException(_)
            )
    },
    server_fault: |e| matches!(e, PublishError::InternalErrorException(_)),
};

fn classify(err: aws_sdk_sns::error::SdkError<PublishError>) -> ProviderError {
    ERRORS.classify(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<SnsSettings, ConfigError> {
        crate::settings::in_lambda_env(vars, SnsSettings::from_env)
    }

    #[test]
    fn settings_are_read_and_checked() {
        assert_eq!(settings(&[]).unwrap(), SnsSettings::default());
        assert_eq!(
            settings(&[
                ("SNS_SENDER_ID", "Acme"),
                ("SNS_ORIGINATION_NUMBER", "+18005550100"),
                ("SNS_SMS_TYPE", "Promotional"),
            ])
            .unwrap(),
            SnsSettings {
                sms_type: SmsType::Promotional,
                default_sender_id: SenderId::parse("Acme"),
                origination_number: Some("+18005550100".into()),
                sender_id_source: SenderIdSource::Config,
                by_country: HashMap::new(),
            }
        );
        let problem = |vars: &[(&str, &str)]| settings(vars).unwrap_err().to_string();
        assert_eq!(
            problem(&[("SNS_SMS_TYPE", "transactional")]),
            "SNS_SMS_TYPE must be Transactional or Promotional, got \"transactional\""
        );
        assert!(problem(&[("SNS_SENDER_ID", "My Bank")]).starts_with("SNS_SENDER_ID must be"));
        assert!(problem(&[("SENDER_ID_SOURCE", "mosaic")]).starts_with("SENDER_ID_SOURCE must be"));
        assert_eq!(
            settings(&[("SENDER_ID_SOURCE", "request")])
                .unwrap()
                .sender_id_source,
            SenderIdSource::Request
        );
        assert!(
            problem(&[("SNS_ORIGINATION_NUMBER", "555-0100")])
                .starts_with("SNS_ORIGINATION_NUMBER must be an E.164")
        );
    }
}
