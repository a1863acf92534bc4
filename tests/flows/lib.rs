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
