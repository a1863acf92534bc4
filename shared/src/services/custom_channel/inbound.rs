//! `POST /api/custom-channel/message/{channelId}`: a source's message taken
//! once per idempotency key, its dialog found or opened and handed to the
//! channel's desk, the message queued for the desk.

use sha2::{Digest, Sha256};
use std::time::Duration;

use super::{refused, CustomChannel, CustomChannels, REFERENCE};
use crate::model::{
    now_millis, Accepted, Author, ChannelKind, ContextEntry, Conversation, ConversationId,
    DeskKind, Direction, EpochMillis, Message, MessageSource, Participant, SourceContact,
    SourceMessage,
};
use crate::ports::{ContextStore, ConversationStore, Ports, QueueName, RecordStore, Recorded};
use crate::services::delivery::record_and_queue;
use crate::services::handoff::{Handoff, HandoffRequest};
use crate::services::once::once;
use crate::{Error, Result};

/// How long one attempt may hold a request's idempotency key.
const REQUEST_LEASE: Duration = Duration::from_secs(60);

/// `POST /api/custom-channel/message/{channelId}`: the message is recorded
/// in its dialog (found by id or `reference`, or new), the customer handed to
/// the channel's desk when the dialog is new, and the message queued for the desk.
pub struct CustomInbound<P: Ports> {
    store: P::Store,
    registry: CustomChannels<P::Store>,
    queue: P::Queue,
    handoff: Handoff<P>,
    client_name: String,
    context_ttl: Duration,
}

impl<P: Ports> CustomInbound<P> {
    pub fn new(
        store: P::Store,
        queue: P::Queue,
        handoff: Handoff<P>,
        client_name: String,
        context_ttl: Duration,
    ) -> Self {
        CustomInbound {
            registry: CustomChannels::new(store.clone()),
            store,
            queue,
            handoff,
            client_name,
            context_ttl,
        }
    }

    /// The channel, when `token` is its token.
    pub async fn authorize(&self, channel_id: &str, token: Option<&str>) -> Result<CustomChannel> {
        self.registry.authorize(channel_id, token).await
    }

    /// Takes one message. With an idempotency key, the same message again
    /// answers what the first did (and changes nothing); the same key with
    /// another message is a conflict.
    pub async fn receive(
        &self,
        channel: &CustomChannel,
        key: Option<&str>,
        message: &SourceMessage,
    ) -> Result<Accepted> {
        let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
            return self.accept(channel, message, &uuid::Uuid::new_v4().to_string()).await;
        };
        crate::model::validate_id("Idempotency-Key", key)?;
        let encoded = serde_json::to_vec(message)
            .map_err(|e| Error::permanent("encoding the message failed", Some(Box::new(e))))?;
        let fingerprint = hex::encode(Sha256::digest(encoded));
        let outcome = once(
            &self.store,
            &format!("custom:{}:{key}", channel.id),
            &fingerprint,
            REQUEST_LEASE,
            || async {
                let accepted = self.accept(channel, message, key).await?;
                serde_json::to_string(&accepted)
                    .map_err(|e| Error::permanent("encoding the answer failed", Some(Box::new(e))))
            },
        )
        .await?;
        serde_json::from_str(&outcome).map_err(|e| {
            Error::permanent("a remembered answer could not be read", Some(Box::new(e)))
        })
    }

    async fn accept(
        &self,
        channel: &CustomChannel,
        m: &SourceMessage,
        source_id: &str,
    ) -> Result<Accepted> {
        let now = now_millis();
        let timestamp = m.timestamp.unwrap_or(now);
        let (text, attachments) = (m.text.clone(), m.attachments.clone());
        let contact = match &m.contact {
            SourceContact::Object(obj) => {
                self.registry.upsert_contact(channel.owner(), obj).await?
            }
            SourceContact::Data(items) => {
                self.registry.update_contact_data(channel.owner(), items).await?
            }
        };
        let customer = contact.participant()?;
        let (conversation, new) = self.dialog(channel, m, &customer, now).await?;
        if let Some(data) = m
            .integration_data
            .as_deref()
            .filter(|d| conversation.integration_data.as_deref() != Some(*d))
        {
            self.store.set_integration_data(&conversation.id, data).await?;
        }
        // "Used when creating or updating the dialog": a later title replaces the first.
        if let Some(title) =
            m.title.as_deref().filter(|t| conversation.title.as_deref() != Some(*t))
        {
            self.store.set_title(&conversation.id, title).await?;
        }
        if new && conversation.desk == DeskKind::Salesforce {
            // Salesforce's events name the customer, not the dialog: they reach the latest one.
            self.store.point_to(&conversation).await?;
        }
        if new || !self.handoff.handed_over(&conversation).await? {
            let req = HandoffRequest {
                channel: ChannelKind::Custom,
                bot: channel.id.clone(),
                customer: customer.clone(),
                extra: Default::default(),
            };
            match self.handoff.hand_over(&req, &conversation).await {
                Ok(()) => {}
                Err(e) if e.is_retryable() => return Err(e),
                // The message is still taken: it fails at the desk with the reason, into the DLQ, for redrive.
                Err(e) => {
                    tracing::error!(conversation_id = %conversation.id, error = %e.chain(), "handoff to the channel's desk failed")
                }
            }
        }
        let mut entry = ContextEntry::new(
            &contact.id,
            &self.client_name,
            source_id,
            timestamp.max(1),
            Author::User,
            now,
            self.context_ttl,
        )?;
        entry.text = text.clone();
        entry.url = attachments.first().and_then(|a| a.source_url.clone());
        entry.mime_type = attachments.first().map(|a| a.content_type.clone());
        self.store.append_context(&entry).await?;
        let source = MessageSource::Custom(channel.id.clone());
        let mut message = Message::received(
            conversation.id.clone(),
            Direction::Inbound,
            source,
            source_id,
            &contact.id,
            text,
            attachments,
            timestamp,
        )?;
        message.integration_data = m.integration_data.clone();
        record_and_queue(
            &self.store,
            &self.queue,
            QueueName::ToDesk,
            &conversation.reference(),
            &message,
        )
        .await?;
        Ok(Accepted {
            dialog_id: conversation.id.to_string(),
            message_id: message.id.to_string(),
            contact_id: contact.id,
        })
    }

    /// The message's dialog: by `dialog_id`, else by `reference` (found or
    /// created), else a new one. Returns whether it is new.
    async fn dialog(
        &self,
        channel: &CustomChannel,
        m: &SourceMessage,
        customer: &Participant,
        now: EpochMillis,
    ) -> Result<(Conversation, bool)> {
        if let Some(id) = m.dialog_id.as_deref() {
            let not_found = || refused(404, "E_DIALOG_NOT_FOUND", "dialog not found");
            let id = ConversationId::parse(id).map_err(|_| not_found())?;
            return match self.store.get_conversation(&id).await? {
                Some(c) if c.channel == ChannelKind::Custom && c.bot == channel.id => {
                    Ok((c, false))
                }
                _ => Err(not_found()),
            };
        }
        let (desk, desk_channel) =
            self.handoff.destination(channel.desk, channel.desk_channel.as_deref())?;
        let mut fresh = Conversation::open(
            ChannelKind::Custom,
            &channel.id,
            customer.clone(),
            desk,
            &desk_channel,
            now,
        )?;
        fresh.reference.clone_from(&m.reference);
        fresh.title.clone_from(&m.title);
        let Some(reference) = fresh.reference.clone() else {
            self.store.create_conversation(&fresh).await?;
            return Ok((fresh, true));
        };
        crate::model::validate_id("reference", &reference)?;
        // The reference is claimed first, holding the whole conversation, so a
        // twin that stopped half way is finished by whoever comes next.
        match self
            .store
            .create_record(REFERENCE, &format!("{}#{reference}", channel.id), &fresh)
            .await?
        {
            Recorded::Created => {
                self.store.create_conversation(&fresh).await?;
                Ok((fresh, true))
            }
            Recorded::Existing(claimed) => match self.store.get_conversation(&claimed.id).await? {
                Some(c) => Ok((c, false)),
                None => {
                    self.store.create_conversation(&claimed).await?;
                    Ok((claimed, true))
                }
            },
        }
    }
}
