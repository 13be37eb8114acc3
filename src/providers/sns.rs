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
/// The default is what an empty environment gives: transactional, no sender id, no number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsSettings {
    pub sms_type: SmsType,
    /// Used when the request brings no usable sender id of its own.
    pub default_sender_id: Option<SenderId>,
    pub origination_number: Option<String>,
}

impl Default for SnsSettings {
    fn default() -> Self {
        Self {
            sms_type: SmsType::Transactional,
            default_sender_id: None,
            origination_number: None,
        }
    }
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
/// a client error from SNS (throttling, authorization) or a connection that never opened means the
/// message was not taken (502, and the next provider may try); a server error, a timeout or a
/// connection lost after the request went out means it may have been (502, and no other provider
/// tries).
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
        // A server error can come after SNS took the message; a client error (throttling, auth)
        // means it did not.
        let server_error = matches!(e, PublishError::InternalErrorException(_))
            || service.raw().status().is_server_error();
        return if refused {
            ProviderError::rejected(reason)
        } else if server_error {
            ProviderError::indeterminate(reason)
        } else {
            ProviderError::unavailable(reason)
        };
    }
    let detail = DisplayErrorContext(&err);
    match &err {
        SdkError::ConstructionFailure(_) => {
            ProviderError::unavailable(format!("SNS request could not be built: {detail}"))
        }
        SdkError::DispatchFailure(_) if never_connected(&err) => {
            ProviderError::unavailable(format!("SNS could not be reached: {detail}"))
        }
        SdkError::TimeoutError(_) => {
            ProviderError::indeterminate(format!("SNS did not answer in time: {detail}"))
        }
        _ => ProviderError::indeterminate(format!("SNS connection failed: {detail}")),
    }
}

/// Whether a dispatch failure happened before any byte of the request left: a connect timeout, or
/// a refused connection.
fn never_connected(err: &SdkError<PublishError>) -> bool {
    let SdkError::DispatchFailure(failure) = err else {
        return false;
    };
    let Some(connector) = failure.as_connector_error() else {
        return false;
    };
    // The client sets a connect timeout and no read timeout, so a timeout here is the connect one.
    if connector.is_timeout() {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(connector);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = err.source();
    }
    false
}
