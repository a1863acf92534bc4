//! The `to-desk` worker: customer messages from the `to-desk` queue into the
//! conversation's desk.

use crate::adapters::dynamodb::DynamoStore;
use crate::bootstrap::{Runtime, Worker as WorkerTrait};
use crate::model::Direction;
use crate::ports::{QueueJob, QueueName};
use crate::services::delivery::deliver;
use crate::services::desks::Desks;
use crate::worker::Attempt;
use crate::Result;

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
        Ok(Worker::new(rt.dynamo()?, rt.desks().await?))
    }

    async fn process(&self, job: QueueJob, attempt: Attempt) -> Result<()> {
        deliver(&self.store, &job, Direction::Inbound, attempt.last, |c, m| async move {
            self.desks.deliver(&c, &m).await
        })
        .await
        .map(|_| ())
    }
}
