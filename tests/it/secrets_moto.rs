//! API keys read from Secrets Manager (moto on loopback, through the real SDK client).

use crate::support::*;
use axum::http::StatusCode;
use mosaic_sms_gateway::adapters::aws::secrets_client;
use mosaic_sms_gateway::adapters::secrets::{ApiKeys, SecretKeys};
use mosaic_sms_gateway::entry::http::router;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn unique_name() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "mosaic/api-key-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new secret holding `value`: the gateway's own client to read it, and its ARN.
async fn create_secret(value: &str) -> (aws_sdk_secretsmanager::Client, String) {
    let client = secrets_client(&aws_config(&moto().endpoint).await);
    let created = secrets_admin()
        .await
        .create_secret()
        .name(unique_name())
        .secret_string(value)
        .send()
        .await
        .unwrap();
    (client, created.arn().unwrap().to_owned())
}

fn gateway_with(keys: ApiKeys, recorder: &Recorder) -> axum::Router {
    router(with_stand_ins(Some(keys), vec![Box::new(recorder.clone())]))
}

#[tokio::test]
async fn the_key_is_read_from_the_secret() {
    let (client, arn) = create_secret(r#"{"api_key":"from-secrets-manager"}"#).await;
    let keys = ApiKeys::SecretsManager(SecretKeys::new(client, arn, Duration::from_secs(300)));
    keys.warm_up().await;
    let recorder = Recorder::ok("fake");
    let app = gateway_with(keys, &recorder);
    let (r, body) = call(&app, challenge(Some("from-secrets-manager"), Some("v-1"))).await;
    assert_eq!(
        (r.status(), body["key"].as_str()),
        (StatusCode::OK, Some("v-1"))
    );
    let (r, _) = call(&app, challenge(Some(KEY), Some("v-1"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_plain_secret_value_is_the_key_and_a_name_works_as_id() {
    let client = secrets_client(&aws_config(&moto().endpoint).await);
    let name = unique_name();
    secrets_admin()
        .await
        .create_secret()
        .name(&name)
        .secret_string("plain-key-value")
        .send()
        .await
        .unwrap();
    let keys = ApiKeys::SecretsManager(SecretKeys::new(client, name, Duration::from_secs(300)));
    assert_eq!(keys.check(b"plain-key-value").await, Ok(true));
}

#[tokio::test]
async fn a_rotation_is_picked_up_and_the_previous_key_still_works() {
    let (client, arn) = create_secret(r#"{"api_key":"key-one"}"#).await;
    let keys = ApiKeys::SecretsManager(SecretKeys::with_min_refresh(
        client.clone(),
        arn.clone(),
        Duration::from_secs(300),
        Duration::ZERO,
    ));
    keys.warm_up().await;
    let recorder = Recorder::ok("fake");
    let app = gateway_with(keys, &recorder);
    assert_eq!(
        call(&app, challenge(Some("key-two"), Some("v")))
            .await
            .0
            .status(),
        StatusCode::UNAUTHORIZED
    );

    secrets_admin()
        .await
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(r#"{"api_key":"key-two","previous_api_key":"key-one"}"#)
        .send()
        .await
        .unwrap();
    let (r, body) = call(
        &app,
        send(serde_json::json!({"phone_number": "+14155550100", "message": "code 1"})),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the test key was never valid: {body}"
    );
    assert_eq!(
        call(&app, challenge(Some("key-two"), Some("v")))
            .await
            .0
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&app, challenge(Some("key-one"), Some("v")))
            .await
            .0
            .status(),
        StatusCode::OK
    );
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn an_unreachable_secrets_manager_gives_503_and_nothing_is_sent() {
    // A port that nothing listens on: connections are refused at once.
    let closed = closed_endpoint();
    let client = secrets_client(&aws_config(&closed).await);
    let keys = ApiKeys::SecretsManager(SecretKeys::new(
        client,
        "mosaic/api-key".into(),
        Duration::from_secs(300),
    ));
    keys.warm_up().await;
    let recorder = Recorder::ok("fake");
    let app = gateway_with(keys, &recorder);
    for _ in 0..2 {
        let (r, body) = call(
            &app,
            send(serde_json::json!({"phone_number": "+14155550100", "message": "code 1"})),
        )
        .await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"], "keys_unavailable");
    }
    let (r, _) = call(&app, challenge(Some(KEY), Some("v"))).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn deleting_the_secret_stops_its_key_on_warm_instances() {
    let (client, arn) = create_secret(r#"{"api_key":"leaked-key"}"#).await;
    // Every request reads the secret again, as one does once the TTL is over.
    let keys = ApiKeys::SecretsManager(SecretKeys::with_min_refresh(
        client.clone(),
        arn.clone(),
        Duration::ZERO,
        Duration::ZERO,
    ));
    keys.warm_up().await;
    let recorder = Recorder::ok("fake");
    let app = gateway_with(keys, &recorder);
    let sms = || send(serde_json::json!({"phone_number": "+14155550100", "message": "code 1"}));
    let leaked = || {
        let mut request = sms();
        request
            .headers_mut()
            .insert("x-api-key", "leaked-key".parse().unwrap());
        request
    };
    assert_eq!(call(&app, leaked()).await.0.status(), StatusCode::OK);

    secrets_admin()
        .await
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let (response, body) = call(&app, leaked()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "keys_unavailable");
    assert_eq!(
        recorder.count(),
        1,
        "nothing sent with the deleted secret's key"
    );
}
