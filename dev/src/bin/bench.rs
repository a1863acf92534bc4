//! `omnibridge-bench`: measures every function's release binary next to a
//! bare `lambda_runtime` hello-world (see `dev/bench`).

use clap::Parser;
use omnibridge_dev::bench::{self, BenchOptions};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Measure each function's release binary behind a Lambda Runtime API emulator, next to a hello-world"
)]
struct Args {
    /// Where the release binaries (the functions and hello) are.
    #[arg(long, default_value = "target/release")]
    binaries: PathBuf,
    #[arg(long, default_value = "events")]
    events: PathBuf,
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Cold starts per function.
    #[arg(long, default_value_t = 7)]
    cold: usize,
    /// Warm invocations per function.
    #[arg(long, default_value_t = 200)]
    warm: usize,
    /// Only the functions whose name contains one of these.
    only: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    omnibridge_dev::init_quiet_tracing();
    let a = Args::parse();
    let rows = bench::run(BenchOptions {
        binaries: a.binaries,
        events: a.events,
        template: a.template,
        cold: a.cold,
        warm: a.warm,
        only: a.only,
    })
    .await?;
    let (table, all_hold) = bench::report(&rows);
    println!("{table}");
    if !all_hold {
        std::process::exit(1);
    }
    Ok(())
}
