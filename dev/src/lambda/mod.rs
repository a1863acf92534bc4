//! Lambda as the local stack runs each function: its own configuration from
//! template.yaml, its timeout (the invocation is stopped at the deadline
//! given in its context), the 6 MB limit on what goes in and out of a
//! synchronous invocation, its reserved concurrency (beyond it, invocations
//! are throttled), and a REPORT line per invocation like CloudWatch's.
//!
//! The code runs in one of two hosts: in this process (the handlers the
//! function binaries wire, fed the same event JSON), or as the real function
//! binaries behind a Lambda Runtime API emulator ([`process`]).

pub mod apigw;
pub mod bus;
mod in_process;
pub mod invoke_api;
mod process;
pub mod sqs;

use bytes::Bytes;
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Semaphore;

use crate::template::FunctionSpec;

pub use process::Binaries;

/// Lambda's limit on a synchronous invocation's request and response payloads.
pub const PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// Instances of a function without reserved concurrency the local stack runs
/// at once (AWS scales to the account's limit; this machine is smaller):
/// `OMNIBRIDGE_LOCAL_CONCURRENCY`, 8 by default.
pub fn local_concurrency() -> usize {
    std::env::var("OMNIBRIDGE_LOCAL_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(8)
}

/// Why an invocation gave no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvokeError {
    /// Reserved concurrency exhausted (`TooManyRequestsException`).
    Throttled,
    /// The event is over [`PAYLOAD_LIMIT`] (`RequestEntityTooLargeException`).
    RequestTooLarge(usize),
    /// The function answered more than [`PAYLOAD_LIMIT`].
    ResponseTooLarge(usize),
    /// The function ran past its timeout and was stopped.
    TimedOut(Duration),
    /// The function failed: its own error, a failed init, or a crashed runtime.
    Failed { error_type: String, message: String },
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Throttled => write!(f, "Rate Exceeded (reserved concurrency in use)"),
            InvokeError::RequestTooLarge(n) => write!(f, "Request must be smaller than {PAYLOAD_LIMIT} bytes for the InvokeFunction operation ({n} bytes)"),
            InvokeError::ResponseTooLarge(n) => write!(f, "Response payload size ({n} bytes) exceeded maximum allowed payload size ({PAYLOAD_LIMIT} bytes)."),
            InvokeError::TimedOut(d) => write!(f, "Task timed out after {:.2} seconds", d.as_secs_f64()),
            InvokeError::Failed { error_type, message } => write!(f, "{error_type}: {message}"),
        }
    }
}

impl InvokeError {
    pub fn failed(error_type: &str, message: impl Into<String>) -> Self {
        InvokeError::Failed { error_type: error_type.to_owned(), message: message.into() }
    }

    /// Lambda's error type for it.
    pub fn error_type(&self) -> &str {
        match self {
            InvokeError::Throttled => "TooManyRequestsException",
            InvokeError::RequestTooLarge(_) => "RequestEntityTooLargeException",
            InvokeError::ResponseTooLarge(_) => "Function.ResponseSizeTooLarge",
            InvokeError::TimedOut(_) => "Sandbox.Timedout",
            InvokeError::Failed { error_type, .. } => error_type,
        }
    }
}

/// One invocation as the host sees it.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub request_id: String,
    pub deadline: SystemTime,
    /// The runtime dies in the middle of this one (a crash, for fault tests).
    pub crash: bool,
}

/// What a host answers.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub payload: Bytes,
    /// Set when this invocation started a new instance: its init time.
    pub init: Option<Duration>,
    /// Peak memory of the instance, where the host can tell.
    pub max_memory_mb: Option<u64>,
    /// CPU time the instance has used since it started, where the host can tell.
    pub cpu: Option<Duration>,
    /// Bytes the instance has logged since it started, where the host can tell.
    pub log_bytes: Option<u64>,
}

/// Where a function's code runs.
pub(crate) trait Host: Send + Sync {
    fn invoke(
        &self,
        payload: Bytes,
        invocation: Invocation,
    ) -> BoxFuture<'_, Result<Outcome, InvokeError>>;
    /// Stops the idle instances, so that the next invocation is a cold start.
    fn retire_idle(&self) {}
}

/// A deployed function: its configuration and the instances running it.
pub struct Function {
    pub spec: FunctionSpec,
    host: Box<dyn Host>,
    reserved: Option<Arc<Semaphore>>,
    invocations: AtomicU64,
    cold_starts: AtomicU64,
    crash: std::sync::atomic::AtomicBool,
    /// The events of the invocations that crashed as asked.
    crashed: std::sync::Mutex<Vec<Bytes>>,
}

impl Function {
    pub(crate) fn new(spec: FunctionSpec, host: Box<dyn Host>) -> Function {
        let reserved = spec.reserved_concurrency.map(|n| Arc::new(Semaphore::new(n as usize)));
        Function {
            spec,
            host,
            reserved,
            invocations: AtomicU64::new(0),
            cold_starts: AtomicU64::new(0),
            crash: Default::default(),
            crashed: Default::default(),
        }
    }

    /// Invokes the function synchronously with an event (JSON).
    pub async fn invoke(&self, payload: Bytes) -> Result<Bytes, InvokeError> {
        self.invoke_measured(payload).await.map(|o| o.payload)
    }

    /// [`Function::invoke`], with what the host measured of the instance.
    pub async fn invoke_measured(&self, payload: Bytes) -> Result<Outcome, InvokeError> {
        if payload.len() > PAYLOAD_LIMIT {
            return Err(InvokeError::RequestTooLarge(payload.len()));
        }
        let _permit = match &self.reserved {
            Some(slots) => {
                Some(slots.clone().try_acquire_owned().map_err(|_| InvokeError::Throttled)?)
            }
            None => None,
        };
        let timeout = self.spec.timeout;
        let crash = self.crash.swap(false, Ordering::SeqCst);
        if crash {
            self.crashed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(payload.clone());
        }
        let invocation = Invocation {
            request_id: uuid::Uuid::new_v4().to_string(),
            deadline: SystemTime::now() + timeout,
            crash,
        };
        let started = Instant::now();
        let result = match tokio::time::timeout(
            timeout,
            self.host.invoke(payload, invocation.clone()),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(InvokeError::TimedOut(timeout)),
        };
        let result = result.and_then(|o| {
            if o.payload.len() > PAYLOAD_LIMIT {
                Err(InvokeError::ResponseTooLarge(o.payload.len()))
            } else {
                Ok(o)
            }
        });
        self.invocations.fetch_add(1, Ordering::Relaxed);
        // As Lambda reports it: the init phase is not part of the duration.
        let took = started
            .elapsed()
            .saturating_sub(result.as_ref().ok().and_then(|o| o.init).unwrap_or_default());
        match &result {
            Ok(o) => {
                if o.init.is_some() {
                    self.cold_starts.fetch_add(1, Ordering::Relaxed);
                }
                self.report(&invocation.request_id, took, o.init, o.max_memory_mb);
            }
            Err(e) => {
                self.report(&invocation.request_id, took, None, None);
                tracing::warn!(target: "lambda", "{} RequestId: {} {}", self.spec.binary, invocation.request_id, e);
            }
        }
        result
    }

    /// CloudWatch's REPORT line, with the function's name in front.
    fn report(
        &self,
        request_id: &str,
        took: Duration,
        init: Option<Duration>,
        memory: Option<u64>,
    ) {
        let ms = took.as_secs_f64() * 1000.0;
        let mut line = format!(
            "{} REPORT RequestId: {request_id} Duration: {ms:.2} ms Billed Duration: {} ms Memory Size: {} MB",
            self.spec.binary,
            ms.ceil() as u64,
            self.spec.memory_mb
        );
        if let Some(m) = memory {
            line.push_str(&format!(" Max Memory Used: {m} MB"));
        }
        if let Some(i) = init {
            line.push_str(&format!(
                " Init Duration: {:.2} ms (cold start)",
                i.as_secs_f64() * 1000.0
            ));
        }
        tracing::info!(target: "lambda", "{line}");
    }

    /// Makes the next invocation die in the middle, as a crashed runtime would.
    pub fn crash_next(&self) {
        self.crash.store(true, Ordering::SeqCst);
    }

    /// The events of the invocations that crashed as asked.
    pub fn crashed(&self) -> Vec<Bytes> {
        self.crashed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Stops the idle instances: the next invocation is a cold start.
    pub fn retire_idle(&self) {
        self.host.retire_idle();
    }

    /// Invocations so far, and how many of them started an instance.
    pub fn counts(&self) -> (u64, u64) {
        (self.invocations.load(Ordering::Relaxed), self.cold_starts.load(Ordering::Relaxed))
    }
}

/// Where the functions run.
#[derive(Clone, Debug)]
pub enum Mode {
    /// In this process, with the handlers the function binaries wire.
    InProcess,
    /// As the function binaries, each instance its own process.
    Binaries(Binaries),
}

/// Starts hosting `spec` (nothing runs until the first invocation: that is its cold start).
pub(crate) fn host(
    spec: &FunctionSpec,
    mode: &Mode,
    aws: &crate::lambda::AwsAccess,
) -> anyhow::Result<Box<dyn Host>> {
    Ok(match mode {
        Mode::InProcess => Box::new(in_process::InProcess::new(spec.clone(), aws.clone())),
        Mode::Binaries(b) => Box::new(b.pool(spec, aws)?),
    })
}

/// How a function reaches the local AWS: through the IAM gateway, as itself.
#[derive(Clone, Debug)]
pub struct AwsAccess {
    pub gateway_url: String,
    pub region: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A host that answers `size` bytes after `delay`.
    struct Fake {
        delay: Duration,
        size: usize,
    }

    impl Host for Fake {
        fn invoke(&self, _: Bytes, _: Invocation) -> BoxFuture<'_, Result<Outcome, InvokeError>> {
            Box::pin(async move {
                tokio::time::sleep(self.delay).await;
                Ok(Outcome {
                    payload: Bytes::from(vec![b' '; self.size]),
                    init: None,
                    max_memory_mb: None,
                    cpu: None,
                    log_bytes: None,
                })
            })
        }
    }

    fn function(timeout: u64, reserved: Option<u32>, delay: Duration, size: usize) -> Function {
        let spec = FunctionSpec {
            logical_id: "F".into(),
            binary: "f".into(),
            name: "s-F".into(),
            arn: "arn:aws:lambda:us-east-1:123456789012:function:s-F".into(),
            role_arn: "arn:aws:iam::123456789012:role/s-FRole".into(),
            environment: BTreeMap::new(),
            timeout: Duration::from_secs(timeout),
            memory_mb: 128,
            reserved_concurrency: reserved,
            log_format: None,
            log_level: None,
            policy: Default::default(),
            routes: Vec::new(),
            queue_sources: Vec::new(),
        };
        Function::new(spec, Box::new(Fake { delay, size }))
    }

    #[tokio::test]
    async fn when_an_invocation_breaks_a_lambda_limit_should_fail_as_lambda_fails_it() {
        let quick = function(1, None, Duration::ZERO, 10);
        assert_eq!(quick.invoke(Bytes::from_static(b"{}")).await.unwrap().len(), 10);
        assert_eq!(
            quick.invoke(Bytes::from(vec![b' '; PAYLOAD_LIMIT + 1])).await,
            Err(InvokeError::RequestTooLarge(PAYLOAD_LIMIT + 1))
        );
        let big = function(1, None, Duration::ZERO, PAYLOAD_LIMIT + 1);
        assert_eq!(
            big.invoke(Bytes::from_static(b"{}")).await,
            Err(InvokeError::ResponseTooLarge(PAYLOAD_LIMIT + 1))
        );
        let slow = function(1, None, Duration::from_secs(3), 10);
        assert_eq!(
            slow.invoke(Bytes::from_static(b"{}")).await,
            Err(InvokeError::TimedOut(Duration::from_secs(1)))
        );
        // Reserved concurrency 1: a second invocation while the first runs is throttled.
        let one = Arc::new(function(2, Some(1), Duration::from_millis(300), 10));
        let first = tokio::spawn({
            let one = one.clone();
            async move { one.invoke(Bytes::from_static(b"{}")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(one.invoke(Bytes::from_static(b"{}")).await, Err(InvokeError::Throttled));
        assert!(first.await.unwrap().is_ok());
        assert_eq!(
            function(1, Some(0), Duration::ZERO, 1).invoke(Bytes::from_static(b"{}")).await,
            Err(InvokeError::Throttled)
        );
    }
}
