//! Start-up: turns the configuration into the shared state (AWS clients, keys, providers) once, and
//! runs the Router locally.

use crate::config::{Config, KeyConfig, ProviderConfig};
use crate::http::{AppState, router};
use crate::metrics::Metrics;
use crate::providers::outbox::Outbox;
use crate::providers::sns::Sns;
use crate::providers::{Dispatcher, SmsProvider};
use crate::secrets::{ApiKeys, SecretKeys};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// Why the gateway cannot start. Printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("no AWS region is configured: set AWS_REGION (Lambda sets it)")]
    NoRegion,
    #[error("cannot open the outbox {path}: {source}")]
    Outbox {
        path: String,
        source: std::io::Error,
    },
}

// Mosaic waits 3 s for an answer. In the worst case one request re-reads the secret (1 s) and
// then publishes (1.5 s), which leaves room for the rest under that.
const SECRETS_OPERATION_TIMEOUT: Duration = Duration::from_millis(1000);
const SECRETS_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
const SNS_OPERATION_TIMEOUT: Duration = Duration::from_millis(1500);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(700);

/// Loads the AWS configuration (region, credentials, `AWS_ENDPOINT_URL`) from the environment.
pub async fn load_aws_config() -> Result<SdkConfig, StartupError> {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    if sdk.region().is_none() {
        return Err(StartupError::NoRegion);
    }
    Ok(sdk)
}

/// The Secrets Manager client: reads are idempotent, so a slow attempt is cut short and retried.
pub fn secrets_client(sdk: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_timeout(SECRETS_OPERATION_TIMEOUT)
                .operation_attempt_timeout(SECRETS_ATTEMPT_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// The SNS client, with no retries: `Publish` has no idempotency token, and the SDK's retry rules
/// also retry failures that can come after SNS took the message (a lost or unreadable answer), so a
/// retry could send the passcode twice. A failed send is answered 502, and Mosaic sends again.
pub fn sns_client(sdk: &SdkConfig) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::config::Builder::from(sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_timeout(SNS_OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

/// Builds the shared state: AWS clients only when something uses AWS, each built once.
pub async fn build_state(config: &Config, metrics: Metrics) -> Result<AppState, StartupError> {
    let sdk = if config.uses_aws() {
        Some(load_aws_config().await?)
    } else {
        None
    };
    state_from(config, sdk.as_ref(), metrics)
}

/// Builds the shared state from an AWS configuration loaded elsewhere (`sdk` must be `Some` when
/// the configuration uses AWS).
pub fn state_from(
    config: &Config,
    sdk: Option<&SdkConfig>,
    metrics: Metrics,
) -> Result<AppState, StartupError> {
    let keys = match &config.keys {
        KeyConfig::SecretsManager { secret_id, ttl } => {
            let sdk = sdk.expect("a configuration that uses AWS comes with an AWS configuration");
            ApiKeys::SecretsManager(SecretKeys::new(
                secrets_client(sdk),
                secret_id.clone(),
                *ttl,
            ))
        }
        KeyConfig::Fixed(key) | KeyConfig::Generated(key) => {
            ApiKeys::Fixed(crate::auth::KeySet::single(key.clone()))
        }
    };
    let mut providers: Vec<Box<dyn SmsProvider>> = Vec::new();
    for provider in &config.providers {
        providers.push(match provider {
            ProviderConfig::Sns(settings) => {
                let sdk =
                    sdk.expect("a configuration that uses AWS comes with an AWS configuration");
                Box::new(Sns::new(sns_client(sdk), settings.clone()))
            }
            ProviderConfig::Outbox { path } => {
                Box::new(Outbox::open(path).map_err(|source| StartupError::Outbox {
                    path: path.display().to_string(),
                    source,
                })?)
            }
        });
    }
    Ok(AppState::with_metrics(
        keys,
        Dispatcher::new(providers),
        metrics,
    ))
}

/// Serves the gateway on `listener` until `shutdown` completes; requests under way finish first,
/// so a stop never cuts a send in half.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
