//! The commands the documentation prints run as printed: README.md's "Try it with curl" block,
//! against `serve` started with nothing configured, as `cargo run` starts it, and docs/deploy.md's
//! `check` against the same, and its scripted `secret put` and `secret show` against moto's Secrets
//! Manager. (Which blocks a test
//! runs, and which need an AWS account, is checked by tests/support/check_docs.py.)

use crate::process::*;
use crate::support::*;
use serde_json::json;
use std::process::{Command, Output};

const MARKER: &str = "<!-- run by tests/it/docs.rs -->\n```sh\n";

/// The ```sh blocks that follow `<!-- run by tests/it/docs.rs -->` in `page`, each with the plain
/// block just before it (what the program printed), if any.
fn blocks(page: &str) -> Vec<(String, Option<String>)> {
    let text = std::fs::read_to_string(format!("{}/{page}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let parts: Vec<&str> = text.split(MARKER).collect();
    assert!(
        parts.len() > 1,
        "{page} has no block run by tests/it/docs.rs"
    );
    parts
        .windows(2)
        .map(|pair| {
            let block = pair[1].split_once("```").unwrap().0.to_owned();
            let printed = pair[0]
                .trim_end()
                .strip_suffix("```")
                .and_then(|b| b.rsplit_once("```\n"))
                .map(|(_, printed)| printed.to_owned());
            (block, printed)
        })
        .collect()
}

/// Runs `script` with bash in `dir`, `cargo run --` standing for the binary, with `env`.
fn run(script: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c"])
        .arg(script.replace("cargo run --", BIN))
        .current_dir(dir);
    for var in CONFIG_VARS {
        command.env_remove(var);
    }
    command.envs(env.iter().copied()).output().unwrap()
}

/// What a command printed, stdout then stderr.
fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The development key a `serve` started with nothing configured printed.
fn development_key(gateway: &Running) -> &str {
    gateway.lines[1]
        .strip_prefix("development API key (generated for this run): ")
        .unwrap_or_else(|| panic!("no development key in {:?}", gateway.lines))
}

/// Checks that `out` holds, in order, each comment of `block` that starts with `prefix` (without
/// its `# `), `...` standing for anything; returns where the last one ended.
fn printed_as_documented(block: &str, prefix: &str, out: &str) -> usize {
    let mut at = 0;
    for line in block.lines().filter(|l| l.starts_with(prefix)) {
        let expected = &line[2..];
        at = find(out, at, expected)
            .unwrap_or_else(|| panic!("the page says {expected:?}; the block printed {out}"));
    }
    at
}

/// Whether `text` holds the pieces of `expected` (split at `...`, which stands for anything) in
/// order, from `from` on; the index after the match.
fn find(text: &str, from: usize, expected: &str) -> Option<usize> {
    let mut at = from;
    for piece in expected.split("...").filter(|p| !p.is_empty()) {
        at += text[at..].find(piece)? + piece.len();
    }
    Some(at)
}

#[test]
fn the_readme_curl_block_runs_as_printed() {
    let (block, printed) = blocks("README.md").remove(0);
    let dir = tempfile::tempdir().unwrap();
    let gateway = start(gateway_command(dir.path()), dir.path());
    let key = development_key(&gateway);

    // What `cargo run` printed, as the README shows it (the address and the key are this run's).
    let printed = printed.expect("the README shows what cargo run prints before the block");
    let shown: Vec<&str> = printed.lines().collect();
    assert_eq!(shown.len(), gateway.lines.len(), "{printed}");
    for (shown, line) in shown.iter().zip(&gateway.lines) {
        let shown = shown
            .replace("http://127.0.0.1:3000", &gateway.url)
            .replace("dev-5c1f...", key);
        assert!(
            find(line, 0, &shown).is_some(),
            "the README shows {shown:?}; the gateway printed {line:?}"
        );
    }

    // The block with this run's key and address, run by bash in the gateway's folder.
    assert!(block.contains("KEY=dev-5c1f..."), "{block}");
    let script = block
        .replace("dev-5c1f...", key)
        .replace("http://127.0.0.1:3000", &gateway.url);
    let run = run(&script, dir.path(), &[]);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the README's curl block failed: {out}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Each `# {...}` comment is what the command before it prints.
    let at = printed_as_documented(&block, "# {", &out);
    // `cat outbox.jsonl` shows the passcode's line.
    assert!(
        out[at..].contains(r#""phone_number":"+14155550100""#),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_pages_scripted_secret_put_runs_as_printed() {
    let (block, _) = blocks("docs/deploy.md")
        .into_iter()
        .find(|(block, _)| block.contains("secret put"))
        .expect("docs/deploy.md has a secret put block run by tests/it/docs.rs");
    let name = format!("mosaic/docs-secret-put-{}", std::process::id());
    let api_secret = "v0nage-secret-never-printed";
    new_secret(
        &name,
        &json!({"api_key": KEY, "fingerprint_key": "fingerprint-never-printed"}).to_string(),
    )
    .await;
    let script = block
        .replace("<the API key>", "abcd1234")
        .replace("<the API secret>", api_secret)
        .replace("<ApiKeySecretArn>", &name);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = moto().endpoint.clone();
    let output = tokio::task::spawn_blocking(move || {
        run(
            &script,
            dir.path(),
            &[
                ("AWS_ENDPOINT_URL", &endpoint),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_CONFIG_FILE", "/dev/null"),
                ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        )
    })
    .await
    .unwrap();
    let out = said(&output);
    assert!(output.status.success(), "{out}");
    let expected = block.replace("<ApiKeySecretArn>", &name);
    printed_as_documented(&expected, "# ", &out);
    assert!(!out.contains(api_secret), "a value in the output: {out}");
}

#[test]
fn the_deploy_pages_local_check_runs_as_printed() {
    let (block, _) = blocks("docs/deploy.md")
        .into_iter()
        .find(|(block, _)| block.contains(" check "))
        .expect("docs/deploy.md has a check block run by tests/it/docs.rs");
    let dir = tempfile::tempdir().unwrap();
    let gateway = start(gateway_command(dir.path()), dir.path());
    let key = development_key(&gateway);
    let local = |text: &str| {
        text.replace("dev-5c1f...", key)
            .replace("http://127.0.0.1:3000/", &format!("{}/", gateway.url))
    };
    let output = run(&local(&block), dir.path(), &[]);
    let out = said(&output);
    assert!(output.status.success(), "{out}");
    printed_as_documented(&local(&block), "# ", &out);
    assert!(!out.contains(key), "the key in the output: {out}");
}
