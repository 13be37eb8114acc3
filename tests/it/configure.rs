//! `configure`, the binary as a person meets it: its questions answered through a pseudo-terminal
//! (rexpect), then the file it wrote read by the SAM CLI's own code and checked against the
//! template (`check_template.py --samconfig`: every value within its constraints, every rule
//! satisfied) and by `sam validate`. A second run starts from that file; without a terminal it
//! asks nothing and names the flag a missing answer needs.

use crate::process::{BIN, gateway_command};
use crate::support::test_python;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Down one row in a list (dialoguer reads the terminal's arrow keys).
const DOWN: &str = "\x1b[B";

fn venv_tool(name: &str) -> PathBuf {
    Path::new(&test_python()).with_file_name(name)
}

/// What the SAM CLI reads from the file, once the template check has passed on it.
fn sam_reads(file: &Path) -> Value {
    let output = Command::new(test_python())
        .arg(format!("{ROOT}/tests/support/check_template.py"))
        .arg(format!("{ROOT}/template.yaml"))
        .arg("--samconfig")
        .arg(file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the template check refused {}:\n{stdout}{}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap()
}

/// `sam validate --lint` with the written file as its configuration.
fn sam_validates(file: &Path) {
    let output = Command::new(venv_tool("sam"))
        .args(["validate", "--lint", "--template-file"])
        .arg(format!("{ROOT}/template.yaml"))
        .arg("--config-file")
        .arg(file)
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "sam validate: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `configure --file FILE` on a pseudo-terminal.
fn on_a_terminal(dir: &Path, file: &Path) -> rexpect::session::PtySession {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .args(["configure", "--file"])
        .arg(file)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("TERM", "dumb");
    rexpect::session::spawn_command(command, Some(30_000)).unwrap()
}

#[test]
fn a_person_answers_a_few_questions_and_sam_deploys_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("samconfig.toml");
    let mut p = on_a_terminal(dir.path(), &file);
    p.exp_string("The stack name [mosaic-sms-gateway]").unwrap();
    p.send_line("gw-test").unwrap();
    p.exp_string("The region").unwrap();
    // A wrong answer is refused on the spot, and asked again.
    p.send_line("Ireland").unwrap();
    p.exp_string("not an AWS Region code").unwrap();
    p.send_line("eu-west-1").unwrap();
    p.exp_string("The SMS provider").unwrap();
    // sns, end-user-messaging, twilio, vonage: three down.
    p.send(&DOWN.repeat(3)).unwrap();
    p.send_line("").unwrap();
    p.exp_string("Fail over to").unwrap();
    // none, sns.
    p.send(DOWN).unwrap();
    p.send_line("").unwrap();
    p.exp_string("(VonageFrom)").unwrap();
    // Required: an empty answer is refused.
    p.send_line("").unwrap();
    p.exp_string("VonageFrom is required").unwrap();
    p.send_line("Acme").unwrap();
    p.exp_string("(VonageSignatureMethod)").unwrap();
    p.send_line("").unwrap();
    p.exp_string("(SnsSenderId)").unwrap();
    p.send_line("").unwrap();
    p.exp_string("(SnsOriginationNumber)").unwrap();
    p.send_line("").unwrap();
    p.exp_string("(MosaicRegion)").unwrap();
    // us, eu.
    p.send(DOWN).unwrap();
    p.send_line("").unwrap();
    p.exp_string("(AllowedCountries)").unwrap();
    p.send_line("FR,DE").unwrap();
    p.exp_string("(AlarmEmail)").unwrap();
    p.send_line("ops@example.com").unwrap();
    p.exp_string("wrote").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("kept at the template's defaults"), "{rest}");
    assert!(rest.contains("--provider vonage"), "{rest}");

    let expected = json!({
        "stack_name": "gw-test",
        "region": "eu-west-1",
        "parameters": {
            "SmsProvider": "vonage,sns",
            "VonageFrom": "Acme",
            "MosaicRegion": "eu",
            "AllowedCountries": "FR,DE",
            "AlarmEmail": "ops@example.com",
        }
    });
    assert_eq!(sam_reads(&file), expected);
    sam_validates(&file);

    // Run again: every answer starts from the file; Enter keeps it, and the file says the same.
    let mut p = on_a_terminal(dir.path(), &file);
    p.exp_string("The stack name [gw-test]").unwrap();
    p.send_line("").unwrap();
    p.exp_string("The region [eu-west-1]").unwrap();
    p.send_line("").unwrap();
    for question in ["The SMS provider", "Fail over to"] {
        p.exp_string(question).unwrap();
        p.send_line("").unwrap();
    }
    p.exp_string("(VonageFrom) [Acme]").unwrap();
    p.send_line("").unwrap();
    for question in [
        "(VonageSignatureMethod)",
        "(SnsSenderId)",
        "(SnsOriginationNumber)",
        "(MosaicRegion)",
    ] {
        p.exp_string(question).unwrap();
        p.send_line("").unwrap();
    }
    p.exp_string("(AllowedCountries; - for none) [FR,DE]")
        .unwrap();
    // `-` clears it: every country again.
    p.send_line("-").unwrap();
    p.exp_string("(BlockedCountries)").unwrap();
    p.send_line("RU").unwrap();
    p.exp_string("(AlarmEmail; - for none) [ops@example.com]")
        .unwrap();
    p.send_line("").unwrap();
    p.exp_string("Write these answers to").unwrap();
    p.send_line("y").unwrap();
    p.exp_eof().unwrap();
    let mut expected = expected;
    let parameters = expected["parameters"].as_object_mut().unwrap();
    parameters.remove("AllowedCountries");
    parameters.insert("BlockedCountries".into(), json!("RU"));
    assert_eq!(sam_reads(&file), expected);
}

#[test]
fn without_a_terminal_flags_answer_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("samconfig.toml");
    let run = |args: &[&str]| {
        let output = gateway_command(dir.path())
            .arg("configure")
            .arg("--file")
            .arg(&file)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(&["--stack-name", "gw", "--region", "us-east-1"]);
    assert!(!ok);
    assert!(
        err.contains("no terminal to ask on") && err.contains("--provider"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let (ok, _, err) = run(&[
        "--stack-name",
        "gw",
        "--region",
        "us-east-1",
        "--provider",
        "infobip,sns",
    ]);
    assert!(!ok && err.contains("--parameter InfobipBaseUrl="), "{err}");
    let (ok, _, err) = run(&[
        "--stack-name",
        "gw",
        "--region",
        "us-east-1",
        "--provider",
        "twilio",
        "--parameter",
        "TwilioFrom=+14155550100",
        "--parameter",
        "SendDeadlineMs=9000",
    ]);
    assert!(!ok && err.contains("SendDeadlineMs must be from"), "{err}");
    assert!(!file.exists(), "a refused run wrote {}", file.display());

    let (ok, out, err) = run(&[
        "--stack-name",
        "gw",
        "--region",
        "us-east-1",
        "--provider",
        "twilio,sns",
        "--parameter",
        "TwilioFrom=+14155550100",
        "--parameter",
        r#"SenderByCountry={"FR": "Acme", "US": {"sns": "+14155550101"}}"#,
        "--alarm-email",
        "ops@example.com",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("SendDeadlineMs=2500"),
        "the defaults kept are shown: {out}"
    );
    let read = sam_reads(&file);
    assert_eq!(
        read["parameters"]["SenderByCountry"],
        r#"{"FR": "Acme", "US": {"sns": "+14155550101"}}"#
    );
    assert_eq!(read["parameters"]["TwilioFrom"], "+14155550100");

    // Again with one flag: the rest comes from the file.
    let (ok, _, err) = run(&["--parameter", "MaxSmsPerNumberPerHour=5"]);
    assert!(ok, "{err}");
    let again = sam_reads(&file);
    assert_eq!(again["stack_name"], "gw");
    assert_eq!(again["parameters"]["MaxSmsPerNumberPerHour"], "5");
    assert_eq!(
        again["parameters"]["SenderByCountry"],
        read["parameters"]["SenderByCountry"]
    );
}

/// docs/deploy.md's configure block, run as printed (`cargo run --` is the binary), in a folder of
/// its own: each `# ` line is what the command before it prints (`...` stands for anything), and
/// the file the second command writes is what SAM reads and the template takes.
#[test]
fn the_documented_commands_run_as_printed() {
    let page = std::fs::read_to_string(format!("{ROOT}/docs/deploy.md")).unwrap();
    let block = page
        .split_once("<!-- run by tests/it/configure.rs -->\n```sh\n")
        .expect("docs/deploy.md has the configure block")
        .1
        .split_once("```")
        .unwrap()
        .0
        .replace("\\\n", "");
    let dir = tempfile::tempdir().unwrap();
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.lines() {
        match line.strip_prefix("# ") {
            Some(printed) => runs.last_mut().unwrap().1.push(printed.to_owned()),
            None => runs.push((line.to_owned(), Vec::new())),
        }
    }
    assert_eq!(runs.len(), 2, "{block}");
    for (i, (command, printed)) in runs.iter().enumerate() {
        let output = Command::new("bash")
            .args(["-c", &command.replace("cargo run --", BIN)])
            .current_dir(dir.path())
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // The first refuses (no terminal, no answers); the second writes.
        assert_eq!(output.status.success(), i == 1, "{command}: {said}");
        for expected in printed.iter().filter(|p| p.trim() != "...") {
            let found = said.lines().any(|line| {
                let mut rest = line;
                expected.split("...").all(|piece| match rest.find(piece) {
                    Some(at) => {
                        rest = &rest[at + piece.len()..];
                        true
                    }
                    None => false,
                })
            });
            assert!(
                found,
                "{command}: the docs show {expected:?}, it printed:\n{said}"
            );
        }
    }
    let read = sam_reads(&dir.path().join("samconfig.toml"));
    assert_eq!(read["stack_name"], "mosaic-sms-gateway");
    assert_eq!(read["parameters"]["SmsProvider"], "twilio,sns");
    assert_eq!(read["parameters"]["TwilioFrom"], "+15005550006");
}
