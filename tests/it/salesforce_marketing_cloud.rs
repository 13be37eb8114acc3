//! The `salesforce-marketing-cloud` provider against a local Marketing Cloud stand-in (wiremock)
//! that checks what SFMC checks: the client credentials and `account_id` on the token call, the
//! Bearer token on every REST call, `definitionKey`, `recipient.contactKey` and `recipient.to`, the
//! messageKey (at most 100 characters, unused in the business unit); and answers as SFMC documents
//! (202 with `requestId` and `responses`, 400 with `errorcode`, 401 `Not Authorized`).

use crate::process::{gateway_command, start};
use crate::support::*;
use crate::twilio::gateway_from_env;
use mosaic_sms_gateway::app;
use mosaic_sms_gateway::app::config::Config;
use mosaic_sms_gateway::entry::http::router;
use mosaic_sms_gateway::settings::Host;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CLIENT_ID: &str = "sfmcclient0123456789abcdef";
const CLIENT_SECRET: &str = "sfmc-s3cret-that-must-not-leak";
const MID: &str = "514009876";
const DEFINITION: &str = "mosaic-otp";
/// Every access token the stand-in issues starts so, to find one in a log.
const TOKEN_PREFIX: &str = "sfmc-access-t0ken";

/// What the stand-in answers a send that passed SFMC's checks, by its `recipient.to`; `None`:
/// accept it.
type Answer = Arc<dyn Fn(&str) -> Option<ResponseTemplate> + Send + Sync>;

/// What a send the stand-in did not accept leaves of its messageKey: nothing (the key stays
/// free), or the key used, with the status SFMC then reports for it.
#[derive(Clone, Copy, PartialEq)]
enum Leaves {
    Nothing,
    Used(&'static str),
}

#[derive(Default)]
struct Business {
    /// Tokens SFMC accepts now.
    valid: HashSet<String>,
    issued: usize,
    /// The `expires_in` of the next tokens, then 1080.
    lifetimes: VecDeque<u64>,
    /// messageKeys used in this business unit, with their status (`SMSSent`, `SMSNotSent`).
    keys: HashMap<String, &'static str>,
}

/// The token, definition and SMS send resources, as far as the gateway uses them.
#[derive(Clone)]
struct FakeSfmc {
    business: Arc<Mutex<Business>>,
    /// The REST base its tokens name (this server), known once it listens.
    rest: Arc<Mutex<String>>,
    answer: Answer,
    /// What a send answered by `answer` leaves of its key.
    leaves: Leaves,
    /// How long the token call takes.
    token_delay: Duration,
}

fn sfmc_error(status: u16, code: u64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"message": message, "errorcode": code, "documentation": ""}))
}

fn not_authorized() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_json(json!({
        "documentation": "https://developer.salesforce.com/docs/atlas.en-us.mc-apis.meta/mc-apis/error-handling.htm",
        "errorcode": 0,
        "message": "Not Authorized",
    }))
}

impl FakeSfmc {
    fn new(answer: impl Fn(&str) -> Option<ResponseTemplate> + Send + Sync + 'static) -> Self {
        Self {
            business: Arc::default(),
            rest: Arc::default(),
            answer: Arc::new(answer),
            leaves: Leaves::Nothing,
            token_delay: Duration::ZERO,
        }
    }

    fn leaving(mut self, leaves: Leaves) -> Self {
        self.leaves = leaves;
        self
    }

    fn accepting() -> Self {
        Self::new(|_| None)
    }

    async fn start(self) -> MockServer {
        let server = MockServer::start().await;
        *self.rest.lock().unwrap() = format!("{}/", server.uri());
        Mock::given(wiremock::matchers::any())
            .respond_with(self)
            .mount(&server)
            .await;
        server
    }

    fn token(&self, body: &Value) -> ResponseTemplate {
        let wrong = body["grant_type"] != "client_credentials"
            || body["client_id"] != CLIENT_ID
            || body["client_secret"] != CLIENT_SECRET;
        if wrong {
            return ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_client",
                "error_description": "Invalid client ID. Use the client ID in Marketing Cloud Installed Packages.",
                "error_uri": "https://developer.salesforce.com/docs",
            }));
        }
        let account = match &body["account_id"] {
            Value::String(mid) => Some(mid.clone()),
            Value::Number(mid) => Some(mid.to_string()),
            _ => None,
        };
        if account.as_deref().is_some_and(|mid| mid != MID) {
            return ResponseTemplate::new(401).set_body_json(json!({
                "error": "unauthorized_client",
                "error_description": "The client is not authorized for the account.",
            }));
        }
        let mut business = self.business.lock().unwrap();
        business.issued += 1;
        let token = format!("{TOKEN_PREFIX}-{}", business.issued);
        business.valid.insert(token.clone());
        let expires_in = business.lifetimes.pop_front().unwrap_or(1080);
        ResponseTemplate::new(200)
            .set_delay(self.token_delay)
            .set_body_json(json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": "sms_read sms_write sms_send",
                "soap_instance_url": "https://mc1.soap.marketingcloudapis.com/",
                "rest_instance_url": *self.rest.lock().unwrap(),
            }))
    }

    fn send(&self, key: &str, body: &Value) -> ResponseTemplate {
        if body["definitionKey"] != DEFINITION {
            return sfmc_error(
                400,
                109111,
                "MCMS_UTM_Validation_InvalidValue_definitionKey",
            );
        }
        let recipient = &body["recipient"];
        if recipient["contactKey"].as_str().is_none_or(str::is_empty) {
            return sfmc_error(
                400,
                109105,
                "MCMS_UTM_Validation_MissingRequiredField_subscriberKey",
            );
        }
        let Some(to) = recipient["to"].as_str() else {
            return sfmc_error(400, 109106, "MCMS_UTM_Validation_MissingRequiredField_to");
        };
        if !(8..=15).contains(&to.len()) || !to.bytes().all(|b| b.is_ascii_digit()) {
            return sfmc_error(400, 109121, "MCMS_UTM_Validation_InvalidValue_to");
        }
        if key.is_empty() || key.len() > 100 {
            return sfmc_error(400, 109108, "MCMS_UTM_Validation_InvalidValue_messageKey");
        }
        let mut business = self.business.lock().unwrap();
        if business.keys.contains_key(key) {
            return sfmc_error(
                400,
                109110,
                "MCMS_UTM_Validation_DuplicateMessageKey: messageKey reused within the past 72 hours",
            );
        }
        if let Some(answer) = (self.answer)(to) {
            if let Leaves::Used(status) = self.leaves {
                business.keys.insert(key.to_owned(), status);
            }
            return answer;
        }
        business.keys.insert(key.to_owned(), "SMSSent");
        ResponseTemplate::new(202).set_body_json(json!({
            "requestId": format!("req-{key}"),
            "errorcode": 0,
            "responses": [{"messageKey": key}],
        }))
    }
}

impl Respond for FakeSfmc {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let json_body = request
            .headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let path = request.url.path();
        if (request.method.as_str(), path) == ("POST", "/v2/token") {
            if !json_body {
                return ResponseTemplate::new(400)
                    .set_body_json(json!({"error": "unsupported_grant_type"}));
            }
            return self.token(&body);
        }
        let bearer = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        if !bearer.is_some_and(|t| self.business.lock().unwrap().valid.contains(&t)) {
            return not_authorized();
        }
        match (request.method.as_str(), path) {
            ("GET", p) if p.starts_with("/messaging/v1/sms/definitions/") => {
                let key = &p["/messaging/v1/sms/definitions/".len()..];
                if key != DEFINITION {
                    return sfmc_error(
                        404,
                        30003,
                        "MCMS_UTM_Runtime_ObjectNotFound: definition not found",
                    );
                }
                ResponseTemplate::new(200).set_body_json(json!({
                    "requestId": "r", "name": "Mosaic OTP", "definitionKey": DEFINITION,
                    "status": "Active", "content": {"message": "%%message%%"},
                    "subscriptions": {"shortCode": "12345", "countryCode": "US"},
                }))
            }
            // The send status of a messageKey (rate limited at SFMC: for the rare key used before).
            ("GET", p) if p.starts_with("/messaging/v1/sms/messages/") => {
                let key = &p["/messaging/v1/sms/messages/".len()..];
                match self.business.lock().unwrap().keys.get(key) {
                    Some(status) => ResponseTemplate::new(200).set_body_json(json!({
                        "requestId": "r",
                        "eventCategoryType": format!("TransactionalSendEvents.{status}"),
                        "timestamp": "2026-12-01T08:00:00.00",
                        "info": {"messageKey": key},
                    })),
                    None => sfmc_error(404, 30003, "MCMS_UTM_Runtime_ObjectNotFound"),
                }
            }
            ("POST", p) if p.starts_with("/messaging/v1/sms/messages/") && json_body => {
                self.send(&p["/messaging/v1/sms/messages/".len()..], &body)
            }
            _ => sfmc_error(404, 30003, "ObjectNotFound"),
        }
    }
}

/// Every send the stand-in got: (messageKey, Authorization, body).
async fn sends(server: &MockServer) -> Vec<(String, String, Value)> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.method.as_str() == "POST" && r.url.path().starts_with("/messaging/v1/sms/messages/")
        })
        .map(|r| {
            let key = r.url.path().rsplit('/').next().unwrap().to_owned();
            let auth = r
                .headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            (key, auth, serde_json::from_slice(&r.body).unwrap())
        })
        .collect()
}

/// The token requests' bodies.
async fn token_requests(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/v2/token")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn sfmc_env(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SMS_PROVIDER", "salesforce-marketing-cloud".into()),
        ("SFMC_AUTH_BASE", base.into()),
        ("SFMC_DEFINITION_KEY", DEFINITION.into()),
        ("SFMC_ACCOUNT_ID", MID.into()),
        ("SFMC_CLIENT_ID", CLIENT_ID.into()),
        ("SFMC_CLIENT_SECRET", CLIENT_SECRET.into()),
    ]
}

async fn sfmc_gateway(base: &str, extra: &[(&'static str, &str)]) -> axum::Router {
    let mut vars = sfmc_env(base);
    vars.retain(|(k, _)| extra.iter().all(|(e, _)| e != k));
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    router(gateway_from_env(&vars).await)
}

fn sms(phone: &str, message: &str) -> Value {
    json!({"phone_number": phone, "sender_id": "Acme", "message": message})
}

#[tokio::test]
async fn sends_exactly_the_request_sfmc_documents_with_one_token() {
    let sfmc = FakeSfmc::accepting().start().await;
    let app = sfmc_gateway(&sfmc.uri(), &[]).await;
    // Start-up fetched a token and read the definition, opening both connections.
    assert_eq!(token_requests(&sfmc).await.len(), 1);
    let first = &sfmc.received_requests().await.unwrap()[1];
    assert_eq!(
        first.url.path(),
        format!("/messaging/v1/sms/definitions/{DEFINITION}")
    );

    let mut ids = Vec::new();
    for n in 0..5 {
        let (response, body) = call(
            &app,
            send(sms("+14155550100", &format!("Your code is 48291{n}"))),
        )
        .await;
        assert_eq!(response.status(), 200, "{body}");
        assert_eq!(body["status"], "sent");
        assert_eq!(body["provider"], "salesforce-marketing-cloud");
        ids.push(body["message_id"].as_str().unwrap().to_owned());
    }
    let tokens = token_requests(&sfmc).await;
    assert_eq!(tokens.len(), 1, "one token for every send");
    assert_eq!(
        tokens[0],
        json!({"grant_type": "client_credentials", "client_id": CLIENT_ID,
               "client_secret": CLIENT_SECRET, "account_id": MID})
    );
    let sent = sends(&sfmc).await;
    assert_eq!(sent.len(), 5);
    let (key, auth, body) = &sent[0];
    assert_eq!(auth, &format!("Bearer {TOKEN_PREFIX}-1"));
    assert_eq!(
        body,
        &json!({"definitionKey": DEFINITION,
                "recipient": {"contactKey": "14155550100", "to": "14155550100"},
                "content": {"message": "Your code is 482910"}})
    );
    // The message id is the messageKey: 64 hex digits, the number nowhere in it.
    assert_eq!(&ids[0], key);
    assert!(
        key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        5,
        "a key per passcode"
    );
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_by_one_send_then_reused() {
    let fake = FakeSfmc::accepting();
    // The start-up token is over at once; the next lives the usual 18 minutes.
    fake.business.lock().unwrap().lifetimes.push_back(0);
    let sfmc = fake.start().await;
    let app = sfmc_gateway(&sfmc.uri(), &[]).await;
    for n in 0..3 {
        let (response, body) = call(&app, send(sms("+14155550101", &format!("code 10{n}")))).await;
        assert_eq!(response.status(), 200, "{body}");
    }
    assert_eq!(
        token_requests(&sfmc).await.len(),
        2,
        "the start-up one, and one refresh"
    );
    let auths: Vec<String> = sends(&sfmc).await.into_iter().map(|(_, a, _)| a).collect();
    assert_eq!(auths, vec![format!("Bearer {TOKEN_PREFIX}-2"); 3]);
}

#[tokio::test]
async fn a_refused_token_is_replaced_and_the_send_made_once_more() {
    let fake = FakeSfmc::accepting();
    let business = Arc::clone(&fake.business);
    let sfmc = fake.start().await;
    let app = sfmc_gateway(&sfmc.uri(), &[]).await;
    // SFMC revokes the token before its time.
    business.lock().unwrap().valid.clear();
    let (response, body) = call(&app, send(sms("+14155550102", "code 201"))).await;
    assert_eq!(response.status(), 200, "{body}");
    let sent = sends(&sfmc).await;
    assert_eq!(sent.len(), 2, "refused once (nothing queued), then sent");
    assert_eq!(sent[0].0, sent[1].0, "with the same messageKey");
    assert_eq!(sent[1].1, format!("Bearer {TOKEN_PREFIX}-2"));
    assert_eq!(business.lock().unwrap().keys.len(), 1, "queued once");
}

/// A gateway trying SFMC (configured from the environment) first, then a recorder.
async fn sfmc_then_recorder(
    base: &str,
    deadline_ms: &str,
    secret: &str,
) -> (axum::Router, Recorder) {
    let mut vars: HashMap<String, String> = sfmc_env(base)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    vars.insert("SEND_DEADLINE_MS".into(), deadline_ms.into());
    vars.insert("SFMC_CLIENT_SECRET".into(), secret.into());
    vars.insert("GATEWAY_API_KEY".into(), KEY.into());
    first_then_backup(Config::from_lookup(Host::Local, |k| vars.get(k).cloned()).unwrap()).await
}

#[tokio::test]
async fn each_sfmc_answer_decides_failover_and_status() {
    let sfmc = FakeSfmc::new(|to| match to {
        "15005550003" => Some(sfmc_error(429, 50100, "Rate limit exceeded")),
        "15005550004" => Some(sfmc_error(500, 0, "Internal error")),
        "15005550005" => Some(sfmc_error(403, 40000, "Insufficient privileges")),
        "15005550006" => {
            Some(ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"))
        }
        "15005550007" => Some(sfmc_error(400, 10005, "Invalid value")),
        // Accepted, but the answer cannot be read: it may have been sent.
        "15005550008" => Some(ResponseTemplate::new(202).set_body_json(json!({"requestId": "r"}))),
        "15005550009" => Some(sfmc_error(200, 0, "ok").set_delay(Duration::from_secs(30))),
        _ => None,
    })
    .start()
    .await;
    let (app, backup) = sfmc_then_recorder(&sfmc.uri(), "2500", CLIENT_SECRET).await;
    // (number, status, error code, whether the backup provider was tried)
    let cases = [
        ("+15005550003", 200, None, true),
        ("+15005550004", 502, Some("delivery_unknown"), false),
        ("+15005550005", 200, None, true),
        ("+15005550006", 502, Some("delivery_unknown"), false),
        ("+15005550007", 200, None, true),
        ("+15005550008", 502, Some("delivery_unknown"), false),
        ("+15005550009", 502, Some("delivery_unknown"), false),
        ("+15005550010", 200, None, false),
    ];
    for (phone, status, code, failed_over) in cases {
        let before = backup.count();
        let (response, body) = call(&app, send(sms(phone, "Your code is 5150"))).await;
        assert_eq!(response.status(), status, "{phone}: {body}");
        if let Some(code) = code {
            assert_eq!(body["error"], code, "{phone}: {body}");
        }
        assert_eq!(
            backup.count() - before,
            usize::from(failed_over),
            "{phone}: backup tried?"
        );
    }
}

#[tokio::test]
async fn a_recipient_sfmc_refuses_is_422_and_never_fails_over() {
    let sfmc = FakeSfmc::new(|to| {
        (to == "15005550001")
            .then(|| sfmc_error(400, 109121, "MCMS_UTM_Validation_InvalidValue_to"))
    })
    .start()
    .await;
    let (app, backup) = sfmc_then_recorder(&sfmc.uri(), "2500", CLIENT_SECRET).await;
    let (response, body) = call(&app, send(sms("+15005550001", "code 1"))).await;
    assert_eq!(response.status(), 422, "{body}");
    assert_eq!(body["error"], "recipient_rejected");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Salesforce Marketing Cloud 109121"),
        "{body}"
    );
    assert_eq!(backup.count(), 0);
}

#[tokio::test]
async fn refused_client_credentials_are_our_set_up_and_fail_over() {
    let sfmc = FakeSfmc::accepting().start().await;
    let (app, backup) = sfmc_then_recorder(&sfmc.uri(), "2500", "an-old-secret").await;
    let (response, body) = call(&app, send(sms("+14155550103", "code 2"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "backup");
    assert_eq!(backup.count(), 1);
    assert!(sends(&sfmc).await.is_empty(), "no send without a token");
}

#[tokio::test]
async fn a_copy_the_dedupe_did_not_see_is_refused_by_sfmc_and_answered_as_a_duplicate() {
    let sfmc = FakeSfmc::accepting().start().await;
    // Two instances without a shared table: Mosaic's re-send reaches the other one.
    let one = sfmc_gateway(&sfmc.uri(), &[]).await;
    let two = sfmc_gateway(&sfmc.uri(), &[]).await;
    let request = || send(sms("+14155550104", "Your code is 777001"));
    let (response, first) = call(&one, request()).await;
    assert_eq!(response.status(), 200, "{first}");
    let (response, again) = call(&two, request()).await;
    assert_eq!(response.status(), 200, "{again}");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["provider"], "salesforce-marketing-cloud");
    assert_eq!(again["message_id"], first["message_id"]);
    // And the other instance now knows it too.
    let (_, third) = call(&two, request()).await;
    assert_eq!(third["status"], "duplicate");
    // The second instance asked SFMC with the first one's messageKey; the third request was
    // answered from that instance's own dedupe record.
    let keys: Vec<String> = sends(&sfmc).await.into_iter().map(|(k, _, _)| k).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], keys[1]);
}

#[tokio::test]
async fn a_certain_non_send_fails_over_to_sns_and_a_maybe_sent_does_not() {
    let sfmc = FakeSfmc::new(|to| match to {
        to if to.ends_with("0") => Some(sfmc_error(500, 0, "Internal error")),
        _ => Some(sfmc_error(429, 50100, "Rate limit exceeded")),
    })
    .start()
    .await;
    let app = sfmc_gateway(
        &sfmc.uri(),
        &[("SMS_PROVIDER", "salesforce-marketing-cloud,sns")],
    )
    .await;
    let throttled = unique_phone();
    let throttled = format!("{}1", &throttled[..throttled.len() - 1]);
    let (response, body) = call(&app, send(sms(&throttled, "code 3"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "sns");
    assert_eq!(sms_sent_to(&throttled).await.len(), 1);

    let failing = unique_phone();
    let failing = format!("{}0", &failing[..failing.len() - 1]);
    let (response, body) = call(&app, send(sms(&failing, "code 4"))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "delivery_unknown");
    assert!(sms_sent_to(&failing).await.is_empty());
}

#[tokio::test]
async fn credentials_come_from_the_gateway_secret() {
    let sfmc = FakeSfmc::accepting().start().await;
    let name = format!("mosaic/sfmc-{}", std::process::id());
    let value =
        json!({"api_key": KEY, "sfmc_client_id": CLIENT_ID, "sfmc_client_secret": CLIENT_SECRET});
    new_secret(&name, &value.to_string()).await;
    let base = sfmc.uri();
    let app = router(
        gateway_from_env(&[
            ("SMS_PROVIDER", "salesforce-marketing-cloud"),
            ("SFMC_AUTH_BASE", &base),
            ("SFMC_DEFINITION_KEY", DEFINITION),
            ("GATEWAY_SECRET_ID", &name),
        ])
        .await,
    );
    let (response, body) = call(&app, send(sms("+14155550105", "code 5"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(
        token_requests(&sfmc).await[0]["client_secret"],
        CLIENT_SECRET
    );
    assert!(token_requests(&sfmc).await[0].get("account_id").is_none());

    // A secret without them stops start-up with one line.
    let bare = format!("{name}-bare");
    new_secret(&bare, &json!({"api_key": KEY}).to_string()).await;
    let vars: HashMap<&str, &str> = [
        ("SMS_PROVIDER", "salesforce-marketing-cloud"),
        ("SFMC_AUTH_BASE", base.as_str()),
        ("SFMC_DEFINITION_KEY", DEFINITION),
        ("GATEWAY_SECRET_ID", bare.as_str()),
    ]
    .into();
    let config = Config::from_lookup(Host::Local, |k| vars.get(k).map(|v| v.to_string())).unwrap();
    let sdk = aws_config(&moto().endpoint).await;
    let state = app_state(&config, Some(sdk)).unwrap();
    let line = app::start(&state).await.unwrap_err().to_string();
    assert!(
        line.starts_with("salesforce-marketing-cloud: no Salesforce Marketing Cloud credentials"),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
}

#[tokio::test]
async fn numbers_of_two_countries_go_through_their_own_chains() {
    let sfmc = FakeSfmc::accepting().start().await;
    let app = sfmc_gateway(
        &sfmc.uri(),
        &[
            ("SMS_PROVIDER", "sns"),
            (
                "PROVIDERS_BY_COUNTRY",
                r#"{"DE": "salesforce-marketing-cloud"}"#,
            ),
        ],
    )
    .await;
    let american = unique_phone();
    let (response, body) = call(&app, send(sms(&american, "code 6"))).await;
    assert_eq!(
        (response.status().as_u16(), &body["provider"]),
        (200, &json!("sns")),
        "{body}"
    );
    assert_eq!(sms_sent_to(&american).await.len(), 1);
    let (response, body) = call(&app, send(sms("+4915123456789", "code 7"))).await;
    assert_eq!(
        (response.status().as_u16(), &body["provider"]),
        (200, &json!("salesforce-marketing-cloud")),
        "{body}"
    );
    let sent = sends(&sfmc).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].2["recipient"]["to"], "4915123456789");
}

#[tokio::test]
async fn no_credential_token_or_message_reaches_the_log_at_trace() {
    let sfmc = FakeSfmc::accepting().start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command.env("GATEWAY_API_KEY", KEY).env("RUST_LOG", "trace");
    for (name, value) in sfmc_env(&sfmc.uri()) {
        command.env(name, value);
    }
    let gateway = start(command, dir.path());
    let status = reqwest::Client::new()
        .post(&gateway.url)
        .header("x-api-key", KEY)
        .json(&sms("+14155550106", "Your code is 909090"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let log = gateway.stop();
    assert!(
        log.contains("Salesforce Marketing Cloud access token fetched"),
        "the debug lines are there: {log}"
    );
    for secret in [CLIENT_SECRET, TOKEN_PREFIX, "909090", "4155550106"] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
}

#[tokio::test]
async fn a_token_near_its_end_is_refreshed_by_one_send_then_reused() {
    let fake = FakeSfmc::accepting();
    // The start-up token has half a minute left: inside the last minute, when a send refreshes.
    fake.business.lock().unwrap().lifetimes.push_back(30);
    let sfmc = fake.start().await;
    let app = sfmc_gateway(&sfmc.uri(), &[]).await;
    for n in 0..3 {
        let (response, body) = call(&app, send(sms("+14155550111", &format!("code 30{n}")))).await;
        assert_eq!(response.status(), 200, "{body}");
    }
    assert_eq!(token_requests(&sfmc).await.len(), 2);
    let auths: Vec<String> = sends(&sfmc).await.into_iter().map(|(_, a, _)| a).collect();
    assert_eq!(auths, vec![format!("Bearer {TOKEN_PREFIX}-2"); 3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_without_a_token_asks_for_one() {
    let fake = FakeSfmc::accepting();
    fake.business.lock().unwrap().lifetimes.push_back(0);
    let sfmc = fake.start().await;
    let app = sfmc_gateway(&sfmc.uri(), &[]).await;
    let burst: Vec<_> = (0..8)
        .map(|n| {
            let app = app.clone();
            tokio::spawn(async move {
                call(&app, send(sms("+14155550112", &format!("code 40{n}")))).await
            })
        })
        .collect();
    for sent in burst {
        let (response, body) = sent.await.unwrap();
        assert_eq!(response.status(), 200, "{body}");
    }
    assert_eq!(
        token_requests(&sfmc).await.len(),
        2,
        "the start-up one, and one for the burst"
    );
    assert_eq!(sends(&sfmc).await.len(), 8);
}

#[tokio::test]
async fn a_fresh_token_refused_too_is_our_set_up_and_fails_over() {
    let sfmc = FakeSfmc::new(|to| (to == "14155550113").then(not_authorized))
        .start()
        .await;
    let (app, backup) = sfmc_then_recorder(&sfmc.uri(), "2500", CLIENT_SECRET).await;
    let (response, body) = call(&app, send(sms("+14155550113", "code 8"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "backup");
    assert_eq!(
        sends(&sfmc).await.len(),
        2,
        "once, and once more with a fresh token"
    );
    assert_eq!(token_requests(&sfmc).await.len(), 2);
    assert_eq!(backup.count(), 1);
}

#[tokio::test]
async fn a_token_endpoint_too_slow_sends_nothing_and_fails_over() {
    let mut fake = FakeSfmc::accepting();
    fake.token_delay = Duration::from_secs(5);
    let sfmc = fake.start().await;
    let (app, backup) = sfmc_then_recorder(&sfmc.uri(), "5000", CLIENT_SECRET).await;
    let (response, body) = call(&app, send(sms("+14155550114", "code 9"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "backup");
    assert_eq!(backup.count(), 1);
    assert!(sends(&sfmc).await.is_empty());
}

#[tokio::test]
async fn a_key_used_by_a_send_that_may_have_gone_is_a_duplicate_elsewhere() {
    // SFMC queued the message, then failed: the first instance cannot know it was sent.
    let sfmc =
        FakeSfmc::new(|to| (to == "14155550115").then(|| sfmc_error(500, 0, "Internal error")))
            .leaving(Leaves::Used("SMSSent"))
            .start()
            .await;
    let one = sfmc_gateway(&sfmc.uri(), &[]).await;
    let two = sfmc_gateway(&sfmc.uri(), &[]).await;
    let request = || send(sms("+14155550115", "Your code is 515151"));
    let (response, first) = call(&one, request()).await;
    assert_eq!(response.status(), 502, "{first}");
    assert_eq!(first["error"], "delivery_unknown");
    // The re-send on another instance: SFMC refuses the key, and its status says sent.
    let (response, again) = call(&two, request()).await;
    assert_eq!(response.status(), 200, "{again}");
    assert_eq!(again["status"], "duplicate");
}

#[tokio::test]
async fn a_key_used_by_a_send_that_did_not_go_is_never_answered_as_a_duplicate() {
    // SFMC took the key and then did not send (failed to queue).
    let sfmc = FakeSfmc::new(|to| {
        (to == "14155550116").then(|| sfmc_error(429, 50100, "Rate limit exceeded"))
    })
    .leaving(Leaves::Used("SMSNotSent"))
    .start()
    .await;
    let one = sfmc_gateway(&sfmc.uri(), &[]).await;
    let two = sfmc_gateway(&sfmc.uri(), &[]).await;
    let request = || send(sms("+14155550116", "Your code is 616161"));
    let (response, first) = call(&one, request()).await;
    assert_eq!(response.status(), 502, "{first}");
    assert_eq!(first["error"], "provider_failed");
    let (response, again) = call(&two, request()).await;
    assert_eq!(
        response.status(),
        502,
        "not a duplicate of nothing: {again}"
    );
    assert_eq!(again["error"], "provider_failed");
}

#[tokio::test]
async fn a_provider_in_two_chains_is_started_once() {
    let sfmc = FakeSfmc::accepting().start().await;
    let _app = sfmc_gateway(
        &sfmc.uri(),
        &[(
            "PROVIDERS_BY_COUNTRY",
            r#"{"DE": "salesforce-marketing-cloud", "AT": "salesforce-marketing-cloud"}"#,
        )],
    )
    .await;
    let requests = sfmc.received_requests().await.unwrap();
    let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert_eq!(
        paths,
        [
            "/v2/token",
            &format!("/messaging/v1/sms/definitions/{DEFINITION}")
        ]
    );
}
