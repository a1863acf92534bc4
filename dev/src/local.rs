//! The whole product on one machine: local AWS (moto), the table, bucket and
//! queues, the peer sandboxes, and the local runner wired to them. The
//! `omnibridge-local` command is this plus printing.

use anyhow::Context;
use omnibridge::bootstrap::Runtime;
use omnibridge::config::{SecretSource, Settings};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::sandbox::{self, RunningSandbox, SandboxConfig};
use crate::{emulator, provision, runner};

pub struct LocalOptions {
    pub addr: SocketAddr,
    /// An emulator to use; moto's server is started on `moto_port` when absent.
    pub aws_endpoint: Option<String>,
    pub moto_port: u16,
    pub template: PathBuf,
    pub workers: bool,
    /// Where the peer sandboxes listen; `None` keeps the peer URLs of the settings.
    pub sandbox_addr: Option<SocketAddr>,
    pub settings: Settings,
}

/// Everything running; stops when dropped.
pub struct Local {
    pub endpoint: String,
    pub settings: Settings,
    pub runner: runner::Running,
    pub sandbox: Option<RunningSandbox>,
    _moto: Option<emulator::Moto>,
}

pub async fn start(mut opts: LocalOptions) -> anyhow::Result<Local> {
    let (moto, endpoint) = match opts.aws_endpoint.take() {
        Some(url) => (None, url),
        None => {
            let moto = emulator::Moto::start(opts.moto_port)?;
            let url = moto.endpoint.clone();
            (Some(moto), url)
        }
    };
    let aws = emulator::sdk_config(&endpoint).await;
    let mut settings = opts.settings;
    if matches!(settings.jwt_secret, SecretSource::Unset) {
        settings.jwt_secret = SecretSource::Value(SecretString::from(format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4())));
    }
    provision::ensure(&aws, &mut settings, 30).await.context("creating the local table, bucket and queues")?;
    // The runner's listener is bound first so the sandbox knows where omnibridge is.
    let listener = std::net::TcpListener::bind(opts.addr).with_context(|| format!("binding {}", opts.addr))?;
    let addr = listener.local_addr()?;
    drop(listener);
    let sandbox = match opts.sandbox_addr {
        Some(sandbox_addr) => {
            let mut config = SandboxConfig::local(sandbox_addr);
            config.omnibridge_url = Some(format!("http://{addr}"));
            config.salesforce.sqs = Some(aws_sdk_sqs::Client::new(&aws));
            config.salesforce.event_queue_url = settings.salesforce_events_queue_url.clone();
            let sandbox = sandbox::start(config).await.context("starting the peer sandboxes")?;
            sandbox.configure(&mut settings);
            Some(sandbox)
        }
        None => None,
    };
    let rt = Runtime::with(settings.clone(), aws);
    if sandbox.is_some() {
        register_sandbox_channel(&rt).await.context("registering the Pipedrive channel with the sandbox")?;
    }
    let runner = runner::start(
        rt,
        runner::RunnerConfig { template: opts.template, addr, workers: opts.workers, poll_wait: Duration::from_secs(1) },
    )
    .await?;
    Ok(Local { endpoint, settings, runner, sandbox, _moto: moto })
}

/// The sandbox's Pipedrive gets the channel handoffs use, as an operator
/// would register it with `omnibridge-admin pipedrive register`.
async fn register_sandbox_channel(rt: &Runtime) -> anyhow::Result<()> {
    use omnibridge::services::pipedrive::PipedriveChannel;
    let Some(desk) = rt.pipedrive().await? else { return Ok(()) };
    let id = &rt.settings.pipedrive.channel_id;
    let mut channel = PipedriveChannel::new(id, "omnibridge (local)", "whatsapp")?;
    channel.template_support = true;
    desk.register_channel(channel).await?;
    Ok(())
}
