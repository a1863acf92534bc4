//! Yeahdesk's agents' replies, as its webhook brings them (customer
//! messages go the other way through `adapters::yeahdesk::YeahdeskDesk`).

use crate::model::{
    Conversation, ConversationId, ConversationStatus, DeskKind, Direction, Message, ReplyHook,
};
use crate::ports::{ConversationStore, MessageStore, Queue, QueueName};
use crate::services::delivery::record_and_queue;
use crate::{Error, Result};

/// What became of one webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    /// An agent's reply, recorded and queued for the customer (or seen before).
    Queued,
    /// Not an agent's reply to one of our conversations; nothing to do.
    Ignored(&'static str),
}

/// `POST /v1/yeahdesk/webhook`: an agent's reply becomes an outbound message,
/// once however often Yeahdesk delivers it.
pub async fn take_webhook<S, Q>(store: &S, queue: &Q, hook: ReplyHook) -> Result<Hook>
where
    S: ConversationStore + MessageStore,
    Q: Queue,
{
    let (reference, id, sender, text, attachments, at) = match hook {
        ReplyHook::Ignored(why) => return Ok(Hook::Ignored(why)),
        ReplyHook::Reply { reference, id, sender, text, attachments, at } => {
            (reference, id, sender, text, attachments, at)
        }
    };
    let Some(conversation) = find_conversation(store, reference.as_deref()).await? else {
        return Ok(Hook::Ignored("not a dialog of omnibridge's"));
    };
    let message = Message::received(
        conversation.id.clone(),
        Direction::Outbound,
        DeskKind::Yeahdesk,
        &id,
        &sender,
        text,
        attachments,
        at,
    )?;
    record_and_queue(store, queue, QueueName::ToCustomer, &conversation.reference(), &message)
        .await?;
    if conversation.status == ConversationStatus::Queued {
        match store
            .set_conversation_status(
                &conversation.id,
                ConversationStatus::Active,
                crate::model::now_millis(),
            )
            .await
        {
            Ok(_) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Hook::Queued)
}

/// Our conversation a dialog belongs to: its `reference` is our id.
async fn find_conversation<S: ConversationStore>(
    store: &S,
    reference: Option<&str>,
) -> Result<Option<Conversation>> {
    let Some(id) = reference.and_then(|r| ConversationId::parse(r).ok()) else { return Ok(None) };
    Ok(store.get_conversation(&id).await?.filter(|c| c.desk == DeskKind::Yeahdesk))
}
