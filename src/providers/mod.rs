//! SMS providers behind one trait, and the list that registers them.
//!
//! Each provider is one file that owns its settings (read from [`Env`] at start-up), its client
//! (built once), its send and the classification of its errors into [`ProviderError`]'s outcomes.
//! A new provider is that file and one line in [`REGISTRY`].

pub mod aws;
pub mod end_user_messaging;
pub mod outbox;
pub mod sns;
pub mod transport;
pub mod twilio;

use crate::app::StartupError;
use crate::config::{ConfigError, Env};
use crate::secrets::ApiKeys;
use crate::sms::SmsRequest;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Reads a provider's settings; fails on any that cannot work.
pub type Configure = fn(&Env) -> Result<Box<dyn ProviderSetup>, ConfigError>;

/// Every provider the gateway knows, by the name `SMS_PROVIDER` uses.
pub const REGISTRY: &[(&str, Configure)] = &[
    ("sns", sns::configure),
    ("twilio", twilio::configure),
    ("end-user-messaging", end_user_messaging::configure),
    ("outbox", outbox::configure),
];

pub fn find(name: &str) -> Option<Configure> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|(n, _)| *n).collect()
}

/// What start-up lends a provider to build its client from.
pub struct BuildContext<'a> {
    /// The AWS configuration; `Some` whenever a provider's [`ProviderSetup::uses_aws`] is true.
    pub aws: Option<&'a aws_config::SdkConfig>,
    /// The gateway secret, which may hold provider credentials next to the API keys.
    pub secret: &'a Arc<ApiKeys>,
}

/// A provider's checked settings, before its client exists.
pub trait ProviderSetup: std::fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;

    /// Whether it needs AWS credentials and a region.
    fn uses_aws(&self) -> bool {
        false
    }

    /// Builds the provider and its client, once, at start-up.
    fn build(&self, context: &BuildContext<'_>) -> Result<Box<dyn SmsProvider>, StartupError>;
}

/// The provider's id for a sent message (SNS `MessageId`, Twilio `sid`, ...).
pub type MessageId = String;

/// Why a provider did not send. The variant decides the HTTP answer and whether another provider
/// is tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The recipient is refused for good (invalid or opted-out number, blocked destination):
    /// no provider will do better, so none is tried. Answered 422.
    #[error("{reason}")]
    Rejected { reason: String },
    /// The provider did not take the message (throttled, unreachable, down); another provider or
    /// a retry may succeed. Answered 502 when no provider succeeds.
    #[error("{reason}")]
    Unavailable { reason: String },
    /// As [`ProviderError::Unavailable`], certainly not sent, but because our own set-up is wrong
    /// (credentials, sender, account): it will not heal by itself, so it is logged as an error
    /// with what to fix and counted in a metric an alarm watches.
    #[error("{reason}")]
    Misconfigured { reason: String },
    /// The provider may have taken the message before failing (a timeout or a connection lost
    /// after the request went out). No other provider is tried: that could deliver the passcode
    /// twice. Answered 502.
    #[error("{reason}")]
    Indeterminate { reason: String },
}

impl ProviderError {
    pub fn rejected(reason: impl Into<String>) -> Self {
        Self::Rejected {
            reason: reason.into(),
        }
    }

    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
        }
    }

    pub fn misconfigured(reason: impl Into<String>) -> Self {
        Self::Misconfigured {
            reason: reason.into(),
        }
    }

    pub fn indeterminate(reason: impl Into<String>) -> Self {
        Self::Indeterminate {
            reason: reason.into(),
        }
    }

    /// Whether the provider certainly did not send, so the next one may.
    pub fn certainly_not_sent(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Misconfigured { .. })
    }

    pub fn reason(&self) -> &str {
        match self {
            Self::Rejected { reason }
            | Self::Unavailable { reason }
            | Self::Misconfigured { reason }
            | Self::Indeterminate { reason } => reason,
        }
    }
}

/// A provider's answer that said "accepted": the message id it carried, or, when it carried none
/// (or one that could not be read), maybe sent. The one rule for every provider: once a provider
/// answered success it may have taken the message, so nothing about that answer may lead to a
/// failover, a refund or a second send.
pub fn accepted(provider: &str, message_id: Option<String>) -> Result<MessageId, ProviderError> {
    match message_id {
        Some(id) if !id.trim().is_empty() => Ok(id),
        _ => Err(ProviderError::indeterminate(format!(
            "{provider} answered success without a message id it could read: it may have sent the message"
        ))),
    }
}

/// A first answer from a provider over a connection that is already open, on a normal day.
pub const FIRST_ANSWER: Duration = Duration::from_millis(300);

/// The least time a network provider is started with: long enough to open a connection (the
/// connect timeout) and read a first answer. Started with less, it would likely be cut by the
/// deadline after its request left: maybe sent, for nothing.
pub const NETWORK_MIN_SEND_TIME: Duration =
    crate::app::CONNECT_TIMEOUT.saturating_add(FIRST_ANSWER);

/// One way of delivering an SMS.
#[async_trait::async_trait]
pub trait SmsProvider: Send + Sync {
    /// The name in configuration, answers and logs: `sns`, `twilio`, `outbox`, ...
    fn name(&self) -> &'static str;

    /// Sends one SMS, done by `deadline` (the dispatcher cuts it there in any case); returns the
    /// provider's message id. Never retries a request that may have reached the provider.
    async fn send(&self, sms: &SmsRequest, deadline: Instant) -> Result<MessageId, ProviderError>;

    /// The least time left before the deadline for this provider to be started at all.
    fn min_send_time(&self) -> Duration {
        NETWORK_MIN_SEND_TIME
    }

    /// Called once at start-up: checks what can only be checked then (credentials in the secret),
    /// and opens the provider's connection so the first passcode does not pay for it. `Err` stops
    /// start-up with that line.
    async fn start(&self) -> Result<(), String> {
        Ok(())
    }

    /// Whether [`start`](Self::start) needs the gateway secret read first (credentials in it).
    /// The others start while the secret is being read: in Lambda init, the two round trips
    /// overlap instead of adding up.
    fn starts_after_secret(&self) -> bool {
        false
    }
}

/// The configured providers, in the order they are tried.
pub struct Dispatcher {
    providers: Vec<Box<dyn SmsProvider>>,
}

impl Dispatcher {
    /// At least one provider is required; the configuration guarantees it.
    pub fn new(providers: Vec<Box<dyn SmsProvider>>) -> Self {
        assert!(!providers.is_empty(), "the dispatcher needs a provider");
        Self { providers }
    }

    pub fn provider_names(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    pub fn providers(&self) -> &[Box<dyn SmsProvider>] {
        &self.providers
    }

    /// Runs the start-up check of every provider whose [`SmsProvider::starts_after_secret`] is
    /// `after_secret`, in order; the first failure stops start-up.
    pub async fn start(&self, after_secret: bool) -> Result<(), StartupError> {
        let providers = self
            .providers
            .iter()
            .filter(|p| p.starts_after_secret() == after_secret);
        for provider in providers {
            provider
                .start()
                .await
                .map_err(|message| StartupError::Provider {
                    provider: provider.name(),
                    message,
                })?;
        }
        Ok(())
    }
}
