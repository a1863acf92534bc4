//! The `to-desk` worker: customer messages from the `to-desk` queue into the
//! conversation's desk.

use crate::adapters::dynamodb::DynamoStore;
use crate::bootstrap::{Runtime, Worker as WorkerTrait};
use crate::model::{Conversation, Direction, Message};
use crate::ports::{QueueJob, QueueName, Receipt};
use crate::services::delivery::deliver;
use crate::{Error, Result};

/// The desk adapters of this deployment, chosen by each conversation's desk.
#[derive(Clone, Debug, Default)]
pub struct Desks {}

impl Desks {
    pub fn from_runtime(_rt: &Runtime) -> Result<Self> {
        Ok(Desks {})
    }

    /// Delivers into the conversation's desk. A desk without an adapter in
    /// this deployment is a permanent failure: the message is marked failed
    /// and dead-lettered, ready for redrive once the desk is configured.
    pub async fn deliver(&self, conversation: &Conversation, _message: &Message) -> Result<Receipt> {
        Err(Error::permanent(format!("no {} desk adapter is configured in this deployment", conversation.desk), None))
    }
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
    const QUEUE: QueueName = QueueName::ToDesk;

    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Worker::new(rt.dynamo(), Desks::from_runtime(rt)?))
    }

    async fn process(&self, job: QueueJob) -> Result<()> {
        deliver(&self.store, &job, Direction::Inbound, |c, m| async move { self.desks.deliver(&c, &m).await }).await
    }
}
