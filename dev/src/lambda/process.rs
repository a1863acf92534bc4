//! The real function binaries, each instance its own process behind a
//! Lambda Runtime API emulator of its own (`AWS_LAMBDA_RUNTIME_API`):
//! `GET /2018-06-01/runtime/invocation/next` hands it one event at a time
//! with `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` and
//! `Lambda-Runtime-Invoked-Function-Arn`; `.../response`, `.../error` and
//! `/runtime/init/error` take its answers. An instance starts on demand (a
//! cold start, timed until its first `next`), serves one invocation at a
//! time, and is killed when it runs past its deadline, exceeds its memory
//! size, or exits; the next invocation then starts a new one.
//!
//! The process gets the function's template environment, Lambda's own
//! variables, and credentials of its own for the IAM gateway, and nothing
//! from the runner's environment.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use bytes::Bytes;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{local_concurrency, AwsAccess, Host, Invocation, InvokeError, Outcome, PAYLOAD_LIMIT};
use crate::template::FunctionSpec;

/// Where the function binaries are, and how their output is shown.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub dir: PathBuf,
    /// Print each instance's output, prefixed with its function.
    pub show_logs: bool,
}

impl Binaries {
    pub(crate) fn pool(&self, spec: &FunctionSpec, aws: &AwsAccess) -> anyhow::Result<Pool> {
        let path = self.dir.join(&spec.binary);
        // Absolute: the process starts in the binary's folder (its task root).
        let binary = std::fs::canonicalize(&path).map_err(|_| {
            anyhow::anyhow!("{} is not built (cargo build --workspace --bins)", path.display())
        })?;
        Ok(Pool {
            spec: spec.clone(),
            binary,
            aws: aws.clone(),
            show_logs: self.show_logs,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(
                spec.reserved_concurrency.map_or(local_concurrency(), |r| r as usize),
            )),
        })
    }
}

type Answer = Result<Bytes, InvokeError>;

/// An event handed to an instance, and where its answer goes.
struct Pending {
    request_id: String,
    deadline_ms: u64,
    payload: Bytes,
    answer: oneshot::Sender<Answer>,
}

/// What an instance's Runtime API shares with its owner.
struct Api {
    function_arn: String,
    next: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// Told when the runtime first asks for an event (its init is done) or reports an init error.
    init: Mutex<Option<oneshot::Sender<Result<(), InvokeError>>>>,
}

struct Instance {
    child: tokio::process::Child,
    events: mpsc::Sender<Pending>,
    server: tokio::task::JoinHandle<()>,
    /// Bytes of log lines the instance has written (stdout and stderr).
    log_bytes: Arc<std::sync::atomic::AtomicU64>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.server.abort();
    }
}

impl Instance {
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Peak resident memory so far, in MB (Linux).
    fn max_memory_mb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let kb: u64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kb.div_ceil(1024))
    }

    /// CPU time of all the instance's threads so far (Linux's scheduler statistics, in ns).
    fn cpu(&self) -> Option<Duration> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid()?)).ok()?;
        let ns: u64 = tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Some(Duration::from_nanos(ns))
    }
}

pub(crate) struct Pool {
    spec: FunctionSpec,
    binary: PathBuf,
    aws: AwsAccess,
    show_logs: bool,
    idle: Mutex<Vec<Instance>>,
    slots: Arc<Semaphore>,
}

fn header(h: &mut http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = http::HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

async fn next(State(api): State<Arc<Api>>) -> axum::response::Response {
    if let Some(init) = api.init.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
        let _ = init.send(Ok(()));
    }
    let Some(p) = api.next.lock().await.recv().await else {
        return (http::StatusCode::GONE, "instance stopping").into_response();
    };
    api.in_flight
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(p.request_id.clone(), p.answer);
    let mut res = axum::response::Response::new(axum::body::Body::from(p.payload));
    let h = res.headers_mut();
    header(h, "lambda-runtime-aws-request-id", &p.request_id);
    header(h, "lambda-runtime-deadline-ms", &p.deadline_ms.to_string());
    header(h, "lambda-runtime-invoked-function-arn", &api.function_arn);
    header(
        h,
        "lambda-runtime-trace-id",
        &format!("Root=1-{:08x}-{}", p.deadline_ms / 1000, &p.request_id.replace('-', "")[..24]),
    );
    header(h, "content-type", "application/json");
    res
}

fn finish(api: &Api, id: &str, answer: Answer) -> axum::response::Response {
    match api.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id) {
        Some(tx) => {
            let _ = tx.send(answer);
            (http::StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
        }
        None => (
            http::StatusCode::BAD_REQUEST,
            "{\"errorMessage\":\"Invalid request ID\",\"errorType\":\"InvalidRequestID\"}",
        )
            .into_response(),
    }
}

async fn response(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    body: Bytes,
) -> axum::response::Response {
    if body.len() > PAYLOAD_LIMIT {
        let _ = finish(&api, &id, Err(InvokeError::ResponseTooLarge(body.len())));
        return (http::StatusCode::PAYLOAD_TOO_LARGE, "{\"errorMessage\":\"Exceeded maximum allowed payload size (6291556 bytes).\",\"errorType\":\"RequestEntityTooLarge\"}").into_response();
    }
    finish(&api, &id, Ok(body))
}

fn diagnostic(body: &[u8]) -> InvokeError {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text =
        |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    InvokeError::Failed { error_type: text("errorType"), message: text("errorMessage") }
}

async fn error(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    body: Bytes,
) -> axum::response::Response {
    finish(&api, &id, Err(diagnostic(&body)))
}

async fn init_error(State(api): State<Arc<Api>>, body: Bytes) -> axum::response::Response {
    if let Some(init) = api.init.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
        let mut e = diagnostic(&body);
        if let InvokeError::Failed { error_type, .. } = &mut e {
            *error_type = format!("Runtime.InitError ({error_type})");
        }
        let _ = init.send(Err(e));
    }
    (http::StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}

impl Pool {
    /// Lambda's own variables, the template's, and this instance's credentials.
    fn environment(&self, runtime_api: &str) -> Vec<(String, String)> {
        let s = &self.spec;
        let mut env: Vec<(String, String)> =
            s.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let lambda = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", s.name.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", s.memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", s.name)),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("local/[$LATEST]{}", uuid::Uuid::new_v4().simple()),
            ),
            ("AWS_REGION", self.aws.region.clone()),
            ("AWS_DEFAULT_REGION", self.aws.region.clone()),
            ("AWS_ACCESS_KEY_ID", crate::iam::access_key_id(&s.binary)),
            ("AWS_SECRET_ACCESS_KEY", crate::iam::LOCAL_SECRET_KEY.into()),
            ("AWS_SESSION_TOKEN", "local-session".into()),
            // The emulator's address: what AWS's own endpoints are to a deployed function.
            ("AWS_ENDPOINT_URL", self.aws.gateway_url.clone()),
            ("_HANDLER", "bootstrap".into()),
            (
                "LAMBDA_TASK_ROOT",
                self.binary.parent().map(|p| p.display().to_string()).unwrap_or_default(),
            ),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
            ("TZ", ":UTC".into()),
            ("LANG", "en_US.UTF-8".into()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ];
        env.extend(lambda.into_iter().map(|(k, v)| (k.to_owned(), v)));
        if let Some(f) = &s.log_format {
            env.push(("AWS_LAMBDA_LOG_FORMAT".into(), f.clone()));
        }
        if let Some(l) = &s.log_level {
            env.push(("AWS_LAMBDA_LOG_LEVEL".into(), l.clone()));
        }
        env
    }

    /// A new instance: its Runtime API, its process, and its init (until its first `next`).
    async fn start(&self) -> Result<(Instance, Duration), InvokeError> {
        let started = Instant::now();
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            InvokeError::failed("Runtime.ExitError", format!("{what}: {e}"))
        };
        let (events, receiver) = mpsc::channel(1);
        let (init_tx, init_rx) = oneshot::channel();
        let api = Arc::new(Api {
            function_arn: self.spec.arn.clone(),
            next: tokio::sync::Mutex::new(receiver),
            in_flight: Mutex::default(),
            init: Mutex::new(Some(init_tx)),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| failed("binding the Runtime API", &e))?;
        let runtime_api =
            listener.local_addr().map_err(|e| failed("the Runtime API's address", &e))?.to_string();
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", axum::routing::get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", axum::routing::post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", axum::routing::post(error))
            .route("/2018-06-01/runtime/init/error", axum::routing::post(init_error))
            .with_state(api);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut child = tokio::process::Command::new(&self.binary)
            .env_clear()
            .envs(self.environment(&runtime_api))
            .current_dir(self.binary.parent().unwrap_or(std::path::Path::new(".")))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(&format!("starting {}", self.binary.display()), &e))?;
        let log_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child.stderr.take().map(|e| Box::new(e) as _),
        ]
        .into_iter()
        .flatten()
        {
            let (name, show, bytes) = (self.spec.binary.clone(), self.show_logs, log_bytes.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    bytes.fetch_add(line.len() as u64 + 1, std::sync::atomic::Ordering::Relaxed);
                    if show {
                        println!("[{name}] {line}");
                    }
                }
            });
        }
        let mut instance = Instance { child, events, server, log_bytes };
        // Lambda's init phase is limited to 10 seconds.
        let init = tokio::select! {
            r = init_rx => r.unwrap_or_else(|_| Err(InvokeError::failed("Runtime.ExitError", "the Runtime API stopped"))),
            status = instance.child.wait() => Err(InvokeError::failed("Runtime.ExitError", format!("the runtime exited during init ({})", status.map(|s| s.to_string()).unwrap_or_default()))),
            _ = tokio::time::sleep(Duration::from_secs(10)) => Err(InvokeError::failed("Sandbox.Timedout", "init did not finish within 10 seconds")),
        };
        init.map(|()| (instance, started.elapsed()))
    }

    async fn run(&self, payload: Bytes, invocation: Invocation) -> Result<Outcome, InvokeError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| InvokeError::failed("Runtime.ExitError", "the pool stopped"))?;
        let reused = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let (mut instance, init) = match reused {
            Some(i) => (i, None),
            None => {
                let (i, took) = self.start().await?;
                (i, Some(took))
            }
        };
        let (tx, rx) = oneshot::channel();
        let deadline_ms = invocation
            .deadline
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let pending =
            Pending { request_id: invocation.request_id.clone(), deadline_ms, payload, answer: tx };
        if instance.events.send(pending).await.is_err() {
            return Err(InvokeError::failed("Runtime.ExitError", "the instance stopped"));
        }
        if invocation.crash {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(instance);
            return Err(InvokeError::failed(
                "Runtime.ExitError",
                "the runtime was killed in the middle of the invocation (as asked)",
            ));
        }
        let memory_limit = u64::from(self.spec.memory_mb);
        let mut watch = tokio::time::interval(Duration::from_millis(100));
        let mut rx = rx;
        let answer = loop {
            tokio::select! {
                a = &mut rx => break a.unwrap_or_else(|_| Err(InvokeError::failed("Runtime.ExitError", "the instance stopped"))),
                status = instance.child.wait() => break Err(InvokeError::failed("Runtime.ExitError", format!("the runtime exited ({})", status.map(|s| s.to_string()).unwrap_or_default()))),
                _ = watch.tick() => {
                    if instance.max_memory_mb().is_some_and(|m| m > memory_limit) {
                        break Err(InvokeError::failed("Runtime.OutOfMemory", format!("the instance used more than its {memory_limit} MB")));
                    }
                }
            }
        };
        let (max_memory_mb, cpu) = (instance.max_memory_mb(), instance.cpu());
        let log_bytes = Some(instance.log_bytes.load(std::sync::atomic::Ordering::Relaxed));
        match answer {
            Ok(payload) => {
                self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(instance);
                Ok(Outcome { payload, init, max_memory_mb, cpu, log_bytes })
            }
            // A function error leaves the instance running; anything else ends it.
            Err(e @ InvokeError::Failed { .. }) if !e.error_type().starts_with("Runtime.") => {
                self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(instance);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

impl Host for Pool {
    /// When the caller gives up (the function's timeout), the future is
    /// dropped with the instance in it, which kills the process.
    fn invoke(
        &self,
        payload: Bytes,
        invocation: Invocation,
    ) -> BoxFuture<'_, Result<Outcome, InvokeError>> {
        Box::pin(self.run(payload, invocation))
    }

    fn retire_idle(&self) {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}
