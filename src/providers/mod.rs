//! SMS providers behind one trait, and the dispatcher that tries them in the configured order.
//!
//! A new provider is one new file here and one arm in [`crate::config`]'s provider list.

pub mod outbox;
pub mod sns;

use crate::sms::SmsRequest;
use std::time::Instant;

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
    /// The provider did not take the message (throttled, unreachable, down, misconfigured);
    /// another provider or a retry may succeed. Answered 502 when no provider succeeds.
    #[error("{reason}")]
    Unavailable { reason: String },
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

    pub fn indeterminate(reason: impl Into<String>) -> Self {
        Self::Indeterminate {
            reason: reason.into(),
        }
    }
}

/// One way of delivering an SMS.
#[async_trait::async_trait]
pub trait SmsProvider: Send + Sync {
    /// The name in configuration, answers and logs: `sns`, `outbox`, ...
    fn name(&self) -> &'static str;

    /// Sends one SMS; returns the provider's message id.
    async fn send(&self, sms: &SmsRequest) -> Result<MessageId, ProviderError>;
}

/// What the dispatcher did with one SMS.
#[derive(Debug)]
pub struct Dispatch {
    /// The provider that answered last (the one that sent, or the last one that failed).
    pub provider: &'static str,
    pub result: Result<MessageId, ProviderError>,
}

/// Tries the configured providers in order until one sends.
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

    /// Sends through the first provider that succeeds. Only a provider that certainly did not take
    /// the message hands over to the next one: a rejected recipient would be refused again (or,
    /// worse, delivered against the first provider's judgement), and a message that may have gone
    /// out must not go out twice.
    pub async fn send(&self, sms: &SmsRequest) -> Dispatch {
        let mut last = None;
        for provider in &self.providers {
            let started = Instant::now();
            let result = provider.send(sms).await;
            let Err(ProviderError::Unavailable { reason }) = &result else {
                return Dispatch {
                    provider: provider.name(),
                    result,
                };
            };
            tracing::warn!(
                provider = provider.name(),
                phone = %sms.phone_number,
                latency_ms = started.elapsed().as_millis() as u64,
                reason = %sms.phone_number.mask_in(reason),
                "provider failed; trying the next one if there is one"
            );
            last = Some(Dispatch {
                provider: provider.name(),
                result,
            });
        }
        last.expect("the dispatcher has at least one provider")
    }
}
