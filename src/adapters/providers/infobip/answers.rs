//! Every answer Infobip's SMS API v3 gives a send, into the three outcomes. A `200` is not yet a
//! send: the verdict is the one message's `status` in `messages[]`, an object `{groupId,
//! groupName, id, name, description}` whose names and groups are listed on Infobip's "Response
//! status and error codes" page,
//! <https://www.infobip.com/docs/essentials/api-essentials/response-status-and-error-codes>
//! (group 1 PENDING: taken; group 5 REJECTED: "rejected by Infobip or the operator before it could
//! be sent"). Any other answer is an `ApiError`, `{errorCode, description, action, violations:
//! [{property, violation}], resources}`, read by its HTTP status.

use crate::adapters::net::Answer;
use crate::domain::outcome::{MessageId, ProviderError};
use serde_json::Value;

/// Group 1, PENDING: "processed and sent to the next instance", the send's own success.
const PENDING: u64 = 1;
/// Group 3, DELIVERED: not an answer to a send, but certainly a send.
const DELIVERED: u64 = 3;
/// Group 5, REJECTED: refused before it could be sent.
const REJECTED: u64 = 5;

/// What a REJECTED status (group 5) means, by its name on the status page. Every one of them is a
/// message Infobip did not send; what differs is whether another provider may do better.
fn rejected(name: &str, reason: String) -> ProviderError {
    let fix = |fix: &str| ProviderError::misconfigured(format!("{reason}. {fix}"));
    match name {
        // The recipient, for any provider: REJECTED_DESTINATION (52) "the destination is invalid:
        // the number prefix does not match a valid number prefix by any mobile operator",
        // REJECTED_PREFIX_MISSING (8) "the number is not recognized due to an incorrect number
        // prefix or length", REJECTED_DND (10) the user subscribed to Do Not Disturb,
        // REJECTED_DESTINATION_BLOCKLISTED (14) blocklisted at the operator's request or on the
        // account (on purpose: failing over would route around it).
        "REJECTED_DESTINATION"
        | "REJECTED_PREFIX_MISSING"
        | "REJECTED_DND"
        | "REJECTED_DESTINATION_BLOCKLISTED" => ProviderError::rejected(reason),
        // SIGNALS_BLOCKED (87): Infobip's anti-fraud judged the traffic to this number fraudulent
        // (SMS pumping); another provider would send exactly what it stopped.
        "SIGNALS_BLOCKED" => ProviderError::rejected(reason),
        // Our account or sender, which will not heal by itself.
        "REJECTED_NOT_ENOUGH_CREDITS" | "REJECTED_PREPAID_PACKAGE_EXPIRED" => {
            fix("The Infobip account is out of credit: top it up")
        }
        "REJECTED_SOURCE" => fix(
            "The Infobip account takes registered senders only: register INFOBIP_FROM (or the \
             SENDER_BY_COUNTRY sender, or Mosaic's sender_id with INFOBIP_USE_SENDER_ID) in the \
             Infobip portal",
        ),
        "REJECTED_SENDER" => fix(
            "The sender is blocklisted on the Infobip account: remove the blocklist or change \
             INFOBIP_FROM / SENDER_BY_COUNTRY",
        ),
        "REJECTED_NETWORK" | "REJECTED_ROUTE_NOT_AVAILABLE" => fix(
            "The Infobip account has no route to this network: ask the Infobip account manager \
             to set it up (or refuse the country with ALLOWED_COUNTRIES / BLOCKED_COUNTRIES)",
        ),
        "REJECTED_DESTINATION_NOT_REGISTERED" => fix(
            "The Infobip account is a test account that sends to its own number only: ask Infobip \
             to lift the limit",
        ),
        "MISSING_TO" | "REJECTED_INVALID_UDH" => {
            fix("Infobip refused the request itself: report it with this line")
        }
        // REJECTED_FLOODING_FILTER (20, Infobip's per-number hourly cap), REJECTED_SYSTEM_ERROR (21,
        // "retry the submission"), REJECTED_MESSAGE_TOO_LONG (25, this text), and any other name
        // in the group: not sent, and another provider may send it.
        _ => ProviderError::unavailable(reason),
    }
}

/// The one message of a `200` (the gateway sends one destination): its `messageId` and status.
struct Message<'a> {
    message_id: Option<&'a str>,
    group: Option<u64>,
    name: &'a str,
    description: &'a str,
}

fn message(json: &Value) -> Option<Message<'_>> {
    let message = json.get("messages")?.as_array()?.first()?;
    let status = message.get("status");
    let text = |field: &str| status.and_then(|s| s.get(field)?.as_str());
    Some(Message {
        message_id: message.get("messageId").and_then(Value::as_str),
        group: status.and_then(|s| s.get("groupId")?.as_u64()),
        name: text("name").unwrap_or("no status name"),
        description: text("description").unwrap_or(""),
    })
}

/// What Infobip's answer to a send means.
pub(super) fn outcome(answer: Answer) -> Result<MessageId, ProviderError> {
    let json: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    if answer.status != 200 {
        return Err(by_status(answer.status, &json));
    }
    // A 200 whose message or status cannot be read may say sent.
    let Some(message) = message(&json) else {
        return crate::domain::outcome::accepted("Infobip", None);
    };
    let reason = match message.description {
        "" => format!("Infobip {}", message.name),
        text => format!("Infobip {}: {text}", message.name),
    };
    match message.group {
        Some(PENDING | DELIVERED) => {
            crate::domain::outcome::accepted("Infobip", message.message_id.map(str::to_owned))
        }
        // REJECTED_DUPLICATE_MESSAGE_ID (23): "rejected due to a duplicate message ID". The
        // gateway's messageId is the request's idempotency key, the same for a re-send of the
        // same passcode; with idempotent sending on, Infobip rejects "retries of a message it has
        // already accepted" with the same messageId within its grace period,
        // https://www.infobip.com/docs/developer-resources/api-fundamentals/idempotent-message-sending.
        // So the first one was taken: a duplicate, answered with that message's id (ours).
        Some(REJECTED) if message.name == "REJECTED_DUPLICATE_MESSAGE_ID" => {
            match message.message_id.filter(|id| !id.trim().is_empty()) {
                Some(id) => Err(ProviderError::AlreadySent {
                    message_id: id.to_owned(),
                    reason,
                }),
                None => Err(ProviderError::indeterminate(format!(
                    "{reason}, without the message's id: it was sent before"
                ))),
            }
        }
        Some(REJECTED) => Err(rejected(message.name, reason)),
        // UNDELIVERABLE (2) or EXPIRED (4) reached an operator; an unknown or missing group says
        // nothing: either may have been sent.
        _ => Err(ProviderError::indeterminate(format!(
            "{reason}, in an answer that said accepted: it may have been sent"
        ))),
    }
}

/// Whether an `ApiError`'s violations are about the destination (`messages[0].destinations[0].to`).
fn names_destination(json: &Value) -> bool {
    json.get("violations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("property")?.as_str())
        .any(|p| p.contains("destinations") || p == "to" || p.ends_with(".to"))
}

/// An `ApiError`'s words: its code, description and the first violation.
fn api_error(status: u16, json: &Value) -> String {
    let text = |field: &str| json.get(field).and_then(Value::as_str);
    let mut reason = format!(
        "Infobip HTTP {status} {}",
        text("errorCode").unwrap_or("(no errorCode)")
    );
    if let Some(description) = text("description") {
        reason = format!("{reason}: {description}");
    }
    let first = json.pointer("/violations/0");
    if let (Some(property), Some(violation)) = (
        first.and_then(|v| v.get("property")?.as_str()),
        first.and_then(|v| v.get("violation")?.as_str()),
    ) {
        reason = format!("{reason} ({property}: {violation})");
    }
    reason
}

/// An answer other than `200`, by its status (and, for a 400, the `ApiError`'s violations).
fn by_status(status: u16, json: &Value) -> ProviderError {
    let reason = api_error(status, json);
    let fix = |fix: &str| ProviderError::misconfigured(format!("{reason}. {fix}"));
    match status {
        // Infobip checked the request and sent nothing: about the number, the number is refused.
        400 if names_destination(json) => ProviderError::rejected(reason),
        400 => fix(
            "Infobip refused the request itself: check INFOBIP_FROM (or SENDER_BY_COUNTRY) and \
             the account's settings",
        ),
        401 => fix(
            "Check infobip_api_key in the gateway secret (or INFOBIP_API_KEY locally) against the \
             Infobip portal's API keys",
        ),
        403 => fix("The Infobip API key may not send SMS: give it the sms:message:send scope"),
        404 => fix("Check INFOBIP_BASE_URL: it must be the account's own API base URL"),
        429 => ProviderError::unavailable(reason),
        // Refused before anything was sent.
        402 | 405..=499 => ProviderError::unavailable(reason),
        // Infobip's own failure, or an answer not its: it may have taken the message.
        _ => ProviderError::indeterminate(format!("{reason}: it may have been sent")),
    }
}

/// Whether Infobip refused the API key itself (HTTP 401): nothing was sent, and a rotated key in
/// the secret may be the cure.
pub(super) fn refuses_credentials(answer: &Answer) -> bool {
    answer.status == 401
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            content_type: Some("application/json".into()),
            body: body.to_string().into_bytes(),
        }
    }

    fn status(group: u64, id: u64, name: &str) -> Answer {
        answer(
            200,
            json!({"bulkId": "b1", "messages": [{
                "messageId": "key-1",
                "status": {"groupId": group, "groupName": "G", "id": id, "name": name,
                           "description": "described"},
                "destination": "41793026727",
                "details": {"messageCount": 1},
            }]}),
        )
    }

    fn class(result: Result<MessageId, ProviderError>) -> &'static str {
        match result {
            Ok(_) => "sent",
            Err(e) => e.class(),
        }
    }

    #[test]
    fn every_status_of_the_page_has_its_class() {
        let table = [
            (1, 26, "PENDING_ACCEPTED", "sent"),
            (1, 7, "PENDING_ENROUTE", "sent"),
            (1, 3, "PENDING_WAITING_DELIVERY", "sent"),
            (3, 5, "DELIVERED_TO_HANDSET", "sent"),
            (5, 52, "REJECTED_DESTINATION", "rejected"),
            (5, 8, "REJECTED_PREFIX_MISSING", "rejected"),
            (5, 10, "REJECTED_DND", "rejected"),
            (5, 14, "REJECTED_DESTINATION_BLOCKLISTED", "rejected"),
            (5, 87, "SIGNALS_BLOCKED", "rejected"),
            (5, 12, "REJECTED_NOT_ENOUGH_CREDITS", "misconfigured"),
            (5, 17, "REJECTED_PREPAID_PACKAGE_EXPIRED", "misconfigured"),
            (5, 11, "REJECTED_SOURCE", "misconfigured"),
            (5, 13, "REJECTED_SENDER", "misconfigured"),
            (5, 6, "REJECTED_NETWORK", "misconfigured"),
            (5, 19, "REJECTED_ROUTE_NOT_AVAILABLE", "misconfigured"),
            (
                5,
                18,
                "REJECTED_DESTINATION_NOT_REGISTERED",
                "misconfigured",
            ),
            (5, 51, "MISSING_TO", "misconfigured"),
            (5, 24, "REJECTED_INVALID_UDH", "misconfigured"),
            (5, 20, "REJECTED_FLOODING_FILTER", "unavailable"),
            (5, 21, "REJECTED_SYSTEM_ERROR", "unavailable"),
            (5, 25, "REJECTED_MESSAGE_TOO_LONG", "unavailable"),
            (5, 100, "UNDELIVERABLE_REJECTED_PLATFORM", "unavailable"),
            (5, 999, "REJECTED_SOMETHING_NEW", "unavailable"),
            (5, 23, "REJECTED_DUPLICATE_MESSAGE_ID", "already_sent"),
            (2, 9, "UNDELIVERABLE_NOT_DELIVERED", "indeterminate"),
            (4, 15, "EXPIRED_EXPIRED", "indeterminate"),
            (9, 1, "SOMETHING", "indeterminate"),
        ];
        for (group, id, name, expected) in table {
            assert_eq!(class(outcome(status(group, id, name))), expected, "{name}");
        }
        assert_eq!(outcome(status(1, 26, "PENDING_ACCEPTED")).unwrap(), "key-1");
        let credit = outcome(status(5, 12, "REJECTED_NOT_ENOUGH_CREDITS")).unwrap_err();
        assert_eq!(
            credit.reason(),
            "Infobip REJECTED_NOT_ENOUGH_CREDITS: described. The Infobip account is out of credit: top it up"
        );
    }

    #[test]
    fn a_repeated_message_id_is_the_first_send_not_an_error() {
        match outcome(status(5, 23, "REJECTED_DUPLICATE_MESSAGE_ID")) {
            Err(ProviderError::AlreadySent { message_id, .. }) => assert_eq!(message_id, "key-1"),
            other => panic!("{other:?}"),
        }
        // Without the id to answer with, it still is no failover: maybe sent.
        let no_id = answer(
            200,
            json!({"messages": [{"status": {"groupId": 5, "name": "REJECTED_DUPLICATE_MESSAGE_ID"}}]}),
        );
        assert_eq!(class(outcome(no_id)), "indeterminate");
    }

    #[test]
    fn answers_that_say_too_little_may_have_sent() {
        for body in [
            json!({}),
            json!({"messages": []}),
            json!({"messages": [{"status": {"groupId": 1, "name": "PENDING_ACCEPTED"}}]}),
            json!({"messages": [{"messageId": "X"}]}),
            json!({"messages": [{"messageId": "X", "status": {"groupId": "1"}}]}),
        ] {
            assert_eq!(
                class(outcome(answer(200, body.clone()))),
                "indeterminate",
                "{body}"
            );
        }
        let html = Answer {
            status: 200,
            content_type: None,
            body: b"<html>".to_vec(),
        };
        assert_eq!(class(outcome(html)), "indeterminate");
    }

    fn api_error_answer(status: u16, property: Option<&str>) -> Answer {
        let violations: Vec<Value> = property
            .map(|p| json!({"property": p, "violation": "is not valid"}))
            .into_iter()
            .collect();
        answer(
            status,
            json!({"errorCode": format!("E{status}"), "description": "Request cannot be processed.",
                   "action": "Check the syntax, violations and adjust the request.",
                   "violations": violations, "resources": []}),
        )
    }

    #[test]
    fn http_statuses_and_api_errors() {
        for (status, property, expected) in [
            (400, Some("messages[0].destinations[0].to"), "rejected"),
            (400, Some("messages[0].sender"), "misconfigured"),
            (400, None, "misconfigured"),
            (401, None, "misconfigured"),
            (403, None, "misconfigured"),
            (404, None, "misconfigured"),
            (429, None, "unavailable"),
            (413, None, "unavailable"),
            (402, None, "unavailable"),
            (500, None, "indeterminate"),
            (503, None, "indeterminate"),
            (302, None, "indeterminate"),
        ] {
            assert_eq!(
                class(outcome(api_error_answer(status, property))),
                expected,
                "{status} {property:?}"
            );
        }
        let refused = outcome(api_error_answer(
            400,
            Some("messages[0].destinations[0].to"),
        ));
        assert_eq!(
            refused.unwrap_err().reason(),
            "Infobip HTTP 400 E400: Request cannot be processed. \
             (messages[0].destinations[0].to: is not valid)"
        );
        let text = Answer {
            status: 502,
            content_type: None,
            body: b"Bad Gateway".to_vec(),
        };
        assert_eq!(
            outcome(text).unwrap_err().reason(),
            "Infobip HTTP 502 (no errorCode): it may have been sent"
        );
    }

    #[test]
    fn only_a_401_refuses_the_key() {
        assert!(refuses_credentials(&api_error_answer(401, None)));
        for other in [
            api_error_answer(403, None),
            api_error_answer(400, None),
            status(5, 12, "REJECTED_NOT_ENOUGH_CREDITS"),
        ] {
            assert!(!refuses_credentials(&other));
        }
    }
}
