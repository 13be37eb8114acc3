//! The binary as users start it: `serve` with nothing configured, with SNS and Secrets Manager from
//! the environment, and refusing a configuration that cannot work.

use crate::process::*;
use crate::support::*;
use std::process::Command;

#[tokio::test]
async fn serve_works_with_nothing_configured() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start(gateway_command(dir.path()), dir.path());
    assert_eq!(gateway.lines[2], "providers: outbox");
    let key = gateway.lines[1]
        .strip_prefix("development API key (generated for this run): ")
        .unwrap_or_else(|| panic!("no development key in {:?}", gateway.lines));

    let client = reqwest::Client::new();
    let challenge = client
        .get(format!("{}/", gateway.url))
        .header("x-api-key", key)
        .header("x-verification-key", "abc123")
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 200);
    assert_eq!(challenge.text().await.unwrap(), r#"{"key":"abc123"}"#);

    let sent = client
        .post(format!("{}/", gateway.url))
        .header("x-api-key", key)
        .json(&serde_json::json!({"phone_number": "+14155550100", "sender_id": "Acme", "message": "Your code is 123456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let answer: serde_json::Value = sent.json().await.unwrap();
    let outbox = std::fs::read_to_string(dir.path().join("outbox.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(outbox.trim()).unwrap();
    assert_eq!(line["message"], "Your code is 123456");
    assert_eq!(line["phone_number"], "+14155550100");
    assert_eq!(line["message_id"], answer["message_id"]);
}

#[tokio::test]
async fn serve_sends_through_sns_with_the_key_from_secrets_manager() {
    let moto = moto();
    let sdk = aws_config(&moto.endpoint).await;
    let name = format!("mosaic/binary-test-{}", std::process::id());
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&name)
        .secret_string(r#"{"api_key":"binary-key"}"#)
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command
        .env("GATEWAY_SECRET_ID", &name)
        .env("SMS_PROVIDER", "sns")
        .env("SNS_SENDER_ID", "Acme")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let gateway = start(command, dir.path());
    assert_eq!(gateway.lines[1], "providers: sns");
    assert!(
        !gateway
            .lines
            .iter()
            .any(|l| l.contains("development API key"))
    );

    let phone = unique_phone();
    let sent = reqwest::Client::new()
        .post(format!("{}/send-sms", gateway.url))
        .header("x-api-key", "binary-key")
        .json(&serde_json::json!({"phone_number": phone, "sender_id": "", "message": "Your code is 555111"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let answer: serde_json::Value = sent.json().await.unwrap();
    let published = sms_sent_to(&phone).await;
    assert_eq!(
        published,
        vec![(
            "Your code is 555111".to_owned(),
            answer["message_id"].as_str().unwrap().to_owned()
        )]
    );
}

fn refused(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr:?}");
    stderr
}

#[test]
fn unworkable_configuration_stops_at_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = refused(
        gateway_command(dir.path())
            .env("SMS_PROVIDER", "carrier-pigeon")
            .args(["serve", "--addr", "127.0.0.1:0"]),
    );
    assert!(
        line.contains("SMS_PROVIDER") && line.contains("carrier-pigeon"),
        "{line}"
    );

    let line = refused(
        gateway_command(dir.path())
            .env("SMS_PROVIDER", "sns")
            .args(["serve", "--addr", "127.0.0.1:0"]),
    );
    assert!(line.contains("AWS_REGION"), "{line}");

    let line = refused(
        gateway_command(dir.path())
            .env("SMS_PROVIDER", "twilio")
            .env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000042")
            .env("TWILIO_AUTH_TOKEN", "t0ken-that-must-not-leak")
            .args(["serve", "--addr", "127.0.0.1:0"]),
    );
    assert!(
        line.contains("TWILIO_FROM") && !line.contains("t0ken"),
        "{line}"
    );

    let line = refused(
        gateway_command(dir.path())
            .env("SMS_PROVIDER", "sns,twilio")
            .env("TWILIO_FROM", "+15005550006")
            .args(["serve", "--addr", "127.0.0.1:0"]),
    );
    assert!(line.contains("no Twilio credentials"), "{line}");

    // In Lambda there is no one to show a generated key to: a key must be configured.
    let line = refused(gateway_command(dir.path()).env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"));
    assert!(line.contains("GATEWAY_SECRET_ID"), "{line}");
}

/// Settings that would start and do something else than they say: the looser of two caps for one
/// country, no number type blocked, a missing setting blamed on the wrong variable.
#[test]
fn settings_that_would_not_do_what_they_say_stop_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (variable, value, expected) in [
        (
            "MAX_SMS_PER_COUNTRY_PER_HOUR",
            r#"{"LV":1,"lv":1000}"#,
            "MAX_SMS_PER_COUNTRY_PER_HOUR lists LV twice",
        ),
        (
            "SENDER_BY_COUNTRY",
            r#"{"LV":"Acme","LV":"Other"}"#,
            "SENDER_BY_COUNTRY lists LV twice",
        ),
        (
            "BLOCKED_NUMBER_TYPES",
            ",",
            "BLOCKED_NUMBER_TYPES has an empty item",
        ),
        (
            "PROVIDERS_BY_COUNTRY",
            r#"{"DE":"twilio"}"#,
            "PROVIDERS_BY_COUNTRY names twilio (for DE), which needs a sender",
        ),
    ] {
        let line = refused(gateway_command(dir.path()).env(variable, value).args([
            "serve",
            "--addr",
            "127.0.0.1:0",
        ]));
        assert!(line.contains(expected), "{variable}={value}: {line}");
    }
}
