//! A client of the sandbox's control API, for tests.

use serde_json::{json, Value};

use super::{Fault, Recorded};

#[derive(Clone, Debug)]
pub struct SandboxClient {
    pub base_url: String,
    http: reqwest::Client,
}

impl SandboxClient {
    pub fn new(base_url: &str) -> Self {
        omnibridge::bootstrap::install_crypto_provider();
        SandboxClient { base_url: base_url.trim_end_matches('/').to_owned(), http: crate::http() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/_sandbox{path}", self.base_url)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.http.get(self.url(path)).send().await?.error_for_status()?.json().await?)
    }

    /// POSTs a control request; returns the sandbox's JSON answer (an error for 4xx/5xx).
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let res = self.http.post(self.url(path)).json(body).send().await?;
        let status = res.status();
        let value: Value = res.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "sandbox {path}: {status} {value}");
        Ok(value)
    }

    /// Every request `peer` received (all peers when `None`), oldest first.
    pub async fn requests(&self, peer: Option<&str>) -> anyhow::Result<Vec<Recorded>> {
        let path = match peer {
            Some(p) => format!("/requests?peer={p}"),
            None => "/requests".into(),
        };
        Ok(serde_json::from_value(self.get(&path).await?)?)
    }

    /// The requests that broke a peer's contract.
    pub async fn violations(&self) -> anyhow::Result<Vec<Recorded>> {
        Ok(serde_json::from_value(self.get("/violations").await?)?)
    }

    pub async fn inject(&self, fault: &Fault) -> anyhow::Result<()> {
        self.post("/faults", &serde_json::to_value(fault)?).await.map(|_| ())
    }

    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.http.delete(self.url("/faults")).send().await?.error_for_status()?;
        Ok(())
    }

    pub async fn reset(&self) -> anyhow::Result<()> {
        self.post("/reset", &json!({})).await.map(|_| ())
    }

    /// Where simulated customers and agents write.
    pub async fn set_omnibridge_url(&self, url: &str) -> anyhow::Result<()> {
        self.post("/config", &json!({"omnibridgeUrl": url})).await.map(|_| ())
    }

    /// A simulated Yalo customer writes (see the sandbox's `CustomerWrites`).
    pub async fn customer_writes(&self, w: &Value) -> anyhow::Result<Value> {
        self.post("/yalo/customer", w).await
    }

    /// What Yalo was asked to send to customers (`user_id` filters).
    pub async fn yalo_delivered(&self, user_id: Option<&str>) -> anyhow::Result<Value> {
        match user_id {
            Some(u) => self.get(&format!("/yalo/delivered?userId={u}")).await,
            None => self.get("/yalo/delivered").await,
        }
    }

    /// The simulated Salesforce agent acts (message, typing, session end).
    pub async fn salesforce_agent(&self, a: &Value) -> anyhow::Result<Value> {
        self.post("/salesforce/agent", a).await
    }

    /// The conversations as the Salesforce agent sees them.
    pub async fn salesforce_conversations(&self) -> anyhow::Result<Value> {
        self.get("/salesforce/conversations").await
    }

    pub async fn expire_salesforce_tokens(&self) -> anyhow::Result<()> {
        self.post("/salesforce/expire-tokens", &json!({})).await.map(|_| ())
    }

    pub async fn expire_pipedrive_tokens(&self) -> anyhow::Result<()> {
        self.post("/pipedrive/expire-tokens", &json!({})).await.map(|_| ())
    }

    /// From now on each renewal answers a new refresh token and retires the old one.
    pub async fn rotate_pipedrive_refresh_tokens(&self) -> anyhow::Result<()> {
        self.post("/pipedrive/rotate-refresh-tokens", &json!({})).await.map(|_| ())
    }

    pub async fn pipedrive_agent_sends(&self, a: &Value) -> anyhow::Result<Value> {
        self.post("/pipedrive/agent-sends", a).await
    }

    pub async fn pipedrive_agent_reads(&self, path: &str) -> anyhow::Result<Value> {
        self.post("/pipedrive/agent-reads", &json!({"path": path})).await
    }

    /// Messages delivered into Pipedrive with `messages/receive`.
    pub async fn pipedrive_received(&self) -> anyhow::Result<Value> {
        self.get("/pipedrive/received").await
    }

    pub async fn yeahdesk_agent_replies(&self, a: &Value) -> anyhow::Result<Value> {
        self.post("/yeahdesk/agent-replies", a).await
    }

    pub async fn yeahdesk_dialogs(&self) -> anyhow::Result<Value> {
        self.get("/yeahdesk/dialogs").await
    }

    pub async fn yeahdesk_contacts(&self) -> anyhow::Result<Value> {
        self.get("/yeahdesk/contacts").await
    }
}
