//! Sending through SNS (moto on loopback, through the real SDK client), with the key from Secrets
//! Manager: the whole AWS path of a send.

use crate::support::*;
use axum::http::StatusCode;
use mosaic_sms_gateway::adapters::providers::sns::client as sns_client;
use mosaic_sms_gateway::adapters::providers::sns::{Sns, SnsSettings};
use serde_json::json;

#[tokio::test]
async fn a_send_is_published_to_sns_once() {
    let app = sns_gateway_with_secret(r#"{"api_key":"sns-key"}"#).await;

    let phone = unique_phone();
    let message = "Your Acme verification code is 731904";
    let request = post(
        Some("sns-key"),
        Some("application/json"),
        json!({"phone_number": phone, "sender_id": "Acme", "message": message}).to_string(),
    );
    let (r, body) = call(&app, request).await;
    assert_eq!(r.status(), StatusCode::OK, "{body}");
    assert_eq!(body["status"], "sent");
    assert_eq!(body["provider"], "sns");

    let published = sms_sent_to(&phone).await;
    assert_eq!(published.len(), 1, "exactly one SMS: {published:?}");
    assert_eq!(published[0].0, message);
    assert_eq!(
        body["message_id"],
        published[0].1.as_str(),
        "the answer carries SNS's MessageId"
    );

    // A wrong key sends nothing more.
    let (r, _) = call(
        &app,
        post(
            Some("nope"),
            Some("application/json"),
            json!({"phone_number": phone, "message": "x"}).to_string(),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sms_sent_to(&phone).await.len(), 1);
}

#[tokio::test]
async fn an_unreachable_sns_is_502() {
    let closed = closed_endpoint();
    let sdk = aws_config(&closed).await;
    let settings = SnsSettings::default();
    let app = gateway(vec![Box::new(Sns::new(sns_client(&sdk), settings))]);
    let (r, body) = call(
        &app,
        send(json!({"phone_number": "+14155550100", "message": "code 5"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], "provider_failed");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("SNS could not be reached"),
        "{body}"
    );
}
