//! Customer → desk: a channel's message is kept in the 24-hour context and,
//! when the customer has a chat with an agent, queued for the desk's worker,
//! which records it once and delivers it.

use std::time::Duration;

use crate::model::{
    Attachment, Author, ContextEntry, ConversationId, Direction, EpochMillis, InboundMessage,
    Message,
};
use crate::ports::{ContextStore, ConversationStore, MessageStore, Queue, QueueName};
use crate::services::delivery::queue_to_record;
use crate::Result;

/// What happened to one inbound message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept in the context only (no chat with an agent, or the bot wrote it).
    Context,
    /// Queued for the desk.
    Queued,
    /// Seen before and already past the queue (known only for a message
    /// too large to travel in the queue, which is recorded here).
    Duplicate,
}

pub struct Inbound<S, Q> {
    store: S,
    queue: Q,
    client_name: String,
    context_ttl: Duration,
}

impl<S, Q> Inbound<S, Q>
where
    S: ContextStore + ConversationStore + MessageStore,
    Q: Queue,
{
    pub fn new(store: S, queue: Q, client_name: String, context_ttl: Duration) -> Self {
        Inbound { store, queue, client_name, context_ttl }
    }

    /// Handles one message. Redelivered webhooks change nothing: the context
    /// entry and the message are keyed on the platform's id; a copy queued
    /// again within five minutes is dropped by the queue, and a later one
    /// finds the message recorded and handled.
    pub async fn receive(&self, m: &InboundMessage, now: EpochMillis) -> Result<Outcome> {
        // Everything that can be refused is, before anything is written:
        // the context entry and the desk's copy are built (and checked) first.
        let mut entry = ContextEntry::new(
            &m.user_id,
            &self.client_name,
            &m.source_id,
            m.timestamp,
            m.author,
            now,
            self.context_ttl,
        )?;
        entry.text = m.text.clone();
        if let Some(media) = &m.media {
            entry.url = Some(media.url.clone());
            entry.mime_type = media.mime_type.clone();
            entry.caption = media.caption.clone();
        }
        let attachments = match &m.media {
            Some(media) => {
                let mut a = Attachment::new(
                    media.mime_type.as_deref().unwrap_or("application/octet-stream"),
                )?;
                a.source_url = Some(media.url.clone());
                a.name = media.caption.clone();
                vec![a]
            }
            None => vec![],
        };
        let text = m.text.clone().or_else(|| m.media.as_ref().and_then(|x| x.caption.clone()));
        let for_desk = match (m.author, text.is_some() || !attachments.is_empty()) {
            // Its conversation is found below; until then it names none.
            (Author::User, true) => Some(Message::received(
                ConversationId::new(),
                Direction::Inbound,
                m.channel,
                &m.source_id,
                &m.user_id,
                text,
                attachments,
                m.timestamp,
            )?),
            _ => None,
        };
        // A message for the desk goes to the customer's open chat, if any:
        // the customer's pointer tells which, and whether it reaches an agent.
        let open = match &for_desk {
            Some(_) => self
                .store
                .find_open(m.channel, &m.user_id)
                .await?
                .filter(|c| c.status.reaches_desk()),
            None => None,
        };
        if entry.text.is_some() || entry.url.is_some() {
            self.store.append_context(&entry).await?;
        }
        let (Some(mut message), Some(conversation)) = (for_desk, open) else {
            return Ok(Outcome::Context);
        };
        message.conversation_id = conversation.id.clone();
        if !queue_to_record(&self.store, &self.queue, QueueName::ToDesk, &conversation, &message)
            .await?
        {
            return Ok(Outcome::Duplicate);
        }
        Ok(Outcome::Queued)
    }
}
