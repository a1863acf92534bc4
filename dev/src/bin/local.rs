//! `omnibridge-local`: the whole product on one machine. Serves every route
//! of template.yaml on one port, runs the queue workers in-process, starts
//! the peer sandboxes, and starts moto's server as the local AWS unless
//! AWS_ENDPOINT_URL is given.

use clap::Parser;
use omnibridge::config::{SecretSource, Settings};
use omnibridge_dev::local::{self, LocalOptions};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Run omnibridge locally: every route, the workers, the peer sandboxes, local AWS")]
struct Args {
    /// Where to serve the HTTP API.
    #[arg(long, env = "OMNIBRIDGE_LOCAL_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Port for moto's server when AWS_ENDPOINT_URL is not set.
    #[arg(long, env = "OMNIBRIDGE_LOCAL_MOTO_PORT", default_value_t = 5000)]
    moto_port: u16,
    /// The SAM template whose routes and queues to serve.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Serve the HTTP API only.
    #[arg(long)]
    no_workers: bool,
    /// Where the peer sandboxes listen.
    #[arg(long, env = "OMNIBRIDGE_SANDBOX_ADDR", default_value = "127.0.0.1:4000")]
    sandbox_addr: SocketAddr,
    /// Use the peer URLs of the environment (the real platforms) instead of starting the sandboxes.
    #[arg(long)]
    no_sandbox: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    omnibridge::bootstrap::init_tracing();
    let args = Args::parse();
    let settings = Settings::from_env()?;
    if matches!(settings.jwt_secret, SecretSource::Unset) {
        println!("OMNIBRIDGE_JWT_SECRET is not set: using a random key for this run (tokens end with it).");
    }
    let local = local::start(LocalOptions {
        addr: args.addr,
        aws_endpoint: std::env::var("AWS_ENDPOINT_URL").ok().filter(|v| !v.is_empty()),
        moto_port: args.moto_port,
        template: args.template,
        workers: !args.no_workers,
        sandbox_addr: (!args.no_sandbox).then_some(args.sandbox_addr),
        settings,
    })
    .await?;

    let base = &local.runner.base_url;
    println!("omnibridge is running at {base}");
    println!("local AWS (moto) at {}; table {}, bucket {}", local.endpoint, local.settings.table, local.settings.bucket);
    for r in &local.runner.routes {
        println!("  {:<7} {base}{}  -> functions/{}", r.method, r.path, r.function);
    }
    for w in &local.runner.workers {
        println!("  worker  {w}");
    }
    match &local.sandbox {
        Some(s) => {
            println!("peer sandboxes at {} (Yalo /yalo, Salesforce /salesforce, Pipedrive /pipedrive/v1, Yeahdesk /yeahdesk)", s.base_url);
            println!("  control API: {}/_sandbox (requests, violations, faults, simulated customers and agents)", s.base_url);
        }
        None => println!("peers: {:?}", local.settings.peers),
    }
    println!("create an API user: dev/admin user create --username NAME --role YALO_ROLE");
    println!("Ctrl-C stops everything.");
    tokio::signal::ctrl_c().await?;
    local.runner.shutdown().await;
    Ok(())
}
