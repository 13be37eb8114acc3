//! The Lambda entrypoint: the Router under `lambda_http`, with the invocation's request id (for
//! the request log event) and the time API Gateway received the request (for the send deadline)
//! handed on in the request's extensions. The only module that knows about `lambda_http`.

use crate::entry::http::{AppState, Arrived, RequestId, router};
use axum::extract::Request;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use lambda_http::tower::ServiceExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Serves Lambda invocations until the runtime stops. Each event's raw query is made a valid URI
/// query before `lambda_http` builds the request from it: it panics on one that is not (a `"`, a
/// space, `<` as a client sent them), and the caller would get a 500.
pub async fn run(state: AppState) -> Result<(), lambda_http::Error> {
    lambda_http::lambda_runtime::run(Cleaned(lambda_http::Adapter::from(app(state)))).await
}

/// `lambda_http`'s adapter, behind the clean-up of each event's raw query.
struct Cleaned<S>(S);

impl<S> lambda_http::Service<lambda_http::LambdaEvent<serde_json::Value>> for Cleaned<S>
where
    S: lambda_http::Service<lambda_http::LambdaEvent<lambda_http::request::LambdaRequest>>,
    S::Future: Send + 'static,
    S::Error: Into<lambda_http::Error>,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = lambda_http::Error;
    type Future = lambda_http::BoxFuture<'static, Result<S::Response, lambda_http::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, event: lambda_http::LambdaEvent<serde_json::Value>) -> Self::Future {
        let lambda_http::LambdaEvent {
            mut payload,
            context,
        } = event;
        clean_raw_query(&mut payload);
        match serde_json::from_value(payload) {
            Ok(request) => {
                let answer = self.0.call(lambda_http::LambdaEvent::new(request, context));
                Box::pin(async move { answer.await.map_err(Into::into) })
            }
            Err(e) => Box::pin(async move { Err(e.into()) }),
        }
    }
}

/// An event as `run` hands it to the Router: its raw query cleaned, then read by `lambda_http`
/// (the events' replay reads them this way).
pub fn request_from_event(event: &str) -> Result<lambda_http::Request, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_str(event)?;
    clean_raw_query(&mut value);
    serde_json::from_value::<lambda_http::request::LambdaRequest>(value).map(Into::into)
}

/// Percent-encodes what a URI query may not hold in an HTTP API or Function URL event's
/// `rawQueryString` (API Gateway passes it as the client sent it); what may stay, stays, so a
/// valid query reaches the Router unchanged.
fn clean_raw_query(event: &mut serde_json::Value) {
    let Some(serde_json::Value::String(query)) = event.get_mut("rawQueryString") else {
        return;
    };
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b);
    if query.bytes().all(allowed) {
        return;
    }
    let mut clean = String::with_capacity(query.len() + 8);
    for b in query.bytes() {
        if allowed(b) {
            clean.push(b as char);
        } else {
            clean.push_str(&format!("%{b:02X}"));
        }
    }
    *query = clean;
}

/// The Router as Lambda runs it: each request carries its invocation's [`RequestId`], and a REST
/// API's stage is off its path.
pub fn app(state: AppState) -> axum::Router {
    let routed = router(state).layer(axum::middleware::map_request(with_request_id));
    // A layer on a Router runs once it has picked the route: the stage comes off outside it.
    axum::Router::new().fallback_service(ServiceExt::map_request(routed, without_stage))
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

/// A REST API's (payload 1.0) request arrives with its stage in front of the path
/// (`/v1/twilio/status`: lambda_http puts it there); the Router's paths are the API's resources
/// (`/twilio/status`), as an HTTP API's `$default` stage and a Function URL give them, so the stage
/// comes off. Mosaic's path is any path; the receipts' are not.
fn without_stage(mut request: Request) -> Request {
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage else {
        return request;
    };
    let uri = request.uri();
    let Some(rest) = uri
        .path()
        .strip_prefix('/')
        .and_then(|path| path.strip_prefix(stage.as_str()))
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    else {
        return request;
    };
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
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
    fn a_raw_query_a_uri_cannot_hold_is_encoded_and_a_valid_one_kept() {
        let event = |query: &str| {
            serde_json::json!({
                "version": "2.0",
                "routeKey": "GET /vonage/status",
                "rawPath": "/vonage/status",
                "rawQueryString": query,
                "headers": {"host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"},
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "a1b2c3d4e5",
                    "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                    "http": {"method": "GET", "path": "/vonage/status", "protocol": "HTTP/1.1",
                             "sourceIp": "198.51.100.1", "userAgent": "x"},
                    "requestId": "r",
                    "routeKey": "GET /vonage/status",
                    "stage": "$default",
                    "time": "26/Nov/2025:06:30:26 +0000",
                    "timeEpoch": 1764138626680_i64
                },
                "isBase64Encoded": false
            })
        };
        for (raw, seen) in [
            ("status=delivered&sig=AB%2F", "status=delivered&sig=AB%2F"),
            ("a=\"x\" <y>|{z}", "a=%22x%22%20%3Cy%3E%7C%7Bz%7D"),
            ("t=\tü", "t=%09%C3%BC"),
        ] {
            let mut value = event(raw);
            clean_raw_query(&mut value);
            // lambda_http builds the request without a panic, with the query as cleaned.
            let request = lambda_http::request::from_str(&value.to_string()).unwrap();
            assert_eq!(request.uri().query(), Some(seen), "{raw}");
        }
    }

    /// The Router's paths, as an HTTP API and a REST API (stage `v1`) hand them over.
    fn path_seen(event: &str) -> String {
        let request = lambda_http::request::from_str(event).unwrap();
        let request = without_stage(request.map(axum::body::Body::new));
        request.uri().path_and_query().unwrap().to_string()
    }

    fn rest_event(path: &str, stage: &str, query: Option<&str>) -> String {
        serde_json::json!({
            "resource": path,
            "path": path,
            "httpMethod": "POST",
            "headers": {"Host": "r9s8t7u6v5.execute-api.us-east-1.amazonaws.com"},
            "multiValueHeaders": {"Host": ["r9s8t7u6v5.execute-api.us-east-1.amazonaws.com"]},
            "queryStringParameters": query.map(|q| serde_json::json!({"a": q})),
            "multiValueQueryStringParameters": query.map(|q| serde_json::json!({"a": [q]})),
            "requestContext": {
                "resourcePath": path,
                "httpMethod": "POST",
                "path": format!("/{stage}{path}"),
                "accountId": "123456789012",
                "stage": stage,
                "requestTimeEpoch": 1764138733645_i64,
                "requestId": "r",
                "identity": {"sourceIp": "198.51.100.23"},
                "apiId": "r9s8t7u6v5"
            },
            "body": null,
            "isBase64Encoded": false
        })
        .to_string()
    }

    #[test]
    fn a_rest_apis_stage_comes_off_the_path() {
        assert_eq!(
            path_seen(&rest_event("/twilio/status", "v1", None)),
            "/twilio/status"
        );
        assert_eq!(
            path_seen(&rest_event("/vonage/status", "v1", Some("b"))),
            "/vonage/status?a=b"
        );
        assert_eq!(
            path_seen(&rest_event("/send-sms", "prod", None)),
            "/send-sms"
        );
        // Only a whole first segment that is the stage comes off.
        assert_eq!(
            path_seen(&rest_event("/v1x/status", "v1", None)),
            "/v1x/status"
        );
        // The HTTP API's events are left as they come.
        let http = include_str!("../../events/204-twilio-status-delivered.json");
        assert_eq!(path_seen(http), "/twilio/status");
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
