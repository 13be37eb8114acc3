//! The DynamoDB store (`IDEMPOTENCY_TABLE`), shared by every instance.

use crate::domain::ports::{
    Claimed, Counters, DedupeStore, Fingerprint, Record, State, StoreError,
};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::time::Duration;

/// The table shared by every instance (`IDEMPOTENCY_TABLE`): partition key `pk` (a string),
/// TTL on `expires_at`. Conditional writes decide who sends; nothing is read then written.
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStore {
    /// `budget`: how long one call may take, retry included (the gateway also cuts it).
    pub fn new(sdk: &aws_config::SdkConfig, table: String, budget: Duration) -> Self {
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(crate::adapters::net::CONNECT_TIMEOUT)
                    .operation_timeout(budget)
                    .operation_attempt_timeout(budget * 2 / 5)
                    .build(),
            )
            // One quick retry (the standard 1 s first backoff would never fit the budget). A claim
            // retried after a lost answer finds its own token; the count may count one send twice
            // after a lost answer, which errs on the side of the limit.
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(25)),
            )
            .build();
        Self {
            client: aws_sdk_dynamodb::Client::from_conf(config),
            table,
        }
    }

    fn pk(key: &Fingerprint) -> AttributeValue {
        AttributeValue::S(format!("s#{}", key.hex()))
    }

    fn error(&self, action: &str, err: impl ProvideErrorMetadata + std::fmt::Debug) -> StoreError {
        let code = err.code().unwrap_or("no error code");
        let message = err.message().unwrap_or_default();
        StoreError(format!(
            "DynamoDB {action} on table {}: {code} {message}",
            self.table
        ))
    }
}

/// Whether DynamoDB refused a write because its condition did not hold (the same code for every
/// operation's error type).
fn condition_failed(err: &impl ProvideErrorMetadata) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn record_from(item: &HashMap<String, AttributeValue>) -> Option<Record> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let n = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some(Record {
        state: State::parse(&s("state")?)?,
        token: s("token").unwrap_or_default(),
        lease_until_ms: n("lease_until").unwrap_or(0),
        expires_at: n("expires_at").unwrap_or(0),
        claimed_ms: n("claimed_ms").unwrap_or(0),
        provider: s("provider"),
        message_id: s("message_id"),
    })
}

#[async_trait::async_trait]
impl DedupeStore for DynamoStore {
    async fn claim(
        &self,
        key: &Fingerprint,
        claim: &Record,
        now_ms: u64,
    ) -> Result<Claimed, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", Self::pk(key))
            .item("state", AttributeValue::S(claim.state.as_str().into()))
            .item("token", AttributeValue::S(claim.token.clone()))
            .item("lease_until", number(claim.lease_until_ms))
            .item("expires_at", number(claim.expires_at))
            .item("claimed_ms", number(claim.claimed_ms))
            // The same rule as Record::replaceable_by. TTL deletes late, so expiry is checked here.
            .condition_expression(
                "attribute_not_exists(pk) OR #e <= :now_s OR (#s = :failed AND (attribute_not_exists(#c) OR #c < :claimed_ms))",
            )
            .expression_attribute_names("#e", "expires_at")
            .expression_attribute_names("#s", "state")
            .expression_attribute_names("#c", "claimed_ms")
            .expression_attribute_values(":claimed_ms", number(claim.claimed_ms))
            .expression_attribute_values(":now_s", number(now_ms / 1000))
            .expression_attribute_values(":failed", AttributeValue::S("failed".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claimed::Ours),
            Err(err) if condition_failed(&err) => {
                match self.look(key).await? {
                    // Our own write, whose answer was lost and whose retry then failed its condition.
                    Some(record) if record.token == claim.token => Ok(Claimed::Ours),
                    Some(record) => Ok(Claimed::Taken(record)),
                    // Deleted in between (by TTL): as good as no record; the caller claims again.
                    None => Ok(Claimed::Taken(Record {
                        state: State::Failed,
                        token: String::new(),
                        lease_until_ms: 0,
                        expires_at: 0,
                        claimed_ms: 0,
                        provider: None,
                        message_id: None,
                    })),
                }
            }
            Err(err) => Err(self.error("PutItem", err)),
        }
    }

    async fn look(&self, key: &Fingerprint) -> Result<Option<Record>, StoreError> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::pk(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", e))?;
        Ok(answer.item().and_then(record_from))
    }

    async fn finish(
        &self,
        key: &Fingerprint,
        token: &str,
        done: &Record,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(key))
            // Ours, or no record at all: a claim whose write failed or is still on its way
            // gets the outcome written all the same (a late claim then cannot replace it).
            .condition_expression("attribute_not_exists(pk) OR #t = :token")
            .expression_attribute_names("#t", "token")
            .expression_attribute_names("#s", "state")
            .expression_attribute_names("#e", "expires_at")
            .expression_attribute_names("#c", "claimed_ms")
            .expression_attribute_values(":token", AttributeValue::S(token.into()))
            .expression_attribute_values(":state", AttributeValue::S(done.state.as_str().into()))
            .expression_attribute_values(":expires_at", number(done.expires_at))
            .expression_attribute_values(":claimed_ms", number(done.claimed_ms));
        update = match (&done.provider, &done.message_id) {
            (Some(provider), Some(message_id)) => update
                .update_expression("SET #s = :state, #t = :token, #e = :expires_at, #c = :claimed_ms, provider = :provider, message_id = :message_id REMOVE lease_until")
                .expression_attribute_values(":provider", AttributeValue::S(provider.clone()))
                .expression_attribute_values(":message_id", AttributeValue::S(message_id.clone())),
            _ => update.update_expression(
                "SET #s = :state, #t = :token, #e = :expires_at, #c = :claimed_ms REMOVE lease_until",
            ),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => {
                // Our claim never landed (its write failed), or our lease ran out and another
                // request claimed the send: that one's outcome counts.
                tracing::debug!(
                    "the send's claim is not ours (any more); its outcome is not recorded"
                );
                Ok(())
            }
            Err(err) => Err(self.error("UpdateItem", err)),
        }
    }

    fn shared(&self) -> bool {
        true
    }

    /// Reads a key that never exists: checks that the table is there and readable, and opens
    /// the connection during init.
    async fn start(&self) -> Result<(), String> {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S("start-up check".into()))
            .send()
            .await;
        match read {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Err(format!(
                    "IDEMPOTENCY_TABLE: the DynamoDB table {} does not exist (in this account and region)",
                    self.table
                ))
            }
            Err(err) => {
                tracing::warn!(
                    error = %self.error("GetItem", err),
                    "cannot read the idempotency table at start-up (dynamodb:GetItem); sends go ahead without the duplicate check until it can be used"
                );
                Ok(())
            }
        }
    }
}

#[async_trait::async_trait]
impl Counters for DynamoStore {
    async fn count(&self, bucket: &str, limit: u64, expires_at: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(bucket.to_owned()))
            .update_expression("ADD sends :one SET #e = if_not_exists(#e, :expires_at)")
            .condition_expression("attribute_not_exists(sends) OR sends < :limit")
            .expression_attribute_names("#e", "expires_at")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":limit", number(limit))
            .expression_attribute_values(":expires_at", number(expires_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(self.error("UpdateItem", err)),
        }
    }

    async fn block(&self, name: &str, until: u64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(name.to_owned()))
            .item("expires_at", number(until))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| self.error("PutItem", err))
    }

    async fn blocked_until(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(name.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.error("GetItem", err))?;
        Ok(output
            .item()
            .and_then(|item| item.get("expires_at"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok()))
    }

    async fn uncount(&self, bucket: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(bucket.to_owned()))
            .update_expression("ADD sends :minus_one")
            .condition_expression("sends > :zero")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", number(0))
            // One attempt: a give-back whose answer was lost may have landed, and the SDK's retry
            // would take a second count back, another send's (the limit would then let one
            // more through). A give-back that fails leaves the count standing: the safe side.
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Nothing to take back (the counter expired).
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(self.error("UpdateItem", err)),
        }
    }
}
