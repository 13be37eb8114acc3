//! The Lambda entrypoint: the Router under `lambda_http`, with the invocation's request id handed
//! to the request log event. The only module that knows about `lambda_http`.

use crate::http::{AppState, RequestId, router};
use axum::extract::Request;
use lambda_http::RequestExt;

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
    request
}
