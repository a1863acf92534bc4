//! `dev/bench`: every function's release binary behind the local stack's
//! Lambda Runtime API emulator, next to a bare `lambda_runtime` hello-world
//! built in the same run, fed its sample event from `events/` (with fresh
//! message ids, so that each invocation does the work of a new message).
//! For each: cold start (spawn until its first `next`), the first request
//! after it, warm latency, CPU per warm invocation, peak memory, AWS calls per
//! invocation (counted by the IAM gateway) and size, as ratios to hello.

use anyhow::Context;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::lambda::{self, Function, Mode, Outcome};
use crate::local::{self, Local, LocalOptions, Parameters};
use crate::template::FunctionSpec;

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Where the release binaries are.
    pub binaries: PathBuf,
    pub events: PathBuf,
    pub template: PathBuf,
    /// Cold starts per function.
    pub cold: usize,
    /// Warm invocations per function.
    pub warm: usize,
    /// Only the functions whose binary name contains one of these (all when empty).
    pub only: Vec<String>,
}

/// One function (or one way of invoking it) measured.
#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub size: u64,
    pub init_p50: Duration,
    pub first: Duration,
    pub warm_p50: Duration,
    pub warm_p99: Duration,
    pub cpu_per_invocation: Duration,
    /// Bytes logged per warm invocation (CloudWatch Logs ingests them).
    pub log_bytes: f64,
    pub peak_rss_mb: u64,
    /// AWS calls of the first invocation of a cold instance (its init included).
    pub calls_cold: f64,
    /// Secrets Manager calls of a cold start when the secrets are given by ARN (as deployed).
    pub secret_calls: u64,
    pub calls_warm: f64,
    /// Invocations that gave no answer (a Lambda error, not an HTTP 4xx).
    pub failures: usize,
}

/// A sample event and the ids in it made fresh for each invocation: each is
/// replaced wherever it occurs by itself with its last 8 characters the
/// invocation's number (digits fit every id format the samples use).
struct Case {
    name: String,
    binary: String,
    event: String,
    fresh: Vec<&'static str>,
}

impl Case {
    fn event(&self, n: usize) -> Bytes {
        let mut text = self.event.clone();
        for id in &self.fresh {
            let keep = &id[..id.len() - 8];
            text = text.replace(id, &format!("{keep}{n:08}"));
        }
        Bytes::from(text)
    }
}

/// Ids that make each sample a new message (or a new customer).
const WHATSAPP_ID: &str = "ABGHUhVXNzUALwIQZWnmjBi7IBmfp2EfNrYbRQ";
const SAMPLE_CUSTOMER: &str = "5217331175599";
fn fresh_ids(binary: &str) -> Vec<&'static str> {
    match binary {
        // A new customer each time: no open chat.
        "whatsapp-webhook" => vec![WHATSAPP_ID, SAMPLE_CUSTOMER],
        "facebook-webhook" => vec!["m_rhq1CGI9iAqiwi8rcjFwG19GI3HsmSbOU_4gIL4157f_PzsdjOhs5dv7ak0bNJQn5Xeta4YupUzDgDTzcW03sg", "5018811078134037"],
        "salesforce-events" | "salesforce-events-router" => vec!["56e10dce-2fd3-4ab6-91bf-f55827ad0280"],
        "yeahdesk-webhook" => vec!["6543000000000000000000f1", "6543000000000000000000e1"],
        "custom-channel-message" => vec!["avito-chat-81723"],
        _ => vec![],
    }
}

fn cases(opts: &BenchOptions, local: &Local) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    for spec in &local.stack.functions {
        if !opts.only.is_empty() && !opts.only.iter().any(|o| spec.binary.contains(o.as_str())) {
            continue;
        }
        let path = opts.events.join(format!("{}.json", spec.binary));
        let event = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if spec.binary == "whatsapp-webhook" {
            // The sample customer is in a Salesforce chat: the message goes to
            // the agent. First, before chats-finish closes that chat.
            cases.insert(
                0,
                Case {
                    name: OPEN_CHAT.into(),
                    binary: spec.binary.clone(),
                    event: event.clone(),
                    fresh: vec![WHATSAPP_ID],
                },
            );
        }
        cases.push(Case {
            name: spec.binary.clone(),
            binary: spec.binary.clone(),
            event,
            fresh: fresh_ids(&spec.binary),
        });
    }
    Ok(cases)
}

const OPEN_CHAT: &str = "whatsapp-webhook, open chat";

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Measures one function: `cold` cold starts, then `warm` invocations of one
/// instance; then one cold start of `by_arn` (the same function with its
/// secrets by ARN), to count its Secrets Manager calls.
async fn measure(
    function: &Function,
    by_arn: Option<&Function>,
    calls: impl Fn() -> u64,
    case: &Case,
    binary: &Path,
    opts: &BenchOptions,
) -> anyhow::Result<Row> {
    let mut n = 0usize;
    let mut failures = 0;
    let invoke = |n: &mut usize| {
        *n += 1;
        function.invoke_measured(case.event(*n))
    };
    let (mut inits, mut firsts, mut cold_calls) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..opts.cold {
        function.retire_idle();
        let before = calls();
        let started = Instant::now();
        let o = invoke(&mut n)
            .await
            .map_err(|e| anyhow::anyhow!("{}: its cold start failed: {e}", case.name))?;
        let init = o
            .init
            .context("the first invocation after retiring the instances was not a cold start")?;
        inits.push(init);
        firsts.push(started.elapsed().saturating_sub(init));
        cold_calls += calls() - before;
    }
    let before = calls();
    let mut warm = Vec::with_capacity(opts.warm);
    let mut first_cpu = None;
    let mut first_log = None;
    let mut last: Option<Outcome> = None;
    for _ in 0..opts.warm {
        let started = Instant::now();
        match invoke(&mut n).await {
            Ok(o) => {
                warm.push(started.elapsed());
                first_cpu = first_cpu.or(o.cpu);
                first_log = first_log.or(o.log_bytes);
                last = Some(o);
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(function = %case.name, error = %e, "an invocation failed");
            }
        }
    }
    let warm_calls = calls() - before;
    function.retire_idle();
    let secret_calls = match by_arn {
        Some(f) => {
            let before = calls();
            f.invoke_measured(case.event(n + 1))
                .await
                .map_err(|e| anyhow::anyhow!("{}: its cold start by ARN failed: {e}", case.name))?;
            f.retire_idle();
            let cold = cold_calls as f64 / opts.cold.max(1) as f64;
            (calls() - before).saturating_sub(cold.round() as u64)
        }
        None => 0,
    };
    inits.sort();
    firsts.sort();
    warm.sort();
    let last = last.context("no warm invocation answered")?;
    let cpu = match (first_cpu, last.cpu) {
        (Some(a), Some(b)) if warm.len() > 1 => b.saturating_sub(a) / (warm.len() as u32 - 1),
        _ => Duration::ZERO,
    };
    let log_bytes = match (first_log, last.log_bytes) {
        (Some(a), Some(b)) if warm.len() > 1 => (b - a) as f64 / (warm.len() - 1) as f64,
        _ => 0.0,
    };
    Ok(Row {
        name: case.name.clone(),
        size: std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0),
        init_p50: percentile(&inits, 0.5),
        first: percentile(&firsts, 0.5),
        warm_p50: percentile(&warm, 0.5),
        warm_p99: percentile(&warm, 0.99),
        cpu_per_invocation: cpu,
        log_bytes,
        peak_rss_mb: last.max_memory_mb.unwrap_or(0),
        calls_cold: cold_calls as f64 / opts.cold.max(1) as f64,
        secret_calls,
        calls_warm: warm_calls as f64 / opts.warm.max(1) as f64,
        failures,
    })
}

/// Deploys the stack locally with the release binaries, puts the samples'
/// data in it, and measures hello and every function.
pub async fn run(opts: BenchOptions) -> anyhow::Result<Vec<Row>> {
    let mut parameters = Parameters::default();
    local::sample_parameters(&mut parameters);
    let mode = Mode::Binaries(lambda::Binaries { dir: opts.binaries.clone(), show_logs: false });
    let local = local::start(LocalOptions::measuring(
        "omnibridge-bench",
        &opts.template,
        mode.clone(),
        false,
        parameters,
    )?)
    .await?;
    crate::samples::prepare(&local.operator)
        .await
        .context("putting the samples' data in the stack")?;

    let aws = lambda::AwsAccess {
        gateway_url: local.runner.gateway.url.clone(),
        region: local.stack.region.clone(),
    };
    let host = |spec: &FunctionSpec| -> anyhow::Result<Function> {
        Ok(Function::new(spec.clone(), lambda::host(spec, &mode, &aws)?))
    };

    let mut rows = Vec::new();
    // hello: the first function's configuration, none of its environment or rights.
    let mut spec = local.stack.functions.first().context("the template has no function")?.clone();
    spec.binary = "hello".into();
    spec.name = "hello".into();
    spec.environment.clear();
    spec.policy = Default::default();
    let hello_case = Case {
        name: "hello".into(),
        binary: "hello".into(),
        event: r#"{"hello":"world"}"#.into(),
        fresh: vec![],
    };
    rows.push(
        measure(&host(&spec)?, None, || 0, &hello_case, &opts.binaries.join("hello"), &opts)
            .await?,
    );

    for case in cases(&opts, &local)? {
        let deployed = local
            .stack
            .functions
            .iter()
            .find(|f| f.binary == case.binary)
            .context("a function of the stack is not in it")?;
        let by_value = with_secret_values(deployed, &local.operator).await?;
        let gateway = &local.runner.gateway;
        let row = measure(
            &host(&by_value)?,
            Some(&host(deployed)?),
            || gateway.calls(&case.binary),
            &case,
            &opts.binaries.join(&case.binary),
            &opts,
        )
        .await?;
        eprintln!("measured {}", row.name);
        rows.push(row);
    }
    Ok(rows)
}

/// `spec` with each secret it names by ARN (`X_ARN`) given as its value (`X`).
async fn with_secret_values(
    spec: &FunctionSpec,
    operator: &omnibridge::bootstrap::Runtime,
) -> anyhow::Result<FunctionSpec> {
    use omnibridge::config::SecretSource;
    use secrecy::ExposeSecret;
    let mut spec = spec.clone();
    let by_arn: Vec<(String, String)> = spec
        .environment
        .iter()
        .filter(|(k, _)| k.ends_with("_ARN"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (name, arn) in by_arn {
        let value = operator.secret(&SecretSource::SecretsManager { arn }, &name).await?;
        spec.environment.remove(&name);
        spec.environment
            .insert(name.trim_end_matches("_ARN").to_owned(), value.expose_secret().to_owned());
    }
    Ok(spec)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// The targets every function must meet, as ratios to hello where they are speeds.
pub const INIT_RATIO: f64 = 1.5;
pub const CPU_RATIO: f64 = 2.0;
pub const RSS_MB: u64 = 40;
pub const FIRST_RATIO: f64 = 2.0;
pub const SIZE_BYTES: u64 = 6 * 1024 * 1024;

/// The rows as a Markdown table, then each target and whether it holds.
pub fn report(rows: &[Row]) -> (String, bool) {
    let hello = &rows[0];
    let mut out = String::new();
    out.push_str("| function | size MB | init p50 ms (× hello) | first request ms (× warm p50) | warm p50 / p99 ms | CPU per warm invocation ms (× hello) | log bytes per warm invocation | peak RSS MB | AWS calls: cold / warm | Secrets Manager calls per init, by ARN |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {:.2} | {} ({:.2}×) | {} ({:.2}×) | {} / {} | {:.3} ({:.2}×) | {:.0} | {} | {:.1} / {:.1} | {} |{}\n",
            r.name,
            r.size as f64 / 1024.0 / 1024.0,
            ms(r.init_p50),
            ratio(r.init_p50, hello.init_p50),
            ms(r.first),
            ratio(r.first, r.warm_p50),
            ms(r.warm_p50),
            ms(r.warm_p99),
            r.cpu_per_invocation.as_secs_f64() * 1000.0,
            ratio(r.cpu_per_invocation, hello.cpu_per_invocation),
            r.log_bytes,
            r.peak_rss_mb,
            r.calls_cold,
            r.calls_warm,
            r.secret_calls,
            if r.failures > 0 { format!(" {} failed", r.failures) } else { String::new() },
        ));
    }
    let functions = &rows[1..];
    let mut checks: Vec<(String, String, bool)> = Vec::new();
    let mut check = |what: String, worst: String, ok: bool| checks.push((what, worst, ok));
    let worst = |f: &dyn Fn(&Row) -> f64| {
        functions.iter().map(|r| (f(r), r.name.as_str())).fold((f64::MIN, ""), |a, b| {
            if b.0 > a.0 {
                b
            } else {
                a
            }
        })
    };
    let (v, n) = worst(&|r| ratio(r.init_p50, hello.init_p50));
    check(format!("init ≤ {INIT_RATIO}× hello"), format!("{v:.2}× ({n})"), v <= INIT_RATIO);
    if let Some(r) = functions.iter().find(|r| r.name == "whatsapp-webhook") {
        let v = ratio(r.cpu_per_invocation, hello.cpu_per_invocation);
        check(
            format!("CPU per warm webhook (no open chat) ≤ {CPU_RATIO}× hello"),
            format!("{v:.2}×"),
            v <= CPU_RATIO,
        );
    }
    let (v, n) = worst(&|r| r.peak_rss_mb as f64);
    check(format!("peak RSS ≤ {RSS_MB} MB"), format!("{v} MB ({n})"), v <= RSS_MB as f64);
    let (v, n) = worst(&|r| ratio(r.first, r.warm_p50));
    check(
        format!("first request ≤ {FIRST_RATIO}× warm"),
        format!("{v:.2}× ({n})"),
        v <= FIRST_RATIO,
    );
    let (v, n) = worst(&|r| r.size as f64);
    check(
        format!("size ≤ {} MB", SIZE_BYTES / 1024 / 1024),
        format!("{:.2} MB ({n})", v / 1024.0 / 1024.0),
        v <= SIZE_BYTES as f64,
    );
    for (name, most) in [("whatsapp-webhook", 2.0), (OPEN_CHAT, 3.0)] {
        if let Some(r) = functions.iter().find(|r| r.name == name) {
            check(
                format!("AWS calls to ack a webhook ({name}) ≤ {most}"),
                format!("{:.1}", r.calls_warm),
                r.calls_warm <= most,
            );
        }
    }
    let (v, n) = worst(&|r| r.secret_calls as f64);
    check("Secrets Manager calls per init by ARN ≤ 1".into(), format!("{v} ({n})"), v <= 1.0);
    let failed: usize = rows.iter().map(|r| r.failures).sum();
    check("no invocation failed".into(), failed.to_string(), failed == 0);
    out.push('\n');
    for (what, worst, ok) in &checks {
        out.push_str(&format!("- {} {what}: worst {worst}\n", if *ok { "✓" } else { "✗" }));
    }
    (out, checks.iter().all(|c| c.2))
}
