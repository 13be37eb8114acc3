//! mosaic-sms-gateway: a custom SMS gateway for Transmit Security Mosaic.
//!
//! Mosaic calls the gateway with a validation challenge (`GET`) and with one-time passcodes to send
//! (`POST`); the gateway checks the API key and delivers the SMS through a provider. One axum Router
//! ([`http::router`]) serves both AWS Lambda and a local server.

pub mod app;
pub mod auth;
pub mod commands;
pub mod config;
pub mod country;
pub mod gateway;
pub mod http;
pub mod idempotency;
pub mod lambda;
pub mod metrics;
pub mod mosaic;
pub mod outbound;
pub mod providers;
pub mod redact;
pub mod secrets;
pub mod sms;
pub mod telemetry;
