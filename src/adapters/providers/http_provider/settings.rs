//! The `http` provider's description, read once at start-up from `HTTP_PROVIDER` (JSON) or the
//! file `HTTP_PROVIDER_FILE` names, checked field by field and compiled: a description that cannot
//! work stops start-up with one line that names the field, never a value it holds.

use super::answers::{Answers, Rule};
use super::template::{Fields, Slot, Template};
use crate::adapters::providers::rest;
use crate::domain::country::Country;
use crate::settings::{ConfigError, Env};
use http::{HeaderName, Method};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

/// A description longer than this is surely not one.
const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;

/// The description as written: its fields are the contract (unknown ones are refused, so a typo
/// is not silently a default).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    name: String,
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    json: Option<serde_json::Value>,
    #[serde(default)]
    form: Option<BTreeMap<String, String>>,
    #[serde(default)]
    basic_auth: Option<[String; 2]>,
    message_id: String,
    sent: Vec<u16>,
    #[serde(default)]
    refused: Vec<u16>,
    #[serde(default)]
    not_sent: Vec<u16>,
    #[serde(default)]
    rules: Vec<Rule>,
}

/// A JSON body with its strings compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonTemplate {
    /// No placeholder anywhere inside: sent as written.
    Fixed(serde_json::Value),
    String(Template),
    /// A string that was exactly `{ttl_seconds}`: sent as a number.
    TtlSeconds,
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    fn compile(
        value: &serde_json::Value,
        fields: &mut Fields,
        env: &dyn Fn(&str) -> Option<String>,
        at: &str,
    ) -> Result<Self, String> {
        use serde_json::Value;
        Ok(match value {
            Value::String(raw) => {
                let template =
                    Template::compile(raw, fields, env).map_err(|e| format!("{at} {e}"))?;
                if template.is_only(&Slot::TtlSeconds) {
                    Self::TtlSeconds
                } else if template.literal_prefix() == raw && !raw.contains(['{', '}']) {
                    Self::Fixed(value.clone())
                } else {
                    Self::String(template)
                }
            }
            Value::Array(items) => Self::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Self::compile(item, fields, env, &format!("{at}/{i}")))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(members) => Self::Object(
                members
                    .iter()
                    .map(|(key, item)| {
                        Self::compile(item, fields, env, &format!("{at}/{key}"))
                            .map(|t| (key.clone(), t))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => Self::Fixed(other.clone()),
        })
    }

    fn uses(&self, slot: &Slot) -> bool {
        match self {
            Self::Fixed(_) => false,
            Self::String(t) => t.uses(slot),
            Self::TtlSeconds => *slot == Slot::TtlSeconds,
            Self::Array(items) => items.iter().any(|i| i.uses(slot)),
            Self::Object(members) => members.iter().any(|(_, m)| m.uses(slot)),
        }
    }
}

/// What the request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyTemplate {
    None,
    Json(JsonTemplate),
    /// `application/x-www-form-urlencoded`: each value encoded by the form encoder.
    Form(Vec<(String, Template)>),
}

/// The sender `{sender}` stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Senders {
    /// `HTTP_PROVIDER_FROM`.
    pub from: String,
    /// `SENDER_BY_COUNTRY`'s senders for `http`.
    pub by_country: HashMap<Country, String>,
    /// `HTTP_PROVIDER_USE_SENDER_ID`: a valid request `sender_id` goes as `{sender}`.
    pub use_sender_id: bool,
}

/// A checked, compiled description.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// What answers, logs and metrics call the provider (read once, kept for the process).
    pub name: &'static str,
    pub method: Method,
    /// The URL as written, for `Debug` (its placeholders unfilled).
    url_written: String,
    pub url: Template,
    pub headers: Vec<(HeaderName, Template)>,
    pub basic_auth: Option<(Template, Template)>,
    pub body: BodyTemplate,
    pub answers: Answers,
    /// The secret fields `{secret.FIELD}` names, in the order a send reads them.
    pub fields: Fields,
    /// `None` when the description has no `{sender}`.
    pub senders: Option<Senders>,
    /// `MESSAGE_TTL_SECONDS`.
    pub ttl: Duration,
}

/// Shows the shape and never a value: no header value, no body, the URL as written (its
/// placeholders unfilled, any user and password in it hidden).
impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, _)| format!("{name}: [redacted]"))
            .collect();
        let body = match &self.body {
            BodyTemplate::None => "none",
            BodyTemplate::Json(_) => "json [redacted]",
            BodyTemplate::Form(_) => "form [redacted]",
        };
        f.debug_struct("HttpSettings")
            .field("name", &self.name)
            .field("method", &self.method)
            .field(
                "url",
                &crate::domain::redact::url_credentials(&self.url_written),
            )
            .field("headers", &headers)
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|_| "[redacted]"),
            )
            .field("body", &body)
            .field("answers", &self.answers)
            .field("secret_fields", &self.fields.0)
            .field("senders", &self.senders)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// Headers the gateway writes itself.
const OWN_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

impl HttpSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let (variable, raw) = read(env)?;
        let invalid = |problem: String| ConfigError::invalid(variable, problem);
        if raw.len() > MAX_DESCRIPTION_BYTES {
            return Err(invalid(format!(
                "is {} bytes, more than a description's {MAX_DESCRIPTION_BYTES}",
                raw.len()
            )));
        }
        let not_valid = |e: serde_json::Error| {
            invalid(format!(
                "is not a valid description: {}",
                e.to_string().replace(['\n', '\r'], " ")
            ))
        };
        // serde_json keeps the last of two equal keys, silently: a key written twice, at any depth,
        // is refused rather than read as whichever came last.
        if let Some(entries) = crate::domain::country::object_entries(&raw).map_err(not_valid)? {
            for (i, (key, _)) in entries.iter().enumerate() {
                if entries[..i].iter().any(|(k, _)| k == key) {
                    return Err(invalid(format!("lists `{key}` twice")));
                }
            }
        }
        let written: Written = serde_json::from_str(&raw).map_err(not_valid)?;
        Self::compile(written, env).map_err(invalid)
    }

    fn compile(w: Written, env: &Env) -> Result<Self, String> {
        let lookup = |name: &str| env.optional(name);
        let mut fields = Fields::default();
        let name_ok = !w.name.is_empty()
            && w.name.len() <= 32
            && w.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !name_ok {
            return Err(format!(
                "`name` must be 1 to 32 letters, digits and -, got {:?}",
                w.name
            ));
        }
        // Answers and metrics name the provider: one of the gateway's own would be ambiguous, and
        // `none` is the metrics' Provider for a request no provider answered.
        if crate::adapters::providers::find(&w.name).is_some() || w.name == "none" {
            return Err(format!(
                "`name` {:?} is taken (by one of the gateway's providers, or `none`, what metrics call no provider); choose another (sinch, acme-sms, ...)",
                w.name
            ));
        }
        let method = match w.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("POST") => Method::POST,
            Some("PUT") => Method::PUT,
            Some("PATCH") => Method::PATCH,
            Some("GET") => Method::GET,
            Some(other) => {
                return Err(format!(
                    "`method` must be POST, PUT, PATCH or GET, got {other:?}"
                ));
            }
        };
        let url =
            Template::compile(&w.url, &mut fields, &lookup).map_err(|e| format!("`url` {e}"))?;
        check_url(&w.url, &url)?;
        let mut headers = Vec::new();
        for (name, value) in &w.headers {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| format!("`headers`: {name:?} is not a header name"))?;
            if headers.iter().any(|(h, _)| *h == header) {
                return Err(format!("`headers` names {name} twice"));
            }
            if OWN_HEADERS.contains(&header.as_str()) {
                return Err(format!("`headers`: {name} is written by the gateway"));
            }
            if w.basic_auth.is_some() && header == http::header::AUTHORIZATION {
                return Err("`headers` has Authorization and `basic_auth` is set: keep one".into());
            }
            let template = Template::compile(value, &mut fields, &lookup)
                .map_err(|e| format!("`headers`: {name} {e}"))?;
            // A passcode in a header would reach proxies' logs, and a newline cannot go there.
            if template.uses(&Slot::Text) {
                return Err(format!("`headers`: {name} cannot carry {{text}}"));
            }
            if http::HeaderValue::from_str(&sample(&template, super::template::plain)).is_err() {
                return Err(format!(
                    "`headers`: {name} has characters a header cannot hold"
                ));
            }
            headers.push((header, template));
        }
        let basic_auth = match &w.basic_auth {
            None => None,
            Some([user, password]) => {
                let compile = |raw: &str, fields: &mut Fields| {
                    Template::compile(raw, fields, &lookup).map_err(|e| format!("`basic_auth` {e}"))
                };
                let user = compile(user, &mut fields)?;
                let password = compile(password, &mut fields)?;
                if user.uses(&Slot::Text) || password.uses(&Slot::Text) {
                    return Err("`basic_auth` cannot carry {text}".into());
                }
                Some((user, password))
            }
        };
        let body = match (&w.json, &w.form) {
            (Some(_), Some(_)) => {
                return Err("has both `json` and `form`: a request has one body".into());
            }
            (Some(json), None) => {
                BodyTemplate::Json(JsonTemplate::compile(json, &mut fields, &lookup, "`json`")?)
            }
            (None, Some(form)) => BodyTemplate::Form(
                form.iter()
                    .map(|(key, value)| {
                        Template::compile(value, &mut fields, &lookup)
                            .map(|t| (key.clone(), t))
                            .map_err(|e| format!("`form`: {key} {e}"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            (None, None) => BodyTemplate::None,
        };
        if method == Method::GET && body != BodyTemplate::None {
            return Err("`method` GET takes no `json` or `form`: put the fields in the url".into());
        }
        let answers = Answers::new(w.message_id, w.sent, w.refused, w.not_sent, w.rules)?;
        if !fields.0.is_empty() && !env.has_secret() {
            return Err(format!(
                "uses {{secret.{}}}, but no gateway secret is configured: set GATEWAY_SECRET_ID \
                 (or use {{env.NAME}} locally)",
                fields.0[0]
            ));
        }
        let uses_sender = url.uses(&Slot::Sender)
            || headers.iter().any(|(_, t)| t.uses(&Slot::Sender))
            || match &body {
                BodyTemplate::Json(json) => json.uses(&Slot::Sender),
                BodyTemplate::Form(form) => form.iter().any(|(_, t)| t.uses(&Slot::Sender)),
                BodyTemplate::None => false,
            };
        let senders = senders(env, uses_sender)?;
        let ttl = env.message_ttl().map_err(|e| e.to_string())?;
        Ok(Self {
            // Read once per configuration, and kept for the process: `SmsProvider::name` is a
            // `&'static str` every answer, log line and metric shares.
            name: Box::leak(w.name.into_boxed_str()),
            method,
            url_written: w.url,
            url,
            headers,
            basic_auth,
            body,
            answers,
            fields,
            senders,
            ttl,
        })
    }
}

/// The description's text and the variable it came from.
fn read(env: &Env) -> Result<(&'static str, String), ConfigError> {
    match (
        env.optional("HTTP_PROVIDER"),
        env.optional("HTTP_PROVIDER_FILE"),
    ) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            "HTTP_PROVIDER_FILE",
            "and HTTP_PROVIDER are both set: set one",
        )),
        (Some(json), None) => Ok(("HTTP_PROVIDER", json)),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|text| ("HTTP_PROVIDER_FILE", text))
            .map_err(|e| {
                ConfigError::invalid(
                    "HTTP_PROVIDER_FILE",
                    format!("{path:?} cannot be read: {e}"),
                )
            }),
        (None, None) => Err(ConfigError::provider(
            "http",
            "which needs a description: set HTTP_PROVIDER (its JSON) or HTTP_PROVIDER_FILE (a file holding it)",
        )),
    }
}

/// The scheme and host are written out (no placeholder before the path), and credentials go over
/// https only (http to this machine, for a stand-in).
fn check_url(raw: &str, url: &Template) -> Result<(), String> {
    let start = raw.find("://").map_or(0, |i| i + 3);
    let authority_end = raw[start..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| start + i);
    if url.literal_prefix().len() < authority_end {
        return Err(
            "`url` must write out its scheme and host: placeholders go in the path or the query"
                .into(),
        );
    }
    if !rest::usable_url(&sample(url, super::template::percent)) {
        return Err(format!(
            "`url` must be an https URL (http only on loopback), got {:?}",
            crate::domain::redact::url_credentials(&raw[..authority_end])
        ));
    }
    Ok(())
}

/// `template` with each placeholder standing for one unreserved character, to check its literal
/// text where it goes (a URL, a header).
fn sample(template: &Template, encode: fn(&str, &mut String)) -> String {
    let secrets = vec!["x".to_owned(); 64];
    let values = super::template::Values {
        to: "x",
        text: "x",
        sender: "x",
        reference: "x",
        ttl_seconds: "1",
        secrets: &secrets,
    };
    template.render(&values, encode)
}

fn senders(env: &Env, used: bool) -> Result<Option<Senders>, String> {
    let from = env.optional("HTTP_PROVIDER_FROM");
    if !used {
        return match from {
            Some(_) => {
                Err("has no {sender}, but HTTP_PROVIDER_FROM is set: use it or unset it".into())
            }
            None => Ok(None),
        };
    }
    let from = from.ok_or(
        "uses {sender}, but HTTP_PROVIDER_FROM is not set (the sender for numbers without one of their own)",
    )?;
    let by_country = crate::domain::country::senders_for("http", env).map_err(|e| e.to_string())?;
    let use_sender_id = env
        .flag("HTTP_PROVIDER_USE_SENDER_ID", false)
        .map_err(|e| e.to_string())?;
    Ok(Some(Senders {
        from,
        by_country,
        use_sender_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A description that works, with a secret and a sender.
    fn good() -> Value {
        json!({
            "name": "acme-sms",
            "url": "https://api.acme.example/v1/{secret.acme_account}/messages?ttl={ttl_seconds}",
            "headers": {"Authorization": "Bearer {secret.acme_token}", "X-Trace": "{env.ACME_TRACE}"},
            "json": {"from": "{sender}", "to": ["{to}"], "text": "{text}", "ttl": "{ttl_seconds}", "n": 1},
            "message_id": "/id",
            "sent": [200, 201],
            "refused": [400],
            "not_sent": [401, 429],
            "rules": [{"pointer": "/status", "is": ["failed"], "outcome": "not_sent"}]
        })
    }

    fn read(description: &Value, extra: &[(&str, &str)]) -> Result<HttpSettings, ConfigError> {
        let text = description.to_string();
        let mut vars = vec![
            ("HTTP_PROVIDER", text.as_str()),
            ("GATEWAY_SECRET_ID", "mosaic/gateway"),
            ("HTTP_PROVIDER_FROM", "Acme"),
            ("ACME_TRACE", "env-secret-value"),
        ];
        vars.retain(|(k, _)| extra.iter().all(|(e, _)| e != k));
        vars.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
        crate::settings::in_lambda_env(&vars, HttpSettings::from_env)
    }

    fn with(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
        let mut d = good();
        change(d.as_object_mut().unwrap());
        d
    }

    #[test]
    fn a_description_compiles_and_its_debug_shows_no_value() {
        let s = read(&good(), &[]).unwrap();
        assert_eq!(s.name, "acme-sms");
        assert_eq!(s.method, Method::POST);
        assert_eq!(s.fields.0, ["acme_account", "acme_token"]);
        assert_eq!(s.senders.as_ref().unwrap().from, "Acme");
        let debug = format!("{s:?}");
        for hidden in ["Bearer", "env-secret-value", "{text}"] {
            assert!(!debug.contains(hidden), "{hidden} in {debug}");
        }
        assert!(debug.contains("authorization: [redacted]"), "{debug}");
    }

    #[test]
    fn each_field_that_cannot_work_stops_start_up_in_one_line_that_names_it() {
        type Case = (Value, &'static [(&'static str, &'static str)], &'static str);
        let cases: Vec<Case> = vec![
            (
                with(|d| {
                    d.insert("nmae".into(), json!("x"));
                }),
                &[],
                "HTTP_PROVIDER is not a valid description: unknown field `nmae`",
            ),
            (
                with(|d| {
                    d.remove("url");
                }),
                &[],
                "missing field `url`",
            ),
            (
                with(|d| {
                    d.insert("name".into(), json!("acme sms"));
                }),
                &[],
                "`name` must be 1 to 32",
            ),
            (
                with(|d| {
                    d.insert("name".into(), json!("twilio"));
                }),
                &[],
                "`name` \"twilio\" is taken",
            ),
            (
                with(|d| {
                    d.insert("name".into(), json!("none"));
                }),
                &[],
                "`name` \"none\" is taken",
            ),
            (
                with(|d| {
                    d.insert("method".into(), json!("DELETE"));
                }),
                &[],
                "`method` must be",
            ),
            (
                with(|d| {
                    d.insert("url".into(), json!("http://api.acme.example/x"));
                }),
                &[],
                "`url` must be an https URL",
            ),
            (
                with(|d| {
                    d.insert("url".into(), json!("https://{secret.host}/x"));
                }),
                &[],
                "`url` must write out its scheme and host",
            ),
            (
                with(|d| {
                    d.insert("url".into(), json!("https://api.acme.example/{phone}"));
                }),
                &[],
                "`url` has an unknown placeholder {phone}",
            ),
            (
                with(|d| {
                    d.insert("headers".into(), json!({"X-Text": "{text}"}));
                }),
                &[],
                "`headers`: X-Text cannot carry {text}",
            ),
            (
                with(|d| {
                    d.insert("headers".into(), json!({"Bad Name": "x"}));
                }),
                &[],
                "`headers`: \"Bad Name\" is not a header name",
            ),
            (
                with(|d| {
                    d.insert("headers".into(), json!({"Content-Length": "1"}));
                }),
                &[],
                "`headers`: Content-Length is written by the gateway",
            ),
            (
                with(|d| {
                    d.insert("basic_auth".into(), json!(["{secret.a}", "{secret.b}"]));
                }),
                &[],
                "`headers` has Authorization and `basic_auth` is set",
            ),
            (
                with(|d| {
                    d.insert("basic_auth".into(), json!(["only-one"]));
                }),
                &[],
                "is not a valid description",
            ),
            (
                with(|d| {
                    d.insert("json".into(), json!({"to": "{to"}));
                }),
                &[],
                "`json`/to has a { that is not closed",
            ),
            (
                with(|d| {
                    d.insert("form".into(), json!({"to": "{to}"}));
                }),
                &[],
                "has both `json` and `form`",
            ),
            (
                with(|d| {
                    d.insert("form".into(), json!({"to": 1}));
                    d.remove("json");
                }),
                &[],
                "is not a valid description: invalid type",
            ),
            (
                with(|d| {
                    d.insert("method".into(), json!("GET"));
                }),
                &[],
                "`method` GET takes no `json` or `form`",
            ),
            (
                with(|d| {
                    d.insert("message_id".into(), json!("id"));
                }),
                &[],
                "`message_id` must be a JSON pointer",
            ),
            (
                with(|d| {
                    d.insert("sent".into(), json!([]));
                }),
                &[],
                "`sent` must list",
            ),
            (
                with(|d| {
                    d.insert("refused".into(), json!([401]));
                }),
                &[],
                "lists 401 twice",
            ),
            (
                with(|d| {
                    d.insert("not_sent".into(), json!([1000]));
                }),
                &[],
                "`not_sent` lists 1000, which is no HTTP status",
            ),
            (
                with(|d| {
                    d.insert(
                        "rules".into(),
                        json!([{"pointer": "/s", "is": "x", "not": "y", "outcome": "not_sent"}]),
                    );
                }),
                &[],
                "`rules` 1 needs one of `is` and `not`",
            ),
            (
                with(|d| {
                    d.insert(
                        "rules".into(),
                        json!([{"pointer": "/s", "is": "x", "outcome": "lost"}]),
                    );
                }),
                &[],
                "unknown variant `lost`",
            ),
            (
                good(),
                &[("ACME_TRACE", "")],
                "uses {env.ACME_TRACE}, but ACME_TRACE is not set",
            ),
            (
                good(),
                &[("GATEWAY_SECRET_ID", "")],
                "uses {secret.acme_account}, but no gateway secret is configured",
            ),
            (
                good(),
                &[("HTTP_PROVIDER_FROM", "")],
                "uses {sender}, but HTTP_PROVIDER_FROM is not set",
            ),
            (
                good(),
                &[("HTTP_PROVIDER_USE_SENDER_ID", "yes")],
                "HTTP_PROVIDER_USE_SENDER_ID must be true or false",
            ),
            (
                good(),
                &[
                    ("HTTP_PROVIDER", ""),
                    ("HTTP_PROVIDER_FILE", "/nonexistent/acme.json"),
                ],
                "HTTP_PROVIDER_FILE \"/nonexistent/acme.json\" cannot be read",
            ),
            (
                good(),
                &[("HTTP_PROVIDER_FILE", "/etc/hostname")],
                "HTTP_PROVIDER_FILE and HTTP_PROVIDER are both set",
            ),
            (
                good(),
                &[("HTTP_PROVIDER", "")],
                "SMS_PROVIDER includes http, which needs a description",
            ),
            (
                json!("not an object"),
                &[],
                "HTTP_PROVIDER is not a valid description: invalid type",
            ),
            (
                with(|d| {
                    d.insert("headers".into(), json!({"X-Key": "a", "x-key": "b"}));
                }),
                &[],
                "`headers` names x-key twice",
            ),
            (
                with(|d| {
                    d.insert("headers".into(), json!({"X-Key": "{to}\nInjected: yes"}));
                }),
                &[],
                "`headers`: X-Key has characters a header cannot hold",
            ),
        ];
        for (description, extra, start) in cases {
            let line = read(&description, extra).unwrap_err().to_string();
            assert!(
                line.starts_with("HTTP_PROVIDER") || line.starts_with("SMS_PROVIDER"),
                "{line}"
            );
            assert!(line.contains(start), "expected {start:?} in {line:?}");
            assert!(!line.contains('\n'), "{line}");
            assert!(!line.contains("env-secret-value"), "{line}");
        }
    }

    #[test]
    fn a_key_written_twice_at_any_depth_is_refused() {
        let text = good().to_string();
        for (twice, expected) in [
            (
                text.replacen("\"sent\"", "\"sent\":[202],\"sent\"", 1),
                "lists `sent` twice",
            ),
            (
                text.replacen("\"from\"", "\"to\":\"{to}\",\"from\"", 1),
                "\"to\" is listed twice",
            ),
        ] {
            let line = crate::settings::in_lambda_env(
                &[
                    ("HTTP_PROVIDER", twice.as_str()),
                    ("GATEWAY_SECRET_ID", "mosaic/gateway"),
                    ("HTTP_PROVIDER_FROM", "Acme"),
                    ("ACME_TRACE", "x"),
                ],
                HttpSettings::from_env,
            )
            .unwrap_err()
            .to_string();
            assert!(line.contains(expected), "{line}");
        }
    }

    #[test]
    fn a_description_without_sender_refuses_a_sender_setting() {
        let no_sender = with(|d| {
            d.insert("json".into(), json!({"to": "{to}", "text": "{text}"}));
        });
        assert!(
            read(&no_sender, &[("HTTP_PROVIDER_FROM", "")])
                .unwrap()
                .senders
                .is_none()
        );
        let line = read(&no_sender, &[]).unwrap_err().to_string();
        assert!(
            line.contains("has no {sender}, but HTTP_PROVIDER_FROM is set"),
            "{line}"
        );
    }

    #[test]
    fn a_description_may_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme.json");
        std::fs::write(&path, good().to_string()).unwrap();
        let path = path.to_str().unwrap();
        let s = read(
            &json!(null),
            &[("HTTP_PROVIDER", ""), ("HTTP_PROVIDER_FILE", path)],
        )
        .unwrap();
        assert_eq!(s.name, "acme-sms");
    }
}
