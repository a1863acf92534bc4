//! The desks of a deployment behind one dispatch by each conversation's
//! desk: every desk is a `ports::Desk`, built in `compose.rs`.

use crate::model::{Conversation, DeskKind, Message};
use crate::ports::{Desk, Ports, Receipt};
use crate::services::media::Media;
use crate::services::once::once;
use crate::{Error, Result};

/// The desk adapters of this deployment, chosen by each conversation's desk.
pub struct Desks<P: Ports> {
    desks: Vec<Box<dyn Desk>>,
    pub media: Media<P>,
}

impl<P: Ports> Desks<P> {
    pub fn new(desks: Vec<Box<dyn Desk>>, media: Media<P>) -> Self {
        Desks { desks, media }
    }

    /// The desk of that kind. A desk without an adapter in this deployment
    /// is a permanent failure: a message for it is marked failed and
    /// dead-lettered, ready for redrive once the desk is configured.
    pub fn get(&self, kind: DeskKind) -> Result<&dyn Desk> {
        self.desks.iter().find(|d| d.kind() == kind).map(AsRef::as_ref).ok_or_else(|| {
            Error::permanent(
                format!("no {kind} desk adapter is configured in this deployment"),
                None,
            )
        })
    }

    /// Delivers a customer message into the conversation's desk, its
    /// attachments first copied to the bucket.
    ///
    /// Each message is sent under a run-once claim: two workers holding the
    /// same message (a redelivery racing a slow first attempt) never both
    /// send it, which matters for desks that take the same message twice.
    pub async fn deliver(&self, conversation: &Conversation, message: &Message) -> Result<Receipt> {
        let desk = self.get(conversation.desk)?;
        let key = format!("desk-send:{}", message.id);
        let id = once(&self.media.store, &key, message.id.as_str(), SEND_LEASE, || async {
            let mut stored = message.clone();
            stored.attachments = self.media.store_all(message).await?;
            let receipt = desk.deliver(conversation, &stored, &self.media.files).await?;
            Ok(receipt.id.unwrap_or_default())
        })
        .await?;
        Ok(Receipt { id: Some(id).filter(|id| !id.is_empty()) })
    }

    /// Tells the desk that one of its agent's messages did not reach the
    /// customer (MessageDeliveryFailed for Salesforce, status `failed` for
    /// Pipedrive; Yeahdesk's custom channel has no way to be told).
    pub async fn delivery_failed(
        &self,
        conversation: &Conversation,
        message: &Message,
    ) -> Result<()> {
        self.get(conversation.desk)?.delivery_failed(conversation, message, &self.media.files).await
    }
}

/// How long one attempt may hold a message's delivery before another may take over.
const SEND_LEASE: std::time::Duration = std::time::Duration::from_secs(60);
