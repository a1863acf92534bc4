//! Pipedrive's Channels API: the calls omnibridge makes (register a channel,
//! deliver a message) as the Pipedrive desk, the provider endpoints' wire
//! types (what Pipedrive reads from omnibridge), and Pipedrive's time format.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

use serde_json::Value;

use super::http_client::{self, Token, TokenCache};
use crate::model::{
    Conversation, ConversationStatus, ConversationView, DeskKind, EpochMillis, LinkedMessage,
    Message, MessageSource, MessageStatus, PipedriveChannel, Sender,
};
use crate::ports::{Desk, Files, PipedriveRecords, ProviderFormat, Receipt, RecordStore};
use crate::{Error, Result};

/// `YYYY-MM-DD HH:MM` in UTC, the Channels API's `created_at`.
fn format_time(ms: EpochMillis) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// A participant of a provider conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct WireParticipant {
    pub id: String,
    pub name: String,
    /// `source_user` (the channel's own side, where agents write) or `end_user` (the customer).
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

/// An attachment as the Channels API carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct WireAttachment {
    pub id: String,
    /// The MIME type.
    #[serde(rename = "type")]
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub url: String,
    pub link_expires: bool,
}

/// A message as the provider endpoints serve it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct WireMessage {
    pub id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: &'static str,
    pub created_at: String,
    pub message: String,
    pub sender_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<WireAttachment>,
}

/// A conversation as the provider endpoints serve it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct WireConversation {
    pub id: String,
    pub link: String,
    /// `open` or `closed`.
    pub status: &'static str,
    pub seen: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_messages_cursor: Option<String>,
    pub messages: Vec<WireMessage>,
    pub participants: Vec<WireParticipant>,
}

/// `POST /channels/messages/receive`: a message of a channel's conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct Receive<'a> {
    #[serde(flatten)]
    pub message: &'a WireMessage,
    /// The provider channel id.
    pub channel_id: &'a str,
    pub conversation_id: &'a str,
}

/// `POST /channels`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct RegisterChannel<'a> {
    pub name: &'a str,
    pub provider_channel_id: &'a str,
    pub provider_type: &'a str,
    pub template_support: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<&'a str>,
}

/// Pipedrive's word for a message's status.
fn wire_status(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Received | MessageStatus::Sent => "sent",
        MessageStatus::Delivered => "delivered",
        MessageStatus::Read => "read",
        MessageStatus::Failed => "failed",
    }
}

/// A message as the provider endpoints serve it, attachments as their
/// fresh links. `created_at` is RFC 3339, as the seed's schema says
/// (`format: date-time`); `messages/receive` takes `YYYY-MM-DD HH:MM` instead.
fn wire_message(linked: &LinkedMessage) -> WireMessage {
    let m = &linked.message;
    let attachments = m
        .attachments
        .iter()
        .zip(&linked.links)
        .enumerate()
        .filter_map(|(i, (a, link))| {
            Some(WireAttachment {
                id: format!("{}-{i}", m.id),
                content_type: a.content_type.clone(),
                name: a.name.clone(),
                size: a.size,
                url: link.clone()?,
                link_expires: true,
            })
        })
        .collect();
    WireMessage {
        id: m.id.to_string(),
        status: wire_status(m.status),
        created_at: rfc3339(m.created_at),
        message: m.text.clone().unwrap_or_default(),
        sender_id: m.sender_id.clone(),
        attachments,
    }
}

fn rfc3339(ms: EpochMillis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn participant(s: Sender, role: &'static str) -> WireParticipant {
    WireParticipant { id: s.id, name: s.name, role, avatar_url: s.avatar_url }
}

/// The provider endpoints' answers, in the Channels API's shapes.
pub struct ProviderWire;

impl ProviderFormat for ProviderWire {
    fn conversation(&self, channel: &PipedriveChannel, view: &ConversationView) -> Value {
        let c = &view.conversation;
        let end_user =
            Sender { id: c.customer.id.clone(), name: c.customer.name.clone(), avatar_url: None };
        let wire = WireConversation {
            id: c.id.to_string(),
            link: String::new(),
            status: if c.status == ConversationStatus::Closed { "closed" } else { "open" },
            seen: false,
            next_messages_cursor: view.next.clone(),
            messages: view.messages.iter().map(wire_message).collect(),
            participants: vec![
                participant(channel.source_user(), "source_user"),
                participant(end_user, "end_user"),
            ],
        };
        serde_json::to_value(wire).unwrap_or_default()
    }

    fn message(&self, message: &LinkedMessage) -> Value {
        serde_json::to_value(wire_message(message)).unwrap_or_default()
    }
}

/// A message as `messages/receive` takes it.
fn received_message(linked: &LinkedMessage) -> WireMessage {
    let mut wire = wire_message(linked);
    wire.created_at = format_time(linked.message.created_at);
    wire
}

/// The Pipedrive desk: customer messages into Pipedrive's inbox.
pub struct PipedriveDesk<S> {
    client: PipedriveClient,
    store: S,
    /// The desk channel of bots that name none.
    default_channel: String,
}

impl<S: RecordStore> PipedriveDesk<S> {
    pub fn new(client: PipedriveClient, store: S, default_channel: &str) -> Self {
        PipedriveDesk { client, store, default_channel: default_channel.to_owned() }
    }

    /// Registers a channel with Pipedrive (`POST /channels`) and records it.
    /// Registering a registered channel again registers it anew (after a delete).
    pub async fn register_channel(
        &self,
        mut channel: PipedriveChannel,
    ) -> Result<PipedriveChannel> {
        let id = self
            .client
            .register_channel(&RegisterChannel {
                name: &channel.name,
                provider_channel_id: &channel.provider_channel_id,
                provider_type: &channel.provider_type,
                template_support: channel.template_support,
                avatar_url: channel.avatar_url.as_deref(),
            })
            .await?;
        channel.pipedrive_id = Some(id);
        channel.deleted = false;
        self.store.put_pipedrive_channel(&channel).await?;
        Ok(channel)
    }

    /// `messages/receive`: the message as it is now (a new one, or a
    /// status change); returns its id as Pipedrive knows it.
    async fn receive(&self, c: &Conversation, m: &Message, files: &dyn Files) -> Result<String> {
        let channel = self.live_channel(&c.desk_channel).await?;
        let wire = received_message(&files.linked(m).await?);
        let receive = Receive {
            message: &wire,
            channel_id: &channel.provider_channel_id,
            conversation_id: c.id.as_str(),
        };
        self.client.receive(&receive).await?;
        Ok(wire.id)
    }

    async fn live_channel(&self, id: &str) -> Result<PipedriveChannel> {
        self.store.active_pipedrive_channel(id).await.map_err(|_| {
            Error::permanent(format!("Pipedrive channel {id} is not registered (or was deleted); register it with omnibridge-admin"), None)
        })
    }
}

#[async_trait::async_trait]
impl<S: RecordStore> Desk for PipedriveDesk<S> {
    fn kind(&self) -> DeskKind {
        DeskKind::Pipedrive
    }

    fn channel(&self, requested: Option<&str>) -> String {
        requested.unwrap_or(&self.default_channel).to_owned()
    }

    /// Makes a new conversation known on its channel: the customer becomes a sender Pipedrive can look up.
    async fn open(&self, c: &Conversation) -> Result<()> {
        let channel = self.live_channel(&c.desk_channel).await?;
        let sender =
            Sender { id: c.customer.id.clone(), name: c.customer.name.clone(), avatar_url: None };
        self.store.put_pipedrive_sender(&channel.provider_channel_id, &sender).await
    }

    /// Delivers a customer message, its files linked with expiring URLs.
    async fn deliver(&self, c: &Conversation, m: &Message, files: &dyn Files) -> Result<Receipt> {
        Ok(Receipt { id: Some(self.receive(c, m, files).await?) })
    }

    /// Tells Pipedrive the status of one of its agent's messages that failed.
    async fn delivery_failed(
        &self,
        c: &Conversation,
        m: &Message,
        files: &dyn Files,
    ) -> Result<()> {
        if m.source != MessageSource::Desk(DeskKind::Pipedrive) {
            return Ok(());
        }
        self.receive(c, m, files).await.map(|_| ())
    }
}

/// How omnibridge gets a new access token when Pipedrive refuses the one it has:
/// the OAuth refresh-token grant of the installing user, with the app's client
/// id and secret (`POST {oauth_url}/oauth/token`).
#[derive(Clone, Debug)]
pub struct Refresh {
    pub oauth_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
}

/// The Channels API as omnibridge calls it (base `https://api.pipedrive.com/v1`).
#[derive(Clone, Debug)]
pub struct PipedriveClient {
    http: reqwest::Client,
    base: String,
    /// The access token; one from the settings has no known expiry.
    access: Arc<TokenCache>,
    refresh: Option<Arc<Refresh>>,
    /// The refresh token Pipedrive last answered with, when it differs from the settings'.
    rotated: Arc<Mutex<Option<SecretString>>>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// A token is renewed this long before Pipedrive said it expires.
const EXPIRY_MARGIN_MS: i64 = 60_000;

impl PipedriveClient {
    /// `token` is an access token to start with; `refresh` renews it when it
    /// expires or is refused. At least one of them is needed.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        token: Option<SecretString>,
        refresh: Option<Refresh>,
    ) -> Self {
        PipedriveClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            access: Arc::new(TokenCache::holding(
                token.map(|value| Token { value, expires_at: None }),
            )),
            refresh: refresh.map(Arc::new),
            rotated: Arc::default(),
        }
    }

    /// Renews the access token with the latest refresh token.
    async fn renew(&self) -> Result<Token> {
        let Some(refresh) = &self.refresh else {
            return Err(Error::Config(
                "set OMNIBRIDGE_PIPEDRIVE_REFRESH_TOKEN to renew Pipedrive's access token".into(),
            ));
        };
        let mut rotated = self.rotated.lock().await;
        let refresh_token =
            rotated.as_ref().unwrap_or(&refresh.refresh_token).expose_secret().to_owned();
        let req = self
            .http
            .post(format!("{}/oauth/token", refresh.oauth_url.trim_end_matches('/')))
            .basic_auth(&refresh.client_id, Some(refresh.client_secret.expose_secret()))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())]);
        let res = http_client::send("Pipedrive OAuth", req).await?;
        let answer: TokenAnswer = res.json().await.map_err(|e| {
            Error::permanent(
                "Pipedrive's token answer is not an access token",
                Some(Box::new(e.without_url())),
            )
        })?;
        if let Some(new) = answer.refresh_token.filter(|t| *t != refresh_token) {
            *rotated = Some(SecretString::from(new));
        }
        Ok(Token {
            value: SecretString::from(answer.access_token),
            expires_at: answer
                .expires_in
                .map(|s| crate::model::now_millis() + s * 1000 - EXPIRY_MARGIN_MS),
        })
    }

    /// The access token to call with: the one held, unless it is `stale` (just
    /// refused) or about to expire, in which case a renewed one.
    async fn access_token(&self, stale: Option<&str>) -> Result<String> {
        self.access.get(stale, || self.renew()).await
    }

    /// Posts `body`; a refused token is renewed (when a refresh token is set)
    /// and the call made once more.
    async fn post<B: Serialize>(&self, path: &str, body: &B) -> Result<serde_json::Value> {
        let mut token = self.access_token(None).await?;
        let mut renewed = false;
        loop {
            let req = self.http.post(format!("{}{path}", self.base)).bearer_auth(&token).json(body);
            let res = http_client::dispatch("Pipedrive", req).await?;
            let status = res.status().as_u16();
            if status == 401 && self.refresh.is_some() && !renewed {
                token = self.access_token(Some(&token)).await?;
                renewed = true;
                continue;
            }
            let header_wait = http_client::retry_after(&res);
            let text = res.text().await.unwrap_or_default();
            if (200..300).contains(&status) {
                let env: Envelope = serde_json::from_str(&text).unwrap_or(Envelope { data: None });
                return Ok(env.data.unwrap_or_default());
            }
            let wait = retry_by(&text).or(header_wait);
            return Err(http_client::refused("Pipedrive", status, wait, text));
        }
    }

    /// Registers a channel; returns Pipedrive's id for it.
    async fn register_channel(&self, channel: &RegisterChannel<'_>) -> Result<String> {
        let data = self.post("/channels", channel).await?;
        data.get("id")
            .and_then(|v| {
                v.as_str().map(str::to_owned).or_else(|| v.as_i64().map(|n| n.to_string()))
            })
            .ok_or_else(|| Error::permanent("Pipedrive registered the channel without an id", None))
    }

    /// Delivers a message (or a new status of one already delivered).
    async fn receive(&self, message: &Receive<'_>) -> Result<()> {
        self.post("/channels/messages/receive", message).await.map(|_| ())
    }
}

/// The wait a 429's `retry_by` (RFC 3339, UTC) asks for.
fn retry_by(body: &str) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let at = v.pointer("/data/retry_by").or_else(|| v.get("retry_by"))?.as_str()?;
    let at =
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = (at - time::OffsetDateTime::now_utc()).as_seconds_f64().max(0.0);
    Some(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_time_is_formatted_should_be_minutes_in_utc() {
        assert_eq!(format_time(1_636_646_674_958), "2021-11-11 16:04");
    }

    #[test]
    fn when_429_names_retry_by_should_wait_until_then() {
        let at = (time::OffsetDateTime::now_utc() + time::Duration::seconds(30))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let body = format!(
            r#"{{"success":false,"data":{{"message":"slow down","code":"RATE_LIMIT_EXCEEDED","retry_by":"{at}"}}}}"#
        );
        let wait = retry_by(&body).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(retry_by("not json"), None);
    }
}
