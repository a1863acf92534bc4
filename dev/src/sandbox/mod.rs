//! The peer sandboxes: one local HTTP server that plays Yalo, Salesforce,
//! Pipedrive and Yeahdesk as their contracts describe them, so omnibridge is
//! tested against the contracts and not against its own assumptions.
//!
//! - `/yalo/...`, `/salesforce/...`, `/pipedrive/...`, `/yeahdesk/...`: the
//!   peers' APIs that omnibridge calls. A request that breaks a contract is
//!   refused as the peer would refuse it and recorded as a violation.
//! - `/_sandbox/...`: the control API for tests and people: recorded
//!   requests, violations, fault injection, and the other direction (a
//!   simulated customer or agent writing to omnibridge). See [`client`].

pub mod client;
mod control;
mod http;
mod pipedrive;
mod salesforce;
mod yalo;
mod yeahdesk;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub use http::{Incoming, Reply};

/// One request a peer received, as recorded.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    pub seq: u64,
    pub peer: String,
    /// The peer's name for the endpoint (e.g. `salesforce.interactions`).
    pub route: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// The body as text when it is UTF-8, else base64 in `body_base64`.
    pub body: Option<String>,
    pub body_base64: Option<String>,
    pub status: u16,
    /// Contract violations found in this request (empty when it was right).
    pub violations: Vec<String>,
    /// Whether an injected fault answered instead of the peer.
    pub faulted: bool,
}

/// An injected fault: what happens to the next matching requests.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Fault {
    pub peer: String,
    /// A route name (`salesforce.interactions`); all of the peer's routes when absent.
    #[serde(default)]
    pub route: Option<String>,
    pub effect: Effect,
    /// Applies to the next N matching requests; forever when absent.
    #[serde(default)]
    pub times: Option<u32>,
    /// Applies to this share (0..1) of matching requests; all when absent.
    #[serde(default)]
    pub ratio: Option<f64>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Effect {
    /// Answer with this status. The body is the peer's own error envelope
    /// (Pipedrive's with `retry_by` for 429, Salesforce's `{code, message}`
    /// with `sf_code`), unless `body` is given.
    Status {
        status: u16,
        #[serde(default)]
        retry_after_secs: Option<u64>,
        #[serde(default)]
        sf_code: Option<u32>,
        #[serde(default)]
        body: Option<serde_json::Value>,
    },
    /// Wait this long, then answer normally.
    Latency { ms: u64 },
    /// Close the connection without answering.
    Drop,
}

/// Where Salesforce Event Relay publishes the org's platform events: a
/// partner event bus (the local stack's EventBridge). Answers what was
/// delivered where.
pub trait EventRelay: Send + Sync {
    fn publish(
        &self,
        event: serde_json::Value,
    ) -> futures::future::BoxFuture<'_, Result<serde_json::Value, String>>;
}

/// Settings of the four peers.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    pub addr: SocketAddr,
    /// omnibridge's base URL, where simulated customers and agents write.
    pub omnibridge_url: Option<String>,
    pub yalo: yalo::YaloConfig,
    pub salesforce: salesforce::SalesforceConfig,
    pub pipedrive: pipedrive::PipedriveConfig,
    pub yeahdesk: yeahdesk::YeahdeskConfig,
}

pub use pipedrive::PipedriveConfig;
pub use salesforce::{SalesforceConfig, SANDBOX_PRIVATE_KEY, SANDBOX_PUBLIC_KEY};
pub use yalo::YaloConfig;
pub use yeahdesk::YeahdeskConfig;

impl SandboxConfig {
    /// The sandbox defaults, on `addr` (port 0 picks one).
    pub fn local(addr: SocketAddr) -> Self {
        SandboxConfig {
            addr,
            omnibridge_url: None,
            yalo: YaloConfig::default(),
            salesforce: SalesforceConfig::default(),
            pipedrive: PipedriveConfig::default(),
            yeahdesk: YeahdeskConfig::default(),
        }
    }
}

#[derive(Default)]
struct State {
    next_seq: u64,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    omnibridge_url: Option<String>,
    event_relay: Option<Arc<dyn EventRelay>>,
    yalo_webhook_secret: Option<String>,
    yalo: yalo::YaloState,
    salesforce: salesforce::SalesforceState,
    pipedrive: pipedrive::PipedriveState,
    yeahdesk: yeahdesk::YeahdeskState,
}

pub(crate) struct Sandbox {
    config: SandboxConfig,
    base_url: String,
    state: Mutex<State>,
    http: reqwest::Client,
}

impl Sandbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn omnibridge_url(&self) -> Option<String> {
        self.lock().omnibridge_url.clone().or_else(|| self.config.omnibridge_url.clone())
    }

    fn event_relay(&self) -> Option<Arc<dyn EventRelay>> {
        self.lock().event_relay.clone()
    }

    /// What the simulated Yalo signs webhooks with, if anything.
    fn yalo_webhook_secret(&self) -> Option<String> {
        self.config.yalo.webhook_secret.clone().or_else(|| self.lock().yalo_webhook_secret.clone())
    }

    /// The first fault matching `peer`/`route` that fires (a fault with a
    /// `ratio` fires that share of the time, else the next one is tried),
    /// consuming one of its uses.
    fn take_fault(&self, peer: &str, route: &str) -> Option<Effect> {
        let mut st = self.lock();
        let idx = st.faults.iter().position(|f| {
            f.peer == peer
                && f.route.as_deref().is_none_or(|r| r == route)
                && f.times != Some(0)
                && f.ratio.is_none_or(|ratio| fastrand::f64() < ratio)
        })?;
        let fault = &mut st.faults[idx];
        if let Some(t) = fault.times.as_mut() {
            *t -= 1;
        }
        let effect = fault.effect.clone();
        st.faults.retain(|f| f.times != Some(0));
        Some(effect)
    }

    fn record(
        &self,
        peer: &str,
        route: &str,
        req: &Incoming,
        status: u16,
        violations: Vec<String>,
        faulted: bool,
    ) {
        let (body, body_base64) = match std::str::from_utf8(&req.body) {
            Ok(t) => (Some(t.to_owned()), None),
            Err(_) => {
                use base64::Engine;
                (None, Some(base64::engine::general_purpose::STANDARD.encode(&req.body)))
            }
        };
        let mut st = self.lock();
        st.next_seq += 1;
        let seq = st.next_seq;
        if !violations.is_empty() {
            tracing::warn!(peer, route, ?violations, "contract violation");
        }
        st.requests.push(Recorded {
            seq,
            peer: peer.to_owned(),
            route: route.to_owned(),
            method: req.method.to_string(),
            path: req.path.clone(),
            query: req.raw_query.clone(),
            headers: req
                .headers
                .iter()
                .map(|(k, v)| {
                    (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())
                })
                .collect(),
            body,
            body_base64,
            status,
            violations,
            faulted,
        });
    }
}

/// A peer's answer to a request, with the contract violations it found.
pub(crate) struct Handled {
    pub reply: Reply,
    pub violations: Vec<String>,
}

impl Handled {
    pub fn ok(reply: Reply) -> Self {
        Handled { reply, violations: Vec::new() }
    }

    /// Refused for breaking the contract: recorded as a violation.
    pub fn violation(reply: Reply, what: impl Into<String>) -> Self {
        Handled { reply, violations: vec![what.into()] }
    }
}

impl RunningSandbox {
    /// Template parameters that point a local stack at this sandbox: the
    /// peer URLs, the sandbox's bot ids and org, and its credentials (as secrets).
    pub fn parameters(&self, params: &mut crate::local::Parameters) {
        let b = &self.base_url;
        let (sf, pd, yd) =
            (SalesforceConfig::default(), PipedriveConfig::default(), YeahdeskConfig::default());
        for (name, value) in [
            ("YaloApiUrl", format!("{b}/yalo")),
            ("SalesforceLoginUrl", format!("{b}/salesforce")),
            ("SalesforceApiUrl", format!("{b}/salesforce")),
            ("PipedriveApiUrl", format!("{b}/pipedrive/v1")),
            ("PipedriveOAuthUrl", format!("{b}/pipedrive")),
            ("YeahdeskApiUrl", format!("{b}/yeahdesk")),
            ("YaloWhatsappBotId", "omnibridge-wa".to_owned()),
            ("YaloWhatsappPhone", "+5215511223344".to_owned()),
            ("YaloFacebookBotId", "omnibridge-fb".to_owned()),
            ("YaloFacebookPageId", "233726951928054".to_owned()),
            ("SalesforceConsumerKey", sf.consumer_key),
            ("SalesforceUsername", sf.username),
            ("SalesforceOrgId", sf.org_id.clone()),
            ("SalesforceAuthorizationContext", sf.authorization_context),
            ("SalesforceChannelAddressId", sf.channel_address_identifier),
            ("SalesforceEventBusName", salesforce::partner_bus(&sf.org_id)),
            ("PipedriveClientId", pd.client_id),
            ("YeahdeskChannelId", yd.channel_id),
        ] {
            params.set(name, value);
        }
        for (name, value) in [
            ("YaloTokenSecretArn", YaloConfig::default().token),
            ("SalesforcePrivateKeySecretArn", SANDBOX_PRIVATE_KEY.to_owned()),
            ("PipedriveClientSecretArn", pd.client_secret),
            ("PipedriveApiTokenSecretArn", pd.api_token),
            ("PipedriveRefreshTokenSecretArn", pd.refresh_token),
            ("YeahdeskTokenSecretArn", yd.token),
            ("YeahdeskWebhookSecretArn", yd.webhook_secret),
        ] {
            params.secret(name, value);
        }
        // The sandboxes serve media on loopback: the local stack lets the fetcher reach them.
        if let Ok(addr) =
            self.base_url.trim_start_matches("http://").parse::<std::net::SocketAddr>()
        {
            params.set("LocalOnlyFetchAllowPrivateIps", addr.ip().to_string());
        }
    }

    /// The secret the simulated Yalo signs its webhooks with (as the stack's
    /// registered webhooks carry it), unless the sandbox was given one.
    pub fn use_yalo_webhook_secret(&self, secret: &str) {
        let mut st = self.sandbox.lock();
        if self.sandbox.config.yalo.webhook_secret.is_none() {
            st.yalo_webhook_secret = Some(secret.to_owned());
        }
    }

    /// Where Salesforce Event Relay publishes (the local stack's EventBridge).
    pub fn set_event_relay(&self, relay: Arc<dyn EventRelay>) {
        self.sandbox.lock().event_relay = Some(relay);
    }
}

/// A running sandbox; stops when dropped.
pub struct RunningSandbox {
    pub base_url: String,
    sandbox: Arc<Sandbox>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSandbox {
    pub fn client(&self) -> client::SandboxClient {
        client::SandboxClient::new(&self.base_url)
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

/// Starts the sandbox on `config.addr`.
pub async fn start(config: SandboxConfig) -> anyhow::Result<RunningSandbox> {
    omnibridge::bootstrap::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let sandbox = Arc::new(Sandbox {
        config,
        base_url: base_url.clone(),
        state: Mutex::new(State::default()),
        http: omnibridge::adapters::http_client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
    });
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(http::serve(listener, sandbox.clone(), stopped));
    Ok(RunningSandbox { base_url, sandbox, stop, task })
}

/// Routes a request to its peer (or the control API), applying faults and recording it.
async fn dispatch(sb: Arc<Sandbox>, req: Incoming) -> Option<Reply> {
    let segments: Vec<String> = req.path.trim_matches('/').split('/').map(str::to_owned).collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (peer, rest) = match segs.split_first() {
        Some((p, rest)) => (*p, rest),
        None => return Some(Reply::not_found()),
    };
    if peer == "_sandbox" {
        return Some(control::handle(&sb, &req, rest).await);
    }
    let route = match peer {
        "yalo" => yalo::route(&req.method, rest),
        "salesforce" => salesforce::route(&req.method, rest),
        "pipedrive" => pipedrive::route(&req.method, rest),
        "yeahdesk" => yeahdesk::route(&req.method, rest),
        _ => None,
    };
    let Some(route) = route else {
        sb.record(
            peer,
            "unknown",
            &req,
            404,
            vec![format!("no such endpoint: {} {}", req.method, req.path)],
            false,
        );
        return Some(Reply::not_found());
    };
    if let Some(effect) = sb.take_fault(peer, route) {
        match effect {
            Effect::Drop => {
                sb.record(peer, route, &req, 0, Vec::new(), true);
                return None;
            }
            Effect::Latency { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
            Effect::Status { status, retry_after_secs, sf_code, body } => {
                let reply = http::fault_reply(peer, status, retry_after_secs, sf_code, body);
                sb.record(peer, route, &req, status, Vec::new(), true);
                return Some(reply);
            }
        }
    }
    let handled = match peer {
        "yalo" => yalo::handle(&sb, route, &req, rest).await,
        "salesforce" => salesforce::handle(&sb, route, &req, rest).await,
        "pipedrive" => pipedrive::handle(&sb, route, &req, rest).await,
        _ => yeahdesk::handle(&sb, route, &req, rest).await,
    };
    sb.record(peer, route, &req, handled.reply.status.as_u16(), handled.violations, false);
    Some(handled.reply)
}
