//! `secret put` and `secret show`: provider credentials into the gateway secret without writing
//! its JSON by hand. `put` reads the current value, asks for each field of the named providers
//! without echo (or takes it from the environment variable of the same name in capitals, the one
//! the gateway reads locally), merges them in, keeps every other field as it was (`api_key`,
//! `previous_api_key` and `fingerprint_key` above all), refuses a value the gateway could not
//! start with (for the providers named, and those samconfig.toml deploys, when it is in the working
//! directory), and writes one new version. `show` lists the fields, every value masked. Neither
//! ever prints a value.

use crate::adapters::aws::error_line;
use crate::adapters::net::HttpClient;
use crate::adapters::providers;
use crate::adapters::secrets::{SecretValue, parse_secret};
use crate::domain::keys::ApiKey;
use crate::entry::configure;
use crate::entry::samconfig::SamConfig;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use serde_json::{Map, Value};

/// A field a provider keeps in the gateway secret.
struct Field {
    name: &'static str,
    /// What to type, as the prompt says it.
    what: &'static str,
}

/// What a provider keeps in the gateway secret, and its own check of a value.
struct ProviderSecret {
    provider: &'static str,
    fields: &'static [Field],
    check: fn(&SecretValue) -> Result<(), String>,
}

const PROVIDERS: &[ProviderSecret] = &[
    ProviderSecret {
        provider: "twilio",
        fields: &[
            Field {
                name: "twilio_account_sid",
                what: "the Account SID (AC...)",
            },
            Field {
                name: "twilio_auth_token",
                what: "the auth token (signs the status callbacks; sends too without an API key)",
            },
            Field {
                name: "twilio_api_key_sid",
                what: "an API key's SID (SK...), optional",
            },
            Field {
                name: "twilio_api_key_secret",
                what: "that API key's secret, optional",
            },
        ],
        check: providers::twilio::secret_check,
    },
    ProviderSecret {
        provider: "vonage",
        fields: &[
            Field {
                name: "vonage_api_key",
                what: "the API key (8 characters)",
            },
            Field {
                name: "vonage_api_secret",
                what: "the API secret",
            },
            Field {
                name: "vonage_signature_secret",
                what: "the signature secret (signs the receipts), optional",
            },
        ],
        check: providers::vonage::secret_check,
    },
    ProviderSecret {
        provider: "infobip",
        fields: &[Field {
            name: "infobip_api_key",
            what: "the API key",
        }],
        check: providers::infobip::secret_check,
    },
    ProviderSecret {
        provider: "salesforce-marketing-cloud",
        fields: &[
            Field {
                name: "sfmc_client_id",
                what: "the installed package's client id",
            },
            Field {
                name: "sfmc_client_secret",
                what: "the installed package's client secret",
            },
        ],
        check: providers::salesforce_marketing_cloud::secret_check,
    },
];

/// What `configure` writes, read from the working directory.
const SAMCONFIG: &str = "samconfig.toml";

/// The fields no provider owns: the gateway's own.
const GATEWAY_FIELDS: [&str; 3] = ["api_key", "previous_api_key", "fingerprint_key"];

fn provider_secret(name: &str) -> Result<&'static ProviderSecret, String> {
    PROVIDERS.iter().find(|p| p.provider == name).ok_or_else(|| {
        let known: Vec<&str> = PROVIDERS.iter().map(|p| p.provider).collect();
        format!(
            "--provider {name:?} keeps nothing in the secret; one of: {} (an http description's {{secret.FIELD}}: --field FIELD)",
            known.join(", ")
        )
    })
}

/// Where a field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A prompt without echo on the terminal.
    Terminal,
    /// The environment variable named as the field in capitals (`VONAGE_API_KEY`).
    Environment,
}

/// What `secret put` is asked to do.
#[derive(Debug, Clone)]
pub struct Put {
    pub secret_id: String,
    /// Providers whose fields to ask for.
    pub providers: Vec<String>,
    /// Other fields to ask for (an `http` description's `{secret.FIELD}`).
    pub fields: Vec<String>,
    /// Fields to take out (`previous_api_key` to end the old key, a provider's optional one).
    pub remove: Vec<String>,
    pub source: Source,
    /// Make a new API key, the current one becoming `previous_api_key`.
    pub rotate_api_key: bool,
    /// Let a rotation replace a `previous_api_key` an earlier rotation kept.
    pub retire_previous_key: bool,
}

pub(crate) async fn client(http: &HttpClient) -> Result<aws_sdk_secretsmanager::Client, String> {
    let sdk = crate::adapters::aws::load_aws_config(http)
        .await
        .map_err(|e| e.to_string())?;
    Ok(crate::adapters::aws::secrets_client(&sdk))
}

/// The gateway secret read as the gateway reads it; every admin command's one way in.
pub(crate) async fn read(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<SecretValue, String> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| format!("cannot read the secret {secret_id}: {}", error_line(&e)))?;
    let value = output
        .secret_string()
        .ok_or_else(|| format!("the secret {secret_id} has no string value"))?;
    parse_secret(value).map_err(|e| format!("the secret {secret_id}: {e}"))
}

/// The secret's value as a JSON object: a plain key becomes `{"api_key": ...}`.
async fn current(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Map<String, Value>, String> {
    let parsed = read(client, secret_id).await?;
    let current_key = parsed.keys.current.expose().to_owned();
    let mut object = parsed.into_fields();
    if object.is_empty() {
        object.insert("api_key".into(), Value::String(current_key));
    }
    Ok(object)
}

/// A field's new value, or `None` to keep what the secret holds.
fn ask(field: &str, what: &str, source: Source) -> Result<Option<String>, String> {
    let value = match source {
        Source::Environment => std::env::var(field.to_ascii_uppercase()).ok(),
        Source::Terminal => {
            use std::io::IsTerminal;
            let no_terminal = || {
                format!(
                    "no terminal to ask for {field} on: give --from-env and set {}",
                    field.to_ascii_uppercase()
                )
            };
            // Piped or scripted: never wait on a prompt nobody sees.
            if !std::io::stdin().is_terminal() {
                return Err(no_terminal());
            }
            Some(
                rpassword::prompt_password(format!(
                    "{field} ({what}; Enter keeps what the secret holds): "
                ))
                .map_err(|_| no_terminal())?,
            )
        }
    };
    Ok(value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
}

/// `secret put`: the lines to print.
pub async fn put(request: &Put) -> Result<Vec<String>, String> {
    let mut wanted: Vec<&ProviderSecret> = request
        .providers
        .iter()
        .map(|name| provider_secret(name))
        .collect::<Result<_, _>>()?;
    let mut named = std::collections::BTreeSet::new();
    wanted.retain(|p| named.insert(p.provider));
    if wanted.is_empty()
        && request.fields.is_empty()
        && request.remove.is_empty()
        && !request.rotate_api_key
    {
        return Err(
            "nothing to put: give --provider, --field, --remove or --rotate-api-key".into(),
        );
    }
    for field in &request.remove {
        // Without these the gateway refuses Mosaic, or every limit starts again from zero.
        if ["api_key", "fingerprint_key"].contains(&field.as_str()) {
            return Err(format!(
                "--remove {field}: the gateway needs it; {}",
                match field.as_str() {
                    "api_key" => "--rotate-api-key makes a new one",
                    _ => "changing it starts every count again (docs/deploy.md)",
                }
            ));
        }
    }
    for field in &request.fields {
        let usable = !field.is_empty()
            && field
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !usable || GATEWAY_FIELDS.contains(&field.as_str()) {
            return Err(format!(
                "--field {field:?}: a field of lower-case letters, digits and _, not one of {}",
                GATEWAY_FIELDS.join(", ")
            ));
        }
    }
    let http = HttpClient::new();
    let client = client(&http).await?;
    let mut value = current(&client, &request.secret_id).await?;
    let mut changed: Vec<&str> = Vec::new();
    for provider in &wanted {
        for field in provider.fields {
            if let Some(new) = ask(field.name, field.what, request.source)? {
                value.insert(field.name.into(), Value::String(new));
                changed.push(field.name);
            }
        }
    }
    for field in &request.fields {
        if let Some(new) = ask(field, "the value", request.source)? {
            value.insert(field.clone(), Value::String(new));
            changed.push(field);
        }
    }
    if request.rotate_api_key {
        // A second rotation would drop the key the first one kept, which Mosaic may still send
        // until it is registered with the current one: only when asked (and not by removing it
        // in the same breath).
        let kept = value
            .get("previous_api_key")
            .filter(|previous| Some(*previous) != value.get("api_key"));
        if kept.is_some() && !request.retire_previous_key {
            return Err(format!(
                "refused, nothing written: previous_api_key still holds the key before the last rotation, which Mosaic may still use. Once Mosaic has the current one (register, then check --secret-id {}), rotate with --retire-previous-key",
                request.secret_id
            ));
        }
    }
    let mut removed: Vec<&str> = Vec::new();
    for field in &request.remove {
        if value.remove(field).is_some() {
            removed.push(field);
        }
    }
    if request.rotate_api_key {
        let old = value.get("api_key").cloned();
        if let Some(old) = old {
            value.insert("previous_api_key".into(), old);
        }
        value.insert(
            "api_key".into(),
            Value::String(ApiKey::generate_for_production().expose().to_owned()),
        );
        changed.extend(["api_key", "previous_api_key"]);
    }
    if changed.is_empty() && removed.is_empty() {
        return Err("nothing changed: every field was left as it was, no version written".into());
    }
    // The value must start the gateway: the API key, and complete credentials for each provider
    // named (the providers' own checks, as start-up runs them).
    let text = Value::Object(value.clone()).to_string();
    let parsed = parse_secret(&text).map_err(|e| format!("refused, nothing written: {e}"))?;
    // The providers named, and any whose field was put by name (--field twilio_api_key_sid).
    let touched = PROVIDERS.iter().filter(|p| {
        p.fields
            .iter()
            .any(|f| changed.contains(&f.name) || removed.contains(&f.name))
    });
    for provider in wanted.iter().copied().chain(touched) {
        (provider.check)(&parsed).map_err(|problem| {
            format!("refused, nothing written: {}: {problem}", provider.provider)
        })?;
    }
    // And for each provider the stack deploys with (samconfig.toml's SmsProvider and
    // ProvidersByCountry), named or not:
    // the gateway would not start without them.
    if let Some(chain) = stack_chain()? {
        for provider in secret_holders(&chain) {
            (provider.check)(&parsed).map_err(|problem| {
                format!(
                    "refused, nothing written: samconfig.toml deploys {chain}, and {p}'s credentials would be incomplete ({problem}); put them too: --provider {p}",
                    p = provider.provider
                )
            })?;
        }
    }
    let output = client
        .put_secret_value()
        .secret_id(&request.secret_id)
        .secret_string(text)
        .send()
        .await
        .map_err(|e| {
            let id = &request.secret_id;
            // Refused by Secrets Manager (a 4xx with its code): nothing was written. Anything
            // else (a timeout, a lost connection, an answer not read) may have written it.
            let refused = matches!(&e, SdkError::ServiceError(f)
                if f.raw().status().is_client_error() && f.err().code().is_some());
            match refused {
                true => format!("cannot write the secret {id}: {}", error_line(&e)),
                false => format!(
                    "the secret {id} may or may not have been written ({}): run secret show --secret-id {id} before trying again",
                    error_line(&e)
                ),
            }
        })?;
    let kept: Vec<&str> = value
        .keys()
        .map(String::as_str)
        .filter(|k| !changed.contains(k))
        .collect();
    let mut did = Vec::new();
    if !changed.is_empty() {
        did.push(format!("put {}", changed.join(", ")));
    }
    if !removed.is_empty() {
        did.push(format!("removed {}", removed.join(", ")));
    }
    let mut lines = vec![format!(
        "secret {}: {}; kept {} (version {})",
        request.secret_id,
        did.join("; "),
        if kept.is_empty() {
            "nothing else".to_owned()
        } else {
            kept.join(", ")
        },
        output.version_id().unwrap_or("?")
    )];
    if request.rotate_api_key {
        lines.push(format!(
            "next: give Mosaic the new key (the previous one keeps working until the next rotation): mosaic-sms-gateway register --uri <GatewayUrl> --region <region> --secret-id {}",
            request.secret_id
        ));
    }
    Ok(lines)
}

/// What the stack deploys as `configure` wrote it to samconfig.toml in the working directory, when
/// there is one: `SmsProvider=...`, and `ProvidersByCountry`'s chains (else `None`: the providers
/// named are all that is checked).
fn stack_chain() -> Result<Option<String>, String> {
    let path = std::path::Path::new(SAMCONFIG);
    if !path.is_file() {
        return Ok(None);
    }
    let answers = SamConfig::load(path)?.answers()?;
    let default = configure::parameter("SmsProvider").map_or("sns", |p| p.default);
    let mut deployed = format!(
        "SmsProvider={}",
        answers
            .parameters
            .get("SmsProvider")
            .map_or(default, String::as_str)
    );
    // The chains of ProvidersByCountry deploy their providers too.
    let by_country = answers
        .parameters
        .get("ProvidersByCountry")
        .and_then(|json| serde_json::from_str::<Map<String, Value>>(json).ok())
        .unwrap_or_default();
    let mut chains: Vec<&str> = by_country.values().filter_map(Value::as_str).collect();
    chains.sort_unstable();
    chains.dedup();
    if !chains.is_empty() {
        deployed.push_str(&format!(" and ProvidersByCountry {}", chains.join(",")));
    }
    Ok(Some(deployed))
}

/// The providers of a chain that keep credentials in the secret.
fn secret_holders(deployed: &str) -> Vec<&'static ProviderSecret> {
    PROVIDERS
        .iter()
        .filter(|p| {
            deployed
                .split([',', ' ', '='])
                .any(|name| name.trim() == p.provider)
        })
        .collect()
}

/// `secret show`: each field with its value masked, and whether each provider's credentials are
/// complete.
pub async fn show(secret_id: &str) -> Result<Vec<String>, String> {
    let http = HttpClient::new();
    let client = client(&http).await?;
    let value = current(&client, secret_id).await?;
    let mut lines = vec![format!("secret {secret_id}:")];
    for (name, field) in &value {
        let shown = match field {
            Value::String(s) => format!("[masked], {} characters", s.chars().count()),
            Value::Null => "null".to_owned(),
            _ => "[masked], not a string".to_owned(),
        };
        lines.push(format!("  {name}: {shown}"));
    }
    let parsed = parse_secret(&Value::Object(value.clone()).to_string())
        .map_err(|e| format!("the secret {secret_id}: {e}"))?;
    let chain = stack_chain()?;
    if let Some(chain) = &chain {
        lines.push(format!("samconfig.toml deploys {chain}"));
    }
    let deployed = chain.as_deref().map(secret_holders).unwrap_or_default();
    for provider in PROVIDERS {
        let used = deployed.iter().any(|p| p.provider == provider.provider);
        if used || provider.fields.iter().any(|f| value.contains_key(f.name)) {
            let state = match (provider.check)(&parsed) {
                Ok(()) => "complete".to_owned(),
                Err(problem) => format!("incomplete: {problem}"),
            };
            lines.push(format!("{}: {state}", provider.provider));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_that_reads_the_secret_has_its_fields_here() {
        for provider in PROVIDERS {
            assert!(
                providers::find(provider.provider).is_some(),
                "{}",
                provider.provider
            );
            // An empty secret is incomplete for every provider, and says what is missing.
            let empty = parse_secret(r#"{"api_key": "k"}"#).unwrap();
            let problem = (provider.check)(&empty).unwrap_err();
            assert!(
                provider.fields.iter().any(|f| problem.contains(f.name)),
                "{problem}"
            );
        }
        assert!(provider_secret("sns").is_err());
    }
}
