//! The in-process store: covers re-sends that reach the same process (no `IDEMPOTENCY_TABLE`).

use crate::domain::dedupe::now_ms;
use crate::domain::ports::{Claimed, Counters, DedupeStore, Fingerprint, Record, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

/// The store of one process: covers re-sends that reach the same instance.
#[derive(Default)]
pub struct MemoryStore {
    sends: Mutex<HashMap<Fingerprint, Record>>,
    counts: Mutex<HashMap<String, (u64, u64)>>,
    blocks: Mutex<HashMap<String, u64>>,
}

/// Above this many records, expired ones are dropped (bounds the memory of a busy `serve`).
const MEMORY_PRUNE_ABOVE: usize = 4096;

#[async_trait::async_trait]
impl DedupeStore for MemoryStore {
    async fn claim(
        &self,
        key: &Fingerprint,
        claim: &Record,
        now_ms: u64,
    ) -> Result<Claimed, StoreError> {
        let mut sends = self.sends.lock().unwrap_or_else(|p| p.into_inner());
        if sends.len() > MEMORY_PRUNE_ABOVE {
            sends.retain(|_, r| r.expires_at.saturating_mul(1000) > now_ms);
        }
        match sends.get(key) {
            Some(existing) if !existing.replaceable_by(claim.claimed_ms, now_ms) => {
                Ok(Claimed::Taken(existing.clone()))
            }
            _ => {
                sends.insert(key.clone(), claim.clone());
                Ok(Claimed::Ours)
            }
        }
    }

    async fn look(&self, key: &Fingerprint) -> Result<Option<Record>, StoreError> {
        let sends = self.sends.lock().unwrap_or_else(|p| p.into_inner());
        Ok(sends.get(key).cloned())
    }

    async fn finish(
        &self,
        key: &Fingerprint,
        token: &str,
        done: &Record,
    ) -> Result<(), StoreError> {
        let mut sends = self.sends.lock().unwrap_or_else(|p| p.into_inner());
        match sends.get_mut(key) {
            Some(record) if record.token == token => *record = done.clone(),
            Some(_) => {}
            None => {
                sends.insert(key.clone(), done.clone());
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Counters for MemoryStore {
    async fn count(&self, bucket: &str, limit: u64, expires_at: u64) -> Result<bool, StoreError> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > MEMORY_PRUNE_ABOVE {
            let now_s = now_ms() / 1000;
            counts.retain(|_, (_, expires)| *expires > now_s);
        }
        let (sent, _) = counts.entry(bucket.to_owned()).or_insert((0, expires_at));
        if *sent >= limit {
            return Ok(false);
        }
        *sent += 1;
        Ok(true)
    }

    async fn uncount(&self, bucket: &str) -> Result<(), StoreError> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((sent, _)) = counts.get_mut(bucket) {
            *sent = sent.saturating_sub(1);
        }
        Ok(())
    }

    async fn block(&self, name: &str, until: u64) -> Result<(), StoreError> {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        if blocks.len() > MEMORY_PRUNE_ABOVE {
            let now_s = now_ms() / 1000;
            blocks.retain(|_, until| *until > now_s);
        }
        blocks.insert(name.to_owned(), until);
        Ok(())
    }

    async fn blocked_until(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        Ok(blocks.get(name).copied())
    }
}
