//! The gateway over HTTPS, as on Lambda: every outside call through TLS, the roots read from one
//! bundle (`SSL_CERT_FILE`, no `SSL_CERT_DIR`, as AL2023 keeps them), the certificate checked.
//! `tests/support/tls_proxy.py` terminates TLS in front of moto and the Twilio stand-in, with a
//! certificate from a throwaway CA that only its bundle trusts.

use crate::process::*;
use crate::support::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

/// The proxy: one `https://127.0.0.1:port` per backend, and the bundle that trusts it. Stops when
/// dropped.
struct TlsProxy {
    urls: Vec<String>,
    bundle: PathBuf,
    _dir: tempfile::TempDir,
    _child: Child,
    _stdin: ChildStdin,
}

fn tls_proxy(backends: &[&str]) -> TlsProxy {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("roots.pem");
    let ports = backends.iter().map(|url| url.rsplit(':').next().unwrap());
    let mut child = Command::new(test_python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/tls_proxy.py"
        ))
        .arg(&bundle)
        .args(ports)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let urls = backends
        .iter()
        .map(|_| {
            let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
            wait_for_port(port, std::time::Duration::from_secs(30));
            format!("https://127.0.0.1:{port}")
        })
        .collect();
    TlsProxy {
        urls,
        bundle,
        _dir: dir,
        _stdin: child.stdin.take().unwrap(),
        _child: child,
    }
}

/// A secret in moto holding the key and the Twilio stand-in's credentials; its name.
async fn twilio_secret(tag: &str) -> String {
    let name = format!("mosaic/tls-{tag}-{}", std::process::id());
    let value = serde_json::json!({
        "api_key": "tls-key",
        "twilio_account_sid": STAND_IN_TWILIO_ACCOUNT,
        "twilio_auth_token": STAND_IN_TWILIO_TOKEN,
    });
    aws_sdk_secretsmanager::Client::new(&aws_config(&moto().endpoint).await)
        .create_secret()
        .name(&name)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap();
    name
}

/// `serve` reading `secret` from moto's TLS front, trusting `roots`.
fn over_tls(dir: &std::path::Path, secret: &str, aws: &str, roots: &std::path::Path) -> Command {
    let mut command = gateway_command(dir);
    command
        .env_remove("SSL_CERT_DIR")
        .env("SSL_CERT_FILE", roots)
        .env("GATEWAY_SECRET_ID", secret)
        .env("AWS_ENDPOINT_URL", aws)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    command
}

#[tokio::test]
async fn the_secret_and_a_twilio_send_go_over_tls_with_the_roots_of_ssl_cert_file() {
    let stand_in = sns_stand_in();
    let proxy = tls_proxy(&[&moto().endpoint, &stand_in.url]);
    let secret = twilio_secret("send").await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = over_tls(dir.path(), &secret, &proxy.urls[0], &proxy.bundle);
    command
        .env("SMS_PROVIDER", "twilio")
        .env("TWILIO_FROM", "+15005550006")
        .env("TWILIO_API_BASE", &proxy.urls[1]);
    // Start-up reads the secret and Twilio's balance, both through the proxy.
    let gateway = start(command, dir.path());
    assert_eq!(gateway.lines[1], "providers: twilio");

    let phone = unique_phone();
    let sent = reqwest::Client::new()
        .post(format!("{}/", gateway.url))
        .header("x-api-key", "tls-key")
        .json(&serde_json::json!({"phone_number": phone, "message": "Your code is 246810"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let answer: serde_json::Value = sent.json().await.unwrap();
    assert_eq!(answer["provider"], "twilio");

    // What the stand-in accepted (asked over plain HTTP, behind the proxy).
    let ours = stand_in.twilio_messages_to(&phone).await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0]["sid"], answer["message_id"]);
}

#[tokio::test]
async fn a_server_certificate_the_roots_do_not_vouch_for_is_refused() {
    let proxy = tls_proxy(&[&moto().endpoint]);
    let secret = twilio_secret("untrusted").await;
    // Every root of the bundle but the test CA (the last one): the proxy's certificate is then
    // signed by a CA the gateway does not know.
    let bundle = std::fs::read_to_string(&proxy.bundle).unwrap();
    let without_ca = &bundle[..bundle.rfind("-----BEGIN CERTIFICATE-----").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let roots = dir.path().join("system-roots.pem");
    std::fs::write(&roots, without_ca).unwrap();

    let mut command = over_tls(dir.path(), &secret, &proxy.urls[0], &roots);
    command.env("SMS_PROVIDER", "outbox");
    let gateway = start(command, dir.path());
    let challenge = reqwest::Client::new()
        .get(format!("{}/", gateway.url))
        .header("x-api-key", "tls-key")
        .header("x-verification-key", "v1")
        .send()
        .await
        .unwrap();
    // The secret cannot be read: no key is trusted, nothing is answered as if it were.
    assert_eq!(challenge.status(), 503);
    let log = gateway.stop();
    assert!(
        log.to_lowercase().contains("certificate"),
        "the log names the certificate: {log}"
    );
}
