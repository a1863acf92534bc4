//! Agent → customer, from Salesforce: its outbound platform events (read by
//! `adapters::salesforce::events`), as Event Relay delivers them through
//! EventBridge and SQS (routed to a queue grouped by conversation first), or
//! posted over HTTPS.
//! An agent message becomes a canonical outbound message, recorded once and
//! queued for the customer; a session that ends closes the conversation.

use serde_json::Value;
use sha2::Digest;

use crate::model::{
    now_millis, AgentEvent, Attachment, ChannelKind, Conversation, ConversationStatus, DeskKind,
    Direction, Message,
};
use crate::ports::{ConversationStore, Desk, EventFormat, Ports, Queue, QueueName};
use crate::services::delivery::{find_open_on, record_and_queue};
use crate::{Error, Result};

pub struct AgentEvents<P: Ports> {
    store: P::Store,
    queue: P::Queue,
    format: Box<dyn EventFormat>,
    /// CCaaS partner routing: the desk that assigns the work, when it is on.
    agent_work: Option<Box<dyn Desk>>,
}

impl<P: Ports> AgentEvents<P> {
    pub fn new(
        store: P::Store,
        queue: P::Queue,
        format: Box<dyn EventFormat>,
        agent_work: Option<Box<dyn Desk>>,
    ) -> Self {
        AgentEvents { store, queue, format, agent_work }
    }

    /// The end user's open conversation with Salesforce: Salesforce's events
    /// never touch a conversation another desk holds.
    async fn conversation(&self, end_user: &str) -> Result<Option<Conversation>> {
        Ok(find_open_on(&self.store, ChannelKind::ALL, end_user)
            .await?
            .filter(|c| c.desk == DeskKind::Salesforce))
    }

    pub async fn handle(&self, event: &Value) -> Result<()> {
        match self.format.read(event)? {
            AgentEvent::Ignored(kind) => {
                tracing::debug!(kind, "Salesforce event ignored");
                Ok(())
            }
            AgentEvent::RoutingRequested(work) => match &self.agent_work {
                Some(desk) => desk.assign(&work).await,
                None => {
                    tracing::debug!(
                        work.conversation_identifier,
                        "RoutingRequested ignored: CCaaS agent work is off"
                    );
                    Ok(())
                }
            },
            AgentEvent::SessionEnded { end_user } => {
                if let Some(c) = self.conversation(&end_user).await? {
                    self.store
                        .set_conversation_status(&c.id, ConversationStatus::Closed, now_millis())
                        .await?;
                    tracing::info!(conversation_id = %c.id, "session ended by Salesforce; the customer is back with the bot");
                }
                Ok(())
            }
            AgentEvent::Message { end_user, identifier, sender, text, files, at } => {
                let Some(c) = self.conversation(&end_user).await? else {
                    return Err(Error::NotFound(format!("an open conversation for {end_user}")));
                };
                let attachments = files
                    .into_iter()
                    .map(|(ct, url, name)| {
                        let mut a = Attachment::new(&ct)?;
                        a.source_url = Some(url);
                        a.name = Some(name);
                        Ok(a)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let m = Message::received(
                    c.id.clone(),
                    Direction::Outbound,
                    DeskKind::Salesforce,
                    &identifier,
                    &sender,
                    text,
                    attachments,
                    at,
                )?;
                record_and_queue(
                    &self.store,
                    &self.queue,
                    QueueName::ToCustomer,
                    &c.reference(),
                    &m,
                )
                .await?;
                if c.status == ConversationStatus::Queued {
                    // The first agent message: an agent has taken the chat.
                    self.store
                        .set_conversation_status(&c.id, ConversationStatus::Active, now_millis())
                        .await?;
                }
                Ok(())
            }
        }
    }
}

/// The router of Event Relay's events. EventBridge puts all of them in one
/// message group of the `salesforce-events` queue (a rule's target has one
/// fixed group), where one failing event would hold back everyone's; the
/// router only moves each event to the `salesforce-conversation-events`
/// queue, grouped by conversation, where they are handled.
pub struct Router<Q> {
    format: Box<dyn EventFormat>,
    queue: Q,
}

impl<Q: Queue> Router<Q> {
    pub fn new(format: Box<dyn EventFormat>, queue: Q) -> Self {
        Router { format, queue }
    }

    pub async fn handle(&self, event: &Value) -> Result<()> {
        let parsed = self.format.read(event)?;
        let Some(group) = parsed.group() else {
            tracing::debug!(?parsed, "Salesforce event ignored");
            return Ok(());
        };
        // A redelivered event (the same detail) is one message in the next queue.
        let detail = event.get("detail").unwrap_or(event);
        let dedup = hex::encode(sha2::Sha256::digest(detail.to_string().as_bytes()));
        let group = hex::encode(sha2::Sha256::digest(group.as_bytes()));
        let body = event.to_string();
        self.queue.forward(QueueName::SalesforceConversationEvents, &body, &group, &dedup).await
    }
}
