//! `check` and `register`, end to end: the binary run as a user runs it, against a gateway's own
//! `serve` (or a misbehaving stand-in gateway) and a fake Mosaic that issues tokens only to the
//! right client, answers 403 to an application that may not manage the tenant, and on the PUT
//! really sends the challenge to the gateway, recording the registration only if it passes.

use crate::process::*;
use crate::support::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENT_ID: &str = "mgmt-app";
const CLIENT_SECRET: &str = "cl1ent-s3cret-that-must-not-leak";
/// An application of the tenant that is not a management application.
const USER_APP: &str = "user-app";

#[derive(Clone, Default)]
struct Mosaic {
    /// (uri, api_key) of each registration that passed the challenge.
    registrations: Arc<Mutex<Vec<(String, String)>>>,
    /// PUTs received, passed or not.
    puts: Arc<Mutex<usize>>,
}

async fn token(body: Bytes) -> Response {
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let token = match (field("client_id"), field("client_secret")) {
        (Some(CLIENT_ID), Some(CLIENT_SECRET)) => "tok-management",
        (Some(USER_APP), Some(CLIENT_SECRET)) => "tok-user",
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "invalid_client", "error_description": "Invalid client credentials"})),
            )
                .into_response();
        }
    };
    axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

/// Mosaic's challenge, as Mosaic sends it: passes on 200, JSON, and the key echoed.
async fn challenge_passes(uri: &str, api_key: &str) -> bool {
    let verification = format!("v-{}", unique_phone().trim_start_matches('+'));
    let answer = reqwest::Client::new()
        .get(uri)
        .header("accept", "application/json, text/plain, */*")
        .header("x-api-key", api_key)
        .header("x-scheme", "https")
        .header("x-verification-key", &verification)
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    let Ok(answer) = answer else { return false };
    let json_type = answer
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if answer.status() != 200 || !json_type {
        return false;
    }
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    body["key"] == verification.as_str()
}

async fn register_provider(
    State(mosaic): State<Mosaic>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    *mosaic.puts.lock().unwrap() += 1;
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    match bearer {
        Some("Bearer tok-management") => {}
        Some("Bearer tok-user") => {
            return (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"message": "Forbidden"})),
            )
                .into_response();
        }
        _ => return StatusCode::UNAUTHORIZED.into_response(),
    }
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let (Some(uri), Some(api_key)) = (
        body["custom_gateway"]["uri"].as_str(),
        body["custom_gateway"]["api_key"].as_str(),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": "invalid body"})),
        )
            .into_response();
    };
    if body["provider"] != "CustomGateway" {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": "unknown provider"})),
        )
            .into_response();
    }
    if !challenge_passes(uri, api_key).await {
        // Echoes the key, as an unhelpful server might: the command must not show it.
        let message = format!("custom gateway {uri} failed validation with key {api_key}");
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": message})),
        )
            .into_response();
    }
    mosaic
        .registrations
        .lock()
        .unwrap()
        .push((uri.to_owned(), api_key.to_owned()));
    axum::Json(json!({"result": {"provider": "CustomGateway"}})).into_response()
}

async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn fake_mosaic() -> (Mosaic, String) {
    let mosaic = Mosaic::default();
    let router = axum::Router::new()
        .route("/oidc/token", post(token))
        .route("/cis/v1/tenantsmsproviders", put(register_provider))
        .with_state(mosaic.clone());
    (mosaic.clone(), serve_router(router).await)
}

/// A gateway that answers the challenge, but only after `delay` and with `content_type`.
async fn odd_gateway(delay: Duration, content_type: &'static str, echo: bool) -> String {
    let router = axum::Router::new().route(
        "/",
        get(move |headers: HeaderMap| async move {
            tokio::time::sleep(delay).await;
            let key = match echo {
                true => headers
                    .get("x-verification-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                false => "not-the-key".to_owned(),
            };
            (
                [("content-type", content_type)],
                json!({"key": key}).to_string(),
            )
        }),
    );
    format!("{}/", serve_router(router).await)
}

/// The binary run with `args`, the gateway key in `GW_KEY`, and `env`; its output, off the runtime.
async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = gateway_command(dir);
    command.args(args).env("GW_KEY", KEY);
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_no_secrets(output: &Output) {
    let (stdout, stderr) = text(output);
    for secret in [KEY, CLIENT_SECRET, "tok-management"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret:?} in the output: {stdout}{stderr}"
        );
    }
}

/// `register` against `mosaic`, as the management application unless `client` says otherwise.
async fn register(
    dir: &Path,
    mosaic: &str,
    uri: &str,
    client: (&str, &str),
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "register",
        "--uri",
        uri,
        "--region",
        "us",
        "--api-key-env",
        "GW_KEY",
        "--api-base",
        mosaic,
    ];
    args.extend_from_slice(extra);
    run(
        dir,
        &args,
        &[
            ("MOSAIC_CLIENT_ID", client.0),
            ("MOSAIC_CLIENT_SECRET", client.1),
        ],
    )
    .await
}

fn serve_gateway(dir: &Path) -> Running {
    let mut command = gateway_command(dir);
    command.env("GATEWAY_API_KEY", KEY);
    start(command, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_records_a_gateway_that_passes_the_challenge_once() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = serve_gateway(dir.path());
    let (mosaic, base) = fake_mosaic().await;
    let uri = format!("{}/send-sms", gateway.url);

    let output = register(dir.path(), &base, &uri, (CLIENT_ID, CLIENT_SECRET), &[]).await;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("registered: "), "{stdout}");
    assert_no_secrets(&output);
    assert_eq!(
        *mosaic.registrations.lock().unwrap(),
        [(uri.clone(), KEY.to_owned())]
    );
    assert_eq!(*mosaic.puts.lock().unwrap(), 1);

    let dry = register(
        dir.path(),
        &base,
        &uri,
        (CLIENT_ID, CLIENT_SECRET),
        &["--dry-run"],
    )
    .await;
    let (stdout, _) = text(&dry);
    assert!(dry.status.success(), "{stdout}");
    assert!(
        stdout.starts_with("dry run: ") && stdout.contains("[redacted]"),
        "{stdout}"
    );
    assert_no_secrets(&dry);
    assert_eq!(*mosaic.puts.lock().unwrap(), 1, "a dry run changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_is_one_line_and_registers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = serve_gateway(dir.path());
    let (mosaic, base) = fake_mosaic().await;
    let good = format!("{}/send-sms", gateway.url);
    let slow = odd_gateway(Duration::from_millis(3500), "application/json", true).await;
    let text_plain = odd_gateway(Duration::ZERO, "text/plain", true).await;
    let no_echo = odd_gateway(Duration::ZERO, "application/json", false).await;
    let down = format!("{}/send-sms", closed_endpoint());

    let cases: Vec<(&str, (&str, &str), &str)> = vec![
        (
            &good,
            (CLIENT_ID, "wrong-secret"),
            "refused the client credentials",
        ),
        (
            &good,
            ("nobody", CLIENT_SECRET),
            "refused the client credentials",
        ),
        (&good, (USER_APP, CLIENT_SECRET), "not allowed to manage"),
        (&down, (CLIENT_ID, CLIENT_SECRET), "is unreachable"),
        (
            &slow,
            (CLIENT_ID, CLIENT_SECRET),
            "did not answer within Mosaic's 3 s",
        ),
        (
            &text_plain,
            (CLIENT_ID, CLIENT_SECRET),
            "Content-Type \"text/plain\"",
        ),
        (
            &no_echo,
            (CLIENT_ID, CLIENT_SECRET),
            "did not echo the verification key",
        ),
    ];
    for (uri, client, expected) in cases {
        let output = register(dir.path(), &base, uri, client, &[]).await;
        let (stdout, stderr) = text(&output);
        assert!(!output.status.success(), "{uri} {client:?}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(expected), "{uri} {client:?}: {stderr}");
        assert_no_secrets(&output);
    }

    // The wrong key: the gateway answers the challenge 401.
    let mut command = gateway_command(dir.path());
    command.args([
        "register",
        "--uri",
        &good,
        "--region",
        "us",
        "--api-key-env",
        "WRONG",
        "--api-base",
        &base,
    ]);
    command
        .env("WRONG", "not-the-gateway-key")
        .env("MOSAIC_CLIENT_ID", CLIENT_ID)
        .env("MOSAIC_CLIENT_SECRET", CLIENT_SECRET);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("HTTP 401 (invalid_api_key"), "{stderr}");
    assert!(!stderr.contains("not-the-gateway-key"), "{stderr}");

    assert!(mosaic.registrations.lock().unwrap().is_empty());
    // Only the application that may not manage the tenant got as far as the PUT (and its 403): no
    // gateway that fails the challenge does.
    assert_eq!(*mosaic.puts.lock().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_a_good_gateway_and_sends_a_test_sms() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = serve_gateway(dir.path());
    let uri = format!("{}/send-sms", gateway.url);

    let output = run(
        dir.path(),
        &["check", "--uri", &uri, "--api-key-env", "GW_KEY"],
        &[],
    )
    .await;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("pass: "), "{stdout}");

    let to = unique_phone();
    let args = [
        "check",
        "--uri",
        &uri,
        "--api-key-env",
        "GW_KEY",
        "--send-to",
        &to,
        "--message",
        "hello from check",
    ];
    let output = run(dir.path(), &args, &[]).await;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    let sent = stdout.lines().nth(1).unwrap();
    assert!(
        sent.contains("through outbox (message id outbox-"),
        "{sent}"
    );
    let outbox = std::fs::read_to_string(dir.path().join("outbox.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(outbox.lines().last().unwrap()).unwrap();
    assert_eq!(line["phone_number"], to.as_str());
    assert_eq!(line["message"], "hello from check");
    assert!(
        sent.contains(line["message_id"].as_str().unwrap()),
        "{sent}"
    );
    assert_no_secrets(&output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let no_echo = odd_gateway(Duration::ZERO, "application/json", false).await;
    let text_plain = odd_gateway(Duration::ZERO, "text/plain", true).await;
    let down = closed_endpoint();
    let tls = odd_gateway(Duration::ZERO, "application/json", true)
        .await
        .replace("http://", "https://");
    let cases = [
        (no_echo.as_str(), "did not echo the verification key"),
        (text_plain.as_str(), "Content-Type"),
        (down.as_str(), "is unreachable"),
        (tls.as_str(), "TLS with"),
        ("ftp://example.com/", "not an http(s) URL"),
    ];
    for (uri, expected) in cases {
        let output = run(
            dir.path(),
            &["check", "--uri", uri, "--api-key-env", "GW_KEY"],
            &[],
        )
        .await;
        let (stdout, stderr) = text(&output);
        assert!(!output.status.success(), "{uri}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(expected), "{uri}: {stderr}");
        assert_no_secrets(&output);
    }
    // No key from anywhere, and no terminal to ask on.
    let output = run(dir.path(), &["check", "--uri", &no_echo], &[]).await;
    assert!(!output.status.success());
    assert!(
        text(&output).1.contains("--api-key-env"),
        "{}",
        text(&output).1
    );
}
