//! What the `sns` provider asks SNS for, checked on the SDK's own request (aws-smithy-mocks): moto
//! keeps no message attributes. And how SNS's failures map to 422 and 502.

use crate::support::far_deadline;
use aws_sdk_sns::Client;
use aws_sdk_sns::config::retry::RetryConfig;
use aws_sdk_sns::operation::publish::{PublishError, PublishInput, PublishOutput};
use aws_sdk_sns::types::error::{InternalErrorException, InvalidParameterException};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use mosaic_sms_gateway::adapters::providers::sns::{SenderIdSource, SmsType, Sns, SnsSettings};
use mosaic_sms_gateway::domain::country::Country;
use mosaic_sms_gateway::domain::outcome::ProviderError;
use mosaic_sms_gateway::domain::ports::SmsProvider;
use mosaic_sms_gateway::domain::sms::{SenderId, SmsRequest};
use mosaic_sms_gateway::settings::{Env, Host};
use serde_json::json;
use std::sync::{Arc, Mutex};

fn sms(sender_id: &str) -> SmsRequest {
    SmsRequest::from_json(&json!({
        "phone_number": "+447700900123", "sender_id": sender_id, "message": "Your code is 424242"
    }))
    .unwrap()
}

fn settings() -> SnsSettings {
    SnsSettings::default()
}

/// Publishes `sms` with `settings` and returns the input SNS received.
async fn published(settings: SnsSettings, sms: SmsRequest) -> PublishInput {
    let seen: Arc<Mutex<Vec<PublishInput>>> = Arc::default();
    let record = seen.clone();
    let rule = mock!(Client::publish)
        .match_requests(move |input| {
            record.lock().unwrap().push(input.clone());
            true
        })
        .then_output(|| PublishOutput::builder().message_id("mid-1").build());
    let client: Client = mock_client!(aws_sdk_sns, [&rule]);
    let id = Sns::new(client, settings)
        .send(&sms, far_deadline())
        .await
        .unwrap();
    assert_eq!(id, "mid-1");
    let mut seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    seen.pop().unwrap()
}

fn attribute<'a>(input: &'a PublishInput, name: &str) -> Option<&'a str> {
    let value = input.message_attributes()?.get(name)?;
    assert_eq!(value.data_type(), "String");
    value.string_value()
}

#[tokio::test]
async fn publishes_to_the_phone_number_as_transactional() {
    let input = published(settings(), sms("")).await;
    assert_eq!(input.phone_number(), Some("+447700900123"));
    assert_eq!(input.message(), Some("Your code is 424242"));
    assert_eq!(input.topic_arn(), None);
    assert_eq!(input.target_arn(), None);
    assert_eq!(
        attribute(&input, "AWS.SNS.SMS.SMSType"),
        Some("Transactional")
    );
    assert_eq!(attribute(&input, "AWS.SNS.SMS.SenderID"), None);
    assert_eq!(attribute(&input, "AWS.MM.SMS.OriginationNumber"), None);
}

#[tokio::test]
async fn the_configured_sender_id_wins_unless_the_request_is_asked_to() {
    let operators = SnsSettings {
        default_sender_id: SenderId::parse("Fallback"),
        ..SnsSettings::default()
    };
    let input = published(operators.clone(), sms("Acme")).await;
    assert_eq!(attribute(&input, "AWS.SNS.SMS.SenderID"), Some("Fallback"));
    // With no sender id of its own, the request's is used.
    let input = published(SnsSettings::default(), sms("Acme")).await;
    assert_eq!(attribute(&input, "AWS.SNS.SMS.SenderID"), Some("Acme"));
}

#[tokio::test]
async fn the_requests_sender_id_wins_over_the_configured_one() {
    let configured = SnsSettings {
        sms_type: SmsType::Promotional,
        default_sender_id: SenderId::parse("Fallback"),
        origination_number: Some("+18005550100".into()),
        sender_id_source: SenderIdSource::Request,
        by_country: Default::default(),
    };
    let input = published(configured.clone(), sms("Acme")).await;
    assert_eq!(attribute(&input, "AWS.SNS.SMS.SenderID"), Some("Acme"));
    assert_eq!(
        attribute(&input, "AWS.SNS.SMS.SMSType"),
        Some("Promotional")
    );
    assert_eq!(
        attribute(&input, "AWS.MM.SMS.OriginationNumber"),
        Some("+18005550100")
    );

    // Not a valid alphanumeric sender id: the configured one is used.
    let input = published(configured.clone(), sms("Acme Bank Ltd")).await;
    assert_eq!(attribute(&input, "AWS.SNS.SMS.SenderID"), Some("Fallback"));
    let input = published(configured, sms("")).await;
    assert_eq!(attribute(&input, "AWS.SNS.SMS.SenderID"), Some("Fallback"));
}

async fn failure(rule: aws_smithy_mocks::Rule) -> ProviderError {
    let client: Client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&rule], |c| {
        c.retry_config(RetryConfig::disabled())
    });
    Sns::new(client, settings())
        .send(&sms("Acme"), far_deadline())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn refused_parameters_are_rejections() {
    let err = failure(mock!(Client::publish).then_error(|| {
        PublishError::InvalidParameterException(
            InvalidParameterException::builder()
                .message("Invalid parameter: PhoneNumber Reason: +447700900123 is not valid to publish to")
                .build(),
        )
    }))
    .await;
    let ProviderError::Rejected { reason } = err else {
        panic!("expected a rejection, got {err:?}");
    };
    assert!(reason.contains("not valid to publish to"), "{reason}");
}

#[tokio::test]
async fn a_refused_parameter_of_ours_is_our_set_up_not_the_recipient() {
    let err = failure(mock!(Client::publish).then_error(|| {
        PublishError::InvalidParameterException(
            InvalidParameterException::builder()
                .message("Invalid parameter: MessageAttributes Reason: AWS.MM.SMS.OriginationNumber is not owned by this account")
                .build(),
        )
    }))
    .await;
    assert!(
        matches!(err, ProviderError::Misconfigured { .. }),
        "{err:?}"
    );
    let err = failure(mock!(Client::publish).then_error(|| {
        PublishError::AuthorizationErrorException(
            aws_sdk_sns::types::error::AuthorizationErrorException::builder()
                .message("not authorized to perform SNS:Publish")
                .build(),
        )
    }))
    .await;
    assert!(
        matches!(err, ProviderError::Misconfigured { .. }),
        "{err:?}"
    );
    assert!(err.certainly_not_sent(), "the next provider may go");
}

#[tokio::test]
async fn server_errors_may_have_sent_and_throttling_has_not() {
    let err = failure(mock!(Client::publish).then_error(|| {
        PublishError::InternalErrorException(
            InternalErrorException::builder().message("oops").build(),
        )
    }))
    .await;
    assert!(
        matches!(err, ProviderError::Indeterminate { .. }),
        "{err:?}"
    );

    let unavailable = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try later</Message></Error><RequestId>r-0</RequestId></ErrorResponse>"#;
    let err = failure(mock!(Client::publish).then_http_response(move || {
        aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(503).unwrap(),
            SdkBody::from(unavailable),
        )
    }))
    .await;
    assert!(
        matches!(err, ProviderError::Indeterminate { .. }),
        "{err:?}"
    );

    // SNS's throttling answer is not a modelled error of Publish: it arrives as raw XML.
    let throttled = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#;
    let err = failure(mock!(Client::publish).then_http_response(move || {
        aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(throttled),
        )
    }))
    .await;
    let ProviderError::Unavailable { reason } = err else {
        panic!("expected a retryable failure, got {err:?}");
    };
    assert!(reason.contains("Throttling"), "{reason}");
}

#[tokio::test]
async fn a_countrys_own_sender_replaces_the_default_one() {
    let lookup = |name: &str| match name {
        "SNS_SENDER_ID" => Some("Fallback".to_owned()),
        "SNS_ORIGINATION_NUMBER" => Some("+18005550100".to_owned()),
        "SENDER_BY_COUNTRY" => {
            Some(r#"{"GB": "AcmeUK", "CA": {"sns": "+14165550199", "twilio": "MG1"}}"#.to_owned())
        }
        _ => None,
    };
    let env = Env::new(Host::Lambda, &lookup);
    let settings = SnsSettings::from_env(&env).unwrap();
    let in_country = |phone: &str| {
        // With a sender id of its own, which a country's sender still replaces.
        let mut sms = SmsRequest::from_json(
            &json!({"phone_number": phone, "sender_id": "Acme", "message": "code 1"}),
        )
        .unwrap();
        sms.country = Country::of(&sms.phone_number);
        sms
    };

    let uk = published(settings.clone(), in_country("+447400123456")).await;
    assert_eq!(attribute(&uk, "AWS.SNS.SMS.SenderID"), Some("AcmeUK"));
    assert_eq!(attribute(&uk, "AWS.MM.SMS.OriginationNumber"), None);

    // +1 416 is Canada, not the US: its own number, and no sender id.
    let canada = published(settings.clone(), in_country("+14165550100")).await;
    assert_eq!(
        attribute(&canada, "AWS.MM.SMS.OriginationNumber"),
        Some("+14165550199")
    );
    assert_eq!(attribute(&canada, "AWS.SNS.SMS.SenderID"), None);

    let us = published(settings, in_country("+14155550100")).await;
    assert_eq!(attribute(&us, "AWS.SNS.SMS.SenderID"), Some("Fallback"));
    assert_eq!(
        attribute(&us, "AWS.MM.SMS.OriginationNumber"),
        Some("+18005550100")
    );
}

#[test]
fn a_country_sender_sns_cannot_use_stops_start_up() {
    let lookup =
        |name: &str| (name == "SENDER_BY_COUNTRY").then(|| r#"{"GB": "Acme Bank Ltd"}"#.to_owned());
    let err = SnsSettings::from_env(&Env::new(Host::Lambda, &lookup)).unwrap_err();
    assert!(
        err.to_string().starts_with("SENDER_BY_COUNTRY GB:"),
        "{err}"
    );
}
