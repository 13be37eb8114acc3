//! The ports: what the domain needs from the outside world, as traits the adapters implement.
//! A test swaps any of them for a stand-in.

use crate::domain::outcome::{MessageId, ProviderError};
use crate::domain::sms::SmsRequest;
use hmac::{KeyInit, Mac};
use std::time::Duration;
use tokio::time::Instant;

/// One way of delivering an SMS.
#[async_trait::async_trait]
pub trait SmsProvider: Send + Sync {
    /// The name in configuration, answers and logs: `sns`, `twilio`, `outbox`, ...
    fn name(&self) -> &'static str;

    /// Sends one SMS, done by `deadline` (the dispatcher cuts it there in any case); returns the
    /// provider's message id. Never retries a request that may have reached the provider.
    async fn send(&self, sms: &SmsRequest, deadline: Instant) -> Result<MessageId, ProviderError>;

    /// The least time left before the deadline for this provider to be started at all: for a
    /// network provider a connection and a first answer
    /// (the adapters' `net::MIN_SEND_TIME`). Started with less, it would likely be cut by
    /// the deadline after its request left: maybe sent, for nothing.
    fn min_send_time(&self) -> Duration;

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

/// What the domain counts, for an operator's alarms (EMF in Lambda, nothing locally).
pub trait MetricsSink: Send + Sync {
    /// A provider refused our own set-up (credentials, sender, account).
    fn provider_misconfigured(&self, provider: &str);
    /// A call to the dedupe store failed (`claim`, `look`, `count`, `finish`).
    fn store_error(&self, operation: &str);
}

/// Counts nothing.
pub struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn provider_misconfigured(&self, _: &str) {}
    fn store_error(&self, _: &str) {}
}

/// HMAC-SHA256 of a send (number and message) or of a number, under the presented API key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub(crate) fn of(key: &[u8], purpose: &str, parts: &[&str]) -> Self {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
            .expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        for part in parts {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Self(mac.finalize().into_bytes().into())
    }

    pub(crate) fn hex(&self) -> String {
        crate::domain::keys::hex(&self.0)
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({}…)", &self.hex()[..12])
    }
}

/// Where a send stands in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    InFlight,
    Sent,
    /// Certainly not sent (or refused): a re-send may go.
    Failed,
    /// Maybe sent: within the window a re-send does not go (it could deliver a second copy).
    Unknown,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::InFlight => "in_flight",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    pub(crate) fn parse(raw: &str) -> Option<Self> {
        [Self::InFlight, Self::Sent, Self::Failed, Self::Unknown]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// A send's record, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub state: State,
    /// Who claimed it: a request recognises its own claim after a retried write.
    pub token: String,
    /// An in-flight claim stops blocking after this (milliseconds since the epoch).
    pub lease_until_ms: u64,
    /// The record means nothing after this (seconds since the epoch; DynamoDB's TTL attribute).
    pub expires_at: u64,
    /// When its claim was issued (milliseconds since the epoch; 0 in records written before it
    /// was kept): a failed record gives way only to a claim issued after it.
    pub claimed_ms: u64,
    pub provider: Option<String>,
    pub message_id: Option<String>,
}

impl Record {
    /// Whether a claim issued at `claimed_ms` may replace it at `now_ms`. A failed send's record
    /// gives way only to a claim issued after its own: a claim whose write lands after its
    /// request gave up on it (the write was slow, its answer lost) must not replace the "not
    /// sent" that request, or a later one, recorded since, and turn it back into an in-flight
    /// claim that lapses into "maybe sent" and holds every re-send of a passcode that never went
    /// out for the whole window.
    pub(crate) fn replaceable_by(&self, claimed_ms: u64, now_ms: u64) -> bool {
        self.expires_at.saturating_mul(1000) <= now_ms
            || match self.state {
                State::Failed => self.claimed_ms < claimed_ms,
                // A lapsed in-flight claim may have sent (its instance died, or could not record
                // the outcome): like Unknown, it blocks until the record expires.
                State::InFlight | State::Sent | State::Unknown => false,
            }
    }
}

/// What a claim attempt found.
#[derive(Debug)]
pub enum Claimed {
    Ours,
    Taken(Record),
}

/// Why the store could not answer; the send then goes ahead unchecked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub(crate) String);

/// The records behind dedupe: one per send, claimed before it and finished after it.
#[async_trait::async_trait]
pub trait DedupeStore: Send + Sync {
    /// Writes `claim` unless a record that may not be replaced is there.
    async fn claim(
        &self,
        key: &Fingerprint,
        claim: &Record,
        now_ms: u64,
    ) -> Result<Claimed, StoreError>;
    /// The record, if any (strongly consistent).
    async fn look(&self, key: &Fingerprint) -> Result<Option<Record>, StoreError>;
    /// Records a claim's outcome, if the claim is still `token`'s, or if there is no record at
    /// all (the claim's write failed, or has not landed yet): the outcome is true all the same,
    /// and a late claim cannot replace it ([`Record::replaceable_by`]).
    async fn finish(&self, key: &Fingerprint, token: &str, done: &Record)
    -> Result<(), StoreError>;
    /// A cheap read during start-up: checks the store and opens its connection.
    async fn start(&self) -> Result<(), String> {
        Ok(())
    }
    /// Whether other instances share it (a table): only then does recording an outcome take time.
    fn shared(&self) -> bool {
        false
    }
}

/// Counters by bucket, behind the limits (the per-number limit today): atomic, shared by every
/// instance when the store is.
#[async_trait::async_trait]
pub trait Counters: Send + Sync {
    /// Counts one send in `bucket` unless it already holds `limit`; `false` when over.
    async fn count(&self, bucket: &str, limit: u64, expires_at: u64) -> Result<bool, StoreError>;
    /// Takes back one send counted in `bucket` (it certainly did not go out).
    async fn uncount(&self, bucket: &str) -> Result<(), StoreError>;
    /// Marks `name` blocked until `until` (seconds since the epoch), replacing any earlier mark.
    async fn block(&self, name: &str, until: u64) -> Result<(), StoreError>;
    /// Until when `name` is blocked, if it was ever marked (the mark may have passed already).
    async fn blocked_until(&self, name: &str) -> Result<Option<u64>, StoreError>;
}
