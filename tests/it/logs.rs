//! The log rules: one event per request with a masked phone number, and never a message text, an
//! API key or a full phone number, at any level, from this crate or its dependencies.

use crate::support::*;
use mosaic_sms_gateway::providers::ProviderError;
use mosaic_sms_gateway::telemetry;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn logs_hold_no_passcode_key_or_phone_number_even_at_trace() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(telemetry::filter(Some("trace")))
        .with_writer(captured.clone())
        .json()
        .flatten_event(true)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let api_key = "k3y-that-must-not-leak";
    let message = "Your Acme code is 918273";
    let phone = unique_phone();
    let secret =
        format!(r#"{{"api_key":"{api_key}","previous_api_key":"old-k3y-that-must-not-leak"}}"#);
    let app = sns_gateway_with_secret(&secret).await;

    let body = json!({"phone_number": phone, "sender_id": "Acme", "message": message}).to_string();
    let (ok, answer) = call(
        &app,
        post(Some(api_key), Some("application/json"), body.clone()),
    )
    .await;
    assert_eq!(ok.status(), 200, "{answer}");
    let (denied, _) = call(
        &app,
        post(
            Some("wrong-k3y-that-must-not-leak"),
            Some("application/json"),
            body,
        ),
    )
    .await;
    assert_eq!(denied.status(), 401);
    let empty = json!({"phone_number": phone, "message": ""}).to_string();
    let (bad, _) = call(&app, post(Some(api_key), Some("application/json"), empty)).await;
    assert_eq!(bad.status(), 400);

    // A provider whose error quotes the number, failing over to one that sends.
    let quoting = Recorder::answering("first", {
        let phone = phone.clone();
        move || Err(ProviderError::unavailable(format!("{phone} is throttled")))
    });
    let failover = gateway(vec![Box::new(quoting), Box::new(Recorder::ok("second"))]);
    let (r, _) = call(
        &failover,
        send(json!({"phone_number": phone, "message": message})),
    )
    .await;
    assert_eq!(r.status(), 200);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("is throttled"),
        "the failover is logged:\n{text}"
    );
    for secret in [
        message,
        "918273",
        api_key,
        "k3y-that-must-not-leak",
        &phone,
        &phone[1..],
    ] {
        assert!(
            !text.contains(secret),
            "{secret:?} leaked into the logs:\n{text}"
        );
    }
    let requests: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 4, "one event per request:\n{text}");
    let sent = &requests[0];
    assert_eq!(sent["outcome"], "sent");
    assert_eq!(sent["provider"], "sns");
    assert_eq!(sent["status"], 200);
    assert_eq!(sent["message_id"], answer["message_id"]);
    assert!(sent["latency_ms"].as_f64().is_some());
    let masked = sent["phone"].as_str().unwrap();
    assert!(
        masked.starts_with("+1")
            && masked.ends_with(&phone[phone.len() - 2..])
            && masked.contains("****"),
        "{masked}"
    );
    assert_eq!(requests[1]["outcome"], "invalid_api_key");
    assert_eq!(requests[2]["outcome"], "invalid_field");
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
