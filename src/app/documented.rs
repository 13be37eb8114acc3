//! docs/configuration.md lists every setting the gateway reads, and nothing else: the test reads
//! the configuration through a lookup that records each name asked for, under configurations that
//! switch every provider and option on (so every conditional read happens), adds the variables
//! read outside `Config` (below), and compares the set with the page's tables in both directions.

use super::config::Config;
use crate::settings::Host;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

const PAGE: &str = "docs/configuration.md";

/// Read with `std::env::var` outside `Config::from_lookup`: by main.rs (whether it runs in
/// Lambda), the telemetry set-up (log format, level, the function's name in the metrics) and
/// `register` (Mosaic's client credentials). `secret put --from-env` reads the capitalised names
/// of the secret's fields, which are the providers' own local settings, read here already.
const OUTSIDE_CONFIG: &[&str] = &[
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_LOG_FORMAT",
    "AWS_LAMBDA_LOG_LEVEL",
    "AWS_LAMBDA_FUNCTION_NAME",
    "RUST_LOG",
    "MOSAIC_CLIENT_ID",
    "MOSAIC_CLIENT_SECRET",
    // `configure` offers them as the region's default answer.
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
];

/// Listed on the page though no code of the gateway reads them: the AWS SDK does.
const READ_BY_THE_AWS_SDK: &[&str] = &["AWS_ENDPOINT_URL"];

const EVERY_PROVIDER: &str =
    "sns,twilio,end-user-messaging,salesforce-marketing-cloud,vonage,infobip,http,outbox";

const DESCRIPTION: &str = r#"{"name": "acme", "url": "https://sms.example.com/send",
    "headers": {"Authorization": "Bearer {secret.acme_token}"},
    "json": {"from": "{sender}", "to": "{to}", "text": "{text}"},
    "message_id": "/id", "sent": [200]}"#;

/// The same without the gateway secret, for local use.
const LOCAL_DESCRIPTION: &str = r#"{"name": "acme", "url": "https://sms.example.com/send",
    "json": {"from": "{sender}", "to": "{to}", "text": "{text}"},
    "message_id": "/id", "sent": [200]}"#;

/// Every provider and option on, with what each needs to start.
fn everything_on() -> Vec<(&'static str, String)> {
    let set = [
        ("GATEWAY_SECRET_ID", "mosaic/gateway"),
        ("SMS_PROVIDER", EVERY_PROVIDER),
        ("PROVIDERS_BY_COUNTRY", r#"{"IN": "twilio,sns"}"#),
        ("SNS_SENDER_ID", "Acme"),
        ("SNS_SMS_TYPE", "Transactional"),
        ("SENDER_ID_SOURCE", "config"),
        ("TWILIO_FROM", "+15005550006"),
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("TWILIO_AUTH_TOKEN", "token"),
        ("EUM_ORIGINATION_IDENTITY", "phone-0123456789abcdef"),
        ("EUM_CONFIGURATION_SET", "otp"),
        ("EUM_PROTECT_CONFIGURATION_ID", "protect-0123"),
        ("EUM_MAX_PRICE", "0.05"),
        ("SFMC_SUBDOMAIN", "mc0123456789abcdefghijklmnop"),
        ("SFMC_ACCOUNT_ID", "123456"),
        ("SFMC_DEFINITION_KEY", "otp"),
        ("VONAGE_FROM", "Acme"),
        ("VONAGE_SIGNATURE_METHOD", "sha512"),
        ("INFOBIP_BASE_URL", "xyz12.api.infobip.com"),
        ("INFOBIP_FROM", "Acme"),
        ("HTTP_PROVIDER", DESCRIPTION),
        ("HTTP_PROVIDER_FROM", "Acme"),
        ("RECEIPTS_BASE_URL", "https://gw.example.com"),
        ("IDEMPOTENCY_TABLE", "gateway"),
        ("MAX_SMS_PER_NUMBER_PER_HOUR", "10"),
        ("MAX_SMS_PER_PREFIX_PER_HOUR", "100"),
        ("MAX_SMS_PER_COUNTRY_PER_HOUR", r#"{"*": 1000, "LV": 20}"#),
        ("BLOCKED_COUNTRIES", "RU"),
        ("SENDER_BY_COUNTRY", r#"{"DE": "Acme"}"#),
        ("FINGERPRINT_SECRET_ID", "mosaic/fingerprint"),
        ("OTP_AUTOFILL_DOMAIN", "login.example.com"),
        ("ANDROID_APP_HASH", "FA+9qCX9VSu"),
        ("OTP_CODE_PATTERN", r"(\d{6})"),
    ];
    set.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// The names `Config::from_lookup` asks for under `vars`; it must accept them.
fn names_read(host: Host, vars: &[(&'static str, String)]) -> BTreeSet<String> {
    let vars: HashMap<&str, &str> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let asked = RefCell::new(BTreeSet::new());
    let config = Config::from_lookup(host, |name| {
        asked.borrow_mut().insert(name.to_owned());
        vars.get(name).map(|v| v.to_string())
    });
    if let Err(e) = config {
        panic!("the configuration that reads every setting must start: {e}");
    }
    asked.into_inner()
}

/// Every setting the gateway reads.
fn settings_read() -> BTreeSet<String> {
    let on = everything_on();
    let with = |changes: &[(&'static str, &str)]| {
        let mut vars: Vec<_> = on
            .iter()
            .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
            .cloned()
            .collect();
        vars.extend(
            changes
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (*k, v.to_string())),
        );
        vars
    };
    let mut read = names_read(Host::Lambda, &on);
    // Each provider's own receipt URL instead of the common base.
    read.extend(names_read(
        Host::Lambda,
        &with(&[
            ("RECEIPTS_BASE_URL", ""),
            (
                "TWILIO_STATUS_CALLBACK_URL",
                "https://gw.example.com/twilio/status",
            ),
            (
                "VONAGE_STATUS_CALLBACK_URL",
                "https://gw.example.com/vonage/status",
            ),
            (
                "INFOBIP_STATUS_CALLBACK_URL",
                "https://gw.example.com/infobip/status",
            ),
        ]),
    ));
    // A plain key and the fingerprint key in the environment (local use); the description in a
    // file; an allow-list rather than a block-list.
    let file = std::env::temp_dir().join(format!("documented-{}.json", std::process::id()));
    std::fs::write(&file, LOCAL_DESCRIPTION).unwrap();
    read.extend(names_read(
        Host::Local,
        &with(&[
            ("GATEWAY_SECRET_ID", ""),
            ("GATEWAY_API_KEY", "local-dev-key"),
            ("FINGERPRINT_SECRET_ID", ""),
            ("FINGERPRINT_KEY", "0123456789abcdef0123456789abcdef"),
            ("HTTP_PROVIDER", ""),
            ("HTTP_PROVIDER_FILE", file.to_str().unwrap()),
            ("BLOCKED_COUNTRIES", ""),
            ("ALLOWED_COUNTRIES", "US,CA"),
            ("SFMC_CLIENT_ID", "id"),
            ("SFMC_CLIENT_SECRET", "secret"),
            ("VONAGE_API_KEY", "abcd1234"),
            ("VONAGE_API_SECRET", "s3cret-value"),
            ("VONAGE_SIGNATURE_SECRET", "signature"),
            ("INFOBIP_API_KEY", "key"),
        ]),
    ));
    let _ = std::fs::remove_file(&file);
    read.extend(OUTSIDE_CONFIG.iter().map(|n| n.to_string()));
    read
}

/// The names in the first column of the page's tables: `NAME` in backticks, capitals only (the
/// template parameters' table names `CamelCase` parameters, whose variables are in the others).
fn names_listed(page: &str) -> BTreeSet<String> {
    let mut listed = BTreeSet::new();
    for row in page.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or("");
        for name in first.split('`').skip(1).step_by(2) {
            let setting = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if setting {
                listed.insert(name.to_owned());
            }
        }
    }
    listed
}

#[test]
fn the_configuration_page_lists_every_setting_the_gateway_reads_and_no_other() {
    let page = std::fs::read_to_string(format!("{}/{PAGE}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let listed = names_listed(&page);
    let read = settings_read();
    let missing: Vec<&String> = read.difference(&listed).collect();
    let extra: Vec<&String> = listed
        .difference(&read)
        .filter(|n| !READ_BY_THE_AWS_SDK.contains(&n.as_str()))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{PAGE} does not list settings the gateway reads: {missing:?}; \
         it lists settings no code reads: {extra:?}"
    );
}

/// The fixed list above holds every name main.rs and the entry points read themselves.
#[test]
fn every_variable_read_outside_the_configuration_is_in_the_fixed_list() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut files = vec![format!("{dir}/main.rs")];
    for entry in std::fs::read_dir(format!("{dir}/entry")).unwrap() {
        files.push(entry.unwrap().path().to_string_lossy().into_owned());
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for call in ["env::var(\"", "env::var_os(\"", "credential(\""] {
            for rest in text.split(call).skip(1) {
                let name = rest.split('"').next().unwrap();
                assert!(
                    OUTSIDE_CONFIG.contains(&name),
                    "{file} reads {name}, which OUTSIDE_CONFIG (and so the check of {PAGE}) misses"
                );
            }
        }
    }
}
