//! The whole product on one machine, deployed from template.yaml as AWS
//! would deploy it: local AWS (moto), the stack's parameters (secrets put in
//! Secrets Manager and passed by ARN), its resources, the peer sandboxes,
//! the local runner, and EventBridge for Salesforce Event Relay. The
//! `omnibridge-local` command is this plus printing.

use anyhow::Context;
use omnibridge::bootstrap::Runtime;
use omnibridge::config::{Env, Settings};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::iam::Upstreams;
use crate::lambda::{bus::LocalBus, Mode};
use crate::sandbox::{self, RunningSandbox, SandboxConfig};
use crate::template::{Stack, StackInput, Template};
use crate::{emulator, provision, runner};

/// The account the emulator serves.
pub const ACCOUNT: &str = "123456789012";

/// The key that signs the local stack's API tokens unless another is given
/// (`--secret JwtSecretArn=...`): public, so the sample events can carry
/// valid tokens; a deployment has its own in Secrets Manager.
pub const LOCAL_JWT_KEY: &str = "omnibridge-local-stack-jwt-key-not-for-deployments";

/// The Yalo webhook secret of `dev/run`'s stack: public, so that the sample
/// webhooks can carry it (`?secret=`); a deployment generates its own.
pub const LOCAL_YALO_WEBHOOK_SECRET: &str = "omnibridge-local-stack-yalo-webhook-secret";

/// What `dev/run` gives its stack beyond the sandboxes' parameters, so that
/// the sample events in `events/` work as they are: the public JWT key and
/// Yalo webhook secret, and webhooks of any age (the samples carry the
/// seed's 2021 timestamps). Each is a parameter; the LocalOnly one cannot
/// be deployed to AWS (the template's rule refuses it).
pub fn sample_parameters(params: &mut Parameters) {
    params.secret("JwtSecretArn", LOCAL_JWT_KEY);
    params.secret("YaloWebhookSecretArn", LOCAL_YALO_WEBHOOK_SECRET);
    params.set("LocalOnlyWebhookMaxAgeSeconds", (100 * 365 * 24 * 3600u64).to_string());
}

/// Template parameter values for a local stack; secrets are put in Secrets
/// Manager at deploy and their parameters given the secrets' ARNs.
#[derive(Clone, Debug, Default)]
pub struct Parameters {
    values: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
}

impl Parameters {
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.secrets.remove(name);
        self.values.insert(name.to_owned(), value.into());
        self
    }

    /// A parameter that takes a Secrets Manager ARN, given the secret's value.
    pub fn secret(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.values.remove(name);
        self.secrets.insert(name.to_owned(), value.into());
        self
    }

    /// `other`'s parameters over these.
    pub fn merge(&mut self, other: &Parameters) {
        for (k, v) in &other.values {
            self.set(k, v.clone());
        }
        for (k, v) in &other.secrets {
            self.secret(k, v.clone());
        }
    }
}

/// A stack deployed to the local AWS.
pub struct Deployed {
    pub stack: Stack,
    /// An operator's view: every function's settings together, with the
    /// emulator's admin credentials (as `omnibridge-admin` runs).
    pub operator: Runtime,
}

/// Deploys `template` as the stack `name` to the emulator at `endpoint`.
pub async fn deploy(
    endpoint: &str,
    template: &Template,
    name: &str,
    params: &Parameters,
) -> anyhow::Result<Deployed> {
    let aws = emulator::sdk_config(endpoint).await;
    let mut values = params.values.clone();
    for (param, secret) in &params.secrets {
        let arn = provision::put_secret(&aws, &format!("{name}/{param}"), secret).await?;
        values.insert(param.clone(), arn);
    }
    // The secrets the template itself creates (their ARNs are known once they exist).
    let mut created = BTreeMap::new();
    for secret in template.secrets() {
        let value = secret.value.clone().unwrap_or_else(|| {
            let random: String = std::iter::repeat_with(fastrand::alphanumeric)
                .take(secret.generated_length)
                .collect();
            random
        });
        let arn =
            provision::put_secret(&aws, &format!("{name}/{}", secret.logical_id), &value).await?;
        created.insert(
            secret.logical_id,
            crate::template::Physical {
                reference: arn.clone(),
                attributes: BTreeMap::from([("Id".to_owned(), arn)]),
            },
        );
    }
    let region =
        aws.region().map(std::string::ToString::to_string).unwrap_or_else(|| "us-east-1".into());
    let input = StackInput {
        name: name.to_owned(),
        region,
        account: ACCOUNT.into(),
        parameters: values,
        queue_url_base: endpoint.to_owned(),
        created,
    };
    let stack = Stack::resolve(template, &input).context("deploying template.yaml")?;
    provision::create(&aws, &stack).await.context("creating the stack's resources")?;
    let operator = Runtime::with(operator_settings(&stack)?, aws);
    Ok(Deployed { stack, operator })
}

/// Every function's environment together: what an operator exports from the stack.
pub fn operator_environment(stack: &Stack) -> BTreeMap<String, String> {
    stack.functions.iter().flat_map(|f| f.environment.clone()).collect()
}

fn operator_settings(stack: &Stack) -> anyhow::Result<Settings> {
    let env = operator_environment(stack);
    Ok(Settings::from_lookup(&Env(move |k: &str| env.get(k).cloned()))?)
}

pub struct LocalOptions {
    pub addr: SocketAddr,
    /// An emulator to use; moto's server is started on `moto_port` when absent.
    pub aws_endpoint: Option<String>,
    /// DynamoDB's own emulator, if it has one.
    pub dynamodb_endpoint: Option<String>,
    pub moto_port: u16,
    pub template: Template,
    pub stack_name: String,
    pub workers: bool,
    /// The peer sandboxes to start (on `addr`); `None`: the peers the parameters name.
    pub sandbox: Option<SandboxConfig>,
    /// Given last, over what the runner and the sandboxes fill in.
    pub parameters: Parameters,
    pub mode: Mode,
    pub invoke_addr: Option<SocketAddr>,
    pub poll_wait: Duration,
}

/// An endpoint the environment names (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`), if set and not empty.
pub fn endpoint_from_env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

impl LocalOptions {
    /// A throwaway stack for a measuring command (`dev/bench`, `dev/load`):
    /// the emulators the environment names (moto is started otherwise), the
    /// sandboxes, everything on free ports, and a stack name of its own.
    pub fn measuring(
        prefix: &str,
        template: &std::path::Path,
        mode: Mode,
        workers: bool,
        parameters: Parameters,
    ) -> anyhow::Result<Self> {
        Ok(LocalOptions {
            addr: "127.0.0.1:0".parse()?,
            aws_endpoint: endpoint_from_env("AWS_ENDPOINT_URL"),
            dynamodb_endpoint: endpoint_from_env("AWS_ENDPOINT_URL_DYNAMODB"),
            moto_port: 0,
            template: Template::read(template)?,
            stack_name: format!(
                "{prefix}-{}",
                uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap_or_default()
            ),
            workers,
            sandbox: Some(SandboxConfig::local("127.0.0.1:0".parse()?)),
            parameters,
            mode,
            invoke_addr: None,
            poll_wait: Duration::from_secs(1),
        })
    }
}

/// Everything running; stops when dropped.
pub struct Local {
    pub endpoint: String,
    pub stack: Stack,
    pub operator: Runtime,
    pub runner: runner::Running,
    pub sandbox: Option<RunningSandbox>,
    pub moto: Option<emulator::Moto>,
}

pub async fn start(opts: LocalOptions) -> anyhow::Result<Local> {
    let (moto, endpoint) = match opts.aws_endpoint.clone() {
        Some(url) => (None, url),
        None => {
            let moto = emulator::Moto::start(opts.moto_port)?;
            let url = moto.endpoint.clone();
            (Some(moto), url)
        }
    };
    // Bound first: the stack's parameters and the sandboxes need its address.
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("binding {}", opts.addr))?;
    let addr = listener.local_addr()?;
    let mut params = Parameters::default();
    params.set("PublicUrl", format!("http://{addr}"));
    params.secret("JwtSecretArn", LOCAL_JWT_KEY);
    let sandbox = match opts.sandbox {
        Some(mut config) => {
            config.omnibridge_url = Some(format!("http://{addr}"));
            let sandbox = sandbox::start(config).await.context("starting the peer sandboxes")?;
            Some(sandbox)
        }
        None => None,
    };
    if let Some(s) = &sandbox {
        s.parameters(&mut params);
    }
    params.merge(&opts.parameters);
    let Deployed { stack, operator } =
        deploy(&endpoint, &opts.template, &opts.stack_name, &params).await?;
    let runner = runner::start(runner::RunnerConfig {
        stack: stack.clone(),
        mode: opts.mode,
        listener,
        invoke_addr: opts.invoke_addr,
        workers: opts.workers,
        poll_wait: opts.poll_wait,
        upstreams: Upstreams {
            default: endpoint.clone(),
            dynamodb: opts.dynamodb_endpoint.clone(),
        },
    })
    .await?;
    if let Some(s) = &sandbox {
        // Yalo's customers write to the webhooks as registered: with the stack's secret.
        if let omnibridge::config::SecretSource::SecretsManager { .. } =
            &operator.settings.yalo_webhook_secret
        {
            let secret = operator
                .secret(&operator.settings.yalo_webhook_secret, "OMNIBRIDGE_YALO_WEBHOOK_SECRET")
                .await?;
            s.use_yalo_webhook_secret(secrecy::ExposeSecret::expose_secret(&secret));
        }
        if let Some(bus) = stack
            .params
            .get("SalesforceEventBusName")
            .and_then(|b| b.as_str())
            .filter(|b| !b.is_empty())
        {
            let sqs = aws_sdk_sqs::Client::new(&emulator::sdk_config(&endpoint).await);
            s.set_event_relay(Arc::new(LocalBus {
                name: bus.to_owned(),
                stack: stack.clone(),
                sqs,
            }));
        }
        register_sandbox_channel(&operator)
            .await
            .context("registering the Pipedrive channel with the sandbox")?;
    }
    Ok(Local { endpoint, stack, operator, runner, sandbox, moto })
}

/// The sandbox's Pipedrive gets the channel handoffs use, as an operator
/// would register it with `omnibridge-admin pipedrive register`.
async fn register_sandbox_channel(rt: &Runtime) -> anyhow::Result<()> {
    use omnibridge::model::PipedriveChannel;
    let Some(desk) = rt.pipedrive().await? else { return Ok(()) };
    let id = &rt.settings.pipedrive.channel_id;
    let mut channel = PipedriveChannel::new(id, "omnibridge (local)", "whatsapp")?;
    channel.template_support = true;
    desk.register_channel(channel).await?;
    Ok(())
}
