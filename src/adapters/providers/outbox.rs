//! The `outbox` provider: appends each SMS as one JSON line to a file instead of sending it. For
//! trying the gateway locally and for tests; it writes the message text, so it is never a default in
//! Lambda.

use super::{BuildContext, BuildError, ProviderSetup};
use crate::domain::outcome::{MessageId, ProviderError};
use crate::domain::ports::SmsProvider;
use crate::domain::sms::SmsRequest;
use crate::settings::{ConfigError, Env};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where the outbox writes: `OUTBOX_PATH`, `outbox.jsonl` by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxSettings {
    pub path: PathBuf,
}

/// Registered in [`super::REGISTRY`] as `outbox`.
pub fn configure(env: &Env) -> Result<Box<dyn ProviderSetup>, ConfigError> {
    let path = env
        .optional("OUTBOX_PATH")
        .unwrap_or_else(|| "outbox.jsonl".into());
    Ok(Box::new(OutboxSettings { path: path.into() }))
}

impl ProviderSetup for OutboxSettings {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn build(&self, _: &BuildContext<'_>) -> Result<Box<dyn SmsProvider>, BuildError> {
        let outbox = Outbox::open(&self.path).map_err(|source| BuildError::Outbox {
            path: self.path.display().to_string(),
            source,
        })?;
        Ok(Box::new(outbox))
    }
}

pub struct Outbox {
    path: PathBuf,
    // One writer at a time, and each line in a single write_all on an O_APPEND file: concurrent
    // requests can neither lose nor interleave lines.
    file: Arc<Mutex<File>>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    message_id: &'a str,
    phone_number: &'a str,
    sender_id: Option<&'a str>,
    message: &'a str,
}

impl Outbox {
    /// Opens (or creates) the outbox file; fails at start-up, not at the first message.
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        // Its directory too: the default under `cargo lambda watch` is in target/, which a clone
        // built with CARGO_TARGET_DIR elsewhere does not have.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait::async_trait]
impl SmsProvider for Outbox {
    fn name(&self) -> &'static str {
        "outbox"
    }

    /// A line appended to a local file.
    fn min_send_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(50)
    }

    async fn send(
        &self,
        sms: &SmsRequest,
        _deadline: tokio::time::Instant,
    ) -> Result<MessageId, ProviderError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| ProviderError::unavailable(e.to_string()))?;
        let message_id = format!("outbox-{}", crate::domain::keys::hex(&id));
        let line = Line {
            time: now_rfc3339(),
            message_id: &message_id,
            phone_number: sms.phone_number.as_str(),
            sender_id: sms.sender_id.as_ref().map(|s| s.as_str()),
            message: sms.message.as_str(),
        };
        let mut bytes = serde_json::to_vec(&line).expect("a line of strings serializes");
        bytes.push(b'\n');

        let file = Arc::clone(&self.file);
        // File writes block; keep them off the async workers.
        tokio::task::spawn_blocking(move || {
            let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            file.write_all(&bytes)
        })
        .await
        .map_err(|e| ProviderError::unavailable(format!("outbox writer stopped: {e}")))?
        .map_err(|e| ProviderError::unavailable(format!("cannot write the outbox: {e}")))?;
        Ok(message_id)
    }
}

fn now_rfc3339() -> String {
    use aws_smithy_types::date_time::{DateTime, Format};
    DateTime::from(std::time::SystemTime::now())
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_makes_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not/yet/there/outbox.jsonl");
        let outbox = Outbox::open(&path).unwrap();
        assert_eq!(outbox.path(), path);
        assert!(path.exists());
    }
}
