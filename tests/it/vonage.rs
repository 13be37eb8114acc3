//! The `vonage` provider against a loopback Vonage stand-in (wiremock) that checks what Vonage
//! checks: `POST /sms/json`, form encoding, `api_key` and `api_secret`, the fields; that checks
//! each request against Vonage's own OpenAPI description (`tests/contracts/vonage_sms.yml`,
//! `NewMessage`: its required fields, its properties and their types, lengths, bounds and enums,
//! read from the file); and that answers as Vonage does, refusals in a `200` included.

use crate::process::*;
use crate::support::*;
use crate::twilio::gateway_from_env;
use mosaic_sms_gateway::adapters::providers::vonage::{SignatureMethod, signature};
use mosaic_sms_gateway::app;
use mosaic_sms_gateway::app::config::Config;
use mosaic_sms_gateway::entry::http::router;
use mosaic_sms_gateway::settings::Host;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const API_KEY: &str = "abcd1234";
pub const API_SECRET: &str = "v0nage-s3cret-that-must-not-leak";
const FROM: &str = "Acme";
const SIGNATURE_SECRET: &str = "v0nage-signature-secret-never-logged";

/// The path of Vonage's description, beside the project.
const CONTRACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/contracts/vonage_sms.yml"
);

/// One property of `NewMessage`, as the description constrains it.
#[derive(Debug, Default)]
struct Property {
    kind: String,
    min_length: Option<usize>,
    max_length: Option<usize>,
    minimum: Option<u64>,
    maximum: Option<u64>,
    values: Vec<String>,
}

/// `NewMessage` from Vonage's description: its required fields and its properties.
#[derive(Debug)]
struct NewMessage {
    required: Vec<String>,
    properties: HashMap<String, Property>,
}

/// Reads `components.schemas.NewMessage` from the description: a reader for this file's layout
/// (two spaces an indent), enough for its required list and its properties' constraints.
fn new_message() -> NewMessage {
    let text = std::fs::read_to_string(CONTRACT).expect("tests/contracts/vonage_sms.yml");
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim_end() != "    NewMessage:");
    lines.next().expect("NewMessage in the description");
    let block: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || indent(l) > 4)
        .collect();
    let (mut required, mut properties) = (Vec::new(), HashMap::<String, Property>::new());
    let (mut section, mut current, mut in_enum) = ("", String::new(), false);
    for line in block {
        let trimmed = line.trim();
        match indent(line) {
            6 => section = trimmed.trim_end_matches(':'),
            8 if section == "required" => required.push(trimmed.trim_start_matches("- ").into()),
            8 if section == "properties" => {
                current = trimmed.trim_end_matches(':').into();
                properties.insert(current.clone(), Property::default());
            }
            10 if section == "properties" => {
                let property = properties.get_mut(&current).unwrap();
                let (key, value) = trimmed.split_once(':').unwrap_or((trimmed, ""));
                let value = value.trim().trim_matches('"');
                in_enum = key == "enum";
                match key {
                    "type" => property.kind = value.into(),
                    "minLength" => property.min_length = value.parse().ok(),
                    "maxLength" => property.max_length = value.parse().ok(),
                    "minimum" => property.minimum = value.parse().ok(),
                    "maximum" => property.maximum = value.parse().ok(),
                    _ => {}
                }
            }
            12 if in_enum => {
                let property = properties.get_mut(&current).unwrap();
                property
                    .values
                    .push(trimmed.trim_start_matches("- ").into());
            }
            _ => {}
        }
    }
    NewMessage {
        required,
        properties,
    }
}

impl NewMessage {
    /// What in `form` the description does not allow.
    fn violations(&self, form: &[(String, String)]) -> Vec<String> {
        let mut problems = Vec::new();
        for name in &self.required {
            if !form.iter().any(|(k, _)| k == name) {
                problems.push(format!("{name} is required"));
            }
        }
        for (name, value) in form {
            if form.iter().filter(|(k, _)| k == name).count() > 1 {
                problems.push(format!("{name} is sent twice"));
            }
            let Some(p) = self.properties.get(name) else {
                problems.push(format!("{name} is not a property of NewMessage"));
                continue;
            };
            let chars = value.chars().count();
            if p.min_length.is_some_and(|min| chars < min)
                || p.max_length.is_some_and(|max| chars > max)
            {
                problems.push(format!("{name} has {chars} characters"));
            }
            if p.kind == "integer" {
                match value.parse::<u64>() {
                    Ok(n)
                        if p.minimum.is_none_or(|min| n >= min)
                            && p.maximum.is_none_or(|max| n <= max) => {}
                    _ => problems.push(format!("{name}={value} is not an integer in bounds")),
                }
            }
            if !p.values.is_empty() && !p.values.contains(value) {
                problems.push(format!("{name}={value} is not one of {:?}", p.values));
            }
        }
        // `to`: the pattern `\d{7,15}`; `client-ref`: "up to 40 characters" (its description).
        if let Some((_, to)) = form.iter().find(|(k, _)| k == "to")
            && !(to.bytes().all(|b| b.is_ascii_digit()) && (7..=15).contains(&to.len()))
        {
            problems.push(format!("to={to} is not 7 to 15 digits"));
        }
        if let Some((_, r)) = form.iter().find(|(k, _)| k == "client-ref")
            && r.chars().count() > 40
        {
            problems.push("client-ref is over 40 characters".into());
        }
        problems
    }
}

/// What the stand-in does with a request that passed Vonage's checks.
type Answer = Arc<dyn Fn(&HashMap<String, String>) -> ResponseTemplate + Send + Sync>;

/// Vonage's SMS API, as far as the gateway uses it.
#[derive(Clone)]
pub struct FakeVonage {
    /// The API secret it accepts now (a test can rotate it).
    pub secret: Arc<Mutex<String>>,
    /// What broke Vonage's description, request by request: every test asserts it stays empty.
    violations: Arc<Mutex<Vec<String>>>,
    contract: Arc<NewMessage>,
    answer: Answer,
}

/// Vonage's answer: one part per status, `"0"` sent with its id, others refused as Vonage words it.
pub fn parts(form: &HashMap<String, String>, statuses: &[&str]) -> ResponseTemplate {
    let messages: Vec<serde_json::Value> = statuses
        .iter()
        .enumerate()
        .map(|(i, status)| match *status {
            "0" => json!({
                "to": form.get("to"),
                "message-id": format!("0A000000{i:08X}"),
                "status": "0",
                "remaining-balance": "15.53590000",
                "message-price": "0.03330000",
                "network": "23410",
                "client-ref": form.get("client-ref"),
            }),
            status => json!({"status": status, "error-text": error_text(status)}),
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({
        "message-count": statuses.len().to_string(),
        "messages": messages,
    }))
}

fn error_text(status: &str) -> &'static str {
    match status {
        "1" => "Throttled",
        "2" => "Missing Parameters",
        "3" => "Invalid Parameters",
        "4" => "Bad Credentials",
        "5" => "Internal Error",
        "6" => "Invalid Message",
        "7" => "Number Barred",
        "9" => "Partner Quota Exceeded",
        "15" => "Illegal Sender Address - rejected",
        "33" => "Number De-activated",
        _ => "Unknown",
    }
}

/// Vonage's answer to a message it queued, in one part.
pub fn queued(form: &HashMap<String, String>) -> ResponseTemplate {
    parts(form, &["0"])
}

impl FakeVonage {
    pub fn new(
        answer: impl Fn(&HashMap<String, String>) -> ResponseTemplate + Send + Sync + 'static,
    ) -> Self {
        Self {
            secret: Arc::new(Mutex::new(API_SECRET.to_owned())),
            violations: Arc::default(),
            contract: Arc::new(new_message()),
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

impl Respond for FakeVonage {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.method.as_str() != "POST" || request.url.path() != "/sms/json" {
            self.violations.lock().unwrap().push(format!(
                "{} {}",
                request.method,
                request.url.path()
            ));
            return ResponseTemplate::new(404);
        }
        let form_encoded = request.headers.get("content-type").is_some_and(|v| {
            v.as_bytes()
                .starts_with(b"application/x-www-form-urlencoded")
        });
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        let mut problems = self.contract.violations(&pairs);
        if !form_encoded {
            problems.push("not form-encoded".into());
        }
        if request.url.query().is_some() {
            problems.push("credentials or fields in the query string".into());
        }
        let form: HashMap<String, String> = pairs.into_iter().collect();
        if !problems.is_empty() {
            self.violations.lock().unwrap().extend(problems);
            return parts(&form, &["3"]);
        }
        for field in ["text"] {
            if !form.contains_key(field) {
                return parts(&form, &["2"]);
            }
        }
        let secret = self.secret.lock().unwrap().clone();
        if form["api_key"] != API_KEY || form.get("api_secret") != Some(&secret) {
            return parts(&form, &["4"]);
        }
        (self.answer)(&form)
    }
}

/// The form fields of every message the stand-in was sent.
pub async fn messages(server: &MockServer) -> Vec<HashMap<String, String>> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| form_urlencoded::parse(&r.body).into_owned().collect())
        .collect()
}

fn vonage_env(base: &str) -> Vec<(&str, &str)> {
    vec![
        ("SMS_PROVIDER", "vonage"),
        ("VONAGE_API_BASE", base),
        ("VONAGE_API_KEY", API_KEY),
        ("VONAGE_API_SECRET", API_SECRET),
        ("VONAGE_FROM", FROM),
    ]
}

/// A gateway sending through a Vonage stand-in that queues everything, with `extra` settings.
pub async fn vonage_gateway(extra: &[(&str, &str)]) -> (axum::Router, MockServer) {
    let (vonage, _) = FakeVonage::new(queued).start().await;
    let base = vonage.uri();
    let mut vars = vonage_env(&base);
    vars.extend_from_slice(extra);
    (router(gateway_from_env(&vars).await), vonage)
}

fn sms(phone: &str, message: &str) -> serde_json::Value {
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

#[test]
fn the_description_is_read_so_the_checks_are_not_empty() {
    let contract = new_message();
    assert_eq!(contract.required, ["api_key", "from", "to"]);
    assert_eq!(contract.properties["api_key"].max_length, Some(8));
    assert_eq!(contract.properties["ttl"].minimum, Some(20_000));
    assert!(
        contract.properties["type"]
            .values
            .contains(&"unicode".to_owned())
    );
    assert!(contract.properties.contains_key("client-ref"));
    let bad = [
        ("to".to_owned(), "+447700900000".to_owned()),
        ("type".to_owned(), "utf8".to_owned()),
    ];
    assert_eq!(
        contract.violations(&bad).len(),
        4,
        "{:?}",
        contract.violations(&bad)
    );
}

#[tokio::test]
async fn sends_exactly_the_request_vonage_documents() {
    let (vonage, violations) = FakeVonage::new(|form| match form["to"].as_str() {
        // A long text: Vonage sends it in parts, each with its id.
        "14155550111" => parts(form, &["0", "0"]),
        _ => queued(form),
    })
    .start()
    .await;
    let app = router(gateway_from_env(&vonage_env(&vonage.uri())).await);

    let (response, body) = call(&app, send(sms("+14155550110", "Your code is 482913"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "vonage");
    assert_eq!(body["message_id"], "0A00000000000000");
    // Outside GSM-7 (Cyrillic): sent as unicode; two parts, the first one's id.
    let (response, body) = call(&app, send(sms("+14155550111", "Ваш код 482913"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["message_id"], "0A00000000000000");

    let sent = messages(&vonage).await;
    assert_eq!(sent.len(), 2);
    let client_ref = sent[0]["client-ref"].clone();
    assert!(
        !client_ref.is_empty() && client_ref.len() <= 40,
        "{client_ref}"
    );
    let expected: HashMap<String, String> = [
        ("api_key", API_KEY),
        ("api_secret", API_SECRET),
        ("from", FROM),
        ("to", "14155550110"),
        ("text", "Your code is 482913"),
        ("client-ref", &client_ref),
        ("ttl", "300000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(sent[0], expected);
    assert_eq!(sent[1]["type"], "unicode");
    assert_eq!(sent[1]["text"], "Ваш код 482913");
    assert_ne!(
        sent[1]["client-ref"], client_ref,
        "each request its own key"
    );
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
}

#[tokio::test]
async fn senders_by_country_and_the_request_sender_id_when_allowed() {
    let (vonage, violations) = FakeVonage::new(queued).start().await;
    let base = vonage.uri();
    let mut vars = vonage_env(&base);
    vars.extend([
        ("VONAGE_USE_SENDER_ID", "true"),
        (
            "SENDER_BY_COUNTRY",
            r#"{"GB": {"vonage": "+447700900001"}}"#,
        ),
        ("MESSAGE_TTL_SECONDS", "90"),
    ]);
    let app = router(gateway_from_env(&vars).await);
    assert_eq!(
        call(&app, send(sms("+14155550112", "code 1")))
            .await
            .0
            .status(),
        200
    );
    assert_eq!(
        call(&app, send(sms("+447400123456", "code 2")))
            .await
            .0
            .status(),
        200
    );
    let sent = messages(&vonage).await;
    assert_eq!(sent[0]["from"], "Other");
    assert_eq!(sent[1]["from"], "447700900001");
    assert!(sent.iter().all(|m| m["ttl"] == "90000"));
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
}

#[tokio::test]
async fn each_vonage_answer_decides_failover_and_status() {
    let (vonage, violations) = FakeVonage::new(|form| match form["to"].as_str() {
        "15005550001" => parts(form, &["1"]),
        "15005550002" => parts(form, &["9"]),
        "15005550003" => parts(form, &["15"]),
        "15005550004" => parts(form, &["6"]),
        "15005550005" => parts(form, &["7"]),
        "15005550006" => parts(form, &["33"]),
        "15005550007" => parts(form, &["5"]),
        "15005550008" => parts(form, &["77"]),
        // Some parts went, one did not: the passcode may be on the phone.
        "15005550009" => parts(form, &["0", "1"]),
        "15005550010" => ResponseTemplate::new(500).set_body_string("<html>error</html>"),
        "15005550011" => ResponseTemplate::new(429),
        "15005550012" => ResponseTemplate::new(401),
        "15005550013" => ResponseTemplate::new(200).set_body_string("{\"messages\": [{\"status\""),
        "15005550014" => parts(form, &["1", "1"]),
        _ => queued(form),
    })
    .start()
    .await;
    let base = vonage.uri();
    let (app, backup) = first_then_backup(config_from(&vonage_env(&base))).await;
    // (number, status, error code, whether the backup provider was tried)
    let cases = [
        ("+15005550001", 200, None, true),
        ("+15005550002", 200, None, true),
        ("+15005550003", 200, None, true),
        ("+15005550004", 422, Some("recipient_rejected"), false),
        ("+15005550005", 422, Some("recipient_rejected"), false),
        ("+15005550006", 422, Some("recipient_rejected"), false),
        ("+15005550007", 502, Some("delivery_unknown"), false),
        ("+15005550008", 502, Some("delivery_unknown"), false),
        ("+15005550009", 502, Some("delivery_unknown"), false),
        ("+15005550010", 502, Some("delivery_unknown"), false),
        ("+15005550011", 200, None, true),
        ("+15005550012", 200, None, true),
        ("+15005550013", 502, Some("delivery_unknown"), false),
        ("+15005550014", 200, None, true),
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
            let provider = if failed_over { "backup" } else { "vonage" };
            assert_eq!(body["provider"], provider, "{phone}: {body}");
        }
    }
    let (_, body) = call(&app, send(sms("+15005550005", "Your code is 1234"))).await;
    assert_eq!(body["message"], "Vonage 7: Number Barred", "{body}");
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
}

#[tokio::test]
async fn a_throttled_vonage_fails_over_to_sns_and_a_barred_number_does_not() {
    let (vonage, _) = FakeVonage::new(|form| match form["to"].as_str() {
        to if to.starts_with("1500555") => parts(form, &["7"]),
        _ => parts(form, &["1"]),
    })
    .start()
    .await;
    let base = vonage.uri();
    let mut vars = vonage_env(&base);
    vars[0] = ("SMS_PROVIDER", "vonage,sns");
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

/// The gateway secret as deployed for Vonage: the API key and Vonage's credentials together.
fn secret_with(api_secret: &str) -> String {
    json!({"api_key": KEY, "vonage_api_key": API_KEY, "vonage_api_secret": api_secret}).to_string()
}

#[tokio::test]
async fn credentials_from_the_secret_and_a_rotation_healed_by_one_re_read() {
    let fake = FakeVonage::new(queued);
    let accepted = Arc::clone(&fake.secret);
    let (vonage, violations) = fake.start().await;
    let base = vonage.uri();
    let name = format!("mosaic/vonage-rotation-{}", std::process::id());
    let secrets = new_secret(&name, &secret_with(API_SECRET)).await;
    let app = router(
        gateway_from_env(&[
            ("SMS_PROVIDER", "vonage"),
            ("VONAGE_API_BASE", &base),
            ("VONAGE_FROM", FROM),
            ("GATEWAY_SECRET_ID", &name),
            // A stale local pair: the secret's win.
            ("VONAGE_API_KEY", "zzzz9999"),
            ("VONAGE_API_SECRET", "stale-local"),
        ])
        .await,
    );
    let (response, body) = call(&app, send(sms("+14155550120", "code 1"))).await;
    assert_eq!(response.status(), 200, "{body}");

    // The secret is rotated (the secret first, as a rotation does), and Vonage drops the old one.
    let rotated = "r0tated-v0nage-s3cret";
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
        "the same request sends with the new secret: {body}"
    );
    let to = |digits: &'static str| move |m: &&HashMap<String, String>| m["to"] == digits;
    let sent = messages(&vonage).await;
    assert_eq!(
        sent.iter().filter(to("14155550121")).count(),
        2,
        "one refused, one sent"
    );

    // Vonage drops that one too, and the secret has nothing newer: one attempt, our set-up.
    *accepted.lock().unwrap() = "an-even-newer-one".into();
    let (response, body) = call(&app, send(sms("+14155550122", "code 3"))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "provider_failed");
    assert_eq!(
        messages(&vonage)
            .await
            .iter()
            .filter(to("14155550122"))
            .count(),
        1
    );
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
}

#[tokio::test]
async fn a_secret_without_vonage_credentials_stops_start_up() {
    let name = format!("mosaic/vonage-none-{}", std::process::id());
    new_secret(&name, &json!({"api_key": KEY}).to_string()).await;
    let config = config_from(&[
        ("SMS_PROVIDER", "vonage"),
        ("VONAGE_FROM", FROM),
        ("VONAGE_API_BASE", "http://127.0.0.1:9"),
        ("GATEWAY_SECRET_ID", &name),
    ]);
    let sdk = aws_config(&moto().endpoint).await;
    let state = app_state(&config, Some(sdk)).unwrap();
    let line = app::start(&state).await.unwrap_err().to_string();
    assert!(
        line.starts_with("vonage: no Vonage credentials") && line.contains(&name),
        "{line}"
    );
}

/// The gateway with Vonage, run as a process at `trace`: a send, a barred number, credentials
/// Vonage refuses, and receipts signed right and wrong. Neither the API secret, the signature
/// secret nor the message appears in the log.
#[tokio::test]
async fn vonage_credentials_never_reach_the_log_even_at_trace() {
    let fake = FakeVonage::new(|form| match form["to"].as_str() {
        "15005550001" => parts(form, &["7"]),
        _ => queued(form),
    });
    let accepted = Arc::clone(&fake.secret);
    let (vonage, _) = fake.start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command
        .env("RUST_LOG", "trace")
        .env("GATEWAY_API_KEY", KEY)
        .env("SMS_PROVIDER", "vonage,outbox")
        .env("VONAGE_API_BASE", vonage.uri())
        .env("VONAGE_API_KEY", API_KEY)
        .env("VONAGE_API_SECRET", API_SECRET)
        .env("VONAGE_FROM", FROM)
        .env("VONAGE_SIGNATURE_SECRET", SIGNATURE_SECRET)
        .env(
            "RECEIPTS_BASE_URL",
            "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        );
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
    *accepted.lock().unwrap() = "another-secret".into();
    let failed_over: serde_json::Value = post(&unique_phone()).await.unwrap().json().await.unwrap();
    assert_eq!(failed_over["provider"], "outbox");
    let receipts = gateway.url.replacen("/send-sms", "/vonage/status", 1);
    let receipts = match receipts.ends_with("/vonage/status") {
        true => receipts,
        false => format!("{}/vonage/status", receipts.trim_end_matches('/')),
    };
    let receipt = |secret: &str| {
        let mut params: Vec<(String, String)> = [
            ("msisdn", "15005550001"),
            ("status", "failed"),
            ("err-code", "6"),
            ("api-key", API_KEY),
            ("messageId", "0A0000000123ABCD1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sig = signature(SignatureMethod::Sha512, secret, &params);
        params.push(("sig".into(), sig));
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        client
            .post(&receipts)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(receipt(SIGNATURE_SECRET).await.unwrap().status(), 204);
    assert_eq!(receipt("not-the-secret").await.unwrap().status(), 403);
    let log = gateway.stop();
    for secret in [
        API_SECRET,
        API_KEY,
        SIGNATURE_SECRET,
        message,
        "77Q-41X",
        "15005550001",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
    }
    assert!(
        log.contains("ERROR") && log.contains("Check vonage_api_key"),
        "a refused set-up is one error line that says what to fix:\n{log}"
    );
}

/// `check --send-to` against a gateway that sends through Vonage: the test SMS reaches the
/// stand-in, and `check` names the provider and Vonage's message id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_sends_its_test_sms_through_vonage() {
    let (vonage, violations) = FakeVonage::new(queued).start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command
        .env("GATEWAY_API_KEY", KEY)
        .env("SMS_PROVIDER", "vonage")
        .env("VONAGE_API_BASE", vonage.uri())
        .env("VONAGE_API_KEY", API_KEY)
        .env("VONAGE_API_SECRET", API_SECRET)
        .env("VONAGE_FROM", FROM);
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
    let sent = stdout.lines().nth(1).unwrap_or_default();
    assert!(
        sent.contains("through vonage (message id 0A00000000000000)"),
        "{stdout}"
    );
    let sent = messages(&vonage).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["to"], to.trim_start_matches('+'));
    assert_eq!(sent[0]["text"], "hello from check");
    assert!(violations.lock().unwrap().is_empty());
    drop(gateway);
}
