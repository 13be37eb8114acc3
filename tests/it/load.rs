//! 1,000 concurrent sends to `serve` with the outbox provider: every message lands exactly once.

use crate::support::*;
use std::collections::HashMap;
use tokio::task::JoinSet;

const SENDS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sends_each_land_once_in_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let outbox = path.display().to_string();
    let config = test_config(&[("SMS_PROVIDER", "outbox"), ("OUTBOX_PATH", &outbox)]);
    let state = app_state(&config, None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send-sms", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mosaic_sms_gateway::entry::http::serve(
        listener,
        state,
        async {
            let _ = stopped.await;
        },
    ));

    let client = reqwest::Client::new();
    let mut sends = JoinSet::new();
    for i in 0..SENDS {
        let (client, url) = (client.clone(), url.clone());
        sends.spawn(async move {
            let body = serde_json::json!({
                "phone_number": format!("+1415555{:04}", i),
                "sender_id": "Acme",
                "message": format!("Your code is {i:06}"),
            });
            let response = client
                .post(&url)
                .header("x-api-key", KEY)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let answer: serde_json::Value = response.json().await.unwrap();
            (i, answer["message_id"].as_str().unwrap().to_owned())
        });
    }
    let mut answered: HashMap<usize, String> = HashMap::new();
    while let Some(result) = sends.join_next().await {
        let (i, id) = result.unwrap();
        answered.insert(i, id);
    }
    // Graceful shutdown: every request has been answered, so every line has been written.
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("interleaved or torn line {l:?}: {e}"))
        })
        .collect();
    assert_eq!(lines.len(), SENDS);
    let mut seen = vec![0; SENDS];
    for line in &lines {
        let message = line["message"].as_str().unwrap();
        let i: usize = message.trim_start_matches("Your code is ").parse().unwrap();
        seen[i] += 1;
        assert_eq!(line["phone_number"], format!("+1415555{:04}", i));
        assert_eq!(line["sender_id"], "Acme");
        assert_eq!(
            line["message_id"],
            answered[&i].as_str(),
            "the answer and the outbox agree"
        );
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
    }
    assert!(seen.iter().all(|&n| n == 1), "every message exactly once");
}
