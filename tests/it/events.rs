//! Every `events/*.json` (API Gateway HTTP API v2, REST v1 and Function URL events) replayed through
//! `lambda_http` into the Router, answering the status its file name starts with.

use crate::support::*;
use tower::ServiceExt;

#[tokio::test]
async fn every_event_replays_to_its_stated_status() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/events");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "events/ holds at least a challenge, a send and a wrong key"
    );

    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let expected: u16 = name[..3]
            .parse()
            .unwrap_or_else(|_| panic!("{name}: no status prefix"));
        let recorder = Recorder::ok("fake");
        let app = gateway(vec![Box::new(recorder.clone())]);
        let request = lambda_http::request::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"));
        let method = request.method().clone();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{name}");
        let sends = if expected == 200 && method == "POST" {
            1
        } else {
            0
        };
        assert_eq!(recorder.count(), sends, "{name}: sends");
    }
}
