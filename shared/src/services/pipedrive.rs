//! Pipedrive Messaging: omnibridge is the provider of Pipedrive channels.
//! Customer messages are delivered into Pipedrive (`messages/receive`);
//! Pipedrive reads conversations, messages, senders and templates from
//! omnibridge, and posts its agents' replies to it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::adapters::pipedrive::{
    format_time, PipedriveClient, Receive, RegisterChannel, WireAttachment, WireConversation,
    WireMessage, WireParticipant,
};
use crate::model::{
    now_millis, Attachment, Conversation, ConversationId, ConversationStatus, DeskKind, Direction,
    EpochMillis, Message, MessageId, MessageSource, MessageStatus,
};
use crate::ports::{
    BlobStore, ConversationStore, Desk, Files, MessageStore, Ports, QueueName, Receipt, RecordStore,
};
use crate::services::delivery::record_and_queue;
use crate::services::media::StoredFiles;
use crate::{Error, Result};

const CHANNEL: &str = "PDCHANNEL";
const SENDER: &str = "PDSENDER";

/// A Pipedrive channel omnibridge provides, as registered by the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipedriveChannel {
    /// Our id for the channel (Pipedrive's `provider_channel_id`); also the
    /// id of its `source_user`, the side agents write from.
    pub provider_channel_id: String,
    /// Pipedrive's id for the channel, once registered there.
    #[serde(default)]
    pub pipedrive_id: Option<String>,
    pub name: String,
    /// `whatsapp`, `facebook` or `other`.
    pub provider_type: String,
    pub template_support: bool,
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// The channel's approved WhatsApp templates (getTemplates).
    #[serde(default)]
    pub templates: Vec<Template>,
    /// Pipedrive's calls are refused with ACCOUNT_SUSPENDED.
    #[serde(default)]
    pub suspended: bool,
    /// Unregistered (deleteChannelById): nothing flows to Pipedrive any more.
    #[serde(default)]
    pub deleted: bool,
    pub created_at: EpochMillis,
}

/// An approved message template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub content: String,
    pub language: String,
}

/// A participant Pipedrive may ask about (getSenderById).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

impl PipedriveChannel {
    pub fn new(provider_channel_id: &str, name: &str, provider_type: &str) -> Result<Self> {
        crate::model::validate_id("provider channel id", provider_channel_id)?;
        if !["whatsapp", "facebook", "other"].contains(&provider_type) {
            return Err(Error::invalid("provider type", "must be whatsapp, facebook or other"));
        }
        Ok(PipedriveChannel {
            provider_channel_id: provider_channel_id.to_owned(),
            pipedrive_id: None,
            name: name.to_owned(),
            provider_type: provider_type.to_owned(),
            template_support: false,
            avatar_url: None,
            templates: vec![],
            suspended: false,
            deleted: false,
            created_at: now_millis(),
        })
    }

    fn source_user(&self) -> WireParticipant {
        WireParticipant {
            id: self.provider_channel_id.clone(),
            name: self.name.clone(),
            role: "source_user",
            avatar_url: self.avatar_url.clone(),
        }
    }
}

/// The registered channels and the senders Pipedrive may ask about.
#[derive(Clone, Debug)]
pub struct Registry<S> {
    store: S,
}

impl<S: RecordStore> Registry<S> {
    pub fn new(store: S) -> Self {
        Registry { store }
    }

    pub async fn channel(&self, id: &str) -> Result<Option<PipedriveChannel>> {
        self.store.get_record(CHANNEL, id).await
    }

    pub async fn put_channel(&self, channel: &PipedriveChannel) -> Result<()> {
        self.store.put_record(CHANNEL, &channel.provider_channel_id, channel).await
    }

    /// The channel, if it is registered and not deleted.
    pub async fn active_channel(&self, id: &str) -> Result<PipedriveChannel> {
        match self.channel(id).await? {
            Some(c) if !c.deleted => Ok(c),
            _ => Err(Error::NotFound(format!("Pipedrive channel {id}"))),
        }
    }

    pub async fn put_sender(&self, channel: &str, sender: &Sender) -> Result<()> {
        self.store.put_record(SENDER, &format!("{channel}#{}", sender.id), sender).await
    }

    pub async fn sender(&self, channel: &PipedriveChannel, id: &str) -> Result<Sender> {
        if id == channel.provider_channel_id {
            let u = channel.source_user();
            return Ok(Sender { id: u.id, name: u.name, avatar_url: u.avatar_url });
        }
        let found: Option<Sender> =
            self.store.get_record(SENDER, &format!("{}#{id}", channel.provider_channel_id)).await?;
        found.ok_or_else(|| Error::NotFound(format!("sender {id}")))
    }
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

/// A message as the provider endpoints serve it, attachments as fresh
/// presigned links. `created_at` is RFC 3339, as the seed's schema says
/// (`format: date-time`); `messages/receive` takes `YYYY-MM-DD HH:MM` instead.
async fn wire_message(files: &dyn Files, m: &Message) -> Result<WireMessage> {
    let mut attachments = Vec::with_capacity(m.attachments.len());
    for (i, a) in m.attachments.iter().enumerate() {
        let url = match (&a.key, &a.source_url) {
            (Some(key), _) => files.link(key).await?,
            (None, Some(url)) => url.clone(),
            (None, None) => continue,
        };
        attachments.push(WireAttachment {
            id: format!("{}-{i}", m.id),
            content_type: a.content_type.clone(),
            name: a.name.clone(),
            size: a.size,
            url,
            link_expires: true,
        });
    }
    Ok(WireMessage {
        id: m.id.to_string(),
        status: wire_status(m.status),
        created_at: rfc3339(m.created_at),
        message: m.text.clone().unwrap_or_default(),
        sender_id: m.sender_id.clone(),
        attachments,
    })
}

fn rfc3339(ms: EpochMillis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A message as `messages/receive` takes it.
async fn received_message(files: &dyn Files, m: &Message) -> Result<WireMessage> {
    let mut wire = wire_message(files, m).await?;
    wire.created_at = format_time(m.created_at);
    Ok(wire)
}

/// The Pipedrive desk: customer messages into Pipedrive's inbox.
pub struct PipedriveDesk<P: Ports> {
    client: PipedriveClient,
    registry: Registry<P::Store>,
    /// The desk channel of bots that name none.
    default_channel: String,
}

impl<P: Ports> PipedriveDesk<P> {
    pub fn new(client: PipedriveClient, store: P::Store, default_channel: &str) -> Self {
        PipedriveDesk {
            client,
            registry: Registry::new(store),
            default_channel: default_channel.to_owned(),
        }
    }

    pub fn registry(&self) -> &Registry<P::Store> {
        &self.registry
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
        self.registry.put_channel(&channel).await?;
        Ok(channel)
    }

    async fn live_channel(&self, id: &str) -> Result<PipedriveChannel> {
        self.registry.active_channel(id).await.map_err(|_| {
            Error::permanent(format!("Pipedrive channel {id} is not registered (or was deleted); register it with omnibridge-admin"), None)
        })
    }
}

#[async_trait::async_trait]
impl<P: Ports> Desk for PipedriveDesk<P> {
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
        self.registry.put_sender(&channel.provider_channel_id, &sender).await
    }

    /// Delivers a customer message, its files linked with expiring URLs.
    async fn deliver(&self, c: &Conversation, m: &Message, files: &dyn Files) -> Result<Receipt> {
        let channel = self.live_channel(&c.desk_channel).await?;
        let wire = received_message(files, m).await?;
        let receive = Receive {
            message: &wire,
            channel_id: &channel.provider_channel_id,
            conversation_id: c.id.as_str(),
        };
        self.client.receive(&receive).await?;
        Ok(Receipt { id: Some(wire.id) })
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
        let channel = self.live_channel(&c.desk_channel).await?;
        let wire = received_message(files, m).await?;
        let receive = Receive {
            message: &wire,
            channel_id: &channel.provider_channel_id,
            conversation_id: c.id.as_str(),
        };
        self.client.receive(&receive).await
    }
}

/// The largest page the provider endpoints serve.
pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 30;

/// How long the same post from Pipedrive counts as a retry rather than a new message.
pub const RETRY_WINDOW_MS: EpochMillis = 120_000;

/// A message an agent posted (postMessage).
#[derive(Clone, Debug, Default)]
pub struct Posted {
    pub message: String,
    pub sender_id: String,
    pub conversation_id: String,
    pub files: Vec<PostedFile>,
}

#[derive(Clone, Debug)]
pub struct PostedFile {
    pub name: Option<String>,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What the provider endpoints serve, from DynamoDB and S3.
pub struct Provider<P: Ports> {
    store: P::Store,
    registry: Registry<P::Store>,
    files: StoredFiles<P::Blobs>,
    queue: P::Queue,
    max_file_bytes: u64,
}

impl<P: Ports> Provider<P> {
    pub fn new(
        store: P::Store,
        files: StoredFiles<P::Blobs>,
        queue: P::Queue,
        max_file_bytes: u64,
    ) -> Self {
        Provider { registry: Registry::new(store.clone()), store, files, queue, max_file_bytes }
    }

    pub fn registry(&self) -> &Registry<P::Store> {
        &self.registry
    }

    async fn messages(
        &self,
        c: &ConversationId,
        limit: u32,
        after: Option<&str>,
    ) -> Result<(Vec<WireMessage>, Option<String>)> {
        let page = self.store.list_messages(c, limit, after, true).await?;
        let mut out = Vec::with_capacity(page.items.len());
        for m in &page.items {
            out.push(wire_message(&self.files, m).await?);
        }
        Ok((out, page.next))
    }

    async fn wire_conversation(
        &self,
        channel: &PipedriveChannel,
        c: &Conversation,
        limit: u32,
        after: Option<&str>,
    ) -> Result<WireConversation> {
        let (messages, next) = self.messages(&c.id, limit, after).await?;
        let end_user = WireParticipant {
            id: c.customer.id.clone(),
            name: c.customer.name.clone(),
            role: "end_user",
            avatar_url: None,
        };
        Ok(WireConversation {
            id: c.id.to_string(),
            link: String::new(),
            status: if c.status == ConversationStatus::Closed { "closed" } else { "open" },
            seen: false,
            next_messages_cursor: next,
            messages,
            participants: vec![channel.source_user(), end_user],
        })
    }

    /// getConversations: newest conversation first, each with its latest
    /// messages (newest first); the cursor while more conversations remain.
    pub async fn conversations(
        &self,
        channel: &PipedriveChannel,
        conversations_limit: u32,
        messages_limit: u32,
        after: Option<&str>,
    ) -> Result<(Vec<WireConversation>, Option<String>)> {
        let page = self
            .store
            .list_conversations(
                DeskKind::Pipedrive,
                &channel.provider_channel_id,
                conversations_limit,
                after,
            )
            .await?;
        let convs = futures::future::try_join_all(
            page.items.iter().map(|c| self.wire_conversation(channel, c, messages_limit, None)),
        )
        .await?;
        Ok((convs, page.next))
    }

    /// The channel's conversation `id`, or not found.
    async fn conversation_of(&self, channel: &PipedriveChannel, id: &str) -> Result<Conversation> {
        let not_found = || Error::NotFound(format!("conversation {id}"));
        let id = ConversationId::parse(id).map_err(|_| not_found())?;
        match self.store.get_conversation(&id).await? {
            Some(c)
                if c.desk == DeskKind::Pipedrive
                    && c.desk_channel == channel.provider_channel_id =>
            {
                Ok(c)
            }
            _ => Err(not_found()),
        }
    }

    /// getConversationById: the conversation and a page of its messages, newest first.
    pub async fn conversation(
        &self,
        channel: &PipedriveChannel,
        id: &str,
        messages_limit: u32,
        after: Option<&str>,
    ) -> Result<WireConversation> {
        let c = self.conversation_of(channel, id).await?;
        self.wire_conversation(channel, &c, messages_limit, after).await
    }

    /// getMessageById: the message with fresh attachment links.
    pub async fn message(&self, channel: &PipedriveChannel, id: &str) -> Result<WireMessage> {
        let not_found = || Error::NotFound(format!("message {id}"));
        let mid = MessageId::parse(id).map_err(|_| not_found())?;
        let m = self.store.get_message(&mid).await?.ok_or_else(not_found)?;
        self.conversation_of(channel, m.conversation_id.as_str()).await.map_err(|_| not_found())?;
        wire_message(&self.files, &m).await
    }

    /// deleteChannelById: the channel is unregistered; its conversations stop flowing to Pipedrive.
    pub async fn delete_channel(&self, mut channel: PipedriveChannel) -> Result<()> {
        channel.deleted = true;
        self.registry.put_channel(&channel).await
    }

    /// postMessage: records the agent's message (files to our bucket) and
    /// queues it for the customer. The same post again within
    /// [`RETRY_WINDOW_MS`] (Pipedrive retrying) returns the first one's id.
    pub async fn post(
        &self,
        channel: &PipedriveChannel,
        p: Posted,
        now: EpochMillis,
    ) -> Result<MessageId> {
        if p.conversation_id.trim().is_empty() {
            return Err(Error::invalid("conversationId", "is required"));
        }
        if p.sender_id.trim().is_empty() {
            return Err(Error::invalid("senderId", "is required"));
        }
        let c = self.conversation_of(channel, &p.conversation_id).await?;
        if let Some(f) = p.files.iter().find(|f| f.bytes.len() as u64 > self.max_file_bytes) {
            return Err(Error::invalid(
                "files",
                format!(
                    "{} is larger than {} bytes",
                    f.name.as_deref().unwrap_or("a file"),
                    self.max_file_bytes
                ),
            ));
        }
        let fingerprint = post_fingerprint(&channel.provider_channel_id, &p);
        let bucket = now / RETRY_WINDOW_MS;
        for b in [bucket, bucket - 1] {
            let id = MessageId::from_source("pipedrive", &format!("{fingerprint}:{b}"))?;
            if let Some(m) = self.store.get_message(&id).await? {
                if now - m.created_at <= RETRY_WINDOW_MS {
                    tracing::info!(message_id = %m.id, "Pipedrive posted the same message again; not sending twice");
                    return Ok(m.id);
                }
            }
        }
        let source_id = format!("{fingerprint}:{bucket}");
        let id = MessageId::from_source("pipedrive", &source_id)?;
        let mut attachments = Vec::with_capacity(p.files.len());
        for (i, f) in p.files.into_iter().enumerate() {
            let mut a = Attachment::new(&f.content_type)
                .or_else(|_| Attachment::new("application/octet-stream"))?;
            let key = format!("{}/{id}/{i}", c.id);
            a.name = f.name;
            a.size = Some(f.bytes.len() as u64);
            self.files.blobs.put_blob(&key, f.bytes, &a.content_type).await?;
            a.key = Some(key);
            attachments.push(a);
        }
        let text = Some(p.message).filter(|t| !t.trim().is_empty());
        let message = Message::received(
            c.id.clone(),
            Direction::Outbound,
            DeskKind::Pipedrive,
            &source_id,
            &p.sender_id,
            text,
            attachments,
            now,
        )?;
        record_and_queue(&self.store, &self.queue, QueueName::ToCustomer, &c.reference(), &message)
            .await?;
        if c.status == ConversationStatus::Queued {
            // The first agent answer: the conversation is with an agent now.
            match self.store.set_conversation_status(&c.id, ConversationStatus::Active, now).await {
                Ok(_) | Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(message.id)
    }
}

/// What makes two posts the same post: channel, conversation, sender, text and file contents.
fn post_fingerprint(channel: &str, p: &Posted) -> String {
    let mut h = Sha256::new();
    for part in [channel, &p.conversation_id, &p.sender_id, &p.message] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    for f in &p.files {
        h.update(Sha256::digest(&f.bytes));
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_posts_differ_in_any_part_should_have_different_fingerprints() {
        let p = Posted {
            message: "hola".into(),
            sender_id: "s".into(),
            conversation_id: "c".into(),
            files: vec![],
        };
        let a = post_fingerprint("ch", &p);
        assert_eq!(a, post_fingerprint("ch", &p.clone()));
        let mut q = p.clone();
        q.message = "hola!".into();
        assert_ne!(a, post_fingerprint("ch", &q));
        let mut r = p.clone();
        r.files.push(PostedFile {
            name: None,
            content_type: "text/plain".into(),
            bytes: b"x".to_vec(),
        });
        assert_ne!(a, post_fingerprint("ch", &r));
        // Length prefixes: moving a character between fields changes the fingerprint.
        let s = Posted {
            message: "ahola".into(),
            sender_id: "".into(),
            conversation_id: "c".into(),
            files: vec![],
        };
        let t = Posted {
            message: "hola".into(),
            sender_id: "a".into(),
            conversation_id: "c".into(),
            files: vec![],
        };
        assert_ne!(post_fingerprint("ch", &s), post_fingerprint("ch", &t));
    }
}
