//! CloudWatch metrics as Embedded Metric Format lines on stdout: in Lambda, CloudWatch Logs turns
//! them into metrics, so counting a send costs no API call and no latency.
//!
//! Namespace `MosaicSmsGateway`; `SmsSent`, `SmsRejected` and `SmsFailed` (a provider or Secrets
//! Manager failure: the ones to alarm on), by `FunctionName` and by `FunctionName`, `Provider` and
//! `Outcome`, refusals also by `FunctionName`, `Outcome` and `Country`; `ProviderMisconfigured` (a
//! provider refused our own set-up: credentials, sender, account), by `FunctionName` and by
//! `FunctionName` and `Provider`, counted even when the next provider then sent the message;
//! `IdempotencyStoreErrors`; the receipts, `SmsDelivered` and `SmsNotDelivered`; Twilio's
//! callbacks (and each provider's receipts) refused for our set-up, `TwilioCallbacksRefused`
//! (`VonageCallbacksRefused`), and as noise, `TwilioCallbacksAnonymous` (`VonageCallbacksAnonymous`). Every metric and dimension set is listed in
//! tests/support/published_metrics.json, which the template's alarms are checked against. A line carries only the metric it counts: each series CloudWatch
//! keeps is a custom metric it bills.

use axum::http::{Method, StatusCode};
use serde_json::json;
use std::io::Write;

pub const NAMESPACE: &str = "MosaicSmsGateway";

/// `TwilioCallbacksRefused` for (`twilio`, `Refused`): a provider's receipts metric, named after it.
fn callbacks_metric(provider: &str, what: &str) -> String {
    let mut chars = provider.chars();
    let capital: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .collect();
    format!("{capital}{}Callbacks{what}", chars.as_str())
}

/// The `Outcome` of a Mosaic re-send that the dedupe answered while the first send was under way
/// or may have gone (`502 delivery_unknown` to Mosaic): counted as neither sent nor failed.
pub const RESEND_HELD: &str = "resend_held";

/// What a request's EMF line says: its answer, the provider that answered last, the outcome's code,
/// the number's country (refusals are counted by it) and how long the answer took.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub status: StatusCode,
    pub provider: Option<&'a str>,
    pub outcome: &'a str,
    pub country: Option<&'a str>,
    pub latency_ms: f64,
    /// For a message sent: how many SMS it went as.
    pub segments: Option<usize>,
}

/// Where metrics go.
#[derive(Debug, Clone, Default)]
pub enum Metrics {
    /// Locally: nothing (the request log event says it all).
    #[default]
    Off,
    /// In Lambda: one EMF line per send attempt.
    Emf { function_name: String },
}

impl Metrics {
    /// The EMF line for one POST, or `None` for requests that are not send attempts (challenges,
    /// bad requests, wrong keys: the request log counts those). Counted by status, not by error
    /// code, so renaming a code can never silence the alarm: 200 is sent (a duplicate is not
    /// counted), 422 and 429 rejected, any 5xx failed (but a re-send the dedupe held).
    pub fn send_line(&self, method: &Method, attempt: &Attempt<'_>, now_ms: u64) -> Option<String> {
        let Attempt {
            status,
            provider,
            outcome,
            country,
            latency_ms,
            segments,
        } = *attempt;
        let Self::Emf { function_name } = self else {
            return None;
        };
        if method != Method::POST {
            return None;
        }
        // One metric per line, the one that counts: a metric of zeros per provider and outcome
        // would be one more custom metric each (CloudWatch bills every series), and the alarms
        // read a missing datapoint as zero.
        let metric = match status {
            // A duplicate re-send was answered, not sent; one held while the first is under way
            // is the dedupe at work, not a failure: neither is counted.
            StatusCode::OK if outcome == "duplicate" => return None,
            _ if outcome == RESEND_HELD => return None,
            StatusCode::OK => "SmsSent",
            // Refused by the provider, the number plan, the country policy or a limit: a spike is
            // worth a look (SMS pumping tries many numbers and countries).
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::TOO_MANY_REQUESTS => "SmsRejected",
            s if s.is_server_error() => "SmsFailed",
            _ => return None,
        };
        let mut directives = vec![json!({
            "Namespace": NAMESPACE,
            "Dimensions": [["FunctionName"], ["FunctionName", "Provider", "Outcome"]],
            "Metrics": [{"Name": metric, "Unit": "Count"}],
        })];
        if metric != "SmsRejected" {
            // How long the answer took, for the sends that reached a provider (or tried to): the
            // latency alarm's p99 against the send deadline, unwatered by refusals answered at once.
            directives.push(json!({
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": "SendLatency", "Unit": "Milliseconds"}],
            }));
        }
        let segments = segments.filter(|_| metric == "SmsSent");
        if segments.is_some() {
            // What the sends cost: SMS are billed by the segment.
            directives.push(json!({
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName", "Provider"], ["FunctionName", "Provider", "Country"]],
                "Metrics": [{"Name": "SmsSegments", "Unit": "Count"}],
            }));
        }
        let refused = metric == "SmsRejected";
        if refused {
            // Refusals also by reason and country, to see which countries a pumping attack
            // aims at: a metric exists per country and reason that actually occurred.
            directives.push(json!({
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName", "Outcome", "Country"]],
                "Metrics": [{"Name": "SmsRejected", "Unit": "Count"}],
            }));
        }
        let mut line = json!({
            "_aws": {
                "Timestamp": now_ms,
                "CloudWatchMetrics": directives,
            },
            // Lambda's JSON log filter reads `level`; INFO keeps the line at the default level.
            "level": "INFO",
            "FunctionName": function_name,
            "Provider": provider.unwrap_or("none"),
            "Outcome": outcome,
        });
        line[metric] = 1.into();
        if !refused {
            line["SendLatency"] = ((latency_ms * 10.0).round() / 10.0).into();
        }
        if let Some(segments) = segments {
            line["SmsSegments"] = segments.into();
        }
        if refused || segments.is_some() {
            // `unknown`: a number valid for no country.
            line["Country"] = country.unwrap_or("unknown").into();
        }
        Some(line.to_string())
    }

    /// The EMF line for a provider that refused our set-up, or `None` when metrics are off.
    pub fn misconfigured_line(&self, provider: &str, now_ms: u64) -> Option<String> {
        self.error_line(
            "ProviderMisconfigured",
            ("Provider", provider),
            true,
            now_ms,
        )
    }

    /// The EMF line for a failed call to the dedupe store (`claim`, `look`, `count`,
    /// `finish`), or `None` when metrics are off. With `LIMITS_ON_STORE_FAILURE=open` a failed
    /// claim or count means a send went out unchecked.
    pub fn store_error_line(&self, operation: &str, now_ms: u64) -> Option<String> {
        self.error_line(
            "IdempotencyStoreErrors",
            ("Operation", operation),
            false,
            now_ms,
        )
    }

    /// One count of `metric`, logged at ERROR, by `FunctionName`; `detail` goes alongside, and is
    /// a second dimension set with it when `detail_is_dimension`.
    fn error_line(
        &self,
        metric: &str,
        detail: (&str, &str),
        detail_is_dimension: bool,
        now_ms: u64,
    ) -> Option<String> {
        self.count_line(metric, detail, detail_is_dimension, "ERROR", now_ms)
    }

    /// One count of `metric` by `FunctionName`, logged at `level`; `detail` as in `error_line`.
    fn count_line(
        &self,
        metric: &str,
        detail: (&str, &str),
        detail_is_dimension: bool,
        level: &str,
        now_ms: u64,
    ) -> Option<String> {
        let Self::Emf { function_name } = self else {
            return None;
        };
        let (detail_name, detail_value) = detail;
        let dimensions = if detail_is_dimension {
            json!([["FunctionName"], ["FunctionName", detail_name]])
        } else {
            json!([["FunctionName"]])
        };
        let mut line = json!({
            "_aws": {
                "Timestamp": now_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": dimensions,
                    "Metrics": [{"Name": metric, "Unit": "Count"}],
                }],
            },
            "level": level,
            "FunctionName": function_name,
        });
        line[detail_name] = detail_value.into();
        line[metric] = 1.into();
        Some(line.to_string())
    }

    /// The EMF line for a message's final status as its provider reported it afterwards (Twilio's
    /// status callback): `SmsDelivered` or `SmsNotDelivered` (`undelivered`, `failed`), by
    /// `FunctionName` and `Provider`, and by `FunctionName`, `Provider` and `Country` (ISO code,
    /// `unknown` when the number has none), with the status beside them; `None` when metrics are off.
    pub fn delivery_line(
        &self,
        provider: &str,
        country: Option<&str>,
        status: &str,
        delivered: bool,
        now_ms: u64,
    ) -> Option<String> {
        let Self::Emf { function_name } = self else {
            return None;
        };
        let line = json!({
            "_aws": {
                "Timestamp": now_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName", "Provider"], ["FunctionName", "Provider", "Country"]],
                    "Metrics": [
                        {"Name": "SmsDelivered", "Unit": "Count"},
                        {"Name": "SmsNotDelivered", "Unit": "Count"},
                    ],
                }],
            },
            "level": "INFO",
            "FunctionName": function_name,
            "Provider": provider,
            "Country": country.unwrap_or("unknown"),
            "Status": status,
            "SmsDelivered": u8::from(delivered),
            "SmsNotDelivered": u8::from(!delivered),
        });
        Some(line.to_string())
    }

    /// Prints the EMF line for a message's final status.
    pub fn record_delivery(
        &self,
        provider: &str,
        country: Option<&str>,
        status: &str,
        delivered: bool,
    ) {
        if let Some(line) = self.delivery_line(provider, country, status, delivered, now_ms()) {
            print_line(&line);
        }
    }

    /// The EMF line for a receipt of `provider`'s shape and for our account that no secret the
    /// gateway knows signs (`reason`: `mismatch`), or `None` when metrics are off: Twilio's in
    /// `TwilioCallbacksRefused`, Vonage's in `VonageCallbacksRefused`, and so on. Many of them
    /// mean the secret the gateway checks with is not the one the provider signs with: every
    /// receipt is being lost (an alarm watches each).
    pub fn callback_refused_line(
        &self,
        provider: &str,
        reason: &str,
        now_ms: u64,
    ) -> Option<String> {
        let metric = callbacks_metric(provider, "Refused");
        self.error_line(&metric, ("Reason", reason), false, now_ms)
    }

    /// The EMF line for a receipt that anyone could have posted to `provider`'s path (`reason`:
    /// `missing` signature, `malformed`, `other_account`, `oversized`), at INFO, in
    /// `TwilioCallbacksAnonymous`, `VonageCallbacksAnonymous`, ..., or `None` when metrics are
    /// off: noise from the internet, says nothing about our set-up, never alarmed.
    pub fn callback_anonymous_line(
        &self,
        provider: &str,
        reason: &str,
        now_ms: u64,
    ) -> Option<String> {
        let metric = callbacks_metric(provider, "Anonymous");
        self.count_line(&metric, ("Reason", reason), false, "INFO", now_ms)
    }

    /// Prints the EMF line for a receipt refused for our set-up.
    pub fn record_callback_refused(&self, provider: &str, reason: &str) {
        if let Some(line) = self.callback_refused_line(provider, reason, now_ms()) {
            print_line(&line);
        }
    }

    /// Prints the EMF line for an anonymous receipt.
    pub fn record_callback_anonymous(&self, provider: &str, reason: &str) {
        if let Some(line) = self.callback_anonymous_line(provider, reason, now_ms()) {
            print_line(&line);
        }
    }

    /// The EMF line for a message sent without the autofill lines configured for it (`reason`:
    /// `no_code`, `several_codes`, `too_long_for_retriever`, `too_long`), at INFO, in `AutofillSkipped`, or
    /// `None` when metrics are off: many mean Mosaic's template and `OTP_CODE_PATTERN` disagree.
    pub fn autofill_skipped_line(&self, reason: &str, now_ms: u64) -> Option<String> {
        self.count_line("AutofillSkipped", ("Reason", reason), false, "INFO", now_ms)
    }

    /// Prints the EMF line for a message sent without its autofill lines.
    pub fn record_autofill_skipped(&self, reason: &str) {
        if let Some(line) = self.autofill_skipped_line(reason, now_ms()) {
            print_line(&line);
        }
    }

    /// Prints the EMF line for a failed dedupe store call.
    pub fn record_store_error(&self, operation: &str) {
        if let Some(line) = self.store_error_line(operation, now_ms()) {
            print_line(&line);
        }
    }

    /// Prints the EMF line for a provider that refused our set-up.
    pub fn record_misconfigured(&self, provider: &str) {
        if let Some(line) = self.misconfigured_line(provider, now_ms()) {
            print_line(&line);
        }
    }

    /// Prints the EMF line for a send attempt, if there is one.
    pub fn record_send(&self, method: &Method, attempt: &Attempt<'_>) {
        if let Some(line) = self.send_line(method, attempt, now_ms()) {
            print_line(&line);
        }
    }
}

impl crate::domain::ports::MetricsSink for Metrics {
    fn provider_misconfigured(&self, provider: &str) {
        self.record_misconfigured(provider);
    }

    fn store_error(&self, operation: &str) {
        self.record_store_error(operation);
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One write of the whole line, so it never interleaves with a log line.
fn print_line(line: &str) {
    let _ = std::io::stdout()
        .lock()
        .write_all(format!("{line}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric of `line` with each of its dimension sets is one that
    /// tests/support/published_metrics.json lists (the template's alarms are checked against it),
    /// and the line carries a value for each.
    fn assert_published(line: &str) {
        let published: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/support/published_metrics.json"))
                .unwrap();
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            let namespace = directive["Namespace"].as_str().unwrap();
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                let sets = &published[namespace][name];
                for set in directive["Dimensions"].as_array().unwrap() {
                    assert!(
                        sets.as_array().is_some_and(|s| s.contains(set)),
                        "{namespace} {name} by {set} is not in published_metrics.json"
                    );
                    for dimension in set.as_array().unwrap() {
                        assert!(line[dimension.as_str().unwrap()].is_string(), "{line}");
                    }
                }
                assert!(line[name].is_number(), "{line}");
            }
        }
    }

    #[test]
    fn every_line_writes_only_published_metrics() {
        let metrics = Metrics::Emf {
            function_name: "gw".into(),
        };
        let mut lines = vec![
            metrics.misconfigured_line("twilio", 1).unwrap(),
            metrics.store_error_line("claim", 1).unwrap(),
            metrics
                .callback_refused_line("twilio", "mismatch", 1)
                .unwrap(),
            metrics
                .callback_anonymous_line("twilio", "missing", 1)
                .unwrap(),
            metrics
                .callback_refused_line("vonage", "mismatch", 1)
                .unwrap(),
            metrics
                .callback_anonymous_line("vonage", "missing", 1)
                .unwrap(),
            metrics
                .delivery_line("twilio", Some("US"), "delivered", true, 1)
                .unwrap(),
            metrics
                .delivery_line("twilio", None, "failed", false, 1)
                .unwrap(),
            metrics.autofill_skipped_line("no_code", 1).unwrap(),
        ];
        for (status, outcome) in [
            (200, "sent"),
            (422, "invalid_number"),
            (429, "prefix_blocked"),
            (502, "provider_failed"),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            lines.push(
                metrics
                    .send_line(
                        &Method::POST,
                        &Attempt {
                            status,
                            provider: Some("sns"),
                            outcome,
                            country: Some("DE"),
                            latency_ms: 12.5,
                            segments: Some(2),
                        },
                        1,
                    )
                    .unwrap(),
            );
        }
        for line in &lines {
            assert_published(line);
        }
    }

    #[test]
    fn sends_become_emf_lines_and_other_requests_do_not() {
        let metrics = Metrics::Emf {
            function_name: "gw".into(),
        };
        let post = |status: u16, outcome| {
            let status = StatusCode::from_u16(status).unwrap();
            let line = metrics.send_line(
                &Method::POST,
                &Attempt {
                    status,
                    provider: Some("sns"),
                    outcome,
                    country: Some("FR"),
                    latency_ms: 12.5,
                    segments: None,
                },
                7,
            )?;
            Some(serde_json::from_str::<serde_json::Value>(&line).unwrap())
        };
        let failed = post(502, "provider_failed").unwrap();
        assert_eq!(failed["_aws"]["Timestamp"], 7);
        assert_eq!(
            failed["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            NAMESPACE
        );
        assert_eq!(failed["FunctionName"], "gw");
        assert_eq!(failed["Provider"], "sns");
        assert_eq!(failed["Outcome"], "provider_failed");
        let counts = |line: &serde_json::Value| {
            ["SmsSent", "SmsRejected", "SmsFailed"].map(|m| line[m].as_u64().unwrap_or(0))
        };
        assert_eq!(counts(&failed), [0, 0, 1]);
        assert_eq!(counts(&post(200, "sent").unwrap()), [1, 0, 0]);
        assert_eq!(counts(&post(422, "recipient_rejected").unwrap()), [0, 1, 0]);
        assert_eq!(counts(&post(503, "keys_unavailable").unwrap()), [0, 0, 1]);
        // Answered from the dedupe: no line at all.
        assert!(post(502, RESEND_HELD).is_none());
        assert!(post(200, "duplicate").is_none());
        // One metric per line.
        let sent = post(200, "sent").unwrap();
        assert_eq!(
            sent["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "SmsSent", "Unit": "Count"}])
        );
        assert!(sent.get("SmsFailed").is_none());
        // A request held by the gateway (no provider called): the dimension set the pumping
        // shield's alarms watch.
        let held = metrics
            .send_line(
                &Method::POST,
                &Attempt {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    provider: None,
                    outcome: "prefix_blocked",
                    country: Some("LV"),
                    latency_ms: 12.5,
                    segments: None,
                },
                7,
            )
            .unwrap();
        let held: serde_json::Value = serde_json::from_str(&held).unwrap();
        assert_eq!(
            (&held["Provider"], &held["Outcome"]),
            (&"none".into(), &"prefix_blocked".into())
        );
        assert_eq!(counts(&held), [0, 1, 0]);
        let by_country = &held["_aws"]["CloudWatchMetrics"][1];
        assert_eq!(
            by_country["Dimensions"],
            json!([["FunctionName", "Outcome", "Country"]])
        );
        assert_eq!(by_country["Metrics"][0]["Name"], "SmsRejected");
        assert_eq!(held["Country"], "LV");
        // Sends and failures are not counted by country; they carry the answer's latency.
        let sent = post(200, "sent").unwrap();
        assert!(!sent["_aws"].to_string().contains("Country"));
        assert!(sent.get("Country").is_none());
        assert_eq!(sent["SendLatency"], 12.5);
        assert_eq!(
            sent["_aws"]["CloudWatchMetrics"][1]["Metrics"][0]["Unit"],
            "Milliseconds"
        );
        assert!(
            held.get("SendLatency").is_none(),
            "refusals are answered at once"
        );
        let unknown = metrics
            .send_line(
                &Method::POST,
                &Attempt {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    provider: None,
                    outcome: "invalid_number",
                    country: None,
                    latency_ms: 12.5,
                    segments: None,
                },
                7,
            )
            .unwrap();
        assert!(unknown.contains(r#""Country":"unknown""#));
        assert!(post(401, "invalid_api_key").is_none());
        assert!(post(400, "invalid_field").is_none());
        let get = metrics.send_line(
            &Method::GET,
            &Attempt {
                status: StatusCode::OK,
                provider: None,
                outcome: "challenge_answered",
                country: None,
                latency_ms: 12.5,
                segments: None,
            },
            7,
        );
        assert!(get.is_none());
        let off = Metrics::Off.send_line(
            &Method::POST,
            &Attempt {
                status: StatusCode::OK,
                provider: Some("sns"),
                outcome: "sent",
                country: None,
                latency_ms: 12.5,
                segments: None,
            },
            7,
        );
        assert!(off.is_none());
    }

    #[test]
    fn a_misconfigured_provider_is_counted() {
        let metrics = Metrics::Emf {
            function_name: "gw".into(),
        };
        let line = metrics.misconfigured_line("twilio", 9).unwrap();
        let line: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(line["ProviderMisconfigured"], 1);
        assert_eq!(line["Provider"], "twilio");
        assert_eq!(line["FunctionName"], "gw");
        let definition = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(definition["Namespace"], NAMESPACE);
        assert_eq!(definition["Metrics"][0]["Name"], "ProviderMisconfigured");
        assert!(Metrics::Off.misconfigured_line("twilio", 9).is_none());
    }

    #[test]
    fn a_store_error_is_counted() {
        let metrics = Metrics::Emf {
            function_name: "gw".into(),
        };
        let line = metrics.store_error_line("claim", 9).unwrap();
        let line: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(line["IdempotencyStoreErrors"], 1);
        assert_eq!(line["Operation"], "claim");
        let definition = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(definition["Metrics"][0]["Name"], "IdempotencyStoreErrors");
        assert_eq!(
            definition["Dimensions"],
            serde_json::json!([["FunctionName"]])
        );
        assert!(Metrics::Off.store_error_line("claim", 9).is_none());
    }

    #[test]
    fn anonymous_twilio_callbacks_count_apart_from_the_alarmed_refusals() {
        let metrics = Metrics::Emf {
            function_name: "gw".into(),
        };
        let names = |line: &str| {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            let metrics = &line["_aws"]["CloudWatchMetrics"][0]["Metrics"];
            let names: Vec<String> = metrics
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["Name"].as_str().unwrap().to_owned())
                .collect();
            (names, line["level"].clone(), line["Reason"].clone())
        };
        let (counted, level, reason) = names(
            &metrics
                .callback_refused_line("twilio", "mismatch", 1)
                .unwrap(),
        );
        assert_eq!(counted, ["TwilioCallbacksRefused"]);
        assert_eq!((level, reason), ("ERROR".into(), "mismatch".into()));
        for why in ["missing", "malformed", "other_account", "oversized"] {
            let line = metrics.callback_anonymous_line("twilio", why, 1).unwrap();
            let (counted, level, reason) = names(&line);
            // Noise from the internet: never in the alarmed metric, and no ERROR line.
            assert_eq!(counted, ["TwilioCallbacksAnonymous"], "{why}");
            assert!(!line.contains("TwilioCallbacksRefused"), "{line}");
            assert_eq!((level, reason), ("INFO".into(), why.into()));
        }
        assert!(
            Metrics::Off
                .callback_anonymous_line("twilio", "missing", 1)
                .is_none()
        );
        let (counted, _, _) = names(
            &metrics
                .callback_refused_line("vonage", "mismatch", 1)
                .unwrap(),
        );
        assert_eq!(counted, ["VonageCallbacksRefused"]);
    }
}
