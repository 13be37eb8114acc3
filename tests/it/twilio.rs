//! The `twilio` provider against a local Twilio stand-in (wiremock) that checks what Twilio checks:
//! the Account SID in the path, Basic auth, form encoding, `To`, `Body`, `From` or
//! `MessagingServiceSid`, `ValidityPeriod`; and answers as Twilio does. The gateway is built from
//! environment variables by the code `serve` and Lambda use.

use crate::support::*;
use mosaic_sms_gateway::app;
use mosaic_sms_gateway::app::config::Config;
use mosaic_sms_gateway::entry::http::{AppState, Arrived, router};
use mosaic_sms_gateway::settings::Host;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const ACCOUNT: &str = "AC00000000000000000000000000000042";
pub const TOKEN: &str = "tw1l1o-t0ken-that-must-not-leak";
const SERVICE: &str = "MG00000000000000000000000000000007";

/// What the stand-in does with a request that passed Twilio's checks, by its `To` number.
type Answer = Arc<dyn Fn(&HashMap<String, String>) -> ResponseTemplate + Send + Sync>;

/// Twilio's Messages and Balance resources, as far as the gateway uses them.
#[derive(Clone)]
pub struct FakeTwilio {
    /// The auth token it accepts now (a test can rotate it).
    pub token: Arc<Mutex<String>>,
    answer: Answer,
}

pub fn twilio_error(status: u16, code: u64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    }))
}

/// Twilio's answer to a message it queued.
pub fn queued(form: &HashMap<String, String>) -> ResponseTemplate {
    let mut sid = [0u8; 16];
    getrandom::fill(&mut sid).unwrap();
    let sid: String = sid.iter().map(|b| format!("{b:02x}")).collect();
    ResponseTemplate::new(201).set_body_json(json!({
        "sid": format!("SM{sid}"),
        "account_sid": ACCOUNT,
        "status": "queued",
        "to": form.get("To"),
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "body": form.get("Body"),
        "num_segments": "1",
    }))
}

impl FakeTwilio {
    pub fn new(
        answer: impl Fn(&HashMap<String, String>) -> ResponseTemplate + Send + Sync + 'static,
    ) -> Self {
        Self {
            token: Arc::new(Mutex::new(TOKEN.to_owned())),
            answer: Arc::new(answer),
        }
    }

    pub async fn start(self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(self)
            .mount(&server)
            .await;
        server
    }
}

impl Respond for FakeTwilio {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let basic = format!(
            "Basic {}",
            aws_smithy_types::base64::encode(format!("{ACCOUNT}:{}", self.token.lock().unwrap()))
        );
        let authorized = request
            .headers
            .get("authorization")
            .is_some_and(|v| v.as_bytes() == basic.as_bytes());
        let account = format!("/2010-04-01/Accounts/{ACCOUNT}");
        let path = request.url.path();
        if !path.starts_with("/2010-04-01/Accounts/") {
            return twilio_error(404, 20404, "The requested resource was not found");
        }
        if !authorized {
            return twilio_error(401, 20003, "Authenticate");
        }
        match (request.method.as_str(), path.strip_prefix(&account)) {
            ("GET", Some("/Balance.json")) => {
                return ResponseTemplate::new(200).set_body_json(json!({
                    "account_sid": ACCOUNT, "balance": "12.50", "currency": "USD"
                }));
            }
            ("POST", Some("/Messages.json")) => {}
            _ => return twilio_error(404, 20404, "The requested resource was not found"),
        }
        let form_encoded = request.headers.get("content-type").is_some_and(|v| {
            v.as_bytes()
                .starts_with(b"application/x-www-form-urlencoded")
        });
        if !form_encoded {
            return twilio_error(400, 21609, "Invalid content type");
        }
        let form: HashMap<String, String> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        if !form.contains_key("To") {
            return twilio_error(400, 21604, "A 'To' phone number is required.");
        }
        if !form.contains_key("Body") {
            return twilio_error(400, 21602, "Message body is required.");
        }
        if !form.contains_key("From") && !form.contains_key("MessagingServiceSid") {
            return twilio_error(400, 21603, "A 'From' phone number is required.");
        }
        if let Some(validity) = form.get("ValidityPeriod")
            && !validity
                .parse::<u32>()
                .is_ok_and(|v| (1..=36_000).contains(&v))
        {
            return twilio_error(400, 21623, "ValidityPeriod is invalid");
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
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/Messages.json"))
        .map(|r| form_urlencoded::parse(&r.body).into_owned().collect())
        .collect()
}

/// A gateway built from `vars` as `serve` builds it (key `local-dev-key`), started (secret read,
/// provider connections opened). AWS, when the configuration uses it, is moto.
pub async fn gateway_from_env(vars: &[(&str, &str)]) -> AppState {
    let mut env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.entry("GATEWAY_API_KEY".into()).or_insert(KEY.into());
    let config = Config::from_lookup(Host::Local, |k| env.get(k).cloned()).unwrap();
    let sdk = match config.uses_aws() {
        true => Some(aws_config(&moto().endpoint).await),
        false => None,
    };
    let state = app_state(&config, sdk).unwrap();
    app::start(&state).await.unwrap();
    state
}

fn twilio_env<'a>(base: &'a str, sender: (&'a str, &'a str)) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_API_BASE", base),
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        sender,
    ]
}

fn sms(phone: &str) -> serde_json::Value {
    json!({"phone_number": phone, "sender_id": "Acme", "message": "Your code is 482913"})
}

#[tokio::test]
async fn sends_exactly_the_request_twilio_documents() {
    let twilio = FakeTwilio::new(queued).start().await;
    let app =
        router(gateway_from_env(&twilio_env(&twilio.uri(), ("TWILIO_FROM", "+15005550006"))).await);
    let (response, body) = call(&app, send(sms("+14155550100"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["status"], "sent");
    assert_eq!(body["provider"], "twilio");
    let sid = body["message_id"].as_str().unwrap();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");

    let sent = messages(&twilio).await;
    assert_eq!(sent.len(), 1);
    let expected: HashMap<String, String> = [
        ("To", "+14155550100"),
        ("Body", "Your code is 482913"),
        ("From", "+15005550006"),
        ("ValidityPeriod", "300"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(sent[0], expected);

    // Start-up opened the connection with a read that checks the credentials.
    let requests = twilio.received_requests().await.unwrap();
    assert_eq!(requests[0].method.as_str(), "GET");
    assert_eq!(
        requests[0].url.path(),
        format!("/2010-04-01/Accounts/{ACCOUNT}/Balance.json")
    );
}

#[tokio::test]
async fn a_messaging_service_sends_and_the_request_sender_id_only_when_allowed() {
    let twilio = FakeTwilio::new(queued).start().await;
    let base = twilio.uri();
    let mut vars = twilio_env(&base, ("TWILIO_MESSAGING_SERVICE_SID", SERVICE));
    vars.push(("MESSAGE_TTL_SECONDS", "90"));
    let plain = router(gateway_from_env(&vars).await);
    vars.push(("TWILIO_USE_SENDER_ID", "true"));
    let with_sender_id = router(gateway_from_env(&vars).await);

    assert_eq!(
        call(&plain, send(sms("+14155550101"))).await.0.status(),
        200
    );
    assert_eq!(
        call(&with_sender_id, send(sms("+14155550102")))
            .await
            .0
            .status(),
        200
    );
    // A sender id that is not a valid alphanumeric one is never used.
    let odd = json!({"phone_number": "+14155550103", "sender_id": "A B", "message": "code 1"});
    assert_eq!(call(&with_sender_id, send(odd)).await.0.status(), 200);

    let sent = messages(&twilio).await;
    assert_eq!(sent.len(), 3);
    for form in &sent {
        assert_eq!(form["MessagingServiceSid"], SERVICE);
        assert_eq!(form["ValidityPeriod"], "90");
    }
    assert_eq!(sent[0].get("From"), None);
    assert_eq!(sent[1].get("From").map(String::as_str), Some("Acme"));
    assert_eq!(sent[2].get("From"), None);
}

fn config_from(vars: &[(&str, &str)]) -> Config {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("GATEWAY_API_KEY".to_owned(), KEY.to_owned())])
        .collect();
    Config::from_lookup(Host::Local, |k| env.get(k).cloned()).unwrap()
}

/// A gateway trying Twilio (configured from the environment) first, then a recorder that counts
/// what reaches it.
async fn twilio_then_recorder(
    base: &str,
    deadline_ms: &str,
    fake_token: Option<&str>,
) -> (axum::Router, Recorder) {
    let mut vars = twilio_env(base, ("TWILIO_FROM", "+15005550006"));
    vars.push(("SEND_DEADLINE_MS", deadline_ms));
    if let Some(token) = fake_token {
        vars.retain(|(k, _)| *k != "TWILIO_AUTH_TOKEN");
        vars.push(("TWILIO_AUTH_TOKEN", token));
    }
    first_then_backup(config_from(&vars)).await
}

#[tokio::test]
async fn each_twilio_answer_decides_failover_and_status() {
    let twilio = FakeTwilio::new(|form| match form["To"].as_str() {
        "+15005550001" => twilio_error(400, 21211, "The 'To' number +15005550001 is not a valid phone number."),
        "+15005550002" => twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
        "+15005550003" => twilio_error(429, 20429, "Too Many Requests"),
        "+15005550004" => twilio_error(500, 20500, "Internal Server Error"),
        "+15005550005" => twilio_error(400, 21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account"),
        "+15005550007" => twilio_error(400, 21608, "The number is unverified"),
        "+15005550008" => ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
        "+15005550010" => twilio_error(400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"),
        "+15005550011" => twilio_error(400, 21612, "The 'To' phone number is not currently reachable using the 'From' phone number via SMS."),
        // Accepted, but the answer cannot be read: it may have been sent.
        "+15005550012" => ResponseTemplate::new(201).set_body_json(json!({"status": "queued"})),
        "+15005550013" => ResponseTemplate::new(201).set_body_string("{\"sid\": \"SM"),
        _ => queued(form),
    })
    .start()
    .await;
    let (app, backup) = twilio_then_recorder(&twilio.uri(), "2500", None).await;

    // (number, status, error code, whether the backup provider was tried)
    let cases = [
        ("+15005550001", 422, Some("recipient_rejected"), false),
        ("+15005550002", 422, Some("recipient_rejected"), false),
        ("+15005550003", 200, None, true),
        ("+15005550004", 502, Some("delivery_unknown"), false),
        ("+15005550005", 200, None, true),
        ("+15005550007", 200, None, true),
        ("+15005550008", 502, Some("delivery_unknown"), false),
        ("+15005550009", 200, None, false),
        // The account's Geo Permissions, and no route for this To/From pair: not the number's
        // fault, so another provider may deliver.
        ("+15005550010", 200, None, true),
        ("+15005550011", 200, None, true),
        ("+15005550012", 502, Some("delivery_unknown"), false),
        ("+15005550013", 502, Some("delivery_unknown"), false),
    ];
    for (phone, status, code, failed_over) in cases {
        let before = backup.count();
        let (response, body) = call(&app, send(sms(phone))).await;
        assert_eq!(response.status(), status, "{phone}: {body}");
        if let Some(code) = code {
            assert_eq!(body["error"], code, "{phone}: {body}");
        }
        assert_eq!(
            backup.count() - before,
            usize::from(failed_over),
            "{phone}: backup tried?"
        );
        let expected_provider = if failed_over { "backup" } else { "twilio" };
        if status == 200 {
            assert_eq!(body["provider"], expected_provider, "{phone}: {body}");
        }
    }
    let (_, body) = call(&app, send(sms("+15005550001"))).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Twilio 21211"),
        "Twilio's code and reason reach Mosaic: {body}"
    );
    // Every request reached Twilio exactly once: nothing was retried.
    assert_eq!(messages(&twilio).await.len(), cases.len() + 1);
}

#[tokio::test]
async fn answers_to_mosaic_carry_no_account_identifiers() {
    let twilio = FakeTwilio::new(|form| match form["To"].as_str() {
        "+15005550020" => twilio_error(
            404,
            20404,
            &format!(
                "The requested resource /2010-04-01/Accounts/{ACCOUNT}/Messages.json was not found"
            ),
        ),
        _ => twilio_error(
            400,
            21211,
            "The 'To' number +15005550021 is not a valid phone number.",
        ),
    })
    .start()
    .await;
    let app =
        router(gateway_from_env(&twilio_env(&twilio.uri(), ("TWILIO_FROM", "+15005550006"))).await);
    let (response, body) = call(&app, send(sms("+15005550020"))).await;
    assert_eq!(response.status(), 502, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("Twilio 20404"), "{body}");
    assert!(message.contains("/Accounts/AC[redacted]/"), "{body}");
    assert!(!body.to_string().contains(ACCOUNT), "{body}");
    // The number the answer repeats is masked too.
    let (response, body) = call(&app, send(sms("+15005550021"))).await;
    assert_eq!(response.status(), 422, "{body}");
    assert!(!body.to_string().contains("5005550021"), "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("+1********21"),
        "{body}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_our_set_up_and_fail_over() {
    let twilio = FakeTwilio::new(queued).start().await;
    let (app, backup) = twilio_then_recorder(&twilio.uri(), "2500", Some("an-old-token")).await;
    let (response, body) = call(&app, send(sms("+14155550104"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "backup");
    assert_eq!(backup.count(), 1);
    // Twilio saw the attempt, and refused it.
    assert_eq!(messages(&twilio).await.len(), 1);
}

#[tokio::test]
async fn a_stalled_twilio_is_cut_at_the_deadline_and_nothing_else_sends() {
    let twilio = FakeTwilio::new(|form| queued(form).set_delay(Duration::from_secs(30)))
        .start()
        .await;
    let (app, backup) = twilio_then_recorder(&twilio.uri(), "1200", None).await;
    let started = std::time::Instant::now();
    let (response, body) = call(&app, send(sms("+14155550105"))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "delivery_unknown");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "answered by the deadline"
    );
    assert_eq!(messages(&twilio).await.len(), 1);
    assert_eq!(backup.count(), 0, "a maybe-sent passcode never fails over");
}

#[tokio::test]
async fn with_less_time_than_twilio_needs_nothing_is_started_and_nothing_is_sent() {
    let twilio = FakeTwilio::new(queued).start().await;
    // A request that reached API Gateway 2 s ago leaves 500 ms of the 2.5 s deadline: less than
    // Twilio's minimum (a connection and a first answer, 1 s). (A deadline that short from the
    // start does not start, below.)
    let (app, backup) = twilio_then_recorder(&twilio.uri(), "2500", None).await;
    let mut request = send(sms("+14155550115"));
    let arrived = tokio::time::Instant::now() - Duration::from_secs(2);
    request.extensions_mut().insert(Arrived(arrived));
    let (response, body) = call(&app, request).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(
        body["error"], "provider_failed",
        "a certain non-send: {body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("twilio needs 1000 ms"),
        "{body}"
    );
    assert_eq!(messages(&twilio).await.len(), 0, "Twilio was never called");
    assert_eq!(backup.count(), 0);

    // Deployed so, the gateway does not start.
    let config = config_from(&[
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_API_BASE", &twilio.uri()),
        ("TWILIO_FROM", "+15005550006"),
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("SEND_DEADLINE_MS", "300"),
    ]);
    let line = match app_state(&config, None) {
        Ok(_) => panic!("a 300 ms deadline with Twilio must not start"),
        Err(err) => err.to_string(),
    };
    assert!(
        line.starts_with("SEND_DEADLINE_MS is 300 ms, which leaves twilio less than the 1000 ms"),
        "{line}"
    );
}

#[tokio::test]
async fn a_stalled_twilio_is_cut_by_its_own_timeout_and_nothing_else_sends() {
    let twilio = FakeTwilio::new(|form| queued(form).set_delay(Duration::from_secs(30)))
        .start()
        .await;
    let (app, backup) = twilio_then_recorder(&twilio.uri(), "2500", None).await;
    let (response, body) = call(&app, send(sms("+14155550109"))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "delivery_unknown");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no answer within 1500 ms"),
        "{body}"
    );
    assert_eq!(backup.count(), 0, "a maybe-sent passcode never fails over");
}

/// A server that reads each request whole, then closes the connection without an answer: the
/// request reached it, so the message may have been taken.
async fn hang_up_after_the_request() -> String {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buffer = [0u8; 4096];
                while let Ok(n @ 1..) = socket.read(&mut buffer).await {
                    seen.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&seen);
                    if text.starts_with("GET") && text.contains("\r\n\r\n")
                        || text.contains("ValidityPeriod=")
                    {
                        break;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn a_connection_lost_after_the_request_is_maybe_sent_and_never_fails_over() {
    let base = hang_up_after_the_request().await;
    let (app, backup) = twilio_then_recorder(&base, "2500", None).await;
    let (response, body) = call(&app, send(sms("+14155550110"))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "delivery_unknown", "{body}");
    assert_eq!(backup.count(), 0);
}

#[tokio::test]
async fn a_failed_tls_handshake_never_sent_anything_and_fails_over() {
    // Twilio's stand-in speaks plain HTTP: a TLS client gets no handshake from it.
    let twilio = FakeTwilio::new(queued).start().await;
    let base = twilio.uri().replace("http://", "https://");
    let (app, backup) = twilio_then_recorder(&base, "2500", None).await;
    let (response, body) = call(&app, send(sms("+14155550111"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "backup");
    assert_eq!(backup.count(), 1);
    assert!(messages(&twilio).await.is_empty());
}

#[tokio::test]
async fn a_request_sender_id_replaces_the_configured_from_when_allowed() {
    let twilio = FakeTwilio::new(queued).start().await;
    let base = twilio.uri();
    let mut vars = twilio_env(&base, ("TWILIO_FROM", "+15005550006"));
    vars.push(("TWILIO_USE_SENDER_ID", "true"));
    let app = router(gateway_from_env(&vars).await);
    assert_eq!(call(&app, send(sms("+14155550112"))).await.0.status(), 200);
    let no_sender_id = json!({"phone_number": "+14155550113", "message": "code 2"});
    assert_eq!(call(&app, send(no_sender_id)).await.0.status(), 200);
    let sent = messages(&twilio).await;
    assert_eq!(sent[0]["From"], "Acme");
    assert_eq!(sent[1]["From"], "+15005550006");
}

#[tokio::test]
async fn an_unreachable_twilio_fails_over_to_sns() {
    let phone = unique_phone();
    let closed = closed_endpoint();
    let mut vars = twilio_env(&closed, ("TWILIO_FROM", "+15005550006"));
    vars[0] = ("SMS_PROVIDER", "twilio,sns");
    let app = router(gateway_from_env(&vars).await);
    let (response, body) = call(&app, send(sms(&phone))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "sns");
    let published = sms_sent_to(&phone).await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].1, body["message_id"].as_str().unwrap());
}

#[tokio::test]
async fn a_throttled_twilio_fails_over_to_sns_and_a_refused_number_does_not() {
    let twilio = FakeTwilio::new(|form| match form["To"].as_str() {
        to if to.starts_with("+1500555") => twilio_error(400, 21211, "invalid"),
        _ => twilio_error(429, 20429, "Too Many Requests"),
    })
    .start()
    .await;
    let base = twilio.uri();
    let mut vars = twilio_env(&base, ("TWILIO_FROM", "+15005550006"));
    vars[0] = ("SMS_PROVIDER", "twilio,sns");
    let app = router(gateway_from_env(&vars).await);

    let phone = unique_phone();
    let (response, body) = call(&app, send(sms(&phone))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "sns");
    assert_eq!(sms_sent_to(&phone).await.len(), 1);

    let (response, body) = call(&app, send(sms("+15005550010"))).await;
    assert_eq!(response.status(), 422, "{body}");
    assert_eq!(sms_sent_to("+15005550010").await.len(), 0);
}

/// The gateway secret as deployed for Twilio: the API key and the Twilio credentials together.
fn secret_with_token(token: &str) -> String {
    json!({"api_key": KEY, "twilio_account_sid": ACCOUNT, "twilio_auth_token": token}).to_string()
}

/// Rotates the Twilio token in the gateway secret `name`.
async fn put_token(secrets: &aws_sdk_secretsmanager::Client, name: &str, token: &str) {
    secrets
        .put_secret_value()
        .secret_id(name)
        .secret_string(secret_with_token(token))
        .send()
        .await
        .unwrap();
}

/// A Twilio stand-in whose accepted token a test can change, and a gateway reading Twilio's
/// credentials (the token `TOKEN`) from a new secret `mosaic/twilio-<label>`, with `vars` too.
async fn twilio_with_secret(
    label: &str,
    vars: &[(&str, &str)],
) -> (
    axum::Router,
    MockServer,
    Arc<Mutex<String>>,
    aws_sdk_secretsmanager::Client,
    String,
) {
    let fake = FakeTwilio::new(queued);
    let accepted = Arc::clone(&fake.token);
    let twilio = fake.start().await;
    let base = twilio.uri();
    let name = format!("mosaic/twilio-{label}-{}", std::process::id());
    let secrets = new_secret(&name, &secret_with_token(TOKEN)).await;
    let mut env = vec![
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_API_BASE", base.as_str()),
        ("TWILIO_FROM", "+15005550006"),
        ("GATEWAY_SECRET_ID", name.as_str()),
    ];
    env.extend_from_slice(vars);
    let app = router(gateway_from_env(&env).await);
    (app, twilio, accepted, secrets, name)
}

#[tokio::test]
async fn credentials_rotated_in_the_secret_are_used_without_a_restart() {
    // Every request reads the secret again, as one does once its TTL is over.
    let (app, twilio, accepted, secrets, name) =
        twilio_with_secret("rotation", &[("SECRET_TTL_SECONDS", "0")]).await;
    let (response, body) = call(&app, send(sms("+14155550106"))).await;
    assert_eq!(response.status(), 200, "{body}");

    // Twilio now wants the new token; the secret still holds the old one.
    *accepted.lock().unwrap() = "r0tated-t0ken".into();
    let (response, body) = call(&app, send(sms("+14155550107"))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "provider_failed");

    put_token(&secrets, &name, "r0tated-t0ken").await;
    let (response, body) = call(&app, send(sms("+14155550108"))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(messages(&twilio).await.len(), 3);
}

#[tokio::test]
async fn a_token_rotated_in_the_secret_is_read_at_the_first_refusal_and_sent_with_once() {
    // The default TTL (300 s): without the re-read, the old token would be used for minutes.
    let (app, twilio, accepted, secrets, name) = twilio_with_secret("refusal", &[]).await;
    let (response, body) = call(&app, send(sms("+14155550116"))).await;
    assert_eq!(response.status(), 200, "{body}");

    // The token is rotated (the secret first, as a rotation does), and Twilio revokes the old one.
    put_token(&secrets, &name, "r0tated-t0ken").await;
    *accepted.lock().unwrap() = "r0tated-t0ken".into();
    let (response, body) = call(&app, send(sms("+14155550117"))).await;
    assert_eq!(
        response.status(),
        200,
        "the same request sends with the new token: {body}"
    );
    let to = |phone: &str| {
        let phone = phone.to_owned();
        move |m: &&HashMap<String, String>| m["To"] == phone
    };
    let sent = messages(&twilio).await;
    assert_eq!(
        sent.iter().filter(to("+14155550117")).count(),
        2,
        "one refused attempt with the old token, one accepted with the new"
    );

    // Twilio revokes that one too, and the secret has nothing newer: one attempt and 502 (how
    // often the secret is read is tested in key_cache).
    *accepted.lock().unwrap() = "an-even-newer-token".into();
    let (response, body) = call(&app, send(sms("+14155550118"))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "provider_failed");
    let sent = messages(&twilio).await;
    assert_eq!(sent.iter().filter(to("+14155550118")).count(), 1);
}

#[tokio::test]
async fn the_secrets_credentials_win_over_the_environments() {
    let twilio = FakeTwilio::new(queued).start().await;
    let base = twilio.uri();
    let name = format!("mosaic/twilio-both-{}", std::process::id());
    new_secret(&name, &secret_with_token(TOKEN)).await;
    let app = router(
        gateway_from_env(&[
            ("SMS_PROVIDER", "twilio"),
            ("TWILIO_API_BASE", &base),
            ("TWILIO_FROM", "+15005550006"),
            ("GATEWAY_SECRET_ID", &name),
            ("TWILIO_ACCOUNT_SID", ACCOUNT),
            ("TWILIO_AUTH_TOKEN", "a-stale-local-token"),
        ])
        .await,
    );
    let (response, body) = call(&app, send(sms("+14155550114"))).await;
    assert_eq!(response.status(), 200, "{body}");
}

#[tokio::test]
async fn a_secret_without_twilio_credentials_stops_start_up() {
    let name = format!("mosaic/twilio-none-{}", std::process::id());
    new_secret(&name, &json!({"api_key": KEY}).to_string()).await;
    let config = config_from(&[
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_FROM", "+15005550006"),
        ("TWILIO_API_BASE", "http://127.0.0.1:9"),
        ("GATEWAY_SECRET_ID", &name),
    ]);
    let sdk = aws_config(&moto().endpoint).await;
    let state = app_state(&config, Some(sdk)).unwrap();
    let line = app::start(&state).await.unwrap_err().to_string();
    assert!(
        line.starts_with("twilio: no Twilio credentials") && line.contains(&name),
        "{line}"
    );
}
