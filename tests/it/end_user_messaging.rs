//! The `end-user-messaging` provider: its `SendTextMessage` request and error mapping on the SDK's
//! own request (aws-smithy-mocks; moto has no `pinpoint-sms-voice-v2`), and the whole gateway, as a
//! process, against a stand-in of the service's JSON protocol on loopback with SNS (moto) next.

use crate::process::*;
use crate::support::*;
use aws_sdk_pinpointsmsvoicev2::Client;
use aws_sdk_pinpointsmsvoicev2::config::retry::RetryConfig;
use aws_sdk_pinpointsmsvoicev2::operation::send_text_message::{
    SendTextMessageError, SendTextMessageInput, SendTextMessageOutput,
};
use aws_sdk_pinpointsmsvoicev2::types::error::{
    AccessDeniedException, ConflictException, InternalServerException, ResourceNotFoundException,
    ServiceQuotaExceededException, ThrottlingException, ValidationException,
};
use aws_sdk_pinpointsmsvoicev2::types::{
    ConflictExceptionReason, MessageType, ValidationExceptionReason,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use mosaic_sms_gateway::adapters::providers::end_user_messaging::{EndUserMessaging, EumSettings};
use mosaic_sms_gateway::domain::country::Country;
use mosaic_sms_gateway::domain::outcome::ProviderError;
use mosaic_sms_gateway::domain::ports::SmsProvider;
use mosaic_sms_gateway::domain::sms::SmsRequest;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn sms() -> SmsRequest {
    SmsRequest::from_json(&json!({
        "phone_number": "+447700900123", "sender_id": "Acme", "message": "Your code is 424242"
    }))
    .unwrap()
}

fn every_setting() -> EumSettings {
    EumSettings {
        origination_identity: "arn:aws:sms-voice:eu-west-2:111122223333:phone-number/phone-0123"
            .into(),
        configuration_set: Some("otp-events".into()),
        protect_configuration_id: Some("protect-0123456789".into()),
        max_price: Some("0.05".into()),
        time_to_live: Duration::from_secs(300),
        by_country: [(Country::parse("DE").unwrap(), "pool-de".to_owned())].into(),
        function_name: Some("stack-gateway".into()),
    }
}

/// Sends `sms` with `settings`: the provider's message id, and the request AWS got.
async fn sent(settings: EumSettings, sms: SmsRequest) -> (String, SendTextMessageInput) {
    let seen: Arc<Mutex<Vec<SendTextMessageInput>>> = Arc::default();
    let record = seen.clone();
    let rule = mock!(Client::send_text_message)
        .match_requests(move |input| {
            record.lock().unwrap().push(input.clone());
            true
        })
        .then_output(|| SendTextMessageOutput::builder().message_id("mid-7").build());
    let client: Client = mock_client!(aws_sdk_pinpointsmsvoicev2, [&rule]);
    let id = EndUserMessaging::new(client, settings)
        .send(&sms, far_deadline())
        .await
        .unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    (id, input)
}

async fn origination_identity(settings: EumSettings, sms: SmsRequest) -> String {
    let (_, input) = sent(settings, sms).await;
    input.origination_identity().unwrap().to_owned()
}

#[tokio::test]
async fn a_countrys_own_origination_identity_replaces_the_default_one() {
    let mut german = SmsRequest::from_json(&json!({
        "phone_number": "+4915112345678", "message": "Your code is 424242"
    }))
    .unwrap();
    german.country = Country::of(&german.phone_number);
    assert_eq!(
        origination_identity(every_setting(), german).await,
        "pool-de"
    );
    let mut british = sms();
    british.country = Country::of(&british.phone_number);
    assert_eq!(
        origination_identity(every_setting(), british).await,
        "arn:aws:sms-voice:eu-west-2:111122223333:phone-number/phone-0123"
    );
}

#[tokio::test]
async fn sends_the_request_aws_documents_with_every_setting() {
    let (id, input) = sent(every_setting(), sms()).await;
    assert_eq!(id, "mid-7", "the MessageId is the message_id");
    assert_eq!(input.destination_phone_number(), Some("+447700900123"));
    assert_eq!(input.message_body(), Some("Your code is 424242"));
    assert_eq!(input.message_type(), Some(&MessageType::Transactional));
    assert_eq!(
        input.origination_identity(),
        Some("arn:aws:sms-voice:eu-west-2:111122223333:phone-number/phone-0123")
    );
    assert_eq!(input.configuration_set_name(), Some("otp-events"));
    assert_eq!(input.protect_configuration_id(), Some("protect-0123456789"));
    assert_eq!(input.max_price(), Some("0.05"));
    assert_eq!(input.time_to_live(), Some(300));
    let context = input.context().unwrap();
    assert!(
        context.values().all(|v| !v.contains("424242")),
        "no message text in the context: {context:?}"
    );
    // The delivery events carry the context back: the template's metric filters read these two.
    assert_eq!(context["FunctionName"], "stack-gateway");
    assert_eq!(context["Provider"], "end-user-messaging");
    assert_eq!(input.dry_run(), None);

    // Unset optional settings are left out, not sent empty.
    let minimal = EumSettings {
        configuration_set: None,
        protect_configuration_id: None,
        max_price: None,
        ..every_setting()
    };
    let (_, input) = sent(minimal, sms()).await;
    assert_eq!(input.configuration_set_name(), None);
    assert_eq!(input.protect_configuration_id(), None);
    assert_eq!(input.max_price(), None);
}

/// Builds the error a canned answer carries.
type MakeError = fn() -> SendTextMessageError;

async fn failure(error: MakeError) -> ProviderError {
    let rule = mock!(Client::send_text_message).then_error(error);
    let client: Client = mock_client!(
        aws_sdk_pinpointsmsvoicev2,
        RuleMode::Sequential,
        [&rule],
        |c| { c.retry_config(RetryConfig::disabled()) }
    );
    EndUserMessaging::new(client, every_setting())
        .send(&sms(), far_deadline())
        .await
        .unwrap_err()
}

fn conflict(reason: ConflictExceptionReason) -> SendTextMessageError {
    SendTextMessageError::ConflictException(
        ConflictException::builder()
            .message("conflict")
            .reason(reason)
            .build(),
    )
}

fn invalid(reason: ValidationExceptionReason) -> SendTextMessageError {
    SendTextMessageError::ValidationException(
        ValidationException::builder()
            .message("invalid")
            .reason(reason)
            .build(),
    )
}

fn kind(err: &ProviderError) -> &'static str {
    err.class()
}

#[tokio::test]
async fn each_error_class_maps_to_its_outcome() {
    let cases: Vec<(MakeError, &str)> = vec![
        (
            || conflict(ConflictExceptionReason::DestinationPhoneNumberOptedOut),
            "rejected",
        ),
        (
            || conflict(ConflictExceptionReason::DestinationCountryBlockedByProtectConfiguration),
            "rejected",
        ),
        (
            || {
                conflict(
                    ConflictExceptionReason::DestinationPhoneNumberBlockedByProtectNumberOverride,
                )
            },
            "rejected",
        ),
        // The account may not send there: our set-up, and another provider may deliver.
        (
            || invalid(ValidationExceptionReason::DestinationCountryBlocked),
            "misconfigured",
        ),
        // EUM_MAX_PRICE: a cap of ours, certainly not sent; another provider may deliver.
        (
            || invalid(ValidationExceptionReason::PriceOverThreshold),
            "unavailable",
        ),
        (
            || {
                SendTextMessageError::ValidationException(
                    ValidationException::builder()
                        .message("Invalid DestinationPhoneNumber")
                        .reason(ValidationExceptionReason::InvalidParameter)
                        .build(),
                )
            },
            "rejected",
        ),
        (
            || invalid(ValidationExceptionReason::SenderIdNotRegistered),
            "misconfigured",
        ),
        (
            || conflict(ConflictExceptionReason::NoOriginationIdentitiesFound),
            "misconfigured",
        ),
        (
            || {
                SendTextMessageError::AccessDeniedException(
                    AccessDeniedException::builder().message("denied").build(),
                )
            },
            "misconfigured",
        ),
        (
            || {
                SendTextMessageError::ResourceNotFoundException(
                    ResourceNotFoundException::builder()
                        .message("no such origination identity")
                        .build(),
                )
            },
            "misconfigured",
        ),
        (
            || {
                SendTextMessageError::ThrottlingException(
                    ThrottlingException::builder().message("slow down").build(),
                )
            },
            "unavailable",
        ),
        (
            || {
                SendTextMessageError::ServiceQuotaExceededException(
                    ServiceQuotaExceededException::builder()
                        .message("quota")
                        .build(),
                )
            },
            "unavailable",
        ),
        (
            || {
                SendTextMessageError::InternalServerException(
                    InternalServerException::builder().message("oops").build(),
                )
            },
            "indeterminate",
        ),
    ];
    for (error, expected) in cases {
        let err = failure(error).await;
        assert_eq!(kind(&err), expected, "{err:?}");
        assert!(err.reason().starts_with("End User Messaging "), "{err:?}");
    }
}

/// The gateway as deployed, as a process: End User Messaging first (the JSON-protocol stand-in),
/// SNS (moto) second, each reached through its own `AWS_ENDPOINT_URL_<SERVICE>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_fails_over_to_sns_only_on_certain_non_sends() {
    let stand_in = sns_stand_in();
    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command
        .env("GATEWAY_API_KEY", KEY)
        .env("SMS_PROVIDER", "end-user-messaging,sns")
        // Ofcom's drama range (+44 7700 900) is in no plan: let it reach the stand-ins.
        .env("VALID_NUMBERS_ONLY", "false")
        .env("EUM_ORIGINATION_IDENTITY", "phone-0123456789")
        .env("EUM_PROTECT_CONFIGURATION_ID", "protect-0123")
        .env("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2", &stand_in.url)
        .env("AWS_ENDPOINT_URL_SNS", &moto().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    let gateway = start(command, dir.path());
    let client = reqwest::Client::new();
    let post = |phone: String| {
        client
            .post(&gateway.url)
            .header("x-api-key", KEY)
            .json(&json!({"phone_number": phone, "message": "Your code is 990011"}))
            .send()
    };

    let answer = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    // (destination, status, provider or error, whether SNS got it)
    let sent = answer(post("+447700900123".into()).await.unwrap()).await;
    assert_eq!(sent.0, 200, "{}", sent.1);
    assert_eq!(sent.1["provider"], "end-user-messaging");

    let throttled = "+447009900201";
    let (status, body) = answer(post(throttled.into()).await.unwrap()).await;
    assert_eq!(
        (status, body["provider"].as_str()),
        (200, Some("sns")),
        "{body}"
    );
    assert_eq!(sms_sent_to(throttled).await.len(), 1);

    let opted_out = "+447009900101";
    let (status, body) = answer(post(opted_out.into()).await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("recipient_rejected")),
        "{body}"
    );
    assert_eq!(
        sms_sent_to(opted_out).await.len(),
        0,
        "an opt-out never fails over"
    );

    let down = "+447009900301";
    let (status, body) = answer(post(down.into()).await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("delivery_unknown")),
        "{body}"
    );
    assert_eq!(
        sms_sent_to(down).await.len(),
        0,
        "a maybe-sent never fails over"
    );

    let stalled = "+447009900401";
    let (status, body) = answer(post(stalled.into()).await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("delivery_unknown")),
        "{body}"
    );
    assert_eq!(sms_sent_to(stalled).await.len(), 0);

    let denied = "+447009900501";
    let (status, body) = answer(post(denied.into()).await.unwrap()).await;
    assert_eq!(
        (status, body["provider"].as_str()),
        (200, Some("sns")),
        "{body}"
    );

    let log = gateway.stop();
    assert!(
        log.contains("End User Messaging SMS sandbox"),
        "start-up warned:\n{log}"
    );
    assert!(!log.contains("990011"), "no passcode in the log:\n{log}");
}
