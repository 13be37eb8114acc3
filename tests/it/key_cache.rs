//! The secret cache's timing rules, against canned Secrets Manager answers (aws-smithy-mocks) and
//! tokio's paused clock: TTL, re-reads on unknown keys at most every 30 s, 503 and recovery.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};
use aws_sdk_secretsmanager::types::error::InternalServiceError;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use mosaic_sms_gateway::adapters::secrets::{
    ApiKeys, KeysUnavailable, MIN_REFRESH_INTERVAL, NO_KEYS_RETRY_INTERVAL, SecretKeys,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(300);

fn value(secret: &'static str) -> impl Fn() -> GetSecretValueOutput + Send + Sync {
    move || {
        GetSecretValueOutput::builder()
            .secret_string(secret)
            .build()
    }
}

fn keys(rule: &Rule) -> ApiKeys {
    let client: Client = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, [rule], |c| {
        c.retry_config(RetryConfig::disabled())
    });
    ApiKeys::SecretsManager(SecretKeys::new(client, "mosaic/api-key".into(), TTL))
}

/// The secret was deleted: a permanent failure.
fn deleted() -> GetSecretValueError {
    use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
    GetSecretValueError::ResourceNotFoundException(
        ResourceNotFoundException::builder()
            .message("deleted")
            .build(),
    )
}

fn unavailable() -> GetSecretValueError {
    GetSecretValueError::InternalServiceError(
        InternalServiceError::builder().message("down").build(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_cached_secret_is_read_once_per_ttl() {
    let rule = mock!(Client::get_secret_value)
        .match_requests(|r| r.secret_id() == Some("mosaic/api-key"))
        .sequence()
        .output(value("key-1"))
        .repeatedly()
        .build();
    let keys = keys(&rule);
    keys.warm_up().await;
    for _ in 0..50 {
        assert_eq!(keys.check(b"key-1").await, Ok(true));
    }
    assert_eq!(rule.num_calls(), 1);
    tokio::time::advance(TTL).await;
    assert_eq!(keys.check(b"key-1").await, Ok(true));
    assert_eq!(rule.num_calls(), 2, "an expired secret is read again");
}

#[tokio::test(start_paused = true)]
async fn a_rotated_key_works_at_once_but_bad_keys_cannot_hammer_secrets_manager() {
    let rule = mock!(Client::get_secret_value)
        .sequence()
        .output(value("key-1"))
        .output(value(r#"{"api_key":"key-2","previous_api_key":"key-1"}"#))
        .output(value(r#"{"api_key":"key-3","previous_api_key":"key-2"}"#))
        .build();
    let keys = keys(&rule);
    keys.warm_up().await;

    // The secret was rotated after start-up: the new key triggers one re-read and is accepted.
    tokio::time::advance(MIN_REFRESH_INTERVAL).await;
    assert_eq!(keys.check(b"key-2").await, Ok(true));
    assert_eq!(
        keys.check(b"key-1").await,
        Ok(true),
        "the previous key still works"
    );
    assert_eq!(rule.num_calls(), 2);

    // A flood of wrong keys right after: no more reads for 30 s.
    for _ in 0..100 {
        assert_eq!(keys.check(b"wrong").await, Ok(false));
    }
    assert_eq!(rule.num_calls(), 2);
    tokio::time::advance(MIN_REFRESH_INTERVAL - Duration::from_secs(1)).await;
    assert_eq!(
        keys.check(b"key-3").await,
        Ok(false),
        "too soon to read again"
    );
    assert_eq!(rule.num_calls(), 2);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(keys.check(b"key-3").await, Ok(true));
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn unreadable_secrets_give_unavailable_and_a_request_a_second_later_tries_again() {
    let rule = mock!(Client::get_secret_value)
        .sequence()
        .error(unavailable)
        .times(2)
        .output(value("key-1"))
        .build();
    let keys = keys(&rule);
    keys.warm_up().await; // fails: no panic, no keys
    for _ in 0..50 {
        assert_eq!(keys.check(b"key-1").await, Err(KeysUnavailable));
    }
    assert_eq!(
        rule.num_calls(),
        1,
        "a flood of requests is not a flood of reads"
    );
    tokio::time::advance(NO_KEYS_RETRY_INTERVAL).await;
    assert_eq!(keys.check(b"key-1").await, Err(KeysUnavailable));
    assert_eq!(rule.num_calls(), 2, "read again a second later, and failed");
    tokio::time::advance(NO_KEYS_RETRY_INTERVAL).await;
    assert_eq!(keys.check(b"key-1").await, Ok(true), "recovers");
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn after_a_permanent_failure_unauthenticated_requests_cannot_hammer_secrets_manager() {
    let rule = mock!(Client::get_secret_value)
        .sequence()
        .output(value("key-1"))
        .error(deleted)
        .repeatedly()
        .build();
    let keys = keys(&rule);
    keys.warm_up().await;
    tokio::time::advance(TTL).await;
    // The expired secret is read again and found deleted: the cached keys are dropped.
    assert_eq!(keys.check(b"key-1").await, Err(KeysUnavailable));
    assert_eq!(rule.num_calls(), 2);
    // Then any number of requests, with any key, makes no read until the interval is over.
    for i in 0..200 {
        let key = format!("guess-{i}");
        assert_eq!(keys.check(key.as_bytes()).await, Err(KeysUnavailable));
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    // 20 s of requests: still the one read.
    assert_eq!(rule.num_calls(), 2);
    tokio::time::advance(MIN_REFRESH_INTERVAL).await;
    assert_eq!(keys.check(b"key-1").await, Err(KeysUnavailable));
    assert_eq!(rule.num_calls(), 3, "one read per interval");
}

#[tokio::test(start_paused = true)]
async fn cached_keys_keep_working_while_secrets_manager_is_down() {
    let rule = mock!(Client::get_secret_value)
        .sequence()
        .output(value("key-1"))
        .error(unavailable)
        .repeatedly()
        .build();
    let keys = keys(&rule);
    keys.warm_up().await;
    tokio::time::advance(TTL).await;
    assert_eq!(keys.check(b"key-1").await, Ok(true));
    assert_eq!(
        rule.num_calls(),
        2,
        "the expired secret was read again, and failed"
    );
    for _ in 0..20 {
        assert_eq!(keys.check(b"key-1").await, Ok(true));
    }
    assert_eq!(rule.num_calls(), 2, "failed re-reads are spaced out too");
}

#[tokio::test(start_paused = true)]
async fn a_secret_without_an_api_key_is_unavailable_not_open() {
    let rule = mock!(Client::get_secret_value)
        .sequence()
        .output(value(r#"{"apikey":"typo"}"#))
        .repeatedly()
        .build();
    let keys = keys(&rule);
    keys.warm_up().await;
    assert_eq!(keys.check(b"typo").await, Err(KeysUnavailable));
    assert_eq!(keys.check(b"").await, Err(KeysUnavailable));
}

/// A Secrets Manager stand-in on loopback. The first read is answered at once with `key-1` when
/// `first_succeeds`; every other read is held until released, then answered `key-1` or, without
/// `first_succeeds`, refused (no such secret). Counts the reads.
async fn held_secrets_manager(
    first_succeeds: bool,
) -> (String, Arc<AtomicUsize>, Arc<tokio::sync::Notify>) {
    use axum::http::{HeaderMap, StatusCode};
    let reads = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let (counter, gate) = (reads.clone(), release.clone());
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let (counter, gate) = (counter.clone(), gate.clone());
        async move {
            let target = headers.get("x-amz-target").map(|v| v.to_str().unwrap_or(""));
            if target != Some("secretsmanager.GetSecretValue") {
                return (StatusCode::BAD_REQUEST, [("content-type", "application/x-amz-json-1.1")], "{}".to_owned());
            }
            let n = counter.fetch_add(1, Ordering::SeqCst);
            if !(first_succeeds && n == 0) {
                gate.notified().await;
            }
            if first_succeeds {
                let body = r#"{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:gw-AbCdEf","Name":"gw","SecretString":"key-1","VersionId":"v1"}"#;
                (StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], body.to_owned())
            } else {
                let body = r#"{"__type":"ResourceNotFoundException","message":"no such secret"}"#;
                (StatusCode::BAD_REQUEST, [("content-type", "application/x-amz-json-1.1")], body.to_owned())
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (endpoint, reads, release)
}

/// A real Secrets Manager client for `endpoint`, without the gateway's short timeouts and retry:
/// these tests hold answers on purpose, and a slow machine must not turn that into a second read.
async fn patient_client(endpoint: &str) -> Client {
    use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
    let sdk = crate::support::aws_config(endpoint).await;
    let config = aws_sdk_secretsmanager::config::Builder::from(&sdk)
        .timeout_config(TimeoutConfig::disabled())
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

async fn wait_for_reads(reads: &AtomicUsize, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reads.load(Ordering::SeqCst) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "read {n} never arrived"
        );
        tokio::task::yield_now().await;
    }
}

// One thread: the spawned checks run only when this test yields, so by the time the read is
// released every one of them is waiting for it.
#[tokio::test(flavor = "current_thread")]
async fn requests_waiting_for_a_failing_read_share_it_instead_of_each_reading_again() {
    let (endpoint, reads, release) = held_secrets_manager(false).await;
    let client = patient_client(&endpoint).await;
    let keys = Arc::new(ApiKeys::SecretsManager(SecretKeys::new(
        client,
        "gw".into(),
        TTL,
    )));

    let first = tokio::spawn({
        let keys = keys.clone();
        async move { keys.check(b"key-1").await }
    });
    wait_for_reads(&reads, 1).await;
    let waiting: Vec<_> = (0..19)
        .map(|_| {
            let keys = keys.clone();
            tokio::spawn(async move { keys.check(b"key-1").await })
        })
        .collect();
    for _ in 0..10 {
        tokio::task::yield_now().await; // each spawned check runs until it waits for the read
    }
    release.notify_one();
    assert_eq!(first.await.unwrap(), Err(KeysUnavailable));
    for check in waiting {
        assert_eq!(check.await.unwrap(), Err(KeysUnavailable));
    }
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "one read for twenty waiting requests"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_known_key_is_answered_while_an_unknown_one_waits_for_a_re_read() {
    let (endpoint, reads, release) = held_secrets_manager(true).await;
    let client = patient_client(&endpoint).await;
    let secret = SecretKeys::with_min_refresh(client, "gw".into(), TTL, Duration::ZERO);
    let keys = Arc::new(ApiKeys::SecretsManager(secret));
    keys.warm_up().await;

    // An unknown key makes the gateway read the secret again; that read is held.
    let unknown = tokio::spawn({
        let keys = keys.clone();
        async move { keys.check(b"not-a-key").await }
    });
    wait_for_reads(&reads, 2).await;
    let known = tokio::time::timeout(Duration::from_secs(10), keys.check(b"key-1")).await;
    assert_eq!(
        known,
        Ok(Ok(true)),
        "a known key must not wait for a re-read"
    );
    release.notify_one();
    assert_eq!(unknown.await.unwrap(), Ok(false));
}

fn keys_with_stale_max(rule: &Rule, stale_max: Duration) -> ApiKeys {
    let client: Client = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, [rule], |c| {
        c.retry_config(RetryConfig::disabled())
    });
    ApiKeys::SecretsManager(
        SecretKeys::new(client, "mosaic/api-key".into(), TTL).with_stale_keys_max(stale_max),
    )
}

#[tokio::test(start_paused = true)]
async fn a_deleted_denied_or_broken_secret_stops_the_cached_keys_at_once() {
    use aws_sdk_secretsmanager::error::ErrorMetadata;
    use aws_sdk_secretsmanager::types::error::DecryptionFailure;
    let first = || value(r#"{"api_key":"key-1","twilio_auth_token":"t"}"#);
    let deleted = mock!(Client::get_secret_value)
        .sequence()
        .output(first())
        .error(deleted)
        .repeatedly()
        .build();
    let denied = mock!(Client::get_secret_value)
        .sequence()
        .output(first())
        .error(|| {
            GetSecretValueError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized to perform secretsmanager:GetSecretValue")
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let undecryptable = mock!(Client::get_secret_value)
        .sequence()
        .output(first())
        .error(|| {
            GetSecretValueError::DecryptionFailure(
                DecryptionFailure::builder()
                    .message("KMS key disabled")
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let broken = mock!(Client::get_secret_value)
        .sequence()
        .output(first())
        .output(value(r#"{"apikey":"renamed"}"#))
        .repeatedly()
        .build();
    for rule in [deleted, denied, undecryptable, broken] {
        let keys = keys(&rule);
        keys.warm_up().await;
        assert_eq!(keys.check(b"key-1").await, Ok(true));
        assert!(keys.latest().is_some());
        tokio::time::advance(TTL).await;
        assert_eq!(
            keys.check(b"key-1").await,
            Err(KeysUnavailable),
            "a key whose secret was taken away no longer works"
        );
        assert!(keys.latest().is_none(), "nor do the provider credentials");
    }
}

#[tokio::test(start_paused = true)]
async fn a_passing_outage_serves_cached_keys_only_up_to_the_cap() {
    let rule = mock!(Client::get_secret_value)
        .sequence()
        .output(value("key-1"))
        .error(unavailable)
        .repeatedly()
        .build();
    let stale_max = Duration::from_secs(600);
    let keys = keys_with_stale_max(&rule, stale_max);
    keys.warm_up().await;
    tokio::time::advance(TTL).await;
    assert_eq!(keys.check(b"key-1").await, Ok(true), "served stale");
    tokio::time::advance(stale_max - Duration::from_secs(1)).await;
    assert_eq!(keys.check(b"key-1").await, Ok(true), "still inside the cap");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        keys.check(b"key-1").await,
        Err(KeysUnavailable),
        "past the cap: 503"
    );
}

#[tokio::test(start_paused = true)]
async fn refused_provider_credentials_re_read_the_secret_once_per_interval() {
    let rule = mock!(Client::get_secret_value)
        .sequence()
        .output(value(r#"{"api_key":"key-1","twilio_auth_token":"old"}"#))
        .output(value(r#"{"api_key":"key-1","twilio_auth_token":"new"}"#))
        .repeatedly()
        .build();
    let keys = keys(&rule);
    keys.warm_up().await;
    let used = keys.latest().unwrap();
    // Right after the start-up read: the refusal reads the secret at once, and finds the new token.
    let newer = keys.reread_after_refusal(Some(&used)).await.unwrap();
    assert_eq!(newer.field("twilio_auth_token"), Some("new"));
    assert_eq!(rule.num_calls(), 2);
    // A request that still used the old secret gets the newer one, without another read.
    let again = keys.reread_after_refusal(Some(&used)).await.unwrap();
    assert!(Arc::ptr_eq(&again, &newer));
    // Refusals of the newest credentials: no read for 30 s, and unknown keys share that limit.
    for _ in 0..20 {
        assert!(keys.reread_after_refusal(Some(&newer)).await.is_none());
    }
    assert_eq!(keys.check(b"unknown").await, Ok(false));
    assert_eq!(rule.num_calls(), 2);
    tokio::time::advance(MIN_REFRESH_INTERVAL).await;
    assert!(keys.reread_after_refusal(Some(&newer)).await.is_some());
    assert_eq!(rule.num_calls(), 3);
}
