//! Re-sends across instances, the country policy and the per-number limit: separate gateway
//! processes sharing one DynamoDB table (moto), sending through SNS (moto), Twilio and End User
//! Messaging (the stand-in) and the outbox.

use crate::process::{Running, gateway_command, start};
use crate::support::{KEY, aws_config, moto, sms_sent_to, sns_stand_in, unique_phone};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{
    STAND_IN_TWILIO_ACCOUNT as TWILIO_ACCOUNT, STAND_IN_TWILIO_TOKEN as TWILIO_TOKEN,
};

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&aws_config(&moto().endpoint).await)
}

/// A new table as the SAM template makes it: partition key `pk` (a string), on demand.
pub(crate) async fn table() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "idempotency-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    dynamodb()
        .await
        .create_table()
        .table_name(&name)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    name
}

/// Every item of `table`, each as its debug text.
async fn scan(table: &str) -> Vec<String> {
    let items = dynamodb()
        .await
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap();
    items.items().iter().map(|i| format!("{i:?}")).collect()
}

/// A running gateway process and the directory with its log.
pub(crate) struct Gateway {
    running: Running,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Gateway {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.running
    }
}

/// A gateway process on moto's AWS (SNS unless `vars` says otherwise), with the idempotency table.
pub(crate) fn gateway(table: &str, vars: &[(&str, &str)]) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let mut command: Command = gateway_command(dir.path());
    command
        .env("GATEWAY_API_KEY", KEY)
        .env("SMS_PROVIDER", "sns")
        .env("IDEMPOTENCY_TABLE", table)
        // A generous deadline: the table's calls get a fifth of it, and moto on a busy machine
        // can be slow (a claim that times out would send unchecked).
        .env("SEND_DEADLINE_MS", "8000")
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    for (name, value) in vars {
        command.env(name, value);
    }
    Gateway {
        running: start(command, dir.path()),
        _dir: dir,
    }
}

pub(crate) async fn post(gateway: &Running, phone: &str, message: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(&gateway.url)
        .header("x-api-key", KEY)
        .json(&json!({"phone_number": phone, "sender_id": "Acme", "message": message}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The same POST to three processes at once: one SMS, three 200s with its message id. Returns the
/// message id.
async fn one_sms_from_three_processes(
    gateways: &[Gateway; 3],
    phone: &str,
    message: &str,
) -> String {
    let (a, b, c) = tokio::join!(
        post(&gateways[0], phone, message),
        post(&gateways[1], phone, message),
        post(&gateways[2], phone, message)
    );
    let answers = [a, b, c];
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    let mut statuses: Vec<&str> = answers
        .iter()
        .map(|(_, b)| b["status"].as_str().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["duplicate", "duplicate", "sent"], "{answers:?}");
    let id = answers[0].1["message_id"].as_str().unwrap().to_owned();
    assert!(
        answers.iter().all(|(_, b)| b["message_id"] == id.as_str()),
        "{answers:?}"
    );
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn three_processes_sharing_the_table_send_one_sms_through_sns() {
    let table = table().await;
    let gateways = [
        gateway(&table, &[]),
        gateway(&table, &[]),
        gateway(&table, &[]),
    ];
    let phone = unique_phone();
    let message = "Your Acme code is 583920";

    let id = one_sms_from_three_processes(&gateways, &phone, message).await;
    let sent = sms_sent_to(&phone).await;
    assert_eq!(sent, [(message.to_owned(), id.clone())], "moto got one SMS");

    // Mosaic's re-send a little later, to another instance: the first message id, nothing sent.
    let (status, again) = post(&gateways[1], &phone, message).await;
    assert_eq!(status, 200);
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["message_id"], id.as_str());
    assert_eq!(again["provider"], "sns");
    assert_eq!(sms_sent_to(&phone).await.len(), 1);

    // A new passcode for the same number is a new send.
    let (status, other) = post(&gateways[2], &phone, "Your Acme code is 110002").await;
    assert_eq!((status, other["status"].as_str()), (200, Some("sent")));
    assert_eq!(sms_sent_to(&phone).await.len(), 2);

    // Nothing in the table can be read back as a number, a message or a passcode.
    let digits = phone.trim_start_matches('+');
    let items = scan(&table).await;
    assert!(!items.is_empty());
    for item in &items {
        for secret in [
            digits,
            "583920",
            "110002",
            "Acme code",
            &digits[digits.len() - 7..],
        ] {
            assert!(!item.contains(secret), "{secret:?} in clear in {item}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_processes_send_one_sms_through_twilio() {
    let stand_in = sns_stand_in();
    let table = table().await;
    let twilio = [
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_API_BASE", stand_in.url.as_str()),
        ("TWILIO_ACCOUNT_SID", TWILIO_ACCOUNT),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("TWILIO_FROM", "+15005550006"),
    ];
    let gateways = [
        gateway(&table, &twilio),
        gateway(&table, &twilio),
        gateway(&table, &twilio),
    ];
    let phone = unique_phone();
    let id = one_sms_from_three_processes(&gateways, &phone, "Your code is 661100").await;

    let to_phone = stand_in.twilio_messages_to(&phone).await;
    assert_eq!(to_phone.len(), 1, "Twilio got one message: {to_phone:?}");
    assert_eq!(to_phone[0]["sid"], id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn three_processes_send_one_sms_through_end_user_messaging_and_the_outbox() {
    let stand_in = sns_stand_in();
    let table = table().await;
    let eum = [
        ("SMS_PROVIDER", "end-user-messaging"),
        ("EUM_ORIGINATION_IDENTITY", "phone-0123456789"),
        (
            "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2",
            stand_in.url.as_str(),
        ),
    ];
    let gateways = [
        gateway(&table, &eum),
        gateway(&table, &eum),
        gateway(&table, &eum),
    ];
    let phone = unique_phone();
    let id = one_sms_from_three_processes(&gateways, &phone, "Your code is 771100").await;
    let sent: Vec<Value> = reqwest::get(format!("{}/end-user-messaging/sent", stand_in.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let to_phone: Vec<&Value> = sent
        .iter()
        .filter(|m| m["DestinationPhoneNumber"] == phone.as_str())
        .collect();
    assert_eq!(to_phone.len(), 1, "{to_phone:?}");
    assert_eq!(to_phone[0]["MessageId"], id.as_str());

    // The outbox: each process writes its own file; one line in all three.
    let dir = tempfile::tempdir().unwrap();
    let outboxes: Vec<String> = (0..3)
        .map(|i| {
            dir.path()
                .join(format!("outbox-{i}.jsonl"))
                .display()
                .to_string()
        })
        .collect();
    let gateways = [0, 1, 2].map(|i| {
        gateway(
            &table,
            &[("SMS_PROVIDER", "outbox"), ("OUTBOX_PATH", &outboxes[i])],
        )
    });
    let phone = unique_phone();
    one_sms_from_three_processes(&gateways, &phone, "Your code is 881100").await;
    let lines: usize = outboxes
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(lines, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_send_that_failed_lets_the_re_send_go() {
    let table = table().await;
    // The first instance cannot reach SNS: certainly not sent, 502.
    let closed = crate::support::closed_endpoint();
    // One SMS an hour: the failed send must not use it up.
    let limit = ("MAX_SMS_PER_NUMBER_PER_HOUR", "1");
    let broken = gateway(&table, &[("AWS_ENDPOINT_URL_SNS", &closed), limit]);
    let healthy = gateway(&table, &[limit]);
    let phone = unique_phone();
    let message = "Your code is 202020";
    let (status, failed) = post(&broken, &phone, message).await;
    assert_eq!(status, 502, "{failed}");
    assert_eq!(failed["error"], "provider_failed");
    let (status, sent) = post(&healthy, &phone, message).await;
    assert_eq!(
        (status, sent["status"].as_str()),
        (200, Some("sent")),
        "{sent}"
    );
    assert_eq!(sms_sent_to(&phone).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_send_that_may_have_gone_out_blocks_the_re_send_within_the_window() {
    let stand_in = sns_stand_in();
    let table = table().await;
    // End User Messaging answers HTTP 500 for this number: it may have taken the message.
    let phone = "+447009900312";
    let message = "Your code is 404040";
    let uncertain = gateway(
        &table,
        &[
            ("SMS_PROVIDER", "end-user-messaging"),
            ("EUM_ORIGINATION_IDENTITY", "phone-0123456789"),
            (
                "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2",
                stand_in.url.as_str(),
            ),
        ],
    );
    let (status, first) = post(&uncertain, phone, message).await;
    assert_eq!(
        (status, first["error"].as_str()),
        (502, Some("delivery_unknown")),
        "{first}"
    );
    // Mosaic's re-send reaches a healthy instance (SNS): a second copy could reach the phone, so
    // nothing is sent, and the answer says the delivery is unknown.
    let healthy = gateway(&table, &[]);
    let (status, again) = post(&healthy, phone, message).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (502, Some("delivery_unknown")),
        "{again}"
    );
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("may have been sent"),
        "{again}"
    );
    assert_eq!(sms_sent_to(phone).await.len(), 0);
    assert!(
        scan(&table).await.iter().any(|i| i.contains("unknown")),
        "the outcome is recorded as unknown"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_instances_claim_is_maybe_sent_and_the_re_send_sends_nothing() {
    let stand_in = sns_stand_in();
    let table = table().await;
    // End User Messaging stalls for this number: the first instance is still sending when it is
    // killed, leaving its in-flight claim behind.
    let phone = "+447009900412";
    let message = "Your code is 303030";
    let crashing = gateway(
        &table,
        &[
            ("SMS_PROVIDER", "end-user-messaging"),
            ("EUM_ORIGINATION_IDENTITY", "phone-0123456789"),
            (
                "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2",
                stand_in.url.as_str(),
            ),
            // Its claim gets a fifth of this: enough for moto on a busy machine.
            ("SEND_DEADLINE_MS", "4000"),
        ],
    );
    let url = crashing.url.clone();
    let first = tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .post(url)
            .header("x-api-key", KEY)
            .json(&json!({"phone_number": phone, "message": message}))
            .send()
            .await;
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !scan(&table).await.iter().any(|i| i.contains("in_flight")) {
        assert!(std::time::Instant::now() < deadline, "no claim appeared");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(crashing); // killed mid-send
    first.abort();
    let items = scan(&table).await;
    assert!(
        items.iter().any(|i| i.contains("in_flight")),
        "the claim outlives its instance: {items:?}"
    );

    // Another instance (SNS) waits out the claim's lease (the crashed one's 4 s deadline and
    // half a second). The crashed one may have sent the passcode before it died: the re-send
    // answers so, and sends nothing.
    let next = gateway(&table, &[]);
    let started = std::time::Instant::now();
    let (status, answer) = post(&next, phone, message).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (502, Some("delivery_unknown")),
        "{answer}"
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("may have been sent"),
        "{answer}"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "it waited for the lease to run out ({:?})",
        started.elapsed()
    );
    assert_eq!(sms_sent_to(phone).await.len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_country_and_an_over_limit_number_send_nothing() {
    let table = table().await;
    let policy = [
        ("BLOCKED_COUNTRIES", "KZ"),
        ("MAX_SMS_PER_NUMBER_PER_HOUR", "2"),
    ];
    let one = gateway(&table, &policy);
    let two = gateway(&table, &policy);

    // +7 701 is Kazakhstan (+7 alone would also be Russia).
    let kazakh = "+77012345678";
    let (status, refused) = post(&one, kazakh, "Your code is 404040").await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"], "country_not_allowed");
    assert!(refused["message"].as_str().unwrap().contains("KZ"));
    assert!(sms_sent_to(kazakh).await.is_empty());
    // Russia shares +7 and is not blocked.
    let russian = "+79123456789";
    assert_eq!(post(&one, russian, "Your code is 404041").await.0, 200);

    // Two SMS an hour for a number, counted across instances; the third is refused.
    let phone = unique_phone();
    assert_eq!(post(&one, &phone, "Your code is 500001").await.0, 200);
    assert_eq!(post(&two, &phone, "Your code is 500002").await.0, 200);
    for gateway in [&one, &two] {
        let (status, limited) = post(gateway, &phone, "Your code is 500003").await;
        assert_eq!(status, 429, "{limited}");
        assert_eq!(limited["error"], "rate_limited");
    }
    assert_eq!(sms_sent_to(&phone).await.len(), 2);
    // A re-send of an SMS that went out is still answered (not counted again).
    let (status, again) = post(&two, &phone, "Your code is 500001").await;
    assert_eq!((status, again["status"].as_str()), (200, Some("duplicate")));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_table_re_sends_to_one_process_are_answered_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = gateway_command(dir.path());
    command
        .env("GATEWAY_API_KEY", KEY)
        .env("OUTBOX_PATH", dir.path().join("outbox.jsonl"));
    let gateway = start(command, dir.path());
    let phone = unique_phone();
    let (a, b) = tokio::join!(
        post(&gateway, &phone, "Your code is 909090"),
        post(&gateway, &phone, "Your code is 909090")
    );
    let mut statuses = [a.1["status"].clone(), b.1["status"].clone()];
    statuses.sort_by_key(|s| s.to_string());
    assert_eq!(statuses, [json!("duplicate"), json!("sent")]);
    assert_eq!(a.1["message_id"], b.1["message_id"]);
    let outbox = std::fs::read_to_string(dir.path().join("outbox.jsonl")).unwrap();
    assert_eq!(outbox.lines().count(), 1);
}

/// Starts an SNS gateway against moto with `var` set, expects it to stop, and gives its stderr.
fn failed_start(var: (&str, &str)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = gateway_command(dir.path())
        .env("GATEWAY_API_KEY", KEY)
        .env("SMS_PROVIDER", "sns")
        .env(var.0, var.1)
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["serve", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_that_does_not_exist_stops_start_up() {
    let stderr = failed_start(("IDEMPOTENCY_TABLE", "no-such-table"));
    assert!(
        stderr.contains("IDEMPOTENCY_TABLE: the DynamoDB table no-such-table does not exist"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_forms_of_one_number_are_one_number_to_the_dedupe_and_the_limit() {
    let table = table().await;
    let one = gateway(&table, &[("MAX_SMS_PER_NUMBER_PER_HOUR", "1")]);
    let two = gateway(&table, &[("MAX_SMS_PER_NUMBER_PER_HOUR", "1")]);
    // A French mobile, and the same number with France's trunk 0 written after +33.
    let mobile = format!("+3361{:07}", std::process::id() % 10_000_000);
    let with_trunk = mobile.replacen("+33", "+330", 1);

    let (status, first) = post(&one, &mobile, "Your code is 330330").await;
    assert_eq!(status, 200, "{first}");
    // The same passcode to the other form, on another instance: Mosaic's re-send, not a new SMS.
    let (status, again) = post(&two, &with_trunk, "Your code is 330330").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["message_id"], first["message_id"]);
    // A new passcode to the other form: the number had its one SMS this hour.
    let (status, limited) = post(&two, &with_trunk, "Your code is 330331").await;
    assert_eq!(
        (status, limited["error"].as_str()),
        (429, Some("rate_limited"))
    );
    assert_eq!(sms_sent_to(&mobile).await.len(), 1);
    assert!(sms_sent_to(&with_trunk).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefix_over_its_share_is_blocked_across_instances() {
    let table = table().await;
    let vars = [("MAX_SMS_PER_PREFIX_PER_HOUR", "2")];
    let (one, two) = (gateway(&table, &vars), gateway(&table, &vars));
    // Three numbers of one range of 10,000 (they differ only in their last four digits).
    let [a, b, c] = [unique_phone(), unique_phone(), unique_phone()];
    assert_eq!(a[..a.len() - 4], c[..c.len() - 4]);

    assert_eq!(post(&one, &a, "Your code is 710001").await.0, 200);
    assert_eq!(post(&two, &b, "Your code is 710002").await.0, 200);
    for (gateway, phone, message) in [
        (&one, &c, "Your code is 710003"),
        (&two, &a, "Your code is 710004"),
    ] {
        let (status, refused) = post(gateway, phone, message).await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (429, Some("prefix_blocked"))
        );
    }
    assert!(sms_sent_to(&c).await.is_empty());
    assert_eq!(sms_sent_to(&a).await.len(), 1);
    // The table holds the block and the counters by hash only.
    let items = dynamodb()
        .await
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let dump = format!("{:?}", items.items());
    assert!(dump.contains("b#"), "a block mark: {dump}");
    for phone in [&a, &b, &c] {
        assert!(
            !dump.contains(&phone[1..phone.len() - 4]),
            "no prefix or number in clear"
        );
    }
    assert!(!dump.contains("Your code"), "no message in clear");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_country_over_its_cap_gets_nothing_across_instances() {
    let table = table().await;
    let vars = [("MAX_SMS_PER_COUNTRY_PER_HOUR", r#"{"*": 100, "LV": 1}"#)];
    let (one, two) = (gateway(&table, &vars), gateway(&table, &vars));
    let latvian = |n: u32| format!("+3712{n}{:06}", std::process::id() % 1_000_000);
    assert_eq!(post(&one, &latvian(0), "Your code is 371001").await.0, 200);
    let (status, refused) = post(&two, &latvian(1), "Your code is 371002").await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (429, Some("country_limit")),
        "{refused}"
    );
    assert!(refused["message"].as_str().unwrap().contains("LV"));
    assert!(sms_sent_to(&latvian(1)).await.is_empty());
    // Other countries count under "*".
    assert_eq!(
        post(&two, &unique_phone(), "Your code is 371003").await.0,
        200
    );
}

/// A gateway reading its keys from `secret` in moto, with a limit of one SMS per number, and
/// `env`.
fn gateway_with_secret(table: &str, secret: &str, env: &[(&str, &str)]) -> Gateway {
    let mut all = vec![
        ("GATEWAY_SECRET_ID", secret),
        ("MAX_SMS_PER_NUMBER_PER_HOUR", "1"),
    ];
    all.extend_from_slice(env);
    gateway(table, &all)
}

/// Where a test's gateway finds its fingerprint key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FingerprintIn {
    GatewaySecret,
    /// A secret of its own, named by `FINGERPRINT_SECRET_ID` (as the template creates it).
    OwnSecret,
    Nowhere,
}

async fn post_with_key(gateway: &Running, key: &str, phone: &str, message: &str) -> u16 {
    reqwest::Client::new()
        .post(&gateway.url)
        .header("x-api-key", key)
        .json(&json!({"phone_number": phone, "message": message}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_api_key_keeps_every_count_with_a_fingerprint_key() {
    let secrets = aws_sdk_secretsmanager::Client::new(&aws_config(&moto().endpoint).await);
    for (fingerprint, second_answer) in [
        (FingerprintIn::GatewaySecret, 429),
        (FingerprintIn::OwnSecret, 429),
        (FingerprintIn::Nowhere, 200),
    ] {
        let table = table().await;
        let name = format!("fingerprint-{}-{fingerprint:?}", std::process::id());
        let own_secret = format!("{name}-own");
        let value = |api_key: &str, previous: Option<&str>| {
            let mut value = json!({"api_key": api_key});
            if let Some(previous) = previous {
                value["previous_api_key"] = previous.into();
            }
            if fingerprint == FingerprintIn::GatewaySecret {
                value["fingerprint_key"] = "f1ngerpr1nt-0f-th1s-gateway".into();
            }
            value.to_string()
        };
        secrets
            .create_secret()
            .name(&name)
            .secret_string(value("key-one", None))
            .send()
            .await
            .unwrap();
        let mut env = vec![];
        if fingerprint == FingerprintIn::OwnSecret {
            secrets
                .create_secret()
                .name(&own_secret)
                .secret_string(json!({"fingerprint_key": "f1ngerpr1nt-0f-1ts-own"}).to_string())
                .send()
                .await
                .unwrap();
            env.push(("FINGERPRINT_SECRET_ID", own_secret.as_str()));
        }
        let gateway = gateway_with_secret(&table, &name, &env);
        let phone = unique_phone();
        assert_eq!(
            post_with_key(&gateway, "key-one", &phone, "Your code is 1").await,
            200
        );
        // The API key is rotated; an unknown key makes the gateway read the secret again.
        secrets
            .put_secret_value()
            .secret_id(&name)
            .secret_string(value("key-two", Some("key-one")))
            .send()
            .await
            .unwrap();
        let status = post_with_key(&gateway, "key-two", &phone, "Your code is 2").await;
        assert_eq!(status, second_answer, "fingerprint key in: {fingerprint:?}");
        let log = gateway.running.stop();
        assert_eq!(
            log.contains("no fingerprint_key"),
            fingerprint == FingerprintIn::Nowhere,
            "the start-up warning: {log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_fingerprint_secret_stops_start_up_with_one_line() {
    let stderr = failed_start(("FINGERPRINT_SECRET_ID", "no-such-fingerprint-secret"));
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("FINGERPRINT_SECRET_ID"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("refused"), "{stderr}");
}
