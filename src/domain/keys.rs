//! API keys: the secret Mosaic sends in `X-API-Key`, checked in constant time against the current
//! key and, during a rotation, the previous one.

use std::fmt;
use subtle::{Choice, ConstantTimeEq};

/// An API key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` for an empty or blank key: it would let an empty header in.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        (!key.trim().is_empty()).then_some(Self(key))
    }

    /// A random development key (32 hex characters) for `serve` with nothing configured.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
        Self(format!("dev-{}", hex(&bytes)))
    }

    /// A random API key for a deployed gateway (`secret put --rotate-api-key`): 256 bits, as 64 hex
    /// characters, without the development key's `dev-`.
    pub fn generate_for_production() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
        Self(hex(&bytes))
    }

    /// The key itself, for the one place that must show it: the development key printed by `serve`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn ct_matches(&self, presented: &[u8]) -> Choice {
        // Equal lengths are compared byte by byte without an early exit; a length mismatch says only
        // that the length is wrong, which tells nothing about the key's bytes.
        self.0.as_bytes().ct_eq(presented)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// The HMAC key of every name the dedupe store holds (dedupe records, the limits' counters):
/// the gateway secret's `fingerprint_key`, or `FINGERPRINT_KEY`. Independent of the API key, so
/// rotating the API key keeps every count. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct FingerprintKey(String);

impl FingerprintKey {
    /// `None` for an empty or blank key. Trimmed, as the secret's fields are, so the same key
    /// written with a stray newline in `FINGERPRINT_KEY` or the secret gives the same names.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        let key = key.trim();
        (!key.is_empty()).then(|| Self(key.to_owned()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey([redacted])")
    }
}

/// 32 hex digits no other call in this process gives: random, or, should the operating system's
/// generator fail, the time and a counter (still unique here, only guessable).
pub(crate) fn unique_hex() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&nanos.to_be_bytes());
        bytes[8..].copy_from_slice(&count.to_be_bytes());
    }
    hex(&bytes)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The keys a request may present: the current one and, while a rotation settles, the previous one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySet {
    pub current: ApiKey,
    pub previous: Option<ApiKey>,
}

impl KeySet {
    pub fn single(current: ApiKey) -> Self {
        Self {
            current,
            previous: None,
        }
    }

    /// True when `presented` is one of the keys. Both keys are always compared, so the time taken
    /// does not tell which matched.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let previous = self
            .previous
            .as_ref()
            .map_or(Choice::from(0), |k| k.ct_matches(presented));
        bool::from(self.current.ct_matches(presented) | previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ApiKey {
        ApiKey::new(s).unwrap()
    }

    #[test]
    fn accepts_current_and_previous_keys_only() {
        let keys = KeySet {
            current: key("new-key-1234"),
            previous: Some(key("old-key-1234")),
        };
        assert!(keys.accepts(b"new-key-1234"));
        assert!(keys.accepts(b"old-key-1234"));
        assert!(!keys.accepts(b"new-key-123"));
        assert!(!keys.accepts(b"new-key-12345"));
        assert!(!keys.accepts(b""));
        assert!(!KeySet::single(key("new-key-1234")).accepts(b"old-key-1234"));
    }

    #[test]
    fn blank_keys_are_refused() {
        assert!(ApiKey::new("").is_none());
        assert!(ApiKey::new("  ").is_none());
    }

    #[test]
    fn debug_never_shows_a_key() {
        let keys = KeySet {
            current: key("s3cr3t-current"),
            previous: Some(key("s3cr3t-previous")),
        };
        let shown = format!("{keys:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn generated_keys_are_random_and_long() {
        let (a, b) = (ApiKey::generate(), ApiKey::generate());
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), "dev-".len() + 32);
    }
}
