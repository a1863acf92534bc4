//! The `to-desk` worker: customer messages into the conversation's desk.

use crate::bootstrap::{QueueFunction, Runtime};
use crate::compose::Aws;
use crate::ports::{QueueJob, QueueName};
use crate::services::to_desk::ToDesk;
use crate::worker::Attempt;
use crate::Result;

pub struct Worker(ToDesk<Aws>);

impl QueueFunction for Worker {
    type Job = QueueJob;
    const QUEUE: QueueName = QueueName::ToDesk;

    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Worker(ToDesk::new(rt.dynamo()?, rt.desks().await?)))
    }

    async fn process(&self, job: QueueJob, attempt: Attempt) -> Result<()> {
        self.0.handle(job, attempt.last).await
    }
}
