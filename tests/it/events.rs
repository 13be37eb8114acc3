//! Every `events/*.json` (API Gateway HTTP API v2, REST v1 and Function URL events) replayed through
//! `lambda_http` into the gateway, answering the status its file name starts with.
//!
//! Each event runs with the environment `cargo lambda watch` gives it: `[package.metadata.lambda.env]`
//! from Cargo.toml, plus the event's own `.env` file when it has one (the 422, 502 and 503 rows need
//! SNS or Secrets Manager to behave in a certain way). The gateway is built from that environment's
//! configuration by the code Lambda uses, with the AWS settings of the same environment. The answer's
//! status and the error code events/README.md states are checked.

use crate::support::*;
use http_body_util::BodyExt;
use mosaic_sms_gateway::app;
use mosaic_sms_gateway::app::config::Config;
use mosaic_sms_gateway::settings::Host;
use std::collections::HashMap;
use std::path::Path;
use tower::ServiceExt;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/events");

/// `KEY = "value"` lines of Cargo.toml's `[package.metadata.lambda.env]`.
fn cargo_lambda_env() -> HashMap<String, String> {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    manifest
        .split("[package.metadata.lambda.env]")
        .nth(1)
        .expect("Cargo.toml has [package.metadata.lambda.env]")
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

/// The event's `.env` overrides, with `${SNS_STAND_IN}`, `${TWILIO_STAND_IN}` (the same stand-in
/// answers both) and `${CLOSED_PORT}` filled in.
fn event_env(event: &Path, stand_in: &SnsStandIn, closed: &str) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(event.with_extension("env")) else {
        return HashMap::new();
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v
                .replace("${SNS_STAND_IN}", &stand_in.url)
                .replace("${TWILIO_STAND_IN}", &stand_in.url)
                .replace("${CLOSED_PORT}", closed);
            (k.to_owned(), v)
        })
        .collect()
}

/// What events/README.md's table states for each file, as `expected` reads it from the row's
/// last column; files where it reads nothing are left out.
fn stated(expected: impl Fn(&str) -> Option<&str>) -> HashMap<String, String> {
    let index = std::fs::read_to_string(format!("{DIR}/README.md")).unwrap();
    index
        .lines()
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let file = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let value = expected(cells.get(cells.len().checked_sub(2)?)?)?;
            Some((file.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The error code events/README.md states for each file: the last column's `code` in backticks.
fn stated_error_codes() -> HashMap<String, String> {
    stated(|expected| {
        expected.split('`').find(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
    })
}

/// The provider events/README.md states a sent event goes through: `"provider":"<name>"` in the
/// last column.
fn stated_providers() -> HashMap<String, String> {
    stated(|expected| expected.split(r#""provider":""#).nth(1)?.split('"').next())
}

/// AWS configuration from the event's environment, as the SDK would read it in Lambda.
async fn aws_config_from(env: &HashMap<String, String>) -> aws_config::SdkConfig {
    let credentials = aws_sdk_sns::config::Credentials::new(
        &env["AWS_ACCESS_KEY_ID"],
        &env["AWS_SECRET_ACCESS_KEY"],
        None,
        None,
        "event environment",
    );
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(env["AWS_REGION"].clone()))
        .endpoint_url(&env["AWS_ENDPOINT_URL"])
        .credentials_provider(credentials)
        .load()
        .await
}

fn outbox_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[tokio::test]
async fn every_event_replays_to_its_stated_status() {
    let mut files: Vec<_> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let statuses: Vec<&str> = files
        .iter()
        .map(|f| &f.file_name().unwrap().to_str().unwrap()[..3])
        .collect();
    for row in [
        "200", "400", "401", "405", "413", "415", "422", "502", "503",
    ] {
        assert!(
            statuses.contains(&row),
            "events/ has no event for the {row} row"
        );
    }

    let stand_in = sns_stand_in();
    let providers = stated_providers();
    assert!(providers.len() >= 4, "{providers:?}");
    let closed = closed_endpoint();
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let codes = stated_error_codes();
    assert!(
        codes.len() >= 10,
        "events/README.md states the error codes: {codes:?}"
    );

    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let expected: u16 = name[..3]
            .parse()
            .unwrap_or_else(|_| panic!("{name}: no status prefix"));
        let mut env = cargo_lambda_env();
        env.insert("OUTBOX_PATH".into(), outbox.display().to_string());
        env.extend(event_env(&file, &stand_in, &closed));

        let config = Config::from_lookup(Host::Lambda, |k| env.get(k).cloned())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let sdk = match config.uses_aws() {
            true => Some(aws_config_from(&env).await),
            false => None,
        };
        let state = app_state(&config, sdk).unwrap();
        app::start(&state).await.unwrap(); // as in Lambda's init

        let event = std::fs::read_to_string(&file).unwrap();
        let request = mosaic_sms_gateway::entry::lambda::request_from_event(&event)
            .unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"));
        let sends_to_outbox =
            request.method() == "POST" && expected == 200 && env["SMS_PROVIDER"] == "outbox";
        let before = outbox_lines(&outbox);
        let response = mosaic_sms_gateway::entry::lambda::app(state)
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let allow = response.headers().get("allow").cloned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = match body.is_empty() {
            true => serde_json::Value::Null,
            false => serde_json::from_slice(&body).unwrap(),
        };
        assert_eq!(status, expected, "{name}: {body}");
        if expected == 405 {
            assert_eq!(allow.unwrap(), "GET, POST");
        }
        if let Some(code) = codes.get(&name) {
            assert_eq!(body["error"], code.as_str(), "{name}: {body}");
        }
        if let Some(provider) = providers.get(&name) {
            assert_eq!(body["provider"], provider.as_str(), "{name}: {body}");
        }
        let sent = outbox_lines(&outbox) - before;
        assert_eq!(
            sent,
            usize::from(sends_to_outbox),
            "{name}: SMS in the outbox"
        );
    }
}
