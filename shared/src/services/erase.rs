//! Erasing one customer everywhere omnibridge keeps them, for a
//! data-protection request: their conversations (on the channel named),
//! the messages in them, the attachments copied to the bucket, their
//! 24-hour context and, for a custom channel's contact, the contact and
//! its contact data. What the desks and the platforms keep is theirs to
//! erase; table backups (point-in-time recovery) age out after 35 days.

use serde::Serialize;

use crate::model::ChannelKind;
use crate::ports::{BlobStore, ContextStore, ConversationStore, RecordStore};
use crate::services::custom_channel::CustomChannels;
use crate::Result;

/// What was erased.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    pub conversations: usize,
    pub messages: usize,
    pub attachments: usize,
    pub context_entries: usize,
    pub contact: bool,
}

/// Erases `customer` of `channel` (a WhatsApp or Messenger user id, or a
/// custom channel's contact id). Running it again erases what arrived since.
pub async fn erase_customer<S, B>(
    store: &S,
    blobs: &B,
    channel: ChannelKind,
    customer: &str,
) -> Result<Erased>
where
    S: ConversationStore + ContextStore + RecordStore + Clone,
    B: BlobStore,
{
    let mut erased = Erased::default();
    for c in store.conversations_of(channel, customer).await? {
        // Objects first: a conversation gone from the table could no longer
        // lead to them.
        erased.attachments += blobs.delete_prefix(&format!("{}/", c.id)).await?;
        erased.messages += store.erase_conversation(&c).await?;
        erased.conversations += 1;
    }
    erased.context_entries = store.erase_context(customer).await?;
    if channel == ChannelKind::Custom {
        erased.contact = CustomChannels::new(store.clone()).erase_contact(customer).await?;
    }
    Ok(erased)
}
