//! `configure`: a first deploy without answering all of the template's parameters. It asks only
//! what the choice needs (stack name and region; the provider or a chain of two; each provider's
//! non-secret settings, such as its sender; the country policy; an alarm address), shows the
//! defaults it keeps, and writes `samconfig.toml` so that `sam build && sam deploy` needs no
//! `--guided`. Run again, it starts from the file it finds. Without a terminal it asks nothing:
//! the answers come from flags and the file, and a missing one stops it with the flag to pass.
//!
//! What it knows of the template (names, defaults, constraints, groups) is `template.yaml` itself,
//! read by build.rs; the template's own rules (a provider's required settings, one country policy,
//! WAF and the Function URL) are checked here too, so `sam deploy` does not find them out halfway.

use super::samconfig::{Answers, SamConfig};
use dialoguer::{Confirm, Input, Select};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One parameter of `template.yaml`, as build.rs read it.
#[derive(Debug)]
pub struct Parameter {
    pub name: &'static str,
    /// `String`, `Number` or `CommaDelimitedList`.
    pub kind: &'static str,
    pub default: &'static str,
    pub allowed_values: &'static [&'static str],
    pub allowed_pattern: Option<&'static str>,
    pub min_length: Option<&'static str>,
    pub max_length: Option<&'static str>,
    pub min_value: Option<&'static str>,
    pub max_value: Option<&'static str>,
    /// Its group in the CloudFormation console (`ParameterGroups`).
    pub group: &'static str,
    pub description: &'static str,
}

mod template {
    use super::Parameter;
    include!(concat!(env!("OUT_DIR"), "/template_parameters.rs"));
}

pub use template::{ENVIRONMENT, PARAMETERS};

/// The template's parameter of this name.
pub fn parameter(name: &str) -> Option<&'static Parameter> {
    PARAMETERS.iter().find(|p| p.name == name)
}

/// Whether `value` is one CloudFormation takes for `p`: its allowed values, its type, length,
/// range and pattern (each member of a list). A pattern the `regex` crate cannot compile (a
/// lookahead) is left to CloudFormation; the tests name which ones those are.
pub fn check_value(p: &Parameter, value: &str) -> Result<(), String> {
    let name = p.name;
    if !p.allowed_values.is_empty() && !p.allowed_values.contains(&value) {
        return Err(format!(
            "{name} must be one of: {}",
            p.allowed_values.join(", ")
        ));
    }
    let bound = |b: Option<&str>| b.and_then(|b| b.parse::<f64>().ok());
    if p.kind == "Number" {
        // CloudFormation takes any number; the gateway and the template's resources read these
        // as whole numbers (a fraction or an exponent would stop the function at start-up).
        let whole =
            !value.is_empty() && value.len() <= 12 && value.bytes().all(|b| b.is_ascii_digit());
        let n: f64 = value
            .parse()
            .ok()
            .filter(|_| whole)
            .ok_or_else(|| format!("{name} must be a whole number, not {value:?}"))?;
        if bound(p.min_value).is_some_and(|min| n < min)
            || bound(p.max_value).is_some_and(|max| n > max)
        {
            return Err(format!(
                "{name} must be from {} to {}",
                p.min_value.unwrap_or("any"),
                p.max_value.unwrap_or("any")
            ));
        }
        return Ok(());
    }
    let length = value.chars().count() as f64;
    if bound(p.min_length).is_some_and(|min| length < min)
        || bound(p.max_length).is_some_and(|max| length > max)
    {
        return Err(format!(
            "{name} must be {} to {} characters long",
            p.min_length.unwrap_or("0"),
            p.max_length.unwrap_or("any number of")
        ));
    }
    let members: Vec<&str> = match p.kind {
        "CommaDelimitedList" => value.split(',').collect(),
        _ => vec![value],
    };
    if members.len() > 1 && members.iter().any(|m| m.is_empty()) {
        return Err(format!(
            "{name} has an empty member: separate the values with single commas"
        ));
    }
    if let Some(pattern) = p.allowed_pattern {
        let pattern = Pattern::new(pattern)
            .ok_or_else(|| format!("{name}'s pattern in template.yaml cannot be read"))?;
        if let Some(bad) = members.iter().find(|m| !pattern.matches(m)) {
            return Err(format!(
                "{name} cannot be {bad:?}: {}",
                short(p.description)
            ));
        }
    }
    Ok(())
}

/// A template pattern as CloudFormation applies it, in ASCII (`\s`, `\d` without Unicode tables).
/// The `regex` crate has no lookaround, which a few patterns use at the start of an alternative
/// (`^(?=.*[A-Za-z])[A-Za-z0-9]{3,11}$`: letters and digits, one letter at least): each
/// alternative is kept apart, and its lookaheads are checked as patterns of their own from the
/// start of the value.
struct Pattern {
    /// Per top-level alternative: the lookaheads it starts with, then the rest.
    alternatives: Vec<(Vec<regex::bytes::Regex>, regex::bytes::Regex)>,
}

impl Pattern {
    fn new(pattern: &str) -> Option<Self> {
        let compile = |p: &str| regex::bytes::Regex::new(&format!("(?-u){p}")).ok();
        let mut alternatives = Vec::new();
        for alternative in top_level_alternatives(pattern) {
            let anchored = alternative.starts_with('^');
            let mut rest = alternative.strip_prefix('^').unwrap_or(alternative);
            let mut lookaheads = Vec::new();
            while let Some(inner) = rest.strip_prefix("(?=") {
                let end = closing(inner)?;
                lookaheads.push(compile(&format!("^(?:{})", &inner[..end]))?);
                rest = &inner[end + 1..];
            }
            let rest = match anchored {
                true => format!("^{rest}"),
                false => rest.to_owned(),
            };
            alternatives.push((lookaheads, compile(&rest)?));
        }
        Some(Self { alternatives })
    }

    fn matches(&self, value: &str) -> bool {
        let value = value.as_bytes();
        self.alternatives.iter().any(|(lookaheads, rest)| {
            lookaheads.iter().all(|l| l.is_match(value)) && rest.is_match(value)
        })
    }
}

/// Walks a pattern outside character classes and escapes, calling `visit` with each character's
/// position and the group depth before it; stops when `visit` says so.
fn walk(pattern: &str, mut visit: impl FnMut(usize, char, i32) -> bool) {
    let (mut depth, mut in_class, mut escaped) = (0i32, false, false);
    for (i, c) in pattern.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            _ if in_class => {}
            _ => {
                if visit(i, c, depth) {
                    return;
                }
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
            }
        }
    }
}

/// The pattern's alternatives outside any group.
fn top_level_alternatives(pattern: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    walk(pattern, |i, c, depth| {
        if c == '|' && depth == 0 {
            parts.push(&pattern[start..i]);
            start = i + 1;
        }
        false
    });
    parts.push(&pattern[start..]);
    parts
}

/// Where the group opened just before `text` closes.
fn closing(text: &str) -> Option<usize> {
    let mut end = None;
    walk(text, |i, c, depth| {
        let found = c == ')' && depth == 0;
        if found {
            end = Some(i);
        }
        found
    });
    end
}

/// The first sentence of a description.
fn short(description: &str) -> &str {
    description
        .split_once(". ")
        .map_or(description, |(first, _)| first)
}

/// The providers in the order `configure` offers them, with what each is.
const PROVIDERS: &[(&str, &str)] = &[
    ("sns", "Amazon SNS"),
    ("end-user-messaging", "AWS End User Messaging SMS"),
    ("twilio", "Twilio"),
    ("vonage", "Vonage"),
    ("infobip", "Infobip"),
    ("salesforce-marketing-cloud", "Salesforce Marketing Cloud"),
    (
        "http",
        "any provider with an HTTP API (its description in http-provider/http-provider.json)",
    ),
];

/// Whether a question must have an answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Required,
    Optional,
    /// Twilio: a Messaging Service or a sender, exactly one.
    OneOfTwo,
}

/// A setting `configure` asks for: the parameter, the question, whether it needs an answer.
type Setting = (&'static str, &'static str, Need);

/// The non-secret settings `configure` asks for each provider in the chain (its credentials go
/// in the secret, with `secret put`).
const PROVIDER_SETTINGS: &[(&str, &[Setting])] = &[
    (
        "sns",
        &[
            (
                "SnsSenderId",
                "SNS: sender id when Mosaic's is not usable (3 to 11 letters and digits)",
                Need::Optional,
            ),
            (
                "SnsOriginationNumber",
                "SNS: origination number (E.164)",
                Need::Optional,
            ),
        ],
    ),
    (
        "end-user-messaging",
        &[
            (
                "EumOriginationIdentityArn",
                "End User Messaging: ARN of the phone number, pool or sender id to send from",
                Need::Required,
            ),
            (
                "EumSpendLimitUsd",
                "End User Messaging: the account's monthly SMS spend limit in USD, for the EumSpend alarm (0: no alarm)",
                Need::Optional,
            ),
        ],
    ),
    (
        "twilio",
        &[
            (
                "TwilioMessagingServiceSid",
                "Twilio: Messaging Service SID (MG...), or empty to send from a number",
                Need::OneOfTwo,
            ),
            (
                "TwilioFrom",
                "Twilio: sender, a Twilio number in E.164 or an alphanumeric sender id",
                Need::OneOfTwo,
            ),
        ],
    ),
    (
        "vonage",
        &[
            (
                "VonageFrom",
                "Vonage: sender, a number of the account, a short code or an alphanumeric sender id",
                Need::Required,
            ),
            (
                "VonageSignatureMethod",
                "Vonage: the account's signature method (Dashboard, API settings)",
                Need::Optional,
            ),
        ],
    ),
    (
        "infobip",
        &[
            (
                "InfobipBaseUrl",
                "Infobip: the account's API host, xxxxx.api.infobip.com",
                Need::Required,
            ),
            (
                "InfobipFrom",
                "Infobip: sender, a number of the account, a short code or an alphanumeric sender id",
                Need::Required,
            ),
        ],
    ),
    (
        "salesforce-marketing-cloud",
        &[
            (
                "SfmcSubdomain",
                "Salesforce Marketing Cloud: the tenant subdomain",
                Need::Required,
            ),
            (
                "SfmcAccountId",
                "Salesforce Marketing Cloud: the business unit's MID (optional)",
                Need::Optional,
            ),
            (
                "SfmcDefinitionKey",
                "Salesforce Marketing Cloud: the SMS send definition's key",
                Need::Required,
            ),
        ],
    ),
    ("http", &[]),
];

fn settings_of(provider: &str) -> &'static [Setting] {
    PROVIDER_SETTINGS
        .iter()
        .find(|(p, _)| *p == provider)
        .map_or(&[], |(_, s)| s)
}

/// What `configure` was given on its command line.
#[derive(Debug, Default, Clone)]
pub struct Request {
    pub file: PathBuf,
    pub stack_name: Option<String>,
    pub region: Option<String>,
    /// `SmsProvider`: one provider or two, tried in order.
    pub provider: Option<String>,
    pub alarm_email: Option<String>,
    /// `Name=Value`, any template parameter.
    pub parameters: Vec<String>,
}

/// Where answers come from: a person at a terminal, or only flags and the file.
struct Session {
    interactive: bool,
    /// What the flags answered: never asked again.
    given: BTreeSet<String>,
    answers: Answers,
}

const STACK_NAME: &str = "stack name";
const REGION: &str = "region";

fn stopped(e: dialoguer::Error) -> String {
    format!("configure stopped ({e}); nothing written")
}

impl Session {
    /// A parameter's value now: an answer, else the template's default.
    fn value(&self, name: &str) -> String {
        self.answers
            .parameters
            .get(name)
            .cloned()
            .unwrap_or_else(|| parameter(name).map_or("", |p| p.default).to_owned())
    }

    fn set(&mut self, name: &str, value: String) {
        self.answers.parameters.insert(name.to_owned(), value);
    }

    /// Asks for a parameter (a list to pick from when the template names its values), unless a
    /// flag answered it or there is no terminal.
    fn ask_parameter(
        &mut self,
        name: &str,
        question: &str,
        need: Need,
        other: Option<&str>,
    ) -> Result<(), String> {
        if self.given.contains(name) || !self.interactive {
            return Ok(());
        }
        let p = parameter(name).ok_or_else(|| format!("template.yaml has no parameter {name}"))?;
        let current = self.value(name);
        if !p.allowed_values.is_empty() {
            let at = p
                .allowed_values
                .iter()
                .position(|v| *v == current)
                .unwrap_or(0);
            let picked = Select::new()
                .with_prompt(format!("{question} ({name})"))
                .items(p.allowed_values)
                .default(at)
                .interact()
                .map_err(stopped)?;
            self.set(name, p.allowed_values[picked].to_owned());
            return Ok(());
        }
        let other_value = other.map(|o| self.value(o));
        let mut input = Input::<String>::new()
            .allow_empty(true)
            .with_prompt(match (need, current.is_empty()) {
                (Need::Required, _) | (_, true) => format!("{question} ({name})"),
                _ => format!("{question} ({name}; - for none)"),
            })
            .validate_with(move |answer: &String| -> Result<(), String> {
                let answer = cleared(answer);
                match need {
                    Need::Required if answer.is_empty() => Err(format!("{name} is required")),
                    Need::OneOfTwo => {
                        match (other_value.as_deref().unwrap_or(""), answer.is_empty()) {
                            ("", true) if other.is_some() => Err(format!(
                                "{} is empty, so {name} is required",
                                other.unwrap_or_default()
                            )),
                            (o, false) if !o.is_empty() => Err(format!(
                                "{} is set: leave {name} empty (one or the other)",
                                other.unwrap_or_default()
                            )),
                            _ => check_value(p, answer),
                        }
                    }
                    _ => check_value(p, answer),
                }
            });
        if !current.is_empty() {
            input = input.default(current);
        }
        let answer = input.interact_text().map_err(stopped)?;
        self.set(name, cleared(&answer).to_owned());
        Ok(())
    }

    /// The stack name or the region: a flag, the file, or a question.
    fn ask_text(
        &mut self,
        what: &str,
        flag: &str,
        suggested: Option<String>,
        check: fn(&str) -> Result<(), String>,
    ) -> Result<String, String> {
        let current = match what {
            STACK_NAME => self.answers.stack_name.clone(),
            _ => self.answers.region.clone(),
        };
        if self.given.contains(what) {
            return current.ok_or_else(|| format!("no {what}"));
        }
        if !self.interactive {
            let current = current.ok_or_else(|| no_terminal(&format!("{flag} ...")))?;
            // From the file: it must be one SAM can use, as a typed answer must.
            check(&current).map_err(|e| format!("the {what} in the file: {e}; pass {flag}"))?;
            return Ok(current);
        }
        let mut input = Input::<String>::new()
            .with_prompt(format!("The {what}"))
            .validate_with(move |a: &String| check(a.trim()));
        if let Some(default) = current.or(suggested) {
            input = input.default(default);
        }
        Ok(input.interact_text().map_err(stopped)?.trim().to_owned())
    }

    /// `SmsProvider`: the first provider, then one to fail over to (the chains the template takes).
    fn ask_provider(&mut self) -> Result<(), String> {
        if self.given.contains("SmsProvider") || !self.interactive {
            return Ok(());
        }
        let current = self.value("SmsProvider");
        let (first, second) = current.split_once(',').unwrap_or((&current, ""));
        let labels: Vec<String> = PROVIDERS
            .iter()
            .map(|(n, what)| format!("{n}: {what}"))
            .collect();
        let at = PROVIDERS.iter().position(|(n, _)| *n == first).unwrap_or(0);
        let first = PROVIDERS[Select::new()
            .with_prompt("The SMS provider (SmsProvider)")
            .items(&labels)
            .default(at)
            .interact()
            .map_err(stopped)?]
        .0;
        let chains = parameter("SmsProvider").map_or(&[][..], |p| p.allowed_values);
        let mut seconds = vec!["none"];
        seconds.extend(
            chains
                .iter()
                .filter_map(|c| c.strip_prefix(first)?.strip_prefix(',')),
        );
        let at = seconds.iter().position(|s| *s == second).unwrap_or(0);
        let picked = Select::new()
            .with_prompt(format!(
                "Fail over to, when {first} certainly did not send (never after a maybe-sent)"
            ))
            .items(&seconds)
            .default(at)
            .interact()
            .map_err(stopped)?;
        let chain = match seconds[picked] {
            "none" => first.to_owned(),
            second => format!("{first},{second}"),
        };
        self.set("SmsProvider", chain);
        Ok(())
    }
}

/// `-` answers "none" where a default would otherwise stand.
fn cleared(answer: &str) -> &str {
    match answer.trim() {
        "-" => "",
        a => a,
    }
}

fn no_terminal(flags: &str) -> String {
    format!(
        "no terminal to ask on, and the answer is missing: pass {flags} (configure --help lists the flags; any template parameter: --parameter Name=Value)"
    )
}

fn check_stack_name(name: &str) -> Result<(), String> {
    // The function is named `<stack>-gateway`, and Lambda names have at most 64 characters.
    let ok = (1..=56).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    ok.then_some(()).ok_or_else(|| {
        "a stack name is 1 to 56 letters, digits and hyphens, starting with a letter".into()
    })
}

fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(())
        .ok_or_else(|| format!("{region:?} is not an AWS Region code such as eu-west-1"))
}

/// The template's rules, as its `Rules` section states them, on the values `configure` would
/// write: each problem names the parameter to set.
fn rule_problems(value: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut problems = Vec::new();
    let chain = value("SmsProvider");
    for provider in chain.split(',') {
        let settings = settings_of(provider);
        for (name, _, need) in settings {
            if *need == Need::Required && value(name).is_empty() {
                problems.push(format!(
                    "{provider} needs {name}: pass --parameter {name}=..."
                ));
            }
        }
        if provider == "twilio" {
            match (value("TwilioMessagingServiceSid").is_empty(), value("TwilioFrom").is_empty()) {
                (true, true) => problems.push(
                    "twilio needs a sender: pass --parameter TwilioFrom=... or --parameter TwilioMessagingServiceSid=MG...".into(),
                ),
                (false, false) => problems.push(
                    "twilio takes TwilioMessagingServiceSid or TwilioFrom, not both: pass the other as --parameter Name=".into(),
                ),
                _ => {}
            }
        }
    }
    if !value("AllowedCountries").is_empty() && !value("BlockedCountries").is_empty() {
        problems.push("set AllowedCountries or BlockedCountries, not both".into());
    }
    let function_url = value("EnableFunctionUrl");
    if matches!(function_url.as_str(), "also" | "only") && value("ReservedConcurrency") == "0" {
        problems.push(
            "a Function URL has no throttling: pass --parameter ReservedConcurrency=10 (or more), or EnableFunctionUrl=none".into(),
        );
    }
    if value("EdgeProtection") == "waf" && function_url != "none" {
        problems.push("EdgeProtection=waf wants EnableFunctionUrl=none".into());
    }
    if value("EdgeProtection") != "waf" && !value("AllowedSourceCidrs").is_empty() {
        problems.push("AllowedSourceCidrs needs EdgeProtection=waf".into());
    }
    problems
}

/// What the gateway itself says of these answers at start-up: the environment the template gives
/// the function (each variable that is a parameter as it is), read by the gateway's own
/// configuration, which refuses what would stop a cold start (JSON that is not, a sender a
/// provider cannot use, a chain per country naming a provider without its settings). `None`: it
/// would start.
fn gateway_refuses(value: &dyn Fn(&str) -> String) -> Option<String> {
    let mut environment: BTreeMap<&str, String> = ENVIRONMENT
        .iter()
        .map(|(variable, parameter)| (*variable, value(parameter)))
        .collect();
    // Where the stack's own resources stand in the real environment.
    environment.insert(
        "GATEWAY_SECRET_ID",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:configure".into(),
    );
    if value("SmsProvider").split(',').any(|p| p == "http") {
        // The layer's file is this folder's description (template.yaml, HttpProviderLayer).
        environment.insert("HTTP_PROVIDER_FILE", HTTP_DESCRIPTION.into());
    }
    let lookup = |name: &str| environment.get(name).cloned();
    crate::app::config::Config::from_lookup(crate::settings::Host::Lambda, lookup)
        .err()
        .map(|e| e.to_string())
}

/// The `http` provider's description, which `sam build` puts in the function's layer.
const HTTP_DESCRIPTION: &str = "http-provider/http-provider.json";

/// `configure`: the lines to print.
pub fn configure(request: &Request) -> Result<Vec<String>, String> {
    use std::io::IsTerminal;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    configure_with(request, interactive)
}

fn configure_with(request: &Request, interactive: bool) -> Result<Vec<String>, String> {
    let file = &request.file;
    let mut config = SamConfig::load(file)?;
    let mut answers = config.answers()?;
    let mut lines = Vec::new();
    // A parameter the template no longer has would stop `sam deploy`: say so and leave it out.
    let unknown: Vec<String> = answers
        .parameters
        .keys()
        .filter(|n| parameter(n).is_none())
        .cloned()
        .collect();
    for name in unknown {
        answers.parameters.remove(&name);
        lines.push(format!(
            "left out {name}: template.yaml has no such parameter (renamed or removed; docs/configuration.md)"
        ));
    }
    let mut given = BTreeSet::new();
    if let Some(stack) = &request.stack_name {
        check_stack_name(stack).map_err(|e| format!("--stack-name: {e}"))?;
        answers.stack_name = Some(stack.clone());
        given.insert(STACK_NAME.to_owned());
    }
    if let Some(region) = &request.region {
        check_region(region).map_err(|e| format!("--region: {e}"))?;
        answers.region = Some(region.clone());
        given.insert(REGION.to_owned());
    }
    let mut flags: Vec<(String, String)> = Vec::new();
    if let Some(provider) = &request.provider {
        flags.push(("SmsProvider".into(), provider.clone()));
    }
    if let Some(email) = &request.alarm_email {
        flags.push(("AlarmEmail".into(), email.clone()));
    }
    for pair in &request.parameters {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--parameter {pair:?}: write Name=Value"))?;
        flags.push((name.to_owned(), value.to_owned()));
    }
    for (name, value) in flags {
        if given.contains(&name) {
            return Err(format!(
                "{name} is given twice (--provider is SmsProvider, --alarm-email AlarmEmail)"
            ));
        }
        let p = parameter(&name).ok_or_else(|| {
            format!("--parameter {name}: template.yaml has no such parameter (docs/configuration.md lists them)")
        })?;
        check_value(p, &value)?;
        answers.parameters.insert(name.clone(), value);
        given.insert(name);
    }
    let mut session = Session {
        interactive,
        given,
        answers,
    };

    let suggested_region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .filter(|r| check_region(r).is_ok());
    let stack = session.ask_text(
        STACK_NAME,
        "--stack-name",
        Some("mosaic-sms-gateway".into()),
        check_stack_name,
    )?;
    session.answers.stack_name = Some(stack);
    let region = session.ask_text(REGION, "--region", suggested_region, check_region)?;
    session.answers.region = Some(region);
    if !session.interactive
        && !session.given.contains("SmsProvider")
        && !session.answers.parameters.contains_key("SmsProvider")
    {
        return Err(no_terminal("--provider NAME (or two: twilio,sns)"));
    }
    session.ask_provider()?;
    let chain = session.value("SmsProvider");
    for provider in chain.split(',') {
        let settings = settings_of(provider);
        for (i, (name, question, need)) in settings.iter().enumerate() {
            // Twilio's pair: the second is checked against the first's answer.
            let other = (*need == Need::OneOfTwo && i == 1).then(|| settings[0].0);
            session.ask_parameter(name, question, *need, other)?;
        }
        if provider == "http" && session.interactive {
            eprintln!(
                "http: the provider is described in http-provider/http-provider.json (recipes/ has Sinch, Telnyx, Plivo and Bird); its credentials go in the secret"
            );
        }
    }
    session.ask_parameter(
        "MosaicRegion",
        "Your Mosaic tenant's region (fills in the RegisterCommand output)",
        Need::Optional,
        None,
    )?;
    session.ask_parameter(
        "AllowedCountries",
        "Send only to these countries, ISO codes separated by commas (US,CA); empty: every country",
        Need::Optional,
        None,
    )?;
    if session.interactive && !session.value("AllowedCountries").is_empty() {
        if !session.value("BlockedCountries").is_empty()
            && !session.given.contains("BlockedCountries")
        {
            eprintln!("BlockedCountries cleared: AllowedCountries is set (one or the other)");
            session.set("BlockedCountries", String::new());
        }
    } else {
        session.ask_parameter(
            "BlockedCountries",
            "Or send everywhere but these countries (RU,KP); empty: none blocked",
            Need::Optional,
            None,
        )?;
    }
    session.ask_parameter(
        "AlarmEmail",
        "An address the alarms notify; empty: none",
        Need::Optional,
        None,
    )?;

    // Only what differs from the template's defaults goes in the file.
    session
        .answers
        .parameters
        .retain(|name, value| parameter(name).is_some_and(|p| p.default != value));
    let values = |name: &str| session.value(name);
    for (name, value) in &session.answers.parameters {
        if let Some(p) = parameter(name) {
            check_value(p, value)?;
        }
    }
    let mut problems = rule_problems(&values);
    let http = values("SmsProvider").split(',').any(|p| p == "http");
    if http && !std::path::Path::new(HTTP_DESCRIPTION).is_file() {
        problems.push(format!(
            "the http provider sends as {HTTP_DESCRIPTION} describes, and there is none here: run configure where template.yaml is, and put a description there first (recipes/ has Sinch, Telnyx, Plivo and Bird; docs/http-provider.md)"
        ));
    }
    if problems.is_empty()
        && let Some(refusal) = gateway_refuses(&values)
    {
        problems.push(format!(
            "the gateway would not start with these answers: {refusal}"
        ));
    }
    if !problems.is_empty() {
        let problems = problems.join("; ");
        return Err(match session.interactive {
            true => problems,
            false => format!("{problems} (no terminal to ask on)"),
        });
    }
    let set: Vec<String> = session
        .answers
        .parameters
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let stack = session.answers.stack_name.clone().unwrap_or_default();
    let region = session.answers.region.clone().unwrap_or_default();
    if session.interactive && std::fs::exists(file).unwrap_or(true) {
        eprintln!("set: {}", set.join(", "));
        let write = Confirm::new()
            .with_prompt(format!("Write these answers to {}?", file.display()))
            .default(true)
            .interact()
            .map_err(stopped)?;
        if !write {
            return Err(format!("nothing written; {} is as it was", file.display()));
        }
    }
    config.set(&session.answers)?;
    config.save(file)?;

    lines.push(format!(
        "wrote {}: stack {stack} in {region}, SmsProvider={chain}",
        file.display()
    ));
    lines.push(format!("set: {}", set.join(", ")));
    lines.push("kept at the template's defaults:".into());
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut order = Vec::new();
    for p in PARAMETERS {
        if session.answers.parameters.contains_key(p.name) {
            continue;
        }
        if !groups.contains_key(p.group) {
            order.push(p.group);
        }
        let shown = if p.default.is_empty() {
            "(empty)"
        } else {
            p.default
        };
        groups
            .entry(p.group)
            .or_default()
            .push(format!("{}={shown}", p.name));
    }
    for group in order {
        lines.push(format!("  {group}: {}", groups[group].join(", ")));
    }
    lines.push(
        "change one with --parameter Name=Value (docs/configuration.md says what each does)".into(),
    );
    let providers_with_secrets: Vec<&str> = chain
        .split(',')
        .filter(|p| {
            matches!(
                *p,
                "twilio" | "vonage" | "infobip" | "salesforce-marketing-cloud"
            )
        })
        .collect();
    let mut next = String::from("next: sam build && sam deploy");
    if !providers_with_secrets.is_empty() {
        next.push_str(&format!(
            ", then secret put --secret-id <the stack's ApiKeySecretArn output> --provider {}",
            providers_with_secrets.join(" --provider ")
        ));
    }
    lines.push(next);
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_template() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
        let params = text.split("\nParameters:\n").nth(1).unwrap();
        let params = params.split("\nConditions:\n").next().unwrap();
        let names: Vec<&str> = params
            .lines()
            .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
            .filter(|n| !n.starts_with(' ') && !n.starts_with('#'))
            .collect();
        let table: Vec<&str> = PARAMETERS.iter().map(|p| p.name).collect();
        assert_eq!(table, names);
        let deadline = parameter("SendDeadlineMs").unwrap();
        assert_eq!((deadline.kind, deadline.default), ("Number", "2500"));
        assert_eq!(parameter("SmsProvider").unwrap().group, "SMS provider");
        assert!(
            parameter("SmsProvider")
                .unwrap()
                .allowed_values
                .contains(&"vonage,sns")
        );
    }

    #[test]
    fn every_question_names_a_parameter_of_the_template() {
        for (provider, settings) in PROVIDER_SETTINGS {
            assert!(PROVIDERS.iter().any(|(p, _)| p == provider));
            for (name, _, _) in *settings {
                assert!(parameter(name).is_some(), "{name}");
            }
        }
        for (provider, _) in PROVIDERS {
            assert!(
                parameter("SmsProvider")
                    .unwrap()
                    .allowed_values
                    .contains(provider),
                "{provider}"
            );
        }
    }

    #[test]
    fn every_pattern_of_the_template_is_checked() {
        for p in PARAMETERS {
            if let Some(pattern) = p.allowed_pattern {
                assert!(Pattern::new(pattern).is_some(), "{}: {pattern}", p.name);
            }
        }
        // The lookahead: letters and digits, one letter at least.
        let sender = parameter("SnsSenderId").unwrap();
        for good in ["", "Acme", "A1b2", "ab3"] {
            assert!(check_value(sender, good).is_ok(), "{good}");
        }
        for bad in ["12345", "a\"b c", "héllo", "ab\ncd", "it's"] {
            assert!(check_value(sender, bad).is_err(), "{bad}");
        }
        let from = parameter("TwilioFrom").unwrap();
        assert!(check_value(from, "Acme").is_ok() && check_value(from, "+14155550100").is_ok());
        assert!(check_value(from, "12").is_err() && check_value(from, "Acme Bank").is_err());
    }

    #[test]
    fn values_are_checked_as_cloudformation_does() {
        let p = |n| parameter(n).unwrap();
        assert!(check_value(p("SmsProvider"), "vonage,sns").is_ok());
        assert!(
            check_value(p("SmsProvider"), "vonage,twilio")
                .unwrap_err()
                .contains("one of")
        );
        assert!(check_value(p("SendDeadlineMs"), "2900").is_ok());
        assert!(
            check_value(p("SendDeadlineMs"), "3000")
                .unwrap_err()
                .contains("from")
        );
        for bad in ["soon", "NaN", "inf", "2000.5", "1e3", "", "-2000"] {
            assert!(check_value(p("SendDeadlineMs"), bad).is_err(), "{bad}");
        }
        assert!(check_value(p("ThrottlingBurstLimit"), "1e300").is_err());
        assert!(
            check_value(p("EumCountryOriginationIdentityArns"), "arn:a,,arn:b")
                .unwrap_err()
                .contains("empty member")
        );
        assert!(check_value(p("AllowedSourceCidrs"), "203.0.113.0/24,").is_err());
        assert!(check_value(p("AlarmEmail"), "ops@example.com").is_ok());
        assert!(check_value(p("AlarmEmail"), "ops at example").is_err());
        assert!(check_value(p("AllowedCountries"), "US,CA").is_ok());
        assert!(check_value(p("AllowedCountries"), "us").is_err());
        assert!(check_value(p("InfobipBaseUrl"), "abc12.api.infobip.com").is_ok());
        assert!(check_value(p("InfobipBaseUrl"), "evil.example.com").is_err());
        assert!(check_value(p("AllowedSourceCidrs"), "203.0.113.0/24,198.51.100.7/32").is_ok());
        assert!(check_value(p("AllowedSourceCidrs"), "203.0.113.0/24,nowhere").is_err());
        assert!(
            check_value(p("SenderByCountry"), &"x".repeat(400))
                .unwrap_err()
                .contains("characters")
        );
    }

    #[test]
    fn the_rules_name_what_to_pass() {
        let with = |pairs: &'static [(&str, &str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_else(|| parameter(name).unwrap().default.to_owned())
            }
        };
        assert!(rule_problems(&with(&[])).is_empty());
        let problems = rule_problems(&with(&[("SmsProvider", "infobip,sns")]));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("--parameter InfobipBaseUrl="));
        assert!(rule_problems(&with(&[("SmsProvider", "twilio")]))[0].contains("TwilioFrom"));
        assert!(
            rule_problems(&with(&[
                ("SmsProvider", "twilio"),
                ("TwilioFrom", "+14155550100"),
                (
                    "TwilioMessagingServiceSid",
                    "MG0123456789abcdef0123456789abcdef"
                )
            ]))[0]
                .contains("not both")
        );
        assert_eq!(
            rule_problems(&with(&[
                ("AllowedCountries", "US"),
                ("BlockedCountries", "RU")
            ]))
            .len(),
            1
        );
        assert_eq!(
            rule_problems(&with(&[("EnableFunctionUrl", "only")])).len(),
            1
        );
        assert_eq!(
            rule_problems(&with(&[("AllowedSourceCidrs", "203.0.113.0/24")])).len(),
            1
        );
    }

    #[test]
    fn without_a_terminal_a_missing_answer_names_its_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("samconfig.toml");
        let request = Request {
            file: file.clone(),
            ..Request::default()
        };
        let err = configure_with(&request, false).unwrap_err();
        assert!(err.contains("--stack-name"), "{err}");
        let request = Request {
            stack_name: Some("gw".into()),
            region: Some("eu-west-1".into()),
            ..request
        };
        assert!(
            configure_with(&request, false)
                .unwrap_err()
                .contains("--provider")
        );
        let request = Request {
            provider: Some("vonage,sns".into()),
            ..request
        };
        let err = configure_with(&request, false).unwrap_err();
        assert!(err.contains("--parameter VonageFrom="), "{err}");
        assert!(!file.exists(), "a refused run wrote the file");
        let err = configure_with(
            &Request {
                parameters: vec!["Nope=1".into()],
                ..request.clone()
            },
            false,
        )
        .unwrap_err();
        assert!(err.contains("no such parameter"), "{err}");
        // What only the gateway's own reading of its environment knows.
        let err = configure_with(
            &Request {
                parameters: vec![
                    "VonageFrom=Acme".into(),
                    r#"ProvidersByCountry={"US":"twilio"}"#.into(),
                ],
                ..request.clone()
            },
            false,
        )
        .unwrap_err();
        assert!(
            err.contains("the gateway would not start") && err.contains("PROVIDERS_BY_COUNTRY"),
            "{err}"
        );
        assert!(!file.exists());
        let lines = configure_with(
            &Request {
                parameters: vec!["VonageFrom=Acme".into(), "LogLevel=INFO".into()],
                ..request
            },
            false,
        )
        .unwrap();
        assert!(
            lines[0].starts_with("wrote ") && lines[0].contains("vonage,sns"),
            "{lines:?}"
        );
        // LogLevel=INFO is the default: nothing to write for it.
        assert_eq!(lines[1], "set: SmsProvider=vonage,sns, VonageFrom=Acme");
        assert!(
            lines.last().unwrap().contains("--provider vonage"),
            "{lines:?}"
        );
    }
}
