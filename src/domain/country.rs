//! Where a phone number is, and what follows from it: the country policy (`ALLOWED_COUNTRIES`,
//! `BLOCKED_COUNTRIES`) and local senders (`SENDER_BY_COUNTRY`).
//!
//! The country comes from the numbering plan ([`numbering`], Google's libphonenumber metadata), not
//! from a prefix table: +1 is the US, Canada or one of twenty other countries, +7 is Russia or
//! Kazakhstan, and only the number's national pattern tells which.

use crate::domain::numbering;
use crate::domain::phone::PhoneNumber;
use crate::settings::{ConfigError, Env};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// An ISO 3166 alpha-2 code that libphonenumber knows (`US`, `GB`, `KZ`, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country([u8; 2]);

impl Country {
    /// `None` unless `code` (any case) is a region libphonenumber has metadata for.
    pub fn parse(code: &str) -> Option<Self> {
        let upper = code.trim().to_ascii_uppercase();
        let bytes = upper.as_bytes();
        (bytes.len() == 2 && numbering::knows_region(&upper)).then(|| Self([bytes[0], bytes[1]]))
    }

    /// The country of `phone` by its number plan; `None` for numbers no country owns (the
    /// international +800, +881 satellite and +882/+883 network numbers) or, under a shared
    /// calling code, that match no country's plan.
    pub fn of(phone: &PhoneNumber) -> Option<Self> {
        numbering::region_of(phone).and_then(Self::parse)
    }

    /// Every country that shares `phone`'s calling code (`+7`: Russia and Kazakhstan).
    pub fn sharing_code_with(phone: &PhoneNumber) -> Vec<Self> {
        numbering::regions_sharing_code(phone)
            .iter()
            .filter_map(|r| Self::parse(r))
            .collect()
    }

    pub fn as_str(&self) -> &str {
        // Built only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({self})")
    }
}

/// Which countries may receive SMS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CountryPolicy {
    #[default]
    Any,
    /// Only these; a number whose country cannot be told is refused too.
    Allowed(HashSet<Country>),
    /// All but these; a number whose country cannot be told is refused when a blocked country
    /// shares its calling code (an unlisted `+7` range may be Russia's), and sent otherwise.
    Blocked(HashSet<Country>),
}

impl CountryPolicy {
    /// `ALLOWED_COUNTRIES` or `BLOCKED_COUNTRIES` (comma lists of ISO 3166 alpha-2 codes), not both.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let allowed = env.optional("ALLOWED_COUNTRIES");
        let blocked = env.optional("BLOCKED_COUNTRIES");
        match (allowed, blocked) {
            (Some(_), Some(_)) => Err(ConfigError::invalid(
                "ALLOWED_COUNTRIES",
                "and BLOCKED_COUNTRIES are both set: set one of them",
            )),
            (Some(list), None) => Ok(Self::Allowed(country_list("ALLOWED_COUNTRIES", &list)?)),
            (None, Some(list)) => Ok(Self::Blocked(country_list("BLOCKED_COUNTRIES", &list)?)),
            (None, None) => Ok(Self::Any),
        }
    }

    /// Whether an SMS to `phone`, in `country` (`None`: not known), may go.
    pub fn allows(&self, phone: &PhoneNumber, country: Option<Country>) -> bool {
        match (self, country) {
            (Self::Any, _) => true,
            (Self::Allowed(list), Some(c)) => list.contains(&c),
            (Self::Allowed(_), None) => false,
            (Self::Blocked(list), Some(c)) => !list.contains(&c),
            (Self::Blocked(list), None) => !Country::sharing_code_with(phone)
                .iter()
                .any(|c| list.contains(c)),
        }
    }

    pub fn is_any(&self) -> bool {
        matches!(self, Self::Any)
    }
}

fn country_list(variable: &'static str, list: &str) -> Result<HashSet<Country>, ConfigError> {
    let codes: HashSet<Country> = list
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|code| {
            Country::parse(code).ok_or_else(|| {
                ConfigError::invalid(
                    variable,
                    format!("holds {code:?}, which is not an ISO 3166 alpha-2 country code"),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    if codes.is_empty() {
        return Err(ConfigError::invalid(variable, "lists no country"));
    }
    Ok(codes)
}

/// `raw`, the value of `variable`: a JSON object from ISO country code to a value (`what` the
/// error line calls it), as (code as written, country, value), each country once.
pub fn by_country(
    variable: &'static str,
    raw: &str,
    what: &str,
) -> Result<Vec<(String, Country, serde_json::Value)>, ConfigError> {
    let invalid = |problem: String| ConfigError::invalid(variable, problem);
    let entries = object_entries(raw)
        .map_err(|e| invalid(format!("is not valid JSON: {e}")))?
        .ok_or_else(|| invalid(format!("must be a JSON object from country code to {what}")))?;
    keyed_by_country(variable, entries)
}

/// A JSON value whose objects, at every depth, name each key once: serde_json's own object keeps
/// only the last of two equal keys, silently, and a setting must never be read as whichever of
/// two entries came last.
struct Strict(serde_json::Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Strict;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
                Ok(Strict(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
                Ok(Strict(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
                Ok(Strict(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
                Ok(Strict(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
                Ok(Strict(v.into()))
            }
            fn visit_unit<E>(self) -> Result<Strict, E> {
                Ok(Strict(serde_json::Value::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Strict, A::Error> {
                let mut items = Vec::new();
                while let Some(Strict(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Strict(items.into()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Strict, A::Error> {
                let mut object = serde_json::Map::new();
                while let Some((key, Strict(value))) = map.next_entry::<String, Strict>()? {
                    if object.contains_key(&key) {
                        return Err(A::Error::custom(format!("{key:?} is listed twice")));
                    }
                    object.insert(key, value);
                }
                Ok(Strict(object.into()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `raw`'s entries when it is a JSON object (`Ok(None)` when it is other JSON), every one in the
/// order written, each value's own objects checked to name each key once ([`Strict`]): the
/// top-level keys are compared by the caller (a country in two cases is one country).
pub fn object_entries(
    raw: &str,
) -> Result<Option<Vec<(String, serde_json::Value)>>, serde_json::Error> {
    struct Entries(Vec<(String, serde_json::Value)>);
    impl<'de> serde::Deserialize<'de> for Entries {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Entries;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Entries, A::Error> {
                    let mut entries = Vec::new();
                    while let Some((key, Strict(value))) = map.next_entry::<String, Strict>()? {
                        entries.push((key, value));
                    }
                    Ok(Entries(entries))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    if !serde_json::from_str::<serde_json::Value>(raw)?.is_object() {
        return Ok(None);
    }
    serde_json::from_str::<Entries>(raw).map(|entries| Some(entries.0))
}

/// `entries` (a JSON object's, as [`object_entries`] reads them) keyed by ISO country code, as
/// (code as written, country, value): a code that is no country, or a country listed twice in
/// any case (`{"LV": 1, "lv": 1000}`), stops start-up rather than letting the last one win.
pub fn keyed_by_country(
    variable: &'static str,
    entries: Vec<(String, serde_json::Value)>,
) -> Result<Vec<(String, Country, serde_json::Value)>, ConfigError> {
    let invalid = |problem: String| ConfigError::invalid(variable, problem);
    let mut parsed: Vec<(String, Country, serde_json::Value)> = Vec::new();
    for (code, value) in entries {
        let country = Country::parse(&code).ok_or_else(|| {
            invalid(format!(
                "holds {code:?}, which is not an ISO 3166 alpha-2 country code"
            ))
        })?;
        if let Some((first, _, _)) = parsed.iter().find(|(_, c, _)| *c == country) {
            return Err(invalid(if *first == code {
                format!("lists {country} twice")
            } else {
                format!("lists {country} twice (as {first:?} and {code:?})")
            }));
        }
        parsed.push((code, country, value));
    }
    Ok(parsed)
}

/// Whether `SENDER_BY_COUNTRY` is set, checked whichever providers read it: a country listed
/// twice, or an object of senders by provider that names a provider twice or one of none of
/// `providers` (the names the gateway knows), stops start-up, even with only providers that have
/// no senders by country; no entry is ever left unread.
pub fn senders_set(env: &Env, providers: &[&str]) -> Result<bool, ConfigError> {
    const VARIABLE: &str = "SENDER_BY_COUNTRY";
    let Some(raw) = env.optional(VARIABLE) else {
        return Ok(false);
    };
    let invalid = |problem: String| ConfigError::invalid(VARIABLE, problem);
    let sender = |value: &serde_json::Value, what: String| match value.as_str().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(()),
        Some(_) => Err(invalid(format!("{what} is an empty sender"))),
        None => Err(invalid(format!("{what} must be a sender (a string)"))),
    };
    for (_, country, senders) in by_country(VARIABLE, &raw, "sender")? {
        let serde_json::Value::Object(by_provider) = senders else {
            sender(&senders, country.to_string())?;
            continue;
        };
        for (provider, value) in &by_provider {
            if !providers.contains(&provider.as_str()) {
                return Err(invalid(format!(
                    "{country} names {provider:?}, which is no provider (one of {})",
                    providers.join(", ")
                )));
            }
            sender(value, format!("{country}.{provider}"))?;
        }
    }
    Ok(true)
}

/// `SENDER_BY_COUNTRY` as one provider reads it: the sender to use for numbers in each country.
///
/// The variable is a JSON object from country code to either one sender for every provider
/// (`{"DE": "+4915112345678"}`) or an object by provider name
/// (`{"US": {"sns": "+12065550100", "twilio": "MG0123..."}}`). Each provider checks that its
/// values are senders it can use.
pub fn senders_for(provider: &str, env: &Env) -> Result<HashMap<Country, String>, ConfigError> {
    const VARIABLE: &str = "SENDER_BY_COUNTRY";
    let Some(raw) = env.optional(VARIABLE) else {
        return Ok(HashMap::new());
    };
    let invalid = |problem: String| ConfigError::invalid(VARIABLE, problem);
    let mut senders = HashMap::new();
    for (_, country, sender) in by_country(VARIABLE, &raw, "sender")? {
        let sender = match sender {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Object(by_provider) => match by_provider.get(provider) {
                None => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(invalid(format!(
                        "{country}.{provider} must be a string (a sender)"
                    )));
                }
            },
            _ => {
                return Err(invalid(format!(
                    "{country} must be a sender (a string) or an object of senders by provider"
                )));
            }
        };
        if let Some(sender) = sender.map(|s| s.trim().to_owned()) {
            if sender.is_empty() {
                return Err(invalid(format!("{country} has an empty sender")));
            }
            senders.insert(country, sender);
        }
    }
    Ok(senders)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Host;

    fn country(phone: &str) -> Option<String> {
        Country::of(&PhoneNumber::parse(phone).unwrap()).map(|c| c.to_string())
    }

    #[test]
    fn the_country_comes_from_the_number_plan_not_the_prefix() {
        assert_eq!(country("+14155550100").as_deref(), Some("US"));
        // +1 416 is Toronto, +1 876 Jamaica: the same country code.
        assert_eq!(country("+14165550100").as_deref(), Some("CA"));
        assert_eq!(country("+18765550100").as_deref(), Some("JM"));
        // +7 7xx is Kazakhstan, +7 9xx Russia.
        assert_eq!(country("+77012345678").as_deref(), Some("KZ"));
        assert_eq!(country("+79123456789").as_deref(), Some("RU"));
        assert_eq!(country("+447400123456").as_deref(), Some("GB"));
        // Ofcom's range for drama is in no plan: no country.
        assert_eq!(country("+447700900123"), None);
        // +44 7911 is Guernsey's, though +44 is "the UK".
        assert_eq!(country("+447911123456").as_deref(), Some("GG"));
        assert_eq!(country("+6834001").as_deref(), Some("NU"));
        // Satellite numbers belong to no country.
        assert_eq!(country("+881612345678"), None);
        // An Italian number keeps its leading zero: Rome, and the Vatican inside it.
        assert_eq!(country("+390612345678").as_deref(), Some("IT"));
        assert_eq!(country("+390669812345").as_deref(), Some("VA"));
    }

    fn env_with<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn policy(vars: &[(&str, &str)]) -> Result<CountryPolicy, ConfigError> {
        let lookup = env_with(vars);
        CountryPolicy::from_env(&Env::new(Host::Lambda, &lookup))
    }

    /// Every example number in libphonenumber's metadata gets the country the `phonenumber`
    /// crate gives it.
    #[test]
    fn agrees_with_libphonenumber_on_every_example_number() {
        let mut checked = 0;
        let mut differ = Vec::new();
        fn some_types(
            d: &phonenumber::metadata::Descriptors,
        ) -> Vec<Option<&phonenumber::metadata::Descriptor>> {
            vec![
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.voip(),
            ]
        }
        for (e164, phone) in crate::domain::numbering::tests::metadata_examples(some_types) {
            let reference = phonenumber::parse(None, &e164)
                .ok()
                .and_then(|n| n.country().id())
                .map(|id| id.as_ref().to_owned());
            let ours = Country::of(&phone).map(|c| c.to_string());
            checked += 1;
            if ours != reference {
                differ.push(format!("{e164}: ours {ours:?}, phonenumber {reference:?}"));
            }
        }
        // Where the crate gives no country and libphonenumber itself does: the crate drops an
        // Italian number's leading zero (Rome 06, Milan 02, the Vatican's 06 698), and finds no
        // country for Russia's toll-free +7 800.
        let known = [
            "+78001234567: ours Some(\"RU\"), phonenumber None",
            "+390669812345: ours Some(\"VA\"), phonenumber None",
            "+390212345678: ours Some(\"IT\"), phonenumber None",
        ];
        differ.retain(|d| !known.contains(&d.as_str()));
        assert!(checked > 500, "{checked}");
        assert!(
            differ.is_empty(),
            "{} of {checked} differ: {differ:#?}",
            differ.len()
        );
    }

    #[test]
    fn allowed_and_blocked_lists() {
        let phone = PhoneNumber::parse("+14155550100").unwrap();
        let us = Country::parse("us");
        let kz = Country::parse("KZ");
        let allowed = policy(&[("ALLOWED_COUNTRIES", "US, ca")]).unwrap();
        assert!(allowed.allows(&phone, us));
        assert!(!allowed.allows(&phone, kz));
        assert!(!allowed.allows(&phone, None));
        let blocked = policy(&[("BLOCKED_COUNTRIES", "KZ")]).unwrap();
        assert!(blocked.allows(&phone, us));
        assert!(!blocked.allows(&phone, kz));
        assert!(blocked.allows(&phone, None));
        // A +7 number in no plan may be Kazakhstan's: refused while KZ is blocked.
        let unplanned = PhoneNumber::parse("+70000000000").unwrap();
        assert_eq!(Country::of(&unplanned), None);
        assert!(!blocked.allows(&unplanned, None));
        let satellite = PhoneNumber::parse("+881612345678").unwrap();
        assert!(blocked.allows(&satellite, None));
        assert!(policy(&[]).unwrap().is_any());
        assert!(policy(&[("ALLOWED_COUNTRIES", "")]).unwrap().is_any());
    }

    #[test]
    fn bad_policies_are_refused_at_start_up() {
        let both = policy(&[("ALLOWED_COUNTRIES", "US"), ("BLOCKED_COUNTRIES", "RU")]);
        assert!(both.unwrap_err().to_string().contains("both set"));
        let bad = policy(&[("ALLOWED_COUNTRIES", "US,USA")]).unwrap_err();
        assert!(bad.to_string().contains("\"USA\""), "{bad}");
        assert!(policy(&[("BLOCKED_COUNTRIES", "XX")]).is_err());
        assert!(policy(&[("BLOCKED_COUNTRIES", " , ")]).is_err());
    }

    #[test]
    fn a_country_listed_twice_in_any_case_is_refused() {
        for (json, line) in [
            (
                r#"{"LV": "+37120000000", "lv": "+37120000001"}"#,
                r#"SENDER_BY_COUNTRY lists LV twice (as "LV" and "lv")"#,
            ),
            // serde_json's object would keep the second silently.
            (
                r#"{"LV": "+37120000000", "DE": "Acme", "LV": "+37120000001"}"#,
                "SENDER_BY_COUNTRY lists LV twice",
            ),
        ] {
            let vars = [("SENDER_BY_COUNTRY", json)];
            let lookup = env_with(&vars);
            let env = Env::new(Host::Lambda, &lookup);
            assert_eq!(senders_for("sns", &env).unwrap_err().to_string(), line);
            assert_eq!(senders_set(&env, &["sns"]).unwrap_err().to_string(), line);
        }
        let entries = object_entries(r#"{"a": 1, "a": 2}"#).unwrap().unwrap();
        assert_eq!(entries.len(), 2, "every entry, as written");
        assert_eq!(object_entries("[1]").unwrap(), None);
        assert!(object_entries("{").is_err());
    }

    #[test]
    fn a_sender_by_provider_is_named_once_and_by_a_provider_the_gateway_knows() {
        let providers = ["sns", "twilio"];
        for (json, problem) in [
            // serde_json's object would keep the second silently.
            (
                r#"{"US": {"sns": "+12065550100", "sns": "+12065550199"}}"#,
                "\"sns\" is listed twice",
            ),
            // The name of no provider: the entry would never be read.
            (
                r#"{"US": {"SNS": "+12065550100"}}"#,
                "US names \"SNS\", which is no provider (one of sns, twilio)",
            ),
            (
                r#"{"US": {"snss": "+12065550100"}}"#,
                "US names \"snss\", which is no provider",
            ),
            // Checked whichever providers run: nothing is left unread or read wrong later.
            (r#"{"US": 5}"#, "US must be a sender (a string)"),
            (r#"{"US": []}"#, "US must be a sender (a string)"),
            (
                r#"{"US": {"sns": 5}}"#,
                "US.sns must be a sender (a string)",
            ),
            (r#"{"DE": " "}"#, "DE is an empty sender"),
        ] {
            let vars = [("SENDER_BY_COUNTRY", json)];
            let lookup = env_with(&vars);
            let env = Env::new(Host::Lambda, &lookup);
            let line = senders_set(&env, &providers).unwrap_err().to_string();
            assert!(line.starts_with("SENDER_BY_COUNTRY"), "{line}");
            assert!(line.contains(problem), "{json}: {line}");
        }
        let fine = [("SENDER_BY_COUNTRY", r#"{"US": {"sns": "+12065550100"}}"#)];
        let lookup = env_with(&fine);
        assert!(senders_set(&Env::new(Host::Lambda, &lookup), &providers).unwrap());
    }

    #[test]
    fn a_country_code_with_a_stray_newline_is_named_on_one_line() {
        let vars = [("SENDER_BY_COUNTRY", "{\"DE\\n\": 5}")];
        let lookup = env_with(&vars);
        let line = senders_for("sns", &Env::new(Host::Lambda, &lookup))
            .unwrap_err()
            .to_string();
        assert_eq!(
            line,
            "SENDER_BY_COUNTRY DE must be a sender (a string) or an object of senders by provider"
        );
    }

    #[test]
    fn senders_by_country_for_one_provider() {
        let json = r#"{"DE": "+4915112345678", "us": {"sns": "+12065550100", "twilio": "MG1"}}"#;
        let vars = [("SENDER_BY_COUNTRY", json)];
        let lookup = env_with(&vars);
        let env = Env::new(Host::Lambda, &lookup);
        let de = Country::parse("DE").unwrap();
        let us = Country::parse("US").unwrap();
        let sns = senders_for("sns", &env).unwrap();
        assert_eq!(sns[&de], "+4915112345678");
        assert_eq!(sns[&us], "+12065550100");
        let eum = senders_for("end-user-messaging", &env).unwrap();
        assert_eq!(eum.len(), 1, "US has no end-user-messaging sender");
        for bad in [
            "[1]",
            "{\"XX\": \"a\"}",
            "{\"DE\": 5}",
            "{\"DE\": \"\"}",
            "not json",
        ] {
            let vars = [("SENDER_BY_COUNTRY", bad)];
            let lookup = env_with(&vars);
            let err = senders_for("sns", &Env::new(Host::Lambda, &lookup)).unwrap_err();
            assert!(err.to_string().starts_with("SENDER_BY_COUNTRY"), "{err}");
        }
    }
}
