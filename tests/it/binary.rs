//! The binary as users start it: `serve` with nothing configured, with SNS and Secrets Manager from
//! the environment, and refusing a configuration that cannot work.

use crate::support::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mosaic-sms-gateway");

/// Variables that would change the gateway's defaults if the test's own environment had them.
const CONFIG_VARS: &[&str] = &[
    "AWS_LAMBDA_RUNTIME_API",
    "GATEWAY_SECRET_ID",
    "GATEWAY_API_KEY",
    "SECRET_TTL_SECONDS",
    "SMS_PROVIDER",
    "SNS_SENDER_ID",
    "SNS_ORIGINATION_NUMBER",
    "SNS_SMS_TYPE",
    "OUTBOX_PATH",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_PROFILE",
];

fn gateway_command(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).stdin(Stdio::null());
    for var in CONFIG_VARS {
        command.env_remove(var);
    }
    // Nor may the machine's own AWS files or an instance metadata service give it a region.
    command
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

struct Running {
    child: Child,
    url: String,
    lines: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --addr 127.0.0.1:0` and reads its start-up lines until the address is known.
fn start(mut command: Command) -> Running {
    let mut child = command
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut running = Running {
        child,
        url: String::new(),
        lines: Vec::new(),
    };
    while !lines.iter().any(|l: &String| l.starts_with("providers:")) {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the gateway did not start; it printed {lines:?}"));
        lines.push(line);
    }
    running.url = lines[0]
        .strip_prefix("mosaic-sms-gateway listening on ")
        .unwrap()
        .to_owned();
    // The key line follows the providers line when a key was generated.
    if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        lines.push(line);
    }
    running.lines = lines;
    running
}

#[tokio::test]
async fn serve_works_with_nothing_configured() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start(gateway_command(dir.path()));
    assert_eq!(gateway.lines[1], "providers: outbox");
    let key = gateway.lines[2]
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
    let gateway = start(command);
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
            .arg("serve"),
    );
    assert!(
        line.contains("SMS_PROVIDER") && line.contains("carrier-pigeon"),
        "{line}"
    );

    let line = refused(
        gateway_command(dir.path())
            .env("SMS_PROVIDER", "sns")
            .arg("serve"),
    );
    assert!(line.contains("AWS_REGION"), "{line}");

    // In Lambda there is no one to show a generated key to: a key must be configured.
    let line = refused(gateway_command(dir.path()).env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"));
    assert!(line.contains("GATEWAY_SECRET_ID"), "{line}");
}
