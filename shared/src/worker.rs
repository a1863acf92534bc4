//! Turns an SQS batch into per-message work and answers with partial batch
//! failures. Records of one message group (one conversation) run in order;
//! the first retryable failure stops its group, and that record and the later
//! ones of the group come back for redelivery, so order is kept. Other groups
//! proceed. A permanent failure is moved to the dead-letter queue at once and
//! does not hold its group back; so is a retryable one on the last receive
//! the queue allows, which the handler is told about so it can record why.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

use crate::adapters::sqs::SqsQueue;
use crate::{Error, Result};
use serde::de::DeserializeOwned;

pub use crate::config::DEFAULT_MAX_RECEIVES;

/// What the helper needs to back off and dead-letter; without it failures
/// simply come back after the queue's visibility timeout.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub sqs: SqsQueue,
    pub queue_url: String,
    pub dlq_url: Option<String>,
    pub base: Duration,
    pub cap: Duration,
    /// The queue's `maxReceiveCount`: the receive that is the last try.
    pub max_receives: u32,
}

/// Which try of a queue message this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    /// No retry follows: a retryable failure now is final.
    pub last: bool,
}

impl RetryPolicy {
    pub fn new(sqs: SqsQueue, queue_url: String, dlq_url: Option<String>) -> Self {
        RetryPolicy {
            sqs,
            queue_url,
            dlq_url,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(900),
            max_receives: DEFAULT_MAX_RECEIVES,
        }
    }

    /// Exponential backoff with jitter for the `attempt`-th receive, at least what the peer asked.
    pub fn delay(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.cap);
        let jittered =
            exp / 2 + Duration::from_millis(fastrand::u64(0..=exp.as_millis() as u64 / 2));
        asked.map_or(jittered, |a| a.max(jittered))
    }
}

fn group_of(record: &SqsMessage) -> String {
    record
        .attributes
        .get("MessageGroupId")
        .cloned()
        .or_else(|| record.message_id.clone())
        .unwrap_or_default()
}

fn parse_job<J: DeserializeOwned>(record: &SqsMessage) -> Result<J> {
    let body =
        record.body.as_deref().ok_or_else(|| Error::invalid("queue message", "has no body"))?;
    serde_json::from_str(body).map_err(|e| Error::invalid("queue message", e.to_string()))
}

/// Processes `event` with `handle`, returning the records to redeliver.
/// Work stops at `until` (the invocation's deadline less a margin): a record
/// still running then fails as retryable, and records not started go back
/// to the queue at once, so the batch is always answered in time.
pub async fn process_batch<J, F, Fut>(
    event: SqsEvent,
    retry: Option<&RetryPolicy>,
    until: Option<tokio::time::Instant>,
    handle: F,
) -> SqsBatchResponse
where
    J: DeserializeOwned,
    F: Fn(J, Attempt) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut groups: Vec<(String, Vec<SqsMessage>)> = Vec::new();
    for record in event.records {
        let g = group_of(&record);
        match groups.iter_mut().find(|(name, _)| *name == g) {
            Some((_, records)) => records.push(record),
            None => groups.push((g, vec![record])),
        }
    }
    let handle = &handle;
    let results =
        futures::future::join_all(groups.into_iter().map(|(group, records)| async move {
            run_group(&group, records, retry, until, handle).await
        }))
        .await;
    let mut response = SqsBatchResponse::default();
    for id in results.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// Runs one group in order; returns the message ids to redeliver.
async fn run_group<J, F, Fut>(
    group: &str,
    records: Vec<SqsMessage>,
    retry: Option<&RetryPolicy>,
    until: Option<tokio::time::Instant>,
    handle: &F,
) -> Vec<String>
where
    J: DeserializeOwned,
    F: Fn(J, Attempt) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    for (i, record) in records.iter().enumerate() {
        let sqs_id = record.message_id.clone().unwrap_or_default();
        let attempt: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let span = tracing::info_span!(
            "queue_message",
            conversation_id = %group,
            sqs_message_id = %sqs_id,
            attempt
        );
        if until.is_some_and(|u| tokio::time::Instant::now() >= u) {
            // Not started before the deadline: back to the queue at once,
            // with the rest of its conversation behind it.
            tracing::warn!(parent: &span, "no time left in this invocation; handing the message back");
            return release(retry, &records[i..], Duration::ZERO).instrument(span).await;
        }
        let last = retry.is_some_and(|p| attempt >= p.max_receives);
        let work = async { handle(parse_job(record)?, Attempt { number: attempt, last }).await }
            .instrument(span.clone());
        let outcome = match until {
            Some(u) => tokio::time::timeout_at(u, work).await.unwrap_or_else(|_| {
                Err(Error::Retryable {
                    what: "the invocation's deadline came before the message was done".into(),
                    retry_after: None,
                    source: None,
                })
            }),
            None => work.await,
        };
        let err = match outcome {
            Ok(()) => continue,
            Err(e) => e,
        };
        let delay = async {
            if !err.is_retryable() || last {
                tracing::error!(error = %err.chain(), "permanent failure (or the last try)");
                match dead_letter(retry, group, record, &err).await {
                    Ok(true) => return None,
                    Ok(false) => {}
                    Err(dlq_err) => tracing::error!(error = %dlq_err.chain(), "could not dead-letter; will retry"),
                }
            } else {
                tracing::warn!(error = %err.chain(), "retryable failure; holding back the rest of the conversation");
            }
            Some(retry.map_or(Duration::ZERO, |p| p.delay(attempt, err.retry_after())))
        }
        .instrument(span.clone())
        .await;
        let Some(delay) = delay else { continue };
        return release(retry, &records[i..], delay).instrument(span).await;
    }
    Vec::new()
}

/// Hands `failed` (a record and the later ones of its conversation) back
/// for redelivery; returns their ids. The first waits out `delay`; the later
/// ones are released at once and wait behind it, because a FIFO group
/// delivers nothing while its oldest message is in flight. (Giving them the
/// same delay lets them race the head when they become visible together.)
async fn release(
    retry: Option<&RetryPolicy>,
    failed: &[SqsMessage],
    delay: Duration,
) -> Vec<String> {
    if let Some(policy) = retry {
        for (n, r) in failed.iter().enumerate() {
            let wait = if n == 0 { delay } else { Duration::ZERO };
            if let Some(handle) = r.receipt_handle.as_deref() {
                if let Err(e) = policy.sqs.retry_after(&policy.queue_url, handle, wait).await {
                    tracing::warn!(error = %e.chain(), "could not set the retry delay");
                }
            }
        }
    }
    failed.iter().filter_map(|r| r.message_id.clone()).collect()
}

/// Moves a record that can never succeed to the DLQ; `false` when no DLQ is configured.
async fn dead_letter(
    retry: Option<&RetryPolicy>,
    group: &str,
    record: &SqsMessage,
    err: &Error,
) -> Result<bool> {
    let Some((policy, dlq)) = retry.and_then(|p| p.dlq_url.as_deref().map(|d| (p, d))) else {
        return Ok(false);
    };
    let body = record.body.as_deref().unwrap_or("");
    let dedup = record.message_id.as_deref().unwrap_or(group);
    policy.sqs.send_raw(dlq, body, group, dedup, Some(&err.chain())).await?;
    Ok(true)
}
