//! Stores that fail on purpose, for the unit tests of the domain's dedupe and limits: one that
//! cannot be reached at all, and the memory store with chosen calls failing or never answering.

use super::MemoryStore;
use crate::domain::ports::{Claimed, Counters, DedupeStore, Fingerprint, Record, StoreError};
use std::sync::Arc;

/// A store that cannot be reached.
pub struct Down;

#[async_trait::async_trait]
impl DedupeStore for Down {
    async fn claim(&self, _: &Fingerprint, _: &Record, _: u64) -> Result<Claimed, StoreError> {
        Err(StoreError("down".into()))
    }
    async fn look(&self, _: &Fingerprint) -> Result<Option<Record>, StoreError> {
        Err(StoreError("down".into()))
    }
    async fn finish(&self, _: &Fingerprint, _: &str, _: &Record) -> Result<(), StoreError> {
        Err(StoreError("down".into()))
    }
}

#[async_trait::async_trait]
impl Counters for Down {
    async fn count(&self, _: &str, _: u64, _: u64) -> Result<bool, StoreError> {
        panic!("no count after the store failed the claim")
    }
    async fn uncount(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError("down".into()))
    }
    async fn block(&self, _: &str, _: u64) -> Result<(), StoreError> {
        Err(StoreError("down".into()))
    }
    async fn blocked_until(&self, _: &str) -> Result<Option<u64>, StoreError> {
        Err(StoreError("down".into()))
    }
}

/// The memory store, whose counts of buckets named `fail_tag#...` fail (while `failing` is
/// set), and whose block writes never answer when `hang_blocks` is set.
pub struct FailingCounts {
    pub inner: MemoryStore,
    pub fail_tag: &'static str,
    pub failing: Arc<std::sync::atomic::AtomicBool>,
    pub hang_blocks: bool,
}

impl FailingCounts {
    pub fn new(fail_tag: &'static str) -> Self {
        Self {
            inner: MemoryStore::default(),
            fail_tag,
            failing: Arc::new(true.into()),
            hang_blocks: false,
        }
    }
}

#[async_trait::async_trait]
impl DedupeStore for FailingCounts {
    async fn claim(&self, k: &Fingerprint, c: &Record, n: u64) -> Result<Claimed, StoreError> {
        self.inner.claim(k, c, n).await
    }
    async fn look(&self, k: &Fingerprint) -> Result<Option<Record>, StoreError> {
        self.inner.look(k).await
    }
    async fn finish(&self, k: &Fingerprint, t: &str, d: &Record) -> Result<(), StoreError> {
        self.inner.finish(k, t, d).await
    }
}

#[async_trait::async_trait]
impl Counters for FailingCounts {
    async fn count(&self, bucket: &str, limit: u64, expires: u64) -> Result<bool, StoreError> {
        let failing = self.failing.load(std::sync::atomic::Ordering::SeqCst);
        if failing && bucket.starts_with(self.fail_tag) {
            return Err(StoreError("throttled".into()));
        }
        self.inner.count(bucket, limit, expires).await
    }
    async fn uncount(&self, bucket: &str) -> Result<(), StoreError> {
        self.inner.uncount(bucket).await
    }
    async fn block(&self, name: &str, until: u64) -> Result<(), StoreError> {
        if self.hang_blocks {
            std::future::pending::<()>().await;
        }
        self.inner.block(name, until).await
    }
    async fn blocked_until(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.inner.blocked_until(name).await
    }
}
