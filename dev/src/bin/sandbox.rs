//! `omnibridge-sandbox`: the peer sandboxes (Yalo, Salesforce, Pipedrive,
//! Yeahdesk) on their own. The local runner starts them too.

use clap::Parser;
use omnibridge_dev::sandbox::{self, SandboxConfig};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(about = "Local stand-ins for Yalo, Salesforce, Pipedrive and Yeahdesk")]
struct Args {
    #[arg(long, env = "OMNIBRIDGE_SANDBOX_ADDR", default_value = "127.0.0.1:4000")]
    addr: SocketAddr,
    /// omnibridge's base URL, where simulated customers and agents write.
    #[arg(long, env = "OMNIBRIDGE_SANDBOX_TARGET", default_value = "http://127.0.0.1:3000")]
    omnibridge_url: String,
    /// Sign Yalo webhooks with this secret (X-Hub-Signature-256).
    #[arg(long, env = "OMNIBRIDGE_YALO_WEBHOOK_SECRET")]
    yalo_webhook_secret: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    omnibridge::bootstrap::init_tracing();
    let args = Args::parse();
    let mut config = SandboxConfig::local(args.addr);
    config.omnibridge_url = Some(args.omnibridge_url);
    config.yalo.webhook_secret = args.yalo_webhook_secret;
    let running = sandbox::start(config).await?;
    println!("peer sandboxes at {}", running.base_url);
    for (peer, path) in [
        ("Yalo", "/yalo"),
        ("Salesforce", "/salesforce"),
        ("Pipedrive", "/pipedrive/v1"),
        ("Yeahdesk", "/yeahdesk"),
    ] {
        println!("  {peer:<10} {}{path}", running.base_url);
    }
    println!(
        "  control    {}/_sandbox (requests, violations, faults, simulated customers and agents)",
        running.base_url
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
