//! SNS failing in the ways that decide between "not sent" and "maybe sent": a publish is never
//! retried or failed over once it may have reached SNS, and the answer stays inside Mosaic's 3 s.

use crate::support::*;
use axum::http::StatusCode;
use mosaic_sms_gateway::adapters::providers::sns::client as sns_client;
use mosaic_sms_gateway::adapters::providers::sns::{Sns, SnsSettings};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// What the stand-in SNS does with a request once it has read it.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Never answers (SNS took the message and then stalled).
    Stall,
    /// Closes the connection without an answer.
    HangUp,
    /// Answers 200, as SNS does when it took the message, but without a `MessageId`.
    NoMessageId,
    /// Answers 200 with a body that is not XML at all: SNS answered, and may have taken it.
    Garbled,
}

/// A loopback server that reads requests and misbehaves; returns its address and a request count.
async fn bad_sns(misbehaviour: Misbehaviour) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 64 * 1024];
            let mut read = Vec::new();
            // Read the whole request: headers, then the body up to the end of the form.
            while !String::from_utf8_lossy(&read).contains("Version=") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read.extend_from_slice(&buf[..n]),
                }
            }
            if String::from_utf8_lossy(&read).contains("Action=Publish") {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            match misbehaviour {
                Misbehaviour::Stall => held.push(socket),
                Misbehaviour::HangUp => drop(socket),
                Misbehaviour::NoMessageId | Misbehaviour::Garbled => {
                    use tokio::io::AsyncWriteExt;
                    // SNS's Query protocol: XML, with a PublishResult that lacks its MessageId.
                    let body = match misbehaviour {
                        Misbehaviour::Garbled => "<PublishResponse><garbage",
                        _ => {
                            r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult></PublishResult><ResponseMetadata><RequestId>8d2f3b52-0000-4000-8000-000000000000</RequestId></ResponseMetadata></PublishResponse>"#
                        }
                    };
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    held.push(socket);
                }
            }
        }
    });
    (address, requests)
}

async fn gateway_to(endpoint: &str, fallback: &Recorder) -> axum::Router {
    let sns = Sns::new(
        sns_client(&aws_config(endpoint).await),
        SnsSettings::default(),
    );
    gateway(vec![Box::new(sns), Box::new(fallback.clone())])
}

#[tokio::test]
async fn a_stalled_publish_is_502_inside_the_budget_and_never_sent_twice() {
    let (endpoint, requests) = bad_sns(Misbehaviour::Stall).await;
    let fallback = Recorder::ok("fallback");
    let app = gateway_to(&endpoint, &fallback).await;
    let started = Instant::now();
    let (r, body) = call(
        &app,
        send(json!({"phone_number": "+14155550100", "message": "code 1"})),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], "delivery_unknown", "{body}");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "one publish (the hang-up test is the one that would see a retry: here the operation \
         timeout covers every attempt)"
    );
    assert_eq!(fallback.count(), 0, "no failover either");
    assert!(took < Duration::from_millis(2500), "answered in {took:?}");
}

#[tokio::test]
async fn a_connection_lost_after_the_publish_is_502_and_never_sent_twice() {
    let (endpoint, requests) = bad_sns(Misbehaviour::HangUp).await;
    let fallback = Recorder::ok("fallback");
    let app = gateway_to(&endpoint, &fallback).await;
    let (r, body) = call(
        &app,
        send(json!({"phone_number": "+14155550100", "message": "code 2"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], "delivery_unknown", "{body}");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    assert_eq!(fallback.count(), 0);
}

#[tokio::test]
async fn an_unreachable_sns_fails_over_to_the_next_provider() {
    // Nothing listens there: the connection is refused, so SNS certainly has not got the message.
    let closed = closed_endpoint();
    let fallback = Recorder::ok("fallback");
    let app = gateway_to(&closed, &fallback).await;
    let (r, body) = call(
        &app,
        send(json!({"phone_number": "+14155550100", "message": "code 3"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "{body}");
    assert_eq!(body["provider"], "fallback");
    assert_eq!(fallback.count(), 1);
}

#[tokio::test]
async fn a_publish_answered_200_without_a_message_id_may_have_sent_and_nothing_follows() {
    let (endpoint, requests) = bad_sns(Misbehaviour::NoMessageId).await;
    let fallback = Recorder::ok("fallback");
    let app = gateway_to(&endpoint, &fallback).await;
    let (r, body) = call(
        &app,
        send(json!({"phone_number": "+14155550100", "message": "code 4"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"], "delivery_unknown", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("without a message id"),
        "{body}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    assert_eq!(fallback.count(), 0, "SNS may have sent it: no second copy");
}

/// Found from outside: a 200 whose body the SDK could not parse was taken for an error SNS
/// answered, a certain non-send, and the passcode went out again through the next provider.
#[tokio::test]
async fn a_publish_answered_200_with_an_unreadable_body_may_have_sent_and_nothing_follows() {
    let (endpoint, requests) = bad_sns(Misbehaviour::Garbled).await;
    let fallback = Recorder::ok("fallback");
    let app = gateway_to(&endpoint, &fallback).await;
    let (r, body) = call(
        &app,
        send(json!({"phone_number": "+14155550100", "message": "code 5"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"], "delivery_unknown", "{body}");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    assert_eq!(fallback.count(), 0, "SNS may have sent it: no second copy");
}
