//! Vonage's delivery receipts at `/vonage/status`: sends ask for them (`callback`) only while a
//! signature secret is known to check them with; a receipt signed as Vonage signs (`sig`, by the
//! configured method, over the query of a `GET`, the form of a `POST` or its JSON) is taken, one
//! unsigned, wrongly signed or changed is refused; a changed signature secret is healed by one
//! re-read of the gateway secret; only a refusal that points at our secret is the alarmed kind;
//! and a receipt never sends.

use crate::support::*;
use crate::twilio::gateway_from_env;
use crate::vonage::{API_KEY, API_SECRET, FakeVonage, messages, queued, vonage_gateway};
use axum::body::Body;
use axum::http::Request;
use mosaic_sms_gateway::adapters::providers::receipts::Verdict;
use mosaic_sms_gateway::adapters::providers::vonage::{SignatureMethod, signature};
use serde_json::json;

const BASE_URL: &str = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com";
const SIGNATURE_SECRET: &str = "vonage-signature-secret-never-logged";

/// A receipt as Vonage's delivery receipt guide shows one, with the signed-webhook fields.
fn receipt(status: &str) -> Vec<(String, String)> {
    [
        ("msisdn", "447700900000"),
        ("to", "Acme"),
        ("network-code", "23410"),
        ("messageId", "0A0000000123ABCD1"),
        ("price", "0.03330000"),
        ("status", status),
        ("scts", "2001011400"),
        ("err-code", "0"),
        ("api-key", API_KEY),
        ("client-ref", "a-reference"),
        ("message-timestamp", "2020-01-01 12:00:00"),
        ("timestamp", "1582650446"),
        ("nonce", "ec11dd3e-1e7f-4db5-9467-82b02cd223b9"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn signed(
    mut params: Vec<(String, String)>,
    method: SignatureMethod,
    secret: &str,
) -> Vec<(String, String)> {
    let sig = signature(method, secret, &params);
    params.push(("sig".into(), sig));
    params
}

fn encoded(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

fn post_form(params: &[(String, String)]) -> Request<Body> {
    Request::post("/vonage/status")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(encoded(params)))
        .unwrap()
}

fn get(params: &[(String, String)]) -> Request<Body> {
    Request::get(format!("/vonage/status?{}", encoded(params)))
        .body(Body::empty())
        .unwrap()
}

fn post_json(params: &[(String, String)]) -> Request<Body> {
    let object: serde_json::Map<String, serde_json::Value> =
        params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    Request::post("/vonage/status")
        .header("content-type", "application/json")
        .body(Body::from(serde_json::Value::Object(object).to_string()))
        .unwrap()
}

async fn receipts_gateway(extra: &[(&str, &str)]) -> (axum::Router, wiremock::MockServer) {
    let mut vars = vec![("RECEIPTS_BASE_URL", BASE_URL)];
    vars.extend_from_slice(extra);
    vonage_gateway(&vars).await
}

#[tokio::test]
async fn a_signed_receipt_is_taken_by_get_form_or_json_and_anything_else_refused() {
    let (app, vonage) = receipts_gateway(&[("VONAGE_SIGNATURE_SECRET", SIGNATURE_SECRET)]).await;
    let good = signed(
        receipt("delivered"),
        SignatureMethod::Sha512,
        SIGNATURE_SECRET,
    );
    for request in [get(&good), post_form(&good), post_json(&good)] {
        let (response, body) = call(&app, request).await;
        assert_eq!(response.status(), 204, "{body}");
    }
    // Vonage writes the HMACs in capitals.
    let mut upper = good.clone();
    let sig = upper.last_mut().unwrap();
    sig.1 = sig.1.to_ascii_uppercase();
    assert_eq!(call(&app, post_form(&upper)).await.0.status(), 204);

    let unsigned = receipt("delivered");
    let (response, body) = call(&app, post_form(&unsigned)).await;
    assert_eq!(response.status(), 403, "{body}");
    assert_eq!(body["error"], "invalid_signature");
    // Signed with another secret, by another method, or over other parameters.
    let other_parameters = signature(
        SignatureMethod::Sha512,
        SIGNATURE_SECRET,
        &receipt("delivered")[1..],
    );
    let mut over_others = receipt("delivered");
    over_others.push(("sig".into(), other_parameters));
    let forged = [
        signed(
            receipt("delivered"),
            SignatureMethod::Sha512,
            "not-the-secret",
        ),
        signed(
            receipt("delivered"),
            SignatureMethod::Sha256,
            SIGNATURE_SECRET,
        ),
        over_others,
    ];
    for forged in forged {
        assert_eq!(call(&app, post_form(&forged)).await.0.status(), 403);
    }
    // A changed status under the old signature.
    let mut changed = good.clone();
    changed[5].1 = "failed".into();
    assert_eq!(call(&app, get(&changed)).await.0.status(), 403);
    // JSON that is no object, and a body larger than any receipt.
    let not_object = Request::post("/vonage/status")
        .header("content-type", "application/json")
        .body(Body::from("[1, 2]"))
        .unwrap();
    assert_eq!(call(&app, not_object).await.0.status(), 403);
    let huge = Request::post("/vonage/status")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "status=delivered&x={}",
            "a".repeat(64 * 1024)
        )))
        .unwrap();
    assert_eq!(call(&app, huge).await.0.status(), 403);

    let put = Request::put("/vonage/status").body(Body::empty()).unwrap();
    let (response, body) = call(&app, put).await;
    assert_eq!(response.status(), 405, "{body}");
    assert_eq!(response.headers()["allow"], "GET, POST");
    // Not Mosaic's path: no API key asked, nothing sent.
    assert!(messages(&vonage).await.is_empty());
}

#[tokio::test]
async fn the_configured_method_is_the_one_checked() {
    let (app, _vonage) = receipts_gateway(&[
        ("VONAGE_SIGNATURE_SECRET", SIGNATURE_SECRET),
        ("VONAGE_SIGNATURE_METHOD", "md5hash"),
    ])
    .await;
    let md5 = signed(
        receipt("expired"),
        SignatureMethod::Md5Hash,
        SIGNATURE_SECRET,
    );
    assert_eq!(call(&app, post_form(&md5)).await.0.status(), 204);
    let sha512 = signed(
        receipt("expired"),
        SignatureMethod::Sha512,
        SIGNATURE_SECRET,
    );
    assert_eq!(call(&app, post_form(&sha512)).await.0.status(), 403);
}

#[tokio::test]
async fn each_send_asks_for_receipts_only_while_they_can_be_checked() {
    let (app, vonage) = receipts_gateway(&[("VONAGE_SIGNATURE_SECRET", SIGNATURE_SECRET)]).await;
    let sms = json!({"phone_number": "+14155550130", "message": "Your code is 1"});
    let (response, body) = call(&app, send(sms)).await;
    assert_eq!(response.status(), 200, "{body}");
    let sent = messages(&vonage).await;
    assert_eq!(
        sent[0].get("callback").map(String::as_str),
        Some(format!("{BASE_URL}/vonage/status").as_str())
    );

    // No signature secret anywhere: receipts could not be checked, so none is asked for.
    let (app, vonage) = receipts_gateway(&[]).await;
    let sms = json!({"phone_number": "+14155550131", "message": "Your code is 2"});
    let (response, body) = call(&app, send(sms)).await;
    assert_eq!(response.status(), 200, "{body}");
    let sent = messages(&vonage).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].get("callback"), None);
}

#[tokio::test]
async fn without_receipts_on_the_path_takes_nothing() {
    let app = gateway(vec![Box::new(Recorder::ok("outbox"))]);
    let good = signed(
        receipt("delivered"),
        SignatureMethod::Sha512,
        SIGNATURE_SECRET,
    );
    let (response, body) = call(&app, post_form(&good)).await;
    assert_eq!(response.status(), 403, "{body}");
}

#[tokio::test]
async fn a_changed_signature_secret_is_read_again_from_the_secret() {
    let name = format!("mosaic/vonage-receipts-{}", std::process::id());
    let value = |secret: &str| {
        json!({
            "api_key": KEY,
            "vonage_api_key": API_KEY,
            "vonage_api_secret": API_SECRET,
            "vonage_signature_secret": secret,
        })
        .to_string()
    };
    let secrets = new_secret(&name, &value(SIGNATURE_SECRET)).await;
    let (vonage, _) = FakeVonage::new(queued).start().await;
    let base = vonage.uri();
    let state = gateway_from_env(&[
        ("SMS_PROVIDER", "vonage"),
        ("VONAGE_API_BASE", &base),
        ("VONAGE_FROM", "Acme"),
        ("GATEWAY_SECRET_ID", &name),
        ("RECEIPTS_BASE_URL", BASE_URL),
    ])
    .await;
    let receipts = state.vonage_receipts().unwrap();
    let first = signed(
        receipt("delivered"),
        SignatureMethod::Sha512,
        SIGNATURE_SECRET,
    );
    assert_eq!(receipts.verify(&first).await, Verdict::Signed);

    secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(value("a-new-signature-secret"))
        .send()
        .await
        .unwrap();
    let after = signed(
        receipt("delivered"),
        SignatureMethod::Sha512,
        "a-new-signature-secret",
    );
    assert_eq!(receipts.verify(&after).await, Verdict::Signed);
    // Our account, a secret the account never had: our set-up (alarmed), once the secret is read.
    let stale = signed(
        receipt("delivered"),
        SignatureMethod::Sha512,
        "never-the-secret",
    );
    assert_eq!(receipts.verify(&stale).await, Verdict::Mismatch);
}

#[tokio::test]
async fn only_a_signature_for_our_account_that_the_secret_does_not_give_points_at_our_set_up() {
    let state = gateway_from_env(&[
        ("SMS_PROVIDER", "vonage"),
        ("VONAGE_API_BASE", "http://127.0.0.1:9"),
        ("VONAGE_API_KEY", API_KEY),
        ("VONAGE_API_SECRET", API_SECRET),
        ("VONAGE_FROM", "Acme"),
        (
            "VONAGE_STATUS_CALLBACK_URL",
            "https://receipts.example.com/vonage/status",
        ),
        ("VONAGE_SIGNATURE_SECRET", SIGNATURE_SECRET),
    ])
    .await;
    let receipts = state.vonage_receipts().unwrap();
    let good = signed(
        receipt("delivered"),
        SignatureMethod::Sha512,
        SIGNATURE_SECRET,
    );
    assert_eq!(receipts.verify(&good).await, Verdict::Signed);
    let stale = signed(
        receipt("delivered"),
        SignatureMethod::Sha512,
        "an-old-secret",
    );
    assert_eq!(receipts.verify(&stale).await, Verdict::Mismatch);
    let mut theirs = receipt("delivered");
    theirs[8].1 = "zzzz9999".into();
    let theirs = signed(theirs, SignatureMethod::Sha512, "another-accounts-secret");
    let mut short = good.clone();
    short.last_mut().unwrap().1.truncate(63);
    for (params, why) in [
        (receipt("delivered"), "missing"),
        (short, "malformed"),
        (theirs, "other_account"),
    ] {
        assert_eq!(receipts.verify(&params).await, Verdict::Anonymous(why));
    }
    // Signed with our secret by another method than VONAGE_SIGNATURE_METHOD (Vonage's dashboard
    // defaults to md5hash): our set-up, every receipt lost, so the alarmed kind.
    for method in [SignatureMethod::Md5Hash, SignatureMethod::Sha256] {
        let other_method = signed(receipt("delivered"), method, SIGNATURE_SECRET);
        assert_eq!(
            receipts.verify(&other_method).await,
            Verdict::Mismatch,
            "{method:?}"
        );
    }
}
