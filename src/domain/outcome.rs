//! What became of a send, as a provider answers it: its message id, or one of three outcomes that
//! decide the answer and whether another provider may go. These three are the at-most-once rule.

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
