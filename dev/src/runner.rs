//! The local runner: the stack's functions behind API Gateway's HTTP API on
//! one port, their SQS event source mappings, Lambda's Invoke API (for
//! `cargo lambda invoke`), and the IAM gateway every function reaches AWS
//! through. Everything each function gets comes from its entry in
//! template.yaml ([`Stack`]); the functions run in this process or as the
//! real binaries ([`Mode`]).

use anyhow::Context;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::iam::{Gateway, Upstreams};
use crate::lambda::{self, apigw, invoke_api, AwsAccess, Function, Mode};
use crate::template::{Route, Stack};

pub struct RunnerConfig {
    pub stack: Stack,
    pub mode: Mode,
    /// Where to serve the HTTP API (bound by the caller, who may need its address first).
    pub listener: tokio::net::TcpListener,
    /// Where to serve Lambda's Invoke API, if at all.
    pub invoke_addr: Option<SocketAddr>,
    /// Run the queue event sources.
    pub workers: bool,
    /// Long-poll wait of each receive.
    pub poll_wait: Duration,
    /// The local AWS the IAM gateway forwards to.
    pub upstreams: Upstreams,
}

/// A running local runner; stops its servers and workers when dropped or shut down.
pub struct Running {
    pub base_url: String,
    pub invoke_url: Option<String>,
    pub routes: Vec<Route>,
    pub workers: Vec<String>,
    pub functions: invoke_api::Functions,
    pub gateway: Gateway,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Makes the next invocation of `function` die in the middle, as a Lambda
    /// that crashes: a worker's batch is dropped half done and nothing is
    /// deleted, so SQS delivers it again after the visibility timeout.
    pub fn crash_next_batch(&self, function: &str) {
        if let Some(f) = self.functions.get(function) {
            f.crash_next();
        }
    }

    /// How many invocations crashed as asked.
    pub fn crashed(&self) -> usize {
        self.crashed_events().len()
    }

    /// The events of the invocations that crashed as asked.
    pub fn crashed_events(&self) -> Vec<bytes::Bytes> {
        self.functions.values().flat_map(|f| f.crashed()).collect()
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

fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "a local server stopped");
        }
    })
}

pub async fn start(config: RunnerConfig) -> anyhow::Result<Running> {
    let stack = config.stack;
    let gateway =
        Gateway::start(&stack, config.upstreams).await.context("starting the IAM gateway")?;
    let aws = AwsAccess { gateway_url: gateway.url.clone(), region: stack.region.clone() };
    let mut functions = HashMap::new();
    for spec in &stack.functions {
        let host = lambda::host(spec, &config.mode, &aws)
            .with_context(|| format!("hosting {}", spec.binary))?;
        functions.insert(spec.binary.clone(), Arc::new(Function::new(spec.clone(), host)));
    }
    let functions: invoke_api::Functions = Arc::new(functions);
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();

    let api = Arc::new(apigw::HttpApi::new(&stack, &functions));
    let listener = config.listener;
    let base_url = format!("http://{}", listener.local_addr()?);
    tasks.push(serve(
        listener,
        axum::Router::new().fallback(apigw::handle).with_state(api),
        stopped.clone(),
    ));

    let invoke_url = match config.invoke_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr} for the Invoke API"))?;
            let bound = listener.local_addr()?;
            tasks.push(serve(listener, invoke_api::router(functions.clone()), stopped.clone()));
            // `cargo lambda invoke` goes to [::1] by default: serve IPv6's loopback too, where there is one.
            if bound.ip().is_loopback() && bound.is_ipv4() {
                if let Ok(v6) =
                    tokio::net::TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, bound.port()))
                        .await
                {
                    tasks.push(serve(v6, invoke_api::router(functions.clone()), stopped.clone()));
                }
            }
            Some(format!("http://{bound}"))
        }
        None => None,
    };

    let mut workers = Vec::new();
    if config.workers {
        for spec in &stack.functions {
            for source in spec.queue_sources.iter().filter(|s| s.enabled) {
                let queue = stack.queue(&source.queue)?.clone();
                workers.push(format!(
                    "{} <- {} (batch {}, visibility {} s)",
                    spec.binary, queue.name, source.batch_size, queue.visibility_timeout
                ));
                let sqs = aws_sdk_sqs::Client::new(&crate::iam::sdk_config(
                    &aws.gateway_url,
                    &spec.binary,
                    &aws.region,
                ));
                let poller = lambda::sqs::EventSource {
                    function: functions[&spec.binary].clone(),
                    source: source.clone(),
                    queue,
                    sqs,
                    region: stack.region.clone(),
                    wait: config.poll_wait,
                };
                tasks.push(tokio::spawn(poller.run(stopped.clone())));
            }
        }
    }
    Ok(Running {
        base_url,
        invoke_url,
        routes: stack.routes(),
        workers,
        functions,
        gateway,
        stop,
        tasks,
    })
}
