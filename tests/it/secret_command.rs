//! `secret put` and `secret show`, the binary against moto's Secrets Manager: fields merged in
//! and the gateway's own kept, a value the gateway could not start with refused with nothing
//! written, the API key rotated with the old one as previous, and no value ever in the output.

use crate::process::gateway_command;
use crate::support::*;
use serde_json::{Value, json};
use std::process::Output;

const VONAGE_KEY: &str = "abcd1234";
const VONAGE_SECRET: &str = "v0nage-secret-never-printed";
const FINGERPRINT: &str = "fingerprint-key-never-printed";

/// The binary run with `args` against moto, with `env` on top.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), args, env).await
}

/// The same, in `dir` (where a samconfig.toml may say which providers the stack deploys).
async fn run_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = gateway_command(dir);
    command
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn value(secrets: &aws_sdk_secretsmanager::Client, name: &str) -> Value {
    let read = secrets
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .unwrap();
    serde_json::from_str(read.secret_string().unwrap()).unwrap()
}

async fn versions(secrets: &aws_sdk_secretsmanager::Client, name: &str) -> usize {
    secrets
        .list_secret_version_ids()
        .secret_id(name)
        .send()
        .await
        .unwrap()
        .versions()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_merges_a_providers_fields_keeps_the_rest_and_never_prints_a_value() {
    let name = format!("mosaic/secret-put-{}", std::process::id());
    let secrets = new_secret(
        &name,
        &json!({"api_key": KEY, "fingerprint_key": FINGERPRINT}).to_string(),
    )
    .await;
    let output = run(
        &[
            "secret",
            "put",
            "--secret-id",
            &name,
            "--provider",
            "vonage",
            "--from-env",
        ],
        &[
            ("VONAGE_API_KEY", VONAGE_KEY),
            ("VONAGE_API_SECRET", VONAGE_SECRET),
        ],
    )
    .await;
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains("put vonage_api_key, vonage_api_secret; kept api_key, fingerprint_key"),
        "{said}"
    );
    assert_eq!(
        value(&secrets, &name).await,
        json!({
            "api_key": KEY,
            "fingerprint_key": FINGERPRINT,
            "vonage_api_key": VONAGE_KEY,
            "vonage_api_secret": VONAGE_SECRET,
        })
    );

    // A key the gateway could not start with: refused, nothing written.
    let before = versions(&secrets, &name).await;
    let output = run(
        &[
            "secret",
            "put",
            "--secret-id",
            &name,
            "--provider",
            "vonage",
            "--from-env",
        ],
        &[("VONAGE_API_KEY", "short")],
    )
    .await;
    let refused = text(&output);
    assert!(!output.status.success());
    assert!(
        refused.contains("refused, nothing written: vonage:")
            && refused.contains("vonage_api_key must be 8 characters"),
        "{refused}"
    );
    assert_eq!(versions(&secrets, &name).await, before);
    // Twilio named with only half its credentials: refused too.
    let output = run(
        &[
            "secret",
            "put",
            "--secret-id",
            &name,
            "--provider",
            "twilio",
            "--from-env",
        ],
        &[("TWILIO_AUTH_TOKEN", "a-token-never-printed")],
    )
    .await;
    assert!(!output.status.success());
    assert!(
        text(&output).contains("twilio_account_sid is missing"),
        "{}",
        text(&output)
    );
    assert_eq!(versions(&secrets, &name).await, before);

    let output = run(&["secret", "show", "--secret-id", &name], &[]).await;
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains("  vonage_api_secret: [masked], 27 characters"),
        "{shown}"
    );
    assert!(shown.contains("vonage: complete"), "{shown}");
    for said in [said, refused, shown] {
        for secret in [
            KEY,
            VONAGE_SECRET,
            VONAGE_KEY,
            FINGERPRINT,
            "a-token-never-printed",
        ] {
            assert!(!said.contains(secret), "{secret:?} printed: {said}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_api_key_keeps_the_old_one_as_previous_and_says_what_comes_next() {
    let name = format!("mosaic/secret-rotate-{}", std::process::id());
    // A plain key, as an older set-up stored it.
    let secrets = new_secret(&name, KEY).await;
    let output = run(
        &["secret", "put", "--secret-id", &name, "--rotate-api-key"],
        &[],
    )
    .await;
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    let rotated = value(&secrets, &name).await;
    assert_eq!(rotated["previous_api_key"], KEY);
    let new = rotated["api_key"].as_str().unwrap();
    assert!(new.len() >= 32 && new != KEY);
    assert!(said.contains("mosaic-sms-gateway register --uri"), "{said}");
    assert!(!said.contains(new) && !said.contains(KEY), "{said}");
    assert!(
        new.len() == 64 && !new.starts_with("dev-"),
        "a production key"
    );

    // Again: the key Mosaic may still use (KEY, now previous) is not dropped unless asked.
    let output = run(
        &["secret", "put", "--secret-id", &name, "--rotate-api-key"],
        &[],
    )
    .await;
    let refused = text(&output);
    assert!(!output.status.success(), "{refused}");
    assert!(refused.contains("--retire-previous-key"), "{refused}");
    assert_eq!(
        value(&secrets, &name).await,
        rotated,
        "a refused rotation wrote"
    );
    // Nor by removing it in the same command.
    let output = run(
        &[
            "secret",
            "put",
            "--secret-id",
            &name,
            "--remove",
            "previous_api_key",
            "--rotate-api-key",
        ],
        &[],
    )
    .await;
    assert!(!output.status.success(), "{}", text(&output));
    assert_eq!(
        value(&secrets, &name).await,
        rotated,
        "a removal let a rotation through"
    );
    let output = run(
        &[
            "secret",
            "put",
            "--secret-id",
            &name,
            "--rotate-api-key",
            "--retire-previous-key",
        ],
        &[],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(value(&secrets, &name).await["previous_api_key"], new);

    // The old key ended without a rotation; the current one cannot be removed.
    let output = run(
        &[
            "secret",
            "put",
            "--secret-id",
            &name,
            "--remove",
            "previous_api_key",
        ],
        &[],
    )
    .await;
    assert!(
        text(&output).contains("removed previous_api_key"),
        "{}",
        text(&output)
    );
    let ended = value(&secrets, &name).await;
    assert!(ended.get("previous_api_key").is_none() && ended["api_key"].is_string());
    let output = run(
        &["secret", "put", "--secret-id", &name, "--remove", "api_key"],
        &[],
    )
    .await;
    assert!(!output.status.success() && text(&output).contains("--rotate-api-key"));
    assert_eq!(value(&secrets, &name).await, ended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_field_put_by_name_is_checked_as_the_provider() {
    let name = format!("mosaic/secret-field-{}", std::process::id());
    let complete = json!({
        "api_key": KEY,
        "twilio_account_sid": format!("AC{}", "0".repeat(32)),
        "twilio_auth_token": "a-token-never-printed",
    });
    let secrets = new_secret(&name, &complete.to_string()).await;
    // An API key's SID without its secret: Twilio could not send.
    let output = run(
        &[
            "secret",
            "put",
            "--secret-id",
            &name,
            "--field",
            "twilio_api_key_sid",
            "--from-env",
        ],
        &[("TWILIO_API_KEY_SID", &format!("SK{}", "1".repeat(32)))],
    )
    .await;
    let refused = text(&output);
    assert!(!output.status.success(), "{refused}");
    assert!(refused.contains("twilio:"), "{refused}");
    assert_eq!(versions(&secrets, &name).await, 1);
    // Nor may a removal leave Twilio without what it sends with.
    let output = run(
        &[
            "secret",
            "put",
            "--secret-id",
            &name,
            "--remove",
            "twilio_auth_token",
        ],
        &[],
    )
    .await;
    assert!(!output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("twilio:"), "{}", text(&output));
    assert_eq!(versions(&secrets, &name).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_or_from_env_it_asks_for_nothing_and_writes_nothing() {
    let name = format!("mosaic/secret-noterm-{}", std::process::id());
    let secrets = new_secret(&name, &json!({"api_key": KEY}).to_string()).await;
    let output = run(
        &[
            "secret",
            "put",
            "--secret-id",
            &name,
            "--provider",
            "infobip",
        ],
        &[],
    )
    .await;
    assert!(!output.status.success());
    assert!(text(&output).contains("--from-env"), "{}", text(&output));
    assert_eq!(versions(&secrets, &name).await, 1);
    let output = run(
        &["secret", "put", "--secret-id", &name, "--provider", "sns"],
        &[],
    )
    .await;
    assert!(
        text(&output).contains("keeps nothing in the secret"),
        "{}",
        text(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_samconfig_deploys_must_be_complete_too() {
    let name = format!("mosaic/secret-stack-{}", std::process::id());
    let secrets = new_secret(&name, &json!({"api_key": KEY}).to_string()).await;
    let dir = tempfile::tempdir().unwrap();
    // What `configure` writes for a Vonage stack that fails over to SNS.
    std::fs::write(
        dir.path().join("samconfig.toml"),
        "version = 0.1\n[default.deploy.parameters]\nparameter_overrides = \"SmsProvider=\\\"vonage,sns\\\" VonageFrom=\\\"Acme\\\"\"\n",
    )
    .unwrap();
    let output = run_in(
        dir.path(),
        &["secret", "put", "--secret-id", &name, "--rotate-api-key"],
        &[],
    )
    .await;
    let refused = text(&output);
    assert!(!output.status.success(), "{refused}");
    assert!(
        refused.contains("SmsProvider=vonage,sns") && refused.contains("--provider vonage"),
        "{refused}"
    );
    assert_eq!(versions(&secrets, &name).await, 1, "a refused put wrote");
    let output = run_in(dir.path(), &["secret", "show", "--secret-id", &name], &[]).await;
    let shown = text(&output);
    assert!(
        shown.contains("vonage: incomplete: ") && shown.contains("vonage_api_key"),
        "{shown}"
    );
    let output = run_in(
        dir.path(),
        &[
            "secret",
            "put",
            "--secret-id",
            &name,
            "--provider",
            "vonage",
            "--from-env",
        ],
        &[
            ("VONAGE_API_KEY", VONAGE_KEY),
            ("VONAGE_API_SECRET", VONAGE_SECRET),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(versions(&secrets, &name).await, 2);
    // A chain of ProvidersByCountry deploys its providers too.
    std::fs::write(
        dir.path().join("samconfig.toml"),
        r#"version = 0.1
[default.deploy.parameters]
parameter_overrides = 'SmsProvider="vonage,sns" VonageFrom="Acme" ProvidersByCountry="{\"IN\":\"infobip,sns\"}"'
"#,
    )
    .unwrap();
    let output = run_in(
        dir.path(),
        &["secret", "put", "--secret-id", &name, "--rotate-api-key"],
        &[],
    )
    .await;
    let refused = text(&output);
    assert!(!output.status.success(), "{refused}");
    assert!(refused.contains("--provider infobip"), "{refused}");
    assert_eq!(versions(&secrets, &name).await, 2);
}

/// An answer the SDK cannot read (here a date that is none) holds the secret's value in its body:
/// the error line names the failure, never the body, and stays one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_answer_is_never_printed() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let body = json!({
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
        "Name": "x",
        "SecretString": json!({"api_key": "LEAKED-API-KEY-123", "twilio_auth_token": "LEAKED-TWILIO-TOKEN"}).to_string(),
        "CreatedDate": "not-a-date",
    });
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_string(body.to_string()),
        )
        .mount(&server)
        .await;
    for args in [
        &["secret", "show", "--secret-id", "x"][..],
        &["secret", "put", "--secret-id", "x", "--rotate-api-key"][..],
        &["check", "--uri", "http://127.0.0.1:9/", "--secret-id", "x"][..],
    ] {
        let output = run(args, &[("AWS_ENDPOINT_URL", &server.uri())]).await;
        let said = text(&output);
        assert!(!output.status.success(), "{args:?}: {said}");
        assert!(said.contains("could not be read"), "{args:?}: {said}");
        assert!(
            !said.contains("LEAKED"),
            "{args:?} printed the secret: {said}"
        );
        assert_eq!(said.trim_end().lines().count(), 1, "{args:?}: {said}");
    }
}

/// A write Secrets Manager refused is one short line of visible text, whatever its message holds;
/// a write whose answer could not be read may have happened, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_says_what_is_known_in_one_clean_line() {
    use wiremock::matchers::{header, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let json_answer = |status: u16, body: Value| {
        ResponseTemplate::new(status)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_string(body.to_string())
    };
    let read = json!({
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
        "Name": "x",
        "SecretString": json!({"api_key": KEY}).to_string(),
        "VersionId": "v1",
        "CreatedDate": 1.7e9,
    });
    let loud = format!("line1\nline2\r\n\u{1b}[31mred\u{2028}{}", "x".repeat(5000));
    for (write, expected) in [
        (
            json_answer(
                400,
                json!({"__type": "InvalidRequestException", "message": loud}),
            ),
            "cannot write the secret x: InvalidRequestException (HTTP 400)",
        ),
        (
            ResponseTemplate::new(200).set_body_string("{garbage"),
            "may or may not have been written",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(header("x-amz-target", "secretsmanager.GetSecretValue"))
            .respond_with(json_answer(200, read.clone()))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(header("x-amz-target", "secretsmanager.PutSecretValue"))
            .respond_with(write)
            .mount(&server)
            .await;
        let output = run(
            &["secret", "put", "--secret-id", "x", "--rotate-api-key"],
            &[("AWS_ENDPOINT_URL", &server.uri())],
        )
        .await;
        let said = text(&output);
        assert!(!output.status.success(), "{said}");
        assert!(said.contains(expected), "{said}");
        assert_eq!(said.trim_end().lines().count(), 1, "{said}");
        assert!(
            !said.contains('\u{1b}') && !said.contains('\u{2028}') && said.len() < 600,
            "{said}"
        );
        assert!(!said.contains(KEY), "{said}");
    }
}
