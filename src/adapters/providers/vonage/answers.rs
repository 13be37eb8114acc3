//! Every answer Vonage's SMS API gives a send, into the three outcomes. Vonage answers `200` to a
//! refusal too: the verdict is each part's `status` in `messages[]` (`"0"` sent), by the SMS
//! API's error table, https://developer.vonage.com/api-errors/sms (the same codes as the
//! `x-errors` of Vonage's OpenAPI description, `../shared/contracts/vonage_sms.yml`).

use crate::adapters::net::Answer;
use crate::domain::outcome::{MessageId, ProviderError};
use serde_json::Value;

/// What one status code means for the passcode.
fn by_code(code: &str, text: &str) -> ProviderError {
    let reason = format!("Vonage {code}: {text}");
    let fix = |fix: &str| ProviderError::misconfigured(format!("{reason}. {fix}"));
    match code {
        // 1 Throttled, 10 Too Many Existing Binds: refused before sending; back off, or another
        // provider.
        "1" | "10" => ProviderError::unavailable(reason),
        // 4 Invalid Credentials.
        "4" => fix(
            "Check vonage_api_key and vonage_api_secret in the gateway secret (or \
             VONAGE_API_KEY / VONAGE_API_SECRET locally) against the Vonage Dashboard",
        ),
        // 8 Partner Account Barred.
        "8" => fix("The Vonage account is suspended: contact Vonage support"),
        // 9 Partner Quota Violation.
        "9" => fix("The Vonage account has no credit left: top it up"),
        // 11 Account Not Enabled For HTTP.
        "11" => {
            fix("The Vonage account is not provisioned for the SMS API: ask Vonage to enable it")
        }
        // 14 Invalid Signature (the account requires signed requests).
        "14" => fix(
            "The Vonage account requires signed requests: turn that off in the Dashboard's API \
             settings, the gateway sends the API secret",
        ),
        // 15 Invalid Sender Address.
        "15" => fix(
            "Check VONAGE_FROM (or SENDER_BY_COUNTRY, VONAGE_USE_SENDER_ID): the sender must be \
             one the Vonage account may use for this country (a Vonage number in North America)",
        ),
        // 29 Non-Whitelisted Destination: a demo account sends only to its own test numbers.
        "29" => fix(
            "A Vonage demo account sends only to whitelisted numbers: add the number or top up \
             the account",
        ),
        // Not in the table, on the same reading: Vonage checked the request and sent
        // nothing, because our request or set-up is wrong. 2 Missing Parameters, 3 Invalid
        // Parameters, 22 Invalid Network Code, 23 Invalid Callback Url, 32 Signature And API
        // Secret Disallowed.
        "2" | "3" | "22" | "23" | "32" => fix(
            "Vonage refused the request itself: check VONAGE_FROM, VONAGE_STATUS_CALLBACK_URL \
             and the account's settings",
        ),
        // 12 Message Too Long: this text, not the number; another provider may take it.
        "12" => ProviderError::unavailable(reason),
        // 6 Invalid Message (an unroutable prefix), 7 Number Barred, 33 Number De-activated:
        // the recipient, for any provider.
        "6" | "7" | "33" => ProviderError::rejected(reason),
        // 5 Internal Error, and any code the table does not have: it may have been sent.
        _ => ProviderError::indeterminate(format!("{reason}: it may have been sent")),
    }
}

/// One part of the answer: its `status` and `error-text`, or its `message-id` when sent.
struct Part<'a> {
    status: Option<&'a str>,
    text: &'a str,
    message_id: Option<&'a str>,
}

fn parts(json: &Value) -> Option<Vec<Part<'_>>> {
    let parts: Vec<Part<'_>> = json
        .get("messages")?
        .as_array()?
        .iter()
        .map(|part| Part {
            status: part.get("status").and_then(Value::as_str),
            text: part
                .get("error-text")
                .and_then(Value::as_str)
                .unwrap_or("no error-text"),
            message_id: part.get("message-id").and_then(Value::as_str),
        })
        .collect();
    (!parts.is_empty()).then_some(parts)
}

/// What Vonage's answer to a send means.
pub(super) fn outcome(answer: Answer) -> Result<MessageId, ProviderError> {
    if answer.status != 200 {
        return Err(by_status(answer.status));
    }
    let json: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    // A 200 whose parts cannot be read may say sent.
    let Some(parts) = parts(&json) else {
        return crate::domain::outcome::accepted("Vonage", None);
    };
    if parts.iter().all(|p| p.status == Some("0")) {
        let id = parts[0].message_id.map(str::to_owned);
        return crate::domain::outcome::accepted("Vonage", id);
    }
    if parts.iter().any(|p| p.status == Some("0")) {
        return Err(ProviderError::indeterminate(format!(
            "Vonage sent {} of the message's {} parts: the passcode may have arrived",
            parts.iter().filter(|p| p.status == Some("0")).count(),
            parts.len(),
        )));
    }
    // Every part refused: certainly not sent only if every part says so.
    let errors: Vec<ProviderError> = parts
        .iter()
        .map(|p| by_code(p.status.unwrap_or("?"), p.text))
        .collect();
    match errors
        .iter()
        .find(|e| !e.certainly_not_sent() && !matches!(e, ProviderError::Rejected { .. }))
    {
        Some(maybe) => Err(maybe.clone()),
        None => Err(errors.into_iter().next().unwrap_or_else(|| by_status(200))),
    }
}

/// An answer other than Vonage's `200`, by its status (as every REST provider's).
fn by_status(status: u16) -> ProviderError {
    let reason = format!("Vonage HTTP {status}");
    match status {
        401 | 403 => ProviderError::misconfigured(format!(
            "{reason}. Check vonage_api_key and vonage_api_secret (or VONAGE_API_KEY / \
             VONAGE_API_SECRET) and VONAGE_API_BASE"
        )),
        429 => ProviderError::unavailable(reason),
        // Refused before anything was sent.
        400..=499 => ProviderError::unavailable(reason),
        // Vonage's own failure, or an answer not its: it may have taken the message.
        _ => ProviderError::indeterminate(format!("{reason}: it may have been sent")),
    }
}

/// Whether Vonage refused the credentials themselves (HTTP 401, or status 4 in every part,
/// https://developer.vonage.com/api-errors/sms): nothing was sent.
pub(super) fn refuses_credentials(answer: &Answer) -> bool {
    if answer.status == 401 {
        return true;
    }
    let json: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    answer.status == 200
        && parts(&json).is_some_and(|parts| parts.iter().all(|p| p.status == Some("4")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            content_type: Some("application/json".into()),
            body: body.to_string().into_bytes(),
        }
    }

    fn parts(statuses: &[&str]) -> Answer {
        let messages: Vec<Value> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| match *s {
                "0" => serde_json::json!({"to": "447700900000", "message-id": format!("ID{i}"), "status": "0"}),
                s => serde_json::json!({"status": s, "error-text": "refused"}),
            })
            .collect();
        answer(
            200,
            serde_json::json!({"message-count": statuses.len().to_string(), "messages": messages}),
        )
    }

    fn class(statuses: &[&str]) -> &'static str {
        match outcome(parts(statuses)) {
            Ok(_) => "sent",
            Err(e) => e.class(),
        }
    }

    #[test]
    fn every_code_of_the_table_has_its_class() {
        let table = [
            ("1", "unavailable"),
            ("10", "unavailable"),
            ("12", "unavailable"),
            ("2", "misconfigured"),
            ("3", "misconfigured"),
            ("4", "misconfigured"),
            ("8", "misconfigured"),
            ("9", "misconfigured"),
            ("11", "misconfigured"),
            ("14", "misconfigured"),
            ("15", "misconfigured"),
            ("22", "misconfigured"),
            ("23", "misconfigured"),
            ("29", "misconfigured"),
            ("32", "misconfigured"),
            ("6", "rejected"),
            ("7", "rejected"),
            ("33", "rejected"),
            ("5", "indeterminate"),
            ("99", "indeterminate"),
            ("", "indeterminate"),
        ];
        for (code, expected) in table {
            assert_eq!(class(&[code]), expected, "status {code:?}");
        }
        let barred = outcome(parts(&["8"])).unwrap_err();
        assert_eq!(
            barred.reason(),
            "Vonage 8: refused. The Vonage account is suspended: contact Vonage support"
        );
    }

    #[test]
    fn a_message_is_sent_only_when_every_part_is_and_its_id_is_the_first_parts() {
        assert_eq!(outcome(parts(&["0", "0", "0"])).unwrap(), "ID0");
        assert_eq!(class(&["0", "1"]), "indeterminate");
        assert_eq!(class(&["9", "0"]), "indeterminate");
        assert_eq!(class(&["1", "1"]), "unavailable");
        assert_eq!(class(&["1", "5"]), "indeterminate");
        assert_eq!(class(&["7", "7"]), "rejected");
    }

    #[test]
    fn answers_that_say_too_little_may_have_sent() {
        for body in [
            serde_json::json!({}),
            serde_json::json!({"messages": []}),
            serde_json::json!({"messages": [{"status": "0"}]}),
            serde_json::json!({"messages": [{"message-id": "X"}]}),
        ] {
            let err = outcome(answer(200, body.clone())).unwrap_err();
            assert_eq!(err.class(), "indeterminate", "{body}");
        }
        let html = Answer {
            status: 200,
            content_type: None,
            body: b"<html>".to_vec(),
        };
        assert_eq!(outcome(html).unwrap_err().class(), "indeterminate");
    }

    #[test]
    fn http_statuses_follow_the_kits_rules() {
        for (status, expected) in [
            (401, "misconfigured"),
            (403, "misconfigured"),
            (429, "unavailable"),
            (404, "unavailable"),
            (500, "indeterminate"),
            (503, "indeterminate"),
            (302, "indeterminate"),
        ] {
            assert_eq!(
                outcome(answer(status, serde_json::json!({})))
                    .unwrap_err()
                    .class(),
                expected,
                "{status}"
            );
        }
    }

    #[test]
    fn only_a_refusal_of_the_credentials_is_one() {
        assert!(refuses_credentials(&parts(&["4"])));
        assert!(refuses_credentials(&answer(401, serde_json::json!({}))));
        for other in [
            parts(&["0"]),
            parts(&["9"]),
            parts(&["4", "0"]),
            answer(500, serde_json::json!({})),
        ] {
            assert!(!refuses_credentials(&other));
        }
    }
}
