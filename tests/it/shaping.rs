//! The message as it is sent, end to end through the Vonage stand-in (which sees the text and
//! whether it is sent as `unicode`): look-alikes written as GSM-7 (one segment, not UCS-2), the
//! autofill lines exactly as the specs want them, a re-send of the same text a duplicate, and a
//! message past `MAX_SEGMENTS` refused before anything is sent.

use crate::support::*;
use crate::vonage::{messages, vonage_gateway};
use serde_json::json;

fn sms(phone: &str, message: &str) -> serde_json::Value {
    json!({"phone_number": phone, "message": message})
}

#[tokio::test]
async fn typographic_quotes_go_as_one_gsm7_sms_and_a_re_send_is_the_same_message() {
    let (app, vonage) = vonage_gateway(&[]).await;
    let text = "Don’t share it: “482913” – Acme";
    let phone = unique_phone();
    let (response, body) = call(&app, send(sms(&phone, text))).await;
    assert_eq!(response.status(), 200, "{body}");
    let sent = messages(&vonage).await;
    assert_eq!(sent[0]["text"], "Don't share it: \"482913\" - Acme");
    assert_eq!(sent[0].get("type"), None, "GSM-7, not unicode");
    // Mosaic's re-send of the same request: the dedupe sees the same (shaped) message.
    let (response, body) = call(&app, send(sms(&phone, text))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["status"], "duplicate");
    assert_eq!(messages(&vonage).await.len(), 1);

    // Off: the text as it came, as UCS-2.
    let (app, vonage) = vonage_gateway(&[("GSM_SAFE_TEXT", "false")]).await;
    let (response, body) = call(&app, send(sms(&unique_phone(), text))).await;
    assert_eq!(response.status(), 200, "{body}");
    let sent = messages(&vonage).await;
    assert_eq!(sent[0]["text"], text);
    assert_eq!(sent[0]["type"], "unicode");
}

#[tokio::test]
async fn the_autofill_lines_reach_the_provider_exactly_as_the_specs_want_them() {
    let (app, vonage) = vonage_gateway(&[
        ("OTP_AUTOFILL_DOMAIN", "login.example.com"),
        ("ANDROID_APP_HASH", "FA+9qCX9VSu"),
    ])
    .await;
    let (response, body) = call(
        &app,
        send(sms(&unique_phone(), "Your Acme code is 482913.\n")),
    )
    .await;
    assert_eq!(response.status(), 200, "{body}");
    // No code to name: sent as it came.
    let (response, _) = call(&app, send(sms(&unique_phone(), "Codes 1234 and 5678"))).await;
    assert_eq!(response.status(), 200);
    let sent = messages(&vonage).await;
    assert_eq!(
        sent[0]["text"],
        "Your Acme code is 482913.\n\nFA+9qCX9VSu\n@login.example.com #482913"
    );
    assert_eq!(sent[1]["text"], "Codes 1234 and 5678");
}

#[tokio::test]
async fn a_message_past_max_segments_is_refused_and_nothing_is_sent() {
    let (app, vonage) = vonage_gateway(&[("MAX_SEGMENTS", "2")]).await;
    // 307 GSM-7 characters: three SMS of 153.
    let long = format!("Your code is 482913. {}", "a".repeat(286));
    let (response, body) = call(&app, send(sms(&unique_phone(), &long))).await;
    assert_eq!(response.status(), 422, "{body}");
    assert_eq!(body["error"], "message_too_long");
    assert_eq!(
        (body["segments"].as_u64(), body["max_segments"].as_u64()),
        (Some(3), Some(2))
    );
    // One curly quote would make a two-SMS text take three as UCS-2: mapped, it stays at two.
    let two = format!("Don’t share 482913. {}", "a".repeat(200));
    let (response, body) = call(&app, send(sms(&unique_phone(), &two))).await;
    assert_eq!(response.status(), 200, "{body}");
    let sent = messages(&vonage).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0]["text"].starts_with("Don't share"));
}
