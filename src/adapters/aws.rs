//! The AWS SDK as every adapter shares it: the configuration (region, credentials, endpoints) and
//! the one HTTP client ([`HttpClient`], shared with the calls that are not SDK calls), loaded once; the Secrets Manager client; the timeouts and no-retry policy
//! of clients that send SMS; and AWS errors into the three outcomes, in one place for every AWS
//! provider.

use crate::adapters::net::{CONNECT_TIMEOUT, HttpClient, never_connected};
use crate::domain::outcome::ProviderError;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::http::{
    HttpClient as SdkHttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response;
use std::time::Duration;

// Mosaic waits 3 s for an answer. In the worst case one request re-reads the secret (1 s) and
// then sends; the send deadline (SEND_DEADLINE_MS) cuts the rest.
/// An AWS error in one line, fit for a log or a command's answer: the service's code and message,
/// or what went wrong on the way. Never the SDK's debug form (`DisplayErrorContext`), which dumps
/// the raw response, headers and body: for Secrets Manager an answer the SDK could not read is the
/// secret's value itself.
pub fn error_line<E>(err: &SdkError<E, Response>) -> String
where
    E: ProvideErrorMetadata + std::error::Error,
{
    let chain = |mut source: Option<&(dyn std::error::Error + 'static)>| {
        let mut text = String::new();
        while let Some(e) = source {
            text.push_str(": ");
            text.push_str(&e.to_string());
            source = e.source();
        }
        text
    };
    let line = match err {
        SdkError::ServiceError(failure) => {
            let e = failure.err();
            let status = failure.raw().status().as_u16();
            match e.code() {
                Some(code) => format!(
                    "{code} (HTTP {status}): {}",
                    e.message().unwrap_or("no message")
                ),
                // No error code: an answer the SDK could not parse (a success it could not read
                // comes here too), whose body is not ours to print.
                None => format!("an answer that could not be read (HTTP {status})"),
            }
        }
        SdkError::ResponseError(failure) => format!(
            "an answer that could not be read (HTTP {})",
            failure.raw().status().as_u16()
        ),
        SdkError::TimeoutError(_) => "no answer in time".to_owned(),
        SdkError::DispatchFailure(failure) => format!(
            "the request did not complete{}",
            failure
                .as_connector_error()
                .map(|c| chain(Some(c)))
                .unwrap_or_default()
        ),
        SdkError::ConstructionFailure(_) => "the request could not be built".to_owned(),
        other => other.to_string(),
    };
    // One line of visible text, whatever the service wrote: no control characters (an escape
    // sequence would reach a terminal), no line separators, and not a page of it.
    const MOST: usize = 300;
    let mut clean: String = line
        .chars()
        .map(
            |c| match c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                true => ' ',
                false => c,
            },
        )
        .take(MOST)
        .collect();
    if line.chars().count() > MOST {
        clean.push_str("...");
    }
    clean
}

/// Something needs AWS and no region is configured.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no AWS region is configured: set AWS_REGION (Lambda sets it)")]
pub struct NoRegion;

const SECRETS_OPERATION_TIMEOUT: Duration = Duration::from_millis(1000);
const SECRETS_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
/// The SDK clients' HTTP client: `http`'s one connector for every client. The SDK's own client
/// would build a connector, with its own TLS configuration and root certificates, per distinct
/// connector setting, and a second one beside the non-SDK calls'. Every client here has the same
/// connector settings: [`CONNECT_TIMEOUT`] and no read timeout (the operation timeouts are the
/// SDK's, above the connector), which `http` was built with.
#[derive(Debug)]
struct OneConnector(SharedHttpConnector);

impl SdkHttpClient for OneConnector {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.clone()
    }
}

/// The SDK's HTTP client over `http`'s connector.
pub fn sdk_http_client(http: &HttpClient) -> SharedHttpClient {
    SharedHttpClient::new(OneConnector(http.connector()))
}

/// Loads the AWS configuration (region, credentials, `AWS_ENDPOINT_URL`) from the environment;
/// its clients call through `http`.
pub async fn load_aws_config(http: &HttpClient) -> Result<SdkConfig, NoRegion> {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(sdk_http_client(http))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    if sdk.region().is_none() {
        return Err(NoRegion);
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

/// An AWS send is cut short after this: Mosaic waits 3 s in all.
const SEND_OPERATION_TIMEOUT: Duration = Duration::from_millis(1500);

/// Timeouts for a client that sends SMS: the shared connect timeout, and the whole call cut at
/// 1.5 s (no read timeout, so a connector timeout is always the connect one).
pub fn send_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_timeout(SEND_OPERATION_TIMEOUT)
        .build()
}

/// No retries for a client that sends SMS: neither SNS's `Publish` nor `SendTextMessage` has an
/// idempotency token, and the SDK's retry rules also retry failures that can come after the
/// service took the message, so a retry could send the passcode twice.
pub fn send_retries() -> RetryConfig {
    RetryConfig::disabled()
}

/// How one AWS service's modelled errors read.
pub struct ServiceErrors<E> {
    /// The service's name in reasons: `SNS`, `End User Messaging`.
    pub service: &'static str,
    /// Errors that refuse the recipient for good (422; no failover).
    pub refused: fn(&E) -> bool,
    /// Errors that say our own set-up is wrong (a parameter or permission of ours): certainly not
    /// sent, the next provider may go, and someone must fix it.
    pub misconfigured: fn(&E) -> bool,
    /// Errors that are the service's own fault, which can come after it took the message.
    pub server_fault: fn(&E) -> bool,
}

impl<E> ServiceErrors<E>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    /// A refused parameter or number is final (422); a client error from the service (throttling,
    /// authorization) or a connection that never opened means the message was not taken (502, and
    /// the next provider may try); a server error, a timeout or a connection lost after the
    /// request went out means it may have been (502, and no other provider tries).
    pub fn classify(&self, err: SdkError<E, Response>) -> ProviderError {
        let service = self.service;
        if let SdkError::ServiceError(failure) = &err {
            let e = failure.err();
            let status = failure.raw().status();
            // A success the SDK could not read (no error code: nothing it could parse) is the
            // service's answer to a request it took: it may have sent.
            if status.is_success() || e.code().is_none() && !status.is_client_error() {
                return ProviderError::indeterminate(format!(
                    "{service} answered {}, unreadable: {}",
                    status.as_u16(),
                    error_line(&err)
                ));
            }
            // Modelled errors carry their text in the error itself, raw ones in the metadata.
            let detail = e
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| e.to_string());
            let reason = format!("{service} {}: {detail}", e.code().unwrap_or("error"));
            return if (self.refused)(e) {
                ProviderError::rejected(reason)
            } else if (self.misconfigured)(e) {
                ProviderError::misconfigured(reason)
            } else if (self.server_fault)(e) || status.is_server_error() {
                ProviderError::indeterminate(reason)
            } else {
                ProviderError::unavailable(reason)
            };
        }
        let detail = error_line(&err);
        match &err {
            SdkError::ConstructionFailure(_) => ProviderError::unavailable(format!(
                "{service} request could not be built: {detail}"
            )),
            SdkError::DispatchFailure(failure)
                if failure.as_connector_error().is_some_and(never_connected) =>
            {
                ProviderError::unavailable(format!("{service} could not be reached: {detail}"))
            }
            SdkError::TimeoutError(_) => {
                ProviderError::indeterminate(format!("{service} did not answer in time: {detail}"))
            }
            _ => ProviderError::indeterminate(format!("{service} connection failed: {detail}")),
        }
    }
}
