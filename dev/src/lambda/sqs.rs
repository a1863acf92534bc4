//! A worker's SQS event source mapping, as Lambda runs it with the
//! function's execution role: receive up to `BatchSize` messages, invoke the
//! function with the SQS event, then delete what succeeded. With
//! `ReportBatchItemFailures` the messages the function names stay; without
//! it, any failure keeps the whole batch. A failed, timed-out or throttled
//! invocation deletes nothing, so the batch comes back after the queue's
//! visibility timeout; the queue's redrive policy moves a message to its DLQ
//! after `maxReceiveCount` receives.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use bytes::Bytes;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use super::Function;
use crate::template::{QueueSource, QueueSpec};

pub struct EventSource {
    pub function: Arc<Function>,
    pub source: QueueSource,
    pub queue: QueueSpec,
    /// The function's own SQS client (its role, through the IAM gateway).
    pub sqs: aws_sdk_sqs::Client,
    pub region: String,
    /// Long-poll wait of each receive.
    pub wait: Duration,
}

/// SQS messages as the Lambda SQS event carries them.
pub fn to_event(
    messages: Vec<aws_sdk_sqs::types::Message>,
    queue_arn: &str,
    region: &str,
) -> SqsEvent {
    let mut event = SqsEvent::default();
    for m in messages {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id;
        record.receipt_handle = m.receipt_handle;
        record.md5_of_body = m.md5_of_body;
        record.body = m.body;
        record.attributes = m
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect();
        record.event_source = Some("aws:sqs".into());
        record.event_source_arn = Some(queue_arn.to_owned());
        record.aws_region = Some(region.to_owned());
        event.records.push(record);
    }
    event
}

/// The message ids a successful invocation leaves on the queue; `None` when
/// the whole batch must stay (an answer Lambda cannot use).
fn kept(source: &QueueSource, payload: &[u8], batch: &HashSet<String>) -> Option<HashSet<String>> {
    if !source.report_batch_item_failures {
        return Some(HashSet::new());
    }
    if payload.is_empty() || payload == b"null" {
        return Some(HashSet::new());
    }
    let response: SqsBatchResponse = serde_json::from_slice(payload).ok()?;
    let failed: HashSet<String> =
        response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
    // An empty or unknown identifier fails the whole batch.
    failed.iter().all(|id| batch.contains(id)).then_some(failed)
}

impl EventSource {
    /// Polls until `stopped`.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        let url = self.queue.url.clone();
        while !*stopped.borrow() {
            let receive = self
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(self.source.batch_size.min(10) as i32)
                .wait_time_seconds(self.wait.as_secs() as i32)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send();
            let out = tokio::select! {
                out = receive => out,
                _ = stopped.changed() => break,
            };
            let messages = match out {
                Ok(o) => o.messages.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), queue = %url, function = %self.source.function, "receive failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if messages.is_empty() {
                if self.wait.is_zero() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
            let event = to_event(messages, &self.queue.arn, &self.region);
            let handles: Vec<(String, String)> = event
                .records
                .iter()
                .filter_map(|r| Some((r.message_id.clone()?, r.receipt_handle.clone()?)))
                .collect();
            let batch: HashSet<String> = handles.iter().map(|(id, _)| id.clone()).collect();
            let payload = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
            let keep = match self.function.invoke(payload).await {
                Ok(answer) => kept(&self.source, &answer, &batch),
                Err(_) => None,
            };
            let Some(keep) = keep else { continue };
            let done: Vec<DeleteMessageBatchRequestEntry> = handles
                .iter()
                .enumerate()
                .filter(|(_, (id, _))| !keep.contains(id))
                .filter_map(|(i, (_, receipt))| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .ok()
                })
                .collect();
            if !done.is_empty() {
                if let Err(e) = self
                    .sqs
                    .delete_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(done))
                    .send()
                    .await
                {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "delete failed; messages will be redelivered");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(report: bool) -> QueueSource {
        QueueSource {
            queue: "Q".into(),
            function: "w".into(),
            batch_size: 10,
            batching_window: Duration::ZERO,
            report_batch_item_failures: report,
            enabled: true,
            maximum_concurrency: None,
        }
    }

    #[test]
    fn when_the_function_reports_failures_should_keep_only_those_unless_the_answer_is_unusable() {
        let batch: HashSet<String> = ["a".to_owned(), "b".to_owned()].into();
        let one = br#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#;
        assert_eq!(kept(&source(true), one, &batch), Some(["b".to_owned()].into()));
        assert_eq!(
            kept(&source(true), br#"{"batchItemFailures":[]}"#, &batch),
            Some(HashSet::new())
        );
        assert_eq!(
            kept(&source(true), br#"{"batchItemFailures":[{"itemIdentifier":"zzz"}]}"#, &batch),
            None
        );
        assert_eq!(kept(&source(true), b"not json", &batch), None);
        // Without ReportBatchItemFailures a successful invocation consumes the batch.
        assert_eq!(kept(&source(false), one, &batch), Some(HashSet::new()));
    }
}
