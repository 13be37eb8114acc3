//! Shared test helpers: a moto server on loopback, AWS clients pointed at it, in-process gateways,
//! and a provider that records what it was asked to send.

use async_trait::async_trait;
use aws_config::{BehaviorVersion, SdkConfig};
use axum::body::Body;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use mosaic_sms_gateway::adapters::secrets::ApiKeys;
use mosaic_sms_gateway::app::config::Config;
use mosaic_sms_gateway::app::{Dependencies, StartupError};
use mosaic_sms_gateway::domain::keys::{ApiKey, KeySet};
use mosaic_sms_gateway::domain::outcome::{MessageId, ProviderError};
use mosaic_sms_gateway::domain::ports::SmsProvider;
use mosaic_sms_gateway::domain::sms::SmsRequest;
use mosaic_sms_gateway::entry::http::{AppState, router};
use mosaic_sms_gateway::settings::Host;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tower::ServiceExt;

pub const KEY: &str = "local-dev-key";

/// A moto server shared by every test of this binary. It runs until the test process exits: its
/// stdin is a pipe held here, and the script stops when that pipe closes.
pub struct Moto {
    pub endpoint: String,
    _child: Child,
    _stdin: ChildStdin,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

pub fn moto() -> &'static Moto {
    MOTO.get_or_init(start_moto)
}

/// The Python that scripts/test set up (MOTO_PYTHON), or the project's .venv.
pub fn test_python() -> String {
    std::env::var("MOTO_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").to_owned())
}

fn start_moto() -> Moto {
    let python = test_python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_server.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start moto with {python} ({e}); run the tests with scripts/test")
        });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap_or_else(|_| {
        panic!("moto did not print its port (got {line:?}); is moto installed in {python}?")
    });
    wait_for_port(port, Duration::from_secs(30));
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        _stdin: child.stdin.take().unwrap(),
        _child: child,
    }
}

/// Polls until something accepts connections on `port`, or panics at the deadline.
pub fn wait_for_port(port: u16, deadline: Duration) {
    let until = Instant::now() + deadline;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An endpoint where nothing listens: connections to it are refused at once.
/// The port stays bound (but not listening) for the whole test run, so no other test can take it.
pub fn closed_endpoint() -> String {
    static RESERVED: OnceLock<(tokio::net::TcpSocket, String)> = OnceLock::new();
    let (_, url) = RESERVED.get_or_init(|| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("http://{}", socket.local_addr().unwrap());
        (socket, url)
    });
    url.clone()
}

/// A Secrets Manager client for setting tests up (creating, changing, deleting secrets in moto):
/// the SDK's patient defaults, not the gateway's 1 s client, so a loaded machine slows a test down
/// instead of failing its set-up.
pub async fn secrets_admin() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&aws_config(&moto().endpoint).await)
}

/// A gateway as deployed, against moto: the API key in a new Secrets Manager secret holding
/// `secret_value`, read at start-up, and SNS as the provider.
pub async fn sns_gateway_with_secret(secret_value: &str) -> axum::Router {
    static N: AtomicUsize = AtomicUsize::new(0);
    let sdk = aws_config(&moto().endpoint).await;
    let name = format!(
        "mosaic/gateway-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    secrets_admin()
        .await
        .create_secret()
        .name(&name)
        .secret_string(secret_value)
        .send()
        .await
        .unwrap();
    let config = test_config(&[("GATEWAY_SECRET_ID", &name), ("SMS_PROVIDER", "sns")]);
    let state = app_state(&config, Some(sdk)).unwrap();
    state.keys().warm_up().await;
    router(state)
}

/// The configuration `serve` reads from `vars`, with the test key, and every number sent as it
/// is: the numbering plan's refusals have tests of their own, and many tests send to numbers it
/// would refuse (the stand-ins' +999 and +998).
pub fn test_config(vars: &[(&str, &str)]) -> Config {
    let mut env: HashMap<&str, &str> = [
        ("GATEWAY_API_KEY", KEY),
        ("VALID_NUMBERS_ONLY", "false"),
        ("BLOCKED_NUMBER_TYPES", "none"),
    ]
    .into();
    env.extend(vars.iter().copied());
    Config::from_lookup(Host::Local, |k| env.get(k).map(|v| v.to_string())).unwrap()
}

/// The state built from `config` as the binary builds it (`AppState::build`), AWS at `sdk`.
pub fn app_state(config: &Config, sdk: Option<SdkConfig>) -> Result<AppState, StartupError> {
    AppState::build(
        config,
        Dependencies {
            sdk,
            ..Dependencies::default()
        },
    )
}

/// The state built from [`test_config`] with `providers` (stand-ins, already built) tried in
/// order as its one chain, and `keys` when a test lends its own.
pub fn with_stand_ins(keys: Option<ApiKeys>, providers: Vec<Box<dyn SmsProvider>>) -> AppState {
    let mut config = test_config(&[]);
    // The stand-ins only: the local default (the outbox) would be built and never used.
    config.providers.clear();
    config.default_chain = providers.iter().map(|p| p.name()).collect();
    let dependencies = Dependencies {
        providers,
        keys,
        ..Dependencies::default()
    };
    AppState::build(&config, dependencies).unwrap()
}

/// AWS configuration as the gateway would load it, pointed at `endpoint`, with dummy credentials.
pub async fn aws_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region("us-east-1")
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// The SMS that moto's SNS has published to `phone`: (message, message id), oldest first.
pub async fn sms_sent_to(phone: &str) -> Vec<(String, String)> {
    let data: serde_json::Value = reqwest::get(format!("{}/moto-api/data.json", moto().endpoint))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    data["sns"]["SMS"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|sms| sms["phone_number"] == phone)
        .map(|sms| {
            (
                sms["message"].as_str().unwrap().to_owned(),
                sms["message_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The SNS stand-in (`tests/support/sns_stand_in.py`): refuses +999 numbers (400 InvalidParameter),
/// throttles +998 ones (400 Throttling), publishes the rest. It stops when this is dropped.
pub struct SnsStandIn {
    pub url: String,
    _child: Child,
    _stdin: ChildStdin,
}

pub fn sns_stand_in() -> SnsStandIn {
    let python = test_python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/sns_stand_in.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Both lines it prints (its port, and a closed port these tests reserve another way) are read
    // before the pipe is dropped: a print into a closed pipe would kill it.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    lines.next().unwrap().unwrap();
    wait_for_port(port, std::time::Duration::from_secs(10));
    SnsStandIn {
        url: format!("http://127.0.0.1:{port}"),
        _stdin: child.stdin.take().unwrap(),
        _child: child,
    }
}

/// The Twilio account the stand-in knows, and its auth token (test values, not real ones).
pub const STAND_IN_TWILIO_ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const STAND_IN_TWILIO_TOKEN: &str = "7e577e577e577e577e577e577e577e57";

impl SnsStandIn {
    /// The Twilio messages the stand-in accepted for `phone`.
    pub async fn twilio_messages_to(&self, phone: &str) -> Vec<serde_json::Value> {
        let listed: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "{}/2010-04-01/Accounts/{STAND_IN_TWILIO_ACCOUNT}/Messages.json",
                self.url
            ))
            .basic_auth(STAND_IN_TWILIO_ACCOUNT, Some(STAND_IN_TWILIO_TOKEN))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        listed["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["to"] == phone)
            .cloned()
            .collect()
    }
}

/// A fresh phone number for each call, so tests sharing one moto never see each other's SMS: a
/// valid San Francisco number (the gateway refuses numbers the numbering plan does not know).
pub fn unique_phone() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // The exchange (the three digits after 415) starts with 2 to 9, as NANP's do.
        let exchange = 200 + std::process::id() % 800;
        let phone = format!("+1415{exchange:03}{:04}", n % 10_000);
        let parsed = mosaic_sms_gateway::domain::sms::PhoneNumber::parse(&phone).unwrap();
        if mosaic_sms_gateway::domain::numbering::classify(&parsed).is_some() {
            return phone;
        }
    }
}

/// A provider that records what it is asked to send and answers as told.
#[derive(Clone)]
pub struct Recorder {
    pub name: &'static str,
    pub sent: Arc<Mutex<Vec<SmsRequest>>>,
    answer: Arc<dyn Fn() -> Result<MessageId, ProviderError> + Send + Sync>,
}

impl Recorder {
    pub fn ok(name: &'static str) -> Self {
        Self::answering(name, move || Ok(format!("{name}-msg-1")))
    }

    pub fn answering(
        name: &'static str,
        answer: impl Fn() -> Result<MessageId, ProviderError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            sent: Arc::default(),
            answer: Arc::new(answer),
        }
    }

    pub fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

#[async_trait]
impl SmsProvider for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    /// As a network provider's: a connection and a first answer.
    fn min_send_time(&self) -> Duration {
        mosaic_sms_gateway::adapters::net::MIN_SEND_TIME
    }

    async fn send(
        &self,
        sms: &SmsRequest,
        _deadline: tokio::time::Instant,
    ) -> Result<MessageId, ProviderError> {
        self.sent.lock().unwrap().push(sms.clone());
        (self.answer)()
    }
}

/// A deadline no test reaches, for calling a provider directly.
pub fn far_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(60)
}

pub fn fixed_keys() -> ApiKeys {
    ApiKeys::Fixed(KeySet::single(ApiKey::new(KEY).unwrap()))
}

/// A gateway with the test key and the given providers, as a Router.
pub fn gateway(providers: Vec<Box<dyn SmsProvider>>) -> axum::Router {
    router(with_stand_ins(None, providers))
}

/// Sends `request` through `app` and returns the status, headers and JSON body (Null when empty).
pub async fn call(app: &axum::Router, request: Request<Body>) -> (Response<()>, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    (Response::from_parts(parts, ()), json)
}

pub fn challenge(key: Option<&str>, verification: Option<&str>) -> Request<Body> {
    let mut r = Request::get("/send-sms").header("accept", "application/json, text/plain, */*");
    if let Some(key) = key {
        r = r.header("x-api-key", key);
    }
    if let Some(v) = verification {
        r = r.header("x-verification-key", v);
    }
    r.body(Body::empty()).unwrap()
}

pub fn post(key: Option<&str>, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut r = Request::post("/send-sms");
    if let Some(key) = key {
        r = r.header("x-api-key", key);
    }
    if let Some(ct) = content_type {
        r = r.header("content-type", ct);
    }
    r.body(body.into()).unwrap()
}

pub fn send(body: serde_json::Value) -> Request<Body> {
    post(Some(KEY), Some("application/json"), body.to_string())
}

/// A gateway built from `config` whose first provider (built with the test key, and started) is
/// tried first, then a recorder named `backup` that counts what reaches it; any number is sent,
/// and re-sends are caught in process.
pub async fn first_then_backup(mut config: Config) -> (axum::Router, Recorder) {
    let recorder = Recorder::ok("backup");
    // The first provider only, as configured; the recorder in place of the rest.
    config.providers.truncate(1);
    config.default_chain = vec![config.default_chain[0], recorder.name];
    config.chains_by_country.clear();
    config.numbers = mosaic_sms_gateway::domain::numbering::NumberPolicy::any();
    config.dedupe = Default::default();
    let dependencies = Dependencies {
        providers: vec![Box::new(recorder.clone())],
        keys: Some(fixed_keys()),
        ..Dependencies::default()
    };
    let state = AppState::build(&config, dependencies).unwrap();
    mosaic_sms_gateway::app::start(&state).await.unwrap();
    (router(state), recorder)
}

/// Creates the secret `name` holding `value` in moto; gives the client that did.
pub async fn new_secret(name: &str, value: &str) -> aws_sdk_secretsmanager::Client {
    let secrets = secrets_admin().await;
    secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    secrets
}
