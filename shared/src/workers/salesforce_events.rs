//! The Salesforce events' workers: the router of Event Relay's events, and
//! the worker of the per-conversation queue they are routed to.

use serde_json::Value;

use crate::bootstrap::{QueueFunction, Runtime};
use crate::compose::Aws;
use crate::ports::{Ports, QueueName};
use crate::services::salesforce_events::{AgentEvents, Router as EventRouter};
use crate::worker::Attempt;
use crate::Result;

/// Moves each event of the `salesforce-events` queue (one message group)
/// to the `salesforce-conversation-events` queue, grouped by conversation.
pub struct Router(EventRouter<<Aws as Ports>::Queue>);

impl QueueFunction for Router {
    const QUEUE: QueueName = QueueName::SalesforceEvents;
    type Job = Value;

    async fn build(rt: &Runtime) -> Result<Self> {
        rt.settings.queue_url(QueueName::SalesforceConversationEvents)?;
        Ok(Router(EventRouter::new(rt.event_format(), rt.queue())))
    }

    async fn process(&self, event: Value, _attempt: Attempt) -> Result<()> {
        self.0.handle(&event).await
    }
}

/// The worker of the per-conversation Salesforce events queue.
pub struct Worker(AgentEvents<Aws>);

impl QueueFunction for Worker {
    const QUEUE: QueueName = QueueName::SalesforceConversationEvents;
    type Job = Value;

    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Worker(rt.agent_events().await?))
    }

    async fn process(&self, event: Value, _attempt: Attempt) -> Result<()> {
        self.0.handle(&event).await
    }
}
