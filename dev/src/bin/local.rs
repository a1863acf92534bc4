//! `omnibridge-local`: the whole product on one machine, deployed from
//! template.yaml as AWS would deploy it. Serves every route on one port
//! (API Gateway's HTTP API), runs the queue workers (SQS event sources),
//! serves Lambda's Invoke API for `cargo lambda invoke`, starts the peer
//! sandboxes, and starts moto's server as the local AWS unless
//! AWS_ENDPOINT_URL is given. Every AWS call a function makes is checked
//! against its IAM policy.

use anyhow::Context;
use clap::Parser;
use omnibridge_dev::lambda::{Binaries, Mode};
use omnibridge_dev::local::{self, LocalOptions, Parameters};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    about = "Run omnibridge locally as deployed: every route, the workers, the peer sandboxes, local AWS with IAM enforced"
)]
struct Args {
    /// Where to serve the HTTP API.
    #[arg(long, env = "OMNIBRIDGE_LOCAL_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Where to serve Lambda's Invoke API (`cargo lambda invoke` sends to 127.0.0.1:9000).
    #[arg(long, env = "OMNIBRIDGE_LOCAL_INVOKE_ADDR", default_value = "127.0.0.1:9000")]
    invoke_addr: SocketAddr,
    /// Port for moto's server when AWS_ENDPOINT_URL is not set.
    #[arg(long, env = "OMNIBRIDGE_LOCAL_MOTO_PORT", default_value_t = 5000)]
    moto_port: u16,
    /// The SAM template to deploy.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// The local stack's name (resource names start with it).
    #[arg(long, default_value = "omnibridge-local")]
    stack_name: String,
    /// A template parameter, NAME=VALUE (repeatable); over what the runner and the sandboxes fill in.
    #[arg(long = "parameter", value_name = "NAME=VALUE")]
    parameters: Vec<String>,
    /// A template parameter that takes a Secrets Manager ARN, NAME=SECRET (repeatable): the secret is created locally.
    #[arg(long = "secret", value_name = "NAME=SECRET")]
    secrets: Vec<String>,
    /// Serve the HTTP API only.
    #[arg(long)]
    no_workers: bool,
    /// Where the peer sandboxes listen.
    #[arg(long, env = "OMNIBRIDGE_SANDBOX_ADDR", default_value = "127.0.0.1:4000")]
    sandbox_addr: SocketAddr,
    /// Use the peers the parameters name (the real platforms) instead of starting the sandboxes.
    #[arg(long)]
    no_sandbox: bool,
    /// Run each function as its real binary (built by `cargo build --workspace --bins`), one process per instance.
    #[arg(long)]
    binaries: bool,
    /// Where the function binaries are (with --binaries).
    #[arg(long, default_value = "target/debug")]
    binaries_dir: PathBuf,
    /// Write the stack's operator environment (table, queues, secrets by ARN) here, for `dev/admin`.
    #[arg(long, default_value = "target/local/operator.env")]
    operator_env: PathBuf,
}

fn pairs(items: &[String], what: &str) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("{what} {p:?} is not NAME=VALUE"))
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    omnibridge::bootstrap::init_tracing();
    let args = Args::parse();
    let mut parameters = Parameters::default();
    local::sample_parameters(&mut parameters);
    for (k, v) in pairs(&args.parameters, "--parameter")? {
        parameters.set(&k, v);
    }
    for (k, v) in pairs(&args.secrets, "--secret")? {
        parameters.secret(&k, v);
    }
    let mode = match args.binaries {
        true => Mode::Binaries(Binaries { dir: args.binaries_dir.clone(), show_logs: true }),
        false => Mode::InProcess,
    };
    let local = local::start(LocalOptions {
        addr: args.addr,
        aws_endpoint: local::endpoint_from_env("AWS_ENDPOINT_URL"),
        dynamodb_endpoint: local::endpoint_from_env("AWS_ENDPOINT_URL_DYNAMODB"),
        moto_port: args.moto_port,
        template: omnibridge_dev::template::Template::read(&args.template)?,
        stack_name: args.stack_name,
        workers: !args.no_workers,
        sandbox: (!args.no_sandbox)
            .then(|| omnibridge_dev::sandbox::SandboxConfig::local(args.sandbox_addr)),
        parameters,
        mode,
        invoke_addr: Some(args.invoke_addr),
        poll_wait: Duration::from_secs(1),
    })
    .await?;

    // Shell assignments, single-quoted.
    let quote = |v: &str| format!("'{}'", v.replace('\'', "'\\''"));
    let mut env: Vec<String> = local::operator_environment(&local.stack)
        .into_iter()
        .map(|(k, v)| format!("{k}={}", quote(&v)))
        .collect();
    env.push(format!("AWS_ENDPOINT_URL={}", quote(&local.endpoint)));
    if let Some(dir) = args.operator_env.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.operator_env, env.join("\n") + "\n")
        .with_context(|| format!("writing {}", args.operator_env.display()))?;

    let base = &local.runner.base_url;
    let how = if args.binaries {
        format!("as the binaries in {}", args.binaries_dir.display())
    } else {
        "in this process".into()
    };
    println!("omnibridge (stack {}) is running at {base}, functions {how}", local.stack.name);
    println!(
        "local AWS (moto) at {}, every function's calls checked against its IAM policy",
        local.endpoint
    );
    for r in &local.runner.routes {
        println!("  {:<7} {base}{}  -> functions/{}", r.method, r.path, r.function);
    }
    for w in &local.runner.workers {
        println!("  worker  {w}");
    }
    if let Some(url) = &local.runner.invoke_url {
        println!("Lambda Invoke API at {url}: cargo lambda invoke <function> --data-file events/<function>.json");
    }
    match &local.sandbox {
        Some(s) => {
            println!("peer sandboxes at {} (Yalo /yalo, Salesforce /salesforce, Pipedrive /pipedrive/v1, Yeahdesk /yeahdesk)", s.base_url);
            println!("  control API: {}/_sandbox (requests, violations, faults, simulated customers and agents)", s.base_url);
        }
        None => println!("peers: the URLs the template parameters name"),
    }
    println!("operator environment in {} (dev/admin reads it)", args.operator_env.display());
    println!("create an API user: dev/admin user create --username NAME --role YALO_ROLE");
    println!("Ctrl-C stops everything; the local stack's data goes with it.");
    tokio::signal::ctrl_c().await?;
    local.runner.shutdown().await;
    Ok(())
}
