//! Wiring: turns the configuration into the shared state (AWS clients, keys, providers, the
//! dedupe store) once. The only place that chooses adapters.

pub mod config;
#[cfg(test)]
mod documented;

use crate::adapters::aws::{load_aws_config, secrets_client};
use crate::adapters::emf::Metrics;
use crate::adapters::net::HttpClient;
use crate::adapters::providers::twilio::StatusCallbacks;
use crate::adapters::providers::{BuildContext, BuildError};
use crate::adapters::secrets::{ApiKeys, SecretKeys};
use crate::adapters::store::{DynamoStore, MemoryStore};
use crate::domain::country::Country;
use crate::domain::dedupe::{Budget, Dedupe, Settings};
use crate::domain::gateway::Gateway;
use crate::domain::keys::FingerprintKey;
use crate::domain::ports::{MetricsSink, SmsProvider};
use aws_config::SdkConfig;
use config::{Config, KeyConfig};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Why the gateway cannot start. Printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::settings::ConfigError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    NoRegion(#[from] crate::adapters::aws::NoRegion),
    /// The idempotency table cannot work (it does not exist).
    #[error("{0}")]
    Dedupe(String),
    /// `FINGERPRINT_SECRET_ID` could not be read.
    #[error("FINGERPRINT_SECRET_ID: {0}")]
    FingerprintSecret(String),
    /// A provider's own start-up check failed (credentials missing from the secret, ...).
    #[error("{provider}: {message}")]
    Provider {
        provider: &'static str,
        message: String,
    },
}

impl StartupError {
    fn provider((provider, message): (&'static str, String)) -> Self {
        Self::Provider { provider, message }
    }
}

/// Everything a request needs, built once at start-up and shared.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Arc<ApiKeys>,
    gateway: Gateway,
    metrics: Metrics,
    /// `FINGERPRINT_KEY`, or the key `FINGERPRINT_SECRET_ID` holds once start-up has read it;
    /// the gateway secret's `fingerprint_key` wins.
    fingerprint: Arc<OnceLock<FingerprintKey>>,
    /// `FINGERPRINT_SECRET_ID`, and the client to read it with, until start-up reads it.
    fingerprint_secret: Option<(aws_sdk_secretsmanager::Client, String)>,
    /// Whether counts outlive a request (a table or a limit): then start-up warns without a
    /// fingerprint key.
    counts_matter: bool,
    /// With `TWILIO_STATUS_CALLBACK_URL`: the check of Twilio's callbacks.
    twilio_callbacks: Option<StatusCallbacks>,
    /// With Vonage's receipts on: the check of their signature.
    vonage_receipts: Option<crate::adapters::providers::vonage::Receipts>,
    /// With Infobip's receipts on: the check of the gateway's token in their URL.
    infobip_receipts: Option<crate::adapters::providers::infobip::Receipts>,
}

/// What the state is built from besides the configuration. The binary makes them with
/// [`Dependencies::load`]; a test starts from [`Dependencies::default`] with its own AWS (moto) and
/// stand-ins, and both go through the same [`AppState::build`], so they cannot drift apart.
pub struct Dependencies {
    /// The one HTTP client of every outside call; the AWS clients' too when `sdk` was loaded with it.
    pub http: HttpClient,
    /// The AWS configuration: `Some` whenever the configuration uses AWS.
    pub sdk: Option<SdkConfig>,
    /// Where the send metrics go (EMF in Lambda).
    pub metrics: Metrics,
    /// Providers already built, each standing in for the configured provider of its name (or for
    /// a name a test put in the configuration's chains); the chains decide where each is tried.
    /// Empty in production: every provider is built from its settings.
    pub providers: Vec<Box<dyn SmsProvider>>,
    /// The API keys, when lent (a key cache with a test's own timings); else as `config.keys`
    /// says.
    pub keys: Option<ApiKeys>,
}

impl Default for Dependencies {
    /// A new HTTP client, no AWS, no metrics, nothing lent.
    fn default() -> Self {
        Self {
            http: HttpClient::new(),
            sdk: None,
            metrics: Metrics::Off,
            providers: Vec::new(),
            keys: None,
        }
    }
}

impl Dependencies {
    /// As the binary starts: one HTTP client for every outside call, and the AWS configuration
    /// loaded through it only when something uses AWS.
    pub async fn load(config: &Config, metrics: Metrics) -> Result<Self, StartupError> {
        let http = HttpClient::new();
        let sdk = if config.uses_aws() {
            Some(load_aws_config(&http).await?)
        } else {
            None
        };
        Ok(Self {
            http,
            sdk,
            metrics,
            ..Self::default()
        })
    }
}

impl AppState {
    /// The one way to build the state: keys, providers (each once, however many chains name it),
    /// the dedupe store, the gateway and the callback check, from `config` and `deps`, checked
    /// against the deadline. Complete when made; [`start`] then reads what needs the network.
    pub fn build(config: &Config, deps: Dependencies) -> Result<Self, StartupError> {
        let Dependencies {
            http,
            sdk,
            metrics,
            providers: lent,
            keys,
        } = deps;
        let sdk = sdk.as_ref();
        let keys = Arc::new(match keys {
            Some(keys) => keys,
            None => api_keys(&config.keys, sdk)?,
        });
        let fingerprint = Arc::new(
            config
                .fingerprint_key
                .clone()
                .map_or_else(OnceLock::new, OnceLock::from),
        );
        let context = BuildContext {
            aws: sdk,
            secret: &keys,
            http: &http,
            fingerprint: &fingerprint,
        };
        let (providers, by_country) = chains(config, lent, &context)?;
        // The chain that needs the most time to start decides: every chain must fit the deadline.
        let slowest_first = providers
            .first()
            .into_iter()
            .chain(by_country.values().filter_map(|c| c.first()))
            .max_by_key(|p| p.min_send_time());
        check_deadline(config, slowest_first.map(|p| p.as_ref()))?;
        let sink: Arc<dyn MetricsSink> = Arc::new(metrics.clone());
        // A re-claimed send needs the first provider's minimum time, or it answers at once.
        let first_needs = slowest_first.map_or(Duration::ZERO, |p| p.min_send_time());
        let budget = Budget::of(config.send_deadline).with_min_send(first_needs);
        let dedupe = dedupe_for(&config.dedupe, sdk, budget).with_metrics(Arc::clone(&sink));
        let gateway = Gateway::routed(providers, by_country, config.send_deadline, dedupe)
            .with_metrics(sink)
            .with_countries(config.countries.clone(), config.senders_by_country)
            .with_numbers(config.numbers.clone())
            .with_shaping(config.shaping.clone());
        let twilio_callbacks = config.twilio_callbacks.as_ref().map(|callbacks| {
            StatusCallbacks::new(
                callbacks.url.clone(),
                Arc::clone(&keys),
                callbacks.auth_token.clone(),
                callbacks.account_sid.clone(),
            )
        });
        let vonage_receipts = config.vonage_receipts.clone().map(|settings| {
            crate::adapters::providers::vonage::Receipts::new(settings, Arc::clone(&keys))
        });
        let infobip_receipts = config.infobip_receipts.clone().map(|settings| {
            crate::adapters::providers::infobip::Receipts::new(
                settings,
                Arc::clone(&keys),
                Arc::clone(&fingerprint),
            )
        });
        let fingerprint_secret = match (&config.fingerprint_secret_id, sdk) {
            (Some(id), Some(sdk)) => Some((secrets_client(sdk), id.clone())),
            _ => None,
        };
        let counts_matter = config.dedupe.table.is_some()
            || config.dedupe.limits != crate::domain::limits::LimitSettings::default();
        Ok(Self {
            inner: Arc::new(Inner {
                keys,
                gateway,
                metrics,
                fingerprint,
                fingerprint_secret,
                counts_matter,
                twilio_callbacks,
                vonage_receipts,
                infobip_receipts,
            }),
        })
    }

    /// The HMAC key of the store's names for a request that presented `presented`: the gateway
    /// secret's `fingerprint_key` (as last read), else `FINGERPRINT_KEY`, else the API key itself
    /// (Mosaic's re-sends present the same one; a rotation then restarts the counts).
    pub fn fingerprint_key_for(&self, presented: &[u8]) -> Vec<u8> {
        if let Some(secret) = self.keys().latest()
            && let Some(key) = secret.field("fingerprint_key")
        {
            return key.as_bytes().to_vec();
        }
        match self.inner.fingerprint.get() {
            Some(key) => key.as_bytes().to_vec(),
            None => presented.to_vec(),
        }
    }

    fn has_fingerprint_key(&self) -> bool {
        self.inner.fingerprint.get().is_some()
            || self
                .keys()
                .latest()
                .is_some_and(|s| s.field("fingerprint_key").is_some())
    }

    /// The check of Twilio's status callbacks, when they are configured.
    pub fn twilio_callbacks(&self) -> Option<&StatusCallbacks> {
        self.inner.twilio_callbacks.as_ref()
    }

    /// The check of Vonage's receipts, when they are on.
    pub fn vonage_receipts(&self) -> Option<&crate::adapters::providers::vonage::Receipts> {
        self.inner.vonage_receipts.as_ref()
    }

    /// The check of Infobip's receipts, when they are on.
    pub fn infobip_receipts(&self) -> Option<&crate::adapters::providers::infobip::Receipts> {
        self.inner.infobip_receipts.as_ref()
    }

    pub fn keys(&self) -> &ApiKeys {
        &self.inner.keys
    }

    pub fn gateway(&self) -> &Gateway {
        &self.inner.gateway
    }

    /// The send metrics the HTTP layer records (EMF in Lambda).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

/// A chain of providers, tried in order.
type Chain = Vec<Arc<dyn SmsProvider>>;

/// The default chain and the countries' own, each provider built once however many chains name
/// it; a lent provider is used in place of building the configured one of its name.
fn chains(
    config: &Config,
    lent: Vec<Box<dyn SmsProvider>>,
    context: &BuildContext<'_>,
) -> Result<(Chain, HashMap<Country, Chain>), StartupError> {
    let mut built: HashMap<&'static str, Arc<dyn SmsProvider>> = HashMap::new();
    for provider in lent {
        let name = provider.name();
        // A second one under the same name would silently take the first one's place.
        assert!(
            built.insert(name, Arc::from(provider)).is_none(),
            "two providers lent under the name {name}"
        );
    }
    for setup in &config.providers {
        if !built.contains_key(setup.name()) {
            built.insert(setup.name(), Arc::from(setup.build(context)?));
        }
    }
    let chain = |names: &[&'static str]| -> Chain {
        names.iter().filter_map(|n| built.get(n).cloned()).collect()
    };
    let by_country = config
        .chains_by_country
        .iter()
        .map(|(country, names)| (*country, chain(names)))
        .collect();
    Ok((chain(&config.default_chain), by_country))
}

/// The API keys `keys` describes; a secret needs the AWS configuration.
fn api_keys(keys: &KeyConfig, sdk: Option<&SdkConfig>) -> Result<ApiKeys, StartupError> {
    Ok(match keys {
        KeyConfig::SecretsManager {
            secret_id,
            ttl,
            stale_max,
        } => {
            let sdk = sdk.ok_or(crate::adapters::aws::NoRegion)?;
            ApiKeys::SecretsManager(
                SecretKeys::new(secrets_client(sdk), secret_id.clone(), *ttl)
                    .with_stale_keys_max(*stale_max),
            )
        }
        KeyConfig::Fixed(key) | KeyConfig::Generated(key) => {
            ApiKeys::Fixed(crate::domain::keys::KeySet::single(key.clone()))
        }
    })
}

/// Reads `FINGERPRINT_SECRET_ID` when it is set. A failure stops start-up: counting under the API
/// key instead would split every count in two and let the limits be walked around.
async fn read_fingerprint_key(state: &AppState) -> Result<(), StartupError> {
    let Some((client, secret_id)) = &state.inner.fingerprint_secret else {
        return Ok(());
    };
    let key = crate::adapters::secrets::read_fingerprint_key(client, secret_id)
        .await
        .map_err(|e| StartupError::FingerprintSecret(e.to_string()))?;
    let _ = state.inner.fingerprint.set(key);
    Ok(())
}

/// The dedupe store the settings ask for: the table when there is one, else in process.
fn dedupe_for(settings: &Settings, sdk: Option<&SdkConfig>, budget: Budget) -> Dedupe {
    match (&settings.table, sdk) {
        (Some(table), Some(sdk)) => {
            let store = DynamoStore::new(sdk, table.clone(), budget.before_send);
            Dedupe::new(store, settings, budget)
        }
        _ => Dedupe::new(MemoryStore::default(), settings, budget),
    }
}

/// `SEND_DEADLINE_MS` must leave the first provider its minimum time to send even when the
/// idempotency table's calls take all the time they are given (a fifth of the deadline before the
/// send, a tenth after it); otherwise every send would fail, or be cut after its request left.
fn check_deadline(config: &Config, first: Option<&dyn SmsProvider>) -> Result<(), StartupError> {
    let Some(first) = first else {
        return Ok(());
    };
    let deadline = config.send_deadline;
    let table = config.dedupe.table.is_some();
    let reserved = if table {
        Budget::of(deadline).reserved()
    } else {
        Duration::ZERO
    };
    let needs = first.min_send_time();
    if deadline.saturating_sub(reserved) >= needs {
        return Ok(());
    }
    let least = if table {
        Budget::least_deadline_for(needs)
    } else {
        needs
    };
    let least_ms = least.as_millis();
    Err(StartupError::Config(crate::settings::ConfigError::invalid(
        "SEND_DEADLINE_MS",
        format!(
            "is {} ms, which leaves {} less than the {} ms it needs to send{}: set at least {least_ms}",
            deadline.as_millis(),
            first.name(),
            needs.as_millis(),
            if table {
                " once the idempotency table's calls have had their share"
            } else {
                ""
            },
        ),
    )))
}

/// What start-up does once the state exists, in Lambda during init: reads the secret (which also
/// opens the TLS connection) and lets each provider check itself and open its connection, so the
/// first passcode pays for neither. The idempotency table's check and the providers that need
/// nothing from the secret start during the secret read, the others after it. Fails only on what
/// will not heal by itself.
pub async fn start(state: &AppState) -> Result<(), StartupError> {
    let gateway = state.gateway();
    let store = async { gateway.start().await.map_err(StartupError::Dedupe) };
    let ((), store, independent, fingerprint) = tokio::join!(
        state.keys().warm_up(),
        store,
        gateway.start_providers(false),
        read_fingerprint_key(state)
    );
    fingerprint?;
    store?;
    independent.map_err(StartupError::provider)?;
    if state.inner.counts_matter && !state.has_fingerprint_key() {
        tracing::warn!(
            "no fingerprint_key in the gateway secret (nor FINGERPRINT_SECRET_ID, FINGERPRINT_KEY): dedupe and the limits are keyed by the API key, so rotating it starts every count again and, during the rotation, counts each number twice; add a random fingerprint_key to the secret"
        );
    }
    gateway
        .start_providers(true)
        .await
        .map_err(StartupError::provider)
}
