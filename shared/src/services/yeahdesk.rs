//! Yeahdesk as a desk: customer messages go into a Yeahdesk custom channel
//! (one dialog per conversation, by `reference`), and agents' replies come
//! back through Yeahdesk's webhook.

use std::time::Duration;

use crate::adapters::yeahdesk::{
    ContactData, ContactObject, CustomMessage, Webhook, WireAttachment, YeahdeskClient,
};
use crate::model::{
    Attachment, Conversation, ConversationId, ConversationStatus, DeskKind, Direction, Message,
};
use crate::ports::{BlobStore, ConversationStore, MessageStore, Ports, Queue, QueueName, Receipt};
use crate::services::delivery::record_and_queue;
use crate::services::media::Media;
use crate::{Error, Result};

pub struct YeahdeskDesk<P: Ports> {
    client: YeahdeskClient,
    channel_id: String,
    store: P::Store,
    blobs: P::Blobs,
    presign_ttl: Duration,
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

impl<P: Ports> YeahdeskDesk<P> {
    pub fn new(
        client: YeahdeskClient,
        channel_id: &str,
        store: P::Store,
        blobs: P::Blobs,
        presign_ttl: Duration,
    ) -> Self {
        YeahdeskDesk { client, channel_id: channel_id.to_owned(), store, blobs, presign_ttl }
    }

    /// The Yeahdesk custom channel conversations are delivered to.
    pub fn channel_id(&self) -> &str {
        &self.channel_id
    }

    /// Posts a customer message into the conversation's dialog (found or
    /// created by `reference` = our conversation id), files as presigned links.
    pub async fn deliver(
        &self,
        media: &Media<P>,
        c: &Conversation,
        m: &Message,
    ) -> Result<Receipt> {
        let mut attachments = Vec::new();
        for a in media.store_all(m).await? {
            let key = a.key.as_deref().unwrap_or_default();
            attachments.push(WireAttachment {
                url: self.blobs.presign_get(key, self.presign_ttl).await?,
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

/// What became of one webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    /// An agent's reply, recorded and queued for the customer (or seen before).
    Queued,
    /// Not an agent's reply to one of our conversations; nothing to do.
    Ignored(&'static str),
}

/// `POST /v1/yeahdesk/webhook`: an agent's reply becomes an outbound message,
/// once however often Yeahdesk delivers it.
pub async fn take_webhook<S, Q>(store: &S, queue: &Q, hook: &Webhook) -> Result<Hook>
where
    S: ConversationStore + MessageStore,
    Q: Queue,
{
    if hook.event != "message.created" {
        return Ok(Hook::Ignored("not a new message"));
    }
    let Some(data) = &hook.data else { return Err(Error::invalid("data", "is required")) };
    let Some(m) = &data.message else { return Err(Error::invalid("data.message", "is required")) };
    if m.author.kind != "operator" {
        return Ok(Hook::Ignored("not written by an agent"));
    }
    let Some(conversation) = find_conversation(store, data.reference.as_deref()).await? else {
        return Ok(Hook::Ignored("not a dialog of omnibridge's"));
    };
    let mut attachments = Vec::with_capacity(m.attachments.len());
    for a in &m.attachments {
        let mut att =
            Attachment::new(a.mime_type.as_deref().unwrap_or("application/octet-stream"))?;
        att.name = a.name.clone();
        att.size = a.size;
        att.source_url = Some(a.url.clone());
        attachments.push(att);
    }
    let sender = if m.author.id.is_empty() { "yeahdesk-agent" } else { m.author.id.as_str() };
    let at = m.timestamp.filter(|t| *t > 0).unwrap_or_else(crate::model::now_millis);
    let message = Message::received(
        conversation.id.clone(),
        Direction::Outbound,
        DeskKind::Yeahdesk,
        &m.id,
        sender,
        m.text.clone(),
        attachments,
        at,
    )?;
    record_and_queue(store, queue, QueueName::ToCustomer, &conversation.reference(), &message)
        .await?;
    if conversation.status == ConversationStatus::Queued {
        match store
            .set_conversation_status(
                &conversation.id,
                ConversationStatus::Active,
                crate::model::now_millis(),
            )
            .await
        {
            Ok(_) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Hook::Queued)
}

/// Our conversation a dialog belongs to: its `reference` is our id.
async fn find_conversation<S: ConversationStore>(
    store: &S,
    reference: Option<&str>,
) -> Result<Option<Conversation>> {
    let Some(id) = reference.and_then(|r| ConversationId::parse(r).ok()) else { return Ok(None) };
    Ok(store.get_conversation(&id).await?.filter(|c| c.desk == DeskKind::Yeahdesk))
}
