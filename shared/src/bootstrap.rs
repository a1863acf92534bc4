//! One bootstrap for every function: tracing (honouring Lambda's log level and
//! format controls), settings, AWS clients, and the Lambda run loops. A
//! function's `main.rs` names its endpoint or worker and calls [`run_http`] or
//! [`run_worker`]; the local runner builds the same endpoints and workers.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use std::future::Future;

use crate::adapters::{
    dynamodb::{DynamoStore, Retention},
    s3::S3Blobs,
    sqs::SqsQueue,
};
use crate::config::{SecretSource, Settings};
use crate::deadline::{within, work_until, HTTP_DEADLINE_MARGIN, WORKER_DEADLINE_MARGIN};
use crate::ports::QueueName;
use crate::worker::{process_batch, Attempt, RetryPolicy};
use crate::{Error, Result};

pub use crate::error::BoxError;

/// The root certificates AWS's endpoints chain to, compiled in.
const AMAZON_ROOTS: &[u8] = include_bytes!("adapters/amazon-roots.pem");

/// The HTTPS client of the AWS SDK: rustls with ring, like every other HTTPS
/// call omnibridge makes. It trusts the Amazon Trust Services roots that AWS's
/// endpoints chain to, compiled in, plus the PEM file `AWS_CA_BUNDLE` names
/// (for an emulator served over HTTPS): it never reads the system's
/// certificate store, which took most of a cold start (~290 files).
pub fn aws_http_client() -> Result<aws_sdk_dynamodb::config::SharedHttpClient> {
    use aws_smithy_http_client::tls::{
        rustls_provider::CryptoMode, Provider, TlsContext, TrustStore,
    };
    let mut roots = TrustStore::empty().with_pem_certificate(AMAZON_ROOTS);
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| {
            Error::Config(format!("reading AWS_CA_BUNDLE {}: {e}", path.to_string_lossy()))
        })?;
        let valid = <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(&pem).collect::<std::result::Result<Vec<_>, _>>();
        if !matches!(&valid, Ok(certs) if !certs.is_empty()) {
            return Err(Error::Config(format!(
                "AWS_CA_BUNDLE {} holds no PEM certificate",
                path.to_string_lossy()
            )));
        }
        roots.add_pem_certificate(pem);
    }
    let tls = TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .map_err(|e| Error::Config(format!("AWS TLS settings: {e}")))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https())
}

pub use crate::adapters::http_client::install_crypto_provider;

/// Settings and AWS configuration of one process, built once per cold start.
#[derive(Clone, Debug)]
pub struct Runtime {
    pub settings: Settings,
    aws: SdkConfig,
    /// Secrets read from Secrets Manager, by ARN: each is read once per process.
    secrets: std::sync::Arc<tokio::sync::Mutex<std::collections::HashMap<String, SecretString>>>,
}

impl Runtime {
    /// Settings from the environment and the default AWS configuration chain
    /// (which honours `AWS_ENDPOINT_URL`): an operator's command.
    pub async fn load() -> Result<Self> {
        let settings = Settings::from_env()?;
        install_crypto_provider();
        let aws = aws_config::defaults(BehaviorVersion::latest())
            .http_client(aws_http_client()?)
            .load()
            .await;
        Ok(Runtime { settings, aws, secrets: Default::default() })
    }

    /// Settings and AWS configuration as Lambda gives them to a function: all
    /// from its environment (region, the role's credentials, and in the local
    /// stack the endpoint). The default chain's other sources (profiles, SSO,
    /// web identity, IMDS, ECS) have nothing to find in Lambda, and would put
    /// their code (and three more AWS clients) in every function.
    pub async fn from_lambda_environment() -> Result<Self> {
        use aws_config::environment::{
            EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
        };
        use aws_config::meta::region::ProvideRegion;
        use aws_sdk_dynamodb::config::{SharedAsyncSleep, SharedCredentialsProvider};
        let settings = Settings::from_env()?;
        install_crypto_provider();
        let region = EnvironmentVariableRegionProvider::new()
            .region()
            .await
            .ok_or_else(|| Error::Config("AWS_REGION is not set".into()))?;
        let mut aws = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ))
            .http_client(aws_http_client()?)
            .sleep_impl(SharedAsyncSleep::new(aws_smithy_async::rt::sleep::TokioSleep::new()))
            .time_source(aws_smithy_async::time::SystemTimeSource::new())
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard());
        if let Some(url) = std::env::var("AWS_ENDPOINT_URL").ok().filter(|u| !u.is_empty()) {
            aws = aws.endpoint_url(url);
        }
        Ok(Runtime { settings, aws: aws.build(), secrets: Default::default() })
    }

    /// A runtime with explicit settings and AWS configuration (local runner, tests).
    pub fn with(settings: Settings, aws: SdkConfig) -> Self {
        install_crypto_provider();
        Runtime { settings, aws, secrets: Default::default() }
    }

    pub fn aws(&self) -> &SdkConfig {
        &self.aws
    }

    pub fn dynamo(&self) -> Result<DynamoStore> {
        let retention = Retention {
            records: self.settings.retention,
            idempotency: self.settings.idempotency_ttl,
        };
        Ok(DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.aws), self.settings.table()?)
            .with_retention(retention))
    }

    pub fn blobs(&self) -> Result<S3Blobs> {
        // Emulators serve buckets by path, not by virtual host.
        let path_style = self.aws.endpoint_url().is_some();
        let config =
            aws_sdk_s3::config::Builder::from(&self.aws).force_path_style(path_style).build();
        Ok(S3Blobs::new(aws_sdk_s3::Client::from_conf(config), self.settings.bucket()?))
    }

    pub fn queue(&self) -> SqsQueue {
        SqsQueue::new(aws_sdk_sqs::Client::new(&self.aws), &self.settings)
    }

    /// The value of a secret setting; `name` is the variable, for the error.
    /// The first secret asked for from Secrets Manager brings every secret
    /// the settings name there, in one call (`BatchGetSecretValue`) when
    /// there are several: a cold start makes at most one Secrets Manager call.
    pub async fn secret(&self, source: &SecretSource, name: &str) -> Result<SecretString> {
        let arn = match source {
            SecretSource::Value(v) => return Ok(v.clone()),
            SecretSource::Unset => return Err(Error::Config(format!("set {name} or {name}_ARN"))),
            SecretSource::SecretsManager { arn } => arn,
        };
        let mut held = self.secrets.lock().await;
        if let Some(v) = held.get(arn) {
            return Ok(v.clone());
        }
        let client = aws_sdk_secretsmanager::Client::new(&self.aws);
        let wanted: Vec<String> = self
            .settings
            .secret_arns()
            .into_iter()
            .filter(|a| !held.contains_key(*a))
            .map(str::to_owned)
            .collect();
        if wanted.len() > 1 && wanted.contains(arn) {
            // Those it could not read (one this function may not read) are left to GetSecretValue, which says why.
            match client.batch_get_secret_value().set_secret_id_list(Some(wanted)).send().await {
                Ok(out) => {
                    for s in out.secret_values.unwrap_or_default() {
                        if let (Some(arn), Some(value)) = (s.arn, s.secret_string) {
                            held.insert(arn, SecretString::from(value));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.into_service_error(), "reading the secrets together failed; reading them one by one")
                }
            }
            if let Some(v) = held.get(arn) {
                return Ok(v.clone());
            }
        }
        let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
            Error::Config(format!(
                "reading {name}_ARN from Secrets Manager failed: {}",
                e.into_service_error()
            ))
        })?;
        let value = out
            .secret_string
            .map(SecretString::from)
            .ok_or_else(|| Error::Config(format!("{name}_ARN has no string value")))?;
        held.insert(arn.clone(), value.clone());
        Ok(value)
    }

    /// The retry policy of a worker: backoff on its queue, dead letters to its DLQ.
    pub fn retry_policy(&self, queue: QueueName) -> Result<RetryPolicy> {
        let mut policy = RetryPolicy::new(
            self.queue(),
            self.settings.queue_url(queue)?.to_owned(),
            self.settings.dlq_url(queue).map(str::to_owned),
        );
        policy.max_receives = self.settings.max_receives;
        Ok(policy)
    }
}

/// An HTTP endpoint: built once per cold start, then serving requests.
pub trait HttpFunction: Sized + Send + Sync + 'static {
    fn build(rt: &Runtime) -> impl Future<Output = Result<Self>> + Send;
    /// Answers a request. Every failure is already an HTTP answer in the
    /// envelope of the endpoint's API family.
    fn handle(&self, req: Request) -> impl Future<Output = Response<Body>> + Send;
    /// A failure in the envelope of the endpoint's API family (the Yalo
    /// `{"ErrorDescription"}` one unless the endpoint says otherwise).
    fn failure(err: &Error) -> Response<Body> {
        crate::http::v1::failure(err)
    }
}

/// A queue worker: built once per cold start, then processing jobs.
pub trait QueueFunction: Sized + Send + Sync + 'static {
    const QUEUE: QueueName;
    /// What one queue message carries.
    type Job: serde::de::DeserializeOwned + Send;
    fn build(rt: &Runtime) -> impl Future<Output = Result<Self>> + Send;
    /// Processes one job. A retryable error redelivers the job (and holds its
    /// conversation back); a permanent one dead-letters it.
    fn process(&self, job: Self::Job, attempt: Attempt) -> impl Future<Output = Result<()>> + Send;
}

/// Answers one API Gateway request with `endpoint`. A request still running
/// near the invocation's deadline is answered 503 (in the endpoint's
/// envelope) instead of being cut off by Lambda with nothing said.
pub async fn serve_http<E: HttpFunction>(endpoint: &E, req: Request) -> Response<Body> {
    use lambda_http::RequestExt;
    let Some(until) = req.lambda_context_ref().and_then(|c| work_until(c, HTTP_DEADLINE_MARGIN))
    else {
        return endpoint.handle(req).await;
    };
    match within(&until, tokio::time::timeout_at(until.at, endpoint.handle(req))).await {
        Ok(res) => res,
        Err(_) => {
            let err = Error::Retryable {
                what: "the request ran out of time before the function's deadline".into(),
                retry_after: None,
                source: None,
            };
            E::failure(&err)
        }
    }
}

/// Processes one SQS batch with `worker`, finishing before the invocation's deadline.
pub async fn serve_batch<W: QueueFunction>(
    worker: &W,
    retry: Option<&RetryPolicy>,
    event: lambda_runtime::LambdaEvent<SqsEvent>,
) -> SqsBatchResponse {
    let batch = |until: Option<tokio::time::Instant>| {
        process_batch(event.payload, retry, until, |job, attempt| worker.process(job, attempt))
    };
    match work_until(&event.context, WORKER_DEADLINE_MARGIN) {
        Some(until) => within(&until, batch(Some(until.at))).await,
        None => batch(None).await,
    }
}

/// Logs to stdout with the level and format of Lambda's logging controls
/// (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` as a plain level, else INFO;
/// `AWS_LAMBDA_LOG_FORMAT=JSON` for JSON lines). Unlike the runtime's own
/// helper it takes a level, not filter directives, which keeps the regex
/// engine out of every function.
pub fn init_tracing() {
    use std::str::FromStr;
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| LevelFilter::from_str(l.trim()).ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_max_level(level).with_target(false).without_time();
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Cold start, then serve API Gateway requests with `E`.
pub async fn run_http<E: HttpFunction>() -> Result<(), BoxError> {
    init_tracing();
    let rt = Runtime::from_lambda_environment().await?;
    let endpoint = E::build(&rt).await?;
    let endpoint = &endpoint;
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(serve_http(endpoint, req).await)
    }))
    .await
}

/// Cold start, then process SQS batches with `W`, reporting partial batch failures.
pub async fn run_worker<W: QueueFunction>() -> Result<(), BoxError> {
    init_tracing();
    let rt = Runtime::from_lambda_environment().await?;
    let worker = W::build(&rt).await?;
    let retry = rt.retry_policy(W::QUEUE)?;
    let (worker, retry) = (&worker, &retry);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            Ok::<_, std::convert::Infallible>(serve_batch(worker, Some(retry), event).await)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_amazon_roots_are_six_certificates() {
        let certs = <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(AMAZON_ROOTS).collect::<std::result::Result<Vec<_>, _>>().unwrap();
        assert_eq!(certs.len(), 6);
        let mut store = rustls::RootCertStore::empty();
        assert_eq!(store.add_parsable_certificates(certs), (6, 0));
    }

    #[tokio::test]
    async fn when_aws_clients_are_built_the_trust_store_is_the_compiled_in_one() {
        install_crypto_provider();
        let aws = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .http_client(aws_http_client().unwrap())
            .build();
        // Building a client builds its connector, and with it the trust store.
        let _ = aws_sdk_dynamodb::Client::new(&aws);
    }
}
