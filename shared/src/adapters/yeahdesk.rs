//! Yeahdesk: its custom channel as omnibridge calls it (a customer message
//! into a dialog, in the custom-channel format of `custom_channel.rs`), and
//! the webhook Yeahdesk posts when an agent replies.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::custom_channel::{CustomMessage, WireAttachment};
use super::http_client;
use crate::model::{
    now_millis, Accepted, ContactData, ContactObject, Conversation, DeskKind, Message, ReplyHook,
};
use crate::ports::{ConversationStore, Desk, Files, Receipt, ReplyFormat};
use crate::{Error, Result};

/// The author of a webhook's message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Author {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct HookMessage {
    pub id: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<WireAttachment>,
    #[serde(default)]
    pub author: Author,
    #[serde(default)]
    pub timestamp: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct HookData {
    #[serde(default)]
    pub dialog_id: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    pub message: Option<HookMessage>,
}

/// A Yeahdesk webhook (`message.created` when an agent replies).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Webhook {
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub data: Option<HookData>,
}

/// Yeahdesk's webhook, read into the model's words.
pub struct YeahdeskWebhook;

impl ReplyFormat for YeahdeskWebhook {
    fn read(&self, body: &[u8]) -> Result<ReplyHook> {
        let hook: Webhook = serde_json::from_slice(body)
            .map_err(|e| Error::invalid("body", format!("is not Yeahdesk's webhook JSON: {e}")))?;
        if hook.event != "message.created" {
            return Ok(ReplyHook::Ignored("not a new message"));
        }
        let Some(data) = hook.data else { return Err(Error::invalid("data", "is required")) };
        let Some(m) = data.message else {
            return Err(Error::invalid("data.message", "is required"));
        };
        if m.author.kind != "operator" {
            return Ok(ReplyHook::Ignored("not written by an agent"));
        }
        let attachments = m
            .attachments
            .into_iter()
            .map(WireAttachment::into_attachment)
            .collect::<Result<_>>()?;
        Ok(ReplyHook::Reply {
            reference: data.reference,
            id: m.id,
            sender: if m.author.id.is_empty() { "yeahdesk-agent".into() } else { m.author.id },
            text: m.text,
            attachments,
            at: m.timestamp.filter(|t| *t > 0).unwrap_or_else(now_millis),
        })
    }
}

/// Yeahdesk's custom channel, as omnibridge posts customer messages into it.
#[derive(Clone, Debug)]
pub struct YeahdeskClient {
    http: reqwest::Client,
    url: String,
    token: SecretString,
}

impl YeahdeskClient {
    pub fn new(http: reqwest::Client, base: &str, channel_id: &str, token: SecretString) -> Self {
        let url = format!("{}/api/custom-channel/message/{channel_id}", base.trim_end_matches('/'));
        YeahdeskClient { http, url, token }
    }

    /// Creates the message; an `E_*` refusal keeps its code in the reason.
    /// 429, 5xx and transport failures may pass; the `E_*` codes are all
    /// refusals of this request as it is (token, channel state, contact, dialog).
    pub async fn post(&self, message: &CustomMessage) -> Result<Accepted> {
        let mut url = reqwest::Url::parse(&self.url)
            .map_err(|e| Error::Config(format!("OMNIBRIDGE_YEAHDESK_API_URL: {e}")))?;
        url.query_pairs_mut().append_pair("token", self.token.expose_secret());
        let req = self.http.post(url).json(message);
        let res = http_client::send("Yeahdesk", req).await?;
        res.json().await.map_err(|e| {
            Error::permanent("Yeahdesk's answer is not the JSON expected", Some(Box::new(e)))
        })
    }
}

/// Yeahdesk as a desk: customer messages go into its custom channel, one
/// dialog per conversation (by `reference`), files as presigned links.
pub struct YeahdeskDesk<S> {
    client: YeahdeskClient,
    channel_id: String,
    store: S,
}

impl<S: ConversationStore> YeahdeskDesk<S> {
    pub fn new(client: YeahdeskClient, channel_id: &str, store: S) -> Self {
        YeahdeskDesk { client, channel_id: channel_id.to_owned(), store }
    }
}

/// The contact Yeahdesk files a customer under: their id as `custom` contact
/// data (Yeahdesk merges contacts that share data), plus email and phone.
fn contact(c: &Conversation) -> ContactObject {
    let item = |value: &str, kind: &str, service: &str| ContactData {
        id: None,
        value: value.to_owned(),
        kind: kind.to_owned(),
        service: service.to_owned(),
        origin: "omnibridge".to_owned(),
    };
    let mut contacts = vec![item(&format!("{}:{}", c.channel, c.customer.id), "id", "custom")];
    if let Some(e) = &c.customer.email {
        contacts.push(item(e, "mail", "mail"));
    }
    if let Some(p) = &c.customer.phone {
        contacts.push(item(p, "phone", "phone"));
    }
    ContactObject { id: None, name: c.customer.name.clone(), description: None, contacts }
}

#[async_trait::async_trait]
impl<S: ConversationStore> Desk for YeahdeskDesk<S> {
    fn kind(&self) -> DeskKind {
        DeskKind::Yeahdesk
    }

    fn channel(&self, _requested: Option<&str>) -> String {
        self.channel_id.clone()
    }

    /// Posts a customer message into the conversation's dialog (found or
    /// created by `reference` = our conversation id).
    async fn deliver(&self, c: &Conversation, m: &Message, files: &dyn Files) -> Result<Receipt> {
        let mut attachments = Vec::with_capacity(m.attachments.len());
        for a in &m.attachments {
            attachments.push(WireAttachment {
                url: files.link(a.key.as_deref().unwrap_or_default()).await?,
                size: a.size,
                name: a.name.clone(),
                mime_type: Some(a.content_type.clone()),
            });
        }
        let message = CustomMessage {
            reference: Some(c.id.to_string()),
            // The source's title when a custom channel gave one, else the customer's name.
            dialog_title: Some(c.title.clone().unwrap_or_else(|| c.customer.name.clone())),
            timestamp: Some(m.created_at),
            text: m.text.clone(),
            attachments,
            contact_object: Some(contact(c)),
            ..CustomMessage::default()
        };
        let accepted = self.client.post(&message).await?;
        if !accepted.dialog_id.is_empty()
            && c.desk_conversation_id.as_deref() != Some(accepted.dialog_id.as_str())
        {
            self.store.set_desk_conversation_id(&c.id, &accepted.dialog_id).await?;
        }
        Ok(Receipt { id: Some(accepted.message_id).filter(|id| !id.is_empty()) })
    }
}
