//! The `infobip` provider against a loopback Infobip stand-in (wiremock) that checks what
//! Infobip checks: `POST /sms/3/messages`, `Authorization: App <key>` (else a 401 `ApiError`),
//! JSON with exactly the fields of Infobip's "Send SMS message" the gateway uses (one message,
//! its `sender`, one destination's `to` and `messageId`, `content.text`,
//! `options.validityPeriod`; anything else a 400 `ApiError` with its violations); it remembers
//! each `messageId` it took, as Infobip's idempotent sending does, and answers as Infobip
//! documents: `200` with the message's status (PENDING, or a REJECTED one), `ApiError`s, 429, 5xx.

use crate::process::*;
use crate::support::*;
use crate::twilio::gateway_from_env;
use mosaic_sms_gateway::app;
use mosaic_sms_gateway::app::config::Config;
use mosaic_sms_gateway::entry::http::router;
use mosaic_sms_gateway::settings::Host;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const API_KEY: &str = "1nf0b1p-k3y-that-must-not-leak-0123456789abcdef";
const FROM: &str = "Acme";

/// One message the stand-in took: the fields Infobip reads, as sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub to: String,
    pub message_id: String,
}

/// An answer of the stand-in, and whether Infobip took the message with it (only a message it
/// took makes a later one with the same messageId a duplicate).
pub struct Reply {
    template: ResponseTemplate,
    taken: bool,
}

impl From<ResponseTemplate> for Reply {
    fn from(template: ResponseTemplate) -> Self {
        Self {
            template,
            taken: false,
        }
    }
}

impl Reply {
    /// The same answer, after `delay`.
    pub fn delayed(self, delay: Duration) -> Self {
        Self {
            template: self.template.set_delay(delay),
            ..self
        }
    }
}

/// What the stand-in answers for a request that passed Infobip's checks.
type Answer = Arc<dyn Fn(&Sent) -> Reply + Send + Sync>;

/// Infobip's SMS API v3, as far as the gateway uses it.
#[derive(Clone)]
pub struct FakeInfobip {
    /// The API key it accepts now (a test can rotate it).
    pub key: Arc<Mutex<String>>,
    /// What broke Infobip's description, request by request: every test asserts it stays empty.
    violations: Arc<Mutex<Vec<String>>>,
    /// The messageIds it took, and whether a repeat is refused (idempotent sending on).
    taken: Arc<Mutex<HashSet<String>>>,
    idempotent: bool,
    answer: Answer,
}

/// Infobip's `200`: the one message with its status.
pub fn status(sent: &Sent, group: (u64, &str), id: u64, name: &str) -> Reply {
    let template = ResponseTemplate::new(200).set_body_json(json!({
        "bulkId": "2034072219640523072",
        "messages": [{
            "messageId": sent.message_id,
            "status": {"groupId": group.0, "groupName": group.1, "id": id, "name": name,
                       "description": description(name)},
            "destination": sent.to,
            "details": {"messageCount": 1},
        }],
    }));
    Reply {
        template,
        taken: group.0 == 1,
    }
}

/// Infobip's words for a status (its "Response status and error codes" page, shortened).
fn description(name: &str) -> &'static str {
    match name {
        "PENDING_ACCEPTED" => "Message sent to next instance",
        "REJECTED_DESTINATION" => "Invalid destination address",
        "REJECTED_PREFIX_MISSING" => "Number prefix missing",
        "REJECTED_DND" => "Destination on DND list",
        "REJECTED_NOT_ENOUGH_CREDITS" => "Not enough credits",
        "REJECTED_SOURCE" => "Invalid source address",
        "REJECTED_FLOODING_FILTER" => "Message rejected due to flooding filter",
        "REJECTED_DUPLICATE_MESSAGE_ID" => "Rejected due to duplicate message ID",
        _ => "",
    }
}

/// Infobip's answer to a message it took.
pub fn pending(sent: &Sent) -> Reply {
    status(sent, (1, "PENDING"), 26, "PENDING_ACCEPTED")
}

pub fn rejected(sent: &Sent, id: u64, name: &str) -> Reply {
    status(sent, (5, "REJECTED"), id, name)
}

/// An `ApiError` as Infobip's v3 endpoints answer one.
pub fn api_error(status: u16, violations: &[(&str, &str)]) -> Reply {
    let violations: Vec<Value> = violations
        .iter()
        .map(|(property, violation)| json!({"property": property, "violation": violation}))
        .collect();
    let (code, description, action) = match status {
        400 => (
            "E400",
            "Request cannot be processed.",
            "Check the syntax, violations and adjust the request.",
        ),
        401 => (
            "E401",
            "Unauthorized.",
            "Check the API key and the Authorization header.",
        ),
        403 => (
            "E403",
            "Forbidden.",
            "Check the API key's scopes and the account's permissions.",
        ),
        429 => (
            "E429",
            "Too many requests.",
            "Slow down and retry the request later.",
        ),
        _ => ("E500", "Something went wrong.", "Contact the support."),
    };
    ResponseTemplate::new(status)
        .set_body_json(json!({
            "errorCode": code, "description": description, "action": action,
            "violations": violations,
            "resources": [{"name": "API endpoint documentation",
                           "url": "https://www.infobip.com/docs/api/send-sms-messages"}],
        }))
        .into()
}

/// What in `json` Infobip's "Send SMS message" does not allow, or the gateway should not send:
/// fields outside the ones it uses, of the wrong type, or out of bounds.
fn violations(json: &Value) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut bad = |property: &str, violation: &str| {
        problems.push((property.to_owned(), violation.to_owned()));
    };
    let only = |value: &Value, fields: &[&str]| -> Vec<String> {
        value
            .as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| !fields.contains(&k.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    for extra in only(json, &["messages"]) {
        bad(&extra, "is not a field the gateway sends");
    }
    let Some([message]) = json
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    else {
        bad("messages", "must hold exactly one message");
        return problems;
    };
    for extra in only(
        message,
        &["sender", "destinations", "content", "options", "webhooks"],
    ) {
        bad(
            &format!("messages[0].{extra}"),
            "is not a field the gateway sends",
        );
    }
    match message.get("sender").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => {}
        _ => bad("messages[0].sender", "must be a string"),
    }
    match message
        .get("destinations")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([destination]) => {
            for extra in only(destination, &["to", "messageId"]) {
                bad(
                    &format!("messages[0].destinations[0].{extra}"),
                    "is not a field the gateway sends",
                );
            }
            match destination.get("to").and_then(Value::as_str) {
                Some(to)
                    if to.bytes().all(|b| b.is_ascii_digit()) && (7..=15).contains(&to.len()) => {}
                _ => bad("messages[0].destinations[0].to", "must be 7 to 15 digits"),
            }
            match destination.get("messageId").and_then(Value::as_str) {
                Some(id) if !id.is_empty() && id.chars().count() <= 200 => {}
                _ => bad(
                    "messages[0].destinations[0].messageId",
                    "must be 1 to 200 characters",
                ),
            }
        }
        _ => bad(
            "messages[0].destinations",
            "must hold exactly one destination",
        ),
    }
    let content = message.get("content").unwrap_or(&Value::Null);
    for extra in only(content, &["text"]) {
        bad(
            &format!("messages[0].content.{extra}"),
            "is not a field the gateway sends",
        );
    }
    match content.get("text").and_then(Value::as_str) {
        Some(text) if !text.is_empty() => {}
        _ => bad("messages[0].content.text", "must not be empty"),
    }
    let options = message.get("options").unwrap_or(&Value::Null);
    for extra in only(options, &["validityPeriod"]) {
        bad(
            &format!("messages[0].options.{extra}"),
            "is not a field the gateway sends",
        );
    }
    let validity = options.get("validityPeriod").unwrap_or(&Value::Null);
    let amount = validity.get("amount").and_then(Value::as_u64);
    let unit = validity.get("timeUnit").and_then(Value::as_str);
    let seconds = match unit {
        Some("SECONDS") => amount,
        Some("MINUTES") => amount.map(|a| a * 60),
        Some("HOURS") => amount.map(|a| a * 3600),
        _ => None,
    };
    if !seconds.is_some_and(|s| (1..=48 * 3600).contains(&s)) {
        bad(
            "messages[0].options.validityPeriod",
            "must be an amount of SECONDS, MINUTES or HOURS up to 48 h",
        );
    }
    if let Some(webhooks) = message.get("webhooks") {
        match webhooks.pointer("/delivery/url").and_then(Value::as_str) {
            Some(url) if url.starts_with("https://") || url.starts_with("http://127.0.0.1") => {}
            _ => bad("messages[0].webhooks.delivery.url", "must be a URL"),
        }
    }
    problems
}

impl FakeInfobip {
    pub fn new(answer: impl Fn(&Sent) -> Reply + Send + Sync + 'static) -> Self {
        Self {
            key: Arc::new(Mutex::new(API_KEY.to_owned())),
            violations: Arc::default(),
            taken: Arc::default(),
            idempotent: true,
            answer: Arc::new(answer),
        }
    }

    pub async fn start(self) -> (MockServer, Arc<Mutex<Vec<String>>>) {
        let violations = Arc::clone(&self.violations);
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(self)
            .mount(&server)
            .await;
        (server, violations)
    }
}

impl Respond for FakeInfobip {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut problems = Vec::new();
        if request.method.as_str() != "POST" || request.url.path() != "/sms/3/messages" {
            let line = format!("{} {}", request.method, request.url.path());
            self.violations.lock().unwrap().push(line);
            return ResponseTemplate::new(404);
        }
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let key = self.key.lock().unwrap().clone();
        if header("authorization") != format!("App {key}") {
            return api_error(401, &[]).template;
        }
        if !header("content-type").starts_with("application/json") {
            problems.push("not JSON".to_owned());
        }
        if request.url.query().is_some() {
            problems.push("fields in the query string".to_owned());
        }
        let Ok(json) = serde_json::from_slice::<Value>(&request.body) else {
            self.violations
                .lock()
                .unwrap()
                .push("a body that is not JSON".into());
            return api_error(400, &[]).template;
        };
        let found = violations(&json);
        problems.extend(found.iter().map(|(p, v)| format!("{p} {v}")));
        if !problems.is_empty() {
            self.violations.lock().unwrap().extend(problems);
            let found: Vec<(&str, &str)> = found
                .iter()
                .map(|(p, v)| (p.as_str(), v.as_str()))
                .collect();
            return api_error(400, &found).template;
        }
        let destination = &json["messages"][0]["destinations"][0];
        let sent = Sent {
            to: destination["to"].as_str().unwrap().to_owned(),
            message_id: destination["messageId"].as_str().unwrap().to_owned(),
        };
        // Idempotent sending: a messageId it took before is rejected, not sent again.
        if self.idempotent && self.taken.lock().unwrap().contains(&sent.message_id) {
            return rejected(&sent, 23, "REJECTED_DUPLICATE_MESSAGE_ID").template;
        }
        let reply = (self.answer)(&sent);
        if reply.taken {
            self.taken.lock().unwrap().insert(sent.message_id.clone());
        }
        reply.template
    }
}

/// Every message the stand-in was sent (whatever it answered).
pub async fn messages(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| serde_json::from_slice(&r.body).ok())
        .collect()
}

fn to_of(message: &Value) -> &str {
    message["messages"][0]["destinations"][0]["to"]
        .as_str()
        .unwrap_or_default()
}

fn infobip_env(base: &str) -> Vec<(&str, &str)> {
    vec![
        ("SMS_PROVIDER", "infobip"),
        ("INFOBIP_BASE_URL", base),
        ("INFOBIP_API_KEY", API_KEY),
        ("INFOBIP_FROM", FROM),
    ]
}

fn sms(phone: &str, message: &str) -> Value {
    json!({"phone_number": phone, "sender_id": "Other", "message": message})
}

fn config_from(vars: &[(&str, &str)]) -> Config {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("GATEWAY_API_KEY".to_owned(), KEY.to_owned())])
        .collect();
    Config::from_lookup(Host::Local, |k| env.get(k).cloned()).unwrap()
}

fn assert_no_violations(violations: &Arc<Mutex<Vec<String>>>) {
    let violations = violations.lock().unwrap();
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn the_stand_in_refuses_what_infobip_would() {
    let good = json!({"messages": [{"sender": "Acme",
        "destinations": [{"to": "14155550100", "messageId": "k"}],
        "content": {"text": "hi"},
        "options": {"validityPeriod": {"amount": 5, "timeUnit": "MINUTES"}}}]});
    assert_eq!(violations(&good), Vec::<(String, String)>::new());
    let bad = json!({"messages": [{"from": "Acme",
        "destinations": [{"to": "+14155550100"}],
        "text": "hi",
        "options": {"validityPeriod": {"amount": 49, "timeUnit": "HOURS"}}}]});
    let found: Vec<String> = violations(&bad).into_iter().map(|(p, _)| p).collect();
    for property in [
        "messages[0].from",
        "messages[0].text",
        "messages[0].sender",
        "messages[0].destinations[0].to",
        "messages[0].destinations[0].messageId",
        "messages[0].content.text",
        "messages[0].options.validityPeriod",
    ] {
        assert!(found.iter().any(|p| p == property), "{property}: {found:?}");
    }
}

#[tokio::test]
async fn sends_exactly_the_request_infobip_documents() {
    let (infobip, violations) = FakeInfobip::new(pending).start().await;
    let app = router(gateway_from_env(&infobip_env(&infobip.uri())).await);

    let (response, body) = call(&app, send(sms("+14155550110", "Your code is 482913"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["status"], "sent");
    assert_eq!(body["provider"], "infobip");
    // Outside GSM-7 (Cyrillic): Infobip picks the encoding itself, the text goes as it is.
    let (response, second) = call(&app, send(sms("+14155550111", "Ваш код 482913"))).await;
    assert_eq!(response.status(), 200, "{second}");

    let sent = messages(&infobip).await;
    assert_eq!(sent.len(), 2);
    let message_id = sent[0]["messages"][0]["destinations"][0]["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        body["message_id"],
        message_id.as_str(),
        "the id is our messageId"
    );
    let expected = json!({"messages": [{
        "sender": FROM,
        "destinations": [{"to": "14155550110", "messageId": message_id}],
        "content": {"text": "Your code is 482913"},
        "options": {"validityPeriod": {"amount": 5, "timeUnit": "MINUTES"}},
    }]});
    assert_eq!(sent[0], expected);
    assert_eq!(sent[1]["messages"][0]["content"]["text"], "Ваш код 482913");
    assert_ne!(
        sent[1]["messages"][0]["destinations"][0]["messageId"], message_id,
        "each request its own messageId"
    );
    let requests = infobip.received_requests().await.unwrap();
    assert_eq!(
        requests[0].headers.get("authorization").unwrap(),
        format!("App {API_KEY}").as_str()
    );
    assert_no_violations(&violations);
}

#[tokio::test]
async fn senders_by_country_and_the_request_sender_id_when_allowed() {
    let (infobip, violations) = FakeInfobip::new(pending).start().await;
    let base = infobip.uri();
    let mut vars = infobip_env(&base);
    vars.extend([
        ("INFOBIP_USE_SENDER_ID", "true"),
        (
            "SENDER_BY_COUNTRY",
            r#"{"GB": {"infobip": "+447700900001"}}"#,
        ),
        ("MESSAGE_TTL_SECONDS", "90"),
    ]);
    let app = router(gateway_from_env(&vars).await);
    for phone in ["+14155550112", "+447400123456"] {
        let (response, body) = call(&app, send(sms(phone, "code 1"))).await;
        assert_eq!(response.status(), 200, "{phone}: {body}");
    }
    let sent = messages(&infobip).await;
    assert_eq!(sent[0]["messages"][0]["sender"], "Other");
    assert_eq!(sent[1]["messages"][0]["sender"], "447700900001");
    let validity = json!({"amount": 90, "timeUnit": "SECONDS"});
    assert!(
        sent.iter()
            .all(|m| m["messages"][0]["options"]["validityPeriod"] == validity)
    );
    assert_no_violations(&violations);
}

#[tokio::test]
async fn each_infobip_answer_decides_failover_and_status() {
    let (infobip, violations) = FakeInfobip::new(|sent| match sent.to.as_str() {
        "15005550001" => rejected(sent, 52, "REJECTED_DESTINATION"),
        "15005550002" => rejected(sent, 8, "REJECTED_PREFIX_MISSING"),
        "15005550003" => rejected(sent, 10, "REJECTED_DND"),
        "15005550004" => rejected(sent, 12, "REJECTED_NOT_ENOUGH_CREDITS"),
        "15005550005" => rejected(sent, 11, "REJECTED_SOURCE"),
        "15005550006" => rejected(sent, 20, "REJECTED_FLOODING_FILTER"),
        "15005550007" => api_error(
            400,
            &[(
                "messages[0].destinations[0].to",
                "Invalid destination address.",
            )],
        ),
        "15005550008" => api_error(400, &[("messages[0].sender", "Invalid sender.")]),
        "15005550009" => api_error(403, &[]),
        "15005550010" => api_error(429, &[]),
        "15005550011" => api_error(500, &[]),
        "15005550012" => ResponseTemplate::new(503)
            .set_body_string("<html>down</html>")
            .into(),
        "15005550013" => ResponseTemplate::new(200)
            .set_body_string("{\"messages\": [{\"status\"")
            .into(),
        "15005550014" => status(sent, (2, "UNDELIVERABLE"), 9, "UNDELIVERABLE_NOT_DELIVERED"),
        _ => pending(sent),
    })
    .start()
    .await;
    let base = infobip.uri();
    let (app, backup) = first_then_backup(config_from(&infobip_env(&base))).await;
    // (number, status, error code, whether the backup provider was tried)
    let cases = [
        ("+15005550001", 422, Some("recipient_rejected"), false),
        ("+15005550002", 422, Some("recipient_rejected"), false),
        ("+15005550003", 422, Some("recipient_rejected"), false),
        ("+15005550004", 200, None, true),
        ("+15005550005", 200, None, true),
        ("+15005550006", 200, None, true),
        ("+15005550007", 422, Some("recipient_rejected"), false),
        ("+15005550008", 200, None, true),
        ("+15005550009", 200, None, true),
        ("+15005550010", 200, None, true),
        ("+15005550011", 502, Some("delivery_unknown"), false),
        ("+15005550012", 502, Some("delivery_unknown"), false),
        ("+15005550013", 502, Some("delivery_unknown"), false),
        ("+15005550014", 502, Some("delivery_unknown"), false),
        ("+15005550015", 200, None, false),
    ];
    for (phone, status, code, failed_over) in cases {
        let before = backup.count();
        let (response, body) = call(&app, send(sms(phone, "Your code is 1234"))).await;
        assert_eq!(response.status(), status, "{phone}: {body}");
        if let Some(code) = code {
            assert_eq!(body["error"], code, "{phone}: {body}");
        }
        assert_eq!(
            backup.count() - before,
            usize::from(failed_over),
            "{phone}: backup tried?"
        );
        if status == 200 {
            let provider = if failed_over { "backup" } else { "infobip" };
            assert_eq!(body["provider"], provider, "{phone}: {body}");
        }
    }
    let (_, body) = call(&app, send(sms("+15005550003", "Your code is 9999"))).await;
    assert_eq!(
        body["message"], "Infobip REJECTED_DND: Destination on DND list",
        "{body}"
    );
    assert_no_violations(&violations);
}

/// Two instances without a shared table (the gateway's own dedupe cannot see the other's send)
/// get the same request: the second sends the same messageId, Infobip rejects it as a duplicate,
/// and the gateway answers a duplicate with the first send's id, sending nothing else.
#[tokio::test]
async fn a_repeated_message_id_is_answered_as_the_duplicate_it_is() {
    let (infobip, violations) = FakeInfobip::new(pending).start().await;
    let base = infobip.uri();
    let mut vars = infobip_env(&base);
    // One slot of the window for both sends: the same messageId.
    vars.push(("DEDUPE_WINDOW_SECONDS", "86400"));
    let first = router(gateway_from_env(&vars).await);
    let second = router(gateway_from_env(&vars).await);
    let request = || send(sms("+14155550130", "Your code is 555123"));

    let (response, sent) = call(&first, request()).await;
    assert_eq!(response.status(), 200, "{sent}");
    assert_eq!(sent["status"], "sent");
    let (response, again) = call(&second, request()).await;
    assert_eq!(response.status(), 200, "{again}");
    assert_eq!(again["status"], "duplicate", "{again}");
    assert_eq!(again["message_id"], sent["message_id"]);
    assert_eq!(again["provider"], "infobip");
    let sent_to = messages(&infobip).await;
    assert_eq!(sent_to.len(), 2, "asked twice");
    assert_eq!(
        sent_to[0]["messages"][0]["destinations"][0]["messageId"],
        sent_to[1]["messages"][0]["destinations"][0]["messageId"]
    );
    assert_no_violations(&violations);
}

#[tokio::test]
async fn a_throttled_infobip_fails_over_to_sns_and_a_refused_number_does_not() {
    let (infobip, _) = FakeInfobip::new(|sent| match sent.to.as_str() {
        to if to.starts_with("1500555") => rejected(sent, 52, "REJECTED_DESTINATION"),
        _ => api_error(429, &[]),
    })
    .start()
    .await;
    let base = infobip.uri();
    let mut vars = infobip_env(&base);
    vars[0] = ("SMS_PROVIDER", "infobip,sns");
    let app = router(gateway_from_env(&vars).await);

    let phone = unique_phone();
    let (response, body) = call(&app, send(sms(&phone, "Your code is 1234"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "sns");
    assert_eq!(sms_sent_to(&phone).await.len(), 1);

    let (response, body) = call(&app, send(sms("+15005550020", "Your code is 1234"))).await;
    assert_eq!(response.status(), 422, "{body}");
    assert_eq!(sms_sent_to("+15005550020").await.len(), 0);
}

#[tokio::test]
async fn a_stalled_infobip_is_cut_at_the_deadline_and_nothing_else_sends() {
    let (infobip, _) = FakeInfobip::new(|sent| pending(sent).delayed(Duration::from_secs(30)))
        .start()
        .await;
    let base = infobip.uri();
    let mut vars = infobip_env(&base);
    vars.push(("SEND_DEADLINE_MS", "1200"));
    let (app, backup) = first_then_backup(config_from(&vars)).await;
    let started = std::time::Instant::now();
    let (response, body) = call(&app, send(sms("+14155550131", "Your code is 1234"))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "delivery_unknown");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "answered by the deadline"
    );
    assert_eq!(messages(&infobip).await.len(), 1);
    assert_eq!(backup.count(), 0, "a maybe-sent passcode never fails over");
}

/// The gateway secret as deployed for Infobip: the API key and Infobip's together.
fn secret_with(infobip_key: &str) -> String {
    json!({"api_key": KEY, "infobip_api_key": infobip_key}).to_string()
}

#[tokio::test]
async fn the_key_from_the_secret_and_a_rotation_healed_by_one_re_read() {
    let fake = FakeInfobip::new(pending);
    let accepted = Arc::clone(&fake.key);
    let (infobip, violations) = fake.start().await;
    let base = infobip.uri();
    let name = format!("mosaic/infobip-rotation-{}", std::process::id());
    let secrets = new_secret(&name, &secret_with(API_KEY)).await;
    let app = router(
        gateway_from_env(&[
            ("SMS_PROVIDER", "infobip"),
            ("INFOBIP_BASE_URL", &base),
            ("INFOBIP_FROM", FROM),
            ("GATEWAY_SECRET_ID", &name),
            // A stale local key: the secret's wins.
            ("INFOBIP_API_KEY", "stale-local-key"),
        ])
        .await,
    );
    let (response, body) = call(&app, send(sms("+14155550120", "code 1"))).await;
    assert_eq!(response.status(), 200, "{body}");

    // The secret is rotated (the secret first, as a rotation does), and Infobip drops the old key.
    let rotated = "r0tated-1nf0b1p-key";
    secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(secret_with(rotated))
        .send()
        .await
        .unwrap();
    *accepted.lock().unwrap() = rotated.into();
    let (response, body) = call(&app, send(sms("+14155550121", "code 2"))).await;
    assert_eq!(
        response.status(),
        200,
        "the same request sends with the new key: {body}"
    );
    let count = |sent: &[Value], digits: &str| sent.iter().filter(|m| to_of(m) == digits).count();
    assert_eq!(
        count(&messages(&infobip).await, "14155550121"),
        2,
        "one refused, one sent"
    );

    // Infobip drops that one too, and the secret has nothing newer: one attempt, our set-up.
    *accepted.lock().unwrap() = "an-even-newer-one".into();
    let (response, body) = call(&app, send(sms("+14155550122", "code 3"))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "provider_failed");
    assert_eq!(count(&messages(&infobip).await, "14155550122"), 1);
    assert_no_violations(&violations);
}

#[tokio::test]
async fn a_secret_without_an_infobip_key_stops_start_up() {
    let name = format!("mosaic/infobip-none-{}", std::process::id());
    new_secret(&name, &json!({"api_key": KEY}).to_string()).await;
    let config = config_from(&[
        ("SMS_PROVIDER", "infobip"),
        ("INFOBIP_FROM", FROM),
        ("INFOBIP_BASE_URL", "http://127.0.0.1:9"),
        ("GATEWAY_SECRET_ID", &name),
    ]);
    let sdk = aws_config(&moto().endpoint).await;
    let state = app_state(&config, Some(sdk)).unwrap();
    let line = app::start(&state).await.unwrap_err().to_string();
    assert!(
        line.starts_with("infobip: no Infobip API key") && line.contains(&name),
        "{line}"
    );
}

/// The gateway with Infobip and its reports, run as a process at `trace`: a send, a refused
/// number, a key Infobip refuses, and a report back with the gateway's token. Neither the key,
/// the message, the token nor the fingerprint key appears in the log.
#[tokio::test]
async fn the_infobip_key_never_reaches_the_log_even_at_trace() {
    let fake = FakeInfobip::new(|sent| match sent.to.as_str() {
        "15005550001" => rejected(sent, 52, "REJECTED_DESTINATION"),
        _ => pending(sent),
    });
    let accepted = Arc::clone(&fake.key);
    let (infobip, _) = fake.start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command
        .env("RUST_LOG", "trace")
        .env("GATEWAY_API_KEY", KEY)
        .env("SMS_PROVIDER", "infobip,outbox")
        .env("INFOBIP_BASE_URL", infobip.uri())
        .env("INFOBIP_API_KEY", API_KEY)
        .env("INFOBIP_FROM", FROM)
        .env("RECEIPTS_BASE_URL", "http://127.0.0.1:9")
        .env("FINGERPRINT_KEY", "infobip-trace-fingerprint-key");
    let gateway = start(command, dir.path());

    let message = "Your Acme code is 77Q-41X";
    let client = reqwest::Client::new();
    let post = |phone: &str| {
        client
            .post(&gateway.url)
            .header("x-api-key", KEY)
            .json(&json!({"phone_number": phone, "message": message}))
            .send()
    };
    assert_eq!(post(&unique_phone()).await.unwrap().status(), 200);
    assert_eq!(post("+15005550001").await.unwrap().status(), 422);
    *accepted.lock().unwrap() = "another-key".into();
    let failed_over: Value = post(&unique_phone()).await.unwrap().json().await.unwrap();
    assert_eq!(failed_over["provider"], "outbox");
    let sent = messages(&infobip).await;
    let url = sent[0]["messages"][0]["webhooks"]["delivery"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = url.split_once("?token=").unwrap().1.to_owned();
    let report = json!({"results": [{"messageId": "m-1", "to": "15005550001",
        "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}}]});
    let status_url = format!("{}/infobip/status", gateway.url.trim_end_matches('/'));
    let answer = client
        .post(format!("{status_url}?token={token}"))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    let log = gateway.stop();
    for secret in [
        API_KEY,
        message,
        "77Q-41X",
        "15005550001",
        &token,
        "infobip-trace-fingerprint-key",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
    }
    assert!(
        log.contains("ERROR") && log.contains("Check infobip_api_key"),
        "a refused key is one error line that says what to fix:\n{log}"
    );
}

/// `check --send-to` against a gateway that sends through Infobip: the test SMS reaches the
/// stand-in, and `check` names the provider and the message's id (its messageId).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_sends_its_test_sms_through_infobip() {
    let (infobip, violations) = FakeInfobip::new(pending).start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command
        .env("GATEWAY_API_KEY", KEY)
        .env("SMS_PROVIDER", "infobip")
        .env("INFOBIP_BASE_URL", infobip.uri())
        .env("INFOBIP_API_KEY", API_KEY)
        .env("INFOBIP_FROM", FROM);
    let gateway = start(command, dir.path());
    let uri = format!("{}/send-sms", gateway.url.trim_end_matches('/'));
    let to = unique_phone();
    let mut check = gateway_command(dir.path());
    check.env("GW_KEY", KEY).args([
        "check",
        "--uri",
        &uri,
        "--api-key-env",
        "GW_KEY",
        "--send-to",
        &to,
        "--message",
        "hello from check",
    ]);
    let output = tokio::task::spawn_blocking(move || check.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{:?}", output.stderr);
    let sent = messages(&infobip).await;
    assert_eq!(sent.len(), 1);
    let message = &sent[0]["messages"][0];
    let message_id = message["destinations"][0]["messageId"].as_str().unwrap();
    assert!(
        stdout
            .lines()
            .nth(1)
            .unwrap_or_default()
            .contains(&format!("through infobip (message id {message_id})")),
        "{stdout}"
    );
    assert_eq!(message["destinations"][0]["to"], to.trim_start_matches('+'));
    assert_eq!(message["content"]["text"], "hello from check");
    assert_no_violations(&violations);
    drop(gateway);
}
