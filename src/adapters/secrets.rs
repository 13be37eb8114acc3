//! Where the API keys come from: a fixed key (local use), or an AWS Secrets Manager secret read at
//! start-up and cached. The same secret may hold provider credentials (Twilio's); they are read in
//! the same read and live under the same cache, so rotating them needs no redeploy.
//!
//! The cache is what keeps a rotation painless and Secrets Manager quiet: a fetched secret is trusted
//! for its TTL; a key that matches neither cached key triggers one re-read (so a rotated key works
//! within seconds), but at most once every [`MIN_REFRESH_INTERVAL`], so a flood of bad keys cannot
//! hammer Secrets Manager. Concurrent requests share one read instead of each making their own.

use crate::domain::keys::{ApiKey, FingerprintKey, KeySet};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Re-reads of the secret that requests can cause (an unknown key, provider credentials refused)
/// are this far apart at least, and so are reads after a permanent failure left nothing cached.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// With nothing cached after a read failed for a passing reason (throttling, an outage), reads
/// are this far apart: every request needs the keys, but a flood of them must not become a flood
/// of reads.
pub const NO_KEYS_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// How long cached keys outlive their TTL while Secrets Manager cannot be read for a reason that may
/// pass (throttling, an outage, a timeout): an hour of outage keeps logins working; past that, a
/// key nobody can vouch for stops working (`STALE_KEYS_MAX_SECONDS`).
pub const DEFAULT_STALE_KEYS_MAX: Duration = Duration::from_secs(3600);

/// The API keys could not be read, and none are cached: requests get 503 until a read succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the API keys cannot be read right now")]
pub struct KeysUnavailable;

/// Where a request's key is checked against.
// Built once at start-up and shared: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ApiKeys {
    Fixed(KeySet),
    SecretsManager(SecretKeys),
}

impl ApiKeys {
    /// Whether `presented` is a valid key. `Err` only when no keys could ever be read.
    pub async fn check(&self, presented: &[u8]) -> Result<bool, KeysUnavailable> {
        match self {
            Self::Fixed(keys) => Ok(keys.accepts(presented)),
            Self::SecretsManager(secret) => secret.check(presented).await,
        }
    }

    /// The secret as last read successfully, with any provider fields in it; `None` for a fixed
    /// key (provider credentials then come from the environment) or before the first good read.
    pub fn latest(&self) -> Option<Arc<SecretValue>> {
        match self {
            Self::Fixed(_) => None,
            Self::SecretsManager(secret) => secret
                .fresh
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|(value, _)| Arc::clone(value)),
        }
    }

    /// A provider refused credentials taken from `used` (the secret as [`latest`](Self::latest)
    /// gave it): they may have been rotated since. Returns a newer secret when one was read since
    /// `used`, by another request or by this call, which reads the secret at once unless a
    /// request-caused read happened within [`MIN_REFRESH_INTERVAL`]; `None` otherwise (a fixed
    /// key, or nothing newer). Concurrent callers share one read.
    pub async fn reread_after_refusal(
        &self,
        used: Option<&Arc<SecretValue>>,
    ) -> Option<Arc<SecretValue>> {
        match self {
            Self::Fixed(_) => None,
            Self::SecretsManager(secret) => secret.reread_after_refusal(used).await,
        }
    }

    /// The Secrets Manager secret's id, when the keys come from one.
    pub fn secret_id(&self) -> Option<&str> {
        match self {
            Self::Fixed(_) => None,
            Self::SecretsManager(secret) => Some(&secret.secret_id),
        }
    }

    /// Reads the secret now, so the first request does not pay for it (in Lambda this runs during
    /// init, which also opens the TLS connection). A failure is logged, not fatal: requests answer
    /// 503 and try again.
    pub async fn warm_up(&self) {
        if let Self::SecretsManager(secret) = self {
            let mut cache = secret.cache.lock().await;
            secret.refresh(&mut cache).await;
        }
    }
}

/// A Secrets Manager secret holding the API keys, with its cache.
pub struct SecretKeys {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    /// The keys and when to read them again; held across a read, so concurrent requests share one.
    cache: Mutex<Cache>,
    /// The keys of the last successful read and when they stop being fresh, for the common case
    /// (a known key, a fresh secret) to be checked without waiting behind a read that some unknown
    /// key started.
    fresh: RwLock<Option<(Arc<SecretValue>, Instant)>>,
    /// Reads attempted so far: a request that sees it change while it waits for the lock knows a
    /// read happened meanwhile (instants can compare equal; a counter cannot).
    attempts: AtomicU64,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKeys")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

struct Cache {
    /// `Some` exactly while `schedule` has a read time for them.
    keys: Option<Arc<SecretValue>>,
    schedule: ReadSchedule,
}

impl SecretKeys {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: String, ttl: Duration) -> Self {
        Self::with_min_refresh(client, secret_id, ttl, MIN_REFRESH_INTERVAL)
    }

    /// As [`SecretKeys::new`], with another spacing between re-reads (tests use zero).
    pub fn with_min_refresh(
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        ttl: Duration,
        min_refresh: Duration,
    ) -> Self {
        Self {
            client,
            secret_id,
            cache: Mutex::new(Cache {
                keys: None,
                schedule: ReadSchedule::new(ttl, min_refresh, DEFAULT_STALE_KEYS_MAX),
            }),
            fresh: RwLock::new(None),
            attempts: AtomicU64::new(0),
        }
    }

    /// As built, with another cap on serving stale keys (`STALE_KEYS_MAX_SECONDS`).
    pub fn with_stale_keys_max(mut self, stale_max: Duration) -> Self {
        self.cache.get_mut().schedule.stale_max = stale_max;
        self
    }

    /// Forgets the cached secret: keys and provider credentials stop working at once.
    fn drop_cached(&self, cache: &mut Cache) {
        cache.keys = None;
        cache.schedule.fetched_at = None;
        *self.fresh.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn check(&self, presented: &[u8]) -> Result<bool, KeysUnavailable> {
        if let Some((secret, fresh_until)) = &*self.fresh.read().unwrap_or_else(|p| p.into_inner())
            && Instant::now() < *fresh_until
            && secret.keys.accepts(presented)
        {
            return Ok(true);
        }
        let attempts_before = self.attempts.load(Ordering::Acquire);
        let mut cache = self.cache.lock().await;
        // A read that finished while this request waited for the lock is as fresh as one of its own.
        let read_while_waiting = self.attempts.load(Ordering::Acquire) != attempts_before;

        // Keys served stale for too long (reads kept failing) are no longer trusted.
        if cache.schedule.too_stale(Instant::now()) {
            tracing::error!(
                secret_id = %self.secret_id,
                stale_keys_max_seconds = cache.schedule.stale_max.as_secs(),
                "the API keys could not be read again for too long: no longer accepting the cached ones"
            );
            self.drop_cached(&mut cache);
        }
        let read_now = !read_while_waiting && cache.schedule.read_due(Instant::now());
        if read_now {
            self.refresh(&mut cache).await;
        }
        let secret = cache.keys.as_ref().ok_or(KeysUnavailable)?;
        if secret.keys.accepts(presented) {
            return Ok(true);
        }
        // An unknown key may be a new one from a rotation we have not seen yet.
        if !read_now && !read_while_waiting && cache.schedule.request_may_read(Instant::now()) {
            tracing::info!(secret_id = %self.secret_id, "unknown API key: reading the secret again in case it was rotated");
            cache.schedule.last_requested = Some(Instant::now());
            self.refresh(&mut cache).await;
            return Ok(cache
                .keys
                .as_ref()
                .is_some_and(|s| s.keys.accepts(presented)));
        }
        Ok(false)
    }

    async fn reread_after_refusal(
        &self,
        used: Option<&Arc<SecretValue>>,
    ) -> Option<Arc<SecretValue>> {
        let newer = |cache: &Cache| {
            cache
                .keys
                .as_ref()
                .filter(|keys| used.is_none_or(|used| !Arc::ptr_eq(keys, used)))
                .cloned()
        };
        let attempts_before = self.attempts.load(Ordering::Acquire);
        let mut cache = self.cache.lock().await;
        if let Some(newer) = newer(&cache) {
            return Some(newer);
        }
        let read_while_waiting = self.attempts.load(Ordering::Acquire) != attempts_before;
        if read_while_waiting || !cache.schedule.request_may_read(Instant::now()) {
            return None;
        }
        tracing::info!(secret_id = %self.secret_id, "provider credentials refused: reading the secret again in case they were rotated");
        cache.schedule.last_requested = Some(Instant::now());
        self.refresh(&mut cache).await;
        newer(&cache)
    }

    async fn refresh(&self, cache: &mut Cache) {
        let result = self.read().await;
        // Counted once the read is over, so a request that waited for this one sees it as done.
        let now = Instant::now();
        cache.schedule.attempted(now, result.as_ref().err());
        self.attempts.fetch_add(1, Ordering::Release);
        match result {
            Ok(secret) => {
                let secret = Arc::new(secret);
                *self.fresh.write().unwrap_or_else(|p| p.into_inner()) =
                    Some((Arc::clone(&secret), cache.schedule.fresh_until(now)));
                cache.keys = Some(secret);
                tracing::debug!(secret_id = %self.secret_id, "API keys read from Secrets Manager");
            }
            // The secret is gone, unreadable for us, or no longer makes sense: whoever did that
            // meant the keys to stop working (a leaked key being killed).
            Err(err) if err.is_permanent() => {
                tracing::error!(
                    secret_id = %self.secret_id,
                    error = %err,
                    "cannot read the API keys from Secrets Manager: dropping the cached keys"
                );
                self.drop_cached(cache);
            }
            Err(err) => tracing::error!(
                secret_id = %self.secret_id,
                error = %err,
                keeping_cached_keys = cache.keys.is_some(),
                "cannot read the API keys from Secrets Manager"
            ),
        }
    }

    async fn read(&self) -> Result<SecretValue, SecretError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(read_error)?;
        parse_secret(output.secret_string().ok_or(SecretError::NotAString)?)
    }
}

/// When the secret is read again: the spacing rules alone, over instants given to it, so each rule
/// is tested without a clock or a Secrets Manager.
#[derive(Debug, Clone)]
struct ReadSchedule {
    /// A successful read is trusted this long.
    ttl: Duration,
    /// Request-caused reads (an unknown key, refused provider credentials) are this far apart:
    /// those are what a flood of requests could multiply. So are reads after a permanent failure.
    min_refresh: Duration,
    /// How long past the TTL keys may be served while reads fail for a passing reason.
    stale_max: Duration,
    /// When the cached keys were read; `None` while nothing is cached.
    fetched_at: Option<Instant>,
    /// The last read, whatever caused it and however it ended.
    last_attempt: Option<Instant>,
    /// The last read a request caused.
    last_requested: Option<Instant>,
    /// Whether the last read failed for good (the secret gone or denied).
    failed_for_good: bool,
}

impl ReadSchedule {
    fn new(ttl: Duration, min_refresh: Duration, stale_max: Duration) -> Self {
        Self {
            ttl,
            min_refresh,
            stale_max,
            fetched_at: None,
            last_attempt: None,
            last_requested: None,
            failed_for_good: false,
        }
    }

    /// A read ended at `now`, failing with `failure` or not.
    fn attempted(&mut self, now: Instant, failure: Option<&SecretError>) {
        self.last_attempt = Some(now);
        self.failed_for_good = failure.is_some_and(SecretError::is_permanent);
        match failure {
            None => self.fetched_at = Some(now),
            Some(err) if err.is_permanent() => self.fetched_at = None,
            Some(_) => {}
        }
    }

    /// Until when keys read at `read_at` are fresh. (The TTL is at most a day, so the sum is
    /// there; were it not, the keys would only skip the lock-free check.)
    fn fresh_until(&self, read_at: Instant) -> Instant {
        read_at.checked_add(self.ttl).unwrap_or(read_at)
    }

    /// Whether the cached keys have been served past their TTL for longer than `stale_max`.
    fn too_stale(&self, now: Instant) -> bool {
        self.fetched_at.is_some_and(|t| {
            now.saturating_duration_since(t) >= self.ttl.saturating_add(self.stale_max)
        })
    }

    /// Whether a read is due at `now` without any request asking: nothing is cached, or the TTL
    /// is over. Reads that keep failing are spaced out: by the minimum interval after a permanent
    /// failure (whoever took the secret away meant it), by a second while nothing is cached after
    /// a passing one, and by the smaller of TTL and interval while stale keys are served.
    fn read_due(&self, now: Instant) -> bool {
        let spacing = match (self.fetched_at, self.failed_for_good) {
            (None, true) => self.min_refresh,
            (None, false) => self.min_refresh.min(NO_KEYS_RETRY_INTERVAL),
            (Some(fetched_at), _) => {
                if now.saturating_duration_since(fetched_at) < self.ttl {
                    return false;
                }
                self.min_refresh.min(self.ttl)
            }
        };
        self.last_attempt
            .is_none_or(|t| now.saturating_duration_since(t) >= spacing)
    }

    /// Whether a request may cause a read at `now`.
    fn request_may_read(&self, now: Instant) -> bool {
        self.last_requested
            .is_none_or(|t| now.saturating_duration_since(t) >= self.min_refresh)
    }
}

/// A failed read, as permanent (the secret is gone or denied to us) or passing (anything else).
fn read_error(err: SdkError<GetSecretValueError>) -> SecretError {
    let permanent = match &err {
        SdkError::ServiceError(failure) => {
            let e = failure.err();
            matches!(
                e,
                GetSecretValueError::ResourceNotFoundException(_)
                    | GetSecretValueError::DecryptionFailure(_)
                    // A secret marked for deletion.
                    | GetSecretValueError::InvalidRequestException(_)
                    | GetSecretValueError::InvalidParameterException(_)
            ) || matches!(
                e.code(),
                Some(
                    "AccessDeniedException"
                        | "UnrecognizedClientException"
                        | "KMSAccessDeniedException"
                )
            )
        }
        _ => false,
    };
    let detail = crate::adapters::aws::error_line(&err);
    if permanent {
        SecretError::Denied(detail)
    } else {
        SecretError::Read(detail)
    }
}

/// Why a secret gave no keys. The messages never quote the secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// A read that failed for a reason that may pass: throttling, an outage, a timeout.
    #[error("GetSecretValue failed: {0}")]
    Read(String),
    /// The secret is gone, or we may no longer read or decrypt it.
    #[error("GetSecretValue was refused: {0}")]
    Denied(String),
    #[error("the secret has no string value (a binary secret is not supported)")]
    NotAString,
    #[error("the secret is empty")]
    Empty,
    #[error("the secret looks like JSON but is not a valid JSON object")]
    BadJson,
    #[error("the secret's JSON has no non-empty string `api_key`")]
    NoApiKey,
    #[error("the secret's `previous_api_key` must be a string")]
    BadPreviousKey,
    #[error("the secret's JSON has no non-empty string `fingerprint_key`")]
    NoFingerprintKey,
}

impl SecretError {
    /// Whether the cached keys must go: everything but a passing read failure.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Read(_))
    }
}

/// What one read of the gateway secret gave: the API keys, and the secret's other fields (provider
/// credentials), left for each provider to read. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue {
    pub keys: KeySet,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl SecretValue {
    /// A string field of the secret's JSON (`twilio_auth_token`, ...); `None` when it is absent,
    /// empty, or not a string.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// The secret's JSON object, every field (empty for a plain key): the `secret` command merges
    /// into it.
    pub fn into_fields(self) -> serde_json::Map<String, serde_json::Value> {
        self.fields
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

/// Reads the fingerprint key from a secret of its own (`FINGERPRINT_SECRET_ID`): JSON with a
/// `fingerprint_key`, as the template generates it, or the key itself. Read once: the key must not
/// change while counts exist, so there is nothing to re-read.
pub async fn read_fingerprint_key(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<FingerprintKey, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(read_error)?;
    parse_fingerprint_secret(output.secret_string().ok_or(SecretError::NotAString)?)
}

fn parse_fingerprint_secret(value: &str) -> Result<FingerprintKey, SecretError> {
    let value = value.trim();
    if !value.starts_with('{') {
        return FingerprintKey::new(value).ok_or(SecretError::Empty);
    }
    let json: serde_json::Value = serde_json::from_str(value).map_err(|_| SecretError::BadJson)?;
    json.get("fingerprint_key")
        .and_then(|v| v.as_str())
        .and_then(|v| FingerprintKey::new(v.trim()))
        .ok_or(SecretError::NoFingerprintKey)
}

/// A secret's value is the API key itself, or JSON: `{"api_key": "...", "previous_api_key": "..."}`
/// plus any provider fields.
pub fn parse_secret(value: &str) -> Result<SecretValue, SecretError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(SecretError::Empty);
    }
    if !value.starts_with('{') {
        return Ok(SecretValue {
            keys: KeySet::single(ApiKey::new(value).ok_or(SecretError::Empty)?),
            fields: serde_json::Map::new(),
        });
    }
    // Parsed as a Value on purpose: serde's typed errors quote the offending value, which is secret.
    let json: serde_json::Value = serde_json::from_str(value).map_err(|_| SecretError::BadJson)?;
    let serde_json::Value::Object(object) = json else {
        return Err(SecretError::BadJson);
    };
    let current = object
        .get("api_key")
        .and_then(|v| v.as_str())
        .and_then(ApiKey::new)
        .ok_or(SecretError::NoApiKey)?;
    let previous = match object.get("previous_api_key") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => ApiKey::new(s.as_str()),
        Some(_) => return Err(SecretError::BadPreviousKey),
    };
    Ok(SecretValue {
        keys: KeySet { current, previous },
        fields: object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ApiKey {
        ApiKey::new(s).unwrap()
    }

    fn schedule() -> (ReadSchedule, Instant) {
        let ttl = Duration::from_secs(300);
        let schedule = ReadSchedule::new(ttl, MIN_REFRESH_INTERVAL, Duration::from_secs(3600));
        (schedule, Instant::now())
    }

    #[test]
    fn a_fingerprint_secret_is_json_or_the_key_itself() {
        let expect = FingerprintKey::new("f".repeat(64)).unwrap();
        let json = format!(r#"{{"fingerprint_key": " {} "}}"#, "f".repeat(64));
        assert_eq!(parse_fingerprint_secret(&json), Ok(expect.clone()));
        assert_eq!(parse_fingerprint_secret(&"f".repeat(64)), Ok(expect));
        assert_eq!(
            parse_fingerprint_secret(r#"{"api_key": "k"}"#),
            Err(SecretError::NoFingerprintKey)
        );
        assert_eq!(
            parse_fingerprint_secret(r#"{"fingerprint_key": 7}"#),
            Err(SecretError::NoFingerprintKey)
        );
        assert_eq!(parse_fingerprint_secret("{"), Err(SecretError::BadJson));
        assert_eq!(parse_fingerprint_secret("  "), Err(SecretError::Empty));
    }

    #[test]
    fn fresh_keys_are_not_read_again_until_their_ttl_is_over() {
        let (mut s, t0) = schedule();
        assert!(s.read_due(t0), "nothing cached: a read is due");
        s.attempted(t0, None);
        assert!(!s.read_due(t0 + Duration::from_secs(299)));
        assert!(s.read_due(t0 + Duration::from_secs(300)));
        assert_eq!(s.fresh_until(t0), t0 + Duration::from_secs(300));
    }

    #[test]
    fn failing_reads_are_spaced_by_what_the_failure_means() {
        let passing = SecretError::Read("throttled".into());
        let denied = SecretError::Denied("gone".into());
        let secs = Duration::from_secs;

        // Nothing cached after a passing failure: one read a second.
        let (mut s, t0) = schedule();
        s.attempted(t0, Some(&passing));
        assert!(!s.read_due(t0 + Duration::from_millis(999)));
        assert!(s.read_due(t0 + secs(1)));

        // A permanent failure: the minimum interval, and the cached keys are gone.
        let (mut s, t0) = schedule();
        s.attempted(t0, None);
        s.attempted(t0 + secs(300), Some(&denied));
        assert_eq!(s.fetched_at, None);
        assert!(!s.read_due(t0 + secs(329)));
        assert!(s.read_due(t0 + secs(330)));

        // Stale keys kept through a passing failure: re-read every interval, trusted for the
        // TTL plus stale_max, no longer.
        let (mut s, t0) = schedule();
        s.attempted(t0, None);
        s.attempted(t0 + secs(300), Some(&passing));
        assert_eq!(s.fetched_at, Some(t0));
        assert!(!s.read_due(t0 + secs(329)));
        assert!(s.read_due(t0 + secs(330)));
        assert!(!s.too_stale(t0 + secs(3899)));
        assert!(s.too_stale(t0 + secs(3900)));
    }

    #[test]
    fn reads_a_request_causes_are_one_per_interval() {
        let (mut s, t0) = schedule();
        assert!(s.request_may_read(t0));
        s.last_requested = Some(t0);
        // Scheduled reads in between do not use up the allowance, nor renew it.
        s.attempted(t0 + Duration::from_secs(10), None);
        assert!(!s.request_may_read(t0 + Duration::from_secs(29)));
        assert!(s.request_may_read(t0 + MIN_REFRESH_INTERVAL));
    }

    #[test]
    fn a_plain_secret_is_the_key() {
        assert_eq!(
            parse_secret("  abc123\n").map(|s| s.keys),
            Ok(KeySet::single(key("abc123")))
        );
    }

    #[test]
    fn a_json_secret_has_current_and_previous_keys() {
        let secret =
            parse_secret(r#"{"api_key":"new","previous_api_key":"old","twilio_auth_token":"x"}"#)
                .unwrap();
        assert_eq!(secret.field("twilio_auth_token"), Some("x"));
        assert_eq!(secret.field("twilio_account_sid"), None);
        assert_eq!(format!("{secret:?}"), "SecretValue([redacted])");
        assert_eq!(
            secret.keys,
            KeySet {
                current: key("new"),
                previous: Some(key("old"))
            }
        );
        assert_eq!(
            parse_secret(r#"{"api_key":"new","previous_api_key":""}"#).map(|s| s.keys),
            Ok(KeySet::single(key("new")))
        );
        assert_eq!(
            parse_secret(r#"{"api_key":"new","previous_api_key":null}"#).map(|s| s.keys),
            Ok(KeySet::single(key("new")))
        );
    }

    #[test]
    fn unusable_secrets_are_refused_without_quoting_them() {
        let err = |value| parse_secret(value).unwrap_err();
        assert_eq!(err(""), SecretError::Empty);
        assert_eq!(err("{not json"), SecretError::BadJson);
        assert_eq!(err(r#"{"apikey":"x"}"#), SecretError::NoApiKey);
        assert_eq!(err(r#"{"api_key":""}"#), SecretError::NoApiKey);
        assert_eq!(err(r#"{"api_key":12345}"#), SecretError::NoApiKey);
        assert_eq!(
            err(r#"{"api_key":"a","previous_api_key":98765}"#),
            SecretError::BadPreviousKey
        );
        for err in [
            SecretError::BadJson,
            SecretError::NoApiKey,
            SecretError::BadPreviousKey,
        ] {
            assert!(!err.to_string().contains("12345"));
        }
    }
}
