//! The send service between HTTP and the providers: it owns the order of a send (validated
//! request → policy → idempotency → dispatch), and the one deadline the whole send runs under.
//! `http` only maps requests to it and its outcomes to the contract.

use crate::domain::country::{Country, CountryPolicy};
use crate::domain::dedupe::Dedupe;
use crate::domain::numbering::{self, NumberPolicy, NumberRefusal};
use crate::domain::outcome::{Dispatch, Held, Outcome, ProviderError};
use crate::domain::ports::{MetricsSink, NoMetrics, SmsProvider};
use crate::domain::shaping::{Shaped, Shaping, TooLong};
use crate::domain::sms::{Message, SmsRequest};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub struct Gateway {
    /// The chain for numbers of every country without one of its own, tried in this order; never
    /// empty.
    providers: Vec<Arc<dyn SmsProvider>>,
    /// `PROVIDERS_BY_COUNTRY`: the countries with a chain of their own.
    by_country: HashMap<Country, Vec<Arc<dyn SmsProvider>>>,
    deadline: Duration,
    metrics: Arc<dyn MetricsSink>,
    countries: CountryPolicy,
    numbers: NumberPolicy,
    shaping: Shaping,
    /// Whether a request's country must be known (a country policy or per-country senders).
    needs_country: bool,
    dedupe: Dedupe,
}

impl Gateway {
    /// `providers`, tried in order (at least one; the configuration guarantees it); `deadline`:
    /// how long after a request arrives its send, failover included, must be over. Any country,
    /// and no metrics.
    pub fn new(providers: Vec<Box<dyn SmsProvider>>, deadline: Duration, dedupe: Dedupe) -> Self {
        let providers = providers.into_iter().map(Arc::from).collect();
        Self::routed(providers, HashMap::new(), deadline, dedupe)
    }

    /// As [`new`](Self::new), with `providers` the default chain and `by_country` chains of their
    /// own for numbers of those countries (`PROVIDERS_BY_COUNTRY`); one provider may be in several
    /// chains. A number whose country cannot be told takes the default chain.
    pub fn routed(
        providers: Vec<Arc<dyn SmsProvider>>,
        by_country: HashMap<Country, Vec<Arc<dyn SmsProvider>>>,
        deadline: Duration,
        dedupe: Dedupe,
    ) -> Self {
        assert!(
            !providers.is_empty() && by_country.values().all(|c| !c.is_empty()),
            "every chain needs a provider"
        );
        Self {
            needs_country: !by_country.is_empty(),
            providers,
            by_country,
            deadline,
            metrics: Arc::new(NoMetrics),
            countries: CountryPolicy::Any,
            numbers: NumberPolicy::any(),
            shaping: Shaping::default(),
            dedupe,
        }
    }

    /// Every provider of every chain, each once: the default chain's first, in order.
    fn every_provider(&self) -> Vec<&Arc<dyn SmsProvider>> {
        let mut all: Vec<&Arc<dyn SmsProvider>> = self.providers.iter().collect();
        let mut others: Vec<&Arc<dyn SmsProvider>> = self.by_country.values().flatten().collect();
        others.sort_by_key(|p| p.name());
        for provider in others {
            if !all.iter().any(|p| Arc::ptr_eq(p, provider)) {
                all.push(provider);
            }
        }
        all
    }

    /// The chain `sms` goes through: its country's, else the default one.
    fn chain_for(&self, sms: &SmsRequest) -> &[Arc<dyn SmsProvider>] {
        sms.country
            .and_then(|country| self.by_country.get(&country))
            .unwrap_or(&self.providers)
    }

    /// Counts misconfigured providers in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn MetricsSink>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Refuses the numbers `numbers` refuses (none without it).
    pub fn with_numbers(mut self, numbers: NumberPolicy) -> Self {
        self.numbers = numbers;
        self
    }

    /// Shapes messages as `shaping` says (look-alikes as GSM-7 and at most three segments without
    /// it).
    pub fn with_shaping(mut self, shaping: Shaping) -> Self {
        self.shaping = shaping;
        self
    }

    /// A message as it is sent, shaped once before the send (and its fingerprint) sees it.
    pub fn shape(&self, message: &Message) -> Result<Shaped, TooLong> {
        self.shaping.shape(message)
    }

    /// Applies `countries`; `senders_by_country`: a provider picks senders by country.
    pub fn with_countries(mut self, countries: CountryPolicy, senders_by_country: bool) -> Self {
        self.needs_country |= senders_by_country || !countries.is_any();
        self.countries = countries;
        self
    }

    /// Start-up: compiles the US numbering patterns if countries are used (about 2 ms of CPU, on
    /// a thread of its own, so it overlaps the network round trips of start-up), and checks the
    /// dedupe store (opening its connection).
    pub async fn start(&self) -> Result<(), String> {
        let metadata = async {
            if self.needs_country || !self.numbers.is_any() {
                let _ = tokio::task::spawn_blocking(numbering::load_metadata).await;
            }
        };
        let ((), store) = tokio::join!(metadata, self.dedupe.start());
        store
    }

    /// Sends a validated SMS, that the request with API key `key` asked for: the country policy,
    /// then the claim against re-sends and the per-number limit, then the providers, all before
    /// `arrived` plus the deadline. The outcome is the request's whole answer.
    pub async fn send(&self, sms: &SmsRequest, key: &[u8], arrived: Instant) -> Outcome {
        match self.numbers.check(&sms.phone_number) {
            Ok(()) => {}
            Err(NumberRefusal::Invalid) => return Held::InvalidNumber.into(),
            Err(NumberRefusal::BlockedType(number_type)) => {
                return Held::NumberTypeNotAllowed { number_type }.into();
            }
        }
        let mut sms = sms.clone();
        if self.needs_country || self.dedupe.counts_countries() {
            sms.country = Country::of(&sms.phone_number);
        }
        if !self.countries.allows(&sms.phone_number, sms.country) {
            return Held::CountryNotAllowed {
                country: sms.country,
            }
            .into();
        }
        sms.idempotency_key = Some(self.dedupe.provider_key(
            key,
            &sms,
            crate::domain::dedupe::now_ms(),
        ));
        let deadline = self.deadline_for(arrived);
        let ticket = match self.dedupe.admit(key, &sms, deadline).await {
            Ok(ticket) => ticket,
            Err(held) => return held.into(),
        };
        let dispatch = self
            .dispatch_until(&sms, self.dedupe.send_until(deadline))
            .await;
        self.dedupe
            .finish(ticket, dispatch.delivery(), deadline)
            .await;
        dispatch.into()
    }

    /// The default chain's providers' names, in the order they are tried.
    pub fn provider_names(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    /// Runs the start-up check of every provider whose [`SmsProvider::starts_after_secret`] is
    /// `after_secret`, in order; the first failure, as (provider, why), stops start-up.
    pub async fn start_providers(&self, after_secret: bool) -> Result<(), (&'static str, String)> {
        let providers = self
            .every_provider()
            .into_iter()
            .filter(|p| p.starts_after_secret() == after_secret);
        for provider in providers {
            provider
                .start()
                .await
                .map_err(|message| (provider.name(), message))?;
        }
        Ok(())
    }

    /// Sends a validated SMS through the first provider that takes it, all before `arrived` plus
    /// the deadline. Only a provider that certainly did not take the message hands over to the
    /// next: a rejected recipient would be refused again (or, worse, delivered against the first
    /// provider's judgement), and a message that may have gone out must not go out twice. A
    /// provider still sending when the deadline passes may have sent: nothing follows it.
    pub async fn dispatch(&self, sms: &SmsRequest, arrived: Instant) -> Dispatch {
        self.dispatch_until(sms, self.deadline_for(arrived)).await
    }

    /// When a request that arrived at `arrived` must be answered. A sum that cannot be represented
    /// (it cannot happen with a deadline of at most a minute) leaves no time: nothing is sent.
    fn deadline_for(&self, arrived: Instant) -> Instant {
        arrived.checked_add(self.deadline).unwrap_or(arrived)
    }

    /// [`dispatch`](Self::dispatch), with every provider done by `deadline`.
    async fn dispatch_until(&self, sms: &SmsRequest, deadline: Instant) -> Dispatch {
        let budget_ms = self.deadline.as_millis();
        let mut last: Option<Dispatch> = None;
        for provider in self.chain_for(sms) {
            let name = provider.name();
            // A provider started with less than its own minimum time would likely be cut after
            // its request left: maybe sent, for nothing, and the re-send would send again. So it
            // does not start, and the request ends as a certain non-send.
            let left = deadline.saturating_duration_since(Instant::now());
            let needs = provider.min_send_time();
            if left < needs {
                let why = format!(
                    "{} ms of the send deadline ({budget_ms} ms) were left, and {name} needs {} ms to send",
                    left.as_millis(),
                    needs.as_millis()
                );
                tracing::warn!(provider = name, phone = %sms.phone_number, "{why}; not starting it");
                return last.unwrap_or_else(|| Dispatch {
                    provider: name,
                    result: Err(ProviderError::unavailable(why)),
                });
            }
            let started = Instant::now();
            let result = match tokio::time::timeout_at(deadline, provider.send(sms, deadline)).await
            {
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
                self.metrics.provider_misconfigured(name);
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
        last.expect("the gateway has at least one provider")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::MemoryStore;
    use crate::domain::dedupe;
    use crate::domain::outcome::MessageId;
    use crate::domain::sms::SmsRequest;
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

        /// As a network provider's: a connection and a first answer.
        fn min_send_time(&self) -> Duration {
            Duration::from_secs(1)
        }

        async fn send(&self, _: &SmsRequest, _: Instant) -> Result<MessageId, ProviderError> {
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
        let deadline = Duration::from_millis(2500);
        let dedupe = Dedupe::new(
            MemoryStore::default(),
            &dedupe::Settings::default(),
            dedupe::Budget::of(deadline),
        );
        let gateway = Gateway::new(providers, deadline, dedupe);
        (gateway, counters)
    }

    fn sends(counters: &[Arc<AtomicUsize>]) -> Vec<usize> {
        counters.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_country_with_a_chain_of_its_own_sends_through_it() {
        let counting = |answer: &str| -> (Arc<dyn SmsProvider>, Arc<AtomicUsize>) {
            let sends = Arc::new(AtomicUsize::new(0));
            let provider = Arc::new(Counting {
                sends: Arc::clone(&sends),
                delay: Duration::ZERO,
                answer: Ok(answer.into()),
            });
            (provider, sends)
        };
        let (default, default_sends) = counting("from-default");
        let (german, german_sends) = counting("from-german");
        let deadline = Duration::from_millis(2500);
        let dedupe = Dedupe::new(
            MemoryStore::default(),
            &dedupe::Settings::default(),
            dedupe::Budget::of(deadline),
        );
        let by_country = HashMap::from([(Country::parse("DE").unwrap(), vec![german])]);
        let gateway = Gateway::routed(vec![default], by_country, deadline, dedupe);
        let to = |phone: &str| {
            SmsRequest::from_json(&serde_json::json!({"phone_number": phone, "message": "code 7"}))
                .unwrap()
        };
        let sent = |outcome: Outcome| match outcome {
            Outcome::Sent { message_id, .. } => message_id,
            other => panic!("not sent: {other:?}"),
        };
        let now = Instant::now();
        assert_eq!(
            sent(gateway.send(&to("+4915123456789"), b"k", now).await),
            "from-german"
        );
        assert_eq!(
            sent(gateway.send(&to("+14155550100"), b"k", now).await),
            "from-default"
        );
        // +800 belongs to no country: the default chain.
        assert_eq!(
            sent(gateway.send(&to("+80012345678"), b"k", now).await),
            "from-default"
        );
        assert_eq!(
            (
                german_sends.load(Ordering::SeqCst),
                default_sends.load(Ordering::SeqCst)
            ),
            (1, 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_provider_starts_after_the_deadline() {
        let (gateway, counters) = gateway(vec![(Duration::ZERO, Ok("m".into()))]);
        let arrived = Instant::now() - Duration::from_millis(2500);
        let dispatch = gateway.dispatch(&sms(), arrived).await;
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
        let dispatch = gateway.dispatch(&sms(), Instant::now()).await;
        assert!(matches!(
            dispatch.result,
            Err(ProviderError::Indeterminate { .. })
        ));
        assert_eq!(sends(&counters), [1, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_certain_non_send_hands_over_only_while_the_next_provider_has_its_time() {
        let unavailable = || Err(ProviderError::unavailable("throttled"));
        // 1.5 s of 2.5 left: the next provider (1 s minimum) goes.
        let (first, counters) = gateway(vec![
            (Duration::from_millis(1000), unavailable()),
            (Duration::ZERO, Ok("m".into())),
        ]);
        let dispatch = first.dispatch(&sms(), Instant::now()).await;
        assert_eq!(dispatch.result, Ok("m".into()));
        assert_eq!(sends(&counters), [1, 1]);

        // 0.9 s left, or none: the next one is not started, and the answer is a certain
        // non-send (the first provider's), not a send cut in half.
        for first_took in [1600, 2500] {
            let (late, counters) = gateway(vec![
                (Duration::from_millis(first_took), unavailable()),
                (Duration::ZERO, Ok("m".into())),
            ]);
            let dispatch = late.dispatch(&sms(), Instant::now()).await;
            assert_eq!(dispatch.provider, "counting");
            assert_eq!(dispatch.result, unavailable(), "first took {first_took} ms");
            assert_eq!(sends(&counters), [1, 0], "first took {first_took} ms");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_provider_with_less_than_its_minimum_left_is_not_called() {
        let (gateway, counters) = gateway(vec![(Duration::ZERO, Ok("m".into()))]);
        let arrived = Instant::now() - Duration::from_millis(1600);
        let dispatch = gateway.dispatch(&sms(), arrived).await;
        assert!(
            matches!(&dispatch.result, Err(ProviderError::Unavailable { reason }) if reason.contains("needs 1000 ms")),
            "{:?}",
            dispatch.result
        );
        assert_eq!(sends(&counters), [0]);
    }
}
