//! The per-number limit (`MAX_SMS_PER_NUMBER_PER_HOUR`) as a decision over the [`Counters`] port:
//! which counter a send counts in, and taking back a send that certainly did not go out. When it
//! counts, and what a failing store means, is the send's business (the dedupe module).

use crate::domain::ports::{Counters, Fingerprint, StoreError};
use std::sync::Arc;

/// The counter one number's sends count in this hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    /// Seconds since the epoch; the store may delete it after that.
    pub expires_at: u64,
}

impl Bucket {
    /// The bucket of `phone` (presented with API key `key`) for the hour of `now_ms`. The hour is
    /// in the hash too: the store cannot link one number's counters across hours.
    pub fn of(key: &[u8], phone: &str, now_ms: u64) -> Self {
        let hour = now_ms / 3_600_000;
        let number = Fingerprint::of(key, "number", &[phone, &hour.to_string()]);
        Self {
            name: format!("n#{}", number.hex()),
            // Kept an hour past its own, for a look during an investigation.
            expires_at: hour.saturating_add(2).saturating_mul(3600),
        }
    }
}

/// At most `per_hour` SMS to one number in a clock hour.
pub struct NumberLimit {
    counters: Arc<dyn Counters>,
    per_hour: Option<u64>,
}

impl NumberLimit {
    /// `per_hour`: `None` is no limit.
    pub fn new(counters: Arc<dyn Counters>, per_hour: Option<u64>) -> Self {
        Self { counters, per_hour }
    }

    pub fn per_hour(&self) -> Option<u64> {
        self.per_hour
    }

    /// Counts one send in `bucket`; `false` when the number already had `limit` this hour.
    pub async fn count(&self, bucket: &Bucket, limit: u64) -> Result<bool, StoreError> {
        self.counters
            .count(&bucket.name, limit, bucket.expires_at)
            .await
    }

    /// Takes back a send counted in `bucket` that certainly did not go out.
    pub async fn give_back(&self, bucket: &str) -> Result<(), StoreError> {
        self.counters.uncount(bucket).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_counts_in_its_own_bucket_for_the_hour() {
        let hour_ms = 3_600_000;
        let a = Bucket::of(b"k", "+14155550100", 5 * hour_ms + 1);
        assert_eq!(a, Bucket::of(b"k", "+14155550100", 6 * hour_ms - 1));
        assert_ne!(a, Bucket::of(b"k", "+14155550100", 6 * hour_ms));
        assert_ne!(a.name, Bucket::of(b"k", "+14155550101", 5 * hour_ms).name);
        assert_eq!(a.expires_at, 7 * 3600);
        assert!(!a.name.contains("4155550100"));
    }
}
