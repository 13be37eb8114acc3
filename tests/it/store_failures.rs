//! The limits when the table fails under load: gateway processes whose DynamoDB calls go through a
//! loopback stand-in in front of moto, which answers chosen calls the way a throttled table does
//! (`400 ThrottlingException`), or slowly, or never, and forwards the rest to moto.

use crate::dedupe::{Gateway, gateway, post, table};
use crate::support::{moto, sms_sent_to, unique_phone};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the stand-in does to the DynamoDB calls a [`Fault`] names.
#[derive(Clone, Copy, Debug)]
enum Effect {
    /// `400 ThrottlingException`: DynamoDB refused the call, nothing was written.
    Throttle,
    /// No answer at all: the caller cannot know whether the write landed.
    NoAnswer,
    /// No answer, and the call reaches the table this long after it came, whatever its caller
    /// did meanwhile: a write that lands after its caller gave up on it.
    LandLate(Duration),
}

/// The calls of one operation whose body holds every one of `needles`.
#[derive(Clone, Debug)]
struct Fault {
    operation: &'static str,
    needles: &'static [&'static str],
    effect: Effect,
}

#[derive(Default)]
struct Shared {
    fault: Mutex<Option<Fault>>,
    /// Added to every DynamoDB call: a slow table.
    delay: Mutex<Duration>,
    /// How many calls the fault hit.
    hits: AtomicUsize,
    /// How many of those reached the table late ([`Effect::LandLate`]).
    landed: AtomicUsize,
    upstream: String,
    client: reqwest::Client,
}

/// The stand-in, serving until the test's runtime ends.
struct DynamoStandIn {
    url: String,
    shared: Arc<Shared>,
}

impl DynamoStandIn {
    async fn start() -> Self {
        let shared = Arc::new(Shared {
            upstream: moto().endpoint.clone(),
            ..Shared::default()
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, shared }
    }

    fn fail(&self, fault: Option<Fault>) {
        *self.shared.fault.lock().unwrap() = fault;
    }

    fn slow(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// Waits (polling, with a deadline) until every call held by [`Effect::LandLate`] landed.
    async fn all_landed(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.shared.landed.load(Ordering::SeqCst) < self.hits() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "late writes never landed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(operation) = target.strip_prefix("DynamoDB_20120810.") {
        let delay = *shared.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let fault = shared.fault.lock().unwrap().clone();
        let text = String::from_utf8_lossy(&body);
        if let Some(fault) = fault.filter(|f| {
            f.operation == operation && f.needles.iter().all(|needle| text.contains(needle))
        }) {
            shared.hits.fetch_add(1, Ordering::SeqCst);
            match fault.effect {
                Effect::Throttle => {
                    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Throughput exceeds the current throughput limit for your table"}"#;
                    return (
                        StatusCode::BAD_REQUEST,
                        [(header::CONTENT_TYPE, "application/x-amz-json-1.0")],
                        body,
                    )
                        .into_response();
                }
                Effect::NoAnswer => std::future::pending::<()>().await,
                Effect::LandLate(after) => {
                    let (shared, path) = (shared.clone(), uri.to_string());
                    let (method, headers, body) = (method.clone(), headers.clone(), body.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = send_upstream(&shared, method, &path, &headers, body).await;
                        shared.landed.fetch_add(1, Ordering::SeqCst);
                    });
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let answer = send_upstream(&shared, method, path, &headers, body)
        .await
        .unwrap();
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != header::TRANSFER_ENCODING && name != header::CONTENT_LENGTH {
            response = response.header(name, value);
        }
    }
    response.body(answer.bytes().await.unwrap().into()).unwrap()
}

/// The call as it came, to moto.
async fn send_upstream(
    shared: &Shared,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> reqwest::Result<reqwest::Response> {
    let mut request = shared
        .client
        .request(method, format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    request.send().await
}

/// A gateway process on a new table whose DynamoDB calls go through a new stand-in, with `vars`.
async fn through_stand_in(vars: &[(&str, &str)]) -> (DynamoStandIn, Gateway) {
    let dynamodb = DynamoStandIn::start().await;
    let table = table().await;
    let mut all = vec![("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.url.as_str())];
    all.extend_from_slice(vars);
    let one = gateway(&table, &all);
    (dynamodb, one)
}

/// A Latvian mobile number of this test run.
fn latvian(n: u32) -> String {
    format!("+37120{n}{:05}", std::process::id() % 100_000)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_count_is_not_given_back_so_a_country_cap_holds() {
    let (dynamodb, one) = through_stand_in(&[
        ("LIMITS_ON_STORE_FAILURE", "closed"),
        ("MAX_SMS_PER_COUNTRY_PER_HOUR", r#"{"LV": 3}"#),
    ])
    .await;
    for n in 0..3 {
        let message = format!("Your code is 38100{n}");
        assert_eq!(post(&one, &latvian(n), &message).await.0, 200);
    }
    // The country's count is throttled: closed, so nothing is sent.
    dynamodb.fail(Some(Fault {
        operation: "UpdateItem",
        needles: &[r#""pk":{"S":"c#"#, "ADD sends :one "],
        effect: Effect::Throttle,
    }));
    let (status, answer) = post(&one, &latvian(3), "Your code is 381003").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (503, Some("limits_unavailable")),
        "{answer}"
    );
    assert!(
        dynamodb.hits() > 0,
        "the country's count went through the stand-in"
    );
    // The table answers again: three SMS went out this hour, so the cap of three holds.
    dynamodb.fail(None);
    for n in 4..6 {
        let (status, answer) = post(&one, &latvian(n), &format!("Your code is 38100{n}")).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (429, Some("country_limit")),
            "{answer}"
        );
        assert!(sms_sent_to(&latvian(n)).await.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefix_over_its_limit_refuses_though_the_block_write_never_answers() {
    for mode in ["open", "closed"] {
        let (dynamodb, one) = through_stand_in(&[
            ("LIMITS_ON_STORE_FAILURE", mode),
            ("MAX_SMS_PER_PREFIX_PER_HOUR", "1"),
        ])
        .await;
        let (a, b) = (unique_phone(), unique_phone());
        assert_eq!(a[..a.len() - 4], b[..b.len() - 4]);
        assert_eq!(post(&one, &a, "Your code is 382001").await.0, 200, "{mode}");
        // A slow table (each call a quarter of a second) whose write of the prefix's block never
        // answers: the counts have said "over" by then.
        dynamodb.slow(Duration::from_millis(250));
        dynamodb.fail(Some(Fault {
            operation: "PutItem",
            needles: &[r#""pk":{"S":"b#"#],
            effect: Effect::NoAnswer,
        }));
        let (status, answer) = post(&one, &b, "Your code is 382002").await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (429, Some("prefix_blocked")),
            "{mode}: {answer}"
        );
        assert!(dynamodb.hits() > 0, "{mode}: the block write was held");
        assert!(sms_sent_to(&b).await.is_empty(), "{mode}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_that_lands_after_its_request_gave_up_does_not_hold_the_re_send() {
    let (dynamodb, one) = through_stand_in(&[("LIMITS_ON_STORE_FAILURE", "closed")]).await;
    let phone = unique_phone();
    // The claim's writes reach the table only after the request gave up on them: closed, so
    // nothing is sent and Mosaic is told to try again.
    dynamodb.fail(Some(Fault {
        operation: "PutItem",
        needles: &[r#""pk":{"S":"s#"#],
        effect: Effect::LandLate(Duration::from_millis(2500)),
    }));
    let (status, answer) = post(&one, &phone, "Your code is 383001").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (503, Some("limits_unavailable")),
        "{answer}"
    );
    dynamodb.fail(None);
    dynamodb.all_landed().await;
    assert!(dynamodb.hits() > 0, "the claim went through the stand-in");
    // The late claim did not turn the "not sent" back into a claim in flight: Mosaic's re-send
    // goes out.
    let (status, answer) = post(&one, &phone, "Your code is 383001").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sms_sent_to(&phone).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_to_one_number_does_not_block_its_range() {
    let table = table().await;
    let one = gateway(
        &table,
        &[
            ("MAX_SMS_PER_PREFIX_PER_HOUR", "2"),
            ("MAX_SMS_PER_NUMBER_PER_HOUR", "1"),
        ],
    );
    let (a, b) = (unique_phone(), unique_phone());
    assert_eq!(a[..a.len() - 4], b[..b.len() - 4]);
    assert_eq!(post(&one, &a, "Your code is 384000").await.0, 200);
    // Sixteen more to the same number at once: its own limit refuses them all, and none of them
    // holds a place in the range's count.
    let mut burst = tokio::task::JoinSet::new();
    for n in 1..=16 {
        let message = format!("Your code is 3840{n:02}");
        burst.spawn(post_to(one.url.clone(), a.clone(), message));
    }
    while let Some(answered) = burst.join_next().await {
        let (status, answer) = answered.unwrap();
        assert_eq!(
            (status, answer["error"].as_str()),
            (429, Some("rate_limited")),
            "{answer}"
        );
    }
    // The range had one SMS of its two: a neighbour's passcode goes out.
    let (status, answer) = post(&one, &b, "Your code is 384099").await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefix_block_that_cannot_be_read_leaves_the_other_limits_standing() {
    let (dynamodb, one) = through_stand_in(&[
        ("MAX_SMS_PER_PREFIX_PER_HOUR", "100"),
        ("MAX_SMS_PER_NUMBER_PER_HOUR", "1"),
    ])
    .await;
    dynamodb.fail(Some(Fault {
        operation: "GetItem",
        needles: &[r#""pk":{"S":"b#"#],
        effect: Effect::Throttle,
    }));
    let phone = unique_phone();
    // Open: the first send goes, unchecked for the block, and is counted for its number...
    assert_eq!(post(&one, &phone, "Your code is 385001").await.0, 200);
    // ...so the second is refused by the number's limit, the block still unreadable.
    let (status, answer) = post(&one, &phone, "Your code is 385002").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (429, Some("rate_limited")),
        "{answer}"
    );
    assert!(
        dynamodb.hits() >= 2,
        "the block's reads went through the stand-in"
    );
    assert_eq!(sms_sent_to(&phone).await.len(), 1);
}

/// [`post`], to a gateway's URL: for requests sent at once from tasks of their own.
async fn post_to(url: String, phone: String, message: String) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(&url)
        .header("x-api-key", crate::support::KEY)
        .json(&serde_json::json!({"phone_number": phone, "sender_id": "Acme", "message": message}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_give_back_whose_answer_is_lost_is_not_sent_twice() {
    let (dynamodb, one) = through_stand_in(&[
        // SNS refuses the connection: certainly not sent, so the count is given back.
        ("AWS_ENDPOINT_URL_SNS", &crate::support::closed_endpoint()),
        ("MAX_SMS_PER_NUMBER_PER_HOUR", "2"),
    ])
    .await;
    // The give-back reaches the table, and its answer never comes back.
    dynamodb.fail(Some(Fault {
        operation: "UpdateItem",
        needles: &[r#""pk":{"S":"n#"#, "ADD sends :minus_one"],
        effect: Effect::LandLate(Duration::ZERO),
    }));
    let (status, answer) = post(&one, &unique_phone(), "Your code is 386001").await;
    assert_eq!(status, 502, "{answer}");
    dynamodb.all_landed().await;
    // Retried, it would take back a second count, another send's.
    assert_eq!(dynamodb.hits(), 1, "one give-back reached the table");
}
