//! The `http` provider: each recipe of docs/http-provider.md (`recipes/*.json`, which the page prints
//! verbatim)
//! run as printed against a loopback stand-in of its provider that checks the documented request
//! (path, credentials, body fields) and answers as that provider documents, with failover to SNS
//! on moto; every outcome class and its failover rule; a stall past the deadline; a lost
//! connection; body rules; hostile text in JSON, form and URL; `{secret.*}` re-read after a
//! rotation; start-up refusals; and a log at `trace` that holds no secret.

use crate::process::*;
use crate::support::*;
use crate::twilio::gateway_from_env;
use mosaic_sms_gateway::app;
use mosaic_sms_gateway::app::config::Config;
use mosaic_sms_gateway::entry::http::router;
use mosaic_sms_gateway::settings::Host;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const MESSAGE: &str = "Your code is 482913";
const RECIPES: [&str; 4] = ["sinch", "telnyx", "plivo", "bird"];

fn recipe(name: &str) -> String {
    let path = format!("{}/recipes/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_http_provider_page_prints_each_recipe_exactly_as_its_file() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/http-provider.md"
    ))
    .unwrap();
    for name in RECIPES {
        let block = format!(
            "<!-- recipes/{name}.json -->\n```json\n{}```\n",
            recipe(name)
        );
        assert!(
            page.contains(&block),
            "docs/http-provider.md does not print recipes/{name}.json as it is; the block should read:\n{block}"
        );
    }
    let files: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/recipes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files.len(),
        RECIPES.len(),
        "every recipe is tested: {files:?}"
    );
}

/// A stand-in provider: `check` lists what breaks the provider's documentation in a request (the
/// test asserts none), `answers` holds the answer for a number (its E.164), and `ok` answers the
/// rest as the provider documents a message it took.
#[derive(Clone)]
struct StandIn {
    check: fn(&Request) -> Vec<String>,
    to_of: fn(&Request) -> Option<String>,
    ok: fn(&Request) -> ResponseTemplate,
    answers: Arc<Mutex<HashMap<String, ResponseTemplate>>>,
    violations: Arc<Mutex<Vec<String>>>,
}

impl Respond for StandIn {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let problems = (self.check)(request);
        if !problems.is_empty() {
            self.violations.lock().unwrap().extend(problems);
            return ResponseTemplate::new(400);
        }
        let to = (self.to_of)(request).unwrap_or_default();
        if let Some(answer) = self.answers.lock().unwrap().get(&to) {
            return answer.clone();
        }
        (self.ok)(request)
    }
}

impl StandIn {
    async fn start(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }

    fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }
}

fn json_body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

fn header<'a>(request: &'a Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// What every JSON request must be: `method` to `path`, `Authorization` as given, a JSON body whose
/// keys are among `keys`.
fn request_problems(
    request: &Request,
    path: &str,
    authorization: &str,
    keys: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    if request.method.as_str() != "POST" || request.url.path() != path {
        problems.push(format!("{} {}", request.method, request.url.path()));
    }
    if header(request, "authorization") != authorization {
        problems.push("wrong Authorization".into());
    }
    if !header(request, "content-type").starts_with("application/json") {
        problems.push("not JSON".into());
    }
    match json_body(request).as_object() {
        Some(body) => {
            for key in body.keys() {
                if !keys.contains(&key.as_str()) {
                    problems.push(format!("{key} is not a field of the request"));
                }
            }
        }
        None => problems.push("the body is not a JSON object".into()),
    }
    problems
}

fn e164(value: &Value) -> Option<String> {
    value
        .as_str()
        .filter(|s| s.starts_with('+') && s[1..].bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

/// One recipe and the stand-in of its provider.
struct RecipeRun {
    name: &'static str,
    /// The scheme and host the recipe names, which the test points at the stand-in.
    origin: &'static str,
    /// The secret fields the recipe reads.
    secret: Value,
    /// `HTTP_PROVIDER_FROM`, when the recipe has a `{sender}`.
    from: Option<&'static str>,
    stand_in: StandIn,
    /// The id `ok` answers with.
    id: &'static str,
    /// Documented answers: (answer, gateway status, error code, whether SNS sent it instead).
    answers: Vec<(ResponseTemplate, u16, Option<&'static str>, bool)>,
}

impl RecipeRun {
    /// Runs the recipe, as printed, with `SMS_PROVIDER=http,sns`: one send, then each documented
    /// answer.
    async fn run(self) {
        let server = self.stand_in.start().await;
        let printed = recipe(self.name);
        assert_eq!(printed.matches(self.origin).count(), 1, "{}", self.name);
        let description = printed.replace(self.origin, &server.uri());
        let secret_name = format!("mosaic/http-{}-{}", self.name, std::process::id());
        let mut secret = self.secret.clone();
        secret["api_key"] = json!(KEY);
        new_secret(&secret_name, &secret.to_string()).await;
        let mut vars = vec![
            ("SMS_PROVIDER", "http,sns"),
            ("HTTP_PROVIDER", description.as_str()),
            ("GATEWAY_SECRET_ID", secret_name.as_str()),
        ];
        if let Some(from) = self.from {
            vars.push(("HTTP_PROVIDER_FROM", from));
        }
        let app = router(gateway_from_env(&vars).await);

        let phone = unique_phone();
        let (response, body) = call(&app, send(sms(&phone, MESSAGE))).await;
        assert_eq!(response.status(), 200, "{}: {body}", self.name);
        assert_eq!(body["provider"], self.name);
        assert_eq!(body["message_id"], self.id);
        assert!(sms_sent_to(&phone).await.is_empty());

        for (answer, status, code, failed_over) in self.answers {
            let phone = unique_phone();
            self.stand_in
                .answers
                .lock()
                .unwrap()
                .insert(phone.clone(), answer.clone());
            let (response, body) = call(&app, send(sms(&phone, MESSAGE))).await;
            let case = format!("{}: {status} {code:?}: {body}", self.name);
            assert_eq!(response.status(), status, "{case}");
            if let Some(code) = code {
                assert_eq!(body["error"], code, "{case}");
            }
            assert_eq!(
                sms_sent_to(&phone).await.len(),
                usize::from(failed_over),
                "{case}: SNS sent it?"
            );
            if failed_over {
                assert_eq!(body["provider"], "sns", "{case}");
            }
        }
        assert!(
            self.stand_in.violations().is_empty(),
            "{}: {:?}",
            self.name,
            self.stand_in.violations()
        );
    }
}

fn sms(phone: &str, message: &str) -> Value {
    json!({"phone_number": phone, "sender_id": "Other", "message": message})
}

fn answer(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

const SINCH_PLAN: &str = "jd63jf88477ll123ab4567cd89012ef3";
const SINCH_TOKEN: &str = "sinch-api-token-that-must-not-leak";

/// Sinch's SMS REST API, `POST /xms/v1/{service_plan_id}/batches` with a Bearer token
/// (https://developers.sinch.com/docs/sms/api-reference/sms/batches): `to` a list of E.164
/// numbers, `body` the text, `from`, `client_reference`; `201` with the batch and its `id`; `400`
/// and `403` carry `code` and `text` (https://developers.sinch.com/docs/sms/api-reference/status-codes).
#[tokio::test]
async fn the_sinch_recipe_sends_what_sinch_documents_and_reads_its_answers() {
    let stand_in = StandIn {
        check: |r| {
            let path = format!("/xms/v1/{SINCH_PLAN}/batches");
            let bearer = format!("Bearer {SINCH_TOKEN}");
            let mut problems = request_problems(
                r,
                &path,
                &bearer,
                &["from", "to", "body", "client_reference"],
            );
            let body = json_body(r);
            let to = body["to"]
                .as_array()
                .map(|a| a.iter().filter_map(e164).count());
            if to != Some(1) || body["to"].as_array().map(Vec::len) != Some(1) {
                problems.push("to is not a list of one E.164 number".into());
            }
            if body["body"] != MESSAGE || body["from"] != "+12065550100" {
                problems.push("body or from".into());
            }
            let reference = body["client_reference"].as_str().unwrap_or("");
            if reference.is_empty() || reference.len() > 2048 {
                problems.push("client_reference".into());
            }
            problems
        },
        to_of: |r| e164(&json_body(r)["to"][0]),
        ok: |r| {
            let body = json_body(r);
            answer(
                201,
                json!({
                    "id": "01FC66621XXXXX119Z8PMV1QPQ",
                    "to": body["to"],
                    "from": body["from"],
                    "canceled": false,
                    "body": body["body"],
                    "type": "mt_text",
                    "created_at": "2026-12-03T17:00:00.000Z",
                    "modified_at": "2026-12-03T17:00:00.000Z",
                    "delivery_report": "none",
                    "flash_message": false,
                    "client_reference": body["client_reference"],
                }),
            )
        },
        answers: Arc::default(),
        violations: Arc::default(),
    };
    let error =
        |status, code: &str| answer(status, json!({"code": code, "text": "as Sinch words it"}));
    RecipeRun {
        name: "sinch",
        origin: "https://us.sms.api.sinch.com",
        secret: json!({"sinch_service_plan_id": SINCH_PLAN, "sinch_api_token": SINCH_TOKEN}),
        from: Some("+12065550100"),
        stand_in,
        id: "01FC66621XXXXX119Z8PMV1QPQ",
        answers: vec![
            (
                error(400, "syntax_invalid_parameter_format"),
                422,
                Some("recipient_rejected"),
                false,
            ),
            (ResponseTemplate::new(401), 200, None, true),
            (error(403, "unprovisioned_region"), 200, None, true),
            (ResponseTemplate::new(404), 200, None, true),
            (ResponseTemplate::new(429), 200, None, true),
            (
                ResponseTemplate::new(500),
                502,
                Some("delivery_unknown"),
                false,
            ),
            (
                ResponseTemplate::new(503),
                502,
                Some("delivery_unknown"),
                false,
            ),
            (
                answer(201, json!({"canceled": false})),
                502,
                Some("delivery_unknown"),
                false,
            ),
        ],
    }
    .run()
    .await;
}

const TELNYX_KEY: &str = "KEY0123-telnyx-that-must-not-leak";

/// Telnyx's `POST /v2/messages` with a Bearer API key
/// (https://developers.telnyx.com/docs/messaging/messages/send-message): `from`, `to` (E.164),
/// `text`; `200` with the message in `data` (`data.id`); errors as `errors[]` with a `code`
/// (https://developers.telnyx.com/development/api-fundamentals/api-errors), `40300` (blocked by
/// the recipient's STOP) a `409` (https://developers.telnyx.com/api/errors/40300).
#[tokio::test]
async fn the_telnyx_recipe_sends_what_telnyx_documents_and_reads_its_answers() {
    let stand_in = StandIn {
        check: |r| {
            let bearer = format!("Bearer {TELNYX_KEY}");
            let mut problems =
                request_problems(r, "/v2/messages", &bearer, &["from", "to", "text"]);
            let body = json_body(r);
            if e164(&body["to"]).is_none()
                || body["text"] != MESSAGE
                || body["from"] != "+13125550100"
            {
                problems.push("from, to or text".into());
            }
            problems
        },
        to_of: |r| e164(&json_body(r)["to"]),
        ok: |r| {
            let body = json_body(r);
            answer(
                200,
                json!({"data": {
                    "record_type": "message",
                    "direction": "outbound",
                    "id": "40385f64-5717-4562-b3fc-2c963f66afa6",
                    "type": "SMS",
                    "from": {"phone_number": body["from"]},
                    "to": [{"phone_number": body["to"], "status": "queued"}],
                    "text": body["text"],
                    "parts": 1,
                    "errors": [],
                }}),
            )
        },
        answers: Arc::default(),
        violations: Arc::default(),
    };
    let error = |status, code: &str, title: &str| {
        answer(
            status,
            json!({"errors": [{"code": code, "title": title, "detail": "as Telnyx words it"}]}),
        )
    };
    RecipeRun {
        name: "telnyx",
        origin: "https://api.telnyx.com",
        secret: json!({"telnyx_api_key": TELNYX_KEY}),
        from: Some("+13125550100"),
        stand_in,
        id: "40385f64-5717-4562-b3fc-2c963f66afa6",
        answers: vec![
            (
                error(409, "40300", "Blocked due to STOP message"),
                422,
                Some("recipient_rejected"),
                false,
            ),
            (error(400, "10015", "Bad Request"), 200, None, true),
            (
                error(401, "10009", "Authentication failed"),
                200,
                None,
                true,
            ),
            (error(403, "10010", "Authorization failed"), 200, None, true),
            (error(422, "10002", "Invalid phone number"), 200, None, true),
            (error(429, "10011", "Too many requests"), 200, None, true),
            (
                error(500, "10007", "Unexpected error"),
                502,
                Some("delivery_unknown"),
                false,
            ),
            (
                answer(200, json!({"data": {"record_type": "message"}})),
                502,
                Some("delivery_unknown"),
                false,
            ),
        ],
    }
    .run()
    .await;
}

const PLIVO_ID: &str = "MAXXXXXXXXXXXXXXXXXX";
const PLIVO_TOKEN: &str = "plivo-auth-token-that-must-not-leak";

/// Plivo's `POST /v1/Account/{auth_id}/Message/` with Basic auth (auth id and token)
/// (https://www.plivo.com/docs/sms/detailed-reference/api/message/send-a-message/): `src`, `dst`
/// (digits with the country code), `text`; `202` with `message_uuid` (a list); errors as
/// `{"api_id", "error"}` with 400, 401, 404, 405, 429, 500
/// (https://docs.plivo.com/docs/messaging/api/response).
#[tokio::test]
async fn the_plivo_recipe_sends_what_plivo_documents_and_reads_its_answers() {
    let stand_in = StandIn {
        check: |r| {
            let path = format!("/v1/Account/{PLIVO_ID}/Message/");
            let basic = format!(
                "Basic {}",
                aws_smithy_types::base64::encode(format!("{PLIVO_ID}:{PLIVO_TOKEN}"))
            );
            let mut problems = request_problems(r, &path, &basic, &["src", "dst", "text"]);
            let body = json_body(r);
            let dst = body["dst"].as_str().unwrap_or("");
            if dst.is_empty() || !dst.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(format!("dst {dst:?} is not digits"));
            }
            if body["text"] != MESSAGE || body["src"] != "14155550100" {
                problems.push("src or text".into());
            }
            problems
        },
        to_of: |r| json_body(r)["dst"].as_str().map(|d| format!("+{d}")),
        ok: |_| {
            answer(
                202,
                json!({
                    "api_id": "db342550-7f1d-11e1-8ea7-1231380bc196",
                    "message": "message(s) queued",
                    "message_uuid": ["db3ce55a-7f1d-11e1-8ea7-1231380bc196"],
                }),
            )
        },
        answers: Arc::default(),
        violations: Arc::default(),
    };
    let error = |status, error: &str| {
        answer(
            status,
            json!({"api_id": "97ceeb52-58b6-11e1-86da-77300b68f8bb", "error": error}),
        )
    };
    RecipeRun {
        name: "plivo",
        origin: "https://api.plivo.com",
        secret: json!({"plivo_auth_id": PLIVO_ID, "plivo_auth_token": PLIVO_TOKEN}),
        from: Some("14155550100"),
        stand_in,
        id: "db3ce55a-7f1d-11e1-8ea7-1231380bc196",
        answers: vec![
            (
                error(400, "invalid_parameter"),
                422,
                Some("recipient_rejected"),
                false,
            ),
            (error(401, "authentication_failed"), 200, None, true),
            (error(404, "not_found"), 200, None, true),
            (error(429, "rate_limit_exceeded"), 200, None, true),
            (
                error(500, "server error"),
                502,
                Some("delivery_unknown"),
                false,
            ),
            (
                answer(202, json!({"api_id": "x", "message": "message(s) queued"})),
                502,
                Some("delivery_unknown"),
                false,
            ),
        ],
    }
    .run()
    .await;
}

const BIRD_WORKSPACE: &str = "b4e02c85-c6d2-4b15-8885-e09671799c61";
const BIRD_CHANNEL: &str = "67e4d358-ca94-421e-98b7-448860df9d33";
const BIRD_KEY: &str = "bird-access-key-that-must-not-leak";

/// Bird's Channels API, `POST /workspaces/{workspaceId}/channels/{channelId}/messages` with
/// `Authorization: AccessKey` (https://docs.bird.com/api/channels-api/api-reference/messaging),
/// an SMS as its SMS channel documents it (`receiver.contacts[]` with `identifierKey`
/// `phonenumber`, `body.type` `text`, https://docs.bird.com/api/channels-api/supported-channels/programmable-sms/sending-sms-messages);
/// `202` "accepted for processing" with the message and its `id`; `400`/`422` "did not pass
/// validation", `409` "conflicting conditions".
#[tokio::test]
async fn the_bird_recipe_sends_what_bird_documents_and_reads_its_answers() {
    let stand_in = StandIn {
        check: |r| {
            let path = format!("/workspaces/{BIRD_WORKSPACE}/channels/{BIRD_CHANNEL}/messages");
            let key = format!("AccessKey {BIRD_KEY}");
            let mut problems = request_problems(r, &path, &key, &["receiver", "body", "reference"]);
            let body = json_body(r);
            let contacts = body["receiver"]["contacts"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if contacts.len() != 1
                || contacts[0]["identifierKey"] != "phonenumber"
                || e164(&contacts[0]["identifierValue"]).is_none()
            {
                problems.push("receiver.contacts".into());
            }
            if body["body"] != json!({"type": "text", "text": {"text": MESSAGE}}) {
                problems.push("body".into());
            }
            if body["reference"].as_str().is_none_or(str::is_empty) {
                problems.push("reference".into());
            }
            problems
        },
        to_of: |r| e164(&json_body(r)["receiver"]["contacts"][0]["identifierValue"]),
        ok: |r| {
            let body = json_body(r);
            answer(
                202,
                json!({
                    "id": "f6fd0fd8-f6a9-4f7c-8ef3-4de4c5c0e6d5",
                    "channelId": BIRD_CHANNEL,
                    "receiver": body["receiver"],
                    "body": body["body"],
                    "reference": body["reference"],
                    "status": "accepted",
                    "createdAt": "2026-12-03T17:00:00.000Z",
                    "updatedAt": "2026-12-03T17:00:00.000Z",
                }),
            )
        },
        answers: Arc::default(),
        violations: Arc::default(),
    };
    let error =
        |status, code: &str| answer(status, json!({"code": code, "message": "as Bird words it"}));
    RecipeRun {
        name: "bird",
        origin: "https://api.bird.com",
        secret: json!({
            "bird_workspace_id": BIRD_WORKSPACE,
            "bird_channel_id": BIRD_CHANNEL,
            "bird_access_key": BIRD_KEY,
        }),
        from: None,
        stand_in,
        id: "f6fd0fd8-f6a9-4f7c-8ef3-4de4c5c0e6d5",
        answers: vec![
            (error(422, "InvalidPayload"), 200, None, true),
            (error(401, "Unauthorized"), 200, None, true),
            (error(404, "NotFound"), 200, None, true),
            (error(409, "Conflict"), 200, None, true),
            (error(429, "TooManyRequests"), 200, None, true),
            (
                error(500, "InternalError"),
                502,
                Some("delivery_unknown"),
                false,
            ),
            (
                answer(202, json!({"status": "accepted"})),
                502,
                Some("delivery_unknown"),
                false,
            ),
        ],
    }
    .run()
    .await;
}

// ---- Outcome classes, with a description of a provider of our own -------------------------------

const TOKEN: &str = "acme-env-token-that-must-not-leak";

/// A description of a provider that answers `{"id": ...}`, with its rules.
fn acme(url: &str) -> String {
    json!({
        "name": "acme",
        "url": url,
        "headers": {"X-Api-Token": "{env.ACME_TOKEN}"},
        "json": {"to": "{to}", "text": "{text}", "ref": "{reference}", "ttl": "{ttl_seconds}"},
        "message_id": "/id",
        "sent": [200],
        "refused": [400],
        "not_sent": [401, 429, 503],
        "rules": [
            {"pointer": "/status", "is": "throttled", "outcome": "not_sent"},
            {"pointer": "/status", "is": ["blocked", "opted_out"], "outcome": "refused"},
            {"pointer": "/status", "is": "unsure", "outcome": "maybe_sent"}
        ]
    })
    .to_string()
}

fn config_from(vars: &[(&str, &str)]) -> Config {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([
            ("GATEWAY_API_KEY".to_owned(), KEY.to_owned()),
            ("ACME_TOKEN".to_owned(), TOKEN.to_owned()),
        ])
        .collect();
    Config::from_lookup(Host::Local, |k| env.get(k).cloned()).unwrap()
}

/// A stand-in that answers by the number in the JSON body's `to`, and records every request.
async fn acme_stand_in(
    answers: impl Fn(&str) -> ResponseTemplate + Send + Sync + 'static,
) -> MockServer {
    struct Acme<F>(F);
    impl<F: Fn(&str) -> ResponseTemplate + Send + Sync + 'static> Respond for Acme<F> {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            if header(request, "x-api-token") != TOKEN {
                return ResponseTemplate::new(401);
            }
            (self.0)(json_body(request)["to"].as_str().unwrap_or(""))
        }
    }
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Acme(answers))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn every_outcome_class_decides_the_answer_and_the_failover() {
    let server = acme_stand_in(|to| match to {
        "+15005550001" => answer(200, json!({})),
        "+15005550002" => answer(200, json!({"id": ""})),
        "+15005550003" => answer(200, json!({"status": "throttled"})),
        "+15005550004" => answer(200, json!({"status": "opted_out"})),
        "+15005550005" => answer(200, json!({"status": "unsure", "id": "X"})),
        "+15005550006" => answer(400, json!({})),
        "+15005550007" => answer(401, json!({})),
        "+15005550008" => answer(429, json!({})),
        "+15005550009" => answer(503, json!({})),
        "+15005550010" => answer(500, json!({})),
        "+15005550011" => answer(418, json!({})),
        "+15005550012" => ResponseTemplate::new(302).insert_header("location", "/elsewhere"),
        "+15005550013" => answer(204, json!({"id": "X"})),
        "+15005550014" => ResponseTemplate::new(200).set_body_string("<html>OK</html>"),
        "+15005550015" => answer(500, json!({"status": "blocked"})),
        _ => answer(200, json!({"id": "acme-1", "status": "queued"})),
    })
    .await;
    let description = acme(&format!("{}/send", server.uri()));
    let (app, backup) = first_then_backup(config_from(&[
        ("SMS_PROVIDER", "http"),
        ("HTTP_PROVIDER", &description),
    ]))
    .await;
    // (number, status, error code, whether the next provider went)
    let cases = [
        ("+15005550000", 200, None, false),
        ("+15005550001", 502, Some("delivery_unknown"), false),
        ("+15005550002", 502, Some("delivery_unknown"), false),
        ("+15005550003", 200, None, true),
        ("+15005550004", 422, Some("recipient_rejected"), false),
        ("+15005550005", 502, Some("delivery_unknown"), false),
        ("+15005550006", 422, Some("recipient_rejected"), false),
        ("+15005550007", 200, None, true),
        ("+15005550008", 200, None, true),
        ("+15005550009", 200, None, true),
        ("+15005550010", 502, Some("delivery_unknown"), false),
        ("+15005550011", 502, Some("delivery_unknown"), false),
        ("+15005550012", 502, Some("delivery_unknown"), false),
        ("+15005550013", 502, Some("delivery_unknown"), false),
        ("+15005550014", 502, Some("delivery_unknown"), false),
        ("+15005550015", 422, Some("recipient_rejected"), false),
    ];
    for (phone, status, code, failed_over) in cases {
        let before = backup.count();
        let (response, body) = call(&app, send(sms(phone, MESSAGE))).await;
        assert_eq!(response.status(), status, "{phone}: {body}");
        if let Some(code) = code {
            assert_eq!(body["error"], code, "{phone}: {body}");
        }
        assert_eq!(
            backup.count() - before,
            usize::from(failed_over),
            "{phone}: next provider?"
        );
        if status == 200 {
            let provider = if failed_over { "backup" } else { "acme" };
            assert_eq!(body["provider"], provider, "{phone}: {body}");
        }
    }
    // Another message (the same one is a duplicate now): the reason names the status.
    let (_, body) = call(&app, send(sms("+15005550011", "Your code is 1"))).await;
    assert_eq!(
        body["message"],
        "the provider may have sent the message before it failed: acme answered HTTP 418, which its description does not declare",
    );
    // The request as described: the token, the fields, the TTL as a number.
    let requests = server.received_requests().await.unwrap();
    let first = json_body(&requests[0]);
    assert_eq!(first["to"], "+15005550000");
    assert_eq!(first["text"], MESSAGE);
    assert_eq!(first["ttl"], 300);
    assert_eq!(first["ref"].as_str().map(str::len), Some(64));
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_hands_over_and_one_that_stalls_does_not() {
    // Nothing listens: certainly not sent.
    let description = acme(&format!("{}/send", closed_endpoint()));
    let (app, backup) = first_then_backup(config_from(&[
        ("SMS_PROVIDER", "http"),
        ("HTTP_PROVIDER", &description),
    ]))
    .await;
    let (response, body) = call(&app, send(sms("+15005550020", MESSAGE))).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["provider"], "backup");
    assert_eq!(backup.count(), 1);

    // It takes the request and answers after the deadline: maybe sent, nobody else goes.
    let server =
        acme_stand_in(|_| answer(200, json!({"id": "late"})).set_delay(Duration::from_secs(5)))
            .await;
    let description = acme(&format!("{}/send", server.uri()));
    let (app, backup) = first_then_backup(config_from(&[
        ("SMS_PROVIDER", "http"),
        ("HTTP_PROVIDER", &description),
        ("SEND_DEADLINE_MS", "1200"),
    ]))
    .await;
    let started = std::time::Instant::now();
    let (response, body) = call(&app, send(sms("+15005550021", MESSAGE))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "delivery_unknown");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(backup.count(), 0);
}

/// `{sender}`: a country's own sender (`SENDER_BY_COUNTRY`, key `http`), else Mosaic's `sender_id`
/// when `HTTP_PROVIDER_USE_SENDER_ID` allows it, else `HTTP_PROVIDER_FROM`.
#[tokio::test]
async fn the_sender_is_the_countrys_then_the_requests_when_allowed_then_the_default() {
    let server = acme_stand_in(|_| answer(200, json!({"id": "acme-1"}))).await;
    let description = json!({
        "name": "acme",
        "url": format!("{}/send", server.uri()),
        "headers": {"X-Api-Token": "{env.ACME_TOKEN}"},
        "json": {"to": "{to}", "from": "{sender}", "text": "{text}"},
        "message_id": "/id",
        "sent": [200]
    })
    .to_string();
    for use_sender_id in ["true", "false"] {
        let (app, _) = first_then_backup(config_from(&[
            ("SMS_PROVIDER", "http"),
            ("HTTP_PROVIDER", &description),
            ("HTTP_PROVIDER_FROM", "AcmeDefault"),
            ("HTTP_PROVIDER_USE_SENDER_ID", use_sender_id),
            ("SENDER_BY_COUNTRY", r#"{"GB": {"http": "AcmeUK"}}"#),
        ]))
        .await;
        let text = format!("Your code is 1 ({use_sender_id})");
        for phone in ["+14155550150", "+447400123456"] {
            let (response, body) = call(&app, send(sms(phone, &text))).await;
            assert_eq!(response.status(), 200, "{body}");
        }
    }
    let senders: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| json_body(r)["from"].clone())
        .collect();
    assert_eq!(senders, ["Other", "AcmeUK", "AcmeDefault", "AcmeUK"]);
}

/// A server that reads the request and closes the connection without an answer.
async fn hangs_up() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            drop(socket);
        }
    });
    url
}

#[tokio::test]
async fn a_connection_lost_after_the_request_left_may_have_sent() {
    let description = acme(&format!("{}/send", hangs_up().await));
    let (app, backup) = first_then_backup(config_from(&[
        ("SMS_PROVIDER", "http"),
        ("HTTP_PROVIDER", &description),
    ]))
    .await;
    let (response, body) = call(&app, send(sms("+15005550022", MESSAGE))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "delivery_unknown");
    assert_eq!(backup.count(), 0);
}

/// Quotes, a newline, `&`, `%`, `+`, `/`, `?`, `#`, a placeholder's spelling and emoji reach the
/// provider as written, in a JSON body, a form body, a URL path segment and a query value.
#[tokio::test]
async fn hostile_text_is_encoded_for_where_it_stands() {
    let hostile = "Code \"12\" & 34 = 100%\nline two ✓ 🔐 a+b /x?y#z {to} \\ end";
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(answer(200, json!({"id": "ok"})))
        .mount(&server)
        .await;
    let base = server.uri();
    let json_description = json!({
        "name": "acme",
        "url": format!("{base}/send/{{text}}?to={{to}}&text={{text}}"),
        "json": {"text": "{text}", "parts": ["{to_digits}", "{text}"]},
        "message_id": "/id",
        "sent": [200]
    })
    .to_string();
    let form_description = json!({
        "name": "acme",
        "url": format!("{base}/form"),
        "form": {"text": "{text}", "to": "{to}"},
        "message_id": "/id",
        "sent": [200]
    })
    .to_string();
    for description in [&json_description, &form_description] {
        let (app, _) = first_then_backup(config_from(&[
            ("SMS_PROVIDER", "http"),
            ("HTTP_PROVIDER", description),
        ]))
        .await;
        let (response, body) = call(&app, send(sms("+15005550030", hostile))).await;
        assert_eq!(response.status(), 200, "{body}");
    }
    let requests = server.received_requests().await.unwrap();
    let decode = |encoded: &str| -> String {
        // The gateway writes a space as %20 and `+` as %2B: form decoding reads both back.
        form_urlencoded::parse(format!("v={encoded}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned()
    };
    let sent = &requests[0];
    let segment = sent.url.path().strip_prefix("/send/").unwrap();
    assert!(!segment.contains('/'), "one path segment: {segment}");
    assert_eq!(decode(segment), hostile);
    let query: HashMap<String, String> = sent.url.query_pairs().into_owned().collect();
    assert_eq!(query["text"], hostile);
    assert_eq!(query["to"], "+15005550030");
    let body = json_body(sent);
    assert_eq!(body["text"], hostile);
    assert_eq!(body["parts"], json!(["15005550030", hostile]));
    let form: HashMap<String, String> = form_urlencoded::parse(&requests[1].body)
        .into_owned()
        .collect();
    assert_eq!(form["text"], hostile);
    assert_eq!(form["to"], "+15005550030");
    assert!(header(&requests[1], "content-type").starts_with("application/x-www-form-urlencoded"));
}

// ---- Secrets -------------------------------------------------------------------------------------

fn rotating(url: &str, not_sent: Value) -> String {
    json!({
        "name": "acme",
        "url": format!("{url}/accounts/{{secret.acme_account}}/send"),
        "headers": {"Authorization": "Bearer {secret.acme_token}"},
        "json": {"to": "{to}", "text": "{text}"},
        "message_id": "/id",
        "sent": [200],
        "not_sent": not_sent,
    })
    .to_string()
}

/// Answers 401 unless the Bearer token is the one it holds now (a test rotates it).
async fn token_stand_in(accepted: Arc<Mutex<String>>) -> MockServer {
    struct Tokens(Arc<Mutex<String>>);
    impl Respond for Tokens {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let expected = format!("Bearer {}", self.0.lock().unwrap());
            if header(request, "authorization") != expected
                || request.url.path() != "/accounts/AC-1/send"
            {
                return ResponseTemplate::new(401);
            }
            answer(200, json!({"id": "sent-1"}))
        }
    }
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Tokens(accepted))
        .mount(&server)
        .await;
    server
}

fn acme_secret(token: &str) -> String {
    json!({"api_key": KEY, "acme_account": "AC-1", "acme_token": token}).to_string()
}

#[tokio::test]
async fn secret_placeholders_are_read_again_after_a_rotation() {
    let accepted = Arc::new(Mutex::new("token-1".to_owned()));
    let server = token_stand_in(Arc::clone(&accepted)).await;
    let name = format!("mosaic/http-rotation-{}", std::process::id());
    let secrets = new_secret(&name, &acme_secret("token-1")).await;
    let description = rotating(&server.uri(), json!([401]));
    let app = router(
        gateway_from_env(&[
            ("SMS_PROVIDER", "http"),
            ("HTTP_PROVIDER", &description),
            ("GATEWAY_SECRET_ID", &name),
        ])
        .await,
    );
    let (response, body) = call(&app, send(sms("+14155550130", MESSAGE))).await;
    assert_eq!(response.status(), 200, "{body}");

    // Rotated in the secret, then at the provider: the refused send reads the secret once and
    // goes again with the new token.
    secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(acme_secret("token-2"))
        .send()
        .await
        .unwrap();
    *accepted.lock().unwrap() = "token-2".into();
    let (response, body) = call(&app, send(sms("+14155550131", MESSAGE))).await;
    assert_eq!(response.status(), 200, "{body}");
    let to = |phone: &'static str| move |r: &&Request| json_body(r)["to"] == phone;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests.iter().filter(to("+14155550131")).count(),
        2,
        "one refused, one sent"
    );

    // Refused again and nothing newer in the secret: one request, our set-up (no failover here).
    *accepted.lock().unwrap() = "token-3".into();
    let (response, body) = call(&app, send(sms("+14155550132", MESSAGE))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "provider_failed");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.iter().filter(to("+14155550132")).count(), 1);
}

/// A 401 the description does not declare `not_sent` may have sent: the secret is not read again
/// for it, and nothing is sent a second time.
#[tokio::test]
async fn an_undeclared_401_is_maybe_sent_and_never_sent_again() {
    let accepted = Arc::new(Mutex::new("token-1".to_owned()));
    let server = token_stand_in(Arc::clone(&accepted)).await;
    let name = format!("mosaic/http-undeclared-{}", std::process::id());
    let secrets = new_secret(&name, &acme_secret("token-1")).await;
    let description = rotating(&server.uri(), json!([]));
    let app = router(
        gateway_from_env(&[
            ("SMS_PROVIDER", "http,sns"),
            ("HTTP_PROVIDER", &description),
            ("GATEWAY_SECRET_ID", &name),
        ])
        .await,
    );
    secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(acme_secret("token-2"))
        .send()
        .await
        .unwrap();
    *accepted.lock().unwrap() = "token-2".into();
    let phone = unique_phone();
    let (response, body) = call(&app, send(sms(&phone, MESSAGE))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "delivery_unknown");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert!(sms_sent_to(&phone).await.is_empty());
}

#[tokio::test]
async fn a_secret_without_a_field_the_description_names_stops_start_up() {
    let name = format!("mosaic/http-missing-{}", std::process::id());
    new_secret(
        &name,
        &json!({"api_key": KEY, "acme_account": "AC-1"}).to_string(),
    )
    .await;
    let description = rotating("http://127.0.0.1:9", json!([401]));
    let config = config_from(&[
        ("SMS_PROVIDER", "http"),
        ("HTTP_PROVIDER", &description),
        ("GATEWAY_SECRET_ID", &name),
    ]);
    let sdk = aws_config(&moto().endpoint).await;
    let state = app_state(&config, Some(sdk)).unwrap();
    let line = app::start(&state).await.unwrap_err().to_string();
    assert_eq!(
        line,
        format!(
            "acme: the gateway secret has no acme_token (HTTP_PROVIDER uses {{secret.acme_token}}) (secret {name})"
        )
    );
}

// ---- The binary ------------------------------------------------------------------------------

#[test]
fn a_description_that_cannot_work_stops_the_binary_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (description, expected) in [
        (
            r#"{"name": "acme", "url": "https://x.example/{phone}", "message_id": "/id", "sent": [200]}"#,
            "HTTP_PROVIDER `url` has an unknown placeholder {phone}",
        ),
        (
            r#"{"name": "acme", "url": "http://x.example/send", "message_id": "/id", "sent": [200]}"#,
            "HTTP_PROVIDER `url` must be an https URL",
        ),
        (
            r#"{"name": "acme", "url": "https://x.example/send", "message_id": "/id", "sent": [200], "retry": 3}"#,
            "unknown field `retry`",
        ),
        (
            r#"{"name": "acme", "url": "https://x.example/{secret.token}", "message_id": "/id", "sent": [200]}"#,
            "uses {secret.token}, but no gateway secret is configured",
        ),
    ] {
        let output = gateway_command(dir.path())
            .env("SMS_PROVIDER", "http")
            .env("HTTP_PROVIDER", description)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

/// The gateway with an `http` provider run as a process at `trace`: a send, a refused number, a
/// throttle that hands over to the outbox, and `check --send-to`. Neither the token (in a header and
/// in the URL), the message, nor the number appears in the log; the name, the status and the
/// outcome do.
#[tokio::test]
async fn nothing_secret_reaches_the_log_even_at_trace() {
    let server = acme_stand_in(|to| match to {
        "+15005550041" => answer(400, json!({"error": "bad number +15005550041"})),
        "+15005550042" => answer(429, json!({})),
        _ => answer(200, json!({"id": "acme-1"})),
    })
    .await;
    let description = json!({
        "name": "acme",
        "url": format!("{}/t/{{env.ACME_TOKEN}}/send", server.uri()),
        "headers": {"X-Api-Token": "{env.ACME_TOKEN}"},
        "json": {"to": "{to}", "text": "{text}"},
        "message_id": "/id",
        "sent": [200],
        "refused": [400],
        "not_sent": [429]
    })
    .to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command
        .env("RUST_LOG", "trace")
        .env("GATEWAY_API_KEY", KEY)
        .env("VALID_NUMBERS_ONLY", "false")
        .env("SMS_PROVIDER", "http,outbox")
        .env("HTTP_PROVIDER", &description)
        .env("ACME_TOKEN", TOKEN);
    let gateway = start(command, dir.path());
    let message = "Your Acme code is 77Q-41X";
    let client = reqwest::Client::new();
    let post = |phone: &'static str| {
        client
            .post(&gateway.url)
            .header("x-api-key", KEY)
            .json(&json!({"phone_number": phone, "message": message}))
            .send()
    };
    assert_eq!(post("+15005550040").await.unwrap().status(), 200);
    assert_eq!(post("+15005550041").await.unwrap().status(), 422);
    let failed_over: Value = post("+15005550042").await.unwrap().json().await.unwrap();
    assert_eq!(failed_over["provider"], "outbox");
    // `check --send-to` sends through the description like any request.
    let to = unique_phone();
    let mut check = gateway_command(dir.path());
    check.env("GW_KEY", KEY).args([
        "check",
        "--uri",
        &gateway.url,
        "--api-key-env",
        "GW_KEY",
        "--send-to",
        &to,
        "--message",
        message,
    ]);
    let output = tokio::task::spawn_blocking(move || check.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("through acme (message id acme-1)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(message) && !stdout.contains(TOKEN),
        "{stdout}"
    );
    let log = gateway.stop();
    for secret in [
        TOKEN,
        message,
        "77Q-41X",
        "15005550040",
        "15005550041",
        "15005550042",
        &to[1..],
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
    }
    assert!(
        log.contains("the http provider answered")
            && log.contains("status=429")
            && log.contains("not_sent"),
        "the name, the status and the outcome are logged:\n{log}"
    );
}

/// A server that answers 200 with a body that never ends, and counts the bytes it got out
/// before the gateway stopped reading.
async fn endless_answer() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&written);
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut buffer = [0u8; 65536];
                let _ = socket.read(&mut buffer).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("100000\r\n{}\r\n", " ".repeat(0x10_0000));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {
                    counted.fetch_add(chunk.len(), Ordering::SeqCst);
                }
            });
        }
    });
    (url, written)
}

/// A provider (or something in its place) that answers with a body without end is not read into
/// memory until the deadline: the answer is cut at a size no SMS API answers with, maybe sent.
#[tokio::test]
async fn an_answer_without_end_is_not_read_into_memory() {
    let (url, written) = endless_answer().await;
    let description = acme(&format!("{url}/send"));
    let (app, backup) = first_then_backup(config_from(&[
        ("SMS_PROVIDER", "http"),
        ("HTTP_PROVIDER", &description),
    ]))
    .await;
    let (response, body) = call(&app, send(sms("+15005550030", MESSAGE))).await;
    assert_eq!(response.status(), 502, "{body}");
    assert_eq!(body["error"], "delivery_unknown");
    assert_eq!(backup.count(), 0);
    let written = written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        written < 64 << 20,
        "the gateway read {} MiB of one answer",
        written >> 20
    );
}
