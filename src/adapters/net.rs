//! The network as every adapter shares it: the connect and idle timeouts, what a failed
//! connection says about a send (for the AWS clients and Twilio alike), and the one HTTP client:
//! the SDK's own hyper + rustls (aws-lc) connector, so the binary carries one HTTP and TLS stack.
//! One [`HttpClient`] is built at start-up and serves the AWS SDK clients (the `aws` adapter
//! wraps its connector) and the calls that are not SDK calls (Twilio, Mosaic, a gateway under
//! `check`): one TLS configuration, its root certificates parsed once, and one pool.

use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::Request as HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::time::Duration;

/// How long any client waits for a TCP (and TLS) connection to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(700);
/// Pooled connections idle this long are closed by us, before the server's own idle close (often
/// 20 s or more) can leave a dead one in the pool. A Lambda instance is frozen between bursts; the
/// monotonic clock keeps counting, so after a long gap the pool opens a fresh connection instead of
/// writing a passcode into one the server already closed, where a lost answer would leave it
/// maybe-sent. hyper retries by itself only a request that never left.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// A first answer from a provider over a connection that is already open, on a normal day.
pub const FIRST_ANSWER: Duration = Duration::from_millis(300);

/// The least time a network provider is started with: long enough to open a connection (the
/// connect timeout) and read a first answer.
pub const MIN_SEND_TIME: Duration = CONNECT_TIMEOUT.saturating_add(FIRST_ANSWER);

/// Whether the request certainly never left: the connection could not be made (refused, timed
/// out while connecting, no DNS answer, a failed TLS handshake). The connector reports those as
/// connect errors before any byte of the request is written. Anything else (a reset, a connection
/// closed mid-answer, a read timeout) may come after the provider took the message.
pub fn never_connected(connector: &ConnectorError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(connector);
    while let Some(err) = source {
        if let Some(client) = err.downcast_ref::<hyper_util::client::legacy::Error>()
            && client.is_connect()
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// The longest answer read: no provider, AWS or Mosaic answer comes near it.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Cheap to clone: the clones share the connector, its TLS configuration and its pool.
#[derive(Clone, Debug)]
pub struct HttpClient {
    connector: SharedHttpConnector,
}

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why an exchange gave no whole answer, in the terms that decide whether the request may have
/// been acted on.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// No answer in time: the request may have been acted on.
    #[error("no answer within {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// No connection was made (refused, connect timeout, DNS, TLS handshake): nothing was sent.
    #[error("could not connect: {detail}")]
    NotConnected {
        detail: String,
        /// The TCP connection opened, and the TLS handshake failed (a certificate, a server that
        /// does not speak TLS).
        tls: bool,
    },
    /// The connection failed after the request may have been written.
    #[error("the connection failed: {0}")]
    Failed(String),
    /// The status came, the body did not.
    #[error("the answer (HTTP {status}) could not be read: {detail}")]
    UnreadableBody { status: u16, detail: String },
}

impl ExchangeError {
    /// Whether the request certainly never reached the server.
    pub fn never_sent(&self) -> bool {
        matches!(self, Self::NotConnected { .. })
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// Built once at start-up; it keeps a pool of open connections for [`POOL_IDLE_TIMEOUT`].
    pub fn new() -> Self {
        Self::with_idle_timeout(POOL_IDLE_TIMEOUT)
    }

    /// As [`HttpClient::new`], closing pooled connections idle for `idle_timeout`.
    pub fn with_idle_timeout(idle_timeout: Duration) -> Self {
        let connector = Connector::builder()
            .connector_settings(
                HttpConnectorSettings::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            .pool_idle_timeout(idle_timeout)
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .build();
        Self {
            connector: SharedHttpConnector::new(connector),
        }
    }

    /// The connector, for the AWS SDK clients to share.
    pub fn connector(&self) -> SharedHttpConnector {
        self.connector.clone()
    }

    /// Sends `request` and reads the whole answer, all within `timeout`. Never retried here.
    pub async fn exchange(
        &self,
        request: http::Request<SdkBody>,
        timeout: Duration,
    ) -> Result<Answer, ExchangeError> {
        let exchange = async {
            let request =
                HttpRequest::try_from(request).map_err(|e| ExchangeError::NotConnected {
                    detail: format!("invalid request: {e}"),
                    tls: false,
                })?;
            let response = self.connector.call(request).await.map_err(classify)?;
            let status = response.status().as_u16();
            let content_type = response.headers().get("content-type").map(str::to_owned);
            // Read up to MAX_ANSWER_BYTES: a body without end (a broken or hostile server) would
            // otherwise fill the memory until the timeout.
            let mut stream = ByteStream::new(response.into_body());
            let mut body = Vec::new();
            while let Some(chunk) =
                stream
                    .try_next()
                    .await
                    .map_err(|e| ExchangeError::UnreadableBody {
                        status,
                        detail: DisplayErrorContext(e).to_string(),
                    })?
            {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(ExchangeError::UnreadableBody {
                        status,
                        detail: format!("it is longer than {MAX_ANSWER_BYTES} bytes"),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Answer {
                status,
                content_type,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(ExchangeError::TimedOut(timeout)))
    }
}

fn classify(err: ConnectorError) -> ExchangeError {
    let detail = causes(&err);
    if never_connected(&err) {
        ExchangeError::NotConnected {
            detail,
            tls: tls_failed(&err),
        }
    } else {
        ExchangeError::Failed(detail)
    }
}

/// An error and its causes on one line, each said once: `io error: client error (Connect): tcp
/// connect error: Connection refused (os error 111)`.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = Some(err);
    while let Some(err) = source {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = err.source();
    }
    parts.join(": ").replace(['\n', '\r'], " ")
}

/// rustls reports a failed handshake as an I/O error of kind `InvalidData`, which the connector
/// wraps in I/O errors of its own (whose `source` skips it, so their inner errors are read too).
fn tls_failed(err: &ConnectorError) -> bool {
    fn invalid_data(err: &(dyn std::error::Error + 'static)) -> bool {
        let Some(io) = err.downcast_ref::<std::io::Error>() else {
            return false;
        };
        io.kind() == std::io::ErrorKind::InvalidData
            || io.get_ref().is_some_and(|inner| invalid_data(inner))
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = source {
        if invalid_data(err) {
            return true;
        }
        source = err.source();
    }
    false
}
