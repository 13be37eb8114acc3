//! What the gateway does, without doing any I/O itself: phone numbers and their countries, the SMS
//! request, the three outcomes of a send, the ports the adapters implement, and the send service
//! that puts policy, dedupe, limits and dispatch under one deadline. Nothing here reads the process
//! environment, opens a connection or names an AWS type.

pub mod country;
pub mod dedupe;
pub mod gateway;
pub mod gsm7;
pub mod keys;
pub mod limits;
pub mod numbering;
pub mod outcome;
pub mod phone;
pub mod ports;
pub mod redact;
pub mod shaping;
pub mod sms;
