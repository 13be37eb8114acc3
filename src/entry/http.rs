//! Mosaic's side of the protocol as one axum Router: any path, the method decides. The same Router
//! runs under `lambda_http` and `axum::serve`; this module only maps requests to the send service
//! ([`crate::domain::gateway::Gateway`]) and its outcomes to the contract.

pub use crate::app::AppState;
use crate::domain::country::Country;
use crate::domain::outcome::{Held, Outcome, ProviderError};
use crate::domain::sms::{FieldError, PhoneNumber, SmsRequest};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;
use std::time::Instant;

/// Largest request body accepted. Mosaic's sends are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest `X-Verification-Key` echoed back.
pub const MAX_VERIFICATION_KEY_LEN: usize = 512;

/// When the request reached the gateway's host (API Gateway, in Lambda), if earlier than the
/// handler; the send deadline counts from it.
#[derive(Debug, Clone, Copy)]
pub struct Arrived(pub tokio::time::Instant);

/// The id of the invocation that carried a request, when a host has one (the Lambda entrypoint
/// puts it in the request's extensions); the request log event shows it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The gateway: every path and method goes to one handler.
pub fn router(state: AppState) -> Router {
    use crate::entry::receipts;
    Router::new()
        // The providers' delivery receipts, each on its own path; every other path is Mosaic's.
        .route(
            crate::adapters::providers::twilio::STATUS_PATH,
            axum::routing::post(receipts::twilio).fallback(receipts::twilio_method_not_allowed),
        )
        .route(
            crate::adapters::providers::vonage::STATUS_PATH,
            axum::routing::get(receipts::vonage)
                .post(receipts::vonage)
                .fallback(receipts::vonage_method_not_allowed),
        )
        .route(
            crate::adapters::providers::infobip::STATUS_PATH,
            axum::routing::post(receipts::infobip).fallback(receipts::infobip_method_not_allowed),
        )
        .fallback(handle)
        .with_state(state)
}

/// A request that did not get its 200, as the contract names it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the X-API-Key header is missing")]
    MissingApiKey,
    #[error("the X-API-Key header does not hold a valid API key")]
    WrongApiKey,
    #[error("the API keys cannot be read right now; try again")]
    KeysUnavailable,
    #[error("the X-Verification-Key header is missing")]
    MissingVerificationKey,
    #[error(
        "the X-Verification-Key header must be 1 to {MAX_VERIFICATION_KEY_LEN} visible ASCII characters"
    )]
    BadVerificationKey,
    #[error("the Content-Type must be application/json")]
    NotJson,
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the body could not be read")]
    UnreadableBody,
    #[error("the body is not valid JSON")]
    InvalidJson,
    #[error("{0}")]
    InvalidField(FieldError),
    #[error("only GET (validation challenge) and POST (send) are supported")]
    MethodNotAllowed,
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    ProviderFailed(String),
    #[error("the provider may have sent the message before it failed: {0}")]
    DeliveryUnknown(String),
    #[error("{0}")]
    CountryNotAllowed(String),
    #[error(
        "the number is valid for no country by the numbering plan (VALID_NUMBERS_ONLY); nothing was sent"
    )]
    InvalidNumber,
    #[error("SMS to {0} numbers are not allowed (BLOCKED_NUMBER_TYPES); nothing was sent")]
    NumberTypeNotAllowed(&'static str),
    #[error("this number has had its {0} SMS this hour (MAX_SMS_PER_NUMBER_PER_HOUR)")]
    OverLimit(u64),
    #[error(
        "the number's range (the number without its last four digits; in plans of five national digits or fewer, its first two, or one of three) had its share of SMS this hour and is blocked for PREFIX_BLOCK_SECONDS (MAX_SMS_PER_PREFIX_PER_HOUR); nothing was sent"
    )]
    PrefixBlocked,
    #[error("{0} (MAX_SMS_PER_COUNTRY_PER_HOUR); nothing was sent")]
    CountryLimit(String),
    #[error(
        "an identical request is still being sent by another instance of the gateway, and its outcome is not known yet"
    )]
    StillInFlight,
    #[error(
        "the duplicate check and the limits cannot be applied right now, and this gateway sends nothing unchecked (LIMITS_ON_STORE_FAILURE=closed); try again"
    )]
    LimitsUnavailable,
    #[error(
        "an identical request moments ago may have been sent (its provider's answer was lost or unreadable), so it is not sent again within the dedupe window"
    )]
    EarlierMaybeSent,
    #[error(
        "the message would be sent as {segments} SMS, more than the {max} MAX_SEGMENTS allows; nothing was sent"
    )]
    MessageTooLong { segments: usize, max: usize },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingApiKey | Self::WrongApiKey => StatusCode::UNAUTHORIZED,
            Self::KeysUnavailable | Self::LimitsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingVerificationKey
            | Self::BadVerificationKey
            | Self::UnreadableBody
            | Self::InvalidJson
            | Self::InvalidField(_) => StatusCode::BAD_REQUEST,
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Rejected(_)
            | Self::CountryNotAllowed(_)
            | Self::InvalidNumber
            | Self::NumberTypeNotAllowed(_)
            | Self::MessageTooLong { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::OverLimit(_) | Self::PrefixBlocked | Self::CountryLimit(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::ProviderFailed(_)
            | Self::DeliveryUnknown(_)
            | Self::StillInFlight
            | Self::EarlierMaybeSent => StatusCode::BAD_GATEWAY,
        }
    }

    /// The machine-readable `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingApiKey => "missing_api_key",
            Self::WrongApiKey => "invalid_api_key",
            Self::KeysUnavailable => "keys_unavailable",
            Self::MissingVerificationKey => "missing_verification_key",
            Self::BadVerificationKey => "invalid_verification_key",
            Self::NotJson => "unsupported_media_type",
            Self::TooLarge => "body_too_large",
            Self::UnreadableBody => "unreadable_body",
            Self::InvalidJson => "invalid_json",
            Self::InvalidField(FieldError::Missing(_)) => "missing_field",
            Self::InvalidField(_) => "invalid_field",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Rejected(_) => "recipient_rejected",
            Self::ProviderFailed(_) => "provider_failed",
            Self::DeliveryUnknown(_) | Self::StillInFlight | Self::EarlierMaybeSent => {
                "delivery_unknown"
            }
            Self::CountryNotAllowed(_) => "country_not_allowed",
            Self::InvalidNumber => "invalid_number",
            Self::NumberTypeNotAllowed(_) => "number_type_not_allowed",
            Self::OverLimit(_) => "rate_limited",
            Self::PrefixBlocked => "prefix_blocked",
            Self::CountryLimit(_) => "country_limit",
            Self::LimitsUnavailable => "limits_unavailable",
            Self::MessageTooLong { .. } => "message_too_long",
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(failure: ProviderError) -> Self {
        match failure {
            ProviderError::Rejected { reason } => Self::Rejected(reason),
            ProviderError::Unavailable { reason } | ProviderError::Misconfigured { reason } => {
                Self::ProviderFailed(reason)
            }
            ProviderError::Indeterminate { reason } => Self::DeliveryUnknown(reason),
            // `send` answers it as the duplicate it is; were it to reach here, the one safe
            // answer: never one that invites a second send.
            ProviderError::AlreadySent { reason, .. } => Self::DeliveryUnknown(reason),
        }
    }
}

impl ApiError {
    /// The error as the answer may say it: a provider's reason with the number masked and
    /// account identifiers (SIDs, ARNs, account ids) taken out. The log line keeps them.
    fn for_the_caller(self, phone: Option<&PhoneNumber>) -> Self {
        let clean = |reason: String| {
            let reason = phone.map_or_else(|| reason.clone(), |p| p.mask_in(&reason));
            crate::domain::redact::identifiers(&reason)
        };
        match self {
            Self::Rejected(r) => Self::Rejected(clean(r)),
            Self::ProviderFailed(r) => Self::ProviderFailed(clean(r)),
            Self::DeliveryUnknown(r) => Self::DeliveryUnknown(clean(r)),
            Self::CountryNotAllowed(r) => Self::CountryNotAllowed(clean(r)),
            other => other,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.code(), "message": self.to_string()});
        if let Self::InvalidField(e) = &self
            && let Some(field) = e.field()
        {
            body["field"] = field.into();
        }
        if let Self::MessageTooLong { segments, max } = &self {
            body["segments"] = (*segments).into();
            body["max_segments"] = (*max).into();
        }
        let mut response = (self.status(), axum::Json(body)).into_response();
        if matches!(self, Self::MethodNotAllowed) {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        }
        response
    }
}

/// The metrics' outcome of a re-send held back by the dedupe (its answer is `delivery_unknown`).
const RESEND_HELD: &str = crate::adapters::emf::RESEND_HELD;

/// What the request log event says beyond status and latency.
#[derive(Default)]
struct LogFields {
    /// The Lambda invocation's request id, when running in Lambda.
    request_id: Option<String>,
    provider: Option<String>,
    message_id: Option<String>,
    phone: Option<PhoneNumber>,
    reason: Option<String>,
    /// The answer repeats an identical earlier send.
    duplicate: bool,
    /// How the shaped message goes over the air: its encoding and segments.
    segments: Option<crate::domain::gsm7::Segments>,
    /// Why configured autofill lines were left out of the message.
    autofill_skipped: Option<&'static str>,
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let arrived = request
        .extensions()
        .get::<Arrived>()
        .map_or_else(tokio::time::Instant::now, |a| a.0);
    let method = request.method().clone();
    let mut fields = LogFields {
        request_id: request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone()),
        ..LogFields::default()
    };
    let result = match method {
        Method::GET => challenge(&state, request.headers()).await,
        Method::POST => send(&state, request, arrived, &mut fields).await,
        _ => Err(ApiError::MethodNotAllowed),
    };
    // A re-send answered while the first send is under way (or may have gone) is the dedupe at
    // work, not a failure: its metric says so, whatever the answer's code.
    let mut resend_held = false;
    let (response, outcome) = match result {
        Ok(response) => (
            response,
            match (method == Method::GET, fields.duplicate) {
                (true, _) => "challenge_answered",
                (false, true) => "duplicate",
                (false, false) => "sent",
            },
        ),
        Err(err) => {
            let outcome = err.code();
            resend_held = matches!(err, ApiError::StillInFlight | ApiError::EarlierMaybeSent);
            if let ApiError::Rejected(reason)
            | ApiError::ProviderFailed(reason)
            | ApiError::DeliveryUnknown(reason)
            | ApiError::CountryNotAllowed(reason) = &err
            {
                fields.reason = Some(match &fields.phone {
                    Some(phone) => phone.mask_in(reason),
                    None => reason.clone(),
                });
            }
            (
                err.for_the_caller(fields.phone.as_ref()).into_response(),
                outcome,
            )
        }
    };
    // The country for refusals and sends, the cases the metrics count by country.
    let refused = matches!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::TOO_MANY_REQUESTS
    );
    let sent = response.status() == StatusCode::OK && outcome == "sent";
    let country = match &fields.phone {
        Some(phone) if refused || sent => Country::of(phone),
        _ => None,
    };
    state.metrics().record_send(
        &method,
        &crate::adapters::emf::Attempt {
            status: response.status(),
            provider: fields.provider.as_deref(),
            outcome: if resend_held { RESEND_HELD } else { outcome },
            country: country.as_ref().map(Country::as_str),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            segments: fields.segments.filter(|_| sent).map(|s| s.count),
        },
    );
    log_request(&method, response.status(), outcome, started, fields);
    response
}

fn log_request(method: &Method, status: StatusCode, outcome: &str, started: Instant, f: LogFields) {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let phone = f.phone.as_ref().map(PhoneNumber::masked);
    macro_rules! event {
        ($level:ident) => {
            tracing::$level!(
                target: "mosaic_sms_gateway::request",
                method = %method,
                status = status.as_u16(),
                outcome,
                request_id = f.request_id.as_deref(),
                provider = f.provider.as_deref(),
                message_id = f.message_id.as_deref(),
                phone = phone.as_deref(),
                reason = f.reason.as_deref(),
                encoding = f.segments.map(|s| s.encoding.as_str()),
                segments = f.segments.map(|s| s.count),
                autofill_skipped = f.autofill_skipped,
                latency_ms = (latency_ms * 10.0).round() / 10.0,
                "request"
            )
        };
    }
    if status.is_server_error() {
        event!(warn)
    } else {
        event!(info)
    }
}

async fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers.get("x-api-key").ok_or(ApiError::MissingApiKey)?;
    match state.keys().check(presented.as_bytes()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::WrongApiKey),
        Err(_) => Err(ApiError::KeysUnavailable),
    }
}

/// Mosaic's validation challenge: prove we hold the API key by echoing `X-Verification-Key`.
async fn challenge(state: &AppState, headers: &HeaderMap) -> Result<Response, ApiError> {
    authorize(state, headers).await?;
    let key = headers
        .get("x-verification-key")
        .ok_or(ApiError::MissingVerificationKey)?;
    let key = key
        .to_str()
        .ok()
        .filter(|k| (1..=MAX_VERIFICATION_KEY_LEN).contains(&k.len()))
        .filter(|k| k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or(ApiError::BadVerificationKey)?;
    Ok(axum::Json(json!({ "key": key })).into_response())
}

/// Mosaic's send: validate everything first, then hand the SMS to the send service exactly once.
async fn send(
    state: &AppState,
    request: Request,
    arrived: tokio::time::Instant,
    log: &mut LogFields,
) -> Result<Response, ApiError> {
    authorize(state, request.headers()).await?;
    // The key the request was sent with: without a fingerprint key it keys the store's names
    // (re-sends of one request bring the same one).
    let presented_key = request
        .headers()
        .get("x-api-key")
        .cloned()
        .ok_or(ApiError::MissingApiKey)?;
    if !is_json(request.headers()) {
        return Err(ApiError::NotJson);
    }
    let body = read_body(request.into_body()).await?;
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::InvalidJson)?;
    let mut sms = SmsRequest::from_json(&value).map_err(ApiError::InvalidField)?;
    log.phone = Some(sms.phone_number.clone());
    // Shaped once, before the dedupe fingerprints it: a re-send is shaped the same.
    let shaped =
        state
            .gateway()
            .shape(&sms.message)
            .map_err(|too_long| ApiError::MessageTooLong {
                segments: too_long.segments,
                max: too_long.max,
            })?;
    sms.message = shaped.message;
    log.segments = Some(shaped.segments);
    if let Some(skipped) = shaped.skipped {
        log.autofill_skipped = Some(skipped.as_str());
        state.metrics().record_autofill_skipped(skipped.as_str());
    }

    // The send runs in a task of its own: a client that hangs up (dropping this handler) must not
    // cut a send in half, its request perhaps already with the provider.
    let (task_state, task_sms) = (state.clone(), sms.clone());
    let fingerprint_key = state.fingerprint_key_for(presented_key.as_bytes());
    let outcome = tokio::spawn(async move {
        task_state
            .gateway()
            .send(&task_sms, &fingerprint_key, arrived)
            .await
    })
    .await
    .unwrap_or_else(|_| Outcome::Failed {
        provider: state.gateway().provider_names()[0],
        error: ProviderError::indeterminate("the send stopped unexpectedly"),
    });
    answer(outcome, log)
}

/// The contract's answer to each outcome of a send: its status, code and body. The one place an
/// outcome becomes HTTP; what it means was decided by the gateway.
fn answer(outcome: Outcome, log: &mut LogFields) -> Result<Response, ApiError> {
    let body = |status: &str, provider: &str, message_id: &str| {
        let body = json!({"status": status, "provider": provider, "message_id": message_id});
        axum::Json(body).into_response()
    };
    match outcome {
        Outcome::Sent {
            provider,
            message_id,
        } => {
            log.provider = Some(provider.to_owned());
            let sent = body("sent", provider, &message_id);
            log.message_id = Some(message_id);
            Ok(sent)
        }
        Outcome::Held(Held::Duplicate {
            provider,
            message_id,
        }) => {
            log.duplicate = true;
            let duplicate = body("duplicate", &provider, &message_id);
            log.provider = Some(provider);
            log.message_id = Some(message_id);
            Ok(duplicate)
        }
        Outcome::Failed { provider, error } => {
            log.provider = Some(provider.to_owned());
            Err(ApiError::from(error))
        }
        Outcome::Held(Held::CountryNotAllowed { country }) => {
            Err(ApiError::CountryNotAllowed(match country {
                Some(country) => format!("SMS to numbers in {country} are not allowed"),
                None => "the number's country cannot be told, and only listed countries are allowed"
                    .into(),
            }))
        }
        Outcome::Held(Held::InvalidNumber) => Err(ApiError::InvalidNumber),
        Outcome::Held(Held::NumberTypeNotAllowed { number_type }) => {
            Err(ApiError::NumberTypeNotAllowed(number_type.as_str()))
        }
        Outcome::Held(Held::OverLimit { limit }) => Err(ApiError::OverLimit(limit)),
        Outcome::Held(Held::PrefixBlocked) => Err(ApiError::PrefixBlocked),
        Outcome::Held(Held::CountryLimit { country, limit }) => {
            Err(ApiError::CountryLimit(match country {
                Some(country) => {
                    format!("numbers in {country} have had their {limit} SMS this hour")
                }
                None => format!("numbers of no country have had their {limit} SMS this hour"),
            }))
        }
        Outcome::Held(Held::StillInFlight) => Err(ApiError::StillInFlight),
        Outcome::Held(Held::StoreUnavailable) => Err(ApiError::LimitsUnavailable),
        Outcome::Held(Held::MaybeSentBefore) => Err(ApiError::EarlierMaybeSent),
        Outcome::Held(Held::TooLate) => Err(ApiError::ProviderFailed(
            "an identical request failed moments ago, and too little of the send deadline is left to try again".into(),
        )),
    }
}

/// `application/json`, with or without parameters, or any `application/*+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_body(body: Body) -> Result<axum::body::Bytes, ApiError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(ApiError::TooLarge),
        Err(_) => Err(ApiError::UnreadableBody),
    }
}

/// Serves the gateway on `listener` until `shutdown` completes; requests under way finish first,
/// so a stop never cuts a send in half.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
