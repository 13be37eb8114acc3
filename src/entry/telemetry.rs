//! Logging: JSON in Lambda, readable text locally; one event per request (see `http`).
//!
//! Dependencies (the AWS SDK, hyper, the Lambda runtime) log requests and bodies at debug and trace
//! level, and those bodies hold passcodes and secrets. So whatever level is asked for, only this
//! crate logs below `warn`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The filter for a requested level (`AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`: `error` ... `trace`).
/// Anything that is not a plain level reads as `info`.
pub fn filter(requested: Option<&str>) -> EnvFilter {
    let level = requested
        .map(str::trim)
        .and_then(|l| {
            // Lambda's log levels include FATAL, which tracing calls error.
            if l.eq_ignore_ascii_case("fatal") {
                Some(LevelFilter::ERROR)
            } else {
                l.parse::<LevelFilter>().ok()
            }
        })
        .unwrap_or(LevelFilter::INFO);
    let others = level.min(LevelFilter::WARN);
    // aws_config warns about every place it looked for a region or credentials and did not find
    // them (IMDS, profiles); a clear start-up error says what is missing instead.
    let aws_config = level.min(LevelFilter::ERROR);
    EnvFilter::new(format!(
        "{others},aws_config={aws_config},mosaic_sms_gateway={level}"
    ))
}

/// Installs the global subscriber, writing to `writer`; `terminal` says whether that is a terminal
/// (colours only for a person at one, not in files or pipes).
pub fn init<W>(json: bool, terminal: bool, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let requested = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(requested.as_deref()))
        .with_writer(writer);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.with_target(false).with_ansi(terminal).init();
    }
}
