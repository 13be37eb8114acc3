//! CloudWatch metrics as Embedded Metric Format lines on stdout: in Lambda, CloudWatch Logs turns
//! them into metrics, so counting a send costs no API call and no latency.
//!
//! Namespace `MosaicSmsGateway`; `SmsSent`, `SmsRejected` and `SmsFailed` (a provider or Secrets
//! Manager failure: the ones to alarm on), by `FunctionName` and by `FunctionName`, `Provider` and
//! `Outcome`.

use serde_json::json;
use std::io::Write;

pub const NAMESPACE: &str = "MosaicSmsGateway";

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
    /// The EMF line for one send attempt, or `None` for requests that are not sends (challenges,
    /// bad requests, wrong keys: the request log counts those).
    pub fn send_line(&self, provider: Option<&str>, outcome: &str, now_ms: u64) -> Option<String> {
        let Self::Emf { function_name } = self else {
            return None;
        };
        let (sent, rejected, failed) = match outcome {
            "sent" => (1, 0, 0),
            "recipient_rejected" => (0, 1, 0),
            "provider_failed" | "keys_unavailable" => (0, 0, 1),
            _ => return None,
        };
        let line = json!({
            "_aws": {
                "Timestamp": now_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName"], ["FunctionName", "Provider", "Outcome"]],
                    "Metrics": [
                        {"Name": "SmsSent", "Unit": "Count"},
                        {"Name": "SmsRejected", "Unit": "Count"},
                        {"Name": "SmsFailed", "Unit": "Count"},
                    ],
                }],
            },
            // Lambda's JSON log filter reads `level`; INFO keeps the line at the default level.
            "level": "INFO",
            "FunctionName": function_name,
            "Provider": provider.unwrap_or("none"),
            "Outcome": outcome,
            "SmsSent": sent,
            "SmsRejected": rejected,
            "SmsFailed": failed,
        });
        Some(line.to_string())
    }

    /// Prints the EMF line for a send attempt, if there is one.
    pub fn record_send(&self, provider: Option<&str>, outcome: &str) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if let Some(line) = self.send_line(provider, outcome, now_ms) {
            // One write of the whole line, so it never interleaves with a log line.
            let _ = std::io::stdout()
                .lock()
                .write_all(format!("{line}\n").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_become_emf_lines_and_other_requests_do_not() {
        let metrics = Metrics::Emf {
            function_name: "gw".into(),
        };
        let line: serde_json::Value = serde_json::from_str(
            &metrics
                .send_line(Some("sns"), "provider_failed", 7)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(line["_aws"]["Timestamp"], 7);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(line["FunctionName"], "gw");
        assert_eq!(line["Provider"], "sns");
        assert_eq!(
            (line["SmsSent"].as_u64(), line["SmsFailed"].as_u64()),
            (Some(0), Some(1))
        );
        let sent: serde_json::Value =
            serde_json::from_str(&metrics.send_line(Some("sns"), "sent", 7).unwrap()).unwrap();
        assert_eq!(
            (sent["SmsSent"].as_u64(), sent["SmsFailed"].as_u64()),
            (Some(1), Some(0))
        );
        assert!(metrics.send_line(None, "invalid_api_key", 7).is_none());
        assert!(metrics.send_line(None, "challenge_answered", 7).is_none());
        assert!(Metrics::Off.send_line(Some("sns"), "sent", 7).is_none());
    }
}
