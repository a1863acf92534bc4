//! Helpers of the flow tests: one moto server per test run, and a fresh
//! stack of template.yaml per test (uniquely named), deployed as `dev/run`
//! deploys it.

use omnibridge::bootstrap::Runtime;
use omnibridge_dev::lambda::{Binaries, Mode};
use omnibridge_dev::local::{self, Local, LocalOptions, Parameters};
use omnibridge_dev::sandbox::SandboxConfig;
use omnibridge_dev::template::{Stack, Template};
use omnibridge_dev::{emulator, runner};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The local AWS endpoint: AWS_ENDPOINT_URL if the test command started
/// moto, else a moto server this process starts once (it exits with us).
pub fn endpoint() -> String {
    static MOTO: OnceLock<String> = OnceLock::new();
    MOTO.get_or_init(|| match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            let moto =
                emulator::Moto::start(0).expect("moto's server (pip install 'moto[server]')");
            let url = moto.endpoint.clone();
            Box::leak(Box::new(moto));
            url
        }
    })
    .clone()
}

pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The repository's template.yaml.
pub fn template() -> Template {
    Template::read(&root().join("template.yaml")).expect("template.yaml")
}

fn logs() {
    // Logs only when asked for (RUST_LOG=info): they go straight to stdout.
    if std::env::var_os("RUST_LOG").is_some() {
        omnibridge::bootstrap::init_tracing();
    }
}

/// A stack name of this test alone.
fn stack_name() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// The parameters every test stack gets: the JWT key, as a secret.
fn base_parameters(adjust: impl FnOnce(&mut Parameters)) -> Parameters {
    let mut p = Parameters::default();
    p.secret("JwtSecretArn", JWT_SECRET);
    adjust(&mut p);
    p
}

/// An operator's runtime over a fresh stack of this test alone (deployed, no runner).
pub async fn runtime() -> Runtime {
    runtime_with(|_| {}).await
}

/// Like [`runtime`], with template parameters adjusted first.
pub async fn runtime_with(adjust: impl FnOnce(&mut Parameters)) -> Runtime {
    logs();
    let rt = local::deploy(&endpoint(), &template(), &stack_name(), &base_parameters(adjust))
        .await
        .unwrap_or_else(|e| panic!("deploying a test stack: {e:#}"))
        .operator;
    api_users(&rt).await;
    rt
}

/// How to start a local system.
pub struct Options {
    pub workers: bool,
    pub template: Template,
    pub mode: Mode,
    /// The peer sandboxes to start; `None` leaves the peers unconfigured.
    pub sandbox: Option<SandboxConfig>,
}

impl Options {
    pub fn new(workers: bool) -> Options {
        Options {
            workers,
            template: template(),
            mode: Mode::InProcess,
            sandbox: Some(SandboxConfig::local("127.0.0.1:0".parse().unwrap())),
        }
    }

    /// The real function binaries (built by `cargo build --workspace --bins`).
    pub fn binaries(mut self) -> Options {
        self.mode = Mode::Binaries(Binaries {
            dir: debug_binaries(),
            show_logs: std::env::var_os("RUST_LOG").is_some(),
        });
        self
    }
}

/// Where `cargo build --workspace --bins` put the debug binaries.
pub fn debug_binaries() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("debug")
}

/// The whole local stack over the test's emulator, as `dev/run` starts it.
pub async fn start(options: Options, adjust: impl FnOnce(&mut Parameters)) -> Local {
    logs();
    let local = local::start(LocalOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        aws_endpoint: Some(endpoint()),
        dynamodb_endpoint: local::endpoint_from_env("AWS_ENDPOINT_URL_DYNAMODB"),
        moto_port: 0,
        template: options.template,
        stack_name: stack_name(),
        workers: options.workers,
        sandbox: options.sandbox,
        parameters: base_parameters(adjust),
        mode: options.mode,
        invoke_addr: Some("127.0.0.1:0".parse().unwrap()),
        poll_wait: Duration::from_secs(1),
    })
    .await
    .unwrap_or_else(|e| panic!("starting the local stack: {e:#}"));
    api_users(&local.operator).await;
    local
}

/// The stack's API users `yaloUser` and `salesforceUser`, whose tokens the
/// tests issue ([`TEST_PASSWORD`] logs them in): a token is only good while
/// its user exists.
async fn api_users(rt: &Runtime) {
    use omnibridge::ports::UserStore;
    use omnibridge::services::auth::{ApiUser, Role};
    static USERS: OnceLock<Vec<ApiUser>> = OnceLock::new();
    let users = USERS.get_or_init(|| {
        let password = secrecy::SecretString::from(TEST_PASSWORD);
        [("yaloUser", Role::Yalo), ("salesforceUser", Role::Salesforce)]
            .map(|(name, role)| ApiUser::new(name, role, &password).unwrap())
            .to_vec()
    });
    // A stack whose template lost its table (a test of that) has no users.
    let Ok(store) = rt.dynamo() else { return };
    for user in users {
        store.put_user(user, true).await.unwrap();
    }
}

/// The password of the test stacks' API users.
pub const TEST_PASSWORD: &str = "the password of the test users";

/// The local runner over a stack without peers (no sandboxes), with or without workers.
pub async fn start_runner(
    workers: bool,
    adjust: impl FnOnce(&mut Parameters),
) -> (Runtime, runner::Running) {
    let mut options = Options::new(workers);
    options.sandbox = None;
    let local = start(options, adjust).await;
    (local.operator, local.runner)
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request a [`Capture`] server received.
#[derive(Clone, Debug)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A local HTTP server that records what it receives and answers with the
/// statuses it is told (200 once they run out): a stand-in for a webhook receiver.
pub struct Capture {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<Captured>>>,
    statuses: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<u16>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Capture {
    pub async fn start() -> Capture {
        use std::sync::{Arc, Mutex};
        let received: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let statuses: Arc<Mutex<std::collections::VecDeque<u16>>> = Arc::default();
        let (r, s) = (received.clone(), statuses.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (r, s) = (r.clone(), s.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body =
                    axum::body::to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default().to_vec();
                r.lock().unwrap().push(Captured {
                    method: parts.method.to_string(),
                    path: parts.uri.to_string(),
                    headers: parts.headers,
                    body,
                });
                let status = s.lock().unwrap().pop_front().unwrap_or(200);
                (http::StatusCode::from_u16(status).unwrap(), "{}")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Capture { url, received, statuses, task }
    }

    /// The next answers, in order.
    pub fn respond_with(&self, statuses: &[u16]) {
        self.statuses.lock().unwrap().extend(statuses.iter().copied());
    }

    pub fn received(&self) -> Vec<Captured> {
        self.received.lock().unwrap().clone()
    }
}

/// The peer sandboxes alone on a free port, writing to `omnibridge_url`.
pub async fn start_sandbox(
    omnibridge_url: Option<&str>,
    adjust: impl FnOnce(&mut omnibridge_dev::sandbox::SandboxConfig),
) -> omnibridge_dev::sandbox::RunningSandbox {
    let mut config = SandboxConfig::local("127.0.0.1:0".parse().unwrap());
    config.omnibridge_url = omnibridge_url.map(str::to_owned);
    adjust(&mut config);
    omnibridge_dev::sandbox::start(config).await.expect("starting the sandbox")
}

/// omnibridge wired to the peer sandboxes, as `dev/run` wires them.
pub struct System {
    pub sandbox: omnibridge_dev::sandbox::RunningSandbox,
    /// An operator's runtime over the stack.
    pub rt: Runtime,
    pub runner: runner::Running,
    pub stack: Stack,
}

impl From<Local> for System {
    fn from(local: Local) -> System {
        System {
            sandbox: local.sandbox.expect("the sandboxes"),
            rt: local.operator,
            runner: local.runner,
            stack: local.stack,
        }
    }
}

/// The local stack pointed at fresh sandboxes (its template parameters
/// `adjust`ed), with or without workers.
pub async fn system(workers: bool, adjust: impl FnOnce(&mut Parameters)) -> System {
    start(Options::new(workers), adjust).await.into()
}
