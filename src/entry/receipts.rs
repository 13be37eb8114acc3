//! Delivery receipts: what became of a message after its provider took it. Twilio posts them to
//! `/twilio/status` (signed in `X-Twilio-Signature`), Vonage to `/vonage/status` (`GET` or
//! `POST`, signed in `sig`), Infobip to `/infobip/status` (unsigned: the gateway's token in the
//! URL it was given). Not Mosaic requests: no API key, never a send. A receipt counts only
//! when its provider's check says it is the provider's own (anyone can post to the URL); then a
//! final status is counted in `SmsDelivered` or `SmsNotDelivered` and logged once, with the number
//! masked, the provider's message id and error code. Statuses on the way (`queued`, `accepted`,
//! ...) are answered and not counted. A refused receipt counts in `<Provider>CallbacksRefused`
//! (alarmed) only when it is of the provider's shape and for our account, which points at our
//! secret; anonymous noise counts in `<Provider>CallbacksAnonymous`.

use crate::adapters::providers::receipts::Verdict;
use crate::app::AppState;
use crate::domain::country::Country;
use crate::domain::sms::PhoneNumber;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::json;

/// Receipts are a few hundred bytes of form or JSON.
const MAX_RECEIPT_BYTES: usize = 16 * 1024;

fn forbidden(message: &str) -> Response {
    let body = json!({"error": "invalid_signature", "message": message});
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

fn method_not_allowed(allow: &'static str, message: &str) -> Response {
    let body = json!({"error": "method_not_allowed", "message": message});
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, allow)],
        axum::Json(body),
    )
        .into_response()
}

/// Infobip may post the reports of several messages in one request (`results[]`), each some
/// 600 bytes.
const MAX_INFOBIP_REPORT_BYTES: usize = 256 * 1024;

/// The body, or `None` when it is larger than any receipt.
async fn body_of(request: Request) -> Option<Bytes> {
    body_within(request, MAX_RECEIPT_BYTES).await
}

/// The body, or `None` when it is larger than `limit`.
async fn body_within(request: Request, limit: usize) -> Option<Bytes> {
    http_body_util::Limited::new(request.into_body(), limit)
        .collect()
        .await
        .ok()
        .map(|collected| collected.to_bytes())
}

fn form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

fn field<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Counts what a verified receipt says. `status` is the provider's final status (`delivered` or
/// `not`: `None` for one on the way, answered and not counted); `to` the number it went to.
struct Receipt<'a> {
    provider: &'static str,
    status: &'a str,
    delivered: Option<bool>,
    to: Option<&'a str>,
    message_id: Option<&'a str>,
    error_code: Option<&'a str>,
}

impl Receipt<'_> {
    fn count(self, state: &AppState) -> Response {
        let Some(delivered) = self.delivered else {
            return StatusCode::NO_CONTENT.into_response();
        };
        // Vonage writes numbers without their `+`.
        let phone = self.to.and_then(|to| {
            PhoneNumber::parse(to)
                .or_else(|_| PhoneNumber::parse(&format!("+{to}")))
                .ok()
        });
        let country = phone.as_ref().and_then(Country::of);
        state.metrics().record_delivery(
            self.provider,
            country.as_ref().map(Country::as_str),
            self.status,
            delivered,
        );
        let masked = phone.as_ref().map(PhoneNumber::masked);
        tracing::info!(
            target: "mosaic_sms_gateway::delivery",
            provider = self.provider,
            status = self.status,
            phone = masked.as_deref(),
            country = country.as_ref().map(Country::as_str),
            message_id = self.message_id,
            error_code = self.error_code,
            "delivery"
        );
        StatusCode::NO_CONTENT.into_response()
    }
}

/// Answers a receipt its provider's check refused, and counts it: in the alarmed metric only
/// when it points at our set-up. `None` when the check let it through.
fn refused(
    state: &AppState,
    provider: &'static str,
    verdict: Verdict,
    what: &str,
) -> Option<Response> {
    match verdict {
        Verdict::Signed => None,
        // Of the provider's shape, for our account, and no secret we know gives it: our set-up.
        Verdict::Mismatch => {
            state
                .metrics()
                .record_callback_refused(provider, "mismatch");
            tracing::warn!(
                target: "mosaic_sms_gateway::delivery",
                provider,
                "a receipt for the account with a signature that the secret does not give; ignored \
                 (check the {provider} signing secret in the gateway secret)"
            );
            Some(forbidden(&format!("{what} does not match")))
        }
        // Anyone on the internet: counted apart, never alarmed.
        Verdict::Anonymous(reason) => {
            state.metrics().record_callback_anonymous(provider, reason);
            Some(forbidden(&match reason {
                "missing" => format!("{what} is missing"),
                "oversized" => "the receipt is not one the provider signed".to_owned(),
                _ => format!("{what} does not match"),
            }))
        }
    }
}

/// Twilio posts; nothing else is answered at `/twilio/status`.
pub async fn twilio_method_not_allowed() -> Response {
    method_not_allowed("POST", "Twilio's status callbacks are POSTed")
}

/// `POST /twilio/status`: a status callback, signed for the configured
/// `TWILIO_STATUS_CALLBACK_URL` with the account's auth token.
pub async fn twilio(State(state): State<AppState>, request: Request) -> Response {
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
    let verdict;
    let params = match body_of(request).await {
        Some(body) => {
            let params = form(&body);
            verdict = callbacks.verify(&params, signature.as_deref()).await;
            params
        }
        None => {
            verdict = Verdict::Anonymous("oversized");
            Vec::new()
        }
    };
    if let Some(answer) = refused(&state, "twilio", verdict, "X-Twilio-Signature") {
        return answer;
    }
    let status = field(&params, "MessageStatus")
        .or(field(&params, "SmsStatus"))
        .unwrap_or("");
    Receipt {
        provider: "twilio",
        status,
        delivered: match status {
            "delivered" => Some(true),
            "undelivered" | "failed" => Some(false),
            // Not final (queued, sending, sent, accepted, ...): a later callback tells.
            _ => None,
        },
        to: field(&params, "To"),
        message_id: field(&params, "MessageSid").or(field(&params, "SmsSid")),
        error_code: field(&params, "ErrorCode"),
    }
    .count(&state)
}

/// Vonage uses `GET` or `POST`, as the account's dashboard says; nothing else is answered.
pub async fn vonage_method_not_allowed() -> Response {
    method_not_allowed("GET, POST", "Vonage's receipts come by GET or POST")
}

/// A receipt's parameters as Vonage sends them: the query of a `GET`, the form of a `POST`, or
/// the object of a `POST` in JSON (its values as text, as Vonage signs them). `None` when the
/// body is too large or not an object.
async fn vonage_params(request: Request) -> Option<Vec<(String, String)>> {
    if request.method() == Method::GET {
        return Some(form(request.uri().query().unwrap_or("").as_bytes()));
    }
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let body = body_of(request).await?;
    if !json {
        return Some(form(&body));
    }
    let serde_json::Value::Object(object) = serde_json::from_slice(&body).ok()? else {
        return None;
    };
    Some(
        object
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
    )
}

/// `GET` or `POST /vonage/status`: a receipt, signed with the account's signature secret.
pub async fn vonage(State(state): State<AppState>, request: Request) -> Response {
    let Some(receipts) = state.vonage_receipts() else {
        return forbidden(
            "this gateway takes no Vonage receipts (neither VONAGE_STATUS_CALLBACK_URL nor RECEIPTS_BASE_URL is set for vonage)",
        );
    };
    let (verdict, params) = match vonage_params(request).await {
        Some(params) => (receipts.verify(&params).await, params),
        None => (Verdict::Anonymous("oversized"), Vec::new()),
    };
    if let Some(answer) = refused(&state, "vonage", verdict, "sig") {
        return answer;
    }
    let status = field(&params, "status").unwrap_or("");
    // https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts: `delivered` is
    // final, and so are `expired`, `failed` and `rejected`; `accepted`, `buffered` and `unknown`
    // may yet change.
    Receipt {
        provider: "vonage",
        status,
        delivered: match status {
            "delivered" => Some(true),
            "expired" | "failed" | "rejected" => Some(false),
            _ => None,
        },
        to: field(&params, "msisdn"),
        message_id: field(&params, "messageId"),
        error_code: field(&params, "err-code"),
    }
    .count(&state)
}

/// Infobip posts; nothing else is answered at `/infobip/status`.
pub async fn infobip_method_not_allowed() -> Response {
    method_not_allowed("POST", "Infobip's delivery reports are POSTed")
}

/// Whether an Infobip status is final, and delivered, by its group and name
/// (https://www.infobip.com/docs/essentials/api-essentials/response-status-and-error-codes):
/// DELIVERED (3) is, except `DELIVERED_TO_OPERATOR`, which a report from the handset may follow;
/// UNDELIVERABLE (2), EXPIRED (4) and REJECTED (5) are final failures; PENDING (1) may change.
/// A copy Infobip's idempotent sending turned away (`REJECTED_DUPLICATE_MESSAGE_ID`, which it may
/// report "during processing", after a `200`) is no failure of the message: the first one's own
/// report tells what became of it.
fn infobip_delivered(group: Option<u64>, name: &str) -> Option<bool> {
    if name == "REJECTED_DUPLICATE_MESSAGE_ID" {
        return None;
    }
    match group? {
        3 if name != "DELIVERED_TO_OPERATOR" => Some(true),
        2 | 4 | 5 => Some(false),
        _ => None,
    }
}

/// `POST /infobip/status?token=...`: Infobip's delivery reports (`{"results": [...]}`, one per
/// message), taken only with the gateway's token in the URL, which Infobip was given with each
/// send; each final status is counted.
pub async fn infobip(State(state): State<AppState>, request: Request) -> Response {
    let Some(receipts) = state.infobip_receipts() else {
        return forbidden(
            "this gateway takes no Infobip reports (neither INFOBIP_STATUS_CALLBACK_URL nor RECEIPTS_BASE_URL is set for infobip)",
        );
    };
    let verdict = receipts.verify(request.uri().query());
    // The token first: the body of a request without it is not read.
    if let Some(answer) = refused(&state, "infobip", verdict, "the token") {
        return answer;
    }
    let Some(body) = body_within(request, MAX_INFOBIP_REPORT_BYTES).await else {
        let verdict = Verdict::Anonymous("oversized");
        return refused(&state, "infobip", verdict, "the token")
            .unwrap_or_else(|| StatusCode::NO_CONTENT.into_response());
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(results) = json.get("results").and_then(serde_json::Value::as_array) else {
        // Ours (the token says so), but no report the gateway can read: asking again would not
        // help, so it is taken and said.
        tracing::warn!(
            target: "mosaic_sms_gateway::delivery",
            provider = "infobip",
            "an Infobip report without results[]; nothing counted"
        );
        return StatusCode::NO_CONTENT.into_response();
    };
    for result in results {
        let text = |pointer: &str| result.pointer(pointer).and_then(serde_json::Value::as_str);
        let status = text("/status/name").unwrap_or("");
        let group = result
            .pointer("/status/groupId")
            .and_then(serde_json::Value::as_u64);
        Receipt {
            provider: "infobip",
            status,
            delivered: infobip_delivered(group, status),
            to: text("/to"),
            message_id: text("/messageId"),
            error_code: text("/error/name").filter(|name| *name != "NO_ERROR"),
        }
        .count(&state);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_infobip_statuses_count() {
        for (group, name, expected) in [
            (Some(3), "DELIVERED_TO_HANDSET", Some(true)),
            (Some(3), "DELIVERED_TO_OPERATOR", None),
            (Some(2), "UNDELIVERABLE_NOT_DELIVERED", Some(false)),
            (Some(4), "EXPIRED_EXPIRED", Some(false)),
            (Some(5), "REJECTED_DESTINATION", Some(false)),
            (Some(5), "REJECTED_DUPLICATE_MESSAGE_ID", None),
            (Some(1), "PENDING_ENROUTE", None),
            (None, "DELIVERED_TO_HANDSET", None),
            (Some(9), "SOMETHING", None),
        ] {
            assert_eq!(infobip_delivered(group, name), expected, "{name}");
        }
    }
}
