//! The one integration-test binary (each test binary links the whole AWS SDK; one keeps builds short).

mod binary;
mod dedupe;
mod end_user_messaging;
mod entropy;
mod events;
mod idle;
mod key_cache;
mod lambda_host;
mod layers;
mod load;
mod logs;
mod mosaic;
mod numbers;
mod process;
mod properties;
mod router;
mod salesforce_marketing_cloud;
mod secrets_moto;
mod sns_attributes;
mod sns_failures;
mod sns_moto;
mod store_failures;
mod support;
mod tls;
mod twilio;
mod twilio_status;
