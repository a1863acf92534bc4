//! `omnibridge-load`: the local stack under Meta's per-number rate (see `dev/load`).

use clap::Parser;
use omnibridge_dev::load::{self, LoadOptions};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Run the local stack (release, in process) under an open-loop mix of webhooks and agent replies"
)]
struct Args {
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Customer messages a second (Meta's per-number rate: 80).
    #[arg(long, default_value_t = 80.0)]
    messages: f64,
    /// Status notices a second (sent, delivered, read: three per message).
    #[arg(long, default_value_t = 240.0)]
    statuses: f64,
    /// Agent replies a second.
    #[arg(long, default_value_t = 10.0)]
    replies: f64,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Customers writing; half of them in an open Salesforce chat.
    #[arg(long, default_value_t = 200)]
    customers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    omnibridge_dev::init_quiet_tracing();
    let a = Args::parse();
    let opts = LoadOptions {
        template: a.template,
        messages: a.messages,
        statuses: a.statuses,
        replies: a.replies,
        seconds: a.seconds,
        customers: a.customers.max(2),
    };
    let report = load::run(opts).await?;
    let (text, ok) = load::render(&report);
    println!("{text}");
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
