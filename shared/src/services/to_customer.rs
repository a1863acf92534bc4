//! Agent messages from the `to-customer` queue to the customer's channel.

use std::time::Duration;

use crate::model::{Conversation, Direction, Message, MessageStatus};
use crate::ports::{Channel, ConversationStore, MessageStore, Ports, QueueJob, Receipt};
use crate::services::delivery::{deliver, Delivered};
use crate::services::desks::Desks;
use crate::services::media::StoredFiles;
use crate::services::once::once;
use crate::{Error, Result};

/// The channel adapters of this deployment, chosen by each conversation's channel.
pub struct Channels<P: Ports> {
    channels: Vec<Box<dyn Channel>>,
    files: StoredFiles<P::Blobs>,
    sends: P::Store,
}

/// How long one attempt may hold a send before another may take over.
const SEND_LEASE: Duration = Duration::from_secs(60);

impl<P: Ports> Channels<P> {
    pub fn new(
        channels: Vec<Box<dyn Channel>>,
        files: StoredFiles<P::Blobs>,
        sends: P::Store,
    ) -> Self {
        Channels { channels, files, sends }
    }

    /// Sends to the customer's channel, each piece once: a retry after a
    /// partial failure skips the pieces already accepted. The receipt is
    /// the first piece's.
    pub async fn send(&self, conversation: &Conversation, message: &Message) -> Result<Receipt> {
        let kind = conversation.channel;
        let channel = self.channels.iter().find(|c| c.serves(kind)).ok_or_else(|| {
            Error::permanent(
                format!("no {kind} channel adapter is configured in this deployment"),
                None,
            )
        })?;
        let mut first: Option<String> = None;
        for piece in 0..channel.pieces(conversation, message) {
            let key = format!("channel-send:{}:{piece}", message.id);
            let id = once(&self.sends, &key, message.id.as_str(), SEND_LEASE, || async {
                let receipt = channel.send(conversation, message, piece, &self.files).await?;
                Ok(receipt.id.unwrap_or_default())
            })
            .await?;
            first.get_or_insert(id);
        }
        Ok(Receipt { id: first.filter(|id| !id.is_empty()) })
    }
}

pub struct ToCustomer<P: Ports> {
    store: P::Store,
    channels: Channels<P>,
    desks: Desks<P>,
}

impl<P: Ports> ToCustomer<P> {
    pub fn new(store: P::Store, channels: Channels<P>, desks: Desks<P>) -> Self {
        ToCustomer { store, channels, desks }
    }

    /// Tells the desk that one of its agent's messages did not reach the
    /// customer, once per message.
    async fn report_if_failed(&self, job: &QueueJob) -> Result<()> {
        let Some(m) = self.store.get_message(&job.message_id).await? else { return Ok(()) };
        if m.status != MessageStatus::Failed {
            return Ok(());
        }
        let Some(c) = self.store.get_conversation(&job.conversation_id).await? else {
            return Ok(());
        };
        let key = format!("delivery-failed:{}", m.id);
        once(&self.store, &key, m.id.as_str(), SEND_LEASE, || async {
            self.desks.delivery_failed(&c, &m).await?;
            Ok("reported".to_owned())
        })
        .await
        .map(|_| ())
    }

    /// Sends one job's message; `last` when the queue will not bring it again.
    pub async fn handle(&self, job: QueueJob, last: bool) -> Result<()> {
        let outcome =
            deliver(&self.store, &job, Direction::Outbound, last, |c, mut m| async move {
                // The desk's links may expire before the customer opens them: send our copies.
                m.attachments = self.desks.media.store_all(&m).await?;
                self.channels.send(&c, &m).await
            })
            .await;
        match outcome {
            Ok(Delivered::Sent | Delivered::Before(_)) => Ok(()),
            Err(e) if e.is_retryable() => Err(e),
            // Failed now, or before (a redelivery, so a lost report is made again).
            Err(e) => {
                self.report_if_failed(&job).await?;
                Err(e)
            }
        }
    }
}
