//! Where requests come in: the HTTP Router (Mosaic's protocol), the Lambda host around it, the
//! command-line commands and the Mosaic admin client they use, the providers' delivery receipts, and
//! the log set-up.

pub mod commands;
pub mod configure;
pub mod http;
pub mod lambda;
pub mod mosaic;
pub mod receipts;
pub mod samconfig;
pub mod secret;
pub mod telemetry;
