//! The binary as Lambda runs it: a stand-in for the Lambda Runtime API on loopback hands it
//! `events/` files, and the test reads the answers it posts back and the JSON logs it prints.

use crate::process::BIN;
use crate::support::*;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_answers_api_gateway_events_and_logs_json() {
    let files = [
        "200-challenge.json",
        "200-send.json",
        "401-wrong-key.json",
        "200-rest-api-send.json",
    ];
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
    let mut child = Command::new(BIN)
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
        .env("OUTBOX_PATH", dir.path().join("outbox.jsonl"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut statuses = Vec::new();
    for i in 0..files.len() {
        let (id, answer) = tokio::time::timeout(Duration::from_secs(30), answers.recv())
            .await
            .expect("the function answered in time")
            .unwrap();
        assert_eq!(id, format!("invocation-{i}"));
        statuses.push(
            answer["statusCode"]
                .as_u64()
                .unwrap_or_else(|| panic!("{answer}")),
        );
        if i == 0 {
            let body: serde_json::Value =
                serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
            assert!(body["key"].is_string(), "{answer}");
        }
    }
    assert_eq!(statuses, vec![200, 200, 401, 200]);
    child.kill().unwrap();
    child.wait().unwrap();

    let outbox = std::fs::read_to_string(dir.path().join("outbox.jsonl")).unwrap();
    assert_eq!(outbox.lines().count(), 2, "the two sends, once each");

    // JSON logs, one request event per invocation with its Lambda request id, nothing secret.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| l.unwrap())
        .map(|l| serde_json::from_str(&l).unwrap_or_else(|_| panic!("not a JSON log line: {l}")))
        .collect();
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
