//! The `to-desk` worker: customer messages from the `to-desk` queue into the
//! conversation's desk.

use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::salesforce::SalesforceDesk;
use crate::config::SecretSource;
use crate::bootstrap::{Runtime, Worker as WorkerTrait};
use crate::model::{Conversation, DeskKind, Direction, Message};
use crate::ports::{QueueJob, QueueName, Receipt};
use crate::services::delivery::deliver;
use crate::{Error, Result};

/// The desk adapters of this deployment, chosen by each conversation's desk.
pub struct Desks {
    salesforce: Option<SalesforceDesk>,
}

impl Desks {
    pub async fn from_runtime(rt: &Runtime) -> Result<Self> {
        Ok(Desks { salesforce: salesforce_desk(rt).await? })
    }

    /// Delivers into the conversation's desk. A desk without an adapter in
    /// this deployment is a permanent failure: the message is marked failed
    /// and dead-lettered, ready for redrive once the desk is configured.
    pub async fn deliver(&self, conversation: &Conversation, message: &Message) -> Result<Receipt> {
        match (conversation.desk, &self.salesforce) {
            (DeskKind::Salesforce, Some(sf)) => deliver_to_salesforce(sf, conversation, message).await,
            (desk, _) => Err(Error::permanent(format!("no {desk} desk adapter is configured in this deployment"), None)),
        }
    }
}

/// The Salesforce desk of the settings, if they name an org.
pub async fn salesforce_desk(rt: &Runtime) -> Result<Option<SalesforceDesk>> {
    let key = match &rt.settings.salesforce.private_key {
        SecretSource::Unset => None,
        source => Some(rt.secret(source, "OMNIBRIDGE_SALESFORCE_PRIVATE_KEY").await?),
    };
    SalesforceDesk::from_settings(&rt.settings, key, crate::adapters::http_client::client()?)
}

async fn deliver_to_salesforce(sf: &SalesforceDesk, c: &Conversation, m: &Message) -> Result<Receipt> {
    if !m.attachments.is_empty() {
        // Copying platform media into the desk needs the guarded fetcher; until then the reason is recorded.
        return Err(Error::permanent("attachments to Salesforce are not delivered yet", None));
    }
    let text = m.text.as_deref().ok_or_else(|| Error::invalid("message", "has no text"))?;
    sf.send_text(&c.customer.id, m.id.as_str(), text, m.created_at).await?;
    if let Some(status) = sf.consent_keyword(text) {
        sf.consent(&c.customer.id, status).await?;
    }
    Ok(Receipt { id: Some(m.id.to_string()) })
}

pub struct Worker {
    store: DynamoStore,
    desks: Desks,
}

impl Worker {
    pub fn new(store: DynamoStore, desks: Desks) -> Self {
        Worker { store, desks }
    }
}

impl WorkerTrait for Worker {
    type Job = QueueJob;
    const QUEUE: QueueName = QueueName::ToDesk;

    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Worker::new(rt.dynamo(), Desks::from_runtime(rt).await?))
    }

    async fn process(&self, job: QueueJob) -> Result<()> {
        deliver(&self.store, &job, Direction::Inbound, |c, m| async move { self.desks.deliver(&c, &m).await }).await
    }
}
