//! The binary as Lambda runs it: a stand-in for the Lambda Runtime API on loopback hands it
//! `events/` files, and the test reads the answers it posts back and the JSON logs it prints.

use crate::process::BIN;
use crate::support::*;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde_json::json;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Clone)]
struct RuntimeApi {
    events: Arc<Mutex<VecDeque<(String, String)>>>,
    answers: mpsc::UnboundedSender<(String, serde_json::Value)>,
}

/// `GET .../invocation/next`: the next event, or wait forever once they are all handed out.
async fn next(State(api): State<RuntimeApi>) -> (HeaderMap, String) {
    let Some((id, event)) = api.events.lock().unwrap().pop_front() else {
        return std::future::pending().await;
    };
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        "4102444800000".parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:mosaic-sms-gateway"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-5e0d8c5a-1a2b3c4d5e6f7a8b9c0d1e2f".parse().unwrap(),
    );
    (headers, event)
}

async fn respond(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: String,
) -> &'static str {
    let _ = api.answers.send((id, serde_json::from_str(&body).unwrap()));
    "{}"
}

async fn error(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: String,
) -> &'static str {
    let _ = api
        .answers
        .send((id, serde_json::json!({"invocation_error": body})));
    "{}"
}

/// What one run of the binary under the Runtime API stand-in gave.
struct LambdaRun {
    /// The answers it posted back, in order.
    answers: Vec<serde_json::Value>,
    /// Its stdout: JSON log lines and EMF metric lines.
    lines: Vec<serde_json::Value>,
    /// What the outbox provider wrote.
    outbox: String,
}

/// Runs the binary as Lambda (outbox provider, key `local-dev-key`, JSON logs, and `env`) on
/// `files` from events/, and stops it once it has answered them all.
async fn run_lambda(files: &[&str], env: &[(&str, &str)]) -> LambdaRun {
    let events = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let path = format!("{}/events/{f}", env!("CARGO_MANIFEST_DIR"));
            (
                format!("invocation-{i}"),
                std::fs::read_to_string(path).unwrap(),
            )
        })
        .collect();
    let (tx, mut answers) = mpsc::unbounded_channel();
    let api = RuntimeApi {
        events: Arc::new(Mutex::new(events)),
        answers: tx,
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(|| async { "{}" }))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command
        .current_dir(dir.path())
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "mosaic-sms-gateway")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/mosaic-sms-gateway",
        )
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("GATEWAY_API_KEY", KEY)
        .env("SMS_PROVIDER", "outbox")
        .env("OUTBOX_PATH", dir.path().join("outbox.jsonl"));
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut posted = Vec::new();
    for i in 0..files.len() {
        let (id, answer) = tokio::time::timeout(Duration::from_secs(30), answers.recv())
            .await
            .expect("the function answered in time")
            .unwrap();
        assert_eq!(id, format!("invocation-{i}"));
        posted.push(answer);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let lines = stdout
        .lines()
        .map(|l| l.unwrap())
        .map(|l| serde_json::from_str(&l).unwrap_or_else(|_| panic!("not a JSON log line: {l}")))
        .collect();
    LambdaRun {
        answers: posted,
        lines,
        outbox: std::fs::read_to_string(dir.path().join("outbox.jsonl")).unwrap_or_default(),
    }
}

fn status(answer: &serde_json::Value) -> u64 {
    answer["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("{answer}"))
}

#[tokio::test]
async fn lambda_answers_api_gateway_events_and_logs_json() {
    let files = [
        "200-challenge.json",
        "200-send.json",
        "401-wrong-key.json",
        "200-rest-api-send.json",
    ];
    let run = run_lambda(&files, &[]).await;
    let statuses: Vec<u64> = run.answers.iter().map(status).collect();
    assert_eq!(statuses, vec![200, 200, 401, 200]);
    let body: serde_json::Value =
        serde_json::from_str(run.answers[0]["body"].as_str().unwrap()).unwrap();
    assert!(body["key"].is_string(), "{body}");
    assert_eq!(run.outbox.lines().count(), 2, "the two sends, once each");

    // JSON logs, one request event per invocation with its Lambda request id, nothing secret.
    let lines = &run.lines;
    let events: Vec<&serde_json::Value> =
        lines.iter().filter(|e| e["message"] == "request").collect();
    // And one Embedded Metric Format line per send, for CloudWatch.
    let metrics: Vec<&serde_json::Value> =
        lines.iter().filter(|e| e.get("_aws").is_some()).collect();
    assert_eq!(metrics.len(), 2, "{lines:?}");
    for m in metrics {
        assert_eq!(m["FunctionName"], "mosaic-sms-gateway");
        assert_eq!(
            (m["Provider"].as_str(), m["SmsSent"].as_u64()),
            (Some("outbox"), Some(1))
        );
    }
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "invocation-0",
            "invocation-1",
            "invocation-2",
            "invocation-3"
        ]
    );
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("verification code is"), "{text}");
    assert!(!text.contains(KEY), "{text}");
    assert!(!text.contains("+14155550100"), "{text}");
}

/// The idempotency table where nothing answers: every store call fails at once.
fn unreachable_table(on_failure: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("IDEMPOTENCY_TABLE", "mosaic-sms-gateway-idempotency".into()),
        ("AWS_ENDPOINT_URL_DYNAMODB", closed_endpoint()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("LIMITS_ON_STORE_FAILURE", on_failure.into()),
    ]
}

fn store_errors(lines: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    lines
        .iter()
        .filter(|l| l.get("IdempotencyStoreErrors").is_some())
        .collect()
}

#[tokio::test]
async fn a_failing_store_is_counted_and_limits_on_store_failure_decides_the_send() {
    for (mode, expected_status, sent) in [("open", 200, 1), ("closed", 503, 0)] {
        let env = unreachable_table(mode);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let run = run_lambda(&["200-send.json"], &env).await;
        let answer = &run.answers[0];
        assert_eq!(status(answer), expected_status, "{mode}: {answer}");
        assert_eq!(run.outbox.lines().count(), sent, "{mode}");
        if mode == "closed" {
            let body: serde_json::Value =
                serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
            assert_eq!(body["error"], "limits_unavailable", "{body}");
        }
        let errors = store_errors(&run.lines);
        assert!(
            !errors.is_empty(),
            "{mode}: the store failure is counted: {:?}",
            run.lines
        );
        assert_eq!(errors[0]["Operation"], "claim", "{mode}");
        assert_eq!(errors[0]["FunctionName"], "mosaic-sms-gateway");
    }
}

#[tokio::test]
async fn refusals_are_counted_by_reason_and_country_and_send_nothing() {
    let files = [
        "422-premium-rate-number.json",
        "422-invalid-number.json",
        "422-country-not-allowed.json",
        "200-send.json",
    ];
    let run = run_lambda(&files, &[("BLOCKED_COUNTRIES", "KZ")]).await;
    let statuses: Vec<u64> = run.answers.iter().map(status).collect();
    assert_eq!(statuses, vec![422, 422, 422, 200]);
    assert_eq!(run.outbox.lines().count(), 1, "only the valid mobile");

    let metrics: Vec<&serde_json::Value> = run
        .lines
        .iter()
        .filter(|e| e.get("_aws").is_some())
        .collect();
    let by_country: Vec<(&str, &str, u64)> = metrics
        .iter()
        .filter(|m| {
            m["_aws"]["CloudWatchMetrics"][1]["Dimensions"][0]
                == json!(["FunctionName", "Outcome", "Country"])
        })
        .map(|m| {
            (
                m["Outcome"].as_str().unwrap(),
                m["Country"].as_str().unwrap(),
                m["SmsRejected"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_country,
        [
            ("number_type_not_allowed", "GB", 1),
            ("invalid_number", "unknown", 1),
            ("country_not_allowed", "KZ", 1),
        ]
    );
    // The send is counted by provider and outcome, not by country; its segments (what it is
    // billed) by provider, and by provider and country.
    let sent: Vec<_> = metrics.iter().filter(|m| m["SmsSent"] == 1).collect();
    assert_eq!(sent.len(), 1);
    let directives = &sent[0]["_aws"]["CloudWatchMetrics"];
    assert_eq!(
        directives[0]["Dimensions"],
        json!([["FunctionName"], ["FunctionName", "Provider", "Outcome"]])
    );
    assert_eq!(directives[2]["Metrics"][0]["Name"], "SmsSegments");
    assert_eq!(
        directives[2]["Dimensions"],
        json!([
            ["FunctionName", "Provider"],
            ["FunctionName", "Provider", "Country"]
        ])
    );
    assert_eq!(sent[0]["SmsSegments"], 1);
    assert_eq!(sent[0]["Country"], "US");
}

#[tokio::test]
async fn a_twilio_status_callback_is_counted_and_logged_masked_and_sends_nothing() {
    let files = [
        "204-twilio-status-delivered.json",
        "204-twilio-status-undelivered.json",
        "403-twilio-status-unsigned.json",
        "403-twilio-status-wrong-signature.json",
    ];
    let env = [
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_API_BASE", "http://127.0.0.1:9"),
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("TWILIO_AUTH_TOKEN", "7e577e577e577e577e577e577e577e57"),
        ("TWILIO_FROM", "+15005550006"),
        (
            "TWILIO_STATUS_CALLBACK_URL",
            "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/twilio/status",
        ),
    ];
    let run = run_lambda(&files, &env).await;
    let statuses: Vec<u64> = run.answers.iter().map(status).collect();
    assert_eq!(statuses, vec![204, 204, 403, 403]);
    // The unsigned post is anyone's: counted apart. The one of Twilio's shape for our account
    // that the auth token does not give is the alarmed kind.
    let refusals: Vec<(&str, &str)> = run
        .lines
        .iter()
        .filter_map(|l| {
            let metric = ["TwilioCallbacksRefused", "TwilioCallbacksAnonymous"]
                .into_iter()
                .find(|m| l[*m] == 1)?;
            Some((metric, l["Reason"].as_str().unwrap()))
        })
        .collect();
    assert_eq!(
        refusals,
        [
            ("TwilioCallbacksAnonymous", "missing"),
            ("TwilioCallbacksRefused", "mismatch")
        ]
    );

    let deliveries: Vec<(&str, &str, u64, u64)> = run
        .lines
        .iter()
        .filter(|l| l.get("SmsDelivered").is_some())
        .map(|m| {
            (
                m["Provider"].as_str().unwrap(),
                m["Country"].as_str().unwrap(),
                m["SmsDelivered"].as_u64().unwrap(),
                m["SmsNotDelivered"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(deliveries, [("twilio", "US", 1, 0), ("twilio", "DE", 0, 1)]);
    let logged: Vec<&serde_json::Value> = run
        .lines
        .iter()
        .filter(|l| l["message"] == "delivery")
        .collect();
    assert_eq!(logged.len(), 2, "{:?}", run.lines);
    assert_eq!(logged[1]["status"], "undelivered");
    assert_eq!(logged[1]["error_code"], "30003");
    assert_eq!(
        logged[1]["message_id"],
        "SMfedcba9876543210fedcba9876543210"
    );
    assert_eq!(logged[1]["phone"], "+49*********89");
    let text = serde_json::to_string(&run.lines).unwrap();
    assert!(
        !text.contains("4155550100") && !text.contains("15123456789"),
        "{text}"
    );
    assert!(run.outbox.is_empty());
}

#[tokio::test]
async fn an_infobip_report_is_counted_and_logged_masked_and_sends_nothing() {
    let files = [
        "204-infobip-status-delivered.json",
        "403-infobip-status-no-token.json",
    ];
    let env = [
        ("SMS_PROVIDER", "infobip"),
        ("INFOBIP_BASE_URL", "http://127.0.0.1:9"),
        ("INFOBIP_API_KEY", "local-test-infobip-key"),
        ("INFOBIP_FROM", "Acme"),
        // The key whose token events/204-infobip-status-delivered.json carries.
        ("FINGERPRINT_KEY", "local-test-fingerprint-key-0000"),
        (
            "RECEIPTS_BASE_URL",
            "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        ),
    ];
    let run = run_lambda(&files, &env).await;
    let statuses: Vec<u64> = run.answers.iter().map(status).collect();
    assert_eq!(statuses, vec![204, 403]);
    let refusals: Vec<(&str, &str)> = run
        .lines
        .iter()
        .filter_map(|l| {
            let metric = ["InfobipCallbacksRefused", "InfobipCallbacksAnonymous"]
                .into_iter()
                .find(|m| l[*m] == 1)?;
            Some((metric, l["Reason"].as_str().unwrap()))
        })
        .collect();
    assert_eq!(refusals, [("InfobipCallbacksAnonymous", "missing")]);
    let deliveries: Vec<(&str, &str, u64, u64)> = run
        .lines
        .iter()
        .filter(|l| l.get("SmsDelivered").is_some())
        .map(|m| {
            (
                m["Provider"].as_str().unwrap(),
                m["Country"].as_str().unwrap(),
                m["SmsDelivered"].as_u64().unwrap(),
                m["SmsNotDelivered"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(deliveries, [("infobip", "US", 1, 0)]);
    let logged: Vec<&serde_json::Value> = run
        .lines
        .iter()
        .filter(|l| l["message"] == "delivery")
        .collect();
    assert_eq!(logged.len(), 1, "{:?}", run.lines);
    assert_eq!(logged[0]["status"], "DELIVERED_TO_HANDSET");
    assert_eq!(logged[0]["message_id"], "5c3b2a1f0e9d8c7b6a5f4e3d2c1b0a99");
    assert!(logged[0].get("error_code").is_none_or(|e| e.is_null()));
    let text = serde_json::to_string(&run.lines).unwrap();
    assert!(
        !text.contains("4155550100")
            && !text.contains("5f8db4b722e6407468156978cdefb70c4d332d72394e16b605e9a2d3ebe2bfee")
            && !text.contains("local-test-fingerprint-key-0000"),
        "{text}"
    );
    assert!(run.outbox.is_empty());
}
