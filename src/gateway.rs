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
            // A provider started after the deadline would be cut at once, its request perhaps
            // already on the wire: maybe sent, for nothing. So none starts then.
            if Instant::now() >= deadline {
                tracing::warn!(
                    provider = name,
                    phone = %sms.phone_number,
                    "the send deadline ({budget_ms} ms) passed before this provider could try"
                );
                return last.unwrap_or_else(|| Dispatch {
                    provider: name,
                    result: Err(ProviderError::unavailable(format!(
                        "the send deadline ({budget_ms} ms) passed before {name} could try"
                    ))),
                });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::SmsProvider;
    use crate::sms::SmsRequest;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its sends; answers after `delay` with `answer`.
    struct Counting {
        sends: Arc<AtomicUsize>,
        delay: Duration,
        answer: Result<MessageId, ProviderError>,
    }

    #[async_trait::async_trait]
    impl SmsProvider for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }

        async fn send(&self, _: &SmsRequest) -> Result<MessageId, ProviderError> {
            self.sends.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.answer.clone()
        }
    }

    fn sms() -> SmsRequest {
        SmsRequest::from_json(&serde_json::json!({
            "phone_number": "+14155550100", "message": "code 1"
        }))
        .unwrap()
    }

    fn gateway(
        providers: Vec<(Duration, Result<MessageId, ProviderError>)>,
    ) -> (Gateway, Vec<Arc<AtomicUsize>>) {
        let counters: Vec<_> = providers.iter().map(|_| Arc::default()).collect();
        let providers = providers
            .into_iter()
            .zip(&counters)
            .map(|((delay, answer), sends)| {
                Box::new(Counting {
                    sends: Arc::clone(sends),
                    delay,
                    answer,
                }) as Box<dyn SmsProvider>
            })
            .collect();
        let gateway = Gateway::new(
            Dispatcher::new(providers),
            Duration::from_millis(2500),
            Metrics::Off,
        );
        (gateway, counters)
    }

    fn sends(counters: &[Arc<AtomicUsize>]) -> Vec<usize> {
        counters.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn no_provider_starts_after_the_deadline() {
        let (gateway, counters) = gateway(vec![(Duration::ZERO, Ok("m".into()))]);
        let arrived = Instant::now() - Duration::from_millis(2500);
        let dispatch = gateway.send(&sms(), arrived).await;
        assert!(matches!(
            dispatch.result,
            Err(ProviderError::Unavailable { .. })
        ));
        assert_eq!(sends(&counters), [0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_cut_by_the_deadline_may_have_sent_and_nothing_follows() {
        let (gateway, counters) = gateway(vec![
            (
                Duration::from_secs(3),
                Err(ProviderError::unavailable("late")),
            ),
            (Duration::ZERO, Ok("m".into())),
        ]);
        let dispatch = gateway.send(&sms(), Instant::now()).await;
        assert!(matches!(
            dispatch.result,
            Err(ProviderError::Indeterminate { .. })
        ));
        assert_eq!(sends(&counters), [1, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_certain_non_send_hands_over_only_while_time_is_left() {
        let unavailable = || Err(ProviderError::unavailable("throttled"));
        let (gateway, counters) = gateway(vec![
            (Duration::from_millis(2000), unavailable()),
            (Duration::ZERO, Ok("m".into())),
        ]);
        let dispatch = gateway.send(&sms(), Instant::now()).await;
        assert_eq!(dispatch.result, Ok("m".into()));
        assert_eq!(sends(&counters), [1, 1]);

        // The first provider used up the budget: the second never starts.
        let (gateway, counters) = gateway_at_limit();
        let dispatch = gateway.send(&sms(), Instant::now()).await;
        assert_eq!(dispatch.provider, "counting");
        assert!(matches!(
            dispatch.result,
            Err(ProviderError::Unavailable { .. })
        ));
        assert_eq!(sends(&counters), [1, 0]);
    }

    /// A first provider that answers "not sent" exactly at the deadline.
    fn gateway_at_limit() -> (Gateway, Vec<Arc<AtomicUsize>>) {
        gateway(vec![
            (
                Duration::from_millis(2500),
                Err(ProviderError::unavailable("throttled")),
            ),
            (Duration::ZERO, Ok("m".into())),
        ])
    }
}
