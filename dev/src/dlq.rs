//! What sits in a dead-letter queue, and putting it back (the admin
//! command's `dlq list` and `dlq redrive`).
//!
//! Redriving a delivery job resets the recorded message to `received` (the
//! workers never send a message twice, so a failed one must be made pending
//! again), then sends the job back to its queue in its conversation's group
//! and deletes it from the DLQ. It is delivered once, in order with what its
//! conversation sends next.

use anyhow::Context;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use omnibridge::bootstrap::Runtime;
use omnibridge::model::MessageStatus;
use omnibridge::ports::{MessageStore, QueueJob, QueueName, StatusDetail};
use serde_json::Value;

/// One dead letter.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeadLetter {
    pub sqs_message_id: String,
    pub group: Option<String>,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    /// Why it failed: the reason attached when it was dead-lettered, else the message's recorded failure.
    pub reason: Option<String>,
    pub body: String,
    #[serde(skip)]
    receipt: String,
}

pub fn queue_by_name(name: &str) -> anyhow::Result<QueueName> {
    match name {
        "to-desk" => Ok(QueueName::ToDesk),
        "to-customer" => Ok(QueueName::ToCustomer),
        "salesforce-events" => Ok(QueueName::SalesforceEvents),
        "salesforce-conversation-events" => Ok(QueueName::SalesforceConversationEvents),
        other => anyhow::bail!("unknown queue {other:?}: to-desk, to-customer, salesforce-events or salesforce-conversation-events"),
    }
}

/// Reads everything in the DLQ of `queue`, hiding it for `hold` seconds.
async fn read(rt: &Runtime, queue: QueueName, hold: i32) -> anyhow::Result<Vec<DeadLetter>> {
    let dlq = rt
        .settings
        .dlq_url(queue)
        .with_context(|| format!("no DLQ URL configured for {}", queue.as_str()))?;
    let sqs = rt.queue();
    let store = rt.dynamo()?;
    let mut out = Vec::new();
    loop {
        let res = sqs
            .client()
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(hold)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_attribute_names("All")
            .send()
            .await?;
        let batch = res.messages.unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let body = m.body.clone().unwrap_or_default();
            let job: Option<QueueJob> = serde_json::from_str(&body).ok();
            let mut reason = m
                .message_attributes
                .as_ref()
                .and_then(|a| a.get("reason"))
                .and_then(|v| v.string_value().map(str::to_owned));
            if reason.is_none() {
                if let Some(j) = &job {
                    reason = store.get_message(&j.message_id).await?.and_then(|m| m.failure_reason);
                }
            }
            out.push(DeadLetter {
                sqs_message_id: m.message_id.clone().unwrap_or_default(),
                group: m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId).cloned()),
                conversation_id: job.as_ref().map(|j| j.conversation_id.to_string()),
                message_id: job.as_ref().map(|j| j.message_id.to_string()),
                reason,
                body,
                receipt: m.receipt_handle.unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// Lists a DLQ without consuming it (its messages stay where they are).
pub async fn list(rt: &Runtime, queue: QueueName) -> anyhow::Result<Vec<DeadLetter>> {
    let letters = read(rt, queue, 30).await?;
    release(rt, queue, &letters).await?;
    Ok(letters)
}

async fn release(rt: &Runtime, queue: QueueName, letters: &[DeadLetter]) -> anyhow::Result<()> {
    let dlq = rt.settings.dlq_url(queue).context("DLQ URL")?;
    for l in letters {
        rt.queue()
            .client()
            .change_message_visibility()
            .queue_url(dlq)
            .receipt_handle(&l.receipt)
            .visibility_timeout(0)
            .send()
            .await?;
    }
    Ok(())
}

/// Sends back to `queue` the dead letters whose message id (or SQS message id)
/// is in `only` (all when empty); returns what was redriven.
pub async fn redrive(
    rt: &Runtime,
    queue: QueueName,
    only: &[String],
) -> anyhow::Result<Vec<DeadLetter>> {
    let letters = read(rt, queue, 60).await?;
    let (chosen, rest): (Vec<DeadLetter>, Vec<DeadLetter>) = letters.into_iter().partition(|l| {
        only.is_empty()
            || only.iter().any(|id| Some(id) == l.message_id.as_ref() || *id == l.sqs_message_id)
    });
    release(rt, queue, &rest).await?;
    let url = rt.settings.queue_url(queue)?.to_owned();
    let dlq = rt.settings.dlq_url(queue).context("DLQ URL")?.to_owned();
    let store = rt.dynamo()?;
    let stamp = omnibridge::model::now_millis();
    for l in &chosen {
        if let Ok(job) = serde_json::from_str::<QueueJob>(&l.body) {
            // Pending again, so the worker sends it (it never sends a settled message twice).
            match store
                .set_message_status(
                    &job.message_id,
                    MessageStatus::Received,
                    StatusDetail::default(),
                )
                .await
            {
                Ok(()) => {}
                // A job that carries its message, dead-lettered before the worker recorded it.
                Err(omnibridge::Error::NotFound(_)) if job.record.is_some() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let group = l.group.clone().unwrap_or_else(|| "redrive".into());
        // A new deduplication id: the original is still inside SQS's 5-minute window for a fast redrive.
        let dedup = format!("{}-redrive-{stamp}", l.sqs_message_id);
        rt.queue().send_raw(&url, &l.body, &group, &dedup[..dedup.len().min(128)], None).await?;
        rt.queue()
            .client()
            .delete_message()
            .queue_url(&dlq)
            .receipt_handle(&l.receipt)
            .send()
            .await?;
    }
    Ok(chosen)
}

/// A dead letter as one line of JSON (for `dlq list`).
pub fn to_line(l: &DeadLetter) -> String {
    let mut v = serde_json::to_value(l).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("body");
    }
    v.to_string()
}
