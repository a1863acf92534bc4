//! The SQS adapter: two FIFO queues (`to-desk`, `to-customer`), each with a
//! dead-letter queue. Message group = conversation (order), deduplication id =
//! message id (a job enqueued twice within SQS's 5-minute window is one job).

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;
use std::time::Duration;

use super::aws_error;
use crate::config::Settings;
use crate::ports::{Queue, QueueName};
use crate::{Error, Result};

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    /// The queue URLs are the settings'.
    settings: Settings,
}

impl SqsQueue {
    pub fn new(client: Client, settings: &Settings) -> Self {
        SqsQueue { client, settings: settings.clone() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends a raw body to a FIFO queue, with an optional `reason` attribute.
    pub async fn send_raw(
        &self,
        url: &str,
        body: &str,
        group: &str,
        dedup: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        let mut req = self
            .client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(dedup);
        if let Some(reason) = reason {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(crate::model::truncate(reason, 1024))
                .build()
                .map_err(|e| {
                    Error::permanent("building an SQS attribute failed", Some(Box::new(e)))
                })?;
            req = req.message_attributes("reason", attr);
        }
        req.send().await.map_err(|e| aws_error("SQS SendMessage", e))?;
        Ok(())
    }

    /// Makes a received message visible again after `delay` (the retry backoff).
    pub async fn retry_after(
        &self,
        url: &str,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay.as_secs().min(12 * 3600) as i32)
            .send()
            .await
            .map_err(|e| aws_error("SQS ChangeMessageVisibility", e))?;
        Ok(())
    }
}

impl Queue for SqsQueue {
    async fn forward(&self, queue: QueueName, body: &str, group: &str, dedup: &str) -> Result<()> {
        self.send_raw(self.settings.queue_url(queue)?, body, group, dedup, None).await
    }
}
