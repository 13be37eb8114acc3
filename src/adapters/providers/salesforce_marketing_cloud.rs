//! The `salesforce-marketing-cloud` provider: Marketing Cloud Engagement's Transactional Messaging
//! API for SMS, `POST {rest}/messaging/v1/sms/messages/{messageKey}`, through an SMS send
//! definition the user created for a short or long code (`SFMC_DEFINITION_KEY`).
//!
//! * **Token.** `POST {auth}/v2/token` with the installed package's client credentials (and the
//!   business unit's MID, `SFMC_ACCOUNT_ID`). A token lives 20 minutes and SFMC throttles those
//!   who ask for one per call: one is fetched at start-up (which also opens the connection),
//!   reused, and refreshed by one send at a time shortly before it expires; REST calls go to the
//!   answer's `rest_instance_url`.
//! * **messageKey.** SFMC refuses a key its business unit used in the last days
//!   (`109110 MCMS_UTM_Validation_DuplicateMessageKey`). The key is the request's
//!   [`SmsRequest::idempotency_key`]: a re-send of the same passcode within the dedupe window
//!   brings the same one, so a copy that the gateway's own dedupe missed (no table, a table that
//!   failed) is refused by SFMC and answered as the duplicate it is; a resend after the window
//!   gets a new key.
//! * **Never retried**, but for one case: a `401` on a send means the token was refused before
//!   anything was queued; a fresh token and one more send, if the deadline leaves the time.
//!
//! Credentials come from the gateway secret (`sfmc_client_id`, `sfmc_client_secret`, read with the
//! API keys, so rotating them needs no redeploy) or, for local use, `SFMC_CLIENT_ID` and
//! `SFMC_CLIENT_SECRET`.

use super::rest::{self, OPERATION_TIMEOUT, WARM_UP_TIMEOUT};
use super::{BuildContext, BuildError, ProviderSetup};
use crate::adapters::net::{Answer, HttpClient};
use crate::adapters::secrets::{ApiKeys, SecretValue};
use crate::domain::outcome::{MessageId, ProviderError};
use crate::domain::ports::SmsProvider;
use crate::domain::sms::SmsRequest;
use crate::settings::{ConfigError, Env};
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub const NAME: &str = "salesforce-marketing-cloud";
/// The provider as reasons and logs name it.
const LABEL: &str = "Salesforce Marketing Cloud";
/// SFMC closes connections idle for 5 s: a passcode written into one it has just closed would be
/// lost in a reset (maybe sent). Its pool lets them go first.
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// The most of `expires_in` trusted: a token lives 20 minutes.
const LONGEST_TOKEN: Duration = Duration::from_secs(20 * 60);
/// A token this close to its end is refreshed by the next send (SFMC's `expires_in`, about 18
/// minutes, is already two short of the token's real 20).
const REFRESH_AHEAD: Duration = Duration::from_secs(60);

/// SFMC error codes that refuse the recipient for good: the number itself is missing or not a
/// phone number (the transactional send response codes). Any other provider would refuse it too.
const REFUSED: &[u64] = &[109106, 109121];
/// The messageKey was used in the business unit within the last days: the message went before.
const DUPLICATE_KEY: u64 = 109110;

/// The installed package's API integration credentials. `Debug` shows only the client id.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    client_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

impl Credentials {
    /// Reads `id` and `secret` through `get`: `Ok(None)` when neither is there, an error naming
    /// the missing one (never quoting a value) when only one is.
    fn read(
        names: (&str, &str),
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        Ok(
            rest::pair(names, get)?.map(|(client_id, client_secret)| Self {
                client_id,
                client_secret,
            }),
        )
    }

    /// The gateway secret's, from one read of it.
    fn in_secret(read: &SecretValue) -> rest::InSecret<Self> {
        Self::read(SECRET_NAMES, |name| read.field(name).map(str::to_owned)).map_err(|problem| {
            format!("the gateway secret's Salesforce Marketing Cloud credentials: {problem}")
        })
    }
}

/// Whether one read of the gateway secret holds the installed package's client credentials: `Err`
/// names what is missing or malformed, never a value (the `secret` command's check).
pub fn secret_check(read: &SecretValue) -> Result<(), String> {
    match Credentials::in_secret(read)? {
        Some(_) => Ok(()),
        None => Err("sfmc_client_id and sfmc_client_secret are missing".into()),
    }
}

const ENV_NAMES: (&str, &str) = ("SFMC_CLIENT_ID", "SFMC_CLIENT_SECRET");
const SECRET_NAMES: (&str, &str) = ("sfmc_client_id", "sfmc_client_secret");

/// The provider's settings, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfmcSettings {
    /// `https://{SFMC_SUBDOMAIN}.auth.marketingcloudapis.com`, or `SFMC_AUTH_BASE`; no trailing `/`.
    pub auth_base: String,
    /// `SFMC_ACCOUNT_ID`: the business unit's MID, sent as the token's `account_id`.
    pub account_id: Option<String>,
    /// `SFMC_DEFINITION_KEY`: the SMS send definition every message goes through.
    pub definition_key: String,
    /// `SFMC_CLIENT_ID` and `SFMC_CLIENT_SECRET`; the secret's win.
    pub env_credentials: Option<Credentials>,
}

/// Registered in [`super::REGISTRY`] as `salesforce-marketing-cloud`.
pub fn configure(env: &Env) -> Result<Box<dyn ProviderSetup>, ConfigError> {
    Ok(Box::new(SfmcSettings::from_env(env)?))
}

impl SfmcSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let needs = |what: &str| ConfigError::provider(NAME, format!("which needs {what}"));
        let auth_base = match (
            env.optional("SFMC_AUTH_BASE"),
            env.optional("SFMC_SUBDOMAIN"),
        ) {
            (Some(base), _) => base.trim_end_matches('/').to_owned(),
            (None, Some(subdomain)) => {
                let valid = !subdomain.is_empty()
                    && subdomain.len() <= 63
                    && subdomain
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if !valid {
                    return Err(ConfigError::invalid(
                        "SFMC_SUBDOMAIN",
                        format!(
                            "must be the tenant subdomain of the installed package's URLs (letters, digits, -), got {subdomain:?}"
                        ),
                    ));
                }
                format!("https://{subdomain}.auth.marketingcloudapis.com")
            }
            (None, None) => {
                return Err(needs(
                    "SFMC_SUBDOMAIN (the tenant subdomain of the installed package's authentication base URI)",
                ));
            }
        };
        if !rest::usable_url(&format!("{auth_base}/v2/token")) {
            return Err(ConfigError::invalid(
                "SFMC_AUTH_BASE",
                format!("must be an https URL (http only on loopback), got {auth_base:?}"),
            ));
        }
        let account_id = env.optional("SFMC_ACCOUNT_ID");
        if let Some(mid) = &account_id
            && !(mid.len() <= 20 && mid.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConfigError::invalid(
                "SFMC_ACCOUNT_ID",
                format!("must be the business unit's MID (digits), got {mid:?}"),
            ));
        }
        let definition_key = env.optional("SFMC_DEFINITION_KEY").ok_or_else(|| {
            needs(
                "SFMC_DEFINITION_KEY (the key of an SMS send definition for a short or long code)",
            )
        })?;
        // It goes into a URL path: nothing that would end or escape the segment.
        let in_path = definition_key.len() <= 100
            && definition_key
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"/?#%\\".contains(&b));
        if !in_path {
            return Err(ConfigError::invalid(
                "SFMC_DEFINITION_KEY",
                format!(
                    "must be a send definition key (up to 100 characters, no spaces, /, ?, #, % or \\), got {definition_key:?}"
                ),
            ));
        }
        let env_credentials = Credentials::read(ENV_NAMES, |name| env.optional(name))
            .map_err(|problem| ConfigError::provider(NAME, format!("but {problem}")))?;
        if env_credentials.is_none() && !env.has_secret() {
            return Err(needs(
                "its client credentials: put sfmc_client_id and sfmc_client_secret in the gateway \
                 secret (GATEWAY_SECRET_ID), or set SFMC_CLIENT_ID and SFMC_CLIENT_SECRET",
            ));
        }
        Ok(Self {
            auth_base,
            account_id,
            definition_key,
            env_credentials,
        })
    }
}

impl ProviderSetup for SfmcSettings {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, context: &BuildContext<'_>) -> Result<Box<dyn SmsProvider>, BuildError> {
        Ok(Box::new(MarketingCloud {
            settings: self.clone(),
            secret: Arc::clone(context.secret),
            // A pool of its own, for SFMC's shorter idle timeout (the others keep theirs longer).
            http: HttpClient::with_idle_timeout(IDLE_TIMEOUT),
            token: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            credentials: rest::Lookup::new(self.env_credentials.clone(), Credentials::in_secret),
        }))
    }
}

/// An access token, whose credentials got it, where its REST calls go and when it ends.
/// `Debug` never shows the token.
#[derive(Clone)]
struct Token {
    access: String,
    /// `rest_instance_url`, with a scheme and without a trailing `/`.
    rest_base: String,
    expires_at: Instant,
    credentials: Credentials,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access", &"[redacted]")
            .field("rest_base", &self.rest_base)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What to do with the cached token for a send at `now`.
#[derive(Debug, PartialEq, Eq)]
enum TokenUse {
    /// Use it.
    Fresh,
    /// Use it if another send is already refreshing it; else refresh it first.
    RefreshSoon,
    /// None, another client's, or over: get one first.
    Missing,
}

fn token_use(token: Option<&Token>, credentials: &Credentials, now: Instant) -> TokenUse {
    match token {
        Some(t) if t.credentials == *credentials && now + REFRESH_AHEAD < t.expires_at => {
            TokenUse::Fresh
        }
        Some(t) if t.credentials == *credentials && now < t.expires_at => TokenUse::RefreshSoon,
        _ => TokenUse::Missing,
    }
}

pub struct MarketingCloud {
    settings: SfmcSettings,
    secret: Arc<ApiKeys>,
    http: HttpClient,
    token: Mutex<Option<Arc<Token>>>,
    /// Held by the one request getting a token, so a burst asks SFMC for one, not one each.
    refreshing: tokio::sync::Mutex<()>,
    credentials: rest::Lookup<Credentials>,
}

impl MarketingCloud {
    /// The credentials to use now: the gateway secret's (as last read), else the environment's.
    fn credentials(&self) -> Result<Credentials, ProviderError> {
        self.credentials
            .find(self.secret.latest().as_ref())
            .map_err(ProviderError::misconfigured)?
            .map(|found| found.credentials)
            .ok_or_else(|| ProviderError::misconfigured(self.no_credentials()))
    }

    fn no_credentials(&self) -> String {
        if self.secret.secret_id().is_some() {
            "no Salesforce Marketing Cloud credentials: the gateway secret (GATEWAY_SECRET_ID) has no \
             sfmc_client_id and sfmc_client_secret, and SFMC_CLIENT_ID is not set"
                .into()
        } else {
            "no Salesforce Marketing Cloud credentials: set SFMC_CLIENT_ID and SFMC_CLIENT_SECRET"
                .into()
        }
    }

    fn cached(&self) -> Option<Arc<Token>> {
        self.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A token for `credentials`, fetched by `until` when there is none to use. `stale` is one
    /// SFMC refused: a token other than it is taken as a newer one.
    async fn token(
        &self,
        credentials: &Credentials,
        until: Instant,
        stale: Option<&Arc<Token>>,
    ) -> Result<Arc<Token>, ProviderError> {
        let usable = |token: &Arc<Token>| match stale {
            Some(stale) if Arc::ptr_eq(stale, token) => TokenUse::Missing,
            _ => token_use(Some(token), credentials, Instant::now()),
        };
        if let Some(cached) = self.cached() {
            match usable(&cached) {
                TokenUse::Fresh => return Ok(cached),
                // One send refreshes (the others go on with the old token); should the refresh
                // fail, the old token still works.
                TokenUse::RefreshSoon => {
                    let Ok(_guard) = self.refreshing.try_lock() else {
                        return Ok(cached);
                    };
                    return Ok(match self.fetch_token(credentials, until).await {
                        Ok(token) => token,
                        Err(err) => {
                            tracing::warn!(
                                reason = err.reason(),
                                "could not refresh the Salesforce Marketing Cloud token; using the current one while it lasts"
                            );
                            cached
                        }
                    });
                }
                TokenUse::Missing => {}
            }
        }
        let _guard = tokio::time::timeout_at(until, self.refreshing.lock())
            .await
            .map_err(|_| {
                ProviderError::unavailable(
                    "Salesforce Marketing Cloud: no access token before the send deadline",
                )
            })?;
        // Another request may have fetched one while this one waited.
        if let Some(cached) = self.cached()
            && usable(&cached) != TokenUse::Missing
        {
            return Ok(cached);
        }
        self.fetch_token(credentials, until).await
    }

    /// `POST {auth}/v2/token`; the token is cached. Nothing was sent yet, so every failure is a
    /// certain non-send.
    async fn fetch_token(
        &self,
        credentials: &Credentials,
        until: Instant,
    ) -> Result<Arc<Token>, ProviderError> {
        let mut body = json!({
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        });
        if let Some(mid) = &self.settings.account_id {
            body["account_id"] = mid.as_str().into();
        }
        let url = format!("{}/v2/token", self.settings.auth_base);
        let request = json_request(http::Method::POST, &url, None, Some(body))?;
        let asked = Instant::now();
        let timeout = OPERATION_TIMEOUT.min(until.saturating_duration_since(asked));
        let answer = self.http.exchange(request, timeout).await.map_err(|err| {
            ProviderError::unavailable(format!("Salesforce Marketing Cloud token: {err}"))
        })?;
        if answer.status != 200 {
            return Err(token_refused(&answer));
        }
        let json: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        let access = json.get("access_token").and_then(Value::as_str);
        let rest = json.get("rest_instance_url").and_then(Value::as_str);
        let expires_in = json.get("expires_in").and_then(Value::as_u64);
        let (Some(access), Some(rest), Some(expires_in)) = (access, rest, expires_in) else {
            return Err(ProviderError::unavailable(
                "Salesforce Marketing Cloud's token answer lacks access_token, rest_instance_url or expires_in",
            ));
        };
        let rest_base = rest_base(rest).ok_or_else(|| {
            ProviderError::misconfigured(
                "Salesforce Marketing Cloud's token answer names a rest_instance_url that is not an https URL",
            )
        })?;
        // From when it was asked for: the answer's time on the way counts against it.
        let lifetime = Duration::from_secs(expires_in).min(LONGEST_TOKEN);
        let token = Arc::new(Token {
            access: access.to_owned(),
            rest_base,
            expires_at: asked.checked_add(lifetime).unwrap_or(asked),
            credentials: credentials.clone(),
        });
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&token));
        tracing::debug!(
            expires_in,
            "Salesforce Marketing Cloud access token fetched"
        );
        Ok(token)
    }

    /// The JSON SFMC's single-recipient send takes for this SMS.
    pub fn body(&self, sms: &SmsRequest) -> Value {
        // SFMC's examples give the number as digits with the country code and no `+`.
        let to = sms.phone_number.as_str().trim_start_matches('+');
        json!({
            "definitionKey": self.settings.definition_key,
            "recipient": {
                // A contact per number: SFMC creates it at the first send (the definition's
                // autoAddSubscriber, on by default).
                "contactKey": to,
                "to": to,
            },
            "content": {"message": sms.message.as_str()},
        })
    }

    /// Posts `sms` under `message_key` with `token`; a failure is one that gave no answer to read.
    async fn post(
        &self,
        sms: &SmsRequest,
        message_key: &str,
        token: &Token,
        deadline: Instant,
    ) -> Result<Answer, ProviderError> {
        let url = format!(
            "{}/messaging/v1/sms/messages/{message_key}",
            token.rest_base
        );
        let request = json_request(
            http::Method::POST,
            &url,
            Some(&token.access),
            Some(self.body(sms)),
        )?;
        rest::exchange(&self.http, LABEL, request, deadline).await
    }
}

impl MarketingCloud {
    /// SFMC refused `message_key` as used: what became of the send that used it, by its status
    /// (`GET /messaging/v1/sms/messages/{messageKey}`). Queued or sent: this request is its
    /// duplicate. Not sent: this one was not either, and may go elsewhere (within the slot the
    /// key stays used; the next one brings a new key). Unknown: it may have been sent.
    async fn earlier_send(
        &self,
        message_key: &str,
        token: &Token,
        deadline: Instant,
        reason: String,
    ) -> ProviderError {
        let url = format!(
            "{}/messaging/v1/sms/messages/{message_key}",
            token.rest_base
        );
        let status = match json_request(http::Method::GET, &url, Some(&token.access), None) {
            Ok(request) => {
                let timeout =
                    OPERATION_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
                match self.http.exchange(request, timeout).await {
                    Ok(answer) if answer.status == 200 => {
                        serde_json::from_slice::<Value>(&answer.body)
                            .ok()
                            .and_then(|v| v.get("eventCategoryType")?.as_str().map(str::to_owned))
                    }
                    _ => None,
                }
            }
            Err(_) => None,
        };
        match status.as_deref() {
            Some(s) if s.ends_with("SMSSent") || s.ends_with("SMSQueued") => {
                ProviderError::AlreadySent {
                    message_id: message_key.to_owned(),
                    reason,
                }
            }
            Some(s) if s.ends_with("SMSNotSent") => ProviderError::unavailable(format!(
                "{reason}; the earlier send with this messageKey was not sent"
            )),
            _ => ProviderError::indeterminate(format!(
                "{reason}; the earlier send's status could not be read: it may have been sent"
            )),
        }
    }
}

fn json_request(
    method: http::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Result<http::Request<SdkBody>, ProviderError> {
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let body = body.map_or(rest::Body::Empty, rest::Body::Json);
    rest::request(LABEL, method, url, authorization.as_deref(), body)
}

/// `rest_instance_url` as a base for paths: SFMC's examples give it without a scheme, its answers
/// with one and a trailing `/`. `None` unless https (http only on loopback).
fn rest_base(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_end_matches('/');
    let url = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("https://{raw}")
    };
    rest::usable_url(&url).then_some(url)
}

/// SFMC refused to give a token: our set-up (the credentials, the package, the account id),
/// unless it was throttling or failing itself. Nothing was sent either way.
fn token_refused(answer: &Answer) -> ProviderError {
    let json: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    let error = json.get("error").and_then(Value::as_str);
    let description = json.get("error_description").and_then(Value::as_str);
    let reason = format!(
        "Salesforce Marketing Cloud refused a token (HTTP {}{}{})",
        answer.status,
        error.map(|e| format!(", {e}")).unwrap_or_default(),
        description.map(|d| format!(": {d}")).unwrap_or_default(),
    );
    match answer.status {
        429 => ProviderError::unavailable(reason),
        s if s >= 500 => ProviderError::unavailable(reason),
        _ => ProviderError::misconfigured(format!(
            "{reason}. Check sfmc_client_id and sfmc_client_secret (the installed package's API \
             integration, enabled), and SFMC_ACCOUNT_ID (a business unit the package may access)"
        )),
    }
}

/// The non-zero error codes of a refusal: its own and each response's, with the first message.
fn error_codes(json: &Value) -> (Vec<u64>, Option<String>) {
    let mut codes = Vec::new();
    let mut message = json
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // The responses, in an object's `responses` or, as some answers come, the array itself.
    let responses = json
        .get("responses")
        .and_then(Value::as_array)
        .or(json.as_array());
    for item in std::iter::once(json).chain(responses.into_iter().flatten()) {
        if let Some(c) = error_code(item).filter(|c| *c != 0) {
            codes.push(c);
            if message.is_none() {
                message = item
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
        }
    }
    (codes, message)
}

fn error_code(item: &Value) -> Option<u64> {
    match item.get("errorcode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

fn reason_of(status: u16, codes: &[u64], message: Option<&str>) -> String {
    match (codes.first(), message) {
        (Some(code), Some(message)) => format!("Salesforce Marketing Cloud {code}: {message}"),
        (Some(code), None) => format!("Salesforce Marketing Cloud {code}"),
        (None, Some(message)) => format!("Salesforce Marketing Cloud HTTP {status}: {message}"),
        (None, None) => format!("Salesforce Marketing Cloud HTTP {status}"),
    }
}

/// Whether a per-recipient code is one of the transactional send's validation errors, which SFMC
/// answers before it queues anything (109101 to 109199).
fn is_validation(code: u64) -> bool {
    (109_101..=109_199).contains(&code)
}

/// What SFMC's answer to a send means: accepted (its messageKey the message id), the key used
/// before ([`ProviderError::AlreadySent`], which [`MarketingCloud::send`] checks), or an error in
/// one of the three classes.
fn outcome(answer: &Answer, message_key: &str) -> Result<MessageId, ProviderError> {
    let json: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    if (200..300).contains(&answer.status) {
        return accepted(&json, message_key);
    }
    let (codes, message) = error_codes(&json);
    let reason = reason_of(answer.status, &codes, message.as_deref());
    if codes.contains(&DUPLICATE_KEY) {
        return Err(ProviderError::AlreadySent {
            message_id: message_key.to_owned(),
            reason,
        });
    }
    // SFMC's own failure: it may have queued the message before failing.
    if answer.status >= 500 {
        return Err(ProviderError::indeterminate(reason));
    }
    if answer.status == 429 {
        return Err(ProviderError::unavailable(reason));
    }
    if codes.iter().any(|c| REFUSED.contains(c)) {
        return Err(ProviderError::rejected(reason));
    }
    if let Some(fix) = setup_fix(answer.status, &codes) {
        return Err(ProviderError::misconfigured(format!("{reason}. {fix}")));
    }
    // Any other 4xx: refused before anything was queued.
    Err(ProviderError::unavailable(reason))
}

/// A 2xx: the one recipient's response decides. Sent with its messageKey; one of the validation
/// errors SFMC answers before queueing is a certain non-send (or a refused number, or the key
/// used before); anything else after a success may have been sent.
fn accepted(json: &Value, message_key: &str) -> Result<MessageId, ProviderError> {
    let response = json.pointer("/responses/0");
    let Some(code) = response.and_then(error_code).filter(|c| *c != 0) else {
        let key = response
            .and_then(|r| r.get("messageKey")?.as_str())
            .map(str::to_owned);
        return crate::domain::outcome::accepted("Salesforce Marketing Cloud", key);
    };
    let message = response.and_then(|r| r.get("message")?.as_str());
    let reason = reason_of(202, &[code], message);
    Err(match code {
        DUPLICATE_KEY => ProviderError::AlreadySent {
            message_id: message_key.to_owned(),
            reason,
        },
        c if REFUSED.contains(&c) => ProviderError::rejected(reason),
        c @ (109_107 | 109_111) => ProviderError::misconfigured(format!(
            "{reason}. {}",
            setup_fix(400, &[c]).unwrap_or_default()
        )),
        c if is_validation(c) => ProviderError::unavailable(reason),
        _ => ProviderError::indeterminate(format!(
            "{reason}, in an answer that said accepted: it may have been sent"
        )),
    })
}

/// What to fix when SFMC refused our own set-up rather than the recipient.
fn setup_fix(status: u16, codes: &[u64]) -> Option<&'static str> {
    if codes.iter().any(|c| matches!(c, 109107 | 109111)) || status == 404 {
        return Some(
            "Check SFMC_DEFINITION_KEY: it must be the key of an SMS send definition of this \
             business unit",
        );
    }
    match status {
        401 => Some(
            "SFMC refused a fresh access token: check that the installed package's API \
             integration is enabled",
        ),
        403 => Some(
            "The installed package may not send SMS: give its API integration the SMS Send \
             scope, for this business unit (SFMC_ACCOUNT_ID)",
        ),
        _ => None,
    }
}

#[async_trait::async_trait]
impl SmsProvider for MarketingCloud {
    fn name(&self) -> &'static str {
        NAME
    }

    fn min_send_time(&self) -> Duration {
        crate::adapters::net::MIN_SEND_TIME
    }

    async fn send(&self, sms: &SmsRequest, deadline: Instant) -> Result<MessageId, ProviderError> {
        let credentials = self.credentials()?;
        // The gateway sets it; a send without one (never the case in a request) gets its own.
        let message_key = sms
            .idempotency_key
            .clone()
            .unwrap_or_else(crate::domain::keys::unique_hex);
        // A token must leave the send its own minimum time.
        let token_until = deadline
            .checked_sub(self.min_send_time())
            .unwrap_or(deadline);
        let mut token = self.token(&credentials, token_until, None).await?;
        let mut answer = self.post(sms, &message_key, &token, deadline).await?;
        if answer.status == 401 {
            // The token was refused (expired early, or revoked) before anything was queued: one
            // fresh token and one more send, when the deadline leaves the time for both.
            token = self.token(&credentials, token_until, Some(&token)).await?;
            if deadline.saturating_duration_since(Instant::now()) < self.min_send_time() {
                return Err(ProviderError::unavailable(
                    "Salesforce Marketing Cloud refused the access token, and too little of the send deadline is left for a fresh one",
                ));
            }
            tracing::info!(
                "Salesforce Marketing Cloud refused the access token: sending once more with a fresh one"
            );
            answer = self.post(sms, &message_key, &token, deadline).await?;
        }
        match outcome(&answer, &message_key) {
            Err(ProviderError::AlreadySent { reason, .. }) => Err(self
                .earlier_send(&message_key, &token, deadline, reason)
                .await),
            result => result,
        }
    }

    /// The credentials may be in the gateway secret.
    fn starts_after_secret(&self) -> bool {
        self.secret.secret_id().is_some()
    }

    /// Fetches the first token (opening the connection to the auth host) and reads the send
    /// definition (opening the one to the REST host, and telling an operator at once when the
    /// definition is missing or inactive: SFMC queues messages for an inactive one, unsent).
    async fn start(&self) -> Result<(), String> {
        let credentials = match self.credentials() {
            Ok(credentials) => credentials,
            // The secret could not be read yet (requests answer 503 until it can).
            Err(_) if self.secret.secret_id().is_some() && self.secret.latest().is_none() => {
                return Ok(());
            }
            Err(err) => {
                let secret = self.secret.secret_id().unwrap_or_default();
                return Err(format!("{err} (secret {secret})"));
            }
        };
        let until = Instant::now() + WARM_UP_TIMEOUT;
        let token = match self.token(&credentials, until, None).await {
            Ok(token) => token,
            Err(err @ ProviderError::Misconfigured { .. }) => {
                tracing::error!(
                    reason = err.reason(),
                    "Salesforce Marketing Cloud refused the start-up token; sends will fail until this is fixed"
                );
                return Ok(());
            }
            Err(err) => {
                tracing::warn!(
                    reason = err.reason(),
                    "no token from Salesforce Marketing Cloud at start-up; the first send will try again"
                );
                return Ok(());
            }
        };
        let url = format!(
            "{}/messaging/v1/sms/definitions/{}",
            token.rest_base, self.settings.definition_key
        );
        let request = json_request(http::Method::GET, &url, Some(&token.access), None)
            .map_err(|e| e.to_string())?;
        match self.http.exchange(request, WARM_UP_TIMEOUT).await {
            Ok(answer) if answer.status == 200 => {
                let json: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
                match json.get("status").and_then(Value::as_str) {
                    Some(status) if status.eq_ignore_ascii_case("active") => {
                        tracing::debug!("Salesforce Marketing Cloud send definition is active")
                    }
                    status => tracing::error!(
                        status,
                        "the Salesforce Marketing Cloud send definition (SFMC_DEFINITION_KEY) is not active: SFMC queues its messages without sending them; activate it"
                    ),
                }
            }
            Ok(answer) => tracing::error!(
                status = answer.status,
                reason = refusal(&answer).reason(),
                "Salesforce Marketing Cloud refused to read the send definition (SFMC_DEFINITION_KEY); sends will likely fail"
            ),
            Err(err) => tracing::warn!(
                error = %err,
                "no answer from Salesforce Marketing Cloud's REST host at start-up; the first send will try again"
            ),
        }
        Ok(())
    }
}

/// The error a non-success answer stands for (for logs).
fn refusal(answer: &Answer) -> ProviderError {
    outcome(answer, "").err().unwrap_or_else(|| {
        ProviderError::unavailable(format!("Salesforce Marketing Cloud HTTP {}", answer.status))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<SfmcSettings, ConfigError> {
        crate::settings::in_lambda_env(vars, SfmcSettings::from_env)
    }

    const BASE: &[(&str, &str)] = &[
        ("SFMC_SUBDOMAIN", "mc563885gzs27c5t9-63k636ttgm"),
        ("SFMC_DEFINITION_KEY", "otp"),
        ("SFMC_CLIENT_ID", "id"),
        ("SFMC_CLIENT_SECRET", "s3cret"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars: Vec<_> = BASE
            .iter()
            .filter(|(k, _)| extra.iter().all(|(e, _)| e != k))
            .copied()
            .collect();
        vars.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
        vars
    }

    #[test]
    fn settings_are_read_and_checked() {
        let s = settings(BASE).unwrap();
        assert_eq!(
            s.auth_base,
            "https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com"
        );
        assert_eq!(s.definition_key, "otp");
        assert_eq!(s.account_id, None);
        assert_eq!(
            format!("{:?}", s.env_credentials.unwrap()),
            r#"Credentials { client_id: "id", client_secret: "[redacted]" }"#
        );
        let problem = |extra| settings(&with(extra)).unwrap_err().to_string();
        assert!(problem(&[("SFMC_SUBDOMAIN", "a.b")]).starts_with("SFMC_SUBDOMAIN must be"));
        assert!(problem(&[("SFMC_SUBDOMAIN", "")]).contains("needs SFMC_SUBDOMAIN"));
        assert!(problem(&[("SFMC_DEFINITION_KEY", "")]).contains("needs SFMC_DEFINITION_KEY"));
        assert!(problem(&[("SFMC_ACCOUNT_ID", "MID-1")]).starts_with("SFMC_ACCOUNT_ID must be"));
        assert!(problem(&[("SFMC_CLIENT_SECRET", "")]).contains("SFMC_CLIENT_SECRET is missing"));
        assert!(
            problem(&[("SFMC_AUTH_BASE", "http://auth.example.com")]).starts_with("SFMC_AUTH_BASE")
        );
        let none = problem(&[("SFMC_CLIENT_ID", ""), ("SFMC_CLIENT_SECRET", "")]);
        assert!(none.contains("sfmc_client_id"), "{none}");
        assert!(!none.contains("s3cret") && !none.contains('\n'), "{none}");
        let local = settings(&with(&[("SFMC_AUTH_BASE", "http://127.0.0.1:9/")])).unwrap();
        assert_eq!(local.auth_base, "http://127.0.0.1:9");
    }

    #[test]
    fn the_rest_base_is_an_https_url_without_a_trailing_slash() {
        assert_eq!(
            rest_base("https://mc1.rest.marketingcloudapis.com/").as_deref(),
            Some("https://mc1.rest.marketingcloudapis.com")
        );
        assert_eq!(
            rest_base("mc1.rest.marketingcloudapis.com").as_deref(),
            Some("https://mc1.rest.marketingcloudapis.com")
        );
        assert_eq!(rest_base("http://mc1.rest.marketingcloudapis.com/"), None);
        assert_eq!(
            rest_base("http://127.0.0.1:8080/").as_deref(),
            Some("http://127.0.0.1:8080")
        );
    }

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            content_type: Some("application/json".into()),
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn each_answer_falls_in_its_class() {
        let accepted = answer(
            202,
            json!({"requestId": "r", "errorcode": 0, "responses": [{"messageKey": "k1"}]}),
        );
        assert_eq!(outcome(&accepted, "k1"), Ok("k1".into()));
        let class = |status, body| match outcome(&answer(status, body), "k1") {
            Ok(_) => "sent",
            Err(e) => e.class(),
        };
        let error = |code: u64, message: &str| json!({"message": message, "errorcode": code, "documentation": ""});
        let per_recipient = |code: u64, message: &str| {
            json!({"requestId": "r", "errorcode": 109001, "message": "MCMS_UTM_ResponsesHasErrors",
                   "responses": [{"messageKey": "k1", "errorcode": code, "message": message}]})
        };
        for (status, body, expected) in [
            (
                202,
                per_recipient(109110, "MCMS_UTM_Validation_DuplicateMessageKey"),
                "already_sent",
            ),
            (
                400,
                error(109110, "MCMS_UTM_Validation_DuplicateMessageKey"),
                "already_sent",
            ),
            (
                400,
                json!([{"messageKey": "k1", "errorcode": 109110, "message": "reused"}]),
                "already_sent",
            ),
            (
                400,
                error(109121, "MCMS_UTM_Validation_InvalidValue_to"),
                "rejected",
            ),
            (
                202,
                per_recipient(109106, "MCMS_UTM_Validation_MissingRequiredField_to"),
                "rejected",
            ),
            // Failed to queue, before anything was sent.
            (
                202,
                per_recipient(
                    109104,
                    "MCMS_UTM_Validation_MissingRequiredField_messageKey",
                ),
                "unavailable",
            ),
            (
                202,
                per_recipient(109111, "MCMS_UTM_Validation_InvalidValue_definitionKey"),
                "misconfigured",
            ),
            // A code it does not know, in an answer that said accepted: maybe sent, never failed over.
            (202, per_recipient(50000, "Something else"), "indeterminate"),
            // The top level's summary code alone does not decide: the recipient was queued.
            (
                202,
                json!({"requestId": "r", "errorcode": 109001, "responses": [{"messageKey": "k1"}]}),
                "sent",
            ),
            (
                400,
                error(109111, "MCMS_UTM_Validation_InvalidValue_definitionKey"),
                "misconfigured",
            ),
            (404, error(30003, "ObjectNotFound"), "misconfigured"),
            (
                403,
                error(40000, "Insufficient privileges"),
                "misconfigured",
            ),
            (401, error(0, "Not Authorized"), "misconfigured"),
            (400, error(10005, "Invalid value"), "unavailable"),
            (429, error(50100, "Rate limit exceeded"), "unavailable"),
            (500, error(0, "Internal error"), "indeterminate"),
            (503, error(50300, "Service unavailable"), "indeterminate"),
            // Accepted, but without a messageKey to read: it may have been sent.
            (
                202,
                json!({"requestId": "r", "errorcode": 0}),
                "indeterminate",
            ),
        ] {
            assert_eq!(class(status, body.clone()), expected, "{status} {body}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_used_until_shortly_before_it_ends() {
        let credentials = Credentials {
            client_id: "id".into(),
            client_secret: "s".into(),
        };
        let start = Instant::now();
        let token = Token {
            access: "t".into(),
            rest_base: "https://rest".into(),
            expires_at: start + Duration::from_secs(1080),
            credentials: credentials.clone(),
        };
        assert_eq!(token_use(None, &credentials, start), TokenUse::Missing);
        assert_eq!(
            token_use(Some(&token), &credentials, start),
            TokenUse::Fresh
        );
        tokio::time::advance(Duration::from_secs(1080 - 61)).await;
        assert_eq!(
            token_use(Some(&token), &credentials, Instant::now()),
            TokenUse::Fresh
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            token_use(Some(&token), &credentials, Instant::now()),
            TokenUse::RefreshSoon
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(
            token_use(Some(&token), &credentials, Instant::now()),
            TokenUse::Missing
        );
        // Rotated credentials need a token of their own.
        let rotated = Credentials {
            client_id: "id".into(),
            client_secret: "new".into(),
        };
        assert_eq!(token_use(Some(&token), &rotated, start), TokenUse::Missing);
        assert!(!format!("{token:?}").contains("\"t\""));
    }
}
