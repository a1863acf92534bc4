//! Delivering one queued message to the other side, once.

use std::future::Future;

use crate::model::{
    ChannelKind, Conversation, ConversationRef, Direction, Message, MessageId, MessageStatus,
};
use crate::ports::{
    ConversationStore, MessageStore, Queue, QueueJob, QueueName, Receipt, Recorded, StatusDetail,
};
use crate::services::once::record_after_effect;
use crate::{Error, Result};

/// What [`deliver`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Sent now.
    Sent,
    /// Handled before (a redelivered job): this is how it ended.
    Before(MessageStatus),
}

/// Loads the job's message and conversation, hands them to `send`, and
/// records the outcome: `sent` with the receiver's id, or `failed` with the
/// reason when the failure is permanent or this was the `last` try. A
/// message already past `received` (a redelivered job) is not sent again;
/// one that failed fails again with its recorded reason.
pub async fn deliver<S, F, Fut>(
    store: &S,
    job: &QueueJob,
    direction: Direction,
    last: bool,
    send: F,
) -> Result<Delivered>
where
    S: MessageStore + ConversationStore,
    F: FnOnce(Conversation, Message) -> Fut,
    Fut: Future<Output = Result<Receipt>>,
{
    let loaded = match &job.record {
        Some(message) => record_queued(store, job, message).await,
        None => store.get_message_in(&job.message_id, &job.conversation_id).await,
    };
    let (message, conversation) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return Err(fail_unread(store, job, e, last).await),
    };
    let message = message.ok_or_else(|| Error::NotFound(format!("message {}", job.message_id)))?;
    if message.direction != direction || message.conversation_id != job.conversation_id {
        return Err(Error::invalid("queue job", "does not match the recorded message"));
    }
    if message.status == MessageStatus::Failed {
        // A redelivery of a message that failed for good (its dead-lettering
        // or failure report may not have happened): it fails again, with the
        // recorded reason, so it still ends in the DLQ.
        let reason = message.failure_reason.unwrap_or_default();
        return Err(Error::permanent(format!("failed before: {reason}"), None));
    }
    if message.status.is_final() {
        tracing::info!(message_id = %message.id, status = %message.status, "already handled; not sending again");
        return Ok(Delivered::Before(message.status));
    }
    let conversation = conversation
        .ok_or_else(|| Error::NotFound(format!("conversation {}", job.conversation_id)))?;
    let id = message.id.clone();
    match send(conversation, message).await {
        Ok(receipt) => {
            record_sent(
                store,
                &id,
                StatusDetail { delivered_id: receipt.id, failure_reason: None },
            )
            .await;
            Ok(Delivered::Sent)
        }
        Err(e) if e.is_retryable() && !last => Err(e),
        Err(e) => {
            let e = match e {
                Error::Retryable { .. } => {
                    Error::permanent("gave up after the last try", Some(Box::new(e)))
                }
                other => other,
            };
            let detail = StatusDetail { delivered_id: None, failure_reason: Some(e.chain()) };
            store.set_message_status(&id, MessageStatus::Failed, detail).await?;
            Err(e)
        }
    }
}

/// Records that the peer took the message. A failure here must not bring
/// the job back (the message would be sent again): the write is retried, and
/// if it still fails the message stays `received` in the store, logged,
/// though delivered.
async fn record_sent<S: MessageStore>(store: &S, id: &MessageId, detail: StatusDetail) {
    if let Err(e) =
        record_after_effect(|| store.set_message_status(id, MessageStatus::Sent, detail.clone()))
            .await
    {
        tracing::error!(error = %e.chain(), message_id = %id, "the peer took the message, but its status could not be recorded");
    }
}

/// Records the message a job carries (once: a redelivered job, or a copy
/// queued again, finds it recorded and goes on with what the store holds)
/// and reads its conversation. A new message keeps its conversation from
/// expiring.
async fn record_queued<S>(
    store: &S,
    job: &QueueJob,
    message: &Message,
) -> Result<(Option<Message>, Option<Conversation>)>
where
    S: MessageStore + ConversationStore,
{
    if message.id != job.message_id || message.conversation_id != job.conversation_id {
        return Err(Error::invalid("queue job", "carries another message than it names"));
    }
    let (message, created) = match store.append_message(message).await? {
        Recorded::Created => (message.clone(), true),
        Recorded::Existing(stored) => (stored, false),
    };
    let conversation = store.get_conversation(&job.conversation_id).await?;
    if let Some(c) = conversation.as_ref().filter(|_| created) {
        store.keep_conversation(&c.reference()).await?;
    }
    Ok((Some(message), conversation))
}

/// When the message could not even be read and this is its end (a
/// permanent error, or the last try): marks it `failed` with the reason if
/// it can, so that no dead-lettered message stays `received`.
async fn fail_unread<S: MessageStore>(store: &S, job: &QueueJob, e: Error, last: bool) -> Error {
    if e.is_retryable() && !last {
        return e;
    }
    let detail = StatusDetail { delivered_id: None, failure_reason: Some(e.chain()) };
    match store.set_message_status(&job.message_id, MessageStatus::Failed, detail).await {
        Ok(()) => {}
        // A job that carries its message, which could not be recorded: the
        // dead letter holds it, with the reason.
        Err(Error::NotFound(_)) if job.record.is_some() => {}
        Err(mark) => {
            tracing::error!(error = %mark.chain(), message_id = %job.message_id, "could not mark the unread message failed")
        }
    }
    e
}

/// The largest job that carries its message ([`queue_to_record`]): well
/// under a queue message's 256 KiB, with room for the queue's own fields.
pub const MAX_CARRIED_JOB_BYTES: usize = 192 * 1024;

/// Queues `message` for its worker to record and deliver: one call where
/// [`record_and_queue`] makes two, so a webhook acknowledges sooner. The
/// worker's write is as conditional as the sender's would be, so a copy
/// queued again (a redelivered webhook) is recorded once and delivered
/// once; until the worker runs, the message is only in the queue. A message
/// too large to travel whole (long text escaped in JSON, many files) is
/// recorded first, as [`record_and_queue`] does. Returns whether it was
/// queued.
pub async fn queue_to_record<S, Q>(
    store: &S,
    queue: &Q,
    name: QueueName,
    conversation: &ConversationRef,
    message: &Message,
) -> Result<bool>
where
    S: MessageStore + ConversationStore,
    Q: Queue,
{
    let job = QueueJob::to_record(message);
    // Encoded once: measured, then sent as it is.
    let body = job.encode()?;
    if body.len() > MAX_CARRIED_JOB_BYTES {
        return record_and_queue(store, queue, name, conversation, message).await;
    }
    queue.send_encoded(name, &job, &body).await?;
    Ok(true)
}

/// Records `message` once and queues it for delivery on `queue`. A message
/// recorded before is queued again while it is still pending (the first copy
/// may have stopped between the write and the send); SQS's deduplication
/// and [`deliver`]'s status check keep it single. Returns whether it was
/// queued. A new message keeps its `conversation` from expiring.
pub async fn record_and_queue<S, Q>(
    store: &S,
    queue: &Q,
    name: QueueName,
    conversation: &ConversationRef,
    message: &Message,
) -> Result<bool>
where
    S: MessageStore + ConversationStore,
    Q: Queue,
{
    let pending = match store.append_message(message).await? {
        Recorded::Created => {
            store.keep_conversation(conversation).await?;
            true
        }
        Recorded::Existing(stored) => !stored.status.is_final(),
    };
    if pending {
        let job = QueueJob::recorded(message);
        queue.enqueue(name, &job).await?;
    }
    Ok(pending)
}

/// The customer's open conversation on the first of `channels` that has one.
pub async fn find_open_on<S: ConversationStore>(
    store: &S,
    channels: &[ChannelKind],
    customer: &str,
) -> Result<Option<Conversation>> {
    for channel in channels {
        if let Some(c) = store.find_open_conversation(*channel, customer).await? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}
