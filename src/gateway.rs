//! The send service between HTTP and the providers: it owns the order of a send (validated
//! request → policy → idempotency → dispatch), and the one deadline the whole send runs under.
//! `http` only maps requests to it and its outcomes to the contract.

use crate::metrics::Metrics;
use crate::providers::{Dispatcher, MessageId, ProviderError};
use crate::sms::SmsRequest;
use std::time::Duration;
use tokio::time::Instant;

/// What became of one SMS.
#[derive(Debug)]
pub struct Dispatch {
    /// The provider that answered last (the one that sent, or the last one that failed).
    pub provider: &'static str,
    pub result: Result<MessageId, ProviderError>,
}

pub struct Gateway {
    dispatcher: Dispatcher,
    deadline: Duration,
    metrics: Metrics,
}

impl Gateway {
    /// `deadline`: how long after a request arrives its send, failover included, must be over.
    pub fn new(dispatcher: Dispatcher, deadline: Duration, metrics: Metrics) -> Self {
        Self {
            dispatcher,
            deadline,
            metrics,
        }
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Sends a validated SMS through the first provider that takes it, all before `arrived` plus
    /// the deadline. Only a provider that certainly did not take the message hands over to the
    /// next: a rejected recipient would be refused again (or, worse, delivered against the first
    /// provider's judgement), and a message that may have gone out must not go out twice. A
    /// provider still sending when the deadline passes may have sent: nothing follows it.
    pub async fn send(&self, sms: &SmsRequest, arrived: Instant) -> Dispatch {
        let deadline = arrived + self.deadline;
        let budget_ms = self.deadline.as_millis();
        let mut last: Option<Dispatch> = None;
        for provider in self.dispatcher.providers() {
            let name = provider.name();
            if let Some(failed) = &last
                && Instant::now() >= deadline
            {
                tracing::warn!(
                    provider = name,
                    phone = %sms.phone_number,
                    after = failed.provider,
                    "the send deadline ({budget_ms} ms) passed: not trying the next provider"
                );
                break;
            }
            let started = Instant::now();
            let result = match tokio::time::timeout_at(deadline, provider.send(sms)).await {
                Ok(result) => result,
                Err(_) => Err(ProviderError::indeterminate(format!(
                    "{name} had not answered when the send deadline ({budget_ms} ms) passed"
                ))),
            };
            let failure = match &result {
                Err(e) if e.certainly_not_sent() => e,
                _ => {
                    return Dispatch {
                        provider: name,
                        result,
                    };
                }
            };
            let latency_ms = started.elapsed().as_millis() as u64;
            let reason = sms.phone_number.mask_in(failure.reason());
            if let ProviderError::Misconfigured { .. } = failure {
                self.metrics.record_misconfigured(name);
                tracing::error!(
                    provider = name,
                    phone = %sms.phone_number,
                    latency_ms,
                    reason,
                    "the provider refused our set-up; fix it (trying the next provider if there is one)"
                );
            } else {
                tracing::warn!(
                    provider = name,
                    phone = %sms.phone_number,
                    latency_ms,
                    reason,
                    "provider failed; trying the next one if there is one"
                );
            }
            last = Some(Dispatch {
                provider: name,
                result,
            });
        }
        last.expect("the dispatcher has at least one provider")
    }
}
