//! Helpers of the flow tests: one moto server per test run, and fresh,
//! uniquely named AWS resources per test.

use omnibridge::bootstrap::Runtime;
use omnibridge::config::{Env, SecretSource, Settings};
use omnibridge_dev::{emulator, provision, runner};
use secrecy::SecretString;
use std::sync::OnceLock;
use std::time::Duration;

/// The local AWS endpoint: AWS_ENDPOINT_URL if the test command started
/// moto, else a moto server this process starts once (it exits with us).
pub fn endpoint() -> String {
    static MOTO: OnceLock<String> = OnceLock::new();
    MOTO.get_or_init(|| match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            let moto = emulator::Moto::start(0).expect("moto's server (pip install 'moto[server]')");
            let url = moto.endpoint.clone();
            Box::leak(Box::new(moto));
            url
        }
    })
    .clone()
}

pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";

/// A runtime over fresh resources (table, bucket, queues) of this test alone.
pub async fn runtime() -> Runtime {
    runtime_with(|_| {}).await
}

/// Like [`runtime`], with settings adjusted first.
pub async fn runtime_with(adjust: impl FnOnce(&mut Settings)) -> Runtime {
    // Logs only when asked for (RUST_LOG=info): they go straight to stdout.
    if std::env::var_os("RUST_LOG").is_some() {
        omnibridge::bootstrap::init_tracing();
    }
    let aws = emulator::sdk_config(&endpoint()).await;
    let mut settings = Settings::from_lookup(Env(|_: &str| None)).expect("default settings");
    settings.jwt_secret = SecretSource::Value(SecretString::from(JWT_SECRET));
    let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    provision::local_names(&mut settings, &prefix);
    adjust(&mut settings);
    // A short visibility timeout so that failed jobs come back quickly.
    provision::ensure(&aws, &mut settings, 1).await.expect("creating test resources");
    Runtime::with(settings, aws)
}

/// The local runner over `rt`, on a free port.
pub async fn start_runner(rt: &Runtime, workers: bool) -> runner::Running {
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    runner::start(
        rt.clone(),
        runner::RunnerConfig { template, addr: "127.0.0.1:0".parse().unwrap(), workers, poll_wait: Duration::from_secs(1) },
    )
    .await
    .expect("starting the local runner")
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
                let body = axum::body::to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default().to_vec();
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

/// The peer sandboxes on a free port, writing to `omnibridge_url`.
pub async fn start_sandbox(
    omnibridge_url: Option<&str>,
    adjust: impl FnOnce(&mut omnibridge_dev::sandbox::SandboxConfig),
) -> omnibridge_dev::sandbox::RunningSandbox {
    let mut config = omnibridge_dev::sandbox::SandboxConfig::local("127.0.0.1:0".parse().unwrap());
    config.omnibridge_url = omnibridge_url.map(str::to_owned);
    // Event Relay's EventBridge target is an SQS queue of the local AWS.
    config.salesforce.sqs = Some(aws_sdk_sqs::Client::new(&emulator::sdk_config(&endpoint()).await));
    adjust(&mut config);
    omnibridge_dev::sandbox::start(config).await.expect("starting the sandbox")
}

/// omnibridge wired to the peer sandboxes, as `dev/run` wires them.
pub struct System {
    pub sandbox: omnibridge_dev::sandbox::RunningSandbox,
    pub rt: Runtime,
    pub runner: runner::Running,
}

/// Settings pointed at fresh sandboxes (then `adjust`ed), the local runner
/// over them (with or without workers), and the sandboxes writing to it.
pub async fn system(workers: bool, adjust: impl FnOnce(&mut Settings)) -> System {
    let sandbox = start_sandbox(None, |_| {}).await;
    let rt = runtime_with(|s| {
        sandbox.configure(s);
        adjust(s);
    })
    .await;
    let runner = start_runner(&rt, workers).await;
    sandbox.client().set_omnibridge_url(&runner.base_url).await.expect("configuring the sandbox");
    System { sandbox, rt, runner }
}
