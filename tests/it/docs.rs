//! The commands the documentation prints run as printed: README.md's "Try it with curl" block,
//! against `serve` started with nothing configured, as `cargo run` starts it. (Which blocks a test
//! runs, and which need an AWS account, is checked by tests/support/check_docs.py.)

use crate::process::*;
use std::process::Command;

/// The ```sh block that follows `<!-- run by tests/it/docs.rs -->` in `page`, and the plain block
/// before it (what the program printed), if any.
fn blocks(page: &str) -> (String, Option<String>) {
    let text = std::fs::read_to_string(format!("{}/{page}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let (before, after) = text
        .split_once("<!-- run by tests/it/docs.rs -->\n```sh\n")
        .unwrap_or_else(|| panic!("{page} has no block run by tests/it/docs.rs"));
    let block = after.split_once("```").unwrap().0.to_owned();
    let printed = before
        .trim_end()
        .strip_suffix("```")
        .and_then(|b| b.rsplit_once("```\n"))
        .map(|(_, printed)| printed.to_owned());
    (block, printed)
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
    let (block, printed) = blocks("README.md");
    let dir = tempfile::tempdir().unwrap();
    let gateway = start(gateway_command(dir.path()), dir.path());
    let key = gateway.lines[1]
        .strip_prefix("development API key (generated for this run): ")
        .unwrap();

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
    let run = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the README's curl block failed: {out}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Each `# {...}` comment is what the command before it prints.
    let mut at = 0;
    for expected in block
        .lines()
        .filter_map(|l| l.strip_prefix("# {"))
        .map(|rest| format!("{{{rest}"))
    {
        at = find(&out, at, &expected)
            .unwrap_or_else(|| panic!("the README says {expected}; the block printed {out}"));
    }
    // `cat outbox.jsonl` shows the passcode's line.
    assert!(
        out[at..].contains(r#""phone_number":"+14155550100""#),
        "{out}"
    );
}
