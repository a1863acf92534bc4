//! `dev/load`: the local stack under a mixed, open-loop load at
//! Meta's per-number rate, as a WhatsApp number's webhooks would arrive:
//! customer messages (half from customers in an open Salesforce chat, whose
//! messages go on to the agent), status notices (sent, delivered, read: three
//! per message), and agent replies going the other way. Requests are sent on
//! a fixed schedule whatever the answers take (open loop), so a slow stack
//! shows as latency, not as a lower offered rate. Reports the rate served,
//! the webhooks' ack latency, errors, what is left in the queues after the
//! run, and the CPU each process used (what bounds it).

use anyhow::Context;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::emulator::Moto;
use crate::lambda::Mode;
use crate::local::{self, LocalOptions, Parameters, LOCAL_YALO_WEBHOOK_SECRET};
use omnibridge::model::now_millis;

/// What to offer.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub template: std::path::PathBuf,
    /// Customer messages a second.
    pub messages: f64,
    /// Status notices a second.
    pub statuses: f64,
    /// Agent replies a second (to customers in an open chat).
    pub replies: f64,
    pub seconds: u64,
    /// Customers writing; half of them in an open chat.
    pub customers: usize,
}

/// One kind of request's results.
#[derive(Debug, Default, Clone)]
pub struct Kind {
    pub sent: usize,
    pub latencies: Vec<Duration>,
    /// Answers that were not 2xx (or no answer), by status (0: no answer).
    pub errors: BTreeMap<u16, usize>,
}

impl Kind {
    fn record(&mut self, took: Duration, status: u16) {
        if (200..300).contains(&status) {
            self.latencies.push(took);
        } else {
            *self.errors.entry(status).or_default() += 1;
        }
    }

    /// The answered requests' latencies, shortest first.
    fn sorted(&self) -> Vec<Duration> {
        let mut l = self.latencies.clone();
        l.sort();
        l
    }
}

/// What the run measured.
#[derive(Debug)]
pub struct LoadReport {
    pub options: LoadOptions,
    pub kinds: BTreeMap<&'static str, Kind>,
    pub took: Duration,
    /// Queue messages left (visible and in flight) after draining, by queue.
    pub left: Vec<(String, u64)>,
    pub drained_in: Duration,
    /// CPU used during the run (share of one core) by process.
    pub cpu: Vec<(String, f64)>,
    /// Messages acknowledged for customers in a chat, and how many of them
    /// the Salesforce agent received.
    pub to_agent_expected: usize,
    pub to_agent: usize,
    /// Agent replies Yalo delivered to customers.
    pub to_customers: usize,
}

/// User and system CPU time of process `pid` so far.
fn cpu_of(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

fn webhook_message(user: &str, n: usize, text: &str) -> Value {
    json!({"from": user, "id": format!("wamid.load-{n:08}"), "text": {"body": text}, "timestamp": now_millis().to_string(), "type": "text"})
}

fn webhook_status(user: &str, n: usize) -> Value {
    let status = ["sent", "delivered", "read"][n % 3];
    json!({"from": user, "id": format!("wamid.load-status-{n:08}"), "status": status, "timestamp": now_millis().to_string(), "type": "status"})
}

fn customer(i: usize) -> String {
    format!("5219{i:08}")
}

/// Customers `0..n/2` are in an open chat.
fn in_chat(i: usize, customers: usize) -> bool {
    i < customers / 2
}

pub async fn run(opts: LoadOptions) -> anyhow::Result<LoadReport> {
    // One emulator for DynamoDB, one for SQS and S3 (a Python process
    // serves one core's worth of requests at most), unless the environment
    // names both (their CPU is then not measured).
    let given = |var: &str| local::endpoint_from_env(var).is_some();
    let (moto, dynamo) = if given("AWS_ENDPOINT_URL") && given("AWS_ENDPOINT_URL_DYNAMODB") {
        (None, None)
    } else {
        let (moto, dynamo) = (Moto::start(0)?, Moto::start(0)?);
        // As the test command does: the operator's and the provisioner's
        // SDK clients find DynamoDB's own emulator through the environment.
        std::env::set_var("AWS_ENDPOINT_URL", &moto.endpoint);
        std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", &dynamo.endpoint);
        (Some(moto), Some(dynamo))
    };
    // Lambda would run as many instances as the load needs; the local
    // stack's default (8 per function) is for a laptop's day.
    if std::env::var_os("OMNIBRIDGE_LOCAL_CONCURRENCY").is_none() {
        std::env::set_var("OMNIBRIDGE_LOCAL_CONCURRENCY", "64");
    }
    let mut parameters = Parameters::default();
    local::sample_parameters(&mut parameters);
    // A WhatsApp number at Meta's rate, with its statuses, is more than the
    // template's default route throttling: raised as a deployment would.
    let offered = opts.messages + opts.statuses;
    parameters.set("ApiRateLimit", format!("{}", (offered * 2.0).ceil() as u64));
    parameters.set("ApiBurstLimit", format!("{}", (offered * 4.0).ceil() as u64));
    let local = local::start(LocalOptions::measuring(
        "omnibridge-load",
        &opts.template,
        Mode::InProcess,
        true,
        parameters,
    )?)
    .await?;
    let base = local.runner.base_url.clone();
    let sandbox = local.sandbox.as_ref().context("the sandboxes")?.client();
    let http = omnibridge::adapters::http_client::builder().pool_max_idle_per_host(512).build()?;

    // The sample API users; half the customers hand off to a Salesforce agent first.
    crate::samples::prepare(&local.operator)
        .await
        .context("putting the samples' data in the stack")?;
    let login = json!({"username": "yaloUser", "password": crate::samples::PASSWORD});
    let token: Value = http
        .post(format!("{base}/v1/authenticate"))
        .json(&login)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = token["token"].as_str().context("authenticate gave no token")?.to_owned();
    let opened: Vec<_> = (0..opts.customers).filter(|&i| in_chat(i, opts.customers)).collect();
    for chunk in opened.chunks(8) {
        let calls = chunk.iter().map(|&i| {
            let body = json!({"userID": customer(i), "botSlug": "coppel-bot", "botId": "1", "name": format!("Cliente {i}"),
                "provider": "whatsapp", "email": format!("c{i}@example.com")});
            http.post(format!("{base}/v1/chats/connect")).bearer_auth(&token).json(&body).send()
        });
        for res in futures::future::join_all(calls).await {
            let res = res?;
            anyhow::ensure!(
                res.status().is_success(),
                "a handoff answered {}: {}",
                res.status(),
                res.text().await.unwrap_or_default()
            );
        }
    }

    let webhook =
        format!("{base}/v1/integrations/whatsapp/webhook?secret={LOCAL_YALO_WEBHOOK_SECRET}");
    let kinds: Arc<Mutex<BTreeMap<&'static str, Kind>>> = Arc::default();
    let mut pids: Vec<(String, u32)> =
        vec![("omnibridge (runner, functions, sandboxes)".into(), std::process::id())];
    pids.extend(moto.as_ref().map(|m| ("moto: SQS, S3".to_owned(), m.pid())));
    pids.extend(dynamo.as_ref().map(|m| ("moto: DynamoDB".to_owned(), m.pid())));
    let cpu_before: Vec<Duration> = pids.iter().map(|(_, p)| cpu_of(*p)).collect();
    let started = Instant::now();
    let until = started + Duration::from_secs(opts.seconds);
    let streams: [(&'static str, f64); 3] = [
        ("customer message", opts.messages),
        ("status notice", opts.statuses),
        ("agent reply", opts.replies),
    ];
    let mut tasks = Vec::new();
    let acknowledged: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
    for (kind, rate) in streams.into_iter().filter(|(_, r)| *r > 0.0) {
        let (http, webhook, sandbox, kinds, expected) =
            (http.clone(), webhook.clone(), sandbox.clone(), kinds.clone(), acknowledged.clone());
        let customers = opts.customers;
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut requests = Vec::new();
            for n in 0usize.. {
                tick.tick().await;
                if Instant::now() >= until {
                    break;
                }
                let i = fastrand::usize(0..customers);
                kinds.lock().unwrap().entry(kind).or_default().sent += 1;
                let (http, webhook, sandbox, kinds, expected) = (http.clone(), webhook.clone(), sandbox.clone(), kinds.clone(), expected.clone());
                requests.push(tokio::spawn(async move {
                    let sent = Instant::now();
                    let status = match kind {
                        "customer message" => http.post(&webhook).json(&webhook_message(&customer(i), n, &format!("load {n}"))).send().await.map(|r| r.status().as_u16()),
                        "status notice" => http.post(&webhook).json(&webhook_status(&customer(i), n)).send().await.map(|r| r.status().as_u16()),
                        _ => {
                            let i = i % (customers / 2).max(1);
                            let a = json!({"endUser": customer(i), "text": format!("reply {n}"), "identifier": format!("load-{n}")});
                            Ok(if sandbox.salesforce_agent(&a).await.is_ok() { 200 } else { 0 })
                        }
                    }
                    .unwrap_or(0);
                    // A message acknowledged for a customer in a chat must reach the agent.
                    if kind == "customer message" && in_chat(i, customers) && (200..300).contains(&status) {
                        expected.lock().unwrap().insert(format!("load {n}"));
                    }
                    kinds.lock().unwrap().entry(kind).or_default().record(sent.elapsed(), status);
                }));
            }
            futures::future::join_all(requests).await;
        }));
    }
    futures::future::join_all(tasks).await;
    let took = started.elapsed();
    let cpu: Vec<(String, f64)> = pids
        .iter()
        .zip(&cpu_before)
        .map(|((name, pid), before)| {
            (name.clone(), cpu_of(*pid).saturating_sub(*before).as_secs_f64() / took.as_secs_f64())
        })
        .collect();

    // Then everything queued is delivered.
    let sqs = aws_sdk_sqs::Client::new(local.operator.aws());
    let settings = &local.operator.settings;
    let queues: Vec<(String, String)> = [
        &settings.to_desk_queue_url,
        &settings.to_desk_dlq_url,
        &settings.to_customer_queue_url,
        &settings.to_customer_dlq_url,
        &settings.salesforce_events_queue_url,
        &settings.salesforce_events_dlq_url,
        &settings.salesforce_conversation_events_queue_url,
        &settings.salesforce_conversation_events_dlq_url,
    ]
    .into_iter()
    .flatten()
    .map(|u| (u.rsplit('/').next().unwrap_or(u).to_owned(), u.clone()))
    .collect();
    let drain_started = Instant::now();
    let mut left = Vec::new();
    while drain_started.elapsed() < Duration::from_secs(120) {
        left.clear();
        for (name, url) in &queues {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                )
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                )
                .send()
                .await?;
            let count: u64 = attrs
                .attributes()
                .map_or(0, |a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum());
            left.push((name.clone(), count));
        }
        if left.iter().all(|(_, n)| *n == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drained_in = drain_started.elapsed();
    let agent = sandbox.salesforce_conversations().await?;
    let received: std::collections::HashSet<&str> = agent
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["entries"].as_array().into_iter().flatten())
        .filter_map(|e| e["text"].as_str())
        .collect();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let to_agent = acknowledged.iter().filter(|t| received.contains(t.as_str())).count();
    let delivered = sandbox.yalo_delivered(None).await?;
    let to_customers = delivered
        .as_array()
        .map_or(0, |d| d.iter().filter(|d| d.to_string().contains("reply ")).count());
    let kinds = kinds.lock().unwrap().clone();
    local.runner.shutdown().await;
    Ok(LoadReport {
        options: opts,
        kinds,
        took,
        left,
        drained_in,
        cpu,
        to_agent,
        to_agent_expected: acknowledged.len(),
        to_customers,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// The report as Markdown, and whether the targets hold: the offered rate
/// served, p99 ack ≤ 50 ms, no errors, nothing left queued.
pub fn render(r: &LoadReport) -> (String, bool) {
    let o = &r.options;
    let mut out = format!(
        "Offered for {} s, open loop: {} customer messages/s ({} customers, half in an open Salesforce chat), {} status notices/s, {} agent replies/s.\n\n",
        o.seconds, o.messages, o.customers, o.statuses, o.replies
    );
    out.push_str("| requests | sent | served/s | p50 ms | p99 ms | max ms | errors |\n|---|---|---|---|---|---|---|\n");
    let mut ok = true;
    for (name, k) in &r.kinds {
        let sorted = k.sorted();
        let percentile = |p| crate::bench::percentile(&sorted, p);
        let served = k.latencies.len() as f64 / r.took.as_secs_f64();
        let errors: Vec<String> = k
            .errors
            .iter()
            .map(|(s, n)| if *s == 0 { format!("{n} unanswered") } else { format!("{n} × {s}") })
            .collect();
        out.push_str(&format!(
            "| {name} | {} | {served:.1} | {} | {} | {} | {} |\n",
            k.sent,
            ms(percentile(0.5)),
            ms(percentile(0.99)),
            ms(percentile(1.0)),
            if errors.is_empty() { "0".into() } else { errors.join(", ") }
        ));
        if *name != "agent reply" {
            ok &= k.errors.is_empty() && percentile(0.99) <= Duration::from_millis(50);
        }
        ok &= k.errors.is_empty();
    }
    let left: u64 = r.left.iter().map(|(_, n)| n).sum();
    ok &= left == 0 && r.to_agent == r.to_agent_expected;
    out.push_str(&format!(
        "\nAfterwards: the agent received {} of the {} open-chat messages acknowledged, and Yalo delivered {} agent replies; {} queue message(s) left after {:.1} s ({}).\n",
        r.to_agent,
        r.to_agent_expected,
        r.to_customers,
        left,
        r.drained_in.as_secs_f64(),
        r.left.iter().map(|(q, n)| format!("{q} {n}")).collect::<Vec<_>>().join(", ")
    ));
    out.push_str(&format!(
        "CPU during the run (share of one core): {}.\n",
        r.cpu.iter().map(|(p, c)| format!("{p} {:.0}%", c * 100.0)).collect::<Vec<_>>().join(", ")
    ));
    (out, ok)
}
