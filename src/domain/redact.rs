//! Account identifiers out of text that leaves the gateway: a provider's error reason is logged
//! whole (an operator needs it), but the answer to Mosaic says only what went wrong. Twilio's
//! reasons can hold the Account SID (20404: "The requested resource /2010-04-01/Accounts/AC…
//! was not found"), AWS's hold ARNs and 12-digit account ids.

use regex::Regex;
use std::sync::LazyLock;

/// ARNs, Twilio SIDs (two capital letters and 32 hex digits: AC, SK, MG, PN, SM, ...), and AWS
/// account ids (12 digits on their own). The regex crate is built without its Unicode tables, so
/// the pattern names its characters (no `\s`, no Unicode `\b`): the release build compiles the
/// same pattern as the tests, whose dev-dependencies switch those tables on.
const PATTERN: &str = concat!(
    r"(?P<arn>arn:[A-Za-z0-9_-]+:[^ \t\r\n\x22'<>,;()\[\]{}]*)",
    r"|(?P<sid>(?-u:\b)[A-Z]{2}[0-9a-fA-F]{32}(?-u:\b))",
    r"|(?P<account>(?-u:\b)[0-9]{12}(?-u:\b))",
);

static IDENTIFIERS: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(PATTERN).ok());

/// `text` with every account identifier replaced by what kind it was. Should the pattern ever
/// fail to compile, nothing of the text is said rather than too much.
pub fn identifiers(text: &str) -> String {
    let Some(identifiers) = IDENTIFIERS.as_ref() else {
        return "[redacted]".to_owned();
    };
    identifiers
        .replace_all(text, |caps: &regex::Captures<'_>| {
            if caps.name("arn").is_some() {
                "arn:[redacted]".to_owned()
            } else if let Some(sid) = caps.name("sid") {
                format!("{}[redacted]", &sid.as_str()[..2])
            } else {
                "[account]".to_owned()
            }
        })
        .into_owned()
}

/// `url` without the user and password its authority may carry (`https://user:pass@host/...`,
/// as Twilio's callbacks allow): they are credentials, and `Debug` shows the rest.
pub fn url_credentials(url: &str) -> std::borrow::Cow<'_, str> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => format!("{}[redacted]{}", &url[..start], &url[start + at..]).into(),
        None => url.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_masked() {
        assert_eq!(
            url_credentials("https://twilio:p%40ss@example.com/twilio/status"),
            "https://[redacted]@example.com/twilio/status"
        );
        let plain = "https://example.com/twilio/status?a=b@c";
        assert_eq!(url_credentials(plain), plain);
    }

    #[test]
    fn account_identifiers_are_masked_and_the_rest_kept() {
        let twilio = "Twilio 20404: The requested resource /2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json was not found";
        assert_eq!(
            identifiers(twilio),
            "Twilio 20404: The requested resource /2010-04-01/Accounts/AC[redacted]/Messages.json was not found"
        );
        let aws = "End User Messaging AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/gw/fn is not authorized on resource: arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-0123 (account 123456789012)";
        assert_eq!(
            identifiers(aws),
            "End User Messaging AccessDeniedException: User: arn:[redacted] is not authorized on resource: arn:[redacted] (account [account])"
        );
        // Not identifiers: shorter or longer digit runs, words, codes.
        for kept in [
            "Twilio 21211: The 'To' number +14155550100 is not valid",
            "1234567890123 and 12345678901",
            "SNS InvalidParameter: PhoneNumber",
        ] {
            assert_eq!(identifiers(kept), kept);
        }
    }
}
