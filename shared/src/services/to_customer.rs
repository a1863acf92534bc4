//! The `to-customer` worker: agent messages from the `to-customer` queue to
//! the customer's channel.

use crate::adapters::dynamodb::DynamoStore;
use crate::bootstrap::{Runtime, Worker as WorkerTrait};
use crate::model::{Conversation, Direction, Message};
use crate::ports::{QueueJob, QueueName, Receipt};
use crate::services::delivery::deliver;
use crate::{Error, Result};

/// The channel adapters of this deployment, chosen by each conversation's channel.
#[derive(Clone, Debug, Default)]
pub struct Channels {}

impl Channels {
    pub fn from_runtime(_rt: &Runtime) -> Result<Self> {
        Ok(Channels {})
    }

    /// Sends to the customer's channel. A channel without an adapter in this
    /// deployment is a permanent failure (marked failed, dead-lettered).
    pub async fn send(&self, conversation: &Conversation, _message: &Message) -> Result<Receipt> {
        Err(Error::permanent(format!("no {} channel adapter is configured in this deployment", conversation.channel), None))
    }
}

pub struct Worker {
    store: DynamoStore,
    channels: Channels,
}

impl Worker {
    pub fn new(store: DynamoStore, channels: Channels) -> Self {
        Worker { store, channels }
    }
}

impl WorkerTrait for Worker {
    const QUEUE: QueueName = QueueName::ToCustomer;

    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Worker::new(rt.dynamo(), Channels::from_runtime(rt)?))
    }

    async fn process(&self, job: QueueJob) -> Result<()> {
        deliver(&self.store, &job, Direction::Outbound, |c, m| async move { self.channels.send(&c, &m).await }).await
    }
}
