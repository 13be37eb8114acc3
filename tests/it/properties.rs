//! Property tests (proptest): arbitrary requests never panic the handler and are always answered
//! as the contract says; arbitrary environments never panic the configuration, and what they
//! configure never panics the gateway's first request.

use crate::support::*;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request};
use mosaic_sms_gateway::app::config::Config;
use mosaic_sms_gateway::entry::http::router;
use mosaic_sms_gateway::settings::Host;
use proptest::prelude::*;
use std::collections::HashMap;

/// Every status the contract names.
const CONTRACT_STATUSES: &[u16] = &[200, 400, 401, 405, 413, 415, 422, 429, 502, 503];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A header value as a client could send one: usually printable, sometimes any bytes HTTP allows.
fn header_value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        Just(Some(KEY.as_bytes().to_vec())),
        "[ -~]{0,40}".prop_map(|s| Some(s.into_bytes())),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Some),
    ]
}

/// A body: JSON of the right shape with odd values, odd JSON, or any bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        "\\PC{0,30}".prop_map(serde_json::Value::from),
        "\\+[0-9]{0,17}".prop_map(serde_json::Value::from),
        Just(serde_json::json!("+14155550100")),
        Just(serde_json::json!(["+14155550100"])),
        Just(serde_json::json!({"nested": {}})),
    ];
    let object = (
        proptest::option::of(value.clone()),
        proptest::option::of(value.clone()),
        proptest::option::of(value),
    )
        .prop_map(|(phone, sender, message)| {
            let mut body = serde_json::Map::new();
            for (name, v) in [
                ("phone_number", phone),
                ("sender_id", sender),
                ("message", message),
            ] {
                if let Some(v) = v {
                    body.insert(name.to_owned(), v);
                }
            }
            serde_json::Value::Object(body).to_string().into_bytes()
        });
    prop_oneof![
        object,
        "\\PC{0,200}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..300),
        (1usize..40).prop_map(|n| "[".repeat(n * 1000).into_bytes()),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::DELETE),
        Just(Method::HEAD),
        Just(Method::OPTIONS),
        Just(Method::PATCH),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_request_gets_an_answer_the_contract_lists(
        method in method(),
        path in "/[a-z0-9/._-]{0,20}",
        api_key in header_value(),
        content_type in prop_oneof![
            Just(None),
            Just(Some(b"application/json".to_vec())),
            Just(Some(b"application/json; charset=utf-8".to_vec())),
            "[ -~]{0,30}".prop_map(|s| Some(s.into_bytes())),
        ],
        verification in header_value(),
        body in body(),
    ) {
        let app = gateway(vec![Box::new(Recorder::ok("fake"))]);
        let mut request = Request::builder().method(method.clone()).uri(path);
        for (name, value) in [("x-api-key", &api_key), ("content-type", &content_type), ("x-verification-key", &verification)] {
            if let Some(value) = value.as_ref().and_then(|v| HeaderValue::from_bytes(v).ok()) {
                request = request.header(name, value);
            }
        }
        let request = request.body(Body::from(body)).unwrap();
        let (response, json) = runtime().block_on(call(&app, request));
        let status = response.status().as_u16();
        prop_assert!(CONTRACT_STATUSES.contains(&status), "status {status}: {json}");
        if method == Method::HEAD {
            return Ok(());
        }
        if status == 200 {
            let answered = json.get("key").is_some() || json["status"] == "sent" || json["status"] == "duplicate";
            prop_assert!(answered, "{json}");
        } else {
            prop_assert!(json["error"].is_string() && json["message"].is_string(), "{status}: {json}");
        }
        if status == 405 {
            prop_assert_eq!(response.headers().get("allow").map(|v| v.as_bytes()), Some(&b"GET, POST"[..]));
        }
    }
}

/// Values a setting may be given: numbers at and past every edge, flags, lists, JSON, junk.
fn setting_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..100_000).prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        Just("1e3".to_owned()),
        Just(String::new()),
        Just("true".to_owned()),
        Just("closed".to_owned()),
        Just("sns,outbox".to_owned()),
        Just("twilio".to_owned()),
        Just("+15005550006".to_owned()),
        Just("AC0123456789abcdef0123456789abcdef".to_owned()),
        Just(r#"{"US": "+15005550006", "GB": "Acme"}"#.to_owned()),
        Just("US,GB".to_owned()),
        "\\PC{0,24}",
    ]
}

fn environment() -> impl Strategy<Value = HashMap<String, String>> {
    let names: Vec<&'static str> = crate::process::CONFIG_VARS
        .iter()
        .copied()
        .filter(|name| !name.starts_with("AWS_") && *name != "RUST_LOG")
        .chain(["LIMITS_ON_STORE_FAILURE"])
        .collect();
    proptest::collection::hash_map(
        proptest::sample::select(names).prop_map(str::to_owned),
        setting_value(),
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_environment_is_configured_or_refused_in_one_line_and_never_panics_a_request(
        mut env in environment(),
        lambda in any::<bool>(),
    ) {
        // Nothing may leave this machine or litter the checkout: Twilio is a closed port too, and
        // the outbox writes into a directory of the test's own.
        let dir = tempfile::tempdir().unwrap();
        env.insert("TWILIO_API_BASE".into(), closed_endpoint());
        env.insert("OUTBOX_PATH".into(), dir.path().join("outbox.jsonl").display().to_string());
        let host = if lambda { Host::Lambda } else { Host::Local };
        let config = match Config::from_lookup(host, |name| env.get(name).cloned()) {
            Ok(config) => config,
            Err(err) => {
                let line = err.to_string();
                prop_assert!(!line.is_empty() && !line.contains('\n'), "{line:?}");
                return Ok(());
            }
        };
        // Whatever it configured, the first requests (a wrong key, a send) must not panic. AWS,
        // when used, is a port where nothing listens, so every call fails at once.
        let runtime = runtime();
        runtime.block_on(async {
            let sdk = aws_config(&closed_endpoint()).await;
            let state = match app_state(&config, Some(sdk)) {
                Ok(state) => state,
                Err(err) => {
                    let line = err.to_string();
                    assert!(!line.contains('\n'), "{line:?}");
                    return;
                }
            };
            let app = router(state);
            for request in [
                challenge(Some("not-the-key"), Some("v")),
                send(serde_json::json!({"phone_number": "+14155550100", "message": "code 1"})),
            ] {
                let (response, json) = call(&app, request).await;
                let status = response.status().as_u16();
                assert!(CONTRACT_STATUSES.contains(&status), "{status}: {json}");
            }
        });
    }
}
