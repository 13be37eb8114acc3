//! The `end-user-messaging` provider: AWS End User Messaging SMS (`pinpoint-sms-voice-v2`)
//! `SendTextMessage`. What SNS cannot do: protect configurations (AWS's own per-country rules against
//! SMS pumping), a `TimeToLive` after which carriers drop a passcode instead of delivering it late,
//! configuration sets for delivery events, opt-outs refused at send time, and IAM scoped to the
//! origination identity.

use super::{BuildContext, BuildError, ProviderSetup};
use crate::adapters::aws::ServiceErrors;
use crate::domain::outcome::{MessageId, ProviderError};
use crate::domain::ports::SmsProvider;
use crate::domain::sms::SmsRequest;
use crate::settings::{ConfigError, Env};
use aws_sdk_pinpointsmsvoicev2::error::ProvideErrorMetadata;
use aws_sdk_pinpointsmsvoicev2::operation::send_text_message::SendTextMessageError;
use aws_sdk_pinpointsmsvoicev2::types::{
    AccountAttributeName, ConflictExceptionReason, MessageType, ValidationExceptionReason,
};
use std::time::Duration;
use tokio::time::Instant;

/// The provider's settings: `EUM_ORIGINATION_IDENTITY` (required), `EUM_CONFIGURATION_SET`,
/// `EUM_PROTECT_CONFIGURATION_ID`, `EUM_MAX_PRICE`, and `MESSAGE_TTL_SECONDS` as `TimeToLive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EumSettings {
    /// A phone number, pool or sender id, by id or ARN.
    pub origination_identity: String,
    pub configuration_set: Option<String>,
    pub protect_configuration_id: Option<String>,
    /// The most one message part may cost, in US dollars (`"0.05"`).
    pub max_price: Option<String>,
    pub time_to_live: Duration,
    /// `SENDER_BY_COUNTRY`: the origination identity for numbers in these countries.
    pub by_country: std::collections::HashMap<crate::domain::country::Country, String>,
    /// `AWS_LAMBDA_FUNCTION_NAME`, sent in each message's context: the delivery events carry it
    /// back, and the template's metric filters turn it into the `FunctionName` dimension.
    pub function_name: Option<String>,
}

/// Registered in [`super::REGISTRY`] as `end-user-messaging`.
pub fn configure(env: &Env) -> Result<Box<dyn ProviderSetup>, ConfigError> {
    Ok(Box::new(EumSettings::from_env(env)?))
}

impl EumSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let origination_identity = env.optional("EUM_ORIGINATION_IDENTITY").ok_or_else(|| {
            ConfigError::provider(
                "end-user-messaging",
                "which needs EUM_ORIGINATION_IDENTITY (a phone number, pool or sender id, by id or ARN)",
            )
        })?;
        let max_price = match env.optional("EUM_MAX_PRICE") {
            None => None,
            Some(raw) => {
                let (whole, fraction) = raw.split_once('.').unwrap_or((&raw, ""));
                let decimal = !whole.is_empty()
                    && whole.bytes().all(|b| b.is_ascii_digit())
                    && fraction.bytes().all(|b| b.is_ascii_digit())
                    && raw.len() <= 8;
                if !decimal {
                    return Err(ConfigError::invalid(
                        "EUM_MAX_PRICE",
                        format!("must be a price in US dollars such as 0.05, got {raw:?}"),
                    ));
                }
                Some(raw)
            }
        };
        let time_to_live = env.message_ttl()?;
        // End User Messaging takes 5 s to 3 days.
        if time_to_live < Duration::from_secs(5) {
            return Err(ConfigError::invalid(
                "MESSAGE_TTL_SECONDS",
                "must be at least 5 with end-user-messaging",
            ));
        }
        Ok(Self {
            origination_identity,
            configuration_set: env.optional("EUM_CONFIGURATION_SET"),
            protect_configuration_id: env.optional("EUM_PROTECT_CONFIGURATION_ID"),
            max_price,
            time_to_live,
            // Any phone number, pool or sender id (by id or ARN): AWS checks it at send time, and
            // one it refuses is our set-up (502, one error line).
            by_country: crate::domain::country::senders_for("end-user-messaging", env)?,
            function_name: env.optional("AWS_LAMBDA_FUNCTION_NAME"),
        })
    }
}

impl ProviderSetup for EumSettings {
    fn name(&self) -> &'static str {
        "end-user-messaging"
    }

    fn uses_aws(&self) -> bool {
        true
    }

    fn build(&self, context: &BuildContext<'_>) -> Result<Box<dyn SmsProvider>, BuildError> {
        let sdk = context.aws.ok_or(crate::adapters::aws::NoRegion)?;
        Ok(Box::new(EndUserMessaging::new(client(sdk), self.clone())))
    }
}

/// The End User Messaging client, with no retries: `SendTextMessage` has no idempotency token, so a
/// retry after a lost answer could send the passcode twice.
pub fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_pinpointsmsvoicev2::Client {
    let config = aws_sdk_pinpointsmsvoicev2::config::Builder::from(sdk)
        .timeout_config(crate::adapters::aws::send_timeouts())
        .retry_config(crate::adapters::aws::send_retries())
        .build();
    aws_sdk_pinpointsmsvoicev2::Client::from_conf(config)
}

pub struct EndUserMessaging {
    client: aws_sdk_pinpointsmsvoicev2::Client,
    settings: EumSettings,
    /// Every message's `Context`, built once.
    context: std::collections::HashMap<String, String>,
}

impl EndUserMessaging {
    pub fn new(client: aws_sdk_pinpointsmsvoicev2::Client, settings: EumSettings) -> Self {
        let mut context = std::collections::HashMap::from([
            ("source".to_owned(), "mosaic-sms-gateway".to_owned()),
            ("Provider".to_owned(), "end-user-messaging".to_owned()),
        ]);
        if let Some(name) = &settings.function_name {
            context.insert("FunctionName".to_owned(), name.clone());
        }
        Self {
            client,
            settings,
            context,
        }
    }
}

#[async_trait::async_trait]
impl SmsProvider for EndUserMessaging {
    fn name(&self) -> &'static str {
        "end-user-messaging"
    }

    fn min_send_time(&self) -> std::time::Duration {
        crate::adapters::net::MIN_SEND_TIME
    }

    async fn send(&self, sms: &SmsRequest, _deadline: Instant) -> Result<MessageId, ProviderError> {
        let settings = &self.settings;
        let ttl = i32::try_from(settings.time_to_live.as_secs()).unwrap_or(i32::MAX);
        let output = self
            .client
            .send_text_message()
            .destination_phone_number(sms.phone_number.as_str())
            .origination_identity(
                sms.country
                    .and_then(|c| settings.by_country.get(&c))
                    .unwrap_or(&settings.origination_identity),
            )
            .message_body(sms.message.as_str())
            .message_type(MessageType::Transactional)
            .time_to_live(ttl)
            // Comes back in the delivery events (never the message text): the template's metric
            // filters count them by FunctionName and Provider, as the function's own metrics are.
            .set_context(Some(self.context.clone()))
            .set_configuration_set_name(settings.configuration_set.clone())
            .set_protect_configuration_id(settings.protect_configuration_id.clone())
            .set_max_price(settings.max_price.clone())
            .send()
            .await
            .map_err(|e| ERRORS.classify(e))?;
        crate::domain::outcome::accepted("End User Messaging", output.message_id)
    }

    /// A cheap read at start-up: it opens the connection during Lambda init and warns when the
    /// account is still in the SMS sandbox (only verified numbers receive SMS).
    async fn start(&self) -> Result<(), String> {
        match self.client.describe_account_attributes().send().await {
            Ok(output) => {
                let sandboxed = output.account_attributes().iter().any(|a| {
                    *a.name() == AccountAttributeName::AccountTier
                        && a.value().eq_ignore_ascii_case("SANDBOXED")
                });
                if sandboxed {
                    tracing::warn!(
                        "the AWS account is in the End User Messaging SMS sandbox: only verified \
                         destination numbers receive SMS"
                    );
                }
            }
            Err(err) => tracing::warn!(
                error = %crate::adapters::aws::error_line(&err),
                "cannot read the End User Messaging account attributes (sms-voice:DescribeAccountAttributes)"
            ),
        }
        Ok(())
    }
}

/// A refusal of the destination itself, one that any other provider should meet too (AWS's
/// reasons: https://docs.aws.amazon.com/sms-voice/latest/APIReference/API_ConflictException.html
/// and .../API_ValidationException.html): the person opted out (failing over would route around
/// their own opt-out), the operator's protect configuration blocks the number or its country (a
/// rule about destinations that failover must not route around, as `BLOCKED_COUNTRIES` is), or
/// the number is not one. Not here: `DESTINATION_COUNTRY_BLOCKED` (the account may not send
/// there: our set-up) and `PRICE_OVER_THRESHOLD` (`EUM_MAX_PRICE`, a cap of ours: another
/// provider may deliver).
fn refused(e: &SendTextMessageError) -> bool {
    match e {
        SendTextMessageError::ConflictException(c) => matches!(
            c.reason(),
            Some(
                ConflictExceptionReason::DestinationPhoneNumberOptedOut
                    | ConflictExceptionReason::DestinationCountryBlockedByProtectConfiguration
                    | ConflictExceptionReason::DestinationPhoneNumberBlockedByProtectNumberOverride
            )
        ),
        // The reason first: a message naming the destination may come with a reason of ours.
        SendTextMessageError::ValidationException(v) => {
            !matches!(
                v.reason(),
                Some(
                    ValidationExceptionReason::DestinationCountryBlocked
                        | ValidationExceptionReason::PriceOverThreshold
                )
            ) && v
                .message()
                .is_some_and(|m| m.contains("DestinationPhoneNumber"))
        }
        _ => false,
    }
}

/// A price over `EUM_MAX_PRICE`: certainly not sent, nothing to fix, and another provider may
/// deliver.
fn over_price(e: &SendTextMessageError) -> bool {
    matches!(e, SendTextMessageError::ValidationException(v)
        if v.reason() == Some(&ValidationExceptionReason::PriceOverThreshold))
}

/// Our own set-up: permissions, a missing origination identity, configuration set or protect
/// configuration, a sender not registered for the destination, a sandboxed account, a country the
/// account may not send to.
fn misconfigured(e: &SendTextMessageError) -> bool {
    !refused(e)
        && !over_price(e)
        && (matches!(
            e,
            SendTextMessageError::AccessDeniedException(_)
                | SendTextMessageError::ResourceNotFoundException(_)
                | SendTextMessageError::ConflictException(_)
                | SendTextMessageError::ValidationException(_)
        ) || e.code() == Some("UnrecognizedClientException"))
}

const ERRORS: ServiceErrors<SendTextMessageError> = ServiceErrors {
    service: "End User Messaging",
    refused,
    misconfigured,
    server_fault: |e| matches!(e, SendTextMessageError::InternalServerException(_)),
};

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<EumSettings, ConfigError> {
        crate::settings::in_lambda_env(vars, EumSettings::from_env)
    }

    #[test]
    fn settings_are_read_and_checked() {
        let s = settings(&[
            ("EUM_ORIGINATION_IDENTITY", "phone-0123456789abcdef"),
            ("EUM_CONFIGURATION_SET", "otp"),
            ("EUM_PROTECT_CONFIGURATION_ID", "protect-0123"),
            ("EUM_MAX_PRICE", "0.05"),
            ("MESSAGE_TTL_SECONDS", "120"),
        ])
        .unwrap();
        assert_eq!(s.origination_identity, "phone-0123456789abcdef");
        assert_eq!(s.configuration_set.as_deref(), Some("otp"));
        assert_eq!(s.protect_configuration_id.as_deref(), Some("protect-0123"));
        assert_eq!(s.max_price.as_deref(), Some("0.05"));
        assert_eq!(s.time_to_live, Duration::from_secs(120));

        let problem = |vars: &[(&str, &str)]| settings(vars).unwrap_err().to_string();
        assert!(problem(&[]).contains("EUM_ORIGINATION_IDENTITY"));
        let with = |extra: (&'static str, &'static str)| {
            problem(&[("EUM_ORIGINATION_IDENTITY", "phone-1"), extra])
        };
        for price in ["five cents", "-1", ".5", "0.05$"] {
            assert!(
                with(("EUM_MAX_PRICE", price)).starts_with("EUM_MAX_PRICE"),
                "{price}"
            );
        }
        assert!(with(("MESSAGE_TTL_SECONDS", "4")).starts_with("MESSAGE_TTL_SECONDS"));
    }
}
