//! SMS providers behind one trait, and the list that registers them.
//!
//! Each provider is one module that owns its settings (read from [`Env`] at start-up), its client
//! (built once), its send and the classification of its errors into [`crate::domain::outcome::ProviderError`]'s outcomes.
//! A new provider is that module and one line in [`REGISTRY`]; [`twilio`] shows the files a larger
//! one splits into.

pub mod end_user_messaging;
pub mod http_provider;
pub mod infobip;
pub mod outbox;
pub mod receipts;
pub mod rest;
pub mod salesforce_marketing_cloud;
pub mod sns;
pub mod twilio;
pub mod vonage;

use crate::adapters::net::HttpClient;
use crate::adapters::secrets::ApiKeys;
use crate::domain::keys::FingerprintKey;
use crate::domain::ports::SmsProvider;
use crate::settings::{ConfigError, Env};
use std::sync::{Arc, OnceLock};

/// Why a provider could not be built at start-up. Printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    NoRegion(#[from] crate::adapters::aws::NoRegion),
    #[error("cannot open the outbox {path}: {source}")]
    Outbox {
        path: String,
        source: std::io::Error,
    },
}

/// Reads a provider's settings; fails on any that cannot work.
pub type Configure = fn(&Env) -> Result<Box<dyn ProviderSetup>, ConfigError>;

/// Every provider the gateway knows, by the name `SMS_PROVIDER` uses.
pub const REGISTRY: &[(&str, Configure)] = &[
    ("sns", sns::configure),
    ("twilio", twilio::configure),
    ("end-user-messaging", end_user_messaging::configure),
    (
        salesforce_marketing_cloud::NAME,
        salesforce_marketing_cloud::configure,
    ),
    (vonage::NAME, vonage::configure),
    (infobip::NAME, infobip::configure),
    (http_provider::NAME, http_provider::configure),
    ("outbox", outbox::configure),
];

pub fn find(name: &str) -> Option<Configure> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|(n, _)| *n).collect()
}

/// What start-up lends a provider to build its client from.
pub struct BuildContext<'a> {
    /// The AWS configuration; `Some` whenever a provider's [`ProviderSetup::uses_aws`] is true.
    pub aws: Option<&'a aws_config::SdkConfig>,
    /// The gateway secret, which may hold provider credentials next to the API keys.
    pub secret: &'a Arc<ApiKeys>,
    /// The one HTTP client (the AWS clients' too), for providers that are not AWS SDK clients.
    pub http: &'a HttpClient,
    /// `FINGERPRINT_KEY`, or the key `FINGERPRINT_SECRET_ID` holds once start-up has read it
    /// (the gateway secret's `fingerprint_key` wins): what a token of the gateway's is made from.
    pub fingerprint: &'a Arc<OnceLock<FingerprintKey>>,
}

/// A provider's checked settings, before its client exists.
pub trait ProviderSetup: std::fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;

    /// Whether it needs AWS credentials and a region.
    fn uses_aws(&self) -> bool {
        false
    }

    /// Builds the provider and its client, once, at start-up.
    fn build(&self, context: &BuildContext<'_>) -> Result<Box<dyn SmsProvider>, BuildError>;
}
