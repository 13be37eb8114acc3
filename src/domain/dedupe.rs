//! At most one SMS per Mosaic re-send, and the per-number limit.
//!
//! Mosaic waits about 3 s, then sends the same request again (up to twice); on Lambda the re-send
//! usually reaches another instance, because the first is still busy. Every send is therefore
//! claimed first in a store shared by all instances (a DynamoDB table, `IDEMPOTENCY_TABLE`), keyed
//! by an HMAC of the number and the message: an identical request within the window
//! (`DEDUPE_WINDOW_SECONDS`) gets the first one's message id instead of a second SMS, or waits for
//! the first one's outcome while it is still in flight. A first send that certainly failed lets the
//! re-send go; one that may have been sent (a timeout, a lost or unreadable answer) does not, within
//! the window: a passcode is sent at most once, and the answer says its delivery is unknown.
//!
//! Without a table the store lives in the process, which covers re-sends that reach the same
//! instance only.
//!
//! The HMAC key is the gateway's fingerprint key (`fingerprint_key` in the secret), or without one
//! the API key the request presented (Mosaic's re-sends present the same one), so the store holds
//! neither a number nor a message, and nothing in it can be turned back into one without the key.
//!
//! One word for it in the code: *dedupe* (this module, [`Dedupe`], the [`DedupeStore`] port it
//! works over, the store's `dedupe` fields). Only the names outside the code keep the older word,
//! as they are the contract: the setting `IDEMPOTENCY_TABLE` and the metric
//! `IdempotencyStoreErrors`.

use crate::domain::limits::{BlockRead, LimitSettings, Limits, Plan, Refusal};
use crate::domain::outcome::{Delivery, Held};
use crate::domain::ports::{
    Claimed, Counters, DedupeStore, Fingerprint, MetricsSink, NoMetrics, Record, State, StoreError,
};
use crate::domain::sms::SmsRequest;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Mosaic re-sends after about 3 s, twice at most: 30 s covers both with room for a slow cold
/// start, and stays under the 60 s most login pages make a user wait before "resend code" (a
/// deliberate resend of the same code must go out).
pub const DEFAULT_DEDUPE_WINDOW: Duration = Duration::from_secs(30);

/// How often a request waiting for another instance's send looks at its outcome.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// An in-flight claim outlives its sender's deadline by this much, to cover clock skew between
/// instances. After that its sender is gone (crashed, or it could not record the outcome): the send
/// may have gone out, so the claim answers as maybe sent until the record expires.
const LEASE_GRACE: Duration = Duration::from_millis(500);

/// Recording an outcome gets at least this long, even when the send used up its deadline.
const MIN_FINISH: Duration = Duration::from_millis(50);

/// What a send does when the store cannot answer (`LIMITS_ON_STORE_FAILURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreFailure {
    /// Send without the duplicate check and the limits (the default: a lost passcode locks a
    /// person out, a duplicate costs one SMS). Counted in a metric an alarm watches.
    Open,
    /// Answer 503 `limits_unavailable` and send nothing: for operators whose limits are their
    /// defence against SMS pumping and who prefer a failed login to an unchecked send.
    Closed,
}

/// Settings: `IDEMPOTENCY_TABLE`, `DEDUPE_WINDOW_SECONDS`, the limits,
/// `LIMITS_ON_STORE_FAILURE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub table: Option<String>,
    pub window: Duration,
    pub limits: LimitSettings,
    pub on_store_failure: OnStoreFailure,
}

impl Default for Settings {
    /// No table, the default window, no limit, open on store failures.
    fn default() -> Self {
        Self {
            table: None,
            window: DEFAULT_DEDUPE_WINDOW,
            limits: LimitSettings::default(),
            on_store_failure: OnStoreFailure::Open,
        }
    }
}

impl Settings {
    pub fn from_env(env: &crate::settings::Env) -> Result<Self, crate::settings::ConfigError> {
        let window = env.number(
            "DEDUPE_WINDOW_SECONDS",
            0..=86_400,
            DEFAULT_DEDUPE_WINDOW.as_secs(),
        )?;
        let on_store_failure = match env.optional("LIMITS_ON_STORE_FAILURE").as_deref() {
            None | Some("open") => OnStoreFailure::Open,
            Some("closed") => OnStoreFailure::Closed,
            Some(other) => {
                return Err(crate::settings::ConfigError::invalid(
                    "LIMITS_ON_STORE_FAILURE",
                    format!("must be open or closed, got {other:?}"),
                ));
            }
        };
        Ok(Self {
            table: env.optional("IDEMPOTENCY_TABLE"),
            window: Duration::from_secs(window),
            limits: LimitSettings::from_env(env)?,
            on_store_failure,
        })
    }
}

/// A claimed send (or, when the store failed, one that may or may not be claimed).
#[derive(Debug)]
pub struct Ticket {
    key: Fingerprint,
    /// `None` when nothing was claimed (no dedupe window).
    token: Option<String>,
    expires_at: u64,
    /// When the claim was issued (the record keeps it: [`Record::replaceable_by`]).
    claimed_ms: u64,
    /// The counters this send was counted in (the limits'), to give back if it is not sent.
    counted: Vec<String>,
}

/// How the store's calls share the send deadline (`SEND_DEADLINE_MS`).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// The claim and the count, together, before the send: a slow store must not eat the
    /// provider's time (then the send goes ahead unchecked).
    pub before_send: Duration,
    /// Kept back from the providers at the end of the deadline for recording the outcome, so the
    /// answer still leaves in time and the record is there before the claim's lease ends.
    pub after_send: Duration,
    /// The least time left for which claiming again is worth it, once an identical request
    /// certainly failed: a provider's send and the recording of its outcome. With less, the
    /// request answers `TooLate` (502) instead of claiming a send it could only cut in half (a
    /// maybe-sent that blocks every re-send). [`Budget::with_min_send`] sets it from the
    /// providers' own minimum; [`Budget::of`] starts from a fifth of the deadline, the share the
    /// store's calls get before a send, for providers that state no minimum.
    pub to_send: Duration,
}

/// The store's shares of the deadline: a fifth before the send, a tenth after it.
const BEFORE_SEND_SHARE: u32 = 5;
const AFTER_SEND_SHARE: u32 = 10;

impl Budget {
    /// A fifth of the deadline before the send, a tenth after it (500 ms and 250 ms of 2.5 s).
    pub fn of(deadline: Duration) -> Self {
        Self {
            before_send: deadline / BEFORE_SEND_SHARE,
            after_send: deadline / AFTER_SEND_SHARE,
            to_send: deadline / BEFORE_SEND_SHARE,
        }
    }

    /// What the store's calls may take of the deadline, before and after the send together.
    pub fn reserved(&self) -> Duration {
        self.before_send.saturating_add(self.after_send)
    }

    /// The shortest deadline that still leaves `min_send` to the providers once the store's calls
    /// had their shares: d - d/5 - d/10 >= min, so d >= min * 10 / 7.
    pub fn least_deadline_for(min_send: Duration) -> Duration {
        let (before, after) = (u128::from(BEFORE_SEND_SHARE), u128::from(AFTER_SEND_SHARE));
        let scaled = min_send.as_millis() * before * after;
        let least = scaled.div_ceil(before * after - before - after);
        Duration::from_millis(u64::try_from(least).unwrap_or(u64::MAX))
    }

    /// With providers that need `min_send` to send: `to_send` is that and the time to record the
    /// outcome, never less than the default.
    pub fn with_min_send(self, min_send: Duration) -> Self {
        Self {
            to_send: self.to_send.max(min_send.saturating_add(self.after_send)),
            ..self
        }
    }
}

pub struct Dedupe {
    store: Arc<dyn DedupeStore>,
    limits: Limits,
    window: Duration,
    on_store_failure: OnStoreFailure,
    budget: Budget,
    /// Whether the store is shared (a table): only then does recording an outcome take time.
    shared: bool,
    /// Every store failure is counted (`IdempotencyStoreErrors`).
    metrics: Arc<dyn MetricsSink>,
}

impl Dedupe {
    /// `store` keeps both the send records and the per-number counters.
    pub fn new<S>(store: S, settings: &Settings, budget: Budget) -> Self
    where
        S: DedupeStore + Counters + 'static,
    {
        let store = Arc::new(store);
        let counters: Arc<dyn Counters> = store.clone();
        Self {
            shared: store.shared(),
            store,
            limits: Limits::new(counters, settings.limits.clone()),
            window: settings.window,
            on_store_failure: settings.on_store_failure,
            budget,
            metrics: Arc::new(NoMetrics),
        }
    }

    /// Counts store failures in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn MetricsSink>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Whether the limits count by country (so a send's country must be known).
    pub fn counts_countries(&self) -> bool {
        self.limits.counts_countries()
    }

    pub async fn start(&self) -> Result<(), String> {
        self.store.start().await
    }

    /// When the providers must be done for the outcome to be recorded by `deadline`.
    pub fn send_until(&self, deadline: Instant) -> Instant {
        if self.shared && self.window > Duration::ZERO {
            deadline
                .checked_sub(self.budget.after_send)
                .unwrap_or(deadline)
        } else {
            deadline
        }
    }

    /// The provider idempotency key of `sms` under `key` at `now_ms` ([`SmsRequest::idempotency_key`]):
    /// an HMAC of the number, the message and the dedupe window's slot of time, so re-sends in
    /// one slot share it. A re-send that crosses into the next slot gets a new one (Mosaic's,
    /// 3 s after the first, one in ten with the default 30 s window, one in 200 with 10
    /// minutes): the gateway's own dedupe stays the first guard. Without a window
    /// (`DEDUPE_WINDOW_SECONDS=0`) every request gets its own.
    pub fn provider_key(&self, key: &[u8], sms: &SmsRequest, now_ms: u64) -> String {
        let slot = match self.window.as_millis() as u64 {
            0 => crate::domain::keys::unique_hex(),
            window => (now_ms / window).to_string(),
        };
        let parts = [sms.phone_number.as_str(), sms.message.as_str(), &slot];
        Fingerprint::of(key, "provider", &parts).hex()
    }

    /// Claims `sms` (sent with API key `key`) for this request, waiting up to `deadline` for an
    /// identical request's outcome. A store that fails lets the send go unchecked: losing a
    /// passcode is worse than sending it twice.
    pub async fn admit(
        &self,
        key: &[u8],
        sms: &SmsRequest,
        deadline: Instant,
    ) -> Result<Ticket, Held> {
        let phone = sms.phone_number.as_str();
        let send_key = Fingerprint::of(key, "send", &[phone, sms.message.as_str()]);
        // The store's calls before the send: never past their share of the deadline.
        let store_until = || deadline.min(from_now(self.budget.before_send));
        let plan = self
            .limits
            .any()
            .then(|| self.limits.plan(key, sms, now_ms()));
        if self.window.is_zero() {
            // DEDUPE_WINDOW_SECONDS=0: no duplicate check, only the limit.
            let ticket = Ticket {
                key: send_key,
                token: None,
                expires_at: 0,
                claimed_ms: 0,
                counted: Vec::new(),
            };
            let until = store_until();
            let block = self.read_block(plan.as_ref(), until).await;
            return self.limit(plan.as_ref(), block, ticket, until).await;
        }
        let token = crate::domain::keys::unique_hex();
        loop {
            let (claim, now) = self.claim_record(&token, deadline);
            let until = store_until();
            // The prefix's block is read beside the claim (it is not counted yet: the count
            // waits for the claim).
            let (claimed, block) = tokio::join!(
                self.within(until, "claim", self.store.claim(&send_key, &claim, now)),
                self.read_block(plan.as_ref(), until)
            );
            // Kept even when the claim failed: it may have been written all the same, and then
            // the outcome is recorded on it (finish checks the token).
            let ticket = || Ticket {
                key: send_key.clone(),
                token: Some(token.clone()),
                expires_at: claim.expires_at,
                claimed_ms: claim.claimed_ms,
                counted: Vec::new(),
            };
            let existing = match claimed {
                Ok(Claimed::Ours) => {
                    return self.limit(plan.as_ref(), block, ticket(), until).await;
                }
                Ok(Claimed::Taken(record)) => record,
                Err(err) => return self.unchecked(&err, ticket(), until).await,
            };
            match self.wait(&send_key, existing, deadline).await {
                Some(held) => return Err(held),
                // The other send certainly failed (or its record expired): claim again, if the
                // deadline leaves the time to send.
                None if deadline.saturating_duration_since(Instant::now())
                    < self.budget.to_send =>
                {
                    return Err(Held::TooLate);
                }
                None => {}
            }
        }
    }

    /// The in-flight claim `token` writes now, and now in wall-clock milliseconds. The store keeps
    /// wall-clock times, because other instances read them; this request's own deadline is a
    /// monotonic `Instant`. Here, and only here, one becomes the other.
    fn claim_record(&self, token: &str, deadline: Instant) -> (Record, u64) {
        let now = now_ms();
        let lease = deadline
            .saturating_duration_since(Instant::now())
            .saturating_add(LEASE_GRACE);
        let lease_until_ms = now.saturating_add(millis(lease));
        let claim = Record {
            state: State::InFlight,
            token: token.to_owned(),
            lease_until_ms,
            // Never before the lease: an expired record may be replaced even in flight.
            expires_at: (now.saturating_add(millis(self.window)))
                .max(lease_until_ms)
                .div_ceil(1000),
            claimed_ms: now,
            provider: None,
            message_id: None,
        };
        (claim, now)
    }

    /// Follows another request's claim until it ends: `None` when it failed or lapsed (this one
    /// may send).
    async fn wait(&self, key: &Fingerprint, mut record: Record, deadline: Instant) -> Option<Held> {
        loop {
            match record.state {
                State::Sent => {
                    return Some(Held::Duplicate {
                        provider: record.provider.unwrap_or_default(),
                        message_id: record.message_id.unwrap_or_default(),
                    });
                }
                // A claim this request issues now would be issued after the record's own.
                _ if record.replaceable_by(now_ms(), now_ms()) => return None,
                State::Unknown => return Some(Held::MaybeSentBefore),
                State::InFlight if record.lease_until_ms <= now_ms() => {
                    return Some(Held::MaybeSentBefore);
                }
                _ => {}
            }
            let lease_left = Duration::from_millis(record.lease_until_ms.saturating_sub(now_ms()));
            let next = from_now(POLL_INTERVAL.min(lease_left));
            if next >= deadline {
                return Some(Held::StillInFlight);
            }
            tokio::time::sleep_until(next).await;
            match self.within(deadline, "look", self.store.look(key)).await {
                Ok(Some(latest)) => record = latest,
                Ok(None) => return None,
                Err(err) => {
                    tracing::error!(error = %err, "the idempotency store cannot be read");
                    return Some(Held::StillInFlight);
                }
            }
        }
    }

    /// Counts the send against the limits (number, prefix, country), once it is ours to send.
    async fn limit(
        &self,
        plan: Option<&Plan>,
        block: BlockRead,
        ticket: Ticket,
        until: Instant,
    ) -> Result<Ticket, Held> {
        let Some(plan) = plan else {
            return Ok(ticket);
        };
        match self.limits.count(plan, block, until).await {
            Ok(counted) => {
                let ticket = Ticket {
                    counted: counted.buckets,
                    ..ticket
                };
                let Some(refusal) = counted.refusal else {
                    return Ok(ticket);
                };
                // Not sent: the counts it took are given back with the claim's release.
                self.finish(ticket, Delivery::NotSent, until).await;
                Err(match refusal {
                    Refusal::Number { limit } => Held::OverLimit { limit },
                    Refusal::Prefix => Held::PrefixBlocked,
                    Refusal::Country { country, limit } => Held::CountryLimit { country, limit },
                })
            }
            Err(failure) => {
                self.metrics.store_error("count");
                // Only the counts that certainly landed are given back, if the send certainly does
                // not go out (closed, or a provider's certain non-send): one whose fate is unknown
                // stays counted, as a count given back that never landed would take another
                // send's, and a flood that throttles the table would raise every cap by one per
                // failure.
                let ticket = Ticket {
                    counted: failure.certain,
                    ..ticket
                };
                self.unchecked(&failure.error, ticket, until).await
            }
        }
    }

    /// The prefix's block, when a plan limits prefixes.
    async fn read_block(&self, plan: Option<&Plan>, until: Instant) -> BlockRead {
        self.limits.read_block(plan?, until).await
    }

    /// Records what became of a ticket's send, so a re-send answers `duplicate` or may go; gives
    /// up at `until` (the send deadline), however little time is left then.
    pub async fn finish(&self, ticket: Ticket, outcome: Delivery<'_>, until: Instant) {
        // Not past the deadline: Mosaic is waiting for the answer, and the claim's lease ends
        // soon after it.
        let until = until.max(from_now(MIN_FINISH));
        // A send that certainly did not go out does not count against any limit.
        let refund_buckets: &[String] = match outcome {
            Delivery::NotSent => &ticket.counted,
            _ => &[],
        };
        let refund = async {
            let mut result = Ok(());
            for bucket in refund_buckets {
                if let Err(err) = self.limits.give_back(bucket).await {
                    result = Err(err);
                }
            }
            result
        };
        let record = async {
            let Some(token) = &ticket.token else {
                return Ok(());
            };
            let (state, provider, message_id) = match outcome {
                Delivery::Sent {
                    provider,
                    message_id,
                } => (
                    State::Sent,
                    Some(provider.to_owned()),
                    Some(message_id.to_owned()),
                ),
                Delivery::NotSent => (State::Failed, None, None),
                Delivery::MaybeSent => (State::Unknown, None, None),
            };
            let done = Record {
                state,
                token: token.clone(),
                lease_until_ms: 0,
                expires_at: ticket.expires_at,
                claimed_ms: ticket.claimed_ms,
                provider,
                message_id,
            };
            self.store.finish(&ticket.key, token, &done).await
        };
        let both = async { tokio::join!(record, refund) };
        match tokio::time::timeout_at(until, both).await {
            Ok((recorded, refunded)) => {
                for result in [recorded, refunded] {
                    if let Err(err) = result {
                        self.metrics.store_error("finish");
                        tracing::error!(error = %err, "cannot record the send's outcome in the idempotency store");
                    }
                }
            }
            Err(_) => {
                self.metrics.store_error("finish");
                tracing::error!(
                    "recording the send's outcome in the idempotency store did not finish by the deadline"
                )
            }
        }
    }

    /// The store failed before the send (claim or count): `LIMITS_ON_STORE_FAILURE` decides.
    async fn unchecked(
        &self,
        err: &StoreError,
        ticket: Ticket,
        until: Instant,
    ) -> Result<Ticket, Held> {
        match self.on_store_failure {
            OnStoreFailure::Open => {
                tracing::error!(
                    error = %err,
                    "the idempotency store cannot be used: sending without the duplicate check or the limits (LIMITS_ON_STORE_FAILURE=open)"
                );
                Ok(ticket)
            }
            OnStoreFailure::Closed => {
                tracing::error!(
                    error = %err,
                    "the idempotency store cannot be used: not sending (LIMITS_ON_STORE_FAILURE=closed)"
                );
                // A claim that did land is released for Mosaic's re-send (if the store takes it).
                self.finish(ticket, Delivery::NotSent, until).await;
                Err(Held::StoreUnavailable)
            }
        }
    }

    /// One store call, given up at `until`; a failure is counted.
    async fn within<T>(
        &self,
        until: Instant,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = tokio::time::timeout_at(until, call)
            .await
            .unwrap_or_else(|_| Err(StoreError("no answer in the time it was given".into())));
        if result.is_err() {
            self.metrics.store_error(operation);
        }
        result
    }
}

/// `d` from now; durations here are parts of a deadline of at most a minute, and a sum that
/// cannot be represented ends now rather than panic.
fn from_now(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or(now)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::MemoryStore;
    use crate::adapters::store::fakes::{Down, FailingCounts};

    fn sms(phone: &str, message: &str) -> SmsRequest {
        SmsRequest::from_json(&serde_json::json!({"phone_number": phone, "message": message}))
            .unwrap()
    }

    fn memory(window_s: u64, limit: Option<u64>) -> Dedupe {
        Dedupe::new(
            MemoryStore::default(),
            &Settings {
                table: None,
                window: Duration::from_secs(window_s),
                limits: LimitSettings {
                    per_number: limit,
                    ..LimitSettings::default()
                },
                on_store_failure: OnStoreFailure::Open,
            },
            Budget::of(Duration::from_millis(2500)),
        )
    }

    async fn sent(idem: &Dedupe, ticket: Ticket, message_id: &str) {
        let outcome = Delivery::Sent {
            provider: "sns",
            message_id,
        };
        idem.finish(ticket, outcome, deadline()).await;
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_millis(2500)
    }

    #[test]
    fn a_re_claim_needs_the_providers_minimum_and_the_time_to_record_the_outcome() {
        let ms = Duration::from_millis;
        let budget = Budget::of(ms(2500)).with_min_send(ms(1000));
        assert_eq!(
            budget.to_send,
            ms(1250),
            "1 s and the 250 ms kept for the outcome"
        );
        assert_eq!(
            Budget::of(ms(10_000)).with_min_send(ms(1000)).to_send,
            ms(2000)
        );
        // 1429 ms leaves 1 s once a fifth and a tenth are kept for the store; 1428 does not.
        let least = Budget::least_deadline_for(ms(1000));
        assert_eq!(least, ms(1429));
        assert!(least - Budget::of(least).reserved() >= ms(1000));
        assert!(ms(1428) - Budget::of(ms(1428)).reserved() < ms(1000));
    }

    #[test]
    fn a_provider_key_is_shared_within_a_window_slot_only() {
        let dedupe = memory(600, None);
        let code_1 = sms("+14155550100", "code 1");
        let at = |ms| dedupe.provider_key(b"k", &code_1, ms);
        let slot = 600_000 * 3_000_000;
        assert_eq!(at(slot), at(slot + 599_999));
        assert_ne!(at(slot), at(slot + 600_000));
        assert_ne!(at(slot), dedupe.provider_key(b"other", &code_1, slot));
        let other = sms("+14155550100", "code 2");
        assert_ne!(at(slot), dedupe.provider_key(b"k", &other, slot));
        assert_eq!(at(slot).len(), 64);
        assert!(!at(slot).contains("4155550100"));
        let no_window = memory(0, None);
        assert_ne!(
            no_window.provider_key(b"k", &code_1, slot),
            no_window.provider_key(b"k", &code_1, slot)
        );
    }

    #[test]
    fn fingerprints_depend_on_key_number_and_message() {
        let a = Fingerprint::of(b"k", "send", &["+14155550100", "code 1"]);
        assert_eq!(
            a,
            Fingerprint::of(b"k", "send", &["+14155550100", "code 1"])
        );
        assert_ne!(
            a,
            Fingerprint::of(b"k2", "send", &["+14155550100", "code 1"])
        );
        assert_ne!(
            a,
            Fingerprint::of(b"k", "send", &["+14155550100", "code 2"])
        );
        assert_ne!(
            a,
            Fingerprint::of(b"k", "send", &["+14155550101", "code 1"])
        );
        assert_ne!(
            Fingerprint::of(b"k", "send", &["ab", "c"]),
            Fingerprint::of(b"k", "send", &["a", "bc"])
        );
        assert!(!format!("{a:?}").contains("4155550100"));
    }

    #[tokio::test]
    async fn a_sent_message_is_a_duplicate_within_the_window() {
        let idem = memory(30, None);
        let first = sms("+14155550100", "code 1");
        let Ok(ticket) = idem.admit(b"k", &first, deadline()).await else {
            panic!("the first one sends")
        };
        sent(&idem, ticket, "m-1").await;
        match idem.admit(b"k", &first, deadline()).await {
            Err(Held::Duplicate {
                provider,
                message_id,
            }) => {
                assert_eq!((provider.as_str(), message_id.as_str()), ("sns", "m-1"))
            }
            other => panic!("expected a duplicate, got {other:?}"),
        }
        // Another message to the same number, or the same one under another key, is new.
        assert!(
            idem.admit(b"k", &sms("+14155550100", "code 2"), deadline())
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_failed_send_lets_the_re_send_go_and_a_maybe_sent_one_does_not() {
        let idem = memory(30, None);
        let request = sms("+14155550100", "code 1");
        for _ in 0..2 {
            let Ok(ticket) = idem.admit(b"k", &request, deadline()).await else {
                panic!("a certainly failed send lets the next one go")
            };
            idem.finish(ticket, Delivery::NotSent, deadline()).await;
        }
        let Ok(ticket) = idem.admit(b"k", &request, deadline()).await else {
            panic!("sends")
        };
        idem.finish(ticket, Delivery::MaybeSent, deadline()).await;
        assert!(matches!(
            idem.admit(b"k", &request, deadline()).await,
            Err(Held::MaybeSentBefore)
        ));
    }

    #[tokio::test]
    async fn a_window_of_zero_never_dedupes() {
        let idem = memory(0, None);
        let request = sms("+14155550100", "code 1");
        for _ in 0..2 {
            let Ok(ticket) = idem.admit(b"k", &request, deadline()).await else {
                panic!("sends")
            };
            sent(&idem, ticket, "m").await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_re_send_waits_for_the_first_outcome() {
        let idem = std::sync::Arc::new(memory(30, None));
        let request = sms("+14155550100", "code 1");
        let Ok(ticket) = idem.admit(b"k", &request, deadline()).await else {
            panic!("sends")
        };
        let waiting = {
            let (idem, request) = (idem.clone(), request.clone());
            tokio::spawn(async move { idem.admit(b"k", &request, deadline()).await })
        };
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(
            !waiting.is_finished(),
            "the re-send waits while the first is in flight"
        );
        sent(&idem, ticket, "m-1").await;
        assert!(matches!(
            waiting.await.unwrap(),
            Err(Held::Duplicate { .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_re_send_still_in_flight_at_the_deadline_sends_nothing() {
        let idem = memory(30, None);
        let request = sms("+14155550100", "code 1");
        let _first = idem.admit(b"k", &request, deadline()).await;
        let soon = Instant::now() + Duration::from_millis(300);
        assert!(matches!(
            idem.admit(b"k", &request, soon).await,
            Err(Held::StillInFlight)
        ));
    }

    #[tokio::test]
    async fn a_store_that_is_down_lets_the_send_go() {
        let settings = Settings {
            table: None,
            window: DEFAULT_DEDUPE_WINDOW,
            limits: LimitSettings {
                per_number: Some(1),
                ..LimitSettings::default()
            },
            on_store_failure: OnStoreFailure::Open,
        };
        let idem = Dedupe::new(Down, &settings, Budget::of(Duration::from_millis(2500)));
        let request = sms("+14155550100", "code 1");
        match idem.admit(b"k", &request, deadline()).await {
            // The claim may have landed: its token is kept, to record the outcome on it.
            Ok(ticket) => assert!(ticket.token.is_some()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_re_claim_with_too_little_time_left_answers_instead_of_sending() {
        let idem = std::sync::Arc::new(memory(30, None));
        let request = sms("+14155550100", "code 1");
        let Ok(ticket) = idem.admit(b"k", &request, deadline()).await else {
            panic!("sends")
        };
        // The re-send has 400 ms; the first one fails after 300.
        let soon = Instant::now() + Duration::from_millis(400);
        let waiting = {
            let (idem, request) = (idem.clone(), request.clone());
            tokio::spawn(async move { idem.admit(b"k", &request, soon).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        idem.finish(ticket, Delivery::NotSent, deadline()).await;
        assert!(matches!(waiting.await.unwrap(), Err(Held::TooLate)));
    }

    #[tokio::test]
    async fn a_lapsed_in_flight_claim_blocks_as_maybe_sent_until_the_record_expires() {
        let store = MemoryStore::default();
        let key = Fingerprint::of(b"k", "send", &["+1", "m"]);
        let now = now_ms();
        // Its instance crashed, or could not record that it sent: the lease is over.
        let lapsed = Record {
            state: State::InFlight,
            token: "lapsed".into(),
            lease_until_ms: now - 1,
            expires_at: now / 1000 + 30,
            claimed_ms: now - 5000,
            provider: None,
            message_id: None,
        };
        assert!(matches!(
            store.claim(&key, &lapsed, now - 5000).await.unwrap(),
            Claimed::Ours
        ));
        let mine = Record {
            token: "mine".into(),
            lease_until_ms: now + 3000,
            ..lapsed.clone()
        };
        assert!(
            matches!(store.claim(&key, &mine, now).await.unwrap(), Claimed::Taken(r) if r.token == "lapsed")
        );
        // Once the record expires, the number is free again.
        let later = now + 31_000;
        assert!(matches!(
            store.claim(&key, &mine, later).await.unwrap(),
            Claimed::Ours
        ));
    }

    // Real time: leases are wall-clock milliseconds (they are compared across instances).
    #[tokio::test]
    async fn a_re_send_behind_a_lapsed_claim_answers_maybe_sent() {
        let idem = memory(30, None);
        let request = sms("+14155550100", "code 1");
        // The first request claims and never records an outcome (its instance is gone).
        let soon = Instant::now() + Duration::from_millis(100);
        let Ok(_lost) = idem.admit(b"k", &request, soon).await else {
            panic!("sends")
        };
        // The re-send waits out the lease, then answers instead of sending.
        assert!(matches!(
            idem.admit(b"k", &request, deadline()).await,
            Err(Held::MaybeSentBefore)
        ));
    }

    fn with_limits(limits: LimitSettings) -> Dedupe {
        let settings = Settings {
            limits,
            ..Settings::default()
        };
        Dedupe::new(
            MemoryStore::default(),
            &settings,
            Budget::of(Duration::from_millis(2500)),
        )
    }

    #[tokio::test]
    async fn a_prefix_over_its_share_is_blocked_for_every_number_in_it() {
        let idem = with_limits(LimitSettings {
            per_prefix: Some(2),
            ..LimitSettings::default()
        });
        // +1 415 555 01xx: one prefix (+1415555), four numbers.
        let a = idem
            .admit(b"k", &sms("+14155550101", "c1"), deadline())
            .await;
        sent(&idem, a.unwrap(), "m1").await;
        // A certain non-send is given back: it does not use up the prefix's share.
        let refunded = idem
            .admit(b"k", &sms("+14155550102", "c2"), deadline())
            .await;
        idem.finish(refunded.unwrap(), Delivery::NotSent, deadline())
            .await;
        let b = idem
            .admit(b"k", &sms("+14155550103", "c3"), deadline())
            .await;
        sent(&idem, b.unwrap(), "m3").await;
        // The third SMS in the hour: refused, and the prefix is blocked from now on.
        let third = idem
            .admit(b"k", &sms("+14155550104", "c4"), deadline())
            .await;
        assert!(matches!(third, Err(Held::PrefixBlocked)), "{third:?}");
        let again = idem
            .admit(b"k", &sms("+14155550101", "c5"), deadline())
            .await;
        assert!(matches!(again, Err(Held::PrefixBlocked)), "{again:?}");
        // Another prefix is not.
        let other = idem
            .admit(b"k", &sms("+14155560101", "c6"), deadline())
            .await;
        assert!(other.is_ok(), "{other:?}");
    }

    #[tokio::test]
    async fn a_claim_landing_after_its_request_recorded_not_sent_does_not_replace_the_record() {
        let store = MemoryStore::default();
        let key = Fingerprint::of(b"k", "send", &["+14155550100", "code 1"]);
        let issued = now_ms();
        let claim = |token: &str, claimed_ms: u64| Record {
            state: State::InFlight,
            token: token.into(),
            lease_until_ms: claimed_ms + 5_000,
            expires_at: claimed_ms / 1000 + 30,
            claimed_ms,
            provider: None,
            message_id: None,
        };
        // The claim's write failed (or is still on its way): "not sent" is recorded all the same...
        let failed = Record {
            state: State::Failed,
            ..claim("t1", issued)
        };
        store.finish(&key, "t1", &failed).await.unwrap();
        assert_eq!(store.look(&key).await.unwrap(), Some(failed));
        // ...so the claim, landing late, finds it and leaves it...
        let late = store.claim(&key, &claim("t1", issued), now_ms()).await;
        assert!(matches!(late, Ok(Claimed::Taken(_))), "{late:?}");
        // ...and Mosaic's re-send, issued after it, may claim, and send...
        let resend = store
            .claim(&key, &claim("t2", issued + 300), now_ms())
            .await;
        assert!(matches!(resend, Ok(Claimed::Ours)), "{resend:?}");
        let resend_failed = Record {
            state: State::Failed,
            ..claim("t2", issued + 300)
        };
        store.finish(&key, "t2", &resend_failed).await.unwrap();
        // ...and a late claim issued before the re-send's does not replace the re-send's outcome
        // either.
        let later_still = store.claim(&key, &claim("t1", issued), now_ms()).await;
        assert!(
            matches!(later_still, Ok(Claimed::Taken(_))),
            "{later_still:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_count_is_never_given_back_when_nothing_is_sent() {
        let store = FailingCounts::new("c#");
        let failing = store.failing.clone();
        failing.store(false, std::sync::atomic::Ordering::SeqCst);
        let settings = Settings {
            limits: LimitSettings {
                per_country: crate::domain::limits::CountryCaps {
                    others: Some(3),
                    by_country: Default::default(),
                },
                ..LimitSettings::default()
            },
            on_store_failure: OnStoreFailure::Closed,
            ..Settings::default()
        };
        let idem = Dedupe::new(store, &settings, Budget::of(Duration::from_millis(2500)));
        for i in 0..3 {
            let phone = format!("+1415555010{i}");
            let ticket = idem.admit(b"k", &sms(&phone, "c"), deadline()).await;
            sent(&idem, ticket.unwrap(), "m").await;
        }
        // A throttled count: closed, nothing is sent, and the count that did not land is not
        // taken back from the three that did.
        failing.store(true, std::sync::atomic::Ordering::SeqCst);
        let throttled = idem
            .admit(b"k", &sms("+14155550104", "c"), deadline())
            .await;
        assert!(
            matches!(throttled, Err(Held::StoreUnavailable)),
            "{throttled:?}"
        );
        failing.store(false, std::sync::atomic::Ordering::SeqCst);
        let fourth = idem
            .admit(b"k", &sms("+14155550105", "c"), deadline())
            .await;
        assert!(
            matches!(fourth, Err(Held::CountryLimit { limit: 3, .. })),
            "three SMS in the hour already: {fourth:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_prefix_over_its_limit_refuses_though_its_block_write_never_answers() {
        for on_store_failure in [OnStoreFailure::Open, OnStoreFailure::Closed] {
            let store = FailingCounts {
                hang_blocks: true,
                ..FailingCounts::new("none#")
            };
            let settings = Settings {
                limits: LimitSettings {
                    per_prefix: Some(1),
                    ..LimitSettings::default()
                },
                on_store_failure,
                ..Settings::default()
            };
            let idem = Dedupe::new(store, &settings, Budget::of(Duration::from_millis(2500)));
            let first = idem
                .admit(b"k", &sms("+14155550101", "c1"), deadline())
                .await;
            sent(&idem, first.unwrap(), "m1").await;
            let over = idem
                .admit(b"k", &sms("+14155550102", "c2"), deadline())
                .await;
            assert!(
                matches!(over, Err(Held::PrefixBlocked)),
                "{on_store_failure:?}: {over:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_limit_that_refused_holds_though_another_count_failed() {
        let settings = Settings {
            limits: LimitSettings {
                per_number: Some(1),
                per_country: crate::domain::limits::CountryCaps {
                    others: Some(100),
                    by_country: Default::default(),
                },
                ..LimitSettings::default()
            },
            ..Settings::default()
        };
        // Every country count fails (a throttled table); the number's counts work.
        let failing = Dedupe::new(
            FailingCounts::new("c#"),
            &settings,
            Budget::of(Duration::from_millis(2500)),
        );
        let once = failing
            .admit(b"k", &sms("+14155550102", "c2"), deadline())
            .await;
        // Open on store failures: the first send goes unchecked...
        let ticket = once.unwrap();
        // ...and its number's count, which certainly landed, is given back when it is not sent.
        failing.finish(ticket, Delivery::NotSent, deadline()).await;
        let again = failing
            .admit(b"k", &sms("+14155550102", "c3"), deadline())
            .await;
        sent(&failing, again.unwrap(), "m3").await;
        let over = failing
            .admit(b"k", &sms("+14155550102", "c4"), deadline())
            .await;
        assert!(
            matches!(over, Err(Held::OverLimit { limit: 1 })),
            "the number's refusal stands: {over:?}"
        );
    }

    #[tokio::test]
    async fn a_blocked_prefix_counts_nothing_and_keeps_its_block() {
        let idem = with_limits(LimitSettings {
            per_prefix: Some(1),
            per_number: Some(100),
            ..LimitSettings::default()
        });
        let first = idem
            .admit(b"k", &sms("+14155550101", "c1"), deadline())
            .await;
        sent(&idem, first.unwrap(), "m1").await;
        let blocked = idem
            .admit(b"k", &sms("+14155550102", "c2"), deadline())
            .await;
        assert!(matches!(blocked, Err(Held::PrefixBlocked)), "{blocked:?}");
        let mark = prefix_block_mark(&idem, "+14155550102").await;
        // A flood into the blocked range neither counts nor moves the block.
        for i in 0..5 {
            let request = sms("+14155550103", &format!("flood {i}"));
            assert!(matches!(
                idem.admit(b"k", &request, deadline()).await,
                Err(Held::PrefixBlocked)
            ));
        }
        assert_eq!(prefix_block_mark(&idem, "+14155550102").await, mark);
    }

    async fn prefix_block_mark(idem: &Dedupe, phone: &str) -> Option<u64> {
        let plan = idem.limits.plan(b"k", &sms(phone, "x"), now_ms());
        idem.limits.block_until_for_tests(&plan).await
    }

    #[tokio::test]
    async fn a_country_over_its_cap_gets_nothing_and_others_go_on() {
        let lv = crate::domain::country::Country::parse("LV");
        let idem = with_limits(LimitSettings {
            per_country: crate::domain::limits::CountryCaps {
                others: Some(100),
                by_country: [(lv.unwrap(), 1)].into(),
            },
            ..LimitSettings::default()
        });
        let latvian = |phone: &str, message: &str| {
            let mut request = sms(phone, message);
            request.country = lv;
            request
        };
        let first = idem
            .admit(b"k", &latvian("+37120000001", "c1"), deadline())
            .await;
        sent(&idem, first.unwrap(), "m1").await;
        let second = idem
            .admit(b"k", &latvian("+37120000002", "c2"), deadline())
            .await;
        assert!(
            matches!(second, Err(Held::CountryLimit { country, limit: 1 }) if country == lv),
            "{second:?}"
        );
        let us = idem
            .admit(b"k", &sms("+14155550101", "c3"), deadline())
            .await;
        assert!(us.is_ok(), "{us:?}");
    }

    #[tokio::test]
    async fn the_per_number_limit_counts_sends_per_hour() {
        let idem = memory(30, Some(2));
        let mut sends = 0;
        for i in 0..4 {
            match idem
                .admit(b"k", &sms("+14155550100", &format!("code {i}")), deadline())
                .await
            {
                Ok(ticket) => {
                    sends += 1;
                    sent(&idem, ticket, "m").await;
                }
                Err(Held::OverLimit { limit }) => assert_eq!(limit, 2),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(sends, 2);
        // Another number has its own count, and a send that certainly did not go out is taken
        // back.
        let Ok(ticket) = idem
            .admit(b"k", &sms("+14155550101", "code 8"), deadline())
            .await
        else {
            panic!("sends")
        };
        idem.finish(ticket, Delivery::NotSent, deadline()).await;
        let Ok(ticket) = idem
            .admit(b"k", &sms("+14155550101", "code 7"), deadline())
            .await
        else {
            panic!("the failed one was not counted")
        };
        idem.finish(ticket, Delivery::MaybeSent, deadline()).await;
        assert!(
            idem.admit(b"k", &sms("+14155550101", "code 9"), deadline())
                .await
                .is_ok()
        );
    }
}
