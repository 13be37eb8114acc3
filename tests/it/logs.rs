//! The log rules: one event per request with a masked phone number, and never a message text, an
//! API key or a full phone number, at any level, from this crate or its dependencies.

use crate::process::*;
use crate::support::*;
use mosaic_sms_gateway::domain::sms::PhoneNumber;
use mosaic_sms_gateway::entry::telemetry;
use serde_json::json;

/// The gateway as deployed, run as a process at log level `trace`: its key in a Secrets Manager
/// secret (moto), SNS (the stand-in) first and the outbox second. Every kind of request goes through,
/// and then its whole log is searched.
#[tokio::test]
async fn logs_hold_no_passcode_key_or_phone_number_even_at_trace() {
    let api_key = "k3y-that-must-not-leak";
    let old_key = "old-k3y-that-must-not-leak";
    let secret = format!(r#"{{"api_key":"{api_key}","previous_api_key":"{old_key}"}}"#);
    let secret_id = format!("mosaic/log-test-{}", std::process::id());
    secrets_admin()
        .await
        .create_secret()
        .name(&secret_id)
        .secret_string(secret)
        .send()
        .await
        .unwrap();
    let sns = sns_stand_in();

    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command
        .env("RUST_LOG", "trace")
        .env("GATEWAY_SECRET_ID", &secret_id)
        .env("SMS_PROVIDER", "sns,outbox")
        // The stand-in's +999 and +998 numbers are valid nowhere: let them reach it.
        .env("VALID_NUMBERS_ONLY", "false")
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto().endpoint)
        .env("AWS_ENDPOINT_URL_SNS", &sns.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    let gateway = start(command, dir.path());

    let phone = unique_phone();
    let message = "Your Acme code is QX7-K9Z";
    let client = reqwest::Client::new();
    let post = |key: &str, body: serde_json::Value| {
        client
            .post(&gateway.url)
            .header("x-api-key", key)
            .json(&body)
            .send()
    };
    let sms = |phone: &str| json!({"phone_number": phone, "sender_id": "Acme", "message": message});
    let refused = "+99912345678"; // the stand-in refuses it, quoting it (422)
    let failing = "+99887654321"; // the stand-in fails on it, quoting it: the outbox sends it
    let answers = [
        post(api_key, sms(&phone)).await.unwrap(),
        post(old_key, sms(&phone)).await.unwrap(),
        post("wrong-k3y-that-must-not-leak", sms(&phone))
            .await
            .unwrap(),
        post(api_key, json!({"phone_number": phone, "message": ""}))
            .await
            .unwrap(),
        post(api_key, sms(refused)).await.unwrap(),
        post(api_key, sms(failing)).await.unwrap(),
    ];
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 401, 400, 422, 200]);
    let first: serde_json::Value = answers.into_iter().next().unwrap().json().await.unwrap();
    let log = gateway.stop();

    for secret in [
        message,
        "QX7-K9Z",
        api_key,
        old_key,
        "k3y-that-must-not-leak",
        &phone,
        &phone[1..],
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
    }
    for number in [refused, failing] {
        assert!(
            !log.contains(&number[1..]),
            "{number} leaked into the log:\n{log}"
        );
    }
    assert!(
        log.contains("trying the next one"),
        "the failover is logged:\n{log}"
    );
    assert!(
        log.contains("WARN") && log.contains("in the SNS SMS sandbox"),
        "start-up read SNS's sandbox status and warned:\n{log}"
    );

    let requests: Vec<&str> = log.lines().filter(|l| l.contains(" request ")).collect();
    assert_eq!(requests.len(), 6, "one event per request:\n{log}");
    let masked = PhoneNumber::parse(&phone).unwrap().masked();
    let sent = requests[0];
    for field in [
        "status=200".to_owned(),
        "outcome=\"sent\"".to_owned(),
        "provider=\"sns\"".to_owned(),
        format!("message_id={}", first["message_id"]),
        format!("phone=\"{masked}\""),
        "latency_ms=".to_owned(),
    ] {
        assert!(sent.contains(&field), "{field} missing from {sent}");
    }
    assert!(
        requests[2].contains("outcome=\"invalid_api_key\""),
        "{}",
        requests[2]
    );
    assert!(
        requests[3].contains("outcome=\"invalid_field\""),
        "{}",
        requests[3]
    );
    assert!(
        requests[4].contains("outcome=\"recipient_rejected\"") && requests[4].contains("reason="),
        "{}",
        requests[4]
    );
    assert!(
        requests[5].contains("provider=\"outbox\""),
        "{}",
        requests[5]
    );
}

#[test]
fn dependencies_never_log_below_warn() {
    let filter = telemetry::filter(Some("trace")).to_string();
    let directives: Vec<&str> = filter.split(',').collect();
    assert!(directives.contains(&"mosaic_sms_gateway=trace"), "{filter}");
    assert!(directives.contains(&"warn"), "{filter}");
    let quiet = telemetry::filter(Some("error")).to_string();
    assert!(quiet.split(',').any(|d| d == "error"), "{quiet}");
    let fatal = telemetry::filter(Some("FATAL")).to_string();
    assert!(
        fatal.split(',').any(|d| d == "mosaic_sms_gateway=error"),
        "{fatal}"
    );
    assert!(
        telemetry::filter(Some("not-a-level"))
            .to_string()
            .contains("mosaic_sms_gateway=info")
    );
}

/// The gateway with Twilio, run as a process at `trace`: a send, a refused number Twilio quotes, and
/// credentials Twilio refuses. Neither the auth token, nor the Basic auth header, nor the message
/// appears in the log.
#[tokio::test]
async fn twilio_credentials_never_reach_the_log_even_at_trace() {
    use crate::twilio::{ACCOUNT, FakeTwilio, TOKEN, queued, twilio_error};
    let fake = FakeTwilio::new(|form| match form["To"].as_str() {
        "+15005550001" => twilio_error(
            400,
            21211,
            "The 'To' number +15005550001 is not a valid phone number.",
        ),
        _ => queued(form),
    });
    let accepted = std::sync::Arc::clone(&fake.token);
    let twilio = fake.start().await;

    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command
        .env("RUST_LOG", "trace")
        .env("GATEWAY_API_KEY", KEY)
        .env("SMS_PROVIDER", "twilio,outbox")
        .env("TWILIO_API_BASE", twilio.uri())
        .env("TWILIO_ACCOUNT_SID", ACCOUNT)
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env("TWILIO_FROM", "+15005550006");
    let gateway = start(command, dir.path());

    let message = "Your Acme code is 77Q-41X";
    let client = reqwest::Client::new();
    let post = |phone: &str| {
        client
            .post(&gateway.url)
            .header("x-api-key", KEY)
            .json(&json!({"phone_number": phone, "message": message}))
            .send()
    };
    let phone = unique_phone();
    assert_eq!(post(&phone).await.unwrap().status(), 200);
    assert_eq!(post("+15005550001").await.unwrap().status(), 422);
    // Twilio stops accepting the token: our set-up is wrong, the outbox sends (another number: the
    // same request again would be answered as a duplicate).
    *accepted.lock().unwrap() = "another-token".into();
    let failed_over: serde_json::Value = post(&unique_phone()).await.unwrap().json().await.unwrap();
    assert_eq!(failed_over["provider"], "outbox");
    let log = gateway.stop();

    let basic = aws_smithy_types::base64::encode(format!("{ACCOUNT}:{TOKEN}"));
    for secret in [
        TOKEN,
        basic.as_str(),
        message,
        "77Q-41X",
        &phone[1..],
        "15005550001",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
    }
    assert!(
        log.contains("ERROR") && log.contains("Check the Twilio credentials"),
        "a refused set-up is one error line that says what to fix:\n{log}"
    );
}
