//! What a failed connection says about a send, for every provider that speaks HTTP through the
//! SDK's connector (the AWS clients and Twilio alike).

use aws_smithy_runtime_api::client::result::ConnectorError;

/// Whether the request certainly never left: the connection could not be made (refused, timed
/// out while connecting, no DNS answer, a failed TLS handshake). The connector reports those as
/// connect errors before any byte of the request is written. Anything else (a reset, a connection
/// closed mid-answer, a read timeout) may come after the provider took the message.
pub fn never_connected(connector: &ConnectorError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(connector);
    while let Some(err) = source {
        if let Some(client) = err.downcast_ref::<hyper_util::client::legacy::Error>()
            && client.is_connect()
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = err.source();
    }
    false
}
