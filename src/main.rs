//! The binary: the Lambda bootstrap when `AWS_LAMBDA_RUNTIME_API` is set, a local server otherwise.

use clap::{Parser, Subcommand};
use mosaic_sms_gateway::adapters::emf::Metrics;
use mosaic_sms_gateway::app::config::{Config, KeyConfig};
use mosaic_sms_gateway::app::{self, AppState, Dependencies, StartupError};
use mosaic_sms_gateway::entry::commands::{self, KeySource};
use mosaic_sms_gateway::entry::configure;
use mosaic_sms_gateway::entry::mosaic::Region;
use mosaic_sms_gateway::entry::secret;
use mosaic_sms_gateway::settings::Host;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Parser)]
#[command(version, about = "A custom SMS gateway for Transmit Security Mosaic")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway over HTTP (what plain `cargo run` does outside Lambda).
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
    },
    /// Send Mosaic's validation challenge to a gateway, exactly as Mosaic does; optionally one test
    /// SMS. Exits 0 only if it passes.
    Check {
        /// The gateway's URL (the stack's GatewayUrl output, or a local `serve`).
        #[arg(long)]
        uri: String,
        #[command(flatten)]
        key: KeySource,
        /// Then send one real SMS to this number (E.164) through the gateway.
        #[arg(long, value_name = "+E164")]
        send_to: Option<String>,
        /// The test SMS's text.
        #[arg(
            long,
            requires = "send_to",
            default_value = "Test message from mosaic-sms-gateway check"
        )]
        message: String,
    },
    /// Register a gateway as the Mosaic tenant's SMS provider, after checking it passes Mosaic's
    /// challenge. Client credentials from MOSAIC_CLIENT_ID and MOSAIC_CLIENT_SECRET.
    Register {
        /// The gateway's URL (the stack's GatewayUrl output).
        #[arg(long)]
        uri: String,
        /// The Mosaic region of the tenant.
        #[arg(long, value_enum)]
        region: Region,
        #[command(flatten)]
        key: KeySource,
        /// Mosaic's API root instead of the region's (a stand-in).
        #[arg(long, value_name = "URL")]
        api_base: Option<String>,
        /// Check everything and print what would be sent (the key masked); change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write samconfig.toml for `sam build && sam deploy`: asks only what the choice needs (stack,
    /// region, provider and its settings, countries, an alarm address) and keeps the template's
    /// other defaults. Without a terminal it asks nothing: pass the answers as flags.
    Configure {
        /// The file to write (read first, when it exists: a second run starts from it).
        #[arg(long, default_value = "samconfig.toml")]
        file: std::path::PathBuf,
        /// The CloudFormation stack's name (at most 56 characters).
        #[arg(long, value_name = "NAME")]
        stack_name: Option<String>,
        /// The AWS Region to deploy to.
        #[arg(long)]
        region: Option<String>,
        /// SmsProvider: sns, end-user-messaging, twilio, vonage, infobip,
        /// salesforce-marketing-cloud, http, or two tried in order (twilio,sns).
        #[arg(long, value_name = "CHAIN")]
        provider: Option<String>,
        /// AlarmEmail: the address the alarms notify.
        #[arg(long, value_name = "ADDRESS")]
        alarm_email: Option<String>,
        /// Any template parameter (repeat for more): --parameter TwilioFrom=+14155550100.
        #[arg(long, value_name = "NAME=VALUE")]
        parameter: Vec<String>,
    },
    /// Put provider credentials into the gateway secret, or show what it holds (masked), with
    /// your AWS credentials; the secret's JSON is never written by hand.
    Secret {
        #[command(subcommand)]
        action: SecretAction,
    },
}

#[derive(Subcommand)]
enum SecretAction {
    /// Ask for a provider's fields (without echo) and merge them into the secret, keeping every
    /// other field; refuse a value the gateway could not start with; write one new version.
    Put {
        /// The gateway secret (name or ARN; the stack's ApiKeySecretArn output).
        #[arg(long, value_name = "ID")]
        secret_id: String,
        /// A provider whose credentials to put: twilio, vonage, infobip,
        /// salesforce-marketing-cloud (repeat for more).
        #[arg(long, value_name = "NAME")]
        provider: Vec<String>,
        /// Another field to put (an http description's {secret.FIELD}; repeat for more).
        #[arg(long, value_name = "FIELD")]
        field: Vec<String>,
        /// Take each field from the environment variable of its name in capitals
        /// (VONAGE_API_KEY), instead of asking; an unset one keeps the secret's.
        #[arg(long)]
        from_env: bool,
        /// A field to take out (repeat for more): previous_api_key ends the key before the last
        /// rotation; a provider's optional field. Not api_key or fingerprint_key.
        #[arg(long, value_name = "FIELD")]
        remove: Vec<String>,
        /// Make a new API key; the current one becomes previous_api_key until the next rotation.
        #[arg(long)]
        rotate_api_key: bool,
        /// With --rotate-api-key: replace the previous_api_key an earlier rotation kept (only once
        /// Mosaic has been registered with the current key).
        #[arg(long, requires = "rotate_api_key")]
        retire_previous_key: bool,
    },
    /// List the secret's fields, every value masked, and whether each provider's are complete.
    Show {
        /// The gateway secret (name or ARN).
        #[arg(long, value_name = "ID")]
        secret_id: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let result = match cli.command {
        Some(Command::Check {
            uri,
            key,
            send_to,
            message,
        }) => {
            return report(
                commands::check(&uri, &key, send_to.as_deref(), &message)
                    .await
                    .map(|lines| lines.join("\n")),
            );
        }
        Some(Command::Register {
            uri,
            region,
            key,
            api_base,
            dry_run,
        }) => {
            return report(
                commands::register(&uri, region, &key, api_base.as_deref(), dry_run).await,
            );
        }
        Some(Command::Configure {
            file,
            stack_name,
            region,
            provider,
            alarm_email,
            parameter,
        }) => {
            let request = configure::Request {
                file,
                stack_name,
                region,
                provider,
                alarm_email,
                parameters: parameter,
            };
            return report(configure::configure(&request).map(|lines| lines.join("\n")));
        }
        Some(Command::Secret { action }) => {
            let result = match action {
                SecretAction::Put {
                    secret_id,
                    provider,
                    field,
                    from_env,
                    remove,
                    rotate_api_key,
                    retire_previous_key,
                } => {
                    let source = match from_env {
                        true => secret::Source::Environment,
                        false => secret::Source::Terminal,
                    };
                    secret::put(&secret::Put {
                        secret_id,
                        providers: provider,
                        fields: field,
                        remove,
                        source,
                        rotate_api_key,
                        retire_previous_key,
                    })
                    .await
                }
                SecretAction::Show { secret_id } => secret::show(&secret_id).await,
            };
            return report(result.map(|lines| lines.join("\n")));
        }
        Some(Command::Serve { addr }) => serve(addr).await,
        None if in_lambda => lambda().await,
        None => serve(SocketAddr::from(([127, 0, 0, 1], 3000))).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mosaic-sms-gateway: {err}");
            ExitCode::FAILURE
        }
    }
}

/// An admin command's outcome: its lines on stdout and exit 0, or one line on stderr and exit 1.
fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(lines) => {
            println!("{lines}");
            ExitCode::SUCCESS
        }
        Err(line) => {
            // One line, whatever the error's text holds.
            eprintln!("mosaic-sms-gateway: {}", line.replace(['\n', '\r'], " "));
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum MainError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    #[error("the Lambda runtime stopped: {0}")]
    Lambda(lambda_http::Error),
}

async fn lambda() -> Result<(), MainError> {
    let json =
        !std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let terminal = std::io::stdout().is_terminal();
    mosaic_sms_gateway::entry::telemetry::init(json, terminal, std::io::stdout);
    let config = Config::from_env(Host::Lambda).map_err(StartupError::from)?;
    let metrics = Metrics::Emf {
        function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
    };
    let state = AppState::build(&config, Dependencies::load(&config, metrics).await?)?;
    // During init: the secret is read and the providers' connections opened before the first
    // request.
    app::start(&state).await?;
    mosaic_sms_gateway::entry::lambda::run(state)
        .await
        .map_err(MainError::Lambda)
}

async fn serve(addr: SocketAddr) -> Result<(), MainError> {
    let terminal = std::io::stderr().is_terminal();
    mosaic_sms_gateway::entry::telemetry::init(false, terminal, std::io::stderr);
    let config = Config::from_env(Host::Local).map_err(StartupError::from)?;
    let state = AppState::build(&config, Dependencies::load(&config, Metrics::Off).await?)?;
    app::start(&state).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MainError::Listen { addr, source })?;
    let local = listener.local_addr().map_err(MainError::Serve)?;

    // Plain lines on stdout, not log events: the development key must reach the user, and log
    // events never carry keys.
    // The providers line comes last: it says start-up is over.
    println!("mosaic-sms-gateway listening on http://{local}");
    if let KeyConfig::Generated(key) = &config.keys {
        println!(
            "development API key (generated for this run): {}",
            key.expose()
        );
    }
    println!("providers: {}", state.gateway().provider_names().join(", "));
    mosaic_sms_gateway::entry::http::serve(listener, state, shutdown_signal())
        .await
        .map_err(MainError::Serve)
}

/// Ctrl-C or SIGTERM: stop accepting, let requests under way finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
