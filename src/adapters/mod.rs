//! The outside world behind the domain's ports: SMS providers, the dedupe store, the secret
//! holding the API keys, the shared HTTP client and AWS SDK set-up, and metrics.

pub mod aws;
pub mod emf;
pub mod net;
pub mod providers;
pub mod secrets;
pub mod store;
