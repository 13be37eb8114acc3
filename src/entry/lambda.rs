//! The Lambda entrypoint: the Router under `lambda_http`, with the invocation's request id (for
//! the request log event) and the time API Gateway received the request (for the send deadline)
//! handed on in the request's extensions. The only module that knows about `lambda_http`.

use crate::entry::http::{AppState, Arrived, RequestId, router};
use axum::extract::Request;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Serves Lambda invocations until the runtime stops.
pub async fn run(state: AppState) -> Result<(), lambda_http::Error> {
    lambda_http::run(app(state)).await
}

/// The Router as Lambda runs it: each request carries its invocation's [`RequestId`].
pub fn app(state: AppState) -> axum::Router {
    router(state).layer(axum::middleware::map_request(with_request_id))
}

async fn with_request_id(mut request: Request) -> Request {
    if let Some(id) = request.lambda_context_ref().map(|c| c.request_id.clone()) {
        request.extensions_mut().insert(RequestId(id));
    }
    // Function URL events arrive as API Gateway v2 ones.
    let epoch_ms = request
        .request_context_ref()
        .and_then(|context| match context {
            RequestContext::ApiGatewayV2(c) => Some(c.time_epoch),
            RequestContext::ApiGatewayV1(c) => Some(c.request_time_epoch),
            _ => None,
        });
    if let Some(arrived) = epoch_ms.and_then(arrival) {
        request.extensions_mut().insert(Arrived(arrived));
    }
    request
}

/// Longest wait between API Gateway and the function that is believed; an older time (a replayed
/// sample event, a skewed clock) says nothing about this request.
const MAX_BELIEVED_WAIT: Duration = Duration::from_secs(30);

/// When API Gateway received the request, on this process's clock. A cold start (init, the secret
/// read, the providers' connections) happens after that and before the handler runs: Mosaic's 3 s
/// count from here, so the send deadline does too.
fn arrival(epoch_ms: i64) -> Option<tokio::time::Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis();
    let waited_ms = now_ms.checked_sub(u128::try_from(epoch_ms).ok()?)?;
    let waited = Duration::from_millis(u64::try_from(waited_ms).ok()?);
    if waited > MAX_BELIEVED_WAIT {
        return None;
    }
    tokio::time::Instant::now().checked_sub(waited)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    #[test]
    fn arrival_counts_the_wait_before_the_handler() {
        let arrived = arrival(now_ms() - 1200).unwrap();
        let waited = arrived.elapsed();
        assert!(waited >= Duration::from_millis(1200), "{waited:?}");
        assert!(waited < Duration::from_millis(1200) + MAX_BELIEVED_WAIT);
        // A sample event's old time, or one in the future, is not believed.
        assert!(arrival(1_700_000_000_000).is_none());
        assert!(arrival(now_ms() + 60_000).is_none());
        assert!(arrival(-5).is_none());
    }
}
