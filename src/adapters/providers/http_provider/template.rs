//! The description's strings, compiled once at start-up: literal text and placeholders, so a send
//! only fills in values, each encoded for where it stands. No regex: a placeholder is `{name}`,
//! and `{{` / `}}` write a literal brace.

use std::fmt;

/// The placeholders a description may use, for the line that refuses an unknown one.
pub const KNOWN: &str =
    "{to}, {to_digits}, {text}, {sender}, {reference}, {ttl_seconds}, {secret.FIELD}, {env.NAME}";

/// What a placeholder stands for.
#[derive(Clone, PartialEq, Eq)]
pub enum Slot {
    /// The number in E.164, with its `+`.
    To,
    /// The number's digits, without the `+`.
    ToDigits,
    /// The message (the passcode).
    Text,
    /// The sender the configuration picks for this SMS.
    Sender,
    /// The request's idempotency key: the same for a re-send of it.
    Reference,
    /// `MESSAGE_TTL_SECONDS`.
    TtlSeconds,
    /// A field of the gateway secret, by its index in [`Fields`], read at each send.
    Secret(usize),
    /// An environment variable, read once at start-up (it may be a credential: never shown).
    Env { name: String, value: String },
}

#[derive(Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Slot(Slot),
}

/// One compiled string.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// The secret fields a description names, each once, in the order first met: a send reads their
/// values from the secret in this order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields(pub Vec<String>);

impl Fields {
    fn index_of(&mut self, field: &str) -> usize {
        match self.0.iter().position(|f| f == field) {
            Some(i) => i,
            None => {
                self.0.push(field.to_owned());
                self.0.len() - 1
            }
        }
    }
}

/// What a send fills the placeholders with.
pub struct Values<'a> {
    pub to: &'a str,
    pub text: &'a str,
    pub sender: &'a str,
    pub reference: &'a str,
    pub ttl_seconds: &'a str,
    /// The secret's fields, in [`Fields`]' order.
    pub secrets: &'a [String],
}

fn name_ok(name: &str, extra: u8) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == extra)
}

impl Template {
    /// Compiles `raw`: an unknown placeholder, an unclosed `{`, or an `{env.NAME}` that is not
    /// set is an error that names it (never a value).
    pub fn compile(
        raw: &str,
        fields: &mut Fields,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = raw;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
                literal.push_str(&tail[..1]);
                rest = after;
                continue;
            }
            if let Some(after) = tail.strip_prefix('}') {
                literal.push('}');
                rest = after;
                continue;
            }
            let end = tail
                .find('}')
                .ok_or_else(|| "has a { that is not closed (write {{ for a brace)".to_owned())?;
            let name = &tail[1..end];
            let slot = match name {
                "to" => Slot::To,
                "to_digits" => Slot::ToDigits,
                "text" => Slot::Text,
                "sender" => Slot::Sender,
                "reference" => Slot::Reference,
                "ttl_seconds" => Slot::TtlSeconds,
                _ => {
                    if let Some(field) = name.strip_prefix("secret.")
                        && name_ok(field, b'-')
                    {
                        Slot::Secret(fields.index_of(field))
                    } else if let Some(var) = name.strip_prefix("env.")
                        && name_ok(var, b'_')
                    {
                        let value = env(var)
                            .ok_or_else(|| format!("uses {{env.{var}}}, but {var} is not set"))?;
                        Slot::Env {
                            name: var.to_owned(),
                            value,
                        }
                    } else {
                        return Err(format!(
                            "has an unknown placeholder {{{}}} (known: {KNOWN}; write {{{{ for a brace)",
                            name.chars().take(40).collect::<String>()
                        ));
                    }
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Slot(slot));
            rest = &tail[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// Whether it uses `slot`.
    pub fn uses(&self, slot: &Slot) -> bool {
        self.parts.iter().any(|p| p == &Part::Slot(slot.clone()))
    }

    /// Whether it is exactly one placeholder and nothing else.
    pub fn is_only(&self, slot: &Slot) -> bool {
        self.parts == [Part::Slot(slot.clone())]
    }

    /// The literal text before the first placeholder (all of it when there is none).
    pub fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Literal(text)) => text,
            _ => "",
        }
    }

    /// The text with each placeholder's value passed through `encode` (literal text as written).
    pub fn render(&self, values: &Values<'_>, encode: fn(&str, &mut String)) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Slot(slot) => {
                    let value = match slot {
                        Slot::To => values.to,
                        Slot::ToDigits => values.to.trim_start_matches('+'),
                        Slot::Text => values.text,
                        Slot::Sender => values.sender,
                        Slot::Reference => values.reference,
                        Slot::TtlSeconds => values.ttl_seconds,
                        Slot::Secret(i) => values.secrets.get(*i).map_or("", String::as_str),
                        Slot::Env { value, .. } => value,
                    };
                    encode(value, &mut out);
                }
            }
        }
        out
    }
}

/// Shows the template as written, except an `{env.NAME}`'s value, which it never shows.
impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(literal) => text.push_str(&literal.replace('{', "{{")),
                Part::Slot(slot) => text.push_str(&match slot {
                    Slot::To => "{to}".into(),
                    Slot::ToDigits => "{to_digits}".into(),
                    Slot::Text => "{text}".into(),
                    Slot::Sender => "{sender}".into(),
                    Slot::Reference => "{reference}".into(),
                    Slot::TtlSeconds => "{ttl_seconds}".into(),
                    Slot::Secret(i) => format!("{{secret.#{i}}}"),
                    Slot::Env { name, .. } => format!("{{env.{name}}}"),
                }),
            }
        }
        write!(f, "{text:?}")
    }
}

/// As is: JSON strings are escaped by the serializer, form values by the form encoder, and a
/// header value is checked when the request is built.
pub fn plain(value: &str, out: &mut String) {
    out.push_str(value);
}

/// For a URL: every byte outside RFC 3986's unreserved set percent-encoded, so a value is one
/// path segment or one query value whatever it holds (`/`, `?`, `&`, `#`, `%`, spaces, emoji).
pub fn percent(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "REGION").then(|| "eu".to_owned())
    }

    fn compile(raw: &str) -> Result<(Template, Fields), String> {
        let mut fields = Fields::default();
        Template::compile(raw, &mut fields, &env).map(|t| (t, fields))
    }

    fn values<'a>(secrets: &'a [String]) -> Values<'a> {
        Values {
            to: "+14155550100",
            text: "Code: 12 & \"34\"\n100% 🔐",
            sender: "Acme",
            reference: "ab12",
            ttl_seconds: "300",
            secrets,
        }
    }

    #[test]
    fn placeholders_are_filled_and_braces_escape() {
        let (t, fields) =
            compile("{to}/{to_digits} {sender} {reference} {ttl_seconds} {{x}} }} {secret.a-b} {secret.c} {secret.a-b} {env.REGION}")
                .unwrap();
        assert_eq!(fields.0, ["a-b", "c"]);
        let secrets = ["A".to_owned(), "C".to_owned()];
        assert_eq!(
            t.render(&values(&secrets), plain),
            "+14155550100/14155550100 Acme ab12 300 {x} } A C A eu"
        );
        let (t, _) = compile("lone } stays").unwrap();
        assert_eq!(t.render(&values(&[]), plain), "lone } stays");
        assert!(!compile("no placeholder").unwrap().0.uses(&Slot::To));
    }

    #[test]
    fn values_are_percent_encoded_in_a_url_and_literals_are_not() {
        let (t, _) = compile("https://h/a/{text}?to={to}&x=%41").unwrap();
        assert_eq!(
            t.render(&values(&[]), percent),
            "https://h/a/Code%3A%2012%20%26%20%2234%22%0A100%25%20%F0%9F%94%90?to=%2B14155550100&x=%41"
        );
    }

    #[test]
    fn a_bad_placeholder_is_named_and_nothing_else_is_said() {
        for (raw, problem) in [
            ("{too}", "unknown placeholder {too}"),
            ("{secret.}", "unknown placeholder {secret.}"),
            ("{secret.a b}", "unknown placeholder {secret.a b}"),
            ("{env.UNSET}", "uses {env.UNSET}, but UNSET is not set"),
            ("{to", "has a { that is not closed"),
            ("{}", "unknown placeholder {}"),
        ] {
            let err = compile(raw).unwrap_err();
            assert!(err.contains(problem), "{raw}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn debug_never_shows_an_environment_value() {
        let (t, _) = compile("Bearer {env.REGION} {secret.key}").unwrap();
        let debug = format!("{t:?}");
        assert!(!debug.contains("eu"), "{debug}");
        assert!(debug.contains("{env.REGION}"), "{debug}");
        assert!(!t.is_only(&Slot::To));
        assert!(
            compile("{ttl_seconds}")
                .unwrap()
                .0
                .is_only(&Slot::TtlSeconds)
        );
    }
}
