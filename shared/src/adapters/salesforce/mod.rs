//! Salesforce Messaging for In-App and Web / Bring Your Own Channel: the
//! Interaction Service API with the OAuth 2.0 JWT bearer flow.
//!
//! The access token is cached for the life of a warm function and minted
//! again on a 401, with one retry. Salesforce's error codes are classified:
//! 10055, 10056, 10019 and 10094 (and 429, 5xx) may pass; 10046 and other
//! 4xx do not; 10073 (an entry id already accepted) is a success for a retry.

pub mod events;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::adapters::http_client::{self, Token, TokenCache};
use crate::config::{SalesforceSettings, Settings};
use crate::model::{
    now_millis, Conversation, ConversationStatus, DeskKind, EpochMillis, Message, MessageSource,
    WorkRequest,
};
use crate::ports::{Desk, Files, Handover, Receipt};
use crate::{Error, Result};

const PEER: &str = "Salesforce";
/// Error codes that mean "try again later".
const RETRY_CODES: &[i64] = &[10055, 10056, 10019, 10094];
/// "Invalid message ID. Provide a unique ID for each message entry."
const DUPLICATE_ENTRY: i64 = 10073;

/// How the org routes a new conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routing {
    /// The messaging channel's own configuration.
    Channel,
    Queue(String),
    /// A flow, with the queue used when the flow fails.
    Flow {
        flow_id: String,
        fallback_queue_id: String,
    },
}

impl Routing {
    pub fn parse(s: &str) -> Result<Routing> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["channel"] => Ok(Routing::Channel),
            ["queue", q] if !q.is_empty() => Ok(Routing::Queue(q.to_string())),
            ["flow", f, q] if !f.is_empty() && !q.is_empty() => {
                Ok(Routing::Flow { flow_id: f.to_string(), fallback_queue_id: q.to_string() })
            }
            _ => Err(Error::Config(format!(
                "OMNIBRIDGE_SALESFORCE_ROUTING must be channel, queue:<queueId> or flow:<flowId>:<fallbackQueueId>, got {s:?}"
            ))),
        }
    }
}

/// The capacity an agent work takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Capacity {
    Weight(f64),
    Percentage(f64),
}

impl Capacity {
    pub fn parse(s: &str) -> Result<Capacity> {
        let bad = || {
            Error::Config(format!("OMNIBRIDGE_SALESFORCE_AGENT_WORK must be weight:<n> or percentage:<0-100>, got {s:?}"))
        };
        let (kind, n) = s.split_once(':').ok_or_else(bad)?;
        let n: f64 = n.trim().parse().map_err(|_| bad())?;
        match kind {
            "weight" if n >= 0.0 => Ok(Capacity::Weight(n)),
            "percentage" if (0.0..=100.0).contains(&n) => Ok(Capacity::Percentage(n)),
            _ => Err(bad()),
        }
    }
}

/// What Salesforce answered to an interaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    pub conversation_identifier: Option<String>,
    pub work_item_ids: Vec<String>,
}

/// A file to attach.
pub struct File {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub struct SalesforceDesk {
    http: reqwest::Client,
    login_url: String,
    api_url: String,
    consumer_key: String,
    username: String,
    key: EncodingKey,
    org_id: String,
    authorization_context: String,
    pub channel_address_id: String,
    pub routing: Routing,
    /// Bots whose conversations are routed otherwise.
    routing_by_bot: Vec<(String, Routing)>,
    opt_out: Vec<String>,
    opt_in: Vec<String>,
    /// CCaaS partner routing: the agent work is assigned to, and the capacity it takes.
    agent_work: Option<(String, Capacity)>,
    token: TokenCache,
}

fn required(v: Option<&String>, name: &str) -> Result<String> {
    v.cloned().ok_or_else(|| Error::Config(format!("{name} is not set")))
}

impl SalesforceDesk {
    /// The desk, when the settings name an org (`None` when Salesforce is not configured).
    pub fn from_settings(
        settings: &Settings,
        private_key: Option<SecretString>,
        http: reqwest::Client,
    ) -> Result<Option<Self>> {
        let s: &SalesforceSettings = &settings.salesforce;
        let (Some(api_url), Some(private_key)) =
            (settings.peers.salesforce_api.clone(), private_key)
        else {
            return Ok(None);
        };
        use secrecy::ExposeSecret;
        crate::jwt::install();
        let key =
            EncodingKey::from_rsa_pem(private_key.expose_secret().as_bytes()).map_err(|e| {
                Error::Config(format!(
                    "OMNIBRIDGE_SALESFORCE_PRIVATE_KEY is not an RSA private key in PEM: {e}"
                ))
            })?;
        Ok(Some(SalesforceDesk {
            http,
            login_url: settings.peers.salesforce_login.trim_end_matches('/').to_owned(),
            api_url: api_url.trim_end_matches('/').to_owned(),
            consumer_key: required(s.consumer_key.as_ref(), "OMNIBRIDGE_SALESFORCE_CONSUMER_KEY")?,
            username: required(s.username.as_ref(), "OMNIBRIDGE_SALESFORCE_USERNAME")?,
            key,
            org_id: required(s.org_id.as_ref(), "OMNIBRIDGE_SALESFORCE_ORG_ID")?,
            authorization_context: required(
                s.authorization_context.as_ref(),
                "OMNIBRIDGE_SALESFORCE_AUTHORIZATION_CONTEXT",
            )?,
            channel_address_id: required(
                s.channel_address_id.as_ref(),
                "OMNIBRIDGE_SALESFORCE_CHANNEL_ADDRESS_ID",
            )?,
            routing: Routing::parse(&s.routing)?,
            routing_by_bot: s
                .routing_by_bot
                .iter()
                .flat_map(|m| m.split(';'))
                .filter(|pair| !pair.trim().is_empty())
                .map(|pair| {
                    let (bot, r) = pair.split_once('=').ok_or_else(|| {
                        Error::Config(format!(
                            "OMNIBRIDGE_SALESFORCE_ROUTING_BY_BOT: {pair:?} is not bot=routing"
                        ))
                    })?;
                    Ok((bot.trim().to_owned(), Routing::parse(r.trim())?))
                })
                .collect::<Result<_>>()?,
            opt_out: s.opt_out_keywords.clone(),
            opt_in: s.opt_in_keywords.clone(),
            agent_work: match (&s.agent_work, &s.ccaas_agent_id) {
                (Some(capacity), Some(agent)) => Some((agent.clone(), Capacity::parse(capacity)?)),
                (Some(_), None) => return Err(Error::Config(
                    "OMNIBRIDGE_SALESFORCE_AGENT_WORK needs OMNIBRIDGE_SALESFORCE_CCAAS_AGENT_ID"
                        .into(),
                )),
                _ => None,
            },
            token: TokenCache::default(),
        }))
    }

    /// Mints an access token with a signed assertion (JWT bearer flow).
    async fn mint(&self) -> Result<Token> {
        let exp = now_millis() / 1000 + 180;
        let claims = json!({"iss": self.consumer_key, "sub": self.username, "aud": self.login_url, "exp": exp});
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| {
                Error::permanent("signing the Salesforce assertion failed", Some(Box::new(e)))
            })?;
        let req = self.http.post(format!("{}/services/oauth2/token", self.login_url)).form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ]);
        let res = http_client::send(PEER, req).await?;
        let body: Value = res.json().await.map_err(|e| http_client::transport(PEER, e))?;
        let value = body["access_token"].as_str().ok_or_else(|| {
            Error::permanent("Salesforce's token answer has no access_token", None)
        })?;
        // The answer gives no lifetime: the token is used until refused.
        Ok(Token { value: SecretString::from(value.to_owned()), expires_at: None })
    }

    /// The cached token, or a new one when `stale` is the one that was refused.
    async fn access_token(&self, stale: Option<&str>) -> Result<String> {
        self.token.get(stale, || self.mint()).await
    }

    /// Calls the API with the org headers and a fresh RequestId; on a 401 the
    /// token is minted again and the call retried once.
    async fn call(&self, make: impl Fn() -> reqwest::RequestBuilder) -> Result<Value> {
        let mut token = self.access_token(None).await?;
        for attempt in 0..2 {
            let req = make()
                .bearer_auth(&token)
                .header("OrgId", &self.org_id)
                .header("AuthorizationContext", &self.authorization_context)
                .header("RequestId", uuid::Uuid::new_v4().to_string());
            let res = http_client::dispatch(PEER, req).await?;
            let status = res.status().as_u16();
            if status == 401 && attempt == 0 {
                token = self.access_token(Some(&token)).await?;
                continue;
            }
            let wait = http_client::retry_after(&res);
            let text = res.text().await.unwrap_or_default();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if (200..300).contains(&status) {
                return Ok(body);
            }
            let code = body["code"].as_i64();
            if code == Some(DUPLICATE_ENTRY) {
                // Already accepted by an earlier attempt whose answer was lost.
                return Ok(Value::Null);
            }
            if code.is_some_and(|c| RETRY_CODES.contains(&c)) {
                return Err(Error::Retryable {
                    what: format!("Salesforce answered {status} ({})", code.unwrap_or_default()),
                    retry_after: wait,
                    source: Some(text.into()),
                });
            }
            return Err(http_client::refused(PEER, status, wait, text));
        }
        Err(Error::Retryable {
            what: "Salesforce refused two fresh tokens".into(),
            retry_after: None,
            source: None,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.api_url)
    }

    /// Posts one interaction (and at most one file) for the end user `from`.
    async fn interact(
        &self,
        from: &str,
        interaction: Value,
        file: Option<&File>,
    ) -> Result<Accepted> {
        let body =
            json!({"to": self.channel_address_id, "from": from, "interactions": [interaction]});
        let body = self
            .call(|| {
                let json_part = reqwest::multipart::Part::text(body.to_string())
                    .mime_str("application/json")
                    .expect("a valid MIME type");
                let mut form = reqwest::multipart::Form::new().part("json", json_part);
                if let Some(f) = file {
                    let part = reqwest::multipart::Part::bytes(f.bytes.clone())
                        .file_name(f.name.clone())
                        .mime_str(&f.content_type)
                        .unwrap_or_else(|_| {
                            reqwest::multipart::Part::bytes(f.bytes.clone())
                                .file_name(f.name.clone())
                        });
                    form = form.part("attachments", part);
                }
                self.http.post(self.url("interactions")).multipart(form)
            })
            .await?;
        Ok(Accepted {
            conversation_identifier: body["conversationIdentifier"].as_str().map(str::to_owned),
            work_item_ids: body["workItemIds"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        })
    }

    /// A text message from the end user; `id` is the entry id (ours, stable across retries).
    async fn send_text(
        &self,
        from: &str,
        id: &str,
        text: &str,
        timestamp: i64,
    ) -> Result<Accepted> {
        let interaction = json!({"timestamp": timestamp, "interactionType": "EntryInteraction", "payload": {
            "id": id, "entryType": "Message",
            "abstractMessage": {"messageType": "StaticContentMessage", "id": id, "staticContent": {"formatType": "Text", "text": text}}}});
        self.interact(from, interaction, None).await
    }

    /// One file from the end user, with an optional text.
    async fn send_file(
        &self,
        from: &str,
        id: &str,
        text: Option<&str>,
        file: &File,
        timestamp: i64,
    ) -> Result<Accepted> {
        let mut interaction = json!({"timestamp": timestamp, "interactionType": "AttachmentInteraction", "id": id,
            "attachmentIndex": 0, "contentLength": file.bytes.len()});
        if let Some(t) = text {
            interaction["text"] = json!(t);
        }
        self.interact(from, interaction, Some(file)).await
    }

    /// The end user started or stopped typing.
    pub async fn typing(&self, from: &str, started: bool) -> Result<()> {
        let now = now_millis();
        let entry = if started { "TypingStartedIndicator" } else { "TypingStoppedIndicator" };
        let interaction = json!({"timestamp": now, "interactionType": "EntryInteraction",
            "payload": {"id": uuid::Uuid::new_v4().to_string(), "entryType": entry, "timestamp": now}});
        self.interact(from, interaction, None).await.map(|_| ())
    }

    /// An agent's message could not be delivered to the end user.
    async fn entry_failed(
        &self,
        end_user: &str,
        failed_entry: &str,
        error_code: &str,
    ) -> Result<()> {
        let interaction = json!({"timestamp": now_millis(), "interactionType": "EntryInteraction", "payload": {
            "id": uuid::Uuid::new_v4().to_string(), "entryType": "MessageDeliveryFailed",
            "failedConversationEntryIdentifier": failed_entry,
            "recipient": {"appType": "custom", "subject": end_user, "role": "EndUser"}, "errorCode": error_code}});
        self.interact(end_user, interaction, None).await.map(|_| ())
    }

    /// How `bot`'s conversations are routed.
    fn routing_for(&self, bot: &str) -> &Routing {
        self.routing_by_bot.iter().find(|(b, _)| b == bot).map(|(_, r)| r).unwrap_or(&self.routing)
    }

    /// Routes the conversation to an agent, the way the settings say for `bot`.
    async fn route_to_agent(
        &self,
        bot: &str,
        conversation_identifier: &str,
        attributes: &serde_json::Map<String, Value>,
    ) -> Result<()> {
        let mut body =
            json!({"conversationIdentifier": conversation_identifier, "routingType": "Initial"});
        match self.routing_for(bot) {
            Routing::Channel => {}
            Routing::Queue(q) => body["routingInfo"] = json!({"queueId": q}),
            Routing::Flow { flow_id, fallback_queue_id } => {
                let attrs: serde_json::Map<String, Value> = attributes
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), json!(s))))
                    .collect();
                body["routingInfo"] = json!({"flow": {"flowId": flow_id, "queueId": fallback_queue_id}, "routingAttributes": attrs});
            }
        }
        self.call(|| self.http.post(self.url("route")).json(&body)).await.map(|_| ())
    }

    /// Ends the messaging session (the answer to the seed's "Is there any way
    /// to end the chat through the Interaction API?": `POST /messagingSession`).
    async fn end_session(&self, conversation_identifier: &str, end_user: &str) -> Result<()> {
        let body = json!({"channelAddressIdentifier": self.channel_address_id, "conversationIdentifier": conversation_identifier,
                          "endUserClientId": end_user, "operation": "End", "operationBy": "EndUser"});
        self.call(|| self.http.post(self.url("messagingSession")).json(&body)).await.map(|_| ())
    }

    /// The consent a customer's message asks for, when it is one of the keywords.
    fn consent_keyword(&self, text: &str) -> Option<&'static str> {
        let t = text.trim().to_uppercase();
        if self.opt_out.contains(&t) {
            Some("OptedOut")
        } else if self.opt_in.contains(&t) {
            Some("ExplicitlyOptedIn")
        } else {
            None
        }
    }

    /// Records the end user's messaging consent (`OptedOut`, `ImplicitlyOptedIn`,
    /// `ExplicitlyOptedIn`, `DoublyOptedIn`).
    async fn set_consent(&self, end_user: &str, status: &str) -> Result<()> {
        let body = json!({"endUserClientId": end_user, "channelAddressIdentifier": self.channel_address_id, "consentStatus": status});
        self.call(|| self.http.patch(self.url("consent")).json(&body)).await.map(|_| ())
    }

    /// Assigns a work item to the CCaaS agent (partner routing).
    async fn agent_work(&self, work: &WorkRequest) -> Result<()> {
        let Some((user_id, capacity)) = &self.agent_work else {
            return Err(Error::Config("OMNIBRIDGE_SALESFORCE_AGENT_WORK is not set".into()));
        };
        let mut body = json!({"userId": user_id, "workItemId": work.work_item_id,
            "routingContext": {"conversationIdentifier": work.conversation_identifier,
                "routingType": work.routing_type, "routingCorrelationId": work.correlation}});
        match capacity {
            Capacity::Weight(w) => body["capacityWeight"] = json!(w),
            Capacity::Percentage(p) => body["capacityPercentage"] = json!(p),
        }
        self.call(|| self.http.post(self.url("agentWork")).json(&body)).await.map(|_| ())
    }

    /// Withdraws the routing request of a conversation no agent has taken.
    async fn delete_route(&self, conversation_identifier: &str) -> Result<()> {
        let body = json!({"conversationIdentifier": conversation_identifier});
        self.call(|| self.http.delete(self.url("route")).json(&body)).await.map(|_| ())
    }
}

/// The `errorCode` sent with MessageDeliveryFailed: the channel refused the message.
const DELIVERY_FAILED_CODE: &str = "500";

#[async_trait::async_trait]
impl Desk for SalesforceDesk {
    fn kind(&self) -> DeskKind {
        DeskKind::Salesforce
    }

    fn channel(&self, _requested: Option<&str>) -> String {
        self.channel_address_id.clone()
    }

    fn handover(&self) -> Handover {
        Handover::Routed
    }

    async fn send_transcript(
        &self,
        c: &Conversation,
        entry_id: &str,
        text: &str,
        at: EpochMillis,
    ) -> Result<Option<String>> {
        Ok(self.send_text(&c.customer.id, entry_id, text, at).await?.conversation_identifier)
    }

    async fn route(
        &self,
        bot: &str,
        desk_conversation_id: &str,
        attributes: &serde_json::Map<String, Value>,
    ) -> Result<()> {
        self.route_to_agent(bot, desk_conversation_id, attributes).await
    }

    /// One interaction per file (Salesforce takes one file per request), the
    /// text with the first; entry ids are stable so a retry is recognised.
    async fn deliver(&self, c: &Conversation, m: &Message, files: &dyn Files) -> Result<Receipt> {
        let from = &c.customer.id;
        for (i, a) in m.attachments.iter().enumerate() {
            let blob = files.read(a.key.as_deref().unwrap_or_default()).await?;
            let name = a.name.clone().unwrap_or_else(|| format!("attachment-{}", i + 1));
            let file = File { name, content_type: blob.content_type, bytes: blob.bytes };
            let id = if i == 0 { m.id.to_string() } else { format!("{}-{i}", m.id) };
            let text = if i == 0 { m.text.as_deref() } else { None };
            self.send_file(from, &id, text, &file, m.created_at).await?;
        }
        if !m.attachments.is_empty() {
            return Ok(Receipt { id: Some(m.id.to_string()) });
        }
        let text = m.text.as_deref().ok_or_else(|| Error::invalid("message", "has no text"))?;
        self.send_text(from, m.id.as_str(), text, m.created_at).await?;
        if let Some(status) = self.consent_keyword(text) {
            self.set_consent(&c.customer.id, status).await?;
        }
        Ok(Receipt { id: Some(m.id.to_string()) })
    }

    async fn delivery_failed(&self, c: &Conversation, m: &Message, _: &dyn Files) -> Result<()> {
        if m.source != MessageSource::Desk(DeskKind::Salesforce) {
            return Ok(());
        }
        self.entry_failed(&c.customer.id, &m.source_id, DELIVERY_FAILED_CODE).await
    }

    /// A chat no agent has taken has its routing withdrawn; a taken one has
    /// its messaging session ended.
    async fn finish(&self, c: &Conversation) -> Result<()> {
        let Some(desk_id) = c.desk_conversation_id.as_deref() else { return Ok(()) };
        match c.status {
            ConversationStatus::Active => self.end_session(desk_id, &c.customer.id).await,
            _ => self.delete_route(desk_id).await,
        }
    }

    async fn consent(&self, customer: &str, status: &str) -> Result<()> {
        self.set_consent(customer, status).await
    }

    async fn assign(&self, work: &WorkRequest) -> Result<()> {
        self.agent_work(work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_routing_setting_is_read_should_accept_its_three_forms_only() {
        assert_eq!(Routing::parse("channel").unwrap(), Routing::Channel);
        assert_eq!(Routing::parse("queue:00G1").unwrap(), Routing::Queue("00G1".into()));
        assert_eq!(
            Routing::parse("flow:300x:00G1").unwrap(),
            Routing::Flow { flow_id: "300x".into(), fallback_queue_id: "00G1".into() }
        );
        assert!(Routing::parse("flow:300x").is_err());
        assert!(Routing::parse("queue:").is_err());
    }

    #[test]
    fn when_agent_work_setting_is_read_should_take_a_weight_or_a_percentage() {
        assert_eq!(Capacity::parse("weight:1").unwrap(), Capacity::Weight(1.0));
        assert_eq!(Capacity::parse("percentage:50").unwrap(), Capacity::Percentage(50.0));
        assert!(Capacity::parse("percentage:150").is_err());
        assert!(Capacity::parse("both").is_err());
    }
}
