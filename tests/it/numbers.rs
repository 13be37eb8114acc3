//! The numbering plan at the door (#22): numbers valid for no country and numbers of blocked types
//! get nothing, a trunk prefix written after the calling code is dropped before anything counts
//! the number, and both settings do what they say. Sent through SNS (moto), so "nothing sent" is
//! read from what SNS published.

use crate::support::*;
use crate::twilio::gateway_from_env;
use mosaic_sms_gateway::entry::http::router;
use serde_json::json;

/// A UK mobile no other test sends to: +44 74, `test` (one digit per test), and seven digits of
/// this process.
fn uk_mobile(test: u32) -> String {
    format!("+4474{test}{:07}", std::process::id() % 10_000_000)
}

async fn sns_gateway(extra: &[(&str, &str)]) -> axum::Router {
    let mut vars = vec![("SMS_PROVIDER", "sns"), ("AWS_REGION", "us-east-1")];
    vars.extend_from_slice(extra);
    router(gateway_from_env(&vars).await)
}

async fn post_to(app: &axum::Router, phone: &str) -> (u16, serde_json::Value) {
    let body =
        json!({"phone_number": phone, "message": format!("Your code is {}", unique_phone())});
    let (response, answer) = call(app, send(body)).await;
    (response.status().as_u16(), answer)
}

#[tokio::test]
async fn by_default_invalid_and_premium_rate_numbers_get_nothing_and_a_mobile_its_sms() {
    let app = sns_gateway(&[]).await;
    for (phone, error) in [
        ("+449012345678", "number_type_not_allowed"), // UK premium rate (09)
        ("+499001234567", "number_type_not_allowed"), // German premium rate (0900)
        ("+12120000000", "invalid_number"),           // a US exchange never starts with 0
        ("+4412345", "invalid_number"),               // too short for the UK
    ] {
        let (status, answer) = post_to(&app, phone).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (422, Some(error)),
            "{phone}: {answer}"
        );
        assert!(sms_sent_to(phone).await.is_empty(), "{phone} got an SMS");
    }
    let (_, premium) = post_to(&app, "+449012345678").await;
    assert!(
        premium["message"]
            .as_str()
            .unwrap()
            .contains("premium-rate"),
        "{premium}"
    );

    let mobile = uk_mobile(0);
    let (status, answer) = post_to(&app, &mobile).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sms_sent_to(&mobile).await.len(), 1);
}

#[tokio::test]
async fn a_trunk_prefix_after_the_calling_code_reaches_sns_as_the_canonical_number() {
    let app = sns_gateway(&[]).await;
    let mobile = uk_mobile(1);
    // +44 0 74 ...: the UK's trunk 0 written after +44.
    let with_trunk = mobile.replacen("+44", "+440", 1);
    let (status, answer) = post_to(&app, &with_trunk).await;
    assert_eq!(status, 200, "{answer}");
    assert!(sms_sent_to(&with_trunk).await.is_empty());
    assert_eq!(sms_sent_to(&mobile).await.len(), 1, "published to {mobile}");
}

#[tokio::test]
async fn the_settings_let_through_or_refuse_what_they_name() {
    // VALID_NUMBERS_ONLY=false: the invalid number goes to the provider.
    let open = sns_gateway(&[
        ("VALID_NUMBERS_ONLY", "false"),
        ("BLOCKED_NUMBER_TYPES", "none"),
    ])
    .await;
    let invalid = "+12120000000";
    let (status, answer) = post_to(&open, invalid).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sms_sent_to(invalid).await.len(), 1);
    // BLOCKED_NUMBER_TYPES=none: premium rate too.
    let premium = "+449012345679";
    assert_eq!(post_to(&open, premium).await.0, 200);
    assert_eq!(sms_sent_to(premium).await.len(), 1);

    // Only toll-free blocked: a US toll-free number is refused, a premium-rate one sent.
    let toll_free_only = sns_gateway(&[("BLOCKED_NUMBER_TYPES", "toll-free")]).await;
    let toll_free = "+18005550123";
    let (status, answer) = post_to(&toll_free_only, toll_free).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (422, Some("number_type_not_allowed"))
    );
    assert!(sms_sent_to(toll_free).await.is_empty());
    let other_premium = "+449012345670";
    assert_eq!(post_to(&toll_free_only, other_premium).await.0, 200);
}
