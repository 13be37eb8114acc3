//! The domain: what a valid SMS request from Mosaic is, and how a phone number is shown in logs.
//!
//! Each field is parsed once into a type that cannot hold an invalid value, so the providers never
//! validate again.

pub use crate::domain::phone::{NotE164, PhoneNumber, SenderId};
use std::fmt;

/// Longest message we accept, in characters: what SNS and Twilio both send as one (multi-part) SMS.
pub const MAX_MESSAGE_CHARS: usize = 1600;

/// The text to send. It holds the one-time passcode, so `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Message(String);

impl Message {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.trim().is_empty() {
            return Err(FieldError::MessageEmpty);
        }
        let chars = raw.chars().count();
        if chars > MAX_MESSAGE_CHARS {
            return Err(FieldError::MessageTooLong(chars));
        }
        // Newlines and tabs are text; other control characters are not (a carriage return only as
        // part of a CRLF line end).
        let mut rest = raw.chars().peekable();
        while let Some(c) = rest.next() {
            let crlf = c == '\r' && rest.peek() == Some(&'\n');
            if c.is_control() && c != '\n' && c != '\t' && !crlf {
                return Err(FieldError::MessageControlCharacter(c as u32));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The text a valid message became once shaped (by the `shaping` module): its look-alikes
    /// written as GSM-7, its autofill lines added.
    pub(crate) fn shaped(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Message([redacted])")
    }
}

/// One SMS that Mosaic asked us to deliver, valid in every field.
#[derive(Clone, Debug)]
pub struct SmsRequest {
    pub phone_number: PhoneNumber,
    /// The request's `sender_id` when it is a usable alphanumeric sender id.
    pub sender_id: Option<SenderId>,
    pub message: Message,
    /// The number's country, when the gateway needed to know it (a country policy or
    /// `SENDER_BY_COUNTRY` is set); providers pick a local sender by it.
    pub country: Option<crate::domain::country::Country>,
    /// The same for a re-send of this request within the dedupe window (a different one after
    /// it), never revealing the number or the message: for providers that refuse a key they
    /// have seen (Salesforce Marketing Cloud's messageKey), the last guard against a second send
    /// when the gateway's own dedupe could not see the first. Set by the gateway.
    pub idempotency_key: Option<String>,
}

/// Why a request body is not a valid SMS request. Each names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("the body is not a JSON object")]
    NotAnObject,
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{0}` must be a string")]
    NotAString(&'static str),
    #[error("`phone_number` must be in E.164 format: '+' and 7 to 15 digits, the first not 0")]
    PhoneNotE164,
    #[error("`message` is empty")]
    MessageEmpty,
    #[error("`message` has {0} characters; at most {MAX_MESSAGE_CHARS} are allowed")]
    MessageTooLong(usize),
    #[error("`message` holds the control character U+{0:04X}; only newlines and tabs are allowed")]
    MessageControlCharacter(u32),
}

impl From<NotE164> for FieldError {
    fn from(_: NotE164) -> Self {
        Self::PhoneNotE164
    }
}

impl FieldError {
    /// The request field at fault, for the JSON error body.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::NotAnObject => None,
            Self::Missing(f) | Self::NotAString(f) => Some(f),
            Self::PhoneNotE164 => Some("phone_number"),
            Self::MessageEmpty | Self::MessageTooLong(_) | Self::MessageControlCharacter(_) => {
                Some("message")
            }
        }
    }
}

impl SmsRequest {
    /// Validates Mosaic's `{"phone_number","sender_id","message"}`. Unknown fields are ignored (Mosaic
    /// may add some); `sender_id` may be absent, `null` or empty.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, FieldError> {
        let object = value.as_object().ok_or(FieldError::NotAnObject)?;
        let required = |name: &'static str| match object.get(name) {
            None | Some(serde_json::Value::Null) => Err(FieldError::Missing(name)),
            Some(v) => v.as_str().ok_or(FieldError::NotAString(name)),
        };
        // Canonical from here on: dedupe, limits, policy, the provider and the logs all see the
        // same form of one number.
        let phone_number =
            crate::domain::numbering::canonical(PhoneNumber::parse(required("phone_number")?)?);
        let message = Message::parse(required("message")?)?;
        let sender_id = match object.get("sender_id") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => SenderId::parse(s.trim()),
            Some(_) => return Err(FieldError::NotAString("sender_id")),
        };
        Ok(Self {
            phone_number,
            sender_id,
            message,
            country: None,
            idempotency_key: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phone_numbers_follow_e164() {
        for good in [
            "+6834001",
            "+14155550100",
            "+447700900123",
            "+12345678",
            "+123456789012345",
        ] {
            assert!(PhoneNumber::parse(good).is_ok(), "{good} should be valid");
        }
        for bad in [
            "",
            "+",
            "14155550100",
            "+123456",
            "+1234567890123456",
            "+04155550100",
            "+1 415 555 0100",
            "+1415555010a",
            "++14155550100",
            "+١٤١٥٥٥٥٠١٠٠",
        ] {
            assert_eq!(PhoneNumber::parse(bad), Err(NotE164), "{bad:?}");
        }
    }

    #[test]
    fn masking_keeps_country_code_and_last_two_digits() {
        let m = |s: &str| PhoneNumber::parse(s).unwrap().masked();
        assert_eq!(m("+14155550100"), "+1********00");
        assert_eq!(m("+447700900123"), "+44********23");
        assert_eq!(m("+972541234567"), "+972*******67");
        assert_eq!(m("+12345678"), "+1*****78");
        // Niue: +683 and four digits.
        assert_eq!(m("+6834001"), "+683**01");
        let phone = PhoneNumber::parse("+14155550100").unwrap();
        assert_eq!(
            phone.mask_in("+14155550100 is not valid; 14155550100 neither"),
            "+1********00 is not valid; +1********00 neither"
        );
        assert_eq!(
            format!("{:?}", PhoneNumber::parse("+14155550100").unwrap()),
            "PhoneNumber(+1********00)"
        );
    }

    #[test]
    fn sender_ids_are_alphanumeric_3_to_11_with_a_letter() {
        assert_eq!(SenderId::parse("Acme").unwrap().as_str(), "Acme");
        assert!(SenderId::parse("ACME2FA1234").is_some());
        for bad in [
            "",
            "AB",
            "ACME2FA12345",
            "12345",
            "Acme Bank",
            "Açme",
            "+14155550100",
        ] {
            assert!(SenderId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn messages_are_non_empty_and_at_most_1600_chars() {
        assert_eq!(Message::parse(""), Err(FieldError::MessageEmpty));
        assert_eq!(Message::parse(" \n\t"), Err(FieldError::MessageEmpty));
        assert!(
            Message::parse(&"é".repeat(1600)).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(
            Message::parse(&"a".repeat(1601)),
            Err(FieldError::MessageTooLong(1601))
        );
        assert_eq!(
            format!("{:?}", Message::parse("code 123456").unwrap()),
            "Message([redacted])"
        );
    }

    #[test]
    fn messages_hold_no_control_characters_but_line_ends_and_tabs() {
        for good in [
            "Code:\t123456\nValid 5 min",
            "Code 1\r\nValid",
            "Código 1 ✓",
        ] {
            assert!(Message::parse(good).is_ok(), "{good:?}");
        }
        for (bad, code) in [
            ("code\u{0}123", 0),
            ("code\u{1b}[31m123", 0x1b),
            ("code\r123", 0x0d),
            ("code\u{7f}", 0x7f),
            ("code\u{85}1", 0x85),
        ] {
            assert_eq!(
                Message::parse(bad),
                Err(FieldError::MessageControlCharacter(code)),
                "{bad:?}"
            );
        }
        let err = FieldError::MessageControlCharacter(0x1b);
        assert_eq!(err.field(), Some("message"));
        assert!(err.to_string().contains("U+001B"), "{err}");
    }

    #[test]
    fn request_names_the_field_at_fault() {
        let err = |v: serde_json::Value| SmsRequest::from_json(&v).unwrap_err();
        assert_eq!(err(json!([])), FieldError::NotAnObject);
        assert_eq!(err(json!({"message": "hi"})).field(), Some("phone_number"));
        assert_eq!(
            err(json!({"phone_number": 14155550100_u64, "message": "hi"})),
            FieldError::NotAString("phone_number")
        );
        assert_eq!(
            err(json!({"phone_number": "+14155550100"})),
            FieldError::Missing("message")
        );
        assert_eq!(
            err(json!({"phone_number": "+14155550100", "message": null})),
            FieldError::Missing("message")
        );
        assert_eq!(
            err(json!({"phone_number": "+14155550100", "message": "hi", "sender_id": 7})).field(),
            Some("sender_id")
        );
        assert_eq!(
            err(json!({"phone_number": "0044", "message": "hi"})),
            FieldError::PhoneNotE164
        );
    }

    #[test]
    fn request_ignores_unknown_fields_and_unusable_sender_ids() {
        let ok = |v: serde_json::Value| SmsRequest::from_json(&v).unwrap();
        let r = ok(
            json!({"phone_number": "+14155550100", "sender_id": "Acme", "message": "Your code is 123456", "extra": {"a": 1}}),
        );
        assert_eq!(r.sender_id.unwrap().as_str(), "Acme");
        assert_eq!(r.message.as_str(), "Your code is 123456");
        assert!(
            ok(json!({"phone_number": "+14155550100", "sender_id": "", "message": "x"}))
                .sender_id
                .is_none()
        );
        assert!(
            ok(json!({"phone_number": "+14155550100", "sender_id": null, "message": "x"}))
                .sender_id
                .is_none()
        );
        assert!(
            ok(json!({"phone_number": "+14155550100", "sender_id": "+15550100", "message": "x"}))
                .sender_id
                .is_none()
        );
    }
}
