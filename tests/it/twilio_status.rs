//! Twilio's status callbacks, `POST /twilio/status`: signed as Twilio signs them (the signer is
//! checked against the example of Twilio's security documentation in its unit test), refused
//! unsigned or wrongly signed, accepted with the previous auth token during a rotation, and never
//! a send; only a refusal that points at our auth token is the alarmed kind. The Lambda-mode test
//! in `lambda_host` checks the metrics and the log line.

use crate::support::*;
use crate::twilio::{ACCOUNT, FakeTwilio, TOKEN, gateway_from_env, messages, queued};
use axum::body::Body;
use axum::http::Request;
use mosaic_sms_gateway::adapters::providers::twilio::{Verdict, signature};
use mosaic_sms_gateway::entry::http::router;
use serde_json::json;

const CALLBACK_URL: &str = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/twilio/status";

fn delivered() -> Vec<(String, String)> {
    [
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("MessageStatus", "delivered"),
        ("SmsSid", "SM00000000000000000000000000000001"),
        ("SmsStatus", "delivered"),
        ("To", "+14155550100"),
        ("From", "+15005550006"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn callback(params: &[(String, String)], signature: Option<&str>) -> Request<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut request =
        Request::post("/twilio/status").header("content-type", "application/x-www-form-urlencoded");
    if let Some(signature) = signature {
        request = request.header("x-twilio-signature", signature);
    }
    request.body(Body::from(body)).unwrap()
}

async fn twilio_gateway(extra: &[(&str, &str)]) -> (axum::Router, wiremock::MockServer) {
    let twilio = FakeTwilio::new(queued).start().await;
    let base = twilio.uri();
    let mut vars = vec![
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_API_BASE", base.as_str()),
        ("TWILIO_FROM", "+15005550006"),
        ("TWILIO_STATUS_CALLBACK_URL", CALLBACK_URL),
    ];
    vars.extend_from_slice(extra);
    (router(gateway_from_env(&vars).await), twilio)
}

#[tokio::test]
async fn a_signed_callback_is_taken_and_anything_else_refused() {
    let (app, twilio) = twilio_gateway(&[
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", TOKEN),
    ])
    .await;
    let params = delivered();
    let signed = signature(TOKEN, CALLBACK_URL, &params);
    let (response, _) = call(&app, callback(&params, Some(&signed))).await;
    assert_eq!(response.status(), 204);

    let (response, body) = call(&app, callback(&params, None)).await;
    assert_eq!(response.status(), 403, "{body}");
    assert_eq!(body["error"], "invalid_signature");
    // Signed with another token, for another URL, or over other parameters.
    let forged = [
        signature("not-the-auth-token", CALLBACK_URL, &params),
        signature(
            TOKEN,
            "https://elsewhere.example.com/twilio/status",
            &params,
        ),
        signature(TOKEN, CALLBACK_URL, &params[1..]),
    ];
    for forged in forged {
        let (response, body) = call(&app, callback(&params, Some(&forged))).await;
        assert_eq!(response.status(), 403, "{body}");
    }
    // A changed status under the old signature.
    let mut changed = params.clone();
    changed[3].1 = "failed".into();
    let (response, _) = call(&app, callback(&changed, Some(&signed))).await;
    assert_eq!(response.status(), 403);

    let get = Request::get("/twilio/status").body(Body::empty()).unwrap();
    let (response, body) = call(&app, get).await;
    assert_eq!(response.status(), 405, "{body}");
    assert_eq!(response.headers()["allow"], "POST");
    // Not Mosaic's path: no API key asked, nothing sent.
    assert!(messages(&twilio).await.is_empty());
}

#[tokio::test]
async fn each_send_asks_twilio_for_its_status() {
    let (app, twilio) = twilio_gateway(&[
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", TOKEN),
    ])
    .await;
    let sms = json!({"phone_number": "+14155550100", "message": "Your code is 1"});
    let (response, body) = call(&app, send(sms)).await;
    assert_eq!(response.status(), 200, "{body}");
    let sent = messages(&twilio).await;
    assert_eq!(
        sent[0].get("StatusCallback").map(String::as_str),
        Some(CALLBACK_URL)
    );
}

#[tokio::test]
async fn the_previous_auth_token_signs_during_a_rotation() {
    let name = format!("mosaic/twilio-status-{}", std::process::id());
    let value = json!({
        "api_key": KEY,
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": "the-new-auth-token",
        "twilio_previous_auth_token": TOKEN,
    });
    new_secret(&name, &value.to_string()).await;
    let (app, _twilio) = twilio_gateway(&[("GATEWAY_SECRET_ID", &name)]).await;
    let params = delivered();
    for token in [TOKEN, "the-new-auth-token"] {
        let signed = signature(token, CALLBACK_URL, &params);
        let (response, body) = call(&app, callback(&params, Some(&signed))).await;
        assert_eq!(response.status(), 204, "{token}: {body}");
    }
    let older = signature("an-older-auth-token", CALLBACK_URL, &params);
    assert_eq!(
        call(&app, callback(&params, Some(&older))).await.0.status(),
        403
    );
}

#[tokio::test]
async fn without_a_callback_url_the_path_takes_nothing() {
    let app = gateway(vec![Box::new(Recorder::ok("outbox"))]);
    let params = delivered();
    let signed = signature(TOKEN, CALLBACK_URL, &params);
    let (response, body) = call(&app, callback(&params, Some(&signed))).await;
    assert_eq!(response.status(), 403, "{body}");
}

#[tokio::test]
async fn without_an_auth_token_no_callback_is_asked_for() {
    // Sending with an API key, and no auth token anywhere: callbacks could not be checked.
    let (app, twilio) = twilio_gateway(&[
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_API_KEY_SID", "SK00000000000000000000000000000001"),
        ("TWILIO_API_KEY_SECRET", "an-api-key-secret"),
    ])
    .await;
    let sms = json!({"phone_number": "+14155550100", "message": "Your code is 2"});
    let _ = call(&app, send(sms)).await;
    let sent = messages(&twilio).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].get("StatusCallback"), None);
}

#[tokio::test]
async fn a_signature_over_the_url_with_its_default_port_is_taken_too() {
    let (app, _twilio) = twilio_gateway(&[
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", TOKEN),
    ])
    .await;
    let params = delivered();
    let with_port = CALLBACK_URL.replacen(".com/", ".com:443/", 1);
    let signed = signature(TOKEN, &with_port, &params);
    let (response, _) = call(&app, callback(&params, Some(&signed))).await;
    assert_eq!(response.status(), 204);
    // Another account's callback is refused, however it is signed.
    let mut other = params.clone();
    other[0].1 = "AC99999999999999999999999999999999".into();
    let signed = signature("another-accounts-token", CALLBACK_URL, &other);
    assert_eq!(
        call(&app, callback(&other, Some(&signed))).await.0.status(),
        403
    );
}

#[tokio::test]
async fn only_a_signature_for_our_account_that_no_token_gives_points_at_our_set_up() {
    let state = gateway_from_env(&[
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_API_BASE", "http://127.0.0.1:9"),
        ("TWILIO_FROM", "+15005550006"),
        ("TWILIO_STATUS_CALLBACK_URL", CALLBACK_URL),
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", TOKEN),
    ])
    .await;
    let callbacks = state.twilio_callbacks().unwrap();
    let params = delivered();
    let signed = signature(TOKEN, CALLBACK_URL, &params);
    assert_eq!(
        callbacks.verify(&params, Some(&signed)).await,
        Verdict::Signed
    );
    // Twilio's shape, our AccountSid, another token: a rotated or mistyped auth token (alarmed).
    let stale = signature("a-rotated-auth-token", CALLBACK_URL, &params);
    assert_eq!(
        callbacks.verify(&params, Some(&stale)).await,
        Verdict::Mismatch
    );
    // Anyone on the internet: no signature, another shape, another account's callback.
    let mut other = params.clone();
    other[0].1 = "AC99999999999999999999999999999999".into();
    let theirs = signature("another-accounts-token", CALLBACK_URL, &other);
    for (presented, params, why) in [
        (None, &params, "missing"),
        (Some("forged"), &params, "malformed"),
        (Some(&signed[..27]), &params, "malformed"),
        (Some(theirs.as_str()), &other, "other_account"),
    ] {
        assert_eq!(
            callbacks.verify(params, presented).await,
            Verdict::Anonymous(why),
            "{presented:?}"
        );
    }
}
