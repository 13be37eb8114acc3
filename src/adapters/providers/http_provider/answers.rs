//! What an answer means, as the description declares it: its rules (the provider's verdict in the
//! body), then its status. Every status the description does not list is maybe sent: at most
//! once holds for a provider nobody here has read the documentation of.

use crate::adapters::net::Answer;
use crate::domain::outcome::{MessageId, ProviderError};
use serde_json::Value;

/// What a rule, or a status list, declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Declared {
    /// The recipient is refused for good: `422`, no other provider.
    Refused,
    /// Certainly not sent: the next provider may go.
    NotSent,
    /// It may have gone out: `502 delivery_unknown`, no other provider.
    MaybeSent,
}

impl Declared {
    fn word(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::NotSent => "not_sent",
            Self::MaybeSent => "maybe_sent",
        }
    }
}

/// One value or a list of them, compared as text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum OneOrMore {
    One(String),
    More(Vec<String>),
}

impl OneOrMore {
    fn contains(&self, text: &str) -> bool {
        match self {
            Self::One(one) => one == text,
            Self::More(more) => more.iter().any(|m| m == text),
        }
    }
}

/// A verdict the provider writes in the body: where the value at `pointer` is one of `is` (or
/// none of `not`), the answer means `outcome`, whatever its status. A rule speaks only when the
/// pointer finds a value (a string, number or boolean, compared as its text): an answer that says
/// nothing there is read by its status.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pointer: String,
    #[serde(default)]
    is: Option<OneOrMore>,
    #[serde(default)]
    not: Option<OneOrMore>,
    outcome: Declared,
}

impl Rule {
    fn matches(&self, body: &Value) -> bool {
        let Some(text) = body.pointer(&self.pointer).and_then(text) else {
            return false;
        };
        match (&self.is, &self.not) {
            (Some(is), _) => is.contains(&text),
            (None, Some(not)) => !not.contains(&text),
            (None, None) => false,
        }
    }
}

/// A scalar's text: strings as they are, numbers and booleans as JSON writes them.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The description's outcomes, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answers {
    message_id: String,
    sent: Vec<u16>,
    refused: Vec<u16>,
    not_sent: Vec<u16>,
    rules: Vec<Rule>,
}

/// What one answer means, before it becomes a result.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A status listed in `sent`, no rule against it.
    Sent,
    /// The `n`th rule (from 1) decided.
    Rule(usize, Declared),
    /// The status's list decided (`MaybeSent`: the status is in no list).
    Status(Declared),
}

impl Verdict {
    /// For the log line: `sent`, `refused`, `not_sent`, `maybe_sent`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Rule(_, d) | Self::Status(d) => d.word(),
        }
    }
}

fn valid_pointer(pointer: &str) -> bool {
    pointer.is_empty() || pointer.starts_with('/')
}

impl Answers {
    /// Checks the outcome fields: `message_id` and each rule's `pointer` are JSON pointers,
    /// `sent` lists 2xx statuses only, no status is in two lists, each rule has one of `is` and
    /// `not`.
    pub fn new(
        message_id: String,
        sent: Vec<u16>,
        refused: Vec<u16>,
        not_sent: Vec<u16>,
        rules: Vec<Rule>,
    ) -> Result<Self, String> {
        if !valid_pointer(&message_id) {
            return Err(format!(
                "`message_id` must be a JSON pointer (\"/id\", \"/messages/0/id\"), got {message_id:?}"
            ));
        }
        if sent.is_empty() {
            return Err("`sent` must list at least one status".into());
        }
        if let Some(s) = sent.iter().find(|s| !(200..=299).contains(*s)) {
            return Err(format!("`sent` lists {s}: a send is only a 2xx status"));
        }
        for (list, statuses) in [("refused", &refused), ("not_sent", &not_sent)] {
            if let Some(s) = statuses.iter().find(|s| !(100..=599).contains(*s)) {
                return Err(format!("`{list}` lists {s}, which is no HTTP status"));
            }
        }
        let all = [&sent, &refused, &not_sent];
        for status in all.iter().flat_map(|l| l.iter()) {
            if all
                .iter()
                .map(|l| l.iter().filter(|s| *s == status).count())
                .sum::<usize>()
                > 1
            {
                return Err(format!(
                    "lists {status} twice (in `sent`, `refused` and `not_sent`, a status means one thing)"
                ));
            }
        }
        for (i, rule) in rules.iter().enumerate() {
            let n = i + 1;
            if !valid_pointer(&rule.pointer) {
                return Err(format!(
                    "`rules` {n}: `pointer` must be a JSON pointer, got {:?}",
                    rule.pointer
                ));
            }
            if rule.is.is_some() == rule.not.is_some() {
                return Err(format!("`rules` {n} needs one of `is` and `not`"));
            }
        }
        Ok(Self {
            message_id,
            sent,
            refused,
            not_sent,
            rules,
        })
    }

    /// What `answer` means: the first rule that speaks, else its status's list.
    pub fn verdict(&self, answer: &Answer) -> Verdict {
        self.verdict_of(answer, &body_of(answer))
    }

    /// [`verdict`](Self::verdict), with the answer's body already read as JSON.
    fn verdict_of(&self, answer: &Answer, body: &Value) -> Verdict {
        if let Some(i) = self.rules.iter().position(|r| r.matches(body)) {
            return Verdict::Rule(i + 1, self.rules[i].outcome);
        }
        let status = answer.status;
        if self.sent.contains(&status) {
            Verdict::Sent
        } else if self.refused.contains(&status) {
            Verdict::Status(Declared::Refused)
        } else if self.not_sent.contains(&status) {
            Verdict::Status(Declared::NotSent)
        } else {
            Verdict::Status(Declared::MaybeSent)
        }
    }

    /// The answer as the gateway's result. `name` is the provider's; the reasons say the status
    /// and which declaration decided, never the body (it may hold the number or the text).
    pub fn outcome(&self, name: &str, answer: &Answer) -> Result<MessageId, ProviderError> {
        let status = answer.status;
        // Read once, for the rules and the id.
        let body = body_of(answer);
        match self.verdict_of(answer, &body) {
            Verdict::Sent => {
                let id = body.pointer(&self.message_id).and_then(text);
                crate::domain::outcome::accepted(name, id)
            }
            Verdict::Rule(n, declared) => Err(error(
                declared,
                format!(
                    "{name} answered HTTP {status}, which rule {n} of its description reads as {}",
                    declared.word()
                ),
            )),
            Verdict::Status(Declared::NotSent) if matches!(status, 401 | 403) => {
                Err(ProviderError::misconfigured(format!(
                    "{name} answered HTTP {status} (declared not_sent): it refused the credentials \
                     or the account. Check the secret fields and headers of HTTP_PROVIDER"
                )))
            }
            Verdict::Status(Declared::MaybeSent) => Err(ProviderError::indeterminate(format!(
                "{name} answered HTTP {status}, which its description does not declare"
            ))),
            Verdict::Status(declared) => Err(error(
                declared,
                format!(
                    "{name} answered HTTP {status}, declared {}",
                    declared.word()
                ),
            )),
        }
    }

    /// Whether the answer refused the credentials before sending: a 401 or 403 the description
    /// declares not sent (no rule saying otherwise). Only then may a rotated secret be worth a
    /// second request; an undeclared 401 stays maybe sent, and nothing is sent again after it.
    pub fn refuses_credentials(&self, answer: &Answer) -> bool {
        matches!(answer.status, 401 | 403)
            && self.verdict(answer) == Verdict::Status(Declared::NotSent)
    }
}

fn error(declared: Declared, reason: String) -> ProviderError {
    match declared {
        Declared::Refused => ProviderError::rejected(reason),
        Declared::NotSent => ProviderError::unavailable(reason),
        Declared::MaybeSent => {
            ProviderError::indeterminate(format!("{reason}: it may have sent the message"))
        }
    }
}

/// An answer's body as JSON; `Null` when it is none (then no rule finds a value in it).
fn body_of(answer: &Answer) -> Value {
    serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answers(rules: Value) -> Answers {
        Answers::new(
            "/messages/0/id".into(),
            vec![200, 201],
            vec![400],
            vec![401, 429],
            serde_json::from_value(rules).unwrap(),
        )
        .unwrap()
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: None,
            body: body.as_bytes().to_vec(),
        }
    }

    fn class(a: &Answers, status: u16, body: &str) -> String {
        match a.outcome("acme", &answer(status, body)) {
            Ok(id) => format!("sent {id}"),
            Err(e) => e.class().to_owned(),
        }
    }

    #[test]
    fn every_status_falls_in_its_declared_class_and_the_rest_may_have_sent() {
        let a = answers(json!([]));
        assert_eq!(class(&a, 201, r#"{"messages":[{"id":"M1"}]}"#), "sent M1");
        assert_eq!(class(&a, 200, r#"{"messages":[{"id":42}]}"#), "sent 42");
        for body in [
            "",
            "{}",
            r#"{"messages":[{"id":""}]}"#,
            r#"{"messages":[{"id":null}]}"#,
            "<html>",
        ] {
            assert_eq!(
                class(&a, 200, body),
                "indeterminate",
                "a 2xx without the id: {body}"
            );
        }
        assert_eq!(class(&a, 400, "{}"), "rejected");
        assert_eq!(class(&a, 429, "{}"), "unavailable");
        assert_eq!(class(&a, 401, "{}"), "misconfigured");
        for status in [202, 204, 302, 403, 404, 409, 500, 502, 503] {
            assert_eq!(class(&a, status, "{}"), "indeterminate", "{status}");
        }
        let reason = a.outcome("acme", &answer(500, "secret body")).unwrap_err();
        assert!(!reason.reason().contains("secret body"), "{reason}");
    }

    #[test]
    fn rules_read_a_verdict_in_the_body_first() {
        // Numbers in the answer compare by their text: `"7"` matches 7.
        let a = answers(json!([
            {"pointer": "/messages/0/status", "not": "0", "outcome": "not_sent"},
            {"pointer": "/error/code", "is": ["21610", "7", "8"], "outcome": "refused"}
        ]));
        assert_eq!(
            class(&a, 200, r#"{"messages":[{"status":"0","id":"A"}]}"#),
            "sent A"
        );
        assert_eq!(
            class(&a, 200, r#"{"messages":[{"status":"1"}]}"#),
            "unavailable"
        );
        assert_eq!(
            class(&a, 200, r#"{"messages":[{"status":1}]}"#),
            "unavailable"
        );
        // The pointer finds nothing: the status and the id decide (no id here: maybe sent).
        assert_eq!(class(&a, 200, r#"{"messages":[]}"#), "indeterminate");
        assert_eq!(class(&a, 500, r#"{"error":{"code":7}}"#), "rejected");
        assert_eq!(class(&a, 400, r#"{"error":{"code":"8"}}"#), "rejected");
        let maybe =
            answers(json!([{"pointer": "/state", "is": "unknown", "outcome": "maybe_sent"}]));
        assert_eq!(
            class(
                &maybe,
                200,
                r#"{"state":"unknown","messages":[{"id":"A"}]}"#
            ),
            "indeterminate"
        );
        assert_eq!(
            a.verdict(&answer(200, r#"{"messages":[{"status":"3"}]}"#)),
            Verdict::Rule(1, Declared::NotSent)
        );
    }

    #[test]
    fn only_a_declared_not_sent_401_or_403_refuses_the_credentials() {
        let a = answers(json!([{"pointer": "/code", "is": "blocked", "outcome": "refused"}]));
        assert!(a.refuses_credentials(&answer(401, "{}")));
        assert!(
            !a.refuses_credentials(&answer(403, "{}")),
            "403 is not declared"
        );
        assert!(!a.refuses_credentials(&answer(401, r#"{"code":"blocked"}"#)));
        assert!(!a.refuses_credentials(&answer(429, "{}")));
    }

    #[test]
    fn outcome_fields_that_cannot_work_are_named() {
        let new =
            |id: &str, sent: Vec<u16>, refused: Vec<u16>, not_sent: Vec<u16>, rules: Value| {
                Answers::new(
                    id.into(),
                    sent,
                    refused,
                    not_sent,
                    serde_json::from_value(rules).unwrap(),
                )
                .unwrap_err()
            };
        assert!(new("id", vec![200], vec![], vec![], json!([])).starts_with("`message_id`"));
        assert!(new("/id", vec![], vec![], vec![], json!([])).starts_with("`sent` must list"));
        assert!(
            new("/id", vec![200, 400], vec![], vec![], json!([])).starts_with("`sent` lists 400")
        );
        assert!(
            new("/id", vec![200], vec![700], vec![], json!([])).starts_with("`refused` lists 700")
        );
        assert!(
            new("/id", vec![200], vec![400], vec![400], json!([])).starts_with("lists 400 twice")
        );
        assert!(
            new(
                "/id",
                vec![200],
                vec![],
                vec![],
                json!([{"pointer": "x", "is": "1", "outcome": "refused"}])
            )
            .contains("`pointer`")
        );
        assert!(
            new(
                "/id",
                vec![200],
                vec![],
                vec![],
                json!([{"pointer": "/x", "outcome": "refused"}])
            )
            .contains("one of `is` and `not`")
        );
    }
}
