//! The local runner: every route of template.yaml on one port, served by the
//! same handlers the Lambda binaries run, and the queue workers polling the
//! same SQS queues in-process (receive, run the batch, delete what
//! succeeded, leave failures for redelivery).

use anyhow::Context;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use axum::body::Bytes;
use axum::extract::State;
use lambda_http::RequestExt;
use omnibridge::bootstrap::Runtime;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::registry::{self, BatchHandler, HttpHandler};
use crate::template::{match_path, Route, Template};

pub struct RunnerConfig {
    pub template: PathBuf,
    pub addr: SocketAddr,
    pub workers: bool,
    /// Long-poll wait of each receive.
    pub poll_wait: Duration,
}

/// A running local runner; stops its server and workers when dropped or shut down.
pub struct Running {
    pub base_url: String,
    pub routes: Vec<Route>,
    pub workers: Vec<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    crashes: Crashes,
}

/// Workers told to die in the middle of their next batch (for fault tests),
/// and how many batches died so.
type Crashes = Arc<(std::sync::Mutex<HashSet<String>>, std::sync::atomic::AtomicUsize)>;

impl Running {
    /// Makes the worker of `function` stop in the middle of its next batch,
    /// as a Lambda that times out or crashes: the batch is dropped half done
    /// and nothing is deleted, so SQS delivers it again.
    pub fn crash_next_batch(&self, function: &str) {
        self.crashes.0.lock().unwrap_or_else(|p| p.into_inner()).insert(function.to_owned());
    }

    /// How many batches have crashed as asked.
    pub fn crashed(&self) -> usize {
        self.crashes.1.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct App {
    routes: Vec<(Route, HttpHandler)>,
}

pub async fn start(rt: Runtime, config: RunnerConfig) -> anyhow::Result<Running> {
    let template = Template::read(&config.template)?;
    let mut built: HashMap<String, HttpHandler> = HashMap::new();
    let mut routes = Vec::new();
    for route in &template.routes {
        if !built.contains_key(&route.function) {
            let h = registry::http_function(&route.function, &rt).await.with_context(|| format!("building {}", route.function))?;
            built.insert(route.function.clone(), h);
        }
        routes.push((route.clone(), built[&route.function].clone()));
    }
    let app = Arc::new(App { routes });
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();

    let listener = tokio::net::TcpListener::bind(config.addr).await.with_context(|| format!("binding {}", config.addr))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let router = axum::Router::new().fallback(serve).with_state(app);
    let mut server_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        let shutdown = async move {
            let _ = server_stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "local HTTP server stopped");
        }
    }));

    let mut workers = Vec::new();
    let crashes: Crashes = Arc::default();
    if config.workers {
        let sqs = aws_sdk_sqs::Client::new(rt.aws());
        for source in &template.queues {
            let handler = registry::worker_function(&source.function, &rt).await?;
            let url = rt.settings.queue_url(source.queue)?.to_owned();
            workers.push(format!("{} <- {}", source.function, source.queue.as_str()));
            let crash = Crash { function: source.function.clone(), crashes: crashes.clone() };
            tasks.push(tokio::spawn(poll(sqs.clone(), url, handler, config.poll_wait, stopped.clone(), crash)));
        }
    }
    Ok(Running { base_url, routes: template.routes, workers, stop, tasks, crashes })
}

/// API Gateway's answer for a path no route matches.
fn not_found() -> axum::response::Response {
    let mut res = axum::response::Response::new(axum::body::Body::from(r#"{"message":"Not Found"}"#));
    *res.status_mut() = http::StatusCode::NOT_FOUND;
    res.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    res
}

async fn serve(State(app): State<Arc<App>>, req: axum::extract::Request) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let found = app.routes.iter().find_map(|(route, handler)| {
        (route.method == method || route.method == "ANY")
            .then(|| match_path(&route.path, parts.uri.path()).map(|params| (handler.clone(), params)))
            .flatten()
    });
    let Some((handler, params)) = found else { return not_found() };
    let bytes: Bytes = match axum::body::to_bytes(body, 10 * 1024 * 1024).await {
        Ok(b) => b,
        // API Gateway's own answer for a payload over its limit.
        Err(_) => {
            let mut res = axum::response::Response::new(axum::body::Body::from(r#"{"message":"Request Entity Too Large"}"#));
            *res.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
            return res;
        }
    };
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(text) if text.is_empty() => lambda_http::Body::Empty,
        Ok(text) => lambda_http::Body::Text(text),
        Err(e) => lambda_http::Body::Binary(e.into_bytes()),
    };
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(parts.uri.query().unwrap_or("")).unwrap_or_default() {
        query.entry(k).or_default().push(v);
    }
    let path_params: HashMap<String, String> = params.into_iter().collect();
    let req = http::Request::from_parts(parts, body).with_query_string_parameters(query).with_path_parameters(path_params);
    let res = handler(req).await;
    let (parts, body) = res.into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body.to_vec()))
}

/// SQS messages as the Lambda SQS event carries them.
pub fn to_event(messages: Vec<aws_sdk_sqs::types::Message>) -> SqsEvent {
    let mut event = SqsEvent::default();
    for m in messages {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id;
        record.receipt_handle = m.receipt_handle;
        record.body = m.body;
        record.attributes = m.attributes.unwrap_or_default().into_iter().map(|(k, v)| (k.as_str().to_owned(), v)).collect();
        record.event_source = Some("aws:sqs".into());
        event.records.push(record);
    }
    event
}

struct Crash {
    function: String,
    crashes: Crashes,
}

impl Crash {
    fn due(&self) -> bool {
        let due = self.crashes.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.function);
        if due {
            self.crashes.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        due
    }
}

/// One worker: poll, run the batch, delete the successes.
async fn poll(
    sqs: aws_sdk_sqs::Client,
    url: String,
    handler: BatchHandler,
    wait: Duration,
    mut stopped: watch::Receiver<bool>,
    crash: Crash,
) {
    while !*stopped.borrow() {
        let receive = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send();
        let out = tokio::select! {
            out = receive => out,
            _ = stopped.changed() => break,
        };
        let messages = match out {
            Ok(o) => o.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), queue = %url, "receive failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if messages.is_empty() {
            if wait.is_zero() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            continue;
        }
        let event = to_event(messages);
        let handles: Vec<(String, String)> = event
            .records
            .iter()
            .filter_map(|r| Some((r.message_id.clone()?, r.receipt_handle.clone()?)))
            .collect();
        if crash.due() {
            // Run the batch a little, then drop it half done.
            let _ = tokio::time::timeout(Duration::from_millis(30), handler(event)).await;
            tracing::warn!(worker = %crash.function, "worker crashed in the middle of a batch (as asked); SQS will deliver it again");
            continue;
        }
        let response = handler(event).await;
        let failed: HashSet<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        let done: Vec<DeleteMessageBatchRequestEntry> = handles
            .iter()
            .enumerate()
            .filter(|(_, (id, _))| !failed.contains(id))
            .filter_map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(receipt).build().ok()
            })
            .collect();
        if !done.is_empty() {
            if let Err(e) = sqs.delete_message_batch().queue_url(&url).set_entries(Some(done)).send().await {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "delete failed; messages will be redelivered");
            }
        }
    }
}
