//! The `to-customer` worker: agent messages to the customer's channel.

use crate::bootstrap::{QueueFunction, Runtime};
use crate::compose::Aws;
use crate::ports::{QueueJob, QueueName};
use crate::services::to_customer::ToCustomer;
use crate::worker::Attempt;
use crate::Result;

pub struct Worker(ToCustomer<Aws>);

impl QueueFunction for Worker {
    type Job = QueueJob;
    const QUEUE: QueueName = QueueName::ToCustomer;

    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Worker(ToCustomer::new(rt.dynamo()?, rt.channels().await?, rt.desks().await?)))
    }

    async fn process(&self, job: QueueJob, attempt: Attempt) -> Result<()> {
        self.0.handle(job, attempt.last).await
    }
}
