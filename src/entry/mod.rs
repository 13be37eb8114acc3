//! Where requests come in: the HTTP Router (Mosaic's protocol), the Lambda host around it, the
//! command-line commands and the Mosaic admin client they use, Twilio's status callbacks, and the log
//! set-up.

pub mod commands;
pub mod http;
pub mod lambda;
pub mod mosaic;
pub mod telemetry;
pub mod twilio_status;
