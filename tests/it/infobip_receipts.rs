//! Infobip's delivery reports at `/infobip/status`: Infobip does not sign its webhooks, so sends
//! ask for reports (`webhooks.delivery.url`) with the gateway's token in the URL, made from the
//! fingerprint key, and only while there is one; a report with that token is taken, one without it
//! or with another is refused, and the kind of refusal that points at our set-up is told apart
//! from noise; a report never sends.

use crate::infobip::{API_KEY, FakeInfobip, messages, pending};
use crate::support::*;
use crate::twilio::gateway_from_env;
use axum::body::Body;
use axum::http::Request;
use mosaic_sms_gateway::adapters::providers::receipts::Verdict;
use mosaic_sms_gateway::entry::http::router;
use serde_json::{Value, json};

const BASE_URL: &str = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com";
const FINGERPRINT_KEY: &str = "infobip-fingerprint-key-never-logged";

/// A delivery report as Infobip posts one (`results[]`, one per message).
fn report(to: &str, group: u64, name: &str) -> Value {
    json!({"results": [{
        "bulkId": "2034072219640523072",
        "messageId": "5c3b2a1f0e9d8c7b6a5f4e3d2c1b0a99",
        "to": to,
        "sender": "Acme",
        "sentAt": "2025-11-26T06:30:26.123+0000",
        "doneAt": "2025-11-26T06:30:29.456+0000",
        "messageCount": 1,
        "price": {"pricePerMessage": 0.0075, "currency": "EUR"},
        "status": {"groupId": group, "groupName": "G", "id": 5, "name": name,
                   "description": "described"},
        "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR",
                  "description": "No Error", "permanent": false},
    }]})
}

fn post(query: &str, body: &Value) -> Request<Body> {
    Request::post(format!("/infobip/status{query}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn infobip_gateway(
    extra: &[(&str, &str)],
) -> (mosaic_sms_gateway::app::AppState, wiremock::MockServer) {
    let (infobip, _) = FakeInfobip::new(pending).start().await;
    let base = infobip.uri();
    let mut vars = vec![
        ("SMS_PROVIDER", "infobip"),
        ("INFOBIP_BASE_URL", base.as_str()),
        ("INFOBIP_API_KEY", API_KEY),
        ("INFOBIP_FROM", "Acme"),
        ("RECEIPTS_BASE_URL", BASE_URL),
    ];
    vars.extend_from_slice(extra);
    (gateway_from_env(&vars).await, infobip)
}

/// The token in the URL the send gave Infobip.
async fn token_sent(infobip: &wiremock::MockServer) -> String {
    let sent = messages(infobip).await;
    let webhooks = &sent.last().unwrap()["messages"][0]["webhooks"];
    assert_eq!(webhooks["contentType"], "application/json", "{webhooks}");
    let url = webhooks["delivery"]["url"].as_str().unwrap();
    let (path, token) = url.split_once("?token=").unwrap();
    assert_eq!(path, format!("{BASE_URL}/infobip/status"));
    token.to_owned()
}

#[tokio::test]
async fn sends_ask_for_reports_with_the_gateways_token_and_only_that_token_is_taken() {
    let (state, infobip) = infobip_gateway(&[("FINGERPRINT_KEY", FINGERPRINT_KEY)]).await;
    let app = router(state);
    let send_sms = json!({"phone_number": "+14155550140", "message": "Your code is 4321"});
    let (response, body) = call(&app, send(send_sms)).await;
    assert_eq!(response.status(), 200, "{body}");
    let token = token_sent(&infobip).await;
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");

    let delivered = report("14155550140", 3, "DELIVERED_TO_HANDSET");
    let (response, body) = call(&app, post(&format!("?token={token}"), &delivered)).await;
    assert_eq!(response.status(), 204, "{body}");
    // A status on the way, and a body that is no report: taken, nothing counted.
    let pending_report = report("14155550140", 1, "PENDING_ENROUTE");
    for body in [pending_report, json!({"not": "a report"})] {
        let (response, _) = call(&app, post(&format!("?token={token}"), &body)).await;
        assert_eq!(response.status(), 204);
    }

    let other = "0".repeat(64);
    for query in [
        String::new(),
        "?token=".to_owned(),
        "?token=abc".to_owned(),
        format!("?token={other}"),
        format!("?tok={token}"),
    ] {
        let (response, body) = call(&app, post(&query, &delivered)).await;
        assert_eq!(response.status(), 403, "{query}: {body}");
        assert_eq!(body["error"], "invalid_signature", "{query}: {body}");
    }
    let get = Request::get(format!("/infobip/status?token={token}"))
        .body(Body::empty())
        .unwrap();
    let (response, _) = call(&app, get).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(messages(&infobip).await.len(), 1, "a report never sends");
}

#[tokio::test]
async fn only_a_token_of_ours_that_the_key_does_not_give_points_at_our_set_up() {
    let (state, _) = infobip_gateway(&[("FINGERPRINT_KEY", FINGERPRINT_KEY)]).await;
    let receipts = state.infobip_receipts().unwrap();
    let stale = "ab".repeat(32);
    assert_eq!(
        receipts.verify(Some(&format!("token={stale}"))),
        Verdict::Mismatch
    );
    for (query, why) in [
        (None, "missing"),
        (Some("a=1"), "missing"),
        (Some("token=12345"), "malformed"),
    ] {
        assert_eq!(receipts.verify(query), Verdict::Anonymous(why), "{query:?}");
    }
}

#[tokio::test]
async fn without_a_fingerprint_key_sends_ask_for_no_report_and_none_is_taken() {
    let (state, infobip) = infobip_gateway(&[]).await;
    let app = router(state.clone());
    let send_sms = json!({"phone_number": "+14155550141", "message": "Your code is 4321"});
    let (response, body) = call(&app, send(send_sms)).await;
    assert_eq!(response.status(), 200, "{body}");
    let sent = messages(&infobip).await;
    assert!(
        sent[0]["messages"][0].get("webhooks").is_none(),
        "{}",
        sent[0]
    );
    let any = "ab".repeat(32);
    let delivered = report("14155550141", 3, "DELIVERED_TO_HANDSET");
    let (response, _) = call(&app, post(&format!("?token={any}"), &delivered)).await;
    assert_eq!(response.status(), 403);
}

/// The fingerprint key in the gateway secret (moto's Secrets Manager) makes the token, as it
/// makes the store's names.
#[tokio::test]
async fn the_fingerprint_key_of_the_gateway_secret_makes_the_token() {
    let name = format!("mosaic/infobip-receipts-{}", std::process::id());
    let value =
        json!({"api_key": KEY, "infobip_api_key": API_KEY, "fingerprint_key": FINGERPRINT_KEY});
    new_secret(&name, &value.to_string()).await;
    let (state, infobip) = infobip_gateway(&[("GATEWAY_SECRET_ID", &name)]).await;
    let app = router(state);
    let send_sms = json!({"phone_number": "+14155550142", "message": "Your code is 4321"});
    let (response, body) = call(&app, send(send_sms)).await;
    assert_eq!(response.status(), 200, "{body}");
    let token = token_sent(&infobip).await;
    let delivered = report("14155550142", 3, "DELIVERED_TO_HANDSET");
    let (response, body) = call(&app, post(&format!("?token={token}"), &delivered)).await;
    assert_eq!(response.status(), 204, "{body}");

    // The same key from the environment gives the same token: it is the key's, not the place's.
    let (state, _) = infobip_gateway(&[("FINGERPRINT_KEY", FINGERPRINT_KEY)]).await;
    let receipts = state.infobip_receipts().unwrap();
    assert_eq!(
        receipts.verify(Some(&format!("token={token}"))),
        Verdict::Signed
    );
}
