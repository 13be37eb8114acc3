//! Start-up: turns the configuration into the shared state (AWS clients, keys, providers) once, and
//! runs the Router locally.

use crate::config::{Config, KeyConfig};
use crate::gateway::Gateway;
use crate::http::{AppState, router};
use crate::metrics::Metrics;
use crate::providers::{BuildContext, Dispatcher};
use crate::secrets::{ApiKeys, SecretKeys};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::sync::Arc;
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
    /// The idempotency table cannot work (it does not exist).
    #[error("{0}")]
    Idempotency(String),
    /// A provider's own start-up check failed (credentials missing from the secret, ...).
    #[error("{provider}: {message}")]
    Provider {
        provider: &'static str,
        message: String,
    },
}

// Mosaic waits 3 s for an answer. In the worst case one request re-reads the secret (1 s) and
// then sends; the send deadline (SEND_DEADLINE_MS) cuts the rest.
const SECRETS_OPERATION_TIMEOUT: Duration = Duration::from_millis(1000);
const SECRETS_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long any client waits for a TCP (and TLS) connection to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(700);
/// Pooled connections idle this long are closed by us, before the server's own idle close (often
/// 20 s or more) can leave a dead one in the pool. A Lambda instance is frozen between bursts; the
/// monotonic clock keeps counting, so after a long gap the pool opens a fresh connection instead of
/// writing a passcode into one the server already closed, where a lost answer would leave it
/// maybe-sent. hyper retries by itself only a request that never left.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// The AWS SDK's HTTP client (its own hyper + rustls), with [`POOL_IDLE_TIMEOUT`].
pub fn aws_http_client(
    idle_timeout: Duration,
) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .pool_idle_timeout(idle_timeout)
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https()
}

/// Loads the AWS configuration (region, credentials, `AWS_ENDPOINT_URL`) from the environment.
pub async fn load_aws_config() -> Result<SdkConfig, StartupError> {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(aws_http_client(POOL_IDLE_TIMEOUT))
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
    let keys = Arc::new(match &config.keys {
        KeyConfig::SecretsManager {
            secret_id,
            ttl,
            stale_max,
        } => {
            let sdk = sdk.ok_or(StartupError::NoRegion)?;
            ApiKeys::SecretsManager(
                SecretKeys::new(secrets_client(sdk), secret_id.clone(), *ttl)
                    .with_stale_keys_max(*stale_max),
            )
        }
        KeyConfig::Fixed(key) | KeyConfig::Generated(key) => {
            ApiKeys::Fixed(crate::auth::KeySet::single(key.clone()))
        }
    });
    let context = BuildContext {
        aws: sdk,
        secret: &keys,
    };
    let providers = config
        .providers
        .iter()
        .map(|setup| setup.build(&context))
        .collect::<Result<Vec<_>, _>>()?;
    check_deadline(config, providers.first().map(|p| p.as_ref()))?;
    let idempotency = crate::idempotency::Idempotency::from_settings(
        &config.idempotency,
        sdk,
        config.send_deadline,
    )
    .with_metrics(metrics.clone());
    let gateway = Gateway::new(Dispatcher::new(providers), config.send_deadline, metrics)
        .with_countries(config.countries.clone(), config.senders_by_country)
        .with_idempotency(idempotency);
    Ok(AppState::from_parts(keys, gateway))
}

/// `SEND_DEADLINE_MS` must leave the first provider its minimum time to send even when the
/// idempotency table's calls take all the time they are given (a fifth of the deadline before the
/// send, a tenth after it); otherwise every send would fail, or be cut after its request left.
fn check_deadline(
    config: &Config,
    first: Option<&dyn crate::providers::SmsProvider>,
) -> Result<(), StartupError> {
    let Some(first) = first else {
        return Ok(());
    };
    let deadline = config.send_deadline;
    let table = config.idempotency.table.is_some();
    let budget = crate::idempotency::Budget::of(deadline);
    let reserved = if table {
        budget.before_send.saturating_add(budget.after_send)
    } else {
        Duration::ZERO
    };
    let needs = first.min_send_time();
    if deadline.saturating_sub(reserved) >= needs {
        return Ok(());
    }
    let least_ms = if table {
        (needs.as_millis() * 10).div_ceil(7)
    } else {
        needs.as_millis()
    };
    Err(StartupError::Config(crate::config::ConfigError::invalid(
        "SEND_DEADLINE_MS",
        format!(
            "is {} ms, which leaves {} less than the {} ms it needs to send{}: set at least {least_ms}",
            deadline.as_millis(),
            first.name(),
            needs.as_millis(),
            if table {
                " once the idempotency table's calls have had their share"
            } else {
                ""
            },
        ),
    )))
}

/// What start-up does once the state exists, in Lambda during init: reads the secret (which also
/// opens the TLS connection) and lets each provider check itself and open its connection, so the
/// first passcode pays for neither. The idempotency table's check and the providers that need
/// nothing from the secret start during the secret read, the others after it. Fails only on what
/// will not heal by itself.
pub async fn start(state: &AppState) -> Result<(), StartupError> {
    let dispatcher = state.dispatcher();
    let gateway = async {
        state
            .gateway()
            .start()
            .await
            .map_err(StartupError::Idempotency)
    };
    let ((), gateway, independent) =
        tokio::join!(state.keys().warm_up(), gateway, dispatcher.start(false));
    gateway?;
    independent?;
    dispatcher.start(true).await
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
