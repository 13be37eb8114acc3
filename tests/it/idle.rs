//! Pooled connections across quiet spells: a server that closes a connection once it has been idle
//! (here: it drops the connection when a second request arrives on it, as a server whose idle close
//! crossed our request does) must not turn the next passcode into a maybe-sent one. The pool closes
//! idle connections before such a server does (`app::POOL_IDLE_TIMEOUT`, shortened here).

use crate::support::far_deadline;
use mosaic_sms_gateway::adapters::net::{ExchangeError, HttpClient};
use mosaic_sms_gateway::adapters::providers::sns::{Sns, SnsSettings};
use mosaic_sms_gateway::domain::outcome::ProviderError;
use mosaic_sms_gateway::domain::ports::SmsProvider;
use mosaic_sms_gateway::domain::sms::SmsRequest;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers the first request on each connection, keeping it open; drops it, unanswered, when
/// another request comes on it.
struct ClosesIdleConnections {
    url: String,
    connections: Arc<AtomicUsize>,
}

async fn closes_idle_connections(
    content_type: &'static str,
    body: &'static str,
) -> ClosesIdleConnections {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                read_request(&mut socket).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
                // The next request on this connection finds it closed by the server.
                read_request(&mut socket).await;
            });
        }
    });
    ClosesIdleConnections { url, connections }
}

/// Reads one request: its head, then as many body bytes as its content-length says.
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let Ok(n @ 1..) = socket.read(&mut buffer).await else {
            return;
        };
        seen.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&seen).to_lowercase();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            if seen.len() >= head_end + 4 + length {
                return;
            }
        }
    }
}

const QUIET_SPELL: Duration = Duration::from_millis(400);
const SHORT_IDLE: Duration = Duration::from_millis(150);

fn get(url: &str) -> http::Request<aws_smithy_types::body::SdkBody> {
    http::Request::get(url)
        .body(aws_smithy_types::body::SdkBody::empty())
        .unwrap()
}

#[tokio::test]
async fn the_providers_http_client_opens_a_fresh_connection_after_a_quiet_spell() {
    let server = closes_idle_connections("application/json", "{}").await;
    let client = HttpClient::with_idle_timeout(SHORT_IDLE);
    let timeout = Duration::from_secs(2);
    assert_eq!(
        client
            .exchange(get(&server.url), timeout)
            .await
            .unwrap()
            .status,
        200
    );
    // The quiet spell is the condition under test, not a wait for the server.
    tokio::time::sleep(QUIET_SPELL).await;
    assert_eq!(
        client
            .exchange(get(&server.url), timeout)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);

    // What the idle timeout avoids: the pooled connection reused, the request written into it,
    // no answer, and so a passcode that may have been sent.
    let server = closes_idle_connections("application/json", "{}").await;
    let keeps_connections = HttpClient::with_idle_timeout(Duration::from_secs(90));
    keeps_connections
        .exchange(get(&server.url), timeout)
        .await
        .unwrap();
    tokio::time::sleep(QUIET_SPELL).await;
    let err = keeps_connections
        .exchange(get(&server.url), timeout)
        .await
        .unwrap_err();
    assert!(matches!(err, ExchangeError::Failed(_)), "{err:?}");
}

const PUBLISHED: &str = r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>"#;

async fn sns_with_idle_timeout(endpoint: &str, idle: Duration) -> Sns {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(mosaic_sms_gateway::adapters::aws::sdk_http_client(
            &HttpClient::with_idle_timeout(idle),
        ))
        .region("us-east-1")
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    Sns::new(
        mosaic_sms_gateway::adapters::providers::sns::client(&sdk),
        SnsSettings::default(),
    )
}

fn sms() -> SmsRequest {
    SmsRequest::from_json(&serde_json::json!({"phone_number": "+14155550100", "message": "code 1"}))
        .unwrap()
}

#[tokio::test]
async fn sns_opens_a_fresh_connection_after_a_quiet_spell() {
    let server = closes_idle_connections("text/xml", PUBLISHED).await;
    let sns = sns_with_idle_timeout(&server.url, SHORT_IDLE).await;
    assert_eq!(sns.send(&sms(), far_deadline()).await, Ok("m-1".to_owned()));
    tokio::time::sleep(QUIET_SPELL).await;
    assert_eq!(sns.send(&sms(), far_deadline()).await, Ok("m-1".to_owned()));
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);

    let server = closes_idle_connections("text/xml", PUBLISHED).await;
    let keeps_connections = sns_with_idle_timeout(&server.url, Duration::from_secs(90)).await;
    keeps_connections
        .send(&sms(), far_deadline())
        .await
        .unwrap();
    tokio::time::sleep(QUIET_SPELL).await;
    let err = keeps_connections
        .send(&sms(), far_deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Indeterminate { .. }),
        "{err:?}"
    );
}
