//! The `sns` provider: Amazon SNS `Publish` straight to a phone number.

use super::{MessageId, ProviderError, SmsProvider};
use crate::sms::{SenderId, SmsRequest};
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;

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

/// SNS settings from the environment (`SNS_SENDER_ID`, `SNS_ORIGINATION_NUMBER`, `SNS_SMS_TYPE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsSettings {
    pub sms_type: SmsType,
    /// Used when the request brings no usable sender id of its own.
    pub default_sender_id: Option<SenderId>,
    pub origination_number: Option<String>,
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

    async fn send(&self, sms: &SmsRequest) -> Result<MessageId, ProviderError> {
        let mut publish = self
            .client
            .publish()
            .phone_number(sms.phone_number.as_str())
            .message(sms.message.as_str())
            .message_attributes(
                "AWS.SNS.SMS.SMSType",
                attribute(self.settings.sms_type.as_str()),
            );
        let sender = sms
            .sender_id
            .as_ref()
            .or(self.settings.default_sender_id.as_ref());
        if let Some(sender) = sender {
            publish =
                publish.message_attributes("AWS.SNS.SMS.SenderID", attribute(sender.as_str()));
        }
        if let Some(number) = &self.settings.origination_number {
            publish = publish.message_attributes("AWS.MM.SMS.OriginationNumber", attribute(number));
        }
        let output = publish.send().await.map_err(classify)?;
        output
            .message_id
            .ok_or_else(|| ProviderError::unavailable("SNS answered without a MessageId"))
    }
}

/// Maps an SNS failure to what it means for Mosaic: a refused parameter or number is final (422);
/// throttling, server errors, timeouts and everything else may pass (502).
fn classify(err: SdkError<PublishError>) -> ProviderError {
    if let SdkError::ServiceError(service) = &err {
        let e = service.err();
        let refused = matches!(
            e,
            PublishError::InvalidParameterException(_)
                | PublishError::InvalidParameterValueException(_)
                | PublishError::EndpointDisabledException(_)
                | PublishError::ValidationException(_)
        );
        // Modelled errors carry their text in the error itself, raw ones in the metadata.
        let detail = e
            .message()
            .map(str::to_owned)
            .unwrap_or_else(|| e.to_string());
        let reason = format!("SNS {}: {detail}", e.code().unwrap_or("error"));
        return if refused {
            ProviderError::rejected(reason)
        } else {
            ProviderError::unavailable(reason)
        };
    }
    let kind = match &err {
        SdkError::TimeoutError(_) => "SNS timed out",
        SdkError::DispatchFailure(_) => "SNS could not be reached",
        _ => "SNS failed",
    };
    ProviderError::unavailable(format!("{kind}: {}", DisplayErrorContext(&err)))
}
