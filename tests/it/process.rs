//! The gateway binary started as users start it, with only the environment a test gives it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_mosaic-sms-gateway");

/// Variables that would change the gateway's defaults if the test's own environment had them.
pub const CONFIG_VARS: &[&str] = &[
    "AWS_LAMBDA_RUNTIME_API",
    "GATEWAY_SECRET_ID",
    "GATEWAY_API_KEY",
    "SECRET_TTL_SECONDS",
    "STALE_KEYS_MAX_SECONDS",
    "SENDER_ID_SOURCE",
    "SMS_PROVIDER",
    "SNS_SENDER_ID",
    "SNS_ORIGINATION_NUMBER",
    "SNS_SMS_TYPE",
    "OUTBOX_PATH",
    "SEND_DEADLINE_MS",
    "MESSAGE_TTL_SECONDS",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_FROM",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_API_BASE",
    "TWILIO_USE_SENDER_ID",
    "TWILIO_STATUS_CALLBACK_URL",
    "SFMC_SUBDOMAIN",
    "SFMC_AUTH_BASE",
    "SFMC_ACCOUNT_ID",
    "SFMC_DEFINITION_KEY",
    "SFMC_CLIENT_ID",
    "SFMC_CLIENT_SECRET",
    "PROVIDERS_BY_COUNTRY",
    "HTTP_PROVIDER",
    "HTTP_PROVIDER_FILE",
    "HTTP_PROVIDER_FROM",
    "HTTP_PROVIDER_USE_SENDER_ID",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SNS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2",
    "EUM_ORIGINATION_IDENTITY",
    "EUM_CONFIGURATION_SET",
    "EUM_PROTECT_CONFIGURATION_ID",
    "EUM_MAX_PRICE",
    "IDEMPOTENCY_TABLE",
    "DEDUPE_WINDOW_SECONDS",
    "MAX_SMS_PER_NUMBER_PER_HOUR",
    "ALLOWED_COUNTRIES",
    "BLOCKED_COUNTRIES",
    "SENDER_BY_COUNTRY",
    "VALID_NUMBERS_ONLY",
    "FINGERPRINT_KEY",
    "FINGERPRINT_SECRET_ID",
    "MAX_SMS_PER_PREFIX_PER_HOUR",
    "PREFIX_BLOCK_SECONDS",
    "MAX_SMS_PER_COUNTRY_PER_HOUR",
    "BLOCKED_NUMBER_TYPES",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "RUST_LOG",
    "AWS_LAMBDA_LOG_LEVEL",
];

/// The binary, run in `dir`, with none of the gateway's variables from the test's environment.
pub fn gateway_command(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).stdin(Stdio::null());
    for var in CONFIG_VARS {
        command.env_remove(var);
    }
    // Nor may the machine's own AWS files or an instance metadata service give it a region.
    command
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// A running `serve`; stopped when dropped.
pub struct Running {
    child: Child,
    pub url: String,
    /// What it printed on stdout at start-up.
    pub lines: Vec<String>,
    /// Where its stderr (the log) goes.
    pub log: PathBuf,
}

impl Running {
    /// Stops the gateway and returns its log.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --addr 127.0.0.1:0` and reads its start-up lines, up to the `providers:` line that
/// ends them. Its log goes to `gateway.log` in its directory.
pub fn start(mut command: Command, dir: &Path) -> Running {
    let log = dir.join("gateway.log");
    let mut child = command
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<String> = Vec::new();
    while !lines.last().is_some_and(|l| l.starts_with("providers:")) {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the gateway did not start; it printed {lines:?} and logged {log}")
            });
        lines.push(line);
    }
    let url = lines[0]
        .strip_prefix("mosaic-sms-gateway listening on ")
        .unwrap()
        .to_owned();
    Running {
        child,
        url,
        lines,
        log,
    }
}
