//! Twilio's status callbacks, `POST /twilio/status`: what became of a message after Twilio took it.
//! Not a Mosaic request: no API key, never a send. A callback counts only when `X-Twilio-Signature`
//! signs it for the configured `TWILIO_STATUS_CALLBACK_URL` (anyone can post to the URL); then a
//! final status (`delivered`, `undelivered`, `failed`) is counted in `SmsDelivered` or
//! `SmsNotDelivered` and logged once, with the number masked, the message SID and Twilio's
//! `ErrorCode`. The other statuses (`queued`, `sent`, ...) are answered and not counted. A refused
//! callback counts in `TwilioCallbacksRefused` (alarmed) only when it is of Twilio's shape and for
//! our account, which points at our auth token; anonymous noise counts in `TwilioCallbacksAnonymous`.

use crate::adapters::providers::twilio::Verdict;
use crate::app::AppState;
use crate::domain::country::Country;
use crate::domain::sms::PhoneNumber;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::json;

/// Twilio's callbacks are a few hundred bytes of form.
const MAX_CALLBACK_BYTES: usize = 16 * 1024;

fn forbidden(message: &str) -> Response {
    let body = json!({"error": "invalid_signature", "message": message});
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

/// Twilio posts; nothing else is answered here.
pub async fn method_not_allowed() -> Response {
    let body =
        json!({"error": "method_not_allowed", "message": "Twilio's status callbacks are POSTed"});
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(axum::http::header::ALLOW, "POST")],
        axum::Json(body),
    )
        .into_response()
}

pub async fn status_callback(State(state): State<AppState>, request: Request) -> Response {
    let Some(callbacks) = state.twilio_callbacks() else {
        return forbidden(
            "this gateway takes no Twilio status callbacks (TWILIO_STATUS_CALLBACK_URL is not set)",
        );
    };
    let signature = request
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match http_body_util::Limited::new(request.into_body(), MAX_CALLBACK_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            state.metrics().record_callback_anonymous("oversized");
            return forbidden("the callback is not one Twilio signed");
        }
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    match callbacks.verify(&params, signature.as_deref()).await {
        Verdict::Signed => {}
        // Of Twilio's shape, for our account, and no auth token we know gives it: our set-up.
        Verdict::Mismatch => {
            state.metrics().record_callback_refused("mismatch");
            tracing::warn!(
                target: "mosaic_sms_gateway::delivery",
                "a Twilio status callback for the account with a signature that none of the auth \
                 tokens gives; ignored (check twilio_auth_token)"
            );
            return forbidden("X-Twilio-Signature does not match");
        }
        // Anyone on the internet: counted apart, never alarmed.
        Verdict::Anonymous(reason) => {
            state.metrics().record_callback_anonymous(reason);
            return forbidden(match reason {
                "missing" => "X-Twilio-Signature is missing",
                _ => "X-Twilio-Signature does not match",
            });
        }
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let status = field("MessageStatus").or(field("SmsStatus")).unwrap_or("");
    let delivered = match status {
        "delivered" => true,
        "undelivered" | "failed" => false,
        // Not final (queued, sending, sent, accepted, ...): a later callback tells.
        _ => return StatusCode::NO_CONTENT.into_response(),
    };
    let phone = field("To").and_then(|to| PhoneNumber::parse(to).ok());
    let country = phone.as_ref().and_then(Country::of);
    state.metrics().record_delivery(
        "twilio",
        country.as_ref().map(Country::as_str),
        status,
        delivered,
    );
    let masked = phone.as_ref().map(PhoneNumber::masked);
    tracing::info!(
        target: "mosaic_sms_gateway::delivery",
        provider = "twilio",
        status,
        phone = masked.as_deref(),
        country = country.as_ref().map(Country::as_str),
        message_id = field("MessageSid").or(field("SmsSid")),
        error_code = field("ErrorCode"),
        "delivery"
    );
    StatusCode::NO_CONTENT.into_response()
}
