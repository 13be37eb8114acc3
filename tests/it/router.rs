//! Every row of the contract table, through the Router in process.

use crate::support::*;
use axum::http::{Request, StatusCode};
use mosaic_sms_gateway::domain::outcome::ProviderError;
use serde_json::json;

fn valid_sms() -> serde_json::Value {
    json!({"phone_number": "+14155550100", "sender_id": "Acme", "message": "Your code is 123456"})
}

#[tokio::test]
async fn challenge_echoes_the_verification_key() {
    let app = gateway(vec![Box::new(Recorder::ok("fake"))]);
    let (r, body) = call(&app, challenge(Some(KEY), Some("Zk3-9_x.y~"))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(body, json!({"key": "Zk3-9_x.y~"}));
}

#[tokio::test]
async fn any_path_works_the_method_decides() {
    let app = gateway(vec![Box::new(Recorder::ok("fake"))]);
    for path in ["/", "/prod/send-sms", "/a/b/c?x=1"] {
        let request = Request::get(path)
            .header("x-api-key", KEY)
            .header("x-verification-key", "k1")
            .body(axum::body::Body::empty())
            .unwrap();
        let (r, body) = call(&app, request).await;
        assert_eq!(
            (r.status(), body),
            (StatusCode::OK, json!({"key": "k1"})),
            "{path}"
        );
    }
}

#[tokio::test]
async fn send_dispatches_once_and_answers_with_the_message_id() {
    let recorder = Recorder::ok("fake");
    let app = gateway(vec![Box::new(recorder.clone())]);
    let (r, body) = call(&app, send(valid_sms())).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        body,
        json!({"status": "sent", "provider": "fake", "message_id": "fake-msg-1"})
    );
    let sent = recorder.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].phone_number.as_str(), "+14155550100");
    assert_eq!(sent[0].sender_id.as_ref().unwrap().as_str(), "Acme");
    assert_eq!(sent[0].message.as_str(), "Your code is 123456");
}

#[tokio::test]
async fn unknown_fields_are_ignored_and_content_type_parameters_accepted() {
    let recorder = Recorder::ok("fake");
    let app = gateway(vec![Box::new(recorder.clone())]);
    let mut body = valid_sms();
    body["tenant"] = json!({"id": "t-1"});
    body["priority"] = json!(1);
    let (r, _) = call(
        &app,
        post(
            Some(KEY),
            Some("application/json; charset=utf-8"),
            body.to_string(),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(recorder.count(), 1);
}

#[tokio::test]
async fn wrong_or_missing_keys_get_401_and_nothing_is_sent() {
    let recorder = Recorder::ok("fake");
    let app = gateway(vec![Box::new(recorder.clone())]);
    let cases = [
        (send_with_key(None), "missing_api_key"),
        (send_with_key(Some("wrong-key")), "invalid_api_key"),
        (send_with_key(Some("")), "invalid_api_key"),
        (send_with_key(Some("local-dev-key ")), "invalid_api_key"),
        (challenge(None, Some("v")), "missing_api_key"),
        (
            challenge(Some("LOCAL-DEV-KEY"), Some("v")),
            "invalid_api_key",
        ),
    ];
    for (request, code) in cases {
        let (r, body) = call(&app, request).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], code);
        assert!(body["message"].as_str().unwrap().contains("X-API-Key"));
    }
    assert_eq!(recorder.count(), 0);
}

fn send_with_key(key: Option<&str>) -> Request<axum::body::Body> {
    post(key, Some("application/json"), valid_sms().to_string())
}

#[tokio::test]
async fn challenge_without_a_usable_verification_key_is_400() {
    let app = gateway(vec![Box::new(Recorder::ok("fake"))]);
    let (r, body) = call(&app, challenge(Some(KEY), None)).await;
    assert_eq!(
        (r.status(), body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_verification_key"))
    );
    for bad in ["", "has space", "tab\there", &"k".repeat(513)] {
        let (r, body) = call(&app, challenge(Some(KEY), Some(bad))).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(body["error"], "invalid_verification_key");
    }
    let (r, _) = call(&app, challenge(Some(KEY), Some(&"k".repeat(512)))).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_field_and_nothing_is_sent() {
    let recorder = Recorder::ok("fake");
    let app = gateway(vec![Box::new(recorder.clone())]);
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("{not json".into(), "invalid_json", None),
        ("".into(), "invalid_json", None),
        ("[1,2]".into(), "invalid_field", None),
        ("\"text\"".into(), "invalid_field", None),
        (
            json!({"message": "hi"}).to_string(),
            "missing_field",
            Some("phone_number"),
        ),
        (
            json!({"phone_number": "+14155550100"}).to_string(),
            "missing_field",
            Some("message"),
        ),
        (
            json!({"phone_number": 14155550100_u64, "message": "hi"}).to_string(),
            "invalid_field",
            Some("phone_number"),
        ),
        (
            json!({"phone_number": "+14155550100", "message": ["hi"]}).to_string(),
            "invalid_field",
            Some("message"),
        ),
        (
            json!({"phone_number": "+14155550100", "message": "hi", "sender_id": 5}).to_string(),
            "invalid_field",
            Some("sender_id"),
        ),
        (
            json!({"phone_number": "4155550100", "message": "hi"}).to_string(),
            "invalid_field",
            Some("phone_number"),
        ),
        (
            json!({"phone_number": "+1 415 555 0100", "message": "hi"}).to_string(),
            "invalid_field",
            Some("phone_number"),
        ),
        (
            json!({"phone_number": "+14155550100", "message": ""}).to_string(),
            "invalid_field",
            Some("message"),
        ),
        (
            json!({"phone_number": "+14155550100", "message": "x".repeat(1601)}).to_string(),
            "invalid_field",
            Some("message"),
        ),
    ];
    for (body, code, field) in cases {
        let (r, answer) = call(
            &app,
            post(Some(KEY), Some("application/json"), body.clone()),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"], code, "{body}");
        assert_eq!(answer["field"].as_str(), field, "{body}");
        if let Some(field) = field {
            assert!(
                answer["message"].as_str().unwrap().contains(field),
                "{answer}"
            );
        }
    }
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn non_json_content_types_get_415() {
    let recorder = Recorder::ok("fake");
    let app = gateway(vec![Box::new(recorder.clone())]);
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
        Some("application/jsonx"),
    ] {
        let (r, body) = call(&app, post(Some(KEY), ct, valid_sms().to_string())).await;
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        assert_eq!(body["error"], "unsupported_media_type");
    }
    let (r, _) = call(
        &app,
        post(
            Some(KEY),
            Some("application/merge-patch+json"),
            valid_sms().to_string(),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(recorder.count(), 1);
}

#[tokio::test]
async fn bodies_over_16_kib_get_413() {
    let recorder = Recorder::ok("fake");
    let app = gateway(vec![Box::new(recorder.clone())]);
    let mut big = valid_sms();
    big["padding"] = json!("x".repeat(16 * 1024));
    let (r, body) = call(&app, send(big)).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "body_too_large");
    // Just under the limit is fine (the unknown field is ignored).
    let mut fits = valid_sms();
    let room = 16 * 1024 - fits.to_string().len() - r#","padding":"""#.len();
    fits["padding"] = json!("x".repeat(room));
    assert_eq!(fits.to_string().len(), 16 * 1024);
    let (r, _) = call(&app, send(fits)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(recorder.count(), 1);
}

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let app = gateway(vec![Box::new(Recorder::ok("fake"))]);
    for method in ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        let request = Request::builder()
            .method(method)
            .uri("/")
            .header("x-api-key", KEY)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.clone(), request)
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "GET, POST");
    }
    let (_, body) = call(
        &app,
        Request::put("/").body(axum::body::Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test]
async fn a_refused_recipient_is_422_with_the_reason_and_no_failover() {
    let refusing = Recorder::answering("first", || {
        Err(ProviderError::rejected("the number has opted out"))
    });
    let second = Recorder::ok("second");
    let app = gateway(vec![Box::new(refusing.clone()), Box::new(second.clone())]);
    let (r, body) = call(&app, send(valid_sms())).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "recipient_rejected");
    assert_eq!(body["message"], "the number has opted out");
    assert_eq!((refusing.count(), second.count()), (1, 0));
}

#[tokio::test]
async fn a_failing_provider_is_502_or_fails_over_to_the_next() {
    let failing = Recorder::answering("first", || Err(ProviderError::unavailable("throttled")));
    let app = gateway(vec![Box::new(failing.clone())]);
    let (r, body) = call(&app, send(valid_sms())).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        body,
        json!({"error": "provider_failed", "message": "throttled"})
    );

    let second = Recorder::ok("second");
    let app = gateway(vec![Box::new(failing.clone()), Box::new(second.clone())]);
    let (r, body) = call(&app, send(valid_sms())).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body["provider"], "second");
    assert_eq!((failing.count(), second.count()), (2, 1));
}

#[tokio::test]
async fn a_send_that_may_have_gone_out_is_502_and_never_failed_over() {
    let uncertain = Recorder::answering("first", || {
        Err(ProviderError::indeterminate("timed out after sending"))
    });
    let second = Recorder::ok("second");
    let app = gateway(vec![Box::new(uncertain.clone()), Box::new(second.clone())]);
    let (r, body) = call(&app, send(valid_sms())).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], "delivery_unknown");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("timed out after sending"),
        "{body}"
    );
    assert_eq!((uncertain.count(), second.count()), (1, 0));
}

#[tokio::test]
async fn no_input_makes_the_handler_panic_or_answer_500() {
    let app = gateway(vec![Box::new(Recorder::ok("fake"))]);
    let nasty: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00],
        b"{\"phone_number\": \"+1\\ud800\", \"message\": \"x\"}".to_vec(),
        b"{\"phone_number\": \"+14155550100\", \"message\": \"\\u0000\"}".to_vec(),
        "[".repeat(10_000).into_bytes(),
        b"{\"phone_number\": \"+\", \"message\": \"x\"}".to_vec(),
        b"null".to_vec(),
        b"1e999999".to_vec(),
        json!({"phone_number": "+٤١٥٥٥٥٠١٠٠٠", "message": "x"})
            .to_string()
            .into_bytes(),
        json!({"phone_number": "+14155550100", "message": "🙂".repeat(1600)})
            .to_string()
            .into_bytes(),
    ];
    for body in nasty {
        let (r, _) = call(
            &app,
            post(Some(KEY), Some("application/json"), body.clone()),
        )
        .await;
        assert!(
            r.status().is_success() || r.status().is_client_error(),
            "{} for {:?}",
            r.status(),
            String::from_utf8_lossy(&body)
        );
    }
    // A header that is not valid UTF-8.
    let request = Request::get("/")
        .header("x-api-key", KEY)
        .header(
            "x-verification-key",
            axum::http::HeaderValue::from_bytes(&[0xc3, 0x28]).unwrap(),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let (r, body) = call(&app, request).await;
    assert_eq!(
        (r.status(), body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_verification_key"))
    );
}
