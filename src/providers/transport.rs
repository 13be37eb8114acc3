//! What a failed connection says about a send, for every provider that speaks HTTP through the
//! SDK's connector (the AWS clients and Twilio alike).

use aws_smithy_runtime_api::client::result::ConnectorError;

/// Whether the request certainly never left: a connect timeout, or a refused connection. Anything
/// else (a reset, a connection closed mid-answer, a read timeout) may come after the provider took
/// the message.
///
/// The clients set a connect timeout and no read timeout (the whole call is cut by an operation
/// timeout instead), so a connector timeout here is the connect one.
pub fn never_connected(connector: &ConnectorError) -> bool {
    if connector.is_timeout() {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(connector);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = err.source();
    }
    false
}
