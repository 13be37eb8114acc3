//! mosaic-sms-gateway: a custom SMS gateway for Transmit Security Mosaic.
//!
//! Mosaic calls the gateway with a validation challenge (`GET`) and with one-time passcodes to send
//! (`POST`); the gateway checks the API key and delivers the SMS through a provider. One axum Router
//! ([`entry::http::router`]) serves both AWS Lambda and a local server.
//!
//! The layers, and the only direction imports go (see ARCHITECTURE.md): [`entry`] → [`app`] →
//! [`adapters`] → [`domain`], and every layer may read [`settings`].

pub mod adapters;
pub mod app;
pub mod domain;
pub mod entry;
pub mod settings;
