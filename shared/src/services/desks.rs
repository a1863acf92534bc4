//! The desks of a deployment behind one dispatch by each conversation's
//! desk: every desk is a `ports::Desk`, built in `compose.rs`.

use crate::model::{Conversation, DeskKind, Message};
use crate::ports::{Desk, Ports, Receipt};
use crate::services::media::Media;
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
    /// attachments first copied to the bucket. Called by
    /// [`crate::services::delivery::deliver`], whose hold on the message
    /// keeps two attempts from both sending it.
    pub async fn deliver(&self, conversation: &Conversation, message: &Message) -> Result<Receipt> {
        let desk = self.get(conversation.desk)?;
        let mut stored = message.clone();
        stored.attachments = self.media.store_all(message).await?;
        desk.deliver(conversation, &stored, &self.media.files).await
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
