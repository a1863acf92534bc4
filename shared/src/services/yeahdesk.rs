//! Yeahdesk's agents' replies, as its webhook brings them (customer
//! messages go the other way through `adapters::yeahdesk::YeahdeskDesk`).

use crate::adapters::yeahdesk::Webhook;
use crate::model::{
    Attachment, Conversation, ConversationId, ConversationStatus, DeskKind, Direction, Message,
};
use crate::ports::{ConversationStore, MessageStore, Queue, QueueName};
use crate::services::delivery::record_and_queue;
use crate::{Error, Result};

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
