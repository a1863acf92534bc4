//! `omnibridge-local`: the whole product on one machine. Serves every route
//! of template.yaml on one port, runs the queue workers in-process, and
//! starts moto's server as the local AWS unless AWS_ENDPOINT_URL is given.

use anyhow::Context;
use clap::Parser;
use omnibridge::bootstrap::Runtime;
use omnibridge::config::{SecretSource, Settings};
use omnibridge_dev::sandbox::{self, SandboxConfig};
use omnibridge_dev::{emulator, provision, runner};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Run omnibridge locally: every route, the workers, local AWS")]
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
    let (_moto, endpoint) = match std::env::var("AWS_ENDPOINT_URL").ok().filter(|v| !v.is_empty()) {
        Some(url) => (None, url),
        None => {
            let moto = emulator::Moto::start(args.moto_port)?;
            let url = moto.endpoint.clone();
            (Some(moto), url)
        }
    };
    let aws = emulator::sdk_config(&endpoint).await;
    let mut settings = Settings::from_env()?;
    if matches!(settings.jwt_secret, SecretSource::Unset) {
        println!("OMNIBRIDGE_JWT_SECRET is not set: using a random key for this run (tokens end with it).");
        settings.jwt_secret = SecretSource::Value(SecretString::from(format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4())));
    }
    provision::ensure(&aws, &mut settings, 30).await.context("creating the local table, bucket and queues")?;
    let sandbox = if args.no_sandbox {
        None
    } else {
        let mut config = SandboxConfig::local(args.sandbox_addr);
        config.omnibridge_url = Some(format!("http://{}", args.addr));
        let sandbox = sandbox::start(config).await.context("starting the peer sandboxes")?;
        settings.peers = sandbox.peer_urls();
        Some(sandbox)
    };
    let rt = Runtime::with(settings.clone(), aws);
    let running = runner::start(
        rt,
        runner::RunnerConfig { template: args.template, addr: args.addr, workers: !args.no_workers, poll_wait: Duration::from_secs(1) },
    )
    .await?;

    println!("omnibridge is running at {}", running.base_url);
    println!("local AWS (moto) at {endpoint}; table {}, bucket {}", settings.table, settings.bucket);
    for r in &running.routes {
        println!("  {:<7} {}{}  -> functions/{}", r.method, running.base_url, r.path, r.function);
    }
    for w in &running.workers {
        println!("  worker  {w}");
    }
    match &sandbox {
        Some(s) => println!("peer sandboxes at {} (control API: {}/_sandbox)", s.base_url, s.base_url),
        None => println!("peers: the real platforms ({:?})", settings.peers),
    }
    println!("create an API user: dev/admin user create --username NAME --role YALO_ROLE");
    println!("Ctrl-C stops everything.");
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}
