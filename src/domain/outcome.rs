//! What became of a request to send, in the three types the rest of the code passes along:
//!
//! * [`ProviderError`]: a provider's failure, in one of three classes that decide the answer and
//!   whether another provider may go. These three are the at-most-once rule.
//! * [`Dispatch`]: what the providers made of one SMS (the last one's name and result), and what
//!   that means for an identical request after it ([`Delivery`]).
//! * [`Held`]: why a request was answered without calling any provider (a number refused by the
//!   plan or by policy, a duplicate, a limit).
//! * [`Outcome`]: what the gateway answers with, the one thing the HTTP layer renders: sent, held
//!   (a duplicate among the reasons), or failed with the provider's class.

use crate::domain::country::Country;
use crate::domain::numbering::NumberType;

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
    /// The provider refused the message because it already took it: its idempotency key
    /// ([`crate::domain::sms::SmsRequest::idempotency_key`]) was used by an earlier send of the
    /// same request that the gateway's dedupe did not see. Sent once, not again: answered as a
    /// duplicate, with the first send's id, and no other provider is tried.
    #[error("{reason}")]
    AlreadySent {
        message_id: MessageId,
        reason: String,
    },
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

    /// The class's name, for logs and tests: `rejected`, `unavailable`, `misconfigured`,
    /// `indeterminate`, `already_sent`.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "rejected",
            Self::Unavailable { .. } => "unavailable",
            Self::Misconfigured { .. } => "misconfigured",
            Self::Indeterminate { .. } => "indeterminate",
            Self::AlreadySent { .. } => "already_sent",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Self::Rejected { reason }
            | Self::Unavailable { reason }
            | Self::Misconfigured { reason }
            | Self::Indeterminate { reason }
            | Self::AlreadySent { reason, .. } => reason,
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

/// What became of one SMS that went to the providers.
#[derive(Debug)]
pub struct Dispatch {
    /// The provider that answered last (the one that sent, or the last one that failed).
    pub provider: &'static str,
    pub result: Result<MessageId, ProviderError>,
}

impl Dispatch {
    /// What the result means for an identical request after it (and for the per-number count).
    pub fn delivery(&self) -> Delivery<'_> {
        match &self.result {
            Ok(message_id) | Err(ProviderError::AlreadySent { message_id, .. }) => Delivery::Sent {
                provider: self.provider,
                message_id,
            },
            // A refused recipient was not sent to either: its re-send is refused again.
            Err(ProviderError::Rejected { .. }) => Delivery::NotSent,
            Err(e) if e.certainly_not_sent() => Delivery::NotSent,
            Err(_) => Delivery::MaybeSent,
        }
    }
}

/// Whether a send went out, as the dedupe record keeps it.
#[derive(Debug, Clone, Copy)]
pub enum Delivery<'a> {
    Sent {
        provider: &'a str,
        message_id: &'a str,
    },
    /// Certainly not sent: a re-send may go, and the send does not count against the number.
    NotSent,
    /// It may have gone out: within the dedupe window nothing is sent again.
    MaybeSent,
}

/// Why a request was answered without calling a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// An identical request was sent within the dedupe window; nothing was sent again.
    Duplicate {
        provider: String,
        message_id: String,
    },
    /// The numbering plan knows the number as valid for no region (`VALID_NUMBERS_ONLY`).
    InvalidNumber,
    /// The number is of a type in `BLOCKED_NUMBER_TYPES`.
    NumberTypeNotAllowed { number_type: NumberType },
    /// The number's country is not allowed (`None`: its country could not be told).
    CountryNotAllowed { country: Option<Country> },
    /// The number had its `limit` SMS this hour.
    OverLimit { limit: u64 },
    /// The number's prefix had its hour's share and is blocked (`MAX_SMS_PER_PREFIX_PER_HOUR`).
    PrefixBlocked,
    /// The number's country had its `limit` SMS this hour (`MAX_SMS_PER_COUNTRY_PER_HOUR`;
    /// `None`: a number of no country, under `*`).
    CountryLimit {
        country: Option<Country>,
        limit: u64,
    },
    /// An identical request is being sent by another instance and had no outcome by the deadline:
    /// sending again could deliver twice.
    StillInFlight,
    /// An identical request failed moments ago, and too little of the deadline is left to try
    /// again without risking a send cut in half (maybe sent).
    TooLate,
    /// The dedupe store could not answer and `LIMITS_ON_STORE_FAILURE=closed`.
    StoreUnavailable,
    /// An identical request within the window may have been sent (its outcome is unknown):
    /// sending again could deliver a second copy.
    MaybeSentBefore,
}

/// What became of a request the gateway took: the one value the HTTP layer renders into the
/// contract's status, code and body, deciding nothing itself.
#[derive(Debug)]
pub enum Outcome {
    /// A provider took the message.
    Sent {
        provider: &'static str,
        message_id: MessageId,
    },
    /// Answered without a send: a duplicate of an earlier send (the first one's id), or a reason
    /// nothing was sent (the numbering plan, policy, a limit, the store, a twin in flight).
    Held(Held),
    /// The providers did not send; the error's class says whether the recipient was refused for
    /// good, the message certainly did not go, or it may have. Never `AlreadySent`, which is
    /// a duplicate ([`Held::Duplicate`]).
    Failed {
        provider: &'static str,
        error: ProviderError,
    },
}

impl From<Dispatch> for Outcome {
    fn from(Dispatch { provider, result }: Dispatch) -> Self {
        match result {
            Ok(message_id) => Self::Sent {
                provider,
                message_id,
            },
            // The provider had taken this very message before: sent once, and a duplicate now,
            // answered with the first send's id as the gateway's own dedupe would.
            Err(ProviderError::AlreadySent { message_id, .. }) => Self::Held(Held::Duplicate {
                provider: provider.to_owned(),
                message_id,
            }),
            Err(error) => Self::Failed { provider, error },
        }
    }
}

impl From<Held> for Outcome {
    fn from(held: Held) -> Self {
        Self::Held(held)
    }
}
